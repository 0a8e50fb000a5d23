//! The web map's files: static/ at `/static/…`, the map page at `/`, and the simplified
//! boundaries at `/simplified/{name}.geojson`.

use super::http::resource;
use super::problem::ApiError;
use super::state::State;
use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};

/// Only the page's own origin and the tile server.
pub const MAP_CSP: &str =
    "default-src 'self'; img-src 'self' data: https://tile.openstreetmap.org; \
    style-src 'self'; script-src 'self'; connect-src 'self'; font-src 'self'; object-src 'none'; \
    base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

pub(super) fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/static/{tail:.*}", static_file))
        .service(resource("/simplified/{name}", simplified))
        .service(resource("/favicon.ico", favicon));
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "geojson" => "application/geo+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = std::str::from_utf8(b.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// The path below static/ that a request names, or None when it would leave static/, name a
/// dotfile, or is not plain text: `..`, `%2e%2e`, `%2f`, backslashes and NUL never pass.
pub fn safe_relative_path(raw: &str) -> Option<String> {
    // Decode twice so that double-encoded tricks (%252e) are judged by what they become.
    let once = String::from_utf8(percent_decode(raw)?).ok()?;
    if once.contains('%') && percent_decode(&once).is_some_and(|twice| twice != once.as_bytes()) {
        return None;
    }
    if once.is_empty() || once.contains(['\\', '\0']) || once.starts_with('/') {
        return None;
    }
    for seg in once.split('/') {
        if seg.is_empty() || seg.starts_with('.') || seg.contains(':') {
            return None;
        }
    }
    Some(once)
}

async fn serve_file(
    req: &HttpRequest,
    state: &State,
    rel: &str,
    csp: bool,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::NotFound("no such file".into());
    // The file as it really is (links followed) must still lie below static/.
    let root = tokio::fs::canonicalize(&state.static_dir)
        .await
        .map_err(|_| not_found())?;
    let path = tokio::fs::canonicalize(state.static_dir.join(rel))
        .await
        .map_err(|_| not_found())?;
    if !path.starts_with(&root) {
        return Err(not_found());
    }
    let meta = tokio::fs::metadata(&path).await.map_err(|_| not_found())?;
    if !meta.is_file() {
        return Err(not_found());
    }
    let etag = format!(
        "\"{:x}-{:x}\"",
        meta.len(),
        meta.modified()
            .ok()
            .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs())
            .unwrap_or(0)
    );
    let cache = if rel.starts_with("vendor/") {
        "public, max-age=86400"
    } else {
        "no-cache"
    };
    if super::http::etag_matches(req, &etag) {
        return Ok(HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish());
    }
    let bytes = tokio::fs::read(&path).await.map_err(|_| not_found())?;
    let mut res = HttpResponse::Ok();
    res.insert_header((header::CONTENT_TYPE, content_type(rel)))
        .insert_header((header::ETAG, etag))
        .insert_header((header::CACHE_CONTROL, cache));
    if csp {
        res.insert_header((header::CONTENT_SECURITY_POLICY, MAP_CSP));
    }
    Ok(res.body(bytes))
}

async fn static_file(req: HttpRequest, state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    let raw = req.uri().path().strip_prefix("/static/").unwrap_or("");
    let rel = safe_relative_path(raw).ok_or_else(|| ApiError::NotFound("no such file".into()))?;
    let csp = rel.ends_with(".html");
    serve_file(&req, &state, &rel, csp).await
}

/// The map page, for a browser at `/`.
pub(super) async fn map_page(req: &HttpRequest, state: &State) -> Result<HttpResponse, ApiError> {
    serve_file(req, state, "index.html", true).await
}

async fn favicon(req: HttpRequest, state: web::Data<State>) -> Result<HttpResponse, ApiError> {
    serve_file(&req, &state, "favicon.svg", false).await
}

async fn simplified(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<State>,
) -> Result<HttpResponse, ApiError> {
    super::params::Params::parse(req.query_string(), Some(&[]))?;
    let name = path.strip_suffix(".geojson").unwrap_or("");
    let snap = state.snapshot();
    let bytes = snap.simplified.get(name).ok_or_else(|| {
        ApiError::NotFound(
            "simplified boundaries: departments.geojson, communes.geojson or sections.geojson"
                .into(),
        )
    })?;
    Ok(super::http::json_response(
        &req,
        bytes.to_vec(),
        super::encode::GEOJSON,
    ))
}

#[cfg(test)]
mod tests {
    use super::safe_relative_path;

    #[test]
    fn escapes_from_static_are_refused() {
        for p in [
            "../Cargo.toml",
            "%2e%2e/Cargo.toml",
            "a%2f..%2f..%2fCargo.toml",
            "..%5cCargo.toml",
            "a\\b",
            "a%00b",
            ".git/config",
            "%252e%252e/x",
            "vendor/../../x",
            "",
        ] {
            assert_eq!(safe_relative_path(p), None, "{p}");
        }
        assert_eq!(
            safe_relative_path("vendor/leaflet/leaflet.js").as_deref(),
            Some("vendor/leaflet/leaflet.js")
        );
    }
}
