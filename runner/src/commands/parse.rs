//! `hrun parse`: a workflow or action file as GitHub reads it, printed as JSON, or every error in
//! it with file:line:col, the line and a caret.

use actions_compat::policy::FileKind;
use actions_compat::{action, workflow};
use anyhow::{Context, Result};
use std::path::PathBuf;

use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct ParseArgs {
    /// The file to read.
    pub file: PathBuf,
    /// What the file is; by default `action` for `action.yml`/`action.yaml` (except in
    /// `.github/workflows/`, where GitHub reads every file as a workflow), else `workflow`.
    #[arg(long, value_enum)]
    pub kind: Option<Kind>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    Workflow,
    Action,
}

pub fn run(args: ParseArgs) -> Result<Exit> {
    let source = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let name = args.file.display().to_string();
    let kind = args.kind.unwrap_or(match FileKind::of(&args.file) {
        FileKind::Action => Kind::Action,
        FileKind::Workflow => Kind::Workflow,
    });
    let parsed = match kind {
        Kind::Workflow => workflow::parse(&source, &name).map(serde_json::to_value),
        Kind::Action => action::parse(&source, &name).map(serde_json::to_value),
    };
    match parsed {
        Ok(json) => {
            println!("{}", serde_json::to_string_pretty(&json?)?);
            Ok(Exit::Ok)
        }
        Err(errors) => {
            for d in errors.iter() {
                eprintln!("{}", d.render(Some(&source)));
            }
            eprintln!("{}: {} error(s)", name, errors.len());
            Ok(Exit::CouldNotEvaluate)
        }
    }
}
