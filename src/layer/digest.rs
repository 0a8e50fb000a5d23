//! Digests of a data file's content: what tells a cache, or an ETag, that the file changed.
//!
//! A file is digested in blocks of [`DIGEST_BLOCK`] bytes, each on its own, then the blocks'
//! digests together: blocks can be digested on every core, and while the loader reads them,
//! in whatever pieces it reads them.
//!
//! ```
//! use kat::layer::digest::{digest_bytes, BlockDigests};
//! let text = b"{\"type\":\"FeatureCollection\",\"features\":[]}";
//! // Fed in any pieces, the blocks digest to the same as the bytes at once.
//! let mut d = BlockDigests::new(0, text.len());
//! d.feed(0, &text[..5]);
//! d.feed(5, &text[5..]);
//! assert_eq!(d.finish(text.len()), digest_bytes(text));
//! ```

use rayon::prelude::*;
use std::hash::{Hash, Hasher};
use std::path::Path;

/// Bytes per block of a digest.
pub const DIGEST_BLOCK: usize = 1 << 20;

/// Bytes read at a time by [`digest_file`]: small enough that the kernel's copy is still in
/// cache when it is digested.
const READ: usize = 64 << 10;

const K: [u64; 4] = [
    0x9E37_79B9_7F4A_7C15,
    0xBF58_476D_1CE4_E5B9,
    0x94D0_49BB_1331_11EB,
    0xD6E8_FEB8_6659_FD93,
];

/// One block's digest, fed in pieces: four independent lanes of multiply-rotate over
/// 8-byte words, then the tail.
#[derive(Clone)]
struct Digest {
    lanes: [u64; 4],
    len: usize,
    /// Bytes of an unfinished 32-byte word.
    pending: [u8; 32],
}

impl Digest {
    fn new() -> Self {
        Digest {
            lanes: K,
            len: 0,
            pending: [0; 32],
        }
    }

    #[inline]
    fn mix(&mut self, w: &[u8]) {
        for (l, (lane, k)) in self.lanes.iter_mut().zip(K).enumerate() {
            let x = u64::from_le_bytes(w[l * 8..l * 8 + 8].try_into().expect("8 bytes"));
            *lane = (*lane ^ x).wrapping_mul(k).rotate_left(31);
        }
    }

    fn update(&mut self, mut b: &[u8]) {
        let held = self.len % 32;
        self.len += b.len();
        if held > 0 {
            let take = (32 - held).min(b.len());
            self.pending[held..held + take].copy_from_slice(&b[..take]);
            b = &b[take..];
            if held + take < 32 {
                return;
            }
            let w = self.pending;
            self.mix(&w);
        }
        let mut words = b.chunks_exact(32);
        for w in &mut words {
            self.mix(w);
        }
        let rest = words.remainder();
        self.pending[..rest.len()].copy_from_slice(rest);
    }

    fn finish(&self) -> u64 {
        let mut h = (self.len as u64).wrapping_mul(K[0]);
        for lane in self.lanes {
            h = (h ^ lane).wrapping_mul(K[1]).rotate_left(27);
        }
        for &x in &self.pending[..self.len % 32] {
            h = (h ^ u64::from(x)).wrapping_mul(K[2]);
        }
        h ^ (h >> 29)
    }
}

fn digest_block(b: &[u8]) -> u64 {
    let mut d = Digest::new();
    d.update(b);
    d.finish()
}

/// The digests of the blocks of a stretch of a file, from bytes fed in file order in any
/// pieces. Blocks end on the file's multiples of [`DIGEST_BLOCK`]: a stretch that starts on
/// one digests as [`digest_file`] digests the same bytes.
pub struct BlockDigests {
    /// The file position of the next byte to digest.
    at: usize,
    end: usize,
    block: Digest,
    done: Vec<u64>,
}

impl BlockDigests {
    /// Digests of the file's bytes `from..end`.
    pub fn new(from: usize, end: usize) -> Self {
        BlockDigests {
            at: from,
            end,
            block: Digest::new(),
            done: Vec::with_capacity((end - from).div_ceil(DIGEST_BLOCK)),
        }
    }

    /// The file position of the next byte wanted.
    pub fn at(&self) -> usize {
        self.at
    }

    /// Whether bytes of the stretch remain to be fed.
    pub fn wants_more(&self) -> bool {
        self.at < self.end
    }

