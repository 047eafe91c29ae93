//! Typed wrappers over every Tauri command and event the UI uses. Pages and components call
//! these, never `invoke` or `listen` directly.

use movietalk_protocol::ipc::{
    AppInfo, ChatMessage, EVENT_CHAT_MESSAGE, EVENT_IMPORT_PROGRESS, EVENT_MESSAGE_DELETED,
    EVENT_PRESENCE, EVENT_SYNC, EVENT_TYPING, Home, ImportProgress, ImportReport, IpcError,
    IpcErrorCode, JoinedRoom, MessageDeleted, MovieDetail, MoviePage, MyReview, Presence, Profile,
    ReviewPage, RoomSummary, SessionInfo, Settings, SyncStatus, Typing,
};
use std::collections::HashMap;

use movietalk_protocol::ipc::{
    Author, FeedCursor, FeedPage, FollowsView, LoginMethodsView, ProviderOutcome, RelaySession,
};
use movietalk_protocol::relay::{Account, LikeTarget};
use serde::Serialize;
use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "core"], catch)]
    async fn invoke(cmd: &str, args: JsValue) -> Result<JsValue, JsValue>;

    /// Returns a promise of the function that stops listening.
    #[wasm_bindgen(js_namespace = ["window", "__TAURI__", "event"], catch)]
    fn listen(
        event: &str,
        handler: &Closure<dyn FnMut(JsValue)>,
    ) -> Result<js_sys::Promise, JsValue>;
}

fn to_js<T: Serialize>(value: &T) -> JsValue {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .expect("command arguments always serialise")
}

fn internal(message: String) -> IpcError {
    IpcError::new(IpcErrorCode::Internal, message)
}

async fn call<A: Serialize, R: DeserializeOwned>(cmd: &str, args: &A) -> Result<R, IpcError> {
    match invoke(cmd, to_js(args)).await {
        Ok(value) => serde_wasm_bindgen::from_value(value)
            .map_err(|e| internal(format!("{cmd}: bad reply: {e}"))),
        Err(err) => Err(
            serde_wasm_bindgen::from_value::<IpcError>(err.clone()).unwrap_or_else(|_| {
                internal(format!(
                    "{cmd}: {}",
                    err.as_string().unwrap_or_else(|| format!("{err:?}"))
                ))
            }),
        ),
    }
}

#[derive(Serialize)]
struct NoArgs {}

pub async fn app_info() -> Result<AppInfo, IpcError> {
    call("app_info", &NoArgs {}).await
}

/// What the search and browse screens ask for.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Search {
    pub query: String,
    pub limit: u32,
    pub offset: u32,
    pub genre: Option<String>,
    pub year_from: Option<i32>,
    pub year_to: Option<i32>,
    /// "relevance", "newest", "oldest", "popularity" or "title".
    pub sort: Option<String>,
}

pub async fn search_movies(search: &Search) -> Result<MoviePage, IpcError> {
    call("search_movies", search).await
}

pub async fn genres() -> Result<Vec<(String, u64)>, IpcError> {
    call("genres", &NoArgs {}).await
}

#[derive(Serialize)]
struct KeyArgs<'a> {
    key: &'a str,
}

pub async fn movie_detail(key: &str) -> Result<MovieDetail, IpcError> {
    call("movie_detail", &KeyArgs { key }).await
}

#[derive(Serialize)]
struct ReviewArgs<'a> {
    key: &'a str,
    rating: f32,
    body: &'a str,
    spoiler: bool,
}

pub async fn save_review(
    key: &str,
    rating: f32,
    body: &str,
    spoiler: bool,
) -> Result<MyReview, IpcError> {
    call(
        "save_review",
        &ReviewArgs {
            key,
            rating,
            body,
            spoiler,
        },
    )
    .await
}

pub async fn delete_review(key: &str) -> Result<bool, IpcError> {
    call("delete_review", &KeyArgs { key }).await
}

#[derive(Serialize)]
struct ReviewIdArgs {
    review_id: u64,
}

pub async fn review_page(review_id: u64) -> Result<ReviewPage, IpcError> {
    call("review_page", &ReviewIdArgs { review_id }).await
}

