//! Distances in metres on the WGS84 ellipsoid, and the safe lower bounds that let the R-tree
//! prune by them.
//!
//! ```
//! use kat::index::geodesic::{distance_m, lower_bound_m};
//! use rstar::AABB;
//! // Saint-Marc to Pont-Sondé, about 15 km.
//! let d = distance_m([-72.6986, 19.1081], [-72.6154, 19.1507]);
//! assert!((d - 9_900.0).abs() < 1_000.0);
//! let env = AABB::from_corners([-72.62, 19.14], [-72.60, 19.16]);
//! assert!(lower_bound_m([-72.6986, 19.1081], &env) <= d);
//! ```

use geo::{Coord, Distance, Geodesic, Geometry, Intersects, LineString, Point, Polygon};
use rstar::AABB;

/// The mean Earth radius (IUGG), for the spherical bound.
pub const MEAN_RADIUS_M: f64 = 6_371_008.8;

/// On WGS84 a geodesic can be shorter than the great-circle distance on the mean sphere by up
/// to about 0.56% (north-south near the equator, where the meridian's radius of curvature is
/// 6,335 km). A lower bound scaled by 0.99 stays below every ellipsoidal distance.
const ELLIPSOID_SAFETY: f64 = 0.99;

/// The geodesic distance between two lon/lat points, in metres (Karney's algorithm).
pub fn distance_m(a: [f64; 2], b: [f64; 2]) -> f64 {
    Geodesic.distance(Point::new(a[0], a[1]), Point::new(b[0], b[1]))
}

fn hav(x: f64) -> f64 {
    let s = (x / 2.0).sin();
    s * s
}

