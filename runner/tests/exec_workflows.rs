//! `hrun exec` end to end: one small workflow per semantic under `tests/workflows/<name>/`, run by
//! the built binary, checked against its `expected.json`.
//!
//! A case directory holds `workflow.yml` (copied to `.github/workflows/workflow.yml` of a fresh
//! repository), optionally `files/` (copied to the repository's root: actions, called workflows,
//! scripts) and `expected.json`:
//!
//! ```json
//! {
//!   "args": ["--input", "x=1"],
//!   "sandboxes": ["namespace", "none"],
//!   "exit": 0,
//!   "jobs": {"a": {"conclusion": "success", "outputs": {"v": "1"},
//!            "steps": {"s": {"outcome": "failure", "conclusion": "success", "outputs": {}}}}},
//!   "log": {"a": ["a line of jobs/a/log.txt contains this"]},
//!   "log_absent": {"a": ["no line contains this"]},
//!   "stderr": ["stderr contains this"],
//!   "sigint_after_ms": 3000,
//!   "import": [["store/greet", "octo/greet@<40 hex>"]]
//! }
//! ```
//!
//! `microvm_sigint_after_ms` replaces `sigint_after_ms` in the microVM runs (the guest boots first).
//! `microvm_excluded` (a reason) keeps a case out of the microVM runs (`microvm::<case>`), which
//! otherwise run every case again with `--sandbox microvm` when a guest image is built.
//!
//! `import` fills the run's own action store (`HRUN_CACHE`, fresh per run) with `hrun actions
//! import` from directories of the case. `sandboxes` defaults to `["namespace"]`. Where the namespace sandbox does not work on the
//! host, its runs are skipped with a printed `SKIP` line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

fn cases_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/workflows")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// Why the namespace sandbox cannot run here, or `None` when it can.
fn namespace_unavailable() -> Option<String> {
    static PROBE: OnceLock<Option<String>> = OnceLock::new();
    PROBE
        .get_or_init(|| {
            let repo = tempfile::tempdir().expect("temp dir");
            let wf = repo.path().join(".github/workflows");
            std::fs::create_dir_all(&wf).expect("mkdir");
            std::fs::write(
                wf.join("probe.yml"),
                "on: push\njobs:\n  probe:\n    runs-on: x\n    steps:\n      - run: 'true'\n",
            )
            .expect("write");
            let out = hrun(
                repo.path(),
                &[
                    "exec",
                    ".github/workflows/probe.yml",
                    "--sandbox",
                    "namespace",
                    "--quiet",
                ],
            );
            match out.status.code() {
                Some(0) => None,
                _ => Some(String::from_utf8_lossy(&out.stderr).trim().to_owned()),
            }
        })
        .clone()
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

/// Why the microVM sandbox cannot run here, or `None` when it can.
fn microvm_unavailable() -> Option<String> {
    let current = image_store().join("current");
    if !current.join("manifest.json").is_file() {
        return Some(format!(
            "no guest image at {} (ci/build-image.sh builds it)",
            current.display()
        ));
    }
    if !Path::new("/dev/net/tun").exists()
        && Command::new("qemu-system-x86_64")
            .arg("--version")
            .output()
            .is_err()
    {
        return Some("qemu-system-x86_64 is not installed (ci/setup-vm.sh)".to_owned());
    }
    None
}

fn hrun(cwd: &Path, args: &[&str]) -> Output {
    hrun_with_cache(cwd, args, &cwd.join(".hrun-cache"))
}

/// `hrun` with its cache (and so its action store) at `cache`.
fn hrun_with_cache(cwd: &Path, args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hrun"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("HRUN_CACHE", cache)
        .env("HRUN_IMAGES", image_store())
        .output()
        .expect("hrun runs")
}

/// Runs `hrun` and sends it SIGINT (Ctrl-C) after `ms` milliseconds.
fn interrupted(cwd: &Path, args: &[String], ms: u64, cache: &Path) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_hrun"))
        .args(args)
        .current_dir(cwd)
        .env("NO_COLOR", "1")
        .env("HRUN_CACHE", cache)
        .env("HRUN_IMAGES", image_store())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("hrun starts");
    std::thread::sleep(std::time::Duration::from_millis(ms));
    let pid = i32::try_from(child.id()).expect("pid");
    // SAFETY: kill(2) with a pid we started and still own (not yet waited for).
    unsafe { libc::kill(pid, libc::SIGINT) };
    child.wait_with_output().expect("hrun ends")
}

/// A finished run of a case.
struct Run {
    output: Output,
    out_dir: PathBuf,
    _repo: tempfile::TempDir,
    _cache: tempfile::TempDir,
}

