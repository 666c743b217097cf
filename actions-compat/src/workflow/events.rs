//! The events that can trigger a workflow (`on:`), with the activity types and filters each
//! accepts, as a schema table.
//!
//! Every event GitHub documents is here; a name not here is refused ("Unexpected value").

use crate::schema::builtin::{
    GITHUB, INPUTS, JOBS, NON_EMPTY_STRING, NULL, SEQUENCE_OF_NON_EMPTY_STRING, SEQUENCE_OF_STRING,
    STRING, STRING_OR_SEQUENCE, VARS,
};
use crate::schema::{prop, required, Def};

/// Defines an event that takes an optional mapping with activity `types` (one or a list of the
/// given values) and the given filter properties.
macro_rules! event_with_types {
    ($static:ident, $name:literal, [$($t:literal),* $(,)?] $(, $filter:literal)* $(,)?) => {
        static $static: Def = Def::one_of(
            $name,
            &[
                &NULL,
                &Def::mapping(
                    concat!($name, "-mapping"),
                    &[
                        prop(
                            "types",
                            &Def::one_of(
                                concat!($name, "-activity"),
                                &[
                                    &Def::allowed(concat!($name, "-activity-type"), &[$($t),*]),
                                    &Def::sequence(
                                        concat!($name, "-activity-types"),
                                        &Def::allowed(concat!($name, "-activity-type"), &[$($t),*]),
                                    ),
                                ],
                            ),
                        ),
                        $(prop($filter, &STRING_OR_SEQUENCE),)*
                    ],
                ),
            ],
        );
    };
}

/// Defines an event that takes no configuration.
macro_rules! event_without_config {
    ($static:ident, $name:literal) => {
        static $static: Def = Def::null($name);
    };
}

event_with_types!(
    BRANCH_PROTECTION_RULE,
    "branch_protection_rule",
    ["created", "edited", "deleted"]
);
event_with_types!(
    CHECK_RUN,
    "check_run",
    ["completed", "created", "rerequested", "requested_action"]
);
event_with_types!(CHECK_SUITE, "check_suite", ["completed"]);
event_without_config!(CREATE, "create");
event_without_config!(DELETE, "delete");
event_without_config!(DEPLOYMENT, "deployment");
event_without_config!(DEPLOYMENT_STATUS, "deployment_status");
event_with_types!(
    DISCUSSION,
    "discussion",
    [
        "created",
        "edited",
        "deleted",
        "transferred",
        "pinned",
        "unpinned",
        "labeled",
        "unlabeled",
        "locked",
        "unlocked",
        "category_changed",
        "answered",
        "unanswered",
    ]
);
event_with_types!(
    DISCUSSION_COMMENT,
    "discussion_comment",
    ["created", "edited", "deleted"]
);
event_without_config!(FORK, "fork");
event_without_config!(GOLLUM, "gollum");
event_with_types!(
    IMAGE_VERSION,
    "image_version",
    ["created", "ready", "deleted"],
    "names",
    "versions"
);
event_with_types!(
    ISSUE_COMMENT,
    "issue_comment",
    ["created", "edited", "deleted"]
);
event_with_types!(
    ISSUES,
    "issues",
    [
        "opened",
        "edited",
        "deleted",
        "transferred",
        "pinned",
        "unpinned",
        "closed",
        "reopened",
        "assigned",
        "unassigned",
        "labeled",
        "unlabeled",
        "locked",
        "unlocked",
        "milestoned",
        "demilestoned",
        "field_added",
        "field_removed",
        "typed",
        "untyped",
    ]
);
event_with_types!(LABEL, "label", ["created", "edited", "deleted"]);
event_with_types!(
    MERGE_GROUP,
    "merge_group",
    ["checks_requested"],
    "branches",
    "branches-ignore"
);
event_with_types!(
    MILESTONE,
    "milestone",
    ["created", "closed", "opened", "edited", "deleted"]
);
event_without_config!(PAGE_BUILD, "page_build");
event_with_types!(
    PROJECT,
    "project",
    ["created", "closed", "reopened", "edited", "deleted"]
);
event_with_types!(
    PROJECT_CARD,
    "project_card",
    ["created", "moved", "converted", "edited", "deleted"]
);
event_with_types!(
    PROJECT_COLUMN,
    "project_column",
    ["created", "updated", "moved", "deleted"]
);
event_without_config!(PUBLIC, "public");
event_with_types!(
    PULL_REQUEST,
    "pull_request",
    [
        "assigned",
        "unassigned",
        "labeled",
        "unlabeled",
        "opened",
        "edited",
        "closed",
        "reopened",
        "synchronize",
        "converted_to_draft",
        "locked",
        "unlocked",
        "enqueued",
        "dequeued",
        "milestoned",
        "demilestoned",
        "ready_for_review",
        "review_requested",
        "review_request_removed",
        "auto_merge_enabled",
        "auto_merge_disabled",
        "stacked",
    ],
    "branches",
    "branches-ignore",
    "paths",
    "paths-ignore"
);
event_with_types!(
    PULL_REQUEST_COMMENT,
    "pull_request_comment",
    ["created", "edited", "deleted"]
);
event_with_types!(
    PULL_REQUEST_REVIEW,
    "pull_request_review",
    ["submitted", "edited", "dismissed"]
);
event_with_types!(
    PULL_REQUEST_REVIEW_COMMENT,
    "pull_request_review_comment",
    ["created", "edited", "deleted"]
);
event_with_types!(
    PULL_REQUEST_TARGET,
    "pull_request_target",
    [
        "assigned",
        "unassigned",
        "labeled",
        "unlabeled",
        "opened",
        "edited",
        "closed",
        "reopened",
        "synchronize",
        "converted_to_draft",
        "locked",
        "unlocked",
        "enqueued",
        "dequeued",
        "milestoned",
        "demilestoned",
        "ready_for_review",
        "review_requested",
        "review_request_removed",
        "auto_merge_enabled",
        "auto_merge_disabled",
        "stacked",
    ],
    "branches",
    "branches-ignore",
    "paths",
    "paths-ignore"
);
event_with_types!(
    REGISTRY_PACKAGE,
    "registry_package",
    ["published", "updated"]
);
event_with_types!(
    RELEASE,
    "release",
    [
        "published",
        "unpublished",
        "created",
        "edited",
        "deleted",
        "prereleased",
        "released"
    ]
);
event_without_config!(STATUS, "status");
event_with_types!(WATCH, "watch", ["started"]);
event_with_types!(
    WORKFLOW_RUN,
    "workflow_run",
    ["requested", "completed", "in_progress"],
    "workflows",
    "branches",
    "branches-ignore"
);

