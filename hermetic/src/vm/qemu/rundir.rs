//! A VM's run directory under `$HRUN_CACHE/vm/run/`, its scratch disk, and the removal of
//! what killed runners left behind.
//!
//! Each VM gets `run/hrun-<runner pid>-<n>/` holding QEMU's sockets (agent, QMP), its pid file,
//! its log and the scratch disk. The runner's pid in the name makes leftovers recognisable: a
//! directory whose runner is dead belongs to nobody, and [`cleanup_leftovers`] kills its QEMU
//! (any QEMU process whose command line names that directory) and removes it.
//!
//! Must never: remove the directory of a live runner, or signal a process whose command line
//! does not name the directory being cleaned (its pid may have been reused).

use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use super::VmError;

/// Unix socket paths must fit `sun_path` (108 bytes with the terminating NUL).
const MAX_SOCKET_PATH: usize = 107;

/// The directory holding one VM's files; removed when dropped.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    name: String,
}

impl RunDir {
    /// Makes `<run_root>/hrun-<pid>-<n>` with the first free `n`.
    pub fn create(run_root: &Path) -> Result<RunDir, VmError> {
        fs::create_dir_all(run_root)
            .map_err(|e| VmError::path("cannot make the VM run directory", run_root, e))?;
        let pid = std::process::id();
        let mut n: u64 = 0;
        loop {
            let name = format!("hrun-{pid}-{n}");
            let path = run_root.join(&name);
            match fs::create_dir(&path) {
                Ok(()) => return Ok(RunDir { path, name }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => n += 1,
                Err(e) => return Err(VmError::path("cannot make the VM run directory", path, e)),
            }
        }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its name, `hrun-<pid>-<n>`, which is also the VM's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A file in the directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    /// A socket path in the directory, checked to fit a unix socket address.
    pub fn socket(&self, name: &str) -> Result<PathBuf, VmError> {
        let path = self.file(name);
        if path.as_os_str().len() > MAX_SOCKET_PATH {
            return Err(VmError::SocketPathTooLong { path });
        }
        Ok(path)
    }

    /// Removes the directory and everything in it (again: no error).
    pub fn remove(&self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Creates the scratch disk: a sparse file of `bytes` formatted as ext4 (no root needed: `mkfs`
/// works on the file). Only what the guest writes takes space on the host.
pub fn make_scratch_disk(path: &Path, bytes: u64) -> Result<(), VmError> {
    let file = File::options()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| VmError::path("cannot create the scratch disk", path, e))?;
    file.set_len(bytes)
        .map_err(|e| VmError::path("cannot size the scratch disk", path, e))?;
    drop(file);
    let mkfs = find_mkfs().ok_or_else(|| VmError::Mkfs {
        path: path.to_path_buf(),
        reason: "mkfs.ext4 not found (install e2fsprogs)".to_owned(),
    })?;
    // Lazy inode-table and journal initialisation and no discard keep this at tens of
    // milliseconds whatever the size; the guest should mount with `noinit_itable`.
    let out = Command::new(mkfs)
        .args(["-q", "-F", "-m", "0", "-L", "hrun-scratch", "-E"])
        .arg("lazy_itable_init=1,lazy_journal_init=1,nodiscard")
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .env_clear()
        .output()
        .map_err(|e| VmError::Mkfs {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    if !out.status.success() {
        return Err(VmError::Mkfs {
            path: path.to_path_buf(),
            reason: format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    Ok(())
}

/// `mkfs.ext4` from `PATH`, or from the sbin directories an unprivileged `PATH` lacks.
fn find_mkfs() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join("mkfs.ext4"))
        .find(|p| p.is_file())
}

/// The runner pid in a run directory's name, `hrun-<pid>-<n>`.
fn runner_pid(name: &str) -> Option<i32> {
    let rest = name.strip_prefix("hrun-")?;
    let (pid, n) = rest.split_once('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse::<i32>().ok().filter(|p| *p > 0)
}

/// Whether a process with this pid exists (a pid we may not signal exists too).
fn alive(pid: i32) -> bool {
    !matches!(kill(Pid::from_raw(pid), None), Err(Errno::ESRCH))
}

/// Whether `pid` is a process whose command line mentions `dir` (so it is the QEMU started for
/// that run directory, not a process that reused its pid).
fn started_for(pid: i32, dir: &Path) -> bool {
    let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else {
        return false;
    };
    let needle = dir.as_os_str().as_bytes();
    !needle.is_empty() && cmdline.windows(needle.len()).any(|w| w == needle)
}

/// Whether `pid` runs QEMU (its command name starts with `qemu`).
fn is_qemu(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with("qemu"))
}

/// The QEMU processes started for `dir`: the one its pid file names, and any QEMU whose command
/// line mentions the directory (the pid file may be missing or not yet written).
fn leftover_qemus(dir: &Path) -> Vec<i32> {
    let mut pids: Vec<i32> = fs::read_to_string(dir.join("qemu.pid"))
        .ok()
        .and_then(|t| t.trim().parse::<i32>().ok())
        .into_iter()
        .collect();
    if let Ok(procs) = fs::read_dir("/proc") {
        pids.extend(
            procs
                .flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok())),
        );
    }
    pids.sort_unstable();
    pids.dedup();
    pids.retain(|&pid| pid > 0 && is_qemu(pid) && started_for(pid, dir));
    pids
}

/// Kills the QEMU processes of a leftover run directory and waits (bounded) until they are gone.
fn kill_leftover_qemu(dir: &Path) {
    let pids = leftover_qemus(dir);
    for &pid in &pids {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let until = Instant::now() + Duration::from_secs(2);
    while pids.iter().any(|&p| alive(p) && started_for(p, dir)) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Removes the run directories under `run_root` whose runner is dead, killing their QEMU first.
/// Returns the names removed.
pub fn cleanup_leftovers(run_root: &Path) -> Result<Vec<String>, VmError> {
    let entries = match fs::read_dir(run_root) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(VmError::path("cannot list VM run directories", run_root, e)),
    };
    let own = i32::try_from(std::process::id()).unwrap_or(0);
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = runner_pid(&name) else {
            continue;
        };
        if pid == own || alive(pid) {
            continue;
        }
        let dir = entry.path();
        kill_leftover_qemu(&dir);
        if fs::remove_dir_all(&dir).is_ok() {
            removed.push(name);
        }
    }
    removed.sort();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid that belonged to a process of ours that has ended (free until the kernel reuses it).
    fn dead_pid() -> i32 {
        let mut child = Command::new("true").spawn().expect("spawn true");
        let pid = i32::try_from(child.id()).expect("pid");
        child.wait().expect("wait");
        pid
    }

    #[test]
    fn names_carry_the_runner_pid_and_are_unique() {
        let root = tempfile::tempdir().expect("tempdir");
        let a = RunDir::create(root.path()).expect("first");
        let b = RunDir::create(root.path()).expect("second");
        let pid = i32::try_from(std::process::id()).expect("pid");
        assert_eq!(runner_pid(a.name()), Some(pid));
        assert_ne!(a.name(), b.name());
        let path = a.path().to_path_buf();
        drop(a);
        assert!(!path.exists(), "dropping removes the directory");
    }

    #[test]
    fn parses_only_well_formed_names() {
        assert_eq!(runner_pid("hrun-123-0"), Some(123));
        assert_eq!(runner_pid("hrun-123-"), None);
        assert_eq!(runner_pid("hrun-x-1"), None);
        assert_eq!(runner_pid("hrun-0-1"), None);
        assert_eq!(runner_pid("other-123-1"), None);
    }

    #[test]
    fn rejects_socket_paths_too_long_for_a_unix_address() {
        let root = tempfile::tempdir().expect("tempdir");
        let deep = root.path().join("d".repeat(100));
        let dir = RunDir::create(&deep).expect("run dir");
        assert!(matches!(
            dir.socket("agent.sock"),
            Err(VmError::SocketPathTooLong { .. })
        ));
    }

    #[test]
    fn cleanup_removes_directories_of_dead_runners_only() {
        let root = tempfile::tempdir().expect("tempdir");
        let dead = format!("hrun-{}-0", dead_pid());
        let live = format!("hrun-{}-0", std::process::id());
        let parent = format!("hrun-{}-3", nix::unistd::getppid());
        for name in [&dead, &live, &parent, &"unrelated".to_owned()] {
            fs::create_dir(root.path().join(name)).expect("mkdir");
        }
        // A pid file naming a process not started for the directory is never signalled.
        fs::write(
            root.path().join(&dead).join("qemu.pid"),
            std::process::id().to_string(),
        )
        .expect("pid file");
        let removed = cleanup_leftovers(root.path()).expect("cleanup");
        assert_eq!(removed, [dead]);
        assert!(root.path().join(&live).exists());
        assert!(root.path().join(&parent).exists());
        assert!(root.path().join("unrelated").exists());
        assert_eq!(
            cleanup_leftovers(&root.path().join("absent")).expect("absent root"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn scratch_disk_is_a_sparse_ext4_file_of_the_cap() {
        if find_mkfs().is_none() {
            println!("SKIP scratch_disk_is_a_sparse_ext4_file_of_the_cap: mkfs.ext4 not found (ci/setup-vm.sh installs e2fsprogs)");
            return;
        }
        let root = tempfile::tempdir().expect("tempdir");
        let disk = root.path().join("scratch.ext4");
        let cap: u64 = 4 << 30;
        make_scratch_disk(&disk, cap).expect("scratch disk");
        let meta = fs::metadata(&disk).expect("metadata");
        assert_eq!(meta.len(), cap);
        let allocated = std::os::unix::fs::MetadataExt::blocks(&meta) * 512;
        assert!(allocated < 64 << 20, "{allocated} bytes allocated");
        let mut head = [0u8; 2048];
        io::Read::read_exact(&mut File::open(&disk).expect("open"), &mut head).expect("read");
        assert_eq!(head[1080..1082], [0x53, 0xef], "ext4 magic at 1080");
        assert!(
            make_scratch_disk(&disk, cap).is_err(),
            "never formats an existing file"
        );
    }
}
