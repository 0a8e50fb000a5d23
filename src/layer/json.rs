//! Scanning JSON text by its bytes: the one place the loader reads JSON without serde.
//!
//! Two kinds of scan. The plain functions ([`skip_whitespace`], [`string_end`],
//! [`nested_end`], [`value_end`]) find where a value ends in text that serde_json has
//! validated, or will validate: they trust it. The [`Validator`] checks every byte as
//! serde_json would, and gives up (None) on anything it does not handle exactly as serde_json
//! does, which then decides and words the error.
//!
//! ```
//! use kat::layer::json::{value_end, Validator};
//! let text = r#"{"a":[1,"]"],"b":null} tail"#;
//! assert_eq!(value_end(text.as_bytes(), 0), Some(22));
//! let v = Validator { text, t: text.as_bytes() };
//! assert_eq!(v.value(0, 0), Some(22));
//! assert_eq!(v.value(1, 0), Some(4));
//! assert!(v.number(0).is_none());
//! ```

use super::store::bytes_equal;

/// The members of an object that a [`Validator::object`] scan picks out: the value of each
/// wanted name goes to its slot in `values`, and every member's span (from its key's opening
/// quote to the end of its value) to `spans`.
pub struct WantedMembers<'w, 'a> {
    pub names: &'w [&'w str],
    pub values: &'w mut Vec<Option<&'a str>>,
    pub spans: &'w mut Vec<(usize, usize)>,
}

/// Whether `b` is JSON whitespace.
#[inline]
pub fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\n' | b'\r' | b'\t')
}

/// The position of the first byte at or after `i` that is neither whitespace nor a comma:
/// the next element between two elements of an array.
pub fn skip_separators(t: &[u8], mut i: usize) -> usize {
    while i < t.len() && (is_whitespace(t[i]) || t[i] == b',') {
        i += 1;
    }
    i
}

/// The position of the first byte at or after `i` that is not whitespace.
#[inline]
pub fn skip_whitespace(t: &[u8], mut i: usize) -> usize {
    while i < t.len() && is_whitespace(t[i]) {
        i += 1;
    }
    i
}

