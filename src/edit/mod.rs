//! What a write does to a feature before it is stored: a merge patch applied, a place-only
//! incident geocoded as `kat import` places a row, and the result checked exactly as a loaded
//! feature is (by loading it, alone, as its collection's layer), then written out as the layer
//! would serve it.
//!
//! ```
//! use serde_json::json;
//! let mut feature = json!({"properties": {"fatalities": 3, "notes": "first report"}});
//! kat::edit::merge_patch(&mut feature, &json!({"properties": {"fatalities": 4, "notes": null}}));
//! assert_eq!(feature, json!({"properties": {"fatalities": 4}}));
//! ```

use crate::geocode::{Gazetteer, GeocodeStatus};
use crate::layer::{load_layer_from_text, Layer, LoadError};
use geo::Geometry;
use serde_json::{Map, Value};

/// Why a feature cannot be stored; `field` names what to change.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("{field}: {problem}")]
pub struct EditError {
    /// `type`, `id`, `geometry`, or `properties.NAME`.
    pub field: String,
    pub problem: String,
}

impl EditError {
    fn new(field: impl Into<String>, problem: impl Into<String>) -> EditError {
        EditError {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

/// The properties that place an incident by name when it comes without a geometry.
const PLACE_PROPERTIES: [&str; 3] = ["location_as_reported", "commune", "department"];

/// The body of a create or a replace, as the text to store for feature `id` of `layer`'s
/// collection. Also returns how a place-only feature was geocoded (its `geo_precision`).
pub fn prepare(
    layer: &Layer,
    gazetteer: &Gazetteer,
    body: Value,
    id: &str,
) -> Result<(String, Option<u8>), EditError> {
    let Value::Object(mut feature) = body else {
        return Err(EditError::new(
            "type",
            "the body must be a GeoJSON Feature object",
        ));
    };
    match feature.get("type") {
        Some(Value::String(t)) if t == "Feature" => {}
        Some(other) => {
            return Err(EditError::new(
                "type",
                format!("is {other}, expected \"Feature\""),
            ))
        }
        None => return Err(EditError::new("type", "is missing, expected \"Feature\"")),
    }
    match feature.get("id") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if s == id => {}
        Some(Value::Number(n)) if n.to_string() == id => {}
        Some(other) => {
            return Err(EditError::new(
                "id",
                format!(
                    "is {other}, but the feature's id is \"{id}\" (drop it, or make them the same)"
                ),
            ))
        }
    }
    let mut properties = match feature.remove("properties") {
        Some(Value::Object(p)) => p,
        None | Some(Value::Null) => Map::new(),
        Some(other) => {
            return Err(EditError::new(
                "properties",
                format!("must be an object, found {}", kind(&other)),
            ))
        }
    };
    let mut geometry = feature.remove("geometry").unwrap_or(Value::Null);
    let mut precision = None;
    if geometry.is_null() && names_a_place(&properties) {
        let (point, p) = place(gazetteer, &mut properties);
        precision = p;
        if let Some([lon, lat]) = point {
            geometry = serde_json::json!({"type": "Point", "coordinates": [lon, lat]});
        }
    }
    if let Some(t) = geometry.get("type").and_then(Value::as_str) {
        check_family(layer, t)?;
    }
    let mut out = Map::new();
    out.insert("type".into(), Value::String("Feature".into()));
    out.insert("id".into(), Value::String(id.to_string()));
    out.insert("geometry".into(), geometry);
    out.insert("properties".into(), Value::Object(properties));
    // Foreign members (e.g. "links") are not kept: the server writes its own.
    let text = format!(
        "{{\"type\":\"FeatureCollection\",\"features\":[{}]}}",
        Value::Object(out)
    );
    let checked =
        load_layer_from_text(&text, &layer.spec, "the request body").map_err(|e| match e {
            LoadError::Feature { problem, .. } => EditError::new(field_of(&problem), problem),
            other => EditError::new("type", other.to_string()),
        })?;
    let mut stored = Vec::with_capacity(text.len());
    checked.write_feature(0, &mut stored, None);
    let stored = String::from_utf8(stored)
        .map_err(|_| EditError::new("properties", "is not valid UTF-8"))?;
    Ok((stored, precision))
}

/// RFC 7396: members of `patch` replace those of `target`, `null` removes one, and objects
/// merge member by member.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in patch {
        if v.is_null() {
            t.remove(k);
        } else {
            merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// A new feature's id: the collection's id and 12 random hex digits, e.g.
/// `incidents-3f9a1c2b7d4e`.
pub fn new_id(collection: &str) -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes)?;
    Ok(format!("{collection}-{}", hex::encode(bytes)))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn names_a_place(p: &Map<String, Value>) -> bool {
    PLACE_PROPERTIES.iter().any(|k| {
        p.get(*k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.trim().is_empty())
    })
}

/// Geocodes the feature's place names into its properties, as `kat import` does for a row:
/// the point, its units and how it was placed.
fn place(g: &Gazetteer, p: &mut Map<String, Value>) -> (Option<[f64; 2]>, Option<u8>) {
    let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_string);
    let (location, commune, department) = (
        text("location_as_reported").unwrap_or_default(),
        text("commune"),
        text("department"),
    );
    let placed = g.place_row(&location, commune.as_deref(), department.as_deref());
    let unresolved = placed.geocode_status == GeocodeStatus::Unresolved;
    let mut set = |k: &str, v: Option<String>, keep_stated: bool| match v {
        Some(v) => {
            p.insert(k.into(), Value::String(v));
        }
        None if keep_stated => {}
        None => {
            p.insert(k.into(), Value::Null);
        }
    };
    set("section", placed.section, false);
    set("section_pcode", placed.section_pcode, false);
    // An unplaced incident still says which commune and department its source gives.
    set("commune", placed.commune, unresolved);
    set("commune_pcode", placed.commune_pcode, false);
    set("department", placed.department, unresolved);
    set("department_pcode", placed.department_pcode, false);
    set("geocode_basis", placed.geocode_basis, false);
    p.insert(
        "geocode_status".into(),
        Value::String(placed.geocode_status.as_str().into()),
    );
    p.insert(
        "geo_precision".into(),
        placed.geo_precision.map_or(Value::Null, Value::from),
    );
    (placed.point, placed.geo_precision)
}

/// The kind of geometry a layer holds, from its first placed feature: a write may not put a
/// polygon among points.
fn check_family(layer: &Layer, given: &str) -> Result<(), EditError> {
    fn family(t: &str) -> &'static str {
        match t {
            "Point" | "MultiPoint" => "Point or MultiPoint",
            "LineString" | "MultiLineString" => "LineString or MultiLineString",
            "Polygon" | "MultiPolygon" => "Polygon or MultiPolygon",
            _ => "GeometryCollection",
        }
    }
    let held = if layer.is_point_layer() && !layer.is_empty() {
        Some("Point")
    } else {
        (0..layer.len() as u32)
            .find_map(|i| layer.geometry(i))
            .map(|g| match g.as_ref() {
                Geometry::Point(_) | Geometry::MultiPoint(_) => "Point",
                Geometry::LineString(_) | Geometry::MultiLineString(_) | Geometry::Line(_) => {
                    "LineString"
                }
                Geometry::Polygon(_)
                | Geometry::MultiPolygon(_)
                | Geometry::Rect(_)
                | Geometry::Triangle(_) => "Polygon",
                Geometry::GeometryCollection(_) => "GeometryCollection",
            })
    };
    match held {
        Some(h) if family(h) != family(given) => Err(EditError::new(
            "geometry",
            format!(
                "is a {given}, but collection \"{}\" holds {} geometries",
                layer.spec.id,
                family(h)
            ),
        )),
        _ => Ok(()),
    }
}

/// The field a loader's message is about: the first quoted name in it, `geometry` for
/// geometry problems.
fn field_of(problem: &str) -> String {
    let geometric = ["geometry", "Point", "coordinates", "Polygon", "extent"];
    if problem.contains("required property") || !geometric.iter().any(|g| problem.contains(g)) {
        if let Some(name) = problem.split('"').nth(1).filter(|n| !n.is_empty()) {
            return match name {
                "id" | "type" | "geometry" | "properties" => name.to_string(),
                _ => format!("properties.{name}"),
            };
        }
    }
    if geometric.iter().any(|g| problem.contains(g)) {
        return "geometry".into();
    }
    "properties".into()
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn a_loader_message_names_its_field() {
        assert_eq!(
            field_of("the required property \"event_date\" is missing or null"),
            "properties.event_date"
        );
        assert_eq!(
            field_of("the Point [1, 2] lies outside Haiti's extent [-74.7, 17.8, -71.4, 20.3]"),
            "geometry"
        );
        assert_eq!(field_of("has no geometry"), "geometry");
        assert_eq!(
            field_of("\"fatalities\" is declared integer in the config, expected an integer, found \"ten\""),
            "properties.fatalities"
        );
    }
}
