//! `errscope inspect FILE...`: how errscope reads an export, before a report built on it
//! is trusted. Per file: the layout and compression detected, the records, events and
//! quarantined records of a full ingest, every input field of a sample of records and the
//! canonical column it became (or `extra`, or a column another field won), and the nulls
//! of each canonical column in the events, so a field mapped wrong or not at all shows up
//! as a column of nulls.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::Array;

use crate::config::MappingConfig;
use crate::ingest::mapping::trace_records;
use crate::ingest::reader::{read_source, Chunk};
use crate::ingest::redact::scrub_text;
use crate::ingest::source::expand_inputs;
use crate::ingest::source::Source;
use crate::pipeline::{run_ingest, IngestOptions, DEFAULT_MAX_RECORD_BYTES};

/// The canonical columns whose nulls are counted (the ones a person filters and groups by).
const COLUMNS: [&str; 12] = [
    "status",
    "error_code",
    "message",
    "level",
    "request_id",
    "connection_id",
    "organization_id",
    "user_id",
    "endpoint",
    "method",
    "ip_address",
    "user_agent",
];

/// One input field over the sampled records.
#[derive(Default)]
struct Field {
    /// `extra`, or the column, with `(lost)` when another field won it.
    became: BTreeMap<String, u64>,
    records: u64,
    example: String,
}

/// Inspects `inputs` (files, folders, globs); `sample`: records traced per file.
pub fn inspect(inputs: &[String], cfg: &MappingConfig, sample: usize) -> anyhow::Result<String> {
    let tmp = tempfile::tempdir()?;
    let report = run_ingest(
        &IngestOptions::scratch(
            inputs,
            tmp.path().join("ingest"),
            cfg.clone(),
            std::thread::available_parallelism().map_or(2, |n| n.get()),
        ),
        |_| {},
    )?;
    let nulls = null_counts(&tmp.path().join("ingest/events"))?;
    let mut out = String::new();
    for s in &report.manifest.skipped {
        let _ = writeln!(out, "skipped {}: {}", s.path, s.reason);
    }
    for stats in &report.manifest.inputs {
        let path = Path::new(&stats.path);
        let source = if crate::storage::is_url(&stats.path) {
            expand_inputs(std::slice::from_ref(&stats.path), None, None)
                .into_iter()
                .find(|s| matches!(s, Source::Read(_)))
        } else {
            path.is_file().then(|| Source::file(path))
        };
        let c = &stats.counts;
        let _ = writeln!(
            out,
            "\n== {}\nlayout {}, compression {}; {} records -> {} events, {} quarantined{}",
            stats.path,
            stats
                .layout
                .map_or("unknown".into(), |l| format!("{l:?}").to_lowercase()),
            stats
                .compression
                .map_or("none".into(), |c| format!("{c:?}").to_lowercase()),
            c.records + c.expanded,
            c.events,
            c.quarantined,
            stats
                .error
                .as_deref()
                .map_or(String::new(), |e| format!("; error: {e}")),
        );
        let records = source
            .as_ref()
            .map_or_else(Vec::new, |s| sample_records(s, sample));
        let mut fields: BTreeMap<String, Field> = BTreeMap::new();
        let mut traced = 0u64;
        for r in &records {
            let Some(traces) = trace_records(r, cfg, sample) else {
                continue;
            };
            if !r.trim_start().starts_with('{') {
                // A text log line: its prefix gives the time, level, logger and message.
                let f = fields.entry("(text before the JSON)".into()).or_default();
                *f.became
                    .entry("ts, level, logger, log_message".into())
                    .or_insert(0) += 1;
                f.records += 1;
                if f.example.is_empty() {
                    f.example = example(&r[..r.find('{').unwrap_or(r.len())]);
                }
            }
            // Every record of an envelope, up to the sample.
            for u in traces
                .into_iter()
                .take(sample.saturating_sub(traced as usize).max(1))
                .flat_map(|uses| {
                    traced += 1;
                    uses
                })
            {
                let f = fields.entry(u.path.clone()).or_default();
                let became = match (u.column, u.won) {
                    (None, _) => "extra".to_string(),
                    (Some(t), true) => t.column_name().to_string(),
                    (Some(t), false) => {
                        format!("{} (lost to another field; kept in extra)", t.column_name())
                    }
                };
                *f.became.entry(became).or_insert(0) += 1;
                f.records += 1;
                if f.example.is_empty() {
                    f.example = example(&u.value);
                }
            }
        }
        let _ = writeln!(
            out,
            "fields of the first {traced} record(s) (of {}), and the column each became:",
            c.records + c.expanded
        );
        let width = fields
            .keys()
            .map(|k| k.len())
            .max()
            .unwrap_or(5)
            .clamp(5, 48);
        let _ = writeln!(
            out,
            "  {:width$}  {:40}  {:>7}  example",
            "field", "column", "records"
        );
        for (path, f) in &fields {
            let became: Vec<String> = f
                .became
                .iter()
                .map(|(b, n)| {
                    if f.became.len() == 1 {
                        b.clone()
                    } else {
                        format!("{b} x{n}")
                    }
                })
                .collect();
            let _ = writeln!(
                out,
                "  {:width$}  {:40}  {:>7}  {}",
                path,
                became.join(", "),
                f.records,
                f.example
            );
        }
        if let Some(n) = nulls.get(stats.path.as_str()) {
            let events = n.0;
            let _ = writeln!(out, "nulls per canonical column, of {events} events:");
            for (col, nul) in COLUMNS.iter().zip(&n.1) {
                let share = if events > 0 {
                    100.0 * *nul as f64 / events as f64
                } else {
                    0.0
                };
                let _ = writeln!(out, "  {col:16} {nul:>9} ({share:5.1}%)");
            }
        }
    }
    Ok(out)
}

