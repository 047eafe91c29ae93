//! Sessions against a relay started by the test: access tokens that expire (by an injected
//! clock), refresh tokens that rotate, reuse that revokes a session, the session list and
//! revocation on log-out, password change and account deletion.

#[path = "support/store.rs"]
mod store;
use std::sync::Arc;
use std::time::Duration;

use movietalk_core::relay_client::{ClientError, LoggedIn, RelayClient};
use movietalk_core::relay_session::session_ended;
use movietalk_protocol::relay::{ClientMessage, ErrorCode};
use movietalk_relay::accounts::{HashCost, Lifetimes};
use movietalk_relay::clock::ManualClock;
use movietalk_relay::{Config, RunningRelay, start};

const ACCESS: Duration = Duration::from_secs(15 * 60);
const REFRESH: Duration = Duration::from_secs(24 * 3600);

async fn relay() -> (RunningRelay, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::at(1_700_000_000_000));
    let config = Config {
        hash_cost: HashCost {
            memory_kib: 1024,
            passes: 1,
        },
        clock: clock.clone(),
        token_lifetimes: Lifetimes {
            access: ACCESS,
            refresh: REFRESH,
        },
        ..Config::default()
    };
    let relay = start("127.0.0.1:0".parse().unwrap(), config, store::fresh())
        .await
        .unwrap();
    (relay, clock)
}

