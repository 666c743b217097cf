//! The runner's identity on disk: who it is (`.runner`), how it gets tokens (`.credentials`) and
//! its RSA key (`.credentials_rsaparams`), in the files and formats GitHub's runner uses, so that
//! a just-in-time configuration (`--jitconfig`), which is those three files, drops in as is.
//!
//! Every file is written with mode 0600 in a directory of mode 0700, through a temporary file
//! renamed into place, so a crash never leaves half a key. Reading accepts member names in any
//! case (GitHub's files use PascalCase or camelCase depending on who wrote them).

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{BigUint, RsaPrivateKey};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

pub const SETTINGS_FILE: &str = ".runner";
pub const CREDENTIALS_FILE: &str = ".credentials";
pub const KEY_FILE: &str = ".credentials_rsaparams";
/// Completions not yet accepted by GitHub, one file per job.
pub const PENDING_DIR: &str = "pending";

/// The size of the runner's RSA key, as GitHub's runner makes it.
pub const KEY_BITS: usize = 2048;

/// Why the identity could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("this runner is not registered ({} not found): run `hrun register` first", .0.display())]
    NotRegistered(PathBuf),
    #[error("cannot make an RSA key: {0}")]
    Key(String),
}

/// `.runner`: who the runner is and where it connects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RunnerSettings {
    pub agent_id: u64,
    pub agent_name: String,
    pub pool_id: u64,
    pub pool_name: String,
    /// The Actions service (the pool flow and job requests carried whole).
    pub server_url: String,
    /// The broker (the current flow).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub server_url_v2: String,
    pub git_hub_url: String,
    pub work_folder: String,
    pub use_v2_flow: bool,
    pub use_runner_admin_flow: bool,
    pub ephemeral: bool,
    pub disable_update: bool,
    pub is_hosted_server: bool,
}

/// `.credentials`: the OAuth client the runner authenticates as.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Credentials {
    pub scheme: String,
    pub data: CredentialData,
}

/// `.credentials` `data`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CredentialData {
    pub client_id: String,
    pub authorization_url: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub authorization_url_v2: String,
    pub require_fips_cryptography: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("scheme", &self.scheme)
            .field("data", &self.data)
            .finish()
    }
}

/// `.credentials_rsaparams`: the RSA key's parameters, base64, GitHub's member names.
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct RsaParams {
    d: String,
    dp: String,
    dq: String,
    exponent: String,
    #[serde(rename = "inverseQ")]
    inverse_q: String,
    modulus: String,
    p: String,
    q: String,
}

/// The runner's identity.
#[derive(Clone)]
pub struct Identity {
    pub settings: RunnerSettings,
    pub credentials: Credentials,
    pub key: RsaPrivateKey,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("settings", &self.settings)
            .field("credentials", &self.credentials)
            .field("key", &"RSA private key")
            .finish()
    }
}

/// A new RSA key for the runner.
pub fn new_key() -> Result<RsaPrivateKey, IdentityError> {
    let mut rng = rand::thread_rng();
    RsaPrivateKey::new(&mut rng, KEY_BITS).map_err(|e| IdentityError::Key(e.to_string()))
}

/// The public key as GitHub's pipelines API takes it: `{exponent, modulus}`, base64.
pub fn public_key_json(key: &RsaPrivateKey) -> Json {
    serde_json::json!({
        "exponent": B64.encode(key.e().to_bytes_be()),
        "modulus": B64.encode(key.n().to_bytes_be()),
    })
}

/// The public key as GitHub's runner-admin API takes it: .NET's XML form.
pub fn public_key_xml(key: &RsaPrivateKey) -> String {
    format!(
        "<RSAKeyValue><Modulus>{}</Modulus><Exponent>{}</Exponent></RSAKeyValue>",
        B64.encode(key.n().to_bytes_be()),
        B64.encode(key.e().to_bytes_be())
    )
}

/// The object with each top-level member name's first letter lowered (`AgentId` → `agentId`).
fn camel_members(value: Json) -> Json {
    match value {
        Json::Object(map) => Json::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let mut chars = k.chars();
                    let key = match chars.next() {
                        Some(c) => c.to_ascii_lowercase().to_string() + chars.as_str(),
                        None => k,
                    };
                    let v = if key == "data" { camel_members(v) } else { v };
                    (key, v)
                })
                .collect(),
        ),
        other => other,
    }
}

