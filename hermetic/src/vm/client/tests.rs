//! The client against the real agent loop (on a thread, over a socket pair, with a test
//! machine that runs steps on the host as a uid of their own), and against fake agents that
//! misbehave.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::net::UnixStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::guest::testing::{test_uid, DirMachine};
use crate::guest::{GuestAgent, ServeEnd};
use crate::vm::protocol::{read_frame, write_frame};
use crate::vm::protocol::{FailureKind, Hello};
use crate::{Containment, Ending, ExecError, ExitStatus, LimitStatus};

struct Harness {
    _dir: tempfile::TempDir,
    host: PathBuf,
    guest: PathBuf,
    uid: u32,
    machine: DirMachine,
    client: AgentClient<UnixStream>,
    agent: Option<JoinHandle<Result<ServeEnd, String>>>,
}

impl Harness {
    /// An agent thread and a client that has received Hello and set the machine up.
    async fn ready() -> Harness {
        let mut h = Harness::started();
        let hello = h.client.hello().await.unwrap();
        assert_eq!(hello.kernel_release, "test-kernel");
        h.client
            .setup(&Setup::new("hrun-test", h.uid, h.uid))
            .await
            .unwrap();
        h
    }

    fn started() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        // The step user must be able to reach its directories.
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
        let host = dir.path().join("host");
        let guest = dir.path().join("guest");
        fs::create_dir(&host).unwrap();
        fs::create_dir(&guest).unwrap();
        let machine = DirMachine::new(&guest);
        let (ours, theirs) = StdUnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let thread_machine = machine.clone();
        let agent = std::thread::spawn(move || {
            GuestAgent::new(thread_machine, theirs)
                .serve()
                .map_err(|e| e.to_string())
        });
        Harness {
            _dir: dir,
            host,
            guest,
            uid: test_uid(),
            machine,
            client: AgentClient::new(UnixStream::from_std(ours).unwrap()),
            agent: Some(agent),
        }
    }

    /// A host directory (writable by the step user once pushed) with a few files.
    fn workspace(&self) -> PathBuf {
        let ws = self.host.join("ws");
        fs::create_dir_all(ws.join("src")).unwrap();
        fs::write(ws.join("src/main.c"), b"int main(){}\n").unwrap();
        fs::write(ws.join("README"), b"hello\n").unwrap();
        ws
    }

    fn guest_path(&self, host_path: &Path) -> PathBuf {
        self.guest.join(host_path.strip_prefix("/").unwrap())
    }

    async fn run(&mut self, step: StepSpec) -> (Result<StepOutcome, AgentError>, String, String) {
        let (tx, rx) = mpsc::channel(64);
        let result = self
            .client
            .run_step(&step, tx, CancellationToken::new())
            .await;
        let (out, err) = collect(rx).await;
        (result, out, err)
    }

    async fn shutdown(mut self) {
        self.client.shutdown().await.unwrap();
        let end = self.agent.take().unwrap().join().unwrap();
        assert_eq!(end, Ok(ServeEnd::Shutdown));
    }
}

async fn collect(mut rx: mpsc::Receiver<OutputChunk>) -> (String, String) {
    let (mut out, mut err) = (String::new(), String::new());
    while let Some(chunk) = rx.recv().await {
        let text = String::from_utf8_lossy(&chunk.bytes);
        match chunk.stream {
            OutputStream::Stdout => out.push_str(&text),
            OutputStream::Stderr => err.push_str(&text),
        }
    }
    (out, err)
}

fn sh(script: &str, cwd: &Path) -> StepSpec {
    StepSpec::new("sh", cwd)
        .arg("-c")
        .arg(script)
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
}

