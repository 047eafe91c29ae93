//! Values crossing the Tauri IPC boundary between the desktop shell and the Yew UI.
//!
//! Commands return `Result<T, IpcError>`; the UI matches [`IpcError::code`], never the message.
//! Event names are constants here so both sides spell them the same way.

use serde::{Deserialize, Serialize};

pub use crate::relay::{
    Account, ChatMessage, Comment, LinkedProvider, Review, RoomSummary, SessionInfo as RelaySession,
};

/// Event carrying a [`ChatMessage`] that arrived from the relay.
pub const EVENT_CHAT_MESSAGE: &str = "chat-message";
/// Event carrying a [`RelayStatus`] whenever the relay connection changes.
pub const EVENT_RELAY_STATUS: &str = "relay-status";
/// Event carrying a [`Presence`] when the number of people in a joined room changes.
pub const EVENT_PRESENCE: &str = "presence";
/// Event carrying a [`Typing`] when someone types in a joined room.
pub const EVENT_TYPING: &str = "typing";
/// Event carrying a [`MessageDeleted`] when a chat message is deleted.
pub const EVENT_MESSAGE_DELETED: &str = "message-deleted";
/// Event carrying a [`SyncStatus`] whenever the outbox or the pull changes something.
pub const EVENT_SYNC: &str = "sync";
/// Event carrying an [`UpdateAvailable`] when the check at start found a newer version.
pub const EVENT_UPDATE_AVAILABLE: &str = "update-available";
/// Event carrying an [`ImportProgress`] while an import runs.
pub const EVENT_IMPORT_PROGRESS: &str = "import-progress";
/// Event carrying an [`ImportProgress`] while the recommendation index is rebuilt (after an
/// import), once that has taken over half a second; `finished` with the last one.
pub const EVENT_INDEX_PROGRESS: &str = "index-progress";

/// How a film list is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    /// Best match first (for an empty query: most popular first).
    #[default]
    Relevance,
    Newest,
    Oldest,
    Popularity,
    Title,
}

impl Sort {
    pub const ALL: [Sort; 5] = [
        Sort::Relevance,
        Sort::Popularity,
        Sort::Newest,
        Sort::Oldest,
        Sort::Title,
    ];

    /// The order's name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            Sort::Relevance => "relevance",
            Sort::Newest => "newest",
            Sort::Oldest => "oldest",
            Sort::Popularity => "popularity",
            Sort::Title => "title",
        }
    }

    /// The order named `name`, if there is one.
    pub fn named(name: &str) -> Option<Sort> {
        Sort::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// A movie as listed in the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MovieSummary {
    /// The stable key shared by every client and the relay.
    pub key: String,
    pub title: String,
    pub title_ko: Option<String>,
    pub year: Option<i32>,
    pub genres: Vec<String>,
    pub directors: Vec<String>,
    pub overview: Option<String>,
    pub overview_ko: Option<String>,
    /// A poster is cached on disk: the window shows `poster://localhost/<key>`.
    #[serde(default)]
    pub poster: bool,
    /// On this user's watchlist.
    #[serde(default)]
    pub on_watchlist: bool,
}

/// One page of a movie list or search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MoviePage {
    pub movies: Vec<MovieSummary>,
    /// How many movies match in all (the page may hold fewer).
    pub total: u64,
    /// True when nothing matched the query and these are popular films instead.
    pub fallback: bool,
}

/// Facts about the running app, shown in the status bar.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInfo {
    pub version: String,
    pub data_dir: String,
    pub relay_url: String,
    /// True when the app started the relay itself on loopback.
    pub relay_hosted_here: bool,
    /// The name this app uses in chat.
    pub user_name: String,
    pub movie_count: u64,
    /// How the window reaches the shell's `poster:` and `avatar:` protocols on this platform.
    #[serde(default)]
    pub asset_urls: AssetUrls,
}

/// How a webview reaches a custom protocol of the shell, as Tauri's `convertFileSrc` builds the
/// address: `poster://localhost/KEY` where the webview takes custom schemes (WebKitGTK on Linux,
/// WKWebView on macOS), `http://poster.localhost/KEY` where it does not (WebView2 on Windows,
/// Android).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AssetUrls {
    #[default]
    Scheme,
    Localhost,
}

impl AssetUrls {
    /// The form used on `os` (as `std::env::consts::OS` names it).
    pub fn for_os(os: &str) -> AssetUrls {
        match os {
            "windows" | "android" => AssetUrls::Localhost,
            _ => AssetUrls::Scheme,
        }
    }

