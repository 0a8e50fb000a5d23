//! Features' JSON, kept compact and ready to copy into answers.
//!
//! A layer's features repeat most of their properties: the same department, the same event
//! type, the same date for hundreds of incidents. Keeping each feature's text as the file
//! held it costs the file's size in memory; here each top-level member of `properties`
//! (`"department":"Ouest"`) is kept once per layer, in a dictionary that the threads storing
//! its blocks share ([`SharedDict`]), and a feature refers to it by number. What is unique to
//! a feature (its geometry, its id) stays inline. Answers are written by copying pieces, never
//! by re-encoding JSON.
//!
//! A feature is stored as
//! `id | m | piece * m | n | member * n | k | piece * k`: its id, then the pieces of its text
//! up to and including the `{` of its properties (the prefix), their members, and the pieces
//! of the text from their closing `}` on (the suffix). Each piece or member is a varint `2k`
//! for entry `k` of the layer's dictionary, or `2len+1` followed by `len` bytes inline. The
//! prefix and suffix are cut around what is the feature's own (its id, its coordinates), so
//! that the text between (`{"type":"Feature","geometry":{"type":"Point","coordinates":[`)
//! is kept once for the layer too.
//!
//! ```
//! use kat::layer::store::{SegmentBuilder, SharedDict, Store};
//! let text = r#"{"id":"a","properties":{"x":1,"y":"z"},"type":"Feature"}"#;
//! let dict = SharedDict::default();
//! let mut b = SegmentBuilder::new(&dict);
//! let (at, len) = b.push("a", &text[..24], [&text[24..29], &text[30..37]], &text[37..]);
//! let store = Store::build(vec![(b.finish(), vec![(at, len)])], dict);
//! let mut out = Vec::new();
//! store.write(0, &mut out, Some(12.34), None);
//! assert_eq!(
//!     String::from_utf8(out).unwrap(),
//!     r#"{"id":"a","properties":{"distance_m":12.3,"x":1,"y":"z"},"type":"Feature"}"#
//! );
//! assert_eq!(len as usize, text.len());
//! assert_eq!(store.id(0), "a");
//! ```

mod dict;
mod segment;

pub(super) use dict::bytes_equal;
pub use dict::{SharedDict, TextMemo};
pub use segment::{FramePiece, Segment, SegmentBuilder};

use dict::Dict;
use rayon::prelude::*;
use segment::varint;
use std::io::Write;

/// A segment's bytes read with the layer's dictionary.
#[derive(Clone, Copy)]
struct View<'s> {
    bytes: &'s [u8],
    dict: &'s Dict,
}

/// Bytes readable past the end of a segment's pieces.
const PAD: usize = 64;

/// `len` bytes at `start` of `base`, one of a segment's (padded) vectors.
struct TextSpan<'s> {
    base: &'s [u8],
    start: usize,
    len: usize,
}

/// Appends a piece. Most are a few dozen bytes, where a call to memcpy costs more than the
/// copy: those are copied as a fixed 32 or 64 bytes (over-reading into the segment's padding,
/// over-writing spare capacity that the length then leaves out).
#[inline(always)]
fn append(out: &mut Vec<u8>, p: TextSpan) {
    let TextSpan { base, start, len } = p;
    let old = out.len();
    if out.capacity() - old < PAD + len {
        out.reserve(PAD + len);
    }
    let fixed = |n: usize| len <= n && start + n <= base.len();
    if fixed(32) {
        // SAFETY: `base[start..start + 32]` is in bounds (checked above), the spare capacity
        // holds at least PAD >= 32 bytes (reserved above), and the two do not overlap (`out`
        // is not one of a segment's vectors). The length grows only by the `len` bytes
        // copied from the piece itself, all initialized.
        unsafe {
            std::ptr::copy_nonoverlapping(base.as_ptr().add(start), out.as_mut_ptr().add(old), 32);
            out.set_len(old + len);
        }
    } else if fixed(64) {
        // SAFETY: as above, with 64 = PAD bytes.
        unsafe {
            std::ptr::copy_nonoverlapping(base.as_ptr().add(start), out.as_mut_ptr().add(old), 64);
            out.set_len(old + len);
        }
    } else {
        out.extend_from_slice(&base[start..start + len]);
    }
}

