//! `near`, `within` and `near_feature` against a brute-force spherical computation over every
//! feature of the layer.
//!
//! The server measures on the WGS84 ellipsoid, the brute force on the mean sphere. In Haiti's
//! latitudes the two differ by less than 0.3%; the tolerance below is 0.6% plus 1 m, the
//! largest gap anywhere on Earth, and nothing else.

mod common;

use common::brute::{self, read_layer, FileFeature, Rng};
use common::{data_dir, Server};
use serde_json::Value;
use std::sync::OnceLock;

const TOL: f64 = 0.006;

/// How many of the random `within` rounds must find at least one feature, per layer. Much of the
/// drawing box is sea or the Dominican Republic, so not every round can; these floors are
/// about two thirds of what the fixed seeds find on the bundled data.
const FLOOR_INCIDENTS: usize = 40;
const FLOOR_GANG_AREAS: usize = 18;
const FLOOR_DEPARTMENTS: usize = 7;
const FLOOR_COMMUNES: usize = 11;
const FLOOR_SECTIONS: usize = 11;

fn server() -> &'static Server {
    static S: OnceLock<Server> = OnceLock::new();
    S.get_or_init(Server::start)
}

fn file(id: &str) -> &'static str {
    match id {
        "incidents" => "incidents.geojson",
        "gang_areas" => "gang_areas.geojson",
        "departments" => "admin/departments.geojson",
        "communes" => "admin/communes.geojson",
        _ => "admin/sections.geojson",
    }
}

/// Every feature of the answer, following next links: (id, distance_m).
fn fetch(path: &str) -> (Vec<(String, f64)>, usize) {
    let s = server();
    let mut page = s.json(path);
    let matched = page["numberMatched"].as_u64().unwrap() as usize;
    let mut out = Vec::new();
    loop {
        for f in page["features"].as_array().unwrap() {
            let d = f["properties"]["distance_m"]
                .as_f64()
                .expect("distance_m on every feature");
            out.push((
                f["id"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| f["id"].to_string()),
                d,
            ));
        }
        match s.next_path(&page) {
            Some(rel) => page = s.json(&rel),
            None => break,
        }
    }
    (out, matched)
}

fn brute_distances(
    feats: &[FileFeature],
    p: [f64; 2],
    keep: impl Fn(&FileFeature) -> bool,
) -> Vec<(String, f64)> {
    let mut v: Vec<(String, f64)> = feats
        .iter()
        .filter(|f| keep(f))
        .filter_map(|f| brute::distance(p, &f.geometry).map(|d| (f.id.clone(), d)))
        .collect();
    v.sort_by(|a, b| a.1.total_cmp(&b.1));
    v
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= a.max(b) * TOL + 1.0
}

/// The answer within `r` must be exactly the features within `r`, except those whose
/// spherical and ellipsoidal distances fall on either side of `r`.
fn check_within(
    layer: &str,
    feats: &[FileFeature],
    p: [f64; 2],
    r: f64,
    extra: &str,
    keep: &dyn Fn(&FileFeature) -> bool,
) -> usize {
    let (got, matched) = fetch(&format!(
        "/collections/{layer}/items?near={},{}&within={r}&limit=500{extra}",
        p[0], p[1]
    ));
    assert_eq!(
        matched,
        got.len(),
        "{layer} near {p:?} within {r}: numberMatched"
    );
    for w in got.windows(2) {
        assert!(w[0].1 <= w[1].1, "{layer}: not sorted by distance: {w:?}");
    }
    let brute = brute_distances(feats, p, keep);
    for (id, d) in &got {
        assert!(*d <= r, "{layer}: {id} at {d} m is beyond {r}");
        let b = brute
            .iter()
            .find(|(bid, _)| bid == id)
            .unwrap_or_else(|| panic!("{layer}: {id} should not match"));
        assert!(
            close(*d, b.1),
            "{layer}: {id}: server {d} m, sphere {} m",
            b.1
        );
    }
    for (id, d) in &brute {
        if *d < r * (1.0 - TOL) - 1.0 {
            assert!(
                got.iter().any(|(g, _)| g == id),
                "{layer} near {p:?} within {r}{extra}: missing {id} at {d} m"
            );
        }
    }
    got.len()
}

