//! Accumulates [`Event`]s into Arrow `RecordBatch`es of the canonical schema.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int16Builder, StringViewBuilder, TimestampMicrosecondBuilder,
    UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch, StringViewArray};
use arrow_buffer::{Buffer, NullBufferBuilder, ScalarBuffer};

use super::mapping::Event;
use crate::schema::{event_schema, TEXT_COLUMNS, TS_TZ};

pub struct EventBatchBuilder {
    ts: TimestampMicrosecondBuilder,
    status: Int16Builder,
    text: Vec<ViewColumn>,
    retry_after_s: Float64Builder,
    category: ViewColumn,
    retryable: BooleanBuilder,
    class: ViewColumn,
    details: ViewColumn,
    downstream: ViewColumn,
    extra: ViewColumn,
    source_file: StringViewBuilder,
    /// The current run of one source file name and its length: a batch holds the records
    /// of one file, so the name is appended once per run, not hashed once per row.
    file_run: (String, usize),
    source_line: UInt64Builder,
    len: usize,
}

impl EventBatchBuilder {
    pub fn with_capacity(rows: usize) -> Self {
        let sv = || ViewColumn::with_capacity(rows);
        EventBatchBuilder {
            ts: TimestampMicrosecondBuilder::with_capacity(rows).with_timezone(TS_TZ),
            status: Int16Builder::with_capacity(rows),
            text: (0..TEXT_COLUMNS.len()).map(|_| sv()).collect(),
            retry_after_s: Float64Builder::with_capacity(rows),
            category: sv(),
            retryable: BooleanBuilder::with_capacity(rows),
            class: sv(),
            details: sv(),
            downstream: sv(),
            extra: sv(),
            source_file: StringViewBuilder::with_capacity(rows),
            file_run: (String::new(), 0),
            source_line: UInt64Builder::with_capacity(rows),
            len: 0,
        }
    }

    /// A builder whose text columns refer to `block` (the chunk the events borrow from)
    /// instead of copying the text out of it. The batches then keep `block` alive.
    pub fn over(rows: usize, block: Buffer) -> Self {
        let mut b = Self::with_capacity(rows);
        if block.len() >= u32::MAX as usize {
            // Views address a block with 32-bit offsets: copy instead.
            return b;
        }
        for t in b.text.iter_mut().chain([&mut b.details, &mut b.downstream]) {
            t.refer_to(block.clone());
        }
        b
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn append(&mut self, ev: &Event<'_>, source_file: &str, source_line: u64) {
        self.ts.append_value(ev.ts);
        self.status.append_option(ev.status);
        let texts = [
            &ev.error,
            &ev.error_code,
            &ev.message,
            &ev.level,
            &ev.logger,
            &ev.log_message,
            &ev.request_id,
            &ev.connection_id,
            &ev.organization_id,
            &ev.user_id,
            &ev.endpoint,
            &ev.method,
            &ev.ip_address,
            &ev.user_agent,
            &ev.service,
        ];
        for (b, v) in self.text.iter_mut().zip(texts) {
            b.append(v.as_deref());
        }
        self.retry_after_s.append_option(ev.retry_after_s);
        self.category.append(Some(ev.category));
        self.retryable.append_option(ev.retryable);
        self.class.append(ev.class);
        self.details.append(ev.details.as_deref());
        self.downstream.append(ev.downstream.as_deref());
        self.extra.append(ev.extra.as_deref());
        if self.file_run.1 > 0 && self.file_run.0 == source_file {
            self.file_run.1 += 1;
        } else {
            self.flush_file_run();
            self.file_run = (source_file.to_string(), 1);
        }
        self.source_line.append_value(source_line);
        self.len += 1;
    }

    fn flush_file_run(&mut self) {
        let (name, n) = std::mem::take(&mut self.file_run);
        if n > 0 {
            self.source_file
                .try_append_value_n(&name, n)
                .expect("a file name is far below 4 GiB");
        }
    }

    /// Builds the batch. The builder is left empty (and without its block).
    pub fn finish(&mut self) -> RecordBatch {
        self.flush_file_run();
        let mut cols: Vec<ArrayRef> =
            vec![Arc::new(self.ts.finish()), Arc::new(self.status.finish())];
        cols.extend(
            self.text
                .iter_mut()
                .map(|b| Arc::new(b.finish()) as ArrayRef),
        );
        cols.push(Arc::new(self.retry_after_s.finish()));
        cols.push(Arc::new(self.category.finish()));
        cols.push(Arc::new(self.retryable.finish()));
        cols.push(Arc::new(self.class.finish()));
        cols.push(Arc::new(self.details.finish()));
        cols.push(Arc::new(self.downstream.finish()));
        cols.push(Arc::new(self.extra.finish()));
        cols.push(Arc::new(self.source_file.finish()));
        cols.push(Arc::new(self.source_line.finish()));
        self.len = 0;
        RecordBatch::try_new(event_schema(), cols).expect("builder columns match the schema")
    }
}

/// A string view column built by hand (the events' text columns): short values are
/// inlined with a few word loads (the builder's copy was a `memcpy` call per value), text
/// inside the block becomes a view into it, and other text is copied into copy buffers.
struct ViewColumn {
    views: Vec<u128>,
    nulls: NullBufferBuilder,
    /// Text longer than 12 bytes that is not in the block, copied.
    owned: Vec<u8>,
    /// Earlier copies, full: views address a buffer with 32-bit offsets.
    full: Vec<Buffer>,
    /// How many bytes a copy buffer holds at most (4 GiB; smaller in tests).
    cut: usize,
    /// The bytes the column's text may lie in ([`EventBatchBuilder::over`]): text inside
    /// is a view into it, buffer 0 (the copy buffers follow it).
    block: Option<Buffer>,
}

impl ViewColumn {
    fn with_capacity(rows: usize) -> Self {
        ViewColumn {
            views: Vec::with_capacity(rows),
            nulls: NullBufferBuilder::new(rows),
            owned: Vec::new(),
            full: Vec::new(),
            cut: u32::MAX as usize,
            block: None,
        }
    }

