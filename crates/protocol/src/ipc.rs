//! Values crossing the Tauri IPC boundary between the desktop shell and the Yew UI.
//!
//! Commands return `Result<T, IpcError>`; the UI matches [`IpcError::code`], never the message.
//! Event names are constants here so both sides spell them the same way.

use serde::{Deserialize, Serialize};

pub use crate::relay::ChatMessage;

/// Event carrying a [`ChatMessage`] that arrived from the relay.
pub const EVENT_CHAT_MESSAGE: &str = "chat-message";
/// Event carrying a [`RelayStatus`] whenever the relay connection changes.
pub const EVENT_RELAY_STATUS: &str = "relay-status";
/// Event carrying a [`Presence`] when the number of people in a joined room changes.
pub const EVENT_PRESENCE: &str = "presence";

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
}

/// State of the connection to the relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum RelayStatus {
    Connecting,
    Online,
    Offline { reason: String },
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
