//! What the `github` context says about the repository, read from its `.git` directory without
//! starting `git`: the commit (`github.sha`), the ref (`github.ref`) and the repository's name
//! (`github.repository`, from the `origin` remote, else the directory's name).

use std::path::{Path, PathBuf};

/// What was found; each field empty when unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepoFacts {
    pub sha: String,
    /// `refs/heads/main`, or empty on a detached HEAD.
    pub git_ref: String,
    /// `owner/name`.
    pub repository: String,
    pub owner: String,
}

/// Reads the facts of the repository at `root`.
pub fn read(root: &Path) -> RepoFacts {
    let mut facts = RepoFacts::default();
    let name = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "repo".to_owned());
    let (owner, repo) = match git_dirs(root) {
        Some((git, common)) => {
            read_head(&git, &common, &mut facts);
            origin(&common).unwrap_or_else(|| ("local".to_owned(), name))
        }
        None => ("local".to_owned(), name),
    };
    facts.repository = format!("{owner}/{repo}");
    facts.owner = owner;
    facts
}

/// The git directory and the common directory (they differ in a linked worktree).
fn git_dirs(root: &Path) -> Option<(PathBuf, PathBuf)> {
    let dot_git = root.join(".git");
    let git = if dot_git.is_dir() {
        dot_git
    } else {
        let text = std::fs::read_to_string(&dot_git).ok()?;
        let target = text.trim().strip_prefix("gitdir:")?.trim();
        let path = Path::new(target);
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            root.join(path)
        }
    };
    let common = match std::fs::read_to_string(git.join("commondir")) {
        Ok(text) => {
            let c = Path::new(text.trim());
            if c.is_absolute() {
                c.to_path_buf()
            } else {
                git.join(c)
            }
        }
        Err(_) => git.clone(),
    };
    Some((git, common))
}

fn read_head(git: &Path, common: &Path, facts: &mut RepoFacts) {
    let Ok(head) = std::fs::read_to_string(git.join("HEAD")) else {
        return;
    };
    let head = head.trim();
    match head.strip_prefix("ref:") {
        Some(r) => {
            let r = r.trim();
            facts.git_ref = r.to_owned();
            facts.sha = resolve_ref(git, common, r).unwrap_or_default();
        }
        None => facts.sha = head.to_owned(),
    }
}

fn resolve_ref(git: &Path, common: &Path, name: &str) -> Option<String> {
    if name.split('/').any(|part| part == ".." || part.is_empty()) {
        return None;
    }
    for dir in [git, common] {
        if let Ok(text) = std::fs::read_to_string(dir.join(name)) {
            return Some(text.trim().to_owned());
        }
    }
    let packed = std::fs::read_to_string(common.join("packed-refs")).ok()?;
    packed.lines().find_map(|line| {
        let (sha, r) = line.split_once(' ')?;
        (r.trim() == name).then(|| sha.to_owned())
    })
}

/// `(owner, name)` of the `origin` remote's URL.
fn origin(common: &Path) -> Option<(String, String)> {
    let config = std::fs::read_to_string(common.join("config")).ok()?;
    let mut in_origin = false;
    for line in config.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_origin = line == "[remote \"origin\"]";
            continue;
        }
        if in_origin {
            if let Some(url) = line.strip_prefix("url").map(str::trim_start) {
                if let Some(url) = url.strip_prefix('=') {
                    return owner_and_name(url.trim());
                }
            }
        }
    }
    None
}

/// `git@github.com:o/r.git`, `https://github.com/o/r`, `/path/to/o/r.git` → `(o, r)`.
pub fn owner_and_name(url: &str) -> Option<(String, String)> {
    let url = url.trim_end_matches('/');
    let url = url.strip_suffix(".git").unwrap_or(url);
    let mut parts = url.rsplit(['/', ':']);
    let name = parts.next().filter(|n| !n.is_empty())?;
    let owner = parts.next().filter(|o| !o.is_empty())?;
    Some((owner.to_owned(), name.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_sha_ref_and_origin() {
        let dir = tempfile::tempdir().unwrap();
        let git = dir.path().join(".git");
        std::fs::create_dir_all(git.join("refs/heads")).unwrap();
        std::fs::write(git.join("HEAD"), "ref: refs/heads/main\n").unwrap();
        std::fs::write(git.join("refs/heads/main"), "abc123\n").unwrap();
        std::fs::write(
            git.join("config"),
            "[core]\n\tbare = false\n[remote \"origin\"]\n\turl = git@github.com:octo/hello.git\n",
        )
        .unwrap();
        let f = read(dir.path());
        assert_eq!(f.sha, "abc123");
        assert_eq!(f.git_ref, "refs/heads/main");
        assert_eq!(f.repository, "octo/hello");
        assert_eq!(f.owner, "octo");
    }

    #[test]
    fn reads_packed_refs_and_falls_back_to_the_directory_name() {
        let dir = tempfile::tempdir().unwrap();
        let git = dir.path().join(".git");
        std::fs::create_dir_all(&git).unwrap();
        std::fs::write(git.join("HEAD"), "ref: refs/heads/dev\n").unwrap();
        std::fs::write(git.join("packed-refs"), "# pack\ndef456 refs/heads/dev\n").unwrap();
        let f = read(dir.path());
        assert_eq!(f.sha, "def456");
        assert!(f.repository.starts_with("local/"));
    }

    #[test]
    fn parses_remote_urls() {
        assert_eq!(
            owner_and_name("https://github.com/o/r.git"),
            Some(("o".into(), "r".into()))
        );
        assert_eq!(owner_and_name("x"), None);
    }
}
