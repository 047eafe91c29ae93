//! Films: search, a film's page, this user's reviews and comments (written locally, delivered
//! by the link), home's picks, imports and the export.
//!
//! Home's personal picks are kept in the data folder with what they depend on ([`picks_key`]),
//! so a start shows them without loading the recommendation index; the index itself stays in
//! memory while used and is let go after [`RELEASE_RECOMMENDER_AFTER`] unused.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use movietalk_protocol::command::MAX_PAGE;
use movietalk_protocol::command::cmd::SearchMovies;
use movietalk_protocol::ipc::{
    Home, ImportProgress, ImportReport, IpcError, IpcErrorCode, LetterboxdReport, MovieDetail,
    MoviePage, MyReview, RecommendedMovie, ReviewPage,
};
use movietalk_protocol::relay::LikeTarget;

use super::views::{comment_view, my_review, review_view};
use super::{App, AppEvent, POSTERS_DIR, Reply, TMDB_SECRET, invalid, lock, not_found, storage};
use crate::recommend::{Rating, Reason, Recommender};
use crate::{Catalog, CoreError, paths};

/// How long the recommender stays in memory unused. Reloading it takes about 30 ms at 36,000
/// films; holding it costs about 20 MiB (docs/benchmarks.md), which an app sitting idle in the
/// background gives back.
pub const RELEASE_RECOMMENDER_AFTER: Duration = Duration::from_secs(60);
/// Home's last personal picks, beside the catalog.
const PICKS_FILE: &str = "home-picks.json";
/// How many picks home shows.
const HOME_PICKS: usize = 12;

/// The recommender in memory: for which catalog generation, and when it was last asked for.
#[derive(Default)]
pub(super) struct RecommenderCache(Mutex<Option<Loaded>>);

struct Loaded {
    /// The catalog's generation and the community model's stamp.
    generation: (i64, u64),
    recommender: Arc<Recommender>,
    last_used: Instant,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredPicks {
    key: String,
    picks: Vec<RecommendedMovie>,
}

/// What home's picks depend on: this app's version and the recommender's scoring revision, the
/// catalog's generation (imports), the community model's stamp and this user's ratings.
pub fn picks_key(generation: (i64, u64), ratings: &[Rating]) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for (id, stars) in ratings {
        (id, stars.to_bits()).hash(&mut h);
    }
    format!(
        "{}:{}:{}:{}:{}:{:016x}",
        env!("CARGO_PKG_VERSION"),
        crate::recommend::SCORING_REVISION,
        generation.0,
        generation.1,
        ratings.len(),
        h.finish()
    )
}

/// What the recommender is built from: the catalog's generation and the community model's stamp.
fn generation_of(catalog: &Catalog) -> crate::error::Result<(i64, u64)> {
    Ok((
        catalog.generation()?,
        crate::recommend::community::stamp(catalog)?,
    ))
}

impl App {
    /// One page of the films matching the search (all films when the query is blank).
    pub fn search_movies(&self, s: SearchMovies) -> Reply<MoviePage> {
        let years = match (s.year_from, s.year_to) {
            (None, None) => None,
            (from, to) => Some((from.unwrap_or(i32::MIN), to.unwrap_or(i32::MAX))),
        };
        if let Some((from, to)) = years
            && from > to
        {
            return Err(invalid(format!("the year range {from}–{to} is empty")));
        }
        let q = crate::SearchQuery {
            text: s.query,
            genre: s.genre.filter(|g| !g.is_empty()),
            years,
            sort: s.sort.unwrap_or_default(),
            limit: s.limit.clamp(1, MAX_PAGE),
            offset: s.offset,
        };
        let catalog = self.catalog();
        let found = catalog.search(&q).map_err(storage)?;
        Ok(MoviePage {
            movies: found
                .movies
                .into_iter()
                .map(self.summaries(&catalog).map_err(storage)?)
                .collect(),
            total: found.total,
            fallback: found.fallback.is_some(),
        })
    }

    /// The catalog's genres with how many films each has.
    pub fn genres(&self) -> Reply<Vec<(String, u64)>> {
        self.catalog().genres().map_err(storage)
    }

