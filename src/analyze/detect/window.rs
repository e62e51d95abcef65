//! A sliding window over one key's events that keeps counts of distinct values, shared by
//! the detectors that look at bursts of individual events (credential stuffing, probing).

use std::collections::HashMap;

use super::super::auth::AuthEvent;
use super::super::grid::MINUTE_US;
use super::super::tables::EventRow;
use super::{Flag, Focus, Severity};
use crate::analyze::{DetectorId, Dimension, IncidentClass};

/// A burst found in one key's events: the interval and what the window held at its peak.
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    pub start: i64,
    pub end: i64,
    pub events: u64,
    pub peak: u64,
    /// The most distinct values within one window.
    pub peak_distinct: u64,
    /// Distinct values over the whole burst (what `security_audit.sql` counts for it).
    pub distinct: u64,
}

impl Burst {
    /// `N distinct WHAT`, and when one window held fewer, how many at most: the burst's
    /// count and the window's are different numbers, and a reader compares them with SQL.
    pub fn distinct_phrase(&self, what: &str, minutes: u32) -> String {
        if self.peak_distinct < self.distinct {
            format!(
                "{} distinct {what} in all (up to {} within {minutes} min)",
                self.distinct, self.peak_distinct
            )
        } else {
            format!("{} distinct {what}", self.distinct)
        }
    }
}

impl Burst {
    /// A security flag for this burst of `status` events, measured against `min_events`;
    /// callers fill in `what` (and may raise the severity).
    pub fn flag(
        &self,
        detector: DetectorId,
        dimension: Dimension,
        key: &str,
        min_events: u32,
        status: i16,
    ) -> Flag {
        let threshold = f64::from(min_events);
        Flag {
            detector,
            class: IncidentClass::Security,
            severity: Severity::of_ratio(self.peak as f64, threshold),
            dimension,
            key: key.to_string(),
            start: self.start,
            end: self.end,
            events: self.events,
            value: self.peak as f64,
            baseline: 0.0,
            threshold,
            score: self.peak as f64 / threshold,
            what: String::new(),
            focus: Focus::Status(status),
        }
    }
}

/// Scans events (one key, time order) with a window of `minutes`; where at least
/// `min_events` events with at least `min_distinct` distinct `value`s fall in the window,
/// the window is part of a burst. Overlapping or touching windows form one burst.
pub fn bursts<'a>(
    events: &[AuthEvent<'a>],
    minutes: u32,
    min_events: u32,
    min_distinct: u32,
    value: impl Fn(&AuthEvent<'a>) -> Option<&'a str>,
) -> Vec<Burst> {
    let width = i64::from(minutes) * MINUTE_US;
    let mut out: Vec<Burst> = Vec::new();
    let mut seen: HashMap<&str, u32> = HashMap::new();
    let mut lo = 0;
    for hi in 0..events.len() {
        if let Some(v) = value(&events[hi]) {
            *seen.entry(v).or_insert(0) += 1;
        }
        while events[hi].ts() - events[lo].ts() >= width {
            if let Some(v) = value(&events[lo]) {
                if let Some(n) = seen.get_mut(v) {
                    *n -= 1;
                    if *n == 0 {
                        seen.remove(v);
                    }
                }
            }
            lo += 1;
        }
        let n = (hi - lo + 1) as u64;
        let distinct = seen.len() as u64;
        if n < u64::from(min_events) || distinct < u64::from(min_distinct) {
            continue;
        }
        let (start, end) = (events[lo].ts(), events[hi].ts() + 1);
        match out.last_mut() {
            Some(b) if start <= b.end => {
                b.end = end;
                b.peak = b.peak.max(n);
                b.peak_distinct = b.peak_distinct.max(distinct);
            }
            _ => out.push(Burst {
                start,
                end,
                events: 0,
                peak: n,
                peak_distinct: distinct,
                distinct: 0,
            }),
        }
    }
    // Events of each burst: every event inside its interval, and their distinct values.
    for b in &mut out {
        let inside = || {
            events
                .iter()
                .filter(|e| e.ts() >= b.start && e.ts() < b.end)
        };
        b.events = inside().count() as u64;
        b.distinct = inside()
            .filter_map(&value)
            .collect::<std::collections::HashSet<_>>()
            .len() as u64;
    }
    out
}

/// An event with a time.
pub trait Timed {
    fn time(&self) -> i64;
}

impl Timed for &EventRow {
    fn time(&self) -> i64 {
        self.ts
    }
}

impl Timed for AuthEvent<'_> {
    fn time(&self) -> i64 {
        self.ts()
    }
}

/// Groups events by a key, keeping time order.
pub fn by_key<'a, E: Timed>(
    events: impl Iterator<Item = E>,
    key: impl Fn(&E) -> Option<&'a str>,
) -> Vec<(&'a str, Vec<E>)> {
    let mut groups: std::collections::BTreeMap<&str, Vec<E>> = Default::default();
    for e in events {
        if let Some(k) = key(&e) {
            groups.entry(k).or_default().push(e);
        }
    }
    let mut out: Vec<(&str, Vec<E>)> = groups.into_iter().collect();
    for (_, v) in &mut out {
        v.sort_by_key(|e| e.time());
    }
    out
}
