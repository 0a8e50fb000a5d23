//! Reading a file whole, for the files that cannot be streamed (and text held in memory):
//! its text read on every core, the collection's members scanned for the features' spans,
//! and serde_json to word what is wrong when the scan cannot follow.

use super::block::{parse_block, ParsedBlock};
use super::ParsedFeatures;
use crate::catalog::config::CollectionSpec;
use crate::layer::digest::digest_bytes;
use crate::layer::json::{self, AfterMember};
use crate::layer::store::SharedDict;
use crate::layer::LoadError;
use rayon::prelude::*;
use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::path::Path;

#[derive(Deserialize)]
pub(super) struct Collection<'a> {
    #[serde(rename = "type")]
    kind: Cow<'a, str>,
    #[serde(borrow)]
    features: Vec<&'a RawValue>,
}

/// Reads the file into a String on every core: blocks read at their offsets in parallel,
/// then checked as UTF-8 in parallel.
pub(super) fn read_text(path: &Path) -> std::io::Result<String> {
    use std::os::unix::fs::FileExt;
    const BLOCK: usize = 8 << 20;
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len() as usize;
    if len < 2 * BLOCK {
        return std::fs::read_to_string(path);
    }
    let mut buf = vec![0u8; len];
    // Huge pages: a few hundred page faults instead of a few hundred thousand.
    // SAFETY: advice on memory this Vec owns; it changes no contents.
    unsafe {
        libc::madvise(buf.as_mut_ptr().cast(), len, libc::MADV_HUGEPAGE);
    }
    buf.par_chunks_mut(BLOCK)
        .enumerate()
        .try_for_each(|(k, chunk)| file.read_exact_at(chunk, (k * BLOCK) as u64))?;
    // The file may have grown since: read the rest as well.
    let mut more = Vec::new();
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = &file;
        f.seek(SeekFrom::Start(len as u64))?;
        f.read_to_end(&mut more)?;
    }
    buf.extend_from_slice(&more);
    // UTF-8 by blocks that start on a character boundary.
    let mut cuts = vec![0];
    let mut at = BLOCK;
    while at < buf.len() {
        while at < buf.len() && (buf[at] & 0xC0) == 0x80 {
            at += 1;
        }
        cuts.push(at);
        at += BLOCK;
    }
    cuts.push(buf.len());
    cuts.dedup();
    let ok = cuts
        .par_windows(2)
        .all(|w| std::str::from_utf8(&buf[w[0]..w[1]]).is_ok());
    if !ok {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidData));
    }
    // SAFETY: every block, each starting on a character boundary, was checked as UTF-8.
    Ok(unsafe { String::from_utf8_unchecked(buf) })
}

/// What one chunk of the features array holds: the features that start in it (the last may
/// end past it), and where the scan stopped (the first token at or after the chunk's end, or
/// the array's closing bracket).
pub(super) struct ChunkScan {
    first: usize,
    spans: Vec<(usize, usize)>,
    stop: usize,
    closed: bool,
}

/// Scans from `from` (between two elements of the features array) to `end`.
pub(super) fn scan_chunk(t: &[u8], from: usize, end: usize) -> Option<ChunkScan> {
    let skip_gap = |i: usize| json::skip_separators(t, i);
    let mut i = skip_gap(from);
    let first = i;
    let mut spans = Vec::with_capacity((end.saturating_sub(from)) / 256 + 1);
    loop {
        if i >= end || i >= t.len() {
            return Some(ChunkScan {
                first,
                spans,
                stop: i,
                closed: false,
            });
        }
        match t[i] {
            b']' => {
                return Some(ChunkScan {
                    first,
                    spans,
                    stop: i,
                    closed: true,
                })
            }
            b'{' => {
                let e = json::nested_end(t, i)?;
                spans.push((i, e));
                i = skip_gap(e);
            }
            _ => return None,
        }
    }
}

