//! Imports a whole Letterboxd export (the `.zip` its settings page gives): the diary
//! (`diary.csv`, with the reviews of `reviews.csv` joined to their watches), the watchlist
//! (`watchlist.csv`) and the ratings (`ratings.csv`). Films are matched by title and year, then
//! by the folded title in any language (`letterboxd::find`); rows that match no film are
//! reported with their file and line, never dropped silently. Everything goes through the
//! outbox like the user's own changes.
//!
//! **Importing the same export twice adds nothing:** a diary row's entry id is made from the
//! row (its Letterboxd address and days), a film already on the watchlist stays, and a rating
//! the film has already is not written again.
//!
//! Not yet read: lists, likes, and `watched.csv` (films marked seen without a day).

use std::collections::HashMap;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use super::Progress;
use super::letterboxd::{find, is_iso_date};
use crate::catalog::Catalog;
use crate::diary::NewWatch;
use crate::error::{CoreError, Result};
use crate::recommend::valid_stars;

/// Largest file of an export read (an export is text; this bounds a hostile zip).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

pub use movietalk_protocol::ipc::{LetterboxdReport as Report, UnmatchedRow as Unmatched};

/// One CSV row by column name, with its line.
struct Row {
    line: u64,
    cells: HashMap<String, String>,
}

impl Row {
    fn get(&self, column: &str) -> &str {
        self.cells.get(column).map_or("", String::as_str)
    }
}

/// The rows of `name` in the zip (none when the export has no such file).
fn rows(
    zip: &mut zip::ZipArchive<std::fs::File>,
    name: &str,
    required: &[&str],
) -> Result<Vec<Row>> {
    let mut file = match zip.by_name(name) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => return Ok(Vec::new()),
        Err(e) => return Err(CoreError::InvalidInput(format!("{name}: {e}"))),
    };
    let mut bytes = Vec::new();
    (&mut file)
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| CoreError::InvalidInput(format!("{name}: {e}")))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(CoreError::InvalidInput(format!(
            "{name} is larger than {} MiB",
            MAX_FILE_BYTES >> 20
        )));
    }
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(&bytes[..]);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| CoreError::InvalidInput(format!("{name}: broken CSV ({e})")))?
        .iter()
        .map(|h| h.trim().trim_start_matches('\u{feff}').to_owned())
        .collect();
    if let Some(missing) = required.iter().find(|c| !header.iter().any(|h| h == *c)) {
        return Err(CoreError::InvalidInput(format!(
            "{name}: no {missing:?} column (found {})",
            header.join(",")
        )));
    }
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i as u64 + 2;
        let record =
            record.map_err(|e| CoreError::InvalidInput(format!("{name}, line {line}: {e}")))?;
        let cells = header
            .iter()
            .cloned()
            .zip(record.iter().map(|c| c.trim().to_owned()))
            .collect();
        out.push(Row { line, cells });
    }
    Ok(out)
}

/// The film a row names (its `Name` and `Year`), if the catalog has it.
fn film(catalog: &Catalog, file: &str, row: &Row) -> Result<(Option<String>, Option<i32>)> {
    let bad = |m: String| CoreError::InvalidInput(format!("{file}, line {}: {m}", row.line));
    let name = row.get("Name");
    if name.is_empty() {
        return Err(bad("the Name column is empty".into()));
    }
    let year = match row.get("Year") {
        "" => None,
        y => Some(
            y.parse()
                .map_err(|_| bad(format!("Year {y:?} is not a year")))?,
        ),
    };
    let key = match find(catalog, name, year)? {
        Some(id) => catalog.key_of(id)?,
        None => None,
    };
    Ok((key, year))
}

/// A row's rating (empty: none).
fn stars(file: &str, row: &Row) -> Result<Option<f32>> {
    match row.get("Rating") {
        "" => Ok(None),
        r => {
            let stars: f32 = r.parse().ok().filter(|s| valid_stars(*s)).ok_or_else(|| {
                CoreError::InvalidInput(format!(
                    "{file}, line {}: Rating {r:?} is not a half-star rating from 0.5 to 5",
                    row.line
                ))
            })?;
            Ok(Some(stars))
        }
    }
}

/// A row's day: `column`, else `Date` (as Letterboxd writes them).
fn day(file: &str, row: &Row, column: &str) -> Result<String> {
    let d = match row.get(column) {
        "" => row.get("Date"),
        d => d,
    };
    if !is_iso_date(d) {
        return Err(CoreError::InvalidInput(format!(
            "{file}, line {}: {d:?} is not a date like 2024-01-31",
            row.line
        )));
    }
    Ok(d.to_owned())
}

