//! Recommendations: "similar movies" for a film and personal recommendations from ratings,
//! computed offline from the local catalog, optionally blended with the community signal.
//!
//! - **Taste weights:** each rating becomes a weight ([`taste`]): above the user's mean it
//!   counts for (1, plus 0.3 per star above), below the mean it counts against (0.2 per star
//!   below) — weaker, because having chosen to watch a film already speaks for it.
//! - **Content:** films are sparse TF-IDF vectors ([`content`]); a film scores Σ taste weight ×
//!   cosine over the rated films most like it (a k-nearest-neighbour sum, over the features
//!   specific enough to tell films apart), plus how close its year is to the years of the liked
//!   films (the era).
//! - **Community:** item-to-item EASE weights from who rated what ([`community`], [`ease`]): a
//!   film scores Σ over the rated films of their taste weight × the weight from that film to
//!   it; one more weighted source, absent without data.
//! - **Prior:** how well liked a film is by the community (a damped mean and how many rated
//!   it) when there is community data; otherwise a catalog-only notability
//!   ([`content::notability`]: credits and plot length, starter catalog).
//! - **Diversity:** the final list is picked greedily, trading score against similarity to the
//!   films already picked (maximal marginal relevance), so ten sequels do not fill it.
//! - **Reasons:** each pick names the liked films that gave most to its score, each for what it
//!   gave most: being like it (content), or its raters in the community liking it ("people who
//!   rated … highly also liked this").
//! - **Cold start:** no ratings → well-liked films (community, then the curated starter
//!   catalog, then popularity), a few per leading genre.
//!
//! Weights and their measured effect: `docs/recommendations.md` (`rec-eval` in tools/bench).

pub mod community;
pub mod content;
pub use movietalk_community::ease;

use std::collections::{HashMap, HashSet};

use crate::catalog::{Catalog, MOVIE_COLUMNS, row_to_movie_at};
use crate::error::{CoreError, Result};
use crate::movie::Movie;
use community::CommunityIndex;
use content::{ContentIndex, FeatureWeights, Spread};

/// How the sources are blended. Defaults chosen by the offline evaluation
/// (`docs/recommendations.md`).
#[derive(Debug, Clone, Copy)]
pub struct Blend {
    pub content: f32,
    pub community: f32,
    pub prior: f32,
    /// MMR trade-off: 1.0 = pure score, lower = more diverse.
    pub diversity_lambda: f32,
}

impl Default for Blend {
    fn default() -> Self {
        Blend {
            content: 1.0,
            community: 2.0,
            prior: 0.15,
            diversity_lambda: 0.8,
        }
    }
}

/// Why a film is recommended.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reason {
    /// The liked films (titles) most like it (content), and those whose raters in the
    /// community liked it most ("people who rated … highly also liked this").
    BecauseYouLiked {
        titles: Vec<String>,
        community: Vec<String>,
    },
    /// A cold-start pick: well liked in this genre.
    PopularIn { genre: String },
}

/// One recommended film.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recommendation {
    pub movie: Movie,
    pub score: f32,
    pub reason: Reason,
}

/// One similar film.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Similar {
    pub movie: Movie,
    /// Cosine similarity of the content vectors, 0..1.
    pub score: f32,
}

/// Changes whenever the same ratings would give different recommendations (the scoring or its
/// settings changed), so results kept between starts are made again. 2: recency in [`taste`].
pub const SCORING_REVISION: u32 = 2;

/// A rating: film row id and stars (0.5..5 in halves). Lists of ratings are oldest first: the
/// recommender weighs the recent ones more ([`taste`]).
pub type Rating = (i64, f32);

/// The recommender, loaded from a catalog's stored indexes.
#[derive(Debug)]
pub struct Recommender {
    pub content: ContentIndex,
    pub community: CommunityIndex,
    pub blend: Blend,
}

/// How long a rebuild of the index may take before a front end shows its progress.
pub const SHOW_PROGRESS_AFTER: std::time::Duration = std::time::Duration::from_millis(500);

