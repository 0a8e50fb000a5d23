//! Features' JSON, kept compact and ready to copy into answers.
//!
//! A layer's features repeat most of their properties: the same department, the same event
//! type, the same date for hundreds of incidents. Keeping each feature's text as the file
//! held it costs the file's size in memory; here each top-level member of `properties`
//! (`"department":"Ouest"`) is kept once per [`Segment`] and a feature refers to it by
//! number. What is unique to a feature (its geometry, its id) stays inline. Answers are
//! written by copying pieces, never by re-encoding JSON.
//!
//! A feature is stored as
//! `id | prefix | n | member * n | suffix`, where `prefix` is the feature's text up to and
//! including the `{` of its properties, `suffix` the text from their closing `}` on, and each
//! member or suffix is a piece: a varint `2k` for entry `k` of the segment's dictionary, or
//! `2len+1` followed by `len` bytes inline.
//!
//! ```
//! use kat::layer::store::SegmentBuilder;
//! let text = r#"{"id":"a","properties":{"x":1,"y":"z"},"type":"Feature"}"#;
//! let mut b = SegmentBuilder::default();
//! let (at, len) = b.push("a", &text[..24], [&text[24..29], &text[30..37]], &text[37..]);
//! let seg = b.finish();
//! let mut out = Vec::new();
//! seg.write(at, &mut out, Some(12.34), None);
//! assert_eq!(
//!     String::from_utf8(out).unwrap(),
//!     r#"{"id":"a","properties":{"distance_m":12.3,"x":1,"y":"z"},"type":"Feature"}"#
//! );
//! assert_eq!(len as usize, text.len());
//! assert_eq!(seg.id(at), "a");
//! ```

use std::collections::HashMap;
use std::io::Write;

/// Members longer than this are kept inline: long texts (a summary, a URL) rarely repeat.
const INTERN_MAX: usize = 160;

/// Members past this place in a feature are not remembered from one feature to the next; the
/// suffix is remembered at this place.
const MEMO_PLACES: usize = 64;

/// Features stored together, with the dictionary of the members they share.
#[derive(Debug, Default)]
pub struct Segment {
    bytes: Vec<u8>,
    dict: Dict,
}

/// Members kept once: entry `k` is `text[ends[k]..ends[k + 1]]`.
#[derive(Debug, Default)]
struct Dict {
    text: Vec<u8>,
    ends: Vec<u32>,
}

impl Dict {
    #[inline]
    fn entry(&self, k: usize) -> &[u8] {
        &self.text[self.ends[k] as usize..self.ends[k + 1] as usize]
    }

    fn len(&self) -> usize {
        self.ends.len().saturating_sub(1)
    }
}

/// A segment's bytes read with a dictionary: its own, or the layer's.
#[derive(Clone, Copy)]
struct View<'s> {
    bytes: &'s [u8],
    dict: &'s Dict,
}

/// Bytes readable past the end of a segment's pieces.
const PAD: usize = 64;

/// `len` bytes at `start` of `base`, one of a segment's (padded) vectors.
struct Piece<'s> {
    base: &'s [u8],
    start: usize,
    len: usize,
}

impl Piece<'_> {
    fn bytes(&self) -> &[u8] {
        &self.base[self.start..self.start + self.len]
    }
}

