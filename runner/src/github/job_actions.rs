//! The remote actions of a job from GitHub, made ready before it runs: every `owner/repo@sha`
//! its steps use, and those the composite actions among them use in turn, level by level.
//!
//! For each level: every action must be pinned to a full commit SHA; the job's action download
//! endpoint ([`super::action_info`]) is asked about the level's actions in one request, and must
//! resolve each to exactly the commit it is pinned to; each is then downloaded with the token the
//! endpoint gave (the job's `github.token` when it gave none) into the action store, unless a
//! sound entry is there. The composite actions of the level name the next one. A pin that is not
//! a commit, or that resolves to another commit, is a policy refusal; anything else that goes
//! wrong fails the job naming the action. The engine then finds every action in the store, as
//! for `hrun exec`.
//!
//! A job message without an action download endpoint (`system.github.launch_endpoint`) can run
//! only actions already in the store. Nothing here runs anything from an action.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use actions_compat::action::RunsKind;
use actions_compat::workflow::{Step, StepKind, UsesRef};

use super::action_info::{endpoint_url, ActionInfoClient, ActionReference, DownloadInfo};
use super::jobs::JobContext;
use super::message::{DecodedJob, JobRequest};
use crate::actions::{ActionStore, ActionStoreError, AddOutcome, PinnedRepo, TarballSource};
use crate::engine::execute::RunCancel;
use crate::engine::plan::MAX_ACTION_DEPTH;

/// Distinct remote actions one job may use, nested ones included.
pub const MAX_ACTIONS: usize = 256;

/// Why a job's actions cannot be made ready.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ActionsRefused {
    /// The policy gate's refusal: an action not pinned to a commit, or resolved to another.
    #[error("{0}")]
    Policy(String),
    /// The job fails: the endpoint, a download, the store or an action file failed.
    #[error("{0}")]
    Failed(String),
}

/// How a job's actions are resolved and fetched.
#[derive(Debug, Clone)]
pub struct JobActions {
    /// The job's action download endpoint; `None` when the message names none.
    pub info: Option<ActionInfoClient>,
    pub store: ActionStore,
    /// The job's `github.token`: for tarballs the endpoint gave no token for.
    pub fallback_token: Option<String>,
}

/// One remote action to make ready, and who uses it (for messages).
#[derive(Debug, Clone)]
struct Wanted {
    uses: String,
    via: String,
}

/// The remote actions `steps` use (scripts, local and container actions left out), `via`
/// naming who uses them.
fn remote_uses(steps: &[Step], via: &dyn Fn(&Step) -> String, out: &mut Vec<Wanted>) {
    for step in steps {
        match &step.kind {
            StepKind::Uses {
                uses,
                action: UsesRef::Repository(r),
                ..
            } if !r.is_reusable_workflow() => out.push(Wanted {
                uses: uses.value.clone(),
                via: via(step),
            }),
            StepKind::Parallel { steps } => remote_uses(steps, via, out),
            _ => {}
        }
    }
}

fn policy(via: &str, problem: impl std::fmt::Display) -> ActionsRefused {
    ActionsRefused::Policy(format!(
        "The policy gate refused the job: [unpinned-uses] {via}: {problem}"
    ))
}

/// An error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// How the endpoint names an action: `owner/repo@ref`, compared without regard to case.
fn lookup_key(pin: &PinnedRepo) -> String {
    format!("{}/{}@{}", pin.owner(), pin.repo(), pin.sha()).to_ascii_lowercase()
}

impl JobActions {
    /// Makes ready every remote action of `steps` (the job's), nested ones included.
    pub async fn prepare(&self, steps: &[Step]) -> Result<(), ActionsRefused> {
        let mut level = Vec::new();
        remote_uses(steps, &|s| format!("step `{}`", s.id.value), &mut level);
        let mut seen = HashSet::new();
        let mut resolved: HashMap<String, DownloadInfo> = HashMap::new();
        let mut depth = 0;
        while !level.is_empty() {
            level.retain(|w| seen.insert(w.uses.to_ascii_lowercase()));
            if level.is_empty() {
                break;
            }
            if depth >= MAX_ACTION_DEPTH {
                let w = &level[0];
                return Err(ActionsRefused::Failed(format!(
                    "composite actions nest deeper than {MAX_ACTION_DEPTH}: `{}` ({})",
                    w.uses, w.via
                )));
            }
            if seen.len() > MAX_ACTIONS {
                return Err(ActionsRefused::Failed(format!(
                    "the job uses more than {MAX_ACTIONS} remote actions"
                )));
            }
            let mut pinned = Vec::new();
            for w in level.drain(..) {
                match PinnedRepo::parse(&w.uses) {
                    Ok((pin, _)) => pinned.push((w, pin)),
                    Err(e) => return Err(policy(&w.via, e)),
                }
            }
            if let Some(client) = &self.info {
                self.resolve_level(client, &pinned, &mut resolved).await?;
            }
            for (w, pin) in &pinned {
                self.fetch(w, pin, resolved.get(&lookup_key(pin))).await?;
            }
            for (w, _) in &pinned {
                level.extend(self.nested(w).await?);
            }
            depth += 1;
        }
        Ok(())
    }

