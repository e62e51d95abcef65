//! **server_errors** (critical): a connection's (or a service's: the host or service the
//! requests went to, the outage key of logs with no connection, such as a CDN's or a
//! load balancer's) 5xx share of its requests over its recent
//! window (default 30 min) is at least `min_ratio` (20 %) with at least `min_requests`
//! requests and `min_5xx` server errors. Exports without successes have no denominator:
//! there the 5xx count alone must reach `min_5xx` per window and be most of its errors.
//!
//! A small connection that is down is not left to those volumes: when every one of at
//! least `down_min_requests` (5) requests over `down_minutes` (60) failed with a 5xx, the
//! connection is down, however few its calls (5 failures in a row of a connection with a
//! normal 6 % error rate happen by chance once in a million hours).
//!
//! Nor is a small connection that degrades: over `slow_minutes` (120), at least
//! `min_ratio` of its requests failed with a 5xx, at least `slow_min_5xx` (5) of them, and
//! that many is beyond chance at the connection's own 5xx share outside that window (or
//! DOMAIN.md's 1 %, whichever is higher): the Chernoff bound of the binomial tail,
//! exp(-n KL(k/n || p)), under `slow_max_chance` (1e-7). A connection whose failures are
//! its usual share is not flagged, however high the share; 8 upstream errors of 40 calls
//! where 1 % is normal are.

use super::super::config::ServerErrorsConfig;
use super::super::grid::{sliding_sum, MINUTE_US};
use super::super::tables::Tables;
use super::{Flag, Focus, Severity};
use crate::analyze::{DetectorId, Dimension, IncidentClass};

pub fn detect(t: &Tables, cfg: &ServerErrorsConfig) -> Vec<Flag> {
    let mut out = Vec::new();
    if !cfg.enabled {
        return out;
    }
    // The integration's key (the connection, or the account where no record names one),
    // and the service called.
    for dimension in [t.integration(Dimension::ConnectionId), Dimension::Service] {
        if let Some(dim) = t.dim(dimension) {
            detect_on(t, dim, cfg, &mut out);
        }
    }
    out
}

/// The flags of one dimension's keys.
fn detect_on(
    t: &Tables,
    dim: &crate::analyze::tables::DimTable,
    cfg: &ServerErrorsConfig,
    out: &mut Vec<Flag>,
) {
    let dimension = dim.dimension;
    let down = match dimension {
        Dimension::Service => "the service is down",
        Dimension::OrganizationId => "the account's integration is down",
        _ => "the connection is down",
    };
    let g = &t.grid;
    let width = g.buckets_in(i64::from(cfg.window_minutes) * MINUTE_US);
    let down_width = g.buckets_in(i64::from(cfg.down_minutes) * MINUTE_US);
    let down_min = u64::from(cfg.down_min_requests.max(1));
    for s in &dim.series {
        let s5 = s.values(|c| c.s5xx);
        let total: u64 = s5.iter().map(|&v| u64::from(v)).sum();
        if total < u64::from(cfg.min_5xx).min(down_min) {
            continue;
        }
        if t.has_successes && cfg.down_minutes > 0 {
            let req = sliding_sum(&s.values(|c| c.requests), down_width);
            let fail = sliding_sum(&s5, down_width);
            for i in 0..g.n {
                if req[i] < down_min || fail[i] != req[i] || s5[i] == 0 {
                    continue;
                }
                let lo = (i + 1).saturating_sub(down_width);
                let first = (lo..=i).find(|&j| s5[j] > 0).unwrap_or(i);
                out.push(Flag {
                    detector: DetectorId::ServerErrors,
                    class: IncidentClass::Critical,
                    severity: Severity::High,
                    dimension,
                    key: s.key.clone(),
                    start: g.start_of(first),
                    end: g.end_of(i),
                    events: fail[i],
                    value: 1.0,
                    baseline: 0.0,
                    threshold: 1.0,
                    score: 1.0,
                    what: format!(
                        "every request failed (5xx) over {} min: {down}",
                        cfg.down_minutes
                    ),
                    focus: Focus::Server,
                });
            }
        }
        if t.has_successes && cfg.slow_minutes > 0 && total >= u64::from(cfg.slow_min_5xx) {
            let requests = s.values(|c| c.requests);
            let all: u64 = requests.iter().map(|&v| u64::from(v)).sum();
            let slow_width = g.buckets_in(i64::from(cfg.slow_minutes) * MINUTE_US);
            let req = sliding_sum(&requests, slow_width);
            let fail = sliding_sum(&s5, slow_width);
            for i in 0..g.n {
                if fail[i] < u64::from(cfg.slow_min_5xx) || s5[i] == 0 {
                    continue;
                }
                let ratio = fail[i] as f64 / req[i].max(1) as f64;
                // Its share outside the window (an incident does not raise its own bar).
                let usual = ((total - fail[i]) as f64 / (all - req[i]).max(1) as f64).max(0.01);
                let chance = binomial_tail_bound(req[i], fail[i], usual);
                if ratio < cfg.min_ratio || chance >= cfg.slow_max_chance {
                    continue;
                }
                // From the first stretch of the window already over the ratio.
                let lo = (i + 1).saturating_sub(slow_width);
                let first = (lo..=i)
                    .find(|&j| {
                        s5[j] > 0 && f64::from(s5[j]) >= cfg.min_ratio * f64::from(requests[j])
                    })
                    .unwrap_or(i);
                out.push(Flag {
                    baseline: usual,
                    score: ratio / usual,
                    what: format!(
                        "5xx share of requests over {} min ({} of {}), against its usual {:.1} %",
                        cfg.slow_minutes,
                        fail[i],
                        req[i],
                        usual * 100.0
                    ),
                    ..share_flag(
                        dimension,
                        &s.key,
                        g.start_of(first),
                        g.end_of(i),
                        fail[i],
                        ratio,
                        cfg.min_ratio,
                    )
                });
            }
        }
        if total < u64::from(cfg.min_5xx) {
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
                what: format!("5xx share of requests over {} min", cfg.window_minutes),
                ..share_flag(
                    dimension,
                    &s.key,
                    g.start_of(first),
                    g.end_of(i),
                    num[i],
                    ratio,
                    limit,
                )
            });
        }
    }
}

