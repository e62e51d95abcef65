//! What the detectors read: per-dimension, per-key counts on the window grid (zero-filled,
//! so "no errors" and "no traffic" differ) and the few event subsets some detectors need
//! one by one. Built from events by `collect.rs`; hand-made in tests.

use super::auth::AuthFailures;
use super::dimension::Dimension;
use super::errlog::ErrorLog;
pub use super::event_row::{EventRow, Shared};
use super::grid::Grid;
use super::IncidentClass;

/// Counts of one key in one window.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// All events (successes included).
    pub requests: u32,
    pub errors: u32,
    pub s4xx: u32,
    pub s5xx: u32,
    pub s401: u32,
    pub s403: u32,
    pub s429: u32,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.requests += o.requests;
        self.errors += o.errors;
        self.s4xx += o.s4xx;
        self.s5xx += o.s5xx;
        self.s401 += o.s401;
        self.s403 += o.s403;
        self.s429 += o.s429;
    }
}

/// [`Counts`] in 16 bits each (14 bytes instead of 28): the tables of a long input are
/// keys x windows cells, most of them small counts. Every event adds 1 to `requests` and at
/// most 1 to the others, so `requests` is the biggest: a cell whose counts do not fit has
/// `requests` set to [`Cell::SPILLED`] and its counts kept elsewhere.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cell {
    pub(crate) requests: u16,
    pub(crate) errors: u16,
    pub(crate) s4xx: u16,
    pub(crate) s5xx: u16,
    pub(crate) s401: u16,
    pub(crate) s403: u16,
    pub(crate) s429: u16,
}

impl Cell {
    /// `requests` of a cell whose counts are kept elsewhere.
    pub(crate) const SPILLED: u16 = u16::MAX;

    pub(crate) fn widen(&self) -> Counts {
        Counts {
            requests: self.requests.into(),
            errors: self.errors.into(),
            s4xx: self.s4xx.into(),
            s5xx: self.s5xx.into(),
            s401: self.s401.into(),
            s403: self.s403.into(),
            s429: self.s429.into(),
        }
    }

    /// Adds one event's counts `c` (`requests` 1, every other count 0 or 1) when the sum
    /// fits below [`Cell::SPILLED`]; false (and no change) if not. A cell only ever gets
    /// such counts, so none of its counts exceeds its `requests`, and `requests` fitting
    /// means all of them fit: one comparison instead of seven (the collector adds an
    /// event to nine dimensions).
    #[inline]
    pub(crate) fn try_add(&mut self, c: &Counts) -> bool {
        debug_assert!(
            c.requests == 1
                && [c.errors, c.s4xx, c.s5xx, c.s401, c.s403, c.s429]
                    .iter()
                    .all(|v| *v <= 1),
            "one event's counts: {c:?}"
        );
        if u32::from(self.requests) + 1 >= u32::from(Cell::SPILLED) {
            return false;
        }
        // Each sum is at most `requests` + 1, below u16::MAX (checked above).
        self.requests += c.requests as u16;
        self.errors += c.errors as u16;
        self.s4xx += c.s4xx as u16;
        self.s5xx += c.s5xx as u16;
        self.s401 += c.s401 as u16;
        self.s403 += c.s403 as u16;
        self.s429 += c.s429 as u16;
        true
    }

    /// The cell of `c` when every count is below [`Cell::SPILLED`].
    fn narrow(c: &Counts) -> Option<Cell> {
        let n = |v: u32| u16::try_from(v).ok().filter(|v| *v < Cell::SPILLED);
        Some(Cell {
            requests: n(c.requests)?,
            errors: n(c.errors)?,
            s4xx: n(c.s4xx)?,
            s5xx: n(c.s5xx)?,
            s401: n(c.s401)?,
            s403: n(c.s403)?,
            s429: n(c.s429)?,
        })
    }
}

/// A cell's counts in a byte each (12 bytes with its bucket or key id, not 20): at a long
/// span most buckets of a key hold a handful of events.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub(crate) struct Small([u8; 7]);

