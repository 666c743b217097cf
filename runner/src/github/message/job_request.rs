//! The job request message (`AgentJobRequestMessage`): everything GitHub sends a runner about one
//! job, read into typed values with the path of every error.
//!
//! Member names are GitHub's (camelCase, matched ignoring case): `plan`, `timeline`, `jobId`,
//! `jobName`, `jobDisplayName`, `requestId`, `resources.endpoints`, `contextData`, `variables`,
//! `mask`, `steps`, `fileTable`, `environmentVariables`, `defaults`, `jobOutputs`,
//! `jobContainer`, `jobServiceContainers`, `snapshot`. Members this runner has no use for are
//! ignored, as GitHub's runner ignores unknown members.

use indexmap::IndexMap;
use serde_json::Value as Json;

use super::context_data;
use super::json::{
    each, each_member, required, with_field, DecodeError, DecodeErrorKind, Node, ROOT,
};
use super::token::Token;

/// The message type of a job request carried whole (the pool flow).
pub const PIPELINE_JOB_REQUEST: &str = "PipelineAgentJobRequest";
/// The name of the endpoint that says where the job reports and with which token.
pub const SYSTEM_CONNECTION: &str = "SystemVssConnection";

/// A job request.
#[derive(Debug, Clone, PartialEq)]
pub struct JobRequest {
    pub message_type: String,
    pub plan: PlanReference,
    pub timeline_id: Option<String>,
    /// The job's id (a GUID), used when it is renewed and completed.
    pub job_id: String,
    pub job_display_name: String,
    /// The job's id in its workflow.
    pub job_name: String,
    pub request_id: i64,
    pub endpoints: Vec<Endpoint>,
    /// The contexts GitHub computed, by name.
    pub context_data: IndexMap<String, Json>,
    pub variables: IndexMap<String, Variable>,
    pub mask_hints: Vec<MaskHint>,
    pub steps: Vec<MessageStep>,
    /// The files tokens' `file` indexes refer to (the workflow file first).
    pub file_table: Vec<String>,
    /// The workflow's `env`, then the job's (the last wins).
    pub environment_variables: Vec<Token>,
    /// The workflow's `defaults`, then the job's.
    pub defaults: Vec<Token>,
    pub job_outputs: Option<Token>,
    pub job_container: Option<Token>,
    pub job_service_containers: Option<Token>,
    pub snapshot: Option<Token>,
}

/// `plan`: the workflow run the job belongs to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanReference {
    pub plan_id: String,
    pub scope_identifier: String,
    pub plan_type: String,
}

/// A service the job may reach (`resources.endpoints[]`).
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub name: String,
    pub url: String,
    /// `authorization.parameters`: `AccessToken` for the system connection. Never shown.
    pub parameters: IndexMap<String, String>,
    /// `data`: `ResultsServiceUrl`, `FeedStreamUrl`, `CacheServerUrl`, ...
    pub data: IndexMap<String, String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("parameters", &self.parameters.keys().collect::<Vec<_>>())
            .field("data", &self.data)
            .finish()
    }
}

/// A variable (`variables.<name>`): secrets among them are the job's `secrets` context.
#[derive(Clone, PartialEq, Eq)]
pub struct Variable {
    pub value: String,
    pub is_secret: bool,
}

impl std::fmt::Debug for Variable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_secret {
            f.write_str("Variable(***)")
        } else {
            write!(f, "Variable({:?})", self.value)
        }
    }
}

/// A value to hide in everything the job shows (`mask[]`).
#[derive(Clone, PartialEq, Eq)]
pub struct MaskHint {
    /// `regex` in GitHub's messages (the value is hidden literally, as GitHub's runner does).
    pub kind: String,
    pub value: String,
}

impl std::fmt::Debug for MaskHint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MaskHint({}, ***)", self.kind)
    }
}

/// One step of the job (`steps[]`).
#[derive(Debug, Clone, PartialEq)]
pub struct MessageStep {
    /// A GUID: how the step's results and logs are named to GitHub.
    pub id: String,
    /// `name`: the step's id in the `steps` context when `contextName` is absent.
    pub name: Option<String>,
    pub display_name: Option<String>,
    pub display_name_token: Option<Token>,
    /// The step's id in the `steps` context (`__run`, `__actions_checkout`, or the id written).
    pub context_name: Option<String>,
    /// The full condition, status function included (`success()`, `success() && (...)`).
    pub condition: Option<String>,
    pub continue_on_error: Option<Token>,
    pub timeout_in_minutes: Option<Token>,
    pub environment: Option<Token>,
    pub inputs: Option<Token>,
    pub reference: StepReference,
    pub background: bool,
}

