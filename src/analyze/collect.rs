//! Events -> [`Tables`] in one pass: every batch of events is folded into per-dimension,
//! per-key window counts as it goes by; its error events go to a temporary file
//! ([`Spill`]), from which the 401s and 403s are read back after ingest, as 32-byte rows
//! ([`super::auth`]), for the detectors that follow them. During `analyze` on raw logs
//! ingest feeds it each decoded batch in
//! input order (one collector, on the thread that writes the events), so the events are
//! never read back; an events dataset is streamed through it from its Parquet files.
//!
//! Memory follows keys x windows and the 401s and 403s, never the traffic: successes are
//! only counted, other errors spilled.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context as _;
use arrow_array::cast::AsArray;
use arrow_array::types::{Int16Type, TimestampMicrosecondType};
use arrow_array::{Array, PrimitiveArray, RecordBatch, StringViewArray};
use arrow_schema::DataType;
use foldhash::fast::RandomState;

use super::auth::{self, AuthFailures};
use super::errlog::Spill;
use super::grid::Grid;
use super::outcomes::{for_each_batch, ReauthStream};
use super::tables::{
    Cell, CodeSighting, Counts, DimSummary, DimTable, KeySeries, Series, Tables, OTHER_KEY,
};
use super::{TimeBounds, DIMENSIONS};

/// The columns the collector reads (a dataset is scanned for these only).
pub const COLUMNS: [&str; 11] = [
    "ts",
    "status",
    "error_code",
    "category",
    "class",
    "connection_id",
    "organization_id",
    "user_id",
    "ip_address",
    "endpoint",
    "request_id",
];

/// A string column as a view array (ingest writes views; other layouts are converted once).
struct Text(Option<StringViewArray>);

impl Text {
    fn of(batch: &RecordBatch, name: &str) -> Text {
        let Some(c) = batch.column_by_name(name) else {
            return Text(None);
        };
        if let Some(v) = c.as_string_view_opt() {
            return Text(Some(v.clone()));
        }
        Text(match c.data_type() {
            DataType::Utf8 => Some(c.as_string::<i32>().iter().collect()),
            DataType::LargeUtf8 => Some(c.as_string::<i64>().iter().collect()),
            _ => None,
        })
    }

    #[inline]
    fn get(&self, i: usize) -> Option<&str> {
        let a = self.0.as_ref()?;
        (!a.is_null(i)).then(|| a.value(i))
    }

    /// The value and its view: a view of at most 12 bytes holds the whole string, zero
    /// padded (Arrow validates the padding), so it is the string's own 128-bit key.
    #[inline]
    fn get_view(&self, i: usize) -> Option<(&str, u128)> {
        let a = self.0.as_ref()?;
        (!a.is_null(i)).then(|| (a.value(i), a.views()[i]))
    }
}

/// Where a dimension's key comes from.
enum Key {
    All,
    StatusClass,
    Column(Text),
}

/// One dimension: keys, and their counts window by window (window-major: input in time
/// order touches one window's slab of counts at a time, which stays in cache; key-major
/// series made every row a cache miss on high-cardinality keys such as IP addresses).
#[derive(Default)]
struct Dim {
    ids: HashMap<Box<str>, u32, RandomState>,
    /// Keys of at most 12 bytes by their Arrow view (one integer to hash and compare).
    short: HashMap<u128, u32, RandomState>,
    keys: Vec<Box<str>>,
    /// The id of the last longer key looked up (it often repeats row after row).
    last: Option<u32>,
    /// The last short key's view and id (`success`, no class, no code: most rows).
    last_view: Option<(u128, u32)>,
    /// Ids of the fixed keys of `all` and `status_class` ([`Dim::add_fixed`]).
    fixed: [Option<u32>; 8],
    /// Window number of `slabs[0]`.
    first: i64,
    /// Per window, counts by key id (a slab may be shorter than `keys`), in 16 bits: the
    /// tables of a long input are keys x windows cells, most of them small counts.
    slabs: Vec<Vec<Cell>>,
    /// The cells whose count went past 16 bits (by window number and key id), in full.
    overflow: HashMap<(i64, u32), Counts, RandomState>,
    /// The most keys reported (`[rates] max_keys`; 0: no limit). Up to a quarter more are
    /// tracked one by one; past that the dimension is summarised ([`Summary`]).
    max_keys: usize,
    summary: Option<Box<Summary>>,
}

/// A dimension with more keys than its limit: key ids become slots, reused as keys come
/// and go (Space-Saving, Metwally et al. 2005, pruned a quarter at a time). A new key takes
/// a free slot; when none is free, the lightest quarter of the keys are dropped, their
/// counts folded into `other`. So memory is windows x 1.25 `max_keys` cells, whatever the
/// number of keys (one-off client IPs cost one cell each while they are tracked), and a
/// key heavier than the weight dropped before it came (`floor`) is never dropped.
struct Summary {
    /// Per slot: 16 per error, 1 per success, plus `floor` at admission.
    weight: Vec<u64>,
    /// Per slot: `floor` when its key was taken in (its own weight is `weight - base`).
    base: Vec<u64>,
    /// Per slot: the first and last window with counts since its key was admitted (the
    /// cells to fold and clear when it is dropped).
    span: Vec<(i64, i64)>,
    free: Vec<u32>,
    /// The heaviest weight dropped so far: a key admitted later starts there.
    floor: u64,
    /// Per window number, the counts of the keys dropped and of the events of keys not
    /// tracked (`open` holds the window being added to).
    other: std::collections::BTreeMap<i64, Counts>,
    open: Option<(i64, Counts)>,
    /// The doorkeeper (TinyLFU's): a fingerprint per hash bucket of the last untracked key
    /// seen there. A key is taken in at its second sighting, so the flood of one-off keys
    /// (client IPs seen once) costs a hash and a store each, not an admission.
    door: Vec<u32>,
    /// A bit per hash bucket of the keys tracked (1,024 words): a key whose bit is clear is
    /// surely not tracked, so the flood of one-off keys skips the key maps (one hash, then
    /// the doorkeeper). Set as keys are taken in, rebuilt when keys are dropped.
    tracked: Vec<u64>,
    /// Untracked keys seen (a key dropped and seen again counts again), plus the keys the
    /// dimension had when it was summarised: about the number of distinct keys.
    seen: u64,
}

