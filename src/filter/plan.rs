//! A filter planned against one layer's columns, and evaluated per feature.
//!
//! Planning decides each condition on a column once for each of the column's distinct values
//! (a string pattern, a number comparison, a date relation), so that a feature costs one
//! lookup per condition. Spatial conditions keep their literal prepared for repeated
//! relations, and give the R-tree an envelope that every match must touch.
//!
//! Conditions follow SQL's three-valued logic, as a database evaluating the same CQL2 does: a
//! comparison on a missing value is unknown, `NOT` of unknown is unknown, and only features
//! for which the whole filter is true are kept.

use super::{ArrayOp, Cond, Fold, Scalar, SpatialOp, Target, Test};
use crate::layer::column::{elements, Column, Values, NULL};
pub use crate::layer::Shape;
use geo::{BoundingRect, Intersects, Relate};
use std::cmp::Ordering;

/// What a plan reads from a layer.
pub trait Source {
    /// The column of the queryable at this position of the collection's queryables.
    fn column(&self, position: usize) -> &Column;
    fn feature_id(&self, idx: u32) -> &str;
    /// The feature's geometry, `None` for a feature without one.
    fn shape(&self, idx: u32) -> Option<Shape<'_>>;
}

type Prepared = geo::PreparedGeometry<'static, geo::Geometry<f64>, f64>;

enum Node {
    Const(bool),
    And(Vec<Node>),
    Or(Vec<Node>),
    Not(Box<Node>),
    /// A condition on a column, decided per distinct value.
    Decided {
        column: usize,
        keep: Vec<bool>,
    },
    IsNull(usize),
    /// A test on the id, made per feature (ids are all distinct).
    Id {
        fold: Fold,
        test: Test,
    },
    GeometryIsNull,
    Spatial {
        op: SpatialOp,
        literal: geo::Geometry<f64>,
        prepared: Box<Prepared>,
    },
}

/// A filter ready to evaluate on one layer.
pub struct Plan {
    root: Node,
    envelope: Option<[f64; 4]>,
}

impl std::fmt::Debug for Plan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Plan")
            .field("envelope", &self.envelope)
            .finish()
    }
}

/// Whether `a` stands in `op` to `b`.
pub fn relate(op: SpatialOp, a: &geo::Geometry<f64>, b: &geo::Geometry<f64>) -> bool {
    let m = a.relate(b);
    match op {
        SpatialOp::Intersects => m.is_intersects(),
        SpatialOp::Disjoint => m.is_disjoint(),
        SpatialOp::Within => m.is_within(),
        SpatialOp::Contains => m.is_contains(),
        SpatialOp::Equals => m.is_equal_topo(),
        SpatialOp::Touches => m.is_touches(),
        SpatialOp::Crosses => m.is_crosses(),
        SpatialOp::Overlaps => m.is_overlaps(),
    }
}

impl Plan {
    /// Plans `cond` against `source`'s columns.
    pub fn new(cond: &Cond, source: &dyn Source) -> Plan {
        let root = node(cond, source);
        let envelope = envelope(cond);
        Plan { root, envelope }
    }

    /// A box that every matching feature's envelope intersects, when the filter implies one
    /// (a spatial condition other than `S_DISJOINT` at its top level). A box whose minimum
    /// exceeds its maximum means no feature can match.
    pub fn envelope(&self) -> Option<[f64; 4]> {
        self.envelope
    }

    /// The filter's value when it does not depend on the feature.
    pub fn constant(&self) -> Option<bool> {
        match self.root {
            Node::Const(b) => Some(b),
            _ => None,
        }
    }

    /// Whether the feature at `idx` matches.
    #[inline]
    pub fn matches(&self, source: &dyn Source, idx: u32) -> bool {
        eval(&self.root, source, idx, None) == Some(true)
    }

    /// Whether the feature at `idx` of a point layer, whose point the caller holds already
    /// (from the spatial index), matches: the same answer as [`Plan::matches`], without
    /// reading the point from the layer.
    #[inline]
    pub fn matches_point(&self, source: &dyn Source, idx: u32, point: [f64; 2]) -> bool {
        eval(&self.root, source, idx, Some(point)) == Some(true)
    }
}

