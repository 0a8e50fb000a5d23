//! Kat serves documented violence in Haiti (incidents, armed-group areas and the
//! administrative units they are placed in) as OGC API - Features, with a web map.
//!
//! The request path reads one way: [`api`] parses a request into a typed query, runs it
//! against a [`layer::Layer`] through its [`index::SpatialIndex`], and encodes the answer from
//! the features' pre-serialized bytes.

pub mod aggregate;
pub mod alloc;
pub mod api;
pub mod catalog;
pub mod database;
pub mod edit;
pub mod filter;
pub mod format;
pub mod geocode;
pub mod import;
pub mod index;
pub mod layer;
pub mod metrics;
pub mod progress;
pub mod query;
pub mod synth;
pub mod temporal;
pub mod text;
pub mod tiles;