impl<'s> View<'s> {
    #[inline]
    fn piece(&self, at: &mut usize) -> TextSpan<'s> {
        let v = varint(self.bytes, at);
        if v & 1 == 0 {
            let k = v >> 1;
            let ends = &self.dict.ends;
            let (start, end) = (ends[k] as usize, ends[k + 1] as usize);
            TextSpan {
                base: &self.dict.text,
                start,
                len: end - start,
            }
        } else {
            let start = *at;
            *at += v >> 1;
            TextSpan {
                base: self.bytes,
                start,
                len: v >> 1,
            }
        }
    }

    /// The id of the feature stored at `at`.
    fn id(&self, at: u32) -> &'s str {
        let mut i = at as usize;
        let n = varint(self.bytes, &mut i);
        // Stored from a &str; a slice of it that fails here would be a bug, not input.
        std::str::from_utf8(&self.bytes[i..i + n]).unwrap_or_default()
    }

    /// Writes the feature stored at `at`: with `distance_m` as the first of its properties,
    /// and `links` as its last member, when given.
    fn write(&self, at: u32, out: &mut Vec<u8>, distance_m: Option<f64>, links: Option<&str>) {
        let b = self.bytes;
        let mut i = at as usize;
        let id_len = varint(b, &mut i);
        i += id_len;
        for _ in 0..varint(b, &mut i) {
            append(out, self.piece(&mut i));
        }
        let mut comma = false;
        if let Some(d) = distance_m {
            // Writing to a Vec cannot fail.
            let _ = write!(out, "\"distance_m\":{d:.1}");
            comma = true;
        }
        let n = varint(b, &mut i);
        for _ in 0..n {
            if comma {
                out.push(b',');
            }
            append(out, self.piece(&mut i));
            comma = true;
        }
        for _ in 0..varint(b, &mut i) {
            append(out, self.piece(&mut i));
        }
        if let Some(links) = links {
            // Before the feature's closing brace, the last byte written that is one.
            let close = out.iter().rposition(|c| *c == b'}').unwrap_or(out.len());
            let tail = out.split_off(close);
            out.extend_from_slice(b",\"links\":");
            out.extend_from_slice(links.as_bytes());
            out.extend_from_slice(&tail);
        }
    }
}

/// Where a feature is stored, and the length of its JSON.
#[derive(Debug, Clone, Copy)]
struct FeatureRecord {
    seg: u32,
    at: u32,
    len: u32,
}

/// Every feature of a layer, addressed by position: the segments' bytes, read with one
/// dictionary for the whole layer. A page of features lies scattered over the segments;
/// with one dictionary, the members they share stay in cache from one feature to the next.
///
/// The segments are kept one after another in one block: a block that large is given huge
/// pages (see [`crate::alloc`]), where segments of a megabyte or so each had 4 KiB pages and
/// every feature of a page missed the TLB as well as the cache.
#[derive(Debug, Default)]
pub struct Store {
    bytes: Vec<u8>,
    /// Where each segment starts in `bytes`, then the end of the last.
    starts: Vec<usize>,
    dict: Dict,
    records: Vec<FeatureRecord>,
}

/// A zeroed block for pieces of these lengths one after another, and where each starts (then
/// the end of the last). A large block is mapped zeroed by the kernel (see [`crate::alloc`]):
/// only what is written into it is touched.
pub(super) fn block_for(lens: impl Iterator<Item = usize>) -> (Vec<u8>, Vec<usize>) {
    let mut starts = vec![0];
    let mut total = 0;
    for len in lens {
        total += len;
        starts.push(total);
    }
    (vec![0u8; total], starts)
}

/// `block` cut at `starts` (as [`block_for`] gave them) into the pieces' places, to be filled
/// on every core.
pub(super) fn places<'b>(block: &'b mut [u8], starts: &[usize]) -> Vec<&'b mut [u8]> {
    let mut rest = block;
    let mut places = Vec::with_capacity(starts.len().saturating_sub(1));
    for w in starts.windows(2) {
        let (here, after) = std::mem::take(&mut rest).split_at_mut(w[1] - w[0]);
        places.push(here);
        rest = after;
    }
    places
}

/// The segments' bytes joined in one block, copied on every core, and where each starts.
/// Each segment is freed as soon as it is copied, so that the two copies are never whole
/// at once.
fn join_segments(segments: Vec<Vec<u8>>) -> (Vec<u8>, Vec<usize>) {
    let (mut bytes, starts) = block_for(segments.iter().map(Vec::len));
    places(&mut bytes, &starts)
        .into_par_iter()
        .zip(segments.into_par_iter())
        .for_each(|(to, from)| to.copy_from_slice(&from));
    // The segments were the allocator's (a megabyte or so each, below the threshold of
    // `crate::alloc`); freed, they stay resident in its arenas unless handed back.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's arenas.
    unsafe {
        libc::malloc_trim(0);
    }
    (bytes, starts)
}

