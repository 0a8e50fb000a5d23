//! The output format: a GeoJSON FeatureCollection with one compact feature per line,
//! coordinates rounded to 6 decimals, properties in a fixed order.

use geo::MultiPolygon;
use serde::Serialize;

use crate::geocode::round6;

/// A GeoJSON geometry as Kat writes it.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", content = "coordinates")]
pub(crate) enum Geometry {
    Point([f64; 2]),
    MultiPolygon(Vec<Vec<Vec<[f64; 2]>>>),
}

impl Geometry {
    pub fn point(p: [f64; 2]) -> Geometry {
        Geometry::Point([round6(p[0]), round6(p[1])])
    }

    /// The multipolygon's rings; the caller has rounded and checked it.
    pub fn multi_polygon(mp: &MultiPolygon<f64>) -> Geometry {
        let ring = |ls: &geo::LineString<f64>| ls.0.iter().map(|c| [c.x, c.y]).collect::<Vec<_>>();
        Geometry::MultiPolygon(
            mp.0.iter()
                .map(|p| {
                    std::iter::once(ring(p.exterior()))
                        .chain(p.interiors().iter().map(ring))
                        .collect()
                })
                .collect(),
        )
    }
}

/// A GeoJSON Feature whose properties keep the order of the struct `P`.
#[derive(Debug, Serialize)]
pub(crate) struct Feature<P: Serialize> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub id: String,
    pub geometry: Option<Geometry>,
    pub properties: P,
}

impl<P: Serialize> Feature<P> {
    pub fn new(id: String, geometry: Option<Geometry>, properties: P) -> Feature<P> {
        Feature {
            kind: "Feature",
            id,
            geometry,
            properties,
        }
    }

    /// The feature on one line.
    pub fn to_line(&self) -> String {
        // Serializing plain structs, strings and finite numbers cannot fail.
        serde_json::to_string(self).expect("a feature serializes")
    }
}

/// `{"type":"FeatureCollection","features":[` + one feature per line + `]}`.
pub(crate) fn feature_collection(lines: &[String]) -> Vec<u8> {
    let mut out = String::from("{\"type\":\"FeatureCollection\",\"features\":[\n");
    out.push_str(&lines.join(",\n"));
    if !lines.is_empty() {
        out.push('\n');
    }
    out.push_str("]}\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_feature_per_line() {
        let lines = vec!["{\"a\":1}".to_string(), "{\"b\":2}".to_string()];
        let text = String::from_utf8(feature_collection(&lines)).unwrap();
        assert_eq!(
            text,
            "{\"type\":\"FeatureCollection\",\"features\":[\n{\"a\":1},\n{\"b\":2}\n]}\n"
        );
        serde_json::from_str::<serde_json::Value>(&text).unwrap();
    }

    #[test]
    fn point_coordinates_are_rounded_to_six_decimals() {
        let g = Geometry::point([-72.123456789, 18.987654321]);
        assert_eq!(
            serde_json::to_string(&g).unwrap(),
            r#"{"type":"Point","coordinates":[-72.123457,18.987654]}"#
        );
    }
}
