//! The baseline an incremental run (`--state`) carries over: the per-window counts of the
//! last days of earlier runs, per dimension and key, and the error codes already seen. A
//! nightly run on a growing folder reads only the new files, yet its detectors (spike's
//! median of past windows, new_code's "never seen before") judge against what was normal.

use serde::{Deserialize, Serialize};

use super::grid::{Grid, MINUTE_US};
use super::tables::{CodeSighting, Counts, KeySeries, Series, Tables};

/// At most this many keys per dimension are carried (the busiest by requests).
pub const MAX_KEYS: usize = 5000;

/// One key's non-empty windows: `[window index, requests, errors, 4xx, 5xx, 401, 403, 429]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredKey {
    pub key: String,
    pub windows: Vec<[u64; 8]>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredDim {
    pub dimension: String,
    pub keys: Vec<StoredKey>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredCode {
    pub code: String,
    pub class: String,
    pub first_ts: i64,
    pub events: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Window length in µs; a baseline of another window length is not used.
    pub step_us: i64,
    /// Start of window 0.
    pub start_us: i64,
    pub windows: usize,
    /// The earliest and latest event time seen by earlier runs.
    pub min_ts: i64,
    pub max_ts: i64,
    pub has_successes: bool,
    pub dims: Vec<StoredDim>,
    pub codes: Vec<StoredCode>,
}

fn to_row(i: usize, c: &Counts) -> [u64; 8] {
    [
        i as u64,
        c.requests.into(),
        c.errors.into(),
        c.s4xx.into(),
        c.s5xx.into(),
        c.s401.into(),
        c.s403.into(),
        c.s429.into(),
    ]
}

fn from_row(r: &[u64; 8]) -> Counts {
    let v = |x: u64| u32::try_from(x).unwrap_or(u32::MAX);
    Counts {
        requests: v(r[1]),
        errors: v(r[2]),
        s4xx: v(r[3]),
        s5xx: v(r[4]),
        s401: v(r[5]),
        s403: v(r[6]),
        s429: v(r[7]),
    }
}

impl Baseline {
    /// The last `keep_days` of `t` (baseline windows and this run's), for the next run.
    pub fn from_tables(t: &Tables, keep_days: u32) -> Baseline {
        let g = &t.grid;
        let keep = g.buckets_in(i64::from(keep_days) * 1440 * MINUTE_US);
        let first = g.n.saturating_sub(keep);
        let dims = t
            .dims
            .iter()
            .map(|d| {
                let mut keys: Vec<(u64, StoredKey)> = d
                    .series
                    .iter()
                    .filter_map(|s| {
                        let windows: Vec<[u64; 8]> = s
                            .counts
                            .iter()
                            .skip(first)
                            .enumerate()
                            .filter(|(_, c)| c.requests > 0)
                            .map(|(i, c)| to_row(i, &c))
                            .collect();
                        let volume = windows.iter().map(|w| w[1]).sum::<u64>();
                        (volume > 0).then(|| {
                            (
                                volume,
                                StoredKey {
                                    key: s.key.clone(),
                                    windows,
                                },
                            )
                        })
                    })
                    .collect();
                keys.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.key.cmp(&b.1.key)));
                keys.truncate(MAX_KEYS);
                let mut keys: Vec<StoredKey> = keys.into_iter().map(|k| k.1).collect();
                keys.sort_by(|a, b| a.key.cmp(&b.key));
                StoredDim {
                    dimension: d.dimension.to_string(),
                    keys,
                }
            })
            .collect();
        Baseline {
            step_us: g.step_us,
            start_us: g.start_of(first),
            windows: g.n - first,
            min_ts: t.min_ts.max(g.start_of(first)),
            max_ts: t.max_ts,
            has_successes: t.has_successes,
            dims,
            codes: t
                .codes
                .iter()
                .map(|c| StoredCode {
                    code: c.code.clone(),
                    class: c.class.clone(),
                    first_ts: c.first_ts,
                    events: c.events,
                })
                .collect(),
        }
    }

    /// Adds the baseline's windows to `t`: the grid grows to cover both, the stored counts
    /// are added to their keys' series, and `t.report_from` marks this run's first window.
    /// Returns false (and leaves `t` alone) when the window length differs.
    pub fn extend(&self, t: &mut Tables) -> bool {
        if self.step_us != t.grid.step_us || self.windows == 0 {
            return false;
        }
        let step = self.step_us;
        let start = self.start_us.min(t.grid.start_us);
        let end = (self.start_us + self.windows as i64 * step).max(t.grid.end_of(t.grid.n - 1));
        let grid = Grid {
            start_us: start,
            step_us: step,
            n: ((end - start) / step) as usize,
        };
        let shift = ((t.grid.start_us - start) / step) as usize;
        for d in &mut t.dims {
            for s in &mut d.series {
                s.counts = s.counts.placed(shift, grid.n);
            }
            if let Some(sm) = &mut d.summary {
                sm.other.counts = sm.other.counts.placed(shift, grid.n);
            }
        }
        let base_shift = ((self.start_us - start) / step) as usize;
        for sd in &self.dims {
            let Some(d) = t
                .dims
                .iter_mut()
                .find(|d| d.dimension.as_str() == sd.dimension)
            else {
                continue;
            };
            for sk in &sd.keys {
                let series = match d.series.binary_search_by(|s| s.key.as_str().cmp(&sk.key)) {
                    Ok(i) => &mut d.series[i],
                    Err(i) => {
                        d.series.insert(
                            i,
                            KeySeries {
                                key: sk.key.clone(),
                                counts: Series::zeros(grid.n),
                            },
                        );
                        &mut d.series[i]
                    }
                };
                for w in &sk.windows {
                    let at = base_shift + w[0] as usize;
                    if at < series.counts.len() {
                        series.counts.add_at(at, &from_row(w));
                    }
                }
            }
        }
        for c in &self.codes {
            match t.codes.iter_mut().find(|x| x.code == c.code) {
                Some(x) => {
                    x.first_ts = x.first_ts.min(c.first_ts);
                    x.events += c.events;
                }
                None => t.codes.push(CodeSighting {
                    code: c.code.clone(),
                    class: c.class.clone(),
                    first_ts: c.first_ts,
                    events: c.events,
                }),
            }
        }
        t.codes.sort_by(|a, b| a.code.cmp(&b.code));
        t.grid = grid;
        t.report_from = shift;
        t.min_ts = t.min_ts.min(self.min_ts);
        t.has_successes |= self.has_successes;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::detect::testing::*;
    use crate::analyze::tables::DimTable;

    fn empty_dim(dimension: Dimension) -> DimTable {
        DimTable {
            dimension,
            series: Vec::new(),
            summary: None,
        }
    }

    fn series(key: &str, errors: &[u32]) -> KeySeries {
        KeySeries {
            key: key.into(),
            counts: errors
                .iter()
                .map(|e| Counts {
                    requests: *e,
                    errors: *e,
                    ..Default::default()
                })
                .collect(),
        }
    }

    #[test]
    fn yesterday_becomes_the_history_of_today() {
        // Yesterday: 4 windows of c1; today: 3 windows of c1 and a new key c2, 2 windows later.
        let mut yesterday = tables(
            4,
            vec![DimTable {
                dimension: Dimension::ConnectionId,
                series: vec![series("c1", &[1, 0, 2, 3])],
                summary: None,
            }],
        );
        yesterday.codes.push(CodeSighting {
            code: "E1".into(),
            class: "warning".into(),
            first_ts: T0,
            events: 6,
        });
        let b = Baseline::from_tables(&yesterday, 7);
        assert_eq!(
            b.dims[0].keys[0].windows.len(),
            3,
            "empty windows are not stored"
        );
        let json = serde_json::to_string(&b).unwrap();
        let b: Baseline = serde_json::from_str(&json).unwrap();

        let mut today = tables(
            3,
            vec![DimTable {
                dimension: Dimension::ConnectionId,
                series: vec![series("c1", &[5, 5, 5]), series("c2", &[1, 1, 1])],
                summary: None,
            }],
        );
        today.grid.start_us = T0 + 6 * STEP;
        today.min_ts = T0 + 6 * STEP;
        assert!(b.extend(&mut today));
        assert_eq!(today.grid.start_us, T0);
        assert_eq!(today.grid.n, 9);
        assert_eq!(today.report_from, 6);
        let c1 = today.dims[0].series[0].values(|c| c.errors);
        assert_eq!(c1, vec![1, 0, 2, 3, 0, 0, 5, 5, 5]);
        let c2 = today.dims[0].series[1].values(|c| c.errors);
        assert_eq!(c2, vec![0, 0, 0, 0, 0, 0, 1, 1, 1]);
        assert_eq!(today.min_ts, T0);
        assert_eq!(today.codes[0].first_ts, T0, "codes seen before are not new");
    }

    #[test]
    fn a_baseline_of_another_window_length_is_ignored() {
        let t = tables(2, vec![empty_dim(Dimension::ConnectionId)]);
        let mut b = Baseline::from_tables(&t, 7);
        b.step_us *= 2;
        let mut today = tables(2, vec![empty_dim(Dimension::ConnectionId)]);
        assert!(!b.extend(&mut today));
        assert_eq!(today.report_from, 0);
    }
}
