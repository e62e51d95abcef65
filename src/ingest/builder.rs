//! Accumulates [`Event`]s into Arrow `RecordBatch`es of the canonical schema.

use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int16Builder, StringViewBuilder, TimestampMicrosecondBuilder,
    UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};

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
        }
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
        for (b, v) in self.text.iter_mut().zip(texts) {
            b.append_option(v.as_deref());
        }
        self.retry_after_s.append_option(ev.retry_after_s);
        self.category.append_value(ev.category);
        self.retryable.append_option(ev.retryable);
        self.class.append_option(ev.class);
        self.details.append_option(ev.details.as_deref());
        self.downstream.append_option(ev.downstream.as_deref());
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

    /// Builds the batch and leaves the builder empty for reuse.
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
