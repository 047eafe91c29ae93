//! `search-bench`: import time, database size, search latency (p50/p99) and top-1 accuracy on
//! the 36,273-film Wikipedia set and on a synthetic catalog grown from it, against the
//! original's `LIKE '%query%'` scan over title and overview in the same run.
//!
//! `cargo run --release -p movietalk-bench --bin search-bench -- [--data DIR] [--work DIR]
//!  [--synthetic N] [--rounds R]`. Run by hand; results go to stdout as Markdown and JSON.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use movietalk_bench::{Rng, all_films, ms, percentile, remove_db, synthetic};
use movietalk_core::catalog::Source;
use movietalk_core::import::wikipedia;
use movietalk_core::text::{Token, tokens};
use movietalk_core::{Catalog, Movie, SearchQuery};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ExactTitle,
    PartialTitle,
    Typo,
    Cast,
    Korean,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::ExactTitle => "exact title",
            Kind::PartialTitle => "partial title",
            Kind::Typo => "typo",
            Kind::Cast => "cast name",
            Kind::Korean => "Korean",
        }
    }
}

struct Query {
    kind: Kind,
    text: String,
    /// The film that should come first, for exact-title and typo queries.
    expect: Option<String>,
    /// That film's folded title: when another film in the catalog has the same title, the
    /// query no longer names one film and is left out of the accuracy count.
    expect_title: Option<String>,
}

fn folded_title(title: &str) -> String {
    tokens(title)
        .iter()
        .map(Token::as_str)
        .collect::<Vec<_>>()
        .join(" ")
}

/// One edit (drop, swap or replace a letter) in the longest word of `title`.
fn misspell(title: &str, rng: &mut Rng) -> Option<String> {
    let words: Vec<&str> = title.split_whitespace().collect();
    let (idx, word) = words
        .iter()
        .enumerate()
        .filter(|(_, w)| w.chars().all(char::is_alphabetic))
        .max_by_key(|(_, w)| w.len())?;
    let chars: Vec<char> = word.chars().collect();
    if chars.len() < 6 {
        return None;
    }
    let at = 1 + rng.below(chars.len() - 2);
    let mut c = chars.clone();
    match rng.below(3) {
        0 => {
            c.remove(at);
        }
        1 => c.swap(at, at + 1),
        _ => c[at] = if c[at] == 'e' { 'a' } else { 'e' },
    }
    let typo: String = c.into_iter().collect();
    if typo.to_lowercase() == word.to_lowercase() {
        return None;
    }
    let mut out: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
    out[idx] = typo;
    Some(out.join(" "))
}

/// ≥ 200 queries drawn from the catalog: titles, partial titles, typos, cast names, Korean.
fn query_set(films: &[Movie], rng: &mut Rng) -> Vec<Query> {
    let mut title_count = std::collections::HashMap::<String, usize>::new();
    for f in films {
        *title_count.entry(folded_title(&f.title)).or_default() += 1;
    }
    // Titles that name one film only, of two words or more, so "the right film" is defined.
    let unique: Vec<&Movie> = films
        .iter()
        .filter(|f| {
            title_count[&folded_title(&f.title)] == 1 && f.title.split_whitespace().count() >= 2
        })
        .collect();
    let mut out = Vec::new();
    while out
        .iter()
        .filter(|q: &&Query| q.kind == Kind::ExactTitle)
        .count()
        < 70
    {
        let f = unique[rng.below(unique.len())];
        out.push(Query {
            kind: Kind::ExactTitle,
            text: f.title.clone(),
            expect: Some(f.key.clone()),
            expect_title: Some(folded_title(&f.title)),
        });
    }
    while out.iter().filter(|q| q.kind == Kind::Typo).count() < 60 {
        let f = unique[rng.below(unique.len())];
        if let Some(t) = misspell(&f.title, rng) {
            out.push(Query {
                kind: Kind::Typo,
                text: t,
                expect: Some(f.key.clone()),
                expect_title: Some(folded_title(&f.title)),
            });
        }
    }
    while out.iter().filter(|q| q.kind == Kind::PartialTitle).count() < 40 {
        let f = unique[rng.below(unique.len())];
        let words: Vec<&str> = f.title.split_whitespace().collect();
        let last = words[words.len() - 1];
        if last.chars().count() >= 4 {
            let cut: String = last.chars().take(last.chars().count() / 2 + 1).collect();
            let mut q = words[..words.len() - 1].join(" ");
            q.push(' ');
            q.push_str(&cut);
            out.push(Query {
                kind: Kind::PartialTitle,
                text: q,
                expect: None,
                expect_title: None,
            });
        }
    }
    let with_cast: Vec<&Movie> = films.iter().filter(|f| !f.cast.is_empty()).collect();
    for _ in 0..30 {
        let f = with_cast[rng.below(with_cast.len())];
        out.push(Query {
            kind: Kind::Cast,
            text: f.cast[rng.below(f.cast.len())].clone(),
            expect: None,
            expect_title: None,
        });
    }
    let korean: Vec<&Movie> = films.iter().filter(|f| f.title_ko.is_some()).collect();
    for i in 0..korean.len().min(24) {
        let f = korean[(i * 7) % korean.len()];
        let ko = f.title_ko.clone().unwrap();
        // Alternate whole Korean titles and their first two syllables (a partial word).
        let text = if i % 2 == 0 {
            ko
        } else {
            ko.chars().filter(|c| !c.is_whitespace()).take(2).collect()
        };
        out.push(Query {
            kind: Kind::Korean,
            text,
            expect: None,
            expect_title: None,
        });
    }
    out
}

