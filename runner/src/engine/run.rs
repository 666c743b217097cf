//! A whole run: the policy gate, the plan, the sandbox, the `github` context and the output
//! directory, then the jobs ([`super::schedule`]), then the run's `result.json`.
//!
//! The sandbox is chosen once, before anything runs: `none` only when asked for, `namespace`
//! when asked for or (`auto`) when it works here; otherwise the run does not start. Each job
//! then gets its own executor over its own directories.

use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use indexmap::IndexMap;
use serde_json::{json, Value as Json};
use tokio::sync::Semaphore;

use actions_compat::policy::{self, LintOptions, OutputFormat, RenderOptions};
use actions_compat::workflow::{InputType, Workflow};
use hermetic::egress::Uplink;
use hermetic::scan::{RulePack, Scanner};
use hermetic::{resolve_sandbox, HostIdentity, Network, SandboxChoice};

use super::contexts::{github_context, GithubFacts};
use super::determinism::{run_environment, ClockShift, EnvironmentOptions};
use super::execute::RunCancel;
use super::job::Secrets;
use super::output::LiveLog;
use super::plan::{plan, PlanError};
use super::result::{write_json, Conclusion, RunResult};
use super::schedule::{run_workflow, Call, Shared};
use super::secret_scan::ScanPolicy;
use super::vm::plan_vm;
use super::workspace::Owner;
use super::{repo, SharedMasker};
use crate::actions::ActionStore;
use crate::config::RunnerConfig;
use crate::evidence::{EvidenceOptions, RunEvidence, RunFacts};

/// What `hrun exec` asks for.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub repo_root: PathBuf,
    pub workflow_path: PathBuf,
    pub job: Option<String>,
    pub event_name: String,
    /// The event payload (`--eventpath`), `{}` when none.
    pub event: Json,
    pub inputs: IndexMap<String, String>,
    pub vars: IndexMap<String, String>,
    pub secrets: Secrets,
    /// Most jobs at once (at least 1).
    pub parallel: usize,
    pub sandbox: SandboxChoice,
    pub network: Network,
    /// `--out`; default `.hrun/runs/<run-id>/` under the repository.
    pub out_dir: Option<PathBuf>,
    /// `--matrix k:v`: only the matrix combinations with these values.
    pub matrix_filter: Vec<(String, String)>,
    pub color: bool,
    pub quiet: bool,
    pub debug: bool,
    pub cancel_grace: Duration,
    /// Signing key and audit log of the run's provenance and evidence.
    pub evidence: EvidenceOptions,
    /// The runner's configuration (egress allowlist, VM sizes).
    pub runner_config: RunnerConfig,
    /// What a secret found in a step output, summary or job output does (`--secret-scan`).
    pub secret_scan: ScanPolicy,
    /// What the run changes of the steps' deterministic environment (a rebuild's clock shift
    /// and variations); the default changes nothing.
    pub environment: EnvironmentOptions,
}

/// Why a run could not start (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("the policy gate refused the workflow:\n{0}")]
    Denied(String),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("{0}")]
    Sandbox(String),
    #[error("{0}")]
    Store(String),
    #[error("cannot prepare the run's evidence: {0}")]
    Evidence(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub conclusion: Conclusion,
    pub out_dir: PathBuf,
    pub result: RunResult,
}

/// Runs the policy gate on the workflow: `Err` with the findings when it is denied or cannot be
/// evaluated; the findings (warnings) to print otherwise.
pub fn policy_gate(workflow_path: &Path) -> Result<Option<String>, StartError> {
    let report = policy::lint_paths(&[workflow_path.to_path_buf()], &LintOptions::default());
    let text = report.render_with(OutputFormat::Human, RenderOptions { color: false });
    if report.exit_code() != 0 {
        return Err(StartError::Denied(text));
    }
    Ok((report.warnings() > 0).then_some(text))
}

/// The policy gate's report on the workflow as JSON, for the evidence bundle.
fn policy_report_json(workflow_path: &Path) -> Vec<u8> {
    let report = policy::lint_paths(&[workflow_path.to_path_buf()], &LintOptions::default());
    report
        .render_with(OutputFormat::Json, RenderOptions { color: false })
        .into_bytes()
}

