//! Answers in formats other than GeoJSON: CSV for spreadsheets ([`csv`]) and GeoPackage for
//! GIS ([`gpkg`]).
//!
//! Both read a query's features back from the JSON the layer stores for them ([`feature`]),
//! so that a CSV row or a GeoPackage row holds exactly what the GeoJSON answer to the same
//! query holds. Each first scans the features once ([`feature::Scan`]) for the columns they
//! need (the union of the property names, in first-seen order, and what each holds), then
//! writes them.

pub mod csv;
pub mod feature;
pub mod gpkg;
