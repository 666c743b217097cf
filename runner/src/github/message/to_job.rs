//! From a job request to the engine's [`JobDescription`]: the same description a job of a local
//! workflow file becomes, so that a job from GitHub runs through exactly the same engine.
//!
//! Values that still hold expressions (`inputs`, `env`, display names, `continue-on-error`,
//! `timeout-minutes`, outputs, defaults) stay [`Templated`] and are evaluated by the engine, step
//! by step, with the contexts the message carries (`github`, `matrix`, `strategy`, `needs`,
//! `inputs`, `vars`) and the secrets among its variables. What the engine cannot run yet (job
//! and service containers, docker actions, background steps) is refused here with a
//! "not supported yet" error naming its place in the message.

use serde_json::{json, Value as Json};

use actions_compat::expr::{self, ParseOptions};
use actions_compat::workflow::{
    Condition, Defaults, Env, Expression, RunDefaults, Spanned, Step, StepKind, Templated, UsesRef,
};

use super::job_request::{JobRequest, MessageStep, StepReference};
use super::json::{DecodeError, DecodeErrorKind};
use super::token::Token;
use crate::engine::contexts::CONTEXT_NAMES;
use crate::engine::job::{GivenContexts, JobDescription, Secrets};

/// A job request ready for the engine, with what the protocol needs to report on it.
#[derive(Debug, Clone)]
pub struct DecodedJob {
    pub description: JobDescription,
    /// Each step's id in the `steps` context and its GUID in the message, in order.
    pub step_ids: Vec<(String, String)>,
    /// Values to hide in everything the job shows: the mask hints and the secrets.
    pub masks: Vec<String>,
}

/// Variables that are secret but not part of the `secrets` context (GitHub's runner leaves
/// them out too); they are still masked.
const NOT_IN_SECRETS_CONTEXT: [&str; 2] = ["system.github.token", "system.accesstoken"];

fn error(path: String, kind: DecodeErrorKind) -> DecodeError {
    DecodeError { path, kind }
}

/// Turns a job request into the engine's job description.
pub fn to_job_description(req: &JobRequest) -> Result<DecodedJob, DecodeError> {
    if let Some(container) = &req.job_container {
        if !is_empty(container) {
            return Err(error(
                "$.jobContainer".into(),
                DecodeErrorKind::Unsupported("job containers (`container:`)".into()),
            ));
        }
    }
    if let Some(services) = &req.job_service_containers {
        if !is_empty(services) {
            return Err(error(
                "$.jobServiceContainers".into(),
                DecodeErrorKind::Unsupported("service containers (`services:`)".into()),
            ));
        }
    }
    let file = req.file_name(Some(0)).to_owned();
    let mut steps = Vec::with_capacity(req.steps.len());
    let mut step_ids = Vec::with_capacity(req.steps.len());
    for (i, step) in req.steps.iter().enumerate() {
        let converted = convert_step(step, i, &format!("$.steps[{i}]"))?;
        step_ids.push((converted.id.value.clone(), step.id.clone()));
        steps.push(converted);
    }

    let mut envs = Vec::new();
    for (i, token) in req.environment_variables.iter().enumerate() {
        envs.push(templated_env(
            token,
            &format!("$.environmentVariables[{i}]"),
        )?);
    }
    let (workflow_env, env) = match envs.len() {
        0 => (None, None),
        1 => (None, envs.pop()),
        2 => {
            let job = envs.pop();
            (envs.pop(), job)
        }
        _ => (None, Some(merge_envs(envs)?)),
    };
    let mut defaults = Vec::new();
    for (i, token) in req.defaults.iter().enumerate() {
        defaults.push(convert_defaults(token, &format!("$.defaults[{i}]"))?);
    }
    let outputs = match &req.job_outputs {
        Some(token) if !is_empty(token) => literal_env(token, "$.jobOutputs")?,
        _ => Env::new(),
    };

    let mut secrets = Secrets::default();
    let mut masks: Vec<String> = req
        .mask_hints
        .iter()
        .map(|m| m.value.clone())
        .filter(|v| !v.is_empty())
        .collect();
    for (name, var) in &req.variables {
        if !var.is_secret {
            continue;
        }
        if !var.value.is_empty() {
            masks.push(var.value.clone());
        }
        if !NOT_IN_SECRETS_CONTEXT
            .iter()
            .any(|n| n.eq_ignore_ascii_case(name))
        {
            secrets.insert(name.clone(), var.value.clone());
        }
    }
    let context = |name: &str, empty: Json| {
        req.context_data
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
            .unwrap_or(empty)
    };
    let mut github = context("github", json!({}));
    if let Some(g) = github.as_object_mut() {
        if !g.contains_key("token") {
            if let Some(token) = req.variable("system.github.token") {
                g.insert("token".to_owned(), json!(token));
            }
        }
    }
    let job_id = github
        .get("job")
        .and_then(Json::as_str)
        .map(str::to_owned)
        .unwrap_or_else(|| req.job_name.clone());
    let given = GivenContexts {
        github,
        inputs: context("inputs", json!({})),
        vars: context("vars", json!({})),
        needs: context("needs", json!({})),
        matrix: context("matrix", Json::Null),
        strategy: context("strategy", json!({})),
        secrets,
    };
    let display = if req.job_display_name.is_empty() {
        None
    } else {
        Some(Templated::literal(req.job_display_name.clone(), 0, 0))
    };
    let key: String = job_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok(DecodedJob {
        description: JobDescription {
            key: if key.is_empty() {
                "job".to_owned()
            } else {
                key
            },
            id: job_id,
            workflow_file: file,
            name: display,
            steps,
            workflow_env,
            env,
            defaults,
            outputs,
            timeout_minutes: None,
            cancel_timeout_minutes: None,
            continue_on_error: None,
            given,
        },
        step_ids,
        masks,
    })
}

