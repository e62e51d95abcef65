//! The `errscope` binary: parse flags -> build options -> run -> exit code.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;

use errscope::analyze::baseline::Baseline;
use errscope::analyze::collect::Collector;
use errscope::analyze::detect::Severity;
use errscope::analyze::{analyze_events, events_dataset, FailLevel, TimeBounds};
use errscope::cli::{
    AnalyzeArgs, Cli, Command, FailOn, GenerateArgs, GenerateFamily, GenerateShape, IngestArgs,
    QueryArgs, QueryFormat,
};
use errscope::config::Config;
use errscope::exit::Outcome;
use errscope::ingest::coerce::parse_ts_str;
use errscope::ingest::manifest::Totals;
use errscope::pipeline::{run_ingest, IngestCpu, IngestOptions};
use errscope::report::html::InputsView;
use errscope::state::{Fingerprint, State};

/// A line on stderr; a closed stderr is not worth a panic.
macro_rules! note {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// Writes to stdout. A closed pipe (`errscope analyze ... | head -1`) is not an error: the
/// run's exit code (`--fail-on`) stands; other write errors fail the run.
fn put(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut o = std::io::stdout().lock();
    match o.write_all(text.as_bytes()).and_then(|()| o.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("cannot write to stdout"),
    }
}

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Days of windowed counts a `--state` file carries as the next run's baseline.
const BASELINE_DAYS: u32 = 7;

/// What the run did about exact duplicates, for the ingest line ("" when none were seen).
fn duplicates_note(c: &errscope::ingest::manifest::Counts) -> String {
    let mut out = String::new();
    if c.duplicates > 0 {
        out += &format!(", {} exact duplicates left out", c.duplicates);
    }
    if c.duplicates_kept > 0 {
        out += &format!(
            ", {} exact duplicates kept (duplicates = \"keep\")",
            c.duplicates_kept
        );
    }
    if c.duplicates_unchecked > 0 {
        out += &format!(
            ", {} events checked for duplicates against part of the input only ([ingest] duplicate_memory)",
            c.duplicates_unchecked
        );
    }
    out
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ingest(args) => ingest_only(&args),
        Command::Analyze(args) => analyze(args),
        Command::Query(args) => query(args),
        Command::Generate(args) => generate(args),
        Command::Inspect(args) => inspect(args),
    };
    match result {
        Ok(outcome) => outcome.into(),
        Err(e) => {
            if is_broken_pipe(&e) {
                return Outcome::Ok.into();
            }
            note!("errscope: error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                return Outcome::Usage.into();
            }
            Outcome::Failed.into()
        }
    }
}

/// A flag value that does not make sense: exit 2, like the argument parser's own errors.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage(msg: String) -> anyhow::Error {
    UsageError(msg).into()
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
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

/// Runs ingest; returns the outcome, the totals, (with `collect_step_us`, for analyze)
/// the events folded into window counts, and where the CPU went; with a state, records
/// the fingerprints of the files read. `stdout_is_json`: the summary line goes to stderr, so that stdout stays one
/// JSON document.
fn ingest(
    args: &IngestArgs,
    stdout_is_json: bool,
    mut state: Option<&mut State>,
    collect_step_us: Option<i64>,
) -> anyhow::Result<(Outcome, Totals, Option<Collector>, Option<IngestCpu>)> {
    if let Some(r) = args.max_error_ratio {
        if !(0.0..=1.0).contains(&r) {
            return Err(usage(format!(
                "--max-error-ratio must be between 0 and 1, got {r}"
            )));
        }
    }
    let config = Config::load(args.config.as_deref())?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let opts = IngestOptions {
        inputs: args.inputs.clone(),
        out: args.out.clone(),
        threads,
        max_record_bytes: args.max_record_bytes.max(1024),
        mapping: config.mapping,
        config_path: config.path,
        bounds: bounds_of(args)?,
        track_inputs: state.is_some(),
        known_inputs: state.as_ref().map_or_else(Vec::new, |s| s.inputs.clone()),
        progress: !args.quiet,
        collect_step_us,
        collect_max_keys: config.analyze.rates.max_keys,
        dedup_carried: state
            .as_deref_mut()
            .map(|s| std::mem::take(&mut s.recent))
            .unwrap_or_default(),
    };
    let started = Instant::now();
    refuse_output_over_inputs(&args.inputs, &args.out)?;
    let mut report = run_ingest(&opts, |msg| note!("errscope: error: {msg}"))
        .with_context(|| format!("ingest into {} failed", args.out.display()))?;
    if let Some(state) = state {
        state.record(report.processed);
        state.recent = std::mem::take(&mut report.dedup_latest);
    }
    let t = report.manifest.totals;
    let c = &t.counts;
    if !args.quiet {
        let line = format!(
            "ingested {} file{}: {} records -> {} events, {} quarantined ({} blank lines){}{}; wrote {}",
            t.files,
            if t.files == 1 { "" } else { "s" },
            c.records + c.expanded,
            c.events,
            c.quarantined,
            c.blank,
            duplicates_note(c),
            if t.files_with_errors > 0 {
                format!("; {} file(s) not fully readable", t.files_with_errors)
            } else {
                String::new()
            },
            args.out.display(),
        );
        name_skipped(&report.manifest.skipped);
        if stdout_is_json {
            note!("{line}");
        } else {
            put(&format!("{line}\n"))?;
        }
        note!(
            "errscope: ingest done in {:.2}s",
            started.elapsed().as_secs_f64()
        );
    }
    let outcome = if t.files_with_errors > 0 {
        Outcome::InputUnreadable
    } else if args.max_error_ratio.is_some_and(|max| {
        let total = c.events + c.quarantined;
        total > 0 && c.quarantined as f64 / total as f64 > max
    }) {
        note!(
            "errscope: error: {} of {} records quarantined, over --max-error-ratio {}",
            c.quarantined,
            c.events + c.quarantined,
            args.max_error_ratio.unwrap_or_default()
        );
        Outcome::TooManyBadRecords
    } else {
        Outcome::Ok
    };
    Ok((outcome, t, report.collected.take(), report.cpu))
}