fn envelope(cond: &Cond) -> Option<[f64; 4]> {
    match cond {
        Cond::Spatial { op, literal } if *op != SpatialOp::Disjoint => literal
            .bounding_rect()
            .map(|r| [r.min().x, r.min().y, r.max().x, r.max().y]),
        Cond::And(parts) => parts.iter().filter_map(envelope).reduce(|a, b| {
            [
                a[0].max(b[0]),
                a[1].max(b[1]),
                a[2].min(b[2]),
                a[3].min(b[3]),
            ]
        }),
        _ => None,
    }
}

fn node(cond: &Cond, source: &dyn Source) -> Node {
    match cond {
        Cond::Const(b) => Node::Const(*b),
        Cond::And(parts) => Node::And(parts.iter().map(|p| node(p, source)).collect()),
        Cond::Or(parts) => Node::Or(parts.iter().map(|p| node(p, source)).collect()),
        Cond::Not(inner) => Node::Not(Box::new(node(inner, source))),
        Cond::IsNull(Target::Column(c)) => Node::IsNull(*c),
        Cond::IsNull(Target::Id) => Node::Const(false),
        Cond::GeometryIsNull => Node::GeometryIsNull,
        Cond::Value {
            target: Target::Column(c),
            fold,
            test,
        } => {
            let column = source.column(*c);
            let test = folded(test, *fold);
            Node::Decided {
                column: *c,
                keep: column.decide(|i| decide(&column.values, i, *fold, &test)),
            }
        }
        Cond::Value {
            target: Target::Id,
            fold,
            test,
        } => Node::Id {
            fold: *fold,
            test: folded(test, *fold),
        },
        Cond::Spatial { op, literal } => Node::Spatial {
            op: *op,
            literal: literal.clone(),
            prepared: Box::new(Prepared::from(literal.clone())),
        },
    }
}

/// The test with its literals folded as the values will be.
fn folded(test: &Test, fold: Fold) -> Test {
    if fold.is_none() {
        return test.clone();
    }
    let scalar = |s: &Scalar| match s {
        Scalar::Text(t) => Scalar::Text(fold.apply(t).into_owned()),
        other => other.clone(),
    };
    match test {
        Test::Cmp(c, s) => Test::Cmp(*c, scalar(s)),
        Test::Between(a, b) => Test::Between(scalar(a), scalar(b)),
        Test::In(v) => Test::In(v.iter().map(scalar).collect()),
        Test::Like(p) => Test::Like(p.map_text(|c| fold.apply(c).into_owned())),
        other => other.clone(),
    }
}