/// The texts of the first `n` records of a source, as the reader splits them.
fn sample_records(source: &Source, n: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut sink = |chunk: Chunk| {
        for r in &chunk.records {
            if out.len() >= n {
                break;
            }
            if let Ok(t) = std::str::from_utf8(&chunk.data[r.start..r.end]) {
                out.push(t.to_string());
            }
        }
        out.len() < n
    };
    read_source(0, source, DEFAULT_MAX_RECORD_BYTES, &mut sink);
    out
}

/// A value as shown: secrets redacted, one line, at most 40 characters.
fn example(raw: &str) -> String {
    let v = scrub_text(raw).replace(['\n', '\r', '\t'], " ");
    let redacted = crate::ingest::redact::redact_json_text(&v).into_owned();
    match redacted.char_indices().nth(40) {
        Some((i, _)) => format!("{}...", &redacted[..i]),
        None => redacted,
    }
}

/// Per source file: events, and nulls per column of [`COLUMNS`].
fn null_counts(events_dir: &Path) -> anyhow::Result<BTreeMap<String, (u64, Vec<u64>)>> {
    let mut out: BTreeMap<String, (u64, Vec<u64>)> = BTreeMap::new();
    if !events_dir.is_dir() {
        return Ok(out);
    }
    let mut cols = vec!["source_file"];
    cols.extend(COLUMNS);
    crate::analyze::outcomes::for_each_batch(events_dir, &cols, |b| {
        let Some(files) = b.column_by_name("source_file") else {
            return;
        };
        let files: Vec<Option<String>> = match files.data_type() {
            arrow_schema::DataType::Utf8View => files
                .as_string_view()
                .iter()
                .map(|s| s.map(str::to_string))
                .collect(),
            arrow_schema::DataType::Utf8 => files
                .as_string::<i32>()
                .iter()
                .map(|s| s.map(str::to_string))
                .collect(),
            _ => return,
        };
        for (i, f) in files.iter().enumerate() {
            let e = out
                .entry(f.clone().unwrap_or_default())
                .or_insert_with(|| (0, vec![0; COLUMNS.len()]));
            e.0 += 1;
            for (k, col) in COLUMNS.iter().enumerate() {
                if b.column_by_name(col).is_none_or(|c| c.is_null(i)) {
                    e.1[k] += 1;
                }
            }
        }
    })?;
    Ok(out)
}
