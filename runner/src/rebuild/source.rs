//! The source a rebuild runs from: a fresh clone of a local repository (`--source`, default the
//! current one) that holds the original's commit, checked out at exactly that commit under the
//! original's ref and with the original's `origin`, in a directory of the same name, so that the
//! `github` context (`sha`, `ref`, `repository`) is what the original job saw.
//!
//! Must never: fetch from the network (a commit that is not there is refused, saying how to get
//! it), or run the job in the user's own checkout (its uncommitted files are not the commit).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::original::{Original, Unavailable};

/// A checkout of the original's commit; removed when dropped.
#[derive(Debug)]
pub struct Checkout {
    _dir: tempfile::TempDir,
    /// The repository's root.
    pub root: PathBuf,
}

/// Clones `from` and checks the original's commit out.
pub fn checkout(from: &Path, original: &Original) -> Result<Checkout, Unavailable> {
    let name = original
        .repository
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty() && *n != "." && *n != "..")
        .unwrap_or("source")
        .to_owned();
    let dir = tempfile::Builder::new()
        .prefix("hrun-rebuild-")
        .tempdir()
        .map_err(|e| Unavailable::Source(format!("cannot make a temporary directory: {e}")))?;
    let root = dir.path().join(&name);
    git(
        None,
        &[
            "clone".as_ref(),
            "--quiet".as_ref(),
            "--no-checkout".as_ref(),
            "--".as_ref(),
            from.as_os_str(),
            root.as_os_str(),
        ],
    )
    .map_err(|e| {
        Unavailable::Source(format!(
            "cannot clone {} (pass --source with a clone of {}): {e}",
            from.display(),
            original.repository
        ))
    })?;
    let sha = &original.commit;
    if git(
        Some(&root),
        &[
            "cat-file".as_ref(),
            "-e".as_ref(),
            format!("{sha}^{{commit}}").as_ref(),
        ],
    )
    .is_err()
    {
        return Err(Unavailable::Source(format!(
            "commit {sha} is not in {}: fetch it there, or pass --source with a clone of {} that has it",
            from.display(),
            original.repository
        )));
    }
    let r = original.git_ref.as_str();
    let step = |args: &[&str]| {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
        git(Some(&root), &args)
            .map_err(|e| Unavailable::Source(format!("cannot check {sha} out: {e}")))
    };
    if r.starts_with("refs/") && !r.contains("..") {
        step(&["update-ref", r, sha])?;
        step(&["symbolic-ref", "HEAD", r])?;
    } else {
        step(&["update-ref", "--no-deref", "HEAD", sha])?;
    }
    step(&["reset", "--hard", "--quiet"])?;
    if original.repository.starts_with("local/") {
        let _ = step(&["remote", "remove", "origin"]);
    } else {
        step(&["remote", "set-url", "origin", &original.repository])?;
    }
    Ok(Checkout { _dir: dir, root })
}

/// Runs `git` (in `dir`); the first line of its complaint on failure.
fn git(dir: Option<&Path>, args: &[&std::ffi::OsStr]) -> Result<(), String> {
    let mut command = Command::new("git");
    if let Some(dir) = dir {
        command.arg("-C").arg(dir);
    }
    let out = command
        .args(["-c", "safe.directory=*", "-c", "advice.detachedHead=false"])
        .args(args)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        Err(err.lines().next().unwrap_or("git failed").trim().to_owned())
    }
}
