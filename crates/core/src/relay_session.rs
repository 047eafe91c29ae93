//! Sessions and provider log-in on the relay: refresh, the session list, provider identities.
//! (A separate `impl RelayClient` block; the connection itself lives in `relay_client.rs`.)
//!
//! Token handling for the app: `sign_up`, `log_in`, [`RelayClient::provider_login`] and
//! [`RelayClient::refresh`] return a [`LoggedIn`] with an access token (15 minutes) and a
//! refresh token (30 days). Keep both in the OS keyring. On a new connection, `authenticate`
//! with the access token; when that is refused (expired), `refresh` with the refresh token and
//! store the new pair before using it: the old refresh token is dead, and presenting it again
//! revokes the session ([`ErrorCode::TokenReused`]), which means "log in again". A connection
//! that stays open keeps its log-in as long as the session lives; when the session is revoked
//! or runs out, requests fail with [`ErrorCode::SessionExpired`] ([`session_ended`]).

use movietalk_protocol::relay::{
    ClientMessage, ErrorCode, LinkedProvider, ServerMessage, SessionInfo,
};

use crate::oauth::ProviderTokens;
use crate::relay_client::{ClientError, LoggedIn, RelayClient, logged_in};

/// What a provider log-in led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderLogin {
    /// The identity belongs to an account (or one was just created): logged in.
    LoggedIn(LoggedIn),
    /// No account has this identity yet: ask the person for a handle and call
    /// [`RelayClient::provider_login`] again with it. `suggested` is a free one.
    HandleNeeded {
        provider: String,
        suggested: Option<String>,
    },
}

/// How an account can log in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginMethods {
    pub password: bool,
    pub providers: Vec<LinkedProvider>,
}

fn unexpected(what: &str, other: ServerMessage) -> ClientError {
    ClientError::Protocol(format!("expected {what}, got {other:?}"))
}

fn methods(reply: ServerMessage) -> Result<LoginMethods, ClientError> {
    match reply {
        ServerMessage::LoginMethods {
            password,
            providers,
            ..
        } => Ok(LoginMethods {
            password,
            providers,
        }),
        other => Err(unexpected("login_methods", other)),
    }
}

impl RelayClient {
    /// Trades `refresh_token` for a new access token and refresh token and logs this
    /// connection in. Keep the new refresh token; the one given is spent.
    pub async fn refresh(&self, refresh_token: &str) -> Result<LoggedIn, ClientError> {
        logged_in(
            self.call(ClientMessage::Refresh {
                refresh_token: refresh_token.to_owned(),
            })
            .await?,
        )
    }

    /// The logged-in account's sessions (this one marked `current`).
    pub async fn list_sessions(&self) -> Result<Vec<SessionInfo>, ClientError> {
        match self.call(ClientMessage::ListSessions {}).await? {
            ServerMessage::Sessions { sessions, .. } => Ok(sessions),
            other => Err(unexpected("sessions", other)),
        }
    }

    /// Revokes one of the account's sessions (revoking the current one logs this connection out).
    pub async fn revoke_session(&self, session_id: u64) -> Result<(), ClientError> {
        self.call(ClientMessage::RevokeSession { session_id })
            .await
            .map(|_| ())
    }

    /// Logs in with what [`crate::oauth::log_in`] returned; `handle` creates the account when
    /// the identity is new (see [`ProviderLogin::HandleNeeded`]).
    pub async fn provider_login(
        &self,
        tokens: &ProviderTokens,
        handle: Option<&str>,
    ) -> Result<ProviderLogin, ClientError> {
        let reply = self
            .call(ClientMessage::ProviderLogin {
                provider: tokens.provider.clone(),
                id_token: tokens.id_token.clone(),
                access_token: tokens
                    .id_token
                    .is_none()
                    .then(|| tokens.access_token.clone()),
                nonce: tokens.nonce.clone(),
                handle: handle.map(str::to_owned),
            })
            .await?;
        match reply {
            ServerMessage::HandleNeeded {
                provider,
                suggested,
                ..
            } => Ok(ProviderLogin::HandleNeeded {
                provider,
                suggested,
            }),
            reply => logged_in(reply).map(ProviderLogin::LoggedIn),
        }
    }

    /// Links a provider identity to the logged-in account.
    pub async fn link_provider(
        &self,
        tokens: &ProviderTokens,
    ) -> Result<LoginMethods, ClientError> {
        methods(
            self.call(ClientMessage::LinkProvider {
                provider: tokens.provider.clone(),
                id_token: tokens.id_token.clone(),
                access_token: tokens
                    .id_token
                    .is_none()
                    .then(|| tokens.access_token.clone()),
                nonce: tokens.nonce.clone(),
            })
            .await?,
        )
    }

    /// Unlinks a provider; refused ([`ErrorCode::LastLoginMethod`]) when it is the last way in.
    pub async fn unlink_provider(&self, provider: &str) -> Result<LoginMethods, ClientError> {
        methods(
            self.call(ClientMessage::UnlinkProvider {
                provider: provider.to_owned(),
            })
            .await?,
        )
    }

    /// How the logged-in account can log in.
    pub async fn login_methods(&self) -> Result<LoginMethods, ClientError> {
        methods(self.call(ClientMessage::LoginMethods {}).await?)
    }
}

/// Whether an error means this connection's session ended (revoked, its refresh token ran
/// out, or a spent refresh token was reused): forget the tokens and log in again.
pub fn session_ended(e: &ClientError) -> bool {
    matches!(
        e,
        ClientError::Rejected {
            code: ErrorCode::SessionExpired | ErrorCode::TokenReused,
            ..
        }
    )
}
