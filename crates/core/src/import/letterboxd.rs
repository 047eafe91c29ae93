//! Reads a Letterboxd `ratings.csv` export (`Date,Name,Year,Letterboxd URI,Rating`) and matches
//! each row to the catalog by title and year, so anyone can bring their taste in one command.
//! Unmatched rows are reported, never dropped silently; a malformed file is refused with the
//! line that is wrong.

use std::path::Path;

use crate::catalog::Catalog;
use crate::error::{CoreError, Result};
use crate::movie::movie_key;
use crate::recommend::{Rating, valid_stars};
use crate::search::SearchQuery;
use crate::text::{Token, tokens};

/// The columns a Letterboxd ratings export starts with.
pub const HEADER: [&str; 5] = ["Date", "Name", "Year", "Letterboxd URI", "Rating"];

/// A row that names no film in the catalog.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Unmatched {
    pub line: u64,
    pub name: String,
    pub year: Option<i32>,
}

/// What a Letterboxd file held.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LetterboxdRatings {
    /// (film row id, stars), oldest first by the Date column (file order within a day; rows
    /// without a date first), as the recommender wants them.
    #[serde(skip)]
    pub ratings: Vec<Rating>,
    pub matched: u64,
    pub unmatched: Vec<Unmatched>,
}

fn folded(title: &str) -> Vec<String> {
    tokens(title)
        .iter()
        .map(Token::as_str)
        .map(str::to_owned)
        .collect()
}

/// Parses `path` and matches its rows against `catalog`.
pub fn read(catalog: &Catalog, path: &Path) -> Result<LetterboxdRatings> {
    let bytes = std::fs::read(path).map_err(|source| CoreError::DataDir {
        path: path.to_path_buf(),
        source,
    })?;
    parse(catalog, &path.display().to_string(), &bytes)
}

/// Parses a ratings export held in memory; `name` is used in error messages.
pub fn parse(catalog: &Catalog, name: &str, bytes: &[u8]) -> Result<LetterboxdRatings> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut out = LetterboxdRatings::default();
    // (date, film, stars) of the matched rows, to be put in date order.
    let mut dated: Vec<(String, i64, f32)> = Vec::new();
    for (i, record) in reader.byte_records().enumerate() {
        let line = i as u64 + 1;
        let bad = |msg: String| CoreError::InvalidInput(format!("{name}, line {line}: {msg}"));
        let record = record.map_err(|e| bad(format!("broken CSV ({e})")))?;
        let mut fields = Vec::with_capacity(record.len());
        for raw in record.iter() {
            fields.push(
                std::str::from_utf8(raw)
                    .map_err(|_| bad("not UTF-8".into()))?
                    .trim()
                    .to_owned(),
            );
        }
        if line == 1 {
            if fields.len() < HEADER.len() || fields[..HEADER.len()] != HEADER {
                return Err(bad(format!(
                    "expected the Letterboxd header {}, found {}",
                    HEADER.join(","),
                    fields.join(",")
                )));
            }
            continue;
        }
        if fields.len() != HEADER.len() {
            return Err(bad(format!(
                "expected {} columns, found {}",
                HEADER.len(),
                fields.len()
            )));
        }
        let (date, title, year, rating) = (&fields[0], &fields[1], &fields[2], &fields[4]);
        if !date.is_empty() && !is_iso_date(date) {
            return Err(bad(format!("Date {date:?} is not a date like 2024-01-31")));
        }
        if title.is_empty() {
            return Err(bad("the Name column is empty".into()));
        }
        let year: Option<i32> = if year.is_empty() {
            None
        } else {
            Some(
                year.parse()
                    .map_err(|_| bad(format!("Year {year:?} is not a year")))?,
            )
        };
        let stars: f32 = rating
            .parse()
            .map_err(|_| bad(format!("Rating {rating:?} is not a number")))?;
        if !valid_stars(stars) {
            return Err(bad(format!(
                "Rating {stars} is not a half-star rating from 0.5 to 5"
            )));
        }
        match find(catalog, title, year)? {
            Some(id) => {
                out.matched += 1;
                dated.push((date.clone(), id, stars));
            }
            None => out.unmatched.push(Unmatched {
                line,
                name: title.clone(),
                year,
            }),
        }
    }
    // Letterboxd writes its export oldest first, but an edited file need not be.
    dated.sort_by(|a, b| a.0.cmp(&b.0));
    out.ratings = dated
        .into_iter()
        .map(|(_, id, stars)| (id, stars))
        .collect();
    Ok(out)
}

/// `YYYY-MM-DD`, as Letterboxd writes its dates (month 01–12, day 01–31).
pub(crate) fn is_iso_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    if b.len() != 10
        || b[4] != b'-'
        || b[7] != b'-'
        || !digits(0..4)
        || !digits(5..7)
        || !digits(8..10)
    {
        return false;
    }
    let month = (b[5] - b'0') * 10 + (b[6] - b'0');
    let day = (b[8] - b'0') * 10 + (b[9] - b'0');
    (1..=12).contains(&month) && (1..=31).contains(&day)
}

/// The catalog film with this title and year: by key first, else a film of that year whose
/// title (any language) reads the same once folded.
pub(crate) fn find(catalog: &Catalog, title: &str, year: Option<i32>) -> Result<Option<i64>> {
    if let Some(id) = catalog.movie_id(&movie_key(title, year))? {
        return Ok(Some(id));
    }
    let Some(year) = year else { return Ok(None) };
    let q = SearchQuery {
        text: format!("{title} "),
        years: Some((year, year)),
        limit: 10,
        ..Default::default()
    };
    let want = folded(title);
    for m in catalog.search(&q)?.movies {
        let same = [
            Some(&m.title),
            m.title_ko.as_ref(),
            m.original_title.as_ref(),
        ]
        .into_iter()
        .flatten()
        .any(|t| folded(t) == want);
        if same && m.year == Some(year) {
            return catalog.movie_id(&m.key);
        }
    }
    Ok(None)
}
