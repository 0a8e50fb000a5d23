//! Reading one GeoJSON file into a [`Layer`]: parse, validate, index and store each feature's
//! bytes, all once.
//!
//! Features are served from a [`Store`]: each one's text as the file holds it, except that
//! the members of its `properties` are kept once per layer and referred to by number (see
//! [`super::store`]). No feature is re-encoded, and the file's text is not kept.
//!
//! Every file is streamed when it can be ([`stream`]): blocks of it are read, digested
//! and parsed on every core, whatever its layout (one feature per line as Kat writes it, the
//! whole collection on one line, pretty-printed), and only what the layer keeps outlives its
//! block, so memory stays well under the file's size. Each feature is checked and read in
//! one pass by [`onepass`], or by serde_json where that pass declines (serde_json also words
//! every error), so every byte is validated. A file that cannot be streamed (its features
//! array far from its start, a stray value in the array, a missing comma) is read whole, so
//! that serde_json can word what is wrong.

mod block;
mod columns;
mod feature;
mod geometry;
mod stream;
mod whole;

use super::store::{SharedDict, Store};
use super::{Layer, LoadError};
use crate::catalog::config::CollectionSpec;
use block::ParsedBlock;
use columns::{gather_columns, Indexed};
use feature::feature_label;
use rayon::prelude::*;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use whole::{parse_whole, read_whole};

/// The hash of a feature id, for the id lookup table.
pub(super) fn id_hash(s: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(s.as_bytes())
}

/// Bytes per block of a streamed load (a multiple of [`DIGEST_BLOCK`]).
const STREAM_BLOCK: usize = 8 << 20;

/// How much of the file's start (and end) may hold the collection's other members.
const FRAME_MAX: usize = 1 << 20;

/// A layer's features, parsed.
struct ParsedFeatures {
    n: usize,
    blocks: Vec<ParsedBlock>,
    /// The dictionary of the blocks' segments.
    dict: SharedDict,
    digest: u64,
}

/// The properties a feature is read for: the required ones, the time property, then each
/// queryable's (a name may repeat: every slot that names it gets the value).
pub(super) fn wanted_properties(spec: &CollectionSpec) -> Vec<&str> {
    let mut wanted: Vec<&str> = spec.required.iter().map(String::as_str).collect();
    wanted.extend(spec.time_property.as_deref());
    wanted.extend(spec.queryables.iter().map(|q| q.property.as_str()));
    wanted
}

pub fn load_layer(dir: &Path, spec: &Arc<CollectionSpec>) -> Result<Layer, LoadError> {
    let started = Instant::now();
    let file = spec.file.to_string();
    let path = dir.join(&spec.file);
    let phase = |name: &str| {
        tracing::debug!(
            layer = spec.id,
            ms = started.elapsed().as_millis() as u64,
            "{name}"
        )
    };
    let wanted = wanted_properties(spec);
    let read_error = |e: std::io::Error| LoadError::Read {
        file: file.clone(),
        problem: e.kind().to_string(),
    };
    let streamed = stream::stream_file(&path, spec, &wanted, STREAM_BLOCK).map_err(read_error)?;
    if streamed.is_none() {
        phase("not plain enough to stream: reading whole");
    }
    let features = match streamed {
        Some(f) => f,
        None => read_whole(&path, &file, spec, &wanted)?,
    };
    build_layer(spec, &file, features, started)
}

/// Loads a layer from the text of a GeoJSON FeatureCollection held in memory (the rows of a
/// database table, or a feature about to be written), checked exactly as a file is; `source`
/// names it in messages.
pub fn load_layer_from_text(
    text: &str,
    spec: &Arc<CollectionSpec>,
    source: &str,
) -> Result<Layer, LoadError> {
    let started = Instant::now();
    let wanted = wanted_properties(spec);
    let features = parse_whole(text, source, spec, &wanted)?;
    build_layer(spec, source, features, started)
}

/// Loads a layer from features held one GeoJSON text each (the rows of a database table),
/// checked exactly as a file's are and the same layer, digest included, as
/// [`load_layer_from_text`] of them joined into a FeatureCollection; `source` names them in
/// messages. At a million incidents, joining them first cost a 700 MB text the kernel had
/// to zero and one more scan of it for the features' bounds.
pub fn load_layer_from_features(
    features: &[&str],
    spec: &Arc<CollectionSpec>,
    source: &str,
) -> Result<Layer, LoadError> {
    let started = Instant::now();
    let wanted = wanted_properties(spec);
    let parsed = whole::parse_features(features, spec, &wanted);
    build_layer(spec, source, parsed, started)
}

