//! Provenance and evidence end to end: `hrun exec` writes them, `hrun verify` and four
//! independent verifiers accept them and reject tampering, every changed byte of `evidence.tar`
//! or of the audit log is caught, and two runs of the same job differ only where they must.
//!
//! The independent verifiers are installed by `ci/setup-verifiers.sh` under
//! `$HRUN_CACHE/tools/verifiers` (npm `@sigstore/verify` + `@sigstore/bundle`, PyPI
//! `securesystemslib[crypto]` and `in-toto-attestation`) and `openssl`; a missing one prints
//! `SKIP <test>: <reason>`. Jobs run with `--sandbox none` so the tests run on any host.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use base64::Engine;
use provenance::evidence::tarball;
use provenance::keys::VerifyingKey;
use provenance::verify::{audit::verify_log_bytes, verify_evidence, Expectations};

const WORKFLOW: &str = "on: push\njobs:\n  build:\n    runs-on: x\n    steps:\n      - run: |\n          printf 'app' > \"$HRUN_ARTIFACTS/app.bin\"\n          mkdir -p \"$HRUN_ARTIFACTS/docs\" && echo readme > \"$HRUN_ARTIFACTS/docs/README\"\n";

/// A repository with one workflow, a cache and an output directory.
struct Fixture {
    root: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let root = tempfile::tempdir().expect("temp dir");
        let repo = root.path().join("repo");
        std::fs::create_dir_all(repo.join(".github/workflows")).expect("mkdir");
        std::fs::write(repo.join(".github/workflows/build.yml"), WORKFLOW).expect("write");
        std::fs::create_dir_all(repo.join(".git/refs/heads")).expect("mkdir");
        std::fs::write(repo.join(".git/HEAD"), "ref: refs/heads/main\n").expect("write");
        std::fs::write(
            repo.join(".git/refs/heads/main"),
            format!("{}\n", "c".repeat(40)),
        )
        .expect("write");
        std::fs::write(
            repo.join(".git/config"),
            "[remote \"origin\"]\n\turl = https://github.com/octo/hello.git\n",
        )
        .expect("write");
        Fixture { root }
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
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .env_remove("HRUN_SIGNING_KEY")
            .env_remove("HRUN_AUDIT_DIR")
            .output()
            .expect("hrun runs")
    }

    /// `hrun keys generate --kind KIND --out <root>/NAME`; the private and public key paths.
    fn key(&self, kind: &str, name: &str) -> (PathBuf, PathBuf) {
        let prefix = self.path(name);
        let out = self.hrun(&["keys", "generate", "--kind", kind, "--out", &s(&prefix)]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            self.path(&format!("{name}.key")),
            self.path(&format!("{name}.pub")),
        )
    }

    /// Runs the workflow into `<root>/NAME` signed with `key`; the job's output directory.
    fn run(&self, key: &Path, name: &str) -> PathBuf {
        let out_dir = self.path(name);
        let out = self.hrun(&[
            "exec",
            "build.yml",
            "--sandbox",
            "none",
            "--signing-key",
            &s(key),
            "--audit-dir",
            &s(&self.path("audit")),
            "--out",
            &s(&out_dir),
        ]);
        assert!(
            out.status.success(),
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out_dir.join("jobs/build")
    }
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

fn tools() -> PathBuf {
    let cache = std::env::var_os("HRUN_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/hrun")))
        .unwrap_or_default();
    cache.join("tools/verifiers")
}

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/verifiers")
}

/// A bundle whose payload was changed after signing: one hex digit of the first digest.
fn tampered_payload(bundle: &Path, to: &Path) {
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle).expect("read")).expect("json");
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = json["dsseEnvelope"]["payload"].as_str().expect("payload");
    let mut bytes = b64.decode(payload).expect("base64");
    let at = find(&bytes, b"\"sha256\":\"").expect("a digest") + 10;
    bytes[at] = if bytes[at] == b'0' { b'1' } else { b'0' };
    json["dsseEnvelope"]["payload"] = serde_json::json!(b64.encode(bytes));
    std::fs::write(to, serde_json::to_vec(&json).expect("json")).expect("write");
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Runs a verifier; `Some(true)` accepted, `Some(false)` rejected, `None` could not start.
fn accepts(program: &Path, args: &[&Path]) -> Option<(bool, String)> {
    let out = Command::new(program)
        .args(args)
        .env("SIGSTORE_NODE_MODULES", tools().join("node/node_modules"))
        .output()
        .ok()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("  {} -> {}", program.display(), text.trim());
    Some((out.status.success(), text))
}

fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

#[test]
fn independent_verifiers_accept_our_bundles_and_reject_tampering_and_wrong_keys() {
    let f = Fixture::new();
    let node = which("node");
    let python = tools().join("venv/bin/python");
    let openssl = which("openssl");
    let have_node = node.is_some() && tools().join("node/node_modules/@sigstore/verify").is_dir();
    let have_python = python.is_file();
    if !have_node {
        println!(
            "SKIP evidence::sigstore_js: no node or @sigstore/verify (run ci/setup-verifiers.sh)"
        );
    }
    if !have_python {
        println!("SKIP evidence::securesystemslib: no verifier venv (run ci/setup-verifiers.sh)");
        println!(
            "SKIP evidence::in_toto_attestation: no verifier venv (run ci/setup-verifiers.sh)"
        );
    }
    if openssl.is_none() {
        println!("SKIP evidence::openssl: no openssl on PATH");
    }
    for kind in ["p256", "ed25519"] {
        let (key, public) = f.key(kind, &format!("{kind}-signer"));
        let (_, wrong) = f.key(kind, &format!("{kind}-other"));
        let job = f.run(&key, &format!("out-{kind}"));
        let tar = std::fs::read(job.join("evidence.tar")).expect("evidence.tar");
        let (members, _) = tarball::unpack(&tar).expect("canonical tar");
        let evidence_bundle = f.path(&format!("{kind}-evidence.sigstore.json"));
        std::fs::write(&evidence_bundle, &members["evidence.sigstore.json"]).expect("write");
        let bundles = [job.join("provenance.sigstore.json"), evidence_bundle];
        for bundle in &bundles {
            println!("{kind}: {}", bundle.display());
            let tampered = f.path("tampered.json");
            tampered_payload(bundle, &tampered);
            if let (true, Some(node)) = (have_node, &node) {
                let script = scripts().join("sigstore-verify.mjs");
                let good = accepts(node, &[&script, bundle, &public, Path::new("--check-hint")]);
                assert_eq!(good.map(|g| g.0), Some(true), "sigstore-js must accept");
                let bad = accepts(node, &[&script, &tampered, &public]);
                assert_eq!(
                    bad.map(|b| b.0),
                    Some(false),
                    "sigstore-js must reject a tampered payload"
                );
                let bad = accepts(node, &[&script, bundle, &wrong]);
                assert_eq!(
                    bad.map(|b| b.0),
                    Some(false),
                    "sigstore-js must reject a wrong key"
                );
            }
            if have_python {
                let script = scripts().join("dsse-verify.py");
                let good = accepts(&python, &[&script, bundle, &public]);
                assert_eq!(
                    good.map(|g| g.0),
                    Some(true),
                    "securesystemslib must accept"
                );
                let bad = accepts(&python, &[&script, &tampered, &public]);
                assert_eq!(
                    bad.map(|b| b.0),
                    Some(false),
                    "securesystemslib must reject a tampered payload"
                );
                let bad = accepts(&python, &[&script, bundle, &wrong]);
                assert_eq!(
                    bad.map(|b| b.0),
                    Some(false),
                    "securesystemslib must reject a wrong key"
                );
                // in-toto-attestation parses statements (it checks no signature): ours must
                // parse strictly; one with a field the schema does not have must not.
                let script = scripts().join("in-toto-parse.py");
                let good = accepts(&python, &[&script, bundle]);
                assert_eq!(
                    good.map(|g| g.0),
                    Some(true),
                    "in-toto-attestation must accept"
                );
                let unknown = f.path("unknown-field.json");
                with_unknown_field(bundle, &unknown);
                let bad = accepts(&python, &[&script, &unknown]);
                assert_eq!(
                    bad.map(|b| b.0),
                    Some(false),
                    "in-toto-attestation must reject an unknown field"
                );
            }
            if let Some(openssl) = &openssl {
                let pae = f.path("pae.bin");
                let sig = f.path("sig.bin");
                let st = Command::new("python3")
                    .arg(scripts().join("pae.py"))
                    .args([bundle, &pae, &sig])
                    .status()
                    .expect("python3 runs");
                assert!(st.success());
                let check = |pae: &Path, key: &Path| -> bool {
                    let mut cmd = Command::new(openssl);
                    if kind == "p256" {
                        cmd.args(["dgst", "-sha256", "-verify"])
                            .arg(key)
                            .arg("-signature")
                            .arg(&sig)
                            .arg(pae);
                    } else {
                        cmd.args(["pkeyutl", "-verify", "-pubin", "-inkey"])
                            .arg(key)
                            .args(["-rawin", "-in"])
                            .arg(pae)
                            .arg("-sigfile")
                            .arg(&sig);
                    }
                    let out = cmd.output().expect("openssl runs");
                    println!(
                        "  openssl -> {}",
                        String::from_utf8_lossy(&out.stdout).trim()
                    );
                    out.status.success()
                };
                assert!(
                    check(&pae, &public),
                    "openssl must accept the PAE signature"
                );
                let mut bytes = std::fs::read(&pae).expect("read");
                let last = bytes.len() - 2;
                bytes[last] ^= 1;
                let changed = f.path("pae-changed.bin");
                std::fs::write(&changed, bytes).expect("write");
                assert!(
                    !check(&changed, &public),
                    "openssl must reject a changed payload"
                );
                assert!(!check(&pae, &wrong), "openssl must reject a wrong key");
            }
        }
        // And our own verifier, through the CLI: 0 verified, 1 not verified, 2 unreadable.
        let verify = |extra: &[&str], key: &Path| {
            let mut args = vec![
                "verify".to_owned(),
                s(&job.join("evidence.tar")),
                "--key".into(),
                s(key),
            ];
            args.extend(extra.iter().map(|a| a.to_string()));
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            f.hrun(&refs).status.code()
        };
        let artifact = s(&job.join("artifacts/app.bin"));
        assert_eq!(
            verify(
                &[
                    "--source-repo",
                    "octo/hello",
                    "--source-ref",
                    "main",
                    "--artifact",
                    &artifact
                ],
                &public
            ),
            Some(0)
        );
        assert_eq!(verify(&["--source-repo", "octo/other"], &public), Some(1));
        assert_eq!(verify(&[], &wrong), Some(1));
        assert_eq!(
            verify(&["--artifact", &s(&f.path("p256-signer.pub"))], &public),
            Some(1)
        );
        assert_eq!(verify(&[], &f.path("missing.pub")), Some(2));
    }
}

