//! Real clients read Kat unchanged: GDAL's OAPIF driver and Python's OWSLib.
//! A missing tool skips with its reason, except under CI=true, where it fails.

mod common;

use common::brute::{self, read_layer};
use common::{data_dir, skip_or_fail, Server};
use std::process::Command;

fn have(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn python_with_owslib() -> Option<&'static str> {
    ["/usr/bin/python3", "python3"].into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import owslib"])
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

fn file_count(file: &str) -> usize {
    read_layer(&data_dir().join(file)).len()
}

#[test]
fn ogrinfo_reports_every_layer_and_its_feature_count() {
    if !have("ogrinfo", "--version") {
        return skip_or_fail("ogrinfo (gdal-bin) is not installed");
    }
    let s = Server::start();
    for (layer, file) in [
        ("incidents", "incidents.geojson"),
        ("gang_areas", "gang_areas.geojson"),
        ("departments", "admin/departments.geojson"),
        ("communes", "admin/communes.geojson"),
        ("sections", "admin/sections.geojson"),
    ] {
        let out = Command::new("ogrinfo")
            .args(["-so", &format!("OAPIF:{}", s.base), layer])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "ogrinfo {layer}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains(&format!("Feature Count: {}", file_count(file))),
            "ogrinfo {layer}:\n{text}"
        );
    }
}

#[test]
fn ogr2ogr_copies_every_incident_to_a_geopackage() {
    if !have("ogr2ogr", "--version") {
        return skip_or_fail("ogr2ogr (gdal-bin) is not installed");
    }
    let s = Server::start();
    let dir = std::env::temp_dir().join(format!("kat-ogr2ogr-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let gpkg = dir.join("incidents.gpkg");
    let _ = std::fs::remove_file(&gpkg);
    let out = Command::new("ogr2ogr")
        .args(["-f", "GPKG"])
        .arg(&gpkg)
        .arg(format!("OAPIF:{}", s.base))
        .arg("incidents")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ogr2ogr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info = Command::new("ogrinfo")
        .args(["-so"])
        .arg(&gpkg)
        .arg("incidents")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&info.stdout);
    assert!(
        text.contains(&format!(
            "Feature Count: {}",
            file_count("incidents.geojson")
        )),
        "{text}"
    );
    // A pushed-down attribute filter gives the same features as the file says.
    let ouest = read_layer(&data_dir().join("incidents.geojson"))
        .iter()
        .filter(|f| f.properties["department"] == "Ouest")
        .count();
    // A filter that keeps all or nothing would not show that GDAL pushed it down.
    assert!(ouest > 0 && ouest < file_count("incidents.geojson"));
    let out = Command::new("ogrinfo")
        .args([
            "-ro",
            "-al",
            "-so",
            "-where",
            "department = 'Ouest'",
            &format!("OAPIF:{}", s.base),
            "incidents",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("Feature Count: {ouest}")), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn owslib_lists_the_collections_and_fetches_items_in_a_bbox() {
    let Some(py) = python_with_owslib() else {
        return skip_or_fail("python3 with OWSLib (python3-owslib) is not installed");
    };
    let s = Server::start();
    let b = [-72.5, 18.4, -72.2, 18.7];
    let script = format!(
        r#"
import json
from owslib.ogcapi.features import Features
w = Features("{base}")
ids = sorted(c["id"] for c in w.collections()["collections"])
items = w.collection_items("incidents", bbox={bbox:?}, limit=1000)
one = w.collection_item("incidents", "HT-2024-017")
print(json.dumps({{"ids": ids, "matched": items["numberMatched"],
                  "got": sorted(f["id"] for f in items["features"]), "one": one["id"],
                  "conformance": w.conformance()["conformsTo"]}}))
"#,
        base = s.base,
        bbox = b
    );
    let out = Command::new(py).args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "owslib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["ids"],
        serde_json::json!([
            "communes",
            "departments",
            "gang_areas",
            "incidents",
            "sections"
        ])
    );
    let mut expected: Vec<String> = read_layer(&data_dir().join("incidents.geojson"))
        .into_iter()
        .filter(|f| brute::intersects_box(&f.geometry, b))
        .map(|f| f.id)
        .collect();
    expected.sort();
    assert!(!expected.is_empty(), "the box must hold incidents");
    assert_eq!(v["matched"], expected.len());
    assert_eq!(v["got"], serde_json::json!(expected));
    assert_eq!(v["one"], "HT-2024-017");
}
