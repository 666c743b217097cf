//! Registering the runner with GitHub, and removing it, as GitHub's runner does.
//!
//! 1. `POST {api}/actions/runner-registration` with `Authorization: RemoteAuth <token>` and
//!    `{url, runner_event}` answers the Actions service's URL, a token for it, and whether the
//!    runner-admin flow is used (`use_v2_flow`).
//! 2. Runner-admin flow (github.com today): `GET {entity}/runner-groups`,
//!    `GET {entity}/runners?name=`, then `POST {api}/actions/runners/register` with the RSA public
//!    key in .NET's XML form; the answer carries the broker URL and the OAuth client.
//! 3. Pipelines flow (older GHES): `GET _apis/connectionData` (the routes of the service, by
//!    location id), the runner groups (`pools`), an existing runner of that name, then
//!    `POST`/`PUT` the agent with the public key as `{exponent, modulus}`.
//!
//! `{api}` is `https://api.github.com` for github.com (and GHE.com hosts) and
//! `{scheme}://{host}/api/v3` elsewhere; `{entity}` is `{api}/repos/{owner}/{repo}/actions`,
//! `{api}/orgs/{org}/actions` or `{api}/enterprises/{name}/actions`.

use http::Method;
use rsa::RsaPrivateKey;
use serde::Deserialize;
use serde_json::{json, Value as Json};

use super::http::{join, percent_encode, Auth, Body, HttpClient, HttpError};
use super::identity::{
    public_key_json, public_key_xml, CredentialData, Credentials, RunnerSettings,
};
use super::RUNNER_VERSION;

/// Why registration failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistrationError {
    #[error("`{0}` is not a GitHub URL of a repository, organization or enterprise (https://HOST/OWNER[/REPO])")]
    BadUrl(String),
    #[error(transparent)]
    Http(#[from] HttpError),
    #[error("unexpected answer from {what}: {message}")]
    Answer { what: String, message: String },
    #[error("no runner group named `{0}`")]
    NoGroup(String),
    #[error("no self-hosted runner group was found")]
    NoGroups,
    #[error("a runner named `{0}` exists already: use --replace to take its place")]
    Exists(String),
}

/// What the runner is registered as.
#[derive(Debug, Clone)]
pub struct RegisterRequest {
    /// `https://HOST/OWNER[/REPO]` or `https://HOST/enterprises/NAME`.
    pub url: String,
    pub token: String,
    pub name: String,
    pub labels: Vec<String>,
    pub runner_group: Option<String>,
    pub ephemeral: bool,
    pub replace: bool,
    pub work_folder: String,
}

/// The `url` of the GitHub instance, its scope, and its REST API's base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubUrl {
    pub url: String,
    pub api: String,
    /// `repos/o/r`, `orgs/o` or `enterprises/e`.
    pub entity: String,
    pub hosted: bool,
}

impl GithubUrl {
    pub fn parse(url: &str) -> Result<GithubUrl, RegistrationError> {
        let bad = || RegistrationError::BadUrl(url.to_owned());
        let uri: http::Uri = url.trim_end_matches('/').parse().map_err(|_| bad())?;
        let scheme = uri.scheme_str().ok_or_else(bad)?;
        if scheme != "https" && scheme != "http" {
            return Err(bad());
        }
        let authority = uri.authority().ok_or_else(bad)?.as_str();
        let host = uri.host().ok_or_else(bad)?.to_ascii_lowercase();
        let hosted = host == "github.com"
            || host == "www.github.com"
            || host == "github.localhost"
            || host.ends_with(".ghe.localhost")
            || host.ends_with(".ghe.com");
        let api = if hosted {
            let host = host.strip_prefix("www.").unwrap_or(&host);
            format!("{scheme}://api.{host}")
        } else {
            format!("{scheme}://{authority}/api/v3")
        };
        let parts: Vec<&str> = uri.path().split('/').filter(|s| !s.is_empty()).collect();
        let entity = match parts.as_slice() {
            [org] => format!("orgs/{org}"),
            ["enterprises", name] => format!("enterprises/{name}"),
            [owner, repo] => format!("repos/{owner}/{repo}"),
            _ => return Err(bad()),
        };
        Ok(GithubUrl {
            url: url.trim_end_matches('/').to_owned(),
            api,
            entity,
            hosted,
        })
    }

