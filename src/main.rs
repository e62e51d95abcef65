//! The `errscope` binary: parse flags -> build options -> run -> exit code.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;

use errscope::analyze::{analyze_events, events_dataset};
use errscope::cli::{AnalyzeArgs, Cli, Command, IngestArgs};
use errscope::config::Config;
use errscope::exit::Outcome;
use errscope::ingest::manifest::Totals;
use errscope::pipeline::{run_ingest, IngestOptions};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ingest(args) => ingest(&args, false).map(|(o, _)| o),
        Command::Analyze(args) => analyze(args),
    };
    match result {
        Ok(outcome) => outcome.into(),
        Err(e) => {
            if is_broken_pipe(&e) {
                return Outcome::Ok.into();
            }
            eprintln!("errscope: error: {e:#}");
            Outcome::Failed.into()
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Runs ingest; returns the outcome and the totals. `stdout_is_json`: the summary line goes
/// to stderr, so that stdout stays one JSON document.
fn ingest(args: &IngestArgs, stdout_is_json: bool) -> anyhow::Result<(Outcome, Totals)> {
    if let Some(r) = args.max_error_ratio {
        if !(0.0..=1.0).contains(&r) {
            bail!("--max-error-ratio must be between 0 and 1, got {r}");
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
    };
    let started = Instant::now();
    let report = run_ingest(&opts, |msg| eprintln!("errscope: error: {msg}"))
        .with_context(|| format!("ingest into {} failed", args.out.display()))?;
    let t = report.manifest.totals;
    let c = &t.counts;
    if !args.quiet {
        let line = format!(
            "ingested {} file{}: {} records -> {} events, {} quarantined ({} blank lines){}; wrote {}",
            t.files,
            if t.files == 1 { "" } else { "s" },
            c.records + c.expanded,
            c.events,
            c.quarantined,
            c.blank,
            if t.files_with_errors > 0 {
                format!("; {} file(s) not fully readable", t.files_with_errors)
            } else {
                String::new()
            },
            args.out.display(),
        );
        if stdout_is_json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
        eprintln!(
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
        eprintln!(
            "errscope: error: {} of {} records quarantined, over --max-error-ratio {}",
            c.quarantined,
            c.events + c.quarantined,
            args.max_error_ratio.unwrap_or_default()
        );
        Outcome::TooManyBadRecords
    } else {
        Outcome::Ok
    };
    Ok((outcome, t))
}

fn analyze(args: AnalyzeArgs) -> anyhow::Result<Outcome> {
    let a = &args.input;
    let config = Config::load(a.config.as_deref())?;
    let started = Instant::now();
    // An events dataset is analysed as it is; raw logs are ingested into --out first.
    let dataset = match a.inputs.as_slice() {
        [one] => events_dataset(std::path::Path::new(one)),
        _ => None,
    };
    let (outcome, events_dir, totals) = match dataset {
        Some(dir) => (Outcome::Ok, dir, None),
        None => {
            let (o, t) = ingest(a, args.json)?;
            (o, a.out.join("events"), Some(t))
        }
    };
    std::fs::create_dir_all(&a.out)?;
    let result = analyze_events(&events_dir, &a.out, &config.analyze, totals)
        .with_context(|| format!("analysis of {} failed", events_dir.display()))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result.summary)?);
    } else if !a.quiet {
        print!("{}", errscope::analyze::incident::table(&result.incidents));
        eprintln!(
            "errscope: analyze done in {:.2}s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(outcome)
}
