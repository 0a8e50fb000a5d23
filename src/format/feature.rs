//! A query's features read back from their stored JSON, and one scan over them that finds
//! the columns a table needs.
//!
//! Values stay raw JSON ([`RawValue`]) until an encoder asks for them as a cell, so that a
//! scan over a million features allocates little more than the property names.
//!
//! ```
//! use kat::format::feature::{kind_of, Kind};
//! let raw: &serde_json::value::RawValue = serde_json::from_str("\"2024-10-03\"").unwrap();
//! assert_eq!(kind_of(raw), Kind::Day);
//! let raw: &serde_json::value::RawValue = serde_json::from_str("-3").unwrap();
//! assert_eq!(kind_of(raw), Kind::Integer);
//! ```

use crate::layer::Layer;
use crate::query::Results;
use indexmap::IndexMap;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// A stored feature that does not read back (a fault of the store, never of a request).
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("feature {id}: its stored JSON does not read back")]
    Json {
        id: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("feature {id}: its geometry does not convert")]
    Geometry {
        id: String,
        #[source]
        source: Box<geojson::Error>,
    },
}

/// One feature's parts, borrowed from its JSON.
#[derive(Debug, Deserialize)]
pub struct Feature<'a> {
    #[serde(borrow, default)]
    pub id: Option<&'a RawValue>,
    #[serde(borrow, default)]
    pub geometry: Option<&'a RawValue>,
    /// In the order the feature gives them (`distance_m` first in a `near` answer).
    #[serde(borrow, default)]
    pub properties: Option<Properties<'a>>,
}

/// A feature's properties in the order it gives them, names and values borrowed from its
/// JSON (a name is copied only when it holds an escape).
///
/// A list, not a map: an encoder asks for the properties in the order the layer's features
/// share, so [`Properties::get_from`] finds each at the cursor it leaves. Reading them into
/// an `IndexMap` of owned names cost a copy and a SipHash per property; at a million
/// incidents a CSV download spent a fifth of its time in allocation, hashing and rehashing.
///
/// ```
/// use kat::format::feature::Feature;
/// let f: Feature = serde_json::from_str(r#"{"properties": {"a": 1, "b": "x"}}"#).unwrap();
/// let p = f.properties.unwrap();
/// assert_eq!(p.get("b").map(|v| v.get()), Some("\"x\""));
/// let mut at = 0;
/// assert_eq!(p.get_from("a", &mut at).map(|v| v.get()), Some("1"));
/// assert_eq!((p.get_from("b", &mut at).is_some(), at), (true, 2));
/// assert!(p.get("c").is_none());
/// // Out of the feature's order, or with an escaped name, a property is still found.
/// let f: Feature = serde_json::from_str(r#"{"properties": {"b": 2, "\u0061": 1}}"#).unwrap();
/// let p = f.properties.unwrap();
/// let mut at = 0;
/// assert_eq!(p.get_from("a", &mut at).map(|v| v.get()), Some("1"));
/// assert_eq!(p.get_from("b", &mut at).map(|v| v.get()), Some("2"));
/// ```
#[derive(Debug, Default)]
pub struct Properties<'a>(pub Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Properties<'a> {
    /// The value of `name`, if the feature has it.
    pub fn get(&self, name: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| *v)
    }

    /// The value of `name`, looked for first at `*at` and then everywhere; `*at` moves past
    /// it, so that properties asked for in the feature's own order are each found at once.
    pub fn get_from(&self, name: &str, at: &mut usize) -> Option<&'a RawValue> {
        if let Some((k, v)) = self.0.get(*at) {
            if k == name {
                *at += 1;
                return Some(*v);
            }
        }
        let found = self.0.iter().position(|(k, _)| k == name)?;
        *at = found + 1;
        Some(self.0[found].1)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &'a RawValue)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), *v))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Properties<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Name<'a>(Cow<'a, str>);
        impl<'de: 'a, 'a> Deserialize<'de> for Name<'a> {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> serde::de::Visitor<'de> for V {
                    type Value = Name<'de>;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        f.write_str("a property name")
                    }
                    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Name<'de>, E> {
                        Ok(Name(Cow::Borrowed(s)))
                    }
                    fn visit_str<E>(self, s: &str) -> Result<Name<'de>, E> {
                        Ok(Name(Cow::Owned(s.to_owned())))
                    }
                    fn visit_string<E>(self, s: String) -> Result<Name<'de>, E> {
                        Ok(Name(Cow::Owned(s)))
                    }
                }
                d.deserialize_str(V)
            }
        }
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Properties<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a properties object")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut m: M,
            ) -> Result<Properties<'de>, M::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(24));
                while let Some((Name(k), v)) = m.next_entry::<Name<'de>, &'de RawValue>()? {
                    out.push((k, v));
                }
                Ok(Properties(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl Feature<'_> {
    /// The id as text (a string's content, a number's digits), empty for none.
    pub fn id_text(&self) -> Cow<'_, str> {
        self.id.map_or(Cow::Borrowed(""), cell_text)
    }

    /// The geometry's type name (`Point`, `MultiPolygon`, ...), without reading its
    /// coordinates into memory.
    pub fn geometry_type(&self) -> Option<GeometryType> {
        #[derive(Deserialize)]
        struct TypeOnly<'t> {
            #[serde(rename = "type", borrow)]
            kind: Cow<'t, str>,
        }
        let raw = self.geometry?;
        let t: TypeOnly = serde_json::from_str(raw.get()).ok()?;
        GeometryType::from_name(&t.kind)
    }

    /// The point of a `Point` geometry, read as two numbers without building a geometry;
    /// `None` for any other geometry (or none).
    pub fn point(&self) -> Option<geo::Point<f64>> {
        #[derive(Deserialize)]
        struct PointOnly<'t> {
            #[serde(rename = "type", borrow)]
            kind: Cow<'t, str>,
            coordinates: Vec<f64>,
        }
        let raw = self.geometry?;
        if !raw.get().contains("\"Point\"") {
            return None;
        }
        let p: PointOnly = serde_json::from_str(raw.get()).ok()?;
        match (p.kind.as_ref(), p.coordinates.as_slice()) {
            ("Point", [x, y, ..]) => Some(geo::Point::new(*x, *y)),
            _ => None,
        }
    }

    /// The geometry, `None` for a feature without one.
    pub fn geometry(&self) -> Result<Option<geo::Geometry<f64>>, ReadError> {
        let Some(raw) = self.geometry.filter(|g| g.get() != "null") else {
            return Ok(None);
        };
        let fail = |source: geojson::Error| ReadError::Geometry {
            id: self.id_text().into_owned(),
            source: Box::new(source),
        };
        let g: geojson::Geometry = serde_json::from_str(raw.get()).map_err(|e| fail(e.into()))?;
        g.try_into().map(Some).map_err(fail)
    }
}

