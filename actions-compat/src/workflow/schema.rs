//! GitHub's workflow syntax as a schema table: every key, what its value may be, and which
//! contexts and functions expressions may use there.
//!
//! Read side by side with GitHub's published schema (`workflow-v1.0.json`), whose definition
//! names the `name` fields repeat; the table is ours, written for this crate.

use super::events::ON;
use crate::schema::builtin::{
    ALWAYS, ANY, BOOLEAN, CANCELLED, ENV, FAILURE, GITHUB, HASH_FILES, INPUTS, JOB, MATRIX, NEEDS,
    NON_EMPTY_STRING, NULL, NUMBER, RUNNER, SECRETS, SEQUENCE, SEQUENCE_OF_NON_EMPTY_STRING, STEPS,
    STRATEGY, STRING, STRING_OR_SEQUENCE, SUCCESS, VARS,
};
use crate::schema::{prop, required, Allowed, Def, MAX_ARGS};

/// Contexts of values fixed before a job is planned (`run-name`, workflow `concurrency`).
pub(crate) const WORKFLOW_CONTEXT: &[Allowed] = &[GITHUB, INPUTS, VARS];
/// Contexts of job-level values known once the job's matrix is expanded.
pub(crate) const STRATEGY_CONTEXT: &[Allowed] = &[GITHUB, INPUTS, VARS, NEEDS, STRATEGY, MATRIX];
/// Contexts of values read on the runner while steps run.
pub(crate) const STEP_CONTEXT: &[Allowed] = &[
    GITHUB, INPUTS, VARS, NEEDS, STRATEGY, MATRIX, SECRETS, STEPS, JOB, RUNNER, ENV, HASH_FILES,
];
/// What a job's `if` may use: `success()` and `failure()` may name jobs.
pub(crate) const JOB_IF_CONTEXT: &[Allowed] = &[
    GITHUB,
    INPUTS,
    VARS,
    NEEDS,
    ALWAYS,
    Allowed::Function("failure", 0, MAX_ARGS),
    CANCELLED,
    Allowed::Function("success", 0, MAX_ARGS),
];
/// What a step's `if` may use.
pub(crate) const STEP_IF_CONTEXT: &[Allowed] = &[
    GITHUB, INPUTS, VARS, NEEDS, STRATEGY, MATRIX, STEPS, JOB, RUNNER, ENV, ALWAYS, FAILURE,
    CANCELLED, SUCCESS, HASH_FILES,
];
const RUNNER_CONTEXT: &[Allowed] = &[
    GITHUB, INPUTS, VARS, NEEDS, STRATEGY, MATRIX, SECRETS, STEPS, JOB, RUNNER, ENV,
];

/// A workflow file.
pub(crate) static WORKFLOW_ROOT: Def = Def::mapping(
    "workflow-root-strict",
    &[
        required("on", &ON),
        prop("name", &STRING),
        prop("description", &STRING),
        prop(
            "run-name",
            &Def::string("run-name").context(WORKFLOW_CONTEXT),
        ),
        prop("defaults", &WORKFLOW_DEFAULTS),
        prop(
            "env",
            &Def::loose_mapping("workflow-env", &NON_EMPTY_STRING, &STRING)
                .context(&[GITHUB, INPUTS, VARS, SECRETS]),
        ),
        prop("permissions", &PERMISSIONS),
        prop("concurrency", &WORKFLOW_CONCURRENCY),
        required("jobs", &JOBS),
    ],
);

static WORKFLOW_DEFAULTS: Def = Def::mapping(
    "workflow-defaults",
    &[prop(
        "run",
        &Def::mapping(
            "workflow-defaults-run",
            &[
                prop("shell", &SHELL),
                prop("working-directory", &WORKING_DIRECTORY),
            ],
        ),
    )],
);

static SHELL: Def = Def::non_empty_string("shell");
static WORKING_DIRECTORY: Def = Def::non_empty_string("working-directory");

/// Access levels for one permission scope.
const LEVELS: &[&str] = &["read", "write", "none"];
static LEVEL_ANY: Def = Def::allowed("permission-level-any", LEVELS);
static LEVEL_READ: Def = Def::allowed("permission-level-read-or-no-access", &["read", "none"]);
static LEVEL_WRITE: Def = Def::allowed("permission-level-write-or-no-access", &["write", "none"]);

