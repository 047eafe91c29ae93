//! One client connection: WebSocket upgrade, `hello`, then requests until the client leaves,
//! goes idle, reads too slowly, or the relay shuts down.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{SinkExt, StreamExt};
use movietalk_protocol::relay::{
    ClientMessage, ErrorCode, PROTOCOL_VERSION, ServerMessage, validate_client_id, validate_name,
    validate_room, validate_text,
};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Message};
use tokio_util::sync::CancellationToken;

use crate::Config;
use crate::accounts::{AccountError, AccountStore, LiveSession, NewSession, SessionParams};
use crate::bucket::Bucket;
use crate::hub::{ConnId, Hub, Mailbox, Posted};
use crate::oidc::{Identity, Providers, VerifyError};
use crate::outlet::Stream;
use crate::sessions::{Ended, Why};
use crate::social::{NewReview, SocialError, SocialStore};
use crate::store::author_key;
use movietalk_protocol::relay::{
    Account, validate_avatar_url, validate_bio, validate_handle, validate_password,
};

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// Serves one accepted socket.
#[derive(Debug)]
pub struct Handler {
    pub hub: Arc<Hub>,
    pub chat: Arc<dyn crate::store::ChatStore>,
    pub accounts: Arc<dyn AccountStore>,
    pub social: Arc<dyn SocialStore>,
    /// The identity providers people may log in with, and their cached keys.
    pub providers: Arc<Providers>,
    /// Password hashes (argon2id) computed at once, relay-wide: each takes tens of milliseconds
    /// of CPU and `hash_cost` of memory, so a log-in storm waits here instead of using more.
    pub hashing: Arc<crate::hashing::Hashing>,
    pub config: Arc<Config>,
    pub peer: SocketAddr,
    /// Cancelled when the relay shuts down.
    pub shutdown: CancellationToken,
    /// Dropped when this connection ends, so `run` knows when all are done.
    pub _done: mpsc::Sender<()>,
}