#[tokio::test]
async fn a_step_streams_output_and_returns_its_exit_code() {
    let mut h = Harness::ready().await;
    let ws = h.workspace();
    h.client
        .push(&ws, Access::Writable, &Manifest::empty())
        .await
        .unwrap();
    let (outcome, out, err) = h.run(sh("echo out; echo err >&2; exit 3", &ws)).await;
    let outcome = outcome.unwrap();
    assert_eq!(outcome.status, ExitStatus::Code(3));
    assert_eq!(outcome.ending, Ending::Exited);
    assert_eq!(outcome.containment, Containment::Guest);
    assert!(outcome.output_complete);
    assert_eq!((out.as_str(), err.as_str()), ("out\n", "err\n"));
    let setups = h.machine.setups.lock().unwrap().clone();
    assert_eq!(setups.len(), 1);
    assert_eq!(setups[0].hostname, "hrun-test");
    h.shutdown().await;
}

#[tokio::test]
async fn a_step_runs_as_the_step_user_with_exactly_its_environment_and_no_stdin() {
    let mut h = Harness::ready().await;
    let ws = h.workspace();
    h.client
        .push(&ws, Access::Writable, &Manifest::empty())
        .await
        .unwrap();
    let env = StepSpec::new("env", &ws)
        .env("PATH", "/usr/bin:/bin")
        .env("ONLY", "this");
    let (outcome, out, _) = h.run(env).await;
    assert!(outcome.unwrap().status.success());
    assert_eq!(out, "ONLY=this\nPATH=/usr/bin:/bin\n");
    let (outcome, out, _) = h.run(sh("id -u; id -g; id -G; cat; pwd", &ws)).await;
    assert!(outcome.unwrap().status.success());
    let uid = h.uid;
    assert_eq!(
        out,
        format!("{uid}\n{uid}\n{uid}\n{}\n", h.guest_path(&ws).display())
    );
    h.shutdown().await;
}

#[tokio::test]
async fn a_step_past_its_timeout_is_killed() {
    let mut h = Harness::ready().await;
    let ws = h.workspace();
    h.client
        .push(&ws, Access::Writable, &Manifest::empty())
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let (outcome, _, _) = h
        .run(sh("sleep 30", &ws).timeout(Duration::from_millis(300)))
        .await;
    let outcome = outcome.unwrap();
    assert_eq!(outcome.ending, Ending::TimedOut);
    assert_eq!(outcome.status, ExitStatus::Signal(libc::SIGKILL));
    assert!(started.elapsed() < Duration::from_secs(10));
    h.shutdown().await;
}

async fn cancel_after_ready(h: &mut Harness, step: StepSpec) -> (StepOutcome, String) {
    let (tx, mut rx) = mpsc::channel::<OutputChunk>(64);
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let watcher = tokio::spawn(async move {
        let mut out = String::new();
        while let Some(chunk) = rx.recv().await {
            out.push_str(&String::from_utf8_lossy(&chunk.bytes));
            if out.contains("ready") {
                trigger.cancel();
            }
        }
        out
    });
    let outcome = h.client.run_step(&step, tx, cancel).await.unwrap();
    (outcome, watcher.await.unwrap())
}

#[tokio::test]
async fn cancel_interrupts_every_process_of_the_step() {
    let mut h = Harness::ready().await;
    let ws = h.workspace();
    h.client
        .push(&ws, Access::Writable, &Manifest::empty())
        .await
        .unwrap();
    let script = "trap 'echo interrupted; exit 7' INT; echo ready; while :; do sleep 0.05; done";
    let (outcome, out) = cancel_after_ready(&mut h, sh(script, &ws)).await;
    assert_eq!(outcome.ending, Ending::Cancelled);
    assert_eq!(outcome.status, ExitStatus::Code(7));
    assert!(out.contains("interrupted"), "{out}");
    h.shutdown().await;
}

