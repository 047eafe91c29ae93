//! Offline-first sync with the relay: an outbox for this user's writes, a cursor into the
//! relay's change log, and a local cache of everyone's reviews and comments.
//!
//! **Writes** (reviews and ratings, comments, likes) are made locally first — the app never waits
//! for the network — and each is queued in the `outbox` with a client-chosen id. [`sync`] delivers
//! the queue in order when the relay is reachable. The relay stores a resent write once (reviews
//! and comments by client id; likes, comment edits and deletes are idempotent by nature), so a
//! write whose acknowledgement was lost to a dropped connection or a relay restart is simply sent
//! again: every write reaches the relay exactly once.
//!
//! **Reads**: [`sync`] first pulls the change log after the stored cursor into `remote_reviews` /
//! `remote_comments`, so everyone's reviews are readable offline; then the community model when
//! the relay has a newer one ([`pull_model`]), so recommendations learn from everyone offline.
//!
//! **Conflicts**: a review is one per account per film. Of two edits of it made on two machines
//! while offline, the later edit (by the editing machine's clock, which the relay clamps to its
//! own) wins, whatever order the machines come online in. The relay applies the rule; the loser
//! learns it from the reply (its write is marked `superseded`) or from the change log, and
//! takes the winner into its own copy. A local edit still waiting in the outbox is never
//! overwritten by a pull: it is compared at the relay when it is sent.

use std::sync::Mutex;

use movietalk_protocol::relay::{
    ChangeKind, ClientMessage, Comment, ErrorCode, LikeTarget, Review, ServerMessage,
};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};

use crate::catalog::Catalog;
use crate::error::{CoreError, Result};
use crate::lock;
pub use crate::outbox::{OutboxOp, now_ms};
pub(crate) use crate::outbox::{enqueue, has_pending, like_key, state_get, state_set};
use crate::recommend::valid_stars;
use crate::relay_client::{ClientError, RelayClient};

/// How many changes one pull request asks for.
const PULL_PAGE: u32 = 500;

/// Where a write is on its way to the relay (the window shows the same type).
pub use movietalk_protocol::ipc::Delivery;

/// One outbox entry.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxItem {
    pub id: i64,
    pub client_id: String,
    pub op: OutboxOp,
    pub state: Delivery,
    pub error: Option<String>,
    pub created_at_ms: u64,
}

/// This user's review of a film, as on this machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MyReview {
    pub movie_key: String,
    pub title: String,
    pub year: Option<i32>,
    pub rating: f32,
    pub body: String,
    pub spoiler: bool,
    pub edited_at_ms: u64,
    pub remote_id: Option<u64>,
    /// Where its latest write is: pending until the relay has it.
    pub delivery: Delivery,
    pub error: Option<String>,
}

/// A review from the relay's cache, with whether this user likes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedReview {
    pub review: Review,
    pub liked: bool,
}

/// A comment, from the relay's cache or (`delivery` pending/failed) written here and not yet sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedComment {
    /// The relay's id; `None` for a comment not yet sent.
    pub id: Option<u64>,
    pub review_id: u64,
    pub author: String,
    pub body: String,
    pub likes: u32,
    pub liked: bool,
    pub created_at_ms: u64,
    pub delivery: Delivery,
    /// The outbox client id of an unsent comment (to cancel it).
    pub client_id: Option<String>,
}

/// What one [`sync`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// Changes pulled from the relay's log.
    pub pulled: usize,
    /// Writes the relay acknowledged.
    pub sent: usize,
    /// Writes the relay refused (kept in the outbox, marked failed).
    pub failed: usize,
    /// Writes that lost to a later edit from another machine.
    pub superseded: usize,
    /// The community model's version, when a newer one was fetched.
    #[serde(default)]
    pub model: Option<u64>,
    /// Films of that model this catalog holds.
    #[serde(default)]
    pub model_films: usize,
    /// Whether the watchlist changed on the relay (another machine of this account).
    #[serde(default)]
    pub watchlist: bool,
    /// Whether the diary changed on the relay (another machine of this account).
    #[serde(default)]
    pub diary: bool,
}

/// How far a sync is, for a progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncProgress {
    /// Changes pulled so far.
    Changes(usize),
    /// Pages of the community model fetched so far, of `pages`.
    Model { page: u32, pages: u32 },
}

/// Most pages a community model may have (400,000 films): a relay claiming more is not believed.
const MAX_MODEL_PAGES: u32 = 200;
/// Times a model download starts again because the relay rebuilt it meanwhile.
const MODEL_RESTARTS: u32 = 3;
/// Seconds a model download waits in all for the relay's rate limit before giving up.
const MODEL_WAITS: u32 = 120;

/// Why a sync stopped early; what was done before stays done.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Relay(#[from] ClientError),
    #[error(transparent)]
    Local(#[from] CoreError),
    #[error("log in to the relay to send your reviews, comments and likes")]
    NotLoggedIn,
}

