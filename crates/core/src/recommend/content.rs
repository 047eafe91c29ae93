//! The content index: one sparse, L2-normalised TF-IDF vector per film over its title words,
//! directors, leading cast, genres, decade and plot words (English words; Korean bigrams),
//! persisted in SQLite (`rec_features`, `rec_vectors`) and loaded into an inverted index for
//! scoring.
//!
//! Each kind of feature has its own weight, chosen by the offline evaluation
//! (`docs/recommendations.md`): a shared director or title word says far more about two films
//! than a shared plot word. A vector keeps its [`MAX_FEATURES`] heaviest features, which bounds
//! memory and scoring time on large catalogs.

use std::collections::HashMap;

use rusqlite::params;

use crate::catalog::{Catalog, MOVIE_COLUMNS, row_to_movie_at};
use crate::error::Result;
use crate::import::Progress;
use crate::movie::Movie;
use crate::text::{Token, hangul_bigrams, tokens};

/// Features kept per film.
pub const MAX_FEATURES: usize = 48;
/// Plot words kept per film before weighting (the most frequent in its synopsis).
const MAX_PLOT_WORDS: usize = 40;

/// Share of the title weight each Hangul bigram of a Korean title gets. A film with a Korean
/// title has its title twice (the English words and the Korean bigrams, and a three-syllable
/// word makes two bigrams): at full weight the Korean title alone outweighed director and cast,
/// and The Dark Knight's nearest films were other "knight" titles rather than Batman Begins.
const HANGUL_TITLE: f32 = 0.5;

/// Weight of each kind of feature, before IDF.
#[derive(Debug, Clone, Copy)]
pub struct FeatureWeights {
    pub title: f32,
    pub director: f32,
    pub cast: f32,
    pub genre: f32,
    pub decade: f32,
    pub plot: f32,
}

impl Default for FeatureWeights {
    fn default() -> Self {
        FeatureWeights {
            title: 1.5,
            director: 2.0,
            cast: 1.2,
            genre: 1.0,
            decade: 0.6,
            plot: 0.8,
        }
    }
}

/// Words that say nothing about which films are alike.
const STOP: &[&str] = &[
    "the", "a", "an", "of", "and", "in", "on", "to", "at", "for", "by", "with", "from", "is",
    "was", "are", "were", "be", "been", "his", "her", "their", "its", "it", "he", "she", "they",
    "him", "them", "who", "whom", "which", "that", "this", "these", "those", "as", "but", "or",
    "not", "no", "after", "before", "into", "when", "while", "where", "film", "films", "movie",
    "story", "american", "directed", "stars", "starring", "written", "produced", "based",
    "released", "also", "one", "two", "part", "ii", "iii", "iv", "v", "vi", "chapter", "episode",
    "has", "had", "have", "about", "than", "then", "there", "what", "all", "out", "up", "new",
    "first", "only", "other", "over", "more",
];

fn useful(word: &str) -> bool {
    word.chars().count() >= 3 && !STOP.contains(&word) && !word.chars().all(|c| c.is_ascii_digit())
}

/// The raw (pre-IDF) features of a film: name → weight.
pub fn raw_features(m: &Movie, w: &FeatureWeights) -> HashMap<String, f32> {
    let mut f: HashMap<String, f32> = HashMap::new();
    let mut put = |name: String, weight: f32| {
        let e = f.entry(name).or_insert(0.0);
        *e = e.max(weight);
    };
    for title in [
        Some(&m.title),
        m.original_title.as_ref(),
        m.title_ko.as_ref(),
    ]
    .into_iter()
    .flatten()
    {
        for t in tokens(title) {
            match t {
                Token::Word(word) if useful(&word) => put(format!("t:{word}"), w.title),
                Token::Hangul(run) => {
                    for g in hangul_bigrams(&run) {
                        put(format!("t:{g}"), w.title * HANGUL_TITLE);
                    }
                }
                _ => {}
            }
        }
    }
    for d in &m.directors {
        put(format!("d:{}", crate::text::fold(d)), w.director);
    }
    for (i, c) in m.cast.iter().take(6).enumerate() {
        // Leads count more than the fifth name on the poster.
        put(
            format!("c:{}", crate::text::fold(c)),
            w.cast * (1.0 - 0.1 * i as f32),
        );
    }
    for g in &m.genres {
        put(format!("g:{}", crate::text::fold(g)), w.genre);
    }
    if let Some(y) = m.year {
        put(format!("y:{}", y / 10 * 10), w.decade);
    }
    let mut counts: HashMap<String, u32> = HashMap::new();
    for text in [m.overview.as_ref(), m.overview_ko.as_ref()]
        .into_iter()
        .flatten()
    {
        for t in tokens(text) {
            match t {
                Token::Word(word) if useful(&word) => *counts.entry(word).or_default() += 1,
                Token::Hangul(run) if run.chars().count() >= 2 => {
                    for g in hangul_bigrams(&run) {
                        *counts.entry(g).or_default() += 1;
                    }
                }
                _ => {}
            }
        }
    }
    let mut words: Vec<(String, u32)> = counts.into_iter().collect();
    words.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for (word, n) in words.into_iter().take(MAX_PLOT_WORDS) {
        // Sublinear term frequency.
        put(format!("w:{word}"), w.plot * (1.0 + (n as f32).ln()));
    }
    f
}

