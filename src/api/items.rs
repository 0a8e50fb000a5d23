//! `/collections/{id}/items`, `/items/{featureId}` and `/download`: parse → query → encode.

use super::edit;
use super::encode::{self, Link, GEOJSON};
use super::http::layer;
use super::http::{base_url, etag_matches, resource};
use super::negotiate::{negotiate, negotiate_among, Format};
use super::params::{
    parse_bbox, parse_datetime, parse_limit, parse_near, parse_near_feature, parse_offset,
    parse_value, parse_within, ParamError, Params, DEFAULT_LIMIT,
};
use super::problem::ApiError;
use super::select::Selection;
use super::state::State;
use crate::catalog::Snapshot;
use crate::format::{csv, feature::Features, gpkg};
use crate::layer::{CollectionSpec, Layer};
use crate::query::{self, ItemsQuery, Near};
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use bytes::Bytes;
use std::sync::Arc;

pub(super) fn routes(cfg: &mut web::ServiceConfig, collections: &[Arc<str>]) {
    // Each collection's items path at start is also a static route: static paths are matched
    // by comparing strings, a `{segment}` pattern by running a regex, on the busiest route.
    // Collections that a reload adds are served by the pattern.
    for id in collections {
        let path = format!("/collections/{id}/items");
        let id = Arc::clone(id);
        cfg.service(
            resource(&path, move |req: HttpRequest, state: web::Data<State>| {
                let id = Arc::clone(&id);
                async move { items_in(req, &id, state).await }
            })
            .route(web::post().to(edit::create)),
        );
    }
    cfg.service(resource("/collections/{id}/items", items).route(web::post().to(edit::create)))
        .service(
            resource("/collections/{id}/items/{fid}", item)
                .route(web::put().to(edit::replace))
                .route(web::patch().to(edit::update))
                .route(web::delete().to(edit::delete)),
        )
        .service(resource(
            "/collections/{id}/items/{fid}/history",
            edit::history,
        ))
        .service(
            web::resource("/collections/{id}/items/{fid}/history/{revision}/restore")
                .route(web::post().to(edit::restore))
                .route(
                    web::route()
                        .guard(actix_web::guard::Options())
                        .to(super::http::preflight),
                )
                .default_service(web::to(super::http::method_not_allowed)),
        )
        .service(resource("/collections/{id}/download", download));
}

const COMMON: &[&str] = &[
    "bbox",
    "datetime",
    "limit",
    "offset",
    "near",
    "within",
    "near_feature",
    "f",
    "filter",
    "filter-lang",
    "filter-crs",
    "sortby",
    "properties",
    "skipGeometry",
];

/// The parameters `/items` accepts on this collection.
fn allowed(spec: &CollectionSpec) -> Vec<&str> {
    let mut a: Vec<&str> = Vec::with_capacity(COMMON.len() + spec.queryables.len());
    a.extend(
        COMMON
            .iter()
            .filter(|p| spec.time_property.is_some() || **p != "datetime"),
    );
    a.extend(spec.queryables.iter().map(|q| q.name.as_str()));
    a
}

