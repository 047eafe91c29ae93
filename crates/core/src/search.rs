//! Ranked search over the local catalog: SQLite FTS5 with BM25, prefix matching as the user
//! types, typo tolerance through a trigram spelling index, Korean partial-word matching through
//! Hangul bigrams, filters and sorts, and a flagged fallback when nothing matches.
//!
//! A query is planned into an FTS5 expression one word at a time:
//! - a Hangul word becomes the phrase of its syllable bigrams (`기생` matches `기생충`); one
//!   syllable becomes a prefix;
//! - the last word, while the user is still typing it (no trailing space), is a prefix;
//! - a word of 4+ letters that no indexed term equals or starts with is a typo candidate: it is
//!   OR-ed with the closest title and people terms (edit distance 1, or 2 from 6 letters on).
//!
//! All words must match; when that finds nothing and there are several words, any word may
//! match (ranked by BM25, so the best partial matches come first). When even that finds
//! nothing, popular films are returned instead and [`SearchResults::fallback`] says so.
//! The best BM25 candidates are re-ranked so that a film whose title is exactly the query (or
//! starts with it) comes first.

use rusqlite::params_from_iter;
use rusqlite::types::Value;

use crate::catalog::{Catalog, MIN_SPELL_TERM, MOVIE_COLUMNS, row_to_movie_at};
use crate::error::{CoreError, Result};
use crate::movie::Movie;
use crate::spell::SpellIndex;
use crate::text::{Token, hangul_bigrams, tokens};

/// A search candidate: (title tier, bm25, id, popularity, year).
type Scored = (u8, f64, i64, Option<f64>, Option<i32>);

pub use movietalk_protocol::ipc::Sort;

/// A search or browse request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SearchQuery {
    /// What the user typed; empty to browse.
    pub text: String,
    /// Only films with this genre.
    pub genre: Option<String>,
    /// Only films released in this range of years (inclusive).
    pub years: Option<(i32, i32)>,
    pub sort: Sort,
    pub limit: u32,
    pub offset: u32,
}

impl SearchQuery {
    pub fn text(text: impl Into<String>) -> Self {
        SearchQuery {
            text: text.into(),
            limit: 20,
            ..Default::default()
        }
    }
}

/// Why the results are not matches for the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// Nothing matched; these are the most popular films (within the filters).
    Popular,
}

/// A word of the query that was also matched as a likely intended word.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Correction {
    pub typed: String,
    pub suggested: String,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SearchResults {
    pub movies: Vec<Movie>,
    /// Films matching in all (the page may hold fewer).
    pub total: u64,
    /// False when no film held every word and films holding some of them are shown.
    pub matched_all_words: bool,
    /// Typo corrections that were searched for alongside what was typed.
    pub corrections: Vec<Correction>,
    /// Set when nothing matched and these are other films instead.
    pub fallback: Option<Fallback>,
}

/// Largest page a caller may ask for.
pub const MAX_LIMIT: u32 = 500;
/// How many BM25 candidates are re-ranked for relevance order.
const RERANK_POOL: u32 = 200;
/// BM25 weights of the indexed columns: titles, people, genres, overview.
const BM25: &str = "bm25(movie_fts, 10.0, 4.0, 2.0, 1.0)";
/// English words too common to narrow a search; left out of the match when the query has
/// other words.
const STOP_WORDS: &[&str] = &[
    "the", "a", "an", "of", "and", "in", "on", "to", "at", "for", "by", "with", "from", "is",
];

/// The FTS5 expression for a query, and what it corrected.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Plan {
    /// One FTS5 sub-expression per query word.
    words: Vec<String>,
    corrections: Vec<Correction>,
    /// The folded query words, with corrections applied, for title re-ranking.
    folded: Vec<String>,
    /// The last word is still being typed, so it matches as a prefix.
    prefix_last: bool,
}

