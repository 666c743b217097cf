//! Behaviour every executor must show, written once and run against each backend.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use hermetic::{Ending, ExecError, Executor, ExitStatus, StepSpec};

use super::{marker, run, run_with, sh, survivors_after, PATH};

pub async fn reports_exit_code(ex: &dyn Executor, ws: &Path) {
    let r = run(ex, sh("echo bye; exit 3", ws)).await;
    assert_eq!(r.outcome().status, ExitStatus::Code(3));
    assert_eq!(r.outcome().ending, Ending::Exited);
    assert_eq!(r.stdout(), "bye\n");
    let r = run(ex, sh("true", ws)).await;
    assert!(r.outcome().status.success());
}

pub async fn reports_death_by_signal(ex: &dyn Executor, ws: &Path) {
    let r = run(ex, sh("kill -TERM $$; sleep 5", ws)).await;
    assert_eq!(r.outcome().status, ExitStatus::Signal(libc::SIGTERM));
    assert_eq!(r.outcome().ending, Ending::Exited);
}

pub async fn passes_exactly_the_given_environment(ex: &dyn Executor, ws: &Path) {
    let step = StepSpec::new("/usr/bin/env", ws)
        .env("PATH", PATH)
        .env("HRUN_A", "1")
        .env("WITH_SPACE", "a b\tc");
    let r = run(ex, step).await;
    assert!(r.outcome().status.success(), "{}", r.stderr());
    let out = r.stdout();
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        ["HRUN_A=1", &format!("PATH={PATH}"), "WITH_SPACE=a b\tc"]
    );
}

pub async fn streams_output_in_order_per_stream(ex: &dyn Executor, ws: &Path) {
    let script = "i=0; while [ $i -lt 200 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done";
    let r = run(ex, sh(script, ws)).await;
    assert!(r.outcome().status.success());
    assert!(r.outcome().output_complete);
    let want_out: String = (0..200).map(|i| format!("out{i}\n")).collect();
    let want_err: String = (0..200).map(|i| format!("err{i}\n")).collect();
    assert_eq!(r.stdout(), want_out);
    assert_eq!(r.stderr(), want_err);
}

pub async fn streams_output_while_the_step_runs(ex: &dyn Executor, ws: &Path) {
    let r = run(ex, sh("echo early; sleep 0.6; echo late", ws)).await;
    assert!(r.outcome().status.success());
    let first = r.chunks.first().map(|(t, _)| t.duration_since(r.started));
    let wall = r.outcome().usage.wall;
    assert!(wall >= Duration::from_millis(600), "{wall:?}");
    // The first chunk arrived well before the step ended.
    assert!(
        first.is_some_and(|f| f + Duration::from_millis(400) < wall),
        "first chunk at {first:?}, step took {wall:?}"
    );
}

/// A step with a background child and a daemonised (double-fork + setsid) grandchild, killed at
/// its timeout: no process of it may survive. Returns false if the daemon was expected to escape
/// (the executor reported process-group containment only) and was therefore not checked.
pub async fn timeout_kills_the_whole_tree(ex: &dyn Executor, ws: &Path) -> bool {
    let bg = marker("bg");
    let daemon = marker("daemon");
    let script = format!(
        "sleep {bg} & \
         ( setsid sh -c 'exec sleep {daemon}' </dev/null >/dev/null 2>&1 & ) ; \
         echo started; sleep 30"
    );
    let step = sh(&script, ws).timeout(Duration::from_millis(400));
    let r = run(ex, step).await;
    let outcome = r.outcome();
    assert_eq!(outcome.ending, Ending::TimedOut);
    assert_eq!(outcome.status, ExitStatus::Signal(libc::SIGKILL));
    assert!(
        outcome.usage.wall < Duration::from_secs(3),
        "{:?}",
        outcome.usage.wall
    );
    assert_eq!(r.stdout(), "started\n");
    assert_eq!(
        survivors_after(&bg, Duration::from_secs(1)),
        Vec::<i32>::new()
    );
    if outcome.containment == hermetic::Containment::ProcessGroup {
        // Clean up the escaped daemon ourselves.
        for pid in super::live_processes_with(&daemon) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
        return false;
    }
    assert_eq!(
        survivors_after(&daemon, Duration::from_secs(1)),
        Vec::<i32>::new()
    );
    true
}

/// Leftover background processes do not outlive a step that exits normally.
pub async fn normal_exit_leaves_no_background_process(ex: &dyn Executor, ws: &Path) {
    let bg = marker("leftover");
    let r = run(ex, sh(&format!("sleep {bg} >/dev/null 2>&1 & echo $!"), ws)).await;
    assert!(r.outcome().status.success());
    assert_eq!(
        survivors_after(&bg, Duration::from_secs(1)),
        Vec::<i32>::new()
    );
}

