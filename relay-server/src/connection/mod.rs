//! One client connection: WebSocket upgrade, `hello`, then requests until the client leaves,
//! goes idle, reads too slowly, or the relay shuts down.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};

use futures_util::{SinkExt, StreamExt};
use movietalk_protocol::relay::{
    ClientMessage, ErrorCode, PROTOCOL_VERSION, ServerMessage, validate_name,
};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::protocol::frame::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Bytes, Message};

use crate::bucket::Bucket;
use crate::hub::Mailbox;
use crate::outlet::Stream;

mod accounts;
mod answers;
mod chat;
mod handler;
mod library;
mod rooms;
mod session;
mod social;
mod transport;

use answers::{account_error, session_ended};
pub use handler::Handler;
use handler::{End, blocking};
use session::{Session, instance_nonce};
use transport::{give_back, send, take, write_queued};

/// Rate-limited frames a client may send in a row before it is disconnected.
const MAX_STRIKES: u32 = 100;

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

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
                                // Counted like any frame: refused ones answer nothing.
                                if !frames.take() {
                                    strikes += 1;
                                    if strikes > MAX_STRIKES {
                                        break 'frame Err(End::Fatal(ErrorCode::RateLimited, "kept sending after being rate limited".into()));
                                    }
                                    break 'frame Ok(());
                                }
                                let err = ServerMessage::error(None, ErrorCode::Malformed, "binary frames are not supported; send JSON text");
                                break 'frame send(&mut ws, Message::text(err.to_json()), write_timeout).await;
                            }
                            // Ping / pong: tungstenite queued the pong, `give_back` flushes it.
                            Some(Ok(_)) => break 'frame Ok(()),
                        };
                        let (reply, fatal) = if frames.take() {
                            // Only refusals in a row count: a client that slowed down is forgiven.
                            strikes = 0;
                            self.handle(&text, session).await
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
    ) -> (Option<ServerMessage>, Option<(ErrorCode, String)>) {
        let (req, msg) = match movietalk_protocol::relay::decode_client(text) {
            Ok(frame) => (frame.req, frame.msg),
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
        if session.mailbox.session_ended().is_some() {
            // The session ended elsewhere while this frame was on its way: the connection is
            // closing; nothing more is done for it, as the account or as a guest.
            self.become_guest(session);
            return (req.map(session_ended), None);
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
                Some(Err(e)) => return (req.map(|req| account_error(req, e)), None),
                Some(Ok(false)) | None => {
                    self.become_guest(session);
                    return (req.map(session_ended), None);
                }
            }
        }
        let (author, guest) = session.author(&name);
        // Joining a room this relay does not hold yet stores its name for good (no one may
        // create it later): a write, limited like one.
        let new_room = matches!(&msg, ClientMessage::Join { room, .. } if !self.hub.holds(room));
        if (is_write(&msg) || new_room) && !self.may_write(session) {
            let reply =
                ServerMessage::error(req, ErrorCode::RateLimited, "writing too fast; slow down");
            return (Some(reply), None);
        }
        let (req, msg) = match (req, msg) {
            (_, ClientMessage::Hello { .. }) => {
                let reply =
                    ServerMessage::error(None, ErrorCode::Malformed, "hello was already sent");
                return (Some(reply), None);
            }
            (_, ClientMessage::Typing { room }) => {
                self.typing(session, &room, &author);
                return (None, None);
            }
            (Some(req), msg) => (req, msg),
            // `decode_client` refuses these already.
            (None, _) => {
                let reply =
                    ServerMessage::error(None, ErrorCode::Malformed, "a request needs a req");
                return (Some(reply), None);
            }
        };
        let reply = match msg {
            msg @ (ClientMessage::Join { .. }
            | ClientMessage::History { .. }
            | ClientMessage::Leave { .. }
            | ClientMessage::Send { .. }) => {
                self.chat_request(req, msg, session, (&author, guest)).await
            }
            msg @ (ClientMessage::CreateRoom { .. }
            | ClientMessage::ListRooms { .. }
            | ClientMessage::Kick { .. }
            | ClientMessage::DeleteMessage { .. }
            | ClientMessage::MarkRead { .. }
            | ClientMessage::UnreadCounts { .. }) => blocking(|| self.rooms(req, msg, session)),
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
                let account = session.account.as_ref().map(|a| a.id);
                blocking(|| self.social(req, msg, account))
            }
            msg @ (ClientMessage::SetWatchlist { .. }
            | ClientMessage::WatchlistPublic { .. }
            | ClientMessage::Watchlist { .. }
            | ClientMessage::PutDiaryEntry { .. }
            | ClientMessage::DeleteDiaryEntry { .. }
            | ClientMessage::Diary { .. }) => {
                let account = session.account.as_ref().map(|a| a.id);
                blocking(|| self.library(req, msg, account))
            }
            // Public, held in memory: no store, no blocking.
            ClientMessage::CommunityModel { since, page } => self.model.page(req, since, page),
            // Everything else is about accounts and sessions.
            msg => self.account_request(req, msg, session).await,
        };
        (Some(reply), None)
    }
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

/// Requests that store something, limited per account across all its connections.
fn is_write(msg: &ClientMessage) -> bool {
    matches!(
        msg,
        ClientMessage::Send { .. }
            // Not writes, but a page of the model is a megabyte to send, and a whole diary or
            // watchlist up to a few: limited like one, so no one client keeps the relay
            // serialising them (or fills its outgoing queue with them).
            | ClientMessage::CommunityModel { .. }
            | ClientMessage::Watchlist { .. }
            | ClientMessage::Diary { .. }
            | ClientMessage::CreateRoom { .. }
            | ClientMessage::PutReview { .. }
            | ClientMessage::PostComment { .. }
            | ClientMessage::EditComment { .. }
            | ClientMessage::Like { .. }
            | ClientMessage::Follow { .. }
            | ClientMessage::SetWatchlist { .. }
            | ClientMessage::WatchlistPublic { .. }
            | ClientMessage::PutDiaryEntry { .. }
            | ClientMessage::DeleteDiaryEntry { .. }
    )
}
