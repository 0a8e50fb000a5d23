//! Vector tiles: every collection as OGC API - Tiles in the WebMercatorQuad tile matrix set,
//! encoded as Mapbox Vector Tiles.
//!
//! - [`matrix`]: tile addresses, bounds and tile coordinates;
//! - [`clip`]: areas clipped to a tile and its buffer, simplified and wound for MVT;
//! - [`render`]: one tile of one layer, with every matching point counted once;
//! - [`cache`]: rendered tiles and aggregates, by data version and request.

pub mod cache;
pub mod clip;
pub mod matrix;
pub mod render;

/// The media type of a tile.
pub const MVT: &str = "application/vnd.mapbox-vector-tile";
/// The link relation from a collection to its vector tilesets.
pub const REL_TILESETS_VECTOR: &str = "http://www.opengis.net/def/rel/ogc/1.0/tilesets-vector";
/// The link relation to a tile matrix set's definition.
pub const REL_TILING_SCHEME: &str = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme";
/// The link relation to the tile matrix sets.
pub const REL_TILING_SCHEMES: &str = "http://www.opengis.net/def/rel/ogc/1.0/tiling-schemes";

/// The OGC API - Tiles and 2D Tile Matrix Set conformance classes implemented.
pub const CONFORMANCE: &[&str] = &[
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tileset",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/tilesets-list",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/geodata-tilesets",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/datetime",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/mvt",
    "http://www.opengis.net/spec/ogcapi-tiles-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/tms/2.0/conf/tilematrixset",
    "http://www.opengis.net/spec/tms/2.0/conf/json-tilematrixset",
];
