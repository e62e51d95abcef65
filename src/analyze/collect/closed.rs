//! The windows the input has moved past, packed ([`Closed`]): every window's cells one
//! after another in two arrays (a byte per count, or 16 bits past a byte), found by
//! offsets. A packed window costs 8 bytes and a cell 12 (20 past a byte), with no
//! allocation per window. A year of 5-minute windows is 105,120 windows per dimension: a
//! [`Slab`] per window (48 bytes, plus allocations of their own with room to grow) was
//! most of what a long span held.
//!
//! Input that reaches a packed window again (files overlapping in time, late records)
//! reopens it: its cells move to a sparse [`Slab`] that takes the new counts, and the
//! reopened windows are packed again in bulk once they are many.

use std::collections::BTreeMap;

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
    /// The cells, window after window, by key id within a window (a taken cell stays as
    /// zero counts).
    small: Vec<(u32, Small)>,
    wide: Vec<(u32, Cell)>,
    /// Windows reached again after they were packed, or before the first one: these
    /// hold their cells (their packed cells, if any, are stale until the next repack).
    reopened: BTreeMap<i64, Slab>,
}

/// One packed window's cells: in bytes, and in 16 bits.
type Packed<'a> = (&'a [(u32, Small)], &'a [(u32, Cell)]);

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
                Some(b) => self.small.push((id, b)),
                None => self.wide.push((id, c)),
            }
        }
        self.small_at.push(offset(self.small.len()));
        self.wide_at.push(offset(self.wide.len()));
    }

    /// The packed cells of `window` (none outside the packed windows).
    fn packed(&self, window: i64) -> Packed<'_> {
        let w = window - self.first;
        if w < 0 || w >= self.windows() as i64 {
            return (&[], &[]);
        }
        let w = w as usize;
        let range = |at: &[u32]| at[w] as usize..at[w + 1] as usize;
        (
            &self.small[range(&self.small_at)],
            &self.wide[range(&self.wide_at)],
        )
    }

    /// The cells of `window` with counts, by id within each width.
    pub(super) fn cells(&self, window: i64) -> Box<dyn Iterator<Item = (u32, Cell)> + '_> {
        if let Some(slab) = self.reopened.get(&window) {
            return slab.cells();
        }
        let (small, wide) = self.packed(window);
        Box::new(
            small
                .iter()
                .map(|(id, b)| (*id, b.cell()))
                .chain(wide.iter().copied())
                .filter(|(_, c)| c.requests > 0),
        )
    }

    /// The window numbers that may hold cells, in order.
    pub(super) fn range(&self) -> std::ops::Range<i64> {
        let lo = self.reopened.keys().next().copied();
        let hi = self.reopened.keys().next_back().map(|w| w + 1);
        match (self.windows() > 0, lo, hi) {
            (true, lo, hi) => {
                lo.unwrap_or(self.first).min(self.first)..hi.unwrap_or(0).max(self.end())
            }
            (false, Some(lo), Some(hi)) => lo..hi,
            _ => 0..0,
        }
    }

    /// The window, to add counts to: packed windows are reopened.
    pub(super) fn reopen(&mut self, window: i64) -> &mut Slab {
        if !self.reopened.contains_key(&window) && self.reopened.len() > 64 + self.windows() / 4 {
            self.repack();
        }
        if !self.reopened.contains_key(&window) {
            let mut slab = Slab::sparse();
            if let Slab::Sparse { small, wide } = &mut slab {
                let (s, w) = self.packed(window);
                small.extend(s.iter().filter(|(_, b)| b.cell().requests > 0));
                wide.extend(w.iter().filter(|(_, c)| c.requests > 0));
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
        let w = window - self.first;
        if w < 0 || w >= self.windows() as i64 {
            return None;
        }
        let w = w as usize;
        let small = &mut self.small[self.small_at[w] as usize..self.small_at[w + 1] as usize];
        if let Ok(k) = small.binary_search_by_key(&id, |e| e.0) {
            let cell = std::mem::take(&mut small[k].1).cell();
            return (cell.requests > 0).then_some(cell);
        }
        let wide = &mut self.wide[self.wide_at[w] as usize..self.wide_at[w + 1] as usize];
        let k = wide.binary_search_by_key(&id, |e| e.0).ok()?;
        let cell = std::mem::take(&mut wide[k].1);
        (cell.requests > 0).then_some(cell)
    }

    /// Packs every window again, the reopened ones with their new counts.
    fn repack(&mut self) {
        let mut out = Closed::default();
        for window in self.range() {
            out.push_cells(window, self.cells(window));
        }
        *self = out;
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
            + self.small.capacity() * size_of::<(u32, Small)>()
            + self.wide.capacity() * size_of::<(u32, Cell)>()
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