#[derive(Serialize)]
struct PostCommentArgs<'a> {
    review_id: u64,
    body: &'a str,
}

pub async fn post_comment(review_id: u64, body: &str) -> Result<String, IpcError> {
    call("post_comment", &PostCommentArgs { review_id, body }).await
}

#[derive(Serialize)]
struct CommentArgs<'a> {
    comment_id: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a str>,
}

pub async fn edit_comment(comment_id: u64, body: &str) -> Result<(), IpcError> {
    call(
        "edit_comment",
        &CommentArgs {
            comment_id,
            body: Some(body),
        },
    )
    .await
}

pub async fn delete_comment(comment_id: u64) -> Result<(), IpcError> {
    call(
        "delete_comment",
        &CommentArgs {
            comment_id,
            body: None,
        },
    )
    .await
}

#[derive(Serialize)]
struct ClientIdArgs<'a> {
    client_id: &'a str,
}

pub async fn cancel_comment(client_id: &str) -> Result<bool, IpcError> {
    call("cancel_comment", &ClientIdArgs { client_id }).await
}

#[derive(Serialize)]
struct LikeArgs {
    target: LikeTarget,
    on: bool,
}

pub async fn like(target: LikeTarget, on: bool) -> Result<(), IpcError> {
    call("like", &LikeArgs { target, on }).await
}

pub async fn home() -> Result<Home, IpcError> {
    call("home", &NoArgs {}).await
}

pub async fn session() -> Result<SessionInfo, IpcError> {
    call("session", &NoArgs {}).await
}

#[derive(Serialize)]
struct SignUpArgs<'a> {
    handle: &'a str,
    password: &'a str,
    display_name: Option<&'a str>,
}

pub async fn sign_up(
    handle: &str,
    password: &str,
    display_name: Option<&str>,
) -> Result<SessionInfo, IpcError> {
    call(
        "sign_up",
        &SignUpArgs {
            handle,
            password,
            display_name,
        },
    )
    .await
}

#[derive(Serialize)]
struct LogInArgs<'a> {
    handle: &'a str,
    password: &'a str,
}

pub async fn log_in(handle: &str, password: &str) -> Result<SessionInfo, IpcError> {
    call("log_in", &LogInArgs { handle, password }).await
}

pub async fn log_out() -> Result<(), IpcError> {
    call("log_out", &NoArgs {}).await
}

#[derive(Serialize)]
struct ProfileEdit<'a> {
    display_name: &'a str,
    bio: &'a str,
    avatar_url: &'a str,
}

pub async fn update_profile(
    display_name: &str,
    bio: &str,
    avatar_url: &str,
) -> Result<Account, IpcError> {
    call(
        "update_profile",
        &ProfileEdit {
            display_name,
            bio,
            avatar_url,
        },
    )
    .await
}

#[derive(Serialize)]
struct PasswordArgs<'a> {
    password: &'a str,
}

pub async fn delete_account(password: &str) -> Result<(), IpcError> {
    call("delete_account", &PasswordArgs { password }).await
}

#[derive(Serialize)]
struct HandleArgs<'a> {
    handle: Option<&'a str>,
}

pub async fn profile(handle: Option<&str>) -> Result<Profile, IpcError> {
    call("profile", &HandleArgs { handle }).await
}

pub async fn sync_status() -> Result<SyncStatus, IpcError> {
    call("sync_status", &NoArgs {}).await
}

pub async fn sync_now() -> Result<(), IpcError> {
    call("sync_now", &NoArgs {}).await
}

pub async fn get_settings() -> Result<Settings, IpcError> {
    call("get_settings", &NoArgs {}).await
}

#[derive(Serialize)]
struct SettingsArgs<'a> {
    settings: &'a Settings,
}

pub async fn set_settings(settings: &Settings) -> Result<Settings, IpcError> {
    call("set_settings", &SettingsArgs { settings }).await
}

#[derive(Serialize)]
struct TmdbArgs<'a> {
    key: &'a str,
}

pub async fn set_tmdb_key(key: &str) -> Result<bool, IpcError> {
    call("set_tmdb_key", &TmdbArgs { key }).await
}

pub async fn has_tmdb_key() -> Result<bool, IpcError> {
    call("has_tmdb_key", &NoArgs {}).await
}

