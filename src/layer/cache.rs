//! A large layer's loaded form, kept on disk beside the data so that a restart reads it back
//! instead of parsing and validating the whole file again.
//!
//! Loading a million incidents means reading, checking and indexing some 700 MB of JSON; what
//! the layer keeps is a quarter of that. Once a layer of at least [`MIN_BYTES`] has been loaded
//! from its file and is serving, its store, ids, points, dates and filter columns are written
//! in the background to `<data>/.kat-cache/<collection>.bin`. A later load takes them from
//! there when the cache was written from the same content (the file's digest, read on every
//! core, which also decides reloads), by the same build of Kat, for the same collection
//! definition. Anything else (no cache, a stale, truncated or damaged one, a read-only
//! directory) is not an error: the layer is loaded from its file as before. The spatial index
//! is rebuilt from the points, which takes a fraction of the load.
//!
//! The file: `KATCACHE`, a header of 64-bit words (format, byte order, build, the source's
//! digest and length, the feature count, the time extent, then for each section its offset,
//! length and digest), the header's own digest, then the sections' bytes.

use super::column::{Column, Values};
use super::digest::{digest_bytes, digest_file};
use super::store::{block_for, places, Store, StoreArrays, StoreArraysRef};
use super::{CollectionSpec, Extent, Layer, Shapes};
use crate::index::SpatialIndex;
use crate::temporal::{format_instant, Interval};
use rayon::prelude::*;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

/// Layers from smaller files load from their JSON about as fast as from a cache.
pub const MIN_BYTES: u64 = 32 << 20;

/// The cache's directory, below the data directory.
pub const DIR: &str = ".kat-cache";

const MAGIC: &[u8; 8] = b"KATCACHE";
const FORMAT: u64 = 4;
/// Read back in another byte order, this word differs.
const BYTE_ORDER: u64 = 0x0102_0304_0506_0708;
/// Header words before the sections' table.
const FIXED: usize = 10;
/// Sections before the columns' and the segments'.
const FIRST: usize = 8;

static DISABLED: AtomicBool = AtomicBool::new(false);

/// The temporary files being written now, removed by [`abandon_unfinished`] when the server
/// stops before they are done: a cache is some 200 MB at a million features.
static UNFINISHED: Mutex<Unfinished> = Mutex::new(Unfinished {
    stopping: false,
    files: Vec::new(),
});

/// The writers' temporary files, and whether the server is stopping. One lock guards both, so
/// that a writer starting as the server stops either has its file removed or never creates it.
struct Unfinished {
    stopping: bool,
    files: Vec<PathBuf>,
}

/// A temporary file not written to for this long was left by a process that was killed
/// while writing it; a writer that is alive touches its file many times a second.
const STALE_AFTER: Duration = Duration::from_secs(600);

/// Neither reads nor writes caches from now on (`kat serve --no-cache`).
pub fn disable() {
    DISABLED.store(true, Ordering::Relaxed);
}

/// Removes the temporary files of the caches still being written. Called as the server
/// stops: the writers run in the background, and a stop must not leave their half-written
/// files behind. A writer still running then fails at its rename, harmlessly.
pub fn abandon_unfinished() {
    let mut unfinished = UNFINISHED.lock().unwrap_or_else(|e| e.into_inner());
    unfinished.stopping = true;
    for f in std::mem::take(&mut unfinished.files) {
        let _ = std::fs::remove_file(f);
    }
}

