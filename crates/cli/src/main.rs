//! `movietalk`: the core library from the command line — the same data directory and the same
//! code paths as the desktop app, without a window. Errors exit non-zero with a message.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use movietalk_core::import::{Progress, wikipedia};
use movietalk_core::search::{Fallback, SearchResults};
use movietalk_core::{Catalog, Movie, SearchQuery, Sort, paths};

mod app;
mod diary;
mod watchlist;

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
    /// Import films into the local catalog.
    Import {
        #[command(subcommand)]
        source: ImportSource,
    },
    /// Search the local catalog (ranked, prefix and typo tolerant, Korean-aware).
    Search {
        query: String,
        #[command(flatten)]
        filters: Filters,
        #[arg(long)]
        json: bool,
    },
    /// List films by genre, decade or popularity, without a query.
    Browse {
        #[command(flatten)]
        filters: Filters,
        /// Films of this decade, e.g. 1990.
        #[arg(long)]
        decade: Option<i32>,
        #[arg(long)]
        json: bool,
    },
    /// Show one movie by key.
    Show {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Films most like KEY (content similarity).
    Similar {
        key: String,
        #[arg(long, default_value_t = 10)]
        top: usize,
        #[arg(long)]
        json: bool,
    },
    /// Rate a film in half stars, 0.5 to 5 (stored locally); `--remove` deletes your rating.
    Rate {
        key: String,
        stars: Option<f32>,
        #[arg(long, conflicts_with = "stars")]
        remove: bool,
    },
    /// Personal recommendations from your ratings, or from a Letterboxd ratings.csv export.
    Recommend {
        #[arg(long, default_value_t = 10)]
        top: usize,
        /// A Letterboxd ratings.csv to use instead of your stored ratings.
        #[arg(long)]
        ratings: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Your year in film, from your ratings here: films per month, ratings, top genres,
    /// directors and decades (YEAR: the newest year with ratings when left out).
    Year {
        year: Option<i32>,
        #[arg(long)]
        json: bool,
    },
    /// Catalog statistics.
    Stats {
        #[arg(long)]
        json: bool,
    },
    /// Review a film: a rating in half stars (0.5 to 5) and optional text, kept here at once and
    /// delivered to the relay by the next sync; `--remove` deletes your review and rating.
    Review {
        key: String,
        stars: Option<f32>,
        text: Option<String>,
        /// The text gives away the plot.
        #[arg(long)]
        spoiler: bool,
        #[arg(long, conflicts_with_all = ["stars", "text", "spoiler"])]
        remove: bool,
        #[arg(long)]
        json: bool,
    },
    /// Follow HANDLE (or with `--off`, stop): their reviews come into your feed.
    Follow {
        handle: String,
        #[arg(long)]
        off: bool,
        #[command(flatten)]
        relay: RelayArgs,
    },
    /// Write everything that is yours here (ratings and reviews, watchlist, diary) to a JSON
    /// file in the data folder; prints its path.
    Export {
        #[arg(long)]
        json: bool,
    },
    /// Your diary: log a watch, ls, rm.
    Diary {
        #[command(subcommand)]
        action: diary::Action,
    },
    /// Your watchlist: add, rm, ls, pick (one for tonight), public on|off.
    Watchlist {
        #[command(subcommand)]
        action: watchlist::Action,
    },
    /// Log in to the relay; the session is kept in the OS keyring for the app and the CLI.
    Login {
        handle: String,
        /// Read the password from the first line of standard input instead of asking.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        relay: RelayArgs,
    },
    /// Log out: end the session on the relay (when reachable) and forget it here.
    Logout {
        #[command(flatten)]
        relay: RelayArgs,
    },
    /// Pull what changed on the relay and deliver your waiting reviews, comments and likes.
    /// Works without an account too (public reviews only).
    Sync {
        #[command(flatten)]
        relay: RelayArgs,
    },
    /// Reviews by the people you follow, newest first (from the cache when the relay is away).
    Feed {
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        relay: RelayArgs,
    },
    /// A profile with its reviews: HANDLE's, or yours without one.
    Profile {
        handle: Option<String>,
        #[command(flatten)]
        relay: RelayArgs,
    },
    /// Read a chat room on the relay (as your account when logged in, else as a guest): every
    /// message after `--since` (however many pages that takes), or the newest ones; with
    /// `--send`, post a line first.
    Chat {
        room: String,
        /// The last sequence number you have seen: print everything after it.
        #[arg(long)]
        since: Option<u64>,
        /// Post this line before reading.
        #[arg(long)]
        send: Option<String>,
        /// Your name in the room while not logged in.
        #[arg(long, env = "MOVIETALK_USER_NAME", default_value = "movietalk-cli")]
        name: String,
        #[command(flatten)]
        relay: RelayArgs,
    },
}

/// Where the relay is, and how to answer.
#[derive(clap::Args, Debug)]
struct RelayArgs {
    /// The relay, e.g. ws://127.0.0.1:7340 (default: the one in the app's settings).
    #[arg(long, env = "MOVIETALK_RELAY_URL")]
    relay: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum ImportSource {
    /// A whole Letterboxd export (.zip): diary with reviews, watchlist and ratings, matched
    /// to the catalog by title and year; importing it again adds nothing.
    Letterboxd {
        path: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// Everyone's ratings for the community signal: CSV rows `user,title,year,rating`.
    CommunityRatings {
        path: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// The Wikipedia movie JSON format: a file, a folder of movies-*.json files, or an http(s) URL.
    Wikipedia {
        path: String,
        #[arg(long)]
        json: bool,
    },
    /// Popular films from TMDB (API v3) in English and Korean, posters cached in the data
    /// directory. Reads your API v3 key from TMDB_API_KEY; MOVIETALK_TMDB_BASE_URL and
    /// MOVIETALK_TMDB_IMAGE_BASE_URL point it at another server.
    Tmdb {
        /// Pages of 20 films to import (1 to 500).
        #[arg(long, default_value_t = 1)]
        pages: u32,
        /// Only films of this genre (TMDB's name or the catalog's, e.g. "Animated").
        #[arg(long)]
        genre: Option<String>,
        /// Do not download posters.
        #[arg(long)]
        no_posters: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
struct Filters {
    #[arg(long)]
    genre: Option<String>,
    /// A year (1999) or an inclusive range (1990..1999).
    #[arg(long)]
    year: Option<String>,
    #[arg(long, value_enum, default_value_t = SortArg::Relevance)]
    sort: SortArg,
    #[arg(long, default_value_t = 20)]
    limit: u32,
    #[arg(long, default_value_t = 0)]
    offset: u32,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum SortArg {
    Relevance,
    Newest,
    Oldest,
    Popularity,
    Title,
}

impl From<SortArg> for Sort {
    fn from(s: SortArg) -> Sort {
        match s {
            SortArg::Relevance => Sort::Relevance,
            SortArg::Newest => Sort::Newest,
            SortArg::Oldest => Sort::Oldest,
            SortArg::Popularity => Sort::Popularity,
            SortArg::Title => Sort::Title,
        }
    }
}

fn parse_years(s: &str) -> anyhow::Result<(i32, i32)> {
    let bad = || format!("--year {s:?}: expected a year like 1999 or a range like 1990..1999");
    match s.split_once("..") {
        Some((a, b)) => Ok((
            a.trim().parse().with_context(bad)?,
            b.trim().parse().with_context(bad)?,
        )),
        None => {
            let y = s.trim().parse().with_context(bad)?;
            Ok((y, y))
        }
    }
}

impl Filters {
    fn query(&self, text: String) -> anyhow::Result<SearchQuery> {
        Ok(SearchQuery {
            text,
            genre: self.genre.clone(),
            years: self.year.as_deref().map(parse_years).transpose()?,
            sort: self.sort.into(),
            limit: self.limit,
            offset: self.offset,
        })
    }
}

fn main() {
    if let Err(e) = run() {
        eprintln!("movietalk: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let dir = match cli.data_dir {
        Some(dir) => dir,
        None => paths::data_dir()?,
    };
    if let Command::Watchlist { action } = &cli.command {
        return watchlist::run(&dir, action);
    }
    if let Command::Diary { action } = &cli.command {
        return diary::run(&dir, action);
    }
    if let Some(result) = app::run(&cli.command, &dir) {
        return result;
    }
    let db = paths::ensure_db_path(&dir)?;
    let mut catalog = Catalog::open(&db).with_context(|| format!("opening {}", db.display()))?;
    catalog.seed_if_empty()?;
    match cli.command {
        Command::Import {
            source: ImportSource::Letterboxd { path, json },
        } => {
            let bar = progress_bar(json);
            let report = movietalk_core::import::letterboxd_zip::import(
                &mut catalog,
                &path,
                &mut |p: Progress| {
                    bar.set_length(p.total);
                    bar.set_position(p.done);
                },
            )?;
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "diary: {} watches, reviews: {}, watchlist: {} films, ratings: {}; the next sync delivers them",
                    report.diary, report.reviews, report.watchlist, report.ratings
                );
                if !report.unmatched.is_empty() {
                    println!(
                        "{} rows name no film in the catalog:",
                        report.unmatched.len()
                    );
                }
                for u in &report.unmatched {
                    let year = u.year.map(|y| format!(" ({y})")).unwrap_or_default();
                    println!("  {}, line {}: {}{year}", u.file, u.line, u.name);
                }
            }
        }
        Command::Import {
            source: ImportSource::Wikipedia { path, json },
        } => {
            let bar = progress_bar(json);
            let mut on_progress = |p: Progress| {
                bar.set_length(p.total);
                bar.set_position(p.done);
            };
            let report = if path.starts_with("http://") || path.starts_with("https://") {
                let bytes = tokio::runtime::Runtime::new()?
                    .block_on(movietalk_core::import::fetch_url(&path))?;
                wikipedia::import_batches(
                    &mut catalog,
                    vec![(path.clone(), bytes)],
                    &mut on_progress,
                )?
            } else {
                wikipedia::import_path(&mut catalog, std::path::Path::new(&path), &mut on_progress)?
            };
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "{} files, {} records: {} added, {} updated, {} unchanged, {} duplicate listings skipped",
                    report.files,
                    report.records,
                    report.stats.added,
                    report.stats.updated,
                    report.stats.unchanged,
                    report.duplicates
                );
            }
        }
        Command::Import {
            source:
                ImportSource::Tmdb {
                    pages,
                    genre,
                    no_posters,
                    json,
                },
        } => {
            use movietalk_core::import::tmdb;
            // Read here rather than through clap's `env`, which would print the key in `--help`.
            let key = std::env::var(tmdb::API_KEY_ENV)
                .ok()
                .filter(|k| !k.trim().is_empty())
                .with_context(|| {
                    format!(
                        "no TMDB API key: set {} to your TMDB API v3 key",
                        tmdb::API_KEY_ENV
                    )
                })?;
            let base = std::env::var(tmdb::BASE_URL_ENV)
                .unwrap_or_else(|_| tmdb::DEFAULT_BASE_URL.to_owned());
            let mut client = tmdb::TmdbClient::new(key, &base)?;
            if let Ok(image_base) = std::env::var(tmdb::IMAGE_BASE_ENV) {
                client = client.with_image_base(&image_base)?;
            }
            let poster_dir = (!no_posters).then(|| dir.join("posters"));
            let bar = progress_bar(json);
            let mut on_progress = |p: Progress| {
                bar.set_length(p.total);
                bar.set_position(p.done);
            };
            let report = tokio::runtime::Runtime::new()?.block_on(tmdb::import_popular(
                &mut catalog,
                &client,
                pages,
                genre.as_deref(),
                poster_dir.as_deref(),
                &mut on_progress,
            ))?;
            bar.finish_and_clear();
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "{} films listed, {} skipped: {} added, {} updated, {} unchanged; posters: {} downloaded, {} already cached, {} failed",
                    report.listed,
                    report.skipped,
                    report.stats.added,
                    report.stats.updated,
                    report.stats.unchanged,
                    report.posters_downloaded,
                    report.posters_cached,
                    report.posters_failed
                );
                if let Some(e) = &report.poster_error {
                    eprintln!("first poster error: {e}");
                }
            }
        }
        Command::Search {
            query,
            filters,
            json,
        } => {
            if query.trim().is_empty() {
                bail!("the query is empty; use `movietalk browse` to list films");
            }
            let results = catalog.search(&filters.query(query)?)?;
            print_results(&results, json)?;
        }
        Command::Browse {
            filters,
            decade,
            json,
        } => {
            let mut q = filters.query(String::new())?;
            if let Some(d) = decade {
                if d % 10 != 0 {
                    bail!("--decade {d}: expected the first year of a decade, like 1990");
                }
                q.years = Some((d, d + 9));
            }
            print_results(&catalog.search(&q)?, json)?;
        }
        Command::Show { key, json } => {
            let movie = catalog
                .get(&key)?
                .with_context(|| format!("no movie with key {key:?}"))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&movie)?);
            } else {
                println!("{}", line(&movie));
                if !movie.genres.is_empty() {
                    println!("genres: {}", movie.genres.join(", "));
                }
                if !movie.directors.is_empty() {
                    println!("directed by: {}", movie.directors.join(", "));
                }
                if !movie.cast.is_empty() {
                    println!("cast: {}", movie.cast.join(", "));
                }
                for overview in [&movie.overview, &movie.overview_ko].into_iter().flatten() {
                    println!("\n{overview}");
                }
            }
        }
        Command::Import {
            source: ImportSource::CommunityRatings { path, json },
        } => {
            let report = movietalk_core::recommend::community::import_csv(&mut catalog, &path)?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            } else {
                println!(
                    "{} rows: {} stored, {} not in the catalog",
                    report.rows,
                    report.stored,
                    report.unmatched.len()
                );
                for (line, title, year) in report.unmatched.iter().take(20) {
                    println!(
                        "  line {line}: {title} ({})",
                        year.map(|y| y.to_string()).unwrap_or_default()
                    );
                }
            }
        }
        Command::Similar { key, top, json } => {
            prepare_index(&mut catalog, json)?;
            let rec = catalog.recommender()?;
            let similar = rec.similar(&catalog, &key, top)?;
            if json {
                println!("{}", serde_json::to_string(&similar)?);
            } else {
                for s in &similar {
                    println!("{:.3}  {}", s.score, line(&s.movie));
                }
            }
        }
        Command::Rate { key, stars, remove } => {
            if remove {
                if !catalog.unrate(&key)? {
                    bail!("you have not rated {key:?}");
                }
            } else {
                let stars = stars.context("give a rating from 0.5 to 5, or --remove")?;
                catalog.rate(&key, stars)?;
            }
        }
        Command::Recommend { top, ratings, json } => {
            let (mine, unmatched) = match &ratings {
                Some(file) => {
                    let read = movietalk_core::import::letterboxd::read(&catalog, file)?;
                    (read.ratings, read.unmatched)
                }
                None => (catalog.ratings()?, vec![]),
            };
            prepare_index(&mut catalog, json)?;
            let rec = catalog.recommender()?;
            let picks = rec.recommend(&catalog, &mine, top)?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "rated": mine.len(), "unmatched": unmatched, "recommendations": picks })
                );
            } else {
                if !unmatched.is_empty() {
                    eprintln!(
                        "{} rows of the file are not in the catalog:",
                        unmatched.len()
                    );
                    for u in unmatched.iter().take(20) {
                        eprintln!(
                            "  line {}: {} ({})",
                            u.line,
                            u.name,
                            u.year.map(|y| y.to_string()).unwrap_or_default()
                        );
                    }
                }
                for p in &picks {
                    let why = match &p.reason {
                        movietalk_core::recommend::Reason::BecauseYouLiked {
                            titles,
                            community,
                        } => {
                            let mut why = Vec::new();
                            if !titles.is_empty() {
                                why.push(format!("because you liked {}", titles.join(" and ")));
                            }
                            if !community.is_empty() {
                                why.push(format!(
                                    "people who rated {} highly also liked it",
                                    community.join(" and ")
                                ));
                            }
                            if why.is_empty() {
                                why.push("close to your taste".to_owned());
                            }
                            why.join("; ")
                        }
                        movietalk_core::recommend::Reason::PopularIn { genre } => {
                            format!("popular in {genre}")
                        }
                    };
                    println!("{}  — {why}", line(&p.movie));
                }
            }
        }
        Command::Login { .. }
        | Command::Logout { .. }
        | Command::Sync { .. }
        | Command::Feed { .. }
        | Command::Profile { .. }
        | Command::Review { .. }
        | Command::Follow { .. }
        | Command::Export { .. }
        | Command::Chat { .. } => unreachable!("answered by app::run"),
        Command::Watchlist { .. } => unreachable!("answered by watchlist::run"),
        Command::Diary { .. } => unreachable!("answered by diary::run"),
        Command::Year { year, json } => {
            let y = catalog.year_in_film(year)?;
            if json {
                println!("{}", serde_json::to_string(&y)?);
            } else {
                print_year(&y);
            }
        }
        Command::Stats { json } => {
            let count = catalog.count()?;
            let bytes = catalog.database_bytes()?;
            let genres = catalog.genres()?;
            if json {
                let genres: serde_json::Map<String, serde_json::Value> =
                    genres.into_iter().map(|(g, n)| (g, n.into())).collect();
                println!(
                    "{}",
                    serde_json::json!({ "movies": count, "database": db, "database_bytes": bytes, "genres": genres })
                );
            } else {
                println!(
                    "movies: {count}\ndatabase: {} ({:.1} MiB)",
                    db.display(),
                    bytes as f64 / 1048576.0
                );
                let top: Vec<String> = genres
                    .iter()
                    .take(12)
                    .map(|(g, n)| format!("{g} {n}"))
                    .collect();
                println!("genres: {}", top.join(", "));
            }
        }
    }
    Ok(())
}

