//! CQL2 filters, queryables, sorting and property selection over HTTP against the real server.
//!
//! Each filter is sent in cql2-text and in cql2-json; the ids and numberMatched the server
//! answers are compared with an evaluation written here, over the layer as `/download` serves
//! it, with serde_json and geo: the server's columns, index and planner play no part in it.
//! Missing values follow SQL's rules (a comparison on a missing value is never true, not even
//! under NOT), as a database evaluating the same filter does.

mod common;

use common::{skip_or_fail, Server};
use geo::{Contains, Intersects, Relate};
use serde_json::Value;
use std::collections::BTreeSet;
use std::process::Command;

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Every feature of a collection, as the server serves it whole.
fn layer(s: &Server, collection: &str) -> Vec<Value> {
    let v = s.json(&format!("/collections/{collection}/download"));
    v["features"].as_array().unwrap().clone()
}

/// The ids and numberMatched of a filter, following `next` links through every page.
fn ask(s: &Server, collection: &str, query: &str) -> (Vec<String>, u64) {
    let mut path = format!("/collections/{collection}/items?limit=37&{query}");
    let mut ids = Vec::new();
    let mut matched = None;
    loop {
        let r = s.get(&path);
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        let page: Value = serde_json::from_slice(&r.body).unwrap();
        let m = page["numberMatched"].as_u64().unwrap();
        assert!(
            matched.is_none_or(|x| x == m),
            "numberMatched changed between pages"
        );
        matched = Some(m);
        ids.extend(
            page["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["id"].as_str().unwrap().to_string()),
        );
        match s.next_path(&page) {
            Some(next) => path = next,
            None => break,
        }
    }
    (ids, matched.unwrap_or(0))
}

fn prop<'a>(f: &'a Value, name: &str) -> &'a Value {
    &f["properties"][name]
}

fn num(f: &Value, name: &str) -> Option<f64> {
    prop(f, name).as_f64()
}

fn text<'a>(f: &'a Value, name: &str) -> Option<&'a str> {
    prop(f, name).as_str()
}

fn texts(f: &Value, name: &str) -> Option<Vec<String>> {
    prop(f, name).as_array().map(|a| {
        a.iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect()
    })
}

fn geometry(f: &Value) -> Option<geo::Geometry<f64>> {
    if f["geometry"].is_null() {
        return None;
    }
    let g: geojson::Geometry = serde_json::from_value(f["geometry"].clone()).unwrap();
    Some(geo::Geometry::try_from(g).unwrap())
}

fn bbox(x0: f64, y0: f64, x1: f64, y1: f64) -> geo::Geometry<f64> {
    geo::Rect::new(geo::coord! {x: x0, y: y0}, geo::coord! {x: x1, y: y1})
        .to_polygon()
        .into()
}

fn without_accents(s: &str) -> String {
    use unicode_normalization::char::is_combining_mark;
    use unicode_normalization::UnicodeNormalization;
    s.nfd().filter(|c| !is_combining_mark(*c)).collect()
}

/// Kleene's AND/OR/NOT over "true, false or unknown", as SQL has them.
fn not(x: Option<bool>) -> Option<bool> {
    x.map(|b| !b)
}

fn and(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(false), _) | (_, Some(false)) => Some(false),
        (Some(true), Some(true)) => Some(true),
        _ => None,
    }
}

fn or(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (Some(true), _) | (_, Some(true)) => Some(true),
        (Some(false), Some(false)) => Some(false),
        _ => None,
    }
}

type Check = fn(&Value) -> Option<bool>;

struct Case {
    collection: &'static str,
    filter: &'static str,
    expect: Check,
}

