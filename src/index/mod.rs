//! The spatial index: one R-tree per layer, with the size of every subtree kept beside it.
//!
//! rstar answers "which envelopes intersect this box"; a map server must also say how many
//! features match (`numberMatched`) and jump to the n-th match for paging. Walking every match
//! to count it costs as much as the matches: over the whole country, the whole layer. With the
//! subtree sizes, a node whose envelope lies inside the query box is counted (or skipped while
//! paging) in one step, so a count costs about the perimeter of the box, not its area.
//!
//! The order of results is the tree's own depth-first order: stable for a given snapshot of the
//! data, which is what paging needs.
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

pub mod geodesic;
mod near;

pub use near::NearHit;

use rstar::{ParentNode, RStarInsertionStrategy, RTree, RTreeNode, RTreeObject, RTreeParams, AABB};
use std::collections::HashMap;

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

    fn intersects(&self, env: &AABB<[f64; 2]>) -> bool {
        let (lo, hi) = (env.lower(), env.upper());
        lo[0] <= self.max[0] && self.min[0] <= hi[0] && lo[1] <= self.max[1] && self.min[1] <= hi[1]
    }

    fn contains(&self, env: &AABB<[f64; 2]>) -> bool {
        let (lo, hi) = (env.lower(), env.upper());
        self.min[0] <= lo[0] && hi[0] <= self.max[0] && self.min[1] <= lo[1] && hi[1] <= self.max[1]
    }
}

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

impl RTreeObject for Entry {
    type Envelope = AABB<[f64; 2]>;
    fn envelope(&self) -> Self::Envelope {
        self.envelope
    }
}

/// Wider nodes than rstar's default (6): fewer levels to walk for the large boxes a map asks for.
pub struct Params;
impl RTreeParams for Params {
    const MIN_SIZE: usize = 8;
    const MAX_SIZE: usize = 24;
    const REINSERTION_COUNT: usize = 4;
    type DefaultInsertionStrategy = RStarInsertionStrategy;
}

type Tree = RTree<Entry, Params>;
type Node = ParentNode<Entry>;

/// A test of one feature by its position in the layer.
pub type Accept<'a> = &'a dyn Fn(u32) -> bool;

/// One page of a query: how many features match in all, and the positions of this page's.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Page {
    pub matched: usize,
    pub items: Vec<u32>,
}

/// An R-tree with subtree sizes.
pub struct SpatialIndex {
    tree: Tree,
    /// Subtree sizes keyed by node address. The tree is never changed after it is built, and
    /// every node but the root lives in a heap allocation that does not move; the root's size
    /// is the tree's size.
    sizes: HashMap<usize, u32>,
}

fn key(node: &Node) -> usize {
    node as *const Node as usize
}

impl SpatialIndex {
    /// Bulk-loads the entries (done once, when a layer is loaded).
    pub fn build(entries: Vec<Entry>) -> Self {
        let tree = Tree::bulk_load_with_params(entries);
        let mut sizes = HashMap::new();
        fn size_of(node: &Node, sizes: &mut HashMap<usize, u32>) -> u32 {
            let mut n = 0;
            for child in node.children() {
                n += match child {
                    RTreeNode::Leaf(_) => 1,
                    RTreeNode::Parent(p) => size_of(p, sizes),
                };
            }
            sizes.insert(key(node), n);
            n
        }
        for child in tree.root().children() {
            if let RTreeNode::Parent(p) = child {
                size_of(p, &mut sizes);
            }
        }
        SpatialIndex { tree, sizes }
    }

    pub fn len(&self) -> usize {
        self.tree.size()
    }

    pub fn is_empty(&self) -> bool {
        self.tree.size() == 0
    }

    /// The envelope of everything indexed, or None when empty.
    pub fn envelope(&self) -> Option<AABB<[f64; 2]>> {
        (self.tree.size() > 0).then(|| self.tree.root().envelope())
    }

    fn size(&self, node: &Node) -> usize {
        self.sizes.get(&key(node)).copied().unwrap_or(0) as usize
    }

