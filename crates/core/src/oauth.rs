//! Social log-in the way native apps must do it (RFC 8252): the system browser, a loopback
//! redirect, PKCE — no embedded web view, no client secret in the app.
//!
//! [`log_in`] runs one authorization-code flow:
//! 1. endpoints from the issuer's OpenID Connect discovery document (or fixed ones for GitHub);
//! 2. a listener on `127.0.0.1` on a port the OS picks; the redirect URI is
//!    `http://127.0.0.1:<port>/callback` (RFC 8252 §7.3: loopback IP literal, any port);
//! 3. a fresh PKCE verifier (S256 challenge), `state` and — for OpenID Connect — `nonce`;
//! 4. the caller's `open_browser` shows the authorization URL in the system browser;
//! 5. the browser comes back to the listener, which checks `state` (a mismatch ends the flow
//!    with [`OAuthError::StateMismatch`]) and answers with a small Korean/English page;
//! 6. the code is exchanged (with the PKCE verifier, no secret) for tokens.
//!
//! Waiting ends at the timeout or when the [`CancellationToken`] is cancelled. The result,
//! [`ProviderTokens`], goes to the relay with [`RelayClient::provider_login`], which verifies
//! it and answers with a MovieTalk session. The provider's tokens are not kept afterwards.
//!
//! [`RelayClient::provider_login`]: crate::relay_client::RelayClient::provider_login

use std::time::Duration;

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, EndpointNotSet, EndpointSet, ExtraTokenFields,
    PkceCodeChallenge, RedirectUrl, RequestTokenError, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
pub use tokio_util::sync::CancellationToken;
pub use url::Url;

/// How long the app waits for the browser to come back, unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// How long one request to the provider (discovery, token exchange) may take.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(15);

/// Where a provider's endpoints come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenID Connect: endpoints from `{issuer}/.well-known/openid-configuration`; the flow
    /// asks for an ID token bound to a nonce.
    Oidc { issuer: String },
    /// Plain OAuth2 with fixed endpoints (GitHub): the relay checks the access token instead.
    OAuth2 {
        authorize_url: String,
        token_url: String,
    },
}

/// A provider the app can log in with. The `name` is the one the relay is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginProvider {
    pub name: String,
    /// The app's public client id at the provider (no secret: RFC 8252 §8.5).
    pub client_id: String,
    pub kind: ProviderKind,
    pub scopes: Vec<String>,
}

impl LoginProvider {
    /// Any OpenID Connect provider by issuer URL.
    pub fn oidc(name: &str, issuer: &str, client_id: &str) -> Self {
        LoginProvider {
            name: name.to_owned(),
            client_id: client_id.to_owned(),
            kind: ProviderKind::Oidc {
                issuer: issuer.trim_end_matches('/').to_owned(),
            },
            scopes: vec!["openid".into(), "profile".into(), "email".into()],
        }
    }

    /// Google.
    pub fn google(client_id: &str) -> Self {
        Self::oidc("google", "https://accounts.google.com", client_id)
    }

    /// Kakao (OpenID Connect must be switched on for the app in Kakao's console).
    pub fn kakao(client_id: &str) -> Self {
        LoginProvider {
            scopes: vec!["openid".into()],
            ..Self::oidc("kakao", "https://kauth.kakao.com", client_id)
        }
    }

    /// GitHub (OAuth app or GitHub App; PKCE, no secret).
    pub fn github(client_id: &str) -> Self {
        Self::github_at(
            client_id,
            "https://github.com/login/oauth/authorize",
            "https://github.com/login/oauth/access_token",
        )
    }

    /// GitHub-style OAuth2 at other addresses (GitHub Enterprise, or a mock in tests).
    pub fn github_at(client_id: &str, authorize_url: &str, token_url: &str) -> Self {
        LoginProvider {
            name: "github".into(),
            client_id: client_id.to_owned(),
            kind: ProviderKind::OAuth2 {
                authorize_url: authorize_url.to_owned(),
                token_url: token_url.to_owned(),
            },
            scopes: vec!["read:user".into()],
        }
    }
}

