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

use movietalk_protocol::relay::{Account, LinkedProvider, SessionInfo};
use sha2::{Digest, Sha256};

use crate::store::StoreError;

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

/// Spends the effort of checking a password against a real account's hash, for a log-in whose
/// handle matched no account with a password (timing must not tell which handles exist). The
/// hash is made once per process, at the default cost.
pub(crate) fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let phc = DUMMY.get_or_init(|| hash_password("not-a-real-password", HashCost::default()));
    let _ = verify_password(password, phc);
}

/// Checks `password` against a stored PHC hash (its own parameters are used), in one of the
/// process's reused buffers ([`crate::hashing`]). The empty hash of a password-less account, or
/// one asking for absurd memory, matches nothing.
pub fn verify_password(password: &str, phc: &str) -> bool {
    crate::hashing::verify(password, phc)
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
/// clock itself. Implemented once, in `rules.rs`, for every store's rows
/// ([`crate::store::rows::Transact`]).
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
    /// Which of `sessions` still exist with a refresh token that has not run out.
    fn sessions_alive(
        &self,
        sessions: &[u64],
        now_ms: u64,
    ) -> Result<std::collections::HashSet<u64>, AccountError>;
}

mod rules;
#[cfg(test)]
mod tests;
