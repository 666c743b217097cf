//! The sweep's parsing of `/proc` files, its decisions, and sweeps of a laid-out `/proc` and of
//! a real process.

use std::sync::{Arc, OnceLock};

use super::*;
use crate::scan::RulePack;

const SECRET: &str = "s3cr3t-v4lue-42";

/// A synthetic npm token (the rule pack's shape, not a real one).
fn npm_token() -> String {
    format!("npm_{}", "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1eF3hJ5")
}

fn scanner() -> Arc<Scanner> {
    static SCANNER: OnceLock<Arc<Scanner>> = OnceLock::new();
    Arc::clone(SCANNER.get_or_init(|| Arc::new(Scanner::new(RulePack::builtin()))))
}

fn config() -> SweepConfig {
    let mut secrets = KnownSecrets::new();
    secrets.add("TOKEN", SECRET);
    SweepConfig::new(Arc::new(secrets), Some(scanner()))
}

/// A sweeper for a step given `TOKEN=<secret>`, `NPM=<token>` and `PATH`.
fn sweeper() -> StepSweeper {
    let npm = npm_token();
    let env: Vec<(&[u8], &[u8])> = vec![
        (b"TOKEN", SECRET.as_bytes()),
        (b"NPM", npm.as_bytes()),
        (b"PATH", b"/usr/bin:/bin"),
    ];
    StepSweeper::new(&config(), env)
}

fn environ(entries: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        out.extend_from_slice(e.as_bytes());
        out.push(0);
    }
    out
}

fn view<'a>(pid: i32, environ: &'a [u8], cmdline: &'a [u8]) -> ProcessView<'a> {
    ProcessView {
        pid,
        comm: b"sleep",
        environ,
        cmdline,
    }
}

#[test]
fn parses_environ_entries_separated_by_nul_without_utf8() {
    let buf = b"A=1\0\0NOEQUALS\0B=x=y\0\xff\xfe=\x80v\0C=";
    let entries = environ_entries(buf);
    let pairs: Vec<(&[u8], &[u8])> = entries
        .iter()
        .map(|e| (e.name(buf), e.value(buf)))
        .collect();
    assert_eq!(
        pairs,
        [
            (&b"A"[..], &b"1"[..]),
            (b"NOEQUALS", b""),
            (b"B", b"x=y"),
            (b"\xff\xfe", b"\x80v"),
            (b"C", b""),
        ]
    );
    assert!(environ_entries(b"").is_empty());
    assert!(environ_entries(b"\0\0\0").is_empty());
}

#[test]
fn parses_cmdline_arguments_with_and_without_final_nul() {
    assert_eq!(cmdline_args(b"sleep\x005\0"), [(0, 5), (6, 7)]);
    assert_eq!(cmdline_args(b"a\0\0b"), [(0, 1), (2, 2), (3, 4)]);
    // A process that rewrote its title: one argument, no NUL.
    assert_eq!(cmdline_args(b"worker: idle"), [(0, 12)]);
    assert!(cmdline_args(b"").is_empty());
    assert_eq!(cmdline_args(b"\0"), [(0, 0)]);
}

#[test]
fn parses_status_name_state_uids_and_namespace_pids() {
    let status =
        b"Name:\tsleep\nState:\tS (sleeping)\nUid:\t1001\t1001\t1001\t1001\nNSpid:\t4242\t7\n";
    let s = parse_status(status);
    assert_eq!(s.name, b"sleep");
    assert!(!s.dead);
    assert_eq!(s.uids, [1001, 1001, 1001, 1001]);
    assert_eq!(s.ns_pids, [4242, 7]);
    assert!(parse_status(b"State:\tZ (zombie)\n").dead);
    assert_eq!(parse_status(b"\xff\xff:\n:::\nUid: x 5\n").uids, [5]);
}

#[test]
fn a_secret_under_a_new_variable_name_is_found_and_the_given_one_is_not() {
    let mut s = sweeper();
    let env = environ(&[
        "TOKEN=s3cr3t-v4lue-42",
        "LEAKED=prefix-s3cr3t-v4lue-42",
        "PATH=/usr/bin:/bin",
    ]);
    s.examine(&view(7, &env, b"sleep\x005\0"), SweepPhase::AfterExit);
    let report = s.finish();
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    let f = &report.findings[0];
    assert_eq!(f.pid, 7);
    assert_eq!(f.comm, "sleep");
    assert_eq!(
        f.location,
        SweepLocation::Environ {
            variable: "LEAKED".into()
        }
    );
    assert_eq!(
        f.found,
        SweepMatch::Secret {
            name: "TOKEN".into()
        }
    );
    assert_eq!(f.phase, SweepPhase::AfterExit);
    let shown = f.to_string();
    assert!(
        shown.contains("secret `TOKEN`") && shown.contains("`LEAKED`") && !shown.contains(SECRET),
        "{shown}"
    );
}