struct Run {
    label: String,
    films: u64,
    import: Duration,
    db_bytes: u64,
    p50: Duration,
    p99: Duration,
    like_p50: Duration,
    like_p99: Duration,
    accuracy: Vec<(Kind, usize, usize)>,
    /// Exact-title and typo queries left out because the catalog has another film of that title.
    excluded: usize,
}

fn measure(
    label: &str,
    db: &Path,
    catalog: &Catalog,
    queries: &[Query],
    rounds: usize,
    import: Duration,
    ambiguous: &std::collections::HashSet<String>,
) -> anyhow::Result<Run> {
    let like = rusqlite::Connection::open(db)?;
    let mut like_stmt =
        like.prepare("SELECT key FROM movies WHERE title LIKE ?1 OR overview LIKE ?1 LIMIT 20")?;
    let mut ours = Vec::new();
    let mut slowest: Vec<(Duration, &str)> = Vec::new();
    let mut theirs = Vec::new();
    let mut accuracy: Vec<(Kind, usize, usize)> = [Kind::ExactTitle, Kind::Typo]
        .iter()
        .map(|k| (*k, 0, 0))
        .collect();
    let mut excluded = 0usize;
    for round in 0..rounds {
        for q in queries {
            let sq = SearchQuery {
                text: q.text.clone(),
                limit: 20,
                ..Default::default()
            };
            let t = Instant::now();
            let found = catalog.search(&sq)?;
            ours.push(t.elapsed());
            slowest.push((t.elapsed(), q.text.as_str()));
            let pattern = format!("%{}%", q.text);
            let t = Instant::now();
            let n = like_stmt
                .query_map([&pattern], |r| r.get::<_, String>(0))?
                .count();
            theirs.push(t.elapsed());
            std::hint::black_box(n);
            if round == 0
                && let Some(expect) = &q.expect
                && let Some(slot) = accuracy.iter_mut().find(|a| a.0 == q.kind)
            {
                if q.expect_title
                    .as_ref()
                    .is_some_and(|t| ambiguous.contains(t))
                {
                    excluded += 1;
                    continue;
                }
                slot.2 += 1;
                if found.movies.first().map(|m| &m.key) == Some(expect) {
                    slot.1 += 1;
                } else if std::env::var_os("BENCH_VERBOSE").is_some() {
                    let got: Vec<&str> = found
                        .movies
                        .iter()
                        .take(3)
                        .map(|m| m.key.as_str())
                        .collect();
                    eprintln!(
                        "miss [{}] {:?}: expected {expect}, got {got:?}",
                        q.kind.name(),
                        q.text
                    );
                }
            }
        }
    }
    ours.sort();
    theirs.sort();
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
        for (d, q) in slowest.iter().take(10) {
            eprintln!("slow: {:.2} ms {q:?}", ms(*d));
        }
    }
    Ok(Run {
        label: label.to_owned(),
        films: catalog.count()?,
        import,
        db_bytes: catalog.database_bytes()?,
        p50: percentile(&ours, 0.5),
        p99: percentile(&ours, 0.99),
        like_p50: percentile(&theirs, 0.5),
        like_p99: percentile(&theirs, 0.99),
        accuracy,
        excluded,
    })
}

