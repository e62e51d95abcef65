//! One dimension's keys and their counts window by window ([`Dim`]), and, past
//! `[rates] max_keys`, the key summariser that keeps the heaviest keys and folds the rest
//! into `(other)` ([`Summary`], Space-Saving with a TinyLFU doorkeeper).

use super::closed::Closed;
use super::slab::{Slab, DENSE_WINDOWS};
#[allow(unused_imports)] // the parent's names, as one module split by concern
use super::*;

/// One dimension: keys, and their counts window by window (window-major: input in time
/// order touches one window's slab of counts at a time, which stays in cache; key-major
/// series made every row a cache miss on high-cardinality keys such as IP addresses).
#[derive(Default)]
pub(super) struct Dim {
    pub(super) ids: HashMap<Box<str>, u32, RandomState>,
    /// Keys of at most 12 bytes by their Arrow view (one integer to hash and compare).
    pub(super) short: HashMap<u128, u32, RandomState>,
    pub(super) keys: Vec<Box<str>>,
    /// The id of the last longer key looked up (it often repeats row after row).
    pub(super) last: Option<u32>,
    /// The last short key's view and id (`success`, no class, no code: most rows).
    pub(super) last_view: Option<(u128, u32)>,
    /// Ids of the fixed keys of `all` and `status_class` ([`Dim::add_fixed`]).
    pub(super) fixed: [Option<u32>; 8],
    /// Window number of `slabs[0]`.
    pub(super) first: i64,
    /// The newest windows' counts by key id, in 16 bits, a cell per key ([`Slab`]):
    /// at most [`DENSE_WINDOWS`] windows.
    pub(super) slabs: Vec<Slab>,
    /// The windows before `first`: only the keys with counts, packed ([`Closed`]).
    pub(super) closed: Closed,
    /// The cells whose count went past 16 bits (by window number and key id), in full.
    pub(super) overflow: HashMap<(i64, u32), Counts, RandomState>,
    /// The most keys reported (`[rates] max_keys`; 0: no limit). Up to a quarter more are
    /// tracked one by one; past that the dimension is summarised ([`Summary`]).
    pub(super) max_keys: usize,
    pub(super) summary: Option<Box<Summary>>,
}

/// A dimension with more keys than its limit: key ids become slots, reused as keys come
/// and go (Space-Saving, Metwally et al. 2005, pruned a quarter at a time). A new key takes
/// a free slot; when none is free, the lightest quarter of the keys are dropped, their
/// counts folded into `other`. So memory is windows x 1.25 `max_keys` cells, whatever the
/// number of keys (one-off client IPs cost one cell each while they are tracked), and a
/// key heavier than the weight dropped before it came (`floor`) is never dropped.
pub(super) struct Summary {
    /// Per slot: 16 per error, 1 per success, plus `floor` at admission.
    pub(super) weight: Vec<u64>,
    /// Per slot: `floor` when its key was taken in (its own weight is `weight - base`).
    pub(super) base: Vec<u64>,
    /// Per slot: the first and last window with counts since its key was admitted (the
    /// cells to fold and clear when it is dropped).
    pub(super) span: Vec<(i64, i64)>,
    pub(super) free: Vec<u32>,
    /// The heaviest weight dropped so far: a key admitted later starts there.
    pub(super) floor: u64,
    /// Per window number, the counts of the keys dropped and of the events of keys not
    /// tracked (`open` holds the window being added to).
    pub(super) other: WindowCounts,
    pub(super) open: Option<(i64, Counts)>,
    /// The doorkeeper (TinyLFU's): a fingerprint per hash bucket of the last untracked key
    /// seen there. A key is taken in at its second sighting, so the flood of one-off keys
    /// (client IPs seen once) costs a hash and a store each, not an admission.
    pub(super) door: Vec<u32>,
    /// A bit per hash bucket of the keys tracked (1,024 words): a key whose bit is clear is
    /// surely not tracked, so the flood of one-off keys skips the key maps (one hash, then
    /// the doorkeeper). Set as keys are taken in, rebuilt when keys are dropped.
    pub(super) tracked: Vec<u64>,
    /// Untracked keys seen (a key dropped and seen again counts again), plus the keys the
    /// dimension had when it was summarised: about the number of distinct keys.
    pub(super) seen: u64,
}

/// Counts by window number, a [`Counts`] for every window from the first to the last
/// added (28 bytes a window; the `(other)` of a summarised dimension has counts in most
/// windows, and a tree map of them took 40-50 bytes a window).
#[derive(Default)]
pub(super) struct WindowCounts {
    first: i64,
    counts: std::collections::VecDeque<Counts>,
}

