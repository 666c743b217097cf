//! The deterministic environment every step gets, so that a build can be repeated bit for bit,
//! and the record of it in the job's provenance (`internalParameters.environment`).
//!
//! Every process of a job starts with:
//! - `SOURCE_DATE_EPOCH` = the committer time of the checked-out commit (`git log -1
//!   --format=%ct <sha>` in the repository the run copies), when it can be determined;
//! - `TZ=UTC` and `LC_ALL=C.UTF-8` (nothing of the runner's own `TZ`, `LANG` or `LC_*`);
//! - umask 022 (set by every backend: the namespace sandbox's init, the host executor, the
//!   guest's PID 1, which keeps the kernel's 022);
//! - a fixed hostname, [`hermetic::DEFAULT_HOSTNAME`] in the namespace sandbox and in
//!   the microVM (with `--sandbox none` steps see the host's own, recorded as `null`);
//! - its environment sorted by name (steps get a `BTreeMap`; every backend passes it in order).
//!
//! The workflow's own values win, as on GitHub, where `env` is the user's: a `SOURCE_DATE_EPOCH`,
//! `TZ` or `LC_ALL` in the workflow's, job's or step's `env` replaces ours. The job-level one is
//! what the provenance records as the job's epoch (`sourceDateEpochFrom: env`).
//!
//! **Asking for reproducibility.** `HRUN_REPRODUCIBLE: true` in the workflow's or the job's `env`
//! makes a job whose epoch cannot be determined (not a git checkout, `git` missing, a
//! `SOURCE_DATE_EPOCH` that is not a number) fail before its first step, saying why; without it
//! the epoch is left out of the steps' environment and recorded as absent, with the reason.
//!
//! **Moving the clock** (`hrun rebuild --shift`): in the microVM the guest's wall clock is set
//! ahead (the agent sets the clock from the `Setup` message; everything in the guest, file
//! times included, sees the moved clock). Linux has no time namespace for `CLOCK_REALTIME`, so
//! in the namespace sandbox and on the host the steps get libfaketime by `LD_PRELOAD` (with
//! `FAKETIME_DONT_FAKE_MONOTONIC=1`, as the guest's monotonic clock is not moved either). That
//! is what reprotest does for its time variation, and it is sound for what a rebuild needs, a
//! probe that can only add differences: it reaches every dynamically linked program, not
//! statically linked ones or direct system calls, and file times stay the kernel's; the
//! provenance and the attestation name the mechanism, so a reader knows which one ran. Without
//! libfaketime installed (`ci/setup-rebuild.sh`) the run refuses to start rather than pretend.
//!
//! Must never: let the runner's own environment reach a step through these values, or record a
//! value steps did not get.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use indexmap::IndexMap;

use provenance::slsa::StepEnvironment;

/// The switch a workflow or job sets in its `env` to ask for a reproducible build.
pub const REPRODUCIBLE_SWITCH: &str = "HRUN_REPRODUCIBLE";
/// The variable reproducible builds read their time stamps from.
pub const SOURCE_DATE_EPOCH: &str = "SOURCE_DATE_EPOCH";
/// The steps' time zone.
pub const DEFAULT_TZ: &str = "UTC";
/// The steps' locale (`LC_ALL`).
pub const DEFAULT_LOCALE: &str = "C.UTF-8";
/// The umask steps start with.
pub const STEP_UMASK: &str = "0022";

/// What a run changes of the defaults: nothing for `hrun exec`; a rebuild moves the clock and
/// varies the rest.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvironmentOptions {
    /// `TZ`; default [`DEFAULT_TZ`].
    pub tz: Option<String>,
    /// `LC_ALL` (and `LANGUAGE`); default [`DEFAULT_LOCALE`].
    pub locale: Option<String>,
    /// The sandbox's hostname; default [`hermetic::DEFAULT_HOSTNAME`].
    pub hostname: Option<String>,
    /// Seconds the steps' wall clock is moved.
    pub clock_shift_secs: i64,
    /// The uid steps run as in the microVM.
    pub step_uid: Option<u32>,
    /// The microVM's vCPUs.
    pub vcpus: Option<u32>,
    /// The guest image to boot, by digest, instead of the store's current one.
    pub image_digest: Option<String>,
}

/// How the steps' clock is moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClockShift {
    /// Not moved.
    None,
    /// The microVM's guest clock is set ahead by this many seconds.
    GuestClock(i64),
    /// libfaketime (this library) is preloaded into every step with this offset.
    Faketime { secs: i64, library: PathBuf },
}

impl ClockShift {
    fn secs(&self) -> i64 {
        match self {
            ClockShift::None => 0,
            ClockShift::GuestClock(s) | ClockShift::Faketime { secs: s, .. } => *s,
        }
    }

