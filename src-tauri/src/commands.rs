//! Tauri commands: each converts its arguments, calls the core (or the relay connection), and
//! maps the error to an [`IpcError`] code. No logic lives here.

use movietalk_core::relay_client::ClientError;
use movietalk_core::sync::{CachedComment, CachedReview, SyncError};
use movietalk_core::{Catalog, CoreError, Movie};
use movietalk_protocol::ipc::{
    AppInfo, Author, CommentView, EVENT_IMPORT_PROGRESS, FeedCursor, FeedPage, FollowsView, Home,
    ImportProgress, ImportReport, IpcError, IpcErrorCode, JoinedRoom, LoginMethodsView,
    MovieDetail, MoviePage, MovieSummary, MyReview, Profile, ProviderOutcome, RecommendedMovie,
    RelaySession, ReviewPage, ReviewView, RoomSummary, SessionInfo, Settings, SyncStatus,
};
use movietalk_protocol::relay::{ChatMessage, ErrorCode, LikeTarget};
use tauri::{AppHandle, Emitter, State};

use crate::state::{AppState, Connection, TMDB_SECRET};

/// Largest page the UI may ask for.
const MAX_PAGE: u32 = 200;

type Reply<T> = Result<T, IpcError>;

fn storage_error(e: CoreError) -> IpcError {
    match e {
        CoreError::InvalidInput(m) => IpcError::new(IpcErrorCode::InvalidInput, m),
        e => IpcError::new(IpcErrorCode::Storage, e.to_string()),
    }
}

fn invalid(message: impl Into<String>) -> IpcError {
    IpcError::new(IpcErrorCode::InvalidInput, message)
}

fn relay_error(e: ClientError) -> IpcError {
    let code = match &e {
        ClientError::Rejected { code, .. } => match code {
            ErrorCode::InvalidInput => IpcErrorCode::InvalidInput,
            ErrorCode::Unauthorized => IpcErrorCode::NotLoggedIn,
            ErrorCode::InvalidCredentials => IpcErrorCode::InvalidCredentials,
            ErrorCode::Conflict => IpcErrorCode::Conflict,
            ErrorCode::NotFound => IpcErrorCode::NotFound,
            ErrorCode::SessionExpired | ErrorCode::TokenReused => IpcErrorCode::SessionEnded,
            ErrorCode::LastLoginMethod => IpcErrorCode::LastLoginMethod,
            ErrorCode::ProviderUnavailable => IpcErrorCode::ProviderLogin,
            _ => IpcErrorCode::RelayRejected,
        },
        _ => IpcErrorCode::RelayUnavailable,
    };
    IpcError::new(code, e.to_string())
}

fn offline() -> IpcError {
    IpcError::new(
        IpcErrorCode::RelayUnavailable,
        "the relay is not reachable right now",
    )
}

async fn connection(state: &AppState) -> Reply<Connection> {
    state.connected().await.ok_or_else(offline)
}

async fn logged_in(state: &AppState) -> Reply<(Connection, String)> {
    let c = connection(state).await?;
    let handle = c
        .account
        .as_ref()
        .map(|a| a.handle.clone())
        .ok_or_else(|| IpcError::new(IpcErrorCode::NotLoggedIn, "log in first"))?;
    Ok((c, handle))
}

/// Converts films for the window, noting which have a cached poster.
fn summaries(state: &AppState) -> impl Fn(Movie) -> MovieSummary + use<> {
    let posters = state.data_dir.join(crate::state::POSTERS_DIR);
    move |m: Movie| MovieSummary {
        poster: movietalk_core::import::tmdb::poster_file(&posters, &m.key)
            .is_some_and(|p| p.is_file()),
        key: m.key,
        title: m.title,
        title_ko: m.title_ko,
        year: m.year,
        genres: m.genres,
        directors: m.directors,
        overview: m.overview,
        overview_ko: m.overview_ko,
    }
}

fn my_review(r: movietalk_core::sync::MyReview) -> MyReview {
    MyReview {
        movie_key: r.movie_key,
        title: r.title,
        year: r.year,
        rating: r.rating,
        body: r.body,
        spoiler: r.spoiler,
        edited_at_ms: r.edited_at_ms,
        delivery: r.delivery,
        error: r.error,
    }
}

/// The author's display name and picture, as last seen (`None` until the profile was fetched).
fn author(catalog: &Catalog, handle: &str) -> Option<Author> {
    catalog.cached_profile(handle).ok().flatten().map(author_of)
}

fn author_of(account: movietalk_protocol::relay::Account) -> Author {
    Author {
        display_name: account.display_name,
        avatar_url: account.avatar_url,
    }
}

fn review_view(r: CachedReview, me: Option<&str>, catalog: &Catalog) -> ReviewView {
    let mine = me == Some(r.review.author.as_str());
    ReviewView {
        author: author(catalog, &r.review.author),
        review: r.review,
        liked: r.liked,
        mine,
    }
}

fn comment_view(
    c: CachedComment,
    me: Option<&str>,
    review_author: &str,
    catalog: &Catalog,
) -> CommentView {
    let mine = c.id.is_none() || me == Some(c.author.as_str());
    CommentView {
        author_profile: author(catalog, &c.author),
        id: c.id,
        author: c.author,
        body: c.body,
        likes: c.likes,
        liked: c.liked,
        created_at_ms: c.created_at_ms,
        delivery: c.delivery,
        client_id: c.client_id,
        can_delete: c.id.is_some() && (mine || me == Some(review_author)),
        mine,
    }
}

