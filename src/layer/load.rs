//! Reading one GeoJSON file into a [`Layer`]: parse, validate, index and keep each feature's
//! bytes, all once.
//!
//! The file's text is kept whole and each feature is served as the slice of it that the file
//! holds: no feature is ever re-encoded, and a million features cost their file size plus a
//! few dozen bytes each.

use super::{Column, Extent, Layer, LoadError, Record, Shapes};
use crate::index::{Entry, SpatialIndex};
use crate::layer::spec::{CollectionSpec, HAITI_EXTENT};
use crate::temporal::{format_instant, parse_feature_date, Interval};
use crate::text::fold;
use geo::{BoundingRect, Geometry, Validation};
use rayon::prelude::*;
use rstar::AABB;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::time::Instant;

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

/// The most queryables a collection declares.
const MAX_QUERYABLES: usize = 4;

struct Parsed<'a> {
    id: Cow<'a, str>,
    geom: Geom,
    time: Option<Interval>,
    /// The queryables' values as the file holds them (folded later, once per distinct value).
    values: [Option<Cow<'a, str>>; MAX_QUERYABLES],
    record: Record,
}

/// Picks the named members of the properties object without building the others.
struct Pick<'w>(&'w [&'w str]);

impl<'de> DeserializeSeed<'de> for Pick<'_> {
    type Value = Vec<Option<&'de RawValue>>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Pick<'_> {
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

fn is_null(v: Option<&RawValue>) -> bool {
    v.is_none_or(|v| v.get() == "null")
}

/// A JSON string, borrowed from the file unless it holds escapes.
fn json_str(v: &RawValue) -> Option<Cow<'_, str>> {
    match serde_json::from_str::<&str>(v.get()) {
        Ok(s) => Some(Cow::Borrowed(s)),
        Err(_) => serde_json::from_str::<String>(v.get()).ok().map(Cow::Owned),
    }
}

/// A property's text: a string as is, an array of strings joined by U+001F.
fn text_of(v: &RawValue) -> Result<Option<Cow<'_, str>>, String> {
    if v.get() == "null" {
        return Ok(None);
    }
    if let Some(s) = json_str(v) {
        return Ok(Some(s));
    }
    if let Ok(a) = serde_json::from_str::<Vec<Option<Cow<str>>>>(v.get()) {
        return Ok(Some(Cow::Owned(
            a.into_iter().flatten().collect::<Vec<_>>().join("\u{1f}"),
        )));
    }
    if let Ok(n) = serde_json::from_str::<serde_json::Number>(v.get()) {
        return Ok(Some(Cow::Owned(n.to_string())));
    }
    Err(format!(
        "expected a string, a number or an array of strings, found {}",
        v.get()
    ))
}

fn in_extent(r: &geo::Rect<f64>) -> bool {
    let [x0, y0, x1, y1] = HAITI_EXTENT;
    r.min().x >= x0 && r.max().x <= x1 && r.min().y >= y0 && r.max().y <= y1
}

fn parse_geometry(raw: Option<&RawValue>) -> Result<Geom, String> {
    let Some(raw) = raw.filter(|r| r.get() != "null") else {
        return Ok(Geom::None);
    };
    if let Ok(p) = serde_json::from_str::<PointGeometry>(raw.get()) {
        if p.kind == "Point" {
            if p.coordinates.n < 2 || p.coordinates.n > 3 {
                return Err("a Point needs 2 or 3 coordinates".into());
            }
            let (x, y) = (p.coordinates.v[0], p.coordinates.v[1]);
            if !x.is_finite() || !y.is_finite() {
                return Err("the Point's coordinates are not finite numbers".into());
            }
            let r = geo::Rect::new(geo::coord! {x: x, y: y}, geo::coord! {x: x, y: y});
            if !in_extent(&r) {
                return Err(format!(
                    "the Point [{x}, {y}] lies outside Haiti's extent {HAITI_EXTENT:?} (are longitude and latitude swapped?)"
                ));
            }
            return Ok(Geom::Point([x, y]));
        }
    }
    let g: geojson::Geometry =
        serde_json::from_str(raw.get()).map_err(|e| format!("invalid GeoJSON geometry: {e}"))?;
    let g: Geometry<f64> = g
        .try_into()
        .map_err(|e: geojson::Error| format!("unsupported geometry: {e}"))?;
    let r = g.bounding_rect().ok_or("the geometry is empty")?;
    if !in_extent(&r) {
        return Err(format!(
            "the geometry's bounding box [{}, {}, {}, {}] lies outside Haiti's extent {HAITI_EXTENT:?}",
            r.min().x,
            r.min().y,
            r.max().x,
            r.max().y
        ));
    }
    if let Some(problem) = g.validation_errors().into_iter().next() {
        return Err(format!("invalid geometry: {problem}"));
    }
    Ok(Geom::Shape(Box::new(g)))
}

