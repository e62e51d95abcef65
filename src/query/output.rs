//! Query results as a terminal table, CSV (spreadsheet-safe, like every CSV errscope
//! writes), JSON (one array), NDJSON, or Parquet. Times are UTC ISO 8601 in text formats.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Context};
use polars::prelude::{AnyValue, DataFrame, ParquetCompression, ParquetWriter, TimeUnit};

use crate::report::atomic::AtomicFile;
use crate::report::csv::safe_cell;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Csv,
    Json,
    Ndjson,
    Parquet,
}

fn iso(v: i64, unit: TimeUnit) -> String {
    let us = match unit {
        TimeUnit::Nanoseconds => v.div_euclid(1000),
        TimeUnit::Microseconds => v,
        TimeUnit::Milliseconds => v.saturating_mul(1000),
    };
    chrono::DateTime::from_timestamp_micros(us).map_or_else(
        || v.to_string(),
        |d| d.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string(),
    )
}

/// A cell as JSON: numbers stay numbers, times become ISO strings.
pub fn json_value(v: &AnyValue) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        AnyValue::Null => J::Null,
        AnyValue::Boolean(b) => J::Bool(*b),
        AnyValue::String(s) => J::String((*s).to_string()),
        AnyValue::StringOwned(s) => J::String(s.to_string()),
        AnyValue::UInt8(x) => J::from(*x),
        AnyValue::UInt16(x) => J::from(*x),
        AnyValue::UInt32(x) => J::from(*x),
        AnyValue::UInt64(x) => J::from(*x),
        AnyValue::Int8(x) => J::from(*x),
        AnyValue::Int16(x) => J::from(*x),
        AnyValue::Int32(x) => J::from(*x),
        AnyValue::Int64(x) => J::from(*x),
        AnyValue::Float32(x) => {
            serde_json::Number::from_f64(f64::from(*x)).map_or(J::Null, J::Number)
        }
        AnyValue::Float64(x) => serde_json::Number::from_f64(*x).map_or(J::Null, J::Number),
        AnyValue::Datetime(t, u, _) => J::String(iso(*t, *u)),
        AnyValue::DatetimeOwned(t, u, _) => J::String(iso(*t, *u)),
        AnyValue::Date(d) => J::String(
            chrono::DateTime::from_timestamp(i64::from(*d) * 86_400, 0)
                .map_or_else(|| d.to_string(), |x| x.format("%Y-%m-%d").to_string()),
        ),
        AnyValue::List(s) => J::Array(s.iter().map(|x| json_value(&x)).collect()),
        other => J::String(other.to_string()),
    }
}

/// A cell as CSV text (before formula neutralisation).
fn text(v: &AnyValue) -> String {
    match json_value(v) {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

fn rows(df: &DataFrame) -> impl Iterator<Item = Vec<AnyValue<'_>>> + '_ {
    (0..df.height()).map(move |i| {
        df.columns()
            .iter()
            .map(|c| c.get(i).unwrap_or(AnyValue::Null))
            .collect()
    })
}

fn names(df: &DataFrame) -> Vec<String> {
    df.get_column_names()
        .iter()
        .map(|n| n.to_string())
        .collect()
}

/// Writes `df` in `format` to `w`.
pub fn write(df: &DataFrame, format: Format, w: &mut dyn Write) -> anyhow::Result<()> {
    match format {
        Format::Table => {
            writeln!(w, "{df}")?;
        }
        Format::Csv => {
            let mut c = csv::Writer::from_writer(w);
            c.write_record(names(df).iter().map(|n| safe_cell(n).into_owned()))?;
            for row in rows(df) {
                c.write_record(row.iter().map(|v| safe_cell(&text(v)).into_owned()))?;
            }
            c.flush()?;
        }
        Format::Json | Format::Ndjson => {
            let cols = names(df);
            let objects = rows(df).map(|row| {
                let m: serde_json::Map<String, serde_json::Value> = cols
                    .iter()
                    .cloned()
                    .zip(row.iter().map(json_value))
                    .collect();
                serde_json::Value::Object(m)
            });
            if format == Format::Json {
                let all: Vec<serde_json::Value> = objects.collect();
                serde_json::to_writer_pretty(&mut *w, &all)?;
                writeln!(w)?;
            } else {
                for o in objects {
                    serde_json::to_writer(&mut *w, &o)?;
                    writeln!(w)?;
                }
            }
        }
        Format::Parquet => bail!("parquet output needs --output FILE"),
    }
    Ok(())
}

/// Writes the result to `dest` atomically, or to stdout.
pub fn emit(df: &mut DataFrame, format: Format, dest: Option<&Path>) -> anyhow::Result<()> {
    match dest {
        Some(path) => {
            let mut f = AtomicFile::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if format == Format::Parquet {
                ParquetWriter::new(f.writer())
                    .with_compression(ParquetCompression::Zstd(None))
                    .finish(df)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            } else {
                write(df, format, f.writer())?;
            }
            f.commit()
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        None => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            write(df, format, &mut lock)?;
            lock.flush()?;
        }
    }
    Ok(())
}
