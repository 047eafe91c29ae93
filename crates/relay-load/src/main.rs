//! `relay-load`: a load generator for the relay, run by hand against a relay on loopback.
//!
//! ```sh
//! relay-server --bind 127.0.0.1:7340 --db /tmp/load.sqlite3 &
//! relay-load --url ws://127.0.0.1:7340 --clients 1000 --rooms 100 --rate 1 --seconds 30
//! relay-load --url ws://127.0.0.1:7340 --idle 10000 --clients 1000 --rooms 100 --rate 1 --seconds 30 --relay-pid $!
//! relay-load --url ws://127.0.0.1:7340 --storm 10000
//! ```
//!
//! Every sending client posts `rate` messages a second to its room (client `i` is in room
//! `i % rooms`); every client in the room receives them. A message carries its send time, so the
//! receiver measures delivery latency (send → the relay stores it → fan-out → receipt). With
//! `--idle N`, N more connections join rooms and only listen. `--relay-pid` reads the relay's
//! resident memory before and after the idle connections. `--storm N` opens N connections at
//! once and counts failures.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use movietalk_core::relay_client::{RelayClient, RelayEvent};

#[derive(Debug, Clone)]
struct Args {
    url: String,
    clients: usize,
    rooms: usize,
    rate: f64,
    seconds: u64,
    idle: usize,
    storm: usize,
    relay_pid: Option<u32>,
}

fn parse() -> anyhow::Result<Args> {
    let mut a = Args {
        url: String::new(),
        clients: 0,
        rooms: 100,
        rate: 1.0,
        seconds: 30,
        idle: 0,
        storm: 0,
        relay_pid: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut v = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.url = v()?,
            "--clients" => a.clients = v()?.parse()?,
            "--rooms" => a.rooms = v()?.parse()?,
            "--rate" => a.rate = v()?.parse()?,
            "--seconds" => a.seconds = v()?.parse()?,
            "--idle" => a.idle = v()?.parse()?,
            "--storm" => a.storm = v()?.parse()?,
            "--relay-pid" => a.relay_pid = Some(v()?.parse()?),
            other => bail!("unknown argument {other:?}"),
        }
    }
    if a.url.is_empty() {
        bail!("--url ws://HOST:PORT is required");
    }
    Ok(a)
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
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

