//! Importer for the Wikipedia movie JSON format (the wikipedia-movie-data project): one JSON
//! array of films per file, each `{title, year, cast, genres, href, extract, thumbnail, ...}`.
//!
//! What counts as one film: the Wikipedia page (`href`). A record whose page was already seen
//! in the same import is a duplicate listing and is skipped (counted in the report). A page the
//! catalog already holds under another key (the starter catalog, say) is merged into that
//! film. Two different pages with the same title and year are two films: the second gets its
//! page name appended to its key, so keys stay unique and the same files always give the same
//! keys.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{ImportError, Progress};
use crate::catalog::{Catalog, ImportStats, Source};
use crate::movie::{Movie, movie_key};

/// Longest accepted title, in characters.
pub const MAX_TITLE_CHARS: usize = 500;
/// Longest accepted plot extract, in characters.
pub const MAX_EXTRACT_CHARS: usize = 100_000;
/// Most cast members accepted for one film.
pub const MAX_CAST: usize = 2_000;
/// Longest accepted name, genre or URL, in characters.
pub const MAX_FIELD_CHARS: usize = 2_000;
/// Films written between two progress reports.
const PROGRESS_STEP: usize = 1_000;

#[derive(Debug, Deserialize)]
struct Record {
    title: String,
    year: Option<i32>,
    #[serde(default)]
    cast: Vec<String>,
    #[serde(default)]
    genres: Vec<String>,
    href: Option<String>,
    extract: Option<String>,
    thumbnail: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct WikipediaReport {
    pub files: u64,
    pub records: u64,
    pub stats: ImportStats,
    /// Records skipped as repeated listings of a film already imported in this run.
    pub duplicates: u64,
}

/// The `movies-*.json` files of a folder in name order, or the file itself.
pub fn source_files(path: &Path) -> Result<Vec<PathBuf>, ImportError> {
    let read_err = |e: std::io::Error| ImportError::Read {
        source_name: path.display().to_string(),
        message: e.to_string(),
    };
    if path.is_dir() {
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(read_err)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(ImportError::Read {
                source_name: path.display().to_string(),
                message: "no .json files in this folder".into(),
            });
        }
        Ok(files)
    } else {
        std::fs::metadata(path).map_err(read_err)?;
        Ok(vec![path.to_path_buf()])
    }
}

/// Parses and validates one file's bytes into films. Nothing is written.
pub fn parse(source_name: &str, bytes: &[u8]) -> Result<Vec<(Movie, Option<String>)>, ImportError> {
    let values: Vec<serde_json::Value> =
        serde_json::from_slice(bytes).map_err(|e| ImportError::Syntax {
            source_name: source_name.to_owned(),
            message: e.to_string(),
        })?;
    let mut films = Vec::with_capacity(values.len());
    for (i, value) in values.into_iter().enumerate() {
        let title_hint = value
            .get("title")
            .and_then(|t| t.as_str())
            .map(|t| t.chars().take(80).collect::<String>());
        let fail = |message: String| ImportError::Record {
            source_name: source_name.to_owned(),
            index: i + 1,
            title: title_hint.clone(),
            message,
        };
        let record: Record = serde_json::from_value(value).map_err(|e| fail(e.to_string()))?;
        validate(&record).map_err(fail)?;
        films.push(to_movie(record));
    }
    Ok(films)
}

fn validate(r: &Record) -> Result<(), String> {
    let too_long = |what: &str, s: &str, max: usize| {
        (s.chars().count() > max).then(|| format!("{what} is longer than {max} characters"))
    };
    if r.title.trim().is_empty() {
        return Err("title is empty".into());
    }
    if let Some(e) = too_long("title", &r.title, MAX_TITLE_CHARS) {
        return Err(e);
    }
    if let Some(year) = r.year
        && !(1870..=2100).contains(&year)
    {
        return Err(format!("year {year} is out of range 1870..2100"));
    }
    if r.cast.len() > MAX_CAST {
        return Err(format!(
            "cast has {} names; at most {MAX_CAST} are accepted",
            r.cast.len()
        ));
    }
    for s in r
        .cast
        .iter()
        .chain(&r.genres)
        .chain(&r.href)
        .chain(&r.thumbnail)
    {
        if let Some(e) = too_long("a name, genre or link", s, MAX_FIELD_CHARS) {
            return Err(e);
        }
    }
    if let Some(extract) = &r.extract
        && let Some(e) = too_long("extract", extract, MAX_EXTRACT_CHARS)
    {
        return Err(e);
    }
    Ok(())
}

