//! MovieTalk core: everything but pixels.
//!
//! The desktop shell and the `movietalk` CLI are both thin consumers of this crate, which must
//! never depend on tauri or yew. [`App`] is the application a front end drives (a data folder,
//! its link to the relay, the policies); below it, [`Catalog`] and the rest can be used alone.

pub mod app;
pub mod avatars;
pub mod catalog;
pub mod diary;
pub mod error;
pub mod import;
pub mod movie;
pub mod oauth;
mod outbox;
pub mod paths;
pub mod people;
pub mod recommend;
pub mod relay_client;
pub mod relay_session;
pub mod search;
pub mod secrets;
mod spell;
pub mod starter;
pub mod stats;
pub mod sync;
pub mod text;
pub mod watchlist;

pub use app::{App, AppEvent, AppOptions};
pub use catalog::Catalog;
pub use error::CoreError;
pub use movie::{Movie, movie_key};
pub use search::{SearchQuery, SearchResults, Sort};

/// Locks a std mutex, carrying on after a panic elsewhere (the data stays consistent: every
/// critical section is a plain read or replace, or one SQLite transaction).
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
