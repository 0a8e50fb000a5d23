//! The OpenAPI 3.0 document at `/api`: the contract that GDAL, QGIS and OWSLib read.
//!
//! Each collection gets its own concrete items path with its queryables declared, because
//! QGIS and GDAL push a filter down only when it is declared on that exact path, and QGIS
//! reads `components.parameters.limit` at that key.

use super::params::{DEFAULT_LIMIT, MAX_LIMIT, MAX_WITHIN_M};
use crate::layer::{CollectionSpec, QueryableType};
use serde_json::{json, Map, Value};
use std::sync::Arc;

/// The media types of the CSV and GeoPackage answers.
const CSV: &str = crate::format::csv::LINK_TYPE;
const GPKG: &str = crate::format::gpkg::MEDIA_TYPE;

fn responses(ok: Value) -> Value {
    let problem = |d: &str| json!({"description": d, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}});
    json!({
        "200": ok,
        "304": {"description": "Not modified (the ETag in If-None-Match still holds)"},
        "400": problem("A parameter is invalid, unknown or repeated; the body names it"),
        "404": problem("No such collection, feature or place"),
        "405": problem("Method not allowed"),
        "406": problem("The requested format (f or Accept) is not offered"),
        "414": problem("The query string is too long"),
        "503": problem("The data is not loaded yet, or the answer took longer than 30 s"),
        "500": problem("An internal error (never caused by a request's parameters)"),
    })
}

fn json_ok(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": schema}}})
}