/// Why a connection ended, for the close frame and the log.
enum End {
    ClientClosed,
    InvalidUtf8,
    Shutdown,
    Idle,
    SlowReader,
    Fatal(ErrorCode, String),
    /// A frame or message over `Config::max_message_bytes`.
    TooBig(String),
    /// The session the connection acted for ended elsewhere (`crate::sessions`).
    SessionEnded(&'static str),
    Io(String),
}

impl Handler {
    pub async fn serve(mut self, socket: TcpStream) {
        // Small buffers: most connections are idle, and tungstenite's defaults (128 KiB each
        // way) would cost hundreds of KiB per connection.
        let ws_config = WebSocketConfig::default()
            .max_message_size(Some(self.config.max_message_bytes))
            .max_frame_size(Some(self.config.max_message_bytes))
            .read_buffer_size(4 * 1024)
            .write_buffer_size(4 * 1024)
            .max_write_buffer_size(self.config.max_message_bytes * 4);
        // The fan-out writes to the socket too (see `outlet`): the connection's side of it is
        // its mailbox, which owns the socket; tungstenite reads and writes through it.
        let (mailbox, frames_rx) = Mailbox::new(
            Some(socket),
            self.config.send_queue,
            self.shutdown.child_token(),
        );
        let accepted = tokio::time::timeout(
            self.config.handshake_timeout,
            tokio_tungstenite::accept_async_with_config(Stream(mailbox.clone()), Some(ws_config)),
        )
        .await;
        let ws = match accepted {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => {
                tracing::debug!(peer = %self.peer, error = %e, "websocket handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(peer = %self.peer, "websocket handshake timed out");
                return;
            }
        };
        let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
        let metrics = self.config.metrics.clone();
        metrics.connections.fetch_add(1, Ordering::Relaxed);
        let mut session = Session {
            conn,
            guest_key: format!("g:{:x}.{conn}", instance_nonce()),
            name: None,
            client: String::new(),
            account: None,
            session_id: None,
            access_expires_at_ms: 0,
            rooms: HashSet::new(),
            mailbox: mailbox.clone(),
            writes: Bucket::new(self.config.writes_per_sec, self.config.write_burst),
        };
        let end = self.converse(ws, mailbox, frames_rx, &mut session).await;
        if let Some(account) = &session.account {
            self.hub.sessions().release(account.id, conn);
        }
        for room in &session.rooms {
            self.hub.gone(room, conn);
        }
        metrics.connections.fetch_sub(1, Ordering::Relaxed);
        if matches!(end, End::SlowReader) {
            metrics.slow_readers_total.fetch_add(1, Ordering::Relaxed);
        }
        match end {
            End::Fatal(code, msg) => {
                tracing::debug!(peer = %self.peer, ?code, %msg, "connection refused")
            }
            End::Io(e) => tracing::debug!(peer = %self.peer, error = %e, "connection failed"),
            End::TooBig(e) => tracing::debug!(peer = %self.peer, error = %e, "closed: too big"),
            End::SessionEnded(why) => tracing::debug!(peer = %self.peer, why, "closed"),
            End::SlowReader => tracing::info!(peer = %self.peer, "disconnected a slow reader"),
            End::Idle => tracing::debug!(peer = %self.peer, "idle connection closed"),
            End::InvalidUtf8 => tracing::debug!(peer = %self.peer, "closed: invalid UTF-8"),
            End::ClientClosed | End::Shutdown => {}
        }
    }

    async fn converse(
        &mut self,
        mut ws: WebSocketStream<Stream>,
        mailbox: Mailbox,
        mut frames_rx: mpsc::Receiver<Bytes>,
        session: &mut Session,
    ) -> End {
        // Cancelled by the relay's shutdown, or by the hub when this connection's queue
        // overflowed (`mailbox.overflowed()` tells which).
        let ends = mailbox.ends().clone();
        let handshake_deadline = Instant::now() + self.config.handshake_timeout;
        let mut next_ping = Instant::now() + self.config.ping_interval;
        let mut frames = Bucket::new(self.config.frames_per_sec, self.config.frame_burst);
        // Frames refused for the rate limit in a row; a client that ignores the errors is dropped.
        let mut strikes = 0u32;
        let mut last_heard = Instant::now();
        // The loop turns once per frame in or out — a hundred thousand times a second under
        // fan-out load — and each turn polls every branch. So the rare events are few futures,
        // made once: one for the end (shutdown or overflow), one timer for the handshake
        // deadline, the next ping and the idle deadline, moved on each time it fires.
        let stop = ends.cancelled();
        tokio::pin!(stop);
        let timer = tokio::time::sleep_until(handshake_deadline.min(next_ping));
        tokio::pin!(timer);
        let write_timeout = self.config.write_timeout;

        let end = loop {
            tokio::select! {
                () = &mut stop => break if mailbox.overflowed() {
                    End::SlowReader
                } else if let Some(why) = mailbox.session_ended() {
                    End::SessionEnded(why)
                } else {
                    End::Shutdown
                },
                () = &mut timer => {
                    let now = Instant::now();
                    let deadline = if session.name.is_none() {
                        handshake_deadline
                    } else {
                        last_heard + self.config.idle_timeout
                    };
                    if now >= deadline {
                        break End::Idle;
                    }
                    if now >= next_ping {
                        let ping = async {
                            take(&mailbox, &mut frames_rx, write_timeout).await?;
                            send(&mut ws, Message::Ping(Default::default()), write_timeout).await?;
                            give_back(&mut ws, &mailbox, &mut frames_rx, write_timeout).await
                        };
                        if let Err(end) = ping.await {
                            break end;
                        }
                        next_ping = now + self.config.ping_interval;
                    }
                    timer.as_mut().reset(deadline.min(next_ping));
                }
                // Frames the fan-out could not write itself (this task was writing, or the
                // socket was full): write them, and whatever else is queued, then give the
                // socket's write side back.
                Some(frame) = frames_rx.recv() => {
                    mailbox.acquire();
                    let written = async {
                        write_queued(&mailbox, frame, &mut frames_rx, write_timeout).await?;
                        give_back(&mut ws, &mailbox, &mut frames_rx, write_timeout).await
                    };
                    if let Err(end) = written.await {
                        break end;
                    }
                }
                incoming = ws.next() => {
                    last_heard = Instant::now();
                    // This task writes now (an answer, tungstenite's pong): the fan-out queues.
                    if let Err(end) = take(&mailbox, &mut frames_rx, write_timeout).await {
                        break end;
                    }
                    let answered: Result<(), End> = 'frame: {
                        let text = match incoming {
                            None | Some(Ok(Message::Close(_))) => break 'frame Err(End::ClientClosed),
                            Some(Err(tokio_tungstenite::tungstenite::Error::Utf8(_))) => {
                                // RFC 6455 requires failing the connection (close code 1007); say why first.
                                let err = ServerMessage::error(None, ErrorCode::Malformed, "text frames must be UTF-8");
                                let _ = send(&mut ws, Message::text(err.to_json()), write_timeout).await;
                                break 'frame Err(End::InvalidUtf8);
                            }
                            Some(Err(tokio_tungstenite::tungstenite::Error::Capacity(e))) => {
                                break 'frame Err(End::TooBig(e.to_string()));
                            }
                            Some(Err(e)) => break 'frame Err(End::Io(e.to_string())),
                            Some(Ok(Message::Text(text))) => text,
                            Some(Ok(Message::Binary(_))) => {
                                let err = ServerMessage::error(None, ErrorCode::Malformed, "binary frames are not supported; send JSON text");
                                break 'frame send(&mut ws, Message::text(err.to_json()), write_timeout).await;
                            }
                            // Ping / pong: tungstenite queued the pong, `give_back` flushes it.
                            Some(Ok(_)) => break 'frame Ok(()),
                        };
                        let (reply, fatal) = if frames.take() {
                            // Only refusals in a row count: a client that slowed down is forgiven.
                            strikes = 0;
                            self.handle(&text, session, &mailbox).await
                        } else {
                            strikes += 1;
                            if strikes > MAX_STRIKES {
                                break 'frame Err(End::Fatal(ErrorCode::RateLimited, "kept sending after being rate limited".into()));
                            }
                            let req = movietalk_protocol::relay::request_id(&text);
                            (Some(ServerMessage::error(req, ErrorCode::RateLimited, "too many frames; slow down")), None)
                        };
                        if let Some(ServerMessage::Error { code, .. }) = &reply {
                            let counter = if *code == ErrorCode::RateLimited { &self.config.metrics.rate_limited_total } else { &self.config.metrics.errors_total };
                            counter.fetch_add(1, Ordering::Relaxed);
                        }
                        if let Some(reply) = reply
                            && let Err(end) = send(&mut ws, Message::text(reply.to_json()), write_timeout).await
                        {
                            break 'frame Err(end);
                        }
                        match fatal {
                            Some((code, msg)) => Err(End::Fatal(code, msg)),
                            None => Ok(()),
                        }
                    };
                    if let Err(end) = answered {
                        break end;
                    }
                    if let Err(end) = give_back(&mut ws, &mailbox, &mut frames_rx, write_timeout).await {
                        break end;
                    }
                }
            }
        };
        // The write side stays with this task from here on: nothing more is written directly.
        mailbox.acquire();
        let too_big = format!(
            "message too big: the limit is {} bytes",
            self.config.max_message_bytes
        );
        let close = match &end {
            End::Shutdown => Some((CloseCode::Away, "relay shutting down")),
            End::TooBig(_) => Some((CloseCode::Size, too_big.as_str())),
            End::SessionEnded(why) => Some((
                CloseCode::from(movietalk_protocol::relay::CLOSE_SESSION_ENDED),
                *why,
            )),
            End::Idle => Some((CloseCode::Policy, "idle timeout")),
            End::SlowReader => None,
            End::Fatal(..) => Some((CloseCode::Policy, "protocol error")),
            End::InvalidUtf8 => Some((CloseCode::Invalid, "text frames must be UTF-8")),
            End::ClientClosed | End::Io(_) => None,
        };
        if let Some((code, reason)) = close {
            // A client that stopped reading would never take the close frame: do not wait long.
            let limit = std::time::Duration::from_secs(1);
            let closing = async {
                // Finish a frame the fan-out began, so the close frame is read as one.
                if take(&mailbox, &mut frames_rx, limit).await.is_ok() {
                    let close = Message::Close(Some(CloseFrame {
                        code,
                        reason: reason.into(),
                    }));
                    let _ = ws.send(close).await;
                }
            };
            let _ = tokio::time::timeout(limit, closing).await;
        }
        end
    }

