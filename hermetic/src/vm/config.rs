//! What a job's virtual machine gets: vCPUs, memory, a disk-size cap, the job timeout, and
//! where QEMU and the cache directory are.
//!
//! Values come from the job or the runner config; [`VmConfig::from_env`] fills what the process
//! environment says (`HRUN_CACHE`, `HRUN_ACCEL`) over the defaults.
//!
//! Must never: read anything but the named environment variables.

use std::path::PathBuf;
use std::time::Duration;

use super::qemu::Accel;

/// The QEMU binary looked up in `PATH` unless configured.
pub const DEFAULT_QEMU: &str = "qemu-system-x86_64";

/// Resources and limits of one job's VM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VmConfig {
    /// Virtual CPUs (`-smp`).
    pub vcpus: u32,
    /// Guest memory in MiB (`-m`). QEMU allocates host pages only as the guest touches them.
    pub memory_mib: u32,
    /// Size of the scratch disk (the overlay's upper layer and the job's writes): the most the
    /// job may write inside the VM. The file is sparse, so only what is written takes host space.
    pub disk_bytes: u64,
    /// The job timeout: at this long after launch the VM is killed, whatever runs in it.
    pub timeout: Option<Duration>,
    /// How long the guest agent has to say hello after launch before the boot counts as failed.
    pub boot_timeout: Duration,
    /// How long the accelerator probe waits for a guest under KVM to send its first bytes.
    pub probe_deadline: Duration,
    /// The QEMU system emulator (a name looked up in `PATH`, or a path).
    pub qemu: PathBuf,
    /// The cache directory (`$HRUN_CACHE`): the run directories and the accelerator verdict
    /// live under `<cache_dir>/vm/`.
    pub cache_dir: PathBuf,
    /// Forces an accelerator instead of the probed one (`HRUN_ACCEL=kvm|tcg`).
    pub accel: Option<Accel>,
    /// Keeps the guest's serial console in `console.log` in the run directory (debugging: the
    /// serial port slows the boot, so it is off by default).
    pub console_log: bool,
    /// Words appended to the guest kernel's command line.
    pub extra_cmdline: Vec<String>,
    /// Seconds the guest's wall clock is set ahead of the host's (negative: behind). 0 but in
    /// rebuilds, which move the clock to find builds that depend on it.
    pub clock_offset_secs: i64,
    /// The uid and gid steps run as in the guest (never 0): the image's job user unless a rebuild
    /// varies it.
    pub step_id: u32,
}

impl Default for VmConfig {
    fn default() -> Self {
        VmConfig {
            vcpus: 2,
            memory_mib: 2048,
            disk_bytes: 16 << 30,
            timeout: None,
            boot_timeout: Duration::from_secs(60),
            probe_deadline: Duration::from_secs(5),
            qemu: PathBuf::from(DEFAULT_QEMU),
            cache_dir: default_cache_dir(),
            accel: None,
            console_log: false,
            extra_cmdline: Vec::new(),
            clock_offset_secs: 0,
            step_id: super::session::GUEST_STEP_ID,
        }
    }
}

impl VmConfig {
    /// The defaults, with `HRUN_CACHE` as the cache directory, `HRUN_ACCEL` as the forced
    /// accelerator when set, and `HRUN_VM_CONSOLE=1` keeping the guest console. An unknown `HRUN_ACCEL` value is an error naming it.
    pub fn from_env() -> Result<Self, String> {
        let accel = match std::env::var("HRUN_ACCEL") {
            Ok(v) if v.is_empty() => None,
            Ok(v) => Some(v.parse::<Accel>()?),
            Err(_) => None,
        };
        Ok(VmConfig {
            accel,
            // `HRUN_VM_CONSOLE=1`: keep the guest's console in the VM's run directory (slower
            // boots; for debugging).
            console_log: std::env::var_os("HRUN_VM_CONSOLE").is_some_and(|v| v == "1"),
            ..VmConfig::default()
        })
    }

    /// `<cache_dir>/vm`: where the run directories and the accelerator verdict live.
    pub fn vm_dir(&self) -> PathBuf {
        self.cache_dir.join("vm")
    }
}

/// `$HRUN_CACHE`, else `$HOME/.cache/hrun`, else `/var/cache/hrun`.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HRUN_CACHE").filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        Some(home) => PathBuf::from(home).join(".cache").join("hrun"),
        None => PathBuf::from("/var/cache/hrun"),
    }
}
