//! What a step asks of an executor, and what it gets back.
//!
//! These types are the vocabulary of the [`Executor`](crate::Executor) trait. They describe a
//! process to run in terms any backend can honour (host process, namespace sandbox, microVM guest
//! agent): no file descriptors, process ids or host paths of the runner leak into them, so the
//! engine never learns which backend ran a step beyond what [`StepOutcome`] reports.
//!
//! Must never: carry anything from the runner's own environment implicitly. A `StepSpec` holds
//! the whole environment of the step; nothing is inherited.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use crate::sweep::{SweepConfig, SweepReport};

/// How long a cancelled step has between SIGINT and SIGKILL unless the engine says otherwise.
/// GitHub's runner waits 7.5 s before it escalates; we keep the same order of magnitude.
pub const DEFAULT_CANCEL_GRACE: Duration = Duration::from_millis(7_500);

/// One process to run: the program, its arguments, its exact environment and where it starts.
///
/// The engine resolves shells and writes script files itself; an executor only starts `program`.
/// A `program` without a `/` is looked up in the `PATH` of [`StepSpec::env`] (not the runner's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepSpec {
    /// The program to execute: an absolute path, or a name looked up in the step's own `PATH`.
    pub program: OsString,
    /// Arguments after the program name (`argv[1..]`).
    pub args: Vec<OsString>,
    /// The complete environment of the step. Nothing of the runner's environment is added.
    pub env: BTreeMap<OsString, OsString>,
    /// The directory the step starts in, as seen by the step.
    pub working_dir: PathBuf,
    /// After this long the whole process tree is killed and the outcome says
    /// [`Ending::TimedOut`]. `None`: no limit.
    pub timeout: Option<Duration>,
    /// Time between SIGINT and SIGKILL when the step is cancelled.
    pub cancel_grace: Duration,
    /// Resource limits to apply where the backend can.
    pub limits: ResourceLimits,
    /// What to sweep the step's processes for, while it runs and after its main process ends
    /// (see [`crate::sweep`]); `None`: no sweeps. Backends that cannot sweep ignore it.
    pub sweep: Option<SweepConfig>,
}

impl StepSpec {
    /// A step running `program` in `working_dir` with no arguments, an empty environment, no
    /// timeout, the default cancel grace and no resource limits.
    pub fn new(program: impl Into<OsString>, working_dir: impl Into<PathBuf>) -> Self {
        StepSpec {
            program: program.into(),
            args: Vec::new(),
            env: BTreeMap::new(),
            working_dir: working_dir.into(),
            timeout: None,
            cancel_grace: DEFAULT_CANCEL_GRACE,
            limits: ResourceLimits::default(),
            sweep: None,
        }
    }

    /// Appends one argument.
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Sets one environment variable, replacing an earlier value of the same name.
    pub fn env(mut self, name: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    /// Sets the timeout after which the whole tree is killed.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sets the grace period between SIGINT and SIGKILL on cancellation.
    pub fn cancel_grace(mut self, grace: Duration) -> Self {
        self.cancel_grace = grace;
        self
    }

    /// Sets the resource limits.
    pub fn limits(mut self, limits: ResourceLimits) -> Self {
        self.limits = limits;
        self
    }

    /// Asks for sweeps of the step's processes.
    pub fn sweep(mut self, sweep: SweepConfig) -> Self {
        self.sweep = Some(sweep);
        self
    }
}

/// Limits on what a step's whole process tree may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceLimits {
    /// Most memory (resident plus page cache charged to the tree) in bytes; past it the kernel's
    /// OOM killer ends a process of the tree.
    pub memory_bytes: Option<u64>,
    /// Most processes and threads alive at once in the tree; `fork` fails past it.
    pub max_processes: Option<u64>,
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputStream {
    /// The step's standard output.
    Stdout,
    /// The step's standard error.
    Stderr,
}

/// Bytes a step wrote, as they arrived. Chunk boundaries are arbitrary (a line, a secret or a
/// workflow command may be split across chunks); order within one stream is preserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputChunk {
    /// The stream the bytes were written to.
    pub stream: OutputStream,
    /// The bytes, never empty.
    pub bytes: Vec<u8>,
}