    fn mechanism(&self) -> Option<String> {
        match self {
            ClockShift::None => None,
            ClockShift::GuestClock(_) => Some("guest clock".to_owned()),
            ClockShift::Faketime { .. } => {
                Some("libfaketime (LD_PRELOAD; dynamically linked programs)".to_owned())
            }
        }
    }
}

/// What every job of a run starts from.
#[derive(Debug, Clone)]
pub struct RunEnvironment {
    /// The committer time of the checked-out commit, or why it is unknown.
    pub commit_epoch: Result<u64, String>,
    pub tz: String,
    pub locale: String,
    /// The hostname steps see; `None`: the host's own (`--sandbox none`).
    pub hostname: Option<String>,
    pub clock: ClockShift,
}

impl RunEnvironment {
    /// The defaults with no commit (jobs from GitHub check their source out themselves).
    pub fn without_commit(why: &str, hostname: Option<String>) -> RunEnvironment {
        RunEnvironment {
            commit_epoch: Err(why.to_owned()),
            tz: DEFAULT_TZ.to_owned(),
            locale: DEFAULT_LOCALE.to_owned(),
            hostname,
            clock: ClockShift::None,
        }
    }

    /// The job's environment given its job-level `env` (the workflow's and the job's).
    pub fn for_job(&self, env: &IndexMap<String, String>) -> JobEnvironment {
        let reproducible = env.get(REPRODUCIBLE_SWITCH).is_some_and(|v| is_true(v));
        let (epoch, from) = match env.get(SOURCE_DATE_EPOCH) {
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n) => (Some(n), EpochFrom::Env),
                Err(_) => (
                    None,
                    EpochFrom::Absent(format!(
                        "the workflow's {SOURCE_DATE_EPOCH} `{v}` is not a whole number of seconds"
                    )),
                ),
            },
            None => match &self.commit_epoch {
                Ok(n) => (Some(*n), EpochFrom::Commit),
                Err(why) => (None, EpochFrom::Absent(why.clone())),
            },
        };
        JobEnvironment {
            epoch,
            from,
            reproducible,
            run: self.clone(),
        }
    }
}

/// Where a job's epoch came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EpochFrom {
    Commit,
    Env,
    Absent(String),
}

/// One job's deterministic environment.
#[derive(Debug, Clone)]
pub struct JobEnvironment {
    pub epoch: Option<u64>,
    pub from: EpochFrom,
    pub reproducible: bool,
    run: RunEnvironment,
}

impl JobEnvironment {
    /// Why the job must not run: it asks for reproducibility and has no epoch. The message is
    /// the job's error.
    pub fn refusal(&self) -> Option<String> {
        match (&self.from, self.reproducible) {
            (EpochFrom::Absent(why), true) => Some(format!(
                "This job asks for a reproducible build ({REPRODUCIBLE_SWITCH}: true) but its {SOURCE_DATE_EPOCH} cannot be determined: {why}. Run it from a git checkout of its commit, or set {SOURCE_DATE_EPOCH} in the workflow's env."
            )),
            _ => None,
        }
    }

    /// The values every process starts with, before the workflow's `env` (which wins).
    pub fn defaults(&self, out: &mut BTreeMap<String, String>) {
        out.insert("TZ".to_owned(), self.run.tz.clone());
        out.insert("LC_ALL".to_owned(), self.run.locale.clone());
        if self.run.locale != DEFAULT_LOCALE {
            if let Some(language) = self.run.locale.split('.').next() {
                out.insert("LANGUAGE".to_owned(), language.to_owned());
            }
        }
        if let (Some(epoch), EpochFrom::Commit) = (self.epoch, &self.from) {
            out.insert(SOURCE_DATE_EPOCH.to_owned(), epoch.to_string());
        }
    }

    /// What moves the clock, after the workflow's `env` (a step's own `LD_PRELOAD` is kept,
    /// after libfaketime).
    pub fn clock_env(&self, out: &mut BTreeMap<String, String>) {
        if let ClockShift::Faketime { secs, library } = &self.run.clock {
            let library = library.display().to_string();
            let preload = match out.get("LD_PRELOAD").filter(|v| !v.is_empty()) {
                Some(theirs) => format!("{library}:{theirs}"),
                None => library,
            };
            out.insert("LD_PRELOAD".to_owned(), preload);
            out.insert("FAKETIME".to_owned(), format!("{secs:+}"));
            out.insert("FAKETIME_DONT_FAKE_MONOTONIC".to_owned(), "1".to_owned());
        }
    }

