//! Analyze: events -> event-time windows -> rates per dimension -> detectors -> incidents.
//!
//! [`collect`] folds the events into per-window, per-key counts in one pass (fed by the
//! ingest decoders, or streamed from an events dataset by [`load`]); the detectors
//! ([`detect`]) read the small per-key series and the 401s and 403s ([`tables`]);
//! [`incident`] merges what they flag, measures it on the error events ([`errlog`], on
//! disk), explains and de-duplicates it.

/// `Display` by `as_str()` for a closed set of names (dimensions, classes, detectors);
/// with `sorted_by_name`, `Ord` by that name too, the order outputs have always had.
macro_rules! named {
    ($t:ty) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
    ($t:ty, sorted_by_name) => {
        named!($t);

        impl Ord for $t {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.as_str().cmp(other.as_str())
            }
        }

        impl PartialOrd for $t {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }
    };
}

pub mod actions;
pub mod auth;
pub mod baseline;
pub mod collect;
pub mod config;
pub mod detect;
pub mod dimension;
pub mod engine;
pub mod errlog;
pub mod event_row;
pub mod grid;
pub mod incident;
pub mod load;
pub mod outcomes;
pub mod tables;

use std::path::{Path, PathBuf};

use serde::Serialize;

use self::config::AnalyzeConfig;
use self::grid::MINUTE_US;
use self::incident::Incident;
use self::tables::Tables;

pub use self::detect::{DetectorId, IncidentClass};
pub use self::dimension::Dimension;

/// `summary.json`: what a scheduler or a person reads first.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Summary {
    pub incidents: u64,
    pub by_class: std::collections::BTreeMap<&'static str, u64>,
    pub by_severity: std::collections::BTreeMap<&'static str, u64>,
    pub events: u64,
    pub errors: u64,
    pub first_event: Option<String>,
    pub last_event: Option<String>,
    pub window_minutes: u32,
    /// The aggregation engine that computed the rate tables: `local`, or
    /// `spark (sc://HOST:PORT)`.
    pub engine: String,
    /// Ingest totals when this run ingested raw logs (see manifest.json).
    pub input: Option<crate::ingest::manifest::Totals>,
    /// Why nothing was analysed, when no event was (a run without data is not "all
    /// clear": the terminal, `report.html` and the exit code say so).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_data: Option<String>,
    /// The dimensions with more keys than `[rates] max_keys`, and what was kept.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub summarised: std::collections::BTreeMap<&'static str, Summarised>,
    /// Keys above a ratio rule's limit in most windows: their normal, not an incident
    /// (a fleet at 1.1 % 5xx every day, against seed 003's 1 %).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub standing: Vec<detect::threshold::Standing>,
    /// Detectors that judged without the history they need (a short export): what they
    /// could not see.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub without_history: Vec<String>,
}

/// A summarised dimension in `summary.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Summarised {
    pub max_keys: usize,
    /// Keys kept with their own series.
    pub kept: usize,
    /// About the number of distinct keys ([`tables::DimSummary::keys_seen`]).
    pub keys_seen: u64,
    /// Requests and errors folded into `(other)`.
    pub other_requests: u64,
    pub other_errors: u64,
}

/// Why a run analysed no event, from its ingest totals (`None` for an events dataset)
/// and bounds, in words a person can act on.
pub fn no_data_cause(
    input: Option<&crate::ingest::manifest::Totals>,
    bounds: TimeBounds,
) -> String {
    let bounded = bounds.since.is_some() || bounds.until.is_some();
    let Some(t) = input else {
        return if bounded {
            "the events dataset holds no event within --since/--until".into()
        } else {
            "the events dataset holds no event".into()
        };
    };
    let c = &t.counts;
    let records = c.records + c.expanded;
    let unreadable = if t.files_with_errors > 0 {
        format!(
            " ({} file(s) could not be read to their end, see the errors above)",
            t.files_with_errors
        )
    } else {
        String::new()
    };
    if t.files == 0 {
        return "no input file was read (no file matched, or every file was skipped: see the \
                skipped files above and manifest.json)"
            .into();
    }
    if records == 0 && t.files_with_errors == t.files {
        return format!(
            "no input could be read ({} file(s), see the errors above)",
            t.files
        );
    }
    if records == 0 {
        return format!(
            "the {} input file(s) hold no record (empty or blank){unreadable}",
            t.files
        );
    }
    if c.duplicates > 0 && c.duplicates + c.quarantined + c.out_of_range >= records {
        return format!(
            "every record ({records}) was an exact duplicate of one already read ({} \
             duplicates: an export read before, through --state, or copies in this run), \
             or quarantined or outside --since/--until: nothing new{unreadable}",
            c.duplicates
        );
    }
    if c.quarantined >= records {
        return format!(
            "every record ({records}) was quarantined: not a JSON log errscope reads (a CSV, an \
             unknown envelope, no timestamp?); quarantine.ndjson has each record's reason{unreadable}"
        );
    }
    if c.out_of_range > 0 && c.quarantined == 0 {
        return format!(
            "all {} events are outside --since/--until{unreadable}",
            c.out_of_range
        );
    }
    format!(
        "of {records} records, {} were quarantined and {} were outside --since/--until{unreadable}",
        c.quarantined, c.out_of_range
    )
}

