//! `rec-eval --production`: the community signal measured through the path a user's machine
//! takes, with the release binaries next to `rec-eval`:
//!
//! 1. `relay-server import-ratings --catalog …` seeds a new relay with the training ratings,
//!    written as `user,title,year,rating` rows (the catalog's titles and years);
//! 2. the relay starts; `movietalk sync --relay …` runs on a fresh data folder holding the
//!    catalog only, and fetches the model; the relay stops;
//! 3. offline, for each user, `movietalk recommend --ratings FILE --top 100 --json` on a
//!    Letterboxd-style file of the user's training ratings (in the order they were given); the
//!    list, restricted to the candidates (matched films the user did not rate), is scored as
//!    every other method is.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use movietalk_core::Movie;

use crate::Case;

/// What the production path measured.
pub struct Production {
    /// Per user (in `cases` order): (HR@10, NDCG@10).
    pub scores: Vec<(f64, f64)>,
    pub lines: Vec<String>,
}

/// Kills the relay when dropped (also on an early return).
struct Relay(Child);

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bin(dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    if !path.exists() {
        bail!(
            "{} not found: build it first (cargo build --release -p movietalk-relay -p movietalk-cli)",
            path.display()
        );
    }
    Ok(path)
}

fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd.output().with_context(|| format!("running {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}

fn folder_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .filter(|m| m.is_file())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn csv_field(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Runs the production path. `catalog_db` is the evaluation's catalog (copied, without its
/// community data); `triples` the community's training ratings; `candidates` the matched films.
pub fn evaluate(
    work: &Path,
    catalog_db: &Path,
    films: &HashMap<i64, Movie>,
    triples: &[(String, i64, f64)],
    cases: &[Case],
    candidates: &[i64],
) -> anyhow::Result<Production> {
    let bins = std::env::current_exe()?
        .parent()
        .context("rec-eval's folder")?
        .to_path_buf();
    let relay_server = bin(&bins, "relay-server")?;
    let movietalk = bin(&bins, "movietalk")?;
    let dir = work.join("production");
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    std::fs::create_dir_all(&data)?;
    let mut lines = Vec::new();

    // A fresh data folder with the catalog only.
    let db = data.join("movietalk.sqlite3");
    {
        let raw = rusqlite::Connection::open(catalog_db)?;
        raw.execute("VACUUM INTO ?1", [db.to_str().context("UTF-8 path")?])?;
        let copy = rusqlite::Connection::open(&db)?;
        copy.execute_batch(
            "DELETE FROM community_ratings; DELETE FROM cf_neighbors; DELETE FROM community_stats;
             DELETE FROM sync_state; DELETE FROM derived_state WHERE name = 'community';
             DELETE FROM ratings;",
        )?;
    }
    let before = folder_bytes(&data);

    // 1. Seed a relay.
    let csv = dir.join("community.csv");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&csv)?);
        writeln!(f, "user,title,year,rating")?;
        for (user, film, stars) in triples {
            let m = &films[film];
            let year = m.year.map(|y| y.to_string()).unwrap_or_default();
            writeln!(f, "{user},{},{year},{stars}", csv_field(&m.title))?;
        }
    }
    let relay_db = dir.join("relay.sqlite3");
    let t = Instant::now();
    let said = run(Command::new(&relay_server)
        .arg("import-ratings")
        .arg("--db")
        .arg(&relay_db)
        .arg("--catalog")
        .arg(&db)
        .arg(&csv)
        .env("RUST_LOG", "warn"))?;
    let import_time = t.elapsed();
    lines.push(format!(
        "import-ratings ({} rows) in {import_time:.1?}: {}",
        triples.len(),
        said.trim().replace('\n', "; ")
    ));
    let model_bytes: i64 = rusqlite::Connection::open(&relay_db)?.query_row(
        "SELECT length(data) FROM community_models ORDER BY version DESC LIMIT 1",
        [],
        |r| r.get(0),
    )?;

    // 2. Serve it, sync a fresh data folder, stop it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let relay = Relay(
        Command::new(&relay_server)
            .arg("--bind")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--db")
            .arg(&relay_db)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()?,
    );
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed() > Duration::from_secs(20) {
            bail!("the relay did not start listening on port {port}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let t = Instant::now();
    let synced = run(Command::new(&movietalk)
        .arg("--data-dir")
        .arg(&data)
        .args(["sync", "--json", "--relay"])
        .arg(format!("ws://127.0.0.1:{port}"))
        .env_remove("MOVIETALK_RELAY_URL")
        .env_remove("MOVIETALK_DATA_DIR"))?;
    let sync_time = t.elapsed();
    drop(relay);
    let report: serde_json::Value = serde_json::from_str(synced.trim())?;
    let after = folder_bytes(&data);
    lines.push(format!(
        "sync on a fresh data folder: {sync_time:.1?}; model version {}, {} films of it in the catalog; the stored model is {:.2} MB of JSON; data folder {:.1} MB before, {:.1} MB after",
        report["report"]["model"],
        report["report"]["model_films"],
        model_bytes as f64 / 1e6,
        before as f64 / 1e6,
        after as f64 / 1e6
    ));

    // 3. Offline: one `movietalk recommend` per user.
    let candidates: HashSet<i64> = candidates.iter().copied().collect();
    let key_of: HashMap<&str, i64> = films.iter().map(|(id, m)| (m.key.as_str(), *id)).collect();
    let file = dir.join("ratings.csv");
    let mut scores = Vec::with_capacity(cases.len());
    let mut times = Vec::with_capacity(cases.len());
    let mut top10_times = Vec::with_capacity(cases.len());
    let mut unmatched = 0usize;
    for case in cases {
        {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&file)?);
            writeln!(f, "Date,Name,Year,Letterboxd URI,Rating")?;
            for (i, (film, stars)) in case.train.iter().enumerate() {
                let m = &films[film];
                let date = format!(
                    "{:04}-{:02}-{:02}",
                    2000 + i / 336,
                    1 + (i / 28) % 12,
                    1 + i % 28
                );
                let year = m.year.map(|y| y.to_string()).unwrap_or_default();
                writeln!(f, "{date},{},{year},,{stars}", csv_field(&m.title))?;
            }
        }
        // The app's case, timed on its own: the top 10 (diversifying 100 picks costs more).
        let t = Instant::now();
        run(Command::new(&movietalk)
            .arg("--data-dir")
            .arg(&data)
            .args(["recommend", "--top", "10", "--json", "--ratings"])
            .arg(&file))?;
        top10_times.push(t.elapsed());
        let t = Instant::now();
        let out = run(Command::new(&movietalk)
            .arg("--data-dir")
            .arg(&data)
            .args(["recommend", "--top", "100", "--json", "--ratings"])
            .arg(&file))?;
        times.push(t.elapsed());
        let v: serde_json::Value = serde_json::from_str(out.trim())?;
        unmatched += v["unmatched"].as_array().map_or(0, Vec::len);
        let trained: HashSet<i64> = case.train.iter().map(|r| r.0).collect();
        let list: Vec<i64> = v["recommendations"]
            .as_array()
            .context("recommendations")?
            .iter()
            .filter_map(|r| key_of.get(r["movie"]["key"].as_str()?).copied())
            .filter(|id| candidates.contains(id) && !trained.contains(id))
            .take(crate::K)
            .collect();
        let pos = list.iter().position(|id| *id == case.held_out);
        scores.push((
            if pos.is_some() { 1.0 } else { 0.0 },
            pos.map_or(0.0, |p| 1.0 / ((p + 2) as f64).log2()),
        ));
    }
    times.sort();
    top10_times.sort();
    let pct = |times: &[Duration], p: f64| {
        times[((times.len() as f64 * p) as usize).min(times.len() - 1)]
    };
    lines.push(format!(
        "{} `movietalk recommend` processes (open, read the file, load the index and the model, answer), `--top 10`: median {:.0?}, p99 {:.0?}; `--top 100` (what is scored): median {:.0?}, p99 {:.0?}; {unmatched} training rows the Letterboxd reader did not match",
        times.len(),
        pct(&top10_times, 0.5),
        pct(&top10_times, 0.99),
        pct(&times, 0.5),
        pct(&times, 0.99)
    ));
    Ok(Production { scores, lines })
}
