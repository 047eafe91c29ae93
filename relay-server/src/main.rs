//! `relay-server`: runs a MovieTalk relay until Ctrl-C / SIGTERM. `relay-server --help` lists
//! the options; each also reads a `MOVIETALK_RELAY_*` environment variable. Defaults:
//! `127.0.0.1:7340` and `movietalk-relay.sqlite3` in the working directory; `--db postgres://…`
//! stores in PostgreSQL, where any number of relay instances can share one database. Provider
//! client ids are public identifiers, not secrets; the relay holds no provider secret.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use movietalk_relay::oidc::ProviderConfig;
use movietalk_relay::store::SqliteStore;
use movietalk_relay::{Config, RelayStore, run};

/// A MovieTalk relay: accounts, reviews, comments and chat rooms over WebSockets.
///
/// Limits left out take the relay's defaults (`movietalk_relay::Config::default`).
#[derive(Debug, Parser)]
#[command(version, about)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// Address to listen on.
    #[arg(long, env = "MOVIETALK_RELAY_BIND", default_value = "127.0.0.1:7340")]
    bind: SocketAddr,
    /// SQLite file, or postgres://USER@HOST/DB for several instances on one database (the
    /// environment variable is better for an address with a password).
    #[arg(
        long,
        global = true,
        env = "MOVIETALK_RELAY_DB",
        default_value = "movietalk-relay.sqlite3"
    )]
    db: String,
    /// Serve /healthz and /metrics (Prometheus) over HTTP on this address.
    #[arg(long, env = "MOVIETALK_RELAY_METRICS")]
    metrics: Option<SocketAddr>,
    /// Connections served at once [default: 20000].
    #[arg(long, env = "MOVIETALK_RELAY_MAX_CONNECTIONS")]
    max_connections: Option<usize>,
    /// Most messages per join or history reply [default: 200].
    #[arg(long, env = "MOVIETALK_RELAY_HISTORY_PAGE")]
    history_page: Option<usize>,
    /// Frames one connection may send per second [default: 50].
    #[arg(long, env = "MOVIETALK_RELAY_FRAMES_PER_SEC")]
    frames_per_sec: Option<f64>,
    /// Writes per second per account, and per guest connection [default: 5].
    #[arg(long, env = "MOVIETALK_RELAY_WRITES_PER_SEC")]
    writes_per_sec: Option<f64>,
    /// Writes per second of all guests from one address together [default: 20].
    #[arg(long, env = "MOVIETALK_RELAY_ADDRESS_WRITES_PER_SEC")]
    address_writes_per_sec: Option<f64>,
    /// Clients that are not logged in may read but not post.
    #[arg(long, env = "MOVIETALK_RELAY_GUESTS_READ_ONLY")]
    guests_read_only: bool,
    /// Access token lifetime in seconds [default: 900].
    #[arg(long, env = "MOVIETALK_RELAY_ACCESS_TTL", value_name = "SECS")]
    access_ttl: Option<u64>,
    /// Refresh token lifetime in seconds, renewed by each refresh [default: 2592000].
    #[arg(long, env = "MOVIETALK_RELAY_REFRESH_TTL", value_name = "SECS")]
    refresh_ttl: Option<u64>,
    /// Allow log-in with Google (OpenID Connect).
    #[arg(long, env = "MOVIETALK_RELAY_GOOGLE", value_name = "CLIENT_ID")]
    google: Option<String>,
    /// Allow log-in with Kakao (OpenID Connect; the app's REST API key).
    #[arg(long, env = "MOVIETALK_RELAY_KAKAO", value_name = "CLIENT_ID")]
    kakao: Option<String>,
    /// Allow log-in with GitHub (OAuth2).
    #[arg(long, env = "MOVIETALK_RELAY_GITHUB", value_name = "CLIENT_ID")]
    github: Option<String>,
    /// GitHub's API for --github (GitHub Enterprise).
    #[arg(
        long,
        env = "MOVIETALK_RELAY_GITHUB_API",
        value_name = "URL",
        requires = "github"
    )]
    github_api: Option<String>,
    /// Allow log-in with any OpenID Connect issuer (https); repeatable.
    #[arg(long, num_args = 3, value_names = ["NAME", "ISSUER", "CLIENT_ID"])]
    oidc: Vec<String>,
    /// Rebuild the community model once this many ratings changed [default: 500].
    #[arg(long, env = "MOVIETALK_RELAY_MODEL_AFTER", value_name = "RATINGS")]
    model_after: Option<u64>,
    /// Rebuild the community model when it is this old and any rating changed [default: 3600].
    #[arg(long, env = "MOVIETALK_RELAY_MODEL_EVERY", value_name = "SECS")]
    model_every: Option<u64>,
}

/// What else `relay-server` does besides serving.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Moves a community's ratings in from a CSV file of `user,title,year,rating` rows, then
    /// builds the community model. Each user becomes an account nobody can log in as; running
    /// it again with the same file changes nothing.
    ImportRatings {
        /// The CSV file.
        csv: std::path::PathBuf,
        /// A MovieTalk catalog (a data folder's movietalk.sqlite3) to match the films against;
        /// the rows naming none of its films are reported and left out.
        #[arg(long)]
        catalog: Option<std::path::PathBuf>,
    },
}