/// Runs case `name` with `sandbox`; `None` when that sandbox is unavailable (after printing
/// `SKIP`).
fn run_case(name: &str, sandbox: &str, extra: &[&str]) -> Option<Run> {
    if sandbox == "microvm" {
        if let Some(reason) = microvm_unavailable() {
            println!("SKIP exec_workflows::microvm::{name}: {reason}");
            return None;
        }
    }
    if sandbox == "namespace" {
        if let Some(reason) = namespace_unavailable() {
            println!("SKIP exec_workflows::{name} (namespace): {reason}");
            return None;
        }
    }
    let case = cases_dir().join(name);
    let repo = tempfile::tempdir().expect("temp dir");
    if case.join("files").is_dir() {
        copy_dir(&case.join("files"), repo.path());
    }
    let wf_dir = repo.path().join(".github/workflows");
    std::fs::create_dir_all(&wf_dir).expect("mkdir");
    std::fs::copy(case.join("workflow.yml"), wf_dir.join("workflow.yml")).expect("copy workflow");
    let out_dir = repo.path().join("out");
    let expected = expected(name);
    let cache = tempfile::tempdir().expect("temp dir");
    for entry in expected
        .get("import")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (Some(dir), Some(reference)) = (entry[0].as_str(), entry[1].as_str()) else {
            panic!("import entries are [DIR, OWNER/REPO@SHA]");
        };
        let source = case.join(dir).display().to_string();
        let out = hrun_with_cache(
            repo.path(),
            &["actions", "import", &source, reference],
            cache.path(),
        );
        assert!(
            out.status.success(),
            "import {reference}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut args: Vec<String> = vec![
        "exec".into(),
        ".github/workflows/workflow.yml".into(),
        "--sandbox".into(),
        sandbox.into(),
        "--out".into(),
        out_dir.display().to_string(),
        "--color".into(),
        "never".into(),
        "--cancel-grace".into(),
        "1".into(),
    ];
    if let Some(a) = expected.get("args").and_then(Value::as_array) {
        args.extend(a.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    // A microVM boots for a few seconds before its first step runs: a case that cancels a
    // running step says when to send SIGINT there (`microvm_sigint_after_ms`).
    let sigint_key = if sandbox == "microvm" && expected.get("microvm_sigint_after_ms").is_some() {
        "microvm_sigint_after_ms"
    } else {
        "sigint_after_ms"
    };
    let output = match expected.get(sigint_key).and_then(Value::as_u64) {
        Some(ms) => interrupted(repo.path(), &args, ms, cache.path()),
        None => {
            let refs: Vec<&str> = args.iter().map(String::as_str).collect();
            hrun_with_cache(repo.path(), &refs, cache.path())
        }
    };
    Some(Run {
        output,
        out_dir,
        _repo: repo,
        _cache: cache,
    })
}

fn expected(name: &str) -> Value {
    let text = std::fs::read_to_string(cases_dir().join(name).join("expected.json"))
        .expect("expected.json");
    serde_json::from_str(&text).expect("expected.json is JSON")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("result is JSON")
}

/// Checks a run against the case's `expected.json`; panics with the run's output on a mismatch.
fn check(name: &str, sandbox: &str, run: &Run) {
    let expected = expected(name);
    let stdout = String::from_utf8_lossy(&run.output.stdout);
    let stderr = String::from_utf8_lossy(&run.output.stderr);
    let context = format!("case {name} ({sandbox})\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    let exit = expected.get("exit").and_then(Value::as_i64).unwrap_or(0);
    assert_eq!(
        run.output.status.code().map(i64::from),
        Some(exit),
        "exit code\n{context}"
    );
    if let Some(lines) = expected.get("stderr").and_then(Value::as_array) {
        for l in lines.iter().filter_map(Value::as_str) {
            assert!(stderr.contains(l), "stderr lacks {l:?}\n{context}");
        }
    }
    let Some(jobs) = expected.get("jobs").and_then(Value::as_object) else {
        return;
    };
    let run_result = read_json(&run.out_dir.join("result.json"));
    for (key, want) in jobs {
        let got = &run_result["jobs"][key];
        assert!(
            !got.is_null(),
            "job {key} missing from result.json\n{context}"
        );
        if let Some(c) = want.get("conclusion") {
            assert_eq!(&got["conclusion"], c, "conclusion of {key}\n{context}");
        }
        if let Some(o) = want.get("outputs") {
            assert_eq!(&got["outputs"], o, "outputs of {key}\n{context}");
        }
        if let Some(steps) = want.get("steps").and_then(Value::as_object) {
            let job = read_json(&job_dir(run, &run_result, key).join("result.json"));
            let all = job["steps"].as_array().cloned().unwrap_or_default();
            for (id, want_step) in steps {
                let step = all
                    .iter()
                    .find(|s| s["id"] == Value::String(id.clone()))
                    .unwrap_or_else(|| panic!("step {id} of {key} missing\n{context}"));
                for field in ["outcome", "conclusion", "outputs", "timed_out", "exit_code"] {
                    if let Some(v) = want_step.get(field) {
                        assert_eq!(&step[field], v, "{field} of step {id} of {key}\n{context}");
                    }
                }
            }
        }
    }
    for (field, present) in [("log", true), ("log_absent", false)] {
        let Some(logs) = expected.get(field).and_then(Value::as_object) else {
            continue;
        };
        for (key, lines) in logs {
            let run_result = read_json(&run.out_dir.join("result.json"));
            let path = job_dir(run, &run_result, key).join("log.txt");
            let log = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("cannot read {}: {e}\n{context}", path.display()));
            for l in lines
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let found = log.lines().any(|line| line.contains(l));
                assert_eq!(
                    found,
                    present,
                    "log of {key} {} {l:?}\n--- log\n{log}\n{context}",
                    if present { "lacks" } else { "has" }
                );
            }
        }
    }
}

/// The directory of job `key`, from the run's `result.json`.
fn job_dir(run: &Run, run_result: &Value, key: &str) -> PathBuf {
    let result = run_result["jobs"][key]["result"]
        .as_str()
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| panic!("job {key} has no result file: {run_result}"));
    run.out_dir
        .join(result)
        .parent()
        .map(Path::to_path_buf)
        .expect("result.json has a directory")
}

