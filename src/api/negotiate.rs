//! Content negotiation: `f=` wins over `Accept`; no `Accept`, or `*/*`, gets JSON.
//!
//! ```
//! use kat::api::negotiate::Format;
//! assert_eq!(Format::from_f("gpkg"), Some(Format::GeoPackage));
//! assert_eq!(Format::from_f("text/csv"), Some(Format::Csv));
//! ```

use super::params::Params;
use super::problem::ApiError;
use actix_web::http::header;
use actix_web::HttpRequest;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Html,
    /// `text/csv` (features only).
    Csv,
    /// `application/geopackage+sqlite3` (downloads only).
    GeoPackage,
}

impl Format {
    /// The format an `f=` value names (its short name or its media type).
    pub fn from_f(f: &str) -> Option<Format> {
        Some(match f.to_ascii_lowercase().as_str() {
            "json" | "geojson" | "application/json" | "application/geo+json" => Format::Json,
            "html" | "text/html" => Format::Html,
            "csv" | "text/csv" => Format::Csv,
            "gpkg" | "geopackage" | "application/geopackage+sqlite3" => Format::GeoPackage,
            _ => return None,
        })
    }

    /// The short name `f=` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Html => "html",
            Format::Csv => "csv",
            Format::GeoPackage => "gpkg",
        }
    }
}

/// Picks the representation; `html` says whether this resource has one.
pub fn negotiate(req: &HttpRequest, params: &Params, html: bool) -> Result<Format, ApiError> {
    let offered: &[Format] = if html {
        &[Format::Json, Format::Html]
    } else {
        &[Format::Json]
    };
    negotiate_among(req, params, offered)
}

/// "f=json, f=csv or f=gpkg".
fn listed(offered: &[Format]) -> String {
    let names: Vec<String> = offered.iter().map(|f| format!("f={}", f.name())).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

/// Picks the representation among `offered` (the first is the default).
pub fn negotiate_among(
    req: &HttpRequest,
    params: &Params,
    offered: &[Format],
) -> Result<Format, ApiError> {
    let html = offered.contains(&Format::Html);
    let default = offered.first().copied().unwrap_or(Format::Json);
    if let Some(f) = params.get("f") {
        return match Format::from_f(f) {
            Some(format) if offered.contains(&format) => Ok(format),
            _ => Err(ApiError::FormatNotOffered(format!(
                "f={} is not offered here; use {}",
                clip(f),
                listed(offered)
            ))),
        };
    }
    let accept = match req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
    {
        None => return Ok(default),
        Some(a) if a.trim().is_empty() => return Ok(default),
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
            "text/csv" if offered.contains(&Format::Csv) => Format::Csv,
            "application/geopackage+sqlite3" if offered.contains(&Format::GeoPackage) => {
                Format::GeoPackage
            }
            "*/*" | "application/*" => default,
            "application/json"
            | "application/geo+json"
            | "application/problem+json"
            | "application/vnd.oai.openapi+json"
            | "application/schema+json" => Format::Json,
            "text/*" if html => Format::Html,
            "text/*" if offered.contains(&Format::Csv) => Format::Csv,
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
        let types: Vec<&str> = offered
            .iter()
            .map(|f| match f {
                Format::Json => "JSON",
                Format::Html => "HTML",
                Format::Csv => "CSV (text/csv)",
                Format::GeoPackage => "GeoPackage (application/geopackage+sqlite3)",
            })
            .collect();
        ApiError::NotAcceptable(format!(
            "cannot answer Accept: {}; this resource is served as {}",
            clip(&accept),
            types.join(" or ")
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
