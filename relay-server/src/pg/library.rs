//! Watchlist rows in PostgreSQL.

use movietalk_protocol::relay::WatchlistFilm;

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
}