    /// The address of `encoded_path` (already encoded as a URI component, as `convertFileSrc`
    /// does with `encodeURIComponent`) under `protocol`.
    pub fn url(self, protocol: &str, encoded_path: &str) -> String {
        match self {
            AssetUrls::Scheme => format!("{protocol}://localhost/{encoded_path}"),
            AssetUrls::Localhost => format!("http://{protocol}.localhost/{encoded_path}"),
        }
    }
}

/// State of the connection to the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RelayStatus {
    Connecting,
    Online,
    Offline {
        reason: String,
    },
    /// Offline; the next attempt is in `in_secs` seconds (backing off).
    Reconnecting {
        reason: String,
        in_secs: u32,
    },
}

/// Someone is typing in a joined room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Typing {
    pub room: String,
    pub who: String,
}

/// A chat message was deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDeleted {
    pub room: String,
    pub seq: u64,
}

/// Where this user's writes are, and the relay connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncStatus {
    pub relay: RelayStatus,
    /// Writes waiting for the relay.
    pub pending: u64,
    /// When the last sync finished, ms since the epoch.
    pub last_sync_ms: Option<u64>,
    /// Moves whenever a sync pulled or delivered something: screens showing relay data reload
    /// on it (and not on every quiet sync).
    #[serde(default)]
    pub changes: u64,
    /// Why the last sync stopped early, if it did.
    pub error: Option<String>,
}

/// How far an import is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportProgress {
    pub done: u64,
    pub total: u64,
    /// True once the import has finished (successfully or not).
    pub finished: bool,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportReport {
    pub added: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub skipped: u64,
}

/// Where a write of this user's is on its way to the relay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// Waiting for the relay.
    Pending,
    /// The relay has it.
    Sent,
    /// The relay refused it (the error says why); it will not be retried.
    Failed,
    /// A later write replaced it before it was sent, or a later edit on another machine won.
    Superseded,
}

impl Delivery {
    /// The state's name, as serialised (and as the outbox stores it).
    pub fn as_str(self) -> &'static str {
        match self {
            Delivery::Pending => "pending",
            Delivery::Sent => "sent",
            Delivery::Failed => "failed",
            Delivery::Superseded => "superseded",
        }
    }

    /// The state named `s`; an unknown name is taken as still pending.
    pub fn parse(s: &str) -> Delivery {
        match s {
            "sent" => Delivery::Sent,
            "failed" => Delivery::Failed,
            "superseded" => Delivery::Superseded,
            _ => Delivery::Pending,
        }
    }
}

/// This user's review of a film, as on this machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MyReview {
    pub movie_key: String,
    pub title: String,
    pub year: Option<i32>,
    pub rating: f32,
    pub body: String,
    pub spoiler: bool,
    pub edited_at_ms: u64,
    pub delivery: Delivery,
    pub error: Option<String>,
}

/// A review as listed, with this user's relation to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewView {
    pub review: Review,
    /// The author's name and picture, once this app has seen their profile.
    #[serde(default)]
    pub author: Option<Author>,
    pub liked: bool,
    pub mine: bool,
}

/// How a person shows next to what they wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Author {
    pub display_name: String,
    pub avatar_url: Option<String>,
}

/// A comment as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentView {
    /// `None` until the relay has it.
    pub id: Option<u64>,
    pub author: String,
    /// The author's name and picture, once this app has seen their profile.
    #[serde(default)]
    pub author_profile: Option<Author>,
    pub body: String,
    pub likes: u32,
    pub liked: bool,
    pub created_at_ms: u64,
    pub delivery: Delivery,
    /// For an unsent comment: cancel it with this id.
    pub client_id: Option<String>,
    pub mine: bool,
    /// This user may delete it (its author, or the review's author).
    pub can_delete: bool,
}

/// A review with its comments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewPage {
    pub review: ReviewView,
    pub comments: Vec<CommentView>,
}

/// Everything the movie page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MovieDetail {
    pub movie: MovieSummary,
    pub original_title: Option<String>,
    pub runtime: Option<i32>,
    pub cast: Vec<String>,
    pub my_review: Option<MyReview>,
    pub reviews: Vec<ReviewView>,
    pub similar: Vec<MovieSummary>,
    /// The film's chat room.
    pub room: String,
}

/// How the watchlist is ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchlistSort {
    /// Newest addition first.
    #[default]
    Added,
    /// What the recommender thinks this user will like most first.
    ForYou,
    Title,
    /// Newest film first.
    Year,
}

