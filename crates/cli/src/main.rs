//! `movietalk`: the core library from the command line — the same data directory and the same
//! code paths as the desktop app, without a window.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use movietalk_core::{Catalog, Movie, paths};

#[derive(Parser, Debug)]
#[command(name = "movietalk", version, about = "MovieTalk from the command line")]
struct Cli {
    /// Data directory (default: the app's OS data directory).
    #[arg(long, global = true, env = paths::DATA_DIR_ENV)]
    data_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Search the local catalog.
    Search {
        query: String,
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one movie by key.
    Show {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Catalog statistics.
    Stats {
        #[arg(long)]
        json: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let dir = match cli.data_dir {
        Some(dir) => dir,
        None => paths::data_dir()?,
    };
    let db = paths::ensure_db_path(&dir)?;
    let mut catalog = Catalog::open(&db).with_context(|| format!("opening {}", db.display()))?;
    catalog.seed_if_empty()?;
    match cli.command {
        Command::Search { query, limit, json } => {
            let (movies, total) = catalog.search(&query, limit, 0)?;
            if json {
                println!("{}", serde_json::json!({ "total": total, "movies": movies }));
            } else {
                for m in &movies {
                    println!("{}", line(m));
                }
                println!("{} of {total} shown", movies.len());
            }
        }
        Command::Show { key, json } => {
            let movie = catalog.get(&key)?.with_context(|| format!("no movie with key {key:?}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&movie)?);
            } else {
                println!("{}", line(&movie));
                if let Some(overview) = &movie.overview {
                    println!("\n{overview}");
                }
                if let Some(overview) = &movie.overview_ko {
                    println!("\n{overview}");
                }
            }
        }
        Command::Stats { json } => {
            let count = catalog.count()?;
            if json {
                println!("{}", serde_json::json!({ "movies": count, "database": db }));
            } else {
                println!("movies: {count}\ndatabase: {}", db.display());
            }
        }
    }
    Ok(())
}

fn line(m: &Movie) -> String {
    let year = m.year.map(|y| y.to_string()).unwrap_or_else(|| "----".into());
    let ko = m.title_ko.as_deref().map(|t| format!(" ({t})")).unwrap_or_default();
    format!("{:<40} {year}  {}{ko}", m.key, m.title)
}
