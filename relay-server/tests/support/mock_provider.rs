//! A mock identity provider on 127.0.0.1, written for the tests: OpenID Connect discovery,
//! `/authorize` (redirects to the client's redirect URI with a code and the state), `/token`
//! (checks the PKCE verifier against the S256 challenge and refuses a code used before),
//! `/userinfo`, `/jwks`, and a GitHub-style `/user`. A hand-written HTTP/1.1 server on a tokio
//! listener; one request per connection.
//!
//! ID tokens are signed with the TEST-ONLY RSA keys in `tests/fixtures` (see the README there).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use movietalk_relay::clock::{Clock, ManualClock};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub const CLIENT_ID: &str = "movietalk-test-client";
const KEY_1: &[u8] = include_bytes!("../fixtures/test-rsa-1.pem");
const KEY_2: &[u8] = include_bytes!("../fixtures/test-rsa-2.pem");
const JWK_1: &str = include_str!("../fixtures/test-rsa-1.jwk.json");
const JWK_2: &str = include_str!("../fixtures/test-rsa-2.jwk.json");

/// How the mock misbehaves, when a test asks it to.
#[derive(Debug, Clone, Default)]
pub enum Mode {
    #[default]
    Normal,
    /// `/authorize` redirects with another state than the client's.
    WrongState,
    /// `/authorize` redirects with `error=access_denied`.
    Deny,
    /// `/authorize` hands out this (already used) code again.
    ReplayCode(String),
}

/// Which test key signs ID tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    One,
    Two,
}

impl Key {
    fn kid(self) -> &'static str {
        match self {
            Key::One => "test-key-1",
            Key::Two => "test-key-2",
        }
    }
    fn pem(self) -> &'static [u8] {
        match self {
            Key::One => KEY_1,
            Key::Two => KEY_2,
        }
    }
    fn jwk(self) -> Value {
        serde_json::from_str(match self {
            Key::One => JWK_1,
            Key::Two => JWK_2,
        })
        .unwrap()
    }
}

#[derive(Debug, Clone)]
struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    nonce: Option<String>,
}

#[derive(Debug)]
struct State {
    mode: Mode,
    /// The person who "logs in" at `/authorize`.
    subject: String,
    grants: HashMap<String, Grant>,
    used_codes: HashSet<String>,
    signing_key: Key,
    published: Vec<Key>,
    /// Whether `/token` adds an ID token (OpenID Connect) or not (GitHub style).
    oidc: bool,
    access_tokens: HashMap<String, String>,
    pub jwks_fetches: usize,
    pub token_requests: Vec<HashMap<String, String>>,
    pub authorize_requests: Vec<HashMap<String, String>>,
    next: u64,
}

/// The mock provider; its issuer is [`MockProvider::issuer`].
#[derive(Clone)]
pub struct MockProvider {
    pub issuer: String,
    clock: Arc<ManualClock>,
    state: Arc<Mutex<State>>,
}

impl MockProvider {
    /// Starts an OpenID Connect provider that signs with key one, publishing key one.
    pub async fn start(clock: Arc<ManualClock>) -> MockProvider {
        Self::start_with(clock, true).await
    }

    /// Starts a GitHub-style provider (no ID tokens; `/user` checks access tokens).
    pub async fn start_github(clock: Arc<ManualClock>) -> MockProvider {
        Self::start_with(clock, false).await
    }

