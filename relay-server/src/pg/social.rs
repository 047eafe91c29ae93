//! [`SocialStore`] on PostgreSQL: the same rules as the SQLite store (`crate::social`).
//!
//! Where the SQLite store checks and then writes under SQLite's single writer, this one locks
//! what it checked (`FOR UPDATE` on what it changes or deletes, `FOR KEY SHARE` on what it only
//! needs to go on existing) or lets a unique key referee a write another relay made at the same
//! moment, so that relays writing at once leave what one relay writing alone would:
//!
//! - A review or comment is deleted only once (a second delete finds nothing), and no like or
//!   comment is stored on a review or comment being deleted (it waits, then finds nothing).
//! - One review per account and film: a first review another relay stored meanwhile is taken
//!   up as the review to edit, by the same rules as one stored before.
//! - A comment whose client id another relay stored meanwhile is answered with what it stored.

use movietalk_protocol::relay::{Account, Change, ChangeKind, Comment, LikeTarget, Review};
use postgres::GenericClient;

use crate::social::{COMMENT_SELECT, NewReview, REVIEW_SELECT, SocialError, SocialStore};
use crate::store::StoreError;
use crate::store::rows::{Access, Transact};

use super::{PgStore, now_ms, record};

impl From<postgres::Error> for SocialError {
    fn from(e: postgres::Error) -> Self {
        SocialError::Store(e.into())
    }
}

fn row_to_review(r: &postgres::Row) -> Review {
    Review {
        id: r.get::<_, i64>(0) as u64,
        author: r.get(1),
        movie_key: r.get(2),
        title: r.get(3),
        year: r.get(4),
        rating: r.get(5),
        body: r.get(6),
        spoiler: r.get(7),
        likes: r.get::<_, i64>(8) as u32,
        comments: r.get::<_, i64>(9) as u32,
        created_at_ms: r.get::<_, i64>(10) as u64,
        updated_at_ms: r.get::<_, i64>(11) as u64,
    }
}

fn row_to_comment(r: &postgres::Row) -> Comment {
    Comment {
        id: r.get::<_, i64>(0) as u64,
        review_id: r.get::<_, i64>(1) as u64,
        author: r.get(2),
        body: r.get(3),
        likes: r.get::<_, i64>(4) as u32,
        created_at_ms: r.get::<_, i64>(5) as u64,
        updated_at_ms: r.get::<_, i64>(6) as u64,
    }
}

fn review(c: &mut impl GenericClient, id: i64) -> Result<Review, SocialError> {
    c.query_opt(&format!("{REVIEW_SELECT} WHERE r.id = $1"), &[&id])?
        .map(|r| row_to_review(&r))
        .ok_or(SocialError::NotFound("review"))
}

fn comment(c: &mut impl GenericClient, id: i64) -> Result<Comment, SocialError> {
    c.query_opt(&format!("{COMMENT_SELECT} WHERE c.id = $1"), &[&id])?
        .map(|r| row_to_comment(&r))
        .ok_or(SocialError::NotFound("comment"))
}

/// Locks the review or comment for this transaction (`FOR UPDATE`: another relay's edit or
/// delete of it waits) and checks that `account` wrote it.
fn lock_own(
    tx: &mut postgres::Transaction<'_>,
    target: LikeTarget,
    account: u64,
) -> Result<(), SocialError> {
    let (sql, what, id) = match target {
        LikeTarget::Review(id) => (
            "SELECT account_id FROM reviews WHERE id = $1 FOR UPDATE",
            "review",
            id,
        ),
        LikeTarget::Comment(id) => (
            "SELECT account_id FROM comments WHERE id = $1 FOR UPDATE",
            "comment",
            id,
        ),
    };
    let owner: i64 = tx
        .query_opt(sql, &[&(id as i64)])?
        .ok_or(SocialError::NotFound(what))?
        .get(0);
    if owner != account as i64 {
        return Err(SocialError::Forbidden(what));
    }
    Ok(())
}

