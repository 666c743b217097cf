//! `hrun lint` as one call: [`lint_paths`] finds the files, loads each repository's policy
//! (or the one given), checks every file and every local composite action it uses, evaluates
//! the custom Rego rules, and returns the [`LintReport`].

use super::checks::{check_expansion, check_trigger, check_uses};
use super::discover::{absolute, discover, relative_to, repository_root, FileKind, LintTarget};
use super::extract::{find_after, from_action, from_workflow, locate, LintView, Script};
use super::finding::{Finding, Location};
use super::policy_file::{Policy, PolicyFileError, POLICY_FILE_PATH};
use super::rego::{FileFacts, RegoPolicy, DEFAULT_TIME_LIMIT};
use super::report::{LintError, LintReport, SourceFile};
use super::rules::custom_rule_info;
use crate::action::Action;
use crate::diagnostic::{Diagnostic, ParseErrors};
use crate::expr::{ParseOptions, Segment, Template};
use crate::workflow::{UsesRef, Workflow};
use crate::yaml::Limits;
use std::collections::{HashMap, HashSet, VecDeque};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

/// How a lint run is configured.
#[derive(Debug, Clone)]
pub struct LintOptions {
    /// `--policy FILE`: used for every file instead of each repository's
    /// `.github/hrun-policy.toml`.
    pub policy: Option<PathBuf>,
    /// How long Rego evaluation of one file may take.
    pub rego_time_limit: Duration,
    /// Bounds on the YAML files read.
    pub yaml_limits: Limits,
}

impl Default for LintOptions {
    fn default() -> Self {
        LintOptions {
            policy: None,
            rego_time_limit: DEFAULT_TIME_LIMIT,
            yaml_limits: Limits::default(),
        }
    }
}

/// How many local composite actions deep the gate follows `uses: ./...`.
const MAX_LOCAL_ACTION_DEPTH: usize = 16;

/// The policy that applies to one repository's files, or `None` if it failed to load (the error
/// is reported once, and that repository's files are not evaluated).
struct Rules {
    policy: Policy,
    rego: Option<RegoPolicy>,
}

/// Lints workflows and actions under `paths` (the current directory when empty).
pub fn lint_paths(paths: &[PathBuf], options: &LintOptions) -> LintReport {
    let mut report = LintReport::default();
    let (targets, errors) = discover(paths);
    report.errors.extend(errors);

    let mut explicit: Option<Option<Rules>> = options
        .policy
        .as_ref()
        .map(|file| load_rules(file, None, options, &mut report));
    let mut repositories: HashMap<PathBuf, Option<Rules>> = HashMap::new();
    let mut queue: VecDeque<(LintTarget, usize)> = targets.into_iter().map(|t| (t, 0)).collect();
    let mut seen: HashSet<PathBuf> = HashSet::new();

    while let Some((target, depth)) = queue.pop_front() {
        if !seen.insert(absolute(&target.path)) {
            continue;
        }
        let rules = match &mut explicit {
            Some(rules) => rules.as_mut(),
            None => repositories
                .entry(target.repo_root.clone())
                .or_insert_with(|| repository_rules(&target, options, &mut report))
                .as_mut(),
        };
        let Some(rules) = rules else { continue };
        let local_actions = lint_file(&target, rules, options, &mut report);
        if depth < MAX_LOCAL_ACTION_DEPTH {
            queue.extend(local_actions.into_iter().map(|t| (t, depth + 1)));
        }
    }
    report.sort();
    report
}

/// The repository's own policy file if it has one, else the default policy.
fn repository_rules(
    target: &LintTarget,
    options: &LintOptions,
    report: &mut LintReport,
) -> Option<Rules> {
    let file = display_root(target).join(POLICY_FILE_PATH);
    if file.is_file() {
        load_rules(&file, Some(&target.repo_root), options, report)
    } else {
        Some(Rules {
            policy: Policy::default(),
            rego: None,
        })
    }
}