fn invalid(path: &Path, message: impl Into<String>) -> IdentityError {
    IdentityError::Invalid {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, IdentityError> {
    let text = std::fs::read(path).map_err(|source| {
        if source.kind() == std::io::ErrorKind::NotFound {
            IdentityError::NotRegistered(path.to_path_buf())
        } else {
            IdentityError::Io {
                path: path.to_path_buf(),
                source,
            }
        }
    })?;
    // A UTF-8 byte order mark, as .NET may write one.
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&text);
    let value: Json = serde_json::from_slice(text).map_err(|e| invalid(path, e.to_string()))?;
    serde_json::from_value(camel_members(value)).map_err(|e| invalid(path, e.to_string()))
}

/// Makes `dir` (mode 0700) if needed.
pub fn ensure_dir(dir: &Path) -> Result<(), IdentityError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|source| IdentityError::Io {
            path: dir.to_path_buf(),
            source,
        })
}

/// Writes `bytes` to `path` with mode 0600, through a temporary file renamed into place.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), IdentityError> {
    let io = |source| IdentityError::Io {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    // The mode given at creation is reduced by the umask; never widened.
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

fn b64_uint(path: &Path, name: &str, text: &str) -> Result<BigUint, IdentityError> {
    let bytes = B64
        .decode(text.trim())
        .map_err(|e| invalid(path, format!("`{name}` is not base64: {e}")))?;
    if bytes.is_empty() {
        return Err(invalid(path, format!("`{name}` is empty")));
    }
    Ok(BigUint::from_bytes_be(&bytes))
}

impl Identity {
    /// Reads the identity from `dir`.
    pub fn load(dir: &Path) -> Result<Identity, IdentityError> {
        let settings: RunnerSettings = read_json(&dir.join(SETTINGS_FILE))?;
        let credentials: Credentials = read_json(&dir.join(CREDENTIALS_FILE))?;
        let key_path = dir.join(KEY_FILE);
        let params: RsaParams = read_json(&key_path)?;
        let n = b64_uint(&key_path, "modulus", &params.modulus)?;
        let e = b64_uint(&key_path, "exponent", &params.exponent)?;
        let d = b64_uint(&key_path, "d", &params.d)?;
        let p = b64_uint(&key_path, "p", &params.p)?;
        let q = b64_uint(&key_path, "q", &params.q)?;
        let mut key = RsaPrivateKey::from_components(n, e, d, vec![p, q])
            .map_err(|e| invalid(&key_path, e.to_string()))?;
        key.validate()
            .map_err(|e| invalid(&key_path, format!("not a valid RSA key: {e}")))?;
        key.precompute()
            .map_err(|e| invalid(&key_path, e.to_string()))?;
        if credentials.data.client_id.is_empty() || credentials.data.authorization_url.is_empty() {
            return Err(invalid(
                &dir.join(CREDENTIALS_FILE),
                "no `clientId` or `authorizationUrl`: register the runner again",
            ));
        }
        Ok(Identity {
            settings,
            credentials,
            key,
        })
    }

    /// Writes the identity to `dir` (each file mode 0600).
    pub fn save(&self, dir: &Path) -> Result<(), IdentityError> {
        ensure_dir(dir)?;
        write_private(&dir.join(SETTINGS_FILE), &pretty(&self.settings))?;
        write_private(&dir.join(CREDENTIALS_FILE), &pretty(&self.credentials))?;
        let mut key = self.key.clone();
        key.precompute()
            .map_err(|e| IdentityError::Key(e.to_string()))?;
        let primes = key.primes();
        let (p, q) = match primes {
            [p, q] => (p.clone(), q.clone()),
            _ => return Err(IdentityError::Key("the key must have two primes".into())),
        };
        let b = |n: &BigUint| B64.encode(n.to_bytes_be());
        let params = RsaParams {
            d: b(key.d()),
            dp: key.dp().map(b).unwrap_or_default(),
            dq: key.dq().map(b).unwrap_or_default(),
            exponent: b(key.e()),
            inverse_q: key.crt_coefficient().map(|c| b(&c)).unwrap_or_default(),
            modulus: b(key.n()),
            p: b(&p),
            q: b(&q),
        };
        write_private(&dir.join(KEY_FILE), &pretty(&params))
    }
}

/// A file's JSON text.
fn pretty<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(value).unwrap_or_default()
}