fn quote(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

impl Catalog {
    /// Searches (or, for an empty `text`, browses) the catalog.
    pub fn search(&self, q: &SearchQuery) -> Result<SearchResults> {
        if q.limit == 0 || q.limit > MAX_LIMIT {
            return Err(CoreError::InvalidInput(format!(
                "limit must be between 1 and {MAX_LIMIT}"
            )));
        }
        if let Some((a, b)) = q.years
            && a > b
        {
            return Err(CoreError::InvalidInput(format!(
                "year range {a}..{b} is empty"
            )));
        }
        let plan = self.plan(&q.text)?;
        if plan.words.is_empty() {
            let (movies, total) = self.browse(q)?;
            return Ok(SearchResults {
                movies,
                total,
                matched_all_words: true,
                corrections: vec![],
                fallback: None,
            });
        }
        let all = plan.words.join(" AND ");
        let (movies, total) = self.ranked(&all, &plan, q)?;
        if total > 0 {
            return Ok(SearchResults {
                movies,
                total,
                matched_all_words: true,
                corrections: plan.corrections,
                fallback: None,
            });
        }
        if plan.words.len() > 1 {
            let any = plan.words.join(" OR ");
            let (movies, total) = self.ranked(&any, &plan, q)?;
            if total > 0 {
                return Ok(SearchResults {
                    movies,
                    total,
                    matched_all_words: false,
                    corrections: plan.corrections,
                    fallback: None,
                });
            }
        }
        let popular = SearchQuery {
            text: String::new(),
            sort: Sort::Popularity,
            ..q.clone()
        };
        let (movies, total) = self.browse(&popular)?;
        Ok(SearchResults {
            movies,
            total,
            matched_all_words: false,
            corrections: plan.corrections,
            fallback: Some(Fallback::Popular),
        })
    }

    /// Turns the typed text into FTS5 sub-expressions, one per word.
    fn plan(&self, text: &str) -> Result<Plan> {
        let toks = tokens(text);
        let typing_last = !text.ends_with(char::is_whitespace);
        let has_content = toks.iter().any(|t| !STOP_WORDS.contains(&t.as_str()));
        let mut plan = Plan {
            words: vec![],
            corrections: vec![],
            folded: vec![],
            prefix_last: false,
        };
        for (i, token) in toks.iter().enumerate() {
            let is_last = i + 1 == toks.len();
            match token {
                Token::Hangul(run) => {
                    let expr = if run.chars().count() == 1 {
                        format!("{}*", quote(run))
                    } else {
                        quote(&hangul_bigrams(run).join(" "))
                    };
                    plan.words.push(expr);
                    plan.folded.push(run.clone());
                }
                Token::Word(word)
                    if !(is_last && typing_last)
                        && STOP_WORDS.contains(&word.as_str())
                        && has_content =>
                {
                    // Matching "the" and "of" adds nothing but work: every other film has them.
                    // They still count when re-ranking titles.
                    plan.folded.push(word.clone());
                }
                Token::Word(word) => {
                    let prefix = is_last && typing_last && word.chars().count() >= 2;
                    plan.prefix_last = prefix;
                    let base = if prefix {
                        format!("{}*", quote(word))
                    } else {
                        quote(word)
                    };
                    let mut folded = word.clone();
                    let mut alternatives = vec![base];
                    if word.chars().count() >= MIN_SPELL_TERM && !self.term_known(word, prefix)? {
                        let candidates = self.spelling_candidates(word)?;
                        if let Some(best) = candidates.first() {
                            plan.corrections.push(Correction {
                                typed: word.clone(),
                                suggested: best.clone(),
                            });
                            folded = best.clone();
                        }
                        alternatives.extend(candidates.iter().map(|c| quote(c)));
                    }
                    plan.words.push(if alternatives.len() == 1 {
                        alternatives.pop().expect("one alternative")
                    } else {
                        format!("({})", alternatives.join(" OR "))
                    });
                    plan.folded.push(folded);
                }
            }
        }
        Ok(plan)
    }

    /// True when some indexed term equals `word` (or, for a prefix, starts with it).
    fn term_known(&self, word: &str, prefix: bool) -> Result<bool> {
        let found = if prefix {
            let mut upper = word.to_owned();
            upper.push(char::MAX);
            self.conn
                .prepare_cached(
                    "SELECT 1 FROM movie_fts_vocab WHERE term >= ?1 AND term < ?2 LIMIT 1",
                )?
                .exists(rusqlite::params![word, upper])?
        } else {
            self.conn
                .prepare_cached("SELECT 1 FROM movie_fts_vocab WHERE term = ?1")?
                .exists([word])?
        };
        Ok(found)
    }

    /// Title and people terms within a few edits of `word`, closest and most common first.
    fn spelling_candidates(&self, word: &str) -> Result<Vec<String>> {
        let index = match self.spell.get() {
            Some(index) => index,
            None => {
                let index = SpellIndex::load(&self.conn)?;
                self.spell.get_or_init(|| index)
            }
        };
        Ok(index.candidates(word))
    }

    /// The SQL filter clauses and their parameters for genre and years.
    fn filters(q: &SearchQuery) -> (String, Vec<Value>) {
        let mut sql = String::new();
        let mut params = Vec::new();
        if let Some(genre) = &q.genre {
            sql.push_str(" AND EXISTS (SELECT 1 FROM movie_genres g WHERE g.movie_id = m.id AND g.genre = ?)");
            params.push(Value::Text(genre.clone()));
        }
        if let Some((a, b)) = q.years {
            sql.push_str(" AND m.year BETWEEN ? AND ?");
            params.push(Value::Integer(a.into()));
            params.push(Value::Integer(b.into()));
        }
        (sql, params)
    }

    fn order_by(sort: Sort) -> &'static str {
        match sort {
            Sort::Relevance | Sort::Popularity => {
                "coalesce(m.popularity, 0) DESC, m.year DESC, m.title"
            }
            Sort::Newest => "m.year DESC, m.title",
            Sort::Oldest => "m.year IS NULL, m.year ASC, m.title",
            Sort::Title => "m.title COLLATE NOCASE, m.year",
        }
    }

    /// Films matching the filters only.
    fn browse(&self, q: &SearchQuery) -> Result<(Vec<Movie>, u64)> {
        let (filter, params) = Self::filters(q);
        let total: u64 = self
            .conn
            .prepare_cached(&format!("SELECT count(*) FROM movies m WHERE 1{filter}"))?
            .query_row(params_from_iter(&params), |r| r.get(0))?;
        let sql = format!(
            "SELECT {MOVIE_COLUMNS} FROM movies m WHERE 1{filter} ORDER BY {} LIMIT {} OFFSET {}",
            Self::order_by(q.sort),
            q.limit,
            q.offset
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let movies = stmt
            .query_map(params_from_iter(&params), |r| row_to_movie_at(r, 0))?
            .collect::<rusqlite::Result<_>>()?;
        Ok((movies, total))
    }

    /// Films matching the FTS5 expression `expr` and the filters, one page in `q.sort` order.
    fn ranked(&self, expr: &str, plan: &Plan, q: &SearchQuery) -> Result<(Vec<Movie>, u64)> {
        let (filter, filter_params) = Self::filters(q);
        let mut params = vec![Value::Text(expr.to_owned())];
        params.extend(filter_params);
        let total: u64 = self
            .conn
            .prepare_cached(&format!(
                "SELECT count(*) FROM movie_fts JOIN movies m ON m.id = movie_fts.rowid WHERE movie_fts MATCH ?{filter}"
            ))?
            .query_row(params_from_iter(&params), |r| r.get(0))?;
        if total == 0 {
            return Ok((vec![], 0));
        }
        if q.sort != Sort::Relevance {
            let sql = format!(
                "SELECT {MOVIE_COLUMNS} FROM movie_fts JOIN movies m ON m.id = movie_fts.rowid
                 WHERE movie_fts MATCH ?{filter} ORDER BY {} LIMIT {} OFFSET {}",
                Self::order_by(q.sort),
                q.limit,
                q.offset
            );
            let mut stmt = self.conn.prepare_cached(&sql)?;
            let movies = stmt
                .query_map(params_from_iter(&params), |r| row_to_movie_at(r, 0))?
                .collect::<rusqlite::Result<_>>()?;
            return Ok((movies, total));
        }
        // Re-rank the best BM25 candidates on their titles alone, then read the page in full.
        let pool = RERANK_POOL.max(q.offset + q.limit);
        let sql = format!(
            "SELECT m.id, {BM25} AS score, m.title, m.title_ko, m.original_title, m.popularity, m.year
             FROM movie_fts JOIN movies m ON m.id = movie_fts.rowid
             WHERE movie_fts MATCH ?{filter} ORDER BY score LIMIT {pool}"
        );
        let mut stmt = self.conn.prepare_cached(&sql)?;
        // (title tier, bm25, id, popularity, year): the title tier decides first, then BM25
        // (lower is better), then popularity, then the older film.
        let mut scored: Vec<Scored> = stmt
            .query_map(params_from_iter(&params), |r| {
                let titles: [Option<String>; 3] = [r.get(2)?, r.get(3)?, r.get(4)?];
                let tier = title_tier(&plan.folded, plan.prefix_last, titles.iter().flatten());
                Ok((tier, r.get(1)?, r.get(0)?, r.get(5)?, r.get(6)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        scored.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then_with(|| a.1.total_cmp(&b.1))
                .then_with(|| b.3.unwrap_or(0.0).total_cmp(&a.3.unwrap_or(0.0)))
                .then_with(|| a.4.cmp(&b.4))
        });
        let page: Vec<i64> = scored
            .into_iter()
            .skip(q.offset as usize)
            .take(q.limit as usize)
            .map(|s| s.2)
            .collect();
        let mut fetch = self.conn.prepare_cached(&format!(
            "SELECT {MOVIE_COLUMNS} FROM movies m WHERE m.id = ?1"
        ))?;
        let movies = page
            .iter()
            .map(|id| fetch.query_row([id], |r| row_to_movie_at(r, 0)))
            .collect::<rusqlite::Result<_>>()?;
        Ok((movies, total))
    }
}

/// How well a film's titles agree with the query words, best first: 5 when one of its titles is
/// exactly the query; 4 when it is once a leading article is ignored on either side
/// ("godfather" and "The Godfather"); 3 when it is up to a last word still being typed; 2 when
/// it starts with the query; 1 when it holds every query word; 0 otherwise. A film in a higher
/// tier always ranks first: someone who types a title means that film.
fn title_tier<'a>(
    query: &[String],
    prefix_last: bool,
    titles: impl Iterator<Item = &'a String>,
) -> u8 {
    let bare_query = strip_article(query);
    let mut best = 0;
    for title in titles {
        let all: Vec<String> = tokens(title)
            .into_iter()
            .map(|t| t.as_str().to_owned())
            .collect();
        let bare = strip_article(&all);
        let typed = |words: &[String], query: &[String]| {
            words.len() >= query.len()
                && query.iter().zip(words).enumerate().all(|(i, (q, w))| {
                    q == w || (prefix_last && i + 1 == query.len() && w.starts_with(q.as_str()))
                })
        };
        let tier = if all == query {
            5
        } else if bare == bare_query {
            4
        } else if bare.len() == bare_query.len() && typed(bare, bare_query) {
            3
        } else if typed(bare, bare_query) {
            2
        } else if bare_query
            .iter()
            .all(|q| bare.iter().any(|w| w.contains(q.as_str())))
        {
            1
        } else {
            0
        };
        best = best.max(tier);
    }
    best
}

fn strip_article(words: &[String]) -> &[String] {
    match words.first().map(String::as_str) {
        Some("the" | "a" | "an") if words.len() > 1 => &words[1..],
        _ => words,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    fn tier(query: &str, prefix: bool, title: &str) -> u8 {
        title_tier(&words(query), prefix, std::iter::once(&title.to_owned()))
    }

    #[test]
    fn title_tiers_rank_exact_over_article_over_typing_over_leading_over_containing() {
        assert_eq!(tier("the godfather", false, "The Godfather"), 5);
        assert_eq!(tier("godfather", false, "The Godfather"), 4);
        assert_eq!(tier("back to the futur", true, "Back to the Future"), 3);
        assert_eq!(
            tier("back to the futur", true, "Back to the Future Part II"),
            2
        );
        assert_eq!(
            tier("back to the futur", false, "Back to the Future"),
            1,
            "a finished word only counts as contained"
        );
        assert_eq!(tier("godfather", false, "The Godfather Part II"), 2);
        assert_eq!(tier("godfather", false, "Disco Godfather"), 1);
        assert_eq!(tier("alien", false, "Aliens"), 1);
        assert_eq!(tier("heat", false, "Casablanca"), 0);
    }

    #[test]
    fn the_planner_quotes_prefixes_bigrams_and_leaves_out_stop_words() {
        let catalog = Catalog::open_in_memory().unwrap();
        let plan = catalog.plan("the god").unwrap();
        assert_eq!(plan.words, [r#""god"*"#]);
        assert_eq!(plan.folded, ["the", "god"]);
        assert!(plan.prefix_last);
        let plan = catalog.plan("기생충 ").unwrap();
        assert_eq!(plan.words, [r#""기생 생충""#]);
        assert!(!plan.prefix_last);
        assert_eq!(catalog.plan("봄").unwrap().words, [r#""봄"*"#]);
        assert_eq!(
            catalog.plan("the").unwrap().words,
            [r#""the"*"#],
            "a query of stop words only still searches"
        );
        assert_eq!(
            catalog.plan(r#"say "hi""#).unwrap().words,
            [r#""say""#, r#""hi"*"#],
            "quotes cannot break out"
        );
    }
}
