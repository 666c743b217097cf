//! One test per example in GitHub's documentation of matrices ("Running variations of jobs in a
//! workflow" and the `jobs.<job_id>.strategy` reference, current and earlier editions). The
//! matrices and the results GitHub documents for them are the facts checked; the tests are ours.

use serde_json::json;

use super::{assert_values, names, plan, plan_with};

#[test]
fn adding_a_matrix_strategy_creates_jobs_in_variable_order() {
    let p = plan("matrix:\n  version: [10, 12, 14]\n  os: [ubuntu-latest, windows-latest]");
    assert_values(
        &p,
        json!([
            {"version": 10, "os": "ubuntu-latest"},
            {"version": 10, "os": "windows-latest"},
            {"version": 12, "os": "ubuntu-latest"},
            {"version": 12, "os": "windows-latest"},
            {"version": 14, "os": "ubuntu-latest"},
            {"version": 14, "os": "windows-latest"},
        ]),
    );
}

#[test]
fn single_dimension_matrix_runs_one_job_per_value() {
    let p = plan("matrix:\n  version: [10, 12, 14]");
    assert_values(
        &p,
        json!([{"version": 10}, {"version": 12}, {"version": 14}]),
    );
    assert_eq!(names(&p), ["build (10)", "build (12)", "build (14)"]);
}

#[test]
fn multi_dimension_matrix_runs_every_combination() {
    let p = plan("matrix:\n  os: [ubuntu-22.04, ubuntu-20.04]\n  version: [10, 12, 14]");
    assert_eq!(p.combinations.len(), 6);
    assert_eq!(
        names(&p),
        [
            "build (ubuntu-22.04, 10)",
            "build (ubuntu-22.04, 12)",
            "build (ubuntu-22.04, 14)",
            "build (ubuntu-20.04, 10)",
            "build (ubuntu-20.04, 12)",
            "build (ubuntu-20.04, 14)",
        ]
    );
}

#[test]
fn vector_of_objects_gives_objects_in_the_matrix_context() {
    let p = plan(
        "matrix:\n  os:\n    - ubuntu-latest\n    - macos-latest\n  node:\n    - version: 14\n    - version: 20\n      env: NODE_OPTIONS=--openssl-legacy-provider",
    );
    let legacy = "NODE_OPTIONS=--openssl-legacy-provider";
    assert_values(
        &p,
        json!([
            {"os": "ubuntu-latest", "node": {"version": 14}},
            {"os": "ubuntu-latest", "node": {"version": 20, "env": legacy}},
            {"os": "macos-latest", "node": {"version": 14}},
            {"os": "macos-latest", "node": {"version": 20, "env": legacy}},
        ]),
    );
    assert_eq!(names(&p)[1], format!("build (ubuntu-latest, 20, {legacy})"));
}

#[test]
fn matrix_from_repository_dispatch_payload() {
    let contexts = json!({"github": {"event": {
        "event_type": "test",
        "client_payload": {"versions": [12, 14, 16]},
    }}});
    let p = plan_with(
        "matrix:\n  version: ${{ github.event.client_payload.versions }}",
        contexts,
    )
    .unwrap();
    assert_values(
        &p,
        json!([{"version": 12}, {"version": 14}, {"version": 16}]),
    );
}

