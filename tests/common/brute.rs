//! Brute-force geometry for checking the server: written from first principles, sharing no
//! code with Kat.
#![allow(dead_code)]

use serde_json::Value;

/// A layer as the file on disk holds it.
pub struct FileFeature {
    pub id: String,
    pub geometry: Value,
    pub properties: Value,
}

pub fn read_layer(path: &std::path::Path) -> Vec<FileFeature> {
    let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    v["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| FileFeature {
            id: match &f["id"] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            },
            geometry: f["geometry"].clone(),
            properties: f["properties"].clone(),
        })
        .collect()
}

/// Polygons as lists of rings of [lon, lat].
pub fn polygons(g: &Value) -> Vec<Vec<Vec<[f64; 2]>>> {
    let ring = |r: &Value| -> Vec<[f64; 2]> {
        r.as_array()
            .unwrap()
            .iter()
            .map(|c| [c[0].as_f64().unwrap(), c[1].as_f64().unwrap()])
            .collect()
    };
    match g["type"].as_str() {
        Some("Polygon") => vec![g["coordinates"]
            .as_array()
            .unwrap()
            .iter()
            .map(ring)
            .collect()],
        Some("MultiPolygon") => g["coordinates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_array().unwrap().iter().map(ring).collect())
            .collect(),
        _ => vec![],
    }
}

pub fn point(g: &Value) -> Option<[f64; 2]> {
    (g["type"] == "Point").then(|| {
        [
            g["coordinates"][0].as_f64().unwrap(),
            g["coordinates"][1].as_f64().unwrap(),
        ]
    })
}

/// Even-odd ray casting over every ring of every polygon.
pub fn in_polygons(p: [f64; 2], polys: &[Vec<Vec<[f64; 2]>>]) -> bool {
    polys.iter().any(|rings| {
        let mut inside = false;
        for ring in rings {
            let n = ring.len();
            for i in 0..n {
                let (a, b) = (ring[i], ring[(i + 1) % n]);
                if (a[1] > p[1]) != (b[1] > p[1]) {
                    let x = a[0] + (p[1] - a[1]) / (b[1] - a[1]) * (b[0] - a[0]);
                    if p[0] < x {
                        inside = !inside;
                    }
                }
            }
        }
        inside
    })
}

fn seg_cross(a: [f64; 2], b: [f64; 2], c: [f64; 2], d: [f64; 2]) -> bool {
    let o = |p: [f64; 2], q: [f64; 2], r: [f64; 2]| {
        (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])
    };
    let on = |p: [f64; 2], q: [f64; 2], r: [f64; 2]| {
        r[0] >= p[0].min(q[0])
            && r[0] <= p[0].max(q[0])
            && r[1] >= p[1].min(q[1])
            && r[1] <= p[1].max(q[1])
    };
    let (d1, d2, d3, d4) = (o(c, d, a), o(c, d, b), o(a, b, c), o(a, b, d));
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
    {
        return true;
    }
    (d1 == 0.0 && on(c, d, a))
        || (d2 == 0.0 && on(c, d, b))
        || (d3 == 0.0 && on(a, b, c))
        || (d4 == 0.0 && on(a, b, d))
}

/// Whether a geometry intersects the box [x0, y0, x1, y1], edges included.
pub fn intersects_box(g: &Value, b: [f64; 4]) -> bool {
    let inside = |p: [f64; 2]| p[0] >= b[0] && p[0] <= b[2] && p[1] >= b[1] && p[1] <= b[3];
    if let Some(p) = point(g) {
        return inside(p);
    }
    let polys = polygons(g);
    if polys.is_empty() {
        return false;
    }
    let corners = [[b[0], b[1]], [b[2], b[1]], [b[2], b[3]], [b[0], b[3]]];
    for rings in &polys {
        for ring in rings {
            if ring.iter().any(|p| inside(*p)) {
                return true;
            }
            for w in ring.windows(2) {
                for i in 0..4 {
                    if seg_cross(w[0], w[1], corners[i], corners[(i + 1) % 4]) {
                        return true;
                    }
                }
            }
        }
    }
    corners.iter().any(|c| in_polygons(*c, &polys))
}

pub const R: f64 = 6_371_008.8;

fn v3(p: [f64; 2]) -> [f64; 3] {
    let (lon, lat) = (p[0].to_radians(), p[1].to_radians());
    [lat.cos() * lon.cos(), lat.cos() * lon.sin(), lat.sin()]
}
fn dot(a: [f64; 3], b: [f64; 3]) -> f64 {
    a[0] * b[0] + a[1] * b[1] + a[2] * b[2]
}
fn cross(a: [f64; 3], b: [f64; 3]) -> [f64; 3] {
    [
        a[1] * b[2] - a[2] * b[1],
        a[2] * b[0] - a[0] * b[2],
        a[0] * b[1] - a[1] * b[0],
    ]
}
fn angle(a: [f64; 3], b: [f64; 3]) -> f64 {
    let c = cross(a, b);
    dot(c, c).sqrt().atan2(dot(a, b))
}

/// Great-circle distance on the mean sphere (haversine), metres.
pub fn haversine(a: [f64; 2], b: [f64; 2]) -> f64 {
    R * angle(v3(a), v3(b))
}

/// Spherical distance from p to the great-circle arc a-b, metres.
pub fn to_arc(p: [f64; 2], a: [f64; 2], b: [f64; 2]) -> f64 {
    let (pv, av, bv) = (v3(p), v3(a), v3(b));
    let n = cross(av, bv);
    let nn = dot(n, n).sqrt();
    if nn < 1e-15 {
        return haversine(p, a);
    }
    let n = [n[0] / nn, n[1] / nn, n[2] / nn];
    // The foot of p on the great circle, and whether it lies between a and b.
    let d = dot(pv, n);
    let f = [pv[0] - d * n[0], pv[1] - d * n[1], pv[2] - d * n[2]];
    let fl = dot(f, f).sqrt();
    if fl > 1e-15 {
        let f = [f[0] / fl, f[1] / fl, f[2] / fl];
        if (angle(av, f) + angle(f, bv) - angle(av, bv)).abs() < 1e-12 {
            return R * d.abs().asin();
        }
    }
    haversine(p, a).min(haversine(p, b))
}

/// Spherical distance from p to a geometry: 0 inside a polygon, else to its nearest edge.
pub fn distance(p: [f64; 2], g: &Value) -> Option<f64> {
    if let Some(q) = point(g) {
        return Some(haversine(p, q));
    }
    let polys = polygons(g);
    if polys.is_empty() {
        return None;
    }
    if in_polygons(p, &polys) {
        return Some(0.0);
    }
    let mut best = f64::INFINITY;
    for rings in &polys {
        for ring in rings {
            for w in ring.windows(2) {
                best = best.min(to_arc(p, w[0], w[1]));
            }
        }
    }
    Some(best)
}

/// A small deterministic generator (SplitMix64).
pub struct Rng(pub u64);
impl Rng {
    pub fn next_f64(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    pub fn range(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.next_f64()
    }
}