#[test]
fn an_encoded_secret_in_a_given_variable_name_that_held_another_value_is_found() {
    let mut s = sweeper();
    let b64 = crate::mask::encodings::encoded_forms(SECRET)
        .into_iter()
        .next()
        .unwrap();
    let env = environ(&[&format!("PATH={b64}")]);
    s.examine(&view(3, &env, b""), SweepPhase::Running);
    assert_eq!(s.findings().len(), 1);
}

#[test]
fn a_secret_on_the_command_line_names_its_argument() {
    let mut s = sweeper();
    let cmd = format!("curl\0-H\0Authorization: Bearer {SECRET}\0https://x\0");
    s.examine(&view(9, b"", cmd.as_bytes()), SweepPhase::Running);
    let report = s.finish();
    assert_eq!(report.findings.len(), 1);
    assert_eq!(
        report.findings[0].location,
        SweepLocation::Cmdline { argument: 2 }
    );
}

#[test]
fn a_token_of_the_rule_pack_counts_only_where_it_was_not_given() {
    let mut s = sweeper();
    let token = npm_token();
    let env = environ(&[&format!("NPM={token}"), &format!("COPY={token}")]);
    s.examine(&view(5, &env, b""), SweepPhase::Running);
    let report = s.finish();
    assert_eq!(report.findings.len(), 1, "{:?}", report.findings);
    assert_eq!(
        report.findings[0].location,
        SweepLocation::Environ {
            variable: "COPY".into()
        }
    );
    match &report.findings[0].found {
        SweepMatch::Rule {
            rule, fingerprint, ..
        } => {
            assert_eq!(rule, "npm-access-token");
            assert!(!fingerprint.is_empty() && !token.contains(fingerprint.as_str()));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn names_that_hold_a_secret_are_hidden() {
    let mut s = sweeper();
    let env = environ(&[&format!("{SECRET}=1"), "FINE=1"]);
    let mut process = view(4, &env, b"");
    process.comm = SECRET.as_bytes();
    s.examine(&process, SweepPhase::Running);
    let report = s.finish();
    assert_eq!(report.findings.len(), 1);
    assert_eq!(report.findings[0].comm, HIDDEN_NAME);
    assert_eq!(
        report.findings[0].location,
        SweepLocation::Environ {
            variable: HIDDEN_NAME.into()
        }
    );
    assert!(!format!("{report:?}").contains(SECRET));
}

#[test]
fn each_finding_is_reported_once_and_unchanged_processes_are_not_searched_again() {
    let mut s = sweeper();
    let env = environ(&["LEAKED=s3cr3t-v4lue-42"]);
    for phase in [
        SweepPhase::Running,
        SweepPhase::Running,
        SweepPhase::AfterExit,
    ] {
        s.examine(&view(7, &env, b"sleep\0"), phase);
    }
    // Another process with the same leak is its own finding.
    s.examine(&view(8, &env, b"sleep\0"), SweepPhase::Running);
    let report = s.finish();
    assert_eq!(report.processes, 2);
    let pids: Vec<i32> = report.findings.iter().map(|f| f.pid).collect();
    assert_eq!(pids, [7, 8]);
}

#[test]
fn a_huge_environment_with_non_utf8_bytes_is_searched_to_its_end() {
    let mut s = sweeper();
    let mut env = Vec::with_capacity(9 << 20);
    let mut i = 0u32;
    while env.len() < (8 << 20) {
        env.extend_from_slice(format!("V{i}=\u{e9}\u{ff}").as_bytes());
        env.extend_from_slice(b"\xff\x80\0");
        i += 1;
    }
    env.extend_from_slice(b"LAST\xff=");
    env.extend_from_slice(SECRET.as_bytes());
    s.examine(&view(2, &env, b""), SweepPhase::Running);
    let report = s.finish();
    assert_eq!(report.findings.len(), 1);
    assert_eq!(
        report.findings[0].location,
        SweepLocation::Environ {
            variable: "LAST\u{fffd}".into()
        }
    );
}

#[test]
fn findings_stop_at_the_limit_and_say_so() {
    let mut s = sweeper();
    let env = environ(&["LEAKED=s3cr3t-v4lue-42"]);
    for pid in 0..(MAX_FINDINGS as i32 + 3) {
        s.examine(&view(pid + 10, &env, b""), SweepPhase::Running);
    }
    let report = s.finish();
    assert_eq!(report.findings.len(), MAX_FINDINGS);
    assert!(report.truncated);
}

/// Writes `<root>/<pid>/<file>` files.
fn lay_out(root: &std::path::Path, pid: &str, files: &[(&str, &[u8])]) {
    let dir = root.join(pid);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in files {
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}

#[test]
fn sweeps_a_laid_out_proc_skipping_vanished_dead_and_unselected_processes() {
    let root = tempfile::tempdir().unwrap();
    let leak = environ(&["LEAKED=s3cr3t-v4lue-42"]);
    let status = b"Name:\tsleep\nState:\tS\nUid:\t1001\t1001\t1001\t1001\n";
    lay_out(
        root.path(),
        "7",
        &[
            ("status", status),
            ("environ", &leak),
            ("cmdline", b"sleep\x005\0"),
        ],
    );
    // Vanished between the listing and reading its environment.
    lay_out(root.path(), "8", &[("status", status)]);
    // A zombie.
    lay_out(
        root.path(),
        "9",
        &[
            ("status", b"Name:\tx\nState:\tZ\nUid:\t1001\n"),
            ("environ", &leak),
            ("cmdline", b"x\0"),
        ],
    );
    // Another user's process, which the selection leaves out.
    lay_out(
        root.path(),
        "10",
        &[
            ("status", b"Name:\ty\nState:\tS\nUid:\t0\t0\t0\t0\n"),
            ("environ", &leak),
            ("cmdline", b"y\0"),
        ],
    );
    // The init, left out by pid.
    lay_out(
        root.path(),
        "1",
        &[
            ("status", status),
            ("environ", &leak),
            ("cmdline", b"init\0"),
        ],
    );
    std::fs::create_dir_all(root.path().join("self")).unwrap();
    std::fs::write(root.path().join("uptime"), b"1 1").unwrap();

    let dir = ProcDir::open(root.path()).unwrap();
    let mut s = sweeper();
    let select = |pid: i32, st: &ProcStatus| pid != 1 && st.uids.contains(&1001);
    s.sweep(&dir, &select, SweepPhase::Running);
    std::fs::remove_dir_all(root.path().join("7")).unwrap();
    s.sweep(&dir, &select, SweepPhase::AfterExit);
    let report = s.finish();
    assert_eq!(report.sweeps, 2);
    let pids: Vec<i32> = report.findings.iter().map(|f| f.pid).collect();
    assert_eq!(pids, [7]);
    assert_eq!(report.processes, 1);
    assert!(report.note.is_none());
}

#[test]
fn sweeps_a_real_process_and_survives_its_end() {
    let mut child = std::process::Command::new("sleep")
        .arg("30")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("LEAKED", SECRET)
        .spawn()
        .expect("sleep starts");
    let pid = i32::try_from(child.id()).unwrap();
    let dir = ProcDir::open(std::path::Path::new("/proc")).unwrap();
    let mut s = sweeper();
    let only = move |p: i32, _: &ProcStatus| p == pid;
    // The child may not have exec'd yet: sweep until it shows as sleep.
    for _ in 0..200 {
        s.sweep(&dir, &only, SweepPhase::Running);
        if !s.findings().is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    s.sweep(&dir, &only, SweepPhase::AfterExit);
    let report = s.finish();
    assert_eq!(report.findings.len(), 1, "{report:?}");
    assert_eq!(report.findings[0].pid, pid);
    assert_eq!(report.findings[0].comm, "sleep");
    assert_eq!(report.unreadable, 0);
}

#[test]
fn a_report_from_elsewhere_is_bounded() {
    let finding = SweepFinding {
        pid: 1,
        comm: "x".repeat(10_000),
        location: SweepLocation::Cmdline { argument: 0 },
        found: SweepMatch::Secret {
            name: "é".repeat(1000),
        },
        phase: SweepPhase::Running,
    };
    let report = SweepReport {
        findings: vec![finding; MAX_FINDINGS + 1],
        ..SweepReport::default()
    }
    .bounded();
    assert_eq!(report.findings.len(), MAX_FINDINGS);
    assert!(report.truncated);
    assert!(report.findings[0].comm.len() <= 256);
    match &report.findings[0].found {
        SweepMatch::Secret { name } => assert!(name.len() <= 256),
        other => panic!("{other:?}"),
    }
}

#[test]
fn findings_serialize_with_place_and_kind_tags() {
    let f = SweepFinding {
        pid: 7,
        comm: "sleep".into(),
        location: SweepLocation::Environ {
            variable: "LEAKED".into(),
        },
        found: SweepMatch::Secret {
            name: "TOKEN".into(),
        },
        phase: SweepPhase::AfterExit,
    };
    let json = serde_json::to_value(&f).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"pid": 7, "comm": "sleep", "location": {"in": "environ", "variable": "LEAKED"},
            "found": {"kind": "secret", "name": "TOKEN"}, "phase": "after_exit"})
    );
    let back: SweepFinding = serde_json::from_value(json).unwrap();
    assert_eq!(back, f);
}
