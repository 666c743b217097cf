//! `hrun expr`: evaluate one `${{ }}` expression against contexts given as JSON, for scripts and
//! for debugging a workflow's conditions.

use actions_compat::expr::{self, EvalContext, JobStatus, ParseOptions, Value};
use anyhow::{Context, Result};
use std::path::PathBuf;

use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct ExprArgs {
    /// The expression, without `${{ }}` (e.g. `github.event_name == 'push'`).
    pub expression: String,
    /// A JSON file whose top-level object maps context names (`github`, `env`, ...) to values.
    #[arg(long, value_name = "FILE")]
    pub contexts: Option<PathBuf>,
    /// The job status the status functions (`success()`, `failure()`, ...) report.
    #[arg(long, value_enum, default_value_t = Status::Success)]
    pub status: Status,
    /// The directory `hashFiles()` reads.
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Status {
    Success,
    Failure,
    Cancelled,
}

pub fn run(args: ExprArgs) -> Result<Exit> {
    let contexts = match &args.contexts {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read contexts file {}", path.display()))?;
            let json: serde_json::Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", path.display()))?;
            if !json.is_object() {
                anyhow::bail!(
                    "{}: the contexts file must hold a JSON object mapping context names to values",
                    path.display()
                );
            }
            Value::from_json(json)
        }
        None => Value::Object(Default::default()),
    };
    let names: Vec<String> = match &contexts {
        Value::Object(map) => map.keys().cloned().collect(),
        _ => Vec::new(),
    };
    let options = ParseOptions::allow_all(names);
    let ast = match expr::parse(&args.expression, &options) {
        Ok(ast) => ast,
        Err(e) => {
            eprintln!("error: {e}");
            return Ok(Exit::CouldNotEvaluate);
        }
    };
    let mut ctx = EvalContext::new(&contexts);
    ctx.status = match args.status {
        Status::Success => JobStatus::Success,
        Status::Failure => JobStatus::Failure,
        Status::Cancelled => JobStatus::Cancelled,
    };
    ctx.workspace = args.workspace.as_deref();
    match expr::evaluate(&ast, &ctx) {
        Ok(value) => {
            let out = serde_json::json!({"kind": value.kind_name(), "value": value.to_json()});
            println!("{out}");
            Ok(Exit::Ok)
        }
        Err(e) => {
            eprintln!("error: {e}");
            Ok(Exit::CouldNotEvaluate)
        }
    }
}
