//! The PostgreSQL store's rows ([`crate::store::rows`]): work runs on a pooled connection on a
//! thread of its own ([`PgStore::with`], [`PgStore::with_once`] as [`Access::once`] says), in a
//! transaction of its own when [`Access::transaction`] says so; `lock_…` rows lock with
//! `FOR UPDATE` or `FOR SHARE`.

use postgres::types::ToSql;
use postgres::{Client, Row, Transaction};

use super::{PgStore, record};
use crate::store::rows::{Access, ChangeRows, RowError, Transact, Work};
use crate::store::{StoreError, StoreResult};

/// Parameters of a statement.
pub(super) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// The rows of a connection, or of a transaction on it.
pub(crate) enum PgRows<'c, 't> {
    Plain(&'c mut Client),
    Tx(&'c mut Transaction<'t>),
}

impl PgRows<'_, '_> {
    /// `execute` on the connection or transaction.
    pub(super) fn exec(&mut self, sql: &str, params: Params<'_>) -> StoreResult<u64> {
        Ok(match self {
            PgRows::Plain(c) => c.execute(sql, params),
            PgRows::Tx(t) => t.execute(sql, params),
        }?)
    }

    /// `query_one`: exactly one row, or an error.
    pub(super) fn one(&mut self, sql: &str, params: Params<'_>) -> StoreResult<Row> {
        Ok(match self {
            PgRows::Plain(c) => c.query_one(sql, params),
            PgRows::Tx(t) => t.query_one(sql, params),
        }?)
    }

    /// `query_opt`: at most one row.
    pub(super) fn opt(&mut self, sql: &str, params: Params<'_>) -> StoreResult<Option<Row>> {
        Ok(match self {
            PgRows::Plain(c) => c.query_opt(sql, params),
            PgRows::Tx(t) => t.query_opt(sql, params),
        }?)
    }

    /// `query`: every row.
    pub(super) fn all(&mut self, sql: &str, params: Params<'_>) -> StoreResult<Vec<Row>> {
        Ok(match self {
            PgRows::Plain(c) => c.query(sql, params),
            PgRows::Tx(t) => t.query(sql, params),
        }?)
    }
}

/// Column `i` of `r`, a `bigint` that holds an id or a time.
pub(super) fn u(r: &Row, i: usize) -> u64 {
    r.get::<_, i64>(i) as u64
}

/// Ids as PostgreSQL `bigint`s.
pub(super) fn pg_ids(ids: &[u64]) -> Vec<i64> {
    ids.iter().map(|&id| id as i64).collect()
}

impl Transact for PgStore {
    fn transact<R: Send, E: RowError>(&self, access: Access, f: Work<'_, R, E>) -> Result<R, E> {
        let work = |c: &mut Client| {
            if !access.transaction() {
                return f(&mut PgRows::Plain(c));
            }
            let mut tx = c.transaction().map_err(StoreError::from)?;
            let out = f(&mut PgRows::Tx(&mut tx))?;
            tx.commit().map_err(StoreError::from)?;
            Ok(out)
        };
        if access.once() {
            self.with_once(work)
        } else {
            self.with(work)
        }
    }
}

impl ChangeRows for PgRows<'_, '_> {
    fn record(&mut self, what: &movietalk_protocol::relay::ChangeKind) -> StoreResult<()> {
        Ok(match self {
            PgRows::Plain(c) => record(&mut **c, what),
            PgRows::Tx(t) => record(&mut **t, what),
        }?)
    }

    fn delete_likes(&mut self, kind: &str, targets: &[u64]) -> StoreResult<()> {
        let sql = "DELETE FROM likes WHERE kind = $1 AND target_id = ANY($2)";
        self.exec(sql, &[&kind, &pg_ids(targets)])?;
        Ok(())
    }
}
