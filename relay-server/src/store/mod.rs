//! Durable chat storage behind a small trait: SQLite here (the default), PostgreSQL in
//! `pg/` (for several relay instances on one database). Both give their rows (`rows.rs`; the
//! SQLite ones in `sqlite/`), over which the chat rules are written once (`chat.rs`), as the
//! account and social rules are (`crate::accounts`, `crate::social`).
//!
//! New chat messages go through a [`ChatAppender`] (see [`ChatStore::appender`]), owned by the
//! hub's writer thread, which stores a whole group of them in one transaction before it fans
//! any of them out or acknowledges them: a message that was acknowledged is on disk. The
//! appender has the last word on numbers (it numbers the group after what is stored); a store
//! that other instances share also tells the hub what they stored
//! ([`ChatStore::watch_other_writers`]) and carries the instances' events
//! ([`ChatStore::peer_outbox`]).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use movietalk_protocol::relay::ChatMessage;
use rusqlite::Connection;

pub(crate) use migrations::migrations;

mod chat;
mod migrations;
pub mod rows;
mod sqlite;

/// The columns an [`movietalk_protocol::relay::Account`] is read from, in both stores.
pub(crate) const ACCOUNT_COLUMNS: &str = "id, handle, display_name, bio, avatar_url";

/// The columns a [`ChatMessage`] is read from, in both stores.
pub(crate) const MESSAGE_COLUMNS: &str =
    "room, seq, client_id, author, guest, text, sent_at_ms, deleted";

/// A sequence number as stored: those past `i64::MAX` cannot exist; clamp instead of wrapping
/// to negative.
pub(crate) fn stored_seq(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Reviews as both stores read them (a [`movietalk_protocol::relay::Review`] a row).
pub(crate) const REVIEW_SELECT: &str =
    "SELECT r.id, a.handle, r.movie_key, r.title, r.year, r.rating, r.body, r.spoiler,
        (SELECT count(*) FROM likes l WHERE l.kind = 'review' AND l.target_id = r.id),
        (SELECT count(*) FROM comments c WHERE c.review_id = r.id),
        r.created_at_ms, r.updated_at_ms
    FROM reviews r JOIN accounts a ON a.id = r.account_id";

pub(crate) const COMMENT_SELECT: &str = "SELECT c.id, c.review_id, a.handle, c.body,
        (SELECT count(*) FROM likes l WHERE l.kind = 'comment' AND l.target_id = c.id),
        c.created_at_ms, c.updated_at_ms
    FROM comments c JOIN accounts a ON a.id = c.account_id";

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
#[error("chat storage failed: {0}")]
pub struct StoreError(pub(crate) String);

/// What a store's row operations return.
pub type StoreResult<T> = Result<T, StoreError>;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError(e.to_string())
    }
}

/// Why a group of chat messages was not stored.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// Another writer — another relay instance on the same database — stored a message with
    /// the same author and client id as one of the group first. Nothing of the group was
    /// stored; look the client ids up again and retry.
    #[error("a client id of the group was stored by another writer first")]
    Taken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for AppendError {
    fn from(e: rusqlite::Error) -> Self {
        match &e {
            // Two relays on one file (WAL allows it) raced for the same number or client id.
            rusqlite::Error::SqliteFailure(f, _)
                if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
                    || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
            {
                AppendError::Taken
            }
            _ => AppendError::Store(e.into()),
        }
    }
}

/// Numbers each room's messages of `group`, in order, after `stored_max(room)` (asked once
/// per room).
pub(crate) fn renumber<E>(
    group: &mut [(ChatMessage, String)],
    mut stored_max: impl FnMut(&str) -> Result<u64, E>,
) -> Result<(), E> {
    let mut next: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    for (m, _) in group.iter_mut() {
        let seq = match next.get_mut(&m.room) {
            Some(n) => n,
            None => next.entry(m.room.clone()).or_insert(stored_max(&m.room)?),
        };
        *seq += 1;
        m.seq = *seq;
    }
    Ok(())
}