pub async fn cancel_interrupts_then_kills_after_grace(ex: &dyn Executor, ws: &Path) {
    let sleeper = marker("ignores-int");
    let script = format!("trap '' INT; echo ready; sleep {sleeper}; echo survived");
    let step = sh(&script, ws).cancel_grace(Duration::from_millis(300));
    let r = run_with(ex, step, Some("ready")).await;
    let o = r.outcome();
    assert_eq!(o.ending, Ending::Cancelled);
    assert_eq!(o.status, ExitStatus::Signal(libc::SIGKILL));
    assert!(
        o.usage.wall >= Duration::from_millis(300),
        "{:?}",
        o.usage.wall
    );
    assert!(o.usage.wall < Duration::from_secs(3), "{:?}", o.usage.wall);
    assert!(!r.stdout().contains("survived"));
    assert_eq!(
        survivors_after(&sleeper, Duration::from_secs(1)),
        Vec::<i32>::new()
    );
}

pub async fn cancel_lets_a_step_handle_sigint(ex: &dyn Executor, ws: &Path) {
    let script = "trap 'echo got-int; exit 130' INT; echo ready; \
                  i=0; while [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done";
    let step = sh(script, ws).cancel_grace(Duration::from_secs(5));
    let r = run_with(ex, step, Some("ready")).await;
    let o = r.outcome();
    assert_eq!(o.ending, Ending::Cancelled);
    assert_eq!(o.status, ExitStatus::Code(130));
    assert!(r.stdout().contains("got-int"), "{}", r.stdout());
    assert!(o.usage.wall < Duration::from_secs(2), "{:?}", o.usage.wall);
}

pub async fn reports_missing_program_and_directory(ex: &dyn Executor, ws: &Path) {
    let step = StepSpec::new("hrun-no-such-program", ws).env("PATH", PATH);
    let r = run(ex, step).await;
    assert!(
        matches!(r.outcome, Err(ExecError::ProgramNotFound { .. })),
        "{:?}",
        r.outcome
    );
    let step = StepSpec::new("/bin/true", ws.join("missing")).env("PATH", PATH);
    let r = run(ex, step).await;
    assert!(
        matches!(r.outcome, Err(ExecError::WorkingDir { .. })),
        "{:?}",
        r.outcome
    );
}

pub async fn reports_resource_usage(ex: &dyn Executor, ws: &Path) {
    let r = run(
        ex,
        sh("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done", ws),
    )
    .await;
    let u = r.outcome().usage;
    assert!(u.user_cpu + u.system_cpu > Duration::ZERO, "{u:?}");
    assert!(u.wall >= u.user_cpu / 2, "{u:?}");
    assert!(u.max_rss_bytes.is_some_and(|b| b > 0), "{u:?}");
}

/// An engine that abandons the `run` future (drops it) still leaves no process behind.
pub async fn dropping_the_run_future_kills_the_tree(ex: &dyn Executor, ws: &Path) {
    let sleeper = marker("abandoned");
    let step = sh(&format!("sleep {sleeper}"), ws);
    let abandoned = tokio::time::timeout(Duration::from_millis(300), run(ex, step)).await;
    assert!(
        abandoned.is_err(),
        "the step should still have been running"
    );
    assert_eq!(
        survivors_after(&sleeper, Duration::from_secs(2)),
        Vec::<i32>::new()
    );
}

/// The step gets only stdin (at end-of-file), stdout and stderr: no descriptor of the runner.
pub async fn step_sees_only_standard_descriptors_and_empty_stdin(ex: &dyn Executor, ws: &Path) {
    // `ls` lists the shell's descriptors (the shell has no directory open while it runs).
    let script = "ls /proc/$$/fd; cat; echo stdin-eof";
    let r = run(ex, sh(script, ws)).await;
    assert_eq!(r.stdout(), "0\n1\n2\nstdin-eof\n", "{}", r.stderr());
}

/// The step's main process leads a session of its own and starts with no signal blocked or
/// ignored (the runner ignores SIGPIPE; an ignored signal would survive `exec`). Signals 32 and
/// 33 are the C library's own (no program can change them through it) and are not looked at.
pub async fn starts_in_its_own_session_with_default_signals(ex: &dyn Executor, ws: &Path) {
    let script = "grep -E '^(SigBlk|SigIgn):' /proc/$$/status | cut -f2; \
                  test \"$(cut -d' ' -f6 /proc/$$/stat)\" = $$ && echo session-leader";
    let r = run(ex, sh(script, ws)).await;
    assert!(r.outcome().status.success(), "{}", r.stderr());
    let out = r.stdout();
    let lines: Vec<&str> = out.lines().collect();
    let libc_own: u64 = 0b11 << 31;
    let mask = |i: usize| {
        lines
            .get(i)
            .and_then(|l| u64::from_str_radix(l, 16).ok())
            .map(|m| m & !libc_own)
    };
    assert_eq!(mask(0), Some(0), "blocked: {out}");
    assert_eq!(mask(1), Some(0), "ignored: {out}");
    assert_eq!(lines.get(2), Some(&"session-leader"), "{out}");
}
