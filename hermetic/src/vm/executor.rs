//! `--sandbox microvm`: the [`Executor`] that runs a job's steps in a microVM of its own.
//!
//! Life of one job: [`MicroVmExecutor::new`] decides the accelerator (probed once per host and
//! image), makes the run directory and the scratch disk, and launches QEMU at once, so the guest
//! boots while the engine prepares the job; when a tokio runtime is at hand it also starts
//! waiting for the guest agent in the background, so the boot time is measured from launch to the
//! agent's first bytes. The first [`run`](Executor::run) waits for that, opens the agent session
//! and sets the guest up; each step then runs through the session. [`finish`](Executor::finish)
//! closes the session, ends QEMU (QMP `quit`, then SIGKILL), removes the run directory and reports
//! the facts (accelerator and why, kernel, image digest, vCPUs, memory, boot time, from launch
//! to the first step handed to the agent (`first_step_ms`), and how long the teardown took).
//!
//! Limits enforced on the host, whatever the guest does: the job timeout kills QEMU (from its
//! watching thread, even with no step running); a step's timeout or cancellation that the guest
//! does not honour within the grace period plus [`HOST_SLACK`] kills QEMU too. Either way the
//! step's outcome says timed out or cancelled, and later steps fail: the VM is gone.
//!
//! Must never: leave QEMU running or its directory behind (dropping kills QEMU and removes the
//! directory synchronously), or let a step outlive the VM's limits.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::protocol::{Ipv6Setup, NetworkSetup};
use super::qemu::{
    self, choose_accel, make_scratch_disk, measure_tsc_khz_for, AccelDecision, AgentReady,
    LaunchSpec, QemuVm, RunDir, VerdictSource, VmError, VmNic,
};
use super::session::AgentSession;
use super::{VmConfig, VmImage};
use crate::egress::JobNetwork;
use crate::{
    Containment, Ending, ExecError, Executor, ExitStatus, FinishFuture, OutputChunk, ResourceUsage,
    SandboxConfig, SandboxReport, StepFuture, StepOutcome, StepSpec,
};

/// How long past a step's timeout (plus cancel grace) the host waits for the guest to end the
/// step before it kills the whole VM.
pub const HOST_SLACK: Duration = Duration::from_secs(10);
/// How long `finish` lets QEMU quit on its own before killing it.
const QUIT_GRACE: Duration = Duration::from_secs(3);

/// The job's network as the VM needs it: the card to add, the hook that starts QEMU inside
/// the job's network namespace, what the guest configures, and the [`JobNetwork`] whose report
/// and failures the executor hands to the engine when the job ends.
pub struct VmNetwork {
    /// The tap device and MAC of the guest's card.
    pub nic: VmNic,
    /// Adjusts QEMU's command before it starts (enters the job's network namespace).
    pub enter: Box<dyn Fn(&mut Command) + Send + Sync>,
    /// What the guest configures on that card (address, gateway, resolver).
    pub guest: NetworkSetup,
    /// The job's egress enforcement, reported on and torn down at the end of the job.
    pub job: Option<Arc<JobNetwork>>,
}

impl VmNetwork {
    /// The network of a VM attached to `job` (made with [`GuestLink::Tap`](crate::egress::GuestLink::Tap)).
    pub fn from_job(job: JobNetwork) -> Result<VmNetwork, ExecError> {
        let guest = job.guest();
        let tap = guest.tap.clone().ok_or_else(|| {
            ExecError::InvalidConfig("the job network has no tap device for the VM".to_owned())
        })?;
        let job = Arc::new(job);
        let entering = Arc::clone(&job);
        Ok(VmNetwork {
            nic: VmNic {
                tap,
                mac: guest.mac.clone(),
            },
            enter: Box::new(move |command| entering.prepare_command(command)),
            guest: NetworkSetup {
                mac: guest.mac,
                address: guest.address,
                prefix_len: guest.prefix,
                gateway: Some(guest.gateway),
                dns: vec![guest.dns],
                ipv6: guest
                    .address6
                    .zip(guest.gateway6)
                    .map(|(address, gateway)| Ipv6Setup {
                        address,
                        prefix_len: guest.prefix6,
                        gateway,
                    }),
            },
            job: Some(job),
        })
    }
}

impl std::fmt::Debug for VmNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VmNetwork")
            .field("nic", &self.nic)
            .finish_non_exhaustive()
    }
}

