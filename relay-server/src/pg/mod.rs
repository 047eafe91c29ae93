//! PostgreSQL storage, for several relay instances on one database (`--db postgres://…`;
//! docs/instances.md).
//!
//! The same three traits as [`crate::store::SqliteStore`] — [`ChatStore`],
//! [`crate::accounts::AccountStore`], [`crate::social::SocialStore`] — over the same schema in
//! PostgreSQL types. What changes when several relays write at once:
//!
//! - **Chat sequence numbers**: the appender takes a transaction-scoped advisory lock per room
//!   of its group, reads the rooms' stored maxima and numbers the group after them, so no two
//!   instances ever hand out one number and the numbers stay gapless and in commit order. The
//!   writer's own numbers are only a first guess. [`AppendError::Taken`] is left for a client id
//!   another instance stored first (the writer sorts the batch out again: a resend).
//! - **Live delivery**: each append `NOTIFY`s `"<seq> <room>"` on commit; every instance
//!   `LISTEN`s ([`ChatStore::watch_other_writers`]) and its writer fans out, from the store, what
//!   it has not fanned out yet. Events between instances (typing, presence, …: `crate::peers`)
//!   go on a second channel. Channel names carry a tag of the schema: one deployment per schema.
//! - **The change log** (`changes.seq`, what offline clients pull after their cursor) is
//!   appended under a transaction-scoped advisory lock, the last lock any transaction takes, so
//!   its numbers are handed out in commit order: a client that pulled up to 41 can never later
//!   find a 40 that committed after it.
//! - Everything else is row-level concurrency: unique keys for handles, one review per account
//!   and film, client ids; `FOR UPDATE` where the SQLite store relied on its single writer.
//!
//! The `postgres` crate is synchronous, driving its own small tokio runtime, which must not run
//! on a thread of the relay's runtime; every call is made on a scoped thread of its own
//! (`PgStore::with`, `PgStore::with_once`) with a connection from a fixed pool. A call that
//! meets a connection the server ended is made again on a new one when it may safely run twice.

mod accounts;
mod social;

use std::sync::{Condvar, Mutex};

use movietalk_protocol::relay::ChatMessage;
use postgres::error::SqlState;
use postgres::{Client, NoTls};

use crate::store::{
    AppendError, ChatAppender, ChatStore, Elsewhere, PeerOutbox, RoomRecord, StoreError,
};

/// How long a connection has to answer when a failed call asks whether it still lives.
const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// Connections the store keeps open (the writer takes one of its own).
const POOL_SIZE: usize = 6;

/// The advisory lock key that serialises appends to the change log.
/// (With the schema's hash: one relay deployment per schema, and several may share a database.)
const CHANGE_LOG_LOCK: i32 = 0x4d54_6368; // "MTch"
/// The channel on which appenders announce new chat messages, `"<seq> <room>"`: the newest
/// number stored in the room by the transaction. PostgreSQL delivers a notification when the
/// transaction commits, in commit order, to every listening instance.
/// The channel names end with `.` and [`SCHEMA_TAG`]: relays on other schemas of the same
/// database are other deployments, which must not hear these.
const NOTIFY_CHANNEL: &str = "movietalk_chat";
/// SQL for a short tag of the schema the relay's tables are in (hex, so a channel name stays
/// a plain identifier well under PostgreSQL's 63 bytes).
const SCHEMA_TAG: &str = "left(md5(current_schema()), 16)";

/// The channel of events between instances (`crate::peers`).
const PEER_CHANNEL: &str = "movietalk_peers";

/// The advisory locks that give one writer at a time a room's next numbers are keyed by the
/// schema's and this and the room's `hashtext`.
const ROOM_LOCK: i32 = 0x4d54_726d; // "MTrm"
/// The advisory lock key that makes instances starting together migrate one at a time.
const MIGRATION_LOCK: i64 = 0x4d54_736d; // "MTsm"

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        StoreError(match e.as_db_error() {
            Some(db) => format!("postgres: {}: {}", db.code().code(), db.message()),
            None => format!("postgres: {e}"),
        })
    }
}

/// Whether `e` says the connection is gone: closed, or the server ending it (shut down,
/// restarting, or an administrator cutting it) — the error can arrive before the client has
/// seen the connection close.
pub(crate) fn connection_lost(e: &postgres::Error) -> bool {
    e.is_closed()
        || e.code().is_some_and(|c| {
            *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
        })
}