/// The id of an event's key when its key is not tracked (its counts go to `other`).
const UNTRACKED: u32 = u32::MAX;

/// Buckets of [`Summary::door`] (256 KiB).
const DOOR_BUCKETS: usize = 1 << 16;

/// The hash of a key for the doorkeeper and the tracked-key bits (fixed: reruns drop and
/// keep the same keys).
fn key_hash(key: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x6572_7273).hash_one(key)
}

/// Words of [`Summary::tracked`].
const TRACKED_WORDS: usize = 1024;

impl Summary {
    fn tracked_bit(h: u64) -> (usize, u64) {
        let b = (h >> 40) as usize % (TRACKED_WORDS * 64);
        (b / 64, 1u64 << (b % 64))
    }

    fn maybe_tracked(&self, h: u64) -> bool {
        let (w, bit) = Summary::tracked_bit(h);
        self.tracked[w] & bit != 0
    }

    fn mark_tracked(&mut self, h: u64) {
        let (w, bit) = Summary::tracked_bit(h);
        self.tracked[w] |= bit;
    }

    /// Whether the key of hash `h`, not tracked, was seen lately (then it is taken in);
    /// else remembers it.
    fn second_sighting(&mut self, h: u64) -> bool {
        let bucket = (h as usize) & (DOOR_BUCKETS - 1);
        let print = ((h >> 32) as u32) | 1;
        if self.door[bucket] == print {
            self.door[bucket] = 0;
            return true;
        }
        self.door[bucket] = print;
        self.seen += 1;
        false
    }

    /// Adds an untracked key's event to `other`.
    fn add_other(&mut self, window: i64, c: &Counts) {
        match &mut self.open {
            Some((w, acc)) if *w == window => acc.add(c),
            open => {
                if let Some((w, acc)) = open.take() {
                    self.other.entry(w).or_default().add(&acc);
                }
                *open = Some((window, *c));
            }
        }
    }

    /// `other`, with the window being added to.
    fn flush_other(&mut self) {
        if let Some((w, acc)) = self.open.take() {
            self.other.entry(w).or_default().add(&acc);
        }
    }

    #[inline]
    fn note(&mut self, id: u32, window: i64, c: &Counts) {
        let i = id as usize;
        self.weight[i] += u64::from(c.requests) + 15 * u64::from(c.errors);
        let span = &mut self.span[i];
        span.0 = span.0.min(window);
        span.1 = span.1.max(window);
    }
}

impl Dim {
    #[inline]
    fn id(&mut self, key: &str) -> u32 {
        if let Some(id) = self.last {
            if self.keys[id as usize].as_ref() == key {
                return id;
            }
        }
        if let Some(s) = self.summary.as_deref_mut() {
            let h = key_hash(key);
            if !s.maybe_tracked(h) {
                // Surely not tracked: straight to the doorkeeper.
                return if s.second_sighting(h) {
                    self.take_in(key, h)
                } else {
                    UNTRACKED
                };
            }
        }
        let id = match self.ids.get(key) {
            Some(&id) => id,
            None => self.admit(key),
        };
        if id != UNTRACKED {
            self.last = Some(id);
        }
        id
    }

    fn with_max_keys(max_keys: usize) -> Dim {
        Dim {
            max_keys,
            ..Dim::default()
        }
    }

    /// A new key's id: the next one, or, once the dimension is summarised, a free slot.
    fn admit(&mut self, key: &str) -> u32 {
        let capacity = self.max_keys + self.max_keys / 4;
        if self.summary.is_none() && (self.max_keys == 0 || self.keys.len() < capacity) {
            let id = self.keys.len() as u32;
            self.ids.insert(key.into(), id);
            self.keys.push(key.into());
            return id;
        }
        if self.summary.is_none() {
            self.summarise();
        }
        let h = key_hash(key);
        if !self
            .summary
            .as_mut()
            .expect("summarised")
            .second_sighting(h)
        {
            return UNTRACKED;
        }
        self.take_in(key, h)
    }

    /// Tracks a key of a summarised dimension (of hash `h`) in a free slot, making room
    /// first when there is none.
    fn take_in(&mut self, key: &str, h: u64) -> u32 {
        if self.summary.as_ref().is_some_and(|s| s.free.is_empty()) {
            self.prune();
        }
        let s = self.summary.as_mut().expect("summarised");
        let slot = s.free.pop().expect("a pruned summary has free slots");
        s.weight[slot as usize] = s.floor;
        s.base[slot as usize] = s.floor;
        s.span[slot as usize] = (i64::MAX, i64::MIN);
        s.mark_tracked(h);
        self.keys[slot as usize] = key.into();
        self.ids.insert(key.into(), slot);
        slot
    }

