//! Deterministic steps and `hrun rebuild` end to end: what every step gets (and the provenance
//! records), a tarball packed with `SOURCE_DATE_EPOCH` that rebuilds identical 400 days later in
//! another time zone, a build that embeds `date` reported not reproducible with the file named,
//! refusals, and reprotest agreeing with both verdicts on the same build script.
//!
//! Jobs run in the namespace sandbox (skipped with a `SKIP` line where it does not work), and
//! again in a microVM when a guest image and QEMU are there. reprotest, libfaketime and
//! diffoscope come from `ci/setup-rebuild.sh`; without reprotest the cross-check prints `SKIP`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

/// The build script both hrun's workflow and reprotest run: `reproducible` packs `src/` (and a
/// generated file) with every time stamp at `SOURCE_DATE_EPOCH`; `stamped` adds the build time.
const BUILD_SH: &str = r#"#!/bin/sh
set -eu
mode="$1"; out="$2"
: "${SOURCE_DATE_EPOCH:?SOURCE_DATE_EPOCH is not set}"
mkdir -p "$out" gen
printf 'generated for %s\n' "$mode" > gen/notes.txt
tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
  --format=gnu -cf - src gen | gzip -n > "$out/app.tar.gz"
if [ "$mode" = stamped ]; then
  date +%s > "$out/built-at.txt"
fi
"#;

const WORKFLOW: &str = "on: push
env:
  HRUN_REPRODUCIBLE: true
jobs:
  tarball:
    runs-on: x
    steps:
      - run: sh build.sh reproducible \"$HRUN_ARTIFACTS\"
  stamped:
    runs-on: x
    steps:
      - run: sh build.sh stamped \"$HRUN_ARTIFACTS\"
  facts:
    runs-on: x
    steps:
      - run: |
          tr '\\0' '\\n' < /proc/$$/environ > \"$HRUN_ARTIFACTS/env.txt\"
          umask > \"$HRUN_ARTIFACTS/umask.txt\"
          uname -n > \"$HRUN_ARTIFACTS/hostname.txt\"
  own-epoch:
    runs-on: x
    env:
      SOURCE_DATE_EPOCH: 42
    steps:
      - run: echo \"$SOURCE_DATE_EPOCH\" > \"$HRUN_ARTIFACTS/epoch.txt\"
";