fn load_rules(
    file: &Path,
    repo_root: Option<&Path>,
    options: &LintOptions,
    report: &mut LintReport,
) -> Option<Rules> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(source) => {
            report.errors.push(LintError::Policy(PolicyFileError::Read {
                path: file.to_path_buf(),
                source,
            }));
            return None;
        }
    };
    let parsed = Policy::parse(&text, file);
    let root = repo_root.map_or_else(|| repository_root(file), Path::to_path_buf);
    report.files.push(SourceFile {
        path: file.to_path_buf(),
        repo_relative: relative_to(file, &root),
        text,
    });
    let policy = match parsed {
        Ok(policy) => policy,
        Err(error) => {
            report.errors.push(LintError::Policy(error));
            return None;
        }
    };
    let rego = if policy.rego.is_empty() {
        None
    } else {
        match RegoPolicy::load(&policy.rego) {
            Ok(rego) => Some(rego.with_time_limit(options.rego_time_limit)),
            Err(error) => {
                report.errors.push(LintError::Rego { error, file: None });
                return None;
            }
        }
    };
    Some(Rules { policy, rego })
}

/// Checks one file; returns the local actions it uses that should be checked too.
fn lint_file(
    target: &LintTarget,
    rules: &mut Rules,
    options: &LintOptions,
    report: &mut LintReport,
) -> Vec<LintTarget> {
    let text = match std::fs::read_to_string(&target.path) {
        Ok(text) => text,
        Err(source) => {
            report.errors.push(LintError::Read {
                path: target.path.clone(),
                source,
            });
            return Vec::new();
        }
    };
    report.files_checked += 1;
    let parsed = parse(target, &text, options);
    report.files.push(SourceFile {
        path: target.path.clone(),
        repo_relative: target.repo_relative.clone(),
        text,
    });
    let (view, document) = match parsed {
        Ok(parsed) => parsed,
        Err(errors) => {
            report.errors.extend(errors);
            return Vec::new();
        }
    };
    let text = report.files.last().map_or("", |file| file.text.as_str());

    let policy = &rules.policy;
    let mut findings = Vec::new();
    let mut errors = Vec::new();
    for trigger in &view.triggers {
        findings.extend(check_trigger(&trigger.value, &trigger.at, policy));
    }
    let mut local_actions = Vec::new();
    for uses in &view.uses {
        findings.extend(check_uses(&uses.reference, &uses.written, &uses.at, policy));
        local_actions.extend(local_action(target, &uses.reference));
    }
    for script in &view.scripts {
        match expansions(script, text) {
            Ok(expansions) => {
                for (paths, at) in expansions {
                    findings.extend(check_expansion(&paths, &at, script.kind, policy));
                }
            }
            Err(error) => errors.push(error),
        }
    }
    if let Some(rego) = &mut rules.rego {
        let facts = FileFacts {
            path: target.repo_relative.clone(),
            kind: target.kind.as_str(),
        };
        let input = document.to_json();
        match rego.evaluate(&input, &facts) {
            Ok(found) => {
                for rego_finding in found {
                    let Some(severity) =
                        policy.severity_for(&rego_finding.rule_id, rego_finding.severity)
                    else {
                        continue;
                    };
                    let (line, col) = locate(&input, &rego_finding.path).unwrap_or((1, 1));
                    let help = rego_finding
                        .help
                        .unwrap_or_else(|| custom_rule_info(&rego_finding.rule_id, severity).help);
                    findings.push(Finding {
                        rule_id: rego_finding.rule_id,
                        severity,
                        message: rego_finding.message,
                        location: Location::new(&target.path, line, col),
                        help,
                    });
                }
            }
            Err(error) => errors.push(LintError::Rego {
                error,
                file: Some(target.path.clone()),
            }),
        }
    }
    report.findings.extend(findings);
    report.errors.extend(errors);
    local_actions
}

/// A file read through the model that fits it.
enum Document {
    Workflow(Box<Workflow>),
    Action(Box<Action>),
}

impl Document {
    /// The JSON Rego sees as `input`. The models hold only strings, numbers, booleans and
    /// string-keyed maps, so conversion cannot fail; `null` stands in if it ever did.
    fn to_json(&self) -> serde_json::Value {
        match self {
            Document::Workflow(workflow) => serde_json::to_value(workflow),
            Document::Action(action) => serde_json::to_value(action),
        }
        .unwrap_or(serde_json::Value::Null)
    }
}

