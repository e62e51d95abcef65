//! Every error event of a run, for the steps that read them one by one after detection
//! (measuring incidents, critical events): kept in a temporary file as the collector sees
//! them, so memory does not grow with the number of errors (2 million error rows at 35 M
//! events held ~300 MB). Hand-made tables keep their rows in memory.
//!
//! A spilled row is fixed-width (time, input order, status, the ids of nine interned
//! values) followed by the request id, the one value unique to each event, then the
//! values of columns past their interning limit ([`INTERN_MAX`] distinct values), so
//! memory does not grow with the number of distinct client IPs or users.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;

use super::auth::{self, AuthFailure, AuthFailures};
use super::event_row::{EventRow, Shared};

/// No value (an id or a length).
const NONE: u32 = u32::MAX;
/// A value written in the row itself, after the request id (`u32` length, bytes).
const INLINE: u32 = u32::MAX - 1;
/// The most values a column interns; past it its new values are written in their rows,
/// so that millions of client IPs or users cost disk, not memory.
const INTERN_MAX: u32 = 1 << 16;
/// The columns that may be written inline (connection, organisation, user, IP address,
/// endpoint); codes, categories and classes are always interned (the collector keys its
/// code sightings by their ids).
const MAY_INLINE: std::ops::Range<usize> = 3..VALUES;
/// The interned values of a row: the code, category, class, connection, organisation,
/// user, IP address, endpoint and service ([`row_values`]).
const VALUES: usize = 9;
/// A row's fixed part: time, order, status, the value ids, the request id's length.
const HEAD: usize = 8 + 8 + 3 + VALUES * 4 + 4;

/// The error events, in input order; see the module documentation.
#[derive(Clone, Default)]
pub struct ErrorLog {
    len: u64,
    store: Store,
}

#[derive(Clone)]
enum Store {
    /// In time order (hand-made tables); a row's input order is its index.
    Rows(Arc<Vec<EventRow>>),
    Spilled {
        file: Arc<Mutex<File>>,
        values: Arc<Vec<Shared>>,
    },
}

impl Default for Store {
    fn default() -> Self {
        Store::Rows(Arc::new(Vec::new()))
    }
}

impl ErrorLog {
    /// Rows already in time order (ties in input order).
    pub fn from_rows(rows: Vec<EventRow>) -> ErrorLog {
        ErrorLog {
            len: rows.len() as u64,
            store: Store::Rows(Arc::new(rows)),
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Calls `f` with each row and its input order (`batch << 32 | row` for collected
    /// rows): rows come in input order, not time order, so callers that need the earliest
    /// rows compare `(ts, order)`.
    pub fn for_each(&self, mut f: impl FnMut(u64, &EventRow)) -> anyhow::Result<()> {
        match &self.store {
            Store::Rows(rows) => {
                for (i, r) in rows.iter().enumerate() {
                    f(i as u64, r);
                }
                Ok(())
            }
            Store::Spilled { file, values } => read_spill(file, self.len, |r| {
                let (head, request_id, inline) = read_head(r, true, true)?;
                let mut v: [Option<Shared>; VALUES] = Default::default();
                for (k, (slot, &id)) in v.iter_mut().zip(&head.ids).enumerate() {
                    *slot = match id {
                        INLINE => inline[k].as_deref().map(Shared::from),
                        _ => value_of(values, id)?.cloned(),
                    };
                }
                f(head.order, &error_row(head.ts, head.status, v, request_id));
                Ok(())
            }),
        }
    }

    /// The 401s and 403s (`expected`: how many there are, to size the list exactly), for
    /// the detectors that follow them. They are read back here rather than kept in memory
    /// through ingest, where they grew with the input (and doubled their list as they
    /// grew); their values stay ids into the log's table.
    pub fn auth_failures(&self, expected: usize) -> anyhow::Result<AuthFailures> {
        match &self.store {
            Store::Rows(rows) => Ok(AuthFailures::from_rows(rows.iter())),
            Store::Spilled { file, values } => {
                let mut rows = Vec::with_capacity(expected);
                let mut orders = Vec::with_capacity(expected);
                // The inline values of the 401s and 403s, interned after the log's own.
                let mut more = auth::Packed::default();
                let base = values.len() as u32;
                read_spill(file, self.len, |r| {
                    let is_auth = {
                        // Peek at the status before deciding to keep inline values.
                        let (head, _, inline) = read_head_if(r, |h| auth::holds(h.status))?;
                        head.status
                            .filter(|_| auth::holds(head.status))
                            .map(|status| (head, status, inline))
                    };
                    if let Some((head, status, inline)) = is_auth {
                        let mut ids = [NONE; 5];
                        for (slot, k) in ids.iter_mut().zip(3..8) {
                            *slot = match head.ids[k] {
                                INLINE => {
                                    base + more.intern(inline[k].as_deref().unwrap_or_default())
                                }
                                id => {
                                    value_of(values, id)?;
                                    id
                                }
                            };
                        }
                        rows.push(AuthFailure::new(head.ts, status, ids));
                        orders.push(head.order);
                    }
                    Ok(())
                })?;
                Ok(AuthFailures::from_ids(
                    auth::Values::new(values.clone(), more),
                    rows,
                    &orders,
                ))
            }
        }
    }

    /// The rows in time order, ties in input order (for tests and comparisons).
    pub fn sorted_rows(&self) -> anyhow::Result<Vec<EventRow>> {
        let mut rows = Vec::with_capacity(self.len as usize);
        self.for_each(|o, r| rows.push((r.ts, o, r.clone())))?;
        rows.sort_by_key(|(ts, o, _)| (*ts, *o));
        Ok(rows.into_iter().map(|(_, _, r)| r).collect())
    }
}

impl std::fmt::Debug for ErrorLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.store {
            Store::Rows(_) => "rows",
            Store::Spilled { .. } => "spilled",
        };
        write!(f, "ErrorLog({} {kind})", self.len)
    }
}

/// Equal when they hold the same rows in the same time order, however stored.
impl PartialEq for ErrorLog {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len
            && matches!(
                (self.sorted_rows(), other.sorted_rows()),
                (Ok(a), Ok(b)) if a == b
            )
    }
}

