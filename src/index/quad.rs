//! Points in quadtree order on the Web Mercator square, so that every map tile's points are
//! one contiguous run.
//!
//! A point's place on the square is two 32-bit integers, `x` from the west edge and `y` from
//! the north edge (the square's side is 2^32). Its key interleaves their bits, `y` above `x`,
//! from the top: the first `2z` bits of a key are the tile of zoom `z` that holds the point,
//! so the points of tile `(z, row, col)` are the keys between `prefix << (64 - 2z)` and the
//! next prefix, found by two binary searches. A tile's points are then counted exactly, and
//! its sub-tiles (the cells a crowded tile is aggregated into) are runs of that run.
//!
//! Tiles are half-open: a tile holds its west and north edges, not its east and south ones,
//! so at each zoom every point is in exactly one tile.
//!
//! ```
//! use kat::index::QuadKeys;
//! let points = [[-72.34, 18.54], [-72.33, 18.55], [f64::NAN, f64::NAN], [-75.0, 19.2]];
//! let keys = QuadKeys::build(&points);
//! assert_eq!(keys.len(), 3);
//! // Zoom 0 is the whole square; at zoom 8 Port-au-Prince is in column 76, row 114.
//! assert_eq!(keys.tile(0, 0, 0).len(), 3);
//! assert_eq!(keys.tile(8, 114, 76).len(), 2);
//! ```

use rayon::prelude::*;

/// The largest latitude on the Web Mercator square (where it is a square).
pub const MAX_LAT: f64 = 85.051_128_779_806_59;

/// The deepest zoom whose tiles are exact runs of keys (with room for cells below).
pub const MAX_ZOOM: u8 = 24;

/// Where a point lies on the unit Web Mercator square: `(u, v)` from the north-west corner,
/// both in `[0, 1)`, or None off the square (beyond ±[`MAX_LAT`], or not finite).
///
/// ```
/// use kat::index::quad::mercator_unit;
/// assert_eq!(mercator_unit(0.0, 0.0), Some([0.5, 0.5]));
/// assert!(mercator_unit(0.0, 89.0).is_none());
/// ```
pub fn mercator_unit(lon: f64, lat: f64) -> Option<[f64; 2]> {
    if !lon.is_finite() || !lat.is_finite() || lat.abs() >= MAX_LAT || lon.abs() > 180.0 {
        return None;
    }
    let u = (lon + 180.0) / 360.0;
    let s = lat.to_radians().sin();
    let v = 0.5 - ((1.0 + s) / (1.0 - s)).ln() / (4.0 * std::f64::consts::PI);
    Some([u.min(NEXT_BELOW_ONE), v.clamp(0.0, NEXT_BELOW_ONE)])
}

/// The largest f64 below 1.
const NEXT_BELOW_ONE: f64 = 1.0 - f64::EPSILON / 2.0;

/// The inverse of [`mercator_unit`]: the longitude and latitude of a place on the square.
pub fn unit_to_lonlat(u: f64, v: f64) -> [f64; 2] {
    let lon = u * 360.0 - 180.0;
    let lat = (std::f64::consts::PI * (1.0 - 2.0 * v))
        .sinh()
        .atan()
        .to_degrees();
    [lon, lat]
}

/// A place on the square as integers: `floor(u * 2^32)`, `floor(v * 2^32)`. Since 2^z
/// divides 2^32, `x >> (32 - z)` is `floor(u * 2^z)`, the column at every zoom alike.
#[inline]
pub fn to_cell(unit: [f64; 2]) -> [u32; 2] {
    const SIDE: f64 = 4_294_967_296.0;
    [
        (unit[0] * SIDE).min(SIDE - 1.0) as u32,
        (unit[1] * SIDE).min(SIDE - 1.0) as u32,
    ]
}

/// Spreads the 32 bits of `v` to the even bits of a word.
#[inline]
fn spread(v: u32) -> u64 {
    let mut x = u64::from(v);
    x = (x | (x << 16)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x << 8)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x << 2)) & 0x3333_3333_3333_3333;
    x = (x | (x << 1)) & 0x5555_5555_5555_5555;
    x
}

