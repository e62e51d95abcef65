//! Events dataset -> [`Tables`] (through the one-pass [`Collector`]), and the dataset as a
//! Polars lazy frame for `errscope query`.

use std::path::Path;

use anyhow::Context as _;
use polars::prelude::{HiveOptions, LazyFrame, PlRefPath, PolarsResult, ScanArgsParquet};

use super::collect::Collector;
use super::tables::Tables;

/// Dimensions with rate tables, in output order (`all` is the overall rate): every
/// dimension but `user_id`, which only the detectors use.
pub const RATE_DIMENSIONS: &[&str] = super::DIMENSIONS.split_at(super::DIMENSIONS.len() - 1).0;

/// The events dataset as a lazy frame (the `day=` folders are not a column: `ts` has it).
pub fn scan_events(events_dir: &Path) -> anyhow::Result<LazyFrame> {
    scan(events_dir)
        .with_context(|| format!("cannot scan the events dataset {}", events_dir.display()))
}

fn scan(events_dir: &Path) -> PolarsResult<LazyFrame> {
    let pattern = format!("{}/**/*.parquet", events_dir.display());
    let args = ScanArgsParquet {
        hive_options: HiveOptions {
            enabled: Some(false),
            ..HiveOptions::new_disabled()
        },
        ..Default::default()
    };
    LazyFrame::scan_parquet(PlRefPath::new(pattern), args)
}

/// Reads `events_dir` (a hive-partitioned events dataset) into the detectors' tables,
/// streaming it through a [`Collector`]; `collected` is what the ingest of this run already
/// folded (its events are then not read again).
pub fn load(
    events_dir: &Path,
    step_us: i64,
    reauth_min: u32,
    bounds: super::TimeBounds,
    max_keys: usize,
    collected: Option<Collector>,
) -> anyhow::Result<Option<Tables>> {
    let collector = match collected {
        Some(c) => c,
        None => Collector::read_dataset(events_dir, step_us, bounds, max_keys)
            .context("reading the events dataset")?,
    };
    collector.finish(events_dir, reauth_min)
}
