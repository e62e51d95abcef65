//! Outputs in a bucket. A run writes into a local staging folder exactly as it writes a
//! local `--out`; when it has finished, [`publish`] uploads the folder: every object is
//! complete before it is visible (one PUT, or a multipart upload completed at the end),
//! the manifest goes last, and only then are objects of the previous run that this run
//! did not rewrite (its old `events/day=…` parts) deleted. A run that fails before
//! publishing leaves the previous run's objects as they were.
//!
//! Datasets in a bucket (an events dataset to analyse, an output prefix to query) are
//! fetched into a local temporary folder ([`fetch_dataset`]), streamed object by object.

use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload, WriteMultipart};

use super::{explain, runtime, settings, store, Location, StorageError};

/// Objects up to this size go in one PUT; larger ones in parts of this size (S3's
/// smallest part).
const PART: usize = 5 << 20;

/// The first line of an error text, without an XML or HTML body, and with anything that
/// looks like a signature or token cut out.
pub fn one_line(text: &str) -> String {
    let mut t = text.lines().next().unwrap_or("").to_string();
    if let Some(i) = t
        .find("<?xml")
        .or_else(|| t.find("<Error"))
        .or_else(|| t.find("<html"))
    {
        t.truncate(i);
    }
    let t = t.trim().trim_end_matches(':').to_string();
    static SECRET: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = SECRET.get_or_init(|| {
        regex::Regex::new(r"(?i)((?:signature|sig|token|credential|key|se?cret)[a-z_-]*=)[^&\s]+")
            .expect("a valid pattern")
    });
    let t = re.replace_all(&t, "${1}REDACTED").to_string();
    if t.chars().count() > 300 {
        t.chars().take(300).collect::<String>() + "…"
    } else {
        t
    }
}

/// A run's `--out` in a bucket: where it is, and the local folder the run writes first.
#[derive(Debug)]
pub struct Staged {
    pub url: Location,
    pub dir: tempfile::TempDir,
}

impl Staged {
    pub fn new(url: Location) -> anyhow::Result<Staged> {
        let dir = tempfile::Builder::new()
            .prefix("errscope-out-")
            .tempdir()
            .context("cannot create a local staging folder for the bucket outputs")?;
        Ok(Staged { url, dir })
    }
}

/// Subfolders whose objects are the run's own, replaced as a whole by each run (as the
/// local `events/` folder is): objects there that this run did not write are deleted.
const OWNED_FOLDERS: &[&str] = &["events/", "rates/", "charts/"];

/// The files of `dir` (relative, `/`-separated), hidden ones left out, sorted.
fn files_of(dir: &Path) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir).min_depth(1) {
        let e = e.with_context(|| format!("cannot list {}", dir.display()))?;
        let rel = e.path().strip_prefix(dir).unwrap_or(e.path());
        let hidden = rel
            .components()
            .any(|c| c.as_os_str().to_string_lossy().starts_with('.'));
        if e.file_type().is_file() && !hidden {
            out.push(
                rel.components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/"),
            );
        }
    }
    out.sort();
    Ok(out)
}

async fn upload(store: Arc<dyn ObjectStore>, to: ObjectPath, file: PathBuf) -> anyhow::Result<()> {
    let len = std::fs::metadata(&file)?.len();
    if len as usize <= PART {
        let bytes = std::fs::read(&file)?;
        store.put(&to, PutPayload::from(bytes)).await?;
        return Ok(());
    }
    let upload = store.put_multipart(&to).await?;
    let mut parts = WriteMultipart::new_with_chunk_size(upload, PART);
    let mut f = std::fs::File::open(&file)?;
    let mut buf = vec![0u8; PART];
    let result: anyhow::Result<()> = async {
        loop {
            let n = read_full(&mut f, &mut buf)?;
            if n == 0 {
                break;
            }
            parts.wait_for_capacity(2).await?;
            parts.put(Bytes::copy_from_slice(&buf[..n]));
        }
        Ok(())
    }
    .await;
    match result {
        Ok(()) => {
            parts.finish().await?;
            Ok(())
        }
        Err(e) => {
            let _ = parts.abort().await;
            Err(e)
        }
    }
}

fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// What [`publish`] did.
#[derive(Debug, Default)]
pub struct Published {
    pub uploaded: usize,
    pub bytes: u64,
    pub deleted: usize,
}

/// Uploads the staged outputs under the out URL: data first, `summary.json` and
/// `manifest.json` last, then deletes the previous run's objects this run replaced.
/// `keep_events` (`--state`): the objects under `events/` of earlier runs stay (this run's
/// events are added beside them, under names of their own).
pub fn publish(staged: &Staged, keep_events: bool) -> anyhow::Result<Published> {
    let out = &staged.url;
    let store = store(out)?;
    let files = files_of(staged.dir.path())?;
    let last = ["summary.json", "manifest.json"];
    let (tail, body): (Vec<&String>, Vec<&String>) =
        files.iter().partition(|f| last.contains(&f.as_str()));
    let mut tail = tail;
    tail.sort_by_key(|f| last.iter().position(|l| l == f));
    let target = |rel: &str| out.join(rel);
    let concurrency = settings().concurrency();
    let rt = runtime();
    let mut published = Published::default();
    for group in [body, tail] {
        let jobs = group.into_iter().map(|rel| {
            let (store, loc) = (store.clone(), target(rel));
            let file = staged.dir.path().join(rel);
            async move {
                upload(store, loc.path(), file).await.map_err(|e| {
                    match e.downcast::<object_store::Error>() {
                        Ok(os) => anyhow::Error::new(StorageError(format!(
                            "cannot write {}",
                            explain(&loc, &os)
                        ))),
                        Err(e) => e.context(format!("cannot write {loc}")),
                    }
                })
            }
        });
        let n = rt.block_on(
            futures_util::stream::iter(jobs)
                .buffer_unordered(concurrency)
                .try_fold(0usize, |n, ()| async move { Ok(n + 1) }),
        )?;
        published.uploaded += n;
    }
    published.bytes = files
        .iter()
        .filter_map(|f| std::fs::metadata(staged.dir.path().join(f)).ok())
        .map(|m| m.len())
        .sum();
    // The previous run's objects in the folders a run owns, not rewritten now.
    let written: HashSet<String> = files.iter().map(|f| target(f).path().to_string()).collect();
    let mut stale = Vec::new();
    for folder in OWNED_FOLDERS
        .iter()
        .filter(|f| !(keep_events && **f == "events/"))
    {
        let prefix = target(folder.trim_end_matches('/')).path();
        let listed: Result<Vec<ObjectPath>, object_store::Error> = rt.block_on(
            store
                .list(Some(&prefix))
                .map_ok(|m| m.location)
                .try_collect(),
        );
        let listed =
            listed.map_err(|e| StorageError(format!("cannot list {}", explain(out, &e))))?;
        stale.extend(
            listed
                .into_iter()
                .filter(|p| !written.contains(&p.to_string())),
        );
    }
    if !stale.is_empty() {
        let n = stale.len();
        let paths = futures_util::stream::iter(stale.into_iter().map(Ok)).boxed();
        rt.block_on(store.delete_stream(paths).try_collect::<Vec<_>>())
            .map_err(|e| {
                StorageError(format!(
                    "cannot delete the previous run's objects: {}",
                    explain(out, &e)
                ))
            })?;
        published.deleted = n;
    }
    Ok(published)
}

