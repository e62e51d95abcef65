//! Exact duplicates: a record exported twice (overlapping exports, a file copied into
//! two folders, a retried shipper) would count twice in every rate. A record is a
//! duplicate of an earlier one when it carries a request id and its text is the same,
//! byte for byte (for a record holding several events: the same event of the same text).
//! Records without a request id are never duplicates: two identical lines of a text log
//! may be two real events in the same second.
//!
//! Decoder threads fingerprint each event (xxh3 of the record's text, seeded by the
//! event's place in the record); this runs on the calling thread, in input order, so the
//! first copy is the one kept and reruns agree. Fingerprints are held per hour of event
//! time (a copy has the same time). Memory is bounded by `[ingest] duplicate_memory`
//! (overshot by at most one batch's run of one hour): past it, the hours least recently seen are forgotten, and a later record of a
//! forgotten hour is counted as `duplicates_unchecked` (it may have a copy errscope no
//! longer remembers), so a partial check is never reported as a complete one.

use std::collections::{HashMap, HashSet};

use arrow_array::BooleanArray;

use crate::ingest::rules::DuplicateMode;

const HOUR_US: i64 = 3_600_000_000;

/// The fingerprint of one event: 0 when it is not checked (no request id).
pub fn fingerprint(record: &[u8], event_in_record: u64) -> u64 {
    // Never 0: that means "not checked". (Not `| 1`: the hash table indexes by the low
    // bits, which must stay uniform.)
    xxhash_rust::xxh3::xxh3_64_with_seed(record, event_in_record).max(1)
}

/// Fingerprints by hour (µs-epoch hour number), carried from one `--state` run to the next.
pub type Carried = Vec<(i64, Vec<u64>)>;

const CARRY_MAGIC: &[u8; 8] = b"ESDUP01\n";

/// [`Carried`] as bytes: a magic line, then per hour its number (i64), its count (u32) and
/// its fingerprints (u64), little-endian.
pub fn encode(carried: &Carried) -> Vec<u8> {
    let n: usize = carried.iter().map(|(_, f)| 12 + 8 * f.len()).sum();
    let mut out = Vec::with_capacity(8 + n);
    out.extend_from_slice(CARRY_MAGIC);
    for (hour, fps) in carried {
        out.extend_from_slice(&hour.to_le_bytes());
        out.extend_from_slice(&(fps.len() as u32).to_le_bytes());
        for f in fps {
            out.extend_from_slice(&f.to_le_bytes());
        }
    }
    out
}

/// [`encode`]'s bytes back; `None` when they are not such a file or are cut short.
pub fn decode(bytes: &[u8]) -> Option<Carried> {
    let mut rest = bytes.strip_prefix(CARRY_MAGIC.as_slice())?;
    let mut out = Vec::new();
    while !rest.is_empty() {
        let hour = i64::from_le_bytes(rest.get(..8)?.try_into().ok()?);
        let n = u32::from_le_bytes(rest.get(8..12)?.try_into().ok()?) as usize;
        let body = rest.get(12..12 + 8 * n)?;
        let fps = body
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
            .collect();
        out.push((hour, fps));
        rest = &rest[12 + 8 * n..];
    }
    Some(out)
}

/// What [`Dedup::check`] found in one batch.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DupCounts {
    /// Copies left out of the events (`duplicates = "drop"`).
    pub dropped: u64,
    /// Copies counted and kept (`duplicates = "keep"`).
    pub kept: u64,
    /// Events of an hour whose fingerprints had been forgotten (memory bound).
    pub unchecked: u64,
}

struct Hour {
    seen: hashbrown::HashTable<u64>,
    used: u64,
}

/// The fingerprints seen so far, by hour of event time.
pub struct Dedup {
    mode: DuplicateMode,
    cap: usize,
    hours: HashMap<i64, Hour>,
    held: usize,
    /// Events of the hour last checked: the size of the next new hour's table.
    last_len: usize,
    last_hour: Option<i64>,
    tick: u64,
    forgotten: HashSet<i64>,
}

impl Dedup {
    /// `cap`: the most fingerprint slots held, filled or reserved (0: do not look for
    /// duplicates).
    pub fn new(mode: DuplicateMode, cap: usize) -> Self {
        Dedup {
            mode: if cap == 0 { DuplicateMode::Off } else { mode },
            cap,
            hours: HashMap::new(),
            held: 0,
            last_len: 0,
            last_hour: None,
            tick: 0,
            forgotten: HashSet::new(),
        }
    }

