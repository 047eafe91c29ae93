//! Typo tolerance's word list: a trigram index of the catalog's spelling terms (`spell_terms`),
//! built in memory on the first typo and kept by the catalog (`Catalog::spell`).

use std::collections::HashMap;

use crate::error::Result;
use crate::text::{edit_distance, trigrams};

/// Spelling candidates kept per typed word.
const MAX_CORRECTIONS: usize = 3;

/// Edits allowed for a word of `len` letters: 1, or 2 from 6 letters on.
fn max_edits(len: usize) -> usize {
    if len >= 6 { 2 } else { 1 }
}

/// Trigram index over the spelling terms, in memory.
#[derive(Debug)]
pub(crate) struct SpellIndex {
    /// (term, films holding it)
    terms: Vec<(String, i64)>,
    /// trigram -> indexes into `terms`
    grams: HashMap<String, Vec<u32>>,
}

impl SpellIndex {
    pub(crate) fn load(conn: &rusqlite::Connection) -> Result<Self> {
        let mut terms = Vec::new();
        let mut grams: HashMap<String, Vec<u32>> = HashMap::new();
        let mut stmt = conn.prepare("SELECT term, df FROM spell_terms")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let term: String = row.get(0)?;
            let id = terms.len() as u32;
            for g in trigrams(&term) {
                grams.entry(g).or_default().push(id);
            }
            terms.push((term, row.get(1)?));
        }
        Ok(SpellIndex { terms, grams })
    }

    /// The closest terms to `word` (edit distance 1, or 2 from 6 letters on), most common first.
    pub(crate) fn candidates(&self, word: &str) -> Vec<String> {
        let wanted = trigrams(word);
        let max = max_edits(word.chars().count());
        // One edit changes at most three trigrams.
        let need = wanted.len().saturating_sub(3 * max).max(1) as u16;
        let mut shared: HashMap<u32, u16> = HashMap::new();
        for g in &wanted {
            for id in self.grams.get(g).into_iter().flatten() {
                *shared.entry(*id).or_default() += 1;
            }
        }
        let mut scored: Vec<(usize, i64, &str)> = shared
            .into_iter()
            .filter(|(_, n)| *n >= need)
            .filter_map(|(id, _)| {
                let (term, df) = &self.terms[id as usize];
                edit_distance(word, term, max)
                    .filter(|d| *d > 0)
                    .map(|d| (d, -df, term.as_str()))
            })
            .collect();
        scored.sort();
        // Only the closest spellings: "godfater" means "godfather", not also "godfathers".
        let best = scored.first().map(|s| s.0);
        scored
            .into_iter()
            .take_while(|s| Some(s.0) == best)
            .take(MAX_CORRECTIONS)
            .map(|(_, _, t)| t.to_owned())
            .collect()
    }
}
