//! One validating pass over a feature's JSON that also finds what loading needs: the
//! feature's `type`, `id`, `geometry` and `properties`, and the wanted members of
//! `properties`.
//!
//! Every byte Kat serves must be valid JSON, so each feature is checked whole. serde_json did
//! that in one pass and a byte scan then looked for the filter values in a second; this scan
//! does both at once. It is deliberately narrow: it answers `None` for anything it does not
//! handle exactly as serde_json would (a lone surrogate `\u` escape, a key with an escape, a duplicate member
//! of the feature, deep nesting, any malformed text), and the loader then takes the serde_json
//! path, which decides and words the error.
//!
//! ```
//! use kat::layer::onepass::feature;
//! let f = r#"{"type":"Feature","id":"a","geometry":null,"properties":{"n":1,"s":"x"}}"#;
//! let top = feature(f, &["s", "missing"]).unwrap();
//! assert_eq!(top.kind, "Feature");
//! assert_eq!(top.id, Some(r#""a""#));
//! assert_eq!(top.picked, vec![Some(r#""x""#), None]);
//! assert!(feature(r#"{"type":"Feature","properties":{"n":01}}"#, &[]).is_none());
//! ```

use super::store::bytes_equal;

/// Deeper nesting is left to serde_json (whose own limit is 128).
const MAX_DEPTH: usize = 100;

/// What [`feature`] found, as slices of the feature's text.
#[derive(Debug, PartialEq)]
pub struct FeatureMembers<'a> {
    /// The text of `type`'s string.
    pub kind: &'a str,
    /// The raw values of `id`, `geometry` and `properties`; None when absent or `null`.
    pub id: Option<&'a str>,
    pub geometry: Option<&'a str>,
    pub properties: Option<&'a str>,
    /// The raw value of each wanted property, in the order asked.
    pub picked: Vec<Option<&'a str>>,
}

/// Checks `text` as one JSON object and finds its members; None to leave it to serde_json.
pub fn feature<'a>(text: &'a str, wanted: &[&str]) -> Option<FeatureMembers<'a>> {
    feature_members(text, wanted, &mut Vec::new())
}

/// [`feature`], also listing where each member of `properties` lies in `text` (from its key's
/// opening quote to the end of its value), in order, into `members` (cleared first).
pub fn feature_members<'a>(
    text: &'a str,
    wanted: &[&str],
    members: &mut Vec<(usize, usize)>,
) -> Option<FeatureMembers<'a>> {
    let (top, end) = object_members(text, wanted, members)?;
    let t = text.as_bytes();
    let mut i = end;
    while i < t.len() && matches!(t[i], b' ' | b'\n' | b'\r' | b'\t') {
        i += 1;
    }
    (i == t.len()).then_some(top)
}

/// [`feature_members`] of the object that `text` starts with (after any whitespace), also
/// giving the position just after it; what follows it is not looked at.
pub fn object_members<'a>(
    text: &'a str,
    wanted: &[&str],
    members: &mut Vec<(usize, usize)>,
) -> Option<(FeatureMembers<'a>, usize)> {
    members.clear();
    let t = text.as_bytes();
    let s = Scan { text, t };
    let mut i = s.skip_whitespace(0);
    if t.get(i) != Some(&b'{') {
        return None;
    }
    let mut top = FeatureMembers {
        kind: "",
        id: None,
        geometry: None,
        properties: None,
        picked: vec![None; wanted.len()],
    };
    let mut seen = [false; 4];
    i = s.skip_whitespace(i + 1);
    if t.get(i) == Some(&b'}') {
        return None;
    }
    loop {
        let (key, after) = s.key(i)?;
        i = s.skip_whitespace(after);
        if t.get(i) != Some(&b':') {
            return None;
        }
        let v = s.skip_whitespace(i + 1);
        let slot = match key {
            b"type" => Some(0),
            b"id" => Some(1),
            b"geometry" => Some(2),
            b"properties" => Some(3),
            _ => None,
        };
        let end = if slot == Some(3) && t.get(v) == Some(&b'{') {
            s.object(v, 1, Some((wanted, &mut top.picked, &mut *members)))?
        } else {
            s.value(v, 1)?
        };
        if let Some(k) = slot {
            if std::mem::replace(&mut seen[k], true) {
                return None;
            }
            let raw = &text[v..end];
            let present = (raw != "null").then_some(raw);
            match k {
                0 => {
                    // serde_json wants a string here; anything else is its to word.
                    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
                    if inner.contains('\\') {
                        return None;
                    }
                    top.kind = inner;
                }
                1 => top.id = present,
                2 => top.geometry = present,
                _ => {
                    // Neither an object nor null: serde_json's error.
                    if present.is_some_and(|p| !p.starts_with('{')) {
                        return None;
                    }
                    top.properties = present;
                }
            }
        }
        i = s.skip_whitespace(end);
        match t.get(i) {
            Some(b',') => i = s.skip_whitespace(i + 1),
            Some(b'}') => break,
            _ => return None,
        }
    }
    if !seen[0] {
        return None;
    }
    Some((top, i + 1))
}

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

struct Scan<'a> {
    text: &'a str,
    t: &'a [u8],
}

impl<'a> Scan<'a> {
    #[inline]
    fn skip_whitespace(&self, mut i: usize) -> usize {
        while i < self.t.len() && matches!(self.t[i], b' ' | b'\n' | b'\r' | b'\t') {
            i += 1;
        }
        i
    }

