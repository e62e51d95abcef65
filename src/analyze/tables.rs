//! What the detectors read: per-dimension, per-key counts on the window grid (zero-filled,
//! so "no errors" and "no traffic" differ) and the few event subsets some detectors need
//! one by one. Built from events by `collect.rs`; hand-made in tests.

use super::errlog::ErrorLog;
use super::grid::Grid;

/// Counts of one key in one window.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// All events (successes included).
    pub requests: u32,
    pub errors: u32,
    pub s4xx: u32,
    pub s5xx: u32,
    pub s401: u32,
    pub s403: u32,
    pub s429: u32,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.s4xx += o.s4xx;
        self.s5xx += o.s5xx;
        self.s401 += o.s401;
        self.s403 += o.s403;
        self.s429 += o.s429;
    }
}

/// One key's counts, one entry per grid bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySeries {
    pub key: String,
    pub counts: Vec<Counts>,
}

impl KeySeries {
    pub fn total(&self) -> Counts {
        let mut t = Counts::default();
        self.counts.iter().for_each(|c| t.add(c));
        t
    }

    pub fn values(&self, f: impl Fn(&Counts) -> u32) -> Vec<u32> {
        self.counts.iter().map(f).collect()
    }
}

/// The series of every key of one dimension (a canonical column name, or `all`).
#[derive(Debug, Clone, PartialEq)]
pub struct DimTable {
    pub dimension: &'static str,
    pub series: Vec<KeySeries>,
}

/// A value of an [`EventRow`]: shared, so the millions of error rows of a big input hold
/// one copy of each connection, code or address (interned by the collector), behind a
/// one-word pointer (an `Option<Shared>` is 8 bytes; an `Arc<str>` would be 16).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shared(std::sync::Arc<Box<str>>);

impl std::ops::Deref for Shared {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Shared {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Shared {
    fn from(s: &str) -> Shared {
        Shared(std::sync::Arc::new(s.into()))
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}

impl std::fmt::Display for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self)
    }
}

/// One event, for detectors that follow events rather than counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventRow {
    pub ts: i64,
    pub status: Option<i16>,
    pub error_code: Option<Shared>,
    pub category: Option<Shared>,
    pub class: Option<Shared>,
    pub is_success: bool,
    pub connection_id: Option<Shared>,
    pub organization_id: Option<Shared>,
    pub user_id: Option<Shared>,
    pub ip_address: Option<Shared>,
    pub endpoint: Option<Shared>,
    /// Unique per event, so owned (not shared).
    pub request_id: Option<Box<str>>,
}

/// A 401 (`success: false`) or a success of one connection, for the reauthorization
/// detector: 24 bytes, as there is one for each 401 of a flaky connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub connection_id: Shared,
    pub ts: i64,
    pub success: bool,
}

/// First sighting and volume of an error code.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeSighting {
    pub code: String,
    pub class: String,
    pub first_ts: i64,
    pub events: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tables {
    pub grid: Grid,
    /// Whether the export logs successes too (error ratios need a denominator).
    pub has_successes: bool,
    pub dims: Vec<DimTable>,
    /// The 401s and 403s, in time order (ties in input order): what the detectors that
    /// follow individual events read (credential stuffing, probing, reauthorization).
    /// `analyze_events` empties it (and `connection_outcomes`) once they ran.
    pub auth_failures: Vec<EventRow>,
    /// Every error event (the detail behind the counts), read one by one to measure
    /// incidents; spilled to disk when collected.
    pub error_log: ErrorLog,
    /// 401s and successes of connections with repeated 401s, by connection then time.
    pub connection_outcomes: Vec<Outcome>,
    pub codes: Vec<CodeSighting>,
    pub min_ts: i64,
    pub max_ts: i64,
    /// The first grid bucket of this run's own events: buckets before it are the baseline
    /// carried over from earlier runs (`--state`), seen by the detectors, never reported.
    pub report_from: usize,
}

impl EventRow {
    /// The event's value in a dimension (`all` matches every event).
    pub fn value_of(&self, dimension: &str) -> Option<std::borrow::Cow<'_, str>> {
        use std::borrow::Cow;
        fn s(v: &Option<Shared>) -> Option<Cow<'_, str>> {
            v.as_deref().map(Cow::Borrowed)
        }
        match dimension {
            "all" => Some(Cow::Borrowed("all")),
            "error_code" => s(&self.error_code),
            "category" => s(&self.category),
            "class" => s(&self.class),
            "connection_id" => s(&self.connection_id),
            "organization_id" => s(&self.organization_id),
            "user_id" => s(&self.user_id),
            "ip_address" => s(&self.ip_address),
            "endpoint" => s(&self.endpoint),
            "status_class" => self.status.map(|st| Cow::Owned(format!("{}xx", st / 100))),
            _ => None,
        }
    }
}

impl Tables {
    pub fn dim(&self, name: &str) -> Option<&DimTable> {
        self.dims.iter().find(|d| d.dimension == name)
    }

    /// The class of an error code's events (`security`, `critical`, else `warning`).
    pub fn code_class(&self, code: &str) -> Option<&'static str> {
        self.codes
            .iter()
            .find(|c| c.code == code)
            .map(|c| match c.class.as_str() {
                "security" => "security",
                "critical" => "critical",
                _ => "warning",
            })
    }
}
