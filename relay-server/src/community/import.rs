//! `relay-server import-ratings`: a community's ratings moved in from a CSV file of
//! `user,title,year,rating` rows ([`movietalk_community::ratings_file`]).
//!
//! A film is named by its key, the key every client computes. With a catalog (a MovieTalk data
//! folder's `movietalk.sqlite3`, whose `movies` table holds the keys), a row is matched against
//! it ([`movietalk_community::ratings_file::match_film`]); a row matching nothing is reported
//! and left out. Without one, the key of the title and year as written is taken. A malformed
//! row stops the import before anything is stored, with its line number.

use std::collections::HashSet;
use std::path::Path;

use movietalk_community::ratings_file::{self, match_film};
use movietalk_protocol::film_key::movie_key;

/// One row that named no film of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmatched {
    pub line: u64,
    pub title: String,
    pub year: Option<i32>,
}

/// What a ratings file holds, matched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Read {
    /// Data rows read.
    pub rows: u64,
    /// (user, film key, stars) of the matched rows.
    pub ratings: Vec<(String, String, f32)>,
    pub unmatched: Vec<Unmatched>,
}

/// The film keys of a MovieTalk catalog file.
pub fn catalog_keys(path: &Path) -> anyhow::Result<HashSet<String>> {
    use anyhow::Context;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening the catalog {}", path.display()))?;
    let mut stmt = conn
        .prepare("SELECT key FROM movies")
        .with_context(|| format!("{} is not a MovieTalk catalog", path.display()))?;
    let keys = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<HashSet<_>>>()?;
    anyhow::ensure!(!keys.is_empty(), "the catalog {} is empty", path.display());
    Ok(keys)
}

/// Reads and matches a ratings file.
pub fn read(path: &Path, catalog: Option<&HashSet<String>>) -> anyhow::Result<Read> {
    let rows = ratings_file::read(path)?;
    let mut out = Read {
        rows: rows.len() as u64,
        ..Read::default()
    };
    for row in rows {
        let key = match catalog {
            Some(keys) => match_film(&row.title, row.year, |k| keys.get(k).cloned()),
            None => Some(movie_key(&row.title, row.year)),
        };
        match key {
            Some(key) => out.ratings.push((row.user, key, row.stars)),
            None => out.unmatched.push(Unmatched {
                line: row.line,
                title: row.title,
                year: row.year,
            }),
        }
    }
    Ok(out)
}
