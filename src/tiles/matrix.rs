//! The WebMercatorQuad tile matrix set (OGC 2D Tile Matrix Set, the tiling of web maps): a
//! tile's address, its bounds, and the place of a point inside it.
//!
//! ```
//! use kat::tiles::matrix::TileId;
//! let t = TileId::parse("8", "114", "76").unwrap();
//! let [w, s, e, n] = t.bounds_lonlat();
//! assert!(w < -72.34 && -72.34 < e && s < 18.54 && 18.54 < n);
//! assert_eq!(TileId::parse("8", "256", "0").unwrap_err().param(), "tileRow");
//! ```

use crate::index::quad::{unit_to_lonlat, MAX_ZOOM};

/// The identifier of the only tile matrix set served.
pub const WEB_MERCATOR_QUAD: &str = "WebMercatorQuad";
/// Its URI in the OGC register.
pub const WEB_MERCATOR_QUAD_URI: &str =
    "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad";
/// Its CRS.
pub const EPSG_3857: &str = "http://www.opengis.net/def/crs/EPSG/0/3857";
/// The deepest tile matrix served.
pub const MAX_TILE_MATRIX: u8 = MAX_ZOOM;
/// Tile coordinates run from 0 to `EXTENT` across a tile (the MVT convention).
pub const EXTENT: u32 = 4096;
/// Half the side of the square, in metres of EPSG:3857.
pub const HALF_SIDE_M: f64 = 20_037_508.342_789_244;

/// A tile of WebMercatorQuad: zoom `z`, row from the north, column from the west.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TileId {
    pub z: u8,
    pub row: u32,
    pub col: u32,
}

/// Why a tile address names no tile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TileIdError {
    /// Not a whole number (400).
    #[error("{param} must be a whole number from 0, got {value:?}")]
    NotANumber { param: &'static str, value: String },
    /// A whole number, but no tile of the set has it (404).
    #[error("{param} {value} is outside WebMercatorQuad: {expected}")]
    OutOfRange {
        param: &'static str,
        value: u64,
        expected: String,
    },
}

impl TileIdError {
    /// The path parameter it is about: `tileMatrix`, `tileRow` or `tileCol`.
    pub fn param(&self) -> &'static str {
        match self {
            TileIdError::NotANumber { param, .. } | TileIdError::OutOfRange { param, .. } => param,
        }
    }
}

fn whole(param: &'static str, s: &str) -> Result<u64, TileIdError> {
    let bad = || TileIdError::NotANumber {
        param,
        value: s.chars().take(40).collect(),
    };
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    s.parse().map_err(|_| bad())
}

impl TileId {
    /// Reads the path's `{tileMatrix}/{tileRow}/{tileCol}`.
    pub fn parse(z: &str, row: &str, col: &str) -> Result<TileId, TileIdError> {
        let zv = whole("tileMatrix", z)?;
        let rv = whole("tileRow", row)?;
        let cv = whole("tileCol", col)?;
        if zv > u64::from(MAX_TILE_MATRIX) {
            return Err(TileIdError::OutOfRange {
                param: "tileMatrix",
                value: zv,
                expected: format!("a tile matrix from 0 to {MAX_TILE_MATRIX}"),
            });
        }
        let n = 1u64 << zv;
        for (param, v) in [("tileRow", rv), ("tileCol", cv)] {
            if v >= n {
                return Err(TileIdError::OutOfRange {
                    param,
                    value: v,
                    expected: format!("at tile matrix {zv}, from 0 to {}", n - 1),
                });
            }
        }
        Ok(TileId {
            z: zv as u8,
            row: rv as u32,
            col: cv as u32,
        })
    }

    /// Tiles per side at this zoom.
    pub fn side(&self) -> f64 {
        (1u64 << self.z) as f64
    }

    /// `[west, south, east, north]` in degrees. The tile holds its west and north edges, not
    /// its east and south ones.
    pub fn bounds_lonlat(&self) -> [f64; 4] {
        let n = self.side();
        let [w, nth] = unit_to_lonlat(f64::from(self.col) / n, f64::from(self.row) / n);
        let [e, s] = unit_to_lonlat(f64::from(self.col + 1) / n, f64::from(self.row + 1) / n);
        [w, s, e, nth]
    }

