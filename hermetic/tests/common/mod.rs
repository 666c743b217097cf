//! Shared helpers of the end-to-end executor tests: run a shell script through any executor,
//! collect its output, make workspaces the sandbox identity can write, and find survivors.
//!
//! Tests that need something this host lacks print `SKIP <test>: <reason>` and return; a skip is
//! never reported as a check that passed.
#![allow(dead_code)]

pub mod checks;
pub mod vm;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use hermetic::{
    ExecError, Executor, HostIdentity, NamespaceExecutor, OutputChunk, OutputStream, StepOutcome,
    StepSpec,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// What a run produced.
pub struct Run {
    pub outcome: Result<StepOutcome, ExecError>,
    pub chunks: Vec<(Instant, OutputChunk)>,
    pub started: Instant,
}

impl Run {
    pub fn outcome(&self) -> &StepOutcome {
        match &self.outcome {
            Ok(o) => o,
            Err(e) => panic!("step did not run: {e}"),
        }
    }

    pub fn stream(&self, which: OutputStream) -> String {
        let bytes: Vec<u8> = self
            .chunks
            .iter()
            .filter(|(_, c)| c.stream == which)
            .flat_map(|(_, c)| c.bytes.clone())
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    pub fn stdout(&self) -> String {
        self.stream(OutputStream::Stdout)
    }

    pub fn stderr(&self) -> String {
        self.stream(OutputStream::Stderr)
    }
}

/// `/bin/sh -c script` in `dir` with only `PATH` (and `WS=dir`) in its environment.
pub fn sh(script: &str, dir: &Path) -> StepSpec {
    StepSpec::new("/bin/sh", dir)
        .arg("-c")
        .arg(script)
        .env("PATH", PATH)
        .env("WS", dir)
}

/// Runs `step`, collecting output as it arrives; `cancel_when` cancels once the stdout seen so
/// far contains that text.
pub async fn run_with(executor: &dyn Executor, step: StepSpec, cancel_when: Option<&str>) -> Run {
    let (tx, mut rx) = mpsc::channel::<OutputChunk>(16);
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let trigger = cancel.clone();
    let needle = cancel_when.map(str::to_owned);
    let collect = async move {
        let mut chunks = Vec::new();
        let mut seen = Vec::new();
        while let Some(chunk) = rx.recv().await {
            if chunk.stream == OutputStream::Stdout {
                seen.extend_from_slice(&chunk.bytes);
            }
            if let Some(n) = &needle {
                if String::from_utf8_lossy(&seen).contains(n.as_str()) {
                    trigger.cancel();
                }
            }
            chunks.push((Instant::now(), chunk));
        }
        chunks
    };
    let (outcome, chunks) = tokio::join!(executor.run(step, tx, cancel), collect);
    Run {
        outcome,
        chunks,
        started,
    }
}

pub async fn run(executor: &dyn Executor, step: StepSpec) -> Run {
    run_with(executor, step, None).await
}

/// A fresh directory the step can write: under the target directory (not `/tmp`, which the
/// sandbox replaces), owned by `identity` when the tests run as root.
pub fn workspace(identity: Option<HostIdentity>) -> tempfile::TempDir {
    let base = std::env::var_os("HRUN_TEST_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&base).expect("test temp base");
    let dir = tempfile::Builder::new()
        .prefix("hrun-ws-")
        .tempdir_in(&base)
        .expect("temp dir");
    if let Some(id) = identity {
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::chown(dir.path(), Some(id.uid), Some(id.gid)).expect("chown");
        }
    }
    dir
}

/// The namespace sandbox, or `None` after printing why this host cannot run it.
pub fn namespace_or_skip(
    test: &str,
    make: impl FnOnce() -> hermetic::SandboxConfig,
) -> Option<NamespaceExecutor> {
    if let Err(reason) = NamespaceExecutor::probe() {
        eprintln!("SKIP {test}: the namespace sandbox is unavailable here: {reason}");
        return None;
    }
    Some(NamespaceExecutor::new(make()).expect("sandbox config"))
}

/// Host pids of live (not zombie) processes whose command line contains `marker`.
pub fn live_processes_with(marker: &str) -> Vec<i32> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(marker) && !is_zombie_or_gone(pid) && pid != std::process::id() as i32 {
            found.push(pid);
        }
    }
    found
}

pub fn is_zombie_or_gone(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(") ")
            .map(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X'))
            .unwrap_or(true),
    }
}

/// Waits (bounded) until no live process has `marker` in its command line; returns survivors.
pub fn survivors_after(marker: &str, wait: Duration) -> Vec<i32> {
    let deadline = Instant::now() + wait;
    loop {
        let live = live_processes_with(marker);
        if live.is_empty() || Instant::now() > deadline {
            return live;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A marker unique to this test process and call, to find processes by command line.
pub fn marker(tag: &str) -> String {
    static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // `sleep` accepts a decimal number of seconds: the marker is a distinctive duration.
    format!("{}.{}{}", 900 + n, std::process::id(), tag.len())
}
