//! A job that calls a reusable workflow of the same repository (`uses:
//! ./.github/workflows/x.yml`): its `with:` typed as the called workflow declares its inputs,
//! its `secrets:` (or `inherit`), the called workflow's jobs run as `caller/job`, and its outputs
//! computed from their outputs (`on.workflow_call.outputs`).

use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::{json, Value as Json};

use actions_compat::expr::{JobStatus, Value};
use actions_compat::workflow::{CallSecrets, InputType, ReusableWorkflowCall, Workflow};

use super::contexts::{Contexts, EvalError, Evaluator};
use super::job::Secrets;
use super::result::{Conclusion, JobSummary};
use super::schedule::{run_workflow, Call, Finished, Instance, Shared};

/// Runs the workflow that `reusable` calls, as `instance`.
pub(super) async fn run_call(
    shared: &Arc<Shared>,
    workflow: &Workflow,
    instance: &Instance,
    reusable: &ReusableWorkflowCall,
    call: &Call,
    needs: Json,
) -> Finished {
    let key = instance.key.clone();
    let failed = |key: &str| Finished::not_run(key, Conclusion::Failure);
    let Some(callee) = shared.plan.called.get(&reusable.uses.value).cloned() else {
        return failed(&key);
    };
    let mut contexts = Contexts::default();
    contexts.set_json("github", shared.github.clone());
    contexts.set_json("needs", needs);
    contexts.set_json("vars", json!(shared.options.vars));
    contexts.set_json("inputs", call.inputs.clone());
    contexts.set("secrets", call.secrets.to_context());
    contexts.set_json("matrix", instance.matrix.clone());
    contexts.set_json("strategy", instance.strategy.clone());
    let ev = contexts.eval(JobStatus::Success, None, &workflow.file);
    let inputs = match call_inputs(&ev, reusable, &callee) {
        Ok(i) => i,
        Err(e) => {
            shared.live.note(&format!("[{key}] ✗ {e}"));
            return failed(&key);
        }
    };
    let secrets = match &reusable.secrets {
        Some(CallSecrets::Inherit(_)) => call.secrets.clone(),
        Some(CallSecrets::Map(map)) => {
            let mut s = Secrets::default();
            for (name, v) in map {
                match ev.value(v) {
                    Ok(v) => {
                        s.insert(name.clone(), v.to_expr_string());
                    }
                    Err(e) => {
                        shared.live.note(&format!("[{key}] ✗ {e}"));
                        return failed(&key);
                    }
                }
            }
            s
        }
        None => Secrets::default(),
    };
    let all: Vec<String> = callee.jobs.iter().map(|j| j.id.value.clone()).collect();
    let inner_call = Call {
        inputs: inputs.clone(),
        secrets,
        prefix: format!("{key}/"),
        dir: format!("{}/", instance.dir),
    };
    let inner = run_workflow(Arc::clone(shared), Arc::clone(&callee), all, inner_call).await;
    let conclusion = if inner.values().any(|f| f.conclusion == Conclusion::Failure) {
        Conclusion::Failure
    } else if inner
        .values()
        .any(|f| f.conclusion == Conclusion::Cancelled)
    {
        Conclusion::Cancelled
    } else {
        Conclusion::Success
    };
    let mut jobs = serde_json::Map::new();
    for (id, f) in &inner {
        jobs.insert(
            id.clone(),
            json!({"result": f.conclusion.as_str(), "outputs": f.outputs}),
        );
    }
    let mut out_contexts = Contexts::default();
    out_contexts.set_json("github", shared.github.clone());
    out_contexts.set_json("inputs", inputs);
    out_contexts.set_json("vars", json!(shared.options.vars));
    out_contexts.set_json("jobs", Json::Object(jobs));
    let ev = out_contexts.eval(JobStatus::Success, None, &callee.file);
    let mut outputs = IndexMap::new();
    if let Some(trigger) = &callee.on.workflow_call {
        for (name, out) in &trigger.outputs {
            match ev.string(&out.value) {
                Ok(v) => {
                    outputs.insert(name.clone(), v);
                }
                Err(e) => shared.live.note(&format!("[{key}] ✗ {e}")),
            }
        }
    }
    let mut summaries: Vec<(String, JobSummary)> = Vec::new();
    for f in inner.values() {
        summaries.extend(f.summaries.iter().cloned());
    }
    let masked: IndexMap<String, String> = outputs
        .iter()
        .map(|(k, v)| (k.clone(), shared.masker.mask(v)))
        .collect();
    summaries.push((
        key.clone(),
        JobSummary {
            conclusion,
            outputs: masked,
            result: String::new(),
        },
    ));
    Finished {
        conclusion,
        outputs,
        summaries,
    }
}

/// The `inputs` of a called workflow: `with:` typed as the callee declares, or the defaults.
pub(super) fn call_inputs(
    ev: &Evaluator<'_>,
    call: &ReusableWorkflowCall,
    callee: &Workflow,
) -> Result<Json, EvalError> {
    let mut inputs = serde_json::Map::new();
    let Some(trigger) = &callee.on.workflow_call else {
        return Ok(Json::Object(inputs));
    };
    for (name, input) in &trigger.inputs {
        let given = call
            .with
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| ev.value(v))
            .transpose()?;
        let value = match given {
            Some(v) => Some(v),
            None => input.default.as_ref().map(|d| ev.value(d)).transpose()?,
        };
        let typed = match (input.input_type, value) {
            (InputType::Boolean, Some(Value::String(s))) => json!(s.eq_ignore_ascii_case("true")),
            (InputType::Boolean, Some(v)) => json!(v.is_truthy()),
            (InputType::Boolean, None) => json!(false),
            (InputType::Number, Some(Value::String(s))) => {
                s.trim().parse::<f64>().map_or(json!(s), |n| json!(n))
            }
            (InputType::Number, Some(v)) => v.to_json(),
            (InputType::Number, None) => json!(0),
            (_, Some(v)) => json!(v.to_expr_string()),
            (_, None) => json!(""),
        };
        inputs.insert(name.clone(), typed);
    }
    Ok(Json::Object(inputs))
}
