//! Accumulates [`Event`]s into Arrow `RecordBatch`es of the canonical schema.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int16Builder, StringViewBuilder, TimestampMicrosecondBuilder,
    UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_buffer::Buffer;

use super::mapping::Event;
use crate::schema::{event_schema, TEXT_COLUMNS, TS_TZ};

pub struct EventBatchBuilder {
    ts: TimestampMicrosecondBuilder,
    status: Int16Builder,
    text: Vec<StringViewBuilder>,
    retry_after_s: Float64Builder,
    category: StringViewBuilder,
    retryable: BooleanBuilder,
    class: StringViewBuilder,
    details: StringViewBuilder,
    downstream: StringViewBuilder,
    extra: StringViewBuilder,
    source_file: StringViewBuilder,
    /// The current run of one source file name and its length: a batch holds the records
    /// of one file, so the name is appended once per run, not hashed once per row.
    file_run: (String, usize),
    source_line: UInt64Builder,
    len: usize,
    /// The bytes the events were decoded from ([`EventBatchBuilder::over`]): text that
    /// borrows from them is appended as a view into them, not copied.
    block: Option<Buffer>,
}

impl EventBatchBuilder {
    pub fn with_capacity(rows: usize) -> Self {
        let sv = || StringViewBuilder::with_capacity(rows);
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
            block: None,
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
            let id = t.append_block(block.clone());
            debug_assert_eq!(id, 0);
        }
        b.block = Some(block);
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
        ];
        let block = self.block.as_ref().map(|b| b.as_slice());
        for (b, v) in self.text.iter_mut().zip(texts) {
            append_text(b, block, v.as_deref());
        }
        self.retry_after_s.append_option(ev.retry_after_s);
        self.category.append_value(ev.category);
        self.retryable.append_option(ev.retryable);
        self.class.append_option(ev.class);
        append_text(&mut self.details, block, ev.details.as_deref());
        append_text(&mut self.downstream, block, ev.downstream.as_deref());
        self.extra.append_option(ev.extra.as_deref());
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
        self.block = None;
        RecordBatch::try_new(event_schema(), cols).expect("builder columns match the schema")
    }
}

/// Appends `v` to `b`: as a view into `block` (block 0 of `b`) when the text lies inside
/// it and is too long to be inlined, else copied.
#[inline]
fn append_text(b: &mut StringViewBuilder, block: Option<&[u8]>, v: Option<&str>) {
    let Some(v) = v else {
        b.append_null();
        return;
    };
    if let Some(block) = block {
        let start = (v.as_ptr() as usize).wrapping_sub(block.as_ptr() as usize);
        if v.len() > 12 && start <= block.len() && v.len() <= block.len() - start {
            // SAFETY: block 0 of `b` is `block` (`over`), `start..start + len` lies inside
            // it (checked above), and those bytes are `v`, valid UTF-8. Both fit in u32: a
            // chunk is a few MiB.
            unsafe { b.append_view_unchecked(0, start as u32, v.len() as u32) };
            return;
        }
    }
    b.append_value(v);
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
}
