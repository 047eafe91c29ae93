//! The window's commands: each is one call into [`movietalk_core::App`], which holds every rule.
//! The names and arguments are the window's (`ui/src/ipc.rs`).

use std::collections::HashMap;

use movietalk_core::Sort;
use movietalk_core::app::{App, MovieSearch, Reply};
use movietalk_protocol::ipc::{
    Account, AppInfo, Author, ChatMessage, FeedCursor, FeedPage, FollowsView, Home, ImportReport,
    JoinedRoom, LoginMethodsView, MovieDetail, MoviePage, MyReview, Profile, ProviderOutcome,
    RelaySession, ReviewPage, RoomSummary, SessionInfo, Settings, SyncStatus,
};
use movietalk_protocol::relay::LikeTarget;
use tauri::State;

type AppState<'a> = State<'a, std::sync::Arc<App>>;

/// Facts about this app: version, data folder, relay, catalog size.
#[tauri::command(rename_all = "snake_case")]
pub async fn app_info(app: AppState<'_>) -> Reply<AppInfo> {
    app.app_info().await
}

/// One page of the films matching `query` (all films when blank), filtered and sorted.
#[tauri::command(rename_all = "snake_case")]
#[allow(clippy::too_many_arguments)] // one per search option the window offers
pub fn search_movies(
    app: AppState<'_>,
    query: String,
    limit: u32,
    offset: u32,
    genre: Option<String>,
    year_from: Option<i32>,
    year_to: Option<i32>,
    sort: Option<Sort>,
) -> Reply<MoviePage> {
    app.search_movies(MovieSearch {
        query,
        genre,
        year_from,
        year_to,
        sort,
        limit,
        offset,
    })
}

/// The catalog's genres with how many films each has.
#[tauri::command(rename_all = "snake_case")]
pub fn genres(app: AppState<'_>) -> Reply<Vec<(String, u64)>> {
    app.genres()
}

/// Everything a film's page shows (async: loading the recommender may take seconds after an import, and the window must not freeze).
#[tauri::command(rename_all = "snake_case")]
pub async fn movie_detail(app: AppState<'_>, key: String) -> Reply<MovieDetail> {
    app.movie_detail(&key)
}

/// Saves this user's rating and review of a film.
#[tauri::command(rename_all = "snake_case")]
pub fn save_review(
    app: AppState<'_>,
    key: String,
    rating: f32,
    body: String,
    spoiler: bool,
) -> Reply<MyReview> {
    app.save_review(&key, rating, &body, spoiler)
}

/// Deletes this user's review and rating of a film.
#[tauri::command(rename_all = "snake_case")]
pub fn delete_review(app: AppState<'_>, key: String) -> Reply<bool> {
    app.delete_review(&key)
}

/// A review with its comments.
#[tauri::command(rename_all = "snake_case")]
pub fn review_page(app: AppState<'_>, review_id: u64) -> Reply<ReviewPage> {
    app.review_page(review_id)
}

/// Comments on a review; answers the comment's client id.
#[tauri::command(rename_all = "snake_case")]
pub fn post_comment(app: AppState<'_>, review_id: u64, body: String) -> Reply<String> {
    app.post_comment(review_id, &body)
}

#[tauri::command(rename_all = "snake_case")]
pub fn edit_comment(app: AppState<'_>, comment_id: u64, body: String) -> Reply<()> {
    app.edit_comment(comment_id, &body)
}

#[tauri::command(rename_all = "snake_case")]
pub fn delete_comment(app: AppState<'_>, comment_id: u64) -> Reply<()> {
    app.delete_comment(comment_id)
}

/// Takes back a comment not delivered yet.
#[tauri::command(rename_all = "snake_case")]
pub fn cancel_comment(app: AppState<'_>, client_id: String) -> Reply<bool> {
    app.cancel_comment(&client_id)
}

#[tauri::command(rename_all = "snake_case")]
pub fn like(app: AppState<'_>, target: LikeTarget, on: bool) -> Reply<()> {
    app.like(target, on)
}

