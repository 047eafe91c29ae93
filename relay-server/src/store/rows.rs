//! The narrow data interface both stores implement: rows read, written, locked and deleted, and
//! a way to run a piece of work on them alone or in one transaction ([`Transact`]). The rules
//! (`crate::accounts`, `crate::social`, `super::chat`) are written once over it; a store decides
//! nothing.
//! Row traits take and give ids and times as `u64` (each store converts for its columns).
//!
//! **Locks.** A method named `lock_…` keeps what it read from being changed or deleted by
//! another writer until the transaction ends (PostgreSQL: `FOR UPDATE`, or `FOR SHARE` /
//! `FOR KEY SHARE` where it says so). The SQLite store holds the database's write lock for the
//! whole transaction (`BEGIN IMMEDIATE`, `write_tx`), so there a lock is a plain read.
//! **Conflicts.** `insert_…` methods that may meet a row another writer stored first (a unique
//! key) insert nothing then and say so (`None` or `false`); on PostgreSQL the statement waits
//! for that writer to commit, so a look-up after it sees the row.

use std::collections::HashSet;

use movietalk_protocol::relay::{
    Account, ChangeKind, ChatMessage, Comment, DiaryEntry, LikeTarget, LinkedProvider, Review,
    SessionInfo, WatchlistFilm,
};

use super::{RoomRecord, StoreError, StoreResult};

/// How a piece of work runs on a store's rows ([`Transact::rows`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Statement by statement, no transaction; may run twice (see [`Access::once`]).
    Plain,
    /// Statement by statement, and run once.
    PlainOnce,
    /// In one transaction, committed when the work returns `Ok` (rolled back on `Err`); may
    /// run twice.
    Tx,
    /// In one transaction, run once.
    TxOnce,
}

impl Access {
    /// Whether the work must not run twice. PostgreSQL runs other work once more on a new
    /// connection when the first one turned out dead (`crate::pg::PgStore::with`); work that
    /// would answer differently the second time (a sign-up, a refresh, a delete) runs once.
    pub fn once(self) -> bool {
        matches!(self, Access::PlainOnce | Access::TxOnce)
    }

    /// Whether the work runs in one transaction.
    pub fn transaction(self) -> bool {
        matches!(self, Access::Tx | Access::TxOnce)
    }
}

/// A store that runs work on its rows: the one thing a store must give the rules.
pub trait Transact: Send + Sync + std::fmt::Debug + 'static {
    /// Runs `f` on the store's rows as `access` says, and returns what it returned. Work that
    /// must fail after changing rows (a reused refresh token revokes its session) returns
    /// `Ok(Err(…))`, so the change is committed.
    fn rows<R: Send, E: RowError>(
        &self,
        access: Access,
        mut f: impl FnMut(&mut dyn Rows) -> Result<R, E> + Send,
    ) -> Result<R, E> {
        self.transact(access, &mut f)
    }

    /// What a store implements for [`Transact::rows`].
    fn transact<R: Send, E: RowError>(&self, a: Access, f: Work<'_, R, E>) -> Result<R, E>;
}

/// A piece of work on a store's rows, as [`Transact::transact`] gets it.
pub type Work<'f, R, E> = &'f mut (dyn FnMut(&mut dyn Rows) -> Result<R, E> + Send);

/// What a piece of work may fail with: anything a [`StoreError`] converts into.
pub trait RowError: Send + From<StoreError> {}

impl<E: Send + From<StoreError>> RowError for E {}

/// Every row a rule may touch.
pub trait Rows:
    AccountRows + SocialRows + ChatRows + ChangeRows + CommunityRows + LibraryRows
{
}

impl<T: AccountRows + SocialRows + ChatRows + ChangeRows + CommunityRows + LibraryRows + ?Sized>
    Rows for T
{
}

