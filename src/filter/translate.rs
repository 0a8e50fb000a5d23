//! From the `cql2` crate's syntax tree to a checked [`Cond`].
//!
//! Every name is resolved against the collection's queryables (plus `id` and `geometry`),
//! every comparison is checked for types, and every literal is read once here: dates into
//! intervals, geometries into `geo` shapes, patterns into [`Pattern`]s.

use super::like::Pattern;
use super::{
    ArrayOp, Cmp, Cond, FilterError, Fold, Scalar, SpatialOp, Target, TemporalOp, Test,
    MAX_CONDITIONS, MAX_GEOMETRY_POINTS, MAX_LIST,
};
use crate::catalog::config::{CollectionSpec, Queryable, QueryableType};
use crate::temporal::{parse_day, parse_feature_date, parse_instant, Interval};
use cql2::Expr;

/// The functions a filter may call, for messages.
const FUNCTIONS: &str = "CASEI, ACCENTI, S_INTERSECTS, S_WITHIN, S_CONTAINS, S_DISJOINT, \
    S_EQUALS, S_TOUCHES, S_CROSSES, S_OVERLAPS, T_INTERSECTS, T_BEFORE, T_AFTER, T_DISJOINT, \
    T_EQUALS, T_DURING, T_CONTAINS, T_STARTS, T_STARTEDBY, T_FINISHES, T_FINISHEDBY, T_MEETS, \
    T_METBY, T_OVERLAPS, T_OVERLAPPEDBY, A_EQUALS, A_CONTAINS, A_CONTAINEDBY, A_OVERLAPS, DATE, \
    TIMESTAMP, INTERVAL, BBOX";

/// Why two properties cannot meet in one condition, and what to write instead. Conditions are
/// decided once per distinct value of one column: a condition between two columns has no
/// such plan, and is refused rather than answered wrongly.
const TWO_PROPERTIES: &str = "a property compared with a value (a number, a quoted string, \
    DATE(...), TIMESTAMP(...) or INTERVAL(...) of those); a condition between two properties, \
    such as fatalities > injured, is not supported";

/// The queryables a filter names, with their positions: all of them except one that reads the
/// same property as another queryable named after that property (`actor`, the substring
/// parameter over `actors`, is `actors` in a filter).
pub fn filter_queryables(spec: &CollectionSpec) -> Vec<(usize, &Queryable)> {
    spec.queryables
        .iter()
        .enumerate()
        .filter(|(_, q)| {
            q.name == q.property
                || !spec
                    .queryables
                    .iter()
                    .any(|o| o.name == q.property && o.name != q.name)
        })
        .collect()
}

/// What a property holds, as a filter compares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Number,
    Bool,
    Date,
    TextArray,
}

impl Kind {
    fn of(q: &Queryable) -> Kind {
        match q.kind {
            QueryableType::String(_) if q.array => Kind::TextArray,
            QueryableType::String(_) => Kind::Text,
            QueryableType::Integer | QueryableType::Number => Kind::Number,
            QueryableType::Boolean => Kind::Bool,
            QueryableType::Date => Kind::Date,
        }
    }

    fn describe(self, q: Option<&Queryable>) -> &'static str {
        match (self, q.map(|q| q.kind)) {
            (Kind::Number, Some(QueryableType::Integer)) => "an integer",
            (Kind::Number, _) => "a number",
            (Kind::Text, _) => "text",
            (Kind::Bool, _) => "a boolean",
            (Kind::Date, _) => "a date",
            (Kind::TextArray, _) => "an array of texts",
        }
    }
}

/// A literal value, read.
#[derive(Debug, Clone, PartialEq)]
enum Lit {
    Text(String),
    Number(f64),
    Bool(bool),
    Instant(Interval),
    Interval(Interval),
    Geometry(geo::Geometry<f64>),
    Array(Vec<Lit>),
    Null,
}

impl Lit {
    fn describe(&self) -> &'static str {
        match self {
            Lit::Text(_) => "a string",
            Lit::Number(_) => "a number",
            Lit::Bool(_) => "a boolean",
            Lit::Instant(_) => "a date or timestamp",
            Lit::Interval(_) => "an interval",
            Lit::Geometry(_) => "a geometry",
            Lit::Array(_) => "a list",
            Lit::Null => "NULL",
        }
    }
}