#[tokio::test]
async fn cancel_kills_a_step_that_ignores_sigint_after_the_grace() {
    let mut h = Harness::ready().await;
    let ws = h.workspace();
    h.client
        .push(&ws, Access::Writable, &Manifest::empty())
        .await
        .unwrap();
    let script = "trap '' INT; echo ready; while :; do sleep 0.05; done";
    let step = sh(script, &ws).cancel_grace(Duration::from_millis(200));
    let (outcome, _) = cancel_after_ready(&mut h, step).await;
    assert_eq!(outcome.ending, Ending::Cancelled);
    assert_eq!(outcome.status, ExitStatus::Signal(libc::SIGKILL));
    h.shutdown().await;
}

#[tokio::test]
async fn no_process_of_the_step_user_outlives_the_step() {
    let mut h = Harness::ready().await;
    let ws = h.workspace();
    h.client
        .push(&ws, Access::Writable, &Manifest::empty())
        .await
        .unwrap();
    let (outcome, _, _) = h
        .run(sh(
            "setsid sleep 1000 >/dev/null 2>&1 & (sleep 1000 &) ; echo started",
            &ws,
        ))
        .await;
    assert!(outcome.unwrap().status.success());
    assert_eq!(
        crate::guest::testing::live_processes(h.uid),
        Vec::<i32>::new()
    );
    h.shutdown().await;
}

/// Sweeps for `TOKEN` (and the built-in rule pack).
fn sweep_for_token(value: &str) -> crate::sweep::SweepConfig {
    let mut secrets = crate::scan::KnownSecrets::new();
    secrets.add("TOKEN", value);
    let rules = std::sync::Arc::new(crate::scan::Scanner::new(crate::scan::RulePack::builtin()));
    crate::sweep::SweepConfig::new(std::sync::Arc::new(secrets), Some(rules))
}

#[tokio::test]
async fn the_agent_sweeps_a_secret_exported_under_a_new_name_into_a_background_process() {
    use crate::sweep::{SweepLocation, SweepMatch};
    let mut h = Harness::ready().await;
    let ws = h.workspace();
    h.client
        .push(&ws, Access::Writable, &Manifest::empty())
        .await
        .unwrap();
    let secret = "guest-sw33p-value-1234";
    let step = sh("export LEAKED=\"$TOKEN\"; sleep 5 & echo started", &ws)
        .env("TOKEN", secret)
        .sweep(sweep_for_token(secret));
    let started = std::time::Instant::now();
    let (outcome, out, _) = h.run(step).await;
    let outcome = outcome.unwrap();
    assert!(outcome.status.success());
    assert_eq!(out, "started\n");
    assert!(started.elapsed() < Duration::from_secs(5));
    let report = outcome.sweep.expect("a sweep report");
    assert!(report.sweeps >= 1 && report.note.is_none(), "{report:?}");
    let leaks: Vec<_> = report
        .findings
        .iter()
        .filter(|f| {
            f.location
                == SweepLocation::Environ {
                    variable: "LEAKED".into(),
                }
        })
        .collect();
    assert_eq!(leaks.len(), 1, "{report:?}");
    assert_eq!(leaks[0].comm, "sleep");
    assert_eq!(
        leaks[0].found,
        SweepMatch::Secret {
            name: "TOKEN".into()
        }
    );
    assert!(
        !report.findings.iter().any(|f| f.location
            == SweepLocation::Environ {
                variable: "TOKEN".into()
            }),
        "the variable the step was given is no leak: {report:?}"
    );
    // A step that asks for no sweeps gets no report.
    let (outcome, _, _) = h.run(sh("true", &ws)).await;
    assert_eq!(outcome.unwrap().sweep, None);
    h.shutdown().await;
}

