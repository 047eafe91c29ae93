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
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()))
        .init();
    let mut bind = std::env::var("MOVIETALK_RELAY_BIND").unwrap_or_else(|_| DEFAULT_BIND.to_owned());
    let mut db = std::env::var("MOVIETALK_RELAY_DB").unwrap_or_else(|_| DEFAULT_DB.to_owned());
    let mut metrics: Option<SocketAddr> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bind" => bind = args.next().context("--bind needs an address, e.g. 127.0.0.1:7340")?,
            "--db" => db = args.next().context("--db needs a file path")?,
            "--metrics" => {
                let a = args.next().context("--metrics needs an address, e.g. 127.0.0.1:9340")?;
                metrics = Some(a.parse().with_context(|| format!("{a:?} is not an address"))?);
            }
            "-h" | "--help" => {
                println!("relay-server [--bind ADDR] [--db PATH]");
                println!("  --bind  address to listen on (env MOVIETALK_RELAY_BIND, default {DEFAULT_BIND})");
                println!("  --db    SQLite file for chat history (env MOVIETALK_RELAY_DB, default {DEFAULT_DB})");
                println!("  --metrics ADDR  serve /healthz and /metrics (Prometheus) over HTTP on ADDR");
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other:?}; try --help"),
        }
    }
    let addr: SocketAddr = bind.parse().with_context(|| format!("{bind:?} is not an address like 127.0.0.1:7340"))?;
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "relay listening");
    let store = SqliteStore::open(std::path::Path::new(&db)).with_context(|| format!("opening {db}"))?;
    tracing::info!(db = %db, "chat history");
    let config = Config { metrics_listener: metrics, ..Config::default() };
    run(listener, config, std::sync::Arc::new(store), shutdown_signal()).await?;
    Ok(())
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
