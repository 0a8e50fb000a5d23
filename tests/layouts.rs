//! The same incidents written in the layouts a GeoJSON file can take (one feature per line,
//! pretty-printed, CRLF, blank lines, members after the array...) are served identically:
//! every feature, member for member, as serde_json reads the file. And a file whose commas
//! are wrong is refused whatever its layout.

mod common;

use common::{copy_dir, Server};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

fn committed() -> (Value, Vec<String>) {
    let text = std::fs::read_to_string(common::data_dir().join("incidents.geojson")).unwrap();
    let doc: Value = serde_json::from_str(&text).unwrap();
    let lines = doc["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| serde_json::to_string(f).unwrap())
        .collect();
    (doc, lines)
}

fn data_with(name: &str, incidents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kat-layout-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    copy_dir(&common::data_dir(), &dir);
    std::fs::write(dir.join("incidents.geojson"), incidents).unwrap();
    dir
}

/// Every feature the server lists, by id.
fn served(dir: &Path) -> HashMap<String, Value> {
    let server = Server::start_with(dir, &["--no-watch"]);
    let page = server.json("/collections/incidents/items?limit=10000");
    let mut out = HashMap::new();
    for f in page["features"].as_array().unwrap() {
        out.insert(f["id"].as_str().unwrap().to_string(), f.clone());
    }
    // One feature alone carries its links, after the members the file holds.
    let (id, want) = out
        .iter()
        .next()
        .map(|(k, v)| (k.clone(), v.clone()))
        .unwrap();
    let mut one = server.json(&format!("/collections/incidents/items/{id}"));
    assert!(one["links"].is_array(), "{one}");
    one.as_object_mut().unwrap().remove("links");
    assert_eq!(one, want);
    out
}

fn assert_serves_the_file(name: &str, text: &str) {
    let (doc, _) = committed();
    let dir = data_with(name, text);
    let got = served(&dir);
    let want = doc["features"].as_array().unwrap();
    assert_eq!(got.len(), want.len(), "{name}: feature count");
    for f in want {
        let id = f["id"].as_str().unwrap();
        assert_eq!(got.get(id), Some(f), "{name}: feature {id}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_layout_of_the_same_features_is_served_member_for_member() {
    let (doc, lines) = committed();
    let layouts: Vec<(&str, String)> = vec![
        (
            "lines",
            format!(
                "{{\"type\":\"FeatureCollection\",\"features\":[\n{}\n]}}\n",
                lines.join(",\n")
            ),
        ),
        ("pretty", serde_json::to_string_pretty(&doc).unwrap()),
        ("compact", serde_json::to_string(&doc).unwrap()),
        ("python-json-dump", common::python_json_dump(&doc)),
        (
            "crlf-and-blank-lines",
            format!(
                "{{\"type\":\"FeatureCollection\",\r\n\"features\":[\r\n\r\n{}\r\n\r\n]\r\n}}",
                lines.join(",\r\n  \r\n")
            ),
        ),
        (
            "first-feature-on-the-bracket-line",
            format!(
                "{{\"type\":\"FeatureCollection\",\"features\":[{}\n]}}",
                lines.join(",\n")
            ),
        ),
        (
            "members-after-the-array",
            format!(
                "{{\"features\":[\n{}\n],\n\"name\":\"incidents\",\n\"bbox\":[\n-74.5,\n18.0,\n-71.6,\n20.1\n],\n\"type\":\"FeatureCollection\"}}",
                lines.join(",\n")
            ),
        ),
        (
            "commas-leading-the-lines",
            format!(
                "{{\"type\":\"FeatureCollection\",\"features\":[\n{}\n]}}",
                lines.join("\n,")
            ),
        ),
        (
            "spaces-inside-features",
            format!(
                "{{\"type\":\"FeatureCollection\",\"features\":[\n{}\n]}}",
                lines
                    .iter()
                    .map(|l| l.replace("\":", "\" : ").replace(",\"", " , \""))
                    .collect::<Vec<_>>()
                    .join(",\n")
            ),
        ),
        (
            // As GDAL writes a layer: the properties first, the id and geometry after them.
            "properties-before-geometry-and-id",
            format!(
                "{{\n\"type\": \"FeatureCollection\",\n\"features\": [\n{}\n]\n}}\n",
                doc["features"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|f| format!(
                        "{{ \"type\": \"Feature\", \"properties\": {}, \"geometry\": {}, \"id\": {} }}",
                        f["properties"], f["geometry"], f["id"]
                    ))
                    .collect::<Vec<_>>()
                    .join(",\n")
            ),
        ),
    ];
    for (name, text) in layouts {
        assert_serves_the_file(name, &text);
    }
}

fn incidents_spec() -> std::sync::Arc<kat::layer::CollectionSpec> {
    let config = kat::catalog::config::Config::load(&common::data_dir().join("kat.toml")).unwrap();
    std::sync::Arc::clone(config.collection("incidents").unwrap())
}

#[test]
fn a_missing_or_extra_comma_between_feature_lines_is_refused() {
    let (_, lines) = committed();
    let spec = incidents_spec();
    let bad = [
        ("missing", lines.join("\n")),
        ("trailing", format!("{},", lines.join(",\n"))),
        ("doubled", lines.join(",,\n")),
    ];
    for (name, body) in bad {
        let dir = data_with(
            &format!("comma-{name}"),
            &format!("{{\"type\":\"FeatureCollection\",\"features\":[\n{body}\n]}}"),
        );
        let err = kat::layer::load_layer(&dir, &spec)
            .err()
            .unwrap_or_else(|| panic!("{name}: a file with a {name} comma loaded"));
        assert!(
            err.to_string().contains("incidents.geojson"),
            "{name}: {err}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_bad_value_after_good_copies_of_its_member_is_refused_with_its_feature() {
    let (_, lines) = committed();
    let spec = incidents_spec();
    let first: Value = serde_json::from_str(&lines[0]).unwrap();
    // Every feature carries the first one's date and department; the last one's are wrong.
    let mut features: Vec<Value> = lines
        .iter()
        .map(|l| {
            let mut f: Value = serde_json::from_str(l).unwrap();
            for member in ["event_date", "department"] {
                f["properties"][member] = first["properties"][member].clone();
            }
            f
        })
        .collect();
    let last = features.len() - 1;
    let id = features[last]["id"].as_str().unwrap().to_string();
    let cases = [
        (
            "department",
            serde_json::json!({"name": "Ouest"}),
            "\"department\": expected a string",
        ),
        (
            "event_date",
            serde_json::json!("2024-13-45"),
            "\"event_date\" is \"2024-13-45\"",
        ),
    ];
    for (member, value, problem) in cases {
        let good = features[last]["properties"][member].clone();
        features[last]["properties"][member] = value;
        let body: Vec<String> = features.iter().map(|f| f.to_string()).collect();
        let dir = data_with(
            &format!("value-{member}"),
            &format!(
                "{{\"type\":\"FeatureCollection\",\"features\":[\n{}\n]}}",
                body.join(",\n")
            ),
        );
        let err = kat::layer::load_layer(&dir, &spec)
            .err()
            .unwrap_or_else(|| panic!("a bad {member} loaded"))
            .to_string();
        assert!(err.contains(&format!("#{last} (id \"{id}\")")), "{err}");
        assert!(err.contains(problem), "{err}");
        features[last]["properties"][member] = good;
        let _ = std::fs::remove_dir_all(&dir);
    }
}
