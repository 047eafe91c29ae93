//! The MovieTalk relay: WebSocket chat rooms, shaped like mini-redis.
//!
//! [`run`] serves a bound listener until `shutdown` completes, then waits for every connection
//! to finish. [`start`] binds, spawns `run` and returns a [`RunningRelay`] handle — what the app
//! uses to host a relay on loopback and what tests use to start one on port 0.
//!
//! Layers: [`connection`] speaks the protocol on one socket; [`hub`] holds rooms (members,
//! sequence numbers, fan-out); [`store`] keeps messages durably (SQLite by default, behind the
//! [`store::ChatStore`] trait; `pg` is the PostgreSQL store several instances share, and
//! [`peers`] what those instances tell each other). [`accounts`] holds accounts and sessions,
//! [`hashing`] hashes their passwords in bounded, reused memory, [`oidc`] verifies identities
//! from OpenID Connect and OAuth2 providers, [`clock`] is the injectable "now".

pub mod accounts;
pub mod bucket;
pub mod clock;
pub mod community;
pub mod connection;
pub mod hashing;
pub mod hub;
pub mod library;
pub mod metrics;
pub mod oidc;
pub mod outlet;
pub mod peers;
#[cfg(feature = "postgres")]
pub mod pg;
pub mod sessions;
pub mod social;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use hub::Hub;

/// Everything the relay stores: chat ([`store::ChatStore`]), accounts
/// ([`accounts::AccountStore`]), reviews ([`social::SocialStore`]), watchlists
/// ([`library::LibraryStore`]) and everyone's ratings with
/// the community model ([`community::CommunityStore`]) — SQLite's
/// [`store::SqliteStore`] or PostgreSQL's `pg::PgStore`.
pub trait RelayStore:
    store::ChatStore
    + accounts::AccountStore
    + social::SocialStore
    + library::LibraryStore
    + community::CommunityStore
{
}
impl<
    T: store::ChatStore
        + accounts::AccountStore
        + social::SocialStore
        + library::LibraryStore
        + community::CommunityStore,
> RelayStore for T
{
}

/// Limits and timeouts; every one of them bounds memory or time spent on one client.
#[derive(Debug, Clone)]
pub struct Config {
    /// Connections served at once; further clients wait in the OS accept queue.
    pub max_connections: usize,
    /// Largest WebSocket message (and frame) accepted, in bytes.
    pub max_message_bytes: usize,
    /// Frames queued for one client before it counts as too slow and is disconnected.
    pub send_queue: usize,
    /// Time allowed for the WebSocket upgrade and the `hello` frame.
    pub handshake_timeout: Duration,
    /// A connection that sends nothing (not even a pong) for this long is closed.
    pub idle_timeout: Duration,
    /// A client that does not take a frame within this time is too slow and is disconnected.
    pub write_timeout: Duration,
    /// How often the relay pings each client.
    pub ping_interval: Duration,
    /// Most messages in one join, resume or history reply; a client that missed more pages on.
    pub history_page: usize,
    /// Cost of hashing passwords (argon2id).
    pub hash_cost: accounts::HashCost,
    /// Log-ins, sign-ups and password checks that may wait for a hashing core; past that they
    /// are answered `rate_limited` at once.
    pub hash_queue: usize,
    /// Frames one connection may send per second, and how many it may save up for a burst.
    pub frames_per_sec: f64,
    pub frame_burst: f64,
    /// Writes (messages, reviews, comments, likes, follows) one account may make per second
    /// across all its connections, and its burst.
    pub writes_per_sec: f64,
    pub write_burst: f64,
    /// Writes all guests from one address may make per second together, and their burst (each
    /// guest connection also has `writes_per_sec` of its own).
    pub address_writes_per_sec: f64,
    pub address_write_burst: f64,
    /// Where to serve `/healthz` and `/metrics` over HTTP; `None` serves neither.
    pub metrics_listener: Option<SocketAddr>,
    /// The counters; share this `Arc` to read them from outside (tests, an embedding app).
    pub metrics: Arc<metrics::Metrics>,
    /// Whether clients that are not logged in may post chat messages (the desktop app's own
    /// hosted relay allows it until the app signs people in).
    pub guests_may_write: bool,
    /// How long access and refresh tokens live.
    pub token_lifetimes: accounts::Lifetimes,
    /// How often what live connections hold is checked against the store (`Hub::sweep`), so a
    /// session ended, or a ban made, where this instance did not hear of it takes effect here too.
    pub session_sweep: Duration,
    /// Identity providers people may log in with (none by default).
    pub providers: Vec<oidc::ProviderConfig>,
    /// "Now" for every expiry decision (tokens, ID tokens, key caches); tests move a
    /// [`clock::ManualClock`] instead of waiting.
    pub clock: Arc<dyn clock::Clock>,
    /// When the community model is rebuilt, and how it is served.
    pub model: community::serve::ModelConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_connections: 20_000,
            max_message_bytes: 64 * 1024,
            send_queue: 256,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(90),
            ping_interval: Duration::from_secs(30),
            write_timeout: Duration::from_secs(10),
            history_page: 200,
            hash_cost: accounts::HashCost::default(),
            hash_queue: 64,
            frames_per_sec: 50.0,
            frame_burst: 200.0,
            writes_per_sec: 5.0,
            write_burst: 30.0,
            address_writes_per_sec: 20.0,
            address_write_burst: 100.0,
            guests_may_write: true,
            token_lifetimes: accounts::Lifetimes::default(),
            session_sweep: Duration::from_secs(30),
            providers: Vec::new(),
            clock: Arc::new(clock::SystemClock),
            model: community::serve::ModelConfig::default(),
            metrics_listener: None,
            metrics: Arc::default(),
        }
    }
}