fn cases() -> Vec<Case> {
    let c = |collection, filter, expect: Check| Case {
        collection,
        filter,
        expect,
    };
    let day = |f: &Value| text(f, "event_date").map(str::to_string);
    let _ = day;
    vec![
        c("incidents", "fatalities >= 10", |f| num(f, "fatalities").map(|n| n >= 10.0)),
        c("incidents", "event_type = 'massacre' AND fatalities >= 10", |f| {
            and(
                text(f, "event_type").map(|t| t == "massacre"),
                num(f, "fatalities").map(|n| n >= 10.0),
            )
        }),
        c(
            "incidents",
            "event_type IN ('kidnapping', 'armed_clash') AND department IN ('Ouest', 'Artibonite') AND event_date >= DATE('2024-02-29')",
            |f| {
                and(
                    and(
                        text(f, "event_type").map(|t| t == "kidnapping" || t == "armed_clash"),
                        text(f, "department").map(|d| d == "Ouest" || d == "Artibonite"),
                    ),
                    text(f, "event_date").map(|d| d >= "2024-02-29"),
                )
            },
        ),
        c("incidents", "NOT (fatalities > 5)", |f| not(num(f, "fatalities").map(|n| n > 5.0))),
        c("incidents", "kidnapped IS NULL", |f| Some(prop(f, "kidnapped").is_null())),
        c("incidents", "injured IS NOT NULL AND injured BETWEEN 1 AND 10", |f| {
            num(f, "injured").map(|n| (1.0..=10.0).contains(&n)).or(Some(false))
        }),
        c("incidents", "commune LIKE 'Port%'", |f| text(f, "commune").map(|t| t.starts_with("Port"))),
        c("incidents", "commune LIKE '%-_____'", |f| {
            text(f, "commune").map(|t| {
                let chars: Vec<char> = t.chars().collect();
                chars.len() >= 6 && chars[chars.len() - 6] == '-'
            })
        }),
        c("incidents", "CASEI(commune) = CASEI('PÉTION-VILLE')", |f| {
            text(f, "commune").map(|t| t.to_lowercase() == "pétion-ville")
        }),
        c("incidents", "ACCENTI(commune) = ACCENTI('Petion-Ville')", |f| {
            text(f, "commune").map(|t| without_accents(t) == "Petion-Ville")
        }),
        c("incidents", "commune = 'Petion-Ville'", |f| text(f, "commune").map(|t| t == "Petion-Ville")),
        c("incidents", "CASEI(ACCENTI(commune)) LIKE CASEI(ACCENTI('%ETION%'))", |f| {
            text(f, "commune").map(|t| without_accents(t).to_lowercase().contains("etion"))
        }),
        c("incidents", "S_INTERSECTS(geometry, BBOX(-72.45, 18.48, -72.25, 18.62))", |f| {
            geometry(f).map(|g| g.intersects(&bbox(-72.45, 18.48, -72.25, 18.62)))
        }),
        c(
            "incidents",
            "S_WITHIN(geometry, POLYGON((-72.8 18.9, -72.4 18.9, -72.4 19.4, -72.8 19.4, -72.8 18.9)))",
            |f| geometry(f).map(|g| bbox(-72.8, 18.9, -72.4, 19.4).contains(&g)),
        ),
        c("incidents", "S_DISJOINT(geometry, BBOX(-72.45, 18.48, -72.25, 18.62))", |f| {
            geometry(f).map(|g| !g.intersects(&bbox(-72.45, 18.48, -72.25, 18.62)))
        }),
        c(
            "incidents",
            "S_INTERSECTS(geometry, BBOX(-72.45, 18.48, -72.25, 18.62)) AND fatalities > 2",
            |f| {
                and(
                    geometry(f).map(|g| g.intersects(&bbox(-72.45, 18.48, -72.25, 18.62))),
                    num(f, "fatalities").map(|n| n > 2.0),
                )
            },
        ),
        c(
            "incidents",
            "S_INTERSECTS(geometry, MULTIPOINT((-72.239559 18.483698), (-72.0 19.0)))",
            |f| {
                geometry(f).map(|g| {
                    g.intersects(&geo::Point::new(-72.239559, 18.483698))
                        || g.intersects(&geo::Point::new(-72.0, 19.0))
                })
            },
        ),
        c("incidents", "T_AFTER(event_date, DATE('2024-10-03'))", |f| {
            text(f, "event_date").map(|d| d > "2024-10-03")
        }),
        c("incidents", "T_BEFORE(event_date, TIMESTAMP('2023-06-01T00:00:00Z'))", |f| {
            text(f, "event_date").map(|d| d < "2023-06-01")
        }),
        c(
            "incidents",
            "T_INTERSECTS(event_date, INTERVAL('2024-01-01', '2024-12-31'))",
            |f| text(f, "event_date").map(|d| d.starts_with("2024")),
        ),
        c("incidents", "T_INTERSECTS(event_date, INTERVAL('2025-01-01', '..'))", |f| {
            text(f, "event_date").map(|d| d >= "2025-01-01")
        }),
        c("incidents", "T_EQUALS(event_date, DATE('2023-01-05'))", |f| {
            text(f, "event_date").map(|d| d == "2023-01-05")
        }),
        c("incidents", "T_DISJOINT(event_date, INTERVAL('..', '2024-06-30'))", |f| {
            text(f, "event_date").map(|d| d > "2024-06-30")
        }),
        c("incidents", "event_date BETWEEN DATE('2024-03-01') AND DATE('2024-03-31')", |f| {
            text(f, "event_date").map(|d| ("2024-03-01"..="2024-03-31").contains(&d))
        }),
        c("incidents", "A_CONTAINS(actors, ('Gran Grif'))", |f| {
            texts(f, "actors").map(|a| a.iter().any(|x| x == "Gran Grif"))
        }),
        c("incidents", "A_OVERLAPS(actors, ('Viv Ansanm', 'Gran Grif', 'PNH'))", |f| {
            texts(f, "actors").map(|a| a.iter().any(|x| ["Viv Ansanm", "Gran Grif", "PNH"].contains(&x.as_str())))
        }),
        c("incidents", "A_CONTAINEDBY(actors, ('PNH', 'Gran Grif', 'Ti Makak gang'))", |f| {
            texts(f, "actors").map(|a| a.iter().all(|x| ["PNH", "Gran Grif", "Ti Makak gang"].contains(&x.as_str())))
        }),
        c("incidents", "A_EQUALS(actors, ('Ti Makak gang'))", |f| {
            texts(f, "actors").map(|a| a == ["Ti Makak gang"])
        }),
        c("incidents", "id = 'HT-2025-007' OR id LIKE 'HT-2023-00%'", |f| {
            let id = f["id"].as_str().unwrap();
            Some(id == "HT-2025-007" || id.starts_with("HT-2023-00"))
        }),
        c("incidents", "geo_precision <= 2 AND confidence = 'high'", |f| {
            and(
                num(f, "geo_precision").map(|n| n <= 2.0),
                text(f, "confidence").map(|c| c == "high"),
            )
        }),
        c("incidents", "department <> 'Ouest'", |f| text(f, "department").map(|d| d != "Ouest")),
        c("incidents", "fatalities > 3 OR kidnapped > 3", |f| {
            or(
                num(f, "fatalities").map(|n| n > 3.0),
                num(f, "kidnapped").map(|n| n > 3.0),
            )
        }),
        c("incidents", "section IS NULL AND NOT (geo_precision = 4)", |f| {
            and(
                Some(prop(f, "section").is_null()),
                not(num(f, "geo_precision").map(|n| n == 4.0)),
            )
        }),
        c("incidents", "event_type = 'x'' OR 1=1 --'", |f| {
            text(f, "event_type").map(|t| t == "x' OR 1=1 --")
        }),
        c("incidents", "summary_unknown_is_not_asked = 1 OR true", |_| Some(true)),
        c("gang_areas", "status = 'controlled' AND approximate = true", |f| {
            and(
                text(f, "status").map(|s| s == "controlled"),
                prop(f, "approximate").as_bool(),
            )
        }),
        c("gang_areas", "S_INTERSECTS(geometry, POINT(-72.33 18.54))", |f| {
            geometry(f).map(|g| g.intersects(&geo::Point::new(-72.33, 18.54)))
        }),
        c("gang_areas", "CASEI(\"group\") LIKE CASEI('%GRIF%')", |f| {
            text(f, "group").map(|g| g.to_lowercase().contains("grif"))
        }),
        c("gang_areas", "T_INTERSECTS(as_of, INTERVAL('2024-01-01', '2024-06-30'))", |f| {
            text(f, "as_of").map(|m| ("2024-01".."2024-07").contains(&&m[..7]))
        }),
        c("communes", "S_CONTAINS(geometry, POINT(-72.33 18.54))", |f| {
            geometry(f).map(|g| g.contains(&geo::Point::new(-72.33, 18.54)))
        }),
        c("communes", "department = 'Ouest' AND name LIKE 'C%'", |f| {
            and(
                text(f, "department").map(|d| d == "Ouest"),
                text(f, "name").map(|n| n.starts_with('C')),
            )
        }),
        c(
            "sections",
            "S_CROSSES(geometry, LINESTRING(-72.7 18.3, -72.2 18.7))",
            |f| {
                let line: geo::Geometry<f64> =
                    geo::LineString::from(vec![(-72.7, 18.3), (-72.2, 18.7)]).into();
                geometry(f).map(|g| g.relate(&line).is_crosses())
            },
        ),
        c(
            "departments",
            "S_TOUCHES(geometry, POLYGON((-72.7 18.3, -72.2 18.3, -72.2 18.7, -72.7 18.3)))",
            |f| {
                let tri: geo::Geometry<f64> = geo::Polygon::new(
                    geo::LineString::from(vec![(-72.7, 18.3), (-72.2, 18.3), (-72.2, 18.7), (-72.7, 18.3)]),
                    vec![],
                )
                .into();
                geometry(f).map(|g| g.relate(&tri).is_touches())
            },
        ),
        c("departments", "S_OVERLAPS(geometry, BBOX(-72.5, 18.4, -72.2, 18.7))", |f| {
            geometry(f).map(|g| g.relate(&bbox(-72.5, 18.4, -72.2, 18.7)).is_overlaps())
        }),
    ]
}