/// `permissions:`: `read-all`, `write-all`, or a level per scope.
pub(crate) static PERMISSIONS: Def = Def::one_of(
    "permissions",
    &[
        &Def::mapping(
            "permissions-mapping",
            &[
                prop("actions", &LEVEL_ANY),
                prop("artifact-metadata", &LEVEL_ANY),
                prop("attestations", &LEVEL_ANY),
                prop("checks", &LEVEL_ANY),
                prop("code-quality", &LEVEL_ANY),
                prop("contents", &LEVEL_ANY),
                prop("copilot-requests", &LEVEL_WRITE),
                prop("deployments", &LEVEL_ANY),
                prop("discussions", &LEVEL_ANY),
                prop("drives", &LEVEL_ANY),
                prop("id-token", &LEVEL_WRITE),
                prop("issues", &LEVEL_ANY),
                prop("models", &LEVEL_READ),
                prop("packages", &LEVEL_ANY),
                prop("pages", &LEVEL_ANY),
                prop("pull-requests", &LEVEL_ANY),
                prop("repository-projects", &LEVEL_ANY),
                prop("security-events", &LEVEL_ANY),
                prop("statuses", &LEVEL_ANY),
                prop("vulnerability-alerts", &LEVEL_READ),
            ],
        ),
        &Def::allowed("permission-level-shorthand", &["read-all", "write-all"]),
    ],
);

static CONCURRENCY_MAPPING: Def = Def::mapping(
    "concurrency-mapping",
    &[
        required("group", &NON_EMPTY_STRING),
        prop("cancel-in-progress", &BOOLEAN),
        prop(
            "queue",
            &Def::allowed("concurrency-queue", &["single", "max"]),
        ),
    ],
);

static WORKFLOW_CONCURRENCY: Def =
    Def::one_of("workflow-concurrency", &[&STRING, &CONCURRENCY_MAPPING]).context(WORKFLOW_CONTEXT);

static JOB_CONCURRENCY: Def = Def::one_of(
    "job-concurrency",
    &[&NON_EMPTY_STRING, &CONCURRENCY_MAPPING],
)
.context(STRATEGY_CONTEXT);

static JOBS: Def = Def::loose_mapping("jobs", &Def::non_empty_string("job-id"), &JOB_DEF);

static JOB_DEF: Def = Def::one_of("job", &[&JOB_FACTORY, &WORKFLOW_JOB]);

static JOB_IF: Def = Def::string("job-if").context(JOB_IF_CONTEXT);
static NEEDS_DEF: Def = Def::one_of("needs", &[&SEQUENCE_OF_NON_EMPTY_STRING, &NON_EMPTY_STRING]);
static STRING_STRATEGY_CONTEXT: Def =
    Def::string("string-strategy-context").context(STRATEGY_CONTEXT);
static NUMBER_STRATEGY_CONTEXT: Def =
    Def::number("number-strategy-context").context(STRATEGY_CONTEXT);
static BOOLEAN_STRATEGY_CONTEXT: Def =
    Def::boolean("boolean-strategy-context").context(STRATEGY_CONTEXT);

/// A job that runs steps on a runner.
static JOB_FACTORY: Def = Def::mapping(
    "job-factory",
    &[
        prop("needs", &NEEDS_DEF),
        prop("if", &JOB_IF),
        prop("strategy", &STRATEGY_DEF),
        prop("name", &STRING_STRATEGY_CONTEXT),
        required("runs-on", &RUNS_ON),
        prop("timeout-minutes", &NUMBER_STRATEGY_CONTEXT),
        prop("cancel-timeout-minutes", &NUMBER_STRATEGY_CONTEXT),
        prop("continue-on-error", &BOOLEAN_STRATEGY_CONTEXT),
        prop("container", &CONTAINER),
        prop("services", &SERVICES),
        prop(
            "env",
            &Def::loose_mapping("job-env", &NON_EMPTY_STRING, &STRING)
                .context(&[GITHUB, INPUTS, VARS, NEEDS, STRATEGY, MATRIX, SECRETS]),
        ),
        prop("environment", &ENVIRONMENT),
        prop("permissions", &PERMISSIONS),
        prop("concurrency", &JOB_CONCURRENCY),
        prop(
            "outputs",
            &Def::loose_mapping("job-outputs", &NON_EMPTY_STRING, &STRING_RUNNER_CONTEXT),
        ),
        prop("defaults", &JOB_DEFAULTS),
        prop("steps", &STEPS_DEF),
        prop("snapshot", &SNAPSHOT),
    ],
);

