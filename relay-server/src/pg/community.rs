//! Ratings and community model rows in PostgreSQL.

use super::rows::{PgRows, u};
use crate::store::StoreResult;
use crate::store::rows::{CommunityRows, StoredModel};

impl CommunityRows for PgRows<'_, '_> {
    fn imported_rater(&mut self, source: &str) -> StoreResult<Option<u64>> {
        let sql = "SELECT account_id FROM imported_raters WHERE source = $1";
        Ok(self.opt(sql, &[&source])?.map(|r| u(&r, 0)))
    }

    fn insert_imported_rater(&mut self, source: &str, account: u64) -> StoreResult<()> {
        let sql = "INSERT INTO imported_raters (source, account_id) VALUES ($1, $2)";
        self.exec(sql, &[&source, &(account as i64)])?;
        Ok(())
    }

    fn put_rating(&mut self, account: u64, movie_key: &str, stars: f32) -> StoreResult<bool> {
        let sql = "INSERT INTO ratings (account_id, movie_key, stars) VALUES ($1, $2, $3)
                   ON CONFLICT (account_id, movie_key) DO UPDATE SET stars = excluded.stars
                   WHERE ratings.stars <> excluded.stars";
        let changed = self.exec(sql, &[&(account as i64), &movie_key, &stars])? > 0;
        if changed {
            self.exec("UPDATE rating_log SET writes = writes + 1", &[])?;
        }
        Ok(changed)
    }

    fn ratings(&mut self) -> StoreResult<Vec<(u64, String, f32)>> {
        let sql = "SELECT account_id, movie_key, rating FROM reviews
                   UNION ALL SELECT account_id, movie_key, stars FROM ratings";
        Ok(self
            .all(sql, &[])?
            .iter()
            .map(|r| (u(r, 0), r.get(1), r.get(2)))
            .collect())
    }

    fn watermark(&mut self) -> StoreResult<u64> {
        let sql = "SELECT coalesce((SELECT max(seq) FROM changes), 0)
                          + (SELECT writes FROM rating_log)";
        Ok(u(&self.one(sql, &[])?, 0))
    }

    fn model_after(&mut self, newer_than: u64) -> StoreResult<Option<StoredModel>> {
        let sql = "SELECT version, built_at_ms, watermark, data FROM community_models
                   WHERE version > $1 ORDER BY version DESC LIMIT 1";
        Ok(self
            .opt(sql, &[&(newer_than as i64)])?
            .map(|r| StoredModel {
                version: u(&r, 0),
                built_at_ms: u(&r, 1),
                watermark: u(&r, 2),
                data: r.get(3),
            }))
    }

    fn insert_model(&mut self, built_at_ms: u64, watermark: u64, data: &[u8]) -> StoreResult<u64> {
        let sql = "INSERT INTO community_models (version, built_at_ms, watermark, data)
                   SELECT coalesce(max(version), 0) + 1, $1, $2, $3 FROM community_models
                   RETURNING version";
        let version = u(
            &self.one(sql, &[&(built_at_ms as i64), &(watermark as i64), &data])?,
            0,
        );
        let sql = "DELETE FROM community_models WHERE version < $1";
        self.exec(sql, &[&(version as i64)])?;
        Ok(version)
    }
}
