//! Events -> [`Tables`] in one pass: every batch of events is folded into per-dimension,
//! per-key window counts as it goes by; its error events go to a temporary file
//! ([`Spill`]), from which the 401s and 403s are read back after ingest, as 32-byte rows
//! ([`super::auth`]), for the detectors that follow them. During `analyze` on raw logs
//! ingest feeds it each decoded batch in
//! input order (one collector, on the thread that writes the events), so the events are
//! never read back; an events dataset is streamed through it from its Parquet files.
//!
//! Memory follows keys x windows and the 401s and 403s, never the traffic: successes are
//! only counted, other errors spilled.

use rayon::prelude::*;
use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int16Type, TimestampMicrosecondType};
use arrow_array::{Array, PrimitiveArray, RecordBatch, StringViewArray};
use arrow_schema::DataType;
use foldhash::fast::RandomState;

use super::auth::{self, AuthFailures};
use super::dimension::Dimension;
use super::errlog::Spill;
use super::grid::Grid;
use super::outcomes::{for_each_batch, outcomes_from, ReauthStream, Successes};
use super::tables::{
    Cell, CodeSighting, Counts, DimSummary, DimTable, KeySeries, Series, Tables, OTHER_KEY,
};
use super::TimeBounds;

mod closed;
mod keys;
mod slab;
#[cfg(test)]
mod tests;

use self::keys::*;

/// The columns the collector reads (a dataset is scanned for these only).
pub const COLUMNS: [&str; 12] = [
    "ts",
    "status",
    "error_code",
    "category",
    "class",
    "connection_id",
    "organization_id",
    "user_id",
    "ip_address",
    "endpoint",
    "service",
    "request_id",
];

/// A string column as a view array (ingest writes views; other layouts are converted once).
struct Text(Option<StringViewArray>);

impl Text {
    fn of(batch: &RecordBatch, name: &str) -> Text {
        let Some(c) = batch.column_by_name(name) else {
            return Text(None);
        };
        if let Some(v) = c.as_string_view_opt() {
            return Text(Some(v.clone()));
        }
        Text(match c.data_type() {
            DataType::Utf8 => Some(c.as_string::<i32>().iter().collect()),
            DataType::LargeUtf8 => Some(c.as_string::<i64>().iter().collect()),
            _ => None,
        })
    }

    #[inline]
    fn get(&self, i: usize) -> Option<&str> {
        let a = self.0.as_ref()?;
        (!a.is_null(i)).then(|| a.value(i))
    }

    /// The value and its view: a view of at most 12 bytes holds the whole string, zero
    /// padded (Arrow validates the padding), so it is the string's own 128-bit key.
    #[inline]
    fn get_view(&self, i: usize) -> Option<(&str, u128)> {
        let a = self.0.as_ref()?;
        (!a.is_null(i)).then(|| (a.value(i), a.views()[i]))
    }
}

/// Where a dimension's key comes from.
enum Key {
    All,
    StatusClass,
    Column(Text),
}

/// Folds events into window counts; see the module documentation.
pub struct Collector {
    step_us: i64,
    bounds: TimeBounds,
    min_ts: i64,
    max_ts: i64,
    events: u64,
    successes: u64,
    dims: Vec<Dim>,
    /// Every error event, written to a temporary file as it comes.
    spill: Spill,
    /// How many 401s and 403s the spill holds: the detectors that follow them read them
    /// back at the end (kept in memory, they grew with the input through ingest).
    auth_failures: usize,
    /// Per error code (by its id in the spill): first sighting and volume.
    codes: HashMap<u32, CodeFirst, RandomState>,
    /// The reauthorization input, folded while the input is in time order.
    reauth: ReauthStream,
    /// Which of `dims` is `connection_id` (its key ids name connections in `reauth`).
    conn_dim: usize,
    /// The rows of the batch being folded (kept for the next batch's).
    rows: Vec<Row>,
    /// The key hashes of a batch for a summarised dimension, reused likewise.
    hashes: Vec<u64>,
    /// Only the error events are kept ([`Collector::details_only`]).
    details_only: bool,
}