static PUSH: Def = Def::one_of(
    "push",
    &[
        &NULL,
        &Def::mapping(
            "push-mapping",
            &[
                prop("branches", &STRING_OR_SEQUENCE),
                prop("branches-ignore", &STRING_OR_SEQUENCE),
                prop("tags", &STRING_OR_SEQUENCE),
                prop("tags-ignore", &STRING_OR_SEQUENCE),
                prop("paths", &STRING_OR_SEQUENCE),
                prop("paths-ignore", &STRING_OR_SEQUENCE),
            ],
        ),
    ],
);

static REPOSITORY_DISPATCH: Def = Def::one_of(
    "repository_dispatch",
    &[
        &NULL,
        &Def::mapping(
            "repository-dispatch-mapping",
            &[prop("types", &SEQUENCE_OF_NON_EMPTY_STRING)],
        ),
    ],
);

static SCHEDULE: Def = Def::sequence(
    "schedule",
    &Def::mapping(
        "cron-mapping",
        &[
            required("cron", &NON_EMPTY_STRING),
            prop("timezone", &NON_EMPTY_STRING),
        ],
    ),
);

static BOOLEAN: Def = Def::boolean("boolean");
/// A default that is a string, a boolean or a number.
static INPUT_DEFAULT: Def = Def::one_of(
    "input-default",
    &[&STRING, &BOOLEAN, &Def::number("number")],
);

static WORKFLOW_CALL: Def = Def::one_of(
    "workflow_call",
    &[
        &NULL,
        &Def::mapping(
            "workflow-call-mapping",
            &[
                prop(
                    "inputs",
                    &Def::loose_mapping(
                        "workflow-call-inputs",
                        &NON_EMPTY_STRING,
                        &Def::mapping(
                            "workflow-call-input-definition",
                            &[
                                prop("description", &STRING),
                                required(
                                    "type",
                                    &Def::allowed(
                                        "workflow-call-input-type",
                                        &["string", "boolean", "number"],
                                    ),
                                ),
                                prop("required", &BOOLEAN),
                                prop(
                                    "default",
                                    &Def::one_of(
                                        "workflow-call-input-default",
                                        &[&STRING, &BOOLEAN, &Def::number("number")],
                                    )
                                    .context(&[GITHUB, INPUTS, VARS]),
                                ),
                            ],
                        ),
                    ),
                ),
                prop(
                    "secrets",
                    &Def::loose_mapping(
                        "workflow-call-secrets",
                        &NON_EMPTY_STRING,
                        &Def::one_of(
                            "workflow-call-secret-definition",
                            &[
                                &NULL,
                                &Def::mapping(
                                    "workflow-call-secret-mapping-definition",
                                    &[prop("description", &STRING), prop("required", &BOOLEAN)],
                                ),
                            ],
                        ),
                    ),
                ),
                prop(
                    "outputs",
                    &Def::loose_mapping(
                        "workflow-call-outputs",
                        &NON_EMPTY_STRING,
                        &Def::mapping(
                            "workflow-call-output-definition",
                            &[
                                prop("description", &STRING),
                                required(
                                    "value",
                                    &Def::string("workflow-output-context")
                                        .context(&[GITHUB, INPUTS, VARS, JOBS]),
                                ),
                            ],
                        ),
                    ),
                ),
            ],
        ),
    ],
);