#[derive(Serialize)]
struct ImportArgs<'a> {
    source: &'a str,
}

pub async fn import_wikipedia(source: &str) -> Result<ImportReport, IpcError> {
    call("import_wikipedia", &ImportArgs { source }).await
}

#[derive(Serialize)]
struct TmdbImportArgs<'a> {
    pages: u32,
    genre: Option<&'a str>,
}

pub async fn import_tmdb(pages: u32, genre: Option<&str>) -> Result<ImportReport, IpcError> {
    call("import_tmdb", &TmdbImportArgs { pages, genre }).await
}

pub async fn export_data() -> Result<String, IpcError> {
    call("export_data", &NoArgs {}).await
}

#[derive(Serialize)]
struct RoomArgs<'a> {
    room: &'a str,
}

pub async fn join_room(room: &str) -> Result<JoinedRoom, IpcError> {
    call("join_room", &RoomArgs { room }).await
}

pub async fn leave_room(room: &str) -> Result<(), IpcError> {
    call("leave_room", &RoomArgs { room }).await
}

pub async fn typing(room: &str) -> Result<(), IpcError> {
    call("typing", &RoomArgs { room }).await
}

#[derive(Serialize)]
struct SeqArgs<'a> {
    room: &'a str,
    #[serde(rename = "before", skip_serializing_if = "Option::is_none")]
    before: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seq: Option<u64>,
}

pub async fn chat_history(room: &str, before: u64) -> Result<Vec<ChatMessage>, IpcError> {
    call(
        "chat_history",
        &SeqArgs {
            room,
            before: Some(before),
            seq: None,
        },
    )
    .await
}

pub async fn mark_read(room: &str, seq: u64) -> Result<(), IpcError> {
    call(
        "mark_read",
        &SeqArgs {
            room,
            before: None,
            seq: Some(seq),
        },
    )
    .await
}

pub async fn delete_message(room: &str, seq: u64) -> Result<(), IpcError> {
    call(
        "delete_message",
        &SeqArgs {
            room,
            before: None,
            seq: Some(seq),
        },
    )
    .await
}

#[derive(Serialize)]
struct SendArgs<'a> {
    room: &'a str,
    text: &'a str,
}

pub async fn send_chat(room: &str, text: &str) -> Result<u64, IpcError> {
    call("send_chat", &SendArgs { room, text }).await
}

#[derive(Serialize)]
struct ProviderArgs<'a> {
    provider: &'a str,
}

pub async fn provider_log_in(provider: &str) -> Result<ProviderOutcome, IpcError> {
    call("provider_log_in", &ProviderArgs { provider }).await
}

#[derive(Serialize)]
struct ChooseHandleArgs<'a> {
    handle: &'a str,
}

pub async fn provider_choose_handle(handle: &str) -> Result<ProviderOutcome, IpcError> {
    call("provider_choose_handle", &ChooseHandleArgs { handle }).await
}

pub async fn cancel_provider_log_in() -> Result<(), IpcError> {
    call("cancel_provider_log_in", &NoArgs {}).await
}

pub async fn login_methods() -> Result<LoginMethodsView, IpcError> {
    call("login_methods", &NoArgs {}).await
}

pub async fn link_provider(provider: &str) -> Result<LoginMethodsView, IpcError> {
    call("link_provider", &ProviderArgs { provider }).await
}

pub async fn unlink_provider(provider: &str) -> Result<LoginMethodsView, IpcError> {
    call("unlink_provider", &ProviderArgs { provider }).await
}

pub async fn list_sessions() -> Result<Vec<RelaySession>, IpcError> {
    call("list_sessions", &NoArgs {}).await
}

#[derive(Serialize)]
struct SessionIdArgs {
    session_id: u64,
}

pub async fn revoke_session(session_id: u64) -> Result<(), IpcError> {
    call("revoke_session", &SessionIdArgs { session_id }).await
}

#[derive(Serialize)]
struct FollowArgs<'a> {
    handle: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    on: Option<bool>,
}

#[derive(Serialize)]
struct FeedArgs {
    cursor: Option<FeedCursor>,
    limit: u32,
}