/// What the provider gave: hand it to the relay, then drop it.
#[derive(Clone, PartialEq, Eq)]
pub struct ProviderTokens {
    /// The provider's name on the relay.
    pub provider: String,
    /// The OpenID Connect ID token (absent for plain OAuth2 providers).
    pub id_token: Option<String>,
    pub access_token: String,
    /// The nonce this flow put in the authorization request; the relay checks the ID token's.
    pub nonce: Option<String>,
}

impl std::fmt::Debug for ProviderTokens {
    /// Never prints the tokens.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderTokens")
            .field("provider", &self.provider)
            .field("id_token", &self.id_token.as_ref().map(|_| "…"))
            .field("access_token", &"…")
            .finish_non_exhaustive()
    }
}

/// Why a provider log-in did not complete.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("the provider's settings are unusable: {0}")]
    Config(String),
    #[error("cannot read the provider's OpenID configuration: {0}")]
    Discovery(String),
    #[error("cannot listen for the browser on 127.0.0.1: {0}")]
    Listen(std::io::Error),
    #[error("cannot open the browser: {0}")]
    Browser(String),
    #[error("the provider refused the log-in: {error}")]
    Denied {
        error: String,
        description: Option<String>,
    },
    #[error("the browser came back with another log-in's state; start again")]
    StateMismatch,
    #[error("the browser came back without an authorization code")]
    MissingCode,
    #[error("no answer from the browser within {0:?}")]
    TimedOut(Duration),
    #[error("the log-in was cancelled")]
    Cancelled,
    #[error("the provider did not exchange the code for tokens: {0}")]
    TokenExchange(String),
    #[error("the provider answered without an ID token")]
    NoIdToken,
}

/// The `id_token` of an OpenID Connect token response (oauth2 knows only OAuth2's fields).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenField {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}
impl ExtraTokenFields for IdTokenField {}

type TokenResponseWithId = StandardTokenResponse<IdTokenField, BasicTokenType>;
type Client = oauth2::Client<
    BasicErrorResponse,
    TokenResponseWithId,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
}

/// The provider's authorization and token endpoints.
async fn endpoints(
    http: &reqwest::Client,
    provider: &LoginProvider,
) -> Result<(String, String), OAuthError> {
    let (auth, token) = match &provider.kind {
        ProviderKind::OAuth2 {
            authorize_url,
            token_url,
        } => (authorize_url.clone(), token_url.clone()),
        ProviderKind::Oidc { issuer } => {
            let url = format!("{issuer}/.well-known/openid-configuration");
            let fail = |e: String| OAuthError::Discovery(format!("{url}: {e}"));
            let resp = http
                .get(&url)
                .send()
                .await
                .map_err(|e| fail(e.to_string()))?;
            if !resp.status().is_success() {
                return Err(fail(format!("HTTP {}", resp.status())));
            }
            let doc: Discovery = resp.json().await.map_err(|e| fail(e.to_string()))?;
            if doc.issuer.trim_end_matches('/') != issuer {
                return Err(fail(format!("it names issuer {:?}", doc.issuer)));
            }
            if doc
                .code_challenge_methods_supported
                .is_some_and(|m| !m.iter().any(|m| m == "S256"))
            {
                return Err(fail("the provider does not support PKCE with S256".into()));
            }
            (doc.authorization_endpoint, doc.token_endpoint)
        }
    };
    for u in [&auth, &token] {
        if !secure_url(u) {
            return Err(OAuthError::Config(format!(
                "{u:?} must be https (http only on loopback)"
            )));
        }
    }
    Ok((auth, token))
}

/// https anywhere, or http on a loopback address.
fn secure_url(url: &str) -> bool {
    let Ok(u) = Url::parse(url) else { return false };
    match u.scheme() {
        "https" => true,
        "http" => match u.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => false,
        },
        _ => false,
    }
}