impl Store {
    /// Joins segments, each with where its features are (as [`SegmentBuilder::push`] said),
    /// and the dictionary their numbers refer to, into one store.
    pub fn build(parts: Vec<(Segment, Vec<(u32, u32)>)>, dict: SharedDict) -> Store {
        let n = parts.iter().map(|(_, s)| s.len()).sum();
        let (segments, stored): (Vec<Vec<u8>>, Vec<_>) =
            parts.into_iter().map(|(seg, s)| (seg.bytes, s)).unzip();
        let (bytes, starts) = join_segments(segments);
        let mut records = Vec::with_capacity(n);
        for (k, stored) in stored.iter().enumerate() {
            records.extend(stored.iter().map(|(at, len)| FeatureRecord {
                seg: k as u32,
                at: *at,
                len: *len,
            }));
        }
        Store {
            bytes,
            starts,
            dict: dict.finish(),
            records,
        }
    }

    #[inline]
    fn view(&self, r: &FeatureRecord) -> View<'_> {
        View {
            bytes: &self.bytes[self.starts[r.seg as usize]..self.starts[r.seg as usize + 1]],
            dict: &self.dict,
        }
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The id of feature `idx`.
    pub fn id(&self, idx: u32) -> &str {
        let r = &self.records[idx as usize];
        self.view(r).id(r.at)
    }

    /// The length of feature `idx`'s JSON.
    pub fn json_len(&self, idx: u32) -> usize {
        self.records[idx as usize].len as usize
    }

    /// Writes feature `idx` (see [`Segment::write`]).
    #[inline]
    pub fn write(&self, idx: u32, out: &mut Vec<u8>, distance_m: Option<f64>, links: Option<&str>) {
        let r = &self.records[idx as usize];
        self.view(r).write(r.at, out, distance_m, links);
    }

    /// The address of feature `idx`'s record, for prefetching.
    pub fn record_at(&self, idx: u32) -> Option<*const u8> {
        self.records
            .get(idx as usize)
            .map(|r| (r as *const FeatureRecord).cast())
    }

    /// The address of feature `idx`'s bytes, for prefetching.
    pub fn bytes_at(&self, idx: u32) -> Option<*const u8> {
        let r = self.records.get(idx as usize)?;
        let start = self.starts.get(r.seg as usize)?;
        Some(self.bytes.as_ptr().wrapping_add(start + r.at as usize))
    }

    /// Bytes held.
    pub fn size(&self) -> usize {
        self.bytes.len()
            + self.dict.text.len()
            + 4 * self.dict.ends.len()
            + self.records.len() * std::mem::size_of::<FeatureRecord>()
    }
}

/// A [`Store`] taken apart into plain arrays, to be kept on disk by the layer cache and
/// put back together.
pub(super) struct StoreArrays {
    /// The segments one after another, and where each starts (then the end of the last).
    pub bytes: Vec<u8>,
    pub starts: Vec<usize>,
    pub dict_text: Vec<u8>,
    pub dict_ends: Vec<u32>,
    /// Per feature: its segment, its offset there, the length of its JSON.
    pub records: Vec<[u32; 3]>,
}

/// [`StoreArrays`], borrowed from a store (but for the records, which are laid out anew).
pub(super) struct StoreArraysRef<'s> {
    pub segments: Vec<&'s [u8]>,
    pub dict_text: &'s [u8],
    pub dict_ends: &'s [u32],
    pub records: Vec<[u32; 3]>,
}

