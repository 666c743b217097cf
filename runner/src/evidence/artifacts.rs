//! A job's artifacts: the regular files it left under `$HRUN_ARTIFACTS`, kept in the job's
//! output directory and hashed (in parallel) to become the provenance's subjects.
//!
//! The directory is hostile: nothing in it is followed (a symbolic link, a FIFO or a device is
//! skipped and reported, never read), and names are taken as relative paths with `/`.
//!
//! An artifact the secret scan withheld (`--secret-scan fail`, see `engine::artifact_scan`) is
//! neither kept nor hashed: it is no subject of the provenance, and it is removed with the job's
//! directories.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use provenance::digest::Sha256Digest;

/// One artifact: its name relative to `$HRUN_ARTIFACTS` and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    pub name: String,
    pub sha256: Sha256Digest,
    pub size: u64,
}

/// What was found.
#[derive(Debug, Default)]
pub struct Collected {
    /// Sorted by name.
    pub artifacts: Vec<Artifact>,
    /// Entries that are not regular files or directories (not read), by name.
    pub skipped: Vec<String>,
    /// Artifacts withheld by the secret scan (not kept, not hashed), by name.
    pub withheld: Vec<String>,
    /// Where the artifacts are now.
    pub dir: Option<PathBuf>,
}

/// Moves `from` (the job's `$HRUN_ARTIFACTS`) to `to` and hashes every regular file in it but
/// those named in `withheld`, which are removed instead.
pub fn collect(from: &Path, to: &Path, withheld: &BTreeSet<String>) -> std::io::Result<Collected> {
    let mut collected = Collected::default();
    let Ok(meta) = std::fs::symlink_metadata(from) else {
        return Ok(collected);
    };
    if !meta.is_dir() {
        collected.skipped.push(".".to_owned());
        return Ok(collected);
    }
    let Listing {
        mut files,
        not_regular,
    } = regular_files(from)?;
    collected.skipped = not_regular;
    files.retain(|(name, _)| {
        let keep = !withheld.contains(name);
        if !keep {
            collected.withheld.push(name.clone());
        }
        keep
    });
    for name in &collected.withheld {
        // Gone before the directory moves: a withheld artifact never reaches the job's
        // artifacts (the directory is the runner's; a file that cannot be removed fails the
        // evidence rather than being kept).
        std::fs::remove_file(from.join(name))?;
    }
    if files.is_empty() {
        return Ok(collected);
    }
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let dir = match std::fs::rename(from, to) {
        Ok(()) => to.to_path_buf(),
        Err(_) => {
            // Another file system: copy the regular files only.
            for (name, _) in &files {
                let target = to.join(name);
                if let Some(parent) = target.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::copy(from.join(name), &target)?;
            }
            to.to_path_buf()
        }
    };
    // The job's identity owned them; they are the runner's now, out of any step's reach.
    give_back(&dir)?;
    collected.artifacts = hash_all(&dir, files)?;
    collected.dir = Some(dir);
    Ok(collected)
}

/// What a directory of artifacts holds.
#[derive(Debug, Default)]
pub struct Listing {
    /// Regular files: relative names with `/`, and sizes.
    pub files: Vec<(String, u64)>,
    /// Entries that are neither regular files nor directories, sorted.
    pub not_regular: Vec<String>,
}

/// The regular files under `dir`, never following a link.
pub fn regular_files(dir: &Path) -> std::io::Result<Listing> {
    let mut listing = Listing::default();
    walk(dir, "", &mut listing.files, &mut listing.not_regular)?;
    Ok(listing)
}

/// Regular files under `dir` (relative names, sizes), never following a link.
fn walk(
    dir: &Path,
    prefix: &str,
    files: &mut Vec<(String, u64)>,
    skipped: &mut Vec<String>,
) -> std::io::Result<()> {
    let mut todo = vec![(dir.to_path_buf(), prefix.to_owned())];
    while let Some((dir, prefix)) = todo.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let name = format!("{prefix}{}", entry.file_name().to_string_lossy());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                todo.push((entry.path(), format!("{name}/")));
            } else if kind.is_file() {
                files.push((name, entry.metadata()?.len()));
            } else {
                skipped.push(name);
            }
        }
    }
    skipped.sort();
    Ok(())
}

/// Gives a tree (never following a link) to the runner's own user and group.
fn give_back(dir: &Path) -> std::io::Result<()> {
    // SAFETY: geteuid and getegid have no preconditions and cannot fail.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        std::os::unix::fs::lchown(&d, Some(uid), Some(gid))?;
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                todo.push(entry.path());
            } else {
                std::os::unix::fs::lchown(entry.path(), Some(uid), Some(gid))?;
            }
        }
    }
    Ok(())
}

/// Hashes the files on up to 4 threads, largest first.
fn hash_all(dir: &Path, mut files: Vec<(String, u64)>) -> std::io::Result<Vec<Artifact>> {
    files.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, 4)
        .min(files.len());
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<std::io::Result<Artifact>>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((name, _)) = files.get(i) else { break };
                let result = file_digest(&dir.join(name)).map(|(sha256, size)| Artifact {
                    name: name.clone(),
                    sha256,
                    size,
                });
                results
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(result);
            });
        }
    });
    let mut artifacts = results
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .into_iter()
        .collect::<std::io::Result<Vec<_>>>()?;
    artifacts.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(artifacts)
}

/// The digest and size of a regular file, opened without following a final link.
fn file_digest(path: &Path) -> std::io::Result<(Sha256Digest, u64)> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    Ok((Sha256Digest::of_reader(file)?, meta.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moves_and_hashes_regular_files_and_skips_links() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("artifacts");
        std::fs::create_dir_all(from.join("sub")).unwrap();
        std::fs::write(from.join("a.bin"), b"a").unwrap();
        std::fs::write(from.join("sub/b.txt"), b"bb").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", from.join("link")).unwrap();
        let to = dir.path().join("out/artifacts");
        let c = collect(&from, &to, &BTreeSet::new()).unwrap();
        let names: Vec<&str> = c.artifacts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["a.bin", "sub/b.txt"]);
        assert_eq!(c.artifacts[1].sha256, Sha256Digest::of(b"bb"));
        assert_eq!(c.skipped, ["link"]);
        assert!(to.join("sub/b.txt").is_file());
    }

    #[test]
    fn no_directory_means_no_artifacts() {
        let dir = tempfile::tempdir().unwrap();
        let c = collect(
            &dir.path().join("none"),
            &dir.path().join("out"),
            &BTreeSet::new(),
        )
        .unwrap();
        assert!(c.artifacts.is_empty());
        assert!(c.dir.is_none());
    }

    #[test]
    fn a_withheld_artifact_is_neither_kept_nor_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("artifacts");
        std::fs::create_dir_all(from.join("sub")).unwrap();
        std::fs::write(from.join("ok.txt"), b"ok").unwrap();
        std::fs::write(from.join("sub/leak.txt"), b"leak").unwrap();
        let to = dir.path().join("out/artifacts");
        let withheld = BTreeSet::from(["sub/leak.txt".to_owned()]);
        let c = collect(&from, &to, &withheld).unwrap();
        let names: Vec<&str> = c.artifacts.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["ok.txt"]);
        assert_eq!(c.withheld, ["sub/leak.txt"]);
        assert!(to.join("ok.txt").is_file());
        assert!(!to.join("sub/leak.txt").exists());
    }
}
