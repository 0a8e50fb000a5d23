//! What every handler shares: resources that answer GET, HEAD and preflight, the headers of
//! every answer, ETags, absolute links, and the guard that bounds each request.

use super::params;
use super::problem::ApiError;
use super::state::State;
use crate::catalog::Snapshot;
use crate::layer::Layer;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{guard, web, HttpRequest, HttpResponse, ResponseError};
use std::sync::Arc;
use std::time::Duration;

/// The layer of collection `id`, or the 404 that every collection path answers.
pub(crate) fn layer<'a>(snap: &'a Snapshot, id: &str) -> Result<&'a Arc<Layer>, ApiError> {
    snap.layer(id)
        .ok_or_else(|| ApiError::NotFound(format!("no collection '{id}'; see /collections")))
}

pub(crate) const ALLOW: &str = "GET, HEAD, OPTIONS";

/// A resource answering GET and HEAD (and CORS preflight), 405 otherwise.
pub(crate) fn resource<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args>,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path)
        .route(
            web::route()
                .guard(guard::Any(guard::Get()).or(guard::Head()))
                .to(handler),
        )
        .route(web::route().guard(guard::Options()).to(preflight))
        .default_service(web::to(method_not_allowed))
}

/// `OPTIONS`: what the resource permits, and the CORS preflight of a browser's request. On an
/// editable collection with a database, that includes the writes and their headers.
pub(crate) async fn preflight(req: HttpRequest, state: web::Data<State>) -> HttpResponse {
    let allow = allowed_methods(&req, &state);
    HttpResponse::NoContent()
        .insert_header((header::ALLOW, allow))
        .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, allow))
        .insert_header((
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "Accept, If-None-Match, If-Match, Content-Type, Authorization",
        ))
        .insert_header((header::ACCESS_CONTROL_MAX_AGE, "86400"))
        .finish()
}

/// The methods a path answers: reads everywhere, writes on an editable collection's items
/// when a database is attached.
fn allowed_methods(req: &HttpRequest, state: &State) -> &'static str {
    let segments: Vec<&str> = req.path().trim_matches('/').split('/').collect();
    let editable = |id: &str| {
        state.database().is_some()
            && state
                .snapshot()
                .layer(id)
                .is_some_and(|l| l.spec.editable && l.spec.table.is_some())
    };
    match segments.as_slice() {
        ["collections", id, "items"] if editable(id) => "GET, HEAD, POST, OPTIONS",
        ["collections", id, "items", _] if editable(id) => "GET, HEAD, PUT, PATCH, DELETE, OPTIONS",
        ["collections", id, "items", _, "history", _, "restore"] if editable(id) => "POST, OPTIONS",
        _ => ALLOW,
    }
}

pub(crate) async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed { allow: ALLOW })
}

pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound(
        "no such resource; start at / for the links".into(),
    ))
}

/// Common headers, metrics, and a JSON body for errors raised before a handler runs.
pub(crate) async fn common_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let state = req.app_data::<web::Data<State>>().cloned();
    let mut res = next.call(req).await?;
    add_common_headers(&mut res);
    if let Some(state) = state {
        let route = res
            .request()
            .match_pattern()
            .unwrap_or_else(|| "unmatched".into());
        state.metrics.observe(
            &route,
            res.status().as_u16(),
            started.elapsed().as_secs_f64(),
        );
    }
    Ok(res)
}

/// Whether `If-None-Match` names this ETag (or `*`).
pub(crate) fn etag_matches(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',').any(|t| {
                let t = t.trim();
                t == "*" || t == etag || t.trim_start_matches("W/") == etag.trim_start_matches("W/")
            })
        })
}

/// `scheme://host` as the client reached us, for absolute links.
pub(crate) fn base_url(req: &HttpRequest) -> String {
    let ci = req.connection_info();
    format!("{}://{}", ci.scheme(), ci.host())
}

/// Headers for every answer: CORS for reading, and no sniffing.
pub(crate) fn add_common_headers<B>(res: &mut ServiceResponse<B>) {
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("Link, OGC-NumberMatched, ETag, Content-Disposition"),
    );
    // The map page sets its own policy; everything else (JSON, scripts, images) needs none.
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'; base-uri 'none'"),
        );
    }
    if !h.contains_key(header::X_FRAME_OPTIONS) {
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
}

/// How long a handler may take to produce its answer's head (503 after).
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Refusals that apply to every path, before routing: a query string over
/// [`params::MAX_QUERY_BYTES`] (414) or with more than [`params::MAX_PARAMS`] parameters
/// (400). Also bounds each handler's time, and answers a handler's panic with a problem
/// document instead of a dropped connection.
pub(crate) async fn guard(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    use futures_util::FutureExt;
    let query = req.query_string();
    let refused = if query.len() > params::MAX_QUERY_BYTES {
        Some(ApiError::Query(params::QueryError::TooLong(query.len())))
    } else {
        let n = params::count_params(query);
        (n > params::MAX_PARAMS).then_some(ApiError::Query(params::QueryError::TooMany(n)))
    };
    if let Some(e) = refused {
        return Ok(req.into_response(e.error_response()).map_into_right_body());
    }
    // The request cannot be kept (routing needs it unshared), so the rare answers below are
    // errors that actix turns into their problem documents.
    let path = req.path().to_string();
    let call = std::panic::AssertUnwindSafe(next.call(req)).catch_unwind();
    match tokio::time::timeout(REQUEST_TIMEOUT, call).await {
        Ok(Ok(res)) => res.map(ServiceResponse::map_into_left_body),
        Ok(Err(_)) => {
            tracing::error!(path = %clip(&path), "a handler panicked");
            Err(ApiError::Internal(
                "the request could not be answered; the failure has been logged".into(),
            )
            .into())
        }
        Err(_) => {
            tracing::warn!(path = %clip(&path), "request timed out");
            Err(ApiError::Unavailable(format!(
                "the answer took longer than {} s; narrow the query (bbox, limit) and try again",
                REQUEST_TIMEOUT.as_secs()
            ))
            .into())
        }
    }
}

fn clip(s: &str) -> &str {
    match s.char_indices().nth(200) {
        Some((at, _)) => &s[..at],
        None => s,
    }
}

/// An `HttpResponse` for a JSON value, with a strong ETag and 304 support.
pub(crate) fn json_response(
    req: &actix_web::HttpRequest,
    body: Vec<u8>,
    content_type: &'static str,
) -> HttpResponse {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut h);
    let etag = format!("\"{:016x}\"", h.finish());
    if etag_matches(req, &etag) {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish();
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}
