//! One job: its id and fields, and the checks GitHub makes on `runs-on` groups, containers,
//! matrices and reusable-workflow references.

use indexmap::IndexMap;

use super::condition::{condition, default_condition};
use super::ids::check_id;
use super::values::{
    boolean, contains_expression, entries, env, expression, get, key_text, number, spanned_string,
    string, string_list, string_map, templated_string_list, value_list, value_map,
};
use super::{concurrency, defaults, permissions, Converter};
use crate::schema::token::{Token, TokenKind};
use crate::workflow::model::{
    CallSecrets, Container, Credentials, Environment, Job, JobKind, Matrix, ReusableWorkflowCall,
    RunnerJob, RunsOn, Snapshot, Spanned, Strategy, Templated, UsesRef,
};
use crate::workflow::schema::{JOB_IF_CONTEXT, STEP_IF_CONTEXT};

impl Converter<'_> {
    pub(crate) fn job(&mut self, key: &Token, token: &Token) -> Job {
        let id = spanned_string(key);
        if let Err(message) = check_id(&id.value) {
            self.error_at(key, message);
        }
        let mut job = Job {
            id,
            line: token.line,
            col: token.col,
            name: None,
            needs: Vec::new(),
            condition: default_condition(),
            strategy: None,
            permissions: None,
            concurrency: None,
            kind: JobKind::Runner(empty_runner(token)),
        };
        let mut runner = empty_runner(token);
        let mut uses = None;
        let mut with = IndexMap::new();
        let mut secrets = None;
        for (k, v) in entries(token) {
            match k.as_str().unwrap_or_default() {
                "name" => job.name = Some(string(v)),
                "needs" => job.needs = string_list(v),
                "if" => match condition(Some(v), JOB_IF_CONTEXT) {
                    Ok(c) => job.condition = c,
                    Err(message) => self.error_at(v, message),
                },
                "strategy" => job.strategy = Some(self.strategy(v)),
                "permissions" => job.permissions = Some(permissions(v)),
                "concurrency" => job.concurrency = Some(concurrency(v)),
                "runs-on" => runner.runs_on = self.runs_on(v),
                "env" => runner.env = Some(env(v)),
                "environment" => runner.environment = Some(environment(v)),
                "outputs" => runner.outputs = string_map(v),
                "defaults" => runner.defaults = Some(defaults(v)),
                "timeout-minutes" => runner.timeout_minutes = Some(number(v)),
                "cancel-timeout-minutes" => runner.cancel_timeout_minutes = Some(number(v)),
                "continue-on-error" => runner.continue_on_error = Some(boolean(v)),
                "container" => runner.container = Some(self.container(v)),
                "services" => runner.services = Some(self.services(v)),
                "steps" => runner.steps = self.steps(v, STEP_IF_CONTEXT),
                "snapshot" => runner.snapshot = Some(snapshot(v)),
                "uses" => uses = Some(v),
                "with" => with = value_map(v),
                "secrets" => {
                    secrets = Some(match v.as_str() {
                        Some("inherit") => CallSecrets::Inherit(spanned_string(v)),
                        _ => CallSecrets::Map(value_map(v)),
                    });
                }
                _ => {}
            }
        }
        job.kind = match uses {
            Some(uses) => {
                let written = spanned_string(uses);
                let workflow = match UsesRef::parse(&written.value) {
                    Ok(UsesRef::Docker(_)) | Err(_) => {
                        self.error_at(
                            uses,
                            format!(
                                "Invalid workflow reference '{}'. Expected \
                                 {{owner}}/{{repo}}/{{path}}@{{ref}} or ./{{path}}",
                                written.value
                            ),
                        );
                        // A stand-in: a workflow with errors is never returned.
                        UsesRef::Local(written.value.clone())
                    }
                    Ok(r) => r,
                };
                JobKind::Reusable(ReusableWorkflowCall {
                    uses: written,
                    workflow,
                    with,
                    secrets,
                })
            }
            None => JobKind::Runner(runner),
        };
        job
    }

    /// `runs-on:`, and GitHub's check of runner group names.
    fn runs_on(&mut self, t: &Token) -> Templated<RunsOn> {
        let runs_on = match &t.kind {
            TokenKind::Expression(e) => return Templated::expression(expression(e), t.line, t.col),
            TokenKind::Sequence(labels) => RunsOn {
                labels: labels.iter().map(string).collect(),
                group: None,
            },
            TokenKind::Mapping(_) => {
                let group = get(t, "group");
                if let Some(group) = group {
                    self.check_runner_group(group);
                }
                RunsOn {
                    labels: get(t, "labels").map_or_else(Vec::new, |l| match &l.kind {
                        TokenKind::Sequence(labels) => labels.iter().map(string).collect(),
                        _ => vec![string(l)],
                    }),
                    group: group.map(string),
                }
            }
            _ => RunsOn {
                labels: vec![string(t)],
                group: None,
            },
        };
        Templated::literal(runs_on, t.line, t.col)
    }

    /// A group is a name, or `org/`, `organization/`, `ent/` or `enterprise/` and a name.
    fn check_runner_group(&mut self, group: &Token) {
        let Some(name) = group.as_str() else { return };
        let parts: Vec<&str> = name.split('/').collect();
        let message = match parts.as_slice() {
            [_] => return,
            [prefix, rest] if ["org", "organization", "ent", "enterprise"].contains(prefix) => {
                if !rest.is_empty() {
                    return;
                }
                format!("Invalid runs-on group name '{name}'.")
            }
            _ => format!(
                "Invalid runs-on group name '{name}'. Please use 'organization/' or 'enterprise/' \
                 prefix to target a single runner group."
            ),
        };
        self.error_at(group, message);
    }

    fn strategy(&mut self, t: &Token) -> Templated<Strategy> {
        if let TokenKind::Expression(e) = &t.kind {
            return Templated::expression(expression(e), t.line, t.col);
        }
        let strategy = Strategy {
            matrix: get(t, "matrix").map(|m| self.matrix(m)),
            fail_fast: get(t, "fail-fast").map(boolean),
            max_parallel: get(t, "max-parallel").map(number),
        };
        Templated::literal(strategy, t.line, t.col)
    }

    fn matrix(&mut self, t: &Token) -> Templated<Matrix> {
        if let TokenKind::Expression(e) = &t.kind {
            return Templated::expression(expression(e), t.line, t.col);
        }
        let mut matrix = Matrix {
            vectors: IndexMap::new(),
            include: None,
            exclude: None,
        };
        for (k, v) in entries(t) {
            match k.as_str() {
                Some("include") => matrix.include = Some(value_list(v)),
                Some("exclude") => matrix.exclude = Some(value_list(v)),
                _ => {
                    let name = key_text(k);
                    if matches!(&v.kind, TokenKind::Sequence(items) if items.is_empty()) {
                        self.error_at(
                            v,
                            format!("Matrix vector '{name}' does not contain any values"),
                        );
                    }
                    matrix.vectors.insert(name, value_list(v));
                }
            }
        }
        Templated::literal(matrix, t.line, t.col)
    }

    fn services(&mut self, t: &Token) -> Templated<IndexMap<String, Templated<Container>>> {
        if let TokenKind::Expression(e) = &t.kind {
            return Templated::expression(expression(e), t.line, t.col);
        }
        let services = entries(t)
            .iter()
            .map(|(k, v)| (key_text(k), self.container(v)))
            .collect();
        Templated::literal(services, t.line, t.col)
    }

    /// A job or service container; a mapping without an image is refused unless expressions
    /// may supply it.
    fn container(&mut self, t: &Token) -> Templated<Container> {
        let container = match &t.kind {
            TokenKind::Expression(e) => return Templated::expression(expression(e), t.line, t.col),
            TokenKind::Mapping(_) => {
                let image = get(t, "image");
                if image.is_none() && !contains_expression(t) {
                    self.error_at(t, "Container image cannot be empty");
                }
                Container {
                    image: image
                        .map_or_else(|| Templated::literal(String::new(), t.line, t.col), string),
                    options: get(t, "options").map(string),
                    env: get(t, "env").map(env),
                    ports: get(t, "ports").map(templated_string_list),
                    volumes: get(t, "volumes").map(templated_string_list),
                    credentials: get(t, "credentials").map(credentials),
                    entrypoint: get(t, "entrypoint").map(string),
                    command: get(t, "command").map(string),
                }
            }
            _ => Container {
                image: string(t),
                options: None,
                env: None,
                ports: None,
                volumes: None,
                credentials: None,
                entrypoint: None,
                command: None,
            },
        };
        Templated::literal(container, t.line, t.col)
    }
}

