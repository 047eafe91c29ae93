//! [`AccountStore`] on PostgreSQL: the same rules as the SQLite store (`crate::accounts`).
//!
//! Where several relay instances may act on the same rows at once, row locks stand in for the
//! SQLite store's single connection: a refresh locks its session (so a refresh token raced by
//! two instances is spent once and the second presentation is reuse), unlinking a provider
//! locks the account (so two unlinks cannot together remove the last way to log in), and
//! deleting an account locks it (so nothing new of it slips past the change log).

use movietalk_protocol::relay::{Account, ChangeKind, LinkedProvider, SessionInfo};
use postgres::GenericClient;

use crate::accounts::{
    ACCOUNT_COLUMNS, AccountError, AccountStore, DELETED_AUTHOR, HashCost, LiveSession, NewSession,
    RECENT_LOGIN, SessionParams, fresh_tokens, hash_password, token_hash, verify_password,
};

use super::{PgStore, record};

impl From<postgres::Error> for AccountError {
    fn from(e: postgres::Error) -> Self {
        AccountError::Store(e.into())
    }
}

/// An account from the [`ACCOUNT_COLUMNS`] of `r`, starting at column `from`.
fn row_to_account(r: &postgres::Row, from: usize) -> Account {
    Account {
        id: r.get::<_, i64>(from) as u64,
        handle: r.get(from + 1),
        display_name: r.get(from + 2),
        bio: r.get(from + 3),
        avatar_url: r.get(from + 4),
    }
}

/// Opens a session for `account_id` (and drops its sessions that ran out).
fn new_session(
    c: &mut impl GenericClient,
    account_id: i64,
    method: &str,
    at: &SessionParams<'_>,
) -> Result<NewSession, AccountError> {
    let (access_token, access_expires_at_ms, refresh_token, refresh_expires_at_ms) =
        fresh_tokens(at);
    c.execute(
        "DELETE FROM auth_sessions WHERE account_id = $1 AND refresh_expires_at_ms <= $2",
        &[&account_id, &(at.now_ms as i64)],
    )?;
    let client: String = at.client.chars().take(80).collect();
    let session_id: i64 = c
        .query_one(
            "INSERT INTO auth_sessions (account_id, client, method, created_at_ms, last_used_at_ms, access_hash,
                                        access_expires_at_ms, refresh_hash, refresh_expires_at_ms)
             VALUES ($1, $2, $3, $4, $4, $5, $6, $7, $8)
             RETURNING id",
            &[
                &account_id,
                &client,
                &method,
                &(at.now_ms as i64),
                &token_hash(&access_token),
                &(access_expires_at_ms as i64),
                &token_hash(&refresh_token),
                &(refresh_expires_at_ms as i64),
            ],
        )?
        .get(0);
    Ok(NewSession {
        session_id: session_id as u64,
        access_token,
        access_expires_at_ms,
        refresh_token,
        refresh_expires_at_ms,
    })
}

fn account(c: &mut impl GenericClient, id: i64) -> Result<Account, AccountError> {
    let row = c.query_one(
        &format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1"),
        &[&id],
    )?;
    Ok(row_to_account(&row, 0))
}

/// Whether `session` of `account` began within [`RECENT_LOGIN`] of `now_ms`.
fn recent_login(
    c: &mut impl GenericClient,
    account: i64,
    session: Option<u64>,
    now_ms: u64,
) -> Result<bool, AccountError> {
    let Some(session) = session else {
        return Ok(false);
    };
    let created: Option<i64> = c
        .query_opt(
            "SELECT created_at_ms FROM auth_sessions WHERE id = $1 AND account_id = $2",
            &[&(session as i64), &account],
        )?
        .map(|r| r.get(0));
    Ok(created.is_some_and(|c| now_ms.saturating_sub(c as u64) <= RECENT_LOGIN.as_millis() as u64))
}

fn login_methods_of(
    c: &mut impl GenericClient,
    account: i64,
) -> Result<(bool, Vec<LinkedProvider>), AccountError> {
    let password: String = c
        .query_one(
            "SELECT password_hash FROM accounts WHERE id = $1",
            &[&account],
        )?
        .get(0);
    let providers = c
        .query(
            "SELECT provider, linked_at_ms FROM provider_links WHERE account_id = $1 ORDER BY provider COLLATE \"C\"",
            &[&account],
        )?
        .iter()
        .map(|r| LinkedProvider {
            provider: r.get(0),
            linked_at_ms: r.get::<_, i64>(1) as u64,
        })
        .collect();
    Ok((!password.is_empty(), providers))
}