/// Reads the features of a query's answer, one at a time, into one reused buffer.
pub struct Features<'a> {
    layer: &'a Layer,
    results: &'a Results,
    buf: Vec<u8>,
}

impl<'a> Features<'a> {
    pub fn new(layer: &'a Layer, results: &'a Results) -> Self {
        Features {
            layer,
            results,
            buf: Vec::with_capacity(4096),
        }
    }

    /// How many features the answer holds.
    pub fn len(&self) -> usize {
        self.results.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.results.items.is_empty()
    }

    /// The answer's `i`-th feature, as the GeoJSON answer writes it (with `distance_m` in a
    /// `near` answer).
    pub fn read(&mut self, i: usize) -> Result<Feature<'_>, ReadError> {
        let idx = self.results.items[i];
        let distance = self.results.distances.as_ref().map(|d| d[i]);
        self.buf.clear();
        self.layer.write_feature(idx, &mut self.buf, distance);
        let layer = self.layer;
        serde_json::from_slice(&self.buf).map_err(|source| ReadError::Json {
            id: layer.feature_id(idx).to_string(),
            source,
        })
    }
}

/// What a JSON value is, as a table column cares: numbers split into whole and not, strings
/// that are dates apart from other text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Boolean,
    Integer,
    Real,
    /// A string `YYYY-MM-DD`.
    Day,
    /// A string that is an RFC 3339 date-time.
    DateTime,
    Text,
    Array,
    Object,
}

impl Kind {
    fn bit(self) -> u16 {
        1 << self as u16
    }
}

