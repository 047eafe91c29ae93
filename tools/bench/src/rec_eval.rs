//! `rec-eval`: offline quality of the recommender, leave-one-out on MovieLens-100k joined to the
//! Wikipedia films by title and year. Run by hand, never in CI; results go to stdout as
//! Markdown (and one JSON line per method).
//!
//! ```sh
//! pip download --no-deps -d /tmp/recbole recbole==1.2.1
//! unzip -j /tmp/recbole/recbole-1.2.1-py3-none-any.whl recbole/dataset_example/ml-100k/ml-100k.inter \
//!   recbole/dataset_example/ml-100k/ml-100k.item -d /tmp/ml-100k
//! cargo run --release -p movietalk-bench --bin rec-eval -- --movielens /tmp/ml-100k [--users test|tune|all]
//!   [--validation] [--reuse]
//! ```
//!
//! Protocol (see `docs/recommendations.md`): per user, the most recent rating of 4 stars or more
//! is held out (users with fewer than 5 matched ratings or no such rating are skipped); every
//! method ranks all matched films the user did not rate in training; HR@10 and NDCG@10 with
//! ties broken at random (their expectation is computed exactly). The community data is every
//! user's training ratings — held-out ratings are never stored. Users whose id is divisible by 3
//! were used for tuning; the default report is on the others. `--validation` (the tuning
//! protocol) removes every test film and holds out the 4+ rating before it instead.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use movietalk_bench::remove_db;
use movietalk_core::import::wikipedia;
use movietalk_core::recommend::community::{self, CommunityIndex};
use movietalk_core::recommend::content::{self, ContentIndex, FeatureWeights};
use movietalk_core::recommend::ease::{Ease, EaseParams};
use movietalk_core::recommend::{Blend, Rating, Recommender};
use movietalk_core::text::{Token, tokens};
use movietalk_core::{Catalog, Movie, SearchQuery, movie_key};

mod production;

const K: usize = 10;

/// One MovieLens film.
struct MlItem {
    id: String,
    title: String,
    year: Option<i32>,
}

/// Reads a RecBole atomic file: a header of `name:type` columns, then tab-separated rows.
fn read_atomic(path: &Path, wanted: &[&str]) -> anyhow::Result<Vec<Vec<String>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .context("empty file")?
        .split('\t')
        .map(|h| h.split(':').next().unwrap_or(h))
        .collect();
    let cols: Vec<usize> = wanted
        .iter()
        .map(|w| {
            header
                .iter()
                .position(|h| h == w)
                .with_context(|| format!("{}: no column {w} in {header:?}", path.display()))
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let fields: Vec<&str> = l.split('\t').collect();
            cols.iter()
                .map(|c| fields.get(*c).copied().unwrap_or("").trim().to_owned())
                .collect()
        })
        .collect())
}

/// "Shawshank Redemption, The" → "The Shawshank Redemption"; also for a few foreign articles.
fn article_first(title: &str) -> String {
    for article in [
        "The", "A", "An", "La", "Le", "Les", "L'", "Il", "El", "Die", "Der", "Das", "Los", "Las",
    ] {
        if let Some(rest) = title.strip_suffix(&format!(", {article}")) {
            let sep = if article.ends_with('\'') { "" } else { " " };
            return format!("{article}{sep}{rest}");
        }
    }
    title.to_owned()
}

/// The titles a MovieLens title may appear under in the catalog, most likely first:
/// "City of Lost Children, The (Cité des enfants perdus, La)" → the English title with its
/// article in front, the whole string, the parenthesised alternative.
fn title_variants(raw: &str) -> Vec<String> {
    let mut s = raw.trim().to_owned();
    // The original u.item format carries the year in the title: "Toy Story (1995)".
    if let Some(open) = s.rfind(" (")
        && s.ends_with(')')
        && s[open + 2..s.len() - 1].chars().all(|c| c.is_ascii_digit())
    {
        s.truncate(open);
    }
    let mut out = vec![article_first(&s)];
    if let Some(open) = s.find(" (")
        && s.ends_with(')')
    {
        out.push(article_first(&s[..open]));
        out.push(article_first(&s[open + 2..s.len() - 1]));
    }
    out.push(s.clone());
    let mut seen = HashSet::new();
    out.retain(|t| !t.is_empty() && seen.insert(t.clone()));
    out
}