    pub fn active(&self) -> bool {
        self.mode != DuplicateMode::Off
    }

    /// Checks a batch's events (`ts`: event times in µs, `fps`: their fingerprints) and
    /// returns which rows to keep (`None`: all of them) with what was found.
    pub fn check(&mut self, ts: &[i64], fps: &[u64]) -> (Option<BooleanArray>, DupCounts) {
        let mut counts = DupCounts::default();
        if !self.active() {
            return (None, counts);
        }
        let mut drop_rows: Vec<usize> = Vec::new();
        let mut row = 0;
        // Runs of events of one hour (most of a batch): one bucket lookup a run.
        while row < ts.len() {
            let hour = ts[row].div_euclid(HOUR_US);
            let mut end = row + 1;
            while end < ts.len() && ts[end].div_euclid(HOUR_US) == hour {
                end += 1;
            }
            let forgotten = !self.forgotten.is_empty() && self.forgotten.contains(&hour);
            // The hour after the one last checked (time-ordered input) is sized like it,
            // within what the budget has left: no rehashing as it fills.
            let hint = if self.last_hour == Some(hour - 1) {
                self.last_len.min(self.cap.saturating_sub(self.held))
            } else {
                0
            };
            let (h, slots_before) = match self.hours.entry(hour) {
                std::collections::hash_map::Entry::Occupied(o) => {
                    let h = o.into_mut();
                    let c = h.seen.capacity();
                    (h, c)
                }
                std::collections::hash_map::Entry::Vacant(v) => (
                    v.insert(Hour {
                        seen: hashbrown::HashTable::with_capacity(hint),
                        used: 0,
                    }),
                    0,
                ),
            };
            for (r, &fp) in fps.iter().enumerate().take(end).skip(row) {
                if fp == 0 {
                    continue;
                }
                counts.unchecked += u64::from(forgotten);
                match h.seen.entry(fp, |&x| x == fp, |&x| x) {
                    hashbrown::hash_table::Entry::Occupied(_) => {
                        if self.mode == DuplicateMode::Drop {
                            counts.dropped += 1;
                            drop_rows.push(r);
                        } else {
                            counts.kept += 1;
                        }
                    }
                    hashbrown::hash_table::Entry::Vacant(v) => {
                        v.insert(fp);
                    }
                }
            }
            self.tick += 1;
            h.used = self.tick;
            // What is held is the tables' slots, reserved or filled.
            self.held = self.held + h.seen.capacity() - slots_before;
            self.last_len = h.seen.len();
            self.last_hour = Some(hour);
            // Past the budget (by at most one run of a batch): forget the oldest hours.
            if self.held > self.cap {
                self.forget();
            }
            row = end;
        }
        if drop_rows.is_empty() {
            return (None, counts);
        }
        let mut keep = vec![true; ts.len()];
        for r in drop_rows {
            keep[r] = false;
        }
        (Some(BooleanArray::from(keep)), counts)
    }

    /// The fingerprints of the latest `hours` hours of event time held, most recent first
    /// and at most `max` in all: what the next `--state` run checks its records against
    /// (nightly exports that overlap by an hour).
    pub fn latest(&self, hours: usize, max: usize) -> Carried {
        let mut keys: Vec<i64> = self.hours.keys().copied().collect();
        keys.sort_unstable_by(|a, b| b.cmp(a));
        let mut out = Vec::new();
        let mut total = 0;
        for hour in keys.into_iter().take(hours) {
            let h = &self.hours[&hour];
            if total + h.seen.len() > max {
                break;
            }
            total += h.seen.len();
            out.push((hour, h.seen.iter().copied().collect()));
        }
        out
    }

    /// Takes in the fingerprints an earlier run carried ([`Dedup::latest`]).
    pub fn seed(&mut self, carried: &Carried) {
        if !self.active() {
            return;
        }
        for (hour, fps) in carried {
            let h = self.hours.entry(*hour).or_insert_with(|| Hour {
                seen: hashbrown::HashTable::with_capacity(fps.len()),
                used: 0,
            });
            let before = h.seen.capacity();
            for &fp in fps {
                if let hashbrown::hash_table::Entry::Vacant(v) =
                    h.seen.entry(fp, |&x| x == fp, |&x| x)
                {
                    v.insert(fp);
                }
            }
            self.held = self.held + h.seen.capacity() - before;
        }
        if self.held > self.cap {
            self.forget();
        }
    }