#[test]
fn include_expands_and_adds_configurations_fruit_example() {
    let p = plan(
        "matrix:\n  fruit: [apple, pear]\n  animal: [cat, dog]\n  include:\n    - color: green\n    - color: pink\n      animal: cat\n    - fruit: apple\n      shape: circle\n    - fruit: banana\n    - fruit: banana\n      animal: cat",
    );
    assert_values(
        &p,
        json!([
            {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
            {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
            {"fruit": "pear", "animal": "cat", "color": "pink"},
            {"fruit": "pear", "animal": "dog", "color": "green"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"},
        ]),
    );
    assert_eq!(
        names(&p),
        [
            "build (apple, cat)",
            "build (apple, dog)",
            "build (pear, cat)",
            "build (pear, dog)",
            "build (banana)",
            "build (banana, cat)",
        ]
    );
}

#[test]
fn include_expands_one_configuration_with_npm() {
    let p = plan(
        "matrix:\n  os: [windows-latest, ubuntu-latest]\n  node: [12, 14, 16]\n  include:\n    - os: windows-latest\n      node: 16\n      npm: 6",
    );
    assert_values(
        &p,
        json!([
            {"os": "windows-latest", "node": 12},
            {"os": "windows-latest", "node": 14},
            {"os": "windows-latest", "node": 16, "npm": 6},
            {"os": "ubuntu-latest", "node": 12},
            {"os": "ubuntu-latest", "node": 14},
            {"os": "ubuntu-latest", "node": 16},
        ]),
    );
}

#[test]
fn include_adds_a_tenth_configuration() {
    let p = plan(
        "matrix:\n  os: [macos-latest, windows-latest, ubuntu-latest]\n  version: [12, 14, 16]\n  include:\n    - os: windows-latest\n      version: 17",
    );
    assert_eq!(p.combinations.len(), 10);
    assert_eq!(
        p.combinations[9].context(),
        crate::expr::Value::from_json(json!({"os": "windows-latest", "version": 17}))
    );
}

#[test]
fn include_without_vectors_runs_each_entry() {
    let p = plan(
        "matrix:\n  include:\n    - site: \"production\"\n      datacenter: \"site-a\"\n    - site: \"staging\"\n      datacenter: \"site-b\"",
    );
    assert_values(
        &p,
        json!([
            {"site": "production", "datacenter": "site-a"},
            {"site": "staging", "datacenter": "site-b"},
        ]),
    );
    assert_eq!(
        names(&p),
        ["build (production, site-a)", "build (staging, site-b)"]
    );
}

#[test]
fn include_only_matrix_with_environment_values() {
    let p = plan(
        "matrix:\n  include:\n    - node-version: '14.x'\n      site: \"prod\"\n      datacenter: \"site-a\"\n    - node-version: '16.x'\n      site: \"dev\"\n      datacenter: \"site-b\"",
    );
    assert_values(
        &p,
        json!([
            {"node-version": "14.x", "site": "prod", "datacenter": "site-a"},
            {"node-version": "16.x", "site": "dev", "datacenter": "site-b"},
        ]),
    );
}

#[test]
fn include_adds_macos_to_two_perl_versions() {
    let p = plan(
        "matrix:\n  os: [ubuntu-latest]\n  perl:\n      - '5.16'\n      - '5.20'\n      - '5.26'\n      - '5.30'\n      - latest\n  include:\n    - os: macos-latest\n      perl: '5.26'\n    - os: macos-latest\n      perl: latest",
    );
    assert_eq!(p.combinations.len(), 7);
    assert_eq!(
        names(&p)[5..],
        ["build (macos-latest, 5.26)", "build (macos-latest, latest)"]
    );
}

#[test]
fn exclude_removes_partial_matches_nine_jobs_remain() {
    let p = plan(
        "matrix:\n  os: [macos-latest, windows-latest]\n  version: [12, 14, 16]\n  environment: [staging, production]\n  exclude:\n    - os: macos-latest\n      version: 12\n      environment: production\n    - os: windows-latest\n      version: 16",
    );
    assert_eq!(p.combinations.len(), 9);
    let has = |os: &str, version: f64, environment: Option<&str>| {
        p.combinations.iter().any(|c| {
            c.values.get("os") == Some(&crate::expr::Value::String(os.into()))
                && c.values.get("version") == Some(&crate::expr::Value::Number(version))
                && environment.is_none_or(|e| {
                    c.values.get("environment") == Some(&crate::expr::Value::String(e.into()))
                })
        })
    };
    assert!(!has("macos-latest", 12.0, Some("production")));
    assert!(has("macos-latest", 12.0, Some("staging")));
    assert!(!has("windows-latest", 16.0, None));
}

#[test]
fn include_after_exclude_adds_an_excluded_combination_back() {
    let p = plan(
        "matrix:\n  os: [macos-latest, windows-latest]\n  version: [12, 14]\n  exclude:\n    - os: macos-latest\n      version: 12\n  include:\n    - os: macos-latest\n      version: 12",
    );
    assert_values(
        &p,
        json!([
            {"os": "macos-latest", "version": 14},
            {"os": "windows-latest", "version": 12},
            {"os": "windows-latest", "version": 14},
            {"os": "macos-latest", "version": 12},
        ]),
    );
}

#[test]
fn matrix_from_another_jobs_output() {
    let contexts = json!({"needs": {"define-matrix": {
        "result": "success",
        "outputs": {"colors": "[\"red\", \"green\", \"blue\"]"},
    }}});
    let p = plan_with(
        "matrix:\n  color: ${{ fromJSON(needs.define-matrix.outputs.colors) }}",
        contexts,
    )
    .unwrap();
    assert_values(
        &p,
        json!([{"color": "red"}, {"color": "green"}, {"color": "blue"}]),
    );
}

#[test]
fn fail_fast_with_an_experimental_include() {
    let p = plan(
        "fail-fast: true\nmatrix:\n  version: [6, 7, 8]\n  experimental: [false]\n  include:\n    - version: 9\n      experimental: true",
    );
    assert!(p.fail_fast);
    assert_values(
        &p,
        json!([
            {"version": 6, "experimental": false},
            {"version": 7, "experimental": false},
            {"version": 8, "experimental": false},
            {"version": 9, "experimental": true},
        ]),
    );
}

#[test]
fn max_parallel_two_of_six() {
    let p = plan(
        "max-parallel: 2\nmatrix:\n  version: [10, 12, 14]\n  os: [ubuntu-latest, windows-latest]",
    );
    assert_eq!(p.max_parallel, Some(2));
    assert_eq!(p.combinations.len(), 6);
}

#[test]
fn earlier_edition_node_versions() {
    let p = plan("matrix:\n  node: [10, 12, 14]");
    assert_values(&p, json!([{"node": 10}, {"node": 12}, {"node": 14}]));
}

#[test]
fn earlier_edition_multiple_operating_systems() {
    let p = plan("matrix:\n  os: [ubuntu-18.04, ubuntu-20.04]\n  node: [10, 12, 14]");
    assert_eq!(p.combinations.len(), 6);
}

#[test]
fn earlier_edition_including_additional_values() {
    let p = plan(
        "matrix:\n  os: [macos-latest, windows-latest, ubuntu-18.04]\n  node: [8, 10, 12, 14]\n  include:\n    - os: windows-latest\n      node: 8\n      npm: 6",
    );
    assert_eq!(p.combinations.len(), 12);
    let with_npm: Vec<String> = p
        .combinations
        .iter()
        .filter(|c| c.values.contains_key("npm"))
        .map(|c| c.display_name("build"))
        .collect();
    assert_eq!(with_npm, ["build (windows-latest, 8)"]);
}

#[test]
fn earlier_edition_including_new_combinations() {
    let p = plan(
        "matrix:\n  node: [14]\n  os: [macos-latest, windows-latest, ubuntu-18.04]\n  include:\n    - node: 15\n      os: ubuntu-18.04\n      experimental: true",
    );
    assert_values(
        &p,
        json!([
            {"node": 14, "os": "macos-latest"},
            {"node": 14, "os": "windows-latest"},
            {"node": 14, "os": "ubuntu-18.04"},
            {"node": 15, "os": "ubuntu-18.04", "experimental": true},
        ]),
    );
}

#[test]
fn earlier_edition_excluding_node_8_on_macos() {
    let p = plan(
        "matrix:\n  os: [macos-latest, windows-latest, ubuntu-18.04]\n  node: [8, 10, 12, 14]\n  exclude:\n    - os: macos-latest\n      node: 8",
    );
    assert_eq!(p.combinations.len(), 11);
    assert!(!names(&p).contains(&"build (macos-latest, 8)".to_owned()));
}
