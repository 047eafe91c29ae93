//! Local accounts: handles, argon2id password hashes, session tokens that expire and can be
//! revoked, profiles, password changes and account deletion.
//!
//! Tokens are 32 random bytes shown to the client once (hex); the relay keeps only their
//! SHA-256, so a leaked database does not leak sessions.
//!
//! **Deleting an account** removes its row (handle, profile, password hash), every session, its
//! reviews (with the comments on them), its comments and its likes — the change log tells other
//! clients. What it wrote in chat stays, so conversations keep their sense, but is shown as
//! written by "deleted user": the author and client id are rewritten and nothing links it to
//! the account.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use movietalk_protocol::relay::{Account, ChangeKind};
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::store::{SqliteStore, StoreError};

/// How long a session token stays valid.
pub const SESSION_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// The author shown for messages of a deleted account.
pub const DELETED_AUTHOR: &str = "deleted user";

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("that handle is taken")]
    HandleTaken,
    #[error("wrong handle or password")]
    InvalidCredentials,
    #[error("the session is unknown, expired or revoked")]
    InvalidToken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for AccountError {
    fn from(e: rusqlite::Error) -> Self {
        AccountError::Store(e.into())
    }
}

/// A new session: the token to hand to the client once, and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub token: String,
    pub expires_at_ms: u64,
}

/// Password hashing cost. The defaults are OWASP's argon2id minimum (19 MiB, 2 passes).
#[derive(Debug, Clone, Copy)]
pub struct HashCost {
    pub memory_kib: u32,
    pub passes: u32,
}

impl Default for HashCost {
    fn default() -> Self {
        HashCost {
            memory_kib: 19 * 1024,
            passes: 2,
        }
    }
}

fn hasher(cost: HashCost) -> Argon2<'static> {
    let params =
        Params::new(cost.memory_kib, cost.passes, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Hashes `password` with argon2id and a fresh salt (PHC string format).
pub fn hash_password(password: &str, cost: HashCost) -> String {
    let salt = SaltString::encode_b64(&random_bytes::<16>()).expect("16 bytes make a valid salt");
    hasher(cost)
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 hashing succeeds")
        .to_string()
}

/// Checks `password` against a stored PHC hash (its own parameters are used).
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

const ACCOUNT_COLUMNS: &str = "id, handle, display_name, bio, avatar_url";

fn row_to_account(r: &rusqlite::Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: r.get::<_, i64>(0)? as u64,
        handle: r.get(1)?,
        display_name: r.get(2)?,
        bio: r.get(3)?,
        avatar_url: r.get(4)?,
    })
}

impl SqliteStore {
    fn new_session(
        conn: &rusqlite::Connection,
        account_id: i64,
    ) -> Result<NewSession, AccountError> {
        let token = hex(&random_bytes::<32>());
        let now = now_ms();
        let expires_at_ms = now + SESSION_TTL.as_millis() as u64;
        conn.execute(
            "INSERT INTO sessions (token_hash, account_id, created_at_ms, expires_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![token_hash(&token), account_id, now as i64, expires_at_ms as i64],
        )?;
        Ok(NewSession {
            token,
            expires_at_ms,
        })
    }

    fn account(conn: &rusqlite::Connection, id: i64) -> Result<Account, AccountError> {
        Ok(conn.query_row(
            &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"),
            [id],
            row_to_account,
        )?)
    }
}

