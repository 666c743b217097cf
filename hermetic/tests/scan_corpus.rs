//! The scanner against corpora: a labeled corpus of planted synthetic secrets (every one must be
//! found, at its line, by its rule, and nothing else), and the Rust sources on this machine as a
//! clean corpus (nothing may be found).

mod corpus;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hermetic::scan::{RulePack, Scanner};

fn scanner() -> Scanner {
    Scanner::new(RulePack::builtin())
}

#[test]
fn every_planted_secret_is_found_at_its_line_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let labels = corpus::generate(dir.path(), 20240501, 1).unwrap();
    let kinds: BTreeSet<&str> = labels.iter().map(|l| l.rule).collect();
    assert!(labels.len() >= 100, "{} planted", labels.len());
    assert!(kinds.len() >= 20, "{} kinds", kinds.len());

    let report = scanner().scan_paths(&[dir.path()]);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let found: BTreeSet<(String, u64, String)> = report
        .findings
        .iter()
        .map(|f| {
            let rel = Path::new(&f.source)
                .strip_prefix(dir.path())
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (rel, f.line, f.rule.clone())
        })
        .collect();
    let expected: BTreeSet<(String, u64, String)> = labels
        .iter()
        .map(|l| (l.file.clone(), l.line, l.rule.to_owned()))
        .collect();
    let missed: Vec<_> = expected.difference(&found).collect();
    let extra: Vec<_> = found.difference(&expected).collect();
    assert!(
        missed.is_empty() && extra.is_empty(),
        "{} planted of {} kinds; missed {}: {missed:#?}\nunexpected {}: {extra:#?}",
        expected.len(),
        kinds.len(),
        missed.len(),
        extra.len()
    );
    println!(
        "planted corpus: {}/{} found, {} kinds, no other finding",
        expected.len(),
        expected.len(),
        kinds.len()
    );
}

#[test]
fn planted_secrets_never_appear_in_findings() {
    let dir = tempfile::tempdir().unwrap();
    corpus::generate(dir.path(), 7, 1).unwrap();
    let report = scanner().scan_paths(&[dir.path()]);
    let text = format!("{:?}", report.findings);
    // No 20-character run of any planted file's line appears in the report, apart from paths.
    for entry in walk(dir.path()) {
        let content = std::fs::read_to_string(&entry).unwrap();
        for line in content.lines() {
            let line = line.trim();
            for window in line.as_bytes().windows(24).step_by(12) {
                let w = std::str::from_utf8(window).unwrap_or("");
                if !w.is_empty() && w.chars().all(|c| c.is_ascii_alphanumeric()) {
                    assert!(!text.contains(w), "{w} appears in the findings");
                }
            }
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The Rust standard library's sources when the `rust-src` component is installed, else the
/// crates cargo has unpacked for this workspace (always there once it has been built).
fn clean_corpus() -> Option<PathBuf> {
    let sysroot = std::process::Command::new(std::env::var("RUSTC").unwrap_or("rustc".into()))
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(src) = sysroot.map(|s| s.join("lib/rustlib/src")) {
        if src.is_dir() {
            return Some(src);
        }
    }
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
    let registry = cargo_home.join("registry/src");
    registry.is_dir().then_some(registry)
}

/// Where crates keep published test material: keys of test vectors, sample tokens of API
/// documentation, signed example tokens. hrun's rules rightly report these in a user's
/// repository (they are keys and tokens by every measure of shape), so the built-in pack does not
/// allowlist them; in this corpus they are public and known, and are counted apart:
/// - test fixtures, test code, benchmarks and examples of any crate;
/// - the sources and README of crates whose subject is keys (PEM, PKCS#1/#8, SEC1, RSA, curves),
///   whose unit tests and docs embed test keys, for the private-key rules only.
fn published_test_material(path: &str, rule: &str) -> bool {
    let fixtures =
        regex::Regex::new(r"/(?:tests?|testdata|test[-_]data|benches|examples|fixtures)/|_tests?\.(?:cc|c|h|go|rs|py)$")
            .unwrap();
    let key_crates = regex::Regex::new(
        r"/(?:pem|pem-rfc7468|pkcs1|pkcs8|sec1|p256|p384|p521|rsa|ed25519|elliptic-curve)-[0-9][^/]*/(?:src/|README\.md$)",
    )
    .unwrap();
    fixtures.is_match(path) || (rule.ends_with("private-key") && key_crates.is_match(path))
}

#[test]
fn the_rust_sources_on_this_machine_hold_no_secret() {
    let Some(root) = clean_corpus() else {
        panic!("no clean corpus: neither rust-src nor ~/.cargo/registry/src is present");
    };
    let report = scanner().scan_paths(&[&root]);
    let (published, others): (Vec<_>, Vec<_>) = report
        .findings
        .iter()
        .partition(|f| published_test_material(&f.source, &f.rule));
    let shown: Vec<String> = others.iter().map(|f| f.to_string()).collect();
    assert!(
        shown.is_empty(),
        "{} finding(s) in {} ({} files, {} MB):\n{}",
        shown.len(),
        root.display(),
        report.stats.files,
        report.stats.bytes / 1_000_000,
        shown.join("\n")
    );
    assert!(report.stats.files > 1000, "{:?}", report.stats);
    println!(
        "clean corpus {}: {} files, {} MB, no finding outside published test material ({} there), {} ms",
        root.display(),
        report.stats.files,
        report.stats.bytes / 1_000_000,
        published.len(),
        report.stats.elapsed_ms
    );
}
