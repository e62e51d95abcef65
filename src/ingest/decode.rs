//! A chunk of raw records -> a `RecordBatch` of events plus the quarantined records, each
//! with its reason. Runs on every core; holds no state between chunks.

use std::sync::Arc;

use arrow_array::RecordBatch;
use serde::Serialize;

use super::builder::EventBatchBuilder;
use super::coerce::trim;
use super::dedup::fingerprint;
use super::json::{parse_array, parse_object};
use super::mapping::{map_flat_with, map_object_text, Event, KeyCache, Mapped, Rejection};
use super::reader::{Chunk, FileEnd};
use super::redact::{clean_records, scrub_text, surely_clean};
use super::textline::{parse_prefix, Prefix};
use crate::ingest::rules::{DuplicateMode, MappingConfig};

/// Characters of a record kept in its quarantine excerpt.
pub const EXCERPT_CHARS: usize = 240;

/// A record that did not become an event, as written to `quarantine.ndjson`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Quarantined {
    pub file: Arc<str>,
    pub line: u64,
    pub reason: String,
    /// The start of the record, secrets redacted, invalid UTF-8 replaced.
    pub excerpt: String,
    pub bytes: usize,
}

/// What one chunk became.
pub struct DecodedChunk {
    pub file: usize,
    pub batch: Option<RecordBatch>,
    pub quarantine: Vec<Quarantined>,
    pub events: u64,
    /// Records as the reader split them; a record may hold several events.
    pub records: u64,
    /// Extra outcomes of records that held several (array lines, envelopes).
    pub expanded: u64,
    pub lines: u64,
    pub blank: u64,
    pub end: Option<FileEnd>,
    /// One per row of `batch`: the event's fingerprint for duplicate detection
    /// ([`super::dedup`]), 0 when it is not checked (no request id, or detection off).
    pub fingerprints: Vec<u64>,
}

fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(EXCERPT_CHARS * 4)]);
    let cut: String = text.chars().take(EXCERPT_CHARS).collect();
    scrub_text(&cut).into_owned()
}

/// Decodes every record of a chunk.
pub fn decode_chunk(chunk: Chunk, file_name: &Arc<str>, cfg: &MappingConfig) -> DecodedChunk {
    // The chunk's bytes become the block the text columns point into (no copy of text).
    let data = arrow_buffer::Buffer::from_vec(chunk.data);
    let mut builder = EventBatchBuilder::over(chunk.records.len(), data.clone());
    let mut quarantine = Vec::new();
    let mut expanded = 0u64;
    let mut keys = KeyCache::default();
    let spans: Vec<(usize, usize)> = chunk.records.iter().map(|r| (r.start, r.end)).collect();
    let clean = clean_records(&data, &spans);
    // One SIMD pass over the chunk instead of one validation per record; a record of a
    // valid chunk is valid when its ends are character boundaries (they fall on ASCII
    // bytes: newlines, brackets). An invalid chunk checks record by record, for the
    // reason's byte offset.
    let chunk_valid = simdutf8::basic::from_utf8(&data).is_ok();
    let boundary = |i: usize| data.get(i).is_none_or(|b| (b & 0xC0) != 0x80);
    let dedup = cfg.duplicates != DuplicateMode::Off && cfg.duplicate_memory > 0;
    let mut fingerprints = Vec::with_capacity(if dedup { chunk.records.len() } else { 0 });
    for (rec, &clean) in chunk.records.iter().zip(&clean) {
        let bytes = &data[rec.start..rec.end];
        let mut reject = |reason: String, size: usize| {
            quarantine.push(Quarantined {
                file: file_name.clone(),
                line: rec.line,
                reason,
                excerpt: excerpt(bytes),
                bytes: size,
            })
        };
        if let Some(size) = rec.oversize {
            reject(
                format!("record of {size} bytes is over the limit (--max-record-bytes)"),
                size,
            );
            continue;
        }
        let text = match if chunk_valid && boundary(rec.start) && boundary(rec.end) {
            // SAFETY: a slice of valid UTF-8 between character boundaries is valid.
            Ok(unsafe { std::str::from_utf8_unchecked(bytes) })
        } else {
            std::str::from_utf8(bytes)
        } {
            Ok(t) => t,
            Err(e) => {
                reject(
                    format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                    bytes.len(),
                );
                continue;
            }
        };
        let mut first = true;
        let text = trim(text);
        let mut nth = 0u64;
        decode_record_into(text, cfg, clean, &mut keys, &mut |outcome, of_many| {
            expanded += u64::from(!first);
            first = false;
            match outcome {
                Ok(ev) => {
                    if dedup {
                        fingerprints.push(match (&ev.request_id, of_many) {
                            (None, _) => 0,
                            // One of a document's records: the same event may come again
                            // in another document, beside other events.
                            (Some(_), true) => ev.content_fingerprint(),
                            (Some(_), false) => fingerprint(text.as_bytes(), nth),
                        });
                    }
                    nth += 1;
                    builder.append(ev, file_name, rec.line)
                }
                Err(Rejection(reason)) => reject(reason, bytes.len()),
            }
        });
    }
    let events = builder.len() as u64;
    DecodedChunk {
        file: chunk.file,
        batch: (!builder.is_empty()).then(|| builder.finish()),
        quarantine,
        events,
        records: chunk.records.len() as u64,
        expanded,
        lines: chunk.lines,
        blank: chunk.blank,
        end: chunk.end,
        fingerprints,
    }
}

