//! Property tests for the query-string parsers in `kat::api::params`: they never panic,
//! valid values survive a format-and-parse round trip, and out-of-range values are refused
//! with an error naming the parameter.

use kat::api::params::{
    count_params, parse_bbox, parse_datetime, parse_limit, parse_near, parse_near_feature,
    parse_offset, parse_value, parse_within, ParamError, Params, QueryError, MAX_LIMIT, MAX_PARAMS,
    MAX_QUERY_BYTES, MAX_VALUE_CHARS, MAX_WITHIN_M,
};
use kat::temporal::format_instant;
use proptest::prelude::*;

/// Strings made of the characters the parsers care about, so that the interesting cases
/// (almost-numbers, separators, open ends) come up often.
fn numberish() -> impl Strategy<Value = String> {
    "[-+0-9.,eEnNaAiIfFxX/:TZ ]{0,40}"
}

fn lon() -> impl Strategy<Value = f64> {
    -180.0..=180.0f64
}

fn lat() -> impl Strategy<Value = f64> {
    -90.0..=90.0f64
}

/// A value outside `[-limit, limit]`, or not finite.
fn outside(limit: f64) -> impl Strategy<Value = f64> {
    prop_oneof![
        (limit + 1e-9..1e12f64),
        (-1e12..-limit - 1e-9f64),
        Just(f64::NAN),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
    ]
}