/// What a step runs (`reference`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepReference {
    /// A `run:` script: the script, shell and working directory are in `inputs`.
    Script,
    /// An action in a repository: `name` (`owner/repo`), `ref`, `path`; `repositoryType`
    /// `self` for a `./path` action of the workflow's repository.
    Repository {
        name: String,
        git_ref: String,
        repository_type: String,
        path: String,
    },
    /// `docker://image`.
    Container { image: String },
}

impl JobRequest {
    /// Reads a job request from its JSON text.
    pub fn from_json_text(text: &str) -> Result<JobRequest, DecodeError> {
        let doc: Json = serde_json::from_str(text).map_err(|e| DecodeError {
            path: "$".to_owned(),
            kind: DecodeErrorKind::NotJson(e.to_string()),
        })?;
        JobRequest::decode(&doc)
    }

    /// Reads a job request from a JSON document.
    pub fn decode(doc: &Json) -> Result<JobRequest, DecodeError> {
        let root = Node::new(doc, &ROOT);
        root.as_object()?;
        let text = |n: Node<'_>| n.as_text();
        let tokens = |n: Node<'_>| each(n, Token::decode);
        Ok(JobRequest {
            message_type: with_field(root, "messageType", text)?
                .unwrap_or_else(|| PIPELINE_JOB_REQUEST.to_owned()),
            plan: with_field(root, "plan", |p| {
                Ok(PlanReference {
                    plan_id: required(p, "planId", text)?,
                    scope_identifier: with_field(p, "scopeIdentifier", text)?.unwrap_or_default(),
                    plan_type: with_field(p, "planType", text)?.unwrap_or_default(),
                })
            })?
            .unwrap_or_default(),
            timeline_id: with_field(root, "timeline", |t| with_field(t, "id", text))?.flatten(),
            job_id: required(root, "jobId", text)?,
            job_display_name: with_field(root, "jobDisplayName", text)?.unwrap_or_default(),
            job_name: with_field(root, "jobName", text)?.unwrap_or_default(),
            request_id: with_field(root, "requestId", |r| r.as_i64())?.unwrap_or(0),
            endpoints: with_field(root, "resources", |r| {
                with_field(r, "endpoints", |e| each(e, decode_endpoint))
            })?
            .flatten()
            .unwrap_or_default(),
            context_data: with_field(root, "contextData", |c| {
                each_member(c, |k, v| Ok((k.to_owned(), context_data::decode(v)?)))
            })?
            .unwrap_or_default()
            .into_iter()
            .collect(),
            variables: with_field(root, "variables", |vars| {
                each_member(vars, |k, v| Ok((k.to_owned(), decode_variable(v)?)))
            })?
            .unwrap_or_default()
            .into_iter()
            .collect(),
            mask_hints: with_field(root, "mask", |m| each(m, decode_mask_hint))?
                .unwrap_or_default(),
            steps: with_field(root, "steps", |s| each(s, decode_step))?.unwrap_or_default(),
            file_table: with_field(root, "fileTable", |f| each(f, text))?.unwrap_or_default(),
            environment_variables: with_field(root, "environmentVariables", tokens)?
                .unwrap_or_default(),
            defaults: with_field(root, "defaults", tokens)?.unwrap_or_default(),
            job_outputs: with_field(root, "jobOutputs", Token::decode)?,
            job_container: with_field(root, "jobContainer", Token::decode)?,
            job_service_containers: with_field(root, "jobServiceContainers", Token::decode)?,
            snapshot: with_field(root, "snapshot", Token::decode)?,
        })
    }

    /// The endpoint of that name (ignoring case, as GitHub's runner looks it up).
    pub fn endpoint(&self, name: &str) -> Option<&Endpoint> {
        self.endpoints
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name))
    }

    /// A variable's value.
    pub fn variable(&self, name: &str) -> Option<&str> {
        self.variables
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.value.as_str())
    }

    /// The token the job reports with (`SystemVssConnection`'s `AccessToken`).
    pub fn access_token(&self) -> Option<&str> {
        self.endpoint(SYSTEM_CONNECTION)?
            .parameters
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("AccessToken"))
            .map(|(_, v)| v.as_str())
    }

    /// The file a token's `file` index names, for diagnostics.
    pub fn file_name(&self, index: Option<usize>) -> &str {
        index
            .and_then(|i| self.file_table.get(i))
            .or_else(|| self.file_table.first())
            .map_or("workflow", String::as_str)
    }
}

fn string_map(node: Node<'_>) -> Result<IndexMap<String, String>, DecodeError> {
    Ok(each_member(node, |k, v| {
        let value = match v.value {
            Json::Null => String::new(),
            Json::Bool(b) => b.to_string(),
            _ => v.as_text()?,
        };
        Ok((k.to_owned(), value))
    })?
    .into_iter()
    .collect())
}

