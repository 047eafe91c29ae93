//! Helpers shared by the benchmark binaries: a seeded generator, the synthetic catalog grown
//! from the real films, percentiles, and peak-memory readings.

use std::path::Path;
use std::time::Duration;

use movietalk_core::{Catalog, Movie, SearchQuery};

/// A deterministic pseudo-random generator (splitmix64): the same data every run.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
}

/// Films made from the real ones: titles mixing words of two real titles, cast drawn from the
/// real cast pool, the genres of one film and the opening sentences of another's plot.
pub fn synthetic(films: &[Movie], count: usize, rng: &mut Rng) -> Vec<Movie> {
    let cast_pool: Vec<&String> = films.iter().flat_map(|f| &f.cast).collect();
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let a = &films[rng.below(films.len())];
        let b = &films[rng.below(films.len())];
        let wa: Vec<&str> = a.title.split_whitespace().collect();
        let wb: Vec<&str> = b.title.split_whitespace().collect();
        let title = format!(
            "{} {}",
            wa[..wa.len().div_ceil(2)].join(" "),
            wb[wb.len() / 2..].join(" ")
        );
        let year = 1900 + rng.below(126) as i32;
        let cast = (0..3 + rng.below(4))
            .map(|_| cast_pool[rng.below(cast_pool.len())].clone())
            .collect();
        let overview = films[rng.below(films.len())]
            .overview
            .as_deref()
            .map(|o| o.split(". ").take(2).collect::<Vec<_>>().join(". "));
        let base = Movie::new(&title, Some(year));
        out.push(Movie {
            key: format!("{}-s{i}", base.key),
            genres: a.genres.clone(),
            cast,
            overview,
            ..base
        });
    }
    out
}

/// Every film of the catalog, in title order.
pub fn all_films(catalog: &Catalog) -> anyhow::Result<Vec<Movie>> {
    let total = catalog.count()? as u32;
    let mut films = Vec::new();
    let mut offset = 0;
    while offset < total {
        let page = catalog.search(&SearchQuery {
            limit: 500,
            offset,
            sort: movietalk_core::Sort::Title,
            ..Default::default()
        })?;
        offset += 500;
        films.extend(page.movies);
    }
    Ok(films)
}

/// Removes an SQLite database and its WAL files, so a run starts from nothing.
pub fn remove_db(db: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
}

/// The `p` quantile (0..1) of sorted durations.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A field of `/proc/self/status` in KiB (`VmHWM` = peak resident memory, `VmRSS` = now).
pub fn proc_status_kib(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status
        .lines()
        .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))?;
    line[field.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
