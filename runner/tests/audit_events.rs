//! Every kind of event a job has lands in the audit log and, with its inclusion proof, in the
//! job's `evidence.tar`: job received, policy decision, steps started and finished, secret
//! findings (by rule and place, never the value), job finished, key used; in a microVM also the
//! VM's start (accelerator, guest image digest) and each denied egress attempt.
//!
//! The microVM test needs QEMU and a guest image (`ci/build-image.sh`) and root for the job
//! network; without them it prints `SKIP <test>: <reason>`. Its job traffic leaves through the
//! test-made world namespace of `hermetic::egress::test_world` (no address outside the machine).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hermetic::egress::test_world::{World, ALLOWED_V4, DENIED_V4, PORT};
use provenance::audit::record::{AuditRecord, EventKind};
use provenance::evidence::tarball;
use provenance::keys::VerifyingKey;
use provenance::verify::{verify_evidence, Expectations};

/// A repository holding `workflow` as `.github/workflows/ci.yml`, with a key and an audit log.
struct Repo {
    root: tempfile::TempDir,
}

impl Repo {
    fn new(workflow: &str) -> Repo {
        let root = tempfile::tempdir().expect("temp dir");
        let wf = root.path().join("repo/.github/workflows");
        std::fs::create_dir_all(&wf).expect("mkdir");
        std::fs::write(wf.join("ci.yml"), workflow).expect("write");
        let repo = Repo { root };
        let out = repo.hrun(&[
            "keys",
            "generate",
            "--kind",
            "p256",
            "--out",
            &s(&repo.path("signer")),
        ]);
        assert!(out.status.success(), "{}", text(&out));
        repo
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.path().join(rel)
    }

    fn hrun(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_hrun"))
            .args(args)
            .current_dir(self.path("repo"))
            .env("NO_COLOR", "1")
            .env("HRUN_CACHE", self.path("cache"))
            .env("HRUN_IMAGES", image_store())
            .env_remove("HRUN_SIGNING_KEY")
            .env_remove("HRUN_AUDIT_DIR")
            .output()
            .expect("hrun runs")
    }

    /// `hrun exec ci.yml` with the key, the audit log and `extra`.
    fn exec(&self, extra: &[&str]) -> Output {
        let (key, audit, out) = (
            s(&self.path("signer.key")),
            s(&self.path("audit")),
            s(&self.path("out")),
        );
        let mut args = vec![
            "exec",
            "ci.yml",
            "--signing-key",
            &key,
            "--audit-dir",
            &audit,
            "--out",
            &out,
        ];
        args.extend_from_slice(extra);
        self.hrun(&args)
    }

    /// The job's evidence, verified; its proven audit records.
    fn proven_records(&self, job: &str) -> Vec<AuditRecord> {
        let tar = std::fs::read(self.path("out/jobs").join(job).join("evidence.tar"))
            .expect("evidence.tar");
        let key = VerifyingKey::read(&self.path("signer.pub")).expect("public key");
        let verified =
            verify_evidence(&tar, &key, &Expectations::default()).expect("the evidence verifies");
        let (members, _) = tarball::unpack(&tar).expect("tar");
        let listed = String::from_utf8_lossy(&members["audit/records.jsonl"]).into_owned();
        assert_eq!(
            listed.lines().count(),
            verified.records.len(),
            "every record of the member is proven"
        );
        verified.records
    }
}

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

