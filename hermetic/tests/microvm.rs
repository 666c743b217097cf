//! End-to-end tests of the microVM host side: QEMU launch, the agent channel's first bytes, QMP,
//! the accelerator probe, deadlines, clean-up, and `MicroVmExecutor`'s life cycle. They boot a
//! tiny busybox guest of their own (see `common::vm`), so they need no guest agent; each prints
//! `SKIP` with the reason when QEMU or the test kernel is missing (`ci/setup-vm.sh`).

mod common;

use std::time::{Duration, Instant};

use common::vm::{guest_or_skip, process_exists, Init, TestGuest};
use hermetic::vm::qemu::{self, choose_accel, probe_boot, LaunchSpec, QemuVm, RunDir};
use hermetic::vm::{Accel, MicroVmExecutor, MicroVmSetup, VmError};
use hermetic::{Ending, ExecError, Executor, ExitStatus, SandboxConfig, StepSpec};
use tokio_util::sync::CancellationToken;

/// Generous: TCG boots take about 2 s on an idle 2-core host, several times that under load.
const BOOT: Duration = Duration::from_secs(60);

fn launch(guest: &TestGuest, deadline: Option<Instant>) -> QemuVm {
    let config = guest.config();
    let run = RunDir::create(&config.vm_dir().join("run")).expect("run dir");
    let mut spec =
        LaunchSpec::new(&run, Accel::Tcg, &guest.image.kernel, &guest.image.initrd).expect("spec");
    spec.tsc_khz = qemu::measure_tsc_khz();
    QemuVm::launch(&config.qemu, run, spec, deadline, None).expect("launch")
}

#[test]
fn tcg_guest_boots_and_sends_first_bytes_on_the_agent_port() {
    let Some(guest) = guest_or_skip(
        "tcg_guest_boots_and_sends_first_bytes_on_the_agent_port",
        Init::Hello,
    ) else {
        return;
    };
    let vm = launch(&guest, None);
    let (pid, dir) = (vm.pid(), vm.run_dir().to_path_buf());
    let (took, bytes) = vm.wait_first_bytes(BOOT).expect("first bytes");
    let line = String::from_utf8_lossy(&bytes);
    println!(
        "tcg boot to first bytes: {} ms ({})",
        took.as_millis(),
        line.trim()
    );
    assert!(
        line.starts_with(&format!("hello {}", guest.image.kernel_release)),
        "{line}"
    );
    let host_release = std::fs::read_to_string("/proc/sys/kernel/osrelease").expect("osrelease");
    assert_ne!(
        guest.image.kernel_release,
        host_release.trim(),
        "the guest runs its own kernel"
    );
    drop(vm);
    assert!(!process_exists(pid), "QEMU {pid} is gone after drop");
    assert!(!dir.exists(), "the run directory is removed");
}

#[test]
fn the_network_hook_adjusts_qemus_command_before_it_starts() {
    let Some(guest) = guest_or_skip(
        "the_network_hook_adjusts_qemus_command_before_it_starts",
        Init::Silent,
    ) else {
        return;
    };
    // The egress code's `JobNetwork::prepare_command` enters the job's namespace in `pre_exec`;
    // here a visible change stands in for it.
    let config = guest.config();
    let run = RunDir::create(&config.vm_dir().join("run")).expect("run dir");
    let spec =
        LaunchSpec::new(&run, Accel::Tcg, &guest.image.kernel, &guest.image.initrd).expect("spec");
    let hook = |cmd: &mut std::process::Command| {
        cmd.env("HRUN_TEST_HOOK", "entered");
    };
    let vm = QemuVm::launch(&config.qemu, run, spec, None, Some(&hook)).expect("launch");
    let environ = std::fs::read(format!("/proc/{}/environ", vm.pid())).expect("environ");
    assert!(
        environ
            .split(|b| *b == 0)
            .any(|e| e == b"HRUN_TEST_HOOK=entered"),
        "the hook's change reached QEMU"
    );
}

#[tokio::test]
async fn qmp_reports_running_and_quit_ends_qemu() {
    let Some(guest) = guest_or_skip("qmp_reports_running_and_quit_ends_qemu", Init::Silent) else {
        return;
    };
    let vm = launch(&guest, None);
    let mut qmp = vm.qmp(BOOT).await.expect("qmp");
    assert_eq!(qmp.query_status().await.expect("status"), "running");
    qmp.quit().await.expect("quit");
    let exit = tokio::time::timeout(Duration::from_secs(10), vm.wait_exit())
        .await
        .expect("QEMU ends after quit")
        .expect("exit");
    assert_eq!(exit.status, ExitStatus::Code(0));
    assert!(!exit.by_deadline);
}

