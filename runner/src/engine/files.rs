//! The environment files of a step: `GITHUB_ENV`, `GITHUB_OUTPUT`, `GITHUB_PATH`,
//! `GITHUB_STEP_SUMMARY` and `GITHUB_STATE`.
//!
//! Before a step, [`FileCommands::prepare`] makes one empty file of each kind (writable by the
//! identity steps run as); after it, [`FileCommands::collect`] reads them with
//! `actions_compat::commands::file` as GitHub's runner does: entries up to the first error apply,
//! the error fails the step; a blocked name (`NODE_OPTIONS`) is skipped with an annotation.

use std::path::PathBuf;

use indexmap::IndexMap;

use actions_compat::commands::file::{
    decode, parse_key_values, path_entries, FileCommandError, FileCommandKind, LineEndings,
};
use actions_compat::commands::is_blocked_env_name;

use super::safe_dir::{SafeDir, SafeDirError};
use super::workspace::Owner;

/// GitHub's limit on one step's summary.
pub const SUMMARY_LIMIT: usize = 1024 * 1024;

/// The files of each step of a job, in the job's file-command directory ([`SafeDir`]: a step
/// cannot make the runner follow a link or block on a FIFO). The steps of a job run one at a
/// time, so the same names serve every step, emptied (or made anew, if a step replaced them)
/// before each. Every process of a step has ended by then; only a process that escaped its step
/// (possible with `--sandbox none` where no cgroup tracks the step, see `Containment`) could still
/// hold one open and write into the next step's file. Scripts of `run:` steps are written here
/// too.
#[derive(Debug)]
pub struct FileCommands {
    dir: SafeDir,
}

/// The most bytes read from one environment file.
pub const FILE_LIMIT: u64 = 64 * 1024 * 1024;

const ENV: &str = "set_env";
const OUTPUT: &str = "set_output";
const PATH: &str = "add_path";
const SUMMARY: &str = "step_summary";
const STATE: &str = "save_state";

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
    /// Files go to `dir` (created, owned by the runner); each file is given to `owner`.
    pub fn new(dir: PathBuf, owner: Owner) -> Result<Self, SafeDirError> {
        Ok(FileCommands {
            dir: SafeDir::create(&dir, owner)?,
        })
    }

    /// Makes the files of the next step empty.
    pub fn prepare(&mut self) -> Result<(), SafeDirError> {
        for name in [ENV, OUTPUT, PATH, SUMMARY, STATE] {
            self.dir.write(name, b"", 0o600)?;
        }
        Ok(())
    }

    /// Writes a step's script as `name`; its path as the step sees it.
    pub fn script(&self, name: &str, text: &str) -> Result<PathBuf, SafeDirError> {
        self.dir.write(name, text.as_bytes(), 0o700)?;
        Ok(self.dir.path(name))
    }

    /// The variables that name the files, for the step's environment.
    pub fn env_vars(&self) -> [(&'static str, String); 5] {
        let path = |name| self.dir.path(name).display().to_string();
        [
            ("GITHUB_ENV", path(ENV)),
            ("GITHUB_OUTPUT", path(OUTPUT)),
            ("GITHUB_PATH", path(PATH)),
            ("GITHUB_STEP_SUMMARY", path(SUMMARY)),
            ("GITHUB_STATE", path(STATE)),
        ]
    }

    fn read(&self, name: &str, c: &mut Collected) -> Option<String> {
        match self.dir.read(name, FILE_LIMIT) {
            Ok(bytes) => bytes.map(|b| decode(&b).into_owned()),
            Err(e) => {
                c.unreadable.push(e.to_string());
                None
            }
        }
    }

    /// Reads what the step wrote.
    pub fn collect(&self) -> Collected {
        let mut c = Collected::default();
        if let Some(text) = self.read(ENV, &mut c) {
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
        if let Some(text) = self.read(OUTPUT, &mut c) {
            let file = parse_key_values(FileCommandKind::Output, &text, LineEndings::Lf);
            for entry in file.entries {
                insert_ignoring_case(&mut c.outputs, entry.name, entry.value);
            }
            c.errors.extend(file.error);
        }
        if let Some(text) = self.read(STATE, &mut c) {
            let file = parse_key_values(FileCommandKind::State, &text, LineEndings::Lf);
            for entry in file.entries {
                insert_ignoring_case(&mut c.state, entry.name, entry.value);
            }
            c.errors.extend(file.error);
        }
        if let Some(text) = self.read(PATH, &mut c) {
            c.paths = path_entries(&text);
        }
        match self.dir.size(SUMMARY) {
            Some(size) if size > SUMMARY_LIMIT as u64 => c.summary_too_large = true,
            _ => {
                if let Some(text) = self.read(SUMMARY, &mut c) {
                    c.summary = text;
                }
            }
        }
        c
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

    fn files() -> (tempfile::TempDir, FileCommands) {
        let dir = tempfile::tempdir().unwrap();
        let mut fc = FileCommands::new(dir.path().join("fc"), Owner::current()).unwrap();
        fc.prepare().unwrap();
        (dir, fc)
    }

    fn path_of(fc: &FileCommands, var: &str) -> PathBuf {
        let vars = fc.env_vars();
        let (_, p) = vars.iter().find(|(n, _)| *n == var).unwrap();
        PathBuf::from(p)
    }

    #[test]
    fn reads_outputs_with_heredocs_and_case_insensitive_names() {
        let (_d, f) = files();
        std::fs::write(
            path_of(&f, "GITHUB_OUTPUT"),
            "a=1\nnotes<<EOF\nline 1\nline 2\nEOF\nA=2\n",
        )
        .unwrap();
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
        std::fs::write(
            path_of(&f, "GITHUB_ENV"),
            "A=1\nNODE_OPTIONS=--x\nbroken line\nB=2\n",
        )
        .unwrap();
        let c = f.collect();
        assert_eq!(c.env, [("A".to_owned(), "1".to_owned())]);
        assert_eq!(c.blocked, ["NODE_OPTIONS"]);
        assert_eq!(c.errors.len(), 1);
    }

    #[test]
    fn reads_paths_state_and_summary() {
        let (_d, f) = files();
        std::fs::write(path_of(&f, "GITHUB_PATH"), "/opt/a\n/opt/b\n").unwrap();
        std::fs::write(path_of(&f, "GITHUB_STATE"), "pid=7\n").unwrap();
        std::fs::write(path_of(&f, "GITHUB_STEP_SUMMARY"), "# Title\n").unwrap();
        let c = f.collect();
        assert_eq!(c.paths, ["/opt/a", "/opt/b"]);
        assert_eq!(c.state.get("pid").map(String::as_str), Some("7"));
        assert_eq!(c.summary, "# Title\n");
    }

    #[test]
    fn each_step_starts_with_empty_files() {
        let (_d, mut f) = files();
        std::fs::write(path_of(&f, "GITHUB_OUTPUT"), "a=1\n").unwrap();
        assert_eq!(f.collect().outputs.len(), 1);
        f.prepare().unwrap();
        assert!(f.collect().outputs.is_empty());
    }

    #[test]
    fn a_file_replaced_by_a_link_is_reported_not_followed() {
        let (d, f) = files();
        let host = d.path().join("host-file");
        std::fs::write(&host, "k=host secret\n").unwrap();
        let out = path_of(&f, "GITHUB_OUTPUT");
        std::fs::remove_file(&out).unwrap();
        std::os::unix::fs::symlink(&host, &out).unwrap();
        let c = f.collect();
        assert!(c.outputs.is_empty());
        assert_eq!(c.unreadable.len(), 1, "{:?}", c.unreadable);
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