    /// Forgets the hours least recently seen (by their last event) until a quarter of the
    /// budget is free.
    fn forget(&mut self) {
        let mut by_use: Vec<(u64, i64, usize)> = self
            .hours
            .iter()
            .map(|(&hour, h)| (h.used, hour, h.seen.capacity()))
            .collect();
        by_use.sort_unstable();
        let target = self.cap - self.cap / 4;
        for (_, hour, len) in by_use {
            if self.held <= target {
                break;
            }
            self.hours.remove(&hour);
            self.forgotten.insert(hour);
            self.held -= len;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = HOUR_US;

    #[test]
    fn second_copies_are_dropped_and_first_ones_kept() {
        let mut d = Dedup::new(DuplicateMode::Drop, 100);
        let (keep, c) = d.check(&[0, 1, 2], &[11, 13, 11]);
        assert_eq!(
            keep.unwrap().iter().collect::<Vec<_>>(),
            [Some(true), Some(true), Some(false)]
        );
        assert_eq!(c.dropped, 1);
        // A later batch: a copy of the first is found too; unchecked rows (0) never are.
        let (keep, c) = d.check(&[5, 5, 5], &[13, 0, 0]);
        assert_eq!(
            keep.unwrap().iter().collect::<Vec<_>>(),
            [Some(false), Some(true), Some(true)]
        );
        assert_eq!((c.dropped, c.kept, c.unchecked), (1, 0, 0));
    }

    #[test]
    fn fingerprints_carried_to_the_next_run_find_its_copies() {
        let mut first = Dedup::new(DuplicateMode::Drop, 1000);
        first.check(&[0, H, 2 * H, 2 * H], &[11, 12, 13, 14]);
        // The latest two hours, most recent first.
        let carried = first.latest(2, 1000);
        assert_eq!(carried.iter().map(|(h, _)| *h).collect::<Vec<_>>(), [2, 1]);
        let back = decode(&encode(&carried)).unwrap();
        assert_eq!(back, carried);
        assert!(decode(&encode(&carried)[..20]).is_none(), "cut short");
        let mut next = Dedup::new(DuplicateMode::Drop, 1000);
        next.seed(&back);
        let (keep, c) = next.check(&[2 * H, H, 0], &[14, 12, 11]);
        // Hour 0 was not carried: its record is new to this run.
        assert_eq!(c.dropped, 2);
        assert_eq!(
            keep.unwrap().iter().collect::<Vec<_>>(),
            [Some(false), Some(false), Some(true)]
        );
        // A budget of one fingerprint carries nothing.
        assert!(first.latest(2, 1).is_empty());
    }

    #[test]
    fn keep_mode_counts_without_dropping() {
        let mut d = Dedup::new(DuplicateMode::Keep, 100);
        let (keep, c) = d.check(&[0, 0], &[7, 7]);
        assert!(keep.is_none());
        assert_eq!((c.dropped, c.kept), (0, 1));
        let mut off = Dedup::new(DuplicateMode::Drop, 0);
        assert_eq!(off.check(&[0, 0], &[7, 7]).1, DupCounts::default());
    }

    #[test]
    fn same_text_in_another_hour_is_not_a_copy() {
        // Fingerprints are per hour: equal fingerprints an hour apart are different events
        // (a copy has the same event time, so it can never be an hour away).
        let mut d = Dedup::new(DuplicateMode::Drop, 100);
        let (keep, _) = d.check(&[0, H], &[9, 9]);
        assert!(keep.is_none());
    }

    #[test]
    fn memory_is_bounded_and_forgotten_hours_are_counted() {
        // Room for the tables of two hours of 4 events (7 slots each).
        let mut d = Dedup::new(DuplicateMode::Drop, 20);
        for hour in 0..10 {
            let ts = [hour * H; 4];
            let fps: Vec<u64> = (0..4).map(|i| (hour as u64) << 8 | i << 1 | 1).collect();
            d.check(&ts, &fps);
            assert!(d.held <= 20, "{} held", d.held);
        }
        // Hour 0 was forgotten: its copy is not found, and is counted as unchecked.
        let (keep, c) = d.check(&[0], &[1]);
        assert!(keep.is_none());
        assert_eq!(c.unchecked, 1);
        // The last hour is still remembered.
        let (keep, c) = d.check(&[9 * H], &[9 << 8 | 1]);
        assert!(keep.is_some());
        assert_eq!((c.dropped, c.unchecked), (1, 0));
    }
}