    /// Asks the endpoint about the level's actions it was not asked about yet, and checks each
    /// answer against its pin.
    async fn resolve_level(
        &self,
        client: &ActionInfoClient,
        pinned: &[(Wanted, PinnedRepo)],
        resolved: &mut HashMap<String, DownloadInfo>,
    ) -> Result<(), ActionsRefused> {
        let mut asked = HashSet::new();
        let mut refs = Vec::new();
        for (w, pin) in pinned {
            let key = lookup_key(pin);
            if resolved.contains_key(&key) || !asked.insert(key) {
                continue;
            }
            let Ok(UsesRef::Repository(r)) = UsesRef::parse(&w.uses) else {
                continue;
            };
            refs.push(ActionReference {
                name_with_owner: format!("{}/{}", r.owner(), r.repo()),
                git_ref: r.git_ref().as_str().to_owned(),
                path: r.path().unwrap_or_default().to_owned(),
            });
        }
        if !refs.is_empty() {
            let names: Vec<String> = refs.iter().map(|r| format!("`{}`", r.key())).collect();
            let infos = client.resolve(&refs).await.map_err(|e| {
                ActionsRefused::Failed(format!(
                    "cannot resolve the action{} {}: {}",
                    if names.len() == 1 { "" } else { "s" },
                    names.join(", "),
                    chain(&e)
                ))
            })?;
            for (key, info) in infos {
                resolved.insert(key.to_ascii_lowercase(), info);
            }
        }
        for (w, pin) in pinned {
            let Some(info) = resolved.get(&lookup_key(pin)) else {
                return Err(ActionsRefused::Failed(format!(
                    "the action download info has no entry for `{}` ({})",
                    w.uses, w.via
                )));
            };
            if !info.resolved_sha.eq_ignore_ascii_case(pin.sha()) {
                let found = if info.resolved_sha.is_empty() {
                    "no commit".to_owned()
                } else {
                    format!("commit `{}`", info.resolved_sha)
                };
                return Err(policy(
                    &w.via,
                    format!(
                        "GitHub resolved `{}` to {found}, not the commit it is pinned to \
                         (`{}`); hrun runs an action only at its pinned commit",
                        w.uses,
                        pin.sha()
                    ),
                ));
            }
            if !info.resolved_name_with_owner.is_empty()
                && !info.resolved_name_with_owner.eq_ignore_ascii_case(&format!(
                    "{}/{}",
                    pin.owner(),
                    pin.repo()
                ))
            {
                tracing::info!(uses = %w.uses, now = %info.resolved_name_with_owner, "the action's repository was renamed");
            }
        }
        Ok(())
    }

    /// Puts `pin` in the store (no download when a sound entry is there).
    async fn fetch(
        &self,
        w: &Wanted,
        pin: &PinnedRepo,
        info: Option<&DownloadInfo>,
    ) -> Result<(), ActionsRefused> {
        let failed = |e: &dyn std::error::Error| {
            ActionsRefused::Failed(format!(
                "cannot fetch action `{}` ({}): {}",
                w.uses,
                w.via,
                chain(e)
            ))
        };
        let Some(info) = info else {
            // No endpoint: only what the store holds.
            let store = self.store.clone();
            let p = pin.clone();
            let found = tokio::task::spawn_blocking(move || store.get_verified(&p))
                .await
                .map_err(|e| failed(&e))?
                .map_err(|e| failed(&e))?;
            return match found {
                Some(_) => Ok(()),
                None => Err(ActionsRefused::Failed(format!(
                    "action `{}` ({}) is not in the action store, and the job message names no \
                     action download endpoint (`system.github.launch_endpoint`) to fetch it \
                     from: `hrun actions pull {pin}` on this host fetches it",
                    w.uses, w.via
                ))),
            };
        };
        let token = Some(info.token.clone())
            .filter(|t| !t.is_empty())
            .or_else(|| self.fallback_token.clone());
        let source = TarballSource::resolved(&info.tarball_url, token).map_err(|e| failed(&e))?;
        match self.store.pull_from(pin, &source).await {
            Ok(AddOutcome::AlreadyPresent(_)) => {
                tracing::info!(action = %pin, "action already in the store");
                Ok(())
            }
            Ok(AddOutcome::Added(e) | AddOutcome::Replaced { entry: e, .. }) => {
                tracing::info!(action = %pin, sha256 = %e.record.sha256, from = %source.shown_url(), "action downloaded");
                Ok(())
            }
            Err(e) => Err(failed(&e)),
        }
    }

