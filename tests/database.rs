//! Kat on a shared PostgreSQL/PostGIS database: two servers on one database, edits through
//! OGC API - Features Part 4 with accounts and history, checked over HTTP and against the
//! database itself (psql), never against Kat's own answers alone.

mod common;

use common::pg::Cluster;
use common::{data_dir, Response, Server};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const GEOJSON: &str = "application/geo+json";

/// A cluster with the bundled data imported and two servers on it.
fn two_servers() -> Option<(Cluster, Server, Server)> {
    let pg = Cluster::start()?;
    pg.load(&data_dir());
    let a = Server::start_with(&data_dir(), &["--database", &pg.url]);
    let b = Server::start_with(&data_dir(), &["--database", &pg.url]);
    Some((pg, a, b))
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

fn post(s: &Server, token: &str, feature: &Value) -> Response {
    let auth = bearer(token);
    s.send(
        "POST",
        "/collections/incidents/items",
        &[("Authorization", &auth), ("Content-Type", GEOJSON)],
        feature.to_string().as_bytes(),
    )
    .expect("POST answers")
}

/// A synthetic incident (marked so in its notes) at a point in Port-au-Prince.
fn synthetic(n: usize) -> Value {
    json!({
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [-72.33 + n as f64 * 1e-4, 18.54]},
        "properties": {
            "event_date": "2026-11-30",
            "event_type": "armed_clash",
            "actors": ["Synthetic test actor"],
            "fatalities": n % 7,
            "notes": format!("synthetic test record {n}"),
        }
    })
}

