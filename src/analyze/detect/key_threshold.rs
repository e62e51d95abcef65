//! **key_threshold**: the per-hour limits of the code rules (`AUTH_002` 10/h, `AUTH_003`
//! 50/h, `RATE_001` 20/h, and any `[[detectors.threshold.rules]]` on one error code's
//! errors) applied to each connection and each organisation alone
//! (`[detectors.threshold] per_key_dimensions`): a rate-limit storm that is one
//! connection's is an incident on that connection, the key a person acts on. Such an
//! incident explains the code-wide breach it makes up (60 % or more of it), which is then
//! not reported twice. Counted from the error events themselves, over a window sliding
//! event by event.

use std::collections::{BTreeMap, HashMap};

use super::super::config::{Metric, ThresholdConfig, ThresholdRule};
use super::super::grid::MINUTE_US;
use super::super::tables::Tables;
use super::{Flag, Focus, Severity};
use crate::analyze::{DetectorId, Dimension, IncidentClass};

pub fn detect(t: &Tables, cfg: &ThresholdConfig) -> anyhow::Result<Vec<Flag>> {
    let mut out = Vec::new();
    if !cfg.enabled || cfg.per_key_dimensions.is_empty() {
        return Ok(out);
    }
    // The rules on one code's error count: (code, rule).
    let rules: Vec<ThresholdRule> = cfg
        .effective_rules()
        .into_iter()
        .filter(|r| {
            r.dimension == Dimension::ErrorCode && r.key.is_some() && r.metric == Metric::Errors
        })
        .collect();
    if rules.is_empty() {
        return Ok(out);
    }
    // Per (code, dimension, key), the times of the code's events.
    let mut times: HashMap<(String, Dimension, String), Vec<i64>> = HashMap::new();
    t.error_log.for_each(|_, e| {
        let Some(code) = e.error_code.as_deref() else {
            return;
        };
        if !rules.iter().any(|r| r.key.as_deref() == Some(code)) {
            return;
        }
        for d in &cfg.per_key_dimensions {
            if let Some(v) = e.value_of(*d) {
                times
                    .entry((code.to_string(), *d, v.into_owned()))
                    .or_default()
                    .push(e.ts);
            }
        }
    })?;
    let times: BTreeMap<_, _> = times.into_iter().collect();
    for ((code, dimension, key), mut ts) in times {
        ts.sort_unstable();
        for rule in rules
            .iter()
            .filter(|r| r.key.as_deref() == Some(code.as_str()))
        {
            let window = i64::from(rule.window_minutes) * MINUTE_US;
            // Runs of events where the window ending at the event holds more than `above`.
            let mut lo = 0;
            let mut run: Option<(i64, i64, u64)> = None;
            let flush = |run: &mut Option<(i64, i64, u64)>, out: &mut Vec<Flag>| {
                if let Some((start, end, peak)) = run.take() {
                    let value = peak as f64;
                    out.push(Flag {
                        detector: DetectorId::KeyThreshold,
                        class: t.code_class(&code).unwrap_or(IncidentClass::Warning),
                        severity: Severity::of_ratio(value, rule.above),
                        dimension,
                        key: key.clone(),
                        start,
                        end,
                        events: peak,
                        value,
                        baseline: 0.0,
                        threshold: rule.above,
                        score: value / rule.above,
                        what: format!("{code} errors per {} min", rule.window_minutes),
                        focus: Focus::Code(code.clone()),
                    });
                }
            };
            for (i, &now) in ts.iter().enumerate() {
                while ts[lo] <= now - window {
                    lo += 1;
                }
                let n = (i - lo + 1) as u64;
                if (n as f64) > rule.above {
                    run = Some(match run {
                        Some((start, _, peak)) => (start, now + 1, peak.max(n)),
                        None => (ts[lo], now + 1, n),
                    });
                } else if run.is_some_and(|(_, end, _)| now - end > window) {
                    flush(&mut run, &mut out);
                }
            }
            flush(&mut run, &mut out);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::analyze::errlog::ErrorLog;
    use crate::analyze::tables::{CodeSighting, EventRow};

    fn rows(code: &str, conns: &[(&str, usize)], spacing: i64) -> Vec<EventRow> {
        let mut out = Vec::new();
        let mut ts = T0;
        for (conn, n) in conns {
            for _ in 0..*n {
                out.push(EventRow {
                    ts,
                    status: Some(429),
                    error_code: Some(code.into()),
                    class: Some("warning".into()),
                    connection_id: Some((*conn).into()),
                    organization_id: Some("org_1".into()),
                    ..Default::default()
                });
                ts += spacing;
            }
        }
        out
    }

    fn with_log(rows: Vec<EventRow>) -> Tables {
        let mut t = tables(10, vec![]);
        t.codes.push(CodeSighting {
            code: "RATE_001".into(),
            class: "warning".into(),
            first_ts: T0,
            events: rows.len() as u64,
        });
        t.error_log = ErrorLog::from_rows(rows);
        t
    }

    #[test]
    fn one_connections_storm_is_its_incident_and_a_spread_one_is_not() {
        let cfg = ThresholdConfig::default();
        // 30 RATE_001 in 30 minutes from one connection: over 20/h.
        let t = with_log(rows("RATE_001", &[("c1", 30)], MINUTE_US));
        let flags = detect(&t, &cfg).unwrap();
        let keys: Vec<(&str, &str)> = flags
            .iter()
            .map(|f| (f.dimension.as_str(), f.key.as_str()))
            .collect();
        assert_eq!(
            keys,
            [("connection_id", "c1"), ("organization_id", "org_1")]
        );
        assert!(flags
            .iter()
            .all(|f| f.events == 30 && f.detector == DetectorId::KeyThreshold));
        // The same 30 spread over 6 connections: no connection is over its limit (the
        // organisation still is).
        let conns: Vec<(String, usize)> = (0..6).map(|i| (format!("c{i}"), 5)).collect();
        let conns: Vec<(&str, usize)> = conns.iter().map(|(c, n)| (c.as_str(), *n)).collect();
        let t = with_log(rows("RATE_001", &conns, MINUTE_US));
        let flags = detect(&t, &cfg).unwrap();
        let keys: Vec<&str> = flags.iter().map(|f| f.dimension.as_str()).collect();
        assert_eq!(keys, ["organization_id"]);
        // 30 over 10 hours: under the limit everywhere.
        let t = with_log(rows("RATE_001", &[("c1", 30)], 20 * MINUTE_US));
        assert!(detect(&t, &cfg).unwrap().is_empty());
    }
}
