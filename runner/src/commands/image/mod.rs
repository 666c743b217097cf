//! `hrun image`: build, list and verify the microVM guest images (`build`, `ls`, `verify`),
//! kept in the image store, `$HRUN_CACHE/images` by default.

mod progress;

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::time::Instant;

use images::{ImageDir, ImageStore, Recipe};

use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ImageCommand {
    /// Build the guest image (kernel, initramfs, ext4 rootfs) into the store, or reuse the image
    /// built from the same inputs (exit 0 built or reused, 2 could not build). Needs root.
    Build {
        /// The image store: the image goes to DIR/<digest>/ and DIR/current points at it
        /// [default: $HRUN_CACHE/images].
        #[arg(long, visible_alias = "store", value_name = "DIR")]
        out: Option<PathBuf>,
        /// The guest agent binary, the initramfs's /init [default: hrun-guest-agent next to
        /// hrun; `bash ci/build-agent.sh` builds it and prints its path].
        #[arg(long, value_name = "PATH")]
        agent: Option<PathBuf>,
        /// Build even when the store has an image built from the same inputs.
        #[arg(long)]
        force: bool,
        /// `human` or `json` (the result on stdout; progress goes to stderr).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// List the images in the store, newest first (exit 2 if one is unreadable).
    Ls {
        /// The image store [default: $HRUN_CACHE/images].
        #[arg(long, value_name = "DIR")]
        store: Option<PathBuf>,
        /// `human` or `json`.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Re-hash every file of an image against its manifest (exit 0 intact, 1 a file differs,
    /// 2 no such image).
    Verify {
        /// A digest (or a prefix of at least 4 digits) in the store, or an image directory
        /// [default: the store's current image].
        image: Option<String>,
        /// The image store [default: $HRUN_CACHE/images].
        #[arg(long, value_name = "DIR")]
        store: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
}

pub fn run(args: ImageArgs) -> Result<Exit> {
    match args.command {
        ImageCommand::Build {
            out,
            agent,
            force,
            format,
        } => build(out, agent, force, format),
        ImageCommand::Ls { store, format } => list(&store_at(store)?, format),
        ImageCommand::Verify { image, store } => verify(&store_at(store)?, image.as_deref()),
    }
}

fn cache() -> Result<PathBuf> {
    crate::cache::cache_dir()
        .context("neither HRUN_CACHE nor HOME is set, so there is no cache directory for images")
}

fn store_at(dir: Option<PathBuf>) -> Result<ImageStore> {
    Ok(match dir {
        Some(dir) => ImageStore::new(dir),
        None => ImageStore::in_cache(&cache()?),
    })
}

/// `hrun-guest-agent` beside the running `hrun` (where cargo puts both).
fn default_agent() -> Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the running hrun binary")?;
    Ok(exe.with_file_name("hrun-guest-agent"))
}

/// `SOURCE_DATE_EPOCH` from the environment, or the recipe's default.
fn source_date_epoch() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) if !text.is_empty() => text.trim().parse().with_context(|| {
            format!("SOURCE_DATE_EPOCH `{text}` is not a number of seconds since 1970")
        }),
        _ => Ok(images::DEFAULT_SOURCE_DATE_EPOCH),
    }
}

fn build(
    out: Option<PathBuf>,
    agent: Option<PathBuf>,
    force: bool,
    format: Format,
) -> Result<Exit> {
    let store = store_at(out)?;
    let downloads = cache()?.join("downloads");
    let agent = match agent {
        Some(agent) => agent,
        None => default_agent()?,
    };
    let recipe = Recipe::bookworm(
        images::apt_sources::from_host("bookworm"),
        source_date_epoch()?,
    );
    let request = images::BuildRequest {
        store: &store,
        downloads: &downloads,
        agent: &agent,
        recipe,
        force,
    };
    let started = Instant::now();
    let mut progress = progress::BuildDisplay::new();
    let result = images::build(&request, &mut progress);
    progress.finish(result.is_ok());
    let outcome = result.with_context(|| format!("image build into {}", store.root().display()))?;
    let elapsed = started.elapsed();
    let image = outcome.image();
    let reused = matches!(outcome, images::BuildOutcome::Reused(_));
    match format {
        Format::Json => {
            let mut value = image_json(image, true);
            if let Some(object) = value.as_object_mut() {
                object.insert(
                    "outcome".into(),
                    (if reused { "reused" } else { "built" }).into(),
                );
                object.insert("seconds".into(), elapsed.as_secs_f64().into());
            }
            println!("{}", serde_json::to_string_pretty(&value)?);
        }
        Format::Human => {
            if reused {
                println!(
                    "image {} is up to date: the store has it from the same inputs (agent, \
                     recipe, mirror state); `--force` rebuilds it",
                    image.digest
                );
            } else {
                println!("built image {} in {}", image.digest, duration(elapsed));
            }
            describe(image);
        }
    }
    Ok(Exit::Ok)
}

