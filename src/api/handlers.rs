//! Handlers for the API's own resources: landing page, contract, conformance, collections,
//! health, metrics and the geocoder.

use super::encode::{Link, GEOJSON, HTML, JSON, OPENAPI};
use super::http::{base_url, json_response, resource};
use super::negotiate::{negotiate, Format};
use super::params::{parse_value, ParamError, Params};
use super::problem::ApiError;
use super::state::State;
use crate::layer::Layer;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/", landing))
        .service(resource("/api", api))
        .service(resource("/conformance", conformance))
        .service(resource("/collections", collections))
        .service(resource("/collections/{id}", collection))
        .service(resource("/health", health))
        .service(resource("/metrics", metrics))
        .service(resource("/geocode", geocode))
        .service(resource("/reverse", reverse))
        .service(resource("/account", super::auth::account));
}

fn params(req: &HttpRequest, allowed: &[&str]) -> Result<Params, ApiError> {
    Ok(Params::parse(req.query_string(), Some(allowed))?)
}

fn to_vec(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

async fn landing(req: HttpRequest, state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    let p = params(&req, &["f"])?;
    if negotiate(&req, &p, true)? == Format::Html {
        return super::web::map_page(&req, &state).await;
    }
    let base = base_url(&req);
    let links = vec![
        Link::new(format!("{base}/"), "self", JSON, "This document"),
        Link::new(format!("{base}/?f=html"), "alternate", HTML, "The web map"),
        Link::new(
            format!("{base}/api"),
            "service-desc",
            OPENAPI,
            "The API definition (OpenAPI 3.0)",
        ),
        Link::new(
            format!("{base}/static/api.html"),
            "service-doc",
            HTML,
            "The API documentation",
        ),
        Link::new(
            format!("{base}/conformance"),
            "conformance",
            JSON,
            "Conformance classes implemented",
        ),
        Link::new(
            format!("{base}/collections"),
            "data",
            JSON,
            "The collections",
        ),
        Link::new(
            format!("{base}/tileMatrixSets"),
            crate::tiles::REL_TILING_SCHEMES,
            JSON,
            "The tile matrix sets",
        ),
    ];
    let body = json!({
        "title": "Kat: documented violence in Haiti",
        "description": "Incidents, armed-group areas and Haiti's departments, communes and communal sections, as OGC API - Features. Each incident cites its public sources; coverage is uneven (Ouest and Artibonite dominate the sources).",
        "attribution": "Administrative boundaries: CNIGS / OCHA (COD-AB Haiti), CC BY 3.0 IGO. Place names: GeoNames (geonames.org), CC BY 4.0. Incidents and armed-group areas: compiled from the news pages cited in each record.",
        "links": links,
    });
    Ok(json_response(&req, to_vec(&body), JSON))
}

async fn api(req: HttpRequest, state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    let p = params(&req, &["f"])?;
    negotiate(&req, &p, false)?;
    let collections = &state.snapshot().config.collections;
    let mut doc = super::openapi::document(&base_url(&req), collections);
    if state.database().is_some() {
        super::openapi::add_edits(&mut doc, collections);
    }
    Ok(json_response(&req, to_vec(&doc), OPENAPI))
}

pub const CONFORMANCE: &[&str] = &[
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/features-filter",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables",
    "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/queryables-query-parameters",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
    "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-cql2",
    "http://www.opengis.net/spec/cql2/1.0/conf/advanced-comparison-operators",
    "http://www.opengis.net/spec/cql2/1.0/conf/case-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/accent-insensitive-comparison",
    "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/spatial-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/temporal-functions",
    "http://www.opengis.net/spec/cql2/1.0/conf/array-functions",
];

/// OGC API - Features Part 4, declared when a database takes writes.
const EDIT_CONFORMANCE: &[&str] = &[
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/update",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/optimistic-locking-etags",
    "http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/features",
];

async fn conformance(req: HttpRequest, state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    let p = params(&req, &["f"])?;
    negotiate(&req, &p, false)?;
    let edits: &[&str] = if state.database().is_some() {
        EDIT_CONFORMANCE
    } else {
        &[]
    };
    let classes: Vec<&str> = CONFORMANCE
        .iter()
        .chain(crate::tiles::CONFORMANCE)
        .chain(edits)
        .copied()
        .collect();
    Ok(json_response(
        &req,
        to_vec(&json!({ "conformsTo": classes })),
        JSON,
    ))
}

/// A collection's description, as in `/collections` and `/collections/{id}`.
fn describe(layer: &Layer, base: &str) -> Value {
    let id = layer.id();
    let mut extent = json!({
        "spatial": {
            "bbox": [layer.extent.bbox.unwrap_or([-74.4804, 18.02214, -71.62215, 20.08923])],
            "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
        }
    });
    if layer.has_time() {
        let interval = match &layer.extent.interval {
            Some((a, b)) => json!([[a, b]]),
            None => json!([[null, null]]),
        };
        extent["temporal"] = json!({
            "interval": interval,
            "trs": "http://www.opengis.net/def/uom/ISO-8601/0/Gregorian"
        });
    }
    json!({
        "id": id,
        "title": layer.spec.title,
        "description": layer.spec.description,
        "itemType": "feature",
        "crs": ["http://www.opengis.net/def/crs/OGC/1.3/CRS84"],
        "extent": extent,
        "queryables": layer.spec.queryables.iter().map(|q| q.name.as_str()).collect::<Vec<_>>(),
        "links": [
            Link::new(format!("{base}/collections/{id}"), "self", JSON, layer.spec.title.clone()),
            Link::new(format!("{base}/collections/{id}/items"), "items", GEOJSON, format!("{} (GeoJSON)", layer.spec.title)),
            Link::new(format!("{base}/collections/{id}/download"), "enclosure", GEOJSON, format!("The whole layer as one GeoJSON file ({} features)", layer.len())),
            Link::new(format!("{base}/collections/{id}/tiles"), crate::tiles::REL_TILESETS_VECTOR, JSON, format!("{} as vector tiles", layer.spec.title)),
            Link::new(format!("{base}/collections/{id}/download?f=csv"), "enclosure", crate::format::csv::LINK_TYPE, format!("The whole layer as one CSV file ({} features)", layer.len())),
            Link::new(format!("{base}/collections/{id}/download?f=gpkg"), "enclosure", crate::format::gpkg::MEDIA_TYPE, format!("The whole layer as one GeoPackage ({} features)", layer.len())),
            super::queryables::link(base, id, &layer.spec.title),
        ],
    })
}

async fn collections(req: HttpRequest, state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    let p = params(&req, &["f"])?;
    negotiate(&req, &p, false)?;
    let snap = state.snapshot();
    let base = base_url(&req);
    let body = json!({
        "links": [
            Link::new(format!("{base}/collections"), "self", JSON, "The collections"),
            Link::new(format!("{base}/?f=html"), "alternate", HTML, "The web map"),
        ],
        "collections": snap.layers.iter().map(|l| describe(l, &base)).collect::<Vec<_>>(),
    });
    Ok(json_response(&req, to_vec(&body), JSON))
}

async fn collection(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let snap = state.snapshot();
    let layer = super::http::layer(&snap, &path)?;
    let p = params(&req, &["f"])?;
    negotiate(&req, &p, false)?;
    Ok(json_response(
        &req,
        to_vec(&describe(layer, &base_url(&req))),
        JSON,
    ))
}

async fn health(req: HttpRequest, state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    params(&req, &[])?;
    let snap = state.snapshot();
    let status = state.catalog.status();
    let features: serde_json::Map<String, Value> = snap
        .layers
        .iter()
        .map(|l| (l.id().to_string(), json!(l.len())))
        .collect();
    let loads: serde_json::Map<String, Value> = snap
        .layers
        .iter()
        .map(|l| {
            let from = if state.database().is_some() && l.spec.table.is_some() {
                "database"
            } else if l.from_cache {
                "cache"
            } else {
                "file"
            };
            (
                l.id().to_string(),
                json!({"ms": l.load_ms as u64, "from": from}),
            )
        })
        .collect();
    let body = json!({
        "status": "ready",
        "data_version": snap.version,
        "loaded_at": snap.loaded_at,
        "features": features,
        "loads": loads,
        "last_reload": status.last_reload,
        "last_reload_error": status.last_error,
        "reloads": status.reloads,
        "reload_failures": status.failures,
        "database": state.catalog.tables.as_ref().map(|t| t.status()),
    });
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, JSON))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(to_vec(&body)))
}

