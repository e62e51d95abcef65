//! `errscope query`: ad-hoc SQL (Polars `SQLContext`) over raw logs (ingested on the fly
//! with the ingest rules), an events dataset, or an `analyze` output folder. Registered
//! tables: `events`, and when present `anomalies` and `rates_<dimension>`.

pub mod library;
pub mod output;
pub mod params;
pub mod time;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use polars::prelude::{DataFrame, LazyFrame, PlRefPath, ScanArgsParquet};
use polars::sql::SQLContext;

use crate::analyze::events_dataset;
use crate::analyze::load::scan_events;
use crate::analyze::Dimension;
use crate::config::MappingConfig;
use crate::pipeline::{run_ingest, IngestOptions};

/// What a query run needs.
#[derive(Debug, Clone)]
pub struct QueryOptions {
    /// SQL text, the path of a `.sql` file, or a built-in query's name.
    pub query: String,
    pub inputs: Vec<String>,
    pub params: BTreeMap<String, params::Value>,
    pub mapping: MappingConfig,
    pub threads: usize,
}

/// The SQL text and where it came from (for error messages).
pub fn read_query(q: &str) -> anyhow::Result<(String, String)> {
    let p = Path::new(q);
    if p.is_file() && !q.contains(' ') {
        let sql = std::fs::read_to_string(p)
            .with_context(|| format!("cannot read query file {}", p.display()))?;
        return Ok((sql, p.display().to_string()));
    }
    // A query of the library by name (built in: it travels with the binary).
    let word = !q.trim().contains(char::is_whitespace);
    if word {
        if let Some((name, sql)) = library::find(q) {
            return Ok((sql.to_string(), format!("queries/{name}.sql (built in)")));
        }
    }
    if q.trim_end().to_ascii_lowercase().ends_with(".sql") || word && !q.is_empty() {
        anyhow::bail!(
            "no query file {q} and no built-in query of that name (errscope query --list names them)"
        );
    }
    Ok((q.to_string(), "the query".into()))
}

/// Removes a temporary ingest folder when the query is done.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scan_file(path: &Path) -> anyhow::Result<LazyFrame> {
    LazyFrame::scan_parquet(
        PlRefPath::new(path.display().to_string()),
        ScanArgsParquet::default(),
    )
    .with_context(|| format!("cannot scan {}", path.display()))
}

/// Registers the tables of `root` (an analyze output folder or an events dataset).
fn register_outputs(ctx: &SQLContext, events_dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = vec!["events".to_string()];
    ctx.register("events", scan_events(events_dir)?);
    let Some(root) = events_dir.parent() else {
        return Ok(names);
    };
    // Only the folder that holds `events/` is an analyze output.
    if events_dir.file_name().and_then(|n| n.to_str()) != Some("events") {
        return Ok(names);
    }
    names.extend(register_results(ctx, root)?);
    Ok(names)
}

/// Whether `dir` is the output of `analyze` on an events dataset (its results, without an
/// `events/` folder of its own: the events stayed in the dataset).
fn results_only(dir: &Path) -> bool {
    dir.join("summary.json").is_file() && dir.join("rates").is_dir() && !dir.join("events").exists()
}

/// Registers `anomalies` and the `rates_*` tables of an analyze output folder.
fn register_results(ctx: &SQLContext, root: &Path) -> anyhow::Result<Vec<String>> {
    let mut names = Vec::new();
    let anomalies = root.join("anomalies.parquet");
    if anomalies.is_file() {
        ctx.register("anomalies", scan_file(&anomalies)?);
        names.push("anomalies".into());
    }
    let tables = Dimension::RATES.iter().map(|d| d.as_str()).chain(["long"]);
    for d in tables {
        let f = root.join("rates").join(format!("{d}.parquet"));
        if f.is_file() {
            let name = format!("rates_{d}");
            ctx.register(&name, scan_file(&f)?);
            names.push(name);
        }
    }
    Ok(names)
}

/// Runs the query; returns its result.
pub fn run(opts: &QueryOptions) -> anyhow::Result<DataFrame> {
    let (sql, origin) = read_query(&opts.query)?;
    let sql = params::substitute(&sql, &opts.params).with_context(|| format!("in {origin}"))?;
    let sql = time::rewrite(&sql, params::now_us());
    // An events dataset or output prefix in a bucket is fetched into a temporary folder.
    let fetched = match opts.inputs.as_slice() {
        [one] => crate::storage::output::fetch_dataset_at(one)?,
        _ => None,
    };
    let dataset = match (opts.inputs.as_slice(), &fetched) {
        (_, Some(dir)) => events_dataset(dir.path()),
        ([one], None) => events_dataset(Path::new(one)),
        _ => None,
    };
    let results = match (opts.inputs.as_slice(), &fetched) {
        (_, Some(dir)) => Some(dir.path().to_path_buf()),
        ([one], None) => Some(std::path::PathBuf::from(one)),
        _ => None,
    }
    .filter(|d| dataset.is_none() && results_only(d));
    if let Some(root) = results {
        let mut ctx = SQLContext::new().with_function_registry(time::registry());
        let tables = register_results(&ctx, &root)?;
        return execute(&mut ctx, &sql, &origin, &tables);
    }
    // Raw logs: ingested into a temporary folder first, with the ingest rules.
    let mut _tmp = None;
    let events_dir = match dataset {
        Some(d) => d,
        None => {
            let dir = std::env::temp_dir().join(format!(
                "errscope-query-{}-{}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos())
            ));
            _tmp = Some(TempDir(dir.clone()));
            let report = run_ingest(
                &IngestOptions::scratch(
                    &opts.inputs,
                    dir.clone(),
                    opts.mapping.clone(),
                    opts.threads,
                ),
                // Not `eprintln!`: a closed stderr must not panic the query.
                |msg| {
                    use std::io::Write as _;
                    let _ = writeln!(std::io::stderr(), "errscope: error: {msg}");
                },
            )?;
            if report.manifest.totals.counts.events == 0 {
                bail!("no events in the input (nothing to query)");
            }
            dir.join("events")
        }
    };
    let mut ctx = SQLContext::new().with_function_registry(time::registry());
    let tables = register_outputs(&ctx, &events_dir)?;
    execute(&mut ctx, &sql, &origin, &tables)
}

/// Runs `sql` over the registered `tables`.
fn execute(
    ctx: &mut SQLContext,
    sql: &str,
    origin: &str,
    tables: &[String],
) -> anyhow::Result<DataFrame> {
    let lf = ctx.execute(sql).map_err(|e| {
        anyhow::anyhow!(
            "{origin}: SQL error: {e}\n(tables available: {})",
            tables.join(", ")
        )
    })?;
    lf.collect()
        .map_err(|e| anyhow::anyhow!("{origin}: query failed: {e}"))
}