/// Whether a token holds nothing (`null`, an empty string, mapping or sequence).
fn is_empty(token: &Token) -> bool {
    match token {
        Token::Null(_) => true,
        Token::String(s, _) => s.is_empty(),
        Token::Mapping(m, _) => m.is_empty(),
        Token::Sequence(s, _) => s.is_empty(),
        _ => false,
    }
}

fn convert_step(step: &MessageStep, index: usize, path: &str) -> Result<Step, DecodeError> {
    if step.background {
        return Err(error(
            path.to_owned(),
            DecodeErrorKind::Unsupported("background steps".into()),
        ));
    }
    let id = step
        .context_name
        .clone()
        .or_else(|| step.name.clone())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("__step_{index}"));
    let generated_id = id.starts_with("__");
    let name = match (&step.display_name_token, &step.display_name) {
        (Some(token), _) => Some(templated_string(
            token,
            &format!("{path}.displayNameToken"),
        )?),
        (None, Some(text)) if !text.is_empty() => Some(Templated::literal(text.clone(), 0, 0)),
        _ => None,
    };
    let condition = match &step.condition {
        Some(c) if !c.trim().is_empty() => {
            parse_expression(c, &format!("{path}.condition"))?;
            Condition {
                expression: c.clone(),
                written: Some(Spanned::new(c.clone(), 0, 0)),
            }
        }
        _ => Condition {
            expression: "success()".to_owned(),
            written: None,
        },
    };
    let inputs = match &step.inputs {
        Some(token) if !is_empty(token) => literal_env(token, &format!("{path}.inputs"))?,
        _ => Env::new(),
    };
    let kind = match &step.reference {
        StepReference::Script => {
            let input = |name: &str| {
                inputs
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            };
            let run = input("script").ok_or_else(|| {
                error(format!("{path}.inputs"), DecodeErrorKind::Missing("script"))
            })?;
            StepKind::Run {
                run,
                shell: input("shell"),
                working_directory: input("workingDirectory"),
                background: false,
            }
        }
        StepReference::Repository {
            name,
            git_ref,
            repository_type,
            path: dir,
        } => {
            let uses = if repository_type.eq_ignore_ascii_case("self") {
                let dir = dir.trim_start_matches("./");
                format!("./{dir}")
            } else {
                if name.is_empty() {
                    return Err(error(
                        format!("{path}.reference"),
                        DecodeErrorKind::Missing("name"),
                    ));
                }
                let dir = dir.trim_matches('/');
                if dir.is_empty() {
                    format!("{name}@{git_ref}")
                } else {
                    format!("{name}/{dir}@{git_ref}")
                }
            };
            let action = UsesRef::parse(&uses).map_err(|e| {
                error(
                    format!("{path}.reference"),
                    DecodeErrorKind::Invalid(format!("`{uses}`: {e}")),
                )
            })?;
            StepKind::Uses {
                uses: Spanned::new(uses, 0, 0),
                action,
                with: Some(Templated::literal(inputs, 0, 0)),
                background: false,
            }
        }
        StepReference::Container { image } => {
            return Err(error(
                format!("{path}.reference"),
                DecodeErrorKind::Unsupported(format!("docker actions (`docker://{image}`)")),
            ))
        }
    };
    Ok(Step {
        id: Spanned::new(id, 0, 0),
        generated_id,
        line: 0,
        col: 0,
        name,
        condition,
        continue_on_error: step
            .continue_on_error
            .as_ref()
            .map(|t| templated_bool(t, &format!("{path}.continueOnError")))
            .transpose()?,
        timeout_minutes: step
            .timeout_in_minutes
            .as_ref()
            .map(|t| templated_number(t, &format!("{path}.timeoutInMinutes")))
            .transpose()?,
        env: match &step.environment {
            Some(token) if !is_empty(token) => {
                Some(templated_env(token, &format!("{path}.environment"))?)
            }
            _ => None,
        },
        kind,
    })
}

