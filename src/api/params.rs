//! Query-string parsing: one small function per parameter, each returning a value or a
//! [`ParamError`] that names the parameter, the value and what was expected.
//!
//! ```
//! use kat::api::params::parse_bbox;
//! assert_eq!(parse_bbox("-73,18,-72,19").unwrap().len(), 1);
//! let err = parse_bbox("-73,18,nan,19").unwrap_err();
//! assert_eq!(err.param, "bbox");
//! ```

use crate::index::Rect;
use crate::temporal::{parse_day, parse_instant, Interval};
use std::collections::HashMap;

/// The longest query string Kat reads (longer: 414).
pub const MAX_QUERY_BYTES: usize = 8192;
/// The most parameters one request may carry.
pub const MAX_PARAMS: usize = 32;
/// `limit` above this is clamped to it, as OGC API - Features asks.
pub const MAX_LIMIT: usize = 10_000;
pub const DEFAULT_LIMIT: usize = 100;
/// The largest `within` radius, in metres.
pub const MAX_WITHIN_M: f64 = 1_000_000.0;
/// The longest filter or search value.
pub const MAX_VALUE_CHARS: usize = 200;

/// A parameter with a value Kat cannot use.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid value {value:?} for parameter '{param}': expected {expected}")]
pub struct ParamError {
    pub param: String,
    pub value: String,
    pub expected: String,
}

impl ParamError {
    pub fn new(param: &str, value: &str, expected: impl Into<String>) -> Self {
        let mut value = value.to_string();
        if value.chars().count() > 100 {
            value = value.chars().take(100).collect::<String>() + "…";
        }
        ParamError {
            param: param.to_string(),
            value,
            expected: expected.into(),
        }
    }
}

/// Why a query string as a whole was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum QueryError {
    #[error("the query string is {0} bytes; the limit is {MAX_QUERY_BYTES}")]
    TooLong(usize),
    #[error("the query string has {0} parameters; the limit is {MAX_PARAMS}")]
    TooMany(usize),
    #[error("parameter '{0}' is given more than once; give it once")]
    Repeated(String),
    #[error("unknown parameter '{name}'; this resource accepts: {allowed}")]
    Unknown { name: String, allowed: String },
    #[error(transparent)]
    Invalid(#[from] ParamError),
}

impl QueryError {
    /// The parameter the error is about, where there is one.
    pub fn param(&self) -> Option<&str> {
        match self {
            QueryError::Repeated(p) => Some(p),
            QueryError::Unknown { name, .. } => Some(name),
            QueryError::Invalid(e) => Some(&e.param),
            _ => None,
        }
    }
}

/// The decoded parameters of one request, each given once.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Params {
    map: HashMap<String, String>,
    order: Vec<String>,
}

impl Params {
    /// Decodes a raw query string, refusing repeats, and anything not in `allowed` (when given).
    pub fn parse(query: &str, allowed: Option<&[&str]>) -> Result<Params, QueryError> {
        if query.len() > MAX_QUERY_BYTES {
            return Err(QueryError::TooLong(query.len()));
        }
        let given = count_params(query);
        if given > MAX_PARAMS {
            return Err(QueryError::TooMany(given));
        }
        let mut p = Params::default();
        for (k, v) in form_urlencoded::parse(query.as_bytes()) {
            if k.is_empty() && v.is_empty() {
                continue;
            }
            let k = k.into_owned();
            if p.map.contains_key(&k) {
                return Err(QueryError::Repeated(k));
            }
            if let Some(allowed) = allowed {
                if !allowed.contains(&k.as_str()) {
                    return Err(QueryError::Unknown {
                        name: k,
                        allowed: allowed.join(", "),
                    });
                }
            }
            p.order.push(k.clone());
            p.map.insert(k, v.into_owned());
        }
        Ok(p)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// The parameters in the order given, for building links.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.order
            .iter()
            .map(|k| (k.as_str(), self.map[k].as_str()))
    }
}

/// How many parameters a raw query string carries (empty `&&` pieces do not count).
pub fn count_params(query: &str) -> usize {
    query
        .split('&')
        .filter(|piece| !piece.is_empty() && *piece != "=")
        .count()
}