#[tokio::test]
async fn an_agent_that_does_not_sweep_is_sent_no_secrets_and_the_outcome_says_why() {
    let mut client = fake_agent(|mut s| {
        send_reply(&mut s, &hello(PROTOCOL_VERSION));
        let frame = read_frame(&mut s).unwrap().unwrap();
        let text = String::from_utf8_lossy(&frame.payload).into_owned();
        assert!(
            !text.contains("sweep") && !text.contains("never-sent-secret"),
            "{text}"
        );
        send_reply(
            &mut s,
            &Reply::StepEnded(crate::vm::protocol::StepEnded {
                status: crate::vm::protocol::WireStatus::Code(0),
                ending: crate::vm::protocol::WireEnding::Exited,
                usage: crate::vm::protocol::WireUsage::default(),
                limits: Vec::new(),
                output_complete: true,
                sweep: None,
            }),
        );
    });
    client.hello().await.unwrap();
    let step = sh("true", Path::new("/")).sweep(sweep_for_token("never-sent-secret"));
    let (tx, _rx) = mpsc::channel(8);
    let outcome = client
        .run_step(&step, tx, CancellationToken::new())
        .await
        .unwrap();
    let note = outcome.sweep.and_then(|r| r.note).unwrap_or_default();
    assert!(note.contains("does not sweep"), "{note}");
}

#[tokio::test]
async fn a_missing_program_or_directory_is_an_error_and_the_agent_keeps_serving() {
    let mut h = Harness::ready().await;
    let ws = h.workspace();
    h.client
        .push(&ws, Access::Writable, &Manifest::empty())
        .await
        .unwrap();
    let (result, _, _) = h
        .run(StepSpec::new("no-such-program-hrun", &ws).env("PATH", "/usr/bin"))
        .await;
    assert!(
        matches!(result, Err(AgentError::ProgramNotFound { .. })),
        "{result:?}"
    );
    let exec: ExecError = result.unwrap_err().into();
    assert!(matches!(exec, ExecError::ProgramNotFound { .. }));
    let (result, _, _) = h.run(sh("true", &ws.join("missing"))).await;
    assert!(
        matches!(result, Err(AgentError::WorkingDir { .. })),
        "{result:?}"
    );
    let (result, _, _) = h.run(sh("true", &ws)).await;
    assert!(result.unwrap().status.success());
    h.shutdown().await;
}

#[tokio::test]
async fn the_process_limit_is_applied_and_reported() {
    let mut h = Harness::ready().await;
    let ws = h.workspace();
    h.client
        .push(&ws, Access::Writable, &Manifest::empty())
        .await
        .unwrap();
    let limits = crate::ResourceLimits {
        max_processes: Some(3),
        memory_bytes: Some(1 << 30),
    };
    let script = "for i in 1 2 3 4 5 6; do sleep 1 & done 2>/dev/null; wait; echo done";
    let (outcome, _, _) = h.run(sh(script, &ws).limits(limits)).await;
    let outcome = outcome.unwrap();
    assert!(outcome.usage.wall < Duration::from_secs(10));
    assert_eq!(outcome.limits.len(), 2);
    assert!(matches!(
        outcome.limits[0].status,
        LimitStatus::Applied { .. }
    ));
    assert!(matches!(
        outcome.limits[1].status,
        LimitStatus::NotApplied { .. }
    ));
    h.shutdown().await;
}

