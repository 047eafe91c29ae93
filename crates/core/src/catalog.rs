//! The local catalog: a SQLite file (WAL, foreign keys on) holding the movies and their search
//! index, with versioned migrations and first-run seeding from the starter catalog.
//!
//! Writes go through [`Catalog::import`], which merges each film into what is already there
//! (see [`merge`]) and keeps the full-text index and the spelling index in step, all in one
//! transaction per batch: a batch lands whole or not at all.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use rusqlite_migration::{M, Migrations};

use crate::error::Result;
use crate::movie::Movie;
use crate::starter::starter_movies;
use crate::text::{Token, index_text, tokens};

/// Schema migrations, oldest first. Never edit a released migration: append a new one.
fn migrations() -> Migrations<'static> {
    Migrations::new(vec![
        M::up(
            r#"
            CREATE TABLE movies (
                id             INTEGER PRIMARY KEY,
                key            TEXT NOT NULL UNIQUE,
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
                tmdb_id        INTEGER,
                wikipedia      TEXT,
                poster_url     TEXT,
                popularity     REAL,
                source         TEXT NOT NULL,               -- 'starter' | 'wikipedia' | 'tmdb'
                updated_at     INTEGER NOT NULL DEFAULT (unixepoch())
            ) STRICT;
            CREATE INDEX movies_year ON movies(year);
            CREATE INDEX movies_rank ON movies(coalesce(popularity, 0) DESC, year DESC);
            CREATE INDEX movies_wikipedia ON movies(wikipedia) WHERE wikipedia IS NOT NULL;
            CREATE INDEX movies_tmdb ON movies(tmdb_id) WHERE tmdb_id IS NOT NULL;
            CREATE TABLE movie_genres (
                movie_id INTEGER NOT NULL REFERENCES movies(id) ON DELETE CASCADE,
                genre    TEXT NOT NULL,
                position INTEGER NOT NULL,  -- the source's order: the first genre is the main one
                PRIMARY KEY (movie_id, genre)
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX movie_genres_genre ON movie_genres(genre, movie_id);
            "#,
        ),
        M::up(
            r#"
            -- Full-text index, rowid = movies.id. Contentless: the text lives in `movies`; the
            -- index holds folded tokens plus Hangul bigrams (see text::index_text).
            CREATE VIRTUAL TABLE movie_fts USING fts5(
                titles, people, genres, overview,
                content = '', contentless_delete = 1,
                tokenize = 'unicode61 remove_diacritics 2',
                prefix = '2 3'
            );
            CREATE VIRTUAL TABLE movie_fts_vocab USING fts5vocab(movie_fts, 'row');
            -- Title and people terms that typos are corrected towards; their trigram index is
            -- built in memory on the first typo (spell::SpellIndex).
            CREATE TABLE spell_terms (
                term TEXT PRIMARY KEY,
                df   INTEGER NOT NULL       -- films whose titles or people hold the term
            ) STRICT, WITHOUT ROWID;
            "#,
        ),
        M::up(
            r#"
            -- Bumped by every import that changed a film: derived indexes compare it with the
            -- generation they were built from.
            CREATE TABLE catalog_state (
                id         INTEGER PRIMARY KEY CHECK (id = 1),
                generation INTEGER NOT NULL
            ) STRICT;
            INSERT INTO catalog_state (id, generation) VALUES (1, 0);
            -- This user's own ratings, half stars from 0.5 to 5.
            CREATE TABLE ratings (
                movie_id INTEGER PRIMARY KEY REFERENCES movies(id) ON DELETE CASCADE,
                stars    REAL NOT NULL CHECK (stars BETWEEN 0.5 AND 5.0 AND stars * 2 = round(stars * 2)),
                rated_at INTEGER NOT NULL DEFAULT (unixepoch())
            ) STRICT;
            -- Everyone's ratings (from the relay, or a file for bootstrapping/evaluation).
            CREATE TABLE community_ratings (
                user     TEXT NOT NULL,
                movie_id INTEGER NOT NULL REFERENCES movies(id) ON DELETE CASCADE,
                stars    REAL NOT NULL CHECK (stars BETWEEN 0.5 AND 5.0),
                PRIMARY KEY (user, movie_id)
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX community_ratings_movie ON community_ratings(movie_id);
            -- The content index (recommend::content): one sparse unit vector per film, packed
            -- as little-endian (u32 feature, f32 weight) pairs, and the feature names.
            CREATE TABLE rec_features (
                id   INTEGER PRIMARY KEY,
                name TEXT NOT NULL UNIQUE
            ) STRICT;
            CREATE TABLE rec_vectors (
                movie_id INTEGER PRIMARY KEY REFERENCES movies(id) ON DELETE CASCADE,
                vector   BLOB NOT NULL
            ) STRICT;
            -- Item-to-item neighbours from community ratings (recommend::community).
            CREATE TABLE cf_neighbors (
                movie_id    INTEGER NOT NULL REFERENCES movies(id) ON DELETE CASCADE,
                neighbor_id INTEGER NOT NULL REFERENCES movies(id) ON DELETE CASCADE,
                similarity  REAL NOT NULL,
                PRIMARY KEY (movie_id, neighbor_id)
            ) STRICT, WITHOUT ROWID;
            -- Which generation each derived index was built from ('content', 'community').
            CREATE TABLE derived_state (
                name       TEXT PRIMARY KEY,
                generation INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID;
            "#,
        ),
        M::up(
            r#"
            -- Per film, beside its content vector: the year (the user's era of taste) and a
            -- catalog-only notability in 0..1 (recommend::content::notability), the prior when
            -- there is no community data. Old vectors lack them: the index is rebuilt.
            ALTER TABLE rec_vectors ADD COLUMN year INTEGER;
            ALTER TABLE rec_vectors ADD COLUMN notability REAL NOT NULL DEFAULT 0;
            DELETE FROM derived_state WHERE name = 'content';
            "#,
        ),
        M::up(
            r#"
            -- Offline-first sync (sync.rs). This user's own reviews, keyed by film: the
            -- truth on this machine, pushed to the relay through the outbox.
            CREATE TABLE my_reviews (
                movie_key    TEXT PRIMARY KEY,
                title        TEXT NOT NULL,
                year         INTEGER,
                rating       REAL NOT NULL CHECK (rating BETWEEN 0.5 AND 5),
                body         TEXT NOT NULL DEFAULT '',
                spoiler      INTEGER NOT NULL DEFAULT 0,
                -- When it was last edited, milliseconds since the epoch: the conflict rule.
                edited_at_ms INTEGER NOT NULL,
                -- The relay's id for it, once the relay has it.
                remote_id    INTEGER
            ) STRICT;
            -- Writes waiting for (or done with) the relay, in the order they were made.
            CREATE TABLE outbox (
                id            INTEGER PRIMARY KEY,
                client_id     TEXT NOT NULL UNIQUE,
                op            TEXT NOT NULL,            -- JSON of sync::OutboxOp
                -- What it is about, to find the latest write of a review or comment.
                subject       TEXT NOT NULL,
                state         TEXT NOT NULL DEFAULT 'pending'
                              CHECK (state IN ('pending', 'sent', 'failed', 'superseded')),
                error         TEXT,
                created_at_ms INTEGER NOT NULL,
                done_at_ms    INTEGER
            ) STRICT;
            CREATE INDEX outbox_pending ON outbox(state, id);
            CREATE INDEX outbox_subject ON outbox(subject, id);
            -- Everyone's reviews and comments as last pulled from the relay: readable offline.
            CREATE TABLE remote_reviews (
                id            INTEGER PRIMARY KEY,
                author        TEXT NOT NULL,
                movie_key     TEXT NOT NULL,
                title         TEXT NOT NULL,
                year          INTEGER,
                rating        REAL NOT NULL,
                body          TEXT NOT NULL,
                spoiler       INTEGER NOT NULL,
                likes         INTEGER NOT NULL,
                comments      INTEGER NOT NULL,
                created_at_ms INTEGER NOT NULL,
                updated_at_ms INTEGER NOT NULL,
                UNIQUE (author, movie_key)
            ) STRICT;
            CREATE INDEX remote_reviews_film ON remote_reviews(movie_key, updated_at_ms DESC);
            CREATE TABLE remote_comments (
                id            INTEGER PRIMARY KEY,
                review_id     INTEGER NOT NULL,
                author        TEXT NOT NULL,
                body          TEXT NOT NULL,
                likes         INTEGER NOT NULL,
                created_at_ms INTEGER NOT NULL,
                updated_at_ms INTEGER NOT NULL
            ) STRICT;
            CREATE INDEX remote_comments_review ON remote_comments(review_id, id);
            -- What this user likes ('review:ID' / 'comment:ID').
            CREATE TABLE my_likes (target TEXT PRIMARY KEY) STRICT, WITHOUT ROWID;
            -- Cursors and the like: the change number pulled up to, the account synced as.
            CREATE TABLE sync_state (name TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT, WITHOUT ROWID;
            "#,
        ),
        M::up(
            r#"
            -- The community signal is EASE weights (recommend::community), no longer cosine
            -- neighbours: the old rows go, and the weights are rebuilt from the stored ratings
            -- when the recommender is next prepared ('community' in derived_state marks them).
            DELETE FROM cf_neighbors;
            DELETE FROM derived_state WHERE name = 'community';
            "#,
        ),
        M::up(
            r#"
            -- The community model's per-film figures (recommend::community), beside its weights
            -- in cf_neighbors: from the relay's model, or built here from community_ratings.
            CREATE TABLE community_stats (
                movie_id INTEGER PRIMARY KEY REFERENCES movies(id) ON DELETE CASCADE,
                raters   INTEGER NOT NULL,
                mean     REAL NOT NULL
            ) STRICT;
            DELETE FROM derived_state WHERE name = 'community';
            "#,
        ),
        M::up(
            r#"
            -- This user's watchlist (crate::watchlist): changed here, shared through the outbox,
            -- and taken from the relay's copy by sync. Films the catalog lacks keep their title.
            CREATE TABLE watchlist (
                movie_key   TEXT PRIMARY KEY,
                title       TEXT NOT NULL,
                year        INTEGER,
                added_at_ms INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID;
            "#,
        ),
        M::up(
            r#"
            -- This user's diary (crate::diary): each watch, changed here, shared through the
            -- outbox, and taken from the relay's copy by sync.
            CREATE TABLE diary (
                client_id    TEXT PRIMARY KEY,
                movie_key    TEXT NOT NULL,
                title        TEXT NOT NULL,
                year         INTEGER,
                watched_on   TEXT NOT NULL,
                rating       REAL,
                rewatch      INTEGER NOT NULL,
                review       INTEGER NOT NULL,
                edited_at_ms INTEGER NOT NULL
            ) STRICT, WITHOUT ROWID;
            CREATE INDEX diary_film ON diary(movie_key, watched_on);
            CREATE INDEX diary_day ON diary(watched_on);
            "#,
        ),
    ])
}

/// The local movie catalog, one SQLite connection.
#[derive(Debug)]
pub struct Catalog {
    pub(crate) conn: Connection,
    /// Trigram index of `spell_terms`, built on the first typo and dropped by every import.
    pub(crate) spell: std::cell::OnceCell<crate::spell::SpellIndex>,
}

/// Where a row came from, stored with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Starter,
    Wikipedia,
    Tmdb,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Starter => "starter",
            Source::Wikipedia => "wikipedia",
            Source::Tmdb => "tmdb",
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportStats {
    /// Films that were not in the catalog.
    pub added: u64,
    /// Films that were there and changed.
    pub updated: u64,
    /// Films that were there and did not change.
    pub unchanged: u64,
}

impl ImportStats {
    pub fn add(&mut self, other: ImportStats) {
        self.added += other.added;
        self.updated += other.updated;
        self.unchanged += other.unchanged;
    }
}

/// Shortest term the spelling index keeps; shorter words are not corrected.
pub(crate) const MIN_SPELL_TERM: usize = 4;

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
        Ok(Catalog {
            conn,
            spell: std::cell::OnceCell::new(),
        })
    }

    /// Forgets what this handle caches about the catalog (the spelling index), after another
    /// connection to the same file imported films.
    pub fn forget_caches(&mut self) {
        self.spell = std::cell::OnceCell::new();
    }

    /// Loads the starter catalog when the catalog holds no movie yet. Returns how many films
    /// were added (0 when the catalog was not empty).
    pub fn seed_if_empty(&mut self) -> Result<usize> {
        if self.count()? > 0 {
            return Ok(0);
        }
        let movies = starter_movies()?;
        self.import(&movies, Source::Starter)?;
        tracing::info!(
            count = movies.len(),
            "seeded the catalog from the starter catalog"
        );
        Ok(movies.len())
    }

    /// Merges `movies` into the catalog in one transaction: all of them land, or none.
    pub fn import(&mut self, movies: &[Movie], source: Source) -> Result<ImportStats> {
        self.import_with_progress(movies, source, usize::MAX, &mut |_| {})
    }

    /// [`Catalog::import`], calling `progress` with the number of films written so far after
    /// every `step` films (before the transaction commits).
    pub fn import_with_progress(
        &mut self,
        movies: &[Movie],
        source: Source,
        step: usize,
        progress: &mut dyn FnMut(usize),
    ) -> Result<ImportStats> {
        self.spell = std::cell::OnceCell::new();
        let tx = self.conn.transaction()?;
        let mut stats = ImportStats::default();
        for (i, chunk) in movies.chunks(step.max(1)).enumerate() {
            stats.add(import_in(&tx, chunk, source)?);
            progress((i * step.max(1) + chunk.len()).min(movies.len()));
        }
        if stats.added + stats.updated > 0 {
            tx.execute("UPDATE catalog_state SET generation = generation + 1", [])?;
        }
        tx.commit()?;
        Ok(stats)
    }

    /// A number that changes whenever an import changes the catalog.
    pub fn generation(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT generation FROM catalog_state", [], |r| r.get(0))?)
    }

    /// The internal row id of a film: what ratings and the recommender refer to.
    pub fn movie_id(&self, key: &str) -> Result<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT id FROM movies WHERE key = ?1")?
            .query_row([key], |r| r.get(0))
            .optional()?)
    }

    /// The key of the film with this row id.
    pub fn key_of(&self, id: i64) -> Result<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT key FROM movies WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?)
    }

    /// Number of movies in the catalog.
    pub fn count(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT count(*) FROM movies", [], |r| r.get(0))?)
    }

    /// One movie by key.
    pub fn get(&self, key: &str) -> Result<Option<Movie>> {
        let movie = self
            .conn
            .query_row(
                &format!("SELECT {MOVIE_COLUMNS} FROM movies m WHERE m.key = ?1"),
                [key],
                row_to_movie,
            )
            .optional()?;
        Ok(movie)
    }

    /// Genres in the catalog with their film counts, most films first.
    pub fn genres(&self) -> Result<Vec<(String, u64)>> {
        let mut stmt = self.conn.prepare(
            "SELECT genre, count(*) AS n FROM movie_genres GROUP BY genre ORDER BY n DESC, genre",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Size of the database file(s) in bytes, as SQLite counts pages.
    pub fn database_bytes(&self) -> Result<u64> {
        let pages: u64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let size: u64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok(pages * size)
    }
}

/// Merges `incoming` into `existing` (a row already in the catalog).
///
/// The rule: a source owns the rows it created and may change any field of them, so re-running
/// a changed source updates its films. A source that finds a film created by another one only
/// fills in what is missing (empty lists, absent fields) and never overwrites: importing the
/// Wikipedia set over the starter catalog keeps the hand-written Korean synopses and titles,
/// and adds cast, posters and longer plots where the starter had none.
pub fn merge(existing: &Movie, existing_source: &str, incoming: &Movie, source: Source) -> Movie {
    if existing_source == source.as_str() {
        return Movie {
            key: existing.key.clone(),
            ..incoming.clone()
        };
    }
    fn fill<T: Clone>(old: &Option<T>, new: &Option<T>) -> Option<T> {
        old.clone().or_else(|| new.clone())
    }
    fn fill_list(old: &[String], new: &[String]) -> Vec<String> {
        if old.is_empty() {
            new.to_vec()
        } else {
            old.to_vec()
        }
    }
    Movie {
        key: existing.key.clone(),
        title: existing.title.clone(),
        title_ko: fill(&existing.title_ko, &incoming.title_ko),
        original_title: fill(&existing.original_title, &incoming.original_title),
        year: fill(&existing.year, &incoming.year),
        runtime: fill(&existing.runtime, &incoming.runtime),
        genres: fill_list(&existing.genres, &incoming.genres),
        directors: fill_list(&existing.directors, &incoming.directors),
        cast: fill_list(&existing.cast, &incoming.cast),
        overview: fill(&existing.overview, &incoming.overview),
        overview_ko: fill(&existing.overview_ko, &incoming.overview_ko),
        imdb_id: fill(&existing.imdb_id, &incoming.imdb_id),
        wikipedia: fill(&existing.wikipedia, &incoming.wikipedia),
        tmdb_id: fill(&existing.tmdb_id, &incoming.tmdb_id),
        poster_url: fill(&existing.poster_url, &incoming.poster_url),
        popularity: fill(&existing.popularity, &incoming.popularity),
    }
}

fn import_in(tx: &Transaction<'_>, movies: &[Movie], source: Source) -> Result<ImportStats> {
    let mut stats = ImportStats::default();
    let mut find = tx.prepare_cached(&format!(
        "SELECT m.id, m.source, {MOVIE_COLUMNS} FROM movies m WHERE m.key = ?1"
    ))?;
    let mut insert = tx.prepare_cached(
        r#"INSERT INTO movies (key, title, title_ko, original_title, year, runtime, overview, overview_ko,
                               directors, "cast", imdb_id, tmdb_id, wikipedia, poster_url, popularity, source)
           VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)"#,
    )?;
    let mut update = tx.prepare_cached(
        r#"UPDATE movies SET title = ?2, title_ko = ?3, original_title = ?4, year = ?5, runtime = ?6,
                  overview = ?7, overview_ko = ?8, directors = ?9, "cast" = ?10, imdb_id = ?11,
                  tmdb_id = ?12, wikipedia = ?13, poster_url = ?14, popularity = ?15, updated_at = unixepoch()
           WHERE key = ?1"#,
    )?;
    for incoming in movies {
        // A genre is stored once per film; a source listing one twice must not look like a change.
        let deduped;
        let incoming = if has_duplicates(&incoming.genres) {
            let mut seen = std::collections::HashSet::new();
            deduped = Movie {
                genres: incoming
                    .genres
                    .iter()
                    .filter(|g| seen.insert(*g))
                    .cloned()
                    .collect(),
                ..incoming.clone()
            };
            &deduped
        } else {
            incoming
        };
        let found = find
            .query_row([&incoming.key], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    row_to_movie_at(r, 2)?,
                ))
            })
            .optional()?;
        match found {
            None => {
                let m = incoming;
                let source = rusqlite::types::Value::from(source.as_str().to_owned());
                insert.execute(rusqlite::params_from_iter(
                    row_values(m).into_iter().chain([source]),
                ))?;
                stats.added += 1;
                let id = tx.last_insert_rowid();
                write_genres(tx, id, &m.genres)?;
                index_movie(tx, id, m, None)?;
            }
            Some((id, existing_source, existing)) => {
                let merged = merge(&existing, &existing_source, incoming, source);
                if merged == existing {
                    stats.unchanged += 1;
                    continue;
                }
                let m = &merged;
                update.execute(rusqlite::params_from_iter(row_values(m)))?;
                stats.updated += 1;
                if m.genres != existing.genres {
                    write_genres(tx, id, &m.genres)?;
                }
                index_movie(tx, id, m, Some(&existing))?;
            }
        }
    }
    Ok(stats)
}