/// Whether `e` is a unique or primary key violation.
pub(crate) fn is_unique_violation(e: &postgres::Error) -> bool {
    e.code() == Some(&SqlState::UNIQUE_VIOLATION)
}

/// PostgreSQL storage shared by any number of relay instances.
pub struct PgStore {
    config: postgres::Config,
    idle: Mutex<Vec<Option<Client>>>,
    returned: Condvar,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .finish_non_exhaustive()
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`, or key=value form) and creates or
    /// migrates the schema.
    pub fn open(url: &str) -> Result<Self, StoreError> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| StoreError(format!("bad PostgreSQL address: {e}")))?;
        if config.get_connect_timeout().is_none() {
            // An unreachable host fails in seconds, not after TCP's minutes of retries.
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        let clients = on_own_thread(|| {
            let mut first = config.connect(NoTls)?;
            migrate(&mut first)?;
            let mut clients = vec![Some(first)];
            for _ in 1..POOL_SIZE {
                clients.push(Some(config.connect(NoTls)?));
            }
            Ok::<_, StoreError>(clients)
        })?;
        Ok(PgStore {
            config,
            idle: Mutex::new(clients),
            returned: Condvar::new(),
        })
    }

    /// Runs `f` with a pooled connection on a thread of its own (see the module docs): for
    /// reads and for writes that may safely run twice. A connection the server closed is
    /// replaced before use; when `f` fails and its connection turns out dead (the database
    /// restarted, or cut idle connections), `f` runs once more on a new one. Repeating a write
    /// matters only if the server committed it and the connection died before saying so; the
    /// callers of `with` then find what the first run stored (client ids, set operations,
    /// GREATEST) or store the same again.
    pub(crate) fn with<R, E>(
        &self,
        f: impl FnMut(&mut Client) -> Result<R, E> + Send,
    ) -> Result<R, E>
    where
        R: Send,
        E: Send + From<StoreError>,
    {
        self.run(Calls::MayRepeat, f)
    }

    /// [`PgStore::with`] for a write that must not run twice (a sign-up, a token refresh, a
    /// delete that answers "not found" the second time): the connection is checked with a
    /// round trip first, and `f` runs once.
    pub(crate) fn with_once<R, E>(
        &self,
        f: impl FnMut(&mut Client) -> Result<R, E> + Send,
    ) -> Result<R, E>
    where
        R: Send,
        E: Send + From<StoreError>,
    {
        self.run(Calls::Once, f)
    }

    fn run<R, E>(
        &self,
        calls: Calls,
        mut f: impl FnMut(&mut Client) -> Result<R, E> + Send,
    ) -> Result<R, E>
    where
        R: Send,
        E: Send + From<StoreError>,
    {
        // A slot of the pool: `None` when its connection was lost to a panic (made anew here).
        let slot = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                if let Some(c) = idle.pop() {
                    break c;
                }
                idle = self.returned.wait(idle).unwrap_or_else(|p| p.into_inner());
            }
        };
        let config = &self.config;
        let outcome = std::thread::scope(|s| {
            s.spawn(move || {
                let fresh = |c: &mut Option<Client>| -> Result<(), StoreError> {
                    *c = Some(config.connect(NoTls)?);
                    Ok(())
                };
                let mut client = slot;
                let mut tries = 0;
                loop {
                    tries += 1;
                    let dead = match &mut client {
                        None => true,
                        Some(c) if c.is_closed() => true,
                        Some(c) => calls == Calls::Once && c.is_valid(CHECK_TIMEOUT).is_err(),
                    };
                    if dead && let Err(e) = fresh(&mut client) {
                        return (client, Err(E::from(e)));
                    }
                    let c = client.as_mut().expect("connected above");
                    let result = f(c);
                    // `f`'s error type hides the cause: ask the connection itself whether it lives.
                    if result.is_err()
                        && calls == Calls::MayRepeat
                        && tries < 2
                        && (c.is_closed() || c.is_valid(CHECK_TIMEOUT).is_err())
                    {
                        client = None;
                        continue;
                    }
                    return (client, result);
                }
            })
            .join()
        });
        let (slot, result, panic) = match outcome {
            Ok((client, result)) => (client, Some(result), None),
            // The connection went with the panicking thread; the slot is made anew next time.
            Err(panic) => (None, None, Some(panic)),
        };
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(slot);
        self.returned.notify_one();
        match (result, panic) {
            (Some(result), _) => result,
            (None, Some(panic)) => std::panic::resume_unwind(panic),
            (None, None) => unreachable!("either a result or a panic"),
        }
    }
}

/// Whether a call may run twice (see [`PgStore::with`] and [`PgStore::with_once`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Calls {
    MayRepeat,
    Once,
}

impl PgStore {
    /// Messages of `room` numbered between `after` and `before` (both excluded), the first
    /// `limit` in `order` (`ASC` or `DESC`) of sequence numbers.
    fn select(
        &self,
        order: &str,
        room: &str,
        after: u64,
        before: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM chat_messages
             WHERE room = $1 AND seq > $2 AND seq < $3 ORDER BY seq {order} LIMIT $4"
        );
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(|c| {
            let rows = c.query(&sql, &[&room, &clamp(after), &clamp(before), &limit])?;
            Ok(rows.iter().map(row_to_message).collect())
        })
    }
}

impl Drop for PgStore {
    /// Each client owns a small runtime, which may not be dropped on a thread of another
    /// runtime (where the relay's last handle to the store often goes).
    fn drop(&mut self) {
        let clients = std::mem::take(self.idle.get_mut().unwrap_or_else(|p| p.into_inner()));
        on_own_thread(move || drop(clients));
    }
}

/// Runs `f` on a new thread, outside any tokio runtime, and returns its result (a panic in `f`
/// carries on in the caller).
fn on_own_thread<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

/// The schema, oldest first: each step runs once, in a transaction, recorded in
/// `relay_schema`. Never edit a released step: append one. The tables are those of the SQLite
/// store's migrations, as they stand after its last one.
const MIGRATIONS: &[&str] = &[
    r"
CREATE TABLE accounts (
    id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    handle        TEXT NOT NULL UNIQUE,
    display_name  TEXT NOT NULL,
    bio           TEXT NOT NULL DEFAULT '',
    avatar_url    TEXT,
    password_hash TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE TABLE chat_messages (
    room       TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    client_id  TEXT NOT NULL,
    author     TEXT NOT NULL,
    author_key TEXT NOT NULL,
    guest      BOOLEAN NOT NULL,
    text       TEXT NOT NULL,
    sent_at_ms BIGINT NOT NULL,
    deleted    BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (room, seq)
);
CREATE UNIQUE INDEX chat_messages_client ON chat_messages(room, author_key, client_id);
CREATE INDEX chat_messages_author ON chat_messages(author_key);
CREATE TABLE reviews (
    id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    account_id    BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    movie_key     TEXT NOT NULL,
    title         TEXT NOT NULL,
    year          INTEGER,
    rating        REAL NOT NULL CHECK (rating BETWEEN 0.5 AND 5.0 AND rating * 2 = round(rating * 2)),
    body          TEXT NOT NULL,
    spoiler       BOOLEAN NOT NULL,
    client_id     TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (account_id, movie_key)
);
CREATE INDEX reviews_film ON reviews(movie_key, id);
CREATE INDEX reviews_account ON reviews(account_id, id);
CREATE TABLE comments (
    id            BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    review_id     BIGINT NOT NULL REFERENCES reviews(id) ON DELETE CASCADE,
    account_id    BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    client_id     TEXT NOT NULL,
    body          TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    updated_at_ms BIGINT NOT NULL,
    UNIQUE (account_id, client_id)
);
CREATE INDEX comments_review ON comments(review_id, id);
CREATE TABLE likes (
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL CHECK (kind IN ('review', 'comment')),
    target_id  BIGINT NOT NULL,
    PRIMARY KEY (account_id, kind, target_id)
);
CREATE INDEX likes_target ON likes(kind, target_id);
-- Every change to reviews and comments, numbered in commit order (see CHANGE_LOG_LOCK).
CREATE TABLE changes (
    seq     BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    payload TEXT NOT NULL
);
CREATE TABLE follows (
    follower_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    followed_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    PRIMARY KEY (follower_id, followed_id)
);
CREATE TABLE rooms (
    name          TEXT PRIMARY KEY,
    topic         TEXT NOT NULL,
    creator_id    BIGINT REFERENCES accounts(id) ON DELETE SET NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE TABLE room_bans (
    room       TEXT NOT NULL,
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    PRIMARY KEY (room, account_id)
);
CREATE TABLE room_reads (
    account_id BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    room       TEXT NOT NULL,
    seq        BIGINT NOT NULL,
    PRIMARY KEY (account_id, room)
);
CREATE TABLE auth_sessions (
    id                    BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    account_id            BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    client                TEXT NOT NULL,
    method                TEXT NOT NULL,
    created_at_ms         BIGINT NOT NULL,
    last_used_at_ms       BIGINT NOT NULL,
    access_hash           TEXT UNIQUE,
    access_expires_at_ms  BIGINT NOT NULL,
    refresh_hash          TEXT NOT NULL UNIQUE,
    refresh_expires_at_ms BIGINT NOT NULL
);
CREATE INDEX auth_sessions_account ON auth_sessions(account_id);
CREATE TABLE spent_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id BIGINT NOT NULL REFERENCES auth_sessions(id) ON DELETE CASCADE
);
CREATE INDEX spent_refresh_tokens_session ON spent_refresh_tokens(session_id);
CREATE TABLE provider_links (
    provider     TEXT NOT NULL,
    subject      TEXT NOT NULL,
    account_id   BIGINT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    linked_at_ms BIGINT NOT NULL,
    PRIMARY KEY (provider, subject),
    UNIQUE (account_id, provider)
);
",
    r"
-- Every room name ever joined or created: such a name can no longer be created (taken over).
CREATE TABLE room_names (name TEXT PRIMARY KEY);
INSERT INTO room_names SELECT DISTINCT room FROM chat_messages ON CONFLICT DO NOTHING;
INSERT INTO room_names SELECT name FROM rooms ON CONFLICT DO NOTHING;
INSERT INTO room_names SELECT DISTINCT room FROM room_reads ON CONFLICT DO NOTHING;
",
];

/// Brings the schema up to date. Instances starting together take turns (an advisory lock).
fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS relay_schema (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
    )?;
    let done: i32 = tx
        .query_one("SELECT coalesce(max(version), 0) FROM relay_schema", &[])?
        .get(0);
    let done = usize::try_from(done).unwrap_or(0);
    if done > MIGRATIONS.len() {
        return Err(StoreError(format!(
            "the database's schema (version {done}) is newer than this relay's ({}); run a newer relay",
            MIGRATIONS.len()
        )));
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(done) {
        tx.batch_execute(step)?;
        tx.execute(
            "INSERT INTO relay_schema (version) VALUES ($1)",
            &[&(i as i32 + 1)],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Appends `what` to the change log inside `tx`, after every change log append that committed
/// before it (see [`CHANGE_LOG_LOCK`]).
pub(crate) fn record(
    tx: &mut postgres::Transaction<'_>,
    what: &movietalk_protocol::relay::ChangeKind,
) -> Result<(), postgres::Error> {
    let payload = serde_json::to_string(what).expect("changes serialise");
    tx.execute(
        "SELECT pg_advisory_xact_lock(hashtext(current_schema()), $1)",
        &[&CHANGE_LOG_LOCK],
    )?;
    tx.execute("INSERT INTO changes (payload) VALUES ($1)", &[&payload])?;
    Ok(())
}

/// A connection listening on the relay's channels.
fn listen(config: &postgres::Config) -> Result<Client, postgres::Error> {
    let mut c = config.connect(NoTls)?;
    let schema: String = c.query_one(&format!("SELECT {SCHEMA_TAG}"), &[])?.get(0);
    c.batch_execute(&format!(
        "LISTEN \"{NOTIFY_CHANNEL}.{schema}\"; LISTEN \"{PEER_CHANNEL}.{schema}\""
    ))?;
    Ok(c)
}

/// The next notification on `c` within half a second ([`Elsewhere::Quiet`] if none came);
/// `None` for a payload this relay does not understand.
fn next_notification(c: &mut Client) -> Result<Option<Elsewhere>, postgres::Error> {
    use postgres::fallible_iterator::FallibleIterator;
    let mut notes = c.notifications();
    let note = match notes
        .timeout_iter(std::time::Duration::from_millis(500))
        .next()?
    {
        Some(note) => note,
        None => return Ok(Some(Elsewhere::Quiet)),
    };
    if note.channel().starts_with(&format!("{PEER_CHANNEL}.")) {
        return Ok(Some(Elsewhere::Peer(note.payload().to_owned())));
    }
    Ok(note.payload().split_once(' ').and_then(|(seq, room)| {
        Some(Elsewhere::Stored {
            room: room.to_owned(),
            seq: seq.parse().ok()?,
        })
    }))
}

/// Sequence numbers past `i64::MAX` cannot exist; clamp instead of wrapping to negative.
fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn row_to_message(r: &postgres::Row) -> ChatMessage {
    ChatMessage {
        room: r.get(0),
        seq: r.get::<_, i64>(1) as u64,
        client_id: r.get(2),
        author: r.get(3),
        guest: r.get(4),
        text: r.get(5),
        sent_at_ms: r.get::<_, i64>(6) as u64,
        deleted: r.get(7),
    }
}

const MESSAGE_COLUMNS: &str = "room, seq, client_id, author, guest, text, sent_at_ms, deleted";

impl ChatStore for PgStore {
    fn appender(&self) -> Result<Box<dyn ChatAppender>, StoreError> {
        let config = self.config.clone();
        Ok(Box::new(on_own_thread(move || PgAppender::new(config))?))
    }

    fn range(
        &self,
        room: &str,
        after: u64,
        before: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let mut newest_first = self.select("DESC", room, after, before, limit)?;
        newest_first.reverse();
        Ok(newest_first)
    }

    fn range_forward(
        &self,
        room: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        self.select("ASC", room, after, u64::MAX, limit)
    }

    fn ranges(
        &self,
        wanted: &[(String, u64, u64)],
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        if wanted.is_empty() {
            return Ok(Vec::new());
        }
        let rooms: Vec<&str> = wanted.iter().map(|w| w.0.as_str()).collect();
        let afters: Vec<i64> = wanted.iter().map(|w| clamp(w.1)).collect();
        let uptos: Vec<i64> = wanted.iter().map(|w| clamp(w.2)).collect();
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.with(|c| {
            let rows = c.query(
                "SELECT m.room, m.seq, m.client_id, m.author, m.guest, m.text, m.sent_at_ms, m.deleted
                 FROM unnest($1::text[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS w(room, after, upto, i)
                 CROSS JOIN LATERAL (
                     SELECT * FROM chat_messages m
                     WHERE m.room = w.room AND m.seq > w.after AND m.seq <= w.upto
                     ORDER BY m.seq LIMIT $4
                 ) m
                 ORDER BY w.i, m.seq",
                &[&rooms, &afters, &uptos, &limit],
            )?;
            Ok(rows.iter().map(row_to_message).collect())
        })
    }

    fn create_room(&self, name: &str, topic: &str, creator: u64) -> Result<bool, StoreError> {
        self.with_once(|c| {
            let mut tx = c.transaction()?;
            let claimed = tx.execute(
                "INSERT INTO room_names (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                &[&name],
            )?;
            if claimed == 0 {
                return Ok(false);
            }
            tx.execute(
                "INSERT INTO rooms (name, topic, creator_id, created_at_ms) VALUES ($1, $2, $3, $4)",
                &[&name, &topic, &(creator as i64), &now_ms()],
            )?;
            tx.commit()?;
            Ok(true)
        })
    }

    fn claim_room(&self, name: &str) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO room_names (name) VALUES ($1) ON CONFLICT (name) DO NOTHING",
                &[&name],
            )?;
            Ok(())
        })
    }

    fn room(&self, name: &str) -> Result<Option<RoomRecord>, StoreError> {
        self.with(|c| {
            let row = c.query_opt(
                "SELECT r.topic, a.id, a.handle FROM rooms r LEFT JOIN accounts a ON a.id = r.creator_id
                 WHERE r.name = $1",
                &[&name],
            )?;
            Ok(row.map(|r| {
                let id: Option<i64> = r.get(1);
                let handle: Option<String> = r.get(2);
                (r.get(0), id.zip(handle).map(|(i, h)| (i as u64, h)))
            }))
        })
    }

    fn rooms(&self) -> Result<Vec<(String, String, Option<String>)>, StoreError> {
        self.with(|c| {
            let rows = c.query(
                "SELECT r.name, r.topic, a.handle FROM rooms r LEFT JOIN accounts a ON a.id = r.creator_id
                 ORDER BY r.name COLLATE \"C\"",
                &[],
            )?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect())
        })
    }

    fn ban(&self, room: &str, handle: &str) -> Result<Option<u64>, StoreError> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            // The account may not be deleted by another instance before the ban is stored.
            let id: Option<i64> = tx
                .query_opt(
                    "SELECT id FROM accounts WHERE handle = $1 FOR KEY SHARE",
                    &[&handle],
                )?
                .map(|r| r.get(0));
            if let Some(id) = id {
                tx.execute(
                    "INSERT INTO room_bans (room, account_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&room, &id],
                )?;
            }
            tx.commit()?;
            Ok(id.map(|i| i as u64))
        })
    }

    fn is_banned(&self, room: &str, account: u64) -> Result<bool, StoreError> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT 1 FROM room_bans WHERE room = $1 AND account_id = $2",
                &[&room, &(account as i64)],
            )?
            .is_some())
        })
    }

    fn message_author(&self, room: &str, seq: u64) -> Result<Option<String>, StoreError> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT author_key FROM chat_messages WHERE room = $1 AND seq = $2 AND NOT deleted",
                &[&room, &clamp(seq)],
            )?
            .map(|r| r.get(0)))
        })
    }

    fn delete_message(&self, room: &str, seq: u64) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "UPDATE chat_messages SET text = '', deleted = TRUE WHERE room = $1 AND seq = $2",
                &[&room, &clamp(seq)],
            )?;
            Ok(())
        })
    }

    fn mark_read(&self, account: u64, room: &str, seq: u64) -> Result<(), StoreError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO room_reads (account_id, room, seq) VALUES ($1, $2, $3)
                 ON CONFLICT (account_id, room) DO UPDATE SET seq = GREATEST(room_reads.seq, excluded.seq)",
                &[&(account as i64), &room, &clamp(seq)],
            )?;
            Ok(())
        })
    }

    fn watch_other_writers(
        &self,
        mut tell: Box<dyn FnMut(Elsewhere) -> bool + Send>,
    ) -> Result<(), StoreError> {
        let config = self.config.clone();
        // The first connection now, so that a relay that cannot listen does not start.
        let first = on_own_thread(|| listen(&config))?;
        std::thread::Builder::new()
            .name("pg-listen".into())
            .spawn(move || {
                let mut client = Some(first);
                loop {
                    let Some(c) = client.as_mut() else {
                        std::thread::sleep(std::time::Duration::from_secs(1));
                        if !tell(Elsewhere::Quiet) {
                            return;
                        }
                        match listen(&config) {
                            Ok(c) => client = Some(c),
                            Err(e) => {
                                tracing::warn!(error = %e, "listening for other relay instances failed; retrying");
                                continue;
                            }
                        }
                        if !tell(Elsewhere::MayHaveMissed) {
                            return;
                        }
                        continue;
                    };
                    let what = match next_notification(c) {
                        Ok(Some(what)) => what,
                        Ok(None) => continue,
                        Err(e) => {
                            tracing::warn!(error = %e, "the connection listening for other relay instances broke");
                            client = None;
                            continue;
                        }
                    };
                    if !tell(what) {
                        return;
                    }
                }
            })
            .map_err(|e| StoreError(format!("starting the listener: {e}")))?;
        Ok(())
    }

    fn check(&self) -> Result<(), StoreError> {
        // The relay's own table, not just the server: a schema dropped or a permission taken
        // away is as fatal as a server gone.
        self.with(|c| {
            c.execute("SELECT 1 FROM relay_schema LIMIT 1", &[])?;
            Ok(())
        })
    }

    fn peer_outbox(&self) -> Result<Option<Box<dyn PeerOutbox>>, StoreError> {
        let config = self.config.clone();
        let client = on_own_thread(move || config.connect(NoTls))?;
        Ok(Some(Box::new(PgPeerOutbox {
            config: self.config.clone(),
            client,
        })))
    }

    fn unread(&self, account: u64) -> Result<Vec<(String, u64)>, StoreError> {
        self.with(|c| {
            let rows = c.query(
                "SELECT rr.room, coalesce((SELECT max(seq) FROM chat_messages m WHERE m.room = rr.room), 0) - rr.seq
                 FROM room_reads rr WHERE rr.account_id = $1 ORDER BY rr.room COLLATE \"C\"",
                &[&(account as i64)],
            )?;
            Ok(rows
                .iter()
                .map(|r| (r.get(0), r.get::<_, i64>(1).max(0) as u64))
                .collect())
        })
    }
}

/// Sends events to the other instances on a connection of its own, from the hub's peer-outbox
/// thread (a plain thread, like the writer's).
struct PgPeerOutbox {
    config: postgres::Config,
    client: Client,
}

impl PgPeerOutbox {
    fn notify(&mut self, payload: &str) -> Result<(), postgres::Error> {
        if self.client.is_closed() {
            self.client = self.config.connect(NoTls)?;
        }
        self.client.execute(
            &format!("SELECT pg_notify($1 || '.' || {SCHEMA_TAG}, $2)"),
            &[&PEER_CHANNEL, &payload],
        )?;
        Ok(())
    }
}

impl PeerOutbox for PgPeerOutbox {
    fn send(&mut self, payload: &str) -> Result<(), StoreError> {
        match self.notify(payload) {
            // Once more on a new connection if this one turned out lost.
            Err(e) if connection_lost(&e) => {
                self.client = self.config.connect(NoTls)?;
                Ok(self.notify(payload)?)
            }
            result => Ok(result?),
        }
    }
}

/// Appends chat messages on a connection of its own, on the hub's writer thread (a plain
/// thread, outside the runtime, so the client is used directly). Its statements are prepared
/// once per connection, and each is one round trip for the whole group (arrays in, `unnest`).
struct PgAppender {
    config: postgres::Config,
    conn: Option<(Client, Statements)>,
}

struct Statements {
    last_seq: postgres::Statement,
    find: postgres::Statement,
    lock: postgres::Statement,
    stored_max: postgres::Statement,
    insert: postgres::Statement,
    notify: postgres::Statement,
}

impl Statements {
    fn prepare(c: &mut Client) -> Result<Statements, postgres::Error> {
        Ok(Statements {
            last_seq: c.prepare("SELECT max(seq) FROM chat_messages WHERE room = $1")?,
            find: c.prepare(
                "SELECT k.i, m.seq
                 FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS k(room, author_key, client_id, i)
                 JOIN chat_messages m
                   ON m.room = k.room AND m.author_key = k.author_key AND m.client_id = k.client_id",
            )?,
            // The rooms come sorted, and unnest keeps their order.
            // In the order of the lock keys, so two writers never wait for each other both
            // ways (two rooms may share a hash).
            lock: c.prepare(
                "SELECT pg_advisory_xact_lock(hashtext(current_schema()) # $1, h)
                 FROM (SELECT DISTINCT hashtext(r) AS h FROM unnest($2::text[]) AS r ORDER BY h) AS keys",
            )?,
            // Per room, so that each max is one step down the primary key's index (a
            // GROUP BY over `room = ANY(…)` reads every message of those rooms).
            stored_max: c.prepare(
                "SELECT r, (SELECT max(seq) FROM chat_messages m WHERE m.room = r) FROM unnest($1::text[]) AS r",
            )?,
            insert: c.prepare(
                "INSERT INTO chat_messages (room, seq, client_id, author, author_key, guest, text, sent_at_ms)
                 SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::text[], $5::text[],
                                      $6::boolean[], $7::text[], $8::bigint[])",
            )?,
            notify: c.prepare(
                &format!("SELECT pg_notify($1 || '.' || {SCHEMA_TAG}, p) FROM unnest($2::text[]) AS p"),
            )?,
        })
    }
}

impl PgAppender {
    fn new(config: postgres::Config) -> Result<Self, StoreError> {
        let mut a = PgAppender { config, conn: None };
        a.conn()?;
        Ok(a)
    }

    /// The connection and its statements, connecting again if the server closed it.
    fn conn(&mut self) -> Result<(&mut Client, &Statements), StoreError> {
        if self.conn.as_ref().is_none_or(|(c, _)| c.is_closed()) {
            self.conn = None;
            let mut client = self.config.connect(NoTls)?;
            let statements = Statements::prepare(&mut client)?;
            self.conn = Some((client, statements));
        }
        let (c, s) = self.conn.as_mut().expect("connected above");
        Ok((c, s))
    }

    /// One attempt; `Err(None)` when the connection turned out lost (nothing was stored
    /// unless the commit landed just before).
    fn try_append(
        &mut self,
        group: &mut [(ChatMessage, String)],
    ) -> Result<(), Option<AppendError>> {
        let (client, st) = self.conn().map_err(|e| Some(e.into()))?;
        let result = Self::append_on(client, st, group);
        result.map_err(|e| {
            if connection_lost(&e) {
                self.conn = None;
                None
            } else if is_unique_violation(&e) {
                Some(AppendError::Taken)
            } else {
                Some(AppendError::Store(e.into()))
            }
        })
    }

    fn append_on(
        client: &mut Client,
        st: &Statements,
        group: &mut [(ChatMessage, String)],
    ) -> Result<(), postgres::Error> {
        let mut tx = client.transaction()?;
        // One writer at a time per room (until commit; see the lock statement for the order);
        // then the group is numbered after what is stored, which no one else can add to until
        // this commits.
        let mut rooms: Vec<&str> = group.iter().map(|(m, _)| m.room.as_str()).collect();
        rooms.sort_unstable();
        rooms.dedup();
        tx.execute(&st.lock, &[&ROOM_LOCK, &rooms])?;
        let mut stored: std::collections::HashMap<String, u64> = tx
            .query(&st.stored_max, &[&rooms])?
            .iter()
            .map(|r| {
                (
                    r.get::<_, String>(0),
                    r.get::<_, Option<i64>>(1).unwrap_or(0) as u64,
                )
            })
            .collect();
        crate::store::renumber(group, |room| {
            Ok::<_, postgres::Error>(stored.remove(room).unwrap_or(0))
        })?;
        let column =
            |f: fn(&(ChatMessage, String)) -> &str| -> Vec<&str> { group.iter().map(f).collect() };
        let seqs: Vec<i64> = group.iter().map(|(m, _)| m.seq as i64).collect();
        let guests: Vec<bool> = group.iter().map(|(m, _)| m.guest).collect();
        let times: Vec<i64> = group.iter().map(|(m, _)| m.sent_at_ms as i64).collect();
        tx.execute(
            &st.insert,
            &[
                &column(|(m, _)| &m.room),
                &seqs,
                &column(|(m, _)| &m.client_id),
                &column(|(m, _)| &m.author),
                &column(|(_, k)| k),
                &guests,
                &column(|(m, _)| &m.text),
                &times,
            ],
        )?;
        // Other instances hear of it when (and only if) this commits: each room's newest.
        let mut newest: std::collections::HashMap<&str, u64> = std::collections::HashMap::new();
        for (m, _) in group.iter() {
            newest.insert(m.room.as_str(), m.seq);
        }
        let notes: Vec<String> = newest
            .into_iter()
            .map(|(room, seq)| format!("{seq} {room}"))
            .collect();
        tx.execute(&st.notify, &[&NOTIFY_CHANNEL, &notes])?;
        tx.commit()
    }
}

impl PgAppender {
    /// Runs the read `f`, once more on a new connection if it failed on a closed one.
    fn read<T>(
        &mut self,
        f: impl Fn(&mut Client, &Statements) -> Result<T, postgres::Error>,
    ) -> Result<T, StoreError> {
        let (c, st) = self.conn()?;
        match f(c, st) {
            Err(e) if connection_lost(&e) => {
                self.conn = None;
                let (c, st) = self.conn()?;
                Ok(f(c, st)?)
            }
            other => Ok(other?),
        }
    }
}

impl ChatAppender for PgAppender {
    fn last_seq(&mut self, room: &str) -> Result<u64, StoreError> {
        let seq: Option<i64> =
            self.read(|c, st| Ok(c.query_one(&st.last_seq, &[&room])?.get(0)))?;
        Ok(seq.unwrap_or(0) as u64)
    }

    fn find_client_id(
        &mut self,
        room: &str,
        author_key: &str,
        client_id: &str,
    ) -> Result<Option<u64>, StoreError> {
        Ok(self.find_client_ids(&[(room, author_key, client_id)])?[0])
    }

    fn find_client_ids(
        &mut self,
        keys: &[(&str, &str, &str)],
    ) -> Result<Vec<Option<u64>>, StoreError> {
        let mut found = vec![None; keys.len()];
        if keys.is_empty() {
            return Ok(found);
        }
        let rooms: Vec<&str> = keys.iter().map(|k| k.0).collect();
        let authors: Vec<&str> = keys.iter().map(|k| k.1).collect();
        let ids: Vec<&str> = keys.iter().map(|k| k.2).collect();
        for row in self.read(|c, st| c.query(&st.find, &[&rooms, &authors, &ids]))? {
            let i = row.get::<_, i64>(0) as usize - 1;
            found[i] = Some(row.get::<_, i64>(1) as u64);
        }
        Ok(found)
    }

    fn append_group(&mut self, group: &mut [(ChatMessage, String)]) -> Result<(), AppendError> {
        match self.try_append(group) {
            // The connection broke (the server restarted, a proxy cut it): once more on a new
            // one. Safe even if the first commit did land: its client ids make this a
            // conflict, which the writer sorts out as resends.
            Err(None) => self.try_append(group).map_err(|e| {
                e.unwrap_or_else(|| {
                    AppendError::Store(StoreError("the database connection was lost twice".into()))
                })
            }),
            Ok(()) => Ok(()),
            Err(Some(e)) => Err(e),
        }
    }
}
