//! `rec-bench`: speed and memory of the recommender on the 36k Wikipedia set and on a synthetic
//! 1M catalog — content index build time and peak memory (measured in a child process, so the
//! figure is the build's own), "similar movies" and personal-recommendation latency (p50/p99),
//! and a whole `movietalk recommend --ratings FILE --json` process; then, on the 36k catalog,
//! the community signal: fitting its EASE weights from synthetic community ratings (time and
//! peak memory, in a child process) and recommending with them. Run by hand, never in CI.
//!
//! ```sh
//! cargo build --release -p movietalk-bench -p movietalk-cli
//! target/release/rec-bench [--data DIR] [--work DIR] [--cli target/release/movietalk]
//!   [--synthetic N (0 skips the big catalog)] [--community-users N (0 skips)] [--reuse]
//! ```

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use movietalk_bench::{Rng, all_films, ms, percentile, proc_status_kib, remove_db, synthetic};
use movietalk_core::catalog::Source;
use movietalk_core::import::wikipedia;
use movietalk_core::recommend::community;
use movietalk_core::recommend::content::{self, FeatureWeights};
use movietalk_core::recommend::{Rating, Recommender};
use movietalk_core::{Catalog, Movie};

/// What the child process reports about one index build.
#[derive(Debug, Clone, Copy, Default)]
struct Build {
    films: usize,
    elapsed: Duration,
    /// Peak resident memory of the whole process (VmHWM) before and after the build, KiB.
    hwm_before: u64,
    hwm_after: u64,
}

/// In the child: opens the catalog, builds the content index, prints what it took.
fn child_build(db: &Path) -> anyhow::Result<()> {
    let mut catalog = Catalog::open(db)?;
    let hwm_before = proc_status_kib("VmHWM").unwrap_or(0);
    let t = Instant::now();
    let films = content::build(&mut catalog, &FeatureWeights::default(), &mut |_| {})?;
    let elapsed = t.elapsed();
    let hwm_after = proc_status_kib("VmHWM").unwrap_or(0);
    println!(
        "{}",
        serde_json::json!({ "films": films, "ms": ms(elapsed), "hwm_before": hwm_before, "hwm_after": hwm_after })
    );
    Ok(())
}

/// In the child: loads the recommender (as the CLI and the app do) and reports time and memory.
fn child_load(db: &Path) -> anyhow::Result<()> {
    let mut catalog = Catalog::open(db)?;
    let rss_before = proc_status_kib("VmRSS").unwrap_or(0);
    let t = Instant::now();
    let rec = catalog.recommender()?;
    let elapsed = t.elapsed();
    let rss_after = proc_status_kib("VmRSS").unwrap_or(0);
    std::hint::black_box(&rec);
    println!(
        "{}",
        serde_json::json!({ "ms": ms(elapsed), "rss_before": rss_before, "rss_after": rss_after, "hwm": proc_status_kib("VmHWM").unwrap_or(0) })
    );
    Ok(())
}

/// In the child: rebuilds the community weights from the stored community ratings.
fn child_community(db: &Path) -> anyhow::Result<()> {
    let mut catalog = Catalog::open(db)?;
    let hwm_before = proc_status_kib("VmHWM").unwrap_or(0);
    let t = Instant::now();
    community::rebuild(&mut catalog)?;
    let elapsed = t.elapsed();
    let hwm_after = proc_status_kib("VmHWM").unwrap_or(0);
    println!(
        "{}",
        serde_json::json!({ "ms": ms(elapsed), "hwm_before": hwm_before, "hwm_after": hwm_after })
    );
    Ok(())
}

