//! The `errscope` binary: parse flags -> build options -> run -> exit code.

use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context};
use clap::Parser;

use errscope::cli::{Cli, Command, IngestArgs};
use errscope::config::MappingConfig;
use errscope::exit::Outcome;
use errscope::pipeline::{run_ingest, IngestOptions};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Ingest(args) => ingest(args),
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

fn ingest(args: IngestArgs) -> anyhow::Result<Outcome> {
    if let Some(r) = args.max_error_ratio {
        if !(0.0..=1.0).contains(&r) {
            bail!("--max-error-ratio must be between 0 and 1, got {r}");
        }
    }
    let (mapping, config_path) = MappingConfig::load(args.config.as_deref())?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let opts = IngestOptions {
        inputs: args.inputs,
        out: args.out.clone(),
        threads,
        max_record_bytes: args.max_record_bytes.max(1024),
        mapping,
        config_path,
    };
    let started = Instant::now();
    let report = run_ingest(&opts, |msg| eprintln!("errscope: error: {msg}"))
        .with_context(|| format!("ingest into {} failed", args.out.display()))?;
    let t = &report.manifest.totals;
    let c = &t.counts;
    if !args.quiet {
        println!(
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
        eprintln!("errscope: done in {:.2}s", started.elapsed().as_secs_f64());
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
    Ok(outcome)
}