/// The committer time of the fixture's commit.
const COMMIT_TIME: u64 = 1_600_000_000;

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// The machine's image store (the tests' own `HRUN_CACHE` is fresh per fixture).
fn image_store() -> PathBuf {
    match std::env::var_os("HRUN_CACHE") {
        Some(cache) => PathBuf::from(cache).join("images"),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/hrun/images")
        }
    }
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_COMMITTER_DATE", format!("@{COMMIT_TIME} +0000"))
        .env("GIT_AUTHOR_DATE", format!("@{COMMIT_TIME} +0000"))
        .env("GIT_AUTHOR_NAME", "Octo")
        .env("GIT_AUTHOR_EMAIL", "octo@example.org")
        .env("GIT_COMMITTER_NAME", "Octo")
        .env("GIT_COMMITTER_EMAIL", "octo@example.org")
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A git repository holding the build script and the workflow, a key pair, and a cache.
struct Fixture {
    root: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let root = tempfile::tempdir().expect("temp dir");
        let repo = root.path().join("repo");
        std::fs::create_dir_all(repo.join(".github/workflows")).expect("mkdir");
        std::fs::create_dir_all(repo.join("src")).expect("mkdir");
        std::fs::write(repo.join(".github/workflows/build.yml"), WORKFLOW).expect("write");
        std::fs::write(repo.join("build.sh"), BUILD_SH).expect("write");
        std::fs::write(repo.join("src/hello.txt"), "hello\n").expect("write");
        git(&repo, &["init", "-q", "-b", "main"]);
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "the build"]);
        git(
            &repo,
            &[
                "remote",
                "add",
                "origin",
                "https://github.com/octo/rebuild-demo.git",
            ],
        );
        let f = Fixture { root };
        let out = f.hrun(&["keys", "generate", "--out", &s(&f.path("key"))]);
        assert!(out.status.success(), "{}", text(&out));
        f
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    fn repo(&self) -> PathBuf {
        self.path("repo")
    }

    fn hrun(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_hrun"))
            .args(args)
            .current_dir(self.path("repo"))
            .env("NO_COLOR", "1")
            .env("HRUN_CACHE", self.path("cache"))
            .env("HRUN_IMAGES", image_store())
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("HRUN_SIGNING_KEY")
            .env_remove("HRUN_AUDIT_DIR")
            .output()
            .expect("hrun runs")
    }

    fn signing(&self) -> Vec<String> {
        vec![
            "--signing-key".into(),
            s(&self.path("key.key")),
            "--audit-dir".into(),
            s(&self.path("audit")),
        ]
    }

    /// `hrun exec` of `jobs` (all when empty) in `sandbox` into `<root>/orig`.
    fn exec(&self, sandbox: &str, job: Option<&str>) -> Output {
        let mut args: Vec<String> = vec![
            "exec".into(),
            "build.yml".into(),
            "--sandbox".into(),
            sandbox.into(),
            "--out".into(),
            s(&self.path("orig")),
        ];
        if let Some(job) = job {
            args.extend(["--job".into(), job.into()]);
        }
        args.extend(self.signing());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.hrun(&args)
    }

    /// `hrun rebuild` of job `job` of the original run into `<root>/<out>`.
    fn rebuild(&self, job: &str, out: &str, extra: &[&str]) -> Output {
        let evidence = self.path(&format!("orig/jobs/{job}/evidence.tar"));
        let mut args: Vec<String> = vec![
            "rebuild".into(),
            s(&evidence),
            "--key".into(),
            s(&self.path("key.pub")),
            "--out".into(),
            s(&self.path(out)),
        ];
        args.extend(self.signing());
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.hrun(&args)
    }

    /// The provenance statement in a job's output directory.
    fn provenance(&self, job_dir: &Path) -> Value {
        let bundle: Value = serde_json::from_slice(
            &std::fs::read(job_dir.join("provenance.sigstore.json")).expect("provenance"),
        )
        .expect("json");
        decode_payload(&bundle)
    }
}

fn decode_payload(bundle: &Value) -> Value {
    use base64::Engine;
    let payload = bundle["dsseEnvelope"]["payload"].as_str().expect("payload");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(payload)
        .expect("base64");
    serde_json::from_slice(&bytes).expect("statement")
}

fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Why the namespace sandbox cannot run here, or `None` when it can.
fn namespace_unavailable() -> Option<String> {
    static PROBE: OnceLock<Option<String>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            let f = Fixture::new();
            let out = f.exec("namespace", Some("facts"));
            match out.status.code() {
                Some(0) => None,
                _ => Some(text(&out)),
            }
        })
        .clone()
}

/// Why the microVM cannot run here, or `None` when it can.
fn microvm_unavailable() -> Option<String> {
    let current = image_store().join("current");
    if !current.join("manifest.json").is_file() {
        return Some(format!(
            "no guest image at {} (ci/build-image.sh builds it)",
            current.display()
        ));
    }
    if Command::new("qemu-system-x86_64")
        .arg("--version")
        .output()
        .is_err()
    {
        return Some("qemu-system-x86_64 is not installed (ci/setup-vm.sh)".to_owned());
    }
    None
}

fn namespace_or_skip(test: &str) -> Option<Fixture> {
    if let Some(reason) = namespace_unavailable() {
        println!("SKIP rebuild::{test}: the namespace sandbox does not run here: {reason}");
        return None;
    }
    Some(Fixture::new())
}

/// The reproducibility attestation in a rebuilt job's directory.
fn attestation(job_dir: &Path) -> Value {
    let bundle: Value = serde_json::from_slice(
        &std::fs::read(job_dir.join("reproducibility.sigstore.json")).expect("attestation"),
    )
    .expect("json");
    decode_payload(&bundle)
}

