//! OGC API - Tiles over HTTP: tiles decoded by an independent MVT reader (the mvt-reader
//! crate) and by GDAL's MVT driver, their counts checked against a brute-force count of the
//! file's points in each tile's bounds, on the bundled layer and on 100,000 synthetic
//! incidents.

mod common;

use common::{copy_dir, Server};
use mvt_reader::feature::Value as TileValue;
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

/// A tile's bounds `[west, south, east, north]` from the tiling's definition: the west and
/// north edges belong to the tile, the east and south ones to its neighbours.
fn bounds(z: u32, row: u32, col: u32) -> [f64; 4] {
    let n = f64::from(1u32 << z);
    let lon = |c: f64| c / n * 360.0 - 180.0;
    let lat = |r: f64| {
        (std::f64::consts::PI * (1.0 - 2.0 * r / n))
            .sinh()
            .atan()
            .to_degrees()
    };
    [
        lon(f64::from(col)),
        lat(f64::from(row + 1)),
        lon(f64::from(col + 1)),
        lat(f64::from(row)),
    ]
}

fn in_tile(b: [f64; 4], p: [f64; 2]) -> bool {
    b[0] <= p[0] && p[0] < b[2] && b[1] < p[1] && p[1] <= b[3]
}

/// The tile at zoom `z` holding the point, by the usual slippy-map formula.
fn tile_of(z: u32, p: [f64; 2]) -> (u32, u32) {
    let n = f64::from(1u32 << z);
    let col = ((p[0] + 180.0) / 360.0 * n).floor() as u32;
    let lat = p[1].to_radians();
    let row = ((1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / std::f64::consts::PI) / 2.0 * n).floor()
        as u32;
    (row, col)
}

/// A layer's point features: id, place and properties.
struct PointFile {
    points: Vec<(String, [f64; 2], Value)>,
}

impl PointFile {
    fn read(path: &Path) -> PointFile {
        let points = common::brute::read_layer(path)
            .into_iter()
            .filter_map(|f| {
                let p = common::brute::point(&f.geometry)?;
                Some((f.id, p, f.properties))
            })
            .collect();
        PointFile { points }
    }

    fn inside(&self, b: [f64; 4], keep: &dyn Fn(&Value, [f64; 2]) -> bool) -> HashSet<String> {
        self.points
            .iter()
            .filter(|(_, p, props)| in_tile(b, *p) && keep(props, *p))
            .map(|(id, _, _)| id.clone())
            .collect()
    }
}

/// A decoded feature's properties.
type Tags = BTreeMap<String, TileValue>;

/// One decoded tile: its layer names, and its features' places in tile units (None for a
/// geometry other than a point) and properties.
struct Decoded {
    layers: Vec<String>,
    features: Vec<(Option<[f64; 2]>, Tags)>,
}

fn decode(bytes: &[u8]) -> Decoded {
    let reader = mvt_reader::Reader::new(bytes.to_vec()).expect("a valid vector tile");
    let layers = reader.get_layer_names().expect("layer names");
    let mut features = Vec::new();
    if !layers.is_empty() {
        for f in reader.get_features(0).expect("features") {
            let xy = match f.get_geometry() {
                geo::Geometry::Point(p) => Some([f64::from(p.x()), f64::from(p.y())]),
                geo::Geometry::MultiPoint(mp) if mp.0.len() == 1 => {
                    Some([f64::from(mp.0[0].x()), f64::from(mp.0[0].y())])
                }
                _ => None,
            };
            let props = f
                .properties
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect();
            features.push((xy, props));
        }
    }
    Decoded { layers, features }
}

fn count_of(props: &BTreeMap<String, TileValue>) -> u64 {
    match props.get("count") {
        Some(TileValue::UInt(n)) => *n,
        Some(TileValue::Int(n)) | Some(TileValue::SInt(n)) => *n as u64,
        other => panic!("a feature without a count: {other:?}"),
    }
}