/// Runs one log-in with `provider`: `open_browser` is handed the authorization URL (the app
/// opens the system browser; tests follow it with an HTTP client). Ends with the provider's
/// tokens, or an error after `timeout`, on `cancel`, on a denied log-in or a state mismatch.
pub async fn log_in(
    provider: &LoginProvider,
    open_browser: impl FnOnce(&Url) -> Result<(), String>,
    timeout: Duration,
    cancel: CancellationToken,
) -> Result<ProviderTokens, OAuthError> {
    let http = reqwest::Client::builder()
        .timeout(HTTP_TIMEOUT)
        // The token endpoint must answer itself; following redirects there would leak the code.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("MovieTalk/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| OAuthError::Config(e.to_string()))?;
    let (auth_url, token_url) = tokio::select! {
        r = endpoints(&http, provider) => r?,
        () = cancel.cancelled() => return Err(OAuthError::Cancelled),
    };
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(OAuthError::Listen)?;
    let port = listener.local_addr().map_err(OAuthError::Listen)?.port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    let bad = |e: oauth2::url::ParseError| OAuthError::Config(e.to_string());
    let client: Client = oauth2::Client::new(ClientId::new(provider.client_id.clone()))
        .set_auth_uri(AuthUrl::new(auth_url).map_err(bad)?)
        .set_token_uri(TokenUrl::new(token_url).map_err(bad)?)
        .set_redirect_uri(RedirectUrl::new(redirect).map_err(bad)?);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let oidc = matches!(provider.kind, ProviderKind::Oidc { .. });
    let nonce = oidc.then(|| CsrfToken::new_random().secret().clone());
    let mut request = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(provider.scopes.iter().cloned().map(Scope::new))
        .set_pkce_challenge(challenge);
    if let Some(nonce) = &nonce {
        request = request.add_extra_param("nonce", nonce.clone());
    }
    let (url, state) = request.url();
    open_browser(&url).map_err(OAuthError::Browser)?;

    let code = tokio::select! {
        r = tokio::time::timeout(timeout, wait_for_callback(&listener, state.secret())) => match r {
            Ok(r) => r?,
            Err(_) => return Err(OAuthError::TimedOut(timeout)),
        },
        () = cancel.cancelled() => return Err(OAuthError::Cancelled),
    };
    drop(listener);

    let send = |req: oauth2::HttpRequest| {
        let http = http.clone();
        async move {
            let (parts, body) = req.into_parts();
            let resp = http
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut answer = oauth2::http::Response::builder().status(resp.status());
            for (k, v) in resp.headers() {
                answer = answer.header(k, v);
            }
            let body = resp.bytes().await?.to_vec();
            Ok::<_, reqwest::Error>(
                answer
                    .body(body)
                    .expect("status and headers came from a valid response"),
            )
        }
    };
    let exchange = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&send);
    let tokens = tokio::select! {
        r = exchange => r.map_err(|e| OAuthError::TokenExchange(match e {
            RequestTokenError::ServerResponse(r) => match r.error_description() {
                Some(d) => format!("{} ({d})", r.error()),
                None => r.error().to_string(),
            },
            other => other.to_string(),
        }))?,
        () = cancel.cancelled() => return Err(OAuthError::Cancelled),
    };
    let id_token = tokens.extra_fields().id_token.clone();
    if oidc && id_token.is_none() {
        return Err(OAuthError::NoIdToken);
    }
    Ok(ProviderTokens {
        provider: provider.name.clone(),
        id_token,
        access_token: tokens.access_token().secret().clone(),
        nonce,
    })
}

/// What came back to the loopback listener.
enum Callback {
    Code(String),
    Denied {
        error: String,
        description: Option<String>,
    },
    StateMismatch,
    MissingCode,
    /// Not the callback (a favicon, a stray request): keep waiting.
    Other,
}

/// Serves the loopback listener until the browser brings the callback; answers every request.
async fn wait_for_callback(listener: &TcpListener, state: &str) -> Result<String, OAuthError> {
    loop {
        let (mut socket, _) = listener.accept().await.map_err(OAuthError::Listen)?;
        let target = match read_request_target(&mut socket).await {
            Some(t) => t,
            None => continue,
        };
        let callback = parse_callback(&target, state);
        let (status, page) = match &callback {
            Callback::Code(_) => ("200 OK", page(true)),
            Callback::Other => ("404 Not Found", String::new()),
            _ => ("400 Bad Request", page(false)),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
            page.len()
        );
        let _ = socket.write_all(head.as_bytes()).await;
        let _ = socket.write_all(page.as_bytes()).await;
        let _ = socket.shutdown().await;
        match callback {
            Callback::Code(code) => return Ok(code),
            Callback::Denied { error, description } => {
                return Err(OAuthError::Denied { error, description });
            }
            Callback::StateMismatch => return Err(OAuthError::StateMismatch),
            Callback::MissingCode => return Err(OAuthError::MissingCode),
            Callback::Other => continue,
        }
    }
}