/// What one analysis found; every reporter writes from this.
pub struct Analysis {
    /// `None` when there were no events.
    pub tables: Option<Tables>,
    pub incidents: Vec<Incident>,
    pub summary: Summary,
}

/// An analysis's results, borrowed: what the reports read. [`analyze_events`] hands them
/// out while the tables are still lent to the work beside the detectors.
#[derive(Clone, Copy)]
pub struct Findings<'a> {
    pub tables: Option<&'a Tables>,
    pub incidents: &'a [Incident],
    pub summary: &'a Summary,
}

impl Analysis {
    pub fn findings(&self) -> Findings<'_> {
        Findings {
            tables: self.tables.as_ref(),
            incidents: &self.incidents,
            summary: &self.summary,
        }
    }
}

/// Event-time bounds (`--since`, `--until`): `since <= ts < until`, µs UTC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeBounds {
    pub since: Option<i64>,
    pub until: Option<i64>,
}

impl TimeBounds {
    pub fn contains(&self, ts: i64) -> bool {
        self.since.is_none_or(|s| ts >= s) && self.until.is_none_or(|u| ts < u)
    }

    pub fn is_unbounded(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }
}

/// Whether `path` is an events dataset (`day=*/` folders of Parquet, or a folder holding
/// `events/`, as `ingest` and `analyze` write); returns the events folder.
pub fn events_dataset(path: &Path) -> Option<PathBuf> {
    if !path.is_dir() {
        return None;
    }
    let candidate = if path.join("events").is_dir() {
        path.join("events")
    } else {
        path.to_path_buf()
    };
    let has_days = std::fs::read_dir(&candidate)
        .ok()?
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().starts_with("day=") && e.path().is_dir());
    has_days.then_some(candidate)
}

/// What [`analyze_events`] analyses, and how.
pub struct What<'a> {
    pub events_dir: &'a Path,
    pub cfg: &'a AnalyzeConfig,
    pub bounds: TimeBounds,
    /// The windows of earlier runs (`--state`).
    pub baseline: Option<&'a baseline::Baseline>,
    /// The ingest's totals, for the summary.
    pub input: Option<crate::ingest::manifest::Totals>,
}

