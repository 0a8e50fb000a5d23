//! Reading one GeoJSON file into a [`Layer`]: parse, validate, index and store each feature's
//! bytes, all once.
//!
//! Features are served from a [`Store`]: each one's text as the file holds it, except that
//! the members of its `properties` are kept once per layer and referred to by number (see
//! [`super::store`]). No feature is re-encoded, and the file's text is not kept.
//!
//! Every file is streamed when it can be ([`structure`]): blocks of it are read, digested
//! and parsed on every core, whatever its layout (one feature per line as Kat writes it, the
//! whole collection on one line, pretty-printed), and only what the layer keeps outlives its
//! block, so memory stays well under the file's size. Each feature is checked and read in
//! one pass by [`onepass`], or by serde_json where that pass declines (serde_json also words
//! every error), so every byte is validated. A file that cannot be streamed (its features
//! array far from its start, a stray value in the array, a missing comma) is read whole, so
//! that serde_json can word what is wrong.

use super::column::{Column, Values};
use super::digest::digest_bytes;
use super::store::{FramePiece, Segment, SegmentBuilder, SharedDict, Store, TextMemo};
use super::{onepass, Extent, Layer, LoadError, Shapes};
use crate::catalog::config::{CollectionSpec, QueryableType, HAITI_EXTENT, MAX_QUERYABLES};
use crate::index::SpatialIndex;
use crate::temporal::{format_instant, parse_feature_date, Interval};
use geo::{BoundingRect, Geometry, Validation};
use rayon::prelude::*;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

mod structure;

#[derive(Deserialize)]
struct Collection<'a> {
    #[serde(rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    features: Vec<&'a RawValue>,
}

#[derive(Deserialize)]
struct RawFeature<'a> {
    #[serde(rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    geometry: Option<&'a RawValue>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct PointGeometry<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    coordinates: Coords,
}

/// A position's numbers (2 or 3) without a heap allocation per feature.
struct Coords {
    n: usize,
    v: [f64; 3],
}

impl<'de> Deserialize<'de> for Coords {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Coords;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an array of numbers")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<Coords, A::Error> {
                let mut c = Coords { n: 0, v: [0.0; 3] };
                while let Some(x) = seq.next_element::<f64>()? {
                    if c.n < 3 {
                        c.v[c.n] = x;
                    }
                    c.n += 1;
                }
                Ok(c)
            }
        }
        d.deserialize_seq(V)
    }
}

enum Geom {
    None,
    Point([f64; 2]),
    Shape(Box<Geometry<f64>>),
}

