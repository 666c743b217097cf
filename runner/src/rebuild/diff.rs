//! The diff report of a rebuild that did not reproduce: a per-file digest table naming every
//! file that differs, is missing or is extra, then, for each file that differs and whose
//! original is at hand (beside the original's `evidence.tar`, or `--original-artifacts`),
//! diffoscope's text report when diffoscope is installed.
//!
//! diffoscope runs on paths `original/<name>` and `rebuild/<name>` (links in a temporary
//! directory), so its report names the file and not where it happened to lie; each run is
//! bounded in time and its output in size.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use provenance::reproducibility::{SubjectOutcome, SubjectVerdict};

/// How long diffoscope may take per file.
const DIFFOSCOPE_TIMEOUT: Duration = Duration::from_secs(300);
/// Most bytes of diffoscope's report kept per file.
const DIFFOSCOPE_MAX_BYTES: u64 = 1 << 20;

/// Where the two runs' files are.
#[derive(Debug, Clone)]
pub struct FileDirs<'a> {
    /// The original's artifacts, when they are at hand.
    pub original: Option<&'a Path>,
    /// The rebuild's artifacts.
    pub rebuild: &'a Path,
}

/// The report's text.
pub fn report(subjects: &[SubjectVerdict], conclusion: &str, dirs: &FileDirs<'_>) -> String {
    let mut out = String::from("hrun rebuild: not reproducible\n\n");
    if conclusion != "success" {
        let _ = writeln!(out, "The rebuilt job ended with `{conclusion}`.\n");
    }
    out.push_str(&digest_table(subjects));
    let differing: Vec<&SubjectVerdict> = subjects
        .iter()
        .filter(|s| s.outcome == SubjectOutcome::Differs)
        .collect();
    if differing.is_empty() {
        return out;
    }
    out.push('\n');
    let Some(original) = dirs.original else {
        out.push_str("diffoscope: not run: the original's files are not at hand (they lie in `artifacts/` beside its evidence.tar; or pass --original-artifacts DIR)\n");
        return out;
    };
    let Some(diffoscope) = find_on_path("diffoscope") else {
        out.push_str(
            "diffoscope: not installed; the digest table above names the files that differ\n",
        );
        return out;
    };
    let Ok(links) = tempfile::tempdir() else {
        out.push_str("diffoscope: not run: no temporary directory\n");
        return out;
    };
    let linked = std::os::unix::fs::symlink(original, links.path().join("original")).is_ok()
        && std::os::unix::fs::symlink(dirs.rebuild, links.path().join("rebuild")).is_ok();
    for subject in differing {
        let _ = writeln!(out, "== diffoscope original/{0} rebuild/{0}", subject.name);
        if !linked || !plain_relative(&subject.name) {
            out.push_str("(not run: the file's name cannot be used as a path)\n");
            continue;
        }
        out.push_str(&diffoscope_one(&diffoscope, links.path(), &subject.name));
    }
    out
}

/// One line per file: outcome, name, both digests.
pub fn digest_table(subjects: &[SubjectVerdict]) -> String {
    let width = subjects
        .iter()
        .map(|s| s.name.len())
        .max()
        .unwrap_or(4)
        .max(4);
    let mut out = format!(
        "{:<9}  {:<width$}  {:<64}  {}\n",
        "outcome", "file", "original sha256", "rebuild sha256"
    );
    for s in subjects {
        let outcome = match s.outcome {
            SubjectOutcome::Identical => "identical",
            SubjectOutcome::Differs => "DIFFERS",
            SubjectOutcome::Missing => "MISSING",
            SubjectOutcome::Extra => "EXTRA",
        };
        let _ = writeln!(
            out,
            "{outcome:<9}  {:<width$}  {:<64}  {}",
            s.name,
            s.original.as_deref().unwrap_or("-"),
            s.rebuild.as_deref().unwrap_or("-")
        );
    }
    out
}

