//! The window's commands, each defined once: its name, its request and its response. The UI
//! sends a request value (`ui/src/ipc.rs`: `call(&cmd::Home {})`); the shell registers one
//! function per command taking that value; `src-tauri/build.rs` grants every name in [`NAMES`].
//!
//! Adding a command: an entry here, its function in `src-tauri/src/commands.rs`, and its name in
//! the shell's `generate_handler!`.

use std::collections::HashMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

// Responses named like their command are written `ipc::…`: inside `cmd` the bare name is the
// request.
use crate::ipc::{
    self, Author, FeedCursor, FeedPage, FollowsView, ImportReport, JoinedRoom, LoginMethodsView,
    MoviePage, MyReview, ProviderOutcome, RelaySession, SessionInfo, Settings, Sort,
    UpdateAvailable, WatchlistEntry, WatchlistSort, WatchlistView,
};
use crate::relay::{Account, ChatMessage, DiaryEntry, LikeTarget, RoomSummary};

/// A command of the window: the request is `Self`, sent as the argument `request`.
pub trait Command: Serialize + DeserializeOwned {
    /// The name the shell registers it under.
    const NAME: &'static str;
    /// What a successful call answers.
    type Response: Serialize + DeserializeOwned;
}

/// What a command answers.
pub type Response<C> = <C as Command>::Response;

/// The longest page of films a search answers; longer asks are clamped to it.
pub const MAX_PAGE: u32 = 200;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_each_answers_its_own_type() {
        let mut names = NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), NAMES.len(), "a name defined twice");
        assert_eq!(cmd::Home::NAME, "home");
        assert_eq!(cmd::SearchMovies::NAME, "search_movies");
        // A response named like its request is the ipc type, not the request.
        let answer: Response<cmd::Home> =
            serde_json::from_str(r#"{"recommendations":[],"cold_start":true,"recent_rooms":[]}"#)
                .unwrap();
        assert!(answer.cold_start);
    }
}

