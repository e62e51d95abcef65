//! The reauthorization detector's input, in bounded memory: for each connection with
//! repeated 401s, its 401s in time order and, between two consecutive 401s, whether any
//! success came. Sorting every success of every such connection, as this once did, held
//! the whole traffic in memory (0.4 GB at 3.5 M events, 3 GB at 35 M).
//!
//! Input in time order per connection (exports usually are) is folded as it comes
//! ([`ReauthStream`]: per connection its 401 times and one flag per gap). Otherwise the
//! successes are streamed once more from the Parquet files, three columns at a time, and
//! only mark the gap between 401s they fall into ([`reauth_outcomes`]). Both give the
//! same rows.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

use anyhow::Context;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::Array;
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ProjectionMask;

use super::auth::AuthFailures;
use super::tables::{Outcome, Shared};
use super::TimeBounds;

fn text_at(col: &dyn Array, i: usize) -> Option<&str> {
    if col.is_null(i) {
        return None;
    }
    match col.data_type() {
        DataType::Utf8View => Some(col.as_string_view().value(i)),
        DataType::Utf8 => Some(col.as_string::<i32>().value(i)),
        DataType::LargeUtf8 => Some(col.as_string::<i64>().value(i)),
        _ => None,
    }
}

/// Every Parquet file under `dir`, sorted by path.
pub fn parquet_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file() && e.path().extension().is_some_and(|x| x == "parquet"))
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files
}

