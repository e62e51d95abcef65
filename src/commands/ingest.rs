//! `errscope ingest`, and the ingest stage `analyze` runs on raw logs: refuses an output
//! folder over its inputs, runs the pipeline, prints the ingest line and the skipped
//! files, and turns unreadable inputs and quarantine shares into outcomes.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;

use super::put;
use crate::analyze::collect::Collector;
use crate::exit::Outcome;
use crate::ingest::manifest::{Counts, Skipped, Totals};
use crate::note;
use crate::options::{usage, IngestRun};
use crate::pipeline::{run_ingest, IngestCpu, IngestOptions};
use crate::state::State;
use crate::storage::Location;

/// `errscope ingest`: a run that writes no event exits 6 with the cause.
pub fn run(run: &IngestRun) -> anyhow::Result<Outcome> {
    let ingested = ingest(run, false, None, None)?;
    let totals = ingested.totals;
    if let Some(staged) = &run.staged {
        super::publish_unless_empty(staged, totals.counts.events == 0, false, run.quiet)?;
    }
    if totals.counts.events == 0 && ingested.outcome != Outcome::InputUnreadable {
        let cause = crate::analyze::no_data_cause(Some(&totals), run.bounds);
        note!("errscope: error: no data: {cause}");
        return Ok(Outcome::NoData);
    }
    Ok(ingested.outcome)
}

/// What the ingest stage hands on.
pub(super) struct Ingested {
    pub outcome: Outcome,
    pub totals: Totals,
    /// The events folded into window counts (with `collect_step_us`).
    pub collected: Option<Collector>,
    /// Where the CPU went.
    pub cpu: Option<IngestCpu>,
}

/// Runs ingest; with `collect_step_us` (analyze) folds the events into window counts as
/// they are decoded; with a state, records the fingerprints of the files read.
/// `stdout_is_json`: the summary line goes to stderr, so that stdout stays one JSON
/// document.
pub(super) fn ingest(
    run: &IngestRun,
    stdout_is_json: bool,
    mut state: Option<&mut State>,
    collect_step_us: Option<i64>,
) -> anyhow::Result<Ingested> {
    let config = &run.config;
    let opts = IngestOptions {
        inputs: run.inputs.clone(),
        out: run.out.clone(),
        guard: run.guard.clone(),
        out_url: run.staged.as_ref().map(|s| s.url.clone()),
        threads: run.threads,
        max_record_bytes: run.max_record_bytes,
        mapping: config.mapping.clone(),
        config_path: config.path.clone(),
        bounds: run.bounds,
        track_inputs: state.is_some(),
        known_inputs: state.as_ref().map_or_else(Vec::new, |s| s.inputs.clone()),
        progress: !run.quiet,
        collect_step_us,
        collect_max_keys: config.analyze.rates.max_keys,
        dedup_carried: state
            .as_deref_mut()
            .map(|s| std::mem::take(&mut s.recent))
            .unwrap_or_default(),
    };
    let started = Instant::now();
    match &run.staged {
        Some(s) => refuse_output_prefix_over_inputs(&run.inputs, &s.url)?,
        None => refuse_output_over_inputs(&run.inputs, run.guard.as_ref().unwrap_or(&run.out))?,
    }
    let mut report = run_ingest(&opts, |msg| note!("errscope: error: {msg}"))
        .with_context(|| format!("ingest into {} failed", run.out_name()))?;
    if let Some(state) = state {
        state.record(report.processed);
        state.recent = std::mem::take(&mut report.dedup_latest);
    }
    let t = report.manifest.totals;
    let c = &t.counts;
    if !run.quiet {
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
            run.out_name(),
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
    } else if run.max_error_ratio.is_some_and(|max| {
        let total = c.events + c.quarantined;
        total > 0 && c.quarantined as f64 / total as f64 > max
    }) {
        note!(
            "errscope: error: {} of {} records quarantined, over --max-error-ratio {}",
            c.quarantined,
            c.events + c.quarantined,
            run.max_error_ratio.unwrap_or_default()
        );
        Outcome::TooManyBadRecords
    } else {
        Outcome::Ok
    };
    Ok(Ingested {
        outcome,
        totals: t,
        collected: report.collected.take(),
        cpu: report.cpu,
    })
}

/// What the run did about exact duplicates, for the ingest line ("" when none were seen).
fn duplicates_note(c: &Counts) -> String {
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

/// Refuses (bad usage, exit 2) an input that is the output folder or inside it: a folder
/// walk never reads the run's own output folder, so such a run would read nothing and
/// replace the results there with an empty report.
fn refuse_output_over_inputs(inputs: &[String], out: &Path) -> anyhow::Result<()> {
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

/// The same refusal for an output prefix in a bucket.
fn refuse_output_prefix_over_inputs(inputs: &[String], out: &Location) -> anyhow::Result<()> {
    for input in inputs {
        if let Some(Ok(loc)) = Location::parse(input) {
            if out.contains(&loc) {
                return Err(usage(format!(
                    "input {input} is the output prefix --out {out} or inside it: errscope \
                     never reads its own outputs, so this run would read nothing and replace \
                     the results there; choose another --out"
                )));
            }
        }
    }
    Ok(())
}

/// Names the files a folder walk passed over (docs, hidden files, files already processed),
/// so that nothing is skipped without a word; the full list is in manifest.json.
fn name_skipped(skipped: &[Skipped]) {
    const SHOWN: usize = 20;
    // A nightly run over a growing folder skips every file it read before: one line.
    use crate::ingest::source::ALREADY_PROCESSED as PROCESSED;
    let processed = skipped.iter().filter(|s| s.reason == PROCESSED).count();
    if processed > 0 {
        note!(
            "errscope: skipped {processed} file(s) already processed (--state; listed in manifest.json)"
        );
    }
    let others: Vec<&Skipped> = skipped.iter().filter(|s| s.reason != PROCESSED).collect();
    for s in others.iter().take(SHOWN) {
        note!("errscope: skipped {}: {}", s.path, s.reason);
    }
    if others.len() > SHOWN {
        note!(
            "errscope: ... and {} more skipped file(s), listed in manifest.json",
            others.len() - SHOWN
        );
    }
}
