//! A bare WebSocket client of a test relay, speaking the protocol frame by frame as a probe
//! would, for what the core client does not show: raw frames, events in order, the close
//! frame's code and reason.

#![allow(dead_code)] // each test file uses part of it

use std::collections::VecDeque;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use movietalk_protocol::relay::{ClientMessage, ErrorCode, PROTOCOL_VERSION, ServerMessage};
use movietalk_relay::RunningRelay;
use tokio_tungstenite::tungstenite::Message;

/// How long a raw client waits for any one frame.
const WAIT: Duration = Duration::from_secs(5);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A plain WebSocket client speaking the protocol frame by frame, as a probe would.
pub struct Raw {
    ws: Socket,
    next_req: u64,
    /// Frames that were not the reply being waited for, in order.
    events: VecDeque<ServerMessage>,
}

impl Raw {
    pub async fn connect(relay: &RunningRelay, name: &str) -> Raw {
        let mut raw = Raw::hello(relay, name).await;
        match raw.frame().await {
            Some(ServerMessage::Welcome { .. }) => raw,
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    /// Connects and says hello, without reading the answer.
    pub async fn hello(relay: &RunningRelay, name: &str) -> Raw {
        let (ws, _) = tokio_tungstenite::connect_async(relay.url()).await.unwrap();
        let mut raw = Raw {
            ws,
            next_req: 1,
            events: VecDeque::new(),
        };
        let hello = ClientMessage::Hello {
            version: PROTOCOL_VERSION,
            name: name.into(),
            client: None,
            guest_id: None,
        };
        raw.send_text(hello.to_json()).await;
        raw
    }

    pub async fn send_text(&mut self, text: String) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    /// The next frame from the relay; `None` once the connection is closed.
    pub async fn frame(&mut self) -> Option<ServerMessage> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Some(serde_json::from_str(&t).expect("the relay speaks the protocol"));
                }
                Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) => return None,
                Ok(Some(Ok(_))) => continue,
                Err(_) => panic!("the relay said nothing for {WAIT:?}"),
            }
        }
    }

    /// Sends a request and returns its answer, keeping whatever came before it.
    pub async fn call(&mut self, msg: ClientMessage) -> ServerMessage {
        let req = self.next_req;
        self.next_req += 1;
        self.send_text(msg.with_req(req).to_json()).await;
        self.answer(req).await
    }

    pub async fn answer(&mut self, req: u64) -> ServerMessage {
        loop {
            match self.frame().await {
                Some(msg) if msg.reply_to() == Some(req) => return msg,
                Some(ServerMessage::Error { req: None, .. }) | None => {
                    panic!("no answer to request {req}: the connection closed")
                }
                Some(msg) => self.events.push_back(msg),
            }
        }
    }

    /// The code of an error answer.
    pub async fn refused(&mut self, msg: ClientMessage) -> ErrorCode {
        match self.call(msg).await {
            ServerMessage::Error { code, .. } => code,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    /// Reads until the relay closes the connection; its close code and reason.
    pub async fn close_frame(&mut self) -> (u16, String) {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await {
                Ok(Some(Ok(Message::Close(Some(f))))) => {
                    return (u16::from(f.code), f.reason.to_string());
                }
                Ok(Some(Ok(Message::Close(None))) | None) => return (1005, String::new()),
                Ok(Some(Ok(Message::Text(t)))) => {
                    self.events.push_back(serde_json::from_str(&t).unwrap())
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(e))) => panic!("the connection failed instead of closing: {e}"),
                Err(_) => panic!("the connection was not closed within {WAIT:?}"),
            }
        }
    }

    /// The next event (not an answer) matching `want`, waiting for it.
    pub async fn event(&mut self, want: impl Fn(&ServerMessage) -> bool) -> ServerMessage {
        if let Some(i) = self.events.iter().position(&want) {
            return self.events.remove(i).unwrap();
        }
        loop {
            match self.frame().await {
                Some(msg) if want(&msg) => return msg,
                Some(msg) => self.events.push_back(msg),
                None => panic!("closed before the event came"),
            }
        }
    }

    pub async fn sign_up(&mut self, handle: &str) -> (u64, u64, String, String) {
        match self
            .call(ClientMessage::SignUp {
                handle: handle.into(),
                password: format!("{handle} password"),
                display_name: None,
            })
            .await
        {
            ServerMessage::Session {
                account,
                session_id,
                token,
                refresh_token,
                ..
            } => (
                account.id,
                session_id,
                token.unwrap(),
                refresh_token.unwrap(),
            ),
            other => panic!("sign-up failed: {other:?}"),
        }
    }

    pub async fn log_in(&mut self, handle: &str) -> (u64, u64, String) {
        match self
            .call(ClientMessage::LogIn {
                handle: handle.into(),
                password: format!("{handle} password"),
            })
            .await
        {
            ServerMessage::Session {
                account,
                session_id,
                refresh_token,
                ..
            } => (account.id, session_id, refresh_token.unwrap()),
            other => panic!("log-in failed: {other:?}"),
        }
    }

    pub async fn join(&mut self, room: &str, since: Option<u64>) -> ServerMessage {
        self.call(ClientMessage::Join {
            room: room.into(),
            since,
        })
        .await
    }

    pub async fn post(&mut self, room: &str, client_id: &str, text: &str) -> ServerMessage {
        self.call(ClientMessage::Send {
            room: room.into(),
            client_id: client_id.into(),
            text: text.into(),
        })
        .await
    }

    /// Logs in with an access token.
    pub async fn authenticate(&mut self, token: &str) {
        let token = token.to_owned();
        match self.call(ClientMessage::Authenticate { token }).await {
            ServerMessage::Session { .. } => {}
            other => panic!("expected a session, got {other:?}"),
        }
    }
}
