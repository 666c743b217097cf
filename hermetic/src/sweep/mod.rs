//! Run-time secret sweeps: the environment and command line of every process of a step, looked
//! through while the step runs and once more after its main process ends, for the job's secrets
//! and the rule pack's token shapes.
//!
//! Masking hides secrets in what a step prints; a step can also put one where nobody reads logs:
//! in the environment of a process it starts (`export LEAKED=$TOKEN; sleep 600 &`), or on a
//! command line, where every process of the machine can read it in `/proc/<pid>/cmdline`. A
//! sweep reads `/proc/<pid>/environ` and `/proc/<pid>/cmdline` of each process of the step and
//! reports what it finds as [`SweepFinding`]s: the process (its pid as the step sees it, and its
//! name), where (the variable's name, or the argument's index) and what (`secret NAME`, or the
//! rule's id and a fingerprint), never the value.
//!
//! What counts:
//! - one of the job's secrets ([`KnownSecrets`]: every spelling the masker knows) in a variable
//!   whose name the step was not given holding that secret. A variable of the step's own
//!   environment ([`crate::StepSpec::env`]) that holds the secret (`env: TOKEN: ${{
//!   secrets.TOKEN }}`, an action's `INPUT_*`) is where the secret is meant to be, in the step's
//!   process and in every child that inherits it: not a finding, whatever spelling of that
//!   secret it holds later. The same secret under any other name is. (A variable an earlier
//!   step wrote to `GITHUB_ENV` is part of a later step's own environment, so it counts as given
//!   there: sweeps see processes, not the environment files.)
//! - one of the job's secrets anywhere on a command line;
//! - a token the rule pack recognises, in a variable the step was not given with that value,
//!   or on a command line.
//!
//! When: [`SweepConfig::interval`] apart while the step runs (a process that lives shorter than
//! that may be missed), and once after the step's main process has ended, before the executor
//! ends what the step left running. A process's environment and command line that did not change
//! since the last sweep are not searched again, so a sweep of an idle step costs a few reads per
//! process. The namespace sandbox sweeps from the runner, reading the step's own `/proc` (see
//! `namespace::sweep`); the microVM's guest agent sweeps in the guest and returns the report
//! with the step's end. `--sandbox none` does not sweep.
//!
//! [`StepSweeper`] holds what one step's sweeps found; [`ProcDir`] reads a `/proc` (the host's,
//! the guest's, or a step's own through its init's root). Both are blocking std code: the guest
//! agent links them.
//!
//! Must never: put a value, or any part of one, in a finding, a note or a `Debug` output; keep
//! the bytes read from a process after the sweep (they are zeroed); follow a link out of the
//! `/proc` it was given; or panic on anything a process's files hold.

mod procfs;
mod sweeper;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::scan::{KnownSecrets, Scanner};

pub use procfs::{cmdline_args, environ_entries, parse_status, EnvEntry, ProcDir, ProcStatus};
pub use sweeper::{ProcessView, StepSweeper, MAX_FINDINGS};

/// How often a running step is swept unless the engine says otherwise.
pub const DEFAULT_SWEEP_INTERVAL: Duration = Duration::from_millis(150);

/// What a step's sweeps look for. Cheap to clone (shared).
#[derive(Clone)]
pub struct SweepConfig {
    /// The job's secrets.
    pub secrets: Arc<KnownSecrets>,
    /// The rule pack; `None` looks for the job's secrets only.
    pub rules: Option<Arc<Scanner>>,
    /// Time between two sweeps of a running step.
    pub interval: Duration,
}

impl SweepConfig {
    pub fn new(secrets: Arc<KnownSecrets>, rules: Option<Arc<Scanner>>) -> SweepConfig {
        SweepConfig {
            secrets,
            rules,
            interval: DEFAULT_SWEEP_INTERVAL,
        }
    }
}

impl std::fmt::Debug for SweepConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SweepConfig")
            .field("secrets", &self.secrets.len())
            .field("rules", &self.rules.as_ref().map(|r| r.rules().len()))
            .field("interval", &self.interval)
            .finish()
    }
}

/// Two configurations are equal when they share the same secrets and rules.
impl PartialEq for SweepConfig {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.secrets, &other.secrets)
            && match (&self.rules, &other.rules) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
            && self.interval == other.interval
    }
}