/// Checks, stores and indexes parsed features.
fn build_layer(
    spec: &Arc<CollectionSpec>,
    file: &str,
    features: ParsedFeatures,
    started: Instant,
) -> Result<Layer, LoadError> {
    let phase = |name: &str| {
        tracing::debug!(
            layer = spec.id,
            ms = started.elapsed().as_millis() as u64,
            "{name}"
        )
    };
    let ParsedFeatures {
        n,
        mut blocks,
        dict,
        digest,
    } = features;
    phase("parsed");
    let feature_error = |i: usize, id: Option<&str>, problem: String| LoadError::Feature {
        file: file.to_string(),
        feature: feature_label(i, id),
        problem,
    };
    // The first feature that fails to parse; features after it are not looked at.
    let failed = blocks
        .iter()
        .find_map(|p| p.failure().map(|(i, e)| (i, e.clone())));
    let parsed_n = failed.as_ref().map_or(n, |(i, _)| *i);

    // Ids: a table of (hash, position) sorted by hash; equal ids sit together.
    let mut segments = Vec::with_capacity(blocks.len());
    let mut hashes = Vec::with_capacity(blocks.len());
    for p in &mut blocks {
        segments.push((
            std::mem::take(&mut p.segment),
            std::mem::take(&mut p.stored),
        ));
        hashes.push((p.first, std::mem::take(&mut p.id_hashes)));
        if p.error.is_some() {
            break;
        }
    }
    // The store and its ids on one side, the geometries, columns and index on the other: each
    // half has steps that run on one core.
    let unfailed = failed.is_none();
    let ((store, ids), placed) = rayon::join(
        || {
            rayon::join(
                || {
                    let store = Store::build(segments, dict);
                    tracing::debug!(layer = spec.id, bytes = store.size(), "stored");
                    store
                },
                || {
                    let ids = id_table(hashes, parsed_n);
                    phase("ids");
                    ids
                },
            )
        },
        move || unfailed.then(|| gather_columns(spec, blocks, n, &phase)),
    );
    let duplicate = first_duplicate(&ids, &store);
    let id_of = |i: usize| -> &str { store.id(i as u32) };
    if let Some(d) = duplicate.filter(|d| *d < parsed_n) {
        return Err(feature_error(
            d,
            Some(id_of(d)),
            "its id is not unique in the file".into(),
        ));
    }
    if let Some((i, e)) = failed {
        return Err(feature_error(i, e.id.as_deref(), e.problem));
    }

    let Indexed {
        shapes,
        unplaced,
        times,
        columns,
        index,
        extent,
    } = placed.expect("placed whenever every feature parsed");
    let load_ms = started.elapsed().as_millis();
    tracing::info!(
        layer = spec.id,
        features = n,
        ms = load_ms as u64,
        "layer loaded"
    );
    Ok(Layer {
        spec: Arc::clone(spec),
        store,
        ids,
        shapes,
        times,
        columns,
        index,
        unplaced,
        extent,
        load_ms,
        from_cache: false,
        digest,
        orders: Default::default(),
    })
}

/// The id lookup table of the first `n` features, `(hash of the id, position)` sorted, from
/// the blocks' hashes (each with the position of its first feature).
fn id_table(hashes: Vec<(usize, Vec<u64>)>, n: usize) -> Vec<(u64, u32)> {
    let mut ids: Vec<(u64, u32)> = Vec::with_capacity(n);
    ids.par_extend(hashes.into_par_iter().flat_map_iter(|(first, h)| {
        h.into_iter()
            .enumerate()
            .map(move |(k, h)| (h, (first + k) as u32))
    }));
    ids.retain(|(_, i)| (*i as usize) < n);
    // Stable: equal hashes keep their positions in order.
    radsort::sort_by_key(&mut ids, |(h, _)| *h);
    ids
}

