//! Best-first nearest-neighbour search by geodesic distance.
//!
//! Nodes and features enter a priority queue keyed by a distance that nothing inside them can
//! beat ([`super::geodesic::LowerBound`]); a feature taken out with that bound is measured
//! exactly and goes back in with its distance. A measured feature that leaves the queue is
//! therefore nearer than everything still in it (at equal keys, unmeasured items leave first),
//! so results come out in order of distance, ties by position in the layer, and the search
//! stops after the k-th, or once the bound passes the radius. Only the features that can still
//! be among the k nearest are measured on the ellipsoid.

use super::geodesic::LowerBound;
use super::{Accept, Rect, SpatialIndex, NODE};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A feature's position in its layer and its geodesic distance in metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearHit {
    pub idx: u32,
    pub distance_m: f64,
}

#[derive(Clone, Copy)]
enum Item {
    /// Node `j` of a level.
    Node(u32, u32),
    /// A feature keyed by its lower bound, not measured yet, by its slot in the index.
    Bound(u32),
    /// A feature keyed by its exact distance.
    Feature(u32),
}

struct Queued {
    key: f64,
    item: Item,
}

impl Queued {
    /// At equal keys: nodes and unmeasured features first, then features by position.
    fn rank(&self) -> (u8, u32) {
        match self.item {
            Item::Node(..) | Item::Bound(_) => (0, 0),
            Item::Feature(idx) => (1, idx),
        }
    }
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    /// Reversed, so that `BinaryHeap` pops the nearest first.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .key
            .total_cmp(&self.key)
            .then_with(|| other.rank().cmp(&self.rank()))
    }
}

pub(super) fn nearest(
    index: &SpatialIndex,
    origin: [f64; 2],
    within_m: Option<f64>,
    rects: &[Rect],
    accept: Accept,
    distance_m: &dyn Fn(u32) -> f64,
    want: usize,
) -> Vec<NearHit> {
    let mut out = Vec::new();
    let Some(top) = index.levels.last() else {
        return out;
    };
    if want == 0 {
        return out;
    }
    let radius = within_m.unwrap_or(f64::INFINITY);
    let touches = |b: &super::Bbox| rects.is_empty() || rects.iter().any(|r| r.intersects(b));
    let bound = LowerBound::new(origin);
    let mut heap = BinaryHeap::with_capacity(256);
    let push_nodes = |heap: &mut BinaryHeap<Queued>, level: usize, js: std::ops::Range<usize>| {
        for j in js {
            let b = &index.levels[level][j];
            if !touches(b) {
                continue;
            }
            let lb = bound.to_box([b[0], b[1]], [b[2], b[3]]);
            if lb <= radius {
                heap.push(Queued {
                    key: lb,
                    item: Item::Node(level as u32, j as u32),
                });
            }
        }
    };
    push_nodes(&mut heap, index.levels.len() - 1, 0..top.len());
    while let Some(Queued { key, item }) = heap.pop() {
        match item {
            Item::Feature(idx) => {
                out.push(NearHit {
                    idx,
                    distance_m: key,
                });
                if out.len() >= want {
                    break;
                }
            }
            Item::Bound(slot) => {
                let (b, idx) = (&index.boxes[slot as usize], index.ids[slot as usize]);
                // A feature whose envelope is a point is that point: measure it from the
                // index's own copy rather than fetch its geometry from the layer.
                let d = if b[0] == b[2] && b[1] == b[3] {
                    super::geodesic::distance_m(origin, [b[0], b[1]])
                } else {
                    distance_m(idx)
                };
                if d <= radius {
                    heap.push(Queued {
                        key: d,
                        item: Item::Feature(idx),
                    });
                }
            }
            Item::Node(level, j) => {
                let (level, first) = (level as usize, j as usize * NODE);
                if level > 0 {
                    let end = (first + NODE).min(index.levels[level - 1].len());
                    push_nodes(&mut heap, level - 1, first..end);
                    continue;
                }
                let end = (first + NODE).min(index.ids.len());
                let leaf = &index.levels[0][j as usize];
                let leaf_cos = leaf[1].to_radians().cos().min(leaf[3].to_radians().cos());
                for i in first..end {
                    let (b, idx) = (&index.boxes[i], index.ids[i]);
                    if !touches(b) {
                        continue;
                    }
                    let lb = bound.to_box_within([b[0], b[1]], [b[2], b[3]], Some(leaf_cos));
                    if lb > radius || !accept(idx) {
                        continue;
                    }
                    heap.push(Queued {
                        key: lb,
                        item: Item::Bound(i as u32),
                    });
                }
            }
        }
    }
    out
}