/// A sparse unit vector: (feature id, weight), sorted by feature id.
pub type Vector = Vec<(u32, f32)>;

/// Cosine of two unit vectors.
pub fn dot(a: &[(u32, f32)], b: &[(u32, f32)]) -> f32 {
    let (mut i, mut j, mut s) = (0, 0, 0.0);
    while i < a.len() && j < b.len() {
        match a[i].0.cmp(&b[j].0) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                s += a[i].1 * b[j].1;
                i += 1;
                j += 1;
            }
        }
    }
    s
}

/// One vector at a time spread out over every feature, so that its cosine with another vector
/// is one look-up per feature of that vector: the same sum, in the same order, as [`dot`]. For
/// comparing one film with many.
pub(crate) struct Spread(Vec<f32>);

impl Spread {
    /// Room for every feature of `vectors` (each sorted by feature: its last entry holds its
    /// largest).
    pub(crate) fn for_vectors<'a>(vectors: impl IntoIterator<Item = &'a [(u32, f32)]>) -> Spread {
        let dims = vectors
            .into_iter()
            .filter_map(|v| v.last())
            .map(|(f, _)| *f as usize + 1)
            .max()
            .unwrap_or(0);
        Spread(vec![0.0; dims])
    }

    /// Runs `f` with `v` spread out (one of the vectors room was made for).
    pub(crate) fn with<R>(&mut self, v: &[(u32, f32)], f: impl FnOnce(&Spread) -> R) -> R {
        for (feature, w) in v {
            self.0[*feature as usize] = *w;
        }
        let out = f(self);
        for (feature, _) in v {
            self.0[*feature as usize] = 0.0;
        }
        out
    }

    /// The cosine of the vector spread out with `other`.
    pub(crate) fn dot(&self, other: &[(u32, f32)]) -> f32 {
        let mut s = 0.0f32;
        for (feature, w) in other {
            s += self.0[*feature as usize] * w;
        }
        s
    }
}

