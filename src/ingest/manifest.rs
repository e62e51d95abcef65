//! The run manifest: per input file, what was read and what became of it. The counts
//! reconcile exactly, for every file and for the totals:
//!
//! - `events + out_of_range + duplicates + quarantined = records + expanded`: every
//!   record read is an event, outside the `--since`/`--until` bounds, a copy of an
//!   earlier record left out (`[ingest] duplicates`), or quarantined; `expanded` counts the extra records of a line holding a JSON array or of
//!   an envelope document (`{"events": [...]}`), 0 for ordinary exports;
//! - line-based files: `lines = blank + records + continuation`, where `continuation`
//!   counts the lines after the first of a multi-line (pretty-printed) record.
//!
//! For plain NDJSON that is simply `lines = blank + events + quarantined`.

use serde::Serialize;

use super::reader::{Compression, Layout};

/// One Parquet file of the events dataset, as written.
#[derive(Debug, Clone, Serialize)]
pub struct PartFile {
    pub path: String,
    pub day: String,
    pub rows: u64,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Counts {
    pub lines: u64,
    pub blank: u64,
    pub records: u64,
    pub continuation: u64,
    pub expanded: u64,
    pub events: u64,
    /// Events outside `--since`/`--until`, not written.
    pub out_of_range: u64,
    /// Exact copies of an earlier record (same request id, same text), not written.
    pub duplicates: u64,
    /// Exact copies counted but kept as events (`[ingest] duplicates = "keep"`).
    pub duplicates_kept: u64,
    /// Events that could only be checked against part of the input (memory bound).
    pub duplicates_unchecked: u64,
    pub quarantined: u64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.lines += o.lines;
        self.blank += o.blank;
        self.records += o.records;
        self.continuation += o.continuation;
        self.expanded += o.expanded;
        self.events += o.events;
        self.out_of_range += o.out_of_range;
        self.duplicates += o.duplicates;
        self.duplicates_kept += o.duplicates_kept;
        self.duplicates_unchecked += o.duplicates_unchecked;
        self.quarantined += o.quarantined;
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FileStats {
    pub path: String,
    pub compression: Option<Compression>,
    pub layout: Option<Layout>,
    /// Bytes read from the file as stored (compressed size for gzip/zstd).
    pub bytes: u64,
    #[serde(flatten)]
    pub counts: Counts,
    /// Why the file could not be read to its end; records before the damage are kept.
    pub error: Option<String>,
}

/// A file a folder walk passed over (docs, scripts), so nothing is silently ignored.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: &'static str,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Totals {
    pub files: u64,
    pub files_with_errors: u64,
    pub bytes: u64,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Clone, Serialize)]
pub struct Outputs {
    pub events: Vec<PartFile>,
    pub quarantine: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub errscope_version: &'static str,
    pub config: Option<String>,
    pub inputs: Vec<FileStats>,
    pub skipped: Vec<Skipped>,
    pub totals: Totals,
    pub outputs: Outputs,
}

impl Manifest {
    pub fn totals_of(inputs: &[FileStats]) -> Totals {
        let mut t = Totals::default();
        for f in inputs {
            t.files += 1;
            t.files_with_errors += u64::from(f.error.is_some());
            t.bytes += f.bytes;
            t.counts.add(&f.counts);
        }
        t
    }
}

impl Counts {
    /// Whether the counts reconcile (see the module documentation).
    pub fn reconciles(&self, layout: Option<Layout>) -> bool {
        let records_ok = self.events + self.out_of_range + self.duplicates + self.quarantined
            == self.records + self.expanded;
        let lines_ok = layout != Some(Layout::Lines)
            || self.lines == self.blank + self.records + self.continuation;
        records_ok && lines_ok
    }
}