    /// Turns the dimension into a summary: each key's weight and span from its cells.
    #[cold]
    fn summarise(&mut self) {
        let n = self.keys.len();
        let mut weight = vec![0u64; n];
        let mut span = vec![(i64::MAX, i64::MIN); n];
        for (w, slab) in self.slabs.iter().enumerate() {
            let window = self.first + w as i64;
            for (id, cell) in slab.iter().enumerate() {
                let c = if cell.requests == Cell::SPILLED {
                    self.overflow[&(window, id as u32)]
                } else {
                    cell.widen()
                };
                if c.requests > 0 {
                    weight[id] += u64::from(c.requests) + 15 * u64::from(c.errors);
                    span[id] = (span[id].0.min(window), span[id].1.max(window));
                }
            }
        }
        self.summary = Some(Box::new(Summary {
            weight,
            base: vec![0; n],
            span,
            free: Vec::new(),
            floor: 0,
            other: Default::default(),
            open: None,
            door: vec![0; DOOR_BUCKETS],
            tracked: {
                let mut bits = vec![0u64; TRACKED_WORDS];
                for k in &self.keys {
                    let (w, bit) = Summary::tracked_bit(key_hash(k));
                    bits[w] |= bit;
                }
                bits
            },
            seen: n as u64,
        }));
    }

    /// Drops the lightest keys past `max_keys` (every live slot beyond the `keep`
    /// heaviest), folding their counts into `other`; their slots become free. Ties go by
    /// slot, which the input order decides, so reruns drop the same keys.
    /// The slots of a summarised dimension that hold a key.
    fn live_slots(&self, s: &Summary) -> Vec<u32> {
        let mut is_free = vec![false; self.keys.len()];
        for &id in &s.free {
            is_free[id as usize] = true;
        }
        (0..self.keys.len() as u32)
            .filter(|id| !is_free[*id as usize])
            .collect()
    }

    fn drop_lightest(&mut self, keep: usize) {
        let Some(s) = self.summary.as_deref() else {
            return;
        };
        let mut live = self.live_slots(s);
        if live.len() <= keep {
            return;
        }
        if keep > 0 {
            let w = &s.weight;
            live.select_nth_unstable_by(keep - 1, |&a, &b| {
                w[b as usize].cmp(&w[a as usize]).then(a.cmp(&b))
            });
        }
        let dropped = live.split_off(keep);
        self.drop_slots(&dropped);
    }

    /// Drops the keys of a summarised dimension whose own weight (what they gathered
    /// since they were taken in) is no more than the heaviest weight dropped: they are
    /// not told apart from the keys in `(other)` (one-off client IPs), so they join them.
    fn drop_indistinct(&mut self) {
        let Some(s) = self.summary.as_deref() else {
            return;
        };
        let light: Vec<u32> = self
            .live_slots(s)
            .into_iter()
            .filter(|&id| s.weight[id as usize] - s.base[id as usize] <= s.floor)
            .collect();
        self.drop_slots(&light);
    }

    /// Folds the counts of `dropped` slots into `other` and frees them.
    fn drop_slots(&mut self, dropped: &[u32]) {
        let Some(mut s) = self.summary.take() else {
            return;
        };
        let mut is_dropped = vec![false; self.keys.len()];
        for &id in dropped {
            is_dropped[id as usize] = true;
            s.floor = s.floor.max(s.weight[id as usize]);
            let (lo, hi) = s.span[id as usize];
            for window in lo..=hi {
                let Some(slab) = self.slabs.get_mut((window - self.first) as usize) else {
                    continue;
                };
                let Some(cell) = slab.get_mut(id as usize) else {
                    continue;
                };
                let c = if cell.requests == Cell::SPILLED {
                    self.overflow
                        .remove(&(window, id))
                        .expect("a spilled cell has its counts in the overflow map")
                } else {
                    cell.widen()
                };
                *cell = Cell::default();
                if c.requests > 0 {
                    s.other.entry(window).or_default().add(&c);
                }
            }
            s.weight[id as usize] = 0;
            s.base[id as usize] = 0;
            s.span[id as usize] = (i64::MAX, i64::MIN);
        }
        if !dropped.is_empty() {
            s.tracked.iter_mut().for_each(|w| *w = 0);
            for (&_, &id) in self.ids.iter() {
                if !is_dropped[id as usize] {
                    s.mark_tracked(key_hash(&self.keys[id as usize]));
                }
            }
            self.ids.retain(|_, id| !is_dropped[*id as usize]);
            self.short.retain(|_, id| !is_dropped[*id as usize]);
            self.last = None;
            self.last_view = None;
            self.fixed = [None; 8];
        }
        s.free.extend(dropped.iter().rev());
        self.summary = Some(s);
    }

    /// Makes room for new keys: keeps the `max_keys` heaviest.
    fn prune(&mut self) {
        self.drop_lightest(self.max_keys);
    }

    #[inline]
    fn id_of_view(&mut self, key: &str, view: u128) -> u32 {
        if key.len() > 12 {
            return self.id(key);
        }
        if let Some((v, id)) = self.last_view {
            if v == view {
                return id;
            }
        }
        let id = match self.short.get(&view) {
            Some(&id) => id,
            None => {
                let id = self.id(key);
                if id == UNTRACKED {
                    return id;
                }
                self.short.insert(view, id);
                id
            }
        };
        self.last_view = Some((view, id));
        id
    }

    /// Adds `c` under one of a few fixed keys, `slot` naming it among them (no lookup
    /// after the first time).
    #[inline]
    fn add_fixed(
        &mut self,
        slot: usize,
        key: impl FnOnce() -> std::borrow::Cow<'static, str>,
        window: i64,
        c: &Counts,
    ) {
        let id = match self.fixed[slot] {
            Some(id) => id,
            None => {
                let id = self.id(&key());
                if id != UNTRACKED {
                    self.fixed[slot] = Some(id);
                }
                id
            }
        };
        self.add_id(id, window, c);
    }

    #[inline]
    fn add(&mut self, key: &str, window: i64, c: &Counts) {
        let id = self.id(key);
        self.add_id(id, window, c);
    }

