//! Account, session and provider-link rows in SQLite.

use std::collections::HashSet;

use movietalk_protocol::relay::{Account, LinkedProvider, SessionInfo};
use rusqlite::{Row, params};

use super::{SqliteRows, id, json_ids};
use crate::store::ACCOUNT_COLUMNS;
use crate::store::StoreResult;
use crate::store::rows::{AccountRows, NewAccount, SessionRow, TokenRow};

fn row_to_account(r: &Row<'_>) -> rusqlite::Result<Account> {
    Ok(Account {
        id: r.get::<_, i64>(0)? as u64,
        handle: r.get(1)?,
        display_name: r.get(2)?,
        bio: r.get(3)?,
        avatar_url: r.get(4)?,
    })
}

impl AccountRows for SqliteRows<'_> {
    fn account(&mut self, id: u64) -> StoreResult<Account> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1");
        self.one(&sql, [id as i64], row_to_account)
    }

    fn account_by_handle(&mut self, handle: &str) -> StoreResult<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE handle = ?1");
        self.opt(&sql, [handle], row_to_account)
    }

    fn credentials(&mut self, handle: &str) -> StoreResult<Option<(u64, String)>> {
        self.opt(
            "SELECT id, password_hash FROM accounts WHERE handle = ?1",
            [handle],
            |r| Ok((id(r)?, r.get(1)?)),
        )
    }

    fn handle_and_password(&mut self, id: u64) -> StoreResult<(String, String)> {
        self.one(
            "SELECT handle, password_hash FROM accounts WHERE id = ?1",
            [id as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
    }

    fn lock_password(&mut self, id: u64) -> StoreResult<Option<String>> {
        self.opt(
            "SELECT password_hash FROM accounts WHERE id = ?1",
            [id as i64],
            |r| r.get(0),
        )
    }

    fn lock_account(&mut self, _id: u64) -> StoreResult<()> {
        Ok(())
    }

    fn insert_account(&mut self, a: &NewAccount<'_>) -> StoreResult<Option<u64>> {
        let inserted = self.exec(
            "INSERT INTO accounts (handle, display_name, password_hash, created_at_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(handle) DO NOTHING",
            params![a.handle, a.display_name, a.password_hash, a.now_ms as i64],
        )?;
        Ok((inserted > 0).then(|| self.0.last_insert_rowid() as u64))
    }

    fn handle_taken(&mut self, handle: &str) -> StoreResult<bool> {
        let sql = "SELECT 1 FROM accounts WHERE handle = ?1";
        Ok(self.opt(sql, [handle], |_| Ok(()))?.is_some())
    }

    fn update_profile(&mut self, id: u64, fields: [Option<&str>; 3]) -> StoreResult<Account> {
        let [display_name, bio, avatar_url] = fields;
        self.exec(
            "UPDATE accounts SET display_name = coalesce(?2, display_name), bio = coalesce(?3, bio),
                                 avatar_url = CASE WHEN ?4 IS NULL THEN avatar_url WHEN ?4 = '' THEN NULL ELSE ?4 END
             WHERE id = ?1",
            params![id as i64, display_name, bio, avatar_url],
        )?;
        self.account(id)
    }

    fn set_password(&mut self, id: u64, password_hash: &str) -> StoreResult<()> {
        let sql = "UPDATE accounts SET password_hash = ?2 WHERE id = ?1";
        self.exec(sql, params![id as i64, password_hash])?;
        Ok(())
    }

    fn delete_account(&mut self, id: u64) -> StoreResult<()> {
        self.exec("DELETE FROM accounts WHERE id = ?1", [id as i64])?;
        Ok(())
    }

    fn delete_expired_sessions(&mut self, account: u64, now_ms: u64) -> StoreResult<()> {
        self.exec(
            "DELETE FROM auth_sessions WHERE account_id = ?1 AND refresh_expires_at_ms <= ?2",
            params![account as i64, now_ms as i64],
        )?;
        Ok(())
    }

    fn insert_session(&mut self, s: &SessionRow<'_>) -> StoreResult<u64> {
        let t = &s.tokens;
        self.exec(
            "INSERT INTO auth_sessions (account_id, client, method, created_at_ms, last_used_at_ms, access_hash,
                                        access_expires_at_ms, refresh_hash, refresh_expires_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8)",
            params![
                s.account as i64,
                s.client,
                s.method,
                t.now_ms as i64,
                t.access_hash,
                t.access_expires_at_ms as i64,
                t.refresh_hash,
                t.refresh_expires_at_ms as i64
            ],
        )?;
        Ok(self.0.last_insert_rowid() as u64)
    }

    fn use_access(
        &mut self,
        access_hash: &str,
        now_ms: u64,
    ) -> StoreResult<Option<(Account, u64, u64)>> {
        let Some((session, account, expires)) = self.opt(
            "SELECT id, account_id, access_expires_at_ms FROM auth_sessions
             WHERE access_hash = ?1 AND access_expires_at_ms > ?2",
            params![access_hash, now_ms as i64],
            |r| {
                Ok((
                    id(r)?,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, i64>(2)? as u64,
                ))
            },
        )?
        else {
            return Ok(None);
        };
        self.exec(
            "UPDATE auth_sessions SET last_used_at_ms = max(last_used_at_ms, ?2) WHERE id = ?1",
            params![session as i64, now_ms as i64],
        )?;
        Ok(Some((self.account(account)?, session, expires)))
    }

    fn lock_refresh(&mut self, refresh_hash: &str) -> StoreResult<Option<(u64, u64, u64)>> {
        self.opt(
            "SELECT id, account_id, refresh_expires_at_ms FROM auth_sessions WHERE refresh_hash = ?1",
            [refresh_hash],
            |r| Ok((id(r)?, r.get::<_, i64>(1)? as u64, r.get::<_, i64>(2)? as u64)),
        )
    }

    fn spent_refresh(&mut self, refresh_hash: &str) -> StoreResult<Option<(u64, u64)>> {
        self.opt(
            "SELECT s.session_id, a.account_id FROM spent_refresh_tokens s
             JOIN auth_sessions a ON a.id = s.session_id WHERE s.token_hash = ?1",
            [refresh_hash],
            |r| Ok((id(r)?, r.get::<_, i64>(1)? as u64)),
        )
    }

    fn spend_refresh(&mut self, refresh_hash: &str, session: u64) -> StoreResult<()> {
        self.exec(
            "INSERT INTO spent_refresh_tokens (token_hash, session_id) VALUES (?1, ?2)",
            params![refresh_hash, session as i64],
        )?;
        Ok(())
    }

    fn rotate_session(&mut self, session: u64, t: &TokenRow<'_>) -> StoreResult<()> {
        self.exec(
            "UPDATE auth_sessions SET access_hash = ?2, access_expires_at_ms = ?3, refresh_hash = ?4,
                                      refresh_expires_at_ms = ?5, last_used_at_ms = ?6
             WHERE id = ?1",
            params![
                session as i64,
                t.access_hash,
                t.access_expires_at_ms as i64,
                t.refresh_hash,
                t.refresh_expires_at_ms as i64,
                t.now_ms as i64
            ],
        )?;
        Ok(())
    }

    fn delete_session(&mut self, session: u64) -> StoreResult<()> {
        self.exec("DELETE FROM auth_sessions WHERE id = ?1", [session as i64])?;
        Ok(())
    }

    fn delete_session_of(&mut self, account: u64, session: u64) -> StoreResult<bool> {
        let sql = "DELETE FROM auth_sessions WHERE id = ?1 AND account_id = ?2";
        Ok(self.exec(sql, params![session as i64, account as i64])? > 0)
    }

    fn delete_sessions_except(&mut self, account: u64, keep: Option<u64>) -> StoreResult<()> {
        let sql = "DELETE FROM auth_sessions WHERE account_id = ?1 AND id IS NOT ?2";
        self.exec(sql, params![account as i64, keep.map(|k| k as i64)])?;
        Ok(())
    }

    fn session_created(&mut self, account: u64, session: u64) -> StoreResult<Option<u64>> {
        self.opt(
            "SELECT created_at_ms FROM auth_sessions WHERE id = ?1 AND account_id = ?2",
            params![session as i64, account as i64],
            id,
        )
    }

    fn sessions(&mut self, account: u64, now_ms: u64) -> StoreResult<Vec<SessionInfo>> {
        self.all(
            "SELECT id, client, method, created_at_ms, last_used_at_ms, refresh_expires_at_ms FROM auth_sessions
             WHERE account_id = ?1 AND refresh_expires_at_ms > ?2 ORDER BY last_used_at_ms DESC, id DESC",
            params![account as i64, now_ms as i64],
            |r| {
                Ok(SessionInfo {
                    id: id(r)?,
                    client: r.get(1)?,
                    method: r.get(2)?,
                    created_at_ms: r.get::<_, i64>(3)? as u64,
                    last_used_at_ms: r.get::<_, i64>(4)? as u64,
                    expires_at_ms: r.get::<_, i64>(5)? as u64,
                    current: false,
                })
            },
        )
    }

    fn sessions_alive(&mut self, ids: &[u64], now_ms: u64) -> StoreResult<HashSet<u64>> {
        let alive = self.all(
            "SELECT id FROM auth_sessions
             WHERE id IN (SELECT value FROM json_each(?1)) AND refresh_expires_at_ms > ?2",
            params![json_ids(ids), now_ms as i64],
            id,
        )?;
        Ok(alive.into_iter().collect())
    }

    fn identity_owner(&mut self, provider: &str, subject: &str) -> StoreResult<Option<u64>> {
        self.opt(
            "SELECT account_id FROM provider_links WHERE provider = ?1 AND subject = ?2",
            params![provider, subject],
            id,
        )
    }

    fn insert_link(&mut self, link: [&str; 2], account: u64, now_ms: u64) -> StoreResult<bool> {
        let inserted = self.exec(
            "INSERT INTO provider_links (provider, subject, account_id, linked_at_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            params![link[0], link[1], account as i64, now_ms as i64],
        )?;
        Ok(inserted > 0)
    }

    fn links(&mut self, account: u64) -> StoreResult<Vec<LinkedProvider>> {
        self.all(
            "SELECT provider, linked_at_ms FROM provider_links WHERE account_id = ?1 ORDER BY provider",
            [account as i64],
            |r| {
                Ok(LinkedProvider {
                    provider: r.get(0)?,
                    linked_at_ms: r.get::<_, i64>(1)? as u64,
                })
            },
        )
    }

    fn delete_links(&mut self, account: u64, provider: Option<&str>) -> StoreResult<()> {
        self.exec(
            "DELETE FROM provider_links WHERE account_id = ?1 AND (?2 IS NULL OR provider = ?2)",
            params![account as i64, provider],
        )?;
        Ok(())
    }

    fn lock_reviews_of(&mut self, account: u64) -> StoreResult<Vec<u64>> {
        let sql = "SELECT id FROM reviews WHERE account_id = ?1 ORDER BY id";
        self.all(sql, [account as i64], id)
    }

    fn lock_comments_of(
        &mut self,
        account: u64,
        reviews: &[u64],
    ) -> StoreResult<Vec<(u64, u64, bool)>> {
        self.all(
            "SELECT c.id, c.review_id, r.account_id != ?1 FROM comments c JOIN reviews r ON r.id = c.review_id
             WHERE c.account_id = ?1 OR c.review_id IN (SELECT value FROM json_each(?2)) ORDER BY c.id",
            params![account as i64, json_ids(reviews)],
            |r| Ok((id(r)?, r.get::<_, i64>(1)? as u64, r.get(2)?)),
        )
    }

    fn anonymise_messages(&mut self, author_key: &str, author: &str) -> StoreResult<()> {
        self.exec(
            "UPDATE chat_messages SET author = ?2, author_key = 'deleted', client_id = 'deleted:' || seq
             WHERE author_key = ?1",
            params![author_key, author],
        )?;
        Ok(())
    }
}