/// One side of a comparison or a predicate.
#[derive(Debug, Clone)]
enum Operand<'a> {
    Prop {
        target: Target,
        kind: Kind,
        name: &'a str,
        queryable: Option<&'a Queryable>,
    },
    Geometry,
    Lit(Lit),
}

struct Ctx<'a> {
    spec: &'a CollectionSpec,
    queryables: Vec<(usize, &'a Queryable)>,
    conditions: usize,
    points: usize,
}

/// Translates a parsed filter into a checked condition on `spec`'s queryables.
pub fn translate(expr: &Expr, spec: &CollectionSpec) -> Result<Cond, FilterError> {
    let mut ctx = Ctx {
        spec,
        queryables: filter_queryables(spec),
        conditions: 0,
        points: 0,
    };
    ctx.cond(expr)
}

/// The expression as cql2-text, short enough for a message.
fn at(expr: &Expr) -> String {
    let s = expr.to_text().unwrap_or_else(|_| format!("{expr:?}"));
    if s.chars().count() > 120 {
        s.chars().take(120).collect::<String>() + "…"
    } else {
        s
    }
}

fn invalid(expr: &Expr, expected: impl Into<String>) -> FilterError {
    FilterError::Invalid {
        at: at(expr),
        expected: expected.into(),
    }
}

fn arity(expr: &Expr, args: &[Box<Expr>], n: usize, name: &str) -> Result<(), FilterError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(invalid(
            expr,
            format!("{name} takes {n} arguments, found {}", args.len()),
        ))
    }
}

impl<'a> Ctx<'a> {
    fn count(&mut self) -> Result<(), FilterError> {
        self.conditions += 1;
        if self.conditions > MAX_CONDITIONS {
            return Err(FilterError::TooManyConditions);
        }
        Ok(())
    }

    fn cond(&mut self, expr: &Expr) -> Result<Cond, FilterError> {
        match expr {
            Expr::Bool(b) => Ok(Cond::Const(*b)),
            Expr::Property { .. } => match self.operand(expr)? {
                (
                    Operand::Prop {
                        target,
                        kind: Kind::Bool,
                        ..
                    },
                    fold,
                ) => {
                    self.count()?;
                    Ok(Cond::Value {
                        target,
                        fold,
                        test: Test::Cmp(Cmp::Eq, Scalar::Bool(true)),
                    })
                }
                _ => Err(invalid(
                    expr,
                    "a condition: a comparison (=, <>, <, >, <=, >=), LIKE, BETWEEN, IN, IS NULL, \
                     a spatial, temporal or array function, joined by AND, OR and NOT",
                )),
            },
            Expr::Operation { op, args } => self.operation(expr, op, args),
            _ => Err(invalid(
                expr,
                "a condition: a comparison (=, <>, <, >, <=, >=), LIKE, BETWEEN, IN, IS NULL, \
                 a spatial, temporal or array function, joined by AND, OR and NOT",
            )),
        }
    }

