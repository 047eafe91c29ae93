//! The community signal: the community model ([`movietalk_community::Model`]) — per film, how
//! many people rated it, their mean, and its strongest EASE weights to other films — stored in
//! SQLite (`community_stats`, `cf_neighbors`) so it works offline. In production it comes from
//! the relay ([`store_model`], by `crate::sync`); a CSV file of `user,title,year,rating` rows
//! ([`import_csv`]) or triples ([`store`]) build the same model here, for a community without
//! a relay and for the evaluation.

use std::collections::HashMap;
use std::path::Path;

use movietalk_community::{Model, ratings_file};
use rusqlite::params;

use crate::catalog::Catalog;
use crate::error::{CoreError, Result};

pub use movietalk_community::NEIGHBORS;

/// What a community-ratings import did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct CommunityReport {
    pub rows: u64,
    pub stored: u64,
    /// Rows whose film is not in the catalog: (line, title, year).
    pub unmatched: Vec<(u64, String, Option<i32>)>,
}

/// Reads a file of `user,title,year,rating` rows
/// ([`movietalk_community::ratings_file`]) and stores them, replacing earlier ratings by the
/// same user of the same film; then rebuilds the model. Films are matched as the relay's
/// `import-ratings` matches them. A malformed row stops the import with its line number and
/// stores nothing.
pub fn import_csv(catalog: &mut Catalog, path: &Path) -> Result<CommunityReport> {
    let rows = ratings_file::read(path).map_err(|e| CoreError::InvalidInput(e.to_string()))?;
    let keys: HashMap<String, i64> = {
        let mut stmt = catalog.conn.prepare("SELECT key, id FROM movies")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    let mut report = CommunityReport {
        rows: rows.len() as u64,
        ..CommunityReport::default()
    };
    let mut triples: Vec<(String, i64, f64)> = Vec::with_capacity(rows.len());
    for row in rows {
        match ratings_file::match_film(&row.title, row.year, |k| keys.get(k).copied()) {
            Some(id) => triples.push((row.user, id, f64::from(row.stars))),
            None => report.unmatched.push((row.line, row.title, row.year)),
        }
    }
    report.stored = triples.len() as u64;
    store(catalog, &triples)?;
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

/// Rebuilds the model from all community ratings stored here.
pub fn rebuild(catalog: &mut Catalog) -> Result<()> {
    let mut ratings: Vec<(String, i64, f32)> = Vec::new();
    {
        let mut stmt = catalog
            .conn
            .prepare("SELECT user, movie_id, stars FROM community_ratings")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            ratings.push((r.get(0)?, r.get(1)?, r.get::<_, f64>(2)? as f32));
        }
    }
    let started = std::time::Instant::now();
    let model = Model::build(ratings);
    tracing::info!(films = model.films.len(), elapsed = ?started.elapsed(), "community model built");
    save(catalog, &model, None)
}

/// Keeps the relay's model (version `version`): its films this catalog holds, by key. The
/// films the catalog lacks are left out; [`model_version`] asks for the whole model again once
/// the catalog changed.
pub fn store_model(catalog: &mut Catalog, model: &Model<String>, version: u64) -> Result<usize> {
    let mut ids: HashMap<&str, i64> = HashMap::with_capacity(model.films.len());
    for film in &model.films {
        if let Some(id) = catalog.movie_id(&film.key)? {
            ids.insert(&film.key, id);
        }
    }
    let mapped = model.map_keys(|key| ids.get(key.as_str()).copied());
    save(catalog, &mapped, Some(version))?;
    Ok(mapped.films.len())
}

/// The version of the relay's model kept here, while the catalog is the one it was matched
/// against (`None` also when the model was built here).
pub fn model_version(catalog: &Catalog) -> Result<Option<u64>> {
    let Some(kept) = crate::sync::state_get(&catalog.conn, "community_model")? else {
        return Ok(None);
    };
    let generation = catalog.generation()?;
    Ok(kept
        .split_once(':')
        .filter(|(_, g)| g.parse::<i64>().ok() == Some(generation))
        .and_then(|(v, _)| v.parse().ok()))
}

/// Moves each time the stored model is replaced: what the recommender in memory and home's
/// picks were made with.
pub fn stamp(catalog: &Catalog) -> Result<u64> {
    Ok(crate::sync::state_get(&catalog.conn, "community_built")?
        .and_then(|n| n.parse().ok())
        .unwrap_or(0))
}

/// Replaces the stored model with `model` (keyed by movie id): the relay's version
/// `relay_version`, or (`None`) one built here.
fn save(catalog: &mut Catalog, model: &Model<i64>, relay_version: Option<u64>) -> Result<()> {
    let generation = catalog.generation()?;
    let tx = catalog.conn.transaction()?;
    tx.execute_batch("DELETE FROM cf_neighbors; DELETE FROM community_stats;")?;
    {
        let mut stat =
            tx.prepare("INSERT INTO community_stats (movie_id, raters, mean) VALUES (?1, ?2, ?3)")?;
        let mut put = tx.prepare(
            "INSERT INTO cf_neighbors (movie_id, neighbor_id, similarity) VALUES (?1, ?2, ?3)",
        )?;
        for film in &model.films {
            stat.execute(params![film.key, film.raters, f64::from(film.mean)])?;
            for (j, w) in film.weights() {
                put.execute(params![film.key, model.films[j as usize].key, f64::from(w)])?;
            }
        }
    }
    tx.execute(
        "INSERT INTO derived_state (name, generation) VALUES ('community', ?1)
         ON CONFLICT(name) DO UPDATE SET generation = excluded.generation",
        [generation],
    )?;
    match relay_version {
        Some(v) => crate::sync::state_set(&tx, "community_model", &format!("{v}:{generation}"))?,
        None => {
            tx.execute("DELETE FROM sync_state WHERE name = 'community_model'", [])?;
        }
    }
    let built = crate::sync::state_get(&tx, "community_built")?
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    crate::sync::state_set(&tx, "community_built", &(built + 1).to_string())?;
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
        let mut stmt = catalog
            .conn
            .prepare("SELECT movie_id, raters, mean FROM community_stats")?;
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
