//! **threshold**: a rule's metric (errors, 5xx, 401s, ... or a ratio with a minimum volume)
//! over its window, per key of its dimension, is above a fixed limit; over twice the limit
//! is `high`, else `medium` (DOMAIN.md: `AUTH_002` 10/h, `AUTH_003` 50/h, `RATE_001` 20/h;
//! 5xx above 1 % of traffic over 30 minutes).

use super::super::config::{Metric, ThresholdConfig, ThresholdRule};
use super::super::grid::{sliding_sum, MINUTE_US};
use super::super::tables::{Counts, KeySeries, Tables};
use super::{Flag, Focus, Severity};
use crate::analyze::{DetectorId, Dimension, IncidentClass};

pub fn metric_count(m: Metric, c: &Counts) -> u32 {
    match m {
        Metric::Errors | Metric::ErrorRatio => c.errors,
        Metric::S5xx | Metric::S5xxRatio => c.s5xx,
        Metric::S4xx => c.s4xx,
        Metric::S401 => c.s401,
        Metric::S403 => c.s403,
        Metric::S429 => c.s429,
    }
}

pub fn metric_focus(m: Metric, dimension: Dimension, key: &str) -> Focus {
    match m {
        Metric::S5xx | Metric::S5xxRatio => Focus::Server,
        Metric::S401 => Focus::Status(401),
        Metric::S403 => Focus::Status(403),
        Metric::S429 => Focus::Status(429),
        _ if dimension == Dimension::ErrorCode => Focus::Code(key.to_string()),
        _ => Focus::Errors,
    }
}

/// The class of a breach: the code's own class, `critical` for server errors, else warning.
fn class_of(t: &Tables, rule: &ThresholdRule, key: &str) -> IncidentClass {
    if rule.dimension == Dimension::ErrorCode {
        if let Some(class) = t.code_class(key) {
            return class;
        }
    }
    if matches!(rule.metric, Metric::S5xx | Metric::S5xxRatio) {
        IncidentClass::Critical
    } else {
        IncidentClass::Warning
    }
}

fn check(t: &Tables, rule: &ThresholdRule, s: &KeySeries, out: &mut Vec<Flag>) {
    let g = &t.grid;
    let width = g.buckets_in(i64::from(rule.window_minutes) * MINUTE_US);
    let counts = s.values(|c| metric_count(rule.metric, c));
    let num = sliding_sum(&counts, width);
    let den = sliding_sum(&s.values(|c| c.requests), width);
    for i in 0..g.n {
        if num[i] == 0 || num[i] < u64::from(rule.min_events) {
            continue;
        }
        let value = if rule.metric.is_ratio() {
            if den[i] < u64::from(rule.min_requests.max(1)) {
                continue;
            }
            num[i] as f64 / den[i] as f64
        } else {
            num[i] as f64
        };
        if value <= rule.above {
            continue;
        }
        let lo = (i + 1).saturating_sub(width);
        let first = (lo..=i).find(|&j| counts[j] > 0).unwrap_or(i);
        let unit = if rule.metric.is_ratio() {
            format!("{} over {} min", rule.metric.label(), rule.window_minutes)
        } else {
            format!("{} per {} min", rule.metric.label(), rule.window_minutes)
        };
        out.push(Flag {
            detector: DetectorId::Threshold,
            class: class_of(t, rule, &s.key),
            severity: Severity::of_ratio(value, rule.above),
            dimension: rule.dimension,
            key: s.key.clone(),
            start: g.start_of(first),
            end: g.end_of(i),
            events: num[i],
            value,
            baseline: 0.0,
            threshold: rule.above,
            score: value / rule.above,
            what: unit,
            focus: metric_focus(rule.metric, rule.dimension, &s.key),
        });
    }
}

pub fn detect(t: &Tables, cfg: &ThresholdConfig) -> Vec<Flag> {
    let mut out = Vec::new();
    if !cfg.enabled {
        return out;
    }
    for rule in &cfg.effective_rules() {
        let Some(dim) = t.dim(rule.dimension) else {
            continue;
        };
        for s in &dim.series {
            if rule.key.as_ref().is_none_or(|k| *k == s.key) {
                check(t, rule, s, &mut out);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::analyze::tables::{CodeSighting, DimTable};

    fn code_table(key: &str, errors: &[u32]) -> Tables {
        let s = series(
            key,
            &errors.iter().map(|&e| (e + 50, e, 0)).collect::<Vec<_>>(),
        );
        let mut t = tables(
            errors.len(),
            vec![DimTable {
                dimension: Dimension::ErrorCode,
                series: vec![s],
                summary: None,
            }],
        );
        t.codes.push(CodeSighting {
            code: key.into(),
            class: "security".into(),
            first_ts: T0,
            events: 1,
        });
        t
    }

    #[test]
    fn hourly_code_threshold_fires_over_the_limit_only() {
        let cfg = ThresholdConfig::default();
        // 11 AUTH_002 in one hour (limit 10): medium; spread over 3 hours: nothing.
        let mut burst = vec![0u32; 36];
        burst[20] = 6;
        burst[22] = 5;
        let flags = detect(&code_table("AUTH_002", &burst), &cfg);
        assert!(!flags.is_empty());
        assert!(flags
            .iter()
            .all(|f| f.severity == Severity::Medium && f.class == IncidentClass::Security));
        assert_eq!(
            flags[0].start,
            T0 + 20 * STEP,
            "starts at the first event, not the window"
        );
        let mut spread = vec![0u32; 36];
        for i in (0..36).step_by(12) {
            spread[i] = 4;
        }
        assert!(detect(&code_table("AUTH_002", &spread), &cfg).is_empty());
        // 25 in an hour is more than twice the limit: high.
        burst[21] = 14;
        assert!(detect(&code_table("AUTH_002", &burst), &cfg)
            .iter()
            .any(|f| f.severity == Severity::High));
    }

    #[test]
    fn ratio_rules_need_volume() {
        let cfg = ThresholdConfig::default();
        // 5 % 5xx but only 100 requests per 30 min: below the minimum volume.
        let low: Vec<(u32, u32, u32)> = (0..24).map(|_| (17, 1, 1)).collect();
        let t = tables(
            24,
            vec![DimTable {
                dimension: Dimension::All,
                series: vec![series("all", &low)],
                summary: None,
            }],
        );
        assert!(detect(&t, &cfg).is_empty());
        // 0.5 % at volume: normal (seed 003). 3 % at volume: flagged, critical.
        let normal: Vec<(u32, u32, u32)> = (0..24)
            .map(|i| (200, 1, u32::from(i % 2 == 0) * 2))
            .collect();
        let t = tables(
            24,
            vec![DimTable {
                dimension: Dimension::All,
                series: vec![series("all", &normal)],
                summary: None,
            }],
        );
        assert!(detect(&t, &cfg).is_empty());
        let bad: Vec<(u32, u32, u32)> = (0..24).map(|_| (200, 6, 6)).collect();
        let t = tables(
            24,
            vec![DimTable {
                dimension: Dimension::All,
                series: vec![series("all", &bad)],
                summary: None,
            }],
        );
        let flags = detect(&t, &cfg);
        assert!(!flags.is_empty());
        assert_eq!(flags[0].class, IncidentClass::Critical);
    }
}
