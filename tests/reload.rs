//! Hot reload against the real server, on a private copy of the data directory: a good file
//! swaps in, a bad one is refused while the old data keeps serving, SIGHUP reloads, and
//! requests made while the data is rewritten again and again all succeed.

mod common;

use common::{copy_dir, data_dir, Server};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A copy of data/ under the system's temporary directory, removed when dropped.
struct DataCopy {
    dir: PathBuf,
}

impl DataCopy {
    fn new(name: &str) -> DataCopy {
        let dir = std::env::temp_dir().join(format!("kat-reload-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&data_dir(), &dir);
        DataCopy { dir }
    }

    fn incidents(&self) -> PathBuf {
        self.dir.join("incidents.geojson")
    }
}

impl Drop for DataCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Replaces a file the way careful tools do: write beside it, then rename over it.
fn replace(path: &Path, text: &str) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// The bundled incidents, one feature per line between the header and footer lines.
struct Incidents {
    head: String,
    features: Vec<String>,
    tail: String,
}

impl Incidents {
    fn read() -> Incidents {
        let text = std::fs::read_to_string(data_dir().join("incidents.geojson")).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.len() > 3, "incidents.geojson is one feature per line");
        let features = lines[1..lines.len() - 1]
            .iter()
            .map(|l| l.trim_end_matches(',').to_string())
            .collect();
        Incidents {
            head: lines[0].to_string(),
            features,
            tail: lines[lines.len() - 1].to_string(),
        }
    }

    fn render(&self, features: &[String]) -> String {
        format!("{}\n{}\n{}\n", self.head, features.join(",\n"), self.tail)
    }

    fn all(&self) -> String {
        self.render(&self.features)
    }

    /// Every feature but the last.
    fn one_fewer(&self) -> String {
        self.render(&self.features[..self.features.len() - 1])
    }

    /// Cut off in the middle: not JSON.
    fn truncated(&self) -> String {
        let all = self.all();
        all[..all.len() / 2].to_string()
    }

    /// The first feature twice.
    fn duplicate_id(&self) -> (String, String) {
        let mut f = self.features.clone();
        f.push(self.features[0].clone());
        (self.render(&f), id_of(&self.features[0]))
    }

    /// The third feature moved to Paris.
    fn point_outside_haiti(&self) -> (String, String) {
        let mut f = self.features.clone();
        let mut feature: Value = serde_json::from_str(&f[2]).unwrap();
        feature["geometry"] = serde_json::json!({"type": "Point", "coordinates": [2.35, 48.85]});
        f[2] = feature.to_string();
        (self.render(&f), id_of(&self.features[2]))
    }
}

fn id_of(feature: &str) -> String {
    let v: Value = serde_json::from_str(feature).unwrap();
    v["id"].as_str().unwrap().to_string()
}

fn health(server: &Server) -> Value {
    server.json("/health")
}

fn counters(h: &Value) -> (u64, u64) {
    (
        h["reloads"].as_u64().unwrap(),
        h["reload_failures"].as_u64().unwrap(),
    )
}

fn matched(server: &Server) -> u64 {
    server.json("/collections/incidents/items?limit=1")["numberMatched"]
        .as_u64()
        .unwrap()
}

/// Polls `/health` until `done` holds. The deadline only stops a broken build from hanging
/// the test run; it is not a performance assertion.
fn wait_for(server: &Server, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let h = health(server);
        if done(&h) {
            return h;
        }
        assert!(
            Instant::now() < deadline,
            "gave up waiting for {what}; /health: {h}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_no_absolute_path(err: &str, data: &Path) {
    assert!(
        !err.contains(&data.display().to_string()),
        "the error shows the data directory: {err}"
    );
    let tmp = std::env::temp_dir().display().to_string();
    assert!(
        !err.contains(&tmp),
        "the error shows a temporary path: {err}"
    );
    assert!(
        !err.split([' ', '"', '\'', '(']).any(|w| w.starts_with('/')),
        "the error shows an absolute path: {err}"
    );
}

#[test]
fn a_good_file_swaps_in_and_a_bad_one_is_refused() {
    let data = DataCopy::new("swap");
    let incidents = Incidents::read();
    let server = Server::start_with(&data.dir, &[]);
    let total = incidents.features.len() as u64;
    assert_eq!(matched(&server), total);
    let first = health(&server);
    let v0 = first["data_version"].as_str().unwrap().to_string();

    // (a) One feature fewer: a new version, one feature fewer served.
    replace(&data.incidents(), &incidents.one_fewer());
    let h = wait_for(&server, "the new incidents", |h| {
        h["data_version"].as_str() != Some(&v0)
    });
    assert_eq!(h["features"]["incidents"], total - 1, "{h}");
    assert!(h["last_reload_error"].is_null(), "{h}");
    assert!(h["last_reload"].is_string(), "{h}");
    assert_eq!(matched(&server), total - 1);
    let v1 = h["data_version"].as_str().unwrap().to_string();
    // The other layers were not touched: still served, same counts.
    assert_eq!(h["features"]["sections"], first["features"]["sections"]);

    // (b) Bad files: each refused with the file (and feature) named, old data kept.
    let (dup, dup_id) = incidents.duplicate_id();
    let (paris, paris_id) = incidents.point_outside_haiti();
    let bad: Vec<(&str, String, Vec<String>)> = vec![
        (
            "invalid JSON",
            incidents.truncated(),
            vec!["incidents.geojson".into()],
        ),
        (
            "a duplicate id",
            dup,
            vec![
                "incidents.geojson".into(),
                dup_id.clone(),
                "not unique".into(),
            ],
        ),
        (
            "a point outside Haiti",
            paris,
            vec![
                "incidents.geojson".into(),
                paris_id.clone(),
                "outside Haiti".into(),
            ],
        ),
    ];
    for (what, text, named) in bad {
        let before = counters(&health(&server));
        replace(&data.incidents(), &text);
        let h = wait_for(&server, what, |h| counters(h).1 > before.1);
        let err = h["last_reload_error"]
            .as_str()
            .unwrap_or_else(|| panic!("{what}: no error in {h}"));
        for n in &named {
            assert!(
                err.contains(n.as_str()),
                "{what}: the error does not name {n:?}: {err}"
            );
        }
        assert_no_absolute_path(err, &data.dir);
        assert_eq!(
            h["data_version"].as_str(),
            Some(v1.as_str()),
            "{what}: the version changed"
        );
        assert_eq!(h["features"]["incidents"], total - 1, "{what}: {h}");
        assert_eq!(
            matched(&server),
            total - 1,
            "{what}: the old data is no longer served"
        );
        let r = server.get(&format!("/collections/incidents/items/{dup_id}"));
        assert_eq!(r.status, 200, "{what}: a feature of the old data is gone");
    }

    // A broken gazetteer file is refused too, named relative to the data directory.
    let aliases = data.dir.join("gazetteer/aliases.csv");
    let good_aliases = std::fs::read_to_string(&aliases).unwrap();
    replace(&data.incidents(), &incidents.one_fewer());
    wait_for(&server, "the good incidents again", |h| {
        h["last_reload_error"].is_null()
    });
    let before = counters(&health(&server));
    replace(
        &aliases,
        &format!("{good_aliases}Nowhere,bogus,,,4,,,HT01,https://example.org,\n"),
    );
    let h = wait_for(&server, "the broken gazetteer", |h| {
        counters(h).1 > before.1
    });
    let err = h["last_reload_error"].as_str().unwrap();
    assert!(err.contains("aliases.csv"), "{err}");
    assert_no_absolute_path(err, &data.dir);
    assert_eq!(h["data_version"].as_str(), Some(v1.as_str()));
    let r = server.get("/geocode?q=Lwes");
    assert_eq!(
        r.status,
        200,
        "the geocoder stopped answering: {}",
        r.text()
    );

    // Everything good again: served, and the error cleared.
    replace(&aliases, &good_aliases);
    replace(&data.incidents(), &incidents.all());
    let h = wait_for(&server, "the good data again", |h| {
        h["features"]["incidents"] == total && h["last_reload_error"].is_null()
    });
    assert_eq!(
        h["data_version"].as_str(),
        Some(v0.as_str()),
        "the same files, the same version"
    );
    assert_eq!(matched(&server), total);
}

#[test]
fn sighup_reloads() {
    let data = DataCopy::new("sighup");
    let incidents = Incidents::read();
    // No watching: only the signal can make it reload.
    let server = Server::start_with(&data.dir, &["--no-watch"]);
    let total = incidents.features.len() as u64;
    let h0 = health(&server);
    let v0 = h0["data_version"].as_str().unwrap().to_string();
    let hup = || {
        let status = std::process::Command::new("kill")
            .args(["-HUP", &server.pid().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    };

    // Nothing changed: a reload, the same version.
    hup();
    let h = wait_for(&server, "the first SIGHUP", |h| counters(h).0 >= 1);
    assert_eq!(h["data_version"].as_str(), Some(v0.as_str()));
    assert_eq!(matched(&server), total);

    replace(&data.incidents(), &incidents.one_fewer());
    hup();
    let h = wait_for(&server, "the second SIGHUP", |h| counters(h).0 >= 2);
    assert_ne!(h["data_version"].as_str(), Some(v0.as_str()));
    assert_eq!(h["features"]["incidents"], total - 1);
    assert_eq!(matched(&server), total - 1);

    let (dup, _) = incidents.duplicate_id();
    replace(&data.incidents(), &dup);
    hup();
    let h = wait_for(&server, "the third SIGHUP", |h| counters(h).1 >= 1);
    assert!(h["last_reload_error"]
        .as_str()
        .unwrap()
        .contains("incidents.geojson"));
    assert_eq!(matched(&server), total - 1);
}

#[test]
fn requests_during_repeated_reloads_all_succeed() {
    let data = DataCopy::new("hammer");
    let incidents = Incidents::read();
    let mut server = Server::start_with(&data.dir, &[]);
    let total = incidents.features.len() as u64;
    let stop = AtomicBool::new(false);
    let done = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::<String>::new());
    let paths = [
        "/collections/incidents/items?limit=200",
        "/collections/incidents/items?limit=5&bbox=-72.5,18.3,-72.1,18.7",
        "/collections/incidents/items?near=-72.33,18.54&within=20000&limit=200",
        "/collections/incidents/download",
        "/collections/incidents",
        "/health",
    ];
    let (dup, _) = incidents.duplicate_id();
    let (paris, _) = incidents.point_outside_haiti();
    let versions = [
        incidents.one_fewer(),
        incidents.truncated(),
        incidents.all(),
        dup,
        incidents.one_fewer(),
        paris,
        incidents.all(),
        incidents.truncated(),
        incidents.one_fewer(),
        incidents.all(),
    ];
    std::thread::scope(|scope| {
        for w in 0..4 {
            let (stop, done, failures, server) = (&stop, &done, &failures, &server);
            scope.spawn(move || {
                let mut i = w;
                while !stop.load(Ordering::Relaxed) {
                    let path = paths[i % paths.len()];
                    i += 1;
                    match server.try_get(path) {
                        Err(e) => failures.lock().unwrap().push(format!("{path}: {e}")),
                        Ok(r) if r.status != 200 => failures.lock().unwrap().push(format!(
                            "{path}: {} {}",
                            r.status,
                            r.text()
                        )),
                        Ok(r) => {
                            if let Some(problem) = inconsistent(path, &r.body, total) {
                                failures.lock().unwrap().push(format!("{path}: {problem}"));
                            }
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        for (i, text) in versions.iter().enumerate() {
            let before = counters(&health(&server));
            if i % 2 == 0 {
                replace(&data.incidents(), text);
            } else {
                // In place, as an editor saving over the file would.
                std::fs::write(data.incidents(), text).unwrap();
            }
            wait_for(&server, "a reload", |h| {
                let now = counters(h);
                now.0 + now.1 > before.0 + before.1
            });
        }
        // The last version is complete: it ends up served.
        wait_for(&server, "the last version", |h| {
            h["features"]["incidents"] == total
        });
        stop.store(true, Ordering::Relaxed);
    });
    let failures = failures.lock().unwrap();
    let n = done.load(Ordering::Relaxed);
    eprintln!(
        "{n} requests during {} rewrites, {} failed",
        versions.len(),
        failures.len()
    );
    assert!(n > 0);
    assert!(
        failures.is_empty(),
        "{} of {n} requests failed during reloads:\n{}",
        failures.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(server.is_alive());
    assert_eq!(matched(&server), total);
}

/// Whether one answer mixes versions: every answer must be whole, from one snapshot.
fn inconsistent(path: &str, body: &[u8], total: u64) -> Option<String> {
    if !path.starts_with("/collections/incidents/items") && !path.ends_with("/download") {
        return None;
    }
    let v: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Some(format!("not JSON: {e}")),
    };
    // A member missing is a broken answer, not one to skip.
    let Some(matched) = v["numberMatched"].as_u64() else {
        return Some("no numberMatched".into());
    };
    let Some(features) = v["features"].as_array().map(|f| f.len() as u64) else {
        return Some("no features array".into());
    };
    let returned = v["numberReturned"].as_u64().unwrap_or(features);
    if returned != features {
        return Some(format!("numberReturned {returned} but {features} features"));
    }
    let whole = path.contains("limit=200") || path.ends_with("/download");
    if path.contains("within") || path.contains("bbox") {
        return (matched > total).then(|| format!("{matched} matched, more than {total}"));
    }
    if whole && (matched != features || (matched != total && matched != total - 1)) {
        return Some(format!(
            "{matched} matched, {features} features: not one version"
        ));
    }
    None
}
