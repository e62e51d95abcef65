//! Flags -> validated run options, one struct per command (ripgrep's `LowArgs` ->
//! `HiArgs`). This is the only module that reads clap types: the commands and everything
//! under them take these options. A flag value that makes no sense is a [`UsageError`]
//! (exit 2, like the argument parser's own errors); a bad config file is not (exit 1).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::analyze::detect::Severity;
use crate::analyze::{FailLevel, IncidentClass, TimeBounds};
use crate::cli::{
    AnalyzeArgs, FailOn, GenerateArgs, GenerateFamily, GenerateShape, IngestArgs, InspectArgs,
    QueryArgs, QueryFormat,
};
use crate::config::{Config, MappingConfig};
use crate::generate::{GenerateOptions, Shape};
use crate::ingest::coerce::parse_ts_str;
use crate::query::output::Format;
use crate::query::params::Value;
use crate::state::StatePlace;
use crate::storage::output::Staged;
use crate::storage::{Location, Scheme};

/// A flag value that does not make sense: exit 2, like the argument parser's own errors.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// A [`UsageError`] as an error of the glue.
pub fn usage(msg: String) -> anyhow::Error {
    UsageError(msg).into()
}

/// Decoder threads: the flag, else every core.
fn threads_or_cores(threads: Option<usize>) -> usize {
    threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

/// `errscope ingest`, and the ingest half of `errscope analyze`.
#[derive(Debug, Clone)]
pub struct IngestRun {
    /// Files, folders, globs, object URLs or `-`, as given.
    pub inputs: Vec<String>,
    /// Where the run writes: the output folder, or the local staging folder of `staged`.
    pub out: PathBuf,
    /// `--out` in a bucket: published from `out` when the run has finished.
    pub staged: Option<std::sync::Arc<Staged>>,
    /// The folder whose files are never inputs, when `out` is a staging folder inside it.
    pub guard: Option<PathBuf>,
    pub config: Config,
    pub threads: usize,
    pub max_record_bytes: usize,
    /// Exit 4 past this share of quarantined records.
    pub max_error_ratio: Option<f64>,
    pub bounds: TimeBounds,
    pub quiet: bool,
}

fn parse_time(flag: &str, v: Option<&str>) -> anyhow::Result<Option<i64>> {
    v.map(|s| {
        parse_ts_str(s).ok_or_else(|| {
            usage(format!(
                "--{flag} {s:?} is not a time (use RFC 3339 or YYYY-MM-DD, UTC)"
            ))
        })
    })
    .transpose()
}

fn bounds_of(args: &IngestArgs) -> anyhow::Result<TimeBounds> {
    let b = TimeBounds {
        since: parse_time("since", args.since.as_deref())?,
        until: parse_time("until", args.until.as_deref())?,
    };
    if let (Some(s), Some(u)) = (b.since, b.until) {
        if s >= u {
            return Err(usage("--since must be before --until".into()));
        }
    }
    Ok(b)
}

impl IngestRun {
    pub fn from_args(args: IngestArgs) -> anyhow::Result<IngestRun> {
        if let Some(r) = args.max_error_ratio {
            if !(0.0..=1.0).contains(&r) {
                return Err(usage(format!(
                    "--max-error-ratio must be between 0 and 1, got {r}"
                )));
            }
        }
        let config = Config::load(args.config.as_deref())?;
        crate::storage::configure(config.storage.clone());
        let bounds = bounds_of(&args)?;
        let (out, staged) = out_place(args.out)?;
        Ok(IngestRun {
            threads: threads_or_cores(args.threads),
            max_record_bytes: args.max_record_bytes.max(1024),
            max_error_ratio: args.max_error_ratio,
            bounds,
            quiet: args.quiet,
            config,
            inputs: args.inputs,
            out,
            staged,
            guard: None,
        })
    }

    /// What messages call the output: the folder, or the bucket URL.
    pub fn out_name(&self) -> String {
        match (&self.staged, &self.guard) {
            (Some(s), _) => s.url.to_string(),
            (None, Some(out)) => out.display().to_string(),
            (None, None) => self.out.display().to_string(),
        }
    }
}

/// `--out` as a local folder, or a bucket prefix with its local staging folder.
fn out_place(out: PathBuf) -> anyhow::Result<(PathBuf, Option<std::sync::Arc<Staged>>)> {
    let text = out.to_string_lossy().to_string();
    match Location::parse(&text) {
        None => Ok((out, None)),
        Some(Err(e)) => Err(usage(format!("--out {e}"))),
        Some(Ok(url)) if url.scheme == Scheme::Http => Err(usage(format!(
            "--out {url}: outputs go to a bucket (s3://, gs://, az://) or a folder, not to a web URL"
        ))),
        Some(Ok(url)) => {
            let staged = Staged::new(url)?;
            Ok((staged.dir.path().to_path_buf(), Some(std::sync::Arc::new(staged))))
        }
    }
}

/// `errscope analyze`.
#[derive(Debug, Clone)]
pub struct AnalyzeRun {
    pub input: IngestRun,
    /// Print summary.json instead of the incident table.
    pub json: bool,
    /// Exit 5 when an incident meets this gate.
    pub fail_on: Option<FailLevel>,
    /// The state file of incremental runs (a file, or an object in a bucket).
    pub state: Option<std::sync::Arc<StatePlace>>,
    /// Print the wall time of each stage.
    pub timings: bool,
    /// Where the rate tables are computed.
    pub engine: Engine,
}

/// Where `analyze` computes the rate tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Engine {
    /// In this process (the one-pass fold).
    Local,
    /// On a Spark cluster, through its Spark Connect URL (`sc://HOST:PORT[/;params]`).
    Spark(String),
}

