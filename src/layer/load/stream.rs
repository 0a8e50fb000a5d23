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

use super::block::{BlockBuilder, BlockMemos, Buffers, ParsedBlock, Pool};
use super::feature::{parse_feature, read_feature, RawFeature};
use super::whole::{features_open, split_collection};
use super::{ParsedFeatures, FRAME_MAX};
use crate::catalog::config::CollectionSpec;
use crate::layer::digest::{digest_blocks, BlockDigests, DIGEST_BLOCK};
use crate::layer::store::SharedDict;
use crate::layer::{json, onepass};
use rayon::prelude::*;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Bytes before a block read with it, for a guess's look back at the comma and `}` before it.
const LOOK_BACK: usize = 4096;

/// How far past a block's end its look for a first feature may read, for a feature that
/// straddles the end.
const LOOK_AHEAD: usize = 1 << 20;

/// Bytes read at a time: what the kernel copies stays in cache until it is scanned.
const READ_PIECE: usize = 64 << 10;

/// How a walk along the features of a window ended.
enum Walked {
    /// At the first feature starting at or after the block's end, or at the `]` that closes
    /// the array (`closed`); a position in the window. Also when a feature failed (the block
    /// says which).
    Stopped { landing: usize, closed: bool },
    /// The window ends too soon after this position: read on, and go on from there.
    More(Resume),
    /// Something other than features and commas came between.
    Broken,
}

/// Where a walk goes on from: a feature's `{`, or the end of a feature (before the comma
/// or `]` after it).
#[derive(Debug, Clone, Copy)]
enum Resume {
    Feature(usize),
    After(usize),
}

impl Resume {
    fn at(self) -> usize {
        match self {
            Resume::Feature(p) | Resume::After(p) => p,
        }
    }

    /// The same place, once the window starts there.
    fn at_start(self) -> Self {
        match self {
            Resume::Feature(_) => Resume::Feature(0),
            Resume::After(_) => Resume::After(0),
        }
    }
}

/// Reads the chain of features from `from` into `builder`: each feature, a comma, the next,
/// until one starts at or after `to` or the array closes. Each feature is read by the same
/// one-pass scan that finds its end. With `more`, a window that more of the file will
/// follow: a feature starting within `low` bytes of its end is left for the next.
#[allow(clippy::too_many_arguments)]
fn walk_features(
    spec: &CollectionSpec,
    wanted: &[&str],
    text: &str,
    from: Resume,
    to: usize,
    more: bool,
    low: usize,
    builder: &mut BlockBuilder,
) -> Walked {
    let t = text.as_bytes();
    let short = |at: Resume| {
        if more {
            Walked::More(at)
        } else {
            Walked::Broken
        }
    };
    let mut at = from;
    loop {
        let end = match at {
            Resume::After(end) => end,
            Resume::Feature(p) => {
                if more && t.len() - p < low {
                    return Walked::More(at);
                }
                let (raw, parsed) =
                    match onepass::object_members(&text[p..], wanted, &mut builder.members) {
                        Some((top, end)) => {
                            let raw = &text[p..p + end];
                            (
                                raw,
                                read_feature(spec, wanted, raw, Some(top), &mut builder.dates),
                            )
                        }
                        // serde_json reads what the scan leaves, once its end is known.
                        None => match json::nested_end(t, p) {
                            Some(end) => {
                                let raw = &text[p..end];
                                let parsed = parse_feature(
                                    spec,
                                    wanted,
                                    raw,
                                    &mut builder.members,
                                    &mut builder.dates,
                                );
                                (raw, parsed)
                            }
                            None => return short(at),
                        },
                    };
                let end = p + raw.len();
                if builder.block.points.is_empty() {
                    // Room for the block's features, going by the first one's length.
                    builder.reserve(to.saturating_sub(p) / raw.len().max(1) * 9 / 8 + 16);
                }
                if !builder.add(raw, parsed) {
                    return Walked::Stopped {
                        landing: end,
                        closed: false,
                    };
                }
                end
            }
        };
        let q = json::skip_whitespace(t, end);
        match t.get(q) {
            None => return short(Resume::After(end)),
            Some(b']') => {
                return Walked::Stopped {
                    landing: q,
                    closed: true,
                }
            }
            Some(b',') => {
                let r = json::skip_whitespace(t, q + 1);
                match t.get(r) {
                    None => return short(Resume::After(end)),
                    Some(b'{') => {}
                    Some(_) => return Walked::Broken,
                }
                if r >= to {
                    return Walked::Stopped {
                        landing: r,
                        closed: false,
                    };
                }
                at = Resume::Feature(r);
            }
            Some(_) => return Walked::Broken,
        }
    }
}