    /// Everything a film's page shows; works offline (reviews as last pulled). Loading the
    /// recommender may first rebuild its index after an import (seconds at 36k films): call it
    /// off a window's main thread.
    pub fn movie_detail(&self, key: &str) -> Reply<MovieDetail> {
        let me = self.me();
        let recommender = self.recommender().map_err(storage)?;
        let catalog = self.catalog();
        let movie = catalog
            .get(key)
            .map_err(storage)?
            .ok_or_else(|| not_found(format!("no movie {key:?}")))?;
        let similar = recommender.similar(&catalog, key, 8).map_err(storage)?;
        let reviews = catalog.reviews_of(key).map_err(storage)?;
        let summary = self.summaries(&catalog).map_err(storage)?;
        Ok(MovieDetail {
            room: format!("film:{}", movie.key),
            original_title: movie.original_title.clone(),
            runtime: movie.runtime,
            cast: movie.cast.clone(),
            my_review: catalog.my_review(key).map_err(storage)?.map(my_review),
            reviews: reviews
                .into_iter()
                .map(|r| review_view(r, me.as_deref(), &catalog))
                .collect(),
            similar: similar.into_iter().map(|s| summary(s.movie)).collect(),
            movie: summary(movie),
        })
    }

    /// Saves this user's rating and review of a film (locally now, on the relay when reachable).
    pub fn save_review(
        &self,
        key: &str,
        rating: f32,
        body: &str,
        spoiler: bool,
    ) -> Reply<MyReview> {
        let saved = self
            .catalog()
            .save_review(key, rating, body, spoiler)
            .map_err(storage)?;
        self.wake.notify_one();
        Ok(my_review(saved))
    }

    /// Deletes this user's review and rating of a film; answers whether there was one.
    pub fn delete_review(&self, key: &str) -> Reply<bool> {
        let deleted = self.catalog().delete_my_review(key).map_err(storage)?;
        self.wake.notify_one();
        Ok(deleted)
    }

    /// A review with its comments, as last pulled plus this user's unsent comments.
    pub fn review_page(&self, review_id: u64) -> Reply<ReviewPage> {
        let me = self.me();
        let catalog = self.catalog();
        let review = catalog
            .cached_review(review_id)
            .map_err(storage)?
            .ok_or_else(|| not_found(format!("no review {review_id}")))?;
        let author = review.review.author.clone();
        let comments = catalog.comments_of(review_id).map_err(storage)?;
        Ok(ReviewPage {
            review: review_view(review, me.as_deref(), &catalog),
            comments: comments
                .into_iter()
                .map(|c| comment_view(c, me.as_deref(), &author, &catalog))
                .collect(),
        })
    }

    /// Comments on a review; answers the comment's client id (its name until delivered).
    pub fn post_comment(&self, review_id: u64, body: &str) -> Reply<String> {
        let id = self
            .catalog()
            .post_comment(review_id, body.trim())
            .map_err(storage)?;
        self.wake.notify_one();
        Ok(id)
    }

    pub fn edit_comment(&self, comment_id: u64, body: &str) -> Reply<()> {
        self.catalog()
            .edit_comment(comment_id, body.trim())
            .map_err(storage)?;
        self.wake.notify_one();
        Ok(())
    }

    pub fn delete_comment(&self, comment_id: u64) -> Reply<()> {
        self.catalog().delete_comment(comment_id).map_err(storage)?;
        self.wake.notify_one();
        Ok(())
    }

    /// Takes back a comment the relay has not received yet; answers whether it was still waiting.
    pub fn cancel_comment(&self, client_id: &str) -> Reply<bool> {
        self.catalog().cancel_comment(client_id).map_err(storage)
    }

    pub fn like(&self, target: LikeTarget, on: bool) -> Reply<()> {
        self.catalog().like(target, on).map_err(storage)?;
        self.wake.notify_one();
        Ok(())
    }

