//! End-to-end tests of `NamespaceExecutor` (`--sandbox namespace`). Each test first probes the
//! sandbox and prints `SKIP` with the reason when this host cannot run it.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::Duration;

use common::{checks, namespace_or_skip, run, sh, workspace};
use hermetic::{
    Containment, Ending, Executor, ExitStatus, HostIdentity, LimitStatus, NamespaceExecutor,
    Network, ResourceLimits, SandboxConfig,
};

/// The identity the sandbox maps to, so a root test run can hand the workspace to it.
fn identity() -> Option<HostIdentity> {
    nix::unistd::geteuid()
        .is_root()
        .then_some(HostIdentity::NOBODY)
}

fn sandbox(test: &str) -> Option<(NamespaceExecutor, tempfile::TempDir)> {
    let ws = workspace(identity());
    let path = ws.path().to_path_buf();
    let ex = namespace_or_skip(test, || SandboxConfig::new([path]))?;
    Some((ex, ws))
}

macro_rules! shared {
    ($name:ident) => {
        #[tokio::test]
        async fn $name() {
            let Some((ex, ws)) = sandbox(stringify!($name)) else {
                return;
            };
            checks::$name(&ex, ws.path()).await;
        }
    };
}

shared!(reports_exit_code);
shared!(reports_death_by_signal);
shared!(passes_exactly_the_given_environment);
shared!(streams_output_in_order_per_stream);
shared!(streams_output_while_the_step_runs);
shared!(normal_exit_leaves_no_background_process);
shared!(cancel_interrupts_then_kills_after_grace);
shared!(cancel_lets_a_step_handle_sigint);
shared!(reports_missing_program_and_directory);
shared!(reports_resource_usage);
shared!(step_sees_only_standard_descriptors_and_empty_stdin);
shared!(dropping_the_run_future_kills_the_tree);
shared!(starts_in_its_own_session_with_default_signals);

#[tokio::test]
async fn timeout_kills_background_child_and_daemonised_grandchild() {
    let Some((ex, ws)) = sandbox("timeout_kills_background_child_and_daemonised_grandchild") else {
        return;
    };
    assert!(checks::timeout_kills_the_whole_tree(&ex, ws.path()).await);
}

#[tokio::test]
async fn probe_reports_available_or_a_reason() {
    match NamespaceExecutor::probe() {
        Ok(()) => {}
        Err(reason) => {
            assert!(!reason.is_empty());
            eprintln!("SKIP probe_reports_available_or_a_reason: unavailable: {reason}");
        }
    }
}

#[tokio::test]
async fn has_the_fixed_hostname() {
    let Some((ex, ws)) = sandbox("has_the_fixed_hostname") else {
        return;
    };
    let r = run(
        &ex,
        sh("cat /proc/sys/kernel/hostname; hostname", ws.path()),
    )
    .await;
    assert_eq!(r.stdout(), "hrun-sandbox\nhrun-sandbox\n", "{}", r.stderr());
}

#[tokio::test]
async fn root_and_system_directories_are_read_only() {
    let Some((ex, ws)) = sandbox("root_and_system_directories_are_read_only") else {
        return;
    };
    let script = "for f in /usr/hrun-probe /etc/hrun-probe /hrun-probe /usr/bin/hrun-probe; do \
                    if touch $f 2>/dev/null; then echo WROTE $f; else echo denied $f; fi; \
                  done; mkdir /newdir 2>/dev/null && echo MADE";
    let r = run(&ex, sh(script, ws.path())).await;
    assert_eq!(
        r.stdout(),
        "denied /usr/hrun-probe\ndenied /etc/hrun-probe\ndenied /hrun-probe\ndenied /usr/bin/hrun-probe\n"
    );
    assert!(!Path::new("/usr/hrun-probe").exists());
    // Even a remount is refused: every capability is dropped.
    let r = run(
        &ex,
        sh("mount -o remount,rw /usr 2>&1 || echo refused", ws.path()),
    )
    .await;
    assert!(r.stdout().contains("refused"), "{}", r.stdout());
}

