//! CQL2 filters (OGC API - Features Part 3): parsed, checked against a collection's
//! queryables, planned against its typed columns and evaluated per feature.
//!
//! A filter goes through three steps:
//! 1. [`guard`] bounds the raw text (nesting, operators) so that no parser recursion can
//!    exhaust a stack; the `cql2` crate then parses cql2-text or cql2-json into its syntax tree;
//! 2. [`translate`] turns that tree into a [`Cond`]: every property is a known queryable, the
//!    id or the geometry, every comparison is between values of one type, and the sizes of
//!    geometries and patterns are bounded. Anything else is a [`FilterError`];
//! 3. [`plan`] decides each condition on a column once per distinct value, so that evaluating
//!    a feature costs one lookup per condition; spatial conditions give the R-tree an envelope.
//!
//! ```
//! use kat::catalog::config::Config;
//! use kat::filter::{Filter, Lang};
//! let config = Config::parse(
//!     "[[collection]]\nid = \"a\"\nfile = \"a.geojson\"\n\
//!      [collection.queryables.fatalities]\ntype = \"integer\"\n",
//!     "kat.toml".as_ref(),
//! )
//! .unwrap();
//! let spec = &config.collections[0];
//! assert!(Filter::parse("fatalities >= 10", Lang::Text, spec).is_ok());
//! let e = Filter::parse("fatalities >= 'ten'", Lang::Text, spec).unwrap_err();
//! assert!(e.to_string().contains("fatalities"));
//! ```

pub mod guard;
mod layer;
pub mod like;
pub mod plan;
pub mod sort;
pub mod translate;

use crate::catalog::config::CollectionSpec;
use crate::temporal::Interval;
use like::Pattern;

pub use plan::{Plan, Shape, Source};

/// The encodings a filter may come in (`filter-lang`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// `cql2-text`, also accepted as `cql-text` (the draft's name, which GDAL 3.6 sends).
    Text,
    /// `cql2-json`.
    Json,
}

impl Lang {
    /// The `filter-lang` values accepted, in the order `/api` lists them.
    pub const NAMES: [&'static str; 3] = ["cql2-text", "cql2-json", "cql-text"];

    /// Reads a `filter-lang` value.
    pub fn parse(s: &str) -> Option<Lang> {
        match s {
            "cql2-text" | "cql-text" => Some(Lang::Text),
            "cql2-json" => Some(Lang::Json),
            _ => None,
        }
    }
}

/// The most conditions (comparisons, spatial and temporal predicates) in one filter.
pub const MAX_CONDITIONS: usize = 64;
/// The most vertices in all of a filter's geometry literals together.
pub const MAX_GEOMETRY_POINTS: usize = 2_000;
/// The most values in one `IN` list or array literal.
pub const MAX_LIST: usize = 100;

/// Why a filter was refused. Each says where in the filter and what was expected there.
#[derive(Debug, thiserror::Error)]
pub enum FilterError {
    #[error("the filter does not parse at character {at}: {problem}")]
    Syntax { at: usize, problem: String },
    #[error("the cql2-text filter does not parse: {problem}")]
    Text {
        problem: String,
        #[source]
        source: cql2::Error,
    },
    #[error("the cql2-json filter does not parse: {source}")]
    Json {
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "the filter nests brackets more than {} deep at character {at}; expected a flatter filter",
        guard::MAX_DEPTH
    )]
    TooDeep { at: usize },
    #[error("the filter has more than {} operators (reached at character {at}); expected a shorter filter", guard::MAX_OPERATORS)]
    TooManyTerms { at: usize },
    #[error("the filter has more than {MAX_CONDITIONS} conditions; expected a shorter filter")]
    TooManyConditions,
    #[error("in `{at}`: unknown property '{name}'; expected one of the queryables: {known}")]
    UnknownProperty {
        at: String,
        name: String,
        known: String,
    },
    #[error("in `{at}`: unknown function '{name}'; expected one of: {known}")]
    UnknownFunction {
        at: String,
        name: String,
        known: &'static str,
    },
    #[error("in `{at}`: {expected}")]
    Invalid { at: String, expected: String },
    #[error("the filter's geometries have more than {MAX_GEOMETRY_POINTS} vertices in all; expected smaller geometries (simplify them, or use BBOX)")]
    GeometryTooLarge,
}

/// A property a condition reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The queryable at this position of the collection's queryables (its column).
    Column(usize),
    /// The feature's id.
    Id,
}

/// How text is compared: as written, or ignoring case (`CASEI`) and accents (`ACCENTI`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Fold {
    pub case: bool,
    pub accents: bool,
}

