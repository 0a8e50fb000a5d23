//! CQL2 `LIKE` patterns: `%` any run of characters, `_` one character, `\` makes the next
//! character literal.
//!
//! Matching is the greedy two-pointer walk that returns to the last `%` on a mismatch: its cost
//! is at most the product of the pattern's and the value's lengths, never exponential, and the
//! pattern's length is bounded.
//!
//! ```
//! use kat::filter::like::Pattern;
//! let p = Pattern::parse("Port%Prince").unwrap();
//! assert!(p.matches("Port-au-Prince"));
//! assert!(!p.matches("Port-de-Paix"));
//! assert!(Pattern::parse(r"100\%").unwrap().matches("100%"));
//! ```

/// The longest pattern, in characters.
pub const MAX_PATTERN_CHARS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    One,
    Any,
}

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    tokens: Vec<Token>,
}

/// Why a pattern was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("a LIKE pattern of at most {MAX_PATTERN_CHARS} characters")]
    TooLong,
}

impl Pattern {
    pub fn parse(s: &str) -> Result<Pattern, PatternError> {
        if s.chars().count() > MAX_PATTERN_CHARS {
            return Err(PatternError::TooLong);
        }
        let mut tokens = Vec::with_capacity(s.len());
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            let t = match c {
                '%' => Token::Any,
                '_' => Token::One,
                '\\' => Token::Char(chars.next().unwrap_or('\\')),
                c => Token::Char(c),
            };
            // Runs of `%` match what one does.
            if t == Token::Any && tokens.last() == Some(&Token::Any) {
                continue;
            }
            tokens.push(t);
        }
        Ok(Pattern { tokens })
    }

    /// The pattern with each literal character passed through `f` (for CASEI and ACCENTI,
    /// applied to the value too).
    pub fn map_text(&self, f: impl Fn(&str) -> String) -> Pattern {
        let mut tokens = Vec::with_capacity(self.tokens.len());
        let mut buf = [0u8; 4];
        for t in &self.tokens {
            match t {
                Token::Char(c) => {
                    tokens.extend(f(c.encode_utf8(&mut buf)).chars().map(Token::Char))
                }
                other => tokens.push(*other),
            }
        }
        Pattern { tokens }
    }

    pub fn matches(&self, value: &str) -> bool {
        let v: Vec<char> = value.chars().collect();
        let p = &self.tokens;
        let (mut i, mut j) = (0usize, 0usize);
        let mut back: Option<(usize, usize)> = None;
        while i < v.len() {
            match p.get(j) {
                Some(Token::Any) => {
                    back = Some((j, i));
                    j += 1;
                }
                Some(Token::One) => {
                    i += 1;
                    j += 1;
                }
                Some(Token::Char(c)) if *c == v[i] => {
                    i += 1;
                    j += 1;
                }
                _ => match back {
                    Some((bj, bi)) => {
                        back = Some((bj, bi + 1));
                        j = bj + 1;
                        i = bi + 1;
                    }
                    None => return false,
                },
            }
        }
        p[j..].iter().all(|t| *t == Token::Any)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_and_escapes() {
        let m = |p: &str, v: &str| Pattern::parse(p).unwrap().matches(v);
        assert!(m("%", ""));
        assert!(m("a_c", "abc"));
        assert!(!m("a_c", "ac"));
        assert!(m("%grif%", "Gran grif"));
        assert!(!m("%grif", "Gran grif!"));
        assert!(m(r"a\_b", "a_b"));
        assert!(!m(r"a\_b", "axb"));
        assert!(m("Saint-%", "Saint-Marc"));
        assert!(m("%é%", "Pétion-Ville"));
    }

    #[test]
    fn a_pattern_of_many_wildcards_stays_quick() {
        let p = Pattern::parse(&"%a".repeat(99)).unwrap();
        let v = "a".repeat(5_000) + "b";
        let t = std::time::Instant::now();
        assert!(!p.matches(&v));
        assert!(p.matches(&"a".repeat(5_000)));
        assert!(t.elapsed().as_secs() < 2);
        assert_eq!(Pattern::parse(&"%".repeat(201)), Err(PatternError::TooLong));
    }
}
