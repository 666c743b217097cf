//! What a run leaves for programs to read: `result.json` for the run and for each job.
//!
//! Every string in these records is masked before it is stored here (outputs, annotations, step
//! names); [`write_json`] checks the serialized text once more and masks it whole if a secret
//! still shows, so no record written through it can reveal one.

use std::collections::BTreeMap;
use std::path::Path;

use indexmap::IndexMap;
use serde::Serialize;

use super::SharedMasker;

/// A job's or step's result, as GitHub names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Conclusion {
    Success,
    Failure,
    Cancelled,
    Skipped,
}

impl Conclusion {
    /// The name in contexts (`needs.x.result`, `steps.x.outcome`).
    pub fn as_str(self) -> &'static str {
        match self {
            Conclusion::Success => "success",
            Conclusion::Failure => "failure",
            Conclusion::Cancelled => "cancelled",
            Conclusion::Skipped => "skipped",
        }
    }
}

/// One annotation (`::error`, `::warning`, `::notice`, or one the runner made).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AnnotationRecord {
    /// `error`, `warning` or `notice`.
    pub level: &'static str,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub col: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub end_column: Option<u32>,
    /// The step that made it, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
}

/// One step of a job (or of a composite action, nested under its step).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepResult {
    pub id: String,
    pub name: String,
    /// Before `continue-on-error`.
    pub outcome: Conclusion,
    /// After `continue-on-error`.
    pub conclusion: Conclusion,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
    pub outputs: IndexMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<StepResult>,
}

/// `jobs/<key>/result.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobResult {
    /// The job's id in its workflow.
    pub id: String,
    /// Its place in the run: the id, or `caller/id` for a job of a called workflow.
    pub key: String,
    pub name: String,
    /// Before the job's `continue-on-error`.
    pub outcome: Conclusion,
    /// After it: what `needs.<id>.result` says.
    pub conclusion: Conclusion,
    pub outputs: IndexMap<String, String>,
    pub steps: Vec<StepResult>,
    pub annotations: Vec<AnnotationRecord>,
    /// The executor the steps ran with (`namespace`, `none`), or none when no step ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// What the sandbox reported about the job (accelerator, kernel, image digest, ...).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub sandbox_details: BTreeMap<String, String>,
    pub duration_ms: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub timed_out: bool,
    /// The job's log file, relative to the run's output directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<String>,
}

/// One job in the run's `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobSummary {
    pub conclusion: Conclusion,
    pub outputs: IndexMap<String, String>,
    /// The job's own `result.json`, relative to the run's output directory.
    pub result: String,
}

/// The run's `result.json`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunResult {
    pub run_id: String,
    pub workflow: String,
    pub event: String,
    pub conclusion: Conclusion,
    pub sandbox: String,
    pub duration_ms: u64,
    /// By key, in the order they finished.
    pub jobs: IndexMap<String, JobSummary>,
}

/// Why a result file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ResultError {
    #[error("cannot serialize {what}: {source}")]
    Serialize {
        what: &'static str,
        source: serde_json::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
}

/// Writes `value` as indented JSON to `path`, masked.
pub fn write_json<T: Serialize>(
    path: &Path,
    value: &T,
    what: &'static str,
    masker: &SharedMasker,
) -> Result<(), ResultError> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|source| ResultError::Serialize { what, source })?;
    let text = masker.mask_document(&text);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| ResultError::Write {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    std::fs::write(path, text + "\n").map_err(|source| ResultError::Write {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conclusions_serialize_as_github_names_them() {
        let names: Vec<String> = [
            Conclusion::Success,
            Conclusion::Failure,
            Conclusion::Cancelled,
            Conclusion::Skipped,
        ]
        .iter()
        .map(|c| serde_json::to_string(c).unwrap_or_default())
        .collect();
        assert_eq!(
            names,
            ["\"success\"", "\"failure\"", "\"cancelled\"", "\"skipped\""]
        );
    }

    #[test]
    fn written_json_never_holds_a_secret() {
        let masker = SharedMasker::default();
        masker.add_secret("s3cr3t-value");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.json");
        let mut outputs = IndexMap::new();
        outputs.insert("x".to_owned(), "a s3cr3t-value b".to_owned());
        write_json(&path, &outputs, "outputs", &masker).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("s3cr3t-value"), "{text}");
        assert!(text.contains("a *** b"), "{text}");
    }
}
