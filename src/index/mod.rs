//! The spatial index: a packed R-tree (entries sorted along a Hilbert curve, grouped into
//! nodes of [`NODE`]), whose every node covers a contiguous range of the entries.
//!
//! A map server must say how many features match (`numberMatched`) and jump to the n-th match
//! for paging, not only list them. Because a node covers a contiguous range of the entries, a
//! node whose box lies inside the query box is counted (or skipped while paging) in one step
//! from its range, so a count costs about the perimeter of the box, not its area, and the
//! entries of such a node are listed without testing them.
//!
//! The order of results is the index's own order (the Hilbert order of the entries' centres,
//! ties by position in the layer): stable for a given snapshot of the data, which is what
//! paging needs.
//!
//! ```
//! use kat::index::{Entry, SpatialIndex, Rect};
//! let entries = (0..100u32)
//!     .map(|i| Entry::point([i as f64 * 0.01, 0.0], i))
//!     .collect();
//! let index = SpatialIndex::build(entries);
//! let page = index.query(&[Rect::new([0.0, -1.0], [0.095, 1.0])], None, None, 2, 3);
//! assert_eq!(page.matched, 10);
//! assert_eq!(page.items.len(), 3);
//! ```

mod count;
pub mod geodesic;
mod near;
pub mod quad;

pub use count::CountGrid;
pub use near::NearHit;
pub use quad::QuadKeys;

use rayon::prelude::*;
use rstar::AABB;

/// Children per node.
pub const NODE: usize = 16;

/// An axis-aligned box in lon/lat degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub min: [f64; 2],
    pub max: [f64; 2],
}

impl Rect {
    pub fn new(min: [f64; 2], max: [f64; 2]) -> Self {
        Rect { min, max }
    }

    #[inline]
    fn intersects(&self, b: &Bbox) -> bool {
        b[0] <= self.max[0] && self.min[0] <= b[2] && b[1] <= self.max[1] && self.min[1] <= b[3]
    }

    #[inline]
    fn contains(&self, b: &Bbox) -> bool {
        self.min[0] <= b[0] && b[2] <= self.max[0] && self.min[1] <= b[1] && b[3] <= self.max[1]
    }
}

/// `[min lon, min lat, max lon, max lat]`.
pub(crate) type Bbox = [f64; 4];

/// A feature's envelope and its position in the layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub envelope: AABB<[f64; 2]>,
    pub idx: u32,
}

impl Entry {
    pub fn point(p: [f64; 2], idx: u32) -> Self {
        Entry {
            envelope: AABB::from_point(p),
            idx,
        }
    }
}

/// A test of one feature by its position in the layer.
pub type Accept<'a> = &'a dyn Fn(u32) -> bool;

/// A test of one feature by its position in the layer and the lower corner of its envelope
/// in the index: a point layer's point. Handing over the point the walk has just read saves
/// the test a fetch from the layer's own array, which the walk visits in no order that
/// array keeps; at a million points that fetch was half the time of a spatial filter.
pub type Keep<'a> = &'a dyn Fn(u32, [f64; 2]) -> bool;

/// One page of a query: how many features match in all, and the positions of this page's.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Page {
    pub matched: usize,
    pub items: Vec<u32>,
}

/// A packed R-tree. Entries are stored in tree order; node `j` of level `l` (level 0 holds the
/// nodes directly above the entries) covers entries `j * NODE^(l+1) ..` up to the next node's
/// first, and its children are nodes `j * NODE ..` of level `l - 1` (entries for level 0).
pub struct SpatialIndex {
    boxes: Vec<Bbox>,
    ids: Vec<u32>,
    /// Node boxes, level by level from the one above the entries; the last has at most
    /// `NODE` nodes.
    levels: Vec<Vec<Bbox>>,
    /// For a large layer of points: counts a box's matches from its edges.
    grid: Option<CountGrid>,
    /// For a layer of points: its points in map-tile order.
    quads: Option<QuadKeys>,
}