/// The `movies` columns ?1..?15 of the insert and update statements, in their order.
fn row_values(m: &Movie) -> [rusqlite::types::Value; 15] {
    use rusqlite::types::Value;
    [
        m.key.clone().into(),
        m.title.clone().into(),
        m.title_ko.clone().into(),
        m.original_title.clone().into(),
        m.year.into(),
        m.runtime.into(),
        m.overview.clone().into(),
        m.overview_ko.clone().into(),
        json_list(&m.directors).into(),
        json_list(&m.cast).into(),
        m.imdb_id.clone().into(),
        m.tmdb_id.into(),
        m.wikipedia.clone().into(),
        m.poster_url.clone().into(),
        m.popularity.map(Value::Real).unwrap_or(Value::Null),
    ]
}

fn has_duplicates(items: &[String]) -> bool {
    items
        .iter()
        .enumerate()
        .any(|(i, a)| items[..i].contains(a))
}

fn write_genres(tx: &Transaction<'_>, id: i64, genres: &[String]) -> Result<()> {
    tx.prepare_cached("DELETE FROM movie_genres WHERE movie_id = ?1")?
        .execute([id])?;
    let mut put = tx.prepare_cached(
        "INSERT OR IGNORE INTO movie_genres (movie_id, genre, position) VALUES (?1, ?2, ?3)",
    )?;
    for (position, g) in genres.iter().enumerate() {
        put.execute(params![id, g, position as i64])?;
    }
    Ok(())
}

