//! `relay-load`: a load generator for the relay, run by hand against a relay on loopback.
//!
//! ```sh
//! relay-server --bind 127.0.0.1:7340 --db /tmp/load.sqlite3 &
//! relay-load --url ws://127.0.0.1:7340 --clients 1000 --rooms 100 --rate 1 --seconds 30
//! relay-load --url ws://127.0.0.1:7340 --idle 10000 --clients 1000 --rooms 100 --rate 1 --seconds 30 --relay-pid $!
//! relay-load --url ws://127.0.0.1:7340 --storm 10000
//! relay-load --url ws://127.0.0.1:7340,ws://127.0.0.1:7341 --relay-pid 123,456 --clients 1000 --rooms 100
//! ```
//!
//! Several `--url`s (comma-separated: relay instances on one PostgreSQL database) share the
//! clients out by turns of one client per room, so each room has members on every instance;
//! several `--relay-pid`s are added up.
//!
//! Every sending client posts `rate` messages a second to its room (client `i` is in room
//! `i % rooms`); every client in the room receives them. A message carries its send time, so
//! every receiver — senders and listeners alike — measures delivery latency (send → the relay
//! stores it → fan-out → receipt). With `--idle N`, N more connections join rooms and only
//! listen. `--relay-pid` reads the relay's resident memory before and after the idle
//! connections, and the CPU time it used while the messages flowed. `--storm N` opens N
//! connections at once and counts failures.
//!
//! The generator should cost as little CPU as it can: on a two-core machine it shares the cores
//! with the relay it measures. Senders speak the protocol over tokio-tungstenite and read each
//! incoming frame with a look at its type and send time only; listeners read frames
//! themselves ([`listener`]) after a tungstenite handshake.

mod listener;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use movietalk_protocol::relay::{ClientMessage, PROTOCOL_VERSION};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use listener::{Frame, Listener};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, Clone)]
struct Args {
    urls: Vec<String>,
    clients: usize,
    rooms: usize,
    rate: f64,
    seconds: u64,
    idle: usize,
    storm: usize,
    relay_pids: Vec<u32>,
}

impl Args {
    /// The relay client `i` connects to: clients `0..rooms` (one per room) to the first,
    /// the next `rooms` to the second, and so on, so every room has members on each.
    fn url(&self, i: usize) -> &str {
        &self.urls[(i / self.rooms.max(1)) % self.urls.len()]
    }
}

fn parse() -> anyhow::Result<Args> {
    let mut a = Args {
        urls: Vec::new(),
        clients: 0,
        rooms: 100,
        rate: 1.0,
        seconds: 30,
        idle: 0,
        storm: 0,
        relay_pids: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut v = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.urls = v()?.split(',').map(str::to_owned).collect(),
            "--clients" => a.clients = v()?.parse()?,
            "--rooms" => a.rooms = v()?.parse()?,
            "--rate" => a.rate = v()?.parse()?,
            "--seconds" => a.seconds = v()?.parse()?,
            "--idle" => a.idle = v()?.parse()?,
            "--storm" => a.storm = v()?.parse()?,
            "--relay-pid" => {
                a.relay_pids = v()?.split(',').map(str::parse).collect::<Result<_, _>>()?
            }
            other => bail!("unknown argument {other:?}"),
        }
    }
    if a.urls.iter().all(String::is_empty) {
        bail!("--url ws://HOST:PORT is required");
    }
    if a.rooms == 0 || a.rate <= 0.0 {
        bail!("--rooms and --rate must be above 0");
    }
    Ok(a)
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Resident memory of all the relays, KiB.
fn relays_rss_kib(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|&p| rss_kib(p)).sum()
}

/// CPU ticks of all the relays.
fn relays_cpu_ticks(pids: &[u32]) -> Option<u64> {
    if pids.is_empty() {
        return None;
    }
    pids.iter().map(|p| cpu_ticks(&p.to_string())).sum()
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// CPU time (user + system) a process has used, in clock ticks (`/proc/PID/stat`).
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// Clock ticks per second; 100 on Linux.
const TICKS: f64 = 100.0;

/// The type of a relay frame, borrowed from it (replies during set-up).
#[derive(serde::Deserialize)]
struct Incoming<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
}