impl WindowCounts {
    pub(super) fn add(&mut self, window: i64, c: &Counts) {
        if self.counts.is_empty() {
            self.first = window;
        }
        while window < self.first {
            self.counts.push_front(Counts::default());
            self.first -= 1;
        }
        let at = (window - self.first) as usize;
        if at >= self.counts.len() {
            self.counts.resize(at + 1, Counts::default());
        }
        self.counts[at].add(c);
    }

    /// The windows with counts, in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = (i64, &Counts)> {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, c)| c.requests > 0)
            .map(|(i, c)| (self.first + i as i64, c))
    }
}

/// The id of an event's key when its key is not tracked (its counts go to `other`).
pub(super) const UNTRACKED: u32 = u32::MAX;

/// Buckets of [`Summary::door`] (256 KiB).
pub(super) const DOOR_BUCKETS: usize = 1 << 16;

/// The hash of a key for the doorkeeper and the tracked-key bits (fixed: reruns drop and
/// keep the same keys).
pub(super) fn key_hash(key: &str) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::with_seed(0x6572_7273).hash_one(key)
}

/// Words of [`Summary::tracked`].
pub(super) const TRACKED_WORDS: usize = 1024;

impl Summary {
    pub(super) fn tracked_bit(h: u64) -> (usize, u64) {
        let b = (h >> 40) as usize % (TRACKED_WORDS * 64);
        (b / 64, 1u64 << (b % 64))
    }

    pub(super) fn maybe_tracked(&self, h: u64) -> bool {
        let (w, bit) = Summary::tracked_bit(h);
        self.tracked[w] & bit != 0
    }

