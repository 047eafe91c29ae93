//! Durable chat storage behind a small trait: SQLite here (the default), PostgreSQL in
//! `pg/` (for several relay instances on one database).
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
use rusqlite::{Connection, OptionalExtension, params};

/// Why storage failed.
#[derive(Debug, thiserror::Error)]
#[error("chat storage failed: {0}")]
pub struct StoreError(pub(crate) String);

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

/// Where the relay keeps chat messages.
pub trait ChatStore: Send + Sync + std::fmt::Debug + 'static {
    /// The writer of new messages. The hub takes one at start and is its only user: new
    /// messages are stored through nothing else, which is what keeps sequence numbers gapless.
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
    /// For each `(room, after, upto)`: the room's messages numbered `after + 1 ..= upto`, at
    /// most `limit` of them, oldest first; all rooms' in one list, each room's in order. The
    /// default asks [`ChatStore::range_forward`] room by room.
    fn ranges(
        &self,
        wanted: &[(String, u64, u64)],
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let mut all = Vec::new();
        for (room, after, upto) in wanted {
            let span = usize::try_from(upto.saturating_sub(*after)).unwrap_or(usize::MAX);
            all.extend(
                self.range_forward(room, *after, span.min(limit))?
                    .into_iter()
                    .filter(|m| m.seq <= *upto),
            );
        }
        Ok(all)
    }
    /// Creates a moderated room; false when the name is taken: created before, or ever joined
    /// ([`ChatStore::claim_room`]).
    fn create_room(&self, name: &str, topic: &str, creator: u64) -> Result<bool, StoreError>;
    /// Remembers that `name` was joined, so that no one can create it (become its moderator)
    /// later. Idempotent.
    fn claim_room(&self, name: &str) -> Result<(), StoreError>;
    /// A created room's topic and its creator's (account id, handle).
    fn room(&self, name: &str) -> Result<Option<RoomRecord>, StoreError>;
    /// Every created room: (name, topic, creator handle).
    fn rooms(&self) -> Result<Vec<(String, String, Option<String>)>, StoreError>;
    /// Keeps `handle` out of `room`; returns its account id, or `None` when there is no such account.
    fn ban(&self, room: &str, handle: &str) -> Result<Option<u64>, StoreError>;
    fn is_banned(&self, room: &str, account: u64) -> Result<bool, StoreError>;
    /// The author key of a live (not deleted) message.
    fn message_author(&self, room: &str, seq: u64) -> Result<Option<String>, StoreError>;
    /// Blanks a message and marks it deleted.
    fn delete_message(&self, room: &str, seq: u64) -> Result<(), StoreError>;
    fn mark_read(&self, account: u64, room: &str, seq: u64) -> Result<(), StoreError>;
    /// (room, messages after the last read) for every room the account marked read.
    fn unread(&self, account: u64) -> Result<Vec<(String, u64)>, StoreError>;
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

/// Stores new chat messages, a group at a time; owned by one thread (the hub's writer).
pub trait ChatAppender: Send + 'static {
    /// The highest sequence number used in `room` (0 for a new room).
    fn last_seq(&mut self, room: &str) -> Result<u64, StoreError>;
    /// The sequence under which `author_key` already posted `client_id` in `room`, if any.
    fn find_client_id(
        &mut self,
        room: &str,
        author_key: &str,
        client_id: &str,
    ) -> Result<Option<u64>, StoreError>;
    /// [`ChatAppender::find_client_id`] for each `(room, author key, client id)`, in order.
    /// The default asks one at a time.
    fn find_client_ids(
        &mut self,
        keys: &[(&str, &str, &str)],
    ) -> Result<Vec<Option<u64>>, StoreError> {
        keys.iter()
            .map(|(room, author, id)| self.find_client_id(room, author, id))
            .collect()
    }
    /// Stores every `(message, author key)` of `group` in one transaction; returns once all of
    /// them are durable, or stores none of them. Inside the transaction each room's messages
    /// are numbered for good, in the group's order, after the highest number stored in that
    /// room — the numbers the writer proposed, unless another writer (another relay instance
    /// on the same database) stored messages there since. Fails with [`AppendError::Taken`]
    /// if another writer stored an (author, client id) of the group first.
    fn append_group(&mut self, group: &mut [(ChatMessage, String)]) -> Result<(), AppendError>;
}