fn text_of<'a>(props: &'a BTreeMap<String, TileValue>, key: &str) -> Option<&'a str> {
    match props.get(key) {
        Some(TileValue::String(s)) => Some(s),
        _ => None,
    }
}

fn get_tile(server: &Server, collection: &str, z: u32, row: u32, col: u32, query: &str) -> Vec<u8> {
    let path = format!("/collections/{collection}/tiles/WebMercatorQuad/{z}/{row}/{col}{query}");
    let r = server.get(&path);
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    assert_eq!(
        r.header("content-type"),
        Some("application/vnd.mapbox-vector-tile"),
        "{path}"
    );
    r.body
}

/// Tiles at each zoom around sample points of the layer, and the tiles holding all of Haiti.
fn sample_tiles(file: &PointFile, zooms: &[u32], per_zoom: usize) -> Vec<(u32, u32, u32)> {
    let mut out = std::collections::BTreeSet::new();
    for &z in zooms {
        let step = (file.points.len() / per_zoom).max(1);
        for (_, p, _) in file.points.iter().step_by(step).take(per_zoom) {
            let (row, col) = tile_of(z, *p);
            out.insert((z, row, col));
        }
    }
    out.into_iter().collect()
}

/// Checks that the tile's counts add up to the brute-force count, and that at zooms where it
/// lists each point, its ids are exactly the points in its bounds.
fn check_tile(
    server: &Server,
    file: &PointFile,
    t: (u32, u32, u32),
    query: &str,
    keep: &dyn Fn(&Value) -> bool,
) -> (usize, bool) {
    check_tile_where(server, file, t, query, &|p, _| keep(p))
}

/// As [`check_tile`], with an expectation that reads the point's place too.
fn check_tile_where(
    server: &Server,
    file: &PointFile,
    (z, row, col): (u32, u32, u32),
    query: &str,
    keep: &dyn Fn(&Value, [f64; 2]) -> bool,
) -> (usize, bool) {
    let expected = file.inside(bounds(z, row, col), keep);
    let tile = decode(&get_tile(server, "incidents", z, row, col, query));
    assert_eq!(tile.layers, ["incidents"]);
    let total: u64 = tile.features.iter().map(|(_, p)| count_of(p)).sum();
    assert_eq!(
        total as usize,
        expected.len(),
        "z{z}/{row}/{col}{query}: summed counts against points in bounds"
    );
    for (xy, _) in &tile.features {
        let [x, y] = xy.expect("points only");
        assert!(
            (0.0..4096.0).contains(&x) && (0.0..4096.0).contains(&y),
            "{x},{y}"
        );
    }
    let aggregated = tile
        .features
        .iter()
        .any(|(_, p)| matches!(p.get("aggregated"), Some(TileValue::Bool(true))));
    if !aggregated {
        let ids: HashSet<String> = tile
            .features
            .iter()
            .map(|(_, p)| {
                text_of(p, "id")
                    .expect("a listed point has its id")
                    .to_string()
            })
            .collect();
        assert_eq!(ids, expected, "z{z}/{row}/{col}{query}: ids");
    }
    (expected.len(), aggregated)
}

#[test]
fn tile_counts_equal_the_points_in_each_tiles_bounds_on_the_bundled_layer() {
    let server = Server::start();
    let file = PointFile::read(&common::data_dir().join("incidents.geojson"));
    let tiles = sample_tiles(&file, &[0, 3, 5, 7, 9, 11, 13, 15, 17], 12);
    assert!(tiles.len() > 40, "{}", tiles.len());
    let all = |_: &Value| true;
    let ouest = |p: &Value| p["department"].as_str() == Some("Ouest");
    let in_2024 = |p: &Value| {
        p["event_date"]
            .as_str()
            .is_some_and(|d| ("2024-01-01".."2025-01-01").contains(&d))
    };
    let mut seen = 0;
    for t in &tiles {
        seen += check_tile(&server, &file, *t, "", &all).0;
        check_tile(&server, &file, *t, "?department=ouest", &ouest);
        check_tile(
            &server,
            &file,
            *t,
            "?datetime=2024-01-01/2024-12-31",
            &in_2024,
        );
    }
    assert!(seen > 0);
    // Zoom 0 holds every placed incident.
    let (n, _) = check_tile(&server, &file, (0, 0, 0), "", &all);
    assert_eq!(n, file.points.len());
}