fn decode_endpoint(node: Node<'_>) -> Result<Endpoint, DecodeError> {
    Ok(Endpoint {
        name: with_field(node, "name", |n| n.as_text())?.unwrap_or_default(),
        url: with_field(node, "url", |u| u.as_text())?.unwrap_or_default(),
        parameters: with_field(node, "authorization", |a| {
            with_field(a, "parameters", string_map)
        })?
        .flatten()
        .unwrap_or_default(),
        data: with_field(node, "data", string_map)?.unwrap_or_default(),
    })
}

fn decode_variable(node: Node<'_>) -> Result<Variable, DecodeError> {
    // A variable is `{value, isSecret}`; a bare string is accepted as a plain value.
    if let Json::String(s) = node.value {
        return Ok(Variable {
            value: s.clone(),
            is_secret: false,
        });
    }
    Ok(Variable {
        value: with_field(node, "value", |v| v.as_text())?.unwrap_or_default(),
        is_secret: with_field(node, "isSecret", |s| s.as_bool())?.unwrap_or(false),
    })
}

fn decode_mask_hint(node: Node<'_>) -> Result<MaskHint, DecodeError> {
    Ok(MaskHint {
        kind: with_field(node, "type", |t| t.as_text())?.unwrap_or_else(|| "regex".to_owned()),
        value: required(node, "value", |v| v.as_text())?,
    })
}

fn decode_step(node: Node<'_>) -> Result<MessageStep, DecodeError> {
    let text = |n: Node<'_>| n.as_text();
    if let Some(kind) = with_field(node, "type", text)? {
        if !kind.eq_ignore_ascii_case("action") && kind != "4" {
            return Err(node.error(DecodeErrorKind::Unsupported(format!("step type `{kind}`"))));
        }
    }
    Ok(MessageStep {
        id: required(node, "id", text)?,
        name: with_field(node, "name", text)?,
        display_name: with_field(node, "displayName", text)?,
        display_name_token: with_field(node, "displayNameToken", Token::decode)?,
        context_name: with_field(node, "contextName", text)?,
        condition: with_field(node, "condition", text)?,
        continue_on_error: with_field(node, "continueOnError", Token::decode)?,
        timeout_in_minutes: with_field(node, "timeoutInMinutes", Token::decode)?,
        environment: with_field(node, "environment", Token::decode)?,
        inputs: with_field(node, "inputs", Token::decode)?,
        reference: required(node, "reference", decode_reference)?,
        background: with_field(node, "background", |b| b.as_bool())?.unwrap_or(false),
    })
}

fn decode_reference(node: Node<'_>) -> Result<StepReference, DecodeError> {
    let text = |n: Node<'_>| n.as_text();
    let kind = required(node, "type", text)?;
    match kind.to_ascii_lowercase().as_str() {
        "script" | "3" => Ok(StepReference::Script),
        "repository" | "1" => Ok(StepReference::Repository {
            name: with_field(node, "name", text)?.unwrap_or_default(),
            git_ref: with_field(node, "ref", text)?.unwrap_or_default(),
            repository_type: with_field(node, "repositoryType", text)?.unwrap_or_default(),
            path: with_field(node, "path", text)?.unwrap_or_default(),
        }),
        "containerregistry" | "2" => Ok(StepReference::Container {
            image: required(node, "image", text)?,
        }),
        other => Err(node.error(DecodeErrorKind::Invalid(format!(
            "unknown step reference type `{other}`"
        )))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_missing_job_id_is_named() {
        let err =
            JobRequest::decode(&json!({"messageType": "PipelineAgentJobRequest"})).unwrap_err();
        assert_eq!(err.to_string(), "$: required member `jobId` is missing");
    }

    #[test]
    fn a_bad_step_reference_names_the_step() {
        let doc = json!({"jobId": "j", "steps": [
            {"id": "a", "reference": {"type": "script"}},
            {"id": "b", "reference": {"type": "ftp"}}
        ]});
        let err = JobRequest::decode(&doc).unwrap_err();
        assert_eq!(err.path, "$.steps[1].reference");
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let doc = json!({"jobId": "j",
            "variables": {"system.github.token": {"value": "ghs_secret", "isSecret": true}},
            "resources": {"endpoints": [{"name": "SystemVssConnection", "url": "http://x/",
                "authorization": {"scheme": "OAuth", "parameters": {"AccessToken": "tok_secret"}}}]},
            "mask": [{"type": "regex", "value": "hidden_value"}]});
        let req = JobRequest::decode(&doc).unwrap();
        let shown = format!("{req:?}");
        assert!(!shown.contains("ghs_secret") && !shown.contains("tok_secret"));
        assert!(!shown.contains("hidden_value"));
        assert_eq!(req.access_token(), Some("tok_secret"));
    }
}
