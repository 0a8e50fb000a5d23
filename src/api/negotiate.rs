//! Content negotiation: `f=` wins over `Accept`; no `Accept`, or `*/*`, gets JSON.

use super::params::Params;
use super::problem::ApiError;
use actix_web::http::header;
use actix_web::HttpRequest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Html,
}

/// Picks the representation; `html` says whether this resource has one.
pub fn negotiate(req: &HttpRequest, params: &Params, html: bool) -> Result<Format, ApiError> {
    if let Some(f) = params.get("f") {
        let shown = clip(f);
        return match f.to_ascii_lowercase().as_str() {
            "json" | "geojson" | "application/json" | "application/geo+json" => Ok(Format::Json),
            "html" | "text/html" if html => Ok(Format::Html),
            _ => Err(ApiError::FormatNotOffered(format!(
                "f={shown} is not offered here; use f=json{}",
                if html { " or f=html" } else { "" }
            ))),
        };
    }
    let accept = match req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    {
        None => return Ok(Format::Json),
        Some(a) if a.trim().is_empty() => return Ok(Format::Json),
        Some(a) => a.to_ascii_lowercase(),
    };
    let mut best: Option<(f32, usize, Format)> = None;
    for (pos, range) in accept.split(',').enumerate() {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        if q <= 0.0 {
            continue;
        }
        let format = match media {
            "text/html" | "application/xhtml+xml" if html => Format::Html,
            "*/*"
            | "application/*"
            | "application/json"
            | "application/geo+json"
            | "application/problem+json"
            | "application/vnd.oai.openapi+json"
            | "application/schema+json" => Format::Json,
            "text/*" if html => Format::Html,
            _ => continue,
        };
        // Highest q wins; at equal q, the more specific (non-wildcard) and earlier one.
        let specific = !media.contains('*');
        let rank = (
            q + if specific { 0.0001 } else { 0.0 },
            usize::MAX - pos,
            format,
        );
        if best.is_none_or(|b| (rank.0, rank.1) > (b.0, b.1)) {
            best = Some(rank);
        }
    }
    best.map(|b| b.2).ok_or_else(|| {
        ApiError::NotAcceptable(format!(
            "cannot answer Accept: {}; this resource is served as JSON{}",
            clip(&accept),
            if html { " or HTML" } else { "" }
        ))
    })
}

/// A client's value as echoed in an error: at most 100 characters.
fn clip(s: &str) -> String {
    if s.chars().count() > 100 {
        s.chars().take(100).collect::<String>() + "…"
    } else {
        s.to_string()
    }
}