    /// Adds `c` to the key's count of `window`; returns the key's id ([`UNTRACKED`] for a
    /// key of a summarised dimension not tracked).
    #[inline]
    fn add_view(&mut self, key: &str, view: u128, window: i64, c: &Counts) -> u32 {
        let id = self.id_of_view(key, view);
        self.add_id(id, window, c);
        id
    }

    #[inline]
    fn add_id(&mut self, id: u32, window: i64, c: &Counts) {
        if let Some(s) = self.summary.as_deref_mut() {
            if id == UNTRACKED {
                s.add_other(window, c);
                return;
            }
            s.note(id, window, c);
        }
        let w = window.wrapping_sub(self.first) as u64;
        if let Some(slab) = self.slabs.get_mut(w as usize) {
            if let Some(slot) = slab.get_mut(id as usize) {
                if slot.try_add(c) {
                    return;
                }
            }
        }
        self.add_outside(id, window, c);
    }

    #[cold]
    fn add_outside(&mut self, id: u32, window: i64, c: &Counts) {
        if self.slabs.is_empty() {
            self.first = window;
        } else if window < self.first {
            // Out-of-order input reaching back: grow the front (rare, once per step back).
            let grow = (self.first - window) as usize;
            self.slabs
                .splice(0..0, std::iter::repeat_n(Vec::new(), grow));
            self.first = window;
        }
        let w = (window - self.first) as usize;
        if w >= self.slabs.len() {
            self.slabs.resize(w + 1, Vec::new());
        }
        let slab = &mut self.slabs[w];
        if slab.len() <= id as usize {
            // Room for every key known so far: new keys are few after the first windows.
            slab.resize(self.keys.len().max(id as usize + 1), Cell::default());
        }
        let cell = &mut slab[id as usize];
        if cell.try_add(c) {
            return;
        }
        // Past 16 bits: the cell's counts go on in the overflow map.
        let wide = self.overflow.entry((window, id)).or_default();
        if cell.requests != Cell::SPILLED {
            *wide = cell.widen();
            *cell = Cell {
                requests: Cell::SPILLED,
                ..Cell::default()
            };
        }
        wide.add(c);
    }

    /// Every key's series on `grid` (zero-filled), sorted by key; for a summarised
    /// dimension, the `max_keys` heaviest keys' and the summary with `(other)`.
    fn into_series(mut self, grid: &Grid) -> (Vec<KeySeries>, Option<DimSummary>) {
        let first_window = grid.start_us.div_euclid(grid.step_us);
        let offset = (self.first - first_window) as usize;
        // The keys past `max_keys` at the end go to `other` too.
        if self.summary.is_none() && self.max_keys > 0 && self.keys.len() > self.max_keys {
            self.summarise();
        }
        self.drop_indistinct();
        self.drop_lightest(self.max_keys);
        let summary = self.summary.take();
        let mut is_free = vec![false; self.keys.len()];
        for &id in summary.iter().flat_map(|s| &s.free) {
            is_free[id as usize] = true;
        }
        let live = |id: usize| !is_free[id];
        let mut out: Vec<Option<KeySeries>> = std::mem::take(&mut self.keys)
            .into_iter()
            .enumerate()
            .map(|(id, key)| {
                live(id).then(|| KeySeries {
                    key: key.into_string(),
                    counts: Series::zeros(grid.n),
                })
            })
            .collect();
        // Each window's slab is freed once copied.
        for (w, slab) in std::mem::take(&mut self.slabs).into_iter().enumerate() {
            for (id, c) in slab.into_iter().enumerate() {
                let Some(s) = out[id].as_mut() else {
                    continue;
                };
                let counts = if c.requests == Cell::SPILLED {
                    self.overflow[&(self.first + w as i64, id as u32)]
                } else {
                    c.widen()
                };
                s.counts.set(offset + w, counts);
            }
        }
        let mut out: Vec<KeySeries> = out.into_iter().flatten().collect();
        out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        let summary = summary.map(|mut s| {
            s.flush_other();
            let mut other = KeySeries {
                key: OTHER_KEY.to_string(),
                counts: Series::zeros(grid.n),
            };
            for (window, c) in &s.other {
                other.counts.add_at((window - first_window) as usize, c);
            }
            DimSummary {
                max_keys: self.max_keys,
                keys_seen: s.seen,
                other,
            }
        });
        (out, summary)
    }
}

/// Folds events into window counts; see the module documentation.
pub struct Collector {
    step_us: i64,
    bounds: TimeBounds,
    min_ts: i64,
    max_ts: i64,
    events: u64,
    successes: u64,
    dims: Vec<Dim>,
    /// Every error event, written to a temporary file as it comes.
    spill: Spill,
    /// How many 401s and 403s the spill holds: the detectors that follow them read them
    /// back at the end (kept in memory, they grew with the input through ingest).
    auth_failures: usize,
    /// Per error code (by its id in the spill): first sighting and volume.
    codes: HashMap<u32, CodeFirst, RandomState>,
    /// The reauthorization input, folded while the input is in time order.
    reauth: ReauthStream,
    /// Which of `dims` is `connection_id` (its key ids name connections in `reauth`).
    conn_dim: usize,
    /// The rows of the batch being folded (kept for the next batch's).
    rows: Vec<Row>,
}

/// A row of a batch within the bounds, as [`Collector::observe`] folds it.
struct Row {
    /// Its index in the batch.
    i: usize,
    t: i64,
    window: i64,
    st: Option<i16>,
    c: Counts,
    /// Its connection's key id, once the `connection_id` dimension has seen it.
    conn: Option<u32>,
}

