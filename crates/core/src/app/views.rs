//! The catalog's rows as a front end shows them: which film has a poster, whose review is
//! mine, who may delete a comment, and authors' names and pictures as last seen.

use movietalk_protocol::ipc::{Author, CommentView, MovieSummary, MyReview, ReviewView};

use super::{App, POSTERS_DIR};
use crate::sync::{CachedComment, CachedReview};
use crate::{Catalog, Movie};

impl App {
    /// Converts films for a front end, noting which have a cached poster and which are on the
    /// watchlist (as `catalog` has it now).
    pub(super) fn summaries(
        &self,
        catalog: &Catalog,
    ) -> crate::error::Result<impl Fn(Movie) -> MovieSummary + use<>> {
        let posters = self.data_dir.join(POSTERS_DIR);
        let watchlist = catalog.watchlist_keys()?;
        Ok(move |m: Movie| MovieSummary {
            on_watchlist: watchlist.contains(&m.key),
            poster: crate::import::tmdb::poster_file(&posters, &m.key).is_some_and(|p| p.is_file()),
            key: m.key,
            title: m.title,
            title_ko: m.title_ko,
            year: m.year,
            genres: m.genres,
            directors: m.directors,
            overview: m.overview,
            overview_ko: m.overview_ko,
        })
    }
}

pub(super) fn my_review(r: crate::sync::MyReview) -> MyReview {
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
pub(super) fn author(catalog: &Catalog, handle: &str) -> Option<Author> {
    catalog.cached_profile(handle).ok().flatten().map(author_of)
}

pub(super) fn author_of(account: movietalk_protocol::relay::Account) -> Author {
    Author {
        display_name: account.display_name,
        avatar_url: account.avatar_url,
    }
}

pub(super) fn review_view(r: CachedReview, me: Option<&str>, catalog: &Catalog) -> ReviewView {
    let mine = me == Some(r.review.author.as_str());
    ReviewView {
        author: author(catalog, &r.review.author),
        review: r.review,
        liked: r.liked,
        mine,
    }
}

/// A comment is mine when unsent or written by me; I may delete it when it reached the relay
/// and it is mine or on my review.
pub(super) fn comment_view(
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