/// A row of a batch within the bounds, as [`Collector::observe`] folds it.
struct Row {
    /// Its index in the batch.
    i: usize,
    t: i64,
    window: i64,
    st: Option<i16>,
    c: Counts,
    /// Its connection's key id, once the `connection_id` dimension has seen it.
    conn: Option<u32>,
    /// A request (not a runtime log line): counted in the dimensions.
    request: bool,
    /// Its status, or the one its outcome stands for (401, 403, 429).
    outcome: Option<i16>,
}

/// An error code's earliest event (by time, then input order), its class (an id in the
/// spill) and volume.
struct CodeFirst {
    ts: i64,
    order: u64,
    class: u32,
    events: u64,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("step_us", &self.step_us)
            .field("events", &self.events)
            .field("auth_failures", &self.auth_failures)
            .finish_non_exhaustive()
    }
}

/// `status_class` keys (`4xx`, `none` without a status), allocating only for the
/// statuses ingest never writes.
fn status_class(status: Option<i16>) -> std::borrow::Cow<'static, str> {
    use std::borrow::Cow;
    const CLASSES: [&str; 6] = ["0xx", "1xx", "2xx", "3xx", "4xx", "5xx"];
    match status.map(|s| i64::from(s).div_euclid(100)) {
        None => Cow::Borrowed("none"),
        Some(c @ 0..=5) => Cow::Borrowed(CLASSES[c as usize]),
        Some(c) => Cow::Owned(format!("{c}xx")),
    }
}

/// Which of [`Dim::add_fixed`]'s slots holds a status class: `none` and `0xx`..`5xx`
/// (the classes ingest writes); `None` for any other.
fn status_slot(status: Option<i16>) -> Option<usize> {
    match status.map(|s| i64::from(s).div_euclid(100)) {
        None => Some(1),
        Some(c @ 0..=5) => Some(2 + c as usize),
        Some(_) => None,
    }
}

#[cfg(test)]
impl Collector {
    /// Window cells the fold holds, over every dimension.
    pub(crate) fn cells_held(&self) -> usize {
        self.dims
            .iter()
            .map(|d| d.slabs.iter().map(|s| s.held()).sum::<usize>() + d.closed.held())
            .sum()
    }

    /// Bytes the window counts hold, over every dimension.
    pub(crate) fn window_bytes(&self) -> usize {
        self.dims.iter().map(|d| d.window_bytes()).sum()
    }
}

impl Collector {
    /// Fails only when the temporary file for the error events cannot be created.
    /// A collector whose dimensions are never summarised (see [`Collector::with_max_keys`]).
    pub fn new(step_us: i64, bounds: TimeBounds) -> anyhow::Result<Collector> {
        Collector::with_max_keys(step_us, bounds, 0)
    }

    /// A collector reporting at most `max_keys` keys per dimension (`[rates] max_keys`;
    /// 0: no limit): past that a dimension is summarised, its other keys folded into
    /// `(other)`.
    pub fn with_max_keys(
        step_us: i64,
        bounds: TimeBounds,
        max_keys: usize,
    ) -> anyhow::Result<Collector> {
        Ok(Collector {
            step_us,
            bounds,
            min_ts: i64::MAX,
            max_ts: i64::MIN,
            events: 0,
            successes: 0,
            dims: Dimension::ALL
                .iter()
                .map(|_| Dim::with_max_keys(max_keys))
                .collect(),
            spill: Spill::new()?,
            auth_failures: 0,
            codes: HashMap::default(),
            reauth: ReauthStream::default(),
            conn_dim: Dimension::ConnectionId.index(),
            rows: Vec::new(),
            hashes: Vec::new(),
            details_only: false,
        })
    }

    /// A collector that keeps only what the detectors follow event by event (the error
    /// events, the 401s and 403s, the error codes' first sightings), for an engine that
    /// computes the window counts elsewhere and hands over the error events.
    pub fn details_only(bounds: TimeBounds) -> anyhow::Result<Collector> {
        let mut c = Collector::with_max_keys(super::grid::MINUTE_US, bounds, 0)?;
        c.details_only = true;
        // The successes are not seen: the outcomes come from the engine.
        c.reauth.give_up();
        Ok(c)
    }

