//! The app's state: the local catalog, settings, secrets, and the link to the relay.
//!
//! The link is one background task ([`run_link`]): it connects (backing off 1 s, 2 s, 4 s … up
//! to 30 s while the relay is unreachable), logs in with the session token kept in the OS
//! keyring, rejoins the chat rooms the window has open from the last message it saw, and syncs
//! — right away, after every local write ([`AppState::wake`]), and every [`SYNC_EVERY`] while
//! online. Every change of state reaches the window as an event.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use movietalk_core::relay_client::{RelayClient, RelayEvent};
use movietalk_core::secrets::Secrets;
use movietalk_core::{Catalog, paths};
use movietalk_protocol::ipc::{
    Account, EVENT_CHAT_MESSAGE, EVENT_MESSAGE_DELETED, EVENT_PRESENCE, EVENT_RELAY_STATUS,
    EVENT_SYNC, EVENT_TYPING, MessageDeleted, Presence, RecommendedMovie, RelayStatus, Settings,
    SyncStatus, Typing,
};
use movietalk_relay::RunningRelay;
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::{Mutex as AsyncMutex, Notify};

/// Port the app tries first when it hosts a relay itself; when taken, any free port is used.
pub const DEFAULT_HOSTED_PORT: u16 = 7340;
/// How often an online app pulls and pushes without being asked.
pub const SYNC_EVERY: Duration = Duration::from_secs(15);
/// Longest wait between two connection attempts.
const MAX_BACKOFF_SECS: u32 = 30;
/// Where the session token is filed in the keyring.
pub const SESSION_SECRET: &str = "relay-session";
/// Cached posters, in the data folder, as `<movie key>.jpg`.
pub const POSTERS_DIR: &str = "posters";
/// Where the refresh token is filed in the keyring.
pub const REFRESH_SECRET: &str = "relay-refresh";
/// Where the TMDB API key is filed in the keyring.
pub const TMDB_SECRET: &str = "tmdb-api-key";

/// The open connection and who it is logged in as.
#[derive(Debug, Clone)]
pub struct Connection {
    pub client: RelayClient,
    pub account: Option<Account>,
}

/// Everything the commands need, managed by Tauri.
/// The avatar cache, inside the data folder.
pub const AVATARS_DIR: &str = "avatars";

pub struct AppState {
    pub catalog: Arc<Mutex<Catalog>>,
    pub data_dir: PathBuf,
    /// Other people's avatars, fetched once and kept in the data folder.
    pub avatars: Arc<movietalk_core::avatars::AvatarCache>,
    pub secrets: Secrets,
    pub settings: Mutex<Settings>,
    /// `MOVIETALK_RELAY_URL`, which overrides the settings (tests, scripted setups).
    env_relay: Option<String>,
    /// The relay this app hosts on loopback, when it hosts one.
    pub hosted_relay: AsyncMutex<Option<RunningRelay>>,
    /// Name shown next to this user's chat messages while not logged in.
    pub user_name: String,
    pub connection: AsyncMutex<Option<Connection>>,
    /// The account this app was last logged in as, shown while offline too.
    pub known_account: Mutex<Option<Account>>,
    pub status: Mutex<SyncStatus>,
    /// Rooms the window has joined, with the last sequence number seen in each (to resume).
    pub rooms: Mutex<HashMap<String, u64>>,
    /// Wakes the link: sync now, or reconnect now.
    pub wake: Notify,
    /// A provider log-in in progress: cancel it with this.
    pub provider_cancel: Mutex<Option<movietalk_core::oauth::CancellationToken>>,
    /// A provider identity waiting for the person to pick a handle (memory only, never stored).
    pub pending_identity: Mutex<Option<movietalk_core::oauth::ProviderTokens>>,
    /// The recommender, rebuilt when the catalog's generation changes and let go when unused
    /// for [`RELEASE_RECOMMENDER_AFTER`].
    pub recommender: Mutex<Option<LoadedRecommender>>,
}

/// Home's last personal picks, beside the catalog.
const PICKS_FILE: &str = "home-picks.json";

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredPicks {
    key: String,
    picks: Vec<RecommendedMovie>,
}

/// What home's picks depend on: this app's version and the recommender's scoring revision, the
/// catalog's generation (imports) and this user's ratings. (Community ratings imported with the CLI do not move it: the picks catch up
/// with the next rating.)
pub fn picks_key(generation: i64, ratings: &[movietalk_core::recommend::Rating]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (id, stars) in ratings {
        (id, stars.to_bits()).hash(&mut h);
    }
    format!(
        "{}:{}:{generation}:{}:{:016x}",
        env!("CARGO_PKG_VERSION"),
        movietalk_core::recommend::SCORING_REVISION,
        ratings.len(),
        h.finish()
    )
}

