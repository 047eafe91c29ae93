//! `movietalk watchlist`: the films you mean to watch, kept here at once and delivered to the
//! relay by the next sync — the same [`App`] calls the window makes.

use std::path::Path;

use anyhow::bail;
use clap::{Subcommand, ValueEnum};
use movietalk_core::app::App;
use movietalk_protocol::ipc::{WatchlistEntry, WatchlistSort, WatchlistView};

use crate::RelayArgs;
use crate::app::{connect, open};

#[derive(Subcommand, Debug)]
pub enum Action {
    /// Put a film on your watchlist (by its key, as `search` shows it).
    Add {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Take a film off your watchlist.
    Rm {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Your watchlist; or, with `--of HANDLE`, another person's public one (from the relay).
    Ls {
        #[arg(long, value_enum, default_value_t = SortArg::Added)]
        sort: SortArg,
        #[arg(long)]
        of: Option<String>,
        #[command(flatten)]
        relay: RelayArgs,
    },
    /// One film from your watchlist for tonight, favouring what your recommendations rank
    /// highest.
    Pick {
        #[arg(long)]
        json: bool,
    },
    /// Let others read your watchlist (`on`), or stop them (`off`).
    Public {
        #[arg(value_parser = ["on", "off"])]
        state: String,
    },
}

/// `--sort` of `watchlist ls`.
#[derive(ValueEnum, Clone, Copy, Debug)]
pub enum SortArg {
    /// Newest addition first.
    Added,
    /// What your recommendations rank highest first.
    ForYou,
    Title,
    /// Newest film first.
    Year,
}

impl From<SortArg> for WatchlistSort {
    fn from(s: SortArg) -> WatchlistSort {
        match s {
            SortArg::Added => WatchlistSort::Added,
            SortArg::ForYou => WatchlistSort::ForYou,
            SortArg::Title => WatchlistSort::Title,
            SortArg::Year => WatchlistSort::Year,
        }
    }
}

pub fn run(data_dir: &Path, action: &Action) -> anyhow::Result<()> {
    match action {
        Action::Add { key, json } => change(&open(data_dir, None, |_| {})?, key, true, *json),
        Action::Rm { key, json } => change(&open(data_dir, None, |_| {})?, key, false, *json),
        Action::Ls { sort, of, relay } => {
            let app = open(data_dir, relay.relay.as_deref(), |_| {})?;
            let list = match of {
                Some(handle) => tokio::runtime::Runtime::new()?.block_on(async {
                    connect(&app, relay, true).await?;
                    anyhow::Ok(app.watchlist_of(handle).await?)
                })?,
                None => app.watchlist((*sort).into())?,
            };
            print_list(&list, relay.json)
        }
        Action::Pick { json } => {
            let app = open(data_dir, None, |_| {})?;
            let Some(pick) = app.pick_for_tonight(None)? else {
                bail!("your watchlist is empty: `movietalk watchlist add KEY` first");
            };
            if *json {
                println!("{}", serde_json::to_string(&pick)?);
            } else {
                println!("tonight: {}", film(&pick));
            }
            Ok(())
        }
        Action::Public { state } => {
            let public = state == "on";
            open(data_dir, None, |_| {})?.set_watchlist_public(public)?;
            match public {
                true => println!("your watchlist is public; the next sync tells the relay"),
                false => println!("your watchlist is private; the next sync tells the relay"),
            }
            Ok(())
        }
    }
}

fn change(app: &App, key: &str, on: bool, json: bool) -> anyhow::Result<()> {
    let changed = app.set_watchlist(key, on)?;
    if json {
        let answer = serde_json::json!({ "key": key, "on_watchlist": on, "changed": changed });
        println!("{answer}");
    } else {
        match (on, changed) {
            (true, true) => println!("{key} is on your watchlist; the next sync delivers it"),
            (true, false) => println!("{key} was on your watchlist already"),
            (false, true) => println!("{key} is off your watchlist; the next sync delivers it"),
            (false, false) => bail!("{key} is not on your watchlist"),
        }
    }
    Ok(())
}

fn film(e: &WatchlistEntry) -> String {
    match e.movie.year {
        Some(y) => format!("{} ({y})  [{}]", e.movie.title, e.movie.key),
        None => format!("{}  [{}]", e.movie.title, e.movie.key),
    }
}

fn print_list(list: &WatchlistView, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(list)?);
        return Ok(());
    }
    let whose = list
        .handle
        .as_deref()
        .map_or("your".to_owned(), |h| format!("@{h}'s"));
    let shown = if list.public { "public" } else { "private" };
    println!("{whose} watchlist ({shown}): {} films", list.films.len());
    for e in &list.films {
        println!("  {}", film(e));
    }
    Ok(())
}