/// A film's place on a watchlist as one change leaves it: on the list or (`listed` false)
/// taken off, which is kept so that an older change arriving later loses to it.
#[derive(Debug, Clone, Copy)]
pub struct WatchlistRow<'a> {
    pub movie_key: &'a str,
    pub title: &'a str,
    pub year: Option<i32>,
    pub listed: bool,
    /// When the person made the change.
    pub at_ms: u64,
    /// When the film was put on the list (listed), as the reader sees it.
    pub added_at_ms: u64,
}

/// Where a film stands on a watchlist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchlistStanding {
    pub listed: bool,
    /// When the change that decided it was made.
    pub at_ms: u64,
    pub added_at_ms: u64,
}

/// What a person keeps for themselves: the watchlist and the diary.
pub trait LibraryRows {
    /// The account's watchlist settings — (public, version) — locked, made at the first use;
    /// an error when there is no such account.
    fn lock_watchlist_meta(&mut self, account: u64) -> StoreResult<(bool, u64)>;
    /// The account's watchlist settings; (false, 0) before the first change.
    fn watchlist_meta(&mut self, account: u64) -> StoreResult<(bool, u64)>;
    /// Sets what [`LibraryRows::lock_watchlist_meta`] gave.
    fn set_watchlist_meta(&mut self, account: u64, public: bool, version: u64) -> StoreResult<()>;
    /// Where the film stands on the account's watchlist.
    fn watchlist_entry(
        &mut self,
        account: u64,
        movie_key: &str,
    ) -> StoreResult<Option<WatchlistStanding>>;
    /// Stores the film's new standing.
    fn put_watchlist_entry(&mut self, account: u64, row: &WatchlistRow<'_>) -> StoreResult<()>;
    /// How many films the account's watchlist holds (`listed`) or remembers as taken off.
    fn watchlist_count(&mut self, account: u64, listed: bool) -> StoreResult<u64>;
    /// Forgets the account's oldest taken-off films beyond the newest `keep`.
    fn prune_watchlist(&mut self, account: u64, keep: u64) -> StoreResult<()>;
    /// The films on the account's watchlist, newest addition first.
    fn watchlist(&mut self, account: u64) -> StoreResult<Vec<WatchlistFilm>>;

    /// The account's diary version, locked, made at the first use; an error when there is no
    /// such account.
    fn lock_diary_version(&mut self, account: u64) -> StoreResult<u64>;
    /// The account's diary version; 0 before the first change.
    fn diary_version(&mut self, account: u64) -> StoreResult<u64>;
    fn set_diary_version(&mut self, account: u64, version: u64) -> StoreResult<()>;
    /// The entry's state: (deleted, when last changed).
    fn diary_entry(&mut self, account: u64, client_id: &str) -> StoreResult<Option<(bool, u64)>>;
    /// Stores the entry as it is now (`deleted`: only its id and time count).
    fn put_diary_entry(&mut self, account: u64, e: &DiaryEntry, deleted: bool) -> StoreResult<()>;
    /// How many entries the account's diary holds (`deleted` false) or remembers as deleted.
    fn diary_count(&mut self, account: u64, deleted: bool) -> StoreResult<u64>;
    /// Forgets the account's oldest deleted entries beyond the newest `keep`.
    fn prune_diary(&mut self, account: u64, keep: u64) -> StoreResult<()>;
    /// The account's diary, most recent watch first.
    fn diary(&mut self, account: u64) -> StoreResult<Vec<DiaryEntry>>;
}

/// A community model as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredModel {
    pub version: u64,
    pub built_at_ms: u64,
    /// [`CommunityRows::watermark`] when it was built.
    pub watermark: u64,
    /// Its films, as the JSON of `Vec<ModelFilm>`.
    pub data: Vec<u8>,
}