/// Picks the named members of the properties object without building the others (the
/// serde_json path, for features [`onepass`] leaves to it, and for its error messages).
struct PickMembers<'w>(&'w [&'w str]);

impl<'de> DeserializeSeed<'de> for PickMembers<'_> {
    type Value = Vec<Option<&'de RawValue>>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for PickMembers<'_> {
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

/// Byte-level scanning of JSON text that serde_json has validated, or will validate.
mod scan {
    #[inline]
    pub fn skip_whitespace(t: &[u8], mut i: usize) -> usize {
        while i < t.len() && matches!(t[i], b' ' | b'\n' | b'\r' | b'\t') {
            i += 1;
        }
        i
    }

    /// `i` just after an opening quote: the position after the closing one. Most strings of
    /// a feature are short: a plain loop finds their end before a vector search would start.
    #[inline]
    pub fn string(t: &[u8], mut i: usize) -> Option<usize> {
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
    pub fn nested(t: &[u8], mut i: usize) -> Option<usize> {
        let mut depth = 0usize;
        while i < t.len() {
            match t[i] {
                b'"' => {
                    i = string(t, i + 1)?;
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

    /// The end of the value starting at `t[i]`.
    pub fn value(t: &[u8], i: usize) -> Option<usize> {
        match *t.get(i)? {
            b'"' => string(t, i + 1),
            b'{' | b'[' => nested(t, i),
            _ => {
                let mut j = i;
                while j < t.len()
                    && !matches!(t[j], b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
                {
                    j += 1;
                }
                (j > i).then_some(j)
            }
        }
    }
}

fn is_null(v: Option<&str>) -> bool {
    v.is_none_or(|v| v == "null")
}

/// A JSON string, borrowed from the file unless it holds escapes.
fn json_str(v: &str) -> Option<Cow<'_, str>> {
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
fn text_of(v: &str) -> Result<Option<Cow<'_, str>>, ValueError> {
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
enum ValueError {
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
fn clip(v: &str) -> String {
    match v.char_indices().nth(60) {
        Some((at, _)) => format!("{}...", &v[..at]),
        None => v.to_string(),
    }
}

/// Checks that a queryable's value, as the file holds it (`raw`) and as text (`text`), is of
/// the queryable's declared type; the problem in words when it is not.
fn check_type(kind: QueryableType, array: bool, raw: &str, text: &str) -> Result<(), ValueError> {
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
fn feature_date(s: &str) -> Option<Interval> {
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

fn in_extent(r: &geo::Rect<f64>) -> bool {
    let [x0, y0, x1, y1] = HAITI_EXTENT;
    r.min().x >= x0 && r.max().x <= x1 && r.min().y >= y0 && r.max().y <= y1
}
/// The numbers of a point written as Kat and most tools write one,
/// A Point geometry of exactly two members, `type` and `coordinates` (two numbers), in either
/// order and with any JSON whitespace, read without serde (the text is valid JSON already:
/// only its shape is checked here). None for any other shape, which serde_json then reads.
fn plain_point(raw: &str) -> Option<(f64, f64)> {
    let t = raw.as_bytes();
    let mut i = scan::skip_whitespace(t, 0);
    if t.get(i) != Some(&b'{') {
        return None;
    }
    let (mut xy, mut point) = (None, false);
    loop {
        i = scan::skip_whitespace(t, i + 1);
        let rest = &raw[i..];
        if let Some(r) = rest.strip_prefix("\"coordinates\"") {
            i = scan::skip_whitespace(t, t.len() - r.len());
            if t.get(i) != Some(&b':') || xy.is_some() {
                return None;
            }
            i = scan::skip_whitespace(t, i + 1);
            if t.get(i) != Some(&b'[') {
                return None;
            }
            let mut v = [0.0; 2];
            for (k, slot) in v.iter_mut().enumerate() {
                let from = scan::skip_whitespace(t, i + 1);
                let mut end = from;
                while end < t.len() && !matches!(t[end], b',' | b']' | b' ' | b'\n' | b'\r' | b'\t')
                {
                    end += 1;
                }
                *slot = raw[from..end].parse().ok()?;
                i = scan::skip_whitespace(t, end);
                if t.get(i) != Some(if k == 0 { &b',' } else { &b']' }) {
                    return None;
                }
            }
            xy = Some((v[0], v[1]));
        } else if let Some(r) = rest.strip_prefix("\"type\"") {
            i = scan::skip_whitespace(t, t.len() - r.len());
            if t.get(i) != Some(&b':') || point {
                return None;
            }
            i = scan::skip_whitespace(t, i + 1);
            if !raw[i..].starts_with("\"Point\"") {
                return None;
            }
            point = true;
            i += "\"Point\"".len() - 1;
        } else {
            return None;
        }
        i = scan::skip_whitespace(t, i + 1);
        match t.get(i) {
            Some(b',') => {}
            Some(b'}') if point => return xy,
            _ => return None,
        }
    }
}

/// Why a feature's geometry was refused.
#[derive(Debug, thiserror::Error)]
enum GeometryError {
    #[error("a Point needs 2 or 3 coordinates")]
    PointArity,
    #[error("the Point's coordinates are not finite numbers")]
    NotFinite,
    #[error("the Point [{0}, {1}] lies outside Haiti's extent {HAITI_EXTENT:?} (are longitude and latitude swapped?)")]
    PointOutside(f64, f64),
    #[error("invalid GeoJSON geometry: {0}")]
    NotGeoJson(#[source] serde_json::Error),
    #[error("unsupported geometry: {0}")]
    Unsupported(#[source] geojson::Error),
    #[error("the geometry is empty")]
    Empty,
    #[error("the geometry's bounding box [{}, {}, {}, {}] lies outside Haiti's extent {HAITI_EXTENT:?}", .0.min().x, .0.min().y, .0.max().x, .0.max().y)]
    Outside(geo::Rect<f64>),
    #[error("invalid geometry: {0}")]
    Invalid(String),
}

fn parse_geometry(raw: Option<&str>) -> Result<Geom, GeometryError> {
    let Some(raw) = raw.filter(|r| *r != "null") else {
        return Ok(Geom::None);
    };
    let point = plain_point(raw).map(Ok).or_else(|| {
        let p = serde_json::from_str::<PointGeometry>(raw).ok()?;
        (p.kind == "Point").then(|| {
            if p.coordinates.n < 2 || p.coordinates.n > 3 {
                return Err(GeometryError::PointArity);
            }
            Ok((p.coordinates.v[0], p.coordinates.v[1]))
        })
    });
    if let Some(point) = point {
        let (x, y) = point?;
        if !x.is_finite() || !y.is_finite() {
            return Err(GeometryError::NotFinite);
        }
        let r = geo::Rect::new(geo::coord! {x: x, y: y}, geo::coord! {x: x, y: y});
        if !in_extent(&r) {
            return Err(GeometryError::PointOutside(x, y));
        }
        return Ok(Geom::Point([x, y]));
    }
    let g: geojson::Geometry = serde_json::from_str(raw).map_err(GeometryError::NotGeoJson)?;
    let g: Geometry<f64> = g.try_into().map_err(GeometryError::Unsupported)?;
    let r = g.bounding_rect().ok_or(GeometryError::Empty)?;
    if !in_extent(&r) {
        return Err(GeometryError::Outside(r));
    }
    if let Some(problem) = validation_problem(&g) {
        return Err(GeometryError::Invalid(problem));
    }
    Ok(Geom::Shape(Box::new(g)))
}

/// Whether the ring crosses itself, by the same test as geo's validation
/// (`linestring_has_self_intersection`: two segments that intersect, other than where one
/// ends and the other starts), but testing only the pairs whose boxes overlap: a sweep along
/// x instead of every pair.
fn ring_self_intersects(ring: &geo::LineString<f64>) -> bool {
    use geo::Intersects;
    let lines: Vec<geo::Line<f64>> = ring.lines().collect();
    let crosses = |i: usize, j: usize| {
        let (a, b) = (&lines[i], &lines[j]);
        i != j && a.intersects(b) && a.start != b.end && a.end != b.start
    };
    let finite = ring.0.iter().all(|c| c.x.is_finite() && c.y.is_finite());
    if lines.len() < 32 || !finite {
        return (0..lines.len()).any(|i| (0..lines.len()).any(|j| crosses(i, j)));
    }
    let bx: Vec<[f64; 4]> = lines
        .iter()
        .map(|l| {
            [
                l.start.x.min(l.end.x),
                l.start.y.min(l.end.y),
                l.start.x.max(l.end.x),
                l.start.y.max(l.end.y),
            ]
        })
        .collect();
    let mut order: Vec<usize> = (0..lines.len()).collect();
    order.sort_unstable_by(|a, b| bx[*a][0].total_cmp(&bx[*b][0]));
    for (n, &i) in order.iter().enumerate() {
        for &j in &order[n + 1..] {
            if bx[j][0] > bx[i][2] {
                break;
            }
            if bx[j][1] > bx[i][3] || bx[j][3] < bx[i][1] {
                continue;
            }
            if crosses(i, j) || crosses(j, i) {
                return true;
            }
        }
    }
    false
}

/// Whether geo's validation can find nothing wrong with the polygon: its checks, in order,
/// with the rings' self-intersection tested by [`ring_self_intersects`].
fn polygon_is_valid(p: &geo::Polygon<f64>) -> bool {
    use geo::{
        coordinate_position::CoordPos, dimensions::Dimensions, HasDimensions, PreparedGeometry,
        Relate, RemoveRepeatedPoints,
    };
    if p.is_empty() {
        return true;
    }
    for ring in std::iter::once(p.exterior()).chain(p.interiors()) {
        if ring.is_empty() {
            continue;
        }
        if ring.remove_repeated_points().0.len() < 4
            || ring_self_intersects(ring)
            || ring.0.iter().any(|c| !c.x.is_finite() || !c.y.is_finite())
        {
            return false;
        }
    }
    if !p.interiors().iter().any(|r| !r.is_empty()) {
        return true;
    }
    let exterior = geo::Polygon::new(p.exterior().clone(), vec![]);
    let prepared_exterior = PreparedGeometry::from(&exterior);
    for (n, a) in p.interiors().iter().enumerate() {
        if a.is_empty() {
            continue;
        }
        let a_poly = geo::Polygon::new(a.clone(), vec![]);
        let prepared_a = PreparedGeometry::from(&a_poly);
        let m = prepared_exterior.relate(&prepared_a);
        if !m.is_contains()
            || m.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional
        {
            return false;
        }
        for b in p.interiors().iter().skip(n + 1) {
            if b.is_empty() {
                continue;
            }
            let m = prepared_a.relate(&geo::Polygon::new(b.clone(), vec![]));
            if m.get(CoordPos::Inside, CoordPos::Inside) == Dimensions::TwoDimensional
                || m.get(CoordPos::OnBoundary, CoordPos::OnBoundary) == Dimensions::OneDimensional
            {
                return false;
            }
        }
    }
    true
}

/// The first problem geo's validation finds with the geometry. Polygons are first checked by
/// [`polygon_is_valid`] (same verdict, far fewer segment pairs); geo words any problem.
fn validation_problem(g: &Geometry<f64>) -> Option<String> {
    use geo::{coordinate_position::CoordPos, dimensions::Dimensions, Relate};
    let surely_valid = match g {
        Geometry::Polygon(p) => polygon_is_valid(p),
        Geometry::MultiPolygon(mp) => {
            mp.iter().all(polygon_is_valid)
                && mp.0.iter().enumerate().all(|(i, a)| {
                    let ra = a.bounding_rect();
                    mp.0.iter().skip(i + 1).all(|b| {
                        let disjoint = match (ra, b.bounding_rect()) {
                            (Some(ra), Some(rb)) => {
                                ra.max().x < rb.min().x
                                    || rb.max().x < ra.min().x
                                    || ra.max().y < rb.min().y
                                    || rb.max().y < ra.min().y
                            }
                            _ => false,
                        };
                        if disjoint {
                            return true;
                        }
                        let m = a.relate(b);
                        m.get(CoordPos::Inside, CoordPos::Inside) != Dimensions::TwoDimensional
                            && m.get(CoordPos::OnBoundary, CoordPos::OnBoundary)
                                != Dimensions::OneDimensional
                    })
                })
        }
        _ => false,
    };
    if surely_valid {
        return None;
    }
    g.validation_errors()
        .into_iter()
        .next()
        .map(|p| p.to_string())
}

struct Parsed<'a> {
    id: Cow<'a, str>,
    geom: Geom,
    time: Option<Interval>,
    /// The queryables' raw JSON values as the file holds them (read as text and folded
    /// later, once per distinct value).
    values: [Option<&'a str>; MAX_QUERYABLES],
    /// Where `properties` lies in the feature's text (from its `{` to after its `}`).
    props: (usize, usize),
    /// Whether the members of `properties` were listed (by the one-pass scan).
    listed: bool,
    /// What in the feature's text is its own, outside `properties`: its id's value and the
    /// inside of its geometry's coordinates, in text order; empty spans when absent.
    own: [(usize, usize); 2],
}

/// Why a feature was refused: its id where it has one, and what is wrong with it.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{problem}")]
pub(super) struct FeatureError {
    pub(super) id: Option<String>,
    pub(super) problem: String,
}

impl FeatureError {
    fn new(id: Option<String>, problem: impl std::fmt::Display) -> FeatureError {
        FeatureError {
            id,
            problem: problem.to_string(),
        }
    }
}

fn parse_feature<'a>(
    spec: &CollectionSpec,
    wanted: &[&str],
    raw: &'a str,
    members: &mut Vec<(usize, usize)>,
    dates: &mut TextMemo<Interval>,
) -> Result<Parsed<'a>, FeatureError> {
    // One validating pass that also finds the members; serde_json for what it leaves.
    let scanned = onepass::feature_members(raw, wanted, members);
    read_feature(spec, wanted, raw, scanned, dates)
}

/// A feature from its text and, when the one-pass scan read it, what that found (otherwise
/// serde_json reads it, and words what is wrong).
fn read_feature<'a>(
    spec: &CollectionSpec,
    wanted: &[&str],
    raw: &'a str,
    scanned: Option<onepass::FeatureMembers<'a>>,
    dates: &mut TextMemo<Interval>,
) -> Result<Parsed<'a>, FeatureError> {
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
    if matches!(geom, Geom::None) && !spec.allow_null_geometry {
        return Err(fail("has no geometry".into()));
    }
    let props = props_raw.ok_or_else(|| fail("has no \"properties\"".into()))?;
    let picked: Vec<Option<&str>> = match picked {
        Some(p) => p,
        None => {
            let mut de = serde_json::Deserializer::from_str(props);
            PickMembers(wanted)
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
    Ok(Parsed {
        id,
        geom,
        time,
        values,
        props: (props_at, props_at + props.len()),
        listed,
        own,
    })
}

fn feature_label(i: usize, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("#{i} (id {id:?})"),
        None => format!("#{i}"),
    }
}

/// Reads the file into a String on every core: blocks read at their offsets in parallel,
/// then checked as UTF-8 in parallel.
fn read_text(path: &Path) -> std::io::Result<String> {
    use std::os::unix::fs::FileExt;
    const BLOCK: usize = 8 << 20;
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len() as usize;
    if len < 2 * BLOCK {
        return std::fs::read_to_string(path);
    }
    let mut buf = vec![0u8; len];
    // Huge pages: a few hundred page faults instead of a few hundred thousand.
    // SAFETY: advice on memory this Vec owns; it changes no contents.
    unsafe {
        libc::madvise(buf.as_mut_ptr().cast(), len, libc::MADV_HUGEPAGE);
    }
    buf.par_chunks_mut(BLOCK)
        .enumerate()
        .try_for_each(|(k, chunk)| file.read_exact_at(chunk, (k * BLOCK) as u64))?;
    // The file may have grown since: read the rest as well.
    let mut more = Vec::new();
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = &file;
        f.seek(SeekFrom::Start(len as u64))?;
        f.read_to_end(&mut more)?;
    }
    buf.extend_from_slice(&more);
    // UTF-8 by blocks that start on a character boundary.
    let mut cuts = vec![0];
    let mut at = BLOCK;
    while at < buf.len() {
        while at < buf.len() && (buf[at] & 0xC0) == 0x80 {
            at += 1;
        }
        cuts.push(at);
        at += BLOCK;
    }
    cuts.push(buf.len());
    cuts.dedup();
    let ok = cuts
        .par_windows(2)
        .all(|w| std::str::from_utf8(&buf[w[0]..w[1]]).is_ok());
    if !ok {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidData));
    }
    // SAFETY: every block, each starting on a character boundary, was checked as UTF-8.
    Ok(unsafe { String::from_utf8_unchecked(buf) })
}

/// What one chunk of the features array holds: the features that start in it (the last may
/// end past it), and where the scan stopped (the first token at or after the chunk's end, or
/// the array's closing bracket).
struct ChunkScan {
    first: usize,
    spans: Vec<(usize, usize)>,
    stop: usize,
    closed: bool,
}

/// Scans from `from` (between two elements of the features array) to `end`.
fn scan_chunk(t: &[u8], from: usize, end: usize) -> Option<ChunkScan> {
    let skip_gap = |mut i: usize| {
        while i < t.len() && matches!(t[i], b' ' | b'\n' | b'\r' | b'\t' | b',') {
            i += 1;
        }
        i
    };
    let mut i = skip_gap(from);
    let first = i;
    let mut spans = Vec::with_capacity((end.saturating_sub(from)) / 256 + 1);
    loop {
        if i >= end || i >= t.len() {
            return Some(ChunkScan {
                first,
                spans,
                stop: i,
                closed: false,
            });
        }
        match t[i] {
            b']' => {
                return Some(ChunkScan {
                    first,
                    spans,
                    stop: i,
                    closed: true,
                })
            }
            b'{' => {
                let e = scan::nested(t, i)?;
                spans.push((i, e));
                i = skip_gap(e);
            }
            _ => return None,
        }
    }
}

/// Splits the features array that opens at `open` (its `[`) into the features' spans, and
/// returns them with the position of the closing `]`; None when the scan cannot (the caller
/// then parses with serde_json).
fn split_array(text: &str, open: usize) -> Option<(Vec<(usize, usize)>, usize)> {
    let t = text.as_bytes();
    const CHUNK: usize = 4 << 20;
    let mut bounds = vec![open + 1];
    let mut at = open + 1 + CHUNK;
    while at < t.len() {
        match memchr::memchr(b'\n', &t[at..]) {
            Some(k) => {
                bounds.push(at + k + 1);
                at += k + 1 + CHUNK;
            }
            None => break,
        }
    }
    bounds.push(t.len());
    bounds.dedup();
    let scans: Vec<Option<ChunkScan>> = bounds
        .par_windows(2)
        .map(|w| scan_chunk(t, w[0], w[1]))
        .collect();
    // Join the chunks in order, each agreeing with where the one before it stopped; a chunk
    // that guessed wrong (it began inside a feature) is scanned again from there.
    let mut spans = Vec::with_capacity(scans.iter().flatten().map(|s| s.spans.len()).sum());
    let mut pos = open + 1;
    for (w, s) in bounds.windows(2).zip(scans) {
        let end = w[1];
        if pos >= end {
            continue;
        }
        let s = match s {
            Some(s) if s.first == pos => s,
            _ => scan_chunk(t, pos, end)?,
        };
        spans.extend(s.spans);
        pos = s.stop;
        if s.closed {
            return Some((spans, pos));
        }
    }
    None
}

/// The top-level object of a FeatureCollection, scanned without building it: the spans of its
/// features, when the file is plain enough for that (otherwise None, and serde_json decides).
fn split_collection(text: &str) -> Option<Vec<(usize, usize)>> {
    let t = text.as_bytes();
    let mut i = scan::skip_whitespace(t, 0);
    if t.get(i) != Some(&b'{') {
        return None;
    }
    i = scan::skip_whitespace(t, i + 1);
    let (mut kind_ok, mut features) = (false, None);
    let mut seen = Vec::new();
    loop {
        if t.get(i) != Some(&b'"') {
            return None;
        }
        let k_end = scan::string(t, i + 1)?;
        let key = &text[i + 1..k_end - 1];
        if key.contains('\\') || seen.contains(&key) {
            return None;
        }
        seen.push(key);
        i = scan::skip_whitespace(t, k_end);
        if t.get(i) != Some(&b':') {
            return None;
        }
        i = scan::skip_whitespace(t, i + 1);
        let v_end = match key {
            "features" => {
                if t.get(i) != Some(&b'[') {
                    return None;
                }
                let (spans, close) = split_array(text, i)?;
                // The gaps between features: a comma and whitespace, nothing else.
                let gaps_ok = {
                    let mut from = i + 1;
                    let mut ok = true;
                    for (n, (s, e)) in spans.iter().enumerate() {
                        let gap = &t[from..*s];
                        let commas = gap.iter().filter(|b| **b == b',').count();
                        ok &= commas == usize::from(n > 0)
                            && gap
                                .iter()
                                .all(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t' | b','));
                        from = *e;
                    }
                    ok && t[from..close]
                        .iter()
                        .all(|b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
                };
                if !gaps_ok {
                    return None;
                }
                features = Some(spans);
                close + 1
            }
            _ => {
                let e = scan::value(t, i)?;
                serde_json::from_str::<IgnoredAny>(&text[i..e]).ok()?;
                if key == "type" {
                    kind_ok = &text[i..e] == "\"FeatureCollection\"";
                }
                e
            }
        };
        i = scan::skip_whitespace(t, v_end);
        match t.get(i) {
            Some(b',') => i = scan::skip_whitespace(t, i + 1),
            Some(b'}') => break,
            _ => return None,
        }
    }
    if scan::skip_whitespace(t, i + 1) != t.len() || !kind_ok {
        return None;
    }
    features
}

/// A fast 64-bit hash of a feature id, for the id lookup table.
pub(super) fn id_hash(s: &str) -> u64 {
    let b = s.as_bytes();
    let mut h: u64 = 0x9E37_79B9_7F4A_7C15 ^ (b.len() as u64);
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h ^ w).wrapping_mul(0xBF58_476D_1CE4_E5B9).rotate_left(29);
    }
    let mut last = [0u8; 8];
    last[..chunks.remainder().len()].copy_from_slice(chunks.remainder());
    h = (h ^ u64::from_le_bytes(last)).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 31)
}

/// The features of one stretch of the file, parsed and gathered column by column.
struct ParsedBlock {
    /// The position of its first feature in the layer.
    first: usize,
    /// The features' JSON, and where each is in it.
    segment: Segment,
    stored: Vec<(u32, u32)>,
    /// Each feature's [`id_hash`], for the id table.
    id_hashes: Vec<u64>,
    /// Each feature's point: NaN for a feature without a geometry, or whose geometry is
    /// another shape (listed in `shapes`). A layer of points then needs one copy of them.
    points: Vec<[f64; 2]>,
    /// The features whose geometry is not a point: their position in the part, and shape.
    shapes: Vec<(u32, Box<Geometry<f64>>)>,
    times: Vec<Interval>,
    /// Per queryable: distinct raw values (in order of first appearance) and each feature's
    /// index into them (`u32::MAX` for none).
    distinct: Vec<Vec<Box<str>>>,
    codes: Vec<Vec<u32>>,
    tmin: i64,
    tmax: i64,
    /// The first failure: the feature's position in the part and what is wrong.
    error: Option<(usize, FeatureError)>,
}

impl ParsedBlock {
    fn failure(&self) -> Option<(usize, &FeatureError)> {
        self.error.as_ref().map(|(k, e)| (self.first + k, e))
    }
}

/// The JSON whitespace around a value.
fn trim_ws(s: &str) -> &str {
    s.trim_matches(|c| matches!(c, ' ' | '\n' | '\r' | '\t'))
}

fn parse_part(
    spec: &CollectionSpec,
    wanted: &[&str],
    text: &str,
    first: usize,
    spans: &[(usize, usize)],
    dict: &SharedDict,
) -> ParsedBlock {
    let mut part = PartBuilder::new(spec, dict, spans.len());
    for span in spans {
        let raw = &text[span.0..span.1];
        let parsed = parse_feature(spec, wanted, raw, &mut part.members, &mut part.dates);
        if !part.add(raw, parsed) {
            break;
        }
    }
    let mut part = part.finish();
    part.first = first;
    part
}

/// Gathers parsed features into a [`ParsedBlock`], one at a time, until the first that fails.
struct PartBuilder<'s> {
    spec: &'s CollectionSpec,
    part: ParsedBlock,
    segment: SegmentBuilder<'s>,
    /// The members of the feature being read, as the one-pass scan lists them.
    members: Vec<(usize, usize)>,
    /// Per queryable, the code of each raw text seen; the interval of each date's text.
    local: Vec<TextMemo<u32>>,
    dates: TextMemo<Interval>,
}

/// What a [`PartBuilder`] learns that holds for the whole layer, handed from one block to the
/// next on a thread: the dictionary's entries met, each date's interval.
#[derive(Default)]
pub(super) struct Memos {
    entries: TextMemo<u32>,
    dates: TextMemo<Interval>,
}

impl<'s> PartBuilder<'s> {
    fn new(spec: &'s CollectionSpec, dict: &'s SharedDict, n: usize) -> Self {
        Self::with_memos(spec, dict, n, Memos::default())
    }

    /// A builder starting from what earlier builders of the same layer (and dictionary)
    /// learnt.
    fn with_memos(spec: &'s CollectionSpec, dict: &'s SharedDict, n: usize, memos: Memos) -> Self {
        let nq = spec.queryables.len();
        PartBuilder {
            spec,
            part: ParsedBlock {
                first: 0,
                segment: Segment::default(),
                stored: Vec::with_capacity(n),
                id_hashes: Vec::with_capacity(n),
                points: Vec::with_capacity(n),
                shapes: Vec::new(),
                times: Vec::with_capacity(if spec.time_property.is_some() { n } else { 0 }),
                distinct: vec![Vec::new(); nq],
                codes: vec![Vec::with_capacity(n); nq],
                tmin: i64::MAX,
                tmax: i64::MIN,
                error: None,
            },
            segment: SegmentBuilder::with_memo(dict, memos.entries),
            members: Vec::new(),
            local: (0..nq).map(|_| TextMemo::default()).collect(),
            dates: memos.dates,
        }
    }

    /// Adds the feature `raw` as read; false (and the part records why) when it failed.
    fn add<'t>(&mut self, raw: &'t str, parsed: Result<Parsed<'t>, FeatureError>) -> bool {
        let spec = self.spec;
        let part = &mut self.part;
        let k = part.points.len();
        let p = match parsed {
            Ok(p) => p,
            Err(e) => {
                part.error = Some((k, e));
                return false;
            }
        };
        let (from, to) = p.props;
        let prefix = frame(raw, 0, from + 1, &p.own);
        let suffix = frame(raw, to - 1, raw.len(), &p.own);
        part.id_hashes.push(id_hash(&p.id));
        part.stored.push(if p.listed {
            self.segment.push_framed(
                &p.id,
                &prefix,
                self.members.iter().map(|(a, b)| &raw[*a..*b]),
                true,
                &suffix,
            )
        } else {
            // The serde path does not list the members: keep them as one piece.
            let inner = trim_ws(&raw[from + 1..to - 1]);
            self.segment.push_framed(
                &p.id,
                &prefix,
                (!inner.is_empty()).then_some(inner),
                false,
                &suffix,
            )
        });
        if k == 0 {
            // Room for as many features as the part expects, going by the first one's size
            // (room never written is never given memory).
            let room = self.segment.size() * part.stored.capacity() * 9 / 8;
            self.segment.reserve(room);
        }
        const NOWHERE: [f64; 2] = [f64::NAN, f64::NAN];
        match p.geom {
            Geom::None => part.points.push(NOWHERE),
            Geom::Point(pt) => part.points.push(pt),
            Geom::Shape(g) => {
                part.points.push(NOWHERE);
                part.shapes.push((k as u32, g));
            }
        }
        if spec.time_property.is_some() {
            if let Some(t) = p.time {
                part.tmin = part.tmin.min(t.start);
                part.tmax = part.tmax.max(t.end);
            }
            part.times.push(p.time.unwrap_or(Interval::ALL));
        }
        for (c, v) in p.values.into_iter().take(spec.queryables.len()).enumerate() {
            // Keyed by the raw text, so that a value seen before costs one lookup: no
            // reading of arrays, no allocation.
            let code = match v {
                None => u32::MAX,
                Some(raw) => match self.local[c].get(raw) {
                    Some(code) => *code,
                    None => {
                        let q = &spec.queryables[c];
                        let text = text_of(raw).and_then(|t| match t {
                            Some(text) => {
                                check_type(q.kind, q.array, raw, &text).map(|()| Some(text))
                            }
                            None => Ok(None),
                        });
                        let code = match text {
                            Ok(None) => u32::MAX,
                            Ok(Some(text)) => {
                                part.distinct[c].push(text.as_ref().into());
                                part.distinct[c].len() as u32 - 1
                            }
                            Err(e) => {
                                let problem = format!("\"{}\": {e}", q.property);
                                part.error =
                                    Some((k, FeatureError::new(Some(p.id.to_string()), problem)));
                                return false;
                            }
                        };
                        self.local[c].insert(raw, code);
                        code
                    }
                },
            };
            part.codes[c].push(code);
        }
        true
    }

    /// Room for `n` more features.
    fn reserve(&mut self, n: usize) {
        let part = &mut self.part;
        part.stored.reserve(n);
        part.id_hashes.reserve(n);
        part.points.reserve(n);
        if self.spec.time_property.is_some() {
            part.times.reserve(n);
        }
        for c in &mut part.codes {
            c.reserve(n);
        }
    }

    fn finish(self) -> ParsedBlock {
        self.finish_keeping_memos().0
    }

    /// [`finish`](Self::finish), also giving back what it learnt, for the next builder.
    fn finish_keeping_memos(self) -> (ParsedBlock, Memos) {
        let mut part = self.part;
        let (segment, entries) = self.segment.finish_keeping_memo();
        part.segment = segment;
        (
            part,
            Memos {
                entries,
                dates: self.dates,
            },
        )
    }
}

/// `raw[from..to]` in pieces: the spans of `own` inside it kept as the feature's own, the
/// text around them as text other features repeat. At most five pieces.
fn frame<'t>(raw: &'t str, from: usize, to: usize, own: &[(usize, usize); 2]) -> FrameList<'t> {
    let mut pieces = FrameList::default();
    let mut at = from;
    for &(a, b) in own {
        if a < b && from <= a && b <= to {
            if at < a {
                pieces.push(FramePiece {
                    text: &raw[at..a],
                    shared: true,
                });
            }
            pieces.push(FramePiece {
                text: &raw[a..b],
                shared: false,
            });
            at = b;
        }
    }
    if at < to {
        pieces.push(FramePiece {
            text: &raw[at..to],
            shared: true,
        });
    }
    pieces
}

/// The pieces of a prefix or suffix, without an allocation per feature.
struct FrameList<'t> {
    pieces: [FramePiece<'t>; 5],
    n: usize,
}

impl Default for FrameList<'_> {
    fn default() -> Self {
        let empty = FramePiece {
            text: "",
            shared: false,
        };
        FrameList {
            pieces: [empty; 5],
            n: 0,
        }
    }
}

impl<'t> FrameList<'t> {
    fn push(&mut self, p: FramePiece<'t>) {
        self.pieces[self.n] = p;
        self.n += 1;
    }
}

impl<'t> std::ops::Deref for FrameList<'t> {
    type Target = [FramePiece<'t>];
    fn deref(&self) -> &Self::Target {
        &self.pieces[..self.n]
    }
}

/// Things handed from one block to the next, one per thread at a time: read buffers (a fresh
/// one for every block would have the kernel map and zero its pages each time), memos.
struct Pool<B>(std::sync::Mutex<Vec<B>>);

impl<B> Default for Pool<B> {
    fn default() -> Self {
        Pool(std::sync::Mutex::new(Vec::new()))
    }
}

/// Read buffers.
type Buffers = Pool<Vec<u8>>;

impl<B: Default> Pool<B> {
    fn with<T>(&self, f: impl FnOnce(&mut B) -> T) -> T {
        let taken = self.0.lock().ok().and_then(|mut v| v.pop());
        let mut buf = taken.unwrap_or_default();
        let out = f(&mut buf);
        if let Ok(mut v) = self.0.lock() {
            v.push(buf);
        }
        out
    }
}

/// Bytes per block of a streamed load (a multiple of [`DIGEST_BLOCK`]).
const STREAM_BLOCK: usize = 8 << 20;

/// How much of the file's start (and end) may hold the collection's other members.
const FRAME_MAX: usize = 1 << 20;

/// A layer's features, parsed.
struct Features {
    n: usize,
    parts: Vec<ParsedBlock>,
    /// The dictionary of the parts' segments.
    dict: SharedDict,
    digest: u64,
}

/// The position of the `[` that opens the features array, scanning the collection's members
/// before it (checked properly later, with the rest of the frame).
fn features_open(t: &[u8]) -> Option<usize> {
    let mut i = scan::skip_whitespace(t, 0);
    if t.get(i) != Some(&b'{') {
        return None;
    }
    i = scan::skip_whitespace(t, i + 1);
    loop {
        if t.get(i) != Some(&b'"') {
            return None;
        }
        let k_end = scan::string(t, i + 1)?;
        let key = &t[i + 1..k_end - 1];
        i = scan::skip_whitespace(t, k_end);
        if t.get(i) != Some(&b':') {
            return None;
        }
        i = scan::skip_whitespace(t, i + 1);
        if key == b"features" {
            return (t.get(i) == Some(&b'[')).then_some(i);
        }
        i = scan::skip_whitespace(t, scan::value(t, i)?);
        if t.get(i) != Some(&b',') {
            return None;
        }
        i = scan::skip_whitespace(t, i + 1);
    }
}

/// The properties a feature is read for: the required ones, the time property, then each
/// queryable's (a name may repeat: every slot that names it gets the value).
pub(super) fn wanted_properties(spec: &CollectionSpec) -> Vec<&str> {
    let mut wanted: Vec<&str> = spec.required.iter().map(String::as_str).collect();
    wanted.extend(spec.time_property.as_deref());
    wanted.extend(spec.queryables.iter().map(|q| q.property.as_str()));
    wanted
}

/// Loads `spec.file` below `dir`.
/// Reads the file whole and splits it into features: by lines if it holds one feature per
/// line, by structure otherwise, and with serde_json when neither scan understands it (which
/// then words the error).
fn read_whole(
    path: &Path,
    file: &str,
    spec: &CollectionSpec,
    wanted: &[&str],
) -> Result<Features, LoadError> {
    let text = read_text(path).map_err(|e| LoadError::Read {
        file: file.to_string(),
        problem: e.kind().to_string(),
    })?;
    parse_whole(&text, file, spec, wanted)
}

/// Parses the whole text of a FeatureCollection; `file` names it in messages.
fn parse_whole(
    text: &str,
    file: &str,
    spec: &CollectionSpec,
    wanted: &[&str],
) -> Result<Features, LoadError> {
    let digest = digest_bytes(text.as_bytes());
    let threads = rayon::current_num_threads().max(1);
    let dict = SharedDict::default();
    let parse_all = |spans: &[(usize, usize)]| -> Vec<ParsedBlock> {
        let per_part = (spans.len() / (threads * 8)).clamp(1, 16_384);
        spans
            .par_chunks(per_part)
            .enumerate()
            .map(|(k, s)| parse_part(spec, wanted, text, k * per_part, s, &dict))
            .collect()
    };
    let spans: Vec<(usize, usize)> = match split_collection(text) {
        Some(spans) => spans,
        None => {
            let base = text.as_ptr() as usize;
            let collection: Collection =
                serde_json::from_str(text).map_err(|e| LoadError::NotCollection {
                    file: file.to_string(),
                    problem: e.to_string(),
                })?;
            if collection.kind != "FeatureCollection" {
                return Err(LoadError::NotCollection {
                    file: file.to_string(),
                    problem: format!("\"type\" is \"{}\"", collection.kind),
                });
            }
            collection
                .features
                .iter()
                .map(|r| {
                    let at = r.get().as_ptr() as usize - base;
                    (at, at + r.get().len())
                })
                .collect()
        }
    };
    let (n, parts) = (spans.len(), parse_all(&spans));
    Ok(Features {
        n,
        parts,
        dict,
        digest,
    })
}

pub fn load_layer(dir: &Path, spec: &Arc<CollectionSpec>) -> Result<Layer, LoadError> {
    let started = Instant::now();
    let file = spec.file.to_string();
    let path = dir.join(&spec.file);
    let phase = |name: &str| {
        tracing::debug!(
            layer = spec.id,
            ms = started.elapsed().as_millis() as u64,
            "{name}"
        )
    };
    let wanted = wanted_properties(spec);
    let read_error = |e: std::io::Error| LoadError::Read {
        file: file.clone(),
        problem: e.kind().to_string(),
    };
    let streamed =
        structure::stream_structure(&path, spec, &wanted, STREAM_BLOCK).map_err(read_error)?;
    if streamed.is_none() {
        phase("not plain enough to stream: reading whole");
    }
    let features = match streamed {
        Some(f) => f,
        None => read_whole(&path, &file, spec, &wanted)?,
    };
    build_layer(spec, &file, features, started)
}

/// Loads a layer from the text of a GeoJSON FeatureCollection held in memory (the rows of a
/// database table, or a feature about to be written), checked exactly as a file is; `source`
/// names it in messages.
pub fn load_layer_from_text(
    text: &str,
    spec: &Arc<CollectionSpec>,
    source: &str,
) -> Result<Layer, LoadError> {
    let started = Instant::now();
    let wanted = wanted_properties(spec);
    let features = parse_whole(text, source, spec, &wanted)?;
    build_layer(spec, source, features, started)
}

/// Checks, stores and indexes parsed features.
fn build_layer(
    spec: &Arc<CollectionSpec>,
    file: &str,
    features: Features,
    started: Instant,
) -> Result<Layer, LoadError> {
    let phase = |name: &str| {
        tracing::debug!(
            layer = spec.id,
            ms = started.elapsed().as_millis() as u64,
            "{name}"
        )
    };
    let Features {
        n,
        mut parts,
        dict,
        digest,
    } = features;
    phase("parsed");
    let feature_error = |i: usize, id: Option<&str>, problem: String| LoadError::Feature {
        file: file.to_string(),
        feature: feature_label(i, id),
        problem,
    };
    // The first feature that fails to parse; features after it are not looked at.
    let failed = parts
        .iter()
        .find_map(|p| p.failure().map(|(i, e)| (i, e.clone())));
    let parsed_n = failed.as_ref().map_or(n, |(i, _)| *i);

    // Ids: a table of (hash, position) sorted by hash; equal ids sit together.
    let mut segments = Vec::with_capacity(parts.len());
    let mut hashes = Vec::with_capacity(parts.len());
    for p in &mut parts {
        segments.push((
            std::mem::take(&mut p.segment),
            std::mem::take(&mut p.stored),
        ));
        hashes.push((p.first, std::mem::take(&mut p.id_hashes)));
        if p.error.is_some() {
            break;
        }
    }
    // The store and its ids on one side, the geometries, columns and index on the other: each
    // half has steps that run on one core.
    let unfailed = failed.is_none();
    let ((store, ids), placed) = rayon::join(
        || {
            rayon::join(
                || {
                    let store = Store::build(segments, dict);
                    tracing::debug!(layer = spec.id, bytes = store.size(), "stored");
                    store
                },
                || {
                    let ids = id_table(hashes, parsed_n);
                    phase("ids");
                    ids
                },
            )
        },
        move || unfailed.then(|| place(spec, parts, n, &phase)),
    );
    let duplicate = first_duplicate(&ids, &store);
    let id_of = |i: usize| -> &str { store.id(i as u32) };
    if let Some(d) = duplicate.filter(|d| *d < parsed_n) {
        return Err(feature_error(
            d,
            Some(id_of(d)),
            "its id is not unique in the file".into(),
        ));
    }
    if let Some((i, e)) = failed {
        return Err(feature_error(i, e.id.as_deref(), e.problem));
    }

    let Indexed {
        shapes,
        unplaced,
        times,
        columns,
        index,
        extent,
    } = placed.expect("placed whenever every feature parsed");
    let load_ms = started.elapsed().as_millis();
    tracing::info!(
        layer = spec.id,
        features = n,
        ms = load_ms as u64,
        "layer loaded"
    );
    Ok(Layer {
        spec: Arc::clone(spec),
        store,
        ids,
        shapes,
        times,
        columns,
        index,
        unplaced,
        extent,
        load_ms,
        from_cache: false,
        digest,
        orders: Default::default(),
    })
}

/// The id lookup table of the first `n` features, `(hash of the id, position)` sorted, from
/// the parts' hashes (each with the position of its first feature).
fn id_table(hashes: Vec<(usize, Vec<u64>)>, n: usize) -> Vec<(u64, u32)> {
    let mut ids: Vec<(u64, u32)> = Vec::with_capacity(n);
    ids.par_extend(hashes.into_par_iter().flat_map_iter(|(first, h)| {
        h.into_iter()
            .enumerate()
            .map(move |(k, h)| (h, (first + k) as u32))
    }));
    ids.retain(|(_, i)| (*i as usize) < n);
    crate::sort::sort_by_high_bits(&mut ids, |(h, _)| (h >> 32) as u32);
    ids
}

/// The first position whose id an earlier feature already has (as a one-by-one check would
/// stop there), from the sorted id table.
fn first_duplicate(ids: &[(u64, u32)], store: &Store) -> Option<usize> {
    let id_of = |i: usize| -> &str { store.id(i as u32) };
    let mut duplicate: Option<usize> = None;
    let mut run = 0;
    while run < ids.len() {
        let mut end = run + 1;
        while end < ids.len() && ids[end].0 == ids[run].0 {
            end += 1;
        }
        if end - run > 1 {
            let group = &ids[run..end];
            for (a, (_, i)) in group.iter().enumerate() {
                if let Some((_, j)) = group[..a]
                    .iter()
                    .find(|(_, j)| id_of(*j as usize) == id_of(*i as usize))
                {
                    let later = (*i).max(*j) as usize;
                    duplicate = Some(duplicate.map_or(later, |d| d.min(later)));
                }
            }
        }
        run = end;
    }
    duplicate
}

/// A layer's features placed: their shapes, index and extent, dates and filter columns.
struct Indexed {
    shapes: Shapes,
    unplaced: Vec<u32>,
    times: Option<Vec<Interval>>,
    columns: Vec<Column>,
    index: SpatialIndex,
    extent: Extent,
}

/// Gathers the parts' geometries, dates and filter values into the layer's columns (each
/// distinct value folded once) and indexes the geometries.
fn place(
    spec: &CollectionSpec,
    mut parts: Vec<ParsedBlock>,
    n: usize,
    phase: &(dyn Fn(&str) + Sync),
) -> Indexed {
    let all_points = parts.iter().all(|p| p.shapes.is_empty());
    let mut points: Vec<[f64; 2]> = Vec::new();
    let mut shapes: Vec<Option<Geometry<f64>>> = Vec::new();
    // A layer of points is indexed from its points; others from their shapes' boxes.
    let mut boxes: Vec<[f64; 4]> = Vec::new();
    let mut positions: Vec<u32> = Vec::new();
    let mut unplaced = Vec::new();
    let mut times = spec.time_property.as_ref().map(|_| Vec::with_capacity(n));
    // The columns' dictionaries first, part by part in order: distinct values are few. Each
    // distinct text gets one code for the layer.
    let ncol = spec.queryables.len();
    let mut texts: Vec<Vec<Box<str>>> = vec![Vec::new(); ncol];
    let mut codes_of: Vec<HashMap<Box<str>, u32>> = vec![HashMap::new(); ncol];
    let mut part_codes: Vec<Vec<Vec<u32>>> = vec![Vec::with_capacity(parts.len()); ncol];
    for part in &parts {
        for c in 0..ncol {
            let global: Vec<u32> = part.distinct[c]
                .iter()
                .map(|v| match codes_of[c].get(v) {
                    Some(code) => *code,
                    None => {
                        let code = texts[c].len() as u32;
                        texts[c].push(v.clone());
                        codes_of[c].insert(v.clone(), code);
                        code
                    }
                })
                .collect();
            part_codes[c].push(global);
        }
    }
    drop(codes_of);
    let mut columns: Vec<Column> = spec
        .queryables
        .iter()
        .zip(texts)
        .map(|(q, texts)| Column {
            // Every text was checked against the type as it was read.
            values: Values::from_texts(q.kind, texts).unwrap_or(Values::Integer(Vec::new())),
            codes: Vec::with_capacity(n),
        })
        .collect();
    let tmin = parts.iter().map(|p| p.tmin).min().unwrap_or(i64::MAX);
    let tmax = parts.iter().map(|p| p.tmax).max().unwrap_or(i64::MIN);
    let mut part_shapes: Vec<_> = parts
        .iter_mut()
        .map(|p| std::mem::take(&mut p.shapes))
        .collect();
    // Then each array joined from the parts on its own core: they are copies into fresh
    // memory, where each page's first touch costs more than the copy.
    let parts = &parts;
    rayon::scope(|scope| {
        scope.spawn(|_| {
            if all_points {
                points.reserve(n);
                for part in parts {
                    points.extend_from_slice(&part.points);
                }
                unplaced.extend(
                    points
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| p[0].is_nan())
                        .map(|(i, _)| i as u32),
                );
                return;
            }
            shapes.reserve(n);
            boxes.reserve(n);
            positions.reserve(n);
            for (part, part_shapes) in parts.iter().zip(part_shapes.iter_mut()) {
                let placed = |k: usize| (part.first + k) as u32;
                let mut others = std::mem::take(part_shapes).into_iter().peekable();
                for (k, pt) in part.points.iter().enumerate() {
                    let idx = placed(k);
                    if let Some((_, g)) = others.next_if(|(j, _)| *j as usize == k) {
                        let r = g.bounding_rect().expect("checked when parsed");
                        boxes.push([r.min().x, r.min().y, r.max().x, r.max().y]);
                        positions.push(idx);
                        shapes.push(Some(*g));
                    } else if pt[0].is_nan() {
                        unplaced.push(idx);
                        shapes.push(None);
                    } else {
                        boxes.push([pt[0], pt[1], pt[0], pt[1]]);
                        positions.push(idx);
                        shapes.push(Some(Geometry::Point(geo::Point::new(pt[0], pt[1]))));
                    }
                }
            }
        });
        if let Some(times) = times.as_mut() {
            scope.spawn(move |_| {
                for part in parts {
                    times.extend_from_slice(&part.times);
                }
            });
        }
        for (c, (col, globals)) in columns.iter_mut().zip(&part_codes).enumerate() {
            scope.spawn(move |_| {
                for (part, global) in parts.iter().zip(globals) {
                    col.codes.extend(part.codes[c].iter().map(|l| {
                        if *l == u32::MAX {
                            u32::MAX
                        } else {
                            global[*l as usize]
                        }
                    }));
                }
            });
        }
    });
    phase("columns");
    let index = if all_points {
        SpatialIndex::from_points(&points)
    } else {
        SpatialIndex::from_boxes(boxes, positions)
    };
    phase("indexed");
    let extent = Extent {
        bbox: index.bbox(),
        interval: (tmin <= tmax).then(|| (format_instant(tmin), format_instant(tmax))),
    };
    let shapes = if all_points {
        Shapes::Points(points)
    } else {
        Shapes::Any(shapes)
    };
    Indexed {
        shapes,
        unplaced,
        times,
        columns,
        index,
        extent,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What serde_json's path makes of a geometry: the point, or None for another shape.
    fn serde_point(raw: &str) -> Option<(f64, f64)> {
        let p = serde_json::from_str::<PointGeometry>(raw).ok()?;
        (p.kind == "Point" && p.coordinates.n == 2)
            .then(|| (p.coordinates.v[0], p.coordinates.v[1]))
    }

    #[test]
    fn a_layer_of_points_shapes_and_features_without_geometry_keeps_each_at_its_place() {
        let dir = std::env::temp_dir().join(format!("kat-mixed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let props = r#""group":"Synthetic group","status":"controlled","source_url":"https://example.org/synthetic","as_of":"2024-05-01","synthetic":true"#;
        let square = r#"{"type":"Polygon","coordinates":[[[-72.4,18.5],[-72.3,18.5],[-72.3,18.6],[-72.4,18.6],[-72.4,18.5]]]}"#;
        let geometries = [
            square,
            r#"{"type":"Point","coordinates":[-72.0,19.0]}"#,
            "null",
            square,
            r#"{"type":"Point","coordinates":[-73.0,18.2]}"#,
        ];
        let features: Vec<String> = geometries
            .iter()
            .enumerate()
            .map(|(i, g)| {
                format!(
                    r#"{{"type":"Feature","id":"s{i}","geometry":{g},"properties":{{{props}}}}}"#
                )
            })
            .collect();
        let text = format!(
            "{{\"type\":\"FeatureCollection\",\"features\":[\n{}\n]}}\n",
            features.join(",\n")
        );
        std::fs::write(dir.join("gang_areas.geojson"), text).unwrap();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/kat.toml");
        let config = crate::catalog::config::Config::load(&path).unwrap();
        let spec = config.collection("gang_areas").unwrap();
        let layer = load_layer(&dir, spec).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(layer.unplaced, vec![2]);
        let Shapes::Any(shapes) = &layer.shapes else {
            panic!("a layer with polygons keeps its shapes");
        };
        let kinds: Vec<&str> = shapes
            .iter()
            .map(|g| match g {
                None => "none",
                Some(Geometry::Point(_)) => "point",
                Some(Geometry::Polygon(_)) => "polygon",
                Some(_) => "other",
            })
            .collect();
        assert_eq!(kinds, ["polygon", "point", "none", "polygon", "point"]);
        // Each placed feature is found by a box around it alone, and only there.
        for (r, want) in [
            (
                crate::index::Rect::new([-72.35, 18.55], [-72.34, 18.56]),
                vec![0, 3],
            ),
            (
                crate::index::Rect::new([-72.01, 18.99], [-71.99, 19.01]),
                vec![1],
            ),
            (
                crate::index::Rect::new([-73.01, 18.19], [-72.99, 18.21]),
                vec![4],
            ),
        ] {
            let mut got = layer.index.query(&[r], None, None, 0, 10).items;
            got.sort_unstable();
            assert_eq!(got, want, "{r:?}");
        }
    }

    #[test]
    fn a_plain_point_in_any_layout_reads_as_serde_json_reads_it() {
        let read = [
            r#"{"coordinates":[-72.341756,19.713089],"type":"Point"}"#,
            r#"{"type":"Point","coordinates":[-72.341756,19.713089]}"#,
            r#"{"type": "Point", "coordinates": [-72.3, 19.7]}"#,
            "{\n  \"coordinates\" : [\n    -7.23e1 ,\n    1.97E+1\n  ] ,\r\n  \"type\" : \"Point\"\n}",
            r#"{"coordinates":[-0,0.5],"type":"Point"}"#,
        ];
        for raw in read {
            let got = plain_point(raw);
            assert!(got.is_some(), "{raw}");
            assert_eq!(got, serde_point(raw), "{raw}");
        }
        // Other shapes are serde_json's to read (or refuse).
        let left = [
            r#"{"coordinates":[-72.3,19.7,12],"type":"Point"}"#,
            r#"{"coordinates":[-72.3],"type":"Point"}"#,
            r#"{"coordinates":[-72.3,19.7],"type":"Point","bbox":[1,2,3,4]}"#,
            r#"{"coordinates":[-72.3,19.7]}"#,
            r#"{"type":"Point","type":"Point","coordinates":[-72.3,19.7]}"#,
            r#"{"coordinates":[[-72.3,19.7]],"type":"MultiPoint"}"#,
            r#"{"coordinates":["-72.3",19.7],"type":"Point"}"#,
            r#"{}"#,
        ];
        for raw in left {
            assert_eq!(plain_point(raw), None, "{raw}");
        }
    }
}
