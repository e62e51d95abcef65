//! CSV output: RFC 4180 (the `csv` crate quotes as needed), UTC ISO timestamps, and safe to
//! open in a spreadsheet: a cell that would start with `=`, `+`, `-` (unless it is a
//! number), `@`, a tab or a carriage return is prefixed with `'`, so it is never a formula.

use std::path::Path;

use anyhow::Context;
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Float64Type, Int16Type, Int32Type, Int64Type, TimestampMicrosecondType, UInt32Type, UInt64Type,
};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};

use super::atomic::AtomicFile;

/// Neutralises spreadsheet formulas (OWASP "CSV injection").
pub fn safe_cell(s: &str) -> std::borrow::Cow<'_, str> {
    let risky = match s.as_bytes().first() {
        Some(b'=' | b'@' | b'\t' | b'\r') => true,
        Some(b'+' | b'-') => s.parse::<f64>().is_err(),
        _ => false,
    };
    if risky {
        std::borrow::Cow::Owned(format!("'{s}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// A cell's text, written into `out` (cleared first) so a writer can reuse one buffer:
/// timestamps as `2024-03-04T14:05:00.000000Z`, floats without noise.
fn cell_into(col: &dyn Array, i: usize, out: &mut String) {
    use std::fmt::Write as _;
    out.clear();
    if col.is_null(i) {
        return;
    }
    // Writing into a String cannot fail.
    let _ = match col.data_type() {
        DataType::Utf8 => {
            out.push_str(col.as_string::<i32>().value(i));
            Ok(())
        }
        DataType::Utf8View => {
            out.push_str(col.as_string_view().value(i));
            Ok(())
        }
        DataType::Int16 => int(out, col.as_primitive::<Int16Type>().value(i)),
        DataType::Int32 => int(out, col.as_primitive::<Int32Type>().value(i)),
        DataType::Int64 => int(out, col.as_primitive::<Int64Type>().value(i)),
        DataType::UInt32 => int(out, col.as_primitive::<UInt32Type>().value(i)),
        DataType::UInt64 => int(out, col.as_primitive::<UInt64Type>().value(i)),
        DataType::Float64 => {
            let v = col.as_primitive::<Float64Type>().value(i);
            if v.fract() == 0.0 && v.abs() < 1e15 {
                // A whole number prints as the integer it is ("-0" stays "-0").
                if v == 0.0 && v.is_sign_negative() {
                    write!(out, "{v:.0}")
                } else {
                    int(out, v as i64)
                }
            } else {
                let r = write!(out, "{v:.6}");
                out.truncate(out.trim_end_matches('0').len());
                r
            }
        }
        DataType::Boolean => write!(out, "{}", col.as_boolean().value(i)),
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            utc_micros_into(col.as_primitive::<TimestampMicrosecondType>().value(i), out);
            Ok(())
        }
        other => write!(out, "<{other}>"),
    };
}

/// An integer's digits (itoa: no formatter machinery for millions of cells).
fn int(out: &mut String, v: impl itoa::Integer) -> std::fmt::Result {
    out.push_str(itoa::Buffer::new().format(v));
    Ok(())
}

/// `2024-03-04T14:05:00.000000Z`. Rates files hold two timestamps a row, so the digits
/// are written directly (chrono's `format` was 9 % of a 3.5 M event analysis).
#[cfg(test)]
fn utc_micros(us: i64) -> String {
    let mut s = String::new();
    utc_micros_into(us, &mut s);
    s
}

fn utc_micros_into(us: i64, out: &mut String) {
    use chrono::{Datelike, Timelike};
    fn digits(out: &mut String, v: u32, width: usize) {
        let mut buf = [b'0'; 10];
        let mut v = v;
        for slot in buf[..width].iter_mut().rev() {
            *slot = b'0' + (v % 10) as u8;
            v /= 10;
        }
        out.push_str(std::str::from_utf8(&buf[..width]).expect("ASCII digits"));
    }
    match chrono::DateTime::from_timestamp_micros(us) {
        Some(d) if (0..=9999).contains(&d.year()) => {
            // Each field, its width and the character after it.
            for (v, width, then) in [
                (d.year() as u32, 4, '-'),
                (d.month(), 2, '-'),
                (d.day(), 2, 'T'),
                (d.hour(), 2, ':'),
                (d.minute(), 2, ':'),
                (d.second(), 2, '.'),
                (d.timestamp_subsec_micros(), 6, 'Z'),
            ] {
                digits(out, v, width);
                out.push(then);
            }
        }
        Some(d) => out.push_str(&d.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()),
        None => out.push_str(&us.to_string()),
    }
}

/// Writes batches as one CSV file with a header, atomically.
pub fn write_csv(dest: &Path, batches: &[RecordBatch]) -> anyhow::Result<()> {
    let mut file = CsvFile::create(dest)?;
    for b in batches {
        file.write(b)?;
    }
    file.commit()
}

/// A CSV file written batch by batch (the header comes with the first), in place on
/// [`CsvFile::commit`].
pub struct CsvFile {
    file: AtomicFile,
    dest: std::path::PathBuf,
    header_written: bool,
    cell: String,
}

impl CsvFile {
    pub fn create(dest: &Path) -> anyhow::Result<CsvFile> {
        let file =
            AtomicFile::create(dest).with_context(|| format!("cannot write {}", dest.display()))?;
        Ok(CsvFile {
            file,
            dest: dest.to_path_buf(),
            header_written: false,
            cell: String::new(),
        })
    }

    pub fn write(&mut self, b: &RecordBatch) -> anyhow::Result<()> {
        let mut w = ::csv::Writer::from_writer(self.file.writer());
        if !self.header_written {
            w.write_record(b.schema().fields().iter().map(|f| f.name().as_str()))?;
            self.header_written = true;
        }
        for i in 0..b.num_rows() {
            for c in b.columns() {
                cell_into(c.as_ref(), i, &mut self.cell);
                w.write_field(safe_cell(&self.cell).as_bytes())?;
            }
            w.write_record(None::<&[u8]>)?;
        }
        w.flush()
            .with_context(|| format!("cannot write {}", self.dest.display()))?;
        Ok(())
    }

    pub fn commit(self) -> anyhow::Result<()> {
        self.file
            .commit()
            .with_context(|| format!("cannot write {}", self.dest.display()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_as_utc() {
        assert_eq!(utc_micros(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(
            utc_micros(1_709_561_100_123_456),
            "2024-03-04T14:05:00.123456Z"
        );
        assert_eq!(utc_micros(-1), "1969-12-31T23:59:59.999999Z");
        // Past year 9999 chrono's own format takes over (sign and all).
        assert!(utc_micros(300_000_000_000_000_000).starts_with("+11476-"));
    }

    #[test]
    fn formulas_are_neutralised_and_numbers_kept() {
        for (input, out) in [
            ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"),
            ("+cmd", "'+cmd"),
            ("-2+3", "'-2+3"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("-42", "-42"),
            ("+1.5", "+1.5"),
            ("conn_1", "conn_1"),
            ("", ""),
        ] {
            assert_eq!(safe_cell(input), out, "{input:?}");
        }
    }
}
