//! The catalogue of layers: declared in `kat.toml` ([`config`]), loaded from the data
//! directory into a [`Snapshot`], and reloaded when the files change ([`watch`]). It knows
//! nothing of HTTP: the API reads the snapshot that [`Catalog::snapshot`] hands out, and a
//! reload says what it did in a [`Reloaded`] or a [`ReloadError`], for the API to report.
//!
//! A reload loads everything again off the request path, reusing the layers whose file and
//! declaration did not change, and swaps the new snapshot in whole: a bad file or a bad config
//! leaves the old data serving.

pub mod config;
pub mod tables;
pub mod watch;

use crate::geocode::Gazetteer;
use crate::layer::{open_layer, CollectionSpec, Layer, LoadError};
use arc_swap::ArcSwap;
use bytes::Bytes;
use config::{Config, ConfigError};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Everything loaded from the data directory: what one reload replaces.
#[derive(Debug)]
pub struct Snapshot {
    pub config: Arc<Config>,
    /// The layers, in the order the config declares them.
    pub layers: Vec<Arc<Layer>>,
    /// A digest of the config and of the layers' contents, for ETags and `/health`.
    pub version: String,
    pub loaded_at: String,
    pub gazetteer: Arc<Gazetteer>,
    /// The simplified copies of layers for the map, by collection id.
    pub simplified: HashMap<String, Bytes>,
    /// For a collection held in the database, each feature's revision by its position in the
    /// layer: what its ETag says, and what `If-Match` compares with.
    pub revisions: HashMap<String, Arc<[i64]>>,
    /// A digest of the files each part was built from, so that a reload rebuilds only what
    /// changed.
    sources: Sources,
}

/// Why a snapshot could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Layer(#[from] LoadError),
    #[error(transparent)]
    Gazetteer(#[from] crate::geocode::GazetteerError),
    #[error("{file}: cannot read the file: {source}")]
    Simplified {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "collection \"{collection}\" names table \"{table}\", which this server did not open \
         at start: restart it to serve a table added to the config"
    )]
    TableNotOpen { collection: String, table: String },
    #[error(
        "{config}: collection \"{collection}\": queryables.{queryable}: no feature of {file} has \
         a value for the property \"{property}\""
    )]
    QueryableUnused {
        config: String,
        collection: String,
        queryable: String,
        property: String,
        file: String,
    },
}

/// The gazetteer is built from every file below these folders of the data directory.
const GAZETTEER_DIRS: &[&str] = &["admin", "gazetteer"];

/// Content digests of the data files, by the part of the snapshot built from them. A part
/// whose files changed while it was being read has no digest, so that it is always rebuilt.
#[derive(Debug, Default, Clone, PartialEq)]
struct Sources {
    layers: HashMap<String, u64>,
    gazetteer: Option<u64>,
}

fn digest_bytes(bytes: &[u8], h: &mut impl Hasher) {
    bytes.len().hash(h);
    h.write(bytes);
}

/// The digest of every file below `dirs` (names and contents, in a fixed order).
fn digest_tree(root: &Path, dirs: &[&str]) -> Option<u64> {
    fn walk(dir: &Path, rel: &str, h: &mut impl Hasher) -> Option<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(Result::ok)
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let name = format!("{rel}/{}", e.file_name().to_string_lossy());
            let kind = e.file_type().ok()?;
            if kind.is_dir() {
                walk(&e.path(), &name, h)?;
            } else {
                name.hash(h);
                digest_bytes(&std::fs::read(e.path()).ok()?, h);
            }
        }
        Some(())
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for d in dirs {
        walk(&root.join(d), d, &mut h)?;
    }
    Some(h.finish())
}

impl Sources {
    /// The digests of the files as they are now; the layers' only when `layers` (a reload
    /// compares them with the loaded layers' to reuse those that did not change).
    fn read(dir: &Path, config: &Config, layers: bool) -> Sources {
        let (layers, gazetteer) = rayon::join(
            || {
                if !layers {
                    return HashMap::new();
                }
                config
                    .collections
                    .iter()
                    .filter_map(|spec| {
                        Some((
                            spec.file.clone(),
                            crate::layer::digest_file(&dir.join(&spec.file))?,
                        ))
                    })
                    .collect()
            },
            || digest_tree(dir, GAZETTEER_DIRS),
        );
        Sources { layers, gazetteer }
    }