/// Removes what killed runners left behind (QEMU processes, run directories, job networks:
/// those whose uplink was the host, and those whose uplink is the configured namespace).
fn clean_vm_leftovers(cache: &Path, uplink: &Uplink, live: &LiveLog) {
    match hermetic::vm::cleanup_leftovers(cache) {
        Ok(removed) if !removed.is_empty() => live.note(&format!(
            "removed leftover VMs of killed runners: {}",
            removed.join(", ")
        )),
        Ok(_) => {}
        Err(e) => live.note(&format!("cannot clean up leftover VMs: {e}")),
    }
    let mut uplinks = vec![Uplink::Host];
    if matches!(uplink, Uplink::Netns(_)) {
        uplinks.push(uplink.clone());
    }
    for uplink in &uplinks {
        match hermetic::egress::cleanup_leftovers_in(uplink) {
            Ok(removed) if !removed.is_empty() => live.note(&format!(
                "removed leftover job networks of killed runners: {}",
                removed.join(", ")
            )),
            Ok(_) => {}
            Err(e) => live.note(&format!("cannot clean up leftover job networks: {e}")),
        }
    }
}

/// Runs a workflow to its end. `cancel` is fired by Ctrl-C.
pub async fn execute(options: RunOptions, cancel: RunCancel) -> Result<RunReport, StartError> {
    let started = Instant::now();
    let live = LiveLog::new(options.color, options.quiet);
    if let Some(warnings) = policy_gate(&options.workflow_path)? {
        live.note(warnings.trim_end());
    }
    let store = Arc::new(ActionStore::from_env().map_err(|e| StartError::Store(e.to_string()))?);
    let plan = plan(
        &options.repo_root,
        &options.workflow_path,
        options.job.as_deref(),
        &store,
    )?;

    // The microVM needs a guest image (`hrun image build`) and a valid egress policy; without
    // them `auto` says why it passes over the microVM and `--sandbox microvm` refuses to start.
    let vm_plan = match options.sandbox {
        SandboxChoice::Microvm | SandboxChoice::Auto => Some(plan_vm(
            &options.runner_config,
            &options.repo_root,
            &plan.workflow.file,
            options.environment.image_digest.as_deref(),
        )),
        SandboxChoice::None | SandboxChoice::Namespace => None,
    };
    let (vm_plan, vm_missing) = match vm_plan {
        Some(Ok(p)) => (Some(p), None),
        Some(Err(reason)) => (None, Some(reason)),
        None => (None, None),
    };
    let resolved = resolve_sandbox(
        options.sandbox,
        vm_plan.as_ref().map(|p| (&p.image, &p.config)),
    )
    .map_err(|e| match (&vm_missing, options.sandbox) {
        (Some(reason), SandboxChoice::Microvm) => {
            StartError::Sandbox(format!("the microvm sandbox cannot be used: {reason}"))
        }
        _ => StartError::Sandbox(e.to_string()),
    })?;
    let sandbox = resolved.choice;
    let mut vm_plan = if sandbox == SandboxChoice::Microvm {
        if let Some(p) = &vm_plan {
            clean_vm_leftovers(&p.config.cache_dir, &p.network.uplink, &live);
        }
        vm_plan
    } else {
        None
    };
    let sandbox_name = match sandbox {
        SandboxChoice::None => "none",
        SandboxChoice::Microvm => "microvm",
        SandboxChoice::Namespace | SandboxChoice::Auto => "namespace",
    };
    if sandbox == SandboxChoice::None {
        live.note("sandbox: none — steps run directly on this host, as asked (--sandbox none)");
    } else {
        let passed: Vec<String> = resolved.fallbacks.clone();
        if passed.is_empty() {
            live.note(&format!("sandbox: {sandbox_name}"));
        } else {
            live.note(&format!("sandbox: {sandbox_name} ({})", passed.join("; ")));
        }
    }
    let runner_is_root = nix_is_root();
    let (owner, identity) = if sandbox != SandboxChoice::None && runner_is_root {
        let id = HostIdentity::NOBODY;
        (Owner::other(id.uid, id.gid), Some(id))
    } else {
        (Owner::current(), None)
    };

    let run_id = run_id();
    let out_dir = options
        .out_dir
        .clone()
        .unwrap_or_else(|| options.repo_root.join(".hrun").join("runs").join(&run_id));
    std::fs::create_dir_all(&out_dir).map_err(|source| StartError::Io {
        what: format!("cannot create {}", out_dir.display()),
        source,
    })?;
    let work_root = std::env::temp_dir().join(format!("hrun-{run_id}"));
    std::fs::create_dir_all(&work_root).map_err(|source| StartError::Io {
        what: format!("cannot create {}", work_root.display()),
        source,
    })?;

    let masker = SharedMasker::default();
    for value in options.secrets.values() {
        masker.add_secret(value);
    }
    let facts = repo::read(&options.repo_root);
    let environment = run_environment(
        &options.environment,
        sandbox_name,
        &options.repo_root,
        &facts.sha,
        vm_plan.as_mut(),
    )
    .map_err(StartError::Sandbox)?;
    if let ClockShift::Faketime { library, .. } = &environment.clock {
        live.note(&format!(
            "clock: steps see the wall clock moved by {} s (libfaketime {})",
            options.environment.clock_shift_secs,
            library.display()
        ));
    }
    let git_ref = facts.git_ref.clone();
    let ref_name = git_ref
        .strip_prefix("refs/heads/")
        .or_else(|| git_ref.strip_prefix("refs/tags/"))
        .unwrap_or(&git_ref)
        .to_owned();
    let ref_type = if git_ref.starts_with("refs/tags/") {
        "tag"
    } else {
        "branch"
    };
    let dispatch_inputs = dispatch_inputs(&plan.workflow, &options.inputs);
    let mut event = options.event.clone();
    if options.event_name == "workflow_dispatch" {
        if let Some(e) = event.as_object_mut() {
            e.entry("inputs")
                .or_insert_with(|| json!(options.inputs.clone()));
        }
    }
    let workflow_name = plan
        .workflow
        .name
        .as_ref()
        .map(|n| n.value.clone())
        .unwrap_or_else(|| plan.workflow.file.clone());
    let github = github_context(&GithubFacts {
        event_name: options.event_name.clone(),
        event,
        repository: facts.repository.clone(),
        repository_owner: facts.owner.clone(),
        sha: facts.sha.clone(),
        git_ref: git_ref.clone(),
        ref_name,
        ref_type: ref_type.to_owned(),
        actor: std::env::var("USER").unwrap_or_else(|_| "hrun".to_owned()),
        run_id: run_number(),
        run_number: "1".to_owned(),
        workflow: workflow_name.clone(),
        workflow_ref: format!("{}/{}@{}", facts.repository, plan.workflow.file, git_ref),
        token: options.secrets.get("GITHUB_TOKEN").unwrap_or("").to_owned(),
        head_ref: String::new(),
        base_ref: String::new(),
    });
    let evidence = RunEvidence::start(
        &options.evidence,
        RunFacts {
            run_id: run_id.clone(),
            repository: facts.repository.clone(),
            git_ref: git_ref.clone(),
            sha: facts.sha.clone(),
            workflow_path: plan.workflow.file.clone(),
            event_name: options.event_name.clone(),
            sandbox: sandbox_name.to_owned(),
            network: format!("{:?}", options.network).to_ascii_lowercase(),
            policy: policy_report_json(&options.workflow_path),
            action_trees: plan.action_trees.clone(),
            commit_epoch: environment.commit_epoch.as_ref().ok().copied(),
            event: options.event.clone(),
        },
    )
    .map_err(|e| StartError::Evidence(format!("{e:#}")))?;
    live.note(&format!(
        "evidence: {}; audit log {}",
        evidence.key_source().describe(),
        evidence.audit_dir().display()
    ));
    let base_path = base_path(owner != Owner::current());
    let mut exclude = vec![options.repo_root.join(".hrun"), out_dir.clone()];
    exclude.extend(evidence.private_paths());
    let selected = plan.selected.clone();
    let workflow = Arc::clone(&plan.workflow);
    let shared = Arc::new(Shared {
        permits: Arc::new(Semaphore::new(options.parallel.max(1))),
        options,
        plan,
        store,
        masker: masker.clone(),
        live: Arc::clone(&live),
        cancel,
        out_dir: out_dir.clone(),
        work_root: work_root.clone(),
        github,
        sandbox,
        owner,
        identity,
        base_path,
        slots: AtomicU64::new(0),
        exclude,
        evidence: Some(Arc::new(evidence)),
        vm: vm_plan,
        scanner: Arc::new(Scanner::new(RulePack::builtin())),
        environment: Arc::new(environment),
    });
    let call = Call {
        inputs: dispatch_inputs,
        secrets: shared.options.secrets.clone(),
        prefix: String::new(),
        dir: "jobs/".to_owned(),
    };
    let jobs = run_workflow(Arc::clone(&shared), workflow, selected, call).await;
    let _ = std::fs::remove_dir_all(&work_root);

    let conclusion = if jobs.values().any(|f| f.conclusion == Conclusion::Failure) {
        Conclusion::Failure
    } else if jobs.values().any(|f| f.conclusion == Conclusion::Cancelled)
        || shared.cancel.first.is_cancelled()
    {
        Conclusion::Cancelled
    } else {
        Conclusion::Success
    };
    let mut summaries = IndexMap::new();
    for f in jobs.values() {
        for (k, s) in &f.summaries {
            summaries.insert(k.clone(), s.clone());
        }
    }
    let result = RunResult {
        run_id,
        workflow: workflow_name,
        event: shared.options.event_name.clone(),
        conclusion,
        sandbox: sandbox_name.to_owned(),
        duration_ms: started.elapsed().as_millis() as u64,
        jobs: summaries,
    };
    write_json(
        &out_dir.join("result.json"),
        &result,
        "the run result",
        &masker,
    )
    .map_err(|e| StartError::Io {
        what: "cannot write the run result".to_owned(),
        source: std::io::Error::other(e.to_string()),
    })?;
    Ok(RunReport {
        conclusion,
        out_dir,
        result,
    })
}

