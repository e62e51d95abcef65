//! Detectors: each reads the [`Tables`] and returns flags, one per window (or interval)
//! where its documented rule holds. `incident.rs` merges flags into incidents.
//!
//! Every detector is its own module with its rule in its `//!` line, and its parameters in
//! `errscope.toml` (`[detectors.<name>]`) with built-in defaults from DOMAIN.md.

pub mod blocked_client;
pub mod credential_stuffing;
pub mod critical_code;
pub mod key_threshold;
pub mod new_code;
pub mod permission_probing;
pub mod reauthorization;
pub mod security_code;
pub mod server_errors;
pub mod spike;
pub mod threshold;
pub mod window;

use rayon::prelude::*;
use serde::Serialize;

use super::config::DetectorsConfig;
use super::dimension::Dimension;
use super::tables::Tables;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    /// DOMAIN.md: over twice the threshold is `high`, else `medium`.
    pub fn of_ratio(value: f64, threshold: f64) -> Severity {
        if value > 2.0 * threshold {
            Severity::High
        } else {
            Severity::Medium
        }
    }
}

/// What kind of incident a flag is, by what a person must do about it: `critical` >
/// `security` > `warning` (the order of `--fail-on` and of reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IncidentClass {
    Warning,
    Security,
    Critical,
}

impl IncidentClass {
    pub const fn as_str(self) -> &'static str {
        match self {
            IncidentClass::Warning => "warning",
            IncidentClass::Security => "security",
            IncidentClass::Critical => "critical",
        }
    }

    /// The class of an event's `class` column value (`security`, `critical`; anything
    /// else is a warning).
    pub fn of_event_class(class: &str) -> IncidentClass {
        match class {
            "critical" => IncidentClass::Critical,
            "security" => IncidentClass::Security,
            _ => IncidentClass::Warning,
        }
    }
}

/// The detectors, one module each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DetectorId {
    Threshold,
    KeyThreshold,
    Spike,
    CredentialStuffing,
    PermissionProbing,
    ServerErrors,
    CriticalCode,
    SecurityCode,
    Reauthorization,
    NewCode,
    BlockedClient,
}

impl DetectorId {
    /// Its name in outputs and in `[detectors.<name>]` (`key_threshold` is configured in
    /// `[detectors.threshold]`).
    pub const fn as_str(self) -> &'static str {
        match self {
            DetectorId::Threshold => "threshold",
            DetectorId::KeyThreshold => "key_threshold",
            DetectorId::Spike => "spike",
            DetectorId::CredentialStuffing => "credential_stuffing",
            DetectorId::PermissionProbing => "permission_probing",
            DetectorId::ServerErrors => "server_errors",
            DetectorId::CriticalCode => "critical_code",
            DetectorId::SecurityCode => "security_code",
            DetectorId::Reauthorization => "reauthorization",
            DetectorId::NewCode => "new_code",
            DetectorId::BlockedClient => "blocked_client",
        }
    }

    /// How specific it is: when incidents overlap, a more specific one may explain a
    /// less specific one (a credential-stuffing IP explains an `AUTH_002` threshold breach
    /// and the 401 run it causes on a connection). `false`: it explains nothing (a new
    /// code or a spike is a symptom, not a cause).
    pub fn specificity(self) -> (u8, bool) {
        match self {
            DetectorId::CredentialStuffing
            | DetectorId::PermissionProbing
            | DetectorId::CriticalCode
            | DetectorId::SecurityCode
            | DetectorId::BlockedClient => (0, true),
            DetectorId::ServerErrors | DetectorId::Reauthorization => (1, true),
            // A connection that needs reauthorization explains its own per-hour code
            // breaches (`AUTH_003` over 50/h on it, or on its organisation).
            DetectorId::KeyThreshold => (2, true),
            DetectorId::Threshold => (3, true),
            DetectorId::NewCode => (3, false),
            DetectorId::Spike => (4, false),
        }
    }
}

named!(IncidentClass);
named!(DetectorId, sorted_by_name);

