//! Account, session and provider-link rows in PostgreSQL.

use std::collections::HashSet;

use movietalk_protocol::relay::{Account, LinkedProvider, SessionInfo};

use super::rows::{PgRows, pg_ids, u};
use crate::store::rows::{AccountRows, NewAccount, SessionRow, TokenRow};
use crate::store::{ACCOUNT_COLUMNS, StoreResult};

/// An account from the [`ACCOUNT_COLUMNS`] of `r`, starting at column `from`.
pub(super) fn row_to_account(r: &postgres::Row, from: usize) -> Account {
    Account {
        id: r.get::<_, i64>(from) as u64,
        handle: r.get(from + 1),
        display_name: r.get(from + 2),
        bio: r.get(from + 3),
        avatar_url: r.get(from + 4),
    }
}

impl AccountRows for PgRows<'_, '_> {
    fn account(&mut self, id: u64) -> StoreResult<Account> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
        Ok(row_to_account(&self.one(&sql, &[&(id as i64)])?, 0))
    }

    fn account_by_handle(&mut self, handle: &str) -> StoreResult<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE handle = $1");
        Ok(self.opt(&sql, &[&handle])?.map(|r| row_to_account(&r, 0)))
    }

    fn credentials(&mut self, handle: &str) -> StoreResult<Option<(u64, String)>> {
        let sql = "SELECT id, password_hash FROM accounts WHERE handle = $1";
        Ok(self.opt(sql, &[&handle])?.map(|r| (u(&r, 0), r.get(1))))
    }

    fn handle_and_password(&mut self, id: u64) -> StoreResult<(String, String)> {
        let sql = "SELECT handle, password_hash FROM accounts WHERE id = $1";
        let row = self.one(sql, &[&(id as i64)])?;
        Ok((row.get(0), row.get(1)))
    }

    fn lock_password(&mut self, id: u64) -> StoreResult<Option<String>> {
        let sql = "SELECT password_hash FROM accounts WHERE id = $1 FOR SHARE";
        Ok(self.opt(sql, &[&(id as i64)])?.map(|r| r.get(0)))
    }

    fn lock_account(&mut self, id: u64) -> StoreResult<()> {
        let sql = "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE";
        self.exec(sql, &[&(id as i64)])?;
        Ok(())
    }

    fn insert_account(&mut self, a: &NewAccount<'_>) -> StoreResult<Option<u64>> {
        // ON CONFLICT waits for a concurrent sign-up with the same handle and, if that one
        // commits, inserts nothing.
        let row = self.opt(
            "INSERT INTO accounts (handle, display_name, password_hash, created_at_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT (handle) DO NOTHING
             RETURNING id",
            &[&a.handle, &a.display_name, &a.password_hash, &(a.now_ms as i64)],
        )?;
        Ok(row.map(|r| u(&r, 0)))
    }

    fn handle_taken(&mut self, handle: &str) -> StoreResult<bool> {
        let sql = "SELECT 1 FROM accounts WHERE handle = $1";
        Ok(self.opt(sql, &[&handle])?.is_some())
    }

    fn update_profile(&mut self, id: u64, fields: [Option<&str>; 3]) -> StoreResult<Account> {
        let [display_name, bio, avatar_url] = fields;
        let row = self.one(
            &format!(
                "UPDATE accounts SET display_name = coalesce($2::TEXT, display_name), bio = coalesce($3::TEXT, bio),
                                     avatar_url = CASE WHEN $4::TEXT IS NULL THEN avatar_url
                                                       WHEN $4::TEXT = '' THEN NULL ELSE $4::TEXT END
                 WHERE id = $1
                 RETURNING {ACCOUNT_COLUMNS}"
            ),
            &[&(id as i64), &display_name, &bio, &avatar_url],
        )?;
        Ok(row_to_account(&row, 0))
    }

    fn set_password(&mut self, id: u64, password_hash: &str) -> StoreResult<()> {
        let sql = "UPDATE accounts SET password_hash = $2 WHERE id = $1";
        self.exec(sql, &[&(id as i64), &password_hash])?;
        Ok(())
    }

    fn delete_account(&mut self, id: u64) -> StoreResult<()> {
        self.exec("DELETE FROM accounts WHERE id = $1", &[&(id as i64)])?;
        Ok(())
    }

    fn delete_expired_sessions(&mut self, account: u64, now_ms: u64) -> StoreResult<()> {
        let sql = "DELETE FROM auth_sessions WHERE account_id = $1 AND refresh_expires_at_ms <= $2";
        self.exec(sql, &[&(account as i64), &(now_ms as i64)])?;
        Ok(())
    }

    fn insert_session(&mut self, s: &SessionRow<'_>) -> StoreResult<u64> {
        let t = &s.tokens;
        let row = self.one(
            "INSERT INTO auth_sessions (account_id, client, method, created_at_ms, last_used_at_ms, access_hash,
                                        access_expires_at_ms, refresh_hash, refresh_expires_at_ms)
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8)
             RETURNING id",
            &[
                &(s.account as i64),
                &s.client,
                &s.method,
                &(t.now_ms as i64),
                &t.access_hash,
                &(t.access_expires_at_ms as i64),
                &t.refresh_hash,
                &(t.refresh_expires_at_ms as i64),
            ],
        )?;
        Ok(u(&row, 0))
    }

    fn use_access(
        &mut self,
        access_hash: &str,
        now_ms: u64,
    ) -> StoreResult<Option<(Account, u64, u64)>> {
        // Find the live session, mark it used and read its account in one statement.
        let row = self.opt(
            &format!(
                "WITH s AS (
                     UPDATE auth_sessions SET last_used_at_ms = GREATEST(last_used_at_ms, $2)
                     WHERE access_hash = $1 AND access_expires_at_ms > $2
                     RETURNING id AS session_id, account_id, access_expires_at_ms
                 )
                 SELECT s.session_id, s.access_expires_at_ms, {ACCOUNT_COLUMNS}
                 FROM s JOIN accounts ON accounts.id = s.account_id"
            ),
            &[&access_hash, &(now_ms as i64)],
        )?;
        Ok(row.map(|r| (row_to_account(&r, 2), u(&r, 0), u(&r, 1))))
    }

    fn lock_refresh(&mut self, refresh_hash: &str) -> StoreResult<Option<(u64, u64, u64)>> {
        let row = self.opt(
            "SELECT id, account_id, refresh_expires_at_ms FROM auth_sessions WHERE refresh_hash = $1
             FOR UPDATE",
            &[&refresh_hash],
        )?;
        Ok(row.map(|r| (u(&r, 0), u(&r, 1), u(&r, 2))))
    }

    fn spent_refresh(&mut self, refresh_hash: &str) -> StoreResult<Option<(u64, u64)>> {
        let row = self.opt(
            "SELECT s.session_id, a.account_id FROM spent_refresh_tokens s
             JOIN auth_sessions a ON a.id = s.session_id WHERE s.token_hash = $1",
            &[&refresh_hash],
        )?;
        Ok(row.map(|r| (u(&r, 0), u(&r, 1))))
    }

    fn spend_refresh(&mut self, refresh_hash: &str, session: u64) -> StoreResult<()> {
        let sql = "INSERT INTO spent_refresh_tokens (token_hash, session_id) VALUES ($1, $2)";
        self.exec(sql, &[&refresh_hash, &(session as i64)])?;
        Ok(())
    }

    fn rotate_session(&mut self, session: u64, t: &TokenRow<'_>) -> StoreResult<()> {
        self.exec(
            "UPDATE auth_sessions SET access_hash = $2, access_expires_at_ms = $3, refresh_hash = $4,
                                      refresh_expires_at_ms = $5, last_used_at_ms = $6
             WHERE id = $1",
            &[
                &(session as i64),
                &t.access_hash,
                &(t.access_expires_at_ms as i64),
                &t.refresh_hash,
                &(t.refresh_expires_at_ms as i64),
                &(t.now_ms as i64),
            ],
        )?;
        Ok(())
    }

    fn delete_session(&mut self, session: u64) -> StoreResult<()> {
        self.exec(
            "DELETE FROM auth_sessions WHERE id = $1",
            &[&(session as i64)],
        )?;
        Ok(())
    }

    fn delete_session_of(&mut self, account: u64, session: u64) -> StoreResult<bool> {
        let sql = "DELETE FROM auth_sessions WHERE id = $1 AND account_id = $2";
        Ok(self.exec(sql, &[&(session as i64), &(account as i64)])? > 0)
    }

    fn delete_sessions_except(&mut self, account: u64, keep: Option<u64>) -> StoreResult<()> {
        let sql = "DELETE FROM auth_sessions WHERE account_id = $1 AND id IS DISTINCT FROM $2";
        self.exec(sql, &[&(account as i64), &keep.map(|k| k as i64)])?;
        Ok(())
    }

    fn session_created(&mut self, account: u64, session: u64) -> StoreResult<Option<u64>> {
        let sql = "SELECT created_at_ms FROM auth_sessions WHERE id = $1 AND account_id = $2";
        let row = self.opt(sql, &[&(session as i64), &(account as i64)])?;
        Ok(row.map(|r| u(&r, 0)))
    }

    fn sessions(&mut self, account: u64, now_ms: u64) -> StoreResult<Vec<SessionInfo>> {
        let rows = self.all(
            "SELECT id, client, method, created_at_ms, last_used_at_ms, refresh_expires_at_ms FROM auth_sessions
             WHERE account_id = $1 AND refresh_expires_at_ms > $2 ORDER BY last_used_at_ms DESC, id DESC",
            &[&(account as i64), &(now_ms as i64)],
        )?;
        Ok(rows
            .iter()
            .map(|r| SessionInfo {
                id: u(r, 0),
                client: r.get(1),
                method: r.get(2),
                created_at_ms: u(r, 3),
                last_used_at_ms: u(r, 4),
                expires_at_ms: u(r, 5),
                current: false,
            })
            .collect())
    }

    fn sessions_alive(&mut self, ids: &[u64], now_ms: u64) -> StoreResult<HashSet<u64>> {
        let sql = "SELECT id FROM auth_sessions WHERE id = ANY($1) AND refresh_expires_at_ms > $2";
        let rows = self.all(sql, &[&pg_ids(ids), &(now_ms as i64)])?;
        Ok(rows.iter().map(|r| u(r, 0)).collect())
    }

    fn identity_owner(&mut self, provider: &str, subject: &str) -> StoreResult<Option<u64>> {
        let sql = "SELECT account_id FROM provider_links WHERE provider = $1 AND subject = $2";
        Ok(self.opt(sql, &[&provider, &subject])?.map(|r| u(&r, 0)))
    }

    fn insert_link(&mut self, link: [&str; 2], account: u64, now_ms: u64) -> StoreResult<bool> {
        let [provider, subject] = link;
        let inserted = self.exec(
            "INSERT INTO provider_links (provider, subject, account_id, linked_at_ms) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING",
            &[&provider, &subject, &(account as i64), &(now_ms as i64)],
        )?;
        Ok(inserted > 0)
    }

    fn links(&mut self, account: u64) -> StoreResult<Vec<LinkedProvider>> {
        let rows = self.all(
            "SELECT provider, linked_at_ms FROM provider_links WHERE account_id = $1 ORDER BY provider COLLATE \"C\"",
            &[&(account as i64)],
        )?;
        Ok(rows
            .iter()
            .map(|r| LinkedProvider {
                provider: r.get(0),
                linked_at_ms: u(r, 1),
            })
            .collect())
    }

    fn delete_links(&mut self, account: u64, provider: Option<&str>) -> StoreResult<()> {
        let sql = "DELETE FROM provider_links WHERE account_id = $1 AND ($2::TEXT IS NULL OR provider = $2)";
        self.exec(sql, &[&(account as i64), &provider])?;
        Ok(())
    }

    fn lock_reviews_of(&mut self, account: u64) -> StoreResult<Vec<u64>> {
        let sql = "SELECT id FROM reviews WHERE account_id = $1 ORDER BY id FOR UPDATE";
        let rows = self.all(sql, &[&(account as i64)])?;
        Ok(rows.iter().map(|r| u(r, 0)).collect())
    }

    fn lock_comments_of(
        &mut self,
        account: u64,
        reviews: &[u64],
    ) -> StoreResult<Vec<(u64, u64, bool)>> {
        let rows = self.all(
            "SELECT c.id, c.review_id, r.account_id != $1 FROM comments c JOIN reviews r ON r.id = c.review_id
             WHERE c.account_id = $1 OR c.review_id = ANY($2) ORDER BY c.id FOR UPDATE OF c",
            &[&(account as i64), &pg_ids(reviews)],
        )?;
        Ok(rows.iter().map(|r| (u(r, 0), u(r, 1), r.get(2))).collect())
    }

    fn anonymise_messages(&mut self, author_key: &str, author: &str) -> StoreResult<()> {
        self.exec(
            "UPDATE chat_messages SET author = $2, author_key = 'deleted', client_id = 'deleted:' || seq
             WHERE author_key = $1",
            &[&author_key, &author],
        )?;
        Ok(())
    }
}