/// A year in film as text: a bar per month and per rating, then the leading names.
fn print_year(y: &movietalk_protocol::ipc::YearInFilm) {
    let bar = |n: u32, most: u32| "█".repeat((n * 30).div_ceil(most.max(1)) as usize);
    let mean = y
        .mean_rating
        .map(|m| format!(", mean ★{m:.1}"))
        .unwrap_or_default();
    println!("{}: films {}{mean}", y.year, y.films);
    if y.films == 0 {
        return;
    }
    let most = y.per_month.iter().copied().max().unwrap_or(0);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    for (name, n) in MONTHS.iter().zip(y.per_month) {
        println!("  {name} {n:>3} {}", bar(n, most));
    }
    let most = y.ratings.iter().copied().max().unwrap_or(0);
    for (i, n) in y.ratings.iter().enumerate() {
        let stars = (i + 1) as f32 / 2.0;
        println!("  ★{stars:<3} {n:>3} {}", bar(*n, most));
    }
    for (label, list) in [
        ("genres", &y.genres),
        ("directors", &y.directors),
        ("decades", &y.decades),
    ] {
        let items: Vec<String> = list
            .iter()
            .map(|t| format!("{} {}", t.name, t.count))
            .collect();
        println!("{label}: {}", items.join(", "));
    }
}

