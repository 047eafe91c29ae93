//! MovieTalk core: everything but pixels.
//!
//! The desktop shell and the `movietalk` CLI are both thin consumers of this crate, which must
//! never depend on tauri or yew. State is passed explicitly: open a [`Catalog`] and hand it on.

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

pub use catalog::Catalog;
pub use error::CoreError;
pub use movie::{Movie, movie_key};
pub use search::{SearchQuery, SearchResults, Sort};
