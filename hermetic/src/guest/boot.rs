//! The real machine: what the agent does as PID 1 of the microVM.
//!
//! [`VmMachine::boot`] runs first, from the initramfs: it mounts devtmpfs, proc and sysfs,
//! gives standard descriptors to `/dev/null` where the kernel left none, makes the agent
//! unkillable by the OOM killer (`oom_score_adj` -1000), loads the modules listed in
//! `/etc/hrun/modules` with `finit_module` in order, and opens the virtio-serial port named
//! [`AGENT_PORT_NAME`]. [`Machine::setup`] then sets the clock and hostname, mounts the root
//! image read-only at `/lower` and the scratch disk at `/scratch` (disks found by their
//! `serial=`), builds the overlay root at `/sysroot` with `/proc`, `/dev`, `/dev/pts`,
//! `/dev/shm`, `/sys` (read-only) and a tmpfs `/tmp` inside, writes `/etc/hostname`,
//! `/etc/hosts` and `/etc/resolv.conf` there, and configures the network.
//!
//! Every mount here happens in the VM's only mount namespace, which the job owns anyway; none
//! of it can reach the host. Steps are chrooted into `/sysroot` as an unprivileged user with
//! `no_new_privs`, so they cannot undo these mounts.
//!
//! Must never: run anywhere but as PID 1 of a VM (the binary refuses otherwise), or write to
//! standard error (which may be nothing, or the console).

use std::fs::{self, File, OpenOptions};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::mount::{mount, MsFlags};

use super::machine::Machine;
use super::sys;
use crate::vm::protocol::{
    Failure, FailureKind, Setup, AGENT_PORT_NAME, ROOT_DISK_SERIAL, SCRATCH_DISK_SERIAL,
};

/// Where the overlay root steps run in is mounted.
pub const SYSROOT: &str = "/sysroot";
/// The list of modules to load, one absolute path per line, in dependency order.
pub const MODULE_LIST: &str = "/etc/hrun/modules";
/// How long boot waits for the port, and set-up for the disks, to appear.
const DEVICE_WAIT: Duration = Duration::from_secs(10);

/// The microVM the agent is PID 1 of.
#[derive(Debug)]
pub struct VmMachine {
    notes: Vec<String>,
    sysroot: PathBuf,
}

impl VmMachine {
    /// Prepares the machine and opens the agent's port. Failing to find the port is fatal (the
    /// caller powers off); anything else that fails becomes a note in Hello.
    pub fn boot() -> Result<(VmMachine, File), String> {
        let mut notes = Vec::new();
        for (source, target, fstype, flags) in [
            ("devtmpfs", "/dev", "devtmpfs", MsFlags::MS_NOSUID),
            (
                "proc",
                "/proc",
                "proc",
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            ),
            (
                "sysfs",
                "/sys",
                "sysfs",
                MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC,
            ),
        ] {
            if let Err(e) = mount_at(source, Path::new(target), fstype, flags, None) {
                notes.push(e);
            }
        }
        fill_standard_descriptors();
        if let Err(e) = fs::write("/proc/self/oom_score_adj", b"-1000") {
            notes.push(format!("setting oom_score_adj: {e}"));
        }
        let modules_from = sys::uptime_ms();
        notes.extend(load_modules(Path::new(MODULE_LIST)));
        let port_from = sys::uptime_ms();
        let port = open_port(AGENT_PORT_NAME, DEVICE_WAIT)?;
        sys::log(&format!(
            "modules loaded in {} ms, port open after {} ms more",
            port_from.saturating_sub(modules_from),
            sys::uptime_ms().saturating_sub(port_from)
        ));
        for note in &notes {
            sys::log(note);
        }
        Ok((
            VmMachine {
                notes,
                sysroot: PathBuf::from(SYSROOT),
            },
            port,
        ))
    }

