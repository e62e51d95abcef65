//! The aggregation engine seam: the events (a dataset on disk, or the live ingest of this
//! run) -> the [`Tables`] the detectors read. Detection, reports and exit codes take the
//! tables and never know which engine computed them.
//!
//! To add an engine (a Spark cluster through Spark Connect): implement
//! [`AggregationEngine`] so that its tables equal [`LocalFold`]'s on the same events (the
//! same window alignment, `(unknown)`/null keys, status classes, bounds and `(other)`
//! summaries), and choose it in `commands/analyze.rs`.

use std::path::Path;

use anyhow::Context as _;

use super::collect::Collector;
use super::tables::Tables;
use super::TimeBounds;

#[cfg(feature = "spark")]
pub mod spark;

/// What the tables are computed over and how.
#[derive(Debug, Clone, Copy)]
pub struct Aggregation<'a> {
    /// The events dataset (hive `day=` folders of Parquet), as `ingest` writes it.
    pub events_dir: &'a Path,
    /// Window length, µs (windows are aligned on the epoch).
    pub step_us: i64,
    /// Events outside are left out.
    pub bounds: TimeBounds,
    /// `[rates] max_keys` (0: no limit): past it a dimension keeps its heaviest keys and
    /// folds the rest into `(other)`.
    pub max_keys: usize,
    /// 401s a connection needs before its outcomes are followed one call at a time
    /// (`[detectors.reauthorization] consecutive_failures`).
    pub reauth_min: u32,
}

/// Computes the detectors' tables.
///
/// The contract: [`aggregate`](AggregationEngine::aggregate) is called once per analysis;
/// `Ok(None)` means no event within the bounds (the run then reports "no data", never an
/// all-clear); an error names the engine and its cause, and nothing is written from it.
pub trait AggregationEngine {
    /// What the report and the messages call the engine (`local`).
    fn name(&self) -> String;
    fn aggregate(&mut self, job: &Aggregation<'_>) -> anyhow::Result<Option<Tables>>;
}

/// The embedded default: the one-pass fold ([`Collector`]), either fed during this run's
/// ingest (so the events are never read back), or streamed over the dataset's Parquet.
#[derive(Debug, Default)]
pub struct LocalFold {
    live: Option<Collector>,
}

impl LocalFold {
    /// `live`: what this run's ingest already folded (its events are then not read again).
    pub fn new(live: Option<Collector>) -> LocalFold {
        LocalFold { live }
    }
}

impl AggregationEngine for LocalFold {
    fn name(&self) -> String {
        "local".into()
    }

    fn aggregate(&mut self, job: &Aggregation<'_>) -> anyhow::Result<Option<Tables>> {
        let collector = match self.live.take() {
            Some(c) => c,
            None => Collector::read_dataset(job.events_dir, job.step_us, job.bounds, job.max_keys)
                .context("reading the events dataset")?,
        };
        collector.finish(job.events_dir, job.reauth_min)
    }
}
