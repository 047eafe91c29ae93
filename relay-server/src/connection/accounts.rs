//! Requests about accounts and sessions: sign-up, log-in (password or provider), tokens,
//! sessions, profile, password, deletion. A session that ends here ends on every connection
//! holding it (`crate::sessions`).

use movietalk_protocol::relay::{
    ClientMessage, ErrorCode, ServerMessage, validate_avatar_url, validate_bio, validate_handle,
    validate_name, validate_password,
};

use super::answers::{account_error, not_logged_in, verify_error};
use super::handler::{Handler, blocking};
use super::session::Session;
use crate::accounts::AccountError;
use crate::oidc::{Identity, VerifyError};
use crate::sessions::{Ended, Why};

impl Handler {
    /// Answers an account or session request.
    pub(super) async fn account_request(
        &self,
        req: u64,
        msg: ClientMessage,
        session: &mut Session,
    ) -> ServerMessage {
        match msg {
            ClientMessage::SignUp {
                handle,
                password,
                display_name,
            } => {
                let display = display_name.unwrap_or_else(|| handle.clone());
                match validate_handle(&handle)
                    .and_then(|()| validate_password(&password))
                    .and_then(|()| validate_name(&display))
                {
                    Err(e) => {
                        ServerMessage::error(Some(req), ErrorCode::InvalidInput, e.to_string())
                    }
                    Ok(()) => {
                        let (cost, at) = (self.config.hash_cost, self.owned_params(session));
                        let display = display.trim().to_owned();
                        let signed_up = self
                            .hashing_call(move |a| {
                                a.sign_up(&handle, &password, &display, cost, &at.params())
                            })
                            .await;
                        match signed_up {
                            Ok((account, new)) => self.started(req, session, account, new),
                            Err(e) => account_error(req, e),
                        }
                    }
                }
            }
            ClientMessage::LogIn { handle, password } => {
                let at = self.owned_params(session);
                match self
                    .hashing_call(move |a| {
                        a.log_in(&handle.to_lowercase(), &password, &at.params())
                    })
                    .await
                {
                    Ok((account, new)) => self.started(req, session, account, new),
                    Err(e) => account_error(req, e),
                }
            }
            ClientMessage::Authenticate { token } => match blocking(|| {
                self.accounts
                    .authenticate(&token, self.config.clock.now_ms())
            }) {
                Ok((account, live)) => self.resumed(req, session, account, live),
                Err(e) => account_error(req, e),
            },
            ClientMessage::Refresh { refresh_token } => {
                match blocking(|| self.accounts.refresh(&refresh_token, &self.params(session))) {
                    Ok((account, new)) => self.started(req, session, account, new),
                    Err(
                        e @ AccountError::TokenReused {
                            account,
                            session: ended,
                        },
                    ) => {
                        // Someone else may hold the session's tokens: it ends everywhere,
                        // this connection included if it was acting in it.
                        self.hub.end_sessions(
                            account,
                            Ended::One { session: ended },
                            Some(session.conn),
                            Why::RefreshTokenReused,
                        );
                        if session.session_id == Some(ended) {
                            self.become_guest(session);
                        }
                        account_error(req, e)
                    }
                    Err(e) => account_error(req, e),
                }
            }
            ClientMessage::ListSessions {} => match &session.account {
                None => not_logged_in(req),
                Some(account) => match self
                    .accounts
                    .sessions(account.id, self.config.clock.now_ms())
                {
                    Ok(mut sessions) => {
                        for s in &mut sessions {
                            s.current = Some(s.id) == session.session_id;
                        }
                        ServerMessage::Sessions { req, sessions }
                    }
                    Err(e) => account_error(req, e),
                },
            },
            ClientMessage::RevokeSession { session_id } => match &session.account {
                None => not_logged_in(req),
                Some(account) => {
                    match blocking(|| self.accounts.revoke_session(account.id, session_id)) {
                        Ok(()) => {
                            self.hub.end_sessions(
                                account.id,
                                Ended::One {
                                    session: session_id,
                                },
                                Some(session.conn),
                                Why::Revoked,
                            );
                            if session.session_id == Some(session_id) {
                                self.become_guest(session);
                            }
                            ServerMessage::Ok { req }
                        }
                        Err(e) => account_error(req, e),
                    }
                }
            },
            ClientMessage::ProviderLogin {
                provider,
                id_token,
                access_token,
                nonce,
                handle,
            } => match self.verify(&provider, id_token, access_token, nonce).await {
                Err(e) => verify_error(req, e),
                Ok(identity) => self.provider_login(req, session, identity, handle),
            },
            ClientMessage::LinkProvider {
                provider,
                id_token,
                access_token,
                nonce,
            } => match session.account.clone() {
                None => not_logged_in(req),
                Some(account) => {
                    match self.verify(&provider, id_token, access_token, nonce).await {
                        Err(e) => verify_error(req, e),
                        Ok(identity) => {
                            match blocking(|| {
                                self.accounts.link_provider(
                                    account.id,
                                    &identity.provider,
                                    &identity.subject,
                                    self.config.clock.now_ms(),
                                )
                            }) {
                                Ok(()) => self.login_methods(req, account.id),
                                Err(e) => account_error(req, e),
                            }
                        }
                    }
                }
            },
            ClientMessage::UnlinkProvider { provider } => match &session.account {
                None => not_logged_in(req),
                Some(account) => {
                    match blocking(|| self.accounts.unlink_provider(account.id, &provider)) {
                        Ok(()) => self.login_methods(req, account.id),
                        Err(e) => account_error(req, e),
                    }
                }
            },
            ClientMessage::LoginMethods {} => match &session.account {
                None => not_logged_in(req),
                Some(account) => self.login_methods(req, account.id),
            },
            ClientMessage::LogOut {} => match (&session.account, session.session_id) {
                (None, _) => not_logged_in(req),
                (Some(account), id) => {
                    if let Some(id) = id {
                        if let Err(e) = blocking(|| self.accounts.revoke_session(account.id, id))
                            && !matches!(e, AccountError::NotFound)
                        {
                            return account_error(req, e);
                        }
                        self.hub.end_sessions(
                            account.id,
                            Ended::One { session: id },
                            Some(session.conn),
                            Why::LoggedOut,
                        );
                    }
                    self.become_guest(session);
                    ServerMessage::Ok { req }
                }
            },
            ClientMessage::UpdateProfile {
                display_name,
                bio,
                avatar_url,
            } => match &session.account {
                None => not_logged_in(req),
                Some(account) => {
                    let checks = display_name
                        .as_deref()
                        .map(validate_name)
                        .transpose()
                        .and_then(|_| bio.as_deref().map(validate_bio).transpose())
                        .and_then(|_| {
                            avatar_url
                                .as_deref()
                                .filter(|u| !u.is_empty())
                                .map(validate_avatar_url)
                                .transpose()
                        });
                    match checks {
                        Err(e) => {
                            ServerMessage::error(Some(req), ErrorCode::InvalidInput, e.to_string())
                        }
                        Ok(_) => match blocking(|| {
                            self.accounts.update_profile(
                                account.id,
                                display_name.as_deref().map(str::trim),
                                bio.as_deref(),
                                avatar_url.as_deref(),
                            )
                        }) {
                            Ok(updated) => {
                                session.account = Some(updated.clone());
                                ServerMessage::Profile {
                                    req,
                                    account: updated,
                                }
                            }
                            Err(e) => account_error(req, e),
                        },
                    }
                }
            },
            ClientMessage::ChangePassword { current, new } => match &session.account {
                None => not_logged_in(req),
                Some(account) => match validate_password(&new) {
                    Err(e) => {
                        ServerMessage::error(Some(req), ErrorCode::InvalidInput, e.to_string())
                    }
                    Ok(()) => {
                        let (id, keep) = (account.id, session.session_id);
                        let (now, cost) = (self.config.clock.now_ms(), self.config.hash_cost);
                        let changed = self
                            .hashing_call(move |a| {
                                a.change_password(id, &current, &new, keep, now, cost)
                            })
                            .await;
                        match changed {
                            Ok(()) => {
                                self.hub.end_sessions(
                                    id,
                                    Ended::AllBut { keep },
                                    Some(session.conn),
                                    Why::PasswordChanged,
                                );
                                ServerMessage::Ok { req }
                            }
                            Err(e) => account_error(req, e),
                        }
                    }
                },
            },
            ClientMessage::DeleteAccount { password } => match &session.account {
                None => not_logged_in(req),
                Some(account) => {
                    let (id, keep) = (account.id, session.session_id);
                    let now = self.config.clock.now_ms();
                    let deleted = self
                        .hashing_call(move |a| a.delete_account(id, &password, keep, now))
                        .await;
                    match deleted {
                        Ok(()) => {
                            self.hub.end_sessions(
                                id,
                                Ended::AllBut { keep: None },
                                Some(session.conn),
                                Why::AccountDeleted,
                            );
                            self.become_guest(session);
                            ServerMessage::Ok { req }
                        }
                        Err(e) => account_error(req, e),
                    }
                }
            },
            other => super::answers::misrouted(req, other),
        }
    }