    /// The provenance's record of it.
    pub fn record(&self) -> StepEnvironment {
        let (from, absent) = match &self.from {
            EpochFrom::Commit => ("commit", None),
            EpochFrom::Env => ("env", None),
            EpochFrom::Absent(why) => ("absent", Some(why.clone())),
        };
        StepEnvironment {
            source_date_epoch: self.epoch,
            source_date_epoch_from: from.to_owned(),
            source_date_epoch_absent: absent,
            reproducible: self.reproducible,
            tz: self.run.tz.clone(),
            locale: self.run.locale.clone(),
            umask: STEP_UMASK.to_owned(),
            hostname: self.run.hostname.clone(),
            clock_offset_seconds: self.run.clock.secs(),
            clock_mechanism: self.run.clock.mechanism(),
            sorted_environment: true,
        }
    }
}

fn is_true(v: &str) -> bool {
    matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes")
}

/// The steps' deterministic environment for a run in `sandbox`: the commit's time, the time
/// zone, locale and hostname (each as `options` varies it) and how the clock is moved; the VM
/// plan gets the clock offset, the step user and the vCPUs. A variation the sandbox cannot make
/// refuses the run.
pub fn run_environment(
    options: &EnvironmentOptions,
    sandbox: &str,
    repo_root: &Path,
    sha: &str,
    vm: Option<&mut super::vm::VmPlan>,
) -> Result<RunEnvironment, String> {
    let refuse = |what: &str| {
        Err(format!(
            "{what} cannot be varied in the `{sandbox}` sandbox"
        ))
    };
    let hostname = match (sandbox, &options.hostname) {
        ("none", Some(_)) => return refuse("the hostname (steps see the host's own)"),
        ("none", None) => None,
        (_, h) => Some(
            h.clone()
                .unwrap_or_else(|| hermetic::DEFAULT_HOSTNAME.to_owned()),
        ),
    };
    let secs = options.clock_shift_secs;
    let mut vm = vm;
    if (options.step_uid.is_some() || options.vcpus.is_some()) && vm.is_none() {
        return refuse("the step user or the CPU count (only a microVM's are set by hrun)");
    }
    if let Some(vm) = vm.as_deref_mut() {
        vm.config.clock_offset_secs = secs;
        if let Some(uid) = options.step_uid {
            vm.config.step_id = uid;
        }
        if let Some(n) = options.vcpus {
            vm.config.vcpus = n;
        }
    }
    let clock = if secs == 0 {
        ClockShift::None
    } else if vm.is_some() {
        ClockShift::GuestClock(secs)
    } else {
        match find_libfaketime() {
            Some(library) => ClockShift::Faketime { secs, library },
            None => {
                return Err(format!(
                    "moving the clock in the `{sandbox}` sandbox needs libfaketime (Debian package `faketime`; `bash ci/setup-rebuild.sh`): Linux has no time namespace for the wall clock. The microVM sets its guest clock instead (--sandbox microvm)."
                ))
            }
        }
    };
    Ok(RunEnvironment {
        commit_epoch: commit_epoch(repo_root, sha),
        tz: options.tz.clone().unwrap_or_else(|| DEFAULT_TZ.to_owned()),
        locale: options
            .locale
            .clone()
            .unwrap_or_else(|| DEFAULT_LOCALE.to_owned()),
        hostname,
        clock,
    })
}

/// The committer time of `sha` in the repository at `root`, by `git` (the commit may be packed
/// and compressed; git reads that, we do not).
pub fn commit_epoch(root: &Path, sha: &str) -> Result<u64, String> {
    if sha.is_empty() {
        return Err(format!("{} is not a git checkout", root.display()));
    }
    if !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("HEAD `{sha}` is not a commit id"));
    }
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["-c", "safe.directory=*", "log", "-1", "--format=%ct"])
        .arg(sha)
        .arg("--")
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run git to read the commit time: {e}"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!(
            "git cannot read commit {sha}: {}",
            err.lines().next().unwrap_or("").trim()
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim()
        .parse()
        .map_err(|_| format!("git gave no commit time for {sha}"))
}