/// The account's password hash and, when it has none, whether `session` is a recent log-in.
fn password_or_recent_login(
    c: &mut impl GenericClient,
    id: i64,
    session: Option<u64>,
    now_ms: u64,
) -> Result<(String, String, bool), AccountError> {
    let row = c.query_one(
        "SELECT handle, password_hash FROM accounts WHERE id = $1",
        &[&id],
    )?;
    let (handle, phc): (String, String) = (row.get(0), row.get(1));
    let recent = phc.is_empty() && recent_login(c, id, session, now_ms)?;
    Ok((handle, phc, recent))
}

/// The owner of the identity (`provider`, `subject`), if it is linked.
fn identity_owner(
    c: &mut impl GenericClient,
    provider: &str,
    subject: &str,
) -> Result<Option<i64>, AccountError> {
    Ok(c.query_opt(
        "SELECT account_id FROM provider_links WHERE provider = $1 AND subject = $2",
        &[&provider, &subject],
    )?
    .map(|r| r.get(0)))
}

impl AccountStore for PgStore {
    fn sign_up(
        &self,
        handle: &str,
        password: &str,
        display_name: &str,
        cost: HashCost,
        at: &SessionParams<'_>,
    ) -> Result<(Account, NewSession), AccountError> {
        // Hash before taking a connection: it is deliberately slow.
        let phc = hash_password(password, cost);
        self.with_once(|c| {
            let mut tx = c.transaction()?;
            // ON CONFLICT waits for a concurrent sign-up with the same handle and, if that one
            // commits, inserts nothing: the unique key decides, not the check.
            let id: Option<i64> = tx
                .query_opt(
                    "INSERT INTO accounts (handle, display_name, password_hash, created_at_ms) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (handle) DO NOTHING
                     RETURNING id",
                    &[&handle, &display_name, &phc, &(at.now_ms as i64)],
                )?
                .map(|r| r.get(0));
            let Some(id) = id else {
                return Err(AccountError::HandleTaken);
            };
            let result = (
                account(&mut tx, id)?,
                new_session(&mut tx, id, "password", at)?,
            );
            tx.commit()?;
            Ok(result)
        })
    }

    fn log_in(
        &self,
        handle: &str,
        password: &str,
        at: &SessionParams<'_>,
    ) -> Result<(Account, NewSession), AccountError> {
        let found = self.with(|c| -> Result<Option<(i64, String)>, AccountError> {
            Ok(c.query_opt(
                "SELECT id, password_hash FROM accounts WHERE handle = $1",
                &[&handle],
            )?
            .map(|r| (r.get(0), r.get(1))))
        })?;
        let Some((id, phc)) = found.filter(|(_, phc)| !phc.is_empty()) else {
            // Spend the same effort as for a real account, so timing does not reveal handles
            // (nor which accounts have no password).
            crate::accounts::verify_nothing(password);
            return Err(AccountError::InvalidCredentials);
        };
        if !verify_password(password, &phc) {
            return Err(AccountError::InvalidCredentials);
        }
        // The password checked must still be the account's when the session opens: a password
        // change (which ends every other session) waits for this row lock, or came first and
        // refuses this log-in.
        self.with_once(|c| {
            let mut tx = c.transaction()?;
            let current: Option<String> = tx
                .query_opt(
                    "SELECT password_hash FROM accounts WHERE id = $1 FOR SHARE",
                    &[&id],
                )?
                .map(|r| r.get(0));
            if current.as_deref() != Some(phc.as_str()) {
                return Err(AccountError::InvalidCredentials);
            }
            let opened = (
                account(&mut tx, id)?,
                new_session(&mut tx, id, "password", at)?,
            );
            tx.commit()?;
            Ok(opened)
        })
    }

