//! One feature's text read into what the layer keeps of it: its id, geometry, date and the
//! raw values of its queryables, each checked against the collection's config. The one-pass
//! scan ([`onepass`]) reads most features; serde_json reads the rest, and words every error.

use super::geometry::{parse_geometry, FeatureGeometry};
use crate::catalog::config::{CollectionSpec, QueryableType, MAX_QUERYABLES};
use crate::layer::onepass;
use crate::layer::store::TextMemo;
use crate::temporal::{parse_feature_date, Interval};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

#[derive(Deserialize)]
pub(super) struct RawFeature<'a> {
    #[serde(rename = "type")]
    pub(super) kind: Cow<'a, str>,
    #[serde(borrow)]
    pub(super) id: Option<&'a RawValue>,
    #[serde(borrow)]
    pub(super) geometry: Option<&'a RawValue>,
    #[serde(borrow)]
    pub(super) properties: Option<&'a RawValue>,
}

/// Picks the named members of the properties object without building the others (the
/// serde_json path, for features [`onepass`] leaves to it, and for its error messages).
pub(super) struct WantedProperties<'w>(&'w [&'w str]);

impl<'de> DeserializeSeed<'de> for WantedProperties<'_> {
    type Value = Vec<Option<&'de RawValue>>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for WantedProperties<'_> {
    type Value = Vec<Option<&'de RawValue>>;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a properties object or null")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(vec![None; self.0.len()])
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = vec![None; self.0.len()];
        while let Some(k) = map.next_key::<Cow<'de, str>>()? {
            // A property may be wanted more than once (required and a queryable, say): every
            // slot that names it gets the value.
            if self.0.contains(&k.as_ref()) {
                let v = map.next_value::<&'de RawValue>()?;
                for (slot, w) in out.iter_mut().zip(self.0) {
                    if *w == k {
                        *slot = Some(v);
                    }
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(out)
    }
}

pub(super) fn is_null(v: Option<&str>) -> bool {
    v.is_none_or(|v| v == "null")
}

/// A JSON string, borrowed from the file unless it holds escapes.
pub(super) fn json_str(v: &str) -> Option<Cow<'_, str>> {
    let b = v.as_bytes();
    if b.len() >= 2
        && b[0] == b'"'
        && b[b.len() - 1] == b'"'
        && !b[1..b.len() - 1]
            .iter()
            .any(|c| *c == b'"' || *c == b'\\' || *c < 0x20)
    {
        return Some(Cow::Borrowed(&v[1..v.len() - 1]));
    }
    match serde_json::from_str::<&str>(v) {
        Ok(s) => Some(Cow::Borrowed(s)),
        Err(_) => serde_json::from_str::<String>(v).ok().map(Cow::Owned),
    }
}

/// A property's text: a string as is, an array of strings joined by U+001F.
pub(super) fn text_of(v: &str) -> Result<Option<Cow<'_, str>>, ValueError> {
    if v == "null" {
        return Ok(None);
    }
    let first = v.as_bytes().first().copied();
    if first == Some(b'"') {
        if let Some(s) = json_str(v) {
            return Ok(Some(s));
        }
    }
    if first == Some(b'[') {
        if let Ok(a) = serde_json::from_str::<Vec<Option<Cow<str>>>>(v) {
            return Ok(Some(Cow::Owned(
                a.into_iter().flatten().collect::<Vec<_>>().join("\u{1f}"),
            )));
        }
    }
    if let Ok(a) = serde_json::from_str::<Vec<Option<Cow<str>>>>(v) {
        return Ok(Some(Cow::Owned(
            a.into_iter().flatten().collect::<Vec<_>>().join("\u{1f}"),
        )));
    }
    if let Ok(n) = serde_json::from_str::<serde_json::Number>(v) {
        return Ok(Some(Cow::Owned(n.to_string())));
    }
    if v == "true" || v == "false" {
        return Ok(Some(Cow::Borrowed(v)));
    }
    Err(ValueError::Unreadable(clip(v)))
}

/// Why a queryable's value was refused.
#[derive(Debug, thiserror::Error)]
pub(super) enum ValueError {
    #[error("expected a string, a number, a boolean or an array of strings, found {0}")]
    Unreadable(String),
    #[error("is declared {declared} in the config, expected {expected}, found {found}")]
    WrongType {
        declared: &'static str,
        expected: &'static str,
        found: String,
    },
}