impl From<rusqlite::Error> for SyncError {
    fn from(e: rusqlite::Error) -> Self {
        SyncError::Local(e.into())
    }
}

fn set_rating(tx: &Transaction<'_>, movie_key: &str, rating: Option<f32>) -> Result<()> {
    // The recommender reads `ratings`; films not in this catalog are rated on the relay only.
    match rating {
        Some(stars) => tx.execute(
            "INSERT INTO ratings (movie_id, stars) SELECT id, ?2 FROM movies WHERE key = ?1
             ON CONFLICT(movie_id) DO UPDATE SET stars = excluded.stars, rated_at = unixepoch()",
            params![movie_key, stars as f64],
        )?,
        None => tx.execute(
            "DELETE FROM ratings WHERE movie_id = (SELECT id FROM movies WHERE key = ?1)",
            [movie_key],
        )?,
    };
    Ok(())
}

fn row_to_review(r: &rusqlite::Row<'_>) -> rusqlite::Result<Review> {
    Ok(Review {
        id: r.get::<_, i64>(0)? as u64,
        author: r.get(1)?,
        movie_key: r.get(2)?,
        title: r.get(3)?,
        year: r.get(4)?,
        rating: r.get::<_, f64>(5)? as f32,
        body: r.get(6)?,
        spoiler: r.get(7)?,
        likes: r.get(8)?,
        comments: r.get(9)?,
        created_at_ms: r.get::<_, i64>(10)? as u64,
        updated_at_ms: r.get::<_, i64>(11)? as u64,
    })
}

const REVIEW_COLUMNS: &str =
    "r.id, r.author, r.movie_key, r.title, r.year, r.rating, r.body, r.spoiler, r.likes, r.comments, r.created_at_ms, r.updated_at_ms,
     EXISTS (SELECT 1 FROM my_likes WHERE target = 'review:' || r.id)";

fn cache_review(tx: &Transaction<'_>, r: &Review) -> rusqlite::Result<()> {
    // A deleted-then-rewritten review has a new id: the (author, film) pair replaces the old row.
    tx.execute(
        "DELETE FROM remote_reviews WHERE author = ?1 AND movie_key = ?2 AND id <> ?3",
        params![r.author, r.movie_key, r.id as i64],
    )?;
    tx.execute(
        "INSERT OR REPLACE INTO remote_reviews
           (id, author, movie_key, title, year, rating, body, spoiler, likes, comments, created_at_ms, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
        params![
            r.id as i64,
            r.author,
            r.movie_key,
            r.title,
            r.year,
            r.rating as f64,
            r.body,
            r.spoiler,
            r.likes,
            r.comments,
            r.created_at_ms as i64,
            r.updated_at_ms as i64
        ],
    )?;
    Ok(())
}

fn cache_comment(tx: &Transaction<'_>, c: &Comment) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO remote_comments (id, review_id, author, body, likes, created_at_ms, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![c.id as i64, c.review_id as i64, c.author, c.body, c.likes, c.created_at_ms as i64, c.updated_at_ms as i64],
    )?;
    // Keep the review's comment count true between pulls.
    recount_comments(tx, c.review_id)
}

/// Sets a cached review's comment count from the cached comments.
fn recount_comments(tx: &Transaction<'_>, review_id: u64) -> rusqlite::Result<()> {
    tx.execute(
        "UPDATE remote_reviews SET comments = (SELECT count(*) FROM remote_comments WHERE review_id = ?1) WHERE id = ?1",
        [review_id as i64],
    )?;
    Ok(())
}

/// Marks `target` liked (or not) by this user and moves its cached like count with it; false
/// when it already was so.
fn set_liked(tx: &Transaction<'_>, target: LikeTarget, on: bool) -> rusqlite::Result<bool> {
    let key = like_key(target);
    let changed = if on {
        tx.execute(
            "INSERT OR IGNORE INTO my_likes (target) VALUES (?1)",
            [&key],
        )?
    } else {
        tx.execute("DELETE FROM my_likes WHERE target = ?1", [&key])?
    };
    if changed == 0 {
        return Ok(false);
    }
    let delta = if on { 1 } else { -1 };
    match target {
        LikeTarget::Review(id) => tx.execute(
            "UPDATE remote_reviews SET likes = max(0, likes + ?2) WHERE id = ?1",
            params![id as i64, delta],
        )?,
        LikeTarget::Comment(id) => tx.execute(
            "UPDATE remote_comments SET likes = max(0, likes + ?2) WHERE id = ?1",
            params![id as i64, delta],
        )?,
    };
    Ok(true)
}

