//! Faults on a shared database: a server killed mid-burst, PostgreSQL restarting under load,
//! and a server that starts while others write. Each is checked against the database itself.

mod common;

use common::pg::Cluster;
use common::{data_dir, Server};
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A synthetic incident (marked so in its notes).
fn synthetic(n: usize) -> String {
    json!({
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [-72.33 + (n % 1000) as f64 * 1e-4, 18.54]},
        "properties": {
            "event_date": "2026-11-30",
            "event_type": "armed_clash",
            "notes": format!("synthetic test record {n}"),
        }
    })
    .to_string()
}

/// POSTs one incident; its id when the server answered 201, and the status otherwise.
fn create(s: &Server, token: &str, n: usize) -> Result<String, u16> {
    let auth = format!("Bearer {token}");
    match s.send(
        "POST",
        "/collections/incidents/items",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/geo+json"),
        ],
        synthetic(n).as_bytes(),
    ) {
        Ok(r) if r.status == 201 => Ok(r.json()["id"].as_str().unwrap().to_string()),
        Ok(r) => Err(r.status),
        Err(_) => Err(0),
    }
}

fn ids_in_db(pg: &Cluster) -> HashSet<String> {
    pg.psql("SELECT id FROM kat.incidents")
        .lines()
        .map(str::to_string)
        .collect()
}

fn ids_served(s: &Server) -> HashSet<String> {
    let all: Value = s.json("/collections/incidents/download");
    all["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_server_killed_with_sigkill_mid_burst_has_lost_no_acknowledged_write() {
    let Some(pg) = Cluster::start() else { return };
    pg.load(&data_dir());
    let token = pg.token("editor", "Burst");
    let a = Server::start_with(&data_dir(), &["--database", &pg.url]);
    let acknowledged = Mutex::new(Vec::new());
    let count = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for w in 0..8 {
            let (a, token, acknowledged, count) = (&a, &token, &acknowledged, &count);
            scope.spawn(move || {
                for k in 0.. {
                    match create(a, token, w * 10_000 + k) {
                        Ok(id) => {
                            acknowledged.lock().unwrap().push(id);
                            count.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(_) => return,
                    }
                }
            });
        }
        while count.load(Ordering::SeqCst) < 150 {
            std::thread::sleep(Duration::from_millis(2));
        }
        // SAFETY: kill sends a signal to a child process this test started.
        unsafe { libc::kill(a.pid() as i32, libc::SIGKILL) };
    });
    let acknowledged = acknowledged.into_inner().unwrap();
    let unique: HashSet<&String> = acknowledged.iter().collect();
    assert_eq!(unique.len(), acknowledged.len(), "no id acknowledged twice");
    let stored = ids_in_db(&pg);
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged writes lost: {lost:?}",
        lost.len()
    );
    eprintln!(
        "{} writes acknowledged before the kill; all are in the database",
        acknowledged.len()
    );
    // Every change in the table has its version in the history.
    assert_eq!(
        pg.psql("SELECT count(*) FROM kat.incidents i WHERE NOT EXISTS (SELECT 1 FROM kat.history h WHERE h.collection = 'incidents' AND h.feature_id = i.id AND h.revision = i.revision)"),
        "0"
    );
    // A new server on the same database serves every one of them.
    let b = Server::start_with(&data_dir(), &["--database", &pg.url]);
    assert_eq!(ids_served(&b), stored);
}

#[test]
fn reads_go_on_while_postgresql_restarts_and_writes_recover_without_restarting_kat() {
    let Some(pg) = Cluster::start() else { return };
    pg.load(&data_dir());
    let token = pg.token("editor", "Restart");
    let a = Server::start_with(&data_dir(), &["--database", &pg.url]);
    let b = Server::start_with(&data_dir(), &["--database", &pg.url]);
    let stop = AtomicBool::new(false);
    let (reads, failed) = (AtomicUsize::new(0), AtomicUsize::new(0));
    std::thread::scope(|scope| {
        for s in [&a, &b, &a, &b] {
            let (stop, reads, failed) = (&stop, &reads, &failed);
            scope.spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let r =
                        s.get("/collections/incidents/items?limit=10&bbox=-72.5,18.4,-72.2,18.7");
                    reads.fetch_add(1, Ordering::SeqCst);
                    if r.status != 200 {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                }
            });
        }
        std::thread::sleep(Duration::from_millis(300));
        pg.stop_server();
        // While it is down: writes answer 503 problem details; reads go on.
        let auth = format!("Bearer {token}");
        let r = a
            .send(
                "POST",
                "/collections/incidents/items",
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/geo+json"),
                ],
                synthetic(1).as_bytes(),
            )
            .unwrap();
        assert_eq!(r.status, 503, "{}", r.text());
        assert_eq!(r.json()["status"], 503);
        std::thread::sleep(Duration::from_millis(1500));
        pg.start_server();
        let back = Instant::now();
        let id = loop {
            match create(&a, &token, 2) {
                Ok(id) => break id,
                Err(status) => {
                    assert!(
                        status == 503,
                        "a write while reconnecting answers 503, not {status}"
                    );
                    assert!(
                        back.elapsed() < Duration::from_secs(5),
                        "writes did not recover within 5 s"
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        };
        let written = back.elapsed();
        let path = format!("/collections/incidents/items/{id}");
        while b.get(&path).status != 200 {
            assert!(
                back.elapsed() < Duration::from_secs(5),
                "the other server did not follow within 5 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("after PostgreSQL's return: a write in {written:?}, followed by the other server in {:?}", back.elapsed());
        stop.store(true, Ordering::SeqCst);
    });
    assert!(reads.load(Ordering::SeqCst) > 100, "the readers ran");
    assert_eq!(
        failed.load(Ordering::SeqCst),
        0,
        "reads failed while PostgreSQL restarted"
    );
    assert_eq!(ids_served(&a), ids_in_db(&pg));
}

#[test]
fn a_server_that_starts_while_others_write_converges_to_the_same_data() {
    let Some(pg) = Cluster::start() else { return };
    pg.load(&data_dir());
    let token = pg.token("editor", "Writers");
    let a = Server::start_with(&data_dir(), &["--database", &pg.url]);
    let stop = AtomicBool::new(false);
    let late = std::thread::scope(|scope| {
        for w in 0..4 {
            let (a, token, stop) = (&a, &token, &stop);
            scope.spawn(move || {
                let mut k = 0;
                while !stop.load(Ordering::SeqCst) {
                    create(a, token, w * 10_000 + k).expect("a write while a server starts");
                    k += 1;
                }
            });
        }
        std::thread::sleep(Duration::from_millis(300));
        let late = Server::start_with(&data_dir(), &["--database", &pg.url]);
        std::thread::sleep(Duration::from_millis(700));
        stop.store(true, Ordering::SeqCst);
        late
    });
    let stored = ids_in_db(&pg);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let served = ids_served(&late);
        if served == stored {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the late server serves {} features, the database holds {}",
            served.len(),
            stored.len()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(ids_served(&a), stored);
}
