//! The movie record and its stable key.

use serde::{Deserialize, Serialize};

/// A film in the local catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Movie {
    /// Stable key shared by every client and the relay; see [`movie_key`].
    pub key: String,
    /// Title as known in English (the catalog's primary title).
    pub title: String,
    /// Korean release title, when known.
    pub title_ko: Option<String>,
    /// Title in the original language and script.
    pub original_title: Option<String>,
    pub year: Option<i32>,
    /// Running time in minutes.
    pub runtime: Option<i32>,
    pub genres: Vec<String>,
    pub directors: Vec<String>,
    pub cast: Vec<String>,
    pub overview: Option<String>,
    pub overview_ko: Option<String>,
    pub imdb_id: Option<String>,
    /// English Wikipedia page name, underscores for spaces.
    pub wikipedia: Option<String>,
    pub tmdb_id: Option<i64>,
    /// Poster image address at its source.
    pub poster_url: Option<String>,
    /// Popularity at the source (TMDB's score); `None` when the source has none.
    pub popularity: Option<f64>,
}

impl Movie {
    /// A film known only by its title and year (keyed by [`movie_key`]); importers and tests
    /// fill in the rest.
    pub fn new(title: &str, year: Option<i32>) -> Movie {
        Movie {
            key: movie_key(title, year),
            title: title.to_owned(),
            title_ko: None,
            original_title: None,
            year,
            runtime: None,
            genres: vec![],
            directors: vec![],
            cast: vec![],
            overview: None,
            overview_ko: None,
            imdb_id: None,
            wikipedia: None,
            tmdb_id: None,
            poster_url: None,
            popularity: None,
        }
    }
}

pub use movietalk_protocol::film_key::movie_key;