fn fail_level(f: FailOn) -> FailLevel {
    match f {
        FailOn::Critical => FailLevel::Class("critical"),
        FailOn::Security => FailLevel::Class("security"),
        FailOn::Warning => FailLevel::Class("warning"),
        FailOn::High => FailLevel::Severity(Severity::High),
        FailOn::Medium => FailLevel::Severity(Severity::Medium),
        FailOn::Low => FailLevel::Severity(Severity::Low),
    }
}

/// With `--state`: whether every input file was processed before (and nothing is read from
/// stdin), so the outputs of the last run stand as they are.
fn nothing_new(a: &IngestArgs, state: &State) -> bool {
    use errscope::ingest::source::{expand_inputs, Source};
    expand_inputs(&a.inputs, Some(&a.out))
        .iter()
        .all(|s| match s {
            Source::File(p) => Fingerprint::of(p).is_ok_and(|fp| state.seen(&fp).is_some()),
            Source::Skipped { .. } => true,
            Source::Stdin | Source::Missing { .. } => false,
        })
}

fn analyze(args: AnalyzeArgs) -> anyhow::Result<Outcome> {
    let a = &args.input;
    let config = Config::load(a.config.as_deref())?;
    let bounds = bounds_of(a)?;
    let started = Instant::now();
    let mut state = args.state.as_deref().map(State::load).transpose()?;
    // An events dataset is analysed as it is; raw logs are ingested into --out first.
    let dataset = match a.inputs.as_slice() {
        [one] => events_dataset(std::path::Path::new(one)),
        _ => None,
    };
    if let (Some(st), None) = (&state, &dataset) {
        if !st.inputs.is_empty() && nothing_new(a, st) {
            if !a.quiet {
                note!(
                    "errscope: nothing new since the last run (--state {}); {} left as it was",
                    args.state
                        .as_deref()
                        .unwrap_or(std::path::Path::new(""))
                        .display(),
                    a.out.display()
                );
            }
            return Ok(Outcome::Ok);
        }
    }
    let step_us = config.analyze.windows.step_us();
    let mut stages = Stages::default();
    let (outcome, events_dir, totals, collected) = match dataset {
        Some(dir) => (Outcome::Ok, dir, None, None),
        None => {
            let (o, t, c, cpu) = ingest(a, args.json, state.as_mut(), Some(step_us))?;
            stages.lap("ingest (read, decode, fold, write events)");
            if let Some(cpu) = cpu {
                stages.parts = vec![
                    ("  read and split records", cpu.read),
                    ("  decode, map, redact", cpu.decode),
                    ("  fold for analysis", cpu.fold),
                    ("  reorder, quarantine", cpu.reorder),
                    ("  events Parquet writer", cpu.events),
                ];
            }
            (o, a.out.join("events"), Some(t), c)
        }
    };
    std::fs::create_dir_all(&a.out)?;
    let baseline = state.as_ref().and_then(|s| s.baseline.as_ref());
    let input_bytes = totals.as_ref().map_or(0, |t| t.bytes);
    let analysis = analyze_events(
        &events_dir,
        &config.analyze,
        bounds,
        baseline,
        totals,
        collected,
    )
    .with_context(|| format!("analysis of {} failed", events_dir.display()))?;
    stages.lap("analysis (tables, detectors, incidents)");
    // The manifest and quarantine of the ingest behind the events, when beside them.
    let inputs = InputsView::read(events_dir.parent().unwrap_or(&a.out));
    errscope::report::write_all(&a.out, &analysis, &config.analyze, &inputs)
        .with_context(|| format!("cannot write the reports into {}", a.out.display()))?;
    stages.lap("reports (rates, anomalies, charts, html)");
    if args.timings {
        note!(
            "{}",
            stages
                .render(input_bytes, analysis.summary.events)
                .trim_end()
        );
    }
    if let (Some(st), Some(path)) = (state.as_mut(), args.state.as_deref()) {
        if let Some(t) = &analysis.tables {
            st.baseline = Some(Baseline::from_tables(t, BASELINE_DAYS));
        }
        st.save(path)?;
    }
    if args.json {
        put(&format!(
            "{}\n",
            serde_json::to_string_pretty(&analysis.summary)?
        ))?;
    } else if !a.quiet {
        put(&errscope::report::terminal::render(
            &analysis.summary,
            &analysis.incidents,
        ))?;
        note!(
            "errscope: analyze done in {:.2}s; report: {}",
            started.elapsed().as_secs_f64(),
            a.out.join("report.html").display()
        );
    }
    if let Some(level) = args.fail_on.map(fail_level) {
        let met = level.met_by(&analysis.incidents);
        if !met.is_empty() {
            if !a.quiet {
                note!(
                    "errscope: {} incident(s) at or above --fail-on {}",
                    met.len(),
                    format!("{:?}", args.fail_on.unwrap_or(FailOn::Low)).to_lowercase()
                );
            }
            return Ok(Outcome::IncidentsFound);
        }
    }
    if let Some(cause) = &analysis.summary.no_data {
        note!(
            "errscope: error: no data: {cause}; the outputs in {} say so",
            a.out.display()
        );
        // An input that could not be read (3) is the more specific cause.
        if outcome != Outcome::InputUnreadable {
            return Ok(Outcome::NoData);
        }
    }
    Ok(outcome)
}

