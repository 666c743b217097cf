//! Custom rules written in Rego, evaluated in-process with `regorus`.
//!
//! # The contract a policy follows
//!
//! - A file referenced from the policy file's `rego = [...]` declares a package under `hrun`:
//!   `package hrun` or `package hrun.<name>` (for instance `package hrun.runners`). Files in
//!   other packages may be loaded alongside as libraries; at least one `hrun` package must exist.
//! - Each `hrun` package may define `deny` and `warn` as sets (`deny contains x if { ... }`).
//!   Rego v1 syntax is expected (`if`, `contains`; no `import rego.v1` needed).
//! - An element of `deny` or `warn` is either a string, the message, or an object
//!   `{"msg": string, "path": [string|number, ...], "rule": string, "help": string}` where only
//!   `msg` is required. `path` points into `input` (`["jobs", 0, "runs_on"]`) and places
//!   the finding at that node of the file; without it the finding sits at the top of the file.
//! - A finding's rule id is `rego/<rule>` when the object names `rule`, otherwise
//!   `rego/<name>` from the package (`rego/runners`), or `rego/hrun` for `package hrun`. The
//!   policy file can change its level like any rule's (`[rules."rego/runners"]`).
//! - `input` is the parsed workflow as its typed model serializes it ([`crate::workflow`]):
//!   field names in `snake_case` (`runs_on`, `timeout_minutes`), jobs and steps as arrays in
//!   the order written, and every value wrapped with its position (`{"value": ..., "line": L,
//!   "col": C}`, or `"expression"` and `"source"` instead of `"value"` when it is computed by
//!   `${{ }}`). The steps of a `parallel:` block are inside it (`{"type": "parallel",
//!   "steps": [...]}`), so a rule about every step looks there too. Action files are given as
//!   the action model serializes them ([`crate::action`]). A finding's `path` is followed
//!   through `input` and the finding placed at the position of the deepest value it reaches.
//!   `data.lint.file.path` is the file's path relative to the repository root and
//!   `data.lint.file.kind` is `"workflow"` or `"action"`.
//!
//! ```rego
//! package hrun.runners
//!
//! deny contains {"msg": msg, "path": ["jobs", i, "runs_on"]} if {
//!     some i, job in input.jobs
//!     some label in job.runs_on.value.labels
//!     label.value == "self-hosted"
//!     count(job.runs_on.value.labels) == 1
//!     msg := sprintf("job %s runs on a bare self-hosted runner", [job.id.value])
//! }
//! ```
//!
//! Evaluation is bounded in time ([`RegoPolicy::with_time_limit`]); a policy that errors, runs
//! too long or yields anything outside this contract is a [`RegoError`], and the gate cannot
//! evaluate (exit 2).

use super::finding::Severity;
use super::rules::CUSTOM_RULE_PREFIX;
use regorus::utils::limits::ExecutionTimerConfig;
use serde::Serialize;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long one file's evaluation may take before it is abandoned.
pub const DEFAULT_TIME_LIMIT: Duration = Duration::from_secs(5);

/// A Rego policy that cannot be loaded or evaluated, or broke the contract.
#[derive(Debug, thiserror::Error)]
pub enum RegoError {
    #[error("cannot read Rego file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Regorus refused the source; its message carries the file, line and column.
    #[error("{message}")]
    Compile { file: PathBuf, message: String },
    #[error("no Rego file declares a package under `hrun` (package hrun or hrun.<name>), so no rule would run")]
    NoHrunPackage,
    /// Evaluation failed: a runtime error in the policy, or the time limit.
    #[error("evaluating {query}: {message}")]
    Evaluate { query: String, message: String },
    /// `deny` or `warn` held something other than a string or a finding object.
    #[error("{query} yielded {value}, which is not a message string or a {{\"msg\": ...}} object: {problem}")]
    Contract {
        query: String,
        value: String,
        problem: &'static str,
    },
}

/// A step in a path into the input document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum PathSegment {
    Key(String),
    Index(usize),
}

