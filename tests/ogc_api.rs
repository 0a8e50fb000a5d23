//! OGC API - Features, checked against answers computed from the data files: over real HTTP
//! where links, paging, compression and HEAD are at stake, in process for what one handler
//! answers.

mod common;

use common::brute::{self, read_layer, FileFeature, Rng};
use common::{data_dir, in_process, Server};
use serde_json::Value;
use std::collections::{BTreeSet, HashSet};
use std::sync::OnceLock;

const COLLECTIONS: [(&str, &str); 5] = [
    ("incidents", "incidents.geojson"),
    ("gang_areas", "gang_areas.geojson"),
    ("departments", "admin/departments.geojson"),
    ("communes", "admin/communes.geojson"),
    ("sections", "admin/sections.geojson"),
];

fn server() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(Server::start)
}

fn layer(id: &str) -> Vec<FileFeature> {
    let file = COLLECTIONS.iter().find(|c| c.0 == id).unwrap().1;
    read_layer(&data_dir().join(file))
}

/// Follows `next` links from `path`; returns every id seen (in order) and the first
/// numberMatched.
fn walk(path: &str) -> (Vec<String>, usize) {
    let s = server();
    let first = s.json(path);
    let matched = first["numberMatched"].as_u64().expect("numberMatched") as usize;
    let mut ids = Vec::new();
    let mut page = first;
    loop {
        let feats = page["features"].as_array().unwrap();
        assert_eq!(
            page["numberReturned"].as_u64().unwrap() as usize,
            feats.len()
        );
        for f in feats {
            ids.push(match &f["id"] {
                Value::String(s) => s.clone(),
                v => v.to_string(),
            });
        }
        match s.next_path(&page) {
            Some(rel) => {
                page = s.json(&rel);
                assert_eq!(page["numberMatched"].as_u64().unwrap() as usize, matched);
            }
            None => break,
        }
        assert!(ids.len() <= matched + 1, "paging runs past numberMatched");
    }
    (ids, matched)
}

fn set(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}

#[test]
fn landing_page_links_what_gdal_qgis_and_owslib_need() {
    let v = server().json("/");
    let links = v["links"].as_array().unwrap();
    let rel = |r: &str| {
        links
            .iter()
            .find(|l| l["rel"] == r)
            .unwrap_or_else(|| panic!("no {r} link"))
    };
    assert_eq!(
        rel("service-desc")["type"],
        "application/vnd.oai.openapi+json;version=3.0"
    );
    assert!(rel("service-desc")["href"]
        .as_str()
        .unwrap()
        .ends_with("/api"));
    assert_eq!(rel("service-doc")["type"], "text/html");
    assert!(rel("data")["href"]
        .as_str()
        .unwrap()
        .ends_with("/collections"));
    assert!(rel("conformance")["href"]
        .as_str()
        .unwrap()
        .ends_with("/conformance"));
    for l in links {
        assert!(l["type"].is_string(), "every link has a type: {l}");
    }
}

#[actix_web::test]
async fn conformance_claims_core_geojson_and_oas30_and_neither_html_nor_crs() {
    let v = in_process::json("/conformance").await;
    let c: Vec<&str> = v["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    for want in ["core", "geojson", "oas30"] {
        assert!(c.contains(
            &format!("http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/{want}").as_str()
        ));
    }
    assert!(!c
        .iter()
        .any(|x| x.ends_with("/html") || x.contains("features-2")));
}