#[tokio::test]
async fn a_workspace_goes_in_whole_and_comes_back_with_the_steps_changes() {
    let mut h = Harness::ready().await;
    let ws = h.workspace();
    let (manifest, stats) = h
        .client
        .push(&ws, Access::Writable, &Manifest::empty())
        .await
        .unwrap();
    assert_eq!((stats.files, stats.dirs), (2, 1));
    let guest_ws = h.guest_path(&ws);
    assert_eq!(fs::read(guest_ws.join("README")).unwrap(), b"hello\n");
    assert_eq!(fs::metadata(&guest_ws).unwrap().uid(), h.uid);
    assert_eq!(
        fs::metadata(guest_ws.join("src/main.c")).unwrap().uid(),
        h.uid
    );

    let script = "echo built > out.bin && chmod 755 out.bin && rm README && mkdir -p dist/x && ln -s ../out.bin dist/link";
    let (outcome, _, err) = h.run(sh(script, &ws)).await;
    assert!(outcome.unwrap().status.success(), "{err}");
    let (manifest2, pulled) = h.client.pull(&ws).await.unwrap();
    assert_eq!(pulled.removed, 1);
    assert_eq!(fs::read(ws.join("out.bin")).unwrap(), b"built\n");
    assert_eq!(
        fs::metadata(ws.join("out.bin")).unwrap().mode() & 0o777,
        0o755
    );
    assert!(!ws.join("README").exists());
    assert_eq!(
        fs::read_link(ws.join("dist/link")).unwrap(),
        PathBuf::from("../out.bin")
    );
    assert_ne!(manifest, manifest2);

    // The engine writes between steps; only that goes in.
    fs::write(ws.join("env-file"), b"A=1\n").unwrap();
    let (_, stats) = h
        .client
        .push(&ws, Access::Writable, &manifest2)
        .await
        .unwrap();
    assert_eq!(
        (stats.files, stats.dirs, stats.symlinks, stats.removed),
        (1, 0, 0, 0)
    );
    let (outcome, out, _) = h.run(sh("cat env-file", &ws)).await;
    assert!(outcome.unwrap().status.success());
    assert_eq!(out, "A=1\n");
    // Nothing changed in the guest: an empty delta.
    let (_, pulled) = h.client.pull(&ws).await.unwrap();
    assert_eq!(pulled, SyncStats::default());
    h.shutdown().await;
}

#[tokio::test]
async fn a_read_only_directory_belongs_to_root_and_is_sealed() {
    let mut h = Harness::ready().await;
    let actions = h.host.join("actions");
    fs::create_dir(&actions).unwrap();
    fs::write(actions.join("action.yml"), b"name: x\n").unwrap();
    h.client
        .push(&actions, Access::ReadOnly, &Manifest::empty())
        .await
        .unwrap();
    let guest = h.guest_path(&actions);
    assert_eq!(fs::metadata(guest.join("action.yml")).unwrap().uid(), 0);
    assert_eq!(h.machine.sealed.lock().unwrap().clone(), vec![guest]);
    h.shutdown().await;
}

#[tokio::test]
async fn requests_before_setup_and_a_wrong_version_are_refused() {
    let mut h = Harness::started();
    h.client.hello().await.unwrap();
    let ws = h.workspace();
    let (result, _, _) = h.run(sh("true", &ws)).await;
    assert!(
        matches!(
            result,
            Err(AgentError::Refused {
                kind: FailureKind::Protocol,
                ..
            })
        ),
        "{result:?}"
    );
    let mut setup = Setup::new("x", h.uid, h.uid);
    setup.version = 99;
    let err = h.client.setup(&setup).await.unwrap_err();
    assert!(err.to_string().contains("version 99"), "{err}");
    let root = h.client.setup(&Setup::new("x", 0, 0)).await.unwrap_err();
    assert!(matches!(
        root,
        AgentError::Refused {
            kind: FailureKind::InvalidRequest,
            ..
        }
    ));
    h.shutdown().await;
}

#[tokio::test]
async fn a_step_with_a_nul_byte_is_refused_before_sending() {
    let mut h = Harness::ready().await;
    let (result, _, _) = h.run(sh("true", Path::new("/")).env("A", "x\0y")).await;
    assert!(matches!(result, Err(AgentError::InvalidStep(_))));
    h.shutdown().await;
}

/// A fake agent: runs `script` on the guest end of a socket pair.
fn fake_agent(script: impl FnOnce(StdUnixStream) + Send + 'static) -> AgentClient<UnixStream> {
    let (ours, theirs) = StdUnixStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    std::thread::spawn(move || script(theirs));
    AgentClient::new(UnixStream::from_std(ours).unwrap())
}