impl Engine {
    /// `--engine`, else `[engine] url`, else local. A Spark URL in a build without the
    /// client is a usage error that says how to build it.
    fn choose(flag: Option<&str>, config: Option<&str>) -> anyhow::Result<Engine> {
        let (value, from) = match (flag, config) {
            (Some(v), _) => (v, "--engine"),
            (None, Some(v)) => (v, "[engine] url"),
            (None, None) => return Ok(Engine::Local),
        };
        match value.trim() {
            "local" => Ok(Engine::Local),
            v if v.starts_with("sc://") => {
                if cfg!(feature = "spark") {
                    Ok(Engine::Spark(v.to_string()))
                } else {
                    Err(usage(format!(
                        "{from} {}: this errscope was built without the Spark Connect \
                         client; build it with `cargo install --path . --features spark` \
                         (needs protoc: Debian's protobuf-compiler)",
                        without_params(v)
                    )))
                }
            }
            v => Err(usage(format!(
                "{from} {}: expected `local` or a Spark Connect URL sc://HOST:PORT",
                without_params(v)
            ))),
        }
    }
}

/// A connection string without its parameters (`;token=…`): for messages.
fn without_params(v: &str) -> &str {
    v.split([';', '?']).next().unwrap_or_default()
}

fn fail_level(f: FailOn) -> FailLevel {
    match f {
        FailOn::Critical => FailLevel::Class(IncidentClass::Critical),
        FailOn::Security => FailLevel::Class(IncidentClass::Security),
        FailOn::Warning => FailLevel::Class(IncidentClass::Warning),
        FailOn::High => FailLevel::Severity(Severity::High),
        FailOn::Medium => FailLevel::Severity(Severity::Medium),
        FailOn::Low => FailLevel::Severity(Severity::Low),
    }
}

impl AnalyzeRun {
    pub fn from_args(args: AnalyzeArgs) -> anyhow::Result<AnalyzeRun> {
        let input = IngestRun::from_args(args.input)?;
        let engine = Engine::choose(args.engine.as_deref(), input.config.engine.url.as_deref())?;
        Ok(AnalyzeRun {
            engine,
            input,
            json: args.json,
            fail_on: args.fail_on.map(fail_level),
            state: args
                .state
                .as_deref()
                .map(|p| match Location::parse(&p.to_string_lossy()) {
                    Some(Err(e)) => Err(usage(format!("--state {e}"))),
                    _ => StatePlace::new(p),
                })
                .transpose()?
                .map(std::sync::Arc::new),
            timings: args.timings,
        })
    }
}

