//! The environment files of a step: `GITHUB_ENV`, `GITHUB_OUTPUT`, `GITHUB_PATH`,
//! `GITHUB_STEP_SUMMARY` and `GITHUB_STATE`.
//!
//! Before a step, [`FileCommands::create`] makes one empty file of each kind (writable by the
//! identity steps run as); after it, [`StepFiles::collect`] reads them with
//! `actions_compat::commands::file` as GitHub's runner does: entries up to the first error apply,
//! the error fails the step; a blocked name (`NODE_OPTIONS`) is skipped with an annotation.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use actions_compat::commands::file::{
    decode, parse_key_values, path_entries, FileCommandError, FileCommandKind, LineEndings,
};
use actions_compat::commands::is_blocked_env_name;

use super::workspace::Owner;

/// GitHub's limit on one step's summary.
pub const SUMMARY_LIMIT: usize = 1024 * 1024;

/// Makes the files of each step of a job, in the job's file-command directory. The steps of a
/// job run one at a time, so the same files serve every step, emptied before each: creating and
/// deleting five files per step costs more than the step itself on some file systems.
#[derive(Debug)]
pub struct FileCommands {
    files: StepFiles,
    owner: Owner,
}

/// The files of one step.
#[derive(Debug, Clone)]
pub struct StepFiles {
    pub env: PathBuf,
    pub output: PathBuf,
    pub path: PathBuf,
    pub summary: PathBuf,
    pub state: PathBuf,
}

/// What a step wrote to its files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collected {
    /// `GITHUB_ENV`, in order (a name may repeat; the last wins).
    pub env: Vec<(String, String)>,
    /// `GITHUB_OUTPUT`, names compared ignoring case (the last wins, the first spelling stays).
    pub outputs: IndexMap<String, String>,
    /// `GITHUB_PATH`, in the order written.
    pub paths: Vec<String>,
    /// `GITHUB_STATE`.
    pub state: IndexMap<String, String>,
    /// `GITHUB_STEP_SUMMARY`, empty when the step wrote none or too much.
    pub summary: String,
    /// The summary was over [`SUMMARY_LIMIT`] and was dropped.
    pub summary_too_large: bool,
    /// Errors that stop a file from being read to its end: each fails the step.
    pub errors: Vec<FileCommandError>,
    /// `GITHUB_ENV` names GitHub refuses to set (skipped, reported as annotations).
    pub blocked: Vec<String>,
    /// Files that could not be read at all.
    pub unreadable: Vec<String>,
}

impl FileCommands {
    /// Files go to `dir` (created), owned by `owner`.
    pub fn new(dir: PathBuf, owner: Owner) -> std::io::Result<Self> {
        owner.create_dir(&dir)?;
        let files = StepFiles {
            env: dir.join("set_env"),
            output: dir.join("set_output"),
            path: dir.join("add_path"),
            summary: dir.join("step_summary"),
            state: dir.join("save_state"),
        };
        Ok(FileCommands { files, owner })
    }

    /// The files of the next step, empty.
    pub fn create(&mut self) -> std::io::Result<StepFiles> {
        for path in self.files.all() {
            self.owner.create_file(path, b"")?;
        }
        Ok(self.files.clone())
    }
}