#[test]
fn filters_in_both_encodings_match_an_evaluation_over_the_downloaded_layers() {
    let s = Server::start();
    let mut layers = std::collections::HashMap::new();
    let mut nonempty = 0;
    for case in cases() {
        let features = layers
            .entry(case.collection)
            .or_insert_with(|| layer(&s, case.collection));
        let expected: BTreeSet<String> = features
            .iter()
            .filter(|f| (case.expect)(f) == Some(true))
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect();
        if !expected.is_empty() && expected.len() < features.len() {
            nonempty += 1;
        }
        let json = if case.filter.contains("summary_unknown") {
            None
        } else {
            Some(cql2::parse_text(case.filter).unwrap().to_json().unwrap())
        };
        let text_query = format!("filter={}", enc(case.filter));
        let mut queries = vec![text_query];
        if let Some(j) = json {
            queries.push(format!("filter-lang=cql2-json&filter={}", enc(&j)));
        }
        for q in queries {
            if case.filter.contains("summary_unknown") {
                let r = s.get(&format!("/collections/{}/items?{q}", case.collection));
                assert_eq!(r.status, 400, "{}: {}", case.filter, r.text());
                continue;
            }
            let (ids, matched) = ask(&s, case.collection, &q);
            let got: BTreeSet<String> = ids.iter().cloned().collect();
            assert_eq!(
                got.len(),
                ids.len(),
                "{}: a feature came twice",
                case.filter
            );
            assert_eq!(got, expected, "{} ({q})", case.filter);
            assert_eq!(matched as usize, expected.len(), "{}", case.filter);
        }
    }
    assert!(
        nonempty >= 30,
        "only {nonempty} cases select some but not all features"
    );
}

