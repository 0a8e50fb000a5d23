//! Writes synthetic incidents (marked synthetic in every record) for benchmarks.
//!
//! cargo run --release --example synth -- --count 1000000 --seed 1 --out bench/out/data/incidents.geojson

use clap::Parser;
use std::io::BufWriter;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Parser)]
struct Args {
    /// How many incidents.
    #[arg(long, default_value_t = 1_000_000)]
    count: usize,
    /// The generator's seed: the same seed gives the same file.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The data directory whose boundaries place the points.
    #[arg(long, default_value = "data")]
    data: PathBuf,
    /// The GeoJSON file to write.
    #[arg(long)]
    out: PathBuf,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let started = Instant::now();
    let gaz = kat::geocode::Gazetteer::load(&args.data)?;
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&args.out)?);
    kat::synth::write_incidents(&gaz, args.count, args.seed, &mut out)?;
    drop(out);
    eprintln!(
        "wrote {} synthetic incidents to {} in {:.1} s",
        args.count,
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