impl Small {
    /// The cell in bytes, when every count fits (never a spilled cell).
    pub(crate) fn of(c: &Cell) -> Option<Small> {
        let b = |v: u16| u8::try_from(v).ok();
        if c.requests == Cell::SPILLED {
            return None;
        }
        Some(Small([
            b(c.requests)?,
            b(c.errors)?,
            b(c.s4xx)?,
            b(c.s5xx)?,
            b(c.s401)?,
            b(c.s403)?,
            b(c.s429)?,
        ]))
    }

    pub(crate) fn cell(self) -> Cell {
        let [requests, errors, s4xx, s5xx, s401, s403, s429] = self.0.map(u16::from);
        Cell {
            requests,
            errors,
            s4xx,
            s5xx,
            s401,
            s403,
            s429,
        }
    }
}

/// One key's counts per grid bucket, in 16-bit cells: the series of all keys are the
/// biggest table of a long input (a year of 5-minute windows is 105,120 buckets). A key
/// active in most buckets keeps a cell per bucket (dense); the others keep only their
/// buckets with counts (sparse, in bytes where the counts fit), so memory follows what
/// happened, not keys x span. The few cells past 16 bits keep their counts in `big`, by
/// bucket. Equality is by content.
#[derive(Debug, Clone, Default)]
pub struct Series {
    n: usize,
    rep: Rep,
    big: Vec<(usize, Counts)>,
}

#[derive(Debug, Clone)]
enum Rep {
    /// A cell per bucket.
    Dense(Vec<Cell>),
    /// The buckets with counts, sorted: in a byte per count where they fit (`small`), in
    /// 16 bits (`wide`) where not; a bucket is in one of them, a zero cell in neither.
    Sparse {
        small: Vec<(u32, Small)>,
        wide: Vec<(u32, Cell)>,
    },
}

impl Default for Rep {
    fn default() -> Rep {
        Rep::Sparse {
            small: Vec::new(),
            wide: Vec::new(),
        }
    }
}

/// The buckets with counts of a sparse series, in order (its two lists merged).
fn merged<'a>(
    small: &'a [(u32, Small)],
    wide: &'a [(u32, Cell)],
) -> impl Iterator<Item = (usize, Cell)> + 'a {
    let (mut a, mut b) = (small.iter().peekable(), wide.iter().peekable());
    std::iter::from_fn(move || match (a.peek(), b.peek()) {
        (Some(x), Some(y)) if x.0 < y.0 => a.next().map(|(i, s)| (*i as usize, s.cell())),
        (Some(_), None) => a.next().map(|(i, s)| (*i as usize, s.cell())),
        (_, Some(_)) => b.next().map(|(i, c)| (*i as usize, *c)),
        (None, None) => None,
    })
}

impl PartialEq for Series {
    fn eq(&self, other: &Series) -> bool {
        self.n == other.n && self.iter().eq(other.iter())
    }
}

impl Eq for Series {}

impl Series {
    pub fn zeros(n: usize) -> Series {
        Series {
            n,
            rep: Rep::default(),
            big: Vec::new(),
        }
    }

    /// An empty series of `n` buckets with room for `cells` buckets with counts: a cell
    /// per bucket when most will have counts (as [`Series::settle`] decides), else a list.
    pub fn with_room(n: usize, cells: usize) -> Series {
        let rep = if Series::dense_for(n, cells) {
            Rep::Dense(vec![Cell::default(); n])
        } else {
            Rep::Sparse {
                small: Vec::with_capacity(cells),
                wide: Vec::new(),
            }
        };
        Series {
            n,
            rep,
            big: Vec::new(),
        }
    }

    /// Whether `cells` buckets with counts out of `n` are kept as a cell per bucket: when
    /// most buckets have counts (past 70 %, where 14 bytes a bucket cost less than 20 a
    /// listed 16-bit cell), for the detectors' bucket-by-bucket reads.
    fn dense_for(n: usize, cells: usize) -> bool {
        cells * 20 > n * 14
    }