    /// The remote actions `w` uses, if it is a composite action.
    async fn nested(&self, w: &Wanted) -> Result<Vec<Wanted>, ActionsRefused> {
        let failed = |problem: String| {
            ActionsRefused::Failed(format!("action `{}` ({}): {problem}", w.uses, w.via))
        };
        let uses = UsesRef::parse(&w.uses).map_err(|e| failed(e.to_string()))?;
        let store = self.store.clone();
        // Remote actions are read from the store only; the workspace is not consulted.
        let found = tokio::task::spawn_blocking(move || {
            store.resolve(&uses, Path::new("/nonexistent-workspace"))
        })
        .await
        .map_err(|e| failed(e.to_string()))?
        .map_err(|e: ActionStoreError| failed(chain(&e)))?;
        let mut next = Vec::new();
        if let RunsKind::Composite(c) = &found.action.runs.kind {
            let via = format!("used by action `{}`", w.uses);
            remote_uses(&c.steps, &|_| via.clone(), &mut next);
        }
        Ok(next)
    }
}

/// Resolves and fetches the job's remote actions; `Err(None)` when the job was cancelled.
pub async fn prepare_job_actions(
    ctx: &JobContext,
    request: &JobRequest,
    job: &DecodedJob,
    cancel: &RunCancel,
) -> Result<(), Option<ActionsRefused>> {
    let failed = |m: String| Some(ActionsRefused::Failed(m));
    let store = ActionStore::from_env().map_err(|e| failed(e.to_string()))?;
    let info = match request
        .variable("system.github.launch_endpoint")
        .filter(|u| !u.is_empty())
    {
        None => None,
        Some(launch) => Some(ActionInfoClient {
            http: ctx.http.clone(),
            url: endpoint_url(launch, &request.plan.plan_id, &request.job_id)
                .map_err(|e| failed(e.to_string()))?,
            token: request.access_token().unwrap_or_default().to_owned(),
            retry_base: ctx.retry_base,
        }),
    };
    let actions = JobActions {
        info,
        store,
        fallback_token: job
            .description
            .given
            .github
            .get("token")
            .and_then(|t| t.as_str())
            .map(str::to_owned),
    };
    tokio::select! {
        done = actions.prepare(&job.description.steps) => done.map_err(Some),
        () = cancel.first.cancelled() => Err(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(yaml_steps: &str) -> Vec<Step> {
        let text = format!("on: push\njobs:\n  j:\n    runs-on: x\n    steps:\n{yaml_steps}");
        let wf = actions_compat::workflow::parse(&text, "ci.yml").unwrap();
        let actions_compat::workflow::JobKind::Runner(job) = &wf.jobs[0].kind else {
            panic!("not a runner job")
        };
        job.steps.clone()
    }

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[tokio::test]
    async fn a_tag_is_refused_by_the_policy_gate_before_anything_is_asked() {
        let dir = tempfile::tempdir().unwrap();
        let actions = JobActions {
            info: None,
            store: ActionStore::new(dir.path()),
            fallback_token: None,
        };
        let err = actions
            .prepare(&steps(
                "      - id: co\n        uses: actions/checkout@v4\n",
            ))
            .await
            .unwrap_err();
        let ActionsRefused::Policy(m) = err else {
            panic!("{err:?}")
        };
        assert!(m.contains("[unpinned-uses] step `co`"), "{m}");
        assert!(m.contains("not a full 40-hex commit SHA"), "{m}");
    }

    #[tokio::test]
    async fn without_an_endpoint_a_missing_action_fails_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let actions = JobActions {
            info: None,
            store: ActionStore::new(dir.path()),
            fallback_token: None,
        };
        let err = actions
            .prepare(&steps(&format!(
                "      - uses: octo/x@{SHA}\n      - run: echo\n      - uses: ./local\n"
            )))
            .await
            .unwrap_err();
        let ActionsRefused::Failed(m) = err else {
            panic!("{err:?}")
        };
        assert!(m.contains(&format!("`octo/x@{SHA}`")), "{m}");
        assert!(m.contains("system.github.launch_endpoint"), "{m}");
    }

    #[tokio::test]
    async fn steps_without_remote_actions_need_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let actions = JobActions {
            info: None,
            store: ActionStore::new(dir.path()),
            fallback_token: None,
        };
        actions
            .prepare(&steps(
                "      - run: echo\n      - uses: ./local\n      - uses: docker://alpine\n",
            ))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn nested_actions_are_read_from_imported_composites() {
        let dir = tempfile::tempdir().unwrap();
        let store = ActionStore::new(dir.path().join("cache"));
        let outer = dir.path().join("outer");
        std::fs::create_dir_all(&outer).unwrap();
        std::fs::write(
            outer.join("action.yml"),
            "name: o\nruns:\n  using: composite\n  steps:\n    - uses: octo/inner@v1\n",
        )
        .unwrap();
        let pin = PinnedRepo::new("octo", "outer", SHA).unwrap();
        store.import(&outer, &pin).unwrap();
        let actions = JobActions {
            info: None,
            store,
            fallback_token: None,
        };
        let err = actions
            .prepare(&steps(&format!("      - uses: octo/outer@{SHA}\n")))
            .await
            .unwrap_err();
        let ActionsRefused::Policy(m) = err else {
            panic!("{err:?}")
        };
        assert!(
            m.contains(&format!("used by action `octo/outer@{SHA}`"))
                && m.contains("octo/inner@v1"),
            "{m}"
        );
    }
}