/// Writes error rows to an unnamed temporary file (the OS removes it, even after a crash).
pub struct Spill {
    out: BufWriter<File>,
    len: u64,
    ids: std::collections::HashMap<Shared, u32, foldhash::fast::RandomState>,
    values: Vec<Shared>,
    /// Values interned through each column.
    interned: [u32; VALUES],
    /// The inline values of the row being written.
    inline: Vec<u8>,
    /// The first write error, reported by [`Spill::finish`].
    failed: Option<std::io::Error>,
}

impl Spill {
    pub fn new() -> anyhow::Result<Spill> {
        let file = tempfile::tempfile()
            .context("cannot create a temporary file for the error events (is TMPDIR writable?)")?;
        Ok(Spill {
            out: BufWriter::with_capacity(1 << 20, file),
            len: 0,
            ids: Default::default(),
            values: Vec::new(),
            interned: [0; VALUES],
            inline: Vec::new(),
            failed: None,
        })
    }

    /// The id of column `k`'s value (interned once), or [`INLINE`] past the column's
    /// interning limit (the value then goes to `inline`).
    fn id(&mut self, k: usize, v: Option<&str>) -> u32 {
        let Some(v) = v else { return NONE };
        if let Some(&id) = self.ids.get(v) {
            return id;
        }
        if self.interned[k] >= INTERN_MAX && MAY_INLINE.contains(&k) {
            self.inline
                .extend_from_slice(&(v.len() as u32).to_le_bytes());
            self.inline.extend_from_slice(v.as_bytes());
            return INLINE;
        }
        self.interned[k] += 1;
        let id = self.values.len() as u32;
        let s = Shared::from(v);
        self.values.push(s.clone());
        self.ids.insert(s, id);
        id
    }

    /// The shared copy of the value of an id [`Spill::push`] returned (`None` for none).
    pub fn value(&self, id: u32) -> Option<Shared> {
        self.values.get(id as usize).cloned()
    }