#[tokio::test]
async fn workspace_is_writable_and_files_belong_to_the_sandbox_identity() {
    let Some((ex, ws)) = sandbox("workspace_is_writable_and_files_belong_to_the_sandbox_identity")
    else {
        return;
    };
    let r = run(&ex, sh("echo hi > \"$WS/made-inside\"; id -u", ws.path())).await;
    assert!(r.outcome().status.success(), "{}", r.stderr());
    assert_eq!(r.stdout(), "0\n", "root of its own user namespace");
    let made = ws.path().join("made-inside");
    assert_eq!(std::fs::read_to_string(&made).ok().as_deref(), Some("hi\n"));
    let meta = std::fs::metadata(&made).expect("file made inside");
    assert_eq!(meta.uid(), ex.host_identity().uid);
}

#[tokio::test]
async fn tmp_is_private_and_empty() {
    let Some((ex, ws)) = sandbox("tmp_is_private_and_empty") else {
        return;
    };
    let host_marker = tempfile::Builder::new()
        .prefix("hrun-host-marker-")
        .tempfile_in("/tmp")
        .expect("host /tmp file");
    let r = run(
        &ex,
        sh(
            "ls -A /tmp; echo x > /tmp/inside && echo writable",
            ws.path(),
        ),
    )
    .await;
    assert_eq!(r.stdout(), "writable\n", "{}", r.stderr());
    assert!(host_marker.path().exists());
    let r = run(&ex, sh("ls -A /tmp", ws.path())).await;
    assert_eq!(r.stdout(), "", "a new step gets a new /tmp");
}

#[tokio::test]
async fn step_starts_with_umask_022_whatever_the_runners() {
    let Some((ex, ws)) = sandbox("step_starts_with_umask_022_whatever_the_runners") else {
        return;
    };
    let r = run(&ex, sh("umask", ws.path())).await;
    assert_eq!(r.stdout(), "0022\n");
}

#[tokio::test]
async fn step_runs_in_its_own_pid_namespace() {
    let Some((ex, ws)) = sandbox("step_runs_in_its_own_pid_namespace") else {
        return;
    };
    let script = "echo $$; test -d /proc/1 && echo has-init; \
                  ls /proc | grep -c '^[0-9][0-9]*$'";
    let r = run(&ex, sh(script, ws.path())).await;
    let out = r.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&"2"), "init is 1, the step 2: {out}");
    assert_eq!(lines.get(1), Some(&"has-init"));
    let count: usize = lines
        .get(2)
        .and_then(|c| c.parse().ok())
        .unwrap_or(usize::MAX);
    assert!(
        count <= 5,
        "only the sandbox's processes are visible: {out}"
    );
    assert_eq!(r.outcome().containment, Containment::PidNamespace);
}

fn interfaces(proc_net_dev: &str) -> Vec<String> {
    let mut names: Vec<String> = proc_net_dev
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|n| n.trim().to_owned())
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn only_loopback_when_network_is_denied() {
    let Some((ex, ws)) = sandbox("only_loopback_when_network_is_denied") else {
        return;
    };
    let r = run(
        &ex,
        sh(
            "cat /proc/net/dev; echo ---; ls /sys/class/net; cat /sys/class/net/lo/flags",
            ws.path(),
        ),
    )
    .await;
    let out = r.stdout();
    let (dev, sys) = out.split_once("---\n").unwrap_or((&out, ""));
    assert_eq!(interfaces(dev), ["lo"]);
    let sys: Vec<&str> = sys.lines().collect();
    assert_eq!(sys.first(), Some(&"lo"), "{out}");
    // IFF_UP (0x1) is set on loopback.
    let flags = sys
        .get(1)
        .and_then(|f| u32::from_str_radix(f.trim_start_matches("0x"), 16).ok())
        .unwrap_or(0);
    assert_eq!(flags & 1, 1, "lo is up: {out}");
}

