//! Shared reviews, comments and likes, with a numbered change log that offline clients pull
//! from their last cursor.
//!
//! Rules: one review per account per film, written and deleted by its author only; comments
//! edited by their author, deleted by their author or by the review's author; a write carrying
//! a client id the account already used is answered with what was stored, not stored again.
//! When an account is deleted its reviews, comments and likes are removed (chat messages are
//! kept as "deleted user", see `accounts`), and the change log says so.

use std::time::{SystemTime, UNIX_EPOCH};

use movietalk_protocol::relay::{Account, Change, ChangeKind, Comment, LikeTarget, Review};
use rusqlite::{Connection, OptionalExtension, params};

use crate::store::rows::{Access, Transact};
use crate::store::{SqliteStore, StoreError};

/// Why a social operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SocialError {
    #[error("no such {0}")]
    NotFound(&'static str),
    #[error("this {0} is not yours")]
    Forbidden(&'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<rusqlite::Error> for SocialError {
    fn from(e: rusqlite::Error) -> Self {
        SocialError::Store(e.into())
    }
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

/// Where the relay keeps reviews, comments and likes.
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

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

pub(crate) const REVIEW_SELECT: &str =
    "SELECT r.id, a.handle, r.movie_key, r.title, r.year, r.rating, r.body, r.spoiler,
        (SELECT count(*) FROM likes l WHERE l.kind = 'review' AND l.target_id = r.id),
        (SELECT count(*) FROM comments c WHERE c.review_id = r.id),
        r.created_at_ms, r.updated_at_ms
    FROM reviews r JOIN accounts a ON a.id = r.account_id";

pub(crate) const COMMENT_SELECT: &str = "SELECT c.id, c.review_id, a.handle, c.body,
        (SELECT count(*) FROM likes l WHERE l.kind = 'comment' AND l.target_id = c.id),
        c.created_at_ms, c.updated_at_ms
    FROM comments c JOIN accounts a ON a.id = c.account_id";

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

fn row_to_comment(r: &rusqlite::Row<'_>) -> rusqlite::Result<Comment> {
    Ok(Comment {
        id: r.get::<_, i64>(0)? as u64,
        review_id: r.get::<_, i64>(1)? as u64,
        author: r.get(2)?,
        body: r.get(3)?,
        likes: r.get(4)?,
        created_at_ms: r.get::<_, i64>(5)? as u64,
        updated_at_ms: r.get::<_, i64>(6)? as u64,
    })
}

fn review(conn: &Connection, id: i64) -> Result<Review, SocialError> {
    conn.query_row(
        &format!("{REVIEW_SELECT} WHERE r.id = ?1"),
        [id],
        row_to_review,
    )
    .optional()?
    .ok_or(SocialError::NotFound("review"))
}

fn comment(conn: &Connection, id: i64) -> Result<Comment, SocialError> {
    conn.query_row(
        &format!("{COMMENT_SELECT} WHERE c.id = ?1"),
        [id],
        row_to_comment,
    )
    .optional()?
    .ok_or(SocialError::NotFound("comment"))
}

impl SocialStore for SqliteStore {
    fn put_review(&self, account: u64, n: &NewReview<'_>) -> Result<Review, SocialError> {
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        let existing: Option<(i64, String, i64)> = tx
            .query_row(
                "SELECT id, client_id, updated_at_ms FROM reviews WHERE account_id = ?1 AND movie_key = ?2",
                params![account as i64, n.movie_key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        // The edit's own time, never in the relay's future (a machine with a fast clock must not
        // make its edits unbeatable).
        let now = now_ms();
        let now = n
            .edited_at_ms
            .map_or(now, |t| (t.min(i64::MAX as u64) as i64).min(now));
        let id = match existing {
            Some((id, client_id, _)) if client_id == n.client_id => {
                // A resend of a write already stored: answer with what is there.
                return review(&tx, id);
            }
            Some((id, _, stored_at)) if stored_at > now => {
                // An older edit from another machine arriving late: the later edit stays.
                return review(&tx, id);
            }
            Some((id, _, _)) => {
                tx.execute(
                    "UPDATE reviews SET title = ?2, year = ?3, rating = ?4, body = ?5, spoiler = ?6, client_id = ?7,
                                        updated_at_ms = ?8 WHERE id = ?1",
                    params![id, n.title, n.year, n.rating as f64, n.body, n.spoiler, n.client_id, now],
                )?;
                id
            }
            None => {
                tx.execute(
                    "INSERT INTO reviews (account_id, movie_key, title, year, rating, body, spoiler, client_id, created_at_ms, updated_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)",
                    params![account as i64, n.movie_key, n.title, n.year, n.rating as f64, n.body, n.spoiler, n.client_id, now],
                )?;
                tx.last_insert_rowid()
            }
        };
        let saved = review(&tx, id)?;
        crate::store::record_change(
            &tx,
            &ChangeKind::ReviewPut {
                review: saved.clone(),
            },
        )?;
        tx.commit()?;
        Ok(saved)
    }

    fn delete_review(&self, account: u64, review_id: u64) -> Result<(), SocialError> {
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        let owner: i64 = tx
            .query_row(
                "SELECT account_id FROM reviews WHERE id = ?1",
                [review_id as i64],
                |r| r.get(0),
            )
            .optional()?
            .ok_or(SocialError::NotFound("review"))?;
        if owner != account as i64 {
            return Err(SocialError::Forbidden("review"));
        }
        tx.execute("DELETE FROM likes WHERE kind = 'comment' AND target_id IN (SELECT id FROM comments WHERE review_id = ?1)", [review_id as i64])?;
        tx.execute(
            "DELETE FROM likes WHERE kind = 'review' AND target_id = ?1",
            [review_id as i64],
        )?;
        tx.execute("DELETE FROM reviews WHERE id = ?1", [review_id as i64])?;
        crate::store::record_change(&tx, &ChangeKind::ReviewDeleted { review_id })?;
        tx.commit()?;
        Ok(())
    }

    fn post_comment(
        &self,
        account: u64,
        client_id: &str,
        review_id: u64,
        body: &str,
    ) -> Result<Comment, SocialError> {
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        if let Some(id) = tx
            .query_row(
                "SELECT id FROM comments WHERE account_id = ?1 AND client_id = ?2",
                params![account as i64, client_id],
                |r| r.get::<_, i64>(0),
            )
            .optional()?
        {
            return comment(&tx, id);
        }
        let exists = tx
            .query_row(
                "SELECT 1 FROM reviews WHERE id = ?1",
                [review_id as i64],
                |_| Ok(()),
            )
            .optional()?;
        if exists.is_none() {
            return Err(SocialError::NotFound("review"));
        }
        let now = now_ms();
        tx.execute(
            "INSERT INTO comments (review_id, account_id, client_id, body, created_at_ms, updated_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
            params![review_id as i64, account as i64, client_id, body, now],
        )?;
        let saved = comment(&tx, tx.last_insert_rowid())?;
        crate::store::record_change(
            &tx,
            &ChangeKind::CommentPut {
                comment: saved.clone(),
            },
        )?;
        tx.commit()?;
        Ok(saved)
    }

    fn edit_comment(
        &self,
        account: u64,
        comment_id: u64,
        body: &str,
    ) -> Result<Comment, SocialError> {
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        let owner: i64 = tx
            .query_row(
                "SELECT account_id FROM comments WHERE id = ?1",
                [comment_id as i64],
                |r| r.get(0),
            )
            .optional()?
            .ok_or(SocialError::NotFound("comment"))?;
        if owner != account as i64 {
            return Err(SocialError::Forbidden("comment"));
        }
        tx.execute(
            "UPDATE comments SET body = ?2, updated_at_ms = ?3 WHERE id = ?1",
            params![comment_id as i64, body, now_ms()],
        )?;
        let saved = comment(&tx, comment_id as i64)?;
        crate::store::record_change(
            &tx,
            &ChangeKind::CommentPut {
                comment: saved.clone(),
            },
        )?;
        tx.commit()?;
        Ok(saved)
    }

    fn delete_comment(&self, account: u64, comment_id: u64) -> Result<(), SocialError> {
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        let (author, review_id, review_author): (i64, i64, i64) = tx
            .query_row(
                "SELECT c.account_id, c.review_id, r.account_id FROM comments c JOIN reviews r ON r.id = c.review_id WHERE c.id = ?1",
                [comment_id as i64],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?
            .ok_or(SocialError::NotFound("comment"))?;
        if author != account as i64 && review_author != account as i64 {
            return Err(SocialError::Forbidden("comment"));
        }
        tx.execute(
            "DELETE FROM likes WHERE kind = 'comment' AND target_id = ?1",
            [comment_id as i64],
        )?;
        tx.execute("DELETE FROM comments WHERE id = ?1", [comment_id as i64])?;
        crate::store::record_change(
            &tx,
            &ChangeKind::CommentDeleted {
                comment_id,
                review_id: review_id as u64,
            },
        )?;
        tx.commit()?;
        Ok(())
    }

    fn like(&self, account: u64, target: LikeTarget, on: bool) -> Result<(), SocialError> {
        let conn = self.conn();
        let (kind, id, table, what) = match target {
            LikeTarget::Review(id) => ("review", id, "reviews", "review"),
            LikeTarget::Comment(id) => ("comment", id, "comments", "comment"),
        };
        let exists = conn
            .query_row(
                &format!("SELECT 1 FROM {table} WHERE id = ?1"),
                [id as i64],
                |_| Ok(()),
            )
            .optional()?;
        if exists.is_none() {
            return Err(SocialError::NotFound(what));
        }
        if on {
            conn.execute(
                "INSERT OR IGNORE INTO likes (account_id, kind, target_id) VALUES (?1, ?2, ?3)",
                params![account as i64, kind, id as i64],
            )?;
        } else {
            conn.execute(
                "DELETE FROM likes WHERE account_id = ?1 AND kind = ?2 AND target_id = ?3",
                params![account as i64, kind, id as i64],
            )?;
        }
        Ok(())
    }

    fn reviews_of_film(
        &self,
        movie_key: &str,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Review>, SocialError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "{REVIEW_SELECT} WHERE r.movie_key = ?1 AND r.id < ?2 ORDER BY r.id DESC LIMIT ?3"
        ))?;
        let before = cursor.map(|c| c as i64).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![movie_key, before, limit as i64], row_to_review)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn profile(&self, handle: &str) -> Result<Account, SocialError> {
        let found = self.rows(Access::Plain, |rows| rows.account_by_handle(handle))?;
        found.ok_or(SocialError::NotFound("account"))
    }

    fn follows(&self, handle: &str) -> Result<(Vec<String>, Vec<String>), SocialError> {
        let conn = self.conn();
        let id: i64 = conn
            .query_row("SELECT id FROM accounts WHERE handle = ?1", [handle], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or(SocialError::NotFound("account"))?;
        let list = |sql: &str| -> Result<Vec<String>, SocialError> {
            let mut stmt = conn.prepare(sql)?;
            let rows = stmt.query_map([id], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        };
        let followers = list(
            "SELECT a.handle FROM follows f JOIN accounts a ON a.id = f.follower_id
             WHERE f.followed_id = ?1 ORDER BY a.handle",
        )?;
        let following = list(
            "SELECT a.handle FROM follows f JOIN accounts a ON a.id = f.followed_id
             WHERE f.follower_id = ?1 ORDER BY a.handle",
        )?;
        Ok((followers, following))
    }

    fn follow(&self, account: u64, handle: &str, on: bool) -> Result<(), SocialError> {
        let conn = self.conn();
        let target: i64 = conn
            .query_row("SELECT id FROM accounts WHERE handle = ?1", [handle], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or(SocialError::NotFound("account"))?;
        if on {
            conn.execute(
                "INSERT OR IGNORE INTO follows (follower_id, followed_id) VALUES (?1, ?2)",
                params![account as i64, target],
            )?;
        } else {
            conn.execute(
                "DELETE FROM follows WHERE follower_id = ?1 AND followed_id = ?2",
                params![account as i64, target],
            )?;
        }
        Ok(())
    }

    fn feed(
        &self,
        account: u64,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Review>, SocialError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "{REVIEW_SELECT} WHERE r.account_id IN (SELECT followed_id FROM follows WHERE follower_id = ?1)
             AND r.id < ?2 ORDER BY r.id DESC LIMIT ?3"
        ))?;
        let before = cursor.map(|c| c as i64).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![account as i64, before, limit as i64], row_to_review)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn reviews_by_user(
        &self,
        handle: &str,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Review>, SocialError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "{REVIEW_SELECT} WHERE a.handle = ?1 AND r.id < ?2 ORDER BY r.id DESC LIMIT ?3"
        ))?;
        let before = cursor.map(|c| c as i64).unwrap_or(i64::MAX);
        let rows = stmt.query_map(params![handle, before, limit as i64], row_to_review)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn film_stats(&self, movie_key: &str) -> Result<(u32, Option<f32>), SocialError> {
        let conn = self.conn();
        let (n, mean): (i64, Option<f64>) = conn.query_row(
            "SELECT count(*), avg(rating) FROM reviews WHERE movie_key = ?1",
            [movie_key],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((n as u32, mean.map(|m| m as f32)))
    }

    fn comments_on(
        &self,
        review_id: u64,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Comment>, SocialError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&format!(
            "{COMMENT_SELECT} WHERE c.review_id = ?1 AND c.id > ?2 ORDER BY c.id LIMIT ?3"
        ))?;
        let rows = stmt.query_map(
            params![review_id as i64, cursor.unwrap_or(0) as i64, limit as i64],
            row_to_comment,
        )?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn changes_since(&self, since: u64, limit: usize) -> Result<Vec<Change>, SocialError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, payload FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![since as i64, limit as i64], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, payload) = row?;
            let what: ChangeKind = serde_json::from_str(&payload).map_err(|e| {
                StoreError::from(rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
            })?;
            out.push(Change {
                seq: seq as u64,
                what,
            });
        }
        Ok(out)
    }
}
