//! Stage benchmarks on fixed generated input (`errscope generate`, seed 42): JSON decoding
//! alone, decoding + normalisation into Arrow batches (alias mapping, classification,
//! redaction), and windowing (folding batches into per-window, per-key counts).
//!
//!     cargo bench --bench stages
//!
//! Throughput is in input bytes (decoding, normalisation) or events (windowing).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

use errscope::analyze::collect::Collector;
use errscope::analyze::grid::MINUTE_US;
use errscope::analyze::TimeBounds;
use errscope::config::MappingConfig;
use errscope::generate::{generate, GenerateOptions, Shape};
use errscope::ingest::decode::decode_chunk;
use errscope::ingest::json::parse_object;
use errscope::ingest::reader::{read_source, Chunk};
use errscope::ingest::source::Source;

const RECORDS: u64 = 40_000;

/// The chunks of a generated export, as the reader hands them to the decoders.
fn chunks(dir: &Path, shape: Shape) -> Vec<Chunk> {
    let out: PathBuf = dir.join(format!("{shape:?}"));
    let generated = generate(&GenerateOptions {
        out,
        records: RECORDS,
        days: 1,
        seed: 42,
        shape,
        incidents: true,
        high_cardinality: false,
    })
    .expect("generate");
    let mut chunks = Vec::new();
    for (i, f) in generated.files.iter().enumerate() {
        let mut sink = |c: Chunk| {
            chunks.push(c);
            true
        };
        read_source(i, &Source::file(f.clone()), 1 << 20, &mut sink);
    }
    chunks
}

fn bytes(chunks: &[Chunk]) -> u64 {
    chunks
        .iter()
        .flat_map(|c| c.records.iter().map(|r| (r.end - r.start) as u64))
        .sum()
}

fn stages(c: &mut Criterion) {
    let tmp = errscope::testutil::tempdir().expect("temp dir");
    let cfg = MappingConfig::default();
    let name: Arc<str> = Arc::from("bench.ndjson");

    let flat = chunks(tmp.path(), Shape::Flat);
    let mixed = chunks(tmp.path(), Shape::Mixed);

    let mut g = c.benchmark_group("decode");
    g.sample_size(10);
    g.throughput(Throughput::Bytes(bytes(&flat)));
    g.bench_function("json_objects_flat", |b| {
        b.iter(|| {
            let mut keys = 0usize;
            for ch in &flat {
                for r in &ch.records {
                    let text = std::str::from_utf8(&ch.data[r.start..r.end]).expect("utf-8");
                    keys += parse_object(text).map_or(0, |e| e.len());
                }
            }
            keys
        })
    });
    g.finish();

    let mut g = c.benchmark_group("normalise");
    g.sample_size(10);
    for (label, input) in [("flat", &flat), ("mixed", &mixed)] {
        g.throughput(Throughput::Bytes(bytes(input)));
        g.bench_function(label, |b| {
            b.iter_batched(
                || input.clone(),
                |chunks| {
                    chunks
                        .into_iter()
                        .map(|ch| decode_chunk(ch, &name, &cfg).events)
                        .sum::<u64>()
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.finish();

    let batches: Vec<_> = flat
        .iter()
        .filter_map(|ch| decode_chunk(ch.clone(), &name, &cfg).batch)
        .collect();
    let events: usize = batches.iter().map(|b| b.num_rows()).sum();
    let mut g = c.benchmark_group("window");
    g.sample_size(10);
    g.throughput(Throughput::Elements(events as u64));
    g.bench_function("fold", |b| {
        b.iter(|| {
            let mut col = Collector::new(5 * MINUTE_US, TimeBounds::default()).expect("collector");
            for (seq, batch) in batches.iter().enumerate() {
                col.observe(batch, seq as u64);
            }
            col.events()
        })
    });
    g.bench_function("fold_and_finish", |b| {
        b.iter(|| {
            let mut col = Collector::new(5 * MINUTE_US, TimeBounds::default()).expect("collector");
            for (seq, batch) in batches.iter().enumerate() {
                col.observe(batch, seq as u64);
            }
            col.finish(tmp.path(), 3)
                .expect("finish")
                .map_or(0, |t| t.error_log.len())
        })
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