impl Args {
    /// The relay's configuration: the defaults, with what was given.
    fn config(&self) -> anyhow::Result<Config> {
        let mut config = Config::default();
        let set = |field: &mut f64, v: Option<f64>| {
            if let Some(v) = v {
                *field = v;
            }
        };
        if let Some(n) = self.max_connections {
            config.max_connections = n;
        }
        if let Some(n) = self.history_page {
            anyhow::ensure!(n >= 1, "--history-page must be at least 1");
            config.history_page = n;
        }
        set(&mut config.frames_per_sec, self.frames_per_sec);
        set(&mut config.writes_per_sec, self.writes_per_sec);
        set(
            &mut config.address_writes_per_sec,
            self.address_writes_per_sec,
        );
        config.guests_may_write = !self.guests_read_only;
        if let Some(s) = self.access_ttl {
            config.token_lifetimes.access = Duration::from_secs(s);
        }
        if let Some(s) = self.refresh_ttl {
            config.token_lifetimes.refresh = Duration::from_secs(s);
        }
        config.metrics_listener = self.metrics;
        config
            .providers
            .extend(self.google.as_deref().map(ProviderConfig::google));
        config
            .providers
            .extend(self.kakao.as_deref().map(ProviderConfig::kakao));
        if let Some(id) = &self.github {
            config.providers.push(match &self.github_api {
                Some(api) => ProviderConfig::github_at(id, api),
                None => ProviderConfig::github(id),
            });
        }
        for oidc in self.oidc.chunks(3) {
            config
                .providers
                .push(ProviderConfig::oidc(&oidc[0], &oidc[1], &oidc[2]));
        }
        for p in &config.providers {
            p.check().map_err(anyhow::Error::msg)?;
        }
        if let Some(n) = self.model_after {
            anyhow::ensure!(n >= 1, "--model-after must be at least 1");
            config.model.after_changes = n;
        }
        if let Some(s) = self.model_every {
            config.model.max_age = Duration::from_secs(s);
        }
        Ok(config)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    if let Some(Command::ImportRatings { csv, catalog }) = &args.command {
        let store = open_store(&args.db)?;
        return import_ratings(&*store, csv, catalog.as_deref());
    }
    let config = args.config()?;
    for p in &config.providers {
        tracing::info!(provider = %p.name, "log-in with provider enabled");
    }
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .with_context(|| format!("cannot listen on {}", args.bind))?;
    tracing::info!(addr = %listener.local_addr()?, "relay listening");
    let store = open_store(&args.db)?;
    run(listener, config, store, shutdown_signal()).await?;
    Ok(())
}

/// `relay-server import-ratings`: reads, matches and stores the ratings, builds the model, and
/// says what it did.
fn import_ratings(
    store: &dyn RelayStore,
    csv: &std::path::Path,
    catalog: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use movietalk_relay::clock::{Clock, SystemClock};
    use movietalk_relay::community::{self, import};
    let keys = catalog.map(import::catalog_keys).transpose()?;
    let read = import::read(csv, keys.as_ref())?;
    println!(
        "{} rows read; {} matched{}",
        read.rows,
        read.ratings.len(),
        if keys.is_some() {
            ""
        } else {
            " (by title and year as written: no --catalog to check them against)"
        }
    );
    if !read.unmatched.is_empty() {
        println!("{} rows name no film of the catalog:", read.unmatched.len());
        for u in read.unmatched.iter().take(20) {
            let year = u.year.map(|y| y.to_string()).unwrap_or_default();
            println!("  line {}: {} ({year})", u.line, u.title);
        }
        if read.unmatched.len() > 20 {
            println!("  … and {} more", read.unmatched.len() - 20);
        }
    }
    let now_ms = SystemClock.now_ms();
    let stored = store.import_ratings(&read.ratings, now_ms)?;
    println!(
        "{} new raters; {} ratings added or changed",
        stored.new_raters, stored.changed
    );
    let model = community::rebuild(store, now_ms)?;
    let films: Vec<movietalk_protocol::relay::ModelFilm> = serde_json::from_slice(&model.data)?;
    println!(
        "community model version {}: {} films, {} KiB",
        model.version,
        films.len(),
        model.data.len() / 1024
    );
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

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_options_are_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn options_left_out_keep_the_defaults_and_given_ones_are_applied() {
        let args = Args::try_parse_from([
            "relay-server",
            "--writes-per-sec",
            "7.5",
            "--oidc",
            "corp",
            "https://sso.example.com",
            "id1",
            "--oidc",
            "lab",
            "https://lab.example.com",
            "id2",
            "--github",
            "gh",
            "--github-api",
            "https://ghe.example.com/api/v3",
            "--guests-read-only",
        ])
        .unwrap();
        let config = args.config().unwrap();
        let defaults = Config::default();
        assert_eq!(config.writes_per_sec, 7.5);
        assert_eq!(config.frames_per_sec, defaults.frames_per_sec);
        assert_eq!(config.history_page, defaults.history_page);
        assert!(!config.guests_may_write);
        let names: Vec<&str> = config.providers.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(names, ["github", "corp", "lab"]);
        assert!(Args::try_parse_from(["relay-server", "--oidc", "only-a-name"]).is_err());
        assert!(Args::try_parse_from(["relay-server", "--bind", "not an address"]).is_err());
        let zero = Args::try_parse_from(["relay-server", "--history-page", "0"]).unwrap();
        assert!(
            zero.config().is_err(),
            "a page of nothing would answer nothing"
        );
    }
}
