//! `hrun verify`: checks a job's `evidence.tar` offline with the signer's public key: both
//! signatures, every member's digest, the audit records' inclusion proofs, a rebuild's
//! reproducibility attestation when the bundle holds one, the stated expectations and each given
//! artifact against the provenance's subjects. With `--receipts
//! FILE` (a git note's text, `git notes --ref refs/notes/hrun/receipts show <commit>`, or `-` for
//! stdin) every receipt in it must be signed by the key, and the evidence bundle, when one is
//! given, must be named by one of them (digest, job, invocation, commit and checkpoint).
//!
//! Exit codes: 0 verified, 1 not verified (the reason is printed), 2 could not verify
//! (unreadable input, bad flags).

use std::path::PathBuf;

use anyhow::Result;

use provenance::digest::Sha256Digest;
use provenance::keys::VerifyingKey;
use provenance::receipt::Receipt;
use provenance::verify::{receipt_for, verify_evidence, verify_receipts, Expectations};

use crate::exit::Exit;

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// The job's evidence bundle (optional with `--receipts`).
    #[arg(required_unless_present = "receipts")]
    pub evidence: Option<PathBuf>,
    /// The signer's public key (PEM).
    #[arg(long, value_name = "PUB")]
    pub key: PathBuf,
    /// The repository the source must come from (`owner/repo` or its URL).
    #[arg(long, value_name = "R")]
    pub source_repo: Option<String>,
    /// The ref the source must come from (`refs/heads/main`, or `main`).
    #[arg(long, value_name = "REF")]
    pub source_ref: Option<String>,
    /// The builder id the provenance must state.
    #[arg(long, value_name = "ID")]
    pub builder_id: Option<String>,
    /// A file that must be one of the provenance's subjects (by SHA-256), repeatable.
    #[arg(long = "artifact", value_name = "FILE", num_args = 1..)]
    pub artifacts: Vec<PathBuf>,
    /// Receipts to check (a git note's text; `-` reads stdin): each must be signed by the key,
    /// and one must name the evidence bundle when one is given.
    #[arg(long, value_name = "FILE")]
    pub receipts: Option<PathBuf>,
}

pub fn run(args: VerifyArgs) -> Result<Exit> {
    let could_not = |what: String| {
        eprintln!("could not verify: {what}");
        Ok(Exit::CouldNotEvaluate)
    };
    let key = match VerifyingKey::read(&args.key) {
        Ok(k) => k,
        Err(e) => return could_not(format!("--key {}: {e}", args.key.display())),
    };
    let receipts = match &args.receipts {
        None => None,
        Some(path) => {
            let text = if path.as_os_str() == "-" {
                let mut text = Vec::new();
                std::io::Read::read_to_end(&mut std::io::stdin(), &mut text).map(|_| text)
            } else {
                std::fs::read(path)
            };
            let text = match text {
                Ok(t) => t,
                Err(e) => return could_not(format!("--receipts {}: {e}", path.display())),
            };
            match verify_receipts(&text, &key) {
                Ok(r) => Some(r),
                Err(reason) => {
                    println!("not verified: {reason}");
                    return Ok(Exit::Denied);
                }
            }
        }
    };
    let Some(evidence) = &args.evidence else {
        for r in receipts.iter().flatten() {
            print_receipt(r);
        }
        return Ok(Exit::Ok);
    };
    let tar = match std::fs::read(evidence) {
        Ok(b) => b,
        Err(e) => return could_not(format!("{}: {e}", evidence.display())),
    };
    let mut artifacts = Vec::new();
    for path in &args.artifacts {
        match Sha256Digest::of_file(path) {
            Ok(d) => artifacts.push((path.display().to_string(), d)),
            Err(e) => return could_not(format!("--artifact {}: {e}", path.display())),
        }
    }
    let expect = Expectations {
        source_repo: args.source_repo.clone(),
        source_ref: args.source_ref.clone(),
        builder_id: args.builder_id.clone(),
        artifacts,
    };
    match verify_evidence(&tar, &key, &expect) {
        Ok(v) => {
            let receipt = match &receipts {
                None => None,
                Some(all) => match receipt_for(all, Sha256Digest::of(&tar), &v) {
                    Ok(r) => Some(r),
                    Err(reason) => {
                        println!("not verified: {reason}");
                        return Ok(Exit::Denied);
                    }
                },
            };
            let p = &v.provenance.predicate;
            let w = &p.build_definition.external_parameters.workflow;
            println!(
                "verified: job {} of {} ({} @ {}), {} subject(s), {} members, {} audit records in a tree of {}",
                v.manifest.predicate.job,
                w.path,
                w.repository,
                w.git_ref,
                v.provenance.subject.len(),
                v.members.len(),
                v.records.len(),
                v.checkpoint.tree_size
            );
            for (path, subject) in &v.artifacts {
                println!("  artifact {path} = subject {subject}");
            }
            if let Some(r) = &v.reproducibility {
                let p = &r.predicate;
                println!(
                    "  reproducibility: {} (rebuild of {}; {} file(s) compared)",
                    p.verdict.as_str(),
                    p.original.invocation_id,
                    p.subjects.len()
                );
            }
            for (kind, why) in &v.manifest.predicate.absent {
                println!("  absent: {kind}: {why}");
            }
            if let Some(r) = receipt {
                print_receipt(r);
            }
            Ok(Exit::Ok)
        }
        Err(reason) => {
            println!("not verified: {reason}");
            Ok(Exit::Denied)
        }
    }
}

fn print_receipt(r: &Receipt) {
    println!(
        "  receipt: job {} on commit {}, evidence sha256 {}, audit tree {}",
        r.job, r.commit, r.evidence_sha256, r.checkpoint.tree_size
    );
}
