//! Best-first nearest-neighbour search by geodesic distance.
//!
//! Nodes enter a priority queue keyed by a distance that nothing inside them can beat
//! ([`super::geodesic::lower_bound_m`]); features enter with their exact distance. A feature
//! that leaves the queue is therefore nearer than everything still in it, so results come out in
//! order and the search stops after the k-th, or once the bound passes the radius.

use super::geodesic::lower_bound_m;
use super::{Accept, Entry, Node, Rect};
use rstar::RTreeNode;
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A feature's position in its layer and its geodesic distance in metres.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearHit {
    pub idx: u32,
    pub distance_m: f64,
}

enum Item<'a> {
    Node(&'a Node),
    Feature(u32),
}

struct Queued<'a> {
    key: f64,
    tie: u32,
    item: Item<'a>,
}

impl PartialEq for Queued<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Queued<'_> {}
impl PartialOrd for Queued<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued<'_> {
    /// Reversed, so that `BinaryHeap` pops the nearest first; ties by position in the layer.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .key
            .total_cmp(&self.key)
            .then_with(|| other.tie.cmp(&self.tie))
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) fn nearest(
    root: &Node,
    size: usize,
    origin: [f64; 2],
    within_m: Option<f64>,
    rects: &[Rect],
    accept: Accept,
    distance_m: &dyn Fn(u32) -> f64,
    want: usize,
) -> Vec<NearHit> {
    let mut out = Vec::new();
    if size == 0 || want == 0 {
        return out;
    }
    let radius = within_m.unwrap_or(f64::INFINITY);
    let touches =
        |env: &rstar::AABB<[f64; 2]>| rects.is_empty() || rects.iter().any(|r| r.intersects(env));
    let mut heap = BinaryHeap::new();
    heap.push(Queued {
        key: 0.0,
        tie: 0,
        item: Item::Node(root),
    });
    while let Some(Queued { key, item, .. }) = heap.pop() {
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
            Item::Node(node) => {
                for child in node.children() {
                    match child {
                        RTreeNode::Leaf(Entry { envelope, idx }) => {
                            if !touches(envelope)
                                || lower_bound_m(origin, envelope) > radius
                                || !accept(*idx)
                            {
                                continue;
                            }
                            let d = distance_m(*idx);
                            if d <= radius {
                                heap.push(Queued {
                                    key: d,
                                    tie: *idx,
                                    item: Item::Feature(*idx),
                                });
                            }
                        }
                        RTreeNode::Parent(p) => {
                            let env = p.envelope();
                            if !touches(&env) {
                                continue;
                            }
                            let lb = lower_bound_m(origin, &env);
                            if lb <= radius {
                                heap.push(Queued {
                                    key: lb,
                                    tie: 0,
                                    item: Item::Node(p),
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    out
}
