//! The watchlist rules, written once over the rows of any store ([`Transact`]). A change locks
//! the watchlist's settings row first, so changes of one watchlist from several connections
//! (or relays) take turns, and each one's version is one more than the last.

use std::time::{SystemTime, UNIX_EPOCH};

use super::*;
use crate::store::rows::{Access, Rows, Transact};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The id of the account with this handle.
fn account_id(rows: &mut dyn Rows, handle: &str) -> Result<u64, SocialError> {
    rows.lock_account_id(handle)?
        .ok_or(SocialError::NotFound("account"))
}

impl<S: Transact> LibraryStore for S {
    fn set_watchlist(&self, account: u64, c: &WatchlistChange<'_>) -> Result<(), SocialError> {
        // The change's own time, never in the relay's future (a machine with a fast clock must
        // not make its changes unbeatable).
        let now = now_ms();
        let at_ms = c.at_ms.map_or(now, |t| t.min(now));
        self.rows(Access::Tx, |rows| {
            let (public, version) = rows.lock_watchlist_meta(account)?;
            let stored = rows.watchlist_entry(account, c.movie_key)?;
            // A change made before the stored one, arriving late: the later one stays.
            if stored.is_some_and(|s| s.at_ms > at_ms) {
                return Ok(());
            }
            let was_listed = stored.is_some_and(|s| s.listed);
            if c.on && !was_listed && rows.watchlist_count(account, true)? >= MAX_WATCHLIST as u64 {
                return Err(SocialError::Invalid(
                    "a watchlist holds at most 5,000 films: take some off first",
                ));
            }
            // Put on again while on it: it stays where its first add put it.
            let added_at_ms = match stored {
                Some(s) if s.listed && c.on => s.added_at_ms,
                _ => at_ms,
            };
            let row = WatchlistRow {
                movie_key: c.movie_key,
                title: c.title,
                year: c.year,
                listed: c.on,
                at_ms,
                added_at_ms,
            };
            // Stored even when nothing shows a difference (a removal of a film not on the
            // list): so that this change, being later, beats an older one arriving after it.
            rows.put_watchlist_entry(account, &row)?;
            if !c.on && rows.watchlist_count(account, false)? > KEPT_REMOVALS {
                rows.prune_watchlist(account, KEPT_REMOVALS)?;
            }
            if c.on != was_listed {
                rows.set_watchlist_meta(account, public, version + 1)?;
            }
            Ok(())
        })
    }

    fn set_watchlist_public(&self, account: u64, public: bool) -> Result<(), SocialError> {
        self.rows(Access::Tx, |rows| {
            let (was, version) = rows.lock_watchlist_meta(account)?;
            if was != public {
                rows.set_watchlist_meta(account, public, version + 1)?;
            }
            Ok(())
        })
    }

    fn watchlist(
        &self,
        reader: Option<u64>,
        handle: Option<&str>,
        since: Option<u64>,
    ) -> Result<Watchlist, SocialError> {
        // One transaction: the version answered is the version of the films answered.
        self.rows(Access::Tx, |rows| {
            let owner = match handle {
                Some(handle) => account_id(rows, handle)?,
                None => reader.ok_or(SocialError::NotFound("account"))?,
            };
            let (public, version) = rows.watchlist_meta(owner)?;
            if !public && reader != Some(owner) {
                return Err(SocialError::Private("watchlist"));
            }
            let handle = rows.account(owner)?.handle;
            let unchanged = since == Some(version);
            let films = match unchanged {
                true => Vec::new(),
                false => rows.watchlist(owner)?,
            };
            Ok(Watchlist {
                handle,
                public,
                version,
                films,
                unchanged,
            })
        })
    }
}
