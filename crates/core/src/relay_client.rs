//! A client for the relay's WebSocket protocol, used by the app, the CLI and tests.
//!
//! [`RelayClient::connect`] performs the handshake and spawns one task that owns the socket:
//! requests go to it over a channel and their replies come back on a oneshot matched by
//! request id; pushed events (chat messages, presence, disconnection) arrive on the
//! [`RelayEvent`] receiver returned by `connect`.

use std::collections::HashMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use movietalk_protocol::relay::{
    Account, ChatMessage, ClientFrame, ClientMessage, ErrorCode, PROTOCOL_VERSION, RoomSummary,
    ServerMessage,
};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::Message;

/// How long a request waits for its reply before failing.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long connecting (TCP + WebSocket + hello) may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a relay operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the relay at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("the relay refused the request ({code:?}): {message}")]
    Rejected { code: ErrorCode, message: String },
    #[error("the connection to the relay is closed")]
    Closed,
    #[error("the relay did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the relay sent something unexpected: {0}")]
    Protocol(String),
}

/// Something the relay pushed without being asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayEvent {
    Message(ChatMessage),
    Presence {
        room: String,
        present: u32,
    },
    /// A message was deleted by its author or the room's moderator.
    MessageDeleted {
        room: String,
        seq: u64,
    },
    /// Someone in a joined room is typing.
    Typing {
        room: String,
        who: String,
    },
    /// The room's moderator removed this connection from the room.
    Kicked {
        room: String,
    },
    /// The connection ended; no more events follow.
    Disconnected {
        reason: String,
    },
}

/// A logged-in session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedIn {
    pub account: Account,
    /// The session's id on the relay (as listed by `list_sessions`).
    pub session_id: u64,
    /// The short-lived access token, present after sign-up, log-in, provider log-in and
    /// refresh: keep it in the OS keyring, never in a file.
    pub token: Option<String>,
    /// When the access token expires (relay clock, ms since the Unix epoch).
    pub expires_at_ms: u64,
    /// The refresh token that comes with a new `token` (keyring too); trade it with `refresh`
    /// before `expires_at_ms`. It works once: the answer carries its successor.
    pub refresh_token: Option<String>,
    pub refresh_expires_at_ms: Option<u64>,
}

/// How this client names itself in `hello` (shown in the account's session list).
/// This process's guest identity (see `ClientMessage::Hello::guest_id`): random, made once, so
/// a guest's resends after a reconnection are stored once.
fn guest_id() -> &'static str {
    static ID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ID.get_or_init(|| uuid::Uuid::new_v4().simple().to_string())
}

fn client_label() -> String {
    format!(
        "MovieTalk {} on {}",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS
    )
}

/// What a join returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub room: String,
    pub history: Vec<ChatMessage>,
    pub present: u32,
}

type Reply = oneshot::Sender<Result<ServerMessage, ClientError>>;

/// Messages asked for per catch-up page (the relay caps pages at its own limit, 200 by default).
const HISTORY_PAGE: u32 = 200;
/// Most catch-up pages one join reads (a million messages at the default page).
const MAX_CATCH_UP_PAGES: u32 = 5_000;

