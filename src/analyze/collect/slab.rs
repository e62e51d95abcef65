//! One window's counts of a dimension's keys ([`Slab`]): dense (a cell per key id) while
//! the window is being filled, sparse (only the keys with counts, by id) once the input has
//! moved on. A long span then holds what happened, not keys x windows: 90 days of 5-minute
//! windows with a few thousand keys were gigabytes of mostly zero cells.

use crate::analyze::tables::Cell;

/// Windows behind the newest one that stay dense (input in time order touches the last
/// few; an older window reached again is updated in its sparse form).
pub(super) const DENSE_WINDOWS: usize = 12;

#[derive(Debug, Clone)]
pub(super) enum Slab {
    /// A cell per key id (possibly shorter than the keys: the rest are zero).
    Dense(Vec<Cell>),
    /// The keys with counts, sorted by id.
    Sparse(Vec<(u32, Cell)>),
}

impl Default for Slab {
    fn default() -> Slab {
        Slab::Dense(Vec::new())
    }
}

impl Slab {
    /// The cell of `id`, if it has one.
    #[cfg(test)]
    pub(super) fn get_mut(&mut self, id: u32) -> Option<&mut Cell> {
        match self {
            Slab::Dense(v) => v.get_mut(id as usize),
            Slab::Sparse(v) => match v.binary_search_by_key(&id, |e| e.0) {
                Ok(k) => Some(&mut v[k].1),
                Err(_) => None,
            },
        }
    }

    /// The cell of `id`, made when missing (a dense slab grows to `keys` cells at once:
    /// new keys are few after the first windows).
    pub(super) fn entry(&mut self, id: u32, keys: usize) -> &mut Cell {
        match self {
            Slab::Dense(v) => {
                if v.len() <= id as usize {
                    v.resize(keys.max(id as usize + 1), Cell::default());
                }
                &mut v[id as usize]
            }
            Slab::Sparse(v) => {
                let k = match v.binary_search_by_key(&id, |e| e.0) {
                    Ok(k) => k,
                    Err(k) => {
                        v.insert(k, (id, Cell::default()));
                        k
                    }
                };
                &mut v[k].1
            }
        }
    }

    /// Removes the cell of `id` (a dense one becomes zero).
    pub(super) fn take(&mut self, id: u32) -> Option<Cell> {
        match self {
            Slab::Dense(v) => v.get_mut(id as usize).map(std::mem::take),
            Slab::Sparse(v) => match v.binary_search_by_key(&id, |e| e.0) {
                Ok(k) => Some(v.remove(k).1),
                Err(_) => None,
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
            Slab::Sparse(v) => Box::new(v.iter().copied().filter(|(_, c)| c.requests > 0)),
        }
    }

    /// Keeps only the cells with counts.
    pub(super) fn compact(&mut self) {
        if let Slab::Dense(_) = self {
            let sparse: Vec<(u32, Cell)> = self.cells().collect();
            *self = Slab::Sparse(sparse);
        }
    }

    /// Cells held (dense: one per key id; sparse: one per key with counts).
    #[cfg(test)]
    pub(super) fn held(&self) -> usize {
        match self {
            Slab::Dense(v) => v.len(),
            Slab::Sparse(v) => v.len(),
        }
    }

    #[cfg(test)]
    pub(super) fn is_dense(&self) -> bool {
        matches!(self, Slab::Dense(_))
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
        *d.entry(5, 8) = one();
        *d.entry(2, 8) = one();
        d.entry(2, 8).requests += 1;
        let before: Vec<(u32, Cell)> = d.cells().collect();
        let mut s = d.clone();
        s.compact();
        assert!(!s.is_dense());
        assert_eq!(s.cells().collect::<Vec<_>>(), before);
        // A late event reaching a compacted window.
        s.entry(3, 8).requests += 1;
        d.entry(3, 8).requests += 1;
        assert_eq!(s.cells().collect::<Vec<_>>(), d.cells().collect::<Vec<_>>());
        assert_eq!(s.take(2).map(|c| c.requests), Some(2));
        assert!(s.get_mut(2).is_none());
        assert_eq!(s.cells().count(), 2);
    }
}
