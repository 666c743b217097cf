//! `on:` in its three forms, filters, schedules, dispatch and call inputs.

use super::*;

#[test]
fn reads_on_as_a_single_event() {
    let w = ok(&format!("on: push\n{JOBS}"));
    assert_eq!(w.on.events.keys().collect::<Vec<_>>(), ["push"]);
    assert_eq!((w.on.line, w.on.col), (1, 5));
}

#[test]
fn reads_on_as_a_list_of_events() {
    let w = ok(&format!("on: [push, workflow_dispatch, schedule]\n{JOBS}"));
    assert_eq!(
        w.on.events.keys().collect::<Vec<_>>(),
        ["push", "workflow_dispatch", "schedule"]
    );
    assert!(w.on.workflow_dispatch.is_some());
    assert!(w.on.schedule.is_empty());
}

#[test]
fn reads_on_as_a_mapping_with_filters_and_types() {
    let src = format!(
        "on:\n  push:\n    branches: main\n    tags-ignore: ['v*']\n    paths: [src/**]\n  pull_request_target:\n    types: [opened, synchronize]\n  issues:\n  schedule:\n    - cron: '0 */12 * * *'\n{JOBS}"
    );
    let w = ok(&src);
    let push = &w.on.events["push"];
    let branches: Vec<&str> = push
        .branches
        .as_ref()
        .unwrap()
        .iter()
        .map(|b| b.value.as_str())
        .collect();
    assert_eq!(branches, ["main"]);
    assert_eq!(push.tags_ignore.as_ref().unwrap()[0].value, "v*");
    assert_eq!(push.paths.as_ref().unwrap()[0].value, "src/**");
    let types = w.on.events["pull_request_target"].types.as_ref().unwrap();
    assert_eq!((types[1].value.as_str(), types[1].line), ("synchronize", 7));
    assert!(w.on.events["issues"].types.is_none());
    assert_eq!(w.on.schedule[0].cron.value, "0 */12 * * *");
}

#[test]
fn refuses_a_filter_left_empty_as_githubs_schema_does() {
    // GitHub's schema makes every filter a string or a list of strings, never null, and its
    // reader reads null as '' before refusing it; only the event itself may be left empty.
    for filter in [
        "branches",
        "branches-ignore",
        "tags",
        "tags-ignore",
        "paths",
        "paths-ignore",
    ] {
        let src = format!("on:\n  push:\n    {filter}:\n  pull_request:\n{JOBS}");
        assert_eq!(
            located(&src),
            [(3, 6 + filter.len(), "Unexpected value ''".to_owned())],
            "{filter}"
        );
    }
}

#[test]
fn rejects_unknown_events_activity_types_and_filters() {
    let src = format!("on: pushh\n{JOBS}");
    assert_eq!(
        located(&src),
        [(1, 5, "Unexpected value 'pushh'".to_owned())]
    );
    let src = format!("on:\n  issues:\n    types: [opened, bogus]\n{JOBS}");
    assert_eq!(
        located(&src),
        [(3, 21, "Unexpected value 'bogus'".to_owned())]
    );
    let src = format!("on:\n  push:\n    inputs: {{}}\n{JOBS}");
    assert_eq!(
        located(&src),
        [(3, 5, "Unexpected value 'inputs'".to_owned())]
    );
}

#[test]
fn rejects_invalid_cron_at_its_position() {
    let src = format!("on:\n  schedule:\n    - cron: '61 * * * *'\n{JOBS}");
    assert_eq!(located(&src)[0].0, 3);
    assert_eq!(located(&src)[0].1, 13);
}

#[test]
fn reads_workflow_dispatch_inputs_and_checks_choices() {
    let src = format!(
        "on:\n  workflow_dispatch:\n    inputs:\n      level:\n        type: choice\n        options: [info, debug]\n        required: true\n      flag:\n        type: boolean\n        default: true\n{JOBS}"
    );
    let w = ok(&src);
    let inputs = &w.on.workflow_dispatch.as_ref().unwrap().inputs;
    assert_eq!(inputs["level"].input_type, InputType::Choice);
    assert!(inputs["level"].required);
    assert_eq!(inputs["level"].options.len(), 2);
    assert_eq!(
        inputs["flag"].default.as_ref().unwrap().value,
        Value::Bool(true)
    );

    let src = format!(
        "on:\n  workflow_dispatch:\n    inputs:\n      level:\n        type: choice\n{JOBS}"
    );
    assert_eq!(
        located(&src),
        [(5, 9, "Missing 'options' for choice input".to_owned())]
    );
}

#[test]
fn reads_workflow_call_inputs_secrets_and_outputs() {
    let src = format!(
        "on:\n  workflow_call:\n    inputs:\n      name:\n        type: string\n        required: true\n    secrets:\n      token:\n        required: true\n      other:\n{JOBS}"
    );
    let w = ok(&src);
    let call = w.on.workflow_call.as_ref().unwrap();
    assert_eq!(call.inputs["name"].input_type, InputType::String);
    assert!(call.inputs["name"].required);
    assert!(call.secrets["token"].required);
    assert!(!call.secrets["other"].required);
    let src =
        format!("on:\n  workflow_call:\n    inputs:\n      name:\n        required: true\n{JOBS}");
    assert_eq!(
        located(&src),
        [(5, 9, "Required property is missing: type".to_owned())]
    );
}

#[test]
fn accepts_empty_dispatch_inputs_as_githubs_service_does() {
    let src = format!("on:\n  workflow_dispatch:\n    inputs:\n{JOBS}");
    assert!(ok(&src).on.workflow_dispatch.unwrap().inputs.is_empty());
    let src = format!("on:\n  workflow_dispatch:\n    inputs:\n      name:\n{JOBS}");
    let w = ok(&src);
    let input = &w.on.workflow_dispatch.as_ref().unwrap().inputs["name"];
    assert_eq!(input.input_type, InputType::String);
}