fn describe(image: &ImageDir) {
    let m = &image.manifest;
    println!("  dir:      {}", image.dir.display());
    println!(
        "  kernel:   {} ({} {})",
        m.kernel.release, m.kernel.package, m.kernel.version
    );
    println!(
        "  rootfs:   {} Debian packages, node {}, {}",
        m.rootfs.packages.len(),
        m.rootfs.node.version,
        size(m.component("rootfs").map_or(0, |c| c.size))
    );
    println!(
        "  initrd:   agent {}, {} modules, {}",
        m.initrd.agent_sha256.short(12),
        m.initrd.modules.len(),
        size(m.component("initrd").map_or(0, |c| c.size))
    );
    println!("  total:    {}", size(image.size()));
}

fn image_json(image: &ImageDir, current: bool) -> serde_json::Value {
    let m = &image.manifest;
    serde_json::json!({
        "digest": image.digest,
        "dir": image.dir,
        "current": current,
        "size": image.size(),
        "kernel_release": m.kernel.release,
        "kernel_package": format!("{} {}", m.kernel.package, m.kernel.version),
        "packages": m.rootfs.packages.len(),
        "source_date_epoch": m.source_date_epoch,
    })
}

fn list(store: &ImageStore, format: Format) -> Result<Exit> {
    let listed = store.list()?;
    let unreadable = listed.iter().filter(|l| l.image.is_err()).count();
    match format {
        Format::Json => {
            let items: Vec<serde_json::Value> = listed
                .iter()
                .map(|l| match &l.image {
                    Ok(image) => {
                        let mut value = image_json(image, l.current);
                        if let Some(object) = value.as_object_mut() {
                            object.insert("installed".into(), date(l.installed).into());
                        }
                        value
                    }
                    Err(err) => serde_json::json!({
                        "digest": l.name, "dir": l.dir, "current": l.current,
                        "error": format!("{err:#}"),
                    }),
                })
                .collect();
            println!("{}", serde_json::to_string_pretty(&items)?);
        }
        Format::Human if listed.is_empty() => {
            println!(
                "no images in {} (build one with `hrun image build`)",
                store.root().display()
            );
        }
        Format::Human => {
            println!(
                "  {:<16} {:<16} {:>9}  {:<22} {:>8}",
                "DIGEST", "INSTALLED", "SIZE", "KERNEL", "PACKAGES"
            );
            for l in &listed {
                let mark = if l.current { "*" } else { " " };
                match &l.image {
                    Ok(image) => println!(
                        "{mark} {:<16} {:<16} {:>9}  {:<22} {:>8}",
                        image.digest.short(16),
                        date(l.installed),
                        size(image.size()),
                        image.kernel_release(),
                        image.manifest.rootfs.packages.len()
                    ),
                    Err(err) => println!("{mark} {:<16} unreadable: {err}", &l.name),
                }
            }
            println!("(* = current; store {})", store.root().display());
        }
    }
    Ok(if unreadable > 0 {
        Exit::CouldNotEvaluate
    } else {
        Exit::Ok
    })
}

fn verify(store: &ImageStore, image: Option<&str>) -> Result<Exit> {
    let dir = match image {
        None => match store.current()? {
            Some(image) => image.dir,
            None => bail!(
                "the store {} has no current image; name one or build one with `hrun image build`",
                store.root().display()
            ),
        },
        Some(arg) if arg.contains('/') || Path::new(arg).is_dir() => PathBuf::from(arg),
        Some(digest) => store.find(digest)?.dir,
    };
    let verification = images::verify(&dir)?;
    let digest = verification
        .digest
        .as_ref()
        .map_or_else(|| "?".to_owned(), |d| d.to_string());
    if verification.is_ok() {
        println!(
            "ok: image {digest} at {}: {} match the manifest",
            dir.display(),
            verification.checked.join(", ")
        );
        return Ok(Exit::Ok);
    }
    for problem in &verification.problems {
        eprintln!("mismatch: {problem}");
    }
    eprintln!(
        "image at {} does NOT match its manifest ({} problem{}); rebuild it with `hrun image build --force`",
        dir.display(),
        verification.problems.len(),
        if verification.problems.len() == 1 { "" } else { "s" }
    );
    Ok(Exit::Denied)
}

fn size(bytes: u64) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / MIB)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

fn duration(elapsed: std::time::Duration) -> String {
    let secs = elapsed.as_secs();
    if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{:.1}s", elapsed.as_secs_f64())
    }
}

fn date(time: Option<std::time::SystemTime>) -> String {
    time.map(|t| {
        chrono::DateTime::<chrono::Utc>::from(t)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    })
    .unwrap_or_else(|| "?".to_owned())
}
