//! `relay-server`: runs a MovieTalk relay until Ctrl-C / SIGTERM.
//!
//! `relay-server [--bind ADDR] [--db PATH] [--metrics ADDR] [--google ID] [--kakao ID] [--github ID]
//! [--oidc NAME ISSUER ID]`, or `MOVIETALK_RELAY_BIND` / `MOVIETALK_RELAY_DB`; defaults
//! `127.0.0.1:7340` and `movietalk-relay.sqlite3` in the working directory; `--db postgres://…`
//! stores in PostgreSQL, where any number of relay instances can share one database. Provider client ids
//! are public identifiers, not secrets; the relay holds no provider secret.

use std::net::SocketAddr;

use anyhow::Context;
use movietalk_relay::oidc::ProviderConfig;
use std::sync::Arc;

use movietalk_relay::store::{RelayStore, SqliteStore};
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
    let mut github_api: Option<String> = None;
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
            "--address-writes-per-sec" => {
                config.address_writes_per_sec = number(&mut args, "--address-writes-per-sec")?
            }
            "--frames-per-sec" => config.frames_per_sec = number(&mut args, "--frames-per-sec")?,
            "--guests-read-only" => config.guests_may_write = false,
            "--google" => config.providers.push(ProviderConfig::google(&value(
                &mut args,
                "--google",
                "a client id",
            )?)),
            "--kakao" => config.providers.push(ProviderConfig::kakao(&value(
                &mut args,
                "--kakao",
                "a client id (REST API key)",
            )?)),
            "--github" => config.providers.push(ProviderConfig::github(&value(
                &mut args,
                "--github",
                "a client id",
            )?)),
            "--github-api" => github_api = Some(value(&mut args, "--github-api", "a URL")?),
            "--oidc" => {
                let name = value(&mut args, "--oidc", "NAME ISSUER CLIENT_ID")?;
                let issuer = value(&mut args, "--oidc", "NAME ISSUER CLIENT_ID")?;
                let client = value(&mut args, "--oidc", "NAME ISSUER CLIENT_ID")?;
                config
                    .providers
                    .push(ProviderConfig::oidc(&name, &issuer, &client));
            }
            "--access-ttl" => {
                config.token_lifetimes.access =
                    std::time::Duration::from_secs(number(&mut args, "--access-ttl")?)
            }
            "--refresh-ttl" => {
                config.token_lifetimes.refresh =
                    std::time::Duration::from_secs(number(&mut args, "--refresh-ttl")?)
            }
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
                    "  --db    SQLite file, or postgres://USER@HOST/DB for several instances on one\n          database (env MOVIETALK_RELAY_DB, better for a password; default {DEFAULT_DB})"
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
                println!(
                    "  --writes-per-sec N    per-account (and per guest connection) write rate (default 5)"
                );
                println!(
                    "  --address-writes-per-sec N  write rate of all guests from one address together (default 20)"
                );
                println!(
                    "  --guests-read-only    clients that are not logged in may read but not post"
                );
                println!("                        (env MOVIETALK_RELAY_GUESTS_READ_ONLY=1)");
                println!("  --google CLIENT_ID    allow log-in with Google (OpenID Connect)");
                println!(
                    "  --kakao CLIENT_ID     allow log-in with Kakao (OpenID Connect; the app's REST API key)"
                );
                println!(
                    "  --github CLIENT_ID    allow log-in with GitHub (OAuth2; --github-api URL for Enterprise)"
                );
                println!(
                    "  --oidc NAME ISSUER CLIENT_ID  allow log-in with any OpenID Connect issuer (https)"
                );
                println!("  --access-ttl SECS     access token lifetime (default 900)");
                println!(
                    "  --refresh-ttl SECS    refresh token lifetime, renewed by each refresh (default 2592000)"
                );
                return Ok(());
            }
            other => anyhow::bail!("unknown argument {other:?}; try --help"),
        }
    }
    if let Some(api) = github_api {
        let github = config
            .providers
            .iter_mut()
            .find(|p| p.name == "github")
            .context("--github-api needs --github")?;
        *github = ProviderConfig::github_at(&github.client_ids[0], &api);
    }
    for p in &config.providers {
        p.check().map_err(anyhow::Error::msg)?;
        tracing::info!(provider = %p.name, "log-in with provider enabled");
    }
    let addr: SocketAddr = bind
        .parse()
        .with_context(|| format!("{bind:?} is not an address like 127.0.0.1:7340"))?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    tracing::info!(addr = %listener.local_addr()?, "relay listening");
    let store = open_store(&db)?;
    config.metrics_listener = metrics;
    run(listener, config, store, shutdown_signal()).await?;
    Ok(())
}

/// SQLite at a file path, or PostgreSQL at a `postgres://` address (for several instances).
fn open_store(db: &str) -> anyhow::Result<Arc<dyn RelayStore>> {
    if db.starts_with("postgres://") || db.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        {
            // The address may hold a password: log where, never the address itself.
            let store = movietalk_relay::pg::PgStore::open(db).context(
                "opening the PostgreSQL store (the address in --db / MOVIETALK_RELAY_DB)",
            )?;
            tracing::info!(?store, "storing in PostgreSQL");
            return Ok(Arc::new(store));
        }
        #[cfg(not(feature = "postgres"))]
        anyhow::bail!("this relay-server was built without PostgreSQL (cargo feature `postgres`)");
    }
    let store =
        SqliteStore::open(std::path::Path::new(db)).with_context(|| format!("opening {db}"))?;
    tracing::info!(db = %db, "storing in SQLite");
    Ok(Arc::new(store))
}

fn value(
    args: &mut impl Iterator<Item = String>,
    flag: &str,
    what: &str,
) -> anyhow::Result<String> {
    args.next().with_context(|| format!("{flag} needs {what}"))
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