    /// Events folded so far (within the bounds).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Folds one batch of events (the canonical schema, or any projection holding
    /// [`COLUMNS`]); `seq` orders batches as the input had them (ties in time keep it).
    pub fn observe(&mut self, batch: &RecordBatch, seq: u64) {
        let Some(ts) = batch.column_by_name("ts") else {
            return;
        };
        let Some(ts) = ts.as_primitive_opt::<TimestampMicrosecondType>() else {
            return;
        };
        let status: Option<&PrimitiveArray<Int16Type>> = batch
            .column_by_name("status")
            .and_then(|c| c.as_primitive_opt::<Int16Type>());
        let text: Vec<Text> = COLUMNS[2..].iter().map(|n| Text::of(batch, n)).collect();
        let [error_code, category, class, connection_id, organization_id, user_id, ip_address, endpoint, service, request_id] =
            &text[..]
        else {
            unreachable!("ten text columns");
        };
        // What keys each dimension, in `Dimension::ALL` order: every dimension but `all`
        // and `status_class` is the column of its name.
        let keys: Vec<Key> = Dimension::ALL
            .iter()
            .map(|d| match *d {
                Dimension::All => Key::All,
                Dimension::StatusClass => Key::StatusClass,
                column => Key::Column(Text::of(batch, column.as_str())),
            })
            .collect();
        // Dimension by dimension rather than row by row: each dimension's loop has one
        // kind of key and one column, so the per-row match on the key and the column
        // checks leave the inner loop. Ids are still given in row order per dimension,
        // and the connections, reauthorization and spill see the rows in order below.
        let mut rows = std::mem::take(&mut self.rows);
        rows.clear();
        let mut hashes = std::mem::take(&mut self.hashes);
        for i in 0..batch.num_rows() {
            if ts.is_null(i) {
                continue;
            }
            let t = ts.value(i);
            if !self.bounds.contains(t) {
                continue;
            }
            self.min_ts = self.min_ts.min(t);
            self.max_ts = self.max_ts.max(t);
            let st = status.and_then(|s| (!s.is_null(i)).then(|| s.value(i)));
            let cat = category.get(i);
            let is_error = !matches!(cat, Some("success" | "log"));
            // Runtime log lines (`log`, `runtime`) are no requests: they enter no count
            // and no ratio; an error one still reaches the per-event detectors.
            let request = !matches!(cat, Some("log" | "runtime"));
            // The outcome as a status: a statusless authentication failure, denial or
            // throttle (CloudTrail's `AccessDenied`, Okta's `INVALID_CREDENTIALS`, a WAF's
            // rate-based block) counts as the 401, 403 or 429 it is, for the counts and for
            // the detectors that follow 401s and 403s.
            let outcome = st.or(match (is_error, cat) {
                (true, Some("authentication")) => Some(401),
                (true, Some("authorization")) => Some(403),
                (true, Some("rate_limit")) => Some(429),
                _ => None,
            });
            let between = |lo: i16, hi: i16| u32::from(st.is_some_and(|s| s >= lo && s < hi));
            let is = |v: i16| u32::from(outcome == Some(v));
            rows.push(Row {
                i,
                t,
                window: t.div_euclid(self.step_us),
                st,
                outcome,
                request,
                conn: None,
                c: Counts {
                    requests: 1,
                    errors: u32::from(is_error),
                    s4xx: between(400, 500),
                    s5xx: between(500, 600),
                    s401: is(401),
                    s403: is(403),
                    s429: is(429),
                },
            });
        }
        self.events += rows.len() as u64;
        let dims = if self.details_only {
            &mut [][..]
        } else {
            &mut self.dims[..]
        };
        for (d, (dim, key)) in dims.iter_mut().zip(&keys).enumerate() {
            match key {
                Key::All => {
                    for r in rows.iter().filter(|r| r.request) {
                        dim.add_fixed(0, || "all".into(), r.window, &r.c);
                    }
                }
                Key::StatusClass => {
                    for r in rows.iter().filter(|r| r.request) {
                        match status_slot(r.st) {
                            Some(slot) => {
                                dim.add_fixed(slot, || status_class(r.st), r.window, &r.c)
                            }
                            None => dim.add(&status_class(r.st), r.window, &r.c),
                        }
                    }
                }
                Key::Column(col) => {
                    let is_conn = d == self.conn_dim;
                    // A summarised dimension (client IPs, users of a fleet) sees mostly
                    // keys it does not track: their hashes first, each prefetching its
                    // doorkeeper bucket, then the lookups (a cache miss a row otherwise).
                    hashes.clear();
                    if let Some(s) = dim.summary.as_deref() {
                        for r in rows.iter().filter(|r| r.request) {
                            let h = col.get_view(r.i).map_or(0, |(k, _)| key_hash(k));
                            s.prefetch(h);
                            hashes.push(h);
                        }
                    }
                    let mut hashed = hashes.iter();
                    for r in rows.iter_mut().filter(|r| r.request) {
                        let h = hashed.next();
                        if let Some((k, v)) = col.get_view(r.i) {
                            let id = match h {
                                Some(&h) => dim.add_view_hashed(k, v, h, r.window, &r.c),
                                None => dim.add_view(k, v, r.window, &r.c),
                            };
                            if is_conn && id != UNTRACKED {
                                r.conn = Some(id);
                            }
                        }
                    }
                }
            }
        }
        if self.dims[self.conn_dim].summary.is_some() {
            // Connection ids are reused slots now: the outcomes are read again at the end.
            self.reauth.give_up();
        }
        for r in &rows {
            let (i, t, st, is_error) = (r.i, r.t, r.outcome, r.c.errors == 1);
            self.successes += u64::from(!is_error && r.request);
            if let Some(conn) = r.conn {
                if !is_error {
                    self.reauth.observe(conn, t, false);
                } else if st == Some(401) {
                    self.reauth.observe(conn, t, true);
                }
            }
            if is_error {
                let order = (seq << 32) | i as u64;
                let code = error_code.get(i);
                let values = [
                    code,
                    category.get(i),
                    class.get(i),
                    connection_id.get(i),
                    organization_id.get(i),
                    user_id.get(i),
                    ip_address.get(i),
                    endpoint.get(i),
                    service.get(i),
                ];
                let ids = self.spill.push(t, order, st, values, request_id.get(i));
                if code.is_some() {
                    let seen = self.codes.entry(ids[0]).or_insert(CodeFirst {
                        ts: t,
                        order,
                        class: ids[2],
                        events: 0,
                    });
                    seen.events += 1;
                    if (t, order) < (seen.ts, seen.order) {
                        (seen.ts, seen.order, seen.class) = (t, order, ids[2]);
                    }
                }
                self.auth_failures += usize::from(auth::holds(st));
            }
        }
        self.rows = rows;
        self.hashes = hashes;
    }

