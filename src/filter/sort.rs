//! `sortby`: ordering features by queryables and the id.
//!
//! Each column's distinct values are ranked once, so comparing two features costs two lookups
//! per key. Features equal on every key keep their positions' order, so that the same request
//! always pages the same way.
//!
//! Missing values sort after every value when ascending and before them when descending, as
//! PostgreSQL orders NULLs.

use super::plan::Source;
use super::translate::filter_queryables;
use super::Target;
use crate::catalog::config::CollectionSpec;
use crate::layer::column::{Values, NULL};
use rayon::slice::ParallelSliceMut;
use std::cmp::Ordering;

/// The most keys in one `sortby`.
pub const MAX_KEYS: usize = 8;

/// One key of a `sortby`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    pub target: Target,
    pub descending: bool,
}

/// Why a `sortby` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SortError {
    #[error("unknown property '{name}'; expected a comma-separated list of [+|-]name, each name one of: {known}")]
    Unknown { name: String, known: String },
    #[error("at most {MAX_KEYS} comma-separated keys [+|-]name, each once, none empty")]
    Shape,
}

/// Reads `sortby=+a,-b,c` against the collection's queryables and `id`.
///
/// ```
/// use kat::catalog::config::Config;
/// use kat::filter::{sort::parse_sortby, Target};
/// let c = Config::parse(
///     "[[collection]]\nid = \"a\"\nfile = \"a.geojson\"\n\
///      [collection.queryables.n]\ntype = \"integer\"\n",
///     "kat.toml".as_ref(),
/// )
/// .unwrap();
/// let keys = parse_sortby("-n,id", &c.collections[0]).unwrap();
/// assert_eq!(keys[0].target, Target::Column(0));
/// assert!(keys[0].descending && !keys[1].descending);
/// ```
pub fn parse_sortby(s: &str, spec: &CollectionSpec) -> Result<Vec<SortKey>, SortError> {
    let queryables = filter_queryables(spec);
    let mut keys: Vec<SortKey> = Vec::new();
    for part in s.split(',') {
        let part = part.trim();
        // A `+` arrives as a space when the client did not encode it.
        let (descending, name) = match part.as_bytes().first() {
            Some(b'-') => (true, &part[1..]),
            Some(b'+') => (false, &part[1..]),
            _ => (false, part),
        };
        let name = name.trim();
        if name.is_empty() {
            return Err(SortError::Shape);
        }
        let target = match queryables.iter().find(|(_, q)| q.name == name) {
            Some((pos, _)) => Target::Column(*pos),
            None if name == "id" => Target::Id,
            None => {
                let mut known: Vec<&str> =
                    queryables.iter().map(|(_, q)| q.name.as_str()).collect();
                known.push("id");
                return Err(SortError::Unknown {
                    name: name.to_string(),
                    known: known.join(", "),
                });
            }
        };
        if keys.iter().any(|k| k.target == target) {
            return Err(SortError::Shape);
        }
        keys.push(SortKey { target, descending });
    }
    if keys.len() > MAX_KEYS {
        return Err(SortError::Shape);
    }
    Ok(keys)
}

/// Each distinct value's rank in the column's order.
fn ranks(values: &Values) -> Vec<u32> {
    let n = values.len();
    let mut order: Vec<u32> = (0..n as u32).collect();
    let cmp = |a: &u32, b: &u32| -> Ordering {
        let (a, b) = (*a as usize, *b as usize);
        match values {
            Values::Text { text, .. } => text[a].cmp(&text[b]),
            Values::Integer(v) => v[a].cmp(&v[b]),
            Values::Number(v) => v[a].total_cmp(&v[b]),
            Values::Boolean(v) => v[a].cmp(&v[b]),
            Values::Date { intervals, .. } => {
                (intervals[a].start, intervals[a].end).cmp(&(intervals[b].start, intervals[b].end))
            }
        }
    };
    order.sort_by(cmp);
    let mut rank = vec![0u32; n];
    let mut r = 0u32;
    for (i, &v) in order.iter().enumerate() {
        if i > 0 && cmp(&order[i - 1], &v) != Ordering::Equal {
            r += 1;
        }
        rank[v as usize] = r;
    }
    rank
}

/// The name under which a layer keeps the order of these keys.
pub fn order_key(keys: &[SortKey]) -> String {
    let mut s = String::new();
    for k in keys {
        s.push(if k.descending { '-' } else { '+' });
        match k.target {
            Target::Column(c) => s.push_str(&c.to_string()),
            Target::Id => s.push_str("id"),
        }
        s.push(',');
    }
    s
}

/// Every feature position `0..n`, ordered by `keys`; features equal on every key keep their
/// positions' order.
pub fn order(n: usize, keys: &[SortKey], source: &(dyn Source + Sync)) -> Vec<u32> {
    let ranked: Vec<Option<(&[u32], Vec<u32>)>> = keys
        .iter()
        .map(|k| match k.target {
            Target::Column(c) => {
                let column = source.column(c);
                Some((&column.codes[..], ranks(&column.values)))
            }
            Target::Id => None,
        })
        .collect();
    let rank_of = |codes: &[u32], rank: &[u32], idx: u32| -> u32 {
        let c = codes[idx as usize];
        if c == NULL {
            u32::MAX
        } else {
            rank[c as usize]
        }
    };
    // One column: a key of (rank, position) per feature sorts as plain integers.
    if let [Some((codes, rank))] = &ranked[..] {
        let descending = keys[0].descending;
        let mut packed: Vec<u64> = (0..n as u32)
            .map(|idx| {
                let r = rank_of(codes, rank, idx);
                let r = if descending { u32::MAX - r } else { r };
                (u64::from(r) << 32) | u64::from(idx)
            })
            .collect();
        packed.par_sort_unstable();
        return packed.into_iter().map(|k| k as u32).collect();
    }
    let mut items: Vec<u32> = (0..n as u32).collect();
    items.par_sort_by(|&a, &b| {
        for (k, ranked) in keys.iter().zip(&ranked) {
            let o = match ranked {
                Some((codes, rank)) => rank_of(codes, rank, a).cmp(&rank_of(codes, rank, b)),
                None => source.feature_id(a).cmp(source.feature_id(b)),
            };
            let o = if k.descending { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
    items
}
