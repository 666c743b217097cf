//! Running `hrun` against the fake GitHub: the binary, with the runner's directory and cache in
//! a test's temporary directory, registration, and job messages built from the fixture.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{json, Value as Json};

use super::FakeGithub;

/// The job message of `job_request_matrix.json`.
pub const MATRIX_JOB: &str = include_str!("../fixtures/github/job_request_matrix.json");

/// `hrun ARGS --dir DIR`, its cache under `DIR/cache`.
pub fn hrun(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hrun"));
    cmd.args(args)
        .arg("--dir")
        .arg(dir)
        .env("HRUN_CACHE", dir.join("cache"))
        .env("NO_COLOR", "1")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd`, killing it if it outlives `limit`.
pub async fn output(mut cmd: Command, limit: Duration) -> Output {
    let child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start hrun");
    let pid = child.id();
    let waiting = tokio::task::spawn_blocking(move || child.wait_with_output());
    match tokio::time::timeout(limit, waiting).await {
        Ok(Ok(Ok(out))) => out,
        _ => {
            // SAFETY: kill(2) on the pid of the child this test started.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("hrun did not finish within {limit:?}");
        }
    }
}

/// Status, stdout and stderr, for assertion messages.
pub fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `hrun register` against the fake, ephemeral, labels `gpu,fast`.
pub async fn register(fake: &FakeGithub, dir: &Path) {
    let out = output(
        hrun(
            dir,
            &[
                "register",
                "--url",
                &fake.url(),
                "--token",
                "REGTOKEN",
                "--name",
                "r1",
                "--labels",
                "gpu,fast",
                "--ephemeral",
            ],
        ),
        Duration::from_secs(120),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
}

/// Whether the namespace sandbox runs here; otherwise the job runs with `--sandbox none`.
pub fn sandbox() -> &'static str {
    let probe = Command::new("unshare")
        .args([
            "--user",
            "--map-root-user",
            "--mount",
            "--pid",
            "--fork",
            "true",
        ])
        .output();
    match probe {
        Ok(o) if o.status.success() => "namespace",
        _ => {
            eprintln!("note: the namespace sandbox is not available here; the job runs with --sandbox none");
            "none"
        }
    }
}

/// `hrun run --ephemeral` with short renewals and retries.
pub async fn run(dir: &Path, sandbox: &str) -> Output {
    run_with(dir, sandbox, &[]).await
}

/// [`run`] with more arguments.
pub async fn run_with(dir: &Path, sandbox: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "run",
        "--ephemeral",
        "--sandbox",
        sandbox,
        "--renew-interval",
        "0.5",
        "--retry-base",
        "0.05",
    ];
    args.extend_from_slice(extra);
    output(hrun(dir, &args), Duration::from_secs(240)).await
}

/// The fixture's job with these steps and no outputs.
pub fn with_steps(steps: Json) -> String {
    let mut job: Json = serde_json::from_str(MATRIX_JOB).expect("fixture");
    job["steps"] = steps;
    job["jobOutputs"] = Json::Null;
    job.to_string()
}

/// A `run:` step with this id and script.
pub fn script_step(id: &str, script: &str) -> Json {
    json!({"type": "action", "reference": {"type": "script"}, "contextName": id,
           "displayNameToken": format!("Run {id}"), "condition": "success()",
           "inputs": {"type": 2, "map": [{"Key": "script", "Value": script}]},
           "id": format!("22222222-0000-4000-8000-{:012}", id.len()), "name": id})
}
