//! `rates/<dimension>.parquet` (and `.csv`): per window and key, requests, errors by kind,
//! the error ratio where the export has successes, and per-minute and per-hour rates (the
//! hourly rate over the sliding window ending with this window, default 60 minutes).
//! A key has a row for each window with events ("no errors" is requests with 0 errors;
//! `errors_per_hour` counts the errors of the sliding hour ending there); a window without
//! events has no row, so a table follows what happened, not keys x span (a year of 5-minute
//! windows zero-filled from each key's first window was six times the input). Dashboards
//! and SQL read the gaps as zeros (Grafana: null as zero; SQL: a join on the windows). A
//! summarised dimension (more keys than `[rates] max_keys`) lists its kept keys and
//! `(other)`, so its table follows the limit, not the keys.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use arrow_array::builder::{Float64Builder, StringBuilder};
use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, TimestampMicrosecondArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::atomic::AtomicFile;
use crate::analyze::grid::MINUTE_US;
use crate::analyze::tables::{Counts, DimTable, Tables};
use crate::analyze::Dimension;
use crate::schema::TS_TZ;

pub fn rates_schema(dimension: Dimension) -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some(TS_TZ.into()));
    let int = |n: &str| Field::new(n, DataType::Int64, false);
    Arc::new(Schema::new(vec![
        Field::new("window_start", ts(), false),
        Field::new("window_end", ts(), false),
        Field::new(
            if dimension == Dimension::All {
                "scope"
            } else {
                dimension.as_str()
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

/// The schema of `rates/long.parquet`: every dimension's rows in one table, the dimension
/// and the key as columns (one panel can filter by dimension and key).
pub fn long_schema() -> SchemaRef {
    let per = rates_schema(Dimension::ConnectionId);
    let mut fields = vec![
        Field::new("dimension", DataType::Utf8, false),
        Field::new("key", DataType::Utf8, false),
    ];
    fields.extend(
        per.fields()
            .iter()
            .filter(|f| f.name() != Dimension::ConnectionId.as_str())
            .map(|f| f.as_ref().clone()),
    );
    Arc::new(Schema::new(fields))
}

/// A dimension's rate batch as rows of [`long_schema`].
pub fn to_long(dimension: Dimension, b: &RecordBatch) -> anyhow::Result<RecordBatch> {
    let n = b.num_rows();
    let name = if dimension == Dimension::All {
        "all"
    } else {
        dimension.as_str()
    };
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(arrow_array::StringArray::from(vec![name; n])),
        b.column(2).clone(),
    ];
    columns.extend(
        b.columns()
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != 2)
            .map(|(_, c)| c.clone()),
    );
    Ok(RecordBatch::try_new(long_schema(), columns)?)
}

/// Rows per batch of a rate table: the table of a busy dimension (every address in every
/// window of ten days) is millions of rows, so it is made and written a slice at a time.
/// A batch is about 2 MB, and five or six are on their way at once (being made, to the
/// CSV writer, to the long table): 64 k-row batches held about 40 MB more at a year's
/// peak.
pub const RATE_BATCH_ROWS: usize = 16 * 1024;

/// Rows per row group of a rate table (several batches).
const RATE_ROW_GROUP_ROWS: usize = 64 * 1024;

/// The rate table of one dimension, in batches of at most `rows` rows handed to `sink`.
pub fn rates_batches(
    t: &Tables,
    d: &DimTable,
    sliding_minutes: u32,
    rows: usize,
    mut sink: impl FnMut(RecordBatch) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let g = &t.grid;
    let width = g.buckets_in(i64::from(sliding_minutes) * MINUTE_US);
    let minutes = g.step_us as f64 / MINUTE_US as f64;
    let schema = rates_schema(d.dimension);
    let mut b = RateColumns::with_capacity(rows);
    for s in d.rate_series() {
        // The windows with events only (a year is 105,120 windows; a key has events in a
        // few), the sliding hour's errors summed over them as they pass.
        let cells: Vec<(usize, Counts)> = s.counts.nonzero().collect();
        let mut lo = 0;
        let mut in_hour: u64 = 0;
        for &(i, c) in &cells {
            in_hour += u64::from(c.errors);
            while cells[lo].0 + width <= i {
                in_hour -= u64::from(cells[lo].1.errors);
                lo += 1;
            }
            if i < t.report_from || c.requests == 0 {
                continue;
            }
            let start = g.start_of(i);
            b.start.push(start);
            b.end.push(start + g.step_us);
            b.key.append_value(&s.key);
            for (v, x) in b
                .counts
                .iter_mut()
                .zip([c.requests, c.errors, c.s4xx, c.s5xx, c.s401, c.s403, c.s429])
            {
                v.push(i64::from(x));
            }
            b.ratio.append_option(
                (t.has_successes && c.requests > 0)
                    .then(|| f64::from(c.errors) / f64::from(c.requests)),
            );
            b.per_min.push(f64::from(c.errors) / minutes);
            b.last_hour
                .push(in_hour as f64 * 60.0 / f64::from(sliding_minutes.max(1)));
            if b.start.len() == rows {
                sink(b.finish(&schema)?)?;
            }
        }
    }
    if !b.start.is_empty() {
        sink(b.finish(&schema)?)?;
    }
    Ok(())
}

/// The columns of a rate table being filled.
struct RateColumns {
    start: Vec<i64>,
    end: Vec<i64>,
    key: StringBuilder,
    counts: [Vec<i64>; 7],
    ratio: Float64Builder,
    per_min: Vec<f64>,
    last_hour: Vec<f64>,
    /// Rows of a full batch: each emptied column gets this room back (taken empty, the
    /// next batch's columns grew by doubling, 2 % of a rates-heavy run in reallocations).
    rows: usize,
}

impl RateColumns {
    fn with_capacity(rows: usize) -> Self {
        let v = || Vec::with_capacity(rows);
        RateColumns {
            start: v(),
            end: v(),
            key: StringBuilder::with_capacity(rows, rows * 8),
            counts: std::array::from_fn(|_| v()),
            ratio: Float64Builder::with_capacity(rows),
            per_min: Vec::with_capacity(rows),
            last_hour: Vec::with_capacity(rows),
            rows,
        }
    }

    /// The rows so far as a batch; the columns are left empty for the next.
    fn finish(&mut self, schema: &SchemaRef) -> anyhow::Result<RecordBatch> {
        fn take<T>(v: &mut Vec<T>, rows: usize) -> Vec<T> {
            std::mem::replace(v, Vec::with_capacity(rows))
        }
        let rows = self.rows;
        let ts = |v: &mut Vec<i64>| {
            Arc::new(TimestampMicrosecondArray::from(take(v, rows)).with_timezone(TS_TZ))
                as ArrayRef
        };
        let f64s = |v: &mut Vec<f64>| Arc::new(Float64Array::from(take(v, rows))) as ArrayRef;
        let mut arrays: Vec<ArrayRef> = vec![
            ts(&mut self.start),
            ts(&mut self.end),
            Arc::new(self.key.finish()),
        ];
        arrays.extend(
            self.counts
                .iter_mut()
                .map(|v| Arc::new(Int64Array::from(take(v, rows))) as ArrayRef),
        );
        arrays.push(Arc::new(self.ratio.finish()));
        arrays.push(f64s(&mut self.per_min));
        arrays.push(f64s(&mut self.last_hour));
        Ok(RecordBatch::try_new(schema.clone(), arrays)?)
    }
}

/// Writes one Parquet file from batches, atomically.
pub fn write_parquet(
    dest: &Path,
    schema: SchemaRef,
    batches: &[RecordBatch],
) -> anyhow::Result<()> {
    write_parquet_with(dest, schema, |put| batches.iter().try_for_each(put))
}

/// The Parquet properties of a table errscope writes (rates, anomalies): numbers and times
/// without dictionaries, integers and times as deltas. A rates table is keys x windows
/// rows of small counts, and dictionary encoding hashed every one of its 12 numbers a row:
/// 100 k events with 550 k rows of IP addresses spent 7 % of the run there. The windows'
/// times (rising key after key) compress better as deltas, and so do the counts: a count
/// of a few events takes a few bits bit-packed, where plain it was 8 bytes for zstd to
/// squeeze (90 days x 5 M records: rate files 14.2 -> 13.8 MB, their writing ~10 % less
/// time). DuckDB, Polars, Arrow and Spark 3.3+ read DELTA_BINARY_PACKED.
fn table_properties(schema: &Schema) -> parquet::file::properties::WriterProperties {
    use parquet::basic::Encoding;
    use parquet::schema::types::ColumnPath;
    // Row groups of a rate batch (64 k rows): the writer holds one open row group's
    // pages, and the long table is open beside each dimension's, so memory stays a few
    // MB whatever the table's size (256 k-row groups held ~30 MB more on a year of data).
    let mut props =
        super::parquet::base_properties().set_max_row_group_row_count(Some(RATE_ROW_GROUP_ROWS));
    for f in schema.fields() {
        let column = || ColumnPath::from(f.name().as_str());
        match f.data_type() {
            DataType::Utf8 | DataType::Utf8View => {}
            DataType::Timestamp(..)
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt32
            | DataType::UInt64 => {
                props = props
                    .set_column_dictionary_enabled(column(), false)
                    .set_column_encoding(column(), Encoding::DELTA_BINARY_PACKED);
            }
            _ => props = props.set_column_dictionary_enabled(column(), false),
        }
    }
    props.build()
}

/// Writes one Parquet file, atomically, from the batches `fill` hands to `put` (a table
/// too big to hold whole is made and written a slice at a time).
pub fn write_parquet_with(
    dest: &Path,
    schema: SchemaRef,
    fill: impl FnOnce(&mut dyn FnMut(&RecordBatch) -> anyhow::Result<()>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut file =
        AtomicFile::create(dest).with_context(|| format!("cannot write {}", dest.display()))?;
    {
        let props = table_properties(&schema);
        let mut w = parquet::arrow::ArrowWriter::try_new(file.writer(), schema, Some(props))?;
        fill(&mut |b| Ok(w.write(b)?))?;
        w.close()?;
    }
    file.commit()?;
    Ok(())
}