/// The handle this data folder syncs as (known offline too).
fn me(state: &AppState) -> Option<String> {
    state.catalog().sync_account().ok().flatten()
}

/// Facts about this app: version, data folder, relay, catalog size.
#[tauri::command(rename_all = "snake_case")]
pub async fn app_info(state: State<'_, AppState>) -> Reply<AppInfo> {
    let movie_count = state.catalog().count().map_err(storage_error)?;
    let relay_url = state.relay_url().await.unwrap_or_default();
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        data_dir: state.data_dir.display().to_string(),
        relay_url,
        relay_hosted_here: state.hosts_relay(),
        user_name: state.user_name.clone(),
        movie_count,
    })
}

/// One page of the movies matching `query` (all movies when blank), filtered and sorted.
#[tauri::command(rename_all = "snake_case")]
#[allow(clippy::too_many_arguments)] // one per search option the window offers
pub fn search_movies(
    state: State<'_, AppState>,
    query: String,
    limit: u32,
    offset: u32,
    genre: Option<String>,
    year_from: Option<i32>,
    year_to: Option<i32>,
    sort: Option<movietalk_core::Sort>,
) -> Reply<MoviePage> {
    let years = match (year_from, year_to) {
        (None, None) => None,
        (from, to) => Some((from.unwrap_or(i32::MIN), to.unwrap_or(i32::MAX))),
    };
    if let Some((from, to)) = years
        && from > to
    {
        return Err(invalid(format!("the year range {from}–{to} is empty")));
    }
    let q = movietalk_core::SearchQuery {
        text: query,
        genre: genre.filter(|g| !g.is_empty()),
        years,
        sort: sort.unwrap_or_default(),
        limit: limit.clamp(1, MAX_PAGE),
        offset,
    };
    let found = state.catalog().search(&q).map_err(storage_error)?;
    Ok(MoviePage {
        movies: found.movies.into_iter().map(summaries(&state)).collect(),
        total: found.total,
        fallback: found.fallback.is_some(),
    })
}

/// The catalog's genres with how many films each has.
#[tauri::command(rename_all = "snake_case")]
pub fn genres(state: State<'_, AppState>) -> Reply<Vec<(String, u64)>> {
    state.catalog().genres().map_err(storage_error)
}

/// Everything the movie page shows; works offline (reviews as last pulled).
#[tauri::command(rename_all = "snake_case")]
// Async, so it runs off the window's main thread: loading the recommender may first rebuild its
// index after an import (seconds at 36k films), and the window must not freeze meanwhile.
pub async fn movie_detail(state: State<'_, AppState>, key: String) -> Reply<MovieDetail> {
    let me = me(&state);
    let recommender = state.recommender().map_err(storage_error)?;
    let catalog = state.catalog();
    let movie = catalog
        .get(&key)
        .map_err(storage_error)?
        .ok_or_else(|| IpcError::new(IpcErrorCode::NotFound, format!("no movie {key:?}")))?;
    let similar = recommender
        .similar(&catalog, &key, 8)
        .map_err(storage_error)?;
    let reviews = catalog.reviews_of(&key).map_err(storage_error)?;
    Ok(MovieDetail {
        room: format!("film:{}", movie.key),
        original_title: movie.original_title.clone(),
        runtime: movie.runtime,
        cast: movie.cast.clone(),
        my_review: catalog
            .my_review(&key)
            .map_err(storage_error)?
            .map(my_review),
        reviews: reviews
            .into_iter()
            .map(|r| review_view(r, me.as_deref(), &catalog))
            .collect(),
        similar: similar
            .into_iter()
            .map(|s| summaries(&state)(s.movie))
            .collect(),
        movie: summaries(&state)(movie),
    })
}

/// Saves this user's rating and review of a film (locally now, on the relay when reachable).
#[tauri::command(rename_all = "snake_case")]
pub fn save_review(
    state: State<'_, AppState>,
    key: String,
    rating: f32,
    body: String,
    spoiler: bool,
) -> Reply<MyReview> {
    let saved = state
        .catalog()
        .save_review(&key, rating, &body, spoiler)
        .map_err(storage_error)?;
    state.wake.notify_one();
    Ok(my_review(saved))
}

/// Deletes this user's review and rating of a film.
#[tauri::command(rename_all = "snake_case")]
pub fn delete_review(state: State<'_, AppState>, key: String) -> Reply<bool> {
    let deleted = state
        .catalog()
        .delete_my_review(&key)
        .map_err(storage_error)?;
    state.wake.notify_one();
    Ok(deleted)
}

/// A review with its comments, as last pulled plus this user's unsent comments.
#[tauri::command(rename_all = "snake_case")]
pub fn review_page(state: State<'_, AppState>, review_id: u64) -> Reply<ReviewPage> {
    let me = me(&state);
    let catalog = state.catalog();
    let review = catalog
        .cached_review(review_id)
        .map_err(storage_error)?
        .ok_or_else(|| IpcError::new(IpcErrorCode::NotFound, format!("no review {review_id}")))?;
    let author = review.review.author.clone();
    let comments = catalog.comments_of(review_id).map_err(storage_error)?;
    Ok(ReviewPage {
        review: review_view(review, me.as_deref(), &catalog),
        comments: comments
            .into_iter()
            .map(|c| comment_view(c, me.as_deref(), &author, &catalog))
            .collect(),
    })
}