fn number(param: &str, s: &str, expected: &str) -> Result<f64, ParamError> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| ParamError::new(param, s, expected))?;
    if !v.is_finite() {
        return Err(ParamError::new(param, s, expected));
    }
    Ok(v)
}

const BBOX_EXPECTED: &str = "4 comma-separated numbers minLon,minLat,maxLon,maxLat (or 6 with heights) in WGS84 degrees, longitude within ±180, latitude within ±90, minLat ≤ maxLat";

/// `bbox`: 4 or 6 numbers. A box whose west edge lies east of its east edge crosses the
/// antimeridian and becomes two boxes.
pub fn parse_bbox(s: &str) -> Result<Vec<Rect>, ParamError> {
    let err = || ParamError::new("bbox", s, BBOX_EXPECTED);
    let parts: Vec<&str> = s.split(',').collect();
    let v: Vec<f64> = parts
        .iter()
        .map(|p| number("bbox", p, BBOX_EXPECTED).map_err(|_| err()))
        .collect::<Result<_, _>>()?;
    let (x0, y0, x1, y1) = match v.len() {
        4 => (v[0], v[1], v[2], v[3]),
        6 => {
            if v[2] > v[5] {
                return Err(err());
            }
            (v[0], v[1], v[3], v[4])
        }
        _ => return Err(err()),
    };
    let lon_ok = |x: f64| (-180.0..=180.0).contains(&x);
    let lat_ok = |y: f64| (-90.0..=90.0).contains(&y);
    if !lon_ok(x0) || !lon_ok(x1) || !lat_ok(y0) || !lat_ok(y1) || y0 > y1 {
        return Err(err());
    }
    if x0 <= x1 {
        Ok(vec![Rect::new([x0, y0], [x1, y1])])
    } else {
        Ok(vec![
            Rect::new([x0, y0], [180.0, y1]),
            Rect::new([-180.0, y0], [x1, y1]),
        ])
    }
}

const DATETIME_EXPECTED: &str = "an RFC 3339 date-time (2024-10-03T00:00:00Z), a date (2024-10-03), or an interval start/end of those where one end may be open ('..' or empty), start not after end";

fn datetime_end(s: &str, whole: &str, start: bool) -> Result<Option<i64>, ParamError> {
    if s.is_empty() || s == ".." {
        return Ok(None);
    }
    if let Some(day) = parse_day(s) {
        return Ok(Some(if start { day.start } else { day.end }));
    }
    parse_instant(s)
        .map(Some)
        .ok_or_else(|| ParamError::new("datetime", whole, DATETIME_EXPECTED))
}

/// `datetime`: an instant, a day, or an interval with at most one open end.
pub fn parse_datetime(s: &str) -> Result<Interval, ParamError> {
    let err = || ParamError::new("datetime", s, DATETIME_EXPECTED);
    match s.split_once('/') {
        None => {
            if s.is_empty() || s == ".." {
                return Err(err());
            }
            if let Some(day) = parse_day(s) {
                return Ok(day);
            }
            parse_instant(s).map(Interval::instant).ok_or_else(err)
        }
        Some((a, b)) => {
            if b.contains('/') {
                return Err(err());
            }
            let start = datetime_end(a, s, true)?;
            let end = datetime_end(b, s, false)?;
            if start.is_none() && end.is_none() {
                return Err(err());
            }
            let iv = Interval {
                start: start.unwrap_or(i64::MIN),
                end: end.unwrap_or(i64::MAX),
            };
            if iv.start > iv.end {
                return Err(err());
            }
            Ok(iv)
        }
    }
}

/// `limit`: a whole number from 1; above [`MAX_LIMIT`] it is clamped.
pub fn parse_limit(s: &str) -> Result<usize, ParamError> {
    let expected =
        format!("a whole number from 1 (values above {MAX_LIMIT} are served as {MAX_LIMIT})");
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParamError::new("limit", s, expected));
    }
    match digits.parse::<u64>() {
        Ok(0) => Err(ParamError::new("limit", s, expected)),
        Ok(n) => Ok((n.min(MAX_LIMIT as u64)) as usize),
        Err(_) => Ok(MAX_LIMIT),
    }
}

