//! Review, comment, like and follow rows in PostgreSQL.

use movietalk_protocol::relay::{Comment, LikeTarget, Review};
use postgres::types::ToSql;

use super::rows::{PgRows, u};
use crate::store::rows::{NewComment, NewReview, ReviewsOf, SocialRows, target_parts};
use crate::store::{COMMENT_SELECT, REVIEW_SELECT, StoreResult};

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

impl SocialRows for PgRows<'_, '_> {
    fn review(&mut self, id: u64) -> StoreResult<Option<Review>> {
        let sql = format!("{REVIEW_SELECT} WHERE r.id = $1");
        Ok(self.opt(&sql, &[&(id as i64)])?.map(|r| row_to_review(&r)))
    }

    fn comment(&mut self, id: u64) -> StoreResult<Option<Comment>> {
        let sql = format!("{COMMENT_SELECT} WHERE c.id = $1");
        Ok(self.opt(&sql, &[&(id as i64)])?.map(|r| row_to_comment(&r)))
    }

    fn lock_review_of(&mut self, by: u64, movie: &str) -> StoreResult<Option<(u64, String, u64)>> {
        let row = self.opt(
            "SELECT id, client_id, updated_at_ms FROM reviews
             WHERE account_id = $1 AND movie_key = $2 FOR UPDATE",
            &[&(by as i64), &movie],
        )?;
        Ok(row.map(|r| (u(&r, 0), r.get(1), u(&r, 2))))
    }

