//! What serves one connection (`Handler`, made by the accept loop with everything the
//! requests need) and why a connection ends (`End`). The handlers of each request group add
//! their methods to `Handler` in files of their own.

use std::net::SocketAddr;
use std::sync::Arc;

use movietalk_protocol::relay::ErrorCode;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::Config;
use crate::accounts::AccountStore;
use crate::hub::Hub;
use crate::oidc::Providers;
use crate::social::SocialStore;

/// Serves one accepted socket.
#[derive(Debug)]
pub struct Handler {
    pub hub: Arc<Hub>,
    pub chat: Arc<dyn crate::store::ChatStore>,
    pub accounts: Arc<dyn AccountStore>,
    pub social: Arc<dyn SocialStore>,
    pub library: Arc<dyn crate::library::LibraryStore>,
    /// The community model, served to anyone.
    pub model: Arc<crate::community::serve::ModelServer>,
    /// The identity providers people may log in with, and their cached keys.
    pub providers: Arc<Providers>,
    /// Password hashes (argon2id) computed at once, relay-wide: each takes tens of milliseconds
    /// of CPU and `hash_cost` of memory, so a log-in storm waits here instead of using more.
    pub hashing: Arc<crate::hashing::Hashing>,
    pub config: Arc<Config>,
    pub peer: SocketAddr,
    /// Cancelled when the relay shuts down.
    pub shutdown: CancellationToken,
    /// Dropped when this connection ends, so `run` knows when all are done.
    pub _done: mpsc::Sender<()>,
}

/// Why a connection ended, for the close frame and the log.
pub(super) enum End {
    ClientClosed,
    InvalidUtf8,
    Shutdown,
    Idle,
    SlowReader,
    Fatal(ErrorCode, String),
    /// A frame or message over `Config::max_message_bytes`.
    TooBig(String),
    /// The session the connection acted for ended elsewhere (`crate::sessions`).
    SessionEnded(&'static str),
    Io(String),
}

/// Runs a store call that may wait — for SQLite's write lock, which the chat writer holds while
/// it commits a group, or for a PostgreSQL round trip — without stalling the other connections
/// served by this async worker: on a multi-threaded runtime the worker first hands its other
/// tasks to another thread (`block_in_place`). Elsewhere (a test's single-threaded runtime) it
/// simply runs.
pub(super) fn blocking<T>(call: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(call),
        _ => call(),
    }
}
