//! A rule pack compiled and checked: rules and allowlists ready for the scanner.
//!
//! [`RulePack::builtin`] is hrun's own pack (`builtin.toml` beside this file);
//! [`RulePack::from_toml`] and [`RulePack::from_file`] read a gitleaks-format file (see
//! [`super::config`] for the fields). Every regex is compiled here, so a bad pattern is an error
//! naming the rule and field before any file is read.
//!
//! Content regexes are compiled without Unicode classes, as Go's RE2 reads gitleaks' rules:
//! `\b`, `\w`, `\s` and `\d` are ASCII, `(?i)` folds ASCII case, and any byte may match `.`. This
//! is also what keeps them fast: a Unicode word boundary stops the DFA at the first non-ASCII
//! byte.

use std::path::{Path, PathBuf};

use super::allow::{Allowlist, Condition, RegexTarget};
use super::config::{RawAllowlist, RawConfig, RawRule};

/// hrun's built-in rules, in gitleaks' format.
pub const BUILTIN_RULES: &str = include_str!("builtin.toml");

/// Regexes in a rule file are limited in compiled size so a hostile file cannot exhaust memory.
const REGEX_SIZE_LIMIT: usize = 8 << 20;

/// The lazy DFA's cache per rule regex: generous, so the states of a rule with wide counted
/// repetitions are built once, not rebuilt every few windows (grown only as used).
const DFA_CACHE_LIMIT: usize = 16 << 20;

/// Why a rule file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RulePackError {
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not TOML, or a key gitleaks' format does not have.
    #[error("{file}: {message}")]
    Toml { file: String, message: String },
    /// A regex does not compile.
    #[error("rule `{rule}`: {field} is not a valid regex: {message}")]
    Regex {
        rule: String,
        field: &'static str,
        message: String,
    },
    /// Anything else that makes the file unusable (message says what).
    #[error("{0}")]
    Invalid(String),
}

/// One rule: what to look for, where, and what to let pass.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub description: String,
    /// Matched against content; `None` for a rule that only names files (`path` alone).
    pub regex: Option<regex::bytes::Regex>,
    /// The capture group holding the secret: 0 means the first group that took part in the
    /// match, or the whole match when the regex has no group.
    pub secret_group: usize,
    /// Minimum Shannon entropy (bits per byte) of the secret.
    pub entropy: Option<f64>,
    /// The rule applies only to files whose path matches.
    pub path: Option<regex::Regex>,
    /// Lower-case keywords; the regex runs only near one of them. Empty: runs everywhere.
    pub keywords: Vec<String>,
    pub allowlists: Vec<Allowlist>,
    /// Tags, for reports; the tag `generic` marks a rule that finds secrets by their context,
    /// whose finding yields to any other rule's match inside it.
    pub tags: Vec<String>,
    /// The regex may span lines (it mentions `\n` or the `s` flag), so it is given more text
    /// after its keyword than the keyword's line.
    pub multiline: bool,
}

/// Rules and the global allowlists.
#[derive(Debug, Clone)]
pub struct RulePack {
    pub(crate) rules: Vec<Rule>,
    /// Global allowlists; each applies to its `targetRules`, or to all rules when that is empty.
    pub(crate) allowlists: Vec<Allowlist>,
}

impl RulePack {
    /// hrun's built-in pack.
    pub fn builtin() -> RulePack {
        // The built-in file is part of the binary and checked by this module's tests; if it were
        // ever broken, scanning with no rules would hide leaks, so fail loudly instead.
        #[allow(clippy::expect_used)]
        RulePack::from_toml(BUILTIN_RULES, "the built-in rule pack", None)
            .expect("the built-in rule pack compiles")
    }

    /// A pack from gitleaks-format TOML. `dir` is where a relative `[extend] path` is looked up.
    pub fn from_toml(
        text: &str,
        name: &str,
        dir: Option<&Path>,
    ) -> Result<RulePack, RulePackError> {
        let raw = RawConfig::parse(text, name)?.resolve(dir, BUILTIN_RULES, 0)?;
        compile(raw)
    }