/// What a microVM executor is built from, besides the [`SandboxConfig`].
#[derive(Debug)]
pub struct MicroVmSetup {
    /// The guest image.
    pub image: VmImage,
    /// Resources and limits.
    pub vm: VmConfig,
    /// The job's network; `None`: the VM has no network card at all.
    pub network: Option<VmNetwork>,
}

impl MicroVmSetup {
    /// A setup booting `image` with `vm`'s resources and no network.
    pub fn new(image: VmImage, vm: VmConfig) -> Self {
        MicroVmSetup {
            image,
            vm,
            network: None,
        }
    }
}

/// Where the job's guest is in its life.
enum Phase {
    /// QEMU runs; the guest has not been reached yet (the handle waits in the background).
    Booting(Option<JoinHandle<Result<AgentReady, VmError>>>),
    /// The agent is set up and runs steps.
    Ready(Box<AgentSession>),
    /// The VM can run no more steps, and why.
    Broken(String),
    /// `finish` has run.
    Finished,
}

/// Runs each step of one job in the job's own microVM (`--sandbox microvm`).
pub struct MicroVmExecutor {
    vm: QemuVm,
    config: SandboxConfig,
    vm_config: VmConfig,
    /// The image's directory (its `manifest.json` goes into the job's report).
    image_dir: Option<std::path::PathBuf>,
    accel: AccelDecision,
    phase: tokio::sync::Mutex<Phase>,
    facts: Mutex<BTreeMap<String, String>>,
    /// Kept for the life of the job: its settings go into the guest's `Setup`; taken (reported
    /// on and torn down) by `finish`.
    network: Mutex<Option<VmNetwork>>,
}

impl std::fmt::Debug for MicroVmExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MicroVmExecutor")
            .field("vm", &self.vm.name())
            .field("accel", &self.accel.verdict.accel)
            .finish_non_exhaustive()
    }
}

