//! `hrun register` and `hrun remove`: the runner's registration with GitHub, as GitHub's
//! `config.sh` and `config.sh remove` do it, and the runner's directory they share with
//! `hrun run`.
//!
//! Exit codes: 0 done, 2 it could not be done (bad flags, GitHub refused, files not written).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::exit::Exit;
use crate::github::app::{mint_runner_token, read_app_key};
use crate::github::http::HttpClient;
use crate::github::identity::{self, Identity};
use crate::github::registration::{self, GithubUrl, RegisterRequest};

/// Where the runner keeps its identity, credentials and pending completions.
#[derive(Debug, Clone, clap::Args)]
pub struct RunnerDirArgs {
    /// The runner's directory (identity, credentials, pending results); default
    /// `$HRUN_RUNNER_DIR`, else `~/.hrun/runner`.
    #[arg(long = "dir", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

impl RunnerDirArgs {
    pub fn path(&self) -> Result<PathBuf> {
        if let Some(d) = &self.dir {
            return Ok(d.clone());
        }
        if let Some(d) = std::env::var_os("HRUN_RUNNER_DIR") {
            return Ok(PathBuf::from(d));
        }
        let home = std::env::var_os("HOME").context("HOME is not set: give --dir")?;
        Ok(PathBuf::from(home).join(".hrun").join("runner"))
    }
}

/// How a registration or removal token is had: given, or minted through a GitHub App.
#[derive(Debug, Clone, clap::Args)]
pub struct TokenArgs {
    /// A registration (or removal) token from GitHub's settings page or REST API.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Mint the token through this GitHub App (with --private-key and --installation-id).
    #[arg(long, value_name = "ID", requires_all = ["private_key", "installation_id"])]
    pub app_id: Option<String>,
    /// The App's private key (PEM file).
    #[arg(long, value_name = "FILE")]
    pub private_key: Option<PathBuf>,
    /// The App's installation on the owner of the repository or organization.
    #[arg(long, value_name = "ID")]
    pub installation_id: Option<u64>,
}

impl TokenArgs {
    async fn token(&self, github: &GithubUrl, kind: &str) -> Result<String> {
        if let Some(t) = &self.token {
            return Ok(t.clone());
        }
        let (Some(app_id), Some(key), Some(installation)) =
            (&self.app_id, &self.private_key, self.installation_id)
        else {
            bail!("give --token, or --app-id with --private-key and --installation-id");
        };
        let pem = std::fs::read_to_string(key)
            .with_context(|| format!("cannot read {}", key.display()))?;
        let key = read_app_key(&pem)?;
        Ok(mint_runner_token(github, app_id, &key, installation, kind).await?)
    }
}

#[derive(Debug, clap::Args)]
pub struct RegisterArgs {
    /// The repository, organization or enterprise: https://HOST/OWNER[/REPO].
    #[arg(long, value_name = "URL", required_unless_present = "jitconfig")]
    pub url: Option<String>,
    #[command(flatten)]
    pub token: TokenArgs,
    /// A just-in-time configuration from GitHub's `generate-jitconfig` API: written as the
    /// runner's identity, no registration call made.
    #[arg(long, value_name = "BLOB", conflicts_with_all = ["url", "app_id"])]
    pub jitconfig: Option<String>,
    /// The runner's name (default: this host's name).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Extra labels, comma-separated (self-hosted, Linux and the architecture are always there).
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    pub labels: Vec<String>,
    /// The runner group (default: the default group).
    #[arg(long, value_name = "GROUP")]
    pub runner_group: Option<String>,
    /// Take one job, then deregister (GitHub removes the runner after its job).
    #[arg(long)]
    pub ephemeral: bool,
    /// Take the place of a runner of the same name.
    #[arg(long)]
    pub replace: bool,
    /// The work folder jobs run in, relative to the runner's directory.
    #[arg(long, value_name = "DIR", default_value = "_work")]
    pub work: String,
    #[command(flatten)]
    pub dir: RunnerDirArgs,
}

#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    #[command(flatten)]
    pub token: TokenArgs,
    /// Only delete the local identity; GitHub is not told.
    #[arg(long)]
    pub local: bool,
    #[command(flatten)]
    pub dir: RunnerDirArgs,
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn http() -> Result<HttpClient> {
    HttpClient::new(Duration::from_secs(100)).map_err(anyhow::Error::msg)
}

fn host_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "hrun".to_owned())
}

pub fn register(args: RegisterArgs) -> Result<Exit> {
    let dir = args.dir.path()?;
    if let Some(blob) = &args.jitconfig {
        let written = identity::write_jit_config(&dir, blob)?;
        println!(
            "hrun: wrote the just-in-time configuration ({}) to {}",
            written.join(", "),
            dir.display()
        );
        return Ok(Exit::Ok);
    }
    let Some(url) = args.url.clone() else {
        bail!("give --url (or --jitconfig)");
    };
    if dir.join(identity::SETTINGS_FILE).exists() && !args.replace {
        bail!(
            "a runner is already registered in {}: run `hrun remove` first, or give --replace",
            dir.display()
        );
    }
    let github = GithubUrl::parse(&url)?;
    let rt = runtime()?;
    let http = http()?;
    let token = rt.block_on(args.token.token(&github, "registration"))?;
    let key = identity::new_key()?;
    let request = RegisterRequest {
        url,
        token,
        name: args.name.clone().unwrap_or_else(host_name),
        labels: args.labels.clone(),
        runner_group: args.runner_group.clone(),
        ephemeral: args.ephemeral,
        replace: args.replace,
        work_folder: args.work.clone(),
    };
    let (settings, credentials) = rt
        .block_on(registration::register(&http, &request, &key))
        .context("registration failed")?;
    let id = Identity {
        settings,
        credentials,
        key,
    };
    id.save(&dir)?;
    println!(
        "hrun: registered runner `{}` (id {}) in group `{}`; identity written to {} (mode 0600)",
        id.settings.agent_name,
        id.settings.agent_id,
        id.settings.pool_name,
        dir.display()
    );
    Ok(Exit::Ok)
}

pub fn remove(args: RemoveArgs) -> Result<Exit> {
    let dir = args.dir.path()?;
    if !args.local {
        let id = Identity::load(&dir)?;
        let github = GithubUrl::parse(&id.settings.git_hub_url)?;
        let rt = runtime()?;
        let http = http()?;
        let token = rt.block_on(args.token.token(&github, "remove"))?;
        rt.block_on(registration::remove(&http, &id.settings, &token))
            .context("GitHub did not remove the runner")?;
        println!(
            "hrun: runner `{}` removed from GitHub",
            id.settings.agent_name
        );
    }
    identity::remove(&dir)?;
    println!("hrun: local identity removed from {}", dir.display());
    Ok(Exit::Ok)
}
