//! Analyze: events -> event-time windows -> rates per dimension -> detectors -> incidents.
//!
//! Polars does the heavy part (scanning the events and aggregating them per window and key,
//! [`load`]); the detectors ([`detect`]) read the small per-key series and the error events
//! ([`tables`]); [`incident`] merges, measures, explains and de-duplicates what they flag.

pub mod config;
pub mod detect;
pub mod grid;
pub mod incident;
pub mod load;
pub mod tables;

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Serialize;

use self::config::AnalyzeConfig;
use self::grid::MINUTE_US;
use self::incident::Incident;
use self::load::RATE_DIMENSIONS;
use crate::report::anomalies::{anomalies_batch, anomalies_schema};
use crate::report::atomic::write_file;
use crate::report::csv::write_csv;
use crate::report::rates::{rates_batch, rates_schema, write_parquet};

/// Every dimension a flag or a rate table may name; `user_id` last (it has no rate table).
pub const DIMENSIONS: &[&str] = &[
    "all",
    "error_code",
    "category",
    "class",
    "status_class",
    "connection_id",
    "organization_id",
    "endpoint",
    "ip_address",
    "user_id",
];

/// `summary.json`: what a scheduler or a person reads first.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    pub incidents: u64,
    pub by_class: std::collections::BTreeMap<&'static str, u64>,
    pub by_severity: std::collections::BTreeMap<&'static str, u64>,
    pub events: u64,
    pub errors: u64,
    pub first_event: Option<String>,
    pub last_event: Option<String>,
    pub window_minutes: u32,
    /// Ingest totals when this run ingested raw logs (see manifest.json).
    pub input: Option<crate::ingest::manifest::Totals>,
}

pub struct AnalysisResult {
    pub incidents: Vec<Incident>,
    pub summary: Summary,
    pub rate_files: Vec<PathBuf>,
}

/// Whether `path` is an events dataset (`day=*/` folders of Parquet, or a folder holding
/// `events/`, as `ingest` and `analyze` write); returns the events folder.
pub fn events_dataset(path: &Path) -> Option<PathBuf> {
    if !path.is_dir() {
        return None;
    }
    let candidate = if path.join("events").is_dir() {
        path.join("events")
    } else {
        path.to_path_buf()
    };
    let has_days = std::fs::read_dir(&candidate)
        .ok()?
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().starts_with("day=") && e.path().is_dir());
    has_days.then_some(candidate)
}

/// Analyses the events in `events_dir`, writing rates, anomalies and summary into `out`.
pub fn analyze_events(
    events_dir: &Path,
    out: &Path,
    cfg: &AnalyzeConfig,
    input: Option<crate::ingest::manifest::Totals>,
) -> anyhow::Result<AnalysisResult> {
    let step = i64::from(cfg.windows.tumbling_minutes) * MINUTE_US;
    let tables = load::load(
        events_dir,
        step,
        cfg.detectors.reauthorization.consecutive_failures,
    )?;
    let rates_dir = out.join("rates");
    std::fs::create_dir_all(&rates_dir)
        .with_context(|| format!("cannot create {}", rates_dir.display()))?;
    let mut summary = Summary {
        window_minutes: cfg.windows.tumbling_minutes,
        input,
        ..Default::default()
    };
    let mut rate_files = Vec::new();
    let incidents = match &tables {
        None => Vec::new(),
        Some(t) => {
            for d in t
                .dims
                .iter()
                .filter(|d| RATE_DIMENSIONS.contains(&d.dimension))
            {
                let batch = rates_batch(t, d, cfg.windows.sliding_minutes)?;
                let pq = rates_dir.join(format!("{}.parquet", d.dimension));
                write_parquet(&pq, rates_schema(d.dimension), std::slice::from_ref(&batch))?;
                write_csv(&rates_dir.join(format!("{}.csv", d.dimension)), &[batch])?;
                rate_files.push(pq);
            }
            let flags = detect::run_all(t, &cfg.detectors);
            let hold = i64::from(cfg.windows.hold_minutes) * MINUTE_US;
            summary.events = t.dim("all").map_or(0, |d| {
                d.series.iter().map(|s| u64::from(s.total().requests)).sum()
            });
            summary.errors = t.errors.len() as u64;
            summary.first_event = Some(incident::utc(t.min_ts));
            summary.last_event = Some(incident::utc(t.max_ts));
            incident::build(t, flags, hold)
        }
    };
    let batch = anomalies_batch(&incidents)?;
    write_parquet(
        &out.join("anomalies.parquet"),
        anomalies_schema(),
        std::slice::from_ref(&batch),
    )?;
    write_csv(&out.join("anomalies.csv"), &[batch])?;
    summary.incidents = incidents.len() as u64;
    for i in &incidents {
        *summary.by_class.entry(i.class).or_insert(0) += 1;
        *summary.by_severity.entry(i.severity.as_str()).or_insert(0) += 1;
    }
    write_file(
        &out.join("summary.json"),
        &serde_json::to_vec_pretty(&summary)?,
    )?;
    Ok(AnalysisResult {
        incidents,
        summary,
        rate_files,
    })
}
