//! A community's ratings as a CSV file of `user,title,year,rating` rows (a header line is
//! allowed), the format `relay-server import-ratings` and `movietalk import community-ratings`
//! both read, and how a row finds its film ([`match_film`]).

use std::path::Path;

use movietalk_protocol::film_key::movie_key;

/// One row of the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The row's line in the file (counting from 1).
    pub line: u64,
    pub user: String,
    pub title: String,
    pub year: Option<i32>,
    /// Half stars from 0.5 to 5.
    pub stars: f32,
}

/// Why a file was refused: the first bad row, with its line. Nothing of the file is used then.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{path}, line {line}: {message}")]
pub struct FileError {
    pub path: String,
    pub line: u64,
    pub message: String,
}

/// Reads the whole file, checking every row.
pub fn read(path: &Path) -> Result<Vec<Row>, FileError> {
    let name = path.display().to_string();
    let fail = |line: u64, message: String| FileError {
        path: name.clone(),
        line,
        message,
    };
    let file = std::fs::File::open(path).map_err(|e| fail(0, format!("cannot read it: {e}")))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(std::io::BufReader::new(file));
    let mut rows = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut line = 0u64;
    loop {
        let more = reader
            .read_record(&mut record)
            .map_err(|e| fail(line + 1, e.to_string()))?;
        if !more {
            break;
        }
        line = record.position().map_or(line + 1, csv::Position::line);
        let bad = |msg: String| fail(line, msg);
        if record.len() != 4 {
            return Err(bad(format!(
                "expected 4 columns (user,title,year,rating), got {}",
                record.len()
            )));
        }
        let field = |n: usize| record.get(n).unwrap_or_default().trim();
        if rows.is_empty() && field(0).eq_ignore_ascii_case("user") {
            continue;
        }
        let (user, title, year, rating) = (field(0), field(1), field(2), field(3));
        if user.is_empty() || title.is_empty() {
            return Err(bad("user and title must not be empty".into()));
        }
        let year = if year.is_empty() {
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
        rows.push(Row {
            line,
            user: user.to_owned(),
            title: title.to_owned(),
            year,
            stars,
        });
    }
    Ok(rows)
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

/// The film a row names, as `find` knows films by key: by title and year, then with a trailing
/// article moved to the front ("Usual Suspects, The"), then one year either side.
pub fn match_film<T>(
    title: &str,
    year: Option<i32>,
    mut find: impl FnMut(&str) -> Option<T>,
) -> Option<T> {
    let titles: Vec<String> = std::iter::once(title.to_owned())
        .chain(article_first(title))
        .collect();
    let years: Vec<Option<i32>> = match year {
        Some(y) => vec![Some(y), Some(y - 1), Some(y + 1)],
        None => vec![None],
    };
    years
        .iter()
        .find_map(|y| titles.iter().find_map(|t| find(&movie_key(t, *y))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_read_and_matched_by_title_and_year_with_articles_and_a_year_off() {
        let dir = std::env::temp_dir().join(format!("ratings-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("r.csv");
        std::fs::write(
            &csv,
            "user,title,year,rating\n\
             1,\"Usual Suspects, The\",1995,5\n\
             1,Heat,1996,4.5\n\
             2,A Film Nobody Made,2011,3\n",
        )
        .unwrap();
        let rows = read(&csv).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0].line, rows[0].stars), (2, 5.0));
        let catalog = ["the-usual-suspects-1995", "heat-1995"];
        let find = |k: &str| catalog.iter().position(|c| *c == k);
        let found: Vec<Option<usize>> = rows
            .iter()
            .map(|r| match_film(&r.title, r.year, find))
            .collect();
        assert_eq!(found, [Some(0), Some(1), None]);

        for (body, want) in [
            ("1,Heat,1995,4\n2,Heat,1995,4.2\n", "line 2: rating 4.2"),
            ("1,Heat,1995,4\n2,Heat,nineteen,4\n", "line 2: year"),
            ("1,Heat,1995\n", "line 1: expected 4 columns"),
            ("1,,1995,4\n", "line 1: user and title"),
        ] {
            std::fs::write(&csv, body).unwrap();
            let e = read(&csv).unwrap_err().to_string();
            assert!(e.contains(want), "{e:?} should say {want:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
