//! KVM or TCG: which accelerator a job's VM uses, decided once per host and image, and cached.
//!
//! `/dev/kvm` existing proves little: on some hosts (nested virtualisation) QEMU aborts setting
//! up the vCPU, or a Linux guest hangs under KVM without a word. So KVM is used only when a guest
//! has actually booted under it: the probe starts the image's kernel and initramfs with
//! `-accel kvm` and waits, with a deadline of a few seconds, for the agent's first bytes on the
//! virtio-serial socket; anything else (QEMU exiting, silence) means TCG, with the reason kept.
//!
//! The verdict is cached in `$HRUN_CACHE/vm/accel.json`, keyed by the host kernel release, the
//! QEMU version, whether `/dev/kvm` exists and the image digest, so a kernel or QEMU upgrade or a
//! new image probes again. Concurrent runners serialise on a lock file so a host probes once.
//! `HRUN_ACCEL=kvm|tcg` ([`VmConfig::accel`]) skips the probe.
//!
//! Under TCG the guest is told the host TSC's rate (see [`super::args`]), measured here.
//!
//! Must never: pick KVM without a guest having booted under it (unless forced), or fail a job
//! because the cache file is unreadable (it is then rewritten).

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{LaunchSpec, QemuVm, RunDir, VmError};
use crate::vm::{VmConfig, VmImage};

/// The most verdicts the cache keeps (the newest).
const MAX_CACHED: usize = 32;

/// The accelerator QEMU runs the guest with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// Hardware virtualisation through `/dev/kvm`.
    Kvm,
    /// QEMU's software emulation (the tiny code generator).
    Tcg,
}

impl Accel {
    /// `kvm` or `tcg`, as QEMU's `-accel` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

impl std::fmt::Display for Accel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Accel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "kvm" => Ok(Accel::Kvm),
            "tcg" => Ok(Accel::Tcg),
            other => Err(format!(
                "unknown accelerator `{other}` (expected kvm or tcg)"
            )),
        }
    }
}

/// What the verdict depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeKey {
    /// The host kernel release.
    pub host_kernel: String,
    /// QEMU's `--version` first line.
    pub qemu_version: String,
    /// Whether `/dev/kvm` exists.
    pub kvm_device: bool,
    /// The image's digest.
    pub image_digest: String,
}

/// The accelerator to use, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccelVerdict {
    /// KVM or TCG.
    pub accel: Accel,
    /// Why, in words (for the job result).
    pub reason: String,
    /// How long the KVM boot probe took, when one ran.
    pub probe_ms: Option<u64>,
    /// When the verdict was reached (seconds since the epoch).
    pub decided_at: u64,
}

/// Where a verdict came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictSource {
    /// `HRUN_ACCEL` (or the config) forced it.
    Forced,
    /// The cache had it for this key.
    Cached,
    /// This call probed.
    Probed,
}

