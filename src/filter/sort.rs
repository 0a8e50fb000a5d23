//! `sortby`: ordering features by queryables and the id.
//!
//! Each column's distinct values are ranked once, so comparing two features costs two lookups
//! per key. The sort is stable: features equal on every key keep the order the query found
//! them in, so that the same request always pages the same way.
//!
//! Missing values sort after every value when ascending and before them when descending, as
//! PostgreSQL orders NULLs.

use super::plan::Source;
use super::translate::filter_queryables;
use super::Target;
use crate::catalog::config::CollectionSpec;
use crate::layer::column::{Values, NULL};
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

/// Sorts `items` (feature positions) by `keys`, stably.
pub fn sort(items: &mut [u32], keys: &[SortKey], source: &dyn Source) {
    enum Key<'a> {
        Ranked {
            codes: &'a [u32],
            rank: Vec<u32>,
            descending: bool,
        },
        Id {
            descending: bool,
        },
    }
    let keys: Vec<Key<'_>> = keys
        .iter()
        .map(|k| match k.target {
            Target::Column(c) => {
                let column = source.column(c);
                Key::Ranked {
                    codes: &column.codes,
                    rank: ranks(&column.values),
                    descending: k.descending,
                }
            }
            Target::Id => Key::Id {
                descending: k.descending,
            },
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
    items.sort_by(|&a, &b| {
        for k in &keys {
            let (o, descending) = match k {
                Key::Ranked {
                    codes,
                    rank,
                    descending,
                } => (
                    rank_of(codes, rank, a).cmp(&rank_of(codes, rank, b)),
                    *descending,
                ),
                Key::Id { descending } => {
                    (source.feature_id(a).cmp(source.feature_id(b)), *descending)
                }
            };
            let o = if descending { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        Ordering::Equal
    });
}