fn geojson_ok(description: &str, schema: &str) -> Value {
    json!({"description": description, "content": {"application/geo+json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}})
}

fn queryable_params(spec: &CollectionSpec) -> Vec<Value> {
    spec.queryables
        .iter()
        .map(|q| {
            json!({
                "name": q.name, "in": "query", "required": false, "style": "form", "explode": false,
                "description": q.description,
                "schema": param_schema(q.kind)
            })
        })
        .collect()
}

/// What a `name=value` parameter of this type takes.
fn param_schema(kind: QueryableType) -> Value {
    match kind {
        QueryableType::String(_) => json!({"type": "string", "minLength": 1, "maxLength": 200}),
        QueryableType::Integer => json!({"type": "integer"}),
        QueryableType::Number => json!({"type": "number"}),
        QueryableType::Boolean => json!({"type": "boolean"}),
        // A day, a month or a date-time: the feature's date must meet it.
        QueryableType::Date => json!({"type": "string", "minLength": 7, "maxLength": 40}),
    }
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/parameters/{name}")})
}

/// The whole document for these collections, with `base` as its server.
pub fn document(base: &str, collections: &[Arc<CollectionSpec>]) -> Value {
    let mut paths = Map::new();
    let get = |summary: &str, op: &str, params: Vec<Value>, ok: Value| json!({"get": {"summary": summary, "operationId": op, "parameters": params, "responses": responses(ok)}});
    paths.insert(
        "/".into(),
        get(
            "Landing page",
            "getLandingPage",
            vec![json!({"name": "f", "in": "query", "required": false, "style": "form", "explode": false,
                "description": "json (the default) or html (the web map)",
                "schema": {"type": "string", "enum": ["json", "html"]}})],
            json!({
                "description": "Links to the API, conformance and collections; the web map for browsers",
                "content": {
                    "application/json": {"schema": {"type": "object", "required": ["links"]}},
                    "text/html": {"schema": {"type": "string"}}
                }
            }),
        ),
    );
    paths.insert("/api".into(), get("This API definition", "getApi", vec![reference("f")], json!({"description": "OpenAPI 3.0", "content": {"application/vnd.oai.openapi+json;version=3.0": {"schema": {"type": "object"}}}})));
    paths.insert("/conformance".into(), get("Conformance classes", "getConformance", vec![reference("f")], json_ok("The classes implemented", json!({"type": "object", "required": ["conformsTo"], "properties": {"conformsTo": {"type": "array", "items": {"type": "string"}}}}))));
    paths.insert(
        "/collections".into(),
        get(
            "The collections",
            "getCollections",
            vec![reference("f")],
            json_ok(
                "Every collection",
                json!({"type": "object", "required": ["collections", "links"]}),
            ),
        ),
    );
    paths.insert(
        "/health".into(),
        get(
            "Readiness, data version and reload status",
            "getHealth",
            vec![],
            json_ok("Health", json!({"type": "object"})),
        ),
    );
    paths.insert("/geocode".into(), get("Find a Haitian place by name", "geocode", vec![
        json!({"name": "q", "in": "query", "required": true, "description": "A place name, in French or Kreyòl, misspelt or not, e.g. 'Pont Sonde'", "schema": {"type": "string", "minLength": 1, "maxLength": 200}}),
        json!({"name": "limit", "in": "query", "required": false, "description": "Candidates to return", "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5}}),
        json!({"name": "suggest", "in": "query", "required": false, "description": "true while the name is being typed: after the matches, the names that begin with q (at least 3 letters)", "schema": {"type": "boolean", "default": false}}),
    ], geojson_ok("Candidates, best first", "FeatureCollection")));
    paths.insert("/reverse".into(), get("The department, commune and communal section at a point", "reverse", vec![
        json!({"name": "lon", "in": "query", "required": true, "schema": {"type": "number", "minimum": -180, "maximum": 180}}),
        json!({"name": "lat", "in": "query", "required": true, "schema": {"type": "number", "minimum": -90, "maximum": 90}}),
    ], geojson_ok("The units containing the point", "Feature")));
    paths.insert("/collections/{collectionId}".into(), get("One collection", "describeCollection", vec![
        json!({"name": "collectionId", "in": "path", "required": true, "schema": {"type": "string", "enum": collections.iter().map(|c| c.id.as_str()).collect::<Vec<_>>()}}),
        reference("f"),
    ], json_ok("The collection", json!({"type": "object", "required": ["id", "links"]}))));
    for spec in collections {
        let id = &spec.id;
        let mut items_params = vec![
            reference("bbox"),
            reference("limit"),
            reference("offset"),
            reference("near"),
            reference("within"),
            reference("near_feature"),
            reference("f"),
        ];
        if spec.time_property.is_some() {
            items_params.insert(1, reference("datetime"));
        }
        items_params.extend(queryable_params(spec));
        items_params.extend(super::cql::openapi_params());
        paths.insert(format!("/collections/{id}/queryables"), json!({"get": {
            "summary": format!("The properties a CQL2 filter on {} may name", spec.title),
            "operationId": format!("getQueryables_{id}"),
            "tags": [id],
            "parameters": [reference("f")],
            "responses": responses(json!({"description": "A JSON Schema", "content": {"application/schema+json": {"schema": {"type": "object"}}}})),
        }}));
        let mut page_params = items_params.clone();
        for p in page_params.iter_mut().filter(|p| **p == reference("f")) {
            *p = reference("f-features");
        }
        paths.insert(format!("/collections/{id}/items"), json!({"get": {
            "summary": format!("{} (features)", spec.title),
            "description": spec.description,
            "operationId": format!("getFeatures_{id}"),
            "tags": [id],
            "parameters": page_params,
            "responses": responses(json!({
                "description": "A page of features, with numberMatched and next/prev links",
                "content": {
                    "application/geo+json": {"schema": {"$ref": "#/components/schemas/FeatureCollection"}},
                    CSV: {"schema": {"type": "string"}}
                }
            })),
        }}));
        let mut download_params = items_params.clone();
        for p in download_params.iter_mut().filter(|p| **p == reference("f")) {
            *p = reference("f-download");
        }
        paths.insert(format!("/collections/{id}/download"), json!({"get": {
            "summary": format!("{}: the whole layer, or its filtered view, as one GeoJSON, CSV or GeoPackage file", spec.title),
            "operationId": format!("download_{id}"),
            "tags": [id],
            "parameters": download_params,
            "responses": responses(json!({
                "description": "One file (Content-Disposition: attachment)",
                "content": {
                    "application/geo+json": {"schema": {"$ref": "#/components/schemas/FeatureCollection"}},
                    CSV: {"schema": {"type": "string"}},
                    GPKG: {"schema": {"type": "string", "format": "binary"}}
                }
            })),
        }}));
        paths.insert(format!("/collections/{id}/items/{{featureId}}"), json!({"get": {
            "summary": format!("One feature of {}", spec.title),
            "operationId": format!("getFeature_{id}"),
            "tags": [id],
            "parameters": [{"name": "featureId", "in": "path", "required": true, "schema": {"type": "string"}}, reference("f")],
            "responses": responses(geojson_ok("The feature", "Feature")),
        }}));
    }
    tile_paths(&mut paths, collections);
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "Kat",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Documented violence in Haiti (incidents, armed-group areas) and its administrative units, as OGC API - Features. Distances are geodesic metres on WGS84.",
            "license": {"name": "Data: CC BY 3.0 IGO (boundaries), CC BY 4.0 (GeoNames); incidents cite their sources"}
        },
        "servers": [{"url": base}],
        "paths": paths,
        "components": {
            "parameters": {
                "f": {"name": "f", "in": "query", "required": false, "style": "form", "explode": false, "description": "Format: json (the default; geojson is the same)", "schema": {"type": "string", "enum": ["json", "geojson"]}},
                "f-features": {"name": "f", "in": "query", "required": false, "style": "form", "explode": false, "description": "Format: json (GeoJSON, the default; geojson is the same) or csv (one row per feature: id, properties, longitude/latitude for points, wkt for other geometries). Accept: text/csv does the same", "schema": {"type": "string", "enum": ["json", "geojson", "csv"]}},
                "f-download": {"name": "f", "in": "query", "required": false, "style": "form", "explode": false, "description": "Format: json (GeoJSON, the default; geojson is the same), csv, or gpkg (a GeoPackage with a spatial index). Accept: text/csv or application/geopackage+sqlite3 does the same", "schema": {"type": "string", "enum": ["json", "geojson", "csv", "gpkg"]}},
                "bbox": {"name": "bbox", "in": "query", "required": false, "style": "form", "explode": false, "description": "minLon,minLat,maxLon,maxLat (WGS84); features intersecting the box, edges included", "schema": {"type": "array", "minItems": 4, "maxItems": 6, "items": {"type": "number", "minimum": -180, "maximum": 180}}},
                "datetime": {"name": "datetime", "in": "query", "required": false, "style": "form", "explode": false, "description": "An RFC 3339 date-time, a date, or an interval a/b with '..' for an open end; features whose date intersects it (undated ones too)", "schema": {"type": "string"}},
                "limit": {"name": "limit", "in": "query", "required": false, "style": "form", "explode": false, "description": "Features per page; larger values are served as the maximum", "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
                "offset": {"name": "offset", "in": "query", "required": false, "style": "form", "explode": false, "description": "Features to skip; follow the next link rather than setting it", "schema": {"type": "integer", "minimum": 0, "default": 0}},
                "near": {"name": "near", "in": "query", "required": false, "style": "form", "explode": false, "description": "LON,LAT: sort by geodesic distance from this point (WGS84 ellipsoid) and add properties.distance_m; with limit=K, the K nearest", "schema": {"type": "array", "minItems": 2, "maxItems": 2, "items": {"type": "number", "minimum": -180, "maximum": 180}}},
                "within": {"name": "within", "in": "query", "required": false, "style": "form", "explode": false, "description": "With near or near_feature: keep features within this many metres (geodesic; 0 inside a polygon)", "schema": {"type": "number", "exclusiveMinimum": true, "minimum": 0, "maximum": MAX_WITHIN_M}},
                "near_feature": {"name": "near_feature", "in": "query", "required": false, "style": "form", "explode": false, "description": "COLLECTION/FEATURE_ID: like near, from that feature's point (a polygon's interior point)", "schema": {"type": "string"}}
            },
            "schemas": {
                "Problem": {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {"type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"}, "parameter": {"type": "string"}}},
                "Feature": {"type": "object", "required": ["type", "geometry", "properties"], "properties": {"type": {"type": "string", "enum": ["Feature"]}, "id": {"oneOf": [{"type": "string"}, {"type": "integer"}]}, "geometry": {"type": "object", "nullable": true}, "properties": {"type": "object", "nullable": true}}},
                "FeatureCollection": {"type": "object", "required": ["type", "features"], "properties": {"type": {"type": "string", "enum": ["FeatureCollection"]}, "features": {"type": "array", "items": {"$ref": "#/components/schemas/Feature"}}, "numberMatched": {"type": "integer", "minimum": 0}, "numberReturned": {"type": "integer", "minimum": 0}}}
            }
        }
    })
}

/// The OGC API - Tiles paths: the tilesets of each collection, its tiles (with the items
/// filters), and the tile matrix sets.
fn tile_paths(paths: &mut Map<String, Value>, collections: &[Arc<CollectionSpec>]) {
    use crate::tiles::matrix::MAX_TILE_MATRIX;
    let get = |summary: String, op: String, params: Vec<Value>, ok: Value| json!({"get": {"summary": summary, "operationId": op, "parameters": params, "responses": responses(ok)}});
    let tms_param = json!({"name": "tileMatrixSetId", "in": "path", "required": true, "schema": {"type": "string", "enum": ["WebMercatorQuad"]}});
    let collection_param = json!({"name": "collectionId", "in": "path", "required": true, "schema": {"type": "string", "enum": collections.iter().map(|c| c.id.as_str()).collect::<Vec<_>>()}});
    paths.insert(
        "/tileMatrixSets".into(),
        get(
            "The tile matrix sets".into(),
            "getTileMatrixSetsList".into(),
            vec![reference("f")],
            json_ok(
                "WebMercatorQuad",
                json!({"type": "object", "required": ["tileMatrixSets"]}),
            ),
        ),
    );
    paths.insert(
        "/tileMatrixSets/{tileMatrixSetId}".into(),
        get(
            "A tile matrix set's definition (OGC 2D TMS 2.0, JSON)".into(),
            "getTileMatrixSet".into(),
            vec![tms_param.clone(), reference("f")],
            json_ok(
                "The definition",
                json!({"type": "object", "required": ["id", "crs", "tileMatrices"]}),
            ),
        ),
    );
    paths.insert(
        "/collections/{collectionId}/tiles".into(),
        get(
            "A collection's vector tilesets".into(),
            "getCollectionVectorTilesetsList".into(),
            vec![collection_param.clone(), reference("f")],
            json_ok(
                "The tilesets",
                json!({"type": "object", "required": ["tilesets"]}),
            ),
        ),
    );
    paths.insert(
        "/collections/{collectionId}/tiles/{tileMatrixSetId}".into(),
        get(
            "A collection's vector tileset: its tile template (the item link), limits and layer"
                .into(),
            "describeCollectionVectorTileset".into(),
            vec![collection_param, tms_param, reference("f")],
            json_ok(
                "The tileset",
                json!({"type": "object", "required": ["dataType", "tileMatrixSetURI", "links"]}),
            ),
        ),
    );
    for spec in collections {
        let id = &spec.id;
        let mut params = vec![
            json!({"name": "tileMatrix", "in": "path", "required": true, "description": "The zoom", "schema": {"type": "integer", "minimum": 0, "maximum": MAX_TILE_MATRIX}}),
            json!({"name": "tileRow", "in": "path", "required": true, "description": "The row, from the north (0 to 2^tileMatrix - 1)", "schema": {"type": "integer", "minimum": 0}}),
            json!({"name": "tileCol", "in": "path", "required": true, "description": "The column, from the west (0 to 2^tileMatrix - 1)", "schema": {"type": "integer", "minimum": 0}}),
            reference("bbox"),
            json!({"name": "f", "in": "query", "required": false, "style": "form", "explode": false, "description": "mvt (the only format)", "schema": {"type": "string", "enum": ["mvt"]}}),
        ];
        if spec.time_property.is_some() {
            params.push(reference("datetime"));
        }
        params.extend(queryable_params(spec));
        params.extend(super::cql::openapi_filter_params());
        let mut agg_params = vec![
            reference("bbox"),
            reference("near"),
            reference("within"),
            reference("near_feature"),
            json!({"name": "groupby", "in": "query", "required": false, "style": "form", "explode": false, "description": "One or more queryables, comma-separated, e.g. department,event_type", "schema": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": spec.queryables.iter().map(|q| q.name.as_str()).collect::<Vec<_>>()}}}),
            json!({"name": "f", "in": "query", "required": false, "style": "form", "explode": false, "description": "json (the default) or csv", "schema": {"type": "string", "enum": ["json", "csv"]}}),
        ];
        if spec.time_property.is_some() {
            agg_params.push(reference("datetime"));
            agg_params.push(json!({"name": "interval", "in": "query", "required": false, "style": "form", "explode": false, "description": "Count by period of the time property: day, week (ISO, labelled 2024-W41), month or year", "schema": {"type": "string", "enum": ["day", "week", "month", "year"]}}));
        }
        agg_params.extend(queryable_params(spec));
        agg_params.extend(super::cql::openapi_filter_params());
        paths.insert(format!("/collections/{id}/aggregate"), json!({"get": {
            "summary": format!("{}: counts by queryables and period", spec.title),
            "description": "The features matching the items filters, grouped: {\"numberMatched\": N, \"groups\": [{\"department\": \"Ouest\", \"period\": \"2024-10\", \"count\": 12, \"sum_fatalities\": 130}]}, with one sum_NAME per numeric queryable (a null counts as 0).",
            "operationId": format!("aggregate_{id}"),
            "tags": [id],
            "parameters": agg_params,
            "responses": responses(json!({"description": "The groups", "content": {"application/json": {"schema": {"type": "object", "required": ["numberMatched", "groups"]}}, "text/csv": {"schema": {"type": "string"}}}})),
        }}));
        paths.insert(format!("/collections/{id}/tiles/WebMercatorQuad/{{tileMatrix}}/{{tileRow}}/{{tileCol}}"), json!({"get": {
            "summary": format!("{}: a vector tile", spec.title),
            "description": "One Mapbox Vector Tile with one layer named after the collection. Every matching point in the tile's bounds (west and north edges included, east and south excluded) is counted once: a tile with more than 2,000 aggregates them into 64 x 64 cells, each with count and sum_NAME of the numeric queryables; otherwise each is its own feature with its id and properties (and count 1). Areas are clipped to the tile plus a buffer and simplified to its resolution.",
            "operationId": format!("getTile_{id}"),
            "tags": [id],
            "parameters": params,
            "responses": responses(json!({"description": "The tile", "content": {"application/vnd.mapbox-vector-tile": {"schema": {"type": "string", "format": "binary"}}}})),
        }}));
    }
}

/// The write operations (OGC API - Features Part 4) of each editable collection, when a
/// database takes them: added to the paths of [`document`].
pub fn add_edits(doc: &mut Value, collections: &[Arc<CollectionSpec>]) {
    let problem = |d: &str| json!({"description": d, "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}});
    let feature_body = |t: &str| json!({"required": true, "content": {t: {"schema": {"$ref": "#/components/schemas/Feature"}}}});
    let fid =
        json!({"name": "featureId", "in": "path", "required": true, "schema": {"type": "string"}});
    let if_match = json!({"name": "If-Match", "in": "header", "required": false, "description": "The ETag of the revision the change is based on; a stale one gets 412", "schema": {"type": "string"}});
    let written = |code: &str, d: &str| {
        let mut r = json!({
            "400": problem("The feature is not valid: `field` names what to change"),
            "401": problem("No valid token (Authorization: Bearer TOKEN)"),
            "403": problem("The token's role may not do this"),
            "404": problem("No such collection or feature"),
            "412": problem("If-Match names a revision that is no longer the feature's"),
            "413": problem("The body is over 4 MiB"),
            "415": problem("The body's Content-Type is not one this operation takes"),
            "503": problem("The database is unavailable; retry shortly"),
        });
        r[code] = json!({"description": d, "headers": {"ETag": {"schema": {"type": "string"}}}});
        r
    };
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for spec in collections
        .iter()
        .filter(|s| s.editable && s.table.is_some())
    {
        let id = &spec.id;
        let security = json!([{"bearer": []}]);
        if let Some(items) = paths.get_mut(&format!("/collections/{id}/items")) {
            items["post"] = json!({
                "summary": format!("Add a feature to {}", spec.title),
                "operationId": format!("createFeature_{id}"),
                "tags": [id],
                "security": security,
                "requestBody": feature_body("application/geo+json"),
                "responses": {
                    "201": {"description": "Created: Location names it", "headers": {"Location": {"schema": {"type": "string"}}, "ETag": {"schema": {"type": "string"}}}},
                    "400": problem("The feature is not valid: `field` names what to change"),
                    "401": problem("No valid token"), "403": problem("The token's role may not do this"),
                    "409": problem("A feature with this id exists"),
                    "413": problem("The body is over 4 MiB"), "415": problem("Not GeoJSON"),
                    "503": problem("The database is unavailable; retry shortly"),
                },
            });
        }
        if let Some(item) = paths.get_mut(&format!("/collections/{id}/items/{{featureId}}")) {
            item["put"] = json!({
                "summary": format!("Replace a feature of {}", spec.title),
                "operationId": format!("replaceFeature_{id}"), "tags": [id], "security": security,
                "parameters": [fid, if_match], "requestBody": feature_body("application/geo+json"),
                "responses": written("200", "The feature as stored"),
            });
            item["patch"] = json!({
                "summary": format!("Change some members of a feature of {} (JSON merge patch)", spec.title),
                "operationId": format!("updateFeature_{id}"), "tags": [id], "security": security,
                "parameters": [fid, if_match],
                "requestBody": {"required": true, "content": {"application/merge-patch+json": {"schema": {"type": "object"}}}},
                "responses": written("200", "The feature as stored"),
            });
            item["delete"] = json!({
                "summary": format!("Delete a feature of {} (admins); its history stays", spec.title),
                "operationId": format!("deleteFeature_{id}"), "tags": [id], "security": security,
                "parameters": [fid, if_match],
                "responses": written("204", "Deleted"),
            });
        }
        paths.insert(format!("/collections/{id}/items/{{featureId}}/history"), json!({"get": {
            "summary": format!("Every version of a feature of {}, newest first", spec.title),
            "operationId": format!("getFeatureHistory_{id}"), "tags": [id],
            "parameters": [fid, reference("f")],
            "responses": responses(json_ok("The versions: revision, action, actor, at, before, after", json!({"type": "object"}))),
        }}));
        paths.insert(format!("/collections/{id}/items/{{featureId}}/history/{{revision}}/restore"), json!({"post": {
            "summary": format!("Restore a version of a feature of {} (admins)", spec.title),
            "operationId": format!("restoreFeature_{id}"), "tags": [id], "security": security,
            "parameters": [fid, {"name": "revision", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}}],
            "responses": written("200", "The feature as restored"),
        }}));
    }
    if collections.iter().any(|s| s.editable && s.table.is_some()) {
        paths.insert("/account".into(), json!({"get": {
            "summary": "The account behind the token: its name, its role (reader, editor or admin) and the operations it may do",
            "operationId": "getAccount", "security": [{"bearer": []}],
            "parameters": [reference("f")],
            "responses": {
                "200": {"description": "The account", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["name", "role", "may"],
                    "properties": {
                        "name": {"type": "string"},
                        "role": {"type": "string", "enum": ["reader", "editor", "admin"]},
                        "may": {"type": "array", "items": {"type": "string", "enum": ["read", "create", "replace", "update", "delete", "restore"]}},
                    },
                }}}},
                "400": problem("A query parameter this operation does not take"),
                "401": problem("No valid token"),
                "503": problem("The database is unavailable; retry shortly"),
            },
        }}));
    }
    doc["components"]["securitySchemes"] = json!({"bearer": {"type": "http", "scheme": "bearer", "description": "A token from `kat token create`"}});
}
