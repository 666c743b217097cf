//! Which key signs a run's provenance, evidence and audit checkpoints.
//!
//! In order: `--signing-key FILE`, then `$HRUN_SIGNING_KEY`, then the runner's configuration
//! file's `[evidence] signing_key`, then the host key
//! `$HRUN_CACHE/keys/host.key` (P-256), generated the first time it is needed with its public
//! key beside it (`host.pub`), and said so. The key is read by the runner on the host only: no
//! sandbox binds `$HRUN_CACHE` or the key's directory, and the file is 0600.

use std::path::{Path, PathBuf};

use provenance::keys::{KeyKind, SigningKey};

/// Where the signing key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `--signing-key`.
    Flag(PathBuf),
    /// `$HRUN_SIGNING_KEY`.
    Env(PathBuf),
    /// The configuration file's `[evidence] signing_key`.
    Config(PathBuf),
    /// The host key under the cache; `generated` when this run made it.
    Host { path: PathBuf, generated: bool },
}

impl KeySource {
    /// A line for the live log.
    pub fn describe(&self) -> String {
        match self {
            KeySource::Flag(p) => format!("signing with {} (--signing-key)", p.display()),
            KeySource::Env(p) => format!("signing with {} ($HRUN_SIGNING_KEY)", p.display()),
            KeySource::Config(p) => format!(
                "signing with {} (the configuration's [evidence] signing_key)",
                p.display()
            ),
            KeySource::Host { path, generated } => {
                let public = path.with_extension("pub");
                if *generated {
                    format!(
                        "generated the host signing key {} (public key {}); it signs every run's evidence from now on",
                        path.display(),
                        public.display()
                    )
                } else {
                    format!(
                        "signing with the host key {} (public key {})",
                        path.display(),
                        public.display()
                    )
                }
            }
        }
    }
}

/// `$HRUN_CACHE`, else `$HOME/.cache/hrun`.
pub fn cache_dir() -> Option<PathBuf> {
    let non_empty = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    non_empty("HRUN_CACHE")
        .map(PathBuf::from)
        .or_else(|| non_empty("HOME").map(|h| PathBuf::from(h).join(".cache/hrun")))
}

/// The signing key of a run: `flag`, `$HRUN_SIGNING_KEY`, `configured`, then the host key.
pub fn resolve(
    flag: Option<&Path>,
    configured: Option<&Path>,
) -> anyhow::Result<(SigningKey, KeySource)> {
    use anyhow::Context;
    if let Some(path) = flag {
        let key = SigningKey::read(path).with_context(|| "--signing-key".to_owned())?;
        return Ok((key, KeySource::Flag(path.to_path_buf())));
    }
    if let Some(path) = std::env::var_os("HRUN_SIGNING_KEY").filter(|v| !v.is_empty()) {
        let path = PathBuf::from(path);
        let key = SigningKey::read(&path).context("$HRUN_SIGNING_KEY")?;
        return Ok((key, KeySource::Env(path)));
    }
    if let Some(path) = configured {
        let key = SigningKey::read(path).with_context(|| {
            format!(
                "the configuration's [evidence] signing_key {}",
                path.display()
            )
        })?;
        return Ok((key, KeySource::Config(path.to_path_buf())));
    }
    let dir = cache_dir()
        .context("no signing key: pass --signing-key, or set HRUN_CACHE or HOME for the host key")?
        .join("keys");
    host_key(&dir)
}

/// The host key in `dir`, made if missing.
pub fn host_key(dir: &Path) -> anyhow::Result<(SigningKey, KeySource)> {
    use anyhow::Context;
    use std::os::unix::fs::DirBuilderExt;
    let path = dir.join("host.key");
    if path.exists() {
        let key = SigningKey::read(&path)?;
        return Ok((
            key,
            KeySource::Host {
                path,
                generated: false,
            },
        ));
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let key = SigningKey::generate(KeyKind::P256);
    match key.write_pair(&path, &path.with_extension("pub")) {
        Ok(()) => Ok((
            key,
            KeySource::Host {
                path,
                generated: true,
            },
        )),
        // Another run made it at the same time: use theirs.
        Err(_) if path.exists() => Ok((
            SigningKey::read(&path)?,
            KeySource::Host {
                path,
                generated: false,
            },
        )),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn makes_the_host_key_once_then_reuses_it() {
        let dir = tempfile::tempdir().unwrap();
        let keys = dir.path().join("keys");
        let (a, source) = host_key(&keys).unwrap();
        assert!(matches!(
            source,
            KeySource::Host {
                generated: true,
                ..
            }
        ));
        let (b, source) = host_key(&keys).unwrap();
        assert!(matches!(
            source,
            KeySource::Host {
                generated: false,
                ..
            }
        ));
        assert_eq!(a.public(), b.public());
        assert!(keys.join("host.pub").is_file());
    }
}