    /// Feeds `bytes`, which start at file position `pos`; what lies before the next byte
    /// wanted or past the stretch's end is ignored. A gap (`pos` past the next byte wanted)
    /// is the caller's mistake, and is ignored too: the bytes are not digested.
    pub fn feed(&mut self, pos: usize, bytes: &[u8]) {
        if pos > self.at {
            return;
        }
        let from = self.at - pos;
        let to = bytes.len().min(self.end.saturating_sub(pos));
        if from >= to {
            return;
        }
        let mut b = &bytes[from..to];
        while !b.is_empty() {
            let room = DIGEST_BLOCK - self.at % DIGEST_BLOCK;
            let take = room.min(b.len());
            self.block.update(&b[..take]);
            self.at += take;
            b = &b[take..];
            if self.at.is_multiple_of(DIGEST_BLOCK) {
                self.done.push(self.block.finish());
                self.block = Digest::new();
            }
        }
    }

    /// The blocks' digests, once every byte up to the stretch's end was fed.
    pub fn blocks(mut self) -> Vec<u64> {
        if !self.at.is_multiple_of(DIGEST_BLOCK) {
            self.done.push(self.block.finish());
        }
        self.done
    }

    /// The digest of a whole file of `len` bytes whose every byte was fed here.
    pub fn finish(self, len: usize) -> u64 {
        digest_blocks(self.blocks().into_iter(), len)
    }
}

/// The file's digest from its blocks' digests, in order.
pub fn digest_blocks(blocks: impl Iterator<Item = u64>, len: usize) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    len.hash(&mut h);
    for b in blocks {
        b.hash(&mut h);
    }
    h.finish()
}

/// A digest of the content of a data file, computed on every core; equal to [`digest_file`]
/// of the same bytes.
pub fn digest_bytes(bytes: &[u8]) -> u64 {
    let blocks: Vec<u64> = bytes.par_chunks(DIGEST_BLOCK).map(digest_block).collect();
    digest_blocks(blocks.into_iter(), bytes.len())
}

/// [`digest_bytes`] of a file, read in small pieces on every core (never whole), or None
/// when it cannot be read.
pub fn digest_file(path: &Path) -> Option<u64> {
    use std::os::unix::fs::FileExt;
    let file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len() as usize;
    let blocks: Vec<u64> = (0..len.div_ceil(DIGEST_BLOCK))
        .into_par_iter()
        .map_init(
            || vec![0u8; READ],
            |buf, k| {
                let (from, to) = (k * DIGEST_BLOCK, ((k + 1) * DIGEST_BLOCK).min(len));
                let mut d = Digest::new();
                let mut at = from;
                while at < to {
                    let n = READ.min(to - at);
                    file.read_exact_at(&mut buf[..n], at as u64).ok()?;
                    d.update(&buf[..n]);
                    at += n;
                }
                Some(d.finish())
            },
        )
        .collect::<Option<_>>()?;
    Some(digest_blocks(blocks.into_iter(), len))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bytes that differ everywhere, so that a piece digested twice or skipped shows.
    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn blocks_fed_in_uneven_pieces_digest_as_the_bytes_at_once() {
        let b = bytes(3 * DIGEST_BLOCK + 12_345);
        let whole = digest_bytes(&b);
        for piece in [1, 31, 33, 4096, 65_537, DIGEST_BLOCK + 3] {
            let mut d = BlockDigests::new(0, b.len());
            for (k, c) in b.chunks(piece).enumerate() {
                d.feed(k * piece, c);
            }
            assert_eq!(d.finish(b.len()), whole, "pieces of {piece} bytes");
        }
    }

    #[test]
    fn bytes_before_the_next_wanted_or_past_the_end_are_not_digested_twice() {
        let b = bytes(2 * DIGEST_BLOCK + 100);
        let (from, end) = (DIGEST_BLOCK, 2 * DIGEST_BLOCK + 50);
        let mut d = BlockDigests::new(from, end);
        // Overlapping reads, one starting before the stretch, the last running past it.
        d.feed(from - 10, &b[from - 10..from + 5000]);
        d.feed(from + 4000, &b[from + 4000..]);
        assert_eq!(d.at(), end);
        assert_eq!(
            d.blocks(),
            vec![
                digest_block(&b[from..2 * DIGEST_BLOCK]),
                digest_block(&b[2 * DIGEST_BLOCK..end])
            ]
        );
    }

    #[test]
    fn a_file_digests_as_its_bytes_and_changes_with_one_byte() {
        let dir = std::env::temp_dir().join(format!("kat-digest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.geojson");
        let mut b = bytes(DIGEST_BLOCK + READ + 7);
        std::fs::write(&path, &b).unwrap();
        assert_eq!(digest_file(&path), Some(digest_bytes(&b)));
        b[DIGEST_BLOCK + 3] ^= 1;
        std::fs::write(&path, &b).unwrap();
        assert_eq!(digest_file(&path), Some(digest_bytes(&b)));
        assert_ne!(digest_bytes(&b), {
            b[DIGEST_BLOCK + 3] ^= 1;
            digest_bytes(&b)
        });
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
