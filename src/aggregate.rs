//! Counts by place and period: the matched features grouped by one or more queryables and by
//! the day, ISO week, month or year of their date, with one sum per numeric queryable.
//!
//! Everything is read from typed, dictionary-coded columns ([`Column`]): a group is decided
//! once per distinct value (a department, a date), then each feature costs a few lookups and
//! additions. Null values group as null; a null number adds 0 to a sum.
//!
//! ```
//! use kat::aggregate::{aggregate, Grouping, Period};
//! use kat::layer::column::{Column, Values, NULL};
//! let department = Column {
//!     codes: vec![0, 1, 0, NULL],
//!     values: Values::Text { text: vec!["Ouest".into(), "Nord".into()], folded: vec!["ouest".into(), "nord".into()] },
//! };
//! let fatalities = Column { codes: vec![0, 1, NULL, 0], values: Values::Integer(vec![3, 10]) };
//! let rows = aggregate(&[0, 1, 2, 3], &Grouping { by: vec![&department], period: None, sums: vec![&fatalities] });
//! let ouest = rows.iter().find(|r| r.keys[0].as_deref() == Some("Ouest")).unwrap();
//! assert_eq!((ouest.count, ouest.sums[0]), (2, 3.0));
//! assert_eq!(rows.iter().map(|r| r.count).sum::<u64>(), 4);
//! let _ = Period::Month;
//! ```

use crate::layer::column::{elements, Column, Values, NULL};
use chrono::Datelike;
use std::collections::HashMap;

/// The length of the periods features are counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    /// `2024-10-03`
    Day,
    /// An ISO 8601 week, Monday to Sunday, labelled by its ISO year: `2024-W41`.
    Week,
    /// `2024-10`
    Month,
    /// `2024`
    Year,
}

impl Period {
    /// The period named by `interval=`.
    pub fn parse(s: &str) -> Option<Period> {
        match s {
            "day" => Some(Period::Day),
            "week" => Some(Period::Week),
            "month" => Some(Period::Month),
            "year" => Some(Period::Year),
            _ => None,
        }
    }

    /// The period holding the instant (milliseconds since the epoch, UTC), as a sortable
    /// number.
    fn bucket(self, ms: i64) -> i64 {
        let day = ms.div_euclid(86_400_000);
        let date = || {
            chrono::DateTime::from_timestamp(day * 86_400, 0)
                .map(|d| d.date_naive())
                .unwrap_or_default()
        };
        match self {
            Period::Day => day,
            // 1970-01-01 was a Thursday: day -3 is the Monday that starts week 0.
            Period::Week => (day + 3).div_euclid(7),
            Period::Month => {
                let d = date();
                i64::from(d.year()) * 12 + i64::from(d.month0())
            }
            Period::Year => i64::from(date().year()),
        }
    }

    /// The label of a bucket from [`Period::bucket`].
    fn label(self, b: i64) -> String {
        let from_day = |day: i64| {
            chrono::DateTime::from_timestamp(day * 86_400, 0)
                .map(|d| d.date_naive())
                .unwrap_or_default()
        };
        match self {
            Period::Day => from_day(b).format("%Y-%m-%d").to_string(),
            Period::Week => {
                let w = from_day(b * 7 - 3).iso_week();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Period::Month => format!("{:04}-{:02}", b.div_euclid(12), b.rem_euclid(12) + 1),
            Period::Year => format!("{b:04}"),
        }
    }
}

/// What to group by and what to sum.
pub struct Grouping<'a> {
    /// The queryables' columns to group by, in order.
    pub by: Vec<&'a Column>,
    /// The period and the column of the dates it is read from (a date column).
    pub period: Option<(Period, &'a Column)>,
    /// The numeric columns to sum.
    pub sums: Vec<&'a Column>,
}

/// One group: its values (None for null), its period label, its count and its sums (in the
/// order of [`Grouping::sums`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub keys: Vec<Option<String>>,
    pub period: Option<String>,
    pub count: u64,
    pub sums: Vec<f64>,
}

/// A value as a group shows it: a text as the file holds it (an array's elements joined by
/// ", "), a number, a boolean.
fn label(values: &Values, code: usize) -> String {
    match values {
        Values::Text { text, .. } => elements(&text[code]).collect::<Vec<_>>().join(", "),
        Values::Date { text, .. } => text[code].to_string(),
        Values::Integer(v) => v[code].to_string(),
        Values::Number(v) => v[code].to_string(),
        Values::Boolean(v) => v[code].to_string(),
    }
}

/// One dimension of the groups: per code of its column, a dense index from 1 (0 is null),
/// and the labels of the dense indices.
struct Dim<'a> {
    codes: &'a [u32],
    dense: Vec<u64>,
    labels: Vec<Option<String>>,
    /// For sorting periods by time rather than by label.
    order: Vec<i64>,
}

impl<'a> Dim<'a> {
    fn of(c: &'a Column) -> Self {
        let n = c.values.len();
        let mut labels = vec![None];
        labels.extend((0..n).map(|k| Some(label(&c.values, k))));
        Dim {
            codes: &c.codes,
            dense: (1..=n as u64).collect(),
            labels,
            order: (0..=n as i64).collect(),
        }
    }

