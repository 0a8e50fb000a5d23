//! The catalogue of layers: declared in `kat.toml`, loaded from the data directory, reloaded
//! when it changes. It knows nothing of HTTP: the API reads the snapshot it holds.

pub mod config;
