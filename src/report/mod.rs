//! Outputs, one module per kind, all written from the same [`Analysis`]; every file is
//! written atomically ([`atomic`]): a crash never leaves half a file for a dashboard.
//!
//! `<out>/rates/<dimension>.{parquet,csv}`, `anomalies.{parquet,csv}`,
//! `charts/<name>.{png,svg}`, `report.html` and `summary.json`; the events dataset, the
//! quarantine and the manifest come from ingest ([`parquet`]).

pub mod anomalies;
pub mod atomic;
pub mod chart;
pub mod csv;
mod dictionary;
mod glyphs;
pub mod html;
pub mod parquet;
pub mod rates;
pub mod terminal;

use std::path::{Path, PathBuf};

use anyhow::Context;
use arrow_array::RecordBatch;

use crate::analyze::config::AnalyzeConfig;
use crate::analyze::Dimension;
use crate::analyze::{Analysis, Findings};

/// Writes every report of `analysis` into `out`; returns the files written, in order.
/// The page and `summary.json` come last, once every other file is in place.
pub fn write_all(
    out: &Path,
    analysis: &Analysis,
    cfg: &AnalyzeConfig,
    inputs: &html::InputsView,
) -> anyhow::Result<Vec<PathBuf>> {
    let findings = analysis.findings();
    // The rate tables (one row per key and window: the bulk of the bytes) are written on
    // their own thread while this one draws the charts.
    let (mut files, drawn) = std::thread::scope(|scope| {
        let rates = scope.spawn(|| write_rates(out, findings.tables, cfg));
        let drawn = write_findings(out, findings, cfg);
        let files = rates
            .join()
            .map_err(|_| anyhow::anyhow!("the rates writer panicked"))??;
        anyhow::Ok((files, drawn?))
    })?;
    files.extend(drawn.files.iter().cloned());
    files.extend(write_page(out, findings, &drawn, inputs)?);
    Ok(files)
}

/// `rates/`: every dimension's rate table (Parquet and CSV) and the long table; the folder
/// alone, empty, for a run without tables. It needs the tables only: `analyze` writes it
/// while the detectors run ([`crate::analyze::analyze_events`]).
pub fn write_rates(
    out: &Path,
    tables: Option<&crate::analyze::tables::Tables>,
    cfg: &AnalyzeConfig,
) -> anyhow::Result<Vec<PathBuf>> {
    let rates_dir = out.join("rates");
    std::fs::create_dir_all(&rates_dir)
        .with_context(|| format!("cannot create {}", rates_dir.display()))?;
    let Some(t) = tables else {
        return Ok(Vec::new());
    };
    let rates_dir = rates_dir.as_path();
    // Every dimension's rows also go, as they are made, to one long table
    // (`dimension, key, window_start, ...`) that one dashboard panel can filter, written
    // on a thread of its own.
    let long = rates_dir.join("long.parquet");
    let mut files = feeding(
        2,
        "long rates",
        |rx| {
            rates::write_parquet_with(&long, rates::long_schema(), |put| {
                for b in rx {
                    match b {
                        Some((dimension, b)) => put(&rates::to_long(dimension, &b)?)?,
                        None => return Ok(()),
                    }
                }
                Err(anyhow::anyhow!("the rate tables were not all made"))
            })
        },
        |long| write_dimensions(rates_dir, t, cfg, long),
    )?;
    files.push(long);
    Ok(files)
}

/// Runs `produce` with a sender to `consume`, which runs on a thread of its own and is
/// handed `Some(item)`s, then `None` once `produce` has succeeded (a consumer puts its
/// file in place only then). The consumer's own error comes first: a failed send only
/// echoes it.
fn feeding<T: Send, R>(
    bound: usize,
    what: &str,
    consume: impl FnOnce(crossbeam_channel::Receiver<Option<T>>) -> anyhow::Result<()> + Send,
    produce: impl FnOnce(&crossbeam_channel::Sender<Option<T>>) -> anyhow::Result<R>,
) -> anyhow::Result<R> {
    let (tx, rx) = crossbeam_channel::bounded(bound);
    std::thread::scope(|scope| {
        let job = scope.spawn(move || consume(rx));
        let made = produce(&tx);
        if made.is_ok() {
            let _ = tx.send(None);
        }
        drop(tx);
        job.join()
            .map_err(|_| anyhow::anyhow!("the {what} writer panicked"))??;
        made
    })
}

