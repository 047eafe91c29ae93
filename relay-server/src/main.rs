//! `relay-server`: runs a MovieTalk relay until Ctrl-C / SIGTERM.
//!
//! `relay-server [--bind ADDR] [--db PATH] [--metrics ADDR]`, or `MOVIETALK_RELAY_BIND` / `MOVIETALK_RELAY_DB`;
//! defaults `127.0.0.1:7340` and `movietalk-relay.sqlite3` in the working directory.

use std::net::SocketAddr;

use anyhow::Context;
use movietalk_relay::store::SqliteStore;
use movietalk_relay::{Config, run};

const DEFAULT_BIND: &str = "127.0.0.1:7340";
const DEFAULT_DB: &str = "movietalk-relay.sqlite3";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut bind =
        std::env::var("MOVIETALK_RELAY_BIND").unwrap_or_else(|_| DEFAULT_BIND.to_owned());
    let mut db = std::env::var("MOVIETALK_RELAY_DB").unwrap_or_else(|_| DEFAULT_DB.to_owned());
    let mut metrics: Option<SocketAddr> = None;
    let mut config = Config::default();
    if let Ok(n) = std::env::var("MOVIETALK_RELAY_MAX_CONNECTIONS") {
        config.max_connections = n
            .parse()
            .with_context(|| format!("MOVIETALK_RELAY_MAX_CONNECTIONS={n:?} is not a number"))?;
    }
    if std::env::var("MOVIETALK_RELAY_GUESTS_READ_ONLY").is_ok_and(|v| v == "1") {
        config.guests_may_write = false;
    }
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bind" => {
                bind = args
                    .next()
                    .context("--bind needs an address, e.g. 127.0.0.1:7340")?
            }
            "--db" => db = args.next().context("--db needs a file path")?,
            "--max-connections" => config.max_connections = number(&mut args, "--max-connections")?,
            "--history-page" => config.history_page = number(&mut args, "--history-page")?,
            "--writes-per-sec" => config.writes_per_sec = number(&mut args, "--writes-per-sec")?,
            "--frames-per-sec" => config.frames_per_sec = number(&mut args, "--frames-per-sec")?,
            "--guests-read-only" => config.guests_may_write = false,
            "--metrics" => {
                let a = args
                    .next()
                    .context("--metrics needs an address, e.g. 127.0.0.1:9340")?;
                metrics = Some(
                    a.parse()
                        .with_context(|| format!("{a:?} is not an address"))?,
                );
            }
            "-h" | "--help" => {
                println!("relay-server [--bind ADDR] [--db PATH]");
                println!(
                    "  --bind  address to listen on (env MOVIETALK_RELAY_BIND, default {DEFAULT_BIND})"
                );
                println!(
                    "  --db    SQLite file for chat history (env MOVIETALK_RELAY_DB, default {DEFAULT_DB})"
                );
                println!(
                    "  --metrics ADDR  serve /healthz and /metrics (Prometheus) over HTTP on ADDR"
                );
                println!(
                    "  --max-connections N   (env MOVIETALK_RELAY_MAX_CONNECTIONS, default 20000)"
                );
                println!(
                    "  --history-page N      most messages per join/history reply (default 200)"
                );
                println!("  --frames-per-sec N    per-connection frame rate (default 50)");
                println!("  --writes-per-sec N    per-account write rate (default 5)");
                println!(
                    "  --guests-read-only    clients that are not logged in may read but not post"
                );
                println!("                        (env MOVIETALK_RELAY_GUESTS_READ_ONLY=1)");
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other:?}; try --help"),
        }
    }
    let addr: SocketAddr = bind
        .parse()
        .with_context(|| format!("{bind:?} is not an address like 127.0.0.1:7340"))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "relay listening");
    let store =
        SqliteStore::open(std::path::Path::new(&db)).with_context(|| format!("opening {db}"))?;
    tracing::info!(db = %db, "chat history");
    config.metrics_listener = metrics;
    run(
        listener,
        config,
        std::sync::Arc::new(store),
        shutdown_signal(),
    )
    .await?;
    Ok(())
}

fn number<T: std::str::FromStr>(
    args: &mut impl Iterator<Item = String>,
    flag: &str,
) -> anyhow::Result<T> {
    let v = args
        .next()
        .with_context(|| format!("{flag} needs a number"))?;
    v.parse()
        .map_err(|_| anyhow::anyhow!("{flag} {v:?} is not a number"))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
