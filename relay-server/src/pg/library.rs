//! Watchlist and diary rows in PostgreSQL.

use movietalk_protocol::relay::{DiaryEntry, WatchlistFilm};

use super::rows::{PgRows, u};
use crate::store::StoreResult;
use crate::store::rows::{LibraryRows, WatchlistRow, WatchlistStanding};

impl LibraryRows for PgRows<'_, '_> {
    fn lock_watchlist_meta(&mut self, account: u64) -> StoreResult<(bool, u64)> {
        let a = account as i64;
        let sql = "INSERT INTO watchlist_meta (account_id, public, version) VALUES ($1, false, 0)
                   ON CONFLICT (account_id) DO NOTHING";
        self.exec(sql, &[&a])?;
        let sql = "SELECT public, version FROM watchlist_meta WHERE account_id = $1 FOR UPDATE";
        let row = self.one(sql, &[&a])?;
        Ok((row.get(0), u(&row, 1)))
    }

    fn watchlist_meta(&mut self, account: u64) -> StoreResult<(bool, u64)> {
        let sql = "SELECT public, version FROM watchlist_meta WHERE account_id = $1";
        Ok(self
            .opt(sql, &[&(account as i64)])?
            .map_or((false, 0), |r| (r.get(0), u(&r, 1))))
    }

    fn set_watchlist_meta(&mut self, account: u64, public: bool, version: u64) -> StoreResult<()> {
        let sql = "UPDATE watchlist_meta SET public = $2, version = $3 WHERE account_id = $1";
        self.exec(sql, &[&(account as i64), &public, &(version as i64)])?;
        Ok(())
    }

    fn watchlist_entry(
        &mut self,
        account: u64,
        movie_key: &str,
    ) -> StoreResult<Option<WatchlistStanding>> {
        let sql = "SELECT listed, at_ms, added_at_ms FROM watchlist WHERE account_id = $1 AND movie_key = $2";
        Ok(self
            .opt(sql, &[&(account as i64), &movie_key])?
            .map(|r| WatchlistStanding {
                listed: r.get(0),
                at_ms: u(&r, 1),
                added_at_ms: u(&r, 2),
            }))
    }

    fn put_watchlist_entry(&mut self, account: u64, w: &WatchlistRow<'_>) -> StoreResult<()> {
        let sql =
            "INSERT INTO watchlist (account_id, movie_key, title, year, listed, at_ms, added_at_ms)
                   VALUES ($1, $2, $3, $4, $5, $6, $7)
                   ON CONFLICT (account_id, movie_key) DO UPDATE SET title = excluded.title,
                       year = excluded.year, listed = excluded.listed, at_ms = excluded.at_ms,
                 added_at_ms = excluded.added_at_ms";
        let p: [&(dyn postgres::types::ToSql + Sync); 7] = [
            &(account as i64),
            &w.movie_key,
            &w.title,
            &w.year,
            &w.listed,
            &(w.at_ms as i64),
            &(w.added_at_ms as i64),
        ];
        self.exec(sql, &p)?;
        Ok(())
    }

    fn watchlist_count(&mut self, account: u64, listed: bool) -> StoreResult<u64> {
        let sql = "SELECT count(*) FROM watchlist WHERE account_id = $1 AND listed = $2";
        Ok(u(&self.one(sql, &[&(account as i64), &listed])?, 0))
    }

    fn prune_watchlist(&mut self, account: u64, keep: u64) -> StoreResult<()> {
        let sql = "DELETE FROM watchlist WHERE account_id = $1 AND NOT listed AND movie_key NOT IN
                       (SELECT movie_key FROM watchlist WHERE account_id = $1 AND NOT listed
                        ORDER BY at_ms DESC LIMIT $2)";
        self.exec(sql, &[&(account as i64), &(keep as i64)])?;
        Ok(())
    }

    fn watchlist(&mut self, account: u64) -> StoreResult<Vec<WatchlistFilm>> {
        let sql = "SELECT movie_key, title, year, added_at_ms FROM watchlist
                   WHERE account_id = $1 AND listed ORDER BY added_at_ms DESC, movie_key";
        Ok(self
            .all(sql, &[&(account as i64)])?
            .iter()
            .map(|r| WatchlistFilm {
                movie_key: r.get(0),
                title: r.get(1),
                year: r.get(2),
                added_at_ms: u(r, 3),
            })
            .collect())
    }

