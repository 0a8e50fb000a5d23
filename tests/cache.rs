//! A large layer is kept in a cache beside the data (`<data>/.kat-cache`): a restart serves it
//! from there, exactly as the file holds it, and never once the file has changed or the cache
//! is damaged. Checked over HTTP against serde_json's reading of the file and brute-force
//! counts.

mod common;

use common::{copy_dir, Server};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Enough synthetic incidents for a file above the cache's threshold.
const N: usize = 50_000;

struct Data {
    dir: PathBuf,
}

impl Data {
    fn new(name: &str) -> Data {
        let dir = std::env::temp_dir().join(format!("kat-cache-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&common::data_dir(), &dir);
        let gaz = kat::geocode::Gazetteer::load(&common::data_dir()).expect("gazetteer");
        let mut out =
            std::io::BufWriter::new(std::fs::File::create(dir.join("incidents.geojson")).unwrap());
        kat::synth::write_incidents(&gaz, N, 5, &mut out).expect("synthetic incidents");
        drop(out);
        let data = Data { dir };
        let len = std::fs::metadata(data.file()).unwrap().len();
        assert!(
            len >= kat::layer::cache::MIN_BYTES,
            "{len} bytes: too small to be cached"
        );
        data
    }

    fn file(&self) -> PathBuf {
        self.dir.join("incidents.geojson")
    }

    fn cache(&self) -> PathBuf {
        self.dir.join(kat::layer::cache::DIR).join("incidents.bin")
    }

    /// Starts the server and, when it loaded the layer from its file, waits for the cache it
    /// writes in the background.
    fn serve(&self, extra: &[&str]) -> (Server, &'static str) {
        let mut args = vec!["--no-watch"];
        args.extend_from_slice(extra);
        let before = modified(&self.cache());
        let server = Server::start_with(&self.dir, &args);
        let from = match server.json("/health")["loads"]["incidents"]["from"].as_str() {
            Some("cache") => "cache",
            Some("file") => "file",
            other => panic!("/health says the layer came from {other:?}"),
        };
        if from == "file" && !extra.contains(&"--no-cache") {
            let deadline = Instant::now() + Duration::from_secs(120);
            while modified(&self.cache()) == before || modified(&self.cache()).is_none() {
                assert!(Instant::now() < deadline, "no cache written");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        (server, from)
    }
}

impl Drop for Data {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn modified(p: &Path) -> Option<std::time::SystemTime> {
    std::fs::metadata(p).ok()?.modified().ok()
}

/// Every feature the server lists, by id, following `next` links.
fn all_features(server: &Server) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    let mut next = Some("/collections/incidents/items?limit=10000".to_string());
    while let Some(path) = next.take() {
        let v = server.json(&path);
        for f in v["features"].as_array().unwrap() {
            let id = f["id"].as_str().unwrap().to_string();
            assert!(out.insert(id.clone(), f.clone()).is_none(), "{id} twice");
        }
        next = server.next_path(&v);
    }
    out
}

/// The features as serde_json reads the file: id → (geometry, properties).
fn file_features(path: &Path) -> HashMap<String, (Value, Value)> {
    common::brute::read_layer(path)
        .into_iter()
        .map(|f| (f.id, (f.geometry, f.properties)))
        .collect()
}

fn assert_served_as_the_file_holds_it(server: &Server, path: &Path) {
    let file = file_features(path);
    let served = all_features(server);
    assert_eq!(served.len(), file.len());
    for (id, (geometry, properties)) in &file {
        let f = &served[id];
        assert_eq!(&f["geometry"], geometry, "{id}");
        assert_eq!(&f["properties"], properties, "{id}");
    }
}

#[test]
fn a_restart_serves_the_cached_layer_as_the_file_holds_it() {
    let data = Data::new("restart");
    let (first, from) = data.serve(&[]);
    assert_eq!(from, "file");
    let queries = [
        "/collections/incidents/items?bbox=-72.6,18.3,-72.0,18.7&limit=7",
        "/collections/incidents/items?bbox=-74.5,18.0,-71.6,20.1&limit=3",
        "/collections/incidents/items?event_type=kidnapping&limit=5",
        "/collections/incidents/items?department=artibonite&datetime=2024-01-01/2024-06-30&limit=5",
        "/collections/incidents/items?actor=brigade&bbox=-73,18.5,-72.5,19&limit=5",
        "/collections/incidents/items?near=-72.3,18.55&limit=10",
        "/collections/incidents/items/SYN-0031337",
        "/collections/incidents",
    ];
    let before: Vec<Value> = queries.iter().map(|q| comparable(&first, q)).collect();
    let version = first.json("/health")["data_version"].clone();
    drop(first);

    let (second, from) = data.serve(&[]);
    assert_eq!(from, "cache");
    assert_eq!(second.json("/health")["data_version"], version);
    for (q, expected) in queries.iter().zip(&before) {
        assert_eq!(&comparable(&second, q), expected, "{q}");
    }
    assert_served_as_the_file_holds_it(&second, &data.file());

    // Counts and filters against a brute-force reading of the file.
    let file = file_features(&data.file());
    let b = [-72.6, 18.3, -72.0, 18.7];
    let in_box = file
        .values()
        .filter(|(g, _)| {
            common::brute::point(g)
                .is_some_and(|p| b[0] <= p[0] && p[0] <= b[2] && b[1] <= p[1] && p[1] <= b[3])
        })
        .count();
    assert!(in_box > 0);
    assert_eq!(before[0]["numberMatched"], in_box);
    let kidnappings = file
        .values()
        .filter(|(_, p)| p["event_type"] == "kidnapping")
        .count();
    assert!(kidnappings > 0);
    assert_eq!(before[2]["numberMatched"], kidnappings);
    let first_half = file
        .values()
        .filter(|(_, p)| {
            p["department"] == "Artibonite"
                && p["event_date"]
                    .as_str()
                    .is_some_and(|d| ("2024-01-01".."2024-07-01").contains(&d))
        })
        .count();
    assert!(first_half > 0);
    assert_eq!(before[3]["numberMatched"], first_half);
}

/// The answer without what differs from one start to the next: the time and the port.
fn comparable(server: &Server, path: &str) -> Value {
    let text = server.get(path).text().replace(&server.base, "");
    let mut v: Value = serde_json::from_str(&text).unwrap();
    if let Some(o) = v.as_object_mut() {
        o.remove("timeStamp");
    }
    v
}

#[test]
fn a_changed_file_is_loaded_from_the_file_not_the_cache() {
    let data = Data::new("changed");
    let (first, _) = data.serve(&[]);
    drop(first);
    // The same length, one digit different: only the content says it changed.
    let mut bytes = std::fs::read(data.file()).unwrap();
    let at = find(&bytes, b"\"id\":\"SYN-0040000\"").unwrap();
    let f = at + find(&bytes[at..], b"\"fatalities\":").unwrap() + b"\"fatalities\":".len();
    let old = bytes[f];
    bytes[f] = if old == b'7' { b'8' } else { b'7' };
    std::fs::write(data.file(), &bytes).unwrap();
    let fatalities = |s: &Server| {
        s.json("/collections/incidents/items/SYN-0040000")["properties"]["fatalities"].clone()
    };

    let (second, from) = data.serve(&[]);
    assert_eq!(from, "file");
    let changed = fatalities(&second);
    assert_eq!(changed.to_string().as_bytes()[0], bytes[f], "{changed}");
    drop(second);
    // The cache written then holds the new content.
    let (third, from) = data.serve(&[]);
    assert_eq!(from, "cache");
    assert_eq!(fatalities(&third), changed);
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[test]
fn a_damaged_or_truncated_cache_is_ignored() {
    let data = Data::new("damaged");
    let (first, _) = data.serve(&[]);
    drop(first);
    let good = std::fs::read(data.cache()).unwrap();

    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x20;
    std::fs::write(data.cache(), &flipped).unwrap();
    let (server, from) = data.serve(&[]);
    assert_eq!(from, "file");
    assert_served_as_the_file_holds_it(&server, &data.file());
    drop(server);

    std::fs::write(data.cache(), &good[..good.len() / 3]).unwrap();
    let (server, from) = data.serve(&[]);
    assert_eq!(from, "file");
    drop(server);

    // `--no-cache` neither reads a good one nor writes one.
    assert_eq!(std::fs::read(data.cache()).unwrap().len(), good.len());
    let (server, from) = data.serve(&["--no-cache"]);
    assert_eq!(from, "file");
    assert_eq!(server.json("/health")["features"]["incidents"], N);
}

/// The temporary files in the cache's directory.
fn temporary_files(data: &Data) -> Vec<String> {
    let dir = data.dir.join(kat::layer::cache::DIR);
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.contains(".tmp"))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_cache_file_left_half_written_by_a_killed_server_is_removed_later() {
    let data = Data::new("stale");
    let dir = data.dir.join(kat::layer::cache::DIR);
    std::fs::create_dir_all(&dir).unwrap();
    // One left an hour ago by a server killed while writing; one being written right now by
    // another server on the same directory, which must be left alone.
    let stale = dir.join("incidents.tmp4000000001");
    let live = dir.join("incidents.tmp4000000002");
    for f in [&stale, &live] {
        std::fs::write(f, vec![0u8; 4096]).unwrap();
    }
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();

    let (server, from) = data.serve(&[]);
    assert_eq!(from, "file");
    drop(server);
    assert_eq!(temporary_files(&data), vec!["incidents.tmp4000000002"]);
}

#[test]
fn a_server_stopped_while_writing_its_cache_leaves_no_temporary_file() {
    let data = Data::new("stopped");
    // By a signal (Ctrl-C) and by its supervisor going away (stdin closed).
    for by_signal in [true, false, true, false] {
        let _ = std::fs::remove_file(data.cache());
        let mut server = Server::spawn_with(&data.dir, &["--no-watch"]);
        // The cache is written from the moment the layer is loaded, a little before the
        // server answers, and takes some 100 ms at this size: stop the server as soon as it
        // answers, while the cache is being written.
        server.wait_until_answering(Duration::from_millis(1));
        let interrupt = |server: &Server| {
            let sent = std::process::Command::new("kill")
                .args(["-INT", &server.pid().to_string()])
                .status()
                .unwrap();
            assert!(sent.success());
        };
        if by_signal {
            interrupt(&server);
        } else {
            server.close_stdin();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        let exit = loop {
            std::thread::sleep(Duration::from_millis(20));
            if let Some(exit) = server.exited() {
                break exit;
            }
            assert!(Instant::now() < deadline, "kat did not stop");
            // The server may answer a moment before it listens for signals: again.
            if by_signal {
                interrupt(&server);
            }
        };
        assert!(exit.success(), "{exit}");
        assert_eq!(temporary_files(&data), Vec::<String>::new());
    }
}
