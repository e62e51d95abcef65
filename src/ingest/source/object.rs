//! Objects as inputs: a URL expands into the objects it names (one object, every object
//! under a prefix, or the objects a glob matches), each an [`InputSource`] whose bytes
//! stream from the store into the reader thread through a bounded channel.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::StreamExt as _;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt as _};
use tokio::sync::mpsc;

use super::{skip_reason, Fingerprint, InputSource, Source};
use crate::storage::{explain_cause, runtime, store, Location, Scheme};

/// Chunks of one object in flight to the reader (network frames, mostly 8 to 64 KiB):
/// with the objects fetched ahead, this bounds the bytes held per run.
const CHUNKS_IN_FLIGHT: usize = 32;

type Chunks = mpsc::Receiver<io::Result<Bytes>>;

/// One object to read.
pub struct ObjectInput {
    name: String,
    location: Location,
    store: Arc<dyn ObjectStore>,
    path: ObjectPath,
    meta: ObjectMeta,
    /// The fetch started ahead of the read ([`InputSource::prefetch`]).
    ahead: Mutex<Option<Chunks>>,
}

impl std::fmt::Debug for ObjectInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectInput")
            .field("name", &self.name)
            .field("size", &self.meta.size)
            .finish()
    }
}

impl ObjectInput {
    fn new(store: Arc<dyn ObjectStore>, base: &Location, meta: ObjectMeta) -> ObjectInput {
        let location = Location {
            key: meta.location.to_string(),
            ..base.clone()
        };
        ObjectInput {
            name: location.to_string(),
            location,
            store,
            path: meta.location.clone(),
            meta,
            ahead: Mutex::new(None),
        }
    }

    /// Starts fetching: the bytes stream into a bounded channel as the reader takes them.
    fn fetch(&self) -> Chunks {
        let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let (store, path, location) =
            (self.store.clone(), self.path.clone(), self.location.clone());
        runtime().spawn(async move {
            match store.get(&path).await {
                Err(e) => {
                    let _ = tx
                        .send(Err(io::Error::other(explain_cause(&location, &e))))
                        .await;
                }
                Ok(got) => {
                    let mut stream = got.into_stream();
                    while let Some(chunk) = stream.next().await {
                        let failed = chunk.is_err();
                        let chunk =
                            chunk.map_err(|e| io::Error::other(explain_cause(&location, &e)));
                        // The reader went away (done, or the run stopped): stop fetching.
                        if tx.send(chunk).await.is_err() || failed {
                            break;
                        }
                    }
                }
            }
        });
        rx
    }
}

impl InputSource for ObjectInput {
    fn name(&self) -> &str {
        &self.name
    }

    fn size(&self) -> Option<u64> {
        Some(self.meta.size)
    }

    fn open(&self) -> io::Result<Box<dyn Read + Send>> {
        let ahead = self.ahead.lock().unwrap_or_else(|e| e.into_inner()).take();
        Ok(Box::new(ChannelReader {
            chunks: ahead.unwrap_or_else(|| self.fetch()),
            current: Bytes::new(),
        }))
    }

    fn prefetch(&self) {
        let mut ahead = self.ahead.lock().unwrap_or_else(|e| e.into_inner());
        if ahead.is_none() {
            *ahead = Some(self.fetch());
        }
    }

    /// Key, ETag and size: an object rewritten in place gets a new ETag.
    fn identity(&self) -> io::Result<Option<Fingerprint>> {
        Ok(Some(Fingerprint {
            path: self.name.clone(),
            size: self.meta.size,
            mtime: self.meta.last_modified.timestamp(),
            hash: match &self.meta.e_tag {
                Some(tag) => format!("etag:{}", tag.trim_matches('"')),
                None => format!("modified:{}", self.meta.last_modified.timestamp_micros()),
            },
        }))
    }
}

/// The reader's end of an object's channel.
struct ChannelReader {
    chunks: Chunks,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.chunks.blocking_recv() {
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        let _ = self.current.split_to(n);
        Ok(n)
    }
}

const HIDDEN: &str = "hidden object (name it explicitly to read it)";

/// The objects one URL names, sorted by key. Objects under `exclude` (the run's own
/// output prefix) are left out; hidden objects (a `.` segment below the prefix) and
/// non-log objects are listed as skipped, as in a folder walk.
pub fn expand_url(input: &str, loc: &Location, exclude: Option<&Location>) -> Vec<Source> {
    let missing = |reason: String| {
        vec![Source::Missing {
            name: input_name(input, loc),
            reason,
        }]
    };
    let store = match store(loc) {
        Ok(s) => s,
        Err(e) => return missing(e.0),
    };
    let (prefix, is_pattern) = loc.literal_prefix();
    let rt = runtime();
    if !is_pattern && !loc.key.is_empty() && !loc.key.ends_with('/') {
        // One object, if the key names one; else a prefix, as a folder.
        match rt.block_on(store.head(&loc.path())) {
            Ok(meta) => return vec![Source::Read(Arc::new(ObjectInput::new(store, loc, meta)))],
            Err(object_store::Error::NotFound { .. }) if loc.scheme != Scheme::Http => {}
            Err(e) => return missing(explain_cause(loc, &e)),
        }
    }
    if loc.scheme == Scheme::Http {
        return missing(format!(
            "{loc}: an https:// input names one file (a web server lists no folders)"
        ));
    }
    let prefix_path = ObjectPath::from(prefix.trim_matches('/'));
    let listed: Result<Vec<ObjectMeta>, object_store::Error> = rt.block_on(async {
        let mut all = Vec::new();
        let mut stream = store.list(Some(&prefix_path));
        while let Some(meta) = stream.next().await {
            all.push(meta?);
        }
        Ok(all)
    });
    let mut metas = match listed {
        Ok(m) => m,
        Err(e) => return missing(explain_cause(loc, &e)),
    };
    metas.sort_by(|a, b| a.location.cmp(&b.location));
    let pattern = is_pattern.then(|| glob::Pattern::new(&loc.key));
    let pattern = match pattern.transpose() {
        Ok(p) => p,
        Err(e) => return missing(format!("invalid glob pattern: {e}")),
    };
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    let mut out = Vec::new();
    for meta in metas {
        let key = meta.location.to_string();
        if pattern
            .as_ref()
            .is_some_and(|p| !p.matches_with(&key, opts))
        {
            continue;
        }
        let object = Location {
            key: key.clone(),
            ..loc.clone()
        };
        if exclude.is_some_and(|x| x.contains(&object)) {
            continue;
        }
        let below = key
            .strip_prefix(prefix.trim_matches('/'))
            .unwrap_or(&key)
            .trim_start_matches('/');
        let why = if below.split('/').any(|seg| seg.starts_with('.')) {
            Some(HIDDEN)
        } else {
            skip_reason(Path::new(&key))
        };
        match why {
            Some(reason) => out.push(Source::Skipped {
                path: PathBuf::from(object.to_string()),
                reason,
            }),
            None => out.push(Source::Read(Arc::new(ObjectInput::new(
                store.clone(),
                loc,
                meta,
            )))),
        }
    }
    if out.is_empty() {
        return missing(if is_pattern {
            "no object matches this pattern".into()
        } else {
            "no object under this prefix".into()
        });
    }
    out
}

fn input_name(input: &str, loc: &Location) -> String {
    // A web URL as given may hold user info or a signed query; the parsed one never does.
    if loc.scheme == Scheme::Http {
        loc.to_string()
    } else {
        input.to_string()
    }
}