impl MicroVmExecutor {
    /// Whether a microVM can be started for `image` with `vm` at all: the image's files exist
    /// and QEMU runs. `Err` says why not. Boots nothing.
    pub fn probe(image: &VmImage, vm: &VmConfig) -> Result<(), String> {
        image.check_files()?;
        qemu::accel::qemu_version(&vm.qemu)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Launches the job's VM. Blocks for the accelerator probe the first time a host sees an
    /// image (a few seconds at most), otherwise only for the scratch disk's `mkfs` and QEMU's
    /// start; the guest boots in the background.
    pub fn new(setup: MicroVmSetup, config: SandboxConfig) -> Result<Self, ExecError> {
        let MicroVmSetup { image, vm, network } = setup;
        image
            .check_files()
            .map_err(|reason| ExecError::Unavailable {
                name: "microvm",
                reason,
            })?;
        // Leftovers of killed runners: best effort, never a reason not to run.
        let _ = super::cleanup_leftovers(&vm.cache_dir);
        let accel = choose_accel(&vm, &image).map_err(|e| ExecError::Unavailable {
            name: "microvm",
            reason: e.to_string(),
        })?;
        let run = RunDir::create(&vm.vm_dir().join("run"))?;
        let scratch = run.file("scratch.ext4");
        make_scratch_disk(&scratch, vm.disk_bytes)?;
        let mut spec = LaunchSpec::new(&run, accel.verdict.accel, &image.kernel, &image.initrd)?;
        spec.vcpus = vm.vcpus;
        spec.memory_mib = vm.memory_mib;
        spec.root_disk = Some(image.rootfs.clone());
        spec.scratch_disk = Some(scratch);
        spec.nic = network.as_ref().map(|n| n.nic.clone());
        spec.tsc_khz = measure_tsc_khz_for(accel.verdict.accel);
        spec.console_log = vm.console_log.then(|| run.file("console.log"));
        spec.extra_cmdline = vm.extra_cmdline.clone();
        let deadline = vm.timeout.map(|t| Instant::now() + t);
        let enter = network.as_ref().map(|n| &*n.enter as &dyn Fn(&mut Command));
        let qemu_vm = QemuVm::launch(&vm.qemu, run, spec, deadline, enter)?;
        let background = tokio::runtime::Handle::try_current()
            .ok()
            .map(|rt| rt.spawn(qemu_vm.agent_ready(vm.boot_timeout)));
        let facts = initial_facts(&image, &vm, &accel, &qemu_vm);
        Ok(MicroVmExecutor {
            vm: qemu_vm,
            config,
            vm_config: vm,
            image_dir: image.rootfs.parent().map(std::path::Path::to_path_buf),
            accel,
            phase: tokio::sync::Mutex::new(Phase::Booting(background)),
            facts: Mutex::new(facts),
            network: Mutex::new(network),
        })
    }

    /// The VM's name (`hrun-<runner pid>-<n>`, also its run directory's name).
    pub fn vm_name(&self) -> &str {
        self.vm.name()
    }

    /// QEMU's pid, to look at (tests check it is gone after the job).
    pub fn qemu_pid(&self) -> u32 {
        self.vm.pid()
    }

    /// The VM's run directory.
    pub fn run_dir(&self) -> &std::path::Path {
        self.vm.run_dir()
    }

    fn has_fact(&self, key: &str) -> bool {
        self.facts.lock().is_ok_and(|f| f.contains_key(key))
    }

    fn fact(&self, key: &str, value: impl Into<String>) {
        if let Ok(mut facts) = self.facts.lock() {
            facts.insert(key.to_owned(), value.into());
        }
    }

    /// Turns a failure of the VM into the error of the step that met it, after marking the VM
    /// unusable.
    fn broken(&self, phase: &mut Phase, err: ExecError) -> ExecError {
        *phase = Phase::Broken(err.to_string());
        err
    }

    /// Boots (if needed) and sets up the guest, returning the ready session.
    async fn session<'p>(&self, phase: &'p mut Phase) -> Result<&'p mut AgentSession, ExecError> {
        if let Phase::Booting(background) = phase {
            let waited = match background.take() {
                Some(handle) => handle
                    .await
                    .map_err(|e| VmError::Qmp(format!("the boot watcher failed: {e}")))
                    .and_then(|r| r),
                None => self.vm.agent_ready(self.vm_config.boot_timeout).await,
            };
            let ready = match waited {
                Ok(r) => r,
                Err(e) => {
                    let err = self.vm_error(e);
                    return Err(self.broken(phase, err));
                }
            };
            self.fact("boot_ms", ready.first_bytes.as_millis().to_string());
            let opened = tokio::select! {
                r = AgentSession::open(ready.stream) => r,
                exit = self.vm.wait_exit() => Err(self.exit_error(exit)),
            };
            let (mut session, hello) = match opened {
                Ok(s) => s,
                Err(e) => return Err(self.broken(phase, e)),
            };
            if let Some(release) = hello.kernel_release {
                self.fact("kernel_release", release);
            }
            if let Some(v) = hello.protocol_version {
                self.fact("agent_protocol", v.to_string());
            }
            if let Some(ms) = hello.boot_ms {
                self.fact("guest_boot_ms", ms.to_string());
            }
            if !hello.notes.is_empty() {
                self.fact("guest_boot_notes", hello.notes.join("; "));
            }
            let guest_net = self
                .network
                .lock()
                .ok()
                .and_then(|n| n.as_ref().map(|n| n.guest.clone()));
            let set_up = tokio::select! {
                r = session.setup(&self.config, &self.vm_config, guest_net.as_ref()) => r,
                exit = self.vm.wait_exit() => Err(self.exit_error(exit)),
            };
            if let Err(e) = set_up {
                return Err(self.broken(phase, e));
            }
            *phase = Phase::Ready(Box::new(session));
        }
        match phase {
            Phase::Ready(session) => Ok(session),
            Phase::Broken(why) => Err(ExecError::Lost(format!("the job's VM is unusable: {why}"))),
            Phase::Finished => Err(ExecError::Lost(
                "the job's VM has been shut down (run after finish)".to_owned(),
            )),
            Phase::Booting(_) => Err(ExecError::Lost("the VM did not boot".to_owned())),
        }
    }

    /// A VM error as the step's error, naming the job timeout when that is what ended QEMU.
    fn vm_error(&self, err: VmError) -> ExecError {
        match (&err, self.vm.exit()) {
            (VmError::Exited { .. }, Some(exit)) if exit.by_deadline => {
                ExecError::from(self.job_timeout_error())
            }
            _ => ExecError::from(err),
        }
    }

    fn job_timeout_error(&self) -> VmError {
        VmError::JobTimeout {
            timeout: self.vm_config.timeout.unwrap_or_default(),
        }
    }

    fn exit_error(&self, exit: Option<qemu::VmExit>) -> ExecError {
        match exit {
            Some(e) if e.by_deadline => ExecError::from(self.job_timeout_error()),
            Some(e) => ExecError::from(VmError::Exited {
                status: e.to_string(),
                log: self.vm.log_tail(),
            }),
            None => ExecError::Lost("lost track of QEMU".to_owned()),
        }
    }

    async fn run_step(
        &self,
        step: StepSpec,
        output: mpsc::Sender<OutputChunk>,
        cancel: CancellationToken,
    ) -> Result<StepOutcome, ExecError> {
        let started = Instant::now();
        let mut phase = self.phase.lock().await;
        let session = match self.session(&mut phase).await {
            Ok(s) => s,
            Err(e) => {
                // The channel may close a moment before QEMU is reaped: give the exit (and
                // whether the job timeout caused it) a moment to be known.
                if self.vm.exit().is_none() {
                    let _ =
                        tokio::time::timeout(Duration::from_millis(500), self.vm.wait_exit()).await;
                }
                if self.vm.exit().is_some_and(|x| x.by_deadline) {
                    return Ok(ended_by_host(Ending::TimedOut, started));
                }
                return Err(e);
            }
        };
        let grace = step.cancel_grace;
        let timeout = step.timeout;
        let host_cancel = cancel.clone();
        let first = !self.has_fact("first_step_ms");
        let result = tokio::select! {
            r = session.run_step(step, output, cancel) => r,
            exit = self.vm.wait_exit() => {
                match exit {
                    Some(e) if e.by_deadline => Ok(ended_by_host(Ending::TimedOut, started)),
                    other => Err(self.exit_error(other)),
                }
            }
            ending = host_backstop(timeout, grace, host_cancel) => {
                self.vm.kill();
                let _ = self.vm.wait_exit().await;
                Ok(ended_by_host(ending, started))
            }
        };
        if first {
            if let Some(at) = session.first_step_at() {
                let ms = at
                    .saturating_duration_since(self.vm.launched_at())
                    .as_millis();
                self.fact("first_step_ms", ms.to_string());
            }
        }
        if self.vm.exit().is_some() {
            *phase = Phase::Broken(match &result {
                Ok(o) if o.ending == Ending::TimedOut => {
                    "the VM was killed at a timeout".to_owned()
                }
                Ok(_) => "the VM was killed when a cancelled step did not end".to_owned(),
                Err(e) => e.to_string(),
            });
        }
        result
    }

    async fn finish_job(&self) -> Result<SandboxReport, ExecError> {
        let mut phase = self.phase.lock().await;
        let teardown = Instant::now();
        match std::mem::replace(&mut *phase, Phase::Finished) {
            Phase::Ready(session) => {
                let _ = tokio::time::timeout(QUIT_GRACE, session.close()).await;
            }
            Phase::Booting(Some(handle)) => handle.abort(),
            Phase::Booting(None) | Phase::Broken(_) | Phase::Finished => {}
        }
        let exit = self.vm.shutdown(QUIT_GRACE).await;
        self.vm.remove_run_dir();
        if exit.is_some_and(|e| e.by_deadline) {
            self.fact("killed", "job timeout");
        }
        let mut files = BTreeMap::new();
        let mut failures = Vec::new();
        // The image's manifest (every component's digest, the Debian packages) sits beside its
        // root file system.
        if let Some(dir) = self.image_dir.as_ref() {
            if let Ok(bytes) = std::fs::read(dir.join("manifest.json")) {
                files.insert("image-manifest.json".to_owned(), bytes);
            }
        }
        let network = self.network.lock().ok().and_then(|mut n| n.take());
        if let Some(VmNetwork { enter, job, .. }) = network {
            drop(enter);
            if let Some(job) = job {
                let report = job.report();
                match serde_json::to_vec_pretty(&report) {
                    Ok(bytes) => {
                        files.insert("egress.json".to_owned(), bytes);
                    }
                    Err(e) => failures.push(format!("the egress report could not be written: {e}")),
                }
                failures.extend(job.failures());
                self.fact("egress_mode", report.mode.as_str());
                match Arc::try_unwrap(job) {
                    Ok(job) => {
                        if let Err(e) = job.teardown() {
                            self.fact("egress_teardown", e.to_string());
                        }
                    }
                    // Still shared: the last holder's drop tears it down.
                    Err(_) => self.fact("egress_teardown", "deferred"),
                }
            }
        }
        self.fact("teardown_ms", teardown.elapsed().as_millis().to_string());
        let facts = self.facts.lock().map(|f| f.clone()).unwrap_or_default();
        Ok(SandboxReport {
            facts,
            files,
            failures,
        })
    }
}