macro_rules! commands {
    ($(
        $(#[$meta:meta])*
        $name:ident => $Request:ident { $( $(#[$field_meta:meta])* $field:ident: $ty:ty ),* $(,)? } -> $Response:ty;
    )*) => {
        /// One request type per command, named after it.
        pub mod cmd {
            use super::*;
            $(
                $(#[$meta])*
                #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
                pub struct $Request { $( $(#[$field_meta])* pub $field: $ty ),* }

                impl Command for $Request {
                    const NAME: &'static str = stringify!($name);
                    type Response = $Response;
                }
            )*
        }

        /// Every command's name: the shell's build grants each (`allow-<name>`).
        pub const NAMES: &[&str] = &[$(stringify!($name)),*];
    };
}

commands! {
    /// Facts about this app: version, data folder, relay, catalog size.
    app_info => AppInfo {} -> ipc::AppInfo;
    /// One page of the films matching `query` (all films when blank), filtered and sorted.
    #[derive(Default)]
    search_movies => SearchMovies {
        query: String,
        /// At most [`MAX_PAGE`]; the app clamps it.
        limit: u32,
        offset: u32,
        genre: Option<String>,
        year_from: Option<i32>,
        year_to: Option<i32>,
        sort: Option<Sort>,
    } -> MoviePage;
    /// The catalog's genres with how many films each has.
    genres => Genres {} -> Vec<(String, u64)>;
    /// Everything a film's page shows; works offline.
    movie_detail => MovieDetail { key: String } -> ipc::MovieDetail;
    /// Saves this user's rating and review of a film (locally at once, on the relay by sync).
    save_review => SaveReview { key: String, rating: f32, body: String, spoiler: bool } -> MyReview;
    /// Deletes this user's review and rating of a film; answers whether there was one.
    delete_review => DeleteReview { key: String } -> bool;
    /// A review with its comments.
    review_page => ReviewPage { review_id: u64 } -> ipc::ReviewPage;
    /// Comments on a review; answers the comment's client id.
    post_comment => PostComment { review_id: u64, body: String } -> String;
    edit_comment => EditComment { comment_id: u64, body: String } -> ();
    delete_comment => DeleteComment { comment_id: u64 } -> ();
    /// Takes back a comment not delivered yet; answers whether it was still waiting.
    cancel_comment => CancelComment { client_id: String } -> bool;
    like => Like { target: LikeTarget, on: bool } -> ();
    /// Home: picks with their reasons (or cold-start picks) and recent rooms.
    home => Home {} -> ipc::Home;
    /// Who is logged in, and whether the keyring keeps the session.
    session => Session {} -> SessionInfo;
    sign_up => SignUp { handle: String, password: String, display_name: Option<String> } -> SessionInfo;
    log_in => LogIn { handle: String, password: String } -> SessionInfo;
    log_out => LogOut {} -> ();
    update_profile => UpdateProfile { display_name: String, bio: String, avatar_url: String } -> Account;
    /// Deletes the account on the relay; local ratings stay.
    delete_account => DeleteAccount { password: String } -> ();
    /// A profile: this user's own without a handle.
    profile => Profile { handle: Option<String> } -> ipc::Profile;
    /// The relay connection and the outbox.
    sync_status => SyncStatus {} -> ipc::SyncStatus;
    /// Syncs (or reconnects) now.
    sync_now => SyncNow {} -> ();
    get_settings => GetSettings {} -> Settings;
    /// Saves the settings; a changed relay address takes effect at once.
    set_settings => SetSettings { settings: Settings } -> Settings;
    /// Keeps the TMDB API key in the OS keyring (empty: forget it); answers whether one is set.
    set_tmdb_key => SetTmdbKey { key: String } -> bool;
    has_tmdb_key => HasTmdbKey {} -> bool;
    /// Imports Wikipedia-format films from a file, a folder or a URL (progress as events).
    import_wikipedia => ImportWikipedia { source: String } -> ImportReport;
    /// Imports a Letterboxd export (.zip): diary, reviews, watchlist, ratings (progress as
    /// events).
    import_letterboxd => ImportLetterboxd { path: String } -> ipc::LetterboxdReport;
    /// Imports TMDB's popular films (progress as events).
    import_tmdb => ImportTmdb { pages: u32, genre: Option<String> } -> ImportReport;
    /// Writes everything that is this user's own (ratings and reviews, watchlist, diary) to a
    /// JSON file; answers its path.
    export_data => ExportData {} -> String;
    /// Joins a chat room; answers its recent history.
    join_room => JoinRoom { room: String } -> JoinedRoom;
    leave_room => LeaveRoom { room: String } -> ();
    /// Older messages of a joined room, before `before`.
    chat_history => ChatHistory { room: String, before: u64 } -> Vec<ChatMessage>;
    /// Posts a chat message; answers its sequence number.
    send_chat => SendChat { room: String, text: String } -> u64;
    typing => Typing { room: String } -> ();
    /// Rooms with live presence.
    list_rooms => ListRooms {} -> Vec<RoomSummary>;
    /// Creates a room; its creator moderates it.
    create_room => CreateRoom { room: String, topic: String } -> RoomSummary;
    unread_counts => UnreadCounts {} -> Vec<(String, u64)>;
    mark_read => MarkRead { room: String, seq: u64 } -> ();
    delete_message => DeleteMessage { room: String, seq: u64 } -> ();
    /// Logs in with a provider through the system browser.
    provider_log_in => ProviderLogIn { provider: String } -> ProviderOutcome;
    /// Creates the account for the identity waiting for a handle.
    provider_choose_handle => ProviderChooseHandle { handle: String } -> ProviderOutcome;
    /// Stops waiting for the browser.
    cancel_provider_log_in => CancelProviderLogIn {} -> ();
    login_methods => LoginMethods {} -> LoginMethodsView;
    /// Links another provider (through the system browser).
    link_provider => LinkProvider { provider: String } -> LoginMethodsView;
    unlink_provider => UnlinkProvider { provider: String } -> LoginMethodsView;
    /// The account's sessions, this one marked.
    list_sessions => ListSessions {} -> Vec<RelaySession>;
    revoke_session => RevokeSession { session_id: u64 } -> ();
    /// This user's watchlist (offline), in the order asked.
    watchlist => Watchlist { sort: WatchlistSort } -> WatchlistView;
    /// Another person's public watchlist, from the relay.
    watchlist_of => WatchlistOf { handle: String } -> WatchlistView;
    /// Puts a film on the watchlist or takes it off; answers whether anything changed.
    set_watchlist => SetWatchlist { key: String, on: bool } -> bool;
    /// Lets others read this user's watchlist, or stops them.
    set_watchlist_public => SetWatchlistPublic { public: bool } -> ();
    /// A film from the watchlist for tonight, favouring the recommender's top; another than
    /// `not_this` when there is one.
    pick_for_tonight => PickForTonight { not_this: Option<String> } -> Option<WatchlistEntry>;
    /// This user's diary, most recent watch first; works offline.
    diary => Diary {} -> Vec<ipc::DiaryItem>;
    /// Logs a watch (a rating and review given with the most recent watch become the film's).
    log_watch => LogWatch {
        key: String,
        /// `YYYY-MM-DD`.
        watched_on: String,
        rating: Option<f32>,
        rewatch: bool,
        review: Option<String>,
        spoiler: bool,
    } -> DiaryEntry;
    /// Deletes a watch from the diary; answers whether there was one.
    delete_watch => DeleteWatch { client_id: String } -> bool;
    /// This user's year in film (`None`: the newest year with figures); works offline.
    year_in_film => YearInFilm { year: Option<i32> } -> ipc::YearInFilm;
    /// Who follows `handle` and whom it follows.
    follows => Follows { handle: String } -> FollowsView;
    follow => Follow { handle: String, on: bool } -> ();
    /// Reviews by the people this user follows, a page at a time.
    feed => Feed { cursor: Option<FeedCursor>, limit: u32 } -> FeedPage;
    /// Names and pictures of these people (at most 50).
    authors => Authors { handles: Vec<String> } -> HashMap<String, Author>;
    /// The newer version the check at start found, if it found one (it may finish before the
    /// window listens for [`crate::ipc::EVENT_UPDATE_AVAILABLE`]).
    pending_update => PendingUpdate {} -> Option<UpdateAvailable>;
    /// Downloads and installs the update the check at start found, then restarts the app.
    install_update => InstallUpdate {} -> ();
}
