//! Why a layer could not be loaded, in words that tell the data's maintainer what to fix.

use thiserror::Error;

/// A data file that Kat refuses to serve. `file` is the path inside the data directory, never
/// an absolute path: these messages reach `/health`.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum LoadError {
    #[error("{file}: cannot read the file: {problem}")]
    Read { file: String, problem: String },
    #[error("{file}: not a GeoJSON FeatureCollection: {problem}")]
    NotCollection { file: String, problem: String },
    #[error("{file}: feature {feature}: {problem}")]
    Feature {
        file: String,
        /// `#12` (its position, from 0), with the id where it has one: `#12 (id "HT-2024-017")`.
        feature: String,
        problem: String,
    },
}
