//! `hrun actions`: fill, list and query the action store (`pull`, `import`, `ls`, `resolve`).

use actions_compat::action::RunsKind;
use actions_compat::workflow::UsesRef;
use anyhow::{Context, Result};
use std::path::PathBuf;

use crate::actions::{
    ActionOrigin, ActionStore, AddOutcome, GitHubApi, ListedEntry, PinnedRepo, StoreEntry,
};
use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct ActionsArgs {
    #[command(subcommand)]
    pub command: ActionsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ActionsCommand {
    /// Download a repository at a commit through the GitHub API (GITHUB_API_URL, GITHUB_TOKEN)
    /// into the action store.
    Pull {
        /// `owner/repo@<40-hex commit sha>` (a path after the repository is accepted and
        /// ignored: the store holds whole repositories).
        reference: String,
    },
    /// Fill the action store from a local copy of a repository, for hosts without network.
    Import {
        /// The repository's files at that commit (a top-level `.git` is left out).
        dir: PathBuf,
        /// `owner/repo@<40-hex commit sha>`.
        reference: String,
    },
    /// List the action store (exit 2 if an entry is corrupt).
    Ls {
        /// `human` or `json`.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
        /// Re-hash every tree against its record.
        #[arg(long)]
        verify: bool,
    },
    /// Show where a step's `uses:` resolves: directory, kind, and store record (JSON).
    Resolve {
        /// The `uses:` value (`./path`, `owner/repo[/path]@sha`).
        uses: String,
        /// The checkout local actions are read from (default: the current directory).
        #[arg(long, value_name = "DIR")]
        workspace: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

pub fn run(args: ActionsArgs) -> Result<Exit> {
    let store = ActionStore::from_env()?;
    match args.command {
        ActionsCommand::Pull { reference } => pull(&store, &reference),
        ActionsCommand::Import { dir, reference } => import(&store, &dir, &reference),
        ActionsCommand::Ls { format, verify } => list(&store, format, verify),
        ActionsCommand::Resolve { uses, workspace } => resolve(&store, &uses, workspace),
    }
}

fn pin_of(reference: &str) -> Result<PinnedRepo> {
    let (pin, path) = PinnedRepo::parse(reference)?;
    if let Some(path) = path {
        eprintln!("note: the store holds whole repositories; `{path}` is left for `uses:` ({pin})");
    }
    Ok(pin)
}

fn pull(store: &ActionStore, reference: &str) -> Result<Exit> {
    let pin = pin_of(reference)?;
    let api = GitHubApi::from_env()?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let outcome = runtime.block_on(store.pull(&pin, &api))?;
    report(&outcome);
    Ok(Exit::Ok)
}

fn import(store: &ActionStore, dir: &std::path::Path, reference: &str) -> Result<Exit> {
    let pin = pin_of(reference)?;
    let outcome = store.import(dir, &pin)?;
    report(&outcome);
    Ok(Exit::Ok)
}

fn report(outcome: &AddOutcome) {
    let entry = outcome.entry();
    let place = entry.dir.display();
    match outcome {
        AddOutcome::Added(_) => println!(
            "added {} (sha256 {}) at {place}",
            entry.pin, entry.record.sha256
        ),
        AddOutcome::AlreadyPresent(_) => {
            println!("{} is already in the store at {place}", entry.pin)
        }
        AddOutcome::Replaced { problem, .. } => println!(
            "replaced the corrupt entry of {} ({problem}) with sha256 {} at {place}",
            entry.pin, entry.record.sha256
        ),
    }
}

fn list(store: &ActionStore, format: Format, verify: bool) -> Result<Exit> {
    let listed = store.list(verify)?;
    let corrupt = listed.iter().filter(|l| l.status.is_err()).count();
    match format {
        Format::Json => {
            let items: Vec<serde_json::Value> = listed.iter().map(listed_json).collect();
            println!("{}", serde_json::to_string_pretty(&items)?);
        }
        Format::Human if listed.is_empty() => {
            println!(
                "the action store at {} is empty",
                store.actions_dir().display()
            );
        }
        Format::Human => {
            println!(
                "{:<60}  {:<6}  {:<16}  FETCHED",
                "ACTION", "SOURCE", "SHA256"
            );
            for item in &listed {
                match &item.status {
                    Ok(entry) => println!(
                        "{:<60}  {:<6}  {:<16}  {}",
                        entry.pin.to_string(),
                        entry.record.source.as_str(),
                        entry.record.sha256.as_str().get(..16).unwrap_or_default(),
                        entry.record.fetched_at
                    ),
                    Err(problem) => println!("CORRUPT {}: {problem}", item.dir.display()),
                }
            }
        }
    }
    if corrupt > 0 {
        eprintln!(
            "error: {corrupt} corrupt entr{} in the action store; pull or import them again",
            if corrupt == 1 { "y" } else { "ies" }
        );
        return Ok(Exit::CouldNotEvaluate);
    }
    Ok(Exit::Ok)
}

fn listed_json(item: &ListedEntry) -> serde_json::Value {
    match &item.status {
        Ok(entry) => {
            let mut json = entry_json(entry);
            json["status"] = "ok".into();
            json
        }
        Err(problem) => serde_json::json!({
            "path": item.dir.display().to_string(),
            "status": "corrupt",
            "problem": problem,
        }),
    }
}

fn entry_json(entry: &StoreEntry) -> serde_json::Value {
    let r = &entry.record;
    serde_json::json!({
        "ref": entry.pin.to_string(),
        "owner": r.owner,
        "repo": r.repo,
        "sha": r.sha,
        "source": r.source,
        "sha256": r.sha256,
        "tree_sha256": r.tree_sha256,
        "fetched_at": r.fetched_at,
        "origin": r.origin,
        "path": entry.dir.display().to_string(),
    })
}

fn resolve(store: &ActionStore, uses: &str, workspace: Option<PathBuf>) -> Result<Exit> {
    let parsed = UsesRef::parse(uses).map_err(anyhow::Error::msg)?;
    let workspace = match workspace {
        Some(dir) => dir,
        None => std::env::current_dir().context("cannot read the current directory")?,
    };
    let resolved = store.resolve(&parsed, &workspace)?;
    let kind = match resolved.action.runs.kind {
        RunsKind::Node(_) => "node",
        RunsKind::Docker(_) => "docker",
        RunsKind::Composite(_) => "composite",
    };
    let origin = match &resolved.origin {
        ActionOrigin::Workspace => serde_json::json!("workspace"),
        ActionOrigin::Store(entry) => serde_json::json!({ "store": entry_json(entry) }),
    };
    let out = serde_json::json!({
        "uses": uses,
        "dir": resolved.dir.display().to_string(),
        "file": resolved.file.display().to_string(),
        "using": resolved.action.runs.using.value,
        "kind": kind,
        "origin": origin,
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(Exit::Ok)
}