    /// The digests of what was loaded: each layer's from the very bytes it was built from
    /// (so it cannot disagree with them), the gazetteer's only if its files did not change
    /// between `self` (read before loading) and `after` (read after).
    fn stable(mut self, layers: &[Arc<Layer>], after: &Sources) -> Sources {
        self.layers = layers
            .iter()
            .map(|l| (l.spec.file.clone(), l.digest))
            .collect();
        if self.gazetteer != after.gazetteer {
            self.gazetteer = None;
        }
        self
    }

    /// The data version: a digest of the declarations and of the layers' contents.
    fn version(&self, config: &Config) -> String {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for spec in &config.collections {
            declaration(spec).hash(&mut h);
            self.layers.get(&spec.file).hash(&mut h);
        }
        format!("{:016x}", h.finish())
    }
}

/// What of a collection's declaration a loaded layer depends on (not where it stands in the
/// config).
fn declaration(spec: &CollectionSpec) -> String {
    let mut s = spec.clone();
    s.line = 0;
    format!("{s:?}")
}

impl Snapshot {
    /// Loads and validates the config and every file it names; nothing is served unless all
    /// of it loads.
    pub fn load(dir: &Path, config_path: &Path) -> Result<Snapshot, SnapshotError> {
        Snapshot::load_reusing(dir, config_path, None, None)
    }

    /// The revision of feature `idx` of collection `id`, when the database holds it.
    pub fn revision(&self, id: &str, idx: u32) -> Option<i64> {
        self.revisions.get(id)?.get(idx as usize).copied()
    }

    /// This snapshot with some layers replaced (those whose collection id matches).
    fn with_layers(&self, fresh: Vec<(Arc<Layer>, Arc<[i64]>)>) -> Snapshot {
        let mut layers = self.layers.clone();
        let mut revisions = self.revisions.clone();
        let mut sources = self.sources.clone();
        for (layer, revs) in fresh {
            if let Some(slot) = layers.iter_mut().find(|l| l.id() == layer.id()) {
                sources.layers.insert(layer.spec.file.clone(), layer.digest);
                revisions.insert(layer.id().to_string(), revs);
                *slot = layer;
            }
        }
        Snapshot {
            config: Arc::clone(&self.config),
            layers,
            version: sources.version(&self.config),
            loaded_at: crate::temporal::now_rfc3339(),
            gazetteer: Arc::clone(&self.gazetteer),
            simplified: self.simplified.clone(),
            revisions,
            sources,
        }
    }

    /// The layer of the collection `id`.
    pub fn layer(&self, id: &str) -> Option<&Arc<Layer>> {
        self.layers.iter().find(|l| l.id() == id)
    }

    /// Loads the data directory again, reusing the parts of `previous` whose files and
    /// declarations have not changed, and validating every part that did.
    fn load_reusing(
        dir: &Path,
        config_path: &Path,
        previous: Option<&Snapshot>,
        tables: Option<&tables::Tables>,
    ) -> Result<Snapshot, SnapshotError> {
        use rayon::prelude::*;
        let config = Config::load(config_path)?;
        config.check_files(dir, tables.is_some())?;
        let from_table = |spec: &CollectionSpec| tables.is_some() && spec.table.is_some();
        let before = Sources::read(dir, &config, previous.is_some());
        let reuse_layer = |spec: &Arc<CollectionSpec>| -> Option<Arc<Layer>> {
            let prev = previous?;
            let digest = before.layers.get(&spec.file)?;
            let layer = prev.layer(&spec.id)?;
            (prev.sources.layers.get(&spec.file) == Some(digest)
                && declaration(&layer.spec) == declaration(spec))
            .then(|| Arc::clone(layer))
        };
        let reuse_gazetteer = previous
            .filter(|p| before.gazetteer.is_some() && p.sources.gazetteer == before.gazetteer)
            .map(|p| Arc::clone(&p.gazetteer));
        let (layers, gazetteer) = rayon::join(
            || -> Result<Vec<Arc<Layer>>, SnapshotError> {
                config
                    .collections
                    .par_iter()
                    .map(|spec| match (tables, reuse_layer(spec)) {
                        (Some(t), _) if from_table(spec) => t.layer(spec).map(|(l, _)| l),
                        (_, Some(layer)) => Ok(layer),
                        _ => open_layer(dir, spec).map_err(SnapshotError::from),
                    })
                    .collect()
            },
            || match reuse_gazetteer {
                Some(g) => Ok(g),
                None => Gazetteer::load(dir).map(Arc::new),
            },
        );
        let layers = layers?;
        let gazetteer = gazetteer?;
        for layer in &layers {
            check_queryables_used(&config, layer)?;
        }
        let mut simplified = HashMap::new();
        for spec in &config.collections {
            if let Some(file) = &spec.simplified {
                let bytes =
                    std::fs::read(dir.join(file)).map_err(|source| SnapshotError::Simplified {
                        file: file.clone(),
                        source,
                    })?;
                simplified.insert(spec.id.clone(), Bytes::from(bytes));
            }
        }
        let mut revisions = HashMap::new();
        if let Some(t) = tables {
            for spec in config.collections.iter().filter(|s| from_table(s)) {
                // Built just above: this hands back the same layer's revisions.
                revisions.insert(spec.id.clone(), t.layer(spec)?.1);
            }
        }
        let sources = before.stable(&layers, &Sources::read(dir, &config, false));
        let version = sources.version(&config);
        Ok(Snapshot {
            config: Arc::new(config),
            layers,
            version,
            loaded_at: crate::temporal::now_rfc3339(),
            gazetteer,
            simplified,
            revisions,
            sources,
        })
    }
}