impl Fold {
    /// The text as this fold compares it.
    pub fn apply(self, s: &str) -> std::borrow::Cow<'_, str> {
        use unicode_normalization::char::is_combining_mark;
        use unicode_normalization::UnicodeNormalization;
        match (self.case, self.accents) {
            (false, false) => s.into(),
            (true, false) => s.to_lowercase().into(),
            (case, true) => {
                let bare: String = s.nfd().filter(|c| !is_combining_mark(*c)).nfc().collect();
                if case {
                    bare.to_lowercase().into()
                } else {
                    bare.into()
                }
            }
        }
    }

    fn is_none(self) -> bool {
        !self.case && !self.accents
    }
}

/// A value a property is compared with, of the property's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Text(String),
    Number(f64),
    Bool(bool),
    /// A date or time, compared by its start (milliseconds since the epoch), as a database
    /// compares a date with a timestamp.
    Time(i64),
}

/// `=`, `<>`, `<`, `<=`, `>`, `>=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    /// The same comparison with its operands swapped.
    pub fn flipped(self) -> Cmp {
        match self {
            Cmp::Lt => Cmp::Gt,
            Cmp::Le => Cmp::Ge,
            Cmp::Gt => Cmp::Lt,
            Cmp::Ge => Cmp::Le,
            other => other,
        }
    }

    pub fn holds(self, o: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Cmp::Eq => o == Equal,
            Cmp::Ne => o != Equal,
            Cmp::Lt => o == Less,
            Cmp::Le => o != Greater,
            Cmp::Gt => o == Greater,
            Cmp::Ge => o != Less,
        }
    }
}

/// The temporal relations of CQL2, between closed intervals (an instant is an interval of
/// one length: a date covers its whole day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemporalOp {
    After,
    Before,
    Contains,
    Disjoint,
    During,
    Equals,
    FinishedBy,
    Finishes,
    Intersects,
    Meets,
    MetBy,
    OverlappedBy,
    Overlaps,
    StartedBy,
    Starts,
}

impl TemporalOp {
    pub fn from_name(op: &str) -> Option<TemporalOp> {
        use TemporalOp::*;
        Some(match op {
            "t_after" => After,
            "t_before" => Before,
            "t_contains" => Contains,
            "t_disjoint" => Disjoint,
            "t_during" => During,
            "t_equals" => Equals,
            "t_finishedBy" => FinishedBy,
            "t_finishes" => Finishes,
            "t_intersects" => Intersects,
            "t_meets" => Meets,
            "t_metBy" => MetBy,
            "t_overlappedBy" => OverlappedBy,
            "t_overlaps" => Overlaps,
            "t_startedBy" => StartedBy,
            "t_starts" => Starts,
            _ => return None,
        })
    }

    /// Whether CQL2 defines the relation for instants too; the others need an interval on
    /// both sides.
    pub fn takes_instants(self) -> bool {
        use TemporalOp::*;
        matches!(self, After | Before | Disjoint | Equals | Intersects)
    }

    /// The relation with its operands swapped.
    pub fn flipped(self) -> TemporalOp {
        use TemporalOp::*;
        match self {
            After => Before,
            Before => After,
            Contains => During,
            During => Contains,
            FinishedBy => Finishes,
            Finishes => FinishedBy,
            Meets => MetBy,
            MetBy => Meets,
            OverlappedBy => Overlaps,
            Overlaps => OverlappedBy,
            StartedBy => Starts,
            Starts => StartedBy,
            other => other,
        }
    }

    /// Whether `a` stands in this relation to `b`. Intervals are closed and in milliseconds,
    /// so one meets the next when it ends the millisecond before the other starts.
    pub fn holds(self, a: &Interval, b: &Interval) -> bool {
        use TemporalOp::*;
        let (s, e, bs, be) = (a.start, a.end, b.start, b.end);
        let next = |t: i64| t.saturating_add(1);
        match self {
            After => s > be,
            Before => e < bs,
            Contains => s < bs && e > be,
            Disjoint => e < bs || s > be,
            During => s > bs && e < be,
            Equals => s == bs && e == be,
            FinishedBy => s < bs && e == be,
            Finishes => s > bs && e == be,
            Intersects => s <= be && bs <= e,
            Meets => next(e) == bs,
            MetBy => next(be) == s,
            OverlappedBy => bs < s && s <= be && be < e,
            Overlaps => s < bs && bs <= e && e < be,
            StartedBy => s == bs && e > be,
            Starts => s == bs && e < be,
        }
    }
}