    /// Home: recommendations with reasons (or cold-start picks) and recent rooms. Like
    /// [`App::movie_detail`], it may load the recommender.
    pub fn home(&self) -> Reply<Home> {
        let (generation, ratings) = {
            let catalog = self.catalog();
            (
                generation_of(&catalog).map_err(storage)?,
                catalog.ratings().map_err(storage)?,
            )
        };
        let rated = ratings.len() as u32;
        let cold_start = rated < movietalk_protocol::ipc::FEW_RATINGS;
        let recent_rooms = self.settings().recent_rooms;
        // The picks stay what they were while neither the ratings nor the catalog changed: a
        // start then shows them without loading the recommendation index.
        let key = picks_key(generation, &ratings);
        if !cold_start && let Some(mut recommendations) = self.cached_picks(&key) {
            // Kept picks are as they were; whether each is on the watchlist is as it is now.
            let watchlist = self.catalog().watchlist_keys().map_err(storage)?;
            for r in &mut recommendations {
                r.movie.on_watchlist = watchlist.contains(&r.movie.key);
            }
            return Ok(Home {
                recommendations,
                cold_start,
                rated,
                recent_rooms,
            });
        }
        // Before any rating the picks come from the catalog alone: the index is not loaded.
        let recommender = if cold_start {
            None
        } else {
            Some(self.recommender().map_err(storage)?)
        };
        let recs = {
            let catalog = self.catalog();
            match &recommender {
                None => Recommender::cold_start(&catalog, HOME_PICKS),
                Some(r) => r.recommend(&catalog, &ratings, HOME_PICKS),
            }
            .map_err(storage)?
        };
        let summary = self.summaries(&self.catalog()).map_err(storage)?;
        let recommendations: Vec<RecommendedMovie> = recs
            .into_iter()
            .map(|r| {
                let (because, community_because, popular_in) = match r.reason {
                    Reason::BecauseYouLiked { titles, community } => (titles, community, None),
                    Reason::PopularIn { genre } => (Vec::new(), Vec::new(), Some(genre)),
                };
                RecommendedMovie {
                    movie: summary(r.movie),
                    because,
                    community_because,
                    popular_in,
                }
            })
            .collect();
        if !cold_start {
            self.remember_picks(&key, &recommendations);
        }
        Ok(Home {
            recommendations,
            cold_start,
            rated,
            recent_rooms,
        })
    }

    /// The recommender for the catalog as it is now.
    pub(super) fn recommender(&self) -> crate::error::Result<Arc<Recommender>> {
        let mut catalog = self.catalog();
        let generation = generation_of(&catalog)?;
        let mut cached = lock(&self.recommender.0);
        if let Some(loaded) = cached.as_mut()
            && loaded.generation == generation
        {
            loaded.last_used = Instant::now();
            return Ok(loaded.recommender.clone());
        }
        // After an import the index is rebuilt first: the window hears how far, when slow.
        let mut progress = index_progress(self.events.clone());
        catalog.prepare_recommendations_with(&mut progress)?;
        let recommender = Arc::new(catalog.recommender()?);
        *cached = Some(Loaded {
            generation,
            recommender: recommender.clone(),
            last_used: Instant::now(),
        });
        Ok(recommender)
    }

    /// Lets the recommender go if nobody asked for it for [`RELEASE_RECOMMENDER_AFTER`]; the
    /// next request loads it again. Call it now and then (the desktop app: every 15 s).
    pub fn release_idle_recommender(&self) {
        let mut cached = lock(&self.recommender.0);
        if cached
            .as_ref()
            .is_some_and(|l| l.last_used.elapsed() >= RELEASE_RECOMMENDER_AFTER)
        {
            *cached = None;
            tracing::debug!("recommender released after a minute unused");
        }
    }

    fn cached_picks(&self, key: &str) -> Option<Vec<RecommendedMovie>> {
        let bytes = std::fs::read(self.data_dir.join(PICKS_FILE)).ok()?;
        let stored: StoredPicks = serde_json::from_slice(&bytes).ok()?;
        (stored.key == key).then_some(stored.picks)
    }

    /// Keeps home's picks for the next start (a failure only costs a recomputation).
    fn remember_picks(&self, key: &str, picks: &[RecommendedMovie]) {
        let stored = StoredPicks {
            key: key.to_owned(),
            picks: picks.to_vec(),
        };
        let path = self.data_dir.join(PICKS_FILE);
        let tmp = path.with_extension("json.part");
        let written = serde_json::to_vec(&stored)
            .map_err(std::io::Error::other)
            .and_then(|json| std::fs::write(&tmp, json))
            .and_then(|()| std::fs::rename(&tmp, &path));
        if let Err(e) = written {
            tracing::warn!(error = %e, "home's picks not kept");
        }
    }

