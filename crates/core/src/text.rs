//! Text folding and tokenising shared by the movie key, the search index and queries.
//!
//! Folding matches SQLite FTS5's `unicode61 remove_diacritics 2` tokenizer closely enough that
//! the terms we compute in Rust (for the spelling index) are the terms FTS5 stores: NFKD,
//! combining marks dropped, lowercase, NFC again (so Hangul syllables recompose); a token is a
//! run of alphanumeric characters.
//!
//! Hangul is written without spaces between a noun and its particles, and people search by
//! part of a word ("기생" for "기생충"), so Hangul runs are also indexed as overlapping
//! syllable bigrams: "기생충" → "기생 생충". A query word becomes the phrase of its bigrams,
//! which matches exactly the texts that contain it as a substring.

pub use movietalk_protocol::film_key::{Token, fold, is_hangul, tokens};

/// Overlapping syllable bigrams of a Hangul run ("기생충" → ["기생", "생충"]); a single
/// syllable yields itself.
pub fn hangul_bigrams(run: &str) -> Vec<String> {
    let chars: Vec<char> = run.chars().collect();
    if chars.len() < 2 {
        return vec![run.to_owned()];
    }
    chars.windows(2).map(|w| w.iter().collect()).collect()
}

/// The text FTS5 indexes for a field: the folded tokens, with every Hangul run followed by its
/// bigrams so that partial Korean words match.
pub fn index_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for token in tokens(text) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(token.as_str());
        if let Token::Hangul(run) = &token
            && run.chars().count() > 2
        {
            for gram in hangul_bigrams(run) {
                out.push(' ');
                out.push_str(&gram);
            }
        }
    }
    out
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions), giving up
/// early once it exceeds `max`: returns `None` when the distance is larger than `max`.
pub fn edit_distance(a: &str, b: &str, max: usize) -> Option<usize> {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let w = b.len() + 1;
    let mut prev2 = vec![0usize; w];
    let mut prev: Vec<usize> = (0..w).collect();
    let mut cur = vec![0usize; w];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
            row_min = row_min.min(d);
        }
        if row_min > max {
            return None;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    let d = prev[b.len()];
    (d <= max).then_some(d)
}

/// Character trigrams of a term padded with `^` and `$`, for finding spelling candidates.
pub fn trigrams(term: &str) -> Vec<String> {
    let chars: Vec<char> = std::iter::once('^')
        .chain(term.chars())
        .chain(std::iter::once('$'))
        .collect();
    let mut grams: Vec<String> = chars.windows(3).map(|w| w.iter().collect()).collect();
    grams.sort();
    grams.dedup();
    grams
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_fold_and_split_scripts() {
        let t: Vec<String> = tokens("Amélie's CAFÉ — 기생충(Parasite) 2019")
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect();
        assert_eq!(t, ["amelies", "cafe", "기생충", "parasite", "2019"]);
        assert_eq!(
            tokens("올드보이2"),
            vec![Token::Hangul("올드보이".into()), Token::Word("2".into())]
        );
    }

    #[test]
    fn hangul_is_indexed_with_bigrams() {
        assert_eq!(hangul_bigrams("기생충"), ["기생", "생충"]);
        assert_eq!(hangul_bigrams("봄"), ["봄"]);
        assert_eq!(index_text("기생충 The Host"), "기생충 기생 생충 the host");
        assert_eq!(
            index_text("괴물"),
            "괴물",
            "a two-syllable word is its own bigram"
        );
    }

    #[test]
    fn edit_distance_counts_transpositions_once_and_gives_up_past_max() {
        assert_eq!(edit_distance("godfater", "godfather", 2), Some(1));
        assert_eq!(edit_distance("redemtion", "redemption", 2), Some(1));
        assert_eq!(edit_distance("teh", "the", 1), Some(1));
        assert_eq!(edit_distance("kitten", "sitting", 2), None);
        assert_eq!(edit_distance("kitten", "sitting", 3), Some(3));
        assert_eq!(edit_distance("", "abc", 3), Some(3));
        assert_eq!(edit_distance("abc", "abcdef", 2), None);
    }

    #[test]
    fn trigrams_are_padded_and_unique() {
        assert_eq!(trigrams("aaaa"), ["^aa", "aa$", "aaa"]);
        assert_eq!(trigrams("god"), ["^go", "god", "od$"]);
    }
}