/// Appends a piece. Most are a few dozen bytes, where a call to memcpy costs more than the
/// copy: those are copied as a fixed 32 or 64 bytes (over-reading into the segment's padding,
/// over-writing spare capacity that the length then leaves out).
#[inline(always)]
fn append(out: &mut Vec<u8>, p: Piece) {
    let Piece { base, start, len } = p;
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

/// Identity hashing for keys that are already hashes.
#[derive(Default, Clone, Copy)]
struct Prehashed(u64);

impl std::hash::Hasher for Prehashed {
    fn write(&mut self, _: &[u8]) {
        unreachable!("only u64 keys are hashed");
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// Builds a [`Segment`] one feature at a time.
#[derive(Default)]
pub struct SegmentBuilder {
    seg: Segment,
    /// Hash of a member's text → its dictionary entry. A member whose hash is taken by
    /// different text is kept inline (rare, and still correct).
    entries: HashMap<u64, u32, std::hash::BuildHasherDefault<Prehashed>>,
    /// The entry the previous feature had at each member's place: many members (a null
    /// field, a constant) repeat there, and comparing with one entry is cheaper than hashing.
    last: Vec<u32>,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
fn varint(b: &[u8], at: &mut usize) -> usize {
    let mut v = 0usize;
    let mut shift = 0;
    loop {
        let x = b[*at];
        *at += 1;
        v |= usize::from(x & 0x7F) << shift;
        if x < 0x80 {
            return v;
        }
        shift += 7;
    }
}

/// `a == b`, inlined: the members compared are short, where a call to memcmp costs more
/// than the comparison. Compared a word at a time, the last word overlapping the one before.
#[inline]
pub(super) fn same(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
    if n < 8 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    let mut at = 0;
    while at + 8 < n {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    word(a, n - 8) == word(b, n - 8)
}

/// A hash of a member from its length and three of its words (first, middle, last): cheap,
/// and enough to tell apart the members of one segment; members it confuses are compared
/// anyway, and the loser is kept inline.
#[inline]
fn hash(b: &[u8]) -> u64 {
    let word = |at: usize| {
        let mut w = [0u8; 8];
        let end = (at + 8).min(b.len());
        w[..end - at].copy_from_slice(&b[at..end]);
        u64::from_le_bytes(w)
    };
    let n = b.len();
    let (first, mid, last) = if n >= 8 {
        (word(0), word(n / 2 - 4), word(n - 8))
    } else {
        (word(0), 0, 0)
    };
    let h = (first ^ (n as u64).rotate_left(56)).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ mid.wrapping_mul(0xBF58_476D_1CE4_E5B9)
        ^ last.rotate_left(23).wrapping_mul(0x94D0_49BB_1331_11EB);
    h ^ (h >> 29)
}

/// Values worked out once per distinct text: a map from text to `V` with the cheap hash and
/// inlined comparison of the dictionaries. A text whose hash another text holds is simply
/// not remembered (it is worked out again each time: rare, and still correct).
///
/// The texts are copied into one small buffer of the memo's own: a lookup compares against
/// bytes that stay in cache, not against the first place the text was seen, far back in the
/// file.
///
/// ```
/// use kat::layer::store::TextMemo;
/// let mut m = TextMemo::default();
/// m.insert("\"Ouest\"", 7u32);
/// assert_eq!(m.get("\"Ouest\""), Some(&7));
/// assert_eq!(m.get("\"Nord\""), None);
/// ```
pub struct TextMemo<V> {
    /// Hash → (where the text is in `texts`, its length, its value).
    map: HashMap<u64, (u32, u32, V), std::hash::BuildHasherDefault<Prehashed>>,
    texts: Vec<u8>,
}

impl<V> Default for TextMemo<V> {
    fn default() -> Self {
        TextMemo {
            map: HashMap::default(),
            texts: Vec::new(),
        }
    }
}

impl<V> TextMemo<V> {
    #[inline]
    pub fn get(&self, text: &str) -> Option<&V> {
        let (at, len, v) = self.map.get(&hash(text.as_bytes()))?;
        let kept = &self.texts[*at as usize..(*at + *len) as usize];
        same(kept, text.as_bytes()).then_some(v)
    }

    pub fn insert(&mut self, text: &str, v: V) {
        let texts = &mut self.texts;
        self.map.entry(hash(text.as_bytes())).or_insert_with(|| {
            let at = texts.len() as u32;
            texts.extend_from_slice(text.as_bytes());
            (at, text.len() as u32, v)
        });
    }
}

impl SegmentBuilder {
    fn piece(&mut self, text: &[u8], share: bool, place: usize) {
        if share && text.len() <= INTERN_MAX {
            let seg = &mut self.seg;
            if let Some(&k) = self.last.get(place) {
                if k != u32::MAX && same(seg.dict.entry(k as usize), text) {
                    put_varint(&mut seg.bytes, u64::from(k) << 1);
                    return;
                }
            }
            if seg.dict.ends.is_empty() {
                seg.dict.ends.push(0);
            }
            let next = seg.dict.len() as u32;
            let k = *self.entries.entry(hash(text)).or_insert_with(|| {
                seg.dict.text.extend_from_slice(text);
                seg.dict.ends.push(seg.dict.text.len() as u32);
                next
            });
            if same(seg.dict.entry(k as usize), text) {
                put_varint(&mut seg.bytes, u64::from(k) << 1);
                if place <= MEMO_PLACES {
                    if place >= self.last.len() {
                        self.last.resize(place + 1, u32::MAX);
                    }
                    self.last[place] = k;
                }
                return;
            }
        }
        put_varint(&mut self.seg.bytes, ((text.len() as u64) << 1) | 1);
        self.seg.bytes.extend_from_slice(text);
    }

    /// Bytes written so far.
    pub fn size(&self) -> usize {
        self.seg.bytes.len()
    }

    /// Room for `additional` more bytes. A segment that grows by doubling copies its bytes
    /// at every step, into memory the kernel must fault in and zero each time.
    pub fn reserve(&mut self, additional: usize) {
        self.seg.bytes.reserve(additional);
    }

    /// Adds a feature: its id, its text up to and including the `{` of its properties, the
    /// properties' members and the rest of its text from their `}` on. Returns where it is
    /// and the length of its JSON.
    pub fn push<'m>(
        &mut self,
        id: &str,
        prefix: &str,
        members: impl IntoIterator<Item = &'m str>,
        suffix: &str,
    ) -> (u32, u32) {
        self.push_with(id, prefix, members, suffix, true)
    }

    /// [`push`](Self::push), with members kept inline when `share` is false (a single
    /// member that is really several, say).
    pub fn push_with<'m>(
        &mut self,
        id: &str,
        prefix: &str,
        members: impl IntoIterator<Item = &'m str>,
        suffix: &str,
        share: bool,
    ) -> (u32, u32) {
        let at = self.seg.bytes.len() as u32;
        put_varint(&mut self.seg.bytes, id.len() as u64);
        self.seg.bytes.extend_from_slice(id.as_bytes());
        put_varint(&mut self.seg.bytes, prefix.len() as u64);
        self.seg.bytes.extend_from_slice(prefix.as_bytes());
        // The count goes before the members: reserve one byte and widen it only when needed.
        let count_at = self.seg.bytes.len();
        self.seg.bytes.push(0);
        let mut n = 0u64;
        let mut len = prefix.len() + suffix.len();
        for m in members {
            self.piece(m.as_bytes(), share, (n as usize).min(MEMO_PLACES + 1));
            len += m.len() + usize::from(n > 0);
            n += 1;
        }
        if n >= 0x80 {
            let mut count = Vec::new();
            put_varint(&mut count, n);
            self.seg
                .bytes
                .splice(count_at..count_at + 1, count.iter().copied());
        } else {
            self.seg.bytes[count_at] = n as u8;
        }
        self.piece(suffix.as_bytes(), suffix.len() <= 64, MEMO_PLACES);
        (at, len as u32)
    }

    pub fn finish(mut self) -> Segment {
        // Readable bytes past every piece, for the fixed-size copies of [`append`].
        self.seg.bytes.extend_from_slice(&[0; PAD]);
        self.seg.dict.text.extend_from_slice(&[0; PAD]);
        self.seg.bytes.shrink_to_fit();
        self.seg.dict.text.shrink_to_fit();
        self.seg.dict.ends.shrink_to_fit();
        self.seg
    }
}

impl<'s> View<'s> {
    #[inline]
    fn piece(&self, at: &mut usize) -> Piece<'s> {
        let v = varint(self.bytes, at);
        if v & 1 == 0 {
            let k = v >> 1;
            let ends = &self.dict.ends;
            let (start, end) = (ends[k] as usize, ends[k + 1] as usize);
            Piece {
                base: &self.dict.text,
                start,
                len: end - start,
            }
        } else {
            let start = *at;
            *at += v >> 1;
            Piece {
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
        let prefix_len = varint(b, &mut i);
        append(
            out,
            Piece {
                base: b,
                start: i,
                len: prefix_len,
            },
        );
        i += prefix_len;
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
        let suffix = self.piece(&mut i);
        match links {
            None => append(out, suffix),
            Some(links) => {
                let suffix = suffix.bytes();
                let close = suffix
                    .iter()
                    .rposition(|c| *c == b'}')
                    .unwrap_or(suffix.len());
                out.extend_from_slice(&suffix[..close]);
                out.extend_from_slice(b",\"links\":");
                out.extend_from_slice(links.as_bytes());
                out.extend_from_slice(&suffix[close..]);
            }
        }
    }
}

impl Segment {
    fn view(&self) -> View<'_> {
        View {
            bytes: &self.bytes,
            dict: &self.dict,
        }
    }

    /// The id of the feature stored at `at`.
    pub fn id(&self, at: u32) -> &str {
        self.view().id(at)
    }

    /// Writes the feature stored at `at`: with `distance_m` as the first of its properties,
    /// and `links` as its last member, when given.
    pub fn write(&self, at: u32, out: &mut Vec<u8>, distance_m: Option<f64>, links: Option<&str>) {
        self.view().write(at, out, distance_m, links);
    }
}

/// Where a feature is stored, and the length of its JSON.
#[derive(Debug, Clone, Copy)]
struct Rec {
    seg: u32,
    at: u32,
    len: u32,
}

/// Every feature of a layer, addressed by position: the segments' bytes, read with one
/// dictionary for the whole layer. A page of features lies scattered over the segments;
/// with one dictionary, the members they share stay in cache from one feature to the next.
#[derive(Debug, Default)]
pub struct Store {
    segments: Vec<Vec<u8>>,
    dict: Dict,
    recs: Vec<Rec>,
}

impl Store {
    /// Joins segments, each with where its features are (as [`SegmentBuilder::push`] said),
    /// into one store: their dictionaries are merged and their bytes rewritten to refer to
    /// the merged one, on every core.
    pub fn build(parts: Vec<(Segment, Vec<(u32, u32)>)>) -> Store {
        use rayon::prelude::*;
        let mut dict = Dict {
            text: Vec::new(),
            ends: vec![0],
        };
        let mut entries: HashMap<u64, u32, std::hash::BuildHasherDefault<Prehashed>> =
            HashMap::default();
        // Per segment, its entries' numbers in the merged dictionary (u32::MAX: inline, for
        // the rare entry whose hash another entry holds).
        let remaps: Vec<Vec<u32>> = parts
            .iter()
            .map(|(seg, _)| {
                (0..seg.dict.len())
                    .map(|k| {
                        let text = seg.dict.entry(k);
                        let next = dict.len() as u32;
                        let g = *entries.entry(hash(text)).or_insert_with(|| {
                            dict.text.extend_from_slice(text);
                            dict.ends.push(dict.text.len() as u32);
                            next
                        });
                        if same(dict.entry(g as usize), text) {
                            g
                        } else {
                            u32::MAX
                        }
                    })
                    .collect()
            })
            .collect();
        dict.text.extend_from_slice(&[0; PAD]);
        dict.text.shrink_to_fit();
        dict.ends.shrink_to_fit();
        let rewritten: Vec<Located> = parts
            .into_par_iter()
            .zip(remaps)
            .map(|((seg, stored), remap)| rewrite(&seg, &stored, &remap))
            .collect();
        let n = rewritten.iter().map(|(_, s)| s.len()).sum();
        let mut store = Store {
            segments: Vec::with_capacity(rewritten.len()),
            dict,
            recs: Vec::with_capacity(n),
        };
        for (bytes, stored) in rewritten {
            let seg = store.segments.len() as u32;
            store.segments.push(bytes);
            store.recs.extend(stored.iter().map(|(at, len)| Rec {
                seg,
                at: *at,
                len: *len,
            }));
        }
        store
    }

    #[inline]
    fn view(&self, r: &Rec) -> View<'_> {
        View {
            bytes: &self.segments[r.seg as usize],
            dict: &self.dict,
        }
    }

    pub fn len(&self) -> usize {
        self.recs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.recs.is_empty()
    }

    /// The id of feature `idx`.
    pub fn id(&self, idx: u32) -> &str {
        let r = &self.recs[idx as usize];
        self.view(r).id(r.at)
    }

    /// The length of feature `idx`'s JSON.
    pub fn json_len(&self, idx: u32) -> usize {
        self.recs[idx as usize].len as usize
    }

    /// Writes feature `idx` (see [`Segment::write`]).
    #[inline]
    pub fn write(&self, idx: u32, out: &mut Vec<u8>, distance_m: Option<f64>, links: Option<&str>) {
        let r = &self.recs[idx as usize];
        self.view(r).write(r.at, out, distance_m, links);
    }

    /// The address of feature `idx`'s record, for prefetching.
    pub fn record_at(&self, idx: u32) -> Option<*const u8> {
        self.recs
            .get(idx as usize)
            .map(|r| (r as *const Rec).cast())
    }

    /// The address of feature `idx`'s bytes, for prefetching.
    pub fn bytes_at(&self, idx: u32) -> Option<*const u8> {
        let r = self.recs.get(idx as usize)?;
        let seg = self.segments.get(r.seg as usize)?;
        Some(seg.as_ptr().wrapping_add(r.at as usize))
    }

    /// Bytes held.
    pub fn size(&self) -> usize {
        self.segments.iter().map(Vec::len).sum::<usize>()
            + self.dict.text.len()
            + 4 * self.dict.ends.len()
            + self.recs.len() * std::mem::size_of::<Rec>()
    }
}

/// A [`Store`] taken apart into plain arrays, to be kept on disk by the layer cache and
/// put back together.
pub(super) struct Parts {
    pub segments: Vec<Vec<u8>>,
    pub dict_text: Vec<u8>,
    pub dict_ends: Vec<u32>,
    /// Per feature: its segment, its offset there, the length of its JSON.
    pub recs: Vec<[u32; 3]>,
}

/// [`Parts`], borrowed from a store (but for the records, which are laid out anew).
pub(super) struct PartsRef<'s> {
    pub segments: &'s [Vec<u8>],
    pub dict_text: &'s [u8],
    pub dict_ends: &'s [u32],
    pub recs: Vec<[u32; 3]>,
}

impl Store {
    /// The segments, the dictionary and each feature's record, as [`Store::from_parts`] takes
    /// them.
    pub(super) fn parts(&self) -> PartsRef<'_> {
        PartsRef {
            segments: &self.segments,
            dict_text: &self.dict.text,
            dict_ends: &self.dict.ends,
            recs: self.recs.iter().map(|r| [r.seg, r.at, r.len]).collect(),
        }
    }

    /// A store from its parts; None when they do not fit together (a dictionary entry or a
    /// record outside the bytes that hold it).
    pub(super) fn from_parts(p: Parts) -> Option<Store> {
        let Parts {
            segments,
            dict_text,
            dict_ends,
            recs,
        } = p;
        let ends_ok = dict_ends.first() == Some(&0)
            && dict_ends.windows(2).all(|w| w[0] <= w[1])
            && dict_ends
                .last()
                .is_some_and(|e| *e as usize <= dict_text.len());
        let recs_ok = recs.iter().all(|[seg, at, _]| {
            segments
                .get(*seg as usize)
                .is_some_and(|s| (*at as usize) < s.len())
        });
        (ends_ok && recs_ok).then(|| Store {
            segments,
            dict: Dict {
                text: dict_text,
                ends: dict_ends,
            },
            recs: recs
                .into_iter()
                .map(|[seg, at, len]| Rec { seg, at, len })
                .collect(),
        })
    }
}