/// A finding from a Rego rule, before it is placed in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegoFinding {
    /// `rego/...`.
    pub rule_id: String,
    /// `Deny` for an element of `deny`, `Warn` for one of `warn`, before the policy file's
    /// overrides.
    pub severity: Severity,
    pub message: String,
    /// Where in the input the finding points; empty for the whole file.
    pub path: Vec<PathSegment>,
    pub help: Option<String>,
}

/// What `data.lint.file` tells a policy about the file under evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct FileFacts {
    /// Relative to the repository root, with `/` separators.
    pub path: String,
    /// `"workflow"` or `"action"`.
    pub kind: &'static str,
}

/// A package under `hrun` whose `deny` and `warn` are evaluated.
#[derive(Debug, Clone)]
struct RulePackage {
    /// `data["hrun"]["runners"]`, ready for `["deny"]`.
    query_prefix: String,
    /// `data.hrun.runners`, for messages.
    display_name: String,
    /// `rego/runners`.
    default_rule_id: String,
}

/// Loaded Rego policies, ready to evaluate against one file after another.
#[derive(Clone)]
pub struct RegoPolicy {
    engine: regorus::Engine,
    packages: Vec<RulePackage>,
}

impl std::fmt::Debug for RegoPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegoPolicy")
            .field("packages", &self.packages)
            .finish_non_exhaustive()
    }
}

impl RegoPolicy {
    /// Reads and compiles Rego files.
    pub fn load(files: &[PathBuf]) -> Result<RegoPolicy, RegoError> {
        let mut sources = Vec::with_capacity(files.len());
        for path in files {
            let text = std::fs::read_to_string(path).map_err(|source| RegoError::Read {
                path: path.clone(),
                source,
            })?;
            sources.push((path.clone(), text));
        }
        RegoPolicy::from_sources(sources)
    }

    /// Compiles Rego sources, each named by the path its errors will cite.
    pub fn from_sources(
        sources: impl IntoIterator<Item = (PathBuf, String)>,
    ) -> Result<RegoPolicy, RegoError> {
        let mut engine = regorus::Engine::new();
        for (path, text) in sources {
            engine
                .add_policy(path.display().to_string(), text)
                .map_err(|err| RegoError::Compile {
                    file: path.clone(),
                    message: err.to_string(),
                })?;
        }
        let components =
            engine
                .get_policy_package_components()
                .map_err(|err| RegoError::Compile {
                    file: PathBuf::new(),
                    message: err.to_string(),
                })?;
        let mut packages: Vec<RulePackage> = Vec::new();
        for package in components {
            let Some(("hrun", rest)) = package
                .components
                .split_first()
                .map(|(first, rest)| (first.as_str(), rest))
            else {
                continue;
            };
            let query_prefix = std::iter::once("data".to_string())
                .chain(package.components.iter().map(|c| rego_index(c)))
                .collect::<String>();
            if packages.iter().any(|p| p.query_prefix == query_prefix) {
                continue;
            }
            let name = if rest.is_empty() {
                "hrun".to_string()
            } else {
                rest.join(".")
            };
            packages.push(RulePackage {
                query_prefix,
                display_name: format!("data.{}", package.components.join(".")),
                default_rule_id: format!("{CUSTOM_RULE_PREFIX}{name}"),
            });
        }
        if packages.is_empty() {
            return Err(RegoError::NoHrunPackage);
        }
        engine.set_execution_timer_config(timer(DEFAULT_TIME_LIMIT));
        Ok(RegoPolicy { engine, packages })
    }

    /// Bounds each evaluation by wall-clock time.
    pub fn with_time_limit(mut self, limit: Duration) -> RegoPolicy {
        self.engine.set_execution_timer_config(timer(limit));
        self
    }

