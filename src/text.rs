//! Text folding for comparisons that users expect to forgive case and accents.
//!
//! ```
//! assert_eq!(kat::text::fold("Grand’Anse"), kat::text::fold("grand'anse"));
//! assert_eq!(kat::text::fold("Pétion-Ville"), "petion-ville");
//! ```

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Lower-cases, strips accents, unifies apostrophes and collapses white space.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.trim().nfd() {
        if is_combining_mark(c) {
            continue;
        }
        let c = match c {
            '\u{2019}' | '\u{2018}' | '`' | '\u{b4}' => '\'',
            c if c.is_whitespace() => ' ',
            c => c,
        };
        if c == ' ' {
            if space {
                continue;
            }
            space = true;
        } else {
            space = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}
