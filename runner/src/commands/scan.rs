//! `hrun scan`: searches files and directory trees for secrets with the rule pack of
//! [`hermetic::scan`], reporting where each is and its fingerprint, never its value.
//!
//! Exit codes: 0 nothing found, 1 secrets found, 2 could not scan (a bad rule file, or a path
//! that could not be read: the scan is incomplete, whatever else it found).

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use hermetic::scan::{Encoding, RulePack, ScanReport, Scanner, DEFAULT_DECODE_DEPTH};

use crate::exit::Exit;

/// The long help of `hrun scan`.
pub const LONG_HELP: &str = r#"Search files and directories for secrets (tokens, keys, passwords).

Built-in rules cover GitHub tokens (ghp_, gho_, ghu_, ghs_, ghr_, github_pat_), AWS keys, Slack,
Stripe, Google, npm, PyPI, GitLab, OpenAI, Anthropic and other service tokens, PEM, OpenSSH and
PGP private keys, JWTs, passwords in URLs and high-entropy values assigned to names such as
password, secret, token or api_key. `--list-rules` prints them.

`--rules FILE` reads rules in gitleaks' TOML format instead; `[extend] useDefault = true` in it
builds on the built-in rules, and its [[allowlists]] (paths, regexes, stopwords) let known values
pass. Base64 blobs are decoded and searched (`--decode-depth`). Directories are walked at any
depth; symbolic links inside them are not followed, `.git` and binary files are skipped.

A finding shows the rule, the file, line and column, and a fingerprint (64 bits of SHA-256 of the
value): the same secret has the same fingerprint everywhere. The value is never printed.

Exit codes: 0 nothing found, 1 secrets found, 2 could not scan (bad rule file, unreadable path)."#;

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// Files or directories to scan (default: the current directory).
    pub paths: Vec<PathBuf>,
    /// A rule file in gitleaks' TOML format, instead of the built-in rules.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// `human`, `json`, or `sarif` (SARIF 2.1.0).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
    /// How deep base64 blobs inside decoded blobs are followed (0: not decoded).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_DECODE_DEPTH)]
    pub decode_depth: u8,
    /// Print the rules (id and description) and exit.
    #[arg(long)]
    pub list_rules: bool,
    /// Colors in the human format: `auto` (only on a terminal), `always`, `never`.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Sarif,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum Color {
    Auto,
    Always,
    Never,
}

pub fn run(args: ScanArgs) -> Result<Exit> {
    let pack = match &args.rules {
        Some(path) => RulePack::from_file(path)?,
        None => RulePack::builtin(),
    };
    let scanner = Scanner::new(pack).with_decode_depth(args.decode_depth);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.list_rules {
        for rule in scanner.rules() {
            writeln!(out, "{:<32} {}", rule.id, rule.description)?;
        }
        return Ok(Exit::Ok);
    }
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let report = scanner.scan_paths(&paths);
    let color = match args.color {
        Color::Always => true,
        Color::Never => false,
        Color::Auto => stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none(),
    };
    let text = match args.format {
        Format::Human => human(&report, color),
        Format::Json => {
            serde_json::to_string_pretty(&report).context("cannot serialize the report")? + "\n"
        }
        Format::Sarif => sarif(&report, &scanner),
    };
    out.write_all(text.as_bytes())?;
    out.flush()?;
    if args.format == Format::Human {
        eprintln!("{}", summary(&report));
    }
    Ok(exit_code(&report))
}

fn exit_code(report: &ScanReport) -> Exit {
    if !report.errors.is_empty() {
        Exit::CouldNotEvaluate
    } else if !report.findings.is_empty() {
        Exit::Denied
    } else {
        Exit::Ok
    }
}

fn human(report: &ScanReport, color: bool) -> String {
    let (bold, red, dim, reset) = if color {
        ("\x1b[1m", "\x1b[31m", "\x1b[2m", "\x1b[0m")
    } else {
        ("", "", "", "")
    };
    let mut text = String::new();
    for f in &report.findings {
        let encoded = match f.encoding {
            Some(Encoding::Base64) => " (in a base64 blob)",
            None => "",
        };
        text.push_str(&format!(
            "{bold}{}:{}:{}{reset}: {red}{}{reset}: {}{encoded} {dim}[fingerprint {}]{reset}\n",
            f.source, f.line, f.column, f.rule, f.description, f.fingerprint
        ));
    }
    for e in &report.errors {
        text.push_str(&format!("{red}error{reset}: {}: {}\n", e.path, e.message));
    }
    text
}

fn summary(report: &ScanReport) -> String {
    let s = &report.stats;
    let mb = s.bytes as f64 / 1e6;
    let secs = s.elapsed_ms as f64 / 1000.0;
    let rate = if secs > 0.0 {
        format!(", {:.0} MB/s", mb / secs)
    } else {
        String::new()
    };
    let mut skipped = Vec::new();
    if s.skipped_binary > 0 {
        skipped.push(format!("{} binary", s.skipped_binary));
    }
    if s.skipped_special > 0 {
        skipped.push(format!("{} links or special files", s.skipped_special));
    }
    if s.skipped_allowlisted > 0 {
        skipped.push(format!("{} allowlisted", s.skipped_allowlisted));
    }
    let skipped = if skipped.is_empty() {
        String::new()
    } else {
        format!("; skipped {}", skipped.join(", "))
    };
    let errors = if report.errors.is_empty() {
        String::new()
    } else {
        format!(
            "; {} path(s) could not be read: the scan is incomplete",
            report.errors.len()
        )
    };
    format!(
        "{} finding(s) in {} file(s), {mb:.1} MB in {secs:.2} s{rate}{skipped}{errors}",
        report.findings.len(),
        s.files
    )
}