    /// Brings the recommendation index up to date (it is rebuilt after an import) on its own
    /// connection and thread, so no screen waits for it.
    pub fn prepare_recommendations_in_background(&self) {
        let Ok(db) = paths::ensure_db_path(&self.data_dir) else {
            return;
        };
        let events = self.events.clone();
        std::thread::spawn(move || {
            let mut progress = index_progress(events);
            let ready =
                Catalog::open(&db).and_then(|mut c| c.prepare_recommendations_with(&mut progress));
            if let Err(e) = ready {
                tracing::warn!(error = %e, "cannot prepare the recommendation index");
            }
        });
    }

    fn progress(&self) -> impl FnMut(crate::import::Progress) + Send + 'static {
        let events = self.events.clone();
        move |p| {
            events(AppEvent::ImportProgress(ImportProgress {
                done: p.done,
                total: p.total,
                finished: false,
            }))
        }
    }

    fn import_finished(&self) {
        self.emit(AppEvent::ImportProgress(ImportProgress {
            done: 0,
            total: 0,
            finished: true,
        }));
    }

    /// Imports Wikipedia-format films from a file, a folder or a URL, telling how far it is with
    /// [`AppEvent::ImportProgress`].
    pub async fn import_wikipedia(&self, source: &str) -> Reply<ImportReport> {
        use crate::import::wikipedia;
        let source = source.trim().to_owned();
        if source.is_empty() {
            return Err(invalid("give a file, a folder or a URL"));
        }
        let batches = if source.starts_with("http://") || source.starts_with("https://") {
            let bytes = crate::import::fetch_url(&source)
                .await
                .map_err(|e| invalid(e.to_string()))?;
            vec![(source.clone(), bytes)]
        } else {
            let files = wikipedia::source_files(std::path::Path::new(&source))
                .map_err(|e| invalid(e.to_string()))?;
            let mut batches = Vec::new();
            for f in files {
                let bytes =
                    std::fs::read(&f).map_err(|e| invalid(format!("{}: {e}", f.display())))?;
                batches.push((f.display().to_string(), bytes));
            }
            batches
        };
        let catalog = self.catalog.clone();
        let mut on_progress = self.progress();
        let report = tokio::task::spawn_blocking(move || {
            wikipedia::import_batches(&mut lock(&catalog), batches, &mut on_progress)
        })
        .await
        .map_err(|e| IpcError::new(IpcErrorCode::Internal, e.to_string()))?;
        self.import_finished();
        let report = report.map_err(|e| invalid(e.to_string()))?;
        self.prepare_recommendations_in_background();
        Ok(ImportReport {
            added: report.stats.added,
            updated: report.stats.updated,
            unchanged: report.stats.unchanged,
            skipped: report.duplicates,
        })
    }

    /// Imports a Letterboxd export (.zip) — diary, reviews, watchlist, ratings — locally now
    /// and on the relay through the outbox; progress arrives as events.
    pub async fn import_letterboxd(&self, path: &str) -> Reply<LetterboxdReport> {
        let path = std::path::PathBuf::from(path.trim());
        if path.as_os_str().is_empty() {
            return Err(invalid("give the .zip Letterboxd exported"));
        }
        let catalog = self.catalog.clone();
        let mut on_progress = self.progress();
        let report = tokio::task::spawn_blocking(move || {
            crate::import::letterboxd_zip::import(&mut lock(&catalog), &path, &mut on_progress)
        })
        .await
        .map_err(|e| IpcError::new(IpcErrorCode::Internal, e.to_string()))?;
        self.import_finished();
        let report = report.map_err(storage)?;
        self.wake.notify_one();
        Ok(report)
    }

    /// Imports `pages` pages of TMDB's popular films (of `genre`, when given) in English and
    /// Korean with the API key from the keyring, caching posters in the data folder; progress
    /// arrives as events. `MOVIETALK_TMDB_BASE_URL` points it elsewhere (tests).
    pub async fn import_tmdb(&self, pages: u32, genre: Option<String>) -> Reply<ImportReport> {
        use crate::import::tmdb;
        let key = self
            .secrets
            .get(TMDB_SECRET)
            .map_err(|e| IpcError::new(IpcErrorCode::Storage, e.to_string()))?
            .ok_or_else(|| invalid("save your TMDB API key first"))?;
        let base =
            std::env::var(tmdb::BASE_URL_ENV).unwrap_or_else(|_| tmdb::DEFAULT_BASE_URL.to_owned());
        let mut client = tmdb::TmdbClient::new(key, &base).map_err(|e| invalid(e.to_string()))?;
        if let Ok(image_base) = std::env::var(tmdb::IMAGE_BASE_ENV) {
            client = client
                .with_image_base(&image_base)
                .map_err(|e| invalid(e.to_string()))?;
        }
        let db = paths::ensure_db_path(&self.data_dir).map_err(storage)?;
        let posters = self.data_dir.join(POSTERS_DIR);
        let genre = genre.filter(|g| !g.trim().is_empty());
        let mut on_progress = self.progress();
        // Its own connection on its own thread: the catalog stays usable meanwhile.
        let report = tokio::task::spawn_blocking(move || {
            let mut catalog = Catalog::open(&db)?;
            tokio::runtime::Handle::current()
                .block_on(tmdb::import_popular(
                    &mut catalog,
                    &client,
                    pages,
                    genre.as_deref(),
                    Some(&posters),
                    &mut on_progress,
                ))
                .map_err(|e| CoreError::InvalidInput(e.to_string()))
        })
        .await
        .map_err(|e| IpcError::new(IpcErrorCode::Internal, e.to_string()))?;
        self.import_finished();
        let report = report.map_err(storage)?;
        self.catalog().forget_caches();
        self.prepare_recommendations_in_background();
        Ok(ImportReport {
            added: report.stats.added,
            updated: report.stats.updated,
            unchanged: report.stats.unchanged,
            skipped: report.skipped,
        })
    }

    /// Writes everything that is this user's own — ratings and reviews, the watchlist and
    /// whether it is public, the diary — to a JSON file in the data folder; answers its path.
    pub fn export_data(&self) -> Reply<String> {
        let json = {
            let catalog = self.catalog();
            let mine: Vec<MyReview> = catalog
                .my_reviews()
                .map_err(storage)?
                .into_iter()
                .map(my_review)
                .collect();
            serde_json::json!({
                "format": "movietalk-export",
                "version": 2,
                "reviews": mine,
                "watchlist": catalog.watchlist().map_err(storage)?,
                "watchlist_public": catalog.watchlist_public().map_err(storage)?,
                "diary": catalog.diary().map_err(storage)?,
            })
        };
        let path = self
            .data_dir
            .join(format!("movietalk-export-{}.json", crate::sync::now_ms()));
        std::fs::write(
            &path,
            serde_json::to_vec_pretty(&json).expect("export serialises"),
        )
        .map_err(|e| IpcError::new(IpcErrorCode::Storage, e.to_string()))?;
        Ok(path.display().to_string())
    }
}

