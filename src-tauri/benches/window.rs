//! The window benchmark (run by hand: `cargo xtask bench-window`, which provides Xvfb, D-Bus
//! and the keyring). It prepares a data folder holding the 36,273 Wikipedia films (or, where
//! that folder is absent, 20,000 synthetic ones), then measures on the debug-built app:
//!
//! - **cold start**: from asking tauri-driver for a session (which launches the app) to the first
//!   movie card on screen — an upper bound, since it includes starting WebKitWebDriver;
//! - **idle memory**: 5 s and 85 s after the first list (by then the unused recommendation
//!   index was let go), RSS and PSS summed over the app and its WebKit processes
//!   (`MOVIETALK_BENCH_QUICK=1` skips the second);
//! - **scrolling**: the Browse list on its largest genre, scrolled top to bottom in 1,200 px steps (about 19 rows),
//!   one step per animation frame; frame intervals and the most rows ever in the page.
//!
//! It prints the figures; nothing here asserts a time.

#[path = "../tests/support/window.rs"]
mod window;

use std::time::{Duration, Instant};

use fantoccini::Locator;
use movietalk_core::{Catalog, Movie};
use window::App;

fn prepare(dir: &std::path::Path) -> String {
    let db = movietalk_core::paths::ensure_db_path(dir).unwrap();
    let mut catalog = Catalog::open(&db).unwrap();
    catalog.seed_if_empty().unwrap();
    let wikipedia =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/wikipedia-movies");
    // `MOVIETALK_BENCH_STARTER=1`: the 191 starter films only, to see the app's own baseline.
    let what = if std::env::var_os("MOVIETALK_BENCH_STARTER").is_some() {
        "the 191 starter films only".into()
    } else if wikipedia.is_dir() {
        let report =
            movietalk_core::import::wikipedia::import_path(&mut catalog, &wikipedia, &mut |_| {})
                .unwrap();
        format!("the Wikipedia set ({} films read)", report.records)
    } else {
        let movies: Vec<Movie> = (0..20_000)
            .map(|i| {
                let mut m = Movie::new(&format!("Synthetic Film {i}"), Some(1950 + (i % 70)));
                m.genres = vec!["Drama".into()];
                m
            })
            .collect();
        catalog
            .import(&movies, movietalk_core::catalog::Source::Starter)
            .unwrap();
        "20,000 synthetic films (the Wikipedia folder is absent)".into()
    };
    // As after the first start: the recommendation index is built and stored.
    catalog.recommender().unwrap();
    // `MOVIETALK_BENCH_RATED=1`: a user who rated the starter films' first 20, measured on the
    // app's second start.
    if std::env::var_os("MOVIETALK_BENCH_RATED").is_some() {
        for m in movietalk_core::starter::starter_movies()
            .unwrap()
            .iter()
            .take(20)
        {
            catalog.rate(&m.key, 4.0).unwrap();
        }
        return format!("{what}, 20 films rated");
    }
    what
}

/// Every process under `root` (itself included).
fn process_tree(root: u32) -> Vec<u32> {
    let mut parents = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The parent pid is the second field after the parenthesised command name.
        let after = &stat[stat.rfind(')').unwrap_or(0) + 1..];
        if let Some(ppid) = after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok())
        {
            parents.push((pid, ppid));
        }
    }
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let p = tree[i];
        tree.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    tree
}