/// How long the recommender stays in memory unused. Reloading it takes about 30 ms at 36,000
/// films; holding it costs about 20 MiB (docs/benchmarks.md), which an app sitting idle in the
/// background gives back.
pub const RELEASE_RECOMMENDER_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// The recommender in memory: for which catalog generation, and when it was last asked for.
pub struct LoadedRecommender {
    generation: i64,
    recommender: Arc<movietalk_core::recommend::Recommender>,
    last_used: std::time::Instant,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

fn settings_path(data_dir: &std::path::Path) -> PathBuf {
    data_dir.join("settings.json")
}

impl AppState {
    /// Opens (and on first run seeds) the catalog and reads the settings.
    pub fn open() -> Result<Self, Box<dyn std::error::Error>> {
        let data_dir = paths::data_dir()?;
        let db = paths::ensure_db_path(&data_dir)?;
        let mut catalog = Catalog::open(&db)?;
        let seeded = catalog.seed_if_empty()?;
        tracing::info!(db = %db.display(), seeded, "catalog open");
        let settings = match std::fs::read(settings_path(&data_dir)) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "settings.json is unreadable; using the defaults");
                Settings::default()
            }),
            Err(_) => Settings::default(),
        };
        let user_name = std::env::var("MOVIETALK_USER_NAME")
            .or_else(|_| std::env::var("USER"))
            .or_else(|_| std::env::var("USERNAME"))
            .ok()
            .filter(|n| movietalk_protocol::relay::validate_name(n).is_ok())
            .unwrap_or_else(|| "guest".to_owned());
        let avatars = Arc::new(movietalk_core::avatars::AvatarCache::new(
            &data_dir.join(AVATARS_DIR),
            // Avatars on this machine or the local network: tests, a relay at home.
            std::env::var_os("MOVIETALK_PRIVATE_AVATARS").is_some(),
        ));
        Ok(AppState {
            catalog: Arc::new(Mutex::new(catalog)),
            secrets: Secrets::open(&data_dir),
            data_dir,
            settings: Mutex::new(settings),
            env_relay: std::env::var("MOVIETALK_RELAY_URL")
                .ok()
                .filter(|u| !u.is_empty()),
            hosted_relay: AsyncMutex::new(None),
            user_name,
            connection: AsyncMutex::new(None),
            known_account: Mutex::new(None),
            status: Mutex::new(SyncStatus {
                relay: RelayStatus::Connecting,
                pending: 0,
                last_sync_ms: None,
                changes: 0,
                error: None,
            }),
            rooms: Mutex::default(),
            wake: Notify::new(),
            provider_cancel: Mutex::new(None),
            pending_identity: Mutex::new(None),
            recommender: Mutex::new(None),
            avatars,
        })
    }

    pub fn catalog(&self) -> std::sync::MutexGuard<'_, Catalog> {
        self.catalog.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn save_settings(&self, settings: Settings) -> std::io::Result<()> {
        let json = serde_json::to_vec_pretty(&settings).expect("settings serialise");
        // Write then rename: a crash never leaves half a file.
        let tmp = self.data_dir.join("settings.json.tmp");
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, settings_path(&self.data_dir))?;
        *self.settings.lock().unwrap_or_else(|p| p.into_inner()) = settings;
        Ok(())
    }

    /// The relay to talk to: the environment's, the settings', or one hosted here (started on
    /// first need).
    pub async fn relay_url(&self) -> Result<String, String> {
        if let Some(url) = &self.env_relay {
            return Ok(url.clone());
        }
        let configured = self
            .settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .relay_url
            .clone();
        if let Some(url) = configured {
            return Ok(url);
        }
        let mut hosted = self.hosted_relay.lock().await;
        if let Some(relay) = hosted.as_ref() {
            return Ok(relay.url());
        }
        let relay = host_relay(&self.data_dir)
            .await
            .map_err(|e| e.to_string())?;
        let url = relay.url();
        *hosted = Some(relay);
        Ok(url)
    }

    /// True when this app hosts the relay it uses.
    pub fn hosts_relay(&self) -> bool {
        self.env_relay.is_none()
            && self
                .settings
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .relay_url
                .is_none()
    }

    /// The open connection, or a "relay unavailable" error.
    pub async fn connected(&self) -> Option<Connection> {
        self.connection.lock().await.clone()
    }

    /// Keeps a new session's tokens in the keyring (in memory where there is none).
    pub fn store_session(&self, logged: &movietalk_core::relay_client::LoggedIn) {
        for (name, value) in [
            (SESSION_SECRET, &logged.token),
            (REFRESH_SECRET, &logged.refresh_token),
        ] {
            if let Some(v) = value
                && let Err(e) = self.secrets.set(name, v)
            {
                tracing::warn!(error = %e, "the session is kept for this run only");
            }
        }
        self.set_known_account(Some(logged.account.clone()));
    }

    /// Forgets the session: its tokens and who it was.
    pub fn forget_session(&self) {
        let _ = self.secrets.delete(SESSION_SECRET);
        let _ = self.secrets.delete(REFRESH_SECRET);
        self.set_known_account(None);
    }

    /// Remembers who is logged in (or, with `None`, that nobody is).
    pub fn set_known_account(&self, account: Option<Account>) {
        *self.known_account.lock().unwrap_or_else(|p| p.into_inner()) = account;
    }

    pub fn status(&self) -> SyncStatus {
        self.status
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Updates the status and tells the window.
    pub fn set_status(&self, app: &AppHandle, change: impl FnOnce(&mut SyncStatus)) {
        let status = {
            let mut s = self.status.lock().unwrap_or_else(|p| p.into_inner());
            change(&mut s);
            s.pending = self.catalog().pending_writes().unwrap_or(s.pending);
            s.clone()
        };
        let _ = app.emit(EVENT_RELAY_STATUS, status.relay.clone());
        let _ = app.emit(EVENT_SYNC, status);
    }

    /// The recommender for the catalog as it is now.
    pub fn recommender(
        &self,
    ) -> movietalk_core::error::Result<Arc<movietalk_core::recommend::Recommender>> {
        let mut catalog = self.catalog();
        let generation = catalog.generation()?;
        let mut cached = self.recommender.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(loaded) = cached.as_mut()
            && loaded.generation == generation
        {
            loaded.last_used = std::time::Instant::now();
            return Ok(loaded.recommender.clone());
        }
        let recommender = Arc::new(catalog.recommender()?);
        *cached = Some(LoadedRecommender {
            generation,
            recommender: recommender.clone(),
            last_used: std::time::Instant::now(),
        });
        Ok(recommender)
    }

    /// Home's last personal picks, if they were made for `key` (see [`picks_key`]).
    pub fn cached_picks(&self, key: &str) -> Option<Vec<RecommendedMovie>> {
        let bytes = std::fs::read(self.data_dir.join(PICKS_FILE)).ok()?;
        let stored: StoredPicks = serde_json::from_slice(&bytes).ok()?;
        (stored.key == key).then_some(stored.picks)
    }

    /// Keeps home's picks for the next start (a failure only costs a recomputation).
    pub fn remember_picks(&self, key: &str, picks: &[RecommendedMovie]) {
        let stored = StoredPicks {
            key: key.to_owned(),
            picks: picks.to_vec(),
        };
        let path = self.data_dir.join(PICKS_FILE);
        let tmp = path.with_extension("json.part");
        let written = serde_json::to_vec(&stored)
            .map_err(std::io::Error::other)
            .and_then(|json| std::fs::write(&tmp, json))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            tracing::warn!(error = %e, "home's picks not kept");
        }
    }

    /// Lets the recommender go if nobody asked for it for [`RELEASE_RECOMMENDER_AFTER`]; the
    /// next request loads it again.
    pub fn release_idle_recommender(&self) {
        let mut cached = self.recommender.lock().unwrap_or_else(|p| p.into_inner());
        if cached
            .as_ref()
            .is_some_and(|l| l.last_used.elapsed() >= RELEASE_RECOMMENDER_AFTER)
        {
            *cached = None;
            tracing::debug!("recommender released after a minute unused");
        }
    }
}

