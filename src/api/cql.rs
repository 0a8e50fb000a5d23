//! The Part 3 parameters: `filter`, `filter-lang` and `filter-crs` (on `/items`, `/download`,
//! `/aggregate` and the tiles) and `sortby`, read into the typed query.

use super::params::{ParamError, Params};
use crate::catalog::config::CollectionSpec;
use crate::filter::sort::{parse_sortby, SortKey};
use crate::filter::{Filter, Lang};

/// The only CRS a filter's coordinates may be in.
pub const CRS84: &str = "http://www.opengis.net/def/crs/OGC/1.3/CRS84";

/// The longest filter, in bytes (the whole query string is bounded too).
pub const MAX_FILTER_BYTES: usize = 8000;

/// `filter` in `filter-lang`, checked against the collection.
pub fn parse_filter(p: &Params, spec: &CollectionSpec) -> Result<Option<Filter>, ParamError> {
    let lang = match p.get("filter-lang") {
        None => Lang::Text,
        Some(s) => Lang::parse(s).ok_or_else(|| {
            ParamError::new(
                "filter-lang",
                s,
                format!("one of {}", Lang::NAMES.join(", ")),
            )
        })?,
    };
    if let Some(crs) = p.get("filter-crs") {
        if crs != CRS84 {
            return Err(ParamError::new(
                "filter-crs",
                crs,
                format!("{CRS84} (longitude, latitude in WGS84), the only CRS offered"),
            ));
        }
    }
    let Some(text) = p.get("filter") else {
        if let Some(l) = p.get("filter-lang") {
            return Err(ParamError::new("filter-lang", l, "to be used with filter"));
        }
        return Ok(None);
    };
    if text.trim().is_empty() || text.len() > MAX_FILTER_BYTES {
        return Err(ParamError::new(
            "filter",
            text,
            format!("a CQL2 filter of 1 to {MAX_FILTER_BYTES} bytes"),
        ));
    }
    Filter::parse(text, lang, spec)
        .map(Some)
        .map_err(|e| ParamError::new("filter", text, e.to_string()))
}

/// `sortby`, against the collection's queryables and `id`.
pub fn parse_sort(p: &Params, spec: &CollectionSpec) -> Result<Vec<SortKey>, ParamError> {
    let Some(s) = p.get("sortby") else {
        return Ok(Vec::new());
    };
    let keys = parse_sortby(s, spec).map_err(|e| ParamError::new("sortby", s, e.to_string()))?;
    if p.get("near").is_some() || p.get("near_feature").is_some() {
        return Err(ParamError::new(
            "sortby",
            s,
            "no sortby with near or near_feature, which sort by distance",
        ));
    }
    Ok(keys)
}

/// The `/api` declarations of `filter`, `filter-lang` and `filter-crs`, written out on each
/// path that takes them (GDAL looks for `filter-lang` there, and pushes a `-where` down only
/// when its enum lists `cql-text`).
pub fn openapi_filter_params() -> Vec<serde_json::Value> {
    use serde_json::json;
    vec![
        json!({"name": "filter", "in": "query", "required": false, "style": "form", "explode": false,
            "description": "A CQL2 filter on the queryables (see /collections/{collectionId}/queryables), the id and the geometry, e.g. fatalities >= 10 AND event_type IN ('massacre', 'kidnapping')",
            "schema": {"type": "string", "maxLength": MAX_FILTER_BYTES}}),
        json!({"name": "filter-lang", "in": "query", "required": false, "style": "form", "explode": false,
            "description": "The filter's encoding: cql2-text (the default; cql-text is the same), or cql2-json",
            "schema": {"type": "string", "enum": Lang::NAMES, "default": "cql2-text"}}),
        json!({"name": "filter-crs", "in": "query", "required": false, "style": "form", "explode": false,
            "description": "The CRS of the filter's coordinates: CRS84 only",
            "schema": {"type": "string", "format": "uri", "enum": [CRS84], "default": CRS84}}),
    ]
}

/// The `/api` declarations of every parameter here, for the items and download paths.
pub fn openapi_params() -> Vec<serde_json::Value> {
    use serde_json::json;
    let mut params = openapi_filter_params();
    params.extend([
        json!({"name": "sortby", "in": "query", "required": false, "style": "form", "explode": false,
            "description": "Comma-separated [+|-]name keys over the queryables and id, e.g. -event_date,id; ascending unless '-'",
            "schema": {"type": "array", "items": {"type": "string", "pattern": "^[+-]?[A-Za-z0-9_-]+$"}}}),
        json!({"name": "properties", "in": "query", "required": false, "style": "form", "explode": false,
            "description": "Comma-separated names of the properties to return (the others are left out)",
            "schema": {"type": "array", "items": {"type": "string"}}}),
        json!({"name": "skipGeometry", "in": "query", "required": false, "style": "form", "explode": false,
            "description": "true to return features without their geometry",
            "schema": {"type": "boolean", "default": false}}),
    ]);
    params
}