/// Splits the features array that opens at `open` (its `[`) into the features' spans, and
/// returns them with the position of the closing `]`; None when the scan cannot (the caller
/// then parses with serde_json).
pub(super) fn split_array(text: &str, open: usize) -> Option<(Vec<(usize, usize)>, usize)> {
    let t = text.as_bytes();
    const CHUNK: usize = 4 << 20;
    let mut bounds = vec![open + 1];
    let mut at = open + 1 + CHUNK;
    while at < t.len() {
        match memchr::memchr(b'\n', &t[at..]) {
            Some(k) => {
                bounds.push(at + k + 1);
                at += k + 1 + CHUNK;
            }
            None => break,
        }
    }
    bounds.push(t.len());
    bounds.dedup();
    let scans: Vec<Option<ChunkScan>> = bounds
        .par_windows(2)
        .map(|w| scan_chunk(t, w[0], w[1]))
        .collect();
    // Join the chunks in order, each agreeing with where the one before it stopped; a chunk
    // that guessed wrong (it began inside a feature) is scanned again from there.
    let mut spans = Vec::with_capacity(scans.iter().flatten().map(|s| s.spans.len()).sum());
    let mut pos = open + 1;
    for (w, s) in bounds.windows(2).zip(scans) {
        let end = w[1];
        if pos >= end {
            continue;
        }
        let s = match s {
            Some(s) if s.first == pos => s,
            _ => scan_chunk(t, pos, end)?,
        };
        spans.extend(s.spans);
        pos = s.stop;
        if s.closed {
            return Some((spans, pos));
        }
    }
    None
}

/// The top-level object of a FeatureCollection, scanned without building it: the spans of its
/// features, when the file is plain enough for that (otherwise None, and serde_json decides).
pub(super) fn split_collection(text: &str) -> Option<Vec<(usize, usize)>> {
    let t = text.as_bytes();
    let mut at = json::object_start(t, 0)?;
    let (mut kind_ok, mut features) = (false, None);
    let mut seen = Vec::new();
    let end = loop {
        let (name, i) = json::member_name(t, at)?;
        let key = std::str::from_utf8(name).ok()?;
        if key.contains('\\') || seen.contains(&key) {
            return None;
        }
        seen.push(key);
        let v_end = match key {
            "features" => {
                if t.get(i) != Some(&b'[') {
                    return None;
                }
                let (spans, close) = split_array(text, i)?;
                // The gaps between features: a comma and whitespace, nothing else.
                let gaps_ok = {
                    let mut from = i + 1;
                    let mut ok = true;
                    for (n, (s, e)) in spans.iter().enumerate() {
                        let gap = &t[from..*s];
                        let commas = gap.iter().filter(|b| **b == b',').count();
                        ok &= commas == usize::from(n > 0)
                            && gap.iter().all(|b| json::is_whitespace(*b) || *b == b',');
                        from = *e;
                    }
                    ok && t[from..close].iter().all(|b| json::is_whitespace(*b))
                };
                if !gaps_ok {
                    return None;
                }
                features = Some(spans);
                close + 1
            }
            _ => {
                let e = json::value_end(t, i)?;
                serde_json::from_str::<IgnoredAny>(&text[i..e]).ok()?;
                if key == "type" {
                    kind_ok = &text[i..e] == "\"FeatureCollection\"";
                }
                e
            }
        };
        match json::after_member(t, v_end)? {
            AfterMember::Next(next) => at = next,
            AfterMember::Close(after) => break after,
        }
    };
    if json::skip_whitespace(t, end) != t.len() || !kind_ok {
        return None;
    }
    features
}

/// The position of the `[` that opens the features array, scanning the collection's members
/// before it (checked properly later, with the rest of the frame).
pub(super) fn features_open(t: &[u8]) -> Option<usize> {
    let mut at = json::object_start(t, 0)?;
    loop {
        let (name, value) = json::member_name(t, at)?;
        if name == b"features" {
            return (t.get(value) == Some(&b'[')).then_some(value);
        }
        match json::after_member(t, json::value_end(t, value)?)? {
            AfterMember::Next(next) => at = next,
            AfterMember::Close(_) => return None,
        }
    }
}