fn parse_feature<'a>(
    spec: &CollectionSpec,
    wanted: &[&str],
    base: usize,
    raw: &'a RawValue,
) -> Result<Parsed<'a>, (Option<String>, String)> {
    let f: RawFeature = serde_json::from_str(raw.get())
        .map_err(|e| (None, format!("not a GeoJSON feature: {e}")))?;
    let id = match f.id {
        None => return Err((None, "has no \"id\"".into())),
        Some(v) => match json_str(v).ok_or(()) {
            Ok(s) if !s.is_empty() => s,
            Ok(_) => return Err((None, "\"id\" is empty".into())),
            Err(()) => match serde_json::from_str::<serde_json::Number>(v.get()) {
                Ok(n) => Cow::Owned(n.to_string()),
                Err(_) => {
                    return Err((
                        None,
                        format!(
                            "\"id\" must be a non-empty string or a number, found {}",
                            v.get()
                        ),
                    ))
                }
            },
        },
    };
    let fail = |problem: String| (Some(id.to_string()), problem);
    if f.kind != "Feature" {
        return Err(fail(format!(
            "\"type\" is \"{}\", expected \"Feature\"",
            f.kind
        )));
    }
    let geom = parse_geometry(f.geometry).map_err(fail)?;
    if matches!(geom, Geom::None) && !spec.allow_null_geometry {
        return Err(fail("has no geometry".into()));
    }
    let props = f
        .properties
        .ok_or_else(|| fail("has no \"properties\"".into()))?;
    let mut de = serde_json::Deserializer::from_str(props.get());
    let picked = Pick(wanted)
        .deserialize(&mut de)
        .map_err(|e| fail(format!("\"properties\" is not an object: {e}")))?;
    let n_req = spec.required.len();
    for (name, v) in spec.required.iter().zip(&picked[..n_req]) {
        if is_null(*v) {
            return Err(fail(format!(
                "the required property \"{name}\" is missing or null"
            )));
        }
    }
    let mut at = n_req;
    let time = match spec.time_property {
        Some(name) => {
            let v = picked[at];
            at += 1;
            match v.filter(|v| v.get() != "null") {
                None => None,
                Some(v) => {
                    let s: Cow<str> = serde_json::from_str(v.get()).map_err(|_| {
                        fail(format!(
                            "\"{name}\" must be a date string, found {}",
                            v.get()
                        ))
                    })?;
                    Some(parse_feature_date(&s).ok_or_else(|| {
                        fail(format!("\"{name}\" is \"{s}\": expected a date YYYY-MM-DD, a month YYYY-MM or an RFC 3339 date-time"))
                    })?)
                }
            }
        }
        None => None,
    };
    let mut values: [Option<Cow<'a, str>>; MAX_QUERYABLES] = Default::default();
    for ((q, v), slot) in spec
        .queryables
        .iter()
        .zip(&picked[at..])
        .zip(values.iter_mut())
    {
        *slot = match v {
            None => None,
            Some(v) => text_of(v).map_err(|e| fail(format!("\"{}\": {e}", q.property)))?,
        };
    }
    let start = raw.get().as_ptr() as usize - base;
    let props_at = props.get().as_ptr() as usize - raw.get().as_ptr() as usize;
    Ok(Parsed {
        id,
        geom,
        time,
        values,
        record: Record {
            start: start as u64,
            len: raw.get().len() as u32,
            props_at: props_at as u32,
            props_len: props.get().len() as u32,
        },
    })
}

fn feature_label(i: usize, id: Option<&str>) -> String {
    match id {
        Some(id) => format!("#{i} (id {id:?})"),
        None => format!("#{i}"),
    }
}

