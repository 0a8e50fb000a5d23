//! CSV and GeoPackage answers, against the real server: the CSV read with the `csv` crate and
//! the GeoPackage opened by GDAL (`ogrinfo`, `ogr2ogr`) and by SQLite, each compared with
//! the GeoJSON answer to the same query.
//!
//! A missing GDAL skips the GeoPackage checks with its reason, except under CI=true, where
//! it fails.

mod common;

use common::{skip_or_fail, Server};
use serde_json::Value;
use std::collections::BTreeMap;
use std::process::Command;
use std::sync::OnceLock;

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(Server::start)
}

const BOM: &[u8] = b"\xef\xbb\xbf";

/// A CSV answer: its header and rows, by column name.
struct Table {
    header: Vec<String>,
    rows: Vec<BTreeMap<String, String>>,
}

fn read_csv(body: &[u8]) -> Table {
    assert!(
        body.starts_with(BOM),
        "a CSV answer starts with a UTF-8 BOM"
    );
    let mut reader = csv::Reader::from_reader(&body[BOM.len()..]);
    let header: Vec<String> = reader
        .headers()
        .expect("a header row")
        .iter()
        .map(String::from)
        .collect();
    let rows = reader
        .records()
        .map(|r| {
            let r = r.expect("a well-formed CSV row");
            assert_eq!(r.len(), header.len(), "every row has every column");
            header
                .iter()
                .cloned()
                .zip(r.iter().map(String::from))
                .collect()
        })
        .collect();
    Table { header, rows }
}

/// A property value as a spreadsheet cell should show it, from the GeoJSON.
fn expected_cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().map(expected_cell).collect::<Vec<_>>().join("; "),
        other => other.to_string(),
    }
}

fn features(v: &Value) -> &Vec<Value> {
    v["features"].as_array().expect("features")
}

fn csv_of(path: &str) -> (common::Response, Table) {
    let r = server().get(path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    let table = read_csv(&r.body);
    (r, table)
}

/// The CSV answer to `query` holds the GeoJSON answer's features, in order, with every
/// property's value, and point coordinates as numbers that read back exactly.
fn assert_csv_matches_geojson(path: &str, query: &str) {
    let sep = if query.is_empty() { "" } else { "&" };
    let geojson = server().json(&format!("{path}?{query}"));
    let (r, table) = csv_of(&format!("{path}?{query}{sep}f=csv"));
    assert_eq!(
        r.header("content-type"),
        Some("text/csv; charset=utf-8"),
        "{path}?{query}"
    );
    let feats = features(&geojson);
    assert_eq!(
        table.rows.len(),
        feats.len(),
        "{path}?{query}: one row per feature"
    );
    assert_eq!(table.header[0], "id");
    for (row, f) in table.rows.iter().zip(feats) {
        assert_eq!(row["id"], f["id"].as_str().unwrap(), "{path}?{query}");
        for (name, value) in f["properties"].as_object().unwrap() {
            assert_eq!(
                row.get(name).map(String::as_str),
                Some(expected_cell(value).as_str()),
                "{path}?{query}: feature {} property {name}",
                f["id"]
            );
        }
        // A property this feature lacks is an empty cell.
        for (name, cell) in row {
            if !["id", "longitude", "latitude", "wkt"].contains(&name.as_str())
                && f["properties"].get(name).is_none()
            {
                assert_eq!(cell, "", "{name} of {}", f["id"]);
            }
        }
        if f["geometry"]["type"] == "Point" {
            let c = &f["geometry"]["coordinates"];
            let lon: f64 = row["longitude"].parse().expect("a longitude");
            let lat: f64 = row["latitude"].parse().expect("a latitude");
            assert_eq!([lon, lat], [c[0].as_f64().unwrap(), c[1].as_f64().unwrap()]);
        }
    }
}

#[test]
fn csv_pages_hold_the_geojson_pages_ids_and_values() {
    for (path, query) in [
        ("/collections/incidents/items", "limit=1000"),
        (
            "/collections/incidents/items",
            "department=Ouest&limit=7&offset=3",
        ),
        (
            "/collections/incidents/items",
            "bbox=-72.45,18.48,-72.25,18.62",
        ),
        (
            "/collections/incidents/items",
            "event_type=massacre&datetime=2024-01-01/..",
        ),
        (
            "/collections/incidents/items",
            "near=-72.6153,19.1507&within=30000",
        ),
        ("/collections/gang_areas/items", "status=controlled"),
        ("/collections/communes/items", "department=Ouest&limit=50"),
    ] {
        assert_csv_matches_geojson(path, query);
    }
}

#[test]
fn csv_download_equals_the_filtered_geojson_download() {
    for query in ["", "department=Artibonite", "actor=gran%20grif"] {
        assert_csv_matches_geojson("/collections/incidents/download", query);
    }
    assert_csv_matches_geojson("/collections/sections/download", "department=Nord");
    let r = server().get("/collections/incidents/download?f=csv");
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"incidents.csv\"")
    );
}