fn send_reply(stream: &mut StdUnixStream, reply: &Reply) {
    let frame = control_frame(reply).unwrap();
    write_frame(stream, frame.kind, &frame.payload).unwrap();
}

fn hello(version: u32) -> Reply {
    Reply::Hello(Hello {
        version,
        agent_version: "0".into(),
        kernel_release: "k".into(),
        boot_ms: 1,
        notes: vec![],
        features: vec![],
    })
}

#[tokio::test]
async fn rejects_an_agent_of_another_protocol_version() {
    let mut client = fake_agent(|mut s| send_reply(&mut s, &hello(2)));
    let err = client.hello().await.unwrap_err();
    assert!(
        matches!(
            err,
            AgentError::Protocol(ProtocolError::VersionMismatch { host: 1, guest: 2 })
        ),
        "{err}"
    );
}

#[tokio::test]
async fn rejects_an_oversized_frame_with_a_clear_error() {
    let mut client = fake_agent(|mut s| {
        use std::io::Write;
        let _ = s.write_all(&[0x7f, 0xff, 0xff, 0xff, 1]);
        std::thread::sleep(Duration::from_millis(200));
    });
    let err = client.hello().await.unwrap_err();
    assert!(err.to_string().contains("over the limit"), "{err}");
}

#[tokio::test]
async fn a_closed_channel_is_reported() {
    let mut client = fake_agent(drop);
    assert!(matches!(client.hello().await, Err(AgentError::Closed)));
}

#[tokio::test]
async fn a_hostile_delta_from_the_guest_is_refused_and_writes_nothing_outside() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    fs::create_dir(&root).unwrap();
    let mut client = fake_agent(|mut s| {
        send_reply(&mut s, &hello(PROTOCOL_VERSION));
        // Wait for the Pull, then answer with a tar whose entry climbs out of the root.
        let _ = crate::vm::protocol::read_frame(&mut s);
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(5);
        h.set_mode(0o644);
        let name = b"../escaped";
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        let mut tar = h.as_bytes().to_vec();
        tar.extend_from_slice(b"pwned");
        tar.resize(512 * 2, 0);
        tar.extend_from_slice(&[0; 1024]);
        write_frame(&mut s, FrameKind::Tar, &tar).unwrap();
        write_frame(&mut s, FrameKind::End, &[]).unwrap();
        send_reply(&mut s, &Reply::Pulled(SyncStats::default()));
        std::thread::sleep(Duration::from_millis(200));
    });
    client.hello().await.unwrap();
    let err = client.pull(&root).await.unwrap_err();
    assert!(
        matches!(
            err,
            AgentError::Sync {
                source: SyncError::UnsafePath { .. },
                ..
            }
        ),
        "{err}"
    );
    assert!(!dir.path().join("escaped").exists());
}

#[tokio::test]
async fn a_call_abandoned_halfway_makes_the_client_refuse_further_calls() {
    let mut client = fake_agent(|s| {
        std::thread::sleep(Duration::from_millis(500));
        drop(s);
    });
    let abandoned = tokio::time::timeout(Duration::from_millis(50), client.hello()).await;
    assert!(abandoned.is_err());
    assert!(matches!(
        client.hello().await,
        Err(AgentError::Desynchronized)
    ));
}

#[tokio::test]
async fn a_guest_that_never_ends_a_step_is_given_up_on() {
    tokio::time::pause();
    let mut client = fake_agent(|mut s| {
        send_reply(&mut s, &hello(PROTOCOL_VERSION));
        // Swallow everything, answer nothing.
        let _ = std::io::copy(&mut s, &mut std::io::sink());
    });
    client.hello().await.unwrap();
    let step = StepSpec::new("x", "/").timeout(Duration::from_secs(1));
    let (tx, _rx) = mpsc::channel(1);
    let err = client
        .run_step(&step, tx, CancellationToken::new())
        .await
        .unwrap_err();
    assert!(matches!(err, AgentError::Unresponsive(_)), "{err}");
}
