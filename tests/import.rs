//! `kat import` on the bundled data and on small fixtures.
//!
//! The committed data/incidents.geojson and data/gang_areas.geojson must be exactly what a
//! fresh import produces. After a deliberate change to the importer, the gazetteer or the
//! data, rewrite them with `KAT_BLESS=1 cargo test --test import` and review the diff.

mod common;

use common::brute;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use geo::Validation;
use kat::import::{run, ImportError};
use serde_json::Value;

/// A file in the system's temporary directory, removed when the test is done with it
/// (whether it passed or not).
struct TempFile(PathBuf);

impl std::ops::Deref for TempFile {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempFile {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn temp_path(name: &str) -> TempFile {
    TempFile(std::env::temp_dir().join(format!("kat-import-{}-{name}", std::process::id())))
}

/// Imports `input`, writing to the committed file when blessing and to a temporary file
/// otherwise; returns the output bytes.
fn import(input: &str, committed: &str) -> Vec<u8> {
    let temp;
    let out: &Path = if std::env::var_os("KAT_BLESS").is_some() {
        Path::new(committed)
    } else {
        temp = temp_path(Path::new(committed).file_name().unwrap().to_str().unwrap());
        &temp
    };
    let summary = run(Path::new(input), out, Path::new("data"), false).expect("import succeeds");
    println!("{input}:\n{summary}");
    std::fs::read(out).unwrap()
}

fn features(bytes: &[u8]) -> Vec<Value> {
    let v: Value = serde_json::from_slice(bytes).expect("output is JSON");
    v["features"].as_array().expect("features array").clone()
}

fn csv_column(path: &str, column: &str) -> Vec<String> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let i = r
        .headers()
        .unwrap()
        .iter()
        .position(|h| h == column)
        .unwrap();
    r.records().map(|rec| rec.unwrap()[i].to_string()).collect()
}

/// Polygons by P-code, as rings of [lon, lat], read straight from the GeoJSON.
fn polygons(file: &str) -> HashMap<String, Vec<Vec<Vec<[f64; 2]>>>> {
    brute::read_layer(Path::new(file))
        .into_iter()
        .map(|f| {
            (
                f.properties["pcode"].as_str().unwrap().to_string(),
                brute::polygons(&f.geometry),
            )
        })
        .collect()
}

fn inside(polys: &[Vec<Vec<[f64; 2]>>], x: f64, y: f64) -> bool {
    brute::in_polygons([x, y], polys)
}

#[test]
fn fresh_incident_import_equals_the_committed_geojson_byte_for_byte() {
    let fresh = import("data/incidents.csv", "data/incidents.geojson");
    let committed =
        std::fs::read("data/incidents.geojson").expect("data/incidents.geojson is committed");
    assert!(
        fresh == committed,
        "data/incidents.geojson is stale: rerun with KAT_BLESS=1"
    );
}

#[test]
fn fresh_gang_area_import_equals_the_committed_geojson_byte_for_byte() {
    let fresh = import("data/gang_areas.csv", "data/gang_areas.geojson");
    let committed =
        std::fs::read("data/gang_areas.geojson").expect("data/gang_areas.geojson is committed");
    assert!(
        fresh == committed,
        "data/gang_areas.geojson is stale: rerun with KAT_BLESS=1"
    );
}

#[test]
fn output_has_one_feature_per_line() {
    let text = String::from_utf8(std::fs::read("data/incidents.geojson").unwrap()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], r#"{"type":"FeatureCollection","features":["#);
    assert_eq!(*lines.last().unwrap(), "]}");
    assert_eq!(
        lines.len() - 2,
        csv_column("data/incidents.csv", "id").len()
    );
    for l in &lines[1..lines.len() - 1] {
        serde_json::from_str::<Value>(l.trim_end_matches(',')).expect("each line is one feature");
    }
}

#[test]
fn every_incident_row_appears_exactly_once() {
    let ids = csv_column("data/incidents.csv", "id");
    let fs = features(&std::fs::read("data/incidents.geojson").unwrap());
    let out: Vec<&str> = fs.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(out, ids.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn every_gang_area_row_appears_once_with_a_sequential_id() {
    let rows = csv_column("data/gang_areas.csv", "group");
    let fs = features(&std::fs::read("data/gang_areas.geojson").unwrap());
    assert_eq!(fs.len(), rows.len());
    for (i, (f, group)) in fs.iter().zip(&rows).enumerate() {
        assert_eq!(f["id"], format!("GA-{:03}", i + 1));
        assert_eq!(f["properties"]["group"].as_str().unwrap(), group);
        assert_eq!(f["properties"]["approximate"], true);
    }
}

#[test]
fn placed_points_lie_in_their_department_and_commune() {
    let departments = polygons("data/admin/departments.geojson");
    let communes = polygons("data/admin/communes.geojson");
    let fs = features(&std::fs::read("data/incidents.geojson").unwrap());
    let (mut placed, mut in_commune) = (0, 0);
    for f in &fs {
        let id = f["id"].as_str().unwrap();
        let p = &f["properties"];
        if f["geometry"].is_null() {
            assert_eq!(p["geocode_status"], "unresolved", "{id}");
            continue;
        }
        let c = &f["geometry"]["coordinates"];
        let (x, y) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        let dept = p["department_pcode"].as_str().unwrap();
        assert!(
            inside(&departments[dept], x, y),
            "{id}: ({x}, {y}) outside department {dept}"
        );
        if p["geo_precision"].as_u64().unwrap() <= 3 {
            let commune = p["commune_pcode"].as_str().unwrap();
            assert!(
                inside(&communes[commune], x, y),
                "{id}: ({x}, {y}) outside commune {commune}"
            );
            in_commune += 1;
        }
        placed += 1;
    }
    // Unplaced rows are skipped above: most rows must have been checked.
    assert!(
        placed * 10 >= fs.len() * 9,
        "only {placed} of {} incidents placed",
        fs.len()
    );
    assert!(
        in_commune * 2 >= placed,
        "only {in_commune} of {placed} placed at commune level or finer"
    );
}

#[test]
fn gang_area_geometries_are_valid_multipolygons() {
    let v: Value =
        serde_json::from_slice(&std::fs::read("data/gang_areas.geojson").unwrap()).unwrap();
    let areas = v["features"].as_array().unwrap();
    assert_eq!(
        areas.len(),
        csv_column("data/gang_areas.csv", "group").len()
    );
    for f in areas {
        let id = f["id"].as_str().unwrap();
        assert_eq!(f["geometry"]["type"], "MultiPolygon", "{id}");
        let mp: geo::MultiPolygon<f64> = geo::MultiPolygon::new(
            f["geometry"]["coordinates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|poly| {
                    let rings: Vec<geo::LineString<f64>> = poly
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|r| {
                            r.as_array()
                                .unwrap()
                                .iter()
                                .map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap()))
                                .collect::<Vec<_>>()
                                .into()
                        })
                        .collect();
                    let mut rings = rings.into_iter();
                    let exterior = rings.next().unwrap();
                    assert_eq!(
                        exterior.0.first(),
                        exterior.0.last(),
                        "{id}: ring not closed"
                    );
                    geo::Polygon::new(exterior, rings.collect())
                })
                .collect(),
        );
        assert!(mp.is_valid(), "{id}: {:?}", mp.validation_errors());
        let level = f["properties"]["basis_level"].as_str().unwrap();
        assert!(
            ["section", "commune", "department"].contains(&level),
            "{id}"
        );
    }
}