/// The great-circle distance on the mean sphere, in metres.
pub fn haversine_m(a: [f64; 2], b: [f64; 2]) -> f64 {
    let (p1, p2) = (a[1].to_radians(), b[1].to_radians());
    let h = hav(p2 - p1) + p1.cos() * p2.cos() * hav((b[0] - a[0]).to_radians());
    2.0 * MEAN_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// A distance that no point inside `env` can be closer than, on the ellipsoid.
///
/// From the haversine formula, `hav θ = hav Δφ + cos φ1 cos φ2 hav Δλ`: both terms grow with
/// their differences, so the smallest latitude gap, the smallest longitude gap and the
/// smallest cosine over the box bound θ from below.
pub fn lower_bound_m(p: [f64; 2], env: &AABB<[f64; 2]>) -> f64 {
    LowerBound::new(p).to_box(env.lower(), env.upper())
}

/// [`lower_bound_m`] from one origin to many boxes, with the origin's cosine computed once.
#[derive(Debug, Clone, Copy)]
pub struct LowerBound {
    p: [f64; 2],
    cos_p: f64,
}

impl LowerBound {
    pub fn new(p: [f64; 2]) -> Self {
        LowerBound {
            p,
            cos_p: p[1].to_radians().cos(),
        }
    }

    /// The bound to the box `lo`..`hi` (a point when they are equal).
    #[inline]
    pub fn to_box(&self, lo: [f64; 2], hi: [f64; 2]) -> f64 {
        self.to_box_within(lo, hi, None)
    }

    /// [`Self::to_box`] for a box inside a larger one whose smallest latitude cosine is
    /// `cos_outer`: still a lower bound (the cosine only shrinks it), one cosine fewer per box.
    #[inline]
    pub fn to_box_within(&self, lo: [f64; 2], hi: [f64; 2], cos_outer: Option<f64>) -> f64 {
        let p = self.p;
        let dlat = if p[1] < lo[1] {
            lo[1] - p[1]
        } else if p[1] > hi[1] {
            p[1] - hi[1]
        } else {
            0.0
        };
        let dlon = if p[0] >= lo[0] && p[0] <= hi[0] {
            0.0
        } else {
            let gap = |x: f64| {
                let d = (p[0] - x).abs();
                // fmod is slow, and longitudes in range are never 360 degrees apart.
                let d = if d >= 360.0 { d % 360.0 } else { d };
                d.min(360.0 - d)
            };
            gap(lo[0]).min(gap(hi[0]))
        };
        let h_lon = if dlon == 0.0 {
            0.0
        } else {
            let cos_box = match cos_outer {
                Some(c) => c,
                None if lo[1] == hi[1] => lo[1].to_radians().cos(),
                None => lo[1].to_radians().cos().min(hi[1].to_radians().cos()),
            };
            self.cos_p * cos_box.max(0.0) * hav(dlon.to_radians())
        };
        let h = hav(dlat.to_radians()) + h_lon;
        2.0 * MEAN_RADIUS_M * h.sqrt().min(1.0).asin() * ELLIPSOID_SAFETY
    }
}

/// The geodesic distance from `p` to a geometry: 0 inside a polygon, else to its boundary.
pub fn distance_to_geometry_m(p: [f64; 2], g: &Geometry<f64>) -> f64 {
    let point = Point::new(p[0], p[1]);
    match g {
        Geometry::Point(q) => distance_m(p, [q.x(), q.y()]),
        Geometry::MultiPoint(mp) => mp
            .iter()
            .map(|q| distance_m(p, [q.x(), q.y()]))
            .fold(f64::INFINITY, f64::min),
        Geometry::Polygon(poly) => {
            if poly.intersects(&point) {
                0.0
            } else {
                to_rings(p, polygon_rings(poly))
            }
        }
        Geometry::MultiPolygon(mp) => {
            if mp.intersects(&point) {
                0.0
            } else {
                to_rings(p, mp.iter().flat_map(polygon_rings))
            }
        }
        Geometry::LineString(ls) => to_rings(p, std::iter::once(ls)),
        Geometry::MultiLineString(mls) => to_rings(p, mls.iter()),
        other => {
            use geo::BoundingRect;
            match other.bounding_rect() {
                Some(r) if other.intersects(&point) => {
                    let _ = r;
                    0.0
                }
                Some(r) => distance_m(p, [r.center().x, r.center().y]),
                None => f64::INFINITY,
            }
        }
    }
}

fn polygon_rings(poly: &Polygon<f64>) -> impl Iterator<Item = &LineString<f64>> {
    std::iter::once(poly.exterior()).chain(poly.interiors())
}

/// Finds the closest point of each segment in a local equirectangular frame around `p` (exact
/// enough to choose the segment), then measures the few best candidates on the ellipsoid.
fn to_rings<'a>(p: [f64; 2], rings: impl Iterator<Item = &'a LineString<f64>>) -> f64 {
    let kx = p[1].to_radians().cos() * 111_320.0;
    let ky = 110_574.0;
    let mut candidates: Vec<(f64, Coord<f64>)> = Vec::new();
    let mut best = f64::INFINITY;
    for ring in rings {
        for line in ring.lines() {
            let (ax, ay) = ((line.start.x - p[0]) * kx, (line.start.y - p[1]) * ky);
            let (bx, by) = ((line.end.x - p[0]) * kx, (line.end.y - p[1]) * ky);
            let (dx, dy) = (bx - ax, by - ay);
            let len2 = dx * dx + dy * dy;
            let t = if len2 > 0.0 {
                (-(ax * dx + ay * dy) / len2).clamp(0.0, 1.0)
            } else {
                0.0
            };
            let (qx, qy) = (ax + t * dx, ay + t * dy);
            let d = (qx * qx + qy * qy).sqrt();
            if d <= best * 1.01 + 5.0 {
                best = best.min(d);
                let q = Coord {
                    x: line.start.x + t * (line.end.x - line.start.x),
                    y: line.start.y + t * (line.end.y - line.start.y),
                };
                candidates.push((d, q));
            }
        }
    }
    candidates
        .into_iter()
        .filter(|(d, _)| *d <= best * 1.01 + 5.0)
        .map(|(_, q)| distance_m(p, [q.x, q.y]))
        .fold(f64::INFINITY, f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_bound_never_exceeds_the_geodesic() {
        let mut seed = 7u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 11) as f64 / (1u64 << 53) as f64
        };
        for _ in 0..5000 {
            let p = [-75.0 + rnd() * 4.0, 17.5 + rnd() * 3.0];
            let a = [-75.0 + rnd() * 4.0, 17.5 + rnd() * 3.0];
            let b = [a[0] + rnd() * 0.5, a[1] + rnd() * 0.5];
            let env = AABB::from_corners(a, b);
            let q = [a[0] + rnd() * (b[0] - a[0]), a[1] + rnd() * (b[1] - a[1])];
            assert!(lower_bound_m(p, &env) <= distance_m(p, q) + 1e-6);
        }
    }

    #[test]
    fn inside_a_polygon_is_zero_and_outside_is_to_the_edge() {
        let square: Polygon<f64> = Polygon::new(
            LineString::from(vec![
                (-72.0, 18.0),
                (-71.9, 18.0),
                (-71.9, 18.1),
                (-72.0, 18.1),
                (-72.0, 18.0),
            ]),
            vec![],
        );
        let g = Geometry::Polygon(square);
        assert_eq!(distance_to_geometry_m([-71.95, 18.05], &g), 0.0);
        // Due east of the eastern edge at the same latitude.
        let d = distance_to_geometry_m([-71.8, 18.05], &g);
        assert!((d - distance_m([-71.8, 18.05], [-71.9, 18.05])).abs() < 1.0);
    }
}