fn folded(title: &str) -> Vec<String> {
    tokens(title)
        .iter()
        .map(Token::as_str)
        .map(str::to_owned)
        .collect()
}

#[derive(Debug, Default)]
struct MatchReport {
    by_key: usize,
    by_search: usize,
    by_near_year: usize,
    unmatched: usize,
    no_year: usize,
}

/// Finds the catalog film of a MovieLens film: by key, then by search within the year with
/// equal folded titles, then the same one year either side (release years differ by country).
fn match_item(
    catalog: &Catalog,
    keys: &HashMap<String, i64>,
    item: &MlItem,
    report: &mut MatchReport,
) -> anyhow::Result<Option<i64>> {
    let Some(year) = item.year else {
        report.no_year += 1;
        return Ok(None);
    };
    let variants = title_variants(&item.title);
    for v in &variants {
        if let Some(id) = keys.get(&movie_key(v, Some(year))) {
            report.by_key += 1;
            return Ok(Some(*id));
        }
    }
    for (years, near) in [((year, year), false), ((year - 1, year + 1), true)] {
        for v in &variants {
            let want = folded(v);
            if want.is_empty() {
                continue;
            }
            let q = SearchQuery {
                text: format!("{v} "),
                years: Some(years),
                limit: 10,
                ..Default::default()
            };
            for m in catalog.search(&q)?.movies {
                let same = [
                    Some(&m.title),
                    m.title_ko.as_ref(),
                    m.original_title.as_ref(),
                ]
                .into_iter()
                .flatten()
                .any(|t| folded(t) == want);
                if same && let Some(id) = keys.get(&m.key) {
                    if near {
                        report.by_near_year += 1;
                    } else {
                        report.by_search += 1;
                    }
                    return Ok(Some(*id));
                }
            }
        }
    }
    report.unmatched += 1;
    if std::env::var_os("BENCH_VERBOSE").is_some() {
        eprintln!("unmatched: {} ({year}) tried {variants:?}", item.title);
    }
    Ok(None)
}

/// Which users are reported: a third of them (user id divisible by 3) were used to tune the
/// weights; the rest were not looked at while tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Split {
    Tune,
    Test,
    All,
}

impl Split {
    fn has(self, user: &str) -> bool {
        let tune = user.parse::<u64>().map(|u| u % 3 == 0).unwrap_or(false);
        match self {
            Split::Tune => tune,
            Split::Test => !tune,
            Split::All => true,
        }
    }
}

/// A user's leave-one-out case.
struct Case {
    user: String,
    train: Vec<Rating>,
    held_out: i64,
}

/// Expected HR@K and NDCG@K of the held-out film when ties are broken at random.
fn hit(target: f32, others: impl Iterator<Item = f32>) -> (f64, f64) {
    let (mut above, mut tied) = (0usize, 0usize);
    for s in others {
        if s > target {
            above += 1;
        } else if s == target {
            tied += 1;
        }
    }
    let (mut hr, mut ndcg) = (0.0, 0.0);
    for pos in above + 1..=above + tied + 1 {
        if pos <= K {
            hr += 1.0;
            ndcg += 1.0 / ((pos + 1) as f64).log2();
        }
    }
    (hr / (tied + 1) as f64, ndcg / (tied + 1) as f64)
}

/// Mean, standard deviation and the half-width of a 95% confidence interval of the mean.
fn stats(xs: &[f64]) -> (f64, f64, f64) {
    let n = xs.len().max(1) as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt(), 1.96 * var.sqrt() / n.sqrt())
}

