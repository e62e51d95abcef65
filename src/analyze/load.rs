//! The events dataset as a Polars lazy frame for `errscope query`.

use std::path::Path;

use anyhow::Context as _;
use polars::prelude::{HiveOptions, LazyFrame, PlRefPath, PolarsResult, ScanArgsParquet};

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
