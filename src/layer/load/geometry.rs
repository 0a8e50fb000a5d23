//! A feature's geometry: read (a plain point without serde, any other shape through the
//! geojson crate), then checked: inside Haiti's extent and valid as geo's validation says.

use crate::catalog::config::HAITI_EXTENT;
use crate::layer::json;
use geo::{BoundingRect, Geometry, Validation};
use serde::de::Visitor;
use serde::Deserialize;
use std::borrow::Cow;

#[derive(Deserialize)]
pub(super) struct PointGeometry<'a> {
    #[serde(rename = "type", borrow)]
    pub(super) kind: Cow<'a, str>,
    pub(super) coordinates: Coords,
}

/// A position's numbers (2 or 3) without a heap allocation per feature.
pub(super) struct Coords {
    pub(super) n: usize,
    pub(super) v: [f64; 3],
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

pub(super) enum FeatureGeometry {
    None,
    Point([f64; 2]),
    Shape(Box<Geometry<f64>>),
}

pub(super) fn in_extent(r: &geo::Rect<f64>) -> bool {
    let [x0, y0, x1, y1] = HAITI_EXTENT;
    r.min().x >= x0 && r.max().x <= x1 && r.min().y >= y0 && r.max().y <= y1
}

/// The numbers of a Point geometry written as Kat and most tools write one: exactly two
/// members, `type` and `coordinates` (two numbers), in either order and with any JSON
/// whitespace, read without serde (the text is valid JSON already: only its shape is checked
/// here). None for any other shape, which serde_json then reads.
pub(super) fn plain_point(raw: &str) -> Option<(f64, f64)> {
    let t = raw.as_bytes();
    let mut at = json::object_start(t, 0)?;
    let (mut xy, mut point) = (None, false);
    loop {
        let (name, mut i) = json::member_name(t, at)?;
        match name {
            b"coordinates" if xy.is_none() && t.get(i) == Some(&b'[') => {
                let mut v = [0.0; 2];
                for (k, slot) in v.iter_mut().enumerate() {
                    let from = json::skip_whitespace(t, i + 1);
                    let end = json::value_end(t, from)?;
                    *slot = raw[from..end].parse().ok()?;
                    i = json::skip_whitespace(t, end);
                    if t.get(i) != Some(if k == 0 { &b',' } else { &b']' }) {
                        return None;
                    }
                }
                xy = Some((v[0], v[1]));
                i += 1;
            }
            b"type" if !point && raw[i..].starts_with("\"Point\"") => {
                point = true;
                i += "\"Point\"".len();
            }
            _ => return None,
        }
        match json::after_member(t, i)? {
            json::AfterMember::Next(next) => at = next,
            json::AfterMember::Close(_) if point => return xy,
            json::AfterMember::Close(_) => return None,
        }
    }
}

/// Why a feature's geometry was refused.
#[derive(Debug, thiserror::Error)]
pub(super) enum GeometryError {
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

pub(super) fn parse_geometry(raw: Option<&str>) -> Result<FeatureGeometry, GeometryError> {
    let Some(raw) = raw.filter(|r| *r != "null") else {
        return Ok(FeatureGeometry::None);
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
        return Ok(FeatureGeometry::Point([x, y]));
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
    Ok(FeatureGeometry::Shape(Box::new(g)))
}

/// Whether the ring crosses itself, by the same test as geo's validation
/// (`linestring_has_self_intersection`: two segments that intersect, other than where one
/// ends and the other starts), but testing only the pairs whose boxes overlap: a sweep along
/// x instead of every pair.
pub(super) fn ring_self_intersects(ring: &geo::LineString<f64>) -> bool {
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
pub(super) fn polygon_is_valid(p: &geo::Polygon<f64>) -> bool {
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
pub(super) fn validation_problem(g: &Geometry<f64>) -> Option<String> {
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