fn memory_kib(pid: u32, field: &str) -> u64 {
    let file = if field == "Pss:" {
        format!("/proc/{pid}/smaps_rollup")
    } else {
        format!("/proc/{pid}/status")
    };
    std::fs::read_to_string(file)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn command(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Frame intervals (ms) from a list of them, the first dropped (it measures the wait for the
/// first frame), sorted.
fn sorted_frames(v: &serde_json::Value) -> Vec<f64> {
    let mut frames: Vec<f64> = v
        .as_array()
        .map(|a| a.iter().skip(1).filter_map(|f| f.as_f64()).collect())
        .unwrap_or_default();
    frames.sort_by(f64::total_cmp);
    frames
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Prints RSS and PSS of the app and its WebKit processes (not the driver's).
fn idle_memory(driver: u32, when: &str) {
    let tree: Vec<u32> = process_tree(driver)
        .into_iter()
        .filter(|p| *p != driver && !command(*p).contains("WebKitWebDriver"))
        .collect();
    let (mut rss, mut pss) = (0, 0);
    for pid in &tree {
        let (r, p) = (memory_kib(*pid, "VmRSS:"), memory_kib(*pid, "Pss:"));
        println!(
            "  {:>7} {:<24} RSS {:>7} KiB  PSS {:>7} KiB",
            pid,
            command(*pid),
            r,
            p
        );
        rss += r;
        pss += p;
    }
    println!(
        "idle memory {when}: RSS {:.0} MiB, PSS {:.0} MiB = {:.0} MB (app + WebKit processes)",
        rss as f64 / 1024.0,
        pss as f64 / 1024.0,
        pss as f64 * 1024.0 / 1e6
    );
}

#[tokio::main]
async fn main() {
    let data = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let what = prepare(data.path());
    let rated = std::env::var_os("MOVIETALK_BENCH_RATED").is_some();
    println!(
        "data folder with {what}, prepared in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    // Cold start: the first session launches the app.
    let relay = movietalk_relay::start(
        "127.0.0.1:0".parse().unwrap(),
        Default::default(),
        std::sync::Arc::new(movietalk_relay::store::SqliteStore::in_memory().unwrap()),
    )
    .await
    .unwrap();
    // A user with ratings is measured on a later start, as they would be: the first start makes
    // home's picks (loading the index), and later starts show them until a rating changes.
    let data = if rated {
        let first = App::start_in("bench", &relay.url(), data, &[]).await;
        first
            .find("home's picks", "#recommendations .movie-card")
            .await;
        first.close().await
    } else {
        data
    };
    let t0 = Instant::now();
    let app = App::start_in("bench", &relay.url(), data, &[]).await;
    let session_at = t0.elapsed();
    app.find("the first movie card", "#home-page .movie-card")
        .await;
    let first_list = t0.elapsed();
    println!(
        "cold start: session {:.0} ms, first movie list on screen {:.0} ms after asking for it",
        session_at.as_secs_f64() * 1000.0,
        first_list.as_secs_f64() * 1000.0
    );

    // Idle memory of the app and its WebKit processes: 5 s after the first list, and again
    // once the unused recommendation index was let go (after a minute; checked every 15 s).
    tokio::time::sleep(Duration::from_secs(5)).await;
    let driver = app.driver.id().unwrap();
    idle_memory(driver, "5 s after start");
    if std::env::var_os("MOVIETALK_BENCH_QUICK").is_none() {
        tokio::time::sleep(Duration::from_secs(80)).await;
        idle_memory(driver, "after 85 s idle");
    }

    // For comparison: the home page scrolled the same way — a static page no code re-renders,
    // so its frame intervals are WebKit's own layout and paint cost on this display.
    app.client
        .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
            Some(Duration::from_secs(600)),
            None,
            None,
        ))
        .await
        .unwrap();
    let home = app
        .client
        .execute_async(
            r#"const done = arguments[arguments.length - 1]; const page = document.getElementById('home-page');
               const f = []; let last = performance.now(), dir = 240;
               function step(now) { f.push(now - last); last = now;
                 if (f.length > 200) { done(f); return; }
                 if (page.scrollTop + page.clientHeight >= page.scrollHeight - 1) dir = -240;
                 if (page.scrollTop <= 0) dir = 240;
                 page.scrollTop += dir; requestAnimationFrame(step); }
               requestAnimationFrame(step);"#,
            vec![],
        )
        .await
        .unwrap();
    let home = sorted_frames(&home);
    println!(
        "home page scrolled 240 px per frame (no re-render): p50 {:.1} ms, p95 {:.1} ms",
        percentile(&home, 0.5),
        percentile(&home, 0.95)
    );

    // Scrolling the largest genre.
    app.click("#nav-browse").await;
    let chip = app.find("a genre chip", ".genres-row .chip").await;
    let label = chip.text().await.unwrap();
    chip.click().await.unwrap();
    let count = app
        .wait_text("the genre's count", "#browse-count", |t| {
            t.starts_with(|c: char| c.is_ascii_digit())
        })
        .await;
    app.find("the first row", "#browse-list .vrow[data-key]")
        .await;
    println!("scrolling {label:?}: {count}");
    // Frame intervals while the page sits still: what Xvfb's software rendering allows at best.
    let idle = app
        .client
        .execute_async(
            r#"const done = arguments[arguments.length - 1]; const f = []; let last = performance.now();
               function step(now) { f.push(now - last); last = now; if (f.length > 120) done(f); else requestAnimationFrame(step); }
               requestAnimationFrame(step);"#,
            vec![],
        )
        .await
        .unwrap();
    let idle = sorted_frames(&idle);
    println!(
        "idle frames: p50 {:.1} ms, p95 {:.1} ms",
        percentile(&idle, 0.5),
        percentile(&idle, 0.95)
    );
    for step_px in [64, 240] {
        scroll(&app, step_px).await;
    }
    let last = app
        .client
        .find(Locator::Css("#browse-list .vrow[data-key]:last-child"))
        .await
        .map(|_| ());
    println!("the last rows rendered with their films: {}", last.is_ok());
    app.close().await;
    relay.shutdown().await.unwrap();
}

/// Scrolls the browse list from the top by `step_px` per animation frame (at most 300 frames)
/// and prints the frame intervals.
async fn scroll(app: &App, step_px: u32) {
    app.client
        .execute(
            "document.getElementById('browse-list').scrollTop = 0; return null;",
            vec![],
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let script = r#"
        const done = arguments[arguments.length - 1];
        const step_px = arguments[0];
        const list = document.getElementById('browse-list');
        const frames = [];
        let last = performance.now(), maxRows = 0;
        function step(now) {
            frames.push(now - last); last = now;
            maxRows = Math.max(maxRows, list.querySelectorAll('.vrow').length);
            if (frames.length > 300 || list.scrollTop + list.clientHeight >= list.scrollHeight - 1) {
                done({ frames, maxRows, height: list.scrollTop });
                return;
            }
            list.scrollTop += step_px;
            requestAnimationFrame(step);
        }
        requestAnimationFrame(step);
    "#;
    let t = Instant::now();
    let result = app
        .client
        .execute_async(script, vec![step_px.into()])
        .await
        .unwrap();
    let elapsed = t.elapsed();
    let frames = sorted_frames(&result["frames"]);
    let slow = frames.iter().filter(|f| **f > 50.0).count();
    println!(
        "{step_px} px per frame: scrolled {} px in {} frames ({:.1} s): frame interval p50 {:.1} ms, p95 {:.1} ms, max {:.1} ms, {} frames over 50 ms; at most {} rows in the page",
        result["height"],
        frames.len(),
        elapsed.as_secs_f64(),
        percentile(&frames, 0.5),
        percentile(&frames, 0.95),
        frames.last().copied().unwrap_or(0.0),
        slow,
        result["maxRows"]
    );
}
