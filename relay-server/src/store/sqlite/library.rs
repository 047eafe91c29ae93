//! Watchlist rows in SQLite.

use movietalk_protocol::relay::WatchlistFilm;
use rusqlite::params;

use super::{SqliteRows, id};
use crate::store::StoreResult;
use crate::store::rows::{LibraryRows, WatchlistRow, WatchlistStanding};

impl LibraryRows for SqliteRows<'_> {
    fn lock_watchlist_meta(&mut self, account: u64) -> StoreResult<(bool, u64)> {
        self.exec(
            "INSERT INTO watchlist_meta (account_id, public, version) VALUES (?1, 0, 0)
             ON CONFLICT (account_id) DO NOTHING",
            [account as i64],
        )?;
        self.watchlist_meta(account)
    }

    fn watchlist_meta(&mut self, account: u64) -> StoreResult<(bool, u64)> {
        Ok(self
            .opt(
                "SELECT public, version FROM watchlist_meta WHERE account_id = ?1",
                [account as i64],
                |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)),
            )?
            .unwrap_or((false, 0)))
    }

    fn set_watchlist_meta(&mut self, account: u64, public: bool, version: u64) -> StoreResult<()> {
        self.exec(
            "UPDATE watchlist_meta SET public = ?2, version = ?3 WHERE account_id = ?1",
            params![account as i64, public, version as i64],
        )?;
        Ok(())
    }

    fn watchlist_entry(
        &mut self,
        account: u64,
        movie_key: &str,
    ) -> StoreResult<Option<WatchlistStanding>> {
        self.opt(
            "SELECT listed, at_ms, added_at_ms FROM watchlist WHERE account_id = ?1 AND movie_key = ?2",
            params![account as i64, movie_key],
            |r| {
                Ok(WatchlistStanding {
                    listed: r.get(0)?,
                    at_ms: r.get::<_, i64>(1)? as u64,
                    added_at_ms: r.get::<_, i64>(2)? as u64,
                })
            },
        )
    }

    fn put_watchlist_entry(&mut self, account: u64, w: &WatchlistRow<'_>) -> StoreResult<()> {
        self.exec(
            "INSERT INTO watchlist (account_id, movie_key, title, year, listed, at_ms, added_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT (account_id, movie_key) DO UPDATE SET title = excluded.title,
                 year = excluded.year, listed = excluded.listed, at_ms = excluded.at_ms,
                 added_at_ms = excluded.added_at_ms",
            params![
                account as i64,
                w.movie_key,
                w.title,
                w.year,
                w.listed,
                w.at_ms as i64,
                w.added_at_ms as i64
            ],
        )?;
        Ok(())
    }

    fn watchlist_count(&mut self, account: u64, listed: bool) -> StoreResult<u64> {
        self.one(
            "SELECT count(*) FROM watchlist WHERE account_id = ?1 AND listed = ?2",
            params![account as i64, listed],
            id,
        )
    }

    fn prune_watchlist(&mut self, account: u64, keep: u64) -> StoreResult<()> {
        self.exec(
            "DELETE FROM watchlist WHERE account_id = ?1 AND listed = 0 AND movie_key NOT IN
                 (SELECT movie_key FROM watchlist WHERE account_id = ?1 AND listed = 0
                  ORDER BY at_ms DESC LIMIT ?2)",
            params![account as i64, keep as i64],
        )?;
        Ok(())
    }

    fn watchlist(&mut self, account: u64) -> StoreResult<Vec<WatchlistFilm>> {
        self.all(
            "SELECT movie_key, title, year, added_at_ms FROM watchlist
             WHERE account_id = ?1 AND listed = 1 ORDER BY added_at_ms DESC, movie_key",
            [account as i64],
            |r| {
                Ok(WatchlistFilm {
                    movie_key: r.get(0)?,
                    title: r.get(1)?,
                    year: r.get(2)?,
                    added_at_ms: r.get::<_, i64>(3)? as u64,
                })
            },
        )
    }
}
