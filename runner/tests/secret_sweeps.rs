//! `hrun exec` end to end: the run-time sweeps of a step's processes and the scan of its
//! artifacts, read back from `secret-scan.json`, the log, the exit code and the provenance.
//!
//! The namespace sandbox runs where it works (else each test prints `SKIP` and why); the microVM
//! variant needs QEMU and a guest image whose agent sweeps (else `SKIP` with the reason). The
//! secrets here are synthetic.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;

use base64::Engine;
use serde_json::Value;

const TOKEN: &str = "sw33p-t0ken-value-8731";
const PASS: &str = "artifact-pass-5521-xyz";

/// A step that exports a secret under a new name into a background process.
const SWEEP_WORKFLOW: &str = r#"on: push
jobs:
  leak:
    runs-on: x
    steps:
      - id: bg
        env:
          TOKEN: ${{ secrets.TOKEN }}
        run: |
          export LEAKED="$TOKEN"
          sleep 5 &
          echo started
      - id: after
        run: echo done
"#;

/// A step that writes a secret into an artifact, beside a clean one.
const ARTIFACT_WORKFLOW: &str = r#"on: push
jobs:
  build:
    runs-on: x
    steps:
      - id: write
        env:
          PASS: ${{ secrets.PASS }}
        run: |
          mkdir -p "$HRUN_ARTIFACTS/dist"
          echo "password: $PASS" > "$HRUN_ARTIFACTS/dist/leak.txt"
          echo "fine" > "$HRUN_ARTIFACTS/ok.txt"
"#;

struct Run {
    output: Output,
    out: PathBuf,
    _root: tempfile::TempDir,
}

impl Run {
    fn context(&self) -> String {
        format!(
            "--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&self.output.stdout),
            String::from_utf8_lossy(&self.output.stderr)
        )
    }

    fn job_file(&self, job: &str, name: &str) -> PathBuf {
        self.out.join("jobs").join(job).join(name)
    }

    fn json(&self, job: &str, name: &str) -> Value {
        let path = self.job_file(job, name);
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}\n{}", path.display(), self.context()));
        serde_json::from_str(&text).expect("JSON")
    }

    fn text(&self, job: &str, name: &str) -> String {
        std::fs::read_to_string(self.job_file(job, name)).unwrap_or_default()
    }
}

/// The image store of the machine (`HRUN_IMAGES`, else `$HRUN_CACHE/images`).
fn image_store() -> PathBuf {
    if let Some(store) = std::env::var_os("HRUN_IMAGES").filter(|v| !v.is_empty()) {
        return PathBuf::from(store);
    }
    match std::env::var_os("HRUN_CACHE") {
        Some(cache) => PathBuf::from(cache).join("images"),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/hrun/images")
        }
    }
}

fn exec(workflow: &str, sandbox: &str, extra: &[&str]) -> Run {
    let root = tempfile::tempdir().expect("temp dir");
    let repo = root.path().join("repo");
    std::fs::create_dir_all(repo.join(".github/workflows")).expect("mkdir");
    std::fs::write(repo.join(".github/workflows/w.yml"), workflow).expect("write");
    let out = root.path().join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_hrun"))
        .args([
            "exec",
            ".github/workflows/w.yml",
            "--sandbox",
            sandbox,
            "--out",
        ])
        .arg(&out)
        .args(["--color", "never", "--cancel-grace", "1"])
        .args(extra)
        .current_dir(&repo)
        .env("NO_COLOR", "1")
        .env("HRUN_CACHE", root.path().join("cache"))
        .env("HRUN_IMAGES", image_store())
        .env_remove("HRUN_SIGNING_KEY")
        .env_remove("HRUN_AUDIT_DIR")
        .output()
        .expect("hrun runs");
    Run {
        output,
        out,
        _root: root,
    }
}

/// Why the namespace sandbox cannot run here, or `None`.
fn namespace_unavailable() -> Option<String> {
    static PROBE: OnceLock<Option<String>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            let run = exec(
                "on: push\njobs:\n  probe:\n    runs-on: x\n    steps:\n      - run: 'true'\n",
                "namespace",
                &["--quiet"],
            );
            match run.output.status.code() {
                Some(0) => None,
                _ => Some(
                    String::from_utf8_lossy(&run.output.stderr)
                        .trim()
                        .to_owned(),
                ),
            }
        })
        .clone()
}

