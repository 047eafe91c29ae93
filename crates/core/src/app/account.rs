//! This user's account on the relay: sign-up, log-in (password, or a provider through the system
//! browser: RFC 8252, a loopback redirect, PKCE), log-out, profile, deletion, login methods and
//! sessions. The session's tokens live in the OS keyring, never in a file.

use movietalk_protocol::ipc::{
    Account, IpcError, IpcErrorCode, LoginMethodsView, LoginProviderConfig, ProviderOutcome,
    RelaySession, SessionInfo,
};

use super::{App, Connection, Reply, invalid, lock, offline, relay_error, storage};
use crate::oauth;
use crate::relay_client::LoggedIn;
use crate::relay_session::{LoginMethods, ProviderLogin};

impl App {
    /// The open connection, or "relay unavailable".
    async fn online(&self) -> Reply<Connection> {
        self.connected().await.ok_or_else(offline)
    }

    /// The open connection, logged in.
    pub(super) async fn logged_in(&self) -> Reply<(Connection, String)> {
        let c = self.online().await?;
        let handle = c
            .account
            .as_ref()
            .map(|a| a.handle.clone())
            .ok_or_else(|| IpcError::new(IpcErrorCode::NotLoggedIn, "log in first"))?;
        Ok((c, handle))
    }

    /// Who is logged in, and whether the keyring keeps the session. Offline, the account last
    /// logged in is still who this user is (its token stays in the keyring).
    pub async fn session(&self) -> SessionInfo {
        let account = match self.connected().await {
            Some(c) => c.account,
            None => lock(&self.known_account).clone(),
        };
        self.session_info(account)
    }

    fn session_info(&self, account: Option<Account>) -> SessionInfo {
        SessionInfo {
            account,
            keyring: self.secrets.persistent(),
            keyring_problem: self.secrets.fallback_reason().map(str::to_owned),
        }
    }

    async fn start_session(&self, c: Connection, logged: LoggedIn) -> Reply<SessionInfo> {
        self.store_session(&logged);
        self.catalog()
            .set_sync_account(&logged.account.handle)
            .map_err(storage)?;
        *self.connection.lock().await = Some(Connection {
            client: c.client,
            account: Some(logged.account.clone()),
        });
        self.wake.notify_one();
        Ok(self.session_info(Some(logged.account)))
    }

    /// Changes who the open connection is, and who this app knows it is.
    async fn set_account(&self, c: Connection, account: Option<Account>) {
        self.set_known_account(account.clone());
        *self.connection.lock().await = Some(Connection {
            client: c.client,
            account,
        });
    }

    pub async fn sign_up(
        &self,
        handle: &str,
        password: &str,
        display_name: Option<&str>,
    ) -> Reply<SessionInfo> {
        let c = self.online().await?;
        let display_name = display_name.filter(|d| !d.trim().is_empty());
        let logged = c
            .client
            .sign_up(handle.trim(), password, display_name)
            .await
            .map_err(relay_error)?;
        self.start_session(c, logged).await
    }

    pub async fn log_in(&self, handle: &str, password: &str) -> Reply<SessionInfo> {
        let c = self.online().await?;
        let logged = c
            .client
            .log_in(handle.trim(), password)
            .await
            .map_err(relay_error)?;
        self.start_session(c, logged).await
    }

    /// Ends the session on the relay (when reachable) and forgets it here — here in any case:
    /// an error says only that the relay could not be told.
    pub async fn log_out(&self) -> Reply<()> {
        let told = match self.connected().await {
            Some(c) => {
                let told = c.client.log_out().await.map_err(relay_error);
                self.set_account(c, None).await;
                told
            }
            None => Ok(()),
        };
        self.forget_session();
        told
    }

    pub async fn update_profile(
        &self,
        display_name: &str,
        bio: &str,
        avatar_url: &str,
    ) -> Reply<Account> {
        let (c, _) = self.logged_in().await?;
        let account = c
            .client
            .update_profile(
                Some(display_name.trim()),
                Some(bio.trim()),
                Some(avatar_url.trim()),
            )
            .await
            .map_err(relay_error)?;
        self.set_account(c, Some(account.clone())).await;
        Ok(account)
    }

    /// Deletes the account on the relay: its reviews, comments and likes are removed there, its
    /// chat messages stay as "deleted user". Local ratings stay on this machine.
    pub async fn delete_account(&self, password: &str) -> Reply<()> {
        let (c, _) = self.logged_in().await?;
        c.client
            .delete_account(password)
            .await
            .map_err(relay_error)?;
        self.forget_session();
        self.set_account(c, None).await;
        self.wake.notify_one();
        Ok(())
    }

    /// Runs the provider's page in the system browser and waits (cancellable) for its answer.
    async fn provider_tokens(&self, provider: &str) -> Reply<oauth::ProviderTokens> {
        let configured = self
            .settings()
            .login_providers
            .into_iter()
            .find(|p| p.name == provider)
            .ok_or_else(|| invalid(format!("no login provider {provider:?} is configured")))?;
        let cancel = oauth::CancellationToken::new();
        if let Some(previous) = lock(&self.provider_cancel).replace(cancel.clone()) {
            previous.cancel();
        }
        let result = oauth::log_in(
            &login_provider(&configured),
            open_browser,
            oauth::DEFAULT_TIMEOUT,
            cancel,
        )
        .await;
        lock(&self.provider_cancel).take();
        result.map_err(|e| IpcError::new(IpcErrorCode::ProviderLogin, e.to_string()))
    }

