//! `hrun exec --git-notes`: every job's signed receipt is appended to the source commit's note
//! under `refs/notes/hrun/receipts`, and `hrun verify --receipts` checks the note alone and
//! against a job's `evidence.tar`. Needs `git` on PATH (prints `SKIP` otherwise).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use provenance::digest::Sha256Digest;
use provenance::keys::VerifyingKey;
use provenance::receipt::{receipt_lines, Receipt, RECEIPTS_NOTES_REF};

const WORKFLOW: &str = "on: push\njobs:\n  a:\n    runs-on: x\n    steps:\n      - run: echo a\n  b:\n    runs-on: x\n    steps:\n      - run: echo b\n";

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn git(repo: &Path, args: &[&str]) -> Output {
    Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.org")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.org")
        .output()
        .expect("git runs")
}

struct Fixture {
    root: tempfile::TempDir,
}

impl Fixture {
    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    fn hrun(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_hrun"))
            .args(args)
            .current_dir(self.path("repo"))
            .env("NO_COLOR", "1")
            .env("HRUN_CACHE", self.path("cache"))
            .env_remove("HRUN_SIGNING_KEY")
            .env_remove("HRUN_AUDIT_DIR")
            .output()
            .expect("hrun runs")
    }

    fn exec(&self, out: &str) -> Output {
        self.hrun(&[
            "exec",
            "ci.yml",
            "--sandbox",
            "none",
            "--git-notes",
            "--signing-key",
            &s(&self.path("signer.key")),
            "--audit-dir",
            &s(&self.path("audit")),
            "--out",
            &s(&self.path(out)),
        ])
    }

    fn note(&self) -> Vec<u8> {
        let out = git(
            &self.path("repo"),
            &["notes", "--ref", RECEIPTS_NOTES_REF, "show", "HEAD"],
        );
        assert!(out.status.success(), "{}", text(&out));
        out.stdout
    }
}

/// A committed git repository with the workflow and a key; `None` without git.
fn fixture() -> Option<Fixture> {
    if Command::new("git").arg("--version").output().is_err() {
        println!("SKIP git_notes: git is not installed");
        return None;
    }
    let f = Fixture {
        root: tempfile::tempdir().expect("temp dir"),
    };
    let repo = f.path("repo");
    std::fs::create_dir_all(repo.join(".github/workflows")).expect("mkdir");
    std::fs::write(repo.join(".github/workflows/ci.yml"), WORKFLOW).expect("write");
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "."],
        &["commit", "-q", "-m", "ci"],
    ] {
        let out = git(&repo, args);
        assert!(out.status.success(), "{}", text(&out));
    }
    let out = f.hrun(&[
        "keys",
        "generate",
        "--kind",
        "ed25519",
        "--out",
        &s(&f.path("signer")),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    Some(f)
}

#[test]
fn every_job_leaves_a_receipt_on_the_commit_that_names_its_evidence() {
    let Some(f) = fixture() else { return };
    let out = f.exec("one");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("receipt attached to")
            || String::from_utf8_lossy(&out.stdout).contains("receipt attached to"),
        "{}",
        text(&out)
    );
    let head = String::from_utf8_lossy(&git(&f.path("repo"), &["rev-parse", "HEAD"]).stdout)
        .trim()
        .to_owned();
    let key = VerifyingKey::read(&f.path("signer.pub")).expect("public key");
    let note = f.note();
    let receipts: Vec<Receipt> = receipt_lines(&note)
        .map(|(_, line)| Receipt::verify(line, &key).expect("each receipt verifies"))
        .collect();
    let mut jobs: Vec<&str> = receipts.iter().map(|r| r.job.as_str()).collect();
    jobs.sort_unstable();
    assert_eq!(jobs, ["a", "b"]);
    for r in &receipts {
        assert_eq!(r.commit, head);
        let tar = f.path("one/jobs").join(&r.job).join("evidence.tar");
        assert_eq!(
            Sha256Digest::of_file(&tar).expect("evidence.tar"),
            r.evidence_sha256
        );
    }

    // `hrun verify --receipts`: the note alone, and the note against each job's evidence.
    let notes = f.path("receipts.txt");
    std::fs::write(&notes, &note).expect("write");
    let public = s(&f.path("signer.pub"));
    let alone = f.hrun(&["verify", "--key", &public, "--receipts", &s(&notes)]);
    assert_eq!(alone.status.code(), Some(0), "{}", text(&alone));
    for job in ["a", "b"] {
        let tar = s(&f.path("one/jobs").join(job).join("evidence.tar"));
        let both = f.hrun(&["verify", &tar, "--key", &public, "--receipts", &s(&notes)]);
        assert_eq!(both.status.code(), Some(0), "{}", text(&both));
        assert!(String::from_utf8_lossy(&both.stdout).contains(&format!("receipt: job {job}")));
    }

    // A second run on the same commit appends: all four receipts are kept.
    let again = f.exec("two");
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    let note = f.note();
    assert_eq!(receipt_lines(&note).count(), 4);
    let kept = String::from_utf8_lossy(&note).into_owned();
    let before = std::fs::read(&notes).expect("read");
    assert_eq!(receipt_lines(&before).count(), 2);
    for (_, line) in receipt_lines(&before) {
        assert!(
            kept.contains(&*String::from_utf8_lossy(line)),
            "a receipt was replaced"
        );
    }
}

#[test]
fn a_changed_receipt_or_one_for_other_evidence_is_not_verified() {
    let Some(f) = fixture() else { return };
    let out = f.exec("one");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let note = f.note();
    let public = s(&f.path("signer.pub"));

    // One changed byte inside a receipt's signed payload.
    let mut changed = note.clone();
    let at = changed
        .windows(9)
        .position(|w| w == b"\"payload\"")
        .expect("a payload")
        + 14;
    changed[at] = if changed[at] == b'A' { b'B' } else { b'A' };
    let path = f.path("changed.txt");
    std::fs::write(&path, &changed).expect("write");
    let out = f.hrun(&["verify", "--key", &public, "--receipts", &s(&path)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));

    // Only job a's receipt: job b's evidence is named by none.
    let only_a: Vec<u8> = receipt_lines(&note)
        .map(|(_, l)| l.to_vec())
        .find(|l| {
            let key = VerifyingKey::read(&f.path("signer.pub")).expect("key");
            Receipt::verify(l, &key).is_ok_and(|r| r.job == "a")
        })
        .expect("a receipt of job a");
    let path = f.path("only-a.txt");
    std::fs::write(&path, &only_a).expect("write");
    let tar = s(&f.path("one/jobs/b/evidence.tar"));
    let out = f.hrun(&["verify", &tar, "--key", &public, "--receipts", &s(&path)]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no receipt names this evidence.tar"),
        "{}",
        text(&out)
    );
}
