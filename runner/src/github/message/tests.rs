//! Decoding whole job messages: the fixture shaped like GitHub's, errors with their places, and
//! property tests that no input panics.

use proptest::prelude::*;
use serde_json::{json, Value as Json};

use actions_compat::workflow::{OrExpr, StepKind, UsesRef};

use super::json::DecodeErrorKind;
use super::*;

const MATRIX_JOB: &str = include_str!("../../../tests/fixtures/github/job_request_matrix.json");

fn decoded() -> DecodedJob {
    let req = JobRequest::from_json_text(MATRIX_JOB).unwrap();
    to_job_description(&req).unwrap()
}

#[test]
fn the_fixture_decodes_into_a_job_description() {
    let job = decoded();
    let d = &job.description;
    assert_eq!(d.id, "build");
    assert_eq!(d.workflow_file, ".github/workflows/ci.yml");
    assert_eq!(d.steps.len(), 4);
    assert_eq!(d.given.matrix, json!({"os": "linux", "n": 2}));
    assert_eq!(d.given.strategy["job-total"], json!(2));
    assert_eq!(d.given.vars, json!({"GREETING": "hello"}));
    assert_eq!(d.given.github["event"]["forced"], json!(false));
    assert_eq!(
        d.given.github["token"],
        json!("ghs_fake_installation_token_0001")
    );
    assert_eq!(d.given.secrets.get("my_secret"), Some("s3cr3t-value-9182"));
    assert!(d.given.secrets.get("system.github.token").is_none());
    assert!(job.masks.contains(&"s3cr3t-value-9182".to_owned()));
    assert_eq!(d.outputs.len(), 2);
    assert_eq!(d.defaults.len(), 1);
    assert!(d.workflow_env.is_some() && d.env.is_some());
    assert_eq!(
        job.step_ids[2],
        (
            "greet".to_owned(),
            "11111111-0000-4000-8000-000000000003".to_owned()
        )
    );
}

#[test]
fn script_steps_keep_their_expressions_for_the_engine() {
    let job = decoded();
    let step = &job.description.steps[0];
    assert_eq!(step.id.value, "meta");
    assert!(!step.generated_id);
    let StepKind::Run { run, .. } = &step.kind else {
        panic!("run step expected")
    };
    let OrExpr::Expression(e) = &run.value else {
        panic!("expression expected")
    };
    assert!(e.expression.starts_with("format('echo"));
    assert!(e.paths.contains(&"matrix.os".to_owned()));
    assert_eq!((run.line, run.col), (14, 14));
    assert!(job.description.steps[1].generated_id);
}

#[test]
fn a_self_repository_step_is_a_local_action() {
    let job = decoded();
    let StepKind::Uses {
        uses, action, with, ..
    } = &job.description.steps[2].kind
    else {
        panic!("uses step expected")
    };
    assert_eq!(uses.value, "./act");
    assert!(matches!(action, UsesRef::Local(_)));
    assert!(with
        .as_ref()
        .unwrap()
        .as_literal()
        .unwrap()
        .contains_key("who"));
}

#[test]
fn a_repository_step_becomes_owner_repo_path_at_ref() {
    let doc = json!({"jobId": "j", "steps": [{"id": "s", "contextName": "co",
        "reference": {"type": "repository", "name": "actions/checkout", "ref": "v4",
                      "repositoryType": "GitHub", "path": "sub/dir"}}]});
    let req = JobRequest::decode(&doc).unwrap();
    let job = to_job_description(&req).unwrap();
    let StepKind::Uses { uses, .. } = &job.description.steps[0].kind else {
        panic!("uses step expected")
    };
    assert_eq!(uses.value, "actions/checkout/sub/dir@v4");
}