fn main() -> anyhow::Result<()> {
    let mut data = PathBuf::from("../shared/data/wikipedia-movies");
    let mut work = PathBuf::from("target/bench");
    let mut synthetic_total = 1_000_000usize;
    let mut rounds = 5usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--data" => data = value()?.into(),
            "--work" => work = value()?.into(),
            "--synthetic" => synthetic_total = value()?.parse()?,
            "--rounds" => rounds = value()?.parse()?,
            other => bail!("unknown argument {other:?}"),
        }
    }
    if !data.is_dir() {
        bail!(
            "{} not found: pass --data DIR (the wikipedia-movies folder)",
            data.display()
        );
    }
    std::fs::create_dir_all(&work)?;
    let mut runs = Vec::new();

    let db = work.join("bench-36k.sqlite3");
    remove_db(&db);
    let mut catalog = Catalog::open(&db)?;
    catalog.seed_if_empty()?;
    let t = Instant::now();
    let report = wikipedia::import_path(&mut catalog, &data, &mut |_| {})?;
    let import = t.elapsed();
    eprintln!("imported {} records in {import:.1?}", report.records);
    let films = all_films(&catalog)?;
    let mut rng = Rng(20261125);
    let queries = query_set(&films, &mut rng);
    eprintln!("{} queries", queries.len());
    runs.push(measure(
        "36k (Wikipedia + starter)",
        &db,
        &catalog,
        &queries,
        rounds,
        import,
        &Default::default(),
    )?);

    if synthetic_total > films.len() {
        let db = work.join("bench-1m.sqlite3");
        remove_db(&db);
        let mut big = Catalog::open(&db)?;
        let t = Instant::now();
        big.import(&films, Source::Wikipedia)?;
        let extra = synthetic(&films, synthetic_total - films.len(), &mut rng);
        for chunk in extra.chunks(50_000) {
            big.import(chunk, Source::Wikipedia)?;
            eprint!(".");
        }
        let import = t.elapsed();
        eprintln!(
            "\nsynthetic catalog of {} films in {import:.1?}",
            big.count()?
        );
        // Synthetic titles are made of real title words, and some equal a query's title.
        let ambiguous: std::collections::HashSet<String> =
            extra.iter().map(|m| folded_title(&m.title)).collect();
        runs.push(measure(
            &format!("{}k synthetic", synthetic_total / 1000),
            &db,
            &big,
            &queries,
            rounds,
            import,
            &ambiguous,
        )?);
    }

    println!(
        "| catalog | films | import | DB size | search p50 | search p99 | LIKE p50 | LIKE p99 | p50 ratio | p99 ratio | top-1 exact | top-1 typo |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &runs {
        let acc = |k: Kind| {
            let (_, ok, n) = r
                .accuracy
                .iter()
                .find(|a| a.0 == k)
                .copied()
                .unwrap_or((k, 0, 0));
            format!("{ok}/{n} ({:.1}%)", 100.0 * ok as f64 / n.max(1) as f64)
        };
        println!(
            "| {} | {} | {:.1} s | {:.0} MiB | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.0}× | {:.0}× | {} | {} |",
            r.label,
            r.films,
            r.import.as_secs_f64(),
            r.db_bytes as f64 / 1048576.0,
            ms(r.p50),
            ms(r.p99),
            ms(r.like_p50),
            ms(r.like_p99),
            ms(r.like_p50) / ms(r.p50),
            ms(r.like_p99) / ms(r.p99),
            acc(Kind::ExactTitle),
            acc(Kind::Typo)
        );
    }
    for r in runs.iter().filter(|r| r.excluded > 0) {
        println!(
            "{}: {} exact-title and typo queries left out of the accuracy count: another film in that catalog has the same title.",
            r.label, r.excluded
        );
    }
    let kinds = [
        Kind::ExactTitle,
        Kind::PartialTitle,
        Kind::Typo,
        Kind::Cast,
        Kind::Korean,
    ];
    let counts: Vec<String> = kinds
        .iter()
        .map(|k| {
            format!(
                "{} {}",
                queries.iter().filter(|q| q.kind == *k).count(),
                k.name()
            )
        })
        .collect();
    println!(
        "\nQueries: {} ({}), {rounds} rounds each.",
        queries.len(),
        counts.join(", ")
    );
    Ok(())
}
