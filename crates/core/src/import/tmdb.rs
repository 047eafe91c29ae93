//! Importer for the TMDB API v3: lists popular films (or one genre's, through `discover`),
//! fetches each film's details in English and in Korean, caches posters on disk, and merges the
//! films into the catalog in one transaction.
//!
//! All network work happens before the catalog is written, so a failure anywhere (a refused key,
//! a timeout, a malformed answer) leaves the database as it was. The user's own v3 API key is
//! sent as the `api_key` query parameter, and never appears in errors, logs or `Debug` output:
//! endpoints are named by path and the other parameters only.
//!
//! What counts as one film: the TMDB id. A film the catalog already holds under that id keeps its
//! key; otherwise the key is [`movie_key`] of the English title and year, which is how a TMDB film
//! finds the same film from the starter catalog or Wikipedia and fills in what they lack.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::{ImportError, Progress};
use crate::CoreError;
use crate::catalog::{Catalog, ImportStats, Source};
use crate::movie::{Movie, movie_key};

/// The TMDB API v3 root.
pub const DEFAULT_BASE_URL: &str = "https://api.themoviedb.org/3";
/// Poster images, 500 pixels wide: large enough for a detail page, small enough to cache.
pub const DEFAULT_IMAGE_BASE: &str = "https://image.tmdb.org/t/p/w500";
/// Where the CLI (and the app) read the user's v3 API key.
pub const API_KEY_ENV: &str = "TMDB_API_KEY";
/// Overrides [`DEFAULT_BASE_URL`], so scripts and tests can point the importer elsewhere.
pub const BASE_URL_ENV: &str = "MOVIETALK_TMDB_BASE_URL";
/// Overrides [`DEFAULT_IMAGE_BASE`], for the same reason.
pub const IMAGE_BASE_ENV: &str = "MOVIETALK_TMDB_IMAGE_BASE_URL";
/// Longest a request (connection, headers and body) may take before it is retried.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest wait a `Retry-After` header can impose: a server asking for more is not waited for
/// longer, so a misconfigured proxy cannot hang an import for an hour.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(10);
/// TMDB refuses list pages past 500.
pub const MAX_PAGES: u32 = 500;
/// Cast members kept per film, in billing order: past the first twenty TMDB lists mostly
/// uncredited extras, which would only bloat the search index.
pub const MAX_CAST: usize = 20;
/// Largest accepted API answer; a film's details with credits are well under 1 MiB.
const MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
/// Largest accepted poster image.
const MAX_POSTER_BYTES: usize = 20 * 1024 * 1024;
/// Films fetched at once: fast enough, and well under TMDB's rate limit (each film is two requests).
const CONCURRENCY: usize = 4;
/// Longest pause between two retries of a failing request.
const MAX_BACKOFF: Duration = Duration::from_secs(8);

/// A TMDB API v3 client: base URL, key, timeouts and retry policy.
///
/// Retries: a 429 waits what `Retry-After` asks (capped at [`MAX_RETRY_AFTER`]) and is retried up
/// to `rate_limit_retries` times; a timeout, a 5xx or a connection failure is retried up to
/// `retries` times with exponential backoff; a 401 (refused key) or any other status is final.
#[derive(Clone)]
pub struct TmdbClient {
    base_url: String,
    image_base: String,
    api_key: String,
    http: reqwest::Client,
    timeout: Duration,
    retries: u32,
    rate_limit_retries: u32,
    backoff: Duration,
    max_retry_after: Duration,
}

impl fmt::Debug for TmdbClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TmdbClient")
            .field("base_url", &self.base_url)
            .field("image_base", &self.image_base)
            .field("api_key", &"<redacted>")
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .field("rate_limit_retries", &self.rate_limit_retries)
            .finish_non_exhaustive()
    }
}

/// A genre as TMDB names it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TmdbGenre {
    pub id: i64,
    pub name: String,
}

/// One page of a film list (`/movie/popular`, `/discover/movie`): only the ids are used.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ListPage {
    pub results: Vec<ListEntry>,
    #[serde(default)]
    pub total_pages: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ListEntry {
    pub id: i64,
}

#[derive(Debug, Deserialize)]
struct GenreList {
    genres: Vec<TmdbGenre>,
}