    fn mount_root(&self) -> Result<(), String> {
        let root_disk = wait_for_disk(ROOT_DISK_SERIAL, DEVICE_WAIT)?;
        let scratch_disk = wait_for_disk(SCRATCH_DISK_SERIAL, DEVICE_WAIT)?;
        mount_at(
            &root_disk,
            Path::new("/lower"),
            "ext4",
            MsFlags::MS_RDONLY,
            Some("noload"),
        )?;
        mount_at(
            &scratch_disk,
            Path::new("/scratch"),
            "ext4",
            MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
            None,
        )?;
        for dir in ["/scratch/upper", "/scratch/work"] {
            fs::create_dir_all(dir).map_err(|e| format!("creating {dir}: {e}"))?;
        }
        mount_at(
            "overlay",
            &self.sysroot,
            "overlay",
            MsFlags::empty(),
            Some("lowerdir=/lower,upperdir=/scratch/upper,workdir=/scratch/work"),
        )?;
        let inside = |p: &str| self.sysroot.join(p);
        let nosuid_nodev = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
        mount_at(
            "proc",
            &inside("proc"),
            "proc",
            nosuid_nodev | MsFlags::MS_NOEXEC,
            None,
        )?;
        bind(Path::new("/dev"), &inside("dev"))?;
        mount_at(
            "devpts",
            &inside("dev/pts"),
            "devpts",
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
        )?;
        mount_at(
            "tmpfs",
            &inside("dev/shm"),
            "tmpfs",
            nosuid_nodev,
            Some("mode=1777"),
        )?;
        mount_at(
            "sysfs",
            &inside("sys"),
            "sysfs",
            nosuid_nodev | MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY,
            None,
        )?;
        mount_at(
            "tmpfs",
            &inside("tmp"),
            "tmpfs",
            nosuid_nodev,
            Some("mode=1777"),
        )?;
        Ok(())
    }

    fn write_etc(&self, setup: &Setup) -> Result<(), String> {
        let etc = self.sysroot.join("etc");
        let hosts = format!(
            "127.0.0.1\tlocalhost\n127.0.1.1\t{0}\n::1\tlocalhost ip6-localhost ip6-loopback\n",
            setup.hostname
        );
        let resolv: String = setup
            .network
            .iter()
            .flat_map(|n| n.dns.iter())
            .map(|dns| format!("nameserver {dns}\n"))
            .collect();
        for (name, content) in [
            ("hostname", format!("{}\n", setup.hostname)),
            ("hosts", hosts),
            ("resolv.conf", resolv),
        ] {
            replace_file(&etc.join(name), content.as_bytes())?;
        }
        Ok(())
    }
}

impl Machine for VmMachine {
    fn kernel_release(&self) -> String {
        sys::kernel_release()
    }

    fn uptime_ms(&self) -> u64 {
        sys::uptime_ms()
    }

    fn boot_notes(&self) -> Vec<String> {
        self.notes.clone()
    }

    fn setup(&mut self, setup: &Setup) -> Result<(), Failure> {
        let fail = |what: String| Failure::new(FailureKind::Setup, what);
        if let Some(ns) = setup.clock_unix_ns {
            sys::set_realtime(ns).map_err(|e| fail(format!("setting the clock: {e}")))?;
        }
        nix::unistd::sethostname(&setup.hostname)
            .map_err(|e| fail(format!("setting the hostname {:?}: {e}", setup.hostname)))?;
        self.mount_root().map_err(fail)?;
        self.write_etc(setup).map_err(fail)?;
        crate::sys::bring_loopback_up().map_err(|e| fail(format!("bringing loopback up: {e}")))?;
        if let Some(network) = &setup.network {
            super::net::configure(network)
                .map_err(|e| fail(format!("configuring the network: {e}")))?;
        }
        Ok(())
    }

    fn resolve(&self, guest_path: &Path) -> PathBuf {
        self.sysroot
            .join(guest_path.strip_prefix("/").unwrap_or(guest_path))
    }

    fn step_root(&self) -> Option<&Path> {
        Some(&self.sysroot)
    }

    fn seal_read_only(&mut self, resolved: &Path) -> Result<(), Failure> {
        let fail = |e: String| Failure::new(FailureKind::Setup, e);
        bind(resolved, resolved).map_err(fail)?;
        // SAFETY of intent: a read-only remount of a bind mount inside the VM's own tree.
        mount(
            None::<&str>,
            resolved,
            None::<&str>,
            MsFlags::MS_REMOUNT
                | MsFlags::MS_BIND
                | MsFlags::MS_RDONLY
                | MsFlags::MS_NOSUID
                | MsFlags::MS_NODEV,
            None::<&str>,
        )
        .map_err(|e| fail(format!("making {} read-only: {e}", resolved.display())))
    }

    fn reap_orphans(&self) {
        use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
        // As PID 1 every orphan of the job ends up our child; collect the dead ones.
        while let Ok(status) = waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            if status == WaitStatus::StillAlive {
                break;
            }
        }
    }

    fn power_off(&mut self) {
        let e = sys::power_off();
        sys::log(&format!("power off refused: {e}"));
    }
}

fn mount_at(
    source: &str,
    target: &Path,
    fstype: &str,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), String> {
    fs::create_dir_all(target).map_err(|e| format!("creating {}: {e}", target.display()))?;
    mount(Some(source), target, Some(fstype), flags, data)
        .map_err(|e| format!("mounting {fstype} {source} at {}: {e}", target.display()))
}