/// Removes `<collection>.tmp*` files in the cache directory that no one has written to for
/// [`STALE_AFTER`]: left by a process killed while writing.
fn remove_stale(cache_dir: &Path, spec: &CollectionSpec) {
    let Ok(entries) = std::fs::read_dir(cache_dir) else {
        return;
    };
    let prefix = format!("{}.tmp", spec.id);
    let now = SystemTime::now();
    for e in entries.flatten() {
        let name = e.file_name();
        if !name.to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let stale = e
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| now.duration_since(t).is_ok_and(|age| age >= STALE_AFTER));
        if stale {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

fn cache_path(dir: &Path, spec: &CollectionSpec) -> PathBuf {
    dir.join(DIR).join(format!("{}.bin", spec.id))
}

/// What a cache must have been written by: this build of Kat, for this collection definition.
fn build_id(spec: &CollectionSpec) -> u64 {
    static EXE: OnceLock<Option<(u64, std::time::SystemTime)>> = OnceLock::new();
    let exe = EXE.get_or_init(|| {
        let meta = std::fs::metadata(std::env::current_exe().ok()?).ok()?;
        Some((meta.len(), meta.modified().ok()?))
    });
    let mut h = std::collections::hash_map::DefaultHasher::new();
    FORMAT.hash(&mut h);
    env!("CARGO_PKG_VERSION").hash(&mut h);
    exe.hash(&mut h);
    format!("{spec:?}").hash(&mut h);
    h.finish()
}

/// Whether a layer from this file is worth a cache.
fn worth_caching(dir: &Path, spec: &CollectionSpec) -> Option<u64> {
    if DISABLED.load(Ordering::Relaxed) {
        return None;
    }
    let len = std::fs::metadata(dir.join(&spec.file)).ok()?.len();
    (len >= MIN_BYTES).then_some(len)
}

/// Where each section lies in the file: offset, length, digest.
type Toc = Vec<[u64; 3]>;

/// The layer kept in the cache, or None when there is none for the file as it is now.
pub(super) fn read(dir: &Path, spec: &Arc<CollectionSpec>) -> Option<Layer> {
    let source_len = worth_caching(dir, spec)?;
    let started = Instant::now();
    let path = cache_path(dir, spec);
    let file = File::open(&path).ok()?;
    let file_len = file.metadata().ok()?.len();
    let miss = |why: &str| {
        tracing::info!(layer = spec.id, "cache not used: {why}");
        None
    };
    let mut magic = [0u8; 8];
    file.read_exact_at(&mut magic, 0).ok()?;
    let mut fixed = [0u64; FIXED];
    file.read_exact_at(bytemuck::cast_slice_mut(&mut fixed), 8)
        .ok()?;
    let [format, order, build, digest, cached_len, n, has_times, tmin, tmax, sections] = fixed;
    if &magic != MAGIC || format != FORMAT || order != BYTE_ORDER || build != build_id(spec) {
        return miss("written by another version of Kat");
    }
    if cached_len != source_len {
        return miss("the file changed");
    }
    let ncol = spec.queryables.len();
    if sections > 1 << 20 || (sections as usize) < FIRST + 3 * ncol || n > u64::from(u32::MAX) {
        return miss("damaged");
    }
    let mut table = bytemuck::zeroed_vec::<u64>(3 * sections as usize + 1);
    file.read_exact_at(bytemuck::cast_slice_mut(&mut table), 8 + 8 * FIXED as u64)
        .ok()?;
    let check = table.pop()?;
    let mut header = fixed.to_vec();
    header.extend_from_slice(&table);
    if digest_bytes(bytemuck::cast_slice(&header)) != check {
        return miss("damaged");
    }
    let toc: Toc = table.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
    // The file's digest is what ties the cache to its content: computed while the sections
    // are read.
    let (current, layer) = rayon::join(
        || digest_file(&dir.join(&spec.file)),
        || assemble(spec, &file, file_len, &toc, n as usize, has_times != 0),
    );
    if current != Some(digest) {
        return miss("the file changed");
    }
    let Some(mut layer) = layer else {
        return miss("damaged");
    };
    layer.digest = digest;
    if has_times != 0 && tmin <= tmax {
        layer.extent.interval = Some((format_instant(tmin as i64), format_instant(tmax as i64)));
    }
    layer.load_ms = started.elapsed().as_millis();
    tracing::info!(
        layer = spec.id,
        features = n,
        ms = layer.load_ms as u64,
        "layer loaded from the cache"
    );
    Some(layer)
}

/// One section, read into a vector of its type and checked against its digest.
fn section<T: bytemuck::Pod>(file: &File, file_len: u64, entry: &[u64; 3]) -> Option<Vec<T>> {
    let [offset, len, digest] = *entry;
    let size = std::mem::size_of::<T>() as u64;
    if len % size != 0 || offset.checked_add(len)? > file_len {
        return None;
    }
    let mut v = bytemuck::zeroed_vec::<T>((len / size) as usize);
    file.read_exact_at(bytemuck::cast_slice_mut(&mut v), offset)
        .ok()?;
    (digest_bytes(bytemuck::cast_slice(&v)) == digest).then_some(v)
}

/// Sections read one after another into one block (the store's segments), each checked
/// against its digest, on every core; the block and where each section starts in it.
fn sections_joined(
    file: &File,
    file_len: u64,
    entries: &[[u64; 3]],
) -> Option<(Vec<u8>, Vec<usize>)> {
    let mut lens = Vec::with_capacity(entries.len());
    let mut total = 0u64;
    for [offset, len, _] in entries {
        total = total.checked_add(*len)?;
        // Sections lie apart in the file: together they cannot be longer than it.
        if offset.checked_add(*len)? > file_len || total > file_len {
            return None;
        }
        lens.push(usize::try_from(*len).ok()?);
    }
    let (mut bytes, starts) = block_for(lens.into_iter());
    let read = places(&mut bytes, &starts)
        .into_par_iter()
        .zip(entries.par_iter())
        .all(|(to, [offset, _, digest])| {
            file.read_exact_at(to, *offset).is_ok() && digest_bytes(to) == *digest
        });
    read.then_some((bytes, starts))
}

/// The layer from the cache's sections, every part checked against the others.
fn assemble(
    spec: &Arc<CollectionSpec>,
    file: &File,
    file_len: u64,
    toc: &Toc,
    n: usize,
    has_times: bool,
) -> Option<Layer> {
    let ncol = spec.queryables.len();
    let sec = |k: usize| &toc[k];
    // The segments hold most of the bytes: read on every core, with the rest beside them.
    let (segments, rest) = rayon::join(
        || sections_joined(file, file_len, &toc[FIRST + 3 * ncol..]),
        || {
            let dict_text = section::<u8>(file, file_len, sec(0))?;
            let dict_ends = section::<u32>(file, file_len, sec(1))?;
            let records = section::<[u32; 3]>(file, file_len, sec(2))?;
            let hashes = section::<u64>(file, file_len, sec(3))?;
            let positions = section::<u32>(file, file_len, sec(4))?;
            let points = section::<[f64; 2]>(file, file_len, sec(5))?;
            let times = section::<[i64; 2]>(file, file_len, sec(6))?;
            let unplaced = section::<u32>(file, file_len, sec(7))?;
            let mut columns = Vec::with_capacity(ncol);
            for (c, q) in spec.queryables.iter().enumerate() {
                let k = FIRST + 3 * c;
                let text = section::<u8>(file, file_len, sec(k))?;
                let ends = section::<u32>(file, file_len, sec(k + 1))?;
                let codes = section::<u32>(file, file_len, sec(k + 2))?;
                let text = std::str::from_utf8(&text).ok()?;
                let mut texts: Vec<Box<str>> = Vec::with_capacity(ends.len());
                let mut from = 0;
                for end in ends {
                    texts.push(text.get(from..end as usize)?.into());
                    from = end as usize;
                }
                let distinct = texts.len() as u32;
                if codes.len() != n || codes.iter().any(|c| *c != u32::MAX && *c >= distinct) {
                    return None;
                }
                columns.push(Column {
                    values: Values::from_texts(q.kind, texts)?,
                    codes,
                });
            }
            Some((
                dict_text, dict_ends, records, hashes, positions, points, times, unplaced, columns,
            ))
        },
    );
    let (dict_text, dict_ends, records, hashes, positions, points, times, unplaced, columns) =
        rest?;
    let (bytes, starts) = segments?;
    let store = Store::from_arrays(StoreArrays {
        bytes,
        starts,
        dict_text,
        dict_ends,
        records,
    })?;
    let fits = store.len() == n
        && hashes.len() == n
        && positions.len() == n
        && points.len() == n
        && times.len() == if has_times { n } else { 0 }
        && positions.iter().all(|p| (*p as usize) < n)
        && unplaced.iter().all(|p| (*p as usize) < n);
    if !fits {
        return None;
    }
    let ids = hashes.into_iter().zip(positions).collect();
    let placed = points.par_iter().filter(|p| !p[0].is_nan()).count();
    if placed + unplaced.len() != n {
        return None;
    }
    let index = SpatialIndex::from_points(&points);
    let extent = Extent {
        bbox: index.bbox(),
        interval: None,
    };
    Some(Layer {
        spec: Arc::clone(spec),
        store,
        ids,
        shapes: Shapes::Points(points),
        times: has_times.then(|| {
            times
                .into_iter()
                .map(|[start, end]| Interval { start, end })
                .collect()
        }),
        columns,
        index,
        unplaced,
        extent,
        load_ms: 0,
        from_cache: true,
        digest: 0,
        orders: Default::default(),
    })
}

/// Writes the layer's cache in the background, when its file is large enough to be worth one.
pub(super) fn save_later(dir: &Path, layer: &Arc<Layer>) {
    let Some(source_len) = worth_caching(dir, &layer.spec) else {
        return;
    };
    if !matches!(layer.shapes, Shapes::Points(_)) {
        return;
    }
    let id = layer.spec.id.clone();
    let (dir, layer) = (dir.to_path_buf(), Arc::clone(layer));
    let spawned = std::thread::Builder::new()
        .name("kat-cache".into())
        .spawn(move || {
            let started = Instant::now();
            match save(&dir, &layer, source_len) {
                Ok(bytes) => tracing::info!(
                    layer = layer.spec.id,
                    bytes,
                    ms = started.elapsed().as_millis() as u64,
                    "cache written"
                ),
                Err(e) => tracing::info!(
                    layer = layer.spec.id,
                    "cache not written ({}): {e}",
                    dir.join(DIR).display()
                ),
            }
        });
    if let Err(e) = spawned {
        tracing::info!(layer = id, "cache not written: {e}");
    }
}

/// Writes the cache beside a temporary name, then renames it into place; the bytes written.
fn save(dir: &Path, layer: &Layer, source_len: u64) -> std::io::Result<u64> {
    let Shapes::Points(points) = &layer.shapes else {
        return Ok(0);
    };
    let StoreArraysRef {
        segments,
        dict_text,
        dict_ends,
        records,
    } = layer.store.arrays();
    let hashes: Vec<u64> = layer.ids.iter().map(|(h, _)| *h).collect();
    let positions: Vec<u32> = layer.ids.iter().map(|(_, p)| *p).collect();
    let times: Vec<[i64; 2]> = layer
        .times
        .iter()
        .flatten()
        .map(|t| [t.start, t.end])
        .collect();
    let (tmin, tmax) = layer
        .times
        .iter()
        .flatten()
        .filter(|t| *t != &Interval::ALL)
        .fold((i64::MAX, i64::MIN), |(lo, hi), t| {
            (lo.min(t.start), hi.max(t.end))
        });
    let mut columns: Vec<(Vec<u8>, Vec<u32>)> = Vec::new();
    for col in &layer.columns {
        let mut text = Vec::new();
        let mut ends = Vec::with_capacity(col.values.len());
        for v in col.values.texts() {
            text.extend_from_slice(v.as_bytes());
            ends.push(text.len() as u32);
        }
        columns.push((text, ends));
    }
    let mut parts: Vec<&[u8]> = vec![
        dict_text,
        bytemuck::cast_slice(dict_ends),
        bytemuck::cast_slice(&records),
        bytemuck::cast_slice(&hashes),
        bytemuck::cast_slice(&positions),
        bytemuck::cast_slice(points),
        bytemuck::cast_slice(&times),
        bytemuck::cast_slice(&layer.unplaced),
    ];
    for ((text, ends), col) in columns.iter().zip(&layer.columns) {
        parts.push(text);
        parts.push(bytemuck::cast_slice(ends));
        parts.push(bytemuck::cast_slice(&col.codes));
    }
    parts.extend(segments.iter().copied());
    let has_times = layer.times.is_some();
    let mut header = vec![
        FORMAT,
        BYTE_ORDER,
        build_id(&layer.spec),
        layer.digest,
        source_len,
        layer.len() as u64,
        u64::from(has_times),
        tmin as u64,
        tmax as u64,
        parts.len() as u64,
    ];
    let digests: Vec<u64> = parts.par_iter().map(|p| digest_bytes(p)).collect();
    let mut offset = (8 + 8 * (header.len() + 3 * parts.len() + 1)) as u64;
    for (p, d) in parts.iter().zip(&digests) {
        header.extend_from_slice(&[offset, p.len() as u64, *d]);
        offset += p.len() as u64;
    }
    header.push(digest_bytes(bytemuck::cast_slice(&header)));

    let path = cache_path(dir, &layer.spec);
    let cache_dir = path.parent().expect("below the data directory");
    std::fs::create_dir_all(cache_dir)?;
    remove_stale(cache_dir, &layer.spec);
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let file = {
        let mut unfinished = UNFINISHED.lock().unwrap_or_else(|e| e.into_inner());
        if unfinished.stopping {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Interrupted,
                "the server is stopping",
            ));
        }
        let file = File::create(&tmp)?;
        unfinished.files.push(tmp.clone());
        file
    };
    let written = (|| {
        let mut out = std::io::BufWriter::with_capacity(1 << 20, file);
        out.write_all(MAGIC)?;
        out.write_all(bytemuck::cast_slice(&header))?;
        for p in &parts {
            out.write_all(p)?;
        }
        out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    UNFINISHED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .files
        .retain(|f| f != &tmp);
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map(|()| offset)
}
