//! Accounts, sessions and provider links in the SQLite store.

use movietalk_protocol::relay::{Account, ChangeKind, LinkedProvider, SessionInfo};
use rusqlite::{OptionalExtension, params};

use super::*;
use crate::store::SqliteStore;

impl SqliteStore {
    /// Opens a session for `account_id` (and drops its sessions that ran out).
    fn new_session(
        conn: &rusqlite::Connection,
        account_id: i64,
        method: &str,
        at: &SessionParams<'_>,
    ) -> Result<NewSession, AccountError> {
        let (access_token, access_expires_at_ms, refresh_token, refresh_expires_at_ms) =
            fresh_tokens(at);
        conn.execute(
            "DELETE FROM auth_sessions WHERE account_id = ?1 AND refresh_expires_at_ms <= ?2",
            params![account_id, at.now_ms as i64],
        )?;
        let client: String = at.client.chars().take(80).collect();
        conn.execute(
            "INSERT INTO auth_sessions (account_id, client, method, created_at_ms, last_used_at_ms, access_hash,
                                        access_expires_at_ms, refresh_hash, refresh_expires_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6, ?7, ?8)",
            params![
                account_id,
                client,
                method,
                at.now_ms as i64,
                token_hash(&access_token),
                access_expires_at_ms as i64,
                token_hash(&refresh_token),
                refresh_expires_at_ms as i64
            ],
        )?;
        let session_id = conn.last_insert_rowid() as u64;
        Ok(NewSession {
            session_id,
            access_token,
            access_expires_at_ms,
            refresh_token,
            refresh_expires_at_ms,
        })
    }

    fn account(conn: &rusqlite::Connection, id: i64) -> Result<Account, AccountError> {
        Ok(conn.query_row(
            &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = ?1"),
            [id],
            row_to_account,
        )?)
    }

    /// Whether `session` of `account` began within [`RECENT_LOGIN`] of `now_ms`.
    fn recent_login(
        conn: &rusqlite::Connection,
        account: i64,
        session: Option<u64>,
        now_ms: u64,
    ) -> Result<bool, AccountError> {
        let Some(session) = session else {
            return Ok(false);
        };
        let created: Option<i64> = conn
            .query_row(
                "SELECT created_at_ms FROM auth_sessions WHERE id = ?1 AND account_id = ?2",
                params![session as i64, account],
                |r| r.get(0),
            )
            .optional()?;
        Ok(created
            .is_some_and(|c| now_ms.saturating_sub(c as u64) <= RECENT_LOGIN.as_millis() as u64))
    }

    fn login_methods_of(
        conn: &rusqlite::Connection,
        account: i64,
    ) -> Result<(bool, Vec<LinkedProvider>), AccountError> {
        let password: String = conn.query_row(
            "SELECT password_hash FROM accounts WHERE id = ?1",
            [account],
            |r| r.get(0),
        )?;
        let mut stmt = conn.prepare("SELECT provider, linked_at_ms FROM provider_links WHERE account_id = ?1 ORDER BY provider")?;
        let providers = stmt
            .query_map([account], |r| {
                Ok(LinkedProvider {
                    provider: r.get(0)?,
                    linked_at_ms: r.get::<_, i64>(1)? as u64,
                })
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok((!password.is_empty(), providers))
    }
}

impl AccountStore for SqliteStore {
    fn sign_up(
        &self,
        handle: &str,
        password: &str,
        display_name: &str,
        cost: HashCost,
        at: &SessionParams<'_>,
    ) -> Result<(Account, NewSession), AccountError> {
        // Hash outside the lock: it is deliberately slow.
        let phc = hash_password(password, cost);
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        let inserted = tx.execute(
            "INSERT INTO accounts (handle, display_name, password_hash, created_at_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(handle) DO NOTHING",
            params![handle, display_name, phc, at.now_ms as i64],
        )?;
        if inserted == 0 {
            return Err(AccountError::HandleTaken);
        }
        let id = tx.last_insert_rowid();
        let result = (
            Self::account(&tx, id)?,
            Self::new_session(&tx, id, "password", at)?,
        );
        tx.commit()?;
        Ok(result)
    }

    fn log_in(
        &self,
        handle: &str,
        password: &str,
        at: &SessionParams<'_>,
    ) -> Result<(Account, NewSession), AccountError> {
        let found: Option<(i64, String)> = self
            .conn()
            .query_row(
                "SELECT id, password_hash FROM accounts WHERE handle = ?1",
                [handle],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((id, phc)) = found.filter(|(_, phc)| !phc.is_empty()) else {
            // Spend the same effort as for a real account, so timing does not reveal handles
            // (nor which accounts have no password).
            verify_nothing(password);
            return Err(AccountError::InvalidCredentials);
        };
        if !verify_password(password, &phc) {
            return Err(AccountError::InvalidCredentials);
        }
        // The password checked must still be the account's when the session opens: a password
        // change committed meanwhile (which ended every other session) refuses this log-in.
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        let current: Option<String> = tx
            .query_row(
                "SELECT password_hash FROM accounts WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?;
        if current.as_deref() != Some(phc.as_str()) {
            return Err(AccountError::InvalidCredentials);
        }
        let opened = (
            Self::account(&tx, id)?,
            Self::new_session(&tx, id, "password", at)?,
        );
        tx.commit()?;
        Ok(opened)
    }

    fn authenticate(
        &self,
        access_token: &str,
        now_ms: u64,
    ) -> Result<(Account, LiveSession), AccountError> {
        let conn = self.conn();
        let found: Option<(i64, i64, i64)> = conn
            .query_row(
                "SELECT id, account_id, access_expires_at_ms FROM auth_sessions WHERE access_hash = ?1 AND access_expires_at_ms > ?2",
                params![token_hash(access_token), now_ms as i64],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (session, account, expires) = found.ok_or(AccountError::InvalidToken)?;
        conn.execute(
            "UPDATE auth_sessions SET last_used_at_ms = max(last_used_at_ms, ?2) WHERE id = ?1",
            params![session, now_ms as i64],
        )?;
        Ok((
            Self::account(&conn, account)?,
            LiveSession {
                session_id: session as u64,
                access_expires_at_ms: expires as u64,
            },
        ))
    }

    fn refresh(
        &self,
        refresh_token: &str,
        at: &SessionParams<'_>,
    ) -> Result<(Account, NewSession), AccountError> {
        let hash = token_hash(refresh_token);
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        let current: Option<(i64, i64, i64)> = tx
            .query_row(
                "SELECT id, account_id, refresh_expires_at_ms FROM auth_sessions WHERE refresh_hash = ?1",
                [&hash],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let Some((session, account, expires)) = current else {
            // Not the current refresh token of any session: a spent one means reuse.
            let spent: Option<(i64, i64)> = tx
                .query_row(
                    "SELECT s.session_id, a.account_id FROM spent_refresh_tokens s
                     JOIN auth_sessions a ON a.id = s.session_id WHERE s.token_hash = ?1",
                    [&hash],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            return match spent {
                Some((session, account)) => {
                    tx.execute("DELETE FROM auth_sessions WHERE id = ?1", [session])?;
                    tx.commit()?;
                    tracing::warn!(
                        session,
                        "a spent refresh token was presented again; session revoked"
                    );
                    Err(AccountError::TokenReused {
                        account: account as u64,
                        session: session as u64,
                    })
                }
                None => Err(AccountError::InvalidToken),
            };
        };
        if expires as u64 <= at.now_ms {
            tx.execute("DELETE FROM auth_sessions WHERE id = ?1", [session])?;
            tx.commit()?;
            return Err(AccountError::InvalidToken);
        }
        let (access_token, access_expires_at_ms, new_refresh, refresh_expires_at_ms) =
            fresh_tokens(at);
        tx.execute(
            "INSERT INTO spent_refresh_tokens (token_hash, session_id) VALUES (?1, ?2)",
            params![hash, session],
        )?;
        tx.execute(
            "UPDATE auth_sessions SET access_hash = ?2, access_expires_at_ms = ?3, refresh_hash = ?4,
                                      refresh_expires_at_ms = ?5, last_used_at_ms = ?6
             WHERE id = ?1",
            params![
                session,
                token_hash(&access_token),
                access_expires_at_ms as i64,
                token_hash(&new_refresh),
                refresh_expires_at_ms as i64,
                at.now_ms as i64
            ],
        )?;
        let acc = Self::account(&tx, account)?;
        tx.commit()?;
        let new = NewSession {
            session_id: session as u64,
            access_token,
            access_expires_at_ms,
            refresh_token: new_refresh,
            refresh_expires_at_ms,
        };
        Ok((acc, new))
    }

    fn revoke_session(&self, account: u64, session_id: u64) -> Result<(), AccountError> {
        let n = self.conn().execute(
            "DELETE FROM auth_sessions WHERE id = ?1 AND account_id = ?2",
            params![session_id as i64, account as i64],
        )?;
        if n == 0 {
            Err(AccountError::NotFound)
        } else {
            Ok(())
        }
    }

    fn sessions(&self, account: u64, now_ms: u64) -> Result<Vec<SessionInfo>, AccountError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id, client, method, created_at_ms, last_used_at_ms, refresh_expires_at_ms FROM auth_sessions
             WHERE account_id = ?1 AND refresh_expires_at_ms > ?2 ORDER BY last_used_at_ms DESC, id DESC",
        )?;
        let rows = stmt.query_map(params![account as i64, now_ms as i64], |r| {
            Ok(SessionInfo {
                id: r.get::<_, i64>(0)? as u64,
                client: r.get(1)?,
                method: r.get(2)?,
                created_at_ms: r.get::<_, i64>(3)? as u64,
                last_used_at_ms: r.get::<_, i64>(4)? as u64,
                expires_at_ms: r.get::<_, i64>(5)? as u64,
                current: false,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn update_profile(
        &self,
        id: u64,
        display_name: Option<&str>,
        bio: Option<&str>,
        avatar_url: Option<&str>,
    ) -> Result<Account, AccountError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE accounts SET display_name = coalesce(?2, display_name), bio = coalesce(?3, bio),
                                 avatar_url = CASE WHEN ?4 IS NULL THEN avatar_url WHEN ?4 = '' THEN NULL ELSE ?4 END
             WHERE id = ?1",
            params![id as i64, display_name, bio, avatar_url],
        )?;
        Self::account(&conn, id as i64)
    }

    fn change_password(
        &self,
        id: u64,
        current: &str,
        new: &str,
        keep: Option<u64>,
        now_ms: u64,
        cost: HashCost,
    ) -> Result<(), AccountError> {
        let phc: String = self.conn().query_row(
            "SELECT password_hash FROM accounts WHERE id = ?1",
            [id as i64],
            |r| r.get(0),
        )?;
        if phc.is_empty() {
            if !Self::recent_login(&self.conn(), id as i64, keep, now_ms)? {
                return Err(AccountError::RecentLoginRequired);
            }
        } else if !verify_password(current, &phc) {
            return Err(AccountError::InvalidCredentials);
        }
        let new_phc = hash_password(new, cost);
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        tx.execute(
            "UPDATE accounts SET password_hash = ?2 WHERE id = ?1",
            params![id as i64, new_phc],
        )?;
        tx.execute(
            "DELETE FROM auth_sessions WHERE account_id = ?1 AND id IS NOT ?2",
            params![id as i64, keep.map(|k| k as i64)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Deletes the account: its row, sessions and links go; its chat messages stay as written
    /// by [`DELETED_AUTHOR`].
    fn delete_account(
        &self,
        id: u64,
        password: &str,
        session: Option<u64>,
        now_ms: u64,
    ) -> Result<(), AccountError> {
        let (handle, phc): (String, String) = self.conn().query_row(
            "SELECT handle, password_hash FROM accounts WHERE id = ?1",
            [id as i64],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        if phc.is_empty() {
            if !Self::recent_login(&self.conn(), id as i64, session, now_ms)? {
                return Err(AccountError::RecentLoginRequired);
            }
        } else if !verify_password(password, &phc) {
            return Err(AccountError::InvalidCredentials);
        }
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        tx.execute(
            "UPDATE chat_messages SET author = ?2, author_key = 'deleted', client_id = 'deleted:' || seq WHERE author_key = ?1",
            params![format!("a:{handle}"), DELETED_AUTHOR],
        )?;
        // Its reviews (with everyone's comments on them) and its comments elsewhere go; the
        // change log tells offline clients to drop their copies.
        let mut gone: Vec<ChangeKind> = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT c.id, c.review_id FROM comments c JOIN reviews r ON r.id = c.review_id
                 WHERE c.account_id = ?1 AND r.account_id != ?1",
            )?;
            for row in stmt.query_map([id as i64], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })? {
                let (comment_id, review_id) = row?;
                gone.push(ChangeKind::CommentDeleted {
                    comment_id: comment_id as u64,
                    review_id: review_id as u64,
                });
            }
            let mut stmt = tx.prepare("SELECT id FROM reviews WHERE account_id = ?1")?;
            for row in stmt.query_map([id as i64], |r| r.get::<_, i64>(0))? {
                gone.push(ChangeKind::ReviewDeleted {
                    review_id: row? as u64,
                });
            }
        }
        for change in &gone {
            crate::store::record_change(&tx, change)?;
        }
        tx.execute(
            "DELETE FROM likes WHERE (kind = 'review' AND target_id IN (SELECT id FROM reviews WHERE account_id = ?1))
                OR (kind = 'comment' AND target_id IN (SELECT id FROM comments WHERE account_id = ?1
                    OR review_id IN (SELECT id FROM reviews WHERE account_id = ?1)))",
            [id as i64],
        )?;
        tx.execute(
            "DELETE FROM auth_sessions WHERE account_id = ?1",
            [id as i64],
        )?;
        tx.execute(
            "DELETE FROM provider_links WHERE account_id = ?1",
            [id as i64],
        )?;
        tx.execute("DELETE FROM accounts WHERE id = ?1", [id as i64])?;
        tx.commit()?;
        Ok(())
    }

    fn provider_log_in(
        &self,
        provider: &str,
        subject: &str,
        at: &SessionParams<'_>,
    ) -> Result<Option<(Account, NewSession)>, AccountError> {
        let conn = self.conn();
        let account: Option<i64> = conn
            .query_row(
                "SELECT account_id FROM provider_links WHERE provider = ?1 AND subject = ?2",
                params![provider, subject],
                |r| r.get(0),
            )
            .optional()?;
        let Some(account) = account else {
            return Ok(None);
        };
        let method = format!("provider:{provider}");
        Ok(Some((
            Self::account(&conn, account)?,
            Self::new_session(&conn, account, &method, at)?,
        )))
    }

    fn provider_sign_up(
        &self,
        provider: &str,
        subject: &str,
        handle: &str,
        display_name: &str,
        at: &SessionParams<'_>,
    ) -> Result<(Account, NewSession), AccountError> {
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        let inserted = tx.execute(
            "INSERT INTO accounts (handle, display_name, password_hash, created_at_ms) VALUES (?1, ?2, '', ?3)
             ON CONFLICT(handle) DO NOTHING",
            params![handle, display_name, at.now_ms as i64],
        )?;
        if inserted == 0 {
            return Err(AccountError::HandleTaken);
        }
        let id = tx.last_insert_rowid();
        let linked = tx.execute(
            "INSERT INTO provider_links (provider, subject, account_id, linked_at_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            params![provider, subject, id, at.now_ms as i64],
        )?;
        if linked == 0 {
            // Linked by a concurrent first log-in: the transaction (and the account) is dropped.
            return Err(AccountError::IdentityTaken);
        }
        let result = (
            Self::account(&tx, id)?,
            Self::new_session(&tx, id, &format!("provider:{provider}"), at)?,
        );
        tx.commit()?;
        Ok(result)
    }

    fn handle_taken(&self, handle: &str) -> Result<bool, AccountError> {
        Ok(self
            .conn()
            .query_row("SELECT 1 FROM accounts WHERE handle = ?1", [handle], |_| {
                Ok(())
            })
            .optional()?
            .is_some())
    }

    fn link_provider(
        &self,
        account: u64,
        provider: &str,
        subject: &str,
        now_ms: u64,
    ) -> Result<(), AccountError> {
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        let owner: Option<i64> = tx
            .query_row(
                "SELECT account_id FROM provider_links WHERE provider = ?1 AND subject = ?2",
                params![provider, subject],
                |r| r.get(0),
            )
            .optional()?;
        match owner {
            Some(owner) if owner as u64 == account => return Ok(()),
            Some(_) => return Err(AccountError::IdentityTaken),
            None => {}
        }
        let inserted = tx.execute(
            "INSERT INTO provider_links (provider, subject, account_id, linked_at_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT DO NOTHING",
            params![provider, subject, account as i64, now_ms as i64],
        )?;
        if inserted == 0 {
            return Err(AccountError::ProviderAlreadyLinked);
        }
        tx.commit()?;
        Ok(())
    }

    fn unlink_provider(&self, account: u64, provider: &str) -> Result<(), AccountError> {
        let mut conn = self.conn();
        let tx = crate::store::write_tx(&mut conn)?;
        let (password, providers) = Self::login_methods_of(&tx, account as i64)?;
        if !providers.iter().any(|p| p.provider == provider) {
            return Err(AccountError::NotFound);
        }
        if !password && providers.len() == 1 {
            return Err(AccountError::LastLoginMethod);
        }
        tx.execute(
            "DELETE FROM provider_links WHERE account_id = ?1 AND provider = ?2",
            params![account as i64, provider],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn login_methods(&self, account: u64) -> Result<(bool, Vec<LinkedProvider>), AccountError> {
        Self::login_methods_of(&self.conn(), account as i64)
    }

    fn sessions_alive(
        &self,
        sessions: &[u64],
        now_ms: u64,
    ) -> Result<std::collections::HashSet<u64>, AccountError> {
        let ids = serde_json::to_string(sessions).expect("ids serialise");
        let conn = self.conn();
        let mut stmt = conn.prepare(
            "SELECT id FROM auth_sessions
             WHERE id IN (SELECT value FROM json_each(?1)) AND refresh_expires_at_ms > ?2",
        )?;
        let alive = stmt
            .query_map(params![ids, now_ms as i64], |r| r.get::<_, i64>(0))?
            .map(|id| id.map(|id| id as u64))
            .collect::<rusqlite::Result<_>>()?;
        Ok(alive)
    }

    fn session_alive(&self, session_id: u64, now_ms: u64) -> Result<bool, AccountError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT 1 FROM auth_sessions WHERE id = ?1 AND refresh_expires_at_ms > ?2",
                params![session_id as i64, now_ms as i64],
                |_| Ok(()),
            )
            .optional()?
            .is_some())
    }
}