/// SARIF 2.1.0: one run, every rule described, results with the file, region and fingerprint.
fn sarif(report: &ScanReport, scanner: &Scanner) -> String {
    let rules = scanner.rules();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|f| {
            let mut result = json!({
                "ruleId": f.rule,
                "level": "error",
                "message": { "text": format!("{} found (fingerprint {}); the value is not shown. Revoke it and remove it from the file.", f.description, f.fingerprint) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&f.source) },
                        "region": {
                            "startLine": f.line,
                            "startColumn": f.column,
                            "endLine": f.end_line,
                            "endColumn": f.end_column + 1,
                        }
                    }
                }],
                "partialFingerprints": { "hrunSecretFingerprint/v1": f.fingerprint.as_str() },
            });
            if let Some(i) = rules.iter().position(|r| r.id == f.rule) {
                result["ruleIndex"] = json!(i);
            }
            result
        })
        .collect();
    let notifications: Vec<Value> = report
        .errors
        .iter()
        .map(|e| {
            json!({
                "level": "error",
                "message": { "text": format!("cannot scan {}: {}", e.path, e.message) },
                "descriptor": { "id": "hrun/unreadable" },
            })
        })
        .collect();
    let document = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "hrun",
                "fullName": "Hermetic Runner secret scanner (hrun scan)",
                "version": env!("CARGO_PKG_VERSION"),
                "semanticVersion": env!("CARGO_PKG_VERSION"),
                "informationUri": env!("CARGO_PKG_REPOSITORY"),
                "rules": rules.iter().map(|r| json!({
                    "id": r.id,
                    "shortDescription": { "text": r.description },
                    "defaultConfiguration": { "level": "error" },
                    "properties": { "tags": ["security", "secret"], "security-severity": "8.0" },
                })).collect::<Vec<_>>(),
            }},
            "columnKind": "unicodeCodePoints",
            "invocations": [{
                "executionSuccessful": report.errors.is_empty(),
                "toolExecutionNotifications": notifications,
            }],
            "results": results,
        }]
    });
    serde_json::to_string_pretty(&document).unwrap_or_default() + "\n"
}

/// A relative URI reference for a path: `./` dropped, characters outside RFC 3986's unreserved
/// set and `/` percent-encoded.
fn uri(path: &str) -> String {
    let path = path.strip_prefix("./").unwrap_or(path);
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> String {
        // Synthetic: a fixed pattern of the right shape, not a real token.
        format!("ghp_{}", "Zx9Qw3Er5Ty7Ui1Op2As4Df6Gh8Jk0LmNbVc")
    }

    fn scan(dir: &std::path::Path) -> (ScanReport, Scanner) {
        let scanner = Scanner::new(RulePack::builtin());
        (scanner.scan_paths(&[dir]), scanner)
    }

    #[test]
    fn exit_codes_say_clean_found_or_incomplete() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.txt"), "nothing here\n").unwrap();
        assert_eq!(exit_code(&scan(dir.path()).0), Exit::Ok);
        std::fs::write(dir.path().join("b.env"), format!("T={}\n", token())).unwrap();
        assert_eq!(exit_code(&scan(dir.path()).0), Exit::Denied);
        let missing = dir.path().join("missing");
        let report = Scanner::new(RulePack::builtin()).scan_paths(&[missing]);
        assert_eq!(exit_code(&report), Exit::CouldNotEvaluate);
    }

    #[test]
    fn no_format_shows_the_value() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.env"), format!("T={}\n", token())).unwrap();
        let (report, scanner) = scan(dir.path());
        let texts = [
            human(&report, true),
            serde_json::to_string(&report).unwrap(),
            sarif(&report, &scanner),
            summary(&report),
        ];
        for text in texts {
            assert!(
                text.contains("github-pat") || text.contains("1 finding"),
                "{text}"
            );
            assert!(!text.contains(&token()[4..]), "{text}");
        }
    }

    #[test]
    fn sarif_places_the_finding_and_names_its_rule() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("my file.env"),
            format!("\n  T={}\n", token()),
        )
        .unwrap();
        let (report, scanner) = scan(dir.path());
        let doc: Value = serde_json::from_str(&sarif(&report, &scanner)).unwrap();
        let result = &doc["runs"][0]["results"][0];
        assert_eq!(result["ruleId"], "github-pat");
        let region = &result["locations"][0]["physicalLocation"]["region"];
        assert_eq!(
            (region["startLine"].as_u64(), region["startColumn"].as_u64()),
            (Some(2), Some(5))
        );
        let uri = result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
            .as_str()
            .unwrap();
        assert!(uri.ends_with("my%20file.env"), "{uri}");
        let index = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(
            doc["runs"][0]["tool"]["driver"]["rules"][index]["id"],
            "github-pat"
        );
    }
}
