//! Wires the stages: one reader thread splits sources into chunks, decoder threads (one
//! per core) turn chunks into batches, and the calling thread takes them back in input
//! order (so reruns write identical files), folds them for analysis and writes the
//! quarantine; the events Parquet is encoded on a thread of its own, fed in that order.
//! (On the calling thread beside the fold, the in-order consumer was the slowest stage:
//! with more busy threads than cores each gets a fair share, and it needed more.)
//!
//! Memory is bounded: at most `in_flight` chunks exist between reader and the calling
//! thread, and two batches wait for the events writer, whatever the size of the input.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread;

use anyhow::Context;
use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{BooleanArray, RecordBatch};
use crossbeam_channel::bounded;
use indicatif::{ProgressBar, ProgressStyle};

use crate::analyze::collect::Collector;
use crate::analyze::TimeBounds;
use crate::config::MappingConfig;
use crate::ingest::decode::{decode_chunk, DecodedChunk};
use crate::ingest::dedup::{Carried, Dedup, DupCounts};

/// Hours of fingerprints a `--state` run carries to the next, and the most it carries.
const CARRY_HOURS: usize = 24;
const CARRY_MAX: usize = 1_000_000;
use crate::ingest::manifest::{Counts, FileStats, Manifest, Outputs, Skipped};
use crate::ingest::reader::{read_source, Chunk, Layout};
use crate::ingest::source::Fingerprint;
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
    /// The folder whose files are never inputs, when not `out` (the output folder of a run
    /// that writes into a staging folder inside it).
    pub guard: Option<PathBuf>,
    /// The bucket prefix `out` is staged for, if any: objects under it are never inputs.
    pub out_url: Option<crate::storage::Location>,
    pub threads: usize,
    pub max_record_bytes: usize,
    pub mapping: MappingConfig,
    pub config_path: Option<PathBuf>,
    /// Events outside these bounds are counted (`out_of_range`) and not written.
    pub bounds: TimeBounds,
    /// With `--state`: fingerprint every input file, and skip those processed before.
    pub track_inputs: bool,
    pub known_inputs: Vec<Fingerprint>,
    /// Show a progress bar on stderr (only when it is a terminal).
    pub progress: bool,
    /// Fold the events into window counts of this length (µs) as they are decoded, for
    /// `analyze` ([`IngestReport::collected`]).
    pub collect_step_us: Option<i64>,
    /// `[rates] max_keys` of the collector (0: no limit).
    pub collect_max_keys: usize,
    /// Fingerprints an earlier `--state` run carried: copies of its records are found.
    pub dedup_carried: Carried,
}

impl IngestOptions {
    /// A plain ingest of `inputs` into `out` (a scratch folder: `query` on raw logs,
    /// `inspect`): no bounds, no state, no collector, no progress bar.
    pub fn scratch(
        inputs: &[String],
        out: PathBuf,
        mapping: MappingConfig,
        threads: usize,
    ) -> Self {
        IngestOptions {
            inputs: inputs.to_vec(),
            out,
            guard: None,
            out_url: None,
            threads,
            max_record_bytes: DEFAULT_MAX_RECORD_BYTES,
            mapping,
            config_path: None,
            bounds: Default::default(),
            track_inputs: false,
            known_inputs: Vec::new(),
            progress: false,
            collect_step_us: None,
            collect_max_keys: 0,
            dedup_carried: Vec::new(),
        }
    }
}

/// What happened, for the summary line and the exit code.
#[derive(Debug)]
pub struct IngestReport {
    pub manifest: Manifest,
    /// One message per input that could not be read to its end, naming file and line.
    pub file_errors: Vec<String>,
    /// Fingerprints of the files read (when `track_inputs`).
    pub processed: Vec<Fingerprint>,
    /// The events folded for analysis (with `collect_step_us`).
    pub collected: Option<Collector>,
    /// CPU seconds of each concurrent part of ingest (`None` where the platform does not
    /// tell a thread's CPU time).
    pub cpu: Option<IngestCpu>,
    /// With `track_inputs`: the fingerprints of the last hours read, for the next run.
    pub dedup_latest: Carried,
}

/// Where ingest's CPU went: its parts run at once on their own threads, so wall time
/// alone does not say which one costs what.
#[derive(Debug, Clone, Copy, Default)]
pub struct IngestCpu {
    /// Reading and splitting into records (one thread).
    pub read: f64,
    /// Decoding, mapping, redaction, Arrow batches (all decoder threads).
    pub decode: f64,
    /// Folding the events into window counts for analysis (the calling thread).
    pub fold: f64,
    /// The rest of the calling thread: reordering, quarantine, the manifest.
    pub reorder: f64,
    /// Encoding and writing the events Parquet (its own thread).
    pub events: f64,
}

