//! `hrun keys generate`: a new signing key pair for provenance, evidence and audit checkpoints.

use std::path::PathBuf;

use anyhow::Result;

use provenance::keys::{KeyKind, SigningKey};

use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum KeysCommand {
    /// Write a new private key (PKCS#8 PEM, mode 0600) to PREFIX.key and its public key
    /// (SubjectPublicKeyInfo PEM) to PREFIX.pub; existing files are never replaced.
    Generate {
        /// `p256` (ECDSA P-256 with SHA-256) or `ed25519`.
        #[arg(long, default_value = "p256", value_parser = parse_kind)]
        kind: KeyKind,
        /// Where to write: PREFIX.key and PREFIX.pub.
        #[arg(long, value_name = "PREFIX", default_value = "hrun-signing")]
        out: PathBuf,
    },
}

fn parse_kind(s: &str) -> Result<KeyKind, String> {
    s.parse()
        .map_err(|e: provenance::keys::KeyError| e.to_string())
}

pub fn run(args: KeysArgs) -> Result<Exit> {
    match args.command {
        KeysCommand::Generate { kind, out } => {
            let private = with_suffix(&out, "key");
            let public = with_suffix(&out, "pub");
            let key = SigningKey::generate(kind);
            key.write_pair(&private, &public)?;
            println!(
                "{} key: private {} (mode 0600), public {} (hint {})",
                kind.as_str(),
                private.display(),
                public.display(),
                key.public().hint()
            );
            Ok(Exit::Ok)
        }
    }
}

/// `prefix.suffix`, keeping any dots already in the prefix.
fn with_suffix(prefix: &std::path::Path, suffix: &str) -> PathBuf {
    let mut s = prefix.as_os_str().to_owned();
    s.push(".");
    s.push(suffix);
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_keep_the_prefix_whole() {
        assert_eq!(
            with_suffix(std::path::Path::new("a/ci.v1"), "key"),
            PathBuf::from("a/ci.v1.key")
        );
    }
}
