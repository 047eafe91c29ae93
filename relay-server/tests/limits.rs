//! Limits and bad behaviour: rate limits per connection and per account, oversized frames,
//! slow readers, idle and handshake timeouts — the offender is refused or dropped, everyone
//! else carries on.

#[path = "support/store.rs"]
mod store;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use movietalk_core::relay_client::{ClientError, RelayClient, RelayEvent};
use movietalk_protocol::relay::ErrorCode;
use movietalk_relay::accounts::HashCost;
use movietalk_relay::{Config, RunningRelay, start};
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::Message;

fn base() -> Config {
    Config {
        hash_cost: HashCost {
            memory_kib: 1024,
            passes: 1,
        },
        ..Config::default()
    }
}

async fn relay(config: Config) -> RunningRelay {
    start("127.0.0.1:0".parse().unwrap(), config, store::fresh())
        .await
        .unwrap()
}

type RawClient =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A plain WebSocket client of `relay` that has said hello as `name`.
async fn said_hello(relay: &RunningRelay, name: &str) -> RawClient {
    let (mut ws, _) = tokio_tungstenite::connect_async(relay.url()).await.unwrap();
    ws.send(Message::text(format!(
        r#"{{"type":"hello","version":1,"name":"{name}"}}"#
    )))
    .await
    .unwrap();
    ws
}

fn rate_limited<T: std::fmt::Debug>(r: &Result<T, ClientError>) -> bool {
    matches!(
        r,
        Err(ClientError::Rejected {
            code: ErrorCode::RateLimited,
            ..
        })
    )
}