/// Everyone's ratings (reviews' ratings and imported ones) and the community model built from
/// them.
pub trait CommunityRows {
    /// The account standing for an imported rater (by the hash of the source's user id).
    fn imported_rater(&mut self, source: &str) -> StoreResult<Option<u64>>;
    /// Records which account stands for an imported rater.
    fn insert_imported_rater(&mut self, source: &str, account: u64) -> StoreResult<()>;
    /// Stores (or replaces) an imported rating; whether anything changed.
    fn put_rating(&mut self, account: u64, movie_key: &str, stars: f32) -> StoreResult<bool>;
    /// Every rating: each review's, then each imported one, as (account, film, stars).
    fn ratings(&mut self) -> StoreResult<Vec<(u64, String, f32)>>;
    /// A number that grows with every change of the ratings: the change log's last number (which
    /// comments move too: a few rebuilds more than needed) plus the imported ratings written.
    fn watermark(&mut self) -> StoreResult<u64>;
    /// The newest model, if its version is above `newer_than`.
    fn model_after(&mut self, newer_than: u64) -> StoreResult<Option<StoredModel>>;
    /// Stores a new model under the next version (older ones are deleted); its version.
    fn insert_model(&mut self, built_at_ms: u64, watermark: u64, data: &[u8]) -> StoreResult<u64>;
}

/// The change log and likes, which several rules write.
pub trait ChangeRows {
    /// Appends `what` to the change log (on PostgreSQL after every append that committed
    /// before it: the last lock a transaction takes).
    fn record(&mut self, what: &ChangeKind) -> StoreResult<()>;
    /// Deletes every like of `kind` (`review` or `comment`) on the `targets`.
    fn delete_likes(&mut self, kind: &str, targets: &[u64]) -> StoreResult<()>;
}

/// A session's token hashes, when they were issued and when each runs out.
#[derive(Debug, Clone, Copy)]
pub struct TokenRow<'a> {
    pub now_ms: u64,
    pub access_hash: &'a str,
    pub access_expires_at_ms: u64,
    pub refresh_hash: &'a str,
    pub refresh_expires_at_ms: u64,
}

/// A new session's row.
#[derive(Debug, Clone, Copy)]
pub struct SessionRow<'a> {
    pub account: u64,
    pub client: &'a str,
    pub method: &'a str,
    pub tokens: TokenRow<'a>,
}

/// A new account's row (an empty password hash: none).
#[derive(Debug, Clone, Copy)]
pub struct NewAccount<'a> {
    pub handle: &'a str,
    pub display_name: &'a str,
    pub password_hash: &'a str,
    pub now_ms: u64,
}