fn pack(v: &[(u32, f32)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(v.len() * 8);
    for (f, w) in v {
        out.extend_from_slice(&f.to_le_bytes());
        out.extend_from_slice(&w.to_le_bytes());
    }
    out
}

fn unpack_into(bytes: &[u8], out: &mut Vec<(u32, f32)>) {
    out.extend(bytes.chunks_exact(8).map(|c| {
        (
            u32::from_le_bytes([c[0], c[1], c[2], c[3]]),
            f32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        )
    }));
}

/// How well known a film probably is, judged from the catalog alone, in 0..1: how many cast
/// members and how much plot text its source lists (well-known films have fuller credits and
/// longer articles), and whether it is in the hand-picked starter catalog. The prior when there
/// is no community data, so that a taste match on an obscure film does not outrank the same
/// match on a film people have heard of.
pub fn notability(m: &Movie, starter: bool) -> f32 {
    let cast = (m.cast.len().min(20) as f32).ln_1p() / 21f32.ln();
    let chars = [m.overview.as_ref(), m.overview_ko.as_ref()]
        .into_iter()
        .flatten()
        .map(|o| o.chars().count())
        .max()
        .unwrap_or(0);
    let plot = ((chars as f32).ln_1p() / 5001f32.ln()).min(1.0);
    0.4 * cast + 0.4 * plot + if starter { 0.2 } else { 0.0 }
}

/// Builds the content index for every film and stores it, replacing the old one. `progress`
/// hears how far it is: every film read, then every film's vector written (`total` is twice
/// the films).
pub fn build(
    catalog: &mut Catalog,
    weights: &FeatureWeights,
    progress: &mut dyn FnMut(Progress),
) -> Result<usize> {
    let generation = catalog.generation()?;
    let count: i64 = catalog
        .conn
        .query_row("SELECT count(*) FROM movies", [], |r| r.get(0))?;
    let total = 2 * count.max(0) as u64;
    let mut done = 0u64;
    let mut step = |progress: &mut dyn FnMut(Progress)| {
        done += 1;
        if done.is_multiple_of(PROGRESS_EVERY) && done < total {
            progress(Progress { done, total });
        }
    };
    // Feature ids in first-seen order and their document frequencies for IDF; each film's
    // features are kept by id (not by name) while the catalog is read, which keeps memory low.
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut df: Vec<u32> = Vec::new();
    // (row id, year, notability, raw features)
    type Film = (i64, Option<i32>, f32, Vec<(u32, f32)>);
    let mut films: Vec<Film> = Vec::new();
    {
        let mut stmt = catalog.conn.prepare(&format!(
            "SELECT m.id, m.source = 'starter', {MOVIE_COLUMNS} FROM movies m"
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let movie = row_to_movie_at(r, 2)?;
            let features = raw_features(&movie, weights)
                .into_iter()
                .map(|(name, w)| {
                    let next = ids.len() as u32;
                    let f = *ids.entry(name).or_insert(next);
                    if f == next {
                        df.push(0);
                    }
                    df[f as usize] += 1;
                    (f, w)
                })
                .collect();
            films.push((id, movie.year, notability(&movie, r.get(1)?), features));
            step(progress);
        }
    }
    let n = films.len().max(1) as f32;
    let tx = catalog.conn.transaction()?;
    tx.execute("DELETE FROM rec_vectors", [])?;
    tx.execute("DELETE FROM rec_features", [])?;
    {
        let mut put_feature = tx.prepare("INSERT INTO rec_features (id, name) VALUES (?1, ?2)")?;
        for (name, id) in &ids {
            put_feature.execute(params![*id as i64, name])?;
        }
        let mut put_vector = tx.prepare(
            "INSERT INTO rec_vectors (movie_id, vector, year, notability) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for (movie_id, year, notability, features) in &films {
            let mut v: Vector = features
                .iter()
                .filter_map(|(id, w)| {
                    let d = df[*id as usize];
                    // A feature only one film has cannot relate it to another.
                    (d > 1).then(|| (*id, w * (1.0 + (n / d as f32).ln())))
                })
                .collect();
            v.sort_by(|a, b| b.1.total_cmp(&a.1));
            v.truncate(MAX_FEATURES);
            let norm = v.iter().map(|(_, w)| w * w).sum::<f32>().sqrt();
            if norm > 0.0 {
                v.iter_mut().for_each(|(_, w)| *w /= norm);
            }
            v.sort_by_key(|(id, _)| *id);
            put_vector.execute(params![movie_id, pack(&v), year, *notability as f64])?;
            step(progress);
        }
    }
    tx.execute(
        "INSERT INTO derived_state (name, generation) VALUES ('content', ?1)
         ON CONFLICT(name) DO UPDATE SET generation = excluded.generation",
        [generation],
    )?;
    tx.commit()?;
    progress(Progress { done: total, total });
    Ok(films.len())
}

/// How many films' steps pass between two progress reports.
const PROGRESS_EVERY: u64 = 1_000;

/// True when the stored content index was built from the catalog as it is now.
pub fn is_current(catalog: &Catalog) -> Result<bool> {
    use rusqlite::OptionalExtension;
    let built: Option<i64> = catalog
        .conn
        .query_row(
            "SELECT generation FROM derived_state WHERE name = 'content'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(built == Some(catalog.generation()?))
}

/// The content index in memory: vectors by film and an inverted index by feature, each held
/// in one flat array with offsets (compressed sparse rows) — two large allocations instead of
/// one small one per film and per feature, which at 36k films halved the index's share of the
/// app's memory and gives it back to the system whole when the recommender is dropped.
#[derive(Debug, Default)]
pub struct ContentIndex {
    /// Film row ids, index = dense film number.
    pub ids: Vec<i64>,
    pub by_id: HashMap<i64, u32>,
    /// Film `n`'s vector is `vector_entries[vector_starts[n]..vector_starts[n + 1]]`.
    vector_starts: Vec<u32>,
    vector_entries: Vec<(u32, f32)>,
    /// Release year of each film (dense film number).
    pub years: Vec<Option<i32>>,
    /// [`notability`] of each film (dense film number).
    pub notability: Vec<f32>,
    /// Feature `f`'s films and weights, by dense film number:
    /// `posting_entries[posting_starts[f]..posting_starts[f + 1]]`.
    posting_starts: Vec<u32>,
    posting_entries: Vec<(u32, f32)>,
}

impl ContentIndex {
    /// Loads the stored index.
    pub fn load(catalog: &Catalog) -> Result<Self> {
        let films: usize = catalog
            .conn
            .query_row("SELECT count(*) FROM rec_vectors", [], |r| {
                r.get::<_, i64>(0)
            })?
            .try_into()
            .unwrap_or(0);
        let mut idx = ContentIndex {
            ids: Vec::with_capacity(films),
            by_id: HashMap::with_capacity(films),
            vector_starts: Vec::with_capacity(films + 1),
            years: Vec::with_capacity(films),
            notability: Vec::with_capacity(films),
            ..Default::default()
        };
        let mut stmt = catalog
            .conn
            .prepare("SELECT movie_id, vector, year, notability FROM rec_vectors")?;
        let mut rows = stmt.query([])?;
        idx.vector_starts.push(0);
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            unpack_into(
                r.get_ref(1)?.as_blob().map_err(rusqlite::Error::from)?,
                &mut idx.vector_entries,
            );
            idx.vector_starts.push(idx.vector_entries.len() as u32);
            idx.by_id.insert(id, idx.ids.len() as u32);
            idx.ids.push(id);
            idx.years.push(r.get(2)?);
            idx.notability.push(r.get::<_, f64>(3)? as f32);
        }
        idx.vector_entries.shrink_to_fit();
        // The inverted index: count each feature's films, then place them, in film order.
        let features = idx
            .vector_entries
            .iter()
            .map(|(f, _)| *f as usize + 1)
            .max()
            .unwrap_or(0);
        let mut starts = vec![0u32; features + 1];
        for (f, _) in &idx.vector_entries {
            starts[*f as usize + 1] += 1;
        }
        for f in 0..features {
            starts[f + 1] += starts[f];
        }
        let mut next = starts.clone();
        let mut postings = vec![(0, 0.0); idx.vector_entries.len()];
        for n in 0..idx.ids.len() {
            for (f, w) in idx.vector(n as u32) {
                let at = &mut next[*f as usize];
                postings[*at as usize] = (n as u32, *w);
                *at += 1;
            }
        }
        idx.posting_entries = postings;
        idx.posting_starts = starts;
        Ok(idx)
    }

    /// Film `n`'s vector (`n` a dense film number).
    pub fn vector(&self, n: u32) -> &[(u32, f32)] {
        let n = n as usize;
        &self.vector_entries[self.vector_starts[n] as usize..self.vector_starts[n + 1] as usize]
    }

    /// The films holding feature `f`, with their weights; empty for an unknown feature.
    pub fn posting(&self, f: u32) -> &[(u32, f32)] {
        let f = f as usize;
        match (self.posting_starts.get(f), self.posting_starts.get(f + 1)) {
            (Some(a), Some(b)) => &self.posting_entries[*a as usize..*b as usize],
            _ => &[],
        }
    }

    /// Dot products of `query` with every film sharing a feature, into `scores` (length = films).
    pub fn score_into(&self, query: &[(u32, f32)], scores: &mut [f32], touched: &mut Vec<u32>) {
        for (f, qw) in query {
            for (n, w) in self.posting(*f) {
                let s = &mut scores[*n as usize];
                if *s == 0.0 {
                    touched.push(*n);
                }
                *s += qw * w;
            }
        }
    }
}
