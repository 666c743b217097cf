//! `--git-notes`: attaches a job's signed receipt ([`provenance::receipt`]) to the source commit
//! as a git note under `refs/notes/hrun/receipts`, through the git CLI (`git notes append`, so
//! the receipts of every job on a commit are kept, one per line).
//!
//! The notes commits are made by `hrun <hrun@localhost>`: the runner writes them, not the user.
//! git's own ref lock serializes writers; a writer that finds the ref locked by another process
//! retries a few times.
//!
//! Must never: overwrite or remove a note (only `append`), or run git with the environment's
//! `GIT_DIR`/`GIT_WORK_TREE` pointing elsewhere than the repository given.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use provenance::receipt::RECEIPTS_NOTES_REF;

/// Why a receipt was not attached.
#[derive(Debug, thiserror::Error)]
pub enum GitNotesError {
    #[error("the source is not a git commit (no commit to attach the receipt to)")]
    NoCommit,
    #[error("cannot run git in {}: {source}", repo.display())]
    Spawn {
        repo: PathBuf,
        source: std::io::Error,
    },
    #[error("git notes append on {commit} failed: {stderr}")]
    Failed { commit: String, stderr: String },
}

/// Attempts before giving up on a ref locked by another writer.
const ATTEMPTS: u32 = 5;

/// Appends `receipt` (one line) to the note of `commit` in the repository at `repo`.
pub fn append_receipt(repo: &Path, commit: &str, receipt: &[u8]) -> Result<(), GitNotesError> {
    if commit.len() != 40 || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(GitNotesError::NoCommit);
    }
    let message = String::from_utf8_lossy(receipt).into_owned();
    let mut last = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            std::thread::sleep(Duration::from_millis(100 << attempt));
        }
        let out = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(["notes", "--ref", RECEIPTS_NOTES_REF, "append", "-m"])
            .arg(&message)
            .arg(commit)
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .env("GIT_AUTHOR_NAME", "hrun")
            .env("GIT_AUTHOR_EMAIL", "hrun@localhost")
            .env("GIT_COMMITTER_NAME", "hrun")
            .env("GIT_COMMITTER_EMAIL", "hrun@localhost")
            .output()
            .map_err(|source| GitNotesError::Spawn {
                repo: repo.to_path_buf(),
                source,
            })?;
        if out.status.success() {
            return Ok(());
        }
        last = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        if !last.contains("lock") {
            break;
        }
    }
    Err(GitNotesError::Failed {
        commit: commit.to_owned(),
        stderr: last,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(repo: &Path, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@t")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@t")
            .output()
            .expect("git runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    #[test]
    fn receipts_are_appended_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path();
        git(repo, &["init", "-q"]);
        git(repo, &["commit", "-q", "--allow-empty", "-m", "c"]);
        let head = git(repo, &["rev-parse", "HEAD"]).trim().to_owned();
        append_receipt(repo, &head, b"{\"one\":1}").unwrap();
        append_receipt(repo, &head, b"{\"two\":2}").unwrap();
        let note = git(
            repo,
            &["notes", "--ref", RECEIPTS_NOTES_REF, "show", "HEAD"],
        );
        assert_eq!(note, "{\"one\":1}\n\n{\"two\":2}\n");
    }

    #[test]
    fn no_commit_no_note() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            append_receipt(dir.path(), "", b"x"),
            Err(GitNotesError::NoCommit)
        ));
    }
}