#[test]
fn collections_describe_every_layer_with_extent_computed_from_the_data() {
    let v = server().json("/collections");
    let cols = v["collections"].as_array().unwrap();
    assert_eq!(cols.len(), 5);
    for (id, _) in COLLECTIONS {
        let c = cols
            .iter()
            .find(|c| c["id"] == id)
            .unwrap_or_else(|| panic!("no {id}"));
        assert_eq!(c["itemType"], "feature");
        assert_eq!(
            c,
            &server().json(&format!("/collections/{id}")),
            "/collections/{id} equals its entry"
        );
        let links = c["links"].as_array().unwrap();
        assert!(links
            .iter()
            .any(|l| l["rel"] == "items" && l["type"] == "application/geo+json"));
        assert!(links.iter().any(|l| l["rel"] == "enclosure"));
        // The extent encloses every feature, tightly.
        let bbox: Vec<f64> = c["extent"]["spatial"]["bbox"][0]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect();
        let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
        for f in layer(id) {
            let mut pts: Vec<[f64; 2]> = brute::point(&f.geometry).into_iter().collect();
            for p in brute::polygons(&f.geometry) {
                pts.extend(p.into_iter().flatten());
            }
            for p in pts {
                x0 = x0.min(p[0]);
                y0 = y0.min(p[1]);
                x1 = x1.max(p[0]);
                y1 = y1.max(p[1]);
            }
        }
        for (a, b) in bbox.iter().zip([x0, y0, x1, y1]) {
            assert!(
                (a - b).abs() < 1e-9,
                "{id}: extent {bbox:?} vs {:?}",
                [x0, y0, x1, y1]
            );
        }
    }
    let inc = cols.iter().find(|c| c["id"] == "incidents").unwrap();
    let iv = &inc["extent"]["temporal"]["interval"][0];
    assert_eq!(iv[0], "2023-01-03T00:00:00Z");
    assert!(iv[1].as_str().unwrap().starts_with("2025-11-29T23:59:59"));
}

#[test]
fn paging_visits_every_feature_exactly_once() {
    for (id, _) in COLLECTIONS {
        let expected: BTreeSet<String> = layer(id).into_iter().map(|f| f.id).collect();
        let (ids, matched) = walk(&format!("/collections/{id}/items?limit=7"));
        assert_eq!(matched, expected.len(), "{id}");
        assert_eq!(
            ids.len(),
            expected.len(),
            "{id}: a feature was repeated or lost"
        );
        assert_eq!(set(&ids), expected, "{id}");
    }
}

#[test]
fn bbox_matches_brute_force_intersection_on_every_layer() {
    let mut rng = Rng(42);
    for (id, _) in COLLECTIONS {
        let feats = layer(id);
        let rounds = if id == "incidents" || id == "gang_areas" {
            25
        } else {
            8
        };
        // Much of the drawing box is sea: count the boxes that held something.
        let mut found = 0;
        for _ in 0..rounds {
            let (cx, cy) = (rng.range(-74.5, -71.6), rng.range(18.0, 20.1));
            let (w, h) = (rng.range(0.01, 1.2), rng.range(0.01, 1.0));
            let b = [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0];
            let expected: BTreeSet<String> = feats
                .iter()
                .filter(|f| brute::intersects_box(&f.geometry, b))
                .map(|f| f.id.clone())
                .collect();
            let (ids, matched) = walk(&format!(
                "/collections/{id}/items?bbox={},{},{},{}&limit=50",
                b[0], b[1], b[2], b[3]
            ));
            assert_eq!(matched, expected.len(), "{id} bbox {b:?}");
            assert_eq!(set(&ids), expected, "{id} bbox {b:?}");
            found += usize::from(!expected.is_empty());
        }
        assert!(
            found * 3 >= rounds,
            "{id}: only {found} of {rounds} random boxes held a feature"
        );
    }
}

#[test]
fn bbox_edges_are_included() {
    let feats = layer("incidents");
    let (id, p) = feats
        .iter()
        .find_map(|f| brute::point(&f.geometry).map(|p| (f.id.clone(), p)))
        .unwrap();
    // The point on the box's lower-left corner, then on its upper-right corner.
    for b in [
        [p[0], p[1], p[0] + 0.1, p[1] + 0.1],
        [p[0] - 0.1, p[1] - 0.1, p[0], p[1]],
    ] {
        let (ids, _) = walk(&format!(
            "/collections/incidents/items?bbox={},{},{},{}&limit=1000",
            b[0], b[1], b[2], b[3]
        ));
        assert!(ids.contains(&id), "{id} at {p:?} is on the edge of {b:?}");
    }
}

