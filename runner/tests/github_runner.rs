//! End to end against a fake GitHub on loopback: `hrun register` then `hrun run --ephemeral`
//! take a job from the broker, run it in the sandbox, and report it; faults on the way
//! (a cancelled job, a token that expires mid-job, a storm of 5xx, a completion that first
//! fails) and the policy gate through the protocol. With a signing key in the runner's
//! configuration, a job leaves evidence that `hrun verify` accepts.

mod fake_github;

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use fake_github::FakeGithub;
use serde_json::{json, Value as Json};

const MATRIX_JOB: &str = include_str!("fixtures/github/job_request_matrix.json");

fn hrun(dir: &Path, args: &[&str]) -> Command {
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

async fn output(mut cmd: Command, limit: Duration) -> Output {
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

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

async fn register(fake: &FakeGithub, dir: &Path) {
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
fn sandbox() -> &'static str {
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

async fn run(dir: &Path, sandbox: &str) -> Output {
    run_with(dir, sandbox, &[]).await
}

async fn run_with(dir: &Path, sandbox: &str, extra: &[&str]) -> Output {
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

fn with_steps(steps: Json) -> String {
    let mut job: Json = serde_json::from_str(MATRIX_JOB).expect("fixture");
    job["steps"] = steps;
    job["jobOutputs"] = Json::Null;
    job.to_string()
}

fn script_step(id: &str, script: &str) -> Json {
    json!({"type": "action", "reference": {"type": "script"}, "contextName": id,
           "displayNameToken": format!("Run {id}"), "condition": "success()",
           "inputs": {"type": 2, "map": [{"Key": "script", "Value": script}]},
           "id": format!("22222222-0000-4000-8000-{:012}", id.len()), "name": id})
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

const OUTER_SHA: &str = "1111111111111111111111111111111111111111";
const INNER_SHA: &str = "2222222222222222222222222222222222222222";

/// A repository tarball as GitHub's API serves it: a pax global header naming the commit, then
/// everything under one `owner-repo-<short sha>/` directory.
fn action_tarball(name: &str, sha: &str, files: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut builder = tar::Builder::new(Vec::new());
    let record = format!("52 comment={sha}\n");
    let mut global = tar::Header::new_ustar();
    global.set_entry_type(tar::EntryType::XGlobalHeader);
    global.set_path("pax_global_header").expect("path");
    global.set_size(record.len() as u64);
    global.set_mode(0o644);
    global.set_cksum();
    builder
        .append(&global, record.as_bytes())
        .expect("global header");
    let top = format!("{}-{}/", name.replace('/', "-"), &sha[..7]);
    let mut dir = tar::Header::new_gnu();
    dir.set_entry_type(tar::EntryType::Directory);
    dir.set_mode(0o755);
    dir.set_size(0);
    builder
        .append_data(&mut dir, &top, std::io::empty())
        .expect("dir");
    for (path, text) in files {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(text.len() as u64);
        builder
            .append_data(&mut header, format!("{top}{path}"), text.as_bytes())
            .expect("file");
    }
    let tar = builder.into_inner().expect("tar");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).expect("gzip");
    gz.finish().expect("gzip")
}

/// `octo/outer`: a composite action whose output comes from `octo/inner`, another one.
fn outer_and_inner() -> (fake_github::FakeAction, fake_github::FakeAction) {
    let outer = format!(
        "name: outer\noutputs:\n  said:\n    value: ${{{{ steps.inner.outputs.said }}}}\nruns:\n  using: composite\n  steps:\n    - id: inner\n      uses: octo/inner@{INNER_SHA}\n      with:\n        who: outer\n"
    );
    let inner = "name: inner\ninputs:\n  who:\n    required: true\noutputs:\n  said:\n    value: ${{ steps.say.outputs.said }}\nruns:\n  using: composite\n  steps:\n    - id: say\n      shell: bash\n      run: echo \"said=hello from inner to ${{ inputs.who }}\" >> \"$GITHUB_OUTPUT\"\n";
    (
        fake_github::FakeAction::pinned(
            "octo/outer",
            OUTER_SHA,
            action_tarball("octo/outer", OUTER_SHA, &[("action.yml", &outer)]),
        ),
        fake_github::FakeAction::pinned(
            "octo/inner",
            INNER_SHA,
            action_tarball("octo/inner", INNER_SHA, &[("action.yml", inner)]),
        ),
    )
}

/// A job whose one step uses `octo/outer`, with the action download endpoint in its variables
/// and `said` as its output.
fn remote_action_job() -> String {
    let mut job: Json = serde_json::from_str(&with_steps(json!([
        {"type": "action", "reference": {"type": "repository", "name": "octo/outer", "ref": OUTER_SHA, "repositoryType": "GitHub"},
         "contextName": "outer", "displayNameToken": "Run octo/outer", "condition": "success()",
         "id": "44444444-0000-4000-8000-000000000001", "name": "outer"}
    ])))
    .expect("job");
    job["variables"]["system.github.launch_endpoint"] =
        json!({"value": "__SERVER__/launch/", "isSecret": false});
    job["jobOutputs"] = json!({"type": 2, "map": [{"Key": "said", "Value": {"type": 3, "expr": "steps.outer.outputs.said"}}]});
    job.to_string()
}

fn first_annotation(completion: &Json) -> String {
    completion["annotations"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_composite_using_another_is_resolved_fetched_and_its_output_reported() {
    let fake = FakeGithub::start(remote_action_job()).await;
    let (outer, inner) = outer_and_inner();
    let tokens = (outer.token(), inner.token());
    let outer_tarball = outer.tarball.clone();
    fake.with(|s| s.actions = vec![outer, inner]);
    let dir = tempfile::tempdir().expect("tmp");
    register(&fake, dir.path()).await;
    fake.queue_job();
    let out = run(dir.path(), sandbox()).await;
    assert!(out.status.success(), "{}", text(&out));
    let (c, asked, tarballs) = fake.with(|s| {
        (
            s.completions.clone(),
            s.resolve_requests.clone(),
            s.tarball_requests.clone(),
        )
    });
    assert_eq!(c.len(), 1, "{}", text(&out));
    assert_eq!(
        c[0]["conclusion"],
        "succeeded",
        "{:#}\n{}",
        c[0],
        text(&out)
    );
    assert_eq!(
        c[0]["outputs"]["said"]["value"],
        "hello from inner to outer"
    );
    // One request per level: the job's action, then the one its composite uses.
    assert_eq!(
        asked,
        vec![
            json!({"actions": [{"action": "octo/outer", "version": OUTER_SHA}]}),
            json!({"actions": [{"action": "octo/inner", "version": INNER_SHA}]}),
        ]
    );
    // Each tarball asked with its own token (as GitHub's runner sends it), then the redirect.
    let basic = |t: &str| {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{t}"))
        )
    };
    let api: Vec<_> = tarballs
        .iter()
        .filter(|(p, _)| p.starts_with("/api/"))
        .collect();
    assert_eq!(api.len(), 2, "{tarballs:?}");
    assert_eq!(
        api[0].0,
        format!("/api/v3/repos/octo/outer/tarball/{OUTER_SHA}")
    );
    assert_eq!(api[0].1, basic(&tokens.0));
    assert_eq!(api[1].1, basic(&tokens.1));
    let all_output = text(&out);
    assert!(
        !all_output.contains(&tokens.0) && !all_output.contains(&basic(&tokens.0)),
        "a download token was logged"
    );
    // In the store, with the tarball's digest recorded.
    let record: Json = serde_json::from_slice(
        &std::fs::read(dir.path().join(format!(
            "cache/actions/octo/outer/{OUTER_SHA}/hrun-action.json"
        )))
        .expect("record"),
    )
    .expect("json");
    use sha2::Digest;
    let digest = format!("{:x}", sha2::Sha256::digest(&outer_tarball));
    assert_eq!(record["sha256"], digest.as_str());
    assert_eq!(
        record["origin"],
        format!(
            "{}/api/v3/repos/octo/outer/tarball/{OUTER_SHA}",
            fake.with(|s| s.base.clone())
        )
    );

    // A second job finds both in the store: resolved again, downloaded no more.
    fake.queue_job();
    let out = run(dir.path(), "none").await;
    assert!(out.status.success(), "{}", text(&out));
    let (c, asked, fetched) = fake.with(|s| {
        (
            s.completions.clone(),
            s.resolve_requests.len(),
            s.tarball_requests.len(),
        )
    });
    assert_eq!(c.len(), 2);
    assert_eq!(c[1]["conclusion"], "succeeded", "{:#}", c[1]);
    assert_eq!(asked, 4);
    assert_eq!(fetched, tarballs.len(), "nothing downloaded again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_action_resolved_to_another_commit_is_refused_by_the_policy_gate() {
    let fake = FakeGithub::start(remote_action_job()).await;
    let (outer, mut inner) = outer_and_inner();
    let moved = "3333333333333333333333333333333333333333";
    inner.resolved_sha = moved.to_owned();
    fake.with(|s| s.actions = vec![outer, inner]);
    let dir = tempfile::tempdir().expect("tmp");
    register(&fake, dir.path()).await;
    fake.queue_job();
    let out = run(dir.path(), "none").await;
    assert!(out.status.success(), "{}", text(&out));
    let (c, tarballs, blobs) = fake.with(|s| {
        (
            s.completions.clone(),
            s.tarball_requests.clone(),
            s.blobs.clone(),
        )
    });
    assert_eq!(c.len(), 1, "{}", text(&out));
    assert_eq!(c[0]["conclusion"], "failed");
    let message = first_annotation(&c[0]);
    assert!(
        message.starts_with("The policy gate refused the job: [unpinned-uses]"),
        "{message}"
    );
    assert!(
        message.contains(&format!("octo/inner@{INNER_SHA}"))
            && message.contains(moved)
            && message.contains(&format!("used by action `octo/outer@{OUTER_SHA}`")),
        "{message}"
    );
    assert!(
        tarballs.iter().all(|(p, _)| !p.contains("octo/inner")),
        "the refused action was downloaded: {tarballs:?}"
    );
    assert!(c[0]["stepResults"].as_array().is_none_or(|s| s.is_empty()));
    assert!(blobs.is_empty(), "nothing ran, nothing was logged");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_tarball_fails_the_job_naming_the_action() {
    let fake = FakeGithub::start(remote_action_job()).await;
    let (mut outer, inner) = outer_and_inner();
    outer.tarball_status = 404;
    fake.with(|s| s.actions = vec![outer, inner]);
    let dir = tempfile::tempdir().expect("tmp");
    register(&fake, dir.path()).await;
    fake.queue_job();
    let out = run(dir.path(), "none").await;
    assert!(out.status.success(), "{}", text(&out));
    let c = fake.with(|s| s.completions.clone());
    assert_eq!(c.len(), 1, "{}", text(&out));
    assert_eq!(c[0]["conclusion"], "failed");
    let message = first_annotation(&c[0]);
    assert!(
        message.contains(&format!("cannot fetch action `octo/outer@{OUTER_SHA}`"))
            && message.contains("HTTP 404"),
        "{message}"
    );
    assert!(!dir
        .path()
        .join(format!("cache/actions/octo/outer/{OUTER_SHA}"))
        .exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_action_github_cannot_resolve_fails_the_job_with_githubs_reason() {
    let fake = FakeGithub::start(remote_action_job()).await;
    let dir = tempfile::tempdir().expect("tmp");
    register(&fake, dir.path()).await;
    fake.queue_job();
    let out = run(dir.path(), "none").await;
    assert!(out.status.success(), "{}", text(&out));
    let (c, asked) = fake.with(|s| (s.completions.clone(), s.resolve_requests.len()));
    assert_eq!(asked, 1, "a 422 is not retried");
    assert_eq!(c.len(), 1, "{}", text(&out));
    assert_eq!(c[0]["conclusion"], "failed");
    let message = first_annotation(&c[0]);
    assert!(
        message.contains(&format!(
            "cannot resolve the action `octo/outer@{OUTER_SHA}`"
        )) && message.contains("repository not found"),
        "{message}"
    );
}
