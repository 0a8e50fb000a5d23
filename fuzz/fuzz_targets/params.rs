//! Feeds arbitrary bytes to every query-string parser of `kat::api::params`. None may panic;
//! whatever a parser accepts must lie within its documented range.
#![no_main]

use kat::api::params::{
    parse_bbox, parse_datetime, parse_limit, parse_near, parse_near_feature, parse_offset,
    parse_value, parse_within, Params, MAX_LIMIT, MAX_PARAMS, MAX_QUERY_BYTES, MAX_VALUE_CHARS,
    MAX_WITHIN_M,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let s = s.as_ref();

    if let Ok(rects) = parse_bbox(s) {
        assert!(rects.len() == 1 || rects.len() == 2);
        for r in rects {
            assert!((-180.0..=180.0).contains(&r.min[0]) && (-180.0..=180.0).contains(&r.max[0]));
            assert!((-90.0..=90.0).contains(&r.min[1]) && r.min[1] <= r.max[1] && r.max[1] <= 90.0);
            assert!(r.min[0] <= r.max[0]);
        }
    }
    if let Ok(iv) = parse_datetime(s) {
        assert!(iv.start <= iv.end);
        assert!(
            iv.start != i64::MIN || iv.end != i64::MAX,
            "../.. was accepted"
        );
    }
    if let Ok(n) = parse_limit(s) {
        assert!((1..=MAX_LIMIT).contains(&n));
    }
    let _ = parse_offset(s);
    if let Ok([lon, lat]) = parse_near(s) {
        assert!((-180.0..=180.0).contains(&lon) && (-90.0..=90.0).contains(&lat));
    }
    if let Ok(m) = parse_within(s) {
        assert!(m > 0.0 && m <= MAX_WITHIN_M);
    }
    if let Ok((c, f)) = parse_near_feature(s) {
        assert!(!c.is_empty() && !f.is_empty());
    }
    if let Ok(v) = parse_value("q", s) {
        assert!(v.chars().count() <= MAX_VALUE_CHARS && !v.trim().is_empty());
    }
    for e in [
        parse_bbox(s).err(),
        parse_near(s).err(),
        parse_limit(s).err(),
    ]
    .into_iter()
    .flatten()
    {
        assert!(e.value.chars().count() <= 101);
    }

    // The raw bytes as a query string, with and without a list of allowed names.
    if let Ok(q) = std::str::from_utf8(data) {
        if let Ok(p) = Params::parse(q, None) {
            assert!(q.len() <= MAX_QUERY_BYTES);
            assert!(p.iter().count() <= MAX_PARAMS);
        }
        if let Ok(p) = Params::parse(q, Some(&["bbox", "limit", "f"])) {
            assert!(p.iter().all(|(k, _)| ["bbox", "limit", "f"].contains(&k)));
        }
    }
});
