//! `hrun audit verify`: checks the host's audit log offline: every record in its place, every
//! checkpoint signed and matching the records, consecutive checkpoints consistent, nothing
//! truncated, and checkpoints kept elsewhere (`--checkpoint`, a signed checkpoint or an
//! `evidence.tar` holding one) prefixes of the log (else the history forked).
//!
//! Exit codes: 0 verified, 1 not verified (the reason is printed), 2 could not verify.

use std::path::PathBuf;

use anyhow::Result;

use provenance::evidence::{tarball, AUDIT_CHECKPOINT};
use provenance::keys::VerifyingKey;
use provenance::verify::{verify_log, VerifyError};

use crate::evidence::signing_key::cache_dir;
use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Verify the audit log (exit 0 verified, 1 not verified, 2 could not verify).
    Verify {
        /// The log's directory (default: `$HRUN_AUDIT_DIR`, else `$HRUN_CACHE/audit`).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// The signer's public key (default: `$HRUN_CACHE/keys/host.pub`).
        #[arg(long, value_name = "PUB")]
        key: Option<PathBuf>,
        /// A checkpoint kept elsewhere: a signed checkpoint file or an evidence.tar, repeatable.
        #[arg(long = "checkpoint", value_name = "FILE")]
        checkpoints: Vec<PathBuf>,
    },
}

pub fn run(args: AuditArgs) -> Result<Exit> {
    let AuditCommand::Verify {
        dir,
        key,
        checkpoints,
    } = args.command;
    let could_not = |what: String| {
        eprintln!("could not verify: {what}");
        Ok(Exit::CouldNotEvaluate)
    };
    let cache = cache_dir();
    let Some(dir) = dir
        .or_else(|| {
            std::env::var_os("HRUN_AUDIT_DIR")
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .or_else(|| cache.as_ref().map(|c| c.join("audit")))
    else {
        return could_not("no audit log directory: pass --dir".into());
    };
    let Some(key_path) = key.or_else(|| cache.as_ref().map(|c| c.join("keys/host.pub"))) else {
        return could_not("no public key: pass --key".into());
    };
    let key = match VerifyingKey::read(&key_path) {
        Ok(k) => k,
        Err(e) => return could_not(format!("--key {}: {e}", key_path.display())),
    };
    let mut kept = Vec::new();
    for path in &checkpoints {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => return could_not(format!("--checkpoint {}: {e}", path.display())),
        };
        if bytes.starts_with(b"{") {
            kept.push(bytes);
            continue;
        }
        match tarball::unpack(&bytes) {
            Ok((mut members, _)) => match members.remove(AUDIT_CHECKPOINT) {
                Some(cp) => kept.push(cp),
                None => {
                    println!(
                        "not verified: {} holds no {AUDIT_CHECKPOINT}",
                        path.display()
                    );
                    return Ok(Exit::Denied);
                }
            },
            Err(e) => {
                println!("not verified: {}: {e}", path.display());
                return Ok(Exit::Denied);
            }
        }
    }
    match verify_log(&dir, &key, &kept) {
        Ok(report) => {
            println!(
                "verified: {} records, {} checkpoints{}{}",
                report.records,
                report.checkpoints,
                report
                    .head
                    .map(|h| format!(", last tree {} root {}", h.size, h.root))
                    .unwrap_or_default(),
                if report.unsealed > 0 {
                    format!(
                        "; {} record(s) after the last checkpoint are not yet covered by a signature",
                        report.unsealed
                    )
                } else {
                    String::new()
                }
            );
            Ok(Exit::Ok)
        }
        Err(VerifyError::Rejected(reason)) => {
            println!("not verified: {reason}");
            Ok(Exit::Denied)
        }
        Err(VerifyError::CouldNotVerify(what)) => could_not(what),
    }
}