/// The request target of an HTTP GET (`/callback?code=…`), from at most 8 KiB of head, read
/// within a few seconds.
async fn read_request_target(socket: &mut TcpStream) -> Option<String> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    let read = async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            let n = socket.read(&mut buf).await.ok()?;
            if n == 0 {
                break;
            }
            head.extend_from_slice(&buf[..n]);
        }
        Some(())
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .ok()??;
    let line = head.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    (parts.next()? == "GET").then_some(())?;
    parts.next().map(str::to_owned)
}

fn parse_callback(target: &str, state: &str) -> Callback {
    let Ok(url) = Url::parse(&format!("http://127.0.0.1{target}")) else {
        return Callback::Other;
    };
    if url.path() != "/callback" {
        return Callback::Other;
    }
    let get = |k: &str| {
        url.query_pairs()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.into_owned())
    };
    if get("state").as_deref() != Some(state) {
        return Callback::StateMismatch;
    }
    if let Some(error) = get("error") {
        return Callback::Denied {
            error,
            description: get("error_description"),
        };
    }
    match get("code") {
        Some(code) if !code.is_empty() => Callback::Code(code),
        _ => Callback::MissingCode,
    }
}

/// The page the browser shows after coming back, in Korean and English. It repeats nothing
/// from the request (no reflected input).
fn page(ok: bool) -> String {
    let (ko_title, ko_text, en_title, en_text) = if ok {
        (
            "로그인되었습니다",
            "이 창을 닫고 MovieTalk으로 돌아가세요.",
            "You are logged in",
            "You can close this window and return to MovieTalk.",
        )
    } else {
        (
            "로그인하지 못했습니다",
            "이 창을 닫고 MovieTalk에서 다시 시도하세요.",
            "The log-in did not complete",
            "Close this window and try again in MovieTalk.",
        )
    };
    format!(
        "<!doctype html><html lang=\"ko\"><head><meta charset=\"utf-8\"><title>MovieTalk</title></head>\
         <body style=\"font-family:sans-serif;text-align:center;margin-top:4em\">\
         <h1>{ko_title}</h1><p>{ko_text}</p><h2 lang=\"en\">{en_title}</h2><p lang=\"en\">{en_text}</p></body></html>"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callback_is_checked_against_the_state() {
        assert!(
            matches!(parse_callback("/callback?code=abc&state=s1", "s1"), Callback::Code(c) if c == "abc")
        );
        assert!(matches!(
            parse_callback("/callback?code=abc&state=s2", "s1"),
            Callback::StateMismatch
        ));
        assert!(matches!(
            parse_callback("/callback?code=abc", "s1"),
            Callback::StateMismatch
        ));
        assert!(
            matches!(parse_callback("/callback?error=access_denied&state=s1", "s1"), Callback::Denied { error, .. } if error == "access_denied")
        );
        assert!(matches!(
            parse_callback("/callback?state=s1", "s1"),
            Callback::MissingCode
        ));
        assert!(matches!(
            parse_callback("/favicon.ico", "s1"),
            Callback::Other
        ));
    }

    #[test]
    fn provider_tokens_never_print_their_secrets() {
        let t = ProviderTokens {
            provider: "google".into(),
            id_token: Some("eyJsecret".into()),
            access_token: "ya29.secret".into(),
            nonce: None,
        };
        let shown = format!("{t:?}");
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn only_https_or_loopback_endpoints() {
        assert!(secure_url("https://kauth.kakao.com/oauth/token"));
        assert!(secure_url("http://127.0.0.1:4000/token"));
        assert!(!secure_url("http://kauth.kakao.com/oauth/token"));
    }
}
