//! A job's `strategy:`: the job once, or once per combination of its matrix
//! ([`StrategyPlan`], expanded with `include`/`exclude` as GitHub does), with `fail-fast` (a
//! failed combination cancels the others) and `max-parallel`.
//!
//! Combinations are keyed as GitHub names them (`build (ubuntu, 3.11)`) and written under
//! `jobs/<id>/<n>/`. What dependants see: `failure` if a combination failed, else `cancelled` if
//! one was cancelled, else `success` (`skipped` when none ran); each output from the last
//! combination to finish that set it non-empty. `--matrix k:v` keeps only the combinations whose
//! `matrix.k` is `v`.

use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::{json, Value as Json};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use actions_compat::expr::Value;
use actions_compat::workflow::matrix::{MatrixCombination, StrategyPlan};
use actions_compat::workflow::{Job, JobKind, Workflow};

use super::call::run_call;
use super::execute::RunCancel;
use super::job::{GivenContexts, JobDescription};
use super::result::Conclusion;
use super::schedule::{run_runner_job, Call, Finished, Instance, Shared};

/// Runs job `job` (all of its combinations) once its `if` held; `needs` is its `needs` context.
pub(super) async fn start_job(
    shared: Arc<Shared>,
    workflow: Arc<Workflow>,
    job: Job,
    call: Call,
    needs: Json,
) -> Finished {
    let key = format!("{}{}", call.prefix, job.id.value);
    let dir = format!("{}{}", call.dir, job.id.value);
    let contexts = Value::from_json(json!({
        "github": shared.github,
        "needs": needs,
        "vars": shared.options.vars,
        "inputs": call.inputs,
    }));
    let plan = match StrategyPlan::for_job(&job, &contexts) {
        Ok(p) => p,
        Err(e) => {
            shared.live.note(&format!("[{key}] ✗ {e}"));
            return Finished::not_run(&key, Conclusion::Failure);
        }
    };
    if !plan.is_matrix() {
        let instance = Instance {
            key,
            dir,
            matrix: Json::Null,
            strategy: plan.strategy_context(0).to_json(),
            cancel: shared.cancel.clone(),
        };
        return run_instance(&shared, &workflow, &job, &call, needs, instance).await;
    }

    let group = RunCancel {
        first: shared.cancel.first.child_token(),
        second: shared.cancel.second.clone(),
    };
    let total = plan.combinations.len();
    let limit = Arc::new(Semaphore::new(
        plan.max_parallel.map_or(total, |m| m as usize).max(1),
    ));
    let mut running = JoinSet::new();
    let mut ended: Vec<(usize, Finished)> = Vec::new();
    for (index, combination) in plan.combinations.iter().enumerate() {
        if !matches_filter(combination, &shared.options.matrix_filter) {
            continue;
        }
        let instance = Instance {
            key: combination.display_name(&key),
            dir: format!("{dir}/{}", index + 1),
            matrix: combination.context().to_json(),
            strategy: plan.strategy_context(index).to_json(),
            cancel: group.clone(),
        };
        // Combinations start in order, each when a `max-parallel` slot is free.
        let Ok(slot) = Arc::clone(&limit).acquire_owned().await else {
            ended.push((index, Finished::not_run(&instance.key, Conclusion::Failure)));
            continue;
        };
        if instance.cancel.first.is_cancelled() {
            ended.push((
                index,
                Finished::not_run(&instance.key, Conclusion::Cancelled),
            ));
            continue;
        }
        let (shared, workflow, job, call, needs) = (
            Arc::clone(&shared),
            Arc::clone(&workflow),
            job.clone(),
            call.clone(),
            needs.clone(),
        );
        let fail_fast = plan.fail_fast;
        running.spawn(async move {
            let _slot = slot;
            let cancel = instance.cancel.clone();
            let f = run_instance(&shared, &workflow, &job, &call, needs, instance).await;
            if fail_fast && f.conclusion == Conclusion::Failure {
                cancel.first.cancel();
            }
            (index, f)
        });
    }
    let mut outputs = IndexMap::new();
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok((index, f)) => {
                for (k, v) in &f.outputs {
                    if !v.is_empty() {
                        outputs.insert(k.clone(), v.clone());
                    }
                }
                ended.push((index, f));
            }
            Err(e) => shared
                .live
                .note(&format!("hrun: a job's task ended abnormally: {e}")),
        }
    }
    ended.sort_by_key(|(index, _)| *index);
    let has = |c: Conclusion| ended.iter().any(|(_, f)| f.conclusion == c);
    let conclusion = if has(Conclusion::Failure) {
        Conclusion::Failure
    } else if has(Conclusion::Cancelled) {
        Conclusion::Cancelled
    } else if has(Conclusion::Success) {
        Conclusion::Success
    } else {
        Conclusion::Skipped
    };
    Finished {
        conclusion,
        outputs,
        summaries: ended.into_iter().flat_map(|(_, f)| f.summaries).collect(),
    }
}

/// Whether a combination has every `--matrix k:v` value asked for.
fn matches_filter(combination: &MatrixCombination, filter: &[(String, String)]) -> bool {
    filter.iter().all(|(k, v)| {
        combination
            .values
            .get(k)
            .is_some_and(|value| value.to_expr_string() == *v)
    })
}

/// Runs one job or combination.
async fn run_instance(
    shared: &Arc<Shared>,
    workflow: &Workflow,
    job: &Job,
    call: &Call,
    needs: Json,
    instance: Instance,
) -> Finished {
    match &job.kind {
        JobKind::Runner(runner) => {
            let Ok(_permit) = Arc::clone(&shared.permits).acquire_owned().await else {
                return Finished::not_run(&instance.key, Conclusion::Failure);
            };
            let given = GivenContexts {
                github: shared.github.clone(),
                inputs: call.inputs.clone(),
                vars: json!(shared.options.vars),
                needs,
                matrix: instance.matrix.clone(),
                strategy: instance.strategy.clone(),
                secrets: call.secrets.clone(),
            };
            let desc = JobDescription::from_workflow_job(
                instance.key.clone(),
                workflow,
                job,
                runner,
                given,
            );
            run_runner_job(shared, desc, &instance).await
        }
        JobKind::Reusable(reusable) => {
            run_call(shared, workflow, &instance, reusable, call, needs).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix_filter_keeps_combinations_with_every_value() {
        let mut values = IndexMap::new();
        values.insert("os".to_owned(), Value::String("ubuntu".into()));
        values.insert("v".to_owned(), Value::Number(3.0));
        let combination = MatrixCombination {
            values,
            name_suffix: "ubuntu, 3".into(),
        };
        assert!(matches_filter(&combination, &[]));
        assert!(matches_filter(
            &combination,
            &[("os".into(), "ubuntu".into()), ("v".into(), "3".into())]
        ));
        assert!(!matches_filter(
            &combination,
            &[("os".into(), "mac".into())]
        ));
        assert!(!matches_filter(
            &combination,
            &[("missing".into(), "x".into())]
        ));
    }
}