#[test]
fn filters_combine_with_bbox_datetime_property_parameters_and_near() {
    let s = Server::start();
    let features = layer(&s, "incidents");
    let b = bbox(-72.6, 18.3, -72.0, 18.8);
    let expected: BTreeSet<String> = features
        .iter()
        .filter(|f| {
            geometry(f).is_some_and(|g| g.intersects(&b))
                && text(f, "event_date").is_some_and(|d| d.starts_with("2024"))
                && text(f, "department") == Some("Ouest")
                && num(f, "fatalities").is_some_and(|n| n >= 1.0)
        })
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!expected.is_empty());
    let (ids, matched) = ask(
        &s,
        "incidents",
        &format!(
            "bbox=-72.6,18.3,-72.0,18.8&datetime=2024-01-01/2024-12-31&department=ouest&filter={}",
            enc("fatalities >= 1")
        ),
    );
    assert_eq!(ids.iter().cloned().collect::<BTreeSet<_>>(), expected);
    assert_eq!(matched as usize, expected.len());
    // Within 20 km of a point: every answer is a massacre or a kidnapping.
    let page = s.json(&format!(
        "/collections/incidents/items?near=-72.33,18.54&within=20000&filter={}",
        enc("event_type IN ('massacre', 'kidnapping')")
    ));
    let got = page["features"].as_array().unwrap();
    assert!(!got.is_empty());
    for f in got {
        assert!(["massacre", "kidnapping"].contains(&text(f, "event_type").unwrap()));
        assert!(num(f, "distance_m").unwrap() <= 20_000.0);
    }
    // The download answers the same filter with the same features.
    let d = s.json(&format!(
        "/collections/incidents/download?filter={}",
        enc("fatalities >= 10")
    ));
    let n = features
        .iter()
        .filter(|f| num(f, "fatalities").is_some_and(|n| n >= 10.0))
        .count();
    assert_eq!(d["features"].as_array().unwrap().len(), n);
}

