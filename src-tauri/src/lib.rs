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
            app.manage(state::AppState::open()?);
            // The link to the relay runs for the life of the app (connect, log in, sync).
            tauri::async_runtime::spawn(state::run_link(app.handle().clone()));
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
        ])
        .run(tauri::generate_context!())
        .expect("the MovieTalk window failed to start");
}
