//! Event-time windows: a fixed grid of tumbling buckets anchored at the epoch, so windows
//! follow the log timestamps (never the wall clock) and a rerun gives the same windows.

/// Microseconds per minute.
pub const MINUTE_US: i64 = 60_000_000;

/// The buckets covering the data: `n` buckets of `step_us` from `start_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grid {
    pub start_us: i64,
    pub step_us: i64,
    pub n: usize,
}

/// The start of the bucket holding `ts` (floor, also for times before the epoch).
pub fn bucket_start(ts_us: i64, step_us: i64) -> i64 {
    ts_us.div_euclid(step_us) * step_us
}

impl Grid {
    /// The grid spanning `[min_ts, max_ts]`.
    pub fn spanning(min_ts: i64, max_ts: i64, step_us: i64) -> Grid {
        let start_us = bucket_start(min_ts, step_us);
        let last = bucket_start(max_ts.max(min_ts), step_us);
        Grid {
            start_us,
            step_us,
            n: ((last - start_us) / step_us) as usize + 1,
        }
    }

    pub fn index(&self, ts_us: i64) -> Option<usize> {
        let i = (ts_us - self.start_us).div_euclid(self.step_us);
        (0..self.n as i64).contains(&i).then_some(i as usize)
    }

    pub fn start_of(&self, i: usize) -> i64 {
        self.start_us + i as i64 * self.step_us
    }

    pub fn end_of(&self, i: usize) -> i64 {
        self.start_of(i) + self.step_us
    }

    /// How many buckets make `span_us` (at least one).
    pub fn buckets_in(&self, span_us: i64) -> usize {
        ((span_us + self.step_us - 1) / self.step_us).max(1) as usize
    }
}

/// Sum over the `width` buckets ending at each index (a sliding window every bucket).
pub fn sliding_sum(values: &[u32], width: usize) -> Vec<u64> {
    let mut out = Vec::with_capacity(values.len());
    let mut acc: u64 = 0;
    for (i, v) in values.iter().enumerate() {
        acc += u64::from(*v);
        if i >= width {
            acc -= u64::from(values[i - width]);
        }
        out.push(acc);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_follow_event_time() {
        let step = 5 * MINUTE_US;
        assert_eq!(bucket_start(7 * MINUTE_US + 3, step), 5 * MINUTE_US);
        assert_eq!(bucket_start(-1, step), -step);
        let g = Grid::spanning(7 * MINUTE_US, 21 * MINUTE_US, step);
        assert_eq!(
            g,
            Grid {
                start_us: 5 * MINUTE_US,
                step_us: step,
                n: 4
            }
        );
        assert_eq!(g.index(20 * MINUTE_US), Some(3));
        assert_eq!(g.index(25 * MINUTE_US), None);
        assert_eq!(g.end_of(0), 10 * MINUTE_US);
        assert_eq!(g.buckets_in(60 * MINUTE_US), 12);
        assert_eq!(g.buckets_in(MINUTE_US), 1);
    }

    #[test]
    fn sliding_sums() {
        assert_eq!(sliding_sum(&[1, 2, 3, 4], 2), vec![1, 3, 5, 7]);
        assert_eq!(sliding_sum(&[], 3), Vec::<u64>::new());
    }
}
