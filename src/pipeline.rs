//! Wires the stages: one reader thread splits sources into chunks, decoder threads (one
//! per core) turn chunks into batches, and the writer, on the calling thread, takes them
//! back in input order (so reruns write identical files) and feeds the outputs.
//!
//! Memory is bounded: at most `in_flight` chunks exist between reader and writer, whatever
//! the size of the input.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;

use anyhow::Context;
use crossbeam_channel::bounded;

use crate::config::MappingConfig;
use crate::ingest::decode::{decode_chunk, DecodedChunk};
use crate::ingest::manifest::{Counts, FileStats, Manifest, Outputs, Skipped};
use crate::ingest::reader::{read_source, Chunk, Layout};
use crate::ingest::source::{expand_inputs, Source};
use crate::report::atomic::{write_file, AtomicFile};
use crate::report::parquet::EventsWriter;

/// Default largest record, in bytes; larger ones are quarantined without being parsed.
pub const DEFAULT_MAX_RECORD_BYTES: usize = 64 << 20;

/// What an ingest run needs.
#[derive(Debug, Clone)]
pub struct IngestOptions {
    pub inputs: Vec<String>,
    pub out: PathBuf,
    pub threads: usize,
    pub max_record_bytes: usize,
    pub mapping: MappingConfig,
    pub config_path: Option<PathBuf>,
}

/// What happened, for the summary line and the exit code.
#[derive(Debug)]
pub struct IngestReport {
    pub manifest: Manifest,
    /// One message per input that could not be read to its end, naming file and line.
    pub file_errors: Vec<String>,
}

/// Runs ingest: reads every input, writes `<out>/events/`, `quarantine.ndjson` and
/// `manifest.json`. Input problems are reported, never fatal; only output failures are.
pub fn run_ingest(
    opts: &IngestOptions,
    mut on_file_error: impl FnMut(&str),
) -> anyhow::Result<IngestReport> {
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("cannot create output folder {}", opts.out.display()))?;
    let (sources, skipped): (Vec<Source>, Vec<Source>) =
        expand_inputs(&opts.inputs, Some(&opts.out))
            .into_iter()
            .partition(|s| !matches!(s, Source::Skipped { .. }));
    let skipped: Vec<Skipped> = skipped
        .into_iter()
        .filter_map(|s| match s {
            Source::Skipped { path, reason } => Some(Skipped {
                path: path.display().to_string(),
                reason,
            }),
            _ => None,
        })
        .collect();
    let names: Vec<Arc<str>> = sources
        .iter()
        .map(|s| Arc::from(s.display_name()))
        .collect();
    let threads = opts.threads.max(1);
    let in_flight = threads * 3;

    let mut events = EventsWriter::create(&opts.out.join("events"))
        .with_context(|| format!("cannot write into {}", opts.out.display()))?;
    let mut quarantine = AtomicFile::create(opts.out.join("quarantine.ndjson"))
        .with_context(|| format!("cannot write into {}", opts.out.display()))?;

    let mut files: Vec<FileStats> = sources
        .iter()
        .map(|s| FileStats {
            path: s.display_name(),
            compression: None,
            layout: None,
            bytes: 0,
            counts: Counts::default(),
            error: None,
        })
        .collect();
    let mut file_errors = Vec::new();

    let (work_tx, work_rx) = bounded::<(u64, Chunk)>(threads);
    let (done_tx, done_rx) = bounded::<(u64, DecodedChunk)>(in_flight);
    let (token_tx, token_rx) = bounded::<()>(in_flight);

    thread::scope(|scope| -> anyhow::Result<()> {
        let sources = &sources;
        let max_record = opts.max_record_bytes;
        scope.spawn(move || {
            let mut seq = 0u64;
            for (i, source) in sources.iter().enumerate() {
                let mut send = |chunk: Chunk| {
                    if token_tx.send(()).is_err() {
                        return false;
                    }
                    let ok = work_tx.send((seq, chunk)).is_ok();
                    seq += 1;
                    ok
                };
                if !read_source(i, source, max_record, &mut send) {
                    break;
                }
            }
        });
        for _ in 0..threads {
            let (rx, tx) = (work_rx.clone(), done_tx.clone());
            let names = &names;
            let cfg = &opts.mapping;
            scope.spawn(move || {
                for (seq, chunk) in rx {
                    let name = &names[chunk.file];
                    if tx.send((seq, decode_chunk(chunk, name, cfg))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(done_tx);
        drop(work_rx);

        let mut pending: BTreeMap<u64, DecodedChunk> = BTreeMap::new();
        let mut next = 0u64;
        let mut result = Ok(());
        for (seq, decoded) in done_rx.iter() {
            pending.insert(seq, decoded);
            while let Some(d) = pending.remove(&next) {
                next += 1;
                let _ = token_rx.try_recv();
                if result.is_ok() {
                    result = absorb(
                        d,
                        &mut files,
                        &mut events,
                        &mut quarantine,
                        &names,
                        &mut file_errors,
                        &mut on_file_error,
                    );
                }
            }
            if result.is_err() {
                // Stop the reader and decoders: dropping the receivers unblocks them.
                break;
            }
        }
        drop(token_rx);
        drop(done_rx);
        result
    })?;

    let parts = events
        .finish()
        .context("cannot complete the events dataset")?;
    quarantine
        .commit()
        .context("cannot complete quarantine.ndjson")?;
    let inputs = files;
    let manifest = Manifest {
        errscope_version: env!("CARGO_PKG_VERSION"),
        config: opts.config_path.as_ref().map(|p| p.display().to_string()),
        totals: Manifest::totals_of(&inputs),
        inputs,
        skipped,
        outputs: Outputs {
            events: parts,
            quarantine: "quarantine.ndjson".into(),
        },
    };
    let json = serde_json::to_vec_pretty(&manifest)?;
    write_file(&opts.out.join("manifest.json"), &json).context("cannot write manifest.json")?;
    Ok(IngestReport {
        manifest,
        file_errors,
    })
}

fn absorb(
    d: DecodedChunk,
    files: &mut [FileStats],
    events: &mut EventsWriter,
    quarantine: &mut AtomicFile,
    names: &[Arc<str>],
    file_errors: &mut Vec<String>,
    on_file_error: &mut impl FnMut(&str),
) -> anyhow::Result<()> {
    if let Some(batch) = &d.batch {
        events.write(batch).context("cannot write events")?;
    }
    let w = quarantine.writer();
    for q in &d.quarantine {
        serde_json::to_writer(&mut *w, q)?;
        w.write_all(b"\n")?;
    }
    let st = &mut files[d.file];
    let c = &mut st.counts;
    c.lines += d.lines;
    c.blank += d.blank;
    c.records += d.records;
    c.expanded += d.expanded;
    c.events += d.events;
    c.quarantined += d.quarantine.len() as u64;
    if let Some(end) = d.end {
        st.compression = end.compression;
        st.layout = end.layout;
        st.bytes = end.bytes;
        if st.layout == Some(Layout::Lines) {
            c.continuation = c.lines - c.blank - c.records;
        }
        if let Some(err) = end.error {
            let name = &names[d.file];
            let msg = if end.mid_read {
                format!(
                    "{name}: line {}: {err}; the {} lines before it were kept",
                    c.lines + 1,
                    c.lines
                )
            } else {
                format!("{name}: {err}")
            };
            on_file_error(&msg);
            file_errors.push(msg);
            st.error = Some(err);
        }
    }
    Ok(())
}