    fn operation(
        &mut self,
        expr: &Expr,
        op: &str,
        args: &[Box<Expr>],
    ) -> Result<Cond, FilterError> {
        match op {
            "and" | "or" => {
                if args.is_empty() {
                    return Err(invalid(expr, format!("{op} needs conditions to join")));
                }
                let parts = args
                    .iter()
                    .map(|a| self.cond(a))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if op == "and" {
                    Cond::And(parts)
                } else {
                    Cond::Or(parts)
                })
            }
            "not" => {
                arity(expr, args, 1, "NOT")?;
                Ok(Cond::Not(Box::new(self.cond(&args[0])?)))
            }
            "=" | "<>" | "<" | "<=" | ">" | ">=" => {
                arity(expr, args, 2, op)?;
                self.count()?;
                let cmp = match op {
                    "=" => Cmp::Eq,
                    "<>" => Cmp::Ne,
                    "<" => Cmp::Lt,
                    "<=" => Cmp::Le,
                    ">" => Cmp::Gt,
                    _ => Cmp::Ge,
                };
                self.compare(expr, cmp, &args[0], &args[1])
            }
            "like" => {
                arity(expr, args, 2, "LIKE")?;
                self.count()?;
                self.like(expr, &args[0], &args[1])
            }
            "between" => {
                arity(expr, args, 3, "BETWEEN")?;
                self.count()?;
                self.between(expr, args)
            }
            "in" => {
                arity(expr, args, 2, "IN")?;
                self.count()?;
                self.in_list(expr, &args[0], &args[1])
            }
            "isNull" => {
                arity(expr, args, 1, "IS NULL")?;
                self.count()?;
                match self.operand(&args[0])?.0 {
                    Operand::Prop { target, .. } => Ok(Cond::IsNull(target)),
                    Operand::Geometry => Ok(Cond::GeometryIsNull),
                    Operand::Lit(l) => Ok(Cond::Const(l == Lit::Null)),
                }
            }
            _ if SpatialOp::from_name(op).is_some() => {
                arity(expr, args, 2, op)?;
                self.count()?;
                let sop = SpatialOp::from_name(op).expect("checked above");
                self.spatial(expr, sop, &args[0], &args[1])
            }
            _ if TemporalOp::from_name(op).is_some() => {
                arity(expr, args, 2, op)?;
                self.count()?;
                let top = TemporalOp::from_name(op).expect("checked above");
                self.temporal(expr, op, top, &args[0], &args[1])
            }
            "a_equals" | "a_contains" | "a_containedBy" | "a_overlaps" => {
                arity(expr, args, 2, op)?;
                self.count()?;
                let aop = match op {
                    "a_equals" => ArrayOp::Equals,
                    "a_contains" => ArrayOp::Contains,
                    "a_containedBy" => ArrayOp::ContainedBy,
                    _ => ArrayOp::Overlaps,
                };
                self.array(expr, aop, &args[0], &args[1])
            }
            "+" | "-" | "*" | "/" | "%" | "^" | "div" => Err(invalid(
                expr,
                "a condition; arithmetic is not supported: compare a property with a value",
            )),
            "casei" | "accenti" => Err(invalid(
                expr,
                "a condition: CASEI and ACCENTI wrap the two sides of a comparison, e.g. \
                 CASEI(commune) = CASEI('saint-marc')",
            )),
            other => Err(FilterError::UnknownFunction {
                at: at(expr),
                name: other.to_string(),
                known: FUNCTIONS,
            }),
        }
    }

    /// Resolves a property, a value, or a value under CASEI/ACCENTI.
    fn operand(&mut self, expr: &Expr) -> Result<(Operand<'a>, Fold), FilterError> {
        match expr {
            Expr::Property { property } => Ok((self.property(expr, property)?, Fold::default())),
            Expr::Operation { op, args } if op == "casei" || op == "accenti" => {
                arity(expr, args, 1, op)?;
                let (inner, mut fold) = self.operand(&args[0])?;
                match &inner {
                    Operand::Prop {
                        kind: Kind::Text, ..
                    }
                    | Operand::Lit(Lit::Text(_)) => {}
                    _ => {
                        return Err(invalid(
                            expr,
                            format!(
                                "{} applies to text: a text property or a quoted string",
                                op.to_uppercase()
                            ),
                        ))
                    }
                }
                if op == "casei" {
                    fold.case = true;
                } else {
                    fold.accents = true;
                }
                Ok((inner, fold))
            }
            Expr::Operation { op, .. } => {
                if SpatialOp::from_name(op).is_some()
                    || TemporalOp::from_name(op).is_some()
                    || [
                        "and", "or", "not", "=", "<>", "<", ">", "<=", ">=", "like", "in",
                        "between", "isNull",
                    ]
                    .contains(&op.as_str())
                    || op.starts_with("a_")
                {
                    Err(invalid(expr, "a property or a value, not a condition"))
                } else if ["+", "-", "*", "/", "%", "^", "div"].contains(&op.as_str()) {
                    Err(invalid(
                        expr,
                        "a property or a value; arithmetic is not supported",
                    ))
                } else {
                    Err(FilterError::UnknownFunction {
                        at: at(expr),
                        name: op.clone(),
                        known: FUNCTIONS,
                    })
                }
            }
            _ => Ok((Operand::Lit(self.literal(expr)?), Fold::default())),
        }
    }

    fn property(&self, expr: &Expr, name: &str) -> Result<Operand<'a>, FilterError> {
        if let Some(&(pos, q)) = self.queryables.iter().find(|(_, q)| q.name == name) {
            return Ok(Operand::Prop {
                target: Target::Column(pos),
                kind: Kind::of(q),
                name: &q.name,
                queryable: Some(q),
            });
        }
        match name {
            "id" => Ok(Operand::Prop {
                target: Target::Id,
                kind: Kind::Text,
                name: "id",
                queryable: None,
            }),
            "geometry" => Ok(Operand::Geometry),
            _ => {
                let mut known: Vec<&str> = self
                    .queryables
                    .iter()
                    .map(|(_, q)| q.name.as_str())
                    .collect();
                known.extend(["id", "geometry"]);
                let mut message = known.join(", ");
                if self.spec.time_property.as_deref() == Some(name) {
                    message = format!(
                        "{message} ('{name}' dates the features but is not declared as a queryable)"
                    );
                }
                Err(FilterError::UnknownProperty {
                    at: at(expr),
                    name: name.to_string(),
                    known: message,
                })
            }
        }
    }

    fn literal(&mut self, expr: &Expr) -> Result<Lit, FilterError> {
        Ok(match expr {
            Expr::Literal(s) => Lit::Text(s.clone()),
            Expr::Float(f) if f.is_finite() => Lit::Number(*f),
            Expr::Float(_) => return Err(invalid(expr, "a finite number")),
            Expr::Bool(b) => Lit::Bool(*b),
            Expr::Null => Lit::Null,
            Expr::Date { date } => {
                let s = text_of(date).ok_or_else(|| invalid(expr, "DATE('YYYY-MM-DD')"))?;
                Lit::Instant(parse_day(s).ok_or_else(|| {
                    invalid(
                        expr,
                        format!("DATE('YYYY-MM-DD') with a real day, found '{s}'"),
                    )
                })?)
            }
            Expr::Timestamp { timestamp } => {
                let s = text_of(timestamp)
                    .ok_or_else(|| invalid(expr, "TIMESTAMP('YYYY-MM-DDTHH:MM:SSZ')"))?;
                Lit::Instant(Interval::instant(parse_instant(s).ok_or_else(|| {
                    invalid(
                        expr,
                        format!("TIMESTAMP('YYYY-MM-DDTHH:MM:SSZ') in RFC 3339, found '{s}'"),
                    )
                })?))
            }
            Expr::Interval { interval } => {
                if interval.len() != 2 {
                    return Err(invalid(expr, "INTERVAL(start, end) with two bounds"));
                }
                if interval
                    .iter()
                    .any(|b| matches!(**b, Expr::Property { .. }))
                {
                    return Err(invalid(
                        expr,
                        "INTERVAL bounds that are dates, timestamps or '..'; a property as a \
                         bound, as in INTERVAL(event_date, event_date), is not supported: test \
                         the date property itself, e.g. \
                         T_INTERSECTS(event_date, INTERVAL('2024-01-01', '2024-12-31'))",
                    ));
                }
                let start = bound(&interval[0], true).ok_or_else(|| {
                    invalid(expr, "INTERVAL bounds that are dates, timestamps or '..'")
                })?;
                let end = bound(&interval[1], false).ok_or_else(|| {
                    invalid(expr, "INTERVAL bounds that are dates, timestamps or '..'")
                })?;
                if start > end {
                    return Err(invalid(
                        expr,
                        "an INTERVAL whose start is not after its end",
                    ));
                }
                Lit::Interval(Interval { start, end })
            }
            Expr::BBox { bbox } => {
                let v: Vec<f64> = bbox
                    .iter()
                    .map(|b| match **b {
                        Expr::Float(f) if f.is_finite() => Some(f),
                        _ => None,
                    })
                    .collect::<Option<_>>()
                    .ok_or_else(|| {
                        invalid(expr, "BBOX(minLon, minLat, maxLon, maxLat) of numbers")
                    })?;
                let (x0, y0, x1, y1) = match v.len() {
                    4 => (v[0], v[1], v[2], v[3]),
                    6 => (v[0], v[1], v[3], v[4]),
                    _ => return Err(invalid(
                        expr,
                        "BBOX(minLon, minLat, maxLon, maxLat) with 4 numbers (or 6 with heights)",
                    )),
                };
                if x0 > x1 || y0 > y1 {
                    return Err(invalid(
                        expr,
                        "a BBOX whose minimum is not above its maximum",
                    ));
                }
                let rect = geo::Rect::new(geo::coord! {x: x0, y: y0}, geo::coord! {x: x1, y: y1});
                self.points += 5;
                Lit::Geometry(geo::Geometry::Polygon(rect.to_polygon()))
            }
            Expr::Geometry(_) => {
                use geo::CoordsIter;
                let g: geo::Geometry<f64> =
                    geo::Geometry::try_from(expr.clone()).map_err(|_| {
                        invalid(
                        expr,
                        "a valid geometry: POINT, LINESTRING, POLYGON or MULTI* in WKT or GeoJSON",
                    )
                    })?;
                self.points += g.coords_count();
                if self.points > MAX_GEOMETRY_POINTS {
                    return Err(FilterError::GeometryTooLarge);
                }
                if g.coords_iter()
                    .any(|c| !c.x.is_finite() || !c.y.is_finite())
                {
                    return Err(invalid(expr, "a geometry with finite coordinates"));
                }
                // A ring of fewer than four positions, or one that crosses itself, has no
                // inside to test against.
                if !geo::Validation::is_valid(&g) {
                    return Err(invalid(
                        expr,
                        "a valid geometry: polygon rings closed, of at least four positions, \
                         not crossing themselves",
                    ));
                }
                Lit::Geometry(g)
            }
            Expr::Array(items) => {
                if items.len() > MAX_LIST {
                    return Err(invalid(
                        expr,
                        format!("a list of at most {MAX_LIST} values"),
                    ));
                }
                Lit::Array(
                    items
                        .iter()
                        .map(|i| self.literal(i))
                        .collect::<Result<_, _>>()?,
                )
            }
            // CASEI('ouest') inside an IN list: the list is folded as its subject is.
            Expr::Operation { op, args }
                if (op == "casei" || op == "accenti") && args.len() == 1 =>
            {
                return self.literal(&args[0])
            }
            Expr::Property { property } => {
                return Err(invalid(
                    expr,
                    format!("a value where {property} stands: {TWO_PROPERTIES}"),
                ))
            }
            other => return Err(invalid(other, "a value")),
        })
    }

    /// The scalar that a property of `kind` is compared with.
    fn scalar(
        &self,
        expr: &Expr,
        name: &str,
        kind: Kind,
        queryable: Option<&Queryable>,
        lit: &Lit,
    ) -> Result<Scalar, FilterError> {
        let wrong = |example: &str| {
            invalid(
                expr,
                format!(
                    "{name} is {}: compare it with {example}, not with {}",
                    kind.describe(queryable),
                    lit.describe()
                ),
            )
        };
        match (kind, lit) {
            (_, Lit::Null) => Err(invalid(
                expr,
                format!("{name} IS NULL (a comparison with NULL is never true)"),
            )),
            (Kind::Text, Lit::Text(s)) => Ok(Scalar::Text(s.clone())),
            (Kind::Text, _) => Err(wrong("a quoted string such as 'Ouest'")),
            (Kind::Number, Lit::Number(n)) => Ok(Scalar::Number(*n)),
            (Kind::Number, _) => Err(wrong("a number such as 10")),
            (Kind::Bool, Lit::Bool(b)) => Ok(Scalar::Bool(*b)),
            (Kind::Bool, _) => Err(wrong("true or false")),
            (Kind::Date, Lit::Instant(i)) => Ok(Scalar::Time(i.start)),
            (Kind::Date, Lit::Text(s)) => parse_feature_date(s)
                .map(|i| Scalar::Time(i.start))
                .ok_or_else(|| wrong("DATE('2024-10-03') or TIMESTAMP('2024-10-03T12:00:00Z')")),
            (Kind::Date, Lit::Interval(_)) => Err(invalid(
                expr,
                format!(
                    "{name} is a date: compare it with a date, or test it against an interval \
                     with T_INTERSECTS or BETWEEN"
                ),
            )),
            (Kind::Date, _) => Err(wrong(
                "DATE('2024-10-03') or TIMESTAMP('2024-10-03T12:00:00Z')",
            )),
            (Kind::TextArray, _) => Err(invalid(
                expr,
                format!(
                    "{name} is an array of texts: test it with A_CONTAINS, A_CONTAINEDBY, \
                     A_OVERLAPS or A_EQUALS, e.g. A_CONTAINS({name}, ('Gran Grif'))"
                ),
            )),
        }
    }

    fn compare(&mut self, expr: &Expr, cmp: Cmp, a: &Expr, b: &Expr) -> Result<Cond, FilterError> {
        let (a, fa) = self.operand(a)?;
        let (b, fb) = self.operand(b)?;
        let fold = Fold {
            case: fa.case || fb.case,
            accents: fa.accents || fb.accents,
        };
        let (prop, lit, cmp) = match (a, b) {
            (p @ Operand::Prop { .. }, Operand::Lit(l)) => (p, l, cmp),
            (Operand::Lit(l), p @ Operand::Prop { .. }) => (p, l, cmp.flipped()),
            (Operand::Lit(x), Operand::Lit(y)) => {
                return constant_compare(expr, cmp, fold, &x, &y).map(Cond::Const)
            }
            (Operand::Geometry, _) | (_, Operand::Geometry) => {
                return Err(invalid(
                    expr,
                    "the geometry is compared with S_INTERSECTS, S_WITHIN, S_EQUALS and the \
                     other spatial functions",
                ))
            }
            (Operand::Prop { .. }, Operand::Prop { .. }) => {
                return Err(invalid(expr, TWO_PROPERTIES))
            }
        };
        let Operand::Prop {
            target,
            kind,
            name,
            queryable,
        } = prop
        else {
            unreachable!("matched above")
        };
        let scalar = self.scalar(expr, name, kind, queryable, &lit)?;
        Ok(Cond::Value {
            target,
            fold,
            test: Test::Cmp(cmp, scalar),
        })
    }

    /// The property a predicate tests, which must be one (not a value).
    fn subject(
        &mut self,
        expr: &Expr,
        e: &Expr,
        what: &str,
    ) -> Result<(Target, Kind, &'a str, Option<&'a Queryable>, Fold), FilterError> {
        match self.operand(e)? {
            (
                Operand::Prop {
                    target,
                    kind,
                    name,
                    queryable,
                },
                fold,
            ) => Ok((target, kind, name, queryable, fold)),
            _ => Err(invalid(
                expr,
                format!("{what} tests a property: put the property first"),
            )),
        }
    }

    fn like(&mut self, expr: &Expr, a: &Expr, b: &Expr) -> Result<Cond, FilterError> {
        let (target, kind, name, _, fa) = self.subject(expr, a, "LIKE")?;
        if kind != Kind::Text {
            return Err(invalid(
                expr,
                format!("LIKE applies to text, and {name} is not text"),
            ));
        }
        let (pattern, fb) = self.operand(b)?;
        let Operand::Lit(Lit::Text(p)) = pattern else {
            return Err(invalid(
                expr,
                "a quoted pattern after LIKE, e.g. 'Port%' (a property as the pattern is not \
                 supported)",
            ));
        };
        let pattern = Pattern::parse(&p).map_err(|e| invalid(expr, e.to_string()))?;
        Ok(Cond::Value {
            target,
            fold: Fold {
                case: fa.case || fb.case,
                accents: fa.accents || fb.accents,
            },
            test: Test::Like(pattern),
        })
    }

    fn between(&mut self, expr: &Expr, args: &[Box<Expr>]) -> Result<Cond, FilterError> {
        let (target, kind, name, queryable, fold) = self.subject(expr, &args[0], "BETWEEN")?;
        let mut bounds = Vec::with_capacity(2);
        for b in &args[1..] {
            match self.operand(b)?.0 {
                Operand::Lit(l) => bounds.push(self.scalar(expr, name, kind, queryable, &l)?),
                Operand::Prop { .. } => {
                    return Err(invalid(
                        expr,
                        format!("BETWEEN two values: {TWO_PROPERTIES}"),
                    ))
                }
                _ => return Err(invalid(expr, "BETWEEN two values")),
            }
        }
        let high = bounds.pop().expect("two bounds");
        let low = bounds.pop().expect("two bounds");
        Ok(Cond::Value {
            target,
            fold,
            test: Test::Between(low, high),
        })
    }

    fn in_list(&mut self, expr: &Expr, a: &Expr, b: &Expr) -> Result<Cond, FilterError> {
        let (target, kind, name, queryable, fa) = self.subject(expr, a, "IN")?;
        let (list, fb) = self.operand(b)?;
        let Operand::Lit(Lit::Array(items)) = list else {
            return Err(invalid(
                expr,
                "IN followed by a list of values, e.g. ('massacre', 'kidnapping')",
            ));
        };
        let values = items
            .iter()
            .map(|l| self.scalar(expr, name, kind, queryable, l))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Cond::Value {
            target,
            fold: Fold {
                case: fa.case || fb.case,
                accents: fa.accents || fb.accents,
            },
            test: Test::In(values),
        })
    }

    fn spatial(
        &mut self,
        expr: &Expr,
        op: SpatialOp,
        a: &Expr,
        b: &Expr,
    ) -> Result<Cond, FilterError> {
        let expected = "the geometry and a geometry literal (POINT, LINESTRING, POLYGON, MULTI* \
                        or BBOX(minLon, minLat, maxLon, maxLat)), e.g. \
                        S_INTERSECTS(geometry, BBOX(-72.4, 18.5, -72.2, 18.6))";
        let (a, _) = self.operand(a)?;
        let (b, _) = self.operand(b)?;
        match (a, b) {
            (Operand::Geometry, Operand::Lit(Lit::Geometry(g))) => {
                Ok(Cond::Spatial { op, literal: g })
            }
            (Operand::Lit(Lit::Geometry(g)), Operand::Geometry) => Ok(Cond::Spatial {
                op: op.flipped(),
                literal: g,
            }),
            (Operand::Lit(Lit::Geometry(x)), Operand::Lit(Lit::Geometry(y))) => {
                Ok(Cond::Const(super::plan::relate(op, &x, &y)))
            }
            (Operand::Prop { name, .. }, _) | (_, Operand::Prop { name, .. }) => Err(invalid(
                expr,
                format!("{expected}; {name} is not a geometry"),
            )),
            _ => Err(invalid(expr, expected)),
        }
    }

    fn temporal(
        &mut self,
        expr: &Expr,
        name: &str,
        op: TemporalOp,
        a: &Expr,
        b: &Expr,
    ) -> Result<Cond, FilterError> {
        enum Side<'n> {
            Prop(Target, &'n str),
            Instant(Interval),
            Interval(Interval),
        }
        let mut side = |e: &Expr| -> Result<Side<'a>, FilterError> {
            match self.operand(e)?.0 {
                Operand::Prop {
                    target,
                    kind: Kind::Date,
                    name,
                    ..
                } => Ok(Side::Prop(target, name)),
                Operand::Lit(Lit::Instant(i)) => Ok(Side::Instant(i)),
                Operand::Lit(Lit::Interval(i)) => Ok(Side::Interval(i)),
                Operand::Lit(Lit::Text(s)) if parse_feature_date(&s).is_some() => {
                    Ok(Side::Instant(parse_feature_date(&s).expect("checked")))
                }
                Operand::Prop { name, .. } => Err(invalid(
                    expr,
                    format!(
                        "a date property or a DATE, TIMESTAMP or INTERVAL; {name} is not a date"
                    ),
                )),
                _ => Err(invalid(
                    expr,
                    "a date property, DATE('YYYY-MM-DD'), TIMESTAMP('YYYY-MM-DDTHH:MM:SSZ') or \
                     INTERVAL(start, end)",
                )),
            }
        };
        let a = side(a)?;
        let b = side(b)?;
        if !op.takes_instants() {
            let instant = match (&a, &b) {
                (Side::Prop(_, n), _) | (_, Side::Prop(_, n)) => {
                    Some(format!("{n} is an instant (a date)"))
                }
                (Side::Instant(_), _) | (_, Side::Instant(_)) => {
                    Some("a DATE or TIMESTAMP is an instant".to_string())
                }
                _ => None,
            };
            if let Some(why) = instant {
                return Err(invalid(
                    expr,
                    format!(
                        "{} needs an interval on both sides, and {why}: use T_INTERSECTS, \
                         T_BEFORE, T_AFTER, T_EQUALS or T_DISJOINT, or INTERVAL(...) on both sides",
                        name.to_uppercase()
                    ),
                ));
            }
        }
        let interval = |s: &Side<'_>| match s {
            Side::Instant(i) | Side::Interval(i) => Some(*i),
            Side::Prop(..) => None,
        };
        match (&a, &b) {
            (Side::Prop(target, _), other) => match interval(other) {
                Some(i) => Ok(Cond::Value {
                    target: *target,
                    fold: Fold::default(),
                    test: Test::Temporal(op, i),
                }),
                None => Err(invalid(expr, TWO_PROPERTIES)),
            },
            (other, Side::Prop(target, _)) => Ok(Cond::Value {
                target: *target,
                fold: Fold::default(),
                test: Test::Temporal(op.flipped(), interval(other).expect("not a property")),
            }),
            _ => Ok(Cond::Const(op.holds(
                &interval(&a).expect("a value"),
                &interval(&b).expect("a value"),
            ))),
        }
    }

    fn array(&mut self, expr: &Expr, op: ArrayOp, a: &Expr, b: &Expr) -> Result<Cond, FilterError> {
        let (a, _) = self.operand(a)?;
        let (b, _) = self.operand(b)?;
        let texts = |items: &[Lit]| -> Result<Vec<String>, FilterError> {
            items
                .iter()
                .map(|l| match l {
                    Lit::Text(s) => Ok(s.clone()),
                    other => Err(invalid(
                        expr,
                        format!("a list of quoted strings, found {}", other.describe()),
                    )),
                })
                .collect()
        };
        let (target, kind, items, op) = match (a, b) {
            (Operand::Prop { target, kind, .. }, Operand::Lit(Lit::Array(items))) => {
                (target, kind, items, op)
            }
            (Operand::Lit(Lit::Array(items)), Operand::Prop { target, kind, .. }) => {
                let flipped = match op {
                    ArrayOp::Contains => ArrayOp::ContainedBy,
                    ArrayOp::ContainedBy => ArrayOp::Contains,
                    other => other,
                };
                (target, kind, items, flipped)
            }
            _ => return Err(invalid(
                expr,
                "an array property and a list of values, e.g. A_CONTAINS(actors, ('Gran Grif')); \
                 two properties are not supported",
            )),
        };
        if kind != Kind::TextArray {
            return Err(invalid(
                expr,
                "an array property (such as actors) and a list of values",
            ));
        }
        Ok(Cond::Value {
            target,
            fold: Fold::default(),
            test: Test::Array(op, texts(&items)?),
        })
    }
}

