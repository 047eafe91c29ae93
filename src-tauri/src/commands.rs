//! The window's commands: one function per command of `movietalk_protocol::command`, each one
//! call into [`movietalk_core::App`], which holds every rule.

use movietalk_core::app::{App, Reply};
use movietalk_protocol::command::{Response, cmd};
use tauri::State;

type AppState<'a> = State<'a, std::sync::Arc<App>>;

#[tauri::command(rename_all = "snake_case")]
pub async fn app_info(app: AppState<'_>) -> Reply<Response<cmd::AppInfo>> {
    app.app_info().await
}

#[tauri::command(rename_all = "snake_case")]
pub fn search_movies(
    app: AppState<'_>,
    request: cmd::SearchMovies,
) -> Reply<Response<cmd::SearchMovies>> {
    app.search_movies(request)
}

#[tauri::command(rename_all = "snake_case")]
pub fn genres(app: AppState<'_>) -> Reply<Response<cmd::Genres>> {
    app.genres()
}

#[tauri::command(rename_all = "snake_case")]
pub async fn movie_detail(
    app: AppState<'_>,
    request: cmd::MovieDetail,
) -> Reply<Response<cmd::MovieDetail>> {
    app.movie_detail(&request.key)
}

#[tauri::command(rename_all = "snake_case")]
pub fn save_review(
    app: AppState<'_>,
    request: cmd::SaveReview,
) -> Reply<Response<cmd::SaveReview>> {
    app.save_review(&request.key, request.rating, &request.body, request.spoiler)
}

#[tauri::command(rename_all = "snake_case")]
pub fn delete_review(
    app: AppState<'_>,
    request: cmd::DeleteReview,
) -> Reply<Response<cmd::DeleteReview>> {
    app.delete_review(&request.key)
}

#[tauri::command(rename_all = "snake_case")]
pub fn review_page(
    app: AppState<'_>,
    request: cmd::ReviewPage,
) -> Reply<Response<cmd::ReviewPage>> {
    app.review_page(request.review_id)
}

#[tauri::command(rename_all = "snake_case")]
pub fn post_comment(
    app: AppState<'_>,
    request: cmd::PostComment,
) -> Reply<Response<cmd::PostComment>> {
    app.post_comment(request.review_id, &request.body)
}

#[tauri::command(rename_all = "snake_case")]
pub fn edit_comment(
    app: AppState<'_>,
    request: cmd::EditComment,
) -> Reply<Response<cmd::EditComment>> {
    app.edit_comment(request.comment_id, &request.body)
}

#[tauri::command(rename_all = "snake_case")]
pub fn delete_comment(
    app: AppState<'_>,
    request: cmd::DeleteComment,
) -> Reply<Response<cmd::DeleteComment>> {
    app.delete_comment(request.comment_id)
}

#[tauri::command(rename_all = "snake_case")]
pub fn cancel_comment(
    app: AppState<'_>,
    request: cmd::CancelComment,
) -> Reply<Response<cmd::CancelComment>> {
    app.cancel_comment(&request.client_id)
}

