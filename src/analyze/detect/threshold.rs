//! **threshold**: a rule's metric (errors, 5xx, 401s, ... or a ratio with a minimum volume)
//! over its window, per key of its dimension, is above a fixed limit; over twice the limit
//! is `high`, else `medium` (DOMAIN.md: `AUTH_002` 10/h, `AUTH_003` 50/h, `RATE_001` 20/h;
//! 5xx above 1 % of traffic over 30 minutes).
//!
//! Two readings keep a fleet's normal days quiet:
//! - The per-hour code limits are one client application's monitor (seed 004). Where a
//!   code's errors come from two or more clients (connections or organisations,
//!   `per_key_dimensions`), the limit applies to each client alone (`key_threshold`), not
//!   to the fleet's sum; a fleet-wide surge of the code is the `spike` detector's (against
//!   the code's own history).
//! - A ratio is judged against the key's own history too, once it has one (at least
//!   `min_history` windows with the minimum volume): a window is flagged only when it is
//!   above the limit *and* at least `min_rise` (2) times the key's median ratio. A key whose
//!   median is itself above the limit (a fleet at 1.1 % 5xx every day) is a standing
//!   condition, reported as such ([`standing`]), not paged; severity is `high` past twice
//!   the larger of the limit and the median. A ratio's window must also be beyond chance
//!   at the key's median share (the Chernoff bound of the binomial tail under
//!   `max_chance`, 1e-6), so a thin hour of a small connection is no incident.

use super::super::config::{Metric, ThresholdConfig, ThresholdRule};
use super::super::grid::MINUTE_US;
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

/// Whether a rule is judged against the key's own history: ratios, and counts on any
/// dimension but a code's (seed 004's per-hour code limits are absolute).
fn judged_on_history(rule: &ThresholdRule) -> bool {
    rule.metric.is_ratio() || rule.dimension != Dimension::ErrorCode
}

