//! The source seam: what ingest reads. An input the user names (a file, a folder, a glob,
//! `-`, an object URL, a bucket prefix or an object glob) is expanded ([`expand`]) into [`Source`]s; each
//! readable one is an [`InputSource`], which is all the reader, the manifest and `--state`
//! know of it.
//!
//! To add a kind of input: implement [`InputSource`] for it and have the expansion produce
//! it (objects: `object.rs`, on `crate::storage`); the reader, the decoders and the state need no
//! change.

mod expand;
mod local;
pub mod object;

use std::fmt::Debug;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

pub use expand::{expand_inputs, skip_reason};
pub use local::{LocalFile, Stdin};

/// One input ingest can read.
///
/// The contract:
/// - [`name`](InputSource::name) is what messages, the `source_file` column and the
///   manifest call it (a path, `-`, a URL); it never holds a credential.
/// - [`size`](InputSource::size) is its length in bytes when known before reading
///   (`None` for a stream), for progress and planning only: the reader counts what it read.
/// - [`open`](InputSource::open) is called once per read, from the reader thread, and
///   gives the raw bytes from the start (compressed as stored: the reader detects and
///   decompresses). An error names no more than its cause; the reader adds the name.
/// - [`identity`](InputSource::identity) is what `--state` remembers so that a later run
///   skips it when unchanged (path, size, modification time and a content hash for a
///   file; key, ETag and size for an object). `Ok(None)`: it cannot be recognised again
///   (stdin), so it is always read. An error means it is unreadable; reading it reports
///   the error.
pub trait InputSource: Debug + Send + Sync {
    fn name(&self) -> &str;
    fn size(&self) -> Option<u64>;
    fn open(&self) -> std::io::Result<Box<dyn Read + Send>>;
    fn identity(&self) -> std::io::Result<Option<Fingerprint>>;
    /// A hint that [`open`](InputSource::open) follows soon: a remote input starts
    /// fetching (bounded), so that many small objects do not wait on one round trip each.
    fn prefetch(&self) {}
}

/// Why `--state` skips an input: it was processed before (the terminal sums these up).
pub const ALREADY_PROCESSED: &str = "already processed (--state)";

/// One input as the expansion found it.
#[derive(Debug, Clone)]
pub enum Source {
    /// Bytes to read.
    Read(Arc<dyn InputSource>),
    /// A file a folder walk passed over, listed so the manifest accounts for it.
    Skipped { path: PathBuf, reason: &'static str },
    /// A named input that could not be resolved; reading it reports this error.
    Missing { name: String, reason: String },
}

impl Source {
    /// The name used in `source_file`, the manifest and error messages.
    pub fn display_name(&self) -> String {
        match self {
            Source::Read(input) => input.name().to_string(),
            Source::Skipped { path, .. } => path.display().to_string(),
            Source::Missing { name, .. } => name.clone(),
        }
    }

    /// A local file to read.
    pub fn file(path: impl Into<PathBuf>) -> Source {
        Source::Read(Arc::new(LocalFile::new(path.into())))
    }
}

/// The identity of an input as processed (`--state`): what a later run compares to know
/// the input unchanged. Files: path, size, modification time and a content hash
/// ([`Fingerprint::of`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    pub path: String,
    pub size: u64,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// xxh3 of size + first and last MiB, hex (for an object: its ETag).
    pub hash: String,
}

impl Fingerprint {
    /// Same input as processed before: same content, and either the same path and
    /// modification time, or another path (a rotated or moved file).
    pub fn matches(&self, seen: &Fingerprint) -> bool {
        self.size == seen.size
            && self.hash == seen.hash
            && (self.path != seen.path || self.mtime == seen.mtime)
    }

    /// The fingerprint of `known` that this input matches, if any.
    pub fn seen_in<'a>(&self, known: &'a [Fingerprint]) -> Option<&'a Fingerprint> {
        known.iter().find(|k| self.matches(k))
    }
}