#[test]
fn probe_gives_up_on_a_silent_guest_within_its_deadline() {
    let Some(guest) = guest_or_skip(
        "probe_gives_up_on_a_silent_guest_within_its_deadline",
        Init::Silent,
    ) else {
        return;
    };
    let started = Instant::now();
    let deadline = Duration::from_secs(3);
    let r = probe_boot(&guest.config(), &guest.image, Accel::Tcg, deadline);
    let took = started.elapsed();
    assert!(
        matches!(r, Err(VmError::NoAnswer { .. })),
        "a silent guest is no answer: {r:?}"
    );
    assert!(took < deadline + Duration::from_secs(3), "took {took:?}");
    let run = guest.config().vm_dir().join("run");
    let left: Vec<_> = std::fs::read_dir(&run)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "probe left {left:?}");
}

#[test]
fn kvm_probe_verdict_is_reached_once_and_then_cached() {
    let Some(guest) = guest_or_skip(
        "kvm_probe_verdict_is_reached_once_and_then_cached",
        Init::Hello,
    ) else {
        return;
    };
    let config = hermetic::vm::VmConfig {
        accel: None,
        ..guest.config()
    };
    let started = Instant::now();
    let first = choose_accel(&config, &guest.image).expect("verdict");
    let took = started.elapsed();
    println!(
        "accelerator verdict: {} ({}) in {} ms",
        first.verdict.accel,
        first.verdict.reason,
        took.as_millis()
    );
    assert_eq!(first.source, qemu::VerdictSource::Probed);
    if !std::path::Path::new("/dev/kvm").exists() {
        assert_eq!(first.verdict.accel, Accel::Tcg);
        assert!(first.verdict.reason.contains("/dev/kvm"));
    }
    if first.verdict.accel == Accel::Kvm {
        assert!(first.verdict.reason.contains("booted under KVM"));
    }
    assert!(took < config.probe_deadline + Duration::from_secs(5));
    let again = choose_accel(&config, &guest.image).expect("cached verdict");
    assert_eq!(again.source, qemu::VerdictSource::Cached);
    assert_eq!(again.verdict, first.verdict);
}

#[test]
fn the_job_deadline_kills_qemu_and_says_so() {
    let Some(guest) = guest_or_skip("the_job_deadline_kills_qemu_and_says_so", Init::Silent) else {
        return;
    };
    let vm = launch(&guest, Some(Instant::now() + Duration::from_millis(500)));
    let until = Instant::now() + Duration::from_secs(10);
    while vm.exit().is_none() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    let exit = vm.exit().expect("QEMU ended at the deadline");
    assert!(exit.by_deadline);
    assert_eq!(exit.status, ExitStatus::Signal(libc::SIGKILL));
}

#[tokio::test]
async fn executor_boots_in_the_background_and_finish_reports_facts() {
    let Some(guest) = guest_or_skip(
        "executor_boots_in_the_background_and_finish_reports_facts",
        Init::Hello,
    ) else {
        return;
    };
    let ws = guest.dir.path().join("ws");
    std::fs::create_dir(&ws).expect("ws");
    let ex = MicroVmExecutor::new(
        MicroVmSetup::new(guest.image.clone(), guest.config()),
        SandboxConfig::new([ws.clone()]),
    )
    .expect("executor");
    let (pid, dir) = (ex.qemu_pid(), ex.run_dir().to_path_buf());
    assert!(dir.join("scratch.ext4").is_file());
    let (tx, _rx) = tokio::sync::mpsc::channel(8);
    let r = ex
        .run(StepSpec::new("true", &ws), tx, CancellationToken::new())
        .await;
    // This test guest's init writes a line of text, not the agent's protocol: the host reads
    // its first bytes as a frame header, refuses the frame and says why.
    match r {
        Err(ExecError::Lost(reason)) => {
            assert!(reason.contains("over the limit"), "{reason}")
        }
        other => panic!("unexpected: {other:?}"),
    }
    let report = ex.finish().await.expect("finish");
    println!("facts: {:?}", report.facts);
    assert_eq!(
        report.facts.get("accelerator").map(String::as_str),
        Some("tcg")
    );
    assert_eq!(report.facts.get("image_digest"), Some(&guest.image.digest));
    assert_eq!(report.facts.get("vcpus").map(String::as_str), Some("1"));
    let boot_ms: u64 = report
        .facts
        .get("boot_ms")
        .and_then(|v| v.parse().ok())
        .expect("boot_ms");
    assert!(boot_ms > 0 && boot_ms < BOOT.as_millis() as u64);
    assert!(!process_exists(pid), "QEMU {pid} is gone after finish");
    assert!(!dir.exists(), "the run directory is removed by finish");
    let (tx, _rx) = tokio::sync::mpsc::channel(8);
    let after = ex
        .run(StepSpec::new("true", &ws), tx, CancellationToken::new())
        .await;
    assert!(matches!(after, Err(ExecError::Lost(_))), "{after:?}");
}