#[test]
fn acled_export_imports_with_its_coordinates() {
    let out = temp_path("acled.geojson");
    let summary = run(
        Path::new("tests/fixtures/acled_sample.csv"),
        &out,
        Path::new("data"),
        true,
    )
    .unwrap();
    println!("{summary}");
    assert_eq!(summary.rows, 4);
    assert_eq!(summary.unresolved, 0);
    assert_eq!(
        summary.outside_stated_department, 1,
        "the third row is placed outside Nord on purpose"
    );
    let fs = features(&std::fs::read(&out).unwrap());
    let ids: Vec<&str> = fs.iter().map(|f| f["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["HTI90001", "HTI90002", "HTI90003", "HTI90004"]);
    let first = &fs[0];
    assert_eq!(first["geometry"]["coordinates"][0], -72.694578);
    assert_eq!(first["properties"]["geo_precision"], 1);
    assert_eq!(first["properties"]["section_pcode"], "HT0531-05");
    assert_eq!(
        first["properties"]["actors"],
        serde_json::json!(["Gran Grif", "Civilians (Haiti)"])
    );
    assert_eq!(first["properties"]["source_name"], "Synthetic Source");
    assert!(first["properties"]["source_url"].is_null());
    assert_eq!(first["properties"]["location_as_reported"], "Pont-Sonde");
    assert_eq!(fs[2]["properties"]["geocode_status"], "conflict");
    assert_eq!(fs[3]["properties"]["commune"], "Mirebalais");
    assert_eq!(fs[3]["properties"]["geo_precision"], 3);
    assert_eq!(
        fs[3]["properties"]["actors"],
        serde_json::json!(["Rioters (Haiti)"])
    );
}

#[test]
fn strict_mode_fails_on_an_unresolvable_row() {
    let out = temp_path("strict.geojson");
    let err = run(
        Path::new("tests/fixtures/unresolvable.csv"),
        &out,
        Path::new("data"),
        true,
    )
    .unwrap_err();
    match err {
        ImportError::Unresolved { count, ids } => {
            assert_eq!(count, 1);
            assert_eq!(ids, "TEST-002");
        }
        other => panic!("expected Unresolved, got {other}"),
    }
}

#[test]
fn lenient_mode_keeps_an_unresolvable_row_without_geometry() {
    let out = temp_path("lenient.geojson");
    let summary = run(
        Path::new("tests/fixtures/unresolvable.csv"),
        &out,
        Path::new("data"),
        false,
    )
    .unwrap();
    assert_eq!(summary.unresolved, 1);
    let fs = features(&std::fs::read(&out).unwrap());
    assert_eq!(fs.len(), 2);
    assert!(fs[1]["geometry"].is_null());
    assert_eq!(fs[1]["properties"]["geocode_status"], "unresolved");
    assert!(fs[1]["properties"]["geo_precision"].is_null());
}

#[test]
fn unknown_csv_format_is_refused_with_its_header() {
    let input = temp_path("unknown.csv");
    std::fs::write(&input, "foo,bar\n1,2\n").unwrap();
    let err = run(
        &input,
        &temp_path("unknown.geojson"),
        Path::new("data"),
        false,
    )
    .unwrap_err();
    assert!(err.to_string().contains("foo,bar"), "{err}");
}
