//! What can go wrong while loading the gazetteer. Each variant names the file and, where
//! there is one, the row or feature, so that a broken data file can be fixed by reading
//! the message alone.

use std::path::PathBuf;

/// An error met while loading the gazetteer from the data directory.
#[derive(Debug, thiserror::Error)]
pub enum GazetteerError {
    /// A data file could not be read at all.
    #[error("cannot read {path}: {source} (is --data pointing at Kat's data directory?)")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A GeoJSON file is not valid JSON or not a FeatureCollection.
    #[error("{path} is not a GeoJSON FeatureCollection: {message}")]
    NotGeoJson { path: PathBuf, message: String },
    /// One feature of a boundary file is unusable.
    #[error("{path}, feature {index} ({pcode}): {problem}")]
    Feature {
        path: PathBuf,
        index: usize,
        pcode: String,
        problem: String,
    },
    /// A CSV file could not be parsed.
    #[error("{path}: {source}")]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    /// One CSV row is unusable.
    #[error("{path}, row {row} ({name}): {problem}")]
    Row {
        path: PathBuf,
        /// 1-based line number of the row in the file, counting the header as line 1.
        row: u64,
        name: String,
        problem: String,
    },
}