    /// Answers one text frame. Returns the reply to send, and an error that ends the connection.
    /// Provider log-ins wait here for the provider (bounded by its HTTP timeout), which keeps
    /// this connection's answers in request order.
    async fn handle(
        &self,
        text: &str,
        session: &mut Session,
        mailbox: &Mailbox,
    ) -> (Option<ServerMessage>, Option<(ErrorCode, String)>) {
        let msg = match movietalk_protocol::relay::decode_client(text) {
            Ok(msg) => msg,
            Err(e) => {
                let reply = ServerMessage::error(e.req, ErrorCode::Malformed, e.message);
                let fatal = session
                    .name
                    .is_none()
                    .then(|| (ErrorCode::HelloRequired, "no hello".to_owned()));
                return (Some(reply), fatal);
            }
        };
        let Some(name) = session.name.clone() else {
            return match msg {
                ClientMessage::Hello { version, .. } if version != PROTOCOL_VERSION => {
                    let m = format!(
                        "this relay speaks protocol version {PROTOCOL_VERSION}, not {version}"
                    );
                    (
                        Some(ServerMessage::error(
                            None,
                            ErrorCode::UnsupportedVersion,
                            &m,
                        )),
                        Some((ErrorCode::UnsupportedVersion, m)),
                    )
                }
                ClientMessage::Hello {
                    name,
                    client,
                    guest_id,
                    ..
                } => match validate_name(&name) {
                    Ok(()) => {
                        let name = name.trim().to_owned();
                        if let Some(id) = guest_id.filter(|id| {
                            (16..=64).contains(&id.len())
                                && id.bytes().all(|b| b.is_ascii_graphic())
                        }) {
                            // Only a hash is kept: another guest's key never reveals its id.
                            let hash = crate::accounts::token_hash(&id);
                            session.guest_key = format!("g:{}:{name}", &hash[..32]);
                        }
                        session.name = Some(name);
                        session.client = client
                            .map(|c| {
                                c.chars()
                                    .filter(|c| !c.is_control())
                                    .take(80)
                                    .collect::<String>()
                            })
                            .filter(|c| !c.trim().is_empty())
                            .unwrap_or_else(|| "unnamed client".to_owned());
                        let welcome = ServerMessage::Welcome {
                            version: PROTOCOL_VERSION,
                            server: format!("movietalk-relay {}", env!("CARGO_PKG_VERSION")),
                        };
                        (Some(welcome), None)
                    }
                    Err(e) => {
                        let m = e.to_string();
                        (
                            Some(ServerMessage::error(None, ErrorCode::InvalidInput, &m)),
                            Some((ErrorCode::InvalidInput, m)),
                        )
                    }
                },
                _ => {
                    let m = "the first frame must be hello".to_owned();
                    (
                        Some(ServerMessage::error(None, ErrorCode::HelloRequired, &m)),
                        Some((ErrorCode::HelloRequired, m)),
                    )
                }
            };
        };
        if session.account.is_some() && session.mailbox.session_ended().is_some() {
            // The session ended elsewhere while this frame was on its way: the connection is
            // closing; nothing more is done as the account.
            self.become_guest(session);
            return (msg.req().map(session_ended), None);
        }
        let now = self.config.clock.now_ms();
        if session.account.is_some() && now >= session.access_expires_at_ms && !renews_session(&msg)
        {
            // The access token this connection logged in with ran out. A live connection is not
            // cut off for that: it checks that its session still exists (not revoked, refresh
            // token not expired) and carries on for another access-token lifetime. So a revoked
            // session stops acting within one lifetime, and no long chat needs a refresh.
            match session
                .session_id
                .map(|id| self.accounts.session_alive(id, now))
            {
                Some(Ok(true)) => {
                    session.access_expires_at_ms =
                        now + self.config.token_lifetimes.access.as_millis() as u64;
                }
                Some(Err(e)) => return (msg.req().map(|req| account_error(req, e)), None),
                Some(Ok(false)) | None => {
                    self.become_guest(session);
                    return (msg.req().map(session_ended), None);
                }
            }
        }
        let (author, guest) = session.author(&name);
        if is_write(&msg) && !self.may_write(session) {
            let reply = ServerMessage::error(
                msg.req(),
                ErrorCode::RateLimited,
                "writing too fast; slow down",
            );
            return (Some(reply), None);
        }
        let reply = match msg {
            ClientMessage::Hello { .. } => {
                ServerMessage::error(None, ErrorCode::Malformed, "hello was already sent")
            }
            ClientMessage::SignUp {
                req,
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
            ClientMessage::LogIn {
                req,
                handle,
                password,
            } => {
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
            ClientMessage::Authenticate { req, token } => match self
                .accounts
                .authenticate(&token, self.config.clock.now_ms())
            {
                Ok((account, live)) => self.resumed(req, session, account, live),
                Err(e) => account_error(req, e),
            },
            ClientMessage::Refresh { req, refresh_token } => {
                match self.accounts.refresh(&refresh_token, &self.params(session)) {
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
            ClientMessage::ListSessions { req } => match &session.account {
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
            ClientMessage::RevokeSession { req, session_id } => match &session.account {
                None => not_logged_in(req),
                Some(account) => match self.accounts.revoke_session(account.id, session_id) {
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
                },
            },
            ClientMessage::ProviderLogin {
                req,
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
                req,
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
                            match self.accounts.link_provider(
                                account.id,
                                &identity.provider,
                                &identity.subject,
                                self.config.clock.now_ms(),
                            ) {
                                Ok(()) => self.login_methods(req, account.id),
                                Err(e) => account_error(req, e),
                            }
                        }
                    }
                }
            },
            ClientMessage::UnlinkProvider { req, provider } => match &session.account {
                None => not_logged_in(req),
                Some(account) => match self.accounts.unlink_provider(account.id, &provider) {
                    Ok(()) => self.login_methods(req, account.id),
                    Err(e) => account_error(req, e),
                },
            },
            ClientMessage::LoginMethods { req } => match &session.account {
                None => not_logged_in(req),
                Some(account) => self.login_methods(req, account.id),
            },
            ClientMessage::LogOut { req } => match (&session.account, session.session_id) {
                (None, _) => not_logged_in(req),
                (Some(account), id) => {
                    if let Some(id) = id {
                        if let Err(e) = self.accounts.revoke_session(account.id, id)
                            && !matches!(e, AccountError::NotFound)
                        {
                            return (Some(account_error(req, e)), None);
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
                req,
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
                        Ok(_) => match self.accounts.update_profile(
                            account.id,
                            display_name.as_deref().map(str::trim),
                            bio.as_deref(),
                            avatar_url.as_deref(),
                        ) {
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
            ClientMessage::ChangePassword { req, current, new } => match &session.account {
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
            ClientMessage::DeleteAccount { req, password } => match &session.account {
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
            ClientMessage::Join { req, room, since } => match validate_room(&room) {
                Err(e) => ServerMessage::error(Some(req), ErrorCode::InvalidInput, e.to_string()),
                Ok(()) => match self.banned(session, &room) {
                    Err(e) => internal(req, e),
                    // Kicked connections stay out whoever they log in or out as.
                    Ok(true) => banned_from(req),
                    Ok(false) if self.hub.was_kicked(&room, session.conn) => banned_from(req),
                    Ok(false) => match self.hub.join(
                        &room,
                        session.conn,
                        &session.key(),
                        mailbox.clone(),
                        since,
                        self.config.history_page,
                    ) {
                        Ok(joined) => {
                            session.rooms.insert(room.clone());
                            ServerMessage::Joined {
                                req,
                                room,
                                history: joined.history,
                                present: joined.present,
                                live_after: Some(joined.live_after),
                            }
                        }
                        Err(e) => internal(req, e),
                    },
                },
            },
            ClientMessage::History {
                req,
                room,
                before,
                limit,
                after,
            } => {
                // Only a member reads: one that was kicked, or banned on logging in, is not.
                if !session.rooms.contains(&room) || !self.hub.is_member(&room, session.conn) {
                    ServerMessage::error(
                        Some(req),
                        ErrorCode::NotInRoom,
                        format!("join room {room:?} to read its history"),
                    )
                } else if let Ok(true) | Err(_) = self.banned(session, &room) {
                    banned_from(req)
                } else {
                    let limit = (limit as usize).clamp(1, self.config.history_page);
                    match self.hub.history(&room, after, before, limit) {
                        Ok(messages) => ServerMessage::History {
                            req,
                            room,
                            messages,
                        },
                        Err(e) => internal(req, e),
                    }
                }
            }
            ClientMessage::Leave { req, room } => {
                // A kicked connection's room stays in `session.rooms` until it ends (see
                // `Hub::gone`); only a member leaves.
                if session.rooms.contains(&room) && self.hub.leave(&room, session.conn) {
                    session.rooms.remove(&room);
                    ServerMessage::Ok { req }
                } else {
                    ServerMessage::error(
                        Some(req),
                        ErrorCode::NotInRoom,
                        format!("not in room {room:?}"),
                    )
                }
            }
            ClientMessage::Typing { room } => {
                if session.rooms.contains(&room) && self.hub.is_member(&room, session.conn) {
                    self.hub.broadcast(
                        &room,
                        &ServerMessage::Typing {
                            room: room.clone(),
                            who: author.clone(),
                        },
                        Some(session.conn),
                    );
                }
                return (None, None);
            }
            msg @ (ClientMessage::CreateRoom { .. }
            | ClientMessage::ListRooms { .. }
            | ClientMessage::Kick { .. }
            | ClientMessage::DeleteMessage { .. }
            | ClientMessage::MarkRead { .. }
            | ClientMessage::UnreadCounts { .. }) => self.rooms(msg, session),
            msg @ (ClientMessage::PutReview { .. }
            | ClientMessage::DeleteReview { .. }
            | ClientMessage::PostComment { .. }
            | ClientMessage::EditComment { .. }
            | ClientMessage::DeleteComment { .. }
            | ClientMessage::Like { .. }
            | ClientMessage::ReviewsOfFilm { .. }
            | ClientMessage::Follow { .. }
            | ClientMessage::Feed { .. }
            | ClientMessage::ReviewsByUser { .. }
            | ClientMessage::Follows { .. }
            | ClientMessage::GetProfile { .. }
            | ClientMessage::FilmStats { .. }
            | ClientMessage::CommentsOn { .. }
            | ClientMessage::ChangesSince { .. }) => {
                self.social(msg, session.account.as_ref().map(|a| a.id))
            }
            ClientMessage::Send {
                req,
                room,
                client_id,
                text,
            } => {
                if guest && !self.config.guests_may_write {
                    not_logged_in(req)
                } else if !session.rooms.contains(&room) || !self.hub.is_member(&room, session.conn)
                {
                    ServerMessage::error(
                        Some(req),
                        ErrorCode::NotInRoom,
                        format!("join room {room:?} before sending"),
                    )
                } else if let Err(e) =
                    validate_text(&text).and_then(|()| validate_client_id(&client_id))
                {
                    ServerMessage::error(Some(req), ErrorCode::InvalidInput, e.to_string())
                } else {
                    match self
                        .hub
                        .post(&room, (&author, guest, &session.key()), &client_id, &text)
                        .await
                    {
                        Ok(Posted::New(seq) | Posted::Duplicate(seq)) => {
                            ServerMessage::Sent { req, room, seq }
                        }
                        Err(e) => internal(req, e),
                    }
                }
            }
        };
        (Some(reply), None)
    }
}

impl Handler {
    /// Takes a write token: an account's are shared by all its connections; a guest's are its
    /// connection's and its address's (so opening more connections buys no more).
    fn may_write(&self, session: &mut Session) -> bool {
        let c = &self.config;
        match &session.account {
            Some(account) => self
                .hub
                .take_write_token(account.id, c.writes_per_sec, c.write_burst),
            None => {
                session.writes.take()
                    && self.hub.take_address_token(
                        self.peer.ip(),
                        c.address_writes_per_sec,
                        c.address_write_burst,
                    )
            }
        }
    }

    /// What a session opened on this connection is stamped with.
    fn params<'a>(&self, session: &'a Session) -> SessionParams<'a> {
        SessionParams {
            now_ms: self.config.clock.now_ms(),
            lifetimes: self.config.token_lifetimes,
            client: &session.client,
        }
    }

    /// [`Handler::params`] to move to another thread.
    fn owned_params(&self, session: &Session) -> OwnedParams {
        OwnedParams {
            now_ms: self.config.clock.now_ms(),
            lifetimes: self.config.token_lifetimes,
            client: session.client.clone(),
        }
    }

    /// Runs an account call that hashes or verifies a password (argon2id: deliberately slow)
    /// off the async workers, at most one per core at once ([`crate::hashing::Hashing`]); past
    /// its queue the answer is [`AccountError::Busy`] at once, so a log-in storm costs neither
    /// memory nor the other connections' time.
    async fn hashing_call<T: Send + 'static>(
        &self,
        call: impl FnOnce(&dyn AccountStore) -> Result<T, AccountError> + Send + 'static,
    ) -> Result<T, AccountError> {
        let accounts = self.accounts.clone();
        self.hashing
            .run(move || call(&*accounts))
            .await
            .unwrap_or(Err(AccountError::Busy))
    }

    /// Makes `account` this connection's identity with a new session and answers with its tokens.
    fn started(
        &self,
        req: u64,
        session: &mut Session,
        account: Account,
        new: NewSession,
    ) -> ServerMessage {
        session.session_id = Some(new.session_id);
        session.access_expires_at_ms = new.access_expires_at_ms;
        match self.switch_identity(session, Some(account.clone())) {
            Ok(true) => {}
            Ok(false) => return session_ended(req),
            Err(e) => return account_error(req, e),
        }
        ServerMessage::Session {
            req,
            account,
            session_id: new.session_id,
            token: Some(new.access_token),
            expires_at_ms: new.access_expires_at_ms,
            refresh_token: Some(new.refresh_token),
            refresh_expires_at_ms: Some(new.refresh_expires_at_ms),
        }
    }

    /// Makes `account` this connection's identity within an existing session (no new tokens).
    fn resumed(
        &self,
        req: u64,
        session: &mut Session,
        account: Account,
        live: LiveSession,
    ) -> ServerMessage {
        session.session_id = Some(live.session_id);
        session.access_expires_at_ms = live.access_expires_at_ms;
        match self.switch_identity(session, Some(account.clone())) {
            Ok(true) => {}
            Ok(false) => return session_ended(req),
            Err(e) => return account_error(req, e),
        }
        ServerMessage::Session {
            req,
            account,
            session_id: live.session_id,
            token: None,
            expires_at_ms: live.access_expires_at_ms,
            refresh_token: None,
            refresh_expires_at_ms: None,
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
        match self.accounts.provider_log_in(
            &identity.provider,
            &identity.subject,
            &self.params(session),
        ) {
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
                    match self.accounts.provider_sign_up(
                        &identity.provider,
                        &identity.subject,
                        &handle,
                        display,
                        &self.params(session),
                    ) {
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
        match self.accounts.login_methods(account) {
            Ok((password, providers)) => ServerMessage::LoginMethods {
                req,
                password,
                providers,
            },
            Err(e) => account_error(req, e),
        }
    }

    /// Changes who this connection is (`account` within `session.session_id`, or a guest):
    /// registers it with the live sessions so that an ending reaches it, takes it out of the
    /// rooms whose moderator banned the new account (telling it `kicked`), and moves its other
    /// memberships (and so presence) along. `Ok(false)`: the session ended before the
    /// connection was registered, and the connection is a guest.
    fn switch_identity(
        &self,
        session: &mut Session,
        account: Option<Account>,
    ) -> Result<bool, AccountError> {
        if let Some(old) = session.account.take() {
            self.hub.sessions().release(old.id, session.conn);
        }
        let mut alive = true;
        if let (Some(account), Some(id)) = (account, session.session_id) {
            // Register first, then look: an ending from now on finds this connection, and one
            // that came before shows here as a session the store no longer has.
            let live = self.hub.sessions();
            live.hold(account.id, id, session.conn, session.mailbox.clone());
            match self.accounts.session_alive(id, self.config.clock.now_ms()) {
                Ok(true) => session.account = Some(account),
                Ok(false) => {
                    live.release(account.id, session.conn);
                    alive = false;
                }
                Err(e) => {
                    live.release(account.id, session.conn);
                    session.session_id = None;
                    session.access_expires_at_ms = 0;
                    return Err(e);
                }
            }
        }
        if session.account.is_none() {
            session.session_id = None;
            session.access_expires_at_ms = 0;
        }
        if let Some(account) = &session.account {
            let mut banned = Vec::new();
            for room in &session.rooms {
                if self.chat.is_banned(room, account.id)? {
                    banned.push(room.clone());
                }
            }
            for room in banned {
                // Kept in `session.rooms`, so the room forgets the kick when this connection ends.
                self.hub.kick_conn(&room, session.conn);
            }
        }
        let key = session.key();
        for room in &session.rooms {
            self.hub.rename_member(room, session.conn, &key);
        }
        Ok(alive)
    }

    /// Makes this connection a guest (its session ended, or it logged out).
    fn become_guest(&self, session: &mut Session) {
        // Becoming a guest reads nothing from the store: it cannot fail.
        let _ = self.switch_identity(session, None);
    }
}

impl Handler {
    /// Whether this connection's account is kept out of `room` (guests never are).
    fn banned(&self, session: &Session, room: &str) -> Result<bool, crate::store::StoreError> {
        match &session.account {
            Some(account) => self.chat.is_banned(room, account.id),
            None => Ok(false),
        }
    }

    /// Room management, moderation and unread counts.
    fn rooms(&self, msg: ClientMessage, session: &Session) -> ServerMessage {
        let req = msg.req().unwrap_or_default();
        let summary = |name: String, topic: String, creator: Option<String>| {
            let present = self.hub.present(&name);
            movietalk_protocol::relay::RoomSummary {
                name,
                topic,
                creator,
                present,
            }
        };
        if let ClientMessage::ListRooms { .. } = msg {
            return match self.chat.rooms() {
                Ok(created) => {
                    let mut rooms: Vec<_> = created
                        .into_iter()
                        .map(|(n, t, c)| summary(n, t, c))
                        .collect();
                    for name in self.hub.active_rooms() {
                        if !rooms.iter().any(|r| r.name == name) {
                            rooms.push(summary(name, String::new(), None));
                        }
                    }
                    rooms.sort_by(|a, b| {
                        b.present.cmp(&a.present).then_with(|| a.name.cmp(&b.name))
                    });
                    ServerMessage::Rooms { req, rooms }
                }
                Err(e) => internal(req, e),
            };
        }
        let Some(account) = &session.account else {
            return not_logged_in(req);
        };
        let result = match msg {
            ClientMessage::CreateRoom { room, topic, .. } => {
                if let Err(e) = validate_room(&room) {
                    return ServerMessage::error(Some(req), ErrorCode::InvalidInput, e.to_string());
                }
                if room.starts_with("film:")
                    || movietalk_protocol::relay::BUILT_IN_ROOMS.contains(&room.as_str())
                {
                    return ServerMessage::error(
                        Some(req),
                        ErrorCode::Conflict,
                        "film rooms and built-in rooms exist already and have no owner",
                    );
                }
                if topic.chars().count() > 200 || topic.chars().any(char::is_control) {
                    return ServerMessage::error(
                        Some(req),
                        ErrorCode::InvalidInput,
                        "topics are one line of at most 200 characters",
                    );
                }
                match self.chat.create_room(&room, &topic, account.id) {
                    Ok(true) => Ok(ServerMessage::RoomInfo {
                        req,
                        room: summary(room, topic, Some(account.handle.clone())),
                    }),
                    Ok(false) => {
                        return ServerMessage::error(
                            Some(req),
                            ErrorCode::Conflict,
                            "that room name is taken: it was created or used before",
                        );
                    }
                    Err(e) => Err(e),
                }
            }
            ClientMessage::Kick { room, handle, .. } => match self.chat.room(&room) {
                Err(e) => Err(e),
                Ok(Some((_, Some((creator, _))))) if creator == account.id => {
                    if handle == account.handle {
                        return ServerMessage::error(
                            Some(req),
                            ErrorCode::InvalidInput,
                            "a moderator cannot kick themselves",
                        );
                    }
                    match self.chat.ban(&room, &handle) {
                        Ok(Some(_)) => {
                            self.hub.kick(&room, &author_key(&handle, false));
                            Ok(ServerMessage::Ok { req })
                        }
                        Ok(None) => {
                            return ServerMessage::error(
                                Some(req),
                                ErrorCode::NotFound,
                                "no such account",
                            );
                        }
                        Err(e) => Err(e),
                    }
                }
                Ok(_) => {
                    return ServerMessage::error(
                        Some(req),
                        ErrorCode::Forbidden,
                        "only the room's creator moderates it",
                    );
                }
            },
            ClientMessage::DeleteMessage { room, seq, .. } => {
                let mine = author_key(&account.handle, false);
                let moderator =
                    matches!(self.chat.room(&room), Ok(Some((_, Some((c, _))))) if c == account.id);
                match self.chat.message_author(&room, seq) {
                    Err(e) => Err(e),
                    Ok(None) => {
                        return ServerMessage::error(
                            Some(req),
                            ErrorCode::NotFound,
                            "no such message",
                        );
                    }
                    Ok(Some(key)) if key == mine || moderator => {
                        self.chat.delete_message(&room, seq).map(|()| {
                            self.hub.broadcast(
                                &room,
                                &ServerMessage::MessageDeleted {
                                    room: room.clone(),
                                    seq,
                                },
                                None,
                            );
                            ServerMessage::Ok { req }
                        })
                    }
                    Ok(Some(_)) => {
                        return ServerMessage::error(
                            Some(req),
                            ErrorCode::Forbidden,
                            "this message is not yours",
                        );
                    }
                }
            }
            ClientMessage::MarkRead { room, seq, .. } => {
                if let Err(e) = validate_room(&room) {
                    return ServerMessage::error(Some(req), ErrorCode::InvalidInput, e.to_string());
                }
                // Not even how busy a room is, for those kept out of it.
                match self.chat.is_banned(&room, account.id) {
                    Ok(true) => return banned_from(req),
                    Ok(false) => {}
                    Err(e) => return internal(req, e),
                }
                // Read no further than the room's newest message (a number past it, up to
                // 2^64, would count as read messages that are not there yet).
                match self.chat.range(&room, 0, u64::MAX, 1) {
                    Err(e) => Err(e),
                    Ok(newest) => match newest.last() {
                        None => {
                            return ServerMessage::error(
                                Some(req),
                                ErrorCode::NotFound,
                                "that room has no messages",
                            );
                        }
                        Some(newest) => self
                            .chat
                            .mark_read(account.id, &room, seq.min(newest.seq))
                            .map(|()| ServerMessage::Ok { req }),
                    },
                }
            }
            ClientMessage::UnreadCounts { .. } => self.chat.unread(account.id).and_then(|rooms| {
                // Rooms marked read before a ban count no more.
                let mut open = Vec::with_capacity(rooms.len());
                for (room, unread) in rooms {
                    if !self.chat.is_banned(&room, account.id)? {
                        open.push((room, unread));
                    }
                }
                Ok(ServerMessage::Unread { req, rooms: open })
            }),
            other => {
                return ServerMessage::error(
                    Some(req),
                    ErrorCode::Internal,
                    format!("not a room request: {other:?}"),
                );
            }
        };
        result.unwrap_or_else(|e| internal(req, e))
    }

    /// Reviews, comments, likes and the change log. Reads are open to guests; writes need an
    /// account, and the store checks that the account may touch what it names.
    fn social(&self, msg: ClientMessage, account: Option<u64>) -> ServerMessage {
        use movietalk_protocol::relay::{validate_comment, validate_review_body};
        let page = |limit: u32| (limit as usize).clamp(1, self.config.history_page);
        let req = msg.req().unwrap_or_default();
        let write = |f: &dyn Fn(u64) -> Result<ServerMessage, SocialError>| match account {
            None => not_logged_in(req),
            Some(id) => f(id).unwrap_or_else(|e| social_error(req, e)),
        };
        let invalid = |e: movietalk_protocol::relay::FieldError| {
            ServerMessage::error(Some(req), ErrorCode::InvalidInput, e.to_string())
        };
        match msg {
            ClientMessage::PutReview {
                client_id,
                movie_key,
                title,
                year,
                rating,
                body,
                spoiler,
                edited_at_ms,
                ..
            } => {
                let checks = validate_client_id(&client_id)
                    .and_then(|()| validate("movie_key", &movie_key, 300))
                    .and_then(|()| validate("title", &title, 500))
                    .and_then(|()| validate_review_body(&body));
                if let Err(e) = checks {
                    return invalid(e);
                }
                if !((0.5..=5.0).contains(&rating) && (rating * 2.0).fract() == 0.0) {
                    return ServerMessage::error(
                        Some(req),
                        ErrorCode::InvalidInput,
                        "rating must be half stars from 0.5 to 5",
                    );
                }
                let new = NewReview {
                    client_id: &client_id,
                    movie_key: &movie_key,
                    title: &title,
                    year,
                    rating,
                    body: &body,
                    spoiler,
                    edited_at_ms,
                };
                write(&|id| {
                    Ok(ServerMessage::ReviewSaved {
                        req,
                        review: self.social.put_review(id, &new)?,
                    })
                })
            }
            ClientMessage::DeleteReview { review_id, .. } => write(&|id| {
                self.social
                    .delete_review(id, review_id)
                    .map(|()| ServerMessage::Ok { req })
            }),
            ClientMessage::PostComment {
                client_id,
                review_id,
                body,
                ..
            } => {
                if let Err(e) =
                    validate_client_id(&client_id).and_then(|()| validate_comment(&body))
                {
                    return invalid(e);
                }
                write(&|id| {
                    Ok(ServerMessage::CommentSaved {
                        req,
                        comment: self.social.post_comment(id, &client_id, review_id, &body)?,
                    })
                })
            }
            ClientMessage::EditComment {
                comment_id, body, ..
            } => {
                if let Err(e) = validate_comment(&body) {
                    return invalid(e);
                }
                write(&|id| {
                    Ok(ServerMessage::CommentSaved {
                        req,
                        comment: self.social.edit_comment(id, comment_id, &body)?,
                    })
                })
            }
            ClientMessage::DeleteComment { comment_id, .. } => write(&|id| {
                self.social
                    .delete_comment(id, comment_id)
                    .map(|()| ServerMessage::Ok { req })
            }),
            ClientMessage::Like { target, on, .. } => write(&|id| {
                self.social
                    .like(id, target, on)
                    .map(|()| ServerMessage::Ok { req })
            }),
            ClientMessage::ReviewsOfFilm {
                movie_key,
                cursor,
                limit,
                ..
            } => {
                let limit = page(limit);
                reviews_page(
                    req,
                    limit,
                    self.social.reviews_of_film(&movie_key, cursor, limit),
                )
            }
            ClientMessage::ReviewsByUser {
                handle,
                cursor,
                limit,
                ..
            } => {
                let limit = page(limit);
                reviews_page(
                    req,
                    limit,
                    self.social.reviews_by_user(&handle, cursor, limit),
                )
            }
            ClientMessage::Feed { cursor, limit, .. } => match account {
                None => not_logged_in(req),
                Some(id) => {
                    let limit = page(limit);
                    reviews_page(req, limit, self.social.feed(id, cursor, limit))
                }
            },
            ClientMessage::Follow { handle, on, .. } => write(&|id| {
                self.social
                    .follow(id, &handle, on)
                    .map(|()| ServerMessage::Ok { req })
            }),
            ClientMessage::Follows { handle, .. } => match self.social.follows(&handle) {
                Ok((followers, following)) => ServerMessage::Follows {
                    req,
                    handle,
                    followers,
                    following,
                },
                Err(e) => social_error(req, e),
            },
            ClientMessage::GetProfile { handle, .. } => match self.social.profile(&handle) {
                Ok(account) => ServerMessage::Profile { req, account },
                Err(e) => social_error(req, e),
            },
            ClientMessage::FilmStats { movie_key, .. } => {
                match self.social.film_stats(&movie_key) {
                    Ok((count, mean)) => ServerMessage::FilmStats {
                        req,
                        movie_key,
                        count,
                        mean,
                    },
                    Err(e) => social_error(req, e),
                }
            }
            ClientMessage::CommentsOn {
                review_id,
                cursor,
                limit,
                ..
            } => {
                let limit = page(limit);
                match self.social.comments_on(review_id, cursor, limit) {
                    Ok(comments) => {
                        let next_cursor = (comments.len() == limit)
                            .then(|| comments.last().map(|c| c.id))
                            .flatten();
                        ServerMessage::Comments {
                            req,
                            comments,
                            next_cursor,
                        }
                    }
                    Err(e) => social_error(req, e),
                }
            }
            ClientMessage::ChangesSince { since, limit, .. } => {
                match self.social.changes_since(since, page(limit)) {
                    Ok(changes) => {
                        let last = changes.last().map(|c| c.seq).unwrap_or(since);
                        ServerMessage::Changes { req, changes, last }
                    }
                    Err(e) => social_error(req, e),
                }
            }
            other => ServerMessage::error(
                Some(req),
                ErrorCode::Internal,
                format!("not a social request: {other:?}"),
            ),
        }
    }
}

/// A required, single-line text field of at most `max` characters.
fn validate(
    field: &'static str,
    value: &str,
    max: usize,
) -> Result<(), movietalk_protocol::relay::FieldError> {
    use movietalk_protocol::relay::FieldError;
    if value.trim().is_empty() {
        return Err(FieldError::Empty { field });
    }
    if value.chars().count() > max {
        return Err(FieldError::TooLong { field, max });
    }
    if value.chars().any(char::is_control) {
        return Err(FieldError::Control { field });
    }
    Ok(())
}

/// A page of reviews, with the cursor of the next page when this one is full.
fn reviews_page(
    req: u64,
    limit: usize,
    found: Result<Vec<movietalk_protocol::relay::Review>, SocialError>,
) -> ServerMessage {
    match found {
        Ok(reviews) => {
            let next_cursor = (reviews.len() == limit)
                .then(|| reviews.last().map(|r| r.id))
                .flatten();
            ServerMessage::Reviews {
                req,
                reviews,
                next_cursor,
            }
        }
        Err(e) => social_error(req, e),
    }
}

fn social_error(req: u64, e: SocialError) -> ServerMessage {
    match e {
        SocialError::NotFound(_) => {
            ServerMessage::error(Some(req), ErrorCode::NotFound, e.to_string())
        }
        SocialError::Forbidden(_) => {
            ServerMessage::error(Some(req), ErrorCode::Forbidden, e.to_string())
        }
        SocialError::Store(e) => internal(req, e),
    }
}

fn banned_from(req: u64) -> ServerMessage {
    ServerMessage::error(
        Some(req),
        ErrorCode::Forbidden,
        "the room's moderator removed you from this room",
    )
}

fn session_ended(req: u64) -> ServerMessage {
    ServerMessage::error(
        Some(req),
        ErrorCode::SessionExpired,
        "this session ended (logged out, revoked or expired); log in again",
    )
}

fn not_logged_in(req: u64) -> ServerMessage {
    ServerMessage::error(Some(req), ErrorCode::Unauthorized, "log in first")
}

fn account_error(req: u64, e: AccountError) -> ServerMessage {
    let code = match e {
        AccountError::HandleTaken
        | AccountError::IdentityTaken
        | AccountError::ProviderAlreadyLinked => ErrorCode::Conflict,
        AccountError::InvalidCredentials
        | AccountError::InvalidToken
        | AccountError::RecentLoginRequired => ErrorCode::InvalidCredentials,
        AccountError::TokenReused { .. } => ErrorCode::TokenReused,
        AccountError::Busy => ErrorCode::RateLimited,
        AccountError::NotFound => ErrorCode::NotFound,
        AccountError::LastLoginMethod => ErrorCode::LastLoginMethod,
        AccountError::Store(e) => return internal(req, e),
    };
    ServerMessage::error(Some(req), code, e.to_string())
}

fn verify_error(req: u64, e: VerifyError) -> ServerMessage {
    let code = match e {
        VerifyError::UnknownProvider(_) => ErrorCode::NotFound,
        VerifyError::MissingCredential(_) => ErrorCode::InvalidInput,
        VerifyError::Rejected(_) => ErrorCode::InvalidCredentials,
        VerifyError::Unavailable(_) => ErrorCode::ProviderUnavailable,
    };
    if code == ErrorCode::ProviderUnavailable {
        tracing::warn!(error = %e, "identity provider unavailable");
    } else {
        tracing::debug!(error = %e, "provider credential refused");
    }
    ServerMessage::error(Some(req), code, e.to_string())
}

/// Requests a connection whose access token expired may still make: those that log in anew
/// or end the session.
fn renews_session(msg: &ClientMessage) -> bool {
    matches!(
        msg,
        ClientMessage::Refresh { .. }
            | ClientMessage::Authenticate { .. }
            | ClientMessage::LogIn { .. }
            | ClientMessage::SignUp { .. }
            | ClientMessage::ProviderLogin { .. }
            | ClientMessage::LogOut { .. }
    )
}

/// A storage failure, logged here and reported to the client as retryable.
fn internal(req: u64, e: crate::store::StoreError) -> ServerMessage {
    tracing::error!(error = %e, "storage failed");
    ServerMessage::error(
        Some(req),
        ErrorCode::Internal,
        "the relay could not store this; try again",
    )
}

/// Requests that store something, limited per account across all its connections.
fn is_write(msg: &ClientMessage) -> bool {
    matches!(
        msg,
        ClientMessage::Send { .. }
            | ClientMessage::PutReview { .. }
            | ClientMessage::PostComment { .. }
            | ClientMessage::EditComment { .. }
            | ClientMessage::Like { .. }
            | ClientMessage::Follow { .. }
    )
}

/// Writes one message, giving up on a client that does not take it within `limit` (a slow
/// reader).
async fn send<S>(sink: &mut S, msg: Message, limit: std::time::Duration) -> Result<(), End>
where
    S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    send_all(sink, std::iter::once(msg), limit).await
}

/// The largest frame the relay writes. tungstenite copies each outgoing frame into a
/// per-connection buffer that keeps its largest size for the life of the connection (and offers
/// no way to shrink it): one 40 KB history page would cost every connection that received one
/// 40 KB for good. Larger messages are sent in fragments of this size instead.
const MAX_FRAME_OUT: usize = 4 * 1024;

/// `msg` as frames of at most [`MAX_FRAME_OUT`] bytes of payload: a longer text message becomes
/// a fragmented one (RFC 6455 §5.4: a text frame, then continuation frames, the last marked
/// final), which every WebSocket client reassembles. Split on character boundaries.
fn fragments(msg: Message) -> Vec<Message> {
    use tokio_tungstenite::tungstenite::protocol::frame::Frame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::{Data, OpCode};
    let text = match msg {
        Message::Text(text) if text.len() > MAX_FRAME_OUT => text,
        other => return vec![other],
    };
    let mut cuts = vec![0];
    let mut at = 0;
    while text.len() - at > MAX_FRAME_OUT {
        let mut end = at + MAX_FRAME_OUT;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        cuts.push(end);
        at = end;
    }
    cuts.push(text.len());
    let bytes = tokio_tungstenite::tungstenite::Bytes::from(text);
    cuts.windows(2)
        .enumerate()
        .map(|(i, w)| {
            let opcode = OpCode::Data(if i == 0 { Data::Text } else { Data::Continue });
            let last = w[1] == bytes.len();
            Message::Frame(Frame::message(bytes.slice(w[0]..w[1]), opcode, last))
        })
        .collect()
}

/// Writes several messages with one flush, within `limit` in all.
async fn send_all<S>(
    sink: &mut S,
    msgs: impl Iterator<Item = Message>,
    limit: std::time::Duration,
) -> Result<(), End>
where
    S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    let write = async {
        for m in msgs {
            match m {
                Message::Text(text) if text.len() > MAX_FRAME_OUT => {
                    for frame in fragments(Message::Text(text)) {
                        sink.feed(frame).await?;
                    }
                }
                small => sink.feed(small).await?,
            }
        }
        sink.flush().await
    };
    // Most writes finish at once: only a write that has to wait gets a timer.
    let mut write = std::pin::pin!(write);
    let first = std::future::poll_fn(|cx| std::task::Poll::Ready(write.as_mut().poll(cx))).await;
    let done = match first {
        std::task::Poll::Ready(done) => Ok(done),
        std::task::Poll::Pending => tokio::time::timeout(limit, write).await,
    };
    match done {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(End::Io(e.to_string())),
        Err(_) => Err(End::SlowReader),
    }
}

/// The connection's task takes the socket's write side (`outlet`), writing first what the
/// fan-out queued for it — perhaps the rest of a frame it began — so that its own frames
/// follow whole frames.
async fn take(
    mailbox: &Mailbox,
    queue: &mut mpsc::Receiver<Bytes>,
    limit: std::time::Duration,
) -> Result<(), End> {
    mailbox.acquire();
    match queue.try_recv() {
        Ok(first) => write_queued(mailbox, first, queue, limit).await,
        Err(_) => Ok(()),
    }
}

/// Writes `first` and what else is queued (up to a batch), with one system call where it fits.
async fn write_queued(
    mailbox: &Mailbox,
    first: Bytes,
    queue: &mut mpsc::Receiver<Bytes>,
    limit: std::time::Duration,
) -> Result<(), End> {
    let batch: Vec<Bytes> = std::iter::once(first)
        .chain(std::iter::from_fn(|| queue.try_recv().ok()).take(63))
        .collect();
    match mailbox.write(&batch, limit).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(End::SlowReader),
        Err(e) => Err(End::Io(e.to_string())),
    }
}

/// Flushes what tungstenite holds (a pong it owes), then gives the write side back to the
/// fan-out — after writing whatever was queued meanwhile.
async fn give_back(
    ws: &mut WebSocketStream<Stream>,
    mailbox: &Mailbox,
    queue: &mut mpsc::Receiver<Bytes>,
    limit: std::time::Duration,
) -> Result<(), End> {
    send_all(ws, std::iter::empty(), limit).await?;
    while let Some(first) = mailbox.release(queue) {
        write_queued(mailbox, first, queue, limit).await?;
    }
    Ok(())
}

/// Rate-limited frames a client may send in a row before it is disconnected.
const MAX_STRIKES: u32 = 100;

/// [`SessionParams`] that own their client name.
struct OwnedParams {
    now_ms: u64,
    lifetimes: crate::accounts::Lifetimes,
    client: String,
}

impl OwnedParams {
    fn params(&self) -> SessionParams<'_> {
        SessionParams {
            now_ms: self.now_ms,
            lifetimes: self.lifetimes,
            client: &self.client,
        }
    }
}

/// What the relay knows about a connection after `hello`.
struct Session {
    conn: ConnId,
    /// Who this connection is as a guest ([`author_key`] scoped to the connection, unique
    /// across relay instances and restarts): two guests of the same name are two people, and
    /// one's client ids never collide with the other's.
    guest_key: String,
    /// The display name from `hello`; `None` until then.
    name: Option<String>,
    /// What the client called itself in `hello`, for the session list.
    client: String,
    /// The logged-in account, if any.
    account: Option<Account>,
    /// The session this connection is logged in with (revoked by `log_out`).
    session_id: Option<u64>,
    /// When the access token this connection logged in with runs out (relay clock); after that
    /// it must refresh before acting for the account again.
    access_expires_at_ms: u64,
    rooms: HashSet<String>,
    /// This connection's mailbox: where the hub and [`crate::sessions`] reach it.
    mailbox: Mailbox,
    /// Writes this connection may make as a guest (an account's are counted per account).
    writes: Bucket,
}

impl Session {
    /// Who writes: the account's handle, or the guest's name.
    fn author(&self, guest_name: &str) -> (String, bool) {
        match &self.account {
            Some(a) => (a.handle.clone(), false),
            None => (guest_name.to_owned(), true),
        }
    }

    /// Who this connection is for idempotency and presence ([`author_key`]).
    fn key(&self) -> String {
        match &self.account {
            Some(a) => author_key(&a.handle, false),
            None => self.guest_key.clone(),
        }
    }
}

/// A random number chosen once per process: guests' keys carry it, so connection numbers, which
/// start again at 1 with every relay process, never make two guests one.
fn instance_nonce() -> u64 {
    static NONCE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *NONCE.get_or_init(|| {
        let mut bytes = [0u8; 8];
        getrandom::fill(&mut bytes).expect("the OS random source works");
        u64::from_le_bytes(bytes)
    })
}
