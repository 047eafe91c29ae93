//! Local accounts: handles, argon2id password hashes, sessions (short-lived access tokens and
//! rotating refresh tokens), provider identities linked to accounts, profiles, password
//! changes and account deletion.
//!
//! **Tokens** are 32 random bytes shown to the client once (hex, prefixed `mta_` for access and
//! `mtr_` for refresh tokens); the relay keeps only their SHA-256, so a leaked database does not
//! leak sessions. A *session* is one log-in on one client: it has at any time one access token
//! (15 minutes by default) and one refresh token (30 days, renewed by every refresh).
//!
//! **Rotation and reuse:** [`AccountStore::refresh`] trades the current refresh token for a new
//! pair; the old refresh token is remembered as spent. Presenting a spent refresh token again
//! means two parties hold the session's tokens (one of them a thief): the whole session is
//! revoked and [`AccountError::TokenReused`] returned, so both must log in again.
//!
//! **Provider accounts:** an account created by a provider log-in has no password (stored as an
//! empty hash, which no password matches). It can set one with a change of password, which —
//! like deleting a password-less account — needs a *recent log-in* (a session begun within
//! [`RECENT_LOGIN`]), since there is no current password to check. An account always keeps at
//! least one way to log in: unlinking its last provider without a password is refused.
//!
//! **Deleting an account** removes its row (handle, profile, password hash), every session,
//! every provider link, its reviews (with the comments on them), its comments and its likes —
//! the change log tells other clients. What it wrote in chat stays, so conversations keep their
//! sense, but is shown as written by "deleted user": the author and client id are rewritten and
//! nothing links it to the account.

use std::time::Duration;

use movietalk_protocol::relay::{Account, ChangeKind, LinkedProvider, SessionInfo};
use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::store::{SqliteStore, StoreError};

/// How long an access token stays valid by default.
pub const ACCESS_TTL: Duration = Duration::from_secs(15 * 60);
/// How long a refresh token stays valid by default (each refresh issues a new one).
pub const REFRESH_TTL: Duration = Duration::from_secs(30 * 24 * 3600);
/// How recent a log-in must be to set a first password or delete a password-less account.
pub const RECENT_LOGIN: Duration = Duration::from_secs(10 * 60);
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
    #[error("too many log-ins at once; try again in a moment")]
    Busy,
    #[error("this refresh token was already used; the session is revoked, log in again")]
    TokenReused {
        /// The account whose session was revoked, and the session: its connections end too.
        account: u64,
        session: u64,
    },
    #[error("this account has no password; log in with your provider again (within {} minutes) to do this", RECENT_LOGIN.as_secs() / 60)]
    RecentLoginRequired,
    #[error("that identity is already linked to another account")]
    IdentityTaken,
    #[error("the account is already linked to another identity of this provider; unlink it first")]
    ProviderAlreadyLinked,
    #[error("no such session or provider link on this account")]
    NotFound,
    #[error(
        "this is the account's only way to log in; set a password or link another provider first"
    )]
    LastLoginMethod,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for AccountError {
    fn from(e: rusqlite::Error) -> Self {
        AccountError::Store(e.into())
    }
}

/// How long new tokens live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    pub access: Duration,
    pub refresh: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            access: ACCESS_TTL,
            refresh: REFRESH_TTL,
        }
    }
}

/// What a new session is stamped with.
#[derive(Debug, Clone, Copy)]
pub struct SessionParams<'a> {
    /// The relay clock's present moment.
    pub now_ms: u64,
    pub lifetimes: Lifetimes,
    /// What the client called itself (shown in the session list).
    pub client: &'a str,
}

/// New tokens, shown to the client once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSession {
    pub session_id: u64,
    pub access_token: String,
    pub access_expires_at_ms: u64,
    pub refresh_token: String,
    pub refresh_expires_at_ms: u64,
}

/// A session found by its access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveSession {
    pub session_id: u64,
    pub access_expires_at_ms: u64,
}

pub use crate::hashing::HashCost;

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).expect("the OS random source works");
    bytes
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// Hashes `password` with argon2id and a fresh salt (PHC string format), in one of the
/// process's reused buffers ([`crate::hashing`]); blocks until one is free.
pub fn hash_password(password: &str, cost: HashCost) -> String {
    crate::hashing::hash(password, cost)
}