/// What the binary's allocator does once ingest is over ([`after_ingest`]).
static AFTER_INGEST: std::sync::OnceLock<fn()> = std::sync::OnceLock::new();

/// Sets what [`ingest_done`] runs: the binary hands its allocator's settling here (the
/// library does not choose an allocator). Only the first call counts.
pub fn after_ingest(settle: fn()) {
    let _ = AFTER_INGEST.set(settle);
}

/// Ingest is over: the stages after it allocate far less, and the memory ingest freed is
/// no use to them. Runs what [`after_ingest`] set, if anything.
pub fn ingest_done() {
    if let Some(settle) = AFTER_INGEST.get() {
        settle()
    }
}

/// How many nice levels a decoder thread steps below the others (Linux's scheduler gives
/// a thread 5 levels down about a third of the share of one at the base level).
pub const DECODER_NICENESS: i32 = 5;

/// Lowers the calling decoder thread's scheduling priority by [`DECODER_NICENESS`], so
/// that the serial stages (the reader, the in-order fold, the events writer) run whenever
/// they have work and the decoders take the rest of the cores. At equal priority, with
/// more busy threads than cores, the serial stages waited for their fair share behind the
/// decoders while these filled the queues, then stalled on them: on 2 cores, 90 days x 5 M
/// records ran 7 % longer (medians of 4 alternating runs) and took more CPU (caches shared
/// by more threads at once). Only ever lowers the priority (never below what the process
/// was started with, e.g. under `nice`), and does nothing where it cannot.
fn behind_the_serial_stages() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread's own id.
        unsafe {
            let tid = libc::gettid() as libc::id_t;
            *libc::__errno_location() = 0;
            let now = libc::getpriority(libc::PRIO_PROCESS, tid);
            if now == -1 && *libc::__errno_location() != 0 {
                return;
            }
            let _ = libc::setpriority(libc::PRIO_PROCESS, tid, (now + DECODER_NICENESS).min(19));
        }
    }
}

