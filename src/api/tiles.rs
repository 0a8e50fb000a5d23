//! OGC API - Tiles: `/collections/{id}/tiles` (the tilesets), `.../tiles/WebMercatorQuad`
//! (the tileset), `.../tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}` (a Mapbox
//! Vector Tile), and `/tileMatrixSets`.

use super::encode::JSON;
use super::http::layer;
use super::http::{base_url, etag_matches, json_response, resource};
use super::items::items_query;
use super::negotiate::negotiate;
use super::params::Params;
use super::problem::ApiError;
use super::state::State;
use crate::catalog::Snapshot;
use crate::index::quad::{mercator_unit, to_cell};
use crate::layer::{Layer, QueryableType};
use crate::tiles::matrix::{
    self, TileId, TileIdError, EPSG_3857, MAX_TILE_MATRIX, WEB_MERCATOR_QUAD, WEB_MERCATOR_QUAD_URI,
};
use crate::tiles::render::{self, Conditions, Summed};
use crate::tiles::{MVT, REL_TILING_SCHEME};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/collections/{id}/tiles", tilesets))
        .service(resource("/collections/{id}/tiles/{tms}", tileset))
        .service(resource(
            "/collections/{id}/tiles/{tms}/{tileMatrix}/{tileRow}/{tileCol}",
            tile,
        ))
        .service(resource("/tileMatrixSets", tile_matrix_sets))
        .service(resource("/tileMatrixSets/{tms}", tile_matrix_set));
}

fn check_tms(tms: &str) -> Result<(), ApiError> {
    if tms == WEB_MERCATOR_QUAD {
        return Ok(());
    }
    Err(ApiError::NotFoundParam {
        param: "tileMatrixSetId",
        detail: format!(
            "no tile matrix set '{}'; this server offers {WEB_MERCATOR_QUAD} (see /tileMatrixSets)",
            tms.chars().take(60).collect::<String>()
        ),
    })
}

fn metadata_params(req: &HttpRequest) -> Result<(), ApiError> {
    let p = Params::parse(req.query_string(), Some(&["f"]))?;
    negotiate(req, &p, false)?;
    Ok(())
}

