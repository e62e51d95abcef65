//! The aggregation on an Apache Spark cluster, through Spark Connect (feature `spark`):
//! the window counts of every dimension are one Spark SQL query over the events dataset
//! (a hive-partitioned Parquet folder the cluster reads as it is); the detectors'
//! event-by-event input (the error events, the 401s and 403s, the error codes) comes back
//! as Arrow batches and is folded here exactly as the local fold folds it.
//!
//! One definition with the local fold ([`crate::analyze::collect`]): windows aligned on
//! the epoch (`t - pmod(t, step)`), the same request/error/outcome rules, null keys not
//! counted, `status_class` `none` without a status, bounds `[since, until)`. Past
//! `max_keys`, Spark ranks the keys exactly (weight: 16 per error, 1 per success) where the
//! local fold summarises in one pass; the report names the engine.

use std::collections::HashMap;

use anyhow::Context as _;
use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, RecordBatch};

use super::{Aggregation, AggregationEngine};
use crate::analyze::collect::{Collector, Span, COLUMNS};
use crate::analyze::dimension::Dimension;
use crate::analyze::grid::Grid;
use crate::analyze::outcomes::Success;
use crate::analyze::tables::{Counts, DimSummary, DimTable, KeySeries, Series, Tables, OTHER_KEY};
use crate::analyze::TimeBounds;
use crate::spark::{Session, SparkFailure};

/// Spark SQL over a Spark Connect server (`sc://HOST:PORT`).
pub struct SparkEngine {
    url: String,
    /// The dataset as the cluster names it (`file:///…/events`, `s3a://bucket/…/events`):
    /// one folder, or one per writer of a fleet (read as one).
    datasets: Vec<String>,
}

impl SparkEngine {
    /// `url`: the Spark Connect connection string; `datasets`: the events dataset's
    /// folders as the cluster reads them (their events are one dataset).
    pub fn new(url: &str, datasets: Vec<String>) -> SparkEngine {
        SparkEngine {
            url: url.to_string(),
            datasets,
        }
    }
}

impl AggregationEngine for SparkEngine {
    fn name(&self) -> String {
        format!("spark ({})", crate::spark::endpoint_name(&self.url))
    }

    fn aggregate(&mut self, job: &Aggregation<'_>) -> anyhow::Result<Option<Tables>> {
        let session = Session::connect(&self.url)?;
        // Files written at different times may differ in columns (a column added by a
        // later errscope): read them as one schema, the missing columns null.
        session.set_conf("spark.sql.parquet.mergeSchema", "true")?;
        session.set_conf("spark.sql.session.timeZone", "UTC")?;
        let sql = Sql::new(&session, &self.datasets, job.bounds)?;

        let mut totals = None;
        session.sql("counting the events", &sql.totals(), |b| {
            totals = Some(Totals::of(&b)?);
            Ok(())
        })?;
        let Some(totals) = totals.filter(|t| t.events > 0) else {
            return Ok(None);
        };

        let mut rows = RateRows::default();
        // Without `max_keys` (0) every key is kept: nothing to rank.
        let query = sql.rates(job.step_us, job.max_keys, job.max_keys > 0);
        session.sql("the window counts", &query, |b| rows.add(&b))?;

        // The error events, in input order (file, then row), folded as the local fold
        // folds them: the error log, the 401s and 403s, the codes' first sightings.
        let mut details = Collector::details_only(job.bounds)?;
        let mut seq = 0u64;
        session.sql("reading the error events", &sql.error_events(), |b| {
            details.observe(&b, seq);
            seq += 1;
            Ok(())
        })?;
        let details = details.finish_details(
            job.reauth_min,
            &HashMap::default(),
            &mut |keys, by_org, visit| {
                let query = sql.success_gaps(keys, by_org);
                session.sql("the connections' successes between 401s", &query, |b| {
                    let k = b.column(0).as_string::<i32>();
                    let g = b.column(1).as_primitive::<Int64Type>();
                    for i in 0..b.num_rows() {
                        if let (false, Ok(g)) = (k.is_null(i), usize::try_from(g.value(i))) {
                            visit(k.value(i), Success::InGap(g));
                        }
                    }
                    Ok(())
                })?;
                Ok(())
            },
        )?;

        let grid = Grid::spanning(totals.min_ts, totals.max_ts, job.step_us);
        let dims = rows.into_dims(&grid, job.max_keys)?;
        let span = Span {
            min_ts: totals.min_ts,
            max_ts: totals.max_ts,
            has_successes: totals.successes > 0,
        };
        Ok(Some(details.into_tables(grid, dims, span)))
    }
}

