//! The relay against real WebSocket clients on loopback: a relay started by each test on port 0.

#[path = "support/http.rs"]
mod http;
#[path = "support/store.rs"]
mod store;
use http::http_get;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use movietalk_core::relay_client::{ClientError, RelayClient, RelayEvent};
use movietalk_protocol::relay::{ErrorCode, ServerMessage};
use movietalk_relay::{Config, RunningRelay, start};
use tokio::sync::mpsc::Receiver;
use tokio_tungstenite::tungstenite::Message;

async fn relay() -> RunningRelay {
    relay_with(Config::default()).await
}

async fn relay_with(config: Config) -> RunningRelay {
    start("127.0.0.1:0".parse().unwrap(), config, store::fresh())
        .await
        .expect("relay starts")
}

/// The next chat message event, skipping presence changes.
async fn next_message(events: &mut Receiver<RelayEvent>) -> movietalk_protocol::relay::ChatMessage {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Some(RelayEvent::Message(m))) => return m,
            Ok(Some(RelayEvent::Presence { .. })) => continue,
            other => panic!("expected a chat message, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn two_clients_in_a_room_see_each_others_messages() {
    let relay = relay().await;
    let (alice, mut alice_events) = RelayClient::connect(&relay.url(), "alice").await.unwrap();
    let (bob, mut bob_events) = RelayClient::connect(&relay.url(), "bob").await.unwrap();
    assert_eq!(alice.join("parasite-2019", None).await.unwrap().present, 1);
    let joined = bob.join("parasite-2019", None).await.unwrap();
    assert_eq!(joined.present, 2);
    assert!(joined.history.is_empty());

    let seq = alice.send("parasite-2019", "봉준호 최고!").await.unwrap();
    assert_eq!(seq, 1);
    let got = next_message(&mut bob_events).await;
    assert_eq!(
        (got.seq, got.author.as_str(), got.text.as_str()),
        (1, "alice", "봉준호 최고!")
    );
    // The sender gets its own message too, with the same sequence.
    assert_eq!(next_message(&mut alice_events).await.seq, 1);

    assert_eq!(bob.send("parasite-2019", "agreed").await.unwrap(), 2);
    let got = next_message(&mut alice_events).await;
    assert_eq!(
        (got.seq, got.author.as_str(), got.text.as_str()),
        (2, "bob", "agreed")
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn messages_stay_in_their_room() {
    let relay = relay().await;
    let (alice, _a) = RelayClient::connect(&relay.url(), "alice").await.unwrap();
    let (bob, mut bob_events) = RelayClient::connect(&relay.url(), "bob").await.unwrap();
    alice.join("one", None).await.unwrap();
    alice.join("two", None).await.unwrap();
    bob.join("two", None).await.unwrap();
    alice.send("one", "for room one").await.unwrap();
    alice.send("two", "for room two").await.unwrap();
    let got = next_message(&mut bob_events).await;
    assert_eq!(
        (got.room.as_str(), got.text.as_str()),
        ("two", "for room two")
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn resend_with_the_same_client_id_is_stored_once_and_resume_has_no_gap() {
    let relay = relay().await;
    let (alice, _a) = RelayClient::connect(&relay.url(), "alice").await.unwrap();
    alice.join("r", None).await.unwrap();
    assert_eq!(alice.send_with_id("r", "msg-1", "first").await.unwrap(), 1);
    assert_eq!(
        alice.send_with_id("r", "msg-1", "first").await.unwrap(),
        1,
        "a resend is acknowledged again"
    );
    assert_eq!(alice.send_with_id("r", "msg-2", "second").await.unwrap(), 2);
    assert_eq!(alice.send_with_id("r", "msg-3", "third").await.unwrap(), 3);

    let (late, _l) = RelayClient::connect(&relay.url(), "late").await.unwrap();
    let resumed = late.join("r", Some(1)).await.unwrap();
    assert_eq!(
        resumed.history.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![2, 3]
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn presence_counts_people_not_connections() {
    let relay = relay().await;
    let (w1, _e1) = RelayClient::connect(&relay.url(), "alice").await.unwrap();
    let (w2, _e2) = RelayClient::connect(&relay.url(), "alice").await.unwrap();
    assert_eq!(w1.join("r", None).await.unwrap().present, 1);
    assert_eq!(
        w2.join("r", None).await.unwrap().present,
        1,
        "alice's second window is still one person"
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn sending_to_a_room_not_joined_or_blank_text_is_refused() {
    let relay = relay().await;
    let (alice, _a) = RelayClient::connect(&relay.url(), "alice").await.unwrap();
    match alice.send("nowhere", "hi").await {
        Err(ClientError::Rejected {
            code: ErrorCode::NotInRoom,
            ..
        }) => {}
        other => panic!("expected not_in_room, got {other:?}"),
    }
    alice.join("r", None).await.unwrap();
    match alice.send("r", "   ").await {
        Err(ClientError::Rejected {
            code: ErrorCode::InvalidInput,
            ..
        }) => {}
        other => panic!("expected invalid_input, got {other:?}"),
    }
    // The connection is still good after refusals.
    assert_eq!(alice.send("r", "fine").await.unwrap(), 1);
    relay.shutdown().await.unwrap();
}

async fn raw(
    relay: &RunningRelay,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    tokio_tungstenite::connect_async(relay.url())
        .await
        .expect("websocket connects")
        .0
}

async fn read_server(
    ws: &mut (impl StreamExt<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin),
) -> ServerMessage {
    loop {
        match tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("a reply in time")
        {
            Some(Ok(Message::Text(t))) => {
                return serde_json::from_str(&t).expect("server frames parse");
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_unknown_protocol_version_gets_a_clear_error() {
    let relay = relay().await;
    let mut ws = raw(&relay).await;
    ws.send(Message::text(
        r#"{"type":"hello","version":99,"name":"future"}"#,
    ))
    .await
    .unwrap();
    match read_server(&mut ws).await {
        ServerMessage::Error {
            code: ErrorCode::UnsupportedVersion,
            message,
            ..
        } => assert!(message.contains("99")),
        other => panic!("expected unsupported_version, got {other:?}"),
    }
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn malformed_frames_get_an_error_and_the_connection_survives() {
    let relay = relay().await;
    let mut ws = raw(&relay).await;
    ws.send(Message::text(
        r#"{"type":"hello","version":1,"name":"mallory"}"#,
    ))
    .await
    .unwrap();
    assert!(matches!(
        read_server(&mut ws).await,
        ServerMessage::Welcome { .. }
    ));
    for bad in [
        "not json",
        r#"{"type":"explode","req":4}"#,
        r#"{"type":"join","req":5,"room":7}"#,
    ] {
        ws.send(Message::text(bad)).await.unwrap();
        match read_server(&mut ws).await {
            ServerMessage::Error {
                code: ErrorCode::Malformed,
                ..
            } => {}
            other => panic!("expected malformed for {bad:?}, got {other:?}"),
        }
    }
    ws.send(Message::binary(vec![0xff, 0x00])).await.unwrap();
    assert!(matches!(
        read_server(&mut ws).await,
        ServerMessage::Error {
            code: ErrorCode::Malformed,
            ..
        }
    ));
    // The request id is echoed when the frame had one.
    ws.send(Message::text(r#"{"type":"explode","req":42}"#))
        .await
        .unwrap();
    assert!(matches!(
        read_server(&mut ws).await,
        ServerMessage::Error { req: Some(42), .. }
    ));
    ws.send(Message::text(
        r#"{"type":"join","req":6,"room":"still-here"}"#,
    ))
    .await
    .unwrap();
    assert!(matches!(
        read_server(&mut ws).await,
        ServerMessage::Joined { req: 6, .. }
    ));
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_first_frame_other_than_hello_is_refused() {
    let relay = relay().await;
    let mut ws = raw(&relay).await;
    ws.send(Message::text(r#"{"type":"join","req":1,"room":"r"}"#))
        .await
        .unwrap();
    assert!(matches!(
        read_server(&mut ws).await,
        ServerMessage::Error {
            code: ErrorCode::HelloRequired,
            ..
        }
    ));
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutdown_disconnects_clients() {
    let relay = relay().await;
    let (alice, mut events) = RelayClient::connect(&relay.url(), "alice").await.unwrap();
    alice.join("r", None).await.unwrap();
    relay.shutdown().await.unwrap();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv())
            .await
            .expect("told in time")
        {
            Some(RelayEvent::Disconnected { .. }) => break,
            Some(_) => continue,
            None => panic!("event stream ended without a disconnect event"),
        }
    }
    assert!(alice.send("r", "too late").await.is_err());
}

#[tokio::test]
async fn history_survives_a_restart_and_scrolls_back() {
    let dir = tempfile::tempdir().unwrap();
    let open = store::reopenable(dir.path());
    // A guest posting 30 messages at once is past its write burst: lifted here.
    let config = || Config {
        write_burst: 1000.0,
        address_write_burst: 1000.0,
        ..Config::default()
    };
    let relay = start("127.0.0.1:0".parse().unwrap(), config(), open())
        .await
        .unwrap();
    let (alice, _a) = RelayClient::connect(&relay.url(), "alice").await.unwrap();
    alice.join("r", None).await.unwrap();
    for i in 1..=30 {
        assert_eq!(
            alice
                .send_with_id("r", &format!("m{i}"), &format!("message {i}"))
                .await
                .unwrap(),
            i
        );
    }
    relay.shutdown().await.unwrap();

    let relay = start("127.0.0.1:0".parse().unwrap(), config(), open())
        .await
        .unwrap();
    let (bob, _b) = RelayClient::connect(&relay.url(), "bob").await.unwrap();
    let joined = bob.join("r", Some(25)).await.unwrap();
    assert_eq!(
        joined.history.iter().map(|m| m.seq).collect::<Vec<_>>(),
        vec![26, 27, 28, 29, 30]
    );
    let older = bob.history("r", 26, 10).await.unwrap();
    assert_eq!(
        older.iter().map(|m| m.seq).collect::<Vec<_>>(),
        (16..=25).collect::<Vec<_>>(),
        "scrollback before 26"
    );
    assert_eq!(older[0].text, "message 16");
    // Numbering continues after the restart, and an old client id is still recognised.
    let (alice, _a) = RelayClient::connect(&relay.url(), "alice").await.unwrap();
    alice.join("r", Some(30)).await.unwrap();
    assert_eq!(
        alice.send_with_id("r", "m30", "message 30").await.unwrap(),
        30,
        "a resend after restart is stored once"
    );
    assert_eq!(alice.send("r", "after restart").await.unwrap(), 31);
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn history_needs_the_room_to_be_joined() {
    let relay = relay().await;
    let (alice, _a) = RelayClient::connect(&relay.url(), "alice").await.unwrap();
    match alice.history("r", 10, 5).await {
        Err(ClientError::Rejected {
            code: ErrorCode::NotInRoom,
            ..
        }) => {}
        other => panic!("expected not_in_room, got {other:?}"),
    }
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn health_and_prometheus_metrics_are_served_on_their_own_address() {
    let metrics_addr: std::net::SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let config = Config {
        metrics_listener: Some(metrics_addr),
        ..Config::default()
    };
    let relay = start("127.0.0.1:0".parse().unwrap(), config, store::fresh())
        .await
        .unwrap();
    let health = http_get(metrics_addr, "/healthz").await;
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"),
        "{health}"
    );
    let (a, _ea) = RelayClient::connect(&relay.url(), "a").await.unwrap();
    let (b, _eb) = RelayClient::connect(&relay.url(), "b").await.unwrap();
    a.join("r", None).await.unwrap();
    b.join("r", None).await.unwrap();
    a.send("r", "one").await.unwrap();
    let _ = a.send("nowhere", "refused").await;
    let metrics = http_get(metrics_addr, "/metrics").await;
    for expected in [
        "movietalk_relay_connections 2",
        "movietalk_relay_rooms 1",
        "movietalk_relay_messages_total 1",
        "movietalk_relay_deliveries_total 2",
        "movietalk_relay_errors_total 1",
        "# TYPE movietalk_relay_messages_total counter",
    ] {
        assert!(
            metrics.contains(expected),
            "{expected:?} missing from\n{metrics}"
        );
    }
    assert!(
        http_get(metrics_addr, "/nope")
            .await
            .starts_with("HTTP/1.1 404")
    );
    relay.shutdown().await.unwrap();
}

/// A masked client frame, written by hand so that it can carry bytes no WebSocket library
/// would send.
fn client_frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mask = [0x12u8, 0x34, 0x56, 0x78];
    let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_gets_an_error_and_a_1007_close_and_others_carry_on() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let relay = relay().await;
    let (bystander, _events) = RelayClient::connect(&relay.url(), "bystander")
        .await
        .unwrap();
    bystander.join("after", None).await.unwrap();
    let mut tcp = tokio::net::TcpStream::connect(relay.local_addr())
        .await
        .unwrap();
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        head.push(tcp.read_u8().await.unwrap());
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let (reader, mut writer) = tcp.into_split();
    let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        ReadOnly(reader),
        tokio_tungstenite::tungstenite::protocol::Role::Client,
        None,
    )
    .await;
    writer
        .write_all(&client_frame(
            0x1,
            br#"{"type":"hello","version":1,"name":"raw"}"#,
        ))
        .await
        .unwrap();
    assert!(matches!(
        read_server(&mut ws).await,
        ServerMessage::Welcome { .. }
    ));
    writer
        .write_all(&client_frame(0x1, &[b'{', 0xff, 0xfe, b'}']))
        .await
        .unwrap();
    match read_server(&mut ws).await {
        ServerMessage::Error {
            code: ErrorCode::Malformed,
            message,
            ..
        } => assert!(message.contains("UTF-8"), "{message}"),
        other => panic!("expected malformed, got {other:?}"),
    }
    // RFC 6455 §8.1: invalid UTF-8 fails the connection, with close code 1007.
    match tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
    {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1007),
        other => panic!("expected a 1007 close, got {other:?}"),
    }
    assert_eq!(
        bystander.send("after", "unaffected").await.unwrap(),
        1,
        "everyone else carries on"
    );
    relay.shutdown().await.unwrap();
}

/// The read half of a socket as a full AsyncRead + AsyncWrite (writes go nowhere), so that the
/// test can read frames with tungstenite while writing raw bytes itself.
struct ReadOnly(tokio::net::tcp::OwnedReadHalf);

impl tokio::io::AsyncRead for ReadOnly {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for ReadOnly {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[tokio::test]
async fn a_large_history_page_of_multibyte_text_arrives_intact() {
    // A page far larger than one outgoing frame: the relay sends it as a fragmented message,
    // cut on character boundaries, and the client reassembles it. (A guest writing 40
    // messages at once would be rate limited: the limit is lifted here.)
    let relay = relay_with(Config {
        writes_per_sec: 1000.0,
        write_burst: 1000.0,
        address_writes_per_sec: 1000.0,
        address_write_burst: 1000.0,
        ..Config::default()
    })
    .await;
    let (alice, _a) = RelayClient::connect(&relay.url(), "alice").await.unwrap();
    alice.join("big", None).await.unwrap();
    let texts: Vec<String> = (0..40)
        .map(|i| format!("{i} {}", "é한🎬 ".repeat(150 + i)))
        .collect();
    for t in &texts {
        alice.send("big", t).await.unwrap();
    }
    let (bob, _b) = RelayClient::connect(&relay.url(), "bob").await.unwrap();
    let history = bob.join("big", None).await.unwrap().history;
    let got: Vec<&str> = history.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(got, texts.iter().map(String::as_str).collect::<Vec<_>>());
    // Live messages after the large page still arrive whole.
    let (carol, mut carol_events) = RelayClient::connect(&relay.url(), "carol").await.unwrap();
    carol.join("big", None).await.unwrap();
    alice.send("big", &texts[39]).await.unwrap();
    assert_eq!(next_message(&mut carol_events).await.text, texts[39]);
    relay.shutdown().await.unwrap();
}
