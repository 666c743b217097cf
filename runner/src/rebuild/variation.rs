//! What a rebuild changes on purpose, and how each change is made in each sandbox.
//!
//! | variation | microVM | namespace sandbox, `none` |
//! | --- | --- | --- |
//! | clock (`--shift DAYS`) | the guest's wall clock, set ahead at boot | libfaketime by `LD_PRELOAD` |
//! | `tz` | `TZ=GMT-14` (UTC+14) instead of `UTC` | the same |
//! | `locale` | `LC_ALL=fr_CH.UTF-8` instead of `C.UTF-8` | the same |
//! | `hostname` | `hrun-rebuild` | the same in the namespace sandbox; refused with `none` (the host's own) |
//! | `user` | steps run as uid/gid 2002 instead of 1001 | refused: the namespace sandbox maps one identity |
//! | `parallelism` | 1 vCPU instead of 2 (or 2 instead of 1) | the run is pinned to one CPU (`nproc` = 1) |
//!
//! The values follow reprotest's experiment side where it has one (`GMT-14`, `fr_CH.UTF-8`),
//! so the cross-check compares like with like. A variation the sandbox cannot make is refused
//! (exit 2) before anything runs, never silently left out.

use std::str::FromStr;

use provenance::reproducibility::Variation;

use super::original::{Original, Unavailable};
use crate::engine::determinism::{EnvironmentOptions, DEFAULT_LOCALE, DEFAULT_TZ};

/// `--shift` by default: reprotest moves the clock 180 to 540 days; we take the middle.
pub const DEFAULT_SHIFT_DAYS: i64 = 400;
/// The most days the clock may be moved either way.
pub const MAX_SHIFT_DAYS: i64 = 36_500;
/// `TZ` of `--vary tz`: UTC+14, as far from UTC as time zones go.
pub const VARIED_TZ: &str = "GMT-14";
/// `LC_ALL` of `--vary locale`.
pub const VARIED_LOCALE: &str = "fr_CH.UTF-8";
/// The hostname of `--vary hostname`.
pub const VARIED_HOSTNAME: &str = "hrun-rebuild";
/// The guest uid and gid of `--vary user`.
pub const VARIED_UID: u32 = 2002;

/// One `--vary` word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Vary {
    Tz,
    Locale,
    Hostname,
    User,
    Parallelism,
}

impl FromStr for Vary {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "tz" | "timezone" => Ok(Vary::Tz),
            "locale" => Ok(Vary::Locale),
            "hostname" => Ok(Vary::Hostname),
            "user" => Ok(Vary::User),
            "parallelism" | "cpus" => Ok(Vary::Parallelism),
            other => Err(format!(
                "unknown variation `{other}` (tz, locale, hostname, user, parallelism)"
            )),
        }
    }
}

impl Vary {
    /// The word `--vary` takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Vary::Tz => "tz",
            Vary::Locale => "locale",
            Vary::Hostname => "hostname",
            Vary::User => "user",
            Vary::Parallelism => "parallelism",
        }
    }
}

/// What the rebuild's run is given, and the record of each change.
#[derive(Debug, Clone)]
pub struct VariationPlan {
    pub environment: EnvironmentOptions,
    pub records: Vec<Variation>,
    /// Pin the rebuild to one CPU (done by the command before any thread starts).
    pub one_cpu: bool,
}