#[tokio::test]
async fn network_allowed_shares_the_host_interfaces() {
    let ws = workspace(identity());
    let path = ws.path().to_path_buf();
    let Some(ex) = namespace_or_skip("network_allowed_shares_the_host_interfaces", || {
        let mut c = SandboxConfig::new([path]);
        c.network = Network::Allow;
        c
    }) else {
        return;
    };
    let r = run(&ex, sh("cat /proc/net/dev", ws.path())).await;
    let host = std::fs::read_to_string("/proc/net/dev").unwrap_or_default();
    assert_eq!(interfaces(&r.stdout()), interfaces(&host));
}

fn applied(o: &hermetic::StepOutcome) -> Option<String> {
    match o.limits.first().map(|l| &l.status) {
        Some(LimitStatus::Applied { .. }) => None,
        Some(LimitStatus::NotApplied { reason }) => Some(reason.clone()),
        None => Some("no limit report".to_owned()),
    }
}

#[tokio::test]
async fn memory_limit_kills_a_step_that_allocates_past_it() {
    let Some((ex, ws)) = sandbox("memory_limit_kills_a_step_that_allocates_past_it") else {
        return;
    };
    let limits = ResourceLimits {
        memory_bytes: Some(32 << 20),
        max_processes: None,
    };
    // dd fills a 200 MiB buffer: far past the limit.
    let step = sh(
        "dd if=/dev/zero of=/dev/null bs=200M count=1 2>/dev/null; echo dd=$?",
        ws.path(),
    )
    .limits(limits)
    .timeout(Duration::from_secs(10));
    let r = run(&ex, step).await;
    let o = r.outcome();
    if let Some(reason) = applied(o) {
        eprintln!("SKIP memory_limit_kills_a_step_that_allocates_past_it: {reason}");
        return;
    }
    assert_eq!(o.ending, Ending::Exited);
    assert_eq!(r.stdout(), "dd=137\n", "dd was SIGKILLed by the OOM killer");
    assert!(o.usage.oom_kills.is_some_and(|n| n >= 1), "{:?}", o.usage);
    // And a step under the limit runs fine.
    let step = sh(
        "dd if=/dev/zero of=/dev/null bs=4M count=1 2>/dev/null",
        ws.path(),
    )
    .limits(limits);
    assert!(run(&ex, step).await.outcome().status.success());
}

#[tokio::test]
async fn pids_limit_stops_a_fork_loop() {
    let Some((ex, ws)) = sandbox("pids_limit_stops_a_fork_loop") else {
        return;
    };
    let limits = ResourceLimits {
        memory_bytes: None,
        max_processes: Some(16),
    };
    // At most 100 forks, each a sleeper; the limit stops it long before.
    let script = "i=0; while [ $i -lt 100 ]; do sleep 5 & i=$((i+1)); echo $i; done";
    let step = sh(script, ws.path())
        .limits(limits)
        .timeout(Duration::from_secs(5));
    let r = run(&ex, step).await;
    let o = r.outcome();
    if let Some(reason) = applied(o) {
        eprintln!("SKIP pids_limit_stops_a_fork_loop: {reason}");
        return;
    }
    let started: usize = r
        .stdout()
        .lines()
        .last()
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    assert!(
        started < 16,
        "only {started} forks may succeed under a limit of 16"
    );
    assert_ne!(o.status, ExitStatus::Code(0));
    assert_eq!(
        o.ending,
        Ending::Exited,
        "stopped by the limit, not the timeout"
    );
    assert!(r.stderr().to_lowercase().contains("fork"), "{}", r.stderr());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_concurrent_steps_independently() {
    let Some((ex, ws)) = sandbox("runs_concurrent_steps_independently") else {
        return;
    };
    let ex: &dyn Executor = &ex;
    let step = |i: u32| sh(&format!("sleep 0.3; echo {i}"), ws.path());
    let started = std::time::Instant::now();
    let (a, b, c, d) = tokio::join!(
        run(ex, step(0)),
        run(ex, step(1)),
        run(ex, step(2)),
        run(ex, step(3))
    );
    let elapsed = started.elapsed();
    for (i, r) in [a, b, c, d].iter().enumerate() {
        assert_eq!(r.stdout(), format!("{i}\n"));
    }
    assert!(
        elapsed < Duration::from_millis(1000),
        "ran one after another: {elapsed:?}"
    );
}

#[tokio::test]
async fn step_has_no_capabilities_and_no_new_privileges() {
    let Some((ex, ws)) = sandbox("step_has_no_capabilities_and_no_new_privileges") else {
        return;
    };
    let r = run(
        &ex,
        sh("cat /proc/self/status; cat /proc/self/uid_map", ws.path()),
    )
    .await;
    let out = r.stdout();
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(str::trim)
            .unwrap_or("missing")
            .to_owned()
    };
    for cap in ["CapInh:", "CapPrm:", "CapEff:", "CapBnd:", "CapAmb:"] {
        assert_eq!(field(cap), "0000000000000000", "{cap} in {out}");
    }
    assert_eq!(field("NoNewPrivs:"), "1");
    let map: Vec<&str> = out
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let uid = ex.host_identity().uid.to_string();
    assert_eq!(
        map,
        ["0", uid.as_str(), "1"],
        "only root, mapped to the identity"
    );
    if nix::unistd::geteuid().is_root() {
        assert_eq!(
            field("Groups:"),
            "",
            "root's supplementary groups are dropped"
        );
    }
}

