//! A bare WebSocket client of a test relay, for what the core client does not show: the close
//! frame's code and reason.

#![allow(dead_code)] // each test file uses part of it

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use movietalk_protocol::relay::{ClientMessage, PROTOCOL_VERSION, ServerMessage};
use tokio_tungstenite::tungstenite::Message;

/// How long a raw client waits for any one frame.
const WAIT: Duration = Duration::from_secs(5);

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One connection that has said hello.
pub struct Raw {
    ws: Socket,
    next_req: u64,
}

impl Raw {
    /// Connects to `url` and says hello as `name`.
    pub async fn connect(url: &str, name: &str) -> Raw {
        let (ws, _) = tokio_tungstenite::connect_async(url)
            .await
            .expect("websocket connects");
        let mut raw = Raw { ws, next_req: 0 };
        let hello = ClientMessage::Hello {
            version: PROTOCOL_VERSION,
            name: name.to_owned(),
            client: Some("raw test client".into()),
            guest_id: None,
        };
        raw.ws.send(Message::text(hello.to_json())).await.unwrap();
        match raw.next().await {
            ServerMessage::Welcome { .. } => raw,
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    /// The next text frame, skipping pings and pongs.
    async fn next(&mut self) -> ServerMessage {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a frame in time")
            {
                Some(Ok(Message::Text(t))) => {
                    return serde_json::from_str(&t).expect("server frames parse");
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    /// Sends the request `make` builds and returns its answer (events before it are skipped).
    pub async fn request(&mut self, make: impl FnOnce(u64) -> ClientMessage) -> ServerMessage {
        self.next_req += 1;
        let req = self.next_req;
        self.ws
            .send(Message::text(make(req).to_json()))
            .await
            .unwrap();
        loop {
            let msg = self.next().await;
            if msg.reply_to() == Some(req) {
                return msg;
            }
        }
    }

    /// Logs in with an access token.
    pub async fn authenticate(&mut self, token: &str) {
        let token = token.to_owned();
        match self
            .request(|req| ClientMessage::Authenticate { req, token })
            .await
        {
            ServerMessage::Session { .. } => {}
            other => panic!("expected a session, got {other:?}"),
        }
    }

    /// Waits for the relay to close the connection; returns the close frame's code and reason.
    /// Text frames before it are skipped.
    pub async fn closed(&mut self) -> (u16, String) {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("the relay closes the connection in time")
            {
                Some(Ok(Message::Close(Some(frame)))) => {
                    return (u16::from(frame.code), frame.reason.to_string());
                }
                Some(Ok(Message::Close(None))) => return (1005, String::new()),
                Some(Ok(_)) => continue,
                other => panic!("expected a close frame, got {other:?}"),
            }
        }
    }
}