/// An error code's earliest event (by time, then input order), its class (an id in the
/// spill) and volume.
struct CodeFirst {
    ts: i64,
    order: u64,
    class: u32,
    events: u64,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("step_us", &self.step_us)
            .field("events", &self.events)
            .field("auth_failures", &self.auth_failures)
            .finish_non_exhaustive()
    }
}

/// `status_class` keys (`4xx`, `none` without a status), allocating only for the
/// statuses ingest never writes.
fn status_class(status: Option<i16>) -> std::borrow::Cow<'static, str> {
    use std::borrow::Cow;
    const CLASSES: [&str; 6] = ["0xx", "1xx", "2xx", "3xx", "4xx", "5xx"];
    match status.map(|s| i64::from(s).div_euclid(100)) {
        None => Cow::Borrowed("none"),
        Some(c @ 0..=5) => Cow::Borrowed(CLASSES[c as usize]),
        Some(c) => Cow::Owned(format!("{c}xx")),
    }
}

/// Which of [`Dim::add_fixed`]'s slots holds a status class: `none` and `0xx`..`5xx`
/// (the classes ingest writes); `None` for any other.
fn status_slot(status: Option<i16>) -> Option<usize> {
    match status.map(|s| i64::from(s).div_euclid(100)) {
        None => Some(1),
        Some(c @ 0..=5) => Some(2 + c as usize),
        Some(_) => None,
    }
}

impl Collector {
    /// Fails only when the temporary file for the error events cannot be created.
    /// A collector whose dimensions are never summarised (see [`Collector::with_max_keys`]).
    pub fn new(step_us: i64, bounds: TimeBounds) -> anyhow::Result<Collector> {
        Collector::with_max_keys(step_us, bounds, 0)
    }

    /// A collector reporting at most `max_keys` keys per dimension (`[rates] max_keys`;
    /// 0: no limit): past that a dimension is summarised, its other keys folded into
    /// `(other)`.
    pub fn with_max_keys(
        step_us: i64,
        bounds: TimeBounds,
        max_keys: usize,
    ) -> anyhow::Result<Collector> {
        Ok(Collector {
            step_us,
            bounds,
            min_ts: i64::MAX,
            max_ts: i64::MIN,
            events: 0,
            successes: 0,
            dims: DIMENSIONS
                .iter()
                .map(|_| Dim::with_max_keys(max_keys))
                .collect(),
            spill: Spill::new()?,
            auth_failures: 0,
            codes: HashMap::default(),
            reauth: ReauthStream::default(),
            conn_dim: DIMENSIONS
                .iter()
                .position(|d| *d == "connection_id")
                .expect("connection_id is a dimension"),
            rows: Vec::new(),
        })
    }

    /// Events folded so far (within the bounds).
    pub fn events(&self) -> u64 {
        self.events
    }

    /// Folds one batch of events (the canonical schema, or any projection holding
    /// [`COLUMNS`]); `seq` orders batches as the input had them (ties in time keep it).
    pub fn observe(&mut self, batch: &RecordBatch, seq: u64) {
        let Some(ts) = batch.column_by_name("ts") else {
            return;
        };
        let Some(ts) = ts.as_primitive_opt::<TimestampMicrosecondType>() else {
            return;
        };
        let status: Option<&PrimitiveArray<Int16Type>> = batch
            .column_by_name("status")
            .and_then(|c| c.as_primitive_opt::<Int16Type>());
        let text: Vec<Text> = COLUMNS[2..].iter().map(|n| Text::of(batch, n)).collect();
        let [error_code, category, class, connection_id, organization_id, user_id, ip_address, endpoint, request_id] =
            &text[..]
        else {
            unreachable!("nine text columns");
        };
        // What keys each dimension, in DIMENSIONS order: every dimension but `all` and
        // `status_class` is the column of its name.
        let keys: Vec<Key> = DIMENSIONS
            .iter()
            .map(|d| match *d {
                "all" => Key::All,
                "status_class" => Key::StatusClass,
                column => Key::Column(Text::of(batch, column)),
            })
            .collect();
        // Dimension by dimension rather than row by row: each dimension's loop has one
        // kind of key and one column, so the per-row match on the key and the column
        // checks leave the inner loop. Ids are still given in row order per dimension,
        // and the connections, reauthorization and spill see the rows in order below.
        let mut rows = std::mem::take(&mut self.rows);
        rows.clear();
        for i in 0..batch.num_rows() {
            if ts.is_null(i) {
                continue;
            }
            let t = ts.value(i);
            if !self.bounds.contains(t) {
                continue;
            }
            self.min_ts = self.min_ts.min(t);
            self.max_ts = self.max_ts.max(t);
            let st = status.and_then(|s| (!s.is_null(i)).then(|| s.value(i)));
            let is_error = category.get(i) != Some("success");
            let between = |lo: i16, hi: i16| u32::from(st.is_some_and(|s| s >= lo && s < hi));
            let is = |v: i16| u32::from(st == Some(v));
            rows.push(Row {
                i,
                t,
                window: t.div_euclid(self.step_us),
                st,
                conn: None,
                c: Counts {
                    requests: 1,
                    errors: u32::from(is_error),
                    s4xx: between(400, 500),
                    s5xx: between(500, 600),
                    s401: is(401),
                    s403: is(403),
                    s429: is(429),
                },
            });
        }
        self.events += rows.len() as u64;
        for (d, (dim, key)) in self.dims.iter_mut().zip(&keys).enumerate() {
            match key {
                Key::All => {
                    for r in &rows {
                        dim.add_fixed(0, || "all".into(), r.window, &r.c);
                    }
                }
                Key::StatusClass => {
                    for r in &rows {
                        match status_slot(r.st) {
                            Some(slot) => {
                                dim.add_fixed(slot, || status_class(r.st), r.window, &r.c)
                            }
                            None => dim.add(&status_class(r.st), r.window, &r.c),
                        }
                    }
                }
                Key::Column(col) => {
                    let is_conn = d == self.conn_dim;
                    for r in &mut rows {
                        if let Some((k, v)) = col.get_view(r.i) {
                            let id = dim.add_view(k, v, r.window, &r.c);
                            if is_conn && id != UNTRACKED {
                                r.conn = Some(id);
                            }
                        }
                    }
                }
            }
        }
        if self.dims[self.conn_dim].summary.is_some() {
            // Connection ids are reused slots now: the outcomes are read again at the end.
            self.reauth.give_up();
        }
        for r in &rows {
            let (i, t, st, is_error) = (r.i, r.t, r.st, r.c.errors == 1);
            self.successes += u64::from(!is_error);
            if let Some(conn) = r.conn {
                if !is_error {
                    self.reauth.observe(conn, t, false);
                } else if st == Some(401) {
                    self.reauth.observe(conn, t, true);
                }
            }
            if is_error {
                let order = (seq << 32) | i as u64;
                let code = error_code.get(i);
                let values = [
                    code,
                    category.get(i),
                    class.get(i),
                    connection_id.get(i),
                    organization_id.get(i),
                    user_id.get(i),
                    ip_address.get(i),
                    endpoint.get(i),
                ];
                let ids = self.spill.push(t, order, st, values, request_id.get(i));
                if code.is_some() {
                    let seen = self.codes.entry(ids[0]).or_insert(CodeFirst {
                        ts: t,
                        order,
                        class: ids[2],
                        events: 0,
                    });
                    seen.events += 1;
                    if (t, order) < (seen.ts, seen.order) {
                        (seen.ts, seen.order, seen.class) = (t, order, ids[2]);
                    }
                }
                self.auth_failures += usize::from(auth::holds(st));
            }
        }
        self.rows = rows;
    }