    /// Where a place on the unit square (see [`crate::index::quad::mercator_unit`]) falls in
    /// tile coordinates (0 to [`EXTENT`] across, y down), unrounded.
    #[inline]
    pub fn to_tile(&self, unit: [f64; 2]) -> [f64; 2] {
        let n = self.side();
        let e = f64::from(EXTENT);
        [
            (unit[0] * n - f64::from(self.col)) * e,
            (unit[1] * n - f64::from(self.row)) * e,
        ]
    }

    /// Whether a place on the unit square lies in the tile (half-open, as
    /// [`TileId::bounds_lonlat`] says).
    pub fn holds(&self, unit: [f64; 2]) -> bool {
        let c = crate::index::quad::to_cell(unit);
        let shift = 32 - u32::from(self.z);
        let (col, row) = if shift == 32 {
            (0, 0)
        } else {
            (c[0] >> shift, c[1] >> shift)
        };
        col == self.col && row == self.row
    }
}

/// The scale denominator of zoom 0 (0.28 mm pixels, 256-pixel tiles).
const SCALE_0: f64 = 559_082_264.028_717_8;

/// The tile matrix set's definition, as OGC 2D TMS 2.0 encodes it in JSON.
pub fn definition(self_href: &str) -> serde_json::Value {
    let matrices: Vec<serde_json::Value> = (0..=MAX_TILE_MATRIX)
        .map(|z| {
            let n = 1u64 << z;
            serde_json::json!({
                "id": z.to_string(),
                "scaleDenominator": SCALE_0 / n as f64,
                "cellSize": 2.0 * HALF_SIDE_M / 256.0 / n as f64,
                "cornerOfOrigin": "topLeft",
                "pointOfOrigin": [-HALF_SIDE_M, HALF_SIDE_M],
                "tileWidth": 256,
                "tileHeight": 256,
                "matrixWidth": n,
                "matrixHeight": n,
            })
        })
        .collect();
    serde_json::json!({
        "id": WEB_MERCATOR_QUAD,
        "title": "Google Maps Compatible for the World",
        "uri": WEB_MERCATOR_QUAD_URI,
        "crs": EPSG_3857,
        "orderedAxes": ["E", "N"],
        "wellKnownScaleSet": "http://www.opengis.net/def/wkss/OGC/1.0/GoogleMapsCompatible",
        "boundingBox": {
            "crs": EPSG_3857,
            "lowerLeft": [-HALF_SIDE_M, -HALF_SIDE_M],
            "upperRight": [HALF_SIDE_M, HALF_SIDE_M],
        },
        "tileMatrices": matrices,
        "links": [{"href": self_href, "rel": "self", "type": "application/json", "title": "This tile matrix set"}],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::quad::mercator_unit;

    #[test]
    fn a_tile_holds_the_points_inside_its_bounds() {
        let t = TileId {
            z: 11,
            row: 911,
            col: 612,
        };
        let [w, s, e, n] = t.bounds_lonlat();
        let inside = [(w + e) / 2.0, (s + n) / 2.0];
        assert!(t.holds(mercator_unit(inside[0], inside[1]).unwrap()));
        assert!(t.holds(mercator_unit(w, n - 1e-9).unwrap()));
        assert!(!t.holds(mercator_unit(e + 1e-9, (s + n) / 2.0).unwrap()));
        assert!(!t.holds(mercator_unit(inside[0], s - 1e-9).unwrap()));
        let c = t.to_tile(mercator_unit(inside[0], inside[1]).unwrap());
        assert!((c[0] - 2048.0).abs() < 1.0, "{c:?}");
    }

    #[test]
    fn bad_addresses_name_their_parameter() {
        assert_eq!(
            TileId::parse("x", "0", "0").unwrap_err().param(),
            "tileMatrix"
        );
        assert_eq!(
            TileId::parse("3", "-1", "0").unwrap_err().param(),
            "tileRow"
        );
        assert_eq!(TileId::parse("3", "0", "8").unwrap_err().param(), "tileCol");
        assert_eq!(
            TileId::parse("25", "0", "0").unwrap_err().param(),
            "tileMatrix"
        );
        assert!(matches!(
            TileId::parse("99999999999999999999999", "0", "0"),
            Err(TileIdError::NotANumber { .. })
        ));
        assert!(TileId::parse("0", "0", "0").is_ok());
    }
}