/// A value as a message shows it: at most 60 characters.
pub(super) fn clip(v: &str) -> String {
    match v.char_indices().nth(60) {
        Some((at, _)) => format!("{}...", &v[..at]),
        None => v.to_string(),
    }
}

/// Checks that a queryable's value, as the file holds it (`raw`) and as text (`text`), is of
/// the queryable's declared type; the problem in words when it is not.
pub(super) fn check_type(
    kind: QueryableType,
    array: bool,
    raw: &str,
    text: &str,
) -> Result<(), ValueError> {
    let first = raw.as_bytes().first().copied().unwrap_or(b' ');
    let fits = match kind {
        QueryableType::String(_) => !array || first == b'[' || first == b'"',
        QueryableType::Integer => first != b'"' && first != b'[' && text.parse::<i64>().is_ok(),
        QueryableType::Number => {
            first != b'"' && first != b'[' && text.parse::<f64>().is_ok_and(f64::is_finite)
        }
        QueryableType::Boolean => raw == "true" || raw == "false",
        QueryableType::Date => first == b'"' && feature_date(text).is_some(),
    };
    if fits {
        return Ok(());
    }
    let expected = match kind {
        QueryableType::String(_) if array => "an array of strings",
        QueryableType::String(_) => "a string",
        QueryableType::Integer => "an integer",
        QueryableType::Number => "a number",
        QueryableType::Boolean => "true or false",
        QueryableType::Date => "a date string (YYYY-MM-DD, YYYY-MM or an RFC 3339 date-time)",
    };
    Err(ValueError::WrongType {
        declared: kind.name(),
        expected,
        found: clip(raw),
    })
}

/// [`parse_feature_date`], with the common `YYYY-MM-DD` read directly.
pub(super) fn feature_date(s: &str) -> Option<Interval> {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |n, c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        if let (Some(y), Some(m), Some(d)) = (digits(0..4), digits(5..7), digits(8..10)) {
            let day = chrono::NaiveDate::from_ymd_opt(y as i32, m, d)?;
            let start = day
                .and_hms_opt(0, 0, 0)
                .expect("midnight exists")
                .and_utc()
                .timestamp_millis();
            return Some(Interval {
                start,
                end: start + 86_400_000 - 1,
            });
        }
    }
    parse_feature_date(s)
}

pub(super) struct ParsedFeature<'a> {
    pub(super) id: Cow<'a, str>,
    pub(super) geom: FeatureGeometry,
    pub(super) time: Option<Interval>,
    /// The queryables' raw JSON values as the file holds them (read as text and folded
    /// later, once per distinct value).
    pub(super) values: [Option<&'a str>; MAX_QUERYABLES],
    /// Where `properties` lies in the feature's text (from its `{` to after its `}`).
    pub(super) props: (usize, usize),
    /// Whether the members of `properties` were listed (by the one-pass scan).
    pub(super) listed: bool,
    /// What in the feature's text is its own, outside `properties`: its id's value and the
    /// inside of its geometry's coordinates, in text order; empty spans when absent.
    pub(super) own: [(usize, usize); 2],
}

/// Why a feature was refused: its id where it has one, and what is wrong with it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{problem}")]
pub(super) struct FeatureError {
    pub(super) id: Option<String>,
    pub(super) problem: String,
}

impl FeatureError {
    pub(super) fn new(id: Option<String>, problem: impl std::fmt::Display) -> FeatureError {
        FeatureError {
            id,
            problem: problem.to_string(),
        }
    }
}

pub(super) fn parse_feature<'a>(
    spec: &CollectionSpec,
    wanted: &[&str],
    raw: &'a str,
    members: &mut Vec<(usize, usize)>,
    dates: &mut TextMemo<Interval>,
) -> Result<ParsedFeature<'a>, FeatureError> {
    // One validating pass that also finds the members; serde_json for what it leaves.
    let scanned = onepass::feature_members(raw, wanted, members);
    read_feature(spec, wanted, raw, scanned, dates)
}