/// A queryable that no feature has a value for is most often a misspelt property.
fn check_queryables_used(config: &Config, layer: &Layer) -> Result<(), SnapshotError> {
    if layer.is_empty() {
        return Ok(());
    }
    for (q, queryable) in layer.spec.queryables.iter().enumerate() {
        let column = layer.column(q);
        if column.values.is_empty() {
            return Err(SnapshotError::QueryableUnused {
                config: config.path.display().to_string(),
                collection: layer.spec.id.clone(),
                queryable: queryable.name.clone(),
                property: queryable.property.clone(),
                file: layer.spec.file.clone(),
            });
        }
    }
    Ok(())
}

/// The outcome of the last reload, for `/health`.
#[derive(Debug, Default, Clone)]
pub struct ReloadStatus {
    pub last_reload: Option<String>,
    pub last_error: Option<String>,
    pub reloads: u64,
    pub failures: u64,
}

/// A reload that was swapped in.
#[derive(Debug, Clone)]
pub struct Reloaded {
    /// Whether the data version changed.
    pub changed: bool,
}

/// A reload that was refused; the previous data keeps serving.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ReloadError {
    /// What was wrong, with file names relative to the data directory.
    pub message: String,
}

/// The snapshot being served, and how to replace it.
pub struct Catalog {
    current: ArcSwap<Snapshot>,
    pub data_dir: PathBuf,
    /// The config file: `kat.toml` in the data directory unless named on the command line.
    pub config_path: PathBuf,
    status: Mutex<ReloadStatus>,
    /// Held for a whole reload, so that two reloads (a file change and a SIGHUP) never
    /// overlap and an older load can never be swapped in after a newer one.
    reloading: Mutex<()>,
    /// The collections held in PostgreSQL, when Kat serves with a database.
    pub tables: Option<Arc<tables::Tables>>,
}

impl Catalog {
    /// Loads the data directory with the config at `config_path`.
    pub fn open(data_dir: PathBuf, config_path: PathBuf) -> Result<Catalog, SnapshotError> {
        let snapshot = Snapshot::load(&data_dir, &config_path)?;
        Ok(Catalog::with_snapshot(snapshot, data_dir, config_path))
    }

    /// Loads the data directory, taking the collections that have a table from `tables`.
    pub fn open_with_tables(
        data_dir: PathBuf,
        config_path: PathBuf,
        tables: Arc<tables::Tables>,
    ) -> Result<Catalog, SnapshotError> {
        let snapshot = Snapshot::load_reusing(&data_dir, &config_path, None, Some(&tables))?;
        let mut catalog = Catalog::with_snapshot(snapshot, data_dir, config_path);
        catalog.tables = Some(tables);
        Ok(catalog)
    }

    /// Swaps in the layers of the tables that changed since they were last built. A table
    /// whose features no longer load keeps its previous layer, and the error is reported as a
    /// reload's would be.
    pub fn refresh_tables(&self) -> Result<Reloaded, ReloadError> {
        let Some(tables) = &self.tables else {
            return Ok(Reloaded { changed: false });
        };
        if !tables.dirty() {
            return Ok(Reloaded { changed: false });
        }
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.snapshot();
        let mut fresh = Vec::new();
        let mut failure = None;
        for layer in old.layers.iter().filter(|l| l.spec.table.is_some()) {
            match tables.layer(&layer.spec) {
                Ok(built) => fresh.push(built),
                Err(e) => failure = Some(e.to_string()),
            }
        }
        let snapshot = old.with_layers(fresh);
        let changed = snapshot.version != old.version;
        self.current.store(Arc::new(snapshot));
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        status.last_reload = Some(crate::temporal::now_rfc3339());
        match failure {
            None => Ok(Reloaded { changed }),
            Some(message) => {
                status.failures += 1;
                status.last_error = Some(message.clone());
                tracing::error!(error = %message, "a table no longer loads; its previous layer keeps serving");
                Err(ReloadError { message })
            }
        }
    }

