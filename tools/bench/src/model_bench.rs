//! `model-bench`: building the community model as the relay does ([`Model::build`], then its
//! wire form), from synthetic ratings shaped like MovieLens: film popularity falls off as a
//! power law, each user rates at least 20 films and a few rate hundreds, stars centred near 3.6.
//! Each size runs in a child process, so its peak memory is its own. Run by hand, never in CI:
//!
//! ```sh
//! cargo build --release -p movietalk-bench --bin model-bench
//! target/release/model-bench            # 100k and 1M ratings (ML-100k and ML-1M shapes), and 50,000 films
//! ```

use std::time::Instant;

use movietalk_bench::{Rng, proc_status_kib};
use movietalk_community::Model;

/// (users, films, ratings): MovieLens-100k's shape, MovieLens-1M's, and a catalog-sized
/// community of 50,000 rated films.
const SIZES: &[(usize, usize, usize)] = &[
    (943, 1_682, 100_000),
    (6_040, 3_706, 1_000_000),
    (40_000, 50_000, 2_000_000),
];

/// A uniform number in [0, 1).
fn unit(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// The ratings: (user, film, stars).
fn ratings(users: usize, films: usize, total: usize, rng: &mut Rng) -> Vec<(u32, u32, f32)> {
    // Ratings per user: 20 + a heavy tail (Pareto, α 1.2), scaled to the total.
    let raw: Vec<f64> = (0..users)
        .map(|_| (1.0 - unit(rng)).powf(-1.0 / 1.2))
        .collect();
    let sum: f64 = raw.iter().sum();
    let spare = total.saturating_sub(20 * users) as f64;
    // Film popularity: Zipf with exponent 0.9, over a fixed random order of the films.
    let weights: Vec<f64> = (1..=films).map(|r| (r as f64).powf(-0.9)).collect();
    let mut cumulative = Vec::with_capacity(films);
    let mut acc = 0.0;
    for w in &weights {
        acc += w;
        cumulative.push(acc);
    }
    let cap = films / 2;
    let mut counts: Vec<usize> = raw
        .iter()
        .map(|r| (20 + (spare * r / sum) as usize).min(cap))
        .collect();
    // What the cap and the rounding left out, spread over users below the cap.
    let mut missing = total.saturating_sub(counts.iter().sum());
    while missing > 0 {
        let u = rng.below(users);
        if counts[u] < cap {
            counts[u] += 1;
            missing -= 1;
        }
    }
    let mut out = Vec::with_capacity(total);
    for (u, n) in counts.into_iter().enumerate() {
        let mut seen = std::collections::HashSet::with_capacity(n);
        while seen.len() < n {
            let x = unit(rng) * acc;
            let rank = cumulative.partition_point(|c| *c < x).min(films - 1);
            let film = ((rank * 7919) % films) as u32;
            if seen.insert(film) {
                let stars = (3.6 + 1.1 * (unit(rng) + unit(rng) + unit(rng) - 1.5) * 2.0)
                    .clamp(1.0, 5.0)
                    .round() as f32;
                out.push((u as u32, film, stars));
            }
        }
    }
    out
}

fn child(users: usize, films: usize, total: usize) -> anyhow::Result<()> {
    let mut rng = Rng(42);
    let data = ratings(users, films, total, &mut rng);
    let n = data.len();
    let before = proc_status_kib("VmHWM").unwrap_or(0);
    let t = Instant::now();
    let model = Model::build(
        data.into_iter()
            .map(|(u, f, s)| (u, format!("film-{f}"), s)),
    );
    let build = t.elapsed();
    let t = Instant::now();
    let pages = movietalk_community::pages(&model.to_wire(), movietalk_community::FILMS_PER_PAGE);
    let wire: usize = pages
        .iter()
        .map(|p| serde_json::to_vec(p).map_or(0, |v| v.len()))
        .sum();
    let encode = t.elapsed();
    let with_neighbours = model.films.iter().filter(|f| !f.near.is_empty()).count();
    println!(
        "{}",
        serde_json::json!({
            "users": users, "films": films, "ratings": n,
            "model_films": model.films.len(), "with_neighbours": with_neighbours,
            "build_s": build.as_secs_f64(), "encode_s": encode.as_secs_f64(),
            "wire_bytes": wire, "pages": pages.len(),
            "hwm_before_kib": before, "hwm_kib": proc_status_kib("VmHWM").unwrap_or(0),
        })
    );
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let n = |i: usize| -> anyhow::Result<usize> { Ok(args[i].parse()?) };
        return child(n(1)?, n(2)?, n(3)?);
    }
    println!(
        "| ratings | users | films rated | films in the model (with neighbours) | build | wire form | peak RSS |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (users, films, total) in SIZES {
        let out = std::process::Command::new(std::env::current_exe()?)
            .args([
                "--child",
                &users.to_string(),
                &films.to_string(),
                &total.to_string(),
            ])
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        println!(
            "| {} | {} | {} | {} ({}) | {:.1} s | {:.2} MB in {} pages ({:.2} s) | {} MiB |",
            v["ratings"],
            v["users"],
            v["films"],
            v["model_films"],
            v["with_neighbours"],
            v["build_s"].as_f64().unwrap_or(0.0),
            v["wire_bytes"].as_f64().unwrap_or(0.0) / 1e6,
            v["pages"],
            v["encode_s"].as_f64().unwrap_or(0.0),
            v["hwm_kib"].as_u64().unwrap_or(0) / 1024,
        );
    }
    Ok(())
}