/// The rules, those on connections on the integration's key ([`Tables::integration`]);
/// a rule given twice that way (on connections and on organisations) runs once.
fn rules_for(t: &Tables, cfg: &ThresholdConfig) -> Vec<ThresholdRule> {
    let mut out: Vec<ThresholdRule> = Vec::new();
    for mut r in cfg.effective_rules() {
        r.dimension = t.integration(r.dimension);
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}

/// Minutes of data the rules judged against history need before a key has its normal
/// (`min_history` windows of the longest such rule): shorter data is judged by the fixed
/// limits alone.
pub fn history_minutes(cfg: &ThresholdConfig) -> i64 {
    let longest = cfg
        .effective_rules()
        .iter()
        .filter(|r| judged_on_history(r))
        .map(|r| i64::from(r.window_minutes))
        .max()
        .unwrap_or(0);
    longest * i64::try_from(cfg.min_history).unwrap_or(i64::MAX / longest.max(1))
}

/// A rule's history on one key: for a rule judged against history
/// ([`judged_on_history`]), the key's median value over the windows with the minimum
/// volume (`None` without enough of them, or for an absolute rule).
struct History {
    median: Option<f64>,
    /// Windows with the minimum volume, and those above the limit.
    windows: usize,
    above: usize,
}

fn history(t: &Tables, rule: &ThresholdRule, s: &KeySeries, cfg: &ThresholdConfig) -> History {
    let width = t
        .grid
        .buckets_in(i64::from(rule.window_minutes) * MINUTE_US);
    let min_req = u64::from(rule.min_requests.max(1));
    // Every `width`-th window: the sliding sums overlap, so consecutive windows are not
    // independent samples of the key's normal.
    let mut ratios: Vec<f64> = s
        .every_width(width, |c| metric_count(rule.metric, c))
        .into_iter()
        .filter(|&(_, den)| den >= min_req)
        .map(|(num, den)| {
            if rule.metric.is_ratio() {
                num as f64 / den as f64
            } else {
                num as f64
            }
        })
        .collect();
    let windows = ratios.len();
    let above = ratios.iter().filter(|r| **r > rule.above).count();
    ratios.sort_by(f64::total_cmp);
    let median =
        (judged_on_history(rule) && windows >= cfg.min_history.max(1)).then(|| ratios[windows / 2]);
    History {
        median,
        windows,
        above,
    }
}

fn check(
    t: &Tables,
    rule: &ThresholdRule,
    s: &KeySeries,
    cfg: &ThresholdConfig,
    out: &mut Vec<Flag>,
) {
    let g = &t.grid;
    let width = g.buckets_in(i64::from(rule.window_minutes) * MINUTE_US);
    let History { median, .. } = history(t, rule, s, cfg);
    // Only the windows with the metric can be above a limit.
    for w in s.windows_with(width, |c| metric_count(rule.metric, c)) {
        let (i, num, den) = (w.end, w.sum, w.requests);
        if num < u64::from(rule.min_events) {
            continue;
        }
        let value = if rule.metric.is_ratio() {
            if den < u64::from(rule.min_requests.max(1)) {
                continue;
            }
            num as f64 / den as f64
        } else {
            num as f64
        };
        if value <= rule.above {
            continue;
        }
        if median.is_some_and(|m| value < cfg.min_rise * m) {
            continue; // the key's normal, or close to it
        }
        // A ratio must also be beyond chance at the key's usual share: 12 errors in 100
        // requests of a connection at 6 % are noise, 16 % of 900 are not.
        if let (true, Some(m)) = (rule.metric.is_ratio(), median) {
            let chance = super::server_errors::binomial_tail_bound(den, num, m.max(0.001));
            if chance >= cfg.max_chance {
                continue;
            }
        }
        let reference = rule.above.max(median.unwrap_or(0.0));
        let first = w.first;
        let unit = if rule.metric.is_ratio() {
            format!("{} over {} min", rule.metric.label(), rule.window_minutes)
        } else {
            format!("{} per {} min", rule.metric.label(), rule.window_minutes)
        };
        out.push(Flag {
            detector: DetectorId::Threshold,
            class: class_of(t, rule, &s.key),
            severity: Severity::of_ratio(value, reference),
            dimension: rule.dimension,
            key: s.key.clone(),
            start: g.start_of(first),
            end: g.end_of(i),
            events: num,
            value,
            baseline: median.unwrap_or(0.0),
            threshold: rule.above,
            score: value / rule.above,
            what: unit,
            focus: metric_focus(rule.metric, rule.dimension, &s.key),
        });
    }
}

pub fn detect(t: &Tables, cfg: &ThresholdConfig) -> anyhow::Result<Vec<Flag>> {
    let mut out = Vec::new();
    if !cfg.enabled {
        return Ok(out);
    }
    let rules = rules_for(t, cfg);
    let fleet = fleet_codes(t, cfg, &rules)?;
    for rule in &rules {
        if rule.dimension == Dimension::ErrorCode
            && rule.key.as_ref().is_some_and(|k| fleet.contains(k))
        {
            continue; // each client's own limit: key_threshold
        }
        let Some(dim) = t.dim(rule.dimension) else {
            continue;
        };
        for s in &dim.series {
            if rule.key.as_ref().is_none_or(|k| *k == s.key) {
                check(t, rule, s, cfg, &mut out);
            }
        }
    }
    Ok(out)
}

/// The codes of the code rules whose errors come from two or more clients (distinct keys
/// of one of `per_key_dimensions`).
fn fleet_codes(
    t: &Tables,
    cfg: &ThresholdConfig,
    rules: &[ThresholdRule],
) -> anyhow::Result<std::collections::HashSet<String>> {
    use std::collections::{HashMap, HashSet};
    let codes: HashSet<&str> = rules
        .iter()
        .filter(|r| r.dimension == Dimension::ErrorCode)
        .filter_map(|r| r.key.as_deref())
        .collect();
    let mut clients: HashMap<(String, Dimension), HashSet<String>> = HashMap::new();
    if codes.is_empty() || cfg.per_key_dimensions.is_empty() {
        return Ok(HashSet::new());
    }
    t.error_log.for_each(|_, e| {
        let Some(code) = e.error_code.as_deref().filter(|c| codes.contains(c)) else {
            return;
        };
        for d in &cfg.per_key_dimensions {
            if let Some(v) = e.value_of(*d) {
                let set = clients.entry((code.to_string(), *d)).or_default();
                if set.len() < 2 && !set.contains(v.as_ref()) {
                    set.insert(v.into_owned());
                }
            }
        }
    })?;
    Ok(clients
        .into_iter()
        .filter(|(_, keys)| keys.len() >= 2)
        .map(|((code, _), _)| code)
        .collect())
}

/// A key whose ratio is above a rule's limit in most windows: its normal, reported as a
/// standing condition rather than an incident.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Standing {
    pub dimension: Dimension,
    pub key: String,
    /// The rule's metric and window, in words (`5xx ratio over 30 min`).
    pub what: String,
    /// A ratio (limit and median are shares), else a count.
    pub ratio: bool,
    pub limit: f64,
    /// The key's median ratio.
    pub median: f64,
    /// Windows (non-overlapping, with the minimum volume) above the limit, of all.
    pub windows_above: usize,
    pub windows: usize,
}

