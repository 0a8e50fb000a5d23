//! Index queries at 10k, 100k and 1M synthetic incidents: bbox small and large, k-nearest,
//! within-radius, count, and page encoding.
//!
//! cargo bench --bench index

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use kat::catalog::config::Config;
use kat::index::Rect;
use kat::layer::load_layer;
use kat::query::{run, ItemsQuery, Near};
use std::hint::black_box;
use std::path::PathBuf;

fn layer_of(n: usize) -> kat::layer::Layer {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target").join(format!("bench-data-{n}"));
    let file = dir.join("incidents.geojson");
    if !file.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let gaz = kat::geocode::Gazetteer::load(&root.join("data")).unwrap();
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        kat::synth::write_incidents(&gaz, n, 1, &mut out).unwrap();
    }
    let config = Config::load(&root.join("data/kat.toml")).unwrap();
    load_layer(&dir, config.collection("incidents").unwrap()).unwrap()
}

fn bbox(cx: f64, cy: f64, w: f64) -> Vec<Rect> {
    vec![Rect::new(
        [cx - w / 2.0, cy - w / 2.0],
        [cx + w / 2.0, cy + w / 2.0],
    )]
}

fn queries(c: &mut Criterion) {
    for n in [10_000, 100_000, 1_000_000] {
        let layer = layer_of(n);
        let mut g = c.benchmark_group(format!("incidents_{n}"));
        g.sample_size(30);
        let small = ItemsQuery {
            bbox: bbox(-72.34, 18.54, 0.05),
            limit: 100,
            ..Default::default()
        };
        let large = ItemsQuery {
            bbox: bbox(-72.8, 18.9, 2.0),
            limit: 100,
            ..Default::default()
        };
        let country = ItemsQuery {
            bbox: bbox(-73.05, 19.05, 3.0),
            limit: 100,
            ..Default::default()
        };
        let count = ItemsQuery {
            bbox: bbox(-72.8, 18.9, 1.5),
            limit: 1,
            ..Default::default()
        };
        let knn = ItemsQuery {
            near: Some(Near {
                origin: [-72.6, 19.1],
                within_m: None,
            }),
            limit: 10,
            ..Default::default()
        };
        let within = ItemsQuery {
            near: Some(Near {
                origin: [-72.6, 19.1],
                within_m: Some(5_000.0),
            }),
            limit: 100,
            ..Default::default()
        };
        for (name, q) in [
            ("bbox_small", &small),
            ("bbox_large", &large),
            ("bbox_country", &country),
            ("count", &count),
            ("knn_10", &knn),
            ("within_5km", &within),
        ] {
            g.bench_with_input(BenchmarkId::new(name, n), q, |b, q| {
                b.iter(|| black_box(run(&layer, q)))
            });
        }
        let page = ItemsQuery {
            bbox: bbox(-72.5, 18.6, 0.5),
            limit: 1000,
            ..Default::default()
        };
        g.bench_function(BenchmarkId::new("page_1000_encode", n), |b| {
            b.iter(|| {
                let r = run(&layer, &page);
                black_box(kat::api::encode::feature_collection(
                    &layer,
                    &r,
                    &[],
                    "2026-01-01T00:00:00Z",
                ))
            })
        });
        g.finish();
    }
}

criterion_group!(benches, queries);
criterion_main!(benches);
