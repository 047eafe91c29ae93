//! Provider identities: turns what an identity provider gave the app into a verified
//! (provider, subject) pair the relay can link to an account.
//!
//! Two kinds of provider, one code path each:
//! - **OpenID Connect** (Google, Kakao, any issuer by configuration): the app sends the ID token
//!   and the nonce it put in its authorization request. The relay finds the issuer's keys through
//!   discovery (`{issuer}/.well-known/openid-configuration` → `jwks_uri`), caches them, fetches
//!   them again when a token names a key id it does not know (key rotation; at most once a
//!   minute), and checks the signature (RSA or ECDSA, never `none` or HMAC), `iss`, `aud`
//!   (must contain a configured client id; `azp`, when present, must be one), `exp` / `nbf` /
//!   `iat` against the relay clock with a minute of leeway, and that `nonce` equals the one the
//!   app sent.
//! - **Plain OAuth2** (GitHub, which issues no ID token): the app sends the access token; the
//!   relay calls `GET {api}/user` with it and takes the numeric user id as the subject.
//!   Limitation: the user endpoint does not tell which OAuth app the token was issued to, so any
//!   GitHub token of that user is accepted (binding it to our client id needs the app's client
//!   secret and GitHub's token-check API, which the relay does not hold).
//!
//! Issuers and API addresses must be `https://`, except on loopback (tests, local mocks).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::clock::Clock;

/// Slack allowed on `exp`, `nbf` and `iat`, for clocks that disagree a little.
pub const LEEWAY: Duration = Duration::from_secs(60);
/// How long fetched keys are used before being fetched again.
pub const KEYS_TTL: Duration = Duration::from_secs(3600);
/// A token with an unknown key id makes the relay fetch the keys again, at most this often.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(60);
/// How long one request to a provider may take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(10);

/// Signature algorithms accepted on ID tokens (asymmetric only).
const ALGORITHMS: &[Algorithm] = &[
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// One configured identity provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderConfig {
    /// What clients call it (`google`, `kakao`, `github`, or the operator's choice). It is part
    /// of every stored link, so renaming a provider unlinks its users.
    pub name: String,
    pub kind: ProviderKind,
    /// The OAuth client ids of the app at this provider; an ID token's audience must hold one.
    pub client_ids: Vec<String>,
}

/// How a provider's tokens are verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenID Connect: ID tokens checked against the issuer's published keys.
    Oidc {
        issuer: String,
        /// Other spellings of the issuer the provider puts in `iss` (Google also uses
        /// `accounts.google.com` without the scheme).
        other_issuers: Vec<String>,
    },
    /// GitHub-style OAuth2: the access token is checked by calling `GET {api_base}/user`.
    GitHub { api_base: String },
}

impl ProviderConfig {
    /// Any OpenID Connect provider by issuer URL.
    pub fn oidc(name: &str, issuer: &str, client_id: &str) -> Self {
        ProviderConfig {
            name: name.to_owned(),
            kind: ProviderKind::Oidc {
                issuer: issuer.trim_end_matches('/').to_owned(),
                other_issuers: vec![],
            },
            client_ids: vec![client_id.to_owned()],
        }
    }

    /// Google (OpenID Connect, issuer `https://accounts.google.com`).
    pub fn google(client_id: &str) -> Self {
        let mut p = Self::oidc("google", "https://accounts.google.com", client_id);
        p.kind = ProviderKind::Oidc {
            issuer: "https://accounts.google.com".into(),
            other_issuers: vec!["accounts.google.com".into()],
        };
        p
    }

    /// Kakao (OpenID Connect, issuer `https://kauth.kakao.com`).
    pub fn kakao(client_id: &str) -> Self {
        Self::oidc("kakao", "https://kauth.kakao.com", client_id)
    }

    /// GitHub (plain OAuth2; the user endpoint at `https://api.github.com`).
    pub fn github(client_id: &str) -> Self {
        Self::github_at(client_id, "https://api.github.com")
    }

    /// GitHub with another API address (GitHub Enterprise, or a mock in tests).
    pub fn github_at(client_id: &str, api_base: &str) -> Self {
        ProviderConfig {
            name: "github".into(),
            kind: ProviderKind::GitHub {
                api_base: api_base.trim_end_matches('/').to_owned(),
            },
            client_ids: vec![client_id.to_owned()],
        }
    }

