//! A layer large enough for the index's counting shortcuts (30,000 synthetic incidents),
//! served over HTTP: numberMatched, pages and `near` within a box agree with a brute-force
//! reading of the file the server was given.

mod common;

use common::{copy_dir, Server};
use serde_json::Value;
use std::collections::HashSet;
use std::path::PathBuf;

const N: usize = 30_000;

struct Synthetic {
    dir: PathBuf,
    points: Vec<(String, [f64; 2])>,
}

impl Synthetic {
    fn new(name: &str) -> Synthetic {
        let dir = std::env::temp_dir().join(format!("kat-large-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&common::data_dir(), &dir);
        let gaz = kat::geocode::Gazetteer::load(&common::data_dir()).expect("gazetteer");
        let file = dir.join("incidents.geojson");
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        kat::synth::write_incidents(&gaz, N, 11, &mut out).expect("synthetic incidents");
        drop(out);
        let points = common::brute::read_layer(&file)
            .into_iter()
            .map(|f| {
                let c = &f.geometry["coordinates"];
                (f.id, [c[0].as_f64().unwrap(), c[1].as_f64().unwrap()])
            })
            .collect();
        Synthetic { dir, points }
    }

    fn inside(&self, b: [f64; 4]) -> HashSet<String> {
        self.points
            .iter()
            .filter(|(_, p)| b[0] <= p[0] && p[0] <= b[2] && b[1] <= p[1] && p[1] <= b[3])
            .map(|(id, _)| id.clone())
            .collect()
    }
}

impl Drop for Synthetic {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Boxes of every size, some with edges exactly on features' coordinates.
fn boxes(data: &Synthetic) -> Vec<[f64; 4]> {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut out = vec![[-74.5, 18.0, -71.6, 20.1], [-180.0, -90.0, 180.0, 90.0]];
    for i in 0..40 {
        let w = [0.05, 0.5, 1.5, 2.0][i % 4] * (0.5 + next());
        let x = -74.4 + (2.8 - w.min(2.7)) * next();
        let y = 18.0 + (2.0 - w.min(1.9)) * next();
        out.push([x, y, x + w, y + w.min(1.9)]);
    }
    for i in 0..20 {
        let a = data.points[(i * 997) % N].1;
        let b = data.points[(i * 7919 + 13) % N].1;
        out.push([
            a[0].min(b[0]),
            a[1].min(b[1]),
            a[0].max(b[0]),
            a[1].max(b[1]),
        ]);
    }
    out
}

fn bbox_param(b: [f64; 4]) -> String {
    // Shortest round-trip text, so that an edge on a coordinate stays exactly on it.
    format!("{},{},{},{}", b[0], b[1], b[2], b[3])
}

#[test]
fn number_matched_equals_a_brute_force_count_for_every_box() {
    let data = Synthetic::new("count");
    let server = Server::start_with(&data.dir, &["--no-watch"]);
    let all = boxes(&data);
    let holding = all.iter().filter(|b| !data.inside(**b).is_empty()).count();
    assert!(
        holding * 2 >= all.len(),
        "only {holding} of {} boxes hold points",
        all.len()
    );
    for b in all {
        let expected = data.inside(b).len();
        let v = server.json(&format!(
            "/collections/incidents/items?bbox={}&limit=3",
            bbox_param(b)
        ));
        assert_eq!(v["numberMatched"], expected, "bbox {b:?}");
        assert_eq!(v["numberReturned"], expected.min(3), "bbox {b:?}");
    }
}

#[test]
fn paging_a_large_box_returns_each_match_once() {
    let data = Synthetic::new("paging");
    let server = Server::start_with(&data.dir, &["--no-watch"]);
    let b = [-73.2, 18.4, -72.1, 19.3];
    let expected = data.inside(b);
    assert!(expected.len() > 5_000, "{}", expected.len());
    let mut seen = HashSet::new();
    let mut next = Some(format!(
        "/collections/incidents/items?bbox={}&limit=2000",
        bbox_param(b)
    ));
    while let Some(path) = next.take() {
        let v: Value = server.json(&path);
        assert_eq!(v["numberMatched"], expected.len());
        for f in v["features"].as_array().unwrap() {
            let id = f["id"].as_str().unwrap().to_string();
            assert!(seen.insert(id.clone()), "{id} listed twice");
        }
        next = server.next_path(&v);
    }
    assert_eq!(seen, expected);
}

#[test]
fn near_within_a_box_counts_the_box() {
    let data = Synthetic::new("near");
    let server = Server::start_with(&data.dir, &["--no-watch"]);
    let mut listed = 0;
    for b in boxes(&data).into_iter().take(12) {
        let expected = data.inside(b);
        let v = server.json(&format!(
            "/collections/incidents/items?bbox={}&near=-72.5,18.9&limit=5",
            bbox_param(b)
        ));
        assert_eq!(v["numberMatched"], expected.len(), "bbox {b:?}");
        for f in v["features"].as_array().unwrap() {
            assert!(expected.contains(f["id"].as_str().unwrap()));
            listed += 1;
        }
    }
    assert!(listed >= 30, "only {listed} features listed over 12 boxes");
}

#[test]
fn every_feature_is_served_as_the_file_holds_it_across_read_blocks() {
    // 30,000 features are several of the loader's read blocks: features that straddle two
    // blocks must come back whole.
    let data = Synthetic::new("whole");
    let text = std::fs::read_to_string(data.dir.join("incidents.geojson")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_serves_every_feature(&data, &doc);
}

#[test]
fn a_collection_on_one_line_is_served_whole_across_read_blocks() {
    // As Python's json.dump writes it: no newline to find features by, and escapes in the
    // names. Each read block must find where its features start.
    let data = Synthetic::new("one-line");
    let path = data.dir.join("incidents.geojson");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let text = common::python_json_dump(&doc);
    assert!(text.len() > 2 * (8 << 20) && !text.contains('\n') && text.contains("\\u00"));
    std::fs::write(&path, text).unwrap();
    assert_serves_every_feature(&data, &doc);
}

fn assert_serves_every_feature(data: &Synthetic, doc: &Value) {
    let want: std::collections::HashMap<&str, &Value> = doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].as_str().unwrap(), f))
        .collect();
    assert_eq!(want.len(), N);
    let server = Server::start_with(&data.dir, &["--no-watch"]);
    let mut seen = 0;
    for offset in (0..N).step_by(10_000) {
        let page = server.json(&format!(
            "/collections/incidents/items?limit=10000&offset={offset}"
        ));
        for f in page["features"].as_array().unwrap() {
            let id = f["id"].as_str().unwrap();
            assert_eq!(Some(&f), want.get(id), "feature {id}");
            seen += 1;
        }
    }
    assert_eq!(seen, N);
    let _ = std::fs::remove_dir_all(&data.dir);
}
