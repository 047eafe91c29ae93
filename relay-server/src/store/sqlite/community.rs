//! Ratings and community model rows in SQLite.

use rusqlite::params;

use super::{SqliteRows, id};
use crate::store::StoreResult;
use crate::store::rows::{CommunityRows, StoredModel};

impl CommunityRows for SqliteRows<'_> {
    fn imported_rater(&mut self, source: &str) -> StoreResult<Option<u64>> {
        self.opt(
            "SELECT account_id FROM imported_raters WHERE source = ?1",
            [source],
            id,
        )
    }

    fn insert_imported_rater(&mut self, source: &str, account: u64) -> StoreResult<()> {
        self.exec(
            "INSERT INTO imported_raters (source, account_id) VALUES (?1, ?2)",
            params![source, account as i64],
        )?;
        Ok(())
    }

    fn put_rating(&mut self, account: u64, movie_key: &str, stars: f32) -> StoreResult<bool> {
        let changed = self.exec(
            "INSERT INTO ratings (account_id, movie_key, stars) VALUES (?1, ?2, ?3)
             ON CONFLICT (account_id, movie_key) DO UPDATE SET stars = excluded.stars
             WHERE stars <> excluded.stars",
            params![account as i64, movie_key, f64::from(stars)],
        )? > 0;
        if changed {
            self.exec("UPDATE rating_log SET writes = writes + 1", [])?;
        }
        Ok(changed)
    }

    fn ratings(&mut self) -> StoreResult<Vec<(u64, String, f32)>> {
        self.all(
            "SELECT account_id, movie_key, rating FROM reviews
             UNION ALL SELECT account_id, movie_key, stars FROM ratings",
            [],
            |r| {
                Ok((
                    r.get::<_, i64>(0)? as u64,
                    r.get(1)?,
                    r.get::<_, f64>(2)? as f32,
                ))
            },
        )
    }

    fn watermark(&mut self) -> StoreResult<u64> {
        self.one(
            "SELECT coalesce((SELECT max(seq) FROM changes), 0)
                    + (SELECT writes FROM rating_log)",
            [],
            id,
        )
    }

    fn model_after(&mut self, newer_than: u64) -> StoreResult<Option<StoredModel>> {
        self.opt(
            "SELECT version, built_at_ms, watermark, data FROM community_models
             WHERE version > ?1 ORDER BY version DESC LIMIT 1",
            [newer_than as i64],
            |r| {
                Ok(StoredModel {
                    version: r.get::<_, i64>(0)? as u64,
                    built_at_ms: r.get::<_, i64>(1)? as u64,
                    watermark: r.get::<_, i64>(2)? as u64,
                    data: r.get(3)?,
                })
            },
        )
    }

    fn insert_model(&mut self, built_at_ms: u64, watermark: u64, data: &[u8]) -> StoreResult<u64> {
        let version = self.one(
            "INSERT INTO community_models (version, built_at_ms, watermark, data)
             VALUES ((SELECT coalesce(max(version), 0) + 1 FROM community_models), ?1, ?2, ?3)
             RETURNING version",
            params![built_at_ms as i64, watermark as i64, data],
            id,
        )?;
        self.exec(
            "DELETE FROM community_models WHERE version < ?1",
            [version as i64],
        )?;
        Ok(version)
    }
}