impl Eq for SweepConfig {}

/// When a finding was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SweepPhase {
    /// While the step's main process ran.
    Running,
    /// After it ended: in a process the step left running.
    AfterExit,
}

/// Where in a process a finding is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "in", rename_all = "snake_case")]
pub enum SweepLocation {
    /// In the value of an environment variable (its name, or [`HIDDEN_NAME`] when the name
    /// itself holds what was found).
    Environ { variable: String },
    /// In a command-line argument (0 is the program name).
    Cmdline { argument: u32 },
}

/// Shown instead of a variable's name or a process's name that holds what was found.
pub const HIDDEN_NAME: &str = "<hidden: the name holds the match>";

/// What was found.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SweepMatch {
    /// One of the job's secrets, by name.
    Secret { name: String },
    /// A token of the rule pack.
    Rule {
        rule: String,
        description: String,
        /// The scanner's fingerprint of the value (never the value).
        fingerprint: String,
    },
}

/// One secret found in a process of a step.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SweepFinding {
    /// The pid as the step sees it (in its PID namespace, or in the guest).
    pub pid: i32,
    /// The process's name (`comm`).
    pub comm: String,
    pub location: SweepLocation,
    pub found: SweepMatch,
    pub phase: SweepPhase,
}

impl std::fmt::Display for SweepFinding {
    /// `secret `TOKEN` in the environment variable `LEAKED` of process 7 (sleep), after the
    /// step's main process ended`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.found {
            SweepMatch::Secret { name } => write!(f, "secret `{name}`")?,
            SweepMatch::Rule {
                rule,
                description,
                fingerprint,
            } => write!(f, "{rule} ({description}, fingerprint {fingerprint})")?,
        }
        match &self.location {
            SweepLocation::Environ { variable } => {
                write!(f, " in the environment variable `{variable}`")?
            }
            SweepLocation::Cmdline { argument } => {
                write!(f, " in command-line argument {argument}")?
            }
        }
        write!(f, " of process {} ({})", self.pid, self.comm)?;
        match self.phase {
            SweepPhase::Running => f.write_str(", while the step ran"),
            SweepPhase::AfterExit => f.write_str(", after the step's main process ended"),
        }
    }
}

/// What a step's sweeps found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SweepReport {
    /// Sweeps made.
    pub sweeps: u64,
    /// Processes looked at (each counted once per distinct environment and command line).
    pub processes: u64,
    /// Processes whose environment or command line could not be read.
    #[serde(default)]
    pub unreadable: u64,
    /// At most [`MAX_FINDINGS`], each once.
    pub findings: Vec<SweepFinding>,
    /// More was found than kept.
    #[serde(default)]
    pub truncated: bool,
    /// Why the sweeps were partial or not made at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Longest name or note kept from a report that came from elsewhere (the guest).
const MAX_TEXT: usize = 256;

impl SweepReport {
    /// A report of sweeps that could not be made, saying why.
    pub fn not_swept(note: impl Into<String>) -> SweepReport {
        SweepReport {
            note: Some(note.into()),
            ..SweepReport::default()
        }
    }

    /// The report cut to the limits a local sweeper keeps: at most [`MAX_FINDINGS`] findings
    /// and short texts. For a report that comes from a guest, which the host does not trust.
    pub fn bounded(mut self) -> SweepReport {
        if self.findings.len() > MAX_FINDINGS {
            self.findings.truncate(MAX_FINDINGS);
            self.truncated = true;
        }
        let cut = |s: &mut String| {
            if s.len() > MAX_TEXT {
                let mut end = MAX_TEXT;
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                s.truncate(end);
            }
        };
        for f in &mut self.findings {
            cut(&mut f.comm);
            match &mut f.location {
                SweepLocation::Environ { variable } => cut(variable),
                SweepLocation::Cmdline { .. } => {}
            }
            match &mut f.found {
                SweepMatch::Secret { name } => cut(name),
                SweepMatch::Rule {
                    rule,
                    description,
                    fingerprint,
                } => {
                    cut(rule);
                    cut(description);
                    cut(fingerprint);
                }
            }
        }
        if let Some(note) = &mut self.note {
            cut(note);
        }
        self
    }
}