/// A job that calls a reusable workflow.
static WORKFLOW_JOB: Def = Def::mapping(
    "workflow-job",
    &[
        prop("name", &STRING_STRATEGY_CONTEXT),
        required("uses", &NON_EMPTY_STRING),
        prop(
            "with",
            &Def::loose_mapping(
                "workflow-job-with",
                &NON_EMPTY_STRING,
                &Def::one_of("scalar-needs-context", &[&STRING, &BOOLEAN, &NUMBER])
                    .context(STRATEGY_CONTEXT),
            ),
        ),
        prop(
            "secrets",
            &Def::one_of(
                "workflow-job-secrets",
                &[
                    &Def::loose_mapping(
                        "workflow-job-secrets-mapping",
                        &NON_EMPTY_STRING,
                        &Def::one_of(
                            "scalar-needs-context-with-secrets",
                            &[&STRING, &BOOLEAN, &NUMBER],
                        )
                        .context(&[GITHUB, INPUTS, VARS, NEEDS, SECRETS, STRATEGY, MATRIX]),
                    ),
                    &Def::allowed("workflow-job-secrets-inherit", &["inherit"]),
                ],
            ),
        ),
        prop("needs", &NEEDS_DEF),
        prop("if", &JOB_IF),
        prop("permissions", &PERMISSIONS),
        prop("concurrency", &JOB_CONCURRENCY),
        prop("strategy", &STRATEGY_DEF),
    ],
);

static STRATEGY_DEF: Def = Def::mapping(
    "strategy",
    &[
        prop("fail-fast", &BOOLEAN),
        prop("max-parallel", &NUMBER),
        prop("matrix", &MATRIX_DEF),
    ],
)
.context(&[GITHUB, INPUTS, VARS, NEEDS]);

static MATRIX_FILTER: Def = Def::sequence(
    "matrix-filter",
    &Def::loose_mapping("matrix-filter-item", &NON_EMPTY_STRING, &ANY),
);

static MATRIX_DEF: Def = Def::mapping_with_loose(
    "matrix",
    &[
        prop("include", &MATRIX_FILTER),
        prop("exclude", &MATRIX_FILTER),
    ],
    &NON_EMPTY_STRING,
    &SEQUENCE,
);

static RUNS_ON: Def = Def::one_of(
    "runs-on",
    &[
        &NON_EMPTY_STRING,
        &SEQUENCE_OF_NON_EMPTY_STRING,
        &Def::mapping(
            "runs-on-mapping",
            &[
                prop("group", &NON_EMPTY_STRING),
                prop("labels", &STRING_OR_SEQUENCE),
            ],
        ),
    ],
)
.context(STRATEGY_CONTEXT);

static ENVIRONMENT: Def = Def::one_of(
    "job-environment",
    &[
        &STRING,
        &Def::mapping(
            "job-environment-mapping",
            &[
                required(
                    "name",
                    &Def::string("job-environment-name").context(STRATEGY_CONTEXT),
                ),
                prop(
                    "url",
                    &Def::string("string-runner-context-no-secrets").context(&[
                        GITHUB, INPUTS, VARS, NEEDS, STRATEGY, MATRIX, STEPS, JOB, RUNNER, ENV,
                    ]),
                ),
                prop("deployment", &BOOLEAN),
            ],
        ),
    ],
)
.context(STRATEGY_CONTEXT);

static JOB_DEFAULTS: Def = Def::mapping(
    "job-defaults",
    &[prop(
        "run",
        &Def::mapping(
            "job-defaults-run",
            &[
                prop("shell", &SHELL),
                prop("working-directory", &WORKING_DIRECTORY),
            ],
        )
        .context(&[GITHUB, INPUTS, VARS, STRATEGY, MATRIX, NEEDS, ENV]),
    )],
);

static SNAPSHOT: Def = Def::one_of(
    "snapshot",
    &[
        &NON_EMPTY_STRING,
        &Def::mapping(
            "snapshot-mapping",
            &[
                required("image-name", &NON_EMPTY_STRING),
                prop("if", &Def::string("snapshot-if").context(STRATEGY_CONTEXT)),
                prop("version", &NON_EMPTY_STRING),
            ],
        ),
    ],
);

static STRING_RUNNER_CONTEXT: Def = Def::string("string-runner-context").context(RUNNER_CONTEXT);

static CONTAINER_ENV: Def =
    Def::loose_mapping("container-env", &NON_EMPTY_STRING, &STRING_RUNNER_CONTEXT);

static CREDENTIALS: Def = Def::mapping(
    "container-registry-credentials",
    &[
        prop("username", &NON_EMPTY_STRING),
        prop("password", &NON_EMPTY_STRING),
    ],
)
.context(&[GITHUB, INPUTS, VARS, SECRETS, ENV]);

static CONTAINER: Def = Def::one_of(
    "container",
    &[
        &STRING,
        &Def::mapping(
            "container-mapping",
            &[
                prop("image", &NON_EMPTY_STRING),
                prop("options", &STRING),
                prop("env", &CONTAINER_ENV),
                prop("ports", &SEQUENCE_OF_NON_EMPTY_STRING),
                prop("volumes", &SEQUENCE_OF_NON_EMPTY_STRING),
                prop("credentials", &CREDENTIALS),
            ],
        ),
    ],
)
.context(STRATEGY_CONTEXT);

