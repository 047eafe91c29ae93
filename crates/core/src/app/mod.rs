//! The application: one data folder, its catalog, settings and secrets, the link to the relay,
//! and the policies every front end shares ("the relay when reachable, else the cache", home's
//! picks, the recommender kept warm). The desktop shell and the CLI both drive an [`App`]; a
//! front end only turns its input into a call here and the answer into pixels or text.
//!
//! Every operation answers `Result<T, IpcError>`: a code a front end can translate, and an
//! English message. Things that happen without being asked (a chat message, the link going
//! offline, an import's progress) reach the front end as [`AppEvent`]s through the sink given to
//! [`App::open`].

mod account;
mod chat;
mod films;
mod library;
mod link;
mod people;
mod views;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use movietalk_protocol::ipc::{
    Account, AppInfo, ChatMessage, EVENT_CHAT_MESSAGE, EVENT_IMPORT_PROGRESS, EVENT_INDEX_PROGRESS,
    EVENT_MESSAGE_DELETED, EVENT_PRESENCE, EVENT_RELAY_STATUS, EVENT_SYNC, EVENT_TYPING,
    ImportProgress, IpcError, IpcErrorCode, MessageDeleted, Presence, RelayStatus, Settings,
    SyncStatus, Typing,
};
use movietalk_protocol::relay::ErrorCode;
use tokio::sync::{Mutex as AsyncMutex, Notify};

use crate::relay_client::{ClientError, RelayClient};
use crate::secrets::Secrets;
use crate::sync::SyncError;
use crate::{Catalog, CoreError, lock, paths};

pub use films::{RELEASE_RECOMMENDER_AFTER, picks_key};
pub use link::SYNC_EVERY;

/// What every [`App`] operation answers.
pub type Reply<T> = Result<T, IpcError>;

/// Where the session token is filed in the keyring.
const SESSION_SECRET: &str = "relay-session";
/// Where the refresh token is filed in the keyring.
const REFRESH_SECRET: &str = "relay-refresh";
/// Where the TMDB API key is filed in the keyring.
const TMDB_SECRET: &str = "tmdb-api-key";
/// Cached posters, in the data folder, as `<movie key>.jpg`.
pub const POSTERS_DIR: &str = "posters";
/// The avatar cache, inside the data folder.
pub const AVATARS_DIR: &str = "avatars";
/// The settings, inside the data folder.
const SETTINGS_FILE: &str = "settings.json";

/// Something that happened without being asked, for the front end to show.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum AppEvent {
    ChatMessage(ChatMessage),
    Presence(Presence),
    Typing(Typing),
    MessageDeleted(MessageDeleted),
    RelayStatus(RelayStatus),
    Sync(SyncStatus),
    ImportProgress(ImportProgress),
    /// The recommendation index being rebuilt.
    IndexProgress(ImportProgress),
}

impl AppEvent {
    /// The event's name on the IPC boundary (`movietalk_protocol::ipc::EVENT_*`); the payload is
    /// the event itself, serialised without a tag.
    pub fn name(&self) -> &'static str {
        match self {
            AppEvent::ChatMessage(_) => EVENT_CHAT_MESSAGE,
            AppEvent::Presence(_) => EVENT_PRESENCE,
            AppEvent::Typing(_) => EVENT_TYPING,
            AppEvent::MessageDeleted(_) => EVENT_MESSAGE_DELETED,
            AppEvent::RelayStatus(_) => EVENT_RELAY_STATUS,
            AppEvent::Sync(_) => EVENT_SYNC,
            AppEvent::ImportProgress(_) => EVENT_IMPORT_PROGRESS,
            AppEvent::IndexProgress(_) => EVENT_INDEX_PROGRESS,
        }
    }
}

/// Receives the [`AppEvent`]s.
pub type EventSink = Arc<dyn Fn(AppEvent) + Send + Sync>;

/// A future that a [`RelayHost`] returns.
pub type HostFuture<'a> =
    Pin<Box<dyn std::future::Future<Output = Result<String, String>> + Send + 'a>>;

/// Starts a relay on this machine when no relay is configured (the desktop app bundles one).
/// The implementor keeps the running relay alive; [`App`] asks at most once per run.
pub trait RelayHost: Send + Sync {
    /// Starts a relay keeping its data in `data_dir`; answers its `ws://` address.
    fn start<'a>(&'a self, data_dir: &'a Path) -> HostFuture<'a>;
}