/// Passes progress on to `show` only once `after` has passed since this was called (then
/// every report, the last one — done = total — included): a quick rebuild shows nothing, a
/// slow one shows its bar and ends it.
pub fn shown_after(
    after: std::time::Duration,
    mut show: impl FnMut(crate::import::Progress),
) -> impl FnMut(crate::import::Progress) {
    let started = std::time::Instant::now();
    move |p| {
        if started.elapsed() >= after {
            show(p);
        }
    }
}

/// Half stars from 0.5 to 5.
pub fn valid_stars(stars: f32) -> bool {
    (0.5..=5.0).contains(&stars) && (stars * 2.0).fract() == 0.0
}

impl Catalog {
    /// Rebuilds the stored content index if an import changed the catalog since it was built
    /// (and the community weights if they are missing), without loading it; true when the
    /// content index was rebuilt.
    pub fn prepare_recommendations(&mut self) -> Result<bool> {
        self.prepare_recommendations_with(&mut |_| {})
    }

    /// [`Catalog::prepare_recommendations`], telling `progress` how far a rebuild of the
    /// content index is (nothing when none is needed). Wrap it in [`shown_after`] to hear of
    /// slow rebuilds only.
    pub fn prepare_recommendations_with(
        &mut self,
        progress: &mut dyn FnMut(crate::import::Progress),
    ) -> Result<bool> {
        if !community::is_current(self)? {
            // Stored ratings without weights: the upgrade from cosine neighbours.
            let started = std::time::Instant::now();
            community::rebuild(self)?;
            tracing::info!(elapsed = ?started.elapsed(), "community weights rebuilt");
        }
        if content::is_current(self)? {
            return Ok(false);
        }
        let started = std::time::Instant::now();
        let n = content::build(self, &FeatureWeights::default(), progress)?;
        tracing::info!(films = n, elapsed = ?started.elapsed(), "content index rebuilt");
        Ok(true)
    }

    /// Loads the recommender, first rebuilding the content index if an import changed the
    /// catalog since it was built (never on a plain start).
    pub fn recommender(&mut self) -> Result<Recommender> {
        self.prepare_recommendations()?;
        Ok(Recommender {
            content: ContentIndex::load(self)?,
            community: CommunityIndex::load(self)?,
            blend: Blend::default(),
        })
    }

    /// Stores this user's rating of a film (replacing an earlier one).
    pub fn rate(&mut self, key: &str, stars: f32) -> Result<()> {
        if !valid_stars(stars) {
            return Err(CoreError::InvalidInput(format!(
                "{stars} is not a rating: use half stars from 0.5 to 5"
            )));
        }
        let id = self
            .movie_id(key)?
            .ok_or_else(|| CoreError::InvalidInput(format!("no movie with key {key:?}")))?;
        self.conn.execute(
            "INSERT INTO ratings (movie_id, stars) VALUES (?1, ?2)
             ON CONFLICT(movie_id) DO UPDATE SET stars = excluded.stars, rated_at = unixepoch()",
            rusqlite::params![id, stars as f64],
        )?;
        Ok(())
    }

    /// Removes this user's rating of a film; false when there was none.
    pub fn unrate(&mut self, key: &str) -> Result<bool> {
        Ok(self.conn.execute(
            "DELETE FROM ratings WHERE movie_id = (SELECT id FROM movies WHERE key = ?1)",
            [key],
        )? > 0)
    }

    /// This user's ratings.
    pub fn ratings(&self) -> Result<Vec<Rating>> {
        let mut stmt = self
            .conn
            .prepare("SELECT movie_id, stars FROM ratings ORDER BY rated_at, movie_id")?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, f64>(1)? as f32)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Films by row id, in the order given (ids not found are skipped).
    pub fn movies_by_id(&self, ids: &[i64]) -> Result<Vec<(i64, Movie)>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {MOVIE_COLUMNS} FROM movies m WHERE m.id = ?1"
        ))?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(m) = rusqlite::OptionalExtension::optional(
                stmt.query_row([id], |r| row_to_movie_at(r, 0)),
            )? {
                out.push((*id, m));
            }
        }
        Ok(out)
    }
}

/// Reusable scratch space for scoring every film.
struct Scratch {
    scores: Vec<f32>,
    touched: Vec<u32>,
}

impl Recommender {
    fn scratch(&self) -> Scratch {
        Scratch {
            scores: vec![0.0; self.content.ids.len()],
            touched: Vec::new(),
        }
    }

