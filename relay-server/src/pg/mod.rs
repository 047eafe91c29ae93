//! PostgreSQL storage, for several relay instances on one database (`--db postgres://…`;
//! docs/instances.md).
//!
//! The same three traits as [`crate::store::SqliteStore`] — [`crate::store::ChatStore`],
//! [`crate::accounts::AccountStore`], [`crate::social::SocialStore`]: their rules over this
//! store's rows (`rows.rs`, `accounts.rs`, `social.rs`, `chat.rs`) and what only it gives the
//! chat ([`ChatBackend`]: the appender, `LISTEN`, the peer outbox) — over the same schema in
//! PostgreSQL types. What changes when several relays write at once:
//!
//! - **Chat sequence numbers**: the appender takes a transaction-scoped advisory lock per room
//!   of its group, reads the rooms' stored maxima and numbers the group after them, so no two
//!   instances ever hand out one number and the numbers stay gapless and in commit order. The
//!   writer's own numbers are only a first guess. [`crate::store::AppendError::Taken`] is left
//!   for a client id another instance stored first (the writer sorts the batch out again: a
//!   resend).
//! - **Live delivery**: each append `NOTIFY`s `"<seq> <room>"` on commit; every instance
//!   `LISTEN`s ([`ChatBackend::watch_other_writers`]) and its writer fans out, from the store,
//!   what it has not fanned out yet. Events between instances (typing, presence, …:
//!   `crate::peers`) go on a second channel. Channel names carry a tag of the schema: one
//!   deployment per schema.
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
mod appender;
mod chat;
mod community;
mod library;
mod rows;
mod schema;
mod social;

use std::sync::{Condvar, Mutex};

use postgres::error::SqlState;
use postgres::{Client, NoTls};

use crate::store::{ChatAppender, ChatBackend, Elsewhere, PeerOutbox, StoreError};

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
            schema::migrate(&mut first)?;
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

/// Appends `what` to the change log inside `tx`, after every change log append that committed
/// before it (see [`CHANGE_LOG_LOCK`]).
pub(crate) fn record(
    tx: &mut impl postgres::GenericClient,
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

impl ChatBackend for PgStore {
    fn appender(&self) -> Result<Box<dyn ChatAppender>, StoreError> {
        let config = self.config.clone();
        on_own_thread(move || PgStore::new_appender(config))
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
