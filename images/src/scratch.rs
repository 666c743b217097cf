//! A build's scratch directory, inside the image store (so the finished image is moved into
//! place by a rename), removed when the build ends, however it ends.
//!
//! mmdebstrap in root mode bind-mounts the host's `/sys`, `/proc` and device nodes into the tree
//! it builds and unmounts them when it finishes; if it is killed, they stay. Removing such a
//! tree with a plain recursive delete would delete through the bind mounts into the host's
//! `/dev` and `/sys`. So before removing anything, every mount under the directory is detached
//! (deepest first), and the removal is refused if one remains.

use std::path::{Path, PathBuf};

use crate::error::ImageError;

/// Scratch directories are named `.build-<pid>-<n>` so that those of a dead build are known.
const PREFIX: &str = ".build-";

pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    /// A new scratch directory in `store`; first removes those left by builds that are gone.
    pub fn create(store: &Path) -> Result<ScratchDir, ImageError> {
        std::fs::create_dir_all(store).map_err(ImageError::io("create", store))?;
        remove_leftovers(store);
        let pid = std::process::id();
        for n in 0..1000u32 {
            let path = store.join(format!("{PREFIX}{pid}-{n}"));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(ScratchDir { path }),
                Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(err) => return Err(ImageError::io("create", &path)(err)),
            }
        }
        Err(ImageError::Store {
            path: store.to_path_buf(),
            reason: "cannot find a free scratch directory name".into(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Err(err) = remove(&self.path) {
            eprintln!("warning: {err}");
        }
    }
}

/// Removes scratch directories of builds whose process is gone.
fn remove_leftovers(store: &Path) {
    let Ok(entries) = std::fs::read_dir(store) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)) else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        if let Err(err) = remove(&entry.path()) {
            eprintln!("warning: leftover of an earlier build: {err}");
        }
    }
}

/// Detaches every mount under `dir`, then removes it.
pub fn remove(dir: &Path) -> Result<(), ImageError> {
    if !dir.exists() {
        return Ok(());
    }
    let canonical = dir.canonicalize().map_err(ImageError::io("resolve", dir))?;
    let mut mounts = mounts_under(&canonical)?;
    // Deepest first, so a mount inside another is detached before its parent.
    mounts.sort_by_key(|m| std::cmp::Reverse(m.components().count()));
    for mount in &mounts {
        // SAFETY of the privileged call: the mount point lies inside our own scratch directory
        // (checked by `mounts_under` against the kernel's mount table), so detaching it affects
        // only what the build mounted there; MNT_DETACH never touches the mounted file system's
        // contents, it only removes this mount point from our namespace.
        let _ = nix::mount::umount2(mount, nix::mount::MntFlags::MNT_DETACH);
    }
    let left = mounts_under(&canonical)?;
    if let Some(mount) = left.first() {
        return Err(ImageError::Store {
            path: dir.to_path_buf(),
            reason: format!(
                "{} is still mounted; unmount it, then remove the directory",
                mount.display()
            ),
        });
    }
    std::fs::remove_dir_all(&canonical).map_err(ImageError::io("remove", &canonical))
}

/// Mount points at or under `dir`, from the kernel's table for this process.
fn mounts_under(dir: &Path) -> Result<Vec<PathBuf>, ImageError> {
    let table = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(table).map_err(ImageError::io("read", table))?;
    Ok(parse_mount_points(&text)
        .into_iter()
        .filter(|m| m.starts_with(dir))
        .collect())
}

/// The mount point (fifth field, with `\NNN` octal escapes) of each mountinfo line.
pub fn parse_mount_points(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|field| PathBuf::from(unescape_octal(field)))
        .collect()
}

fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escape = bytes
            .get(i + 1..i + 4)
            .filter(|d| b == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok());
        match escape {
            Some(value) => {
                out.push(value);
                i += 4;
            }
            None => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_mount_points_with_escaped_spaces() {
        let info = "22 1 0:21 / /proc rw,nosuid - proc proc rw\n\
            98 22 0:5 / /tmp/a\\040b/sys rw - sysfs sysfs rw\n";
        assert_eq!(
            parse_mount_points(info),
            [PathBuf::from("/proc"), PathBuf::from("/tmp/a b/sys")]
        );
    }

    #[test]
    fn removes_a_scratch_dir_and_names_the_next_one_freshly() {
        let store = tempfile::tempdir().unwrap();
        let path = {
            let scratch = ScratchDir::create(store.path()).unwrap();
            std::fs::write(scratch.path().join("f"), "x").unwrap();
            scratch.path().to_path_buf()
        };
        assert!(!path.exists());
        assert!(path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(&format!(".build-{}-", std::process::id())));
    }

    #[test]
    fn removes_leftovers_of_dead_builds_only() {
        let store = tempfile::tempdir().unwrap();
        // Pid 0 is never a running process's directory in /proc.
        let dead = store.path().join(".build-0-0");
        let alive = store
            .path()
            .join(format!(".build-{}-999", std::process::id()));
        std::fs::create_dir_all(dead.join("x")).unwrap();
        std::fs::create_dir_all(&alive).unwrap();
        let scratch = ScratchDir::create(store.path()).unwrap();
        assert!(!dead.exists());
        assert!(alive.exists());
        drop(scratch);
    }
}
