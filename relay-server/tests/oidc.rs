//! Social log-in end to end: the app's side (`movietalk_core::oauth`: PKCE, loopback redirect,
//! state, nonce) against a mock OpenID Connect provider on loopback, then the relay's
//! verification of what the app got (signature, issuer, audience, expiry, nonce, key rotation),
//! accounts created and found by provider identity, linking and unlinking, and the GitHub-style
//! path through the user endpoint. Nothing here touches the internet.

#[path = "support/mock_provider.rs"]
mod mock_provider;
#[path = "support/store.rs"]
mod store;

use std::sync::Arc;
use std::time::Duration;

use mock_provider::{CLIENT_ID, Key, MockProvider, Mode, b64url};
use movietalk_core::oauth::{
    self, CancellationToken, LoginProvider, OAuthError, ProviderTokens, Url,
};
use movietalk_core::relay_client::{ClientError, RelayClient};
use movietalk_core::relay_session::ProviderLogin;
use movietalk_protocol::relay::ErrorCode;
use movietalk_relay::accounts::HashCost;
use movietalk_relay::clock::{Clock, ManualClock};
use movietalk_relay::oidc::ProviderConfig;
use movietalk_relay::{Config, RunningRelay, start};
use tokio::sync::oneshot;

const PROVIDER: &str = "mockid";

struct World {
    clock: Arc<ManualClock>,
    idp: MockProvider,
    github: MockProvider,
    relay: RunningRelay,
}

async fn world() -> World {
    let clock = Arc::new(ManualClock::at_system_now());
    let idp = MockProvider::start(clock.clone()).await;
    let github = MockProvider::start_github(clock.clone()).await;
    let config = Config {
        hash_cost: HashCost {
            memory_kib: 1024,
            passes: 1,
        },
        clock: clock.clone(),
        providers: vec![
            ProviderConfig::oidc(PROVIDER, &idp.issuer, CLIENT_ID),
            ProviderConfig::github_at(CLIENT_ID, &github.issuer),
        ],
        ..Config::default()
    };
    let relay = start("127.0.0.1:0".parse().unwrap(), config, store::fresh())
        .await
        .unwrap();
    World {
        clock,
        idp,
        github,
        relay,
    }
}

impl World {
    fn app_provider(&self) -> LoginProvider {
        LoginProvider::oidc(PROVIDER, &self.idp.issuer, CLIENT_ID)
    }

    fn app_github(&self) -> LoginProvider {
        let base = &self.github.issuer;
        LoginProvider::github_at(
            CLIENT_ID,
            &format!("{base}/authorize"),
            &format!("{base}/token"),
        )
    }

    async fn client(&self) -> RelayClient {
        RelayClient::connect(&self.relay.url(), "guest")
            .await
            .unwrap()
            .0
    }
}

/// The status and text of the page the "browser" ended on.
type Page = oneshot::Receiver<(u16, String)>;

/// A "browser" that follows the authorization URL (and its redirect back to the app's loopback
/// listener) with an HTTP client, and reports the page it ended on.
fn browser() -> (impl FnOnce(&Url) -> Result<(), String>, Page) {
    let (tx, rx) = oneshot::channel();
    let open = move |url: &Url| {
        let url = url.clone();
        tokio::spawn(async move {
            if let Ok(resp) = reqwest::get(url.as_str()).await {
                let status = resp.status().as_u16();
                let _ = tx.send((status, resp.text().await.unwrap_or_default()));
            }
        });
        Ok(())
    };
    (open, rx)
}

