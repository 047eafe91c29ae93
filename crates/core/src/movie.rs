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

/// The stable key of a film: its English title, normalised, and its year.
///
/// Every catalog source (starter catalog, Wikipedia, TMDB) has a title and a year, while no
/// external id is shared by all of them, so the key is derived from those two: accents and
/// case are folded, apostrophes dropped, any other run of non-alphanumeric characters becomes
/// one `-` (see [`crate::text::tokens`]). Hangul and other scripts are kept (NFC). `The Godfather`, 1972 →
/// `the-godfather-1972`; `Amélie`, 2001 → `amelie-2001`; `Schindler's List` → `schindlers-list-1993`.
pub fn movie_key(title: &str, year: Option<i32>) -> String {
    let mut key = crate::text::tokens(title)
        .iter()
        .map(crate::text::Token::as_str)
        .collect::<Vec<_>>()
        .join("-");
    if key.is_empty() {
        key.push_str("untitled");
    }
    if let Some(year) = year {
        key.push('-');
        key.push_str(&year.to_string());
    }
    key
}

#[cfg(test)]
mod tests {
    use super::movie_key;

    #[test]
    fn keys_fold_case_accents_and_punctuation() {
        assert_eq!(movie_key("The Godfather", Some(1972)), "the-godfather-1972");
        assert_eq!(movie_key("Amélie", Some(2001)), "amelie-2001");
        assert_eq!(
            movie_key("Schindler's List", Some(1993)),
            "schindlers-list-1993"
        );
        assert_eq!(
            movie_key("Star Wars: Episode IV – A New Hope", Some(1977)),
            "star-wars-episode-iv-a-new-hope-1977"
        );
        assert_eq!(movie_key("  WALL·E ", Some(2008)), "wall-e-2008");
        assert_eq!(movie_key("!!!", None), "untitled");
    }

    #[test]
    fn hangul_survives_normalisation() {
        assert_eq!(movie_key("기생충", Some(2019)), "기생충-2019");
        assert_eq!(
            movie_key("올드보이 (Oldboy)", Some(2003)),
            "올드보이-oldboy-2003"
        );
    }

    #[test]
    fn keys_are_stable_for_equivalent_spellings() {
        // Precomposed and decomposed é give the same key.
        assert_eq!(
            movie_key("Am\u{e9}lie", Some(2001)),
            movie_key("Ame\u{301}lie", Some(2001))
        );
        assert_eq!(
            movie_key("Schindler\u{2019}s List", Some(1993)),
            movie_key("Schindler's List", Some(1993))
        );
    }
}