impl SocialStore for PgStore {
    fn put_review(&self, account: u64, n: &NewReview<'_>) -> Result<Review, SocialError> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            // The edit's own time, never in the relay's future (as in the SQLite store).
            let now = now_ms();
            let now = n
                .edited_at_ms
                .map_or(now, |t| (t.min(i64::MAX as u64) as i64).min(now));
            let id = loop {
                let existing = tx
                    .query_opt(
                        "SELECT id, client_id, updated_at_ms FROM reviews
                         WHERE account_id = $1 AND movie_key = $2 FOR UPDATE",
                        &[&(account as i64), &n.movie_key],
                    )?
                    .map(|r| (r.get::<_, i64>(0), r.get::<_, String>(1), r.get::<_, i64>(2)));
                match existing {
                    Some((id, client_id, _)) if client_id == n.client_id => {
                        // A resend of a write already stored: answer with what is there.
                        return review(&mut tx, id);
                    }
                    Some((id, _, stored_at)) if stored_at > now => {
                        // An older edit from another machine arriving late: the later edit stays.
                        return review(&mut tx, id);
                    }
                    Some((id, _, _)) => {
                        tx.execute(
                            "UPDATE reviews SET title = $2, year = $3, rating = $4, body = $5, spoiler = $6,
                                                client_id = $7, updated_at_ms = $8 WHERE id = $1",
                            &[
                                &id,
                                &n.title,
                                &n.year,
                                &n.rating,
                                &n.body,
                                &n.spoiler,
                                &n.client_id,
                                &now,
                            ],
                        )?;
                        break id;
                    }
                    None => {
                        let inserted = tx.query_opt(
                            "INSERT INTO reviews (account_id, movie_key, title, year, rating, body, spoiler, client_id,
                                                  created_at_ms, updated_at_ms)
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
                             ON CONFLICT (account_id, movie_key) DO NOTHING RETURNING id",
                            &[
                                &(account as i64),
                                &n.movie_key,
                                &n.title,
                                &n.year,
                                &n.rating,
                                &n.body,
                                &n.spoiler,
                                &n.client_id,
                                &now,
                            ],
                        )?;
                        if let Some(row) = inserted {
                            break row.get(0);
                        }
                        // Another relay stored this account's review of the film since the
                        // look-up (and has committed it): go again, as an edit of that one.
                    }
                }
            };
            let saved = review(&mut tx, id)?;
            record(
                &mut tx,
                &ChangeKind::ReviewPut {
                    review: saved.clone(),
                },
            )?;
            tx.commit()?;
            Ok(saved)
        })
    }

    fn delete_review(&self, account: u64, review_id: u64) -> Result<(), SocialError> {
        self.with_once(|c| {
            let mut tx = c.transaction()?;
            let id = review_id as i64;
            lock_own(&mut tx, LikeTarget::Review(review_id), account)?;
            // Its comments too, before their likes go: a like being stored on one meanwhile
            // commits first (and is deleted below) or waits and finds the comment gone.
            tx.execute(
                "SELECT 1 FROM comments WHERE review_id = $1 FOR UPDATE",
                &[&id],
            )?;
            tx.execute(
                "DELETE FROM likes WHERE kind = 'comment' AND target_id IN (SELECT id FROM comments WHERE review_id = $1)",
                &[&id],
            )?;
            tx.execute(
                "DELETE FROM likes WHERE kind = 'review' AND target_id = $1",
                &[&id],
            )?;
            tx.execute("DELETE FROM reviews WHERE id = $1", &[&id])?;
            record(&mut tx, &ChangeKind::ReviewDeleted { review_id })?;
            tx.commit()?;
            Ok(())
        })
    }

    fn post_comment(
        &self,
        account: u64,
        client_id: &str,
        review_id: u64,
        body: &str,
    ) -> Result<Comment, SocialError> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            let now = now_ms();
            let id = loop {
                if let Some(row) = tx.query_opt(
                    "SELECT id FROM comments WHERE account_id = $1 AND client_id = $2",
                    &[&(account as i64), &client_id],
                )? {
                    return comment(&mut tx, row.get(0));
                }
                // Kept from being deleted until this commits.
                let exists = tx.query_opt(
                    "SELECT 1 FROM reviews WHERE id = $1 FOR KEY SHARE",
                    &[&(review_id as i64)],
                )?;
                if exists.is_none() {
                    return Err(SocialError::NotFound("review"));
                }
                let inserted = tx.query_opt(
                    "INSERT INTO comments (review_id, account_id, client_id, body, created_at_ms, updated_at_ms)
                     VALUES ($1, $2, $3, $4, $5, $5)
                     ON CONFLICT (account_id, client_id) DO NOTHING RETURNING id",
                    &[&(review_id as i64), &(account as i64), &client_id, &body, &now],
                )?;
                if let Some(row) = inserted {
                    break row.get(0);
                }
                // Another relay stored this client id since the look-up (and has committed
                // it): go again, to answer with what it stored.
            };
            let saved = comment(&mut tx, id)?;
            record(
                &mut tx,
                &ChangeKind::CommentPut {
                    comment: saved.clone(),
                },
            )?;
            tx.commit()?;
            Ok(saved)
        })
    }

    fn edit_comment(
        &self,
        account: u64,
        comment_id: u64,
        body: &str,
    ) -> Result<Comment, SocialError> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            let id = comment_id as i64;
            lock_own(&mut tx, LikeTarget::Comment(comment_id), account)?;
            tx.execute(
                "UPDATE comments SET body = $2, updated_at_ms = $3 WHERE id = $1",
                &[&id, &body, &now_ms()],
            )?;
            let saved = comment(&mut tx, id)?;
            record(
                &mut tx,
                &ChangeKind::CommentPut {
                    comment: saved.clone(),
                },
            )?;
            tx.commit()?;
            Ok(saved)
        })
    }

    fn delete_comment(&self, account: u64, comment_id: u64) -> Result<(), SocialError> {
        self.with_once(|c| {
            let mut tx = c.transaction()?;
            let id = comment_id as i64;
            let row = tx
                .query_opt(
                    "SELECT c.account_id, c.review_id, r.account_id FROM comments c JOIN reviews r ON r.id = c.review_id
                     WHERE c.id = $1 FOR UPDATE OF c",
                    &[&id],
                )?
                .ok_or(SocialError::NotFound("comment"))?;
            let (author, review_id, review_author): (i64, i64, i64) =
                (row.get(0), row.get(1), row.get(2));
            if author != account as i64 && review_author != account as i64 {
                return Err(SocialError::Forbidden("comment"));
            }
            tx.execute(
                "DELETE FROM likes WHERE kind = 'comment' AND target_id = $1",
                &[&id],
            )?;
            tx.execute("DELETE FROM comments WHERE id = $1", &[&id])?;
            record(
                &mut tx,
                &ChangeKind::CommentDeleted {
                    comment_id,
                    review_id: review_id as u64,
                },
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    fn like(&self, account: u64, target: LikeTarget, on: bool) -> Result<(), SocialError> {
        let (kind, id, table, what) = match target {
            LikeTarget::Review(id) => ("review", id, "reviews", "review"),
            LikeTarget::Comment(id) => ("comment", id, "comments", "comment"),
        };
        let id = id as i64;
        self.with(|c| {
            let mut tx = c.transaction()?;
            // Kept from being deleted until this commits, so that no like outlives its target.
            let exists = tx.query_opt(
                &format!("SELECT 1 FROM {table} WHERE id = $1 FOR KEY SHARE"),
                &[&id],
            )?;
            if exists.is_none() {
                return Err(SocialError::NotFound(what));
            }
            if on {
                tx.execute(
                    "INSERT INTO likes (account_id, kind, target_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[&(account as i64), &kind, &id],
                )?;
            } else {
                tx.execute(
                    "DELETE FROM likes WHERE account_id = $1 AND kind = $2 AND target_id = $3",
                    &[&(account as i64), &kind, &id],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn reviews_of_film(
        &self,
        movie_key: &str,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Review>, SocialError> {
        let before = cursor.map(|c| c as i64).unwrap_or(i64::MAX);
        self.with(|c| {
            let rows = c.query(
                &format!(
                    "{REVIEW_SELECT} WHERE r.movie_key = $1 AND r.id < $2 ORDER BY r.id DESC LIMIT $3"
                ),
                &[&movie_key, &before, &(limit as i64)],
            )?;
            Ok(rows.iter().map(row_to_review).collect())
        })
    }

    fn profile(&self, handle: &str) -> Result<Account, SocialError> {
        let found = self.rows(Access::Plain, |rows| rows.account_by_handle(handle))?;
        found.ok_or(SocialError::NotFound("account"))
    }

    fn follows(&self, handle: &str) -> Result<(Vec<String>, Vec<String>), SocialError> {
        self.with(|c| {
            let id: i64 = c
                .query_opt("SELECT id FROM accounts WHERE handle = $1", &[&handle])?
                .ok_or(SocialError::NotFound("account"))?
                .get(0);
            let followers = c
                .query(
                    "SELECT a.handle FROM follows f JOIN accounts a ON a.id = f.follower_id
                     WHERE f.followed_id = $1 ORDER BY a.handle COLLATE \"C\"",
                    &[&id],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let following = c
                .query(
                    "SELECT a.handle FROM follows f JOIN accounts a ON a.id = f.followed_id
                     WHERE f.follower_id = $1 ORDER BY a.handle COLLATE \"C\"",
                    &[&id],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            Ok((followers, following))
        })
    }

    fn follow(&self, account: u64, handle: &str, on: bool) -> Result<(), SocialError> {
        self.with(|c| {
            let mut tx = c.transaction()?;
            // Kept from being deleted until this commits (a follow of an account deleted
            // meanwhile is "no such account", as it would be a moment later).
            let target: i64 = tx
                .query_opt(
                    "SELECT id FROM accounts WHERE handle = $1 FOR KEY SHARE",
                    &[&handle],
                )?
                .ok_or(SocialError::NotFound("account"))?
                .get(0);
            if on {
                tx.execute(
                    "INSERT INTO follows (follower_id, followed_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&(account as i64), &target],
                )?;
            } else {
                tx.execute(
                    "DELETE FROM follows WHERE follower_id = $1 AND followed_id = $2",
                    &[&(account as i64), &target],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn feed(
        &self,
        account: u64,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Review>, SocialError> {
        let before = cursor.map(|c| c as i64).unwrap_or(i64::MAX);
        self.with(|c| {
            let rows = c.query(
                &format!(
                    "{REVIEW_SELECT} WHERE r.account_id IN (SELECT followed_id FROM follows WHERE follower_id = $1)
                     AND r.id < $2 ORDER BY r.id DESC LIMIT $3"
                ),
                &[&(account as i64), &before, &(limit as i64)],
            )?;
            Ok(rows.iter().map(row_to_review).collect())
        })
    }

    fn reviews_by_user(
        &self,
        handle: &str,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Review>, SocialError> {
        let before = cursor.map(|c| c as i64).unwrap_or(i64::MAX);
        self.with(|c| {
            let rows = c.query(
                &format!(
                    "{REVIEW_SELECT} WHERE a.handle = $1 AND r.id < $2 ORDER BY r.id DESC LIMIT $3"
                ),
                &[&handle, &before, &(limit as i64)],
            )?;
            Ok(rows.iter().map(row_to_review).collect())
        })
    }

    fn film_stats(&self, movie_key: &str) -> Result<(u32, Option<f32>), SocialError> {
        self.with(|c| {
            let row = c.query_one(
                "SELECT count(*), avg(rating) FROM reviews WHERE movie_key = $1",
                &[&movie_key],
            )?;
            let (n, mean): (i64, Option<f64>) = (row.get(0), row.get(1));
            Ok((n as u32, mean.map(|m| m as f32)))
        })
    }

    fn comments_on(
        &self,
        review_id: u64,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Comment>, SocialError> {
        self.with(|c| {
            let rows = c.query(
                &format!(
                    "{COMMENT_SELECT} WHERE c.review_id = $1 AND c.id > $2 ORDER BY c.id LIMIT $3"
                ),
                &[
                    &(review_id as i64),
                    &(cursor.unwrap_or(0) as i64),
                    &(limit as i64),
                ],
            )?;
            Ok(rows.iter().map(row_to_comment).collect())
        })
    }

    fn changes_since(&self, since: u64, limit: usize) -> Result<Vec<Change>, SocialError> {
        self.with(|c| {
            let rows = c.query(
                "SELECT seq, payload FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&(since as i64), &(limit as i64)],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let seq: i64 = row.get(0);
                let payload: &str = row.get(1);
                let what: ChangeKind = serde_json::from_str(payload)
                    .map_err(|e| StoreError(format!("change {seq} does not parse: {e}")))?;
                out.push(Change {
                    seq: seq as u64,
                    what,
                });
            }
            Ok(out)
        })
    }
}