/// A layer of points with fewer entries than this is counted by the tree alone.
const GRID_MIN: usize = 4096;

/// One level of the Hilbert curve: the quadrant digit of `(bx, by)` and the orientation
/// after it, with the orientation carried as two bits, `swap` (1) and `flip` (2).
///
/// Each level's quadrant turns the rest of the curve (a swap of the axes, a flip of both);
/// those turns compose by toggling the two bits.
const fn hilbert_step(bx: u32, by: u32, state: u32) -> (u32, u32) {
    let (swap, flip) = (state & 1, state >> 1);
    let t = (bx ^ by) & swap;
    let (rx, ry) = (bx ^ t ^ flip, by ^ t ^ flip);
    // In the lower-left or lower-right quadrant the curve turns: a swap, and for the
    // lower-right also a flip.
    let low = ry ^ 1;
    ((3 * rx) ^ ry, (swap ^ low) | ((flip ^ (low & rx)) << 1))
}

/// Four levels at once: for each orientation and each pair of 4-bit nibbles `(x, y)`, the
/// eight bits of the curve's position they add (above) and the orientation after them.
const HILBERT_NIBBLES: [[u16; 256]; 4] = {
    let mut table = [[0u16; 256]; 4];
    let mut state = 0;
    while state < 4 {
        let mut xy = 0;
        while xy < 256 {
            let (x, y) = ((xy >> 4) as u32, (xy & 15) as u32);
            let (mut s, mut d, mut level) = (state as u32, 0u32, 4);
            while level > 0 {
                level -= 1;
                let (digit, next) = hilbert_step((x >> level) & 1, (y >> level) & 1, s);
                d = (d << 2) | digit;
                s = next;
            }
            table[state][xy] = ((d << 2) | s) as u16;
            xy += 1;
        }
        state += 1;
    }
    table
};

/// The position of (x, y) along a Hilbert curve over a 2^16 × 2^16 grid.
///
/// Read four levels at a time from [`HILBERT_NIBBLES`]: four lookups in a 2 KiB table
/// instead of sixteen dependent steps, which a bulk load of a million points felt.
#[inline]
fn hilbert(x: u32, y: u32) -> u32 {
    let (mut state, mut d) = (0usize, 0u32);
    for shift in [12, 8, 4, 0] {
        let xy = (((x >> shift) & 15) << 4 | ((y >> shift) & 15)) as usize;
        let e = u32::from(HILBERT_NIBBLES[state][xy]);
        d = (d << 8) | (e >> 2);
        state = (e & 3) as usize;
    }
    d
}

fn union(a: &Bbox, b: &Bbox) -> Bbox {
    [
        a[0].min(b[0]),
        a[1].min(b[1]),
        a[2].max(b[2]),
        a[3].max(b[3]),
    ]
}

const EMPTY: Bbox = [
    f64::INFINITY,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NEG_INFINITY,
];

fn cover(boxes: &[Bbox]) -> Vec<Bbox> {
    boxes
        .par_chunks(NODE)
        .with_min_len(256)
        .map(|c| c.iter().fold(EMPTY, |acc, b| union(&acc, b)))
        .collect()
}

/// The key of a point along the Hilbert curve over `all` (the entries' extent), packed above
/// its position `i` in one word.
fn hilbert_key(all: &Bbox) -> impl Fn([f64; 2], usize) -> u64 + Sync + '_ {
    let (w, h) = ((all[2] - all[0]).max(1e-12), (all[3] - all[1]).max(1e-12));
    let scale = |v: f64, lo: f64, span: f64| -> u32 {
        (((v - lo) / span) * 65535.0).clamp(0.0, 65535.0) as u32
    };
    move |c, i| {
        let (cx, cy) = (scale(c[0], all[0], w), scale(c[1], all[1], h));
        (u64::from(hilbert(cx, cy)) << 32) | i as u64
    }
}