    pub fn len(&self) -> usize {
        self.n
    }

    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    fn cell(&self, i: usize) -> Cell {
        assert!(i < self.n, "bucket {i} of a series of {}", self.n);
        match &self.rep {
            Rep::Dense(cells) => cells[i],
            Rep::Sparse { small, wide } => {
                let i = i as u32;
                match small.binary_search_by_key(&i, |e| e.0) {
                    Ok(k) => small[k].1.cell(),
                    Err(_) => match wide.binary_search_by_key(&i, |e| e.0) {
                        Ok(k) => wide[k].1,
                        Err(_) => Cell::default(),
                    },
                }
            }
        }
    }

    /// The counts of bucket `i` (panics past the end, like indexing).
    pub fn get(&self, i: usize) -> Counts {
        self.cell_counts(i, &self.cell(i))
    }

    fn cell_counts(&self, i: usize, c: &Cell) -> Counts {
        if c.requests != Cell::SPILLED {
            return c.widen();
        }
        match self.big.binary_search_by_key(&i, |(at, _)| *at) {
            Ok(k) => self.big[k].1,
            Err(_) => unreachable!("a spilled cell has its counts in `big`"),
        }
    }

    /// The counts of every bucket, in order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = Counts> + '_> {
        match &self.rep {
            Rep::Dense(cells) => Box::new(
                cells
                    .iter()
                    .enumerate()
                    .map(|(i, c)| self.cell_counts(i, c)),
            ),
            Rep::Sparse { small, wide } => {
                let mut next = merged(small, wide).peekable();
                Box::new((0..self.n).map(move |i| match next.peek() {
                    Some((at, c)) if *at == i => {
                        let c = *c;
                        next.next();
                        self.cell_counts(i, &c)
                    }
                    _ => Counts::default(),
                }))
            }
        }
    }

    /// The buckets with counts and their counts, in order (what a sparse reader wants).
    pub fn nonzero(&self) -> Box<dyn Iterator<Item = (usize, Counts)> + '_> {
        match &self.rep {
            Rep::Dense(cells) => Box::new(
                cells
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.requests > 0)
                    .map(|(i, c)| (i, self.cell_counts(i, c))),
            ),
            Rep::Sparse { small, wide } => {
                Box::new(merged(small, wide).map(|(i, c)| (i, self.cell_counts(i, &c))))
            }
        }
    }

    fn put_cell(&mut self, i: usize, cell: Cell) {
        assert!(i < self.n, "bucket {i} of a series of {}", self.n);
        match &mut self.rep {
            Rep::Dense(cells) => cells[i] = cell,
            Rep::Sparse { small, wide } => {
                let i = i as u32;
                // Out of both lists, then into the one it fits (none when zero).
                if let Ok(k) = small.binary_search_by_key(&i, |e| e.0) {
                    small.remove(k);
                } else if let Ok(k) = wide.binary_search_by_key(&i, |e| e.0) {
                    wide.remove(k);
                }
                if cell.requests > 0 {
                    match Small::of(&cell) {
                        Some(b) => {
                            let k = small.partition_point(|e| e.0 < i);
                            small.insert(k, (i, b));
                        }
                        None => {
                            let k = wide.partition_point(|e| e.0 < i);
                            wide.insert(k, (i, cell));
                        }
                    }
                }
            }
        }
    }

    /// Sets bucket `i` (panics past the end, like indexing).
    pub fn set(&mut self, i: usize, c: Counts) {
        let found = self.big.binary_search_by_key(&i, |(at, _)| *at);
        match (Cell::narrow(&c), found) {
            (Some(cell), Ok(k)) => {
                self.big.remove(k);
                self.put_cell(i, cell);
            }
            (Some(cell), Err(_)) => self.put_cell(i, cell),
            (None, Ok(k)) => self.big[k].1 = c,
            (None, Err(k)) => {
                self.put_cell(
                    i,
                    Cell {
                        requests: Cell::SPILLED,
                        ..Cell::default()
                    },
                );
                self.big.insert(k, (i, c));
            }
        }
    }

    /// Adds `c` to bucket `i`.
    pub fn add_at(&mut self, i: usize, c: &Counts) {
        let mut sum = self.get(i);
        sum.add(c);
        self.set(i, sum);
    }

    /// Keeps a cell per bucket when most buckets have counts (cheaper than listing them),
    /// else only the buckets with counts.
    pub fn settle(&mut self) {
        let cells = match &self.rep {
            Rep::Dense(cells) => cells.iter().filter(|c| c.requests > 0).count(),
            Rep::Sparse { small, wide } => small.len() + wide.len(),
        };
        let dense = Series::dense_for(self.n, cells);
        self.rep = match std::mem::take(&mut self.rep) {
            Rep::Sparse { small, wide } if dense => {
                let mut cells = vec![Cell::default(); self.n];
                for (i, c) in merged(&small, &wide) {
                    cells[i] = c;
                }
                Rep::Dense(cells)
            }
            Rep::Dense(cells) if !dense => {
                let (mut small, mut wide) = (Vec::new(), Vec::new());
                for (i, c) in cells
                    .into_iter()
                    .enumerate()
                    .filter(|(_, c)| c.requests > 0)
                {
                    match Small::of(&c) {
                        Some(b) => small.push((i as u32, b)),
                        None => wide.push((i as u32, c)),
                    }
                }
                Rep::Sparse { small, wide }
            }
            Rep::Sparse {
                mut small,
                mut wide,
            } => {
                small.shrink_to_fit();
                wide.shrink_to_fit();
                Rep::Sparse { small, wide }
            }
            same => same,
        };
    }

    /// The same counts at `shift` buckets in, in a series of `n` buckets.
    pub fn placed(&self, shift: usize, n: usize) -> Series {
        assert!(
            shift + self.len() <= n,
            "the series fits where it is placed"
        );
        let rep = match &self.rep {
            Rep::Dense(cells) => {
                let mut out = vec![Cell::default(); n];
                out[shift..shift + cells.len()].copy_from_slice(cells);
                Rep::Dense(out)
            }
            Rep::Sparse { small, wide } => Rep::Sparse {
                small: small.iter().map(|(i, c)| (i + shift as u32, *c)).collect(),
                wide: wide.iter().map(|(i, c)| (i + shift as u32, *c)).collect(),
            },
        };
        Series {
            n,
            rep,
            big: self.big.iter().map(|(i, c)| (i + shift, *c)).collect(),
        }
    }
}

