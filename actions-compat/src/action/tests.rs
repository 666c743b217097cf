use super::*;
use crate::workflow::{StepKind, UsesRef};

fn ok(src: &str) -> Action {
    match parse(src, "action.yml") {
        Ok(a) => a,
        Err(e) => panic!("expected the action to parse, got:\n{e}"),
    }
}

fn located(src: &str) -> Vec<(usize, usize, String)> {
    let mut found: Vec<_> = parse(src, "action.yml")
        .expect_err("expected errors")
        .0
        .into_iter()
        .map(|d| (d.line, d.col, d.message))
        .collect();
    found.sort();
    found
}

#[test]
fn reads_a_node_action_with_inputs_and_outputs() {
    let src = "name: Hello\ndescription: Says hello\nauthor: me\ninputs:\n  who:\n    description: Who\n    required: true\n    default: world\n  old:\n    required: 'false'\n    deprecationMessage: use who\noutputs:\n  time:\n    description: When\nruns:\n  using: node20\n  main: dist/index.js\n  post: dist/post.js\n  post-if: runner.os == 'Linux'\nbranding:\n  icon: sun\n  color: yellow\n";
    let action = ok(src);
    assert_eq!(action.name.as_ref().unwrap().value, "Hello");
    assert_eq!(action.author.as_ref().unwrap().value, "me");
    assert!(action.inputs["who"].required);
    assert!(!action.inputs["old"].required);
    assert_eq!(
        action.inputs["old"]
            .deprecation_message
            .as_ref()
            .unwrap()
            .value,
        "use who"
    );
    assert_eq!(
        action.inputs["who"]
            .default
            .as_ref()
            .unwrap()
            .as_literal()
            .map(String::as_str),
        Some("world")
    );
    assert!(action.outputs.contains_key("time"));
    assert_eq!(action.runs.using.value, "node20");
    let RunsKind::Node(node) = &action.runs.kind else {
        panic!("a node action")
    };
    assert_eq!(node.version, NodeVersion::Node20);
    assert_eq!(node.main.value, "dist/index.js");
    assert_eq!(node.post.as_ref().unwrap().value, "dist/post.js");
    assert_eq!(
        action
            .branding
            .as_ref()
            .unwrap()
            .color
            .as_ref()
            .unwrap()
            .value,
        "yellow"
    );
}

#[test]
fn reads_a_docker_action() {
    let src = "name: d\nruns:\n  using: docker\n  image: Dockerfile\n  entrypoint: /entry.sh\n  pre-entrypoint: /pre.sh\n  post-entrypoint: /post.sh\n  args: [a, b]\n  env:\n    MODE: fast\n";
    let action = ok(src);
    let RunsKind::Docker(docker) = &action.runs.kind else {
        panic!("a docker action")
    };
    assert_eq!(docker.image.value, "Dockerfile");
    assert_eq!(docker.entrypoint.as_ref().unwrap().value, "/entry.sh");
    assert_eq!(docker.pre_entrypoint.as_ref().unwrap().value, "/pre.sh");
    assert_eq!(docker.args.len(), 2);
    assert_eq!(
        docker.env["MODE"].as_literal().map(String::as_str),
        Some("fast")
    );
}

#[test]
fn reads_a_composite_action_with_the_step_model() {
    let src = "name: c\noutputs:\n  out:\n    value: done\nruns:\n  using: composite\n  steps:\n    - run: echo hi\n      shell: bash\n    - uses: actions/checkout@v4\n      with:\n        fetch-depth: 0\n";
    let action = ok(src);
    let RunsKind::Composite(composite) = &action.runs.kind else {
        panic!("a composite action")
    };
    assert_eq!(composite.steps[0].id.value, "__run");
    assert!(matches!(
        &composite.steps[0].kind,
        StepKind::Run { shell: Some(_), .. }
    ));
    assert!(matches!(
        &composite.steps[1].kind,
        StepKind::Uses {
            action: UsesRef::Repository(_),
            ..
        }
    ));
    assert_eq!(
        action.outputs["out"]
            .value
            .as_ref()
            .unwrap()
            .as_literal()
            .map(String::as_str),
        Some("done")
    );
}

