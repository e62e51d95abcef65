//! The windows the input has moved past, packed ([`Closed`]): every window's cells one
//! after another in two arrays, found by offsets. A packed window costs 8 bytes and a cell
//! 5 when its counts fit in a byte each (its key id, and a code for its counts in the
//! dimension's [`Palette`]: a window's counts of one key are a handful of small numbers,
//! and few combinations of them recur; 12 in a dimension whose counts vary more, see
//! [`ByteCells`]), 20 otherwise, with no allocation per window; the
//! arrays grow by fixed chunks ([`Chunks`]), never copied (a doubling array briefly held
//! its old and new copies: 16 MB more at a year's peak). A year of 5-minute windows is
//! 105,120 windows per dimension: a [`Slab`] per window (48 bytes, plus allocations of
//! their own with room to grow) was most of what a long span held, then 12 bytes a cell
//! (a key id and seven byte counts) were: 27 MB of a year's 1 M records.
//!
//! Input that reaches a packed window again (files overlapping in time, late records)
//! reopens it: its cells move to a sparse [`Slab`] that takes the new counts, and the
//! reopened windows are packed again in bulk once they are many.

use std::collections::{BTreeMap, HashMap};

use foldhash::fast::RandomState;

use super::slab::{Slab, Small};
use crate::analyze::tables::Cell;

#[derive(Default)]
pub(super) struct Closed {
    /// Window number of the first packed window.
    first: i64,
    /// Per packed window, where its cells start in `small` and in `wide`, plus the ends
    /// (one more entry than windows; empty before anything is packed).
    small_at: Vec<u32>,
    wide_at: Vec<u32>,
    /// The cells, window after window, by key id within a window (a taken cell stays, as
    /// zero counts): those whose counts fit in bytes in `small`, the others in `wide`.
    small: ByteCells,
    wide: Chunks<(u32, Cell)>,
    /// Windows reached again after they were packed, or before the first one: these
    /// hold their cells (their packed cells, if any, are stale until the next repack).
    reopened: BTreeMap<i64, Slab>,
    /// One window's cells on their way into `small` and `wide`, sorted first.
    scratch: Scratch,
}

/// The cells whose counts fit in a byte each: coded while few combinations of counts
/// recur (a palette code, 5 bytes a cell), whole (12 bytes) for a dimension whose counts
/// vary too much for the palette (busy keys over a long span), so that such a dimension
/// never holds more than before the palette: a cell without a code takes 20 bytes in
/// `wide`, and once those are more than a third of the byte-sized cells (past 4,096 of
/// them), the coded cells are written out whole, once, and the dimension stays so.
enum ByteCells {
    Coded {
        cells: Chunks<Coded>,
        palette: Palette,
        /// Byte-sized cells that found a code, and those that did not.
        hits: usize,
        misses: usize,
    },
    Whole(Chunks<(u32, Small)>),
}

impl Default for ByteCells {
    fn default() -> ByteCells {
        ByteCells::Coded {
            cells: Chunks::default(),
            palette: Palette::default(),
            hits: 0,
            misses: 0,
        }
    }
}

#[derive(Default)]
struct Scratch {
    coded: Vec<Coded>,
    whole: Vec<(u32, Small)>,
    wide: Vec<(u32, Cell)>,
}

impl ByteCells {
    fn len(&self) -> usize {
        match self {
            ByteCells::Coded { cells, .. } => cells.len(),
            ByteCells::Whole(cells) => cells.len(),
        }
    }

    /// Files `b` (the counts of `id`) into the scratch arrays: coded, whole, or, without
    /// a code, with the wide cells.
    fn file(&mut self, id: u32, b: Small, scratch: &mut Scratch) {
        match self {
            ByteCells::Coded {
                palette,
                hits,
                misses,
                ..
            } => match palette.code(b) {
                Some(code) => {
                    *hits += 1;
                    scratch.coded.push(Coded::new(id, code));
                }
                None => {
                    *misses += 1;
                    scratch.wide.push((id, b.cell()));
                }
            },
            ByteCells::Whole(_) => scratch.whole.push((id, b)),
        }
    }