fn bind(source: &Path, target: &Path) -> Result<(), String> {
    fs::create_dir_all(target).map_err(|e| format!("creating {}: {e}", target.display()))?;
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(|e| format!("binding {} at {}: {e}", source.display(), target.display()))
}

/// Replaces `path` with a new file (a link there, such as a `resolv.conf` pointing elsewhere,
/// is removed, not followed).
fn replace_file(path: &Path, content: &[u8]) -> Result<(), String> {
    match fs::symlink_metadata(path) {
        Ok(meta) if !meta.is_dir() => {
            fs::remove_file(path).map_err(|e| format!("removing {}: {e}", path.display()))?
        }
        _ => {}
    }
    fs::write(path, content).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Opens `/dev/null` on descriptors 0, 1 and 2 where the kernel left them closed, so nothing
/// opened later (the port!) lands there and receives stray writes.
fn fill_standard_descriptors() {
    for fd in 0..3 {
        if !sys::fd_is_open(fd) {
            if let Ok(null) = OpenOptions::new().read(true).write(true).open("/dev/null") {
                // Opened on the lowest free number, which is `fd`; keep it open for good.
                std::mem::forget(null);
            }
        }
    }
}

/// Loads each module of the list; returns one note per failure.
fn load_modules(list: &Path) -> Vec<String> {
    let Ok(text) = fs::read_to_string(list) else {
        return vec![format!("no module list at {}", list.display())];
    };
    let mut notes = Vec::new();
    for line in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let loaded = File::open(line).and_then(|file| sys::finit_module(file.as_fd()));
        match loaded {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
            Err(e) => notes.push(format!("loading module {line}: {e}")),
        }
    }
    notes
}

/// Waits for the virtio-serial port named `name` and opens it.
fn open_port(name: &str, wait: Duration) -> Result<File, String> {
    let started = Instant::now();
    loop {
        if let Some(device) = find_port(name) {
            let path = Path::new("/dev").join(&device);
            match OpenOptions::new().read(true).write(true).open(&path) {
                Ok(file) => return Ok(file),
                Err(e) if started.elapsed() > wait => {
                    return Err(format!("opening {}: {e}", path.display()))
                }
                Err(_) => {}
            }
        } else if started.elapsed() > wait {
            return Err(format!(
                "no virtio-serial port named {name} appeared within {} s",
                wait.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn find_port(name: &str) -> Option<String> {
    fs::read_dir("/sys/class/virtio-ports")
        .ok()?
        .filter_map(|item| item.ok())
        .find(|item| {
            fs::read_to_string(item.path().join("name"))
                .map(|n| n.trim() == name)
                .unwrap_or(false)
        })
        .and_then(|item| item.file_name().to_str().map(str::to_owned))
}

/// Waits for the virtio-blk disk with `serial` and returns its device path.
fn wait_for_disk(serial: &str, wait: Duration) -> Result<String, String> {
    let started = Instant::now();
    loop {
        if let Some(dev) = find_disk(serial) {
            if Path::new(&dev).exists() {
                return Ok(dev);
            }
        }
        if started.elapsed() > wait {
            return Err(format!(
                "no disk with serial {serial} appeared within {} s",
                wait.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn find_disk(serial: &str) -> Option<String> {
    fs::read_dir("/sys/block")
        .ok()?
        .filter_map(|item| item.ok())
        .filter(|item| {
            item.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("vd"))
        })
        .find(|item| {
            fs::read_to_string(item.path().join("serial"))
                .map(|s| s.trim() == serial)
                .unwrap_or(false)
        })
        .and_then(|item| item.file_name().to_str().map(|n| format!("/dev/{n}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_guest_paths_under_the_sysroot() {
        let m = VmMachine {
            notes: vec![],
            sysroot: PathBuf::from(SYSROOT),
        };
        assert_eq!(
            m.resolve(Path::new("/home/runner/work")),
            PathBuf::from("/sysroot/home/runner/work")
        );
        assert_eq!(m.step_root(), Some(Path::new("/sysroot")));
    }

    #[test]
    fn notes_a_missing_module_list_and_unloadable_modules() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load_modules(&dir.path().join("none")).len(), 1);
        let list = dir.path().join("modules");
        fs::write(&list, "# comment\n\n/nonexistent/virtio.ko\n").unwrap();
        let notes = load_modules(&list);
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("/nonexistent/virtio.ko"), "{notes:?}");
    }

    #[test]
    fn replaces_a_link_instead_of_writing_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"keep").unwrap();
        let link = dir.path().join("resolv.conf");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        replace_file(&link, b"nameserver 10.0.0.1\n").unwrap();
        assert_eq!(fs::read(&victim).unwrap(), b"keep");
        assert_eq!(fs::read(&link).unwrap(), b"nameserver 10.0.0.1\n");
    }
}