/// The spatial relations of CQL2 (DE-9IM, as `geo` computes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpatialOp {
    Intersects,
    Disjoint,
    Within,
    Contains,
    Equals,
    Touches,
    Crosses,
    Overlaps,
}

impl SpatialOp {
    pub fn from_name(op: &str) -> Option<SpatialOp> {
        use SpatialOp::*;
        Some(match op {
            "s_intersects" => Intersects,
            "s_disjoint" => Disjoint,
            "s_within" => Within,
            "s_contains" => Contains,
            "s_equals" => Equals,
            "s_touches" => Touches,
            "s_crosses" => Crosses,
            "s_overlaps" => Overlaps,
            _ => return None,
        })
    }

    /// The relation with its operands swapped.
    pub fn flipped(self) -> SpatialOp {
        match self {
            SpatialOp::Within => SpatialOp::Contains,
            SpatialOp::Contains => SpatialOp::Within,
            other => other,
        }
    }
}

/// `A_EQUALS`, `A_CONTAINS`, `A_CONTAINEDBY`, `A_OVERLAPS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrayOp {
    /// The same elements in the same order.
    Equals,
    /// Every element of the literal is in the property's array.
    Contains,
    /// Every element of the property's array is in the literal.
    ContainedBy,
    /// Some element is in both.
    Overlaps,
}

/// A test on one value of a property.
#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Cmp(Cmp, Scalar),
    Between(Scalar, Scalar),
    In(Vec<Scalar>),
    Like(Pattern),
    Temporal(TemporalOp, Interval),
    Array(ArrayOp, Vec<String>),
}

/// A checked filter: what to keep, in terms of the collection's columns.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Const(bool),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    /// The property is missing or null.
    IsNull(Target),
    /// The feature has no geometry.
    GeometryIsNull,
    /// A test on the property's value (text folded as `fold` says first).
    Value {
        target: Target,
        fold: Fold,
        test: Test,
    },
    /// A spatial relation between the feature's geometry and a literal.
    Spatial {
        op: SpatialOp,
        literal: geo::Geometry<f64>,
    },
}

/// A filter, parsed and checked against one collection.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub cond: Cond,
}

impl Filter {
    /// Parses `text` in `lang` and checks it against the collection's queryables.
    pub fn parse(text: &str, lang: Lang, spec: &CollectionSpec) -> Result<Filter, FilterError> {
        let expr = match lang {
            Lang::Text => {
                let text = guard::prepare_text(text)?;
                cql2::parse_text(&text).map_err(text_error)?
            }
            Lang::Json => {
                guard::check_json(text)?;
                cql2::parse_json(text).map_err(|source| FilterError::Json { source })?
            }
        };
        translate::translate(&expr, spec).map(|cond| Filter { cond })
    }
}

/// Names where a cql2-text filter failed and what the grammar expected there.
fn text_error(source: cql2::Error) -> FilterError {
    if let cql2::Error::Pest(e) = &source {
        let at = match e.location {
            pest::error::InputLocation::Pos(p) => p,
            pest::error::InputLocation::Span((p, _)) => p,
        };
        let expected = match &e.variant {
            pest::error::ErrorVariant::ParsingError { positives, .. } if !positives.is_empty() => {
                let mut names: Vec<String> = positives
                    .iter()
                    .map(|r| rule_name(&format!("{r:?}")))
                    .collect();
                names.sort();
                names.dedup();
                format!("expected {}", names.join(" or "))
            }
            _ => "expected a CQL2 expression".into(),
        };
        return FilterError::Syntax {
            at,
            problem: expected,
        };
    }
    FilterError::Text {
        problem: source.to_string(),
        source,
    }
}

/// A grammar rule's name as a user would say it.
fn rule_name(rule: &str) -> String {
    match rule {
        "Expr" | "ExprAtomValue" | "AtomicExpr" => "an expression".into(),
        "Identifier" | "IdentifierInner" => "a property name".into(),
        "SingleQuotedString" => "a quoted string".into(),
        "DECIMAL" | "Double" | "Integer" => "a number".into(),
        "EOI" => "the end of the filter".into(),
        "RPAREN" => "')'".into(),
        "LPAREN" => "'('".into(),
        "Eq" | "NotEq" | "Gt" | "GtEq" | "Lt" | "LtEq" => "a comparison operator".into(),
        "And" | "Or" => "AND or OR".into(),
        "Like" | "In" | "IsNullPostfix" | "BetweenPostfix" => "LIKE, IN, BETWEEN or IS NULL".into(),
        "Add" | "Subtract" | "Multiply" | "Divide" | "Modulo" | "Power" => {
            "an arithmetic operator".into()
        }
        "GEOMETRY" => "a geometry".into(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests;