/// An expression of the message as the engine keeps it: checked, with the context paths it
/// reads (what policy rules look at).
fn parse_expression(text: &str, path: &str) -> Result<Expression, DecodeError> {
    let options = ParseOptions::allow_all(CONTEXT_NAMES);
    let parsed = expr::parse(text, &options).map_err(|e| {
        error(
            path.to_owned(),
            DecodeErrorKind::Invalid(format!("expression `{text}`: {e}")),
        )
    })?;
    Ok(Expression {
        expression: text.to_owned(),
        source: format!("${{{{ {text} }}}}"),
        paths: parsed.context_paths(),
    })
}

fn expression<T>(text: &str, token: &Token, path: &str) -> Result<Templated<T>, DecodeError> {
    let p = token.position();
    Ok(Templated::expression(
        parse_expression(text, path)?,
        p.line,
        p.col,
    ))
}

fn wrong(token: &Token, path: &str, expected: &'static str) -> DecodeError {
    error(
        path.to_owned(),
        DecodeErrorKind::WrongType {
            expected,
            found: token.kind_name(),
        },
    )
}

fn templated_string(token: &Token, path: &str) -> Result<Templated<String>, DecodeError> {
    let p = token.position();
    match token {
        Token::String(s, _) => Ok(Templated::literal(s.clone(), p.line, p.col)),
        Token::Null(_) => Ok(Templated::literal(String::new(), p.line, p.col)),
        Token::Bool(b, _) => Ok(Templated::literal(b.to_string(), p.line, p.col)),
        Token::Number(n, _) => Ok(Templated::literal(number_text(*n), p.line, p.col)),
        Token::Expression(e, _) => expression(e, token, path),
        _ => Err(wrong(token, path, "a string or an expression")),
    }
}

fn templated_bool(token: &Token, path: &str) -> Result<Templated<bool>, DecodeError> {
    let p = token.position();
    match token {
        Token::Bool(b, _) => Ok(Templated::literal(*b, p.line, p.col)),
        Token::String(s, _) if s.eq_ignore_ascii_case("true") => {
            Ok(Templated::literal(true, p.line, p.col))
        }
        Token::String(s, _) if s.eq_ignore_ascii_case("false") || s.is_empty() => {
            Ok(Templated::literal(false, p.line, p.col))
        }
        Token::Expression(e, _) => expression(e, token, path),
        _ => Err(wrong(token, path, "a boolean or an expression")),
    }
}

