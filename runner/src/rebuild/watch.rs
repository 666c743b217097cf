//! `hrun rebuild --watch DIR`: rebuilds, once each, every `evidence.tar` under DIR that is older
//! than a delay, records each result in the [`super::ledger`], and does it again every period
//! (or once, `--once`, for a systemd timer or a cron job).
//!
//! Each rebuild runs as its own `hrun rebuild` process: it pins itself to one CPU for
//! `--vary parallelism` and owns its async runtime, and its output goes to `rebuild.log` in its
//! own output directory under `--out` (default `$HRUN_CACHE/rebuilds/runs/`). Bundles are found by
//! walking DIR without following symbolic links, at most [`MAX_DEPTH`] levels deep; a rebuild's
//! own bundle (it holds an attestation) is recorded as skipped, never rebuilt.
//!
//! Must never: rebuild a bundle the ledger already holds (by digest), or stop the loop because one
//! rebuild failed.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use provenance::digest::Sha256Digest;
use provenance::evidence::tarball;
use provenance::reproducibility::REPRODUCIBILITY;

use super::ledger::{Ledger, LedgerEntry, LedgerVerdict};

/// How deep under DIR bundles are looked for.
pub const MAX_DEPTH: usize = 12;

/// What the watcher does.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub dir: PathBuf,
    /// Time between passes.
    pub every: Duration,
    /// How old (by modification time) a bundle must be before it is rebuilt.
    pub after: Duration,
    /// One pass, then stop.
    pub once: bool,
    pub ledger: Ledger,
    /// Where each rebuild's output directory is made.
    pub out_root: PathBuf,
    /// The flags every rebuild gets (`--key`, `--shift`, `--vary`, `--source`, ...).
    pub rebuild_args: Vec<OsString>,
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PassSummary {
    pub rebuilt: usize,
    /// Found but younger than the delay.
    pub waiting: usize,
    /// Already in the ledger.
    pub known: usize,
}

/// Passes until stopped (or once); `program` is `hrun` itself.
pub fn watch(options: &WatchOptions, program: &Path, note: &mut dyn FnMut(&str)) -> io::Result<()> {
    loop {
        let summary = pass(options, program, note)?;
        note(&format!(
            "pass done: {} rebuilt, {} waiting for the delay, {} already in the ledger",
            summary.rebuilt, summary.waiting, summary.known
        ));
        if options.once {
            return Ok(());
        }
        std::thread::sleep(options.every);
    }
}

/// One pass over DIR.
pub fn pass(
    options: &WatchOptions,
    program: &Path,
    note: &mut dyn FnMut(&str),
) -> io::Result<PassSummary> {
    let state = options.ledger.read()?;
    let skip = std::fs::canonicalize(&options.out_root).ok();
    let mut bundles = Vec::new();
    find_bundles(&options.dir, skip.as_deref(), 0, &mut bundles);
    bundles.sort();
    let mut summary = PassSummary::default();
    for bundle in bundles {
        let Ok(bytes) = std::fs::read(&bundle) else {
            continue;
        };
        let digest = Sha256Digest::of(&bytes).to_hex();
        if state.latest.contains_key(&digest) {
            summary.known += 1;
            continue;
        }
        let age = std::fs::metadata(&bundle)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|m| SystemTime::now().duration_since(m).ok())
            .unwrap_or_default();
        if age < options.after {
            summary.waiting += 1;
            continue;
        }
        let entry = if is_rebuild_bundle(&bytes) {
            LedgerEntry {
                at: crate::evidence::now_rfc3339(),
                evidence: bundle.clone(),
                evidence_sha256: digest,
                job: None,
                verdict: LedgerVerdict::Skipped,
                out: None,
                detail: "a rebuild's own bundle".to_owned(),
            }
        } else {
            summary.rebuilt += 1;
            note(&format!("rebuilding {}", bundle.display()));
            rebuild_one(options, program, &bundle, digest, summary.rebuilt)?
        };
        note(&format!(
            "{}: {} {}",
            bundle.display(),
            entry.verdict.as_str(),
            entry.detail
        ));
        options.ledger.append(&entry)?;
    }
    Ok(summary)
}

