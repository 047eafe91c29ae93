//! Accounts against a relay started by the test, through real WebSocket clients.

#[path = "support/store.rs"]
mod store;
use std::time::Duration;

use movietalk_core::relay_client::{ClientError, RelayClient, RelayEvent};
use movietalk_protocol::relay::ErrorCode;
use movietalk_relay::accounts::{DELETED_AUTHOR, HashCost};
use movietalk_relay::{Config, RunningRelay, start};

/// Cheap hashing keeps the tests quick; production uses HashCost::default().
fn config() -> Config {
    Config {
        hash_cost: HashCost {
            memory_kib: 1024,
            passes: 1,
        },
        ..Config::default()
    }
}

async fn relay_with(config: Config) -> RunningRelay {
    start("127.0.0.1:0".parse().unwrap(), config, store::fresh())
        .await
        .unwrap()
}

async fn client(relay: &RunningRelay) -> (RelayClient, tokio::sync::mpsc::Receiver<RelayEvent>) {
    RelayClient::connect(&relay.url(), "guest").await.unwrap()
}

fn code<T: std::fmt::Debug>(r: Result<T, ClientError>) -> ErrorCode {
    match r {
        Err(ClientError::Rejected { code, .. }) => code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn sign_up_log_in_and_resume_with_a_token() {
    let relay = relay_with(config()).await;
    let (a, _) = client(&relay).await;
    let session = a
        .sign_up("minji", "correct horse battery", Some("민지"))
        .await
        .unwrap();
    assert_eq!(session.account.handle, "minji");
    assert_eq!(session.account.display_name, "민지");
    let token = session.token.expect("a new session carries its token");
    assert!(session.expires_at_ms > 0);

    let (b, _) = client(&relay).await;
    assert_eq!(
        code(b.sign_up("minji", "another password", None).await),
        ErrorCode::Conflict
    );
    assert_eq!(
        code(b.sign_up("Min Ji", "another password", None).await),
        ErrorCode::InvalidInput
    );
    assert_eq!(
        code(b.sign_up("jisoo", "short", None).await),
        ErrorCode::InvalidInput
    );
    assert_eq!(
        code(b.log_in("minji", "wrong password").await),
        ErrorCode::InvalidCredentials
    );
    assert_eq!(
        code(b.log_in("nobody", "wrong password").await),
        ErrorCode::InvalidCredentials
    );
    let again = b.log_in("MinJi", "correct horse battery").await.unwrap();
    assert_eq!(
        again.account.id, session.account.id,
        "handles are case-insensitive at log-in"
    );
    assert_ne!(
        again.token.as_deref(),
        Some(token.as_str()),
        "each log-in is its own session"
    );

    let (c, _) = client(&relay).await;
    let resumed = c.authenticate(&token).await.unwrap();
    assert_eq!(resumed.account.handle, "minji");
    assert!(resumed.token.is_none(), "resuming does not mint a token");
    assert_eq!(
        code(c.authenticate("not-a-token").await),
        ErrorCode::InvalidCredentials
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn log_out_revokes_the_token_and_password_change_revokes_the_others() {
    let relay = relay_with(config()).await;
    let (a, _) = client(&relay).await;
    let first = a
        .sign_up("jisoo", "first password", None)
        .await
        .unwrap()
        .token
        .unwrap();
    let (b, _) = client(&relay).await;
    let second = b
        .log_in("jisoo", "first password")
        .await
        .unwrap()
        .token
        .unwrap();

    assert_eq!(
        code(a.change_password("wrong current", "second password").await),
        ErrorCode::InvalidCredentials
    );
    assert_eq!(
        code(a.change_password("first password", "short").await),
        ErrorCode::InvalidInput
    );
    a.change_password("first password", "second password")
        .await
        .unwrap();
    let (c, _) = client(&relay).await;
    assert_eq!(
        code(c.authenticate(&second).await),
        ErrorCode::InvalidCredentials,
        "other sessions are revoked"
    );
    c.authenticate(&first)
        .await
        .expect("the session that changed the password stays");
    assert_eq!(
        code(c.log_in("jisoo", "first password").await),
        ErrorCode::InvalidCredentials
    );
    c.log_in("jisoo", "second password").await.unwrap();

    a.log_out().await.unwrap();
    let (d, _) = client(&relay).await;
    assert_eq!(
        code(d.authenticate(&first).await),
        ErrorCode::InvalidCredentials,
        "log-out revokes the token"
    );
    assert_eq!(
        code(a.log_out().await),
        ErrorCode::Unauthorized,
        "a guest cannot log out"
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn profiles_change_only_for_the_logged_in_account() {
    let relay = relay_with(config()).await;
    let (a, _) = client(&relay).await;
    assert_eq!(
        code(a.update_profile(Some("x"), None, None).await),
        ErrorCode::Unauthorized
    );
    a.sign_up("hana", "hana password", None).await.unwrap();
    let p = a
        .update_profile(
            Some("하나"),
            Some("봉준호 팬"),
            Some("https://example.invalid/me.png"),
        )
        .await
        .unwrap();
    assert_eq!(
        (p.display_name.as_str(), p.bio.as_str()),
        ("하나", "봉준호 팬")
    );
    assert_eq!(
        p.avatar_url.as_deref(),
        Some("https://example.invalid/me.png")
    );
    let p = a.update_profile(None, None, Some("")).await.unwrap();
    assert_eq!(p.avatar_url, None, "an empty avatar removes it");
    assert_eq!(p.display_name, "하나", "absent fields stay");
    assert_eq!(
        code(
            a.update_profile(None, None, Some("javascript:alert(1)"))
                .await
        ),
        ErrorCode::InvalidInput
    );
    assert_eq!(
        code(a.update_profile(None, Some(&"x".repeat(501)), None).await),
        ErrorCode::InvalidInput
    );
    assert_eq!(
        code(
            a.update_profile(None, Some("a bio with a NUL\0"), None)
                .await
        ),
        ErrorCode::InvalidInput
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn accounts_write_under_their_handle_and_guests_are_marked() {
    let relay = relay_with(config()).await;
    let (a, mut events) = client(&relay).await;
    a.join("lobby", None).await.unwrap();
    a.send("lobby", "as a guest").await.unwrap();
    a.sign_up("yuna", "yuna password", None).await.unwrap();
    a.send("lobby", "as yuna").await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        match tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .unwrap()
            .unwrap()
        {
            RelayEvent::Message(m) => seen.push((m.author, m.guest, m.text)),
            _ => continue,
        }
    }
    assert_eq!(seen[0], ("guest".to_owned(), true, "as a guest".to_owned()));
    assert_eq!(seen[1], ("yuna".to_owned(), false, "as yuna".to_owned()));
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn when_guests_may_not_write_they_can_read_but_not_send() {
    let relay = relay_with(Config {
        guests_may_write: false,
        ..config()
    })
    .await;
    let (a, _) = client(&relay).await;
    a.join("lobby", None).await.expect("guests may read");
    assert_eq!(
        code(a.send("lobby", "hello").await),
        ErrorCode::Unauthorized
    );
    a.sign_up("dohyun", "dohyun password", None).await.unwrap();
    assert_eq!(a.send("lobby", "hello").await.unwrap(), 1);
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn deleting_an_account_removes_it_and_shows_its_messages_as_deleted_user() {
    let relay = relay_with(config()).await;
    let (a, _) = client(&relay).await;
    let token = a
        .sign_up("leaving", "leaving password", Some("Leaving"))
        .await
        .unwrap()
        .token
        .unwrap();
    a.join("r", None).await.unwrap();
    a.send_with_id("r", "m1", "my words").await.unwrap();
    assert_eq!(
        code(a.delete_account("wrong password").await),
        ErrorCode::InvalidCredentials
    );
    a.delete_account("leaving password").await.unwrap();

    let (b, _) = client(&relay).await;
    let history = b.join("r", None).await.unwrap().history;
    assert_eq!(history.len(), 1, "what it wrote stays");
    assert_eq!(history[0].author, DELETED_AUTHOR);
    assert_eq!(history[0].text, "my words");
    assert_ne!(
        history[0].client_id, "m1",
        "nothing links the message back to the account"
    );
    assert_eq!(
        code(b.authenticate(&token).await),
        ErrorCode::InvalidCredentials,
        "its sessions are gone"
    );
    assert_eq!(
        code(b.log_in("leaving", "leaving password").await),
        ErrorCode::InvalidCredentials
    );
    b.sign_up("leaving", "a new person", None)
        .await
        .expect("the handle is free again");
    relay.shutdown().await.unwrap();
}