    /// A pack from a gitleaks-format file.
    pub fn from_file(path: &Path) -> Result<RulePack, RulePackError> {
        let text = std::fs::read_to_string(path).map_err(|source| RulePackError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        RulePack::from_toml(&text, &path.display().to_string(), path.parent())
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    pub fn allowlists(&self) -> &[Allowlist] {
        &self.allowlists
    }
}

fn compile(raw: RawConfig) -> Result<RulePack, RulePackError> {
    let mut rules: Vec<Rule> = Vec::with_capacity(raw.rules.len());
    for r in raw.rules {
        if rules.iter().any(|x| x.id == r.id) {
            return Err(RulePackError::Invalid(format!(
                "rule `{}` is defined twice",
                r.id
            )));
        }
        rules.push(compile_rule(r)?);
    }
    let mut allowlists = Vec::new();
    for a in raw.allowlist.into_iter().chain(raw.allowlists) {
        let a = compile_allowlist(a, "global allowlist")?;
        if let Some(unknown) = a
            .target_rules
            .iter()
            .find(|t| !rules.iter().any(|r| &r.id == *t))
        {
            return Err(RulePackError::Invalid(format!(
                "a global allowlist targets rule `{unknown}`, which is not defined"
            )));
        }
        allowlists.push(a);
    }
    Ok(RulePack { rules, allowlists })
}

fn compile_rule(r: RawRule) -> Result<Rule, RulePackError> {
    if r.id.trim().is_empty() {
        return Err(RulePackError::Invalid("a rule has an empty id".to_owned()));
    }
    let regex = match &r.regex {
        Some(src) => Some(
            regex::bytes::RegexBuilder::new(src)
                .unicode(false)
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(DFA_CACHE_LIMIT)
                .build()
                .map_err(|e| regex_error(&r.id, "regex", &e))?,
        ),
        None => None,
    };
    let path = match &r.path {
        Some(src) => Some(
            regex::RegexBuilder::new(src)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| regex_error(&r.id, "path", &e))?,
        ),
        None => None,
    };
    if regex.is_none() && path.is_none() {
        return Err(RulePackError::Invalid(format!(
            "rule `{}` has neither regex nor path",
            r.id
        )));
    }
    let secret_group = r.secret_group.unwrap_or(0);
    if let Some(re) = &regex {
        let groups = re.captures_len().saturating_sub(1);
        if secret_group > groups {
            return Err(RulePackError::Invalid(format!(
                "rule `{}`: secretGroup {secret_group} but the regex has {groups} group(s)",
                r.id
            )));
        }
    }
    if let Some(e) = r.entropy {
        if !(e.is_finite() && e >= 0.0) {
            return Err(RulePackError::Invalid(format!(
                "rule `{}`: entropy must be a non-negative number",
                r.id
            )));
        }
    }
    let mut keywords: Vec<String> = r
        .keywords
        .unwrap_or_default()
        .into_iter()
        .map(|k| k.to_ascii_lowercase())
        .collect();
    if keywords.iter().any(String::is_empty) {
        return Err(RulePackError::Invalid(format!(
            "rule `{}` has an empty keyword",
            r.id
        )));
    }
    keywords.sort();
    keywords.dedup();
    let multiline = r.regex.as_deref().is_some_and(|src| {
        // `\n`, `[\s\S]`, or the `s` flag in any flag group (`(?s)`, `(?is)`, `(?ms:...)`).
        src.contains("\\n")
            || src.contains("\\s\\S")
            || src.split("(?").skip(1).any(|rest| {
                rest.chars()
                    .take_while(|c| c.is_ascii_alphabetic())
                    .any(|c| c == 's')
            })
    });
    let what = format!("allowlist of rule `{}`", r.id);
    let allowlists = r
        .allowlist
        .into_iter()
        .chain(r.allowlists)
        .map(|a| {
            let a = compile_allowlist(a, &what)?;
            if a.target_rules.is_empty() {
                Ok(a)
            } else {
                Err(RulePackError::Invalid(format!(
                    "{what}: targetRules belongs in a global [[allowlists]]"
                )))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Rule {
        description: r.description.unwrap_or_else(|| r.id.clone()),
        id: r.id,
        regex,
        secret_group,
        entropy: r.entropy,
        path,
        keywords,
        allowlists,
        tags: r.tags.unwrap_or_default(),
        multiline,
    })
}

fn compile_allowlist(a: RawAllowlist, what: &str) -> Result<Allowlist, RulePackError> {
    let condition = match a
        .condition
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        None | Some("OR") => Condition::Or,
        Some("AND") => Condition::And,
        Some(other) => {
            return Err(RulePackError::Invalid(format!(
                "{what}: condition must be OR or AND, not `{other}`"
            )))
        }
    };
    let regex_target = match a.regex_target.as_deref() {
        None | Some("secret") => RegexTarget::Secret,
        Some("match") => RegexTarget::Match,
        Some("line") => RegexTarget::Line,
        Some(other) => {
            return Err(RulePackError::Invalid(format!(
                "{what}: regexTarget must be secret, match or line, not `{other}`"
            )))
        }
    };
    let owner = what.to_owned();
    let paths = a
        .paths
        .iter()
        .map(|p| {
            regex::RegexBuilder::new(p)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| regex_error(&owner, "an allowlist path", &e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let regexes = a
        .regexes
        .iter()
        .map(|p| {
            regex::bytes::RegexBuilder::new(p)
                .unicode(false)
                .size_limit(REGEX_SIZE_LIMIT)
                .build()
                .map_err(|e| regex_error(&owner, "an allowlist regex", &e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Allowlist {
        description: a.description.unwrap_or_default(),
        condition,
        has_commits: !a.commits.is_empty(),
        paths,
        regex_target,
        regexes,
        stopwords: a
            .stopwords
            .into_iter()
            .map(|s| s.to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect(),
        target_rules: a.target_rules,
    })
}

fn regex_error(rule: &str, field: &'static str, e: &regex::Error) -> RulePackError {
    RulePackError::Regex {
        rule: rule.to_owned(),
        field,
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_pack_compiles_with_keywords_on_every_rule() {
        let pack = RulePack::from_toml(BUILTIN_RULES, "builtin", None).unwrap();
        assert!(pack.rules().len() >= 25, "{}", pack.rules().len());
        for rule in pack.rules() {
            assert!(!rule.keywords.is_empty(), "rule {} has no keyword", rule.id);
            assert!(rule.regex.is_some(), "rule {} has no regex", rule.id);
        }
    }

    #[test]
    fn a_bad_regex_names_the_rule_and_field() {
        let err = RulePack::from_toml("[[rules]]\nid = \"r1\"\nregex = '(unclosed'\n", "t", None)
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("`r1`") && text.contains("regex"), "{text}");
    }

    #[test]
    fn a_secret_group_beyond_the_regex_groups_is_refused() {
        let err = RulePack::from_toml(
            "[[rules]]\nid = \"r\"\nregex = 'a(b)'\nsecretGroup = 2\n",
            "t",
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("secretGroup 2"), "{err}");
    }

    #[test]
    fn a_global_allowlist_must_target_defined_rules() {
        let err = RulePack::from_toml(
            "[[rules]]\nid = \"r\"\nregex = 'a'\n[[allowlists]]\ntargetRules = [\"nope\"]\nstopwords = [\"x\"]\n",
            "t",
            None,
        )
        .unwrap_err();
        assert!(err.to_string().contains("`nope`"), "{err}");
    }

    #[test]
    fn regexes_that_span_lines_are_recognised() {
        let pack = RulePack::from_toml(
            "[[rules]]\nid = \"a\"\nregex = 'x\\ny'\n[[rules]]\nid = \"b\"\nregex = '(?is)x.y'\n[[rules]]\nid = \"c\"\nregex = '(?i)x\\s*y'\n",
            "t",
            None,
        )
        .unwrap();
        let m: Vec<bool> = pack.rules().iter().map(|r| r.multiline).collect();
        assert_eq!(m, [true, true, false]);
    }
}
