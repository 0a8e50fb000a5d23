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
//! Measured alone against the crates doing the same job (every feature of the 1M-incident
//! file checked and 15 properties picked, one core, median of 5, 2-core Xeon): this scan
//! 0.72 s; serde_json with a picking visitor (the fallback path) 1.77 s; sonic-rs's checked
//! `get_many` of the same paths 1.51 s, and its serde path 2.17 s.
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

use super::json::{skip_whitespace, Validator, WantedMembers};

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
    (skip_whitespace(t, end) == t.len()).then_some(top)
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
    let s = Validator { text, t };
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
            s.object(
                v,
                1,
                Some(WantedMembers {
                    names: wanted,
                    values: &mut top.picked,
                    spans: &mut *members,
                }),
            )?
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