/// Builds the typed query from the request's parameters.
pub fn items_query(
    p: &Params,
    layer: &Layer,
    snap: &Snapshot,
    default_limit: usize,
) -> Result<ItemsQuery, ApiError> {
    let mut q = ItemsQuery {
        limit: default_limit,
        ..ItemsQuery::default()
    };
    if let Some(s) = p.get("bbox") {
        q.bbox = parse_bbox(s)?;
    }
    if let Some(s) = p.get("datetime") {
        q.datetime = Some(parse_datetime(s)?);
    }
    if let Some(s) = p.get("limit") {
        q.limit = parse_limit(s)?;
    }
    if let Some(s) = p.get("offset") {
        q.offset = parse_offset(s)?;
    }
    for (i, queryable) in layer.spec.queryables.iter().enumerate() {
        if let Some(v) = p.get(&queryable.name) {
            let v = parse_value(&queryable.name, v)?;
            if layer.prepare(i, v).is_none() {
                return Err(ParamError::new(&queryable.name, v, expected_value(queryable)).into());
            }
            q.filters.push((i, v.to_string()));
        }
    }
    q.filter = super::cql::parse_filter(p, &layer.spec)?;
    q.sortby = super::cql::parse_sort(p, &layer.spec)?;
    let origin = match (p.get("near"), p.get("near_feature")) {
        (Some(_), Some(_)) => {
            return Err(ParamError::new(
                "near_feature",
                p.get("near_feature").unwrap_or(""),
                "either near or near_feature, not both",
            )
            .into())
        }
        (Some(s), None) => Some(parse_near(s)?),
        (None, Some(s)) => {
            let (collection, fid) = parse_near_feature(s)?;
            let unknown = || {
                ParamError::new("near_feature", s, "COLLECTION/FEATURE_ID of an existing feature that has a geometry, e.g. incidents/HT-2025-007")
            };
            let other = snap.layer(collection).ok_or_else(unknown)?;
            let idx = other.position(fid).ok_or_else(unknown)?;
            Some(other.anchor(idx).ok_or_else(unknown)?)
        }
        (None, None) => None,
    };
    let within = p.get("within").map(parse_within).transpose()?;
    q.near = match (origin, within) {
        (Some(origin), within_m) => Some(Near { origin, within_m }),
        (None, Some(_)) => {
            return Err(ParamError::new(
                "within",
                p.get("within").unwrap_or(""),
                "to be used with near=LON,LAT or near_feature=COLLECTION/ID",
            )
            .into())
        }
        (None, None) => None,
    };
    Ok(q)
}

/// What a `name=value` parameter takes, for its error.
fn expected_value(q: &crate::layer::Queryable) -> &'static str {
    use crate::layer::QueryableType;
    match q.kind {
        QueryableType::String(_) => "a text",
        QueryableType::Integer => "an integer, e.g. 10",
        QueryableType::Number => "a number, e.g. 2.5",
        QueryableType::Boolean => "true or false",
        QueryableType::Date => "a date YYYY-MM-DD, a month YYYY-MM or an RFC 3339 date-time",
    }
}

/// A link to the same query at another offset.
fn page_href(base: &str, path: &str, p: &Params, offset: usize, limit: usize) -> String {
    href(base, path, p, Some((offset, limit)), FormatParam::Keep)
}

/// What a link does with the request's `f`.
#[derive(Clone, Copy)]
enum FormatParam {
    Keep,
    /// Replaces it (`None`: removes it, for the default format).
    Set(Option<&'static str>),
}

/// A link to `path` with the request's parameters, paged at `(offset, limit)` or not paged.
fn href(
    base: &str,
    path: &str,
    p: &Params,
    paging: Option<(usize, usize)>,
    f: FormatParam,
) -> String {
    let mut out = String::with_capacity(base.len() + path.len() + 128);
    out.push_str(base);
    out.push_str(path);
    out.push('?');
    let start = out.len();
    let mut s = form_urlencoded::Serializer::for_suffix(out, start);
    for (k, v) in p.iter() {
        let replaced = k == "f" && matches!(f, FormatParam::Set(_));
        if k != "offset" && k != "limit" && !replaced {
            s.append_pair(k, v);
        }
    }
    if let FormatParam::Set(Some(name)) = f {
        s.append_pair("f", name);
    }
    if let Some((offset, limit)) = paging {
        s.append_pair("limit", &limit.to_string());
        if offset > 0 {
            s.append_pair("offset", &offset.to_string());
        }
    }
    let mut out = s.finish();
    if out.len() == start {
        out.pop();
    }
    out
}

/// A weak ETag: the answer is a function of the data version, the request and the format
/// it is served in (only its timeStamp differs).
fn items_etag(snap: &Snapshot, req: &HttpRequest, format: Format) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    req.path().hash(&mut h);
    req.query_string().hash(&mut h);
    format.name().hash(&mut h);
    req.connection_info().host().hash(&mut h);
    format!("W/\"{}-{:016x}\"", snap.version, h.finish())
}