/// The entries in tree order: `order` (keys from [`hilbert_key`]) sorted, and each entry's
/// box and position fetched by the position packed in its key.
fn pack(mut order: Vec<u64>, entry: impl Fn(usize) -> (Bbox, u32) + Sync) -> (Vec<Bbox>, Vec<u32>) {
    radsort::sort(&mut order);
    order
        .par_iter()
        .with_min_len(4096)
        .map(|k| entry((*k & 0xFFFF_FFFF) as usize))
        .unzip()
}

/// The node boxes above the entries, level by level up to a level of at most [`NODE`].
fn build_levels(boxes: &[Bbox]) -> Vec<Vec<Bbox>> {
    let mut levels = Vec::new();
    if !boxes.is_empty() {
        let mut level = cover(boxes);
        loop {
            let done = level.len() <= NODE;
            let next = (!done).then(|| cover(&level));
            levels.push(level);
            match next {
                Some(n) => level = n,
                None => break,
            }
        }
    }
    levels
}

impl SpatialIndex {
    /// Bulk-loads the entries (done once, when a layer is loaded).
    pub fn build(entries: Vec<Entry>) -> Self {
        let boxes: Vec<Bbox> = entries
            .iter()
            .map(|e| {
                let (lo, hi) = (e.envelope.lower(), e.envelope.upper());
                [lo[0], lo[1], hi[0], hi[1]]
            })
            .collect();
        let ids = entries.iter().map(|e| e.idx).collect();
        drop(entries);
        Self::from_boxes(boxes, ids)
    }

    /// Bulk-loads entries given as boxes and positions (points have equal corners).
    pub(crate) fn from_boxes(boxes: Vec<Bbox>, ids: Vec<u32>) -> Self {
        let all = boxes
            .par_iter()
            .with_min_len(4096)
            .fold(|| EMPTY, |acc, b| union(&acc, b))
            .reduce(|| EMPTY, |a, b| union(&a, &b));
        let key = hilbert_key(&all);
        // Key and position packed in one word: a sort of plain integers, ties by position.
        let order: Vec<u64> = boxes
            .par_iter()
            .enumerate()
            .with_min_len(4096)
            .map(|(i, b)| key([(b[0] + b[2]) / 2.0, (b[1] + b[3]) / 2.0], i))
            .collect();
        let (sorted_boxes, sorted_ids) = pack(order, |i| (boxes[i], ids[i]));
        drop(boxes);
        let (levels, grid) = rayon::join(
            || build_levels(&sorted_boxes),
            || {
                let points = sorted_boxes.len() >= GRID_MIN
                    && sorted_boxes.iter().all(|b| b[0] == b[2] && b[1] == b[3]);
                points.then(|| CountGrid::of_boxes(&sorted_boxes, &all))
            },
        );
        SpatialIndex {
            boxes: sorted_boxes,
            ids: sorted_ids,
            levels,
            grid,
            quads: None,
        }
    }