/// How to open an [`App`].
pub struct AppOptions {
    pub data_dir: PathBuf,
    /// A relay that overrides the settings' (the environment, `--relay`).
    pub relay_url: Option<String>,
    /// The name shown beside this user's chat messages while not logged in.
    pub user_name: String,
    /// Who starts a relay here when none is configured; without one, a relay must be configured.
    pub host: Option<Arc<dyn RelayHost>>,
    /// Avatars on this machine or the local network may be fetched (tests, a relay at home).
    pub private_avatars: bool,
    pub events: EventSink,
}

impl std::fmt::Debug for AppOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppOptions")
            .field("data_dir", &self.data_dir)
            .field("relay_url", &self.relay_url)
            .field("user_name", &self.user_name)
            .field("hosts", &self.host.is_some())
            .finish_non_exhaustive()
    }
}

impl AppOptions {
    /// Options from the environment: `MOVIETALK_DATA_DIR` (else the OS data folder),
    /// `MOVIETALK_RELAY_URL`, `MOVIETALK_USER_NAME` (else the login name) and
    /// `MOVIETALK_PRIVATE_AVATARS`; no host, events dropped.
    pub fn from_env() -> Result<AppOptions, CoreError> {
        let user_name = std::env::var("MOVIETALK_USER_NAME")
            .or_else(|_| std::env::var("USER"))
            .or_else(|_| std::env::var("USERNAME"))
            .ok()
            .filter(|n| movietalk_protocol::relay::validate_name(n).is_ok())
            .unwrap_or_else(|| "guest".to_owned());
        Ok(AppOptions {
            data_dir: paths::data_dir()?,
            relay_url: std::env::var("MOVIETALK_RELAY_URL")
                .ok()
                .filter(|u| !u.is_empty()),
            user_name,
            host: None,
            private_avatars: std::env::var_os("MOVIETALK_PRIVATE_AVATARS").is_some(),
            events: Arc::new(|_| {}),
        })
    }
}

/// Rooms open in the window, with the last sequence number seen in each (to resume).
type Rooms = Arc<Mutex<HashMap<String, u64>>>;

/// The open connection and who it is logged in as.
#[derive(Debug, Clone)]
struct Connection {
    client: RelayClient,
    account: Option<Account>,
}

/// One data folder, opened: see the module documentation.
pub struct App {
    catalog: Arc<Mutex<Catalog>>,
    data_dir: PathBuf,
    avatars: Arc<crate::avatars::AvatarCache>,
    secrets: Secrets,
    settings: Mutex<Settings>,
    env_relay: Option<String>,
    host: Option<Arc<dyn RelayHost>>,
    /// The address of the relay started here, once started.
    hosted: AsyncMutex<Option<String>>,
    user_name: String,
    events: EventSink,
    connection: AsyncMutex<Option<Connection>>,
    /// The account this app was last logged in as, shown while offline too.
    known_account: Mutex<Option<Account>>,
    status: Mutex<SyncStatus>,
    /// Rooms the window has joined, with the last sequence number seen in each (to resume).
    rooms: Rooms,
    /// Wakes the link: sync now, or reconnect now.
    wake: Notify,
    /// A provider log-in in progress: cancel it with this.
    provider_cancel: Mutex<Option<crate::oauth::CancellationToken>>,
    /// A provider identity waiting for the person to pick a handle (memory only, never stored).
    pending_identity: Mutex<Option<crate::oauth::ProviderTokens>>,
    recommender: films::RecommenderCache,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("data_dir", &self.data_dir)
            .finish_non_exhaustive()
    }
}

