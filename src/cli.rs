//! Command-line flags (clap derive structs, nothing else). Validation into run options
//! happens in `options.rs`; no clap type goes past it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The exit codes, as `--help` shows them (README, "Exit codes").
pub const EXIT_CODES: &str = "Exit codes:
  0  every input was read; outputs written (incidents are a result, unless --fail-on)
  1  the run failed (output not writable, invalid config or state, SQL error, storage)
  2  bad usage (unknown flag, invalid value, an input inside --out)
  3  some input could not be read to its end; everything readable was processed
  4  quarantined records over --max-error-ratio
  5  analyze --fail-on found an incident at or above its level
  6  no event was analysed (the message names the cause)
  7  the aggregation engine failed (--engine sc://: unreachable, query rejected, cut off)";

#[derive(Debug, Parser)]
#[command(
    name = "errscope",
    version,
    about = "Turns exported JSON error logs into error rates, incidents and reports",
    after_help = EXIT_CODES
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,

    /// Read public buckets without credentials (as the AWS CLI's flag): requests to
    /// s3://, gs:// and az:// are not signed.
    #[arg(long, global = true)]
    pub no_sign_request: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read error-log exports into a canonical Parquet events dataset (plus quarantine and
    /// manifest).
    Ingest(IngestArgs),
    /// Ingest (or read an events dataset), then compute rates per window and dimension and
    /// flag incidents: rates/, anomalies.parquet, anomalies.csv, summary.json.
    Analyze(AnalyzeArgs),
    /// Run SQL over raw logs, an events dataset or an analyze output folder (tables
    /// `events`, `anomalies`, `rates_<dimension>`); see queries/ for ready-made ones.
    Query(QueryArgs),
    /// Show how errscope reads an export: the layout detected, every input field of a
    /// sample of records and the canonical column it became (or extra), and the nulls of
    /// each canonical column, before trusting a report built on it.
    Inspect(InspectArgs),
    /// Print a shell completion script: `errscope completions bash > /etc/bash_completion.d/errscope`
    /// (also zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `errscope man > ~/.local/share/man/man1/errscope.1`.
    Man,
    /// Write realistic synthetic exports (diurnal traffic, DOMAIN.md's error mix, optional
    /// injected incidents with a ground truth), the same bytes for the same seed.
    Generate(GenerateArgs),
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Files, folders, glob patterns.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// Records traced per file (the whole file is still ingested for the counts).
    #[arg(long, default_value_t = 200)]
    pub sample: usize,

    /// Config file (default: errscope.toml in the working directory, if any).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Output folder (errors.ndjson, or three files with --shape mixed; truth.csv).
    #[arg(long, short = 'o', value_name = "DIR")]
    pub out: PathBuf,

    /// About how many records (incidents add a few).
    #[arg(long, default_value_t = 100_000)]
    pub records: u64,

    /// Days of traffic, from 2024-03-01 UTC; incidents are on the last day.
    #[arg(long, default_value_t = 1)]
    pub days: u32,

    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// `flat`: one NDJSON file of flat records; `mixed`: flat NDJSON, a text log with JSON
    /// payloads and connection-centric gzip NDJSON.
    #[arg(long, value_enum, default_value = "flat")]
    pub shape: GenerateShape,

    /// Inject six incidents (credential stuffing, outage, rate-limit storm, critical codes,
    /// reauthorization, permission probing) and write truth.csv.
    #[arg(long)]
    pub incidents: bool,

    /// Client IPs from all of 10.0.0.0/8 and 200 k users per organisation: most IPs
    /// appear once (the high-cardinality benchmark's input).
    #[arg(long)]
    pub high_cardinality: bool,

    /// `classic`: the family above; `seasonal`: a second, independent one (two weeks or
    /// more from a Monday, quiet weekends, ECS records in one file a day, a heavy-tailed
    /// fleet; a distributed attack, a quiet-hour outage, a slow ramp, a storm and security
    /// violations in truth.csv; a benign surge, a new connection and the weekends in
    /// benign.csv). It always injects its incidents; `--shape` and `--high-cardinality`
    /// are the classic family's.
    #[arg(long, value_enum, default_value = "classic")]
    pub family: GenerateFamily,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GenerateFamily {
    Classic,
    Seasonal,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum GenerateShape {
    Flat,
    Mixed,
}

#[derive(Debug, Args)]
pub struct QueryArgs {
    /// SQL text, a .sql file, or the name of a built-in query (`connection_health`;
    /// `--list` names them).
    #[arg(value_name = "SQL|FILE.sql|NAME", required_unless_present = "list")]
    pub query: Option<String>,

    /// List the built-in queries (the queries/ library) and exit.
    #[arg(long)]
    pub list: bool,

    /// Raw logs (ingested on the fly, as for `ingest`), an events dataset, or an `analyze`
    /// output folder.
    #[arg(required_unless_present_any = ["print_sql", "list"], value_name = "INPUT")]
    pub inputs: Vec<String>,

    /// Print the SQL with its parameters substituted, and exit (to run the same query on
    /// DataFusion, Spark or DuckDB over the events Parquet).
    #[arg(long)]
    pub print_sql: bool,

    /// A query parameter, `NAME=VALUE` or `NAME:TYPE=VALUE` (TYPE: string, int, float,
    /// time), replacing `:NAME` in the SQL as a typed literal. Repeatable.
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    pub params: Vec<String>,

    /// Output format. Default: table when stdout is a terminal, else csv (or from the
    /// --output extension).
    #[arg(long, value_enum)]
    pub format: Option<QueryFormat>,

    /// Write the result to this file (atomically) instead of stdout.
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,

    /// Config file (field aliases for raw logs). Default: ./errscope.toml when present.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Decoder threads for raw logs (default: all cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QueryFormat {
    Table,
    Csv,
    Json,
    Ndjson,
    Parquet,
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

    /// Keep only events at or after this time (RFC 3339, or a date: midnight UTC).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,

    /// Keep only events before this time (RFC 3339, or a date: midnight UTC).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,

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

    /// Exit with status 5 when an incident is at or above this class (critical > security >
    /// warning) or severity (high > medium > low).
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub fail_on: Option<FailOn>,

    /// State file for incremental runs: inputs processed before are skipped, and the
    /// baseline of earlier runs carries over. Created when missing.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,

    /// Print the wall time and throughput of each stage on stderr (ingest with decoding
    /// and folding, tables, detectors, writers), and the CPU time of ingest's parts, which
    /// run at once on their own threads (read, decode, fold, events writer).
    #[arg(long)]
    pub timings: bool,

    /// Where the rate tables of an events dataset are computed: `local` (default, in this
    /// process) or an Apache Spark cluster's Spark Connect endpoint, `sc://HOST:PORT`
    /// (builds with `--features spark`). Detection and reports stay local.
    #[arg(long, value_name = "local|sc://HOST:PORT")]
    pub engine: Option<String>,
}

/// What `--fail-on` compares incidents with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    Critical,
    Security,
    Warning,
    High,
    Medium,
    Low,
}