    fn push_all(&mut self, scratch: &mut Scratch) {
        match self {
            ByteCells::Coded { cells, .. } => {
                scratch.coded.sort_unstable_by_key(|c| c.id());
                scratch.coded.drain(..).for_each(|c| cells.push(c));
            }
            ByteCells::Whole(cells) => {
                scratch.whole.sort_unstable_by_key(|c| c.0);
                scratch.whole.drain(..).for_each(|c| cells.push(c));
            }
        }
        if let ByteCells::Coded { hits, misses, .. } = self {
            if *misses > 4096 && *misses * 2 > *hits {
                self.write_out_whole();
            }
        }
    }

    /// The coded cells, whole from now on (a chunk at a time, each freed once copied; the
    /// positions stay, so the windows' offsets hold).
    fn write_out_whole(&mut self) {
        let ByteCells::Coded { cells, palette, .. } = std::mem::take(self) else {
            return;
        };
        let mut whole = Chunks::default();
        let mut left = cells.len();
        for chunk in cells.chunks {
            // A chunk freed after its last read still holds its place.
            let n = left.min(Chunks::<Coded>::CHUNK);
            if chunk.is_empty() {
                (0..n).for_each(|_| whole.push((0, Small::default())));
            } else {
                for c in &chunk {
                    whole.push((c.id(), palette.counts(c.code())));
                }
            }
            left -= n;
        }
        *self = ByteCells::Whole(whole);
    }

    /// The cells of positions `a..b` with counts and their ids.
    fn cells(&self, a: usize, b: usize) -> impl Iterator<Item = (u32, Cell)> + '_ {
        let (coded, whole) = match self {
            ByteCells::Coded { cells, palette, .. } => (
                Some(
                    cells
                        .pieces(a, b)
                        .flatten()
                        .map(move |c| (c.id(), palette.cell(c.code()))),
                ),
                None,
            ),
            ByteCells::Whole(cells) => (
                None,
                Some(cells.pieces(a, b).flatten().map(|(id, s)| (*id, s.cell()))),
            ),
        };
        coded
            .into_iter()
            .flatten()
            .chain(whole.into_iter().flatten())
    }

    /// Takes the cell of `id` among positions `a..b`, leaving it without counts.
    fn take(&mut self, a: usize, b: usize, id: u32) -> Option<Cell> {
        match self {
            ByteCells::Coded { cells, palette, .. } => {
                let taken = |c: &mut Coded| std::mem::replace(c, Coded::new(c.id(), 0)).code();
                take_in(cells.pieces_mut(a, b), id, |c| c.id(), taken).map(|k| palette.cell(k))
            }
            ByteCells::Whole(cells) => take_in(
                cells.pieces_mut(a, b),
                id,
                |c| c.0,
                |c| std::mem::take(&mut c.1),
            )
            .map(Small::cell),
        }
    }

    fn release_before(&mut self, at: usize) {
        match self {
            ByteCells::Coded { cells, .. } => cells.release_before(at),
            ByteCells::Whole(cells) => cells.release_before(at),
        }
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        match self {
            ByteCells::Coded { cells, .. } => cells.bytes(),
            ByteCells::Whole(cells) => cells.bytes(),
        }
    }
}

/// A packed cell whose counts have a code in the dimension's [`Palette`]: its key id and
/// that code (0: a taken cell, no counts), in 5 bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Coded([u8; 5]);

impl Coded {
    fn new(id: u32, code: u8) -> Coded {
        let [a, b, c, d] = id.to_le_bytes();
        Coded([a, b, c, d, code])
    }

    fn id(self) -> u32 {
        let [a, b, c, d, _] = self.0;
        u32::from_le_bytes([a, b, c, d])
    }

    fn code(self) -> u8 {
        self.0[4]
    }
}

