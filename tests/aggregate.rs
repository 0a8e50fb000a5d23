//! `/collections/{id}/aggregate` over HTTP, every group checked against a brute force over the
//! GeoJSON downloaded from `/download` with the same filters.

mod common;

use common::Server;
use std::collections::BTreeMap;

/// The ISO week label of a `YYYY-MM-DD` day, by the Thursday rule.
fn iso_week(day: &str) -> String {
    let d = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d").unwrap();
    let w = chrono::Datelike::iso_week(&d);
    format!("{}-W{:02}", w.year(), w.week())
}

fn period(day: &str, interval: &str) -> String {
    match interval {
        "day" => day.to_string(),
        "week" => iso_week(day),
        "month" => day[..7].to_string(),
        _ => day[..4].to_string(),
    }
}

const NUMERIC: [&str; 4] = ["fatalities", "injured", "kidnapped", "geo_precision"];

fn check(server: &Server, groupby: &str, interval: &str, filters: &str) {
    let download = server.json(&format!("/collections/incidents/download?{filters}"));
    let features = download["features"].as_array().unwrap();
    let mut expected: BTreeMap<String, (u64, Vec<i64>)> = BTreeMap::new();
    for f in features {
        let p = &f["properties"];
        let mut key: Vec<String> = groupby.split(',').map(|g| p[g].to_string()).collect();
        key.push(period(p["event_date"].as_str().unwrap(), interval));
        let e = expected
            .entry(key.join("|"))
            .or_insert((0, vec![0; NUMERIC.len()]));
        e.0 += 1;
        for (s, n) in e.1.iter_mut().zip(NUMERIC) {
            *s += p[n].as_i64().unwrap_or(0);
        }
    }
    let v = server.json(&format!(
        "/collections/incidents/aggregate?groupby={groupby}&interval={interval}&{filters}"
    ));
    assert_eq!(
        v["numberMatched"],
        features.len(),
        "{groupby} {interval} {filters}"
    );
    let mut got: BTreeMap<String, (u64, Vec<i64>)> = BTreeMap::new();
    for g in v["groups"].as_array().unwrap() {
        let mut key: Vec<String> = groupby.split(',').map(|k| g[k].to_string()).collect();
        key.push(g["period"].as_str().unwrap().to_string());
        let sums = NUMERIC
            .iter()
            .map(|n| g[format!("sum_{n}")].as_i64().expect("an integer sum"))
            .collect();
        assert!(got
            .insert(key.join("|"), (g["count"].as_u64().unwrap(), sums))
            .is_none());
    }
    assert_eq!(got, expected, "{groupby} {interval} {filters}");
}

#[test]
fn every_aggregate_group_equals_a_brute_force_over_the_download() {
    let server = Server::start();
    check(&server, "department", "month", "");
    check(&server, "department,event_type", "week", "");
    check(&server, "event_type", "year", "department=Ouest");
    check(&server, "commune", "day", "datetime=2024-01-01/2024-12-31");
    check(&server, "department", "month", "bbox=-73.0,18.3,-72.0,19.0");
}

#[test]
fn unknown_groupby_or_interval_is_400_naming_it() {
    let server = Server::start();
    for (q, param) in [
        ("groupby=colour", "groupby"),
        ("groupby=department,nope", "groupby"),
        ("interval=fortnight", "interval"),
        ("f=xml", "f"),
    ] {
        let r = server.get(&format!("/collections/incidents/aggregate?{q}"));
        assert!(r.status == 400 || r.status == 406, "{q}: {}", r.text());
        assert_eq!(r.json()["parameter"], param, "{q}");
    }
    let r = server.get("/collections/departments/aggregate?interval=month");
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["parameter"], "interval");
}

#[test]
fn the_aggregate_as_csv_has_the_same_groups() {
    let server = Server::start();
    let json = server.json("/collections/incidents/aggregate?groupby=department&interval=year");
    let r = server.get("/collections/incidents/aggregate?groupby=department&interval=year&f=csv");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    let mut reader = csv::Reader::from_reader(&r.body[..]);
    let head = reader.headers().unwrap().clone();
    assert_eq!(&head[0], "department");
    assert_eq!(&head[1], "period");
    assert_eq!(&head[2], "count");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let groups = json["groups"].as_array().unwrap();
    assert_eq!(rows.len(), groups.len());
    for (row, g) in rows.iter().zip(groups) {
        assert_eq!(&row[0], g["department"].as_str().unwrap_or(""));
        assert_eq!(row[2].parse::<u64>().unwrap(), g["count"].as_u64().unwrap());
    }
}

#[test]
fn features_without_a_point_are_counted_in_every_group_they_belong_to() {
    // The bundled layer with every fifth incident's point removed, as a place-only record
    // the geocoder could not place would have it.
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("kat-aggregate-unplaced-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    common::copy_dir(&common::data_dir(), &dir);
    let path = dir.join("incidents.geojson");
    let mut layer: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let features = layer["features"].as_array_mut().unwrap();
    for f in features.iter_mut().step_by(5) {
        f["geometry"] = serde_json::Value::Null;
    }
    std::fs::write(&path, layer.to_string()).unwrap();
    let server = Server::start_with(&dir, &["--no-watch", "--no-cache"]);
    check(&server, "department", "month", "");
    check(&server, "event_type", "year", "fatalities=0");
    check(&server, "department", "year", "filter=fatalities%3E%3D3");
    check(&server, "department", "month", "bbox=-73.0,18.3,-72.0,19.0");
    let _ = std::fs::remove_dir_all(&dir);
}