/// `point`: the feature's point when the caller holds it, else read through `source`.
fn eval(node: &Node, source: &dyn Source, idx: u32, point: Option<[f64; 2]>) -> Option<bool> {
    match node {
        Node::Const(b) => Some(*b),
        Node::And(parts) => {
            let mut unknown = false;
            for p in parts {
                match eval(p, source, idx, point) {
                    Some(false) => return Some(false),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            (!unknown).then_some(true)
        }
        Node::Or(parts) => {
            let mut unknown = false;
            for p in parts {
                match eval(p, source, idx, point) {
                    Some(true) => return Some(true),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            (!unknown).then_some(false)
        }
        Node::Not(inner) => eval(inner, source, idx, point).map(|b| !b),
        Node::Decided { column, keep } => {
            let code = source.column(*column).code(idx);
            (code != NULL).then(|| keep[code as usize])
        }
        Node::IsNull(column) => Some(source.column(*column).code(idx) == NULL),
        Node::Id { fold, test } => Some(text_test(&fold.apply(source.feature_id(idx)), test)),
        Node::GeometryIsNull => Some(source.shape(idx).is_none()),
        Node::Spatial {
            op,
            literal,
            prepared,
        } => match point {
            Some(p) => Some(Shape::Point(p)),
            None => source.shape(idx),
        }
        .map(|shape| spatial(*op, literal, prepared, shape)),
    }
}

/// Whether the feature's `shape` stands in `op` to the literal.
fn spatial(
    op: SpatialOp,
    literal: &geo::Geometry<f64>,
    prepared: &Prepared,
    shape: Shape<'_>,
) -> bool {
    let intersects = || match shape {
        Shape::Point(p) => literal.intersects(&geo::Point::new(p[0], p[1])),
        Shape::Geometry(g) => literal.intersects(g),
    };
    match op {
        SpatialOp::Intersects => return intersects(),
        SpatialOp::Disjoint => return !intersects(),
        _ => {}
    }
    // The matrix relates the literal to the feature: the feature lies within the literal
    // when the literal contains it.
    let m = match shape {
        Shape::Point(p) => prepared.relate(&geo::Point::new(p[0], p[1])),
        Shape::Geometry(g) => prepared.relate(g),
    };
    match op {
        SpatialOp::Within => m.is_contains(),
        SpatialOp::Contains => m.is_within(),
        SpatialOp::Equals => m.is_equal_topo(),
        SpatialOp::Touches => m.is_touches(),
        SpatialOp::Crosses => m.is_crosses(),
        SpatialOp::Overlaps => m.is_overlaps(),
        SpatialOp::Intersects | SpatialOp::Disjoint => unreachable!("answered above"),
    }
}

fn scalar_order(value: &Scalar, lit: &Scalar) -> Option<Ordering> {
    match (value, lit) {
        (Scalar::Text(a), Scalar::Text(b)) => Some(a.as_str().cmp(b.as_str())),
        (Scalar::Number(a), Scalar::Number(b)) => a.partial_cmp(b),
        (Scalar::Bool(a), Scalar::Bool(b)) => Some(a.cmp(b)),
        (Scalar::Time(a), Scalar::Time(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

fn scalar_test(value: &Scalar, test: &Test) -> bool {
    match test {
        Test::Cmp(c, lit) => scalar_order(value, lit).is_some_and(|o| c.holds(o)),
        Test::Between(lo, hi) => {
            scalar_order(value, lo).is_some_and(|o| o != Ordering::Less)
                && scalar_order(value, hi).is_some_and(|o| o != Ordering::Greater)
        }
        Test::In(list) => list
            .iter()
            .any(|l| scalar_order(value, l) == Some(Ordering::Equal)),
        _ => false,
    }
}

fn text_test(value: &str, test: &Test) -> bool {
    match test {
        Test::Like(p) => p.matches(value),
        Test::Cmp(..) | Test::Between(..) | Test::In(..) => {
            scalar_test(&Scalar::Text(value.to_string()), test)
        }
        _ => false,
    }
}

/// Whether distinct value `i` of a column passes `test` (literals already folded).
fn decide(values: &Values, i: usize, fold: Fold, test: &Test) -> bool {
    match values {
        Values::Text { text, .. } => match test {
            Test::Array(op, lits) => array_test(*op, &text[i], lits),
            _ => text_test(&fold.apply(&text[i]), test),
        },
        Values::Integer(v) => scalar_test(&Scalar::Number(v[i] as f64), test),
        Values::Number(v) => scalar_test(&Scalar::Number(v[i]), test),
        Values::Boolean(v) => scalar_test(&Scalar::Bool(v[i]), test),
        Values::Date { intervals, .. } => match test {
            Test::Temporal(op, other) => op.holds(&intervals[i], other),
            _ => scalar_test(&Scalar::Time(intervals[i].start), test),
        },
    }
}

fn array_test(op: ArrayOp, joined: &str, lits: &[String]) -> bool {
    let has = |s: &str| elements(joined).any(|e| e == s);
    match op {
        ArrayOp::Contains => lits.iter().all(|l| has(l)),
        ArrayOp::ContainedBy => elements(joined).all(|e| lits.iter().any(|l| l == e)),
        ArrayOp::Overlaps => lits.iter().any(|l| has(l)),
        ArrayOp::Equals => elements(joined).eq(lits.iter().map(String::as_str)),
    }
}