fn to_vec(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// The tileset's short description, as the tilesets list gives it.
fn tileset_summary(layer: &Layer, base: &str) -> Value {
    let id = layer.id();
    json!({
        "title": format!("{} (vector tiles)", layer.spec.title),
        "dataType": "vector",
        "crs": EPSG_3857,
        "tileMatrixSetURI": WEB_MERCATOR_QUAD_URI,
        "links": [
            {"href": format!("{base}/collections/{id}/tiles/{WEB_MERCATOR_QUAD}"), "rel": "self", "type": JSON, "title": "The tileset"},
            {"href": format!("{base}/tileMatrixSets/{WEB_MERCATOR_QUAD}"), "rel": REL_TILING_SCHEME, "type": JSON, "title": "The tile matrix set"},
        ],
    })
}

async fn tilesets(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let snap = state.snapshot();
    let layer = layer(&snap, &path)?;
    metadata_params(&req)?;
    let base = base_url(&req);
    let id = layer.id();
    let body = json!({
        "links": [
            {"href": format!("{base}/collections/{id}/tiles"), "rel": "self", "type": JSON, "title": "The tilesets"},
            {"href": format!("{base}/collections/{id}"), "rel": "collection", "type": JSON, "title": layer.spec.title},
        ],
        "tilesets": [tileset_summary(layer, &base)],
    });
    Ok(json_response(&req, to_vec(&body), JSON))
}

/// For each tile matrix, the tiles that cover the layer's extent.
fn limits(bbox: Option<[f64; 4]>) -> Vec<Value> {
    let Some([w, s, e, n]) = bbox else {
        return Vec::new();
    };
    let (Some(nw), Some(se)) = (mercator_unit(w, n), mercator_unit(e, s)) else {
        return Vec::new();
    };
    let (nw, se) = (to_cell(nw), to_cell(se));
    (0..=MAX_TILE_MATRIX)
        .map(|z| {
            let shift = 32 - u32::from(z);
            let at = |v: u32| if shift == 32 { 0 } else { v >> shift };
            json!({
                "tileMatrix": z.to_string(),
                "minTileRow": at(nw[1]), "maxTileRow": at(se[1]),
                "minTileCol": at(nw[0]), "maxTileCol": at(se[0]),
            })
        })
        .collect()
}

/// The properties a tile's features carry, as JSON Schema.
fn properties_schema(layer: &Layer) -> Value {
    let mut props = serde_json::Map::new();
    props.insert(
        "id".into(),
        json!({"type": "string", "description": "The feature's id (features of their own only)"}),
    );
    props.insert("count".into(), json!({"type": "integer", "minimum": 1, "description": "How many matching features the tile feature stands for: 1 for a feature of its own, more for an aggregated cell; a tile's counts add up to the matching points in its bounds"}));
    props.insert(
        "aggregated".into(),
        json!({"type": "boolean", "description": "True for a cell standing for several points"}),
    );
    for q in &layer.spec.queryables {
        props.insert(
            q.name.to_string(),
            json!({"type": "string", "description": q.description}),
        );
    }
    for q in layer.spec.queryables.iter().filter(|q| q.kind.is_numeric()) {
        let kind = if q.kind == QueryableType::Integer {
            "integer"
        } else {
            "number"
        };
        props.insert(
            format!("sum_{}", q.name),
            json!({"type": kind, "description": format!("The sum of {} over an aggregated cell's points (a null counts as 0)", q.name)}),
        );
    }
    json!({"type": "object", "properties": props})
}

async fn tileset(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let (id, tms) = path.into_inner();
    let snap = state.snapshot();
    let layer = layer(&snap, &id)?;
    check_tms(&tms)?;
    metadata_params(&req)?;
    let base = base_url(&req);
    let id = layer.id();
    let bbox = layer.extent.bbox;
    let mut body = json!({
        "title": format!("{} (vector tiles)", layer.spec.title),
        "description": layer.spec.description,
        "dataType": "vector",
        "crs": EPSG_3857,
        "tileMatrixSetURI": WEB_MERCATOR_QUAD_URI,
        "minTileMatrix": "0",
        "maxTileMatrix": MAX_TILE_MATRIX.to_string(),
        "tileMatrixSetLimits": limits(bbox),
        "links": [
            {"href": format!("{base}/collections/{id}/tiles/{WEB_MERCATOR_QUAD}"), "rel": "self", "type": JSON, "title": "This tileset"},
            {"href": format!("{base}/tileMatrixSets/{WEB_MERCATOR_QUAD}"), "rel": REL_TILING_SCHEME, "type": JSON, "title": "The tile matrix set"},
            {"href": format!("{base}/collections/{id}"), "rel": "collection", "type": JSON, "title": layer.spec.title},
            {"href": format!("{base}/collections/{id}/tiles/{WEB_MERCATOR_QUAD}/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"), "rel": "item", "type": MVT, "templated": true, "title": "A tile (Mapbox Vector Tile)"},
        ],
        "layers": [{
            "id": id,
            "title": layer.spec.title,
            "dataType": "vector",
            "geometryDimension": if layer.is_point_layer() { 0 } else { 2 },
            "minTileMatrix": "0",
            "maxTileMatrix": MAX_TILE_MATRIX.to_string(),
            "propertiesSchema": properties_schema(layer),
        }],
    });
    if let Some([w, s, e, n]) = bbox {
        body["boundingBox"] = json!({
            "lowerLeft": [w, s], "upperRight": [e, n],
            "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
        });
    }
    Ok(json_response(&req, to_vec(&body), JSON))
}

async fn tile_matrix_sets(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    metadata_params(&req)?;
    let base = base_url(&req);
    let body = json!({
        "links": [{"href": format!("{base}/tileMatrixSets"), "rel": "self", "type": JSON, "title": "The tile matrix sets"}],
        "tileMatrixSets": [{
            "id": WEB_MERCATOR_QUAD,
            "title": "Google Maps Compatible for the World",
            "uri": WEB_MERCATOR_QUAD_URI,
            "crs": EPSG_3857,
            "links": [{"href": format!("{base}/tileMatrixSets/{WEB_MERCATOR_QUAD}"), "rel": REL_TILING_SCHEME, "type": JSON, "title": "Its definition"}],
        }],
    });
    Ok(json_response(&req, to_vec(&body), JSON))
}

async fn tile_matrix_set(
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    check_tms(&path)?;
    metadata_params(&req)?;
    let href = format!("{}/tileMatrixSets/{WEB_MERCATOR_QUAD}", base_url(&req));
    Ok(json_response(
        &req,
        to_vec(&matrix::definition(&href)),
        JSON,
    ))
}

/// The parameters a tile takes on this layer: the items filters (but near/within, which
/// sort rather than cut) and `f`.
fn tile_params(layer: &Layer) -> Vec<&str> {
    let mut allowed = vec!["bbox", "f", "filter", "filter-lang", "filter-crs"];
    if layer.has_time() {
        allowed.push("datetime");
    }
    allowed.extend(layer.spec.queryables.iter().map(|q| q.name.as_str()));
    allowed
}

impl From<TileIdError> for ApiError {
    fn from(e: TileIdError) -> Self {
        match &e {
            TileIdError::NotANumber { param, value } => ApiError::from(
                super::params::ParamError::new(param, value, "a whole number from 0"),
            ),
            TileIdError::OutOfRange { param, .. } => ApiError::NotFoundParam {
                param,
                detail: e.to_string(),
            },
        }
    }
}

/// What an aggregated cell sums: each numeric queryable, as `/aggregate` does (a null
/// counts as 0), read from its typed column.
fn summed(layer: &Layer) -> Vec<Summed<'_>> {
    layer
        .spec
        .queryables
        .iter()
        .enumerate()
        .filter(|(_, q)| q.kind.is_numeric())
        .map(|(i, q)| {
            let column = layer.column(i);
            Summed {
                tag: format!("sum_{}", q.name),
                integer: q.kind == QueryableType::Integer,
                value: Box::new(move |idx| column.number(idx)),
            }
        })
        .collect()
}