    /// Checks what an operator configured: a name clients can send, at least one client id,
    /// and https addresses (plain http only on loopback).
    pub fn check(&self) -> Result<(), String> {
        if self.name.is_empty()
            || self.name.len() > 40
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(format!(
                "provider name {:?} must be 1–40 of a-z 0-9 - _",
                self.name
            ));
        }
        if self.client_ids.iter().all(|c| c.trim().is_empty()) {
            return Err(format!("provider {:?} needs a client id", self.name));
        }
        let url = match &self.kind {
            ProviderKind::Oidc { issuer, .. } => issuer,
            ProviderKind::GitHub { api_base } => api_base,
        };
        if !secure_url(url) {
            return Err(format!(
                "provider {:?}: {url:?} must be an https:// address (http only on loopback)",
                self.name
            ));
        }
        Ok(())
    }
}

/// https anywhere, or http on a loopback address.
fn secure_url(url: &str) -> bool {
    let Ok(u) = reqwest::Url::parse(url) else {
        return false;
    };
    match u.scheme() {
        "https" => true,
        "http" => {
            matches!(u.host(), Some(url::Host::Ipv4(ip)) if ip.is_loopback())
                || matches!(u.host(), Some(url::Host::Ipv6(ip)) if ip.is_loopback())
                || u.host_str() == Some("localhost")
        }
        _ => false,
    }
}

/// A verified identity at a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider's configured name.
    pub provider: String,
    /// The provider's stable id for the person (`sub`, or GitHub's numeric id).
    pub subject: String,
    /// A handle to suggest at first log-in (a preferred user name, login or e-mail local part).
    pub handle_hint: Option<String>,
    /// The person's name at the provider, for the new account's display name.
    pub display_name: Option<String>,
}

/// Why a provider identity was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("no provider named {0:?} is configured on this relay")]
    UnknownProvider(String),
    #[error("{0}")]
    MissingCredential(&'static str),
    /// The token is not valid for this relay (signature, issuer, audience, expiry, nonce …).
    #[error("the provider token was refused: {0}")]
    Rejected(String),
    /// The provider (discovery, keys, user endpoint) could not be reached or answered nonsense.
    #[error("the provider could not be reached: {0}")]
    Unavailable(String),
}

/// Keys fetched from an issuer.
#[derive(Debug)]
struct Keys {
    jwks_uri: String,
    keys: Vec<Jwk>,
    fetched_at_ms: u64,
}

/// The configured providers, with an HTTP client and each issuer's cached keys.
#[derive(Debug)]
pub struct Providers {
    configs: HashMap<String, ProviderConfig>,
    /// One lock per provider, so a slow issuer holds up only its own log-ins.
    keys: HashMap<String, tokio::sync::Mutex<Option<Keys>>>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
}

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    exp: u64,
    #[serde(default)]
    nbf: Option<u64>,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    azp: Option<String>,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    nickname: Option<String>,
    #[serde(default)]
    preferred_username: Option<String>,
}

#[derive(Deserialize)]
struct GitHubUser {
    id: u64,
    login: String,
    #[serde(default)]
    name: Option<String>,
}

impl Providers {
    /// The providers in `configs` (each checked with [`ProviderConfig::check`]).
    pub fn new(configs: Vec<ProviderConfig>, clock: Arc<dyn Clock>) -> Result<Self, String> {
        let mut map = HashMap::new();
        for c in configs {
            c.check()?;
            if map.insert(c.name.clone(), c.clone()).is_some() {
                return Err(format!("provider {:?} is configured twice", c.name));
            }
        }
        let keys = map
            .keys()
            .map(|k| (k.clone(), tokio::sync::Mutex::new(None)))
            .collect();
        let http = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .user_agent(concat!("movietalk-relay/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(Providers {
            configs: map,
            keys,
            http,
            clock,
        })
    }