    async fn start_with(clock: Arc<ManualClock>, oidc: bool) -> MockProvider {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            mode: Mode::Normal,
            subject: "subject-1".into(),
            grants: HashMap::new(),
            used_codes: HashSet::new(),
            signing_key: Key::One,
            published: vec![Key::One],
            oidc,
            access_tokens: HashMap::new(),
            jwks_fetches: 0,
            token_requests: Vec::new(),
            authorize_requests: Vec::new(),
            next: 0,
        }));
        let mock = MockProvider {
            issuer,
            clock,
            state,
        };
        let server = mock.clone();
        tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let server = server.clone();
                tokio::spawn(async move { server.serve(socket).await });
            }
        });
        mock
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }
    /// Signs with `key` and publishes `published` from now on.
    pub fn rotate(&self, key: Key, published: &[Key]) {
        let mut s = self.state.lock().unwrap();
        s.signing_key = key;
        s.published = published.to_vec();
    }
    pub fn jwks_fetches(&self) -> usize {
        self.state.lock().unwrap().jwks_fetches
    }
    pub fn token_requests(&self) -> Vec<HashMap<String, String>> {
        self.state.lock().unwrap().token_requests.clone()
    }
    pub fn authorize_requests(&self) -> Vec<HashMap<String, String>> {
        self.state.lock().unwrap().authorize_requests.clone()
    }

    /// The standard claims of a good ID token for `subject` with `nonce`, issued now by the
    /// shared clock; tests change one claim to make a bad one.
    pub fn claims(&self, subject: &str, nonce: &str) -> Value {
        let now = self.clock.now_ms() / 1000;
        json!({
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "sub": subject,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "name": "Kim Minji",
            "preferred_username": "minji.kim",
        })
    }

    /// Signs `claims` as an ID token with `key` (RS256).
    pub fn sign(&self, claims: &Value, key: Key) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key.kid().to_owned());
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_rsa_pem(key.pem()).unwrap(),
        )
        .unwrap()
    }

    async fn serve(&self, mut socket: TcpStream) {
        let Some((method, target, headers, body)) = read_request(&mut socket).await else {
            return;
        };
        let url = url::Url::parse(&format!("http://mock{target}")).unwrap();
        let query: HashMap<String, String> = url.query_pairs().into_owned().collect();
        let (status, extra, body) = match (method.as_str(), url.path()) {
            ("GET", "/.well-known/openid-configuration") => (200, None, self.discovery()),
            ("GET", "/authorize") => self.authorize(query),
            ("POST", "/token") => {
                self.token(url::form_urlencoded::parse(&body).into_owned().collect())
            }
            ("GET", "/jwks") => {
                let mut s = self.state.lock().unwrap();
                s.jwks_fetches += 1;
                (
                    200,
                    None,
                    json!({ "keys": s.published.iter().map(|k| k.jwk()).collect::<Vec<_>>() }),
                )
            }
            ("GET", "/userinfo" | "/user") => self.user(url.path(), headers.get("authorization")),
            _ => (404, None, json!({"error": "not_found"})),
        };
        let body = body.to_string();
        let mut head = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        if let Some(location) = extra {
            head.push_str(&format!("Location: {location}\r\n"));
        }
        head.push_str("\r\n");
        let _ = socket.write_all(head.as_bytes()).await;
        let _ = socket.write_all(body.as_bytes()).await;
        let _ = socket.shutdown().await;
    }

    fn discovery(&self) -> Value {
        let i = &self.issuer;
        json!({
            "issuer": i,
            "authorization_endpoint": format!("{i}/authorize"),
            "token_endpoint": format!("{i}/token"),
            "userinfo_endpoint": format!("{i}/userinfo"),
            "jwks_uri": format!("{i}/jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
        })
    }

    fn authorize(&self, q: HashMap<String, String>) -> (u16, Option<String>, Value) {
        let mut s = self.state.lock().unwrap();
        s.authorize_requests.push(q.clone());
        if q.get("response_type").map(String::as_str) != Some("code")
            || q.get("code_challenge_method").map(String::as_str) != Some("S256")
            || q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        {
            return (400, None, json!({"error": "invalid_request"}));
        }
        let redirect = q["redirect_uri"].clone();
        let state = q.get("state").cloned().unwrap_or_default();
        s.next += 1;
        let code = format!("code-{}", s.next);
        let (code, state) = match s.mode.clone() {
            Mode::Normal => (code, state),
            Mode::WrongState => (code, "forged-state".to_owned()),
            Mode::ReplayCode(old) => (old, state),
            Mode::Deny => {
                return (
                    302,
                    Some(format!("{redirect}?error=access_denied&state={state}")),
                    json!({}),
                );
            }
        };
        s.grants.entry(code.clone()).or_insert(Grant {
            client_id: q["client_id"].clone(),
            redirect_uri: redirect.clone(),
            challenge: q["code_challenge"].clone(),
            nonce: q.get("nonce").cloned(),
        });
        (
            302,
            Some(format!("{redirect}?code={code}&state={state}")),
            json!({}),
        )
    }

    fn token(&self, form: HashMap<String, String>) -> (u16, Option<String>, Value) {
        let mut s = self.state.lock().unwrap();
        s.token_requests.push(form.clone());
        let invalid = |why: &str| {
            (
                400,
                None,
                json!({"error": "invalid_grant", "error_description": why}),
            )
        };
        if form.get("grant_type").map(String::as_str) != Some("authorization_code") {
            return (400, None, json!({"error": "unsupported_grant_type"}));
        }
        let code = form.get("code").cloned().unwrap_or_default();
        if !s.used_codes.insert(code.clone()) {
            return invalid("the code was used before");
        }
        let Some(grant) = s.grants.get(&code).cloned() else {
            return invalid("unknown code");
        };
        if form.get("client_id") != Some(&grant.client_id)
            || form.get("redirect_uri") != Some(&grant.redirect_uri)
        {
            return invalid("client or redirect_uri differ from the authorization request");
        }
        if form.contains_key("client_secret") {
            return (
                400,
                None,
                json!({"error": "invalid_client", "error_description": "public clients send no secret"}),
            );
        }
        let verifier = form.get("code_verifier").cloned().unwrap_or_default();
        if b64url(&Sha256::digest(verifier.as_bytes())) != grant.challenge {
            return invalid("PKCE verification failed");
        }
        s.next += 1;
        let access = format!("access-{}", s.next);
        let subject = s.subject.clone();
        s.access_tokens.insert(access.clone(), subject.clone());
        let mut answer =
            json!({"access_token": access, "token_type": "Bearer", "expires_in": 3600});
        if s.oidc {
            let key = s.signing_key;
            drop(s);
            answer["id_token"] = json!(self.sign(
                &self.claims(&subject, grant.nonce.as_deref().unwrap_or("")),
                key
            ));
        }
        (200, None, answer)
    }

    fn user(&self, path: &str, auth: Option<&String>) -> (u16, Option<String>, Value) {
        let s = self.state.lock().unwrap();
        let token = auth
            .and_then(|a| a.strip_prefix("Bearer "))
            .unwrap_or_default();
        let Some(subject) = s.access_tokens.get(token) else {
            return (401, None, json!({"message": "Bad credentials"}));
        };
        if path == "/userinfo" {
            (200, None, json!({"sub": subject, "name": "Kim Minji"}))
        } else {
            // GitHub's shape: a numeric id and a login.
            let id: u64 = subject.bytes().map(u64::from).sum();
            (
                200,
                None,
                json!({"id": id, "login": "Octo-Cat", "name": "Octo Cat"}),
            )
        }
    }
}

/// Base64url without padding (RFC 7636's encoding of the S256 challenge).
pub fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

type Request = (String, String, HashMap<String, String>, Vec<u8>);

async fn read_request(socket: &mut TcpStream) -> Option<Request> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let (method, target) = (first.next()?.to_owned(), first.next()?.to_owned());
    let headers: HashMap<String, String> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = data[head_end..].to_vec();
    while body.len() < length {
        let n = socket.read(&mut buf).await.ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Some((method, target, headers, body))
}