    /// Starts loading the doorkeeper's bucket for the key of hash `h`: a fold of
    /// one-off keys is a random read of the 256 KiB doorkeeper per row, which the
    /// collector issues for a batch's rows ahead of their lookups.
    #[inline]
    pub(super) fn prefetch(&self, h: u64) {
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
            let bucket = (h as usize) & (DOOR_BUCKETS - 1);
            // SAFETY: a prefetch does not fault, and the address is inside `door`
            // (DOOR_BUCKETS long).
            unsafe { _mm_prefetch(self.door.as_ptr().add(bucket).cast::<i8>(), _MM_HINT_T0) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = h;
    }

    pub(super) fn mark_tracked(&mut self, h: u64) {
        let (w, bit) = Summary::tracked_bit(h);
        self.tracked[w] |= bit;
    }

    /// Whether the key of hash `h`, not tracked, was seen lately (then it is taken in);
    /// else remembers it.
    pub(super) fn second_sighting(&mut self, h: u64) -> bool {
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
    pub(super) fn add_other(&mut self, window: i64, c: &Counts) {
        match &mut self.open {
            Some((w, acc)) if *w == window => acc.add(c),
            open => {
                if let Some((w, acc)) = open.take() {
                    self.other.add(w, &acc);
                }
                *open = Some((window, *c));
            }
        }
    }

    /// `other`, with the window being added to.
    pub(super) fn flush_other(&mut self) {
        if let Some((w, acc)) = self.open.take() {
            self.other.add(w, &acc);
        }
    }

    #[inline]
    pub(super) fn note(&mut self, id: u32, window: i64, c: &Counts) {
        let i = id as usize;
        self.weight[i] += u64::from(c.requests) + 15 * u64::from(c.errors);
        let span = &mut self.span[i];
        span.0 = span.0.min(window);
        span.1 = span.1.max(window);
    }
}

impl Dim {
    #[inline]
    pub(super) fn id(&mut self, key: &str) -> u32 {
        if let Some(id) = self.last {
            if self.keys[id as usize].as_ref() == key {
                return id;
            }
        }
        if self.summary.is_some() {
            if let Some(id) = self.id_if_untracked(key, key_hash(key)) {
                return id;
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

    /// The id of a key (of hash `h`) that a summarised dimension surely does not track
    /// (its tracked bit is clear), straight from the doorkeeper: taken in at its second
    /// sighting, else [`UNTRACKED`]. `None` when the key may be tracked (or the dimension
    /// is not summarised): the key maps decide.
    #[inline]
    fn id_if_untracked(&mut self, key: &str, h: u64) -> Option<u32> {
        let s = self.summary.as_deref_mut()?;
        if s.maybe_tracked(h) {
            return None;
        }
        Some(if s.second_sighting(h) {
            self.take_in(key, h)
        } else {
            UNTRACKED
        })
    }

    pub(super) fn with_max_keys(max_keys: usize) -> Dim {
        Dim {
            max_keys,
            ..Dim::default()
        }
    }

    /// A new key's id: the next one, or, once the dimension is summarised, a free slot.
    pub(super) fn admit(&mut self, key: &str) -> u32 {
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
    pub(super) fn take_in(&mut self, key: &str, h: u64) -> u32 {
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
    pub(super) fn summarise(&mut self) {
        let n = self.keys.len();
        let mut weight = vec![0u64; n];
        let mut span = vec![(i64::MAX, i64::MIN); n];
        for (window, cells) in self.windows() {
            for (id, cell) in cells {
                let c = if cell.requests == Cell::SPILLED {
                    self.overflow[&(window, id)]
                } else {
                    cell.widen()
                };
                let id = id as usize;
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
    pub(super) fn live_slots(&self, s: &Summary) -> Vec<u32> {
        let mut is_free = vec![false; self.keys.len()];
        for &id in &s.free {
            is_free[id as usize] = true;
        }
        (0..self.keys.len() as u32)
            .filter(|id| !is_free[*id as usize])
            .collect()
    }

    pub(super) fn drop_lightest(&mut self, keep: usize) {
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
    pub(super) fn drop_indistinct(&mut self) {
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
    pub(super) fn drop_slots(&mut self, dropped: &[u32]) {
        let Some(mut s) = self.summary.take() else {
            return;
        };
        let mut is_dropped = vec![false; self.keys.len()];
        for &id in dropped {
            is_dropped[id as usize] = true;
            s.floor = s.floor.max(s.weight[id as usize]);
            let (lo, hi) = s.span[id as usize];
            for window in lo..=hi {
                let taken = if window < self.first {
                    self.closed.take(window, id)
                } else {
                    self.slabs
                        .get_mut((window - self.first) as usize)
                        .and_then(|slab| slab.take(id))
                };
                let Some(cell) = taken else {
                    continue;
                };
                let c = if cell.requests == Cell::SPILLED {
                    self.overflow
                        .remove(&(window, id))
                        .expect("a spilled cell has its counts in the overflow map")
                } else {
                    cell.widen()
                };
                if c.requests > 0 {
                    s.other.add(window, &c);
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
    pub(super) fn prune(&mut self) {
        self.drop_lightest(self.max_keys);
    }

    #[inline]
    pub(super) fn id_of_view(&mut self, key: &str, view: u128) -> u32 {
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
    pub(super) fn add_fixed(
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
    pub(super) fn add(&mut self, key: &str, window: i64, c: &Counts) {
        let id = self.id(key);
        self.add_id(id, window, c);
    }

    /// Adds `c` to the key's count of `window`; returns the key's id ([`UNTRACKED`] for a
    /// key of a summarised dimension not tracked).
    #[inline]
    pub(super) fn add_view(&mut self, key: &str, view: u128, window: i64, c: &Counts) -> u32 {
        let id = self.id_of_view(key, view);
        self.add_id(id, window, c);
        id
    }

    /// [`Dim::add_view`] for a key of a summarised dimension whose [`key_hash`] is `h`:
    /// a key surely not tracked goes straight to the doorkeeper.
    #[inline]
    pub(super) fn add_view_hashed(
        &mut self,
        key: &str,
        view: u128,
        h: u64,
        window: i64,
        c: &Counts,
    ) -> u32 {
        let id = match self.id_if_untracked(key, h) {
            Some(id) => id,
            None => self.id_of_view(key, view),
        };
        self.add_id(id, window, c);
        id
    }

    #[inline]
    pub(super) fn add_id(&mut self, id: u32, window: i64, c: &Counts) {
        if let Some(s) = self.summary.as_deref_mut() {
            if id == UNTRACKED {
                s.add_other(window, c);
                return;
            }
            s.note(id, window, c);
        }
        let w = window.wrapping_sub(self.first) as u64;
        if let Some(Slab::Dense(slab)) = self.slabs.get_mut(w as usize) {
            if let Some(slot) = slab.get_mut(id as usize) {
                if slot.try_add(c) {
                    return;
                }
            }
        }
        self.add_outside(id, window, c);
    }

    #[cold]
    pub(super) fn add_outside(&mut self, id: u32, window: i64, c: &Counts) {
        let keys = self.keys.len();
        if self.slabs.is_empty() && self.closed.range().is_empty() {
            self.first = window;
        }
        if window < self.first {
            // A window the input had moved past (late records, files overlapping in time).
            let slab = self.closed.reopen(window);
            return add_to(slab, &mut self.overflow, window, id, c, keys);
        }
        if window - self.first >= self.slabs.len() as i64 {
            // The input moved on: the windows well behind it are packed.
            let keep_from = window - (DENSE_WINDOWS as i64 - 1);
            let pack = (keep_from - self.first).clamp(0, self.slabs.len() as i64) as usize;
            for (k, slab) in self.slabs.drain(..pack).enumerate() {
                self.closed.push(self.first + k as i64, &slab);
            }
            self.first += pack as i64;
            if self.slabs.is_empty() {
                // A gap: nothing between the last window and the ones kept open.
                self.first = self.first.max(keep_from);
            }
            self.slabs
                .resize((window - self.first) as usize + 1, Slab::default());
        }
        let slab = &mut self.slabs[(window - self.first) as usize];
        add_to(slab, &mut self.overflow, window, id, c, keys);
    }

    /// Every window that may hold cells, in order, with its cells (packed ones first).
    pub(super) fn windows(
        &self,
    ) -> impl Iterator<Item = (i64, Box<dyn Iterator<Item = (u32, Cell)> + '_>)> + '_ {
        let closed = self.closed.range();
        let open =
            (0..self.slabs.len()).map(move |w| (self.first + w as i64, self.slabs[w].cells()));
        closed.map(move |w| (w, self.closed.cells(w))).chain(open)
    }

    /// Bytes the window counts hold (allocated capacity).
    #[cfg(test)]
    pub(super) fn window_bytes(&self) -> usize {
        self.slabs.capacity() * std::mem::size_of::<Slab>()
            + self.slabs.iter().map(Slab::bytes).sum::<usize>()
            + self.closed.bytes()
    }
}

/// Adds one event's counts `c` to the cell of `id` in `slab` (window `window`); a cell past
/// 16 bits goes on in `overflow`.
fn add_to(
    slab: &mut Slab,
    overflow: &mut HashMap<(i64, u32), Counts, RandomState>,
    window: i64,
    id: u32,
    c: &Counts,
    keys: usize,
) {
    let mut cell = slab.get(id).unwrap_or_default();
    if cell.try_add(c) {
        slab.set(id, cell, keys);
        return;
    }
    // Past 16 bits: the cell's counts go on in the overflow map.
    let wide = overflow.entry((window, id)).or_default();
    if cell.requests != Cell::SPILLED {
        *wide = cell.widen();
        slab.set(
            id,
            Cell {
                requests: Cell::SPILLED,
                ..Cell::default()
            },
            keys,
        );
    }
    wide.add(c);
}

impl Dim {
    /// Every key's series on `grid` (zero-filled), sorted by key; for a summarised
    /// dimension, the `max_keys` heaviest keys' and the summary with `(other)`.
    pub(super) fn into_series(mut self, grid: &Grid) -> (Vec<KeySeries>, Option<DimSummary>) {
        let first_window = grid.start_us.div_euclid(grid.step_us);
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
        // Each series sized once for its cells (a cell per bucket, or the buckets with
        // counts), then filled window by window.
        let mut cells_of = vec![0usize; out.len()];
        for (_, cells) in self.windows() {
            cells.for_each(|(id, _)| cells_of[id as usize] += 1);
        }
        for (s, &cells) in out.iter_mut().zip(&cells_of) {
            if let Some(s) = s {
                s.counts = Series::with_room(grid.n, cells);
            }
        }
        let mut put = |window: i64, cells: &mut dyn Iterator<Item = (u32, Cell)>| {
            let at = (window - first_window) as usize;
            for (id, c) in cells {
                let Some(s) = out[id as usize].as_mut() else {
                    continue;
                };
                let counts = if c.requests == Cell::SPILLED {
                    self.overflow[&(window, id)]
                } else {
                    c.widen()
                };
                s.counts.set(at, counts);
            }
        };
        // The packed windows' memory is handed back as they are read, for the series
        // being filled to reuse (the packed cells and the series are about the same size).
        for window in self.closed.range() {
            put(window, &mut self.closed.cells(window));
            self.closed.release_before(window);
        }
        for (w, slab) in std::mem::take(&mut self.slabs).into_iter().enumerate() {
            put(self.first + w as i64, &mut slab.cells());
        }
        self.closed = Closed::default();
        let mut out: Vec<KeySeries> = out.into_iter().flatten().collect();
        out.iter_mut().for_each(|s| s.counts.settle());
        out.sort_unstable_by(|a, b| a.key.cmp(&b.key));
        let summary = summary.map(|mut s| {
            s.flush_other();
            let mut other = KeySeries {
                key: OTHER_KEY.to_string(),
                counts: Series::zeros(grid.n),
            };
            for (window, c) in s.other.iter() {
                other.counts.add_at((window - first_window) as usize, c);
            }
            other.counts.settle();
            DimSummary {
                max_keys: self.max_keys,
                keys_seen: s.seen,
                other,
            }
        });
        (out, summary)
    }
}