impl Executor for MicroVmExecutor {
    fn name(&self) -> &'static str {
        "microvm"
    }

    fn run<'a>(
        &'a self,
        step: StepSpec,
        output: mpsc::Sender<OutputChunk>,
        cancel: CancellationToken,
    ) -> StepFuture<'a> {
        Box::pin(self.run_step(step, output, cancel))
    }

    fn finish<'a>(&'a self) -> FinishFuture<'a> {
        Box::pin(self.finish_job())
    }
}

impl Drop for MicroVmExecutor {
    fn drop(&mut self) {
        if let Phase::Booting(Some(handle)) = self.phase.get_mut() {
            handle.abort();
        }
        // Dropping `vm` next kills and reaps QEMU and removes the run directory.
    }
}

/// The facts known at launch.
fn initial_facts(
    image: &VmImage,
    vm: &VmConfig,
    accel: &AccelDecision,
    qemu_vm: &QemuVm,
) -> BTreeMap<String, String> {
    let source = match accel.source {
        VerdictSource::Forced => "forced",
        VerdictSource::Cached => "cached",
        VerdictSource::Probed => "probed",
    };
    let mut facts = BTreeMap::new();
    facts.insert("accelerator".to_owned(), accel.verdict.accel.to_string());
    facts.insert(
        "accelerator_reason".to_owned(),
        accel.verdict.reason.clone(),
    );
    facts.insert("accelerator_source".to_owned(), source.to_owned());
    if let Some(ms) = accel.verdict.probe_ms {
        facts.insert("accelerator_probe_ms".to_owned(), ms.to_string());
    }
    facts.insert("kernel_release".to_owned(), image.kernel_release.clone());
    facts.insert("image_digest".to_owned(), image.digest.clone());
    facts.insert("vcpus".to_owned(), qemu_vm.spec().vcpus.to_string());
    facts.insert(
        "memory_mib".to_owned(),
        qemu_vm.spec().memory_mib.to_string(),
    );
    facts.insert("disk_bytes".to_owned(), vm.disk_bytes.to_string());
    facts.insert("vm".to_owned(), qemu_vm.name().to_owned());
    facts.insert("step_uid".to_owned(), vm.step_id.to_string());
    if vm.clock_offset_secs != 0 {
        facts.insert(
            "clock_offset_secs".to_owned(),
            vm.clock_offset_secs.to_string(),
        );
    }
    facts
}