/// libfaketime's preload library: `$HRUN_LIBFAKETIME`, else where Debian's `libfaketime`
/// package puts it.
pub fn find_libfaketime() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("HRUN_LIBFAKETIME").filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let mut candidates = vec![PathBuf::from("/usr/lib/faketime/libfaketime.so.1")];
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        let mut dirs: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        dirs.sort();
        candidates.extend(
            dirs.into_iter()
                .map(|d| d.join("faketime/libfaketime.so.1")),
        );
    }
    candidates.into_iter().find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(epoch: Result<u64, String>) -> RunEnvironment {
        RunEnvironment {
            commit_epoch: epoch,
            tz: DEFAULT_TZ.into(),
            locale: DEFAULT_LOCALE.into(),
            hostname: Some("hrun-sandbox".into()),
            clock: ClockShift::None,
        }
    }

    fn env(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn steps_get_the_commit_time_utc_and_c_utf8() {
        let job = run(Ok(1_700_000_000)).for_job(&env(&[]));
        let mut out = BTreeMap::new();
        job.defaults(&mut out);
        assert_eq!(out["SOURCE_DATE_EPOCH"], "1700000000");
        assert_eq!(out["TZ"], "UTC");
        assert_eq!(out["LC_ALL"], "C.UTF-8");
        let record = job.record();
        assert_eq!(record.source_date_epoch, Some(1_700_000_000));
        assert_eq!(record.source_date_epoch_from, "commit");
        assert_eq!(record.umask, "0022");
        assert!(record.sorted_environment);
    }

    #[test]
    fn the_workflows_own_epoch_wins_and_is_recorded_as_env() {
        let job = run(Ok(1)).for_job(&env(&[("SOURCE_DATE_EPOCH", "42")]));
        let mut out = BTreeMap::new();
        job.defaults(&mut out);
        assert!(
            !out.contains_key("SOURCE_DATE_EPOCH"),
            "the workflow's env sets it"
        );
        assert_eq!(job.record().source_date_epoch, Some(42));
        assert_eq!(job.record().source_date_epoch_from, "env");
    }

    #[test]
    fn a_missing_epoch_is_recorded_absent_with_the_reason() {
        let job = run(Err("not a git checkout".into())).for_job(&env(&[]));
        assert_eq!(job.refusal(), None, "nobody asked for reproducibility");
        let mut out = BTreeMap::new();
        job.defaults(&mut out);
        assert!(!out.contains_key("SOURCE_DATE_EPOCH"));
        let record = job.record();
        assert_eq!(record.source_date_epoch, None);
        assert_eq!(
            record.source_date_epoch_absent.as_deref(),
            Some("not a git checkout")
        );
    }

    #[test]
    fn a_reproducible_job_without_an_epoch_fails_with_the_reason() {
        let err = run(Err("not a git checkout".into()))
            .for_job(&env(&[("HRUN_REPRODUCIBLE", "true")]))
            .refusal()
            .unwrap();
        assert!(err.contains("HRUN_REPRODUCIBLE"), "{err}");
        assert!(err.contains("not a git checkout"), "{err}");
        let err = run(Ok(1))
            .for_job(&env(&[
                ("HRUN_REPRODUCIBLE", "true"),
                ("SOURCE_DATE_EPOCH", "yesterday"),
            ]))
            .refusal()
            .unwrap();
        assert!(err.contains("`yesterday`"), "{err}");
        let asked = run(Ok(1)).for_job(&env(&[("HRUN_REPRODUCIBLE", "true")]));
        assert_eq!(asked.refusal(), None);
        assert!(asked.record().reproducible);
    }

    #[test]
    fn faketime_is_preloaded_before_the_steps_own_library() {
        let mut r = run(Ok(1));
        r.clock = ClockShift::Faketime {
            secs: 400 * 86_400,
            library: PathBuf::from("/lib/libfaketime.so.1"),
        };
        let job = r.for_job(&env(&[]));
        let mut out = BTreeMap::from([("LD_PRELOAD".to_owned(), "/x.so".to_owned())]);
        job.clock_env(&mut out);
        assert_eq!(out["LD_PRELOAD"], "/lib/libfaketime.so.1:/x.so");
        assert_eq!(out["FAKETIME"], "+34560000");
        assert_eq!(out["FAKETIME_DONT_FAKE_MONOTONIC"], "1");
        assert_eq!(job.record().clock_offset_seconds, 34_560_000);
        assert!(job
            .record()
            .clock_mechanism
            .is_some_and(|m| m.contains("libfaketime")));
    }

    #[test]
    fn reads_the_committer_time_of_a_real_commit() {
        let dir = tempfile::tempdir().unwrap();
        let git = |args: &[&str]| {
            let out = Command::new("git")
                .arg("-C")
                .arg(dir.path())
                .args(args)
                .env("GIT_COMMITTER_DATE", "@1600000000 +0000")
                .env("GIT_AUTHOR_DATE", "@1500000000 +0000")
                .env("GIT_AUTHOR_NAME", "a")
                .env("GIT_AUTHOR_EMAIL", "a@example.org")
                .env("GIT_COMMITTER_NAME", "c")
                .env("GIT_COMMITTER_EMAIL", "c@example.org")
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        if Command::new("git").arg("--version").output().is_err() {
            println!("SKIP reads_the_committer_time_of_a_real_commit: no git");
            return;
        }
        git(&["init", "-q"]);
        git(&["commit", "-q", "--allow-empty", "-m", "x"]);
        let sha = git(&["rev-parse", "HEAD"]);
        assert_eq!(commit_epoch(dir.path(), &sha), Ok(1_600_000_000));
        assert!(commit_epoch(dir.path(), "").is_err());
        assert!(commit_epoch(dir.path(), &"0".repeat(40)).is_err());
    }
}