/// The events within the bounds: how many, their span, how many successes.
struct Totals {
    events: i64,
    min_ts: i64,
    max_ts: i64,
    successes: i64,
}

fn int_at(b: &RecordBatch, name: &str, i: usize) -> Option<i64> {
    let c = b.column_by_name(name)?;
    let c = c.as_primitive_opt::<Int64Type>()?;
    (!c.is_null(i)).then(|| c.value(i))
}

impl Totals {
    fn of(b: &RecordBatch) -> anyhow::Result<Totals> {
        anyhow::ensure!(b.num_rows() == 1, "the totals are one row");
        Ok(Totals {
            events: int_at(b, "events", 0).unwrap_or(0),
            min_ts: int_at(b, "lo", 0).unwrap_or(0),
            max_ts: int_at(b, "hi", 0).unwrap_or(0),
            successes: int_at(b, "successes", 0).unwrap_or(0),
        })
    }
}

/// One dimension's keys (`None`: `(other)`) and their (window number, counts).
type KeyCells = HashMap<Option<String>, Vec<(i64, Counts)>>;

/// The rows of the window-count query, by dimension and key (`None`: the folded
/// `(other)` keys of a summarised dimension).
#[derive(Default)]
struct RateRows {
    by_dim: HashMap<String, KeyCells>,
    keys: HashMap<String, u64>,
}

impl RateRows {
    fn add(&mut self, b: &RecordBatch) -> anyhow::Result<()> {
        let text = |n: &str| {
            b.column_by_name(n)
                .and_then(|c| c.as_string_opt::<i32>().cloned())
                .with_context(|| format!("no text column {n} in the result"))
        };
        let (dim, key) = (text("dim")?, text("k")?);
        let num = |n: &str| {
            b.column_by_name(n)
                .and_then(|c| c.as_primitive_opt::<Int64Type>().cloned())
                .with_context(|| format!("no integer column {n} in the result"))
        };
        let [w, requests, errors, s4xx, s5xx, s401, s403, s429, nkeys] = [
            "w", "requests", "errors", "s4xx", "s5xx", "s401", "s403", "s429", "nkeys",
        ]
        .map(num);
        let (w, nkeys) = (w?, nkeys?);
        let [requests, errors, s4xx, s5xx, s401, s403, s429] =
            [requests?, errors?, s4xx?, s5xx?, s401?, s403?, s429?];
        let count = |a: &arrow_array::PrimitiveArray<Int64Type>, i: usize| {
            u32::try_from(a.value(i)).unwrap_or(u32::MAX)
        };
        for i in 0..b.num_rows() {
            let d = dim.value(i).to_string();
            let k = (!key.is_null(i)).then(|| key.value(i).to_string());
            let c = Counts {
                requests: count(&requests, i),
                errors: count(&errors, i),
                s4xx: count(&s4xx, i),
                s5xx: count(&s5xx, i),
                s401: count(&s401, i),
                s403: count(&s403, i),
                s429: count(&s429, i),
            };
            self.keys.insert(d.clone(), nkeys.value(i) as u64);
            self.by_dim
                .entry(d)
                .or_default()
                .entry(k)
                .or_default()
                .push((w.value(i), c));
        }
        Ok(())
    }