/// Opens a connection, says hello and waits for the welcome.
async fn connect(url: &str, name: &str) -> anyhow::Result<Ws> {
    // tungstenite zero-fills its whole read buffer (128 KiB by default) before every read: a
    // quarter of this generator's CPU until the buffer was made small.
    let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
    let (mut ws, _) =
        tokio_tungstenite::connect_async_with_config(url, Some(config), false).await?;
    let hello = ClientMessage::Hello {
        version: PROTOCOL_VERSION,
        name: name.to_owned(),
        client: Some("relay-load".into()),
        guest_id: None,
    };
    ws.send(Message::text(hello.to_json())).await?;
    expect(&mut ws, "welcome").await?;
    Ok(ws)
}

/// Reads frames until one of type `kind` (events before it are skipped); an `error` fails.
async fn expect(ws: &mut Ws, kind: &str) -> anyhow::Result<()> {
    while let Some(frame) = ws.next().await {
        if let Message::Text(text) = frame? {
            let got: Incoming = serde_json::from_str(&text)?;
            if got.kind == kind {
                return Ok(());
            }
            if got.kind == "error" {
                bail!("relay refused: {text}");
            }
        }
    }
    bail!("connection closed while waiting for {kind}")
}

/// Joins `room`; `since` as in the protocol (a large one skips the history).
async fn join(ws: &mut Ws, room: &str, since: Option<u64>) -> anyhow::Result<()> {
    let join = ClientMessage::Join {
        room: room.to_owned(),
        since,
    }
    .with_req(1);
    ws.send(Message::text(join.to_json())).await?;
    expect(ws, "joined").await
}

/// Runs `make(0..n)`, 500 at a time so that the OS accept queue is not the thing being
/// measured; returns what succeeded and how many failed.
async fn in_waves<T, F, Fut>(n: usize, make: F) -> (Vec<T>, usize)
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>> + Send + 'static,
{
    let mut ok = Vec::with_capacity(n);
    let mut failed = 0;
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let tasks: Vec<_> = chunk.iter().map(|&i| tokio::spawn(make(i))).collect();
        for t in tasks {
            match t.await {
                Ok(Ok(c)) => ok.push(c),
                _ => failed += 1,
            }
        }
    }
    (ok, failed)
}

/// Connects `n` clients, each joined to room `i % rooms`.
async fn connect_many(
    args: &Args,
    n: usize,
    rooms: usize,
    prefix: &str,
    since: Option<u64>,
) -> (Vec<(usize, Ws)>, usize) {
    in_waves(n, |i| {
        let url = args.url(i).to_owned();
        let name = format!("{prefix}{i}");
        async move {
            let mut ws = connect(&url, &name).await?;
            join(&mut ws, &format!("room{}", i % rooms), since).await?;
            anyhow::Ok((i, ws))
        }
    })
    .await
}

/// Connects `n` listeners, each joined to room `i % rooms` with no cursor (so each gets the
/// room's latest history page, as an app does).
async fn connect_listeners(args: &Args, n: usize, rooms: usize) -> (Vec<Listener>, usize) {
    in_waves(n, |i| {
        let url = args.url(i).to_owned();
        async move {
            let ws = connect(&url, &format!("idle{i}")).await?;
            // After `welcome` the relay says nothing until asked: nothing is left in
            // tungstenite's buffers when the socket is taken over.
            let MaybeTlsStream::Plain(tcp) = ws.into_inner() else {
                bail!("only ws:// is supported");
            };
            let mut l = Listener::new(tcp, i as u32);
            let join = ClientMessage::Join {
                room: format!("room{}", i % rooms),
                since: None,
            }
            .with_req(1);
            l.send_text(&join.to_json()).await?;
            loop {
                match l.next().await? {
                    None => bail!("closed while joining"),
                    Some(Frame::Text(t)) => {
                        let got: Incoming = serde_json::from_slice(t)?;
                        match got.kind {
                            "joined" => break,
                            "error" => bail!("join refused"),
                            _ => {}
                        }
                    }
                    Some(Frame::Control) => {}
                }
            }
            anyhow::Ok(l)
        }
    })
    .await
}

/// One receiver's count and latencies (µs).
struct Tally<'a> {
    counter: &'a AtomicU64,
    latencies: Vec<u32>,
}