fn child(mode: &str, db: &Path) -> anyhow::Result<serde_json::Value> {
    let out = Command::new(std::env::current_exe()?)
        .arg(mode)
        .arg(db)
        .output()?;
    if !out.status.success() {
        bail!("{mode} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

fn build_in_child(db: &Path) -> anyhow::Result<Build> {
    let v = child("--child-build", db)?;
    Ok(Build {
        films: v["films"].as_u64().unwrap_or(0) as usize,
        elapsed: Duration::from_secs_f64(v["ms"].as_f64().unwrap_or(0.0) / 1000.0),
        hwm_before: v["hwm_before"].as_u64().unwrap_or(0),
        hwm_after: v["hwm_after"].as_u64().unwrap_or(0),
    })
}

struct Latency {
    p50: Duration,
    p99: Duration,
    max: Duration,
    n: usize,
}

fn latency(mut samples: Vec<Duration>) -> Latency {
    samples.sort();
    Latency {
        p50: percentile(&samples, 0.5),
        p99: percentile(&samples, 0.99),
        max: *samples.last().unwrap(),
        n: samples.len(),
    }
}

/// A Letterboxd `ratings.csv` of `n` films of the catalog with varied half-star ratings.
fn letterboxd_file(films: &[Movie], n: usize, rng: &mut Rng) -> String {
    let quote = |s: &str| {
        if s.contains([',', '"', '\n']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s.to_owned()
        }
    };
    let mut out = String::from("Date,Name,Year,Letterboxd URI,Rating\n");
    let with_year: Vec<&Movie> = films.iter().filter(|f| f.year.is_some()).collect();
    for i in 0..n {
        let f = with_year[rng.below(with_year.len())];
        let stars = (1 + rng.below(10)) as f32 / 2.0;
        out.push_str(&format!(
            "2024-{:02}-{:02},{},{},https://boxd.it/{i},{stars}\n",
            1 + i % 12,
            1 + i % 28,
            quote(&f.title),
            f.year.unwrap()
        ));
    }
    out
}

/// Personal recommendations for 100 random profiles of 200 ratings, three rounds.
fn recommend_latency(
    rec: &Recommender,
    catalog: &Catalog,
    rng: &mut Rng,
    k: usize,
) -> anyhow::Result<Latency> {
    let ids: &[i64] = &rec.content.ids;
    let profiles: Vec<Vec<Rating>> = (0..100)
        .map(|_| {
            (0..200)
                .map(|_| (ids[rng.below(ids.len())], (1 + rng.below(10)) as f32 / 2.0))
                .collect()
        })
        .collect();
    let mut times = Vec::new();
    for _ in 0..3 {
        for p in &profiles {
            let t = Instant::now();
            let r = rec.recommend(catalog, p, k)?;
            times.push(t.elapsed());
            assert!(!r.is_empty());
        }
    }
    Ok(latency(times))
}

/// The community signal on the catalog in `dir`: `users` synthetic users of 50 ratings each,
/// films drawn with a steep popularity skew (a few films rated by thousands, most by nobody),
/// stored directly; the weights are then fitted in a child process, and recommendations timed
/// with them. Returns a Markdown row.
fn measure_community(dir: &Path, users: usize, rng: &mut Rng) -> anyhow::Result<String> {
    let db = dir.join("movietalk.sqlite3");
    let mut raw = rusqlite::Connection::open(&db)?;
    let ids: Vec<i64> = raw
        .prepare("SELECT movie_id FROM rec_vectors ORDER BY movie_id")?
        .query_map([], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let t = Instant::now();
    let tx = raw.transaction()?;
    tx.execute_batch("DELETE FROM community_ratings;")?;
    let mut triples = 0usize;
    {
        let mut put = tx.prepare(
            "INSERT OR IGNORE INTO community_ratings (user, movie_id, stars) VALUES (?1, ?2, ?3)",
        )?;
        for u in 0..users {
            let user = format!("u{u}");
            for _ in 0..50 {
                // u⁴ skews towards the first films of a fixed random order.
                let x = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
                let film = ids[((x.powi(4) * ids.len() as f64) as usize * 7919) % ids.len()];
                triples += put.execute(rusqlite::params![
                    user,
                    film,
                    (1 + rng.below(10)) as f64 / 2.0
                ])?;
            }
        }
    }
    tx.commit()?;
    let rated: i64 = raw.query_row(
        "SELECT count(*) FROM (SELECT movie_id FROM community_ratings GROUP BY movie_id HAVING count(*) >= 3)",
        [],
        |r| r.get(0),
    )?;
    eprintln!(
        "[community] stored {triples} ratings by {users} users ({rated} films with 3+) in {:.1?}",
        t.elapsed()
    );
    let v = child("--child-community", &db)?;
    let rows: i64 = raw.query_row("SELECT count(*) FROM cf_neighbors", [], |r| r.get(0))?;
    let fitted: i64 = raw.query_row(
        "SELECT count(DISTINCT movie_id) FROM cf_neighbors",
        [],
        |r| r.get(0),
    )?;
    let build_s = v["ms"].as_f64().unwrap_or(0.0) / 1000.0;
    let peak = v["hwm_after"].as_u64().unwrap_or(0) / 1024;
    eprintln!(
        "[community] weights for {fitted} films ({rows} rows) in {build_s:.2} s, peak RSS {peak} MiB"
    );
    let mut catalog = Catalog::open(&db)?;
    let rec = catalog.recommender()?;
    let l = recommend_latency(&rec, &catalog, rng, 10)?;
    let l200 = recommend_latency(&rec, &catalog, rng, 200)?;
    eprintln!(
        "[community] recommend p50 {:.2} ms p99 {:.2} ms",
        ms(l.p50),
        ms(l.p99)
    );
    // Leave the catalog as it was found: no community data.
    raw.execute_batch(
        "DELETE FROM community_ratings; DELETE FROM cf_neighbors; DELETE FROM community_stats;",
    )?;
    Ok(format!(
        "| {users} users × 50 ratings ({triples} stored, {rated} films with 3+ raters) | {fitted} | {build_s:.2} s | {peak} MiB (at start {} MiB) | {rows} | {:.2} / {:.2} ms | {:.2} / {:.2} ms |",
        v["hwm_before"].as_u64().unwrap_or(0) / 1024,
        ms(l.p50),
        ms(l.p99),
        ms(l200.p50),
        ms(l200.p99)
    ))
}

struct Report {
    label: String,
    films: u64,
    build: Build,
    index_mib: f64,
    load_ms: f64,
    load_rss_mib: f64,
    similar: Latency,
    recommend: Latency,
    cli: Option<(Latency, Duration, u64)>,
}

/// Measures the catalog in `dir`; `real` are the real films (for the Letterboxd file).
fn measure(
    label: &str,
    dir: &Path,
    real: &[Movie],
    cli: Option<&Path>,
    rng: &mut Rng,
) -> anyhow::Result<Report> {
    let db = dir.join("movietalk.sqlite3");
    eprintln!("[{label}] building the content index in a child process…");
    let build = build_in_child(&db)?;
    eprintln!(
        "[{label}] built {} films in {:.2?}, peak RSS {} MiB",
        build.films,
        build.elapsed,
        build.hwm_after / 1024
    );
    let load = child("--child-load", &db)?;
    let index_bytes: i64 = rusqlite::Connection::open(&db)?.query_row(
        "SELECT (SELECT coalesce(sum(length(vector)), 0) + 16 * count(*) FROM rec_vectors) + (SELECT coalesce(sum(length(name)), 0) + 8 * count(*) FROM rec_features)",
        [],
        |r| r.get(0),
    )?;

    let mut catalog = Catalog::open(&db)?;
    let rec: Recommender = catalog.recommender()?;
    let films = catalog.count()?;
    let ids: &[i64] = &rec.content.ids;
    // Similar films of 300 random films (their keys), 10 each, three rounds.
    let sample: Vec<i64> = (0..300).map(|_| ids[rng.below(ids.len())]).collect();
    let keys: Vec<String> = catalog
        .movies_by_id(&sample)?
        .into_iter()
        .map(|(_, m)| m.key)
        .collect();
    let mut times = Vec::new();
    for _ in 0..3 {
        for key in &keys {
            let t = Instant::now();
            let s = rec.similar(&catalog, key, 10)?;
            times.push(t.elapsed());
            std::hint::black_box(s);
        }
    }
    let similar = latency(times);
    eprintln!(
        "[{label}] similar p50 {:.2} ms p99 {:.2} ms",
        ms(similar.p50),
        ms(similar.p99)
    );
    let recommend = recommend_latency(&rec, &catalog, rng, 10)?;
    eprintln!(
        "[{label}] recommend p50 {:.2} ms p99 {:.2} ms",
        ms(recommend.p50),
        ms(recommend.p99)
    );
    drop(rec);

    // The CLI, end to end: a fresh process per call.
    let cli = match cli {
        Some(bin) => {
            let file = dir.join("ratings.csv");
            std::fs::write(&file, letterboxd_file(real, 50, rng))?;
            let run = || -> anyhow::Result<Duration> {
                let t = Instant::now();
                let out = Command::new(bin)
                    .arg("--data-dir")
                    .arg(dir)
                    .args(["recommend", "--ratings"])
                    .arg(&file)
                    .arg("--json")
                    .output()?;
                let elapsed = t.elapsed();
                if !out.status.success() {
                    bail!(
                        "movietalk recommend failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
                let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
                anyhow::ensure!(
                    v["recommendations"]
                        .as_array()
                        .is_some_and(|a| !a.is_empty()),
                    "no recommendations: {v}"
                );
                Ok(elapsed)
            };
            let first = run()?;
            let times: Vec<Duration> = (0..20).map(|_| run()).collect::<anyhow::Result<_>>()?;
            // Peak memory of one call, from GNU time when it is installed.
            let peak_kib = Command::new("/usr/bin/time")
                .args(["-f", "%M"])
                .arg(bin)
                .arg("--data-dir")
                .arg(dir)
                .args(["recommend", "--ratings"])
                .arg(&file)
                .arg("--json")
                .output()
                .ok()
                .and_then(|o| {
                    String::from_utf8_lossy(&o.stderr)
                        .lines()
                        .last()
                        .and_then(|l| l.trim().parse().ok())
                })
                .unwrap_or(0);
            let l = latency(times);
            eprintln!(
                "[{label}] CLI p50 {:.0} ms p99 {:.0} ms (first {:.0} ms)",
                ms(l.p50),
                ms(l.p99),
                ms(first)
            );
            Some((l, first, peak_kib))
        }
        None => None,
    };
    Ok(Report {
        label: label.to_owned(),
        films,
        build,
        index_mib: index_bytes as f64 / 1048576.0,
        load_ms: load["ms"].as_f64().unwrap_or(0.0),
        load_rss_mib: (load["rss_after"]
            .as_u64()
            .unwrap_or(0)
            .saturating_sub(load["rss_before"].as_u64().unwrap_or(0))) as f64
            / 1024.0,
        similar,
        recommend,
        cli,
    })
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut data = PathBuf::from("../shared/data/wikipedia-movies");
    let mut work = PathBuf::from("target/bench");
    let mut cli: Option<PathBuf> = Some(PathBuf::from("target/release/movietalk"));
    let mut synthetic_total = 1_000_000usize;
    let mut reuse = false;
    let mut community_users = 20_000usize;
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--child-build" => return child_build(Path::new(&value()?)),
            "--child-load" => return child_load(Path::new(&value()?)),
            "--child-community" => return child_community(Path::new(&value()?)),
            "--data" => data = value()?.into(),
            "--work" => work = value()?.into(),
            "--cli" => cli = Some(value()?.into()),
            "--no-cli" => cli = None,
            "--synthetic" => synthetic_total = value()?.parse()?,
            "--community-users" => community_users = value()?.parse()?,
            // Keeps catalogs imported by an earlier run (the index is rebuilt regardless).
            "--reuse" => reuse = true,
            other => bail!("unknown argument {other:?}"),
        }
    }
    if !data.is_dir() {
        bail!(
            "{} not found: pass --data DIR (the wikipedia-movies folder)",
            data.display()
        );
    }
    if let Some(bin) = &cli
        && !bin.is_file()
    {
        bail!(
            "{} not found: `cargo build --release -p movietalk-cli`, pass --cli PATH, or --no-cli",
            bin.display()
        );
    }
    let mut rng = Rng(20261125);
    let mut reports = Vec::new();

    let small = work.join("rec-36k");
    std::fs::create_dir_all(&small)?;
    let db = small.join("movietalk.sqlite3");
    if !reuse || !db.exists() {
        remove_db(&db);
        let mut catalog = Catalog::open(&db)?;
        catalog.seed_if_empty()?;
        let t = Instant::now();
        wikipedia::import_path(&mut catalog, &data, &mut |_| {})?;
        eprintln!("imported the Wikipedia set in {:.1?}", t.elapsed());
    }
    // Without community data (an earlier run may have left some).
    rusqlite::Connection::open(&db)?.execute_batch(
        "DELETE FROM community_ratings; DELETE FROM cf_neighbors; DELETE FROM community_stats;",
    )?;
    let films = all_films(&Catalog::open(&db)?)?;
    reports.push(measure(
        "36k (Wikipedia + starter)",
        &small,
        &films,
        cli.as_deref(),
        &mut rng,
    )?);
    let community_row = if community_users > 0 {
        Some(measure_community(&small, community_users, &mut rng)?)
    } else {
        None
    };

    if synthetic_total > 0 {
        let big = work.join(format!("rec-{}k", synthetic_total / 1000));
        std::fs::create_dir_all(&big)?;
        let db = big.join("movietalk.sqlite3");
        let have = if reuse && db.exists() {
            Catalog::open(&db)?.count()?
        } else {
            0
        };
        if have < synthetic_total as u64 {
            remove_db(&db);
            let mut catalog = Catalog::open(&db)?;
            let t = Instant::now();
            catalog.import(&films, Source::Wikipedia)?;
            let mut grow = Rng(20261125);
            let extra = synthetic(
                &films,
                synthetic_total.saturating_sub(films.len()),
                &mut grow,
            );
            for chunk in extra.chunks(50_000) {
                catalog.import(chunk, Source::Wikipedia)?;
                eprint!(".");
            }
            eprintln!(
                "\nsynthetic catalog of {} films in {:.1?}",
                catalog.count()?,
                t.elapsed()
            );
        }
        reports.push(measure(
            &format!("{}k synthetic", synthetic_total / 1000),
            &big,
            &films,
            cli.as_deref(),
            &mut rng,
        )?);
    }

    println!(
        "| catalog | films | index build | build peak RSS | index size | index load (RSS added) | similar p50 / p99 | recommend (200 ratings) p50 / p99 | CLI recommend p50 / p99 (first run; peak RSS) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for r in &reports {
        let cli = match &r.cli {
            Some((l, first, kib)) => format!(
                "{:.0} / {:.0} ms ({:.0} ms; {} MiB)",
                ms(l.p50),
                ms(l.p99),
                ms(*first),
                kib / 1024
            ),
            None => "—".into(),
        };
        println!(
            "| {} | {} | {:.2} s | {} MiB (at start {} MiB) | {:.0} MiB | {:.0} ms (+{:.0} MiB) | {:.2} / {:.2} ms | {:.2} / {:.2} ms | {cli} |",
            r.label,
            r.films,
            r.build.elapsed.as_secs_f64(),
            r.build.hwm_after / 1024,
            r.build.hwm_before / 1024,
            r.index_mib,
            r.load_ms,
            r.load_rss_mib,
            ms(r.similar.p50),
            ms(r.similar.p99),
            ms(r.recommend.p50),
            ms(r.recommend.p99),
        );
    }
    if let Some(row) = &community_row {
        println!(
            "\n| community (36k catalog) | films fitted | weights build | build peak RSS | weights stored | recommend (200 ratings) top 10 p50 / p99 | top 200 p50 / p99 |"
        );
        println!("|---|---|---|---|---|---|---|");
        println!("{row}\n");
    }
    for r in &reports {
        println!(
            "{}",
            serde_json::json!({
                "catalog": r.label, "films": r.films, "build_s": r.build.elapsed.as_secs_f64(), "build_peak_kib": r.build.hwm_after,
                "similar_p50_ms": ms(r.similar.p50), "similar_p99_ms": ms(r.similar.p99), "similar_max_ms": ms(r.similar.max), "similar_n": r.similar.n,
                "recommend_p50_ms": ms(r.recommend.p50), "recommend_p99_ms": ms(r.recommend.p99), "recommend_max_ms": ms(r.recommend.max), "recommend_n": r.recommend.n,
                "cli_p50_ms": r.cli.as_ref().map(|c| ms(c.0.p50)), "cli_p99_ms": r.cli.as_ref().map(|c| ms(c.0.p99)), "cli_first_ms": r.cli.as_ref().map(|c| ms(c.1)), "cli_peak_kib": r.cli.as_ref().map(|c| c.2),
            })
        );
    }
    Ok(())
}