/// Loads `spec.file` below `dir`.
pub fn load_layer(dir: &Path, spec: &'static CollectionSpec) -> Result<Layer, LoadError> {
    let started = Instant::now();
    let file = spec.file.to_string();
    let text = std::fs::read_to_string(dir.join(spec.file)).map_err(|e| LoadError::Read {
        file: file.clone(),
        problem: e.kind().to_string(),
    })?;
    let base = text.as_ptr() as usize;
    let collection: Collection =
        serde_json::from_str(&text).map_err(|e| LoadError::NotCollection {
            file: file.clone(),
            problem: e.to_string(),
        })?;
    if collection.kind != "FeatureCollection" {
        return Err(LoadError::NotCollection {
            file,
            problem: format!("\"type\" is \"{}\"", collection.kind),
        });
    }
    let mut wanted: Vec<&str> = spec.required.to_vec();
    wanted.extend(spec.time_property);
    wanted.extend(spec.queryables.iter().map(|q| q.property));
    let parsed: Vec<Result<Parsed, (Option<String>, String)>> = collection
        .features
        .par_iter()
        .with_min_len(4096)
        .map(|raw| parse_feature(spec, &wanted, base, raw))
        .collect();
    let feature_error = |i: usize, id: Option<&str>, problem: String| LoadError::Feature {
        file: file.clone(),
        feature: feature_label(i, id),
        problem,
    };
    let n = parsed.len();
    let mut records = Vec::with_capacity(n);
    let mut ids: HashMap<Box<str>, u32> = HashMap::with_capacity(n);
    let all_points = parsed.iter().all(|p| {
        matches!(
            p,
            Ok(Parsed {
                geom: Geom::None | Geom::Point(_),
                ..
            })
        )
    });
    let mut points = Vec::new();
    let mut shapes = Vec::new();
    let mut entries = Vec::with_capacity(n);
    let mut unplaced = Vec::new();
    let mut times = spec.time_property.map(|_| Vec::with_capacity(n));
    let mut columns: Vec<Column> = spec
        .queryables
        .iter()
        .map(|q| Column {
            kind: q.kind,
            values: Vec::new(),
            codes: Vec::with_capacity(n),
        })
        .collect();
    // Per column: the raw text as the file holds it → its code, and folded text → code. Each
    // distinct raw value is folded once.
    let mut raw_codes: Vec<HashMap<Cow<str>, u32>> = vec![HashMap::new(); columns.len()];
    let mut folded_codes: Vec<HashMap<String, u32>> = vec![HashMap::new(); columns.len()];
    let (mut tmin, mut tmax) = (i64::MAX, i64::MIN);
    for (i, p) in parsed.into_iter().enumerate() {
        let p = p.map_err(|(id, problem)| feature_error(i, id.as_deref(), problem))?;
        let idx = i as u32;
        if ids.insert(Box::from(p.id.as_ref()), idx).is_some() {
            return Err(feature_error(
                i,
                Some(&p.id),
                "its id is not unique in the file".into(),
            ));
        }
        records.push(p.record);
        match p.geom {
            Geom::None => {
                unplaced.push(idx);
                if all_points {
                    points.push([f64::NAN, f64::NAN]);
                } else {
                    shapes.push(None);
                }
            }
            Geom::Point(pt) => {
                entries.push(Entry::point(pt, idx));
                if all_points {
                    points.push(pt);
                } else {
                    shapes.push(Some(Geometry::Point(geo::Point::new(pt[0], pt[1]))));
                }
            }
            Geom::Shape(g) => {
                let r = g.bounding_rect().expect("checked when parsed");
                entries.push(Entry {
                    envelope: AABB::from_corners([r.min().x, r.min().y], [r.max().x, r.max().y]),
                    idx,
                });
                shapes.push(Some(*g));
            }
        }
        if let Some(times) = times.as_mut() {
            let t = p.time.unwrap_or(Interval::ALL);
            if let Some(t) = p.time {
                tmin = tmin.min(t.start);
                tmax = tmax.max(t.end);
            }
            times.push(t);
        }
        for (c, (col, v)) in columns.iter_mut().zip(p.values).enumerate() {
            let code = match v {
                None => u32::MAX,
                Some(v) => match raw_codes[c].get(&v) {
                    Some(code) => *code,
                    None => {
                        let folded = fold(&v);
                        let next = col.values.len() as u32;
                        let code = *folded_codes[c].entry(folded.clone()).or_insert(next);
                        if code == next {
                            col.values.push(folded.into_boxed_str());
                        }
                        raw_codes[c].insert(v, code);
                        code
                    }
                },
            };
            col.codes.push(code);
        }
    }
    let index = SpatialIndex::build(entries);
    let extent = Extent {
        bbox: index
            .envelope()
            .map(|e| [e.lower()[0], e.lower()[1], e.upper()[0], e.upper()[1]]),
        interval: (tmin <= tmax).then(|| (format_instant(tmin), format_instant(tmax))),
    };
    let shapes = if all_points {
        Shapes::Points(points)
    } else {
        Shapes::Any(shapes)
    };
    let load_ms = started.elapsed().as_millis();
    tracing::info!(
        layer = spec.id,
        features = n,
        ms = load_ms as u64,
        "layer loaded"
    );
    Ok(Layer {
        spec,
        text,
        records,
        ids,
        shapes,
        times,
        columns,
        index,
        unplaced,
        extent,
        load_ms,
    })
}

/// A fingerprint of the data files: their names, sizes and modification times, and their first
/// and last 64 KiB. Cheap at a million features, and it changes whenever a file is rewritten.
pub fn fingerprint<'a>(dir: &Path, files: impl Iterator<Item = &'a str>) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in files {
        f.hash(&mut h);
        let path = dir.join(f);
        if let Ok(meta) = std::fs::metadata(&path) {
            meta.len().hash(&mut h);
            if let Ok(m) = meta.modified() {
                m.hash(&mut h);
            }
        }
        if let Ok(mut file) = std::fs::File::open(&path) {
            use std::io::{Read, Seek, SeekFrom};
            let mut buf = vec![0u8; 65536];
            for from in [SeekFrom::Start(0), SeekFrom::End(-65536)] {
                let _ = file.seek(from);
                if let Ok(n) = file.read(&mut buf) {
                    buf[..n].hash(&mut h);
                }
            }
        }
    }
    format!("{:016x}", h.finish())
}