/// Words the classic tutorial's `TfidfVectorizer(stop_words="english")` would drop (the common
/// part of scikit-learn's list).
const ENGLISH_STOP: &[&str] = &[
    "a",
    "about",
    "above",
    "after",
    "again",
    "against",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "are",
    "as",
    "at",
    "be",
    "became",
    "because",
    "been",
    "before",
    "being",
    "below",
    "between",
    "both",
    "but",
    "by",
    "can",
    "could",
    "did",
    "do",
    "does",
    "doing",
    "down",
    "during",
    "each",
    "few",
    "for",
    "from",
    "further",
    "had",
    "has",
    "have",
    "having",
    "he",
    "her",
    "here",
    "hers",
    "herself",
    "him",
    "himself",
    "his",
    "how",
    "i",
    "if",
    "in",
    "into",
    "is",
    "it",
    "its",
    "itself",
    "just",
    "me",
    "more",
    "most",
    "my",
    "myself",
    "no",
    "nor",
    "not",
    "now",
    "of",
    "off",
    "on",
    "once",
    "one",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "ourselves",
    "out",
    "over",
    "own",
    "same",
    "she",
    "should",
    "so",
    "some",
    "such",
    "than",
    "that",
    "the",
    "their",
    "theirs",
    "them",
    "themselves",
    "then",
    "there",
    "these",
    "they",
    "this",
    "those",
    "through",
    "to",
    "too",
    "two",
    "under",
    "until",
    "up",
    "very",
    "was",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "would",
    "you",
    "your",
    "yours",
    "yourself",
    "yourselves",
];

/// Sparse unit vector.
type Sparse = Vec<(u32, f32)>;

/// Plain TF-IDF over the plot text only, as scikit-learn's defaults (raw counts, smooth IDF,
/// L2): IDF fitted on the whole catalog, vectors for the films asked for.
fn plot_tfidf(all: &[Movie], wanted: &[&Movie]) -> Vec<Sparse> {
    let words = |m: &Movie| -> Vec<String> {
        m.overview
            .as_deref()
            .map(tokens)
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.as_str().to_owned())
            .filter(|w| w.chars().count() >= 2 && !ENGLISH_STOP.contains(&w.as_str()))
            .collect()
    };
    let mut ids: HashMap<String, u32> = HashMap::new();
    let mut df: Vec<u32> = Vec::new();
    for m in all {
        let set: HashSet<String> = words(m).into_iter().collect();
        for w in set {
            let next = ids.len() as u32;
            let id = *ids.entry(w).or_insert(next);
            if id as usize == df.len() {
                df.push(0);
            }
            df[id as usize] += 1;
        }
    }
    let n = all.len() as f32;
    wanted
        .iter()
        .map(|m| {
            let mut tf: HashMap<u32, f32> = HashMap::new();
            for w in words(m) {
                if let Some(id) = ids.get(&w) {
                    *tf.entry(*id).or_default() += 1.0;
                }
            }
            let mut v: Sparse = tf
                .into_iter()
                .map(|(id, c)| {
                    (
                        id,
                        c * (((1.0 + n) / (1.0 + df[id as usize] as f32)).ln() + 1.0),
                    )
                })
                .collect();
            let norm = v.iter().map(|x| x.1 * x.1).sum::<f32>().sqrt();
            if norm > 0.0 {
                v.iter_mut().for_each(|x| x.1 /= norm);
            }
            v.sort_by_key(|x| x.0);
            v
        })
        .collect()
}

/// Item-to-item neighbours for the item-kNN baselines, computed here so that changes to the
/// recommender's own neighbours cannot move the baselines: `adjusted` centres each user's
/// stars on their mean and shrinks by co-raters (the recommender's neighbours before the
/// evaluation; at least 3 co-raters), otherwise the textbook cosine over raw stars
/// (Deshpande & Karypis 2004). Top 50 per film, positive similarities only.
fn knn_neighbors(users: &[Vec<(i64, f32)>], adjusted: bool) -> HashMap<i64, Vec<(i64, f32)>> {
    let mut dots: HashMap<(i64, i64), (f32, u32)> = HashMap::new();
    let mut norms: HashMap<i64, f32> = HashMap::new();
    for ratings in users {
        let mean = if adjusted {
            ratings.iter().map(|r| r.1).sum::<f32>() / ratings.len().max(1) as f32
        } else {
            0.0
        };
        let centred: Vec<(i64, f32)> = ratings.iter().map(|(m, s)| (*m, s - mean)).collect();
        for (i, (a, x)) in centred.iter().enumerate() {
            *norms.entry(*a).or_default() += x * x;
            for (b, y) in &centred[i + 1..] {
                let key = if a < b { (*a, *b) } else { (*b, *a) };
                let e = dots.entry(key).or_default();
                e.0 += x * y;
                e.1 += 1;
            }
        }
    }
    let mut out: HashMap<i64, Vec<(i64, f32)>> = HashMap::new();
    for ((a, b), (dot, n)) in dots {
        if adjusted && n < 3 {
            continue;
        }
        let denom = (norms[&a] * norms[&b]).sqrt();
        if denom <= 0.0 {
            continue;
        }
        let s = if adjusted {
            dot / denom * (n as f32 / (n as f32 + 10.0))
        } else {
            dot / denom
        };
        if s > 0.0 {
            out.entry(a).or_default().push((b, s));
            out.entry(b).or_default().push((a, s));
        }
    }
    for list in out.values_mut() {
        list.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(&y.0)));
        list.truncate(50);
    }
    out
}

