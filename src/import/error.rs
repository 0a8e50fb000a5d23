//! What can stop `kat import`.

use std::path::PathBuf;

use crate::geocode::GazetteerError;

/// An error of `kat import`; the message says which file, row and column to fix.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The gazetteer (data directory) could not be loaded.
    #[error("loading the gazetteer: {0}")]
    Gazetteer(#[from] GazetteerError),
    /// The input could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    /// The header matches none of the formats Kat reads.
    #[error(
        "{path}: unknown CSV format (header: {header}); expected Kat's incidents.csv \
         (id, location_as_reported, …), an ACLED export (event_id_cnty, …) or gang_areas.csv \
         (group, localities, …)"
    )]
    UnknownFormat { path: PathBuf, header: String },
    /// A required column is missing.
    #[error("{path}: missing column \"{column}\"")]
    MissingColumn { path: PathBuf, column: String },
    /// One cell holds a value that cannot be read.
    #[error("{path}, line {line}, column \"{column}\": {problem} (value {value:?})")]
    Cell {
        path: PathBuf,
        line: u64,
        column: String,
        value: String,
        problem: String,
    },
    /// In strict mode, rows that no name, commune or department could place.
    #[error(
        "{count} row(s) could not be placed: {ids}; add the place to \
         data/gazetteer/aliases.csv or give the row a commune or department (or drop --strict)"
    )]
    Unresolved { count: usize, ids: String },
    /// An area's geometry could not be made valid.
    #[error("area {id}: {problem}")]
    Geometry { id: String, problem: String },
    /// The output could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}