/// Resolves when the host must stop waiting for the guest: the step's timeout plus grace plus
/// [`HOST_SLACK`] has passed, or it was cancelled and the grace plus slack has passed since.
async fn host_backstop(
    timeout: Option<Duration>,
    grace: Duration,
    cancel: CancellationToken,
) -> Ending {
    let timed_out = async {
        match timeout {
            Some(t) => tokio::time::sleep(t + grace + HOST_SLACK).await,
            None => std::future::pending::<()>().await,
        }
    };
    let cancelled = async {
        cancel.cancelled().await;
        tokio::time::sleep(grace + HOST_SLACK).await;
    };
    tokio::select! {
        () = timed_out => Ending::TimedOut,
        () = cancelled => Ending::Cancelled,
    }
}

/// The outcome of a step the host ended by killing the VM.
fn ended_by_host(ending: Ending, started: Instant) -> StepOutcome {
    StepOutcome {
        status: ExitStatus::Signal(libc::SIGKILL),
        ending,
        usage: ResourceUsage {
            wall: started.elapsed(),
            ..ResourceUsage::default()
        },
        limits: Vec::new(),
        containment: Containment::Guest,
        output_complete: true,
        sweep: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn backstop_fires_after_timeout_grace_and_slack() {
        let started = tokio::time::Instant::now();
        let ending = host_backstop(
            Some(Duration::from_secs(5)),
            Duration::from_secs(1),
            CancellationToken::new(),
        )
        .await;
        assert_eq!(ending, Ending::TimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(6) + HOST_SLACK);
    }

    #[tokio::test(start_paused = true)]
    async fn backstop_fires_grace_and_slack_after_cancel() {
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        let started = tokio::time::Instant::now();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            trigger.cancel();
        });
        let ending = host_backstop(None, Duration::from_secs(1), cancel).await;
        assert_eq!(ending, Ending::Cancelled);
        assert_eq!(started.elapsed(), Duration::from_secs(3) + HOST_SLACK);
    }

    #[test]
    fn a_host_ended_step_reports_kill_and_guest_containment() {
        let o = ended_by_host(Ending::TimedOut, Instant::now());
        assert_eq!(o.status, ExitStatus::Signal(libc::SIGKILL));
        assert_eq!(o.ending, Ending::TimedOut);
        assert_eq!(o.containment, Containment::Guest);
    }
}