#[test]
fn requires_shell_on_composite_run_steps() {
    let src = "name: c\nruns:\n  using: composite\n  steps:\n    - run: echo hi\n";
    assert_eq!(
        located(src),
        [(5, 7, "Required property is missing: shell".to_owned())]
    );
}

#[test]
fn requires_what_each_kind_needs() {
    let src = "name: n\nruns:\n  using: node20\n  pre: x.js\n";
    assert_eq!(
        located(src),
        [(3, 3, "Required property is missing: main".to_owned())]
    );
    let src = "name: n\nruns:\n  using: node20\n";
    assert!(located(src)[0]
        .2
        .starts_with("There's not enough info to determine what you meant."));
    let src = "name: n\n";
    assert_eq!(
        located(src),
        [(1, 1, "Required property is missing: runs".to_owned())]
    );
}

#[test]
fn refuses_using_values_that_do_not_fit() {
    let src = "name: n\nruns:\n  using: node10\n  main: index.js\n";
    let found = located(src);
    assert_eq!((found[0].0, found[0].1), (3, 10));
    assert!(found[0].2.starts_with("`using: node10` is not supported"));
    let src = "name: n\nruns:\n  using: node20\n  image: Dockerfile\n";
    assert_eq!(located(src)[0].0, 3);
}

#[test]
fn refuses_unknown_keys_in_runs_but_ignores_them_at_the_top() {
    let src = "name: n\nx-custom: anything\nruns:\n  using: node20\n  main: i.js\n  mian: i.js\n";
    assert_eq!(located(src), [(6, 3, "Unexpected value 'mian'".to_owned())]);
    let src = "name: n\nx-custom: anything\nruns:\n  using: node20\n  main: i.js\n";
    assert!(ok(src).name.is_some());
}

#[test]
fn refuses_malformed_composite_uses() {
    let src = "runs:\n  using: composite\n  steps:\n    - uses: nope\n";
    assert_eq!(
        located(src),
        [(
            4,
            13,
            "Expected format {org}/{repo}[/path]@ref. Actual 'nope'".to_owned()
        )]
    );
}

#[test]
fn reads_a_typical_composite_action() {
    let src = "name: 'Setup Thing'\ndescription: 'Sets up a thing'\ninputs:\n  version:\n    required: false\n    default: 'latest'\n  token:\n    default: ${{ github.token }}\noutputs:\n  path:\n    value: ${{ steps.install.outputs.path }}\nruns:\n  using: \"composite\"\n  steps:\n    - id: install\n      shell: bash\n      run: ./install.sh \"${{ inputs.version }}\"\n      env:\n        TOKEN: ${{ inputs.token }}\n    - if: runner.os == 'Windows'\n      shell: pwsh\n      run: echo hi\n";
    let action = ok(src);
    let RunsKind::Composite(composite) = &action.runs.kind else {
        panic!("a composite action")
    };
    assert_eq!(composite.steps[0].id.value, "install");
    assert_eq!(
        composite.steps[1].condition.expression,
        "success() && (runner.os == 'Windows')"
    );
    let token = action.inputs["token"].default.as_ref().unwrap();
    assert_eq!(token.as_expression().unwrap().paths, ["github.token"]);
}

#[test]
fn refuses_contexts_actions_do_not_have() {
    // Composite steps have no `secrets` context.
    let src = "runs:\n  using: composite\n  steps:\n    - run: echo ${{ secrets.x }}\n      shell: bash\n";
    let found = located(src);
    assert_eq!((found[0].0, found[0].1), (4, 12));
    assert!(found[0]
        .2
        .starts_with("Unrecognized named-value: 'secrets'"));
}