    fn vector_of(&self, id: i64) -> Option<&[(u32, f32)]> {
        self.content.by_id.get(&id).map(|n| self.content.vector(*n))
    }

    /// The `k` films most like `key`, best first.
    pub fn similar(&self, catalog: &Catalog, key: &str, k: usize) -> Result<Vec<Similar>> {
        let id = catalog
            .movie_id(key)?
            .ok_or_else(|| CoreError::InvalidInput(format!("no movie with key {key:?}")))?;
        let picks = self.similar_ids(id, k);
        let scores: HashMap<i64, f32> = picks.iter().copied().collect();
        let ids: Vec<i64> = picks.iter().map(|p| p.0).collect();
        Ok(catalog
            .movies_by_id(&ids)?
            .into_iter()
            .map(|(id, movie)| Similar {
                movie,
                score: scores[&id],
            })
            .collect())
    }

    /// Row ids and cosine scores of the `k` films most like film `id`.
    pub fn similar_ids(&self, id: i64, k: usize) -> Vec<(i64, f32)> {
        let Some(v) = self.vector_of(id) else {
            return vec![];
        };
        let mut s = self.scratch();
        self.content.score_into(v, &mut s.scores, &mut s.touched);
        let own = self.content.by_id[&id];
        let mut hits: Vec<(u32, f32)> = s
            .touched
            .iter()
            .filter(|n| **n != own)
            .map(|n| (*n, s.scores[*n as usize]))
            .collect();
        top_k(&mut hits, k);
        hits.into_iter()
            .map(|(n, sc)| (self.content.ids[n as usize], sc))
            .collect()
    }

    /// Raw blended scores for every candidate film given `ratings`: (row id, score).
    pub fn score(&self, ratings: &[Rating]) -> Vec<(i64, f32)> {
        let rated: HashSet<i64> = ratings.iter().map(|r| r.0).collect();
        let weights = taste(ratings);
        // Films of the content index by dense number; films only the community knows aside.
        let mut dense = vec![0f32; self.content.ids.len()];
        let mut extra: HashMap<i64, f32> = HashMap::new();
        if self.blend.content > 0.0 {
            // Content: each film against its most similar rated films.
            for (score, c) in dense.iter_mut().zip(self.content_knn(&weights)) {
                *score += self.blend.content * c;
            }
            // Era: how close a film's year is to the years of the films the user liked.
            if let Some(era) = self.era(&weights) {
                for (score, year) in dense.iter_mut().zip(&self.content.years) {
                    if let Some(y) = year {
                        *score += self.blend.content * ERA * era.at(*y);
                    }
                }
            }
        }
        // Community: the EASE weights of the rated films, times their taste weights.
        if self.blend.community > 0.0 && !self.community.is_empty() {
            for (id, w) in &weights {
                for (other, sim) in self.community.neighbors.get(id).into_iter().flatten() {
                    let add = self.blend.community * sim * w;
                    match self.content.by_id.get(other) {
                        Some(n) => dense[*n as usize] += add,
                        None => *extra.entry(*other).or_default() += add,
                    }
                }
            }
        }
        if self.blend.prior > 0.0 {
            for (n, score) in dense.iter_mut().enumerate() {
                *score += self.blend.prior * self.prior_at(n);
            }
        }
        let mut out: Vec<(i64, f32)> = self
            .content
            .ids
            .iter()
            .copied()
            .zip(dense)
            .chain(extra)
            .collect();
        out.retain(|(id, _)| !rated.contains(id));
        out
    }

