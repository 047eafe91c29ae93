//! The social rules, written once over the rows of any store ([`Transact`]): what the module
//! doc of `crate::social` promises, for SQLite and PostgreSQL alike.
//!
//! Checks hold until the write they guard commits: what a rule changes or deletes is locked,
//! what it only needs to go on existing is kept from being deleted, and a unique key referees a
//! write another relay made at the same moment (`crate::store::rows`). So relays writing at
//! once leave what one relay writing alone would:
//!
//! - A review or comment is deleted only once (a second delete finds nothing), and no like or
//!   comment is stored on a review or comment being deleted (it waits, then finds nothing).
//! - One review per account and film: a first review another relay stored meanwhile is taken
//!   up as the review to edit, by the same rules as one stored before.
//! - A comment whose client id another relay stored meanwhile is answered with what it stored.

use std::time::{SystemTime, UNIX_EPOCH};

use movietalk_protocol::relay::{ChangeKind, LikeTarget};

use super::*;
use crate::store::rows::{Access, NewComment, ReviewsOf, Rows, Transact, target_parts};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The owner check: `NotFound` when there is no such `what` (no `owners`), `Forbidden` when
/// `account` is none of its `owners`.
fn check_owner(
    owners: Option<&[u64]>,
    account: u64,
    what: &'static str,
) -> Result<(), SocialError> {
    match owners {
        None => Err(SocialError::NotFound(what)),
        Some(owners) if owners.contains(&account) => Ok(()),
        Some(_) => Err(SocialError::Forbidden(what)),
    }
}

/// Locks the review or comment (another writer's edit or delete of it waits) and checks that
/// `account` wrote it.
fn lock_own(rows: &mut dyn Rows, target: LikeTarget, account: u64) -> Result<(), SocialError> {
    let owner = rows.lock_author(target)?;
    check_owner(
        owner.as_ref().map(std::slice::from_ref),
        account,
        target_parts(target).0,
    )
}

fn review(rows: &mut dyn Rows, id: u64) -> Result<Review, SocialError> {
    rows.review(id)?.ok_or(SocialError::NotFound("review"))
}

fn comment(rows: &mut dyn Rows, id: u64) -> Result<Comment, SocialError> {
    rows.comment(id)?.ok_or(SocialError::NotFound("comment"))
}

/// `review`, put in the change log.
fn record_review(rows: &mut dyn Rows, id: u64) -> Result<Review, SocialError> {
    let saved = review(rows, id)?;
    rows.record(&ChangeKind::ReviewPut {
        review: saved.clone(),
    })?;
    Ok(saved)
}

/// `comment`, put in the change log.
fn record_comment(rows: &mut dyn Rows, id: u64) -> Result<Comment, SocialError> {
    let saved = comment(rows, id)?;
    rows.record(&ChangeKind::CommentPut {
        comment: saved.clone(),
    })?;
    Ok(saved)
}

impl<S: Transact> SocialStore for S {
    fn put_review(&self, account: u64, n: &NewReview<'_>) -> Result<Review, SocialError> {
        // The edit's own time, never in the relay's future (a machine with a fast clock must not
        // make its edits unbeatable).
        let now = now_ms();
        let now = n.edited_at_ms.map_or(now, |t| t.min(now));
        self.rows(Access::Tx, |rows| {
            let id = loop {
                match rows.lock_review_of(account, n.movie_key)? {
                    Some((id, client_id, _)) if client_id == n.client_id => {
                        // A resend of a write already stored: answer with what is there.
                        return review(rows, id);
                    }
                    Some((id, _, stored_at)) if stored_at > now => {
                        // An older edit from another machine arriving late: the later edit stays.
                        return review(rows, id);
                    }
                    Some((id, _, _)) => {
                        rows.update_review(id, n, now)?;
                        break id;
                    }
                    None => {
                        if let Some(id) = rows.insert_review(account, n, now)? {
                            break id;
                        }
                        // Another relay stored this account's review of the film since the
                        // look-up (and has committed it): go again, as an edit of that one.
                    }
                }
            };
            record_review(rows, id)
        })
    }

    fn delete_review(&self, account: u64, review_id: u64) -> Result<(), SocialError> {
        self.rows(Access::TxOnce, |rows| {
            lock_own(rows, LikeTarget::Review(review_id), account)?;
            // Its comments too, before their likes go: a like being stored on one meanwhile
            // commits first (and is deleted below) or waits and finds the comment gone.
            let comments = rows.lock_comments_on(review_id)?;
            rows.delete_likes("comment", &comments)?;
            rows.delete_likes("review", &[review_id])?;
            rows.delete_review(review_id)?;
            Ok(rows.record(&ChangeKind::ReviewDeleted { review_id })?)
        })
    }