/// A feature from its text and, when the one-pass scan read it, what that found (otherwise
/// serde_json reads it, and words what is wrong).
pub(super) fn read_feature<'a>(
    spec: &CollectionSpec,
    wanted: &[&str],
    raw: &'a str,
    scanned: Option<onepass::FeatureMembers<'a>>,
    dates: &mut TextMemo<Interval>,
) -> Result<ParsedFeature<'a>, FeatureError> {
    let listed = scanned.is_some();
    let (kind, id_raw, geometry_raw, props_raw, picked) = match scanned {
        Some(top) => (
            Cow::Borrowed(top.kind),
            top.id,
            top.geometry,
            top.properties,
            Some(top.picked),
        ),
        None => {
            let f: RawFeature = serde_json::from_str(raw)
                .map_err(|e| FeatureError::new(None, format_args!("not a GeoJSON feature: {e}")))?;
            (
                f.kind,
                f.id.map(RawValue::get),
                f.geometry.map(RawValue::get),
                f.properties.map(RawValue::get),
                None,
            )
        }
    };
    let id: Cow<str> = match id_raw {
        None => return Err(FeatureError::new(None, "has no \"id\"")),
        Some(v) => match json_str(v) {
            Some(s) if !s.is_empty() => s,
            Some(_) => return Err(FeatureError::new(None, "\"id\" is empty")),
            None => match serde_json::from_str::<serde_json::Number>(v) {
                Ok(n) => Cow::Owned(n.to_string()),
                Err(_) => {
                    return Err(FeatureError::new(
                        None,
                        format_args!("\"id\" must be a non-empty string or a number, found {v}"),
                    ))
                }
            },
        },
    };
    let fail = |problem: String| FeatureError::new(Some(id.to_string()), problem);
    if kind != "Feature" {
        return Err(fail(format!(
            "\"type\" is \"{}\", expected \"Feature\"",
            kind
        )));
    }
    let geom = parse_geometry(geometry_raw).map_err(|e| fail(e.to_string()))?;
    if matches!(geom, FeatureGeometry::None) && !spec.allow_null_geometry {
        return Err(fail("has no geometry".into()));
    }
    let props = props_raw.ok_or_else(|| fail("has no \"properties\"".into()))?;
    let picked: Vec<Option<&str>> = match picked {
        Some(p) => p,
        None => {
            let mut de = serde_json::Deserializer::from_str(props);
            WantedProperties(wanted)
                .deserialize(&mut de)
                .map_err(|e| fail(format!("\"properties\" is not an object: {e}")))?
                .into_iter()
                .map(|v| v.map(RawValue::get))
                .collect()
        }
    };
    let n_req = spec.required.len();
    for (name, v) in spec.required.iter().zip(&picked[..n_req]) {
        if is_null(*v) {
            return Err(fail(format!(
                "the required property \"{name}\" is missing or null"
            )));
        }
    }
    let mut at = n_req;
    let time = match &spec.time_property {
        Some(name) => {
            let v = picked[at];
            at += 1;
            match v.filter(|v| *v != "null") {
                None => None,
                // Many features share a date: each distinct text is read once.
                Some(v) => match dates.get(v) {
                    Some(t) => Some(*t),
                    None => {
                        let s: Cow<str> = json_str(v).ok_or_else(|| {
                            fail(format!("\"{name}\" must be a date string, found {v}"))
                        })?;
                        let t = feature_date(&s).ok_or_else(|| {
                            fail(format!("\"{name}\" is \"{s}\": expected a date YYYY-MM-DD, a month YYYY-MM or an RFC 3339 date-time"))
                        })?;
                        dates.insert(v, t);
                        Some(t)
                    }
                },
            }
        }
        None => None,
    };
    let mut values: [Option<&'a str>; MAX_QUERYABLES] = Default::default();
    for (v, slot) in picked[at..].iter().zip(values.iter_mut()) {
        *slot = *v;
    }
    let at = |v: &str| v.as_ptr() as usize - raw.as_ptr() as usize;
    let props_at = at(props);
    let id_span = id_raw.map_or((0, 0), |v| (at(v), at(v) + v.len()));
    // From the first `[` to the last `]`: for a point, its two or three numbers.
    let coords = geometry_raw
        .and_then(|g| {
            let open = g.bytes().position(|c| c == b'[')?;
            let close = g.bytes().rposition(|c| c == b']')?;
            (open < close).then(|| (at(g) + open + 1, at(g) + close))
        })
        .unwrap_or((0, 0));
    let own = if coords.0 < id_span.0 {
        [coords, id_span]
    } else {
        [id_span, coords]
    };
    Ok(ParsedFeature {
        id,
        geom,
        time,
        values,
        props: (props_at, props_at + props.len()),
        listed,
        own,
    })
}

pub(super) fn feature_label(i: usize, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("#{i} (id {id:?})"),
        None => format!("#{i}"),
    }
}