async fn items(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    items_in(req, &path, state).await
}

async fn items_in(
    req: HttpRequest,
    id: &str,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let snap = state.snapshot();
    let layer = layer(&snap, id)?;
    let p = Params::parse(req.query_string(), Some(&allowed(&layer.spec)))?;
    let format = negotiate_among(&req, &p, &[Format::Json, Format::Csv])?;
    let q = items_query(&p, layer, &snap, DEFAULT_LIMIT)?;
    let selection = Selection::parse(p.get("properties"), p.get("skipGeometry"))?;
    let etag = items_etag(&snap, &req, format);
    if etag_matches(&req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    let results = query::run(layer, &q);

    let base = base_url(&req);
    let rpath = req.path();
    let (media, other, other_f) = match format {
        Format::Csv => (csv::LINK_TYPE, GEOJSON, None),
        _ => (GEOJSON, csv::LINK_TYPE, Some("csv")),
    };
    let download = format!("/collections/{}/download", layer.id());
    let mut links = vec![
        Link::new(
            page_href(&base, rpath, &p, q.offset, q.limit),
            "self",
            media,
            "This page",
        ),
        Link::new(
            href(&base, &download, &p, None, FormatParam::Set(None)),
            "alternate",
            GEOJSON,
            "Every feature matching these filters, as one file",
        ),
        Link::new(
            href(
                &base,
                rpath,
                &p,
                Some((q.offset, q.limit)),
                FormatParam::Set(other_f),
            ),
            "alternate",
            other,
            if other_f.is_some() {
                "This page as CSV"
            } else {
                "This page as GeoJSON"
            },
        ),
        Link::new(
            format!("{base}/collections/{}", layer.id()),
            "collection",
            "application/json",
            layer.spec.title.clone(),
        ),
    ];
    for (f, media, title) in DOWNLOADS {
        links.push(Link::new(
            href(&base, &download, &p, None, FormatParam::Set(*f)),
            "enclosure",
            media,
            *title,
        ));
    }
    let next = q.offset.saturating_add(results.items.len());
    if !results.items.is_empty() && next < results.matched {
        links.push(Link::new(
            page_href(&base, rpath, &p, next, q.limit),
            "next",
            media,
            "Next page",
        ));
    }
    if q.offset > 0 {
        let prev = q.offset.saturating_sub(q.limit);
        links.push(Link::new(
            page_href(&base, rpath, &p, prev, q.limit),
            "prev",
            media,
            "Previous page",
        ));
    }
    let time_stamp = crate::temporal::now_rfc3339();
    let (body, content_type) = match format {
        Format::Csv => (
            csv::encode(&mut Features::new(layer, &results)).map_err(internal)?,
            csv::MEDIA_TYPE,
        ),
        _ if selection.is_whole() => (
            encode::feature_collection(layer, &results, &links, &time_stamp),
            GEOJSON,
        ),
        _ => (
            selection.feature_collection(layer, &results, &links, &time_stamp),
            GEOJSON,
        ),
    };
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::VARY, "Accept"))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("OGC-NumberMatched", results.matched.to_string()))
        .insert_header(("OGC-NumberReturned", results.items.len().to_string()));
    let mut link_header = String::with_capacity(links.iter().map(|l| l.href.len() + 64).sum());
    for l in links.iter().filter(|l| l.rel != "collection") {
        if !link_header.is_empty() {
            link_header.push_str(", ");
        }
        l.write_header_value(&mut link_header);
    }
    res.insert_header((header::LINK, link_header));
    Ok(res.body(body))
}

