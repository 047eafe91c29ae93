//! The starter catalog compiled into the app: real films with synopses written for the project
//! in English and Korean (`starter/movies.json`), loaded into an empty catalog on first run.

use serde::Deserialize;

use crate::error::{CoreError, Result};
use crate::movie::{Movie, movie_key};

const STARTER_JSON: &str = include_str!("../starter/movies.json");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StarterMovie {
    title: String,
    title_ko: Option<String>,
    original_title: Option<String>,
    year: i32,
    runtime: Option<i32>,
    genres: Vec<String>,
    directors: Vec<String>,
    cast: Vec<String>,
    overview: String,
    overview_ko: String,
    imdb_id: Option<String>,
    wikipedia: Option<String>,
}

/// The starter films, parsed and keyed.
pub fn starter_movies() -> Result<Vec<Movie>> {
    let raw: Vec<StarterMovie> =
        serde_json::from_str(STARTER_JSON).map_err(|e| CoreError::Starter(e.to_string()))?;
    Ok(raw
        .into_iter()
        .map(|m| Movie {
            key: movie_key(&m.title, Some(m.year)),
            title: m.title,
            title_ko: m.title_ko,
            original_title: m.original_title,
            year: Some(m.year),
            runtime: m.runtime,
            genres: m.genres,
            directors: m.directors,
            cast: m.cast,
            overview: Some(m.overview),
            overview_ko: Some(m.overview_ko),
            imdb_id: m.imdb_id,
            wikipedia: m.wikipedia,
            tmdb_id: None,
            poster_url: None,
            popularity: None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::starter_movies;

    #[test]
    fn starter_catalog_parses_with_unique_keys_and_both_languages() {
        let movies = starter_movies().expect("starter catalog parses");
        assert!(movies.len() >= 20, "only {} starter films", movies.len());
        let keys: HashSet<_> = movies.iter().map(|m| m.key.as_str()).collect();
        assert_eq!(
            keys.len(),
            movies.len(),
            "duplicate keys in the starter catalog"
        );
        for m in &movies {
            assert!(
                m.title_ko.as_deref().is_some_and(|t| !t.trim().is_empty()),
                "{} has no Korean title",
                m.title
            );
            assert!(
                m.overview.as_deref().is_some_and(|t| t.len() > 20),
                "{} has no English synopsis",
                m.title
            );
            assert!(
                m.overview_ko
                    .as_deref()
                    .is_some_and(|t| t.chars().any(|c| ('가'..='힣').contains(&c))),
                "{} has no Korean synopsis",
                m.title
            );
            assert!(
                !m.genres.is_empty() && !m.directors.is_empty(),
                "{} lacks genres or directors",
                m.title
            );
        }
    }
}