#[test]
fn the_four_children_of_a_tile_share_its_points_exactly() {
    let server = Server::start();
    let file = PointFile::read(&common::data_dir().join("incidents.geojson"));
    let total = |z, row, col| -> u64 {
        decode(&get_tile(&server, "incidents", z, row, col, ""))
            .features
            .iter()
            .map(|(_, p)| count_of(p))
            .sum()
    };
    for (z, row, col) in sample_tiles(&file, &[6, 10, 12], 6) {
        let parent = total(z, row, col);
        let children: u64 = (0..4)
            .map(|k| total(z + 1, 2 * row + k / 2, 2 * col + k % 2))
            .sum();
        assert_eq!(parent, children, "z{z}/{row}/{col}");
    }
}

struct Synthetic {
    dir: PathBuf,
}

impl Synthetic {
    fn new(n: usize) -> Synthetic {
        static MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let k = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("kat-tiles-{}-{k}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&common::data_dir(), &dir);
        let gaz = kat::geocode::Gazetteer::load(&common::data_dir()).expect("gazetteer");
        let mut out =
            std::io::BufWriter::new(std::fs::File::create(dir.join("incidents.geojson")).unwrap());
        kat::synth::write_incidents(&gaz, n, 5, &mut out).expect("synthetic incidents");
        drop(out);
        Synthetic { dir }
    }
}

impl Drop for Synthetic {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn tiles_of_a_100k_synthetic_layer_count_every_point_once_with_and_without_filters() {
    let data = Synthetic::new(100_000);
    let server = Server::start_with(&data.dir, &["--no-watch"]);
    let file = PointFile::read(&data.dir.join("incidents.geojson"));
    assert_eq!(file.points.len(), 100_000);
    assert!(file.points.iter().all(|(_, _, p)| p["synthetic"] == true));
    let tiles = sample_tiles(&file, &[5, 8, 11, 14], 10);
    let all = |_: &Value| true;
    let massacres = |p: &Value| p["event_type"].as_str() == Some("massacre");
    let mut aggregated_somewhere = false;
    for t in &tiles {
        aggregated_somewhere |= check_tile(&server, &file, *t, "", &all).1;
        check_tile(&server, &file, *t, "?event_type=massacre", &massacres);
    }
    assert!(aggregated_somewhere, "a crowded tile aggregates its points");
    // A bbox filter keeps the points inside both the tile and the box (edges included).
    let b = [-72.6, 18.4, -72.1, 18.8];
    let in_box = |p: &[f64; 2]| b[0] <= p[0] && p[0] <= b[2] && b[1] <= p[1] && p[1] <= b[3];
    for (z, row, col) in [(8, 114, 76), (8, 113, 76), (5, 14, 9)] {
        let expected = file
            .points
            .iter()
            .filter(|(_, p, _)| in_tile(bounds(z, row, col), *p) && in_box(p))
            .count();
        let tile = decode(&get_tile(
            &server,
            "incidents",
            z,
            row,
            col,
            "?bbox=-72.6,18.4,-72.1,18.8",
        ));
        let total: u64 = tile.features.iter().map(|(_, p)| count_of(p)).sum();
        assert_eq!(total as usize, expected, "z{z}/{row}/{col} with bbox");
    }
}

#[test]
fn gdal_reads_tiles_whose_counts_match_the_points_in_bounds() {
    if std::process::Command::new("ogrinfo")
        .arg("--version")
        .output()
        .is_err()
    {
        common::skip_or_fail("ogrinfo (gdal-bin) is not installed");
        return;
    }
    let server = Server::start();
    let file = PointFile::read(&common::data_dir().join("incidents.geojson"));
    let dir = std::env::temp_dir().join(format!("kat-tiles-gdal-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (z, row, col) in sample_tiles(&file, &[2, 6, 10, 14], 5) {
        let path = dir.join(format!("{z}-{row}-{col}.mvt"));
        std::fs::write(&path, get_tile(&server, "incidents", z, row, col, "")).unwrap();
        let out = std::process::Command::new("ogrinfo")
            .args(["-ro", "-al", "-q"])
            .args(["-oo", &format!("Z={z}"), "-oo", &format!("X={col}"), "-oo"])
            .arg(format!("Y={row}"))
            .arg(&path)
            .output()
            .expect("ogrinfo runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let total: usize = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("count ("))
            .filter_map(|l| l.split(" = ").nth(1))
            .map(|n| n.trim().parse::<usize>().unwrap())
            .sum();
        let expected = file.inside(bounds(z, row, col), &|_, _| true).len();
        assert_eq!(total, expected, "GDAL, z{z}/{row}/{col}");
        // GDAL places each point inside the tile's bounds, in Web Mercator metres.
        for l in text.lines().filter(|l| l.trim().starts_with("POINT")) {
            let xy: Vec<f64> = l
                .trim()
                .trim_start_matches("POINT (")
                .trim_end_matches(')')
                .split(' ')
                .map(|v| v.parse().unwrap())
                .collect();
            let lon = (xy[0] / 6_378_137.0).to_degrees();
            let b = bounds(z, row, col);
            assert!(b[0] - 1e-6 <= lon && lon <= b[2] + 1e-6, "{l} in {b:?}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn area_tiles_hold_the_areas_under_their_points_clipped_to_the_buffer() {
    let server = Server::start();
    let departments =
        common::brute::read_layer(&common::data_dir().join("admin/departments.geojson"));
    let places = [
        [-72.5, 18.9],
        [-72.33, 18.54],
        [-73.75, 18.2],
        [-72.2, 19.7],
    ];
    for (z, p) in [6u32, 8, 10, 12].into_iter().zip(places) {
        let (row, col) = tile_of(z, p);
        let under: Vec<String> = departments
            .iter()
            .filter(|f| common::brute::in_polygons(p, &common::brute::polygons(&f.geometry)))
            .map(|f| f.properties["name"].as_str().unwrap().to_string())
            .collect();
        let bytes = get_tile(&server, "departments", z, row, col, "");
        let reader = mvt_reader::Reader::new(bytes).unwrap();
        let features = reader.get_features(0).unwrap();
        let names: Vec<String> = features
            .iter()
            .filter_map(|f| match f.properties.as_ref()?.get("name")? {
                TileValue::String(s) => Some(s.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(under.len(), 1, "{p:?} lies in one department");
        for name in &under {
            assert!(
                names.contains(name),
                "z{z}/{row}/{col}: {name} missing from {names:?}"
            );
        }
        for f in &features {
            use geo::Geometry;
            let polys: Vec<&geo::Polygon<f32>> = match f.get_geometry() {
                Geometry::Polygon(p) => vec![p],
                Geometry::MultiPolygon(mp) => mp.0.iter().collect(),
                other => panic!("an area tile holds areas, not {other:?}"),
            };
            for p in polys {
                for c in p
                    .exterior()
                    .0
                    .iter()
                    .chain(p.interiors().iter().flat_map(|r| r.0.iter()))
                {
                    assert!(
                        (-64.0..=4160.0).contains(&c.x) && (-64.0..=4160.0).contains(&c.y),
                        "z{z}/{row}/{col}: vertex {c:?} beyond the buffer"
                    );
                }
            }
        }
    }
}

#[test]
fn bad_tile_addresses_are_400_or_404_naming_the_parameter() {
    let server = Server::start();
    for (path, status, param) in [
        (
            "/collections/incidents/tiles/WebMercatorQuad/x/0/0",
            400,
            "tileMatrix",
        ),
        (
            "/collections/incidents/tiles/WebMercatorQuad/3/-1/0",
            400,
            "tileRow",
        ),
        (
            "/collections/incidents/tiles/WebMercatorQuad/3/0/1.5",
            400,
            "tileCol",
        ),
        (
            "/collections/incidents/tiles/WebMercatorQuad/25/0/0",
            404,
            "tileMatrix",
        ),
        (
            "/collections/incidents/tiles/WebMercatorQuad/3/8/0",
            404,
            "tileRow",
        ),
        (
            "/collections/incidents/tiles/WebMercatorQuad/3/0/8",
            404,
            "tileCol",
        ),
        (
            "/collections/incidents/tiles/WorldCRS84Quad/3/0/0",
            404,
            "tileMatrixSetId",
        ),
        (
            "/collections/incidents/tiles/WebMercatorQuad/3/0/0?nope=1",
            400,
            "nope",
        ),
        (
            "/collections/incidents/tiles/WebMercatorQuad/3/0/0?bbox=1,2,3",
            400,
            "bbox",
        ),
        (
            "/collections/incidents/tiles/WebMercatorQuad/3/0/0?datetime=soon",
            400,
            "datetime",
        ),
        (
            "/collections/incidents/tiles/WebMercatorQuad/3/0/0?f=png",
            406,
            "f",
        ),
        (
            "/collections/incidents/tiles/WebMercatorQuad/3/0/0?filter=fatalities%20%3E%3E%201",
            400,
            "filter",
        ),
        (
            "/collections/incidents/tiles/WebMercatorQuad/3/0/0?filter=nowhere%20%3D%201",
            400,
            "filter",
        ),
        (
            "/collections/incidents/tiles/WebMercatorQuad/3/0/0?filter=fatalities%3D1&filter-lang=sql",
            400,
            "filter-lang",
        ),
        (
            "/collections/incidents/tiles/WebMercatorQuad/3/0/0?filter=fatalities%3D1&filter-crs=EPSG:4326",
            400,
            "filter-crs",
        ),
    ] {
        let r = server.get(path);
        assert_eq!(r.status, status, "{path}: {}", r.text());
        assert_eq!(
            r.header("content-type"),
            Some("application/problem+json"),
            "{path}"
        );
        assert_eq!(r.json()["parameter"], param, "{path}");
    }
    let r = server.get("/collections/nowhere/tiles/WebMercatorQuad/0/0/0");
    assert_eq!(r.status, 404);
}

#[test]
fn a_tile_carries_a_strong_etag_and_answers_304_to_it() {
    let server = Server::start();
    let path = "/collections/incidents/tiles/WebMercatorQuad/7/56/37?department=Ouest";
    let r = server.get(path);
    assert_eq!(r.status, 200);
    let etag = r.header("etag").expect("an ETag").to_string();
    assert!(!etag.starts_with("W/"), "{etag}");
    let again = server
        .request("GET", path, &[("If-None-Match", &etag)])
        .unwrap();
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let other = server
        .request(
            "GET",
            "/collections/incidents/tiles/WebMercatorQuad/7/56/37",
            &[("If-None-Match", &etag)],
        )
        .unwrap();
    assert_eq!(other.status, 200, "another filter is another tile");
}

#[test]
fn the_tileset_links_the_tile_template_and_the_tile_matrix_set() {
    let server = Server::start();
    let list = server.json("/collections/incidents/tiles");
    let set_href = list["tilesets"][0]["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "self")
        .unwrap()["href"]
        .as_str()
        .unwrap()
        .to_string();
    let set = server.json(set_href.strip_prefix(&server.base).unwrap());
    assert_eq!(set["dataType"], "vector");
    assert_eq!(
        set["tileMatrixSetURI"],
        "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
    );
    let item = set["links"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["rel"] == "item")
        .expect("an item link");
    assert_eq!(item["type"], "application/vnd.mapbox-vector-tile");
    let template = item["href"].as_str().unwrap();
    assert!(
        template.ends_with(
            "/collections/incidents/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}"
        ),
        "{template}"
    );
    let tile = template
        .replace("{tileMatrix}", "5")
        .replace("{tileRow}", "14")
        .replace("{tileCol}", "9");
    assert_eq!(
        server.get(tile.strip_prefix(&server.base).unwrap()).status,
        200
    );
    let tms = server.json("/tileMatrixSets/WebMercatorQuad");
    assert_eq!(tms["id"], "WebMercatorQuad");
    assert_eq!(tms["tileMatrices"][5]["matrixWidth"], 32);
    let list = server.json("/tileMatrixSets");
    assert_eq!(list["tileMatrixSets"][0]["id"], "WebMercatorQuad");
    let conformance = server.json("/conformance");
    for class in [
        "core",
        "tileset",
        "tilesets-list",
        "geodata-tilesets",
        "mvt",
        "oas30",
    ] {
        let uri = format!("http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/{class}");
        assert!(
            conformance["conformsTo"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == &uri),
            "{uri}"
        );
    }
    let collection = server.json("/collections/incidents");
    assert!(collection["links"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["rel"] == "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector"));
    let api = server.json("/api");
    assert!(api["paths"]
        .get("/collections/incidents/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}")
        .is_some());
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn int_of(p: &Value, key: &str) -> Option<i64> {
    p[key].as_i64()
}

/// A tile property as a number (MVT encodes integers three ways).
fn number_of(props: &Tags, key: &str) -> Option<f64> {
    match props.get(key)? {
        TileValue::UInt(n) => Some(*n as f64),
        TileValue::Int(n) | TileValue::SInt(n) => Some(*n as f64),
        TileValue::Double(d) => Some(*d),
        TileValue::Float(f) => Some(f64::from(*f)),
        _ => None,
    }
}

/// CQL2 filters a tile takes, each with the same question asked of the file's properties and
/// place by hand.
type Expectation = Box<dyn Fn(&Value, [f64; 2]) -> bool>;

fn filter_cases() -> Vec<(String, Expectation)> {
    let in_box = |p: [f64; 2]| -72.6 <= p[0] && p[0] <= -72.1 && 18.4 <= p[1] && p[1] <= 18.8;
    vec![
        (
            format!("?filter={}", enc("fatalities >= 5")),
            Box::new(|p: &Value, _| int_of(p, "fatalities").is_some_and(|n| n >= 5)),
        ),
        (
            format!(
                "?filter={}",
                enc("event_type IN ('massacre', 'kidnapping') AND department = 'Ouest'")
            ),
            Box::new(|p: &Value, _| {
                matches!(p["event_type"].as_str(), Some("massacre" | "kidnapping"))
                    && p["department"] == "Ouest"
            }),
        ),
        (
            format!(
                "?filter={}&filter-crs={}",
                enc("S_INTERSECTS(geometry, BBOX(-72.6, 18.4, -72.1, 18.8))"),
                enc("http://www.opengis.net/def/crs/OGC/1.3/CRS84")
            ),
            Box::new(move |_: &Value, at| in_box(at)),
        ),
        (
            format!(
                "?filter={}",
                enc("kidnapped IS NOT NULL OR T_AFTER(event_date, DATE('2024-06-30'))")
            ),
            Box::new(|p: &Value, _| {
                !p["kidnapped"].is_null()
                    || p["event_date"].as_str().is_some_and(|d| d > "2024-06-30")
            }),
        ),
        (
            format!(
                "?filter-lang=cql2-json&filter={}",
                enc(
                    r#"{"op":"and","args":[{"op":">","args":[{"property":"fatalities"},0]},{"op":"like","args":[{"property":"commune"},"Port%"]}]}"#
                )
            ),
            Box::new(|p: &Value, _| {
                int_of(p, "fatalities").is_some_and(|n| n > 0)
                    && p["commune"].as_str().is_some_and(|c| c.starts_with("Port"))
            }),
        ),
        // With the other filters of a tile: a queryable and a date range.
        (
            format!(
                "?department=Artibonite&datetime=2024-01-01/2025-12-31&filter={}",
                enc("NOT (event_type = 'armed_clash')")
            ),
            Box::new(|p: &Value, _| {
                p["department"] == "Artibonite"
                    && p["event_date"].as_str().is_some_and(|d| d >= "2024-01-01")
                    && p["event_type"] != "armed_clash"
            }),
        ),
        (
            format!("?filter={}", enc("1 = 2")),
            Box::new(|_: &Value, _| false),
        ),
    ]
}

#[test]
fn a_tile_with_a_cql2_filter_counts_only_the_points_that_match_it() {
    let server = Server::start();
    let file = PointFile::read(&common::data_dir().join("incidents.geojson"));
    let tiles = sample_tiles(&file, &[0, 4, 7, 10, 13, 16], 8);
    let mut matched_somewhere = 0;
    for (query, expect) in filter_cases() {
        let mut total = 0;
        for t in &tiles {
            total += check_tile_where(&server, &file, *t, &query, &expect).0;
        }
        if !query.ends_with(&enc("1 = 2")) {
            assert!(
                total > 0,
                "{query}: no tile held a match, the case proves nothing"
            );
            matched_somewhere += 1;
        }
    }
    assert_eq!(matched_somewhere, filter_cases().len() - 1);
}

/// The numeric queryables of incidents, which an aggregated cell sums.
const SUMMED: [&str; 4] = ["fatalities", "injured", "kidnapped", "geo_precision"];

/// Per cell of a tile's 64 × 64 grid (row, col): the count and the sums of [`SUMMED`].
type Cells = BTreeMap<(u32, u32), (u64, [i64; 4])>;

/// The cells of a tile by brute force: each point in the tile's bounds that `keep` holds is in
/// the cell that is its tile six zooms deeper; a null adds 0.
fn brute_cells(
    file: &PointFile,
    (z, row, col): (u32, u32, u32),
    keep: &dyn Fn(&Value) -> bool,
) -> Cells {
    let mut cells = Cells::new();
    for (_, p, props) in &file.points {
        if !in_tile(bounds(z, row, col), *p) || !keep(props) {
            continue;
        }
        let (r, c) = tile_of(z + 6, *p);
        let cell = cells.entry((r - row * 64, c - col * 64)).or_default();
        cell.0 += 1;
        for (s, name) in cell.1.iter_mut().zip(SUMMED) {
            *s += int_of(props, name).unwrap_or(0);
        }
    }
    cells
}

#[test]
fn aggregated_cells_carry_the_count_and_the_sum_of_each_numeric_queryable() {
    let data = Synthetic::new(30_000);
    let server = Server::start_with(&data.dir, &["--no-watch"]);
    let file = PointFile::read(&data.dir.join("incidents.geojson"));
    let all = |_: &Value| true;
    let deadly = |p: &Value| int_of(p, "fatalities").is_some_and(|n| n >= 3);
    type Keep<'k> = &'k dyn Fn(&Value) -> bool;
    let cases: [(&str, Keep); 2] = [
        ("", &all),
        (&format!("?filter={}", enc("fatalities >= 3")), &deadly),
    ];
    let mut aggregated = 0;
    for (query, keep) in cases {
        for t in sample_tiles(&file, &[5, 6, 7, 8], 6) {
            let (z, row, col) = t;
            let tile = decode(&get_tile(&server, "incidents", z, row, col, query));
            let cells_drawn = tile
                .features
                .iter()
                .filter(|(_, p)| matches!(p.get("aggregated"), Some(TileValue::Bool(true))));
            let mut drawn = Cells::new();
            for (xy, props) in cells_drawn {
                let [x, y] = xy.expect("a cell is a point");
                let mut sums = [0i64; 4];
                for (s, name) in sums.iter_mut().zip(SUMMED) {
                    let v = number_of(props, &format!("sum_{name}")).unwrap_or_else(|| {
                        panic!("z{z}/{row}/{col}{query}: a cell without sum_{name}")
                    });
                    assert_eq!(v.fract(), 0.0, "an integer queryable sums to an integer");
                    *s = v as i64;
                }
                let key = ((y / 64.0) as u32, (x / 64.0) as u32);
                assert!(
                    drawn.insert(key, (count_of(props), sums)).is_none(),
                    "one feature per cell"
                );
            }
            if drawn.is_empty() {
                continue;
            }
            aggregated += 1;
            assert_eq!(
                drawn,
                brute_cells(&file, t, keep),
                "z{z}/{row}/{col}{query}: cells"
            );
        }
    }
    assert!(aggregated >= 4, "{aggregated} aggregated tiles checked");
}

#[test]
fn the_api_declares_the_filter_parameters_of_tiles_and_aggregates_with_their_types() {
    let server = Server::start();
    let api = server.json("/api");
    for path in [
        "/collections/incidents/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}",
        "/collections/incidents/aggregate",
        "/collections/departments/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}",
    ] {
        let params = api["paths"][path]["get"]["parameters"]
            .as_array()
            .unwrap_or_else(|| panic!("{path} is declared"));
        let param = |name: &str| {
            params
                .iter()
                .find(|p| p["name"] == name)
                .unwrap_or_else(|| panic!("{path} declares {name}"))
        };
        assert_eq!(param("filter")["schema"]["type"], "string", "{path}");
        assert_eq!(param("filter")["in"], "query");
        let langs = param("filter-lang")["schema"]["enum"]
            .as_array()
            .unwrap()
            .clone();
        for lang in ["cql2-text", "cql2-json", "cql-text"] {
            assert!(
                langs.iter().any(|l| l == lang),
                "{path}: {lang} in {langs:?}"
            );
        }
        assert_eq!(
            param("filter-crs")["schema"]["enum"][0],
            "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
        );
    }
}

/// Kept tiles and aggregates never outlive the data they were rendered from: after a reload
/// that drops half the incidents, both answer for the new data.
#[test]
fn kept_tiles_and_aggregates_follow_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&common::data_dir(), dir.path());
    let s = Server::start_with(dir.path(), &["--no-watch"]);
    let total = |s: &Server| -> u64 {
        let a = s.json("/collections/incidents/aggregate?groupby=department");
        a["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["count"].as_u64().unwrap())
            .sum()
    };
    let tile = "/collections/incidents/tiles/WebMercatorQuad/5/14/9";
    let file = dir.path().join("incidents.geojson");
    let mut all: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let n = all["features"].as_array().unwrap().len() as u64;
    // Asked twice, so the second answers are the kept ones.
    assert_eq!(total(&s), n);
    assert_eq!(total(&s), n);
    let before = s.get(tile);
    assert_eq!(before.status, 200);
    assert_eq!(s.get(tile).body, before.body);

    let half = all["features"].as_array().unwrap().len() / 2;
    all["features"].as_array_mut().unwrap().truncate(half);
    std::fs::write(&file, serde_json::to_vec(&all).unwrap()).unwrap();
    let version = s.json("/health")["data_version"].clone();
    // SAFETY: kill sends a signal to a child process this test started.
    unsafe { libc::kill(s.pid() as i32, libc::SIGHUP) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while s.json("/health")["data_version"] == version {
        assert!(std::time::Instant::now() < deadline, "no reload");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(total(&s), half as u64);
    let after = s.get(tile);
    assert_eq!(after.status, 200);
    assert_ne!(after.body, before.body, "the tile was rendered again");
    assert_ne!(after.header("etag"), before.header("etag"));
}
