//! The 401s and 403s, for the detectors that follow them one by one (credential stuffing,
//! permission probing, reauthorization). They stay in memory through the detectors, and
//! there are many on a big input (630 k at 35 M events), so a row is 32 bytes: its values
//! are ids into the table of values the error log already holds (an [`EventRow`] was 96).

use std::collections::HashMap;
use std::sync::Arc;

use super::event_row::{EventRow, Shared};

/// No value.
const NONE: u32 = u32::MAX;

/// Whether events of this status are auth failures (401 or 403).
pub fn holds(status: Option<i16>) -> bool {
    matches!(status, Some(401 | 403))
}

/// One 401 or 403: its time, status and the ids of its connection, organisation, user,
/// IP address and endpoint (`NONE` for no value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthFailure {
    ts: i64,
    status: i16,
    ids: [u32; 5],
}

impl AuthFailure {
    /// `ids`: connection, organisation, user, IP address, endpoint.
    pub(super) fn new(ts: i64, status: i16, ids: [u32; 5]) -> AuthFailure {
        AuthFailure { ts, status, ids }
    }
}

/// The auth failures of a run, in time order (ties in input order).
#[derive(Clone, Default)]
pub struct AuthFailures {
    rows: Vec<AuthFailure>,
    values: Values,
}

/// The values auth rows point to: the error log's interned values (ids below
/// `shared.len()`), then the values its rows hold inline (client IPs, users past the
/// log's interning limit), packed in one string: about 30 bytes a value, not 130.
#[derive(Clone, Default)]
pub(super) struct Values {
    shared: Arc<Vec<Shared>>,
    packed: Arc<Packed>,
}

impl Values {
    pub(super) fn new(shared: Arc<Vec<Shared>>, packed: Packed) -> Values {
        Values {
            shared,
            packed: Arc::new(packed),
        }
    }

    fn get(&self, id: u32) -> &str {
        let i = id as usize;
        match self.shared.get(i) {
            Some(v) => v,
            None => self.packed.get(i - self.shared.len()),
        }
    }
}

/// Distinct values packed in one string.
#[derive(Default)]
pub(super) struct Packed {
    text: String,
    ends: Vec<usize>,
    table: hashbrown::HashTable<u32>,
}

impl Packed {
    fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    fn hash(v: &str) -> u64 {
        use std::hash::BuildHasher;
        foldhash::fast::FixedState::with_seed(0x6175_7468).hash_one(v)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.ends.len()
    }

    /// The index of `v`, added when new.
    pub(super) fn intern(&mut self, v: &str) -> u32 {
        let h = Packed::hash(v);
        let Packed { text, ends, table } = self;
        let get = |i: u32| {
            let i = i as usize;
            let start = if i == 0 { 0 } else { ends[i - 1] };
            &text[start..ends[i]]
        };
        if let Some(&i) = table.find(h, |&i| get(i) == v) {
            return i;
        }
        let i = ends.len() as u32;
        text.push_str(v);
        ends.push(text.len());
        let (text, ends) = (&*text, &*ends);
        table.insert_unique(h, i, |&j| {
            let j = j as usize;
            let start = if j == 0 { 0 } else { ends[j - 1] };
            Packed::hash(&text[start..ends[j]])
        });
        i
    }
}

/// One auth failure with its values.
#[derive(Clone, Copy)]
pub struct AuthEvent<'a> {
    row: &'a AuthFailure,
    values: &'a Values,
}

impl<'a> AuthEvent<'a> {
    pub fn ts(&self) -> i64 {
        self.row.ts
    }

    pub fn status(&self) -> i16 {
        self.row.status
    }

    fn value(&self, k: usize) -> Option<&'a str> {
        match self.row.ids[k] {
            NONE => None,
            id => Some(self.values.get(id)),
        }
    }

    pub fn connection_id(&self) -> Option<&'a str> {
        self.value(0)
    }

    pub fn organization_id(&self) -> Option<&'a str> {
        self.value(1)
    }

    pub fn user_id(&self) -> Option<&'a str> {
        self.value(2)
    }

    pub fn ip_address(&self) -> Option<&'a str> {
        self.value(3)
    }

    pub fn endpoint(&self) -> Option<&'a str> {
        self.value(4)
    }

    /// Everything the row holds, for comparisons and debugging.
    #[allow(clippy::type_complexity)]
    fn whole(&self) -> (i64, i16, [Option<&'a str>; 5]) {
        (
            self.ts(),
            self.status(),
            std::array::from_fn(|k| self.value(k)),
        )
    }
}

impl AuthFailures {
    /// Rows whose ids index `values` (checked by the caller), each with its input order:
    /// sorted here by time, ties in input order.
    pub(super) fn from_ids(
        values: Values,
        mut rows: Vec<AuthFailure>,
        orders: &[u64],
    ) -> AuthFailures {
        sort_in_input_order(&mut rows, orders);
        AuthFailures { rows, values }
    }