/// The id of the diary entry a Letterboxd diary row becomes: the same row, the same id.
fn entry_id(row: &Row, watched_on: &str) -> String {
    let mut h = Sha256::new();
    for part in [
        row.get("Letterboxd URI"),
        row.get("Name"),
        row.get("Year"),
        watched_on,
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let hex: String = h.finalize()[..12]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("letterboxd-{hex}")
}

/// Imports the export at `path` into `catalog`; `progress` hears how many rows are done.
pub fn import(
    catalog: &mut Catalog,
    path: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<Report> {
    let file = std::fs::File::open(path).map_err(|source| CoreError::DataDir {
        path: path.to_path_buf(),
        source,
    })?;
    let mut zip = zip::ZipArchive::new(file)
        .map_err(|e| CoreError::InvalidInput(format!("{}: not a zip ({e})", path.display())))?;
    const DIARY: &str = "diary.csv";
    const REVIEWS: &str = "reviews.csv";
    const WATCHLIST: &str = "watchlist.csv";
    const RATINGS: &str = "ratings.csv";
    let diary = rows(&mut zip, DIARY, &["Name", "Year", "Date"])?;
    let reviews = rows(&mut zip, REVIEWS, &["Name", "Year", "Date", "Review"])?;
    let watchlist = rows(&mut zip, WATCHLIST, &["Name", "Year"])?;
    let ratings = rows(&mut zip, RATINGS, &["Name", "Year", "Rating"])?;
    if diary.is_empty() && reviews.is_empty() && watchlist.is_empty() && ratings.is_empty() {
        return Err(CoreError::InvalidInput(format!(
            "{}: no diary.csv, reviews.csv, watchlist.csv or ratings.csv in it: is it a Letterboxd export?",
            path.display()
        )));
    }
    let total = (diary.len() + reviews.len() + watchlist.len() + ratings.len()) as u64;
    let mut done = 0u64;
    let mut step = |progress: &mut dyn FnMut(Progress)| {
        done += 1;
        if done.is_multiple_of(100) || done == total {
            progress(Progress { done, total });
        }
    };
    let mut report = Report::default();
    let unmatched = |file: &str, row: &Row, year| Unmatched {
        file: file.to_owned(),
        line: row.line,
        name: row.get("Name").to_owned(),
        year,
    };

    // Reviews by the watch they were written with (Letterboxd's address and watched day).
    let mut review_of: HashMap<(String, String), (String, bool)> = HashMap::new();
    let mut lone_reviews = Vec::new();
    for row in &reviews {
        let watched_on = day(REVIEWS, row, "Watched Date")?;
        let text = row.get("Review").to_owned();
        let spoiler = row.get("Spoilers").eq_ignore_ascii_case("yes");
        let joined = diary.iter().any(|d| {
            d.get("Letterboxd URI") == row.get("Letterboxd URI")
                && d.get("Name") == row.get("Name")
                && day(DIARY, d, "Watched Date").is_ok_and(|w| w == watched_on)
        });
        if joined {
            let at = (row.get("Name").to_owned(), watched_on);
            review_of.insert(at, (text, spoiler));
        } else {
            lone_reviews.push(row);
        }
        step(progress);
    }

    // The diary, oldest watch first, so the most recent one gives the film its rating.
    let mut watches = Vec::new();
    for row in &diary {
        watches.push((day(DIARY, row, "Watched Date")?, row));
    }
    watches.sort_by(|a, b| a.0.cmp(&b.0));
    for (watched_on, row) in watches {
        let (key, year) = film(catalog, DIARY, row)?;
        let Some(key) = key else {
            report.unmatched.push(unmatched(DIARY, row, year));
            step(progress);
            continue;
        };
        let id = entry_id(row, &watched_on);
        let review = review_of.get(&(row.get("Name").to_owned(), watched_on.clone()));
        if catalog.diary_entry(&id)?.is_none() {
            catalog.log_watch(&NewWatch {
                movie_key: key,
                watched_on,
                rating: stars(DIARY, row)?,
                rewatch: row.get("Rewatch").eq_ignore_ascii_case("yes"),
                review: review.map(|r| r.0.clone()),
                spoiler: review.is_some_and(|r| r.1),
                client_id: Some(id),
            })?;
            report.diary += 1;
            report.reviews += u64::from(review.is_some());
        }
        step(progress);
    }

    // Reviews with no watch in the diary: the film's review (with its rating).
    for row in lone_reviews {
        let (key, year) = film(catalog, REVIEWS, row)?;
        let Some(key) = key else {
            report.unmatched.push(unmatched(REVIEWS, row, year));
            continue;
        };
        let mine = catalog.my_review(&key)?;
        let Some(rating) = stars(REVIEWS, row)?.or(mine.as_ref().map(|m| m.rating)) else {
            // A review needs a rating; ratings.csv may give it below, but the text would be
            // lost: say so rather than drop it.
            report.unmatched.push(unmatched(REVIEWS, row, year));
            continue;
        };
        let body = row.get("Review");
        if mine.is_none_or(|m| m.body != body || m.rating != rating) {
            let spoiler = row.get("Spoilers").eq_ignore_ascii_case("yes");
            catalog.save_review(&key, rating, body, spoiler)?;
            report.reviews += 1;
        }
    }

    for row in &watchlist {
        let (key, year) = film(catalog, WATCHLIST, row)?;
        match key {
            Some(key) => report.watchlist += u64::from(catalog.set_watchlist(&key, true)?),
            None => report.unmatched.push(unmatched(WATCHLIST, row, year)),
        }
        step(progress);
    }

    // The ratings as they are now on Letterboxd: one per film.
    for row in &ratings {
        let (key, year) = film(catalog, RATINGS, row)?;
        let rating = stars(RATINGS, row)?;
        match (key, rating) {
            (Some(key), Some(rating)) => {
                let mine = catalog.my_review(&key)?;
                if mine.as_ref().is_none_or(|m| m.rating != rating) {
                    let body = mine.map(|m| m.body).unwrap_or_default();
                    catalog.save_review(&key, rating, &body, false)?;
                    report.ratings += 1;
                }
            }
            (Some(_), None) => {}
            (None, _) => report.unmatched.push(unmatched(RATINGS, row, year)),
        }
        step(progress);
    }
    Ok(report)
}