#[tokio::test]
async fn auto_and_namespace_choices_select_the_sandbox_and_never_the_host() {
    use hermetic::{select_executor, SandboxChoice};
    let config = || SandboxConfig::new(Vec::<String>::new());
    match NamespaceExecutor::probe() {
        Ok(()) => {
            let auto = select_executor(SandboxChoice::Auto, config(), None).expect("auto");
            assert_eq!(auto.executor.name(), "namespace");
            assert!(auto.fallbacks.iter().any(|f| f.starts_with("microvm:")));
            let ns = select_executor(SandboxChoice::Namespace, config(), None).expect("namespace");
            assert_eq!(ns.executor.name(), "namespace");
        }
        Err(reason) => {
            // Without a sandbox, auto refuses rather than running on the host.
            let auto = select_executor(SandboxChoice::Auto, config(), None);
            assert!(auto.is_err());
            eprintln!(
                "SKIP auto_and_namespace_choices_select_the_sandbox (positive part): {reason}"
            );
        }
    }
}

/// The descriptors of this test process that refer to the namespace `link` names
/// (`net:[4026532…]`, as `readlink /proc/self/ns/net` prints it).
fn descriptors_of(link: &str) -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| {
                    std::fs::read_link(e.path())
                        .is_ok_and(|target| target.to_string_lossy() == link)
                })
                .count()
        })
        .unwrap_or(0)
}

// Both steps run at once: a namespace number is reused once its namespace is gone.
const NAMESPACES: &str =
    "for n in net uts ipc user pid mnt; do readlink /proc/self/ns/$n; done; sleep 0.3";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_share_the_jobs_namespaces_and_each_has_its_own_pid_and_mount_namespace() {
    let Some((ex, ws)) = sandbox("steps_share_the_jobs_namespaces") else {
        return;
    };
    let ex: &dyn Executor = &ex;
    let (first, second) = tokio::join!(
        run(ex, sh(NAMESPACES, ws.path())),
        run(ex, sh(NAMESPACES, ws.path()))
    );
    let (first, second) = (first.stdout(), second.stdout());
    let (a, b): (Vec<&str>, Vec<&str>) = (first.lines().collect(), second.lines().collect());
    assert_eq!(a.len(), 6, "{first}");
    assert_eq!(
        a.get(..4),
        b.get(..4),
        "net, uts, ipc and user are the job's"
    );
    assert_ne!(a.get(4), b.get(4), "each step has its own PID namespace");
    assert_ne!(a.get(5), b.get(5), "each step has its own mount namespace");
    let host_net = std::fs::read_link("/proc/self/ns/net").unwrap_or_default();
    assert_ne!(
        a.first().copied(),
        host_net.to_str(),
        "not the host's network"
    );
}

