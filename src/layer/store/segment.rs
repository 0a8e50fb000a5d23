//! Building a [`Segment`]: features' JSON, one after another, their members numbered in the
//! layer's [`SharedDict`].

use super::dict::{bytes_equal, SharedDict, TextMemo};
use super::PAD;

/// Members longer than this are kept inline: long texts (a summary, a URL) rarely repeat.
const INTERN_MAX: usize = 160;

/// Members past this place in a feature are not remembered from one feature to the next.
const MEMO_PLACES: usize = 64;

/// Pieces of a prefix or suffix past this one are not remembered from one feature to the
/// next.
const FRAME_PLACES: usize = 8;

/// The places remembered: the members', then the prefix's pieces, then the suffix's.
const PLACES: usize = MEMO_PLACES + 2 * FRAME_PLACES;

/// Pieces of a prefix or suffix meant to be shared but longer than this are kept inline.
const FRAME_INTERN_MAX: usize = 64;

/// A prefix or suffix piece meant to be shared whose place, after this many features, has
/// met a new text for more than half of them, is kept inline from then on: that text was
/// the feature's own (a `bbox`, a `title`), and a dictionary entry for each would cost more
/// than the text.
pub(super) const FRAME_TRIAL: u32 = 256;

/// Features stored together: their bytes, whose numbers refer to the layer's dictionary.
#[derive(Debug, Default)]
pub struct Segment {
    pub(super) bytes: Vec<u8>,
}

/// Builds a [`Segment`] one feature at a time, numbering its members in a [`SharedDict`].
pub struct SegmentBuilder<'d> {
    bytes: Vec<u8>,
    dict: &'d SharedDict,
    /// The entries this builder has met, by text: most members are found here, without
    /// taking the dictionary's lock.
    memo: TextMemo<u32>,
    /// The entry the previous feature had at each member's place (where its text is in the
    /// memo, and its number): many members (a null field, a constant) repeat there, and
    /// comparing with one entry is cheaper than hashing.
    last: Vec<Option<(u32, u32, u32)>>,
    /// Per prefix or suffix place: the features that had a piece there, and those whose
    /// piece was new to this builder.
    frame_uses: [(u32, u32); 2 * FRAME_PLACES],
}