/// Where the relay keeps accounts and sessions.
pub trait AccountStore: Send + Sync + std::fmt::Debug + 'static {
    /// Creates an account (the handle must be free) and a session for it.
    fn sign_up(
        &self,
        handle: &str,
        password: &str,
        display_name: &str,
        cost: HashCost,
    ) -> Result<(Account, NewSession), AccountError>;
    /// Checks a handle and password and opens a session.
    fn log_in(&self, handle: &str, password: &str) -> Result<(Account, NewSession), AccountError>;
    /// The account a live token belongs to, and when the token expires.
    fn authenticate(&self, token: &str) -> Result<(Account, u64), AccountError>;
    /// Revokes one session token.
    fn revoke(&self, token: &str) -> Result<(), AccountError>;
    /// Changes the fields given (an empty avatar address removes it).
    fn update_profile(
        &self,
        id: u64,
        display_name: Option<&str>,
        bio: Option<&str>,
        avatar_url: Option<&str>,
    ) -> Result<Account, AccountError>;
    /// Checks the current password, sets the new one, and revokes every session but `keep`.
    fn change_password(
        &self,
        id: u64,
        current: &str,
        new: &str,
        keep: Option<&str>,
        cost: HashCost,
    ) -> Result<(), AccountError>;
    /// Deletes the account after checking its password (see the module doc).
    fn delete_account(&self, id: u64, password: &str) -> Result<(), AccountError>;
}

impl AccountStore for SqliteStore {
    /// Creates an account (the handle must be free) and a session for it.
    fn sign_up(
        &self,
        handle: &str,
        password: &str,
        display_name: &str,
        cost: HashCost,
    ) -> Result<(Account, NewSession), AccountError> {
        // Hash outside the lock: it is deliberately slow.
        let phc = hash_password(password, cost);
        let conn = self.conn();
        let inserted = conn.execute(
            "INSERT INTO accounts (handle, display_name, password_hash, created_at_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(handle) DO NOTHING",
            params![handle, display_name, phc, now_ms() as i64],
        )?;
        if inserted == 0 {
            return Err(AccountError::HandleTaken);
        }
        let id = conn.last_insert_rowid();
        Ok((Self::account(&conn, id)?, Self::new_session(&conn, id)?))
    }

