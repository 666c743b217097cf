//! End to end against a fake GitHub on loopback: `hrun register` then `hrun run --ephemeral`
//! take a job from the broker, run it in the sandbox, and report it; faults on the way
//! (a cancelled job, a token that expires mid-job, a storm of 5xx, a completion that first
//! fails) and the policy gate through the protocol. With a signing key in the runner's
//! configuration, a job leaves evidence that `hrun verify` accepts.

mod fake_github;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use fake_github::cli::{
    hrun, output, register, run, run_with, sandbox, script_step, text, with_steps, MATRIX_JOB,
};
use fake_github::FakeGithub;
use serde_json::json;

/// A runner configuration whose `[evidence]` names a fresh key (relative to the file) and an
/// audit log; the public key's path.
fn evidence_config(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let keys = Command::new(env!("CARGO_BIN_EXE_hrun"))
        .args(["keys", "generate", "--kind", "p256", "--out"])
        .arg(dir.join("signer"))
        .output()
        .expect("hrun keys");
    assert!(keys.status.success(), "{}", text(&keys));
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        "[evidence]\nsigning_key = \"signer.key\"\naudit_dir = \"audit\"\n",
    )
    .expect("write config");
    (config, dir.join("signer.pub"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_then_runs_a_matrix_job_with_a_local_action_and_reports_it() {
    let fake = FakeGithub::start(MATRIX_JOB.to_owned()).await;
    let dir = tempfile::tempdir().expect("tmp");
    register(&fake, dir.path()).await;
    for name in [".runner", ".credentials", ".credentials_rsaparams"] {
        let mode = std::fs::metadata(dir.path().join(name)).expect(name).mode() & 0o777;
        assert_eq!(mode, 0o600, "{name}");
    }
    let registered = fake.with(|s| s.registered.clone()).expect("registered");
    assert!(registered["public_key"]
        .as_str()
        .unwrap_or_default()
        .starts_with("<RSAKeyValue><Modulus>"));
    assert!(registered["labels"].to_string().contains("gpu"));
    assert_eq!(registered["ephemeral"], json!(true));

    fake.queue_job();
    let (config, public) = evidence_config(dir.path());
    let config = config.display().to_string();
    let out = run_with(dir.path(), sandbox(), &["--config", &config]).await;
    assert!(out.status.success(), "{}", text(&out));
    let (completions, acknowledged, blobs, updates, metadata, renewals) = fake.with(|s| {
        (
            s.completions.clone(),
            s.acknowledged.clone(),
            s.blobs.clone(),
            s.step_updates.clone(),
            s.log_metadata.clone(),
            s.renewals,
        )
    });
    assert_eq!(acknowledged, vec!["req-1".to_owned()]);
    assert!(renewals >= 1);
    assert_eq!(completions.len(), 1, "{}", text(&out));
    let c = &completions[0];
    assert_eq!(c["conclusion"], "succeeded", "{c:#}\n{}", text(&out));
    assert_eq!(c["planId"], "6b5a6c1e-0000-4000-8000-000000000001");
    assert_eq!(c["jobId"], "a0b1c2d3-0000-4000-8000-000000000002");
    assert_eq!(c["outputs"]["os"]["value"], "linux-2");
    assert_eq!(c["outputs"]["greeting"]["value"], "hello linux-2");
    let steps = c["stepResults"].as_array().expect("step results");
    assert_eq!(steps.len(), 4);
    assert!(
        steps.iter().all(|s| s["conclusion"] == "succeeded"),
        "{steps:#?}"
    );
    assert_eq!(
        steps[0]["external_id"],
        "11111111-0000-4000-8000-000000000001"
    );
    assert_eq!(steps[0]["name"], "Describe linux");

    let blob = |name: &str| {
        blobs
            .iter()
            .find(|(n, _)| n.starts_with(name))
            .map(|(_, t)| t.clone())
            .unwrap_or_default()
    };
    assert!(
        blob("11111111-0000-4000-8000-000000000001").contains("vars=hello"),
        "{blobs:#?}"
    );
    let secret_log = blob("11111111-0000-4000-8000-000000000004");
    assert!(secret_log.contains("secret is ***"), "{secret_log}");
    assert!(blobs.iter().all(|(_, t)| !t.contains("s3cr3t-value-9182")));
    assert!(blob("job").contains("##[group]Greet"));
    assert_eq!(metadata.len(), 5, "4 step logs and the job log");
    let last = updates.last().expect("step updates");
    assert!(
        last["steps"]
            .as_array()
            .expect("steps")
            .iter()
            .all(|s| s["status"] == 6 && s["conclusion"] == 2),
        "{last:#}"
    );

    // The job's evidence, under the runner's directory, logged, and verified.
    let jobs: Vec<_> = std::fs::read_dir(dir.path().join("evidence"))
        .expect("the evidence directory")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let tar = jobs[0].join("evidence.tar");
    assert!(tar.is_file(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains(&tar.display().to_string()),
        "the evidence's path is logged: {}",
        text(&out)
    );
    let verify = Command::new(env!("CARGO_BIN_EXE_hrun"))
        .arg("verify")
        .arg(&tar)
        .arg("--key")
        .arg(&public)
        .args(["--source-repo", "octo/hello", "--source-ref", "main"])
        .output()
        .expect("hrun verify");
    assert_eq!(verify.status.code(), Some(0), "{}", text(&verify));
    let said = String::from_utf8_lossy(&verify.stdout);
    assert!(said.contains("verified: job "), "{said}");
    assert!(
        dir.path().join("audit/records.jsonl").is_file(),
        "the configured audit log holds the job's records"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_cancelled_by_github_is_reported_cancelled() {
    let job = with_steps(json!([script_step("long", "sleep 60")]));
    let fake = FakeGithub::start(job).await;
    let dir = tempfile::tempdir().expect("tmp");
    register(&fake, dir.path()).await;
    fake.with(|s| s.cancel_after_renewals = Some(2));
    fake.queue_job();
    let started = std::time::Instant::now();
    let out = run(dir.path(), "none").await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        started.elapsed() < Duration::from_secs(50),
        "the step was not stopped"
    );
    let c = fake.with(|s| s.completions.clone());
    assert_eq!(c.len(), 1, "{}", text(&out));
    assert_eq!(c[0]["conclusion"], "canceled", "{:#}", c[0]);
    assert_eq!(c[0]["stepResults"][0]["conclusion"], "canceled");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_runner_token_that_expires_mid_job_is_fetched_again() {
    let job = with_steps(json!([script_step("wait", "sleep 4; echo done")]));
    let fake = FakeGithub::start(job).await;
    let dir = tempfile::tempdir().expect("tmp");
    register(&fake, dir.path()).await;
    fake.with(|s| s.token_lifetime = Duration::from_secs(1));
    fake.queue_job();
    let out = run(dir.path(), "none").await;
    assert!(out.status.success(), "{}", text(&out));
    let (c, tokens, refused, busy) = fake.with(|s| {
        (
            s.completions.clone(),
            s.token_requests,
            s.unauthorized,
            s.polls_busy,
        )
    });
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["conclusion"], "succeeded");
    assert!(tokens >= 3, "only {tokens} tokens were fetched");
    assert!(busy >= 1, "the runner did not poll while busy");
    eprintln!("tokens fetched: {tokens}, requests refused with 401: {refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_5xx_is_ridden_out_with_backoff() {
    let job = with_steps(json!([script_step("hi", "echo hi")]));
    let fake = FakeGithub::start(job).await;
    let dir = tempfile::tempdir().expect("tmp");
    register(&fake, dir.path()).await;
    fake.with(|s| s.storm = 12);
    fake.queue_job();
    let out = run(dir.path(), "none").await;
    assert!(out.status.success(), "{}", text(&out));
    let (c, served) = fake.with(|s| (s.completions.clone(), s.storm_served));
    assert_eq!(served, 12);
    assert_eq!(c.len(), 1, "{}", text(&out));
    assert_eq!(c[0]["conclusion"], "succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completion_that_first_fails_is_retried_until_accepted() {
    let job = with_steps(json!([script_step("fail", "echo oops; exit 3")]));
    let fake = FakeGithub::start(job).await;
    let dir = tempfile::tempdir().expect("tmp");
    register(&fake, dir.path()).await;
    fake.with(|s| s.completion_failures = 3);
    fake.queue_job();
    let out = run(dir.path(), "none").await;
    assert!(out.status.success(), "{}", text(&out));
    let (c, attempts) = fake.with(|s| (s.completions.clone(), s.completion_attempts));
    assert_eq!(attempts, 4);
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["conclusion"], "failed");
    assert_eq!(c[0]["stepResults"][0]["conclusion"], "failed");
    let pending = dir.path().join("pending");
    let left = std::fs::read_dir(&pending).map(|d| d.count()).unwrap_or(0);
    assert_eq!(left, 0, "the accepted completion must leave pending/");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpinned_action_is_refused_by_the_policy_gate_with_its_message() {
    let job = with_steps(json!([
        script_step("before", "echo should-not-run"),
        {"type": "action", "reference": {"type": "repository", "name": "actions/checkout", "ref": "v4", "repositoryType": "GitHub"},
         "contextName": "checkout", "displayNameToken": "Run actions/checkout@v4", "condition": "success()",
         "id": "33333333-0000-4000-8000-000000000001", "name": "checkout"}
    ]));
    let fake = FakeGithub::start(job).await;
    let dir = tempfile::tempdir().expect("tmp");
    register(&fake, dir.path()).await;
    fake.queue_job();
    let out = run(dir.path(), "none").await;
    assert!(out.status.success(), "{}", text(&out));
    let (c, blobs) = fake.with(|s| (s.completions.clone(), s.blobs.clone()));
    assert_eq!(c.len(), 1);
    assert_eq!(c[0]["conclusion"], "failed");
    let message = c[0]["annotations"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("unpinned-uses") && message.contains("actions/checkout@v4"),
        "{message}"
    );
    assert!(
        blobs.iter().all(|(_, t)| !t.contains("should-not-run")),
        "a step ran"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remove_deregisters_and_deletes_the_identity() {
    let fake = FakeGithub::start(MATRIX_JOB.to_owned()).await;
    let dir = tempfile::tempdir().expect("tmp");
    register(&fake, dir.path()).await;
    let out = output(
        hrun(dir.path(), &["remove", "--token", "REMOVETOKEN"]),
        Duration::from_secs(60),
    )
    .await;
    assert!(out.status.success(), "{}", text(&out));
    assert!(fake.with(|s| s.removed));
    assert!(!dir.path().join(".runner").exists());
}