/// `errscope ingest`: a run that writes no event exits 6 with the cause.
fn ingest_only(args: &IngestArgs) -> anyhow::Result<Outcome> {
    let (outcome, totals, ..) = ingest(args, false, None, None)?;
    if totals.counts.events == 0 && outcome != Outcome::InputUnreadable {
        let cause = errscope::analyze::no_data_cause(Some(&totals), bounds_of(args)?);
        note!("errscope: error: no data: {cause}");
        return Ok(Outcome::NoData);
    }
    Ok(outcome)
}

/// Refuses (bad usage, exit 2) an input that is the output folder or inside it: a folder
/// walk never reads the run's own output folder, so such a run would read nothing and
/// replace the results there with an empty report.
fn refuse_output_over_inputs(inputs: &[String], out: &std::path::Path) -> anyhow::Result<()> {
    let Ok(out_abs) = std::fs::canonicalize(out) else {
        return Ok(()); // not there yet: no input can be in it
    };
    for input in inputs.iter().filter(|i| i.as_str() != "-") {
        if let Ok(p) = std::fs::canonicalize(input) {
            if p.starts_with(&out_abs) {
                return Err(usage(format!(
                    "input {input} is the output folder --out {} or inside it: errscope never \
                     reads its own output folder, so this run would read nothing and replace \
                     the results there; choose another --out",
                    out.display()
                )));
            }
        }
    }
    Ok(())
}

/// Names the files a folder walk passed over (docs, hidden files, files already processed),
/// so that nothing is skipped without a word; the full list is in manifest.json.
fn name_skipped(skipped: &[errscope::ingest::manifest::Skipped]) {
    const SHOWN: usize = 20;
    for s in skipped.iter().take(SHOWN) {
        note!("errscope: skipped {}: {}", s.path, s.reason);
    }
    if skipped.len() > SHOWN {
        note!(
            "errscope: ... and {} more skipped file(s), listed in manifest.json",
            skipped.len() - SHOWN
        );
    }
}