    fn entity_url(&self, path: &str) -> String {
        join(&self.api, &format!("{}/actions/{path}", self.entity))
    }
}

/// The answer of `runner-registration`.
#[derive(Debug, Clone, Deserialize)]
pub struct TenantCredential {
    pub url: String,
    #[serde(default)]
    pub token: String,
    #[serde(default)]
    pub use_v2_flow: bool,
}

/// Asks GitHub which service to register with (`runner_event`: `register` or `remove`).
pub async fn tenant_credential(
    http: &HttpClient,
    github: &GithubUrl,
    token: &str,
    event: &str,
) -> Result<TenantCredential, RegistrationError> {
    let url = join(&github.api, "actions/runner-registration");
    Ok(http
        .json(
            Method::POST,
            &url,
            &Auth::Registration(token.to_owned()),
            Body::Json(json!({"url": github.url, "runner_event": event})),
        )
        .await?)
}

/// Registers a runner with `key`; the settings and credentials to save.
pub async fn register(
    http: &HttpClient,
    req: &RegisterRequest,
    key: &RsaPrivateKey,
) -> Result<(RunnerSettings, Credentials), RegistrationError> {
    let github = GithubUrl::parse(&req.url)?;
    let tenant = tenant_credential(http, &github, &req.token, "register").await?;
    let mut settings = RunnerSettings {
        agent_name: req.name.clone(),
        server_url: tenant.url.clone(),
        git_hub_url: github.url.clone(),
        work_folder: req.work_folder.clone(),
        ephemeral: req.ephemeral,
        is_hosted_server: github.hosted,
        use_runner_admin_flow: tenant.use_v2_flow,
        ..RunnerSettings::default()
    };
    let credentials = if tenant.use_v2_flow {
        register_runner_admin(http, &github, req, key, &mut settings).await?
    } else {
        register_pipelines(http, &tenant, req, key, &mut settings).await?
    };
    Ok((settings, credentials))
}

fn labels(req: &RegisterRequest) -> Vec<Json> {
    let mut out = vec![
        json!({"name": "self-hosted", "type": "system"}),
        json!({"name": "Linux", "type": "system"}),
        json!({"name": arch_label(), "type": "system"}),
    ];
    for l in &req.labels {
        let l = l.trim();
        if !l.is_empty() && !out.iter().any(|o| o["name"].as_str() == Some(l)) {
            out.push(json!({"name": l, "type": "user"}));
        }
    }
    out
}

fn arch_label() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "X64",
        "aarch64" => "ARM64",
        "arm" => "ARM",
        _ => "X64",
    }
}

fn answer_error(what: &str, message: impl Into<String>) -> RegistrationError {
    RegistrationError::Answer {
        what: what.to_owned(),
        message: message.into(),
    }
}

/// Picks the runner group: the one named, else the default one.
fn pick_group<'a>(
    groups: &'a [Json],
    name: Option<&str>,
    default_key: &str,
    hosted_key: &str,
) -> Result<&'a Json, RegistrationError> {
    let candidates: Vec<&Json> = groups
        .iter()
        .filter(|g| !g[hosted_key].as_bool().unwrap_or(false))
        .collect();
    match name {
        Some(n) => candidates
            .into_iter()
            .find(|g| {
                g["name"]
                    .as_str()
                    .is_some_and(|s| s.eq_ignore_ascii_case(n))
            })
            .ok_or_else(|| RegistrationError::NoGroup(n.to_owned())),
        None => candidates
            .iter()
            .find(|g| g[default_key].as_bool().unwrap_or(false))
            .or_else(|| candidates.first())
            .copied()
            .ok_or(RegistrationError::NoGroups),
    }
}