#[test]
fn bad_filters_get_400_naming_the_filter_and_the_server_keeps_answering() {
    let s = Server::start();
    let deep = format!("{}fatalities = 1{}", "(".repeat(300), ")".repeat(300));
    let chain = "1 = ".repeat(400) + "1";
    let nots = "NOT ".repeat(400) + "fatalities = 1";
    let big_polygon = format!(
        "S_INTERSECTS(geometry, LINESTRING({}))",
        (0..700)
            .map(|i| format!("-72.{i:03} 18.5"))
            .collect::<Vec<_>>()
            .join(",")
    );
    let like_bomb = format!("commune LIKE '{}'", "%a".repeat(150));
    let many = vec!["fatalities = 1"; 100].join(" OR ");
    let bad: Vec<(&str, String)> = vec![
        ("", "fatalities >".into()),
        ("", "fatalities >= 'ten'".into()),
        ("", "colour = 'red'".into()),
        ("", "UPPER(commune) = 'X'".into()),
        ("", "department > 3".into()),
        ("", "actors = 'PNH'".into()),
        ("", "event_date = 12".into()),
        (
            "",
            "T_DURING(event_date, INTERVAL('2024-01-01', '2024-12-31'))".into(),
        ),
        ("", "T_AFTER(event_date, DATE('2024-02-30'))".into()),
        ("", "S_INTERSECTS(geometry, POLYGON((0 0, 1 1)))".into()),
        ("", "S_INTERSECTS(department, POINT(0 0))".into()),
        ("", "fatalities + 1 > 3".into()),
        ("", "fatalities = NULL".into()),
        ("", "'unterminated".into()),
        ("", "department = 'Ouest'; DROP TABLE incidents".into()),
        ("", "A_CONTAINS(fatalities, (1))".into()),
        ("", "CASEI(fatalities) = 3".into()),
        ("", deep),
        ("", chain),
        ("", nots),
        ("", big_polygon),
        ("", like_bomb),
        ("", many),
        (
            "cql2-json",
            "{\"op\":\"=\",\"args\":[{\"property\":\"nope\"},1]}".into(),
        ),
        ("cql2-json", "{\"op\":\"=\",\"args\":".into()),
        ("cql2-json", "fatalities > 1".into()),
        (
            "cql2-json",
            format!("{}true{}", "[".repeat(500), "]".repeat(500)),
        ),
        ("cql2-json", "{\"op\":\"frobnicate\",\"args\":[]}".into()),
    ];
    for (lang, filter) in &bad {
        let mut path = format!("/collections/incidents/items?filter={}", enc(filter));
        if !lang.is_empty() {
            path.push_str(&format!("&filter-lang={lang}"));
        }
        let t = std::time::Instant::now();
        let r = s.get(&path);
        // A filter longer than a query string may be (8 KiB) is refused before it is read.
        if path.len() > 8192 {
            assert_eq!(r.status, 414, "{filter}: {}", r.text());
            continue;
        }
        assert_eq!(r.status, 400, "{filter}: {}", r.text());
        assert!(t.elapsed().as_secs() < 5, "{filter} took {:?}", t.elapsed());
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["parameter"], "filter", "{filter}: {body}");
        assert!(body["detail"].as_str().unwrap().len() > 20, "{body}");
    }
    for (param, value) in [
        ("filter-lang", "sql"),
        ("filter-crs", "EPSG:3857"),
        ("sortby", "colour"),
        ("sortby", "+"),
        ("skipGeometry", "maybe"),
    ] {
        let r = s.get(&format!(
            "/collections/incidents/items?filter=fatalities%3E1&{param}={}",
            enc(value)
        ));
        assert_eq!(r.status, 400, "{param}={value}");
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["parameter"], param);
    }
    let r = s.get("/health");
    assert_eq!(r.status, 200);
    let e = s.json("/collections/incidents/items?filter=fatalities%3E%3D0&limit=1");
    assert!(e["numberMatched"].as_u64().unwrap() > 0);
}

#[test]
fn the_error_says_where_and_what_was_expected() {
    let s = Server::start();
    let r = s.get(&format!(
        "/collections/incidents/items?filter={}",
        enc("fatalities >= 'ten'")
    ));
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("fatalities") && detail.contains("integer"),
        "{detail}"
    );
    let r = s.get(&format!(
        "/collections/incidents/items?filter={}",
        enc("colour = 'red'")
    ));
    let body: Value = serde_json::from_slice(&r.body).unwrap();
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains("colour") && detail.contains("event_date"),
        "{detail}"
    );
}

