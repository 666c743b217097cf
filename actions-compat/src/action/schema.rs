//! `action.yml` as a schema table.
//!
//! Read as GitHub's runner reads it, which is more lenient than GitHub's editor: top-level keys it
//! does not know are ignored, `name` and `description` may be left out, and an input's
//! `description` and `required` may be any value (`required: 'false'` is common). What runs is
//! strict: `runs` must be one of the three kinds, each with the keys it needs and no others.

use crate::schema::builtin::{
    ALWAYS, ANY, CANCELLED, ENV, FAILURE, GITHUB, HASH_FILES, INPUTS, JOB, MATRIX,
    NON_EMPTY_STRING, RUNNER, STEPS, STRATEGY, STRING, SUCCESS,
};
use crate::schema::{prop, required, Allowed, Def};

/// What values of composite steps may use.
const STEP_CONTEXT: &[Allowed] = &[
    GITHUB, INPUTS, STRATEGY, MATRIX, STEPS, JOB, RUNNER, ENV, HASH_FILES,
];
/// What a composite step's `if` may use.
pub(crate) const STEP_IF_CONTEXT: &[Allowed] = &[
    GITHUB, INPUTS, STRATEGY, MATRIX, STEPS, JOB, RUNNER, ENV, ALWAYS, FAILURE, CANCELLED, SUCCESS,
    HASH_FILES,
];
/// What `pre-if` and `post-if` may use.
pub(crate) const RUNS_IF_CONTEXT: &[Allowed] = &[
    RUNNER, GITHUB, JOB, STRATEGY, MATRIX, ENV, INPUTS, ALWAYS, SUCCESS, FAILURE, CANCELLED,
    HASH_FILES,
];

/// An `action.yml` file.
pub(crate) static ACTION_ROOT: Def = Def::mapping_with_loose(
    "action-root",
    &[
        prop("name", &STRING),
        prop("description", &STRING),
        prop("author", &STRING),
        prop("inputs", &INPUTS_DEF),
        prop("outputs", &OUTPUTS_DEF),
        required("runs", &RUNS),
        prop("branding", &BRANDING),
    ],
    &NON_EMPTY_STRING,
    &ANY,
);

static INPUTS_DEF: Def = Def::loose_mapping(
    "inputs",
    &NON_EMPTY_STRING,
    &Def::mapping_with_loose(
        "input",
        &[
            prop(
                "default",
                &Def::string("input-default-context")
                    .context(&[GITHUB, STRATEGY, MATRIX, JOB, RUNNER, HASH_FILES]),
            ),
            prop("deprecationMessage", &STRING),
        ],
        &NON_EMPTY_STRING,
        &ANY,
    ),
);

static OUTPUTS_DEF: Def = Def::loose_mapping(
    "outputs",
    &NON_EMPTY_STRING,
    &Def::mapping(
        "output-definition",
        &[
            prop("description", &STRING),
            prop(
                "value",
                &Def::string("output-value")
                    .context(&[GITHUB, STRATEGY, MATRIX, STEPS, INPUTS, JOB, RUNNER, ENV]),
            ),
        ],
    ),
);

static BRANDING: Def = Def::mapping("branding", &[prop("icon", &STRING), prop("color", &STRING)]);

static RUNS_IF: Def = Def::string("runs-if").context(RUNS_IF_CONTEXT);

static RUNS: Def = Def::one_of("runs", &[&CONTAINER_RUNS, &NODE_RUNS, &COMPOSITE_RUNS]);

static CONTAINER_RUNS: Def = Def::mapping(
    "container-runs",
    &[
        required("using", &NON_EMPTY_STRING),
        required("image", &NON_EMPTY_STRING),
        prop("entrypoint", &NON_EMPTY_STRING),
        prop(
            "args",
            &Def::sequence(
                "container-runs-args",
                &Def::string("container-runs-context").context(&[INPUTS]),
            ),
        ),
        prop(
            "env",
            &Def::loose_mapping("container-runs-env", &NON_EMPTY_STRING, &STRING)
                .context(&[INPUTS]),
        ),
        prop("pre-entrypoint", &NON_EMPTY_STRING),
        prop("pre-if", &RUNS_IF),
        prop("post-entrypoint", &NON_EMPTY_STRING),
        prop("post-if", &RUNS_IF),
    ],
);

static NODE_RUNS: Def = Def::mapping(
    "node-runs",
    &[
        required("using", &NON_EMPTY_STRING),
        required("main", &NON_EMPTY_STRING),
        prop("pre", &NON_EMPTY_STRING),
        prop("pre-if", &RUNS_IF),
        prop("post", &NON_EMPTY_STRING),
        prop("post-if", &RUNS_IF),
    ],
);

static COMPOSITE_RUNS: Def = Def::mapping(
    "composite-runs",
    &[
        required("using", &NON_EMPTY_STRING),
        required("steps", &Def::sequence("composite-steps", &COMPOSITE_STEP)),
    ],
);

static COMPOSITE_STEP: Def = Def::one_of("composite-step", &[&RUN_STEP, &USES_STEP]);

static STRING_STEPS_CONTEXT: Def = Def::string("string-steps-context").context(STEP_CONTEXT);
static STEP_IF: Def = Def::string("step-if").context(STEP_IF_CONTEXT);
static STEP_ENV: Def =
    Def::loose_mapping("step-env", &NON_EMPTY_STRING, &STRING).context(STEP_CONTEXT);
static STEP_CONTINUE_ON_ERROR: Def = Def::boolean("boolean-steps-context").context(STEP_CONTEXT);

static RUN_STEP: Def = Def::mapping(
    "run-step",
    &[
        prop("name", &STRING_STEPS_CONTEXT),
        prop("id", &NON_EMPTY_STRING),
        prop("if", &STEP_IF),
        required("run", &STRING_STEPS_CONTEXT),
        required("shell", &STRING_STEPS_CONTEXT),
        prop("env", &STEP_ENV),
        prop("continue-on-error", &STEP_CONTINUE_ON_ERROR),
        prop("working-directory", &STRING_STEPS_CONTEXT),
    ],
);

static USES_STEP: Def = Def::mapping(
    "uses-step",
    &[
        prop("name", &STRING_STEPS_CONTEXT),
        prop("id", &NON_EMPTY_STRING),
        prop("if", &STEP_IF),
        required("uses", &NON_EMPTY_STRING),
        prop(
            "with",
            &Def::loose_mapping("step-with", &NON_EMPTY_STRING, &STRING).context(STEP_CONTEXT),
        ),
        prop("env", &STEP_ENV),
        prop("continue-on-error", &STEP_CONTINUE_ON_ERROR),
    ],
);