/// Tells the window how far a rebuild of the recommendation index is, once it has taken
/// longer than [`crate::recommend::SHOW_PROGRESS_AFTER`].
fn index_progress(events: super::EventSink) -> impl FnMut(crate::import::Progress) {
    crate::recommend::shown_after(crate::recommend::SHOW_PROGRESS_AFTER, move |p| {
        events(AppEvent::IndexProgress(ImportProgress {
            done: p.done,
            total: p.total,
            finished: p.done >= p.total,
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::picks_key;

    #[test]
    fn home_picks_are_made_again_when_a_rating_or_the_catalog_changes() {
        let ratings = [(1, 4.0), (2, 3.5)];
        let key = picks_key((3, 0), &ratings);
        assert_eq!(key, picks_key((3, 0), &[(1, 4.0), (2, 3.5)]));
        assert_ne!(key, picks_key((4, 0), &ratings), "an import");
        assert_ne!(key, picks_key((3, 1), &ratings), "a new community model");
        assert_ne!(
            key,
            picks_key((3, 0), &[(1, 4.0), (2, 4.0)]),
            "a changed rating"
        );
        assert_ne!(key, picks_key((3, 0), &[(1, 4.0)]), "a removed rating");
        assert_ne!(
            key,
            picks_key((3, 0), &[(2, 3.5), (1, 4.0)]),
            "another order"
        );
        let revision = format!(":{}:3:", crate::recommend::SCORING_REVISION);
        assert!(key.contains(&revision), "a new way of scoring: {key}");
    }
}