async fn register_runner_admin(
    http: &HttpClient,
    github: &GithubUrl,
    req: &RegisterRequest,
    key: &RsaPrivateKey,
    settings: &mut RunnerSettings,
) -> Result<Credentials, RegistrationError> {
    let auth = Auth::Registration(req.token.clone());
    let groups: Json = http
        .json(
            Method::GET,
            &github.entity_url("runner-groups"),
            &auth,
            Body::Empty,
        )
        .await?;
    let list = groups["runner_groups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let group = pick_group(&list, req.runner_group.as_deref(), "default", "is_hosted")?;
    let group_id = group["id"].as_u64().unwrap_or(1);
    settings.pool_id = group_id;
    settings.pool_name = group["name"].as_str().unwrap_or("Default").to_owned();

    let existing: Json = http
        .json(
            Method::GET,
            &github.entity_url(&format!("runners?name={}", percent_encode(&req.name))),
            &auth,
            Body::Empty,
        )
        .await?;
    let existing_id = existing["runners"]
        .as_array()
        .and_then(|r| r.first())
        .and_then(|r| r["id"].as_u64());
    let mut body = json!({
        "url": github.url,
        "group_id": group_id,
        "name": req.name,
        "version": RUNNER_VERSION,
        "updates_disabled": true,
        "ephemeral": req.ephemeral,
        "labels": labels(req),
        "public_key": public_key_xml(key),
    });
    if let Some(id) = existing_id {
        if !req.replace {
            return Err(RegistrationError::Exists(req.name.clone()));
        }
        body["runner_id"] = json!(id);
        body["replace"] = json!(true);
    }
    let runner: Json = http
        .json(
            Method::POST,
            &join(&github.api, "actions/runners/register"),
            &auth,
            Body::Json(body),
        )
        .await?;
    let what = "runners/register";
    let authorization = &runner["authorization"];
    settings.agent_id = runner["id"]
        .as_u64()
        .ok_or_else(|| answer_error(what, "no runner `id`"))?;
    settings.server_url_v2 = authorization["server_url"]
        .as_str()
        .ok_or_else(|| answer_error(what, "no `authorization.server_url`"))?
        .to_owned();
    settings.use_v2_flow = true;
    let client_id = authorization["client_id"]
        .as_str()
        .ok_or_else(|| answer_error(what, "no `authorization.client_id`"))?;
    let auth_url = authorization["authorization_url"]
        .as_str()
        .ok_or_else(|| answer_error(what, "no `authorization.authorization_url`"))?;
    Ok(Credentials {
        scheme: "OAuth".to_owned(),
        data: CredentialData {
            client_id: client_id.to_owned(),
            authorization_url: auth_url.to_owned(),
            authorization_url_v2: String::new(),
            require_fips_cryptography: "True".to_owned(),
        },
    })
}

/// A route of the pipelines service: its template from the connection data's service
/// definitions when they list it, else the route GitHub's services use.
#[derive(Debug, Clone)]
pub struct Routes {
    base: String,
    definitions: Vec<(String, String)>,
}

/// Location ids of the pipelines routes hrun calls, and their usual templates.
pub mod location {
    pub const AGENTS: (&str, &str) = (
        "e298ef32-5878-4cab-993c-043836571f42",
        "_apis/distributedtask/pools/{poolId}/agents/{agentId}",
    );
    pub const POOLS: (&str, &str) = (
        "a8c47e17-4d56-4a56-92bb-de7ea7dc65be",
        "_apis/distributedtask/pools/{poolId}",
    );
}

impl Routes {
    /// Reads the service's routes (`_apis/connectionData`); a service that does not list them
    /// gets the usual ones.
    pub async fn fetch(http: &HttpClient, base: &str, auth: &Auth) -> Result<Routes, HttpError> {
        let url = join(
            base,
            "_apis/connectionData?connectOptions=1&lastChangeId=-1&lastChangeId64=-1",
        );
        let data: Json = http.json(Method::GET, &url, auth, Body::Empty).await?;
        let definitions = data["locationServiceData"]["serviceDefinitions"]
            .as_array()
            .map(|defs| {
                defs.iter()
                    .filter_map(|d| {
                        Some((
                            d["identifier"].as_str()?.to_ascii_lowercase(),
                            d["relativePath"]
                                .as_str()?
                                .trim_start_matches('/')
                                .to_owned(),
                        ))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(Routes {
            base: base.to_owned(),
            definitions,
        })
    }

    /// The URL of route `(id, template)` with `values` put in; a `{name}` without a value is
    /// dropped with the `/` before it.
    pub fn url(&self, route: (&str, &str), values: &[(&str, String)], query: &str) -> String {
        let template = self
            .definitions
            .iter()
            .find(|(id, _)| id == route.0)
            .map_or(route.1, |(_, t)| t.as_str());
        let mut path = String::new();
        for segment in template.split('/') {
            if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                match values.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)) {
                    Some((_, v)) => {
                        path.push('/');
                        path.push_str(&percent_encode(v));
                    }
                    None => continue,
                }
            } else {
                path.push('/');
                path.push_str(segment);
            }
        }
        let url = join(&self.base, &path);
        if query.is_empty() {
            url
        } else {
            format!("{url}?{query}")
        }
    }
}

async fn register_pipelines(
    http: &HttpClient,
    tenant: &TenantCredential,
    req: &RegisterRequest,
    key: &RsaPrivateKey,
    settings: &mut RunnerSettings,
) -> Result<Credentials, RegistrationError> {
    let auth = Auth::Bearer(tenant.token.clone());
    let routes = Routes::fetch(http, &tenant.url, &auth).await?;
    let pools: Json = http
        .json(
            Method::GET,
            &routes.url(
                location::POOLS,
                &[],
                "poolType=automation&api-version=5.1-preview.1",
            ),
            &auth,
            Body::Empty,
        )
        .await?;
    let list = pools["value"].as_array().cloned().unwrap_or_default();
    let pool = pick_group(&list, req.runner_group.as_deref(), "isInternal", "isHosted")?;
    let pool_id = pool["id"].as_u64().unwrap_or(1);
    settings.pool_id = pool_id;
    settings.pool_name = pool["name"].as_str().unwrap_or("Default").to_owned();
    let pool_value = [("poolId", pool_id.to_string())];

    let existing: Json = http
        .json(
            Method::GET,
            &routes.url(
                location::AGENTS,
                &pool_value,
                &format!(
                    "agentName={}&api-version=6.0-preview.2",
                    percent_encode(&req.name)
                ),
            ),
            &auth,
            Body::Empty,
        )
        .await?;
    let existing_id = existing["value"]
        .as_array()
        .and_then(|a| a.first())
        .and_then(|a| a["id"].as_u64());
    let mut agent = json!({
        "name": req.name,
        "version": RUNNER_VERSION,
        "osDescription": std::env::consts::OS,
        "maxParallelism": 1,
        "ephemeral": req.ephemeral,
        "disableUpdate": true,
        "labels": labels(req),
        "authorization": {"publicKey": public_key_json(key)},
    });
    let answer: Json = match existing_id {
        Some(_) if !req.replace => return Err(RegistrationError::Exists(req.name.clone())),
        Some(id) => {
            agent["id"] = json!(id);
            let values = [("poolId", pool_id.to_string()), ("agentId", id.to_string())];
            http.json(
                Method::PUT,
                &routes.url(location::AGENTS, &values, "api-version=6.0-preview.2"),
                &auth,
                Body::Json(agent),
            )
            .await?
        }
        None => {
            http.json(
                Method::POST,
                &routes.url(location::AGENTS, &pool_value, "api-version=6.0-preview.2"),
                &auth,
                Body::Json(agent),
            )
            .await?
        }
    };
    let what = "agents";
    settings.agent_id = answer["id"]
        .as_u64()
        .ok_or_else(|| answer_error(what, "no agent `id`"))?;
    let authorization = &answer["authorization"];
    let client_id = authorization["clientId"].as_str().ok_or_else(|| {
        answer_error(
            what,
            "no `authorization.clientId`: the server cannot give this runner OAuth credentials",
        )
    })?;
    let auth_url = authorization["authorizationUrl"]
        .as_str()
        .ok_or_else(|| answer_error(what, "no `authorization.authorizationUrl`"))?;
    let properties = &answer["properties"];
    let property = |name: &str| -> Option<&Json> {
        properties.as_object().and_then(|p| {
            p.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.get("$value").unwrap_or(v))
        })
    };
    if let Some(url) = property("ServerUrlV2").and_then(Json::as_str) {
        settings.server_url_v2 = url.to_owned();
    }
    if let Some(v2) = property("UseV2Flow") {
        settings.use_v2_flow = v2.as_bool().unwrap_or(false)
            || v2.as_str().is_some_and(|s| s.eq_ignore_ascii_case("true"));
    }
    Ok(Credentials {
        scheme: "OAuth".to_owned(),
        data: CredentialData {
            client_id: client_id.to_owned(),
            authorization_url: auth_url.to_owned(),
            authorization_url_v2: String::new(),
            require_fips_cryptography: "True".to_owned(),
        },
    })
}

/// Removes the runner from GitHub with a removal token.
pub async fn remove(
    http: &HttpClient,
    settings: &RunnerSettings,
    token: &str,
) -> Result<(), RegistrationError> {
    let github = GithubUrl::parse(&settings.git_hub_url)?;
    let tenant = tenant_credential(http, &github, token, "remove").await?;
    if tenant.use_v2_flow || settings.use_runner_admin_flow {
        http.send(
            Method::DELETE,
            &github.entity_url(&format!("runners/{}", settings.agent_id)),
            &Auth::Registration(token.to_owned()),
            Body::Empty,
            &[],
        )
        .await?;
    } else {
        let auth = Auth::Bearer(tenant.token.clone());
        let routes = Routes::fetch(http, &tenant.url, &auth).await?;
        let values = [
            ("poolId", settings.pool_id.to_string()),
            ("agentId", settings.agent_id.to_string()),
        ];
        http.send(
            Method::DELETE,
            &routes.url(location::AGENTS, &values, "api-version=6.0-preview.2"),
            &auth,
            Body::Empty,
            &[],
        )
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_com_uses_the_api_host_and_ghes_the_api_v3_path() {
        let g = GithubUrl::parse("https://github.com/octo/hello").unwrap();
        assert_eq!(g.api, "https://api.github.com");
        assert_eq!(g.entity, "repos/octo/hello");
        assert!(g.hosted);
        let g = GithubUrl::parse("http://127.0.0.1:8080/octo/").unwrap();
        assert_eq!(g.api, "http://127.0.0.1:8080/api/v3");
        assert_eq!(g.entity, "orgs/octo");
        assert!(!g.hosted);
        let g = GithubUrl::parse("https://ghe.example/enterprises/acme").unwrap();
        assert_eq!(g.entity, "enterprises/acme");
        assert!(GithubUrl::parse("https://github.com/").is_err());
        assert!(GithubUrl::parse("ftp://github.com/a").is_err());
    }

    #[test]
    fn routes_fill_templates_and_drop_missing_values() {
        let routes = Routes {
            base: "http://x/tenant/".into(),
            definitions: vec![(
                location::AGENTS.0.to_owned(),
                "_apis/custom/{poolId}/a/{agentId}".to_owned(),
            )],
        };
        assert_eq!(
            routes.url(location::AGENTS, &[("poolId", "1".into())], "agentName=r"),
            "http://x/tenant/_apis/custom/1/a?agentName=r"
        );
        assert_eq!(
            routes.url(location::POOLS, &[], "poolType=automation"),
            "http://x/tenant/_apis/distributedtask/pools?poolType=automation"
        );
    }

    #[test]
    fn the_default_group_is_chosen_unless_one_is_named() {
        let groups = vec![
            json!({"id": 1, "name": "Default", "default": true, "is_hosted": false}),
            json!({"id": 2, "name": "gpu", "default": false, "is_hosted": false}),
            json!({"id": 3, "name": "hosted", "is_hosted": true}),
        ];
        assert_eq!(
            pick_group(&groups, None, "default", "is_hosted").unwrap()["id"],
            1
        );
        assert_eq!(
            pick_group(&groups, Some("GPU"), "default", "is_hosted").unwrap()["id"],
            2
        );
        assert!(pick_group(&groups, Some("hosted"), "default", "is_hosted").is_err());
    }
}
