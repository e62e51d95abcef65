//! Command-line flags (clap derive structs, nothing else). Validation into options happens
//! in `main.rs`; no clap type reaches the core.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "errscope",
    version,
    about = "Turns exported JSON error logs into error rates, incidents and reports"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read error-log exports into a canonical Parquet events dataset (plus quarantine and
    /// manifest).
    Ingest(IngestArgs),
    /// Ingest (or read an events dataset), then compute rates per window and dimension and
    /// flag incidents: rates/, anomalies.parquet, anomalies.csv, summary.json.
    Analyze(AnalyzeArgs),
}

#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files, folders (read recursively), glob patterns, or `-` for stdin. The format is
    /// detected from the content: NDJSON, JSON arrays or objects, text logs with JSON
    /// payloads; plain, gzip or zstd.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// Output folder: events/day=YYYY-MM-DD/*.parquet, quarantine.ndjson, manifest.json.
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,

    /// Config file (field aliases, codes, windows, detectors). Default: ./errscope.toml
    /// when present, else built-in defaults.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Exit with status 4 when more than this share of records is quarantined (0.0 - 1.0).
    #[arg(long, value_name = "RATIO")]
    pub max_error_ratio: Option<f64>,

    /// Decoder threads (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Records larger than this many bytes are quarantined unparsed.
    #[arg(long, value_name = "BYTES", default_value_t = crate::pipeline::DEFAULT_MAX_RECORD_BYTES)]
    pub max_record_bytes: usize,

    /// Print nothing but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Raw logs (as for `ingest`), or an events dataset written by `ingest`/`analyze`.
    #[command(flatten)]
    pub input: IngestArgs,

    /// Print summary.json instead of the incident table.
    #[arg(long)]
    pub json: bool,
}
