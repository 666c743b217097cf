//! Conversions between the engine's step types and the protocol's wire types, and from the
//! agent's answers to [`AgentError`]s.
//!
//! Must never: send a step `execve` could not take (it is refused here, before the channel).

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use super::AgentError;
use crate::sweep::SweepReport;
use crate::vm::protocol::{
    Failure, FailureKind, GuestMessage, Message, Reply, RunStep, StepEnded, WireBytes, WireEnding,
    WireLimitKind, WireSecret, WireStatus, WireSweep,
};
use crate::vm::sync::SyncError;
use crate::{
    Containment, Ending, ExitStatus, LimitKind, LimitReport, LimitStatus, ResourceUsage,
    StepOutcome, StepSpec,
};

pub(super) fn sync_error(root: &Path, source: SyncError) -> AgentError {
    AgentError::Sync {
        root: root.to_path_buf(),
        source,
    }
}

pub(super) fn refused(failure: Failure) -> AgentError {
    AgentError::Refused {
        kind: failure.kind,
        message: failure.message,
    }
}

pub(super) fn step_failure(failure: Failure, step: &StepSpec) -> AgentError {
    match failure.kind {
        FailureKind::ProgramNotFound => AgentError::ProgramNotFound {
            program: step.program.clone(),
        },
        FailureKind::WorkingDir => AgentError::WorkingDir {
            path: step.working_dir.clone(),
            message: failure.message,
        },
        FailureKind::Exec => AgentError::Exec {
            program: step.program.clone(),
            message: failure.message,
        },
        _ => refused(failure),
    }
}

pub(super) fn unexpected(expected: &'static str, got: &GuestMessage) -> AgentError {
    let got = match got {
        Message::Control(reply) => match reply {
            Reply::Hello(_) => "Hello".to_owned(),
            Reply::Ready(_) => "Ready".to_owned(),
            Reply::StepEnded(_) => "StepEnded".to_owned(),
            Reply::Pushed(_) => "Pushed".to_owned(),
            Reply::Pulled(_) => "Pulled".to_owned(),
            Reply::Bye => "Bye".to_owned(),
            Reply::Error(f) => format!("an error ({})", f.message),
        },
        Message::Stdout(_) => "a stdout frame".to_owned(),
        Message::Stderr(_) => "a stderr frame".to_owned(),
        Message::Removed(_) => "a removed-paths frame".to_owned(),
        Message::Tar(_) => "a tar frame".to_owned(),
        Message::End => "an end frame".to_owned(),
    };
    AgentError::Unexpected { expected, got }
}

/// The wire form of a step; refuses what `execve` could not take. Its sweeps are asked for only
/// of an agent that `sweeps`.
pub(super) fn wire_step(step: &StepSpec, sweeps: bool) -> Result<RunStep, AgentError> {
    let has_nul = |s: &OsStr| s.as_bytes().contains(&0);
    if has_nul(&step.program) || step.args.iter().any(|a| has_nul(a)) {
        return Err(AgentError::InvalidStep(
            "the program or an argument contains a NUL byte".to_owned(),
        ));
    }
    for (name, value) in &step.env {
        if name.is_empty() || name.as_bytes().contains(&b'=') || has_nul(name) || has_nul(value) {
            return Err(AgentError::InvalidStep(format!(
                "environment variable {:?} has an empty name, an `=` in its name or a NUL byte",
                name.to_string_lossy()
            )));
        }
    }
    let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    Ok(RunStep {
        program: WireBytes::from(step.program.as_os_str()),
        args: step
            .args
            .iter()
            .map(|a| WireBytes::from(a.as_os_str()))
            .collect(),
        env: step
            .env
            .iter()
            .map(|(k, v)| {
                (
                    WireBytes::from(k.as_os_str()),
                    WireBytes::from(v.as_os_str()),
                )
            })
            .collect(),
        // `Path::components` drops `.` components (`/w/./sub/.` is `/w/sub`), which the agent
        // refuses; `..` stays and is refused there.
        working_dir: WireBytes::from(
            step.working_dir
                .components()
                .collect::<std::path::PathBuf>()
                .as_path(),
        ),
        timeout_ms: step.timeout.map(millis),
        cancel_grace_ms: millis(step.cancel_grace),
        max_processes: step.limits.max_processes,
        memory_bytes: step.limits.memory_bytes,
        sweep: step
            .sweep
            .as_ref()
            .filter(|_| sweeps)
            .map(|config| WireSweep {
                secrets: config
                    .secrets
                    .entries()
                    .map(|(name, value)| WireSecret {
                        name: name.to_owned(),
                        value: value.to_owned(),
                    })
                    .collect(),
                rules: config.rules.is_some(),
                interval_ms: millis(config.interval).max(1),
            }),
    })
}

/// What to report of a step's sweeps: the agent's report (bounded: the guest is not trusted),
/// or why there is none although the step asked for one.
pub(super) fn sweep_report(
    step: &StepSpec,
    sweeps: bool,
    ended: Option<SweepReport>,
) -> Option<SweepReport> {
    step.sweep.as_ref()?;
    Some(match ended {
        Some(report) => report.bounded(),
        None if !sweeps => SweepReport::not_swept(
            "the guest agent of this image does not sweep processes (it was built before sweeps; \
             rebuild the image with ci/build-image.sh)",
        ),
        None => SweepReport::not_swept("the guest agent did not report its sweeps"),
    })
}

/// The outcome of a step the agent ended (its sweep report is added by the caller).
pub(super) fn outcome(ended: StepEnded) -> StepOutcome {
    let micros = Duration::from_micros;
    StepOutcome {
        status: match ended.status {
            WireStatus::Code(c) => ExitStatus::Code(c),
            WireStatus::Signal(s) => ExitStatus::Signal(s),
        },
        ending: match ended.ending {
            WireEnding::Exited => Ending::Exited,
            WireEnding::TimedOut => Ending::TimedOut,
            WireEnding::Cancelled => Ending::Cancelled,
        },
        usage: ResourceUsage {
            wall: micros(ended.usage.wall_us),
            user_cpu: micros(ended.usage.user_cpu_us),
            system_cpu: micros(ended.usage.system_cpu_us),
            max_rss_bytes: ended.usage.max_rss_bytes,
            peak_memory_bytes: None,
            oom_kills: None,
        },
        limits: ended
            .limits
            .into_iter()
            .map(|l| LimitReport {
                kind: match l.kind {
                    WireLimitKind::Memory => LimitKind::Memory,
                    WireLimitKind::Processes => LimitKind::Processes,
                },
                status: if l.applied {
                    LimitStatus::Applied {
                        mechanism: l.detail,
                    }
                } else {
                    LimitStatus::NotApplied { reason: l.detail }
                },
            })
            .collect(),
        containment: Containment::Guest,
        output_complete: ended.output_complete,
        sweep: ended.sweep,
    }
}