fn day(s: &str) -> Option<(String, String)> {
    match s.len() {
        10 => Some((s.to_string(), s.to_string())),
        7 => {
            let (y, m): (i32, u32) = (s[..4].parse().ok()?, s[5..].parse().ok()?);
            let last = match m {
                2 if y % 4 == 0 => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            Some((format!("{s}-01"), format!("{s}-{last:02}")))
        }
        _ => None,
    }
}

#[test]
fn datetime_matches_brute_force_on_dated_layers() {
    let cases = [
        ("2024-10-03", "2024-10-03", "2024-10-03"),
        ("2024-01-01/2024-06-30", "2024-01-01", "2024-06-30"),
        ("2025-01-01T00:00:00Z/..", "2025-01-01", "9999-12-31"),
        ("../2023-12-31T23:59:59Z", "0000-01-01", "2023-12-31"),
        ("/2023-06-30", "0000-01-01", "2023-06-30"),
        ("2024-10/..", "", ""),
    ];
    for (layer_id, prop) in [("incidents", "event_date"), ("gang_areas", "as_of")] {
        let feats = layer(layer_id);
        for (q, a, b) in cases {
            if a.is_empty() {
                let r = server().get(&format!("/collections/{layer_id}/items?datetime={q}"));
                assert_eq!(r.status, 400, "{q}");
                continue;
            }
            // A feature's date covers its whole day or month; undated features always match.
            let expected: BTreeSet<String> = feats
                .iter()
                .filter(|f| match f.properties[prop].as_str().and_then(day) {
                    None => true,
                    Some((s, e)) => s.as_str() <= b && a <= e.as_str(),
                })
                .map(|f| f.id.clone())
                .collect();
            assert!(
                !expected.is_empty() && expected.len() < feats.len(),
                "{layer_id} datetime={q} keeps {} of {}: it tells nothing about the filter",
                expected.len(),
                feats.len()
            );
            let (ids, matched) = walk(&format!(
                "/collections/{layer_id}/items?datetime={q}&limit=1000"
            ));
            assert_eq!(matched, expected.len(), "{layer_id} datetime={q}");
            assert_eq!(set(&ids), expected, "{layer_id} datetime={q}");
        }
    }
}

fn fold(s: &str) -> String {
    s.to_lowercase()
        .replace(['é', 'è', 'ê'], "e")
        .replace(['ò', 'ô'], "o")
        .replace(['à', 'â'], "a")
        .replace(['ï', 'î'], "i")
        .replace('’', "'")
}

#[test]
fn property_filters_match_brute_force_and_combine_with_and() {
    let feats = layer("incidents");
    type Case = (String, Box<dyn Fn(&FileFeature) -> bool>);
    let cases: Vec<Case> = vec![
        (
            "department=Artibonite".into(),
            Box::new(|f| f.properties["department"] == "Artibonite"),
        ),
        (
            "department=artibonite".into(),
            Box::new(|f| f.properties["department"] == "Artibonite"),
        ),
        (
            "event_type=massacre".into(),
            Box::new(|f| f.properties["event_type"] == "massacre"),
        ),
        (
            "commune=P%C3%A9tion-Ville".into(),
            Box::new(|f| f.properties["commune"] == "Pétion-Ville"),
        ),
        (
            "actor=gran%20grif".into(),
            Box::new(|f| {
                f.properties["actors"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| fold(a.as_str().unwrap()).contains("gran grif"))
            }),
        ),
        (
            "department=Ouest&event_type=kidnapping".into(),
            Box::new(|f| {
                f.properties["department"] == "Ouest" && f.properties["event_type"] == "kidnapping"
            }),
        ),
        (
            "department=Ouest&bbox=-72.5,18.4,-72.2,18.7&datetime=2024-01-01/2024-12-31".into(),
            Box::new(|f| {
                f.properties["department"] == "Ouest"
                    && brute::intersects_box(&f.geometry, [-72.5, 18.4, -72.2, 18.7])
                    && f.properties["event_date"]
                        .as_str()
                        .is_some_and(|d| d.starts_with("2024"))
            }),
        ),
        ("department=Nowhere".into(), Box::new(|_| false)),
    ];
    for (q, pred) in cases {
        let expected: BTreeSet<String> = feats
            .iter()
            .filter(|f| pred(f))
            .map(|f| f.id.clone())
            .collect();
        if q != "department=Nowhere" {
            assert!(
                !expected.is_empty(),
                "{q} keeps no incident: it proves nothing"
            );
        }
        let (ids, matched) = walk(&format!("/collections/incidents/items?{q}&limit=5"));
        assert_eq!(matched, expected.len(), "{q}");
        assert_eq!(set(&ids), expected, "{q}");
    }
    let areas = layer("gang_areas");
    let expected = areas
        .iter()
        .filter(|f| f.properties["status"] == "controlled")
        .count();
    assert!(expected > 0 && expected < areas.len());
    assert_eq!(
        server().json("/collections/gang_areas/items?status=controlled")["numberMatched"],
        expected
    );
    let expected = layer("communes")
        .iter()
        .filter(|f| f.properties["department"] == "Nippes")
        .count();
    assert!(expected > 0);
    assert_eq!(
        server().json("/collections/communes/items?department=Nippes")["numberMatched"],
        expected
    );
    assert_eq!(
        server().json("/collections/sections/items?pcode=HT0531-05")["numberMatched"],
        1
    );
}

#[actix_web::test]
async fn limit_above_the_maximum_is_clamped_not_refused() {
    let sections = layer("sections").len();
    assert!(
        sections > 100,
        "the default limit needs a layer longer than 100"
    );
    let v = in_process::json("/collections/sections/items?limit=20000").await;
    assert_eq!(v["numberReturned"], sections);
    let v = in_process::json("/collections/sections/items").await;
    assert_eq!(v["numberReturned"], 100, "default limit is 100");
    assert_eq!(v["numberMatched"], sections);
}

#[test]
fn a_pages_alternate_link_downloads_every_match_of_the_same_filters() {
    let s = server();
    let link = |page: &serde_json::Value| -> String {
        let href = page["links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "alternate")
            .expect("an alternate link")["href"]
            .as_str()
            .unwrap()
            .to_string();
        href.strip_prefix(&s.url(""))
            .expect("absolute, on this server")
            .to_string()
    };
    let page = s.json("/collections/incidents/items?department=Ouest&limit=2&offset=1");
    let path = link(&page);
    assert_eq!(path, "/collections/incidents/download?department=Ouest");
    let all = s.json(&path);
    let matched = page["numberMatched"].as_u64().unwrap();
    assert!(matched > 2, "the filter keeps several incidents");
    assert_eq!(all["features"].as_array().unwrap().len() as u64, matched);
    // Without filters, the link names the whole layer and nothing else.
    let page = s.json("/collections/incidents/items?limit=1");
    assert_eq!(link(&page), "/collections/incidents/download");
}

#[test]
fn a_feature_has_its_id_and_links() {
    let v = server().json("/collections/incidents/items/HT-2024-017");
    assert_eq!(v["id"], "HT-2024-017");
    assert_eq!(v["type"], "Feature");
    let rels: HashSet<&str> = v["links"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["rel"].as_str().unwrap())
        .collect();
    assert!(rels.contains("self") && rels.contains("alternate") && rels.contains("collection"));
    let r = server().get("/collections/incidents/items/HT-1999-999");
    assert_eq!(r.status, 404);
    assert!(r.header("content-type").unwrap().contains("json"));
}

#[actix_web::test]
async fn incident_features_carry_the_documented_properties() {
    let v = in_process::json("/collections/incidents/items?limit=100").await;
    let features = v["features"].as_array().unwrap();
    assert_eq!(features.len(), layer("incidents").len(), "every incident");
    for f in features {
        let p = &f["properties"];
        for key in [
            "event_date",
            "event_type",
            "actors",
            "fatalities",
            "injured",
            "kidnapped",
            "location_as_reported",
            "section",
            "commune",
            "department",
            "section_pcode",
            "commune_pcode",
            "department_pcode",
            "summary",
            "source_url",
            "source_name",
            "corroborating_urls",
            "confidence",
            "geo_precision",
            "geocode_status",
            "geocode_basis",
        ] {
            assert!(p.get(key).is_some(), "{} lacks {key}", f["id"]);
        }
        assert!(p["actors"].is_array() && p["corroborating_urls"].is_array());
        // A placed incident has a precision of 1 to 4; only an unplaced one has none.
        let prec = p["geo_precision"].as_u64();
        assert!(
            match prec {
                None => f["geometry"].is_null(),
                Some(n) => (1..=4).contains(&n) && !f["geometry"].is_null(),
            },
            "{}: precision {prec:?} with geometry {}",
            f["id"],
            f["geometry"]
        );
    }
}

#[test]
fn responses_carry_types_links_headers_and_etags() {
    let s = server();
    let r = s.get("/collections/incidents/items?limit=10");
    assert_eq!(r.header("content-type"), Some("application/geo+json"));
    let count = layer("incidents").len().to_string();
    assert_eq!(r.header("ogc-numbermatched"), Some(count.as_str()));
    assert!(r.header("link").unwrap().contains("rel=\"next\""));
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let etag = r.header("etag").unwrap().to_string();
    let again = s
        .request(
            "GET",
            "/collections/incidents/items?limit=10",
            &[("If-None-Match", &etag)],
        )
        .unwrap();
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let head = s
        .request("HEAD", "/collections/incidents/items?limit=10", &[])
        .unwrap();
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(head.header("content-type"), Some("application/geo+json"));
    let gz = s
        .request(
            "GET",
            "/collections/incidents/items",
            &[("Accept-Encoding", "gzip")],
        )
        .unwrap();
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(
        s.get("/collections").header("content-type"),
        Some("application/json")
    );
    assert_eq!(
        s.get("/api").header("content-type"),
        Some("application/vnd.oai.openapi+json;version=3.0")
    );
}

#[actix_web::test]
async fn the_landing_page_is_html_for_browsers_and_json_otherwise() {
    let browser = in_process::get(
        "/",
        &[(
            "Accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        )],
    )
    .await;
    assert!(browser
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(browser
        .header("content-security-policy")
        .unwrap()
        .contains("tile.openstreetmap.org"));
    assert!(in_process::get("/", &[])
        .await
        .header("content-type")
        .unwrap()
        .starts_with("application/json"));
    let forced = in_process::get("/?f=json", &[("Accept", "text/html")]).await;
    assert!(
        forced
            .header("content-type")
            .unwrap()
            .starts_with("application/json"),
        "f wins over Accept"
    );
    assert!(in_process::get("/?f=html", &[])
        .await
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
}

#[test]
fn the_download_is_the_filtered_view_as_an_attachment() {
    let s = server();
    for q in [
        "",
        "department=Ouest&datetime=2024-01-01/2024-12-31",
        "bbox=-73,18,-72,19",
    ] {
        let r = s.get(&format!("/collections/incidents/download?{q}"));
        assert_eq!(r.status, 200);
        assert!(r
            .header("content-disposition")
            .unwrap()
            .starts_with("attachment"));
        let v = r.json();
        let got: BTreeSet<String> = v["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap().to_string())
            .collect();
        let sep = if q.is_empty() { "" } else { "&" };
        let (ids, _) = walk(&format!("/collections/incidents/items?{q}{sep}limit=10000"));
        assert_eq!(got, set(&ids), "download ?{q}");
    }
    let v = s.get("/collections/sections/download").json();
    assert_eq!(v["features"].as_array().unwrap().len(), 570);
}

#[actix_web::test]
async fn the_api_declares_queryables_on_concrete_paths_and_limit_where_qgis_reads_it() {
    let v = in_process::json("/api").await;
    assert_eq!(
        v["components"]["parameters"]["limit"]["schema"]["maximum"],
        10000
    );
    assert_eq!(
        v["components"]["parameters"]["limit"]["schema"]["default"],
        100
    );
    let params = v["paths"]["/collections/incidents/items"]["get"]["parameters"]
        .as_array()
        .unwrap();
    for name in ["department", "commune", "event_type", "actor"] {
        let p = params
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{name} undeclared"));
        assert_eq!(p["in"], "query");
        assert_eq!(p["style"], "form");
        assert_eq!(p["explode"], false);
        assert_eq!(p["schema"]["type"], "string");
    }
    for id in ["gang_areas", "departments", "communes", "sections"] {
        assert!(v["paths"][format!("/collections/{id}/items")]["get"].is_object());
    }
}

#[actix_web::test]
async fn unknown_parameters_collections_and_paths_are_refused_with_json() {
    for (path, status, param) in [
        (
            "/collections/incidents/items?colour=red",
            400,
            Some("colour"),
        ),
        ("/collections/incidents/items?bbox=1,2,3", 400, Some("bbox")),
        ("/collections/incidents/items?limit=0", 400, Some("limit")),
        (
            "/collections/incidents/items?limit=unlimited",
            400,
            Some("limit"),
        ),
        (
            "/collections/incidents/items?datetime=soon",
            400,
            Some("datetime"),
        ),
        ("/collections/nowhere/items", 404, None),
        ("/nowhere", 404, None),
    ] {
        let r = in_process::get(path, &[]).await;
        assert_eq!(r.status, status, "{path}");
        let v = r.json();
        assert_eq!(v["status"], status);
        if let Some(p) = param {
            assert_eq!(v["parameter"], p, "{path}");
        }
    }
}