/// Loads `spec.file` below `dir`.
/// Reads the file whole and splits it into features: by lines if it holds one feature per
/// line, by structure otherwise, and with serde_json when neither scan understands it (which
/// then words the error).
pub(super) fn read_whole(
    path: &Path,
    file: &str,
    spec: &CollectionSpec,
    wanted: &[&str],
) -> Result<ParsedFeatures, LoadError> {
    let text = read_text(path).map_err(|e| LoadError::Read {
        file: file.to_string(),
        problem: e.kind().to_string(),
    })?;
    parse_whole(&text, file, spec, wanted)
}

/// Parses the whole text of a FeatureCollection; `file` names it in messages.
pub(super) fn parse_whole(
    text: &str,
    file: &str,
    spec: &CollectionSpec,
    wanted: &[&str],
) -> Result<ParsedFeatures, LoadError> {
    let digest = digest_bytes(text.as_bytes());
    let threads = rayon::current_num_threads().max(1);
    let dict = SharedDict::default();
    let parse_all = |spans: &[(usize, usize)]| -> Vec<ParsedBlock> {
        let per_part = (spans.len() / (threads * 8)).clamp(1, 16_384);
        spans
            .par_chunks(per_part)
            .enumerate()
            .map(|(k, s)| {
                let features = s.iter().map(|&(from, to)| &text[from..to]);
                parse_block(spec, wanted, features, k * per_part, &dict)
            })
            .collect()
    };
    let spans: Vec<(usize, usize)> = match split_collection(text) {
        Some(spans) => spans,
        None => {
            let base = text.as_ptr() as usize;
            let collection: Collection =
                serde_json::from_str(text).map_err(|e| LoadError::NotCollection {
                    file: file.to_string(),
                    problem: e.to_string(),
                })?;
            if collection.kind != "FeatureCollection" {
                return Err(LoadError::NotCollection {
                    file: file.to_string(),
                    problem: format!("\"type\" is \"{}\"", collection.kind),
                });
            }
            collection
                .features
                .iter()
                .map(|r| {
                    let at = r.get().as_ptr() as usize - base;
                    (at, at + r.get().len())
                })
                .collect()
        }
    };
    let (n, blocks) = (spans.len(), parse_all(&spans));
    Ok(ParsedFeatures {
        n,
        blocks,
        dict,
        digest,
    })
}

/// Parses features held one text each (a table's rows), as [`parse_whole`] parses the
/// features of one collection's text, without joining them into that text first. The
/// digest is the one that text would have, so that a layer's version does not depend on
/// how its features were held.
pub(super) fn parse_features(
    features: &[&str],
    spec: &CollectionSpec,
    wanted: &[&str],
) -> ParsedFeatures {
    const HEAD: &str = "{\"type\":\"FeatureCollection\",\"features\":[";
    const TAIL: &str = "]}";
    let len = HEAD.len()
        + TAIL.len()
        + features.iter().map(|f| f.len()).sum::<usize>()
        + features.len().saturating_sub(1);
    let mut d = crate::layer::digest::BlockDigests::new(0, len);
    d.feed(0, HEAD.as_bytes());
    for (k, f) in features.iter().enumerate() {
        if k > 0 {
            d.feed(d.at(), b",");
        }
        d.feed(d.at(), f.as_bytes());
    }
    d.feed(d.at(), TAIL.as_bytes());
    let digest = d.finish(len);
    let threads = rayon::current_num_threads().max(1);
    let dict = SharedDict::default();
    let per_part = (features.len() / (threads * 8)).clamp(1, 16_384);
    let blocks = features
        .par_chunks(per_part)
        .enumerate()
        .map(|(k, s)| {
            let features = s.iter().map(|f| super::block::trim_whitespace(f));
            parse_block(spec, wanted, features, k * per_part, &dict)
        })
        .collect();
    ParsedFeatures {
        n: features.len(),
        blocks,
        dict,
        digest,
    }
}
