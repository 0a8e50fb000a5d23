//! Loads one layer of a data directory several times in one process and prints, for each
//! load, the time it took and the CPU time it used (user and system): a steadier measure of
//! a load's work than the time to a first `/health` on a busy machine.
//!
//! ```text
//! cargo run --release --example load -- bench/out/data incidents 5
//! KAT_LOG=kat=debug cargo run --release --example load -- bench/out/data incidents 1
//! ```

use kat::catalog::config::Config;
use kat::layer::load_layer;
use std::time::Instant;

// The allocator `kat serve` uses: a load's time depends on it.
#[global_allocator]
static ALLOC: kat::alloc::HugePages = kat::alloc::HugePages;

fn cpu_seconds() -> (f64, f64) {
    // SAFETY: getrusage only writes the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let s = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (s(u.ru_utime), s(u.ru_stime))
}

fn main() {
    // `KAT_LOG=kat=debug` prints each load's phases.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KAT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).map_or("bench/out/data", String::as_str));
    let id = args.get(2).map_or("incidents", String::as_str);
    let times: usize = args.get(3).and_then(|n| n.parse().ok()).unwrap_or(5);
    let config = match Config::load(&Config::locate(&dir, None)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let Some(spec) = config.collection(id) else {
        eprintln!("no collection {id}");
        std::process::exit(2);
    };
    let mut rows = Vec::new();
    for _ in 0..times {
        let (u0, s0) = cpu_seconds();
        let started = Instant::now();
        let layer = match load_layer(&dir, spec) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(1);
            }
        };
        let wall = started.elapsed().as_secs_f64();
        let (u1, s1) = cpu_seconds();
        drop(layer);
        println!(
            "load {wall:.3} s  user {:.3} s  system {:.3} s",
            u1 - u0,
            s1 - s0
        );
        rows.push((wall, u1 - u0 + s1 - s0));
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "median of {times}: load {:.3} s, CPU {:.3} s",
        median(rows.iter().map(|r| r.0).collect()),
        median(rows.iter().map(|r| r.1).collect())
    );
}
