//! A queryable's values, one per feature, read once at load into a typed column.
//!
//! A column is dictionary-coded: `codes[i]` is the position of feature `i`'s value among the
//! column's distinct values, or [`NULL`] where the feature has none (the property is missing
//! or null). Few distinct values repeat across many features (departments, event types,
//! tolls), so a condition is decided once per distinct value, then each feature costs one
//! lookup.
//!
//! ```
//! use kat::layer::column::{Column, Values, NULL};
//! let fatalities = Column {
//!     codes: vec![0, 1, NULL, 0],
//!     values: Values::Integer(vec![3, 20]),
//! };
//! assert_eq!(fatalities.number(1), Some(20.0));
//! assert_eq!(fatalities.number(2), None);
//! ```

use crate::catalog::config::QueryableType;
use crate::temporal::{parse_feature_date, Interval};

/// The code of a feature without a value.
pub const NULL: u32 = u32::MAX;

/// The separator between the elements of an array value in [`Values::Text`].
pub const ELEMENT_SEPARATOR: char = '\u{1f}';

/// A column's distinct values, typed as the queryable declares.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// Texts as the file holds them, and folded (lower case, no accents; see
    /// [`crate::text::fold`]) for comparisons that ignore case and accents. An array's
    /// elements are joined by [`ELEMENT_SEPARATOR`], in order.
    Text {
        text: Vec<Box<str>>,
        folded: Vec<Box<str>>,
    },
    Integer(Vec<i64>),
    Number(Vec<f64>),
    Boolean(Vec<bool>),
    /// The interval each date covers (a whole day for `2024-10-03`, a month for `2024-10`),
    /// with the text as the file holds it.
    Date {
        intervals: Vec<Interval>,
        text: Vec<Box<str>>,
    },
}

impl Values {
    /// How many distinct values there are.
    pub fn len(&self) -> usize {
        match self {
            Values::Text { text, .. } => text.len(),
            Values::Integer(v) => v.len(),
            Values::Number(v) => v.len(),
            Values::Boolean(v) => v.len(),
            Values::Date { intervals, .. } => intervals.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The typed values of distinct texts (a number's text, `true`/`false`, a date's text,
    /// an array's elements joined by [`ELEMENT_SEPARATOR`]); `None` if one does not read as
    /// `kind`.
    ///
    /// ```
    /// use kat::catalog::config::QueryableType;
    /// use kat::layer::column::Values;
    /// let v = Values::from_texts(QueryableType::Integer, vec!["3".into(), "20".into()]);
    /// assert_eq!(v, Some(Values::Integer(vec![3, 20])));
    /// assert_eq!(Values::from_texts(QueryableType::Integer, vec!["ten".into()]), None);
    /// ```
    pub fn from_texts(kind: QueryableType, texts: Vec<Box<str>>) -> Option<Values> {
        Some(match kind {
            QueryableType::String(_) => Values::Text {
                folded: texts
                    .iter()
                    .map(|t| crate::text::fold(t).into_boxed_str())
                    .collect(),
                text: texts,
            },
            QueryableType::Integer => Values::Integer(
                texts
                    .iter()
                    .map(|t| t.parse().ok())
                    .collect::<Option<_>>()?,
            ),
            QueryableType::Number => Values::Number(
                texts
                    .iter()
                    .map(|t| t.parse().ok().filter(|n: &f64| n.is_finite()))
                    .collect::<Option<_>>()?,
            ),
            QueryableType::Boolean => Values::Boolean(
                texts
                    .iter()
                    .map(|t| match &**t {
                        "true" => Some(true),
                        "false" => Some(false),
                        _ => None,
                    })
                    .collect::<Option<_>>()?,
            ),
            QueryableType::Date => Values::Date {
                intervals: texts
                    .iter()
                    .map(|t| parse_feature_date(t))
                    .collect::<Option<_>>()?,
                text: texts,
            },
        })
    }

    /// The distinct values as texts, the inverse of [`Values::from_texts`].
    pub fn texts(&self) -> Vec<String> {
        match self {
            Values::Text { text, .. } | Values::Date { text, .. } => {
                text.iter().map(|t| t.to_string()).collect()
            }
            Values::Integer(v) => v.iter().map(|n| n.to_string()).collect(),
            Values::Number(v) => v.iter().map(|n| n.to_string()).collect(),
            Values::Boolean(v) => v.iter().map(|b| b.to_string()).collect(),
        }
    }
}

/// One queryable's values for every feature of a layer.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// Per feature, in layer order: the position of its value in `values`, or [`NULL`].
    pub codes: Vec<u32>,
    pub values: Values,
}

impl Column {
    /// The code of feature `idx`'s value ([`NULL`] for none).
    #[inline]
    pub fn code(&self, idx: u32) -> u32 {
        self.codes[idx as usize]
    }

    /// Feature `idx`'s value as a number, for integer and number columns.
    pub fn number(&self, idx: u32) -> Option<f64> {
        let code = self.code(idx);
        if code == NULL {
            return None;
        }
        match &self.values {
            Values::Integer(v) => Some(v[code as usize] as f64),
            Values::Number(v) => Some(v[code as usize]),
            _ => None,
        }
    }

    /// Feature `idx`'s text as the file holds it (array elements joined by
    /// [`ELEMENT_SEPARATOR`]), for text and date columns.
    pub fn text(&self, idx: u32) -> Option<&str> {
        let code = self.code(idx);
        if code == NULL {
            return None;
        }
        match &self.values {
            Values::Text { text, .. } | Values::Date { text, .. } => Some(&text[code as usize]),
            _ => None,
        }
    }

    /// For each distinct value, whether `keep` holds for it: a condition decided once per
    /// distinct value, for [`Column::matches`].
    pub fn decide(&self, keep: impl Fn(usize) -> bool) -> Vec<bool> {
        (0..self.values.len()).map(keep).collect()
    }

    /// Whether feature `idx` has a value and `decided` (from [`Column::decide`]) keeps it.
    #[inline]
    pub fn matches(&self, decided: &[bool], idx: u32) -> bool {
        let code = self.code(idx);
        code != NULL && decided[code as usize]
    }
}

/// The elements of an array value as [`Values::Text`] holds it.
pub fn elements(joined: &str) -> impl Iterator<Item = &str> {
    joined
        .split(ELEMENT_SEPARATOR)
        .filter(move |_| !joined.is_empty())
}
