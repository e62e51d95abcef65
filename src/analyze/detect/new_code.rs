//! **new_code**: an error code never seen in the data's baseline period (its first
//! `baseline_fraction` of time) that appears afterwards in a burst: at least `min_events`
//! events before its first quiet hour (default 10). One incident per code.

use super::super::config::NewCodeConfig;
use super::super::grid::MINUTE_US;
use super::super::tables::Tables;
use super::{Flag, Focus, Severity};
use crate::analyze::{DetectorId, Dimension, IncidentClass};

pub fn detect(t: &Tables, cfg: &NewCodeConfig) -> Vec<Flag> {
    let mut out = Vec::new();
    if !cfg.enabled || t.max_ts <= t.min_ts {
        return out;
    }
    let baseline_end = t.min_ts + ((t.max_ts - t.min_ts) as f64 * cfg.baseline_fraction) as i64;
    let Some(dim) = t.dim(Dimension::ErrorCode) else {
        return out;
    };
    for c in &t.codes {
        if c.first_ts < baseline_end || c.events < cfg.min_events {
            continue;
        }
        // The incident is the code's first burst: windows from its first sighting until a
        // quiet hour; it needs `min_events` there, so a code that trickles in is no news.
        let Some(s) = dim.series.iter().find(|s| s.key == c.code) else {
            continue;
        };
        let g = &t.grid;
        let Some(first) = g.index(c.first_ts) else {
            continue;
        };
        let quiet = g.buckets_in(60 * MINUTE_US);
        let (mut last, mut events) = (first, 0u64);
        for (i, counts) in s.counts.iter().enumerate().skip(first) {
            if i > last + quiet {
                break;
            }
            if counts.errors > 0 {
                last = i;
                events += u64::from(counts.errors);
            }
        }
        if events < cfg.min_events {
            continue;
        }
        out.push(Flag {
            detector: DetectorId::NewCode,
            class: t.code_class(&c.code).unwrap_or(IncidentClass::Warning),
            severity: if events >= 10 * cfg.min_events {
                Severity::Medium
            } else {
                Severity::Low
            },
            dimension: Dimension::ErrorCode,
            key: c.code.clone(),
            start: c.first_ts,
            end: g.end_of(last),
            events,
            value: events as f64,
            baseline: 0.0,
            threshold: cfg.min_events as f64,
            score: events as f64 / cfg.min_events.max(1) as f64,
            what: "events of a code never seen before".into(),
            focus: Focus::Code(c.code.clone()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::analyze::tables::{CodeSighting, DimTable};

    #[test]
    fn codes_first_seen_after_the_baseline_are_new() {
        let mut errors = vec![(10, 0, 0); 30];
        errors[25] = (10, 6, 0);
        let dims = vec![DimTable {
            dimension: Dimension::ErrorCode,
            series: vec![
                series("OLD", &[(10, 1, 0); 30]),
                series("NEW_ONE", &errors[..]),
                series("RARE", &errors[..]),
            ],
            summary: None,
        }];
        let mut t = tables(30, dims);
        let seen = |code: &str, first: i64, events: u64| CodeSighting {
            code: code.into(),
            class: "warning".into(),
            first_ts: first,
            events,
        };
        t.codes = vec![
            seen("OLD", T0, 30),
            seen("NEW_ONE", T0 + 25 * STEP, 6),
            seen("RARE", T0 + 25 * STEP, 2),
        ];
        let flags = detect(&t, &NewCodeConfig::default());
        assert!(!flags.is_empty());
        assert!(flags.iter().all(|f| f.key == "NEW_ONE"));
    }
}
