//! **spike**: a key's errors in a window are far above its own baseline: the median and
//! MAD of its past windows (the window tested and windows already flagged excluded; the
//! same hour of the same weekday, when the data spans two weeks or more and that hour has
//! enough history, so quiet weekends and busy Mondays are their own baselines; else the
//! same hour of day, when it spans two days or more), with a minimum volume so a handful
//! of events never alerts. Score: robust
//! z = (x - median) / (1.4826 MAD), with a Poisson floor (sqrt of the median) so a flat
//! baseline does not make every bump a spike. Without same-hour history the window must
//! also beat the 90th percentile of the past `min_ratio` times, so a morning ramp is not
//! a spike. Where the export logs successes, the error ratio must also have risen at least
//! `min_ratio_rise` times over the baseline's (errors over requests of the same past
//! windows; for codes, over all traffic): a surge of traffic whose errors grow with it is
//! busier, not broken.

use super::super::config::SpikeConfig;
use super::super::tables::Tables;
use super::{Flag, Focus, Severity};
use crate::analyze::{DetectorId, Dimension, IncidentClass};

const HOUR_US: i64 = 3_600_000_000;
const DAY_US: i64 = 24 * HOUR_US;

pub fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}

/// The `q` quantile (0..1, nearest rank) of a sample.
pub fn percentile(sample: &[f64], q: f64) -> f64 {
    if sample.is_empty() {
        return 0.0;
    }
    let mut v = sample.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() - 1) as f64 * q).round() as usize]
}

/// Median and MAD of a sample.
pub fn median_mad(sample: &[f64]) -> (f64, f64) {
    let mut v = sample.to_vec();
    let med = median(&mut v);
    let mut dev: Vec<f64> = sample.iter().map(|x| (x - med).abs()).collect();
    (med, median(&mut dev))
}

