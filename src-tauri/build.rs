//! Tauri's build step: reads tauri.conf.json, the capabilities and the icons, and declares the
//! app's commands so that a capability must grant each one (`allow-<command>`) before the
//! webview may call it.

/// Every command the shell registers; `capabilities/default.json` grants them to the window.
const COMMANDS: &[&str] = &[
    "app_info",
    "search_movies",
    "genres",
    "movie_detail",
    "save_review",
    "delete_review",
    "review_page",
    "post_comment",
    "edit_comment",
    "delete_comment",
    "cancel_comment",
    "like",
    "home",
    "session",
    "sign_up",
    "log_in",
    "log_out",
    "update_profile",
    "delete_account",
    "profile",
    "sync_status",
    "sync_now",
    "get_settings",
    "set_settings",
    "set_tmdb_key",
    "has_tmdb_key",
    "import_wikipedia",
    "import_tmdb",
    "export_data",
    "join_room",
    "leave_room",
    "chat_history",
    "send_chat",
    "typing",
    "list_rooms",
    "create_room",
    "unread_counts",
    "mark_read",
    "delete_message",
    "provider_log_in",
    "provider_choose_handle",
    "cancel_provider_log_in",
    "login_methods",
    "link_provider",
    "unlink_provider",
    "list_sessions",
    "revoke_session",
    "follows",
    "follow",
    "feed",
    "authors",
];

/// Where `cargo xtask ui` lays out the built UI (`build.frontendDist` in tauri.conf.json).
const UI_DIST: &str = "../ui/dist";

fn main() {
    // Tauri embeds the UI at compile time and refuses a folder that is not there. So that a
    // plain `cargo build` / `cargo check` works on a fresh clone, a missing UI becomes a page
    // saying how to build it; `cargo xtask ui` (run by `cargo xtask run|test`) replaces it.
    let dist = std::path::Path::new(UI_DIST);
    if !dist.join("index.html").exists() {
        std::fs::create_dir_all(dist).expect("creating ui/dist");
        std::fs::write(
            dist.join("index.html"),
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>MovieTalk</title></head>\
             <body><h1>MovieTalk</h1><p>The window's UI was not built. Run <code>cargo xtask run</code>.</p>\
             <p>화면(UI)이 빌드되지 않았습니다. <code>cargo xtask run</code>을 실행하세요.</p></body></html>\n",
        )
        .expect("writing a placeholder ui/dist/index.html");
    }
    tauri_build::try_build(
        tauri_build::Attributes::new()
            .app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("the Tauri build step failed");
}
