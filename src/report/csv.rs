//! CSV output: RFC 4180 (quoted as needed, by csv-core's rules), UTC ISO timestamps, and safe to
//! open in a spreadsheet: a cell that would start with `=`, `+`, `-` (unless it is a
//! number), `@`, a tab or a carriage return is prefixed with `'`, so it is never a formula.

use std::io::Write as _;
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

/// One column of a batch, downcast once (not per cell).
enum Col<'a> {
    Utf8(&'a arrow_array::StringArray),
    View(&'a arrow_array::StringViewArray),
    I16(&'a arrow_array::Int16Array),
    I32(&'a arrow_array::Int32Array),
    I64(&'a arrow_array::Int64Array),
    U32(&'a arrow_array::UInt32Array),
    U64(&'a arrow_array::UInt64Array),
    F64(&'a arrow_array::Float64Array),
    Bool(&'a arrow_array::BooleanArray),
    Ts(&'a arrow_array::TimestampMicrosecondArray),
    Other(&'a dyn Array),
}

impl<'a> Col<'a> {
    fn of(col: &'a dyn Array) -> Col<'a> {
        match col.data_type() {
            DataType::Utf8 => Col::Utf8(col.as_string::<i32>()),
            DataType::Utf8View => Col::View(col.as_string_view()),
            DataType::Int16 => Col::I16(col.as_primitive::<Int16Type>()),
            DataType::Int32 => Col::I32(col.as_primitive::<Int32Type>()),
            DataType::Int64 => Col::I64(col.as_primitive::<Int64Type>()),
            DataType::UInt32 => Col::U32(col.as_primitive::<UInt32Type>()),
            DataType::UInt64 => Col::U64(col.as_primitive::<UInt64Type>()),
            DataType::Float64 => Col::F64(col.as_primitive::<Float64Type>()),
            DataType::Boolean => Col::Bool(col.as_boolean()),
            DataType::Timestamp(TimeUnit::Microsecond, _) => {
                Col::Ts(col.as_primitive::<TimestampMicrosecondType>())
            }
            _ => Col::Other(col),
        }
    }

    /// Whether the cell's text may come from the input (and so needs [`safe_cell`]):
    /// numbers, booleans and timestamps are errscope's own digits.
    fn is_text(&self) -> bool {
        matches!(self, Col::Utf8(_) | Col::View(_) | Col::Other(_))
    }

    /// A text cell's value (`None` for a null): the input's own text, not yet made
    /// spreadsheet-safe.
    fn text(&self, i: usize) -> Option<std::borrow::Cow<'a, str>> {
        use std::borrow::Cow;
        match self {
            Col::Utf8(a) if a.is_valid(i) => Some(Cow::Borrowed(a.value(i))),
            Col::View(a) if a.is_valid(i) => Some(Cow::Borrowed(a.value(i))),
            Col::Other(a) if a.is_valid(i) => Some(Cow::Owned(format!("<{}>", a.data_type()))),
            _ => None,
        }
    }

    /// Appends a number, boolean or time cell's text to `out` (nothing for a null):
    /// timestamps as `2024-03-04T14:05:00.000000Z`, floats without noise. These are
    /// errscope's own characters (digits, `-+.:TZ`, `true`, `NaN`...): never a comma, a
    /// quote or a line break, so never quoted.
    fn digits_into(&self, i: usize, out: &mut Vec<u8>, dates: &mut DateCache) {
        let start = out.len();
        // Writing into a Vec cannot fail.
        let _ = match self {
            Col::I16(a) if a.is_valid(i) => int(out, a.value(i)),
            Col::I32(a) if a.is_valid(i) => int(out, a.value(i)),
            Col::I64(a) if a.is_valid(i) => int(out, a.value(i)),
            Col::U32(a) if a.is_valid(i) => int(out, a.value(i)),
            Col::U64(a) if a.is_valid(i) => int(out, a.value(i)),
            Col::F64(a) if a.is_valid(i) => {
                let v = a.value(i);
                if v.fract() == 0.0 && v.abs() < 1e15 {
                    // A whole number prints as the integer it is ("-0" stays "-0").
                    if v == 0.0 && v.is_sign_negative() {
                        write!(out, "{v:.0}")
                    } else {
                        int(out, v as i64)
                    }
                } else {
                    let r = write!(out, "{v:.6}");
                    while out.len() > start && out.last() == Some(&b'0') {
                        out.pop();
                    }
                    r
                }
            }
            Col::Bool(a) if a.is_valid(i) => write!(out, "{}", a.value(i)),
            Col::Ts(a) if a.is_valid(i) => {
                dates.utc_micros_into(a.value(i), out);
                Ok(())
            }
            _ => Ok(()),
        };
    }
}

/// An integer's digits (itoa: no formatter machinery for millions of cells).
fn int(out: &mut Vec<u8>, v: impl itoa::Integer) -> std::io::Result<()> {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    Ok(())
}

const US_PER_DAY: i64 = 86_400_000_000;

/// Times [`DateCache`] remembers whole (a power of two).
const RECENT_TIMES: usize = 1024;

/// `2024-03-04T14:05:00.000000Z`, digit by digit. Rates files hold two timestamps a row
/// (chrono's `format` was 9 % of a 3.5 M event analysis), and their rows keep to a few
/// days: the date of the last day is kept. They also write the same few hundred window
/// times key after key (550 k rows of IP addresses at 3.5 M events, the longest report
/// to write): recent times are kept whole, by a hash of the time.
#[derive(Default)]
struct DateCache {
    day: Option<(i64, [u8; 11])>,
    recent: Vec<Option<(i64, [u8; 27])>>,
}

impl DateCache {
    fn utc_micros_into(&mut self, us: i64, out: &mut Vec<u8>) {
        let slot = ((us as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 54) as usize;
        if let Some(Some((t, text))) = self.recent.get(slot) {
            if *t == us {
                out.extend_from_slice(text);
                return;
            }
        }
        if let Some(text) = self.format(us, out) {
            if self.recent.is_empty() {
                self.recent = vec![None; RECENT_TIMES];
            }
            self.recent[slot] = Some((us, text));
        }
    }

    /// Writes `us` into `out`; returns the text when it is the usual 27 bytes.
    fn format(&mut self, us: i64, out: &mut Vec<u8>) -> Option<[u8; 27]> {
        use chrono::Datelike;
        let day = us.div_euclid(US_PER_DAY);
        let date = match self.day {
            Some((d, date)) if d == day => date,
            _ => match chrono::DateTime::from_timestamp(day * 86_400, 0) {
                Some(d) if (0..=9999).contains(&d.year()) => {
                    let mut date = *b"0000-00-00T";
                    digits(&mut date[0..4], d.year() as u32);
                    digits(&mut date[5..7], d.month());
                    digits(&mut date[8..10], d.day());
                    self.day = Some((day, date));
                    date
                }
                Some(_) => {
                    // Past year 9999 chrono's own format takes over (sign and all).
                    let d = chrono::DateTime::from_timestamp_micros(us).expect("in range");
                    out.extend_from_slice(
                        d.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string().as_bytes(),
                    );
                    return None;
                }
                None => {
                    out.extend_from_slice(us.to_string().as_bytes());
                    return None;
                }
            },
        };
        let of_day = us - day * US_PER_DAY;
        let secs = (of_day / 1_000_000) as u32;
        let mut text = [0u8; 27];
        text[..11].copy_from_slice(&date);
        text[11..].copy_from_slice(b"00:00:00.000000Z");
        digits(&mut text[11..13], secs / 3600);
        digits(&mut text[14..16], secs / 60 % 60);
        digits(&mut text[17..19], secs % 60);
        digits(&mut text[20..26], (of_day % 1_000_000) as u32);
        out.extend_from_slice(&text);
        Some(text)
    }
}

/// `v`'s last `slot.len()` decimal digits, zero padded, into `slot`.
fn digits(slot: &mut [u8], mut v: u32) {
    for b in slot.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

#[cfg(test)]
fn utc_micros(us: i64) -> String {
    let mut s = Vec::new();
    DateCache::default().utc_micros_into(us, &mut s);
    String::from_utf8(s).expect("ASCII")
}

/// Bytes of rows [`CsvFile`] puts together before writing them out.
const ROWS_BUFFER: usize = 64 * 1024;

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
    dates: DateCache,
    /// Only asked which cells need quotes (its defaults are the `csv` crate's).
    quoting: csv_core::Writer,
    /// Rows put together and not yet written out (up to [`ROWS_BUFFER`] bytes).
    rows: Vec<u8>,
}

impl CsvFile {
    pub fn create(dest: &Path) -> anyhow::Result<CsvFile> {
        let file =
            AtomicFile::create(dest).with_context(|| format!("cannot write {}", dest.display()))?;
        Ok(CsvFile {
            file,
            dest: dest.to_path_buf(),
            header_written: false,
            dates: DateCache::default(),
            quoting: csv_core::Writer::new(),
            rows: Vec::new(),
        })
    }

    pub fn write(&mut self, b: &RecordBatch) -> anyhow::Result<()> {
        // Rows are put together here and written 64 KiB at a time; which cells need
        // quotes and how they are quoted is csv-core's call (the `csv` writer's machinery
        // per cell was most of the time of the biggest rates file, 550 k rows).
        let mut rows = std::mem::take(&mut self.rows);
        rows.clear();
        if !self.header_written {
            for (k, f) in b.schema().fields().iter().enumerate() {
                if k > 0 {
                    rows.push(b',');
                }
                self.put_text(&mut rows, f.name().as_bytes());
            }
            rows.push(b'\n');
            self.header_written = true;
        }
        let cols: Vec<Col> = b.columns().iter().map(|c| Col::of(c.as_ref())).collect();
        for i in 0..b.num_rows() {
            for (k, c) in cols.iter().enumerate() {
                if k > 0 {
                    rows.push(b',');
                }
                if c.is_text() {
                    if let Some(text) = c.text(i) {
                        self.put_text(&mut rows, safe_cell(&text).as_bytes());
                    }
                } else {
                    let start = rows.len();
                    c.digits_into(i, &mut rows, &mut self.dates);
                    debug_assert!(!self.quoting.should_quote(&rows[start..]));
                }
            }
            rows.push(b'\n');
            if rows.len() >= ROWS_BUFFER {
                self.put_rows(&mut rows)?;
            }
        }
        let written = self.put_rows(&mut rows);
        self.rows = rows;
        written
    }

    /// Writes out and empties the rows put together so far.
    fn put_rows(&mut self, rows: &mut Vec<u8>) -> anyhow::Result<()> {
        self.file
            .writer()
            .write_all(rows)
            .with_context(|| format!("cannot write {}", self.dest.display()))?;
        rows.clear();
        Ok(())
    }

    /// A text field, quoted as the `csv` crate quotes (only where needed, quotes doubled).
    fn put_text(&self, out: &mut Vec<u8>, field: &[u8]) {
        if !self.quoting.should_quote(field) {
            out.extend_from_slice(field);
            return;
        }
        out.push(b'"');
        let start = out.len();
        // At worst every byte is a quote, doubled.
        out.resize(start + 2 * field.len(), 0);
        let (_, _, n) = csv_core::quote(field, &mut out[start..], b'"', b'\\', true);
        out.truncate(start + n);
        out.push(b'"');
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

    /// Rows come out byte for byte as the `csv` crate's writer writes the same cells:
    /// quotes, commas, line breaks, empty and null cells, formulas, non-ASCII; over two
    /// batches (one header), each longer than the rows buffer.
    #[test]
    fn rows_are_quoted_as_the_csv_crate_quotes_them() {
        use arrow_array::{ArrayRef, Float64Array, Int64Array, StringArray};
        use std::sync::Arc;
        let texts = [
            Some("plain"),
            Some("a,b"),
            Some("say \"hi\""),
            Some("\""),
            Some("line\nbreak"),
            Some("cr\rhere"),
            Some(""),
            None,
            Some("=SUM(A1)"),
            Some("-12"),
            Some("+x"),
            Some("ünïcødé, “quoted”"),
            Some(" padded "),
            Some("#comment"),
        ];
        // Enough rows (~170 KB) that they are written out in several pieces.
        let texts: Vec<Option<&str>> = texts
            .iter()
            .cycle()
            .take(300 * texts.len())
            .copied()
            .collect();
        let n = texts.len();
        let batch = RecordBatch::try_from_iter([
            (
                "key, \"odd\" name",
                Arc::new(StringArray::from(texts.clone())) as ArrayRef,
            ),
            (
                "n",
                Arc::new(Int64Array::from_iter(
                    (0..n as i64).map(|i| (i % 3 != 0).then_some(i - 5)),
                )),
            ),
            (
                "x",
                Arc::new(Float64Array::from_iter_values(
                    (0..n).map(|i| i as f64 / 7.0),
                )),
            ),
        ])
        .unwrap();
        let dir = crate::testutil::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        let mut f = CsvFile::create(&path).unwrap();
        f.write(&batch.slice(0, n / 2)).unwrap();
        f.write(&batch.slice(n / 2, n - n / 2)).unwrap();
        f.commit().unwrap();
        let got = std::fs::read(&path).unwrap();

        let mut w = ::csv::Writer::from_writer(Vec::new());
        w.write_record(["key, \"odd\" name", "n", "x"]).unwrap();
        // The expected cells by plain std formatting: the input's text made safe, the
        // integers, the floats to six places without trailing zeros (whole ones as
        // integers).
        let ns = batch.column(1).as_primitive::<Int64Type>();
        for (i, text) in texts.iter().enumerate() {
            let key = text.map(|t| safe_cell(t).into_owned()).unwrap_or_default();
            let num = if ns.is_valid(i) {
                ns.value(i).to_string()
            } else {
                String::new()
            };
            let x = i as f64 / 7.0;
            let x = if x.fract() == 0.0 {
                (x as i64).to_string()
            } else {
                format!("{x:.6}").trim_end_matches('0').to_string()
            };
            w.write_record([key, num, x]).unwrap();
        }
        let want = w.into_inner().unwrap();
        assert_eq!(
            String::from_utf8(got).unwrap(),
            String::from_utf8(want).unwrap()
        );
    }

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
    fn cached_dates_agree_with_chrono() {
        // One cache across days, back and forth, boundaries and negative times.
        let mut dates = DateCache::default();
        let mut x = 99u64;
        let mut values = vec![
            0,
            -1,
            US_PER_DAY - 1,
            US_PER_DAY,
            -US_PER_DAY,
            253_402_300_799_999_999,
        ];
        // Rows of a rates file: window after window, day after day.
        values.extend((0..100).map(|k| 1_709_251_200_000_000 + k * 7_000_000_000));
        for _ in 0..2000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Years 1019 to 4253.
            values.push((x >> 8) as i64 - 30_000_000_000_000_000);
        }
        // Twice over: the second time most come from the remembered times (and the
        // random ones share slots).
        let mut out = Vec::new();
        for us in values.iter().chain(&values).copied() {
            out.clear();
            dates.utc_micros_into(us, &mut out);
            let d = chrono::DateTime::from_timestamp_micros(us).unwrap();
            let want = d.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
            assert_eq!(String::from_utf8_lossy(&out), want, "{us}");
        }
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