    fn lock_diary_version(&mut self, account: u64) -> StoreResult<u64> {
        let a = account as i64;
        let sql = "INSERT INTO diary_meta (account_id, version) VALUES ($1, 0)
                   ON CONFLICT (account_id) DO NOTHING";
        self.exec(sql, &[&a])?;
        let sql = "SELECT version FROM diary_meta WHERE account_id = $1 FOR UPDATE";
        Ok(u(&self.one(sql, &[&a])?, 0))
    }

    fn diary_version(&mut self, account: u64) -> StoreResult<u64> {
        let sql = "SELECT version FROM diary_meta WHERE account_id = $1";
        Ok(self.opt(sql, &[&(account as i64)])?.map_or(0, |r| u(&r, 0)))
    }

    fn set_diary_version(&mut self, account: u64, version: u64) -> StoreResult<()> {
        let sql = "UPDATE diary_meta SET version = $2 WHERE account_id = $1";
        self.exec(sql, &[&(account as i64), &(version as i64)])?;
        Ok(())
    }

    fn diary_entry(&mut self, account: u64, client_id: &str) -> StoreResult<Option<(bool, u64)>> {
        let sql =
            "SELECT deleted, edited_at_ms FROM diary WHERE account_id = $1 AND client_id = $2";
        Ok(self
            .opt(sql, &[&(account as i64), &client_id])?
            .map(|r| (r.get(0), u(&r, 1))))
    }

    fn put_diary_entry(&mut self, account: u64, e: &DiaryEntry, deleted: bool) -> StoreResult<()> {
        let sql = "INSERT INTO diary (account_id, client_id, movie_key, title, year, watched_on,
                                      rating, rewatch, review, edited_at_ms, deleted)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                   ON CONFLICT (account_id, client_id) DO UPDATE SET movie_key = excluded.movie_key,
                       title = excluded.title, year = excluded.year,
                       watched_on = excluded.watched_on, rating = excluded.rating,
                       rewatch = excluded.rewatch, review = excluded.review,
                       edited_at_ms = excluded.edited_at_ms, deleted = excluded.deleted";
        let p: [&(dyn postgres::types::ToSql + Sync); 11] = [
            &(account as i64),
            &e.client_id,
            &e.movie_key,
            &e.title,
            &e.year,
            &e.watched_on,
            &e.rating,
            &e.rewatch,
            &e.review,
            &(e.edited_at_ms as i64),
            &deleted,
        ];
        self.exec(sql, &p)?;
        Ok(())
    }

    fn diary_count(&mut self, account: u64, deleted: bool) -> StoreResult<u64> {
        let sql = "SELECT count(*) FROM diary WHERE account_id = $1 AND deleted = $2";
        Ok(u(&self.one(sql, &[&(account as i64), &deleted])?, 0))
    }

    fn prune_diary(&mut self, account: u64, keep: u64) -> StoreResult<()> {
        let sql = "DELETE FROM diary WHERE account_id = $1 AND deleted AND client_id NOT IN
                       (SELECT client_id FROM diary WHERE account_id = $1 AND deleted
                        ORDER BY edited_at_ms DESC LIMIT $2)";
        self.exec(sql, &[&(account as i64), &(keep as i64)])?;
        Ok(())
    }

    fn diary(&mut self, account: u64) -> StoreResult<Vec<DiaryEntry>> {
        let sql = "SELECT client_id, movie_key, title, year, watched_on, rating, rewatch, review,
                          edited_at_ms
                   FROM diary WHERE account_id = $1 AND NOT deleted
                   ORDER BY watched_on DESC, edited_at_ms DESC, client_id";
        Ok(self
            .all(sql, &[&(account as i64)])?
            .iter()
            .map(|r| DiaryEntry {
                client_id: r.get(0),
                movie_key: r.get(1),
                title: r.get(2),
                year: r.get(3),
                watched_on: r.get(4),
                rating: r.get(5),
                rewatch: r.get(6),
                review: r.get(7),
                edited_at_ms: u(r, 8),
            })
            .collect())
    }
}