    /// Bulk-loads a layer of points, each entry the point at its position in `points`;
    /// points with NaN coordinates (features without a geometry) are left out. The points
    /// are read in place: a layer of points needs no boxes of its own before the tree's.
    ///
    /// ```
    /// use kat::index::{Rect, SpatialIndex};
    /// let points = [[0.0, 0.0], [f64::NAN, f64::NAN], [1.0, 1.0], [2.0, 2.0]];
    /// let index = SpatialIndex::from_points(&points);
    /// assert_eq!(index.len(), 3);
    /// let page = index.query(&[Rect::new([0.5, 0.5], [3.0, 3.0])], None, None, 0, 10);
    /// assert_eq!(page.matched, 2);
    /// let mut found = page.items.clone();
    /// found.sort();
    /// assert_eq!(found, vec![2, 3]);
    /// ```
    pub fn from_points(points: &[[f64; 2]]) -> Self {
        let placed = |p: &[f64; 2]| !p[0].is_nan() && !p[1].is_nan();
        let (all, m) = points
            .par_iter()
            .with_min_len(4096)
            .filter(|p| placed(p))
            .fold(
                || (EMPTY, 0usize),
                |(acc, m), p| (union(&acc, &[p[0], p[1], p[0], p[1]]), m + 1),
            )
            .reduce(|| (EMPTY, 0), |a, b| (union(&a.0, &b.0), a.1 + b.1));
        let key = hilbert_key(&all);
        // Keys written in place when every point is placed: a filtered collect gathers
        // pieces and copies them once more.
        let mut order: Vec<u64> = Vec::new();
        if m == points.len() {
            points
                .par_iter()
                .enumerate()
                .with_min_len(4096)
                .map(|(i, p)| key(*p, i))
                .collect_into_vec(&mut order);
        } else {
            order = points
                .par_iter()
                .enumerate()
                .with_min_len(4096)
                .filter(|(_, p)| placed(p))
                .map(|(i, p)| key(*p, i))
                .collect();
        }
        let (boxes, ids) = pack(order, |i| {
            let p = points[i];
            ([p[0], p[1], p[0], p[1]], i as u32)
        });
        // Binned in tree order, where neighbouring points fall in neighbouring cells: from the
        // layer's order, the cells' counts missed the cache at every point.
        let ((levels, grid), quads) = rayon::join(
            || {
                rayon::join(
                    || build_levels(&boxes),
                    || (boxes.len() >= GRID_MIN).then(|| CountGrid::of_boxes(&boxes, &all)),
                )
            },
            || QuadKeys::build(points),
        );
        SpatialIndex {
            boxes,
            ids,
            levels,
            grid,
            quads: Some(quads),
        }
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// A point layer's points in map-tile order (None for other layers).
    pub fn quads(&self) -> Option<&QuadKeys> {
        self.quads.as_ref()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The bbox `[min x, min y, max x, max y]` of everything indexed, or None when empty.
    pub fn bbox(&self) -> Option<[f64; 4]> {
        let top = self.levels.last()?;
        Some(top.iter().fold(EMPTY, |acc, b| union(&acc, b)))
    }

    /// The entries below node `j` of `level`.
    #[inline]
    fn range(&self, level: usize, j: usize) -> std::ops::Range<usize> {
        let span = NODE.pow(level as u32 + 1);
        j * span..((j + 1) * span).min(self.ids.len())
    }

    /// Features intersecting any of `rects` (all features when `rects` is empty), in the
    /// index's stable order, from `offset` on, at most `limit`.
    ///
    /// `exact` decides for a feature whose envelope touches a box without lying inside it
    /// (a polygon near the box's edge); without it the envelope is the geometry (points).
    /// `filter` tests the non-spatial conditions. Without a filter, whole nodes inside a box
    /// are counted and skipped without being visited.
    pub fn query(
        &self,
        rects: &[Rect],
        exact: Option<Accept>,
        filter: Option<Keep>,
        offset: usize,
        limit: usize,
    ) -> Page {
        // Points in one box with no other condition: the grid counts, and the walk stops as
        // soon as the page is full.
        let grid = match (rects, &self.grid, exact, filter) {
            ([r], Some(grid), None, None) => Some((r, grid)),
            _ => None,
        };
        let mut page = self.walk(rects, exact, filter, offset, limit, grid.is_some());
        if let Some((r, grid)) = grid {
            page.matched = grid.count(r);
        }
        page
    }

    /// The features of [`SpatialIndex::query`]'s page, without counting the matches: the
    /// walk ends as soon as the page is full. For a caller that counts them another way.
    pub fn page(
        &self,
        rects: &[Rect],
        exact: Option<Accept>,
        filter: Option<Keep>,
        offset: usize,
        limit: usize,
    ) -> Vec<u32> {
        self.walk(rects, exact, filter, offset, limit, true).items
    }

    fn walk(
        &self,
        rects: &[Rect],
        exact: Option<Accept>,
        filter: Option<Keep>,
        offset: usize,
        limit: usize,
        stop_when_full: bool,
    ) -> Page {
        let mut walk = Walk {
            index: self,
            rects,
            exact,
            filter,
            skip: offset,
            want: limit,
            stop_when_full,
            page: Page {
                matched: 0,
                items: Vec::with_capacity(limit.min(10_000)),
            },
        };
        if let Some(top) = self.levels.last() {
            walk.nodes(self.levels.len() - 1, 0..top.len(), rects.is_empty());
        }
        walk.page
    }

    /// The features nearest to `origin` by geodesic distance, nearest first; see [`near`].
    pub fn nearest(
        &self,
        origin: [f64; 2],
        within_m: Option<f64>,
        rects: &[Rect],
        accept: Accept,
        distance_m: &dyn Fn(u32) -> f64,
        want: usize,
    ) -> Vec<NearHit> {
        near::nearest(self, origin, within_m, rects, accept, distance_m, want)
    }
}

struct Walk<'a> {
    index: &'a SpatialIndex,
    rects: &'a [Rect],
    exact: Option<Accept<'a>>,
    filter: Option<Keep<'a>>,
    skip: usize,
    want: usize,
    /// Whether the count comes from elsewhere, so the walk may end with the page.
    stop_when_full: bool,
    page: Page,
}

impl Walk<'_> {
    #[inline]
    fn full(&self) -> bool {
        self.stop_when_full && self.want == 0 && self.skip == 0
    }

