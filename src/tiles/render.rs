//! One tile of one layer, as a Mapbox Vector Tile with one layer named after the collection.
//!
//! Points are never dropped. Each matching point of the layer lies in exactly one tile of a
//! zoom (tiles are half-open, see [`crate::index::quad`]), and no point outside a tile is in
//! it: there is no buffer for points. A tile with at most [`MAX_POINTS`] matching points
//! carries each as its own feature (its `id`, its properties and `count` 1); a fuller one
//! aggregates them into the [`CELLS`] × [`CELLS`] cells of the tile, one feature per cell
//! that holds any, at the mean place of its points, with `count`, `aggregated` true and a
//! `sum_NAME` for each numeric queryable. The `count`s of a tile's features always add up to
//! the matching points in its bounds.
//!
//! Areas (and any shape but a point) are clipped to the tile and a buffer of [`BUFFER`] tile
//! units, and simplified to [`SIMPLIFY`] units (a sixteenth of a pixel of a 256-pixel tile is
//! one unit): a tile carries no more detail than it can show.

use super::clip::{clip_ring, finish_ring, inside, Window};
use super::matrix::{TileId, EXTENT};
use crate::filter::Plan;
use crate::index::quad::{mercator_unit, place};
use crate::index::Rect;
use crate::layer::{Layer, PreparedValue};
use crate::query::ItemsQuery;
use crate::temporal::Interval;
use geo::Geometry;
use mvt::{GeomEncoder, GeomType};
use serde_json::Value;

/// A tile holding more matching points than this aggregates them.
pub const MAX_POINTS: usize = 2000;
/// Cells per side of an aggregated tile (a power of two: each cell is a tile `log2(CELLS)`
/// zooms deeper, a run of the layer's quadtree keys).
pub const CELLS: u32 = 64;
const CELL_BITS: u32 = CELLS.trailing_zeros();
/// How far beyond the tile shapes reach, in tile units, so that borders meet without seams.
pub const BUFFER: f64 = 64.0;
/// The simplification tolerance in tile units.
pub const SIMPLIFY: f64 = 2.0;

/// Why a tile could not be written (never the request's fault).
#[derive(Debug, thiserror::Error)]
pub enum TileError {
    #[error("the tile could not be encoded")]
    Encode(#[source] mvt::Error),
}

impl From<mvt::Error> for TileError {
    fn from(e: mvt::Error) -> Self {
        TileError::Encode(e)
    }
}

/// A numeric queryable summed over a cell's points: its tag name (`sum_fatalities`), whether
/// its values are whole numbers, and a feature's value (None for null, counted as 0).
pub struct Summed<'a> {
    pub tag: String,
    pub integer: bool,
    pub value: Box<dyn Fn(u32) -> Option<f64> + Sync + 'a>,
}

/// The items conditions a tile takes: `bbox`, `datetime`, the queryables and a CQL2 `filter`.
pub struct Conditions<'a> {
    layer: &'a Layer,
    rects: &'a [Rect],
    datetime: Option<Interval>,
    prepared: Vec<(usize, PreparedValue)>,
    /// The filter planned once for the tile, as `/items` plans it; `None` without one, or
    /// when it holds for every feature.
    plan: Option<Plan>,
    /// The filter holds for no feature at all.
    nothing: bool,
}

impl<'a> Conditions<'a> {
    pub fn new(layer: &'a Layer, q: &'a ItemsQuery) -> Self {
        let plan = q.filter.as_ref().map(|f| Plan::new(&f.cond, layer));
        let nothing = plan.as_ref().and_then(Plan::constant) == Some(false);
        Conditions {
            layer,
            rects: &q.bbox,
            datetime: q.datetime,
            prepared: q
                .filters
                .iter()
                .map(|(c, v)| {
                    (
                        *c,
                        layer.prepare(*c, v).unwrap_or_else(|| layer.nothing(*c)),
                    )
                })
                .collect(),
            plan: plan.filter(|p| p.constant().is_none()),
            nothing,
        }
    }

    /// Whether every feature passes.
    pub fn is_empty(&self) -> bool {
        self.rects.is_empty()
            && self.datetime.is_none()
            && self.prepared.is_empty()
            && self.plan.is_none()
            && !self.nothing
    }

