//! Answers as bytes: FeatureCollections built from the features' stored JSON, and links.

use crate::layer::{Layer, Prefetch};
use crate::query::Results;
use serde::Serialize;

/// A hypermedia link.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub href: String,
    pub rel: &'static str,
    #[serde(rename = "type")]
    pub media_type: &'static str,
    pub title: String,
}

impl Link {
    pub fn new(
        href: impl Into<String>,
        rel: &'static str,
        media_type: &'static str,
        title: impl Into<String>,
    ) -> Self {
        Link {
            href: href.into(),
            rel,
            media_type,
            title: title.into(),
        }
    }

    /// Appends the link as an HTTP `Link` header value to `out`.
    pub fn write_header_value(&self, out: &mut String) {
        for piece in [
            "<",
            &self.href,
            ">; rel=\"",
            self.rel,
            "\"; type=\"",
            self.media_type,
            "\"",
        ] {
            out.push_str(piece);
        }
    }
}

pub const GEOJSON: &str = "application/geo+json";
pub const JSON: &str = "application/json";
pub const OPENAPI: &str = "application/vnd.oai.openapi+json;version=3.0";
pub const HTML: &str = "text/html";

/// The FeatureCollection for one page.
pub fn feature_collection(
    layer: &Layer,
    results: &Results,
    links: &[Link],
    time_stamp: &str,
) -> Vec<u8> {
    let bytes: usize = results
        .items
        .iter()
        .map(|i| layer.feature_len(*i) + 2)
        .sum();
    let mut out = Vec::with_capacity(2048 + bytes + results.items.len() * 24);
    write_head(results, links, time_stamp, &mut out);
    write_features(layer, results, 0..results.items.len(), &mut out);
    out.extend_from_slice(b"]}");
    out
}

/// Appends a FeatureCollection's members up to the opening of its `features` array.
pub fn write_head(results: &Results, links: &[Link], time_stamp: &str, out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"type\":\"FeatureCollection\",\"numberMatched\":");
    out.extend_from_slice(results.matched.to_string().as_bytes());
    out.extend_from_slice(b",\"numberReturned\":");
    out.extend_from_slice(results.items.len().to_string().as_bytes());
    out.extend_from_slice(b",\"timeStamp\":\"");
    out.extend_from_slice(time_stamp.as_bytes());
    out.extend_from_slice(b"\",\"links\":");
    out.extend_from_slice(&serde_json::to_vec(links).unwrap_or_else(|_| b"[]".to_vec()));
    out.extend_from_slice(b",\"features\":[");
}

/// Appends the features of `range` (positions in `results.items`), comma-separated, one per
/// line after the first.
pub fn write_features(
    layer: &Layer,
    results: &Results,
    range: std::ops::Range<usize>,
    out: &mut Vec<u8>,
) {
    // Records are announced further ahead than bytes: a feature's bytes can only be found
    // once its record has arrived.
    const RECORDS_AHEAD: usize = 16;
    const BYTES_AHEAD: usize = 8;
    let items = &results.items;
    for &idx in items
        .iter()
        .skip(range.start)
        .take(RECORDS_AHEAD.min(range.len()))
    {
        layer.prefetch(idx, Prefetch::Record);
    }
    for i in range.clone() {
        if i + RECORDS_AHEAD < range.end {
            layer.prefetch(items[i + RECORDS_AHEAD], Prefetch::Record);
        }
        if i + BYTES_AHEAD < range.end {
            layer.prefetch(items[i + BYTES_AHEAD], Prefetch::Bytes);
        }
        if i > 0 {
            out.extend_from_slice(b",\n");
        }
        let d = results.distances.as_ref().map(|d| d[i]);
        layer.write_feature(results.items[i], out, d);
    }
}