    async fn finish_provider_login(
        &self,
        c: Connection,
        tokens: oauth::ProviderTokens,
        handle: Option<&str>,
    ) -> Reply<ProviderOutcome> {
        match c
            .client
            .provider_login(&tokens, handle)
            .await
            .map_err(relay_error)?
        {
            ProviderLogin::LoggedIn(logged) => {
                lock(&self.pending_identity).take();
                let session = self.start_session(c, logged).await?;
                Ok(ProviderOutcome {
                    session: Some(session),
                    handle_needed: false,
                    suggested_handle: None,
                })
            }
            ProviderLogin::HandleNeeded { suggested, .. } => {
                *lock(&self.pending_identity) = Some(tokens);
                Ok(ProviderOutcome {
                    session: None,
                    handle_needed: true,
                    suggested_handle: suggested,
                })
            }
        }
    }

    /// Logs in with a configured provider through the system browser. A new identity answers
    /// `handle_needed`; then call [`App::provider_choose_handle`].
    pub async fn provider_log_in(&self, provider: &str) -> Reply<ProviderOutcome> {
        let c = self.online().await?;
        let tokens = self.provider_tokens(provider).await?;
        self.finish_provider_login(c, tokens, None).await
    }

    /// Creates the account for the identity waiting for a handle.
    pub async fn provider_choose_handle(&self, handle: &str) -> Reply<ProviderOutcome> {
        let c = self.online().await?;
        let tokens = lock(&self.pending_identity)
            .clone()
            .ok_or_else(|| invalid("no provider log-in is waiting for a handle"))?;
        self.finish_provider_login(c, tokens, Some(handle.trim()))
            .await
    }

    /// Stops waiting for the browser, and forgets an identity waiting for a handle.
    pub fn cancel_provider_log_in(&self) {
        if let Some(cancel) = lock(&self.provider_cancel).take() {
            cancel.cancel();
        }
        lock(&self.pending_identity).take();
    }

    pub async fn login_methods(&self) -> Reply<LoginMethodsView> {
        let (c, _) = self.logged_in().await?;
        c.client
            .login_methods()
            .await
            .map(methods_view)
            .map_err(relay_error)
    }

    /// Links another provider to the logged-in account (through the system browser).
    pub async fn link_provider(&self, provider: &str) -> Reply<LoginMethodsView> {
        let (c, _) = self.logged_in().await?;
        let tokens = self.provider_tokens(provider).await?;
        c.client
            .link_provider(&tokens)
            .await
            .map(methods_view)
            .map_err(relay_error)
    }

    /// Unlinks a provider; the relay refuses to remove the last way to log in.
    pub async fn unlink_provider(&self, provider: &str) -> Reply<LoginMethodsView> {
        let (c, _) = self.logged_in().await?;
        c.client
            .unlink_provider(provider)
            .await
            .map(methods_view)
            .map_err(relay_error)
    }

    /// The account's sessions (no secrets), this one marked.
    pub async fn list_sessions(&self) -> Reply<Vec<RelaySession>> {
        let (c, _) = self.logged_in().await?;
        c.client.list_sessions().await.map_err(relay_error)
    }

    /// Ends one of the account's sessions (another device's, or this one: then log in again).
    pub async fn revoke_session(&self, session_id: u64) -> Reply<()> {
        let (c, _) = self.logged_in().await?;
        c.client
            .revoke_session(session_id)
            .await
            .map_err(relay_error)
    }
}

fn methods_view(m: LoginMethods) -> LoginMethodsView {
    LoginMethodsView {
        password: m.password,
        providers: m.providers,
    }
}

fn login_provider(c: &LoginProviderConfig) -> oauth::LoginProvider {
    use oauth::LoginProvider;
    match (c.name.as_str(), &c.issuer, &c.authorize_url, &c.token_url) {
        (_, _, Some(authorize), Some(token)) => {
            LoginProvider::github_at(&c.client_id, authorize, token)
        }
        ("github", None, _, _) => LoginProvider::github(&c.client_id),
        ("google", None, _, _) => LoginProvider::google(&c.client_id),
        ("kakao", None, _, _) => LoginProvider::kakao(&c.client_id),
        (name, Some(issuer), _, _) => LoginProvider::oidc(name, issuer, &c.client_id),
        (name, None, _, _) => LoginProvider::oidc(name, "", &c.client_id),
    }
}

/// Opens `url` in the system browser (`MOVIETALK_BROWSER`, a command taking the URL, overrides
/// it — scripted setups and tests). Never an embedded webview.
fn open_browser(url: &oauth::Url) -> Result<(), String> {
    let mut command = match std::env::var("MOVIETALK_BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty())
    {
        Some(b) => {
            let mut words = b.split_whitespace();
            let mut c = std::process::Command::new(words.next().unwrap_or_default());
            c.args(words);
            c
        }
        None if cfg!(target_os = "macos") => std::process::Command::new("open"),
        None if cfg!(target_os = "windows") => {
            let mut c = std::process::Command::new("rundll32");
            c.arg("url.dll,FileProtocolHandler");
            c
        }
        None => std::process::Command::new("xdg-open"),
    };
    command
        .arg(url.as_str())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| format!("cannot open the browser: {e}"))
}
