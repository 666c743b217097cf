//! The one way the engine starts a process: the [`Executor`] trait.
//!
//! An executor runs one step at a time per call (the engine may call it concurrently for
//! parallel jobs): it starts the step's program with exactly the given environment, streams its
//! output as it arrives, enforces the timeout and cancellation on the whole process tree, and
//! reports how it ended and what it used. Backends: [`HostExecutor`](crate::HostExecutor)
//! (`--sandbox none`), [`NamespaceExecutor`](crate::NamespaceExecutor) (`--sandbox namespace`),
//! and later a microVM executor whose guest agent speaks over virtio-serial.
//!
//! The trait is object-safe (`Box<dyn Executor>`), so the engine picks the backend at run time,
//! and its future is `Send`, so it runs on a multi-threaded tokio runtime.
//!
//! Must never: expose host-process details (pids, file descriptors, host paths of helpers) through
//! the trait, return before every process of the step is gone, or inherit the runner's environment.

use std::future::Future;
use std::pin::Pin;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{ExecError, OutputChunk, SandboxReport, StepOutcome, StepSpec};

/// The future an [`Executor`] returns: boxed so the trait stays object-safe.
pub type StepFuture<'a> = Pin<Box<dyn Future<Output = Result<StepOutcome, ExecError>> + Send + 'a>>;

/// The future [`Executor::finish`] returns.
pub type FinishFuture<'a> =
    Pin<Box<dyn Future<Output = Result<SandboxReport, ExecError>> + Send + 'a>>;

/// Runs steps somewhere: on the host, in a namespace sandbox, in a microVM.
///
/// One executor serves one job: the engine builds it when the job starts, runs the job's steps
/// through [`run`](Executor::run) one after another (pre, main and post steps alike), and calls
/// [`finish`](Executor::finish) once when the job ends. A backend may set up per-job state
/// (a sandbox the steps enter, a virtual machine) lazily on the first step or eagerly in its
/// constructor; `finish` tears it down. Dropping an executor without `finish` must still release
/// everything (kill processes, remove namespaces), synchronously.
///
/// Contract for every implementation:
/// - `step.env` is the whole environment; stdin reads end-of-file at once.
/// - Output is sent on `output` chunk by chunk as it arrives, stdout and stderr separately tagged
///   and each in order. Sending waits when the channel is full (the step then blocks on a full
///   pipe, which is back-pressure, not loss). If the receiver is dropped the output is discarded
///   and the step still runs to its end.
/// - When `step.timeout` passes, every process of the step is killed and the outcome says
///   [`Ending::TimedOut`](crate::Ending::TimedOut).
/// - When `cancel` fires, every process of the step gets SIGINT; whatever still runs after
///   `step.cancel_grace` is killed; the outcome says [`Ending::Cancelled`](crate::Ending::Cancelled).
/// - The future resolves only after the step's processes are gone and its output is drained (or
///   a bounded wait for an escaped holder of the output has passed, see
///   [`StepOutcome::output_complete`]).
pub trait Executor: Send + Sync {
    /// The name the user selects it by (`none`, `namespace`, `microvm`).
    fn name(&self) -> &'static str;

    /// Runs one step to its end.
    fn run<'a>(
        &'a self,
        step: StepSpec,
        output: mpsc::Sender<OutputChunk>,
        cancel: CancellationToken,
    ) -> StepFuture<'a>;

    /// Ends the job's sandbox: stops what it started for the job, copies back what the job left
    /// (for backends whose steps do not write the host's directories directly), and reports what
    /// the engine records. Called once, after the last step; `run` fails afterwards. The default
    /// has nothing to end and reports nothing.
    fn finish<'a>(&'a self) -> FinishFuture<'a> {
        Box::pin(async { Ok(SandboxReport::default()) })
    }
}