/// reprotest's verdict on `sh build.sh MODE out` with the clock and time zone varied:
/// `Some(true)` reproducible, `Some(false)` not, `None` (after a SKIP line) when it is missing.
fn reprotest(repo: &Path, mode: &str, test: &str) -> Option<bool> {
    if Command::new("reprotest").arg("--help").output().is_err() {
        println!("SKIP rebuild::{test} (reprotest cross-check): reprotest is not installed (ci/setup-rebuild.sh)");
        return None;
    }
    let out = Command::new("reprotest")
        .current_dir(repo)
        .env("SOURCE_DATE_EPOCH", COMMIT_TIME.to_string())
        .args([
            "--vary=-all,+time,+timezone",
            &format!("sh build.sh {mode} out"),
            "out/*",
        ])
        .output()
        .expect("reprotest runs");
    match out.status.code() {
        Some(0) => Some(true),
        Some(1) => Some(false),
        _ => panic!("reprotest could not decide: {}", text(&out)),
    }
}

#[test]
fn steps_get_the_deterministic_environment_and_the_provenance_records_it() {
    let Some(f) =
        namespace_or_skip("steps_get_the_deterministic_environment_and_the_provenance_records_it")
    else {
        return;
    };
    let out = f.exec("namespace", None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let facts = f.path("orig/jobs/facts/artifacts");
    let env = std::fs::read_to_string(facts.join("env.txt")).expect("env.txt");
    let names: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(
        names, sorted,
        "the environment the step started with is sorted by name:\n{env}"
    );
    for expected in [
        format!("SOURCE_DATE_EPOCH={COMMIT_TIME}"),
        "TZ=UTC".to_owned(),
        "LC_ALL=C.UTF-8".to_owned(),
        "HRUN_REPRODUCIBLE=true".to_owned(),
    ] {
        assert!(env.lines().any(|l| l == expected), "{expected} in:\n{env}");
    }
    let umask = std::fs::read_to_string(facts.join("umask.txt")).expect("umask");
    assert_eq!(umask.trim(), "0022");
    let hostname = std::fs::read_to_string(facts.join("hostname.txt")).expect("hostname");
    assert_eq!(hostname.trim(), "hrun-sandbox");

    let recorded = &f.provenance(&f.path("orig/jobs/facts"))["predicate"]["buildDefinition"]
        ["internalParameters"]["environment"];
    assert_eq!(recorded["sourceDateEpoch"], COMMIT_TIME);
    assert_eq!(recorded["sourceDateEpochFrom"], "commit");
    assert_eq!(recorded["tz"], "UTC");
    assert_eq!(recorded["locale"], "C.UTF-8");
    assert_eq!(recorded["umask"], "0022");
    assert_eq!(recorded["hostname"], "hrun-sandbox");
    assert_eq!(recorded["reproducible"], true);
    assert_eq!(recorded["clockOffsetSeconds"], 0);

    // The job's own SOURCE_DATE_EPOCH wins, and is recorded as the job's.
    let own = std::fs::read_to_string(f.path("orig/jobs/own-epoch/artifacts/epoch.txt"))
        .expect("epoch.txt");
    assert_eq!(own.trim(), "42");
    let recorded = &f.provenance(&f.path("orig/jobs/own-epoch"))["predicate"]["buildDefinition"]
        ["internalParameters"]["environment"];
    assert_eq!(recorded["sourceDateEpoch"], 42);
    assert_eq!(recorded["sourceDateEpochFrom"], "env");
}

#[test]
fn a_reproducible_job_without_a_commit_fails_before_its_steps_saying_why() {
    let root = tempfile::tempdir().expect("temp dir");
    let repo = root.path().join("plain");
    std::fs::create_dir_all(repo.join(".github/workflows")).expect("mkdir");
    std::fs::write(
        repo.join(".github/workflows/r.yml"),
        "on: push\njobs:\n  asks:\n    runs-on: x\n    env:\n      HRUN_REPRODUCIBLE: true\n    steps:\n      - run: touch \"$HRUN_ARTIFACTS/ran\"\n  free:\n    runs-on: x\n    steps:\n      - run: echo \"epoch=${SOURCE_DATE_EPOCH:-unset}\"\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_hrun"))
        .args([
            "exec",
            "r.yml",
            "--sandbox",
            "none",
            "--out",
            &s(&root.path().join("out")),
            "--audit-dir",
            &s(&root.path().join("audit")),
        ])
        .current_dir(&repo)
        .env("NO_COLOR", "1")
        .env("HRUN_CACHE", root.path().join("cache"))
        .env_remove("SOURCE_DATE_EPOCH")
        .env_remove("HRUN_SIGNING_KEY")
        .env_remove("HRUN_AUDIT_DIR")
        .output()
        .expect("hrun runs");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let result = std::fs::read_to_string(root.path().join("out/jobs/asks/result.json"))
        .expect("result.json");
    assert!(
        result.contains("HRUN_REPRODUCIBLE") && result.contains("is not a git checkout"),
        "{result}"
    );
    assert!(!root.path().join("out/jobs/asks/artifacts/ran").exists());
    let free = std::fs::read_to_string(root.path().join("out/jobs/free/result.json"))
        .expect("result.json");
    assert!(free.contains("\"conclusion\": \"success\""), "{free}");
    let log = std::fs::read_to_string(root.path().join("out/jobs/free/log.txt")).expect("log");
    assert!(log.contains("epoch=unset"), "{log}");
}