/// Wall time per stage, for `--timings`.
struct Stages {
    last: Instant,
    laps: Vec<(&'static str, f64)>,
    /// Ingest's concurrent parts: name and CPU seconds.
    parts: Vec<(&'static str, f64)>,
}

impl Default for Stages {
    fn default() -> Self {
        Stages {
            last: Instant::now(),
            laps: Vec::new(),
            parts: Vec::new(),
        }
    }
}

impl Stages {
    fn lap(&mut self, name: &'static str) {
        let now = Instant::now();
        self.laps
            .push((name, now.duration_since(self.last).as_secs_f64()));
        self.last = now;
    }

    fn render(&self, bytes: u64, events: u64) -> String {
        let total: f64 = self.laps.iter().map(|(_, s)| s).sum();
        // One line: seconds, share of `whole`, and the input's bytes and events per second.
        let row = |out: &mut String, name: &str, s: f64, whole: f64| {
            let per = |n: f64| if s > 0.0 { n / s } else { 0.0 };
            out.push_str(&format!(
                "{name:44} {s:7.2} {:6.1}% {:6.0} {:9.0}\n",
                100.0 * s / whole.max(f64::EPSILON),
                per(bytes as f64 / 1e6),
                per(events as f64),
            ));
        };
        let mut out = String::from(
            "stage                                         wall s   share   MB/s  events/s\n",
        );
        for (name, s) in self.laps.iter().chain(std::iter::once(&("total", total))) {
            row(&mut out, name, *s, total);
        }
        if !self.parts.is_empty() {
            // Throughput per CPU second: what one core does of each part.
            out.push_str(
                "ingest, parts at once (thread CPU)            cpu s   share   MB/s  events/s\n",
            );
            let cpu: f64 = self.parts.iter().map(|(_, s)| s).sum();
            for (name, s) in &self.parts {
                row(&mut out, name, *s, cpu);
            }
        }
        out
    }
}

fn query(args: QueryArgs) -> anyhow::Result<Outcome> {
    use errscope::query::output::{emit, Format};
    use std::io::IsTerminal;
    let config = Config::load(args.config.as_deref())?;
    let params: std::collections::BTreeMap<_, _> = args
        .params
        .iter()
        .map(|p| errscope::query::params::parse_param(p))
        .collect::<Result<_, _>>()
        .map_err(|e| usage(e.to_string()))?;
    let format = match args.format {
        Some(QueryFormat::Table) => Format::Table,
        Some(QueryFormat::Csv) => Format::Csv,
        Some(QueryFormat::Json) => Format::Json,
        Some(QueryFormat::Ndjson) => Format::Ndjson,
        Some(QueryFormat::Parquet) => Format::Parquet,
        None => match args.output.as_deref() {
            Some(path) => match path.extension().and_then(|e| e.to_str()) {
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
            },
            None if std::io::stdout().is_terminal() => Format::Table,
            None => Format::Csv,
        },
    };
    if args.print_sql {
        let (sql, origin) = errscope::query::read_query(&args.query)?;
        let sql = errscope::query::params::substitute(&sql, &params)
            .with_context(|| format!("in {origin}"))?;
        put(&format!("{sql}\n"))?;
        return Ok(Outcome::Ok);
    }
    let opts = errscope::query::QueryOptions {
        query: args.query.clone(),
        inputs: args.inputs.clone(),
        params,
        mapping: config.mapping,
        threads: args
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get())),
    };
    let mut df = errscope::query::run(&opts)?;
    emit(&mut df, format, args.output.as_deref())?;
    Ok(Outcome::Ok)
}

fn inspect(args: errscope::cli::InspectArgs) -> anyhow::Result<Outcome> {
    let config = Config::load(args.config.as_deref())?;
    let text = errscope::inspect::inspect(&args.inputs, &config.mapping, args.sample.max(1))?;
    put(&text)?;
    Ok(Outcome::Ok)
}

fn generate(args: GenerateArgs) -> anyhow::Result<Outcome> {
    use errscope::generate::{generate, GenerateOptions, Shape};
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
    let opts = GenerateOptions {
        out: args.out.clone(),
        records: args.records,
        days: args.days,
        seed: args.seed,
        shape: match args.shape {
            GenerateShape::Flat => Shape::Flat,
            GenerateShape::Mixed => Shape::Mixed,
        },
        incidents: args.incidents,
        high_cardinality: args.high_cardinality,
    };
    let g = if seasonal {
        errscope::generate::seasonal::generate(&opts)?
    } else {
        generate(&opts)?
    };
    note!(
        "errscope: wrote {} records into {} file(s) in {}{}",
        g.records,
        g.files.len(),
        args.out.display(),
        if g.truth.is_empty() {
            String::new()
        } else {
            format!(
                ", {} incidents in truth.csv{}",
                g.truth.len(),
                if seasonal {
                    ", benign cases in benign.csv"
                } else {
                    ""
                }
            )
        }
    );
    Ok(Outcome::Ok)
}