/// Checks `password` against a stored PHC hash (its own parameters are used), in one of the
/// process's reused buffers ([`crate::hashing`]). The empty hash of a password-less account, or
/// one asking for absurd memory, matches nothing.
pub fn verify_password(password: &str, phc: &str) -> bool {
    crate::hashing::verify(password, phc)
}

pub(crate) const ACCOUNT_COLUMNS: &str = "id, handle, display_name, bio, avatar_url";

/// The account with this handle, if there is one.
pub(crate) fn account_by_handle(
    conn: &rusqlite::Connection,
    handle: &str,
) -> rusqlite::Result<Option<Account>> {
    conn.query_row(
        &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE handle = ?1"),
        [handle],
        row_to_account,
    )
    .optional()
}

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
    /// Opens a session for `account_id` (and drops its sessions that ran out).
    fn new_session(
        conn: &rusqlite::Connection,
        account_id: i64,
        method: &str,
        at: &SessionParams<'_>,
    ) -> Result<NewSession, AccountError> {
        let (access_token, access_expires_at_ms, refresh_token, refresh_expires_at_ms) =
            fresh_tokens(at);
        conn.execute(
            "DELETE FROM auth_sessions WHERE account_id = ?1 AND refresh_expires_at_ms <= ?2",
            params![account_id, at.now_ms as i64],
        )?;
        let client: String = at.client.chars().take(80).collect();
        conn.execute(
            "INSERT INTO auth_sessions (account_id, client, method, created_at_ms, last_used_at_ms, access_hash,
                                        access_expires_at_ms, refresh_hash, refresh_expires_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8)",
            params![
                account_id,
                client,
                method,
                at.now_ms as i64,
                token_hash(&access_token),
                access_expires_at_ms as i64,
                token_hash(&refresh_token),
                refresh_expires_at_ms as i64
            ],
        )?;
        let session_id = conn.last_insert_rowid() as u64;
        Ok(NewSession {
            session_id,
            access_token,
            access_expires_at_ms,
            refresh_token,
            refresh_expires_at_ms,
        })
    }

    fn account(conn: &rusqlite::Connection, id: i64) -> Result<Account, AccountError> {
        Ok(conn.query_row(
            &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"),
            [id],
            row_to_account,
        )?)
    }

    /// Whether `session` of `account` began within [`RECENT_LOGIN`] of `now_ms`.
    fn recent_login(
        conn: &rusqlite::Connection,
        account: i64,
        session: Option<u64>,
        now_ms: u64,
    ) -> Result<bool, AccountError> {
        let Some(session) = session else {
            return Ok(false);
        };
        let created: Option<i64> = conn
            .query_row(
                "SELECT created_at_ms FROM auth_sessions WHERE id = ?1 AND account_id = ?2",
                params![session as i64, account],
                |r| r.get(0),
            )
            .optional()?;
        Ok(created
            .is_some_and(|c| now_ms.saturating_sub(c as u64) <= RECENT_LOGIN.as_millis() as u64))
    }

    fn login_methods_of(
        conn: &rusqlite::Connection,
        account: i64,
    ) -> Result<(bool, Vec<LinkedProvider>), AccountError> {
        let password: String = conn.query_row(
            "SELECT password_hash FROM accounts WHERE id = ?1",
            [account],
            |r| r.get(0),
        )?;
        let mut stmt = conn.prepare("SELECT provider, linked_at_ms FROM provider_links WHERE account_id = ?1 ORDER BY provider")?;
        let providers = stmt
            .query_map([account], |r| {
                Ok(LinkedProvider {
                    provider: r.get(0)?,
                    linked_at_ms: r.get::<_, i64>(1)? as u64,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok((!password.is_empty(), providers))
    }
}

/// A new access token and refresh token, and when each expires (the access token never
/// outlives the refresh token).
pub(crate) fn fresh_tokens(at: &SessionParams<'_>) -> (String, u64, String, u64) {
    let refresh_expires = at.now_ms + at.lifetimes.refresh.as_millis() as u64;
    let access_expires = (at.now_ms + at.lifetimes.access.as_millis() as u64).min(refresh_expires);
    (
        format!("mta_{}", hex(&random_bytes::<32>())),
        access_expires,
        format!("mtr_{}", hex(&random_bytes::<32>())),
        refresh_expires,
    )
}

/// Where the relay keeps accounts, sessions and provider links. Every method that decides
/// about expiry takes the relay clock's `now_ms` (or [`SessionParams`]) instead of reading a
/// clock itself.
pub trait AccountStore: Send + Sync + std::fmt::Debug + 'static {
    /// Creates an account (the handle must be free) and a session for it.
    fn sign_up(
        &self,
        handle: &str,
        password: &str,
        display_name: &str,
        cost: HashCost,
        at: &SessionParams<'_>,
    ) -> Result<(Account, NewSession), AccountError>;
    /// Checks a handle and password and opens a session.
    fn log_in(
        &self,
        handle: &str,
        password: &str,
        at: &SessionParams<'_>,
    ) -> Result<(Account, NewSession), AccountError>;
    /// The account and session a live access token belongs to (marks the session used).
    fn authenticate(
        &self,
        access_token: &str,
        now_ms: u64,
    ) -> Result<(Account, LiveSession), AccountError>;
    /// Trades a live refresh token for new tokens (see the module doc for reuse).
    fn refresh(
        &self,
        refresh_token: &str,
        at: &SessionParams<'_>,
    ) -> Result<(Account, NewSession), AccountError>;
    /// Revokes one session of `account` (its access and refresh tokens).
    fn revoke_session(&self, account: u64, session_id: u64) -> Result<(), AccountError>;
    /// The account's sessions that have not run out, most recently used first.
    fn sessions(&self, account: u64, now_ms: u64) -> Result<Vec<SessionInfo>, AccountError>;
    /// Changes the fields given (an empty avatar address removes it).
    fn update_profile(
        &self,
        id: u64,
        display_name: Option<&str>,
        bio: Option<&str>,
        avatar_url: Option<&str>,
    ) -> Result<Account, AccountError>;
    /// Checks the current password (or, for an account without one, that session `keep` is a
    /// recent log-in), sets the new one, and revokes every session but `keep`.
    fn change_password(
        &self,
        id: u64,
        current: &str,
        new: &str,
        keep: Option<u64>,
        now_ms: u64,
        cost: HashCost,
    ) -> Result<(), AccountError>;
    /// Deletes the account after checking its password (or, without one, that `session` is a
    /// recent log-in); see the module doc.
    fn delete_account(
        &self,
        id: u64,
        password: &str,
        session: Option<u64>,
        now_ms: u64,
    ) -> Result<(), AccountError>;
    /// Opens a session for the account linked to (`provider`, `subject`); `None` when no account is.
    fn provider_log_in(
        &self,
        provider: &str,
        subject: &str,
        at: &SessionParams<'_>,
    ) -> Result<Option<(Account, NewSession)>, AccountError>;
    /// Creates a password-less account linked to (`provider`, `subject`) and a session for it.
    fn provider_sign_up(
        &self,
        provider: &str,
        subject: &str,
        handle: &str,
        display_name: &str,
        at: &SessionParams<'_>,
    ) -> Result<(Account, NewSession), AccountError>;
    /// Whether `handle` is taken.
    fn handle_taken(&self, handle: &str) -> Result<bool, AccountError>;
    /// Links (`provider`, `subject`) to `account`.
    fn link_provider(
        &self,
        account: u64,
        provider: &str,
        subject: &str,
        now_ms: u64,
    ) -> Result<(), AccountError>;
    /// Unlinks `provider` from `account`, unless that leaves no way to log in.
    fn unlink_provider(&self, account: u64, provider: &str) -> Result<(), AccountError>;
    /// Whether the account has a password, and its linked providers.
    fn login_methods(&self, account: u64) -> Result<(bool, Vec<LinkedProvider>), AccountError>;
    /// Whether a session still exists and its refresh token has not run out.
    fn session_alive(&self, session_id: u64, now_ms: u64) -> Result<bool, AccountError>;
}

impl AccountStore for SqliteStore {
    fn sign_up(
        &self,
        handle: &str,
        password: &str,
        display_name: &str,
        cost: HashCost,
        at: &SessionParams<'_>,
    ) -> Result<(Account, NewSession), AccountError> {
        // Hash outside the lock: it is deliberately slow.
        let phc = hash_password(password, cost);
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        let inserted = tx.execute(
            "INSERT INTO accounts (handle, display_name, password_hash, created_at_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(handle) DO NOTHING",
            params![handle, display_name, phc, at.now_ms as i64],
        )?;
        if inserted == 0 {
            return Err(AccountError::HandleTaken);
        }
        let id = tx.last_insert_rowid();
        let result = (
            Self::account(&tx, id)?,
            Self::new_session(&tx, id, "password", at)?,
        );
        tx.commit()?;
        Ok(result)
    }

    fn log_in(
        &self,
        handle: &str,
        password: &str,
        at: &SessionParams<'_>,
    ) -> Result<(Account, NewSession), AccountError> {
        let found: Option<(i64, String)> = self
            .conn()
            .query_row(
                "SELECT id, password_hash FROM accounts WHERE handle = ?1",
                [handle],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((id, phc)) = found.filter(|(_, phc)| !phc.is_empty()) else {
            // Spend the same effort as for a real account, so timing does not reveal handles
            // (nor which accounts have no password).
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
        Ok((
            Self::account(&conn, id)?,
            Self::new_session(&conn, id, "password", at)?,
        ))
    }

    fn authenticate(
        &self,
        access_token: &str,
        now_ms: u64,
    ) -> Result<(Account, LiveSession), AccountError> {
        let conn = self.conn();
        let found: Option<(i64, i64, i64)> = conn
            .query_row(
                "SELECT id, account_id, access_expires_at_ms FROM auth_sessions WHERE access_hash = ?1 AND access_expires_at_ms > ?2",
                params![token_hash(access_token), now_ms as i64],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (session, account, expires) = found.ok_or(AccountError::InvalidToken)?;
        conn.execute(
            "UPDATE auth_sessions SET last_used_at_ms = max(last_used_at_ms, ?2) WHERE id = ?1",
            params![session, now_ms as i64],
        )?;
        Ok((
            Self::account(&conn, account)?,
            LiveSession {
                session_id: session as u64,
                access_expires_at_ms: expires as u64,
            },
        ))
    }

    fn refresh(
        &self,
        refresh_token: &str,
        at: &SessionParams<'_>,
    ) -> Result<(Account, NewSession), AccountError> {
        let hash = token_hash(refresh_token);
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        let current: Option<(i64, i64, i64)> = tx
            .query_row(
                "SELECT id, account_id, refresh_expires_at_ms FROM auth_sessions WHERE refresh_hash = ?1",
                [&hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((session, account, expires)) = current else {
            // Not the current refresh token of any session: a spent one means reuse.
            let spent: Option<(i64, i64)> = tx
                .query_row(
                    "SELECT s.session_id, a.account_id FROM spent_refresh_tokens s
                     JOIN auth_sessions a ON a.id = s.session_id WHERE s.token_hash = ?1",
                    [&hash],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            return match spent {
                Some((session, account)) => {
                    tx.execute("DELETE FROM auth_sessions WHERE id = ?1", [session])?;
                    tx.commit()?;
                    tracing::warn!(
                        session,
                        "a spent refresh token was presented again; session revoked"
                    );
                    Err(AccountError::TokenReused {
                        account: account as u64,
                        session: session as u64,
                    })
                }
                None => Err(AccountError::InvalidToken),
            };
        };
        if expires as u64 <= at.now_ms {
            tx.execute("DELETE FROM auth_sessions WHERE id = ?1", [session])?;
            tx.commit()?;
            return Err(AccountError::InvalidToken);
        }
        let (access_token, access_expires_at_ms, new_refresh, refresh_expires_at_ms) =
            fresh_tokens(at);
        tx.execute(
            "INSERT INTO spent_refresh_tokens (token_hash, session_id) VALUES (?1, ?2)",
            params![hash, session],
        )?;
        tx.execute(
            "UPDATE auth_sessions SET access_hash = ?2, access_expires_at_ms = ?3, refresh_hash = ?4,
                                      refresh_expires_at_ms = ?5, last_used_at_ms = ?6
             WHERE id = ?1",
            params![
                session,
                token_hash(&access_token),
                access_expires_at_ms as i64,
                token_hash(&new_refresh),
                refresh_expires_at_ms as i64,
                at.now_ms as i64
            ],
        )?;
        let acc = Self::account(&tx, account)?;
        tx.commit()?;
        let new = NewSession {
            session_id: session as u64,
            access_token,
            access_expires_at_ms,
            refresh_token: new_refresh,
            refresh_expires_at_ms,
        };
        Ok((acc, new))
    }

    fn revoke_session(&self, account: u64, session_id: u64) -> Result<(), AccountError> {
        let n = self.conn().execute(
            "DELETE FROM auth_sessions WHERE id = ?1 AND account_id = ?2",
            params![session_id as i64, account as i64],
        )?;
        if n == 0 {
            Err(AccountError::NotFound)
        } else {
            Ok(())
        }
    }

    fn sessions(&self, account: u64, now_ms: u64) -> Result<Vec<SessionInfo>, AccountError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, client, method, created_at_ms, last_used_at_ms, refresh_expires_at_ms FROM auth_sessions
             WHERE account_id = ?1 AND refresh_expires_at_ms > ?2 ORDER BY last_used_at_ms DESC, id DESC",
        )?;
        let rows = stmt.query_map(params![account as i64, now_ms as i64], |r| {
            Ok(SessionInfo {
                id: r.get::<_, i64>(0)? as u64,
                client: r.get(1)?,
                method: r.get(2)?,
                created_at_ms: r.get::<_, i64>(3)? as u64,
                last_used_at_ms: r.get::<_, i64>(4)? as u64,
                expires_at_ms: r.get::<_, i64>(5)? as u64,
                current: false,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

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

    fn change_password(
        &self,
        id: u64,
        current: &str,
        new: &str,
        keep: Option<u64>,
        now_ms: u64,
        cost: HashCost,
    ) -> Result<(), AccountError> {
        let phc: String = self.conn().query_row(
            "SELECT password_hash FROM accounts WHERE id = ?1",
            [id as i64],
            |r| r.get(0),
        )?;
        if phc.is_empty() {
            if !Self::recent_login(&self.conn(), id as i64, keep, now_ms)? {
                return Err(AccountError::RecentLoginRequired);
            }
        } else if !verify_password(current, &phc) {
            return Err(AccountError::InvalidCredentials);
        }
        let new_phc = hash_password(new, cost);
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        tx.execute(
            "UPDATE accounts SET password_hash = ?2 WHERE id = ?1",
            params![id as i64, new_phc],
        )?;
        tx.execute(
            "DELETE FROM auth_sessions WHERE account_id = ?1 AND id IS NOT ?2",
            params![id as i64, keep.map(|k| k as i64)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes the account: its row, sessions and links go; its chat messages stay as written
    /// by [`DELETED_AUTHOR`].
    fn delete_account(
        &self,
        id: u64,
        password: &str,
        session: Option<u64>,
        now_ms: u64,
    ) -> Result<(), AccountError> {
        let (handle, phc): (String, String) = self.conn().query_row(
            "SELECT handle, password_hash FROM accounts WHERE id = ?1",
            [id as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if phc.is_empty() {
            if !Self::recent_login(&self.conn(), id as i64, session, now_ms)? {
                return Err(AccountError::RecentLoginRequired);
            }
        } else if !verify_password(password, &phc) {
            return Err(AccountError::InvalidCredentials);
        }
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
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
            crate::store::record_change(&tx, change)?;
        }
        tx.execute(
            "DELETE FROM likes WHERE (kind = 'review' AND target_id IN (SELECT id FROM reviews WHERE account_id = ?1))
                OR (kind = 'comment' AND target_id IN (SELECT id FROM comments WHERE account_id = ?1
                    OR review_id IN (SELECT id FROM reviews WHERE account_id = ?1)))",
            [id as i64],
        )?;
        tx.execute(
            "DELETE FROM auth_sessions WHERE account_id = ?1",
            [id as i64],
        )?;
        tx.execute(
            "DELETE FROM provider_links WHERE account_id = ?1",
            [id as i64],
        )?;
        tx.execute("DELETE FROM accounts WHERE id = ?1", [id as i64])?;
        tx.commit()?;
        Ok(())
    }

    fn provider_log_in(
        &self,
        provider: &str,
        subject: &str,
        at: &SessionParams<'_>,
    ) -> Result<Option<(Account, NewSession)>, AccountError> {
        let conn = self.conn();
        let account: Option<i64> = conn
            .query_row(
                "SELECT account_id FROM provider_links WHERE provider = ?1 AND subject = ?2",
                params![provider, subject],
                |r| r.get(0),
            )
            .optional()?;
        let Some(account) = account else {
            return Ok(None);
        };
        let method = format!("provider:{provider}");
        Ok(Some((
            Self::account(&conn, account)?,
            Self::new_session(&conn, account, &method, at)?,
        )))
    }

    fn provider_sign_up(
        &self,
        provider: &str,
        subject: &str,
        handle: &str,
        display_name: &str,
        at: &SessionParams<'_>,
    ) -> Result<(Account, NewSession), AccountError> {
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        let inserted = tx.execute(
            "INSERT INTO accounts (handle, display_name, password_hash, created_at_ms) VALUES (?1, ?2, '', ?3)
             ON CONFLICT(handle) DO NOTHING",
            params![handle, display_name, at.now_ms as i64],
        )?;
        if inserted == 0 {
            return Err(AccountError::HandleTaken);
        }
        let id = tx.last_insert_rowid();
        let linked = tx.execute(
            "INSERT INTO provider_links (provider, subject, account_id, linked_at_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            params![provider, subject, id, at.now_ms as i64],
        )?;
        if linked == 0 {
            // Linked by a concurrent first log-in: the transaction (and the account) is dropped.
            return Err(AccountError::IdentityTaken);
        }
        let result = (
            Self::account(&tx, id)?,
            Self::new_session(&tx, id, &format!("provider:{provider}"), at)?,
        );
        tx.commit()?;
        Ok(result)
    }

    fn handle_taken(&self, handle: &str) -> Result<bool, AccountError> {
        Ok(self
            .conn()
            .query_row("SELECT 1 FROM accounts WHERE handle = ?1", [handle], |_| {
                Ok(())
            })
            .optional()?
            .is_some())
    }

    fn link_provider(
        &self,
        account: u64,
        provider: &str,
        subject: &str,
        now_ms: u64,
    ) -> Result<(), AccountError> {
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        let owner: Option<i64> = tx
            .query_row(
                "SELECT account_id FROM provider_links WHERE provider = ?1 AND subject = ?2",
                params![provider, subject],
                |r| r.get(0),
            )
            .optional()?;
        match owner {
            Some(owner) if owner as u64 == account => return Ok(()),
            Some(_) => return Err(AccountError::IdentityTaken),
            None => {}
        }
        let inserted = tx.execute(
            "INSERT INTO provider_links (provider, subject, account_id, linked_at_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            params![provider, subject, account as i64, now_ms as i64],
        )?;
        if inserted == 0 {
            return Err(AccountError::ProviderAlreadyLinked);
        }
        tx.commit()?;
        Ok(())
    }

    fn unlink_provider(&self, account: u64, provider: &str) -> Result<(), AccountError> {
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        let (password, providers) = Self::login_methods_of(&tx, account as i64)?;
        if !providers.iter().any(|p| p.provider == provider) {
            return Err(AccountError::NotFound);
        }
        if !password && providers.len() == 1 {
            return Err(AccountError::LastLoginMethod);
        }
        tx.execute(
            "DELETE FROM provider_links WHERE account_id = ?1 AND provider = ?2",
            params![account as i64, provider],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn login_methods(&self, account: u64) -> Result<(bool, Vec<LinkedProvider>), AccountError> {
        Self::login_methods_of(&self.conn(), account as i64)
    }

    fn session_alive(&self, session_id: u64, now_ms: u64) -> Result<bool, AccountError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM auth_sessions WHERE id = ?1 AND refresh_expires_at_ms > ?2",
                params![session_id as i64, now_ms as i64],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