    /// The content score of every film (by dense number): Σ taste weight × cosine over the
    /// [`CONTENT_K`] rated films most like it, / [`CONTENT_K`] — a film next to one loved film
    /// (its sequel, the same director) scores high even when the user's other films point
    /// elsewhere, which a single profile of all the rated films averaged away (validation
    /// HR@10 0.061 → 0.075, `docs/recommendations.md`). The cosine here is over the specific
    /// features only — those at most [`CONTENT_POSTINGS`] films share (director, cast, title
    /// and plot words; not genres and decades) — which kept the hit rate and bounds the work
    /// per rated film on any catalog size.
    fn content_knn(&self, weights: &[(i64, f32)]) -> Vec<f32> {
        let films = self.content.ids.len();
        let k = CONTENT_K;
        // Per film: up to k (cosine, taste weight) pairs, how many, and the smallest cosine
        // once full.
        let mut slots = vec![(0f32, 0f32); films * k];
        let mut count = vec![0u8; films];
        let mut least = vec![0f32; films];
        let mut s = self.scratch();
        let mut query: Vec<(u32, f32)> = Vec::new();
        for (id, w) in weights {
            let Some(v) = self.vector_of(*id) else {
                continue;
            };
            query.clear();
            query.extend(
                v.iter()
                    .filter(|(f, _)| self.content.posting(*f).len() <= CONTENT_POSTINGS),
            );
            self.content
                .score_into(&query, &mut s.scores, &mut s.touched);
            for n in s.touched.drain(..) {
                let n = n as usize;
                let sim = std::mem::take(&mut s.scores[n]);
                let slot = &mut slots[n * k..(n + 1) * k];
                let c = count[n] as usize;
                if c < k {
                    slot[c] = (sim, *w);
                    count[n] += 1;
                    if c + 1 == k {
                        least[n] = slot.iter().map(|x| x.0).fold(f32::MAX, f32::min);
                    }
                } else if sim > least[n] {
                    let at = slot
                        .iter()
                        .position(|x| x.0 == least[n])
                        .expect("the least is in the slot");
                    slot[at] = (sim, *w);
                    least[n] = slot.iter().map(|x| x.0).fold(f32::MAX, f32::min);
                }
            }
        }
        (0..films)
            .map(|n| {
                slots[n * k..n * k + count[n] as usize]
                    .iter()
                    .map(|(sim, w)| sim * w)
                    .sum::<f32>()
                    / k as f32
            })
            .collect()
    }

    /// The era kernel of the liked films' years (`None` when no liked film has a year).
    fn era(&self, weights: &[(i64, f32)]) -> Option<Era> {
        let liked: Vec<(i32, f32)> = weights
            .iter()
            .filter(|w| w.1 > 0.0)
            .filter_map(|(id, w)| {
                Some((
                    self.content.years[*self.content.by_id.get(id)? as usize]?,
                    *w,
                ))
            })
            .collect();
        let total: f32 = liked.iter().map(|l| l.1).sum();
        let from = liked.iter().map(|l| l.0).min()? - ERA_REACH;
        let to = liked.iter().map(|l| l.0).max()? + ERA_REACH;
        let table = (from..=to)
            .map(|y| {
                liked
                    .iter()
                    .map(|(ly, w)| w * (-(((y - ly) as f32) / ERA_YEARS).powi(2) / 2.0).exp())
                    .sum::<f32>()
                    / total
            })
            .collect();
        Some(Era { from, table })
    }

    /// The prior of film number `n`: how well liked it is by the community when there is
    /// community data, else its catalog-only [`content::notability`].
    fn prior_at(&self, n: usize) -> f32 {
        if self.community.is_empty() {
            self.content.notability[n]
        } else {
            self.prior(self.content.ids[n])
        }
    }

    /// How well liked a film is by the community, in about -1..1 (0 when unknown): the mean
    /// rating damped towards 3 stars by 20 phantom ratings, scaled by how many rated it.
    fn prior(&self, id: i64) -> f32 {
        match self.community.stats.get(&id) {
            Some((n, mean)) => {
                let n = *n as f32;
                let damped = (n * mean + 20.0 * 3.0) / (n + 20.0);
                (damped - 3.0) / 2.0 + (n.ln_1p() / 10.0)
            }
            None => 0.0,
        }
    }