    /// The 401s and 403s among `rows`, in time order (ties in the order given).
    pub fn from_rows<'a>(rows: impl IntoIterator<Item = &'a EventRow>) -> AuthFailures {
        let mut values: Vec<Shared> = Vec::new();
        let mut index: HashMap<Shared, u32> = HashMap::new();
        let mut id = |v: &Option<Shared>| match v {
            None => NONE,
            Some(v) => *index.entry(v.clone()).or_insert_with(|| {
                values.push(v.clone());
                values.len() as u32 - 1
            }),
        };
        let mut out: Vec<AuthFailure> = Vec::new();
        for r in rows {
            let Some(status) = r.status.filter(|_| holds(r.status)) else {
                continue;
            };
            let ids = [
                id(&r.connection_id),
                id(&r.organization_id),
                id(&r.user_id),
                id(&r.ip_address),
                id(&r.endpoint),
            ];
            out.push(AuthFailure::new(r.ts, status, ids));
        }
        out.sort_by_key(|r| r.ts);
        AuthFailures {
            rows: out,
            values: Values::new(Arc::new(values), Packed::default()),
        }
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = AuthEvent<'_>> + '_ {
        self.rows.iter().map(|row| AuthEvent {
            row,
            values: &self.values,
        })
    }
}

/// Equal when they hold the same rows with the same values, whatever their ids.
impl PartialEq for AuthFailures {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .zip(other.iter())
                .all(|(a, b)| a.whole() == b.whole())
    }
}

impl std::fmt::Debug for AuthFailures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.iter().map(|e| e.whole()))
            .finish()
    }
}

/// Sorts rows by time, ties in input order, in place: a sorted copy would double the
/// table. An index is sorted, then the rows follow its cycles.
fn sort_in_input_order(rows: &mut [AuthFailure], orders: &[u64]) {
    assert_eq!(rows.len(), orders.len());
    let mut idx: Vec<u32> = (0..rows.len() as u32).collect();
    idx.sort_unstable_by_key(|&i| (rows[i as usize].ts, orders[i as usize]));
    const DONE: u32 = u32::MAX;
    for start in 0..idx.len() {
        // Position k takes the row now at idx[k]; the row of `start` travels along
        // the cycle until the position that wants it.
        let mut k = start;
        while idx[k] != DONE {
            let src = idx[k] as usize;
            idx[k] = DONE;
            if src == start {
                break;
            }
            rows.swap(k, src);
            k = src;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_stays_small() {
        assert_eq!(std::mem::size_of::<AuthFailure>(), 32);
    }

    #[test]
    fn rows_sort_in_place_by_time_then_input_order() {
        // A pseudo-random shuffle with many ties in time; the order rides in the first id
        // so the sorted rows show where they came from.
        let mut rows = Vec::new();
        let mut orders = Vec::new();
        let mut x = 12345u64;
        for _ in 0..1000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let order = x >> 40;
            rows.push(AuthFailure::new(
                ((x >> 33) % 50) as i64,
                401,
                [order as u32, 0, 0, 0, 0],
            ));
            orders.push(order);
        }
        let mut want: Vec<(i64, u64)> = rows.iter().map(|r| r.ts).zip(orders.clone()).collect();
        want.sort();
        sort_in_input_order(&mut rows, &orders);
        let got: Vec<(i64, u64)> = rows.iter().map(|r| (r.ts, u64::from(r.ids[0]))).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn rows_keep_their_values_and_only_auth_failures() {
        let row = |ts: i64, status: i16, conn: Option<&str>, ip: &str| EventRow {
            ts,
            status: Some(status),
            connection_id: conn.map(Into::into),
            ip_address: Some(ip.into()),
            endpoint: Some("/x".into()),
            ..Default::default()
        };
        let rows = [
            row(5, 401, Some("c1"), "10.0.0.1"),
            row(1, 500, Some("c1"), "10.0.0.2"),
            row(2, 403, None, "10.0.0.1"),
            row(5, 403, Some("c2"), "10.0.0.3"),
        ];
        let a = AuthFailures::from_rows(&rows);
        let got: Vec<_> = a.iter().map(|e| e.whole()).collect();
        assert_eq!(
            got,
            [
                (2, 403, [None, None, None, Some("10.0.0.1"), Some("/x")]),
                (
                    5,
                    401,
                    [Some("c1"), None, None, Some("10.0.0.1"), Some("/x")]
                ),
                (
                    5,
                    403,
                    [Some("c2"), None, None, Some("10.0.0.3"), Some("/x")]
                ),
            ]
        );
        // Equality is by value, not by id: the same rows given in another order intern
        // their values in another order.
        let c = AuthFailures::from_rows([&rows[2], &rows[0], &rows[3]]);
        assert_ne!(a.values.shared, c.values.shared);
        assert_eq!(a, c);
        let b = AuthFailures::from_rows([&rows[3], &rows[2], &rows[0]]);
        assert_ne!(a, b, "ties keep the order given");
    }

    /// The packed table gives each distinct value one index, and the value back.
    #[test]
    fn packed_values_intern_once() {
        let mut p = Packed::default();
        let vals: Vec<String> = (0..50_000)
            .map(|i| format!("10.{}.{}", i % 9_000, i % 7))
            .collect();
        let ids: Vec<u32> = vals.iter().map(|v| p.intern(v)).collect();
        for (v, &id) in vals.iter().zip(&ids) {
            assert_eq!(p.get(id as usize), v);
            assert_eq!(p.intern(v), id);
        }
        let distinct: std::collections::HashSet<&String> = vals.iter().collect();
        assert_eq!(p.len(), distinct.len());
        assert_eq!(p.intern(""), p.intern(""));
    }
}