    /// A catalogue serving `snapshot`, reloading from `data_dir` and `config_path`.
    pub fn with_snapshot(snapshot: Snapshot, data_dir: PathBuf, config_path: PathBuf) -> Catalog {
        Catalog {
            current: ArcSwap::from_pointee(snapshot),
            data_dir,
            config_path,
            status: Mutex::new(ReloadStatus::default()),
            reloading: Mutex::new(()),
            tables: None,
        }
    }

    /// The data as it is now; hold it for the whole request, so that a reload in the middle
    /// of it never mixes two versions.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    pub fn status(&self) -> ReloadStatus {
        self.status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_else(|e| e.into_inner().clone())
    }

    /// Loads a fresh copy of the data directory and swaps it in whole, or keeps the old one
    /// and records why. Files that did not change are not read into new layers again.
    pub fn reload(&self) -> Result<Reloaded, ReloadError> {
        let _one_at_a_time = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.snapshot();
        let result = Snapshot::load_reusing(
            &self.data_dir,
            &self.config_path,
            Some(&old),
            self.tables.as_deref(),
        );
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        status.last_reload = Some(crate::temporal::now_rfc3339());
        match result {
            Ok(snapshot) => {
                let changed = snapshot.version != old.version;
                self.current.store(Arc::new(snapshot));
                status.reloads += 1;
                status.last_error = None;
                tracing::info!(changed, "data reloaded");
                Ok(Reloaded { changed })
            }
            Err(e) => {
                let mut message = relative_to(&e.to_string(), &self.data_dir);
                if let Some(dir) = self.config_path.parent() {
                    message = relative_to(&message, dir);
                }
                status.failures += 1;
                status.last_error = Some(message.clone());
                tracing::error!(error = %message, "reload refused; the previous data keeps serving");
                Err(ReloadError { message })
            }
        }
    }
}

/// `msg` with every mention of the data directory's path removed, so that file names read
/// relative to it: `/srv/kat/data/admin/communes.geojson` becomes `admin/communes.geojson`.
/// Messages reach `/health`, which must not show where Kat is installed.
pub fn relative_to(msg: &str, dir: &Path) -> String {
    let mut prefixes: Vec<String> = vec![dir.display().to_string()];
    if let Ok(abs) = std::fs::canonicalize(dir) {
        prefixes.push(abs.display().to_string());
    }
    if let Ok(cwd) = std::env::current_dir() {
        prefixes.push(cwd.join(dir).display().to_string());
    }
    // Longest first, so that a longer form is not left half-stripped by a shorter one.
    prefixes.sort_by_key(|p| std::cmp::Reverse(p.len()));
    const BOUNDARY: [char; 6] = [' ', '"', '\'', '(', '`', '='];
    let mut out = msg.to_string();
    for prefix in &prefixes {
        let prefix = prefix.trim_end_matches('/');
        if prefix.is_empty() {
            continue;
        }
        let mut result = String::with_capacity(out.len());
        let mut i = 0;
        while let Some(found) = out[i..].find(prefix) {
            let at = i + found;
            let end = at + prefix.len();
            let starts_a_path = at == 0 || out[..at].ends_with(BOUNDARY);
            if starts_a_path && out[end..].starts_with('/') {
                result.push_str(&out[i..at]);
                i = end + 1;
            } else {
                result.push_str(&out[i..end]);
                i = end;
            }
        }
        result.push_str(&out[i..]);
        out = result;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::relative_to;
    use std::path::Path;

    #[test]
    fn reload_errors_name_files_relative_to_the_data_directory() {
        let dir = Path::new("/srv/kat/data");
        assert_eq!(
            relative_to(
                "cannot read /srv/kat/data/admin/communes.geojson: not found",
                dir
            ),
            "cannot read admin/communes.geojson: not found"
        );
        assert_eq!(
            relative_to("/srv/kat/data/x.csv, row 3", dir),
            "x.csv, row 3"
        );
        let rel = Path::new("data");
        assert_eq!(
            relative_to("data/admin/a.geojson and metadata/b", rel),
            "admin/a.geojson and metadata/b"
        );
    }
}