/// A verdict and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccelDecision {
    /// The verdict.
    pub verdict: AccelVerdict,
    /// Forced, cached or probed now.
    pub source: VerdictSource,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CacheFile {
    verdicts: Vec<CacheEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CacheEntry {
    key: ProbeKey,
    verdict: AccelVerdict,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Decides the accelerator for `image` under `config`: forced, cached or probed (which boots
/// the image under KVM once, blocking for up to [`VmConfig::probe_deadline`]).
pub fn choose_accel(config: &VmConfig, image: &VmImage) -> Result<AccelDecision, VmError> {
    if let Some(accel) = config.accel {
        return Ok(AccelDecision {
            verdict: AccelVerdict {
                accel,
                reason: format!("forced by HRUN_ACCEL={accel}"),
                probe_ms: None,
                decided_at: now_secs(),
            },
            source: VerdictSource::Forced,
        });
    }
    let kvm = Path::new("/dev/kvm");
    let key = ProbeKey {
        host_kernel: fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_default(),
        qemu_version: qemu_version(&config.qemu)?,
        kvm_device: kvm.exists(),
        image_digest: image.digest.clone(),
    };
    let vm_dir = config.vm_dir();
    cached_or_decide(&vm_dir.join("accel.json"), &key, || {
        decide(config, image, &key, kvm)
    })
}

/// QEMU's version line (`QEMU emulator version 7.2.22 (…)`).
pub fn qemu_version(qemu: &Path) -> Result<String, VmError> {
    let out = Command::new(qemu)
        .arg("--version")
        .env_clear()
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|source| VmError::Spawn {
            program: qemu.to_path_buf(),
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text.lines().next().unwrap_or("").trim().to_owned())
}

fn decide(config: &VmConfig, image: &VmImage, key: &ProbeKey, kvm: &Path) -> AccelVerdict {
    let tcg = |reason: String, probe_ms: Option<u64>| AccelVerdict {
        accel: Accel::Tcg,
        reason,
        probe_ms,
        decided_at: now_secs(),
    };
    if !key.kvm_device {
        return tcg("/dev/kvm does not exist".to_owned(), None);
    }
    if let Err(e) = File::options().read(true).write(true).open(kvm) {
        return tcg(format!("/dev/kvm cannot be opened: {e}"), None);
    }
    let started = Instant::now();
    let probe = probe_boot(config, image, Accel::Kvm, config.probe_deadline);
    let probe_ms = Some(u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX));
    match probe {
        Ok(first_bytes) => AccelVerdict {
            accel: Accel::Kvm,
            reason: format!(
                "a guest booted under KVM and answered in {} ms",
                first_bytes.as_millis()
            ),
            probe_ms,
            decided_at: now_secs(),
        },
        Err(e) => tcg(format!("KVM probe failed: {e}"), probe_ms),
    }
}

/// Boots the image's kernel and initramfs (and read-only root disk) under `accel` and waits up
/// to `deadline` for the agent's first bytes; the VM is killed either way. Returns the time
/// from launch to those bytes.
pub fn probe_boot(
    config: &VmConfig,
    image: &VmImage,
    accel: Accel,
    deadline: Duration,
) -> Result<Duration, VmError> {
    let run = RunDir::create(&config.vm_dir().join("run"))?;
    let mut spec = LaunchSpec::new(&run, accel, &image.kernel, &image.initrd)?;
    spec.root_disk = Some(image.rootfs.clone()).filter(|p| p.is_file());
    spec.tsc_khz = measure_tsc_khz_for(accel);
    let vm = QemuVm::launch(&config.qemu, run, spec, None, None)?;
    let result = vm.wait_first_bytes(deadline).map(|(t, _)| t);
    drop(vm);
    result
}

/// The cached verdict for `key`, or `decide()`'s, stored. Holds an exclusive lock on
/// `<cache>.lock` meanwhile so concurrent runners probe once.
fn cached_or_decide(
    cache: &Path,
    key: &ProbeKey,
    decide: impl FnOnce() -> AccelVerdict,
) -> Result<AccelDecision, VmError> {
    if let Some(dir) = cache.parent() {
        fs::create_dir_all(dir).map_err(|e| VmError::path("cannot make", dir, e))?;
    }
    let lock_path = PathBuf::from(format!("{}.lock", cache.display()));
    let lock_file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| VmError::path("cannot open the accelerator lock", &lock_path, e))?;
    let _lock = nix::fcntl::Flock::lock(lock_file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| VmError::path("cannot lock", &lock_path, e.into()))?;
    let mut file: CacheFile = fs::read(cache)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    if let Some(entry) = file.verdicts.iter().find(|e| e.key == *key) {
        return Ok(AccelDecision {
            verdict: entry.verdict.clone(),
            source: VerdictSource::Cached,
        });
    }
    let verdict = decide();
    file.verdicts.push(CacheEntry {
        key: key.clone(),
        verdict: verdict.clone(),
    });
    let excess = file.verdicts.len().saturating_sub(MAX_CACHED);
    file.verdicts.drain(..excess);
    write_atomically(cache, &file)?;
    Ok(AccelDecision {
        verdict,
        source: VerdictSource::Probed,
    })
}

fn write_atomically(path: &Path, file: &CacheFile) -> Result<(), VmError> {
    let tmp = PathBuf::from(format!("{}.tmp.{}", path.display(), std::process::id()));
    let bytes = serde_json::to_vec_pretty(file)
        .map_err(|e| VmError::path("cannot encode", path, std::io::Error::other(e)))?;
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.write_all(b"\n")?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        VmError::path("cannot write the accelerator verdict", path, e)
    })
}

/// The TSC rate to tell a guest under `accel`: measured under TCG, none under KVM (whose guests
/// get it from kvm-clock).
pub fn measure_tsc_khz_for(accel: Accel) -> Option<u64> {
    match accel {
        Accel::Tcg => measure_tsc_khz(),
        Accel::Kvm => None,
    }
}