async fn app_log_in(provider: &LoginProvider) -> Result<ProviderTokens, OAuthError> {
    let (open, _) = browser();
    oauth::log_in(
        provider,
        open,
        Duration::from_secs(10),
        CancellationToken::new(),
    )
    .await
}

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> ErrorCode {
    match r {
        Err(ClientError::Rejected { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn logged_in(r: Result<ProviderLogin, ClientError>) -> movietalk_core::relay_client::LoggedIn {
    match r.unwrap() {
        ProviderLogin::LoggedIn(l) => l,
        other => panic!("expected a session, got {other:?}"),
    }
}

/// POSTs an `application/x-www-form-urlencoded` body.
async fn post_form<'a>(
    http: &reqwest::Client,
    url: &str,
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
) -> reqwest::Result<reqwest::Response> {
    let body = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish();
    http.post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
}

/// Tokens as the app would hand them over, but with an ID token the test made.
fn tokens(id_token: String, nonce: &str) -> ProviderTokens {
    ProviderTokens {
        provider: PROVIDER.into(),
        id_token: Some(id_token),
        access_token: "unused".into(),
        nonce: Some(nonce.into()),
    }
}

#[tokio::test]
async fn the_whole_flow_creates_an_account_with_a_chosen_handle_then_logs_it_in() {
    let w = world().await;
    let (open, page) = browser();
    let got = oauth::log_in(
        &w.app_provider(),
        open,
        Duration::from_secs(10),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    let (status, html) = page.await.unwrap();
    assert_eq!(status, 200);
    assert!(
        html.contains("로그인되었습니다") && html.contains("You are logged in"),
        "{html}"
    );

    // What the app sent: PKCE S256, a nonce, a loopback redirect with an ephemeral port; no secret.
    let auth = &w.idp.authorize_requests()[0];
    assert_eq!(auth["code_challenge_method"], "S256");
    assert_eq!(auth.get("nonce"), got.nonce.as_ref());
    let redirect = Url::parse(&auth["redirect_uri"]).unwrap();
    assert_eq!(
        (redirect.host_str(), redirect.path()),
        (Some("127.0.0.1"), "/callback")
    );
    assert_ne!(redirect.port(), None);
    let token_req = &w.idp.token_requests()[0];
    assert!(token_req.contains_key("code_verifier") && !token_req.contains_key("client_secret"));
    assert!(got.id_token.is_some());

    let a = w.client().await;
    match a.provider_login(&got, None).await.unwrap() {
        ProviderLogin::HandleNeeded {
            provider,
            suggested,
        } => {
            assert_eq!(provider, PROVIDER);
            assert_eq!(
                suggested.as_deref(),
                Some("minji.kim"),
                "derived from preferred_username"
            );
        }
        other => panic!("a new identity needs a handle first, got {other:?}"),
    }
    assert_eq!(
        code(a.provider_login(&got, Some("No Spaces")).await),
        ErrorCode::InvalidInput
    );
    let first = logged_in(a.provider_login(&got, Some("minji")).await);
    assert_eq!(first.account.handle, "minji");
    assert_eq!(
        first.account.display_name, "Kim Minji",
        "the provider's name becomes the display name"
    );
    assert!(first.token.is_some() && first.refresh_token.is_some());
    let methods = a.login_methods().await.unwrap();
    assert!(!methods.password);
    assert_eq!(
        methods
            .providers
            .iter()
            .map(|p| p.provider.as_str())
            .collect::<Vec<_>>(),
        [PROVIDER]
    );

    // A second log-in with the same identity finds the account; no handle needed.
    let again = app_log_in(&w.app_provider()).await.unwrap();
    let b = w.client().await;
    let second = logged_in(b.provider_login(&again, None).await);
    assert_eq!(second.account.id, first.account.id);
    assert_ne!(
        second.session_id, first.session_id,
        "each log-in is its own session"
    );
    // The account has no password: password log-in is refused.
    assert_eq!(
        code(b.log_in("minji", "any password at all").await),
        ErrorCode::InvalidCredentials
    );
    w.relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_replayed_authorization_code_is_refused() {
    let w = world().await;
    let first = app_log_in(&w.app_provider()).await.unwrap();
    assert!(first.id_token.is_some());
    let used = w.idp.token_requests()[0]["code"].clone();

    // The provider hands the same code out again: the exchange fails, the app gets no tokens.
    w.idp.set_mode(Mode::ReplayCode(used.clone()));
    match app_log_in(&w.app_provider()).await {
        Err(OAuthError::TokenExchange(e)) => assert!(e.contains("invalid_grant"), "{e}"),
        other => panic!("a replayed code must fail, got {other:?}"),
    }
    // Straight to the token endpoint with the first exchange's exact form: refused too.
    let form = w.idp.token_requests()[0].clone();
    let resp = post_form(
        &reqwest::Client::new(),
        &format!("{}/token", w.idp.issuer),
        form.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    w.relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_mock_provider_checks_the_pkce_verifier() {
    // Guards the guard: the token endpoint refuses a wrong verifier and takes the right one.
    let w = world().await;
    let challenge = b64url(&<sha2::Sha256 as sha2::Digest>::digest(
        b"the-right-verifier",
    ));
    assert_eq!(challenge.len(), 43);
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let fresh_code = || async {
        let authorize = format!(
            "{}/authorize?response_type=code&client_id={CLIENT_ID}&redirect_uri=http://127.0.0.1:9/callback&state=s&code_challenge={challenge}&code_challenge_method=S256",
            w.idp.issuer
        );
        let resp = no_redirects.get(&authorize).send().await.unwrap();
        let location = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
        location
            .query_pairs()
            .find(|(k, _)| k == "code")
            .unwrap()
            .1
            .into_owned()
    };
    let exchange = |verifier: &'static str, code_value: String| async {
        let form = [
            ("grant_type", "authorization_code".to_owned()),
            ("code", code_value),
            ("redirect_uri", "http://127.0.0.1:9/callback".to_owned()),
            ("client_id", CLIENT_ID.to_owned()),
            ("code_verifier", verifier.to_owned()),
        ];
        post_form(
            &no_redirects,
            &format!("{}/token", w.idp.issuer),
            form.iter().map(|(k, v)| (*k, v.as_str())),
        )
        .await
        .unwrap()
        .status()
        .as_u16()
    };
    assert_eq!(exchange("a-wrong-verifier", fresh_code().await).await, 400);
    assert_eq!(
        exchange("the-right-verifier", fresh_code().await).await,
        200
    );
    w.relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_callback_with_another_state_is_refused_before_any_exchange() {
    let w = world().await;
    w.idp.set_mode(Mode::WrongState);
    let (open, page) = browser();
    let result = oauth::log_in(
        &w.app_provider(),
        open,
        Duration::from_secs(10),
        CancellationToken::new(),
    )
    .await;
    assert!(
        matches!(result, Err(OAuthError::StateMismatch)),
        "{result:?}"
    );
    assert_eq!(page.await.unwrap().0, 400, "the browser is told it failed");
    assert!(
        w.idp.token_requests().is_empty(),
        "the code was never exchanged"
    );

    w.idp.set_mode(Mode::Deny);
    let result = app_log_in(&w.app_provider()).await;
    assert!(
        matches!(&result, Err(OAuthError::Denied { error, .. }) if error == "access_denied"),
        "{result:?}"
    );
    w.relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn waiting_for_the_browser_times_out_or_is_cancelled() {
    let w = world().await;
    let never = |_: &Url| -> Result<(), String> { Ok(()) };
    let started = std::time::Instant::now();
    let r = oauth::log_in(
        &w.app_provider(),
        never,
        Duration::from_millis(300),
        CancellationToken::new(),
    )
    .await;
    assert!(matches!(r, Err(OAuthError::TimedOut(_))), "{r:?}");
    assert!(started.elapsed() < Duration::from_secs(5));

    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        trigger.cancel();
    });
    let r = oauth::log_in(&w.app_provider(), never, Duration::from_secs(60), cancel).await;
    assert!(matches!(r, Err(OAuthError::Cancelled)), "{r:?}");

    let r = oauth::log_in(
        &w.app_provider(),
        |_: &Url| Err("no browser".to_owned()),
        Duration::from_secs(60),
        CancellationToken::new(),
    )
    .await;
    assert!(matches!(r, Err(OAuthError::Browser(_))), "{r:?}");
    w.relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn bad_id_tokens_are_refused_by_the_relay() {
    let w = world().await;
    let c = w.client().await;
    let nonce = "n-0123456789";
    let good = w.idp.claims("subject-x", nonce);
    // The baseline is accepted (a new identity: a handle is asked for), so each refusal below
    // is down to the one thing changed.
    assert!(matches!(
        c.provider_login(&tokens(w.idp.sign(&good, Key::One), nonce), None)
            .await,
        Ok(ProviderLogin::HandleNeeded { .. })
    ));

    let with = |field: &str, value: serde_json::Value| {
        let mut claims = good.clone();
        claims[field] = value;
        w.idp.sign(&claims, Key::One)
    };
    let now = w.clock.now_ms() / 1000;
    let cases = [
        ("wrong audience", with("aud", "someone-elses-app".into())),
        ("wrong issuer", with("iss", "https://evil.example".into())),
        ("wrong nonce", with("nonce", "another-nonce".into())),
        ("expired", with("exp", (now - 120).into())),
        (
            "issued to another client",
            with("azp", "someone-elses-app".into()),
        ),
        ("not valid yet", with("nbf", (now + 600).into())),
        (
            "signed by a key the issuer does not publish",
            w.idp.sign(&good, Key::Two),
        ),
    ];
    for (why, token) in cases {
        assert_eq!(
            code(c.provider_login(&tokens(token, nonce), None).await),
            ErrorCode::InvalidCredentials,
            "{why}"
        );
    }
    // Within the minute of leeway, a just-expired token still counts.
    assert!(
        c.provider_login(&tokens(with("exp", (now - 30).into()), nonce), None)
            .await
            .is_ok()
    );
    // An audience list holding our client id is fine.
    assert!(
        c.provider_login(
            &tokens(with("aud", serde_json::json!(["other", CLIENT_ID])), nonce),
            None
        )
        .await
        .is_ok()
    );

    // Tampered: another subject put into a validly signed token's payload.
    let signed = w.idp.sign(&good, Key::One);
    let parts: Vec<&str> = signed.split('.').collect();
    let mut evil = good.clone();
    evil["sub"] = "subject-of-someone-else".into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        b64url(evil.to_string().as_bytes()),
        parts[2]
    );
    assert_eq!(
        code(c.provider_login(&tokens(tampered, nonce), None).await),
        ErrorCode::InvalidCredentials,
        "tampered"
    );
    // Algorithm confusion: HS256 and "none" are never accepted.
    let hs = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &good,
        &jsonwebtoken::EncodingKey::from_secret(b"public key bytes"),
    )
    .unwrap();
    assert_eq!(
        code(c.provider_login(&tokens(hs, nonce), None).await),
        ErrorCode::InvalidCredentials,
        "HS256"
    );
    let none = format!(
        "{}.{}.",
        b64url(br#"{"alg":"none","typ":"JWT"}"#),
        b64url(good.to_string().as_bytes())
    );
    assert_eq!(
        code(c.provider_login(&tokens(none, nonce), None).await),
        ErrorCode::InvalidCredentials,
        "alg none"
    );

    // The nonce must be sent; an unknown provider is not found.
    let mut no_nonce = tokens(w.idp.sign(&good, Key::One), nonce);
    no_nonce.nonce = None;
    assert_eq!(
        code(c.provider_login(&no_nonce, None).await),
        ErrorCode::InvalidInput
    );
    let mut elsewhere = tokens(w.idp.sign(&good, Key::One), nonce);
    elsewhere.provider = "myspace".into();
    assert_eq!(
        code(c.provider_login(&elsewhere, None).await),
        ErrorCode::NotFound
    );
    w.relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn id_token_expiry_follows_the_relay_clock() {
    let w = world().await;
    let c = w.client().await;
    let token = w.idp.sign(&w.idp.claims("subject-t", "n1"), Key::One);
    assert!(
        c.provider_login(&tokens(token.clone(), "n1"), None)
            .await
            .is_ok(),
        "fresh"
    );
    w.clock.advance(Duration::from_secs(300 + 61));
    assert_eq!(
        code(c.provider_login(&tokens(token, "n1"), None).await),
        ErrorCode::InvalidCredentials,
        "expired by the relay clock"
    );
    w.relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_token_with_an_unknown_key_id_makes_the_relay_fetch_the_keys_again() {
    let w = world().await;
    let c = w.client().await;
    let t1 = w.idp.sign(&w.idp.claims("s-1", "n"), Key::One);
    assert!(
        c.provider_login(&tokens(t1.clone(), "n"), None)
            .await
            .is_ok()
    );
    assert!(c.provider_login(&tokens(t1, "n"), None).await.is_ok());
    assert_eq!(w.idp.jwks_fetches(), 1, "keys are cached");

    // The provider rotates to key two.
    w.idp.rotate(Key::Two, &[Key::One, Key::Two]);
    let t2 = w.idp.sign(&w.idp.claims("s-1", "n"), Key::Two);
    assert_eq!(
        code(c.provider_login(&tokens(t2, "n"), None).await),
        ErrorCode::InvalidCredentials,
        "fetched less than a minute ago"
    );
    assert_eq!(
        w.idp.jwks_fetches(),
        1,
        "unknown key ids cannot make the relay hammer the provider"
    );
    w.clock.advance(Duration::from_secs(61));
    let t2 = w.idp.sign(&w.idp.claims("s-1", "n"), Key::Two);
    assert!(
        c.provider_login(&tokens(t2, "n"), None).await.is_ok(),
        "refetched on the unknown kid"
    );
    assert_eq!(w.idp.jwks_fetches(), 2);
    w.relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn link_and_unlink_keep_at_least_one_way_to_log_in() {
    let w = world().await;
    // A password account links a provider identity, then logs in with it.
    let a = w.client().await;
    a.sign_up("jisoo", "jisoo password", None).await.unwrap();
    let nonce = "n-link";
    let sub_a = tokens(w.idp.sign(&w.idp.claims("sub-a", nonce), Key::One), nonce);
    let m = a.link_provider(&sub_a).await.unwrap();
    assert!(m.password && m.providers.len() == 1);
    let b = w.client().await;
    assert_eq!(
        logged_in(b.provider_login(&sub_a, None).await)
            .account
            .handle,
        "jisoo"
    );

    // Another account cannot take that identity.
    let other = w.client().await;
    other
        .sign_up("other", "other password", None)
        .await
        .unwrap();
    assert_eq!(code(other.link_provider(&sub_a).await), ErrorCode::Conflict);

    // A provider-only account cannot drop its only way in …
    let h = w.client().await;
    let sub_b = tokens(w.idp.sign(&w.idp.claims("sub-b", nonce), Key::One), nonce);
    logged_in(h.provider_login(&sub_b, Some("hana")).await);
    assert_eq!(
        code(h.unlink_provider(PROVIDER).await),
        ErrorCode::LastLoginMethod
    );
    // … but can once it has another: GitHub, through the whole app flow and the user endpoint.
    let gh = app_log_in(&w.app_github()).await.unwrap();
    assert!(gh.id_token.is_none() && gh.nonce.is_none(), "plain OAuth2");
    let m = h.link_provider(&gh).await.unwrap();
    assert_eq!(m.providers.len(), 2);
    let m = h.unlink_provider(PROVIDER).await.unwrap();
    assert_eq!(
        m.providers
            .iter()
            .map(|p| p.provider.as_str())
            .collect::<Vec<_>>(),
        ["github"]
    );
    assert_eq!(
        code(h.unlink_provider("github").await),
        ErrorCode::LastLoginMethod
    );
    assert_eq!(code(h.unlink_provider(PROVIDER).await), ErrorCode::NotFound);
    // The unlinked identity is free again: logging in with it asks for a handle.
    assert!(matches!(
        w.client().await.provider_login(&sub_b, None).await,
        Ok(ProviderLogin::HandleNeeded { .. })
    ));

    // The password account may drop its only provider: the password remains.
    let m = a.unlink_provider(PROVIDER).await.unwrap();
    assert!(m.password && m.providers.is_empty());
    assert_eq!(
        code(w.client().await.link_provider(&sub_a).await),
        ErrorCode::Unauthorized
    );
    w.relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn github_access_tokens_are_checked_at_the_user_endpoint() {
    let w = world().await;
    let gh = app_log_in(&w.app_github()).await.unwrap();
    let c = w.client().await;
    match c.provider_login(&gh, None).await.unwrap() {
        ProviderLogin::HandleNeeded { suggested, .. } => {
            assert_eq!(suggested.as_deref(), Some("octo-cat"))
        }
        other => panic!("{other:?}"),
    }
    let s = logged_in(c.provider_login(&gh, Some("octo")).await);
    assert_eq!(s.account.display_name, "Octo Cat");
    let forged = ProviderTokens {
        access_token: "gho_forged".into(),
        ..gh.clone()
    };
    assert_eq!(
        code(w.client().await.provider_login(&forged, None).await),
        ErrorCode::InvalidCredentials
    );
    let missing = ProviderTokens {
        provider: "github".into(),
        id_token: Some("x".into()),
        access_token: String::new(),
        nonce: None,
    };
    assert_eq!(
        code(w.client().await.provider_login(&missing, None).await),
        ErrorCode::InvalidInput,
        "GitHub needs an access token"
    );
    w.relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_provider_only_account_sets_a_password_or_deletes_itself_only_right_after_logging_in() {
    let w = world().await;
    let nonce = "n-fresh";
    let id = |sub: &str| tokens(w.idp.sign(&w.idp.claims(sub, nonce), Key::One), nonce);

    // Just logged in with the provider: a first password may be set (there is none to check).
    let c = w.client().await;
    logged_in(c.provider_login(&id("sub-p"), Some("pwless")).await);
    c.change_password("", "a brand new password").await.unwrap();
    assert!(c.login_methods().await.unwrap().password);
    assert!(
        w.client()
            .await
            .log_in("pwless", "a brand new password")
            .await
            .is_ok()
    );

    // Eleven minutes after logging in (the access token still lives), neither is allowed.
    let d = w.client().await;
    let old = logged_in(d.provider_login(&id("sub-q"), Some("waiter")).await);
    w.clock.advance(Duration::from_secs(11 * 60));
    assert_eq!(
        code(d.change_password("", "sneaky password").await),
        ErrorCode::InvalidCredentials
    );
    assert_eq!(
        code(d.delete_account("").await),
        ErrorCode::InvalidCredentials,
        "log in again first"
    );
    // Logging in again makes it possible; deletion takes the link and every session with it.
    let e = w.client().await;
    logged_in(e.provider_login(&id("sub-q"), None).await);
    e.delete_account("").await.unwrap();
    assert_eq!(
        code(w.client().await.refresh(&old.refresh_token.unwrap()).await),
        ErrorCode::InvalidCredentials
    );
    assert!(matches!(
        w.client().await.provider_login(&id("sub-q"), None).await,
        Ok(ProviderLogin::HandleNeeded { .. })
    ));
    w.relay.shutdown().await.unwrap();
}