/// Starts the bundled relay on loopback with its data beside the catalog.
async fn host_relay(
    data_dir: &std::path::Path,
) -> Result<RunningRelay, Box<dyn std::error::Error + Send + Sync>> {
    let store: Arc<dyn movietalk_relay::RelayStore> = Arc::new(
        movietalk_relay::store::SqliteStore::open(&data_dir.join("relay.sqlite3"))?,
    );
    let preferred = SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_HOSTED_PORT));
    Ok(
        match movietalk_relay::start(preferred, Default::default(), store.clone()).await {
            Ok(relay) => relay,
            Err(e) => {
                tracing::info!(error = %e, "port {DEFAULT_HOSTED_PORT} is taken; hosting the relay on a free port");
                movietalk_relay::start(
                    SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
                    Default::default(),
                    store,
                )
                .await?
            }
        },
    )
}

/// The link to the relay, for the life of the app.
pub async fn run_link(app: AppHandle) {
    let state = app.state::<AppState>();
    let mut backoff = 1u32;
    loop {
        state.set_status(&app, |s| s.relay = RelayStatus::Connecting);
        let attempt = match state.relay_url().await {
            Ok(url) => RelayClient::connect(&url, &state.user_name)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match attempt {
            Ok((client, events)) => {
                backoff = 1;
                serve_connection(&app, client, events).await;
            }
            Err(reason) => {
                state.set_status(&app, |s| {
                    s.relay = RelayStatus::Reconnecting {
                        reason,
                        in_secs: backoff,
                    }
                });
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(backoff.into())) => {}
                    () = state.wake.notified() => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF_SECS);
            }
        }
    }
}

