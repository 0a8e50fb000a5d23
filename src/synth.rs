//! Synthetic incidents for benchmarks and tests: uniformly on Haiti's land, in the incidents
//! layer's schema, every one marked `"synthetic": true`. Never real events.
//!
//! The output is deterministic for a seed: points come in blocks of [`BLOCK`], each block from
//! its own generator, so the blocks can be made in parallel and still come out the same.
//!
//! ```no_run
//! use kat::geocode::Gazetteer;
//! let gaz = Gazetteer::load(std::path::Path::new("data")).unwrap();
//! let mut out = Vec::new();
//! kat::synth::write_incidents(&gaz, 1000, 1, &mut out).unwrap();
//! ```

use crate::geocode::Gazetteer;
use rayon::prelude::*;
use std::io::Write;

/// Incidents per independently seeded block.
pub const BLOCK: usize = 10_000;

const EVENT_TYPES: [&str; 12] = [
    "armed_clash",
    "attack_on_civilians",
    "massacre",
    "kidnapping",
    "police_operation",
    "prison_break",
    "arson_looting",
    "attack_on_infrastructure",
    "lynching_vigilante",
    "sexual_violence",
    "displacement",
    "other",
];
const ACTORS: [&str; 10] = [
    "Synthetic group A",
    "Synthetic group B",
    "Synthetic group C",
    "Synthetic coalition D",
    "Synthetic self-defence brigade",
    "PNH (synthetic)",
    "FAD'H (synthetic)",
    "MSS (synthetic)",
    "Unidentified gunmen (synthetic)",
    "Civilians (synthetic)",
];
/// Haiti's bounding box, from the COD-AB boundaries.
const BBOX: [f64; 4] = [-74.4804, 18.02214, -71.62215, 20.08923];
/// 2023-01-01 as days since the epoch, and the span of dates drawn (three years).
const FIRST_DAY: i64 = 19_358;
const DAYS: f64 = 1_095.0;

/// SplitMix64: small, fast and good enough to spread points and pick properties.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.unit() * n as f64) as usize % n
    }
}

fn date(day: i64) -> String {
    let d = chrono::DateTime::from_timestamp(day * 86_400, 0).unwrap_or_default();
    d.format("%Y-%m-%d").to_string()
}

fn block(gaz: &Gazetteer, seed: u64, b: usize, first_id: usize, n: usize) -> Vec<u8> {
    let mut rng = Rng(seed ^ (b as u64).wrapping_mul(0xA24B_AED4_963E_E407));
    let mut out = Vec::with_capacity(n * 700);
    let mut made = 0;
    while made < n {
        let lon = BBOX[0] + rng.unit() * (BBOX[2] - BBOX[0]);
        let lat = BBOX[1] + rng.unit() * (BBOX[3] - BBOX[1]);
        let Some(at) = gaz.reverse(lon, lat) else {
            continue;
        };
        let id = first_id + made;
        let kind = EVENT_TYPES[rng.below(EVENT_TYPES.len())];
        let a1 = ACTORS[rng.below(ACTORS.len())];
        let a2 = ACTORS[rng.below(ACTORS.len())];
        let fatalities = if rng.unit() < 0.3 {
            None
        } else {
            Some(rng.below(12))
        };
        let day = date(FIRST_DAY + (rng.unit() * DAYS) as i64);
        let feature = serde_json::json!({
            "type": "Feature",
            "id": format!("SYN-{id:07}"),
            "geometry": {"type": "Point", "coordinates": [crate::geocode::round6(lon), crate::geocode::round6(lat)]},
            "properties": {
                "event_date": day,
                "event_type": kind,
                "actors": [a1, a2],
                "fatalities": fatalities,
                "injured": rng.below(6),
                // One in ten records a kidnapping count, without drawing from the generator, so
                // that the other values stay as they were.
                "kidnapped": (id % 10 == 3).then_some(id % 4),
                "location_as_reported": "synthetic",
                "section": at.section,
                "commune": at.commune,
                "department": at.department,
                "section_pcode": at.section_pcode,
                "commune_pcode": at.commune_pcode,
                "department_pcode": at.department_pcode,
                "summary": "SYNTHETIC: not a real event",
                "source_url": null,
                "source_name": "synthetic",
                "corroborating_urls": [],
                "confidence": "synthetic",
                "notes": null,
                "geo_precision": 1,
                "geocode_status": "synthetic",
                "geocode_basis": null,
                "synthetic": true
            }
        });
        if made > 0 || b > 0 {
            out.extend_from_slice(b",\n");
        }
        serde_json::to_writer(&mut out, &feature).expect("writing to memory");
        made += 1;
    }
    out
}

/// Writes `n` synthetic incidents as a GeoJSON FeatureCollection, one feature per line.
pub fn write_incidents(
    gaz: &Gazetteer,
    n: usize,
    seed: u64,
    out: &mut impl Write,
) -> std::io::Result<()> {
    out.write_all(
        b"{\"type\":\"FeatureCollection\",\"name\":\"SYNTHETIC incidents for benchmarks: not real events\",\"synthetic\":true,\"features\":[\n",
    )?;
    let blocks = n.div_ceil(BLOCK);
    // In groups of blocks, so that memory stays bounded however large n is.
    for group in (0..blocks).collect::<Vec<_>>().chunks(64) {
        let parts: Vec<Vec<u8>> = group
            .par_iter()
            .map(|&b| block(gaz, seed, b, b * BLOCK + 1, BLOCK.min(n - b * BLOCK)))
            .collect();
        for p in parts {
            out.write_all(&p)?;
        }
    }
    out.write_all(b"\n]}\n")
}