/// A handle to one connection; cheap to clone. The connection closes when every handle is dropped.
#[derive(Debug, Clone)]
pub struct RelayClient {
    requests: mpsc::Sender<(ClientFrame, Reply)>,
    next_req: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl RelayClient {
    /// Connects to `url` (`ws://host:port`), says hello as `name`, and returns the client and its
    /// event stream.
    pub async fn connect(
        url: &str,
        name: &str,
    ) -> Result<(RelayClient, mpsc::Receiver<RelayEvent>), ClientError> {
        let unreachable = |reason: String| ClientError::Unreachable {
            url: url.to_owned(),
            reason,
        };
        // tungstenite zero-fills its whole read buffer before every read; its 128 KiB default
        // made each small chat frame cost a 128 KiB memset (measured in the load generator).
        let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
            .read_buffer_size(8 * 1024);
        let (mut ws, _) = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_tungstenite::connect_async_with_config(url, Some(config), false),
        )
        .await
        .map_err(|_| unreachable("timed out".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
        let hello = ClientMessage::Hello {
            version: PROTOCOL_VERSION,
            name: name.to_owned(),
            client: Some(client_label()),
            guest_id: Some(guest_id().to_owned()),
        };
        ws.send(Message::text(hello.to_json()))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let first = tokio::time::timeout(CONNECT_TIMEOUT, ws.next())
            .await
            .map_err(|_| ClientError::Timeout(CONNECT_TIMEOUT))?;
        match first {
            Some(Ok(Message::Text(text))) => match serde_json::from_str::<ServerMessage>(&text) {
                Ok(ServerMessage::Welcome { .. }) => {}
                Ok(ServerMessage::Error { code, message, .. }) => {
                    return Err(ClientError::Rejected { code, message });
                }
                Ok(other) => {
                    return Err(ClientError::Protocol(format!(
                        "expected welcome, got {other:?}"
                    )));
                }
                Err(e) => return Err(ClientError::Protocol(e.to_string())),
            },
            Some(Ok(other)) => {
                return Err(ClientError::Protocol(format!(
                    "expected a text frame, got {other:?}"
                )));
            }
            Some(Err(e)) => return Err(unreachable(e.to_string())),
            None => return Err(ClientError::Closed),
        }
        let (req_tx, req_rx) = mpsc::channel(64);
        let (event_tx, event_rx) = mpsc::channel(1024);
        tokio::spawn(drive(ws, req_rx, event_tx));
        Ok((
            RelayClient {
                requests: req_tx,
                next_req: Default::default(),
            },
            event_rx,
        ))
    }

    fn next_req(&self) -> u64 {
        self.next_req
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1
    }

    async fn request(&self, msg: ClientMessage) -> Result<ServerMessage, ClientError> {
        let (tx, rx) = oneshot::channel();
        self.requests
            .send((msg.with_req(self.next_req()), tx))
            .await
            .map_err(|_| ClientError::Closed)?;
        match tokio::time::timeout(REQUEST_TIMEOUT, rx).await {
            Err(_) => Err(ClientError::Timeout(REQUEST_TIMEOUT)),
            Ok(Err(_)) => Err(ClientError::Closed),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Ok(Ok(ServerMessage::Error { code, message, .. }))) => {
                Err(ClientError::Rejected { code, message })
            }
            Ok(Ok(Ok(reply))) => Ok(reply),
        }
    }

    /// Sends any request under a fresh request id and returns the relay's answer; a refusal is
    /// an error carrying its code.
    pub async fn call(&self, msg: ClientMessage) -> Result<ServerMessage, ClientError> {
        self.request(msg).await
    }

    /// Joins `room`, receiving the messages after `since` (or the recent ones). A resuming
    /// client (`since` set) gets every message after `since` up to where the relay's live
    /// delivery starts, however many pages that takes: the history returned and the
    /// [`RelayEvent`]s that follow hold each message exactly once, in order.
    pub async fn join(&self, room: &str, since: Option<u64>) -> Result<Joined, ClientError> {
        let (room, mut history, present, live_after) = match self
            .request(ClientMessage::Join {
                room: room.to_owned(),
                since,
            })
            .await?
        {
            ServerMessage::Joined {
                room,
                history,
                present,
                live_after,
                ..
            } => (room, history, present, live_after),
            other => {
                return Err(ClientError::Protocol(format!(
                    "expected joined, got {other:?}"
                )));
            }
        };
        // Catch up page by page to where live delivery started (relays older than
        // `live_after` said nothing: their first page is all there is).
        if let (Some(since), Some(live_after)) = (since, live_after) {
            let mut last = history.last().map_or(since, |m| m.seq);
            let mut pages = 0;
            while last < live_after {
                // A relay that keeps answering without end is not followed further.
                pages += 1;
                if pages > MAX_CATCH_UP_PAGES {
                    return Err(ClientError::Protocol(format!(
                        "{room}: still behind after {MAX_CATCH_UP_PAGES} pages"
                    )));
                }
                let page = self
                    .history_after(&room, last, live_after.saturating_add(1), HISTORY_PAGE)
                    .await?;
                match page.last() {
                    Some(m) if m.seq > last => last = m.seq,
                    // Nothing more stored below `live_after` (deleted rows never vanish, so
                    // this is a gap the relay cannot fill): stop rather than ask forever.
                    _ => break,
                }
                history.extend(page);
            }
        }
        Ok(Joined {
            room,
            history,
            present,
        })
    }

    /// Up to `limit` messages of `room` after sequence `after` and before `before`, oldest
    /// first (catching up).
    pub async fn history_after(
        &self,
        room: &str,
        after: u64,
        before: u64,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, ClientError> {
        self.history_page(room, Some(after), before, limit).await
    }

    /// Up to `limit` messages of `room` before sequence `before`, oldest first.
    pub async fn history(
        &self,
        room: &str,
        before: u64,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, ClientError> {
        self.history_page(room, None, before, limit).await
    }

    async fn history_page(
        &self,
        room: &str,
        after: Option<u64>,
        before: u64,
        limit: u32,
    ) -> Result<Vec<ChatMessage>, ClientError> {
        match self
            .request(ClientMessage::History {
                room: room.to_owned(),
                before,
                limit,
                after,
            })
            .await?
        {
            ServerMessage::History { messages, .. } => Ok(messages),
            other => Err(ClientError::Protocol(format!(
                "expected history, got {other:?}"
            ))),
        }
    }

    /// Creates an account and logs this connection in; returns the account and its token.
    pub async fn sign_up(
        &self,
        handle: &str,
        password: &str,
        display_name: Option<&str>,
    ) -> Result<LoggedIn, ClientError> {
        let msg = ClientMessage::SignUp {
            handle: handle.to_owned(),
            password: password.to_owned(),
            display_name: display_name.map(str::to_owned),
        };
        self.session(msg).await
    }

    /// Logs this connection in with a handle and password.
    pub async fn log_in(&self, handle: &str, password: &str) -> Result<LoggedIn, ClientError> {
        self.session(ClientMessage::LogIn {
            handle: handle.to_owned(),
            password: password.to_owned(),
        })
        .await
    }

    /// Logs this connection in with a token from an earlier session.
    pub async fn authenticate(&self, token: &str) -> Result<LoggedIn, ClientError> {
        self.session(ClientMessage::Authenticate {
            token: token.to_owned(),
        })
        .await
    }

    pub(crate) async fn session(&self, msg: ClientMessage) -> Result<LoggedIn, ClientError> {
        match self.request(msg).await? {
            reply @ ServerMessage::Session { .. } => logged_in(reply),
            other => Err(ClientError::Protocol(format!(
                "expected session, got {other:?}"
            ))),
        }
    }

    /// Revokes this connection's session; it continues as a guest.
    pub async fn log_out(&self) -> Result<(), ClientError> {
        self.request(ClientMessage::LogOut {}).await.map(|_| ())
    }

    /// Changes profile fields (None leaves a field as it is; an empty avatar removes it).
    pub async fn update_profile(
        &self,
        display_name: Option<&str>,
        bio: Option<&str>,
        avatar_url: Option<&str>,
    ) -> Result<Account, ClientError> {
        let msg = ClientMessage::UpdateProfile {
            display_name: display_name.map(str::to_owned),
            bio: bio.map(str::to_owned),
            avatar_url: avatar_url.map(str::to_owned),
        };
        match self.request(msg).await? {
            ServerMessage::Profile { account, .. } => Ok(account),
            other => Err(ClientError::Protocol(format!(
                "expected profile, got {other:?}"
            ))),
        }
    }

    /// Changes the password; the account's other sessions are revoked.
    pub async fn change_password(&self, current: &str, new: &str) -> Result<(), ClientError> {
        let msg = ClientMessage::ChangePassword {
            current: current.to_owned(),
            new: new.to_owned(),
        };
        self.request(msg).await.map(|_| ())
    }

    /// Deletes the logged-in account.
    pub async fn delete_account(&self, password: &str) -> Result<(), ClientError> {
        self.request(ClientMessage::DeleteAccount {
            password: password.to_owned(),
        })
        .await
        .map(|_| ())
    }

    /// Tells the room this user is typing (no answer).
    pub async fn typing(&self, room: &str) -> Result<(), ClientError> {
        let (tx, _rx) = oneshot::channel();
        self.requests
            .send((
                ClientMessage::Typing {
                    room: room.to_owned(),
                }
                .into(),
                tx,
            ))
            .await
            .map_err(|_| ClientError::Closed)
    }

    /// Leaves `room`.
    pub async fn leave(&self, room: &str) -> Result<(), ClientError> {
        self.request(ClientMessage::Leave {
            room: room.to_owned(),
        })
        .await
        .map(|_| ())
    }

    /// Posts `text` to `room` under a fresh client id; returns the sequence number it was stored under.
    pub async fn send(&self, room: &str, text: &str) -> Result<u64, ClientError> {
        self.send_with_id(room, &uuid::Uuid::new_v4().to_string(), text)
            .await
    }

    /// Posts `text` to `room` under `client_id`; sending the same id again returns the same sequence.
    pub async fn send_with_id(
        &self,
        room: &str,
        client_id: &str,
        text: &str,
    ) -> Result<u64, ClientError> {
        let msg = ClientMessage::Send {
            room: room.to_owned(),
            client_id: client_id.to_owned(),
            text: text.to_owned(),
        };
        match self.request(msg).await? {
            ServerMessage::Sent { seq, .. } => Ok(seq),
            other => Err(ClientError::Protocol(format!(
                "expected sent, got {other:?}"
            ))),
        }
    }

    /// Rooms that were created or have people in them, with live presence.
    pub async fn list_rooms(&self) -> Result<Vec<RoomSummary>, ClientError> {
        match self.call(ClientMessage::ListRooms {}).await? {
            ServerMessage::Rooms { rooms, .. } => Ok(rooms),
            other => Err(ClientError::Protocol(format!(
                "expected rooms, got {other:?}"
            ))),
        }
    }

    /// Creates a room with a topic, moderated by the logged-in account.
    pub async fn create_room(&self, room: &str, topic: &str) -> Result<RoomSummary, ClientError> {
        let (room, topic) = (room.to_owned(), topic.to_owned());
        match self.call(ClientMessage::CreateRoom { room, topic }).await? {
            ServerMessage::RoomInfo { room, .. } => Ok(room),
            other => Err(ClientError::Protocol(format!(
                "expected room_info, got {other:?}"
            ))),
        }
    }

    /// Unread messages per room the logged-in account has read before.
    pub async fn unread_counts(&self) -> Result<Vec<(String, u64)>, ClientError> {
        match self.call(ClientMessage::UnreadCounts {}).await? {
            ServerMessage::Unread { rooms, .. } => Ok(rooms),
            other => Err(ClientError::Protocol(format!(
                "expected unread, got {other:?}"
            ))),
        }
    }

    /// Remembers that the logged-in account has read `room` up to `seq`.
    pub async fn mark_read(&self, room: &str, seq: u64) -> Result<(), ClientError> {
        let room = room.to_owned();
        self.call(ClientMessage::MarkRead { room, seq })
            .await
            .map(|_| ())
    }

    /// Follows (or, with `on: false`, stops following) another account.
    pub async fn follow(&self, handle: &str, on: bool) -> Result<(), ClientError> {
        let handle = handle.to_owned();
        self.call(ClientMessage::Follow { handle, on })
            .await
            .map(|_| ())
    }

    /// Who follows `handle`, and whom it follows (handles, alphabetically).
    pub async fn follows(&self, handle: &str) -> Result<(Vec<String>, Vec<String>), ClientError> {
        let handle = handle.to_owned();
        match self.call(ClientMessage::Follows { handle }).await? {
            ServerMessage::Follows {
                followers,
                following,
                ..
            } => Ok((followers, following)),
            other => Err(ClientError::Protocol(format!(
                "expected follows, got {other:?}"
            ))),
        }
    }

    /// The public profile of `handle`.
    pub async fn profile(&self, handle: &str) -> Result<Account, ClientError> {
        let handle = handle.to_owned();
        match self.call(ClientMessage::GetProfile { handle }).await? {
            ServerMessage::Profile { account, .. } => Ok(account),
            other => Err(ClientError::Protocol(format!(
                "expected a profile, got {other:?}"
            ))),
        }
    }

    /// Deletes a message (its author or the room's moderator may).
    pub async fn delete_message(&self, room: &str, seq: u64) -> Result<(), ClientError> {
        let room = room.to_owned();
        self.call(ClientMessage::DeleteMessage { room, seq })
            .await
            .map(|_| ())
    }
}

/// Reads a `session` answer.
pub(crate) fn logged_in(reply: ServerMessage) -> Result<LoggedIn, ClientError> {
    match reply {
        ServerMessage::Session {
            account,
            session_id,
            token,
            expires_at_ms,
            refresh_token,
            refresh_expires_at_ms,
            ..
        } => Ok(LoggedIn {
            account,
            session_id,
            token,
            expires_at_ms,
            refresh_token,
            refresh_expires_at_ms,
        }),
        other => Err(ClientError::Protocol(format!(
            "expected session, got {other:?}"
        ))),
    }
}

/// Owns the socket: writes requests, routes replies to their waiters and events to the stream.
async fn drive<S>(
    ws: tokio_tungstenite::WebSocketStream<S>,
    mut requests: mpsc::Receiver<(ClientFrame, Reply)>,
    events: mpsc::Sender<RelayEvent>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let (mut sink, mut stream) = ws.split();
    let mut pending: HashMap<u64, Reply> = HashMap::new();
    let reason = loop {
        tokio::select! {
            request = requests.recv() => {
                let Some((frame, reply)) = request else {
                    let _ = sink.send(Message::Close(None)).await;
                    break "closed by the client".to_owned();
                };
                match sink.send(Message::text(frame.to_json())).await {
                    Ok(()) => {
                        if let Some(req) = frame.req {
                            pending.insert(req, reply);
                        }
                    }
                    Err(e) => {
                        let _ = reply.send(Err(ClientError::Closed));
                        break e.to_string();
                    }
                }
            }
            frame = stream.next() => {
                let text = match frame {
                    Some(Ok(Message::Text(text))) => text,
                    Some(Ok(Message::Close(frame))) => {
                        break frame.map(|f| f.reason.to_string()).unwrap_or_else(|| "closed by the relay".into());
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => break e.to_string(),
                    None => break "closed by the relay".to_owned(),
                };
                let msg = match serde_json::from_str::<ServerMessage>(&text) {
                    Ok(msg) => msg,
                    Err(e) => {
                        tracing::warn!(error = %e, "unreadable frame from the relay");
                        continue;
                    }
                };
                if let Some(req) = msg.reply_to() {
                    if let Some(waiter) = pending.remove(&req) {
                        let _ = waiter.send(Ok(msg));
                    }
                    continue;
                }
                let event = match msg {
                    ServerMessage::Message(m) => RelayEvent::Message(m),
                    ServerMessage::Presence { room, present } => RelayEvent::Presence { room, present },
                    ServerMessage::MessageDeleted { room, seq } => RelayEvent::MessageDeleted { room, seq },
                    ServerMessage::Typing { room, who } => RelayEvent::Typing { room, who },
                    ServerMessage::Kicked { room } => RelayEvent::Kicked { room },
                    ServerMessage::Error { code, message, .. } => {
                        tracing::warn!(?code, %message, "relay error without a request");
                        continue;
                    }
                    _ => continue,
                };
                if events.send(event).await.is_err() {
                    // Nobody listens to events any more; keep serving requests.
                }
            }
        }
    };
    for (_, waiter) in pending.drain() {
        let _ = waiter.send(Err(ClientError::Closed));
    }
    let _ = events.send(RelayEvent::Disconnected { reason }).await;
}
