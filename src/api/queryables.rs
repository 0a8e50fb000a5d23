//! `/collections/{id}/queryables` (OGC API - Features Part 3): the properties a filter may
//! name, as a JSON Schema.

use super::encode::Link;
use super::http::{base_url, json_response, resource};
use super::negotiate::negotiate;
use super::params::Params;
use super::problem::ApiError;
use super::state::State;
use crate::catalog::config::{CollectionSpec, QueryableType};
use crate::filter::translate::filter_queryables;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Map, Value};

/// The media type of the schema.
pub const SCHEMA_JSON: &str = "application/schema+json";
/// The link relation from a collection to its queryables.
pub const REL: &str = "http://www.opengis.net/def/rel/ogc/1.0/queryables";

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/collections/{id}/queryables", queryables));
}

/// The link a collection's description carries to its queryables.
pub fn link(base: &str, id: &str, title: &str) -> Link {
    Link::new(
        format!("{base}/collections/{id}/queryables"),
        REL,
        SCHEMA_JSON,
        format!("The properties a filter on {title} may name"),
    )
}

/// The JSON Schema of a collection's queryables. `points` says whether every geometry is a point.
///
/// ```
/// use kat::catalog::config::Config;
/// let c = Config::parse(
///     "[[collection]]\nid = \"a\"\nfile = \"a.geojson\"\n\
///      [collection.queryables.n]\ntype = \"integer\"\n",
///     "kat.toml".as_ref(),
/// )
/// .unwrap();
/// let s = kat::api::queryables::schema(&c.collections[0], "http://x", true);
/// assert_eq!(s["properties"]["n"]["type"], "integer");
/// assert_eq!(s["additionalProperties"], false);
/// ```
pub fn schema(spec: &CollectionSpec, base: &str, points: bool) -> Value {
    let mut properties = Map::new();
    properties.insert(
        "geometry".into(),
        json!({
            "title": "Geometry",
            "description": "The feature's geometry (WGS84 longitude, latitude), for the S_* functions",
            "format": if points { "geometry-point" } else { "geometry-any" },
            "x-ogc-role": "primary-geometry",
        }),
    );
    properties.insert(
        "id".into(),
        json!({"title": "Feature id", "type": "string", "x-ogc-role": "id"}),
    );
    for (_, q) in filter_queryables(spec) {
        let mut item = match q.kind {
            QueryableType::String(_) => json!({"type": "string"}),
            QueryableType::Integer => json!({"type": "integer"}),
            QueryableType::Number => json!({"type": "number"}),
            QueryableType::Boolean => json!({"type": "boolean"}),
            QueryableType::Date => json!({"type": "string", "format": "date"}),
        };
        if spec.time_property.as_deref() == Some(q.property.as_str()) {
            item["x-ogc-role"] = json!("primary-instant");
        }
        let mut p = if q.array {
            json!({"type": "array", "items": item})
        } else {
            item
        };
        p["title"] = json!(q.name);
        if !q.description.is_empty() {
            p["description"] = json!(q.description);
        }
        properties.insert(q.name.clone(), p);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": format!("{base}/collections/{}/queryables", spec.id),
        "type": "object",
        "title": spec.title,
        "description": format!("The properties of {} that a CQL2 filter may name", spec.title),
        "properties": properties,
        "additionalProperties": false,
    })
}

async fn queryables(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let snap = state.snapshot();
    let layer = super::http::layer(&snap, &path)?;
    let p = Params::parse(req.query_string(), Some(&["f"]))?;
    negotiate(&req, &p, false)?;
    let base = base_url(&req);
    let body = schema(&layer.spec, &base, layer.is_point_layer());
    Ok(json_response(
        &req,
        serde_json::to_vec(&body).unwrap_or_default(),
        SCHEMA_JSON,
    ))
}