    #[inline]
    pub fn accepts(&self, idx: u32) -> bool {
        let l = self.layer;
        !self.nothing
            && self.datetime.is_none_or(|t| l.in_time(idx, &t))
            && self.prepared.iter().all(|(c, v)| l.matches(*c, v, idx))
            && (self.rects.is_empty() || l.intersects_any(idx, self.rects))
            && self.plan.as_ref().is_none_or(|p| p.matches(l, idx))
    }
}

/// An area on its way into the tile: its position and its rings in tile units, each
/// polygon's outer ring before its holes.
struct Area(u32, Vec<(bool, Vec<[i32; 2]>)>);

/// Per cell of an aggregated tile.
#[derive(Clone, Default)]
struct Cell {
    count: u64,
    x: u64,
    y: u64,
    sums: Vec<f64>,
}

/// The points of a tile, listed one by one until there are too many, then aggregated.
struct Points<'s> {
    tile: TileId,
    sums: &'s [Summed<'s>],
    listed: Vec<(u32, [u32; 2])>,
    cells: Option<Vec<Cell>>,
}

impl<'s> Points<'s> {
    fn new(tile: TileId, sums: &'s [Summed<'s>], expected: usize) -> Self {
        let mut p = Points {
            tile,
            sums,
            listed: Vec::new(),
            cells: None,
        };
        if expected > MAX_POINTS {
            p.cells = Some(vec![
                Cell {
                    sums: vec![0.0; sums.len()],
                    ..Cell::default()
                };
                (CELLS * CELLS) as usize
            ]);
        } else {
            p.listed.reserve(expected);
        }
        p
    }

    /// The point's offset from the tile's north-west corner on the 2^32 square.
    #[inline]
    fn local(&self, c: [u32; 2]) -> [u64; 2] {
        let shift = 32 - u32::from(self.tile.z);
        let (x0, y0) = if shift == 32 {
            (0, 0)
        } else {
            (
                u64::from(self.tile.col) << shift,
                u64::from(self.tile.row) << shift,
            )
        };
        [u64::from(c[0]) - x0, u64::from(c[1]) - y0]
    }

    #[inline]
    fn add(&mut self, idx: u32, c: [u32; 2]) {
        if self.cells.is_none() {
            if self.listed.len() < MAX_POINTS {
                self.listed.push((idx, c));
                return;
            }
            let listed = std::mem::take(&mut self.listed);
            self.cells = Some(vec![
                Cell {
                    sums: vec![0.0; self.sums.len()],
                    ..Cell::default()
                };
                (CELLS * CELLS) as usize
            ]);
            for (i, c) in listed {
                self.aggregate(i, c);
            }
        }
        self.aggregate(idx, c);
    }

    #[inline]
    fn aggregate(&mut self, idx: u32, c: [u32; 2]) {
        let shift = 32 - u32::from(self.tile.z) - CELL_BITS;
        let l = self.local(c);
        let k = ((l[1] >> shift) * u64::from(CELLS) + (l[0] >> shift)) as usize;
        let sums = self.sums;
        if let Some(cells) = self.cells.as_mut() {
            let cell = &mut cells[k];
            cell.count += 1;
            cell.x += l[0];
            cell.y += l[1];
            for (s, f) in cell.sums.iter_mut().zip(sums) {
                *s += (f.value)(idx).unwrap_or(0.0);
            }
        }
    }

    /// A local offset on the 2^32 square in tile units, inside the tile.
    fn to_units(&self, l: [f64; 2]) -> [f64; 2] {
        let scale = f64::from(EXTENT) / (1u64 << (32 - u32::from(self.tile.z))) as f64;
        let max = f64::from(EXTENT - 1);
        [
            (l[0] * scale).floor().clamp(0.0, max),
            (l[1] * scale).floor().clamp(0.0, max),
        ]
    }
}