#[test]
fn csv_keeps_accents_and_quotes_what_needs_quoting() {
    let (r, table) = csv_of("/collections/incidents/download?f=csv");
    let text = std::str::from_utf8(&r.body).expect("CSV is UTF-8");
    assert!(
        text.contains("Pétion-Ville"),
        "accents are written as UTF-8"
    );
    assert!(
        table
            .rows
            .iter()
            .any(|row| row["commune"] == "Pétion-Ville"),
        "and read back intact"
    );
    // Summaries hold commas: the rows still have one cell per column (checked by read_csv)
    // and the summary reads back whole.
    let geojson = server().json("/collections/incidents/download");
    let with_comma = features(&geojson)
        .iter()
        .find(|f| {
            f["properties"]["summary"]
                .as_str()
                .is_some_and(|s| s.contains(','))
        })
        .expect("a summary with a comma");
    let row = table
        .rows
        .iter()
        .find(|row| row["id"] == with_comma["id"].as_str().unwrap())
        .unwrap();
    assert_eq!(
        row["summary"],
        with_comma["properties"]["summary"].as_str().unwrap()
    );
    assert!(table
        .header
        .ends_with(&["longitude".into(), "latitude".into()]));
    assert!(
        !table.header.contains(&"wkt".to_string()),
        "points need no WKT"
    );
}

#[test]
fn csv_polygons_are_wkt_that_reads_back_to_the_same_geometry() {
    for layer in ["gang_areas", "departments"] {
        let geojson = server().json(&format!("/collections/{layer}/download"));
        let (_, table) = csv_of(&format!("/collections/{layer}/download?f=csv"));
        assert!(table.header.contains(&"wkt".to_string()));
        assert!(
            !table.header.contains(&"longitude".to_string()),
            "no points here"
        );
        for (row, f) in table.rows.iter().zip(features(&geojson)) {
            let from_wkt: geo::Geometry<f64> = wkt::TryFromWkt::try_from_wkt_str(&row["wkt"])
                .unwrap_or_else(|e| panic!("{layer} {}: WKT does not parse: {e}", row["id"]));
            let g: geojson::Geometry = serde_json::from_value(f["geometry"].clone()).unwrap();
            let from_geojson: geo::Geometry<f64> = g.try_into().unwrap();
            assert_eq!(from_wkt, from_geojson, "{layer} {}", row["id"]);
        }
    }
}

#[test]
fn formats_are_offered_by_accept_and_listed_as_links() {
    let s = server();
    let r = s
        .request(
            "GET",
            "/collections/incidents/items?limit=5",
            &[("Accept", "text/csv")],
        )
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/csv; charset=utf-8"));
    assert_eq!(read_csv(&r.body).rows.len(), 5);
    let r = s
        .request(
            "GET",
            "/collections/gang_areas/download",
            &[("Accept", "application/geopackage+sqlite3")],
        )
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/geopackage+sqlite3")
    );
    assert!(r.body.starts_with(b"SQLite format 3\0"));

    let page = s.json("/collections/incidents/items?department=Ouest&limit=5");
    let links = page["links"].as_array().unwrap();
    let find = |rel: &str, media: &str| {
        links
            .iter()
            .find(|l| l["rel"] == rel && l["type"] == media)
            .and_then(|l| l["href"].as_str())
            .unwrap_or_else(|| panic!("a {rel} link of type {media}"))
            .strip_prefix(&s.base)
            .unwrap()
            .to_string()
    };
    assert_eq!(
        find("alternate", "text/csv"),
        "/collections/incidents/items?department=Ouest&f=csv&limit=5"
    );
    assert_eq!(
        find("enclosure", "text/csv"),
        "/collections/incidents/download?department=Ouest&f=csv"
    );
    assert_eq!(
        find("enclosure", "application/geopackage+sqlite3"),
        "/collections/incidents/download?department=Ouest&f=gpkg"
    );
    let collection = s.json("/collections/incidents");
    for media in [
        "application/geo+json",
        "text/csv",
        "application/geopackage+sqlite3",
    ] {
        assert!(
            collection["links"]
                .as_array()
                .unwrap()
                .iter()
                .any(|l| l["rel"] == "enclosure" && l["type"] == media),
            "the collection has an enclosure of type {media}"
        );
    }
}

