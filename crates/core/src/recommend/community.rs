//! The community signal: everyone's ratings as (user, film, stars) triples — from the relay in
//! production, from a CSV file (`user,title,year,rating`) to bootstrap a community or evaluate —
//! turned into item-to-item neighbours (cosine over co-rating users), cached in SQLite
//! so it works offline.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::params;

use crate::catalog::Catalog;
use crate::error::{CoreError, Result};
use crate::movie::movie_key;

/// Neighbours kept per film.
pub const NEIGHBORS: usize = 50;
/// Users two films must share before their similarity counts.
pub const MIN_CO_RATERS: usize = 3;

/// What a community-ratings import did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CommunityReport {
    pub rows: u64,
    pub stored: u64,
    /// Rows whose film is not in the catalog: (line, title, year).
    pub unmatched: Vec<(u64, String, Option<i32>)>,
}

/// Reads `user,title,year,rating` rows (a header line is allowed) and stores them, replacing
/// earlier ratings by the same user of the same film; then rebuilds the neighbours. A malformed
/// row stops the import with its line number and stores nothing.
pub fn import_csv(catalog: &mut Catalog, path: &Path) -> Result<CommunityReport> {
    let bytes = std::fs::read(path).map_err(|source| CoreError::DataDir {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(false)
        .from_reader(bytes.as_slice());
    let mut rows: Vec<(String, i64, f64)> = Vec::new();
    let mut report = CommunityReport::default();
    for (i, record) in reader.byte_records().enumerate() {
        let line = i as u64 + 1;
        let bad = |msg: String| {
            CoreError::InvalidInput(format!("{}, line {line}: {msg}", path.display()))
        };
        let record = record.map_err(|e| bad(e.to_string()))?;
        let field = |n: usize| -> Result<&str> {
            let raw = record.get(n).ok_or_else(|| {
                bad(format!(
                    "expected 4 columns (user,title,year,rating), got {}",
                    record.len()
                ))
            })?;
            std::str::from_utf8(raw)
                .map(str::trim)
                .map_err(|_| bad("not UTF-8".into()))
        };
        if record.len() != 4 {
            return Err(bad(format!(
                "expected 4 columns (user,title,year,rating), got {}",
                record.len()
            )));
        }
        if line == 1 && field(0)?.eq_ignore_ascii_case("user") {
            continue;
        }
        report.rows += 1;
        let (user, title, year, rating) = (field(0)?, field(1)?, field(2)?, field(3)?);
        if user.is_empty() || title.is_empty() {
            return Err(bad("user and title must not be empty".into()));
        }
        let year: Option<i32> = if year.is_empty() {
            None
        } else {
            Some(
                year.parse()
                    .map_err(|_| bad(format!("year {year:?} is not a number")))?,
            )
        };
        let stars: f64 = rating
            .parse()
            .map_err(|_| bad(format!("rating {rating:?} is not a number")))?;
        if !(0.5..=5.0).contains(&stars) {
            return Err(bad(format!("rating {stars} is outside 0.5..5")));
        }
        match catalog.movie_id(&movie_key(title, year))? {
            Some(id) => rows.push((user.to_owned(), id, stars)),
            None => report.unmatched.push((line, title.to_owned(), year)),
        }
    }
    let tx = catalog.conn.transaction()?;
    {
        let mut put = tx.prepare(
            "INSERT INTO community_ratings (user, movie_id, stars) VALUES (?1, ?2, ?3)
             ON CONFLICT(user, movie_id) DO UPDATE SET stars = excluded.stars",
        )?;
        for (user, id, stars) in &rows {
            put.execute(params![user, id, stars])?;
        }
    }
    tx.commit()?;
    report.stored = rows.len() as u64;
    rebuild(catalog)?;
    Ok(report)
}

/// Stores triples given directly (the relay's feed, tests, evaluation) and rebuilds.
pub fn store(catalog: &mut Catalog, triples: &[(String, i64, f64)]) -> Result<()> {
    let tx = catalog.conn.transaction()?;
    {
        let mut put = tx.prepare(
            "INSERT INTO community_ratings (user, movie_id, stars) VALUES (?1, ?2, ?3)
             ON CONFLICT(user, movie_id) DO UPDATE SET stars = excluded.stars",
        )?;
        for (user, id, stars) in triples {
            put.execute(params![user, id, stars])?;
        }
    }
    tx.commit()?;
    rebuild(catalog)
}

/// Recomputes the item-to-item neighbours from all community ratings.
pub fn rebuild(catalog: &mut Catalog) -> Result<()> {
    // user → [(film, stars)]
    let mut by_user: HashMap<String, Vec<(i64, f32)>> = HashMap::new();
    {
        let mut stmt = catalog
            .conn
            .prepare("SELECT user, movie_id, stars FROM community_ratings")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            by_user
                .entry(r.get(0)?)
                .or_default()
                .push((r.get(1)?, r.get::<_, f64>(2)? as f32));
        }
    }
    let neighbors = neighbors(by_user.into_values().collect());
    let tx = catalog.conn.transaction()?;
    tx.execute("DELETE FROM cf_neighbors", [])?;
    {
        let mut put = tx.prepare(
            "INSERT INTO cf_neighbors (movie_id, neighbor_id, similarity) VALUES (?1, ?2, ?3)",
        )?;
        for (a, list) in &neighbors {
            for (b, s) in list {
                put.execute(params![a, b, *s as f64])?;
            }
        }
    }
    tx.commit()?;
    Ok(())
}

/// Cosine neighbours over the films' star vectors (one dimension per user who rated them),
/// over the users who rated both, keeping positive similarities.
///
/// The stars are not centred on each user's mean (adjusted cosine): centring measures whether
/// two films get the same *marks*, which suits predicting a rating but ranks poorly, while the
/// plain cosine also says that the same people *watch* both films — what a top-10 list has to
/// get right. On the MovieLens evaluation this doubled the hit rate of the community signal
/// (`docs/recommendations.md`).
pub fn neighbors(users: Vec<Vec<(i64, f32)>>) -> HashMap<i64, Vec<(i64, f32)>> {
    let mut dots: HashMap<(i64, i64), (f32, u32)> = HashMap::new();
    let mut norms: HashMap<i64, f32> = HashMap::new();
    for ratings in users {
        for (i, (a, x)) in ratings.iter().enumerate() {
            *norms.entry(*a).or_default() += x * x;
            for (b, y) in &ratings[i + 1..] {
                let key = if a < b { (*a, *b) } else { (*b, *a) };
                let e = dots.entry(key).or_default();
                e.0 += x * y;
                e.1 += 1;
            }
        }
    }
    let mut out: HashMap<i64, Vec<(i64, f32)>> = HashMap::new();
    for ((a, b), (dot, n)) in dots {
        if (n as usize) < MIN_CO_RATERS {
            continue;
        }
        let denom = (norms[&a] * norms[&b]).sqrt();
        if denom <= 0.0 {
            continue;
        }
        let s = dot / denom;
        if s > 0.0 {
            out.entry(a).or_default().push((b, s));
            out.entry(b).or_default().push((a, s));
        }
    }
    for list in out.values_mut() {
        list.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        list.truncate(NEIGHBORS);
    }
    out
}

/// The community signal in memory.
#[derive(Debug, Default)]
pub struct CommunityIndex {
    pub neighbors: HashMap<i64, Vec<(i64, f32)>>,
    /// film → (ratings, mean stars)
    pub stats: HashMap<i64, (u32, f32)>,
}

impl CommunityIndex {
    pub fn load(catalog: &Catalog) -> Result<Self> {
        let mut idx = CommunityIndex::default();
        let mut stmt = catalog
            .conn
            .prepare("SELECT movie_id, neighbor_id, similarity FROM cf_neighbors")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            idx.neighbors
                .entry(r.get(0)?)
                .or_default()
                .push((r.get(1)?, r.get::<_, f64>(2)? as f32));
        }
        let mut stmt = catalog.conn.prepare(
            "SELECT movie_id, count(*), avg(stars) FROM community_ratings GROUP BY movie_id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            idx.stats.insert(
                r.get(0)?,
                (r.get::<_, i64>(1)? as u32, r.get::<_, f64>(2)? as f32),
            );
        }
        Ok(idx)
    }

    pub fn is_empty(&self) -> bool {
        self.stats.is_empty()
    }
}
