//! `errscope analyze`: the run rules of the main job. Raw logs are ingested into `--out`
//! first (folded for analysis as they are decoded); an events dataset is analysed as it
//! is. With `--state`, a run with nothing new leaves the last results as they are, and the
//! baseline carries over. The aggregation engine computes the tables; detection, reports
//! and the exit code never know which engine ran.

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;

use super::ingest::{ingest, Ingested};
use super::put;
use super::timings::Stages;
use crate::analyze::baseline::Baseline;
use crate::analyze::engine::{AggregationEngine, LocalFold};
use crate::analyze::{analyze_events, events_dataset, What};
use crate::exit::Outcome;
use crate::ingest::source::{expand_inputs, Source};
use crate::note;
use crate::options::{usage, AnalyzeRun, Engine, IngestRun};
use crate::report::html::InputsView;
use crate::state::{State, StatePlace};
use crate::storage::output::fetch_dataset_at;

/// Days of windowed counts a `--state` file carries as the next run's baseline.
const BASELINE_DAYS: u32 = 7;

/// With `--state`: whether every input was processed before (and nothing is read from
/// stdin), so the outputs of the last run stand as they are.
fn nothing_new(run: &IngestRun, state: &State) -> bool {
    expand_inputs(
        &run.inputs,
        Some(&run.out),
        run.staged.as_ref().map(|s| &s.url),
    )
    .iter()
    .all(|s| match s {
        Source::Read(input) => input
            .identity()
            .ok()
            .flatten()
            .is_some_and(|fp| state.seen(&fp).is_some()),
        Source::Skipped { .. } => true,
        Source::Missing { .. } => false,
    })
}

/// Where a run without data leaves its manifest and quarantine when it kept the previous
/// results (replaced by the next such run, removed by the next run with data).
const NO_DATA_RUN: &str = "last-no-data-run";

/// A staging folder inside a local `--out` that holds good results (`.run.tmp-PID`: a run
/// killed mid-way leaves it to the next run's sweep). Removed when dropped.
struct LocalStaging {
    dir: std::path::PathBuf,
}

impl LocalStaging {
    /// A staging folder when `run` writes into a local folder whose `summary.json` is a
    /// run with data.
    fn over(run: &IngestRun) -> Option<LocalStaging> {
        if run.staged.is_some() {
            return None;
        }
        let summary = std::fs::read(run.out.join("summary.json")).ok()?;
        let summary: serde_json::Value = serde_json::from_slice(&summary).ok()?;
        if summary.get("no_data").is_some() {
            return None;
        }
        Some(LocalStaging {
            dir: run.out.join(format!(".run.tmp-{}", std::process::id())),
        })
    }

    /// `run`, writing into the staging folder; its inputs are still kept from the
    /// output folder.
    fn run(&self, run: &IngestRun) -> IngestRun {
        let mut staged = run.clone();
        staged.out = self.dir.clone();
        staged.guard = Some(run.out.clone());
        staged
    }

    /// With data: the outputs move into `out`, replacing the previous run's. Without:
    /// `out` keeps its results, and this run's manifest and quarantine go to
    /// `out/last-no-data-run/`. Returns whether the previous results were kept.
    ///
    /// `add_events` (`--state`): this run's events are added to the events dataset, under
    /// names of their own (`part-<run>-NNNNN.parquet`, `<run>` a hash of the run's
    /// manifest: the same inputs give the same names, so a rerun adds nothing), so that a
    /// dashboard reading `events/` keeps the history of every incremental run.
    ///
    /// `ingested`: the run read raw logs (on an events dataset, the dataset, perhaps this
    /// very folder's `events/`, is left as it is).
    fn finish(
        self,
        out: &Path,
        no_data: bool,
        add_events: bool,
        ingested: bool,
    ) -> anyhow::Result<bool> {
        let keep = |e: std::io::Error| {
            anyhow::Error::from(e)
                .context(format!("cannot move the outputs into {}", out.display()))
        };
        let no_data_dir = out.join(NO_DATA_RUN);
        if no_data {
            let dir = self.dir.join(NO_DATA_RUN);
            std::fs::create_dir_all(&dir).map_err(keep)?;
            for f in ["manifest.json", "quarantine.ndjson", "summary.json"] {
                if self.dir.join(f).exists() {
                    std::fs::rename(self.dir.join(f), dir.join(f)).map_err(keep)?;
                }
            }
            crate::report::atomic::replace_dir(&dir, &no_data_dir).map_err(keep)?;
            return Ok(true);
        }
        if add_events {
            add_events_to(&self.dir, out).map_err(keep)?;
        }
        crate::report::atomic::publish_run(&self.dir, out, ingested).map_err(keep)?;
        if no_data_dir.exists() {
            std::fs::remove_dir_all(&no_data_dir).map_err(keep)?;
        }
        Ok(false)
    }
}