    /// Streams the events of a dataset (hive-partitioned Parquet) through a collector.
    pub fn read_dataset(
        events_dir: &Path,
        step_us: i64,
        bounds: TimeBounds,
        max_keys: usize,
    ) -> anyhow::Result<Collector> {
        let mut c = Collector::with_max_keys(step_us, bounds, max_keys)?;
        let mut seq = 0u64;
        for_each_batch(events_dir, &COLUMNS, |b| {
            c.observe(b, seq);
            seq += 1;
        })?;
        Ok(c)
    }

    /// The detectors' tables (`None` without events). The reauthorization input needs the
    /// successes of the connections found to have repeated 401s, which only the end of the
    /// input tells: folded as they came when the input was in time order per connection,
    /// else streamed once more from `events_dir`.
    pub fn finish(self, events_dir: &Path, reauth_min: u32) -> anyhow::Result<Option<Tables>> {
        if self.events == 0 {
            return Ok(None);
        }
        // Error codes first: their values are the spill's, which `finish` hands over.
        let mut codes: Vec<CodeSighting> = self
            .codes
            .into_iter()
            .filter_map(|(id, c)| {
                Some(CodeSighting {
                    code: self.spill.value(id)?.to_string(),
                    class: self
                        .spill
                        .value(c.class)
                        .as_deref()
                        .unwrap_or("warning")
                        .to_string(),
                    first_ts: c.ts,
                    events: c.events,
                })
            })
            .collect();
        codes.sort_by(|a, b| a.code.cmp(&b.code));
        let error_log = self.spill.finish()?;
        // The 401s and 403s as value ids, without request ids: their detectors never show
        // one (incident samples come from the log).
        let auth_failures = error_log.auth_failures(self.auth_failures)?;
        let names = flaky_connections(&auth_failures, reauth_min);
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let conn_ids = &self.dims[self.conn_dim].ids;
        let named: Vec<(&str, u32)> = names
            .iter()
            .filter_map(|n| Some((*n, *conn_ids.get(*n)?)))
            .collect();
        let connection_outcomes = match self.reauth.outcomes(&named) {
            Some(rows) => rows,
            None => {
                super::outcomes::reauth_outcomes(events_dir, &auth_failures, &names, self.bounds)
                    .context("reading connection outcomes")?
            }
        };
        let grid = Grid::spanning(self.min_ts, self.max_ts, self.step_us);
        let dims = DIMENSIONS
            .iter()
            .zip(self.dims)
            .map(|(name, d)| {
                let (series, summary) = d.into_series(&grid);
                DimTable {
                    dimension: name,
                    series,
                    summary,
                }
            })
            .collect();

        Ok(Some(Tables {
            grid,
            has_successes: self.successes > 0,
            dims,
            auth_failures,
            error_log,
            connection_outcomes,
            codes,
            min_ts: self.min_ts,
            max_ts: self.max_ts,
            report_from: 0,
        }))
    }
}

/// The statuses whose events the auth detectors follow one by one.
/// At most this many connections are followed one call at a time for reauthorization.
const MAX_REAUTH_CONNECTIONS: usize = 500;