    fn refer_to(&mut self, block: Buffer) {
        debug_assert!(self.views.is_empty());
        self.block = Some(block);
    }

    /// Appends `v`: inlined when short, as a view into the block when it lies inside it,
    /// else copied ([`ViewColumn::copied`]). Inlined into the builder's row loop: a call
    /// per value and column was a fifth of this function's time in its prologue.
    #[inline(always)]
    fn append(&mut self, v: Option<&str>) {
        let Some(v) = v else {
            self.nulls.append_null();
            self.views.push(0);
            return;
        };
        self.nulls.append_non_null();
        let b = v.as_bytes();
        let view = if b.len() <= 12 {
            inline_view(b)
        } else {
            let inside = self.block.as_ref().and_then(|block| {
                let start = (b.as_ptr() as usize).wrapping_sub(block.as_ptr() as usize);
                (start <= block.len() && b.len() <= block.len() - start).then_some(start)
            });
            match inside {
                Some(start) => long_view(b, 0, start),
                None => self.copied(b),
            }
        };
        self.views.push(view);
    }

    /// The view of text outside the block, copied into this column's own buffer.
    #[cold]
    #[inline(never)]
    fn copied(&mut self, b: &[u8]) -> u128 {
        if self.owned.len() + b.len() > self.cut {
            // Only a record of gigabytes gets here (`--max-record-bytes`).
            let full = Buffer::from_vec(std::mem::take(&mut self.owned));
            self.full.push(full);
        }
        let at = self.owned.len();
        self.owned.extend_from_slice(b);
        let index = u32::from(self.block.is_some()) + self.full.len() as u32;
        long_view(b, index, at)
    }

