//! Kat.
