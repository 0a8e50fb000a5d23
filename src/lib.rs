//! Kat.
pub mod geocode;
pub mod import;
