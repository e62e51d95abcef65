//! `rates/<dimension>.parquet` (and `.csv`): per window and key, requests, errors by kind,
//! the error ratio where the export has successes, and per-minute and per-hour rates (the
//! hourly rate over the sliding window ending with this window, default 60 minutes).
//! Zero-filled from a key's first window to the end of the data, so "no errors" (requests
//! but 0 errors), "no traffic" (0 requests) and a key that went silent are all visible.

use std::path::Path;
use std::sync::Arc;

use arrow_array::{
    ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::atomic::AtomicFile;
use crate::analyze::grid::{sliding_sum, MINUTE_US};
use crate::analyze::tables::{DimTable, Tables};
use crate::schema::TS_TZ;

pub fn rates_schema(dimension: &str) -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some(TS_TZ.into()));
    let int = |n: &str| Field::new(n, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        Field::new("window_start", ts(), false),
        Field::new("window_end", ts(), false),
        Field::new(
            if dimension == "all" {
                "scope"
            } else {
                dimension
            },
            DataType::Utf8,
            false,
        ),
        int("requests"),
        int("errors"),
        int("errors_4xx"),
        int("errors_5xx"),
        int("status_401"),
        int("status_403"),
        int("status_429"),
        Field::new("error_ratio", DataType::Float64, true),
        Field::new("errors_per_min", DataType::Float64, false),
        Field::new("errors_per_hour", DataType::Float64, false),
    ]))
}

/// The rate table of one dimension.
pub fn rates_batch(t: &Tables, d: &DimTable, sliding_minutes: u32) -> anyhow::Result<RecordBatch> {
    let g = &t.grid;
    let width = g.buckets_in(i64::from(sliding_minutes) * MINUTE_US);
    let minutes = g.step_us as f64 / MINUTE_US as f64;
    let mut start = Vec::new();
    let mut key = Vec::new();
    let mut cols: [Vec<i64>; 7] = Default::default();
    let mut ratio = Vec::new();
    let mut per_min = Vec::new();
    let mut last_hour = Vec::new();
    for s in &d.series {
        let Some(first) = s.counts.iter().position(|c| c.requests > 0) else {
            continue;
        };
        let hourly = sliding_sum(&s.values(|c| c.errors), width);
        for (i, (c, h)) in s
            .counts
            .iter()
            .zip(&hourly)
            .enumerate()
            .skip(first.max(t.report_from))
        {
            start.push(g.start_of(i));
            key.push(s.key.clone());
            for (v, x) in cols
                .iter_mut()
                .zip([c.requests, c.errors, c.s4xx, c.s5xx, c.s401, c.s403, c.s429])
            {
                v.push(i64::from(x));
            }
            ratio.push(
                (t.has_successes && c.requests > 0)
                    .then(|| f64::from(c.errors) / f64::from(c.requests)),
            );
            per_min.push(f64::from(c.errors) / minutes);
            last_hour.push(*h as f64 * 60.0 / f64::from(sliding_minutes.max(1)));
        }
    }
    let ts =
        |v: Vec<i64>| Arc::new(TimestampMicrosecondArray::from(v).with_timezone(TS_TZ)) as ArrayRef;
    let end: Vec<i64> = start.iter().map(|s| s + g.step_us).collect();
    let mut arrays: Vec<ArrayRef> = vec![ts(start), ts(end), Arc::new(StringArray::from(key))];
    arrays.extend(
        cols.into_iter()
            .map(|v| Arc::new(Int64Array::from(v)) as ArrayRef),
    );
    arrays.push(Arc::new(Float64Array::from(ratio)));
    arrays.push(Arc::new(Float64Array::from(per_min)));
    arrays.push(Arc::new(Float64Array::from(last_hour)));
    Ok(RecordBatch::try_new(rates_schema(d.dimension), arrays)?)
}

/// Writes one Parquet file from batches, atomically.
pub fn write_parquet(
    dest: &Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
) -> anyhow::Result<()> {
    let mut file = AtomicFile::create(dest)?;
    {
        let mut w = parquet::arrow::ArrowWriter::try_new(
            file.writer(),
            schema,
            Some(super::parquet::writer_properties()),
        )?;
        for b in batches {
            w.write(b)?;
        }
        w.close()?;
    }
    file.commit()?;
    Ok(())
}
