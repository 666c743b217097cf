//! `hrun exec --sandbox microvm` at its limits, end to end: a step that allocates past the VM's
//! memory, a job past its `timeout-minutes`, and a runner killed with SIGKILL mid-job; after each
//! (and after a normal job) the host keeps nothing of the job: no QEMU process, no run directory,
//! no network namespace, veth or nftables table.
//!
//! Every run has a private `HRUN_CACHE` (a temporary directory): a process whose command line
//! names it is one this test started. The jobs get a network (an allowlist of one address no one
//! answers on) whose uplink is a namespace the test makes, so the networks' teardown is checked
//! too; where namespaces cannot be made (not root, no `ip`/`nft`) the jobs run without one and
//! the network checks are skipped with a printed reason. Without QEMU or a guest image every
//! test is skipped with a printed reason.

use std::io::{BufRead, BufReader};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The machine's image store (each run's own `HRUN_CACHE` is fresh).
fn image_store() -> PathBuf {
    match std::env::var_os("HRUN_IMAGES").filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => match std::env::var_os("HRUN_CACHE") {
            Some(cache) => PathBuf::from(cache).join("images"),
            None => PathBuf::from(std::env::var_os("HOME").unwrap_or_default())
                .join(".cache/hrun/images"),
        },
    }
}

