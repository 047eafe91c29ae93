//! The film key every client and the relay compute the same way ([`movie_key`]), and the text
//! folding it is made of (also what the app's search index is built from).

use unicode_normalization::{UnicodeNormalization, char::is_combining_mark};

/// Lowercase, accents removed, NFC.
pub fn fold(text: &str) -> String {
    text.nfkd()
        .filter(|c| !is_combining_mark(*c))
        .nfc()
        .flat_map(char::to_lowercase)
        .collect()
}

/// True for precomposed Hangul syllables (가–힣).
pub fn is_hangul(c: char) -> bool {
    ('\u{AC00}'..='\u{D7A3}').contains(&c)
}

/// One token of folded text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A run of Hangul syllables.
    Hangul(String),
    /// Any other run of alphanumeric characters.
    Word(String),
}

impl Token {
    pub fn as_str(&self) -> &str {
        match self {
            Token::Hangul(s) | Token::Word(s) => s,
        }
    }
}

/// Splits folded text into tokens; apostrophes inside words are dropped ("schindler's" →
/// "schindlers"), any other non-alphanumeric character separates tokens, and a change between
/// Hangul and other scripts starts a new token.
pub fn tokens(text: &str) -> Vec<Token> {
    let folded = fold(text);
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut cur_hangul = false;
    let flush = |cur: &mut String, hangul: bool, out: &mut Vec<Token>| {
        if !cur.is_empty() {
            let s = std::mem::take(cur);
            out.push(if hangul {
                Token::Hangul(s)
            } else {
                Token::Word(s)
            });
        }
    };
    for c in folded.chars() {
        if c == '\'' || c == '\u{2019}' {
            continue;
        }
        if c.is_alphanumeric() {
            let h = is_hangul(c);
            if !cur.is_empty() && h != cur_hangul {
                flush(&mut cur, cur_hangul, &mut out);
            }
            cur_hangul = h;
            cur.push(c);
        } else {
            flush(&mut cur, cur_hangul, &mut out);
        }
    }
    flush(&mut cur, cur_hangul, &mut out);
    out
}

/// The stable key of a film: its English title, normalised, and its year.
///
/// Every catalog source (starter catalog, Wikipedia, TMDB) has a title and a year, while no
/// external id is shared by all of them, so the key is derived from those two: accents and
/// case are folded, apostrophes dropped, any other run of non-alphanumeric characters becomes
/// one `-` (see [`tokens`]). Hangul and other scripts are kept (NFC). `The Godfather`, 1972 →
/// `the-godfather-1972`; `Amélie`, 2001 → `amelie-2001`; `Schindler's List` → `schindlers-list-1993`.
pub fn movie_key(title: &str, year: Option<i32>) -> String {
    let mut key = tokens(title)
        .iter()
        .map(Token::as_str)
        .collect::<Vec<_>>()
        .join("-");
    if key.is_empty() {
        key.push_str("untitled");
    }
    if let Some(year) = year {
        key.push('-');
        key.push_str(&year.to_string());
    }
    key
}

#[cfg(test)]
mod tests {
    use super::movie_key;

    #[test]
    fn keys_fold_case_accents_and_punctuation() {
        assert_eq!(movie_key("The Godfather", Some(1972)), "the-godfather-1972");
        assert_eq!(movie_key("Amélie", Some(2001)), "amelie-2001");
        assert_eq!(
            movie_key("Schindler's List", Some(1993)),
            "schindlers-list-1993"
        );
        assert_eq!(
            movie_key("Star Wars: Episode IV – A New Hope", Some(1977)),
            "star-wars-episode-iv-a-new-hope-1977"
        );
        assert_eq!(movie_key("  WALL·E ", Some(2008)), "wall-e-2008");
        assert_eq!(movie_key("!!!", None), "untitled");
    }

    #[test]
    fn hangul_survives_normalisation() {
        assert_eq!(movie_key("기생충", Some(2019)), "기생충-2019");
        assert_eq!(
            movie_key("올드보이 (Oldboy)", Some(2003)),
            "올드보이-oldboy-2003"
        );
    }

    #[test]
    fn keys_are_stable_for_equivalent_spellings() {
        // Precomposed and decomposed é give the same key.
        assert_eq!(
            movie_key("Am\u{e9}lie", Some(2001)),
            movie_key("Ame\u{301}lie", Some(2001))
        );
        assert_eq!(
            movie_key("Schindler\u{2019}s List", Some(1993)),
            movie_key("Schindler's List", Some(1993))
        );
    }
}