    fn post_comment(
        &self,
        account: u64,
        client_id: &str,
        review_id: u64,
        body: &str,
    ) -> Result<Comment, SocialError> {
        let new = NewComment {
            review: review_id,
            account,
            client_id,
            body,
            now_ms: now_ms(),
        };
        self.rows(Access::Tx, |rows| {
            let id = loop {
                if let Some(id) = rows.comment_by_client_id(account, client_id)? {
                    return comment(rows, id);
                }
                // Kept from being deleted until this commits.
                if !rows.lock_exists(LikeTarget::Review(review_id))? {
                    return Err(SocialError::NotFound("review"));
                }
                if let Some(id) = rows.insert_comment(&new)? {
                    break id;
                }
                // Another relay stored this client id since the look-up (and has committed
                // it): go again, to answer with what it stored.
            };
            record_comment(rows, id)
        })
    }

    fn edit_comment(
        &self,
        account: u64,
        comment_id: u64,
        body: &str,
    ) -> Result<Comment, SocialError> {
        self.rows(Access::Tx, |rows| {
            lock_own(rows, LikeTarget::Comment(comment_id), account)?;
            rows.update_comment(comment_id, body, now_ms())?;
            record_comment(rows, comment_id)
        })
    }

    fn delete_comment(&self, account: u64, comment_id: u64) -> Result<(), SocialError> {
        self.rows(Access::TxOnce, |rows| {
            let found = rows.lock_comment(comment_id)?;
            // Its author or the review's may delete it.
            let owners = found.map(|(author, _, review_author)| [author, review_author]);
            check_owner(owners.as_ref().map(|o| &o[..]), account, "comment")?;
            let review_id = found.map_or(0, |(_, review, _)| review);
            rows.delete_likes("comment", &[comment_id])?;
            rows.delete_comment(comment_id)?;
            Ok(rows.record(&ChangeKind::CommentDeleted {
                comment_id,
                review_id,
            })?)
        })
    }

    fn like(&self, account: u64, target: LikeTarget, on: bool) -> Result<(), SocialError> {
        self.rows(Access::Tx, |rows| {
            // Kept from being deleted until this commits, so that no like outlives its target.
            if !rows.lock_exists(target)? {
                return Err(SocialError::NotFound(target_parts(target).0));
            }
            Ok(rows.set_like(account, target, on)?)
        })
    }

    fn reviews_of_film(
        &self,
        movie_key: &str,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Review>, SocialError> {
        reviews(self, ReviewsOf::Film(movie_key), cursor, limit)
    }

    fn profile(&self, handle: &str) -> Result<Account, SocialError> {
        let found = self.rows(Access::Plain, |rows| rows.account_by_handle(handle))?;
        found.ok_or(SocialError::NotFound("account"))
    }

    fn follows(&self, handle: &str) -> Result<(Vec<String>, Vec<String>), SocialError> {
        self.rows(Access::Plain, |rows| {
            let id = rows
                .account_by_handle(handle)?
                .ok_or(SocialError::NotFound("account"))?
                .id;
            Ok((
                rows.follow_handles(id, true)?,
                rows.follow_handles(id, false)?,
            ))
        })
    }

    fn follow(&self, account: u64, handle: &str, on: bool) -> Result<(), SocialError> {
        self.rows(Access::Tx, |rows| {
            // Kept from being deleted until this commits (a follow of an account deleted
            // meanwhile is "no such account", as it would be a moment later).
            let target = rows
                .lock_account_id(handle)?
                .ok_or(SocialError::NotFound("account"))?;
            if target == account && on {
                return Err(SocialError::Invalid("you cannot follow yourself"));
            }
            Ok(rows.set_follow(account, target, on)?)
        })
    }

    fn feed(
        &self,
        account: u64,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Review>, SocialError> {
        reviews(self, ReviewsOf::FollowedBy(account), cursor, limit)
    }

    fn reviews_by_user(
        &self,
        handle: &str,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Review>, SocialError> {
        reviews(self, ReviewsOf::Author(handle), cursor, limit)
    }

    fn film_stats(&self, movie_key: &str) -> Result<(u32, Option<f32>), SocialError> {
        Ok(self.rows(Access::Plain, |rows| rows.film_stats(movie_key))?)
    }

    fn comments_on(
        &self,
        review_id: u64,
        cursor: Option<u64>,
        limit: usize,
    ) -> Result<Vec<Comment>, SocialError> {
        let after = cursor.unwrap_or(0);
        Ok(self.rows(Access::Plain, |rows| {
            rows.comments_on(review_id, after, limit)
        })?)
    }

    fn changes_since(&self, since: u64, limit: usize) -> Result<Vec<Change>, SocialError> {
        let rows = self.rows(Access::Plain, |rows| rows.changes(since, limit))?;
        rows.into_iter()
            .map(|(seq, payload)| {
                let what = serde_json::from_str(&payload)
                    .map_err(|e| StoreError(format!("change {seq} does not parse: {e}")))?;
                Ok(Change { seq, what })
            })
            .collect()
    }
}

/// Reviews of `of`, newest first, before review id `cursor`.
fn reviews(
    store: &impl Transact,
    of: ReviewsOf<'_>,
    cursor: Option<u64>,
    limit: usize,
) -> Result<Vec<Review>, SocialError> {
    let before = cursor.unwrap_or(i64::MAX as u64);
    Ok(store.rows(Access::Plain, |rows| rows.reviews(of, before, limit))?)
}