/// A strong ETag: a tile is a function of the data version, its path and its filters.
fn tile_etag(snap: &Snapshot, req: &HttpRequest) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    req.path().hash(&mut h);
    req.query_string().hash(&mut h);
    format!("\"{}-{:016x}\"", snap.version, h.finish())
}

async fn tile(
    req: HttpRequest,
    path: web::Path<(String, String, String, String, String)>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let (id, tms, z, row, col) = path.into_inner();
    let snap = state.snapshot();
    let layer = layer(&snap, &id)?;
    check_tms(&tms)?;
    let tile = TileId::parse(&z, &row, &col)?;
    let p = Params::parse(req.query_string(), Some(&tile_params(layer)))?;
    if let Some(f) = p.get("f") {
        if !matches!(f, "mvt" | "pbf" | MVT) {
            return Err(ApiError::FormatNotOffered(format!(
                "f={} is not offered for tiles; use f=mvt (Mapbox Vector Tile)",
                f.chars().take(40).collect::<String>()
            )));
        }
    }
    let q = items_query(&p, layer, &snap, usize::MAX)?;
    let etag = tile_etag(&snap, &req);
    if etag_matches(&req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    let body = match state.rendered.get(&etag) {
        Some(kept) => kept.body.clone(),
        None => {
            let conditions = Conditions::new(layer, &q);
            let sums = summed(layer);
            let body = render::render(layer, tile, &conditions, &sums).map_err(|e| {
                tracing::error!(error = %e, "tile not encoded");
                ApiError::Internal(
                    "the tile could not be encoded; the failure has been logged".into(),
                )
            })?;
            let body = bytes::Bytes::from(body);
            state
                .rendered
                .put(&etag, crate::tiles::cache::Answer::new(body.clone(), MVT));
            body
        }
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, MVT))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body))
}
