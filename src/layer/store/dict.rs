//! The layer's dictionary of members kept once, and the memos that find an entry again
//! without its lock.

use super::PAD;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// Members kept once: entry `k` is `text[ends[k]..ends[k + 1]]`.
#[derive(Debug, Default)]
pub(super) struct Dict {
    pub(super) text: Vec<u8>,
    pub(super) ends: Vec<u32>,
}

impl Dict {
    #[inline]
    pub(super) fn entry(&self, k: usize) -> &[u8] {
        &self.text[self.ends[k] as usize..self.ends[k + 1] as usize]
    }

    pub(super) fn len(&self) -> usize {
        self.ends.len().saturating_sub(1)
    }
}

/// The dictionary of a layer being stored, shared by the threads that store its blocks.
///
/// Each [`SegmentBuilder`] remembers the entries it has met in a small memo of its own, so
/// the lock is taken only for a member the builder has not seen before: a few thousand
/// times per block, against tens of thousands of members. Numbering every block's members
/// in one dictionary as they are met means a segment never has to be rewritten (and copied)
/// to join the layer.
///
/// ```
/// use kat::layer::store::SharedDict;
/// let dict = SharedDict::default();
/// let a = dict.intern(br#""department":"Ouest""#);
/// assert_eq!(dict.intern(br#""department":"Nord""#), a.map(|k| k + 1));
/// assert_eq!(dict.intern(br#""department":"Ouest""#), a);
/// ```
#[derive(Debug)]
pub struct SharedDict(Mutex<Interned>);

#[derive(Debug)]
struct Interned {
    dict: Dict,
    /// Hash of an entry's text → its number.
    entries: HashMap<u64, u32, std::hash::BuildHasherDefault<Prehashed>>,
}

impl Default for SharedDict {
    fn default() -> Self {
        SharedDict(Mutex::new(Interned {
            dict: Dict {
                text: Vec::new(),
                ends: vec![0],
            },
            entries: HashMap::default(),
        }))
    }
}

impl SharedDict {
    /// The number of the entry holding `text`, added if new; None when its hash is held by
    /// another text (rare: the member is then kept inline, which is still correct).
    pub fn intern(&self, text: &[u8]) -> Option<u32> {
        // A panic elsewhere leaves the dictionary whole: every entry is added in one step.
        let mut guard = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let Interned { dict, entries } = &mut *guard;
        let next = dict.len() as u32;
        let k = *entries.entry(hash(text)).or_insert_with(|| {
            dict.text.extend_from_slice(text);
            dict.ends.push(dict.text.len() as u32);
            next
        });
        bytes_equal(dict.entry(k as usize), text).then_some(k)
    }

    /// The dictionary, padded for the fixed-size copies of [`super::append`].
    pub(super) fn finish(self) -> Dict {
        let mut dict = self
            .0
            .into_inner()
            .unwrap_or_else(PoisonError::into_inner)
            .dict;
        dict.text.extend_from_slice(&[0; PAD]);
        dict.text.shrink_to_fit();
        dict.ends.shrink_to_fit();
        dict
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

/// `a == b`, inlined: the members compared are short, where a call to memcmp costs more
/// than the comparison. Compared a word at a time, the last word overlapping the one before.
#[inline]
pub(crate) fn bytes_equal(a: &[u8], b: &[u8]) -> bool {
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

/// The hash of a dictionary entry or memo key.
#[inline]
fn hash(b: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(b)
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
        self.find(text.as_bytes()).map(|(_, _, v)| v)
    }

    pub fn insert(&mut self, text: &str, v: V) {
        self.keep(text.as_bytes(), v);
    }

    /// Where `text` is kept in the memo and its value.
    #[inline]
    pub(super) fn find(&self, text: &[u8]) -> Option<(u32, u32, &V)> {
        let (at, len, v) = self.map.get(&hash(text))?;
        bytes_equal(self.kept(*at, *len), text).then_some((*at, *len, v))
    }

    #[inline]
    pub(super) fn kept(&self, at: u32, len: u32) -> &[u8] {
        &self.texts[at as usize..(at + len) as usize]
    }

    /// Remembers `text`; where it is kept, or None when its hash is held by another text.
    pub(super) fn keep(&mut self, text: &[u8], v: V) -> Option<(u32, u32)> {
        let texts = &mut self.texts;
        let mut fresh = false;
        let (at, len, _) = *self.map.entry(hash(text)).or_insert_with(|| {
            fresh = true;
            let at = texts.len() as u32;
            texts.extend_from_slice(text);
            (at, text.len() as u32, v)
        });
        fresh.then_some((at, len))
    }
}