/// The plan for `shift_days` and `vary` in the original's sandbox; `host_cpus` is how many CPUs
/// this process may use.
pub fn plan(
    shift_days: i64,
    vary: &[Vary],
    original: &Original,
    host_cpus: usize,
) -> Result<VariationPlan, Unavailable> {
    if shift_days.abs() > MAX_SHIFT_DAYS {
        return Err(Unavailable::Unreadable(format!(
            "--shift {shift_days}: at most {MAX_SHIFT_DAYS} days either way"
        )));
    }
    let sandbox = original.sandbox.as_str();
    let microvm = sandbox == "microvm";
    let refuse = |what: &str, why: &str| {
        Err(Unavailable::Unreadable(format!(
            "--vary {what} cannot be done in the `{sandbox}` sandbox the job ran in: {why}"
        )))
    };
    let env = original.environment.as_ref();
    let mut plan = VariationPlan {
        environment: EnvironmentOptions {
            image_digest: original.image_digest.clone().filter(|_| microvm),
            ..EnvironmentOptions::default()
        },
        records: Vec::new(),
        one_cpu: false,
    };
    if shift_days != 0 {
        let secs = shift_days * 86_400;
        plan.environment.clock_shift_secs = secs;
        plan.records.push(Variation {
            name: "clock".to_owned(),
            original: format!("{:+} s", env.map_or(0, |e| e.clock_offset_seconds)),
            rebuild: format!("{shift_days:+} days"),
            mechanism: if microvm {
                "guest clock".to_owned()
            } else {
                "libfaketime (LD_PRELOAD; dynamically linked programs)".to_owned()
            },
        });
    }
    for v in vary {
        let (name, original_value, rebuild_value, mechanism) = match v {
            Vary::Tz => {
                plan.environment.tz = Some(VARIED_TZ.to_owned());
                let was = env.map_or(DEFAULT_TZ, |e| e.tz.as_str());
                ("tz", was.to_owned(), VARIED_TZ.to_owned(), "TZ")
            }
            Vary::Locale => {
                plan.environment.locale = Some(VARIED_LOCALE.to_owned());
                let was = env.map_or(DEFAULT_LOCALE, |e| e.locale.as_str());
                (
                    "locale",
                    was.to_owned(),
                    VARIED_LOCALE.to_owned(),
                    "LC_ALL, LANGUAGE",
                )
            }
            Vary::Hostname => {
                if sandbox == "none" {
                    return refuse("hostname", "steps see the host's own hostname");
                }
                plan.environment.hostname = Some(VARIED_HOSTNAME.to_owned());
                let was = env
                    .and_then(|e| e.hostname.clone())
                    .unwrap_or_else(|| hermetic::DEFAULT_HOSTNAME.to_owned());
                (
                    "hostname",
                    was,
                    VARIED_HOSTNAME.to_owned(),
                    "sandbox hostname",
                )
            }
            Vary::User => {
                if !microvm {
                    return refuse(
                        "user",
                        "only the microVM runs steps as a user hrun chooses (the namespace sandbox maps one identity)",
                    );
                }
                plan.environment.step_uid = Some(VARIED_UID);
                let was = original
                    .sandbox_facts
                    .get("step_uid")
                    .cloned()
                    .unwrap_or_else(|| hermetic::vm::GUEST_STEP_ID.to_string());
                (
                    "user",
                    format!("uid {was}"),
                    format!("uid {VARIED_UID}"),
                    "guest step user",
                )
            }
            Vary::Parallelism => {
                if microvm {
                    let was: u32 = original
                        .sandbox_facts
                        .get("vcpus")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(2);
                    let now = if was > 1 { 1 } else { 2 };
                    plan.environment.vcpus = Some(now);
                    (
                        "parallelism",
                        format!("{was} vCPU"),
                        format!("{now} vCPU"),
                        "VM vCPUs",
                    )
                } else {
                    if host_cpus < 2 {
                        return refuse(
                            "parallelism",
                            "this host gives hrun one CPU, so there is nothing to take away",
                        );
                    }
                    plan.one_cpu = true;
                    (
                        "parallelism",
                        "the host's CPUs".to_owned(),
                        "1 CPU".to_owned(),
                        "CPU affinity",
                    )
                }
            }
        };
        plan.records.push(Variation {
            name: name.to_owned(),
            original: original_value,
            rebuild: rebuild_value,
            mechanism: mechanism.to_owned(),
        });
    }
    Ok(plan)
}