impl FromIterator<Counts> for Series {
    fn from_iter<I: IntoIterator<Item = Counts>>(iter: I) -> Series {
        let all: Vec<Counts> = iter.into_iter().collect();
        let mut out = Series::zeros(all.len());
        for (i, c) in all.into_iter().enumerate() {
            if c != Counts::default() {
                out.set(i, c);
            }
        }
        out.settle();
        out
    }
}

/// One key's counts, one entry per grid bucket.
#[derive(Debug, Clone, PartialEq)]
pub struct KeySeries {
    pub key: String,
    pub counts: Series,
}

impl KeySeries {
    pub fn total(&self) -> Counts {
        let mut t = Counts::default();
        self.counts.nonzero().for_each(|(_, c)| t.add(&c));
        t
    }

    /// The windows of `width` buckets (each ending at bucket `i`, as
    /// [`sliding_sum`](super::grid::sliding_sum) sums them) where the sum of `f` is above
    /// zero: `(i, sum of f, sum of requests, the first bucket of the window with f)`, in
    /// order, from the buckets with counts alone (a key active a few times a year costs a
    /// few windows, not 105,120).
    pub fn windows_with(&self, width: usize, f: impl Fn(&Counts) -> u32) -> Vec<SlidingWindow> {
        let n = self.counts.len();
        let cells: Vec<(usize, u64, u64)> = self
            .counts
            .nonzero()
            .map(|(i, c)| (i, u64::from(f(&c)), u64::from(c.requests)))
            .collect();
        let mut out = Vec::new();
        if width == 0 {
            return out;
        }
        let (mut hi, mut lo, mut first) = (0usize, 0usize, 0usize);
        let (mut num, mut den) = (0u64, 0u64);
        let mut next = 0usize;
        for j in (0..cells.len()).filter(|&k| cells[k].1 > 0) {
            let start = cells[j].0.max(next);
            let end = (cells[j].0 + width - 1).min(n.saturating_sub(1));
            for i in start..=end {
                while hi < cells.len() && cells[hi].0 <= i {
                    num += cells[hi].1;
                    den += cells[hi].2;
                    hi += 1;
                }
                // The window is buckets `i + 1 - width ..= i`.
                while lo < hi && cells[lo].0 + width <= i {
                    num -= cells[lo].1;
                    den -= cells[lo].2;
                    lo += 1;
                }
                while first < hi && (cells[first].0 + width <= i || cells[first].1 == 0) {
                    first += 1;
                }
                out.push(SlidingWindow {
                    end: i,
                    sum: num,
                    requests: den,
                    first: cells[first].0,
                });
            }
            next = next.max(end + 1);
        }
        out
    }

