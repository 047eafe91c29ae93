//! The account rules, written once over the rows of any store ([`Transact`]): what the module
//! doc of `crate::accounts` promises, for SQLite and PostgreSQL alike.

use std::collections::HashSet;

use movietalk_protocol::relay::{Account, ChangeKind, LinkedProvider, SessionInfo};

use super::*;
use crate::store::rows::{Access, NewAccount, Rows, SessionRow, TokenRow, Transact};

/// Opens a session for `account` (and drops its sessions that ran out).
fn new_session(
    rows: &mut dyn Rows,
    account: u64,
    method: &str,
    at: &SessionParams<'_>,
) -> Result<NewSession, AccountError> {
    let (access_token, access_expires_at_ms, refresh_token, refresh_expires_at_ms) =
        fresh_tokens(at);
    rows.delete_expired_sessions(account, at.now_ms)?;
    let client: String = at.client.chars().take(80).collect();
    let session_id = rows.insert_session(&SessionRow {
        account,
        client: &client,
        method,
        tokens: TokenRow {
            now_ms: at.now_ms,
            access_hash: &token_hash(&access_token),
            access_expires_at_ms,
            refresh_hash: &token_hash(&refresh_token),
            refresh_expires_at_ms,
        },
    })?;
    Ok(NewSession {
        session_id,
        access_token,
        access_expires_at_ms,
        refresh_token,
        refresh_expires_at_ms,
    })
}

/// The account and a new session for it.
fn opened(
    rows: &mut dyn Rows,
    account: u64,
    method: &str,
    at: &SessionParams<'_>,
) -> Result<(Account, NewSession), AccountError> {
    Ok((
        rows.account(account)?,
        new_session(rows, account, method, at)?,
    ))
}

/// Checks `password` against the account's, or, for an account without one, that its
/// `session` began within [`RECENT_LOGIN`] of `now_ms`; the account's handle.
fn check_password(
    store: &impl Transact,
    id: u64,
    password: &str,
    session: Option<u64>,
    now_ms: u64,
) -> Result<String, AccountError> {
    let (handle, phc, created) = store.rows(Access::Plain, |rows| {
        let (handle, phc) = rows.handle_and_password(id)?;
        let created = match session {
            Some(session) if phc.is_empty() => rows.session_created(id, session)?,
            _ => None,
        };
        Ok::<_, StoreError>((handle, phc, created))
    })?;
    if phc.is_empty() {
        let recent =
            created.is_some_and(|c| now_ms.saturating_sub(c) <= RECENT_LOGIN.as_millis() as u64);
        if !recent {
            return Err(AccountError::RecentLoginRequired);
        }
    } else if !verify_password(password, &phc) {
        return Err(AccountError::InvalidCredentials);
    }
    Ok(handle)
}

fn login_methods_of(
    rows: &mut dyn Rows,
    account: u64,
) -> Result<(bool, Vec<LinkedProvider>), StoreError> {
    let (_, password) = rows.handle_and_password(account)?;
    Ok((!password.is_empty(), rows.links(account)?))
}

impl<S: Transact> AccountStore for S {
    fn sign_up(
        &self,
        handle: &str,
        password: &str,
        display_name: &str,
        cost: HashCost,
        at: &SessionParams<'_>,
    ) -> Result<(Account, NewSession), AccountError> {
        // Hash outside the store: it is deliberately slow.
        let phc = hash_password(password, cost);
        let new = NewAccount {
            handle,
            display_name,
            password_hash: &phc,
            now_ms: at.now_ms,
        };
        self.rows(Access::TxOnce, |rows| {
            // The unique key decides between two sign-ups with one handle, not a look-up.
            let id = rows
                .insert_account(&new)?
                .ok_or(AccountError::HandleTaken)?;
            opened(rows, id, "password", at)
        })
    }

    fn log_in(
        &self,
        handle: &str,
        password: &str,
        at: &SessionParams<'_>,
    ) -> Result<(Account, NewSession), AccountError> {
        let found = self.rows(Access::Plain, |rows| rows.credentials(handle))?;
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
        // change (which ends every other session) waits for the lock, or came first and
        // refuses this log-in.
        self.rows(Access::TxOnce, |rows| {
            if rows.lock_password(id)?.as_deref() != Some(phc.as_str()) {
                return Err(AccountError::InvalidCredentials);
            }
            opened(rows, id, "password", at)
        })
    }

