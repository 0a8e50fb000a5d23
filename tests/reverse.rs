//! Reverse lookup against a brute-force point-in-polygon test written here, independent of
//! the crate's R-tree and geo's predicates.

use std::path::Path;

use kat::geocode::Gazetteer;
use serde_json::Value;

/// Haiti's bounding box from PROVENANCE.md.
const BBOX: [f64; 4] = [-74.4804, 18.02214, -71.62215, 20.08923];

struct Section {
    pcode: String,
    bbox: [f64; 4],
    rings: Vec<Vec<[f64; 2]>>,
}

fn sections() -> Vec<Section> {
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string("data/admin/sections.geojson").unwrap())
            .unwrap();
    v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let g = &f["geometry"];
            let polys: Vec<&Value> = match g["type"].as_str().unwrap() {
                "Polygon" => vec![&g["coordinates"]],
                _ => g["coordinates"].as_array().unwrap().iter().collect(),
            };
            let rings: Vec<Vec<[f64; 2]>> = polys
                .iter()
                .flat_map(|p| p.as_array().unwrap().iter())
                .map(|r| {
                    r.as_array()
                        .unwrap()
                        .iter()
                        .map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
                        .collect()
                })
                .collect();
            let mut bbox = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
            for p in rings.iter().flatten() {
                bbox = [
                    bbox[0].min(p[0]),
                    bbox[1].min(p[1]),
                    bbox[2].max(p[0]),
                    bbox[3].max(p[1]),
                ];
            }
            Section {
                pcode: f["properties"]["pcode"].as_str().unwrap().to_string(),
                bbox,
                rings,
            }
        })
        .collect()
}

/// Even-odd ray casting over all rings (holes included).
fn contains(s: &Section, x: f64, y: f64) -> bool {
    if x < s.bbox[0] || x > s.bbox[2] || y < s.bbox[1] || y > s.bbox[3] {
        return false;
    }
    let mut odd = false;
    for ring in &s.rings {
        for w in ring.windows(2) {
            let ([x1, y1], [x2, y2]) = (w[0], w[1]);
            if (y1 > y) != (y2 > y) && x < x1 + (y - y1) * (x2 - x1) / (y2 - y1) {
                odd = !odd;
            }
        }
    }
    odd
}

/// A small deterministic generator (SplitMix64), so that every run tests the same points.
struct SplitMix(u64);

impl SplitMix {
    fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[test]
fn reverse_agrees_with_brute_force_point_in_polygon_over_all_sections() {
    let g = Gazetteer::load(Path::new("data")).unwrap();
    let all = sections();
    assert_eq!(all.len(), 570);
    let mut rng = SplitMix(20_181_129);
    let (mut on_land, mut at_sea) = (0, 0);
    for _ in 0..3000 {
        let x = BBOX[0] + rng.next_f64() * (BBOX[2] - BBOX[0]);
        let y = BBOX[1] + rng.next_f64() * (BBOX[3] - BBOX[1]);
        let expected: Vec<&str> = all
            .iter()
            .filter(|s| contains(s, x, y))
            .map(|s| s.pcode.as_str())
            .collect();
        assert!(
            expected.len() <= 1,
            "({x}, {y}) lies in several sections: {expected:?}"
        );
        let got = g.reverse(x, y);
        match (expected.first(), &got) {
            (None, None) => at_sea += 1,
            (Some(pcode), Some(hit)) => {
                on_land += 1;
                assert_eq!(&hit.section_pcode, pcode, "({x}, {y})");
                assert!(
                    hit.section_pcode.starts_with(&hit.commune_pcode),
                    "({x}, {y}) {hit:?}"
                );
                assert!(
                    hit.commune_pcode.starts_with(&hit.department_pcode),
                    "({x}, {y}) {hit:?}"
                );
            }
            (e, got) => panic!("({x}, {y}): brute force says {e:?}, reverse says {got:?}"),
        }
    }
    println!("{on_land} points on land, {at_sea} at sea or abroad");
    assert!(
        on_land > 1000 && at_sea > 500,
        "the sample should cover both land and sea"
    );
}

#[test]
fn points_in_the_sea_have_no_admin_hit() {
    let g = Gazetteer::load(Path::new("data")).unwrap();
    // Golfe de la Gonâve, the Windward Passage and the Caribbean Sea south of Jacmel.
    for (x, y) in [(-73.0, 18.9), (-74.3, 19.9), (-72.5, 18.05)] {
        assert_eq!(g.reverse(x, y), None, "({x}, {y})");
    }
    assert_eq!(g.reverse(f64::NAN, 18.5), None);
}

#[test]
fn reverse_names_the_units_of_a_known_place() {
    let g = Gazetteer::load(Path::new("data")).unwrap();
    // The inside point of 5e Section Bocozelle in admin_places.csv.
    let hit = g.reverse(-72.694578, 19.1878).unwrap();
    assert_eq!(hit.section_pcode, "HT0531-05");
    assert_eq!(hit.commune, "Saint-Marc");
    assert_eq!(hit.department, "Artibonite");
    let f = hit.to_feature(-72.694578, 19.1878);
    assert_eq!(f["properties"]["section"], "5e Section Bocozelle");
}