/// How the step's main process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It exited with this code.
    Code(i32),
    /// It was ended by this signal number.
    Signal(i32),
}

impl ExitStatus {
    /// True for exit code 0.
    pub fn success(self) -> bool {
        self == ExitStatus::Code(0)
    }
}

/// Why the step stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The main process ended on its own (whatever its status).
    Exited,
    /// The timeout passed and the whole tree was killed.
    TimedOut,
    /// The step was cancelled: SIGINT, then SIGKILL after the grace period if still running.
    Cancelled,
}

/// What the step's process tree used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResourceUsage {
    /// From start to the end of the main process.
    pub wall: Duration,
    /// CPU time in user mode of the tree (processes the tree waited for).
    pub user_cpu: Duration,
    /// CPU time in kernel mode of the tree.
    pub system_cpu: Duration,
    /// Peak resident set of the largest single process, as `getrusage` reports it. Processes that
    /// the runner forks count the runner's own resident pages until they `exec`, so values below
    /// the runner's size say little.
    pub max_rss_bytes: Option<u64>,
    /// Peak memory charged to the step's cgroup (resident and page cache), where one was set up.
    pub peak_memory_bytes: Option<u64>,
    /// How often the kernel's OOM killer ended a process of the step, where a memory cgroup was
    /// set up.
    pub oom_kills: Option<u64>,
}

/// A resource limit the step asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// [`ResourceLimits::memory_bytes`].
    Memory,
    /// [`ResourceLimits::max_processes`].
    Processes,
}

/// Whether a limit was enforced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimitStatus {
    /// Enforced, and how (for example "cgroup v1 /sys/fs/cgroup/memory/…").
    Applied {
        /// The mechanism that enforces it.
        mechanism: String,
    },
    /// Not enforced; the step ran without it.
    NotApplied {
        /// Why the host could not enforce it.
        reason: String,
    },
}

/// One requested limit and what became of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitReport {
    /// Which limit.
    pub kind: LimitKind,
    /// Whether it was enforced.
    pub status: LimitStatus,
}

/// What made sure no process of the step outlived it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Containment {
    /// The step had its own PID namespace: ending its init ends every process in it.
    PidNamespace,
    /// A cgroup of its own listed every process, including daemonised ones.
    Cgroup,
    /// Only a process group (and session): a process that left both (`setsid` after a double
    /// fork) can escape. Reported so the engine can say so.
    ProcessGroup,
    /// A guest that is thrown away after the job.
    Guest,
}

/// The result of running one step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StepOutcome {
    /// How the main process ended.
    pub status: ExitStatus,
    /// Why it stopped.
    pub ending: Ending,
    /// What the tree used.
    pub usage: ResourceUsage,
    /// One entry per limit the step asked for.
    pub limits: Vec<LimitReport>,
    /// What kept processes from outliving the step.
    pub containment: Containment,
    /// False when a process that escaped the tree kept the output open and the executor stopped
    /// reading after a bounded wait: some output may be missing.
    pub output_complete: bool,
    /// What the sweeps of the step's processes found, when [`StepSpec::sweep`] asked for them:
    /// `None` when not asked or when the backend does not sweep (`--sandbox none`); a report
    /// with a `note` when they could not be made as asked.
    pub sweep: Option<SweepReport>,
}

/// What a sandbox reports about a job when it ends ([`Executor::finish`](crate::Executor::finish)).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxReport {
    /// Facts the engine records in the job's `result.json` under `sandbox_details`, such as
    /// `accelerator` = `tcg`, the kernel release or the image digest.
    pub facts: BTreeMap<String, String>,
    /// Documents about the job the engine writes beside its `result.json`, by file name (for
    /// example `egress.json`). Names are plain file names, never paths.
    pub files: BTreeMap<String, Vec<u8>>,
    /// Reasons the job must fail although its steps succeeded (for example a connection denied
    /// under the `block-and-fail` egress mode); each becomes an error annotation.
    pub failures: Vec<String>,
}