    /// Appends one error row (`order` is its input order; `values` as [`row_values`]
    /// orders them) and returns the ids of its values.
    pub fn push(
        &mut self,
        ts: i64,
        order: u64,
        status: Option<i16>,
        values: [Option<&str>; VALUES],
        request_id: Option<&str>,
    ) -> [u32; VALUES] {
        let mut ids = [NONE; VALUES];
        let mut head = [0u8; HEAD];
        head[..8].copy_from_slice(&ts.to_le_bytes());
        head[8..16].copy_from_slice(&order.to_le_bytes());
        head[16] = u8::from(status.is_some());
        head[17..19].copy_from_slice(&status.unwrap_or(0).to_le_bytes());
        self.inline.clear();
        for (k, v) in values.into_iter().enumerate() {
            ids[k] = self.id(k, v);
            head[19 + 4 * k..23 + 4 * k].copy_from_slice(&ids[k].to_le_bytes());
        }
        let rid = request_id.map(str::as_bytes);
        let rlen = rid.map_or(NONE, |r| r.len() as u32);
        head[HEAD - 4..].copy_from_slice(&rlen.to_le_bytes());
        self.len += 1;
        if self.failed.is_none() {
            let written = self
                .out
                .write_all(&head)
                .and_then(|_| self.out.write_all(rid.unwrap_or_default()))
                .and_then(|_| self.out.write_all(&self.inline));
            if let Err(e) = written {
                self.failed = Some(e);
            }
        }
        ids
    }

    /// The log of every row pushed.
    pub fn finish(self) -> anyhow::Result<ErrorLog> {
        if let Some(e) = self.failed {
            return Err(e).context("cannot write the error events to a temporary file");
        }
        let file = self
            .out
            .into_inner()
            .map_err(|e| e.into_error())
            .context("cannot write the error events to a temporary file")?;
        Ok(ErrorLog {
            len: self.len,
            store: Store::Spilled {
                file: Arc::new(Mutex::new(file)),
                values: Arc::new(self.values),
            },
        })
    }
}

/// An error row from its nine values in [`row_values`]' order (the inverse of it).
fn error_row(
    ts: i64,
    status: Option<i16>,
    values: [Option<Shared>; VALUES],
    request_id: Option<Box<str>>,
) -> EventRow {
    let [error_code, category, class, connection_id, organization_id, user_id, ip_address, endpoint, service] =
        values;
    EventRow {
        ts,
        status,
        error_code,
        category,
        class,
        is_success: false,
        connection_id,
        organization_id,
        user_id,
        ip_address,
        endpoint,
        service,
        request_id,
    }
}

/// Rows written through a [`Spill`] as the collector writes them, row `i` with input
/// order `first_order + i` (tests).
#[cfg(test)]
pub fn spilled(rows: &[EventRow], first_order: u64) -> ErrorLog {
    let mut spill = Spill::new().expect("a temporary file");
    for (i, r) in rows.iter().enumerate() {
        spill.push(
            r.ts,
            first_order + i as u64,
            r.status,
            row_values(r),
            r.request_id.as_deref(),
        );
    }
    spill.finish().expect("the spill reads back")
}

/// The eight interned values of a row, in the order [`Spill::push`] takes them.
pub fn row_values(e: &EventRow) -> [Option<&str>; VALUES] {
    [
        e.error_code.as_deref(),
        e.category.as_deref(),
        e.class.as_deref(),
        e.connection_id.as_deref(),
        e.organization_id.as_deref(),
        e.user_id.as_deref(),
        e.ip_address.as_deref(),
        e.endpoint.as_deref(),
        e.service.as_deref(),
    ]
}