/// Serves `listener` until `shutdown` resolves, then closes every connection and returns once
/// all of them have finished.
pub async fn run(
    listener: TcpListener,
    config: Config,
    store: Arc<dyn RelayStore>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let providers = providers(&config)?;
    let http = bind_metrics(&config).await?;
    serve(listener, http, providers, config, store, shutdown).await
}

/// The configured identity providers; a bad configuration is refused before serving anything.
fn providers(config: &Config) -> std::io::Result<Arc<oidc::Providers>> {
    oidc::Providers::new(config.providers.clone(), config.clock.clone())
        .map(Arc::new)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
}

async fn bind_metrics(config: &Config) -> std::io::Result<Option<TcpListener>> {
    match &config.metrics_listener {
        Some(addr) => {
            let listener = TcpListener::bind(addr).await?;
            tracing::info!(addr = %listener.local_addr()?, "metrics and health on http");
            Ok(Some(listener))
        }
        None => Ok(None),
    }
}

async fn serve(
    listener: TcpListener,
    http: Option<TcpListener>,
    providers: Arc<oidc::Providers>,
    config: Config,
    store: Arc<dyn RelayStore>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let config = Arc::new(config);
    let metrics = config.metrics.clone();
    let hub = Arc::new(Hub::new(store.clone(), metrics.clone()).map_err(std::io::Error::other)?);
    let _metrics_server = http.map(|l| {
        AbortOnDrop(tokio::spawn(metrics::serve(
            l,
            metrics.clone(),
            hub.clone(),
        )))
    });
    let accounts: Arc<dyn accounts::AccountStore> = store.clone();
    let _sweep = hub.sweep(accounts, config.clock.clone(), config.session_sweep)?;
    let model = Arc::new(community::serve::ModelServer::new(config.model));
    let _model_builder = AbortOnDrop(community::serve::spawn_builder(
        model.clone(),
        store.clone(),
        config.clock.clone(),
    ));
    let limit = Arc::new(Semaphore::new(config.max_connections));
    let hashing = Arc::new(hashing::Hashing::new(config.hash_queue));
    // Each connection waits on a child of this token: its own lock and waiter list, so the
    // connections' event loops do not contend for one shared lock the way a broadcast
    // channel's receivers did (measured: 1.4% of the relay's CPU at 100,000 deliveries/s).
    let notify_shutdown = CancellationToken::new();
    // Every connection task holds a clone; when all are dropped, every connection has ended.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);

    let accept_loop = async {
        loop {
            let permit = limit
                .clone()
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let (socket, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = socket.set_nodelay(true);
            metrics
                .connections_total
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let handler = connection::Handler {
                hub: hub.clone(),
                chat: store.clone(),
                accounts: store.clone(),
                social: store.clone(),
                library: store.clone(),
                model: model.clone(),
                providers: providers.clone(),
                hashing: hashing.clone(),
                config: config.clone(),
                peer,
                shutdown: notify_shutdown.child_token(),
                _done: done_tx.clone(),
            };
            tokio::spawn(async move {
                handler.serve(socket).await;
                drop(permit);
            });
        }
    };

    tokio::select! {
        () = accept_loop => {}
        () = shutdown => tracing::info!("relay shutting down"),
    }
    notify_shutdown.cancel();
    drop(done_tx);
    let _ = done_rx.recv().await;
    Ok(())
}

/// Aborts a background task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A relay running in the background of this process.
#[derive(Debug)]
pub struct RunningRelay {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

/// Binds `addr` (port 0 picks a free one) and serves it in a background task, keeping messages
/// in `store`.
pub async fn start(
    addr: SocketAddr,
    config: Config,
    store: Arc<dyn RelayStore>,
) -> std::io::Result<RunningRelay> {
    let providers = providers(&config)?;
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let http = bind_metrics(&config).await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(
        listener,
        http,
        providers,
        config,
        store,
        async move {
            let _ = stopped.await;
        },
    ));
    tracing::info!(%addr, "relay listening");
    Ok(RunningRelay {
        addr,
        stop: Some(stop),
        task,
    })
}

impl RunningRelay {
    /// The address the relay listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The WebSocket URL clients connect to.
    pub fn url(&self) -> String {
        format!("ws://{}", self.addr)
    }

    /// Stops accepting, closes every connection and waits until they are done.
    pub async fn shutdown(mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task)
            .await
            .unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}