    #[inline]
    fn emit(&mut self, idx: u32) {
        self.page.matched += 1;
        if self.skip > 0 {
            self.skip -= 1;
        } else if self.want > 0 {
            self.want -= 1;
            self.page.items.push(idx);
        }
    }

    /// Every entry of `range` matches: counts them, and lists those the page wants.
    fn take_all(&mut self, range: std::ops::Range<usize>) {
        let n = range.len();
        if self.skip >= n {
            self.skip -= n;
        } else {
            let from = range.start + self.skip;
            self.skip = 0;
            let to = from.saturating_add(self.want).min(range.end);
            self.page.items.extend_from_slice(&self.index.ids[from..to]);
            self.want -= to - from;
        }
        self.page.matched += n;
    }

    /// Nodes `js` of `level`; `inside`: their parent lies inside one of the boxes.
    fn nodes(&mut self, level: usize, js: std::ops::Range<usize>, inside: bool) {
        let index = self.index;
        for j in js {
            if self.full() {
                return;
            }
            let b = &index.levels[level][j];
            let child_inside = inside || self.rects.iter().any(|r| r.contains(b));
            if !child_inside && !self.rects.iter().any(|r| r.intersects(b)) {
                continue;
            }
            if child_inside && self.filter.is_none() {
                self.take_all(index.range(level, j));
                continue;
            }
            let first = j * NODE;
            if level == 0 {
                let end = (first + NODE).min(index.ids.len());
                self.entries(first..end, child_inside);
            } else {
                let end = (first + NODE).min(index.levels[level - 1].len());
                self.nodes(level - 1, first..end, child_inside);
            }
        }
    }