impl WatchlistSort {
    pub const ALL: [WatchlistSort; 4] = [
        WatchlistSort::Added,
        WatchlistSort::ForYou,
        WatchlistSort::Title,
        WatchlistSort::Year,
    ];

    /// The order's name, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            WatchlistSort::Added => "added",
            WatchlistSort::ForYou => "for_you",
            WatchlistSort::Title => "title",
            WatchlistSort::Year => "year",
        }
    }

    /// The order named `name`, if there is one.
    pub fn named(name: &str) -> Option<WatchlistSort> {
        WatchlistSort::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// A film on a watchlist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchlistEntry {
    /// The catalog's film; only key, title and year for a film this catalog lacks.
    pub movie: MovieSummary,
    pub added_at_ms: u64,
}

/// A watchlist: this user's own (offline), or another person's public one (from the relay).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchlistView {
    pub handle: Option<String>,
    pub films: Vec<WatchlistEntry>,
    /// Whether others may read it.
    pub public: bool,
}

/// A row of an imported file that names no film in the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmatchedRow {
    pub file: String,
    pub line: u64,
    pub name: String,
    pub year: Option<i32>,
}

/// What a Letterboxd import did (rows imported before count nothing).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LetterboxdReport {
    /// Diary entries added.
    pub diary: u64,
    /// Reviews written, with a watch or on their own.
    pub reviews: u64,
    /// Films put on the watchlist.
    pub watchlist: u64,
    /// Ratings written or changed.
    pub ratings: u64,
    pub unmatched: Vec<UnmatchedRow>,
}

/// A diary entry with its film as the catalog has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiaryItem {
    pub entry: crate::relay::DiaryEntry,
    pub movie: MovieSummary,
}

/// A name and how many films it counts (a genre, a director, a decade).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub name: String,
    pub count: u32,
}

/// A person's year in film, from what is on their machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct YearInFilm {
    pub year: i32,
    /// Every year with figures, newest first.
    pub years: Vec<i32>,
    pub films: u32,
    /// Films in January … December.
    pub per_month: [u32; 12],
    /// Films rated ½ ★, 1 ★, … 5 ★.
    pub ratings: [u32; 10],
    pub mean_rating: Option<f32>,
    /// The most watched genres and directors, most first.
    pub genres: Vec<Tally>,
    pub directors: Vec<Tally>,
    /// The decades the films were made in, oldest first (`"1970s"`).
    pub decades: Vec<Tally>,
}

/// A recommended film and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecommendedMovie {
    pub movie: MovieSummary,
    /// Titles of liked films most like it ("because you liked …").
    pub because: Vec<String>,
    /// Titles of liked films whose raters in the community liked it ("people who rated …
    /// highly also liked this").
    #[serde(default)]
    pub community_because: Vec<String>,
    /// For a cold-start pick: the genre it is popular in.
    pub popular_in: Option<String>,
}

/// Ratings needed before home shows picks of one's own.
pub const FEW_RATINGS: u32 = 3;

/// The home screen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Home {
    pub recommendations: Vec<RecommendedMovie>,
    /// True when there are too few ratings yet ([`FEW_RATINGS`]) and these are the
    /// community's best-rated and acclaimed picks.
    pub cold_start: bool,
    /// How many films this user rated.
    #[serde(default)]
    pub rated: u32,
    /// Rooms this user has talked in, most recent first.
    pub recent_rooms: Vec<String>,
}

/// Who is logged in, and where secrets are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub account: Option<Account>,
    /// True when the session survives a restart (kept in the OS keyring).
    pub keyring: bool,
    /// Why there is no keyring, when there is none.
    pub keyring_problem: Option<String>,
}

/// A profile: the account (when it is this user's or known) and its reviews.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub handle: String,
    pub account: Option<Account>,
    pub reviews: Vec<ReviewView>,
    /// This user's own ratings and reviews on this machine (own profile only).
    pub my_reviews: Vec<MyReview>,
}

/// Where the next feed page starts: the last review shown (its update time and id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedCursor {
    pub updated_at_ms: u64,
    pub id: u64,
}

/// A page of the feed: reviews by the people this user follows, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeedPage {
    pub reviews: Vec<ReviewView>,
    /// `None` on the last page.
    pub next: Option<FeedCursor>,
    /// Whom the user follows (as of `live`, or as last seen).
    pub following: Vec<String>,
    /// The following list came from the relay just now (false: remembered from before).
    pub live: bool,
}

