//! The directories a job works in, and who owns them.
//!
//! Each job gets, under the run's work directory, its own copy of the repository
//! (`GITHUB_WORKSPACE`), `RUNNER_TEMP` (scripts and the environment files), a home directory, a
//! `/tmp` that lasts across its steps, a tool cache and `$HRUN_ARTIFACTS` (whose files become
//! the subjects of the job's provenance). Steps never write into the user's
//! checkout. When steps run as another identity (the namespace sandbox started by root), every
//! one of these belongs to that identity, so the step can write where GitHub's runner lets it.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Who the files the runner makes for steps belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Owner(Option<(u32, u32)>);

impl Owner {
    /// The runner's own identity: nothing is changed.
    pub fn current() -> Owner {
        Owner(None)
    }

    /// Another identity; files are given to it (the runner must be root).
    pub fn other(uid: u32, gid: u32) -> Owner {
        Owner(Some((uid, gid)))
    }

    /// The uid and gid files are given to, or `None` for the runner's own.
    pub fn ids(&self) -> Option<(u32, u32)> {
        self.0
    }

    /// Gives one path (not what it holds; a symbolic link itself, not its target).
    pub fn give(&self, path: &Path) -> io::Result<()> {
        match self.0 {
            Some((uid, gid)) => std::os::unix::fs::lchown(path, Some(uid), Some(gid)),
            None => Ok(()),
        }
    }

    /// Creates a directory (and its missing parents) and gives it.
    pub fn create_dir(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)?;
        self.give(path)
    }

    /// Writes a file and gives it.
    pub fn create_file(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        std::fs::write(path, contents)?;
        self.give(path)
    }
}

/// The directories of one job.
#[derive(Debug, Clone)]
pub struct JobDirs {
    /// Holds the rest; removed after the job.
    pub root: PathBuf,
    /// `GITHUB_WORKSPACE`: the copy of the repository.
    pub workspace: PathBuf,
    /// `RUNNER_TEMP`.
    pub temp: PathBuf,
    /// `HOME`.
    pub home: PathBuf,
    /// The job's `/tmp`.
    pub tmp: PathBuf,
    /// `RUNNER_TOOL_CACHE`.
    pub tool_cache: PathBuf,
    /// `HRUN_ARTIFACTS`: what the job leaves here becomes the subjects of its provenance.
    pub artifacts: PathBuf,
}

impl JobDirs {
    /// Every directory a step may write.
    pub fn writable(&self) -> Vec<PathBuf> {
        vec![
            self.workspace.clone(),
            self.temp.clone(),
            self.home.clone(),
            self.tool_cache.clone(),
            self.artifacts.clone(),
        ]
    }
}

/// Makes the directories of a job under `work_root/<n>` and copies `repo` (all but `exclude`)
/// into its workspace, everything given to `owner`.
pub fn prepare_job(
    work_root: &Path,
    slot: &str,
    repo: &Path,
    exclude: &[PathBuf],
    owner: Owner,
) -> io::Result<JobDirs> {
    let root = work_root.join(slot);
    std::fs::create_dir_all(&root)?;
    let name = repo
        .file_name()
        .map_or_else(|| "repo".into(), |n| n.to_os_string());
    let dirs = JobDirs {
        workspace: root.join("work").join(&name),
        temp: root.join("temp"),
        home: root.join("home"),
        tmp: root.join("tmp"),
        tool_cache: root.join("tool"),
        artifacts: root.join("artifacts"),
        root,
    };
    for dir in [&dirs.temp, &dirs.home, &dirs.tool_cache, &dirs.artifacts] {
        owner.create_dir(dir)?;
    }
    std::fs::create_dir_all(&dirs.tmp)?;
    std::fs::set_permissions(&dirs.tmp, std::fs::Permissions::from_mode(0o1777))?;
    owner.give(&dirs.tmp)?;
    copy_tree(repo, &dirs.workspace, exclude, owner)?;
    Ok(dirs)
}

/// Copies a directory tree: files with their permissions, symbolic links as links; other kinds
/// (sockets, fifos, devices) are skipped. Never follows a link.
pub fn copy_tree(src: &Path, dst: &Path, exclude: &[PathBuf], owner: Owner) -> io::Result<()> {
    owner.create_dir(dst)?;
    let mut todo = vec![(src.to_path_buf(), dst.to_path_buf())];
    while let Some((from, to)) = todo.pop() {
        for entry in std::fs::read_dir(&from)? {
            let entry = entry?;
            let source = entry.path();
            if exclude.contains(&source) {
                continue;
            }
            let target = to.join(entry.file_name());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                owner.create_dir(&target)?;
                let mode = entry.metadata()?.permissions().mode();
                std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode | 0o700))?;
                todo.push((source, target));
            } else if kind.is_symlink() {
                std::os::unix::fs::symlink(std::fs::read_link(&source)?, &target)?;
                owner.give(&target)?;
            } else if kind.is_file() {
                std::fs::copy(&source, &target)?;
                owner.give(&target)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_files_links_and_modes_but_not_excluded_paths() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(src.path().join("a/b")).unwrap();
        std::fs::write(src.path().join("a/b/f.sh"), "echo").unwrap();
        std::fs::set_permissions(
            src.path().join("a/b/f.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::os::unix::fs::symlink("b/f.sh", src.path().join("a/link")).unwrap();
        std::fs::create_dir_all(src.path().join(".hrun/runs")).unwrap();
        std::fs::write(src.path().join(".hrun/runs/x"), "secret").unwrap();
        let out = dst.path().join("copy");
        copy_tree(
            src.path(),
            &out,
            &[src.path().join(".hrun")],
            Owner::current(),
        )
        .unwrap();
        let mode = std::fs::metadata(out.join("a/b/f.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(
            std::fs::read_link(out.join("a/link")).unwrap(),
            PathBuf::from("b/f.sh")
        );
        assert!(!out.join(".hrun").exists());
    }

    #[test]
    fn job_dirs_are_separate_and_tmp_is_world_writable() {
        let repo = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        std::fs::write(repo.path().join("README"), "hi").unwrap();
        let dirs = prepare_job(work.path(), "1", repo.path(), &[], Owner::current()).unwrap();
        assert!(dirs.workspace.join("README").is_file());
        let mode = std::fs::metadata(&dirs.tmp).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o1777);
        assert_eq!(dirs.writable().len(), 5);
    }
}