    /// Personal recommendations from `ratings` (cold-start picks when there are none).
    pub fn recommend(
        &self,
        catalog: &Catalog,
        ratings: &[Rating],
        k: usize,
    ) -> Result<Vec<Recommendation>> {
        if ratings.is_empty() {
            return Self::cold_start(catalog, k);
        }
        let picked = self.recommend_ids(ratings, k, |_| true);
        let weights = taste(ratings);
        let ids: Vec<i64> = picked.iter().map(|p| p.0).collect();
        let rated_titles: HashMap<i64, String> = catalog
            .movies_by_id(&weights.iter().map(|w| w.0).collect::<Vec<_>>())?
            .into_iter()
            .map(|(id, m)| (id, m.title))
            .collect();
        let scores: HashMap<i64, f32> = picked.iter().copied().collect();
        let mut out = Vec::new();
        let named = |ids: Vec<i64>| -> Vec<String> {
            ids.into_iter()
                .filter_map(|r| rated_titles.get(&r).cloned())
                .collect()
        };
        let mut liked = Liked::new(self, &weights, &ids);
        for (id, movie) in catalog.movies_by_id(&ids)? {
            let (titles, community) = self.because(id, &mut liked);
            out.push(Recommendation {
                movie,
                score: scores[&id],
                reason: Reason::BecauseYouLiked {
                    titles: named(titles),
                    community: named(community),
                },
            });
        }
        Ok(out)
    }

    /// The ranked, diversified list [`Recommender::recommend`] shows, as (row id, score),
    /// among the films `keep` accepts (all of them in the app; the evaluation's candidate set
    /// in `rec-eval`).
    pub fn recommend_ids(
        &self,
        ratings: &[Rating],
        k: usize,
        keep: impl Fn(i64) -> bool,
    ) -> Vec<(i64, f32)> {
        let mut scored = self.score(ratings);
        scored.retain(|(id, _)| keep(*id));
        top_k(&mut scored, (k * 5).max(50));
        self.diversify(&scored, k)
    }

    /// The (up to two) liked films that contributed most to recommending `id`, by content and
    /// by the community.
    fn because(&self, id: i64, liked: &mut Liked<'_>) -> (Vec<i64>, Vec<i64>) {
        let Liked {
            films,
            incoming,
            spread,
        } = liked;
        let incoming = incoming.get(&id);
        let mut content: Vec<(i64, f32)> = Vec::new();
        let mut community: Vec<(i64, f32)> = Vec::new();
        spread.with(self.vector_of(id).unwrap_or_default(), |pick| {
            for (rated, w, vector) in films.iter() {
                let cos = pick.dot(vector);
                let cf = incoming.and_then(|m| m.get(rated)).copied().unwrap_or(0.0);
                // Each liked film is named for what it gave most to the score.
                let (c, m) = (w * cos * self.blend.content, w * cf * self.blend.community);
                if m > c {
                    community.push((*rated, m));
                } else {
                    content.push((*rated, c));
                }
            }
        });
        let best = |mut c: Vec<(i64, f32)>| -> Vec<i64> {
            c.retain(|(_, s)| *s > 0.0);
            c.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            c.into_iter().take(2).map(|c| c.0).collect()
        };
        (best(content), best(community))
    }

