//! Shared reviews, comments and likes, with a numbered change log that offline clients pull
//! from their last cursor.
//!
//! Rules: one review per account per film, written and deleted by its author only; comments
//! edited by their author, deleted by their author or by the review's author; a write carrying
//! a client id the account already used is answered with what was stored, not stored again.
//! When an account is deleted its reviews, comments and likes are removed (chat messages are
//! kept as "deleted user", see `accounts`), and the change log says so.

use movietalk_protocol::relay::{Account, Change, Comment, LikeTarget, Review};

use crate::store::StoreError;

/// Why a social operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SocialError {
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("this {0} is not yours")]
    Forbidden(&'static str),
    /// Readable by its owner only.
    #[error("this {0} is private")]
    Private(&'static str),
    /// A request that can never succeed as asked.
    #[error("{0}")]
    Invalid(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub use crate::store::rows::NewReview;

/// Where the relay keeps reviews, comments and likes. Implemented once, in `rules.rs`, for
/// every store's rows ([`crate::store::rows::Transact`]).
pub trait SocialStore: Send + Sync + std::fmt::Debug + 'static {
    fn put_review(&self, account: u64, review: &NewReview<'_>) -> Result<Review, SocialError>;
    fn delete_review(&self, account: u64, review_id: u64) -> Result<(), SocialError>;
    fn post_comment(
        &self,
        account: u64,
        client_id: &str,
        review_id: u64,
        body: &str,
    ) -> Result<Comment, SocialError>;
    fn edit_comment(
        &self,
        account: u64,
        comment_id: u64,
        body: &str,
    ) -> Result<Comment, SocialError>;
    fn delete_comment(&self, account: u64, comment_id: u64) -> Result<(), SocialError>;
    fn like(&self, account: u64, target: LikeTarget, on: bool) -> Result<(), SocialError>;
    /// Newest first, before review id `cursor`.
    fn reviews_of_film(
        &self,
        movie_key: &str,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Review>, SocialError>;
    /// Starts or stops following `handle`.
    fn follow(&self, account: u64, handle: &str, on: bool) -> Result<(), SocialError>;
    /// Handles following `handle`, and handles it follows, alphabetically.
    fn follows(&self, handle: &str) -> Result<(Vec<String>, Vec<String>), SocialError>;
    /// The public profile of `handle`.
    fn profile(&self, handle: &str) -> Result<Account, SocialError>;
    /// Reviews by followed accounts, newest first, before review id `cursor`.
    fn feed(
        &self,
        account: u64,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Review>, SocialError>;
    /// Reviews by `handle`, newest first, before review id `cursor`.
    fn reviews_by_user(
        &self,
        handle: &str,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Review>, SocialError>;
    /// Number of ratings of a film and their mean.
    fn film_stats(&self, movie_key: &str) -> Result<(u32, Option<f32>), SocialError>;
    /// Oldest first, after comment id `cursor`.
    fn comments_on(
        &self,
        review_id: u64,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Comment>, SocialError>;
    fn changes_since(&self, since: u64, limit: usize) -> Result<Vec<Change>, SocialError>;
}

mod rules;