/// `/movie/{id}`: every field TMDB may send as null is optional.
#[derive(Debug, Deserialize)]
struct Details {
    id: i64,
    title: Option<String>,
    original_title: Option<String>,
    original_language: Option<String>,
    overview: Option<String>,
    release_date: Option<String>,
    runtime: Option<i32>,
    imdb_id: Option<String>,
    genres: Option<Vec<NamedGenre>>,
    poster_path: Option<String>,
    popularity: Option<f64>,
    credits: Option<Credits>,
}

#[derive(Debug, Deserialize)]
struct NamedGenre {
    name: String,
}

#[derive(Debug, Default, Deserialize)]
struct Credits {
    cast: Option<Vec<CastMember>>,
    crew: Option<Vec<CrewMember>>,
}

#[derive(Debug, Deserialize)]
struct CastMember {
    name: String,
    order: Option<i64>,
}

#[derive(Debug, Deserialize)]
struct CrewMember {
    name: String,
    job: Option<String>,
}

/// What one HTTP attempt came to.
enum Attempt {
    Done(Vec<u8>),
    /// 429, with the `Retry-After` delay when the server gave one in seconds.
    RateLimited(Option<Duration>),
    /// 401.
    Refused,
    TimedOut,
    /// A 5xx or a connection failure: worth retrying.
    Failed(String),
    /// Any other unsuccessful status: asking again gives the same answer.
    Status(u16),
    TooLarge(usize),
}

impl TmdbClient {
    /// A client for the API at `base_url` (normally [`DEFAULT_BASE_URL`]) with the user's v3 key.
    pub fn new(api_key: impl Into<String>, base_url: &str) -> Result<Self, ImportError> {
        let api_key = api_key.into().trim().to_owned();
        if api_key.is_empty() {
            return Err(CoreError::InvalidInput("the TMDB API key is empty".into()).into());
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("MovieTalk/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ImportError::Read {
                source_name: "TMDB".into(),
                message: describe(e),
            })?;
        Ok(TmdbClient {
            base_url: check_base(base_url, "TMDB API base URL")?,
            image_base: DEFAULT_IMAGE_BASE.to_owned(),
            api_key,
            http,
            timeout: DEFAULT_TIMEOUT,
            retries: 3,
            rate_limit_retries: 5,
            backoff: Duration::from_millis(500),
            max_retry_after: MAX_RETRY_AFTER,
        })
    }

    /// Posters come from `image_base` + the film's `poster_path` (default [`DEFAULT_IMAGE_BASE`]).
    pub fn with_image_base(mut self, image_base: &str) -> Result<Self, ImportError> {
        self.image_base = check_base(image_base, "TMDB image base URL")?;
        Ok(self)
    }

    /// How long one request may take (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Retries after a timeout, a 5xx or a connection failure (default 3).
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Retries after a 429 (default 5).
    pub fn with_rate_limit_retries(mut self, retries: u32) -> Self {
        self.rate_limit_retries = retries;
        self
    }

    /// First pause before a retry, doubled each time (default 500 ms); also the wait after a
    /// 429 that gives no `Retry-After`.
    pub fn with_backoff(mut self, backoff: Duration) -> Self {
        self.backoff = backoff;
        self
    }