/// The four indexed fields of a film.
fn fts_fields(m: &Movie) -> [String; 4] {
    let titles = [
        Some(&m.title),
        m.title_ko.as_ref(),
        m.original_title.as_ref(),
    ]
    .into_iter()
    .flatten()
    .map(|t| index_text(t))
    .collect::<Vec<_>>()
    .join(" ");
    let people = m
        .directors
        .iter()
        .chain(&m.cast)
        .map(|p| index_text(p))
        .collect::<Vec<_>>()
        .join(" ");
    let genres = index_text(&m.genres.join(" "));
    let overview = [m.overview.as_ref(), m.overview_ko.as_ref()]
        .into_iter()
        .flatten()
        .map(|t| index_text(t))
        .collect::<Vec<_>>()
        .join(" ");
    [titles, people, genres, overview]
}

/// Title and people terms worth correcting towards.
fn spell_terms(m: &Movie) -> std::collections::BTreeSet<String> {
    let mut terms = std::collections::BTreeSet::new();
    for text in std::iter::once(&m.title).chain(&m.directors).chain(&m.cast) {
        for t in tokens(text) {
            if let Token::Word(w) = t
                && w.chars().count() >= MIN_SPELL_TERM
                && !w.chars().all(|c| c.is_ascii_digit())
            {
                terms.insert(w);
            }
        }
    }
    terms
}