#[test]
fn a_format_not_offered_is_refused_naming_f_and_the_choices() {
    let s = server();
    for (path, listed) in [
        ("/collections/incidents/items?f=gpkg", "f=json or f=csv"),
        ("/collections/incidents/items?f=xlsx", "f=json or f=csv"),
        (
            "/collections/incidents/download?f=shp",
            "f=json, f=csv or f=gpkg",
        ),
    ] {
        let r = s.get(path);
        assert_eq!(r.status, 406, "{path}");
        let body = r.json();
        assert_eq!(body["parameter"], "f", "{path}");
        assert!(
            body["detail"].as_str().unwrap().contains(listed),
            "{path}: {body}"
        );
    }
}

#[test]
fn the_api_declares_the_formats() {
    let api = server().json("/api");
    let items = &api["paths"]["/collections/incidents/items"]["get"];
    let download = &api["paths"]["/collections/incidents/download"]["get"];
    assert!(items["responses"]["200"]["content"]["text/csv"].is_object());
    for media in [
        "text/csv",
        "application/geopackage+sqlite3",
        "application/geo+json",
    ] {
        assert!(
            download["responses"]["200"]["content"][media].is_object(),
            "{media}"
        );
    }
    let f_enum = |op: &Value| -> Vec<String> {
        let r = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["$ref"].as_str())
            .find(|r| r.starts_with("#/components/parameters/f"))
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_string();
        serde_json::from_value(api["components"]["parameters"][r]["schema"]["enum"].clone())
            .unwrap()
    };
    assert!(f_enum(items).contains(&"csv".to_string()));
    let d = f_enum(download);
    assert!(d.contains(&"csv".to_string()) && d.contains(&"gpkg".to_string()));
}

// ----------------------------------------------------------------------------- GeoPackage