    fn insert_review(&mut self, by: u64, n: &NewReview<'_>, at: u64) -> StoreResult<Option<u64>> {
        let row = self.opt(
            "INSERT INTO reviews (account_id, movie_key, title, year, rating, body, spoiler, client_id,
                                  created_at_ms, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9)
             ON CONFLICT (account_id, movie_key) DO NOTHING RETURNING id",
            &[
                &(by as i64),
                &n.movie_key,
                &n.title,
                &n.year,
                &n.rating,
                &n.body,
                &n.spoiler,
                &n.client_id,
                &(at as i64),
            ],
        )?;
        Ok(row.map(|r| u(&r, 0)))
    }

    fn update_review(&mut self, id: u64, n: &NewReview<'_>, at: u64) -> StoreResult<()> {
        let fields: [&(dyn ToSql + Sync); 8] = [
            &(id as i64),
            &n.title,
            &n.year,
            &n.rating,
            &n.body,
            &n.spoiler,
            &n.client_id,
            &(at as i64),
        ];
        self.exec(
            "UPDATE reviews SET title = $2, year = $3, rating = $4, body = $5, spoiler = $6,
                                client_id = $7, updated_at_ms = $8 WHERE id = $1",
            &fields,
        )?;
        Ok(())
    }

    fn delete_review(&mut self, id: u64) -> StoreResult<()> {
        self.exec("DELETE FROM reviews WHERE id = $1", &[&(id as i64)])?;
        Ok(())
    }

    fn lock_author(&mut self, target: LikeTarget) -> StoreResult<Option<u64>> {
        let (_, table, target) = target_parts(target);
        let sql = format!("SELECT account_id FROM {table} WHERE id = $1 FOR UPDATE");
        Ok(self.opt(&sql, &[&(target as i64)])?.map(|r| u(&r, 0)))
    }

    fn lock_exists(&mut self, target: LikeTarget) -> StoreResult<bool> {
        let (_, table, target) = target_parts(target);
        let sql = format!("SELECT 1 FROM {table} WHERE id = $1 FOR KEY SHARE");
        Ok(self.opt(&sql, &[&(target as i64)])?.is_some())
    }

    fn lock_comments_on(&mut self, review: u64) -> StoreResult<Vec<u64>> {
        let sql = "SELECT id FROM comments WHERE review_id = $1 FOR UPDATE";
        let rows = self.all(sql, &[&(review as i64)])?;
        Ok(rows.iter().map(|r| u(r, 0)).collect())
    }

    fn comment_by_client_id(&mut self, account: u64, client_id: &str) -> StoreResult<Option<u64>> {
        let sql = "SELECT id FROM comments WHERE account_id = $1 AND client_id = $2";
        let row = self.opt(sql, &[&(account as i64), &client_id])?;
        Ok(row.map(|r| u(&r, 0)))
    }

    fn insert_comment(&mut self, c: &NewComment<'_>) -> StoreResult<Option<u64>> {
        let row = self.opt(
            "INSERT INTO comments (review_id, account_id, client_id, body, created_at_ms, updated_at_ms)
             VALUES ($1, $2, $3, $4, $5, $5)
             ON CONFLICT (account_id, client_id) DO NOTHING RETURNING id",
            &[
                &(c.review as i64),
                &(c.account as i64),
                &c.client_id,
                &c.body,
                &(c.now_ms as i64),
            ],
        )?;
        Ok(row.map(|r| u(&r, 0)))
    }

    fn update_comment(&mut self, id: u64, body: &str, now_ms: u64) -> StoreResult<()> {
        let sql = "UPDATE comments SET body = $2, updated_at_ms = $3 WHERE id = $1";
        self.exec(sql, &[&(id as i64), &body, &(now_ms as i64)])?;
        Ok(())
    }

    fn lock_comment(&mut self, comment: u64) -> StoreResult<Option<(u64, u64, u64)>> {
        let row = self.opt(
            "SELECT c.account_id, c.review_id, r.account_id FROM comments c JOIN reviews r ON r.id = c.review_id
             WHERE c.id = $1 FOR UPDATE OF c",
            &[&(comment as i64)],
        )?;
        Ok(row.map(|r| (u(&r, 0), u(&r, 1), u(&r, 2))))
    }

    fn delete_comment(&mut self, id: u64) -> StoreResult<()> {
        self.exec("DELETE FROM comments WHERE id = $1", &[&(id as i64)])?;
        Ok(())
    }

    fn set_like(&mut self, account: u64, target: LikeTarget, on: bool) -> StoreResult<()> {
        let (kind, _, target) = target_parts(target);
        let sql = if on {
            "INSERT INTO likes (account_id, kind, target_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM likes WHERE account_id = $1 AND kind = $2 AND target_id = $3"
        };
        self.exec(sql, &[&(account as i64), &kind, &(target as i64)])?;
        Ok(())
    }

    fn lock_account_id(&mut self, handle: &str) -> StoreResult<Option<u64>> {
        let sql = "SELECT id FROM accounts WHERE handle = $1 FOR KEY SHARE";
        Ok(self.opt(sql, &[&handle])?.map(|r| u(&r, 0)))
    }

    fn set_follow(&mut self, follower: u64, followed: u64, on: bool) -> StoreResult<()> {
        let sql = if on {
            "INSERT INTO follows (follower_id, followed_id) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM follows WHERE follower_id = $1 AND followed_id = $2"
        };
        self.exec(sql, &[&(follower as i64), &(followed as i64)])?;
        Ok(())
    }

    fn follow_handles(&mut self, account: u64, followers: bool) -> StoreResult<Vec<String>> {
        let sql = if followers {
            "SELECT a.handle FROM follows f JOIN accounts a ON a.id = f.follower_id
             WHERE f.followed_id = $1 ORDER BY a.handle COLLATE \"C\""
        } else {
            "SELECT a.handle FROM follows f JOIN accounts a ON a.id = f.followed_id
             WHERE f.follower_id = $1 ORDER BY a.handle COLLATE \"C\""
        };
        let rows = self.all(sql, &[&(account as i64)])?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    fn reviews(&mut self, of: ReviewsOf<'_>, below: u64, limit: usize) -> StoreResult<Vec<Review>> {
        let (filter, key): (_, Box<dyn ToSql + Sync>) = match of {
            ReviewsOf::Film(movie) => ("r.movie_key = $1", Box::new(movie.to_owned())),
            ReviewsOf::Author(handle) => ("a.handle = $1", Box::new(handle.to_owned())),
            ReviewsOf::FollowedBy(account) => (
                "r.account_id IN (SELECT followed_id FROM follows WHERE follower_id = $1)",
                Box::new(account as i64),
            ),
        };
        let sql =
            format!("{REVIEW_SELECT} WHERE {filter} AND r.id < $2 ORDER BY r.id DESC LIMIT $3");
        let rows = self.all(&sql, &[&*key, &(below as i64), &(limit as i64)])?;
        Ok(rows.iter().map(row_to_review).collect())
    }

    fn film_stats(&mut self, movie_key: &str) -> StoreResult<(u32, Option<f32>)> {
        let sql = "SELECT count(*), avg(rating) FROM reviews WHERE movie_key = $1";
        let row = self.one(sql, &[&movie_key])?;
        let (n, mean): (i64, Option<f64>) = (row.get(0), row.get(1));
        Ok((n as u32, mean.map(|m| m as f32)))
    }

    fn comments_on(&mut self, review: u64, after: u64, limit: usize) -> StoreResult<Vec<Comment>> {
        let sql =
            format!("{COMMENT_SELECT} WHERE c.review_id = $1 AND c.id > $2 ORDER BY c.id LIMIT $3");
        let rows = self.all(&sql, &[&(review as i64), &(after as i64), &(limit as i64)])?;
        Ok(rows.iter().map(row_to_comment).collect())
    }

    fn changes(&mut self, since: u64, limit: usize) -> StoreResult<Vec<(u64, String)>> {
        let sql = "SELECT seq, payload FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2";
        let rows = self.all(sql, &[&(since as i64), &(limit as i64)])?;
        Ok(rows.iter().map(|r| (u(r, 0), r.get(1))).collect())
    }
}