/// The distinct byte-sized counts of a dimension's packed cells, up to 255 of them, each
/// known by its code (1 up; 0 is no counts). The first 255 seen get one; a cell with
/// others goes with the wide cells, as a 1 M-record year's handful do, until there are
/// too many of them ([`ByteCells`]).
#[derive(Default)]
struct Palette {
    values: Vec<Small>,
    codes: HashMap<Small, u8, RandomState>,
}

impl Palette {
    /// The code of `s`, given one if there is room.
    fn code(&mut self, s: Small) -> Option<u8> {
        if let Some(&c) = self.codes.get(&s) {
            return Some(c);
        }
        let c = u8::try_from(self.values.len() + 1).ok()?;
        self.values.push(s);
        self.codes.insert(s, c);
        Some(c)
    }

    /// The counts of `code` (none for 0, a taken cell).
    fn counts(&self, code: u8) -> Small {
        match code {
            0 => Small::default(),
            c => self.values[usize::from(c) - 1],
        }
    }

    fn cell(&self, code: u8) -> Cell {
        self.counts(code).cell()
    }
}

/// An array that grows by chunks of 256 KB, each allocated once: growing never copies,
/// and what is held is what was pushed, rounded up to one chunk.
#[derive(Default)]
struct Chunks<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
    /// Chunks before this one were freed ([`Chunks::release_before`]).
    released: usize,
}

impl<T: Copy> Chunks<T> {
    /// Elements of a chunk.
    const CHUNK: usize = (256 << 10) / std::mem::size_of::<T>();

    fn push(&mut self, v: T) {
        if self.len % Self::CHUNK == 0 {
            self.chunks.push(Vec::with_capacity(Self::CHUNK));
        }
        self.chunks.last_mut().expect("a chunk with room").push(v);
        self.len += 1;
    }

    fn len(&self) -> usize {
        self.len
    }

    /// The elements `a..b`, as the pieces of the chunks they lie in.
    fn pieces(&self, a: usize, b: usize) -> impl Iterator<Item = &[T]> {
        Self::cut(self.chunks.iter(), a, b, |c| c.len()).map(|(c, r)| &c[r])
    }

    fn pieces_mut(&mut self, a: usize, b: usize) -> impl Iterator<Item = &mut [T]> {
        Self::cut(self.chunks.iter_mut(), a, b, |c| c.len()).map(|(c, r)| &mut c[r])
    }

    /// The chunks holding elements `a..b`, each with the range of it they take (`len`: a
    /// chunk's length): [`Chunks::pieces`] and [`Chunks::pieces_mut`] cut along these.
    fn cut<C>(
        chunks: impl Iterator<Item = C>,
        a: usize,
        b: usize,
        len: impl Fn(&C) -> usize,
    ) -> impl Iterator<Item = (C, std::ops::Range<usize>)> {
        let chunk = Self::CHUNK;
        chunks
            .enumerate()
            .skip(a / chunk)
            .take_while(move |(k, _)| k * chunk < b)
            .map(move |(k, c)| {
                let r = a.saturating_sub(k * chunk)..(b - k * chunk).min(len(&c));
                (c, r)
            })
    }

    /// Frees the chunks wholly before element `at` (they are read no more).
    fn release_before(&mut self, at: usize) {
        let upto = (at / Self::CHUNK).min(self.chunks.len());
        for c in &mut self.chunks[self.released..upto.max(self.released)] {
            *c = Vec::new();
        }
        self.released = self.released.max(upto);
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.chunks.capacity() * std::mem::size_of::<Vec<T>>()
            + self
                .chunks
                .iter()
                .map(|c| c.capacity() * std::mem::size_of::<T>())
                .sum::<usize>()
    }
}

/// Takes the cell of `id` out of a window's run of cells (sorted by id, in pieces) with
/// `take`, which leaves it without counts.
fn take_in<'a, T: Copy + 'a, C>(
    pieces: impl Iterator<Item = &'a mut [T]>,
    id: u32,
    id_of: impl Fn(&T) -> u32,
    take: impl Fn(&mut T) -> C,
) -> Option<C> {
    for piece in pieces {
        if let Ok(k) = piece.binary_search_by_key(&id, &id_of) {
            return Some(take(&mut piece[k]));
        }
    }
    None
}