/// Logs in, resumes rooms, forwards events and syncs until the connection drops.
async fn serve_connection(
    app: &AppHandle,
    client: RelayClient,
    mut events: tokio::sync::mpsc::Receiver<RelayEvent>,
) {
    let state = app.state::<AppState>();
    let account = restore_session(&state, &client).await;
    if let Some(a) = &account {
        let _ = state.catalog().set_sync_account(&a.handle);
    }
    state.set_known_account(account.clone());
    *state.connection.lock().await = Some(Connection {
        client: client.clone(),
        account,
    });
    state.set_status(app, |s| s.relay = RelayStatus::Online);

    // Resume every open room from the last message seen: no gap, no duplicate.
    let rooms: Vec<(String, u64)> = state
        .rooms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .map(|(r, s)| (r.clone(), *s))
        .collect();
    for (room, since) in rooms {
        match client.join(&room, Some(since)).await {
            Ok(joined) => {
                for m in joined.history {
                    note_seen(&state, &m.room, m.seq);
                    let _ = app.emit(EVENT_CHAT_MESSAGE, m);
                }
                let _ = app.emit(
                    EVENT_PRESENCE,
                    Presence {
                        room: joined.room,
                        present: joined.present,
                    },
                );
            }
            Err(e) => tracing::warn!(%room, error = %e, "cannot rejoin"),
        }
    }

    // Events flow to the window on their own task, so a long sync never holds them up.
    let (ended_tx, mut ended) = tokio::sync::oneshot::channel();
    let forwarder = {
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            let _ = ended_tx.send(forward_events(&app, &mut events).await);
        })
    };
    let reason = loop {
        let me = state
            .connected()
            .await
            .and_then(|c| c.account.map(|a| a.handle));
        let outcome = movietalk_core::sync::sync(&state.catalog, &client, me.as_deref()).await;
        let (error, changed) = match &outcome {
            Ok(report) => {
                tracing::debug!(?report, "synced");
                let changed = report.pulled + report.sent + report.failed + report.superseded > 0;
                (None, changed)
            }
            // Part of it may have been done before it stopped.
            Err(e) => (Some(e.to_string()), true),
        };
        let learned = learn_authors(&state, &client).await;
        state.set_status(app, |s| {
            s.last_sync_ms = Some(movietalk_core::sync::now_ms());
            s.changes += u64::from(changed || learned);
            s.error = error;
        });
        tokio::select! {
            () = tokio::time::sleep(SYNC_EVERY) => {}
            () = state.wake.notified() => {}
            reason = &mut ended => break reason.unwrap_or_else(|_| "the connection ended".to_owned()),
        }
    };
    forwarder.abort();
    *state.connection.lock().await = None;
    state.set_status(app, |s| s.relay = RelayStatus::Offline { reason });
}

/// Asks the relay for the profiles (names and pictures) of up to 20 authors of cached reviews and
/// comments this app has not seen yet; true when it learned any.
async fn learn_authors(state: &AppState, client: &RelayClient) -> bool {
    let Ok(handles) = state.catalog().authors_without_profile(20) else {
        return false;
    };
    let mut learned = false;
    for handle in handles {
        match movietalk_core::people::fetch_profile(&state.catalog, client, &handle).await {
            Ok(found) => learned |= found.is_some(),
            Err(movietalk_core::sync::SyncError::Local(e)) => {
                tracing::warn!(error = %e, "cannot keep a profile");
            }
            Err(e) => {
                tracing::debug!(error = %e, "profiles left for the next sync");
                return learned;
            }
        }
    }
    learned
}