fn parse_weights(spec: &str) -> anyhow::Result<FeatureWeights> {
    let mut w = FeatureWeights::default();
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .with_context(|| format!("{part:?}: expected name=value"))?;
        let v: f32 = v.parse()?;
        match k {
            "title" => w.title = v,
            "director" => w.director = v,
            "cast" => w.cast = v,
            "genre" => w.genre = v,
            "decade" => w.decade = v,
            "plot" => w.plot = v,
            other => bail!("unknown feature weight {other:?}"),
        }
    }
    Ok(w)
}

fn parse_blend(spec: &str, mut b: Blend) -> anyhow::Result<Blend> {
    for part in spec.split(',').filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .with_context(|| format!("{part:?}: expected name=value"))?;
        let v: f32 = v.parse()?;
        match k {
            "content" => b.content = v,
            "community" => b.community = v,
            "prior" => b.prior = v,
            "lambda" => b.diversity_lambda = v,
            other => bail!("unknown blend weight {other:?}"),
        }
    }
    Ok(b)
}

fn main() -> anyhow::Result<()> {
    let mut data = PathBuf::from("../shared/data/wikipedia-movies");
    let mut movielens: Option<PathBuf> = None;
    let mut work = PathBuf::from("target/bench");
    let mut split = Split::Test;
    let mut reuse = false;
    let mut weights: Option<FeatureWeights> = None;
    let mut blend_spec = String::new();
    let mut offline_spec = String::new();
    let mut dump_join: Option<PathBuf> = None;
    let mut validation = false;
    let mut ease_lambda = 4.0f64;
    let mut production = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--data" => data = value()?.into(),
            "--movielens" => movielens = Some(value()?.into()),
            "--work" => work = value()?.into(),
            "--users" => {
                split = match value()?.as_str() {
                    "tune" => Split::Tune,
                    "test" => Split::Test,
                    "all" => Split::All,
                    other => bail!("--users {other:?}: use tune, test or all"),
                }
            }
            // Keeps the imported catalog of an earlier run (its community data is cleared).
            "--reuse" => reuse = true,
            // Tuning: feature weights (title=,director=,cast=,genre=,decade=,plot=) for the
            // content index, and blend overrides for the community and offline modes.
            "--weights" => weights = Some(parse_weights(&value()?)?),
            "--blend" => blend_spec = value()?,
            "--offline-blend" => offline_spec = value()?,
            // Tuning protocol: every user's most recent 4+ rating (the test film) is removed
            // from the data and the one before it is held out; the test films are never seen.
            "--validation" => validation = true,
            // λ of the EASE baseline, × the mean number of raters of a film.
            "--ease-lambda" => ease_lambda = value()?.parse()?,
            // Also measures the community signal through the production path: relay-server
            // import-ratings, movietalk sync, movietalk recommend (see production.rs).
            "--production" => production = true,
            // Writes the join (MovieLens item id, catalog key, row id) as TSV.
            "--dump-join" => dump_join = Some(PathBuf::from(value()?)),
            other => bail!("unknown argument {other:?}"),
        }
    }
    let movielens = movielens
        .context("pass --movielens DIR (the folder holding ml-100k.inter and ml-100k.item)")?;
    if !data.is_dir() {
        bail!(
            "{} not found: pass --data DIR (the wikipedia-movies folder)",
            data.display()
        );
    }
    let dir = work.join("rec-eval");
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("movietalk.sqlite3");

    // The catalog: starter + Wikipedia, as the app would hold it.
    let started = Instant::now();
    if !(reuse && db.exists()) {
        remove_db(&db);
    }
    let mut catalog = Catalog::open(&db)?;
    if catalog.count()? < 1000 {
        catalog.seed_if_empty()?;
        wikipedia::import_path(&mut catalog, &data, &mut |_| {})?;
    }
    {
        let raw = rusqlite::Connection::open(&db)?;
        raw.execute_batch(
            "DELETE FROM community_ratings; DELETE FROM cf_neighbors; DELETE FROM ratings;",
        )?;
    }
    let t = Instant::now();
    let weights = weights.unwrap_or_default();
    content::build(&mut catalog, &weights, &mut |_| {})?;
    eprintln!(
        "catalog ready ({} films, content index {:.1?}) after {:.1?}",
        catalog.count()?,
        t.elapsed(),
        started.elapsed()
    );

    // Every film with its row id.
    let keys: HashMap<String, i64> = {
        let raw = rusqlite::Connection::open(&db)?;
        let mut stmt = raw.prepare("SELECT key, id FROM movies")?;
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    let mut ids: Vec<i64> = keys.values().copied().collect();
    ids.sort_unstable();
    let films: HashMap<i64, Movie> = catalog.movies_by_id(&ids)?.into_iter().collect();
    let all: Vec<Movie> = ids.iter().map(|id| films[id].clone()).collect();

    // MovieLens, joined to the catalog.
    let items: Vec<MlItem> = read_atomic(
        &movielens.join("ml-100k.item"),
        &["item_id", "movie_title", "release_year"],
    )?
    .into_iter()
    .map(|r| MlItem {
        id: r[0].clone(),
        title: r[1].clone(),
        year: r[2].parse().ok(),
    })
    .collect();
    let mut report = MatchReport::default();
    let mut item_film: HashMap<String, i64> = HashMap::new();
    for item in &items {
        if let Some(id) = match_item(&catalog, &keys, item, &mut report)? {
            item_film.insert(item.id.clone(), id);
        }
    }
    if let Some(path) = &dump_join {
        let mut out = String::from("item_id\tkey\tmovie_id\n");
        for item in &items {
            if let Some(id) = item_film.get(&item.id) {
                out.push_str(&format!("{}\t{}\t{id}\n", item.id, films[id].key));
            }
        }
        std::fs::write(path, out)?;
    }
    let inter = read_atomic(
        &movielens.join("ml-100k.inter"),
        &["user_id", "item_id", "rating", "timestamp"],
    )?;
    let total_ratings = inter.len();
    // user → film → (stars, time); a user who rated two MovieLens entries of one film keeps the later.
    let mut by_user: HashMap<String, HashMap<i64, (f32, u64)>> = HashMap::new();
    let mut matched_ratings = 0usize;
    for r in &inter {
        let Some(film) = item_film.get(&r[1]) else {
            continue;
        };
        matched_ratings += 1;
        let stars: f32 = r[2].parse()?;
        let time: u64 = r[3].parse::<f64>()? as u64;
        let e = by_user
            .entry(r[0].clone())
            .or_default()
            .entry(*film)
            .or_insert((stars, time));
        if time >= e.1 {
            *e = (stars, time);
        }
    }
    let matched_films: Vec<i64> = {
        let mut v: Vec<i64> = item_film
            .values()
            .copied()
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        v.sort_unstable();
        v
    };
    let matched_items = item_film.len();
    println!(
        "MovieLens-100k: {} films, {} matched to the catalog ({:.1}%: {} by key, {} by search in the same year, {} one year off; {} without a year), {} distinct catalog films; {}/{} ratings ({:.1}%) on matched films.",
        items.len(),
        matched_items,
        100.0 * matched_items as f64 / items.len() as f64,
        report.by_key,
        report.by_search,
        report.by_near_year,
        report.no_year,
        matched_films.len(),
        matched_ratings,
        total_ratings,
        100.0 * matched_ratings as f64 / total_ratings as f64
    );

    // Leave-one-out cases.
    let mut users: Vec<&String> = by_user.keys().collect();
    users.sort_by_key(|u| u.parse::<u64>().unwrap_or(u64::MAX));
    let mut cases: Vec<Case> = Vec::new();
    let mut community_triples: Vec<(String, i64, f64)> = Vec::new();
    let mut skipped = (0usize, 0usize);
    for user in users {
        let ratings = &by_user[user];
        let mut list: Vec<(i64, f32, u64)> =
            ratings.iter().map(|(f, (s, t))| (*f, *s, *t)).collect();
        list.sort_by_key(|r| (r.2, r.0));
        if validation {
            // The test film leaves the data altogether; the one before it is held out instead.
            if let Some(last) = list.iter().rposition(|r| r.1 >= 4.0) {
                list.remove(last);
            }
        }
        let held = list.iter().rev().find(|r| r.1 >= 4.0).map(|r| r.0);
        let held = match held {
            Some(h) if list.len() >= 5 => Some(h),
            Some(_) => {
                skipped.0 += 1;
                None
            }
            None => {
                skipped.1 += 1;
                None
            }
        };
        for (f, s, _) in &list {
            if Some(*f) != held {
                community_triples.push((format!("ml{user}"), *f, *s as f64));
            }
        }
        if let Some(h) = held {
            let train: Vec<Rating> = list
                .iter()
                .filter(|r| r.0 != h)
                .map(|r| (r.0, r.1))
                .collect();
            cases.push(Case {
                user: user.clone(),
                train,
                held_out: h,
            });
        }
    }
    let eligible = cases.len();
    cases.retain(|c| split.has(&c.user));
    println!(
        "Users: {eligible} eligible ({} skipped with fewer than 5 matched ratings, {} with no rating of 4+); {} evaluated ({split:?} split{}); {} candidate films; {} training ratings as community data.",
        skipped.0,
        skipped.1,
        cases.len(),
        if validation {
            ", validation protocol"
        } else {
            ""
        },
        matched_films.len(),
        community_triples.len()
    );

    // Baselines' inputs.
    let dense: HashMap<i64, usize> = matched_films
        .iter()
        .enumerate()
        .map(|(i, f)| (*f, i))
        .collect();
    let mut popularity = vec![0f32; matched_films.len()];
    for (_, f, _) in &community_triples {
        popularity[dense[f]] += 1.0;
    }
    let matched_movies: Vec<&Movie> = matched_films.iter().map(|f| &films[f]).collect();
    let genre_sets: Vec<HashSet<String>> = matched_movies
        .iter()
        .map(|m| m.genres.iter().map(|g| g.to_lowercase()).collect())
        .collect();
    let plot = plot_tfidf(&all, &matched_movies);
    let t = Instant::now();
    let mut per_user: HashMap<String, Vec<(i64, f32)>> = HashMap::new();
    for (u, f, s) in &community_triples {
        per_user.entry(u.clone()).or_default().push((*f, *s as f32));
    }
    let per_user: Vec<Vec<(i64, f32)>> = per_user.into_values().collect();
    let knn = knn_neighbors(&per_user, false);
    let knn_adjusted = knn_neighbors(&per_user, true);
    eprintln!("item-kNN neighbours in {:.1?}", t.elapsed());

    // Ours: offline (no community data at all) and with the community signal.
    let offline = Recommender {
        content: ContentIndex::load(&catalog)?,
        community: CommunityIndex::default(),
        blend: parse_blend(
            &offline_spec,
            Blend {
                community: 0.0,
                ..Blend::default()
            },
        )?,
    };
    let t = Instant::now();
    community::store(&mut catalog, &community_triples)?;
    eprintln!(
        "community data stored and neighbours rebuilt in {:.1?}",
        t.elapsed()
    );
    let mut online = catalog.recommender()?;
    online.blend = parse_blend(&blend_spec, online.blend)?;
    eprintln!(
        "offline blend {:?}\ncommunity blend {:?}\nweights {weights:?}",
        offline.blend, online.blend
    );

    // (g) EASE as published (Steck 2019): binary X over every film with a rating, the full
    // weight matrix, a user's score Σ B[rated, film] over every rated film. Its own fit, not the
    // recommender's (which caps, prunes and uses taste weights), so that it stays a baseline.
    let t = Instant::now();
    let binary: Vec<Vec<(i64, f32)>> = per_user
        .iter()
        .map(|u| u.iter().map(|(f, _)| (*f, 1.0)).collect())
        .collect();
    let base = Ease::fit(
        &binary,
        &EaseParams {
            lambda: ease_lambda,
            min_raters: 1,
            max_items: usize::MAX,
        },
    )
    .context("EASE fit failed")?;
    let mut base_rows: Vec<Vec<(usize, f32)>> = vec![Vec::new(); matched_films.len()];
    for (i, f) in base.items.iter().enumerate() {
        base_rows[dense[f]] = base
            .row(i, 0)
            .into_iter()
            .map(|(g, w)| (dense[&g], w))
            .collect();
    }
    eprintln!(
        "EASE baseline ({} films, λ {ease_lambda} × mean raters = {:.0}) in {:.1?}",
        base.items.len(),
        base.lambda,
        t.elapsed()
    );

    let mut methods = vec![
        "popularity (most rated in training)",
        "genre-only profile",
        "plain TF-IDF cosine (plot text)",
        "item-kNN, cosine (community only)",
        "item-kNN, adjusted cosine (community only)",
        "ours, offline",
        "ours, offline, diversified top 10",
        "ours, with community",
        "ours, with community, diversified top 10",
        "EASE (community only)",
    ];
    let mut results: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); methods.len()];
    let t = Instant::now();
    for case in &cases {
        let trained: HashSet<i64> = case.train.iter().map(|r| r.0).collect();
        let candidates: Vec<usize> = (0..matched_films.len())
            .filter(|i| !trained.contains(&matched_films[*i]))
            .collect();
        let target = dense[&case.held_out];
        let liked: Vec<i64> = case
            .train
            .iter()
            .filter(|r| r.1 >= 4.0)
            .map(|r| r.0)
            .collect();
        let eval = |scores: &[f32]| {
            hit(
                scores[target],
                candidates
                    .iter()
                    .filter(|i| **i != target)
                    .map(|i| scores[*i]),
            )
        };
        let mut scores_of: Vec<Vec<f32>> = Vec::new();
        // (a) popularity
        scores_of.push(popularity.clone());
        // (b) genre-only: cosine between the liked films' genre histogram and a film's genres.
        let mut hist: HashMap<&str, f32> = HashMap::new();
        for l in &liked {
            for g in &genre_sets[dense[l]] {
                *hist.entry(g.as_str()).or_default() += 1.0;
            }
        }
        let hnorm = hist.values().map(|x| x * x).sum::<f32>().sqrt().max(1e-9);
        scores_of.push(
            genre_sets
                .iter()
                .map(|gs| {
                    if gs.is_empty() {
                        0.0
                    } else {
                        gs.iter()
                            .map(|g| hist.get(g.as_str()).copied().unwrap_or(0.0))
                            .sum::<f32>()
                            / (hnorm * (gs.len() as f32).sqrt())
                    }
                })
                .collect(),
        );
        // (c) plain TF-IDF: summed cosine to the liked films.
        let mut profile: HashMap<u32, f32> = HashMap::new();
        for l in &liked {
            for (w, x) in &plot[dense[l]] {
                *profile.entry(*w).or_default() += x;
            }
        }
        scores_of.push(
            plot.iter()
                .map(|v| {
                    v.iter()
                        .map(|(w, x)| x * profile.get(w).copied().unwrap_or(0.0))
                        .sum()
                })
                .collect(),
        );
        // (d) item-kNN: summed similarity to the liked films.
        for nb in [&knn, &knn_adjusted] {
            let mut s = vec![0f32; matched_films.len()];
            for l in &liked {
                for (other, sim) in nb.get(l).into_iter().flatten() {
                    if let Some(i) = dense.get(other) {
                        s[*i] += sim;
                    }
                }
            }
            scores_of.push(s);
        }
        // (g) EASE: Σ B[rated, film] over every rated film.
        {
            let mut s = vec![0f32; matched_films.len()];
            for (f, _) in &case.train {
                for (j, w) in &base_rows[dense[f]] {
                    s[*j] += w;
                }
            }
            scores_of.push(s);
        }
        // (a)–(d′) and (g), into their rows of `methods`.
        for (i, scores) in [0, 1, 2, 3, 4, 9].into_iter().zip(&scores_of) {
            let (hr, ndcg) = eval(scores);
            results[i].0.push(hr);
            results[i].1.push(ndcg);
        }
        // (e, f) ours: the raw scores, and the diversified list the app shows.
        let keep = |id: i64| dense.contains_key(&id);
        for (slot, rec) in [(5, &offline), (7, &online)] {
            let mut s = vec![0f32; matched_films.len()];
            for (id, score) in rec.score(&case.train) {
                if let Some(i) = dense.get(&id) {
                    s[*i] = score;
                }
            }
            let (hr, ndcg) = eval(&s);
            results[slot].0.push(hr);
            results[slot].1.push(ndcg);
            let list = rec.recommend_ids(&case.train, K, keep);
            let pos = list.iter().position(|(id, _)| *id == case.held_out);
            results[slot + 1]
                .0
                .push(if pos.is_some() { 1.0 } else { 0.0 });
            results[slot + 1]
                .1
                .push(pos.map(|p| 1.0 / ((p + 2) as f64).log2()).unwrap_or(0.0));
        }
    }
    eprintln!(
        "{} users × {} methods in {:.1?}",
        cases.len(),
        methods.len(),
        t.elapsed()
    );
    // (h) the same, through the relay, a sync and the command line.
    let mut production_notes = Vec::new();
    if production {
        let t = Instant::now();
        let p = production::evaluate(
            &dir,
            &db,
            &films,
            &community_triples,
            &cases,
            &matched_films,
        )?;
        methods.push("ours, production path (relay import, sync, `movietalk recommend`)");
        results.push((
            p.scores.iter().map(|s| s.0).collect(),
            p.scores.iter().map(|s| s.1).collect(),
        ));
        production_notes = p.lines;
        eprintln!("production path in {:.1?}", t.elapsed());
    }

    println!("\n| method | HR@10 | ± 95% CI | sd | NDCG@10 | ± 95% CI | sd | users |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, (hr, ndcg)) in methods.iter().zip(&results) {
        let (h, hsd, hci) = stats(hr);
        let (n, nsd, nci) = stats(ndcg);
        println!(
            "| {name} | {h:.3} | {hci:.3} | {hsd:.3} | {n:.3} | {nci:.3} | {nsd:.3} | {} |",
            hr.len()
        );
    }
    // Paired differences over the same users: the comparisons the targets are about.
    println!("\n| comparison (same users) | ΔHR@10 | ± 95% CI | ΔNDCG@10 | ± 95% CI |");
    println!("|---|---|---|---|---|");
    let mut pairs = vec![
        (5, 2),
        (5, 1),
        (5, 0),
        (7, 3),
        (7, 4),
        (7, 9),
        (7, 0),
        (9, 3),
    ];
    if production {
        pairs.extend([(10, 8), (10, 3), (10, 0)]);
    }
    for (a, b) in pairs {
        let diff = |x: &[f64], y: &[f64]| x.iter().zip(y).map(|(p, q)| p - q).collect::<Vec<f64>>();
        let (dh, _, dhci) = stats(&diff(&results[a].0, &results[b].0));
        let (dn, _, dnci) = stats(&diff(&results[a].1, &results[b].1));
        println!(
            "| {} − {} | {dh:+.3} | {dhci:.3} | {dn:+.3} | {dnci:.3} |",
            methods[a], methods[b]
        );
    }
    println!();
    for line in &production_notes {
        println!("- {line}");
    }
    println!();
    for (name, (hr, ndcg)) in methods.iter().zip(&results) {
        let (h, hsd, _) = stats(hr);
        let (n, nsd, _) = stats(ndcg);
        println!(
            "{}",
            serde_json::json!({ "method": name, "hr10": h, "hr10_sd": hsd, "ndcg10": n, "ndcg10_sd": nsd, "users": hr.len(), "split": format!("{split:?}") })
        );
    }
    Ok(())
}