/// A stretch of the file read a piece at a time as a walk advances. Each piece is digested
/// and scanned just after the kernel copied it, while it is still in cache; a whole block
/// read at once had the copy, the digest and the scan each fetch it from memory again.
struct Window<'a> {
    file: &'a std::fs::File,
    /// The file's length.
    len: usize,
    buf: &'a mut Vec<u8>,
    /// The file position of `buf[0]`, and the bytes held.
    base: usize,
    have: usize,
    digests: Option<BlockDigests>,
}

impl Window<'_> {
    /// The file position just after the bytes held.
    fn end(&self) -> usize {
        self.base + self.have
    }

    fn at_eof(&self) -> bool {
        self.end() >= self.len
    }

    fn bytes(&self) -> &[u8] {
        &self.buf[..self.have]
    }

    /// Drops the bytes before `keep` (a position in the window), then reads up to `n` more.
    fn advance(&mut self, keep: usize, n: usize) -> std::io::Result<()> {
        self.buf.copy_within(keep..self.have, 0);
        self.base += keep;
        self.have -= keep;
        let n = n.min(self.len - self.end());
        if self.buf.len() < self.have + n {
            self.buf.resize(self.have + n, 0);
        }
        let (at, pos) = (self.have, self.end());
        self.file
            .read_exact_at(&mut self.buf[at..at + n], pos as u64)?;
        if let Some(d) = self.digests.as_mut() {
            d.feed(pos, &self.buf[at..at + n]);
        }
        self.have += n;
        Ok(())
    }

    /// The digests of the block, reading what the walk did not.
    fn digests(mut self, piece: usize) -> std::io::Result<Vec<u64>> {
        while self.digests.as_ref().is_some_and(BlockDigests::wants_more) && !self.at_eof() {
            let have = self.have;
            self.advance(have, piece)?;
        }
        Ok(self.digests.map(BlockDigests::blocks).unwrap_or_default())
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
    parsed: Option<ParsedBlock>,
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

/// What a look for a block's first feature found.
#[derive(Debug, PartialEq)]
enum Guess {
    /// A `{` that follows `}` and a comma and holds a feature.
    At(usize),
    /// A `{` that follows `}` and a comma, whose object runs past what was read.
    Cut(usize),
    /// Neither.
    Nothing,
}

/// The first `{` in `t[from..to]` that follows `}` and a comma and holds a feature; with
/// `cut`, a candidate whose object `t` does not hold whole is told, not skipped.
fn guess(t: &[u8], from: usize, to: usize, cut: bool) -> Guess {
    let mut c = from;
    while let Some(k) = memchr::memchr(b'{', &t[c..to]) {
        c += k;
        let mut b = c;
        while b > 0 && json::is_whitespace(t[b - 1]) {
            b -= 1;
        }
        let comma = b > 0 && t[b - 1] == b',';
        if comma {
            b -= 1;
            while b > 0 && json::is_whitespace(t[b - 1]) {
                b -= 1;
            }
        }
        if comma && b > 0 && t[b - 1] == b'}' {
            match json::nested_end(t, c) {
                Some(end) if is_feature(&t[c..end]) => return Guess::At(c),
                None if cut => return Guess::Cut(c),
                _ => {}
            }
        }
        c += 1;
    }
    Guess::Nothing
}

/// Loads a FeatureCollection from a file in any layout without holding its text, reading
/// blocks of `block` bytes (a multiple of the digest's block) in parallel. None when the
/// file is not plain enough for that (no `features` array near its start, a stray value in
/// the array, a collection member too large after it...): the caller reads it whole, which
/// decides what is wrong.
pub(super) fn stream_file(
    path: &Path,
    spec: &CollectionSpec,
    wanted: &[&str],
    block: usize,
) -> std::io::Result<Option<ParsedFeatures>> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len() as usize;
    let mut head = vec![0u8; len.min(FRAME_MAX)];
    file.read_exact_at(&mut head, 0)?;
    let Some(open) = features_open(&head) else {
        return Ok(None);
    };
    let first = json::skip_whitespace(&head, open + 1);
    if first >= head.len() {
        return Ok(None);
    }
    let empty = head[first] == b']';
    if !empty && head[first] != b'{' {
        return Ok(None);
    }

    let blocks = len.div_ceil(block);
    let buffers = Buffers::default();
    let pool = Pool::<BlockMemos>::default();
    let dict = SharedDict::default();
    // The block's chain from `start`, or from its guess.
    let piece = block.min(READ_PIECE);
    // The block's chain from `start`, or from its guess; its digests on the first walk.
    let walk = |buf: &mut Vec<u8>,
                memos: &mut BlockMemos,
                k: usize,
                start: Option<usize>,
                digest: bool|
     -> std::io::Result<Stretch> {
        let from = k * block;
        let to = (from + block).min(len);
        let base = match (start, digest) {
            (Some(s), false) => s,
            _ => from.saturating_sub(LOOK_BACK),
        };
        let mut w = Window {
            file: &file,
            len,
            buf,
            base,
            have: 0,
            digests: digest.then(|| BlockDigests::new(from, to)),
        };
        // The look back before the block, and a piece of it.
        w.advance(0, from.saturating_sub(base) + piece)?;
        let mut found = Stretch {
            digests: Vec::new(),
            start: None,
            landing: to,
            closed: false,
            parsed: None,
        };
        if empty {
            found.digests = w.digests(piece)?;
            return Ok(found);
        }
        // Where the chain starts, in the window.
        let mut p = match start {
            Some(s) => {
                while s >= w.end() && !w.at_eof() {
                    let have = w.have;
                    w.advance(have, piece)?;
                }
                s - w.base
            }
            None => {
                let mut c = from.max(first) - w.base;
                loop {
                    let scanned = (to - w.base).min(w.have);
                    let can_grow = !w.at_eof() && w.end() < to + LOOK_AHEAD;
                    match guess(w.bytes(), c, scanned, can_grow) {
                        Guess::At(g) => break g,
                        Guess::Cut(g) => {
                            // Read on, keeping what the guess looks back at.
                            let keep = g.saturating_sub(LOOK_BACK);
                            let more = piece.max(w.have - keep);
                            w.advance(keep, more)?;
                            c = g - keep;
                        }
                        Guess::Nothing if w.end() < to && !w.at_eof() => {
                            let keep = scanned.saturating_sub(LOOK_BACK);
                            w.advance(keep, piece)?;
                            c = scanned - keep;
                        }
                        Guess::Nothing => {
                            found.digests = w.digests(piece)?;
                            return Ok(found);
                        }
                    }
                }
            }
        };
        found.start = Some(w.base + p);
        let mut builder = BlockBuilder::with_memos(spec, &dict, 0, std::mem::take(memos));
        let mut at = Resume::Feature(0);
        loop {
            // The window may end inside a character; bytes that are not UTF-8 end the walk
            // for good.
            let t = &w.bytes()[p..];
            let (text, more) = match std::str::from_utf8(t) {
                Ok(text) => (text, !w.at_eof()),
                Err(e) => {
                    let valid = std::str::from_utf8(&t[..e.valid_up_to()]).unwrap_or("");
                    (valid, e.error_len().is_none() && !w.at_eof())
                }
            };
            let to_here = to.saturating_sub(w.base + p);
            match walk_features(
                spec,
                wanted,
                text,
                at,
                to_here,
                more,
                piece / 4,
                &mut builder,
            ) {
                Walked::Stopped { landing, closed } => {
                    (found.landing, found.closed) = (w.base + p + landing, closed);
                    let (done, learnt) = builder.finish_keeping_memos();
                    found.parsed = Some(done);
                    *memos = learnt;
                    break;
                }
                Walked::Broken => break,
                Walked::More(from) => {
                    // Doubling what is held, for a feature longer than a piece.
                    let keep = p + from.at();
                    let more = piece.max(w.have - keep);
                    w.advance(keep, more)?;
                    at = from.at_start();
                    p = 0;
                }
            }
        }
        found.digests = w.digests(piece)?;
        Ok(found)
    };
    let stretches: Vec<Stretch> = (0..blocks)
        .into_par_iter()
        .map(|k| {
            let start = (k == 0 && first < block).then_some(first);
            buffers.with(|buf| pool.with(|memos| walk(buf, memos, k, start, true)))
        })
        .collect::<std::io::Result<_>>()?;

    // In file order: a block's chain stands when the one before landed on its start.
    let mut expect = first;
    let mut close = empty.then_some(first);
    let mut parsed_blocks = Vec::with_capacity(blocks);
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
        let s = if s.parsed.is_some() && s.start == Some(expect) {
            s
        } else {
            buffers.with(|buf| pool.with(|memos| walk(buf, memos, k, Some(expect), false)))?
        };
        let Some(mut parsed) = s.parsed else {
            return Ok(None);
        };
        parsed.first = n;
        n += parsed.points.len();
        failed = parsed.error.is_some();
        parsed_blocks.push(parsed);
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
    Ok(Some(ParsedFeatures {
        n,
        blocks: parsed_blocks,
        dict,
        digest: digest_blocks(digests.into_iter(), len),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::config::Config;
    use crate::layer::store::Store;
    use serde_json::{json, Value};

    fn incidents() -> std::sync::Arc<CollectionSpec> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/kat.toml");
        let config = Config::load(&path).unwrap();
        std::sync::Arc::clone(config.collection("incidents").unwrap())
    }

    fn wanted(spec: &CollectionSpec) -> Vec<&str> {
        crate::layer::load::wanted_properties(spec)
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
        let spec = &*incidents();
        let wanted = wanted(spec);
        let want = features(300);
        for (name, text) in layouts(&want) {
            let path = write(name, &text);
            for block in [700, 4096, 1 << 20] {
                let got = stream_file(&path, spec, &wanted, block)
                    .unwrap()
                    .unwrap_or_else(|| panic!("{name}, blocks of {block}: not streamed"));
                assert_eq!(got.n, want.len(), "{name}, blocks of {block}");
                assert!(got.blocks.iter().all(|p| p.error.is_none()));
                let store = Store::build(
                    got.blocks
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
        let got = stream_file(&path, &incidents(), &[], 4096)
            .unwrap()
            .unwrap();
        assert_eq!(got.n, 0);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn anything_but_features_and_single_commas_is_left_to_the_whole_read() {
        let spec = &*incidents();
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
                    stream_file(&path, spec, &wanted, block).unwrap().is_none(),
                    "{name}, blocks of {block}"
                );
            }
            let _ = std::fs::remove_file(&path);
        }
    }

    #[test]
    fn the_first_bad_feature_is_the_one_reported() {
        let spec = &*incidents();
        let wanted = wanted(spec);
        let mut fs = features(200);
        fs[150]["properties"]["event_date"] = json!("2024-13-45");
        fs[170]["properties"]["event_type"] = Value::Null;
        let doc = json!({"type": "FeatureCollection", "features": fs});
        let path = write("bad-feature", &doc.to_string());
        for block in [700, 1 << 20] {
            let got = stream_file(&path, spec, &wanted, block).unwrap().unwrap();
            let failures: Vec<usize> = got
                .blocks
                .iter()
                .filter_map(|p| p.failure().map(|(i, _)| i))
                .collect();
            assert_eq!(failures, vec![150], "blocks of {block}");
        }
        let _ = std::fs::remove_file(&path);
    }
}
