//! Minting a registration (or removal) token through a GitHub App, so that `hrun register` needs
//! no token pasted from the web page: an App JWT (RS256 over `iat`, `exp`, `iss`) signed with the
//! App's private key, exchanged for an installation token, which asks the REST API for a runner
//! registration token of the repository, organization or enterprise.

use std::time::{SystemTime, UNIX_EPOCH};

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use rsa::RsaPrivateKey;
use serde::{Deserialize, Serialize};

use super::auth::rs256;
use super::registration::GithubUrl;

/// Why no token could be minted.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("the App's private key is not an RSA key in PEM form: {0}")]
    Key(String),
    #[error("cannot sign the App JWT: {0}")]
    Sign(String),
    #[error("GitHub API: {0}")]
    Api(String),
}

#[derive(Serialize)]
struct AppClaims {
    iat: u64,
    exp: u64,
    iss: String,
}

#[derive(Deserialize)]
struct TokenAnswer {
    token: String,
}

/// Reads an App's private key (PKCS#1 `RSA PRIVATE KEY`, as GitHub gives it, or PKCS#8).
pub fn read_app_key(pem: &str) -> Result<RsaPrivateKey, AppError> {
    RsaPrivateKey::from_pkcs1_pem(pem)
        .or_else(|_| RsaPrivateKey::from_pkcs8_pem(pem))
        .map_err(|e| AppError::Key(e.to_string()))
}

/// The App JWT: valid from a minute ago (clock drift) for nine minutes (GitHub allows ten).
pub fn app_jwt(app_id: &str, key: &RsaPrivateKey) -> Result<String, AppError> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = AppClaims {
        iat: now.saturating_sub(60),
        exp: now + 540,
        iss: app_id.to_owned(),
    };
    rs256(&claims, key).map_err(|e| AppError::Sign(e.to_string()))
}

/// A runner token of `kind` (`registration` or `remove`) for the scope of `github`, through the
/// App's installation.
pub async fn mint_runner_token(
    github: &GithubUrl,
    app_id: &str,
    key: &RsaPrivateKey,
    installation_id: u64,
    kind: &str,
) -> Result<String, AppError> {
    let api = |e: octocrab::Error| AppError::Api(e.to_string());
    let jwt = app_jwt(app_id, key)?;
    let as_app = octocrab::Octocrab::builder()
        .base_uri(github.api.as_str())
        .map_err(api)?
        .personal_token(jwt)
        .build()
        .map_err(api)?;
    let installation: TokenAnswer = as_app
        .post(
            format!("/app/installations/{installation_id}/access_tokens"),
            None::<&()>,
        )
        .await
        .map_err(api)?;
    let as_installation = octocrab::Octocrab::builder()
        .base_uri(github.api.as_str())
        .map_err(api)?
        .personal_token(installation.token)
        .build()
        .map_err(api)?;
    let runner: TokenAnswer = as_installation
        .post(
            format!("/{}/actions/runners/{kind}-token", github.entity),
            None::<&()>,
        )
        .await
        .map_err(api)?;
    Ok(runner.token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1::EncodeRsaPrivateKey;

    #[test]
    fn reads_a_pkcs1_pem_key_and_signs_an_app_jwt() {
        let key = RsaPrivateKey::new(&mut rand::thread_rng(), 1024).unwrap();
        let pem = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
        let read = read_app_key(&pem).unwrap();
        let jwt = app_jwt("12345", &read).unwrap();
        assert_eq!(jwt.split('.').count(), 3);
        assert!(read_app_key("not a key").is_err());
    }
}