#[derive(Serialize)]
struct AuthorsArgs<'a> {
    handles: &'a [String],
}

/// Names and pictures of these people, where known.
pub async fn authors(handles: &[String]) -> Result<HashMap<String, Author>, IpcError> {
    call("authors", &AuthorsArgs { handles }).await
}

/// A page of reviews by the people this user follows.
pub async fn feed(cursor: Option<FeedCursor>, limit: u32) -> Result<FeedPage, IpcError> {
    call("feed", &FeedArgs { cursor, limit }).await
}

pub async fn follows(handle: &str) -> Result<FollowsView, IpcError> {
    call("follows", &FollowArgs { handle, on: None }).await
}

pub async fn follow(handle: &str, on: bool) -> Result<(), IpcError> {
    call(
        "follow",
        &FollowArgs {
            handle,
            on: Some(on),
        },
    )
    .await
}

pub async fn list_rooms() -> Result<Vec<RoomSummary>, IpcError> {
    call("list_rooms", &NoArgs {}).await
}

#[derive(Serialize)]
struct CreateRoomArgs<'a> {
    room: &'a str,
    topic: &'a str,
}

pub async fn create_room(room: &str, topic: &str) -> Result<RoomSummary, IpcError> {
    call("create_room", &CreateRoomArgs { room, topic }).await
}

pub async fn unread_counts() -> Result<Vec<(String, u64)>, IpcError> {
    call("unread_counts", &NoArgs {}).await
}

/// A live event subscription; dropping it stops delivery.
pub struct Subscription {
    _handler: Closure<dyn FnMut(JsValue)>,
    unlisten: std::rc::Rc<std::cell::RefCell<Option<js_sys::Function>>>,
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(unlisten) = self.unlisten.borrow_mut().take() {
            let _ = unlisten.call0(&JsValue::NULL);
        }
    }
}

fn subscribe<T: DeserializeOwned + 'static>(
    event: &'static str,
    mut callback: impl FnMut(T) + 'static,
) -> Subscription {
    let handler = Closure::<dyn FnMut(JsValue)>::new(move |e: JsValue| {
        let payload =
            js_sys::Reflect::get(&e, &JsValue::from_str("payload")).unwrap_or(JsValue::NULL);
        match serde_wasm_bindgen::from_value::<T>(payload) {
            Ok(value) => callback(value),
            Err(err) => web_sys::console::error_1(&format!("bad {event} payload: {err}").into()),
        }
    });
    let unlisten = std::rc::Rc::new(std::cell::RefCell::new(None));
    let slot = unlisten.clone();
    // The Subscription owns the closure, so it outlives the listener.
    let promise = listen(event, &handler);
    wasm_bindgen_futures::spawn_local(async move {
        let unlisten = match promise {
            Ok(promise) => wasm_bindgen_futures::JsFuture::from(promise).await,
            Err(err) => Err(err),
        };
        match unlisten {
            Ok(f) => *slot.borrow_mut() = f.dyn_into::<js_sys::Function>().ok(),
            Err(err) => {
                web_sys::console::error_2(&format!("cannot listen to {event}").into(), &err)
            }
        }
    });
    Subscription {
        _handler: handler,
        unlisten,
    }
}

pub fn on_chat_message(callback: impl FnMut(ChatMessage) + 'static) -> Subscription {
    subscribe(EVENT_CHAT_MESSAGE, callback)
}

pub fn on_presence(callback: impl FnMut(Presence) + 'static) -> Subscription {
    subscribe(EVENT_PRESENCE, callback)
}

pub fn on_typing(callback: impl FnMut(Typing) + 'static) -> Subscription {
    subscribe(EVENT_TYPING, callback)
}

pub fn on_message_deleted(callback: impl FnMut(MessageDeleted) + 'static) -> Subscription {
    subscribe(EVENT_MESSAGE_DELETED, callback)
}

pub fn on_sync(callback: impl FnMut(SyncStatus) + 'static) -> Subscription {
    subscribe(EVENT_SYNC, callback)
}

pub fn on_import_progress(callback: impl FnMut(ImportProgress) + 'static) -> Subscription {
    subscribe(EVENT_IMPORT_PROGRESS, callback)
}