/// The text inside `DATE(...)` or `TIMESTAMP(...)`.
fn text_of(e: &Expr) -> Option<&str> {
    match e {
        Expr::Literal(s) => Some(s),
        _ => None,
    }
}

/// An interval's bound in milliseconds: a date's first or last millisecond, a timestamp, or
/// an open end.
fn bound(e: &Expr, start: bool) -> Option<i64> {
    let s = match e {
        Expr::Literal(s) => s.as_str(),
        Expr::Date { date } => text_of(date)?,
        Expr::Timestamp { timestamp } => text_of(timestamp)?,
        _ => return None,
    };
    if s == ".." || s.is_empty() {
        return Some(if start { i64::MIN } else { i64::MAX });
    }
    if let Some(day) = parse_day(s) {
        return Some(if start { day.start } else { day.end });
    }
    parse_instant(s)
}

fn constant_compare(
    expr: &Expr,
    cmp: Cmp,
    fold: Fold,
    a: &Lit,
    b: &Lit,
) -> Result<bool, FilterError> {
    let order = match (a, b) {
        (Lit::Text(x), Lit::Text(y)) => fold.apply(x).cmp(&fold.apply(y)),
        (Lit::Number(x), Lit::Number(y)) => x.total_cmp(y),
        (Lit::Bool(x), Lit::Bool(y)) => x.cmp(y),
        (Lit::Instant(x), Lit::Instant(y)) => x.start.cmp(&y.start),
        _ => {
            return Err(invalid(
                expr,
                format!(
                    "two values of one type, found {} and {}",
                    a.describe(),
                    b.describe()
                ),
            ))
        }
    };
    Ok(cmp.holds(order))
}
