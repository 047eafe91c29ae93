//! The Tauri shell: opens the [`App`] at start-up, hands its events to the window, serves
//! posters and avatars, and registers the commands ([`commands`], one call each into the core).

mod commands;
mod relay_host;
mod updates;

use std::sync::Arc;

use movietalk_core::app::{App, AppOptions, POSTERS_DIR, RELEASE_RECOMMENDER_AFTER};
use tauri::{Emitter, Manager};

/// Starts the desktop app; returns when the last window closes.
pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tao=warn,wry=warn".into()),
        )
        .init();
    tauri::Builder::default()
        // A second launch on the same data folder brings the running window forward instead of
        // opening another app on it. (On Linux the instance is named after the data folder, so
        // two data folders run side by side; on Windows and macOS the plugin names it after
        // the app alone.)
        .plugin(
            tauri_plugin_single_instance::Builder::new()
                .callback(|app, _args, _cwd| {
                    if let Some(window) = app.get_webview_window("main") {
                        let _ = window.unminimize();
                        let _ = window.show();
                        let _ = window.set_focus();
                    }
                })
                .dbus_id(instance_name())
                .build(),
        )
        .plugin(tauri_plugin_updater::Builder::new().build())
        .manage(updates::PendingUpdate::default())
        // Cached posters, served to the webview from the data folder (`poster://localhost/<key>`,
        // `http://poster.localhost/<key>` on Windows: `AssetUrls`).
        .register_uri_scheme_protocol("poster", |ctx, request| {
            let app = ctx.app_handle().state::<Arc<App>>();
            poster_response(&app.data_dir().join(POSTERS_DIR), request.uri().path())
        })
        // Other people's avatars (`avatar://localhost/<the address, URI-encoded>`): from the
        // data folder, fetched the first time; 404 when there is none, and the window draws
        // initials instead.
        .register_asynchronous_uri_scheme_protocol("avatar", |ctx, request, responder| {
            let cache = ctx.app_handle().state::<Arc<App>>().avatars();
            let path = request.uri().path().to_owned();
            tauri::async_runtime::spawn(async move {
                responder.respond(avatar_response(&cache, &path).await);
            });
        })
        .setup(|tauri_app| {
            let window = tauri_app.handle().clone();
            let options = AppOptions {
                host: Some(Arc::new(relay_host::BundledRelay::default())),
                events: Arc::new(move |event| {
                    let _ = window.emit(event.name(), &event);
                }),
                ..AppOptions::from_env()?
            };
            let app = Arc::new(App::open(options)?);
            if !app.settings().skip_update_check {
                tauri::async_runtime::spawn(updates::check(tauri_app.handle().clone()));
            }
            tauri_app.manage(app.clone());
            #[cfg(target_os = "linux")]
            software_rendering(tauri_app)?;
            // The first screen never waits for the recommendation index.
            app.prepare_recommendations_in_background();
            // The link to the relay runs for the life of the app (connect, log in, sync).
            let link = app.clone();
            tauri::async_runtime::spawn(async move { link.run_link().await });
            // An idle app gives its recommendation index back.
            tauri::async_runtime::spawn(async move {
                let mut tick = tokio::time::interval(RELEASE_RECOMMENDER_AFTER / 4);
                loop {
                    tick.tick().await;
                    app.release_idle_recommender();
                }
            });
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::search_movies,
            commands::genres,
            commands::movie_detail,
            commands::save_review,
            commands::delete_review,
            commands::review_page,
            commands::post_comment,
            commands::edit_comment,
            commands::delete_comment,
            commands::cancel_comment,
            commands::like,
            commands::home,
            commands::session,
            commands::sign_up,
            commands::log_in,
            commands::log_out,
            commands::update_profile,
            commands::delete_account,
            commands::profile,
            commands::sync_status,
            commands::sync_now,
            commands::get_settings,
            commands::set_settings,
            commands::set_tmdb_key,
            commands::has_tmdb_key,
            commands::import_wikipedia,
            commands::import_tmdb,
            commands::export_data,
            commands::join_room,
            commands::leave_room,
            commands::chat_history,
            commands::send_chat,
            commands::typing,
            commands::list_rooms,
            commands::create_room,
            commands::unread_counts,
            commands::mark_read,
            commands::delete_message,
            commands::provider_log_in,
            commands::provider_choose_handle,
            commands::cancel_provider_log_in,
            commands::login_methods,
            commands::link_provider,
            commands::unlink_provider,
            commands::list_sessions,
            commands::revoke_session,
            commands::follows,
            commands::follow,
            commands::watchlist,
            commands::watchlist_of,
            commands::set_watchlist,
            commands::set_watchlist_public,
            commands::pick_for_tonight,
            commands::year_in_film,
            commands::diary,
            commands::log_watch,
            commands::delete_watch,
            commands::import_letterboxd,
            commands::feed,
            commands::authors,
            commands::pending_update,
            commands::install_update,
        ])
        .run(tauri::generate_context!())
        .expect("the MovieTalk window failed to start");
}

