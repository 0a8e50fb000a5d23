//! Layers as loaded from the data directory: validated, indexed and serialized once, then
//! shared read-only by every request.

pub mod cache;
pub mod column;
pub mod digest;
mod error;
pub mod json;
mod load;
pub mod onepass;
pub mod orders;
pub mod store;

pub use crate::catalog::config::{CollectionSpec, MatchKind, Queryable, QueryableType};
pub use column::Column;
pub use digest::{digest_bytes, digest_file};
pub use error::LoadError;
pub use load::{load_layer, load_layer_from_features, load_layer_from_text};

use crate::index::{Rect, SpatialIndex};
use crate::temporal::Interval;
use geo::Geometry;
use std::path::Path;
use std::sync::Arc;

/// The geometry kept for queries: bare points for a point layer, full shapes otherwise.
#[derive(Debug)]
pub(crate) enum Shapes {
    Points(Vec<[f64; 2]>),
    Any(Vec<Option<Geometry<f64>>>),
}

/// A feature's geometry as [`Layer::shape`] lends it: a point layer keeps bare points.
#[derive(Debug, Clone, Copy)]
pub enum Shape<'a> {
    Point([f64; 2]),
    Geometry(&'a Geometry<f64>),
}

/// What [`Layer::prefetch`] announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefetch {
    Record,
    Bytes,
}

/// How much of a stored feature to announce ahead; the hardware prefetcher follows on.
const PREFETCH_BYTES: usize = 256;

#[inline(always)]
fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: a prefetch is a hint; it never faults, even for an address outside any
        // mapping, and changes no memory.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(p.cast()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// A collection's spatial and temporal extent, computed from its features.
#[derive(Debug, Clone, PartialEq)]
pub struct Extent {
    pub bbox: Option<[f64; 4]>,
    pub interval: Option<(String, String)>,
}

/// One collection, loaded and indexed.
pub struct Layer {
    pub spec: Arc<CollectionSpec>,
    store: store::Store,
    /// `(hash of the id, position)`, sorted: the id lookup table.
    ids: Vec<(u64, u32)>,
    shapes: Shapes,
    times: Option<Vec<Interval>>,
    columns: Vec<Column>,
    index: SpatialIndex,
    /// Features without geometry, in file order: listed after the indexed ones when no spatial
    /// condition applies.
    unplaced: Vec<u32>,
    pub extent: Extent,
    pub load_ms: u128,
    /// Whether it was read back from its [`cache`] rather than from its file.
    pub from_cache: bool,
    /// A digest of the file's content (see [`load::digest_bytes`]).
    pub digest: u64,
    /// The `sortby` orders asked of this layer so far.
    pub orders: orders::Orders,
}

impl std::fmt::Debug for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layer")
            .field("id", &self.spec.id)
            .field("features", &self.store.len())
            .finish()
    }
}

impl Layer {
    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// The typed values of queryable `q` (its position in `spec.queryables`).
    pub fn column(&self, q: usize) -> &Column {
        &self.columns[q]
    }

    /// The time property's interval for feature `idx`, if it is dated.
    pub fn time(&self, idx: u32) -> Option<Interval> {
        let t = self.times.as_ref()?[idx as usize];
        (t != Interval::ALL).then_some(t)
    }

    pub fn len(&self) -> usize {
        self.store.len()
    }

    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    pub fn index(&self) -> &SpatialIndex {
        &self.index
    }

    pub fn unplaced(&self) -> &[u32] {
        &self.unplaced
    }

    /// The position of the feature with this id.
    pub fn position(&self, id: &str) -> Option<u32> {
        let h = load::id_hash(id);
        let from = self.ids.partition_point(|(k, _)| *k < h);
        self.ids[from..]
            .iter()
            .take_while(|(k, _)| *k == h)
            .map(|(_, i)| *i)
            .find(|i| self.feature_id(*i) == id)
    }

    /// The feature's id.
    pub fn feature_id(&self, idx: u32) -> &str {
        self.store.id(idx)
    }

    /// The length of the feature's JSON as written by [`Layer::write_feature`].
    pub fn feature_len(&self, idx: u32) -> usize {
        self.store.json_len(idx)
    }