/// The `inputs` of a `workflow_dispatch` run: each declared input from `--input` or its default,
/// typed as declared, then any other `--input`.
fn dispatch_inputs(workflow: &Workflow, given: &IndexMap<String, String>) -> Json {
    let mut inputs = serde_json::Map::new();
    if let Some(dispatch) = &workflow.on.workflow_dispatch {
        for (name, input) in &dispatch.inputs {
            let raw = given
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| json!(v))
                .or_else(|| {
                    input
                        .default
                        .as_ref()
                        .map(|d| workflow_value_json(&d.value))
                });
            let value = match (input.input_type, raw) {
                (InputType::Boolean, Some(Json::String(s))) => {
                    json!(s.eq_ignore_ascii_case("true"))
                }
                (InputType::Number, Some(Json::String(s))) => s
                    .trim()
                    .parse::<f64>()
                    .map_or(Json::String(s), |n| json!(n)),
                (InputType::Boolean, None) => json!(false),
                (_, Some(v)) => v,
                (_, None) => json!(""),
            };
            inputs.insert(name.clone(), value);
        }
    }
    for (k, v) in given {
        if !inputs.keys().any(|n| n.eq_ignore_ascii_case(k)) {
            inputs.insert(k.clone(), json!(v));
        }
    }
    Json::Object(inputs)
}