/// Logs a new connection in with the session kept in the keyring: the access token, or when
/// that has run out, the refresh token (whose successor is stored before it is used). A session
/// the relay has ended is forgotten; a relay that cannot answer leaves it for the next try.
async fn restore_session(state: &AppState, client: &RelayClient) -> Option<Account> {
    use movietalk_core::relay_client::ClientError;
    let read = |name| match state.secrets.get(name) {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the session from the keyring");
            None
        }
    };
    if let Some(token) = read(SESSION_SECRET) {
        match client.authenticate(&token).await {
            Ok(session) => return Some(session.account),
            Err(ClientError::Rejected { .. }) => {
                tracing::info!("the saved access token has run out; refreshing")
            }
            Err(e) => {
                tracing::info!(error = %e, "cannot log in now");
                return None;
            }
        }
    }
    let refresh = read(REFRESH_SECRET)?;
    match client.refresh(&refresh).await {
        Ok(logged) => {
            state.store_session(&logged);
            Some(logged.account)
        }
        Err(e @ ClientError::Rejected { .. }) => {
            tracing::info!(error = %e, "the saved session has ended: log in again");
            state.forget_session();
            None
        }
        Err(e) => {
            tracing::info!(error = %e, "cannot refresh the session now");
            None
        }
    }
}

/// Forwards pushed events to the window until the connection ends; returns why it ended.
async fn forward_events(
    app: &AppHandle,
    events: &mut tokio::sync::mpsc::Receiver<RelayEvent>,
) -> String {
    let state = app.state::<AppState>();
    while let Some(event) = events.recv().await {
        match event {
            RelayEvent::Message(m) => {
                note_seen(&state, &m.room, m.seq);
                let _ = app.emit(EVENT_CHAT_MESSAGE, m);
            }
            RelayEvent::Presence { room, present } => {
                let _ = app.emit(EVENT_PRESENCE, Presence { room, present });
            }
            RelayEvent::Typing { room, who } => {
                let _ = app.emit(EVENT_TYPING, Typing { room, who });
            }
            RelayEvent::MessageDeleted { room, seq } => {
                let _ = app.emit(EVENT_MESSAGE_DELETED, MessageDeleted { room, seq });
            }
            RelayEvent::Kicked { room } => {
                state
                    .rooms
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&room);
                let _ = app.emit(EVENT_PRESENCE, Presence { room, present: 0 });
            }
            RelayEvent::Disconnected { reason } => return reason,
        }
    }
    "the connection ended".to_owned()
}

/// Remembers the newest message seen in a room the window has open.
pub fn note_seen(state: &AppState, room: &str, seq: u64) {
    if let Some(last) = state
        .rooms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .get_mut(room)
    {
        *last = (*last).max(seq);
    }
}

/// Brings the recommendation index up to date (it is rebuilt after an import) on its own
/// connection and thread, so no screen waits for it.
pub fn prepare_recommendations_in_background(data_dir: &std::path::Path) {
    let Ok(db) = paths::ensure_db_path(data_dir) else {
        return;
    };
    std::thread::spawn(move || {
        let ready = Catalog::open(&db).and_then(|mut c| c.prepare_recommendations());
        if let Err(e) = ready {
            tracing::warn!(error = %e, "cannot prepare the recommendation index");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::picks_key;

    #[test]
    fn home_picks_are_made_again_when_a_rating_or_the_catalog_changes() {
        let ratings = [(1, 4.0), (2, 3.5)];
        let key = picks_key(3, &ratings);
        assert_eq!(key, picks_key(3, &[(1, 4.0), (2, 3.5)]));
        assert_ne!(key, picks_key(4, &ratings), "an import");
        assert_ne!(key, picks_key(3, &[(1, 4.0), (2, 4.0)]), "a changed rating");
        assert_ne!(key, picks_key(3, &[(1, 4.0)]), "a removed rating");
        assert_ne!(key, picks_key(3, &[(2, 3.5), (1, 4.0)]), "another order");
        let revision = format!(":{}:3:", movietalk_core::recommend::SCORING_REVISION);
        assert!(key.contains(&revision), "a new way of scoring: {key}");
    }
}