/// Reads every row of a spill from the start: `row` reads one.
fn read_spill(
    file: &Mutex<File>,
    len: u64,
    mut row: impl FnMut(&mut BufReader<&File>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let file = file.lock().unwrap_or_else(|e| e.into_inner());
    let mut read = || -> anyhow::Result<()> {
        (&*file).seek(SeekFrom::Start(0))?;
        let mut r = BufReader::with_capacity(1 << 20, &*file);
        for _ in 0..len {
            row(&mut r)?;
        }
        Ok(())
    };
    read().context("cannot read back the error events")
}

/// The fixed part of a spilled row.
struct Head {
    ts: i64,
    order: u64,
    status: Option<i16>,
    /// The ids of the eight values in [`row_values`]' order.
    ids: [u32; VALUES],
}

/// The values a row holds inline, by column.
type Inline = [Option<Box<str>>; VALUES];

/// The next row's fixed part, its request id `with_request_id` (else skipped) and,
/// `with_inline`, its inline values (else skipped).
fn read_head(
    r: &mut impl Read,
    with_request_id: bool,
    with_inline: bool,
) -> anyhow::Result<(Head, Option<Box<str>>, Inline)> {
    let (head, request_id) = read_fixed(r, with_request_id)?;
    let inline = read_inline(r, &head, with_inline)?;
    Ok((head, request_id, inline))
}

/// [`read_head`] without the request id, with the inline values only when `want` says so
/// of the fixed part.
fn read_head_if(
    r: &mut impl Read,
    want: impl Fn(&Head) -> bool,
) -> anyhow::Result<(Head, Option<Box<str>>, Inline)> {
    let (head, request_id) = read_fixed(r, false)?;
    let inline = read_inline(r, &head, want(&head))?;
    Ok((head, request_id, inline))
}

fn read_inline(r: &mut impl Read, head: &Head, keep: bool) -> anyhow::Result<Inline> {
    let mut out: Inline = Default::default();
    for (k, &id) in head.ids.iter().enumerate() {
        if id != INLINE {
            continue;
        }
        let mut len = [0u8; 4];
        r.read_exact(&mut len)?;
        let len = u32::from_le_bytes(len);
        if keep {
            let mut buf = vec![0u8; len as usize];
            r.read_exact(&mut buf)?;
            out[k] = Some(String::from_utf8(buf)?.into_boxed_str());
        } else {
            let skipped = std::io::copy(&mut r.take(u64::from(len)), &mut std::io::sink())?;
            if skipped != u64::from(len) {
                anyhow::bail!("corrupt error spill: an inline value is cut short");
            }
        }
    }
    Ok(out)
}

/// The next row's fixed part, and its request id `with_request_id` (else skipped).
fn read_fixed(
    r: &mut impl Read,
    with_request_id: bool,
) -> anyhow::Result<(Head, Option<Box<str>>)> {
    let mut head = [0u8; HEAD];
    r.read_exact(&mut head)?;
    let u32_at = |i: usize| u32::from_le_bytes(head[i..i + 4].try_into().expect("4 bytes"));
    let rlen = u32_at(HEAD - 4);
    let request_id = if rlen == NONE {
        None
    } else if !with_request_id {
        let skipped = std::io::copy(&mut r.take(u64::from(rlen)), &mut std::io::sink())?;
        if skipped != u64::from(rlen) {
            anyhow::bail!("corrupt error spill: a request id is cut short");
        }
        None
    } else {
        let mut buf = vec![0u8; rlen as usize];
        r.read_exact(&mut buf)?;
        Some(String::from_utf8(buf)?.into_boxed_str())
    };
    let head = Head {
        ts: i64::from_le_bytes(head[..8].try_into().expect("8 bytes")),
        order: u64::from_le_bytes(head[8..16].try_into().expect("8 bytes")),
        status: (head[16] != 0).then(|| i16::from_le_bytes([head[17], head[18]])),
        ids: std::array::from_fn(|k| u32_at(19 + 4 * k)),
    };
    Ok((head, request_id))
}

/// The value of an id in the spill's table (`None` for no value).
fn value_of(values: &[Shared], id: u32) -> anyhow::Result<Option<&Shared>> {
    match id {
        NONE => Ok(None),
        id => values
            .get(id as usize)
            .map(Some)
            .context("corrupt error spill: unknown value"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spilled_rows_come_back_as_they_went_in() {
        let rows = vec![
            EventRow {
                ts: 30,
                status: Some(401),
                error_code: Some("AUTH_002".into()),
                category: Some("authentication".into()),
                class: Some("security".into()),
                connection_id: Some("c1".into()),
                user_id: Some("ü-user".into()),
                ip_address: Some("10.0.0.1".into()),
                request_id: Some("req-1".into()),
                ..Default::default()
            },
            EventRow {
                ts: -5,
                status: Some(-3),
                request_id: Some(String::new().into()),
                ..Default::default()
            },
            EventRow {
                ts: 30,
                error_code: Some("AUTH_002".into()),
                ..Default::default()
            },
        ];
        let log = spilled(&rows, 7 << 32);
        assert_eq!(log.len(), 3);
        for _ in 0..2 {
            // Read twice: each pass starts from the first row.
            let mut back = Vec::new();
            log.for_each(|o, r| back.push((o, r.clone()))).unwrap();
            let orders: Vec<u64> = back.iter().map(|(o, _)| *o).collect();
            assert_eq!(orders, [7 << 32, 7 << 32 | 1, 7 << 32 | 2]);
            let back: Vec<EventRow> = back.into_iter().map(|(_, r)| r).collect();
            assert_eq!(back, rows);
        }
        // Time order, ties in input order; equal to the same rows held in memory.
        let sorted = log.sorted_rows().unwrap();
        assert_eq!(
            sorted,
            vec![rows[1].clone(), rows[0].clone(), rows[2].clone()]
        );
        assert_eq!(log, ErrorLog::from_rows(sorted));
    }

    /// Past a column's interning limit its values are written in the rows: they come back
    /// the same, through every reader, and the table of interned values stays bounded.
    #[test]
    fn values_past_the_interning_limit_are_written_inline() {
        let n = INTERN_MAX as usize + 5_000;
        let rows: Vec<EventRow> = (0..n)
            .map(|i| EventRow {
                ts: i as i64,
                status: Some(if i % 3 == 0 { 401 } else { 500 }),
                error_code: Some("E".into()),
                connection_id: Some("c1".into()),
                user_id: Some(format!("u{}", i % 70_000).as_str().into()),
                ip_address: Some(format!("10.{}.{}", i >> 8, i & 255).as_str().into()),
                // The same string as a user id above: one table, one id.
                endpoint: Some(if i % 2 == 0 { "u1" } else { "/x" }.into()),
                request_id: Some(format!("r{i}").into()),
                ..Default::default()
            })
            .collect();
        let log = spilled(&rows, 0);
        let Store::Spilled { values, .. } = &log.store else {
            panic!("spilled")
        };
        assert!(
            values.len() <= 2 * INTERN_MAX as usize + 10,
            "{}",
            values.len()
        );
        let mut back = Vec::new();
        log.for_each(|_, r| back.push(r.clone())).unwrap();
        assert_eq!(back, rows);
        let auth = log.auth_failures(n / 3 + 1).unwrap();
        let ips: Vec<&str> = auth.iter().filter_map(|e| e.ip_address()).collect();
        let want: Vec<String> = (0..n)
            .filter(|i| i % 3 == 0)
            .map(|i| format!("10.{}.{}", i >> 8, i & 255))
            .collect();
        assert_eq!(ips, want);
        let users: Vec<&str> = auth.iter().filter_map(|e| e.user_id()).collect();
        assert_eq!(
            users.last().copied(),
            Some(format!("u{}", (n - 1) / 3 * 3 % 70_000).as_str())
        );
        assert_eq!(auth, AuthFailures::from_rows(rows.iter()));
    }

    /// The 401s and 403s come back from the spill in time order, ties in input order,
    /// whatever the rows skipped around them hold; the same from rows held in memory.
    #[test]
    fn auth_failures_come_back_from_the_spill() {
        let row = |ts: i64, status: Option<i16>, rid: Option<&str>, ip: &str| EventRow {
            ts,
            status,
            error_code: Some(format!("E{ts}").as_str().into()),
            connection_id: Some("c1".into()),
            ip_address: Some(ip.into()),
            request_id: rid.map(Into::into),
            ..Default::default()
        };
        let rows = vec![
            row(1, Some(500), Some("req-long-skipped-id"), "a"),
            row(6, Some(401), Some("req-2"), "b"),
            row(3, None, Some("r"), "c"),
            row(4, Some(403), None, "d"),
            row(5, Some(429), Some(""), "e"),
            row(4, Some(401), Some("req-6"), "f"),
        ];
        let log = spilled(&rows, 0);
        let got = log.auth_failures(3).unwrap();
        let want = AuthFailures::from_rows([&rows[3], &rows[5], &rows[1]]);
        assert_eq!(got, want);
        let ips: Vec<_> = got.iter().map(|e| e.ip_address()).collect();
        assert_eq!(ips, [Some("d"), Some("f"), Some("b")]);
        // The spill still reads whole afterwards.
        let mut back = Vec::new();
        log.for_each(|_, r| back.push(r.clone())).unwrap();
        assert_eq!(back, rows);
        let mut sorted = rows.clone();
        sorted.sort_by_key(|r| r.ts);
        assert_eq!(ErrorLog::from_rows(sorted).auth_failures(0).unwrap(), want);
    }
}