/// Asserts that at least `floor` of the `rounds` random rounds found something: a round whose
/// circle holds no feature checks nothing but that the answer is empty.
fn assert_rounds_found(what: &str, found: usize, rounds: usize, floor: usize) {
    println!("{what}: {found} of {rounds} rounds found features");
    assert!(
        found >= floor,
        "{what}: only {found} of {rounds} random rounds found any feature (at least {floor} expected)"
    );
}

#[test]
fn within_radius_is_exact_against_brute_force_on_points_and_polygons() {
    let mut rng = Rng(2025);
    for (layer, rounds, floor) in [
        ("incidents", 150, FLOOR_INCIDENTS),
        ("gang_areas", 60, FLOOR_GANG_AREAS),
        ("departments", 15, FLOOR_DEPARTMENTS),
        ("communes", 20, FLOOR_COMMUNES),
        ("sections", 20, FLOOR_SECTIONS),
    ] {
        let feats = read_layer(&data_dir().join(file(layer)));
        let mut found = 0;
        for _ in 0..rounds {
            let p = [rng.range(-74.5, -71.6), rng.range(18.0, 20.1)];
            let r = rng.range(500.0, 60_000.0);
            found += usize::from(check_within(layer, &feats, p, r, "", &|_| true) > 0);
        }
        assert_rounds_found(&format!("{layer} within"), found, rounds, floor);
    }
}

#[test]
fn k_nearest_are_the_k_nearest() {
    let mut rng = Rng(7);
    for (layer, rounds) in [("incidents", 120), ("gang_areas", 40), ("communes", 15)] {
        let feats = read_layer(&data_dir().join(file(layer)));
        for _ in 0..rounds {
            let p = [rng.range(-74.5, -71.6), rng.range(18.0, 20.1)];
            let k = 1 + (rng.next_f64() * 12.0) as usize;
            let v = server().json(&format!(
                "/collections/{layer}/items?near={},{}&limit={k}",
                p[0], p[1]
            ));
            let got: Vec<(String, f64)> = v["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| {
                    (
                        f["id"].as_str().unwrap().to_string(),
                        f["properties"]["distance_m"].as_f64().unwrap(),
                    )
                })
                .collect();
            let brute = brute_distances(&feats, p, |_| true);
            assert_eq!(got.len(), k.min(brute.len()));
            let kth = brute[got.len() - 1].1;
            for w in got.windows(2) {
                assert!(w[0].1 <= w[1].1);
            }
            for (id, d) in &got {
                assert!(
                    *d <= kth * (1.0 + TOL) + 1.0,
                    "{layer} {id} at {d} is not among the {k} nearest (k-th {kth})"
                );
            }
            for (id, d) in &brute {
                if *d < got.last().unwrap().1 * (1.0 - TOL) - 1.0 {
                    assert!(
                        got.iter().any(|(g, _)| g == id),
                        "{layer}: nearer {id} at {d} m was skipped"
                    );
                }
            }
            let with_geometry = feats.iter().filter(|f| !f.geometry.is_null()).count();
            assert_eq!(v["numberMatched"].as_u64().unwrap() as usize, with_geometry);
        }
    }
}

#[test]
fn proximity_combines_with_filters_bbox_and_dates() {
    let feats = read_layer(&data_dir().join("incidents.geojson"));
    let mut rng = Rng(99);
    let (mut by_department, mut by_date, mut by_bbox) = (0, 0, 0);
    for _ in 0..40 {
        let p = [rng.range(-73.0, -72.0), rng.range(18.3, 19.4)];
        let r = rng.range(5_000.0, 80_000.0);
        by_department += usize::from(
            check_within("incidents", &feats, p, r, "&department=Ouest", &|f| {
                f.properties["department"] == "Ouest"
            }) > 0,
        );
        by_date += usize::from(
            check_within(
                "incidents",
                &feats,
                p,
                r,
                "&datetime=2024-01-01/2024-12-31",
                &|f| {
                    f.properties["event_date"]
                        .as_str()
                        .is_some_and(|d| d.starts_with("2024"))
                },
            ) > 0,
        );
        by_bbox += usize::from(
            check_within(
                "incidents",
                &feats,
                p,
                r,
                "&bbox=-72.6,18.3,-72.0,18.8",
                &|f| brute::intersects_box(&f.geometry, [-72.6, 18.3, -72.0, 18.8]),
            ) > 0,
        );
    }
    assert_rounds_found("near with department", by_department, 40, 16);
    assert_rounds_found("near with datetime", by_date, 40, 16);
    assert_rounds_found("near with bbox", by_bbox, 40, 16);
}

