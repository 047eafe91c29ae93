//! `relay-server import-ratings`: a community's ratings moved in from a CSV file of
//! `user,title,year,rating` rows (a header line is allowed; the format
//! `movietalk import community-ratings` reads).
//!
//! A film is named by its key ([`movie_key`] of title and year), the key every client computes.
//! With a catalog (a MovieTalk data folder's `movietalk.sqlite3`, whose `movies` table holds
//! the keys), a row is matched against it: by title and year, then with a trailing article
//! moved to the front ("Usual Suspects, The"), then one year either side; a row matching
//! nothing is reported and left out. Without one, the key of the title and year as written is
//! taken. A malformed row stops the import before anything is stored, with its line number.

use std::collections::HashSet;
use std::path::Path;

use movietalk_protocol::film_key::movie_key;

/// One row that named no film of the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unmatched {
    pub line: u64,
    pub title: String,
    pub year: Option<i32>,
}

/// What a ratings file holds, matched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Read {
    /// Data rows read.
    pub rows: u64,
    /// (user, film key, stars) of the matched rows.
    pub ratings: Vec<(String, String, f32)>,
    pub unmatched: Vec<Unmatched>,
}

/// The film keys of a MovieTalk catalog file.
pub fn catalog_keys(path: &Path) -> anyhow::Result<HashSet<String>> {
    use anyhow::Context;
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening the catalog {}", path.display()))?;
    let mut stmt = conn
        .prepare("SELECT key FROM movies")
        .with_context(|| format!("{} is not a MovieTalk catalog", path.display()))?;
    let keys = stmt
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<HashSet<_>>>()?;
    anyhow::ensure!(!keys.is_empty(), "the catalog {} is empty", path.display());
    Ok(keys)
}

/// "Usual Suspects, The" → "The Usual Suspects" (also A, An and a few other languages'
/// articles); `None` when the title does not end so.
fn article_first(title: &str) -> Option<String> {
    const ARTICLES: &[&str] = &[
        "The", "A", "An", "Les", "La", "Le", "L'", "Il", "Die", "Der", "Das", "El",
    ];
    let (rest, last) = title.rsplit_once(", ")?;
    let article = ARTICLES.iter().find(|a| last.eq_ignore_ascii_case(a))?;
    Some(if article.ends_with('\'') {
        format!("{article}{rest}")
    } else {
        format!("{article} {rest}")
    })
}

/// The key a row names in `catalog` (or, without one, the key of what it says).
fn match_key(catalog: Option<&HashSet<String>>, title: &str, year: Option<i32>) -> Option<String> {
    let Some(catalog) = catalog else {
        return Some(movie_key(title, year));
    };
    let titles: Vec<String> = std::iter::once(title.to_owned())
        .chain(article_first(title))
        .collect();
    let years: Vec<Option<i32>> = match year {
        Some(y) => vec![Some(y), Some(y - 1), Some(y + 1)],
        None => vec![None],
    };
    years.iter().find_map(|y| {
        titles
            .iter()
            .map(|t| movie_key(t, *y))
            .find(|k| catalog.contains(k))
    })
}

/// Reads and matches a ratings file.
pub fn read(path: &Path, catalog: Option<&HashSet<String>>) -> anyhow::Result<Read> {
    let file = std::fs::File::open(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::BufReader::new(file));
    let mut out = Read::default();
    let mut record = csv::StringRecord::new();
    let mut line = 0u64;
    loop {
        let more = reader
            .read_record(&mut record)
            .map_err(|e| anyhow::anyhow!("{}, line {}: {e}", path.display(), line + 1))?;
        if !more {
            break;
        }
        line = record.position().map_or(line + 1, csv::Position::line);
        let bad = |msg: String| anyhow::anyhow!("{}, line {line}: {msg}", path.display());
        if record.len() != 4 {
            return Err(bad(format!(
                "expected 4 columns (user,title,year,rating), got {}",
                record.len()
            )));
        }
        let field = |n: usize| record.get(n).unwrap_or_default().trim();
        if out.rows == 0 && out.unmatched.is_empty() && field(0).eq_ignore_ascii_case("user") {
            continue;
        }
        let (user, title, year, rating) = (field(0), field(1), field(2), field(3));
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
        let stars: f32 = rating
            .parse()
            .map_err(|_| bad(format!("rating {rating:?} is not a number")))?;
        if !(0.5..=5.0).contains(&stars) || (stars * 2.0).fract() != 0.0 {
            return Err(bad(format!(
                "rating {rating} is not a half star from 0.5 to 5"
            )));
        }
        out.rows += 1;
        match match_key(catalog, title, year) {
            Some(key) => out.ratings.push((user.to_owned(), key, stars)),
            None => out.unmatched.push(Unmatched {
                line,
                title: title.to_owned(),
                year,
            }),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_matched_by_title_and_year_with_articles_and_a_year_off() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("r.csv");
        std::fs::write(
            &csv,
            "user,title,year,rating\n\
             1,\"Usual Suspects, The\",1995,5\n\
             1,Heat,1996,4.5\n\
             2,Heat,1995,3\n\
             2,A Film Nobody Made,2011,3\n",
        )
        .unwrap();
        let catalog: HashSet<String> = ["the-usual-suspects-1995", "heat-1995"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let read = read(&csv, Some(&catalog)).unwrap();
        assert_eq!(read.rows, 4);
        assert_eq!(
            read.ratings,
            vec![
                ("1".into(), "the-usual-suspects-1995".into(), 5.0),
                ("1".into(), "heat-1995".into(), 4.5),
                ("2".into(), "heat-1995".into(), 3.0),
            ]
        );
        assert_eq!(
            read.unmatched,
            vec![Unmatched {
                line: 5,
                title: "A Film Nobody Made".into(),
                year: Some(2011)
            }]
        );
    }

    #[test]
    fn a_bad_row_stops_the_import_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("r.csv");
        for (body, want) in [
            ("1,Heat,1995,4\n2,Heat,1995,4.2\n", "line 2: rating 4.2"),
            ("1,Heat,1995,4\n2,Heat,nineteen,4\n", "line 2: year"),
            ("1,Heat,1995\n", "line 1: expected 4 columns"),
            ("1,,1995,4\n", "line 1: user and title"),
        ] {
            std::fs::write(&csv, body).unwrap();
            let e = read(&csv, None).unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} should say {want:?}");
        }
    }
}
