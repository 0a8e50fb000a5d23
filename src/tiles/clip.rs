//! Rings in tile coordinates: clipped to the tile and its buffer, simplified to the zoom's
//! resolution, rounded to the integer grid and wound as MVT asks.
//!
//! Clipping is Sutherland–Hodgman, one ring at a time against the four sides of the buffered
//! square: linear in the ring's vertices and exact for a convex window, as every tile is. A
//! ring that leaves and re-enters the window gets edges along the window's side; they lie in
//! the buffer, outside the drawn tile, so a renderer never shows them. A boolean overlay
//! would build a full planar graph of the ring and the square to say the same.
//!
//! ```
//! use kat::tiles::clip::{clip_ring, Window};
//! let square = vec![[-100.0, -100.0], [5000.0, -100.0], [5000.0, 5000.0], [-100.0, 5000.0]];
//! let w = Window { lo: -64.0, hi: 4160.0 };
//! let clipped = clip_ring(&square, &w);
//! assert_eq!(clipped.len(), 4);
//! assert!(clipped.iter().all(|p| p[0] >= -64.0 && p[1] <= 4160.0));
//! ```

use geo::{Coord, LineString, Simplify};

/// The square `[lo, hi]²` that shapes are clipped to, in tile coordinates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Window {
    pub lo: f64,
    pub hi: f64,
}

/// One side of the window: which axis, and whether the inside is above `at`.
#[derive(Clone, Copy)]
struct Side {
    axis: usize,
    at: f64,
    above: bool,
}

impl Side {
    #[inline]
    fn inside(&self, p: &[f64; 2]) -> bool {
        if self.above {
            p[self.axis] >= self.at
        } else {
            p[self.axis] <= self.at
        }
    }

    /// Where the segment `a`–`b` crosses the side (one inside, one outside).
    #[inline]
    fn cross(&self, a: &[f64; 2], b: &[f64; 2]) -> [f64; 2] {
        let (i, j) = (self.axis, 1 - self.axis);
        let t = (self.at - a[i]) / (b[i] - a[i]);
        let mut p = [0.0; 2];
        p[i] = self.at;
        p[j] = a[j] + t * (b[j] - a[j]);
        p
    }
}

/// The ring (open: its last vertex is not its first again) clipped to the window; empty when
/// nothing of it is inside.
pub fn clip_ring(ring: &[[f64; 2]], w: &Window) -> Vec<[f64; 2]> {
    let sides = [
        Side {
            axis: 0,
            at: w.lo,
            above: true,
        },
        Side {
            axis: 0,
            at: w.hi,
            above: false,
        },
        Side {
            axis: 1,
            at: w.lo,
            above: true,
        },
        Side {
            axis: 1,
            at: w.hi,
            above: false,
        },
    ];
    let mut input: Vec<[f64; 2]> = ring.to_vec();
    let mut output = Vec::with_capacity(ring.len() + 8);
    for side in sides {
        output.clear();
        let Some(mut prev) = input.last().copied() else {
            return Vec::new();
        };
        for p in &input {
            match (side.inside(&prev), side.inside(p)) {
                (true, true) => output.push(*p),
                (true, false) => output.push(side.cross(&prev, p)),
                (false, true) => {
                    output.push(side.cross(&prev, p));
                    output.push(*p);
                }
                (false, false) => {}
            }
            prev = *p;
        }
        std::mem::swap(&mut input, &mut output);
    }
    input
}

/// Whether every vertex of the ring lies inside the window (no clipping needed).
pub fn inside(ring: &[[f64; 2]], w: &Window) -> bool {
    ring.iter()
        .all(|p| w.lo <= p[0] && p[0] <= w.hi && w.lo <= p[1] && p[1] <= w.hi)
}

/// The ring simplified (Ramer–Douglas–Peucker, `epsilon` in tile units), rounded to the
/// integer grid, without repeated vertices, and wound clockwise on screen (positive area by
/// the surveyor's formula, y down) for an outer ring, anticlockwise for a hole, as the MVT
/// specification says. None when less than a triangle of area is left.
pub fn finish_ring(ring: &[[f64; 2]], epsilon: f64, outer: bool) -> Option<Vec<[i32; 2]>> {
    if ring.len() < 3 {
        return None;
    }
    let mut closed: Vec<Coord<f64>> = ring.iter().map(|p| Coord { x: p[0], y: p[1] }).collect();
    closed.push(closed[0]);
    let simplified = LineString::new(closed).simplify(epsilon);
    let mut out: Vec<[i32; 2]> = Vec::with_capacity(simplified.0.len());
    for c in &simplified.0[..simplified.0.len().saturating_sub(1)] {
        let p = [c.x.round() as i32, c.y.round() as i32];
        if out.last() != Some(&p) {
            out.push(p);
        }
    }
    while out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    if out.len() < 3 {
        return None;
    }
    let twice_area: i64 = (0..out.len())
        .map(|i| {
            let (a, b) = (out[i], out[(i + 1) % out.len()]);
            i64::from(a[0]) * i64::from(b[1]) - i64::from(b[0]) * i64::from(a[1])
        })
        .sum();
    if twice_area == 0 {
        return None;
    }
    if (twice_area > 0) != outer {
        out.reverse();
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ring_crossing_a_corner_is_cut_there() {
        let w = Window { lo: 0.0, hi: 10.0 };
        let tri = [[5.0, 5.0], [15.0, 5.0], [5.0, 15.0]];
        let c = clip_ring(&tri, &w);
        assert!(c
            .iter()
            .all(|p| (0.0..=10.0).contains(&p[0]) && (0.0..=10.0).contains(&p[1])));
        assert!(c.contains(&[10.0, 5.0]) && c.contains(&[5.0, 10.0]));
        assert!(clip_ring(&[[20.0, 20.0], [30.0, 20.0], [30.0, 30.0]], &w).is_empty());
    }

    #[test]
    fn outer_rings_wind_to_a_positive_area_and_holes_to_a_negative_one() {
        let anticlockwise_on_screen = [[0.0, 0.0], [0.0, 100.0], [100.0, 100.0], [100.0, 0.0]];
        let outer = finish_ring(&anticlockwise_on_screen, 1.0, true).unwrap();
        let area = |r: &[[i32; 2]]| -> i64 {
            (0..r.len())
                .map(|i| {
                    let (a, b) = (r[i], r[(i + 1) % r.len()]);
                    i64::from(a[0]) * i64::from(b[1]) - i64::from(b[0]) * i64::from(a[1])
                })
                .sum()
        };
        assert!(area(&outer) > 0);
        let hole = finish_ring(&anticlockwise_on_screen, 1.0, false).unwrap();
        assert!(area(&hole) < 0);
        assert!(finish_ring(&[[0.0, 0.0], [0.2, 0.1], [0.1, 0.3]], 1.0, true).is_none());
    }
}
