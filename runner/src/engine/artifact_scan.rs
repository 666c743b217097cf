//! The scan of a job's artifacts before they leave its sandbox: every regular file under
//! `$HRUN_ARTIFACTS`, searched with the run's rule pack (text files; binaries are skipped after
//! their first 8 KiB) and for the job's own secrets by value, in every encoding the masker knows
//! (every file, binary too).
//!
//! It runs when the job's steps are over and its sandbox has ended (a microVM has copied the
//! directory back), before `result.json` is written, so the policy can still fail the job: under
//! `--secret-scan fail` an artifact with a finding is withheld, kept out of the job's artifacts
//! and of its provenance's subjects (see `evidence::artifacts::collect`), and the finding is
//! recorded in `secret-scan.json`.
//!
//! Must never: follow a link or open a FIFO or device in the directory (it is the job's, hostile),
//! or put a value in a finding.

use std::collections::BTreeSet;
use std::path::Path;

use hermetic::scan::{Finding, KnownSecrets, Scanner};

use crate::evidence::artifacts::regular_files;

/// What the scan of one artifacts directory found.
#[derive(Debug, Default)]
pub struct ArtifactFindings {
    /// Regular files scanned, and their bytes.
    pub files: u64,
    pub bytes: u64,
    /// Each labelled `artifact <name>` (the name relative to `$HRUN_ARTIFACTS`).
    pub findings: Vec<Finding>,
    /// `<name>: <why>` for each artifact that could not be scanned.
    pub errors: Vec<String>,
    /// The names of the artifacts with a finding.
    pub with_findings: BTreeSet<String>,
}

/// Scans every regular file under `dir` (nothing when there is no such directory).
pub fn scan_artifacts(dir: &Path, scanner: &Scanner, known: &KnownSecrets) -> ArtifactFindings {
    let mut out = ArtifactFindings::default();
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.is_dir() => {}
        _ => return out,
    }
    let files = match regular_files(dir) {
        Ok(listing) => listing.files,
        Err(e) => {
            out.errors.push(format!(".: {e}"));
            return out;
        }
    };
    for (name, size) in files {
        let path = dir.join(&name);
        let label = format!("artifact {name}");
        let report = scanner.scan_paths(&[&path]);
        out.errors.extend(
            report
                .errors
                .iter()
                .map(|e| format!("{name}: {}", e.message)),
        );
        let by_value = match known.scan_file(&path, &label) {
            Ok(by_value) => by_value,
            Err(e) => {
                out.errors.push(format!("{name}: {e}"));
                Vec::new()
            }
        };
        // A rule's match over one of the job's secrets is that secret: it is reported once, by
        // its name.
        let mut found: Vec<Finding> = report
            .findings
            .into_iter()
            .filter(|f| !by_value.iter().any(|k| overlaps(f, k)))
            .collect();
        found.extend(by_value);
        if !found.is_empty() {
            out.with_findings.insert(name.clone());
        }
        for mut finding in found {
            finding.source.clone_from(&label);
            out.findings.push(finding);
        }
        out.files += 1;
        out.bytes += size;
    }
    out
}

fn overlaps(a: &Finding, b: &Finding) -> bool {
    a.offset < b.offset.saturating_add(b.length) && b.offset < a.offset.saturating_add(a.length)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hermetic::scan::{RulePack, KNOWN_SECRET_RULE};

    #[test]
    fn finds_tokens_and_the_jobs_secrets_and_names_the_artifact() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        // Synthetic npm token: the rule pack's shape, not a real one.
        let token = format!("npm_{}", "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1eF3hJ5");
        std::fs::write(root.join("sub/npmrc"), format!("//r/:_authToken={token}\n")).unwrap();
        std::fs::write(root.join("leak.bin"), b"\0\0binary hunter2-hunter2\0").unwrap();
        std::fs::write(root.join("env"), b"password: hunter2-hunter2\n").unwrap();
        std::fs::write(root.join("clean.txt"), b"nothing to see").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("link")).unwrap();
        let mut known = KnownSecrets::new();
        known.add("PASSWORD", "hunter2-hunter2");
        let found = scan_artifacts(root, &Scanner::new(RulePack::builtin()), &known);
        assert_eq!(found.files, 4);
        assert!(found.errors.is_empty(), "{:?}", found.errors);
        let names: Vec<&str> = found.with_findings.iter().map(String::as_str).collect();
        assert_eq!(names, ["env", "leak.bin", "sub/npmrc"]);
        // The generic rule's match over the secret is the secret, reported once by name.
        let in_env: Vec<&str> = found
            .findings
            .iter()
            .filter(|f| f.source == "artifact env")
            .map(|f| f.rule.as_str())
            .collect();
        assert_eq!(in_env, [KNOWN_SECRET_RULE]);
        let by_source: Vec<(&str, &str)> = found
            .findings
            .iter()
            .map(|f| (f.source.as_str(), f.rule.as_str()))
            .collect();
        assert!(by_source.contains(&("artifact leak.bin", KNOWN_SECRET_RULE)));
        assert!(by_source.contains(&("artifact sub/npmrc", "npm-access-token")));
        let shown = format!("{:?}", found.findings);
        assert!(
            !shown.contains("hunter2") && !shown.contains("aB3dE5"),
            "{shown}"
        );
    }

    #[test]
    fn no_directory_scans_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let found = scan_artifacts(
            &dir.path().join("none"),
            &Scanner::new(RulePack::builtin()),
            &KnownSecrets::new(),
        );
        assert_eq!(found.files, 0);
        assert!(found.findings.is_empty() && found.errors.is_empty());
    }
}