/// The relay's schema, oldest first. Never edit a released migration: append a new one.
pub(crate) fn migrations() -> rusqlite_migration::Migrations<'static> {
    use rusqlite_migration::M;
    rusqlite_migration::Migrations::new(vec![
        M::up(
            "CREATE TABLE chat_messages (
             room       TEXT NOT NULL,
             seq        INTEGER NOT NULL,
             client_id  TEXT NOT NULL,
             author     TEXT NOT NULL,
             -- Who, for idempotency: 'a:<handle>' for accounts, 'g:<name>' for guests.
             author_key TEXT NOT NULL,
             guest      INTEGER NOT NULL,
             text       TEXT NOT NULL,
             sent_at_ms INTEGER NOT NULL,
             PRIMARY KEY (room, seq)
         ) STRICT, WITHOUT ROWID;
         CREATE UNIQUE INDEX chat_messages_client ON chat_messages(room, author_key, client_id);
         CREATE INDEX chat_messages_author ON chat_messages(author_key);
         CREATE TABLE accounts (
             id            INTEGER PRIMARY KEY,
             handle        TEXT NOT NULL UNIQUE,
             display_name  TEXT NOT NULL,
             bio           TEXT NOT NULL DEFAULT '',
             avatar_url    TEXT,
             password_hash TEXT NOT NULL,
             created_at_ms INTEGER NOT NULL
         ) STRICT;
         CREATE TABLE sessions (
             token_hash    TEXT PRIMARY KEY,
             account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
             created_at_ms INTEGER NOT NULL,
             expires_at_ms INTEGER NOT NULL
         ) STRICT, WITHOUT ROWID;
         CREATE INDEX sessions_account ON sessions(account_id);",
        ),
        M::up(
            "CREATE TABLE reviews (
                 id            INTEGER PRIMARY KEY,
                 account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 movie_key     TEXT NOT NULL,
                 title         TEXT NOT NULL,
                 year          INTEGER,
                 rating        REAL NOT NULL CHECK (rating BETWEEN 0.5 AND 5.0 AND rating * 2 = round(rating * 2)),
                 body          TEXT NOT NULL,
                 spoiler       INTEGER NOT NULL,
                 client_id     TEXT NOT NULL,
                 created_at_ms INTEGER NOT NULL,
                 updated_at_ms INTEGER NOT NULL,
                 UNIQUE (account_id, movie_key)
             ) STRICT;
             CREATE INDEX reviews_film ON reviews(movie_key, id);
             CREATE TABLE comments (
                 id            INTEGER PRIMARY KEY,
                 review_id     INTEGER NOT NULL REFERENCES reviews(id) ON DELETE CASCADE,
                 account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 client_id     TEXT NOT NULL,
                 body          TEXT NOT NULL,
                 created_at_ms INTEGER NOT NULL,
                 updated_at_ms INTEGER NOT NULL,
                 UNIQUE (account_id, client_id)
             ) STRICT;
             CREATE INDEX comments_review ON comments(review_id, id);
             CREATE TABLE likes (
                 account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 kind       TEXT NOT NULL CHECK (kind IN ('review', 'comment')),
                 target_id  INTEGER NOT NULL,
                 PRIMARY KEY (account_id, kind, target_id)
             ) STRICT, WITHOUT ROWID;
             CREATE INDEX likes_target ON likes(kind, target_id);
             -- Every change to reviews and comments, numbered: clients pull after their cursor.
             CREATE TABLE changes (
                 seq     INTEGER PRIMARY KEY AUTOINCREMENT,
                 payload TEXT NOT NULL
             ) STRICT;",
        ),
        M::up(
            "CREATE TABLE follows (
                 follower_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 followed_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 PRIMARY KEY (follower_id, followed_id)
             ) STRICT, WITHOUT ROWID;
             CREATE INDEX reviews_account ON reviews(account_id, id);",
        ),
        M::up(
            "ALTER TABLE chat_messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
             CREATE TABLE rooms (
                 name          TEXT PRIMARY KEY,
                 topic         TEXT NOT NULL,
                 creator_id    INTEGER REFERENCES accounts(id) ON DELETE SET NULL,
                 created_at_ms INTEGER NOT NULL
             ) STRICT;
             CREATE TABLE room_bans (
                 room       TEXT NOT NULL,
                 account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 PRIMARY KEY (room, account_id)
             ) STRICT, WITHOUT ROWID;
             CREATE TABLE room_reads (
                 account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 room       TEXT NOT NULL,
                 seq        INTEGER NOT NULL,
                 PRIMARY KEY (account_id, room)
             ) STRICT, WITHOUT ROWID;",
        ),
        // Sessions with a short-lived access token and a rotating refresh token (see
        // accounts.rs), and provider identities linked to accounts. A session token of the
        // earlier schema becomes its session's refresh token: the client trades it with
        // `refresh` and carries on.
        M::up(
            "CREATE TABLE auth_sessions (
                 id                    INTEGER PRIMARY KEY,
                 account_id            INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 client                TEXT NOT NULL,
                 method                TEXT NOT NULL,
                 created_at_ms         INTEGER NOT NULL,
                 last_used_at_ms       INTEGER NOT NULL,
                 access_hash           TEXT UNIQUE,
                 access_expires_at_ms  INTEGER NOT NULL,
                 refresh_hash          TEXT NOT NULL UNIQUE,
                 refresh_expires_at_ms INTEGER NOT NULL
             ) STRICT;
             CREATE INDEX auth_sessions_account ON auth_sessions(account_id);
             -- Refresh tokens already traded, kept while their session lives: presenting one
             -- again revokes the session.
             CREATE TABLE spent_refresh_tokens (
                 token_hash TEXT PRIMARY KEY,
                 session_id INTEGER NOT NULL REFERENCES auth_sessions(id) ON DELETE CASCADE
             ) STRICT, WITHOUT ROWID;
             CREATE INDEX spent_refresh_tokens_session ON spent_refresh_tokens(session_id);
             INSERT INTO auth_sessions (account_id, client, method, created_at_ms, last_used_at_ms, access_hash,
                                        access_expires_at_ms, refresh_hash, refresh_expires_at_ms)
                 SELECT account_id, 'earlier version', 'password', created_at_ms, created_at_ms, NULL, 0,
                        token_hash, expires_at_ms
                 FROM sessions;
             DROP TABLE sessions;
             -- (provider name in the relay's configuration, the provider's stable subject id).
             CREATE TABLE provider_links (
                 provider     TEXT NOT NULL,
                 subject      TEXT NOT NULL,
                 account_id   INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 linked_at_ms INTEGER NOT NULL,
                 PRIMARY KEY (provider, subject),
                 UNIQUE (account_id, provider)
             ) STRICT, WITHOUT ROWID;",
        ),
        // Ids are never used twice: a connection or a cached copy that still holds a deleted
        // account's, session's, review's or comment's id must never come to mean someone
        // else's. (Without AUTOINCREMENT SQLite hands out the largest id again once its row is
        // gone.) The tables are rebuilt as SQLite prescribes: foreign keys are off while the
        // migrations run (`SqliteStore::init`) and checked after this one.
        // And every room name ever joined or created is remembered: such a name can no longer
        // be created (taken over) by anyone.
        M::up(
            "CREATE TABLE accounts_new (
                 id            INTEGER PRIMARY KEY AUTOINCREMENT,
                 handle        TEXT NOT NULL UNIQUE,
                 display_name  TEXT NOT NULL,
                 bio           TEXT NOT NULL DEFAULT '',
                 avatar_url    TEXT,
                 password_hash TEXT NOT NULL,
                 created_at_ms INTEGER NOT NULL
             ) STRICT;
             INSERT INTO accounts_new SELECT id, handle, display_name, bio, avatar_url, password_hash, created_at_ms FROM accounts;
             DROP TABLE accounts;
             ALTER TABLE accounts_new RENAME TO accounts;

             CREATE TABLE auth_sessions_new (
                 id                    INTEGER PRIMARY KEY AUTOINCREMENT,
                 account_id            INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 client                TEXT NOT NULL,
                 method                TEXT NOT NULL,
                 created_at_ms         INTEGER NOT NULL,
                 last_used_at_ms       INTEGER NOT NULL,
                 access_hash           TEXT UNIQUE,
                 access_expires_at_ms  INTEGER NOT NULL,
                 refresh_hash          TEXT NOT NULL UNIQUE,
                 refresh_expires_at_ms INTEGER NOT NULL
             ) STRICT;
             INSERT INTO auth_sessions_new SELECT id, account_id, client, method, created_at_ms, last_used_at_ms,
                 access_hash, access_expires_at_ms, refresh_hash, refresh_expires_at_ms FROM auth_sessions;
             DROP TABLE auth_sessions;
             ALTER TABLE auth_sessions_new RENAME TO auth_sessions;
             CREATE INDEX auth_sessions_account ON auth_sessions(account_id);

             CREATE TABLE reviews_new (
                 id            INTEGER PRIMARY KEY AUTOINCREMENT,
                 account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 movie_key     TEXT NOT NULL,
                 title         TEXT NOT NULL,
                 year          INTEGER,
                 rating        REAL NOT NULL CHECK (rating BETWEEN 0.5 AND 5.0 AND rating * 2 = round(rating * 2)),
                 body          TEXT NOT NULL,
                 spoiler       INTEGER NOT NULL,
                 client_id     TEXT NOT NULL,
                 created_at_ms INTEGER NOT NULL,
                 updated_at_ms INTEGER NOT NULL,
                 UNIQUE (account_id, movie_key)
             ) STRICT;
             INSERT INTO reviews_new SELECT id, account_id, movie_key, title, year, rating, body, spoiler, client_id,
                 created_at_ms, updated_at_ms FROM reviews;
             DROP TABLE reviews;
             ALTER TABLE reviews_new RENAME TO reviews;
             CREATE INDEX reviews_film ON reviews(movie_key, id);
             CREATE INDEX reviews_account ON reviews(account_id, id);

             CREATE TABLE comments_new (
                 id            INTEGER PRIMARY KEY AUTOINCREMENT,
                 review_id     INTEGER NOT NULL REFERENCES reviews(id) ON DELETE CASCADE,
                 account_id    INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
                 client_id     TEXT NOT NULL,
                 body          TEXT NOT NULL,
                 created_at_ms INTEGER NOT NULL,
                 updated_at_ms INTEGER NOT NULL,
                 UNIQUE (account_id, client_id)
             ) STRICT;
             INSERT INTO comments_new SELECT id, review_id, account_id, client_id, body, created_at_ms, updated_at_ms FROM comments;
             DROP TABLE comments;
             ALTER TABLE comments_new RENAME TO comments;
             CREATE INDEX comments_review ON comments(review_id, id);

             CREATE TABLE room_names (name TEXT PRIMARY KEY) STRICT, WITHOUT ROWID;
             INSERT OR IGNORE INTO room_names SELECT DISTINCT room FROM chat_messages;
             INSERT OR IGNORE INTO room_names SELECT name FROM rooms;
             INSERT OR IGNORE INTO room_names SELECT DISTINCT room FROM room_reads;
             -- Read marks past 2^63 wrapped to negative numbers (they are now clamped).
             UPDATE room_reads SET seq = 0 WHERE seq < 0;",
        )
        .foreign_key_check(),
    ])
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

    fn select(
        &self,
        order: &str,
        room: &str,
        after: u64,
        before: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT room, seq, client_id, author, guest, text, sent_at_ms, deleted FROM chat_messages
             WHERE room = ?1 AND seq > ?2 AND seq < ?3 ORDER BY {order} LIMIT ?4"
        ))?;
        // Sequence numbers past i64::MAX cannot exist; clamp instead of wrapping to negative.
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let before = i64::try_from(before).unwrap_or(i64::MAX);
        let rows = stmt
            .query_map(params![room, after, before, limit as i64], |r| {
                Ok(ChatMessage {
                    room: r.get(0)?,
                    seq: r.get::<_, i64>(1)? as u64,
                    client_id: r.get(2)?,
                    author: r.get(3)?,
                    guest: r.get(4)?,
                    text: r.get(5)?,
                    sent_at_ms: r.get::<_, i64>(6)? as u64,
                    deleted: r.get(7)?,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows)
    }
}

impl ChatStore for SqliteStore {
    fn appender(&self) -> Result<Box<dyn ChatAppender>, StoreError> {
        let conn = match &self.path {
            Some(path) => {
                let conn = Connection::open(path)?;
                Self::configure(&conn, self.synchronous)?;
                Arc::new(Mutex::new(conn))
            }
            None => self.conn.clone(),
        };
        Ok(Box::new(SqliteAppender { conn }))
    }

    fn range(
        &self,
        room: &str,
        after: u64,
        before: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let mut rows = self.select("seq DESC", room, after, before, limit)?;
        rows.reverse();
        Ok(rows)
    }

    fn range_forward(
        &self,
        room: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        self.select("seq ASC", room, after, u64::MAX, limit)
    }

    fn create_room(&self, name: &str, topic: &str, creator: u64) -> Result<bool, StoreError> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let mut conn = self.conn();
        let tx = write_tx(&mut conn)?;
        if tx.execute(
            "INSERT INTO room_names (name) VALUES (?1) ON CONFLICT(name) DO NOTHING",
            [name],
        )? == 0
        {
            return Ok(false);
        }
        tx.execute(
            "INSERT INTO rooms (name, topic, creator_id, created_at_ms) VALUES (?1, ?2, ?3, ?4)",
            params![name, topic, creator as i64, now],
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn claim_room(&self, name: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO room_names (name) VALUES (?1) ON CONFLICT(name) DO NOTHING",
            [name],
        )?;
        Ok(())
    }

    fn room(&self, name: &str) -> Result<Option<RoomRecord>, StoreError> {
        let conn = self.conn();
        let found = conn
            .query_row(
                "SELECT r.topic, a.id, a.handle FROM rooms r LEFT JOIN accounts a ON a.id = r.creator_id WHERE r.name = ?1",
                [name],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, Option<i64>>(1)?, r.get::<_, Option<String>>(2)?)),
            )
            .optional()?;
        Ok(found.map(|(topic, id, handle)| (topic, id.zip(handle).map(|(i, h)| (i as u64, h)))))
    }

    fn rooms(&self) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare("SELECT r.name, r.topic, a.handle FROM rooms r LEFT JOIN accounts a ON a.id = r.creator_id ORDER BY r.name")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn ban(&self, room: &str, handle: &str) -> Result<Option<u64>, StoreError> {
        let conn = self.conn();
        let id: Option<i64> = conn
            .query_row("SELECT id FROM accounts WHERE handle = ?1", [handle], |r| {
                r.get(0)
            })
            .optional()?;
        if let Some(id) = id {
            conn.execute(
                "INSERT OR IGNORE INTO room_bans (room, account_id) VALUES (?1, ?2)",
                params![room, id],
            )?;
        }
        Ok(id.map(|i| i as u64))
    }

    fn is_banned(&self, room: &str, account: u64) -> Result<bool, StoreError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT 1 FROM room_bans WHERE room = ?1 AND account_id = ?2",
                params![room, account as i64],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }

    fn message_author(&self, room: &str, seq: u64) -> Result<Option<String>, StoreError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT author_key FROM chat_messages WHERE room = ?1 AND seq = ?2 AND deleted = 0",
                params![room, seq as i64],
                |r| r.get(0),
            )
            .optional()?)
    }

    fn delete_message(&self, room: &str, seq: u64) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE chat_messages SET text = '', deleted = 1 WHERE room = ?1 AND seq = ?2",
            params![room, seq as i64],
        )?;
        Ok(())
    }

    fn mark_read(&self, account: u64, room: &str, seq: u64) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO room_reads (account_id, room, seq) VALUES (?1, ?2, ?3)
             ON CONFLICT(account_id, room) DO UPDATE SET seq = max(seq, excluded.seq)",
            params![account as i64, room, seq as i64],
        )?;
        Ok(())
    }

    fn check(&self) -> Result<(), StoreError> {
        self.conn()
            .query_row("SELECT count(*) FROM chat_messages WHERE 0", [], |_| Ok(()))?;
        Ok(())
    }

    fn unread(&self, account: u64) -> Result<Vec<(String, u64)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT rr.room, coalesce((SELECT max(seq) FROM chat_messages m WHERE m.room = rr.room), 0) - rr.seq
             FROM room_reads rr WHERE rr.account_id = ?1 ORDER BY rr.room",
        )?;
        let rows = stmt.query_map([account as i64], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?.max(0) as u64))
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