impl App {
    /// Opens (and on first run seeds) the catalog and reads the settings.
    pub fn open(options: AppOptions) -> Result<App, CoreError> {
        let data_dir = options.data_dir;
        let db = paths::ensure_db_path(&data_dir)?;
        let mut catalog = Catalog::open(&db)?;
        let seeded = catalog.seed_if_empty()?;
        tracing::info!(db = %db.display(), seeded, "catalog open");
        let settings = match std::fs::read(data_dir.join(SETTINGS_FILE)) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "settings.json is unreadable; using the defaults");
                Settings::default()
            }),
            Err(_) => Settings::default(),
        };
        Ok(App {
            avatars: Arc::new(crate::avatars::AvatarCache::new(
                &data_dir.join(AVATARS_DIR),
                options.private_avatars,
            )),
            catalog: Arc::new(Mutex::new(catalog)),
            secrets: Secrets::open(&data_dir),
            data_dir,
            settings: Mutex::new(settings),
            env_relay: options.relay_url.filter(|u| !u.trim().is_empty()),
            host: options.host,
            hosted: AsyncMutex::new(None),
            user_name: options.user_name,
            events: options.events,
            connection: AsyncMutex::new(None),
            known_account: Mutex::new(None),
            status: Mutex::new(SyncStatus {
                relay: RelayStatus::Connecting,
                pending: 0,
                last_sync_ms: None,
                changes: 0,
                error: None,
            }),
            rooms: Rooms::default(),
            wake: Notify::new(),
            provider_cancel: Mutex::new(None),
            pending_identity: Mutex::new(None),
            recommender: films::RecommenderCache::default(),
        })
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Other people's avatars, fetched once and kept in the data folder.
    pub fn avatars(&self) -> Arc<crate::avatars::AvatarCache> {
        self.avatars.clone()
    }

    /// The local catalog (films, ratings, reviews, the sync cache).
    pub fn catalog(&self) -> std::sync::MutexGuard<'_, Catalog> {
        lock(&self.catalog)
    }

    /// The name shown beside this user's chat messages while not logged in.
    pub fn user_name(&self) -> &str {
        &self.user_name
    }

    fn emit(&self, event: AppEvent) {
        (self.events)(event);
    }

    pub fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    fn save_settings(&self, settings: Settings) -> Reply<()> {
        let json = serde_json::to_vec_pretty(&settings).expect("settings serialise");
        // Write then rename: a crash never leaves half a file.
        let tmp = self.data_dir.join("settings.json.tmp");
        std::fs::write(&tmp, json)
            .and_then(|()| std::fs::rename(&tmp, self.data_dir.join(SETTINGS_FILE)))
            .map_err(|e| IpcError::new(IpcErrorCode::Storage, e.to_string()))?;
        *lock(&self.settings) = settings;
        Ok(())
    }

    /// Saves the settings; a changed relay address takes effect at once (the link reconnects).
    /// The recent rooms are the app's to keep, not the caller's.
    pub async fn set_settings(&self, mut settings: Settings) -> Reply<Settings> {
        validate_settings(&mut settings)?;
        let previous = self.settings();
        settings.recent_rooms = previous.recent_rooms.clone();
        self.save_settings(settings.clone())?;
        if previous.relay_url != settings.relay_url
            && let Some(c) = self.connection.lock().await.take()
        {
            // Dropping the last handle closes the connection; the link reconnects to the new address.
            drop(c);
            self.wake.notify_one();
        }
        Ok(settings)
    }

    /// The relay to talk to: the override's, the settings', or one hosted here (started on
    /// first need).
    pub async fn relay_url(&self) -> Reply<String> {
        if let Some(url) = &self.env_relay {
            return Ok(url.clone());
        }
        if let Some(url) = self.settings().relay_url {
            return Ok(url);
        }
        let Some(host) = &self.host else {
            return Err(IpcError::new(
                IpcErrorCode::RelayUnavailable,
                "no relay is configured: give one (--relay ws://HOST:PORT, MOVIETALK_RELAY_URL) or set it in the app's settings",
            ));
        };
        let mut hosted = self.hosted.lock().await;
        if let Some(url) = hosted.as_ref() {
            return Ok(url.clone());
        }
        let url = host
            .start(&self.data_dir)
            .await
            .map_err(|e| IpcError::new(IpcErrorCode::RelayUnavailable, e))?;
        *hosted = Some(url.clone());
        Ok(url)
    }

    /// True when this app hosts the relay it uses.
    pub fn hosts_relay(&self) -> bool {
        self.env_relay.is_none() && self.settings().relay_url.is_none() && self.host.is_some()
    }

    /// Keeps the TMDB API key in the OS keyring (an empty key forgets it). Answers whether a key
    /// is set.
    pub fn set_tmdb_key(&self, key: &str) -> Reply<bool> {
        let key = key.trim();
        let result = if key.is_empty() {
            self.secrets.delete(TMDB_SECRET)
        } else {
            self.secrets.set(TMDB_SECRET, key)
        };
        result.map_err(|e| IpcError::new(IpcErrorCode::Storage, e.to_string()))?;
        Ok(!key.is_empty())
    }

    pub fn has_tmdb_key(&self) -> bool {
        self.secrets.get(TMDB_SECRET).ok().flatten().is_some()
    }

    /// Facts about this app: version, data folder, relay, catalog size.
    pub async fn app_info(&self) -> Reply<AppInfo> {
        let movie_count = self.catalog().count().map_err(storage)?;
        Ok(AppInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            data_dir: self.data_dir.display().to_string(),
            relay_url: self.relay_url().await.unwrap_or_default(),
            relay_hosted_here: self.hosts_relay(),
            user_name: self.user_name.clone(),
            movie_count,
            asset_urls: movietalk_protocol::ipc::AssetUrls::for_os(std::env::consts::OS),
        })
    }

    /// The handle this data folder syncs as (known offline too).
    fn me(&self) -> Option<String> {
        self.catalog().sync_account().ok().flatten()
    }
}