/// A transaction on a SQLite connection that will write: it takes the write lock at once
/// (`BEGIN IMMEDIATE`, waiting out the busy timeout for the chat writer's connection), instead
/// of reading first and failing with "database is locked" when it then tries to write after
/// the other connection committed.
pub(crate) fn write_tx(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

/// Appends a numbered change to the change log (reviews and comments; clients pull it).
pub(crate) fn record_change(
    conn: &Connection,
    what: &movietalk_protocol::relay::ChangeKind,
) -> rusqlite::Result<()> {
    let payload = serde_json::to_string(what).expect("changes serialise");
    conn.execute("INSERT INTO changes (payload) VALUES (?1)", [payload])?;
    Ok(())
}

/// The identity a message's idempotency and presence hang on: accounts and guests never clash.
pub fn author_key(author: &str, guest: bool) -> String {
    if guest {
        format!("g:{author}")
    } else {
        format!("a:{author}")
    }
}

/// A created room's topic and its creator's (account id, handle).
pub type RoomRecord = (String, Option<(u64, String)>);

/// Where the relay keeps chat messages. Implemented once, in `chat.rs`, for every store's rows
/// ([`rows::Transact`]) and [`ChatBackend`].
pub trait ChatStore: Send + Sync + std::fmt::Debug + 'static {
    /// The writer of new messages ([`ChatBackend`]).
    fn appender(&self) -> Result<Box<dyn ChatAppender>, StoreError>;
    /// Messages of `room` with sequence numbers in `after+1 ..= before-1`, the newest `limit`
    /// of them, oldest first.
    fn range(
        &self,
        room: &str,
        after: u64,
        before: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError>;
    /// The oldest `limit` messages of `room` after sequence `after`, oldest first (resume).
    fn range_forward(
        &self,
        room: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError>;
    /// For each `(room, after, upto)`: the room's messages numbered `after + 1 ..= upto`
    /// ([`rows::ChatRows::ranges`]).
    fn ranges(
        &self,
        wanted: &[(String, u64, u64)],
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError>;
    /// Creates a moderated room; false when the name is taken: created before, or ever joined
    /// ([`ChatStore::claim_room`]).
    fn create_room(&self, name: &str, topic: &str, creator: u64) -> Result<bool, StoreError>;
    /// Remembers that `name` was joined, so that no one can create it (become its moderator)
    /// later. Idempotent.
    fn claim_room(&self, name: &str) -> Result<(), StoreError>;
    /// The created room `name` ([`RoomRecord`]).
    fn room(&self, name: &str) -> Result<Option<RoomRecord>, StoreError>;
    /// Every created room: (name, topic, creator handle).
    fn rooms(&self) -> Result<Vec<(String, String, Option<String>)>, StoreError>;
    /// Keeps `handle` out of `room`; returns its account id, or `None` when there is no such account.
    fn ban(&self, room: &str, handle: &str) -> Result<Option<u64>, StoreError>;
    fn is_banned(&self, room: &str, account: u64) -> Result<bool, StoreError>;
    /// Every (room, account) ban of the given accounts.
    fn bans_of(&self, accounts: &[u64]) -> Result<Vec<(String, u64)>, StoreError>;
    /// The author key of a live (not deleted) message.
    fn message_author(&self, room: &str, seq: u64) -> Result<Option<String>, StoreError>;
    /// Blanks a message and marks it deleted.
    fn delete_message(&self, room: &str, seq: u64) -> Result<(), StoreError>;
    fn mark_read(&self, account: u64, room: &str, seq: u64) -> Result<(), StoreError>;
    /// (room, messages after the last read) for every room the account marked read.
    fn unread(&self, account: u64) -> Result<Vec<(String, u64)>, StoreError>;
    /// Tells `tell` whenever another writer stores chat messages ([`ChatBackend`]).
    fn watch_other_writers(
        &self,
        tell: Box<dyn FnMut(Elsewhere) -> bool + Send>,
    ) -> Result<(), StoreError>;
    /// Whether the store answers ([`ChatBackend`]).
    fn check(&self) -> Result<(), StoreError>;
    /// Where this relay sends events for the other relay instances ([`ChatBackend`]).
    fn peer_outbox(&self) -> Result<Option<Box<dyn PeerOutbox>>, StoreError>;
}

/// What only a store itself gives the chat, besides its rows: its appender, news of other
/// writers, its health and its channel to other instances.
pub trait ChatBackend {
    /// The writer of new messages. The hub takes one at start and is its only user: new
    /// messages are stored through nothing else, which is what keeps sequence numbers gapless.
    fn appender(&self) -> Result<Box<dyn ChatAppender>, StoreError>;
    /// Tells `tell` whenever another writer — another relay instance on the same database —
    /// stores chat messages, until `tell` returns false (it is also called with
    /// [`Elsewhere::Quiet`] now and then, to ask whether to go on). The default does nothing:
    /// a store no other relay writes to.
    fn watch_other_writers(
        &self,
        tell: Box<dyn FnMut(Elsewhere) -> bool + Send>,
    ) -> Result<(), StoreError> {
        drop(tell);
        Ok(())
    }
    /// Whether the store answers (for `/healthz`: a load balancer takes an instance whose
    /// database is gone out of rotation). The default says yes.
    fn check(&self) -> Result<(), StoreError> {
        Ok(())
    }
    /// Where this relay sends events for the other relay instances on the same database (they
    /// arrive there as [`Elsewhere::Peer`]); `None`, the default, for a store no other relay
    /// shares.
    fn peer_outbox(&self) -> Result<Option<Box<dyn PeerOutbox>>, StoreError> {
        Ok(None)
    }
}

/// Sends one event (see peers.rs) to every other relay instance on the same database.
pub trait PeerOutbox: Send + 'static {
    fn send(&mut self, payload: &str) -> Result<(), StoreError>;
}

/// What another writer did, for [`ChatStore::watch_other_writers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Elsewhere {
    /// Messages up to `seq` are stored in `room`.
    Stored { room: String, seq: u64 },
    /// The watch was interrupted: messages may have been stored in any room meanwhile.
    MayHaveMissed,
    /// An event another instance sent through its [`PeerOutbox`] (or this one: the payload
    /// says who sent it).
    Peer(String),
    /// Nothing new.
    Quiet,
}

/// A message's `(room, author key, client id)`: what makes a resend the same message.
pub type ClientKey<'a> = (&'a str, &'a str, &'a str);