/// Why no microVM can run here, or `None`.
fn microvm_unavailable() -> Option<String> {
    let current = image_store().join("current");
    if !current.join("manifest.json").is_file() {
        return Some(format!(
            "no guest image at {} (ci/setup-image.sh builds it)",
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

fn tool_runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A network namespace the test makes as the job networks' uplink; deleted when dropped.
struct Uplink {
    name: String,
}

impl Uplink {
    /// Makes it, or says why this host cannot.
    fn create(tag: &str) -> Result<Uplink, String> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return Err("job networks need root".to_owned());
        }
        if !tool_runs("nft", &["--version"]) {
            return Err("nft is not installed (ci/setup-egress.sh)".to_owned());
        }
        let name = format!("hrun-test-{}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        if !tool_runs("ip", &["netns", "add", &name]) {
            return Err("cannot make a network namespace with `ip netns add`".to_owned());
        }
        let uplink = Uplink { name };
        if !tool_runs("ip", &["-n", &uplink.name, "link", "set", "lo", "up"]) {
            return Err("cannot configure the test's namespace".to_owned());
        }
        Ok(uplink)
    }
}

impl Drop for Uplink {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// The tests of this file run one at a time: each boots VMs (slow under TCG), and a job
/// network made by one would take the slot a killed runner of another freed, clearing what that
/// test looks for.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// One test's repository, cache, runner configuration and (maybe) uplink.
struct Setup {
    repo: tempfile::TempDir,
    cache: tempfile::TempDir,
    config: PathBuf,
    uplink: Option<Uplink>,
    _turn: std::sync::MutexGuard<'static, ()>,
}

impl Setup {
    /// `None` (after printing why) when no microVM can run here.
    fn new(test: &str, workflow: &str, vm_toml: &str) -> Option<Setup> {
        if let Some(reason) = microvm_unavailable() {
            println!("SKIP microvm_limits::{test}: {reason}");
            return None;
        }
        let turn = ONE_AT_A_TIME
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let uplink = match Uplink::create(&test.chars().take(12).collect::<String>()) {
            Ok(u) => Some(u),
            Err(reason) => {
                println!("SKIP the network checks of microvm_limits::{test}: {reason}");
                None
            }
        };
        let repo = tempfile::tempdir().expect("temp dir");
        let cache = tempfile::tempdir().expect("temp dir");
        let workflows = repo.path().join(".github/workflows");
        std::fs::create_dir_all(&workflows).expect("mkdir");
        std::fs::write(workflows.join("w.yml"), workflow).expect("write the workflow");
        let mut toml = String::new();
        if let Some(uplink) = &uplink {
            toml.push_str(&format!(
                "[egress]\nmode = \"block\"\nallow = [\"192.0.2.10:8080\"]\nupstream_dns = [\"192.0.2.53\"]\nuplink_netns = \"{}\"\n\n",
                uplink.name
            ));
        }
        toml.push_str("[vm]\n");
        toml.push_str(vm_toml);
        let config = cache.path().join("config.toml");
        std::fs::write(&config, toml).expect("write the config");
        Some(Setup {
            repo,
            cache,
            config,
            uplink,
            _turn: turn,
        })
    }

    fn out(&self) -> PathBuf {
        self.repo.path().join("out")
    }

    fn command(&self, extra: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_hrun"));
        command
            .args(["exec", ".github/workflows/w.yml", "--sandbox", "microvm"])
            .arg("--config")
            .arg(&self.config)
            .arg("--out")
            .arg(self.out())
            .args(extra)
            .current_dir(self.repo.path())
            .env("NO_COLOR", "1")
            .env("HRUN_CACHE", self.cache.path())
            .env("HRUN_IMAGES", image_store());
        command
    }

    /// Runs `hrun exec` to its end; returns its output, its pid and how long it took.
    fn run(&self, extra: &[&str]) -> (Output, u32, Duration) {
        let started = Instant::now();
        let child = self
            .command(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("hrun starts");
        let pid = child.id();
        let output = child.wait_with_output().expect("hrun ends");
        (output, pid, started.elapsed())
    }

    /// What of the run of runner `pid` is still on the host, one line each.
    fn leftovers(&self, pid: u32) -> Vec<String> {
        let mut found = Vec::new();
        let marker = self.cache.path().as_os_str().as_bytes();
        for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            if cmdline.windows(marker.len()).any(|w| w == marker) {
                let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
                found.push(format!(
                    "process {} ({})",
                    entry.file_name().to_string_lossy(),
                    comm.trim()
                ));
            }
        }
        if let Ok(dirs) = std::fs::read_dir(self.cache.path().join("vm/run")) {
            for dir in dirs.flatten() {
                found.push(format!("run directory {}", dir.path().display()));
            }
        }
        let Some(uplink) = &self.uplink else {
            return found;
        };
        let prefix = format!("hrun-{pid}-");
        let link = format!("hr{pid}n");
        let text = |args: &[&str]| {
            let out = Command::new(args[0])
                .args(&args[1..])
                .output()
                .expect("the tool runs");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        for line in text(&["ip", "netns", "list"]).lines() {
            if line.starts_with(&prefix) {
                found.push(format!("network namespace {line}"));
            }
        }
        for (place, links, tables) in [
            (
                "the host",
                text(&["ip", "-o", "link", "show"]),
                text(&["nft", "list", "tables"]),
            ),
            (
                "the uplink",
                text(&["ip", "-n", &uplink.name, "-o", "link", "show"]),
                text(&["ip", "netns", "exec", &uplink.name, "nft", "list", "tables"]),
            ),
        ] {
            for line in links.lines().filter(|l| l.contains(&link)) {
                found.push(format!("link in {place}: {line}"));
            }
            for line in tables.lines().filter(|l| l.contains(&prefix)) {
                found.push(format!("nftables table in {place}: {line}"));
            }
        }
        found
    }

    /// Polls `leftovers` for a short while (the kernel reaps a killed QEMU asynchronously).
    fn assert_no_leftovers(&self, pid: u32, context: &str) {
        let until = Instant::now() + Duration::from_secs(5);
        let mut left = self.leftovers(pid);
        while !left.is_empty() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(100));
            left = self.leftovers(pid);
        }
        assert!(
            left.is_empty(),
            "left behind by the run: {left:#?}\n{context}"
        );
    }

    /// When the job had a network, its egress report is beside its result.
    fn assert_had_network(&self, job: &str, context: &str) {
        if self.uplink.is_some() {
            let report = self.out().join("jobs").join(job).join("egress.json");
            assert!(
                report.is_file(),
                "job {job} had no job network (no egress.json)\n{context}"
            );
        }
    }

    fn job(&self, key: &str) -> Value {
        let path = self.out().join("jobs").join(key).join("result.json");
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        serde_json::from_str(&text).expect("result.json is JSON")
    }

    fn log(&self, key: &str) -> String {
        std::fs::read_to_string(self.out().join("jobs").join(key).join("log.txt"))
            .unwrap_or_default()
    }
}

fn describe(output: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn a_normal_job_leaves_nothing_behind() {
    let workflow = "on: push\njobs:\n  plain:\n    runs-on: x\n    steps:\n      - run: echo \"in-vm $(uname -r)\"\n";
    let Some(setup) = Setup::new("a_normal_job_leaves_nothing_behind", workflow, "") else {
        return;
    };
    let (output, pid, _) = setup.run(&[]);
    let context = describe(&output);
    assert_eq!(output.status.code(), Some(0), "{context}");
    assert_eq!(setup.job("plain")["conclusion"], "success", "{context}");
    assert!(setup.log("plain").contains("in-vm "), "{context}");
    setup.assert_had_network("plain", &context);
    setup.assert_no_leftovers(pid, &context);
}

#[test]
fn a_step_allocating_past_the_vm_memory_fails_the_job_and_the_runner_carries_on() {
    // 512 MiB in 16 MiB pieces, each touched, in a VM of 256 MiB: the guest's OOM killer ends
    // the step (one big allocation would only be refused by the guest's overcommit check).
    let workflow = r#"on: push
jobs:
  hog:
    runs-on: x
    steps:
      - id: hog
        run: python3 -c "chunks = [bytearray(16 << 20) for _ in range(32)]; print('allocated' + '-all')"
      - id: after
        if: always()
        run: echo "vm-still-usable"
  next:
    needs: hog
    if: always()
    runs-on: x
    steps:
      - run: echo "runner-carries-on"
"#;
    let Some(setup) = Setup::new(
        "a_step_allocating_past_the_vm_memory",
        workflow,
        "memory_mib = 256\n",
    ) else {
        return;
    };
    let (output, pid, _) = setup.run(&[]);
    let context = describe(&output);
    assert_eq!(output.status.code(), Some(1), "a job failed\n{context}");
    let hog = setup.job("hog");
    assert_eq!(hog["conclusion"], "failure", "{context}");
    assert_eq!(hog["sandbox_details"]["memory_mib"], "256", "{context}");
    let steps = hog["steps"].as_array().cloned().unwrap_or_default();
    let step = |id: &str| {
        steps
            .iter()
            .find(|s| s["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("no step {id}\n{context}"))
    };
    assert_eq!(step("hog")["outcome"], "failure", "{context}");
    assert_eq!(
        step("hog")["exit_code"],
        137,
        "killed by SIGKILL (the guest's OOM killer)\n{context}"
    );
    assert_eq!(
        step("after")["outcome"],
        "success",
        "the VM still runs steps\n{context}"
    );
    let log = setup.log("hog");
    assert!(!log.contains("allocated-all"), "{log}");
    assert!(
        log.contains("Killed"),
        "the log says the step was killed\n{log}"
    );
    assert!(
        log.contains("Process completed with exit code 137."),
        "{log}"
    );
    assert!(log.contains("vm-still-usable"), "{log}");
    assert_eq!(setup.job("next")["conclusion"], "success", "{context}");
    assert!(setup.log("next").contains("runner-carries-on"), "{context}");
    setup.assert_had_network("hog", &context);
    setup.assert_no_leftovers(pid, &context);
}

#[test]
fn a_job_past_its_timeout_gets_its_vm_killed() {
    // The job times out after 18 s; the engine cancels the first step; the `cancelled()` step
    // then sleeps on, so only the VM's own deadline (the job timeout plus the cancel timeout of
    // 6 s, from the VM's launch) ends it, by killing QEMU.
    let workflow = r#"on: push
jobs:
  slow:
    runs-on: x
    timeout-minutes: 0.3
    cancel-timeout-minutes: 0.1
    steps:
      - id: long
        run: sleep 120
      - id: cleanup
        if: cancelled()
        run: echo "cleanup-started"; sleep 120; echo "cleanup-""finished"
"#;
    let Some(setup) = Setup::new("a_job_past_its_timeout_gets_its_vm_killed", workflow, "") else {
        return;
    };
    let (output, pid, took) = setup.run(&["--cancel-grace", "1"]);
    let context = describe(&output);
    assert_eq!(output.status.code(), Some(1), "{context}");
    assert!(
        took < Duration::from_secs(100),
        "the VM was killed long before the steps' 120 s ({took:?})\n{context}"
    );
    let job = setup.job("slow");
    assert_eq!(job["conclusion"], "cancelled", "{context}");
    assert_eq!(job["timed_out"], true, "{context}");
    assert_eq!(
        job["sandbox_details"]["killed"], "job timeout",
        "QEMU was killed at the job's deadline\n{context}"
    );
    let log = setup.log("slow");
    assert!(
        log.contains("The job has exceeded the maximum execution time of 0.3 minutes."),
        "{log}"
    );
    assert!(!log.contains("cleanup-finished"), "{log}");
    setup.assert_had_network("slow", &context);
    setup.assert_no_leftovers(pid, &context);
}

/// Reads `child`'s stdout until a line contains `marker` or `limit` passes (then panics).
fn wait_for_line(child: &mut Child, marker: &str, limit: Duration) -> Vec<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let until = Instant::now() + limit;
    let mut seen = Vec::new();
    loop {
        let left = until.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let done = line.contains(marker);
                seen.push(line);
                if done {
                    return seen;
                }
            }
            Err(_) => panic!("no line with {marker:?} within {limit:?}: {seen:#?}"),
        }
    }
}

#[test]
fn a_runner_killed_mid_job_leaves_what_the_next_run_removes() {
    let workflow = "on: push\njobs:\n  held:\n    runs-on: x\n    steps:\n      - run: echo \"step-is-running\"; sleep 300\n";
    let Some(setup) = Setup::new("a_runner_killed_mid_job", workflow, "") else {
        return;
    };
    let mut child = setup
        .command(&[])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("hrun starts");
    let pid = child.id();
    let seen = wait_for_line(&mut child, "step-is-running", Duration::from_secs(180));
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid")),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("SIGKILL hrun");
    child.wait().expect("reap hrun");
    let context = format!("the killed run's output: {seen:#?}");

    // QEMU dies with the runner (it asked for SIGKILL when its parent thread ends); its run
    // directory and the job network stay.
    let until = Instant::now() + Duration::from_secs(5);
    let qemu_left = || {
        setup
            .leftovers(pid)
            .into_iter()
            .filter(|l| l.starts_with("process "))
            .collect::<Vec<_>>()
    };
    while !qemu_left().is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(qemu_left(), Vec::<String>::new(), "{context}");
    let left = setup.leftovers(pid);
    assert!(
        left.iter().any(|l| l.starts_with("run directory ")),
        "the kill left the VM's run directory: {left:#?}"
    );
    // A job network is left too, unless a runner elsewhere on the machine took the freed slot
    // in the meantime (it clears the slot's leftovers itself): then there is nothing left for
    // the next run to remove.
    let network_left = setup.uplink.is_some()
        && left
            .iter()
            .any(|l| l.starts_with(&format!("network namespace hrun-{pid}-")));
    if setup.uplink.is_some() && !network_left {
        println!("NOTE another runner reused the killed runner's network slot: {left:#?}");
    }
    if network_left {
        assert!(
            left.iter()
                .any(|l| l.starts_with("nftables table in the uplink")),
            "the kill left the uplink's table: {left:#?}"
        );
    }

    // The next run, whose own job has no network (the repository narrows the allowlist to
    // nothing), removes them when it starts.
    std::fs::write(
        setup.repo.path().join(".github/workflows/w.yml"),
        "on: push\njobs:\n  quick:\n    runs-on: x\n    steps:\n      - run: 'true'\n",
    )
    .expect("rewrite the workflow");
    std::fs::write(
        setup.repo.path().join(".github/hrun-egress.toml"),
        "allow = []\n",
    )
    .expect("narrow the allowlist");
    let (output, next_pid, _) = setup.run(&[]);
    let next_context = describe(&output);
    assert_eq!(output.status.code(), Some(0), "{next_context}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains(&format!(
            "removed leftover VMs of killed runners: hrun-{pid}-0"
        )),
        "{next_context}"
    );
    if network_left {
        assert!(
            !setup.out().join("jobs/quick/egress.json").exists(),
            "the next run's job had no network of its own\n{next_context}"
        );
        assert!(
            stdout.contains("removed leftover job networks of killed runners:"),
            "{next_context}"
        );
    }
    setup.assert_no_leftovers(pid, &next_context);
    setup.assert_no_leftovers(next_pid, &next_context);
}