/// Classifies a raw JSON value by its first byte; strings are read only to tell dates.
pub fn kind_of(raw: &RawValue) -> Kind {
    let s = raw.get();
    match s.as_bytes().first() {
        Some(b'n') => Kind::Null,
        Some(b't' | b'f') => Kind::Boolean,
        Some(b'[') => Kind::Array,
        Some(b'{') => Kind::Object,
        Some(b'"') => {
            // A date never holds an escape, so its text sits between the quotes as it is.
            let inner = &s[1..s.len() - 1];
            if inner.len() == 10 && crate::temporal::parse_day(inner).is_some() {
                Kind::Day
            } else if inner.len() > 10
                && !inner.contains('\\')
                && chrono::DateTime::parse_from_rfc3339(inner).is_ok()
            {
                Kind::DateTime
            } else {
                Kind::Text
            }
        }
        _ if s.bytes().any(|b| matches!(b, b'.' | b'e' | b'E')) => Kind::Real,
        _ => Kind::Integer,
    }
}

/// A cell's text: a string's content, a number or boolean as JSON writes it, nothing for
/// null, an array's elements joined by `; `, an object as JSON.
pub fn cell_text(raw: &RawValue) -> Cow<'_, str> {
    match kind_of(raw) {
        Kind::Null => Cow::Borrowed(""),
        Kind::Day | Kind::DateTime | Kind::Text => {
            let s = raw.get();
            let inner = &s[1..s.len() - 1];
            if inner.contains('\\') {
                serde_json::from_str::<String>(s).map_or(Cow::Borrowed(inner), Cow::Owned)
            } else {
                Cow::Borrowed(inner)
            }
        }
        Kind::Boolean | Kind::Integer | Kind::Real => Cow::Borrowed(raw.get()),
        Kind::Array => {
            let elements: Vec<&RawValue> = serde_json::from_str(raw.get()).unwrap_or_default();
            let mut out = String::new();
            for (i, e) in elements.iter().enumerate() {
                if i > 0 {
                    out.push_str("; ");
                }
                out.push_str(&cell_text(e));
            }
            Cow::Owned(out)
        }
        Kind::Object => json_text(raw),
    }
}

/// The value as compact JSON text.
pub fn json_text(raw: &RawValue) -> Cow<'_, str> {
    let s = raw.get();
    if s.bytes().any(|b| b.is_ascii_whitespace()) {
        serde_json::from_str::<serde_json::Value>(s)
            .map_or(Cow::Borrowed(s), |v| Cow::Owned(v.to_string()))
    } else {
        Cow::Borrowed(s)
    }
}

/// The geometry types of GeoJSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeometryType {
    Point,
    LineString,
    Polygon,
    MultiPoint,
    MultiLineString,
    MultiPolygon,
    GeometryCollection,
}

impl GeometryType {
    pub fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "Point" => GeometryType::Point,
            "LineString" => GeometryType::LineString,
            "Polygon" => GeometryType::Polygon,
            "MultiPoint" => GeometryType::MultiPoint,
            "MultiLineString" => GeometryType::MultiLineString,
            "MultiPolygon" => GeometryType::MultiPolygon,
            "GeometryCollection" => GeometryType::GeometryCollection,
            _ => return None,
        })
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The set of geometry types met in a scan.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GeometryTypes(u8);

impl GeometryTypes {
    pub fn insert(&mut self, t: GeometryType) {
        self.0 |= t.bit();
    }

    pub fn contains(self, t: GeometryType) -> bool {
        self.0 & t.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every type met is `t`.
    pub fn only(self, t: GeometryType) -> bool {
        self.0 == t.bit()
    }

    /// Whether a type other than a point was met.
    pub fn has_non_point(self) -> bool {
        self.0 & !GeometryType::Point.bit() != 0
    }
}

/// The kinds of value one property holds across the features.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kinds(u16);

impl Kinds {
    pub fn insert(&mut self, k: Kind) {
        self.0 |= k.bit();
    }

    pub fn contains(self, k: Kind) -> bool {
        self.0 & k.bit() != 0
    }

    /// Whether every value that is not null is one of `kinds`, and one value at least is.
    pub fn all_in(self, kinds: &[Kind]) -> bool {
        let allowed = kinds.iter().fold(Kind::Null.bit(), |m, k| m | k.bit());
        self.0 & !allowed == 0 && self.0 & !Kind::Null.bit() != 0
    }
}

/// What one pass over an answer found: the properties in first-seen order with the kinds of
/// value each holds, and the geometry types.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    pub properties: IndexMap<String, Kinds>,
    pub geometry_types: GeometryTypes,
    pub features: usize,
}