    /// Asks the CPU to start fetching the feature's record (`Stage::Record`), or its first
    /// bytes (`Stage::Bytes`, once the record is likely in cache). A page's features lie
    /// scattered over the layer's store, so copying them one after the other waits on memory
    /// for each; announcing them a few features ahead overlaps those waits.
    #[inline]
    pub fn prefetch(&self, idx: u32, stage: Prefetch) {
        match stage {
            Prefetch::Record => {
                if let Some(p) = self.store.record_at(idx) {
                    prefetch_line(p);
                }
            }
            Prefetch::Bytes => {
                if let Some(p) = self.store.bytes_at(idx) {
                    for k in (0..PREFETCH_BYTES).step_by(64) {
                        prefetch_line(p.wrapping_add(k));
                    }
                }
            }
        }
    }

    /// Appends the feature's JSON, adding `distance_m` to its properties when given.
    pub fn write_feature(&self, idx: u32, out: &mut Vec<u8>, distance_m: Option<f64>) {
        self.store.write(idx, out, distance_m, None);
    }

    /// Appends the feature's JSON with `links` added as its last member.
    pub fn write_feature_with_links(&self, idx: u32, out: &mut Vec<u8>, links: &str) {
        self.store.write(idx, out, None, Some(links));
    }

    /// Whether the feature's own geometry (not only its envelope) intersects any of the boxes.
    pub fn intersects_any(&self, idx: u32, rects: &[Rect]) -> bool {
        match &self.shapes {
            Shapes::Points(p) => {
                let p = p[idx as usize];
                rects.iter().any(|r| {
                    r.min[0] <= p[0] && p[0] <= r.max[0] && r.min[1] <= p[1] && p[1] <= r.max[1]
                })
            }
            Shapes::Any(g) => match &g[idx as usize] {
                None => false,
                Some(g) => rects.iter().any(|r| {
                    use geo::Intersects;
                    let rect = geo::Rect::new(
                        geo::coord! { x: r.min[0], y: r.min[1] },
                        geo::coord! { x: r.max[0], y: r.max[1] },
                    );
                    g.intersects(&rect)
                }),
            },
        }
    }