    fn authenticate(
        &self,
        access_token: &str,
        now_ms: u64,
    ) -> Result<(Account, LiveSession), AccountError> {
        let hash = token_hash(access_token);
        self.with(|c| {
            // Find the live session, mark it used and read its account in one statement.
            let row = c
                .query_opt(
                    &format!(
                        "WITH s AS (
                             UPDATE auth_sessions SET last_used_at_ms = GREATEST(last_used_at_ms, $2)
                             WHERE access_hash = $1 AND access_expires_at_ms > $2
                             RETURNING id AS session_id, account_id, access_expires_at_ms
                         )
                         SELECT s.session_id, s.access_expires_at_ms, {ACCOUNT_COLUMNS}
                         FROM s JOIN accounts ON accounts.id = s.account_id"
                    ),
                    &[&hash, &(now_ms as i64)],
                )?
                .ok_or(AccountError::InvalidToken)?;
            Ok((
                row_to_account(&row, 2),
                LiveSession {
                    session_id: row.get::<_, i64>(0) as u64,
                    access_expires_at_ms: row.get::<_, i64>(1) as u64,
                },
            ))
        })
    }

    fn refresh(
        &self,
        refresh_token: &str,
        at: &SessionParams<'_>,
    ) -> Result<(Account, NewSession), AccountError> {
        let hash = token_hash(refresh_token);
        self.with_once(|c| {
            let mut tx = c.transaction()?;
            // The row lock makes a concurrent refresh with the same token wait; once this one
            // commits, that one no longer finds the token current and sees it spent (reuse).
            let current: Option<(i64, i64, i64)> = tx
                .query_opt(
                    "SELECT id, account_id, refresh_expires_at_ms FROM auth_sessions WHERE refresh_hash = $1
                     FOR UPDATE",
                    &[&hash],
                )?
                .map(|r| (r.get(0), r.get(1), r.get(2)));
            let Some((session, account_id, expires)) = current else {
                // Not the current refresh token of any session: a spent one means reuse.
                let spent: Option<(i64, i64)> = tx
                    .query_opt(
                        "SELECT s.session_id, a.account_id FROM spent_refresh_tokens s
                         JOIN auth_sessions a ON a.id = s.session_id WHERE s.token_hash = $1",
                        &[&hash],
                    )?
                    .map(|r| (r.get(0), r.get(1)));
                return match spent {
                    Some((session, account)) => {
                        tx.execute("DELETE FROM auth_sessions WHERE id = $1", &[&session])?;
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
                tx.execute("DELETE FROM auth_sessions WHERE id = $1", &[&session])?;
                tx.commit()?;
                return Err(AccountError::InvalidToken);
            }
            let (access_token, access_expires_at_ms, new_refresh, refresh_expires_at_ms) =
                fresh_tokens(at);
            tx.execute(
                "INSERT INTO spent_refresh_tokens (token_hash, session_id) VALUES ($1, $2)",
                &[&hash, &session],
            )?;
            tx.execute(
                "UPDATE auth_sessions SET access_hash = $2, access_expires_at_ms = $3, refresh_hash = $4,
                                          refresh_expires_at_ms = $5, last_used_at_ms = $6
                 WHERE id = $1",
                &[
                    &session,
                    &token_hash(&access_token),
                    &(access_expires_at_ms as i64),
                    &token_hash(&new_refresh),
                    &(refresh_expires_at_ms as i64),
                    &(at.now_ms as i64),
                ],
            )?;
            let acc = account(&mut tx, account_id)?;
            tx.commit()?;
            let new = NewSession {
                session_id: session as u64,
                access_token,
                access_expires_at_ms,
                refresh_token: new_refresh,
                refresh_expires_at_ms,
            };
            Ok((acc, new))
        })
    }

    fn revoke_session(&self, account: u64, session_id: u64) -> Result<(), AccountError> {
        self.with_once(|c| {
            let n = c.execute(
                "DELETE FROM auth_sessions WHERE id = $1 AND account_id = $2",
                &[&(session_id as i64), &(account as i64)],
            )?;
            if n == 0 {
                Err(AccountError::NotFound)
            } else {
                Ok(())
            }
        })
    }

    fn sessions(&self, account: u64, now_ms: u64) -> Result<Vec<SessionInfo>, AccountError> {
        self.with(|c| {
            let rows = c.query(
                "SELECT id, client, method, created_at_ms, last_used_at_ms, refresh_expires_at_ms FROM auth_sessions
                 WHERE account_id = $1 AND refresh_expires_at_ms > $2 ORDER BY last_used_at_ms DESC, id DESC",
                &[&(account as i64), &(now_ms as i64)],
            )?;
            Ok(rows
                .iter()
                .map(|r| SessionInfo {
                    id: r.get::<_, i64>(0) as u64,
                    client: r.get(1),
                    method: r.get(2),
                    created_at_ms: r.get::<_, i64>(3) as u64,
                    last_used_at_ms: r.get::<_, i64>(4) as u64,
                    expires_at_ms: r.get::<_, i64>(5) as u64,
                    current: false,
                })
                .collect())
        })
    }

    fn update_profile(
        &self,
        id: u64,
        display_name: Option<&str>,
        bio: Option<&str>,
        avatar_url: Option<&str>,
    ) -> Result<Account, AccountError> {
        self.with(|c| {
            let row = c.query_one(
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
        })
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
        let (_, phc, recent) =
            self.with(|c| password_or_recent_login(c, id as i64, keep, now_ms))?;
        if phc.is_empty() {
            if !recent {
                return Err(AccountError::RecentLoginRequired);
            }
        } else if !verify_password(current, &phc) {
            return Err(AccountError::InvalidCredentials);
        }
        let new_phc = hash_password(new, cost);
        self.with(|c| {
            let mut tx = c.transaction()?;
            tx.execute(
                "UPDATE accounts SET password_hash = $2 WHERE id = $1",
                &[&(id as i64), &new_phc],
            )?;
            tx.execute(
                "DELETE FROM auth_sessions WHERE account_id = $1 AND id IS DISTINCT FROM $2",
                &[&(id as i64), &keep.map(|k| k as i64)],
            )?;
            tx.commit()?;
            Ok(())
        })
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
        let (handle, phc, recent) =
            self.with(|c| password_or_recent_login(c, id as i64, session, now_ms))?;
        if phc.is_empty() {
            if !recent {
                return Err(AccountError::RecentLoginRequired);
            }
        } else if !verify_password(password, &phc) {
            return Err(AccountError::InvalidCredentials);
        }
        let id = id as i64;
        self.with_once(|c| {
            let mut tx = c.transaction()?;
            // Locking the account makes reviews, comments and likes of it that other instances
            // are writing either commit first (and be seen below) or fail their foreign key.
            tx.execute("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", &[&id])?;
            // Then what goes with it, so that no like lands on it meanwhile and every lock is
            // taken before the change log's, which is always a transaction's last (the other
            // writers take row locks first too).
            let reviews: Vec<i64> = tx
                .query(
                    "SELECT id FROM reviews WHERE account_id = $1 ORDER BY id FOR UPDATE",
                    &[&id],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            // Its comments, and everyone's on its reviews: (id, review, on someone else's review).
            let comments: Vec<(i64, i64, bool)> = tx
                .query(
                    "SELECT c.id, c.review_id, r.account_id != $1 FROM comments c JOIN reviews r ON r.id = c.review_id
                     WHERE c.account_id = $1 OR c.review_id = ANY($2) ORDER BY c.id FOR UPDATE OF c",
                    &[&id, &reviews],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect();
            tx.execute(
                "UPDATE chat_messages SET author = $2, author_key = 'deleted', client_id = 'deleted:' || seq
                 WHERE author_key = $1",
                &[&format!("a:{handle}"), &DELETED_AUTHOR],
            )?;
            let comment_ids: Vec<i64> = comments.iter().map(|c| c.0).collect();
            tx.execute(
                "DELETE FROM likes WHERE kind = 'review' AND target_id = ANY($1)",
                &[&reviews],
            )?;
            tx.execute(
                "DELETE FROM likes WHERE kind = 'comment' AND target_id = ANY($1)",
                &[&comment_ids],
            )?;
            tx.execute("DELETE FROM auth_sessions WHERE account_id = $1", &[&id])?;
            tx.execute("DELETE FROM provider_links WHERE account_id = $1", &[&id])?;
            tx.execute("DELETE FROM accounts WHERE id = $1", &[&id])?;
            // Its reviews (with everyone's comments on them) and its comments elsewhere went;
            // the change log tells offline clients to drop their copies.
            let gone = comments
                .iter()
                .filter(|(_, _, elsewhere)| *elsewhere)
                .map(|&(comment_id, review_id, _)| ChangeKind::CommentDeleted {
                    comment_id: comment_id as u64,
                    review_id: review_id as u64,
                })
                .chain(reviews.iter().map(|&review_id| ChangeKind::ReviewDeleted {
                    review_id: review_id as u64,
                }));
            for change in gone {
                record(&mut tx, &change)?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn provider_log_in(
        &self,
        provider: &str,
        subject: &str,
        at: &SessionParams<'_>,
    ) -> Result<Option<(Account, NewSession)>, AccountError> {
        self.with_once(|c| {
            let Some(account_id) = identity_owner(c, provider, subject)? else {
                return Ok(None);
            };
            let method = format!("provider:{provider}");
            Ok(Some((
                account(c, account_id)?,
                new_session(c, account_id, &method, at)?,
            )))
        })
    }

    fn provider_sign_up(
        &self,
        provider: &str,
        subject: &str,
        handle: &str,
        display_name: &str,
        at: &SessionParams<'_>,
    ) -> Result<(Account, NewSession), AccountError> {
        self.with_once(|c| {
            let mut tx = c.transaction()?;
            let id: Option<i64> = tx
                .query_opt(
                    "INSERT INTO accounts (handle, display_name, password_hash, created_at_ms) VALUES ($1, $2, '', $3)
                     ON CONFLICT (handle) DO NOTHING
                     RETURNING id",
                    &[&handle, &display_name, &(at.now_ms as i64)],
                )?
                .map(|r| r.get(0));
            let Some(id) = id else {
                return Err(AccountError::HandleTaken);
            };
            let linked = tx.execute(
                "INSERT INTO provider_links (provider, subject, account_id, linked_at_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[&provider, &subject, &id, &(at.now_ms as i64)],
            )?;
            if linked == 0 {
                // Linked by a concurrent first log-in: the transaction (and the account) is
                // dropped.
                return Err(AccountError::IdentityTaken);
            }
            let result = (
                account(&mut tx, id)?,
                new_session(&mut tx, id, &format!("provider:{provider}"), at)?,
            );
            tx.commit()?;
            Ok(result)
        })
    }

    fn handle_taken(&self, handle: &str) -> Result<bool, AccountError> {
        self.with(|c| {
            Ok(
                c.query_opt("SELECT 1 FROM accounts WHERE handle = $1", &[&handle])?
                    .is_some(),
            )
        })
    }

    fn link_provider(
        &self,
        account: u64,
        provider: &str,
        subject: &str,
        now_ms: u64,
    ) -> Result<(), AccountError> {
        // Who owns the identity decides first: this account (nothing to do), another one
        // (taken); otherwise a conflict is this account's link to another identity.
        let decide = |owner: Option<i64>| match owner {
            Some(owner) if owner as u64 == account => Some(Ok(())),
            Some(_) => Some(Err(AccountError::IdentityTaken)),
            None => None,
        };
        self.with_once(|c| {
            let mut tx = c.transaction()?;
            if let Some(done) = decide(identity_owner(&mut tx, provider, subject)?) {
                return done;
            }
            let inserted = tx.execute(
                "INSERT INTO provider_links (provider, subject, account_id, linked_at_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT DO NOTHING",
                &[&provider, &subject, &(account as i64), &(now_ms as i64)],
            )?;
            if inserted == 0 {
                // Another instance may have linked the identity since the check above (the
                // conflict waited for it to commit, so this statement sees it).
                return decide(identity_owner(&mut tx, provider, subject)?)
                    .unwrap_or(Err(AccountError::ProviderAlreadyLinked));
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn unlink_provider(&self, account: u64, provider: &str) -> Result<(), AccountError> {
        let account = account as i64;
        self.with_once(|c| {
            let mut tx = c.transaction()?;
            // Two unlinks at once must not together leave the account no way to log in.
            tx.execute(
                "SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE",
                &[&account],
            )?;
            let (password, providers) = login_methods_of(&mut tx, account)?;
            if !providers.iter().any(|p| p.provider == provider) {
                return Err(AccountError::NotFound);
            }
            if !password && providers.len() == 1 {
                return Err(AccountError::LastLoginMethod);
            }
            tx.execute(
                "DELETE FROM provider_links WHERE account_id = $1 AND provider = $2",
                &[&account, &provider],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    fn login_methods(&self, account: u64) -> Result<(bool, Vec<LinkedProvider>), AccountError> {
        self.with(|c| login_methods_of(c, account as i64))
    }

    fn sessions_alive(
        &self,
        sessions: &[u64],
        now_ms: u64,
    ) -> Result<std::collections::HashSet<u64>, AccountError> {
        let ids: Vec<i64> = sessions.iter().map(|&id| id as i64).collect();
        self.with(|c| {
            let rows = c.query(
                "SELECT id FROM auth_sessions WHERE id = ANY($1) AND refresh_expires_at_ms > $2",
                &[&ids, &(now_ms as i64)],
            )?;
            Ok(rows.iter().map(|r| r.get::<_, i64>(0) as u64).collect())
        })
    }

    fn session_alive(&self, session_id: u64, now_ms: u64) -> Result<bool, AccountError> {
        self.with(|c| {
            Ok(c.query_opt(
                "SELECT 1 FROM auth_sessions WHERE id = $1 AND refresh_expires_at_ms > $2",
                &[&(session_id as i64), &(now_ms as i64)],
            )?
            .is_some())
        })
    }
}