/// `workflow_dispatch:`. GitHub accepts `inputs:` and an input left empty (an input is then a
/// string input); GitHub's TypeScript parser refuses them, its service does not, and we follow
/// the service.
static WORKFLOW_DISPATCH: Def = Def::one_of(
    "workflow_dispatch",
    &[
        &NULL,
        &Def::mapping(
            "workflow-dispatch-mapping",
            &[prop(
                "inputs",
                &Def::one_of(
                    "workflow-dispatch-inputs-or-null",
                    &[
                        &NULL,
                        &Def::loose_mapping(
                            "workflow-dispatch-inputs",
                            &NON_EMPTY_STRING,
                            &Def::one_of(
                                "workflow-dispatch-input-or-null",
                                &[&NULL, &DISPATCH_INPUT],
                            ),
                        ),
                    ],
                ),
            )],
        ),
    ],
);

static DISPATCH_INPUT: Def = Def::mapping(
    "workflow-dispatch-input",
    &[
        prop("description", &STRING),
        prop(
            "type",
            &Def::allowed(
                "workflow-dispatch-input-type",
                &["string", "boolean", "number", "environment", "choice"],
            ),
        ),
        prop("required", &BOOLEAN),
        prop("default", &INPUT_DEFAULT),
        prop("options", &SEQUENCE_OF_STRING),
    ],
);

/// Every event name, in GitHub's order.
pub(crate) const EVENT_NAMES: &[&str] = &[
    "branch_protection_rule",
    "check_run",
    "check_suite",
    "create",
    "delete",
    "deployment",
    "deployment_status",
    "discussion",
    "discussion_comment",
    "fork",
    "gollum",
    "image_version",
    "issue_comment",
    "issues",
    "label",
    "merge_group",
    "milestone",
    "page_build",
    "project",
    "project_card",
    "project_column",
    "public",
    "pull_request",
    "pull_request_comment",
    "pull_request_review",
    "pull_request_review_comment",
    "pull_request_target",
    "push",
    "registry_package",
    "release",
    "repository_dispatch",
    "schedule",
    "status",
    "watch",
    "workflow_call",
    "workflow_dispatch",
    "workflow_run",
];

static ON_STRING: Def = Def::allowed("on-string-strict", EVENT_NAMES);

static ON_MAPPING: Def = Def::mapping(
    "on-mapping-strict",
    &[
        prop("branch_protection_rule", &BRANCH_PROTECTION_RULE),
        prop("check_run", &CHECK_RUN),
        prop("check_suite", &CHECK_SUITE),
        prop("create", &CREATE),
        prop("delete", &DELETE),
        prop("deployment", &DEPLOYMENT),
        prop("deployment_status", &DEPLOYMENT_STATUS),
        prop("discussion", &DISCUSSION),
        prop("discussion_comment", &DISCUSSION_COMMENT),
        prop("fork", &FORK),
        prop("gollum", &GOLLUM),
        prop("image_version", &IMAGE_VERSION),
        prop("issue_comment", &ISSUE_COMMENT),
        prop("issues", &ISSUES),
        prop("label", &LABEL),
        prop("merge_group", &MERGE_GROUP),
        prop("milestone", &MILESTONE),
        prop("page_build", &PAGE_BUILD),
        prop("project", &PROJECT),
        prop("project_card", &PROJECT_CARD),
        prop("project_column", &PROJECT_COLUMN),
        prop("public", &PUBLIC),
        prop("pull_request", &PULL_REQUEST),
        prop("pull_request_comment", &PULL_REQUEST_COMMENT),
        prop("pull_request_review", &PULL_REQUEST_REVIEW),
        prop("pull_request_review_comment", &PULL_REQUEST_REVIEW_COMMENT),
        prop("pull_request_target", &PULL_REQUEST_TARGET),
        prop("push", &PUSH),
        prop("registry_package", &REGISTRY_PACKAGE),
        prop("release", &RELEASE),
        prop("repository_dispatch", &REPOSITORY_DISPATCH),
        prop("schedule", &SCHEDULE),
        prop("status", &STATUS),
        prop("watch", &WATCH),
        prop("workflow_call", &WORKFLOW_CALL),
        prop("workflow_dispatch", &WORKFLOW_DISPATCH),
        prop("workflow_run", &WORKFLOW_RUN),
    ],
);

/// `on:` in its three forms: one event name, a list of names, or a mapping of configured events.
pub(crate) static ON: Def = Def::one_of(
    "on-strict",
    &[
        &ON_STRING,
        &Def::sequence("on-sequence-strict", &ON_STRING),
        &ON_MAPPING,
    ],
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Kind;

    #[test]
    fn every_event_name_has_a_definition_in_the_mapping() {
        let Kind::Mapping(m) = &ON_MAPPING.kind else {
            panic!("on-mapping is a mapping")
        };
        let names: Vec<&str> = m.properties.iter().map(|p| p.name).collect();
        assert_eq!(names, EVENT_NAMES);
    }
}