/// `offset`: a whole number from 0.
pub fn parse_offset(s: &str) -> Result<usize, ParamError> {
    let digits = s.strip_prefix('+').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParamError::new("offset", s, "a whole number from 0"));
    }
    Ok(digits
        .parse::<u64>()
        .map(|n| n.min(usize::MAX as u64) as usize)
        .unwrap_or(usize::MAX))
}

const NEAR_EXPECTED: &str = "two comma-separated numbers LON,LAT in WGS84 degrees, longitude within ±180, latitude within ±90";

/// `near`: a point, longitude first.
pub fn parse_near(s: &str) -> Result<[f64; 2], ParamError> {
    let err = || ParamError::new("near", s, NEAR_EXPECTED);
    let (a, b) = s.split_once(',').ok_or_else(err)?;
    let lon = number("near", a, NEAR_EXPECTED).map_err(|_| err())?;
    let lat = number("near", b, NEAR_EXPECTED).map_err(|_| err())?;
    if !(-180.0..=180.0).contains(&lon) || !(-90.0..=90.0).contains(&lat) {
        return Err(err());
    }
    Ok([lon, lat])
}

/// `within`: a radius in metres, above 0 and at most [`MAX_WITHIN_M`].
pub fn parse_within(s: &str) -> Result<f64, ParamError> {
    let expected = format!("a distance in metres greater than 0 and at most {MAX_WITHIN_M}");
    let v = number("within", s, &expected)?;
    if v <= 0.0 || v > MAX_WITHIN_M {
        return Err(ParamError::new("within", s, expected));
    }
    Ok(v)
}

/// `near_feature`: `collection/featureId`.
pub fn parse_near_feature(s: &str) -> Result<(&str, &str), ParamError> {
    s.split_once('/')
        .filter(|(c, f)| !c.is_empty() && !f.is_empty())
        .ok_or_else(|| {
            ParamError::new(
                "near_feature",
                s,
                "COLLECTION/FEATURE_ID of an existing feature, e.g. incidents/HT-2025-007",
            )
        })
}

/// A filter value: not empty, not too long.
pub fn parse_value<'a>(param: &str, s: &'a str) -> Result<&'a str, ParamError> {
    if s.trim().is_empty() || s.chars().count() > MAX_VALUE_CHARS {
        return Err(ParamError::new(
            param,
            s,
            format!("a non-empty value of at most {MAX_VALUE_CHARS} characters"),
        ));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bbox_with_nan_or_infinity_is_refused() {
        for s in [
            "NaN,18,-72,19",
            "-73,18,inf,19",
            "-73,18,-72",
            "-73,19,-72,18",
            "-73,18,-72,91",
            "a,b,c,d",
            "",
        ] {
            assert_eq!(parse_bbox(s).unwrap_err().param, "bbox", "{s}");
        }
    }

    #[test]
    fn bbox_across_the_antimeridian_splits_in_two() {
        assert_eq!(parse_bbox("170,-10,-170,10").unwrap().len(), 2);
    }

    #[test]
    fn datetime_forms() {
        assert!(parse_datetime("2024-10-03").is_ok());
        assert!(parse_datetime("2024-10-03T00:00:00Z/..").is_ok());
        assert!(parse_datetime("/2024-10-03").is_ok());
        assert!(parse_datetime("../..").is_err());
        assert!(parse_datetime("2025-01-01/2024-01-01").is_err());
        assert!(parse_datetime("yesterday").is_err());
    }

    #[test]
    fn limit_above_the_maximum_is_clamped_and_zero_refused() {
        assert_eq!(parse_limit("20000").unwrap(), MAX_LIMIT);
        assert_eq!(parse_limit("99999999999999999999999").unwrap(), MAX_LIMIT);
        assert!(parse_limit("0").is_err());
        assert!(parse_limit("-1").is_err());
        assert!(parse_limit("1.5").is_err());
        assert!(parse_limit("unlimited").is_err());
    }

    #[test]
    fn repeated_parameters_are_refused() {
        assert_eq!(
            Params::parse("limit=1&limit=2", None).unwrap_err(),
            QueryError::Repeated("limit".into())
        );
    }
}