/// How many CPUs this process may run on.
pub fn usable_cpus() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Pins this process to the first CPU it may use; threads started afterwards (the async
/// runtime's, the sandbox's) and every step inherit it. Call before any thread starts.
pub fn pin_to_one_cpu() -> Result<(), String> {
    use nix::sched::{sched_getaffinity, sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    let allowed = sched_getaffinity(Pid::from_raw(0)).map_err(|e| e.to_string())?;
    let first = (0..CpuSet::count())
        .find(|&cpu| allowed.is_set(cpu).unwrap_or(false))
        .ok_or("no CPU is allowed")?;
    let mut one = CpuSet::new();
    one.set(first).map_err(|e| e.to_string())?;
    sched_setaffinity(Pid::from_raw(0), &one).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn original(sandbox: &str) -> Original {
        Original {
            evidence_sha256: provenance::digest::Sha256Digest::of(b""),
            invocation_id: "i".into(),
            job_key: "build".into(),
            job_id: "build".into(),
            matrix: serde_json::Value::Null,
            repository: "local/x".into(),
            git_ref: String::new(),
            commit: "a".repeat(40),
            workflow_path: "w.yml".into(),
            event_name: "push".into(),
            event: serde_json::json!({}),
            inputs: BTreeMap::new(),
            vars: BTreeMap::new(),
            sandbox: sandbox.into(),
            network: "deny".into(),
            image_digest: Some("d".repeat(64)),
            actions: Vec::new(),
            subjects: Vec::new(),
            environment: None,
            sandbox_facts: BTreeMap::from([("vcpus".to_owned(), "2".to_owned())]),
        }
    }

    #[test]
    fn reads_each_variation_and_names_an_unknown_one() {
        assert_eq!("tz".parse(), Ok(Vary::Tz));
        assert_eq!("parallelism".parse(), Ok(Vary::Parallelism));
        assert!("moon".parse::<Vary>().unwrap_err().contains("`moon`"));
    }

    #[test]
    fn the_default_shift_moves_the_clock_400_days_by_the_sandboxs_mechanism() {
        let p = plan(DEFAULT_SHIFT_DAYS, &[], &original("microvm"), 2).unwrap();
        assert_eq!(p.environment.clock_shift_secs, 400 * 86_400);
        assert_eq!(p.records[0].mechanism, "guest clock");
        assert_eq!(
            p.environment.image_digest.as_deref(),
            Some("d".repeat(64).as_str())
        );
        let p = plan(DEFAULT_SHIFT_DAYS, &[], &original("namespace"), 2).unwrap();
        assert!(p.records[0].mechanism.contains("libfaketime"));
        assert_eq!(p.environment.image_digest, None);
        assert!(plan(0, &[], &original("namespace"), 2)
            .unwrap()
            .records
            .is_empty());
    }

    #[test]
    fn varies_tz_locale_and_hostname_and_records_both_sides() {
        let p = plan(
            0,
            &[Vary::Tz, Vary::Locale, Vary::Hostname],
            &original("namespace"),
            2,
        )
        .unwrap();
        assert_eq!(p.environment.tz.as_deref(), Some(VARIED_TZ));
        assert_eq!(p.environment.locale.as_deref(), Some(VARIED_LOCALE));
        assert_eq!(p.environment.hostname.as_deref(), Some(VARIED_HOSTNAME));
        assert_eq!(p.records[0].original, "UTC");
        assert_eq!(p.records[2].original, "hrun-sandbox");
    }

    #[test]
    fn refuses_what_the_sandbox_cannot_vary() {
        assert!(plan(0, &[Vary::User], &original("namespace"), 2).is_err());
        assert!(plan(0, &[Vary::Hostname], &original("none"), 2).is_err());
        assert!(plan(0, &[Vary::Parallelism], &original("namespace"), 1).is_err());
        assert!(plan(MAX_SHIFT_DAYS + 1, &[], &original("microvm"), 2).is_err());
    }

    #[test]
    fn parallelism_changes_vcpus_in_the_vm_and_pins_one_cpu_elsewhere() {
        let p = plan(0, &[Vary::Parallelism, Vary::User], &original("microvm"), 2).unwrap();
        assert_eq!(p.environment.vcpus, Some(1));
        assert_eq!(p.environment.step_uid, Some(VARIED_UID));
        assert!(!p.one_cpu);
        let p = plan(0, &[Vary::Parallelism], &original("namespace"), 2).unwrap();
        assert!(p.one_cpu);
    }
}
