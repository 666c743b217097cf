//! From the checked token tree to the typed [`Workflow`], with the checks GitHub makes beyond
//! the schema: job and step ids, `needs`, `if` conditions, containers, matrices, `runs-on`
//! groups, cron schedules, `uses` references.

mod condition;
mod ids;
mod job;
mod jobs;
mod on;
mod steps;
pub(crate) mod values;

pub(crate) use condition::condition;

use crate::diagnostic::Diagnostic;
use crate::schema::token::{Token, TokenKind};
use crate::workflow::model::{
    Concurrency, Defaults, PermissionLevel, PermissionScope, Permissions, RunDefaults, Spanned,
    Templated, Workflow,
};
use values::{boolean, entries, env, expression, get, spanned_string, string};

/// Collects the errors of one conversion.
pub(crate) struct Converter<'f> {
    pub file: &'f str,
    pub errors: Vec<Diagnostic>,
}

impl<'f> Converter<'f> {
    pub fn new(file: &'f str) -> Self {
        Converter {
            file,
            errors: Vec::new(),
        }
    }

    pub fn error(&mut self, line: usize, col: usize, message: impl Into<String>) {
        self.errors
            .push(Diagnostic::new(self.file, line, col, message));
    }

    pub fn error_at(&mut self, token: &Token, message: impl Into<String>) {
        self.error(token.line, token.col, message);
    }

    /// The workflow a checked root mapping describes.
    pub fn workflow(&mut self, root: &Token) -> Workflow {
        let mut workflow = Workflow {
            file: self.file.to_owned(),
            name: None,
            description: None,
            run_name: None,
            on: Default::default(),
            permissions: None,
            env: None,
            defaults: None,
            concurrency: None,
            jobs: Vec::new(),
        };
        for (key, value) in entries(root) {
            match key.as_str().unwrap_or_default() {
                "on" => workflow.on = self.on(value),
                "name" => workflow.name = Some(spanned_string(value)),
                "description" => workflow.description = Some(spanned_string(value)),
                "run-name" => workflow.run_name = Some(string(value)),
                "defaults" => workflow.defaults = Some(defaults(value)),
                "env" => workflow.env = Some(env(value)),
                "permissions" => workflow.permissions = Some(permissions(value)),
                "concurrency" => workflow.concurrency = Some(concurrency(value)),
                "jobs" => workflow.jobs = self.jobs(value),
                _ => {}
            }
        }
        workflow
    }
}

pub(crate) fn permissions(t: &Token) -> Spanned<Permissions> {
    let value = match &t.kind {
        TokenKind::String(s) if s == "write-all" => Permissions::WriteAll,
        TokenKind::String(_) => Permissions::ReadAll,
        _ => Permissions::Scopes(
            entries(t)
                .iter()
                .filter_map(|(k, v)| {
                    let scope = PermissionScope::from_name(k.as_str()?)?;
                    let level = match v.as_str()? {
                        "read" => PermissionLevel::Read,
                        "write" => PermissionLevel::Write,
                        _ => PermissionLevel::None,
                    };
                    Some((scope, Spanned::new(level, v.line, v.col)))
                })
                .collect(),
        ),
    };
    Spanned::new(value, t.line, t.col)
}

pub(crate) fn concurrency(t: &Token) -> Templated<Concurrency> {
    let value = match &t.kind {
        TokenKind::Expression(e) => return Templated::expression(expression(e), t.line, t.col),
        TokenKind::Mapping(_) => Concurrency {
            group: get(t, "group")
                .map_or_else(|| Templated::literal(String::new(), t.line, t.col), string),
            cancel_in_progress: get(t, "cancel-in-progress").map(boolean),
            queue: get(t, "queue").map(string),
        },
        _ => Concurrency {
            group: string(t),
            cancel_in_progress: None,
            queue: None,
        },
    };
    Templated::literal(value, t.line, t.col)
}

pub(crate) fn defaults(t: &Token) -> Defaults {
    Defaults {
        run: get(t, "run").map(|run| match &run.kind {
            TokenKind::Expression(e) => Templated::expression(expression(e), run.line, run.col),
            _ => Templated::literal(
                RunDefaults {
                    shell: get(run, "shell").map(string),
                    working_directory: get(run, "working-directory").map(string),
                },
                run.line,
                run.col,
            ),
        }),
    }
}