/// A bundle whose statement has a field in-toto's schema does not know (re-signing is not
/// needed: the parser checks no signature).
fn with_unknown_field(bundle: &Path, to: &Path) {
    let mut json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(bundle).expect("read")).expect("json");
    let b64 = base64::engine::general_purpose::STANDARD;
    let payload = b64
        .decode(json["dsseEnvelope"]["payload"].as_str().expect("payload"))
        .expect("base64");
    let mut statement: serde_json::Value = serde_json::from_slice(&payload).expect("statement");
    statement["subjects"] = serde_json::json!([]);
    json["dsseEnvelope"]["payload"] = serde_json::json!(b64.encode(statement.to_string()));
    std::fs::write(to, serde_json::to_vec(&json).expect("json")).expect("write");
}

#[test]
fn every_changed_byte_of_evidence_or_audit_log_fails_verification() {
    let f = Fixture::new();
    let (key, public) = f.key("p256", "signer");
    let job = f.run(&key, "out");
    let public = VerifyingKey::read(&public).expect("public key");
    let tar = std::fs::read(job.join("evidence.tar")).expect("evidence.tar");
    assert!(verify_evidence(&tar, &public, &Expectations::default()).is_ok());

    // Positions spread over every member: each member's header and data, plus the trailer.
    let mut positions = Vec::new();
    let mut offset = 0usize;
    let mut archive = tar::Archive::new(tar.as_slice());
    for entry in archive.entries().expect("entries") {
        let entry = entry.expect("entry");
        let data_start = entry.raw_file_position() as usize;
        let size = entry.size() as usize;
        for k in 0..8 {
            positions.push(offset + k * 512 / 8 + 3);
        }
        for k in 0..24 {
            if size > 0 {
                positions.push(data_start + k * size / 24);
            }
        }
        offset = data_start + size.div_ceil(512) * 512;
    }
    positions.extend([tar.len() - 1, tar.len() - 600]);
    positions.sort_unstable();
    positions.dedup();
    assert!(positions.len() >= 200, "{} positions", positions.len());
    for &pos in &positions {
        let mut changed = tar.clone();
        changed[pos] ^= 0x01;
        assert!(
            verify_evidence(&changed, &public, &Expectations::default()).is_err(),
            "byte {pos} of evidence.tar changed unnoticed"
        );
    }
    println!(
        "evidence.tar: {} single-byte changes, all rejected",
        positions.len()
    );

    // The audit log: every byte of the records.
    let records = std::fs::read(f.path("audit/records.jsonl")).expect("records");
    let checkpoints = std::fs::read(f.path("audit/checkpoints.jsonl")).expect("checkpoints");
    assert!(verify_log_bytes(&records, &checkpoints, &public, &[]).is_ok());
    let step = (records.len() / 300).max(1);
    let mut tried = 0;
    for pos in (0..records.len()).step_by(step) {
        let mut changed = records.clone();
        changed[pos] = if changed[pos] == b'0' { b'1' } else { b'0' };
        assert!(
            verify_log_bytes(&changed, &checkpoints, &public, &[]).is_err(),
            "byte {pos} of records.jsonl changed unnoticed"
        );
        tried += 1;
    }
    println!("records.jsonl: {tried} single-byte changes, all rejected");
    let out = f.hrun(&[
        "audit",
        "verify",
        "--dir",
        &s(&f.path("audit")),
        "--key",
        &s(&f.path("signer.pub")),
        "--checkpoint",
        &s(&job.join("evidence.tar")),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn two_runs_of_one_job_differ_only_in_times_ids_and_what_records_them() {
    let f = Fixture::new();
    let (key, _) = f.key("ed25519", "signer");
    let one =
        tarball::unpack(&std::fs::read(f.run(&key, "one").join("evidence.tar")).expect("read"))
            .expect("tar")
            .0;
    let two =
        tarball::unpack(&std::fs::read(f.run(&key, "two").join("evidence.tar")).expect("read"))
            .expect("tar")
            .0;
    assert_eq!(
        one.keys().collect::<Vec<_>>(),
        two.keys().collect::<Vec<_>>()
    );
    let differing: Vec<&str> = one
        .iter()
        .filter(|(name, data)| two.get(*name) != Some(data))
        .map(|(name, _)| name.as_str())
        .collect();
    // Times (started/finished, durations), the invocation id (the run id) and the audit
    // positions must differ; and so must everything that lists their digests.
    let must_differ = [
        "audit/checkpoint.json",    // tree size, root, time
        "audit/proofs.json",        // tree size, root, paths
        "audit/records.jsonl",      // run id, times, sequence numbers
        "evidence.sigstore.json",   // signs manifest.json
        "log.txt",                  // step and job durations
        "manifest.json",            // digests of the members above
        "provenance.sigstore.json", // startedOn, finishedOn, invocationId, byproduct digests
        "result.json",              // duration_ms
    ];
    assert_eq!(
        differing, must_differ,
        "members that differ between two runs"
    );
    for same in ["policy.json", "runner-config.json"] {
        assert_eq!(one[same], two[same], "{same}");
    }
    // Inside the provenance, only those fields differ: the subjects are the same.
    let statement = |m: &BTreeMap<String, Vec<u8>>| -> serde_json::Value {
        let bundle: serde_json::Value =
            serde_json::from_slice(&m["provenance.sigstore.json"]).expect("json");
        let payload = base64::engine::general_purpose::STANDARD
            .decode(bundle["dsseEnvelope"]["payload"].as_str().expect("payload"))
            .expect("base64");
        let mut s: serde_json::Value = serde_json::from_slice(&payload).expect("statement");
        let meta = &mut s["predicate"]["runDetails"]["metadata"];
        for field in ["invocationId", "startedOn", "finishedOn"] {
            meta[field] = serde_json::Value::Null;
        }
        s["predicate"]["runDetails"]["byproducts"] = serde_json::Value::Null;
        s
    };
    let (a, b) = (statement(&one), statement(&two));
    assert_eq!(a, b, "provenance differs beyond times, ids and byproducts");
    assert_eq!(a["subject"].as_array().map(Vec::len), Some(2));
}