/// Who follows an account and whom it follows (from the relay; needs a connection).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FollowsView {
    pub handle: String,
    pub followers: Vec<String>,
    pub following: Vec<String>,
}

/// Theme choice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Theme {
    #[default]
    System,
    Light,
    Dark,
}

/// Settings kept in the data folder (never a secret: the TMDB key lives in the OS keyring).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// The relay to use; `None`: host one on this machine.
    pub relay_url: Option<String>,
    pub theme: Theme,
    /// "en" or "ko"; `None`: from the OS.
    pub language: Option<String>,
    /// Rooms joined lately, most recent first (the home screen's "continue the chat").
    pub recent_rooms: Vec<String>,
    /// Providers offered for logging in (their public client ids; never a secret).
    pub login_providers: Vec<LoginProviderConfig>,
    /// Do not look for a new version of the app at start.
    pub skip_update_check: bool,
}

/// A newer version of the app is published (payload of [`EVENT_UPDATE_AVAILABLE`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateAvailable {
    pub version: String,
    /// The release notes, when the release has some.
    pub notes: Option<String>,
}

/// A provider the app offers for logging in: Google, Kakao, GitHub, or any OpenID Connect issuer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginProviderConfig {
    /// The name the relay knows it by: `google`, `kakao`, `github`, or a configured OIDC name.
    pub name: String,
    /// The app's public client id at the provider.
    pub client_id: String,
    /// The OpenID Connect issuer; absent for Google and Kakao (known) and GitHub (plain OAuth2).
    pub issuer: Option<String>,
    /// GitHub-style endpoints elsewhere (GitHub Enterprise): authorize and token URLs.
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
}

/// Where a provider log-in ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderOutcome {
    /// Logged in.
    pub session: Option<SessionInfo>,
    /// The identity is new: ask for a handle (this one is free) and call again.
    pub handle_needed: bool,
    pub suggested_handle: Option<String>,
}

/// How the logged-in account can log in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginMethodsView {
    pub password: bool,
    pub providers: Vec<LinkedProvider>,
}

/// Presence change in a joined room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Presence {
    pub room: String,
    pub present: u32,
}

/// The result of joining a room: what was said there recently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinedRoom {
    pub room: String,
    pub history: Vec<ChatMessage>,
    pub present: u32,
}

/// An error returned by a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpcError {
    pub code: IpcErrorCode,
    /// English detail for logs; the UI shows its own text for `code`.
    pub message: String,
}

/// What went wrong, for the UI to pick a translated message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IpcErrorCode {
    /// The input was refused (empty, too long, malformed).
    InvalidInput,
    /// The relay cannot be reached.
    RelayUnavailable,
    /// The relay refused the request.
    RelayRejected,
    /// The local database failed.
    Storage,
    /// The request needs a logged-in account.
    NotLoggedIn,
    /// Wrong handle or password.
    InvalidCredentials,
    /// The handle is taken.
    Conflict,
    /// No such film, review or comment.
    NotFound,
    /// Not this user's to change or read (someone else's, or private).
    Forbidden,
    /// The session ran out or was revoked: log in again.
    SessionEnded,
    /// The provider log-in was cancelled, timed out, refused or failed.
    ProviderLogin,
    /// This is the account's last way to log in.
    LastLoginMethod,
    /// Anything else.
    Internal,
}

impl IpcError {
    pub fn new(code: IpcErrorCode, message: impl Into<String>) -> Self {
        IpcError {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for IpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for IpcError {}

#[cfg(test)]
mod asset_tests {
    use super::AssetUrls;

    #[test]
    fn asset_addresses_take_the_form_of_each_platform() {
        let key = "%EA%B8%B0%EC%83%9D%EC%B6%A9-2019";
        assert_eq!(
            AssetUrls::for_os("linux").url("poster", key),
            format!("poster://localhost/{key}")
        );
        assert_eq!(
            AssetUrls::for_os("macos").url("avatar", "https%3A%2F%2Fa.example%2Fme.png"),
            "avatar://localhost/https%3A%2F%2Fa.example%2Fme.png"
        );
        assert_eq!(
            AssetUrls::for_os("windows").url("poster", key),
            format!("http://poster.localhost/{key}")
        );
        assert_eq!(
            AssetUrls::for_os("windows").url("avatar", "x"),
            "http://avatar.localhost/x"
        );
    }
}
