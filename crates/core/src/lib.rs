//! MovieTalk core: everything but pixels.
//!
//! The desktop shell and the `movietalk` CLI are both thin consumers of this crate, which must
//! never depend on tauri or yew. [`App`] is the application a front end drives (a data folder,
//! its link to the relay, the policies); below it, [`Catalog`] and the rest can be used alone.

pub mod app;
pub mod avatars;
pub mod catalog;
pub mod error;
pub mod import;
pub mod movie;
pub mod oauth;
pub mod paths;
pub mod people;
pub mod recommend;
pub mod relay_client;
pub mod relay_session;
pub mod search;
pub mod secrets;
mod spell;
pub mod starter;
pub mod sync;
pub mod text;

pub use app::{App, AppEvent, AppOptions};
pub use catalog::Catalog;
pub use error::CoreError;
pub use movie::{Movie, movie_key};
pub use search::{SearchQuery, SearchResults, Sort};