/// Moves the staged run's events into `out/events` beside the earlier runs' (see
/// [`LocalStaging::finish`]); the staged `events/` is then gone, and publishing keeps the
/// dataset as it now is.
fn add_events_to(staged: &Path, out: &Path) -> std::io::Result<()> {
    let from = staged.join("events");
    let to = out.join("events");
    if !from.is_dir() || !to.is_dir() {
        return Ok(()); // nothing staged, or no dataset yet: the staged one becomes it
    }
    name_run_parts(staged)?;
    for day in std::fs::read_dir(&from)? {
        let day = day?;
        if !day.file_type()?.is_dir() {
            continue;
        }
        let dest = to.join(day.file_name());
        std::fs::create_dir_all(&dest)?;
        for part in std::fs::read_dir(day.path())? {
            let part = part?;
            std::fs::rename(part.path(), dest.join(part.file_name()))?;
        }
    }
    std::fs::remove_dir_all(&from)?;
    // Publishing swaps `events/` in whole: give it the merged dataset to swap in.
    std::fs::rename(&to, &from)
}

/// Names the event parts a run wrote into `dir/events` after the run
/// (`part-NNNNN.parquet` -> `part-<run>-NNNNN.parquet`, `<run>` a hash of the run's
/// manifest: the same inputs give the same names, so a rerun adds nothing).
fn name_run_parts(dir: &Path) -> std::io::Result<()> {
    let events = dir.join("events");
    if !events.is_dir() {
        return Ok(());
    }
    let manifest = std::fs::read(dir.join("manifest.json")).unwrap_or_default();
    let run = format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&manifest));
    for day in std::fs::read_dir(&events)? {
        let day = day?;
        if !day.file_type()?.is_dir() {
            continue;
        }
        for part in std::fs::read_dir(day.path())? {
            let part = part?;
            let name = part.file_name().to_string_lossy().into_owned();
            let Some(n) = name.strip_prefix("part-") else {
                continue;
            };
            if n.len() == "00000.parquet".len() {
                std::fs::rename(part.path(), day.path().join(format!("part-{run}-{n}")))?;
            }
        }
    }
    Ok(())
}

impl Drop for LocalStaging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The events dataset as a cluster names it, and as messages show it: a local folder as
/// `file://` and its absolute path (a shared file system: the cluster must see the same
/// path), a bucket prefix as Hadoop's connectors name it (`s3://` -> `s3a://`), read where
/// it is. Raw logs are refused: the cluster aggregates what `ingest` wrote.
fn cluster_dataset(inputs: &[String]) -> anyhow::Result<(std::path::PathBuf, Vec<String>)> {
    let refuse = || {
        usage(
            "--engine sc://… aggregates an events dataset at a path the cluster can read: \
             give one events dataset (the --out of `errscope ingest`, or its events/ folder, \
             or a folder of such --out folders, one per writer), on a shared file system \
             or in a bucket; ingest raw logs first"
                .to_string(),
        )
    };
    let [one] = inputs else {
        return Err(refuse());
    };
    if let Some(loc) = crate::storage::Location::parse(one) {
        loc.map_err(|e| usage(format!("{one}: {e}")))?;
        let url = one.trim_end_matches('/');
        let url = match url.split_once("://") {
            Some(("s3", rest)) => format!("s3a://{rest}"),
            _ => url.to_string(),
        };
        // `ingest --out PREFIX` writes the events under PREFIX/events.
        let url = if url.ends_with("/events") {
            url
        } else {
            format!("{url}/events")
        };
        return Ok((std::path::PathBuf::from(one), vec![url]));
    }
    let path = Path::new(one);
    if let Some(dir) = events_dataset(path) {
        let abs = std::fs::canonicalize(&dir)
            .with_context(|| format!("cannot resolve {}", dir.display()))?;
        return Ok((dir, vec![format!("file://{}", abs.display())]));
    }
    // A fleet's shards: one folder per writer, each the --out of its own `ingest`
    // (`fleet/<writer>/events/day=…/part-….parquet`), read by the cluster as one dataset.
    let mut writers: Vec<String> = std::fs::read_dir(path)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("events").is_dir() && events_dataset(p).is_some())
                .filter_map(|p| std::fs::canonicalize(p.join("events")).ok())
                .map(|p| format!("file://{}", p.display()))
                .collect()
        })
        .unwrap_or_default();
    if writers.is_empty() {
        return Err(refuse());
    }
    writers.sort();
    Ok((path.to_path_buf(), writers))
}