impl StepFiles {
    /// The variables that name the files, for the step's environment.
    pub fn env_vars(&self) -> [(&'static str, String); 5] {
        [
            ("GITHUB_ENV", self.env.display().to_string()),
            ("GITHUB_OUTPUT", self.output.display().to_string()),
            ("GITHUB_PATH", self.path.display().to_string()),
            ("GITHUB_STEP_SUMMARY", self.summary.display().to_string()),
            ("GITHUB_STATE", self.state.display().to_string()),
        ]
    }

    fn all(&self) -> [&PathBuf; 5] {
        [
            &self.env,
            &self.output,
            &self.path,
            &self.summary,
            &self.state,
        ]
    }

    /// Reads what the step wrote.
    pub fn collect(&self) -> Collected {
        let mut c = Collected::default();
        if let Some(text) = read(&self.env, &mut c) {
            let file = parse_key_values(FileCommandKind::Env, &text, LineEndings::Lf);
            for entry in file.entries {
                if is_blocked_env_name(&entry.name) {
                    c.blocked.push(entry.name);
                } else {
                    c.env.push((entry.name, entry.value));
                }
            }
            c.errors.extend(file.error);
        }
        if let Some(text) = read(&self.output, &mut c) {
            let file = parse_key_values(FileCommandKind::Output, &text, LineEndings::Lf);
            for entry in file.entries {
                insert_ignoring_case(&mut c.outputs, entry.name, entry.value);
            }
            c.errors.extend(file.error);
        }
        if let Some(text) = read(&self.state, &mut c) {
            let file = parse_key_values(FileCommandKind::State, &text, LineEndings::Lf);
            for entry in file.entries {
                insert_ignoring_case(&mut c.state, entry.name, entry.value);
            }
            c.errors.extend(file.error);
        }
        if let Some(text) = read(&self.path, &mut c) {
            c.paths = path_entries(&text);
        }
        match std::fs::metadata(&self.summary) {
            Ok(meta) if meta.len() as usize > SUMMARY_LIMIT => c.summary_too_large = true,
            _ => {
                if let Some(text) = read(&self.summary, &mut c) {
                    c.summary = text;
                }
            }
        }
        for path in [
            &self.env,
            &self.output,
            &self.path,
            &self.summary,
            &self.state,
        ] {
            let _ = std::fs::remove_file(path);
        }
        c
    }
}

fn read(path: &Path, c: &mut Collected) -> Option<String> {
    match std::fs::read(path) {
        Ok(bytes) => Some(decode(&bytes).into_owned()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            c.unreadable.push(format!("{}: {e}", path.display()));
            None
        }
    }
}

/// Sets `name` in `map`, replacing an entry whose name differs only in case.
pub fn insert_ignoring_case(map: &mut IndexMap<String, String>, name: String, value: String) {
    match map.keys().position(|k| k.eq_ignore_ascii_case(&name)) {
        Some(i) => {
            if let Some((_, v)) = map.get_index_mut(i) {
                *v = value;
            }
        }
        None => {
            map.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> (tempfile::TempDir, StepFiles) {
        let dir = tempfile::tempdir().unwrap();
        let mut fc = FileCommands::new(dir.path().join("fc"), Owner::current()).unwrap();
        let files = fc.create().unwrap();
        (dir, files)
    }

    #[test]
    fn reads_outputs_with_heredocs_and_case_insensitive_names() {
        let (_d, f) = files();
        std::fs::write(&f.output, "a=1\nnotes<<EOF\nline 1\nline 2\nEOF\nA=2\n").unwrap();
        let c = f.collect();
        assert_eq!(c.outputs.get("a").map(String::as_str), Some("2"));
        assert_eq!(
            c.outputs.get("notes").map(String::as_str),
            Some("line 1\nline 2")
        );
        assert!(c.errors.is_empty());
    }

    #[test]
    fn env_applies_entries_before_an_error_and_skips_blocked_names() {
        let (_d, f) = files();
        std::fs::write(&f.env, "A=1\nNODE_OPTIONS=--x\nbroken line\nB=2\n").unwrap();
        let c = f.collect();
        assert_eq!(c.env, [("A".to_owned(), "1".to_owned())]);
        assert_eq!(c.blocked, ["NODE_OPTIONS"]);
        assert_eq!(c.errors.len(), 1);
    }

    #[test]
    fn reads_paths_state_and_summary() {
        let (_d, f) = files();
        std::fs::write(&f.path, "/opt/a\n/opt/b\n").unwrap();
        std::fs::write(&f.state, "pid=7\n").unwrap();
        std::fs::write(&f.summary, "# Title\n").unwrap();
        let c = f.collect();
        assert_eq!(c.paths, ["/opt/a", "/opt/b"]);
        assert_eq!(c.state.get("pid").map(String::as_str), Some("7"));
        assert_eq!(c.summary, "# Title\n");
    }

    #[test]
    fn each_step_starts_with_empty_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut fc = FileCommands::new(dir.path().join("fc"), Owner::current()).unwrap();
        let first = fc.create().unwrap();
        std::fs::write(&first.output, "a=1\n").unwrap();
        assert_eq!(first.collect().outputs.len(), 1);
        let second = fc.create().unwrap();
        assert!(second.collect().outputs.is_empty());
    }

    #[test]
    fn names_the_files_in_the_environment() {
        let (_d, f) = files();
        let names: Vec<&str> = f.env_vars().iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                "GITHUB_ENV",
                "GITHUB_OUTPUT",
                "GITHUB_PATH",
                "GITHUB_STEP_SUMMARY",
                "GITHUB_STATE"
            ]
        );
    }
}
