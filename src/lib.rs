//! errscope turns exported JSON error logs into answers: error rates by code, connection
//! and time window, incidents, and reports.
//!
//! The pipeline, in the order data flows: [`ingest`] (any export -> canonical Arrow
//! batches, see [`schema`]), [`analyze`] (windows, rates, detectors, incidents), then
//! [`report`] writers; [`pipeline`] wires ingest to its outputs. The binary parses
//! [`cli`] flags into [`options`] and runs one of the [`commands`]; ARCHITECTURE.md
//! draws the stages and the seams.

pub mod analyze;
pub mod cli;
pub mod commands;
pub mod config;
pub mod exit;
pub mod generate;
pub mod ingest;
pub mod inspect;
pub mod options;
pub mod pipeline;
pub mod query;
pub mod report;
pub mod schema;
#[cfg(feature = "spark")]
pub mod spark;
pub mod state;
pub mod storage;
#[doc(hidden)]
pub mod testutil;