    /// Streams the events of a dataset (hive-partitioned Parquet) through a collector.
    pub fn read_dataset(
        events_dir: &Path,
        step_us: i64,
        bounds: TimeBounds,
        max_keys: usize,
    ) -> anyhow::Result<Collector> {
        let mut c = Collector::with_max_keys(step_us, bounds, max_keys)?;
        let mut seq = 0u64;
        for_each_batch(events_dir, &COLUMNS, |b| {
            c.observe(b, seq);
            seq += 1;
        })?;
        Ok(c)
    }

    /// The detectors' tables (`None` without events). The reauthorization input needs the
    /// successes of the connections found to have repeated 401s, which only the end of the
    /// input tells: folded as they came when the input was in time order per connection,
    /// else streamed once more from `events_dir`.
    pub fn finish(mut self, events_dir: &Path, reauth_min: u32) -> anyhow::Result<Option<Tables>> {
        if self.events == 0 {
            return Ok(None);
        }
        let bounds = self.bounds;
        let span = Span {
            min_ts: self.min_ts,
            max_ts: self.max_ts,
            has_successes: self.successes > 0,
        };
        let grid = Grid::spanning(self.min_ts, self.max_ts, self.step_us);
        let dims = std::mem::take(&mut self.dims);
        let conn_ids = &dims[self.conn_dim].ids;
        let details = self.finish_details(reauth_min, conn_ids, &mut |_, by_org, visit| {
            super::outcomes::dataset_successes(events_dir, bounds, by_org, visit)
        })?;
        // The dimensions are turned into series at once, on every core.
        let dims = Dimension::ALL
            .into_par_iter()
            .zip(dims)
            .map(|(dimension, d)| {
                let (series, summary) = d.into_series(&grid);
                DimTable {
                    dimension,
                    series,
                    summary,
                }
            })
            .collect();
        Ok(Some(details.into_tables(grid, dims, span)))
    }

