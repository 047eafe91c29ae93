//! The local catalog: a SQLite file (WAL, foreign keys on) holding the movies, with versioned
//! migrations, first-run seeding from the starter catalog, listing and search.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, params};
use rusqlite_migration::{M, Migrations};

use crate::error::Result;
use crate::movie::Movie;
use crate::starter::starter_movies;

/// Schema migrations, oldest first. Never edit a released migration: append a new one.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![M::up(
        r#"
        CREATE TABLE movies (
            key            TEXT PRIMARY KEY NOT NULL,
            title          TEXT NOT NULL,
            title_ko       TEXT,
            original_title TEXT,
            year           INTEGER,
            runtime        INTEGER,
            overview       TEXT,
            overview_ko    TEXT,
            directors      TEXT NOT NULL DEFAULT '[]',  -- JSON array of names
            "cast"         TEXT NOT NULL DEFAULT '[]',  -- JSON array of names
            imdb_id        TEXT,
            wikipedia      TEXT,
            source         TEXT NOT NULL
        ) STRICT;
        CREATE INDEX movies_year ON movies(year);
        CREATE TABLE movie_genres (
            movie_key TEXT NOT NULL REFERENCES movies(key) ON DELETE CASCADE,
            genre     TEXT NOT NULL,
            position  INTEGER NOT NULL,  -- the source's order: the first genre is the main one
            PRIMARY KEY (movie_key, genre)
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX movie_genres_genre ON movie_genres(genre, movie_key);
        "#,
    )])
}

/// The local movie catalog, one SQLite connection.
#[derive(Debug)]
pub struct Catalog {
    conn: Connection,
}

/// Where a row came from, stored with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Starter,
}

impl Source {
    fn as_str(self) -> &'static str {
        match self {
            Source::Starter => "starter",
        }
    }
}