fn templated_number(token: &Token, path: &str) -> Result<Templated<f64>, DecodeError> {
    let p = token.position();
    match token {
        Token::Number(n, _) => Ok(Templated::literal(*n, p.line, p.col)),
        Token::String(s, _) => s
            .trim()
            .parse::<f64>()
            .map(|n| Templated::literal(n, p.line, p.col))
            .map_err(|_| wrong(token, path, "a number or an expression")),
        Token::Expression(e, _) => expression(e, token, path),
        _ => Err(wrong(token, path, "a number or an expression")),
    }
}

/// A mapping of names to string values (`inputs`, `env`, outputs), each value templated.
fn literal_env(token: &Token, path: &str) -> Result<Env, DecodeError> {
    let Token::Mapping(pairs, _) = token else {
        return Err(wrong(token, path, "a mapping"));
    };
    let mut env = Env::new();
    for (i, (key, value)) in pairs.iter().enumerate() {
        let at = format!("{path}.map[{i}]");
        let Token::String(name, _) = key else {
            return Err(error(
                at,
                DecodeErrorKind::Unsupported(format!("{} as a mapping key", key.kind_name())),
            ));
        };
        env.insert(
            name.clone(),
            templated_string(value, &format!("{at}.Value"))?,
        );
    }
    Ok(env)
}

/// An `env:` mapping, or an expression that computes one.
fn templated_env(token: &Token, path: &str) -> Result<Templated<Env>, DecodeError> {
    let p = token.position();
    match token {
        Token::Expression(e, _) => expression(e, token, path),
        Token::Null(_) => Ok(Templated::literal(Env::new(), p.line, p.col)),
        _ => Ok(Templated::literal(literal_env(token, path)?, p.line, p.col)),
    }
}

/// More than two env layers (GitHub sends the workflow's and the job's): merged in order, each
/// must be written out (not computed by one expression).
fn merge_envs(envs: Vec<Templated<Env>>) -> Result<Templated<Env>, DecodeError> {
    let mut merged = Env::new();
    for (i, env) in envs.into_iter().enumerate() {
        match env.as_literal() {
            Some(map) => merged.extend(map.clone()),
            None => {
                return Err(error(
                    format!("$.environmentVariables[{i}]"),
                    DecodeErrorKind::Unsupported(
                        "an env computed by an expression among more than two env layers".into(),
                    ),
                ))
            }
        }
    }
    Ok(Templated::literal(merged, 0, 0))
}

fn convert_defaults(token: &Token, path: &str) -> Result<Defaults, DecodeError> {
    let Token::Mapping(pairs, _) = token else {
        if is_empty(token) {
            return Ok(Defaults { run: None });
        }
        return Err(wrong(token, path, "a mapping"));
    };
    let mut run = None;
    for (i, (key, value)) in pairs.iter().enumerate() {
        if key.as_str() != Some("run") {
            continue;
        }
        let at = format!("{path}.map[{i}].Value");
        let Token::Mapping(items, p) = value else {
            return Err(wrong(value, &at, "a mapping"));
        };
        let mut defaults = RunDefaults {
            shell: None,
            working_directory: None,
        };
        for (j, (k, v)) in items.iter().enumerate() {
            let item = format!("{at}.map[{j}].Value");
            match k.as_str() {
                Some("shell") => defaults.shell = Some(templated_string(v, &item)?),
                Some("working-directory") => {
                    defaults.working_directory = Some(templated_string(v, &item)?)
                }
                _ => {}
            }
        }
        run = Some(Templated::literal(defaults, p.line, p.col));
    }
    Ok(Defaults { run })
}

/// A number as GitHub's expressions show it: integers without a fraction.
fn number_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}