/// Builds the tile of `layer` at `tile` for the conditions, with the numeric queryables
/// `sums` summed over aggregated cells.
pub fn render(
    layer: &Layer,
    tile: TileId,
    conditions: &Conditions,
    sums: &[Summed],
) -> Result<Vec<u8>, TileError> {
    let mut items: Vec<Area> = Vec::new();
    if conditions.nothing {
        return encode(layer, Points::new(tile, sums, 0), items);
    }
    let points = match layer.index().quads() {
        Some(quads) => {
            let run = quads.tile(tile.z, tile.row, tile.col);
            let (keys, ids) = (&quads.keys()[run.clone()], &quads.ids()[run]);
            let expected = if conditions.is_empty() { keys.len() } else { 0 };
            let mut points = Points::new(tile, sums, expected);
            for (k, &idx) in keys.iter().zip(ids) {
                if conditions.is_empty() || conditions.accepts(idx) {
                    points.add(idx, place(*k));
                }
            }
            points
        }
        None => shapes(layer, tile, conditions, sums, &mut items),
    };
    encode(layer, points, items)
}

/// A layer with shapes other than points: its features near the tile, from the R-tree.
fn shapes<'s>(
    layer: &Layer,
    tile: TileId,
    conditions: &Conditions,
    sums: &'s [Summed<'s>],
    items: &mut Vec<Area>,
) -> Points<'s> {
    let [w, s, e, n] = tile.bounds_lonlat();
    // The buffer in degrees, generously: the exact test is in tile units below.
    let (dx, dy) = (
        (e - w) * BUFFER / f64::from(EXTENT),
        (n - s) * BUFFER / f64::from(EXTENT),
    );
    let rect = Rect::new([w - dx, s - dy], [e + dx, n + dy]);
    let filter = |idx: u32, _: [f64; 2]| conditions.accepts(idx);
    let exact = |idx: u32| layer.intersects_any(idx, &[rect]);
    let found = layer.index().query(
        &[rect],
        Some(&exact),
        (!conditions.is_empty()).then_some(&filter as crate::index::Keep),
        0,
        usize::MAX,
    );
    let mut points = Points::new(tile, sums, 0);
    let window = Window {
        lo: -BUFFER,
        hi: f64::from(EXTENT) + BUFFER,
    };
    for idx in found.items {
        let Some(g) = layer.geometry(idx) else {
            continue;
        };
        let mut rings = Vec::new();
        add_geometry(&g, tile, &window, idx, &mut points, &mut rings);
        if !rings.is_empty() {
            items.push(Area(idx, rings));
        }
    }
    points
}

fn add_geometry(
    g: &Geometry<f64>,
    tile: TileId,
    window: &Window,
    idx: u32,
    points: &mut Points,
    rings: &mut Vec<(bool, Vec<[i32; 2]>)>,
) {
    let mut point = |p: &geo::Point<f64>| {
        if let Some(unit) = mercator_unit(p.x(), p.y()) {
            if tile.holds(unit) {
                points.add(idx, crate::index::quad::to_cell(unit));
            }
        }
    };
    match g {
        Geometry::Point(p) => point(p),
        Geometry::MultiPoint(mp) => mp.0.iter().for_each(point),
        Geometry::Polygon(p) => polygon(p, tile, window, rings),
        Geometry::MultiPolygon(mp) => {
            for p in &mp.0 {
                polygon(p, tile, window, rings);
            }
        }
        Geometry::Rect(r) => polygon(&r.to_polygon(), tile, window, rings),
        Geometry::GeometryCollection(gc) => {
            for g in &gc.0 {
                add_geometry(g, tile, window, idx, points, rings);
            }
        }
        // The layers Kat serves hold points and areas; lines would need their own clipping.
        _ => {}
    }
}

