//! End to end: a job in a microVM reaches only its allowlist, through a job network whose uplink
//! is a "world" namespace this test makes (servers on documentation addresses and an upstream
//! DNS server, see `hermetic::egress::test_world`). No address outside the machine is used.
//!
//! Needs root, `ip`, `nft`, QEMU and a built guest image (`ci/setup-egress.sh`,
//! `ci/setup-vm.sh`, `ci/build-image.sh`); without them each test prints `SKIP <test>: <reason>`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hermetic::egress::test_world::{
    World, ALLOWED_V4, DENIED_V4, DENIED_V6, KNOWN_NAME, NAMED_V4, PORT, UPSTREAM_DNS,
};
use serde_json::Value;

/// The image store of the machine (the runs' own `HRUN_CACHE` is fresh per test).
fn image_store() -> PathBuf {
    match std::env::var_os("HRUN_CACHE") {
        Some(cache) => PathBuf::from(cache).join("images"),
        None => {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/hrun/images")
        }
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        || Path::new("/usr/sbin").join(program).is_file()
}

/// A world for `test`, or `None` after printing why the test cannot run here.
fn world_or_skip(test: &str, tag: &str) -> Option<World> {
    let current = image_store().join("current");
    let reason = if !current.join("manifest.json").is_file() {
        Some(format!(
            "no guest image at {} (ci/build-image.sh builds it)",
            current.display()
        ))
    } else if !on_path("qemu-system-x86_64") {
        Some("qemu-system-x86_64 is not installed (ci/setup-vm.sh)".to_owned())
    } else if !on_path("nft") || !on_path("ip") {
        Some("`nft` or `ip` is missing (ci/setup-egress.sh installs them)".to_owned())
    } else {
        None
    };
    let made = match reason {
        Some(reason) => Err(reason),
        None => World::create(tag),
    };
    match made {
        Ok(world) => Some(world),
        Err(reason) => {
            println!("SKIP microvm_egress::{test}: {reason}");
            None
        }
    }
}

/// A repository holding `workflow` and a runner configuration whose egress goes out through
/// `world` with `mode` and the allowlist `allow`.
fn setup(world: &World, mode: &str, allow: &[String], workflow: &str) -> tempfile::TempDir {
    let repo = tempfile::tempdir().expect("tempdir");
    let flows = repo.path().join(".github/workflows");
    std::fs::create_dir_all(&flows).expect("workflows dir");
    std::fs::write(flows.join("net.yml"), workflow).expect("workflow");
    let allow: Vec<String> = allow.iter().map(|a| format!("{a:?}")).collect();
    let config = format!(
        "[egress]\nmode = {mode:?}\nallow = [{}]\nupstream_dns = [\"{UPSTREAM_DNS}:53\"]\n\
         uplink_netns = {:?}\n",
        allow.join(", "),
        world.name
    );
    std::fs::write(repo.path().join("hrun.toml"), config).expect("config");
    repo
}

fn run(repo: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hrun"))
        .args([
            "exec",
            ".github/workflows/net.yml",
            "--sandbox",
            "microvm",
            "--config",
            "hrun.toml",
            "--out",
            "out",
        ])
        .current_dir(repo)
        .env("NO_COLOR", "1")
        .env("HRUN_CACHE", repo.join(".hrun-cache"))
        .env("HRUN_IMAGES", image_store())
        .output()
        .expect("hrun runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn read_json(path: &Path) -> Value {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).expect("JSON")
}

/// The attempts of the job's egress report that went to `destination` (with `name` for DNS).
fn attempts<'a>(report: &'a Value, destination: &str) -> Vec<&'a Value> {
    report["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .filter(|a| a["destination"] == destination || a["name"] == destination)
        .collect()
}

/// A step that connects to `host` with Python, printing `<label> reached` or `<label> refused`.
fn connect_step(label: &str, host: &str) -> String {
    format!(
        "      - name: {label}\n        run: |\n          python3 - <<'EOF' && echo '{label} reached' || echo '{label} refused'\n          import socket, sys\n          try:\n              s = socket.create_connection(('{host}', {PORT}), timeout=4)\n              print(s.recv(100).decode())\n          except OSError as e:\n              print(e)\n              sys.exit(1)\n          EOF\n"
    )
}

#[test]
fn block_mode_lets_a_vm_reach_only_its_allowlist_and_reports_every_attempt() {
    let test = "block_mode_lets_a_vm_reach_only_its_allowlist_and_reports_every_attempt";
    let Some(world) = world_or_skip(test, "vmblock") else {
        return;
    };
    let mut workflow = "on: push\njobs:\n  net:\n    runs-on: x\n    steps:\n".to_owned();
    // The name's address before anyone resolved the name: a raw IP that bypasses DNS.
    workflow += &connect_step("raw-ip", NAMED_V4);
    workflow += &connect_step("allowed-address", ALLOWED_V4);
    workflow += &connect_step("allowed-name", KNOWN_NAME);
    workflow += &connect_step("denied-address", DENIED_V4);
    workflow += &connect_step("ipv6-address", DENIED_V6);
    workflow += "      - name: unlisted-name\n        run: getent hosts www.denied.test && echo 'unlisted-name resolved' || echo 'unlisted-name nxdomain'\n";
    let allow = [
        format!("{ALLOWED_V4}:{PORT}"),
        format!("{KNOWN_NAME}:{PORT}"),
    ];
    let repo = setup(&world, "block", &allow, &workflow);
    let output = run(repo.path());
    let all = text(&output);
    assert!(output.status.success(), "the job succeeds:\n{all}");
    for expected in [
        "raw-ip refused",
        "allowed-address reached",
        &format!("hello from {ALLOWED_V4}"),
        "allowed-name reached",
        &format!("hello from {NAMED_V4}"),
        "denied-address refused",
        "ipv6-address refused",
        "unlisted-name nxdomain",
    ] {
        assert!(all.contains(expected), "`{expected}` in the log:\n{all}");
    }
    assert!(
        !world.upstream_was_asked("www.denied.test"),
        "an unlisted name is never forwarded upstream"
    );

    let report = read_json(&repo.path().join("out/jobs/net/egress.json"));
    let verdicts = |destination: &str| -> Vec<String> {
        attempts(&report, destination)
            .iter()
            .map(|a| a["verdict"].as_str().unwrap_or("?").to_owned())
            .collect()
    };
    assert!(
        verdicts(ALLOWED_V4).contains(&"allowed".to_owned()),
        "{report:#}"
    );
    assert_eq!(verdicts(DENIED_V4), ["denied"], "{report:#}");
    assert_eq!(verdicts(DENIED_V6), ["denied"], "{report:#}");
    let named = verdicts(NAMED_V4);
    assert_eq!(
        named.first().map(String::as_str),
        Some("denied"),
        "the raw IP first: {report:#}"
    );
    assert!(
        named.contains(&"allowed".to_owned()),
        "then by name: {report:#}"
    );
    assert_eq!(
        verdicts("www.denied.test").first().map(String::as_str),
        Some("denied")
    );
    assert!(
        verdicts(KNOWN_NAME).contains(&"allowed".to_owned()),
        "{report:#}"
    );

    let result = read_json(&repo.path().join("out/jobs/net/result.json"));
    assert_eq!(result["sandbox"], "microvm", "{result:#}");
}

#[test]
fn block_and_fail_fails_a_vm_job_that_tried_an_unlisted_address() {
    let test = "block_and_fail_fails_a_vm_job_that_tried_an_unlisted_address";
    let Some(world) = world_or_skip(test, "vmfail") else {
        return;
    };
    let mut workflow = "on: push\njobs:\n  net:\n    runs-on: x\n    steps:\n".to_owned();
    workflow += &connect_step("denied-address", DENIED_V4);
    let repo = setup(
        &world,
        "block-and-fail",
        &[format!("{ALLOWED_V4}:{PORT}")],
        &workflow,
    );
    let output = run(repo.path());
    let all = text(&output);
    assert!(!output.status.success(), "the job fails:\n{all}");
    assert!(all.contains("denied-address refused"), "{all}");
    assert!(
        all.contains(DENIED_V4),
        "the failure names the address:\n{all}"
    );
    let result = read_json(&repo.path().join("out/jobs/net/result.json"));
    assert_eq!(result["conclusion"], "failure", "{result:#}");
    let report = read_json(&repo.path().join("out/jobs/net/egress.json"));
    assert_eq!(
        attempts(&report, DENIED_V4)
            .iter()
            .map(|a| a["verdict"].as_str().unwrap_or("?"))
            .collect::<Vec<_>>(),
        ["denied"],
        "{report:#}"
    );
}