    /// `t[i]` is the opening quote: the position after the closing one.
    #[inline]
    fn string(&self, mut i: usize) -> Option<usize> {
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
    fn unicode(&self, i: usize) -> Option<usize> {
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
    fn key(&self, i: usize) -> Option<(&'a [u8], usize)> {
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
    fn number(&self, mut i: usize) -> Option<usize> {
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

    fn value(&self, i: usize, depth: usize) -> Option<usize> {
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
    #[allow(clippy::type_complexity)]
    fn object(
        &self,
        i: usize,
        depth: usize,
        mut pick: Option<(&[&str], &mut Vec<Option<&'a str>>, &mut Vec<(usize, usize)>)>,
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
        let sieve = pick.as_ref().map_or(0, |(wanted, _, _)| {
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
            if let Some((wanted, slots, spans)) = pick.as_mut() {
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

    fn array(&self, i: usize, depth: usize) -> Option<usize> {
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

    /// Whether serde_json accepts the text as a feature the way the loader's serde path reads
    /// it (a JSON object with a string `type` and no duplicated known member).
    fn serde_accepts(text: &str) -> bool {
        #[derive(serde::Deserialize)]
        #[allow(dead_code)]
        struct F<'a> {
            #[serde(rename = "type")]
            kind: std::borrow::Cow<'a, str>,
            #[serde(borrow)]
            id: Option<&'a serde_json::value::RawValue>,
            #[serde(borrow)]
            geometry: Option<&'a serde_json::value::RawValue>,
            #[serde(borrow)]
            properties: Option<&'a serde_json::value::RawValue>,
        }
        serde_json::from_str::<F>(text).is_ok()
    }

    const GOOD: &str = r#"{"geometry":{"coordinates":[-72.86,19.56],"type":"Point"},"id":"SYN-1","properties":{"actors":["A","B"],"commune":"Anse Rouge","event_date":"2024-07-26","fatalities":10,"x":-1.5e-3,"ok":true,"no":false,"n":null,"nested":{"a":[{},[]]},"s":"tab\tquote\" slash\/ L\u00e9og\u00C2ne \ud83d\ude00"},"type":"Feature"}"#;

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

    #[test]
    fn finds_the_members_and_the_wanted_properties() {
        let top = feature(
            GOOD,
            &["event_date", "commune", "actors", "absent", "commune"],
        )
        .unwrap();
        assert_eq!(top.kind, "Feature");
        assert_eq!(top.id, Some("\"SYN-1\""));
        assert_eq!(
            top.geometry,
            Some(r#"{"coordinates":[-72.86,19.56],"type":"Point"}"#)
        );
        assert!(top.properties.unwrap().starts_with("{\"actors\""));
        assert_eq!(
            top.picked,
            vec![
                Some("\"2024-07-26\""),
                Some("\"Anse Rouge\""),
                Some(r#"["A","B"]"#),
                None,
                Some("\"Anse Rouge\"")
            ]
        );
    }

    #[test]
    fn never_accepts_what_serde_json_refuses() {
        // Every single-byte deletion, and every replacement by a byte that matters to JSON's
        // grammar, of a feature that uses all of it.
        let bytes = GOOD.as_bytes();
        let specials = b"{}[]:,\"\\ 0-1.eE+tfnu\x01\n";
        let mut tried = 0;
        for at in 0..bytes.len() {
            let mut variants = vec![[&bytes[..at], &bytes[at + 1..]].concat()];
            for b in specials {
                let mut v = bytes.to_vec();
                v[at] = *b;
                variants.push(v);
            }
            for v in variants {
                let Ok(text) = std::str::from_utf8(&v) else {
                    continue;
                };
                tried += 1;
                if feature(text, &["commune"]).is_some() {
                    assert!(
                        serde_accepts(text),
                        "accepted what serde_json refuses: {text}"
                    );
                }
            }
        }
        assert!(tried > 5_000, "{tried}");
    }

    #[test]
    fn reads_unicode_escapes_as_serde_json_does() {
        let text =
            r#"{"type":"Feature","properties":{"s":"L\u00e9og\u00C2ne","e":"\ud83d\ude00"}}"#;
        assert!(serde_accepts(text));
        let top = feature(text, &["s", "e"]).unwrap();
        assert_eq!(
            top.picked,
            vec![Some(r#""L\u00e9og\u00C2ne""#), Some(r#""\ud83d\ude00""#)]
        );
    }

    #[test]
    fn leaves_escapes_duplicates_and_odd_shapes_to_serde_json() {
        for text in [
            r#"{"type":"Feature","properties":{"s":"\ud800"}}"#,
            r#"{"type":"Feature","properties":{"s":"\udc00\ud800"}}"#,
            r#"{"type":"Feature","properties":{"s":"\ud800\u0041"}}"#,
            r#"{"type":"Feature","properties":{"s":"\u00g9"}}"#,
            r#"{"type":"Feature","properties":{"\u0073":1}}"#,
            r#"{"type":"Feature","type":"Feature"}"#,
            r#"{"type":"Feature","properties":[1]}"#,
            r#"{"type":1}"#,
            r#"{"id":"x"}"#,
            r#"{"type":"Feature"} x"#,
            r#"{"type":"Feature","properties":{"n":1,}}"#,
            r#"{"type":"Feature","properties":{"n":.5}}"#,
            r#"{"type":"Feature","properties":{"n":"a
b"}}"#,
        ] {
            assert!(feature(text, &["s"]).is_none(), "{text}");
        }
        let deep = format!(
            "{{\"type\":\"Feature\",\"properties\":{}1{}}}",
            "[".repeat(150),
            "]".repeat(150)
        );
        assert!(feature(&deep, &[]).is_none());
        // Null members are absent, as serde_json's Option reads them.
        let top = feature(
            r#" {"type":"Feature","id":null,"geometry":null,"properties":null} "#,
            &["a"],
        )
        .unwrap();
        assert_eq!((top.id, top.geometry, top.properties), (None, None, None));
    }
}