/// (Re)indexes one film: full-text row and spelling terms.
fn index_movie(tx: &Transaction<'_>, id: i64, m: &Movie, old: Option<&Movie>) -> Result<()> {
    let fields = fts_fields(m);
    if let Some(old) = old {
        if fts_fields(old) == fields {
            return Ok(());
        }
        tx.prepare_cached("DELETE FROM movie_fts WHERE rowid = ?1")?
            .execute([id])?;
    }
    tx.prepare_cached("INSERT INTO movie_fts (rowid, titles, people, genres, overview) VALUES (?1, ?2, ?3, ?4, ?5)")?
        .execute(params![id, fields[0], fields[1], fields[2], fields[3]])?;
    let old_terms = old.map(spell_terms).unwrap_or_default();
    let mut bump = tx.prepare_cached(
        "INSERT INTO spell_terms (term, df) VALUES (?1, 1) ON CONFLICT(term) DO UPDATE SET df = df + 1",
    )?;
    for term in spell_terms(m).difference(&old_terms) {
        bump.execute([term])?;
    }
    Ok(())
}

pub(crate) const MOVIE_COLUMNS: &str = r#"m.key, m.title, m.title_ko, m.original_title, m.year, m.runtime,
    (SELECT json_group_array(genre) FROM (SELECT genre FROM movie_genres g WHERE g.movie_id = m.id ORDER BY position)),
    m.directors, m."cast", m.overview, m.overview_ko, m.imdb_id, m.wikipedia, m.tmdb_id, m.poster_url, m.popularity"#;

