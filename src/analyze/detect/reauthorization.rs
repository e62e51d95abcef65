//! **reauthorization**: a connection whose calls keep failing with 401: at least
//! `consecutive_failures` 401s in a row with no success between (the circuit-breaker rule
//! of DOMAIN.md, 5 failures). The connection needs its credentials renewed.

use super::super::config::ReauthorizationConfig;
use std::collections::BTreeMap;

use super::super::tables::{Outcome, Tables};
use super::{Flag, Focus, Severity};
use crate::analyze::{DetectorId, Dimension, IncidentClass};

pub fn detect(t: &Tables, cfg: &ReauthorizationConfig) -> Vec<Flag> {
    let mut out = Vec::new();
    if !cfg.enabled {
        return out;
    }
    let n = u64::from(cfg.consecutive_failures.max(1));
    let mut by_conn: BTreeMap<(bool, &str), Vec<&Outcome>> = BTreeMap::new();
    for o in &t.connection_outcomes {
        by_conn
            .entry((o.by_organization, &o.connection_id))
            .or_default()
            .push(o);
    }
    for ((by_org, conn), mut rows) in by_conn {
        let dimension = if by_org {
            Dimension::OrganizationId
        } else {
            Dimension::ConnectionId
        };
        // Stable: a success logged at the time of a 401 stays where it was put.
        rows.sort_by_key(|o| o.ts);
        let mut run: Vec<i64> = Vec::new();
        let mut flush = |run: &mut Vec<i64>, ended_by_success: bool| {
            if run.len() as u64 >= n {
                let len = run.len() as u64;
                out.push(Flag {
                    detector: DetectorId::Reauthorization,
                    class: IncidentClass::Warning,
                    severity: if len >= 4 * n && !ended_by_success {
                        Severity::High
                    } else {
                        Severity::Medium
                    },
                    dimension,
                    key: conn.to_string(),
                    start: run[0],
                    end: run[run.len() - 1] + 1,
                    events: len,
                    value: len as f64,
                    baseline: 0.0,
                    threshold: n as f64,
                    score: len as f64 / n as f64,
                    what: if ended_by_success {
                        "consecutive 401s before a success".into()
                    } else {
                        "consecutive 401s with no success after them".into()
                    },
                    focus: Focus::Status(401),
                });
            }
            run.clear();
        };
        for o in rows {
            if o.success {
                flush(&mut run, true);
            } else {
                run.push(o.ts);
            }
        }
        flush(&mut run, false);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

    fn ev(ts: i64, conn: &str, status: i16) -> Outcome {
        Outcome {
            connection_id: conn.into(),
            ts,
            success: status < 400,
            by_organization: false,
        }
    }

    #[test]
    fn five_401s_in_a_row_open_the_circuit() {
        let mut t = tables(10, vec![]);
        // c1: 401s interleaved with successes (a flaky token refresh): fine.
        for i in 0..20 {
            t.connection_outcomes
                .push(ev(T0 + i, "c1", if i % 3 == 0 { 200 } else { 401 }));
        }
        // c2: works, then every call fails.
        for i in 0..5 {
            t.connection_outcomes.push(ev(T0 + i, "c2", 200));
        }
        for i in 5..30 {
            t.connection_outcomes.push(ev(T0 + i, "c2", 401));
        }
        let flags = detect(&t, &ReauthorizationConfig::default());
        assert_eq!(flags.len(), 1, "{flags:?}");
        assert_eq!(
            (flags[0].key.as_str(), flags[0].events, flags[0].start),
            ("c2", 25, T0 + 5)
        );
        assert_eq!(flags[0].severity, Severity::High);
    }
}