    /// The sums of `f` and of requests over the windows of `width` buckets that end at
    /// buckets `0, width, 2 width, ...` (before the end of the series), those with
    /// requests only: what [`sliding_sum`](super::grid::sliding_sum) gives there, from the
    /// buckets with counts alone.
    pub fn every_width(&self, width: usize, f: impl Fn(&Counts) -> u32) -> Vec<(u64, u64)> {
        let n = self.counts.len();
        let mut out: Vec<(usize, u64, u64)> = Vec::new();
        if width == 0 {
            return Vec::new();
        }
        for (j, c) in self.counts.nonzero() {
            // The sampled window holding bucket j ends at the next multiple of width.
            let end = j.div_ceil(width) * width;
            if end >= n {
                break;
            }
            match out.last_mut() {
                Some(last) if last.0 == end => {
                    last.1 += u64::from(f(&c));
                    last.2 += u64::from(c.requests);
                }
                _ => out.push((end, u64::from(f(&c)), u64::from(c.requests))),
            }
        }
        out.into_iter().map(|(_, x, r)| (x, r)).collect()
    }

    /// The largest sum of `f` over `width` consecutive buckets (the maximum of
    /// [`sliding_sum`](super::grid::sliding_sum) over the whole series), from the buckets
    /// with counts alone: a year of windows costs what the key's events cost.
    pub fn peak_sum(&self, width: usize, f: impl Fn(&Counts) -> u32) -> u64 {
        // The largest sum is that of a window holding counts of `f`.
        self.windows_with(width, f)
            .iter()
            .map(|w| w.sum)
            .max()
            .unwrap_or(0)
    }

    pub fn values(&self, f: impl Fn(&Counts) -> u32) -> Vec<u32> {
        self.counts.iter().map(|c| f(&c)).collect()
    }
}

/// One window of [`KeySeries::windows_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindow {
    /// The window's last bucket.
    pub end: usize,
    pub sum: u64,
    pub requests: u64,
    /// The window's first bucket with the counted metric.
    pub first: usize,
}

/// The series of every key of one dimension.
#[derive(Debug, Clone, PartialEq)]
pub struct DimTable {
    pub dimension: Dimension,
    /// One series per key, sorted by key: every key, or, for a summarised dimension, the
    /// kept (heaviest) keys.
    pub series: Vec<KeySeries>,
    /// Set when the dimension had more keys than `[rates] max_keys`.
    pub summary: Option<DimSummary>,
}

/// How a dimension with more keys than `[rates] max_keys` was summarised: its heaviest
/// keys (errors count 16 times a success) keep their series, every other key's counts are
/// one series, [`OTHER_KEY`]. Memory and output follow `max_keys`, not the number of keys.
#[derive(Debug, Clone, PartialEq)]
pub struct DimSummary {
    /// The most keys kept.
    pub max_keys: usize,
    /// Keys seen while not tracked (a key dropped and seen again counts again), plus the
    /// keys the dimension had when it was summarised: about its number of distinct keys.
    pub keys_seen: u64,
    /// The counts of every key not kept (key [`OTHER_KEY`]); detectors never see it.
    pub other: KeySeries,
}