    /// The dimensions' tables on `grid`, as the local fold gives them: keys sorted, a
    /// summarised dimension's other keys in `(other)`.
    fn into_dims(mut self, grid: &Grid, max_keys: usize) -> anyhow::Result<Vec<DimTable>> {
        let first_window = grid.start_us.div_euclid(grid.step_us);
        let series = |cells: Vec<(i64, Counts)>| -> anyhow::Result<Series> {
            let mut s = Series::zeros(grid.n);
            let mut cells = cells;
            cells.sort_unstable_by_key(|(w, _)| *w);
            for (w, c) in cells {
                let i = usize::try_from(w - first_window)
                    .ok()
                    .filter(|i| *i < grid.n)
                    .with_context(|| format!("window {w} outside the events' span"))?;
                s.set(i, c);
            }
            s.settle();
            Ok(s)
        };
        Dimension::ALL
            .into_iter()
            .map(|dimension| {
                let name = dimension.as_str();
                let keys = self.by_dim.remove(name).unwrap_or_default();
                let seen = self.keys.get(name).copied().unwrap_or(0);
                let mut other = None;
                let mut out = Vec::with_capacity(keys.len());
                for (k, cells) in keys {
                    match k {
                        Some(key) => out.push(KeySeries {
                            key,
                            counts: series(cells)?,
                        }),
                        None => other = Some(series(cells)?),
                    }
                }
                out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
                let summarised = max_keys > 0 && seen > max_keys as u64;
                let summary = summarised.then(|| DimSummary {
                    max_keys,
                    keys_seen: seen,
                    other: KeySeries {
                        key: OTHER_KEY.to_string(),
                        counts: other.take().unwrap_or_else(|| Series::zeros(grid.n)),
                    },
                });
                Ok(DimTable {
                    dimension,
                    series: out,
                    summary,
                })
            })
            .collect()
    }
}

/// A string as a Spark SQL expression that no value can break out of (its UTF-8 bytes,
/// in hex).
fn literal(s: &str) -> String {
    let hex: String = s.bytes().map(|b| format!("{b:02X}")).collect();
    format!("CAST(X'{hex}' AS STRING)")
}

/// The key of an event in dimension `d`, as SQL over the events.
fn key_expr(d: Dimension) -> String {
    match d {
        Dimension::All => "'all'".to_string(),
        Dimension::StatusClass => "status_class".to_string(),
        column => format!("`{}`", column.as_str()),
    }
}

/// Whether an event is an error (`category` not `success` or `log`; none is an error), as
/// the local fold decides.
const ERR: &str = "CASE WHEN category IN ('success', 'log') THEN 0 ELSE 1 END";

/// The status an event stands for: its own, or for a statusless authentication failure,
/// denial or throttle the 401, 403 or 429 it is (as the local fold's outcome).
const OUTCOME: &str = "coalesce(CAST(status AS INT), CASE WHEN category IN ('success', 'log') \
    THEN NULL WHEN category = 'authentication' THEN 401 WHEN category = 'authorization' \
    THEN 403 WHEN category = 'rate_limit' THEN 429 END)";

/// The queries, over the events the bounds select.
struct Sql {
    /// `SELECT … FROM parquet.`…` WHERE …`: every column the fold reads (missing ones
    /// null), `t` (epoch µs), `err` (0 or 1), `o` (the outcome status) and the input order
    /// (`f` file, `r` row).
    events: String,
}