    /// Evaluates every `hrun` package's `deny` and `warn` against one file.
    pub fn evaluate(
        &mut self,
        input: &serde_json::Value,
        file: &FileFacts,
    ) -> Result<Vec<RegoFinding>, RegoError> {
        self.engine.set_input(regorus::Value::from(input.clone()));
        self.engine.clear_data();
        let data = serde_json::json!({ "lint": { "file": file } });
        self.engine
            .add_data(regorus::Value::from(data))
            .map_err(|err| RegoError::Evaluate {
                query: "data.lint".to_string(),
                message: err.to_string(),
            })?;

        let mut findings = Vec::new();
        for package in self.packages.clone() {
            for (rule, severity) in [("deny", Severity::Deny), ("warn", Severity::Warn)] {
                let query = format!("{}.{rule}", package.display_name);
                let results = self
                    .engine
                    .eval_query(
                        format!("{}{}", package.query_prefix, rego_index(rule)),
                        false,
                    )
                    .map_err(|err| RegoError::Evaluate {
                        query: query.clone(),
                        message: err.to_string().trim().to_string(),
                    })?;
                for result in results.result {
                    for expression in result.expressions {
                        let json = serde_json::to_value(&expression.value).map_err(|err| {
                            RegoError::Evaluate {
                                query: query.clone(),
                                message: err.to_string(),
                            }
                        })?;
                        collect(&json, &query, &package, severity, &mut findings)?;
                    }
                }
            }
        }
        Ok(findings)
    }
}

fn timer(limit: Duration) -> ExecutionTimerConfig {
    ExecutionTimerConfig {
        limit,
        check_interval: NonZeroU32::MIN,
    }
}

/// `name` as a Rego index: `["name"]` (a JSON string is a Rego string).
fn rego_index(name: &str) -> String {
    let quoted = serde_json::to_string(name).unwrap_or_else(|_| String::from("\"\""));
    format!("[{quoted}]")
}

/// Turns the value of `deny` or `warn` into findings. Rules written as sets come back as
/// arrays; an undefined rule yields no result at all.
fn collect(
    value: &serde_json::Value,
    query: &str,
    package: &RulePackage,
    severity: Severity,
    out: &mut Vec<RegoFinding>,
) -> Result<(), RegoError> {
    let contract = |value: &serde_json::Value, problem| RegoError::Contract {
        query: query.to_string(),
        value: value.to_string(),
        problem,
    };
    let serde_json::Value::Array(elements) = value else {
        return Err(contract(
            value,
            "deny and warn must be sets (`deny contains ... if`)",
        ));
    };
    for element in elements {
        let finding = match element {
            serde_json::Value::String(message) => RegoFinding {
                rule_id: package.default_rule_id.clone(),
                severity,
                message: message.clone(),
                path: Vec::new(),
                help: None,
            },
            serde_json::Value::Object(object) => {
                if object
                    .keys()
                    .any(|k| !matches!(k.as_str(), "msg" | "path" | "rule" | "help"))
                {
                    return Err(contract(
                        element,
                        "the only keys allowed are msg, path, rule and help",
                    ));
                }
                let Some(serde_json::Value::String(message)) = object.get("msg") else {
                    return Err(contract(element, "`msg` must be a string"));
                };
                let rule_id = match object.get("rule") {
                    None => package.default_rule_id.clone(),
                    Some(serde_json::Value::String(rule)) if is_rule_name(rule) => {
                        format!("{CUSTOM_RULE_PREFIX}{rule}")
                    }
                    Some(_) => {
                        return Err(contract(
                            element,
                            "`rule` must be a name of letters, digits, `-`, `_` and `.`",
                        ))
                    }
                };
                let help = match object.get("help") {
                    None => None,
                    Some(serde_json::Value::String(help)) => Some(help.clone()),
                    Some(_) => return Err(contract(element, "`help` must be a string")),
                };
                let path = match object.get("path") {
                    None => Vec::new(),
                    Some(serde_json::Value::Array(steps)) => {
                        let mut path = Vec::with_capacity(steps.len());
                        for step in steps {
                            path.push(match step {
                                serde_json::Value::String(key) => PathSegment::Key(key.clone()),
                                serde_json::Value::Number(n) => {
                                    match n.as_u64().and_then(|n| usize::try_from(n).ok()) {
                                        Some(index) => PathSegment::Index(index),
                                        None => return Err(contract(
                                            element,
                                            "array indexes in `path` must be whole numbers from 0",
                                        )),
                                    }
                                }
                                _ => {
                                    return Err(contract(
                                        element,
                                        "`path` holds only strings and numbers",
                                    ))
                                }
                            });
                        }
                        path
                    }
                    Some(_) => return Err(contract(element, "`path` must be an array")),
                };
                RegoFinding {
                    rule_id,
                    severity,
                    message: message.clone(),
                    path,
                    help,
                }
            }
            _ => {
                return Err(contract(
                    element,
                    "an element must be a string or an object",
                ))
            }
        };
        out.push(finding);
    }
    Ok(())
}