fn offset(len: usize) -> u32 {
    u32::try_from(len).expect("fewer than 2^32 cells in one dimension's windows")
}

impl Closed {
    fn windows(&self) -> usize {
        self.small_at.len().saturating_sub(1)
    }

    /// The window after the last packed one (where the next [`Closed::push`] may go).
    pub(super) fn end(&self) -> i64 {
        self.first + self.windows() as i64
    }

    /// Packs `slab` as window `window`, which is at or after [`Closed::end`] (the windows
    /// between are packed empty).
    pub(super) fn push(&mut self, window: i64, slab: &Slab) {
        self.push_cells(window, slab.cells());
    }

    fn push_cells(&mut self, window: i64, cells: impl Iterator<Item = (u32, Cell)>) {
        if self.small_at.is_empty() {
            self.first = window;
            self.small_at.push(0);
            self.wide_at.push(0);
        }
        assert!(window >= self.end(), "windows are packed in order");
        let (s, w) = (offset(self.small.len()), offset(self.wide.len()));
        while self.end() < window {
            self.small_at.push(s);
            self.wide_at.push(w);
        }
        for (id, c) in cells {
            match Small::of(&c) {
                Some(b) => self.small.file(id, b, &mut self.scratch),
                None => self.scratch.wide.push((id, c)),
            }
        }
        // By id within each array (cells come by id within each width, and a cell whose
        // byte counts found no code joins the wide ones).
        self.scratch.wide.sort_unstable_by_key(|c| c.0);
        self.scratch.wide.drain(..).for_each(|c| self.wide.push(c));
        self.small.push_all(&mut self.scratch);
        self.small_at.push(offset(self.small.len()));
        self.wide_at.push(offset(self.wide.len()));
    }

    /// Where the packed cells of `window` are in `small` and in `wide` (empty outside
    /// the packed windows).
    fn runs(&self, window: i64) -> ((usize, usize), (usize, usize)) {
        let w = window - self.first;
        if w < 0 || w >= self.windows() as i64 {
            return ((0, 0), (0, 0));
        }
        let w = w as usize;
        let run = |at: &[u32]| (at[w] as usize, at[w + 1] as usize);
        (run(&self.small_at), run(&self.wide_at))
    }