async fn connect_many(
    url: &str,
    n: usize,
    prefix: &str,
) -> (
    Vec<(RelayClient, tokio::sync::mpsc::Receiver<RelayEvent>)>,
    usize,
) {
    let mut ok = Vec::with_capacity(n);
    let mut failed = 0;
    // Connect in waves so the OS accept queue is not the thing being measured.
    for chunk in (0..n).collect::<Vec<_>>().chunks(500) {
        let tasks: Vec<_> = chunk
            .iter()
            .map(|i| {
                let url = url.to_owned();
                let name = format!("{prefix}{i}");
                tokio::spawn(async move { RelayClient::connect(&url, &name).await })
            })
            .collect();
        for t in tasks {
            match t.await {
                Ok(Ok(c)) => ok.push(c),
                _ => failed += 1,
            }
        }
    }
    (ok, failed)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = parse()?;
    if args.storm > 0 {
        let started = Instant::now();
        let tasks: Vec<_> = (0..args.storm)
            .map(|i| {
                let url = args.url.clone();
                tokio::spawn(async move { RelayClient::connect(&url, &format!("storm{i}")).await })
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
        return Ok(());
    }

    let rss_before = args.relay_pid.and_then(rss_kib);
    let (idle, idle_failed) = connect_many(&args.url, args.idle, "idle").await;
    let idle_deliveries = Arc::new(AtomicU64::new(0));
    let mut idle_clients = Vec::new();
    for (i, (c, mut events)) in idle.into_iter().enumerate() {
        c.join(&format!("room{}", i % args.rooms), None).await.ok();
        // Listeners read everything (a client that stops reading is rightly dropped as slow).
        let counter = idle_deliveries.clone();
        tokio::spawn(async move {
            while let Some(e) = events.recv().await {
                if matches!(e, RelayEvent::Message(_)) {
                    counter.fetch_add(1, Relaxed);
                }
            }
        });
        idle_clients.push(c);
    }
    let idle = idle_clients;
    let rss_idle = args.relay_pid.and_then(rss_kib);
    if args.idle > 0 {
        println!("idle: {} connected, {} failed", idle.len(), idle_failed);
        if let (Some(a), Some(b)) = (rss_before, rss_idle) {
            let _ = &idle;
            println!(
                "relay memory: {a} KiB before, {b} KiB with the idle connections: {:.1} KiB per connection",
                (b.saturating_sub(a)) as f64 / idle.len().max(1) as f64
            );
        }
    }

    let (clients, failed) = connect_many(&args.url, args.clients, "load").await;
    println!("senders: {} connected, {} failed", clients.len(), failed);
    let deliveries = Arc::new(AtomicU64::new(0));
    let sent = Arc::new(AtomicU64::new(0));
    let send_errors = Arc::new(AtomicU64::new(0));
    let latencies = Arc::new(std::sync::Mutex::new(Vec::<u32>::new()));
    for (i, (client, _)) in clients.iter().enumerate() {
        client
            .join(&format!("room{}", i % args.rooms), Some(u64::MAX >> 1))
            .await
            .ok();
    }
    let deadline = Instant::now() + Duration::from_secs(args.seconds);
    let mut handles = Vec::new();
    for (i, (client, mut events)) in clients.into_iter().enumerate() {
        let room = format!("room{}", i % args.rooms);
        let (deliveries, latencies) = (deliveries.clone(), latencies.clone());
        handles.push(tokio::spawn(async move {
            let mut local = Vec::new();
            while let Ok(Some(e)) = tokio::time::timeout_at(deadline.into(), events.recv()).await {
                if let RelayEvent::Message(m) = e
                    && let Some(t) = m.text.split(' ').next().and_then(|t| t.parse::<u64>().ok())
                {
                    local.push(now_us().saturating_sub(t).min(u32::MAX as u64) as u32);
                    deliveries.fetch_add(1, Relaxed);
                }
            }
            latencies.lock().unwrap().extend(local);
        }));
        let (sent, send_errors) = (sent.clone(), send_errors.clone());
        let period = Duration::from_secs_f64(1.0 / args.rate);
        handles.push(tokio::spawn(async move {
            // Spread the senders over the first period.
            tokio::time::sleep(period.mul_f64((i % 1000) as f64 / 1000.0)).await;
            let mut tick = tokio::time::interval(period);
            while Instant::now() + period < deadline {
                tick.tick().await;
                match client.send(&room, &format!("{} load", now_us())).await {
                    Ok(_) => sent.fetch_add(1, Relaxed),
                    Err(_) => send_errors.fetch_add(1, Relaxed),
                };
            }
        }));
    }
    let started = Instant::now();
    for h in handles {
        let _ = h.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let idle_got = idle_deliveries.load(Relaxed);
    let mut lat = std::mem::take(&mut *latencies.lock().unwrap());
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0) as f64
            / 1000.0
    };
    println!(
        "{} senders in {} rooms at {}/s for {:.0} s: {} sent ({} failed), {} deliveries to senders = {:.0}/s (+ {:.0}/s to idle listeners); latency p50 {:.1} ms, p99 {:.1} ms",
        args.clients,
        args.rooms,
        args.rate,
        elapsed,
        sent.load(Relaxed),
        send_errors.load(Relaxed),
        deliveries.load(Relaxed),
        deliveries.load(Relaxed) as f64 / elapsed,
        idle_got as f64 / elapsed,
        pct(0.5),
        pct(0.99)
    );
    drop(idle);
    Ok(())
}
