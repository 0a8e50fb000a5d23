//! Streaming a FeatureCollection in any layout: the whole collection on one line (as
//! `json.dump` writes it), pretty-printed, or anything between.
//!
//! Where a feature starts can only be known for sure by following the structure from the
//! start of the array, which one core would have to do alone; newlines cannot be trusted, as
//! a file need not have any. So each block of the file guesses instead: it
//! takes the first `{` that follows `}` and a comma and reads as an object whose `type` is
//! `Feature`, and follows the chain of features from there (each feature's end, a comma, the
//! next feature) past its own end. The guess is then checked in file order: a block's guess
//! stands only if the chain of the blocks before it lands exactly on it, and since the first
//! block starts from the array's real first element, every chain that stands is the file's
//! real structure. A wrong guess (a `}, {` inside a string, a feature nested in a property)
//! costs that block a second walk from where the chain before it landed; it can never change
//! what is loaded.

use super::{
    digest_block, digest_blocks, features_open, parse_feature, read_feature, scan,
    split_collection, Buffers, CollectionSpec, Features, Part, PartBuilder, RawFeature,
    DIGEST_BLOCK, FRAME_MAX,
};
use crate::layer::onepass;
use crate::layer::store::SharedDict;
use rayon::prelude::*;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Bytes before a block read with it, for a guess's look back at the comma and `}` before it.
const LOOK_BACK: usize = 4096;

/// Bytes after a block read with it, for the feature that straddles its end.
const LOOK_AHEAD: usize = 1 << 20;

/// How a walk along the features of a window ended.
enum Walked {
    /// At the first feature starting at or after the block's end, or at the `]` that closes
    /// the array (`closed`); a position in the window. Also when a feature failed (the part
    /// says which).
    Stopped {
        part: Box<Part>,
        landing: usize,
        closed: bool,
    },
    /// The window ended first.
    NeedMore,
    /// Something other than features and commas came between.
    Broken,
}

/// Reads the chain of features from `text[p]` (a `{`): each feature, a comma, the next, until
/// one starts at or after `to` or the array closes. Each feature is read by the same one-pass
/// scan that finds its end.
fn walk_features(
    spec: &CollectionSpec,
    wanted: &[&str],
    text: &str,
    mut p: usize,
    to: usize,
    can_grow: bool,
    dict: &SharedDict,
) -> Walked {
    let t = text.as_bytes();
    let short = if can_grow {
        Walked::NeedMore
    } else {
        Walked::Broken
    };
    let mut part = PartBuilder::new(spec, dict, 0);
    loop {
        let (raw, parsed) = match onepass::object_members(&text[p..], wanted, &mut part.members) {
            Some((top, end)) => {
                let raw = &text[p..p + end];
                (
                    raw,
                    read_feature(spec, wanted, raw, Some(top), &mut part.dates),
                )
            }
            // serde_json reads what the scan leaves, once its end is known.
            None => match scan::nested(t, p) {
                Some(end) => {
                    let raw = &text[p..end];
                    let parsed =
                        parse_feature(spec, wanted, raw, &mut part.members, &mut part.dates);
                    (raw, parsed)
                }
                None => return short,
            },
        };
        let end = p + raw.len();
        if part.part.geoms.is_empty() {
            // Room for the block's features, going by the first one's length.
            part.reserve(to.saturating_sub(p) / raw.len().max(1) * 9 / 8 + 16);
        }
        if !part.add(raw, parsed) {
            return Walked::Stopped {
                part: Box::new(part.finish()),
                landing: end,
                closed: false,
            };
        }
        let q = scan::ws(t, end);
        match t.get(q) {
            None => return short,
            Some(b']') => {
                return Walked::Stopped {
                    part: Box::new(part.finish()),
                    landing: q,
                    closed: true,
                }
            }
            Some(b',') => {
                let r = scan::ws(t, q + 1);
                match t.get(r) {
                    None => return short,
                    Some(b'{') => {}
                    Some(_) => return Walked::Broken,
                }
                p = r;
                if p >= to {
                    return Walked::Stopped {
                        part: Box::new(part.finish()),
                        landing: p,
                        closed: false,
                    };
                }
            }
            Some(_) => return Walked::Broken,
        }
    }
}

