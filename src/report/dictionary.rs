//! Which text columns of the events dataset are written without a Parquet dictionary.
//!
//! The Parquet writer dictionary-encodes a column until its dictionary outgrows its page
//! (1 MiB), then writes the rest of the column chunk plain. A column whose values hardly
//! repeat (client IPs and user ids of a large fleet, free text) pays for both: every value
//! is hashed and compared into a dictionary that is dropped, or, in a day's file of 50 k
//! rows that never fills the page, kept holding every value once plus an index per row.
//! On 5 M high-cardinality records over 90 days the two columns took a third of the
//! events writer's CPU, and the dataset was 16 % larger than without their dictionaries.
//!
//! So the writer samples each text column's values now and then (4,096 of a batch, spread
//! over it), estimates how many distinct values a row group would hold, and writes the
//! column plain in the files it opens next when that dictionary would outgrow its page.
//! Columns whose values repeat (codes, connections, user agents, the IPs of a few
//! clients) keep their dictionary. The choice changes the encoding only, never a value.

use std::collections::HashSet;

use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;

/// Values sampled from a batch (spread evenly over it).
const SAMPLE: usize = 4096;
/// Fewer non-null values than this in a sample say nothing: the column keeps its choice.
const MIN_VALUES: usize = 1024;
/// Batches between two samples (a sample is ~1 ms; batches are thousands of rows).
const RESAMPLE_EVERY: u32 = 64;
/// The writer's dictionary page limit (parquet's default): past it, it falls back to plain.
const DICTIONARY_PAGE_BYTES: f64 = 1024.0 * 1024.0;

/// The text columns to write without a dictionary, learnt from the batches written.
#[derive(Debug)]
pub struct Dictionaries {
    /// Column index -> written plain.
    plain: Vec<bool>,
    since_sample: Option<u32>,
    /// Rows of a row group of the files written: the most values one dictionary serves.
    row_group_rows: usize,
}

impl Dictionaries {
    /// For files of row groups of `row_group_rows` rows.
    pub fn for_row_groups(row_group_rows: usize) -> Self {
        Dictionaries {
            plain: Vec::new(),
            since_sample: None,
            row_group_rows,
        }
    }

    /// Samples `batch` when a sample is due (the first batch of at least [`MIN_VALUES`]
    /// rows, then every [`RESAMPLE_EVERY`] batches).
    pub fn observe(&mut self, batch: &RecordBatch) {
        if let Some(n) = self.since_sample.as_mut() {
            *n += 1;
            if *n < RESAMPLE_EVERY {
                return;
            }
        }
        if batch.num_rows() < MIN_VALUES {
            return;
        }
        self.since_sample = Some(0);
        self.plain.resize(batch.num_columns(), false);
        for (i, column) in batch.columns().iter().enumerate() {
            if *column.data_type() != DataType::Utf8View {
                continue;
            }
            let values = column.as_string_view();
            let step = (values.len() / SAMPLE).max(1);
            let mut distinct =
                HashSet::with_capacity_and_hasher(SAMPLE, foldhash::fast::FixedState::with_seed(0));
            let (mut seen, mut bytes) = (0usize, 0usize);
            for row in (0..values.len()).step_by(step).take(SAMPLE) {
                if values.is_null(row) {
                    continue;
                }
                let v = values.value(row);
                seen += 1;
                bytes += v.len();
                distinct.insert(v);
            }
            if seen >= MIN_VALUES {
                self.plain[i] = outgrows_page(seen, distinct.len(), bytes, self.row_group_rows);
            }
        }
    }

    /// Whether column `i` is written without a dictionary in the files opened now.
    pub fn plain(&self, i: usize) -> bool {
        self.plain.get(i).copied().unwrap_or(false)
    }
}

/// Whether the dictionary of a row group of values like a sample (`seen` values, `distinct`
/// of them different, `bytes` long in all) would outgrow its page: the writer would drop it.
fn outgrows_page(seen: usize, distinct: usize, bytes: usize, row_group_rows: usize) -> bool {
    // A row group's rows are the most values one dictionary serves.
    let groups_distinct = distinct_among(seen, distinct).min(row_group_rows as f64);
    // Parquet's estimate of a dictionary page: each value plus its 4-byte length.
    let per_value = bytes as f64 / seen as f64 + 4.0;
    groups_distinct * per_value > DICTIONARY_PAGE_BYTES
}