#[tauri::command(rename_all = "snake_case")]
pub fn post_comment(state: State<'_, AppState>, review_id: u64, body: String) -> Reply<String> {
    let id = state
        .catalog()
        .post_comment(review_id, body.trim())
        .map_err(storage_error)?;
    state.wake.notify_one();
    Ok(id)
}

#[tauri::command(rename_all = "snake_case")]
pub fn edit_comment(state: State<'_, AppState>, comment_id: u64, body: String) -> Reply<()> {
    state
        .catalog()
        .edit_comment(comment_id, body.trim())
        .map_err(storage_error)?;
    state.wake.notify_one();
    Ok(())
}

#[tauri::command(rename_all = "snake_case")]
pub fn delete_comment(state: State<'_, AppState>, comment_id: u64) -> Reply<()> {
    state
        .catalog()
        .delete_comment(comment_id)
        .map_err(storage_error)?;
    state.wake.notify_one();
    Ok(())
}

#[tauri::command(rename_all = "snake_case")]
pub fn cancel_comment(state: State<'_, AppState>, client_id: String) -> Reply<bool> {
    state
        .catalog()
        .cancel_comment(&client_id)
        .map_err(storage_error)
}

#[tauri::command(rename_all = "snake_case")]
pub fn like(state: State<'_, AppState>, target: LikeTarget, on: bool) -> Reply<()> {
    state.catalog().like(target, on).map_err(storage_error)?;
    state.wake.notify_one();
    Ok(())
}

/// The home screen: recommendations with reasons (or cold-start picks) and recent rooms.
#[tauri::command(rename_all = "snake_case")]
// Async for the same reason as `movie_detail`.
pub async fn home(state: State<'_, AppState>) -> Reply<Home> {
    use movietalk_core::recommend::{Reason, Recommender};
    let (generation, ratings) = {
        let catalog = state.catalog();
        (
            catalog.generation().map_err(storage_error)?,
            catalog.ratings().map_err(storage_error)?,
        )
    };
    let cold_start = ratings.is_empty();
    let recent_rooms = state
        .settings
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .recent_rooms
        .clone();
    // The picks stay what they were while neither the ratings nor the catalog changed: a start
    // then shows them without loading the recommendation index.
    let key = crate::state::picks_key(generation, &ratings);
    if !cold_start && let Some(recommendations) = state.cached_picks(&key) {
        return Ok(Home {
            recommendations,
            cold_start,
            recent_rooms,
        });
    }
    // Before any rating the picks come from the catalog alone: the index is not loaded.
    let recommender = if cold_start {
        None
    } else {
        Some(state.recommender().map_err(storage_error)?)
    };
    let catalog = state.catalog();
    let recs = match &recommender {
        None => Recommender::cold_start(&catalog, 12),
        Some(r) => r.recommend(&catalog, &ratings, 12),
    }
    .map_err(storage_error)?;
    drop(catalog);
    let recommendations: Vec<RecommendedMovie> = recs
        .into_iter()
        .map(|r| {
            let (because, popular_in) = match r.reason {
                Reason::BecauseYouLiked { titles } => (titles, None),
                Reason::PopularIn { genre } => (Vec::new(), Some(genre)),
            };
            RecommendedMovie {
                movie: summaries(&state)(r.movie),
                because,
                popular_in,
            }
        })
        .collect();
    if !cold_start {
        state.remember_picks(&key, &recommendations);
    }
    Ok(Home {
        recommendations,
        cold_start,
        recent_rooms,
    })
}

/// Who is logged in, and whether the keyring keeps the session.
#[tauri::command(rename_all = "snake_case")]
pub async fn session(state: State<'_, AppState>) -> Reply<SessionInfo> {
    // Offline, the account last logged in is still who this user is (its token stays in the keyring).
    let account = match state.connected().await {
        Some(c) => c.account,
        None => state
            .known_account
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
    };
    Ok(SessionInfo {
        account,
        keyring: state.secrets.persistent(),
        keyring_problem: state.secrets.fallback_reason().map(str::to_owned),
    })
}

async fn start_session(
    state: &AppState,
    c: Connection,
    logged: movietalk_core::relay_client::LoggedIn,
) -> Reply<SessionInfo> {
    state.store_session(&logged);
    state
        .catalog()
        .set_sync_account(&logged.account.handle)
        .map_err(storage_error)?;
    *state.connection.lock().await = Some(Connection {
        client: c.client,
        account: Some(logged.account.clone()),
    });
    state.wake.notify_one();
    Ok(SessionInfo {
        account: Some(logged.account),
        keyring: state.secrets.persistent(),
        keyring_problem: state.secrets.fallback_reason().map(str::to_owned),
    })
}

