//! Counters for `/metrics` (Prometheus text format) and a `/healthz` probe, served on their own
//! address so they are never exposed with the WebSocket port by accident.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the relay counts. Cheap atomics, updated on the hot paths.
#[derive(Debug, Default)]
pub struct Metrics {
    /// WebSocket connections open now.
    pub connections: AtomicU64,
    /// Connections accepted since start.
    pub connections_total: AtomicU64,
    /// Chat messages stored.
    pub messages_total: AtomicU64,
    /// Chat messages handed to members' queues (fan-out).
    pub deliveries_total: AtomicU64,
    /// Error frames sent to clients.
    pub errors_total: AtomicU64,
    /// Connections dropped for reading too slowly.
    pub slow_readers_total: AtomicU64,
    /// Requests refused by a rate limit.
    pub rate_limited_total: AtomicU64,
    /// Chat messages other relay instances stored, read back and fanned out here.
    pub peer_messages_total: AtomicU64,
    /// Other relay instances on the same database heard from lately.
    pub peer_instances: AtomicU64,
}

impl Metrics {
    /// The Prometheus text exposition of every counter, plus `rooms`, the rooms with members.
    pub fn render(&self, rooms: usize) -> String {
        let mut out = String::new();
        let mut line = |name: &str, kind: &str, help: &str, value: u64| {
            out.push_str(&format!("# HELP movietalk_relay_{name} {help}\n# TYPE movietalk_relay_{name} {kind}\nmovietalk_relay_{name} {value}\n"));
        };
        line(
            "connections",
            "gauge",
            "WebSocket connections open now.",
            self.connections.load(Relaxed),
        );
        line(
            "rooms",
            "gauge",
            "Chat rooms with at least one member.",
            rooms as u64,
        );
        line(
            "connections_total",
            "counter",
            "Connections accepted since start.",
            self.connections_total.load(Relaxed),
        );
        line(
            "messages_total",
            "counter",
            "Chat messages stored.",
            self.messages_total.load(Relaxed),
        );
        line(
            "deliveries_total",
            "counter",
            "Chat messages queued to members.",
            self.deliveries_total.load(Relaxed),
        );
        line(
            "errors_total",
            "counter",
            "Error frames sent to clients.",
            self.errors_total.load(Relaxed),
        );
        line(
            "slow_readers_total",
            "counter",
            "Connections dropped for reading too slowly.",
            self.slow_readers_total.load(Relaxed),
        );
        line(
            "rate_limited_total",
            "counter",
            "Requests refused by a rate limit.",
            self.rate_limited_total.load(Relaxed),
        );
        line(
            "peer_messages_total",
            "counter",
            "Chat messages other relay instances stored, fanned out here.",
            self.peer_messages_total.load(Relaxed),
        );
        line(
            "peer_instances",
            "gauge",
            "Other relay instances on the same database heard from lately.",
            self.peer_instances.load(Relaxed),
        );
        out
    }
}

/// Serves `GET /healthz` and `GET /metrics` on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, hub: Arc<crate::Hub>) {
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        let hub = hub.clone();
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let n = match tokio::time::timeout(
                std::time::Duration::from_secs(5),
                socket.read(&mut buf),
            )
            .await
            {
                Ok(Ok(n)) => n,
                _ => return,
            };
            let request = String::from_utf8_lossy(&buf[..n]);
            let path = request.split_whitespace().nth(1).unwrap_or("");
            let (status, body) = match (request.starts_with("GET "), path) {
                (true, "/healthz") => {
                    let store = hub.clone();
                    match tokio::task::spawn_blocking(move || store.check_store()).await {
                        Ok(Ok(())) => ("200 OK", "ok\n".to_owned()),
                        Ok(Err(e)) => ("503 Service Unavailable", format!("store: {e}\n")),
                        Err(e) => ("503 Service Unavailable", format!("store check: {e}\n")),
                    }
                }
                (true, "/metrics") => ("200 OK", metrics.render(hub.room_count())),
                (true, _) => ("404 Not Found", "not found\n".to_owned()),
                (false, _) => ("405 Method Not Allowed", "GET only\n".to_owned()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(body.as_bytes()).await;
        });
    }
}