#[test]
fn sortby_is_stable_and_paging_visits_every_feature_once_in_order() {
    let s = Server::start();
    let features = layer(&s, "incidents");
    for sortby in [
        "-event_date",
        "+fatalities,-id",
        "department,event_type,id",
        "-fatalities",
    ] {
        let (ids, matched) = ask(&s, "incidents", &format!("sortby={}", enc(sortby)));
        assert_eq!(matched as usize, features.len(), "{sortby}");
        assert_eq!(ids.len(), features.len(), "{sortby}");
        assert_eq!(
            ids.iter().collect::<BTreeSet<_>>().len(),
            ids.len(),
            "{sortby}: repeats"
        );
        let (again, _) = ask(&s, "incidents", &format!("sortby={}", enc(sortby)));
        assert_eq!(ids, again, "{sortby}: the order changed between two runs");
        let by_id: std::collections::HashMap<&str, &Value> = features
            .iter()
            .map(|f| (f["id"].as_str().unwrap(), f))
            .collect();
        // Consecutive features are in order on the first key (missing values last when
        // ascending, first when descending).
        let (desc, key) = match sortby.split(',').next().unwrap() {
            k if k.starts_with('-') => (true, &k[1..]),
            k => (false, k.trim_start_matches('+')),
        };
        let rank = |id: &str| -> (bool, Value) {
            let v = by_id[id]["properties"][key].clone();
            (v.is_null(), v)
        };
        for w in ids.windows(2) {
            let (na, a) = rank(&w[0]);
            let (nb, b) = rank(&w[1]);
            let ordered = match (na, nb) {
                (true, true) => true,
                (true, false) => desc,
                (false, true) => !desc,
                _ => {
                    let o = match (a.as_f64(), b.as_f64()) {
                        (Some(x), Some(y)) => x.partial_cmp(&y).unwrap(),
                        _ => a.as_str().unwrap().cmp(b.as_str().unwrap()),
                    };
                    if desc {
                        o != std::cmp::Ordering::Less
                    } else {
                        o != std::cmp::Ordering::Greater
                    }
                }
            };
            assert!(ordered, "{sortby}: {} before {}", w[0], w[1]);
        }
    }
    // Sorted and filtered: the newest massacres first.
    let (ids, _) = ask(
        &s,
        "incidents",
        &format!(
            "sortby=-event_date&filter={}",
            enc("event_type = 'massacre'")
        ),
    );
    let dates: Vec<&str> = ids
        .iter()
        .map(|id| {
            features
                .iter()
                .find(|f| f["id"] == id.as_str())
                .and_then(|f| text(f, "event_date"))
                .unwrap()
        })
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "{dates:?}");
}