/// The file read through the model that fits it, and the rules' view of it.
fn parse(
    target: &LintTarget,
    text: &str,
    options: &LintOptions,
) -> Result<(LintView, Document), Vec<LintError>> {
    let file_name = target.path.display().to_string();
    let parse_errors = |errors: ParseErrors| {
        errors
            .iter()
            .map(|d| parse_error(d, &target.path))
            .collect::<Vec<_>>()
    };
    let parse_options = crate::workflow::ParseOptions {
        limits: options.yaml_limits,
        ..crate::workflow::ParseOptions::default()
    };
    match target.kind {
        FileKind::Workflow => {
            let workflow = crate::workflow::parse_with(text, &file_name, &parse_options)
                .map_err(parse_errors)?;
            let view = from_workflow(&workflow, text, &target.path);
            Ok((view, Document::Workflow(Box::new(workflow))))
        }
        FileKind::Action => {
            let action = crate::action::parse_with(text, &file_name, &parse_options)
                .map_err(parse_errors)?;
            let view = from_action(&action, &target.path);
            Ok((view, Document::Action(Box::new(action))))
        }
    }
}

fn parse_error(diagnostic: &Diagnostic, path: &Path) -> LintError {
    LintError::Parse {
        at: Location::new(path, diagnostic.line.max(1), diagnostic.col.max(1)),
        message: diagnostic.message.clone(),
    }
}

/// The contexts a script's expressions may read: those of a step's `run:` and `with:`, for
/// workflows and composite actions alike (the models have already checked each file's own).
const SCRIPT_CONTEXTS: [&str; 11] = [
    "github", "needs", "strategy", "matrix", "secrets", "steps", "job", "runner", "env", "vars",
    "inputs",
];

/// The context paths each `${{ }}` expression of a script reads, with where the expression is
/// written in the file (`source`); the script's own position when it cannot be found verbatim
/// (folded or escaped YAML).
fn expansions(script: &Script, source: &str) -> Result<Vec<(Vec<String>, Location)>, LintError> {
    let options = ParseOptions::allow_all(SCRIPT_CONTEXTS);
    let template = Template::parse(&script.text, &options).map_err(|error| LintError::Parse {
        at: script.at.clone(),
        message: error.to_string(),
    })?;
    // Folding can only remove line breaks, so the script spans at most this many lines.
    let window = script
        .text
        .lines()
        .count()
        .saturating_mul(2)
        .saturating_add(2);
    let (mut line, mut col) = (script.at.line, script.at.col);
    let mut out = Vec::new();
    for segment in template.segments() {
        let Segment::Expression {
            expr, offset, len, ..
        } = segment
        else {
            continue;
        };
        let written = script
            .text
            .get(*offset..offset.saturating_add(*len))
            .unwrap_or_default();
        let at = match find_after(source, line, col, written, window) {
            Some((found_line, found_col)) => {
                (line, col) = (found_line, found_col + 1);
                Location::new(&script.at.file, found_line, found_col)
            }
            None => script.at.clone(),
        };
        out.push((expr.context_paths(), at));
    }
    Ok(out)
}

/// The path on disk that corresponds to the target's repository root, in the same form as the
/// target's own path (relative when it is relative).
fn display_root(target: &LintTarget) -> PathBuf {
    let depth = target
        .repo_relative
        .split('/')
        .filter(|s| !s.is_empty())
        .count();
    let mut root = target.path.clone();
    for _ in 0..depth {
        if !root.pop() {
            break;
        }
    }
    root
}

/// The local action (or local reusable workflow) a `uses: ./...` or `uses: $/...` names, if it
/// exists inside the repository.
fn local_action(target: &LintTarget, uses: &UsesRef) -> Option<LintTarget> {
    let relative = match uses {
        UsesRef::Local(path) | UsesRef::SameRepository(path) => path,
        _ => return None,
    };
    let relative = Path::new(&relative);
    if relative.components().any(|c| {
        matches!(
            c,
            Component::ParentDir | Component::RootDir | Component::Prefix(_)
        )
    }) {
        return None;
    }
    let base = display_root(target).join(relative);
    let base = base
        .strip_prefix(".")
        .map(Path::to_path_buf)
        .unwrap_or(base);
    let candidates = if base.is_file() {
        vec![(base, FileKind::Workflow)]
    } else {
        ["action.yml", "action.yaml"]
            .iter()
            .map(|name| (base.join(name), FileKind::Action))
            .collect()
    };
    candidates
        .into_iter()
        .find(|(path, _)| path.is_file())
        .map(|(path, kind)| LintTarget {
            repo_relative: relative_to(&path, &target.repo_root),
            repo_root: target.repo_root.clone(),
            path,
            kind,
        })
}

#[cfg(test)]
mod tests;
