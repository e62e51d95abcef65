//! Ingest: any error-log export (NDJSON, JSON arrays, pretty-printed objects, text lines
//! with JSON payloads; plain, gzip or zstd) becomes `RecordBatch`es of the canonical
//! schema, and every record that cannot becomes a quarantined record with its reason.
//!
//! The stages, each in its own file: [`source`] expands inputs, [`reader`] detects
//! compression and layout and splits records, [`decode`] parses ([`json`]), maps
//! ([`mapping`], [`aliases`], [`coerce`], [`textline`]), classifies ([`classify`]) and
//! redacts ([`redact`]) them into batches ([`builder`]).

pub mod aliases;
pub mod builder;
pub mod classify;
pub mod coerce;
pub mod decode;
pub mod dedup;
pub mod json;
pub mod manifest;
pub mod mapping;
pub mod reader;
pub mod redact;
pub mod rules;
pub mod source;
pub mod textline;

#[cfg(test)]
mod mapping_tests;