/// Stores new chat messages, a group at a time; owned by one thread (the hub's writer).
pub trait ChatAppender: Send + 'static {
    /// The highest sequence number used in `room` (0 for a new room).
    fn last_seq(&mut self, room: &str) -> Result<u64, StoreError>;
    /// The sequence under which `author_key` already posted `client_id` in `room`, if any.
    fn find_client_id(&mut self, key: ClientKey<'_>) -> Result<Option<u64>, StoreError>;
    /// [`ChatAppender::find_client_id`] for each `(room, author key, client id)`, in order.
    /// The default asks one at a time.
    fn find_client_ids(&mut self, keys: &[ClientKey<'_>]) -> Result<Vec<Option<u64>>, StoreError> {
        keys.iter().map(|&key| self.find_client_id(key)).collect()
    }
    /// Stores every `(message, author key)` of `group` in one transaction; returns once all of
    /// them are durable, or stores none of them. Inside the transaction each room's messages
    /// are numbered for good, in the group's order, after the highest number stored in that
    /// room — the numbers the writer proposed, unless another writer (another relay instance
    /// on the same database) stored messages there since. Fails with [`AppendError::Taken`]
    /// if another writer stored an (author, client id) of the group first.
    fn append_group(&mut self, group: &mut [(ChatMessage, String)]) -> Result<(), AppendError>;
}

/// SQLite storage: one file, WAL journal. `synchronous = NORMAL` in WAL mode makes a committed
/// message survive the relay process being killed (the tested guarantee); surviving power loss
/// as well needs `synchronous = FULL` ([`SqliteStore::open_with_full_sync`]) at a throughput cost.
///
/// Chat messages are appended through a second connection to the same file, owned by the hub's
/// writer thread ([`ChatStore::appender`]), so a group commit never waits for (or holds up) the
/// lock on the connection that serves accounts, reviews and history reads; WAL lets both work
/// at once. An in-memory store has only one connection, shared by both under its lock.
#[derive(Debug)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    /// The database file (`None` in memory), for the appender's own connection.
    path: Option<PathBuf>,
    /// The `synchronous` setting every connection to the file uses.
    synchronous: &'static str,
}

impl SqliteStore {
    /// Opens (creating) the store at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::init(Connection::open(path)?, Some(path), "NORMAL")
    }

    /// Like [`SqliteStore::open`], but every commit is flushed to the disk.
    pub fn open_with_full_sync(path: &Path) -> Result<Self, StoreError> {
        Self::init(Connection::open(path)?, Some(path), "FULL")
    }

    /// A store that forgets everything when the relay stops (tests, throwaway relays).
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::init(Connection::open_in_memory()?, None, "OFF")
    }

    fn configure(conn: &Connection, synchronous: &str) -> Result<(), StoreError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", synchronous)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(())
    }

    fn init(
        mut conn: Connection,
        path: Option<&Path>,
        synchronous: &'static str,
    ) -> Result<Self, StoreError> {
        Self::configure(&conn, synchronous)?;
        // Foreign keys off while migrating: rebuilding a table (drop, rename) must not cascade
        // into the tables that refer to it. Migrations that rebuild check the keys themselves.
        conn.pragma_update(None, "foreign_keys", "OFF")?;
        migrations()
            .to_latest(&mut conn)
            .map_err(|e| StoreError(format!("migrating the relay database: {e}")))?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path: path.map(Path::to_path_buf),
            synchronous,
        })
    }

    pub(crate) fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests;
