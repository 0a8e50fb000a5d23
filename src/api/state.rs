//! What every worker shares: the catalogue, the web map's files and the metrics.

use crate::catalog::{Catalog, ReloadError, Reloaded, Snapshot};
use crate::database::Database;
use std::path::PathBuf;
use std::sync::Arc;

/// Shared by every worker: the catalogue, the web map's files and the metrics.
pub struct State {
    pub catalog: Catalog,
    pub static_dir: PathBuf,
    pub metrics: crate::metrics::Metrics,
    /// Whether reads need a token too (`--private`).
    pub private: bool,
    /// Accounts of recent readers, with `--private`.
    pub readers: crate::database::tokens::TokenCache,
    /// Rendered tiles and aggregates.
    pub rendered: crate::tiles::cache::Rendered,
}

/// The memory rendered tiles and aggregates may take.
const RENDERED_BYTES: usize = 64 << 20;

impl State {
    pub fn new(catalog: Catalog, static_dir: PathBuf) -> State {
        let metrics = crate::metrics::Metrics::new();
        metrics.set_features(feature_counts(&catalog.snapshot()));
        State {
            catalog,
            static_dir,
            metrics,
            private: false,
            readers: Default::default(),
            rendered: crate::tiles::cache::Rendered::new(RENDERED_BYTES),
        }
    }

    /// The data as it is now; hold it for the whole request.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.catalog.snapshot()
    }

    /// The database, when Kat serves with one.
    pub fn database(&self) -> Option<&Database> {
        self.catalog.tables.as_ref().map(|t| &t.db)
    }

    /// Reloads the catalogue and counts the outcome in the metrics.
    pub fn reload(&self) -> Result<Reloaded, ReloadError> {
        self.counted(self.catalog.reload())
    }

    /// Swaps in the tables' changes and counts the outcome in the metrics.
    pub fn refresh_tables(&self) -> Result<Reloaded, ReloadError> {
        self.counted(self.catalog.refresh_tables())
    }

    fn counted(&self, result: Result<Reloaded, ReloadError>) -> Result<Reloaded, ReloadError> {
        match &result {
            Ok(_) => {
                self.metrics
                    .set_features(feature_counts(&self.catalog.snapshot()));
                self.metrics.reloads.inc();
            }
            Err(_) => {
                self.metrics.reload_failures.inc();
            }
        }
        result
    }
}

fn feature_counts(snapshot: &Snapshot) -> impl Iterator<Item = (&str, usize)> {
    snapshot.layers.iter().map(|l| (l.id(), l.len()))
}