/// Why the microVM sandbox cannot run here, or `None`.
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

fn secret_arg(name: &str, value: &str) -> String {
    format!("{name}={value}")
}

/// The sweep test on `sandbox`: the leak is found in the background process, under its new
/// name, and the variable the step was given is not a finding. `None` when it was skipped.
fn sweep_finds_the_leak(sandbox: &str, policy: &str) -> Option<Run> {
    let secret = secret_arg("TOKEN", TOKEN);
    let run = exec(
        SWEEP_WORKFLOW,
        sandbox,
        &["--secret", &secret, "--secret-scan", policy],
    );
    let scan = run.json("leak", "secret-scan.json");
    let steps = scan["processes"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if sandbox == "microvm" {
        if let Some(note) = steps.iter().find_map(|s| s["note"].as_str()) {
            if note.contains("does not sweep") {
                println!("SKIP secret_sweeps microvm ({policy}): {note}");
                return None;
            }
        }
    }
    let context = format!("{}\n--- secret-scan.json\n{scan:#}", run.context());
    assert!(
        steps
            .iter()
            .any(|s| s["step"] == "bg" && s["sweeps"].as_u64() >= Some(1)),
        "the step was swept\n{context}"
    );
    let findings = scan["processes"]["findings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let leak = findings
        .iter()
        .find(|f| f["location"]["variable"] == "LEAKED")
        .unwrap_or_else(|| panic!("no finding for LEAKED\n{context}"));
    assert_eq!(leak["step"], "bg", "{context}");
    assert_eq!(leak["comm"], "sleep", "{context}");
    assert_eq!(leak["location"]["in"], "environ", "{context}");
    assert_eq!(leak["found"]["kind"], "secret", "{context}");
    assert_eq!(leak["found"]["name"], "TOKEN", "{context}");
    assert!(leak["pid"].as_i64().is_some_and(|p| p > 1), "{context}");
    assert!(
        !findings
            .iter()
            .any(|f| f["location"]["variable"] == "TOKEN"),
        "the variable the step was given is no leak\n{context}"
    );
    let log = run.text("leak", "log.txt");
    assert!(
        log.contains(
            "Secret sweep: secret `TOKEN` in the environment variable `LEAKED` of process"
        ),
        "{log}\n{context}"
    );
    for (what, text) in [
        ("secret-scan.json", scan.to_string()),
        ("log.txt", log),
        ("result.json", run.text("leak", "result.json")),
    ] {
        assert!(!text.contains(TOKEN), "{what} shows the value\n{context}");
    }
    Some(run)
}

#[test]
fn namespace_sweep_reports_a_secret_exported_under_a_new_name_to_a_background_process() {
    if let Some(reason) = namespace_unavailable() {
        println!("SKIP secret_sweeps namespace: {reason}");
        return;
    }
    let run = sweep_finds_the_leak("namespace", "report").expect("namespace runs");
    assert_eq!(run.output.status.code(), Some(0), "{}", run.context());
    let result = run.json("leak", "result.json");
    assert_eq!(result["conclusion"], "success", "{}", run.context());
    // The background process ended with its step: the step did not wait for `sleep 5`.
    let ms = result["duration_ms"].as_u64().unwrap_or(u64::MAX);
    assert!(ms < 5_000, "the job took {ms} ms\n{}", run.context());
}

#[test]
fn namespace_sweep_finding_fails_the_job_under_fail_policy() {
    if let Some(reason) = namespace_unavailable() {
        println!("SKIP secret_sweeps namespace: {reason}");
        return;
    }
    let run = sweep_finds_the_leak("namespace", "fail").expect("namespace runs");
    assert_eq!(run.output.status.code(), Some(1), "{}", run.context());
    assert_eq!(
        run.json("leak", "result.json")["conclusion"],
        "failure",
        "{}",
        run.context()
    );
}

#[test]
fn microvm_sweep_reports_a_secret_exported_under_a_new_name_to_a_background_process() {
    if let Some(reason) = microvm_unavailable() {
        println!("SKIP secret_sweeps microvm: {reason}");
        return;
    }
    if let Some(run) = sweep_finds_the_leak("microvm", "fail") {
        assert_eq!(run.output.status.code(), Some(1), "{}", run.context());
    }
}

/// The names of the provenance's subjects of job `job`.
fn subjects(run: &Run, job: &str) -> Vec<String> {
    let bundle = run.json(job, "provenance.sigstore.json");
    let payload = base64::engine::general_purpose::STANDARD
        .decode(bundle["dsseEnvelope"]["payload"].as_str().expect("payload"))
        .expect("base64");
    let statement: Value = serde_json::from_slice(&payload).expect("statement");
    statement["subject"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str().map(str::to_owned))
        .collect()
}

fn artifact_run(policy: &str) -> Option<Run> {
    if let Some(reason) = namespace_unavailable() {
        println!("SKIP secret_sweeps artifacts: {reason}");
        return None;
    }
    let secret = secret_arg("PASS", PASS);
    Some(exec(
        ARTIFACT_WORKFLOW,
        "namespace",
        &["--secret", &secret, "--secret-scan", policy],
    ))
}

/// The one finding in the leaking artifact (the generic rule's match over the secret is that
/// secret, reported once by name).
fn artifact_finding(run: &Run) -> Value {
    let scan = run.json("build", "secret-scan.json");
    assert!(!scan.to_string().contains(PASS), "{scan:#}");
    let found: Vec<&Value> = scan["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["source"] == "artifact dist/leak.txt")
        .collect();
    assert_eq!(found.len(), 1, "{scan:#}\n{}", run.context());
    found[0].clone()
}

#[test]
fn a_secret_in_an_artifact_fails_the_job_and_keeps_the_artifact_out_under_fail_policy() {
    let Some(run) = artifact_run("fail") else {
        return;
    };
    assert_eq!(run.output.status.code(), Some(1), "{}", run.context());
    assert_eq!(run.json("build", "result.json")["conclusion"], "failure");
    let finding = artifact_finding(&run);
    assert_eq!(finding["rule"], "job-secret");
    assert_eq!(finding["description"], "the job's secret `PASS`");
    assert_eq!(
        (finding["line"].as_u64(), finding["column"].as_u64()),
        (Some(1), Some(11))
    );
    let scan = run.json("build", "secret-scan.json");
    assert_eq!(
        scan["artifacts"]["withheld"],
        serde_json::json!(["dist/leak.txt"])
    );
    assert_eq!(scan["artifacts"]["scanned"], 2);
    assert_eq!(subjects(&run, "build"), ["ok.txt"]);
    assert!(run.job_file("build", "artifacts/ok.txt").is_file());
    assert!(!run.job_file("build", "artifacts/dist/leak.txt").exists());
    let log = run.text("build", "log.txt");
    assert!(
        log.contains("Artifact `dist/leak.txt` is withheld"),
        "{log}"
    );
    // The evidence bundle holds the report.
    let tar = std::fs::read(run.job_file("build", "evidence.tar")).expect("evidence.tar");
    assert!(
        tar.windows(16).any(|w| w == b"secret-scan.json"),
        "evidence.tar lacks secret-scan.json"
    );
}

#[test]
fn a_secret_in_an_artifact_is_reported_and_kept_under_report_policy() {
    let Some(run) = artifact_run("report") else {
        return;
    };
    assert_eq!(run.output.status.code(), Some(0), "{}", run.context());
    assert_eq!(run.json("build", "result.json")["conclusion"], "success");
    artifact_finding(&run);
    let scan = run.json("build", "secret-scan.json");
    assert_eq!(scan["artifacts"]["withheld"], serde_json::json!([]));
    let mut names = subjects(&run, "build");
    names.sort();
    assert_eq!(names, ["dist/leak.txt", "ok.txt"]);
    assert!(run.job_file("build", "artifacts/dist/leak.txt").is_file());
    let log = run.text("build", "log.txt");
    assert!(
        log.contains("Secret scan: job-secret (the job's secret `PASS`) in artifact dist/leak.txt at line 1, column 11"),
        "{log}"
    );
}