/// The kat binary's error output for `args`, which it must refuse (exit non-zero).
fn kat_refused(args: &[&str]) -> String {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kat"))
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "kat {args:?} succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Waits until `path` on `s` answers `status`; how long it took.
fn until(s: &Server, path: &str, status: u16, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if s.get(path).status == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "{path} did not answer {status} within {within:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn rows(pg: &Cluster, table: &str) -> usize {
    pg.psql(&format!("SELECT count(*) FROM kat.{table}"))
        .parse()
        .unwrap()
}

fn versions(pg: &Cluster) -> usize {
    pg.psql("SELECT count(*) FROM kat.history").parse().unwrap()
}

#[test]
fn import_fills_the_tables_as_the_files_are_and_a_second_import_writes_nothing() {
    let Some(pg) = Cluster::start() else { return };
    pg.kat(&["db", "init"]);
    let first = pg.kat(&["db", "import", "--data", data_dir().to_str().unwrap()]);
    let file: Value =
        serde_json::from_slice(&std::fs::read(data_dir().join("incidents.geojson")).unwrap())
            .unwrap();
    let n = file["features"].as_array().unwrap().len();
    assert!(
        first.contains(&format!("{n} features into kat.incidents ({n} new")),
        "{first}"
    );
    assert_eq!(rows(&pg, "incidents"), n);
    // Every point is in PostGIS where the file puts it.
    for f in file["features"].as_array().unwrap().iter().take(20) {
        let id = f["id"].as_str().unwrap();
        let got = pg.psql(&format!(
            "SELECT coalesce(ST_X(geom)::text || ',' || ST_Y(geom)::text, 'null') FROM kat.incidents WHERE id = '{id}'"
        ));
        let want = match f["geometry"]["coordinates"].as_array() {
            Some(c) => format!("{},{}", c[0].as_f64().unwrap(), c[1].as_f64().unwrap()),
            None => "null".into(),
        };
        assert_eq!(got, want, "{id}");
    }
    let before = versions(&pg);
    let second = pg.kat(&["db", "import", "--data", data_dir().to_str().unwrap()]);
    assert!(second.contains("(0 new, 0 changed, 0 deleted)"), "{second}");
    assert_eq!(versions(&pg), before, "a second import adds no version");
}

#[test]
fn a_database_backed_server_answers_as_the_file_backed_one() {
    let Some(pg) = Cluster::start() else { return };
    pg.load(&data_dir());
    let db = Server::start_with(&data_dir(), &["--database", &pg.url]);
    let files = Server::start();
    // Every answer of OGC API - Features Part 1 (and the extensions) is the file-backed
    // server's, but for the links' port.
    for path in [
        "/",
        "/collections",
        "/collections/incidents",
        "/collections/gang_areas",
        "/collections/incidents/queryables",
        "/collections/incidents/items?limit=1000",
        "/collections/incidents/items?limit=7&offset=14",
        "/collections/incidents/items?bbox=-72.5,18.4,-72.2,18.7&limit=1000",
        "/collections/incidents/items?datetime=2024-01-01/2024-06-30&limit=1000",
        "/collections/incidents/items?department=Artibonite&limit=1000",
        "/collections/gang_areas/items?limit=1000",
        "/collections/incidents/items?filter=fatalities%20%3E%3D%2010&limit=1000",
        "/collections/incidents/items?sortby=-event_date&limit=20",
        "/collections/incidents/items/HT-2024-017",
        "/collections/incidents/download",
        "/collections/incidents/aggregate?groupby=department&interval=month",
    ] {
        let a = db.get(path);
        let b = files.get(path);
        assert_eq!(a.status, 200, "{path}: {}", a.text());
        assert_eq!(a.status, b.status, "{path}");
        let a = a.text().replace(&db.base, "BASE");
        let b = b.text().replace(&files.base, "BASE");
        assert_eq!(a, b, "{path}");
    }
    // OWSLib reads it as it reads the file-backed server.
    let py = ["/usr/bin/python3", "python3"].into_iter().find(|p| {
        std::process::Command::new(p)
            .args(["-c", "import owslib"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    match py {
        None => common::skip_or_fail("python3 with OWSLib (python3-owslib) is not installed"),
        Some(py) => {
            let script = format!(
                r#"
import json
from owslib.ogcapi.features import Features
w = Features("{base}")
items = w.collection_items("incidents", bbox=[-72.5, 18.4, -72.2, 18.7], limit=1000)
print(json.dumps({{"ids": sorted(c["id"] for c in w.collections()["collections"]),
                  "got": sorted(f["id"] for f in items["features"])}}))
"#,
                base = db.base
            );
            let run = |base: &str| {
                let out = std::process::Command::new(py)
                    .args(["-c", &script.replace(&db.base, base)])
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "owslib: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                serde_json::from_slice::<Value>(&out.stdout).unwrap()
            };
            let (a, b) = (run(&db.base), run(&files.base));
            assert!(!a["got"].as_array().unwrap().is_empty());
            assert_eq!(a, b);
        }
    }
    let conformance = db.json("/conformance");
    assert!(conformance["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c.as_str().unwrap().contains("ogcapi-features-4")));
}

#[test]
fn a_write_through_one_server_is_served_by_the_other_within_a_second() {
    let Some((pg, a, b)) = two_servers() else {
        return;
    };
    let token = pg.token("editor", "Test Editor");
    let mut waits = Vec::new();
    for n in 0..20 {
        let r = post(&a, &token, &synthetic(n));
        assert_eq!(r.status, 201, "{}", r.text());
        let location = r.header("location").expect("a Location").to_string();
        let path = location.strip_prefix(&a.base).unwrap().to_string();
        // The writing server serves it as soon as it answers.
        assert_eq!(a.get(&path).status, 200);
        waits.push(until(&b, &path, 200, Duration::from_secs(1)));
    }
    waits.sort();
    eprintln!(
        "convergence over 20 writes: p50 {:?}, max {:?}",
        waits[waits.len() / 2],
        waits[waits.len() - 1]
    );
    assert_eq!(
        rows(&pg, "incidents") as u64,
        b.json("/collections/incidents/items?limit=1")["numberMatched"]
            .as_u64()
            .unwrap()
    );
}

#[test]
fn a_place_only_incident_is_geocoded_as_kat_import_places_it() {
    let Some((pg, a, b)) = two_servers() else {
        return;
    };
    let token = pg.token("editor", "Test Editor");
    // The same place through `kat import`, as the independent expectation.
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("one.csv");
    std::fs::write(
        &csv,
        "id,event_date,event_type,actors,fatalities,injured,kidnapped,location_as_reported,commune,department\n\
         X-1,2026-11-30,armed_clash,Synthetic test actor,1,,,Pont-Sondé,Saint-Marc,Artibonite\n",
    )
    .unwrap();
    let out = dir.path().join("one.geojson");
    let status = std::process::Command::new(env!("CARGO_BIN_EXE_kat"))
        .args(["import"])
        .arg(&csv)
        .arg("--out")
        .arg(&out)
        .arg("--data")
        .arg(data_dir())
        .env("KAT_LOG", "warn")
        .output()
        .unwrap();
    assert!(status.status.success());
    let imported: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let expected = &imported["features"][0];

    let r = post(
        &a,
        &token,
        &json!({"type": "Feature", "geometry": null, "properties": {
            "event_date": "2026-11-30", "event_type": "armed_clash",
            "actors": ["Synthetic test actor"], "fatalities": 1,
            "location_as_reported": "Pont-Sondé", "commune": "Saint-Marc",
            "department": "Artibonite", "notes": "synthetic test record"}}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let stored = r.json();
    assert_eq!(stored["geometry"], expected["geometry"]);
    for p in [
        "geo_precision",
        "section_pcode",
        "commune",
        "department",
        "geocode_status",
    ] {
        assert_eq!(stored["properties"][p], expected["properties"][p], "{p}");
    }
    let path = r
        .header("location")
        .unwrap()
        .strip_prefix(&a.base)
        .unwrap()
        .to_string();
    until(&b, &path, 200, Duration::from_secs(1));
    assert_eq!(b.json(&path)["geometry"], expected["geometry"]);
    let id = stored["id"].as_str().unwrap();
    let in_db = pg.psql(&format!(
        "SELECT ST_AsText(geom) FROM kat.incidents WHERE id = '{id}'"
    ));
    let c = expected["geometry"]["coordinates"].as_array().unwrap();
    assert_eq!(in_db, format!("POINT({} {})", c[0], c[1]));
}

#[test]
fn patch_put_if_match_delete_history_and_restore() {
    let Some((pg, a, b)) = two_servers() else {
        return;
    };
    let editor = pg.token("editor", "Ana");
    let admin = pg.token("admin", "Boss");
    let r = post(&a, &editor, &synthetic(1));
    assert_eq!(r.status, 201);
    assert_eq!(r.header("etag"), Some("\"r1\""));
    let path = r
        .header("location")
        .unwrap()
        .strip_prefix(&a.base)
        .unwrap()
        .to_string();
    let id = r.json()["id"].as_str().unwrap().to_string();
    until(&b, &path, 200, Duration::from_secs(1));
    assert_eq!(b.get(&path).header("etag"), Some("\"r1\""));

    let patch = |s: &Server, etag: Option<&str>, body: Value| {
        let auth = bearer(&editor);
        let mut h = vec![
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/merge-patch+json"),
        ];
        if let Some(e) = etag {
            h.push(("If-Match", e));
        }
        s.send("PATCH", &path, &h, body.to_string().as_bytes())
            .unwrap()
    };
    // Two editors read r1; the first PATCH wins, the second gets 412 and changes nothing.
    let first = patch(
        &a,
        Some("\"r1\""),
        json!({"properties": {"fatalities": 11}}),
    );
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.header("etag"), Some("\"r2\""));
    let second = patch(
        &b,
        Some("\"r1\""),
        json!({"properties": {"fatalities": 99}}),
    );
    assert_eq!(second.status, 412, "{}", second.text());
    assert_eq!(
        pg.psql(&format!("SELECT feature->'properties'->>'fatalities', revision FROM kat.incidents WHERE id = '{id}'")),
        "11|2"
    );
    // A merge patch keeps what it does not name, and null removes.
    let removed = patch(&a, None, json!({"properties": {"notes": null}}));
    assert_eq!(removed.status, 200);
    let now = removed.json();
    assert_eq!(now["properties"]["fatalities"], 11);
    assert!(now["properties"].get("notes").is_none());

    // PUT replaces the whole feature.
    let auth = bearer(&editor);
    let mut whole = synthetic(2);
    whole["properties"]["event_type"] = json!("kidnapping");
    let put = a
        .send(
            "PUT",
            &path,
            &[
                ("Authorization", &auth),
                ("Content-Type", GEOJSON),
                ("If-Match", "\"r3\""),
            ],
            whole.to_string().as_bytes(),
        )
        .unwrap();
    assert_eq!(put.status, 200, "{}", put.text());
    until(&b, &path, 200, Duration::from_secs(1));
    let deadline = Instant::now() + Duration::from_secs(1);
    while b.json(&path)["properties"]["event_type"] != "kidnapping" {
        assert!(
            Instant::now() < deadline,
            "the PUT did not reach the other server"
        );
        std::thread::sleep(Duration::from_millis(5));
    }

    // An editor may not delete; an admin may; the history stays and lists every version.
    let editor_auth = bearer(&editor);
    let refused = a
        .send("DELETE", &path, &[("Authorization", &editor_auth)], b"")
        .unwrap();
    assert_eq!(refused.status, 403);
    let admin_auth = bearer(&admin);
    let deleted = a
        .send("DELETE", &path, &[("Authorization", &admin_auth)], b"")
        .unwrap();
    assert_eq!(deleted.status, 204);
    until(&b, &path, 404, Duration::from_secs(1));
    assert_eq!(rows_with(&pg, &id), 0);
    let history = b.json(&format!("{path}/history"));
    let actions: Vec<(i64, &str, &str)> = history["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["revision"].as_i64().unwrap(),
                v["action"].as_str().unwrap(),
                v["actor"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        vec![
            (5, "delete", "Boss"),
            (4, "replace", "Ana"),
            (3, "update", "Ana"),
            (2, "update", "Ana"),
            (1, "create", "Ana")
        ]
    );
    assert_eq!(
        history["versions"][1]["after"]["properties"]["event_type"],
        "kidnapping"
    );
    assert_eq!(
        history["versions"][2]["before"]["properties"]["notes"],
        "synthetic test record 1"
    );

    // An admin restores revision 2; it is served again, as revision 6.
    let restore = |token: &str| {
        let auth = bearer(token);
        a.send(
            "POST",
            &format!("{path}/history/2/restore"),
            &[("Authorization", &auth)],
            b"",
        )
        .unwrap()
    };
    assert_eq!(restore(&editor).status, 403);
    let restored = restore(&admin);
    assert_eq!(restored.status, 200, "{}", restored.text());
    assert_eq!(restored.header("etag"), Some("\"r6\""));
    until(&b, &path, 200, Duration::from_secs(1));
    assert_eq!(b.json(&path)["properties"]["fatalities"], 11);
    assert_eq!(
        pg.psql(&format!(
            "SELECT count(*) FROM kat.history WHERE feature_id = '{id}'"
        )),
        "6"
    );
}

fn rows_with(pg: &Cluster, id: &str) -> usize {
    pg.psql(&format!(
        "SELECT count(*) FROM kat.incidents WHERE id = '{id}'"
    ))
    .parse()
    .unwrap()
}

#[test]
fn writes_without_a_valid_token_are_refused_and_change_nothing() {
    let Some((pg, a, _b)) = two_servers() else {
        return;
    };
    let editor = pg.token("editor", "Ana");
    let revoked = pg.token("editor", "Gone");
    pg.kat(&["token", "revoke", "Gone"]);
    // Only a digest of each token is kept.
    for t in [&editor, &revoked] {
        assert_eq!(
            pg.psql(&format!("SELECT count(*) FROM kat.tokens WHERE position('{t}' in encode(hash, 'escape')) > 0 OR hash = convert_to('{t}', 'UTF8')")),
            "0"
        );
    }
    let (rows0, versions0) = (rows(&pg, "incidents"), versions(&pg));
    let body = synthetic(3).to_string();
    let cases: Vec<(Vec<(&str, String)>, u16)> = vec![
        (vec![], 401),
        (vec![("Authorization", "Bearer kat_0000".into())], 401),
        (vec![("Authorization", "Basic dXNlcjpwYXNz".into())], 401),
        (vec![("Authorization", bearer(&revoked))], 401),
    ];
    for (headers, status) in cases {
        let mut h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        h.push(("Content-Type", GEOJSON));
        let r = a
            .send("POST", "/collections/incidents/items", &h, body.as_bytes())
            .unwrap();
        assert_eq!(r.status, status, "{headers:?}: {}", r.text());
        assert!(r.header("www-authenticate").unwrap().starts_with("Bearer"));
        assert_eq!(r.json()["status"], status);
        assert!(!r.text().contains(&revoked), "a token is never echoed");
    }
    assert_eq!((rows(&pg, "incidents"), versions(&pg)), (rows0, versions0));
    // The editor's token works, and shows in no answer or metric.
    assert_eq!(post(&a, &editor, &synthetic(4)).status, 201);
    assert!(!a.get("/metrics").text().contains(&editor));
    assert!(!a.get("/health").text().contains(&editor));
}

#[test]
fn bad_writes_get_a_problem_naming_the_field_and_leave_the_database_unchanged() {
    let Some((pg, a, _b)) = two_servers() else {
        return;
    };
    let editor = pg.token("editor", "Ana");
    let auth = bearer(&editor);
    let existing: Value =
        serde_json::from_slice(&std::fs::read(data_dir().join("incidents.geojson")).unwrap())
            .unwrap();
    let existing_id = existing["features"][0]["id"].as_str().unwrap().to_string();
    let mut outside = synthetic(5);
    outside["geometry"]["coordinates"] = json!([2.35, 48.85]);
    let mut polygon = synthetic(6);
    polygon["geometry"] = json!({"type": "Polygon", "coordinates": [[[-72.3, 18.5], [-72.2, 18.5], [-72.2, 18.6], [-72.3, 18.5]]]});
    let mut no_date = synthetic(7);
    no_date["properties"]
        .as_object_mut()
        .unwrap()
        .remove("event_date");
    let mut bad_int = synthetic(8);
    bad_int["properties"]["fatalities"] = json!("ten");
    let mut duplicate = synthetic(9);
    duplicate["id"] = json!(existing_id);
    let huge = format!(
        "{{\"type\":\"Feature\",\"geometry\":null,\"properties\":{{\"notes\":\"{}\"}}}}",
        "x".repeat(5 << 20)
    );
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "text/plain",
            synthetic(1).to_string().into_bytes(),
            415,
            "Content-Type",
        ),
        (
            GEOJSON,
            b"{\"type\": \"Feature\", \"geometry\":".to_vec(),
            400,
            "body",
        ),
        (GEOJSON, b"[1, 2]".to_vec(), 400, "type"),
        (
            GEOJSON,
            json!({"type": "FeatureCollection", "features": []})
                .to_string()
                .into_bytes(),
            400,
            "type",
        ),
        (
            GEOJSON,
            no_date.to_string().into_bytes(),
            400,
            "properties.event_date",
        ),
        (
            GEOJSON,
            bad_int.to_string().into_bytes(),
            400,
            "properties.fatalities",
        ),
        (GEOJSON, polygon.to_string().into_bytes(), 400, "geometry"),
        (GEOJSON, outside.to_string().into_bytes(), 400, "geometry"),
        (GEOJSON, duplicate.to_string().into_bytes(), 409, ""),
        (GEOJSON, huge.into_bytes(), 413, ""),
    ];
    let (rows0, versions0) = (rows(&pg, "incidents"), versions(&pg));
    for (content_type, body, status, field) in cases {
        let r = a
            .send(
                "POST",
                "/collections/incidents/items",
                &[("Authorization", &auth), ("Content-Type", content_type)],
                &body,
            )
            .unwrap();
        assert_eq!(r.status, status, "{field}: {}", r.text());
        let problem = r.json();
        assert_eq!(problem["status"], status);
        assert!(problem["detail"].as_str().is_some_and(|d| !d.is_empty()));
        if !field.is_empty() {
            assert_eq!(problem["field"], field, "{}", r.text());
        }
        assert_eq!(
            (rows(&pg, "incidents"), versions(&pg)),
            (rows0, versions0),
            "{field}"
        );
    }
    // A PATCH of the wrong type, and one to a feature that does not exist.
    let p = a
        .send(
            "PATCH",
            &format!("/collections/incidents/items/{existing_id}"),
            &[("Authorization", &auth), ("Content-Type", GEOJSON)],
            b"{}",
        )
        .unwrap();
    assert_eq!(p.status, 415);
    let p = a
        .send(
            "PATCH",
            "/collections/incidents/items/no-such-feature",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/merge-patch+json"),
            ],
            b"{\"properties\": {\"fatalities\": 1}}",
        )
        .unwrap();
    assert_eq!(p.status, 404);
    // Writes to a collection that is not editable.
    let p = a
        .send(
            "POST",
            "/collections/communes/items",
            &[("Authorization", &auth), ("Content-Type", GEOJSON)],
            synthetic(1).to_string().as_bytes(),
        )
        .unwrap();
    assert_eq!(p.status, 405, "{}", p.text());
    assert_eq!((rows(&pg, "incidents"), versions(&pg)), (rows0, versions0));
    assert_eq!(a.get("/health").status, 200, "the server still answers");
}

#[test]
fn sixteen_concurrent_writers_lose_and_duplicate_nothing() {
    let Some((pg, a, b)) = two_servers() else {
        return;
    };
    let token = pg.token("editor", "Writers");
    let before = rows(&pg, "incidents");
    let servers = [&a, &b];
    let ids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..16)
            .map(|w| {
                let s = servers[w % 2];
                let token = token.clone();
                scope.spawn(move || {
                    (0..25)
                        .map(|k| {
                            let r = post(s, &token, &synthetic(w * 100 + k));
                            assert_eq!(r.status, 201, "{}", r.text());
                            r.json()["id"].as_str().unwrap().to_string()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let unique: std::collections::HashSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), 400);
    assert_eq!(rows(&pg, "incidents"), before + 400);
    let in_db: std::collections::HashSet<String> = pg
        .psql("SELECT id FROM kat.incidents")
        .lines()
        .map(str::to_string)
        .collect();
    assert!(ids.iter().all(|id| in_db.contains(id)));
    // Both servers serve all of them.
    for s in servers {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let n = s.json("/collections/incidents/items?limit=1")["numberMatched"]
                .as_u64()
                .unwrap() as usize;
            if n == before + 400 {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "a server serves {n} of {}",
                before + 400
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[test]
fn options_and_cors_preflight_announce_the_writes() {
    let Some((_pg, a, _b)) = two_servers() else {
        return;
    };
    let r = a
        .request(
            "OPTIONS",
            "/collections/incidents/items/x",
            &[
                ("Origin", "https://example.org"),
                ("Access-Control-Request-Method", "PATCH"),
                (
                    "Access-Control-Request-Headers",
                    "authorization, if-match, content-type",
                ),
            ],
        )
        .unwrap();
    assert!(r.status == 204 || r.status == 200);
    let methods = r.header("access-control-allow-methods").unwrap();
    for m in ["PUT", "PATCH", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    let headers = r
        .header("access-control-allow-headers")
        .unwrap()
        .to_ascii_lowercase();
    for h in ["authorization", "if-match", "content-type"] {
        assert!(headers.contains(h), "{headers}");
    }
    assert!(r.header("allow").unwrap().contains("DELETE"));
    let items = a
        .request("OPTIONS", "/collections/incidents/items", &[])
        .unwrap();
    assert!(items.header("allow").unwrap().contains("POST"));
    let read_only = a
        .request("OPTIONS", "/collections/communes/items", &[])
        .unwrap();
    assert!(!read_only.header("allow").unwrap().contains("POST"));
    // /api declares the writes of the editable collections only, with their security.
    let api = a.json("/api");
    assert!(api["paths"]["/collections/incidents/items"]["post"].is_object());
    assert!(api["paths"]["/collections/incidents/items/{featureId}"]["patch"].is_object());
    assert!(api["paths"]["/collections/communes/items"]
        .get("post")
        .is_none());
    assert_eq!(
        api["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
}

#[test]
fn a_file_backed_server_answers_writes_with_405_saying_edits_need_a_database() {
    let s = Server::start();
    for (method, path) in [
        ("POST", "/collections/incidents/items"),
        ("PUT", "/collections/incidents/items/x"),
        ("PATCH", "/collections/incidents/items/x"),
        ("DELETE", "/collections/incidents/items/x"),
    ] {
        let r = s
            .send(
                method,
                path,
                &[("Content-Type", GEOJSON)],
                synthetic(1).to_string().as_bytes(),
            )
            .unwrap();
        assert_eq!(r.status, 405, "{method} {path}");
        assert!(
            r.json()["detail"].as_str().unwrap().contains("--database"),
            "{}",
            r.text()
        );
        assert!(r.header("allow").is_some());
    }
    let conformance = s.json("/conformance");
    assert!(!conformance["conformsTo"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c.as_str().unwrap().contains("ogcapi-features-4")));
}

#[test]
fn a_private_server_asks_a_token_for_reads_but_not_for_health_or_the_map_files() {
    let Some(pg) = Cluster::start() else { return };
    pg.load(&data_dir());
    let reader = pg.token("reader", "Reader");
    let s = Server::start_with(&data_dir(), &["--database", &pg.url, "--private"]);
    let auth = bearer(&reader);
    for path in [
        "/collections",
        "/collections/incidents/items?limit=1",
        "/collections/communes/items/x",
    ] {
        let r = s.get(path);
        assert_eq!(r.status, 401, "{path}");
        assert!(r.header("www-authenticate").is_some());
        let ok = s.request("GET", path, &[("Authorization", &auth)]).unwrap();
        assert_ne!(ok.status, 401, "{path}");
    }
    assert_eq!(s.get("/health").status, 200);
    assert_eq!(s.get("/static/app.js").status, 200);
    // A reader reads and writes nothing: a write is refused naming the role it needs.
    let (rows0, versions0) = (rows(&pg, "incidents"), versions(&pg));
    let refused = post(&s, &reader, &synthetic(5));
    assert_eq!(refused.status, 403, "{}", refused.text());
    let detail = refused.json()["detail"].as_str().unwrap().to_string();
    assert!(
        detail.contains("needs the editor role") && detail.contains("\"Reader\" is a reader"),
        "{detail}"
    );
    assert_eq!((rows(&pg, "incidents"), versions(&pg)), (rows0, versions0));
    // Without a database there are no accounts: --private refuses to start.
    let data = data_dir();
    let stderr = kat_refused(&["serve", "--private", "--data", data.to_str().unwrap()]);
    assert!(stderr.contains("--database"), "{stderr}");
}

#[test]
fn a_database_made_before_readers_is_served_and_upgrades_with_db_init_keeping_its_accounts() {
    let Some(pg) = Cluster::start() else { return };
    pg.load(&data_dir());
    let editor = pg.token("editor", "Ana");
    // The database as the first schema left it: no reader role, version 1.
    pg.psql(
        "DELETE FROM kat.migrations WHERE version > 1; \
         ALTER TABLE kat.tokens DROP CONSTRAINT tokens_role_check; \
         ALTER TABLE kat.tokens ADD CONSTRAINT tokens_role_check CHECK (role IN ('editor', 'admin'));",
    );
    // A new Kat serves it as it is, so that servers can be upgraded before the database.
    let s = Server::start_with(&data_dir(), &["--database", &pg.url]);
    assert_eq!(post(&s, &editor, &synthetic(6)).status, 201);
    // What the old schema cannot hold is refused, saying how to get it.
    let stderr = kat_refused(&[
        "token",
        "create",
        "--role",
        "reader",
        "--name",
        "Rose",
        "--database",
        &pg.url,
    ]);
    assert!(
        stderr.contains("kat db init") && stderr.contains("reader"),
        "{stderr}"
    );
    assert_eq!(pg.psql("SELECT count(*) FROM kat.tokens"), "1");

    let applied = pg.kat(&["db", "init"]);
    assert!(applied.contains("[2]"), "{applied}");
    assert!(pg.kat(&["db", "init"]).contains("up to date"));
    let reader = pg.token("reader", "Rose");
    assert_eq!(
        pg.psql("SELECT string_agg(role, ',' ORDER BY id) FROM kat.tokens"),
        "editor,reader"
    );
    drop(s);
    let s = Server::start_with(&data_dir(), &["--database", &pg.url, "--private"]);
    let r = s
        .request(
            "GET",
            "/collections/incidents/items?limit=1",
            &[("Authorization", &bearer(&reader))],
        )
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(post(&s, &editor, &synthetic(7)).status, 201);
    drop(s);

    // A database upgraded by a newer Kat than this one is refused, naming both versions.
    pg.psql("INSERT INTO kat.migrations (version) VALUES (99)");
    let data = data_dir();
    let stderr = kat_refused(&[
        "serve",
        "--database",
        &pg.url,
        "--data",
        data.to_str().unwrap(),
    ]);
    assert!(
        stderr.contains("version 99") && stderr.contains("newer"),
        "{stderr}"
    );
}

#[test]
fn gdal_reads_a_private_server_with_the_token_in_a_header() {
    let have = std::process::Command::new("ogrinfo")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        return common::skip_or_fail("ogrinfo (gdal-bin) is not installed");
    }
    let Some(pg) = Cluster::start() else { return };
    pg.load(&data_dir());
    let reader = pg.token("reader", "GDAL");
    let s = Server::start_with(&data_dir(), &["--database", &pg.url, "--private"]);
    let ogrinfo = |header: Option<&str>| {
        let mut c = std::process::Command::new("ogrinfo");
        c.args(["-ro", "-so", &format!("OAPIF:{}", s.base), "incidents"]);
        if let Some(h) = header {
            c.args(["--config", "GDAL_HTTP_HEADERS", h]);
        }
        c.output().unwrap()
    };
    let refused = ogrinfo(None);
    assert!(
        !refused.status.success(),
        "GDAL read a private server without a token"
    );
    let out = ogrinfo(Some(&format!("Authorization: Bearer {reader}")));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("Feature Count: {}", rows(&pg, "incidents"))),
        "{text}"
    );
}

#[test]
fn account_names_the_token_s_holder_its_role_and_what_it_may_do() {
    let Some(pg) = Cluster::start() else { return };
    pg.load(&data_dir());
    let s = Server::start_with(&data_dir(), &["--database", &pg.url]);
    for (role, name, may) in [
        ("reader", "Rose", vec!["read"]),
        ("editor", "Ana", vec!["read", "create", "replace", "update"]),
        (
            "admin",
            "Jean",
            vec!["read", "create", "replace", "update", "delete", "restore"],
        ),
    ] {
        let token = pg.token(role, name);
        let r = s
            .request("GET", "/account", &[("Authorization", &bearer(&token))])
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.json(), json!({"name": name, "role": role, "may": may}));
        assert!(!r.text().contains(&token));
    }
    for headers in [vec![], vec![("Authorization", "Bearer kat_0000")]] {
        let r = s.request("GET", "/account", &headers).unwrap();
        assert_eq!(r.status, 401, "{headers:?}");
        assert!(r.header("www-authenticate").is_some());
    }
    let bad = s.get("/account?role=admin");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["parameter"], "role");
    for path in [
        "/account?f=xml",
        "/collections/incidents/items/HT-2025-038/history?f=xml",
    ] {
        let r = s.get(path);
        assert!(r.status == 400 || r.status == 406, "{path}: {}", r.text());
        assert!(
            r.json()["detail"].as_str().unwrap().contains("f=json"),
            "{path}"
        );
    }
    let api = s.json("/api");
    assert!(api["paths"]["/account"]["get"]["security"].is_array());

    // A server without a database has no accounts, and says where they are kept.
    let files = Server::start();
    let r = files.get("/account");
    assert_eq!(r.status, 404);
    assert!(r.json()["detail"].as_str().unwrap().contains("--database"));
    assert!(files.json("/api")["paths"].get("/account").is_none());
}