/// diffoscope's text report of one file, bounded in time and size.
fn diffoscope_one(program: &Path, dir: &Path, name: &str) -> String {
    let report = dir.join("report.txt");
    let _ = std::fs::remove_file(&report);
    let child = Command::new(program)
        .current_dir(dir)
        .arg("--text")
        .arg(&report)
        .arg("--no-progress")
        .arg(format!("original/{name}"))
        .arg(format!("rebuild/{name}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return format!("(diffoscope could not start: {e})\n"),
    };
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if started.elapsed() > DIFFOSCOPE_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            Err(_) => break None,
        }
    };
    let mut text = read_bounded(&report);
    match status {
        None => text.push_str(&format!(
            "(diffoscope stopped after {} s)\n",
            DIFFOSCOPE_TIMEOUT.as_secs()
        )),
        // 0: no differences found (they differ only in what diffoscope ignores); 1: differences.
        Some(s) if s.code() == Some(0) => {
            text.push_str("(diffoscope found no difference it shows)\n")
        }
        Some(s) if s.code() == Some(1) => {}
        Some(s) => text.push_str(&format!("(diffoscope failed: {s})\n")),
    }
    text
}

fn read_bounded(path: &Path) -> String {
    use std::io::Read;
    let mut bytes = Vec::new();
    if let Ok(file) = std::fs::File::open(path) {
        let _ = file.take(DIFFOSCOPE_MAX_BYTES).read_to_end(&mut bytes);
    }
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if bytes.len() as u64 >= DIFFOSCOPE_MAX_BYTES {
        text.push_str("\n(report cut at 1 MiB)\n");
    }
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Whether `name` is a relative path of plain components (no `..`, not absolute).
pub fn plain_relative(name: &str) -> bool {
    !name.is_empty()
        && !name.contains("***")
        && Path::new(name)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
}

/// `program` in the runner's `PATH`.
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(
        name: &str,
        a: Option<&str>,
        b: Option<&str>,
        outcome: SubjectOutcome,
    ) -> SubjectVerdict {
        SubjectVerdict {
            name: name.into(),
            original: a.map(Into::into),
            rebuild: b.map(Into::into),
            outcome,
        }
    }

    #[test]
    fn the_digest_table_names_every_file_and_its_outcome() {
        let table = digest_table(&[
            verdict(
                "same.txt",
                Some("aa"),
                Some("aa"),
                SubjectOutcome::Identical,
            ),
            verdict("stamp.txt", Some("bb"), Some("cc"), SubjectOutcome::Differs),
            verdict("gone", Some("dd"), None, SubjectOutcome::Missing),
        ]);
        assert!(table.contains("DIFFERS    stamp.txt"), "{table}");
        assert!(table.contains("MISSING    gone"), "{table}");
        assert!(table.contains("identical  same.txt"), "{table}");
    }

    #[test]
    fn without_the_originals_files_the_report_says_where_they_would_be() {
        let dir = tempfile::tempdir().unwrap();
        let text = report(
            &[verdict("a", Some("1"), Some("2"), SubjectOutcome::Differs)],
            "success",
            &FileDirs {
                original: None,
                rebuild: dir.path(),
            },
        );
        assert!(text.contains("DIFFERS"), "{text}");
        assert!(text.contains("--original-artifacts"), "{text}");
    }

    #[test]
    fn diffoscope_names_the_file_that_differs() {
        if find_on_path("diffoscope").is_none() {
            println!("SKIP diffoscope_names_the_file_that_differs: diffoscope is not installed");
            return;
        }
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        std::fs::write(a.path().join("stamp.txt"), "built at 10:00\n").unwrap();
        std::fs::write(b.path().join("stamp.txt"), "built at 11:00\n").unwrap();
        let text = report(
            &[verdict(
                "stamp.txt",
                Some("1"),
                Some("2"),
                SubjectOutcome::Differs,
            )],
            "success",
            &FileDirs {
                original: Some(a.path()),
                rebuild: b.path(),
            },
        );
        assert!(text.contains("original/stamp.txt"), "{text}");
        assert!(text.contains("11:00"), "{text}");
    }

    #[test]
    fn only_plain_relative_names_become_paths() {
        assert!(plain_relative("docs/README"));
        assert!(!plain_relative("../x"));
        assert!(!plain_relative("/etc/passwd"));
        assert!(!plain_relative("a/***"));
    }
}