#[tokio::test]
async fn a_job_timeout_during_boot_ends_the_step_as_timed_out() {
    let Some(guest) = guest_or_skip(
        "a_job_timeout_during_boot_ends_the_step_as_timed_out",
        Init::Silent,
    ) else {
        return;
    };
    let config = hermetic::vm::VmConfig {
        timeout: Some(Duration::from_millis(800)),
        ..guest.config()
    };
    let ex = MicroVmExecutor::new(
        MicroVmSetup::new(guest.image.clone(), config),
        SandboxConfig::new([guest.dir.path().to_path_buf()]),
    )
    .expect("executor");
    let pid = ex.qemu_pid();
    let (tx, _rx) = tokio::sync::mpsc::channel(8);
    let started = Instant::now();
    let outcome = ex
        .run(
            StepSpec::new("true", guest.dir.path()),
            tx,
            CancellationToken::new(),
        )
        .await
        .expect("an outcome, not an error");
    assert_eq!(outcome.ending, Ending::TimedOut);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!process_exists(pid), "QEMU {pid} was killed");
    let report = ex.finish().await.expect("finish");
    assert_eq!(
        report.facts.get("killed").map(String::as_str),
        Some("job timeout")
    );
}

#[tokio::test]
async fn dropping_the_executor_without_finish_kills_qemu_and_removes_its_directory() {
    let Some(guest) = guest_or_skip(
        "dropping_the_executor_without_finish_kills_qemu_and_removes_its_directory",
        Init::Silent,
    ) else {
        return;
    };
    let ex = MicroVmExecutor::new(
        MicroVmSetup::new(guest.image.clone(), guest.config()),
        SandboxConfig::new([guest.dir.path().to_path_buf()]),
    )
    .expect("executor");
    let (pid, dir) = (ex.qemu_pid(), ex.run_dir().to_path_buf());
    assert!(process_exists(pid));
    drop(ex);
    assert!(!process_exists(pid), "QEMU {pid} is gone after drop");
    assert!(!dir.exists(), "the run directory is removed");
}

#[test]
fn leftovers_of_a_dead_runner_are_killed_and_removed() {
    let Some(guest) = guest_or_skip(
        "leftovers_of_a_dead_runner_are_killed_and_removed",
        Init::Silent,
    ) else {
        return;
    };
    // A QEMU started for a run directory named after a runner that no longer exists, as a
    // SIGKILLed runner would leave it if its VM outlived it.
    let mut dead = std::process::Command::new("true").spawn().expect("spawn");
    let dead_pid = dead.id();
    dead.wait().expect("wait");
    let run_root = guest.config().vm_dir().join("run");
    let leftover = run_root.join(format!("hrun-{dead_pid}-0"));
    std::fs::create_dir_all(&leftover).expect("leftover dir");
    let mut qemu = std::process::Command::new(hermetic::vm::DEFAULT_QEMU)
        .args(["-M", "microvm", "-nodefaults", "-display", "none", "-S"])
        .arg("-pidfile")
        .arg(leftover.join("qemu.pid"))
        .arg("-name")
        .arg(&leftover)
        .spawn()
        .expect("qemu");
    let until = Instant::now() + Duration::from_secs(10);
    let written =
        || std::fs::read_to_string(leftover.join("qemu.pid")).is_ok_and(|t| !t.trim().is_empty());
    while !written() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(10));
    }
    let removed = hermetic::vm::cleanup_leftovers(&guest.config().cache_dir).expect("cleanup");
    assert_eq!(removed, [format!("hrun-{dead_pid}-0")]);
    let status = qemu.wait().expect("reap");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    assert!(!leftover.exists());
}

/// Boot-time figures for the report: `cargo test -p hermetic --test microvm -- --ignored
/// --nocapture tcg_boot_time`. Sequential boots of the test guest under TCG, launch to first
/// bytes on the agent port.
#[test]
#[ignore]
fn tcg_boot_time() {
    let Some(guest) = guest_or_skip("tcg_boot_time", Init::Hello) else {
        return;
    };
    let n: usize = std::env::var("HRUN_BOOTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let mut times: Vec<u128> = (0..n)
        .map(|_| {
            let vm = launch(&guest, None);
            vm.wait_first_bytes(BOOT).expect("boot").0.as_millis()
        })
        .collect();
    times.sort_unstable();
    println!(
        "tcg boot to first bytes over {n} boots: min {} ms, median {} ms, max {} ms",
        times[0],
        times[n / 2],
        times[n - 1]
    );
}