/// Analyses the events of `what` (its folder, within its bounds), their tables computed
/// by `engine`. With a baseline (an incremental run, `--state`), the detectors also see
/// the windows of earlier runs, but only incidents that reach into this run's events are
/// reported.
///
/// `beside` runs on the finished tables, on a thread of its own, while the detectors read
/// them (on this thread, with `None`, when there are no tables), and `then` on the
/// findings as soon as the detectors are done, while `beside` may still run: `analyze`
/// writes the rate tables beside, then the anomalies and charts (the detectors, then the
/// charts, alone kept one of two cores busy). Their results come back with the analysis,
/// as they are: a failed report is the caller's to tell, not a failed analysis.
pub fn analyze_events<R: Send, U>(
    what: What<'_>,
    engine: &mut dyn engine::AggregationEngine,
    beside: impl FnOnce(Option<&tables::Tables>) -> R + Send,
    then: impl FnOnce(Findings<'_>) -> U,
) -> anyhow::Result<(Analysis, R, U)> {
    let What {
        events_dir,
        cfg,
        bounds,
        baseline,
        input,
    } = what;
    let mut tables = engine.aggregate(&engine::Aggregation {
        events_dir,
        step_us: cfg.windows.step_us(),
        bounds,
        max_keys: cfg.rates.max_keys,
        reauth_min: cfg.detectors.reauthorization.consecutive_failures,
    })?;
    // The span of this run's own events (a baseline extends the tables backwards).
    let span = tables.as_ref().map(|t| (t.min_ts, t.max_ts));
    if let (Some(t), Some(b)) = (tables.as_mut(), baseline) {
        b.extend(t);
    }
    let mut summary = Summary {
        engine: engine.name(),
        window_minutes: cfg.windows.tumbling_minutes,
        input,
        ..Default::default()
    };
    if tables.is_none() {
        summary.no_data = Some(no_data_cause(summary.input.as_ref(), bounds));
    }
    let (incidents, beside_out, then_out) = match &tables {
        None => {
            let beside_out = beside(None);
            let then_out = then(Findings {
                tables: None,
                incidents: &[],
                summary: &summary,
            });
            (Vec::new(), beside_out, then_out)
        }
        Some(t) => std::thread::scope(|scope| -> anyhow::Result<(Vec<Incident>, R, U)> {
            let job = scope.spawn(|| beside(Some(t)));
            let done = detect_in(t, cfg, &mut summary, span).map(|incidents| {
                count(&mut summary, &incidents);
                let findings = Findings {
                    tables: Some(t),
                    incidents: &incidents,
                    summary: &summary,
                };
                let then_out = then(findings);
                (incidents, then_out)
            });
            let beside_out = job
                .join()
                .map_err(|_| anyhow::anyhow!("the work beside the detectors panicked"))?;
            let (incidents, then_out) = done?;
            Ok((incidents, beside_out, then_out))
        })?,
    };
    if let Some(t) = tables.as_mut() {
        // Only the detectors follow events one by one: the 401/403 rows and the
        // reauthorization outcomes (which grow with the input) go before the page.
        t.auth_failures = Default::default();
        t.connection_outcomes = Vec::new();
    }
    Ok((
        Analysis {
            tables,
            incidents,
            summary,
        },
        beside_out,
        then_out,
    ))
}

/// The incidents' counts in the summary.
fn count(summary: &mut Summary, incidents: &[Incident]) {
    summary.incidents = incidents.len() as u64;
    for i in incidents {
        *summary.by_class.entry(i.class.as_str()).or_insert(0) += 1;
        *summary.by_severity.entry(i.severity.as_str()).or_insert(0) += 1;
    }
}

/// The detectors' incidents on `t`, and what they found for the summary.
fn detect_in(
    t: &tables::Tables,
    cfg: &AnalyzeConfig,
    summary: &mut Summary,
    span: Option<(i64, i64)>,
) -> anyhow::Result<Vec<Incident>> {
    let flags = detect::run_all(t, &cfg.detectors)?;
    summary.standing = detect::threshold::standing(t, &cfg.detectors.threshold);
    summary.without_history = without_history(t, cfg);
    let hold = i64::from(cfg.windows.hold_minutes) * MINUTE_US;
    summary.events = t.dim(Dimension::All).map_or(0, |d| {
        d.series
            .iter()
            .map(|s| {
                s.counts
                    .iter()
                    .skip(t.report_from)
                    .map(|c| u64::from(c.requests))
                    .sum::<u64>()
            })
            .sum()
    });
    summary.errors = t.error_log.len();
    for d in &t.dims {
        if let Some(sm) = &d.summary {
            let other = sm.other.total();
            summary.summarised.insert(
                d.dimension.as_str(),
                Summarised {
                    max_keys: sm.max_keys,
                    kept: d.series.len(),
                    keys_seen: sm.keys_seen,
                    other_requests: other.requests.into(),
                    other_errors: other.errors.into(),
                },
            );
        }
    }
    if let Some((lo, hi)) = span {
        summary.first_event = Some(incident::utc(lo));
        summary.last_event = Some(incident::utc(hi));
    }
    let from = t.grid.start_of(t.report_from);
    let mut incidents: Vec<Incident> = incident::build(t, flags, hold)?
        .into_iter()
        .filter(|i| i.end > from && i.events > 0)
        .collect();
    for inc in &mut incidents {
        inc.action = actions::for_incident(inc);
    }
    Ok(incidents)
}

/// What the detectors that compare with the past could not judge on a short export.
fn without_history(t: &tables::Tables, cfg: &AnalyzeConfig) -> Vec<String> {
    let mut out = Vec::new();
    let minutes = (t.max_ts - t.min_ts) / MINUTE_US;
    let window = i64::from(cfg.windows.tumbling_minutes);
    let spike = &cfg.detectors.spike;
    if spike.enabled && t.grid.n <= spike.min_history {
        out.push(format!(
            "spike: the data spans {} windows of {window} min, not the {} a key needs as its baseline; error surges were judged only by fixed limits (threshold rules such as the 429 storm, 100 in 10 min)",
            t.grid.n, spike.min_history
        ));
    }
    let th = &cfg.detectors.threshold;
    let needed = detect::threshold::history_minutes(th);
    if th.enabled && minutes < needed {
        out.push(format!(
            "threshold: under {} hours of data, rates are judged against their fixed limits only, not against each key's own normal",
            needed / 60
        ));
    }
    if cfg.detectors.new_code.enabled && minutes < 24 * 60 {
        out.push(format!(
            "new_code: the codes of the first third of a {} h export are its baseline; a code that appears only then is not reported as new",
            (minutes + 59) / 60
        ));
    }
    out
}

/// The `--fail-on` gate: an incident at or above a class or a severity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailLevel {
    /// `critical` > `security` > `warning`.
    Class(IncidentClass),
    Severity(detect::Severity),
}

impl FailLevel {
    /// The incidents that meet the gate.
    pub fn met_by<'a>(&self, incidents: &'a [Incident]) -> Vec<&'a Incident> {
        incidents
            .iter()
            .filter(|i| match self {
                FailLevel::Class(c) => i.class >= *c,
                FailLevel::Severity(s) => i.severity >= *s,
            })
            .collect()
    }

    /// Its name as `--fail-on` takes it.
    pub fn name(&self) -> &'static str {
        match self {
            FailLevel::Class(c) => c.as_str(),
            FailLevel::Severity(s) => s.as_str(),
        }
    }
}