    /// The configured providers' names, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<_> = self.configs.keys().cloned().collect();
        names.sort();
        names
    }

    /// Verifies a credential from `provider`: an ID token with the client's `nonce` for OpenID
    /// Connect providers, an access token for GitHub-style ones.
    pub async fn verify(
        &self,
        provider: &str,
        id_token: Option<&str>,
        access_token: Option<&str>,
        nonce: Option<&str>,
    ) -> Result<Identity, VerifyError> {
        let config = self
            .configs
            .get(provider)
            .ok_or_else(|| VerifyError::UnknownProvider(provider.to_owned()))?;
        match &config.kind {
            ProviderKind::Oidc {
                issuer,
                other_issuers,
            } => {
                let token = id_token.ok_or(VerifyError::MissingCredential(
                    "this provider needs an id_token",
                ))?;
                let nonce =
                    nonce
                        .filter(|n| !n.is_empty())
                        .ok_or(VerifyError::MissingCredential(
                            "an id_token needs the nonce the client sent",
                        ))?;
                self.verify_id_token(config, issuer, other_issuers, token, nonce)
                    .await
            }
            ProviderKind::GitHub { api_base } => {
                let token = access_token.ok_or(VerifyError::MissingCredential(
                    "this provider needs an access_token",
                ))?;
                self.verify_github(config, api_base, token).await
            }
        }
    }

    async fn verify_id_token(
        &self,
        config: &ProviderConfig,
        issuer: &str,
        other_issuers: &[String],
        token: &str,
        nonce: &str,
    ) -> Result<Identity, VerifyError> {
        let header = jsonwebtoken::decode_header(token)
            .map_err(|e| VerifyError::Rejected(format!("not a JWT: {e}")))?;
        if !ALGORITHMS.contains(&header.alg) {
            return Err(VerifyError::Rejected(format!(
                "signature algorithm {:?} is not accepted",
                header.alg
            )));
        }
        let jwk = self.key_for(config, issuer, header.kid.as_deref()).await?;
        if let Some(alg) = jwk.common.key_algorithm
            && alg.to_string() != format!("{:?}", header.alg)
        {
            return Err(VerifyError::Rejected(
                "the token's algorithm is not its key's".into(),
            ));
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|e| {
            VerifyError::Unavailable(format!("unusable key in the issuer's JWKS: {e}"))
        })?;
        let mut validation = Validation::new(header.alg);
        let mut issuers = vec![issuer.to_owned()];
        issuers.extend(other_issuers.iter().cloned());
        validation.set_issuer(&issuers);
        validation.set_audience(&config.client_ids);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Time is checked below against the relay's (injectable) clock.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        let data = jsonwebtoken::decode::<Claims>(token, &key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind as K;
            VerifyError::Rejected(match e.kind() {
                K::InvalidSignature => "the signature does not verify".into(),
                K::InvalidIssuer => "wrong issuer".into(),
                K::InvalidAudience => "wrong audience".into(),
                K::InvalidAlgorithm => "wrong algorithm for the key".into(),
                K::MissingRequiredClaim(c) => format!("the {c} claim is missing"),
                other => format!("{other:?}"),
            })
        })?;
        let c = data.claims;
        let now = self.clock.now_ms() / 1000;
        let leeway = LEEWAY.as_secs();
        if c.exp.saturating_add(leeway) < now {
            return Err(VerifyError::Rejected("the token expired".into()));
        }
        if c.nbf.is_some_and(|nbf| nbf > now + leeway)
            || c.iat.is_some_and(|iat| iat > now + leeway)
        {
            return Err(VerifyError::Rejected("the token is not valid yet".into()));
        }
        if c.nonce.as_deref() != Some(nonce) {
            return Err(VerifyError::Rejected(
                "the nonce does not match the client's".into(),
            ));
        }
        if let Some(azp) = &c.azp
            && !config.client_ids.contains(azp)
        {
            return Err(VerifyError::Rejected(
                "the token was issued to another client (azp)".into(),
            ));
        }
        if c.sub.is_empty() {
            return Err(VerifyError::Rejected("empty subject".into()));
        }
        let email_name = c
            .email
            .as_deref()
            .and_then(|e| e.split('@').next())
            .map(str::to_owned);
        Ok(Identity {
            provider: config.name.clone(),
            subject: c.sub,
            handle_hint: c.preferred_username.or(c.nickname.clone()).or(email_name),
            display_name: c.name.or(c.nickname),
        })
    }

    /// The issuer's key for `kid`: from the cache, or fetched (again) when the cache is stale or
    /// does not know the key and was not fetched within [`REFETCH_INTERVAL`].
    async fn key_for(
        &self,
        config: &ProviderConfig,
        issuer: &str,
        kid: Option<&str>,
    ) -> Result<Jwk, VerifyError> {
        let mut cached = self
            .keys
            .get(&config.name)
            .expect("a lock per provider")
            .lock()
            .await;
        let now = self.clock.now_ms();
        let find = |keys: &Keys| -> Option<Jwk> {
            match kid {
                Some(kid) => keys
                    .keys
                    .iter()
                    .find(|k| k.common.key_id.as_deref() == Some(kid))
                    .cloned(),
                None if keys.keys.len() == 1 => keys.keys.first().cloned(),
                None => None,
            }
        };
        if let Some(keys) = cached.as_ref() {
            let fresh = now.saturating_sub(keys.fetched_at_ms) < KEYS_TTL.as_millis() as u64;
            if fresh && let Some(k) = find(keys) {
                return Ok(k);
            }
            let recently =
                now.saturating_sub(keys.fetched_at_ms) < REFETCH_INTERVAL.as_millis() as u64;
            if recently {
                return Err(VerifyError::Rejected(
                    "the token's key id is not among the issuer's keys".into(),
                ));
            }
        }
        let jwks_uri = match cached.as_ref() {
            Some(k) => k.jwks_uri.clone(),
            None => self.discover(issuer).await?,
        };
        let keys = self.fetch_keys(&jwks_uri).await?;
        let keys = cached.insert(Keys {
            jwks_uri,
            keys,
            fetched_at_ms: now,
        });
        find(keys).ok_or_else(|| {
            VerifyError::Rejected("the token's key id is not among the issuer's keys".into())
        })
    }

    /// The issuer's `jwks_uri`, from its discovery document (whose `issuer` must be the one configured).
    async fn discover(&self, issuer: &str) -> Result<String, VerifyError> {
        let url = format!("{issuer}/.well-known/openid-configuration");
        let doc: Discovery = self.get_json(&url).await?;
        if doc.issuer.trim_end_matches('/') != issuer {
            return Err(VerifyError::Unavailable(format!(
                "the discovery document names issuer {:?}, not {issuer:?}",
                doc.issuer
            )));
        }
        if !secure_url(&doc.jwks_uri) {
            return Err(VerifyError::Unavailable(format!(
                "jwks_uri {:?} is not https",
                doc.jwks_uri
            )));
        }
        Ok(doc.jwks_uri)
    }

    /// The usable signing keys of a JWKS (keys of kinds this relay cannot use are skipped).
    async fn fetch_keys(&self, jwks_uri: &str) -> Result<Vec<Jwk>, VerifyError> {
        #[derive(Deserialize)]
        struct RawSet {
            keys: Vec<serde_json::Value>,
        }
        let raw: RawSet = self.get_json(jwks_uri).await?;
        Ok(raw
            .keys
            .into_iter()
            .filter_map(|k| serde_json::from_value::<Jwk>(k).ok())
            .filter(|k| !matches!(k.common.public_key_use, Some(PublicKeyUse::Encryption)))
            .collect())
    }

    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &str) -> Result<T, VerifyError> {
        let unavailable = |e: String| VerifyError::Unavailable(format!("{url}: {e}"));
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        if !resp.status().is_success() {
            return Err(unavailable(format!("HTTP {}", resp.status())));
        }
        resp.json::<T>()
            .await
            .map_err(|e| unavailable(e.to_string()))
    }

    async fn verify_github(
        &self,
        config: &ProviderConfig,
        api_base: &str,
        token: &str,
    ) -> Result<Identity, VerifyError> {
        let url = format!("{api_base}/user");
        let resp = self
            .http
            .get(&url)
            .bearer_auth(token)
            .header("Accept", "application/vnd.github+json")
            .send()
            .await
            .map_err(|e| VerifyError::Unavailable(format!("{url}: {e}")))?;
        match resp.status().as_u16() {
            200..=299 => {}
            401 | 403 => {
                return Err(VerifyError::Rejected(
                    "GitHub did not accept the access token".into(),
                ));
            }
            s => return Err(VerifyError::Unavailable(format!("{url}: HTTP {s}"))),
        }
        let user: GitHubUser = resp
            .json()
            .await
            .map_err(|e| VerifyError::Unavailable(format!("{url}: {e}")))?;
        Ok(Identity {
            provider: config.name.clone(),
            subject: user.id.to_string(),
            handle_hint: Some(user.login.clone()),
            display_name: user.name.filter(|n| !n.trim().is_empty()),
        })
    }
}