/// The CPU time of the calling thread, in seconds.
pub fn thread_cpu() -> Option<f64> {
    #[cfg(unix)]
    {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid timespec to write into; the clock id is a constant.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        (rc == 0).then(|| ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9)
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Runs ingest: reads every input, writes `<out>/events/`, `quarantine.ndjson` and
/// `manifest.json`. Input problems are reported, never fatal; only output failures are.
pub fn run_ingest(
    opts: &IngestOptions,
    mut on_file_error: impl FnMut(&str),
) -> anyhow::Result<IngestReport> {
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("cannot create output folder {}", opts.out.display()))?;
    // Temporaries of runs killed mid-way (never a live run's) would pile up night after night.
    crate::report::atomic::sweep_dead_runs(&opts.out);
    let mut processed = Vec::new();
    let guard = opts.guard.as_deref().unwrap_or(&opts.out);
    let expanded: Vec<Source> = expand_inputs(&opts.inputs, Some(guard), opts.out_url.as_ref())
        .into_iter()
        .map(|s| match s {
            Source::Read(input) if opts.track_inputs => match input.identity() {
                Ok(Some(fp)) if fp.seen_in(&opts.known_inputs).is_some() => Source::Skipped {
                    path: input.name().into(),
                    reason: crate::ingest::source::ALREADY_PROCESSED,
                },
                Ok(Some(fp)) => {
                    processed.push(fp);
                    Source::Read(input)
                }
                // Unreadable: reading it reports the error with the file's name.
                Ok(None) | Err(_) => Source::Read(input),
            },
            other => other,
        })
        .collect();
    let (sources, skipped): (Vec<Source>, Vec<Source>) = expanded
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

    let events = EventsWriter::create(&opts.out.join("events"))
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
    let bar = progress_bar(opts.progress, sources.len() as u64);

    let (work_tx, work_rx) = bounded::<(u64, Chunk)>(threads);
    let (done_tx, done_rx) = bounded::<(u64, DecodedChunk)>(in_flight);
    let (token_tx, token_rx) = bounded::<()>(in_flight);

    let mut collected: Option<Collector> = opts
        .collect_step_us
        .map(|step| Collector::with_max_keys(step, opts.bounds, opts.collect_max_keys))
        .transpose()?;
    // Two batches queued for the writer: each holds its chunk's bytes (text columns are
    // views into them); a queue of six measured no faster.
    let (events_tx, events_rx) = bounded::<RecordBatch>(2);
    let mut dedup = Dedup::new(opts.mapping.duplicates, opts.mapping.duplicate_memory);
    dedup.seed(&opts.dedup_carried);
    let main_cpu_start = thread_cpu().unwrap_or(0.0);
    let (events, cpu) = thread::scope(
        |scope| -> anyhow::Result<(EventsWriter, Option<IngestCpu>)> {
            let writer = scope.spawn(move || -> anyhow::Result<(EventsWriter, Option<f64>)> {
                let mut events = events;
                for batch in events_rx {
                    events.write(&batch).context("cannot write events")?;
                }
                Ok((events, thread_cpu()))
            });
            let sources = &sources;
            let max_record = opts.max_record_bytes;
            let reader = scope.spawn(move || {
                let mut seq = 0u64;
                let ahead = crate::storage::settings().concurrency();
                for (i, source) in sources.iter().enumerate() {
                    // Remote inputs start fetching a few ahead (bounded); files ignore it.
                    for next in sources.iter().skip(i + 1).take(ahead) {
                        if let Source::Read(input) = next {
                            input.prefetch();
                        }
                    }
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
                thread_cpu()
            });
            let mut decoders = Vec::with_capacity(threads);
            for _ in 0..threads {
                let (rx, tx) = (work_rx.clone(), done_tx.clone());
                let names = &names;
                let cfg = &opts.mapping;
                decoders.push(scope.spawn(move || {
                    behind_the_serial_stages();
                    for (seq, chunk) in rx {
                        let name = &names[chunk.file];
                        let decoded = decode_chunk(chunk, name, cfg);
                        if tx.send((seq, decoded)).is_err() {
                            break;
                        }
                    }
                    thread_cpu()
                }));
            }
            drop(done_tx);
            drop(work_rx);

            let mut fold_cpu = 0.0;
            let mut pending: BTreeMap<u64, DecodedChunk> = BTreeMap::new();
            let mut next = 0u64;
            let mut result = Ok(());
            for (seq, decoded) in done_rx.iter() {
                pending.insert(seq, decoded);
                while let Some(d) = pending.remove(&next) {
                    next += 1;
                    let _ = token_rx.try_recv();
                    if d.end.is_some() {
                        bar.inc(1);
                    }
                    if result.is_err() {
                        continue;
                    }
                    let (d, dropped) = match prepare(d, opts.bounds, &mut dedup) {
                        Ok(x) => x,
                        Err(e) => {
                            result = Err(e);
                            continue;
                        }
                    };
                    if let (Some(c), Some(batch)) = (collected.as_mut(), &d.batch) {
                        // One collector, fed in input order on this thread: one set of window
                        // tables for the whole input (a collector per decoder held one each).
                        let before = thread_cpu();
                        c.observe(batch, next - 1);
                        if let (Some(a), Some(b)) = (before, thread_cpu()) {
                            fold_cpu += b - a;
                        }
                    }
                    result = absorb(
                        d,
                        dropped,
                        &mut files,
                        &events_tx,
                        &mut quarantine,
                        &names,
                        &mut file_errors,
                        &mut on_file_error,
                    );
                    let c = files.iter().map(|f| f.counts.events).sum::<u64>();
                    bar.set_message(format!("{c} events"));
                }
                if result.is_err() {
                    // Stop the reader and decoders: dropping the receivers unblocks them.
                    break;
                }
            }
            drop(token_rx);
            drop(done_rx);
            drop(events_tx);
            let mut decode_cpu = Some(0.0);
            for d in decoders {
                let cpu = d
                    .join()
                    .map_err(|_| anyhow::anyhow!("a decoder thread panicked"))?;
                decode_cpu = decode_cpu.zip(cpu).map(|(a, b)| a + b);
            }
            let read_cpu = reader
                .join()
                .map_err(|_| anyhow::anyhow!("the reader thread panicked"))?;
            // The writer's own error first: a failed send only echoes it.
            let (events, events_cpu) = writer
                .join()
                .map_err(|_| anyhow::anyhow!("the events writer panicked"))??;
            let cpu = match (read_cpu, decode_cpu, events_cpu, thread_cpu()) {
                (Some(read), Some(decode), Some(events), Some(main)) => Some(IngestCpu {
                    read,
                    decode,
                    fold: fold_cpu,
                    reorder: (main - main_cpu_start - fold_cpu).max(0.0),
                    events,
                }),
                _ => None,
            };
            result.map(|()| (events, cpu))
        },
    )?;

    bar.finish_and_clear();
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
    // The last day of event time (at most a million fingerprints, 8 MB on disk).
    let dedup_latest = if opts.track_inputs {
        dedup.latest(CARRY_HOURS, CARRY_MAX)
    } else {
        Vec::new()
    };
    Ok(IngestReport {
        manifest,
        file_errors,
        processed,
        collected,
        cpu,
        dedup_latest,
    })
}

/// A bar of files done with the events count, on stderr when it is a terminal; hidden
/// otherwise (cron, pipes, tests).
fn progress_bar(wanted: bool, files: u64) -> ProgressBar {
    if !wanted || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(files);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} files, {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    bar
}

/// Events of a chunk left out before analysis and the events dataset.
#[derive(Debug, Default, Clone, Copy)]
struct Dropped {
    out_of_range: u64,
    dups: DupCounts,
}

/// Leaves out of `d`'s batch the events outside `bounds`, then the copies of earlier
/// records ([`Dedup`]), and says how many of each.
fn prepare(
    mut d: DecodedChunk,
    bounds: TimeBounds,
    dedup: &mut Dedup,
) -> anyhow::Result<(DecodedChunk, Dropped)> {
    let mut dropped = Dropped::default();
    let Some(mut batch) = d.batch.take() else {
        return Ok((d, dropped));
    };
    let mut fps = std::mem::take(&mut d.fingerprints);
    let ts_of = |b: &RecordBatch| {
        b.column(crate::schema::col::TS)
            .as_primitive::<TimestampMicrosecondType>()
            .clone()
    };
    if !bounds.is_unbounded() {
        let keep: BooleanArray = ts_of(&batch)
            .values()
            .iter()
            .map(|&t| Some(bounds.contains(t)))
            .collect();
        if keep.true_count() < batch.num_rows() {
            if !fps.is_empty() {
                fps = fps
                    .iter()
                    .zip(keep.values().iter())
                    .filter_map(|(&f, k)| k.then_some(f))
                    .collect();
            }
            let kept = arrow_select::filter::filter_record_batch(&batch, &keep)?;
            dropped.out_of_range = (batch.num_rows() - kept.num_rows()) as u64;
            batch = kept;
        }
    }
    if dedup.active() && !fps.is_empty() && batch.num_rows() > 0 {
        let (keep, counts) = dedup.check(ts_of(&batch).values(), &fps);
        dropped.dups = counts;
        if let Some(keep) = keep {
            batch = arrow_select::filter::filter_record_batch(&batch, &keep)?;
        }
    }
    d.batch = (batch.num_rows() > 0).then_some(batch);
    Ok((d, dropped))
}

#[allow(clippy::too_many_arguments)] // one call site; the pieces are the writer's own state
fn absorb(
    d: DecodedChunk,
    dropped: Dropped,
    files: &mut [FileStats],
    events: &crossbeam_channel::Sender<RecordBatch>,
    quarantine: &mut AtomicFile,
    names: &[Arc<str>],
    file_errors: &mut Vec<String>,
    on_file_error: &mut impl FnMut(&str),
) -> anyhow::Result<()> {
    if let Some(batch) = &d.batch {
        events
            .send(batch.clone())
            .map_err(|_| anyhow::anyhow!("the events writer stopped"))?;
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
    c.events += d.events - dropped.out_of_range - dropped.dups.dropped;
    c.out_of_range += dropped.out_of_range;
    c.duplicates += dropped.dups.dropped;
    c.duplicates_kept += dropped.dups.kept;
    c.duplicates_unchecked += dropped.dups.unchecked;
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

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[test]
    fn a_decoder_steps_below_the_other_threads_from_where_it_was() {
        fn nice() -> i32 {
            // SAFETY: reads the calling thread's own priority.
            unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
        }
        let base = nice();
        let (decoder, twice) = std::thread::spawn(|| {
            super::behind_the_serial_stages();
            let once = nice();
            super::behind_the_serial_stages();
            (once, nice())
        })
        .join()
        .unwrap();
        assert_eq!(decoder, (base + super::DECODER_NICENESS).min(19));
        assert_eq!(twice, (decoder + super::DECODER_NICENESS).min(19));
        // The other threads keep theirs.
        assert_eq!(nice(), base);
    }
}