fn have_gdal() -> bool {
    let ok = ["ogrinfo", "ogr2ogr"].iter().all(|t| {
        Command::new(t)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if !ok {
        skip_or_fail("GDAL's ogrinfo and ogr2ogr are not installed (Debian: gdal-bin)");
    }
    ok
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("the tool runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Downloads `path` as a GeoPackage into `dir`.
fn gpkg(path: &str, dir: &std::path::Path, name: &str) -> std::path::PathBuf {
    let r = server().get(path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/geopackage+sqlite3")
    );
    let file = dir.join(format!("{name}.gpkg"));
    std::fs::write(&file, &r.body).unwrap();
    file
}

#[test]
fn gdal_opens_the_geopackage_with_every_feature_its_type_and_a_spatial_index() {
    if !have_gdal() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (layer, query, geometry) in [
        ("incidents", "", "Point"),
        (
            "incidents",
            "department=Ouest&datetime=2024-01-01/..",
            "Point",
        ),
        ("gang_areas", "", "Multi Polygon"),
        ("sections", "", "Polygon"),
        ("departments", "", "Multi Polygon"),
    ] {
        let sep = if query.is_empty() { "" } else { "&" };
        let geojson = server().json(&format!("/collections/{layer}/download?{query}"));
        let want: Vec<&str> = features(&geojson)
            .iter()
            .map(|f| f["id"].as_str().unwrap())
            .collect();
        assert!(!want.is_empty());
        let file = gpkg(
            &format!("/collections/{layer}/download?{query}{sep}f=gpkg"),
            dir.path(),
            layer,
        );
        let info = run(Command::new("ogrinfo").arg("-so").arg(&file).arg(layer));
        assert!(
            info.contains(&format!("Geometry: {geometry}\n")),
            "{layer}?{query}: {info}"
        );
        assert!(
            info.contains(&format!("Feature Count: {}\n", want.len())),
            "{layer}?{query}: {info}"
        );
        let index = run(Command::new("ogrinfo")
            .arg(&file)
            .args(["-sql", &format!("SELECT HasSpatialIndex('{layer}','geom')")]));
        assert!(index.contains("= 1"), "{layer}: spatial index: {index}");

        // Back to GeoJSON with GDAL: the same ids, in order, and the same values.
        let back = dir.path().join(format!("{layer}.geojson"));
        let _ = std::fs::remove_file(&back);
        run(Command::new("ogr2ogr")
            .args(["-f", "GeoJSON"])
            .arg(&back)
            .arg(&file)
            .arg(layer));
        let back: Value = serde_json::from_slice(&std::fs::read(&back).unwrap()).unwrap();
        let got: Vec<&str> = features(&back)
            .iter()
            .map(|f| f["properties"]["id"].as_str().unwrap())
            .collect();
        assert_eq!(got, want, "{layer}?{query}: ids");
        for (b, f) in features(&back).iter().zip(features(&geojson)) {
            for (name, value) in f["properties"].as_object().unwrap() {
                let got = &b["properties"][name];
                match value {
                    // Arrays are JSON text in the GeoPackage; GDAL's GeoJSON writer makes
                    // them arrays again.
                    Value::Array(_) => assert_eq!(got, value, "{name}"),
                    Value::Bool(t) => assert_eq!(
                        got.as_i64().map(|i| i != 0).or(got.as_bool()),
                        Some(*t),
                        "{name}"
                    ),
                    _ => assert_eq!(got, value, "{layer} {}: {name}", f["id"]),
                }
            }
        }
    }
}

#[test]
fn the_geopackage_types_its_columns_as_the_collection_declares() {
    if !have_gdal() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let file = gpkg(
        "/collections/incidents/download?f=gpkg",
        dir.path(),
        "incidents",
    );
    let info = run(Command::new("ogrinfo")
        .arg("-so")
        .arg(&file)
        .arg("incidents"));
    for field in [
        "id: String",
        "event_date: Date",
        "fatalities: Integer64",
        "geo_precision: Integer64",
        "department: String",
        "actors: String",
    ] {
        assert!(info.contains(field), "{field}: {info}");
    }
    let file = gpkg(
        "/collections/gang_areas/download?f=gpkg",
        dir.path(),
        "gang_areas",
    );
    let info = run(Command::new("ogrinfo")
        .arg("-so")
        .arg(&file)
        .arg("gang_areas"));
    // as_of is a month, which a GeoPackage DATE cannot hold: it stays text.
    for field in ["approximate: Integer(Boolean)", "as_of: String"] {
        assert!(info.contains(field), "{field}: {info}");
    }
}

#[test]
fn the_geopackage_rtree_holds_every_placed_feature_and_its_box() {
    let dir = tempfile::tempdir().unwrap();
    let file = gpkg(
        "/collections/communes/download?f=gpkg",
        dir.path(),
        "communes",
    );
    let db = rusqlite::Connection::open(&file).unwrap();
    let app_id: i64 = db
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .unwrap();
    assert_eq!(app_id, 0x4750_4B47, "application_id is 'GPKG'");
    let rows: i64 = db
        .query_row("SELECT count(*) FROM rtree_communes_geom", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 140);
    let extension: i64 = db
        .query_row(
            "SELECT count(*) FROM gpkg_extensions WHERE table_name = 'communes' AND column_name = 'geom' AND extension_name = 'gpkg_rtree_index'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(extension, 1);
    // Each entry is the commune's bounding box, as computed here from the GeoJSON.
    let geojson = server().json("/collections/communes/download");
    let mut stmt = db
        .prepare("SELECT c.id, r.minx, r.maxx, r.miny, r.maxy FROM communes c JOIN rtree_communes_geom r ON r.id = c.fid")
        .unwrap();
    let boxes: BTreeMap<String, [f64; 4]> = stmt
        .query_map([], |r| {
            Ok((r.get(0)?, [r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?]))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for f in features(&geojson) {
        let mut b = [f64::MAX, f64::MIN, f64::MAX, f64::MIN];
        let mut walk = vec![&f["geometry"]["coordinates"]];
        while let Some(v) = walk.pop() {
            let a = v.as_array().unwrap();
            if a[0].is_number() {
                let (x, y) = (a[0].as_f64().unwrap(), a[1].as_f64().unwrap());
                b = [b[0].min(x), b[1].max(x), b[2].min(y), b[3].max(y)];
            } else {
                walk.extend(a);
            }
        }
        let got = boxes[f["id"].as_str().unwrap()];
        // The R-tree stores 32-bit floats, rounded outwards.
        for k in 0..4 {
            assert!(
                (got[k] - b[k]).abs() < 1e-4,
                "{}: {got:?} vs {b:?}",
                f["id"]
            );
        }
        assert!(got[0] <= b[0] && got[1] >= b[1] && got[2] <= b[2] && got[3] >= b[3]);
    }
}

/// A cell as OWASP's advice against CSV injection has a spreadsheet receive it: text that
/// begins with `=`, `+`, `-`, `@`, a tab or a carriage return behind a `'`.
fn guarded(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

#[test]
fn csv_text_that_a_spreadsheet_would_run_as_a_formula_gets_a_leading_apostrophe() {
    let dir = std::env::temp_dir().join(format!("kat-csv-formula-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    common::copy_dir(&common::data_dir(), &dir);
    let path = dir.join("incidents.geojson");
    let mut layer: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let planted: [(&str, Value); 7] = [
        (
            "summary",
            Value::from("=HYPERLINK(\"http://example.com\",\"x\")"),
        ),
        ("notes", Value::from("+33 1 23 45 67")),
        ("location_as_reported", Value::from("-5 dead near the road")),
        ("source_name", Value::from("@SUM(A1:A9)")),
        ("summary", Value::from("\tindented")),
        ("notes", Value::from("\rcarriage return")),
        ("actors", serde_json::json!(["=cmd|' /C calc'!A0", "PNH"])),
    ];
    let feats = layer["features"].as_array_mut().unwrap();
    let mut ids = Vec::new();
    for (i, (name, value)) in planted.iter().enumerate() {
        feats[i]["properties"][*name] = value.clone();
        ids.push(feats[i]["id"].as_str().unwrap().to_string());
    }
    feats[7]["properties"]["confidence"] = Value::from("=1+1");
    std::fs::write(&path, serde_json::to_vec(&layer).unwrap()).unwrap();
    let s = Server::start_with(&dir, &["--no-watch"]);
    for url in [
        "/collections/incidents/download?f=csv",
        "/collections/incidents/items?f=csv&limit=10000",
    ] {
        let r = s.get(url);
        assert_eq!(r.status, 200, "{url}: {}", r.text());
        let table = read_csv(&r.body);
        let row = |id: &str| table.rows.iter().find(|r| r["id"] == id).unwrap();
        for ((name, value), id) in planted.iter().zip(&ids) {
            assert_eq!(
                row(id)[*name],
                guarded(&expected_cell(value)),
                "{url}: {name} of {id}"
            );
            assert!(row(id)[*name].starts_with('\''), "{url}: {name} of {id}");
        }
        // Every other cell too: numbers stay numbers (a negative longitude is not text).
        let by_id: BTreeMap<&str, &Value> = features(&layer)
            .iter()
            .map(|f| (f["id"].as_str().unwrap(), f))
            .collect();
        for r in &table.rows {
            let f = by_id[r["id"].as_str()];
            for (name, value) in f["properties"].as_object().unwrap() {
                let want = match value {
                    Value::String(_) | Value::Array(_) => guarded(&expected_cell(value)),
                    other => expected_cell(other),
                };
                assert_eq!(r[name], want, "{url}: {name} of {}", f["id"]);
            }
            if f["geometry"]["type"] == "Point" {
                let lon: f64 = r["longitude"].parse().expect("a longitude is a number");
                assert!(lon < 0.0 && r["longitude"].starts_with('-'));
            }
        }
    }
    let r = s.get("/collections/incidents/aggregate?groupby=confidence&f=csv");
    assert_eq!(r.status, 200, "{}", r.text());
    let text = String::from_utf8(r.body.clone()).unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let keys: Vec<String> = reader
        .records()
        .map(|r| r.unwrap()[0].to_string())
        .collect();
    assert!(keys.contains(&"'=1+1".to_string()), "{keys:?}");
    assert!(!keys.contains(&"=1+1".to_string()), "{keys:?}");
    drop(s);
    let _ = std::fs::remove_dir_all(&dir);
}