    fn period(p: Period, c: &'a Column) -> Self {
        let buckets: Vec<Option<i64>> = match &c.values {
            Values::Date { intervals, .. } => intervals
                .iter()
                .map(|iv| (iv.start != i64::MIN).then(|| p.bucket(iv.start)))
                .collect(),
            _ => vec![None; c.values.len()],
        };
        let mut distinct: Vec<i64> = buckets.iter().flatten().copied().collect();
        distinct.sort_unstable();
        distinct.dedup();
        let dense = buckets
            .iter()
            .map(|b| {
                b.map_or(0, |b| {
                    distinct.binary_search(&b).map_or(0, |i| i as u64 + 1)
                })
            })
            .collect();
        let mut labels = vec![None];
        labels.extend(distinct.iter().map(|b| Some(p.label(*b))));
        let mut order = vec![i64::MIN];
        order.extend(distinct.iter().copied());
        Dim {
            codes: &c.codes,
            dense,
            labels,
            order,
        }
    }

    #[inline]
    fn index(&self, idx: u32) -> u64 {
        let code = self.codes[idx as usize];
        if code == NULL {
            0
        } else {
            self.dense[code as usize]
        }
    }
}

/// Counts beyond this many groups are kept in a hash map rather than an array.
const DENSE_MAX: u64 = 1 << 22;

/// Groups the features at `positions` (each counted once).
pub fn aggregate(positions: &[u32], g: &Grouping) -> Vec<Row> {
    let mut dims: Vec<Dim> = g.by.iter().map(|c| Dim::of(c)).collect();
    if let Some((p, c)) = g.period {
        dims.push(Dim::period(p, c));
    }
    let mut strides = Vec::with_capacity(dims.len());
    let mut total: u64 = 1;
    for d in &dims {
        strides.push(total);
        total = total.saturating_mul(d.labels.len() as u64);
    }
    let key = |idx: u32| -> u64 {
        dims.iter()
            .zip(&strides)
            .map(|(d, s)| d.index(idx) * s)
            .sum()
    };
    let width = 1 + g.sums.len();
    // Per group: the count, then the sums.
    let mut acc: HashMap<u64, Vec<f64>> = HashMap::new();
    let mut dense: Vec<f64> = Vec::new();
    let use_dense = total.saturating_mul(width as u64) <= DENSE_MAX;
    if use_dense {
        dense = vec![0.0; total as usize * width];
    }
    for &idx in positions {
        let k = key(idx);
        let slot: &mut [f64] = if use_dense {
            let at = k as usize * width;
            &mut dense[at..at + width]
        } else {
            acc.entry(k).or_insert_with(|| vec![0.0; width])
        };
        slot[0] += 1.0;
        for (s, c) in slot[1..].iter_mut().zip(&g.sums) {
            *s += c.number(idx).unwrap_or(0.0);
        }
    }
    let groups: Vec<(u64, Vec<f64>)> = if use_dense {
        dense
            .chunks(width)
            .enumerate()
            .filter(|(_, v)| v[0] > 0.0)
            .map(|(k, v)| (k as u64, v.to_vec()))
            .collect()
    } else {
        acc.into_iter().collect()
    };
    let mut rows: Vec<(Vec<i64>, Row)> = groups
        .into_iter()
        .map(|(k, v)| {
            let mut parts: Vec<usize> = dims
                .iter()
                .zip(&strides)
                .map(|(d, s)| ((k / s) % d.labels.len() as u64) as usize)
                .collect();
            let period = g.period.map(|_| parts.pop().unwrap_or(0));
            let sort_key: Vec<i64> = Vec::new();
            let mut row = Row {
                keys: parts
                    .iter()
                    .zip(&dims)
                    .map(|(i, d)| d.labels[*i].clone())
                    .collect(),
                period: None,
                count: v[0] as u64,
                sums: v[1..].to_vec(),
            };
            let mut sort_key = sort_key;
            if let (Some(p), Some(d)) = (period, dims.last()) {
                row.period = d.labels[p].clone();
                sort_key.push(d.order[p]);
            }
            (sort_key, row)
        })
        .collect();
    rows.sort_by(|a, b| a.1.keys.cmp(&b.1.keys).then(a.0.cmp(&b.0)));
    rows.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temporal::parse_day;

    #[test]
    fn periods_are_labelled_as_iso_says() {
        let at = |d: &str| parse_day(d).unwrap().start;
        assert_eq!(
            Period::Week.label(Period::Week.bucket(at("2024-10-07"))),
            "2024-W41"
        );
        assert_eq!(
            Period::Week.label(Period::Week.bucket(at("2024-10-13"))),
            "2024-W41"
        );
        assert_eq!(
            Period::Week.label(Period::Week.bucket(at("2024-12-30"))),
            "2025-W01"
        );
        assert_eq!(
            Period::Week.label(Period::Week.bucket(at("2021-01-03"))),
            "2020-W53"
        );
        assert_eq!(
            Period::Month.label(Period::Month.bucket(at("2024-10-31"))),
            "2024-10"
        );
        assert_eq!(
            Period::Year.label(Period::Year.bucket(at("2023-01-01"))),
            "2023"
        );
        assert_eq!(
            Period::Day.label(Period::Day.bucket(at("1969-12-31"))),
            "1969-12-31"
        );
    }
}