/// Runs case `name` with each sandbox its `expected.json` names and checks it.
fn case(name: &str) {
    let expected = expected(name);
    let sandboxes: Vec<String> = expected
        .get("sandboxes")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_else(|| vec!["namespace".to_owned()]);
    for sandbox in sandboxes {
        if let Some(run) = run_case(name, &sandbox, &[]) {
            check(name, &sandbox, &run);
        }
    }
}

/// Runs case `name` in a microVM and checks it against the same `expected.json`, unless the
/// case says why it needs the host (`"microvm_excluded": "reason"`).
fn case_in_microvm(name: &str) {
    let expected = expected(name);
    if let Some(reason) = expected.get("microvm_excluded").and_then(Value::as_str) {
        println!("SKIP exec_workflows::microvm::{name}: {reason}");
        return;
    }
    if let Some(run) = run_case(name, "microvm", &[]) {
        check(name, "microvm", &run);
    }
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = entry.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

macro_rules! cases {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                case(stringify!($name));
            }
        )*

        /// The same cases in a microVM: the same results as in the namespace sandbox.
        mod microvm {
            $(
                #[test]
                fn $name() {
                    super::case_in_microvm(stringify!($name));
                }
            )*
        }

        #[test]
        fn every_case_directory_has_a_test() {
            let known = [$(stringify!($name)),*, "secret_masking"];
            for entry in std::fs::read_dir(cases_dir()).expect("cases") {
                let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
                assert!(known.contains(&name.as_str()), "no test runs case {name}");
            }
        }
    };
}

cases!(
    needs_outputs,
    env_precedence,
    github_output_heredoc,
    github_env_path,
    status_functions,
    job_status_functions,
    continue_on_error,
    step_timeout,
    composite_action,
    node_action,
    policy_denied,
    docker_action_refused,
    reusable_workflow,
    shells,
    workflow_commands,
    cancellation,
    job_timeout,
    event_and_inputs,
    job_selection,
    matrix,
    matrix_fail_fast,
    matrix_filter,
    remote_action,
    remote_action_missing,
    secret_scan,
);

#[test]
fn job_selection_runs_nothing_else() {
    let Some(run) = run_case("job_selection", "none", &[]) else {
        return;
    };
    let result = read_json(&run.out_dir.join("result.json"));
    assert!(result["jobs"]["unrelated"].is_null(), "{result}");
}