/// What the rates CSV writer is handed: a dimension's file to start (the one before it
/// is complete), then that dimension's batches.
enum CsvPart {
    Start(PathBuf),
    Rows(RecordBatch),
}

/// Each dimension's rate table, Parquet and CSV; its batches also go to `long`. One
/// thread writes every dimension's CSV in turn, so the Parquet tables go on to the next
/// dimension while it formats the cells of the last (each dimension waiting for its own
/// CSV left a core idle at every switch).
fn write_dimensions(
    rates_dir: &Path,
    t: &crate::analyze::tables::Tables,
    cfg: &AnalyzeConfig,
    long: &crossbeam_channel::Sender<Option<(Dimension, RecordBatch)>>,
) -> anyhow::Result<Vec<PathBuf>> {
    feeding(
        1,
        "CSV",
        |rx| {
            let mut open: Option<csv::CsvFile> = None;
            for part in rx {
                match part {
                    Some(CsvPart::Start(path)) => {
                        if let Some(done) = open.take() {
                            done.commit()?;
                        }
                        open = Some(csv::CsvFile::create(&path)?);
                    }
                    Some(CsvPart::Rows(b)) => {
                        open.as_mut()
                            .expect("a dimension's file starts before its rows")
                            .write(&b)?;
                    }
                    None => return open.map_or(Ok(()), csv::CsvFile::commit),
                }
            }
            // The tables stopped short: no file is put in place.
            Ok(())
        },
        |csv_tx| {
            let send = |part: CsvPart| {
                csv_tx
                    .send(Some(part))
                    .map_err(|_| anyhow::anyhow!("the CSV writer stopped"))
            };
            let mut files = Vec::new();
            for d in t
                .dims
                .iter()
                .filter(|d| Dimension::RATES.contains(&d.dimension))
            {
                let pq = rates_dir.join(format!("{}.parquet", d.dimension));
                let csv = rates_dir.join(format!("{}.csv", d.dimension));
                send(CsvPart::Start(csv.clone()))?;
                rates::write_parquet_with(&pq, rates::rates_schema(d.dimension), |put| {
                    rates::rates_batches(
                        t,
                        d,
                        cfg.windows.sliding_minutes,
                        rates::RATE_BATCH_ROWS,
                        |b| {
                            put(&b)?;
                            long.send(Some((d.dimension, b.clone())))
                                .map_err(|_| anyhow::anyhow!("the long rates writer stopped"))?;
                            send(CsvPart::Rows(b))
                        },
                    )
                })?;
                files.extend([pq, csv]);
            }
            Ok(files)
        },
    )
}

/// What [`write_findings`] wrote: its files, and the charts for the page.
pub struct Drawn {
    pub files: Vec<PathBuf>,
    pub charts: Vec<chart::WrittenChart>,
}

/// The anomalies and the charts: what the findings make besides the rate tables and the
/// page.
pub fn write_findings(out: &Path, f: Findings<'_>, cfg: &AnalyzeConfig) -> anyhow::Result<Drawn> {
    std::fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let mut files = Vec::new();
    let batch = anomalies::anomalies_batch(f.incidents)?;
    let pq = out.join("anomalies.parquet");
    rates::write_parquet(
        &pq,
        anomalies::anomalies_schema(),
        std::slice::from_ref(&batch),
    )?;
    let csv = out.join("anomalies.csv");
    csv::write_csv(&csv, &[batch])?;
    files.extend([pq, csv]);

    let charts = match f.tables {
        Some(t) => chart::write_all(t, f.incidents, cfg, &out.join("charts"))?,
        None => Vec::new(),
    };
    for c in &charts {
        files.extend([c.png.clone(), c.svg.clone()]);
    }
    Ok(Drawn { files, charts })
}

/// `report.html` and `summary.json`, written last: the page a person opens and the
/// summary a script reads appear only once every other output is in place.
pub fn write_page(
    out: &Path,
    f: Findings<'_>,
    drawn: &Drawn,
    inputs: &html::InputsView,
) -> anyhow::Result<Vec<PathBuf>> {
    let page = html::render(f.summary, f.incidents, f.tables, &drawn.charts, inputs);
    let report = out.join("report.html");
    atomic::write_file(&report, page.as_bytes())
        .with_context(|| format!("cannot write {}", report.display()))?;
    let summary = out.join("summary.json");
    atomic::write_file(&summary, &serde_json::to_vec_pretty(f.summary)?)
        .with_context(|| format!("cannot write {}", summary.display()))?;
    Ok(vec![report, summary])
}

#[cfg(test)]
mod tests;