fn to_movie(r: Record) -> (Movie, Option<String>) {
    let href = r.href.filter(|h| !h.trim().is_empty());
    let clean = |v: Vec<String>| {
        v.into_iter()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
    };
    let directors = r
        .extract
        .as_deref()
        .map(directors_from_extract)
        .unwrap_or_default();
    let movie = Movie {
        key: movie_key(&r.title, r.year),
        title: r.title.trim().to_owned(),
        title_ko: None,
        original_title: None,
        year: r.year,
        runtime: None,
        genres: clean(r.genres),
        directors,
        cast: clean(r.cast),
        overview: r.extract.filter(|e| !e.trim().is_empty()),
        overview_ko: None,
        imdb_id: None,
        wikipedia: href.clone(),
        tmdb_id: None,
        poster_url: r.thumbnail.filter(|t| !t.trim().is_empty()),
        popularity: None,
    };
    (movie, href)
}

/// Directors named in a Wikipedia lead ("… directed by Francis Ford Coppola, who …"): the
/// capitalised names after the first "directed by", split on "and" and commas.
pub fn directors_from_extract(extract: &str) -> Vec<String> {
    let Some(start) = extract.find("directed by ") else {
        return vec![];
    };
    let rest = &extract[start + "directed by ".len()..];
    let mut names = Vec::new();
    let mut current: Vec<&str> = Vec::new();
    for raw in rest.split_whitespace() {
        let word = if is_initial(raw) {
            raw
        } else {
            raw.trim_end_matches([',', '.', ';', ':', ')'])
        };
        let ends_clause = raw.ends_with(['.', ';', ':', ')']) && !is_initial(raw);
        let capitalised =
            word.chars().next().is_some_and(|c| c.is_uppercase()) || is_particle(word);
        if word == "and" || word == "&" {
            push_name(&mut names, &mut current);
            continue;
        }
        if !capitalised || word.is_empty() {
            break;
        }
        current.push(word);
        if raw.ends_with(',') {
            push_name(&mut names, &mut current);
        }
        if ends_clause || current.len() > 5 || names.len() >= 4 {
            break;
        }
    }
    push_name(&mut names, &mut current);
    names
}

fn is_initial(word: &str) -> bool {
    let w = word.trim_end_matches('.');
    w.chars().count() == 1 && w.chars().all(char::is_uppercase)
}

fn is_particle(word: &str) -> bool {
    matches!(
        word,
        "de" | "del" | "della" | "van" | "von" | "der" | "da" | "di" | "le" | "la"
    )
}

fn push_name(names: &mut Vec<String>, current: &mut Vec<&str>) {
    // A lone particle or a single word that is not a name ("The") is dropped.
    let keep = current.len() >= 2
        || current
            .first()
            .is_some_and(|w| w.chars().count() > 2 && !matches!(*w, "The" | "A" | "An"));
    if keep && !current.is_empty() {
        names.push(current.join(" "));
    }
    current.clear();
}