impl Store {
    /// The segments, the dictionary and each feature's record, as [`Store::from_arrays`] takes
    /// them.
    pub(super) fn arrays(&self) -> StoreArraysRef<'_> {
        StoreArraysRef {
            segments: self
                .starts
                .windows(2)
                .map(|w| &self.bytes[w[0]..w[1]])
                .collect(),
            dict_text: &self.dict.text,
            dict_ends: &self.dict.ends,
            records: self.records.iter().map(|r| [r.seg, r.at, r.len]).collect(),
        }
    }

    /// A store from its parts; None when they do not fit together (a dictionary entry or a
    /// record outside the bytes that hold it).
    pub(super) fn from_arrays(p: StoreArrays) -> Option<Store> {
        let StoreArrays {
            bytes,
            starts,
            dict_text,
            dict_ends,
            records,
        } = p;
        let starts_ok = starts.first() == Some(&0)
            && starts.windows(2).all(|w| w[0] <= w[1])
            && starts.last() == Some(&bytes.len());
        let ends_ok = dict_ends.first() == Some(&0)
            && dict_ends.windows(2).all(|w| w[0] <= w[1])
            && dict_ends
                .last()
                .is_some_and(|e| *e as usize <= dict_text.len());
        let recs_ok = starts_ok
            && records.iter().all(|[seg, at, _]| {
                let seg = *seg as usize;
                seg + 1 < starts.len() && (*at as usize) < starts[seg + 1] - starts[seg]
            });
        (ends_ok && recs_ok).then(|| Store {
            bytes,
            starts,
            dict: Dict {
                text: dict_text,
                ends: dict_ends,
            },
            records: records
                .into_iter()
                .map(|[seg, at, len]| FeatureRecord { seg, at, len })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::segment::FRAME_TRIAL;
    use super::*;

    fn written(store: &Store, i: u32, d: Option<f64>, links: Option<&str>) -> String {
        let mut out = Vec::new();
        store.write(i, &mut out, d, links);
        String::from_utf8(out).unwrap()
    }

    /// A store of one segment and where each feature is in it.
    fn alone(seg: Segment, stored: Vec<(u32, u32)>, dict: SharedDict) -> Store {
        Store::build(vec![(seg, stored)], dict)
    }

    #[test]
    fn features_come_back_as_they_went_in_and_repeated_members_are_kept_once() {
        let dict = SharedDict::default();
        let mut b = SegmentBuilder::new(&dict);
        let mut stored = Vec::new();
        let mut want = Vec::new();
        for k in 0..100 {
            let id = format!("f{k}");
            let prefix = format!(r#"{{"id":"{id}","geometry":null,"properties":{{"#);
            let fat = format!(r#""fatalities":{}"#, k % 3);
            let members = [r#""department":"Ouest""#, fat.as_str()];
            stored.push(b.push(&id, &prefix, members, r#"},"type":"Feature"}"#));
            want.push(format!(
                r#"{prefix}{},{}}},"type":"Feature"}}"#,
                members[0], members[1]
            ));
        }
        let lens: Vec<u32> = stored.iter().map(|(_, len)| *len).collect();
        let store = alone(b.finish(), stored, dict);
        assert_eq!(store.dict.len(), 5, "Ouest, three counts and the suffix");
        for (k, want) in want.iter().enumerate() {
            assert_eq!(written(&store, k as u32, None, None), *want);
            assert_eq!(lens[k] as usize, want.len());
            assert_eq!(store.json_len(k as u32), want.len());
            assert_eq!(store.id(k as u32), format!("f{k}"));
        }
    }

    #[test]
    fn distance_and_links_are_inserted_as_valid_json_even_with_no_properties() {
        let dict = SharedDict::default();
        let mut b = SegmentBuilder::new(&dict);
        let at = b.push("x", r#"{"type":"Feature","properties":{"#, [], "}}");
        let store = alone(b.finish(), vec![at], dict);
        assert_eq!(
            written(&store, 0, Some(5.0), Some("[]")),
            r#"{"type":"Feature","properties":{"distance_m":5.0},"links":[]}"#
        );
        assert_eq!(
            written(&store, 0, None, None),
            r#"{"type":"Feature","properties":{}}"#
        );
    }

    #[test]
    fn a_builder_started_from_an_earlier_builders_memo_stores_features_the_same_way() {
        let feature = |k: usize| {
            let id = format!("f{k}");
            let prefix = format!(r#"{{"id":"{id}","properties":{{"#);
            let mut members = vec![format!(r#""n":{}"#, k % 5), format!(r#""v":"{}""#, k % 40)];
            if k >= 200 {
                members.push(r#""late":true"#.to_string());
            }
            (id, prefix, members)
        };
        let build = |b: &mut SegmentBuilder, ks: std::ops::Range<usize>| -> Vec<(u32, u32)> {
            ks.map(|k| {
                let (id, prefix, members) = feature(k);
                b.push(&id, &prefix, members.iter().map(String::as_str), "}}")
            })
            .collect()
        };
        let dict = SharedDict::default();
        let mut first = SegmentBuilder::new(&dict);
        let a = build(&mut first, 0..100);
        let (seg_a, memo) = first.finish_keeping_memo();
        // The members the first builder met, and from k = 200 one it never met.
        let mut second = SegmentBuilder::with_memo(&dict, memo);
        let b = build(&mut second, 100..300);
        let store = Store::build(vec![(seg_a, a), (second.finish(), b)], dict);
        // Each member and the suffix once, whichever builder met it first.
        assert_eq!(store.dict.len(), 5 + 40 + 1 + 1);
        for k in 0..300 {
            let (id, prefix, members) = feature(k);
            let want = format!("{prefix}{}}}}}", members.join(","));
            assert_eq!(written(&store, k as u32, None, None), want);
            assert_eq!(store.id(k as u32), id);
        }
    }

    #[test]
    fn segments_built_at_once_on_several_threads_share_one_dictionary() {
        // Four threads store features that share some members (and hold some of their own),
        // each into its own segment; every feature reads back as the text it came from.
        let feature = |s: usize, k: usize| {
            let id = format!("s{s}-{k}");
            let prefix = format!(r#"{{"id":"{id}","properties":{{"#);
            let members = vec![
                format!(r#""n":{}"#, k % 7),
                format!(r#""only_here":"{s}""#),
                format!(r#""v":{}"#, (k * 13 + s) % 150),
            ];
            (id, prefix, members)
        };
        let dict = SharedDict::default();
        let parts: Vec<(Segment, Vec<(u32, u32)>)> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|s| {
                    let dict = &dict;
                    scope.spawn(move || {
                        let mut b = SegmentBuilder::new(dict);
                        let stored = (0..500)
                            .map(|k| {
                                let (id, prefix, members) = feature(s, k);
                                b.push(&id, &prefix, members.iter().map(String::as_str), "}}")
                            })
                            .collect();
                        (b.finish(), stored)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let store = Store::build(parts, dict);
        // 7 counts, 4 "only_here", 150 "v" and the suffix: each once.
        assert_eq!(store.dict.len(), 7 + 4 + 150 + 1);
        assert_eq!(store.len(), 2000);
        for s in 0..4 {
            for k in 0..500 {
                let i = (s * 500 + k) as u32;
                let (id, prefix, members) = feature(s, k);
                let want = format!("{prefix}{}}}}}", members.join(","));
                assert_eq!(written(&store, i, None, None), want);
                assert_eq!(store.json_len(i), want.len());
                assert_eq!(store.id(i), id);
                let with_distance = format!("{prefix}\"distance_m\":1.5,{}}}}}", members.join(","));
                assert_eq!(written(&store, i, Some(1.5), None), with_distance);
            }
        }
    }

    #[test]
    fn a_store_taken_apart_comes_back_whole_and_refuses_records_past_their_segment() {
        let dict = SharedDict::default();
        let parts: Vec<(Segment, Vec<(u32, u32)>)> = (0..3)
            .map(|s| {
                let mut b = SegmentBuilder::new(&dict);
                let stored = (0..40)
                    .map(|k| {
                        let members = [format!(r#""k":{k}"#), format!(r#""s":"{s}""#)];
                        b.push(
                            &format!("{s}-{k}"),
                            r#"{"properties":{"#,
                            members.iter().map(String::as_str),
                            "}}",
                        )
                    })
                    .collect();
                (b.finish(), stored)
            })
            .collect();
        let store = Store::build(parts, dict);
        let expected: Vec<String> = (0..120).map(|i| written(&store, i, None, None)).collect();
        assert_eq!(expected[41], r#"{"properties":{"k":1,"s":"1"}}"#);
        let apart = |store: &Store| {
            let p = store.arrays();
            let mut bytes = Vec::new();
            let mut starts = vec![0];
            for seg in &p.segments {
                bytes.extend_from_slice(seg);
                starts.push(bytes.len());
            }
            StoreArrays {
                bytes,
                starts,
                dict_text: p.dict_text.to_vec(),
                dict_ends: p.dict_ends.to_vec(),
                records: p.records,
            }
        };
        let back = Store::from_arrays(apart(&store)).expect("the parts fit");
        for (i, want) in expected.iter().enumerate() {
            assert_eq!(&written(&back, i as u32, None, None), want);
        }
        // A record whose offset lies past the end of its own segment (inside the next one).
        let mut bad = apart(&store);
        let first_len = (bad.starts[1] - bad.starts[0]) as u32;
        bad.records[0][1] = first_len + 1;
        assert!(Store::from_arrays(bad).is_none());
        // Segments that do not end where the bytes do.
        let mut bad = apart(&store);
        bad.starts.pop();
        assert!(Store::from_arrays(bad).is_none());
    }

    #[test]
    fn a_frame_cut_around_the_features_own_text_keeps_the_rest_once() {
        let dict = SharedDict::default();
        let mut b = SegmentBuilder::new(&dict);
        let mut stored = Vec::new();
        let mut want = Vec::new();
        for k in 0..1000 {
            let (coords, id) = (format!("-72.{k:06},18.5"), format!("\"f{k}\""));
            // A `bbox` member of the feature's own, given as shareable text: after a trial
            // it is kept inline rather than given an entry per feature.
            let bbox = format!(r#"],"type":"Point"}},"bbox":[{k},{k}],"id":"#);
            let shared = |text| FramePiece { text, shared: true };
            let own = |text| FramePiece {
                text,
                shared: false,
            };
            let prefix = [
                shared(r#"{"type":"Feature","geometry":{"coordinates":["#),
                own(&coords),
                shared(&bbox),
                own(&id),
                shared(r#","properties":{"#),
            ];
            let suffix = [shared("}}")];
            let members = [r#""department":"Ouest""#];
            stored.push(b.push_framed(&id, &prefix, members, true, &suffix));
            let text: String = prefix.iter().map(|p| p.text).collect();
            want.push(format!("{text}{}}}}}", members[0]));
        }
        let store = alone(b.finish(), stored.clone(), dict);
        for (k, want) in want.iter().enumerate() {
            assert_eq!(written(&store, k as u32, None, None), *want);
            assert_eq!(stored[k].1 as usize, want.len());
        }
        // The two constant pieces, the member and the suffix, and the `bbox` pieces of the
        // trial only.
        assert!(
            store.dict.len() <= 4 + FRAME_TRIAL as usize,
            "{}",
            store.dict.len()
        );
        let with_links = written(&store, 7, Some(2.0), Some("[]"));
        let v: serde_json::Value = serde_json::from_str(&with_links).unwrap();
        assert_eq!(v["links"], serde_json::json!([]));
        assert_eq!(v["properties"]["distance_m"], 2.0);
        assert_eq!(
            v["geometry"]["coordinates"],
            serde_json::json!([-72.000007, 18.5])
        );
    }

    #[test]
    fn long_members_and_many_members_round_trip() {
        let long = format!(r#""summary":"{}""#, "é".repeat(300));
        let many: Vec<String> = (0..300).map(|k| format!(r#""p{k}":{k}"#)).collect();
        let mut members: Vec<&str> = many.iter().map(String::as_str).collect();
        members.push(&long);
        let dict = SharedDict::default();
        let mut b = SegmentBuilder::new(&dict);
        let first = b.push("ü", "{\"properties\":{", members.iter().copied(), "}}");
        let second = b.push_with("2", "{\"properties\":{", [r#""a":1, "b":2"#], "}}", false);
        // More pieces around the properties than are remembered from feature to feature.
        let words: Vec<String> = (0..12).map(|k| format!("\"w{k}\":{k},")).collect();
        let mut prefix: Vec<FramePiece> = vec![FramePiece {
            text: "{",
            shared: true,
        }];
        prefix.extend(words.iter().map(|w| FramePiece {
            text: w,
            shared: true,
        }));
        prefix.push(FramePiece {
            text: "\"properties\":{",
            shared: true,
        });
        let end = [FramePiece {
            text: "}}",
            shared: true,
        }];
        let third = b.push_framed("3", &prefix, [r#""a":1"#], true, &end);
        let store = alone(b.finish(), vec![first, second, third], dict);
        assert_eq!(
            written(&store, 2, None, None),
            format!("{{{}\"properties\":{{\"a\":1}}}}", words.concat())
        );
        let want = format!("{{\"properties\":{{{}}}}}", members.join(","));
        assert_eq!(written(&store, 0, None, None), want);
        assert_eq!(first.1 as usize, want.len());
        assert_eq!(store.id(0), "ü");
        assert_eq!(
            written(&store, 1, None, None),
            r#"{"properties":{"a":1, "b":2}}"#
        );
    }
}
