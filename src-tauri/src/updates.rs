//! Updates: at start, unless the settings turn it off, the app asks the release's `latest.json`
//! (the endpoint in `tauri.conf.json`, `plugins.updater`) whether a newer version is out, and
//! tells the window ([`EVENT_UPDATE_AVAILABLE`]). Installing it is the window's choice. The
//! package must carry the signature of the key whose public half is in the config.
//! `MOVIETALK_UPDATE_URL` points the check elsewhere (tests, a staging release).

use std::sync::Mutex;

use movietalk_core::app::Reply;
use movietalk_protocol::ipc::{EVENT_UPDATE_AVAILABLE, IpcError, IpcErrorCode, UpdateAvailable};
use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_updater::{Update, UpdaterExt};

/// The update the check found, waiting for the window's go-ahead.
#[derive(Default)]
pub struct PendingUpdate(Mutex<Option<Update>>);

impl PendingUpdate {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Update>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// What the window shows of an update.
fn news(update: &Update) -> UpdateAvailable {
    UpdateAvailable {
        version: update.version.clone(),
        notes: update.body.clone(),
    }
}

/// What the window shows of the pending update, if there is one.
pub fn pending(app: &AppHandle) -> Option<UpdateAvailable> {
    app.state::<PendingUpdate>().lock().as_ref().map(news)
}

/// Looks for a newer version; tells the window when there is one. A failure (offline, no
/// release yet) is only logged: the app works the same without it.
pub async fn check(app: AppHandle) {
    let updater = match std::env::var("MOVIETALK_UPDATE_URL") {
        Ok(url) => url
            .parse()
            .map_err(|e| format!("MOVIETALK_UPDATE_URL: {e}"))
            .and_then(|url| {
                app.updater_builder()
                    .endpoints(vec![url])
                    .and_then(|b| b.build())
                    .map_err(|e| e.to_string())
            }),
        Err(_) => app.updater().map_err(|e| e.to_string()),
    };
    let found = match updater {
        Ok(updater) => updater.check().await.map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    match found {
        Ok(Some(update)) => {
            tracing::info!(version = %update.version, "an update is available");
            let shown = news(&update);
            *app.state::<PendingUpdate>().lock() = Some(update);
            let _ = app.emit(EVENT_UPDATE_AVAILABLE, shown);
        }
        Ok(None) => tracing::debug!("this is the newest version"),
        Err(e) => tracing::info!(error = %e, "cannot check for updates now"),
    }
}

/// Downloads and installs the pending update (its signature checked), then restarts.
pub async fn install(app: &AppHandle) -> Reply<()> {
    let update = app
        .state::<PendingUpdate>()
        .lock()
        .take()
        .ok_or_else(|| IpcError::new(IpcErrorCode::NotFound, "no update is waiting"))?;
    update
        .download_and_install(|_, _| {}, || {})
        .await
        .map_err(|e| IpcError::new(IpcErrorCode::Internal, format!("the update failed: {e}")))?;
    app.restart()
}