fn empty_runner(token: &Token) -> RunnerJob {
    RunnerJob {
        runs_on: Templated::literal(
            RunsOn {
                labels: Vec::new(),
                group: None,
            },
            token.line,
            token.col,
        ),
        env: None,
        environment: None,
        outputs: IndexMap::new(),
        defaults: None,
        timeout_minutes: None,
        cancel_timeout_minutes: None,
        continue_on_error: None,
        container: None,
        services: None,
        steps: Vec::new(),
        snapshot: None,
    }
}

fn credentials(t: &Token) -> Templated<Credentials> {
    if let TokenKind::Expression(e) = &t.kind {
        return Templated::expression(expression(e), t.line, t.col);
    }
    let credentials = Credentials {
        username: get(t, "username").map(string),
        password: get(t, "password").map(string),
    };
    Templated::literal(credentials, t.line, t.col)
}

fn environment(t: &Token) -> Templated<Environment> {
    let environment = match &t.kind {
        TokenKind::Expression(e) => return Templated::expression(expression(e), t.line, t.col),
        TokenKind::Mapping(_) => Environment {
            name: get(t, "name")
                .map_or_else(|| Templated::literal(String::new(), t.line, t.col), string),
            url: get(t, "url").map(string),
            deployment: get(t, "deployment").map(boolean),
        },
        _ => Environment {
            name: string(t),
            url: None,
            deployment: None,
        },
    };
    Templated::literal(environment, t.line, t.col)
}

fn snapshot(t: &Token) -> Snapshot {
    match &t.kind {
        TokenKind::Mapping(_) => Snapshot {
            image_name: get(t, "image-name").map_or_else(
                || Spanned::new(String::new(), t.line, t.col),
                spanned_string,
            ),
            version: get(t, "version").map(spanned_string),
            condition: get(t, "if").map(string),
        },
        _ => Snapshot {
            image_name: spanned_string(t),
            version: None,
            condition: None,
        },
    }
}