/// Connections with at least `min` 401s (the busiest first, at most 500).
fn flaky_connections(failures: &AuthFailures, min: u32) -> Vec<String> {
    let mut per_conn: HashMap<&str, u32> = HashMap::new();
    for e in failures.iter().filter(|e| e.status() == 401) {
        if let Some(c) = e.connection_id() {
            *per_conn.entry(c).or_insert(0) += 1;
        }
    }
    let mut flaky: Vec<(&str, u32)> = per_conn
        .into_iter()
        .filter(|(_, n)| *n >= min.max(1))
        .collect();
    flaky.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    flaky.truncate(MAX_REAUTH_CONNECTIONS);
    flaky.into_iter().map(|(c, _)| c.to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyze::grid::MINUTE_US;
    use crate::ingest::builder::EventBatchBuilder;
    use crate::ingest::mapping::Event;
    use std::borrow::Cow;

    fn event(min: i64, status: i16, conn: &str, ip: &str) -> Event<'static> {
        let ok = status < 400;
        Event {
            ts: 1_709_251_200_000_000 + min * MINUTE_US,
            status: Some(status),
            error_code: (!ok).then(|| Cow::Owned(format!("HTTP_{status}"))),
            category: if ok { "success" } else { "authentication" },
            class: (!ok).then_some("security"),
            connection_id: Some(Cow::Owned(conn.to_string())),
            ip_address: Some(Cow::Owned(ip.to_string())),
            ..Default::default()
        }
    }

    fn batch(events: &[Event<'static>]) -> RecordBatch {
        let mut b = EventBatchBuilder::with_capacity(events.len());
        for (i, e) in events.iter().enumerate() {
            b.append(e, "t.ndjson", i as u64 + 1);
        }
        b.finish()
    }

    #[test]
    fn counts_per_window_and_key_whatever_the_batches_and_order() {
        let long_conn = "conn_with_a_name_longer_than_twelve";
        let events = vec![
            event(0, 200, "c1", "10.0.0.1"),
            event(1, 401, "c1", "10.0.0.1"),
            event(7, 401, long_conn, "10.0.0.2"),
            event(12, 200, long_conn, "10.0.0.1"),
            event(13, 429, "c1", "10.0.0.2"),
            event(3, 500, "c1", "10.0.0.1"),
        ];
        let dir = crate::testutil::tempdir().unwrap();
        let step = 5 * MINUTE_US;
        let mut one = Collector::new(step, TimeBounds::default()).unwrap();
        one.observe(&batch(&events), 0);
        let one = one.finish(dir.path(), 3).unwrap().unwrap();

        // Two batches, the later part of the input (later windows) seen first: the
        // tables grow at the front, the rows still come out in time then input order.
        let mut two = Collector::new(step, TimeBounds::default()).unwrap();
        two.observe(&batch(&events[3..]), 1);
        two.observe(&batch(&events[..3]), 0);
        let two = two.finish(dir.path(), 3).unwrap().unwrap();
        assert_eq!(one, two);

        assert_eq!(one.grid.n, 3);
        let conn = one.dim("connection_id").unwrap();
        let keys: Vec<&str> = conn.series.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["c1", long_conn]);
        let c1 = conn.series[0].counts.iter().collect::<Vec<_>>();
        assert_eq!((c1[0].requests, c1[0].errors, c1[0].s401), (3, 2, 1));
        assert_eq!(c1[0].s5xx, 1);
        assert_eq!(c1[1], Counts::default());
        assert_eq!((c1[2].requests, c1[2].s429), (1, 1));
        let status = one.dim("status_class").unwrap();
        let keys: Vec<&str> = status.series.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, ["2xx", "4xx", "5xx"]);
        // Every error row in the log; the 401s also in memory, in time order.
        let errors = one.error_log.sorted_rows().unwrap();
        let statuses: Vec<Option<i16>> = errors.iter().map(|e| e.status).collect();
        assert_eq!(statuses, [Some(401), Some(500), Some(401), Some(429)]);
        let auth: Vec<i64> = one.auth_failures.iter().map(|e| e.ts()).collect();
        assert_eq!(auth, [events[1].ts, events[2].ts]);
        let codes: Vec<(&str, u64)> = one
            .codes
            .iter()
            .map(|c| (c.code.as_str(), c.events))
            .collect();
        assert_eq!(codes, [("HTTP_401", 2), ("HTTP_429", 1), ("HTTP_500", 1)]);
        assert!(one.has_successes);
    }

    /// Reauthorization outcomes folded as the events come equal those read back from the
    /// written events, for input in time order (with ties) and out of it.
    #[test]
    fn reauthorization_folded_in_order_equals_the_second_read() {
        let conns = ["c0", "c1", "conn_with_a_name_longer_than_twelve"];
        let statuses = [200, 401, 401, 200, 500, 403, 401];
        let mut x = 7u64;
        let mut events = Vec::new();
        for i in 0..3000i64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let conn = conns[(x >> 40) as usize % conns.len()];
            let status = statuses[(x >> 50) as usize % statuses.len()];
            // Three events a minute: ties in time between 401s and successes.
            events.push(event(i / 3, status, conn, "10.0.0.1"));
        }
        let dir = crate::testutil::tempdir().unwrap();
        let events_dir = dir.path().join("events");
        let mut w = crate::report::parquet::EventsWriter::create(&events_dir).unwrap();
        w.write(&batch(&events)).unwrap();
        w.finish().unwrap();
        let step = 5 * MINUTE_US;
        let tables = |batches: &[&[Event<'static>]], reread: bool| {
            let mut c = Collector::new(step, TimeBounds::default()).unwrap();
            for (seq, b) in batches.iter().enumerate() {
                c.observe(&batch(b), seq as u64);
            }
            assert!(c.reauth.outcomes(&[]).is_some(), "in time order");
            if reread {
                c.reauth.give_up();
            }
            c.finish(&events_dir, 2).unwrap().unwrap()
        };
        let folded = tables(&[&events[..1000], &events[1000..]], false);
        let reread = tables(&[&events], true);
        let outcomes = &folded.connection_outcomes;
        assert_eq!(outcomes, &reread.connection_outcomes);
        assert!(outcomes.iter().filter(|o| o.success).count() > 100);
        assert!(outcomes.iter().filter(|o| !o.success).count() > 500);
        // The later half first: not in time order, so the events are read again.
        let swapped = {
            let mut c = Collector::new(step, TimeBounds::default()).unwrap();
            c.observe(&batch(&events[1500..]), 1);
            c.observe(&batch(&events[..1500]), 0);
            assert!(c.reauth.outcomes(&[]).is_none());
            c.finish(&events_dir, 2).unwrap().unwrap()
        };
        assert_eq!(&swapped.connection_outcomes, outcomes);
    }

    /// A cell past 16 bits goes on in the overflow map, exact, also when the tables grow
    /// at the front afterwards (out-of-order input).
    #[test]
    fn counts_past_sixteen_bits_stay_exact() {
        let unauthorized = Counts {
            requests: 1,
            errors: 1,
            s4xx: 1,
            s401: 1,
            ..Default::default()
        };
        let ok = Counts {
            requests: 1,
            ..Default::default()
        };
        let mut d = Dim::default();
        for i in 0..70_000u32 {
            d.add("k", 5, if i % 3 == 0 { &unauthorized } else { &ok });
        }
        d.add("k", 2, &ok);
        d.add("other", 5, &unauthorized);
        for _ in 0..10 {
            d.add("k", 5, &unauthorized);
        }
        // 65,534 is the most a cell holds; this one stays in its slab.
        for _ in 0..65_534 {
            d.add("other", 4, &ok);
        }
        let (series, _) = d.into_series(&Grid::spanning(2, 5, 1));
        let by_key = |k: &str| {
            let s = series.iter().find(|s| s.key == k).unwrap();
            s.counts.iter().collect::<Vec<_>>()
        };
        let k = by_key("k");
        assert_eq!((k[0].requests, k[0].errors), (1, 0));
        assert_eq!(k[1], Counts::default());
        let big = k[3];
        assert_eq!(
            (big.requests, big.errors, big.s401),
            (70_010, 23_344, 23_344)
        );
        assert_eq!(big.s4xx, 23_344);
        let other = by_key("other");
        assert_eq!(other[2].requests, 65_534);
        assert_eq!((other[3].requests, other[3].s401), (1, 1));
    }

    /// Past `max_keys` keys a dimension is summarised: its memory stays at 1.25
    /// `max_keys` slots however many keys come, every count lands in a kept key or
    /// `(other)` (nothing lost, nothing counted twice), and a heavy key that stands out
    /// from the start keeps its exact series among a flood of one-off keys.
    #[test]
    fn many_keys_are_summarised_into_the_heaviest_and_other() {
        let err = Counts {
            requests: 1,
            errors: 1,
            s4xx: 1,
            s401: 1,
            ..Default::default()
        };
        let ok = Counts {
            requests: 1,
            ..Default::default()
        };
        let mut d = Dim::with_max_keys(40);
        let (mut total, mut heavy) = (Counts::default(), Counts::default());
        let mut per_window = [0u32; 50];
        let mut x = 11u64;
        for i in 0..50_000u64 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            // Windows mostly in order, every 50th event reaching back (out of order).
            let window = if i % 50 == 0 {
                (i / 1000) as i64 / 2
            } else {
                (i / 1000) as i64
            };
            let (key, c) = if i % 10 == 0 {
                ("attacker".to_string(), err)
            } else {
                (
                    format!("10.{}.{}", x >> 48, (x >> 32) & 0xffff),
                    if x % 7 == 0 { err } else { ok },
                )
            };
            if key == "attacker" {
                heavy.add(&c);
                per_window[window as usize] += 1;
            }
            total.add(&c);
            d.add(&key, window, &c);
            assert!(d.keys.len() <= 50, "tracked keys stay within 1.25 max_keys");
        }
        let grid = Grid::spanning(0, 49, 1);
        let (series, summary) = d.into_series(&grid);
        let summary = summary.expect("50 000 keys are more than 40");
        assert_eq!(summary.max_keys, 40);
        assert!(series.len() <= 40, "{} kept", series.len());
        assert!(summary.keys_seen > 40_000, "{}", summary.keys_seen);
        let mut sum = summary.other.total();
        for s in &series {
            sum.add(&s.total());
        }
        assert_eq!(sum, total, "every event is in a kept key or (other), once");
        let attacker = series.iter().find(|s| s.key == "attacker").expect("kept");
        assert_eq!(attacker.total(), heavy, "the heavy key's counts are exact");
        let got: Vec<u32> = attacker.values(|c| c.requests);
        assert_eq!(got, per_window, "and per window, out-of-order ones too");
    }

    /// At or under the limit nothing is summarised and the tables are as before.
    #[test]
    fn few_keys_are_not_summarised() {
        let ok = Counts {
            requests: 1,
            ..Default::default()
        };
        let mut d = Dim::with_max_keys(40);
        for i in 0..40 {
            d.add(&format!("k{i}"), i, &ok);
        }
        let (series, summary) = d.into_series(&Grid::spanning(0, 39, 1));
        assert!(summary.is_none());
        assert_eq!(series.len(), 40);
    }

    #[test]
    fn bounds_drop_events_outside() {
        let events = vec![event(0, 200, "c1", "a"), event(30, 401, "c1", "a")];
        let since = events[1].ts;
        let mut c = Collector::new(
            5 * MINUTE_US,
            TimeBounds {
                since: Some(since),
                until: None,
            },
        )
        .unwrap();
        c.observe(&batch(&events), 0);
        assert_eq!(c.events(), 1);
        let dir = crate::testutil::tempdir().unwrap();
        let t = c.finish(dir.path(), 3).unwrap().unwrap();
        assert!(!t.has_successes);
        assert_eq!(t.min_ts, since);
    }
}