#[test]
fn job_containers_and_docker_steps_are_refused_as_not_supported_yet() {
    let doc = json!({"jobId": "j", "jobContainer": {"type": 2, "map": [{"Key": "image", "Value": "node:20"}]}});
    let err = to_job_description(&JobRequest::decode(&doc).unwrap()).unwrap_err();
    assert_eq!(err.path, "$.jobContainer");
    assert!(err.to_string().ends_with("not supported yet"), "{err}");

    let doc = json!({"jobId": "j", "steps": [{"id": "s",
        "reference": {"type": "containerRegistry", "image": "alpine:3"}}]});
    let err = to_job_description(&JobRequest::decode(&doc).unwrap()).unwrap_err();
    assert_eq!(err.path, "$.steps[0].reference");
    assert!(err.to_string().contains("docker actions"), "{err}");
}

#[test]
fn a_script_step_without_script_names_its_inputs() {
    let doc = json!({"jobId": "j", "steps": [{"id": "s", "reference": {"type": "script"},
        "inputs": {"type": 2, "map": [{"Key": "shell", "Value": "bash"}]}}]});
    let err = to_job_description(&JobRequest::decode(&doc).unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "$.steps[0].inputs: required member `script` is missing"
    );
}

#[test]
fn a_bad_expression_is_refused_with_its_place() {
    let doc = json!({"jobId": "j", "steps": [{"id": "s", "reference": {"type": "script"},
        "inputs": {"type": 2, "map": [{"Key": "script", "Value": {"type": 3, "expr": "format('x'"}}]}}]});
    let err = to_job_description(&JobRequest::decode(&doc).unwrap()).unwrap_err();
    assert_eq!(err.path, "$.steps[0].inputs.map[0].Value");
}

#[test]
fn not_json_is_an_error_not_a_panic() {
    let err = JobRequest::from_json_text("{\"jobId\": ").unwrap_err();
    assert!(matches!(err.kind, DecodeErrorKind::NotJson(_)));
    let deep = "[".repeat(10_000);
    assert!(JobRequest::from_json_text(&deep).is_err());
}

/// Any JSON value, up to a few levels deep, biased towards the shapes of the message.
fn any_json() -> impl Strategy<Value = Json> {
    let leaf = prop_oneof![
        Just(Json::Null),
        any::<bool>().prop_map(Json::Bool),
        (-10i64..10).prop_map(|n| json!(n)),
        prop_oneof![
            Just("script".to_owned()),
            Just("repository".to_owned()),
            Just("self".to_owned()),
            "[a-z$.(){}' ]{0,12}".prop_map(|s| s),
        ]
        .prop_map(Json::String),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        let key = prop_oneof![
            Just("type".to_owned()),
            Just("t".to_owned()),
            Just("map".to_owned()),
            Just("seq".to_owned()),
            Just("d".to_owned()),
            Just("a".to_owned()),
            Just("k".to_owned()),
            Just("v".to_owned()),
            Just("Key".to_owned()),
            Just("Value".to_owned()),
            Just("expr".to_owned()),
            Just("jobId".to_owned()),
            Just("steps".to_owned()),
            Just("reference".to_owned()),
            Just("inputs".to_owned()),
            Just("contextData".to_owned()),
            Just("id".to_owned()),
            "[a-z]{1,6}".prop_map(|s| s),
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Json::Array),
            prop::collection::vec((key, inner), 0..5)
                .prop_map(|pairs| Json::Object(pairs.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn decoding_any_json_never_panics(doc in any_json()) {
        if let Ok(req) = JobRequest::decode(&doc) {
            let _ = to_job_description(&req);
        }
        let root = json::Node::new(&doc, &json::ROOT);
        let _ = token::Token::decode(root);
        let _ = context_data::decode(root);
    }

    #[test]
    fn decoding_any_text_never_panics(text in "\\PC{0,200}") {
        let _ = JobRequest::from_json_text(&text);
    }

    #[test]
    fn a_mutated_fixture_never_panics(cut in 0usize..4000, byte in any::<u8>()) {
        let mut bytes = MATRIX_JOB.as_bytes().to_vec();
        if let Some(b) = bytes.get_mut(cut % MATRIX_JOB.len()) {
            *b = byte;
        }
        let text = String::from_utf8_lossy(&bytes);
        if let Ok(req) = JobRequest::from_json_text(&text) {
            let _ = to_job_description(&req);
        }
    }
}
