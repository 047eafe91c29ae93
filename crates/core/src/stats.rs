//! A person's year in film, from what is on this machine (so it works offline): the films
//! they rated that year, by month, by rating, and by genre, director and decade.
//!
//! A film counts in the month it was last rated here (local time). When the diary lands, its
//! watch dates take that place.

use std::collections::HashMap;

use movietalk_protocol::ipc::{Tally, YearInFilm};

use crate::catalog::Catalog;
use crate::error::Result;

/// How many genres and directors a year lists.
const TOP: usize = 8;

impl Catalog {
    /// The years with any rating here, newest first.
    pub fn rated_years(&self) -> Result<Vec<i32>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT DISTINCT CAST(strftime('%Y', rated_at, 'unixepoch', 'localtime') AS INTEGER) AS y
             FROM ratings ORDER BY y DESC",
        )?;
        let years = stmt.query_map([], |r| r.get(0))?;
        Ok(years.collect::<rusqlite::Result<_>>()?)
    }

    /// `year`'s figures; `None`: the newest year with a rating (or this year when there is none).
    pub fn year_in_film(&self, year: Option<i32>) -> Result<YearInFilm> {
        let years = self.rated_years()?;
        let year = match year.or_else(|| years.first().copied()) {
            Some(y) => y,
            None => self.conn.query_row(
                "SELECT CAST(strftime('%Y', 'now', 'localtime') AS INTEGER)",
                [],
                |r| r.get(0),
            )?,
        };
        let mut stmt = self.conn.prepare_cached(
            "SELECT CAST(strftime('%m', r.rated_at, 'unixepoch', 'localtime') AS INTEGER),
                    r.stars, m.year, m.directors,
                    (SELECT json_group_array(g.genre) FROM movie_genres g WHERE g.movie_id = m.id)
             FROM ratings r JOIN movies m ON m.id = r.movie_id
             WHERE CAST(strftime('%Y', r.rated_at, 'unixepoch', 'localtime') AS INTEGER) = ?1",
        )?;
        let rows = stmt.query_map([year], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, f64>(1)?,
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
        let mut stars_sum = 0.0;
        for row in rows {
            let (month, stars, film_year, film_directors, film_genres) = row?;
            out.films += 1;
            if let Some(m) = out.per_month.get_mut((month - 1) as usize) {
                *m += 1;
            }
            // Half stars 0.5 … 5 in buckets 0 … 9.
            let bucket = ((stars * 2.0).round() as usize).clamp(1, 10) - 1;
            out.ratings[bucket] += 1;
            stars_sum += stars;
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
        if out.films > 0 {
            out.mean_rating = Some((stars_sum / f64::from(out.films)) as f32);
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
