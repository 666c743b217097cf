//! The runner's OAuth token: an RS256 JWT signed with the runner's key, exchanged at the
//! authorization URL for an access token (the client-credentials grant with a JWT client
//! assertion), kept until shortly before it expires and fetched again then, or at once when a
//! service answers 401.
//!
//! The assertion's claims are those GitHub's runner makes: `iss` and `sub` the client id, `aud`
//! the authorization URL, `jti` a fresh random id, `nbf`/`iat` now and `exp` five minutes later.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::Method;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::RsaPrivateKey;
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use super::http::{Auth, Body, HttpClient, HttpError};

/// How long a client assertion is valid.
const ASSERTION_LIFETIME: Duration = Duration::from_secs(300);
/// A token is fetched again this long before it expires.
const REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// When the token answer gives no lifetime.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(50 * 60);

/// Why no token could be had.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cannot sign the client assertion: {0}")]
    Sign(String),
    #[error("the authorization service refused the runner ({error}): {description}")]
    Refused { error: String, description: String },
    #[error(transparent)]
    Http(#[from] HttpError),
}

impl AuthError {
    /// Whether trying again may help.
    pub fn is_transient(&self) -> bool {
        matches!(self, AuthError::Http(e) if e.is_transient())
    }
}

#[derive(Serialize)]
struct AssertionClaims<'a> {
    sub: &'a str,
    iss: &'a str,
    aud: &'a str,
    jti: String,
    nbf: u64,
    iat: u64,
    exp: u64,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A random id in the form of a GUID.
pub fn random_guid() -> String {
    let b: [u8; 16] = rand::random();
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-4{:01x}{:02x}-{:01x}{:01x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[0], b[1], b[2], b[3], b[4], b[5], b[6] & 0x0f, b[7], 8 | (b[8] & 0x3), b[8] >> 4, b[9],
        b[10], b[11], b[12], b[13], b[14], b[15]
    )
}

/// The signed client assertion for `client_id` at `audience` (the authorization URL).
pub fn client_assertion(
    client_id: &str,
    audience: &str,
    key: &RsaPrivateKey,
) -> Result<String, AuthError> {
    let now = now_secs();
    let claims = AssertionClaims {
        sub: client_id,
        iss: client_id,
        aud: audience,
        jti: random_guid(),
        nbf: now,
        iat: now,
        exp: now + ASSERTION_LIFETIME.as_secs(),
    };
    rs256(&claims, key)
}

/// Signs `claims` with RS256.
pub fn rs256<T: Serialize>(claims: &T, key: &RsaPrivateKey) -> Result<String, AuthError> {
    let der = key
        .to_pkcs1_der()
        .map_err(|e| AuthError::Sign(e.to_string()))?;
    let encoding = EncodingKey::from_rsa_der(der.as_bytes());
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &encoding)
        .map_err(|e| AuthError::Sign(e.to_string()))
}

#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: String,
    #[serde(default)]
    expires_in: Option<u64>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

#[derive(Clone)]
struct Cached {
    token: String,
    refresh_at: SystemTime,
}

/// Where the runner gets its access token from; shared by every call of the protocol.
pub struct TokenSource {
    http: HttpClient,
    client_id: String,
    authorization_url: String,
    key: RsaPrivateKey,
    cached: Mutex<Option<Cached>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSource")
            .field("client_id", &self.client_id)
            .field("authorization_url", &self.authorization_url)
            .finish()
    }
}

impl TokenSource {
    pub fn new(
        http: HttpClient,
        client_id: String,
        authorization_url: String,
        key: RsaPrivateKey,
    ) -> TokenSource {
        TokenSource {
            http,
            client_id,
            authorization_url,
            key,
            cached: Mutex::new(None),
        }
    }

    /// A valid access token: the one held, or a new one when it is about to expire.
    pub async fn token(&self) -> Result<String, AuthError> {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            if SystemTime::now() < c.refresh_at {
                return Ok(c.token.clone());
            }
        }
        let fresh = self.fetch().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Drops the token held (a service answered 401): the next call fetches a new one.
    pub async fn invalidate(&self) {
        *self.cached.lock().await = None;
    }

    async fn fetch(&self) -> Result<Cached, AuthError> {
        let assertion = client_assertion(&self.client_id, &self.authorization_url, &self.key)?;
        let form = vec![
            ("grant_type".to_owned(), "client_credentials".to_owned()),
            (
                "client_assertion_type".to_owned(),
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer".to_owned(),
            ),
            ("client_assertion".to_owned(), assertion),
        ];
        let result = self
            .http
            .send(
                Method::POST,
                &self.authorization_url,
                &Auth::None,
                Body::Form(form),
                &[],
            )
            .await;
        let answer = match result {
            Ok(a) => a,
            Err(e) => {
                // An OAuth error answer says why (`invalid_client`: the runner was removed).
                if let Some(body) = e.body() {
                    if let Ok(t) = serde_json::from_str::<TokenAnswer>(body) {
                        if let Some(error) = t.error {
                            return Err(AuthError::Refused {
                                error,
                                description: t.error_description.unwrap_or_default(),
                            });
                        }
                    }
                }
                return Err(e.into());
            }
        };
        let parsed: TokenAnswer = serde_json::from_slice(&answer.body).map_err(|e| {
            AuthError::Http(HttpError::Body {
                method: Method::POST,
                url: self.authorization_url.clone(),
                message: e.to_string(),
            })
        })?;
        if parsed.access_token.is_empty() {
            return Err(AuthError::Refused {
                error: parsed.error.unwrap_or_else(|| "no access_token".to_owned()),
                description: parsed.error_description.unwrap_or_default(),
            });
        }
        let lifetime = parsed
            .expires_in
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        let refresh_in = lifetime.saturating_sub(REFRESH_MARGIN.min(lifetime / 2));
        Ok(Cached {
            token: parsed.access_token,
            refresh_at: SystemTime::now() + refresh_in,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn the_client_assertion_carries_githubs_claims_and_verifies_with_the_public_key() {
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
        let jwt = client_assertion("client-1", "http://127.0.0.1/oauth", &key).unwrap();
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let decode = |s: &str| {
            let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap();
            serde_json::from_slice::<serde_json::Value>(&bytes).unwrap()
        };
        assert_eq!(decode(parts[0])["alg"], "RS256");
        let claims = decode(parts[1]);
        assert_eq!(claims["iss"], "client-1");
        assert_eq!(claims["sub"], "client-1");
        assert_eq!(claims["aud"], "http://127.0.0.1/oauth");
        assert_eq!(
            claims["exp"].as_u64().unwrap() - claims["iat"].as_u64().unwrap(),
            300
        );
        use rsa::pkcs1::EncodeRsaPublicKey;
        let public = key.to_public_key().to_pkcs1_der().unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::RS256);
        validation.set_audience(&["http://127.0.0.1/oauth"]);
        let checked = jsonwebtoken::decode::<serde_json::Value>(
            &jwt,
            &jsonwebtoken::DecodingKey::from_rsa_der(public.as_bytes()),
            &validation,
        );
        assert!(checked.is_ok(), "{checked:?}");
    }

    #[test]
    fn guids_have_the_usual_form() {
        let g = random_guid();
        assert_eq!(g.len(), 36);
        assert_eq!(g.matches('-').count(), 4);
        assert_ne!(g, random_guid());
    }
}