    /// Cap on the wait a `Retry-After` header can impose (default [`MAX_RETRY_AFTER`]).
    pub fn with_max_retry_after(mut self, cap: Duration) -> Self {
        self.max_retry_after = cap;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn image_base(&self) -> &str {
        &self.image_base
    }

    /// TMDB's movie genres, named in English.
    pub async fn genres(&self) -> Result<Vec<TmdbGenre>, ImportError> {
        let list: GenreList = self
            .get_json("/genre/movie/list", &[("language", "en-US")])
            .await?;
        Ok(list.genres)
    }

    /// One page (from 1) of `/movie/popular`.
    pub async fn popular_page(&self, page: u32) -> Result<ListPage, ImportError> {
        self.get_json(
            "/movie/popular",
            &[("page", &page.to_string()), ("language", "en-US")],
        )
        .await
    }

    /// One page (from 1) of `/discover/movie` for one genre, most popular first.
    pub async fn discover_page(&self, genre_id: i64, page: u32) -> Result<ListPage, ImportError> {
        let params = [
            ("with_genres", genre_id.to_string()),
            ("sort_by", "popularity.desc".to_owned()),
            ("page", page.to_string()),
            ("language", "en-US".to_owned()),
        ];
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.get_json("/discover/movie", &params).await
    }

    /// One film: details and credits in English, title and overview in Korean. `None` when TMDB
    /// no longer has the film (404: it was removed between the listing and now) or it has no title.
    /// Its key is [`movie_key`] of the English title and year; [`import_popular`] may change it.
    pub async fn movie(&self, id: i64) -> Result<Option<Movie>, ImportError> {
        let path = format!("/movie/{id}");
        let en = self.details(
            &path,
            &[("language", "en-US"), ("append_to_response", "credits")],
        );
        let ko = self.details(&path, &[("language", "ko-KR")]);
        let (en, ko) = tokio::try_join!(en, ko)?;
        Ok(en.and_then(|en| to_movie(en, ko, &self.image_base)))
    }

    async fn details(
        &self,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<Option<Details>, ImportError> {
        match self.get_json(path, params).await {
            Ok(d) => Ok(Some(d)),
            Err(ImportError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Downloads the poster at `url` into `file` unless `file` is already there (posters do not
    /// change under a path: TMDB gives a new image a new path). Written beside and renamed, so
    /// an interrupted download never leaves a truncated image under the final name.
    pub async fn cache_poster(&self, url: &str, file: &Path) -> Result<PosterOutcome, ImportError> {
        if file.is_file() {
            return Ok(PosterOutcome::Cached);
        }
        let parsed = Url::parse(url).map_err(|e| ImportError::Read {
            source_name: url.to_owned(),
            message: e.to_string(),
        })?;
        let bytes = self.get(parsed, url, MAX_POSTER_BYTES).await?;
        let write_err = |e: std::io::Error| ImportError::Read {
            source_name: file.display().to_string(),
            message: format!("cannot write the poster: {e}"),
        };
        let partial = file.with_extension("jpg.part");
        // Small files: a blocking write costs less than handing it to another thread.
        std::fs::write(&partial, &bytes).map_err(write_err)?;
        std::fs::rename(&partial, file).map_err(write_err)?;
        Ok(PosterOutcome::Downloaded)
    }

    /// GET an API path and parse its JSON. The endpoint named in errors is the path and the
    /// parameters, without the key.
    async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        params: &[(&str, &str)],
    ) -> Result<T, ImportError> {
        let mut url =
            Url::parse(&format!("{}{path}", self.base_url)).map_err(|e| ImportError::Read {
                source_name: format!("TMDB {path}"),
                message: e.to_string(),
            })?;
        if !params.is_empty() {
            url.query_pairs_mut().extend_pairs(params);
        }
        let endpoint = match url.query() {
            Some(q) => format!("TMDB {path}?{q}"),
            None => format!("TMDB {path}"),
        };
        url.query_pairs_mut().append_pair("api_key", &self.api_key);
        let body = self.get(url, &endpoint, MAX_RESPONSE_BYTES).await?;
        serde_json::from_slice(&body).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => ImportError::Response {
                endpoint,
                message: e.to_string(),
            },
            _ => ImportError::Syntax {
                source_name: endpoint,
                message: e.to_string(),
            },
        })
    }

    /// GET with the retry policy (see [`TmdbClient`]). `endpoint` names the request in errors.
    async fn get(
        &self,
        url: Url,
        endpoint: &str,
        max_bytes: usize,
    ) -> Result<Vec<u8>, ImportError> {
        let endpoint = endpoint.to_owned();
        let mut failures = 0u32;
        let mut limited = 0u32;
        loop {
            let wait = match self.attempt(url.clone(), max_bytes).await {
                Attempt::Done(body) => return Ok(body),
                Attempt::Refused => return Err(ImportError::ApiKeyRefused { endpoint }),
                Attempt::Status(status) => return Err(ImportError::Status { endpoint, status }),
                Attempt::TooLarge(max) => {
                    return Err(ImportError::Read {
                        source_name: endpoint,
                        message: format!("the answer is larger than {max} bytes"),
                    });
                }
                Attempt::RateLimited(retry_after) => {
                    limited += 1;
                    if limited > self.rate_limit_retries {
                        return Err(ImportError::RateLimited {
                            endpoint,
                            attempts: failures + limited,
                        });
                    }
                    retry_after
                        .unwrap_or(self.backoff)
                        .min(self.max_retry_after)
                }
                Attempt::TimedOut => {
                    failures += 1;
                    if failures > self.retries {
                        let seconds = self.timeout.as_secs_f64();
                        return Err(ImportError::Timeout {
                            endpoint,
                            seconds,
                            attempts: failures + limited,
                        });
                    }
                    self.backoff_after(failures)
                }
                Attempt::Failed(message) => {
                    failures += 1;
                    if failures > self.retries {
                        return Err(ImportError::Unavailable {
                            endpoint,
                            attempts: failures + limited,
                            message,
                        });
                    }
                    self.backoff_after(failures)
                }
            };
            tracing::debug!(%endpoint, ?wait, "retrying a TMDB request");
            tokio::time::sleep(wait).await;
        }
    }

    fn backoff_after(&self, failures: u32) -> Duration {
        self.backoff
            .saturating_mul(1 << failures.saturating_sub(1).min(16))
            .min(MAX_BACKOFF)
    }

    async fn attempt(&self, url: Url, max_bytes: usize) -> Attempt {
        let mut response = match self.http.get(url).timeout(self.timeout).send().await {
            Ok(r) => r,
            Err(e) if e.is_timeout() => return Attempt::TimedOut,
            Err(e) => return Attempt::Failed(describe(e)),
        };
        let status = response.status();
        if status == StatusCode::TOO_MANY_REQUESTS {
            return Attempt::RateLimited(retry_after(response.headers()));
        }
        if status == StatusCode::UNAUTHORIZED {
            return Attempt::Refused;
        }
        if status.is_server_error() {
            return Attempt::Failed(format!("the server answered {status}"));
        }
        if !status.is_success() {
            return Attempt::Status(status.as_u16());
        }
        let mut body = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > max_bytes {
                        return Attempt::TooLarge(max_bytes);
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Attempt::Done(body),
                Err(e) if e.is_timeout() => return Attempt::TimedOut,
                Err(e) => return Attempt::Failed(describe(e)),
            }
        }
    }
}

/// What [`TmdbClient::cache_poster`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PosterOutcome {
    Downloaded,
    Cached,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TmdbReport {
    /// Distinct films in the lists (a film listed on two pages counts once).
    pub listed: u64,
    /// Listed films TMDB no longer has (404) or that have no title; not imported.
    pub skipped: u64,
    pub stats: ImportStats,
    pub posters_downloaded: u64,
    /// Posters already in the cache directory.
    pub posters_cached: u64,
    /// Posters that could not be downloaded or saved. A poster is a cache, so this does not
    /// stop the import; the first reason is in `poster_error`.
    pub posters_failed: u64,
    pub poster_error: Option<String>,
}

/// Imports `pages` pages (20 films each) of TMDB's popular films, or of the films of `genre`
/// (a TMDB genre name or its catalog name, e.g. "Animated"), into `catalog`: lists the ids,
/// fetches each film in English and Korean, downloads missing posters into `poster_dir` as
/// `<key>.jpg`, then writes every film in one transaction. `progress` counts fetched films.
///
/// Re-running it with the same answers from TMDB changes nothing: the films are identical, so
/// the catalog merge reports them unchanged, and cached posters are not downloaded again.
pub async fn import_popular(
    catalog: &mut Catalog,
    client: &TmdbClient,
    pages: u32,
    genre: Option<&str>,
    poster_dir: Option<&Path>,
    progress: &mut dyn FnMut(Progress),
) -> Result<TmdbReport, ImportError> {
    if !(1..=MAX_PAGES).contains(&pages) {
        return Err(CoreError::InvalidInput(format!(
            "pages must be between 1 and {MAX_PAGES}, not {pages}"
        ))
        .into());
    }
    let genre_id = match genre {
        Some(name) => Some(find_genre(&client.genres().await?, name)?),
        None => None,
    };

    let mut ids = Vec::new();
    let mut seen = HashSet::new();
    for page in 1..=pages {
        let list = match genre_id {
            Some(g) => client.discover_page(g, page).await?,
            None => client.popular_page(page).await?,
        };
        ids.extend(
            list.results
                .iter()
                .map(|e| e.id)
                .filter(|id| seen.insert(*id)),
        );
        if list.results.is_empty() || list.total_pages.is_some_and(|last| page >= last) {
            break;
        }
    }

    let total = ids.len() as u64;
    let mut report = TmdbReport {
        listed: total,
        ..Default::default()
    };
    progress(Progress { done: 0, total });
    let mut movies = Vec::with_capacity(ids.len());
    let mut fetches = stream::iter(ids.iter().map(|&id| client.movie(id))).buffered(CONCURRENCY);
    let mut done = 0;
    while let Some(movie) = fetches.next().await {
        match movie? {
            Some(m) => movies.push(m),
            None => report.skipped += 1,
        }
        done += 1;
        progress(Progress { done, total });
    }
    drop(fetches);

    assign_keys(catalog, &mut movies)?;

    if let Some(dir) = poster_dir {
        cache_posters(client, &movies, dir, &mut report).await;
    }

    report.stats = catalog.import_with_progress(
        &movies,
        Source::Tmdb,
        movies.len().max(1),
        &mut |written| {
            tracing::debug!(written, "TMDB films written");
        },
    )?;
    progress(Progress { done: total, total });
    Ok(report)
}

/// The catalog's name for a TMDB genre: the vocabulary is shared with the starter catalog and
/// Wikipedia, so browsing by genre finds films from every source.
pub fn catalog_genre(tmdb_name: &str) -> String {
    match tmdb_name {
        "Animation" => "Animated",
        "History" => "Historical",
        "Music" => "Musical",
        other => other,
    }
    .to_owned()
}

/// The id of the genre named `name` (TMDB's name or the catalog's, any case).
pub fn find_genre(genres: &[TmdbGenre], name: &str) -> Result<i64, ImportError> {
    let wanted = name.trim().to_lowercase();
    genres
        .iter()
        .find(|g| {
            g.name.to_lowercase() == wanted || catalog_genre(&g.name).to_lowercase() == wanted
        })
        .map(|g| g.id)
        .ok_or_else(|| {
            let names: Vec<String> = genres.iter().map(|g| catalog_genre(&g.name)).collect();
            CoreError::InvalidInput(format!(
                "TMDB has no genre {name:?}; its genres are: {}",
                names.join(", ")
            ))
            .into()
        })
}

fn to_movie(en: Details, ko: Option<Details>, image_base: &str) -> Option<Movie> {
    let title = non_empty(en.title)?;
    let year = en.release_date.as_deref().and_then(year_of);
    let credits = en.credits.unwrap_or_default();
    let mut cast = credits.cast.unwrap_or_default();
    // Billing order; a stable sort keeps TMDB's order where `order` is missing.
    cast.sort_by_key(|c| c.order.unwrap_or(i64::MAX));
    let cast = distinct(cast.into_iter().map(|c| c.name))
        .into_iter()
        .take(MAX_CAST)
        .collect();
    let directors = distinct(
        credits
            .crew
            .unwrap_or_default()
            .into_iter()
            .filter(|c| c.job.as_deref() == Some("Director"))
            .map(|c| c.name),
    );
    let genres = distinct(
        en.genres
            .unwrap_or_default()
            .into_iter()
            .map(|g| catalog_genre(g.name.trim())),
    );
    let original_title = non_empty(en.original_title);
    let korean_original = en.original_language.as_deref() == Some("ko");
    // Without a Korean translation TMDB answers ko-KR with the original title: that is not a
    // Korean title (unless the film is Korean), so it is not stored as one.
    let (title_ko, overview_ko) = match ko {
        Some(ko) => (
            non_empty(ko.title).filter(|t| korean_original || Some(t) != original_title.as_ref()),
            non_empty(ko.overview),
        ),
        None => (None, None),
    };
    let poster_url =
        non_empty(en.poster_path).map(|p| format!("{image_base}/{}", p.trim_start_matches('/')));
    Some(Movie {
        key: movie_key(&title, year),
        title,
        title_ko,
        original_title,
        year,
        runtime: en.runtime.filter(|&r| r > 0),
        genres,
        directors,
        cast,
        overview: non_empty(en.overview),
        overview_ko,
        imdb_id: non_empty(en.imdb_id),
        wikipedia: None,
        tmdb_id: Some(en.id),
        poster_url,
        popularity: en.popularity,
    })
}

/// Gives every film its catalog key: the key of the film already holding its TMDB id, else its
/// title key — unless that key belongs to a different TMDB film (in the catalog or earlier in
/// this batch: two films with the same title and year), then `<key>-tmdb-<id>`.
fn assign_keys(catalog: &Catalog, movies: &mut [Movie]) -> Result<(), ImportError> {
    let mut taken: HashMap<String, i64> = HashMap::new();
    for m in movies.iter_mut() {
        let Some(id) = m.tmdb_id else { continue };
        if let Some(existing) = catalog.key_for_tmdb(id)? {
            m.key = existing;
        } else {
            let held_by_other = catalog
                .get(&m.key)?
                .and_then(|e| e.tmdb_id)
                .is_some_and(|other| other != id);
            if held_by_other || taken.get(&m.key).is_some_and(|&other| other != id) {
                m.key = format!("{}-tmdb-{id}", m.key);
            }
        }
        taken.insert(m.key.clone(), id);
    }
    Ok(())
}

async fn cache_posters(client: &TmdbClient, movies: &[Movie], dir: &Path, report: &mut TmdbReport) {
    if let Err(e) = std::fs::create_dir_all(dir) {
        report.posters_failed = movies.iter().filter(|m| m.poster_url.is_some()).count() as u64;
        report.poster_error = Some(format!("cannot create {}: {e}", dir.display()));
        return;
    }
    let jobs: Vec<(&str, PathBuf)> = movies
        .iter()
        .filter_map(|m| Some((m.poster_url.as_deref()?, poster_file(dir, &m.key)?)))
        .collect();
    let mut downloads = stream::iter(
        jobs.iter()
            .map(|(url, file)| client.cache_poster(url, file)),
    )
    .buffer_unordered(CONCURRENCY);
    while let Some(outcome) = downloads.next().await {
        match outcome {
            Ok(PosterOutcome::Downloaded) => report.posters_downloaded += 1,
            Ok(PosterOutcome::Cached) => report.posters_cached += 1,
            Err(e) => {
                tracing::warn!(error = %e, "a TMDB poster was not cached");
                report.posters_failed += 1;
                report.poster_error.get_or_insert_with(|| e.to_string());
            }
        }
    }
}

/// `<dir>/<key>.jpg`, or `None` for a key that is not a plain file name (keys made by
/// [`movie_key`] always are; this guards against a hand-edited database).
pub fn poster_file(dir: &Path, key: &str) -> Option<PathBuf> {
    let plain = !key.is_empty() && !key.starts_with('.') && !key.contains(['/', '\\', '\0']);
    plain.then(|| dir.join(format!("{key}.jpg")))
}

fn check_base(url: &str, what: &str) -> Result<String, ImportError> {
    let trimmed = url.trim().trim_end_matches('/');
    match Url::parse(trimmed) {
        Ok(u) if matches!(u.scheme(), "http" | "https") => Ok(trimmed.to_owned()),
        Ok(_) => {
            Err(CoreError::InvalidInput(format!("{what} {url:?} is not an http(s) address")).into())
        }
        Err(e) => Err(CoreError::InvalidInput(format!(
            "{what} {url:?} is not a valid address: {e}"
        ))
        .into()),
    }
}

/// The `Retry-After` delay when it is given in seconds (the HTTP-date form is not used by TMDB).
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// A reqwest error and its causes, without the URL (it holds the API key).
fn describe(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut message = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

fn non_empty(s: Option<String>) -> Option<String> {
    s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
}

/// The year of a `YYYY-MM-DD` release date; TMDB sends `""` when it has none.
fn year_of(date: &str) -> Option<i32> {
    date.get(..4)?
        .parse()
        .ok()
        .filter(|y| (1870..=2100).contains(y))
}

/// Non-empty, trimmed, first occurrence kept.
fn distinct(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = HashSet::new();
    items
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && seen.insert(s.clone()))
        .collect()
}

impl Catalog {
    /// The key of the film with this TMDB id, if the catalog has it.
    pub fn key_for_tmdb(&self, tmdb_id: i64) -> crate::error::Result<Option<String>> {
        use rusqlite::OptionalExtension;
        Ok(self
            .conn
            .prepare_cached("SELECT key FROM movies WHERE tmdb_id = ?1 ORDER BY id LIMIT 1")?
            .query_row([tmdb_id], |r| r.get(0))
            .optional()?)
    }
}