/// Appends chat messages on its own connection (or the in-memory store's only one).
struct SqliteAppender {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteAppender {
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ChatAppender for SqliteAppender {
    fn last_seq(&mut self, room: &str) -> Result<u64, StoreError> {
        let conn = self.conn();
        let seq: Option<i64> = conn
            .prepare_cached("SELECT max(seq) FROM chat_messages WHERE room = ?1")?
            .query_row([room], |r| r.get(0))?;
        Ok(seq.unwrap_or(0) as u64)
    }

    fn find_client_id(
        &mut self,
        room: &str,
        author_key: &str,
        client_id: &str,
    ) -> Result<Option<u64>, StoreError> {
        let conn = self.conn();
        let seq: Option<i64> = conn
            .prepare_cached("SELECT seq FROM chat_messages WHERE room = ?1 AND author_key = ?2 AND client_id = ?3")?
            .query_row(params![room, author_key, client_id], |r| r.get(0))
            .optional()?;
        Ok(seq.map(|s| s as u64))
    }

    fn append_group(&mut self, group: &mut [(ChatMessage, String)]) -> Result<(), AppendError> {
        let mut conn = self.conn();
        // IMMEDIATE: take the write lock now rather than upgrade later (no SQLITE_BUSY
        // half-way through the group when the other connection writes). Under it no other
        // writer can store a number, so the group is numbered for good here.
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        {
            let mut last =
                tx.prepare_cached("SELECT max(seq) FROM chat_messages WHERE room = ?1")?;
            renumber(group, |room| {
                Ok::<_, rusqlite::Error>(
                    last.query_row([room], |r| r.get::<_, Option<i64>>(0))?
                        .unwrap_or(0) as u64,
                )
            })?;
        }
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO chat_messages (room, seq, client_id, author, author_key, guest, text, sent_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            for (m, author_key) in group.iter() {
                insert.execute(params![
                    m.room,
                    m.seq as i64,
                    m.client_id,
                    m.author,
                    author_key,
                    m.guest,
                    m.text,
                    m.sent_at_ms as i64
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A database made by the relay before ids were kept from reuse (schema version 5), with an
    /// account, a session, a review, a comment and a like, upgraded by opening it now.
    #[test]
    fn upgrading_keeps_every_row_and_link_and_ids_are_not_handed_out_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.sqlite3");
        {
            let mut conn = Connection::open(&path).unwrap();
            migrations().to_version(&mut conn, 5).unwrap();
            conn.execute_batch(
                "INSERT INTO accounts (id, handle, display_name, password_hash, created_at_ms)
                     VALUES (1, 'kept', 'Kept', '', 0), (2, 'gone', 'Gone', '', 0);
                 INSERT INTO auth_sessions (id, account_id, client, method, created_at_ms, last_used_at_ms,
                     access_hash, access_expires_at_ms, refresh_hash, refresh_expires_at_ms)
                     VALUES (7, 1, 'c', 'password', 0, 0, 'a', 0, 'r', 9);
                 INSERT INTO reviews (id, account_id, movie_key, title, year, rating, body, spoiler,
                     client_id, created_at_ms, updated_at_ms)
                     VALUES (3, 1, 'heat-1995', 'Heat', 1995, 4.5, 'tense', 0, 'c1', 0, 0);
                 INSERT INTO comments (id, review_id, account_id, client_id, body, created_at_ms, updated_at_ms)
                     VALUES (4, 3, 1, 'c2', 'yes', 0, 0);
                 INSERT INTO room_reads (account_id, room, seq) VALUES (1, 'lobby', -5);
                 DELETE FROM accounts WHERE id = 2;",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let conn = store.conn();
        let count = |table: &str| -> i64 {
            conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(
            [
                count("accounts"),
                count("auth_sessions"),
                count("reviews"),
                count("comments")
            ],
            [1, 1, 1, 1]
        );
        let fk_errors: i64 = conn
            .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(fk_errors, 0);
        let fk_on: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk_on, 1, "foreign keys are on again after migrating");
        // Deleting the newest row and inserting again gives a new id.
        conn.execute("DELETE FROM comments WHERE id = 4", [])
            .unwrap();
        conn.execute(
            "INSERT INTO comments (review_id, account_id, client_id, body, created_at_ms, updated_at_ms)
             VALUES (3, 1, 'c3', 'again', 0, 0)",
            [],
        )
        .unwrap();
        assert_eq!(conn.last_insert_rowid(), 5);
        // An id freed before the upgrade may come back once (no connection survives the restart
        // that upgrades, and the deleted account's sessions went with it); never after.
        let add = |handle: &str| {
            conn.execute(
                "INSERT INTO accounts (handle, display_name, password_hash, created_at_ms) VALUES (?1, '', '', 0)",
                [handle],
            )
            .unwrap();
            conn.last_insert_rowid()
        };
        let newest = add("new");
        conn.execute("DELETE FROM accounts WHERE id = ?1", [newest])
            .unwrap();
        assert_eq!(
            add("newer"),
            newest + 1,
            "a deleted account's id is not reused"
        );
        // Cascades still work through the rebuilt tables.
        conn.execute("DELETE FROM accounts WHERE id = 1", [])
            .unwrap();
        assert_eq!(
            [count("auth_sessions"), count("reviews"), count("comments")],
            [0, 0, 0]
        );
        let names: i64 = conn
            .query_row(
                "SELECT count(*) FROM room_names WHERE name = 'lobby'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(names, 1, "rooms read before count as used");
    }
}