/// A segment's bytes and where each of its features is in them (offset, JSON length).
type Located = (Vec<u8>, Vec<(u32, u32)>);

/// A segment's bytes with its dictionary's numbers replaced by `remap`'s, and where each
/// feature now is.
fn rewrite(seg: &Segment, stored: &[(u32, u32)], remap: &[u32]) -> Located {
    let b = &seg.bytes;
    // Merged numbers are often a byte wider than a block's own: room for that, since a Vec
    // that outgrows its capacity is copied whole into fresh memory.
    let mut out = Vec::with_capacity(b.len() + b.len() / 4 + PAD);
    let mut moved = Vec::with_capacity(stored.len());
    let copy = |out: &mut Vec<u8>, i: &mut usize| {
        let n = varint(b, i);
        put_varint(out, n as u64);
        out.extend_from_slice(&b[*i..*i + n]);
        *i += n;
    };
    let piece = |out: &mut Vec<u8>, i: &mut usize| {
        let v = varint(b, i);
        if v & 1 == 1 {
            put_varint(out, v as u64);
            out.extend_from_slice(&b[*i..*i + (v >> 1)]);
            *i += v >> 1;
        } else {
            match remap[v >> 1] {
                u32::MAX => {
                    let text = seg.dict.entry(v >> 1);
                    put_varint(out, ((text.len() as u64) << 1) | 1);
                    out.extend_from_slice(text);
                }
                g => put_varint(out, u64::from(g) << 1),
            }
        }
    };
    for (at, len) in stored {
        moved.push((out.len() as u32, *len));
        let mut i = *at as usize;
        copy(&mut out, &mut i); // id
        copy(&mut out, &mut i); // prefix
        let n = varint(b, &mut i);
        put_varint(&mut out, n as u64);
        for _ in 0..=n {
            piece(&mut out, &mut i); // members, then the suffix
        }
    }
    out.extend_from_slice(&[0; PAD]);
    out.shrink_to_fit();
    (out, moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(seg: &Segment, at: u32, d: Option<f64>, links: Option<&str>) -> String {
        let mut out = Vec::new();
        seg.write(at, &mut out, d, links);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn features_come_back_as_they_went_in_and_repeated_members_are_kept_once() {
        let mut b = SegmentBuilder::default();
        let mut at = Vec::new();
        for k in 0..100 {
            let id = format!("f{k}");
            let prefix = format!(r#"{{"id":"{id}","geometry":null,"properties":{{"#);
            let fat = format!(r#""fatalities":{}"#, k % 3);
            let members = [r#""department":"Ouest""#, fat.as_str()];
            at.push((
                b.push(&id, &prefix, members, r#"},"type":"Feature"}"#),
                format!(
                    r#"{prefix}{},{}}},"type":"Feature"}}"#,
                    members[0], members[1]
                ),
            ));
        }
        let seg = b.finish();
        assert_eq!(seg.dict.len(), 5, "Ouest, three counts and the suffix");
        for (k, ((a, len), want)) in at.iter().enumerate() {
            assert_eq!(written(&seg, *a, None, None), *want);
            assert_eq!(*len as usize, want.len());
            assert_eq!(seg.id(*a), format!("f{k}"));
        }
    }

    #[test]
    fn distance_and_links_are_inserted_as_valid_json_even_with_no_properties() {
        let mut b = SegmentBuilder::default();
        let (a, _) = b.push("x", r#"{"type":"Feature","properties":{"#, [], "}}");
        let seg = b.finish();
        assert_eq!(
            written(&seg, a, Some(5.0), Some("[]")),
            r#"{"type":"Feature","properties":{"distance_m":5.0},"links":[]}"#
        );
        assert_eq!(
            written(&seg, a, None, None),
            r#"{"type":"Feature","properties":{}}"#
        );
    }

    #[test]
    fn a_store_of_several_segments_writes_what_each_segment_wrote() {
        let mut parts = Vec::new();
        let mut want = Vec::new();
        for s in 0..3 {
            let mut b = SegmentBuilder::default();
            let mut stored = Vec::new();
            for k in 0..50 {
                let id = format!("s{s}-{k}");
                let shared = format!(r#""n":{}"#, k % 7);
                let own = format!(r#""only_here":"{s}""#);
                let prefix = format!(r#"{{"id":"{id}","properties":{{"#);
                stored.push(b.push(&id, &prefix, [shared.as_str(), own.as_str()], "}}"));
            }
            let seg = b.finish();
            for (at, _) in &stored {
                let mut out = Vec::new();
                seg.write(*at, &mut out, None, None);
                want.push((seg.id(*at).to_string(), out));
            }
            parts.push((seg, stored));
        }
        let store = Store::build(parts);
        // The three segments share "n":0..6 and the suffix: one entry each.
        assert_eq!(store.dict.len(), 7 + 3 + 1);
        assert_eq!(store.len(), want.len());
        for (i, (id, json)) in want.iter().enumerate() {
            let mut out = Vec::new();
            store.write(i as u32, &mut out, None, None);
            assert_eq!(&out, json);
            assert_eq!(store.json_len(i as u32), json.len());
            assert_eq!(store.id(i as u32), id);
        }
    }

    #[test]
    fn segments_renumbered_to_wider_or_equal_numbers_write_what_they_wrote() {
        // Segment 0 holds about 100 entries; segment 1's number 0..12 locally (one byte) and
        // 100.. once merged (two bytes), so its bytes grow; segment 2 holds segment 0's first
        // 40 members in another order, numbered differently at the same width.
        let members = |s: usize, k: usize| match s {
            0 => format!(r#""v":{k}"#),
            1 => format!(r#""w":{}"#, k % 10),
            _ => format!(r#""v":{}"#, 39 - k % 40),
        };
        let mut parts = Vec::new();
        let mut want = Vec::new();
        for s in 0..3 {
            let mut b = SegmentBuilder::default();
            let mut stored = Vec::new();
            for k in 0..100 {
                let id = format!("s{s}-{k}");
                let m = members(s, k);
                let prefix = format!(r#"{{"id":"{id}","properties":{{"#);
                stored.push(b.push(&id, &prefix, [m.as_str(), r#""t":"x""#], "}}"));
            }
            let seg = b.finish();
            for (at, _) in &stored {
                let mut out = Vec::new();
                seg.write(*at, &mut out, None, None);
                want.push((format!("s{s}"), out));
            }
            parts.push((seg, stored));
        }
        let store = Store::build(parts);
        assert_eq!(store.len(), 300);
        for (i, (seg, json)) in want.iter().enumerate() {
            let mut out = Vec::new();
            store.write(i as u32, &mut out, Some(1.5), None);
            let mut expected = json.clone();
            let at = json
                .windows(14)
                .position(|w| w == br#""properties":{"#)
                .expect("a properties member")
                + 14;
            expected.splice(at..at, br#""distance_m":1.5,"#.iter().copied());
            assert_eq!(
                String::from_utf8_lossy(&out),
                String::from_utf8_lossy(&expected),
                "{seg}"
            );
            assert_eq!(store.id(i as u32), format!("{seg}-{}", i % 100));
        }
    }

    #[test]
    fn long_members_and_many_members_round_trip() {
        let long = format!(r#""summary":"{}""#, "é".repeat(300));
        let many: Vec<String> = (0..300).map(|k| format!(r#""p{k}":{k}"#)).collect();
        let mut members: Vec<&str> = many.iter().map(String::as_str).collect();
        members.push(&long);
        let mut b = SegmentBuilder::default();
        let (a, len) = b.push("ü", "{\"properties\":{", members.iter().copied(), "}}");
        let (a2, _) = b.push_with("2", "{\"properties\":{", [r#""a":1, "b":2"#], "}}", false);
        let seg = b.finish();
        let want = format!("{{\"properties\":{{{}}}}}", members.join(","));
        assert_eq!(written(&seg, a, None, None), want);
        assert_eq!(len as usize, want.len());
        assert_eq!(seg.id(a), "ü");
        assert_eq!(
            written(&seg, a2, None, None),
            r#"{"properties":{"a":1, "b":2}}"#
        );
    }
}