#[tokio::test]
async fn a_connection_that_sends_too_fast_is_refused_then_recovers() {
    let relay = relay(Config {
        frames_per_sec: 5.0,
        frame_burst: 5.0,
        ..base()
    })
    .await;
    let (c, _) = RelayClient::connect(&relay.url(), "fast").await.unwrap();
    c.join("r", None).await.unwrap(); // hello and join took two tokens
    let mut results = Vec::new();
    for i in 0..10 {
        results.push(c.send_with_id("r", &format!("m{i}"), "hi").await);
    }
    let refused = results.iter().filter(|r| rate_limited(r)).count();
    assert!(refused >= 5, "{refused} of 10 refused: {results:?}");
    assert!(results.iter().all(|r| r.is_ok() || rate_limited(r)));
    tokio::time::sleep(Duration::from_millis(1100)).await;
    c.send_with_id("r", "later", "after a pause")
        .await
        .expect("the bucket refills");
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_account_is_limited_across_its_connections_and_others_are_not() {
    let relay = relay(Config {
        writes_per_sec: 1.0,
        write_burst: 3.0,
        ..base()
    })
    .await;
    let (one, _) = RelayClient::connect(&relay.url(), "x").await.unwrap();
    one.sign_up("busy", "busy password", None).await.unwrap();
    let (two, _) = RelayClient::connect(&relay.url(), "x").await.unwrap();
    two.log_in("busy", "busy password").await.unwrap();
    one.join("r", None).await.unwrap();
    two.join("r", None).await.unwrap();
    let mut ok = 0;
    for i in 0..8 {
        let c = if i % 2 == 0 { &one } else { &two };
        let r = c.send_with_id("r", &format!("m{i}"), "hi").await;
        assert!(r.is_ok() || rate_limited(&r), "{r:?}");
        ok += usize::from(r.is_ok());
    }
    // The first join of "r" (a room the relay did not hold yet) took one of the burst's three.
    assert!(
        (2..=3).contains(&ok),
        "the account's burst is shared: {ok} of 8 went through"
    );
    let (other, _) = RelayClient::connect(&relay.url(), "x").await.unwrap();
    other.sign_up("calm", "calm password", None).await.unwrap();
    other.join("r", None).await.unwrap();
    other
        .send("r", "unaffected")
        .await
        .expect("another account has its own budget");
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_oversized_frame_closes_only_that_connection() {
    let relay = relay(Config {
        max_message_bytes: 8 * 1024,
        ..base()
    })
    .await;
    let (bystander, _) = RelayClient::connect(&relay.url(), "bystander")
        .await
        .unwrap();
    bystander.join("r", None).await.unwrap();
    let mut ws = said_hello(&relay, "big").await;
    let _welcome = ws.next().await;
    let _ = ws.send(Message::text("x".repeat(64 * 1024))).await;
    let mut closed = false;
    while let Ok(Some(frame)) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        match frame {
            Ok(Message::Close(_)) | Err(_) => {
                closed = true;
                break;
            }
            Ok(_) => continue,
        }
    }
    assert!(
        closed || ws.next().await.is_none(),
        "the oversized sender is disconnected"
    );
    assert_eq!(
        bystander.send("r", "still fine").await.unwrap(),
        1,
        "everyone else is unaffected"
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_reader_that_falls_behind_is_disconnected_and_the_room_goes_on() {
    let relay = relay(Config {
        send_queue: 8,
        write_timeout: Duration::from_millis(300),
        frames_per_sec: 1e6,
        frame_burst: 1e6,
        writes_per_sec: 1e6,
        write_burst: 1e6,
        address_writes_per_sec: 1e6,
        address_write_burst: 1e6,
        ..base()
    })
    .await;
    // The slow client joins and then never reads its socket.
    let mut slow = said_hello(&relay, "slow").await;
    slow.send(Message::text(r#"{"type":"join","req":1,"room":"busy"}"#))
        .await
        .unwrap();
    let (talker, mut events) = RelayClient::connect(&relay.url(), "talker").await.unwrap();
    talker.join("busy", None).await.unwrap();
    let mut presence_dropped = false;
    let big = "영".repeat(4000);
    for i in 0..2000 {
        talker
            .send_with_id("busy", &format!("m{i}"), &big)
            .await
            .unwrap();
        while let Ok(e) = events.try_recv() {
            if let RelayEvent::Presence { present: 1, .. } = e {
                presence_dropped = true;
            }
        }
        if presence_dropped {
            break;
        }
    }
    assert!(
        presence_dropped,
        "the slow reader was dropped from the room"
    );
    assert!(talker.send("busy", "the room goes on").await.is_ok());
    drop(slow);
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn silent_connections_time_out() {
    let relay = relay(Config {
        handshake_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(400),
        ping_interval: Duration::from_secs(60),
        ..base()
    })
    .await;
    // A TCP connection that never upgrades to WebSocket.
    let mut raw = tokio::net::TcpStream::connect(relay.local_addr())
        .await
        .unwrap();
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(5), raw.read(&mut buf))
        .await
        .expect("closed in time")
        .unwrap_or(0);
    assert_eq!(
        n, 0,
        "the relay hung up on a connection without a handshake"
    );

    // A WebSocket that says hello and then nothing at all.
    let mut ws = said_hello(&relay, "quiet").await;
    let mut ended = false;
    while let Ok(frame) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
        match frame {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => {
                ended = true;
                break;
            }
            Some(Ok(_)) => continue,
        }
    }
    assert!(ended, "an idle connection is closed");
    relay.shutdown().await.unwrap();
}

/// Reads frames until the connection ends (true) or nothing comes for `wait` (false).
async fn ends_within<S>(ws: &mut S, wait: Duration) -> bool
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    while let Ok(frame) = tokio::time::timeout(wait, ws.next()).await {
        match frame {
            None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return true,
            Some(Ok(_)) => continue,
        }
    }
    false
}

#[tokio::test]
async fn a_websocket_without_hello_is_dropped_and_a_talking_one_is_not() {
    let relay = relay(Config {
        handshake_timeout: Duration::from_millis(300),
        idle_timeout: Duration::from_millis(800),
        ping_interval: Duration::from_secs(60),
        ..base()
    })
    .await;
    // Upgraded to WebSocket, but no hello: dropped at the handshake deadline.
    let (mut mute, _) = tokio_tungstenite::connect_async(relay.url()).await.unwrap();
    assert!(
        ends_within(&mut mute, Duration::from_secs(5)).await,
        "a connection that never says hello is closed"
    );

    // One that keeps talking, past the handshake deadline and several idle timeouts, stays.
    let mut talker = said_hello(&relay, "talker").await;
    let started = std::time::Instant::now();
    let mut req = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        req += 1;
        talker
            .send(Message::text(format!(
                r#"{{"type":"list_rooms","req":{req}}}"#
            )))
            .await
            .unwrap();
        // The answer comes, and the connection is still there 150 ms later.
        let mut answered = false;
        while let Ok(Some(Ok(frame))) =
            tokio::time::timeout(Duration::from_millis(150), talker.next()).await
        {
            if let Message::Text(t) = frame
                && t.contains(&format!(r#""req":{req}"#))
            {
                answered = true;
            }
        }
        assert!(
            answered,
            "request {req} was answered at {:?}",
            started.elapsed()
        );
    }
    // Then silence: closed after the idle timeout.
    assert!(
        ends_within(&mut talker, Duration::from_secs(5)).await,
        "closed once it fell silent"
    );
    relay.shutdown().await.unwrap();
}

#[tokio::test]
async fn shutting_down_tells_every_connection_and_waits_for_them() {
    let relay = relay(base()).await;
    let mut clients = Vec::new();
    for i in 0..3 {
        let mut ws = said_hello(&relay, &format!("c{i}")).await;
        ws.send(Message::text(r#"{"type":"join","req":1,"room":"r"}"#))
            .await
            .unwrap();
        clients.push(ws);
    }
    // Every connection is in the room before the relay stops.
    for ws in &mut clients {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), ws.next())
                .await
                .expect("joined in time")
                .unwrap()
                .unwrap();
            if matches!(&frame, Message::Text(t) if t.contains(r#""type":"joined""#)) {
                break;
            }
        }
    }
    tokio::time::timeout(Duration::from_secs(5), relay.shutdown())
        .await
        .expect("the relay stopped in time")
        .unwrap();
    for ws in &mut clients {
        let mut reason = None;
        while let Ok(Some(Ok(frame))) =
            tokio::time::timeout(Duration::from_secs(5), ws.next()).await
        {
            if let Message::Close(Some(close)) = frame {
                reason = Some(close.code);
                break;
            }
        }
        assert_eq!(
            reason,
            Some(tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode::Away),
            "each client was told the relay is going away"
        );
    }
}

#[tokio::test]
async fn the_relay_pings_and_a_client_that_answers_stays_connected() {
    let relay = relay(Config {
        ping_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(600),
        ..base()
    })
    .await;
    let mut ws = said_hello(&relay, "pinged").await;
    // Reading lets tungstenite answer each ping with a pong; nothing else is sent.
    let started = std::time::Instant::now();
    let mut pings = 0;
    while started.elapsed() < Duration::from_millis(1300) {
        match tokio::time::timeout(Duration::from_millis(300), ws.next()).await {
            Ok(Some(Ok(Message::Ping(_)))) => pings += 1,
            Ok(Some(Ok(Message::Close(_)) | Err(_)) | None) => {
                panic!("closed after {:?} and {pings} pings", started.elapsed())
            }
            Ok(Some(Ok(_))) | Err(_) => {}
        }
    }
    assert!(pings >= 8, "pinged every 100 ms: {pings} pings in 1.3 s");
    relay.shutdown().await.unwrap();
}
