//! Every error event of a run, for the steps that read them one by one after detection
//! (measuring incidents, critical events): kept in a temporary file as the collector sees
//! them, so memory does not grow with the number of errors (2 million error rows at 35 M
//! events held ~300 MB). Hand-made tables keep their rows in memory.
//!
//! A spilled row is fixed-width (time, input order, status, the ids of eight interned
//! values) followed by the request id, the one value unique to each event.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::sync::{Arc, Mutex};

use anyhow::Context as _;

use super::tables::{EventRow, Shared};

/// No value (an id or a length).
const NONE: u32 = u32::MAX;

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
    pub fn for_each(&self, f: impl FnMut(u64, &EventRow)) -> anyhow::Result<()> {
        self.scan(|_| true, true, f)
    }

    /// The rows whose status `keep` accepts, without their request ids, each with its
    /// input order (`expected`: how many there are, to size the lists exactly). The rows
    /// the auth detectors follow are read back here rather than kept in memory through
    /// ingest, where they grew with the input (and doubled their list as they grew).
    pub fn rows_with_status(
        &self,
        keep: impl Fn(Option<i16>) -> bool,
        expected: usize,
    ) -> anyhow::Result<(Vec<EventRow>, Vec<u64>)> {
        let mut rows = Vec::with_capacity(expected);
        let mut orders = Vec::with_capacity(expected);
        self.scan(keep, false, |order, r| {
            rows.push(EventRow {
                request_id: None,
                ..r.clone()
            });
            orders.push(order);
        })?;
        Ok((rows, orders))
    }

    /// [`ErrorLog::for_each`] over the rows whose status `keep` accepts; a spilled row's
    /// request id is read only `with_request_id` (else skipped), others are not decoded.
    fn scan(
        &self,
        keep: impl Fn(Option<i16>) -> bool,
        with_request_id: bool,
        mut f: impl FnMut(u64, &EventRow),
    ) -> anyhow::Result<()> {
        match &self.store {
            Store::Rows(rows) => {
                for (i, r) in rows.iter().enumerate().filter(|(_, r)| keep(r.status)) {
                    f(i as u64, r);
                }
                Ok(())
            }
            Store::Spilled { file, values } => {
                let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
                file.seek(SeekFrom::Start(0))
                    .context("cannot read back the error events")?;
                let mut r = BufReader::with_capacity(1 << 20, &*file);
                for _ in 0..self.len {
                    if let Some((order, row)) = read_row(&mut r, values, &keep, with_request_id)
                        .context("cannot read back the error events")?
                    {
                        f(order, &row);
                    }
                }
                Ok(())
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
    ids: std::collections::HashMap<Shared, u32, ahash::RandomState>,
    values: Vec<Shared>,
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
            failed: None,
        })
    }

    /// The id of a value (interned once).
    fn id(&mut self, v: Option<&str>) -> u32 {
        let Some(v) = v else { return NONE };
        if let Some(&id) = self.ids.get(v) {
            return id;
        }
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
        values: [Option<&str>; 8],
        request_id: Option<&str>,
    ) -> [u32; 8] {
        let mut ids = [NONE; 8];
        let mut head = [0u8; 8 + 8 + 3 + 8 * 4 + 4];
        head[..8].copy_from_slice(&ts.to_le_bytes());
        head[8..16].copy_from_slice(&order.to_le_bytes());
        head[16] = u8::from(status.is_some());
        head[17..19].copy_from_slice(&status.unwrap_or(0).to_le_bytes());
        for (k, v) in values.into_iter().enumerate() {
            ids[k] = self.id(v);
            head[19 + 4 * k..23 + 4 * k].copy_from_slice(&ids[k].to_le_bytes());
        }
        let rid = request_id.map(str::as_bytes);
        let rlen = rid.map_or(NONE, |r| r.len() as u32);
        head[51..55].copy_from_slice(&rlen.to_le_bytes());
        self.len += 1;
        if self.failed.is_none() {
            let written = self
                .out
                .write_all(&head)
                .and_then(|_| self.out.write_all(rid.unwrap_or_default()));
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

/// An error row from its eight values in [`row_values`]' order (the inverse of it).
fn error_row(
    ts: i64,
    status: Option<i16>,
    values: [Option<Shared>; 8],
    request_id: Option<Box<str>>,
) -> EventRow {
    let [error_code, category, class, connection_id, organization_id, user_id, ip_address, endpoint] =
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
pub fn row_values(e: &EventRow) -> [Option<&str>; 8] {
    [
        e.error_code.as_deref(),
        e.category.as_deref(),
        e.class.as_deref(),
        e.connection_id.as_deref(),
        e.organization_id.as_deref(),
        e.user_id.as_deref(),
        e.ip_address.as_deref(),
        e.endpoint.as_deref(),
    ]
}

/// The next row when `keep` accepts its status, else `None` (its bytes are skipped, its
/// values not looked up); its request id only `with_request_id`.
fn read_row(
    r: &mut impl Read,
    values: &[Shared],
    keep: impl Fn(Option<i16>) -> bool,
    with_request_id: bool,
) -> anyhow::Result<Option<(u64, EventRow)>> {
    let mut head = [0u8; 55];
    r.read_exact(&mut head)?;
    let status = (head[16] != 0).then(|| i16::from_le_bytes([head[17], head[18]]));
    let u32_at = |i: usize| u32::from_le_bytes(head[i..i + 4].try_into().expect("4 bytes"));
    let value = |k: usize| -> anyhow::Result<Option<Shared>> {
        match u32_at(19 + 4 * k) {
            NONE => Ok(None),
            id => values
                .get(id as usize)
                .cloned()
                .map(Some)
                .context("corrupt error spill: unknown value"),
        }
    };
    let rlen = u32_at(51);
    let wanted = keep(status);
    let request_id = if rlen == NONE {
        None
    } else if !(wanted && with_request_id) {
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
    if !wanted {
        return Ok(None);
    }
    let mut v: [Option<Shared>; 8] = Default::default();
    for (k, slot) in v.iter_mut().enumerate() {
        *slot = value(k)?;
    }
    let row = error_row(
        i64::from_le_bytes(head[..8].try_into().expect("8 bytes")),
        status,
        v,
        request_id,
    );
    let order = u64::from_le_bytes(head[8..16].try_into().expect("8 bytes"));
    Ok(Some((order, row)))
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

    /// The rows of some statuses come back from the spill in input order with their
    /// orders, without request ids, whatever the rows skipped around them hold; the same
    /// from rows held in memory.
    #[test]
    fn rows_of_some_statuses_come_back_without_request_ids() {
        let row = |ts: i64, status: Option<i16>, rid: Option<&str>, ip: &str| EventRow {
            ts,
            status,
            error_code: Some(format!("E{ts}").as_str().into()),
            ip_address: Some(ip.into()),
            request_id: rid.map(Into::into),
            ..Default::default()
        };
        let rows = vec![
            row(1, Some(500), Some("req-long-skipped-id"), "a"),
            row(2, Some(401), Some("req-2"), "b"),
            row(3, None, Some("r"), "c"),
            row(4, Some(403), None, "d"),
            row(5, Some(429), Some(""), "e"),
            row(6, Some(401), Some("req-6"), "b"),
        ];
        let log = spilled(&rows, 0);
        let want: Vec<EventRow> = [1, 3, 5]
            .iter()
            .map(|&i| EventRow {
                request_id: None,
                ..rows[i].clone()
            })
            .collect();
        let keep = |s: Option<i16>| matches!(s, Some(401 | 403));
        let (got, orders) = log.rows_with_status(keep, 3).unwrap();
        assert_eq!(got, want);
        assert_eq!(orders, [1, 3, 5]);
        // The spill still reads whole afterwards.
        assert_eq!(log.sorted_rows().unwrap(), rows);
        let (got, orders) = ErrorLog::from_rows(rows).rows_with_status(keep, 0).unwrap();
        assert_eq!((got, orders), (want, vec![1, 3, 5]));
    }
}
