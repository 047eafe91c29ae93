//! Other people as this app last saw them: their public profiles and whom the user follows,
//! kept beside the sync cursor so that profiles and the feed read offline.
//!
//! The feed is built locally: [`crate::sync`] pulls everyone's reviews into the cache, so the
//! reviews by the people the user follows are a query away, with or without the relay.

pub use movietalk_protocol::ipc::FeedCursor;
use std::sync::Mutex;

use movietalk_protocol::relay::{Account, ErrorCode};

use crate::catalog::Catalog;
use crate::error::Result;
use crate::relay_client::{ClientError, RelayClient};
use crate::sync::{CachedReview, SyncError, state_get, state_set};

fn profile_name(handle: &str) -> String {
    format!("profile:{handle}")
}

fn following_name(me: &str) -> String {
    format!("following:{me}")
}

impl Catalog {
    /// Remembers a profile as the relay last showed it.
    pub fn remember_profile(&self, account: &Account) -> Result<()> {
        let json = serde_json::to_string(account).expect("an account always serialises");
        state_set(&self.conn, &profile_name(&account.handle), &json)?;
        Ok(())
    }

    /// Notes that the relay has no account `handle` (deleted): no profile, and
    /// [`Catalog::authors_without_profile`] stops asking for it.
    pub fn remember_no_profile(&self, handle: &str) -> Result<()> {
        state_set(&self.conn, &profile_name(handle), "null")?;
        Ok(())
    }

    /// Whether this app asked the relay for `handle`'s profile before (found or not).
    pub fn authors_known(&self, handle: &str) -> Result<bool> {
        Ok(state_get(&self.conn, &profile_name(handle))?.is_some())
    }

    /// Up to `limit` authors of cached reviews and comments whose profile this app has never
    /// asked for (their names and pictures are fetched in the background).
    pub fn authors_without_profile(&self, limit: u32) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare(
            "SELECT author FROM (SELECT author FROM remote_reviews UNION SELECT author FROM remote_comments)
             WHERE 'profile:' || author NOT IN (SELECT name FROM sync_state WHERE name LIKE 'profile:%')
             ORDER BY author LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The profile of `handle` as last seen, if it was ever seen.
    pub fn cached_profile(&self, handle: &str) -> Result<Option<Account>> {
        Ok(state_get(&self.conn, &profile_name(handle))?
            .and_then(|json| serde_json::from_str(&json).ok()))
    }

    /// Remembers whom `me` follows.
    pub fn remember_following(&self, me: &str, handles: &[String]) -> Result<()> {
        let json = serde_json::to_string(handles).expect("handles always serialise");
        state_set(&self.conn, &following_name(me), &json)?;
        Ok(())
    }

    /// Whom `me` followed when last asked (empty if never asked).
    pub fn cached_following(&self, me: &str) -> Result<Vec<String>> {
        Ok(state_get(&self.conn, &following_name(me))?
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default())
    }

    /// Reviews by `authors`, newest first, `limit` at a time, after `cursor`; from the local
    /// cache of everyone's reviews.
    pub fn feed(
        &self,
        authors: &[String],
        cursor: Option<FeedCursor>,
        limit: u32,
    ) -> Result<Vec<CachedReview>> {
        let authors = serde_json::to_string(authors).expect("handles always serialise");
        let (updated, id) = cursor.map_or((i64::MAX, i64::MAX), |c| {
            (
                i64::try_from(c.updated_at_ms).unwrap_or(i64::MAX),
                i64::try_from(c.id).unwrap_or(i64::MAX),
            )
        });
        self.cached_reviews(
            "WHERE r.author IN (SELECT value FROM json_each(?1))
               AND (r.updated_at_ms < ?2 OR (r.updated_at_ms = ?2 AND r.id < ?3))",
            rusqlite::params![authors, updated, id],
            i64::from(limit.clamp(1, 200)),
        )
    }
}

/// Asks the relay for `handle`'s profile and remembers the answer: the profile, or — when the
/// relay has no such account — that there is none (`Ok(None)`). Any other failure changes
/// nothing. The catalog is not locked across the request.
pub async fn fetch_profile(
    db: &Mutex<Catalog>,
    client: &RelayClient,
    handle: &str,
) -> std::result::Result<Option<Account>, SyncError> {
    let lock = || db.lock().unwrap_or_else(|p| p.into_inner());
    match client.profile(handle).await {
        Ok(account) => {
            lock().remember_profile(&account)?;
            Ok(Some(account))
        }
        Err(ClientError::Rejected {
            code: ErrorCode::NotFound,
            ..
        }) => {
            lock().remember_no_profile(handle)?;
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}