/// Runs `hrun rebuild` on one bundle and makes its ledger line.
fn rebuild_one(
    options: &WatchOptions,
    program: &Path,
    bundle: &Path,
    digest: String,
    n: usize,
) -> io::Result<LedgerEntry> {
    let out = options
        .out_root
        .join(format!("{}-{n}", crate::engine::run::run_id()));
    std::fs::create_dir_all(&out)?;
    let ran = Command::new(program)
        .arg("rebuild")
        .arg(bundle)
        .args(&options.rebuild_args)
        .arg("--out")
        .arg(&out)
        .args(["--color", "never"])
        .stdin(Stdio::null())
        .output()?;
    let stdout = String::from_utf8_lossy(&ran.stdout);
    let stderr = String::from_utf8_lossy(&ran.stderr);
    std::fs::write(
        out.join("rebuild.log"),
        format!("{stdout}\n--- stderr\n{stderr}"),
    )?;
    let verdict = LedgerVerdict::from_exit(ran.status.code());
    let job = stdout.lines().find_map(|l| {
        l.strip_prefix("rebuild of job ")
            .and_then(|rest| rest.split_once(" (").map(|(job, _)| job.to_owned()))
    });
    let detail = match verdict {
        LedgerVerdict::CouldNotRebuild => stderr
            .lines()
            .rev()
            .find(|l| l.starts_with("could not rebuild:"))
            .map_or_else(
                || format!("hrun rebuild ended with {}", ran.status),
                str::to_owned,
            ),
        _ => stdout
            .lines()
            .find(|l| l.starts_with("reproducible:") || l.starts_with("not reproducible:"))
            .and_then(|l| l.split_once(": "))
            .map_or_else(String::new, |(_, rest)| rest.to_owned()),
    };
    Ok(LedgerEntry {
        at: crate::evidence::now_rfc3339(),
        evidence: bundle.to_path_buf(),
        evidence_sha256: digest,
        job,
        verdict,
        out: Some(out),
        detail,
    })
}

/// Whether a bundle is a rebuild's (it holds a reproducibility attestation).
fn is_rebuild_bundle(bytes: &[u8]) -> bool {
    tarball::unpack(bytes).is_ok_and(|(members, _)| members.contains_key(REPRODUCIBILITY))
}

/// Every `evidence.tar` under `dir`, not following links, not entering `skip`.
fn find_bundles(dir: &Path, skip: Option<&Path>, depth: usize, out: &mut Vec<PathBuf>) {
    if depth > MAX_DEPTH {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        let path = entry.path();
        if kind.is_dir() {
            if skip.is_some_and(|s| std::fs::canonicalize(&path).is_ok_and(|p| p == s)) {
                continue;
            }
            find_bundles(&path, skip, depth + 1, out);
        } else if kind.is_file() && entry.file_name() == "evidence.tar" {
            out.push(path);
        }
    }
}

/// `90s`, `30m`, `24h`, `7d`, or a number of seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (number, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, "s"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration (90s, 30m, 24h, 7d)"))?;
    let unit_secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{text}`: the unit is s, m, h or d")),
    };
    n.checked_mul(unit_secs)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is too long"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_durations_in_seconds_minutes_hours_and_days() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("24h"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("5"), Ok(Duration::from_secs(5)));
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration(&format!("{}d", u64::MAX)).is_err());
    }

    #[test]
    fn finds_bundles_without_entering_the_output_directory_or_links() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for d in ["a/jobs/build", "out/x/jobs/build", "b"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("a/jobs/build/evidence.tar"), b"").unwrap();
        std::fs::write(root.join("out/x/jobs/build/evidence.tar"), b"").unwrap();
        std::os::unix::fs::symlink(root.join("a"), root.join("b/link")).unwrap();
        let skip = std::fs::canonicalize(root.join("out")).unwrap();
        let mut found = Vec::new();
        find_bundles(root, Some(&skip), 0, &mut found);
        assert_eq!(found, [root.join("a/jobs/build/evidence.tar")]);
    }

    #[test]
    fn a_pass_records_young_bundles_as_waiting_and_rebuild_bundles_as_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs/jobs/build");
        std::fs::create_dir_all(&runs).unwrap();
        std::fs::write(runs.join("evidence.tar"), b"young").unwrap();
        let options = WatchOptions {
            dir: dir.path().join("runs"),
            every: Duration::from_secs(1),
            after: Duration::from_secs(3600),
            once: true,
            ledger: Ledger::new(dir.path().join("ledger.jsonl")),
            out_root: dir.path().join("out"),
            rebuild_args: Vec::new(),
        };
        let mut notes = Vec::new();
        let summary = pass(&options, Path::new("/nonexistent/hrun"), &mut |n: &str| {
            notes.push(n.to_owned())
        })
        .unwrap();
        assert_eq!(summary.waiting, 1);
        assert_eq!(summary.rebuilt, 0);

        let members =
            std::collections::BTreeMap::from([(REPRODUCIBILITY.to_owned(), b"{}".to_vec())]);
        std::fs::write(
            runs.join("evidence.tar"),
            tarball::pack(&members, 0).unwrap(),
        )
        .unwrap();
        let options = WatchOptions {
            after: Duration::ZERO,
            ..options
        };
        let summary = pass(&options, Path::new("/nonexistent/hrun"), &mut |_: &str| {}).unwrap();
        assert_eq!(summary.rebuilt, 0, "a rebuild's bundle is not rebuilt");
        let state = options.ledger.read().unwrap();
        assert_eq!(state.latest.len(), 1);
        assert!(state
            .latest
            .values()
            .all(|e| e.verdict == LedgerVerdict::Skipped));
        let again = pass(&options, Path::new("/nonexistent/hrun"), &mut |_: &str| {}).unwrap();
        assert_eq!(again.known, 1);
    }
}