/// One window (or interval) where a detector's rule holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Flag {
    pub detector: DetectorId,
    pub class: IncidentClass,
    pub severity: Severity,
    pub dimension: Dimension,
    pub key: String,
    pub start: i64,
    pub end: i64,
    /// Events behind the flag (e.g. the errors in the window).
    pub events: u64,
    /// The measured value (count, rate or ratio) the rule compared.
    pub value: f64,
    pub baseline: f64,
    pub threshold: f64,
    /// How far from normal: value / threshold, or robust z-score for spikes.
    pub score: f64,
    /// What was measured, for the explanation ("401s from this IP across 61 users").
    pub what: String,
    /// Which events of the key the flag is about (for counts, contributors, samples).
    pub focus: Focus,
}

/// The events of a key an incident is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Focus {
    /// Every error.
    Errors,
    /// Errors with this HTTP status.
    Status(i16),
    /// 5xx errors.
    Server,
    /// Errors with this code.
    Code(String),
}

/// Runs every enabled detector.
pub fn run_all(t: &Tables, cfg: &DetectorsConfig) -> anyhow::Result<Vec<Flag>> {
    type Job<'a> = Box<dyn FnOnce() -> anyhow::Result<Vec<Flag>> + Send + 'a>;
    // Each detector reads the tables alone: they run at once, their flags kept in this
    // order.
    let jobs: Vec<Job<'_>> = vec![
        Box::new(|| threshold::detect(t, &cfg.threshold)),
        Box::new(|| key_threshold::detect(t, &cfg.threshold)),
        Box::new(|| Ok(spike::detect(t, &cfg.spike))),
        Box::new(|| Ok(credential_stuffing::detect(t, &cfg.credential_stuffing))),
        Box::new(|| Ok(permission_probing::detect(t, &cfg.permission_probing))),
        Box::new(|| Ok(server_errors::detect(t, &cfg.server_errors))),
        Box::new(|| critical_code::detect(t, &cfg.critical_code)),
        Box::new(|| security_code::detect(t, &cfg.security_code)),
        Box::new(|| blocked_client::detect(t, &cfg.blocked_client)),
        Box::new(|| Ok(reauthorization::detect(t, &cfg.reauthorization))),
        Box::new(|| Ok(new_code::detect(t, &cfg.new_code))),
    ];
    // One task per detector, so that a thread done with its share takes the next one
    // rather than waiting on the other's half of the list.
    let found: Vec<anyhow::Result<Vec<Flag>>> = jobs
        .into_par_iter()
        .with_max_len(1)
        .map(|job| job())
        .collect();
    let mut flags = Vec::new();
    for f in found {
        flags.extend(f?);
    }
    Ok(flags)
}

#[cfg(test)]
pub mod testing {
    //! Small hand-made tables for detector tests.
    pub use super::super::dimension::Dimension;
    use super::super::grid::{Grid, MINUTE_US};
    use super::super::tables::*;
    pub use super::{DetectorId, IncidentClass};

    pub const T0: i64 = 1_709_510_400_000_000; // 2024-03-04T00:00:00Z
    pub const STEP: i64 = 5 * MINUTE_US;

    pub fn grid(n: usize) -> Grid {
        Grid {
            start_us: T0,
            step_us: STEP,
            n,
        }
    }

    pub fn tables(n: usize, dims: Vec<DimTable>) -> Tables {
        Tables {
            grid: grid(n),
            has_successes: true,
            dims,
            auth_failures: Default::default(),
            error_log: Default::default(),
            connection_outcomes: vec![],
            codes: vec![],
            min_ts: T0,
            max_ts: T0 + n as i64 * STEP - 1,
            report_from: 0,
        }
    }

    /// An error event of `code` and `class` at `ts` (for the per-event detectors).
    pub fn code_event(ts: i64, code: &str, class: &str) -> EventRow {
        EventRow {
            ts,
            error_code: Some(code.into()),
            class: Some(class.into()),
            ..Default::default()
        }
    }

    /// A series from per-bucket (requests, errors, 5xx) triples.
    pub fn series(key: &str, buckets: &[(u32, u32, u32)]) -> KeySeries {
        KeySeries {
            key: key.into(),
            counts: buckets
                .iter()
                .map(|&(r, e, s5)| Counts {
                    requests: r,
                    errors: e,
                    s5xx: s5,
                    ..Default::default()
                })
                .collect(),
        }
    }

    /// A simple deterministic pseudo-random stream (no dependency, reproducible).
    pub fn noise(seed: u64, n: usize, lo: u32, hi: u32) -> Vec<u32> {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                lo + (x % u64::from(hi - lo + 1)) as u32
            })
            .collect()
    }
}
