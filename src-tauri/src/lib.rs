//! The Tauri shell: builds the app state at start-up and registers the commands.
//! Commands live in [`commands`], one thin adapter each over movietalk-core.

mod commands;
mod state;

use tauri::Manager;

/// Starts the desktop app; returns when the last window closes.
pub fn run() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,tao=warn,wry=warn".into()),
        )
        .init();
    tauri::Builder::default()
        .setup(|app| {
            let state = tauri::async_runtime::block_on(state::AppState::start())?;
            app.manage(state);
            Ok(())
        })
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::search_movies,
            commands::join_room,
            commands::leave_room,
            commands::send_chat,
        ])
        .run(tauri::generate_context!())
        .expect("the MovieTalk window failed to start");
}