    /// Features intersecting any of `rects` (all features when `rects` is empty), in the
    /// index's stable order, from `offset` on, at most `limit`.
    ///
    /// `exact` decides for a feature whose envelope touches a box without lying inside it
    /// (a polygon near the box's edge); without it the envelope is the geometry (points).
    /// `filter` tests the non-spatial conditions. Without a filter, whole subtrees inside a box
    /// are counted and skipped without being visited.
    pub fn query(
        &self,
        rects: &[Rect],
        exact: Option<Accept>,
        filter: Option<Accept>,
        offset: usize,
        limit: usize,
    ) -> Page {
        let mut walk = Walk {
            index: self,
            rects,
            exact,
            filter,
            skip: offset,
            want: limit,
            page: Page {
                matched: 0,
                items: Vec::with_capacity(limit.min(10_000)),
            },
        };
        if self.tree.size() > 0 {
            walk.node(self.tree.root(), rects.is_empty());
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
        near::nearest(
            self.tree.root(),
            self.tree.size(),
            origin,
            within_m,
            rects,
            accept,
            distance_m,
            want,
        )
    }
}

struct Walk<'a> {
    index: &'a SpatialIndex,
    rects: &'a [Rect],
    exact: Option<Accept<'a>>,
    filter: Option<Accept<'a>>,
    skip: usize,
    want: usize,
    page: Page,
}

impl Walk<'_> {
    fn emit(&mut self, idx: u32) {
        self.page.matched += 1;
        if self.skip > 0 {
            self.skip -= 1;
        } else if self.want > 0 {
            self.want -= 1;
            self.page.items.push(idx);
        }
    }

    /// `inside`: this node's envelope lies inside one of the boxes, so every feature in it
    /// intersects that box.
    fn node(&mut self, node: &Node, inside: bool) {
        for child in node.children() {
            match child {
                RTreeNode::Leaf(entry) => {
                    let certain = inside || self.rects.iter().any(|r| r.contains(&entry.envelope));
                    let touches =
                        certain || self.rects.iter().any(|r| r.intersects(&entry.envelope));
                    if !touches {
                        continue;
                    }
                    if !certain && self.exact.is_some_and(|exact| !exact(entry.idx)) {
                        continue;
                    }
                    if self.filter.is_some_and(|filter| !filter(entry.idx)) {
                        continue;
                    }
                    self.emit(entry.idx);
                }
                RTreeNode::Parent(p) => {
                    let env = p.envelope();
                    let child_inside = inside || self.rects.iter().any(|r| r.contains(&env));
                    if !child_inside && !self.rects.iter().any(|r| r.intersects(&env)) {
                        continue;
                    }
                    if child_inside && self.filter.is_none() {
                        let n = self.index.size(p);
                        if self.skip >= n {
                            self.skip -= n;
                            self.page.matched += n;
                            continue;
                        }
                        if self.want == 0 {
                            self.page.matched += n;
                            continue;
                        }
                    }
                    self.node(p, child_inside);
                }
            }
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

    #[test]
    fn counts_and_pages_agree_with_brute_force() {
        let index = SpatialIndex::build(grid(60));
        let r = Rect::new([3.5, 7.0], [41.0, 52.2]);
        let expected: Vec<u32> = grid(60)
            .into_iter()
            .filter(|e| r.intersects(&e.envelope))
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
        // A filter walks instead of counting, and still agrees.
        let even = |i: u32| i.is_multiple_of(2);
        let filtered = index.query(&[r], None, Some(&even), 0, usize::MAX);
        assert_eq!(
            filtered.matched,
            expected.iter().filter(|i| i.is_multiple_of(2)).count()
        );
    }

    #[test]
    fn boundaries_are_included() {
        let index = SpatialIndex::build(grid(10));
        let page = index.query(&[Rect::new([2.0, 2.0], [3.0, 3.0])], None, None, 0, 100);
        assert_eq!(page.matched, 4);
    }
}