/// The host TSC's rate in kHz, measured against the monotonic clock over 10 ms. Under TCG the
/// guest's TSC is the host's, so this is the rate the guest must be told.
pub fn measure_tsc_khz() -> Option<u64> {
    #[cfg(target_arch = "x86_64")]
    {
        let read = || {
            // SAFETY: RDTSC is an unprivileged instruction every x86_64 CPU has; it reads a
            // counter and touches no memory.
            unsafe { core::arch::x86_64::_rdtsc() }
        };
        let (t0, c0) = (Instant::now(), read());
        std::thread::sleep(Duration::from_millis(10));
        let (c1, t1) = (read(), Instant::now());
        let nanos = u64::try_from(t1.duration_since(t0).as_nanos()).ok()?;
        let khz = c1.checked_sub(c0)?.checked_mul(1_000_000)? / nanos.max(1);
        // Anything outside 100 MHz – 10 GHz is a broken counter, not a rate.
        (100_000..=10_000_000).contains(&khz).then_some(khz)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    fn key(digest: &str) -> ProbeKey {
        ProbeKey {
            host_kernel: "6.1.0".to_owned(),
            qemu_version: "QEMU emulator version 7.2.22".to_owned(),
            kvm_device: true,
            image_digest: digest.to_owned(),
        }
    }

    fn verdict(accel: Accel, reason: &str) -> AccelVerdict {
        AccelVerdict {
            accel,
            reason: reason.to_owned(),
            probe_ms: Some(5),
            decided_at: 1,
        }
    }

    #[test]
    fn probes_once_then_answers_from_the_cache() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = dir.path().join("vm").join("accel.json");
        let probes = Cell::new(0);
        let first = cached_or_decide(&cache, &key("a"), || {
            probes.set(probes.get() + 1);
            verdict(Accel::Tcg, "KVM probe failed: silence")
        })
        .expect("first");
        assert_eq!(first.source, VerdictSource::Probed);
        let second = cached_or_decide(&cache, &key("a"), || {
            probes.set(probes.get() + 1);
            verdict(Accel::Kvm, "other")
        })
        .expect("second");
        assert_eq!(second.source, VerdictSource::Cached);
        assert_eq!(second.verdict.reason, "KVM probe failed: silence");
        assert_eq!(probes.get(), 1);
    }

    #[test]
    fn another_image_or_host_probes_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = dir.path().join("accel.json");
        cached_or_decide(&cache, &key("a"), || verdict(Accel::Tcg, "x")).expect("a");
        let b = cached_or_decide(&cache, &key("b"), || verdict(Accel::Kvm, "y")).expect("b");
        assert_eq!(b.source, VerdictSource::Probed);
        let mut other_host = key("a");
        other_host.host_kernel = "6.2.0".to_owned();
        let c = cached_or_decide(&cache, &other_host, || verdict(Accel::Kvm, "z")).expect("c");
        assert_eq!(c.source, VerdictSource::Probed);
        let text = fs::read_to_string(&cache).expect("cache");
        assert_eq!(text.matches("\"image_digest\"").count(), 3);
    }

    #[test]
    fn a_corrupt_cache_is_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = dir.path().join("accel.json");
        fs::write(&cache, b"{ not json").expect("write");
        let d = cached_or_decide(&cache, &key("a"), || verdict(Accel::Tcg, "x")).expect("a");
        assert_eq!(d.source, VerdictSource::Probed);
        let again = cached_or_decide(&cache, &key("a"), || verdict(Accel::Kvm, "y")).expect("b");
        assert_eq!(again.source, VerdictSource::Cached);
    }

    #[test]
    fn forced_accelerator_skips_the_probe() {
        let config = VmConfig {
            accel: Some(Accel::Tcg),
            qemu: PathBuf::from("/nonexistent/qemu"),
            ..VmConfig::default()
        };
        let image = VmImage {
            kernel: PathBuf::from("/nonexistent/k"),
            initrd: PathBuf::from("/nonexistent/i"),
            rootfs: PathBuf::from("/nonexistent/r"),
            digest: "d".to_owned(),
            kernel_release: "r".to_owned(),
        };
        let d = choose_accel(&config, &image).expect("forced");
        assert_eq!(d.source, VerdictSource::Forced);
        assert_eq!(d.verdict.accel, Accel::Tcg);
        assert_eq!(d.verdict.reason, "forced by HRUN_ACCEL=tcg");
    }

    #[test]
    fn parses_accelerator_names() {
        assert_eq!("kvm".parse(), Ok(Accel::Kvm));
        assert_eq!("tcg".parse(), Ok(Accel::Tcg));
        assert!("hvf".parse::<Accel>().is_err());
    }

    #[test]
    fn measures_a_plausible_tsc_rate() {
        if let Some(khz) = measure_tsc_khz() {
            assert!((100_000..=10_000_000).contains(&khz), "{khz}");
        }
    }
}