/// The number of distinct values `n` such that `seen` draws among `n` equally likely
/// values give `distinct` different ones on average: `n (1 - e^(-seen/n)) = distinct`.
/// Infinite when every draw differed. Skewed values (a few heavy clients) give fewer
/// distinct draws, so a lower estimate: the column keeps its dictionary.
fn distinct_among(seen: usize, distinct: usize) -> f64 {
    let (k, d) = (seen as f64, distinct as f64);
    if distinct >= seen {
        return f64::INFINITY;
    }
    let expected = |n: f64| n * (1.0 - (-k / n).exp());
    let (mut lo, mut hi) = (d, d * 2.0);
    while expected(hi) < d {
        hi *= 2.0;
    }
    for _ in 0..60 {
        let mid = (lo + hi) / 2.0;
        if expected(mid) < d {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, StringViewArray};
    use arrow_schema::{Field, Schema};
    use std::sync::Arc;

    /// Row groups of the tests' files: the size the events dataset writes.
    const ROWS: usize = 256 * 1024;

    fn batch(columns: Vec<Vec<Option<String>>>) -> RecordBatch {
        let fields: Vec<Field> = (0..columns.len())
            .map(|i| Field::new(format!("c{i}"), DataType::Utf8View, true))
            .collect();
        let arrays: Vec<ArrayRef> = columns
            .into_iter()
            .map(|c| Arc::new(StringViewArray::from(c)) as ArrayRef)
            .collect();
        RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).unwrap()
    }

    /// A deterministic spread of `n` values among `distinct` keys.
    fn keys(n: usize, distinct: u64, prefix: &str) -> Vec<Option<String>> {
        (0..n as u64)
            .map(|i| {
                let x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(17) % distinct;
                Some(format!("{prefix}{x}"))
            })
            .collect()
    }

    #[test]
    fn the_estimate_recovers_the_number_of_values() {
        for n in [50.0_f64, 5_000.0, 40_000.0, 200_000.0] {
            let k = 4096.0;
            let d = n * (1.0 - (-k / n).exp());
            let est = distinct_among(4096, d.round() as usize);
            assert!((est - n).abs() / n < 0.05, "{n}: {est}");
        }
        assert!(distinct_among(4096, 4096).is_infinite());
    }

    #[test]
    fn near_unique_columns_are_written_plain_and_repeating_ones_keep_their_dictionary() {
        let n = 20_000;
        let b = batch(vec![
            keys(n, u64::MAX, "10.1."),     // client IPs of a fleet: all different
            keys(n, 24, "conn_"),           // connections
            keys(n, 200_000, "u_org_3_"),   // users: 200 k of 17 B outgrow 1 MiB
            keys(n, 20_000, "198.51.100."), // 20 k clients: a 400 KB dictionary
            vec![None; n],                  // never set
        ]);
        let mut d = Dictionaries::for_row_groups(ROWS);
        d.observe(&b);
        assert!(d.plain(0));
        assert!(!d.plain(1));
        assert!(d.plain(2));
        assert!(!d.plain(3));
        assert!(!d.plain(4));
        assert!(!d.plain(99), "columns never seen keep the default");
    }

    #[test]
    fn a_column_mostly_null_keeps_its_choice_and_samples_are_spaced() {
        let n = 20_000;
        let mut sparse = vec![None; n];
        for (i, v) in keys(n, u64::MAX, "x").into_iter().enumerate().step_by(40) {
            sparse[i] = v;
        }
        let mut d = Dictionaries::for_row_groups(ROWS);
        d.observe(&batch(vec![keys(n, u64::MAX, "a"), sparse.clone()]));
        assert!(d.plain(0));
        assert!(!d.plain(1), "500 values are too few to judge");
        // Due again only after RESAMPLE_EVERY batches: a repeating column then keeps
        // its dictionary.
        let repeating = batch(vec![keys(n, 10, "a"), sparse]);
        for _ in 0..RESAMPLE_EVERY - 1 {
            d.observe(&repeating);
            assert!(d.plain(0));
        }
        d.observe(&repeating);
        assert!(!d.plain(0));
    }

    #[test]
    fn small_batches_are_not_sampled() {
        let mut d = Dictionaries::for_row_groups(ROWS);
        d.observe(&batch(vec![keys(500, u64::MAX, "a")]));
        assert!(!d.plain(0));
        d.observe(&batch(vec![keys(5_000, u64::MAX, "a")]));
        assert!(d.plain(0));
    }
}