/// The standing conditions of the ratio rules (see the module documentation).
pub fn standing(t: &Tables, cfg: &ThresholdConfig) -> Vec<Standing> {
    let mut out = Vec::new();
    if !cfg.enabled {
        return out;
    }
    for rule in rules_for(t, cfg).iter().filter(|r| judged_on_history(r)) {
        let Some(dim) = t.dim(rule.dimension) else {
            continue;
        };
        for s in dim
            .series
            .iter()
            .filter(|s| rule.key.as_ref().is_none_or(|k| *k == s.key))
        {
            let h = history(t, rule, s, cfg);
            if let Some(median) = h.median.filter(|m| *m > rule.above) {
                out.push(Standing {
                    ratio: rule.metric.is_ratio(),
                    dimension: rule.dimension,
                    key: s.key.clone(),
                    what: if rule.metric.is_ratio() {
                        format!("{} over {} min", rule.metric.label(), rule.window_minutes)
                    } else {
                        format!("{} per {} min", rule.metric.label(), rule.window_minutes)
                    },
                    limit: rule.above,
                    median,
                    windows_above: h.above,
                    windows: h.windows,
                });
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
        let flags = detect(&code_table("AUTH_002", &burst), &cfg).unwrap();
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
        assert!(detect(&code_table("AUTH_002", &spread), &cfg)
            .unwrap()
            .is_empty());
        // 25 in an hour is more than twice the limit: high.
        burst[21] = 14;
        assert!(detect(&code_table("AUTH_002", &burst), &cfg)
            .unwrap()
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
        assert!(detect(&t, &cfg).unwrap().is_empty());
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
        assert!(detect(&t, &cfg).unwrap().is_empty());
        let bad: Vec<(u32, u32, u32)> = (0..24).map(|_| (200, 6, 6)).collect();
        let t = tables(
            24,
            vec![DimTable {
                dimension: Dimension::All,
                series: vec![series("all", &bad)],
                summary: None,
            }],
        );
        let flags = detect(&t, &cfg).unwrap();
        assert!(!flags.is_empty());
        assert_eq!(flags[0].class, IncidentClass::Critical);
    }

    fn all_table(buckets: &[(u32, u32, u32)]) -> Tables {
        tables(
            buckets.len(),
            vec![DimTable {
                dimension: Dimension::All,
                series: vec![series("all", buckets)],
                summary: None,
            }],
        )
    }

    /// Regression (issue 29): a fleet at 1.1 % 5xx every day, against seed 003's 1 %, was
    /// paged `critical` on normal days. It is a standing condition; an outage on top of it
    /// is still an incident.
    #[test]
    fn a_ratio_standing_above_the_limit_is_reported_not_paged() {
        let cfg = ThresholdConfig::default();
        // Two days of 5-minute windows, 1,000 requests each, 11 or 12 of them 5xx (1.1-1.2 %).
        let n = 2 * 288;
        let steady: Vec<(u32, u32, u32)> = (0..n)
            .map(|i| (1000, 12, 11 + u32::from(i % 3 == 0)))
            .collect();
        let t = all_table(&steady);
        assert!(detect(&t, &cfg).unwrap().is_empty(), "its normal");
        let st = standing(&t, &cfg);
        assert_eq!(st.len(), 1, "{st:?}");
        assert_eq!(
            (st[0].dimension, st[0].key.as_str()),
            (Dimension::All, "all")
        );
        assert!(st[0].median > 0.01 && st[0].median < 0.013, "{st:?}");
        assert!(st[0].windows_above * 10 >= st[0].windows * 9, "{st:?}");
        // Forty minutes at 6 %: five times its normal, an incident (high: past twice the
        // larger of the limit and the median).
        let mut outage = steady.clone();
        for b in &mut outage[300..308] {
            *b = (1000, 60, 60);
        }
        let flags = detect(&all_table(&outage), &cfg).unwrap();
        assert!(!flags.is_empty());
        assert!(flags.iter().all(|f| f.start >= T0 + 295 * STEP
            && f.class == IncidentClass::Critical
            && f.severity == Severity::High
            && f.baseline > 0.01));
        // Without enough history (a short export), the plain rule holds.
        let short = all_table(&steady[..20]);
        assert!(!detect(&short, &cfg).unwrap().is_empty());
        assert!(standing(&short, &cfg).is_empty());
    }

    /// Regression (issue 29): seed 004's per-hour code limits are one client's monitor;
    /// summed over a fleet of connections they fired every normal day.
    #[test]
    fn code_limits_are_each_clients_where_the_code_has_several() {
        use crate::analyze::errlog::ErrorLog;
        use crate::analyze::tables::EventRow;
        let cfg = ThresholdConfig::default();
        let mut errors = vec![0u32; 36];
        errors[20] = 30; // 30 RATE_001 in one hour: over 20/h
        let rows = |conns: &[&str]| -> Vec<EventRow> {
            (0..30)
                .map(|i| EventRow {
                    ts: T0 + 20 * STEP + i,
                    status: Some(429),
                    error_code: Some("RATE_001".into()),
                    connection_id: Some(conns[i as usize % conns.len()].into()),
                    ..Default::default()
                })
                .collect()
        };
        let mut fleet = code_table("RATE_001", &errors);
        fleet.error_log = ErrorLog::from_rows(rows(&["c1", "c2", "c3"]));
        assert!(
            detect(&fleet, &cfg).unwrap().is_empty(),
            "each client's own limit"
        );
        let mut one = code_table("RATE_001", &errors);
        one.error_log = ErrorLog::from_rows(rows(&["c1"]));
        assert!(
            !detect(&one, &cfg).unwrap().is_empty(),
            "one client: its limit"
        );
        let mut anonymous = code_table("RATE_001", &errors);
        anonymous.error_log = ErrorLog::from_rows(
            rows(&["c1"])
                .into_iter()
                .map(|r| EventRow {
                    connection_id: None,
                    ..r
                })
                .collect(),
        );
        assert!(
            !detect(&anonymous, &cfg).unwrap().is_empty(),
            "an application's own log names no client: its limit"
        );
    }
}