/// `errscope query`.
#[derive(Debug, Clone)]
pub struct QueryRun {
    pub query: crate::query::QueryOptions,
    pub format: Format,
    /// Write here (atomically) instead of stdout.
    pub output: Option<PathBuf>,
    /// Print the SQL with its parameters substituted, and run nothing.
    pub print_sql: bool,
    /// List the built-in queries, and run nothing.
    pub list: bool,
}

/// The format of `--output FILE` by its extension.
fn format_of_output(path: &Path) -> anyhow::Result<Format> {
    Ok(match path.extension().and_then(|e| e.to_str()) {
        Some("parquet") => Format::Parquet,
        Some("json") => Format::Json,
        Some("ndjson" | "jsonl") => Format::Ndjson,
        Some("csv") => Format::Csv,
        other => {
            return Err(usage(format!(
                "--output {}: {}; name it .csv, .json, .ndjson, .jsonl or .parquet, \
                 or give --format",
                path.display(),
                other.map_or("no extension to tell the format".to_string(), |e| {
                    format!("unknown extension .{e}")
                })
            )))
        }
    })
}

impl QueryRun {
    pub fn from_args(args: QueryArgs) -> anyhow::Result<QueryRun> {
        use std::io::IsTerminal;
        let config = Config::load(args.config.as_deref())?;
        crate::storage::configure(config.storage.clone());
        let params: BTreeMap<String, Value> = args
            .params
            .iter()
            .map(|p| crate::query::params::parse_param(p))
            .collect::<Result<_, _>>()
            .map_err(|e| usage(e.to_string()))?;
        let format = match args.format {
            Some(QueryFormat::Table) => Format::Table,
            Some(QueryFormat::Csv) => Format::Csv,
            Some(QueryFormat::Json) => Format::Json,
            Some(QueryFormat::Ndjson) => Format::Ndjson,
            Some(QueryFormat::Parquet) => Format::Parquet,
            None => match args.output.as_deref() {
                Some(path) => format_of_output(path)?,
                None if std::io::stdout().is_terminal() => Format::Table,
                None => Format::Csv,
            },
        };
        Ok(QueryRun {
            query: crate::query::QueryOptions {
                query: args.query.unwrap_or_default(),
                inputs: args.inputs,
                params,
                mapping: config.mapping,
                threads: threads_or_cores(args.threads),
            },
            format,
            output: args.output,
            print_sql: args.print_sql,
            list: args.list,
        })
    }
}

/// `errscope inspect`.
#[derive(Debug, Clone)]
pub struct InspectRun {
    pub inputs: Vec<String>,
    pub mapping: MappingConfig,
    /// Records traced per file (at least 1).
    pub sample: usize,
}

impl InspectRun {
    pub fn from_args(args: InspectArgs) -> anyhow::Result<InspectRun> {
        let config = Config::load(args.config.as_deref())?;
        crate::storage::configure(config.storage.clone());
        Ok(InspectRun {
            inputs: args.inputs,
            mapping: config.mapping,
            sample: args.sample.max(1),
        })
    }
}

/// `errscope generate`.
#[derive(Debug, Clone)]
pub struct GenerateRun {
    pub options: GenerateOptions,
    /// The seasonal family (else the classic one).
    pub seasonal: bool,
}

impl GenerateRun {
    pub fn from_args(args: GenerateArgs) -> anyhow::Result<GenerateRun> {
        if args.days == 0 || args.days > 3650 {
            return Err(usage(format!(
                "--days must be 1 to 3650, got {}",
                args.days
            )));
        }
        let seasonal = args.family == GenerateFamily::Seasonal;
        if seasonal && (args.high_cardinality || args.shape != GenerateShape::Flat) {
            return Err(usage(
                "--shape and --high-cardinality are the classic family's; --family seasonal writes its own shape".into(),
            ));
        }
        Ok(GenerateRun {
            options: GenerateOptions {
                out: args.out,
                records: args.records,
                days: args.days,
                seed: args.seed,
                shape: match args.shape {
                    GenerateShape::Flat => Shape::Flat,
                    GenerateShape::Mixed => Shape::Mixed,
                },
                incidents: args.incidents,
                high_cardinality: args.high_cardinality,
            },
            seasonal,
        })
    }
}