/// Takes a review of this user's that the relay holds into the local copy, unless a local write
/// of it is still waiting (that one is settled at the relay when it is sent).
fn adopt_own_review(tx: &Transaction<'_>, r: &Review) -> Result<()> {
    if has_pending(tx, &format!("review:{}", r.movie_key))? {
        return Ok(());
    }
    let local: Option<i64> = tx
        .query_row(
            "SELECT edited_at_ms FROM my_reviews WHERE movie_key = ?1",
            [&r.movie_key],
            |row| row.get(0),
        )
        .optional()?;
    if local.is_some_and(|t| t as u64 > r.updated_at_ms) {
        return Ok(());
    }
    tx.execute(
        "INSERT OR REPLACE INTO my_reviews (movie_key, title, year, rating, body, spoiler, edited_at_ms, remote_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![r.movie_key, r.title, r.year, r.rating as f64, r.body, r.spoiler, r.updated_at_ms as i64, r.id as i64],
    )?;
    set_rating(tx, &r.movie_key, Some(r.rating))
}

impl Catalog {
    /// Writes (or rewrites) this user's review of a film — a rating alone is a review — and
    /// queues it for the relay. The film must be in the catalog.
    pub fn save_review(
        &mut self,
        movie_key: &str,
        rating: f32,
        body: &str,
        spoiler: bool,
    ) -> Result<MyReview> {
        if !valid_stars(rating) {
            return Err(CoreError::InvalidInput(format!(
                "{rating} is not a rating: use half stars from 0.5 to 5"
            )));
        }
        movietalk_protocol::relay::validate_review_body(body)
            .map_err(|e| CoreError::InvalidInput(e.to_string()))?;
        let movie = self
            .get(movie_key)?
            .ok_or_else(|| CoreError::InvalidInput(format!("no movie with key {movie_key:?}")))?;
        // Strictly later than the previous edit even within one millisecond.
        let previous: Option<i64> = self
            .conn
            .query_row(
                "SELECT edited_at_ms FROM my_reviews WHERE movie_key = ?1",
                [movie_key],
                |r| r.get(0),
            )
            .optional()?;
        let edited_at_ms = now_ms().max(previous.map_or(0, |p| p as u64 + 1));
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO my_reviews (movie_key, title, year, rating, body, spoiler, edited_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
             ON CONFLICT(movie_key) DO UPDATE SET title = excluded.title, year = excluded.year, rating = excluded.rating,
               body = excluded.body, spoiler = excluded.spoiler, edited_at_ms = excluded.edited_at_ms",
            params![movie_key, movie.title, movie.year, rating as f64, body, spoiler, edited_at_ms as i64],
        )?;
        set_rating(&tx, movie_key, Some(rating))?;
        let op = OutboxOp::PutReview {
            movie_key: movie_key.to_owned(),
            title: movie.title,
            year: movie.year,
            rating,
            body: body.to_owned(),
            spoiler,
            edited_at_ms,
        };
        enqueue(&tx, &op)?;
        tx.commit()?;
        Ok(self.my_review(movie_key)?.expect("just written"))
    }

    /// Deletes this user's review (and rating) of a film here and, through the outbox, on the
    /// relay. False when there was none.
    pub fn delete_my_review(&mut self, movie_key: &str) -> Result<bool> {
        let tx = self.conn.transaction()?;
        let remote_id: Option<Option<i64>> = tx
            .query_row(
                "SELECT remote_id FROM my_reviews WHERE movie_key = ?1",
                [movie_key],
                |r| r.get(0),
            )
            .optional()?;
        let Some(remote_id) = remote_id else {
            return Ok(false);
        };
        tx.execute("DELETE FROM my_reviews WHERE movie_key = ?1", [movie_key])?;
        if let Some(id) = remote_id {
            // Gone from this user's view at once, not at the next pull.
            tx.execute("DELETE FROM remote_comments WHERE review_id = ?1", [id])?;
            tx.execute("DELETE FROM remote_reviews WHERE id = ?1", [id])?;
        }
        set_rating(&tx, movie_key, None)?;
        enqueue(
            &tx,
            &OutboxOp::DeleteReview {
                movie_key: movie_key.to_owned(),
                remote_id: remote_id.map(|id| id as u64),
            },
        )?;
        tx.commit()?;
        Ok(true)
    }

    /// This user's review of a film, with the delivery state of its latest write.
    pub fn my_review(&self, movie_key: &str) -> Result<Option<MyReview>> {
        Ok(self
            .my_reviews_where("WHERE m.movie_key = ?1", [movie_key])?
            .pop())
    }

    /// All of this user's reviews, most recently edited first.
    pub fn my_reviews(&self) -> Result<Vec<MyReview>> {
        self.my_reviews_where("", [])
    }

