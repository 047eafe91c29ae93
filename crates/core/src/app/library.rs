//! What this user keeps: the watchlist — their own offline (changes go out through the
//! outbox), ordered as asked, with a pick for tonight; another person's public one from the
//! relay — the diary, and their year in film.

use movietalk_protocol::ipc::{
    DiaryItem, MovieSummary, WatchlistEntry, WatchlistSort, WatchlistView, YearInFilm,
};
use movietalk_protocol::relay::DiaryEntry;
use movietalk_protocol::relay::{ClientMessage, ServerMessage, WatchlistFilm};

use super::{App, Reply, relay_error, storage};
use crate::Catalog;
use crate::relay_client::ClientError;

impl App {
    /// This user's watchlist, ordered by `sort`. Works offline. Ordering "for you" may load
    /// the recommender (call it off a window's main thread).
    pub fn watchlist(&self, sort: WatchlistSort) -> Reply<WatchlistView> {
        let mut films = self.catalog().watchlist().map_err(storage)?;
        match sort {
            WatchlistSort::Added => {}
            WatchlistSort::Title => films.sort_by_cached_key(|f| crate::text::fold(&f.title)),
            WatchlistSort::Year => films.sort_by_key(|f| std::cmp::Reverse(f.year)),
            WatchlistSort::ForYou => films = self.ranked_for_me(films)?,
        }
        let handle = self.me();
        let catalog = self.catalog();
        Ok(WatchlistView {
            handle,
            films: self.entries(&catalog, films)?,
            public: catalog.watchlist_public().map_err(storage)?,
        })
    }

    /// Another person's watchlist, from the relay: `forbidden` when it is private. This user's
    /// own handle answers the local one.
    pub async fn watchlist_of(&self, handle: &str) -> Reply<WatchlistView> {
        let handle = handle.trim();
        if self.me().as_deref() == Some(handle) {
            return self.watchlist(WatchlistSort::Added);
        }
        let c = self.connected().await.ok_or_else(super::offline)?;
        let ask = ClientMessage::Watchlist {
            handle: Some(handle.to_owned()),
            since: None,
        };
        let reply = c.client.call(ask).await.map_err(relay_error)?;
        let ServerMessage::Watchlist {
            handle,
            public,
            films,
            ..
        } = reply
        else {
            let e = ClientError::Protocol(format!("expected a watchlist, got {reply:?}"));
            return Err(relay_error(e));
        };
        let catalog = self.catalog();
        Ok(WatchlistView {
            handle: Some(handle),
            films: self.entries(&catalog, films)?,
            public,
        })
    }

    /// This user's diary, most recent watch first, each with its film. Works offline.
    pub fn diary(&self) -> Reply<Vec<DiaryItem>> {
        let catalog = self.catalog();
        let entries = catalog.diary().map_err(storage)?;
        let films: Vec<WatchlistFilm> = entries
            .iter()
            .map(|e| WatchlistFilm {
                movie_key: e.movie_key.clone(),
                title: e.title.clone(),
                year: e.year,
                added_at_ms: e.edited_at_ms,
            })
            .collect();
        let movies = self.entries(&catalog, films)?;
        Ok(entries
            .into_iter()
            .zip(movies)
            .map(|(entry, m)| DiaryItem {
                entry,
                movie: m.movie,
            })
            .collect())
    }

    /// Logs a watch (locally now, on the relay when reachable).
    pub fn log_watch(&self, watch: &crate::diary::NewWatch) -> Reply<DiaryEntry> {
        let entry = self.catalog().log_watch(watch).map_err(storage)?;
        self.wake.notify_one();
        Ok(entry)
    }

    /// Deletes a watch from the diary; answers whether there was one.
    pub fn delete_watch(&self, client_id: &str) -> Reply<bool> {
        let deleted = self.catalog().delete_watch(client_id).map_err(storage)?;
        self.wake.notify_one();
        Ok(deleted)
    }

    /// This user's year in film (`None`: the newest year with figures). Works offline.
    pub fn year_in_film(&self, year: Option<i32>) -> Reply<YearInFilm> {
        self.catalog().year_in_film(year).map_err(storage)
    }

    /// Puts a film on the watchlist (`on`) or takes it off; answers whether anything changed.
    pub fn set_watchlist(&self, key: &str, on: bool) -> Reply<bool> {
        let changed = self.catalog().set_watchlist(key, on).map_err(storage)?;
        self.wake.notify_one();
        Ok(changed)
    }

    /// Lets others read this user's watchlist, or stops them.
    pub fn set_watchlist_public(&self, public: bool) -> Reply<()> {
        self.catalog()
            .set_watchlist_public(public)
            .map_err(storage)?;
        self.wake.notify_one();
        Ok(())
    }

    /// A film from the watchlist for tonight, favouring what the recommender ranks highest
    /// ([`crate::watchlist::favoured`]); never `not_this` (the previous pick) when there is
    /// another. `None` for an empty watchlist.
    pub fn pick_for_tonight(&self, not_this: Option<&str>) -> Reply<Option<WatchlistEntry>> {
        let films = self.catalog().watchlist().map_err(storage)?;
        let mut ranked = self.ranked_for_me(films)?;
        if ranked.len() > 1 {
            ranked.retain(|f| Some(f.movie_key.as_str()) != not_this);
        }
        let Some(i) = crate::watchlist::favoured(ranked.len(), fastrand::f64()) else {
            return Ok(None);
        };
        let pick = ranked.swap_remove(i);
        let catalog = self.catalog();
        Ok(self.entries(&catalog, vec![pick])?.pop())
    }

    /// The films, best for this user first by the recommender (films it cannot score last,
    /// newest addition first among them).
    fn ranked_for_me(&self, films: Vec<WatchlistFilm>) -> Reply<Vec<WatchlistFilm>> {
        if films.len() < 2 {
            return Ok(films);
        }
        let recommender = self.recommender().map_err(storage)?;
        let catalog = self.catalog();
        let ratings = catalog.ratings().map_err(storage)?;
        let scores: std::collections::HashMap<i64, f32> =
            recommender.score(&ratings).into_iter().collect();
        let mut scored = Vec::with_capacity(films.len());
        for f in films {
            let id = catalog.movie_id(&f.movie_key).map_err(storage)?;
            let score = id.and_then(|id| scores.get(&id).copied());
            scored.push((score, f));
        }
        // Stable: equal scores keep the newest addition first.
        scored.sort_by(|a, b| match (a.0, b.0) {
            (Some(x), Some(y)) => y.total_cmp(&x),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        });
        Ok(scored.into_iter().map(|(_, f)| f).collect())
    }

    /// Watchlist films as a front end shows them: the catalog's film where it has it.
    fn entries(&self, catalog: &Catalog, films: Vec<WatchlistFilm>) -> Reply<Vec<WatchlistEntry>> {
        let summary = self.summaries(catalog).map_err(storage)?;
        let mut out = Vec::with_capacity(films.len());
        for f in films {
            let movie = match catalog.get(&f.movie_key).map_err(storage)? {
                Some(m) => summary(m),
                None => MovieSummary {
                    on_watchlist: catalog.on_watchlist(&f.movie_key).map_err(storage)?,
                    key: f.movie_key,
                    title: f.title,
                    title_ko: None,
                    year: f.year,
                    genres: Vec::new(),
                    directors: Vec::new(),
                    overview: None,
                    overview_ko: None,
                    poster: false,
                },
            };
            out.push(WatchlistEntry {
                movie,
                added_at_ms: f.added_at_ms,
            });
        }
        Ok(out)
    }
}