/// Streams the given columns of every Parquet file under `events_dir`, in path order.
pub fn for_each_batch(
    events_dir: &Path,
    columns: &[&str],
    mut f: impl FnMut(&arrow_array::RecordBatch),
) -> anyhow::Result<()> {
    for path in parquet_files(events_dir) {
        let file = File::open(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let builder = ParquetRecordBatchReaderBuilder::try_new(file)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mask = ProjectionMask::columns(builder.parquet_schema(), columns.iter().copied());
        let reader = builder
            .with_projection(mask)
            .with_batch_size(64 * 1024)
            .build()?;
        for batch in reader {
            f(&batch.with_context(|| format!("cannot read {}", path.display()))?);
        }
    }
    Ok(())
}

/// The 401s of `connections` (from `failures`) with a success row before each
/// 401 that follows a success, and after the last one when a success followed it.
/// `by_organization`: the keys are organisations (accounts, tenants), and only the events
/// that name no connection are theirs. The successes are streamed from the Parquet
/// files of `events_dir` (three columns at a time).
pub fn reauth_outcomes(
    events_dir: &Path,
    failures: &AuthFailures,
    connections: &[&str],
    bounds: TimeBounds,
    by_organization: bool,
) -> anyhow::Result<Vec<Outcome>> {
    outcomes_from(
        failures,
        connections,
        by_organization,
        &mut |_, by_org, visit| dataset_successes(events_dir, bounds, by_org, visit),
    )
}

/// Where the successes of the followed keys come from: called with the keys and whether
/// they are organisations, it hands each success (key, and when it came) to the visitor,
/// in any order. The events dataset on disk, or an aggregation engine's query.
pub type Successes<'a> =
    dyn FnMut(&[&str], bool, &mut dyn FnMut(&str, Success)) -> anyhow::Result<()> + 'a;

/// When a success came, for the reauthorization input.
#[derive(Debug, Clone, Copy)]
pub enum Success {
    /// At this time (epoch µs, within the bounds).
    At(i64),
    /// After the g-th 401 of its key and before the next (g 401s at or before it): what an
    /// engine that counted the 401s itself hands over, one per gap rather than one per
    /// success.
    InGap(usize),
}

/// What [`reauth_outcomes`] computes, with the successes from `successes`.
pub fn outcomes_from(
    failures: &AuthFailures,
    connections: &[&str],
    by_organization: bool,
    successes: &mut Successes<'_>,
) -> anyhow::Result<Vec<Outcome>> {
    let index: HashMap<&str, usize> = connections
        .iter()
        .enumerate()
        .map(|(i, c)| (*c, i))
        .collect();
    let mut times: Vec<Vec<i64>> = vec![Vec::new(); connections.len()];
    for e in failures.iter().filter(|e| e.status() == 401) {
        let key = if by_organization {
            e.organization_id().filter(|_| e.connection_id().is_none())
        } else {
            e.connection_id()
        };
        if let Some(&k) = key.and_then(|c| index.get(c)) {
            times[k].push(e.ts());
        }
    }
    for t in &mut times {
        t.sort_unstable();
    }
    // gaps[k][g]: a success came after the g-th 401 of connection k (and before the next).
    let mut gaps: Vec<Vec<bool>> = times.iter().map(|t| vec![false; t.len() + 1]).collect();
    if !connections.is_empty() {
        successes(connections, by_organization, &mut |key, when| {
            if let Some(&k) = index.get(key) {
                let g = match when {
                    // A success at the same time as a 401 counts as after it.
                    Success::At(t) => times[k].partition_point(|x| *x <= t),
                    Success::InGap(g) => g.min(times[k].len()),
                };
                gaps[k][g] = true;
            }
        })?;
    }
    let mut rows = Vec::new();
    for (k, conn) in connections.iter().enumerate() {
        push_outcomes(&mut rows, conn, &times[k], |g| gaps[k][g]);
    }
    for r in &mut rows {
        r.by_organization = by_organization;
    }
    Ok(rows)
}

/// The successes within `bounds` of a dataset on disk, keyed by connection (or, with
/// `by_organization`, by the organisation of the events that name no connection).
pub fn dataset_successes(
    events_dir: &Path,
    bounds: TimeBounds,
    by_organization: bool,
    visit: &mut dyn FnMut(&str, Success),
) -> anyhow::Result<()> {
    let columns = ["ts", "category", "connection_id", "organization_id"];
    for_each_batch(events_dir, &columns, |b| {
        let (Some(ts), Some(cat), Some(conn), org) = (
            b.column_by_name("ts"),
            b.column_by_name("category"),
            b.column_by_name("connection_id"),
            b.column_by_name("organization_id"),
        ) else {
            return;
        };
        let ts = ts.as_primitive::<TimestampMicrosecondType>();
        for i in 0..b.num_rows() {
            if text_at(cat.as_ref(), i) != Some("success") {
                continue;
            }
            let key = match (by_organization, org) {
                (false, _) => text_at(conn.as_ref(), i),
                (true, Some(org)) if conn.is_null(i) => text_at(org.as_ref(), i),
                (true, _) => None,
            };
            let Some(key) = key else {
                continue;
            };
            let t = ts.value(i);
            if bounds.contains(t) {
                visit(key, Success::At(t));
            }
        }
    })
}

/// The outcome rows of one connection: its 401s (`times`, in time order) and a success
/// before each 401 whose gap had one, and after the last when `gap(times.len())`.
/// `gap(g)`: a success came after the g-th 401 and before the next.
fn push_outcomes(rows: &mut Vec<Outcome>, conn: &str, times: &[i64], gap: impl Fn(usize) -> bool) {
    let conn = Shared::from(conn);
    let row = |ts: i64, success: bool| Outcome {
        connection_id: conn.clone(),
        ts,
        success,
        by_organization: false,
    };
    for (g, &t) in times.iter().enumerate() {
        // Gap 0 (a success before the first 401) breaks nothing; later gaps do.
        if g > 0 && gap(g) {
            rows.push(row(t, true));
        }
        rows.push(row(t, false));
    }
    if let (Some(&last), true) = (times.last(), gap(times.len())) {
        rows.push(row(last + 1, true));
    }
}

/// The reauthorization outcomes folded in input order, while the input is in time order
/// per connection; the first event earlier than its connection's last one ends the fold
/// (and frees it), and the caller reads the events again ([`reauth_outcomes`]).
pub struct ReauthStream {
    /// By connection id (the collector's ids of `connection_id` keys).
    conns: Vec<ConnFold>,
    ordered: bool,
}

#[derive(Default)]
struct ConnFold {
    /// Time of the connection's last event.
    last: i64,
    /// Its 401s, in time order.
    times: Vec<i64>,
    /// `gaps[g]`: a success came before the g-th 401 and after the one before it.
    gaps: Vec<bool>,
    /// The earliest and latest success since the last 401.
    pending: Option<(i64, i64)>,
}

impl Default for ReauthStream {
    fn default() -> Self {
        ReauthStream {
            conns: Vec::new(),
            ordered: true,
        }
    }
}

impl ReauthStream {
    /// One success (`unauthorized: false`) or 401 of connection `conn` at `ts`.
    #[inline]
    pub fn observe(&mut self, conn: u32, ts: i64, unauthorized: bool) {
        if !self.ordered {
            return;
        }
        let k = conn as usize;
        if k >= self.conns.len() {
            self.conns.resize_with(k + 1, || ConnFold {
                last: i64::MIN,
                ..Default::default()
            });
        }
        let c = &mut self.conns[k];
        if ts < c.last {
            self.give_up();
            return;
        }
        c.last = ts;
        if !unauthorized {
            c.pending = Some(c.pending.map_or((ts, ts), |(lo, _)| (lo, ts)));
            return;
        }
        // Successes before this 401 fill the gap before it; those at its very time count
        // as after it (as in `reauth_outcomes`), so they carry over to the next gap.
        let (before, at) = c
            .pending
            .map_or((false, false), |(lo, hi)| (lo < ts, hi == ts));
        c.gaps.push(before);
        c.times.push(ts);
        c.pending = at.then_some((ts, ts));
    }

    /// Stops folding: the input is not in time order per connection.
    pub fn give_up(&mut self) {
        self.ordered = false;
        self.conns = Vec::new();
    }

    /// The outcome rows of `connections` (name and id), as [`reauth_outcomes`] makes them;
    /// `None` when the input was not in time order.
    pub fn outcomes(&self, connections: &[(&str, u32)]) -> Option<Vec<Outcome>> {
        if !self.ordered {
            return None;
        }
        let mut rows = Vec::new();
        for &(name, id) in connections {
            let Some(c) = self.conns.get(id as usize) else {
                continue;
            };
            // The gap after the last 401 is the successes still pending.
            let gap = |g: usize| c.gaps.get(g).copied().unwrap_or(c.pending.is_some());
            push_outcomes(&mut rows, name, &c.times, gap);
        }
        Some(rows)
    }
}