impl Tally<'_> {
    /// Counts `frame` if it is a chat message event (`{"type":"message",…` as the relay encodes
    /// it) and records its latency from the send time a load message starts its text with.
    fn frame(&mut self, frame: &[u8]) {
        if !frame.starts_with(br#"{"type":"message""#) {
            return;
        }
        self.counter.fetch_add(1, Relaxed);
        let key = br#""text":""#;
        let sent = frame
            .windows(key.len())
            .position(|w| w == key)
            .map(|at| &frame[at + key.len()..])
            .and_then(|t| {
                let digits = t.iter().take_while(|b| b.is_ascii_digit()).count();
                std::str::from_utf8(&t[..digits]).ok()?.parse::<u64>().ok()
            });
        if let Some(sent) = sent {
            self.latencies
                .push(now_us().saturating_sub(sent).min(u32::MAX as u64) as u32);
        }
    }
}

/// A connection that receives: senders' tungstenite streams and raw listeners.
trait Receiving {
    /// Waits for the next frame and hands a text one to `tally`; false once the connection is
    /// gone.
    async fn next_into(&mut self, tally: &mut Tally<'_>) -> bool;
}

impl Receiving for Listener {
    async fn next_into(&mut self, tally: &mut Tally<'_>) -> bool {
        match self.next().await {
            Ok(Some(Frame::Text(t))) => tally.frame(t),
            Ok(Some(Frame::Control)) => {}
            Ok(None) | Err(_) => return false,
        }
        true
    }
}

impl Receiving for futures_util::stream::SplitStream<Ws> {
    async fn next_into(&mut self, tally: &mut Tally<'_>) -> bool {
        match self.next().await {
            Some(Ok(Message::Text(text))) => tally.frame(text.as_bytes()),
            Some(Ok(_)) => {}
            None | Some(Err(_)) => return false,
        }
        true
    }
}

/// What the receivers counted.
#[derive(Default)]
struct Counts {
    to_senders: AtomicU64,
    to_listeners: AtomicU64,
    sent: AtomicU64,
    send_errors: AtomicU64,
    closed_early: AtomicU64,
}

/// Reads `from` until `deadline`, counting messages and recording their latency in µs.
async fn receive(
    mut from: impl Receiving,
    deadline: tokio::time::Instant,
    counter: &AtomicU64,
    closed_early: &AtomicU64,
) -> Vec<u32> {
    let mut tally = Tally {
        counter,
        latencies: Vec::new(),
    };
    // One timer for the whole run (a timeout per frame would add and remove a timer each time).
    let end = tokio::time::sleep_until(deadline);
    tokio::pin!(end);
    loop {
        tokio::select! {
            biased;
            open = from.next_into(&mut tally) => if !open {
                closed_early.fetch_add(1, Relaxed);
                break;
            },
            () = &mut end => break,
        }
    }
    tally.latencies
}

async fn storm(args: &Args) {
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.storm)
        .map(|i| {
            let url = args.url(i).to_owned();
            tokio::spawn(async move { connect(&url, &format!("storm{i}")).await })
        })
        .collect();
    let mut kept = Vec::new();
    let mut failed = 0;
    for t in tasks {
        match t.await {
            Ok(Ok(c)) => kept.push(c),
            _ => failed += 1,
        }
    }
    println!(
        "connect storm: {} connections at once, {} failed, {:.1?}",
        args.storm,
        failed,
        started.elapsed()
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = parse()?;
    if args.storm > 0 {
        storm(&args).await;
        return Ok(());
    }

    let rss_before = relays_rss_kib(&args.relay_pids);
    let (idle, idle_failed) = connect_listeners(&args, args.idle, args.rooms).await;
    let rss_idle = relays_rss_kib(&args.relay_pids);
    if args.idle > 0 {
        println!("idle: {} connected, {} failed", idle.len(), idle_failed);
        if let (Some(a), Some(b)) = (rss_before, rss_idle) {
            println!(
                "relay memory: {a} KiB before, {b} KiB with the idle connections: {:.1} KiB per connection",
                (b.saturating_sub(a)) as f64 / idle.len().max(1) as f64
            );
        }
    }
    let (senders, failed) =
        connect_many(&args, args.clients, args.rooms, "load", Some(u64::MAX >> 1)).await;
    println!("senders: {} connected, {} failed", senders.len(), failed);

    let counts = Arc::new(Counts::default());
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.seconds);
    // Receivers read a little past the last send, so the last messages are counted.
    let read_until = deadline + Duration::from_millis(500);
    let cpu_before = (relays_cpu_ticks(&args.relay_pids), cpu_ticks("self"));
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for l in idle {
        let counts = counts.clone();
        readers.push(tokio::spawn(async move {
            receive(l, read_until, &counts.to_listeners, &counts.closed_early).await
        }));
    }
    let period = Duration::from_secs_f64(1.0 / args.rate);
    // Client ids unique to this run: the relay answers a client id it has seen from the same
    // author as a resend, without storing or delivering it again.
    let run = now_us();
    for (i, ws) in senders {
        let (mut sink, stream) = ws.split();
        let counts_r = counts.clone();
        readers.push(tokio::spawn(async move {
            receive(
                stream,
                read_until,
                &counts_r.to_senders,
                &counts_r.closed_early,
            )
            .await
        }));
        let counts = counts.clone();
        let room = format!("room{}", i % args.rooms);
        writers.push(tokio::spawn(async move {
            // Spread the senders over the first period.
            tokio::time::sleep(period.mul_f64((i % 1000) as f64 / 1000.0)).await;
            let mut tick = tokio::time::interval(period);
            let mut n = 0u64;
            while tokio::time::Instant::now() + period < deadline {
                tick.tick().await;
                n += 1;
                let msg = ClientMessage::Send {
                    room: room.clone(),
                    client_id: format!("{run}-{i}-{n}"),
                    text: format!("{} load", now_us()),
                }
                .with_req(n + 1);
                match sink.send(Message::text(msg.to_json())).await {
                    Ok(()) => counts.sent.fetch_add(1, Relaxed),
                    Err(_) => counts.send_errors.fetch_add(1, Relaxed),
                };
            }
            // Keep the connection open until the readers are done.
            tokio::time::sleep_until(read_until).await;
            drop(sink);
        }));
    }
    let mut lat: Vec<u32> = Vec::new();
    for r in readers {
        if let Ok(l) = r.await {
            lat.extend(l);
        }
    }
    for w in writers {
        let _ = w.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let cpu_after = (relays_cpu_ticks(&args.relay_pids), cpu_ticks("self"));
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    let (to_senders, to_listeners) = (
        counts.to_senders.load(Relaxed),
        counts.to_listeners.load(Relaxed),
    );
    println!(
        "{} senders in {} rooms at {}/s for {:.0} s: {} sent ({} failed); {} deliveries = {:.0}/s ({:.0}/s to senders, {:.0}/s to listeners); latency over all deliveries p50 {:.1} ms, p99 {:.1} ms, p99.9 {:.1} ms, max {:.1} ms; {} connections closed early",
        args.clients,
        args.rooms,
        args.rate,
        elapsed,
        counts.sent.load(Relaxed),
        counts.send_errors.load(Relaxed),
        to_senders + to_listeners,
        (to_senders + to_listeners) as f64 / elapsed,
        to_senders as f64 / elapsed,
        to_listeners as f64 / elapsed,
        pct(0.5),
        pct(0.99),
        pct(0.999),
        pct(1.0),
        counts.closed_early.load(Relaxed),
    );
    let busy = |a: Option<u64>, b: Option<u64>| {
        a.zip(b)
            .map(|(a, b)| format!("{:.0}%", (b - a) as f64 / TICKS / elapsed * 100.0))
            .unwrap_or_else(|| "?".into())
    };
    println!(
        "CPU while sending (100% = one core): relay {}, load generator {}",
        busy(cpu_before.0, cpu_after.0),
        busy(cpu_before.1, cpu_after.1)
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use movietalk_protocol::relay::{ChatMessage, ServerMessage};

    #[test]
    fn counts_message_events_as_the_relay_encodes_them_and_reads_their_send_time() {
        let counter = AtomicU64::new(0);
        let mut tally = Tally {
            counter: &counter,
            latencies: Vec::new(),
        };
        let sent = now_us() - 5_000;
        let event = |text: String| {
            ServerMessage::Message(ChatMessage {
                room: "room1".into(),
                seq: 7,
                client_id: "c".into(),
                author: "load1".into(),
                guest: true,
                text,
                deleted: false,
                sent_at_ms: 0,
            })
            .to_json()
        };
        tally.frame(event(format!("{sent} load")).as_bytes());
        // A message that is not the generator's counts, without a latency.
        tally.frame(event("hello".into()).as_bytes());
        // Other events are not deliveries.
        tally.frame(
            ServerMessage::Presence {
                room: "room1".into(),
                present: 3,
            }
            .to_json()
            .as_bytes(),
        );
        assert_eq!(counter.load(Relaxed), 2);
        assert_eq!(tally.latencies.len(), 1);
        assert!(
            (5_000..1_000_000).contains(&tally.latencies[0]),
            "{:?}",
            tally.latencies
        );
    }
}