/// The D-Bus name of the app on this data folder: the identifier and a hash of the folder.
fn instance_name() -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    movietalk_core::paths::data_dir()
        .unwrap_or_default()
        .hash(&mut h);
    format!("org.movietalk.desktop.d{:016x}", h.finish())
}

/// The cached poster of the film whose key is the request path, or 404.
fn poster_response(dir: &std::path::Path, path: &str) -> tauri::http::Response<Vec<u8>> {
    // The window encodes the key as a URI component (`convertFileSrc`): `기생충-2019` arrives
    // as `%EA%B8%B0…`.
    let key = percent_encoding::percent_decode_str(path.trim_start_matches('/')).decode_utf8();
    let file = key
        .ok()
        .and_then(|key| movietalk_core::import::tmdb::poster_file(dir, &key));
    match file.and_then(|f| std::fs::read(f).ok()) {
        Some(bytes) => tauri::http::Response::builder()
            .header("Content-Type", "image/jpeg")
            .header("Cache-Control", "max-age=3600")
            .body(bytes)
            .expect("a valid response"),
        None => tauri::http::Response::builder()
            .status(404)
            .body(Vec::new())
            .expect("a valid response"),
    }
}

async fn avatar_response(
    cache: &movietalk_core::avatars::AvatarCache,
    path: &str,
) -> tauri::http::Response<Vec<u8>> {
    let url = percent_encoding::percent_decode_str(path.trim_start_matches('/')).decode_utf8();
    let image = match url {
        Ok(url) => cache.get(&url).await.ok(),
        Err(_) => None,
    };
    match image {
        Some(image) => tauri::http::Response::builder()
            .header("Content-Type", image.media_type)
            .header("Cache-Control", "max-age=3600")
            .body(image.bytes)
            .expect("a valid response"),
        None => tauri::http::Response::builder()
            .status(404)
            .body(Vec::new())
            .expect("a valid response"),
    }
}

/// Renders the page without accelerated compositing unless `MOVIETALK_GPU` is set. Measured on
/// software rendering (docs/benchmarks.md, "Desktop window"): it halves the web process's memory
/// (PSS 230 → 126 MiB) and scrolls a 14,000-film list at 60 frames per second instead of 40.
#[cfg(target_os = "linux")]
fn software_rendering(app: &tauri::App) -> tauri::Result<()> {
    if std::env::var_os("MOVIETALK_GPU").is_some() {
        return Ok(());
    }
    let Some(window) = app.get_webview_window("main") else {
        return Ok(());
    };
    window.with_webview(|webview| {
        use webkit2gtk::{HardwareAccelerationPolicy, SettingsExt, WebViewExt};
        if let Some(settings) = WebViewExt::settings(&webview.inner()) {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
    })
}