    /// The column (the builder is left empty).
    fn finish(&mut self) -> StringViewArray {
        let mut buffers: Vec<Buffer> = self.block.take().into_iter().collect();
        buffers.append(&mut self.full);
        if !self.owned.is_empty() {
            buffers.push(Buffer::from_vec(std::mem::take(&mut self.owned)));
        }
        let views = ScalarBuffer::from(std::mem::take(&mut self.views));
        let nulls = self.nulls.finish();
        // SAFETY: every view is inline, or names the block (buffer 0, when there is one)
        // or a copy buffer, at an offset and length inside it (checked in `append`, or
        // where the text was copied), over a whole `&str`: valid UTF-8.
        unsafe { StringViewArray::new_unchecked(views, buffers.into(), nulls) }
    }
}

/// The view of text over 12 bytes at `offset` in buffer `buffer`.
#[inline(always)]
fn long_view(b: &[u8], buffer: u32, offset: usize) -> u128 {
    let prefix = u32::from_le_bytes(b[..4].try_into().expect("over 12 bytes"));
    // Offsets fit 32 bits: `over` takes blocks below 4 GiB, a copy buffer is cut before
    // 4 GiB, and a value is at most 4 GiB (else the length does not fit).
    let offset = u32::try_from(offset).expect("offsets are below 4 GiB");
    let len = u32::try_from(b.len()).expect("a text value is below 4 GiB");
    u128::from(len)
        | (u128::from(prefix) << 32)
        | (u128::from(buffer) << 64)
        | (u128::from(offset) << 96)
}

/// The inline view of a value of at most 12 bytes: its length, then its bytes, zero
/// padded. Two overlapping word loads instead of a copy of a variable length.
#[inline]
fn inline_view(b: &[u8]) -> u128 {
    let n = b.len();
    debug_assert!(n <= 12);
    let word8 = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8"));
    let word4 = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().expect("4"));
    // Overlapping bytes are the same in both words, so OR joins them.
    let data = match n {
        8..=12 => u128::from(word8(0)) | (u128::from(word4(n - 4)) << (8 * (n - 4))),
        4..=7 => u128::from(word4(0)) | (u128::from(word4(n - 4)) << (8 * (n - 4))),
        _ => b
            .iter()
            .enumerate()
            .fold(0, |x, (i, &c)| x | (u128::from(c) << (8 * i))),
    };
    n as u128 | (data << 32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;
    use std::borrow::Cow;

    fn event<'a>(endpoint: &'a str, user: &'a str, msg: Cow<'a, str>) -> Event<'a> {
        Event {
            ts: 1,
            endpoint: Some(Cow::Borrowed(endpoint)),
            user_id: Some(Cow::Borrowed(user)),
            message: Some(msg),
            category: "success",
            ..Default::default()
        }
    }

    /// Text inside the block becomes views into it, text outside (owned, static, short)
    /// is copied, and the batch reads the same either way.
    #[test]
    fn views_into_the_block_read_as_copies() {
        let data = b"/api/v1/payments/refunds|u_org_1_23|a message longer than twelve".to_vec();
        let block = Buffer::from_vec(data);
        let text = std::str::from_utf8(block.as_slice()).unwrap();
        let (ep, user, msg) = (&text[..24], &text[25..35], &text[36..]);
        let events = [
            event(ep, user, Cow::Borrowed(msg)),
            event(ep, "short", Cow::Owned(format!("{msg}, owned"))),
            event(
                "/static/path/outside/the/block",
                user,
                Cow::Borrowed(&msg[2..]),
            ),
        ];
        let mut viewed = EventBatchBuilder::over(4, block.clone());
        let mut copied = EventBatchBuilder::with_capacity(4);
        for e in &events {
            viewed.append(e, "f.ndjson", 1);
            copied.append(e, "f.ndjson", 1);
        }
        let (v, c) = (viewed.finish(), copied.finish());
        assert_eq!(v, c);
        let ep_col = v.column(crate::schema::col::ENDPOINT).as_string_view();
        assert_eq!(ep_col.value(0), ep);
        assert_eq!(ep_col.value(2), "/static/path/outside/the/block");
        // The long borrowed values point into the block (its buffer is the array's first).
        assert_eq!(ep_col.data_buffers()[0].as_ptr(), block.as_ptr());
        assert_eq!(ep_col.views()[0] >> 64, 0, "block 0, offset 0");
    }

    /// Inline views are arrow's, at every length a value can be inlined.
    #[test]
    fn inline_views_are_arrows() {
        let text = b"0123456789abcdef";
        for n in 0..=12 {
            for at in 0..4 {
                let v = &text[at..at + n];
                assert_eq!(
                    inline_view(v),
                    arrow_array::builder::make_view(v, 0, 0),
                    "{n} bytes"
                );
            }
        }
    }

    /// A hand-built column reads like arrow's builder made it: nulls, inline, viewed
    /// and copied values mixed.
    #[test]
    fn view_columns_read_as_the_builders() {
        let data = b"a long value in the block|short|another value inside".to_vec();
        let block = Buffer::from_vec(data);
        let text = std::str::from_utf8(block.as_slice()).unwrap();
        let values = [
            Some(&text[..25]),
            None,
            Some(&text[26..31]),
            Some("a long value from elsewhere"),
            Some(""),
            Some(&text[32..]),
            Some("twelve bytes"),
            None,
        ];
        let mut want = StringViewBuilder::new();
        let mut col = ViewColumn::with_capacity(2);
        col.refer_to(block.clone());
        for v in values {
            want.append_option(v);
            col.append(v);
        }
        let got = col.finish();
        assert_eq!(got, want.finish());
        assert_eq!(got.data_buffers().len(), 2, "the block and the copies");
        assert!(col.views.is_empty() && col.owned.is_empty() && col.block.is_none());
        assert!(col.full.is_empty());

        // Copies past a buffer's limit go on in a new buffer (4 GiB for real).
        let mut want = StringViewBuilder::new();
        let mut col = ViewColumn::with_capacity(2);
        col.cut = 45;
        for i in 0..7 {
            let v = format!("copied value number {i}");
            want.append_value(&v);
            col.append(Some(&v));
        }
        let got = col.finish();
        assert_eq!(got, want.finish());
        assert_eq!(got.data_buffers().len(), 4, "two 21-byte values a buffer");
    }
}