/// Accounts, sessions and provider links.
pub trait AccountRows {
    /// The account; an error if there is none.
    fn account(&mut self, id: u64) -> StoreResult<Account>;
    /// The account with this handle.
    fn account_by_handle(&mut self, handle: &str) -> StoreResult<Option<Account>>;
    /// The id and password hash of the account with this handle.
    fn credentials(&mut self, handle: &str) -> StoreResult<Option<(u64, String)>>;
    /// The account's handle and password hash (empty: none); an error if there is no account.
    fn handle_and_password(&mut self, id: u64) -> StoreResult<(String, String)>;
    /// The account's password hash, locked against change (`FOR SHARE`).
    fn lock_password(&mut self, id: u64) -> StoreResult<Option<String>>;
    /// Locks the account (`FOR UPDATE`).
    fn lock_account(&mut self, id: u64) -> StoreResult<()>;
    /// A new account; `None` when the handle is taken.
    fn insert_account(&mut self, account: &NewAccount<'_>) -> StoreResult<Option<u64>>;
    fn handle_taken(&mut self, handle: &str) -> StoreResult<bool>;
    /// Changes the fields given — display name, bio, avatar address (an empty one removes
    /// it) — and returns the account as it is now.
    fn update_profile(&mut self, id: u64, fields: [Option<&str>; 3]) -> StoreResult<Account>;
    fn set_password(&mut self, id: u64, password_hash: &str) -> StoreResult<()>;
    fn delete_account(&mut self, id: u64) -> StoreResult<()>;

    /// Deletes the account's sessions whose refresh token ran out by `now_ms`.
    fn delete_expired_sessions(&mut self, account: u64, now_ms: u64) -> StoreResult<()>;
    /// A new session; its id.
    fn insert_session(&mut self, session: &SessionRow<'_>) -> StoreResult<u64>;
    /// The session whose live access token has this hash, marked used at `now_ms`, with its
    /// account: (account, session id, access expiry).
    fn use_access(
        &mut self,
        access_hash: &str,
        now_ms: u64,
    ) -> StoreResult<Option<(Account, u64, u64)>>;
    /// The session whose current refresh token has this hash, locked (`FOR UPDATE`):
    /// (session id, account, refresh expiry).
    fn lock_refresh(&mut self, refresh_hash: &str) -> StoreResult<Option<(u64, u64, u64)>>;
    /// The (session, account) that spent the refresh token with this hash.
    fn spent_refresh(&mut self, refresh_hash: &str) -> StoreResult<Option<(u64, u64)>>;
    /// Remembers a refresh token of `session` as spent.
    fn spend_refresh(&mut self, refresh_hash: &str, session: u64) -> StoreResult<()>;
    /// Gives the session new tokens and marks it used when they were issued.
    fn rotate_session(&mut self, session: u64, tokens: &TokenRow<'_>) -> StoreResult<()>;
    fn delete_session(&mut self, session: u64) -> StoreResult<()>;
    /// Deletes the session if it is `account`'s; whether it was.
    fn delete_session_of(&mut self, account: u64, session: u64) -> StoreResult<bool>;
    /// Deletes every session of the account but `keep`.
    fn delete_sessions_except(&mut self, account: u64, keep: Option<u64>) -> StoreResult<()>;
    /// When the session of `account` began.
    fn session_created(&mut self, account: u64, session: u64) -> StoreResult<Option<u64>>;
    /// The account's sessions whose refresh token has not run out by `now_ms`, most recently
    /// used first.
    fn sessions(&mut self, account: u64, now_ms: u64) -> StoreResult<Vec<SessionInfo>>;
    /// Which of `sessions` exist with a refresh token that has not run out by `now_ms`.
    fn sessions_alive(&mut self, sessions: &[u64], now_ms: u64) -> StoreResult<HashSet<u64>>;

    /// The account the identity (`provider`, `subject`) is linked to.
    fn identity_owner(&mut self, provider: &str, subject: &str) -> StoreResult<Option<u64>>;
    /// Links the identity (provider, subject) to the account at `now_ms`; false when the
    /// identity, or the account's link to this provider, is there already.
    fn insert_link(&mut self, link: [&str; 2], account: u64, now_ms: u64) -> StoreResult<bool>;
    /// The account's provider links, by provider name (byte order).
    fn links(&mut self, account: u64) -> StoreResult<Vec<LinkedProvider>>;
    /// Deletes the account's link to `provider`, or all its links.
    fn delete_links(&mut self, account: u64, provider: Option<&str>) -> StoreResult<()>;

    /// The account's reviews, locked, by id.
    fn lock_reviews_of(&mut self, account: u64) -> StoreResult<Vec<u64>>;
    /// The account's comments and everyone's on `reviews`, locked, by id: (comment, its
    /// review, whether that review is someone else's).
    fn lock_comments_of(
        &mut self,
        account: u64,
        reviews: &[u64],
    ) -> StoreResult<Vec<(u64, u64, bool)>>;
    /// Rewrites the chat messages of `author_key` as written by `author`, and their client
    /// ids so that nothing links them to the account.
    fn anonymise_messages(&mut self, author_key: &str, author: &str) -> StoreResult<()>;
}

/// A review as written by a client.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReview<'a> {
    pub client_id: &'a str,
    pub movie_key: &'a str,
    pub title: &'a str,
    pub year: Option<i32>,
    pub rating: f32,
    pub body: &'a str,
    pub spoiler: bool,
    /// When the author made the edit; clamped to the relay's clock (None: now).
    pub edited_at_ms: Option<u64>,
}

/// A new comment's row.
#[derive(Debug, Clone, Copy)]
pub struct NewComment<'a> {
    pub review: u64,
    pub account: u64,
    pub client_id: &'a str,
    pub body: &'a str,
    pub now_ms: u64,
}

/// Whose reviews a listing shows.
#[derive(Debug, Clone, Copy)]
pub enum ReviewsOf<'a> {
    /// Of the film with this key.
    Film(&'a str),
    /// By the account with this handle.
    Author(&'a str),
    /// By the accounts this one follows.
    FollowedBy(u64),
}

/// A like target's kind (`review`, `comment`: also the word its errors use), its table and
/// its id.
pub fn target_parts(target: LikeTarget) -> (&'static str, &'static str, u64) {
    match target {
        LikeTarget::Review(id) => ("review", "reviews", id),
        LikeTarget::Comment(id) => ("comment", "comments", id),
    }
}

/// Reviews, comments, likes and follows.
pub trait SocialRows {
    fn review(&mut self, id: u64) -> StoreResult<Option<Review>>;
    fn comment(&mut self, id: u64) -> StoreResult<Option<Comment>>;
    /// The account's review of the film, locked: (id, client id, when it was last written).
    fn lock_review_of(&mut self, by: u64, movie: &str) -> StoreResult<Option<(u64, String, u64)>>;
    /// A new review written at `now_ms`; `None` when the account has one of the film already.
    fn insert_review(&mut self, by: u64, r: &NewReview<'_>, at: u64) -> StoreResult<Option<u64>>;
    /// Overwrites the review with `r`, written at `now_ms`.
    fn update_review(&mut self, id: u64, r: &NewReview<'_>, at: u64) -> StoreResult<()>;
    /// Deletes the review (its comments go with it).
    fn delete_review(&mut self, id: u64) -> StoreResult<()>;
    /// Who wrote the review or comment, which is locked (`FOR UPDATE`).
    fn lock_author(&mut self, target: LikeTarget) -> StoreResult<Option<u64>>;
    /// Whether the review or comment exists, kept from being deleted (`FOR KEY SHARE`).
    fn lock_exists(&mut self, target: LikeTarget) -> StoreResult<bool>;
    /// The comments on the review, locked, so that no like lands on them meanwhile.
    fn lock_comments_on(&mut self, review: u64) -> StoreResult<Vec<u64>>;
    /// The account's comment with this client id.
    fn comment_by_client_id(&mut self, account: u64, client_id: &str) -> StoreResult<Option<u64>>;
    /// A new comment; `None` when the account used its client id already.
    fn insert_comment(&mut self, c: &NewComment<'_>) -> StoreResult<Option<u64>>;
    fn update_comment(&mut self, id: u64, body: &str, now_ms: u64) -> StoreResult<()>;
    /// The comment's author, its review and the review's author; the comment locked.
    fn lock_comment(&mut self, id: u64) -> StoreResult<Option<(u64, u64, u64)>>;
    fn delete_comment(&mut self, id: u64) -> StoreResult<()>;
    /// Stores (`on`: once, a like there already stays as it is) or deletes the account's like
    /// of the target.
    fn set_like(&mut self, account: u64, target: LikeTarget, on: bool) -> StoreResult<()>;
    /// The id of the account with this handle, kept from being deleted (`FOR KEY SHARE`).
    fn lock_account_id(&mut self, handle: &str) -> StoreResult<Option<u64>>;
    /// Stores (`on`: once, likewise) or deletes `follower`'s follow of `followed`.
    fn set_follow(&mut self, follower: u64, followed: u64, on: bool) -> StoreResult<()>;
    /// The handles following the account (`followers`) or followed by it, by handle (byte order).
    fn follow_handles(&mut self, account: u64, followers: bool) -> StoreResult<Vec<String>>;
    /// The newest `limit` reviews of `of` with ids below `below`, newest first.
    fn reviews(&mut self, of: ReviewsOf<'_>, below: u64, limit: usize) -> StoreResult<Vec<Review>>;
    /// How many reviews the film has, and their mean rating.
    fn film_stats(&mut self, movie_key: &str) -> StoreResult<(u32, Option<f32>)>;
    /// The oldest `limit` comments on the review with ids above `after`.
    fn comments_on(&mut self, review: u64, after: u64, limit: usize) -> StoreResult<Vec<Comment>>;
    /// The change log after `since`, at most `limit` entries: (number, JSON payload).
    fn changes(&mut self, since: u64, limit: usize) -> StoreResult<Vec<(u64, String)>>;
}

/// Which messages of a span [`ChatRows::messages`] gives: the oldest or the newest so many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Take {
    /// Oldest first.
    Oldest(usize),
    /// Newest first.
    Newest(usize),
}

impl Take {
    /// The SQL order of sequence numbers, and how many.
    pub fn order_and_limit(self) -> (&'static str, i64) {
        let (order, n) = match self {
            Take::Oldest(n) => ("ASC", n),
            Take::Newest(n) => ("DESC", n),
        };
        (order, i64::try_from(n).unwrap_or(i64::MAX))
    }
}

/// A room and a span of its sequence numbers: `(room, after, upto)`.
pub type RoomSpan = (String, u64, u64);

/// Chat messages (read: new ones go through a [`super::ChatAppender`]), rooms, bans and what
/// each account has read: the rows of [`super::ChatStore`], whose docs say what each does.
pub trait ChatRows {
    /// The messages of `room` numbered between `span`'s two (both excluded), as many as `n`
    /// says, in its order.
    fn messages(&mut self, room: &str, span: [u64; 2], n: Take) -> StoreResult<Vec<ChatMessage>>;
    /// For each `(room, after, upto)`: the room's messages numbered `after + 1 ..= upto`, at
    /// most `limit` of them, oldest first; all rooms' in one list, each room's in order. This
    /// default asks room by room.
    fn ranges(&mut self, wanted: &[RoomSpan], limit: usize) -> StoreResult<Vec<ChatMessage>> {
        let mut all = Vec::new();
        for (room, after, upto) in wanted {
            let span = usize::try_from(upto.saturating_sub(*after)).unwrap_or(usize::MAX);
            let found = self.messages(room, [*after, u64::MAX], Take::Oldest(span.min(limit)))?;
            all.extend(found.into_iter().filter(|m| m.seq <= *upto));
        }
        Ok(all)
    }
    /// Claims a room name for good; false when it was claimed before.
    fn claim_room(&mut self, name: &str) -> StoreResult<bool>;
    fn insert_room(&mut self, name: &str, topic: &str, creator: u64, at: u64) -> StoreResult<()>;
    fn room(&mut self, name: &str) -> StoreResult<Option<RoomRecord>>;
    /// Every created room, by name (byte order): (name, topic, creator handle).
    fn rooms(&mut self) -> StoreResult<Vec<(String, String, Option<String>)>>;
    /// Bans the account from the room (once: a ban there already stays as it is).
    fn insert_ban(&mut self, room: &str, account: u64) -> StoreResult<()>;
    fn is_banned(&mut self, room: &str, account: u64) -> StoreResult<bool>;
    fn bans_of(&mut self, accounts: &[u64]) -> StoreResult<Vec<(String, u64)>>;
    fn message_author(&mut self, room: &str, seq: u64) -> StoreResult<Option<String>>;
    fn blank_message(&mut self, room: &str, seq: u64) -> StoreResult<()>;
    /// Raises the account's read mark in the room to `seq` (never lowers it).
    fn mark_read(&mut self, account: u64, room: &str, seq: u64) -> StoreResult<()>;
    /// (room, messages after the read mark) for every room the account marked, by room name
    /// (byte order).
    fn unread(&mut self, account: u64) -> StoreResult<Vec<(String, u64)>>;
}