    /// Maximal marginal relevance over the best candidates.
    ///
    /// Each candidate keeps its highest similarity to the films picked so far, brought up to
    /// date against the one film just picked: k · pool cosines in all, not k² · pool. The
    /// picked film is spread out over all features once ([`Spread`]), so each cosine with it is
    /// one look-up per feature of the candidate.
    fn diversify(&self, candidates: &[(i64, f32)], k: usize) -> Vec<(i64, f32)> {
        let max = candidates
            .iter()
            .map(|c| c.1)
            .fold(f32::MIN, f32::max)
            .max(1e-6);
        // (film, score, its vector, its highest similarity to a picked film)
        let mut left: Vec<(i64, f32, Option<Sparse<'_>>, f32)> = candidates
            .iter()
            .map(|(id, score)| (*id, *score, self.vector_of(*id), 0.0))
            .collect();
        let mut picked: Vec<(i64, f32)> = Vec::with_capacity(k.min(left.len()));
        let lambda = self.blend.diversity_lambda;
        let mut spread = Spread::for_vectors(left.iter().filter_map(|c| c.2));
        while picked.len() < k && !left.is_empty() {
            let (best, _) = left
                .iter()
                .enumerate()
                .map(|(i, (_, score, _, redundancy))| {
                    (i, lambda * score / max - (1.0 - lambda) * redundancy)
                })
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .expect("left is not empty");
            let (id, score, vector, _) = left.swap_remove(best);
            picked.push((id, score));
            let Some(p) = vector else { continue };
            if picked.len() == k || left.is_empty() {
                break;
            }
            spread.with(p, |p| {
                for (_, _, v, redundancy) in &mut left {
                    if let Some(v) = v {
                        *redundancy = redundancy.max(p.dot(v));
                    }
                }
            });
        }
        picked
    }

    /// No ratings yet: well-liked films, a few from each of the catalog's leading genres. Needs
    /// only the catalog (and the community's ratings in it), not the loaded index.
    pub fn cold_start(catalog: &Catalog, k: usize) -> Result<Vec<Recommendation>> {
        let genres: Vec<String> = catalog
            .genres()?
            .into_iter()
            .map(|g| g.0)
            .filter(|g| g != "Silent" && g != "Short")
            .take(6)
            .collect();
        let per_genre = k.div_ceil(genres.len().max(1)).max(1);
        let mut stmt = catalog.conn.prepare_cached(&format!(
            "SELECT m.id, {MOVIE_COLUMNS} FROM movies m JOIN movie_genres g ON g.movie_id = m.id AND g.genre = ?1
             ORDER BY (SELECT c.mean * c.raters / (c.raters + 20.0) FROM community_stats c WHERE c.movie_id = m.id) DESC NULLS LAST,
                      m.source = 'starter' DESC, coalesce(m.popularity, 0) DESC, m.year DESC
             LIMIT ?2"
        ))?;
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for genre in &genres {
            let rows = stmt.query_map(rusqlite::params![genre, (per_genre * 3) as i64], |r| {
                Ok((r.get::<_, i64>(0)?, row_to_movie_at(r, 1)?))
            })?;
            let mut taken = 0;
            for row in rows {
                let (id, movie) = row?;
                if taken < per_genre && seen.insert(id) {
                    taken += 1;
                    out.push(Recommendation {
                        movie,
                        score: 0.0,
                        reason: Reason::PopularIn {
                            genre: genre.clone(),
                        },
                    });
                }
            }
        }
        out.truncate(k);
        Ok(out)
    }
}

/// A film's content vector: (feature, weight), sorted by feature.
type Sparse<'a> = &'a [(u32, f32)];

/// What naming the reasons of one list needs, made once for the list: the liked films (taste
/// weight above 0) with their vectors, the community weights from each of them to each pick,
/// and room to spread a pick's vector out over all features.
struct Liked<'r> {
    films: Vec<(i64, f32, Sparse<'r>)>,
    /// pick → liked film → the community weight from the liked film to the pick.
    incoming: HashMap<i64, HashMap<i64, f32>>,
    spread: Spread,
}

impl<'r> Liked<'r> {
    fn new(rec: &'r Recommender, weights: &[(i64, f32)], picks: &[i64]) -> Liked<'r> {
        let films: Vec<(i64, f32, Sparse<'r>)> = weights
            .iter()
            .filter(|(_, w)| *w > 0.0)
            .map(|(id, w)| (*id, *w, rec.vector_of(*id).unwrap_or_default()))
            .collect();
        let wanted: HashSet<i64> = picks.iter().copied().collect();
        let mut incoming: HashMap<i64, HashMap<i64, f32>> = HashMap::new();
        for (rated, _, _) in &films {
            for (other, s) in rec.community.neighbors.get(rated).into_iter().flatten() {
                if wanted.contains(other) {
                    incoming
                        .entry(*other)
                        .or_default()
                        .entry(*rated)
                        .or_insert(*s);
                }
            }
        }
        let spread = Spread::for_vectors(
            films
                .iter()
                .map(|f| f.2)
                .chain(picks.iter().filter_map(|id| rec.vector_of(*id))),
        );
        Liked {
            films,
            incoming,
            spread,
        }
    }
}

/// How many of the rated films most like a film make its content score.
const CONTENT_K: usize = 20;
/// Features shared by more films than this (genres, decades, common words) are left out of the
/// per-film content similarity: they say little about which rated film a film is closest to,
/// and they are most of the work.
const CONTENT_POSTINGS: usize = 500;

/// How much more the most recent liked rating counts than an old one (see [`taste`]).
const RECENT_BOOST: f32 = 2.0;
/// How many ratings back the recency boost of [`taste`] falls to 1/e of itself.
const RECENT_SPAN: f32 = 5.0;

/// How much the era of the user's liked films counts beside the content cosine.
const ERA: f32 = 0.3;
/// Width (standard deviation, in years) of the era kernel.
const ERA_YEARS: f32 = 3.0;
/// Years beyond which the era kernel is taken as 0.
const ERA_REACH: i32 = 12;

/// A smoothed histogram of the liked films' years, 0..1 by year.
struct Era {
    from: i32,
    table: Vec<f32>,
}

impl Era {
    fn at(&self, year: i32) -> f32 {
        usize::try_from(year - self.from)
            .ok()
            .and_then(|i| self.table.get(i))
            .copied()
            .unwrap_or(0.0)
    }
}

/// Ratings as taste weights, `ratings` oldest first: a film rated above the user's mean counts
/// for it (1, plus 0.3 per star above the mean), a film rated below counts against it (0.2 per
/// star below). Not symmetric, because choosing to watch a film already says something in its
/// favour: on the MovieLens evaluation the symmetric [`centred`] weights lost a third of the hit
/// rate with the community signal (HR@10 0.122 against 0.192, `docs/recommendations.md`).
///
/// A liked film also counts more the more recently it was rated: × (1 + [`RECENT_BOOST`] ×
/// e^(−later / [`RECENT_SPAN`])), where `later` is how many ratings came after it — the last
/// liked film three times, one fifteen ratings back about 1.1 times. Taste moves, and what
/// someone rated last says most about what they want next (validation HR@10 offline
/// 0.075 → 0.085, with the community 0.210 → 0.232; on the test users 0.053 → 0.054 and
/// 0.175 → 0.183). A rating against is not weighted by age.
pub fn taste(ratings: &[Rating]) -> Vec<(i64, f32)> {
    let last = ratings.len().saturating_sub(1);
    centred(ratings)
        .into_iter()
        .enumerate()
        .map(|(i, (id, c))| {
            let w = if c > 0.0 {
                let later = (last - i) as f32;
                (1.0 + 0.3 * c) * (1.0 + RECENT_BOOST * (-later / RECENT_SPAN).exp())
            } else {
                0.2 * c
            };
            (id, w)
        })
        .collect()
}

/// Ratings as weights: stars minus the user's mean (or minus 3 with fewer than 3 ratings or no
/// spread), so a rating below the mean pulls the profile away from that film.
pub fn centred(ratings: &[Rating]) -> Vec<(i64, f32)> {
    let n = ratings.len() as f32;
    let mean = ratings.iter().map(|r| r.1).sum::<f32>() / n.max(1.0);
    let spread = ratings.iter().any(|r| (r.1 - mean).abs() > f32::EPSILON);
    let centre = if ratings.len() >= 3 && spread {
        mean
    } else {
        3.0
    };
    ratings.iter().map(|(id, s)| (*id, s - centre)).collect()
}

/// Keeps the `k` best (highest score) entries, best first.
fn top_k<T: Copy>(items: &mut Vec<(T, f32)>, k: usize) {
    if items.len() > k {
        items.select_nth_unstable_by(k, |a, b| b.1.total_cmp(&a.1));
        items.truncate(k);
    }
    items.sort_by(|a, b| b.1.total_cmp(&a.1));
}

#[cfg(test)]
mod tests {
    use super::content::dot;
    use super::*;

    #[test]
    fn ratings_below_the_mean_count_against() {
        let w = centred(&[(1, 5.0), (2, 4.0), (3, 1.0)]);
        assert!(w[0].1 > 0.0 && w[1].1 > 0.0 && w[2].1 < 0.0, "{w:?}");
        // Too few ratings to know the user's mean: the middle of the scale is used.
        assert_eq!(centred(&[(1, 4.0)]), vec![(1, 1.0)]);
        assert_eq!(
            centred(&[(1, 2.0), (2, 2.0), (3, 2.0)]),
            vec![(1, -1.0), (2, -1.0), (3, -1.0)]
        );
    }

    #[test]
    fn taste_counts_liked_films_for_and_the_rest_against_more_weakly() {
        // Mean 3.5: the 5 and the 4 count for (the 5 more), the 3 and the 2 against (the 2 more),
        // and a rating below the mean never weighs as much as one above it.
        let w = taste(&[(1, 5.0), (2, 4.0), (3, 3.0), (4, 2.0)]);
        assert!(
            w[0].1 > w[1].1 && w[1].1 > 0.0 && w[2].1 < 0.0 && w[3].1 < w[2].1,
            "{w:?}"
        );
        assert!(w[3].1.abs() < w[1].1, "{w:?}");
        // One rating: the middle of the scale is the centre.
        assert!(taste(&[(1, 2.0)])[0].1 < 0.0 && taste(&[(1, 4.0)])[0].1 > 0.0);
    }

    #[test]
    fn taste_weighs_recent_liked_films_more_and_dislikes_alike() {
        // Oldest first: the same four stars count more the later they were given.
        let mut ratings = vec![(1, 4.0), (2, 2.0), (3, 4.0)];
        ratings.extend((10..40).map(|id| (id, 3.0)));
        ratings.extend([(4, 4.0), (5, 2.0), (6, 4.0)]);
        let w: HashMap<i64, f32> = taste(&ratings).into_iter().collect();
        assert!(w[&6] > w[&4] && w[&4] > w[&3] && w[&3] >= w[&1], "{w:?}");
        assert!(
            w[&6] > 2.5 * w[&1],
            "the latest counts about three times: {w:?}"
        );
        // A rating against weighs the same whenever it was given.
        assert!(w[&2] < 0.0 && w[&2] == w[&5], "{w:?}");
    }

    #[test]
    fn half_stars_only() {
        assert!(valid_stars(0.5) && valid_stars(3.5) && valid_stars(5.0));
        assert!(
            !valid_stars(0.0) && !valid_stars(5.5) && !valid_stars(3.3) && !valid_stars(f32::NAN)
        );
    }

    /// The diversity step as it was: every candidate's similarity to every picked film, again
    /// at each pick (k² · pool cosines).
    fn diversify_every_pick(
        rec: &Recommender,
        candidates: &[(i64, f32)],
        k: usize,
    ) -> Vec<(i64, f32)> {
        let max = candidates
            .iter()
            .map(|c| c.1)
            .fold(f32::MIN, f32::max)
            .max(1e-6);
        let mut left: Vec<(i64, f32)> = candidates.to_vec();
        let mut picked: Vec<(i64, f32)> = Vec::new();
        let lambda = rec.blend.diversity_lambda;
        while picked.len() < k && !left.is_empty() {
            let (best, _) = left
                .iter()
                .enumerate()
                .map(|(i, (id, score))| {
                    let redundancy = picked
                        .iter()
                        .filter_map(|(p, _)| Some(dot(rec.vector_of(*id)?, rec.vector_of(*p)?)))
                        .fold(0.0f32, f32::max);
                    (i, lambda * score / max - (1.0 - lambda) * redundancy)
                })
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .expect("left is not empty");
            picked.push(left.swap_remove(best));
        }
        picked
    }

    #[test]
    fn keeping_each_candidates_redundancy_picks_exactly_what_recomputing_it_did() {
        let dir = std::env::temp_dir().join(format!("mmr-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut catalog = Catalog::open(&dir.join("movietalk.sqlite3")).unwrap();
        catalog.seed_if_empty().unwrap();
        let rec = catalog.recommender().unwrap();
        let ids: Vec<i64> = rec.content.ids.clone();
        // Profiles of 1 to 20 films from across the catalog; every list length the app and the
        // CLI ask for, and one longer than the pool.
        for (n, step) in [(1, 7), (3, 11), (8, 5), (20, 3)] {
            let ratings: Vec<Rating> = ids
                .iter()
                .step_by(step)
                .take(n)
                .enumerate()
                .map(|(i, id)| (*id, if i % 4 == 3 { 2.0 } else { 4.5 }))
                .collect();
            for k in [1, 10, 12, 50, 200] {
                let mut scored = rec.score(&ratings);
                top_k(&mut scored, (k * 5).max(50));
                assert_eq!(
                    rec.diversify(&scored, k),
                    diversify_every_pick(&rec, &scored, k),
                    "{n} ratings, k = {k}"
                );
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn top_k_keeps_the_best_in_order() {
        let mut v = vec![(1, 0.1), (2, 0.9), (3, 0.5), (4, 0.7)];
        top_k(&mut v, 2);
        assert_eq!(v, vec![(2, 0.9), (4, 0.7)]);
    }
}