/// Writes the files of a just-in-time configuration (base64 of a JSON map from file name to
/// base64 contents) into `dir`. Only GitHub's three identity files are accepted.
pub fn write_jit_config(dir: &Path, blob: &str) -> Result<Vec<String>, IdentityError> {
    let here = Path::new("--jitconfig");
    let decoded = B64
        .decode(blob.trim())
        .map_err(|e| invalid(here, format!("not base64: {e}")))?;
    let files: serde_json::Map<String, Json> = serde_json::from_slice(&decoded)
        .map_err(|e| invalid(here, format!("not a JSON map: {e}")))?;
    let mut decoded_files = Vec::new();
    for (name, value) in &files {
        if ![SETTINGS_FILE, CREDENTIALS_FILE, KEY_FILE].contains(&name.as_str()) {
            return Err(invalid(
                here,
                format!("unexpected file `{name}` (expected .runner, .credentials, .credentials_rsaparams)"),
            ));
        }
        let text = value
            .as_str()
            .ok_or_else(|| invalid(here, format!("`{name}` is not a string")))?;
        let contents = B64
            .decode(text.trim())
            .map_err(|e| invalid(here, format!("`{name}` is not base64: {e}")))?;
        decoded_files.push((name.clone(), contents));
    }
    ensure_dir(dir)?;
    let mut written = Vec::new();
    for (name, contents) in decoded_files {
        write_private(&dir.join(&name), &contents)?;
        written.push(name);
    }
    // The files must make a usable identity.
    Identity::load(dir)?;
    Ok(written)
}

/// Removes the identity files (and pending completions) from `dir`.
pub fn remove(dir: &Path) -> Result<(), IdentityError> {
    for name in [SETTINGS_FILE, CREDENTIALS_FILE, KEY_FILE] {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => return Err(IdentityError::Io { path, source }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn small_key() -> RsaPrivateKey {
        // Tests use a small key: 2048-bit generation is slow in debug builds.
        RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap()
    }

    fn identity() -> Identity {
        Identity {
            settings: RunnerSettings {
                agent_id: 7,
                agent_name: "r1".into(),
                server_url_v2: "http://127.0.0.1:1/broker/".into(),
                use_v2_flow: true,
                ..Default::default()
            },
            credentials: Credentials {
                scheme: "OAuth".into(),
                data: CredentialData {
                    client_id: "c1".into(),
                    authorization_url: "http://127.0.0.1:1/oauth".into(),
                    ..Default::default()
                },
            },
            key: small_key(),
        }
    }

    #[test]
    fn the_identity_round_trips_with_private_file_modes() {
        let dir = tempfile::tempdir().unwrap();
        let id = identity();
        id.save(dir.path()).unwrap();
        for name in [SETTINGS_FILE, CREDENTIALS_FILE, KEY_FILE] {
            let mode = std::fs::metadata(dir.path().join(name)).unwrap().mode() & 0o777;
            assert_eq!(mode, 0o600, "{name}");
        }
        let back = Identity::load(dir.path()).unwrap();
        assert_eq!(back.settings, id.settings);
        assert_eq!(back.credentials, id.credentials);
        assert_eq!(back.key, id.key);
    }

    #[test]
    fn pascal_case_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        identity().save(dir.path()).unwrap();
        std::fs::write(
            dir.path().join(SETTINGS_FILE),
            r#"{"AgentId": 12, "AgentName": "x", "ServerUrlV2": "http://b/", "UseV2Flow": true}"#,
        )
        .unwrap();
        std::fs::write(
            dir.path().join(CREDENTIALS_FILE),
            r#"{"Scheme": "OAuth", "Data": {"ClientId": "c", "AuthorizationUrl": "http://a/"}}"#,
        )
        .unwrap();
        let id = Identity::load(dir.path()).unwrap();
        assert_eq!(id.settings.agent_id, 12);
        assert_eq!(id.credentials.data.client_id, "c");
    }

    #[test]
    fn a_jit_config_writes_the_three_files() {
        let source = tempfile::tempdir().unwrap();
        identity().save(source.path()).unwrap();
        let mut map = serde_json::Map::new();
        for name in [SETTINGS_FILE, CREDENTIALS_FILE, KEY_FILE] {
            let bytes = std::fs::read(source.path().join(name)).unwrap();
            map.insert(name.to_owned(), Json::String(B64.encode(bytes)));
        }
        let blob = B64.encode(serde_json::to_vec(&map).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let written = write_jit_config(dir.path(), &blob).unwrap();
        assert_eq!(written.len(), 3);
        assert_eq!(Identity::load(dir.path()).unwrap().settings.agent_id, 7);
    }

    #[test]
    fn a_jit_config_with_another_file_is_refused() {
        let mut map = serde_json::Map::new();
        map.insert("../evil".to_owned(), Json::String(B64.encode("x")));
        let blob = B64.encode(serde_json::to_vec(&map).unwrap());
        let dir = tempfile::tempdir().unwrap();
        let err = write_jit_config(dir.path(), &blob).unwrap_err();
        assert!(err.to_string().contains("unexpected file"), "{err}");
        assert!(!dir.path().join("../evil").exists());
    }

    #[test]
    fn a_missing_identity_says_to_register() {
        let dir = tempfile::tempdir().unwrap();
        let err = Identity::load(dir.path()).unwrap_err();
        assert!(err.to_string().contains("hrun register"), "{err}");
    }
}