#[tokio::test]
async fn finish_closes_the_jobs_namespaces_and_refuses_later_steps() {
    let Some((ex, ws)) = sandbox("finish_closes_the_jobs_namespaces") else {
        return;
    };
    let r = run(&ex, sh("readlink /proc/self/ns/net", ws.path())).await;
    let net = r.stdout().trim().to_owned();
    assert!(net.starts_with("net:["), "{net}");
    assert_eq!(
        descriptors_of(&net),
        1,
        "the runner holds the job's network"
    );
    let report = ex.finish().await.expect("finish");
    assert!(report.failures.is_empty());
    assert_eq!(descriptors_of(&net), 0, "closed by finish");
    let later = run(&ex, sh("true", ws.path())).await;
    assert!(later.outcome.is_err(), "a step after finish must not run");
}

#[tokio::test]
async fn dropping_the_executor_closes_the_jobs_namespaces() {
    let Some((ex, ws)) = sandbox("dropping_the_executor_closes_the_jobs_namespaces") else {
        return;
    };
    let r = run(&ex, sh("readlink /proc/self/ns/uts", ws.path())).await;
    let uts = r.stdout().trim().to_owned();
    assert_eq!(descriptors_of(&uts), 1, "{uts}");
    drop(ex);
    assert_eq!(descriptors_of(&uts), 0);
}

#[tokio::test]
async fn dev_is_read_only_and_each_step_gets_a_fresh_dev_shm() {
    let Some((ex, ws)) = sandbox("dev_is_read_only_and_each_step_gets_a_fresh_dev_shm") else {
        return;
    };
    let script = "touch /dev/hrun-probe 2>/dev/null && echo WROTE; \
                  ls -A /dev/shm; echo x > /dev/shm/left && echo shm-writable; \
                  echo x > /dev/null && echo null-writable";
    let r = run(&ex, sh(script, ws.path())).await;
    assert_eq!(
        r.stdout(),
        "shm-writable\nnull-writable\n",
        "{}",
        r.stderr()
    );
    let r = run(&ex, sh("ls -A /dev/shm", ws.path())).await;
    assert_eq!(r.stdout(), "", "a new step gets a new /dev/shm");
}

#[tokio::test]
async fn a_workspace_below_tmp_is_bound_over_each_steps_fresh_tmp() {
    let ws = tempfile::Builder::new()
        .prefix("hrun-ws-")
        .tempdir_in("/tmp")
        .expect("temp dir in /tmp");
    if let Some(id) = identity() {
        std::os::unix::fs::chown(ws.path(), Some(id.uid), Some(id.gid)).expect("chown");
    }
    let path = ws.path().to_path_buf();
    let Some(ex) = namespace_or_skip(
        "a_workspace_below_tmp_is_bound_over_each_steps_fresh_tmp",
        || SandboxConfig::new([path]),
    ) else {
        return;
    };
    let r = run(
        &ex,
        sh("echo one > \"$WS/f\" && echo x > /tmp/scratch", ws.path()),
    )
    .await;
    assert!(r.outcome().status.success(), "{}", r.stderr());
    let r = run(
        &ex,
        sh(
            "cat \"$WS/f\"; test -e /tmp/scratch || echo fresh",
            ws.path(),
        ),
    )
    .await;
    assert_eq!(r.stdout(), "one\nfresh\n", "{}", r.stderr());
}