/// The aggregation engine of this run: a cluster's, or the local fold (fed by this
/// run's ingest when it had one).
fn engine(
    cluster: Option<(&str, (std::path::PathBuf, Vec<String>))>,
    collected: Option<crate::analyze::collect::Collector>,
) -> Box<dyn AggregationEngine> {
    match cluster {
        #[cfg(feature = "spark")]
        Some((url, (_, datasets))) => Box::new(crate::analyze::engine::spark::SparkEngine::new(
            url, datasets,
        )),
        #[cfg(not(feature = "spark"))]
        Some(_) => unreachable!("--engine sc:// is refused without the spark feature"),
        None => Box::new(LocalFold::new(collected)),
    }
}

pub fn run(run: AnalyzeRun) -> anyhow::Result<Outcome> {
    let a = &run.input;
    let config = &a.config;
    let bounds = a.bounds;
    let started = Instant::now();
    let mut state = run.state.as_deref().map(StatePlace::load).transpose()?;
    // An events dataset is analysed as it is (one in a bucket is fetched first, unless a
    // cluster reads it); raw logs are ingested into --out first.
    let cluster = match &run.engine {
        Engine::Spark(url) => Some((url.as_str(), cluster_dataset(&a.inputs)?)),
        Engine::Local => None,
    };
    let fetched = match (a.inputs.as_slice(), &cluster) {
        ([one], None) => fetch_dataset_at(one)?,
        _ => None,
    };
    let dataset = match (a.inputs.as_slice(), &fetched, &cluster) {
        (_, _, Some((_, (shown, _)))) => Some(shown.clone()),
        (_, Some(dir), None) => events_dataset(dir.path()),
        ([one], None, None) => events_dataset(Path::new(one)),
        _ => None,
    };
    if let (Some(st), None) = (&state, &dataset) {
        if !st.inputs.is_empty() && nothing_new(a, st) {
            if !a.quiet {
                note!(
                    "errscope: nothing new since the last run (--state {}); {} left as it was",
                    run.state.as_deref().map_or(String::new(), StatePlace::name),
                    a.out_name()
                );
            }
            return Ok(Outcome::Ok);
        }
    }
    // A folder holding a previous run's good results gets this run's outputs in a staging
    // folder inside it, moved into place once the run has data: a run without data (exit
    // 6), or one that fails, never replaces good results.
    let staging = LocalStaging::over(a);
    let staged_run = staging.as_ref().map(|s| s.run(a));
    let w: &IngestRun = staged_run.as_ref().unwrap_or(a);
    let step_us = config.analyze.windows.step_us();
    let mut stages = Stages::default();
    let (outcome, events_dir, totals, collected) = match dataset {
        Some(dir) => (Outcome::Ok, dir, None, None),
        None => {
            let Ingested {
                outcome,
                totals,
                collected,
                cpu,
            } = ingest(w, run.json, state.as_mut(), Some(step_us))?;
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
            (outcome, w.out.join("events"), Some(totals), collected)
        }
    };
    // What ingest freed (or, on a dataset, nothing yet) goes back to the system now.
    crate::pipeline::ingest_done();
    std::fs::create_dir_all(&w.out)?;
    crate::report::atomic::sweep_dead_runs(&a.out);
    let baseline = state.as_ref().and_then(|s| s.baseline.as_ref());
    let input_bytes = totals.as_ref().map_or(0, |t| t.bytes);
    let ingested = totals.is_some();
    let mut engine = engine(cluster, collected);
    // The rate tables are written while the detectors read them, the anomalies and charts
    // as soon as the detectors are done, the page once everything else is in place.
    // Their own errors are handed back whole, not as the analysis's.
    let reports_failed = || format!("cannot write the reports into {}", a.out_name());
    let what = What {
        events_dir: &events_dir,
        cfg: &config.analyze,
        bounds,
        baseline,
        input: totals,
    };
    let (analysis, rates, drawn) = analyze_events(
        what,
        engine.as_mut(),
        |t| crate::report::write_rates(&w.out, t, &config.analyze),
        |f| crate::report::write_findings(&w.out, f, &config.analyze),
    )
    .with_context(|| format!("analysis of {} failed", events_dir.display()))?;
    rates.with_context(reports_failed)?;
    let drawn = drawn.with_context(reports_failed)?;
    stages.lap("analysis, rate tables, charts");
    // The manifest and quarantine of the ingest behind the events, when beside them.
    let inputs = InputsView::read(events_dir.parent().unwrap_or(&w.out));
    crate::report::write_page(&w.out, analysis.findings(), &drawn, &inputs)
        .with_context(reports_failed)?;
    let kept_previous = match staging {
        Some(s) => s.finish(
            &a.out,
            analysis.summary.no_data.is_some(),
            state.is_some(),
            ingested,
        )?,
        None => false,
    };
    stages.lap("report page and summary");
    if let Some(staged) = &a.staged {
        // With --state, this run's events join the earlier runs' in the bucket.
        let add = state.is_some();
        if add {
            name_run_parts(&a.out).context("cannot name this run's event parts")?;
        }
        super::publish_unless_empty(staged, analysis.summary.no_data.is_some(), add, a.quiet)?;
        stages.lap("upload to the bucket");
    }
    if run.timings {
        note!(
            "{}",
            stages
                .render(input_bytes, analysis.summary.events)
                .trim_end()
        );
    }
    if let (Some(st), Some(place)) = (state.as_mut(), run.state.as_deref()) {
        if let Some(t) = &analysis.tables {
            st.baseline = Some(Baseline::from_tables(t, BASELINE_DAYS));
        }
        place.save(st)?;
    }
    if run.json {
        // summary.json's fields, and the incidents themselves.
        let mut json = serde_json::to_value(&analysis.summary)?;
        json["incident_list"] = analysis
            .incidents
            .iter()
            .map(crate::analyze::incident::to_json)
            .collect();
        put(&format!("{}\n", serde_json::to_string_pretty(&json)?))?;
    } else if !a.quiet {
        put(&crate::report::terminal::render(
            &analysis.summary,
            &analysis.incidents,
        ))?;
        note!(
            "errscope: analyze done in {:.2}s; report: {}",
            started.elapsed().as_secs_f64(),
            match &a.staged {
                Some(s) => s.url.join("report.html").to_string(),
                None => a.out.join("report.html").display().to_string(),
            }
        );
    }
    if let Some(level) = run.fail_on {
        let met = level.met_by(&analysis.incidents);
        if !met.is_empty() {
            // Even with -q: a cron job that fails says why, one line per incident.
            for inc in &met {
                note!(
                    "errscope: incident: [{} {}] {} {}={} {} .. {} UTC",
                    inc.class.as_str(),
                    inc.severity.as_str(),
                    inc.detector.as_str(),
                    inc.dimension.as_str(),
                    inc.key,
                    crate::analyze::incident::utc(inc.start),
                    crate::analyze::incident::utc(inc.end)
                );
            }
            if !a.quiet {
                note!(
                    "errscope: {} incident(s) at or above --fail-on {}",
                    met.len(),
                    level.name()
                );
            }
            return Ok(Outcome::IncidentsFound);
        }
    }
    if let Some(cause) = &analysis.summary.no_data {
        note!(
            "errscope: error: no data: {cause}; {}",
            match &a.staged {
                Some(s) => format!("the objects under {} were left as they were", s.url),
                None if kept_previous => format!(
                    "the results in {} were left as they were (this run's manifest and \
                     quarantine: {})",
                    a.out.display(),
                    a.out.join(NO_DATA_RUN).display()
                ),
                None => format!("the outputs in {} say so", a.out.display()),
            }
        );
        // An input that could not be read (3) is the more specific cause.
        if outcome != Outcome::InputUnreadable {
            return Ok(Outcome::NoData);
        }
    }
    Ok(outcome)
}