/// The formats `/download` offers, as `(f, link type, title)`.
const DOWNLOADS: &[(Option<&str>, &str, &str)] = &[
    (
        None,
        GEOJSON,
        "Every feature matching these filters, as one GeoJSON file",
    ),
    (
        Some("csv"),
        csv::LINK_TYPE,
        "Every feature matching these filters, as one CSV file",
    ),
    (
        Some("gpkg"),
        gpkg::MEDIA_TYPE,
        "Every feature matching these filters, as one GeoPackage",
    ),
];

/// An encoder's failure: a fault of the server, logged, never of the request.
fn internal(e: impl std::error::Error) -> ApiError {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        message.push_str(": ");
        message.push_str(&s.to_string());
        source = s.source();
    }
    tracing::error!(error = %message, "an answer could not be encoded");
    ApiError::Internal("the answer could not be encoded; the failure has been logged".into())
}

async fn item(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let (id, fid) = path.into_inner();
    let snap = state.snapshot();
    let layer = layer(&snap, &id)?;
    let p = Params::parse(req.query_string(), Some(&["f"]))?;
    negotiate(&req, &p, false)?;
    let idx = layer
        .position(&fid)
        .ok_or_else(|| ApiError::NotFound(format!("no feature '{fid}' in collection '{id}'")))?;
    let base = base_url(&req);
    let enc_fid: String = form_urlencoded::byte_serialize(fid.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    let links = vec![
        Link::new(
            format!("{base}/collections/{id}/items/{enc_fid}"),
            "self",
            GEOJSON,
            "This feature",
        ),
        Link::new(
            format!("{base}/collections/{id}/items/{enc_fid}?f=json"),
            "alternate",
            "application/json",
            "This feature as JSON",
        ),
        Link::new(
            format!("{base}/collections/{id}"),
            "collection",
            "application/json",
            layer.spec.title.clone(),
        ),
    ];
    let links = serde_json::to_string(&links).unwrap_or_else(|_| "[]".into());
    let mut body = Vec::with_capacity(layer.feature_len(idx) + links.len() + 16);
    layer.write_feature_with_links(idx, &mut body, &links);
    // A feature held in the database is tagged by its revision, the same on every server, so
    // that `If-Match` on a write can name it.
    if let Some(revision) = snap.revision(&id, idx) {
        let etag = edit::etag(revision);
        if etag_matches(&req, &etag) {
            return Ok(HttpResponse::NotModified()
                .insert_header((header::ETAG, etag))
                .finish());
        }
        return Ok(HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, GEOJSON))
            .insert_header((header::ETAG, etag))
            .insert_header((header::CACHE_CONTROL, "no-cache"))
            .body(body));
    }
    Ok(super::http::json_response(&req, body, GEOJSON))
}

async fn download(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    let snap = state.snapshot();
    let layer = Arc::clone(layer(&snap, &path)?);
    let p = Params::parse(req.query_string(), Some(&allowed(&layer.spec)))?;
    let format = negotiate_among(&req, &p, &[Format::Json, Format::Csv, Format::GeoPackage])?;
    let q = items_query(&p, &layer, &snap, usize::MAX)?;
    let selection = Arc::new(Selection::parse(
        p.get("properties"),
        p.get("skipGeometry"),
    )?);
    let etag = items_etag(&snap, &req, format);
    if etag_matches(&req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    let results = Arc::new(query::run(&layer, &q));
    let (media, extension) = match format {
        Format::Csv => (csv::MEDIA_TYPE, "csv"),
        Format::GeoPackage => (gpkg::MEDIA_TYPE, "gpkg"),
        _ => (GEOJSON, "geojson"),
    };
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CONTENT_TYPE, media))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{}.{extension}\"", layer.id()),
        ))
        .insert_header((header::VARY, "Accept"))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header(("OGC-NumberMatched", results.matched.to_string()));
    match format {
        Format::Csv => download_csv(layer, results, res).await,
        Format::GeoPackage => download_gpkg(layer, results, res).await,
        _ => Ok(download_geojson(layer, results, selection, res)),
    }
}