async fn metrics(req: HttpRequest, state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    params(&req, &[])?;
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(state.metrics.render()))
}

async fn geocode(req: HttpRequest, state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    let p = params(&req, &["q", "limit", "suggest", "f"])?;
    negotiate(&req, &p, false)?;
    let suggest = match p.get("suggest") {
        None | Some("false") => false,
        Some("true") => true,
        Some(s) => return Err(ParamError::new("suggest", s, "true or false").into()),
    };
    let q = p
        .get("q")
        .ok_or_else(|| ParamError::new("q", "", "a place name of 1 to 200 characters"))?;
    let q = parse_value("q", q)?;
    // Unlike an items page, a list of candidates has no next page: a limit it cannot honour
    // is refused rather than cut, as /api declares.
    let limit = match p.get("limit") {
        None => 5,
        Some(s) => super::params::parse_limit(s)
            .ok()
            .filter(|n| *n <= 50)
            .ok_or_else(|| ParamError::new("limit", s, "a whole number from 1 to 50"))?,
    };
    let snap = state.snapshot();
    let found = if suggest {
        snap.gazetteer.suggest(q, limit)
    } else {
        snap.gazetteer.search(q, limit)
    };
    let features: Vec<Value> = found.iter().map(|c| c.to_feature()).collect();
    let body = json!({
        "type": "FeatureCollection",
        "numberReturned": features.len(),
        "features": features,
    });
    Ok(json_response(&req, to_vec(&body), GEOJSON))
}

fn coordinate(p: &Params, name: &str, range: f64) -> Result<f64, ApiError> {
    let expected = format!("a number from -{range} to {range} (WGS84 degrees)");
    let s = p
        .get(name)
        .ok_or_else(|| ParamError::new(name, "", expected.clone()))?;
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| ParamError::new(name, s, expected.clone()))?;
    if !v.is_finite() || v.abs() > range {
        return Err(ParamError::new(name, s, expected).into());
    }
    Ok(v)
}

async fn reverse(req: HttpRequest, state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    let p = params(&req, &["lon", "lat", "f"])?;
    negotiate(&req, &p, false)?;
    let lon = coordinate(&p, "lon", 180.0)?;
    let lat = coordinate(&p, "lat", 90.0)?;
    let snap = state.snapshot();
    let hit = snap.gazetteer.reverse(lon, lat).ok_or_else(|| {
        ApiError::NotFound(format!(
            "the point ({lon}, {lat}) lies in no communal section of Haiti"
        ))
    })?;
    Ok(json_response(
        &req,
        to_vec(&hit.to_feature(lon, lat)),
        GEOJSON,
    ))
}