/// The key of a summarised dimension's folded counts in the rate tables.
pub const OTHER_KEY: &str = "(other)";

impl DimTable {
    /// The series the rate tables show: every kept key, then `(other)` when summarised.
    pub fn rate_series(&self) -> impl Iterator<Item = &KeySeries> {
        self.series
            .iter()
            .chain(self.summary.as_ref().map(|s| &s.other))
    }
}

/// A 401 (`success: false`) or a success of one integration, for the reauthorization
/// detector: 24 bytes, as there is one for each 401 of a flaky connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The integration's key: its connection, or for records that name no connection its
    /// account or tenant (`organization_id`, [`Outcome::by_organization`]).
    pub connection_id: Shared,
    pub ts: i64,
    pub success: bool,
    /// The key is an organisation's (records without a connection).
    pub by_organization: bool,
}

/// First sighting and volume of an error code.
#[derive(Debug, Clone, PartialEq)]
pub struct CodeSighting {
    pub code: String,
    pub class: String,
    pub first_ts: i64,
    pub events: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tables {
    pub grid: Grid,
    /// Whether the export logs successes too (error ratios need a denominator).
    pub has_successes: bool,
    pub dims: Vec<DimTable>,
    /// The 401s and 403s, in time order (ties in input order): what the detectors that
    /// follow individual events read (credential stuffing, probing, reauthorization).
    /// `analyze_events` empties it (and `connection_outcomes`) once they ran.
    pub auth_failures: AuthFailures,
    /// Every error event (the detail behind the counts), read one by one to measure
    /// incidents; spilled to disk when collected.
    pub error_log: ErrorLog,
    /// 401s and successes of connections with repeated 401s, by connection then time.
    pub connection_outcomes: Vec<Outcome>,
    pub codes: Vec<CodeSighting>,
    pub min_ts: i64,
    pub max_ts: i64,
    /// The first grid bucket of this run's own events: buckets before it are the baseline
    /// carried over from earlier runs (`--state`), seen by the detectors, never reported.
    pub report_from: usize,
}

impl Tables {
    /// The key that identifies an integration: the connection, or where no record names
    /// one, the account or tenant (`organization_id`: a unified API's `accountId`, seed
    /// 001). The detectors configured on `connection_id` run on it.
    pub fn integration(&self, dimension: Dimension) -> Dimension {
        let connections = self
            .dim(Dimension::ConnectionId)
            .is_some_and(|d| !d.series.is_empty());
        if dimension == Dimension::ConnectionId && !connections {
            Dimension::OrganizationId
        } else {
            dimension
        }
    }

    pub fn dim(&self, dimension: Dimension) -> Option<&DimTable> {
        self.dims.iter().find(|d| d.dimension == dimension)
    }