pub fn detect(t: &Tables, cfg: &SpikeConfig) -> Vec<Flag> {
    let mut out = Vec::new();
    if !cfg.enabled {
        return out;
    }
    let g = &t.grid;
    let days = (t.max_ts - t.min_ts) as f64 / DAY_US as f64;
    let hour_aware = days >= 2.0;
    let week_aware = days >= 14.0;
    let weekday_of = |i: usize| g.start_of(i).div_euclid(DAY_US).rem_euclid(7);
    let all_requests: Option<Vec<u32>> = t
        .dim(Dimension::All)
        .and_then(|d| d.series.first())
        .map(|s| s.values(|c| c.requests));
    let hour_of = |i: usize| g.start_of(i).rem_euclid(DAY_US) / HOUR_US;
    let mut dims: Vec<Dimension> = Vec::new();
    for d in cfg.dimensions.iter().map(|d| t.integration(*d)) {
        if !dims.contains(&d) {
            dims.push(d);
        }
    }
    for dim_name in &dims {
        let Some(dim) = t.dim(*dim_name) else {
            continue;
        };
        for s in &dim.series {
            let x = s.values(|c| c.errors);
            if x.iter().map(|&v| u64::from(v)).sum::<u64>() < u64::from(cfg.min_events) {
                continue;
            }
            // The denominator of the key's error ratio: its own requests, or all traffic
            // for the dimensions whose keys are kinds of error.
            let requests: Option<Vec<u32>> = match dim_name {
                _ if !t.has_successes || cfg.min_ratio_rise <= 0.0 => None,
                d if d.keys_are_kinds() => all_requests.clone(),
                _ => Some(s.values(|c| c.requests)),
            };
            let mut flagged = vec![false; g.n];
            for i in 0..g.n {
                if x[i] < cfg.min_events {
                    continue;
                }
                let past = |same_hour: bool, same_weekday: bool| -> Vec<usize> {
                    (0..i)
                        .filter(|&j| {
                            !flagged[j]
                                && (!same_hour || hour_of(j) == hour_of(i))
                                && (!same_weekday || weekday_of(j) == weekday_of(i))
                        })
                        .collect()
                };
                let mut windows = if week_aware {
                    past(true, true)
                } else {
                    Vec::new()
                };
                if windows.len() < cfg.min_history && hour_aware {
                    windows = past(true, false);
                }
                let same_hour = windows.len() >= cfg.min_history;
                if !same_hour {
                    windows = past(false, false);
                }
                let history: Vec<f64> = windows.iter().map(|&j| f64::from(x[j])).collect();
                if history.len() < cfg.min_history {
                    continue;
                }
                let (med, mad) = median_mad(&history);
                let reference = if same_hour {
                    med
                } else {
                    percentile(&history, 0.9).max(med)
                };
                let sigma = (1.4826 * mad).max(med.sqrt()).max(1.0);
                let v = f64::from(x[i]);
                let score = (v - med) / sigma;
                if score < cfg.min_score || v < cfg.min_ratio * reference.max(1.0) {
                    continue;
                }
                if let Some(req) = &requests {
                    let (he, hr) = windows.iter().fold((0u64, 0u64), |(e, r), &j| {
                        (e + u64::from(x[j]), r + u64::from(req[j]))
                    });
                    if hr > 0 && he > 0 && req[i] > 0 {
                        let base = he as f64 / hr as f64;
                        let now = v / f64::from(req[i]);
                        if now < cfg.min_ratio_rise * base {
                            continue; // more traffic, the same share of errors
                        }
                    }
                }
                flagged[i] = true;
                let class = if *dim_name == Dimension::ErrorCode {
                    t.code_class(&s.key).unwrap_or(IncidentClass::Warning)
                } else {
                    IncidentClass::Warning
                };
                out.push(Flag {
                    detector: DetectorId::Spike,
                    class,
                    severity: if score >= 2.0 * cfg.min_score {
                        Severity::High
                    } else {
                        Severity::Medium
                    },
                    dimension: *dim_name,
                    key: s.key.clone(),
                    start: g.start_of(i),
                    end: g.end_of(i),
                    events: u64::from(x[i]),
                    value: v,
                    baseline: med,
                    threshold: (med + cfg.min_score * sigma).max(cfg.min_ratio * med.max(1.0)),
                    score,
                    what: format!("errors per {} min", g.step_us / 60_000_000),
                    focus: if *dim_name == Dimension::ErrorCode {
                        Focus::Code(s.key.clone())
                    } else {
                        Focus::Errors
                    },
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
    use crate::analyze::tables::DimTable;

    /// A connection with steady traffic (200 calls a window) and these errors on top.
    fn conn(errors: &[u32]) -> Tables {
        conn_with(errors, &vec![200; errors.len()])
    }

    fn conn_with(errors: &[u32], successes: &[u32]) -> Tables {
        let s = series(
            "c1",
            &errors
                .iter()
                .zip(successes)
                .map(|(&e, &ok)| (e + ok, e, 0))
                .collect::<Vec<_>>(),
        );
        tables(
            errors.len(),
            vec![DimTable {
                dimension: Dimension::ConnectionId,
                series: vec![s],
                summary: None,
            }],
        )
    }

    #[test]
    fn a_burst_far_above_the_baseline_fires() {
        let mut e = noise(1, 100, 0, 4);
        e[70] = 45;
        e[71] = 60;
        let flags = detect(&conn(&e), &SpikeConfig::default());
        let at: Vec<i64> = flags.iter().map(|f| (f.start - T0) / STEP).collect();
        assert_eq!(at, vec![70, 71]);
        assert_eq!(flags[0].dimension, Dimension::ConnectionId);
        assert!(flags[0].baseline <= 4.0);
    }

    /// Eight times the traffic for an hour with the same 2 % of errors: busier, not
    /// broken. The same errors without the traffic: a spike.
    #[test]
    fn a_surge_of_traffic_with_the_same_error_ratio_is_no_spike() {
        let mut e = noise(4, 100, 1, 5);
        let mut ok: Vec<u32> = vec![150; 100];
        for i in 70..82 {
            e[i] = 25 + (i as u32 % 3);
            ok[i] = 1250;
        }
        assert!(detect(&conn_with(&e, &ok), &SpikeConfig::default()).is_empty());
        let steady = vec![150; 100];
        assert!(!detect(&conn_with(&e, &steady), &SpikeConfig::default()).is_empty());
    }

    #[test]
    fn silent_on_noise_low_volume_and_diurnal_swings() {
        let cfg = SpikeConfig::default();
        assert!(
            detect(&conn(&noise(2, 300, 0, 6)), &cfg).is_empty(),
            "noise"
        );
        let mut low = noise(3, 100, 0, 1);
        low[80] = 12; // 12x the baseline but under the minimum volume
        assert!(detect(&conn(&low), &cfg).is_empty(), "low volume");
        // Four days of a strong daily curve (5 errors at night, 60 at the peak): the
        // hour-of-day baseline knows the afternoon is busy.
        let per_day = 288;
        let diurnal: Vec<u32> = (0..4 * per_day)
            .map(|i| {
                let h = (i % per_day) as f64 / 12.0;
                let curve = (-(h - 14.0).powi(2) / 8.0).exp();
                5 + (55.0 * curve) as u32 + noise(i as u64, 1, 0, 3)[0]
            })
            .collect();
        assert!(detect(&conn(&diurnal), &cfg).is_empty(), "diurnal");
        // The first day of a curve has no same-hour history: the ramp is still no spike.
        assert!(
            detect(&conn(&diurnal[..per_day]), &cfg).is_empty(),
            "first day"
        );
    }

    /// Three weeks of traffic with 1.5 % errors: weekdays busy at midday (2,000 calls a
    /// window), weekends quiet (300). Nothing is a spike; a Saturday midday with a
    /// weekday's errors on a Saturday's traffic is, against earlier Saturdays (against
    /// every day's midday, mostly weekdays, it would look normal).
    #[test]
    fn weekly_seasonality_is_the_baseline_when_there_are_two_weeks() {
        let per_day = 288;
        let day_of = |i: usize| (i / per_day) % 7;
        let traffic = |i: usize| {
            let busy = (9..17).contains(&((i % per_day) / 12));
            match (day_of(i) >= 5, busy) {
                (false, true) => 2_000u32,
                (true, true) => 300,
                _ => 200,
            }
        };
        let n = 21 * per_day;
        let mut e: Vec<u32> = (0..n).map(|i| traffic(i) * 15 / 1000).collect();
        let ok: Vec<u32> = (0..n).map(|i| traffic(i) - e[i]).collect();
        let cfg = SpikeConfig::default();
        assert!(
            detect(&conn_with(&e, &ok), &cfg).is_empty(),
            "a normal three weeks"
        );
        let sat_noon = 19 * per_day + 12 * 12;
        for x in e.iter_mut().skip(sat_noon).take(6) {
            *x = 30;
        }
        let flags = detect(&conn_with(&e, &ok), &cfg);
        assert!(!flags.is_empty(), "a weekday's errors on a Saturday");
        assert!(flags.iter().all(|f| f.start >= T0 + sat_noon as i64 * STEP));
        // Without the weekly baseline (two days of data only), the same-hour baseline is
        // used; the weekly one needs two weeks.
        assert!(detect(&conn_with(&e[..2 * per_day], &ok[..2 * per_day]), &cfg).is_empty());
    }

    #[test]
    fn median_and_mad() {
        assert_eq!(median_mad(&[1.0, 2.0, 3.0, 4.0, 100.0]), (3.0, 1.0));
        assert_eq!(median_mad(&[]), (0.0, 0.0));
    }
}
