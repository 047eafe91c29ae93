//! What each person keeps for themselves and may show others: the watchlist, and the diary
//! (the watches they logged; their own only, for now).
//!
//! Rules: only its owner changes a watchlist; others read it only when its owner made it
//! public (at first it is not). Of two changes of one film made on two machines while offline,
//! the later one wins whatever order they arrive in: a film taken off is remembered as taken
//! off (the newest [`KEPT_REMOVALS`] of them) so that an older "add" arriving late loses to it.
//! A watchlist holds at most [`MAX_WATCHLIST`] films. Every change raises the watchlist's
//! version, so a client holding the newest one is answered "unchanged". A deleted account's
//! watchlist goes with it; whoever takes its handle later starts with none.
//!
//! A diary entry is named by the client id of the machine that logged it; of two edits (or an
//! edit and a deletion) the later one wins, by the same rule. A diary holds at most
//! [`MAX_DIARY`] entries, and remembers the newest [`KEPT_REMOVALS`] deletions.

mod rules;

use movietalk_protocol::relay::WatchlistFilm;
pub use movietalk_protocol::relay::{DiaryEntry, MAX_DIARY, MAX_WATCHLIST};

pub use crate::social::SocialError;
pub use crate::store::rows::WatchlistRow;

/// How many taken-off films a watchlist, or deleted entries a diary, remembers (to refuse
/// older changes of them).
pub const KEPT_REMOVALS: u64 = 5_000;

/// A watchlist as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Watchlist {
    pub handle: String,
    pub public: bool,
    pub version: u64,
    /// Empty when the reader's version is the newest (`unchanged`).
    pub films: Vec<WatchlistFilm>,
    pub unchanged: bool,
}

/// A change of a watchlist as a client asks for it.
#[derive(Debug, Clone, Copy)]
pub struct WatchlistChange<'a> {
    pub movie_key: &'a str,
    pub title: &'a str,
    pub year: Option<i32>,
    pub on: bool,
    /// When the person made the change; clamped to the relay's clock (None: now).
    pub at_ms: Option<u64>,
}

/// Where the relay keeps watchlists. Implemented once, in `rules.rs`, for every store's rows
/// ([`crate::store::rows::Transact`]).
pub trait LibraryStore: Send + Sync + std::fmt::Debug + 'static {
    /// Puts a film on `account`'s watchlist or takes it off (a change older than the film's
    /// stored one changes nothing).
    fn set_watchlist(&self, account: u64, change: &WatchlistChange<'_>) -> Result<(), SocialError>;
    /// Whether others may read `account`'s watchlist.
    fn set_watchlist_public(&self, account: u64, public: bool) -> Result<(), SocialError>;
    /// `reader`'s own watchlist (`handle` None), or `handle`'s when it is public or `reader`'s;
    /// only what changed after version `since`.
    fn watchlist(
        &self,
        reader: Option<u64>,
        handle: Option<&str>,
        since: Option<u64>,
    ) -> Result<Watchlist, SocialError>;
    /// Writes or rewrites an entry of `account`'s diary (an edit older than the stored one
    /// changes nothing).
    fn put_diary_entry(&self, account: u64, entry: &DiaryEntry) -> Result<(), SocialError>;
    /// Deletes an entry of `account`'s diary, as of `at_ms` (None: now).
    fn delete_diary_entry(
        &self,
        account: u64,
        client_id: &str,
        at_ms: Option<u64>,
    ) -> Result<(), SocialError>;
    /// `account`'s diary: (version, unchanged since `since`, entries — none when unchanged).
    fn diary(
        &self,
        account: u64,
        since: Option<u64>,
    ) -> Result<(u64, bool, Vec<DiaryEntry>), SocialError>;
}
