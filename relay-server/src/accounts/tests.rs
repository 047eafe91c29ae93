//! Password hashing, token storage and the sessions of an earlier schema.

use super::*;
use crate::store::SqliteStore;
use rusqlite::params;

const CHEAP: HashCost = HashCost {
    memory_kib: 1024,
    passes: 1,
};

fn at(now_ms: u64) -> SessionParams<'static> {
    SessionParams {
        now_ms,
        lifetimes: Lifetimes::default(),
        client: "unit test",
    }
}

#[test]
fn passwords_hash_with_argon2id_and_a_fresh_salt() {
    let a = hash_password("correct horse", CHEAP);
    let b = hash_password("correct horse", CHEAP);
    assert!(a.starts_with("$argon2id$"), "{a}");
    assert_ne!(a, b, "salted");
    assert!(verify_password("correct horse", &a));
    assert!(!verify_password("wrong horse", &a));
    assert!(!verify_password("correct horse", "not a hash"));
    assert!(
        !verify_password("", ""),
        "a password-less account matches nothing"
    );
}

#[test]
fn only_the_hashes_of_tokens_are_stored() {
    let store = SqliteStore::in_memory().unwrap();
    let (_, session) = store
        .sign_up("minji", "long password", "Minji", CHEAP, &at(1_000))
        .unwrap();
    let (access, refresh): (String, String) = store
        .conn()
        .query_row(
            "SELECT access_hash, refresh_hash FROM auth_sessions",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(access, token_hash(&session.access_token));
    assert_eq!(refresh, token_hash(&session.refresh_token));
    assert!(session.access_token.starts_with("mta_") && session.access_token.len() == 68);
    assert!(session.refresh_token.starts_with("mtr_") && session.refresh_token.len() == 68);
    assert_eq!(
        session.access_expires_at_ms,
        1_000 + ACCESS_TTL.as_millis() as u64
    );
    assert_eq!(
        session.refresh_expires_at_ms,
        1_000 + REFRESH_TTL.as_millis() as u64
    );
}

#[test]
fn an_access_token_is_no_refresh_token_and_the_reverse() {
    let store = SqliteStore::in_memory().unwrap();
    let (_, s) = store
        .sign_up("jisoo", "long password", "Jisoo", CHEAP, &at(1_000))
        .unwrap();
    assert!(matches!(
        store.authenticate(&s.refresh_token, 2_000),
        Err(AccountError::InvalidToken)
    ));
    assert!(matches!(
        store.refresh(&s.access_token, &at(2_000)),
        Err(AccountError::InvalidToken)
    ));
    store.authenticate(&s.access_token, 2_000).unwrap();
}

#[test]
fn sessions_from_before_refresh_tokens_become_refresh_tokens() {
    // Migration 5 turns the 30-day tokens of migration 1's `sessions` into refresh tokens.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("relay.sqlite3");
    {
        let mut conn = rusqlite::Connection::open(&path).unwrap();
        crate::store::migrations().to_version(&mut conn, 4).unwrap();
        conn.execute("INSERT INTO accounts (id, handle, display_name, password_hash, created_at_ms) VALUES (1, 'old', 'Old', 'x', 0)", []).unwrap();
        conn.execute(
            "INSERT INTO sessions (token_hash, account_id, created_at_ms, expires_at_ms) VALUES (?1, 1, 5, ?2)",
            params![token_hash("an-old-token"), i64::MAX],
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    let (account, new) = store.refresh("an-old-token", &at(10)).unwrap();
    assert_eq!(account.handle, "old");
    assert!(store.authenticate(&new.access_token, 11).is_ok());
}
