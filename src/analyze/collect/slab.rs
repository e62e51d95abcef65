//! One window's counts of a dimension's keys ([`Slab`]): dense (a cell per key id) while
//! the window is being filled, sparse (only the keys with counts, by id) when a window the
//! input had moved past is reached again. The windows behind the input are packed
//! (`closed.rs`). A long span then holds what happened, not keys x windows: 90 days of
//! 5-minute windows with a few thousand keys were gigabytes of mostly zero cells.

use crate::analyze::tables::Cell;
pub(super) use crate::analyze::tables::Small;

/// Windows behind the newest one that stay dense (input in time order touches the last
/// few; older ones are packed, and a packed window reached again is reopened sparse).
pub(super) const DENSE_WINDOWS: usize = 12;

#[derive(Debug, Clone)]
pub(super) enum Slab {
    /// A cell per key id (possibly shorter than the keys: the rest are zero).
    Dense(Vec<Cell>),
    /// The keys with counts, sorted by id: most in bytes (`small`: a window's counts of
    /// one key are mostly a handful), the others in 16 bits (`wide`). An id is in one.
    Sparse {
        small: Vec<(u32, Small)>,
        wide: Vec<(u32, Cell)>,
    },
}

impl Default for Slab {
    fn default() -> Slab {
        Slab::Dense(Vec::new())
    }
}

impl Slab {
    pub(super) fn sparse() -> Slab {
        Slab::Sparse {
            small: Vec::new(),
            wide: Vec::new(),
        }
    }

    /// The cell of `id`, if it has one.
    pub(super) fn get(&self, id: u32) -> Option<Cell> {
        match self {
            Slab::Dense(v) => v.get(id as usize).copied(),
            Slab::Sparse { small, wide } => match small.binary_search_by_key(&id, |e| e.0) {
                Ok(k) => Some(small[k].1.cell()),
                Err(_) => wide
                    .binary_search_by_key(&id, |e| e.0)
                    .ok()
                    .map(|k| wide[k].1),
            },
        }
    }

    /// Sets the cell of `id` (a dense slab grows to `keys` cells at once: new keys are few
    /// after the first windows).
    pub(super) fn set(&mut self, id: u32, cell: Cell, keys: usize) {
        match self {
            Slab::Dense(v) => {
                if v.len() <= id as usize {
                    v.resize(keys.max(id as usize + 1), Cell::default());
                }
                v[id as usize] = cell;
            }
            Slab::Sparse { small, wide } => {
                let in_small = small.binary_search_by_key(&id, |e| e.0);
                let in_wide = wide.binary_search_by_key(&id, |e| e.0);
                match (Small::of(&cell), in_small, in_wide) {
                    (Some(b), Ok(k), _) => small[k].1 = b,
                    (Some(b), Err(k), Ok(j)) => {
                        wide.remove(j);
                        small.insert(k, (id, b));
                    }
                    (Some(b), Err(k), Err(_)) => small.insert(k, (id, b)),
                    (None, Ok(k), Err(j)) => {
                        small.remove(k);
                        wide.insert(j, (id, cell));
                    }
                    (None, _, Ok(j)) => wide[j].1 = cell,
                    (None, Err(_), Err(j)) => wide.insert(j, (id, cell)),
                }
            }
        }
    }

    /// Removes the cell of `id` (a dense one becomes zero).
    pub(super) fn take(&mut self, id: u32) -> Option<Cell> {
        match self {
            Slab::Dense(v) => v.get_mut(id as usize).map(std::mem::take),
            Slab::Sparse { small, wide } => match small.binary_search_by_key(&id, |e| e.0) {
                Ok(k) => Some(small.remove(k).1.cell()),
                Err(_) => match wide.binary_search_by_key(&id, |e| e.0) {
                    Ok(j) => Some(wide.remove(j).1),
                    Err(_) => None,
                },
            },
        }
    }

    /// The cells with counts (`requests` > 0, or spilled), by id.
    pub(super) fn cells(&self) -> Box<dyn Iterator<Item = (u32, Cell)> + '_> {
        match self {
            Slab::Dense(v) => Box::new(
                v.iter()
                    .enumerate()
                    .filter(|(_, c)| c.requests > 0)
                    .map(|(id, c)| (id as u32, *c)),
            ),
            Slab::Sparse { small, wide } => Box::new(
                small
                    .iter()
                    .map(|(id, b)| (*id, b.cell()))
                    .chain(wide.iter().copied())
                    .filter(|(_, c)| c.requests > 0),
            ),
        }
    }

    /// Cells held (dense: one per key id; sparse: one per key with counts).
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        match self {
            Slab::Dense(v) => v.len(),
            Slab::Sparse { small, wide } => small.len() + wide.len(),
        }
    }

    /// Bytes held (allocated capacity).
    #[cfg(test)]
    pub(super) fn bytes(&self) -> usize {
        use std::mem::size_of;
        match self {
            Slab::Dense(v) => v.capacity() * size_of::<Cell>(),
            Slab::Sparse { small, wide } => {
                small.capacity() * size_of::<(u32, Small)>()
                    + wide.capacity() * size_of::<(u32, Cell)>()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one() -> Cell {
        Cell {
            requests: 1,
            ..Cell::default()
        }
    }

    #[test]
    fn dense_and_sparse_hold_the_same_cells() {
        let mut d = Slab::default();
        d.set(5, one(), 8);
        d.set(2, one(), 8);
        let mut two = one();
        two.requests = 2;
        d.set(2, two, 8);
        let mut s = Slab::sparse();
        for (id, c) in d.cells() {
            s.set(id, c, 8);
        }
        assert_eq!(s.cells().collect::<Vec<_>>(), d.cells().collect::<Vec<_>>());
        // A late event reaching a compacted window, and counts past a byte.
        s.set(3, one(), 8);
        d.set(3, one(), 8);
        let mut big = one();
        big.requests = 300;
        s.set(5, big, 8);
        d.set(5, big, 8);
        let sorted = |x: &Slab| {
            let mut v: Vec<(u32, Cell)> = x.cells().collect();
            v.sort_by_key(|e| e.0);
            v
        };
        assert_eq!(sorted(&s), sorted(&d));
        assert_eq!(s.get(5).map(|c| c.requests), Some(300));
        assert_eq!(s.take(2).map(|c| c.requests), Some(2));
        assert!(s.get(2).is_none());
        assert_eq!(s.held(), 2);
    }
}