/// Refuses settings the app cannot use; trims the relay address.
fn validate_settings(settings: &mut Settings) -> Reply<()> {
    settings.relay_url = settings
        .relay_url
        .take()
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty());
    if let Some(url) = &settings.relay_url
        && !(url.starts_with("ws://") || url.starts_with("wss://"))
    {
        return Err(invalid(format!(
            "{url:?} is not a relay address (ws://host:port or wss://host)"
        )));
    }
    if let Some(lang) = &settings.language
        && !["en", "ko"].contains(&lang.as_str())
    {
        return Err(invalid(format!("unknown language {lang:?}")));
    }
    for p in &settings.login_providers {
        let loopback =
            |u: &str| u.starts_with("http://127.0.0.1") || u.starts_with("http://localhost");
        if p.name.trim().is_empty() || p.client_id.trim().is_empty() {
            return Err(invalid("a login provider needs a name and a client id"));
        }
        for url in [&p.issuer, &p.authorize_url, &p.token_url]
            .into_iter()
            .flatten()
        {
            if !(url.starts_with("https://") || loopback(url)) {
                return Err(invalid(format!("{url:?} must be an https address")));
            }
        }
        if p.issuer.is_none()
            && p.authorize_url.is_none()
            && !["google", "kakao", "github"].contains(&p.name.as_str())
        {
            return Err(invalid(format!(
                "the provider {:?} needs an issuer URL",
                p.name
            )));
        }
    }
    Ok(())
}

fn invalid(message: impl Into<String>) -> IpcError {
    IpcError::new(IpcErrorCode::InvalidInput, message)
}

fn not_found(message: impl Into<String>) -> IpcError {
    IpcError::new(IpcErrorCode::NotFound, message)
}

fn offline() -> IpcError {
    IpcError::new(
        IpcErrorCode::RelayUnavailable,
        "the relay is not reachable right now",
    )
}

fn storage(e: CoreError) -> IpcError {
    match e {
        CoreError::InvalidInput(m) => invalid(m),
        e => IpcError::new(IpcErrorCode::Storage, e.to_string()),
    }
}

fn relay_error(e: ClientError) -> IpcError {
    let code = match &e {
        ClientError::Rejected { code, .. } => match code {
            ErrorCode::InvalidInput => IpcErrorCode::InvalidInput,
            ErrorCode::Unauthorized => IpcErrorCode::NotLoggedIn,
            ErrorCode::InvalidCredentials => IpcErrorCode::InvalidCredentials,
            ErrorCode::Conflict => IpcErrorCode::Conflict,
            ErrorCode::NotFound => IpcErrorCode::NotFound,
            ErrorCode::Forbidden => IpcErrorCode::Forbidden,
            ErrorCode::SessionExpired | ErrorCode::TokenReused => IpcErrorCode::SessionEnded,
            ErrorCode::LastLoginMethod => IpcErrorCode::LastLoginMethod,
            ErrorCode::ProviderUnavailable => IpcErrorCode::ProviderLogin,
            _ => IpcErrorCode::RelayRejected,
        },
        _ => IpcErrorCode::RelayUnavailable,
    };
    IpcError::new(code, e.to_string())
}

fn sync_error(e: SyncError) -> IpcError {
    match e {
        SyncError::Local(e) => storage(e),
        SyncError::Relay(e) => relay_error(e),
        SyncError::NotLoggedIn => IpcError::new(IpcErrorCode::NotLoggedIn, e.to_string()),
    }
}