/// One page of ids at `offset`, without following `next`.
fn page_ids(s: &Server, query: &str, offset: usize, limit: usize) -> Vec<String> {
    let page = s.json(&format!(
        "/collections/incidents/items?{query}&offset={offset}&limit={limit}"
    ));
    page["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_sorted_page_is_the_same_slice_of_the_matches_however_few_or_many_match() {
    let s = Server::start();
    let features = layer(&s, "incidents");
    let point = |f: &Value| -> Option<(f64, f64)> {
        let c = f["geometry"]["coordinates"].as_array()?;
        Some((c[0].as_f64()?, c[1].as_f64()?))
    };
    // From one commune's worth of matches to nearly every incident, so that both a short walk
    // of the sorted layer and a ranking of the few matches answer.
    type Keep<'a> = Box<dyn Fn(&Value) -> bool + 'a>;
    let cases: [(&str, Keep); 4] = [
        (
            "bbox=-72.36,18.52,-72.30,18.56",
            Box::new(|f: &Value| {
                point(f).is_some_and(|(x, y)| {
                    (-72.36..=-72.30).contains(&x) && (18.52..=18.56).contains(&y)
                })
            }),
        ),
        (
            "bbox=-72.6,18.3,-72.0,18.8",
            Box::new(|f: &Value| {
                point(f).is_some_and(|(x, y)| {
                    (-72.6..=-72.0).contains(&x) && (18.3..=18.8).contains(&y)
                })
            }),
        ),
        (
            "filter=fatalities%20%3E%3D%201",
            Box::new(|f: &Value| prop(f, "fatalities").as_f64().is_some_and(|n| n >= 1.0)),
        ),
        (
            "filter=fatalities%20%3E%3D%2020",
            Box::new(|f: &Value| prop(f, "fatalities").as_f64().is_some_and(|n| n >= 20.0)),
        ),
    ];
    for (narrow, keep) in &cases {
        let query = format!("sortby=-event_date&{narrow}");
        let expected: BTreeSet<String> = features
            .iter()
            .filter(|f| keep(f))
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect();
        assert!(expected.len() >= 3, "{narrow}: too few matches to page");
        let all = page_ids(&s, &query, 0, 10_000);
        assert_eq!(
            all.iter().cloned().collect::<BTreeSet<_>>(),
            expected,
            "{narrow}: the sorted matches differ from a brute-force filter"
        );
        assert_eq!(all.len(), expected.len(), "{narrow}: repeats");
        let date = |id: &String| {
            features
                .iter()
                .find(|f| f["id"] == id.as_str())
                .and_then(|f| text(f, "event_date"))
                .map(str::to_string)
        };
        let dates: Vec<Option<String>> = all.iter().map(date).collect();
        assert!(
            dates.windows(2).all(|w| match (&w[0], &w[1]) {
                (Some(a), Some(b)) => a >= b,
                (None, _) => true,
                (Some(_), None) => false,
            }),
            "{narrow}: not newest first"
        );
        for offset in [
            0,
            1,
            all.len() / 3,
            all.len() / 2,
            all.len().saturating_sub(2),
        ] {
            let page = page_ids(&s, &query, offset, 5);
            let end = (offset + 5).min(all.len());
            assert_eq!(page, all[offset..end], "{narrow}: page at offset {offset}");
        }
    }
}

#[test]
fn properties_and_skip_geometry_select_members() {
    let s = Server::start();
    let page = s.json(
        "/collections/incidents/items?properties=event_type,fatalities&skipGeometry=true&limit=5",
    );
    for f in page["features"].as_array().unwrap() {
        assert!(f["geometry"].is_null(), "{f}");
        let keys: Vec<&String> = f["properties"].as_object().unwrap().keys().collect();
        assert!(
            keys.iter()
                .all(|k| *k == "event_type" || *k == "fatalities"),
            "{keys:?}"
        );
        assert!(f["id"].is_string());
    }
    let page = s.json("/collections/incidents/items?skipGeometry=false&limit=1");
    assert!(page["features"][0]["geometry"].is_object());
    let d = s.json("/collections/gang_areas/download?properties=group&skipGeometry=true");
    let all = layer(&s, "gang_areas");
    assert_eq!(d["features"].as_array().unwrap().len(), all.len());
    for f in d["features"].as_array().unwrap() {
        assert!(f["geometry"].is_null());
        assert_eq!(f["properties"].as_object().unwrap().len(), 1);
    }
}

#[test]
fn queryables_are_a_json_schema_typed_as_declared() {
    let s = Server::start();
    let r = s.get("/collections/incidents/queryables");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/schema+json"));
    let q: Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(q["additionalProperties"], false);
    assert!(q["$id"]
        .as_str()
        .unwrap()
        .ends_with("/collections/incidents/queryables"));
    assert!(q["title"].is_string());
    let p = &q["properties"];
    assert_eq!(p["fatalities"]["type"], "integer");
    assert_eq!(p["event_date"]["format"], "date");
    assert_eq!(p["actors"]["type"], "array");
    assert_eq!(p["actors"]["items"]["type"], "string");
    assert_eq!(p["geometry"]["x-ogc-role"], "primary-geometry");
    assert!(p["geometry"]["format"]
        .as_str()
        .unwrap()
        .starts_with("geometry-"));
    assert!(p.get("actor").is_none());
    let g: Value = s.json("/collections/gang_areas/queryables");
    assert_eq!(g["properties"]["approximate"]["type"], "boolean");
    let c = s.json("/collections/incidents");
    assert!(c["links"].as_array().unwrap().iter().any(|l| l["rel"]
        == "http://www.opengis.net/def/rel/ogc/1.0/queryables"
        && l["href"]
            .as_str()
            .unwrap()
            .ends_with("/collections/incidents/queryables")));
}

#[test]
fn conformance_and_api_declare_filtering() {
    let s = Server::start();
    let c = s.json("/conformance");
    let classes: Vec<&str> = c["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for want in [
        "ogcapi-features-3/1.0/conf/filter",
        "ogcapi-features-3/1.0/conf/features-filter",
        "ogcapi-features-3/1.0/conf/queryables",
        "ogcapi-features-3/1.0/conf/queryables-query-parameters",
        "cql2/1.0/conf/cql2-text",
        "cql2/1.0/conf/cql2-json",
        "cql2/1.0/conf/basic-cql2",
        "cql2/1.0/conf/advanced-comparison-operators",
        "cql2/1.0/conf/case-insensitive-comparison",
        "cql2/1.0/conf/accent-insensitive-comparison",
        "cql2/1.0/conf/basic-spatial-functions",
        "cql2/1.0/conf/spatial-functions",
        "cql2/1.0/conf/temporal-functions",
        "cql2/1.0/conf/array-functions",
    ] {
        assert!(classes.iter().any(|c| c.ends_with(want)), "{want}");
    }
    let api = s.json("/api");
    let params = api["paths"]["/collections/incidents/items"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let named = |n: &str| {
        params
            .iter()
            .find(|p| p["name"] == n)
            .unwrap_or_else(|| panic!("{n}"))
    };
    let langs = named("filter-lang")["schema"]["enum"].as_array().unwrap();
    for l in ["cql2-text", "cql2-json", "cql-text"] {
        assert!(langs.iter().any(|v| v == l), "{l}");
    }
    for n in [
        "filter",
        "filter-crs",
        "sortby",
        "properties",
        "skipGeometry",
    ] {
        named(n);
    }
    // cql-text, which GDAL 3.6 sends, is cql2-text.
    let a = s.json(&format!(
        "/collections/incidents/items?filter-lang=cql-text&filter={}",
        enc("fatalities >= 10")
    ));
    let b = s.json(&format!(
        "/collections/incidents/items?filter={}",
        enc("fatalities >= 10")
    ));
    assert_eq!(a["numberMatched"], b["numberMatched"]);
}

#[test]
fn gdal_pushes_a_where_down_as_a_cql_filter() {
    let have = Command::new("ogrinfo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        return skip_or_fail("ogrinfo (gdal-bin) is not installed");
    }
    let s = Server::start();
    let features = layer(&s, "incidents");
    let expected = features
        .iter()
        .filter(|f| {
            num(f, "fatalities").is_some_and(|n| n >= 10.0)
                && text(f, "department") == Some("Artibonite")
        })
        .count();
    let out = Command::new("ogrinfo")
        .args([
            "-ro",
            "-al",
            "-so",
            "-where",
            "fatalities >= 10 AND department = 'Artibonite'",
            &format!("OAPIF:{}", s.base),
            "incidents",
        ])
        .env("CPL_DEBUG", "ON")
        .env("CPL_CURL_VERBOSE", "NO")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stdout.contains(&format!("Feature Count: {expected}")),
        "{stdout}"
    );
    // The debug log shows the request GDAL sent: the filter went to the server.
    let sent = stderr
        .lines()
        .find(|l| l.contains("/collections/incidents/items") && l.contains("filter="))
        .unwrap_or_else(|| panic!("no request with filter= in GDAL's log:\n{stderr}"));
    eprintln!("GDAL sent: {sent}");
    assert!(
        sent.contains("filter-lang=cql-text") || sent.contains("filter-lang=cql2-text"),
        "{sent}"
    );
}

#[test]
fn conditions_between_two_properties_are_refused_saying_what_is_supported() {
    let s = Server::start();
    // (lang, filter, a word the detail must hold besides "not supported")
    let cases: [(&str, &str, &str); 11] = [
        ("", "fatalities > injured", "value"),
        ("", "fatalities = kidnapped", "value"),
        ("", "CASEI(commune) = CASEI(department)", "value"),
        ("", "T_BEFORE(event_date, event_date)", "value"),
        (
            "",
            "T_INTERSECTS(INTERVAL(event_date, event_date), INTERVAL('2024-01-01', '2024-12-31'))",
            "INTERVAL",
        ),
        (
            "",
            "T_DURING(INTERVAL(event_date, '..'), INTERVAL('2024-01-01', '2024-12-31'))",
            "INTERVAL",
        ),
        ("", "fatalities BETWEEN injured AND 10", "BETWEEN"),
        ("", "event_type IN ('massacre', department)", "value"),
        ("", "commune LIKE department", "pattern"),
        ("", "A_CONTAINS(actors, actors)", "list of values"),
        (
            "cql2-json",
            r#"{"op":">","args":[{"property":"fatalities"},{"property":"injured"}]}"#,
            "value",
        ),
    ];
    for (lang, filter, word) in cases {
        let mut path = format!("/collections/incidents/items?filter={}", enc(filter));
        if !lang.is_empty() {
            path.push_str(&format!("&filter-lang={lang}"));
        }
        let r = s.get(&path);
        assert_eq!(r.status, 400, "{filter}: {}", r.text());
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["parameter"], "filter", "{filter}: {body}");
        let detail = body["detail"].as_str().unwrap();
        assert!(
            detail.contains("not supported") && detail.contains(word),
            "{filter}: {detail}"
        );
        // The same refusal wherever a filter is taken.
        for other in [
            "/collections/incidents/aggregate",
            "/collections/incidents/tiles/WebMercatorQuad/5/14/9",
        ] {
            let q = path.split_once('?').unwrap().1;
            let r = s.get(&format!("{other}?{q}"));
            assert_eq!(r.status, 400, "{other} {filter}");
            assert_eq!(r.json()["parameter"], "filter");
        }
    }
    // A property against a value still works, on either side.
    let r = s.json(&format!(
        "/collections/incidents/items?filter={}&limit=1",
        enc("10 <= fatalities")
    ));
    assert!(r["numberMatched"].as_u64().unwrap() > 0);
}