    /// What the detectors follow event by event: the error log, the 401s and 403s, the
    /// error codes and the reauthorization outcomes (`conn_ids`: the connections' key ids,
    /// when the outcomes were folded as the input came; the successes of the other
    /// followed keys come from `successes`).
    pub fn finish_details(
        self,
        reauth_min: u32,
        conn_ids: &HashMap<Box<str>, u32, RandomState>,
        successes: &mut Successes<'_>,
    ) -> anyhow::Result<Details> {
        // Error codes first: their values are the spill's, which `finish` hands over.
        let mut codes: Vec<CodeSighting> = self
            .codes
            .into_iter()
            .filter_map(|(id, c)| {
                Some(CodeSighting {
                    code: self.spill.value(id)?.to_string(),
                    class: self
                        .spill
                        .value(c.class)
                        .as_deref()
                        .unwrap_or("warning")
                        .to_string(),
                    first_ts: c.ts,
                    events: c.events,
                })
            })
            .collect();
        codes.sort_by(|a, b| a.code.cmp(&b.code));
        let error_log = self.spill.finish()?;
        // The 401s and 403s as value ids, without request ids: their detectors never show
        // one (incident samples come from the log).
        let auth_failures = error_log.auth_failures(self.auth_failures)?;
        let names = flaky_keys(&auth_failures, reauth_min, false);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let named: Vec<(&str, u32)> = names
            .iter()
            .filter_map(|n| Some((*n, *conn_ids.get(*n)?)))
            .collect();
        let mut connection_outcomes = match self.reauth.outcomes(&named) {
            Some(rows) => rows,
            None => outcomes_from(&auth_failures, &names, false, successes)
                .context("reading connection outcomes")?,
        };
        // Unified APIs key the integration by account or tenant (seed 001's `accountId`):
        // where records name no connection, the organisation is the integration.
        let orgs = flaky_keys(&auth_failures, reauth_min, true);
        if !orgs.is_empty() {
            let orgs: Vec<&str> = orgs.iter().map(String::as_str).collect();
            connection_outcomes.extend(
                outcomes_from(&auth_failures, &orgs, true, successes)
                    .context("reading account outcomes")?,
            );
        }
        Ok(Details {
            auth_failures,
            error_log,
            connection_outcomes,
            codes,
        })
    }
}

/// What [`Collector::finish_details`] hands over: the detectors' event-by-event input.
pub struct Details {
    pub auth_failures: AuthFailures,
    pub error_log: super::errlog::ErrorLog,
    pub connection_outcomes: Vec<super::tables::Outcome>,
    pub codes: Vec<CodeSighting>,
}

/// What every event within the bounds says (not only the error events): their span and
/// whether any was a success. From whichever engine counted them.
pub struct Span {
    pub min_ts: i64,
    pub max_ts: i64,
    pub has_successes: bool,
}

impl Details {
    /// The tables, with the window counts of every dimension on `grid`, of events `span`.
    pub fn into_tables(self, grid: Grid, dims: Vec<DimTable>, span: Span) -> Tables {
        Tables {
            grid,
            has_successes: span.has_successes,
            dims,
            auth_failures: self.auth_failures,
            error_log: self.error_log,
            connection_outcomes: self.connection_outcomes,
            codes: self.codes,
            min_ts: span.min_ts,
            max_ts: span.max_ts,
            report_from: 0,
        }
    }
}

/// The statuses whose events the auth detectors follow one by one.
/// At most this many connections are followed one call at a time for reauthorization.
const MAX_REAUTH_CONNECTIONS: usize = 500;

/// Connections (or, `by_organization`, the organisations of the 401s that name no
/// connection) with at least `min` 401s (the busiest first, at most 500).
fn flaky_keys(failures: &AuthFailures, min: u32, by_organization: bool) -> Vec<String> {
    let mut per_conn: HashMap<&str, u32> = HashMap::new();
    for e in failures.iter().filter(|e| e.status() == 401) {
        let key = if by_organization {
            e.organization_id().filter(|_| e.connection_id().is_none())
        } else {
            e.connection_id()
        };
        if let Some(c) = key {
            *per_conn.entry(c).or_insert(0) += 1;
        }
    }
    let mut flaky: Vec<(&str, u32)> = per_conn
        .into_iter()
        .filter(|(_, n)| *n >= min.max(1))
        .collect();
    flaky.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    flaky.truncate(MAX_REAUTH_CONNECTIONS);
    flaky.into_iter().map(|(c, _)| c.to_string()).collect()
}