fn workflow_value_json(v: &actions_compat::workflow::Value) -> Json {
    use actions_compat::workflow::Value as W;
    match v {
        W::Null => Json::Null,
        W::Bool(b) => json!(b),
        W::Number(n) => json!(n),
        W::String(s) => json!(s),
        W::Sequence(items) => Json::Array(items.iter().map(workflow_value_json_t).collect()),
        W::Mapping(map) => Json::Object(
            map.iter()
                .map(|(k, i)| (k.clone(), workflow_value_json_t(i)))
                .collect(),
        ),
    }
}

fn workflow_value_json_t(
    t: &actions_compat::workflow::Templated<actions_compat::workflow::Value>,
) -> Json {
    match t.as_literal() {
        Some(v) => workflow_value_json(v),
        None => t
            .as_expression()
            .map(|e| json!(e.source))
            .unwrap_or(Json::Null),
    }
}

pub(crate) fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `PATH` for steps: the runner's, without the directories another identity cannot search
/// when steps run as one (they would only hide programs found further on).
pub(crate) fn base_path(other_identity: bool) -> String {
    let path = std::env::var("PATH")
        .unwrap_or_else(|_| "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into());
    if !other_identity {
        return path;
    }
    path.split(':')
        .filter(|d| !d.is_empty() && searchable_by_others(Path::new(d)))
        .collect::<Vec<_>>()
        .join(":")
}

fn searchable_by_others(dir: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    dir.is_absolute()
        && dir.ancestors().all(|d| {
            std::fs::metadata(d).is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o001 != 0)
        })
}

/// `YYYYMMDD-HHMMSS-<pid>` in UTC.
pub fn run_id() -> String {
    format!(
        "{}-{}",
        chrono::Utc::now().format("%Y%m%d-%H%M%S"),
        std::process::id()
    )
}

fn run_number() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_id_is_utc_date_time_and_pid() {
        let id = run_id();
        let (stamp, pid) = id.rsplit_once('-').expect("pid suffix");
        assert_eq!(pid, std::process::id().to_string());
        assert!(
            chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%d-%H%M%S").is_ok(),
            "{id}"
        );
    }

    #[test]
    fn dispatch_inputs_are_typed_and_defaulted() {
        let wf = actions_compat::workflow::parse(
            "on:\n  workflow_dispatch:\n    inputs:\n      flag:\n        type: boolean\n        default: true\n      n:\n        type: number\n      s:\n        default: hi\njobs:\n  a:\n    runs-on: x\n    steps: [{run: 'true'}]\n",
            "ci.yml",
        )
        .unwrap();
        let mut given = IndexMap::new();
        given.insert("n".to_owned(), "3".to_owned());
        let inputs = dispatch_inputs(&wf, &given);
        assert_eq!(inputs, json!({"flag": true, "n": 3.0, "s": "hi"}));
    }

    #[test]
    fn root_path_keeps_only_world_searchable_directories() {
        assert!(searchable_by_others(Path::new("/usr/bin")));
        assert!(!searchable_by_others(Path::new("relative")));
    }
}