#[tauri::command(rename_all = "snake_case")]
pub fn like(app: AppState<'_>, request: cmd::Like) -> Reply<Response<cmd::Like>> {
    app.like(request.target, request.on)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn home(app: AppState<'_>) -> Reply<Response<cmd::Home>> {
    app.home()
}

#[tauri::command(rename_all = "snake_case")]
pub async fn session(app: AppState<'_>) -> Reply<Response<cmd::Session>> {
    Ok(app.session().await)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn sign_up(app: AppState<'_>, request: cmd::SignUp) -> Reply<Response<cmd::SignUp>> {
    app.sign_up(
        &request.handle,
        &request.password,
        request.display_name.as_deref(),
    )
    .await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn log_in(app: AppState<'_>, request: cmd::LogIn) -> Reply<Response<cmd::LogIn>> {
    app.log_in(&request.handle, &request.password).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn log_out(app: AppState<'_>) -> Reply<Response<cmd::LogOut>> {
    app.log_out().await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn update_profile(
    app: AppState<'_>,
    request: cmd::UpdateProfile,
) -> Reply<Response<cmd::UpdateProfile>> {
    app.update_profile(&request.display_name, &request.bio, &request.avatar_url)
        .await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn delete_account(
    app: AppState<'_>,
    request: cmd::DeleteAccount,
) -> Reply<Response<cmd::DeleteAccount>> {
    app.delete_account(&request.password).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn profile(app: AppState<'_>, request: cmd::Profile) -> Reply<Response<cmd::Profile>> {
    app.profile(request.handle.as_deref()).await
}

#[tauri::command(rename_all = "snake_case")]
pub fn sync_status(app: AppState<'_>) -> Reply<Response<cmd::SyncStatus>> {
    Ok(app.sync_status())
}

#[tauri::command(rename_all = "snake_case")]
pub fn sync_now(app: AppState<'_>) -> Reply<Response<cmd::SyncNow>> {
    app.sync_now();
    Ok(())
}

#[tauri::command(rename_all = "snake_case")]
pub fn get_settings(app: AppState<'_>) -> Reply<Response<cmd::GetSettings>> {
    Ok(app.settings())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn set_settings(
    app: AppState<'_>,
    request: cmd::SetSettings,
) -> Reply<Response<cmd::SetSettings>> {
    app.set_settings(request.settings).await
}

#[tauri::command(rename_all = "snake_case")]
pub fn set_tmdb_key(
    app: AppState<'_>,
    request: cmd::SetTmdbKey,
) -> Reply<Response<cmd::SetTmdbKey>> {
    app.set_tmdb_key(&request.key)
}

#[tauri::command(rename_all = "snake_case")]
pub fn has_tmdb_key(app: AppState<'_>) -> Reply<Response<cmd::HasTmdbKey>> {
    Ok(app.has_tmdb_key())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn import_wikipedia(
    app: AppState<'_>,
    request: cmd::ImportWikipedia,
) -> Reply<Response<cmd::ImportWikipedia>> {
    app.import_wikipedia(&request.source).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn import_tmdb(
    app: AppState<'_>,
    request: cmd::ImportTmdb,
) -> Reply<Response<cmd::ImportTmdb>> {
    app.import_tmdb(request.pages, request.genre).await
}

#[tauri::command(rename_all = "snake_case")]
pub fn export_data(app: AppState<'_>) -> Reply<Response<cmd::ExportData>> {
    app.export_data()
}

#[tauri::command(rename_all = "snake_case")]
pub async fn join_room(
    app: AppState<'_>,
    request: cmd::JoinRoom,
) -> Reply<Response<cmd::JoinRoom>> {
    app.join_room(&request.room, None).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn leave_room(
    app: AppState<'_>,
    request: cmd::LeaveRoom,
) -> Reply<Response<cmd::LeaveRoom>> {
    app.leave_room(&request.room).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn chat_history(
    app: AppState<'_>,
    request: cmd::ChatHistory,
) -> Reply<Response<cmd::ChatHistory>> {
    app.chat_history(&request.room, request.before).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn send_chat(
    app: AppState<'_>,
    request: cmd::SendChat,
) -> Reply<Response<cmd::SendChat>> {
    app.send_chat(&request.room, &request.text).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn typing(app: AppState<'_>, request: cmd::Typing) -> Reply<Response<cmd::Typing>> {
    app.typing(&request.room).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn list_rooms(app: AppState<'_>) -> Reply<Response<cmd::ListRooms>> {
    app.list_rooms().await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn create_room(
    app: AppState<'_>,
    request: cmd::CreateRoom,
) -> Reply<Response<cmd::CreateRoom>> {
    app.create_room(&request.room, &request.topic).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn unread_counts(app: AppState<'_>) -> Reply<Response<cmd::UnreadCounts>> {
    app.unread_counts().await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn mark_read(
    app: AppState<'_>,
    request: cmd::MarkRead,
) -> Reply<Response<cmd::MarkRead>> {
    app.mark_read(&request.room, request.seq).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn delete_message(
    app: AppState<'_>,
    request: cmd::DeleteMessage,
) -> Reply<Response<cmd::DeleteMessage>> {
    app.delete_message(&request.room, request.seq).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn provider_log_in(
    app: AppState<'_>,
    request: cmd::ProviderLogIn,
) -> Reply<Response<cmd::ProviderLogIn>> {
    app.provider_log_in(&request.provider).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn provider_choose_handle(
    app: AppState<'_>,
    request: cmd::ProviderChooseHandle,
) -> Reply<Response<cmd::ProviderChooseHandle>> {
    app.provider_choose_handle(&request.handle).await
}

#[tauri::command(rename_all = "snake_case")]
pub fn cancel_provider_log_in(app: AppState<'_>) -> Reply<Response<cmd::CancelProviderLogIn>> {
    app.cancel_provider_log_in();
    Ok(())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn login_methods(app: AppState<'_>) -> Reply<Response<cmd::LoginMethods>> {
    app.login_methods().await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn link_provider(
    app: AppState<'_>,
    request: cmd::LinkProvider,
) -> Reply<Response<cmd::LinkProvider>> {
    app.link_provider(&request.provider).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn unlink_provider(
    app: AppState<'_>,
    request: cmd::UnlinkProvider,
) -> Reply<Response<cmd::UnlinkProvider>> {
    app.unlink_provider(&request.provider).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn list_sessions(app: AppState<'_>) -> Reply<Response<cmd::ListSessions>> {
    app.list_sessions().await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn revoke_session(
    app: AppState<'_>,
    request: cmd::RevokeSession,
) -> Reply<Response<cmd::RevokeSession>> {
    app.revoke_session(request.session_id).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn follows(app: AppState<'_>, request: cmd::Follows) -> Reply<Response<cmd::Follows>> {
    app.follows(&request.handle).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn follow(app: AppState<'_>, request: cmd::Follow) -> Reply<Response<cmd::Follow>> {
    app.follow(&request.handle, request.on).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn feed(app: AppState<'_>, request: cmd::Feed) -> Reply<Response<cmd::Feed>> {
    app.feed(request.cursor, request.limit).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn authors(app: AppState<'_>, request: cmd::Authors) -> Reply<Response<cmd::Authors>> {
    app.authors(request.handles).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn install_update(app: tauri::AppHandle) -> Reply<Response<cmd::InstallUpdate>> {
    crate::updates::install(&app).await
}

#[tauri::command(rename_all = "snake_case")]
pub fn pending_update(app: tauri::AppHandle) -> Reply<Response<cmd::PendingUpdate>> {
    Ok(crate::updates::pending(&app))
}

#[tauri::command(rename_all = "snake_case")]
pub async fn watchlist(
    app: AppState<'_>,
    request: cmd::Watchlist,
) -> Reply<Response<cmd::Watchlist>> {
    app.watchlist(request.sort)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn watchlist_of(
    app: AppState<'_>,
    request: cmd::WatchlistOf,
) -> Reply<Response<cmd::WatchlistOf>> {
    app.watchlist_of(&request.handle).await
}

#[tauri::command(rename_all = "snake_case")]
pub fn set_watchlist(
    app: AppState<'_>,
    request: cmd::SetWatchlist,
) -> Reply<Response<cmd::SetWatchlist>> {
    app.set_watchlist(&request.key, request.on)
}

#[tauri::command(rename_all = "snake_case")]
pub fn set_watchlist_public(
    app: AppState<'_>,
    request: cmd::SetWatchlistPublic,
) -> Reply<Response<cmd::SetWatchlistPublic>> {
    app.set_watchlist_public(request.public)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn pick_for_tonight(
    app: AppState<'_>,
    request: cmd::PickForTonight,
) -> Reply<Response<cmd::PickForTonight>> {
    app.pick_for_tonight(request.not_this.as_deref())
}

#[tauri::command(rename_all = "snake_case")]
pub fn year_in_film(
    app: AppState<'_>,
    request: cmd::YearInFilm,
) -> Reply<Response<cmd::YearInFilm>> {
    app.year_in_film(request.year)
}

#[tauri::command(rename_all = "snake_case")]
pub fn diary(app: AppState<'_>) -> Reply<Response<cmd::Diary>> {
    app.diary()
}

#[tauri::command(rename_all = "snake_case")]
pub fn log_watch(app: AppState<'_>, request: cmd::LogWatch) -> Reply<Response<cmd::LogWatch>> {
    app.log_watch(&movietalk_core::diary::NewWatch {
        movie_key: request.key,
        watched_on: request.watched_on,
        rating: request.rating,
        rewatch: request.rewatch,
        review: request.review,
        spoiler: request.spoiler,
        client_id: None,
    })
}

#[tauri::command(rename_all = "snake_case")]
pub fn delete_watch(
    app: AppState<'_>,
    request: cmd::DeleteWatch,
) -> Reply<Response<cmd::DeleteWatch>> {
    app.delete_watch(&request.client_id)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn import_letterboxd(
    app: AppState<'_>,
    request: cmd::ImportLetterboxd,
) -> Reply<Response<cmd::ImportLetterboxd>> {
    app.import_letterboxd(&request.path).await
}