/// Turns a provider's user name into a handle candidate (`a-z 0-9 _ . -`, 3–30 long).
pub fn handle_candidate(hint: &str) -> Option<String> {
    let mut h: String = hint
        .to_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    h.truncate(27);
    let h = h
        .trim_matches(|c| c == '_' || c == '.' || c == '-')
        .to_owned();
    (h.len() >= 3).then_some(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_addresses_are_accepted() {
        assert!(secure_url("https://accounts.google.com"));
        assert!(secure_url("http://127.0.0.1:8080/x"));
        assert!(secure_url("http://localhost:1"));
        assert!(!secure_url("http://accounts.example.com"));
        assert!(!secure_url("ftp://127.0.0.1"));
        assert!(
            ProviderConfig::oidc("corp", "http://sso.example.com", "id")
                .check()
                .is_err()
        );
        assert!(
            ProviderConfig::oidc("corp sso", "https://sso.example.com", "id")
                .check()
                .is_err()
        );
        assert!(
            ProviderConfig::oidc("corp", "https://sso.example.com", " ")
                .check()
                .is_err()
        );
        assert!(
            ProviderConfig::google("id").check().is_ok()
                && ProviderConfig::kakao("id").check().is_ok()
        );
    }

    #[test]
    fn handle_candidates_are_valid_handles() {
        assert_eq!(
            handle_candidate("Min-Ji Kim").as_deref(),
            Some("min-ji_kim")
        );
        assert_eq!(handle_candidate("octocat").as_deref(), Some("octocat"));
        assert_eq!(handle_candidate("민지"), None);
        assert_eq!(handle_candidate(&"a".repeat(50)).map(|h| h.len()), Some(27));
    }
}
