//! The watchlist and diary rules, written once over the rows of any store ([`Transact`]). A
//! change locks the watchlist's (or diary's) version row first, so changes of one from several
//! connections (or relays) take turns, and each one's version is one more than the last.

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

    fn put_diary_entry(&self, account: u64, entry: &DiaryEntry) -> Result<(), SocialError> {
        let at_ms = entry.edited_at_ms.min(now_ms());
        let entry = DiaryEntry {
            edited_at_ms: at_ms,
            ..entry.clone()
        };
        self.rows(Access::Tx, |rows| {
            let version = rows.lock_diary_version(account)?;
            let stored = rows.diary_entry(account, &entry.client_id)?;
            // An edit made before the stored one (or its deletion), arriving late: it loses.
            if stored.is_some_and(|(_, t)| t > at_ms) {
                return Ok(());
            }
            let listed = stored.is_some_and(|(deleted, _)| !deleted);
            if !listed && rows.diary_count(account, false)? >= MAX_DIARY as u64 {
                return Err(SocialError::Invalid(
                    "a diary holds at most 20,000 entries: delete some first",
                ));
            }
            rows.put_diary_entry(account, &entry, false)?;
            Ok(rows.set_diary_version(account, version + 1)?)
        })
    }

    fn delete_diary_entry(
        &self,
        account: u64,
        client_id: &str,
        at_ms: Option<u64>,
    ) -> Result<(), SocialError> {
        let now = now_ms();
        let at_ms = at_ms.map_or(now, |t| t.min(now));
        // What is kept of a deleted entry: its id and when it was deleted.
        let gone = DiaryEntry {
            client_id: client_id.to_owned(),
            movie_key: String::new(),
            title: String::new(),
            year: None,
            watched_on: String::new(),
            rating: None,
            rewatch: false,
            review: false,
            edited_at_ms: at_ms,
        };
        self.rows(Access::Tx, |rows| {
            let version = rows.lock_diary_version(account)?;
            let stored = rows.diary_entry(account, client_id)?;
            if stored.is_some_and(|(_, t)| t > at_ms) {
                return Ok(());
            }
            // Kept even for an entry never seen here: so that this deletion, being later,
            // beats an older edit of it arriving after it.
            rows.put_diary_entry(account, &gone, true)?;
            if rows.diary_count(account, true)? > KEPT_REMOVALS {
                rows.prune_diary(account, KEPT_REMOVALS)?;
            }
            if stored.is_some_and(|(deleted, _)| !deleted) {
                rows.set_diary_version(account, version + 1)?;
            }
            Ok(())
        })
    }

    fn diary(
        &self,
        account: u64,
        since: Option<u64>,
    ) -> Result<(u64, bool, Vec<DiaryEntry>), SocialError> {
        self.rows(Access::Tx, |rows| {
            let version = rows.diary_version(account)?;
            if since == Some(version) {
                return Ok((version, true, Vec::new()));
            }
            Ok((version, false, rows.diary(account)?))
        })
    }
}