/// Home: picks with reasons and recent rooms (async, like `movie_detail`).
#[tauri::command(rename_all = "snake_case")]
pub async fn home(app: AppState<'_>) -> Reply<Home> {
    app.home()
}

/// Who is logged in, and whether the keyring keeps the session.
#[tauri::command(rename_all = "snake_case")]
pub async fn session(app: AppState<'_>) -> Reply<SessionInfo> {
    Ok(app.session().await)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn sign_up(
    app: AppState<'_>,
    handle: String,
    password: String,
    display_name: Option<String>,
) -> Reply<SessionInfo> {
    app.sign_up(&handle, &password, display_name.as_deref())
        .await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn log_in(app: AppState<'_>, handle: String, password: String) -> Reply<SessionInfo> {
    app.log_in(&handle, &password).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn log_out(app: AppState<'_>) -> Reply<()> {
    app.log_out().await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn update_profile(
    app: AppState<'_>,
    display_name: String,
    bio: String,
    avatar_url: String,
) -> Reply<Account> {
    app.update_profile(&display_name, &bio, &avatar_url).await
}

/// Deletes the account on the relay.
#[tauri::command(rename_all = "snake_case")]
pub async fn delete_account(app: AppState<'_>, password: String) -> Reply<()> {
    app.delete_account(&password).await
}

/// A profile (this user's own without a handle).
#[tauri::command(rename_all = "snake_case")]
pub async fn profile(app: AppState<'_>, handle: Option<String>) -> Reply<Profile> {
    app.profile(handle.as_deref()).await
}

/// The relay connection and the outbox.
#[tauri::command(rename_all = "snake_case")]
pub fn sync_status(app: AppState<'_>) -> Reply<SyncStatus> {
    Ok(app.sync_status())
}

/// Syncs (or reconnects) now.
#[tauri::command(rename_all = "snake_case")]
pub fn sync_now(app: AppState<'_>) -> Reply<()> {
    app.sync_now();
    Ok(())
}

#[tauri::command(rename_all = "snake_case")]
pub fn get_settings(app: AppState<'_>) -> Reply<Settings> {
    Ok(app.settings())
}

/// Saves the settings; a changed relay address takes effect at once.
#[tauri::command(rename_all = "snake_case")]
pub async fn set_settings(app: AppState<'_>, settings: Settings) -> Reply<Settings> {
    app.set_settings(settings).await
}

/// Keeps the TMDB API key in the OS keyring (empty: forget it).
#[tauri::command(rename_all = "snake_case")]
pub fn set_tmdb_key(app: AppState<'_>, key: String) -> Reply<bool> {
    app.set_tmdb_key(&key)
}

#[tauri::command(rename_all = "snake_case")]
pub fn has_tmdb_key(app: AppState<'_>) -> Reply<bool> {
    Ok(app.has_tmdb_key())
}

/// Imports Wikipedia-format films from a file, a folder or a URL (progress as events).
#[tauri::command(rename_all = "snake_case")]
pub async fn import_wikipedia(app: AppState<'_>, source: String) -> Reply<ImportReport> {
    app.import_wikipedia(&source).await
}

/// Imports TMDB's popular films (progress as events).
#[tauri::command(rename_all = "snake_case")]
pub async fn import_tmdb(
    app: AppState<'_>,
    pages: u32,
    genre: Option<String>,
) -> Reply<ImportReport> {
    app.import_tmdb(pages, genre).await
}

/// Writes this user's ratings and reviews to a JSON file; answers its path.
#[tauri::command(rename_all = "snake_case")]
pub fn export_data(app: AppState<'_>) -> Reply<String> {
    app.export_data()
}

/// Joins a chat room; answers its recent history.
#[tauri::command(rename_all = "snake_case")]
pub async fn join_room(app: AppState<'_>, room: String) -> Reply<JoinedRoom> {
    app.join_room(&room, None).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn leave_room(app: AppState<'_>, room: String) -> Reply<()> {
    app.leave_room(&room).await
}

/// Older messages of a joined room.
#[tauri::command(rename_all = "snake_case")]
pub async fn chat_history(app: AppState<'_>, room: String, before: u64) -> Reply<Vec<ChatMessage>> {
    app.chat_history(&room, before).await
}

/// Posts a chat message; answers its sequence number.
#[tauri::command(rename_all = "snake_case")]
pub async fn send_chat(app: AppState<'_>, room: String, text: String) -> Reply<u64> {
    app.send_chat(&room, &text).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn typing(app: AppState<'_>, room: String) -> Reply<()> {
    app.typing(&room).await
}

/// Rooms with live presence.
#[tauri::command(rename_all = "snake_case")]
pub async fn list_rooms(app: AppState<'_>) -> Reply<Vec<RoomSummary>> {
    app.list_rooms().await
}

/// Creates a room; its creator moderates it.
#[tauri::command(rename_all = "snake_case")]
pub async fn create_room(app: AppState<'_>, room: String, topic: String) -> Reply<RoomSummary> {
    app.create_room(&room, &topic).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn unread_counts(app: AppState<'_>) -> Reply<Vec<(String, u64)>> {
    app.unread_counts().await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn mark_read(app: AppState<'_>, room: String, seq: u64) -> Reply<()> {
    app.mark_read(&room, seq).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn delete_message(app: AppState<'_>, room: String, seq: u64) -> Reply<()> {
    app.delete_message(&room, seq).await
}

/// Logs in with a provider through the system browser.
#[tauri::command(rename_all = "snake_case")]
pub async fn provider_log_in(app: AppState<'_>, provider: String) -> Reply<ProviderOutcome> {
    app.provider_log_in(&provider).await
}

/// Creates the account for the identity waiting for a handle.
#[tauri::command(rename_all = "snake_case")]
pub async fn provider_choose_handle(app: AppState<'_>, handle: String) -> Reply<ProviderOutcome> {
    app.provider_choose_handle(&handle).await
}

/// Stops waiting for the browser.
#[tauri::command(rename_all = "snake_case")]
pub fn cancel_provider_log_in(app: AppState<'_>) -> Reply<()> {
    app.cancel_provider_log_in();
    Ok(())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn login_methods(app: AppState<'_>) -> Reply<LoginMethodsView> {
    app.login_methods().await
}

/// Links another provider (through the system browser).
#[tauri::command(rename_all = "snake_case")]
pub async fn link_provider(app: AppState<'_>, provider: String) -> Reply<LoginMethodsView> {
    app.link_provider(&provider).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn unlink_provider(app: AppState<'_>, provider: String) -> Reply<LoginMethodsView> {
    app.unlink_provider(&provider).await
}

/// The account's sessions, this one marked.
#[tauri::command(rename_all = "snake_case")]
pub async fn list_sessions(app: AppState<'_>) -> Reply<Vec<RelaySession>> {
    app.list_sessions().await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn revoke_session(app: AppState<'_>, session_id: u64) -> Reply<()> {
    app.revoke_session(session_id).await
}

/// Who follows `handle` and whom it follows.
#[tauri::command(rename_all = "snake_case")]
pub async fn follows(app: AppState<'_>, handle: String) -> Reply<FollowsView> {
    app.follows(&handle).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn follow(app: AppState<'_>, handle: String, on: bool) -> Reply<()> {
    app.follow(&handle, on).await
}

/// Reviews by the people this user follows, a page at a time.
#[tauri::command(rename_all = "snake_case")]
pub async fn feed(app: AppState<'_>, cursor: Option<FeedCursor>, limit: u32) -> Reply<FeedPage> {
    app.feed(cursor, limit).await
}

/// Names and pictures of these people.
#[tauri::command(rename_all = "snake_case")]
pub async fn authors(app: AppState<'_>, handles: Vec<String>) -> Reply<HashMap<String, Author>> {
    app.authors(handles).await
}