/// Gathers the even bits of a word.
#[inline]
fn gather(mut x: u64) -> u32 {
    x &= 0x5555_5555_5555_5555;
    x = (x | (x >> 1)) & 0x3333_3333_3333_3333;
    x = (x | (x >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
    x = (x | (x >> 4)) & 0x00FF_00FF_00FF_00FF;
    x = (x | (x >> 8)) & 0x0000_FFFF_0000_FFFF;
    x = (x | (x >> 16)) & 0x0000_0000_FFFF_FFFF;
    x as u32
}

/// The key of the integer place `[x, y]`.
#[inline]
pub fn key(c: [u32; 2]) -> u64 {
    (spread(c[1]) << 1) | spread(c[0])
}

/// The integer place `[x, y]` of a key.
#[inline]
pub fn place(key: u64) -> [u32; 2] {
    [gather(key), gather(key >> 1)]
}

/// A point layer's keys, sorted, with the layer position of each.
#[derive(Debug, Default)]
pub struct QuadKeys {
    keys: Vec<u64>,
    ids: Vec<u32>,
}

impl QuadKeys {
    /// Keys for the points (layer positions are their indices); points off the square (NaN
    /// for a feature without a geometry) are left out.
    pub fn build(points: &[[f64; 2]]) -> Self {
        let mut pairs: Vec<(u64, u32)> = points
            .par_iter()
            .enumerate()
            .with_min_len(4096)
            .filter_map(|(i, p)| Some((key(to_cell(mercator_unit(p[0], p[1])?)), i as u32)))
            .collect();
        pairs.par_sort_unstable();
        let (keys, ids) = pairs.into_par_iter().unzip();
        QuadKeys { keys, ids }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The run of points in tile `(z, row, col)`, as positions into [`QuadKeys::keys`];
    /// empty for a tile off the square or deeper than [`MAX_ZOOM`].
    pub fn tile(&self, z: u8, row: u32, col: u32) -> std::ops::Range<usize> {
        if z > MAX_ZOOM || u64::from(row) >> z != 0 || u64::from(col) >> z != 0 {
            return 0..0;
        }
        if z == 0 {
            return 0..self.keys.len();
        }
        let shift = 64 - 2 * u32::from(z);
        let prefix = key([col, row]) & ((1u64 << (2 * u32::from(z))) - 1);
        let lo = prefix << shift;
        let from = self.keys.partition_point(|k| *k < lo);
        let to = if prefix + 1 < (1u64 << (2 * u32::from(z))) {
            let hi = (prefix + 1) << shift;
            from + self.keys[from..].partition_point(|k| *k < hi)
        } else {
            self.keys.len()
        };
        from..to
    }

    /// The keys, in order.
    pub fn keys(&self) -> &[u64] {
        &self.keys
    }

    /// The layer position of each key.
    pub fn ids(&self) -> &[u32] {
        &self.ids
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_to_places() {
        for c in [
            [0, 0],
            [u32::MAX, 0],
            [0, u32::MAX],
            [0x1234_5678, 0x9ABC_DEF0],
        ] {
            assert_eq!(place(key(c)), c);
        }
    }

    #[test]
    fn every_point_is_in_exactly_one_tile_of_each_zoom_and_that_tile_holds_it() {
        let mut s = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let points: Vec<[f64; 2]> = (0..5000)
            .map(|_| [-74.5 + 3.0 * next(), 18.0 + 2.1 * next()])
            .collect();
        let keys = QuadKeys::build(&points);
        for z in [1u8, 5, 9, 13, 17] {
            let n = 1u32 << z;
            let mut seen = vec![0u32; points.len()];
            let mut tiles = std::collections::BTreeSet::new();
            for (i, p) in points.iter().enumerate() {
                let [u, v] = mercator_unit(p[0], p[1]).unwrap();
                let (col, row) = ((u * n as f64) as u32, (v * n as f64) as u32);
                tiles.insert((row, col));
                let run = keys.tile(z, row, col);
                assert!(
                    keys.ids()[run].contains(&(i as u32)),
                    "z{z}: point {i} not in its tile"
                );
            }
            for (row, col) in tiles {
                for &i in &keys.ids()[keys.tile(z, row, col)] {
                    seen[i as usize] += 1;
                }
            }
            assert!(seen.iter().all(|n| *n == 1), "z{z}");
        }
        assert_eq!(keys.tile(0, 0, 0).len(), points.len());
        assert_eq!(keys.tile(3, 8, 0).len(), 0);
    }
}