    /// The class of an error code's events (`security`, `critical`, else `warning`).
    pub fn code_class(&self, code: &str) -> Option<IncidentClass> {
        self.codes
            .iter()
            .find(|c| c.code == code)
            .map(|c| IncidentClass::of_event_class(&c.class))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(requests: u32, errors: u32) -> Counts {
        Counts {
            requests,
            errors,
            s4xx: errors,
            ..Counts::default()
        }
    }

    /// Counts past 16 bits read back whole, wherever they are set, added or moved, and
    /// a cell that shrinks back under 16 bits leaves `big` (so equal content is equal).
    /// A series of `n` buckets, one in `density` with counts (up to `most.0` requests,
    /// fewer than `most.1` errors), from `seed`.
    fn random_series(mut seed: u64, density: u32, n: usize, most: (u32, u32)) -> KeySeries {
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        KeySeries {
            key: "k".into(),
            counts: (0..n)
                .map(|_| match next() % density {
                    0 => {
                        let r = next() % most.0 + 1;
                        counts(r, (next() % most.1).min(r))
                    }
                    _ => Counts::default(),
                })
                .collect(),
        }
    }

    /// The peak of the sliding sums from the buckets with counts alone is the peak of
    /// the sliding sums over every bucket (dense and sparse series, any width).
    #[test]
    fn peak_sum_is_the_peak_of_the_sliding_sums() {
        for density in [2u32, 10, 200] {
            let s = random_series(7 + u64::from(density), density, 3000, (50, 20));
            for width in [0usize, 1, 2, 12, 288, 5000] {
                let want = crate::analyze::grid::sliding_sum(&s.values(|c| c.errors), width)
                    .into_iter()
                    .max()
                    .unwrap_or(0);
                assert_eq!(
                    s.peak_sum(width, |c| c.errors),
                    want,
                    "1/{density}, {width}"
                );
            }
        }
    }

    /// The windows with a metric and the sampled windows, from the buckets with counts
    /// alone, are what the sliding sums over every bucket give (the threshold detector's
    /// reading of a key), for any density and width.
    #[test]
    fn sparse_windows_are_the_sliding_sums() {
        use crate::analyze::grid::sliding_sum;
        for density in [1u32, 3, 40, 500] {
            let s = random_series(11 + u64::from(density), density, 2000, (30, 3));
            for width in [0usize, 1, 2, 6, 12, 288, 3000] {
                let num = sliding_sum(&s.values(|c| c.errors), width);
                let den = sliding_sum(&s.values(|c| c.requests), width);
                let errors = s.values(|c| c.errors);
                let want: Vec<SlidingWindow> = (0..num.len())
                    .filter(|&i| num[i] > 0)
                    .map(|i| SlidingWindow {
                        end: i,
                        sum: num[i],
                        requests: den[i],
                        first: ((i + 1).saturating_sub(width)..=i)
                            .find(|&j| errors[j] > 0)
                            .unwrap_or(i),
                    })
                    .collect();
                assert_eq!(
                    s.windows_with(width, |c| c.errors),
                    want,
                    "1/{density} w {width}"
                );
                let sampled: Vec<(u64, u64)> = if width == 0 {
                    Vec::new()
                } else {
                    (0..num.len())
                        .step_by(width)
                        .filter(|&i| den[i] > 0)
                        .map(|i| (num[i], den[i]))
                        .collect()
                };
                assert_eq!(
                    s.every_width(width, |c| c.errors),
                    sampled,
                    "1/{density} w {width}"
                );
            }
        }
    }

    #[test]
    fn series_hold_counts_past_16_bits() {
        let want: Vec<Counts> = (0..50u32)
            .map(|i| match i % 7 {
                0 => counts(70_000 + i, 65_535),
                3 => counts(65_534, 3),
                5 => counts(65_535, 0),
                _ => counts(i, i / 2),
            })
            .collect();
        let s: Series = want.iter().copied().collect();
        assert_eq!(s.len(), 50);
        assert_eq!(s.iter().collect::<Vec<_>>(), want);
        assert!((0..50).all(|i| s.get(i) == want[i]));

        let mut grown = Series::zeros(50);
        for (i, c) in want.iter().enumerate().rev() {
            grown.add_at(i, &counts(1, 0));
            grown.add_at(
                i,
                &Counts {
                    requests: c.requests - 1,
                    ..*c
                },
            );
        }
        assert_eq!(grown, s);

        let placed = s.placed(7, 60);
        assert_eq!(placed.len(), 60);
        assert!((0..7).all(|i| placed.get(i) == Counts::default()));
        assert!((0..50).all(|i| placed.get(i + 7) == want[i]));

        let mut shrunk = s.clone();
        for i in 0..50 {
            shrunk.set(i, counts(1, 1));
        }
        assert_eq!(shrunk, (0..50).map(|_| counts(1, 1)).collect::<Series>());
        assert!(shrunk.big.is_empty());
    }
}