/// Features encoded per chunk as the body is sent.
const CHUNK: usize = 2000;

fn download_geojson(
    layer: Arc<Layer>,
    results: Arc<query::Results>,
    selection: Arc<Selection>,
    mut res: actix_web::HttpResponseBuilder,
) -> HttpResponse {
    let n = results.items.len();
    let head = format!(
        "{{\"type\":\"FeatureCollection\",\"name\":\"{}\",\"numberMatched\":{},\"numberReturned\":{},\"timeStamp\":\"{}\",\"features\":[\n",
        layer.id(),
        results.matched,
        n,
        crate::temporal::now_rfc3339()
    );
    let chunks = n.div_ceil(CHUNK);
    let body = futures_util::stream::iter(
        std::iter::once(Ok::<Bytes, std::convert::Infallible>(Bytes::from(head)))
            .chain((0..chunks).map({
                let layer = Arc::clone(&layer);
                let results = Arc::clone(&results);
                move |c| {
                    let range = c * CHUNK..((c + 1) * CHUNK).min(n);
                    let mut out = Vec::with_capacity(range.len() * 512);
                    if selection.is_whole() {
                        encode::write_features(&layer, &results, range, &mut out);
                    } else {
                        selection.write_features(&layer, &results, range, &mut out);
                    }
                    Ok(Bytes::from(out))
                }
            }))
            .chain(std::iter::once(Ok(Bytes::from_static(b"\n]}\n")))),
    );
    res.streaming(body)
}

/// The header is written once every feature has been scanned for its properties (on a
/// blocking thread: a large layer takes a while); the rows follow chunk by chunk.
async fn download_csv(
    layer: Arc<Layer>,
    results: Arc<query::Results>,
    mut res: actix_web::HttpResponseBuilder,
) -> Result<HttpResponse, ApiError> {
    let (layout, head) = web::block({
        let layer = Arc::clone(&layer);
        let results = Arc::clone(&results);
        move || -> Result<_, csv::CsvError> {
            let mut features = Features::new(&layer, &results);
            let layout = csv::Layout::new(&crate::format::feature::Scan::run(&mut features)?);
            let mut head = Vec::new();
            layout.write_header(&mut head)?;
            Ok((layout, head))
        }
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    let n = results.items.len();
    let body = futures_util::stream::iter(
        std::iter::once(Ok::<Bytes, csv::CsvError>(Bytes::from(head))).chain(
            (0..n.div_ceil(CHUNK)).map(move |c| {
                let range = c * CHUNK..((c + 1) * CHUNK).min(n);
                let mut out = Vec::with_capacity(range.len() * 512);
                layout.write_rows(&mut Features::new(&layer, &results), range, &mut out)?;
                Ok(Bytes::from(out))
            }),
        ),
    );
    Ok(res.streaming(body))
}

/// At most this many GeoPackages are written at once; more requests wait their turn.
static GPKG_WRITERS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// The file is written on a blocking thread into a temporary file, which is then sent with
/// its length and removed.
async fn download_gpkg(
    layer: Arc<Layer>,
    results: Arc<query::Results>,
    mut res: actix_web::HttpResponseBuilder,
) -> Result<HttpResponse, ApiError> {
    let permit = GPKG_WRITERS.acquire().await.map_err(internal)?;
    let (file, len) = web::block(move || {
        let _permit = permit;
        let info = gpkg::TableInfo {
            name: layer.id(),
            title: &layer.spec.title,
            description: &layer.spec.description,
        };
        gpkg::write_temporary(
            info,
            &mut Features::new(&layer, &results),
            &layer.spec.queryables,
        )
    })
    .await
    .map_err(internal)?
    .map_err(internal)?;
    Ok(res
        .no_chunking(len)
        .streaming(futures_util::stream::iter(gpkg::FileChunks::new(file))))
}