    /// The feature's geometry as a filter reads it; `None` for a feature without one.
    pub fn shape(&self, idx: u32) -> Option<Shape<'_>> {
        match &self.shapes {
            Shapes::Points(p) => {
                let p = p[idx as usize];
                (!p[0].is_nan()).then_some(Shape::Point(p))
            }
            Shapes::Any(g) => g[idx as usize].as_ref().map(Shape::Geometry),
        }
    }

    /// Whether an envelope check is already exact for this layer.
    pub fn is_point_layer(&self) -> bool {
        matches!(self.shapes, Shapes::Points(_))
    }

    /// The geodesic distance from `p` to the feature (0 inside a polygon).
    pub fn distance_m(&self, idx: u32, p: [f64; 2]) -> f64 {
        use crate::index::geodesic;
        match &self.shapes {
            Shapes::Points(pts) => geodesic::distance_m(p, pts[idx as usize]),
            Shapes::Any(g) => match &g[idx as usize] {
                Some(g) => geodesic::distance_to_geometry_m(p, g),
                None => f64::INFINITY,
            },
        }
    }

    /// The feature's geometry as kept for queries (a point layer's as a point), or None.
    pub fn geometry(&self, idx: u32) -> Option<std::borrow::Cow<'_, Geometry<f64>>> {
        use std::borrow::Cow;
        match &self.shapes {
            Shapes::Points(p) => {
                let p = p[idx as usize];
                (!p[0].is_nan()).then(|| Cow::Owned(Geometry::Point(geo::Point::new(p[0], p[1]))))
            }
            Shapes::Any(g) => g[idx as usize].as_ref().map(Cow::Borrowed),
        }
    }

    /// A representative point of the feature (its point, or the centre of its envelope).
    pub fn anchor(&self, idx: u32) -> Option<[f64; 2]> {
        match &self.shapes {
            Shapes::Points(p) => {
                let p = p[idx as usize];
                (!p[0].is_nan()).then_some(p)
            }
            Shapes::Any(g) => {
                use geo::{BoundingRect, InteriorPoint};
                let g = g[idx as usize].as_ref()?;
                g.interior_point()
                    .map(|p| [p.x(), p.y()])
                    .or_else(|| g.bounding_rect().map(|r| [r.center().x, r.center().y]))
            }
        }
    }

    pub fn has_time(&self) -> bool {
        self.times.is_some()
    }

    /// Whether the feature's date intersects the interval; undated features always do.
    pub fn in_time(&self, idx: u32, interval: &Interval) -> bool {
        match &self.times {
            Some(t) => t[idx as usize].intersects(interval),
            None => true,
        }
    }

    /// Whether the feature matches a `name=value` filter prepared by [`Layer::prepare`].
    pub fn matches(&self, column: usize, value: &PreparedValue, idx: u32) -> bool {
        self.columns[column].matches(&value.0, idx)
    }

    /// Turns a user's `name=value` into what [`Layer::matches`] compares with: which of the
    /// column's distinct values it matches. Texts ignore case and accents (whole value or a
    /// part, as the queryable says; any element of an array); numbers and booleans compare
    /// as values; a date matches the dates whose interval meets the value's. `None` when the
    /// value cannot be read as the queryable's type.
    pub fn prepare(&self, column: usize, value: &str) -> Option<PreparedValue> {
        let queryable = &self.spec.queryables[column];
        let col = &self.columns[column];
        let decided = match (&col.values, queryable.kind) {
            (column::Values::Text { folded, .. }, QueryableType::String(kind)) => {
                let want = crate::text::fold(value);
                col.decide(|v| {
                    let v = &folded[v];
                    let any = |f: &dyn Fn(&str) -> bool| {
                        if queryable.array {
                            column::elements(v).any(f)
                        } else {
                            f(v)
                        }
                    };
                    match kind {
                        MatchKind::Exact => any(&|e| e == want),
                        MatchKind::Contains => any(&|e| e.contains(want.as_str())),
                    }
                })
            }
            (column::Values::Integer(values), _) => {
                let want: i64 = value.trim().parse().ok()?;
                col.decide(|v| values[v] == want)
            }
            (column::Values::Number(values), _) => {
                let want: f64 = value.trim().parse().ok().filter(|n: &f64| n.is_finite())?;
                col.decide(|v| values[v] == want)
            }
            (column::Values::Boolean(values), _) => {
                let want = match value.trim() {
                    "true" => true,
                    "false" => false,
                    _ => return None,
                };
                col.decide(|v| values[v] == want)
            }
            (column::Values::Date { intervals, .. }, _) => {
                let want = crate::temporal::parse_feature_date(value.trim())?;
                col.decide(|v| intervals[v].intersects(&want))
            }
            (column::Values::Text { .. }, _) => return None,
        };
        Some(PreparedValue(decided))
    }
}

/// Loads a layer to serve: from its [`cache`] when that holds the file as it is now,
/// otherwise from the file, then writes the cache in the background.
pub fn open_layer(dir: &Path, spec: &Arc<CollectionSpec>) -> Result<Arc<Layer>, LoadError> {
    if let Some(layer) = cache::read(dir, spec) {
        return Ok(Arc::new(layer));
    }
    let layer = Arc::new(load_layer(dir, spec)?);
    cache::save_later(dir, &layer);
    Ok(layer)
}

impl Layer {
    /// A prepared value that matches no feature.
    pub fn nothing(&self, column: usize) -> PreparedValue {
        PreparedValue(vec![false; self.columns[column].values.len()])
    }
}

/// A filter value ready to compare: for each distinct value of the column, whether it matches.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedValue(Vec<bool>);

/// Every layer, loaded together: the unit that a reload swaps.
#[derive(Debug)]
pub struct Catalog {
    pub layers: Vec<Arc<Layer>>,
    /// A fingerprint of the data files, for ETags and `/health`.
    pub version: String,
    pub loaded_at: String,
}

impl Catalog {
    pub fn layer(&self, id: &str) -> Option<&Arc<Layer>> {
        self.layers.iter().find(|l| l.id() == id)
    }
}