fn kinds(records: &[AuditRecord]) -> BTreeSet<String> {
    records
        .iter()
        .map(|r| {
            serde_json::to_value(r.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        })
        .collect()
}

fn of_kind(records: &[AuditRecord], kind: EventKind) -> Vec<&AuditRecord> {
    records.iter().filter(|r| r.kind == kind).collect()
}

const LEAK: &str = r#"on: push
jobs:
  leak:
    runs-on: x
    steps:
      - id: make
        run: |
          tok="ghp_$(printf '%s%s' Zx9Qw3Er5Ty7Ui1Op2As4 Df6Gh8Jk0LmNbVc)"
          echo "token=$tok" >> "$GITHUB_OUTPUT"
      - run: echo after
"#;

#[test]
fn every_event_of_a_job_is_a_proven_record_and_secret_findings_hold_no_value() {
    let repo = Repo::new(LEAK);
    let out = repo.exec(&["--sandbox", "none"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let records = repo.proven_records("leak");
    let expected: BTreeSet<String> = [
        "job_received",
        "policy_decision",
        "step_started",
        "step_finished",
        "secret_finding",
        "job_finished",
        "key_used",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(kinds(&records), expected);
    let findings = of_kind(&records, EventKind::SecretFinding);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    let finding = &findings[0].data;
    assert_eq!(finding["rule"], "github-pat");
    assert_eq!(finding["source"], "step `make` output `token`");
    assert_eq!(
        (finding["line"].as_u64(), finding["column"].as_u64()),
        (Some(1), Some(1))
    );
    let log = std::fs::read_to_string(repo.path("audit/records.jsonl")).expect("log");
    assert!(
        !log.contains("Zx9Qw3Er5Ty7Ui1Op2As4Df6Gh8Jk0LmNbVc"),
        "the audit log holds the secret"
    );
    // Order: received and policy first, the finding after the steps, finished before key use.
    let order: Vec<EventKind> = records.iter().map(|r| r.kind).collect();
    assert_eq!(
        &order[..2],
        &[EventKind::JobReceived, EventKind::PolicyDecision]
    );
    let at = |k| order.iter().position(|o| *o == k).unwrap_or(usize::MAX);
    assert!(at(EventKind::StepFinished) < at(EventKind::SecretFinding));
    assert!(at(EventKind::SecretFinding) < at(EventKind::JobFinished));
    assert!(at(EventKind::JobFinished) < at(EventKind::KeyUsed));
    assert!(of_kind(&records, EventKind::VmStarted).is_empty());
}

/// The image store of the machine (the tests' own `HRUN_CACHE` is fresh per run).
fn image_store() -> PathBuf {
    match std::env::var_os("HRUN_CACHE") {
        Some(cache) => PathBuf::from(cache).join("images"),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/hrun/images")
        }
    }
}

/// Why a microVM with a job network cannot run here, or `None` when it can.
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
    for tool in ["nft", "ip"] {
        if Command::new(tool).arg("-V").output().is_err() {
            return Some(format!("{tool} is not installed (ci/setup-egress.sh)"));
        }
    }
    None
}

/// Asks for a name the allowlist lacks, then connects to an address it lacks.
fn egress_workflow() -> String {
    format!(
        r#"on: push
jobs:
  net:
    runs-on: x
    steps:
      - run: |
          getent hosts denied.example.org || echo "no answer for denied.example.org"
          timeout 5 bash -c 'exec 3<>/dev/tcp/{DENIED_V4}/{PORT}' || echo "no connection to {DENIED_V4}"
"#
    )
}

#[test]
fn a_microvm_job_records_its_vm_and_each_denied_egress_attempt() {
    const NAME: &str = "a_microvm_job_records_its_vm_and_each_denied_egress_attempt";
    if let Some(reason) = microvm_unavailable() {
        println!("SKIP {NAME}: {reason}");
        return;
    }
    let world = match World::create("audit") {
        Ok(world) => world,
        Err(reason) => {
            println!("SKIP {NAME}: {reason}");
            return;
        }
    };
    let repo = Repo::new(&egress_workflow());
    let config = repo.path("config.toml");
    std::fs::write(
        &config,
        format!(
            "[egress]\nmode = \"block\"\nallow = [\"{ALLOWED_V4}:{PORT}\"]\nuplink_netns = {:?}\n",
            world.name
        ),
    )
    .expect("write config");
    let out = repo.exec(&["--config", &s(&config), "--sandbox", "microvm"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let records = repo.proven_records("net");

    let vm = of_kind(&records, EventKind::VmStarted);
    assert_eq!(vm.len(), 1, "{records:#?}");
    let accelerator = vm[0].data["accelerator"].as_str().unwrap_or_default();
    assert!(["kvm", "tcg"].contains(&accelerator), "{:#}", vm[0].data);
    let digest = vm[0].data["image_digest"].as_str().unwrap_or_default();
    assert_eq!(digest.len(), 64, "{:#}", vm[0].data);
    assert!(
        image_store().join(digest).join("manifest.json").is_file(),
        "the recorded image digest names a stored image: {digest}"
    );
    assert!(
        records.iter().position(|r| r.kind == EventKind::VmStarted)
            < records
                .iter()
                .position(|r| r.kind == EventKind::StepStarted)
    );

    let denied = of_kind(&records, EventKind::EgressDenied);
    let report: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo.path("out/jobs/net/egress.json")).expect("egress.json"),
    )
    .expect("json");
    let in_report = report["attempts"]
        .as_array()
        .map(|a| a.iter().filter(|a| a["verdict"] == "denied").count())
        .unwrap_or(0);
    assert_eq!(denied.len(), in_report, "one record per denied attempt");
    assert!(
        denied
            .iter()
            .any(|r| r.data["name"] == "denied.example.org"),
        "the denied DNS query is recorded: {denied:#?}"
    );
    assert!(
        denied
            .iter()
            .any(|r| r.data["destination"] == DENIED_V4 && r.data["port"] == PORT),
        "the denied connection is recorded: {denied:#?}"
    );
}