impl Catalog {
    /// Opens (creating if needed) the catalog at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Self> {
        let conn = Connection::open(path)?;
        Self::init(conn)
    }

    /// An in-memory catalog, for tests and throwaway use.
    pub fn open_in_memory() -> Result<Self> {
        Self::init(Connection::open_in_memory()?)
    }

    fn init(mut conn: Connection) -> Result<Self> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrations().to_latest(&mut conn)?;
        Ok(Catalog { conn })
    }

    /// Loads the starter catalog when the catalog holds no movie yet. Returns how many films
    /// were added (0 when the catalog was not empty).
    pub fn seed_if_empty(&mut self) -> Result<usize> {
        if self.count()? > 0 {
            return Ok(0);
        }
        let movies = starter_movies()?;
        self.upsert_all(&movies, Source::Starter)?;
        tracing::info!(count = movies.len(), "seeded the catalog from the starter catalog");
        Ok(movies.len())
    }

    /// Inserts or replaces `movies` in one transaction: all of them land, or none.
    pub fn upsert_all(&mut self, movies: &[Movie], source: Source) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut put = tx.prepare(
                r#"INSERT INTO movies (key, title, title_ko, original_title, year, runtime, overview,
                                      overview_ko, directors, "cast", imdb_id, wikipedia, source)
                   VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
                   ON CONFLICT(key) DO UPDATE SET
                     title = excluded.title, title_ko = excluded.title_ko,
                     original_title = excluded.original_title, year = excluded.year,
                     runtime = excluded.runtime, overview = excluded.overview,
                     overview_ko = excluded.overview_ko, directors = excluded.directors,
                     "cast" = excluded."cast", imdb_id = excluded.imdb_id,
                     wikipedia = excluded.wikipedia, source = excluded.source"#,
            )?;
            let mut clear_genres = tx.prepare("DELETE FROM movie_genres WHERE movie_key = ?1")?;
            let mut put_genre = tx.prepare("INSERT OR IGNORE INTO movie_genres (movie_key, genre, position) VALUES (?1, ?2, ?3)")?;
            for m in movies {
                put.execute(params![
                    m.key,
                    m.title,
                    m.title_ko,
                    m.original_title,
                    m.year,
                    m.runtime,
                    m.overview,
                    m.overview_ko,
                    json_list(&m.directors),
                    json_list(&m.cast),
                    m.imdb_id,
                    m.wikipedia,
                    source.as_str(),
                ])?;
                clear_genres.execute([&m.key])?;
                for (position, g) in m.genres.iter().enumerate() {
                    put_genre.execute(params![m.key, g, position as i64])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Number of movies in the catalog.
    pub fn count(&self) -> Result<u64> {
        Ok(self.conn.query_row("SELECT count(*) FROM movies", [], |r| r.get(0))?)
    }

    /// One movie by key.
    pub fn get(&self, key: &str) -> Result<Option<Movie>> {
        let movie = self
            .conn
            .query_row(&format!("SELECT {MOVIE_COLUMNS} FROM movies m WHERE m.key = ?1"), [key], row_to_movie)
            .optional()?;
        Ok(movie)
    }

    /// Movies whose titles (any language), synopses, cast or directors contain every word of
    /// `query`, case-insensitively for ASCII; all movies when `query` is blank. Ordered by title
    /// matches first, then year (newest first), then title. Returns one page and the total.
    ///
    /// This is the walking skeleton's simple filter; ranked full-text search replaces it.
    pub fn search(&self, query: &str, limit: u32, offset: u32) -> Result<(Vec<Movie>, u64)> {
        let words: Vec<String> = query.split_whitespace().map(like_pattern).collect();
        let mut conditions = Vec::new();
        for i in 0..words.len() {
            let p = i + 1;
            conditions.push(format!(
                r#"(m.title LIKE ?{p} ESCAPE '\' OR m.title_ko LIKE ?{p} ESCAPE '\' OR m.original_title LIKE ?{p} ESCAPE '\'
                   OR m.overview LIKE ?{p} ESCAPE '\' OR m.overview_ko LIKE ?{p} ESCAPE '\'
                   OR m."cast" LIKE ?{p} ESCAPE '\' OR m.directors LIKE ?{p} ESCAPE '\')"#
            ));
        }
        let filter = if conditions.is_empty() { "1".to_owned() } else { conditions.join(" AND ") };
        // Films whose title holds every word come first.
        let title_first = if words.is_empty() {
            String::new()
        } else {
            let hit = (1..=words.len())
                .map(|p| format!(r#"(m.title LIKE ?{p} ESCAPE '\' OR m.title_ko LIKE ?{p} ESCAPE '\')"#))
                .collect::<Vec<_>>()
                .join(" AND ");
            format!("({hit}) DESC, ")
        };
        let total: u64 = self.conn.query_row(
            &format!("SELECT count(*) FROM movies m WHERE {filter}"),
            rusqlite::params_from_iter(&words),
            |r| r.get(0),
        )?;
        let sql = format!(
            "SELECT {MOVIE_COLUMNS} FROM movies m WHERE {filter}
             ORDER BY {title_first}m.year DESC, m.title LIMIT {limit} OFFSET {offset}"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let movies = stmt
            .query_map(rusqlite::params_from_iter(&words), row_to_movie)?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok((movies, total))
    }
}

const MOVIE_COLUMNS: &str = r#"m.key, m.title, m.title_ko, m.original_title, m.year, m.runtime,
    (SELECT json_group_array(genre) FROM (SELECT genre FROM movie_genres g WHERE g.movie_key = m.key ORDER BY position)),
    m.directors, m."cast", m.overview, m.overview_ko, m.imdb_id, m.wikipedia"#;

fn row_to_movie(r: &rusqlite::Row<'_>) -> rusqlite::Result<Movie> {
    Ok(Movie {
        key: r.get(0)?,
        title: r.get(1)?,
        title_ko: r.get(2)?,
        original_title: r.get(3)?,
        year: r.get(4)?,
        runtime: r.get(5)?,
        genres: parse_list(r, 6)?,
        directors: parse_list(r, 7)?,
        cast: parse_list(r, 8)?,
        overview: r.get(9)?,
        overview_ko: r.get(10)?,
        imdb_id: r.get(11)?,
        wikipedia: r.get(12)?,
    })
}

fn parse_list(r: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Vec<String>> {
    let text: String = r.get(idx)?;
    serde_json::from_str(&text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e)))
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("a list of strings always serialises")
}

/// `%word%` with LIKE's wildcards escaped.
fn like_pattern(word: &str) -> String {
    let mut p = String::with_capacity(word.len() + 2);
    p.push('%');
    for c in word.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_pattern("100%_a\\b"), "%100\\%\\_a\\\\b%");
    }
}