    fn authenticate(
        &self,
        access_token: &str,
        now_ms: u64,
    ) -> Result<(Account, LiveSession), AccountError> {
        let hash = token_hash(access_token);
        let (account, session_id, access_expires_at_ms) = self
            .rows(Access::Plain, |rows| rows.use_access(&hash, now_ms))?
            .ok_or(AccountError::InvalidToken)?;
        Ok((
            account,
            LiveSession {
                session_id,
                access_expires_at_ms,
            },
        ))
    }

    fn refresh(
        &self,
        refresh_token: &str,
        at: &SessionParams<'_>,
    ) -> Result<(Account, NewSession), AccountError> {
        let hash = token_hash(refresh_token);
        // The lock makes a concurrent refresh with the same token wait; once this one commits,
        // that one no longer finds the token current and sees it spent (reuse).
        let outcome = self.rows(Access::TxOnce, |rows| {
            let Some((session, account, expires)) = rows.lock_refresh(&hash)? else {
                // Not the current refresh token of any session: a spent one means reuse.
                return Ok(match rows.spent_refresh(&hash)? {
                    Some((session, account)) => {
                        rows.delete_session(session)?;
                        Err(AccountError::TokenReused { account, session })
                    }
                    None => Err(AccountError::InvalidToken),
                });
            };
            if expires <= at.now_ms {
                rows.delete_session(session)?;
                return Ok(Err(AccountError::InvalidToken));
            }
            let (access_token, access_expires_at_ms, new_refresh, refresh_expires_at_ms) =
                fresh_tokens(at);
            rows.spend_refresh(&hash, session)?;
            rows.rotate_session(
                session,
                &TokenRow {
                    now_ms: at.now_ms,
                    access_hash: &token_hash(&access_token),
                    access_expires_at_ms,
                    refresh_hash: &token_hash(&new_refresh),
                    refresh_expires_at_ms,
                },
            )?;
            let new = NewSession {
                session_id: session,
                access_token,
                access_expires_at_ms,
                refresh_token: new_refresh,
                refresh_expires_at_ms,
            };
            Ok::<_, AccountError>(Ok((rows.account(account)?, new)))
        })?;
        if let Err(AccountError::TokenReused { session, .. }) = &outcome {
            tracing::warn!(
                session,
                "a spent refresh token was presented again; session revoked"
            );
        }
        outcome
    }

    fn revoke_session(&self, account: u64, session_id: u64) -> Result<(), AccountError> {
        match self.rows(Access::PlainOnce, |rows| {
            rows.delete_session_of(account, session_id)
        })? {
            true => Ok(()),
            false => Err(AccountError::NotFound),
        }
    }

    fn sessions(&self, account: u64, now_ms: u64) -> Result<Vec<SessionInfo>, AccountError> {
        Ok(self.rows(Access::Plain, |rows| rows.sessions(account, now_ms))?)
    }

    fn update_profile(
        &self,
        id: u64,
        display_name: Option<&str>,
        bio: Option<&str>,
        avatar_url: Option<&str>,
    ) -> Result<Account, AccountError> {
        let fields = [display_name, bio, avatar_url];
        Ok(self.rows(Access::Plain, |rows| rows.update_profile(id, fields))?)
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
        check_password(self, id, current, keep, now_ms)?;
        let new_phc = hash_password(new, cost);
        Ok(self.rows(Access::Tx, |rows| {
            rows.set_password(id, &new_phc)?;
            rows.delete_sessions_except(id, keep)
        })?)
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
        let handle = check_password(self, id, password, session, now_ms)?;
        Ok(self.rows(Access::TxOnce, |rows| {
            // Locking the account makes reviews, comments and likes of it that other writers
            // are storing either commit first (and be seen below) or fail their foreign key.
            rows.lock_account(id)?;
            // Then what goes with it, so that no like lands on it meanwhile and every lock is
            // taken before the change log's, which is always a transaction's last.
            let reviews = rows.lock_reviews_of(id)?;
            let comments = rows.lock_comments_of(id, &reviews)?;
            rows.anonymise_messages(&crate::store::author_key(&handle, false), DELETED_AUTHOR)?;
            let comment_ids: Vec<u64> = comments.iter().map(|c| c.0).collect();
            rows.delete_likes("review", &reviews)?;
            rows.delete_likes("comment", &comment_ids)?;
            rows.delete_sessions_except(id, None)?;
            rows.delete_links(id, None)?;
            rows.delete_account(id)?;
            // Its reviews (with everyone's comments on them) and its comments elsewhere went;
            // the change log tells offline clients to drop their copies.
            let gone = comments
                .iter()
                .filter(|(_, _, elsewhere)| *elsewhere)
                .map(|&(comment_id, review_id, _)| ChangeKind::CommentDeleted {
                    comment_id,
                    review_id,
                })
                .chain(
                    reviews
                        .iter()
                        .map(|&review_id| ChangeKind::ReviewDeleted { review_id }),
                );
            for change in gone {
                rows.record(&change)?;
            }
            Ok::<_, StoreError>(())
        })?)
    }