pub(crate) fn row_to_movie(r: &rusqlite::Row<'_>) -> rusqlite::Result<Movie> {
    row_to_movie_at(r, 0)
}

/// Reads the [`MOVIE_COLUMNS`] starting at column `at`.
pub(crate) fn row_to_movie_at(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<Movie> {
    Ok(Movie {
        key: r.get(at)?,
        title: r.get(at + 1)?,
        title_ko: r.get(at + 2)?,
        original_title: r.get(at + 3)?,
        year: r.get(at + 4)?,
        runtime: r.get(at + 5)?,
        genres: parse_list(r, at + 6)?,
        directors: parse_list(r, at + 7)?,
        cast: parse_list(r, at + 8)?,
        overview: r.get(at + 9)?,
        overview_ko: r.get(at + 10)?,
        imdb_id: r.get(at + 11)?,
        wikipedia: r.get(at + 12)?,
        tmdb_id: r.get(at + 13)?,
        poster_url: r.get(at + 14)?,
        popularity: r.get(at + 15)?,
    })
}

fn parse_list(r: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Vec<String>> {
    let text: String = r.get(idx)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(idx, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).expect("a list of strings always serialises")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn film(title: &str, year: i32) -> Movie {
        Movie::new(title, Some(year))
    }

    #[test]
    fn another_source_fills_gaps_but_never_overwrites() {
        let mut starter = film("Parasite", 2019);
        starter.title_ko = Some("기생충".into());
        starter.overview = Some("short".into());
        let mut wiki = film("Parasite", 2019);
        wiki.overview = Some("long plot".into());
        wiki.cast = vec!["Song Kang-ho".into()];
        let merged = merge(&starter, "starter", &wiki, Source::Wikipedia);
        assert_eq!(merged.overview.as_deref(), Some("short"));
        assert_eq!(merged.title_ko.as_deref(), Some("기생충"));
        assert_eq!(merged.cast, vec!["Song Kang-ho".to_owned()]);
    }

    #[test]
    fn the_owning_source_replaces_its_row() {
        let mut old = film("Heat", 1995);
        old.cast = vec!["Al Pacino".into()];
        let mut new = film("Heat", 1995);
        new.cast = vec!["Robert De Niro".into()];
        assert_eq!(
            merge(&old, "wikipedia", &new, Source::Wikipedia).cast,
            vec!["Robert De Niro".to_owned()]
        );
    }
}
