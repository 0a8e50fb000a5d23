//! Layers declared in `kat.toml`, against the real server on a private copy of the data
//! directory: a layer of one's own is served with its typed queryables (answers checked
//! against a brute-force filter of its file), a bad config is refused at start with the file,
//! the line and the key, and refused on reload while the old data keeps serving.

mod common;

use common::{copy_dir, data_dir, Server};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A copy of data/ under the system's temporary directory, removed when dropped.
struct DataCopy {
    dir: PathBuf,
}

impl DataCopy {
    fn new(name: &str) -> DataCopy {
        let dir = std::env::temp_dir().join(format!("kat-config-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&data_dir(), &dir);
        let _ = std::fs::remove_dir_all(dir.join(".kat-cache"));
        DataCopy { dir }
    }

    fn config(&self) -> PathBuf {
        self.dir.join("kat.toml")
    }

    fn append_config(&self, block: &str) {
        let mut text = std::fs::read_to_string(self.config()).unwrap();
        text.push('\n');
        text.push_str(block);
        std::fs::write(self.config(), text).unwrap();
    }
}

impl Drop for DataCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

const CHECKPOINTS: &str = r#"
[[collection]]
id = "checkpoints"
title = "Checkpoints (synthetic)"
description = "Synthetic road checkpoints for tests"
file = "checkpoints.geojson"
time_property = "opened"
required = ["name", "status"]

[collection.queryables.status]
type = "string"
match = "exact"
description = "open, closed or unknown"

[collection.queryables.capacity]
type = "integer"

[collection.queryables.name]
type = "string"
match = "contains"

[collection.queryables.armed]
type = "boolean"
"#;

/// Synthetic checkpoints spread over Haiti, each marked synthetic.
fn checkpoints() -> Vec<Value> {
    let statuses = ["open", "Open", "closed", "unknown"];
    let names = [
        "Pont Rouge",
        "Carrefour Péage",
        "Croix-des-Bouquets",
        "Pont-Sondé",
    ];
    (0..60)
        .map(|i| {
            let lon = -73.9 + (i as f64 * 0.037) % 2.1;
            let lat = 18.2 + (i as f64 * 0.053) % 1.6;
            let capacity = if i % 7 == 0 {
                Value::Null
            } else {
                json!(10 * (i % 5))
            };
            json!({
                "type": "Feature",
                "id": format!("CP-{i:03}"),
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {
                    "name": format!("{} {i}", names[i % names.len()]),
                    "status": statuses[i % statuses.len()],
                    "capacity": capacity,
                    "armed": i % 3 == 0,
                    "opened": format!("2024-{:02}-{:02}", 1 + i % 12, 1 + i % 28),
                    "synthetic": true
                }
            })
        })
        .collect()
}

fn write_checkpoints(dir: &Path, features: &[Value]) {
    let fc = json!({"type": "FeatureCollection", "features": features});
    std::fs::write(
        dir.join("checkpoints.geojson"),
        serde_json::to_string(&fc).unwrap(),
    )
    .unwrap();
}

/// Every id of every page of `path`, following `next`.
fn all_ids(server: &Server, path: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut page = server.json(path);
    loop {
        for f in page["features"].as_array().unwrap() {
            ids.push(f["id"].as_str().unwrap().to_string());
        }
        match server.next_path(&page) {
            Some(next) => page = server.json(&next),
            None => break,
        }
    }
    ids.sort();
    ids
}

fn brute(features: &[Value], keep: impl Fn(&Value) -> bool) -> Vec<String> {
    let mut ids: Vec<String> = features
        .iter()
        .filter(|f| keep(&f["properties"]))
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[test]
fn a_layer_declared_in_the_config_is_served_with_its_typed_queryables() {
    let data = DataCopy::new("own-layer");
    let features = checkpoints();
    write_checkpoints(&data.dir, &features);
    data.append_config(CHECKPOINTS);
    let server = Server::start_with(&data.dir, &["--no-watch"]);

    let collections = server.json("/collections");
    let ids: Vec<&str> = collections["collections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "incidents",
            "gang_areas",
            "departments",
            "communes",
            "sections",
            "checkpoints"
        ]
    );
    let own = server.json("/collections/checkpoints");
    assert_eq!(own["title"], "Checkpoints (synthetic)");
    let bbox = &own["extent"]["spatial"]["bbox"][0];
    let lons: Vec<f64> = features
        .iter()
        .map(|f| f["geometry"]["coordinates"][0].as_f64().unwrap())
        .collect();
    let min_lon = lons.iter().cloned().fold(f64::INFINITY, f64::min);
    assert!((bbox[0].as_f64().unwrap() - min_lon).abs() < 1e-9, "{bbox}");

    // Strings ignore case; integers compare as numbers; booleans as booleans.
    assert_eq!(
        all_ids(
            &server,
            "/collections/checkpoints/items?status=OPEN&limit=7"
        ),
        brute(&features, |p| p["status"]
            .as_str()
            .unwrap()
            .eq_ignore_ascii_case("open"))
    );
    assert_eq!(
        all_ids(&server, "/collections/checkpoints/items?capacity=40"),
        brute(&features, |p| p["capacity"] == json!(40))
    );
    assert_eq!(
        all_ids(
            &server,
            "/collections/checkpoints/items?armed=true&status=closed"
        ),
        brute(&features, |p| p["armed"] == json!(true)
            && p["status"] == "closed")
    );
    // Contains, without accents.
    assert_eq!(
        all_ids(&server, "/collections/checkpoints/items?name=sonde"),
        brute(&features, |p| p["name"]
            .as_str()
            .unwrap()
            .starts_with("Pont-Sondé"))
    );
    // The time property dates the features.
    assert_eq!(
        all_ids(
            &server,
            "/collections/checkpoints/items?datetime=2024-03-01/2024-04-30"
        ),
        brute(&features, |p| {
            let d = p["opened"].as_str().unwrap();
            ("2024-03-01"..="2024-04-30").contains(&d)
        })
    );
    let whole = server.get("/collections/checkpoints/download");
    assert_eq!(whole.status, 200);
    assert_eq!(whole.json()["features"].as_array().unwrap().len(), 60);

    // A value that does not read as the declared type names the parameter.
    let bad = server.get("/collections/checkpoints/items?capacity=ten");
    assert_eq!(bad.status, 400);
    let body = bad.json();
    assert_eq!(body["parameter"], "capacity");
    assert!(
        body["detail"].as_str().unwrap().contains("integer"),
        "{body}"
    );
    let bad = server.get("/collections/checkpoints/items?armed=yes");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["parameter"], "armed");

    // /api declares each queryable with its type, so that clients push them down.
    let api = server.json("/api");
    let params = api["paths"]["/collections/checkpoints/items"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .clone();
    let schema_of = |name: &str| {
        params
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("/api declares no parameter {name}"))["schema"]["type"]
            .clone()
    };
    assert_eq!(schema_of("capacity"), "integer");
    assert_eq!(schema_of("armed"), "boolean");
    assert_eq!(schema_of("status"), "string");
    assert_eq!(server.json("/health")["features"]["checkpoints"], json!(60));
}

#[test]
fn the_bundled_layers_answer_as_before_beside_a_layer_of_ones_own() {
    let data = DataCopy::new("bundled-beside");
    write_checkpoints(&data.dir, &checkpoints());
    data.append_config(CHECKPOINTS);
    let own = Server::start_with(&data.dir, &["--no-watch"]);
    let bundled = Server::start();
    for path in [
        "/collections/incidents/items?department=Artibonite&limit=1000",
        "/collections/gang_areas/items?group=gran%20grif",
        "/collections/communes/items?department=Ouest&limit=200",
    ] {
        let a = own.json(path);
        let b = bundled.json(path);
        assert_eq!(a["numberMatched"], b["numberMatched"], "{path}");
        assert_eq!(a["features"], b["features"], "{path}");
    }
}

/// Starts `kat serve` on `dir` and waits for it to exit; its stderr.
fn refused_start(dir: &Path, extra: &[&str]) -> String {
    let port = common::free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kat"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}"), "--data"])
        .arg(dir)
        .args(extra)
        .env("KAT_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success(), "kat started on a bad config");
            let mut err = String::new();
            use std::io::Read;
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            return err;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("kat neither started nor refused within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_bad_config_refuses_to_start_naming_the_file_the_line_and_the_key() {
    let cases: &[(&str, &str, &[&str])] = &[
        (
            "unknown-key",
            "[[collection]]\nid = \"checkpoints\"\nfile = \"checkpoints.geojson\"\ncolour = \"red\"\n",
            &["kat.toml", "colour"],
        ),
        (
            "unknown-type",
            "[[collection]]\nid = \"checkpoints\"\nfile = \"checkpoints.geojson\"\n\
             [collection.queryables.capacity]\ntype = \"float\"\n",
            &["kat.toml", "float"],
        ),
        (
            "missing-file",
            "[[collection]]\nid = \"checkpoints\"\nfile = \"nowhere.geojson\"\n",
            &["kat.toml", "nowhere.geojson", "file"],
        ),
        (
            "duplicate-id",
            "[[collection]]\nid = \"incidents\"\nfile = \"checkpoints.geojson\"\n",
            &["kat.toml", "incidents", "declared twice"],
        ),
        (
            "unknown-property",
            "[[collection]]\nid = \"checkpoints\"\nfile = \"checkpoints.geojson\"\n\
             [collection.queryables.colour]\ntype = \"string\"\n",
            &["kat.toml", "colour", "checkpoints.geojson"],
        ),
    ];
    for (name, block, needles) in cases {
        let data = DataCopy::new(name);
        write_checkpoints(&data.dir, &checkpoints());
        data.append_config(block);
        let err = refused_start(&data.dir, &[]);
        for needle in *needles {
            assert!(err.contains(needle), "{name}: no {needle:?} in: {err}");
        }
        if *name != "unknown-property" {
            assert!(err.contains("line "), "{name}: no line in: {err}");
        }
    }
}

#[test]
fn a_value_of_the_wrong_type_is_a_load_error_naming_the_file_the_feature_and_the_property() {
    let data = DataCopy::new("wrong-type");
    let mut features = checkpoints();
    features[17]["properties"]["capacity"] = json!("forty");
    write_checkpoints(&data.dir, &features);
    data.append_config(CHECKPOINTS);
    let err = refused_start(&data.dir, &[]);
    for needle in ["checkpoints.geojson", "CP-017", "capacity", "integer"] {
        assert!(err.contains(needle), "no {needle:?} in: {err}");
    }
}

#[test]
fn a_config_named_on_the_command_line_is_used() {
    let data = DataCopy::new("elsewhere");
    write_checkpoints(&data.dir, &checkpoints());
    let elsewhere = data.dir.join("conf");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let text = std::fs::read_to_string(data.config()).unwrap() + CHECKPOINTS;
    std::fs::write(elsewhere.join("mine.toml"), text).unwrap();
    let config = elsewhere.join("mine.toml");
    let server = Server::start_with(
        &data.dir,
        &["--no-watch", "--config", config.to_str().unwrap()],
    );
    assert_eq!(server.json("/health")["features"]["checkpoints"], json!(60));
}

#[test]
fn a_bad_config_on_reload_is_refused_and_the_old_data_keeps_serving() {
    let data = DataCopy::new("reload");
    write_checkpoints(&data.dir, &checkpoints());
    data.append_config(CHECKPOINTS);
    let server = Server::start_with(&data.dir, &[]);
    assert_eq!(server.json("/health")["features"]["checkpoints"], json!(60));

    let good = std::fs::read_to_string(data.config()).unwrap();
    let bad = good.replace("type = \"integer\"", "type = \"whole\"");
    let tmp = data.dir.join("kat.toml.new");
    std::fs::write(&tmp, &bad).unwrap();
    std::fs::rename(&tmp, data.config()).unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let health = loop {
        let h = server.json("/health");
        if h["reload_failures"].as_u64().unwrap_or(0) >= 1 {
            break h;
        }
        assert!(
            Instant::now() < deadline,
            "the bad config was not noticed: {h}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let error = health["last_reload_error"].as_str().unwrap();
    assert!(
        error.contains("kat.toml") && error.contains("whole"),
        "{error}"
    );
    assert!(!error.contains(&*data.dir.to_string_lossy()), "{error}");
    assert_eq!(health["features"]["checkpoints"], json!(60));
    assert_eq!(
        server
            .get("/collections/checkpoints/items?capacity=40")
            .status,
        200
    );

    // Dropping the layer from the config takes it out on the next reload.
    let without = good.replace(CHECKPOINTS, "");
    std::fs::write(&tmp, &without).unwrap();
    std::fs::rename(&tmp, data.config()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let h = server.json("/health");
        if h["features"].get("checkpoints").is_none() {
            assert!(h["last_reload_error"].is_null(), "{h}");
            break;
        }
        assert!(Instant::now() < deadline, "the layer was not dropped: {h}");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(server.get("/collections/checkpoints/items").status, 404);
}

#[test]
fn gdal_pushes_a_declared_layers_queryables_down() {
    if Command::new("ogrinfo").arg("--version").output().is_err() {
        common::skip_or_fail("ogrinfo (gdal-bin) is not installed");
        return;
    }
    let data = DataCopy::new("gdal");
    let features = checkpoints();
    write_checkpoints(&data.dir, &features);
    data.append_config(CHECKPOINTS);
    let server = Server::start_with(&data.dir, &["--no-watch"]);
    let out = Command::new("ogrinfo")
        .args(["-ro", "-so", "-al"])
        .arg(format!("OAPIF:{}", server.base))
        .args([
            "checkpoints",
            "-where",
            "status = 'closed' AND capacity = 20",
        ])
        .env("CPL_DEBUG", "ON")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("status=closed") && text.contains("capacity=20"),
        "GDAL did not send the filter to the server:\n{text}"
    );
    let expected = brute(&features, |p| {
        p["status"] == "closed" && p["capacity"] == json!(20)
    })
    .len();
    assert!(expected > 0);
    assert!(
        text.contains(&format!("Feature Count: {expected}")),
        "expected {expected} features:\n{text}"
    );
}
