//! The community signal: everyone's ratings as (user, film, stars) triples — from the relay in
//! production, from a CSV file (`user,title,year,rating`) to bootstrap a community or evaluate —
//! turned into item-to-item weights by EASE ([`super::ease`]) over who rated what, cached in
//! SQLite (`cf_neighbors`, the strongest [`NEIGHBORS`] weights of each film) so it works
//! offline.

use std::collections::HashMap;
use std::path::Path;

use rusqlite::params;

use super::ease::{Ease, EaseParams};
use crate::catalog::Catalog;
use crate::error::{CoreError, Result};
use crate::movie::movie_key;

/// Weights kept per film (those of largest magnitude).
pub const NEIGHBORS: usize = 100;

/// The EASE fit of the community signal, chosen on the MovieLens validation protocol
/// (`docs/recommendations.md`): λ = 4 × the mean number of raters of a film (≈ 290 there;
/// 2× and 8× within noise; a fixed λ would drown a small community); films need 3 ratings; the
/// 3,000 most-rated films at most, which bounds the dense inverse (`n³/2` multiply-adds, two
/// `n²/2` triangles of `f64` in memory: 72 MB at 3,000).
pub const EASE: EaseParams = EaseParams {
    lambda: 4.0,
    min_raters: 3,
    max_items: 3000,
};

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

/// Recomputes the item-to-item weights from all community ratings.
pub fn rebuild(catalog: &mut Catalog) -> Result<()> {
    // user → [film]
    let mut by_user: HashMap<String, Vec<i64>> = HashMap::new();
    {
        let mut stmt = catalog
            .conn
            .prepare("SELECT user, movie_id FROM community_ratings")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            by_user.entry(r.get(0)?).or_default().push(r.get(1)?);
        }
    }
    let started = std::time::Instant::now();
    let users: Vec<Vec<i64>> = by_user.into_values().collect();
    let weights = weights(users);
    tracing::info!(films = weights.len(), elapsed = ?started.elapsed(), "community weights fitted");
    let generation = catalog.generation()?;
    let tx = catalog.conn.transaction()?;
    tx.execute("DELETE FROM cf_neighbors", [])?;
    {
        let mut put = tx.prepare(
            "INSERT INTO cf_neighbors (movie_id, neighbor_id, similarity) VALUES (?1, ?2, ?3)",
        )?;
        for (a, list) in &weights {
            for (b, s) in list {
                put.execute(params![a, b, *s as f64])?;
            }
        }
    }
    tx.execute(
        "INSERT INTO derived_state (name, generation) VALUES ('community', ?1)
         ON CONFLICT(name) DO UPDATE SET generation = excluded.generation",
        [generation],
    )?;
    tx.commit()?;
    Ok(())
}

/// True when the stored weights were built by this version from the stored ratings (false
/// after the upgrade from cosine neighbours, which dropped them).
pub fn is_current(catalog: &Catalog) -> Result<bool> {
    let built: bool = catalog.conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM derived_state WHERE name = 'community')
             OR NOT EXISTS (SELECT 1 FROM community_ratings)",
        [],
        |r| r.get(0),
    )?;
    Ok(built)
}

/// EASE weights from who rated what: each user's films (the stars are not used: that a user
/// chose to watch two films is what a top-10 list has to predict, and on the MovieLens
/// evaluation binary rows beat star values clearly — `docs/recommendations.md`). For each film
/// the [`NEIGHBORS`] weights of largest magnitude, as (other film, weight): positive when
/// having rated the film speaks for the other one, negative when against. Empty when no film
/// has [`EASE`]`.min_raters` ratings.
///
/// A user's score for a film is then Σ over the films they rated of their taste weight × the
/// weight; unlike cosine neighbours, the weights are fitted jointly, so a film that goes with
/// everything (a blockbuster) is not counted once per film it goes with.
pub fn weights(users: Vec<Vec<i64>>) -> HashMap<i64, Vec<(i64, f32)>> {
    let binary: Vec<Vec<(i64, f32)>> = users
        .into_iter()
        .map(|u| u.into_iter().map(|f| (f, 1.0)).collect())
        .collect();
    let Some(model) = Ease::fit(&binary, &EASE) else {
        return HashMap::new();
    };
    model
        .items
        .iter()
        .enumerate()
        .map(|(i, f)| (*f, model.row(i, NEIGHBORS)))
        .filter(|(_, row)| !row.is_empty())
        .collect()
}

/// The community signal in memory.
#[derive(Debug, Default)]
pub struct CommunityIndex {
    /// film → (other film, EASE weight): how much having rated the film speaks for the other.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_weights_are_rebuilt_from_the_stored_ratings() {
        let dir = tempfile::tempdir().unwrap();
        let mut catalog = Catalog::open(&dir.path().join("movietalk.sqlite3")).unwrap();
        catalog.seed_if_empty().unwrap();
        let ids: Vec<i64> = [
            "spirited-away-2001",
            "past-lives-2023",
            "the-godfather-1972",
        ]
        .iter()
        .map(|k| catalog.movie_id(k).unwrap().unwrap())
        .collect();
        let mut triples = Vec::new();
        for u in 0..10 {
            for (i, id) in ids.iter().enumerate() {
                if (u + i) % 3 != 0 {
                    triples.push((format!("u{u}"), *id, 4.0));
                }
            }
        }
        store(&mut catalog, &triples).unwrap();
        let count = |c: &Catalog| -> i64 {
            c.conn
                .query_row("SELECT count(*) FROM cf_neighbors", [], |r| r.get(0))
                .unwrap()
        };
        let built = count(&catalog);
        assert_eq!(built, 6, "every pair of the three films, both ways");
        assert!(is_current(&catalog).unwrap());
        // As after the upgrade from cosine neighbours (the migration drops them).
        catalog
            .conn
            .execute_batch(
                "DELETE FROM cf_neighbors; DELETE FROM derived_state WHERE name = 'community';",
            )
            .unwrap();
        assert!(!is_current(&catalog).unwrap());
        let rec = catalog.recommender().unwrap();
        assert_eq!(count(&catalog), built);
        assert_eq!(rec.community.neighbors.len(), 3);
        assert!(is_current(&catalog).unwrap());
    }
}