/// The flag of a key whose 5xx share `ratio` is over `limit` (high from 50 %).
fn share_flag(
    dimension: Dimension,
    key: &str,
    start: i64,
    end: i64,
    events: u64,
    ratio: f64,
    limit: f64,
) -> Flag {
    Flag {
        detector: DetectorId::ServerErrors,
        class: IncidentClass::Critical,
        severity: if ratio >= 0.5 {
            Severity::High
        } else {
            Severity::Medium
        },
        dimension,
        key: key.to_string(),
        start,
        end,
        events,
        value: ratio,
        baseline: 0.0,
        threshold: limit,
        score: ratio / limit,
        what: String::new(),
        focus: Focus::Server,
    }
}

/// An upper bound of the chance of `k` or more successes in `n` trials of probability
/// `p` (Chernoff: exp(-n KL(k/n || p))); 1 when `k` is not above the mean.
pub fn binomial_tail_bound(n: u64, k: u64, p: f64) -> f64 {
    if n == 0 || (k as f64) <= n as f64 * p {
        return 1.0;
    }
    let q = k as f64 / n as f64;
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let kl = |a: f64, b: f64| if a <= 0.0 { 0.0 } else { a * (a / b).ln() };
    let d = kl(q, p) + kl(1.0 - q, 1.0 - p);
    (-(n as f64) * d).exp()
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
                dimension: Dimension::ConnectionId,
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
        assert!(flags
            .iter()
            .all(|f| f.class == IncidentClass::Critical && f.key == "c1"));
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

    /// A small connection (two calls in 5 minutes here and there) that goes completely
    /// down for an hour is critical, though its counts stay under the volume minimums; the
    /// same connection failing now and then is not.
    #[test]
    fn a_small_connection_that_is_down_is_critical() {
        let mut b: Vec<(u32, u32, u32)> = (0..48)
            .map(|i| if i % 3 == 0 { (2, 0, 0) } else { (0, 0, 0) })
            .collect();
        for (i, x) in b.iter_mut().enumerate().skip(24).take(14) {
            if i % 3 == 0 {
                *x = (2, 2, 2);
            }
        }
        let flags = detect(&conn(&b), &ServerErrorsConfig::default());
        assert!(!flags.is_empty(), "down for an hour: 10 calls, 10 failures");
        assert!(flags
            .iter()
            .all(|f| f.severity == Severity::High && f.start >= T0 + 24 * STEP));
        // Now and then a failure (1 of 2 calls): not down.
        let flaky: Vec<(u32, u32, u32)> = (0..48)
            .map(|i| if i % 3 == 0 { (2, 1, 1) } else { (0, 0, 0) })
            .collect();
        assert!(detect(&conn(&flaky), &ServerErrorsConfig::default()).is_empty());
        // Off when configured off.
        let off = ServerErrorsConfig {
            down_minutes: 0,
            slow_minutes: 0,
            ..Default::default()
        };
        assert!(detect(&conn(&b), &off).is_empty());
    }

    /// A small connection (2 calls in 5 minutes, now and then a 5xx) whose calls fail
    /// half the time for two hours is critical, though no 30-minute window holds 20 calls
    /// and no hour is all failures; the same connection with its usual failures is not.
    #[test]
    fn a_small_connection_that_degrades_is_critical() {
        let n = 96;
        let usual: Vec<(u32, u32, u32)> = (0..n)
            .map(|i| (2, u32::from(i % 40 == 0), u32::from(i % 40 == 0)))
            .collect();
        let mut b = usual.clone();
        for x in b.iter_mut().skip(70).take(24) {
            *x = (2, 1, 1);
        }
        let flags = detect(&conn(&b), &ServerErrorsConfig::default());
        assert!(!flags.is_empty(), "40 % 5xx over two hours: critical");
        assert!(flags.iter().all(|f| f.start >= T0 + 60 * STEP), "{flags:?}");
        let old_rules_only = ServerErrorsConfig {
            slow_minutes: 0,
            ..Default::default()
        };
        assert!(detect(&conn(&b), &old_rules_only).is_empty());
        // Its usual share only: one 5xx in 40 windows.
        assert!(detect(&conn(&usual), &ServerErrorsConfig::default()).is_empty());
        // The bound: 8 of 40 at a usual 1 % is far beyond chance, 1 of 40 is not.
        assert!(binomial_tail_bound(40, 8, 0.01) < 1e-7);
        assert!(binomial_tail_bound(40, 1, 0.01) > 0.1);
        assert_eq!(binomial_tail_bound(40, 0, 0.01), 1.0);
    }
}