    fn my_reviews_where<P: rusqlite::Params>(&self, filter: &str, p: P) -> Result<Vec<MyReview>> {
        let sql = format!(
            "SELECT m.movie_key, m.title, m.year, m.rating, m.body, m.spoiler, m.edited_at_ms, m.remote_id,
                    (SELECT state FROM outbox o WHERE o.subject = 'review:' || m.movie_key ORDER BY o.id DESC LIMIT 1),
                    (SELECT error FROM outbox o WHERE o.subject = 'review:' || m.movie_key ORDER BY o.id DESC LIMIT 1)
             FROM my_reviews m {filter} ORDER BY m.edited_at_ms DESC"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(p, |r| {
            Ok(MyReview {
                movie_key: r.get(0)?,
                title: r.get(1)?,
                year: r.get(2)?,
                rating: r.get::<_, f64>(3)? as f32,
                body: r.get(4)?,
                spoiler: r.get(5)?,
                edited_at_ms: r.get::<_, i64>(6)? as u64,
                remote_id: r.get::<_, Option<i64>>(7)?.map(|i| i as u64),
                // Pulled from the relay without a local write: the relay has it.
                delivery: r
                    .get::<_, Option<String>>(8)?
                    .map_or(Delivery::Sent, |s| Delivery::parse(&s)),
                error: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Comments on a review (the relay's, then this user's unsent ones); returns the unsent
    /// comment's client id.
    pub fn post_comment(&mut self, review_id: u64, body: &str) -> Result<String> {
        movietalk_protocol::relay::validate_comment(body)
            .map_err(|e| CoreError::InvalidInput(e.to_string()))?;
        let tx = self.conn.transaction()?;
        let id = enqueue(
            &tx,
            &OutboxOp::PostComment {
                review_id,
                body: body.to_owned(),
            },
        )?;
        tx.commit()?;
        Ok(id)
    }

    /// Changes one of this user's comments (the relay checks it is theirs).
    pub fn edit_comment(&mut self, comment_id: u64, body: &str) -> Result<()> {
        movietalk_protocol::relay::validate_comment(body)
            .map_err(|e| CoreError::InvalidInput(e.to_string()))?;
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE remote_comments SET body = ?2 WHERE id = ?1",
            params![comment_id as i64, body],
        )?;
        enqueue(
            &tx,
            &OutboxOp::EditComment {
                comment_id,
                body: body.to_owned(),
            },
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes a comment (the relay checks that this user wrote it or wrote the review).
    pub fn delete_comment(&mut self, comment_id: u64) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "DELETE FROM remote_comments WHERE id = ?1",
            [comment_id as i64],
        )?;
        enqueue(&tx, &OutboxOp::DeleteComment { comment_id })?;
        tx.commit()?;
        Ok(())
    }

    /// Withdraws a comment that has not been sent yet. False when it was already sent.
    pub fn cancel_comment(&mut self, client_id: &str) -> Result<bool> {
        Ok(self.conn.execute(
            "UPDATE outbox SET state = 'superseded', done_at_ms = ?2
             WHERE client_id = ?1 AND state IN ('pending', 'failed') AND subject LIKE 'new-comment:%'",
            params![client_id, now_ms() as i64],
        )? > 0)
    }

    /// Likes (or unlikes) a review or comment.
    pub fn like(&mut self, target: LikeTarget, on: bool) -> Result<()> {
        let tx = self.conn.transaction()?;
        if set_liked(&tx, target, on)? {
            enqueue(&tx, &OutboxOp::Like { target, on })?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Everyone's reviews of a film as last pulled (this user's included), newest first.
    pub fn reviews_of(&self, movie_key: &str) -> Result<Vec<CachedReview>> {
        self.cached_reviews("WHERE r.movie_key = ?1", [movie_key], -1)
    }

    /// Reviews by one author as last pulled, newest first.
    pub fn reviews_by(&self, author: &str) -> Result<Vec<CachedReview>> {
        self.cached_reviews("WHERE r.author = ?1", [author], -1)
    }

    /// Newest reviews from everyone as last pulled.
    pub fn recent_reviews(&self, limit: u32) -> Result<Vec<CachedReview>> {
        self.cached_reviews("", [], i64::from(limit))
    }

    /// One cached review.
    pub fn cached_review(&self, id: u64) -> Result<Option<CachedReview>> {
        Ok(self
            .cached_reviews("WHERE r.id = ?1", [id as i64], 1)?
            .pop())
    }

    /// `limit` -1: all.
    pub(crate) fn cached_reviews<P: rusqlite::Params>(
        &self,
        filter: &str,
        p: P,
        limit: i64,
    ) -> Result<Vec<CachedReview>> {
        let sql = format!(
            "SELECT {REVIEW_COLUMNS} FROM remote_reviews r {filter} ORDER BY r.updated_at_ms DESC, r.id DESC LIMIT {limit}"
        );
        let mut stmt = self.conn.prepare(&sql)?;
        let rows = stmt.query_map(p, |r| {
            Ok(CachedReview {
                review: row_to_review(r)?,
                liked: r.get(12)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Comments on a review: the relay's as last pulled, then this user's not yet sent.
    pub fn comments_of(&self, review_id: u64) -> Result<Vec<CachedComment>> {
        let mut stmt = self.conn.prepare(
            "SELECT c.id, c.author, c.body, c.likes, c.created_at_ms,
                    EXISTS (SELECT 1 FROM my_likes WHERE target = 'comment:' || c.id)
             FROM remote_comments c WHERE c.review_id = ?1 ORDER BY c.id",
        )?;
        let mut out: Vec<CachedComment> = stmt
            .query_map([review_id as i64], |r| {
                Ok(CachedComment {
                    id: Some(r.get::<_, i64>(0)? as u64),
                    review_id,
                    author: r.get(1)?,
                    body: r.get(2)?,
                    likes: r.get(3)?,
                    liked: r.get(5)?,
                    created_at_ms: r.get::<_, i64>(4)? as u64,
                    delivery: Delivery::Sent,
                    client_id: None,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        let me = self.sync_account()?.unwrap_or_default();
        for item in self
            .outbox_where("WHERE state IN ('pending', 'failed') AND subject LIKE 'new-comment:%'")?
        {
            if let OutboxOp::PostComment { review_id: r, body } = item.op
                && r == review_id
            {
                out.push(CachedComment {
                    id: None,
                    review_id,
                    author: me.clone(),
                    body,
                    likes: 0,
                    liked: false,
                    created_at_ms: item.created_at_ms,
                    delivery: item.state,
                    client_id: Some(item.client_id),
                });
            }
        }
        Ok(out)
    }

    /// The whole outbox, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxItem>> {
        self.outbox_where("")
    }

    /// How many writes wait for the relay.
    pub fn pending_writes(&self) -> Result<u64> {
        Ok(self.conn.query_row(
            "SELECT count(*) FROM outbox WHERE state = 'pending'",
            [],
            |r| r.get(0),
        )?)
    }

    fn outbox_where(&self, filter: &str) -> Result<Vec<OutboxItem>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT id, client_id, op, state, error, created_at_ms FROM outbox {filter} ORDER BY id"
        ))?;
        let rows = stmt.query_map([], |r| {
            let op: String = r.get(2)?;
            Ok((
                r.get(0)?,
                r.get(1)?,
                op,
                r.get::<_, String>(3)?,
                r.get(4)?,
                r.get::<_, i64>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, client_id, op, state, error, created) = row?;
            let op = serde_json::from_str(&op).map_err(|e| {
                CoreError::InvalidInput(format!("outbox entry {id} is unreadable: {e}"))
            })?;
            out.push(OutboxItem {
                id,
                client_id,
                op,
                state: Delivery::parse(&state),
                error,
                created_at_ms: created as u64,
            });
        }
        Ok(out)
    }

    /// The relay change number this catalog has pulled up to.
    pub fn sync_cursor(&self) -> Result<u64> {
        Ok(state_get(&self.conn, "cursor")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// The relay handle this data folder syncs as, once logged in.
    pub fn sync_account(&self) -> Result<Option<String>> {
        Ok(state_get(&self.conn, "account")?)
    }

    /// Remembers the handle this data folder syncs as. Logging in as someone else forgets the
    /// previous account's likes; this machine's own ratings and reviews stay (nothing written
    /// here is lost) and are sent as the new account.
    pub fn set_sync_account(&mut self, handle: &str) -> Result<()> {
        let tx = self.conn.transaction()?;
        let previous = state_get(&tx, "account")?;
        if previous.as_deref().is_some_and(|p| p != handle) {
            tx.execute_batch("DELETE FROM my_likes; UPDATE my_reviews SET remote_id = NULL;")?;
            // The next sync takes the new account's watchlist and diary (this machine's waiting
            // changes stay, and go out as the new account's).
            crate::watchlist::forget_version(&tx)?;
            crate::diary::forget_version(&tx)?;
        }
        state_set(&tx, "account", handle)?;
        tx.commit()?;
        Ok(())
    }

    /// Applies pulled changes and moves the cursor, in one transaction.
    fn apply_changes(
        &mut self,
        changes: &[movietalk_protocol::relay::Change],
        last: u64,
        me: &str,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        for change in changes {
            match &change.what {
                ChangeKind::ReviewPut { review } => {
                    cache_review(&tx, review)?;
                    if review.author == me {
                        adopt_own_review(&tx, review)?;
                    }
                }
                ChangeKind::ReviewDeleted { review_id } => {
                    let id = *review_id as i64;
                    let own: Option<String> = tx
                        .query_row(
                            "SELECT movie_key FROM remote_reviews WHERE id = ?1 AND author = ?2",
                            params![id, me],
                            |r| r.get(0),
                        )
                        .optional()?;
                    tx.execute("DELETE FROM remote_comments WHERE review_id = ?1", [id])?;
                    tx.execute("DELETE FROM remote_reviews WHERE id = ?1", [id])?;
                    if let Some(key) = own
                        && !has_pending(&tx, &format!("review:{key}"))?
                    {
                        // Deleted on another machine: deleted here too.
                        tx.execute(
                            "DELETE FROM my_reviews WHERE movie_key = ?1 AND remote_id = ?2",
                            params![key, id],
                        )?;
                        set_rating(&tx, &key, None)?;
                    }
                }
                ChangeKind::CommentPut { comment } => cache_comment(&tx, comment)?,
                ChangeKind::CommentDeleted {
                    comment_id,
                    review_id,
                } => {
                    tx.execute(
                        "DELETE FROM remote_comments WHERE id = ?1",
                        [*comment_id as i64],
                    )?;
                    recount_comments(&tx, *review_id)?;
                }
            }
        }
        state_set(&tx, "cursor", &last.to_string())?;
        tx.commit()?;
        Ok(())
    }

    /// Records the relay's answer to an outbox entry.
    fn settle(&mut self, item: &OutboxItem, outcome: Settled) -> Result<Delivery> {
        let tx = self.conn.transaction()?;
        let mut state = Delivery::Sent;
        let mut error = None;
        match outcome {
            Settled::Review(r) => {
                cache_review(&tx, &r)?;
                let OutboxOp::PutReview { edited_at_ms, .. } = &item.op else {
                    unreachable!("a review answers a review")
                };
                if r.updated_at_ms > *edited_at_ms {
                    // A later edit from another machine is on the relay: it wins.
                    state = Delivery::Superseded;
                }
                tx.execute(
                    "UPDATE my_reviews SET remote_id = ?2 WHERE movie_key = ?1",
                    params![r.movie_key, r.id as i64],
                )?;
                // Mark this entry settled first, so adopting sees no pending write of it.
                tx.execute(
                    "UPDATE outbox SET state = ?2, done_at_ms = ?3 WHERE id = ?1",
                    params![item.id, state.as_str(), now_ms() as i64],
                )?;
                if state == Delivery::Superseded {
                    adopt_own_review(&tx, &r)?;
                }
            }
            Settled::Comment(c) => cache_comment(&tx, &c)?,
            Settled::Done => {}
            Settled::Refused(message) => {
                state = Delivery::Failed;
                error = Some(message);
                // Undo what the write changed here ahead of the relay.
                match &item.op {
                    // The cache showed the edit or the deletion at once: pull everything again
                    // on the next sync (replaying the log restores the relay's state).
                    OutboxOp::EditComment { .. } | OutboxOp::DeleteComment { .. } => {
                        state_set(&tx, "cursor", "0")?;
                    }
                    OutboxOp::Like { target, on } => {
                        set_liked(&tx, *target, !*on)?;
                    }
                    // Pull the relay's whole watchlist again on the next sync.
                    OutboxOp::Watchlist { .. } | OutboxOp::WatchlistPublic { .. } => {
                        crate::watchlist::forget_version(&tx)?;
                    }
                    // Pull the relay's whole diary again on the next sync.
                    OutboxOp::PutDiaryEntry { .. } | OutboxOp::DeleteDiaryEntry { .. } => {
                        crate::diary::forget_version(&tx)?;
                    }
                    _ => {}
                }
            }
        }
        tx.execute(
            "UPDATE outbox SET state = ?2, error = ?3, done_at_ms = ?4 WHERE id = ?1",
            params![item.id, state.as_str(), error, now_ms() as i64],
        )?;
        tx.commit()?;
        Ok(state)
    }

    fn own_review_id(&self, movie_key: &str, me: &str) -> Result<Option<u64>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id FROM remote_reviews WHERE movie_key = ?1 AND author = ?2",
                params![movie_key, me],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
            .map(|i| i as u64))
    }
}

/// How the relay answered one outbox entry.
enum Settled {
    Review(Review),
    Comment(Comment),
    Done,
    Refused(String),
}

/// Pulls what changed on the relay since the last sync, delivers this user's waiting writes in
/// order, then fetches the community model if the relay has a newer one. `client` must be
/// logged in as `me` for the writes (a guest connection only pulls). The catalog is locked only
/// between network calls, never across one.
pub async fn sync(
    db: &Mutex<Catalog>,
    client: &RelayClient,
    me: Option<&str>,
    progress: &(dyn Fn(SyncProgress) + Sync),
) -> Result<SyncReport, SyncError> {
    let mut report = SyncReport::default();
    let own = me.unwrap_or("");
    // Pull first: a write compared against the relay's newest state settles conflicts right.
    loop {
        let since = lock(db).sync_cursor()?;
        let (changes, last) = match client
            .call(ClientMessage::ChangesSince {
                since,
                limit: PULL_PAGE,
            })
            .await?
        {
            ServerMessage::Changes { changes, last, .. } => (changes, last),
            other => {
                return Err(
                    ClientError::Protocol(format!("expected changes, got {other:?}")).into(),
                );
            }
        };
        if changes.is_empty() {
            break;
        }
        report.pulled += changes.len();
        lock(db).apply_changes(&changes, last.max(since), own)?;
        progress(SyncProgress::Changes(report.pulled));
        if last <= since {
            break;
        }
    }
    if let Some(me) = me {
        push(db, client, me, &mut report).await?;
        // What this account's other machines did to the watchlist, after this one's own
        // changes were delivered (a change still waiting here is never overwritten).
        report.watchlist = pull_watchlist(db, client).await?;
        report.diary = pull_diary(db, client).await?;
    }
    // Last: the model can take a while (pages, a rate limit), and writes must not wait for it.
    if let Some((version, films)) = pull_model(db, client, progress).await? {
        report.model = Some(version);
        report.model_films = films;
    }
    Ok(report)
}

/// Delivers this user's waiting writes in order.
async fn push(
    db: &Mutex<Catalog>,
    client: &RelayClient,
    me: &str,
    report: &mut SyncReport,
) -> Result<(), SyncError> {
    let pending = lock(db).outbox_where("WHERE state = 'pending'")?;
    for item in pending {
        let outcome = match deliver(db, client, &item, me).await {
            Ok(outcome) => outcome,
            Err(ClientError::Rejected {
                code: ErrorCode::Unauthorized,
                ..
            }) => return Err(SyncError::NotLoggedIn),
            // The write itself is wrong or not allowed: keep it visible as failed, go on.
            Err(ClientError::Rejected {
                code:
                    code @ (ErrorCode::InvalidInput
                    | ErrorCode::Forbidden
                    | ErrorCode::NotFound
                    | ErrorCode::Conflict),
                message,
            }) => {
                // Deleting what is already gone is what was wanted.
                let gone = code == ErrorCode::NotFound
                    && matches!(
                        item.op,
                        OutboxOp::DeleteReview { .. } | OutboxOp::DeleteComment { .. }
                    );
                if gone {
                    Settled::Done
                } else {
                    Settled::Refused(message)
                }
            }
            // Unreachable, closed, timed out, rate limited: try again on the next sync.
            Err(e) => return Err(e.into()),
        };
        match lock(db).settle(&item, outcome)? {
            Delivery::Sent => report.sent += 1,
            Delivery::Failed => report.failed += 1,
            Delivery::Superseded => report.superseded += 1,
            Delivery::Pending => {}
        }
    }
    Ok(())
}

/// Takes in this account's watchlist from the relay when it changed since the last pull;
/// answers whether it had. A relay from before watchlists, or a rate limit, skips it.
async fn pull_watchlist(db: &Mutex<Catalog>, client: &RelayClient) -> Result<bool, SyncError> {
    let since = lock(db).watchlist_version()?;
    let ask = ClientMessage::Watchlist {
        handle: None,
        since,
    };
    let reply = match client.call(ask).await {
        Ok(reply) => reply,
        // A relay from before them; or the relay's limit, which the next sync waits out.
        Err(ClientError::Rejected {
            code: ErrorCode::Malformed | ErrorCode::RateLimited,
            ..
        }) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let ServerMessage::Watchlist {
        version,
        public,
        unchanged,
        films,
        ..
    } = reply
    else {
        return Err(ClientError::Protocol(format!("expected a watchlist, got {reply:?}")).into());
    };
    if !unchanged {
        lock(db).take_watchlist(version, public, &films)?;
    }
    Ok(!unchanged)
}

/// Takes in this account's diary from the relay when it changed since the last pull; answers
/// whether it had. A relay from before diaries, or a rate limit, skips it.
async fn pull_diary(db: &Mutex<Catalog>, client: &RelayClient) -> Result<bool, SyncError> {
    let since = lock(db).diary_version()?;
    let reply = match client.call(ClientMessage::Diary { since }).await {
        Ok(reply) => reply,
        // A relay from before them; or the relay's limit, which the next sync waits out.
        Err(ClientError::Rejected {
            code: ErrorCode::Malformed | ErrorCode::RateLimited,
            ..
        }) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let ServerMessage::Diary {
        version,
        unchanged,
        entries,
        ..
    } = reply
    else {
        return Err(ClientError::Protocol(format!("expected a diary, got {reply:?}")).into());
    };
    if !unchanged {
        lock(db).take_diary(version, &entries)?;
    }
    Ok(!unchanged)
}

/// Fetches the relay's community model when it is newer than the one kept here, and keeps it:
/// `Some((version, films kept))`, or `None` when there is nothing newer (or the relay has no
/// model, or is too old to serve one). The catalog is locked only to read the version and to
/// store the model.
pub async fn pull_model(
    db: &Mutex<Catalog>,
    client: &RelayClient,
    progress: &(dyn Fn(SyncProgress) + Sync),
) -> Result<Option<(u64, usize)>, SyncError> {
    let since = crate::recommend::community::model_version(&lock(db))?;
    let mut waits = 0;
    'restart: for _ in 0..MODEL_RESTARTS {
        let mut films = Vec::new();
        let mut page = 0u32;
        let mut version = None;
        loop {
            let reply = match client
                .call(ClientMessage::CommunityModel { since, page })
                .await
            {
                Ok(reply) => reply,
                // The relay limits page requests like writes: wait, and ask for the same page.
                Err(ClientError::Rejected {
                    code: ErrorCode::RateLimited,
                    ..
                }) if waits < MODEL_WAITS => {
                    waits += 1;
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
                // A relay from before the community model.
                Err(ClientError::Rejected {
                    code: ErrorCode::Malformed,
                    ..
                }) => return Ok(None),
                Err(e) => return Err(e.into()),
            };
            let ServerMessage::CommunityModel {
                version: v,
                pages,
                unchanged,
                films: part,
                ..
            } = reply
            else {
                return Err(ClientError::Protocol(format!(
                    "expected the community model, got {reply:?}"
                ))
                .into());
            };
            if unchanged || v == 0 {
                return Ok(None);
            }
            if pages > MAX_MODEL_PAGES {
                return Err(ClientError::Protocol(format!(
                    "the community model has {pages} pages, more than {MAX_MODEL_PAGES}"
                ))
                .into());
            }
            if *version.get_or_insert(v) != v {
                // Rebuilt while it was being read: read the new one from its start.
                continue 'restart;
            }
            films.extend(part);
            page += 1;
            progress(SyncProgress::Model { page, pages });
            if page >= pages {
                break;
            }
        }
        let version = version.unwrap_or_default();
        let model = movietalk_community::Model::from_wire(films)
            .map_err(|e| ClientError::Protocol(format!("the community model: {e}")))?;
        let kept = crate::recommend::community::store_model(&mut lock(db), &model, version)?;
        tracing::info!(
            version,
            films = model.films.len(),
            kept,
            "community model stored"
        );
        return Ok(Some((version, kept)));
    }
    Err(ClientError::Protocol("the community model kept changing while it was read".into()).into())
}

async fn deliver(
    db: &Mutex<Catalog>,
    client: &RelayClient,
    item: &OutboxItem,
    me: &str,
) -> Result<Settled, ClientError> {
    let client_id = item.client_id.clone();
    let reply = match item.op.clone() {
        OutboxOp::PutReview {
            movie_key,
            title,
            year,
            rating,
            body,
            spoiler,
            edited_at_ms,
        } => {
            client
                .call(ClientMessage::PutReview {
                    client_id,
                    movie_key,
                    title,
                    year,
                    rating,
                    body,
                    spoiler,
                    edited_at_ms: Some(edited_at_ms),
                })
                .await?
        }
        OutboxOp::DeleteReview {
            movie_key,
            remote_id,
        } => {
            let found = match remote_id {
                Some(id) => Some(id),
                None => lock(db)
                    .own_review_id(&movie_key, me)
                    .map_err(|e| ClientError::Protocol(e.to_string()))?,
            };
            // Never reached the relay: there is nothing to delete there.
            let Some(review_id) = found else {
                return Ok(Settled::Done);
            };
            client
                .call(ClientMessage::DeleteReview { review_id })
                .await?
        }
        OutboxOp::PostComment { review_id, body } => {
            client
                .call(ClientMessage::PostComment {
                    client_id,
                    review_id,
                    body,
                })
                .await?
        }
        OutboxOp::EditComment { comment_id, body } => {
            client
                .call(ClientMessage::EditComment { comment_id, body })
                .await?
        }
        OutboxOp::DeleteComment { comment_id } => {
            client
                .call(ClientMessage::DeleteComment { comment_id })
                .await?
        }
        OutboxOp::Like { target, on } => client.call(ClientMessage::Like { target, on }).await?,
        op @ (OutboxOp::Watchlist { .. } | OutboxOp::WatchlistPublic { .. }) => {
            let msg = crate::watchlist::delivery(op).expect("a watchlist write");
            client.call(msg).await?
        }
        op @ (OutboxOp::PutDiaryEntry { .. } | OutboxOp::DeleteDiaryEntry { .. }) => {
            let msg = crate::diary::delivery(op).expect("a diary write");
            client.call(msg).await?
        }
    };
    Ok(match reply {
        ServerMessage::ReviewSaved { review, .. } => Settled::Review(review),
        ServerMessage::CommentSaved { comment, .. } => Settled::Comment(comment),
        _ => Settled::Done,
    })
}