impl Scan {
    /// Reads every feature of the answer once (not their coordinates).
    pub fn run(features: &mut Features) -> Result<Scan, ReadError> {
        let mut scan = Scan {
            features: features.len(),
            ..Scan::default()
        };
        for i in 0..features.len() {
            let f = features.read(i)?;
            if let Some(props) = &f.properties {
                for (j, (name, value)) in props.iter().enumerate() {
                    let kind = kind_of(value);
                    // Features of one layer mostly list their properties in one order: the
                    // name at the same place as last time needs no hashing.
                    if let Some((known, kinds)) = scan.properties.get_index_mut(j) {
                        if known == name {
                            kinds.insert(kind);
                            continue;
                        }
                    }
                    match scan.properties.get_mut(name) {
                        Some(kinds) => kinds.insert(kind),
                        None => {
                            let mut kinds = Kinds::default();
                            kinds.insert(kind);
                            scan.properties.insert(name.to_string(), kinds);
                        }
                    }
                }
            }
            if let Some(t) = f.geometry_type() {
                scan.geometry_types.insert(t);
            }
        }
        Ok(scan)
    }
}

/// Column names for the properties, none equal (ignoring ASCII case, as SQLite and
/// spreadsheets compare them) to another or to a `reserved` one: a clashing name gets
/// `_2`, `_3`, ... appended.
pub fn column_names<'n>(
    properties: impl Iterator<Item = &'n str>,
    reserved: &[&str],
) -> Vec<String> {
    let mut taken: std::collections::HashSet<String> =
        reserved.iter().map(|r| r.to_ascii_lowercase()).collect();
    properties
        .map(|name| {
            let mut candidate = name.to_string();
            let mut n = 1;
            while !taken.insert(candidate.to_ascii_lowercase()) {
                n += 1;
                candidate = format!("{name}_{n}");
            }
            candidate
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> &RawValue {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn values_are_told_apart_as_a_column_needs() {
        assert_eq!(kind_of(raw("null")), Kind::Null);
        assert_eq!(kind_of(raw("true")), Kind::Boolean);
        assert_eq!(kind_of(raw("12")), Kind::Integer);
        assert_eq!(kind_of(raw("1.5")), Kind::Real);
        assert_eq!(kind_of(raw("1e3")), Kind::Real);
        assert_eq!(kind_of(raw("\"2024-02-30\"")), Kind::Text);
        assert_eq!(kind_of(raw("\"2024-02-29\"")), Kind::Day);
        assert_eq!(kind_of(raw("\"2024-02-29T10:00:00Z\"")), Kind::DateTime);
        assert_eq!(kind_of(raw("\"2024-10\"")), Kind::Text);
        assert_eq!(kind_of(raw("[1]")), Kind::Array);
        assert_eq!(kind_of(raw("{}")), Kind::Object);
    }

    #[test]
    fn cells_read_as_a_person_writes_them() {
        assert_eq!(cell_text(raw("\"Pétion-Ville\"")), "Pétion-Ville");
        assert_eq!(cell_text(raw("\"a \\\"b\\\"\\n\"")), "a \"b\"\n");
        assert_eq!(cell_text(raw("[\"Gran Grif\", \"PNH\"]")), "Gran Grif; PNH");
        assert_eq!(cell_text(raw("null")), "");
        assert_eq!(cell_text(raw("4")), "4");
        assert_eq!(cell_text(raw("{ \"a\": 1 }")), "{\"a\":1}");
    }

    #[test]
    fn clashing_names_get_a_number() {
        let names = column_names(
            ["id", "Name", "name", "wkt", "x"].into_iter(),
            &["id", "wkt"],
        );
        assert_eq!(names, ["id_2", "Name", "name_2", "wkt_2", "x"]);
    }

    #[test]
    fn kinds_all_in_needs_one_value() {
        let mut k = Kinds::default();
        k.insert(Kind::Null);
        assert!(!k.all_in(&[Kind::Integer]));
        k.insert(Kind::Integer);
        assert!(k.all_in(&[Kind::Integer]));
        assert!(k.all_in(&[Kind::Integer, Kind::Real]));
        k.insert(Kind::Text);
        assert!(!k.all_in(&[Kind::Integer]));
    }
}