/// What one block found.
struct Stretch {
    digests: Vec<u64>,
    /// Where its chain started (a file position): the array's first element for the first
    /// block, a guess for the others; None when it found no feature of its own.
    start: Option<usize>,
    /// Where its chain stopped (a file position): the first feature starting at or after
    /// the block's end, or the `]` that closes the array (`closed`).
    landing: usize,
    closed: bool,
    /// None when the chain did not hold together (something other than features and
    /// commas, or no end).
    part: Option<Part>,
}

/// Whether `text` reads as a GeoJSON feature's object (a guess, checked later).
fn is_feature(text: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(text) else {
        return false;
    };
    match onepass::feature(s, &[]) {
        Some(top) => top.kind == "Feature",
        None => serde_json::from_str::<RawFeature>(s).is_ok_and(|f| f.kind == "Feature"),
    }
}

/// The first `{` in `t[from..to]` that follows `}` and a comma and holds a feature.
fn guess(t: &[u8], from: usize, to: usize) -> Option<usize> {
    let is_ws = |b: u8| matches!(b, b' ' | b'\n' | b'\r' | b'\t');
    let mut c = from;
    while let Some(k) = memchr::memchr(b'{', &t[c..to]) {
        c += k;
        let mut b = c;
        while b > 0 && is_ws(t[b - 1]) {
            b -= 1;
        }
        let comma = b > 0 && t[b - 1] == b',';
        if comma {
            b -= 1;
            while b > 0 && is_ws(t[b - 1]) {
                b -= 1;
            }
        }
        if comma && b > 0 && t[b - 1] == b'}' {
            if let Some(end) = scan::nested(t, c) {
                if is_feature(&t[c..end]) {
                    return Some(c);
                }
            }
        }
        c += 1;
    }
    None
}

