//! The app's state: the local catalog, where the relay is, and the chat connection.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;

use movietalk_core::relay_client::{RelayClient, RelayEvent};
use movietalk_core::{Catalog, paths};
use movietalk_protocol::ipc::{
    EVENT_CHAT_MESSAGE, EVENT_PRESENCE, EVENT_RELAY_STATUS, Presence, RelayStatus,
};
use movietalk_relay::RunningRelay;
use tauri::{AppHandle, Emitter, Manager};
use tokio::sync::Mutex as AsyncMutex;

/// Port the app tries first when it hosts a relay itself; when taken, any free port is used.
pub const DEFAULT_HOSTED_PORT: u16 = 7340;

/// Everything the commands need, managed by Tauri.
pub struct AppState {
    pub catalog: std::sync::Mutex<Catalog>,
    pub data_dir: PathBuf,
    pub relay_url: String,
    /// The relay this app hosts on loopback, when no `MOVIETALK_RELAY_URL` was given. Kept
    /// here so it lives as long as the app.
    pub hosted_relay: Option<RunningRelay>,
    /// Name shown next to this user's chat messages.
    pub user_name: String,
    /// The open relay connection, made on the first join and dropped when it fails.
    pub chat: AsyncMutex<Option<RelayClient>>,
}

impl AppState {
    /// Opens (and on first run seeds) the catalog, and hosts a relay unless told where one is.
    pub async fn start() -> Result<Self, Box<dyn std::error::Error>> {
        let data_dir = paths::data_dir()?;
        let db = paths::ensure_db_path(&data_dir)?;
        let mut catalog = Catalog::open(&db)?;
        let seeded = catalog.seed_if_empty()?;
        tracing::info!(db = %db.display(), seeded, "catalog open");

        let (relay_url, hosted_relay) = match std::env::var("MOVIETALK_RELAY_URL")
            .ok()
            .filter(|u| !u.is_empty())
        {
            Some(url) => (url, None),
            None => {
                // The hosted relay keeps its chat history beside the catalog.
                let store: std::sync::Arc<dyn movietalk_relay::store::RelayStore> =
                    std::sync::Arc::new(movietalk_relay::store::SqliteStore::open(
                        &data_dir.join("relay.sqlite3"),
                    )?);
                let preferred = SocketAddr::from((Ipv4Addr::LOCALHOST, DEFAULT_HOSTED_PORT));
                let relay = match movietalk_relay::start(
                    preferred,
                    Default::default(),
                    store.clone(),
                )
                .await
                {
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
                };
                (relay.url(), Some(relay))
            }
        };
        let user_name = std::env::var("MOVIETALK_USER_NAME")
            .or_else(|_| std::env::var("USER"))
            .or_else(|_| std::env::var("USERNAME"))
            .ok()
            .filter(|n| movietalk_protocol::relay::validate_name(n).is_ok())
            .unwrap_or_else(|| "guest".to_owned());
        Ok(AppState {
            catalog: std::sync::Mutex::new(catalog),
            data_dir,
            relay_url,
            hosted_relay,
            user_name,
            chat: AsyncMutex::new(None),
        })
    }

    /// The open relay connection, connecting first when there is none. Events from the relay
    /// are forwarded to the webview as they arrive.
    pub async fn chat(
        &self,
        app: &AppHandle,
    ) -> Result<RelayClient, movietalk_core::relay_client::ClientError> {
        let mut chat = self.chat.lock().await;
        if let Some(client) = chat.as_ref() {
            return Ok(client.clone());
        }
        let _ = app.emit(EVENT_RELAY_STATUS, RelayStatus::Connecting);
        let (client, mut events) =
            match RelayClient::connect(&self.relay_url, &self.user_name).await {
                Ok(connected) => connected,
                Err(e) => {
                    let _ = app.emit(
                        EVENT_RELAY_STATUS,
                        RelayStatus::Offline {
                            reason: e.to_string(),
                        },
                    );
                    return Err(e);
                }
            };
        let _ = app.emit(EVENT_RELAY_STATUS, RelayStatus::Online);
        *chat = Some(client.clone());
        let app = app.clone();
        tauri::async_runtime::spawn(async move {
            while let Some(event) = events.recv().await {
                match event {
                    RelayEvent::Message(m) => {
                        let _ = app.emit(EVENT_CHAT_MESSAGE, m);
                    }
                    RelayEvent::Presence { room, present } => {
                        let _ = app.emit(EVENT_PRESENCE, Presence { room, present });
                    }
                    // Not shown by the window yet (the chat screen of the desktop-app issue).
                    RelayEvent::MessageDeleted { .. }
                    | RelayEvent::Typing { .. }
                    | RelayEvent::Kicked { .. } => {}
                    RelayEvent::Disconnected { reason } => {
                        // Forget the dead connection so the next join reconnects.
                        *app.state::<AppState>().chat.lock().await = None;
                        let _ = app.emit(EVENT_RELAY_STATUS, RelayStatus::Offline { reason });
                    }
                }
            }
        });
        Ok(client)
    }
}