#[test]
fn paging_keeps_near_and_within() {
    let all =
        server().json("/collections/incidents/items?near=-72.33,18.54&within=200000&limit=1000");
    let (paged, matched) =
        fetch("/collections/incidents/items?near=-72.33,18.54&within=200000&limit=3");
    assert_eq!(matched, all["numberMatched"].as_u64().unwrap() as usize);
    assert!(
        matched > 6,
        "only {matched} incidents within 200 km of Port-au-Prince: no paging"
    );
    let ids: Vec<&str> = all["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        paged.iter().map(|(i, _)| i.as_str()).collect::<Vec<_>>(),
        ids
    );
    let next =
        server().json("/collections/incidents/items?near=-72.33,18.54&within=200000&limit=3");
    let href = next["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "next")
        .unwrap()["href"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(href.contains("near=") && href.contains("within="));
}

#[test]
fn an_area_is_at_distance_zero_from_a_point_inside_it() {
    let feats = read_layer(&data_dir().join("gang_areas.geojson"));
    let mut checked = 0;
    for f in feats.iter().take(20) {
        let polys = brute::polygons(&f.geometry);
        // A point inside: the midpoint of the first two ring vertices nudged inward is not
        // guaranteed, so search a small grid over the envelope for one the ray test accepts.
        let ring = &polys[0][0];
        let (x0, x1) = ring
            .iter()
            .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p[0]), a.1.max(p[0])));
        let (y0, y1) = ring
            .iter()
            .fold((f64::MAX, f64::MIN), |a, p| (a.0.min(p[1]), a.1.max(p[1])));
        let inside = (1..20)
            .flat_map(|i| {
                (1..20).map(move |j| {
                    [
                        x0 + (x1 - x0) * i as f64 / 20.0,
                        y0 + (y1 - y0) * j as f64 / 20.0,
                    ]
                })
            })
            .find(|p| brute::in_polygons(*p, &polys));
        let Some(p) = inside else { continue };
        let v = server().json(&format!(
            "/collections/gang_areas/items?near={},{}&within=1&limit=100",
            p[0], p[1]
        ));
        let hit = v["features"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["id"] == Value::String(f.id.clone()));
        let hit = hit.unwrap_or_else(|| panic!("{} not found from inside", f.id));
        assert_eq!(hit["properties"]["distance_m"], 0.0);
        checked += 1;
    }
    assert!(
        checked >= 15,
        "an inside point was found for only {checked} of 20 areas"
    );
}

#[test]
fn near_feature_answers_which_areas_lie_near_an_incident() {
    let incidents = read_layer(&data_dir().join("incidents.geojson"));
    let inc = incidents.iter().find(|f| f.id == "HT-2025-007").unwrap();
    let p = brute::point(&inc.geometry).unwrap();
    let areas = read_layer(&data_dir().join("gang_areas.geojson"));
    let (got, _) =
        fetch("/collections/gang_areas/items?near_feature=incidents/HT-2025-007&within=5000");
    let (by_point, _) = fetch(&format!(
        "/collections/gang_areas/items?near={},{}&within=5000",
        p[0], p[1]
    ));
    assert_eq!(got, by_point);
    assert!(
        !got.is_empty(),
        "no armed-group area within 5 km of HT-2025-007: the comparison proves nothing"
    );
    assert_eq!(
        check_within("gang_areas", &areas, p, 5000.0, "", &|_| true),
        got.len()
    );
    let r = server().get("/collections/gang_areas/items?near_feature=incidents/NOPE&within=5000");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["parameter"], "near_feature");
}
