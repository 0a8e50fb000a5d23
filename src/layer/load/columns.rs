//! The parsed blocks joined into the layer's arrays: its shapes or points, the dates, one
//! typed column per queryable (each distinct value folded once), and the spatial index.

use super::block::ParsedBlock;
use crate::catalog::config::CollectionSpec;
use crate::index::SpatialIndex;
use crate::layer::column::{Column, Values};
use crate::layer::{Extent, Shapes};
use crate::temporal::{format_instant, Interval};
use geo::{BoundingRect, Geometry};
use std::collections::HashMap;

/// A layer's features placed: their shapes, index and extent, dates and filter columns.
pub(super) struct Indexed {
    pub(super) shapes: Shapes,
    pub(super) unplaced: Vec<u32>,
    pub(super) times: Option<Vec<Interval>>,
    pub(super) columns: Vec<Column>,
    pub(super) index: SpatialIndex,
    pub(super) extent: Extent,
}

/// Gathers the blocks' geometries, dates and filter values into the layer's columns (each
/// distinct value folded once) and indexes the geometries.
pub(super) fn gather_columns(
    spec: &CollectionSpec,
    mut blocks: Vec<ParsedBlock>,
    n: usize,
    phase: &(dyn Fn(&str) + Sync),
) -> Indexed {
    let all_points = blocks.iter().all(|p| p.shapes.is_empty());
    let mut points: Vec<[f64; 2]> = Vec::new();
    let mut shapes: Vec<Option<Geometry<f64>>> = Vec::new();
    // A layer of points is indexed from its points; others from their shapes' boxes.
    let mut boxes: Vec<[f64; 4]> = Vec::new();
    let mut positions: Vec<u32> = Vec::new();
    let mut unplaced = Vec::new();
    let mut times = spec.time_property.as_ref().map(|_| Vec::with_capacity(n));
    // The columns' dictionaries first, block by block in order: distinct values are few. Each
    // distinct text gets one code for the layer.
    let ncol = spec.queryables.len();
    let mut texts: Vec<Vec<Box<str>>> = vec![Vec::new(); ncol];
    let mut codes_of: Vec<HashMap<Box<str>, u32>> = vec![HashMap::new(); ncol];
    let mut block_codes: Vec<Vec<Vec<u32>>> = vec![Vec::with_capacity(blocks.len()); ncol];
    for block in &blocks {
        for c in 0..ncol {
            let global: Vec<u32> = block.distinct[c]
                .iter()
                .map(|v| match codes_of[c].get(v) {
                    Some(code) => *code,
                    None => {
                        let code = texts[c].len() as u32;
                        texts[c].push(v.clone());
                        codes_of[c].insert(v.clone(), code);
                        code
                    }
                })
                .collect();
            block_codes[c].push(global);
        }
    }
    drop(codes_of);
    let mut columns: Vec<Column> = spec
        .queryables
        .iter()
        .zip(texts)
        .map(|(q, texts)| Column {
            // Every text was checked against the type as it was read.
            values: Values::from_texts(q.kind, texts).unwrap_or(Values::Integer(Vec::new())),
            codes: Vec::with_capacity(n),
        })
        .collect();
    let tmin = blocks.iter().map(|p| p.tmin).min().unwrap_or(i64::MAX);
    let tmax = blocks.iter().map(|p| p.tmax).max().unwrap_or(i64::MIN);
    let mut block_shapes: Vec<_> = blocks
        .iter_mut()
        .map(|p| std::mem::take(&mut p.shapes))
        .collect();
    // Then each array joined from the blocks on its own core: they are copies into fresh
    // memory, where each page's first touch costs more than the copy.
    let blocks = &blocks;
    rayon::scope(|scope| {
        scope.spawn(|_| {
            if all_points {
                points.reserve(n);
                for block in blocks {
                    points.extend_from_slice(&block.points);
                }
                unplaced.extend(
                    points
                        .iter()
                        .enumerate()
                        .filter(|(_, p)| p[0].is_nan())
                        .map(|(i, _)| i as u32),
                );
                return;
            }
            shapes.reserve(n);
            boxes.reserve(n);
            positions.reserve(n);
            for (block, block_shapes) in blocks.iter().zip(block_shapes.iter_mut()) {
                let placed = |k: usize| (block.first + k) as u32;
                let mut others = std::mem::take(block_shapes).into_iter().peekable();
                for (k, pt) in block.points.iter().enumerate() {
                    let idx = placed(k);
                    if let Some((_, g)) = others.next_if(|(j, _)| *j as usize == k) {
                        let r = g.bounding_rect().expect("checked when parsed");
                        boxes.push([r.min().x, r.min().y, r.max().x, r.max().y]);
                        positions.push(idx);
                        shapes.push(Some(*g));
                    } else if pt[0].is_nan() {
                        unplaced.push(idx);
                        shapes.push(None);
                    } else {
                        boxes.push([pt[0], pt[1], pt[0], pt[1]]);
                        positions.push(idx);
                        shapes.push(Some(Geometry::Point(geo::Point::new(pt[0], pt[1]))));
                    }
                }
            }
        });
        if let Some(times) = times.as_mut() {
            scope.spawn(move |_| {
                for block in blocks {
                    times.extend_from_slice(&block.times);
                }
            });
        }
        for (c, (col, globals)) in columns.iter_mut().zip(&block_codes).enumerate() {
            scope.spawn(move |_| {
                for (block, global) in blocks.iter().zip(globals) {
                    col.codes.extend(block.codes[c].iter().map(|l| {
                        if *l == u32::MAX {
                            u32::MAX
                        } else {
                            global[*l as usize]
                        }
                    }));
                }
            });
        }
    });
    phase("columns");
    let index = if all_points {
        SpatialIndex::from_points(&points)
    } else {
        SpatialIndex::from_boxes(boxes, positions)
    };
    phase("indexed");
    let extent = Extent {
        bbox: index.bbox(),
        interval: (tmin <= tmax).then(|| (format_instant(tmin), format_instant(tmax))),
    };
    let shapes = if all_points {
        Shapes::Points(points)
    } else {
        Shapes::Any(shapes)
    };
    Indexed {
        shapes,
        unplaced,
        times,
        columns,
        index,
        extent,
    }
}