    /// The packed cells of `window` with counts (none outside the packed windows).
    fn packed(&self, window: i64) -> impl Iterator<Item = (u32, Cell)> + '_ {
        let ((s0, s1), (w0, w1)) = self.runs(window);
        let wide = self.wide.pieces(w0, w1).flatten();
        self.small
            .cells(s0, s1)
            .chain(wide.copied())
            .filter(|(_, c)| c.requests > 0)
    }

    /// The cells of `window` with counts, by id within each width.
    pub(super) fn cells(&self, window: i64) -> Box<dyn Iterator<Item = (u32, Cell)> + '_> {
        if let Some(slab) = self.reopened.get(&window) {
            return slab.cells();
        }
        Box::new(self.packed(window))
    }

    /// The window numbers that may hold cells, in order.
    pub(super) fn range(&self) -> std::ops::Range<i64> {
        let packed = (self.windows() > 0).then(|| self.first..self.end());
        let reopened = match (
            self.reopened.keys().next(),
            self.reopened.keys().next_back(),
        ) {
            (Some(&lo), Some(&hi)) => Some(lo..hi + 1),
            _ => None,
        };
        match (packed, reopened) {
            (Some(a), Some(b)) => a.start.min(b.start)..a.end.max(b.end),
            (Some(r), None) | (None, Some(r)) => r,
            (None, None) => 0..0,
        }
    }

    /// The window, to add counts to: packed windows are reopened.
    pub(super) fn reopen(&mut self, window: i64) -> &mut Slab {
        if !self.reopened.contains_key(&window) && self.reopened.len() > 64 + self.windows() / 4 {
            self.repack();
        }
        if !self.reopened.contains_key(&window) {
            let mut slab = Slab::sparse();
            for (id, c) in self.packed(window) {
                slab.set(id, c, 0);
            }
            self.reopened.insert(window, slab);
        }
        self.reopened.get_mut(&window).expect("inserted above")
    }

    /// Removes the cell of `id` in `window`.
    pub(super) fn take(&mut self, window: i64, id: u32) -> Option<Cell> {
        if let Some(slab) = self.reopened.get_mut(&window) {
            return slab.take(id);
        }
        let ((s0, s1), (w0, w1)) = self.runs(window);
        let cell = match self.small.take(s0, s1, id) {
            Some(cell) => cell,
            None => take_in(
                self.wide.pieces_mut(w0, w1),
                id,
                |c| c.0,
                |c| std::mem::take(&mut c.1),
            )?,
        };
        (cell.requests > 0).then_some(cell)
    }

    /// Frees the packed cells of the windows before `window`, once read for the last time
    /// (a reopened window's cells are in its slab).
    pub(super) fn release_before(&mut self, window: i64) {
        let ((s0, _), (w0, _)) = self.runs(window);
        self.small.release_before(s0);
        self.wide.release_before(w0);
    }

    /// Packs every window again, the reopened ones with their new counts.
    fn repack(&mut self) {
        let mut out = Closed::default();
        for window in self.range() {
            out.push_cells(window, self.cells(window));
        }
        *self = out;
    }

    /// Windows reopened since the last repack.
    #[cfg(test)]
    pub(super) fn reopened(&self) -> usize {
        self.reopened.len()
    }

    /// Cells held (taken ones included, until a repack).
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        self.small.len() + self.wide.len() + self.reopened.values().map(Slab::held).sum::<usize>()
    }

    /// Bytes held (allocated capacity, the reopened windows' slabs included).
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        use std::mem::size_of;
        (self.small_at.capacity() + self.wide_at.capacity()) * size_of::<u32>()
            + self.small.bytes()
            + self.wide.bytes()
            + self
                .reopened
                .values()
                .map(|s| size_of::<(i64, Slab)>() + s.bytes())
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(requests: u16) -> Cell {
        Cell {
            requests,
            errors: requests / 2,
            ..Cell::default()
        }
    }

    fn slab(cells: &[(u32, u16)]) -> Slab {
        let mut s = Slab::default();
        for &(id, r) in cells {
            s.set(id, cell(r), 8);
        }
        s
    }

    fn all(c: &Closed) -> Vec<(i64, u32, u16)> {
        let mut v: Vec<(i64, u32, u16)> = c
            .range()
            .flat_map(|w| c.cells(w).map(move |(id, x)| (w, id, x.requests)))
            .collect();
        v.sort();
        v
    }

    /// Packed windows read back as they were (byte and 16-bit cells, gaps, a taken
    /// cell), and a reopened window, a window before the first and a repack keep every
    /// count.
    #[test]
    fn packed_windows_keep_their_cells_through_reopening_and_repacking() {
        let mut c = Closed::default();
        c.push(10, &slab(&[(1, 3), (4, 300), (6, 1)]));
        c.push(13, &slab(&[(2, 5)]));
        assert_eq!(c.range(), 10..14);
        assert_eq!(c.end(), 14);
        assert_eq!(
            all(&c),
            vec![(10, 1, 3), (10, 4, 300), (10, 6, 1), (13, 2, 5)]
        );
        assert_eq!(c.take(10, 4).map(|x| x.requests), Some(300));
        assert_eq!(c.take(10, 4), None);
        assert_eq!(c.take(11, 4), None);

        // Late input: window 10 again, and window 8 before the first.
        let s = c.reopen(10);
        s.set(2, cell(7), 8);
        s.set(1, cell(4), 8);
        c.reopen(8).set(5, cell(1), 8);
        let want = vec![(8, 5, 1), (10, 1, 4), (10, 2, 7), (10, 6, 1), (13, 2, 5)];
        assert_eq!(c.range(), 8..14);
        assert_eq!(all(&c), want);
        c.repack();
        assert!(c.reopened.is_empty());
        assert_eq!(c.range(), 8..14);
        assert_eq!(all(&c), want);
        assert_eq!(c.held(), 5);
        c.push(20, &slab(&[(3, 1000)]));
        assert_eq!(all(&c).last(), Some(&(20, 3, 1000)));

        // Window numbers before 1970 are negative: the range is theirs, not up to 0.
        let mut old = Closed::default();
        old.push(-500, &slab(&[(1, 2)]));
        old.push(-498, &slab(&[(1, 3)]));
        assert_eq!(old.range(), -500..-497);
        old.repack();
        assert_eq!(old.range(), -500..-497);
    }

    /// Windows whose cells straddle chunks read, take and reopen like the others.
    #[test]
    fn windows_across_chunks_keep_their_cells() {
        let per = Chunks::<Coded>::CHUNK;
        let mut c = Closed::default();
        let mut want = Vec::new();
        for w in 0..5i64 {
            let cells: Vec<(u32, u16)> = (0..(per as u32 * 2 / 3))
                .map(|id| (id * 3, 1 + (id % 200) as u16))
                .collect();
            let mut s = Slab::sparse();
            for &(id, r) in &cells {
                s.set(id, cell(r), 0);
                want.push((w, id, r));
            }
            c.push(w, &s);
        }
        let ByteCells::Coded { cells, .. } = &c.small else {
            panic!("200 combinations of counts are coded");
        };
        assert!(cells.chunks.len() >= 3, "the windows straddle chunks");
        assert_eq!(all(&c), want);
        // The last cell of window 1 and the first of window 3, wherever they lie.
        let last = (per as u32 * 2 / 3 - 1) * 3;
        assert_eq!(
            c.take(1, last).map(|x| x.requests),
            Some(1 + ((last / 3) % 200) as u16)
        );
        assert_eq!(c.take(1, last), None);
        assert_eq!(c.take(3, 0).map(|x| x.requests), Some(1));
        let n = want.len();
        assert_eq!(all(&c).len(), n - 2);
        c.reopen(2).set(1, cell(9), 0);
        assert_eq!(all(&c).len(), n - 1);
        // Read in order, each window's chunks are freed once behind it; the rest reads on.
        let before = c.small.bytes();
        c.release_before(3);
        assert!(c.small.bytes() < before);
        let rest: usize = (3..5).map(|w| c.cells(w).count()).sum();
        assert_eq!(rest, want.iter().filter(|e| e.0 >= 3).count() - 1);
    }

    /// A packed cell of small counts takes 5 bytes (its key id and a palette code), not
    /// the 12 of an id and seven byte counts: a year of 1 M records packs 2.3 M of them.
    #[test]
    fn cells_of_small_counts_pack_in_five_bytes() {
        let mut c = Closed::default();
        let cells = 200_000usize;
        for w in 0..(cells / 4) as i64 {
            let other = (w % 1000) as u32 + 10;
            c.push(
                w,
                &slab(&[(1, 1), (5, 2), (9, 3), (other, 1 + (w % 7) as u16)]),
            );
        }
        assert_eq!(all(&c).len(), cells);
        let packed = c.small.bytes() + c.wide.bytes();
        // Rounded up to a chunk of each array, plus the chunks' list.
        let bound = cells * 5 + 2 * (256 << 10) + 4096;
        assert!(packed <= bound, "{packed} bytes for {cells} cells");
    }

    /// Past the palette's 255 codes, cells go with the wide ones, and each window still
    /// reads, takes and reopens by id, whichever array its cells went to.
    #[test]
    fn cells_past_the_palette_go_with_the_wide_ones() {
        let mut c = Closed::default();
        let mut want = Vec::new();
        // 600 distinct byte-sized counts in window 0 (ids interleaved between the two
        // arrays), then some of them again in window 1.
        let counts = |id: u32| Cell {
            requests: 1 + (id % 250) as u16,
            errors: (id / 250) as u16,
            ..Cell::default()
        };
        for w in 0..2i64 {
            let mut s = Slab::sparse();
            for id in (0..600u32).filter(|id| w == 0 || id % 3 == 0) {
                s.set(id, counts(id), 0);
                want.push((w, id, counts(id).requests));
            }
            c.push(w, &s);
        }
        let ByteCells::Coded { palette, .. } = &c.small else {
            panic!("a few hundred cells without a code leave the cells coded");
        };
        assert_eq!(palette.values.len(), 255);
        assert!(
            c.wide.len() > 300,
            "the cells without a code go with the wide ones"
        );
        want.sort();
        assert_eq!(all(&c), want);
        for id in [0, 299, 300, 599] {
            let got = c.take(0, id).map(|x| (x.requests, x.errors));
            assert_eq!(got, Some((counts(id).requests, counts(id).errors)));
            assert_eq!(c.take(0, id), None);
        }
        assert_eq!(all(&c).len(), want.len() - 4);
        c.reopen(1).set(1, cell(9), 0);
        c.repack();
        let got = all(&c);
        assert_eq!(got.len(), want.len() - 3);
        assert!(got.contains(&(1, 1, 9)) && got.contains(&(1, 597, counts(597).requests)));
    }

    /// A dimension whose counts vary too much for the palette (busy keys over a long
    /// span) has its coded cells written out whole, once, and keeps every count and every
    /// taken cell: 12 bytes a cell, as before the palette, plus the cells that found no
    /// code before the switch.
    #[test]
    fn counts_too_varied_for_the_palette_are_kept_whole() {
        let counts = |w: i64, id: u32| {
            let x = (w as u32 * 7 + id * 13) % 60_000;
            Cell {
                requests: 1 + (x % 250) as u16,
                errors: (x / 250 % 200) as u16,
                ..Cell::default()
            }
        };
        let mut c = Closed::default();
        let mut want = Vec::new();
        for w in 0..3000i64 {
            let mut s = Slab::sparse();
            for id in 0..8u32 {
                s.set(id, counts(w, id), 0);
                want.push((w, id, counts(w, id).requests));
            }
            c.push(w, &s);
            if w == 100 {
                // Taken while coded: still taken once whole.
                assert_eq!(c.take(5, 3).map(|x| x.errors), Some(counts(5, 3).errors));
                want.retain(|e| *e != (5, 3, counts(5, 3).requests));
            }
        }
        assert!(matches!(c.small, ByteCells::Whole(_)));
        want.sort();
        assert_eq!(all(&c), want);
        assert_eq!(
            c.take(2000, 4).map(|x| x.requests),
            Some(counts(2000, 4).requests)
        );
        assert_eq!(c.take(2000, 4), None);
        let cells = 3000 * 8;
        let bound = cells * 12 + (256 << 10) + 4096;
        assert!(c.small.bytes() <= bound, "{} bytes", c.small.bytes());
        assert!(c.wide.len() < 6000, "{} cells without a code", c.wide.len());
        c.reopen(7).set(1, cell(9), 0);
        c.repack();
        assert_eq!(all(&c).len(), want.len() - 1);
    }

    /// Many reopened windows are packed again in bulk, so a second pass over the span
    /// (a second file covering the same days) ends packed, not as a slab per window.
    #[test]
    fn a_second_pass_over_the_span_is_packed_again() {
        let mut c = Closed::default();
        for w in 0..10_000i64 {
            c.push(w, &slab(&[((w % 7) as u32, 1)]));
        }
        for w in 0..10_000i64 {
            let s = c.reopen(w);
            let id = (w % 5) as u32 + 10;
            let now = s.get(id).map_or(0, |x| x.requests);
            s.set(id, cell(now + 1), 16);
        }
        assert!(c.reopened.len() <= 64 + 10_000 / 4 + 1);
        assert_eq!(all(&c).len(), 20_000);
        // The packed copies of the windows reopened since the last repack, at most.
        assert!(c.held() <= 20_000 + c.reopened.len());
        let per_window = all(&c).iter().filter(|e| e.0 == 9_999).count();
        assert_eq!(per_window, 2);
    }
}
