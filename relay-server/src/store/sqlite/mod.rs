//! The SQLite store's rows ([`super::rows`]): work runs on the store's connection, under its
//! lock; a transaction is a [`super::write_tx`] (`BEGIN IMMEDIATE`), so it holds the database's
//! write lock throughout and the `lock_…` rows need no lock of their own.

mod accounts;
mod chat;
mod community;
mod library;
mod social;

use rusqlite::{Connection, OptionalExtension, Params, Row, params};

use super::rows::{Access, ChangeRows, RowError, Transact, Work};
use super::{SqliteStore, StoreError, StoreResult, record_change, write_tx};

/// The rows of one connection (or of a transaction on it).
pub(crate) struct SqliteRows<'c>(&'c Connection);

impl SqliteRows<'_> {
    /// Runs a statement; how many rows it changed.
    fn exec(&self, sql: &str, params: impl Params) -> StoreResult<usize> {
        Ok(self.0.prepare_cached(sql)?.execute(params)?)
    }

    /// The one row a query finds; an error when it finds none.
    fn one<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> StoreResult<T> {
        Ok(self.0.prepare_cached(sql)?.query_row(params, f)?)
    }

    /// The row a query finds, if any.
    fn opt<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> StoreResult<Option<T>> {
        Ok(self
            .0
            .prepare_cached(sql)?
            .query_row(params, f)
            .optional()?)
    }

    /// Every row a query finds.
    fn all<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> StoreResult<Vec<T>> {
        let mut stmt = self.0.prepare_cached(sql)?;
        let rows = stmt.query_map(params, f)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// The id (or other whole number) in a row's first column.
fn id(r: &Row<'_>) -> rusqlite::Result<u64> {
    Ok(r.get::<_, i64>(0)? as u64)
}

/// A list of ids as a JSON array, for `IN (SELECT value FROM json_each(?))`.
fn json_ids(ids: &[u64]) -> String {
    serde_json::to_string(ids).expect("ids serialise")
}

impl Transact for SqliteStore {
    fn transact<R: Send, E: RowError>(&self, access: Access, f: Work<'_, R, E>) -> Result<R, E> {
        let mut conn = self.conn();
        if !access.transaction() {
            return f(&mut SqliteRows(&conn));
        }
        let tx = write_tx(&mut conn).map_err(StoreError::from)?;
        let out = f(&mut SqliteRows(&tx))?;
        tx.commit().map_err(StoreError::from)?;
        Ok(out)
    }
}

impl ChangeRows for SqliteRows<'_> {
    fn record(&mut self, what: &movietalk_protocol::relay::ChangeKind) -> StoreResult<()> {
        Ok(record_change(self.0, what)?)
    }

    fn delete_likes(&mut self, kind: &str, targets: &[u64]) -> StoreResult<()> {
        self.exec(
            "DELETE FROM likes WHERE kind = ?1 AND target_id IN (SELECT value FROM json_each(?2))",
            params![kind, json_ids(targets)],
        )?;
        Ok(())
    }
}