    fn entries(&mut self, range: std::ops::Range<usize>, inside: bool) {
        let index = self.index;
        if self.full() {
            return;
        }
        if self.want == 0 && self.skip == 0 && self.exact.is_none() && self.filter.is_none() {
            if let [r] = self.rects {
                // Only counting is left: a branch-free count of the boxes that touch `r`.
                self.page.matched += index.boxes[range]
                    .iter()
                    .map(|b| usize::from(r.intersects(b)))
                    .sum::<usize>();
                return;
            }
        }
        for i in range {
            let b = &index.boxes[i];
            let idx = index.ids[i];
            let certain = inside || self.rects.iter().any(|r| r.contains(b));
            if !certain {
                if !self.rects.iter().any(|r| r.intersects(b)) {
                    continue;
                }
                if self.exact.is_some_and(|exact| !exact(idx)) {
                    continue;
                }
            }
            if self.filter.is_some_and(|filter| !filter(idx, [b[0], b[1]])) {
                continue;
            }
            self.emit(idx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(n: u32) -> Vec<Entry> {
        (0..n * n)
            .map(|i| Entry::point([(i % n) as f64, (i / n) as f64], i))
            .collect()
    }

    /// The textbook rotate-and-reflect walk down the levels.
    fn hilbert_by_rotation(x: u32, y: u32) -> u32 {
        let (mut x, mut y, mut d) = (x, y, 0u32);
        let mut s = 1u32 << 15;
        while s > 0 {
            let (rx, ry) = (u32::from(x & s > 0), u32::from(y & s > 0));
            d += s * s * ((3 * rx) ^ ry);
            if ry == 0 {
                if rx == 1 {
                    (x, y) = (0xFFFF - x, 0xFFFF - y);
                }
                (x, y) = (y, x);
            }
            s >>= 1;
        }
        d
    }

    #[test]
    fn hilbert_keys_match_the_textbook_curve() {
        let mut v = 0x9E37_79B9u32;
        let mut next = || {
            v ^= v << 13;
            v ^= v >> 17;
            v ^= v << 5;
            v & 0xFFFF
        };
        for _ in 0..100_000 {
            let (x, y) = (next(), next());
            assert_eq!(hilbert(x, y), hilbert_by_rotation(x, y), "({x}, {y})");
        }
        for (x, y) in [
            (0, 0),
            (0xFFFF, 0),
            (0, 0xFFFF),
            (0xFFFF, 0xFFFF),
            (0x8000, 0x7FFF),
        ] {
            assert_eq!(hilbert(x, y), hilbert_by_rotation(x, y), "({x}, {y})");
        }
    }

    #[test]
    fn hilbert_keys_step_between_neighbouring_cells() {
        // The curve's first 4^6 steps fill the 64 × 64 cells at the origin, one cell each,
        // each step to a cell sharing a side with the last.
        let mut cell = vec![None; 4096];
        for x in 0..64u32 {
            for y in 0..64u32 {
                let d = hilbert(x, y) as usize;
                assert!(d < 4096, "({x}, {y}) at {d}");
                assert!(cell[d].replace((x, y)).is_none(), "two cells at {d}");
            }
        }
        for pair in cell.windows(2) {
            let ((x0, y0), (x1, y1)) = (pair[0].unwrap(), pair[1].unwrap());
            assert_eq!(x0.abs_diff(x1) + y0.abs_diff(y1), 1, "{pair:?}");
        }
    }

    #[test]
    fn counts_and_pages_agree_with_brute_force() {
        let index = SpatialIndex::build(grid(60));
        let r = Rect::new([3.5, 7.0], [41.0, 52.2]);
        let expected: Vec<u32> = grid(60)
            .into_iter()
            .filter(|e| {
                let (lo, hi) = (e.envelope.lower(), e.envelope.upper());
                r.intersects(&[lo[0], lo[1], hi[0], hi[1]])
            })
            .map(|e| e.idx)
            .collect();
        let all = index.query(&[r], None, None, 0, usize::MAX);
        assert_eq!(all.matched, expected.len());
        let mut seen = all.items.clone();
        seen.sort();
        assert_eq!(seen, expected);
        // Paging in steps of 37 visits the same sequence.
        let mut paged = Vec::new();
        let mut offset = 0;
        loop {
            let page = index.query(&[r], None, None, offset, 37);
            assert_eq!(page.matched, expected.len());
            if page.items.is_empty() {
                break;
            }
            offset += page.items.len();
            paged.extend(page.items);
        }
        assert_eq!(paged, all.items);
        // A filter walks instead of counting, and still agrees; it is handed each entry's
        // own point (grid(60) puts entry i at (i % 60, i / 60)).
        let even = |i: u32, p: [f64; 2]| {
            assert_eq!(
                p,
                [(i % 60) as f64, (i / 60) as f64],
                "the point of entry {i}"
            );
            i.is_multiple_of(2)
        };
        let filtered = index.query(&[r], None, Some(&even), 0, usize::MAX);
        assert_eq!(
            filtered.matched,
            expected.iter().filter(|i| i.is_multiple_of(2)).count()
        );
        // Without its count, a page is the same slice of the same walk.
        for offset in [
            0,
            1,
            500,
            filtered.items.len() - 3,
            filtered.items.len() + 5,
        ] {
            let page = index.page(&[r], None, Some(&even), offset, 10);
            let want: Vec<u32> = filtered
                .items
                .iter()
                .skip(offset)
                .take(10)
                .copied()
                .collect();
            assert_eq!(page, want, "offset {offset}");
        }
    }

    #[test]
    fn a_large_point_layer_counts_by_grid_and_pages_the_same() {
        // Above GRID_MIN: counts come from the grid, pages from the walk that stops early.
        let index = SpatialIndex::build(grid(80));
        assert!(index.grid.is_some());
        for r in [
            Rect::new([3.5, 7.0], [41.0, 52.2]),
            Rect::new([0.0, 0.0], [79.0, 79.0]),
            Rect::new([10.0, 10.0], [10.0, 60.0]),
            Rect::new([-5.0, -5.0], [200.0, 2.0]),
        ] {
            let expected = grid(80)
                .iter()
                .filter(|e| {
                    let p = e.envelope.lower();
                    r.min[0] <= p[0] && p[0] <= r.max[0] && r.min[1] <= p[1] && p[1] <= r.max[1]
                })
                .count();
            let all = index.query(&[r], None, None, 0, usize::MAX);
            assert_eq!(all.matched, expected, "{r:?}");
            assert_eq!(all.items.len(), expected);
            let mut paged = Vec::new();
            let mut offset = 0;
            loop {
                let page = index.query(&[r], None, None, offset, 100);
                assert_eq!(page.matched, expected);
                if page.items.is_empty() {
                    break;
                }
                offset += page.items.len();
                paged.extend(page.items);
            }
            assert_eq!(paged, all.items);
        }
    }

    #[test]
    fn a_layer_indexed_from_its_points_matches_brute_force_and_skips_unplaced_features() {
        // Scattered points, every seventh feature without a geometry (NaN), above GRID_MIN.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64
        };
        let points: Vec<[f64; 2]> = (0..6000)
            .map(|i| {
                if i % 7 == 3 {
                    [f64::NAN, f64::NAN]
                } else {
                    [-74.5 + 3.0 * next(), 18.0 + 2.0 * next()]
                }
            })
            .collect();
        let index = SpatialIndex::from_points(&points);
        assert_eq!(
            index.len(),
            points.iter().filter(|p| !p[0].is_nan()).count()
        );
        assert!(index.grid.is_some());
        // The same entries as boxes give the same order: pages do not depend on the path.
        let (boxes, ids): (Vec<Bbox>, Vec<u32>) = points
            .iter()
            .enumerate()
            .filter(|(_, p)| !p[0].is_nan())
            .map(|(i, p)| ([p[0], p[1], p[0], p[1]], i as u32))
            .unzip();
        let by_boxes = SpatialIndex::from_boxes(boxes, ids);
        for r in [
            Rect::new([-73.0, 18.4], [-72.1, 19.0]),
            Rect::new([-75.0, 17.0], [-71.0, 21.0]),
            Rect::new([-72.5, 18.0], [-72.5, 20.0]),
        ] {
            let mut expected: Vec<u32> = (0..points.len() as u32)
                .filter(|i| {
                    let p = points[*i as usize];
                    r.min[0] <= p[0] && p[0] <= r.max[0] && r.min[1] <= p[1] && p[1] <= r.max[1]
                })
                .collect();
            let all = index.query(&[r], None, None, 0, usize::MAX);
            assert_eq!(all.matched, expected.len(), "{r:?}");
            assert_eq!(by_boxes.query(&[r], None, None, 0, usize::MAX), all);
            let mut got = all.items.clone();
            got.sort_unstable();
            expected.sort_unstable();
            assert_eq!(got, expected, "{r:?}");
        }
    }

    #[test]
    fn boundaries_are_included() {
        let index = SpatialIndex::build(grid(10));
        let page = index.query(&[Rect::new([2.0, 2.0], [3.0, 3.0])], None, None, 0, 100);
        assert_eq!(page.matched, 4);
    }
}