#[tauri::command(rename_all = "snake_case")]
pub async fn sign_up(
    state: State<'_, AppState>,
    handle: String,
    password: String,
    display_name: Option<String>,
) -> Reply<SessionInfo> {
    let c = connection(&state).await?;
    let display_name = display_name.filter(|d| !d.trim().is_empty());
    let logged = c
        .client
        .sign_up(handle.trim(), &password, display_name.as_deref())
        .await
        .map_err(relay_error)?;
    start_session(&state, c, logged).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn log_in(
    state: State<'_, AppState>,
    handle: String,
    password: String,
) -> Reply<SessionInfo> {
    let c = connection(&state).await?;
    let logged = c
        .client
        .log_in(handle.trim(), &password)
        .await
        .map_err(relay_error)?;
    start_session(&state, c, logged).await
}

#[tauri::command(rename_all = "snake_case")]
pub async fn log_out(state: State<'_, AppState>) -> Reply<()> {
    if let Some(c) = state.connected().await {
        c.client.log_out().await.map_err(relay_error)?;
        *state.connection.lock().await = Some(Connection {
            client: c.client,
            account: None,
        });
    }
    state.forget_session();
    Ok(())
}

#[tauri::command(rename_all = "snake_case")]
pub async fn update_profile(
    state: State<'_, AppState>,
    display_name: String,
    bio: String,
    avatar_url: String,
) -> Reply<movietalk_protocol::relay::Account> {
    let (c, _) = logged_in(&state).await?;
    let account = c
        .client
        .update_profile(
            Some(display_name.trim()),
            Some(bio.trim()),
            Some(avatar_url.trim()),
        )
        .await
        .map_err(relay_error)?;
    *state.connection.lock().await = Some(Connection {
        client: c.client,
        account: Some(account.clone()),
    });
    state.set_known_account(Some(account.clone()));
    Ok(account)
}

/// Deletes the account on the relay: its reviews, comments and likes are removed there, its
/// chat messages stay as "deleted user". Local ratings stay on this machine.
#[tauri::command(rename_all = "snake_case")]
pub async fn delete_account(state: State<'_, AppState>, password: String) -> Reply<()> {
    let (c, _) = logged_in(&state).await?;
    c.client
        .delete_account(&password)
        .await
        .map_err(relay_error)?;
    state.forget_session();
    *state.connection.lock().await = Some(Connection {
        client: c.client,
        account: None,
    });
    state.wake.notify_one();
    Ok(())
}

/// A profile: reviews as last pulled; this user's own ratings for their own profile.
#[tauri::command(rename_all = "snake_case")]
pub async fn profile(state: State<'_, AppState>, handle: Option<String>) -> Reply<Profile> {
    let known = state
        .known_account
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let me = me(&state);
    let handle = handle.or_else(|| me.clone()).unwrap_or_default();
    let own = me.as_deref() == Some(handle.as_str()) || handle.is_empty();
    let account = match known.filter(|a| a.handle == handle) {
        Some(mine) => Some(mine),
        None if handle.is_empty() => None,
        // Someone else: as the relay shows them now, else as last seen.
        None => {
            let live = match state.connected().await {
                Some(c) => {
                    movietalk_core::people::fetch_profile(&state.catalog, &c.client, &handle).await
                }
                None => Err(ClientError::Closed.into()),
            };
            match live {
                Ok(found) => found,
                Err(SyncError::Local(e)) => return Err(storage_error(e)),
                Err(e) => {
                    tracing::debug!(error = %e, "profile from the cache");
                    state
                        .catalog()
                        .cached_profile(&handle)
                        .map_err(storage_error)?
                }
            }
        }
    };
    let catalog = state.catalog();
    Ok(Profile {
        reviews: catalog
            .reviews_by(&handle)
            .map_err(storage_error)?
            .into_iter()
            .map(|r| review_view(r, me.as_deref(), &catalog))
            .collect(),
        my_reviews: if own {
            catalog
                .my_reviews()
                .map_err(storage_error)?
                .into_iter()
                .map(my_review)
                .collect()
        } else {
            Vec::new()
        },
        account,
        handle,
    })
}

/// Names and pictures of these people (at most 50): as last seen, else asked of the relay when
/// it is reachable and remembered. People with no profile are left out.
#[tauri::command(rename_all = "snake_case")]
pub async fn authors(
    state: State<'_, AppState>,
    handles: Vec<String>,
) -> Reply<std::collections::HashMap<String, Author>> {
    let mut found = std::collections::HashMap::new();
    let mut unknown = Vec::new();
    for handle in handles.into_iter().take(50) {
        let catalog = state.catalog();
        match author(&catalog, &handle) {
            Some(a) => {
                found.insert(handle, a);
            }
            None if catalog.authors_known(&handle).map_err(storage_error)? => {}
            None => unknown.push(handle),
        }
    }
    if let (false, Some(c)) = (unknown.is_empty(), state.connected().await) {
        for handle in unknown {
            match movietalk_core::people::fetch_profile(&state.catalog, &c.client, &handle).await {
                Ok(Some(account)) => {
                    found.insert(handle, author_of(account));
                }
                Ok(None) => {}
                Err(SyncError::Local(e)) => return Err(storage_error(e)),
                Err(_) => break,
            }
        }
    }
    Ok(found)
}

/// Reviews by the people this user follows, newest first, a page at a time, from the local
/// cache of everyone's reviews (so it reads offline); whom the user follows is asked of the
/// relay when it is reachable and remembered for when it is not.
#[tauri::command(rename_all = "snake_case")]
pub async fn feed(
    state: State<'_, AppState>,
    cursor: Option<FeedCursor>,
    limit: u32,
) -> Reply<FeedPage> {
    let me = me(&state)
        .ok_or_else(|| IpcError::new(IpcErrorCode::NotLoggedIn, "log in to see your feed"))?;
    let mut live = false;
    if cursor.is_none()
        && let Some(c) = state.connected().await
    {
        match c.client.follows(&me).await {
            Ok((_, following)) => {
                state
                    .catalog()
                    .remember_following(&me, &following)
                    .map_err(storage_error)?;
                live = true;
            }
            Err(e) => tracing::debug!(error = %e, "following list from the cache"),
        }
    }
    let catalog = state.catalog();
    let following = catalog.cached_following(&me).map_err(storage_error)?;
    let limit = limit.clamp(1, 100);
    let reviews: Vec<ReviewView> = catalog
        .feed(&following, cursor, limit)
        .map_err(storage_error)?
        .into_iter()
        .map(|r| review_view(r, Some(&me), &catalog))
        .collect();
    let next = (reviews.len() == limit as usize).then(|| {
        let last = &reviews[reviews.len() - 1].review;
        FeedCursor {
            updated_at_ms: last.updated_at_ms,
            id: last.id,
        }
    });
    Ok(FeedPage {
        reviews,
        next,
        following,
        live,
    })
}

/// Who follows `handle` and whom it follows.
#[tauri::command(rename_all = "snake_case")]
pub async fn follows(state: State<'_, AppState>, handle: String) -> Reply<FollowsView> {
    let c = connection(&state).await?;
    let (followers, following) = c.client.follows(handle.trim()).await.map_err(relay_error)?;
    Ok(FollowsView {
        handle,
        followers,
        following,
    })
}

/// Follows (or stops following) another account.
#[tauri::command(rename_all = "snake_case")]
pub async fn follow(state: State<'_, AppState>, handle: String, on: bool) -> Reply<()> {
    let (c, _) = logged_in(&state).await?;
    c.client
        .follow(handle.trim(), on)
        .await
        .map_err(relay_error)
}

/// The relay connection and the outbox.
#[tauri::command(rename_all = "snake_case")]
pub fn sync_status(state: State<'_, AppState>) -> SyncStatus {
    let mut s = state.status();
    s.pending = state.catalog().pending_writes().unwrap_or(s.pending);
    s
}

/// Syncs (or reconnects) now instead of at the next tick.
#[tauri::command(rename_all = "snake_case")]
pub fn sync_now(state: State<'_, AppState>) {
    state.wake.notify_one();
}

#[tauri::command(rename_all = "snake_case")]
pub fn get_settings(state: State<'_, AppState>) -> Settings {
    state
        .settings
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

/// Saves the settings; a changed relay address takes effect at once (the link reconnects).
#[tauri::command(rename_all = "snake_case")]
pub async fn set_settings(state: State<'_, AppState>, settings: Settings) -> Reply<Settings> {
    let mut settings = settings;
    settings.relay_url = settings
        .relay_url
        .map(|u| u.trim().to_owned())
        .filter(|u| !u.is_empty());
    if let Some(url) = &settings.relay_url
        && !(url.starts_with("ws://") || url.starts_with("wss://"))
    {
        return Err(invalid(format!(
            "{url:?} is not a relay address (ws://host:port or wss://host)"
        )));
    }
    if let Some(lang) = &settings.language
        && !["en", "ko"].contains(&lang.as_str())
    {
        return Err(invalid(format!("unknown language {lang:?}")));
    }
    for p in &settings.login_providers {
        let loopback =
            |u: &str| u.starts_with("http://127.0.0.1") || u.starts_with("http://localhost");
        if p.name.trim().is_empty() || p.client_id.trim().is_empty() {
            return Err(invalid("a login provider needs a name and a client id"));
        }
        for url in [&p.issuer, &p.authorize_url, &p.token_url]
            .into_iter()
            .flatten()
        {
            if !(url.starts_with("https://") || loopback(url)) {
                return Err(invalid(format!("{url:?} must be an https address")));
            }
        }
        if p.issuer.is_none()
            && p.authorize_url.is_none()
            && !["google", "kakao", "github"].contains(&p.name.as_str())
        {
            return Err(invalid(format!(
                "the provider {:?} needs an issuer URL",
                p.name
            )));
        }
    }
    let previous = state
        .settings
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    settings.recent_rooms = previous.recent_rooms.clone();
    state
        .save_settings(settings.clone())
        .map_err(|e| IpcError::new(IpcErrorCode::Storage, e.to_string()))?;
    if previous.relay_url != settings.relay_url
        && let Some(c) = state.connection.lock().await.take()
    {
        // Dropping the last handle closes the connection; the link reconnects to the new address.
        drop(c);
        state.wake.notify_one();
    }
    Ok(settings)
}

/// Keeps the TMDB API key in the OS keyring (an empty key forgets it). Returns whether a key is set.
#[tauri::command(rename_all = "snake_case")]
pub fn set_tmdb_key(state: State<'_, AppState>, key: String) -> Reply<bool> {
    let key = key.trim();
    let result = if key.is_empty() {
        state.secrets.delete(TMDB_SECRET)
    } else {
        state.secrets.set(TMDB_SECRET, key)
    };
    result.map_err(|e| IpcError::new(IpcErrorCode::Storage, e.to_string()))?;
    Ok(!key.is_empty())
}

#[tauri::command(rename_all = "snake_case")]
pub fn has_tmdb_key(state: State<'_, AppState>) -> bool {
    state.secrets.get(TMDB_SECRET).ok().flatten().is_some()
}

/// Imports Wikipedia-format films from a file, a folder or a URL, telling the window how far
/// it is with [`EVENT_IMPORT_PROGRESS`] events.
#[tauri::command(rename_all = "snake_case")]
pub async fn import_wikipedia(
    app: AppHandle,
    state: State<'_, AppState>,
    source: String,
) -> Reply<ImportReport> {
    use movietalk_core::import::wikipedia;
    let source = source.trim().to_owned();
    if source.is_empty() {
        return Err(invalid("give a file, a folder or a URL"));
    }
    let batches = if source.starts_with("http://") || source.starts_with("https://") {
        let bytes = movietalk_core::import::fetch_url(&source)
            .await
            .map_err(|e| invalid(e.to_string()))?;
        vec![(source.clone(), bytes)]
    } else {
        let files = wikipedia::source_files(std::path::Path::new(&source))
            .map_err(|e| invalid(e.to_string()))?;
        let mut batches = Vec::new();
        for f in files {
            let bytes = std::fs::read(&f).map_err(|e| invalid(format!("{}: {e}", f.display())))?;
            batches.push((f.display().to_string(), bytes));
        }
        batches
    };
    let catalog = state.catalog.clone();
    let progress_app = app.clone();
    let report = tauri::async_runtime::spawn_blocking(move || {
        let mut catalog = catalog.lock().unwrap_or_else(|p| p.into_inner());
        let mut on_progress = |p: movietalk_core::import::Progress| {
            let _ = progress_app.emit(
                EVENT_IMPORT_PROGRESS,
                ImportProgress {
                    done: p.done,
                    total: p.total,
                    finished: false,
                },
            );
        };
        wikipedia::import_batches(&mut catalog, batches, &mut on_progress)
    })
    .await
    .map_err(|e| IpcError::new(IpcErrorCode::Internal, e.to_string()))?;
    let _ = app.emit(
        EVENT_IMPORT_PROGRESS,
        ImportProgress {
            done: 0,
            total: 0,
            finished: true,
        },
    );
    let report = report.map_err(|e| invalid(e.to_string()))?;
    crate::state::prepare_recommendations_in_background(&state.data_dir);
    Ok(ImportReport {
        added: report.stats.added,
        updated: report.stats.updated,
        unchanged: report.stats.unchanged,
        skipped: report.duplicates,
    })
}

/// Imports `pages` pages of TMDB's popular films (of `genre`, when given) in English and Korean
/// with the API key from the keyring, caching posters in the data folder; progress arrives as
/// [`EVENT_IMPORT_PROGRESS`] events. `MOVIETALK_TMDB_BASE_URL` points it elsewhere (tests).
#[tauri::command(rename_all = "snake_case")]
pub async fn import_tmdb(
    app: AppHandle,
    state: State<'_, AppState>,
    pages: u32,
    genre: Option<String>,
) -> Reply<ImportReport> {
    use movietalk_core::import::tmdb;
    let key = state
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
    let db = movietalk_core::paths::ensure_db_path(&state.data_dir).map_err(storage_error)?;
    let posters = state.data_dir.join(crate::state::POSTERS_DIR);
    let genre = genre.filter(|g| !g.trim().is_empty());
    let progress_app = app.clone();
    // Its own connection on its own thread: the window's catalog stays usable meanwhile.
    let report = tauri::async_runtime::spawn_blocking(move || {
        let mut catalog = movietalk_core::Catalog::open(&db)?;
        let mut on_progress = |p: movietalk_core::import::Progress| {
            let _ = progress_app.emit(
                EVENT_IMPORT_PROGRESS,
                ImportProgress {
                    done: p.done,
                    total: p.total,
                    finished: false,
                },
            );
        };
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
    let _ = app.emit(
        EVENT_IMPORT_PROGRESS,
        ImportProgress {
            done: 0,
            total: 0,
            finished: true,
        },
    );
    let report = report.map_err(storage_error)?;
    state.catalog().forget_caches();
    crate::state::prepare_recommendations_in_background(&state.data_dir);
    Ok(ImportReport {
        added: report.stats.added,
        updated: report.stats.updated,
        unchanged: report.stats.unchanged,
        skipped: report.skipped,
    })
}

/// Writes this user's ratings and reviews to a JSON file in the data folder; returns its path.
#[tauri::command(rename_all = "snake_case")]
pub fn export_data(state: State<'_, AppState>) -> Reply<String> {
    let mine: Vec<MyReview> = state
        .catalog()
        .my_reviews()
        .map_err(storage_error)?
        .into_iter()
        .map(my_review)
        .collect();
    let path = state.data_dir.join(format!(
        "movietalk-export-{}.json",
        movietalk_core::sync::now_ms()
    ));
    let json = serde_json::json!({ "format": "movietalk-export", "version": 1, "reviews": mine });
    std::fs::write(
        &path,
        serde_json::to_vec_pretty(&json).expect("export serialises"),
    )
    .map_err(|e| IpcError::new(IpcErrorCode::Storage, e.to_string()))?;
    Ok(path.display().to_string())
}

/// Joins a chat room on the relay; returns its recent history.
#[tauri::command(rename_all = "snake_case")]
pub async fn join_room(state: State<'_, AppState>, room: String) -> Reply<JoinedRoom> {
    let room = room.trim().to_owned();
    movietalk_protocol::relay::validate_room(&room).map_err(|e| invalid(e.to_string()))?;
    let c = connection(&state).await?;
    let joined = c.client.join(&room, None).await.map_err(relay_error)?;
    let last = joined.history.last().map_or(0, |m| m.seq);
    state
        .rooms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(joined.room.clone(), last);
    {
        let mut settings = state
            .settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        settings.recent_rooms.retain(|r| r != &joined.room);
        settings.recent_rooms.insert(0, joined.room.clone());
        settings.recent_rooms.truncate(8);
        let _ = state.save_settings(settings);
    }
    Ok(JoinedRoom {
        room: joined.room,
        history: joined.history,
        present: joined.present,
    })
}

#[tauri::command(rename_all = "snake_case")]
pub async fn leave_room(state: State<'_, AppState>, room: String) -> Reply<()> {
    state
        .rooms
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&room);
    let c = connection(&state).await?;
    c.client.leave(&room).await.map_err(relay_error)
}

/// Older messages of a joined room, before `before`.
#[tauri::command(rename_all = "snake_case")]
pub async fn chat_history(
    state: State<'_, AppState>,
    room: String,
    before: u64,
) -> Reply<Vec<ChatMessage>> {
    let c = connection(&state).await?;
    c.client
        .history(&room, before, 50)
        .await
        .map_err(relay_error)
}

/// Posts a chat message; returns its sequence number in the room.
#[tauri::command(rename_all = "snake_case")]
pub async fn send_chat(state: State<'_, AppState>, room: String, text: String) -> Reply<u64> {
    movietalk_protocol::relay::validate_text(&text).map_err(|e| invalid(e.to_string()))?;
    let c = connection(&state).await?;
    c.client.send(&room, &text).await.map_err(relay_error)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn typing(state: State<'_, AppState>, room: String) -> Reply<()> {
    let c = connection(&state).await?;
    c.client.typing(&room).await.map_err(relay_error)
}

/// Rooms with live presence.
#[tauri::command(rename_all = "snake_case")]
pub async fn list_rooms(state: State<'_, AppState>) -> Reply<Vec<RoomSummary>> {
    let c = connection(&state).await?;
    c.client.list_rooms().await.map_err(relay_error)
}

/// Creates a room; its creator moderates it.
#[tauri::command(rename_all = "snake_case")]
pub async fn create_room(
    state: State<'_, AppState>,
    room: String,
    topic: String,
) -> Reply<RoomSummary> {
    let (c, _) = logged_in(&state).await?;
    c.client
        .create_room(room.trim(), topic.trim())
        .await
        .map_err(relay_error)
}

/// Unread messages per room this account has read before.
#[tauri::command(rename_all = "snake_case")]
pub async fn unread_counts(state: State<'_, AppState>) -> Reply<Vec<(String, u64)>> {
    let (c, _) = logged_in(&state).await?;
    c.client.unread_counts().await.map_err(relay_error)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn mark_read(state: State<'_, AppState>, room: String, seq: u64) -> Reply<()> {
    let Ok((c, _)) = logged_in(&state).await else {
        return Ok(()); // Guests have no read markers.
    };
    c.client.mark_read(&room, seq).await.map_err(relay_error)
}

#[tauri::command(rename_all = "snake_case")]
pub async fn delete_message(state: State<'_, AppState>, room: String, seq: u64) -> Reply<()> {
    let (c, _) = logged_in(&state).await?;
    c.client
        .delete_message(&room, seq)
        .await
        .map_err(relay_error)
}

// ---------------------------------------------------------------------------------------------
// Provider log-in (RFC 8252: the system browser, a loopback redirect, PKCE) and sessions.

fn login_provider(
    c: &movietalk_protocol::ipc::LoginProviderConfig,
) -> movietalk_core::oauth::LoginProvider {
    use movietalk_core::oauth::LoginProvider;
    match (c.name.as_str(), &c.issuer, &c.authorize_url, &c.token_url) {
        (_, _, Some(authorize), Some(token)) => {
            LoginProvider::github_at(&c.client_id, authorize, token)
        }
        ("github", None, _, _) => LoginProvider::github(&c.client_id),
        ("google", None, _, _) => LoginProvider::google(&c.client_id),
        ("kakao", None, _, _) => LoginProvider::kakao(&c.client_id),
        (name, Some(issuer), _, _) => LoginProvider::oidc(name, issuer, &c.client_id),
        (name, None, _, _) => LoginProvider::oidc(name, "", &c.client_id),
    }
}

/// Opens `url` in the system browser (`MOVIETALK_BROWSER`, a command taking the URL, overrides
/// it — scripted setups and tests). Never an embedded webview.
fn open_browser(url: &movietalk_core::oauth::Url) -> Result<(), String> {
    let mut command = match std::env::var("MOVIETALK_BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())
    {
        Some(b) => {
            let mut words = b.split_whitespace();
            let mut c = std::process::Command::new(words.next().unwrap_or_default());
            c.args(words);
            c
        }
        None if cfg!(target_os = "macos") => std::process::Command::new("open"),
        None if cfg!(target_os = "windows") => {
            let mut c = std::process::Command::new("rundll32");
            c.arg("url.dll,FileProtocolHandler");
            c
        }
        None => std::process::Command::new("xdg-open"),
    };
    command
        .arg(url.as_str())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| format!("cannot open the browser: {e}"))
}

/// Runs the provider's page in the system browser and waits (cancellable) for its answer.
async fn provider_tokens(
    state: &AppState,
    provider: &str,
) -> Reply<movietalk_core::oauth::ProviderTokens> {
    use movietalk_core::oauth;
    let configured = state
        .settings
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .login_providers
        .iter()
        .find(|p| p.name == provider)
        .cloned()
        .ok_or_else(|| invalid(format!("no login provider {provider:?} is configured")))?;
    let cancel = oauth::CancellationToken::new();
    if let Some(previous) = state
        .provider_cancel
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .replace(cancel.clone())
    {
        previous.cancel();
    }
    let result = oauth::log_in(
        &login_provider(&configured),
        open_browser,
        oauth::DEFAULT_TIMEOUT,
        cancel,
    )
    .await;
    state
        .provider_cancel
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    result.map_err(|e| IpcError::new(IpcErrorCode::ProviderLogin, e.to_string()))
}

async fn finish_provider_login(
    state: &AppState,
    c: Connection,
    tokens: movietalk_core::oauth::ProviderTokens,
    handle: Option<&str>,
) -> Reply<ProviderOutcome> {
    use movietalk_core::relay_session::ProviderLogin;
    match c
        .client
        .provider_login(&tokens, handle)
        .await
        .map_err(relay_error)?
    {
        ProviderLogin::LoggedIn(logged) => {
            state
                .pending_identity
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            let session = start_session(state, c, logged).await?;
            Ok(ProviderOutcome {
                session: Some(session),
                handle_needed: false,
                suggested_handle: None,
            })
        }
        ProviderLogin::HandleNeeded { suggested, .. } => {
            *state
                .pending_identity
                .lock()
                .unwrap_or_else(|p| p.into_inner()) = Some(tokens);
            Ok(ProviderOutcome {
                session: None,
                handle_needed: true,
                suggested_handle: suggested,
            })
        }
    }
}

/// Logs in with a configured provider through the system browser. A new identity answers
/// `handle_needed`; then call [`provider_choose_handle`].
#[tauri::command(rename_all = "snake_case")]
pub async fn provider_log_in(
    state: State<'_, AppState>,
    provider: String,
) -> Reply<ProviderOutcome> {
    let c = connection(&state).await?;
    let tokens = provider_tokens(&state, &provider).await?;
    finish_provider_login(&state, c, tokens, None).await
}

/// Creates the account for the identity waiting for a handle.
#[tauri::command(rename_all = "snake_case")]
pub async fn provider_choose_handle(
    state: State<'_, AppState>,
    handle: String,
) -> Reply<ProviderOutcome> {
    let c = connection(&state).await?;
    let tokens = state
        .pending_identity
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
        .ok_or_else(|| invalid("no provider log-in is waiting for a handle"))?;
    finish_provider_login(&state, c, tokens, Some(handle.trim())).await
}

/// Stops waiting for the browser.
#[tauri::command(rename_all = "snake_case")]
pub fn cancel_provider_log_in(state: State<'_, AppState>) {
    if let Some(cancel) = state
        .provider_cancel
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
    {
        cancel.cancel();
    }
    state
        .pending_identity
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
}

fn methods_view(m: movietalk_core::relay_session::LoginMethods) -> LoginMethodsView {
    LoginMethodsView {
        password: m.password,
        providers: m.providers,
    }
}

#[tauri::command(rename_all = "snake_case")]
pub async fn login_methods(state: State<'_, AppState>) -> Reply<LoginMethodsView> {
    let (c, _) = logged_in(&state).await?;
    c.client
        .login_methods()
        .await
        .map(methods_view)
        .map_err(relay_error)
}

/// Links another provider to the logged-in account (through the system browser).
#[tauri::command(rename_all = "snake_case")]
pub async fn link_provider(
    state: State<'_, AppState>,
    provider: String,
) -> Reply<LoginMethodsView> {
    let (c, _) = logged_in(&state).await?;
    let tokens = provider_tokens(&state, &provider).await?;
    c.client
        .link_provider(&tokens)
        .await
        .map(methods_view)
        .map_err(relay_error)
}

/// Unlinks a provider; the relay refuses to remove the last way to log in.
#[tauri::command(rename_all = "snake_case")]
pub async fn unlink_provider(
    state: State<'_, AppState>,
    provider: String,
) -> Reply<LoginMethodsView> {
    let (c, _) = logged_in(&state).await?;
    c.client
        .unlink_provider(&provider)
        .await
        .map(methods_view)
        .map_err(relay_error)
}

/// The account's sessions (no secrets), this one marked.
#[tauri::command(rename_all = "snake_case")]
pub async fn list_sessions(state: State<'_, AppState>) -> Reply<Vec<RelaySession>> {
    let (c, _) = logged_in(&state).await?;
    c.client.list_sessions().await.map_err(relay_error)
}

/// Ends one of the account's sessions (another device's, or this one: then log in again).
#[tauri::command(rename_all = "snake_case")]
pub async fn revoke_session(state: State<'_, AppState>, session_id: u64) -> Reply<()> {
    let (c, _) = logged_in(&state).await?;
    c.client
        .revoke_session(session_id)
        .await
        .map_err(relay_error)
}