#[test]
fn tarball_rebuilds_identical_after_400_days_and_a_time_zone_change() {
    let test = "tarball_rebuilds_identical_after_400_days_and_a_time_zone_change";
    let Some(f) = namespace_or_skip(test) else {
        return;
    };
    let out = f.exec("namespace", Some("tarball"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = f.rebuild("tarball", "rb", &["--vary", "tz"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("identical app.tar.gz"), "{stdout}");
    assert!(stdout.contains("varied clock"), "{stdout}");

    let job = f.path("rb/jobs/tarball");
    let statement = attestation(&job);
    assert_eq!(
        statement["predicateType"],
        "https://github.com/hermetic-runner/hrun/reproducibility/v1"
    );
    let p = &statement["predicate"];
    assert_eq!(p["verdict"], "reproducible");
    assert_eq!(p["subjects"][0]["name"], "app.tar.gz");
    assert_eq!(p["subjects"][0]["outcome"], "identical");
    let original = f.provenance(&f.path("orig/jobs/tarball"));
    assert_eq!(
        p["original"]["invocationId"],
        original["predicate"]["runDetails"]["metadata"]["invocationId"]
    );
    let rebuilt = f.provenance(&job);
    assert_eq!(
        p["rebuild"]["invocationId"],
        rebuilt["predicate"]["runDetails"]["metadata"]["invocationId"]
    );
    assert_ne!(p["original"]["invocationId"], p["rebuild"]["invocationId"]);
    let names: Vec<&str> = p["variations"]
        .as_array()
        .expect("variations")
        .iter()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(names, ["clock", "tz"]);
    assert_eq!(p["variations"][0]["rebuild"], "+400 days");
    let env = &rebuilt["predicate"]["buildDefinition"]["internalParameters"]["environment"];
    assert_eq!(env["clockOffsetSeconds"], 400 * 86_400);
    assert_eq!(env["tz"], "GMT-14");
    assert!(env["clockMechanism"]
        .as_str()
        .is_some_and(|m| m.contains("libfaketime")));

    // `hrun verify` accepts the rebuild's bundle and reads the attestation.
    let out = f.hrun(&[
        "verify",
        &s(&job.join("evidence.tar")),
        "--key",
        &s(&f.path("key.pub")),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("reproducibility: reproducible"),
        "{}",
        text(&out)
    );

    if let Some(verdict) = reprotest(&f.repo(), "reproducible", test) {
        assert!(verdict, "reprotest agrees the tarball is reproducible");
    }
}

#[test]
fn a_build_that_embeds_date_is_not_reproducible_and_the_report_names_the_file() {
    let test = "a_build_that_embeds_date_is_not_reproducible_and_the_report_names_the_file";
    let Some(f) = namespace_or_skip(test) else {
        return;
    };
    let out = f.exec("namespace", Some("stamped"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = f.rebuild("stamped", "rb", &["--vary", "tz"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("DIFFERS   built-at.txt"), "{stdout}");
    assert!(stdout.contains("identical app.tar.gz"), "{stdout}");

    let job = f.path("rb/jobs/stamped");
    let report = std::fs::read_to_string(job.join("rebuild-diff.txt")).expect("diff report");
    assert!(report.contains("DIFFERS    built-at.txt"), "{report}");
    if Command::new("diffoscope").arg("--version").output().is_ok() {
        assert!(report.contains("original/built-at.txt"), "{report}");
    }
    let p = &attestation(&job)["predicate"];
    assert_eq!(p["verdict"], "not_reproducible");
    assert_eq!(p["diffReport"], "rebuild-diff.txt");

    // The steps saw the clock 400 days ahead (libfaketime).
    let read = |path: PathBuf| -> i64 {
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .parse()
            .expect("seconds")
    };
    let before = read(f.path("orig/jobs/stamped/artifacts/built-at.txt"));
    let after = read(job.join("artifacts/built-at.txt"));
    assert!(
        after - before >= 399 * 86_400,
        "the rebuild's date {after} is not 400 days after {before}"
    );

    let out = f.hrun(&[
        "verify",
        &s(&job.join("evidence.tar")),
        "--key",
        &s(&f.path("key.pub")),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    if let Some(verdict) = reprotest(&f.repo(), "stamped", test) {
        assert!(
            !verdict,
            "reprotest agrees the stamped build is not reproducible"
        );
    }
}

#[test]
fn refuses_evidence_that_does_not_verify_or_whose_commit_is_not_there() {
    let Some(f) =
        namespace_or_skip("refuses_evidence_that_does_not_verify_or_whose_commit_is_not_there")
    else {
        return;
    };
    let out = f.exec("namespace", Some("tarball"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Another key: the evidence does not verify.
    let other = f.hrun(&["keys", "generate", "--out", &s(&f.path("other"))]);
    assert!(other.status.success());
    let evidence = s(&f.path("orig/jobs/tarball/evidence.tar"));
    let out = f.hrun(&["rebuild", &evidence, "--key", &s(&f.path("other.pub"))]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not verify"),
        "{}",
        text(&out)
    );

    // A source repository without the commit.
    let empty = f.path("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    git(&empty, &["init", "-q"]);
    git(&empty, &["commit", "-q", "--allow-empty", "-m", "other"]);
    let out = f.rebuild("tarball", "rb", &["--source", &s(&empty)]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is not in"),
        "{}",
        text(&out)
    );

    // A variation the namespace sandbox cannot make.
    let out = f.rebuild("tarball", "rb", &["--vary", "user"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--vary user"),
        "{}",
        text(&out)
    );
}

#[test]
fn watch_rebuilds_each_bundle_once_after_the_delay_and_status_reports_it() {
    let test = "watch_rebuilds_each_bundle_once_after_the_delay_and_status_reports_it";
    let Some(f) = namespace_or_skip(test) else {
        return;
    };
    let out = f.exec("namespace", Some("tarball"));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ledger = s(&f.path("ledger.jsonl"));
    let watch = |after: &str| {
        let mut args = vec![
            "rebuild".to_owned(),
            "--watch".into(),
            s(&f.path("orig")),
            "--key".into(),
            s(&f.path("key.pub")),
            "--once".into(),
            "--after".into(),
            after.into(),
            "--ledger".into(),
            ledger.clone(),
            "--out".into(),
            s(&f.path("watched")),
        ];
        args.extend(f.signing());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        f.hrun(&args)
    };
    let out = watch("1h");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("0 rebuilt, 1 waiting"),
        "{}",
        text(&out)
    );
    let out = watch("0s");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 rebuilt"),
        "{}",
        text(&out)
    );
    let out = watch("0s");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("0 rebuilt, 0 waiting for the delay, 1 already in the ledger"),
        "{}",
        text(&out)
    );
    let out = f.hrun(&["rebuild", "status", "--ledger", &ledger]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("1 bundle(s): 1 reproducible"), "{stdout}");
    assert!(stdout.contains("tarball"), "{stdout}");
}

#[test]
fn microvm_rebuilds_with_the_guest_clock_moved_and_agrees_on_both_builds() {
    let test = "microvm_rebuilds_with_the_guest_clock_moved_and_agrees_on_both_builds";
    if let Some(reason) = microvm_unavailable() {
        println!("SKIP rebuild::{test}: {reason}");
        return;
    }
    let f = Fixture::new();
    for job in ["tarball", "stamped", "facts"] {
        let out = f.exec("microvm", Some(job));
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    // The guest's steps get the same environment: umask 022 (PID 1 keeps the kernel's), the
    // fixed hostname, sorted variables.
    let facts = f.path("orig/jobs/facts/artifacts");
    let umask = std::fs::read_to_string(facts.join("umask.txt")).expect("umask");
    assert_eq!(umask.trim(), "0022");
    let hostname = std::fs::read_to_string(facts.join("hostname.txt")).expect("hostname");
    assert_eq!(hostname.trim(), "hrun-sandbox");
    let env = std::fs::read_to_string(facts.join("env.txt")).expect("env.txt");
    let names: Vec<&str> = env
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "{env}");
    assert!(
        env.lines()
            .any(|l| l == format!("SOURCE_DATE_EPOCH={COMMIT_TIME}")),
        "{env}"
    );
    let original = f.provenance(&f.path("orig/jobs/tarball"));
    let env = &original["predicate"]["buildDefinition"]["internalParameters"]["environment"];
    assert_eq!(env["sourceDateEpoch"], COMMIT_TIME);
    assert_eq!(env["hostname"], "hrun-sandbox");

    let out = f.rebuild(
        "tarball",
        "rb-tarball",
        &["--vary", "tz,locale,hostname,user,parallelism"],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let job = f.path("rb-tarball/jobs/tarball");
    let p = &attestation(&job)["predicate"];
    assert_eq!(p["verdict"], "reproducible");
    assert_eq!(p["variations"][0]["mechanism"], "guest clock");
    let rebuilt = f.provenance(&job);
    let facts = &rebuilt["predicate"]["buildDefinition"]["internalParameters"]["sandbox"]["facts"];
    assert_eq!(facts["step_uid"], "2002");
    assert_eq!(facts["clock_offset_secs"], (400 * 86_400).to_string());

    let out = f.rebuild("stamped", "rb-stamped", &[]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let job = f.path("rb-stamped/jobs/stamped");
    let report = std::fs::read_to_string(job.join("rebuild-diff.txt")).expect("diff report");
    assert!(report.contains("built-at.txt"), "{report}");
    let read = |path: PathBuf| -> i64 {
        std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .trim()
            .parse()
            .expect("seconds")
    };
    let before = read(f.path("orig/jobs/stamped/artifacts/built-at.txt"));
    let after = read(job.join("artifacts/built-at.txt"));
    assert!(
        after - before >= 399 * 86_400,
        "the guest's date {after} is not 400 days after {before}"
    );
    let out = f.hrun(&[
        "verify",
        &s(&job.join("evidence.tar")),
        "--key",
        &s(&f.path("key.pub")),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    for (mode, expected) in [("reproducible", true), ("stamped", false)] {
        if let Some(verdict) = reprotest(&f.repo(), mode, test) {
            assert_eq!(verdict, expected, "reprotest on {mode}");
        }
    }
}