fn names(param: &str, e: &ParamError) -> bool {
    e.param == param && e.value.chars().count() <= 101
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    // Never panic, whatever the input; every error names its parameter.

    #[test]
    fn no_parser_panics_on_any_string(s in any::<String>()) {
        if let Err(e) = parse_bbox(&s) { prop_assert!(names("bbox", &e)); }
        if let Err(e) = parse_datetime(&s) { prop_assert!(names("datetime", &e)); }
        if let Err(e) = parse_limit(&s) { prop_assert!(names("limit", &e)); }
        if let Err(e) = parse_offset(&s) { prop_assert!(names("offset", &e)); }
        if let Err(e) = parse_near(&s) { prop_assert!(names("near", &e)); }
        if let Err(e) = parse_within(&s) { prop_assert!(names("within", &e)); }
        if let Err(e) = parse_near_feature(&s) { prop_assert!(names("near_feature", &e)); }
        if let Err(e) = parse_value("department", &s) { prop_assert!(names("department", &e)); }
        let _ = Params::parse(&s, None);
        let _ = Params::parse(&s, Some(&["bbox", "limit"][..]));
    }

    #[test]
    fn no_parser_panics_on_number_like_strings(s in numberish()) {
        let _ = parse_bbox(&s);
        let _ = parse_datetime(&s);
        let _ = parse_limit(&s);
        let _ = parse_offset(&s);
        let _ = parse_near(&s);
        let _ = parse_within(&s);
        let _ = parse_near_feature(&s);
        let _ = parse_value("q", &s);
    }

    #[test]
    fn datetime_never_panics_on_date_like_strings(s in "[0-9]{1,6}-[0-9]{1,3}-[0-9]{1,3}(T[0-9]{1,3}:[0-9]{1,3}:[0-9]{1,3}(\\.[0-9]{1,12})?(Z|[+-][0-9]{2}:[0-9]{2}))?(/(\\.\\.)?)?") {
        let _ = parse_datetime(&s);
    }

    #[test]
    fn query_strings_never_panic(pairs in prop::collection::vec(("[a-z%&=+]{0,6}", "[a-z0-9%&=+,.]{0,12}"), 0..40)) {
        let q: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let q = q.join("&");
        let _ = Params::parse(&q, None);
        let _ = Params::parse(&q, Some(&["a", "b", "limit"][..]));
    }

    // bbox

    #[test]
    fn a_valid_bbox_round_trips(x0 in lon(), x1 in lon(), ya in lat(), yb in lat()) {
        let (y0, y1) = if ya <= yb { (ya, yb) } else { (yb, ya) };
        let rects = parse_bbox(&format!("{x0},{y0},{x1},{y1}")).unwrap();
        if x0 <= x1 {
            prop_assert_eq!(rects.len(), 1);
            prop_assert_eq!(rects[0].min, [x0, y0]);
            prop_assert_eq!(rects[0].max, [x1, y1]);
        } else {
            // Across the antimeridian: the two halves.
            prop_assert_eq!(rects.len(), 2);
            prop_assert_eq!(rects[0].min, [x0, y0]);
            prop_assert_eq!(rects[0].max, [180.0, y1]);
            prop_assert_eq!(rects[1].min, [-180.0, y0]);
            prop_assert_eq!(rects[1].max, [x1, y1]);
        }
    }

    #[test]
    fn a_valid_bbox_with_heights_round_trips(x0 in lon(), dx in 0.0..10.0f64, ya in lat(), yb in lat(), z0 in -1e4..1e4f64, dz in 0.0..1e4f64) {
        let x1 = (x0 + dx).min(180.0);
        let (y0, y1) = if ya <= yb { (ya, yb) } else { (yb, ya) };
        let z1 = z0 + dz;
        let rects = parse_bbox(&format!("{x0},{y0},{z0},{x1},{y1},{z1}")).unwrap();
        prop_assert_eq!(rects.len(), 1);
        prop_assert_eq!(rects[0].min, [x0, y0]);
        prop_assert_eq!(rects[0].max, [x1, y1]);
    }

    #[test]
    fn a_bbox_latitude_out_of_range_is_refused(x0 in lon(), x1 in lon(), y in lat(), bad in outside(90.0), which in 0..2usize) {
        let s = if which == 0 { format!("{x0},{bad},{x1},{y}") } else { format!("{x0},{y},{x1},{bad}") };
        prop_assert_eq!(parse_bbox(&s).unwrap_err().param, "bbox");
    }

    #[test]
    fn a_bbox_longitude_out_of_range_is_refused(x in lon(), y0 in lat(), bad in outside(180.0), which in 0..2usize) {
        let y1 = y0;
        let s = if which == 0 { format!("{bad},{y0},{x},{y1}") } else { format!("{x},{y0},{bad},{y1}") };
        prop_assert_eq!(parse_bbox(&s).unwrap_err().param, "bbox");
    }

    #[test]
    fn an_inverted_bbox_latitude_is_refused(x0 in lon(), x1 in lon(), ya in lat(), yb in lat()) {
        prop_assume!(ya != yb);
        let (lo, hi) = if ya < yb { (ya, yb) } else { (yb, ya) };
        let s = format!("{x0},{hi},{x1},{lo}");
        prop_assert!(parse_bbox(&s).is_err(), "{} was accepted", s);
    }

    #[test]
    fn a_bbox_needs_four_or_six_numbers(v in prop::collection::vec(-10.0..10.0f64, 0..9)) {
        prop_assume!(v.len() != 4 && v.len() != 6);
        let s: Vec<String> = v.iter().map(f64::to_string).collect();
        prop_assert!(parse_bbox(&s.join(",")).is_err());
    }

    // near

    #[test]
    fn a_valid_near_round_trips(x in lon(), y in lat()) {
        prop_assert_eq!(parse_near(&format!("{x},{y}")).unwrap(), [x, y]);
    }

    #[test]
    fn a_near_out_of_range_is_refused(x in lon(), y in lat(), bad in outside(180.0), badlat in outside(90.0)) {
        prop_assert_eq!(parse_near(&format!("{bad},{y}")).unwrap_err().param, "near");
        prop_assert_eq!(parse_near(&format!("{x},{badlat}")).unwrap_err().param, "near");
        let (one, three) = (format!("{x}"), format!("{x},{y},{y}"));
        prop_assert!(parse_near(&one).is_err());
        prop_assert!(parse_near(&three).is_err());
    }

    // within

    #[test]
    fn a_valid_within_round_trips(m in 1e-6..=MAX_WITHIN_M) {
        prop_assert_eq!(parse_within(&m.to_string()).unwrap(), m);
    }

    #[test]
    fn a_within_out_of_range_is_refused(m in prop_oneof![-1e12..=0.0f64, (MAX_WITHIN_M + 1e-3)..1e15, Just(f64::NAN), Just(f64::INFINITY)]) {
        prop_assert_eq!(parse_within(&m.to_string()).unwrap_err().param, "within");
    }

    // limit and offset

    #[test]
    fn a_valid_limit_round_trips(n in 1..=MAX_LIMIT) {
        prop_assert_eq!(parse_limit(&n.to_string()).unwrap(), n);
        prop_assert_eq!(parse_limit(&format!("+{n}")).unwrap(), n);
    }

    #[test]
    fn a_limit_above_the_maximum_is_clamped(n in (MAX_LIMIT as u64 + 1)..u64::MAX, extra in "[0-9]{0,30}") {
        prop_assert_eq!(parse_limit(&n.to_string()).unwrap(), MAX_LIMIT);
        prop_assert_eq!(parse_limit(&format!("{n}{extra}")).unwrap(), MAX_LIMIT);
    }

    #[test]
    fn a_limit_below_one_or_not_whole_is_refused(n in 0..u64::MAX, frac in 1..1000u32) {
        prop_assert_eq!(parse_limit(&format!("-{n}")).unwrap_err().param, "limit");
        prop_assert_eq!(parse_limit(&format!("{n}.{frac}")).unwrap_err().param, "limit");
        prop_assert!(parse_limit("0").is_err());
        let exp = format!("{n}e2");
        prop_assert!(parse_limit(&exp).is_err());
    }

    #[test]
    fn a_valid_offset_round_trips(n in 0..u32::MAX as usize) {
        prop_assert_eq!(parse_offset(&n.to_string()).unwrap(), n);
    }

    #[test]
    fn a_negative_or_fractional_offset_is_refused(n in 1..u64::MAX, frac in 1..1000u32) {
        prop_assert_eq!(parse_offset(&format!("-{n}")).unwrap_err().param, "offset");
        prop_assert_eq!(parse_offset(&format!("{n}.{frac}")).unwrap_err().param, "offset");
    }

    // datetime

    #[test]
    fn an_instant_round_trips(secs in -62_135_596_800i64..253_402_300_799i64) {
        let text = format_instant(secs * 1000);
        let iv = parse_datetime(&text).unwrap();
        prop_assert_eq!(iv.start, secs * 1000);
        prop_assert_eq!(iv.end, secs * 1000);
    }

    #[test]
    fn a_day_covers_the_whole_day(days in -700_000i64..2_900_000i64) {
        let text = format_instant(days * 86_400_000);
        let day = &text[..10];
        let iv = parse_datetime(day).unwrap();
        prop_assert_eq!(iv.start, days * 86_400_000);
        prop_assert_eq!(iv.end, days * 86_400_000 + 86_400_000 - 1);
    }

    #[test]
    fn an_interval_is_ordered(a in 0i64..4_000_000_000, b in 0i64..4_000_000_000) {
        let (ta, tb) = (format_instant(a * 1000), format_instant(b * 1000));
        let r = parse_datetime(&format!("{ta}/{tb}"));
        if a <= b {
            let iv = r.unwrap();
            prop_assert_eq!((iv.start, iv.end), (a * 1000, b * 1000));
        } else {
            prop_assert_eq!(r.unwrap_err().param, "datetime");
        }
        // Either end may be open, never both.
        for open in ["..", ""] {
            let iv = parse_datetime(&format!("{ta}/{open}")).unwrap();
            prop_assert_eq!((iv.start, iv.end), (a * 1000, i64::MAX));
            let iv = parse_datetime(&format!("{open}/{tb}")).unwrap();
            prop_assert_eq!((iv.start, iv.end), (i64::MIN, b * 1000));
        }
    }

    // near_feature and filter values

    #[test]
    fn near_feature_splits_at_the_first_slash(c in "[a-z_]{1,12}", f in "[A-Za-z0-9/-]{1,20}") {
        let s = format!("{c}/{f}");
        prop_assert_eq!(parse_near_feature(&s).unwrap(), (c.as_str(), f.as_str()));
    }

    #[test]
    fn near_feature_needs_both_sides(c in "[a-z_]{0,12}") {
        prop_assert!(parse_near_feature(&c).is_err());
        let (no_id, no_collection) = (format!("{c}/"), format!("/{c}"));
        prop_assert!(parse_near_feature(&no_id).is_err());
        prop_assert!(parse_near_feature(&no_collection).is_err());
    }

    #[test]
    fn a_filter_value_round_trips(v in "\\PC{1,200}") {
        prop_assume!(!v.trim().is_empty());
        prop_assert_eq!(parse_value("commune", &v).unwrap(), v.as_str());
    }

    #[test]
    fn a_filter_value_too_long_or_blank_is_refused(v in "\\PC{201,400}", blank in "[ \\t]{0,10}") {
        prop_assume!(v.chars().count() > MAX_VALUE_CHARS);
        let e = parse_value("commune", &v).unwrap_err();
        prop_assert!(names("commune", &e));
        prop_assert!(parse_value("commune", &blank).is_err());
    }

    // Params::parse

    #[test]
    fn distinct_parameters_round_trip(values in prop::collection::btree_map("[a-z_]{1,10}", "\\PC{0,30}", 0..=MAX_PARAMS)) {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &values {
            s.append_pair(k, v);
        }
        let q = s.finish();
        prop_assume!(q.len() <= MAX_QUERY_BYTES);
        let p = Params::parse(&q, None).unwrap();
        for (k, v) in &values {
            prop_assert_eq!(p.get(k), Some(v.as_str()));
        }
        prop_assert_eq!(p.iter().count(), values.len());
    }

    #[test]
    fn a_repeated_parameter_is_refused(name in "[a-z]{1,8}", a in "[a-z0-9]{0,8}", b in "[a-z0-9]{0,8}") {
        let q = format!("{name}={a}&{name}={b}");
        prop_assert_eq!(Params::parse(&q, None).unwrap_err(), QueryError::Repeated(name));
    }

    #[test]
    fn too_many_parameters_are_refused(n in (MAX_PARAMS + 1)..200usize) {
        let q: Vec<String> = (0..n).map(|i| format!("p{i}=1")).collect();
        let q = q.join("&");
        prop_assert_eq!(count_params(&q), n);
        prop_assert_eq!(Params::parse(&q, None).unwrap_err(), QueryError::TooMany(n));
        // Even when every name would also be unknown or repeated.
        prop_assert!(matches!(Params::parse(&q, Some(&["limit"][..])), Err(QueryError::TooMany(_))));
    }

    #[test]
    fn a_query_string_too_long_is_refused(extra in 1..10_000usize) {
        let q = format!("q={}", "a".repeat(MAX_QUERY_BYTES - 2 + extra));
        prop_assert_eq!(Params::parse(&q, None).unwrap_err(), QueryError::TooLong(q.len()));
    }

    #[test]
    fn an_unknown_parameter_is_refused_by_name(name in "[a-z]{1,8}") {
        prop_assume!(name != "bbox" && name != "limit");
        let e = Params::parse(&format!("limit=1&{name}=x"), Some(&["bbox", "limit"][..])).unwrap_err();
        prop_assert_eq!(e.param(), Some(name.as_str()));
    }
}