fn json_error(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Eof => {
            format!("truncated JSON (ends at column {})", e.column())
        }
        _ => format!("invalid JSON: {e}"),
    }
}

/// One record's text -> its events or rejections (an array line or envelope holds several).
pub fn decode_record<'a>(text: &'a str, cfg: &MappingConfig) -> Vec<Result<Event<'a>, Rejection>> {
    let mut out = Vec::new();
    let clean = surely_clean(text);
    decode_record_into(text, cfg, clean, &mut KeyCache::default(), &mut |o, _| {
        out.push(o.cloned())
    });
    out
}

/// [`decode_record`], remembering what the keys of earlier records resolved to, each
/// outcome handed to `emit` (no list for the one event of most records, and the event by
/// reference: it is most of a kilobyte). `clean`: the record surely holds no secret
/// ([`surely_clean`], [`clean_records`]).
pub fn decode_record_into<'a>(
    text: &'a str,
    cfg: &MappingConfig,
    clean: bool,
    keys: &mut KeyCache,
    emit: &mut dyn FnMut(Result<&Event<'a>, Rejection>, bool),
) {
    fn many<'a>(m: Mapped<'a>, emit: &mut dyn FnMut(Result<&Event<'a>, Rejection>, bool)) {
        match m {
            Mapped::One(ev) => emit(Ok(&ev), false),
            Mapped::Many(v) => {
                for o in v {
                    match o {
                        Ok(ev) => emit(Ok(&ev), true),
                        Err(r) => emit(Err(r), true),
                    }
                }
            }
        }
    }
    match text.as_bytes().first() {
        Some(b'{') => {
            if map_flat_with(text, cfg, clean, keys, &mut |o: Result<
                &Event<'a>,
                Rejection,
            >| {
                emit(o, false)
            })
            .is_none()
            {
                match parse_object(text) {
                    Ok(entries) => {
                        many(map_object_text(text, entries, None, cfg, clean, keys), emit)
                    }
                    Err(e) => emit(Err(Rejection(json_error(&e))), false),
                }
            }
        }
        Some(b'[') => match parse_array(text) {
            Ok(items) if items.is_empty() => emit(Err(Rejection("empty JSON array".into())), false),
            Ok(items) => {
                for item in items {
                    match parse_object(item.get()) {
                        Ok(entries) => many(
                            map_object_text(item.get(), entries, None, cfg, clean, keys),
                            emit,
                        ),
                        Err(_) => emit(
                            Err(Rejection("array element is not a JSON object".into())),
                            false,
                        ),
                    }
                }
            }
            Err(e) => emit(Err(Rejection(json_error(&e))), false),
        },
        _ => match text.find('{') {
            Some(at) => {
                let prefix: Prefix<'a> = parse_prefix(&text[..at]);
                match parse_object(&text[at..]) {
                    Ok(entries) => many(
                        map_object_text(&text[at..], entries, Some(&prefix), cfg, clean, keys),
                        emit,
                    ),
                    Err(e) => emit(
                        Err(Rejection(format!("text line with {}", json_error(&e)))),
                        false,
                    ),
                }
            }
            None if text.starts_with('"')
                || text.parse::<f64>().is_ok()
                || matches!(text, "null" | "true" | "false") =>
            {
                emit(Err(Rejection("JSON value is not an object".into())), false)
            }
            None => emit(Err(Rejection("no JSON object on this line".into())), false),
        },
    }
}