#[tokio::test]
async fn set_up_now_binds_the_configured_paths_before_the_first_step() {
    let ws = workspace(identity());
    let base = ws.path().canonicalize().expect("canonical workspace");
    let (sub, moved) = (base.join("sub"), base.join("moved"));
    std::fs::create_dir(&sub).expect("sub");
    if let Some(id) = identity() {
        std::os::unix::fs::chown(&sub, Some(id.uid), Some(id.gid)).expect("chown");
    }
    let config_sub = sub.clone();
    let Some(ex) = namespace_or_skip("set_up_now_binds_the_configured_paths", || {
        SandboxConfig::new([config_sub])
    }) else {
        return;
    };
    ex.set_up_now().expect("set up");
    // Gone from its path on the host: only a sandbox built already still has it there.
    std::fs::rename(&sub, &moved).expect("rename");
    let r = run(&ex, sh("echo hi > f", &sub)).await;
    assert!(r.outcome().status.success(), "{}", r.stderr());
    assert_eq!(
        std::fs::read_to_string(moved.join("f")).ok().as_deref(),
        Some("hi\n")
    );
}

#[tokio::test]
async fn a_step_cannot_read_its_inits_memory_or_environment() {
    let Some((ex, ws)) = sandbox("a_step_cannot_read_its_inits_memory_or_environment") else {
        return;
    };
    // The init is a copy of the runner: its environment and memory are the runner's.
    let script = "head -c 1 /proc/1/environ >/dev/null 2>&1 && echo READ-ENVIRON; \
                  head -c 1 /proc/1/cmdline >/dev/null 2>&1 || echo no-cmdline; \
                  grep -q . /proc/1/maps 2>/dev/null && echo READ-MAPS; echo done";
    let r = run(&ex, sh(script, ws.path())).await;
    assert_eq!(r.stdout().lines().last(), Some("done"), "{}", r.stderr());
    assert!(!r.stdout().contains("READ-"), "{}", r.stdout());
}

/// Sweeps for `TOKEN` (and the built-in rule pack).
fn sweep_for_token(value: &str) -> hermetic::sweep::SweepConfig {
    use std::sync::Arc;
    let mut secrets = hermetic::scan::KnownSecrets::new();
    secrets.add("TOKEN", value);
    let rules = Arc::new(hermetic::scan::Scanner::new(
        hermetic::scan::RulePack::builtin(),
    ));
    hermetic::sweep::SweepConfig::new(Arc::new(secrets), Some(rules))
}

#[tokio::test]
async fn sweeps_see_a_background_process_before_its_namespace_ends() {
    use hermetic::sweep::{SweepLocation, SweepMatch, SweepPhase};
    let test = "sweeps_see_a_background_process_before_its_namespace_ends";
    let Some((ex, ws)) = sandbox(test) else {
        return;
    };
    let secret = "ns-sw33p-value-5678";
    let step = sh(
        "export LEAKED=\"$TOKEN\"; sleep 5 & sleep 0.4; echo started",
        ws.path(),
    )
    .env("TOKEN", secret)
    .sweep(sweep_for_token(secret));
    let r = run(&ex, step).await;
    let outcome = r.outcome.expect("the step runs");
    assert!(outcome.status.success());
    assert!(
        outcome.usage.wall < Duration::from_secs(5),
        "the step waited for sleep"
    );
    let report = outcome.sweep.expect("a sweep report");
    assert!(report.note.is_none(), "{report:?}");
    // Swept while it ran (every 150 ms over 0.4 s) and after.
    assert!(report.sweeps >= 2, "{report:?}");
    let leak = report
        .findings
        .iter()
        .find(|f| {
            f.location
                == SweepLocation::Environ {
                    variable: "LEAKED".into(),
                }
        })
        .unwrap_or_else(|| panic!("no finding for LEAKED: {report:?}"));
    assert_eq!(leak.comm, "sleep");
    assert_eq!(leak.phase, SweepPhase::Running);
    assert_eq!(
        leak.found,
        SweepMatch::Secret {
            name: "TOKEN".into()
        }
    );
    // The pid is the step's own view: small, never the init's 1.
    assert!(leak.pid > 1 && leak.pid < 100, "{leak:?}");
    assert!(!format!("{report:?}").contains(secret));
    // Without sweeps asked for, no report.
    let r = run(&ex, sh("true", ws.path())).await;
    assert_eq!(r.outcome.expect("runs").sweep, None);
}
