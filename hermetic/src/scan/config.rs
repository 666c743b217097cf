//! The rule file as written: gitleaks' TOML format, read and merged before anything is compiled.
//!
//! Fields read (all of gitleaks' documented ones): `title`, `minVersion`, `[extend]` (`useDefault`,
//! `path`, `disabledRules`), `[[rules]]` (`id`, `description`, `regex`, `secretGroup`, `entropy`,
//! `path`, `keywords`, `tags`, `[rules.allowlist]` and `[[rules.allowlists]]`), and the global
//! `[allowlist]` / `[[allowlists]]` (`description`, `condition`, `commits`, `paths`,
//! `regexTarget`, `regexes`, `stopwords`, `targetRules`). An unknown key is an error, so a typo
//! (`regexs`) never silently disables an allowlist; composite rules (`[[rules.required]]`) are
//! refused for the same reason.
//!
//! Extending: `useDefault = true` starts from the built-in pack, `path` from another file (relative
//! to this one, at most two levels deep, as gitleaks allows). A rule whose id is already defined
//! keeps what it does not set again and gains the new allowlists.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::pack::RulePackError;

/// How deep `[extend] path` may chain.
const MAX_EXTEND_DEPTH: usize = 2;

/// A rule file, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawConfig {
    #[allow(dead_code)]
    pub title: Option<String>,
    #[allow(dead_code)]
    pub min_version: Option<String>,
    pub extend: Option<RawExtend>,
    #[serde(default)]
    pub rules: Vec<RawRule>,
    pub allowlist: Option<RawAllowlist>,
    #[serde(default)]
    pub allowlists: Vec<RawAllowlist>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawExtend {
    #[serde(default)]
    pub use_default: bool,
    pub path: Option<String>,
    #[serde(default)]
    pub disabled_rules: Vec<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawRule {
    pub id: String,
    pub description: Option<String>,
    pub regex: Option<String>,
    pub secret_group: Option<usize>,
    pub entropy: Option<f64>,
    pub path: Option<String>,
    pub keywords: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub allowlist: Option<RawAllowlist>,
    #[serde(default)]
    pub allowlists: Vec<RawAllowlist>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawAllowlist {
    pub description: Option<String>,
    pub condition: Option<String>,
    #[serde(default)]
    pub commits: Vec<String>,
    #[serde(default)]
    pub paths: Vec<String>,
    pub regex_target: Option<String>,
    #[serde(default)]
    pub regexes: Vec<String>,
    #[serde(default)]
    pub stopwords: Vec<String>,
    #[serde(default)]
    pub target_rules: Vec<String>,
}

impl RawConfig {
    /// Reads `text` (named `name` in errors); `dir` is where a relative `[extend] path` is found.
    pub fn parse(text: &str, name: &str) -> Result<RawConfig, RulePackError> {
        toml::from_str(text).map_err(|e| RulePackError::Toml {
            file: name.to_owned(),
            message: e.to_string(),
        })
    }

    /// This file with what it extends resolved: the base's rules, overridden and extended by
    /// this file's, and both files' global allowlists.
    pub fn resolve(
        self,
        dir: Option<&Path>,
        builtin: &str,
        depth: usize,
    ) -> Result<RawConfig, RulePackError> {
        let Some(extend) = self.extend.clone() else {
            return Ok(self);
        };
        if extend.use_default && extend.path.is_some() {
            return Err(RulePackError::Invalid(
                "[extend] takes useDefault or path, not both".to_owned(),
            ));
        }
        let base = if extend.use_default {
            RawConfig::parse(builtin, "the built-in rule pack")?
        } else if let Some(path) = &extend.path {
            if depth >= MAX_EXTEND_DEPTH {
                return Err(RulePackError::Invalid(format!(
                    "[extend] chains deeper than {MAX_EXTEND_DEPTH} files at {path}"
                )));
            }
            let full: PathBuf = match dir {
                Some(d) => d.join(path),
                None => PathBuf::from(path),
            };
            let text = std::fs::read_to_string(&full).map_err(|source| RulePackError::Read {
                path: full.clone(),
                source,
            })?;
            let name = full.display().to_string();
            RawConfig::parse(&text, &name)?.resolve(full.parent(), builtin, depth + 1)?
        } else {
            RawConfig::default()
        };
        Ok(base.overlay(self, &extend.disabled_rules))
    }

    /// `self` as the base, with `top`'s rules and allowlists over it.
    fn overlay(mut self, top: RawConfig, disabled: &[String]) -> RawConfig {
        self.rules.retain(|r| !disabled.contains(&r.id));
        for rule in top.rules {
            match self.rules.iter_mut().find(|r| r.id == rule.id) {
                Some(base) => base.merge(rule),
                None => self.rules.push(rule),
            }
        }
        self.allowlists.extend(self.allowlist.take());
        self.allowlists.extend(top.allowlist);
        self.allowlists.extend(top.allowlists);
        self.extend = None;
        self
    }
}

impl RawRule {
    /// What `top` sets replaces this rule's value; its allowlists are added.
    fn merge(&mut self, top: RawRule) {
        let RawRule {
            id: _,
            description,
            regex,
            secret_group,
            entropy,
            path,
            keywords,
            tags,
            allowlist,
            allowlists,
        } = top;
        self.description = description.or(self.description.take());
        self.regex = regex.or(self.regex.take());
        self.secret_group = secret_group.or(self.secret_group);
        self.entropy = entropy.or(self.entropy);
        self.path = path.or(self.path.take());
        self.keywords = keywords.or(self.keywords.take());
        self.tags = tags.or(self.tags.take());
        self.allowlists.extend(self.allowlist.take());
        self.allowlists.extend(allowlist);
        self.allowlists.extend(allowlists);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_a_misspelt_key_naming_it() {
        let err = RawConfig::parse(
            "[[rules]]\nid = \"x\"\nregex = 'a'\n[[rules.allowlists]]\nregexs = ['b']\n",
            "r.toml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("regexs"), "{err}");
    }

    #[test]
    fn extending_the_default_overrides_a_rule_and_adds_its_allowlist() {
        let builtin = "[[rules]]\nid = \"a\"\ndescription = \"A\"\nregex = 'aaa'\nkeywords = [\"aaa\"]\n[[rules]]\nid = \"b\"\nregex = 'bbb'\n";
        let top = "[extend]\nuseDefault = true\ndisabledRules = [\"b\"]\n[[rules]]\nid = \"a\"\nregex = 'aaaa'\n[[rules.allowlists]]\nstopwords = [\"x\"]\n";
        let cfg = RawConfig::parse(top, "t")
            .unwrap()
            .resolve(None, builtin, 0)
            .unwrap();
        assert_eq!(cfg.rules.len(), 1);
        let a = &cfg.rules[0];
        assert_eq!(a.regex.as_deref(), Some("aaaa"));
        assert_eq!(a.description.as_deref(), Some("A"));
        assert_eq!(a.keywords.as_deref(), Some(&["aaa".to_owned()][..]));
        assert_eq!(a.allowlists.len(), 1);
    }

    #[test]
    fn refuses_composite_rules() {
        let err = RawConfig::parse(
            "[[rules]]\nid = \"x\"\nregex = 'a'\n[[rules.required]]\nid = \"y\"\n",
            "r.toml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("required"), "{err}");
    }
}