fn polygon(
    p: &geo::Polygon<f64>,
    tile: TileId,
    window: &Window,
    rings: &mut Vec<(bool, Vec<[i32; 2]>)>,
) {
    let project = |ls: &geo::LineString<f64>| -> Vec<[f64; 2]> {
        let c = &ls.0;
        let open = if c.len() > 1 && c.first() == c.last() {
            &c[..c.len() - 1]
        } else {
            &c[..]
        };
        open.iter()
            .filter_map(|c| mercator_unit(c.x, c.y.clamp(-85.05, 85.05)))
            .map(|u| tile.to_tile(u))
            .collect()
    };
    let cut = |ring: Vec<[f64; 2]>| {
        if inside(&ring, window) {
            ring
        } else {
            clip_ring(&ring, window)
        }
    };
    let Some(outer) = finish_ring(&cut(project(p.exterior())), SIMPLIFY, true) else {
        return;
    };
    rings.push((true, outer));
    for hole in p.interiors() {
        if let Some(h) = finish_ring(&cut(project(hole)), SIMPLIFY, false) {
            rings.push((false, h));
        }
    }
}

/// The feature's `id` and properties, from its stored JSON.
fn properties(layer: &Layer, idx: u32, buf: &mut Vec<u8>) -> serde_json::Map<String, Value> {
    #[derive(serde::Deserialize)]
    struct Stored {
        #[serde(default)]
        properties: Option<serde_json::Map<String, Value>>,
    }
    buf.clear();
    layer.write_feature(idx, buf, None);
    serde_json::from_slice::<Stored>(buf)
        .ok()
        .and_then(|s| s.properties)
        .unwrap_or_default()
}

fn add_tags(f: &mut mvt::Feature, props: &serde_json::Map<String, Value>) {
    for (k, v) in props {
        if k == "id" || k == "count" {
            continue;
        }
        match v {
            Value::Null => {}
            Value::Bool(b) => f.add_tag_bool(k, *b),
            Value::String(s) => f.add_tag_string(k, s),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    f.add_tag_sint(k, i);
                } else if let Some(u) = n.as_u64() {
                    f.add_tag_uint(k, u);
                } else if let Some(d) = n.as_f64() {
                    f.add_tag_double(k, d);
                }
            }
            // Arrays and objects as their JSON text, which a style or a client can still read.
            other => f.add_tag_string(k, &other.to_string()),
        }
    }
}

fn encode(layer: &Layer, points: Points, items: Vec<Area>) -> Result<Vec<u8>, TileError> {
    let mut out = mvt::Tile::new(EXTENT);
    let mut vt = out.create_layer(layer.id());
    let mut buf = Vec::new();
    for Area(idx, rings) in items {
        let mut geom = GeomEncoder::new(GeomType::Polygon);
        for (_, ring) in &rings {
            for p in ring {
                geom.add_point(f64::from(p[0]), f64::from(p[1]))?;
            }
            geom.complete_geom()?;
        }
        let mut f = vt.into_feature(geom.encode()?);
        f.set_id(u64::from(idx));
        f.add_tag_string("id", layer.feature_id(idx));
        add_tags(&mut f, &properties(layer, idx, &mut buf));
        vt = f.into_layer();
    }
    match &points.cells {
        None => {
            for &(idx, c) in &points.listed {
                let l = points.local(c);
                let [x, y] = points.to_units([l[0] as f64, l[1] as f64]);
                let geom = GeomEncoder::new(GeomType::Point).point(x, y)?.encode()?;
                let mut f = vt.into_feature(geom);
                f.set_id(u64::from(idx));
                f.add_tag_string("id", layer.feature_id(idx));
                f.add_tag_uint("count", 1);
                add_tags(&mut f, &properties(layer, idx, &mut buf));
                vt = f.into_layer();
            }
        }
        Some(cells) => {
            for cell in cells.iter().filter(|c| c.count > 0) {
                let n = cell.count as f64;
                let [x, y] = points.to_units([cell.x as f64 / n, cell.y as f64 / n]);
                let geom = GeomEncoder::new(GeomType::Point).point(x, y)?.encode()?;
                let mut f = vt.into_feature(geom);
                f.add_tag_uint("count", cell.count);
                f.add_tag_bool("aggregated", true);
                for (s, summed) in cell.sums.iter().zip(points.sums) {
                    if summed.integer {
                        f.add_tag_sint(&summed.tag, s.round() as i64);
                    } else {
                        f.add_tag_double(&summed.tag, *s);
                    }
                }
                vt = f.into_layer();
            }
        }
    }
    out.add_layer(vt)?;
    Ok(out.to_bytes()?)
}
