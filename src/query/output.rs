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

/// Rows shown in a terminal table; the rest is counted.
pub const MAX_TABLE_ROWS: usize = 200;

fn is_number(v: &AnyValue) -> bool {
    v.is_primitive_numeric()
}

fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A plain terminal table that fits `width` columns: long cells are cut with `…` (widest
/// columns first), numbers are right-aligned, times are UTC ISO.
pub fn table(df: &DataFrame, width: usize, max_rows: usize) -> String {
    let head = names(df);
    let shown: Vec<Vec<(String, bool)>> = rows(df)
        .take(max_rows)
        .map(|r| r.iter().map(|v| (text(v), is_number(v))).collect())
        .collect();
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in &shown {
        for (w, (c, _)) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    for w in &mut widths {
        *w = (*w).min(48);
    }
    let total = |ws: &[usize]| ws.iter().sum::<usize>() + 2 * ws.len().saturating_sub(1);
    while total(&widths) > width {
        let Some((i, &widest)) = widths.iter().enumerate().max_by_key(|(_, w)| **w) else {
            break;
        };
        if widest <= 6 {
            break;
        }
        widths[i] = widest - 1;
    }
    let mut out = String::new();
    let line = |cells: Vec<(String, bool)>, out: &mut String| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|((c, num), w)| {
                let c = clip(c, *w);
                if *num {
                    format!("{c:>w$}")
                } else {
                    format!("{c:<w$}")
                }
            })
            .collect();
        out.push_str(parts.join("  ").trim_end());
        out.push('\n');
    };
    line(head.iter().map(|h| (h.clone(), false)).collect(), &mut out);
    line(
        widths.iter().map(|w| ("─".repeat(*w), false)).collect(),
        &mut out,
    );
    for r in shown {
        line(r, &mut out);
    }
    let rest = df.height().saturating_sub(max_rows);
    if rest > 0 {
        out.push_str(&format!(
            "… {rest} more rows (--format csv or --output for all)\n"
        ));
    }
    out.push_str(&format!(
        "({} row{})\n",
        df.height(),
        if df.height() == 1 { "" } else { "s" }
    ));
    out
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
            let width = console::Term::stdout()
                .size_checked()
                .map(|(_, cols)| usize::from(cols))
                .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
                .unwrap_or(120)
                .max(40);
            w.write_all(table(df, width, MAX_TABLE_ROWS).as_bytes())?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::{Column, DataFrame};

    #[test]
    fn terminal_tables_fit_the_width() {
        let df = DataFrame::new(
            2,
            vec![
                Column::new(
                    "connection_id".into(),
                    ["conn_a", "a_very_long_connection_name_indeed"],
                ),
                Column::new("errors".into(), [5i64, 1234]),
            ],
        )
        .unwrap();
        let t = table(&df, 30, 2);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines.iter().all(|l| l.chars().count() <= 30), "{t}");
        assert_eq!(lines[0], format!("connection_id{}errors", " ".repeat(11)));
        assert_eq!(lines[2], format!("conn_a{}5", " ".repeat(23)));
        assert_eq!(lines[3], "a_very_long_connectio…    1234");
        assert_eq!(lines[4], "(2 rows)");
        let t = table(&df, 30, 1);
        assert!(
            t.contains("… 1 more rows (--format csv or --output for all)\n(2 rows)"),
            "{t}"
        );
        let wide = table(&df, 200, 10);
        assert!(
            wide.contains("a_very_long_connection_name_indeed    1234"),
            "{wide}"
        );
    }
}