/// `i` just after an opening quote: the position after the closing one. Most strings of
/// a feature are short: a plain loop finds their end before a vector search would start.
#[inline]
pub fn string_end(t: &[u8], mut i: usize) -> Option<usize> {
    let short = (i + 24).min(t.len());
    while i < short {
        match t[i] {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    loop {
        i += memchr::memchr2(b'"', b'\\', t.get(i..)?)?;
        if t[i] == b'"' {
            return Some(i + 1);
        }
        i += 2;
    }
}

/// `t[i]` is `{` or `[`: the position after the bracket that closes it.
pub fn nested_end(t: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    while i < t.len() {
        match t[i] {
            b'"' => {
                i = string_end(t, i + 1)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The end of the value starting at `t[i]`: a string, an object or array, or a literal or
/// number up to the next separator.
pub fn value_end(t: &[u8], i: usize) -> Option<usize> {
    match *t.get(i)? {
        b'"' => string_end(t, i + 1),
        b'{' | b'[' => nested_end(t, i),
        _ => {
            let mut j = i;
            while j < t.len() && !matches!(t[j], b',' | b'}' | b']') && !is_whitespace(t[j]) {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// The position of the first member of the object that `t` holds at `i` (after any
/// whitespace): the byte after its `{` and whitespace.
pub fn object_start(t: &[u8], i: usize) -> Option<usize> {
    let i = skip_whitespace(t, i);
    (t.get(i) == Some(&b'{')).then(|| skip_whitespace(t, i + 1))
}

/// The member whose name starts at `t[i]` (its opening quote): the name's bytes as written
/// (escapes and all), and where its value starts, after the colon and any whitespace.
pub fn member_name(t: &[u8], i: usize) -> Option<(&[u8], usize)> {
    if t.get(i) != Some(&b'"') {
        return None;
    }
    let end = string_end(t, i + 1)?;
    let colon = skip_whitespace(t, end);
    if t.get(colon) != Some(&b':') {
        return None;
    }
    Some((&t[i + 1..end - 1], skip_whitespace(t, colon + 1)))
}

/// What follows a member's value.
#[derive(Debug, PartialEq)]
pub enum AfterMember {
    /// A comma: the next member's name starts here.
    Next(usize),
    /// The object's `}`: the position after it.
    Close(usize),
}

/// What follows the member value that ends at `end`; None for anything but a comma or the
/// object's end.
pub fn after_member(t: &[u8], end: usize) -> Option<AfterMember> {
    let i = skip_whitespace(t, end);
    match t.get(i)? {
        b',' => Some(AfterMember::Next(skip_whitespace(t, i + 1))),
        b'}' => Some(AfterMember::Close(i + 1)),
        _ => None,
    }
}

/// Deeper nesting is left to serde_json (whose own limit is 128).
const MAX_DEPTH: usize = 100;

/// A mask whose lowest set bit falls in the first byte of `w` (little-endian) that is a
/// quote, a backslash or below 0x20; 0 when there is none. Higher bits may be spurious, the
/// lowest is exact: a borrow only runs upward from a byte that really matches.
#[inline]
fn special(w: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    zero(w ^ (ONES * u64::from(b'"')))
        | zero(w ^ (ONES * u64::from(b'\\')))
        | (w.wrapping_sub(ONES * 0x20) & !w & HIGH)
}

/// A bit for a member name, from its length and first byte: names with different bits
/// differ.
#[inline]
fn sieve_bit(name: &[u8]) -> u64 {
    let first = name.first().copied().unwrap_or(0) as usize;
    1 << ((name.len() * 7 + first) % 64)
}

/// A validating scan of JSON text: each method checks the value at a position exactly as
/// serde_json would accept it, and gives the position after it; None for anything else.
pub struct Validator<'a> {
    pub text: &'a str,
    pub t: &'a [u8],
}

impl<'a> Validator<'a> {
    #[inline]
    pub fn skip_whitespace(&self, i: usize) -> usize {
        skip_whitespace(self.t, i)
    }

    /// `t[i]` is the opening quote: the position after the closing one.
    #[inline]
    pub fn string(&self, mut i: usize) -> Option<usize> {
        let t = self.t;
        i += 1;
        loop {
            // Eight bytes at a time up to the first quote, backslash or control character.
            while let Some(word) = t.get(i..i + 8) {
                let m = special(u64::from_le_bytes(word.try_into().ok()?));
                if m != 0 {
                    i += (m.trailing_zeros() / 8) as usize;
                    break;
                }
                i += 8;
            }
            match *t.get(i)? {
                b'"' => return Some(i + 1),
                b'\\' => match t.get(i + 1)? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 2,
                    b'u' => i = self.unicode(i)?,
                    _ => return None,
                },
                0..=0x1F => return None,
                _ => i += 1,
            }
        }
    }

    /// `t[i..]` is `\\u` and four hex digits: the position after the escape, or after the
    /// pair when it is a high surrogate followed by a low one. A lone surrogate (which
    /// serde_json refuses) is left to serde_json to word.
    #[inline]
    pub fn unicode(&self, i: usize) -> Option<usize> {
        let hex = |at: usize| -> Option<u32> {
            let digits = self.t.get(at..at + 4)?;
            let mut v = 0;
            for d in digits {
                v = v * 16 + char::from(*d).to_digit(16)?;
            }
            Some(v)
        };
        match hex(i + 2)? {
            0xD800..=0xDBFF => {
                if self.t.get(i + 6..i + 8)? != b"\\u" {
                    return None;
                }
                matches!(hex(i + 8)?, 0xDC00..=0xDFFF).then_some(i + 12)
            }
            0xDC00..=0xDFFF => None,
            _ => Some(i + 6),
        }
    }

    /// A member name without escapes (its bytes), and the position after it. In a name
    /// without escapes the first special byte is the closing quote: one scan decides both.
    #[inline]
    pub fn key(&self, i: usize) -> Option<(&'a [u8], usize)> {
        let t = self.t;
        if t.get(i) != Some(&b'"') {
            return None;
        }
        let mut j = i + 1;
        while let Some(word) = t.get(j..j + 8) {
            let m = special(u64::from_le_bytes(word.try_into().ok()?));
            if m != 0 {
                j += (m.trailing_zeros() / 8) as usize;
                break;
            }
            j += 8;
        }
        loop {
            match *t.get(j)? {
                b'"' => return Some((&t[i + 1..j], j + 1)),
                b'\\' | 0..=0x1F => return None,
                _ => j += 1,
            }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    pub fn number(&self, mut i: usize) -> Option<usize> {
        let t = self.t;
        let digits = |mut j: usize| {
            let from = j;
            while j < t.len() && t[j].is_ascii_digit() {
                j += 1;
            }
            (j > from).then_some(j)
        };
        if t.get(i) == Some(&b'-') {
            i += 1;
        }
        i = match t.get(i)? {
            b'0' => i + 1,
            b'1'..=b'9' => digits(i)?,
            _ => return None,
        };
        if t.get(i) == Some(&b'.') {
            i = digits(i + 1)?;
        }
        if matches!(t.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(t.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            i = digits(i)?;
        }
        Some(i)
    }

    pub fn value(&self, i: usize, depth: usize) -> Option<usize> {
        let t = self.t;
        match *t.get(i)? {
            b'"' => self.string(i),
            b'{' => self.object(i, depth + 1, None),
            b'[' => self.array(i, depth + 1),
            b't' => t[i..].starts_with(b"true").then_some(i + 4),
            b'f' => t[i..].starts_with(b"false").then_some(i + 5),
            b'n' => t[i..].starts_with(b"null").then_some(i + 4),
            b'-' | b'0'..=b'9' => self.number(i),
            _ => None,
        }
    }

    /// An object at `t[i]`; with `pick`, the values of the wanted members go to their slots
    /// and every member's span to the list.
    pub fn object(
        &self,
        i: usize,
        depth: usize,
        mut pick: Option<WantedMembers<'_, 'a>>,
    ) -> Option<usize> {
        if depth > MAX_DEPTH {
            return None;
        }
        let t = self.t;
        let mut i = self.skip_whitespace(i + 1);
        if t.get(i) == Some(&b'}') {
            return Some(i + 1);
        }
        // The wanted names' lengths and first bytes, as bits: most members are not wanted,
        // and one test tells most of them apart from every wanted name.
        let sieve = pick
            .as_ref()
            .map_or(0, |WantedMembers { names: wanted, .. }| {
                wanted.iter().fold(0, |m, w| m | sieve_bit(w.as_bytes()))
            });
        loop {
            let from = i;
            let (key, after) = self.key(i)?;
            i = self.skip_whitespace(after);
            if t.get(i) != Some(&b':') {
                return None;
            }
            let v = self.skip_whitespace(i + 1);
            let end = self.value(v, depth)?;
            if let Some(WantedMembers {
                names: wanted,
                values: slots,
                spans,
            }) = pick.as_mut()
            {
                spans.push((from, end));
                // A property may be wanted twice (required and a queryable): both slots.
                if sieve & sieve_bit(key) != 0 {
                    for (slot, w) in slots.iter_mut().zip(wanted.iter()) {
                        // Inlined: names that share a length and a first byte (`event_date`,
                        // `event_type`) meet for every member of every feature.
                        if bytes_equal(w.as_bytes(), key) {
                            // A value starts and ends on ASCII bytes, so on characters.
                            *slot = Some(self.text.get(v..end)?);
                        }
                    }
                }
            }
            i = self.skip_whitespace(end);
            match t.get(i) {
                Some(b',') => i = self.skip_whitespace(i + 1),
                Some(b'}') => return Some(i + 1),
                _ => return None,
            }
        }
    }

    pub fn array(&self, i: usize, depth: usize) -> Option<usize> {
        if depth > MAX_DEPTH {
            return None;
        }
        let t = self.t;
        let mut i = self.skip_whitespace(i + 1);
        if t.get(i) == Some(&b']') {
            return Some(i + 1);
        }
        loop {
            let end = self.value(i, depth)?;
            i = self.skip_whitespace(end);
            match t.get(i) {
                Some(b',') => i = self.skip_whitespace(i + 1),
                Some(b']') => return Some(i + 1),
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_word_scan_finds_the_first_special_byte() {
        for at in 0..8 {
            for b in [b'"', b'\\', 0x00, 0x1F, b'\n'] {
                let mut w = *b"abcdefgh";
                w[at] = b;
                // Later bytes that also match do not move the answer.
                if at < 7 {
                    w[7] = b'"';
                }
                let m = special(u64::from_le_bytes(w));
                assert_eq!(m.trailing_zeros() / 8, at as u32, "{w:?}");
            }
        }
        assert_eq!(special(u64::from_le_bytes(*b"plain\xc3\xa9!")), 0);
        assert_eq!(
            special(u64::from_le_bytes([
                0x20, 0x7F, 0x80, 0xFF, b'#', b']', b'[', b'}'
            ])),
            0
        );
    }
}
