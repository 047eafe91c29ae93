//! Durable chat storage behind a small trait, so SQLite (the default) and PostgreSQL (for
//! several relay instances) both fit without touching the hub.
//!
//! The hub calls [`ChatStore::append`] before it fans a message out or acknowledges it: a
//! message that was acknowledged is on disk.

use std::path::Path;
use std::sync::Mutex;

use movietalk_protocol::relay::ChatMessage;
use rusqlite::{Connection, OptionalExtension, params};

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
#[error("chat storage failed: {0}")]
pub struct StoreError(String);

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// Where the relay keeps chat messages.
pub trait ChatStore: Send + Sync + std::fmt::Debug + 'static {
    /// The highest sequence number used in `room` (0 for a new room).
    fn last_seq(&self, room: &str) -> Result<u64, StoreError>;
    /// Stores `msg`; returns once it is durable. Fails if the sequence is already used.
    fn append(&self, msg: &ChatMessage) -> Result<(), StoreError>;
    /// The sequence under which `author` already posted `client_id` in `room`, if any.
    fn find_client_id(&self, room: &str, author: &str, client_id: &str) -> Result<Option<u64>, StoreError>;
    /// Messages of `room` with sequence numbers in `after+1 ..= before-1`, the newest `limit`
    /// of them, oldest first.
    fn range(&self, room: &str, after: u64, before: u64, limit: usize) -> Result<Vec<ChatMessage>, StoreError>;
    /// The oldest `limit` messages of `room` after sequence `after`, oldest first (resume).
    fn range_forward(&self, room: &str, after: u64, limit: usize) -> Result<Vec<ChatMessage>, StoreError>;
}

/// SQLite storage: one file, WAL journal. `synchronous = NORMAL` in WAL mode makes a committed
/// message survive the relay process being killed (the tested guarantee); surviving power loss
/// as well needs `synchronous = FULL` ([`SqliteStore::open_with_full_sync`]) at a throughput cost.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::init(Connection::open(path)?, "NORMAL")
    }

    /// Like [`SqliteStore::open`], but every commit is flushed to the disk.
    pub fn open_with_full_sync(path: &Path) -> Result<Self, StoreError> {
        Self::init(Connection::open(path)?, "FULL")
    }

    /// A store that forgets everything when the relay stops (tests, throwaway relays).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?, "OFF")
    }

    fn init(conn: Connection, synchronous: &str) -> Result<Self, StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", synchronous)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS chat_messages (
                 room       TEXT NOT NULL,
                 seq        INTEGER NOT NULL,
                 client_id  TEXT NOT NULL,
                 author     TEXT NOT NULL,
                 text       TEXT NOT NULL,
                 sent_at_ms INTEGER NOT NULL,
                 PRIMARY KEY (room, seq)
             ) STRICT, WITHOUT ROWID;
             CREATE UNIQUE INDEX IF NOT EXISTS chat_messages_client ON chat_messages(room, author, client_id);",
        )?;
        Ok(SqliteStore { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn select(&self, order: &str, room: &str, after: u64, before: u64, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT room, seq, client_id, author, text, sent_at_ms FROM chat_messages
             WHERE room = ?1 AND seq > ?2 AND seq < ?3 ORDER BY {order} LIMIT ?4"
        ))?;
        let before = i64::try_from(before).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![room, after as i64, before, limit as i64], |r| {
                Ok(ChatMessage {
                    room: r.get(0)?,
                    seq: r.get::<_, i64>(1)? as u64,
                    client_id: r.get(2)?,
                    author: r.get(3)?,
                    text: r.get(4)?,
                    sent_at_ms: r.get::<_, i64>(5)? as u64,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

impl ChatStore for SqliteStore {
    fn last_seq(&self, room: &str) -> Result<u64, StoreError> {
        let conn = self.conn();
        let seq: Option<i64> = conn
            .prepare_cached("SELECT max(seq) FROM chat_messages WHERE room = ?1")?
            .query_row([room], |r| r.get(0))?;
        Ok(seq.unwrap_or(0) as u64)
    }

    fn append(&self, m: &ChatMessage) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.prepare_cached(
            "INSERT INTO chat_messages (room, seq, client_id, author, text, sent_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![m.room, m.seq as i64, m.client_id, m.author, m.text, m.sent_at_ms as i64])?;
        Ok(())
    }

    fn find_client_id(&self, room: &str, author: &str, client_id: &str) -> Result<Option<u64>, StoreError> {
        let conn = self.conn();
        let seq: Option<i64> = conn
            .prepare_cached("SELECT seq FROM chat_messages WHERE room = ?1 AND author = ?2 AND client_id = ?3")?
            .query_row(params![room, author, client_id], |r| r.get(0))
            .optional()?;
        Ok(seq.map(|s| s as u64))
    }

    fn range(&self, room: &str, after: u64, before: u64, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        let mut rows = self.select("seq DESC", room, after, before, limit)?;
        rows.reverse();
        Ok(rows)
    }

    fn range_forward(&self, room: &str, after: u64, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        self.select("seq ASC", room, after, u64::MAX, limit)
    }
}