/// Brings the recommendation index up to date (after an import it is rebuilt: seconds at
/// 36,000 films), with a bar on standard error once that has taken half a second.
fn prepare_index(catalog: &mut Catalog, quiet: bool) -> anyhow::Result<()> {
    use movietalk_core::recommend::{SHOW_PROGRESS_AFTER, shown_after};
    let mut bar = None::<indicatif::ProgressBar>;
    let mut show = shown_after(SHOW_PROGRESS_AFTER, |p: Progress| {
        let bar = bar.get_or_insert_with(|| {
            let bar = progress_bar(quiet);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "preparing recommendations {bar:40} {percent}%",
                )
                .expect("a valid template"),
            );
            bar
        });
        bar.set_length(p.total);
        bar.set_position(p.done);
    });
    catalog.prepare_recommendations_with(&mut show)?;
    drop(show);
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(())
}

fn progress_bar(hidden: bool) -> indicatif::ProgressBar {
    if hidden {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} films ({eta} left)")
            .expect("a valid template"),
    );
    bar
}

fn print_results(r: &SearchResults, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(r)?);
        return Ok(());
    }
    if r.fallback == Some(Fallback::Popular) {
        println!("Nothing matched; popular films instead:");
    } else if !r.matched_all_words {
        println!("No film matched every word; closest matches:");
    }
    for c in &r.corrections {
        println!(
            "(also searched for {:?} instead of {:?})",
            c.suggested, c.typed
        );
    }
    for m in &r.movies {
        println!("{}", line(m));
    }
    println!("{} of {} shown", r.movies.len(), r.total);
    Ok(())
}

fn line(m: &Movie) -> String {
    let year = m
        .year
        .map(|y| y.to_string())
        .unwrap_or_else(|| "----".into());
    let ko = m
        .title_ko
        .as_deref()
        .map(|t| format!(" ({t})"))
        .unwrap_or_default();
    format!("{:<44} {year}  {}{ko}", m.key, m.title)
}
