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
use std::path::Path;

/// Bytes per block of a digest.
pub const DIGEST_BLOCK: usize = 1 << 20;

/// Bytes read at a time by [`digest_file`]: small enough that the kernel's copy is still in
/// cache when it is digested.
const READ: usize = 64 << 10;

/// One block's digest, fed in pieces.
type Digest = xxhash_rust::xxh3::Xxh3Default;

fn digest_block(b: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(b)
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
                self.done.push(self.block.digest());
                self.block.reset();
            }
        }
    }

    /// The blocks' digests, once every byte up to the stretch's end was fed.
    pub fn blocks(mut self) -> Vec<u64> {
        if !self.at.is_multiple_of(DIGEST_BLOCK) {
            self.done.push(self.block.digest());
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
    let mut h = Digest::new();
    h.update(&(len as u64).to_le_bytes());
    for b in blocks {
        h.update(&b.to_le_bytes());
    }
    h.digest()
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
                Some(d.digest())
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
