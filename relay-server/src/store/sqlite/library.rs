//! Watchlist and diary rows in SQLite.

use movietalk_protocol::relay::{DiaryEntry, WatchlistFilm};
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

    fn lock_diary_version(&mut self, account: u64) -> StoreResult<u64> {
        self.exec(
            "INSERT INTO diary_meta (account_id, version) VALUES (?1, 0)
             ON CONFLICT (account_id) DO NOTHING",
            [account as i64],
        )?;
        self.diary_version(account)
    }

    fn diary_version(&mut self, account: u64) -> StoreResult<u64> {
        Ok(self
            .opt(
                "SELECT version FROM diary_meta WHERE account_id = ?1",
                [account as i64],
                id,
            )?
            .unwrap_or(0))
    }

    fn set_diary_version(&mut self, account: u64, version: u64) -> StoreResult<()> {
        self.exec(
            "UPDATE diary_meta SET version = ?2 WHERE account_id = ?1",
            params![account as i64, version as i64],
        )?;
        Ok(())
    }

    fn diary_entry(&mut self, account: u64, client_id: &str) -> StoreResult<Option<(bool, u64)>> {
        self.opt(
            "SELECT deleted, edited_at_ms FROM diary WHERE account_id = ?1 AND client_id = ?2",
            params![account as i64, client_id],
            |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)),
        )
    }

    fn put_diary_entry(&mut self, account: u64, e: &DiaryEntry, deleted: bool) -> StoreResult<()> {
        self.exec(
            "INSERT INTO diary (account_id, client_id, movie_key, title, year, watched_on, rating,
                                rewatch, review, edited_at_ms, deleted)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (account_id, client_id) DO UPDATE SET movie_key = excluded.movie_key,
                 title = excluded.title, year = excluded.year, watched_on = excluded.watched_on,
                 rating = excluded.rating, rewatch = excluded.rewatch, review = excluded.review,
                 edited_at_ms = excluded.edited_at_ms, deleted = excluded.deleted",
            params![
                account as i64,
                e.client_id,
                e.movie_key,
                e.title,
                e.year,
                e.watched_on,
                e.rating.map(f64::from),
                e.rewatch,
                e.review,
                e.edited_at_ms as i64,
                deleted
            ],
        )?;
        Ok(())
    }

    fn diary_count(&mut self, account: u64, deleted: bool) -> StoreResult<u64> {
        self.one(
            "SELECT count(*) FROM diary WHERE account_id = ?1 AND deleted = ?2",
            params![account as i64, deleted],
            id,
        )
    }

    fn prune_diary(&mut self, account: u64, keep: u64) -> StoreResult<()> {
        self.exec(
            "DELETE FROM diary WHERE account_id = ?1 AND deleted = 1 AND client_id NOT IN
                 (SELECT client_id FROM diary WHERE account_id = ?1 AND deleted = 1
                  ORDER BY edited_at_ms DESC LIMIT ?2)",
            params![account as i64, keep as i64],
        )?;
        Ok(())
    }

    fn diary(&mut self, account: u64) -> StoreResult<Vec<DiaryEntry>> {
        self.all(
            "SELECT client_id, movie_key, title, year, watched_on, rating, rewatch, review, edited_at_ms
             FROM diary WHERE account_id = ?1 AND deleted = 0
             ORDER BY watched_on DESC, edited_at_ms DESC, client_id",
            [account as i64],
            |r| {
                Ok(DiaryEntry {
                    client_id: r.get(0)?,
                    movie_key: r.get(1)?,
                    title: r.get(2)?,
                    year: r.get(3)?,
                    watched_on: r.get(4)?,
                    rating: r.get::<_, Option<f64>>(5)?.map(|x| x as f32),
                    rewatch: r.get(6)?,
                    review: r.get(7)?,
                    edited_at_ms: r.get::<_, i64>(8)? as u64,
                })
            },
        )
    }
}
