//! **server_errors** (critical): a connection's 5xx share of its requests over its recent
//! window (default 30 min) is at least `min_ratio` (20 %) with at least `min_requests`
//! requests and `min_5xx` server errors. Exports without successes have no denominator:
//! there the 5xx count alone must reach `min_5xx` per window and be most of its errors.

use super::super::config::ServerErrorsConfig;
use super::super::grid::{sliding_sum, MINUTE_US};
use super::super::tables::Tables;
use super::{Flag, Focus, Severity};

pub fn detect(t: &Tables, cfg: &ServerErrorsConfig) -> Vec<Flag> {
    let mut out = Vec::new();
    if !cfg.enabled {
        return out;
    }
    let Some(dim) = t.dim("connection_id") else {
        return out;
    };
    let g = &t.grid;
    let width = g.buckets_in(i64::from(cfg.window_minutes) * MINUTE_US);
    for s in &dim.series {
        let s5 = s.values(|c| c.s5xx);
        if s5.iter().map(|&v| u64::from(v)).sum::<u64>() < u64::from(cfg.min_5xx) {
            continue;
        }
        let num = sliding_sum(&s5, width);
        let den = if t.has_successes {
            sliding_sum(&s.values(|c| c.requests), width)
        } else {
            sliding_sum(&s.values(|c| c.errors), width)
        };
        for i in 0..g.n {
            if num[i] < u64::from(cfg.min_5xx) || s5[i] == 0 {
                continue;
            }
            if t.has_successes && den[i] < u64::from(cfg.min_requests) {
                continue;
            }
            let ratio = num[i] as f64 / den[i].max(1) as f64;
            let limit = if t.has_successes { cfg.min_ratio } else { 0.5 };
            if ratio < limit {
                continue;
            }
            let lo = (i + 1).saturating_sub(width);
            let first = (lo..=i).find(|&j| s5[j] > 0).unwrap_or(i);
            out.push(Flag {
                detector: "server_errors",
                class: "critical",
                severity: if ratio >= 0.5 {
                    Severity::High
                } else {
                    Severity::Medium
                },
                dimension: "connection_id",
                key: s.key.clone(),
                start: g.start_of(first),
                end: g.end_of(i),
                events: num[i],
                value: ratio,
                baseline: 0.0,
                threshold: limit,
                score: ratio / limit,
                what: format!("5xx share of requests over {} min", cfg.window_minutes),
                focus: Focus::Server,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::analyze::tables::DimTable;

    fn conn(buckets: &[(u32, u32, u32)]) -> Tables {
        tables(
            buckets.len(),
            vec![DimTable {
                dimension: "connection_id",
                series: vec![series("c1", buckets)],
                summary: None,
            }],
        )
    }

    #[test]
    fn an_outage_fires_and_normal_or_thin_traffic_does_not() {
        let mut b: Vec<(u32, u32, u32)> =
            (0..48).map(|i| (30, 1, u32::from(i % 10 == 0))).collect();
        for x in b.iter_mut().skip(20).take(6) {
            *x = (30, 25, 24);
        }
        let flags = detect(&conn(&b), &ServerErrorsConfig::default());
        assert!(!flags.is_empty());
        assert!(flags.iter().all(|f| f.class == "critical" && f.key == "c1"));
        assert!(flags.iter().all(|f| f.start >= T0 + 20 * STEP - 6 * STEP));
        // Normal: under 1 % 5xx.
        let normal: Vec<(u32, u32, u32)> =
            (0..48).map(|i| (30, 1, u32::from(i % 10 == 0))).collect();
        assert!(detect(&conn(&normal), &ServerErrorsConfig::default()).is_empty());
        // Thin: 3 requests, 2 of them 5xx: a high ratio but no volume.
        let thin: Vec<(u32, u32, u32)> = (0..48)
            .map(|i| if i == 5 { (3, 2, 2) } else { (0, 0, 0) })
            .collect();
        assert!(detect(&conn(&thin), &ServerErrorsConfig::default()).is_empty());
    }
}
