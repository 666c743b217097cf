//! End to end against the fake GitHub: a job's remote actions are resolved through its action
//! download endpoint, checked against their pins (nested composite actions included) and fetched
//! by tarball into the action store before the job runs; what goes wrong fails the job naming the
//! action.

mod fake_github;

use fake_github::cli::{register, run, sandbox, text, with_steps};
use fake_github::tarball::action_tarball;
use fake_github::{FakeAction, FakeGithub};
use serde_json::{json, Value as Json};

const OUTER_SHA: &str = "1111111111111111111111111111111111111111";
const INNER_SHA: &str = "2222222222222222222222222222222222222222";

/// `octo/outer`: a composite action whose output comes from `octo/inner`, another one.
fn outer_and_inner() -> (FakeAction, FakeAction) {
    let outer = format!(
        "name: outer\noutputs:\n  said:\n    value: ${{{{ steps.inner.outputs.said }}}}\nruns:\n  using: composite\n  steps:\n    - id: inner\n      uses: octo/inner@{INNER_SHA}\n      with:\n        who: outer\n"
    );
    let inner = "name: inner\ninputs:\n  who:\n    required: true\noutputs:\n  said:\n    value: ${{ steps.say.outputs.said }}\nruns:\n  using: composite\n  steps:\n    - id: say\n      shell: bash\n      run: echo \"said=hello from inner to ${{ inputs.who }}\" >> \"$GITHUB_OUTPUT\"\n";
    (
        FakeAction::pinned(
            "octo/outer",
            OUTER_SHA,
            action_tarball("octo/outer", OUTER_SHA, &[("action.yml", &outer)]),
        ),
        FakeAction::pinned(
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