#[test]
fn lists_workflows_and_jobs_without_a_workflow_argument() {
    let case = cases_dir().join("needs_outputs");
    let repo = tempfile::tempdir().expect("temp dir");
    let wf_dir = repo.path().join(".github/workflows");
    std::fs::create_dir_all(&wf_dir).expect("mkdir");
    std::fs::copy(case.join("workflow.yml"), wf_dir.join("ci.yml")).expect("copy");
    let out = hrun(repo.path(), &["exec"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains(".github/workflows/ci.yml"), "{text}");
    assert!(text.contains("  last  (needs: first, second)"), "{text}");
}

#[test]
fn sandbox_none_must_be_asked_for_and_says_so() {
    let Some(run) = run_case("needs_outputs", "none", &[]) else {
        return;
    };
    let stdout = String::from_utf8_lossy(&run.output.stdout);
    assert!(stdout.contains("sandbox: none"), "{stdout}");
    let result = read_json(&run.out_dir.join("jobs/first/result.json"));
    assert_eq!(result["sandbox"], "none");
}

/// The secret used by the masking case.
const SECRET: &str = "Sup3r s3cret/value+&<q>\"'%42";

#[test]
fn secret_masking() {
    for sandbox in ["namespace", "none"] {
        let secret_arg = format!("MY_SECRET={SECRET}");
        let Some(run) = run_case("secret_masking", sandbox, &["--secret", &secret_arg]) else {
            continue;
        };
        check("secret_masking", sandbox, &run);
        let mut forms: Vec<String> = hermetic::mask::encodings::encoded_forms(SECRET);
        forms.push(SECRET.to_owned());
        let files = files_under(&run.out_dir);
        assert!(
            files.len() >= 4,
            "expected logs and results, found {files:?}"
        );
        // Nor does anything the run leaves in the repository (results, the user's checkout) or
        // in hrun's cache: secrets are never written there.
        let mut files = files_under(run._repo.path());
        files.extend(files_under(run._cache.path()));
        for file in files {
            let bytes = std::fs::read(&file).expect("read");
            let text = String::from_utf8_lossy(&bytes);
            for form in &forms {
                assert!(
                    !text.contains(form.as_str()),
                    "{} reveals the secret as {form:?}:\n{text}",
                    file.display()
                );
            }
        }
        let log = std::fs::read_to_string(run.out_dir.join("jobs/leak/log.txt")).expect("log");
        assert!(log.matches("***").count() >= 6, "{log}");
    }
}

/// The synthetic token the `secret_scan` case's step puts together.
const SCANNED_TOKEN: &str = concat!("ghp_", "Zx9Qw3Er5Ty7Ui1Op2As4", "Df6Gh8Jk0LmNbVc");

#[test]
fn secret_scan_fail_fails_the_job_and_records_findings_without_values() {
    for sandbox in ["namespace", "none"] {
        let Some(run) = run_case("secret_scan", sandbox, &["--secret-scan", "fail"]) else {
            continue;
        };
        let stderr = String::from_utf8_lossy(&run.output.stderr);
        assert_eq!(run.output.status.code(), Some(1), "{stderr}");
        let result = read_json(&run.out_dir.join("result.json"));
        assert_eq!(result["jobs"]["leak"]["conclusion"], "failure", "{result}");
        assert_eq!(result["jobs"]["clean"]["conclusion"], "success", "{result}");
        // A job output holding a finding is not handed to other jobs: `tok` holds a value the
        // scan of the step's output found (so masked from then on), `composed` one found when
        // the job's outputs were scanned.
        assert_eq!(
            result["jobs"]["leak"]["outputs"],
            serde_json::json!({"plain": "hello"})
        );

        let scan = read_json(&run.out_dir.join("jobs/leak/secret-scan.json"));
        assert_eq!(scan["policy"], "fail");
        let places: Vec<&str> = scan["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .map(|f| f["source"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(
            places,
            [
                "step `make` output `token`",
                "step `make` summary",
                "job output `composed`"
            ],
            "{scan}"
        );
        let rules: Vec<&str> = scan["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["rule"].as_str())
            .collect();
        assert_eq!(rules, ["github-pat", "github-pat", "github-oauth-token"]);
        let clean = read_json(&run.out_dir.join("jobs/clean/secret-scan.json"));
        assert_eq!(clean["findings"], serde_json::json!([]));

        let job = read_json(&run.out_dir.join("jobs/leak/result.json"));
        let errors: Vec<&str> = job["annotations"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["level"] == "error")
            .filter_map(|a| a["message"].as_str())
            .collect();
        assert!(
            errors
                .iter()
                .any(|m| m.contains("github-pat") && m.contains("step `make` output `token`")),
            "{errors:?}"
        );
        for file in files_under(&run.out_dir) {
            let text = String::from_utf8_lossy(&std::fs::read(&file).expect("read")).into_owned();
            for token in [
                SCANNED_TOKEN.to_owned(),
                SCANNED_TOKEN.replacen("ghp_", "gho_", 1),
            ] {
                assert!(
                    !text.contains(&token),
                    "{} holds a token:\n{text}",
                    file.display()
                );
            }
        }
    }
}
