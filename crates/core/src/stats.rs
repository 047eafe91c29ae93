//! A person's year in film, from what is on this machine (so it works offline): what they
//! watched that year, by month, by rating, and by genre, director and decade.
//!
//! A watch is a diary entry (on its day; a rewatch counts again), or — for a film with no
//! diary entry — its rating, in the month it was last rated here (local time).

use std::collections::HashMap;

use movietalk_protocol::ipc::{Tally, YearInFilm};

use crate::catalog::Catalog;
use crate::error::Result;

/// How many genres and directors a year lists.
const TOP: usize = 8;

/// Every watch: (movie id, year, month, stars) — diary entries, then the ratings of films no
/// diary entry names.
const WATCHES: &str = "
    SELECT m.id AS movie_id, CAST(substr(d.watched_on, 1, 4) AS INTEGER) AS y,
           CAST(substr(d.watched_on, 6, 2) AS INTEGER) AS m, d.rating AS stars
    FROM diary d JOIN movies m ON m.key = d.movie_key
    UNION ALL
    SELECT r.movie_id, CAST(strftime('%Y', r.rated_at, 'unixepoch', 'localtime') AS INTEGER),
           CAST(strftime('%m', r.rated_at, 'unixepoch', 'localtime') AS INTEGER), r.stars
    FROM ratings r JOIN movies m ON m.id = r.movie_id
    WHERE NOT EXISTS (SELECT 1 FROM diary d WHERE d.movie_key = m.key)";

impl Catalog {
    /// The years with any watch here, newest first.
    pub fn watch_years(&self) -> Result<Vec<i32>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT DISTINCT y FROM ({WATCHES}) ORDER BY y DESC"
        ))?;
        let years = stmt.query_map([], |r| r.get(0))?;
        Ok(years.collect::<rusqlite::Result<_>>()?)
    }

    /// `year`'s figures; `None`: the newest year with a watch (or this year when there is none).
    pub fn year_in_film(&self, year: Option<i32>) -> Result<YearInFilm> {
        let years = self.watch_years()?;
        let year = match year.or_else(|| years.first().copied()) {
            Some(y) => y,
            None => self.conn.query_row(
                "SELECT CAST(strftime('%Y', 'now', 'localtime') AS INTEGER)",
                [],
                |r| r.get(0),
            )?,
        };
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT w.m, w.stars, m.year, m.directors,
                    (SELECT json_group_array(g.genre) FROM movie_genres g WHERE g.movie_id = m.id)
             FROM ({WATCHES}) w JOIN movies m ON m.id = w.movie_id WHERE w.y = ?1"
        ))?;
        let rows = stmt.query_map([year], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<f64>>(1)?,
                r.get::<_, Option<i32>>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = YearInFilm {
            year,
            years,
            films: 0,
            per_month: [0; 12],
            ratings: [0; 10],
            mean_rating: None,
            genres: Vec::new(),
            directors: Vec::new(),
            decades: Vec::new(),
        };
        let (mut genres, mut directors, mut decades) =
            (HashMap::new(), HashMap::new(), HashMap::new());
        let (mut stars_sum, mut rated) = (0.0, 0u32);
        for row in rows {
            let (month, stars, film_year, film_directors, film_genres) = row?;
            out.films += 1;
            if let Some(m) = out.per_month.get_mut((month - 1) as usize) {
                *m += 1;
            }
            if let Some(stars) = stars {
                // Half stars 0.5 … 5 in buckets 0 … 9.
                let bucket = ((stars * 2.0).round() as usize).clamp(1, 10) - 1;
                out.ratings[bucket] += 1;
                stars_sum += stars;
                rated += 1;
            }
            for g in serde_json::from_str::<Vec<String>>(&film_genres).unwrap_or_default() {
                *genres.entry(g).or_insert(0) += 1;
            }
            for d in serde_json::from_str::<Vec<String>>(&film_directors).unwrap_or_default() {
                *directors.entry(d).or_insert(0) += 1;
            }
            if let Some(y) = film_year {
                *decades.entry(y.div_euclid(10) * 10).or_insert(0) += 1;
            }
        }
        if rated > 0 {
            out.mean_rating = Some((stars_sum / f64::from(rated)) as f32);
        }
        out.genres = top(genres, TOP);
        out.directors = top(directors, TOP);
        let mut decades: Vec<Tally> = decades
            .into_iter()
            .map(|(d, count)| Tally {
                name: format!("{d}s"),
                count,
            })
            .collect();
        decades.sort_by(|a, b| a.name.cmp(&b.name));
        out.decades = decades;
        Ok(out)
    }
}

/// The `n` most counted names, most first (ties by name).
fn top(counts: HashMap<String, u32>, n: usize) -> Vec<Tally> {
    let mut all: Vec<Tally> = counts
        .into_iter()
        .map(|(name, count)| Tally { name, count })
        .collect();
    all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
    all.truncate(n);
    all
}