/// Loads a FeatureCollection from a file in any layout without holding its text, reading
/// blocks of `block` bytes (a multiple of the digest's block) in parallel. None when the
/// file is not plain enough for that (no `features` array near its start, a stray value in
/// the array, a collection member too large after it...): the caller reads it whole, which
/// decides what is wrong.
pub(super) fn stream_structure(
    path: &Path,
    spec: &CollectionSpec,
    wanted: &[&str],
    block: usize,
) -> std::io::Result<Option<Features>> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len() as usize;
    let mut head = vec![0u8; len.min(FRAME_MAX)];
    file.read_exact_at(&mut head, 0)?;
    let Some(open) = features_open(&head) else {
        return Ok(None);
    };
    let first = scan::ws(&head, open + 1);
    if first >= head.len() {
        return Ok(None);
    }
    let empty = head[first] == b']';
    if !empty && head[first] != b'{' {
        return Ok(None);
    }

    let blocks = len.div_ceil(block);
    let buffers = Buffers::default();
    let dict = SharedDict::default();
    // The block's chain from `start`, or from its guess.
    let walk = |buf: &mut Vec<u8>, k: usize, start: Option<usize>| -> std::io::Result<Stretch> {
        let from = k * block;
        let to = (from + block).min(len);
        let base = from.saturating_sub(LOOK_BACK);
        let mut ahead = LOOK_AHEAD;
        let mut found = Stretch {
            digests: Vec::new(),
            start: None,
            landing: to,
            closed: false,
            part: None,
        };
        loop {
            let have = (to + ahead).min(len) - base;
            if buf.len() < have {
                buf.resize(have, 0);
            }
            file.read_exact_at(&mut buf[..have], base as u64)?;
            if found.digests.is_empty() {
                found.digests = buf[from - base..to - base]
                    .chunks(DIGEST_BLOCK)
                    .map(digest_block)
                    .collect();
            }
            if empty {
                return Ok(found);
            }
            let t = &buf[..have];
            let Some(p) = start
                .map(|s| s - base)
                .or_else(|| guess(t, from.max(first) - base, to - base))
            else {
                return Ok(found);
            };
            found.start = Some(base + p);
            // The window may end inside a character; bytes that are not UTF-8 end the walk
            // for good.
            let (text, can_grow) = match std::str::from_utf8(&t[p..]) {
                Ok(text) => (text, base + have < len),
                Err(e) => {
                    let valid = std::str::from_utf8(&t[p..p + e.valid_up_to()]).unwrap_or("");
                    (valid, e.error_len().is_none() && base + have < len)
                }
            };
            match walk_features(spec, wanted, text, 0, to - base - p, can_grow, &dict) {
                Walked::Stopped {
                    part,
                    landing,
                    closed,
                } => {
                    (found.landing, found.closed) = (base + p + landing, closed);
                    found.part = Some(*part);
                    return Ok(found);
                }
                Walked::Broken => return Ok(found),
                // A feature longer than the look-ahead: read further and walk again.
                Walked::NeedMore => ahead *= 4,
            }
        }
    };
    let stretches: Vec<Stretch> = (0..blocks)
        .into_par_iter()
        .map(|k| {
            let start = (k == 0 && first < block).then_some(first);
            buffers.with(|buf| walk(buf, k, start))
        })
        .collect::<std::io::Result<_>>()?;

    // In file order: a block's chain stands when the one before landed on its start.
    let mut expect = first;
    let mut close = empty.then_some(first);
    let mut parts = Vec::with_capacity(blocks);
    let mut digests = Vec::with_capacity(len.div_ceil(DIGEST_BLOCK));
    let mut n = 0;
    let mut failed = false;
    for (k, s) in stretches.into_iter().enumerate() {
        digests.extend_from_slice(&s.digests);
        // After the array closed, inside a feature that began in an earlier block, or after
        // the first bad feature (nothing after it is looked at), a block adds no feature.
        if failed || close.is_some() || expect >= ((k + 1) * block).min(len) {
            continue;
        }
        let s = if s.part.is_some() && s.start == Some(expect) {
            s
        } else {
            buffers.with(|buf| walk(buf, k, Some(expect)))?
        };
        let Some(mut part) = s.part else {
            return Ok(None);
        };
        part.first = n;
        n += part.geoms.len();
        failed = part.error.is_some();
        parts.push(part);
        expect = s.landing;
        close = s.closed.then_some(s.landing);
    }
    if !failed {
        // The collection around the array, with the array emptied, must be well formed.
        let Some(close) = close else {
            return Ok(None);
        };
        if len - close > FRAME_MAX {
            return Ok(None);
        }
        let mut frame = head[..=open].to_vec();
        frame.push(b'\n');
        let at = frame.len();
        frame.resize(at + len - close, 0);
        file.read_exact_at(&mut frame[at..], close as u64)?;
        match String::from_utf8(frame)
            .ok()
            .and_then(|f| split_collection(&f))
        {
            Some(spans) if spans.is_empty() => {}
            _ => return Ok(None),
        }
    }
    Ok(Some(Features {
        n,
        parts,
        dict,
        digest: digest_blocks(digests.into_iter(), len),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::spec::COLLECTIONS;
    use crate::layer::store::Store;
    use serde_json::{json, Value};

    fn incidents() -> &'static CollectionSpec {
        COLLECTIONS.iter().find(|s| s.id == "incidents").unwrap()
    }

    fn wanted(spec: &CollectionSpec) -> Vec<&str> {
        let mut w: Vec<&str> = spec.required.to_vec();
        w.extend(spec.time_property);
        w.extend(spec.queryables.iter().map(|q| q.property));
        w
    }

    /// Synthetic features whose text holds what could mislead a guess: `}, {` and whole
    /// features inside strings, features nested in a property, escapes, and one feature
    /// longer than the smallest blocks.
    fn features(n: usize) -> Vec<Value> {
        (0..n)
            .map(|i| {
                let mut props = json!({
                    "event_date": format!("2024-{:02}-{:02}", 1 + i % 12, 1 + i % 28),
                    "event_type": "synthetic",
                    "commune": if i % 3 == 0 { "Léogâne" } else { "Pétion-Ville" },
                    "actors": ["Synthetic group", format!("Actor {}", i % 7)],
                    "synthetic": true,
                });
                match i % 5 {
                    0 => props["notes"] = json!("a }, {\"type\": \"Feature\", \"id\": \"x\"} b"),
                    1 => {
                        props["related"] = json!([
                            {"type": "Feature", "id": format!("nested-{i}"), "geometry": null, "properties": {}},
                            {"type": "Feature", "id": format!("nested2-{i}"), "geometry": null, "properties": {}}
                        ])
                    }
                    2 => props["quote"] = json!("\"}\\\\, {\u{1F600}"),
                    _ => {}
                }
                if i == n / 2 {
                    props["long"] = json!("x".repeat(10_000));
                }
                json!({
                    "type": "Feature",
                    "id": format!("SYN-{i}"),
                    "geometry": {"type": "Point", "coordinates": [-72.3 + i as f64 * 1e-4, 18.5]},
                    "properties": props,
                })
            })
            .collect()
    }

    fn layouts(features: &[Value]) -> Vec<(&'static str, String)> {
        let doc = json!({"type": "FeatureCollection", "name": "synthetic", "features": features});
        let lines: Vec<String> = features.iter().map(|f| f.to_string()).collect();
        vec![
            ("compact", doc.to_string()),
            ("pretty", serde_json::to_string_pretty(&doc).unwrap()),
            (
                "escaped",
                doc.to_string()
                    .replace('é', "\\u00e9")
                    .replace('\u{1F600}', "\\ud83d\\ude00"),
            ),
            (
                "lines",
                format!(
                    "{{\"type\":\"FeatureCollection\",\"features\":[\n{}\n]}}\n",
                    lines.join(",\n")
                ),
            ),
            (
                "leading-commas",
                format!(
                    "{{\"features\":[{}\r\n],\"type\":\"FeatureCollection\",\"bbox\":[-74.5,18.0,-71.6,20.1]}}",
                    lines.join("\r\n,  ")
                ),
            ),
        ]
    }

    fn write(name: &str, text: &str) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!(
            "kat-structure-{name}-{}.geojson",
            std::process::id()
        ));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn every_layout_and_block_size_yields_the_features_serde_json_reads() {
        let spec = incidents();
        let wanted = wanted(spec);
        let want = features(300);
        for (name, text) in layouts(&want) {
            let path = write(name, &text);
            for block in [700, 4096, 1 << 20] {
                let got = stream_structure(&path, spec, &wanted, block)
                    .unwrap()
                    .unwrap_or_else(|| panic!("{name}, blocks of {block}: not streamed"));
                assert_eq!(got.n, want.len(), "{name}, blocks of {block}");
                assert!(got.parts.iter().all(|p| p.error.is_none()));
                let store = Store::build(
                    got.parts
                        .into_iter()
                        .map(|p| (p.segment, p.stored))
                        .collect(),
                    got.dict,
                );
                for (i, f) in want.iter().enumerate() {
                    let mut out = Vec::new();
                    store.write(i as u32, &mut out, None, None);
                    let served: Value = serde_json::from_slice(&out).unwrap();
                    assert_eq!(&served, f, "{name}, blocks of {block}, feature {i}");
                }
            }
            let _ = std::fs::remove_file(&path);
        }
    }

    #[test]
    fn an_empty_array_is_an_empty_layer() {
        let path = write(
            "empty",
            "{\"type\": \"FeatureCollection\", \"features\": [ ]}",
        );
        let got = stream_structure(&path, incidents(), &[], 4096)
            .unwrap()
            .unwrap();
        assert_eq!(got.n, 0);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn anything_but_features_and_single_commas_is_left_to_the_whole_read() {
        let spec = incidents();
        let wanted = wanted(spec);
        let lines: Vec<String> = features(60).iter().map(|f| f.to_string()).collect();
        let wrap =
            |body: String| format!("{{\"type\":\"FeatureCollection\",\"features\":[{body}]}}");
        let bad = [
            ("missing-comma", wrap(lines.join(" "))),
            ("trailing-comma", wrap(format!("{},", lines.join(",")))),
            ("doubled-comma", wrap(lines.join(",,"))),
            ("a-number", wrap(format!("{},5", lines.join(",")))),
            (
                "unclosed",
                wrap(lines.join(",")).trim_end_matches("]}").to_string(),
            ),
            ("not-a-collection", format!("{}x", wrap(lines.join(",")))),
        ];
        for (name, text) in bad {
            let path = write(name, &text);
            for block in [700, 1 << 20] {
                assert!(
                    stream_structure(&path, spec, &wanted, block)
                        .unwrap()
                        .is_none(),
                    "{name}, blocks of {block}"
                );
            }
            let _ = std::fs::remove_file(&path);
        }
    }

    #[test]
    fn the_first_bad_feature_is_the_one_reported() {
        let spec = incidents();
        let wanted = wanted(spec);
        let mut fs = features(200);
        fs[150]["properties"]["event_date"] = json!("2024-13-45");
        fs[170]["properties"]["event_type"] = Value::Null;
        let doc = json!({"type": "FeatureCollection", "features": fs});
        let path = write("bad-feature", &doc.to_string());
        for block in [700, 1 << 20] {
            let got = stream_structure(&path, spec, &wanted, block)
                .unwrap()
                .unwrap();
            let failures: Vec<usize> = got
                .parts
                .iter()
                .filter_map(|p| p.failure().map(|(i, _)| i))
                .collect();
            assert_eq!(failures, vec![150], "blocks of {block}");
        }
        let _ = std::fs::remove_file(&path);
    }
}
