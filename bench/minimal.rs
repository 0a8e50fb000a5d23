//! A minimal reference server for the load benchmark: actix-web and rstar with pre-serialized
//! features, counting matches by walking the tree. Only `bbox` and `limit` on
//! `/collections/incidents/items`; no validation, no links, no paging. It measures what the
//! bare minimum costs on the same machine and data, for comparison with Kat.
//!
//! cargo run --release --example minimal -- FILE ADDR

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use rstar::{primitives::GeomWithData, RTree, AABB};
use serde_json::value::RawValue;

type Pt = GeomWithData<[f64; 2], u32>;

struct Data {
    tree: RTree<Pt>,
    features: Vec<Box<[u8]>>,
}

#[derive(serde::Deserialize)]
struct Fc<'a> {
    #[serde(borrow)]
    features: Vec<&'a RawValue>,
}

#[derive(serde::Deserialize)]
struct F {
    geometry: G,
}

#[derive(serde::Deserialize)]
struct G {
    coordinates: [f64; 2],
}

async fn items(req: HttpRequest, data: web::Data<Data>) -> HttpResponse {
    let (mut bbox, mut limit) = ([-180.0, -90.0, 180.0, 90.0], 10usize);
    for (k, v) in form_urlencoded::parse(req.query_string().as_bytes()) {
        match &*k {
            "bbox" => {
                let n: Vec<f64> = v.split(',').filter_map(|x| x.parse().ok()).collect();
                if n.len() == 4 {
                    bbox = [n[0], n[1], n[2], n[3]];
                }
            }
            "limit" => limit = v.parse().unwrap_or(10),
            _ => {}
        }
    }
    let env = AABB::from_corners([bbox[0], bbox[1]], [bbox[2], bbox[3]]);
    let mut matched = 0usize;
    let mut out = Vec::with_capacity(256 + limit.min(10_000) * 700);
    out.extend_from_slice(b"{\"type\":\"FeatureCollection\",\"features\":[");
    for p in data.tree.locate_in_envelope_intersecting(&env) {
        if matched < limit {
            if matched > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&data.features[p.data as usize]);
        }
        matched += 1;
    }
    let tail = format!(
        "],\"numberMatched\":{matched},\"numberReturned\":{}}}",
        matched.min(limit)
    );
    out.extend_from_slice(tail.as_bytes());
    HttpResponse::Ok()
        .content_type("application/geo+json")
        .body(out)
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let file = args.next().expect("FILE");
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18082".into());
    let started = std::time::Instant::now();
    let text = std::fs::read_to_string(&file)?;
    let fc: Fc = serde_json::from_str(&text).expect("a FeatureCollection");
    let mut points = Vec::with_capacity(fc.features.len());
    let mut features = Vec::with_capacity(fc.features.len());
    for (i, raw) in fc.features.iter().enumerate() {
        let f: F = serde_json::from_str(raw.get()).expect("a Point feature");
        points.push(Pt::new(f.geometry.coordinates, i as u32));
        features.push(raw.get().as_bytes().to_vec().into_boxed_slice());
    }
    drop(fc);
    drop(text);
    let data = web::Data::new(Data {
        tree: RTree::bulk_load(points),
        features,
    });
    eprintln!("minimal: loaded in {} ms", started.elapsed().as_millis());
    actix_web::rt::System::new().block_on(
        HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/collections/incidents/items", web::get().to(items))
        })
        .bind(addr)?
        .run(),
    )
}