/// A piece of a feature's prefix or suffix, and whether it is text that other features
/// repeat (`"type":"Feature"`) or the feature's own (its id, its coordinates).
#[derive(Debug, Clone, Copy)]
pub struct FramePiece<'a> {
    pub text: &'a str,
    pub shared: bool,
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline]
pub(super) fn varint(b: &[u8], at: &mut usize) -> usize {
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

impl<'d> SegmentBuilder<'d> {
    /// A builder whose members are numbered in `dict`.
    pub fn new(dict: &'d SharedDict) -> Self {
        Self::with_memo(dict, TextMemo::default())
    }

    /// A builder that starts from the entries of `dict` that an earlier builder met (as
    /// [`finish_keeping_memo`](Self::finish_keeping_memo) gave them back): a thread that
    /// builds one segment after another finds most members there, without taking the
    /// dictionary's lock again.
    pub fn with_memo(dict: &'d SharedDict, memo: TextMemo<u32>) -> Self {
        SegmentBuilder {
            bytes: Vec::new(),
            dict,
            memo,
            last: Vec::new(),
            frame_uses: [(0, 0); 2 * FRAME_PLACES],
        }
    }

    /// A prefix or suffix piece at `place`; past the places remembered, kept inline.
    fn frame_piece(&mut self, p: FramePiece, place: usize) {
        let text = p.text.as_bytes();
        let Some(uses) = place
            .checked_sub(MEMO_PLACES)
            .and_then(|k| self.frame_uses.get_mut(k))
        else {
            self.piece(text, false, PLACES);
            return;
        };
        let trial_failed = uses.0 >= FRAME_TRIAL && uses.1 > uses.0 / 2;
        let share = p.shared && text.len() <= FRAME_INTERN_MAX && !trial_failed;
        if share && uses.0 < FRAME_TRIAL {
            uses.0 += 1;
            if self.memo.find(text).is_none() {
                uses.1 += 1;
            }
        }
        self.piece(text, share, place);
    }

    fn piece(&mut self, text: &[u8], share: bool, place: usize) {
        if share && text.len() <= INTERN_MAX {
            if let Some(Some((at, len, k))) = self.last.get(place) {
                if bytes_equal(self.memo.kept(*at, *len), text) {
                    put_varint(&mut self.bytes, u64::from(*k) << 1);
                    return;
                }
            }
            let found = match self.memo.find(text) {
                Some((at, len, k)) => Some((Some((at, len)), *k)),
                None => self.dict.intern(text).map(|k| (self.memo.keep(text, k), k)),
            };
            if let Some((kept, k)) = found {
                put_varint(&mut self.bytes, u64::from(k) << 1);
                if let (Some((at, len)), true) = (kept, place < PLACES) {
                    if place >= self.last.len() {
                        self.last.resize(place + 1, None);
                    }
                    self.last[place] = Some((at, len, k));
                }
                return;
            }
        }
        put_varint(&mut self.bytes, ((text.len() as u64) << 1) | 1);
        self.bytes.extend_from_slice(text);
    }

    /// Bytes written so far.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    /// Room for `additional` more bytes. A segment that grows by doubling copies its bytes
    /// at every step, into memory the kernel must fault in and zero each time.
    pub fn reserve(&mut self, additional: usize) {
        self.bytes.reserve(additional);
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
        let prefix = [FramePiece {
            text: prefix,
            shared: false,
        }];
        let suffix = [FramePiece {
            text: suffix,
            shared: true,
        }];
        self.push_framed(id, &prefix, members, share, &suffix)
    }

    /// [`push_with`](Self::push_with), with the prefix and suffix given in pieces.
    pub fn push_framed<'m>(
        &mut self,
        id: &str,
        prefix: &[FramePiece],
        members: impl IntoIterator<Item = &'m str>,
        share: bool,
        suffix: &[FramePiece],
    ) -> (u32, u32) {
        let at = self.bytes.len() as u32;
        put_varint(&mut self.bytes, id.len() as u64);
        self.bytes.extend_from_slice(id.as_bytes());
        let mut len = 0;
        put_varint(&mut self.bytes, prefix.len() as u64);
        for (j, p) in prefix.iter().enumerate() {
            let place = if j < FRAME_PLACES {
                MEMO_PLACES + j
            } else {
                PLACES
            };
            self.frame_piece(*p, place);
            len += p.text.len();
        }
        // The count goes before the members: reserve one byte and widen it only when needed.
        let count_at = self.bytes.len();
        self.bytes.push(0);
        let mut n = 0u64;
        for m in members {
            let place = if (n as usize) < MEMO_PLACES {
                n as usize
            } else {
                PLACES
            };
            self.piece(m.as_bytes(), share, place);
            len += m.len() + usize::from(n > 0);
            n += 1;
        }
        if n >= 0x80 {
            let mut count = Vec::new();
            put_varint(&mut count, n);
            self.bytes
                .splice(count_at..count_at + 1, count.iter().copied());
        } else {
            self.bytes[count_at] = n as u8;
        }
        put_varint(&mut self.bytes, suffix.len() as u64);
        for (j, p) in suffix.iter().enumerate() {
            let place = if j < FRAME_PLACES {
                MEMO_PLACES + FRAME_PLACES + j
            } else {
                PLACES
            };
            self.frame_piece(*p, place);
            len += p.text.len();
        }
        (at, len as u32)
    }

    pub fn finish(self) -> Segment {
        self.finish_keeping_memo().0
    }

    /// [`finish`](Self::finish), also giving back the entries met, for the next builder of
    /// the same dictionary.
    pub fn finish_keeping_memo(mut self) -> (Segment, TextMemo<u32>) {
        // Readable bytes past every piece, for the fixed-size copies of [`append`].
        self.bytes.extend_from_slice(&[0; PAD]);
        // The room reserved for a block's features is at most an eighth too much, and room
        // never written is never given memory. Shrinking would move a block that crosses the
        // allocator's mapping threshold: a copy into fresh memory, for nothing.
        if self.bytes.capacity() - self.bytes.len() > self.bytes.len() / 4 {
            self.bytes.shrink_to_fit();
        }
        (Segment { bytes: self.bytes }, self.memo)
    }
}