    /// Verifies a provider credential.
    async fn verify(
        &self,
        provider: &str,
        id_token: Option<String>,
        access_token: Option<String>,
        nonce: Option<String>,
    ) -> Result<Identity, VerifyError> {
        self.providers
            .verify(
                provider,
                id_token.as_deref(),
                access_token.as_deref(),
                nonce.as_deref(),
            )
            .await
    }

    /// Logs a verified identity in: its linked account, or a new account under `handle`, or
    /// asks for a handle.
    fn provider_login(
        &self,
        req: u64,
        session: &mut Session,
        identity: Identity,
        handle: Option<String>,
    ) -> ServerMessage {
        match blocking(|| {
            self.accounts.provider_log_in(
                &identity.provider,
                &identity.subject,
                &self.params(session),
            )
        }) {
            Err(e) => account_error(req, e),
            Ok(Some((account, new))) => self.started(req, session, account, new),
            Ok(None) => match handle {
                None => ServerMessage::HandleNeeded {
                    req,
                    provider: identity.provider.clone(),
                    suggested: self.suggest_handle(&identity),
                },
                Some(handle) => {
                    let handle = handle.trim().to_lowercase();
                    if let Err(e) = validate_handle(&handle) {
                        return ServerMessage::error(
                            Some(req),
                            ErrorCode::InvalidInput,
                            e.to_string(),
                        );
                    }
                    let display = identity
                        .display_name
                        .as_deref()
                        .map(str::trim)
                        .filter(|d| validate_name(d).is_ok())
                        .unwrap_or(&handle);
                    match blocking(|| {
                        self.accounts.provider_sign_up(
                            &identity.provider,
                            &identity.subject,
                            &handle,
                            display,
                            &self.params(session),
                        )
                    }) {
                        Ok((account, new)) => self.started(req, session, account, new),
                        Err(e) => account_error(req, e),
                    }
                }
            },
        }
    }

    /// A free handle derived from the provider's profile, if one can be found quickly.
    fn suggest_handle(&self, identity: &Identity) -> Option<String> {
        let base = crate::oidc::handle_candidate(identity.handle_hint.as_deref()?)?;
        std::iter::once(base.clone())
            .chain((2..10).map(|n| format!("{base}{n}")))
            .find(|h| {
                validate_handle(h).is_ok() && matches!(self.accounts.handle_taken(h), Ok(false))
            })
    }

    fn login_methods(&self, req: u64, account: u64) -> ServerMessage {
        match blocking(|| self.accounts.login_methods(account)) {
            Ok((password, providers)) => ServerMessage::LoginMethods {
                req,
                password,
                providers,
            },
            Err(e) => account_error(req, e),
        }
    }
}