/// Reads a small object whole (`--state`): `None` when there is none.
pub fn read_small(loc: &Location) -> anyhow::Result<Option<Vec<u8>>> {
    let store = store(loc)?;
    match runtime().block_on(async { store.get(&loc.path()).await?.bytes().await }) {
        Ok(b) => Ok(Some(b.to_vec())),
        Err(object_store::Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(StorageError(format!("cannot read {}", explain(loc, &e))).into()),
    }
}

/// Writes a small object in one PUT (atomic: the old one stays whole until it lands).
pub fn write_small(loc: &Location, bytes: Vec<u8>) -> anyhow::Result<()> {
    let store = store(loc)?;
    runtime()
        .block_on(store.put(&loc.path(), PutPayload::from(bytes)))
        .map_err(|e| StorageError(format!("cannot write {}", explain(loc, &e))))?;
    Ok(())
}

/// Whether `loc` holds an events dataset written by errscope (objects under `events/`).
pub fn holds_dataset(loc: &Location) -> anyhow::Result<bool> {
    let store = store(loc)?;
    let prefix = loc.join("events").path();
    let first = runtime().block_on(async { store.list(Some(&prefix)).next().await.transpose() });
    match first {
        Ok(found) => Ok(found.is_some()),
        Err(e) => Err(StorageError(explain(loc, &e)).into()),
    }
}

/// Fetches the datasets under `loc` (Parquet files, the manifest, the quarantine) into
/// `dest`, object by object, streamed to disk (each file complete before it is renamed
/// into place).
pub fn fetch_dataset(loc: &Location, dest: &Path) -> anyhow::Result<usize> {
    let store = store(loc)?;
    let rt = runtime();
    let prefix = loc.path();
    let metas: Vec<object_store::ObjectMeta> = rt
        .block_on(store.list(Some(&prefix)).try_collect())
        .map_err(|e| StorageError(format!("cannot list {}", explain(loc, &e))))?;
    let wanted = |rel: &str| {
        !rel.split('/').any(|s| s.starts_with('.'))
            && (rel.ends_with(".parquet")
                || matches!(rel, "manifest.json" | "quarantine.ndjson" | "summary.json"))
    };
    let jobs: Vec<(ObjectPath, String)> = metas
        .into_iter()
        .filter_map(|m| {
            let key = m.location.to_string();
            let rel = key
                .strip_prefix(prefix.as_ref())
                .unwrap_or(&key)
                .trim_start_matches('/')
                .to_string();
            wanted(&rel).then_some((m.location, rel))
        })
        .collect();
    let n = jobs.len();
    let fetches = jobs.into_iter().map(|(path, rel)| {
        let store = store.clone();
        let file = dest.join(&rel);
        let loc = loc.join(&rel);
        async move {
            let part = file.with_extension("partial");
            if let Some(parent) = file.parent() {
                std::fs::create_dir_all(parent)?;
            }
            let mut w = std::io::BufWriter::new(std::fs::File::create(&part)?);
            let got = store.get(&path).await;
            let mut stream = got
                .map_err(|e| StorageError(format!("cannot read {}", explain(&loc, &e))))?
                .into_stream();
            while let Some(chunk) = stream.next().await {
                let chunk = chunk
                    .map_err(|e| StorageError(format!("cannot read {}", explain(&loc, &e))))?;
                w.write_all(&chunk)?;
            }
            w.flush()?;
            drop(w);
            std::fs::rename(&part, &file)?;
            anyhow::Ok(())
        }
    });
    rt.block_on(
        futures_util::stream::iter(fetches)
            .buffer_unordered(settings().concurrency())
            .try_collect::<Vec<()>>(),
    )?;
    Ok(n)
}

/// An events dataset in a bucket (an output prefix holding `events/`), fetched into a
/// temporary folder; `None` for anything else (local paths, raw logs in a bucket).
pub fn fetch_dataset_at(input: &str) -> anyhow::Result<Option<tempfile::TempDir>> {
    let Some(Ok(loc)) = Location::parse(input) else {
        return Ok(None);
    };
    // A prefix that cannot be listed is not a dataset: reading it as raw logs names the
    // cause as an unreadable input (exit 3), beside any other input.
    if loc.scheme == super::Scheme::Http || !holds_dataset(&loc).unwrap_or(false) {
        return Ok(None);
    }
    let dir = tempfile::Builder::new()
        .prefix("errscope-dataset-")
        .tempdir()?;
    fetch_dataset(&loc, dir.path())?;
    Ok(Some(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_lines_lose_bodies_and_secrets() {
        let t = one_line(
            "Client error with status 403 Forbidden: <?xml version=\"1.0\"?><Error><Code>AccessDenied</Code></Error>",
        );
        assert_eq!(t, "Client error with status 403 Forbidden");
        let t = one_line("GET https://h/b/k?sv=1&sig=abcdef&se=2 failed");
        assert!(!t.contains("abcdef"), "{t}");
        assert!(t.contains("sig=REDACTED"), "{t}");
    }
}