static SERVICES: Def = Def::loose_mapping(
    "services",
    &NON_EMPTY_STRING,
    &Def::one_of(
        "services-container",
        &[
            &NON_EMPTY_STRING,
            &Def::mapping(
                "service-container-mapping",
                &[
                    prop("image", &NON_EMPTY_STRING),
                    prop("options", &STRING),
                    prop("env", &CONTAINER_ENV),
                    prop("ports", &SEQUENCE_OF_NON_EMPTY_STRING),
                    prop("volumes", &SEQUENCE_OF_NON_EMPTY_STRING),
                    prop("credentials", &CREDENTIALS),
                    prop("entrypoint", &STRING),
                    prop("command", &STRING),
                ],
            ),
        ],
    )
    .context(STRATEGY_CONTEXT),
)
.context(STRATEGY_CONTEXT);

static STEPS_DEF: Def = Def::sequence("steps", &STEPS_ITEM);

static STEPS_ITEM: Def = Def::one_of(
    "steps-item",
    &[
        &RUN_STEP,
        &REGULAR_STEP,
        &WAIT_STEP,
        &WAIT_ALL_STEP,
        &CANCEL_STEP,
        &PARALLEL_STEP,
    ],
);

static STEP_NAME: Def = Def::string("step-name").context(STEP_CONTEXT);
static STEP_ID: Def = Def::non_empty_string("step-id");
static STEP_IF: Def = Def::string("step-if").context(STEP_IF_CONTEXT);
static STEP_TIMEOUT: Def = Def::number("step-timeout-minutes").context(STEP_CONTEXT);
static STEP_CONTINUE_ON_ERROR: Def = Def::boolean("step-continue-on-error").context(STEP_CONTEXT);
static STEP_ENV: Def =
    Def::loose_mapping("step-env", &NON_EMPTY_STRING, &STRING).context(STEP_CONTEXT);
static STRING_STEPS_CONTEXT: Def = Def::string("string-steps-context").context(STEP_CONTEXT);
static STEP_BACKGROUND: Def = Def::boolean("step-background");

static RUN_STEP: Def = Def::mapping(
    "run-step",
    &[
        prop("name", &STEP_NAME),
        prop("id", &STEP_ID),
        prop("if", &STEP_IF),
        prop("timeout-minutes", &STEP_TIMEOUT),
        required("run", &STRING_STEPS_CONTEXT),
        prop("continue-on-error", &STEP_CONTINUE_ON_ERROR),
        prop("env", &STEP_ENV),
        prop("working-directory", &STRING_STEPS_CONTEXT),
        prop("shell", &SHELL),
        prop("background", &STEP_BACKGROUND),
    ],
);

static REGULAR_STEP: Def = Def::mapping(
    "regular-step",
    &[
        prop("name", &STEP_NAME),
        prop("id", &STEP_ID),
        prop("if", &STEP_IF),
        prop("continue-on-error", &STEP_CONTINUE_ON_ERROR),
        prop("timeout-minutes", &STEP_TIMEOUT),
        required("uses", &Def::non_empty_string("step-uses")),
        prop(
            "with",
            &Def::loose_mapping("step-with", &NON_EMPTY_STRING, &STRING).context(STEP_CONTEXT),
        ),
        prop("env", &STEP_ENV),
        prop("background", &STEP_BACKGROUND),
    ],
);

static WAIT_STEP: Def = Def::mapping(
    "wait-step",
    &[
        prop("name", &STEP_NAME),
        prop("id", &STEP_ID),
        prop("continue-on-error", &STEP_CONTINUE_ON_ERROR),
        required("wait", &STRING_OR_SEQUENCE),
    ],
);

static WAIT_ALL_STEP: Def = Def::mapping(
    "wait-all-step",
    &[
        prop("name", &STEP_NAME),
        prop("id", &STEP_ID),
        prop("continue-on-error", &STEP_CONTINUE_ON_ERROR),
        required(
            "wait-all",
            &Def::one_of("step-wait-all-value", &[&NULL, &BOOLEAN]),
        ),
    ],
);

static CANCEL_STEP: Def = Def::mapping(
    "cancel-step",
    &[
        prop("name", &STEP_NAME),
        prop("id", &STEP_ID),
        prop("continue-on-error", &STEP_CONTINUE_ON_ERROR),
        required("cancel", &NON_EMPTY_STRING),
    ],
);

static PARALLEL_STEP: Def = Def::mapping(
    "parallel-step",
    &[required(
        "parallel",
        &Def::sequence("parallel-steps", &STEPS_ITEM),
    )],
);