    fn provider_log_in(
        &self,
        provider: &str,
        subject: &str,
        at: &SessionParams<'_>,
    ) -> Result<Option<(Account, NewSession)>, AccountError> {
        self.rows(Access::PlainOnce, |rows| {
            let Some(account) = rows.identity_owner(provider, subject)? else {
                return Ok(None);
            };
            opened(rows, account, &format!("provider:{provider}"), at).map(Some)
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
        let new = NewAccount {
            handle,
            display_name,
            password_hash: "",
            now_ms: at.now_ms,
        };
        self.rows(Access::TxOnce, |rows| {
            let id = rows
                .insert_account(&new)?
                .ok_or(AccountError::HandleTaken)?;
            if !rows.insert_link([provider, subject], id, at.now_ms)? {
                // Linked by a concurrent first log-in: the transaction (and the account) is
                // dropped.
                return Err(AccountError::IdentityTaken);
            }
            opened(rows, id, &format!("provider:{provider}"), at)
        })
    }

    fn handle_taken(&self, handle: &str) -> Result<bool, AccountError> {
        Ok(self.rows(Access::Plain, |rows| rows.handle_taken(handle))?)
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
        let decide = |owner: Option<u64>| match owner {
            Some(owner) if owner == account => Some(Ok(())),
            Some(_) => Some(Err(AccountError::IdentityTaken)),
            None => None,
        };
        self.rows(Access::TxOnce, |rows| {
            if let Some(done) = decide(rows.identity_owner(provider, subject)?) {
                return done;
            }
            if !rows.insert_link([provider, subject], account, now_ms)? {
                // Another writer may have linked the identity since the check above (the
                // conflict waited for it to commit, so this look-up sees it).
                return decide(rows.identity_owner(provider, subject)?)
                    .unwrap_or(Err(AccountError::ProviderAlreadyLinked));
            }
            Ok(())
        })
    }

    fn unlink_provider(&self, account: u64, provider: &str) -> Result<(), AccountError> {
        self.rows(Access::TxOnce, |rows| {
            // Two unlinks at once must not together leave the account no way to log in.
            rows.lock_account(account)?;
            let (password, providers) = login_methods_of(rows, account)?;
            if !providers.iter().any(|p| p.provider == provider) {
                return Err(AccountError::NotFound);
            }
            if !password && providers.len() == 1 {
                return Err(AccountError::LastLoginMethod);
            }
            Ok(rows.delete_links(account, Some(provider))?)
        })
    }

    fn login_methods(&self, account: u64) -> Result<(bool, Vec<LinkedProvider>), AccountError> {
        Ok(self.rows(Access::Plain, |rows| login_methods_of(rows, account))?)
    }

    fn sessions_alive(&self, sessions: &[u64], now_ms: u64) -> Result<HashSet<u64>, AccountError> {
        Ok(self.rows(Access::Plain, |rows| rows.sessions_alive(sessions, now_ms))?)
    }

    fn session_alive(&self, session_id: u64, now_ms: u64) -> Result<bool, AccountError> {
        Ok(self
            .sessions_alive(&[session_id], now_ms)?
            .contains(&session_id))
    }
}
