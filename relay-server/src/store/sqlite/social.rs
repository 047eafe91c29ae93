//! Review, comment, like and follow rows in SQLite.

use movietalk_protocol::relay::{Comment, LikeTarget, Review};
use rusqlite::{Row, params};

use super::{SqliteRows, id};
use crate::store::StoreResult;
use crate::store::rows::{NewComment, NewReview, ReviewsOf, SocialRows, target_parts};
use crate::store::{COMMENT_SELECT, REVIEW_SELECT};

fn row_to_review(r: &Row<'_>) -> rusqlite::Result<Review> {
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

fn row_to_comment(r: &Row<'_>) -> rusqlite::Result<Comment> {
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

impl SocialRows for SqliteRows<'_> {
    fn review(&mut self, id: u64) -> StoreResult<Option<Review>> {
        let sql = format!("{REVIEW_SELECT} WHERE r.id = ?1");
        self.opt(&sql, [id as i64], row_to_review)
    }

    fn comment(&mut self, id: u64) -> StoreResult<Option<Comment>> {
        let sql = format!("{COMMENT_SELECT} WHERE c.id = ?1");
        self.opt(&sql, [id as i64], row_to_comment)
    }

    fn lock_review_of(&mut self, by: u64, movie: &str) -> StoreResult<Option<(u64, String, u64)>> {
        self.opt(
            "SELECT id, client_id, updated_at_ms FROM reviews WHERE account_id = ?1 AND movie_key = ?2",
            params![by as i64, movie],
            |r| Ok((id(r)?, r.get(1)?, r.get::<_, i64>(2)? as u64)),
        )
    }

    fn insert_review(&mut self, by: u64, n: &NewReview<'_>, at: u64) -> StoreResult<Option<u64>> {
        let inserted = self.exec(
            "INSERT INTO reviews (account_id, movie_key, title, year, rating, body, spoiler, client_id, created_at_ms, updated_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)
             ON CONFLICT(account_id, movie_key) DO NOTHING",
            params![by as i64, n.movie_key, n.title, n.year, n.rating as f64, n.body, n.spoiler, n.client_id, at as i64],
        )?;
        Ok((inserted > 0).then(|| self.0.last_insert_rowid() as u64))
    }

    fn update_review(&mut self, id: u64, n: &NewReview<'_>, at: u64) -> StoreResult<()> {
        self.exec(
            "UPDATE reviews SET title = ?2, year = ?3, rating = ?4, body = ?5, spoiler = ?6, client_id = ?7,
                                updated_at_ms = ?8 WHERE id = ?1",
            params![id as i64, n.title, n.year, n.rating as f64, n.body, n.spoiler, n.client_id, at as i64],
        )?;
        Ok(())
    }

    fn delete_review(&mut self, id: u64) -> StoreResult<()> {
        self.exec("DELETE FROM reviews WHERE id = ?1", [id as i64])?;
        Ok(())
    }

    fn lock_author(&mut self, target: LikeTarget) -> StoreResult<Option<u64>> {
        let (_, table, target) = target_parts(target);
        let sql = format!("SELECT account_id FROM {table} WHERE id = ?1");
        self.opt(&sql, [target as i64], id)
    }

    fn lock_exists(&mut self, target: LikeTarget) -> StoreResult<bool> {
        let (_, table, target) = target_parts(target);
        let sql = format!("SELECT 1 FROM {table} WHERE id = ?1");
        Ok(self.opt(&sql, [target as i64], |_| Ok(()))?.is_some())
    }

    fn lock_comments_on(&mut self, review: u64) -> StoreResult<Vec<u64>> {
        let sql = "SELECT id FROM comments WHERE review_id = ?1";
        self.all(sql, [review as i64], id)
    }

    fn comment_by_client_id(&mut self, account: u64, client_id: &str) -> StoreResult<Option<u64>> {
        let sql = "SELECT id FROM comments WHERE account_id = ?1 AND client_id = ?2";
        self.opt(sql, params![account as i64, client_id], id)
    }

    fn insert_comment(&mut self, c: &NewComment<'_>) -> StoreResult<Option<u64>> {
        let inserted = self.exec(
            "INSERT INTO comments (review_id, account_id, client_id, body, created_at_ms, updated_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?5)
             ON CONFLICT(account_id, client_id) DO NOTHING",
            params![c.review as i64, c.account as i64, c.client_id, c.body, c.now_ms as i64],
        )?;
        Ok((inserted > 0).then(|| self.0.last_insert_rowid() as u64))
    }

    fn update_comment(&mut self, id: u64, body: &str, now_ms: u64) -> StoreResult<()> {
        let sql = "UPDATE comments SET body = ?2, updated_at_ms = ?3 WHERE id = ?1";
        self.exec(sql, params![id as i64, body, now_ms as i64])?;
        Ok(())
    }

    fn lock_comment(&mut self, comment: u64) -> StoreResult<Option<(u64, u64, u64)>> {
        self.opt(
            "SELECT c.account_id, c.review_id, r.account_id FROM comments c JOIN reviews r ON r.id = c.review_id
             WHERE c.id = ?1",
            [comment as i64],
            |r| Ok((id(r)?, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64)),
        )
    }

    fn delete_comment(&mut self, id: u64) -> StoreResult<()> {
        self.exec("DELETE FROM comments WHERE id = ?1", [id as i64])?;
        Ok(())
    }

    fn set_like(&mut self, account: u64, target: LikeTarget, on: bool) -> StoreResult<()> {
        let (kind, _, target) = target_parts(target);
        let p = params![account as i64, kind, target as i64];
        match on {
            true => self.exec(
                "INSERT OR IGNORE INTO likes (account_id, kind, target_id) VALUES (?1, ?2, ?3)",
                p,
            ),
            false => self.exec(
                "DELETE FROM likes WHERE account_id = ?1 AND kind = ?2 AND target_id = ?3",
                p,
            ),
        }?;
        Ok(())
    }

    fn lock_account_id(&mut self, handle: &str) -> StoreResult<Option<u64>> {
        self.opt("SELECT id FROM accounts WHERE handle = ?1", [handle], id)
    }

    fn set_follow(&mut self, follower: u64, followed: u64, on: bool) -> StoreResult<()> {
        let p = params![follower as i64, followed as i64];
        match on {
            true => self.exec(
                "INSERT OR IGNORE INTO follows (follower_id, followed_id) VALUES (?1, ?2)",
                p,
            ),
            false => self.exec(
                "DELETE FROM follows WHERE follower_id = ?1 AND followed_id = ?2",
                p,
            ),
        }?;
        Ok(())
    }

    fn follow_handles(&mut self, account: u64, followers: bool) -> StoreResult<Vec<String>> {
        let sql = if followers {
            "SELECT a.handle FROM follows f JOIN accounts a ON a.id = f.follower_id
             WHERE f.followed_id = ?1 ORDER BY a.handle"
        } else {
            "SELECT a.handle FROM follows f JOIN accounts a ON a.id = f.followed_id
             WHERE f.follower_id = ?1 ORDER BY a.handle"
        };
        self.all(sql, [account as i64], |r| r.get(0))
    }

    fn reviews(&mut self, of: ReviewsOf<'_>, below: u64, limit: usize) -> StoreResult<Vec<Review>> {
        let (filter, key) = match of {
            ReviewsOf::Film(movie) => (
                "r.movie_key = ?1",
                rusqlite::types::Value::from(movie.to_owned()),
            ),
            ReviewsOf::Author(handle) => ("a.handle = ?1", handle.to_owned().into()),
            ReviewsOf::FollowedBy(account) => (
                "r.account_id IN (SELECT followed_id FROM follows WHERE follower_id = ?1)",
                (account as i64).into(),
            ),
        };
        let sql =
            format!("{REVIEW_SELECT} WHERE {filter} AND r.id < ?2 ORDER BY r.id DESC LIMIT ?3");
        self.all(
            &sql,
            params![key, below as i64, limit as i64],
            row_to_review,
        )
    }

    fn film_stats(&mut self, movie_key: &str) -> StoreResult<(u32, Option<f32>)> {
        self.one(
            "SELECT count(*), avg(rating) FROM reviews WHERE movie_key = ?1",
            [movie_key],
            |r| {
                Ok((
                    r.get::<_, i64>(0)? as u32,
                    r.get::<_, Option<f64>>(1)?.map(|m| m as f32),
                ))
            },
        )
    }

    fn comments_on(&mut self, review: u64, after: u64, limit: usize) -> StoreResult<Vec<Comment>> {
        let sql =
            format!("{COMMENT_SELECT} WHERE c.review_id = ?1 AND c.id > ?2 ORDER BY c.id LIMIT ?3");
        self.all(
            &sql,
            params![review as i64, after as i64, limit as i64],
            row_to_comment,
        )
    }

    fn changes(&mut self, since: u64, limit: usize) -> StoreResult<Vec<(u64, String)>> {
        self.all(
            "SELECT seq, payload FROM changes WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            params![since as i64, limit as i64],
            |r| Ok((id(r)?, r.get(1)?)),
        )
    }
}