async fn client(relay: &RunningRelay) -> RelayClient {
    RelayClient::connect(&relay.url(), "guest").await.unwrap().0
}

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> ErrorCode {
    match r {
        Err(ClientError::Rejected { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn refresh_token(s: &LoggedIn) -> String {
    s.refresh_token
        .clone()
        .expect("a new session carries a refresh token")
}

#[tokio::test]
async fn log_in_returns_an_access_token_and_a_refresh_token_with_their_lifetimes() {
    let (relay, _clock) = relay().await;
    let a = client(&relay).await;
    let s = a.sign_up("minji", "minji password", None).await.unwrap();
    assert_eq!(
        s.expires_at_ms,
        1_700_000_000_000 + ACCESS.as_millis() as u64
    );
    assert_eq!(
        s.refresh_expires_at_ms,
        Some(1_700_000_000_000 + REFRESH.as_millis() as u64)
    );
    let (access, refresh) = (s.token.clone().unwrap(), refresh_token(&s));
    assert_ne!(access, refresh);
    // Each token works only as what it is.
    let b = client(&relay).await;
    assert_eq!(
        code(b.authenticate(&refresh).await),
        ErrorCode::InvalidCredentials
    );
    assert_eq!(
        code(b.refresh(&access).await),
        ErrorCode::InvalidCredentials
    );
    let resumed = b.authenticate(&access).await.unwrap();
    assert_eq!(
        (resumed.session_id, resumed.token, resumed.refresh_token),
        (s.session_id, None, None)
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_expired_access_token_logs_no_new_connection_in_but_a_live_connection_carries_on() {
    let (relay, clock) = relay().await;
    let a = client(&relay).await;
    let s = a.sign_up("jisoo", "jisoo password", None).await.unwrap();
    clock.advance(ACCESS + Duration::from_secs(1));

    // On a new connection the old access token no longer logs in …
    let b = client(&relay).await;
    assert_eq!(
        code(b.authenticate(s.token.as_deref().unwrap()).await),
        ErrorCode::InvalidCredentials
    );
    // … while the connection that used it goes on: its session is alive.
    a.list_sessions().await.expect("a live session carries on");
    // The refresh token gets a new access token that works on a new connection.
    let renewed = b.refresh(&refresh_token(&s)).await.unwrap();
    assert_eq!(
        renewed.session_id, s.session_id,
        "refreshing keeps the session"
    );
    assert!(renewed.expires_at_ms > s.expires_at_ms);
    let c = client(&relay).await;
    c.authenticate(renewed.token.as_deref().unwrap())
        .await
        .expect("the new access token works");
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_revoked_session_ends_on_its_live_connections_at_once() {
    let (relay, _clock) = relay().await;
    let a = client(&relay).await;
    a.sign_up("seojun", "seojun password", None).await.unwrap();
    let (b, mut b_events) = RelayClient::connect(&relay.url(), "guest").await.unwrap();
    let theirs = b.log_in("seojun", "seojun password").await.unwrap();
    b.join("lobby", None).await.unwrap();
    a.revoke_session(theirs.session_id).await.unwrap();
    // No grace period: the relay closes the connection with the reason at once.
    let reason = loop {
        match tokio::time::timeout(Duration::from_secs(5), b_events.recv()).await {
            Ok(Some(movietalk_core::relay_client::RelayEvent::Disconnected { reason })) => {
                break reason;
            }
            Ok(Some(_)) => continue,
            other => panic!("the revoked connection was not closed: {other:?}"),
        }
    };
    assert_eq!(reason, "session ended: revoked");
    assert!(matches!(
        b.send("lobby", "still me?").await,
        Err(ClientError::Closed)
    ));
    a.list_sessions()
        .await
        .expect("the session that was not revoked carries on");
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_session_that_expires_stops_acting_on_a_live_connection() {
    let (relay, clock) = relay().await;
    let a = client(&relay).await;
    a.sign_up("yerin", "yerin password", None).await.unwrap();
    // Past the refresh token's lifetime the session is gone: the next request finds out.
    clock.advance(REFRESH + Duration::from_secs(1));
    let e = a.list_sessions().await.unwrap_err();
    assert!(session_ended(&e), "{e:?}");
    assert_eq!(
        code(a.list_sessions().await),
        ErrorCode::Unauthorized,
        "a guest now"
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_refresh_token_past_its_lifetime_is_refused() {
    let (relay, clock) = relay().await;
    let a = client(&relay).await;
    let s = a.sign_up("hana", "hana password", None).await.unwrap();
    clock.advance(REFRESH - Duration::from_secs(60));
    let s = a
        .refresh(&refresh_token(&s))
        .await
        .expect("within its lifetime");
    // Refreshing renewed the lifetime: a day later it still works …
    clock.advance(Duration::from_secs(3600));
    let s = a
        .refresh(&refresh_token(&s))
        .await
        .expect("renewed by the last refresh");
    // … until a whole refresh lifetime passes without one.
    clock.advance(REFRESH + Duration::from_secs(1));
    assert_eq!(
        code(a.refresh(&refresh_token(&s)).await),
        ErrorCode::InvalidCredentials
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_refresh_token_revokes_the_whole_session() {
    let (relay, _clock) = relay().await;
    let a = client(&relay).await;
    let first = a.sign_up("yuna", "yuna password", None).await.unwrap();
    let other = client(&relay)
        .await
        .log_in("yuna", "yuna password")
        .await
        .unwrap();

    let second = a.refresh(&refresh_token(&first)).await.unwrap();
    assert_ne!(refresh_token(&second), refresh_token(&first), "rotated");
    assert_ne!(second.token, first.token);
    let b = client(&relay).await;
    assert_eq!(
        code(b.authenticate(first.token.as_deref().unwrap()).await),
        ErrorCode::InvalidCredentials,
        "the old access token is replaced"
    );

    // Someone presents the spent refresh token: the whole session goes.
    assert_eq!(
        code(b.refresh(&refresh_token(&first)).await),
        ErrorCode::TokenReused
    );
    assert_eq!(
        code(b.refresh(&refresh_token(&second)).await),
        ErrorCode::InvalidCredentials,
        "the live refresh token died with it"
    );
    assert_eq!(
        code(b.authenticate(second.token.as_deref().unwrap()).await),
        ErrorCode::InvalidCredentials
    );
    // The account's other session is untouched.
    b.refresh(&refresh_token(&other))
        .await
        .expect("another session of the same account");
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn sessions_are_listed_without_secrets_and_can_be_revoked_one_by_one() {
    let (relay, clock) = relay().await;
    let a = client(&relay).await;
    let mine = a.sign_up("dohyun", "dohyun password", None).await.unwrap();
    clock.advance(Duration::from_secs(5));
    let b = client(&relay).await;
    let theirs = b.log_in("dohyun", "dohyun password").await.unwrap();

    let list = a.list_sessions().await.unwrap();
    assert_eq!(list.len(), 2);
    assert_eq!(list[0].id, theirs.session_id, "most recently used first");
    let current: Vec<_> = list.iter().filter(|s| s.current).map(|s| s.id).collect();
    assert_eq!(current, [mine.session_id]);
    assert!(
        list.iter()
            .all(|s| s.client.starts_with("MovieTalk ") && s.method == "password"),
        "{list:?}"
    );
    // The raw answer holds no token.
    let raw = a
        .call(ClientMessage::ListSessions {})
        .await
        .unwrap()
        .to_json();
    for secret in [
        mine.token.as_deref().unwrap(),
        &refresh_token(&mine),
        "mta_",
        "mtr_",
    ] {
        assert!(!raw.contains(secret), "{raw}");
    }

    // Revoking the other session kills its refresh token.
    a.revoke_session(theirs.session_id).await.unwrap();
    assert_eq!(a.list_sessions().await.unwrap().len(), 1);
    assert_eq!(
        code(client(&relay).await.refresh(&refresh_token(&theirs)).await),
        ErrorCode::InvalidCredentials
    );
    // Nobody revokes a session that is not theirs.
    let c = client(&relay).await;
    c.sign_up("stranger", "stranger password", None)
        .await
        .unwrap();
    assert_eq!(
        code(c.revoke_session(mine.session_id).await),
        ErrorCode::NotFound
    );
    // Revoking the current session logs this connection out.
    a.revoke_session(mine.session_id).await.unwrap();
    assert_eq!(code(a.list_sessions().await), ErrorCode::Unauthorized);
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn log_out_password_change_and_deletion_revoke_refresh_tokens() {
    let (relay, _clock) = relay().await;
    let a = client(&relay).await;
    let kept = a.sign_up("soyeon", "first password", None).await.unwrap();
    let other = client(&relay)
        .await
        .log_in("soyeon", "first password")
        .await
        .unwrap();
    a.change_password("first password", "second password")
        .await
        .unwrap();
    let z = client(&relay).await;
    assert_eq!(
        code(z.refresh(&refresh_token(&other)).await),
        ErrorCode::InvalidCredentials,
        "other sessions end"
    );
    let kept = z
        .refresh(&refresh_token(&kept))
        .await
        .expect("the session that changed it stays");

    z.log_out().await.unwrap();
    assert_eq!(
        code(client(&relay).await.refresh(&refresh_token(&kept)).await),
        ErrorCode::InvalidCredentials,
        "log-out"
    );

    let d = client(&relay).await;
    let s = d.log_in("soyeon", "second password").await.unwrap();
    d.delete_account("second password").await.unwrap();
    assert_eq!(
        code(client(&relay).await.refresh(&refresh_token(&s)).await),
        ErrorCode::InvalidCredentials,
        "deletion"
    );
    relay.shutdown().await.unwrap();
}