fn is_rule_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The path a Rego error should name, for reports that cite a file.
impl RegoError {
    pub fn file(&self) -> Option<&Path> {
        match self {
            RegoError::Read { path, .. } => Some(path),
            RegoError::Compile { file, .. } if !file.as_os_str().is_empty() => Some(file),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(source: &str) -> Result<RegoPolicy, RegoError> {
        RegoPolicy::from_sources([(PathBuf::from("p.rego"), source.to_string())])
    }

    fn facts() -> FileFacts {
        FileFacts {
            path: ".github/workflows/ci.yml".into(),
            kind: "workflow",
        }
    }

    const RUNNERS: &str = r#"
package hrun.runners

deny contains {"msg": msg, "path": ["jobs", name, "runs-on"]} if {
    some name, job in input.jobs
    job["runs-on"] == "self-hosted"
    msg := sprintf("job %s runs on a bare self-hosted runner", [name])
}

warn contains "no permissions block" if {
    not input.permissions
}
"#;

    #[test]
    fn rego_deny_becomes_finding() {
        let mut policy = policy(RUNNERS).unwrap();
        let input = json!({"jobs": {"build": {"runs-on": "self-hosted"}, "test": {"runs-on": "ubuntu-latest"}}, "permissions": {}});
        let findings = policy.evaluate(&input, &facts()).unwrap();
        assert_eq!(
            findings,
            [RegoFinding {
                rule_id: "rego/runners".into(),
                severity: Severity::Deny,
                message: "job build runs on a bare self-hosted runner".into(),
                path: vec![
                    PathSegment::Key("jobs".into()),
                    PathSegment::Key("build".into()),
                    PathSegment::Key("runs-on".into())
                ],
                help: None,
            }]
        );
    }

    #[test]
    fn rego_warn_string_becomes_warning_without_path() {
        let mut policy = policy(RUNNERS).unwrap();
        let findings = policy.evaluate(&json!({"jobs": {}}), &facts()).unwrap();
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].severity, Severity::Warn);
        assert_eq!(findings[0].message, "no permissions block");
        assert!(findings[0].path.is_empty());
    }

    #[test]
    fn the_same_policy_evaluates_file_after_file() {
        let mut policy = policy(RUNNERS).unwrap();
        let bad = json!({"jobs": {"a": {"runs-on": "self-hosted"}}, "permissions": {}});
        let good = json!({"jobs": {"a": {"runs-on": "linux"}}, "permissions": {}});
        assert_eq!(policy.evaluate(&bad, &facts()).unwrap().len(), 1);
        assert_eq!(policy.evaluate(&good, &facts()).unwrap().len(), 0);
    }

    #[test]
    fn objects_can_name_the_rule_and_give_help() {
        let mut policy = policy(
            r#"package hrun
deny contains {"msg": "m", "rule": "no-latest", "help": "pin it", "path": ["steps", 0]} if { true }
"#,
        )
        .unwrap();
        let findings = policy.evaluate(&json!({}), &facts()).unwrap();
        assert_eq!(findings[0].rule_id, "rego/no-latest");
        assert_eq!(findings[0].help.as_deref(), Some("pin it"));
        assert_eq!(
            findings[0].path,
            [PathSegment::Key("steps".into()), PathSegment::Index(0)]
        );
    }