/// Imports the Wikipedia JSON at `path` (a file, or a folder of `movies-*.json` files) into
/// `catalog`, one transaction per file. `progress` is told about every chunk of films.
pub fn import_path(
    catalog: &mut Catalog,
    path: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<WikipediaReport, ImportError> {
    let files = source_files(path)?;
    let mut batches = Vec::with_capacity(files.len());
    for file in &files {
        let name = file.display().to_string();
        let bytes = std::fs::read(file).map_err(|e| ImportError::Read {
            source_name: name.clone(),
            message: e.to_string(),
        })?;
        batches.push((name, bytes));
    }
    import_batches(catalog, batches, progress)
}

/// Imports already-read files (name, bytes): every file is parsed and validated first, so a bad
/// file stops the import before anything is written.
pub fn import_batches(
    catalog: &mut Catalog,
    batches: Vec<(String, Vec<u8>)>,
    progress: &mut dyn FnMut(Progress),
) -> Result<WikipediaReport, ImportError> {
    let mut parsed = Vec::with_capacity(batches.len());
    for (name, bytes) in &batches {
        parsed.push(parse(name, bytes)?);
    }
    drop(batches);
    let total: u64 = parsed.iter().map(|p| p.len() as u64).sum();
    let mut report = WikipediaReport {
        files: parsed.len() as u64,
        records: total,
        ..Default::default()
    };
    let mut seen_pages: HashSet<String> = HashSet::new();
    let mut key_pages: HashMap<String, Option<String>> = HashMap::new();
    let mut done = 0u64;
    progress(Progress { done, total });
    for films in parsed {
        let mut batch = Vec::with_capacity(films.len());
        for (mut movie, href) in films {
            if let Some(page) = &href {
                if !seen_pages.insert(page.clone()) {
                    report.duplicates += 1;
                    continue;
                }
                if let Some(existing) = catalog.key_for_wikipedia(page)? {
                    movie.key = existing;
                    key_pages.insert(movie.key.clone(), href.clone());
                    batch.push(movie);
                    continue;
                }
            }
            if href.is_none() && key_pages.get(&movie.key).is_some_and(Option::is_none) {
                // Same title and year, neither with a page: the same film listed twice.
                report.duplicates += 1;
                continue;
            }
            movie.key = unique_key(&movie.key, &href, &mut key_pages);
            batch.push(movie);
        }
        let before = done + report.duplicates;
        let stats =
            catalog.import_with_progress(&batch, Source::Wikipedia, PROGRESS_STEP, &mut |n| {
                progress(Progress {
                    done: before + n as u64,
                    total,
                })
            })?;
        report.stats.add(stats);
        done += batch.len() as u64;
        progress(Progress {
            done: done + report.duplicates,
            total,
        });
    }
    Ok(report)
}

/// `key` when no other page of this import holds it, else `key-<page>`, else `key-2`, `key-3`…
fn unique_key(
    key: &str,
    href: &Option<String>,
    taken: &mut HashMap<String, Option<String>>,
) -> String {
    let mut candidate = key.to_owned();
    if taken.get(&candidate).is_some_and(|page| page != href) {
        candidate = match href {
            Some(page) => format!("{key}-{}", movie_key(page, None)),
            None => key.to_owned(),
        };
        let mut n = 2;
        while taken.get(&candidate).is_some_and(|page| page != href) {
            candidate = format!("{key}-{n}");
            n += 1;
        }
    }
    taken.insert(candidate.clone(), href.clone());
    candidate
}

impl Catalog {
    /// The key of the film with this Wikipedia page, if the catalog has it.
    pub fn key_for_wikipedia(&self, page: &str) -> crate::error::Result<Option<String>> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn
            .prepare_cached("SELECT key FROM movies WHERE wikipedia = ?1 LIMIT 1")?
            .query_row([page], |r| r.get(0))
            .optional()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directors_are_read_from_the_lead() {
        let godfather = "The Godfather is a 1972 American crime film directed by Francis Ford Coppola, who co-wrote the screenplay.";
        assert_eq!(directors_from_extract(godfather), ["Francis Ford Coppola"]);
        let two = "Everything Everywhere All at Once is a 2022 film written and directed by Daniel Kwan and Daniel Scheinert. It stars";
        assert_eq!(
            directors_from_extract(two),
            ["Daniel Kwan", "Daniel Scheinert"]
        );
        let initials = "It was directed by J. J. Abrams and produced by him.";
        assert_eq!(directors_from_extract(initials), ["J. J. Abrams"]);
        assert!(directors_from_extract("A film with no director named.").is_empty());
        assert!(directors_from_extract("It was directed by the studio head.").is_empty());
    }

    #[test]
    fn same_title_and_year_on_two_pages_get_two_keys() {
        let mut taken = HashMap::new();
        let a = unique_key("crash-2004", &Some("Crash_(2004_film)".into()), &mut taken);
        let b = unique_key(
            "crash-2004",
            &Some("Crash_(2004_TV_film)".into()),
            &mut taken,
        );
        let c = unique_key("crash-2004", &None, &mut taken);
        assert_eq!(a, "crash-2004");
        assert_eq!(b, "crash-2004-crash-2004-tv-film");
        assert_eq!(c, "crash-2004-2");
        assert_eq!(
            unique_key("crash-2004", &Some("Crash_(2004_film)".into()), &mut taken),
            "crash-2004",
            "same page, same key"
        );
    }
}