/// The first position whose id an earlier feature already has (as a one-by-one check would
/// stop there), from the sorted id table.
fn first_duplicate(ids: &[(u64, u32)], store: &Store) -> Option<usize> {
    let id_of = |i: usize| -> &str { store.id(i as u32) };
    let mut duplicate: Option<usize> = None;
    let mut run = 0;
    while run < ids.len() {
        let mut end = run + 1;
        while end < ids.len() && ids[end].0 == ids[run].0 {
            end += 1;
        }
        if end - run > 1 {
            let group = &ids[run..end];
            for (a, (_, i)) in group.iter().enumerate() {
                if let Some((_, j)) = group[..a]
                    .iter()
                    .find(|(_, j)| id_of(*j as usize) == id_of(*i as usize))
                {
                    let later = (*i).max(*j) as usize;
                    duplicate = Some(duplicate.map_or(later, |d| d.min(later)));
                }
            }
        }
        run = end;
    }
    duplicate
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layer::Shapes;
    use geo::Geometry;

    #[test]
    fn features_held_one_by_one_load_as_the_collection_of_them_does() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let config = crate::catalog::config::Config::load(&root.join("data/kat.toml")).unwrap();
        let spec = config.collection("incidents").unwrap();
        let text = std::fs::read_to_string(root.join("data/incidents.geojson")).unwrap();
        let collection: serde_json::Value = serde_json::from_str(&text).unwrap();
        let texts: Vec<String> = collection["features"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.to_string())
            .collect();
        let pieces: Vec<&str> = texts.iter().map(String::as_str).collect();
        let joined = format!(
            "{{\"type\":\"FeatureCollection\",\"features\":[{}]}}",
            pieces.join(",")
        );
        let whole = load_layer_from_text(&joined, spec, "joined").unwrap();
        let held = load_layer_from_features(&pieces, spec, "held").unwrap();
        assert!(held.len() > 80);
        assert_eq!(held.len(), whole.len());
        assert_eq!(
            held.digest, whole.digest,
            "the version does not depend on how it was held"
        );
        for idx in 0..held.len() as u32 {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            held.write_feature(idx, &mut a, None);
            whole.write_feature(idx, &mut b, None);
            assert_eq!(a, b, "feature {idx}");
        }
        // A bad feature among them is named as a file's would be.
        let mut bad = pieces.clone();
        let broken = texts[3].replace("\"Point\"", "\"Pt\"");
        bad[3] = &broken;
        let e = load_layer_from_features(&bad, spec, "table kat.incidents").unwrap_err();
        assert!(e.to_string().contains("table kat.incidents"), "{e}");
    }

    #[test]
    fn a_layer_of_points_shapes_and_features_without_geometry_keeps_each_at_its_place() {
        let dir = std::env::temp_dir().join(format!("kat-mixed-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let props = r#""group":"Synthetic group","status":"controlled","source_url":"https://example.org/synthetic","as_of":"2024-05-01","synthetic":true"#;
        let square = r#"{"type":"Polygon","coordinates":[[[-72.4,18.5],[-72.3,18.5],[-72.3,18.6],[-72.4,18.6],[-72.4,18.5]]]}"#;
        let geometries = [
            square,
            r#"{"type":"Point","coordinates":[-72.0,19.0]}"#,
            "null",
            square,
            r#"{"type":"Point","coordinates":[-73.0,18.2]}"#,
        ];
        let features: Vec<String> = geometries
            .iter()
            .enumerate()
            .map(|(i, g)| {
                format!(
                    r#"{{"type":"Feature","id":"s{i}","geometry":{g},"properties":{{{props}}}}}"#
                )
            })
            .collect();
        let text = format!(
            "{{\"type\":\"FeatureCollection\",\"features\":[\n{}\n]}}\n",
            features.join(",\n")
        );
        std::fs::write(dir.join("gang_areas.geojson"), text).unwrap();
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/kat.toml");
        let config = crate::catalog::config::Config::load(&path).unwrap();
        let spec = config.collection("gang_areas").unwrap();
        let layer = load_layer(&dir, spec).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(layer.unplaced, vec![2]);
        let Shapes::Any(shapes) = &layer.shapes else {
            panic!("a layer with polygons keeps its shapes");
        };
        let kinds: Vec<&str> = shapes
            .iter()
            .map(|g| match g {
                None => "none",
                Some(Geometry::Point(_)) => "point",
                Some(Geometry::Polygon(_)) => "polygon",
                Some(_) => "other",
            })
            .collect();
        assert_eq!(kinds, ["polygon", "point", "none", "polygon", "point"]);
        // Each placed feature is found by a box around it alone, and only there.
        for (r, want) in [
            (
                crate::index::Rect::new([-72.35, 18.55], [-72.34, 18.56]),
                vec![0, 3],
            ),
            (
                crate::index::Rect::new([-72.01, 18.99], [-71.99, 19.01]),
                vec![1],
            ),
            (
                crate::index::Rect::new([-73.01, 18.19], [-72.99, 18.21]),
                vec![4],
            ),
        ] {
            let mut got = layer.index.query(&[r], None, None, 0, 10).items;
            got.sort_unstable();
            assert_eq!(got, want, "{r:?}");
        }
    }
}