    #[test]
    fn package_hrun_itself_gives_rule_id_rego_hrun() {
        let mut policy = policy("package hrun\ndeny contains \"x\" if { true }\n").unwrap();
        let findings = policy.evaluate(&json!({}), &facts()).unwrap();
        assert_eq!(findings[0].rule_id, "rego/hrun");
    }

    #[test]
    fn policies_see_the_file_facts() {
        let mut policy = policy(
            r#"package hrun.meta
deny contains data.lint.file.path if { data.lint.file.kind == "workflow" }
"#,
        )
        .unwrap();
        let findings = policy.evaluate(&json!({}), &facts()).unwrap();
        assert_eq!(findings[0].message, ".github/workflows/ci.yml");
    }

    #[test]
    fn undefined_rules_yield_nothing() {
        let mut policy = policy("package hrun.empty\nx := 1\n").unwrap();
        assert!(policy.evaluate(&json!({}), &facts()).unwrap().is_empty());
    }

    #[test]
    fn compile_errors_are_typed_and_name_the_file() {
        let err = policy("package hrun\ndeny contains if {").unwrap_err();
        assert!(matches!(err, RegoError::Compile { .. }), "{err:?}");
        assert_eq!(err.file(), Some(Path::new("p.rego")));
        assert!(err.to_string().contains("p.rego"), "{err}");
    }

    #[test]
    fn a_policy_without_an_hrun_package_is_an_error() {
        let err = policy("package other\ndeny contains \"x\" if { true }\n").unwrap_err();
        assert!(matches!(err, RegoError::NoHrunPackage), "{err:?}");
    }

    #[test]
    fn results_outside_the_contract_are_errors() {
        for source in [
            "package hrun\ndeny contains 3 if { true }\n",
            "package hrun\ndeny contains {\"message\": \"x\"} if { true }\n",
            "package hrun\ndeny contains {\"msg\": 1} if { true }\n",
            "package hrun\ndeny contains {\"msg\": \"x\", \"path\": \"jobs\"} if { true }\n",
            "package hrun\ndeny contains {\"msg\": \"x\", \"path\": [-1]} if { true }\n",
            "package hrun\ndeny contains {\"msg\": \"x\", \"rule\": \"a b\"} if { true }\n",
            "package hrun\ndeny := \"not a set\"\n",
        ] {
            let mut policy = policy(source).unwrap();
            let err = policy.evaluate(&json!({}), &facts()).unwrap_err();
            assert!(
                matches!(err, RegoError::Contract { .. }),
                "{source}: {err:?}"
            );
        }
    }

    #[test]
    fn runtime_errors_are_typed() {
        let mut policy =
            policy("package hrun\ndeny contains x if { x := input.a / input.b }\n").unwrap();
        let err = policy
            .evaluate(&json!({"a": 1, "b": 0}), &facts())
            .unwrap_err();
        let RegoError::Evaluate { query, message } = &err else {
            panic!("expected Evaluate, got {err:?}");
        };
        assert_eq!(query, "data.hrun.deny");
        assert!(
            message.contains("p.rego:2:35") && message.contains("divide by zero"),
            "{message}"
        );
    }

    #[test]
    fn runaway_policies_hit_the_time_limit() {
        let mut policy = policy(
            r#"package hrun
deny contains "slow" if {
    n := numbers.range(1, 100000000)
    count([x | some x in n; x % 7 == 3]) > 0
}
"#,
        )
        .unwrap()
        .with_time_limit(Duration::from_millis(50));
        let err = policy.evaluate(&json!({}), &facts()).unwrap_err();
        assert!(matches!(err, RegoError::Evaluate { .. }), "{err:?}");
    }
}