impl Sql {
    /// Reads each folder's schema, so that a column an older errscope did not write is
    /// read as null rather than failing the query. Several folders (a fleet's writers) are
    /// one `UNION ALL`: Spark reads each as a dataset of its own `day=` partitions.
    fn new(
        session: &Session,
        datasets: &[String],
        bounds: TimeBounds,
    ) -> Result<Sql, SparkFailure> {
        let branches = datasets
            .iter()
            .map(|d| Sql::branch(session, d, bounds))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Sql {
            events: branches.join(" UNION ALL "),
        })
    }

    /// The events of one folder.
    fn branch(
        session: &Session,
        dataset: &str,
        bounds: TimeBounds,
    ) -> Result<String, SparkFailure> {
        let source = format!("parquet.`{}`", dataset.replace('`', "``"));
        let mut present: Vec<String> = Vec::new();
        session.sql(
            &format!("reading the events dataset {dataset}"),
            &format!("SELECT * FROM {source} LIMIT 0"),
            |b| {
                present.extend(b.schema().fields().iter().map(|f| f.name().clone()));
                Ok(())
            },
        )?;
        let has = |c: &str| present.iter().any(|p| p == c);
        if !has("ts") {
            return Err(SparkFailure(format!(
                "{dataset} is not an events dataset (no ts column)"
            )));
        }
        let columns: Vec<String> = COLUMNS
            .iter()
            .map(|c| match (*c, has(c)) {
                (c, true) => format!("`{c}`"),
                ("status", false) => "CAST(NULL AS SMALLINT) AS status".to_string(),
                (c, false) => format!("CAST(NULL AS STRING) AS `{c}`"),
            })
            .collect();
        // The bounds on `ts` reach the Parquet reader; on `day`, the partitions.
        let mut filter = vec!["ts IS NOT NULL".to_string()];
        if let Some(s) = bounds.since {
            filter.push(format!("ts >= timestamp_micros({s})"));
            if let (true, Some(d)) = (has("day"), day(s)) {
                filter.push(format!("day >= DATE'{d}'"));
            }
        }
        if let Some(u) = bounds.until {
            filter.push(format!("ts < timestamp_micros({u})"));
            if let (true, Some(d)) = (has("day"), day(u - 1)) {
                filter.push(format!("day <= DATE'{d}'"));
            }
        }
        Ok(format!(
            "SELECT {}, unix_micros(ts) AS t, {ERR} AS err, {OUTCOME} AS o, \
             CASE WHEN category IN ('log', 'runtime') THEN 0 ELSE 1 END AS req, \
             CASE WHEN status IS NULL THEN 'none' \
               ELSE concat(CAST(floor(status / 100) AS STRING), 'xx') END AS status_class, \
             _metadata.file_path AS f, _metadata.row_index AS r FROM {source} WHERE {}",
            columns.join(", "),
            filter.join(" AND ")
        ))
    }

    fn totals(&self) -> String {
        format!(
            "SELECT count(*) AS events, min(t) AS lo, max(t) AS hi, \
             CAST(coalesce(sum(CASE WHEN category = 'success' THEN 1 ELSE 0 END), 0) AS BIGINT) \
             AS successes FROM ({}) e",
            self.events
        )
    }

    /// Counts per dimension, key and window, over the requests (log lines are none): each
    /// request counted once per dimension (the `stack`), null keys left out. Then each key's
    /// weight (16 per error, 1 per success) ranks the keys of its dimension, and past
    /// `max_keys` the others' rows fold into a null key, window by window. One scan; the
    /// ranking runs over the counts (windows of the grouped rows, no join).
    fn rates(&self, step_us: i64, max_keys: usize, rank: bool) -> String {
        let cast = |c: &str| format!("CAST({c} AS BIGINT) AS {c}");
        let sum = |c: &str| format!("CAST(sum({c}) AS BIGINT) AS {c}");
        let counts = ["requests", "errors", "s4xx", "s5xx", "s401", "s403", "s429"];
        let tail = if rank {
            format!(
                "weighed AS (SELECT *, sum(errors * 16 + (requests - errors)) \
                   OVER (PARTITION BY dim, k) AS weight FROM agg), \
                 ranked AS (SELECT *, dense_rank() OVER (PARTITION BY dim ORDER BY weight DESC, k) \
                   AS rn FROM weighed), \
                 counted AS (SELECT *, max(rn) OVER (PARTITION BY dim) AS nkeys FROM ranked) \
                 SELECT dim, CASE WHEN nkeys <= {max_keys} OR rn <= {max_keys} THEN k END AS k, \
                   CAST(w AS BIGINT) AS w, {}, CAST(max(nkeys) AS BIGINT) AS nkeys \
                 FROM counted GROUP BY 1, 2, 3",
                counts.map(sum).join(", ")
            )
        } else {
            // Every key kept: the counts as they are.
            format!(
                "SELECT dim, k, CAST(w AS BIGINT) AS w, {}, CAST(0 AS BIGINT) AS nkeys FROM agg",
                counts.map(cast).join(", ")
            )
        };
        let dims: Vec<String> = Dimension::ALL
            .iter()
            .map(|d| format!("'{}', {}", d.as_str(), key_expr(*d)))
            .collect();
        format!(
            "WITH x AS (SELECT (t - pmod(t, {step})) div {step} AS w, \
               CASE WHEN status >= 400 AND status < 500 THEN 1 ELSE 0 END AS s4, \
               CASE WHEN status >= 500 AND status < 600 THEN 1 ELSE 0 END AS s5, \
               * FROM ({events}) e WHERE req = 1), \
             y AS (SELECT w, err, s4, s5, o, d.dim, d.k FROM x \
               LATERAL VIEW stack({n}, {dims}) d AS dim, k), \
             agg AS (SELECT dim, k, w, count(*) AS requests, sum(err) AS errors, \
               sum(s4) AS s4xx, sum(s5) AS s5xx, sum(CASE WHEN o = 401 THEN 1 ELSE 0 END) AS s401, \
               sum(CASE WHEN o = 403 THEN 1 ELSE 0 END) AS s403, \
               sum(CASE WHEN o = 429 THEN 1 ELSE 0 END) AS s429 \
               FROM y WHERE k IS NOT NULL GROUP BY dim, k, w){comma} \
             {tail}",
            events = self.events,
            step = step_us,
            n = Dimension::ALL.len(),
            dims = dims.join(", "),
            comma = if rank { "," } else { "" },
        )
    }

    /// Every error event, in input order: the columns the fold reads.
    fn error_events(&self) -> String {
        format!(
            "SELECT {} FROM ({}) e WHERE err = 1 ORDER BY f, r",
            COLUMNS.map(|c| format!("`{c}`")).join(", "),
            self.events
        )
    }

    /// For the followed connections (or, with `by_org`, the organisations of the events
    /// that name no connection): each gap between 401s that a success fell in, as the
    /// number of the key's 401s at or before it (a success at the time of a 401 counts
    /// after it). One row per gap with a success, not one per success.
    fn success_gaps(&self, keys: &[&str], by_org: bool) -> String {
        let list: Vec<String> = keys.iter().map(|k| literal(k)).collect();
        let (key, extra) = if by_org {
            ("organization_id", " AND connection_id IS NULL")
        } else {
            ("connection_id", "")
        };
        format!(
            "WITH x AS (SELECT {key} AS k, t, CASE WHEN category = 'success' THEN 1 ELSE 0 END AS ok, \
               CASE WHEN err = 1 AND o = 401 THEN 1 ELSE 0 END AS u FROM ({events}) e \
               WHERE {key} IN ({list}){extra}), \
             g AS (SELECT k, ok, sum(u) OVER (PARTITION BY k ORDER BY t, u DESC \
               ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS g FROM x WHERE ok = 1 OR u = 1) \
             SELECT DISTINCT k, CAST(g AS BIGINT) AS g FROM g WHERE ok = 1",
            events = self.events,
            list = list.join(", "),
        )
    }
}

/// The UTC day of `ts` (epoch µs), as `day=` folders name it.
fn day(ts: i64) -> Option<String> {
    chrono::DateTime::from_timestamp_micros(ts).map(|d| d.format("%Y-%m-%d").to_string())
}