    /// Checks a handle and password and opens a session.
    fn log_in(&self, handle: &str, password: &str) -> Result<(Account, NewSession), AccountError> {
        let found: Option<(i64, String)> = self
            .conn()
            .query_row(
                "SELECT id, password_hash FROM accounts WHERE handle = ?1",
                [handle],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((id, phc)) = found else {
            // Spend the same effort as for a real account, so timing does not reveal handles.
            let _ = verify_password(
                password,
                &hash_password("not-a-real-password", HashCost::default()),
            );
            return Err(AccountError::InvalidCredentials);
        };
        if !verify_password(password, &phc) {
            return Err(AccountError::InvalidCredentials);
        }
        let conn = self.conn();
        Ok((Self::account(&conn, id)?, Self::new_session(&conn, id)?))
    }

    /// The account a live token belongs to, and when the token expires.
    fn authenticate(&self, token: &str) -> Result<(Account, u64), AccountError> {
        let conn = self.conn();
        let found: Option<(i64, i64)> = conn
            .query_row(
                "SELECT account_id, expires_at_ms FROM sessions WHERE token_hash = ?1 AND expires_at_ms > ?2",
                params![token_hash(token), now_ms() as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let (id, expires) = found.ok_or(AccountError::InvalidToken)?;
        Ok((Self::account(&conn, id)?, expires as u64))
    }

    /// Revokes one session token.
    fn revoke(&self, token: &str) -> Result<(), AccountError> {
        self.conn().execute(
            "DELETE FROM sessions WHERE token_hash = ?1",
            [token_hash(token)],
        )?;
        Ok(())
    }

    /// Changes the fields given.
    fn update_profile(
        &self,
        id: u64,
        display_name: Option<&str>,
        bio: Option<&str>,
        avatar_url: Option<&str>,
    ) -> Result<Account, AccountError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE accounts SET display_name = coalesce(?2, display_name), bio = coalesce(?3, bio),
                                 avatar_url = CASE WHEN ?4 IS NULL THEN avatar_url WHEN ?4 = '' THEN NULL ELSE ?4 END
             WHERE id = ?1",
            params![id as i64, display_name, bio, avatar_url],
        )?;
        Self::account(&conn, id as i64)
    }

    /// Checks the current password, sets the new one, and revokes every session but `keep`.
    fn change_password(
        &self,
        id: u64,
        current: &str,
        new: &str,
        keep: Option<&str>,
        cost: HashCost,
    ) -> Result<(), AccountError> {
        let phc: String = self.conn().query_row(
            "SELECT password_hash FROM accounts WHERE id = ?1",
            [id as i64],
            |r| r.get(0),
        )?;
        if !verify_password(current, &phc) {
            return Err(AccountError::InvalidCredentials);
        }
        let new_phc = hash_password(new, cost);
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE accounts SET password_hash = ?2 WHERE id = ?1",
            params![id as i64, new_phc],
        )?;
        tx.execute(
            "DELETE FROM sessions WHERE account_id = ?1 AND token_hash IS NOT ?2",
            params![id as i64, keep.map(token_hash)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes the account after checking its password: its row and sessions go; its chat
    /// messages stay as written by [`DELETED_AUTHOR`].
    fn delete_account(&self, id: u64, password: &str) -> Result<(), AccountError> {
        let (handle, phc): (String, String) = self.conn().query_row(
            "SELECT handle, password_hash FROM accounts WHERE id = ?1",
            [id as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if !verify_password(password, &phc) {
            return Err(AccountError::InvalidCredentials);
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        tx.execute(
            "UPDATE chat_messages SET author = ?2, author_key = 'deleted', client_id = 'deleted:' || seq WHERE author_key = ?1",
            params![format!("a:{handle}"), DELETED_AUTHOR],
        )?;
        // Its reviews (with everyone's comments on them) and its comments elsewhere go; the
        // change log tells offline clients to drop their copies.
        let mut gone: Vec<ChangeKind> = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT c.id, c.review_id FROM comments c JOIN reviews r ON r.id = c.review_id
                 WHERE c.account_id = ?1 AND r.account_id != ?1",
            )?;
            for row in stmt.query_map([id as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })? {
                let (comment_id, review_id) = row?;
                gone.push(ChangeKind::CommentDeleted {
                    comment_id: comment_id as u64,
                    review_id: review_id as u64,
                });
            }
            let mut stmt = tx.prepare("SELECT id FROM reviews WHERE account_id = ?1")?;
            for row in stmt.query_map([id as i64], |r| r.get::<_, i64>(0))? {
                gone.push(ChangeKind::ReviewDeleted {
                    review_id: row? as u64,
                });
            }
        }
        for change in &gone {
            crate::social::record(&tx, change)?;
        }
        tx.execute(
            "DELETE FROM likes WHERE (kind = 'review' AND target_id IN (SELECT id FROM reviews WHERE account_id = ?1))
                OR (kind = 'comment' AND target_id IN (SELECT id FROM comments WHERE account_id = ?1
                    OR review_id IN (SELECT id FROM reviews WHERE account_id = ?1)))",
            [id as i64],
        )?;
        tx.execute("DELETE FROM sessions WHERE account_id = ?1", [id as i64])?;
        tx.execute("DELETE FROM accounts WHERE id = ?1", [id as i64])?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_hash_with_argon2id_and_a_fresh_salt() {
        let cost = HashCost {
            memory_kib: 1024,
            passes: 1,
        };
        let a = hash_password("correct horse", cost);
        let b = hash_password("correct horse", cost);
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(verify_password("correct horse", &a));
        assert!(!verify_password("wrong horse", &a));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn only_the_hash_of_a_token_is_stored() {
        let store = SqliteStore::in_memory().unwrap();
        let (_, session) = store
            .sign_up(
                "minji",
                "long password",
                "Minji",
                HashCost {
                    memory_kib: 1024,
                    passes: 1,
                },
            )
            .unwrap();
        let stored: String = store
            .conn()
            .query_row("SELECT token_hash FROM sessions", [], |r| r.get(0))
            .unwrap();
        assert_ne!(stored, session.token);
        assert_eq!(stored, token_hash(&session.token));
        assert_eq!(session.token.len(), 64);
    }
}
