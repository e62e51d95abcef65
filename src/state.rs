//! `--state <FILE>`: what incremental (nightly) runs remember between runs. Inputs already
//! processed are recognised by path, size, modification time and a content hash, and
//! skipped; the baseline (the last days of windowed counts and the codes seen,
//! [`Baseline`]) carries over, so a run that reads only new files still knows what normal
//! was. A renamed (rotated) file with the same content is recognised too.
//!
//! What identifies an input is the source seam's ([`Fingerprint`], from
//! [`crate::ingest::source::InputSource::identity`]).

use std::path::Path;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::analyze::baseline::Baseline;
use crate::report::atomic::write_file;

pub use crate::ingest::source::Fingerprint;

pub const STATE_VERSION: u32 = 1;

#[derive(Debug, Error)]
pub enum StateError {
    #[error("cannot read state file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("state file {path} is not a valid errscope state: {source}")]
    Parse {
        path: String,
        source: serde_json::Error,
    },
    #[error("state file {path} has version {found}; this errscope writes version {STATE_VERSION}")]
    Version { path: String, found: u32 },
    #[error("cannot write state file {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub version: u32,
    /// Every input processed so far (most recent run last).
    pub inputs: Vec<Fingerprint>,
    pub baseline: Option<Baseline>,
    /// Fingerprints of the last hours of records read (exact-duplicate detection across
    /// runs: tonight's export overlapping last night's), kept beside the state file in
    /// `<state>.dups`.
    #[serde(skip)]
    pub recent: crate::ingest::dedup::Carried,
}

/// Where a state file's carried fingerprints are: `<state>.dups`.
pub fn dups_path(state: &Path) -> std::path::PathBuf {
    let mut name = state.as_os_str().to_owned();
    name.push(".dups");
    std::path::PathBuf::from(name)
}

impl State {
    /// Reads the state file; a missing file is a first run (empty state).
    pub fn load(path: &Path) -> Result<State, StateError> {
        let name = || path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(State {
                    version: STATE_VERSION,
                    ..Default::default()
                })
            }
            Err(source) => {
                return Err(StateError::Read {
                    path: name(),
                    source,
                })
            }
        };
        let state: State = serde_json::from_slice(&bytes).map_err(|source| StateError::Parse {
            path: name(),
            source,
        })?;
        if state.version != STATE_VERSION {
            return Err(StateError::Version {
                path: name(),
                found: state.version,
            });
        }
        let mut state = state;
        // Missing or unreadable: the run checks its own records only (as a first run).
        state.recent = std::fs::read(dups_path(path))
            .ok()
            .and_then(|b| crate::ingest::dedup::decode(&b))
            .unwrap_or_default();
        Ok(state)
    }

    /// Writes the state atomically (a crash keeps the previous state).
    pub fn save(&self, path: &Path) -> Result<(), StateError> {
        let bytes = serde_json::to_vec(self).map_err(|e| StateError::Write {
            path: path.display().to_string(),
            source: std::io::Error::other(e),
        })?;
        // The fingerprints first: a crash between the two leaves the older state beside
        // newer fingerprints, which only finds more copies of records already counted.
        let dups = dups_path(path);
        write_file(&dups, &crate::ingest::dedup::encode(&self.recent)).map_err(|source| {
            StateError::Write {
                path: dups.display().to_string(),
                source,
            }
        })?;
        write_file(path, &bytes).map_err(|source| StateError::Write {
            path: path.display().to_string(),
            source,
        })
    }

    /// The earlier fingerprint `fp` matches, if any.
    pub fn seen(&self, fp: &Fingerprint) -> Option<&Fingerprint> {
        fp.seen_in(&self.inputs)
    }

    /// Records processed inputs (replacing older entries of the same path).
    pub fn record(&mut self, processed: Vec<Fingerprint>) {
        for fp in processed {
            self.inputs.retain(|s| s.path != fp.path);
            self.inputs.push(fp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: u64 = 1 << 20;

    #[test]
    fn files_are_recognised_by_content_and_rotation_is_followed() {
        let d = crate::testutil::tempdir().unwrap();
        let a = d.path().join("a.ndjson");
        std::fs::write(&a, vec![b'x'; 3 * SAMPLE as usize]).unwrap();
        let fa = Fingerprint::of(&a).unwrap();
        let mut state = State::load(&d.path().join("state.json")).unwrap();
        assert!(state.seen(&fa).is_none());
        state.record(vec![fa.clone()]);
        assert!(state.seen(&Fingerprint::of(&a).unwrap()).is_some());

        // Rotated: same content under another name.
        let rotated = d.path().join("a.ndjson.1");
        std::fs::rename(&a, &rotated).unwrap();
        assert!(state.seen(&Fingerprint::of(&rotated).unwrap()).is_some());

        // Changed in the middle is beyond the sample; changed at the end is seen.
        let mut bytes = vec![b'x'; 3 * SAMPLE as usize];
        bytes[3 * SAMPLE as usize - 1] = b'y';
        std::fs::write(&rotated, &bytes).unwrap();
        assert!(state.seen(&Fingerprint::of(&rotated).unwrap()).is_none());

        let path = d.path().join("state.json");
        state.save(&path).unwrap();
        assert_eq!(State::load(&path).unwrap(), state);
        std::fs::write(
            &path,
            b"{\"version\": 99, \"inputs\": [], \"baseline\": null}",
        )
        .unwrap();
        let err = State::load(&path).unwrap_err().to_string();
        assert!(err.contains("version 99"), "{err}");
    }
}

/// Where `--state` lives: a local file, or an object in a bucket (fetched into a local
/// temporary file before the run and written back, fingerprints first, after it).
#[derive(Debug)]
pub enum StatePlace {
    Local(std::path::PathBuf),
    Bucket {
        url: crate::storage::Location,
        dir: tempfile::TempDir,
    },
}

impl StatePlace {
    pub fn new(given: &Path) -> anyhow::Result<StatePlace> {
        let text = given.to_string_lossy();
        match crate::storage::Location::parse(&text) {
            None => Ok(StatePlace::Local(given.to_path_buf())),
            Some(Err(e)) => Err(anyhow::anyhow!("--state {e}")),
            Some(Ok(url)) => {
                let dir = tempfile::Builder::new()
                    .prefix("errscope-state-")
                    .tempdir()?;
                Ok(StatePlace::Bucket { url, dir })
            }
        }
    }

    /// The local file the run reads and writes.
    pub fn path(&self) -> std::path::PathBuf {
        match self {
            StatePlace::Local(p) => p.clone(),
            StatePlace::Bucket { dir, .. } => dir.path().join("state.json"),
        }
    }

    /// What messages call it.
    pub fn name(&self) -> String {
        match self {
            StatePlace::Local(p) => p.display().to_string(),
            StatePlace::Bucket { url, .. } => url.to_string(),
        }
    }

    fn sidecar(url: &crate::storage::Location) -> crate::storage::Location {
        crate::storage::Location {
            key: format!("{}.dups", url.key),
            ..url.clone()
        }
    }

    /// Loads the state (fetching it from the bucket first).
    pub fn load(&self) -> anyhow::Result<State> {
        if let StatePlace::Bucket { url, .. } = self {
            let local = self.path();
            for (from, to) in [
                (url.clone(), local.clone()),
                (Self::sidecar(url), dups_path(&local)),
            ] {
                if let Some(bytes) = crate::storage::output::read_small(&from)? {
                    write_file(&to, &bytes)?;
                }
            }
        }
        Ok(State::load(&self.path())?)
    }

    /// Saves the state (and writes it back to the bucket: fingerprints first).
    pub fn save(&self, state: &State) -> anyhow::Result<()> {
        let local = self.path();
        state.save(&local)?;
        if let StatePlace::Bucket { url, .. } = self {
            for (from, to) in [
                (dups_path(&local), Self::sidecar(url)),
                (local, url.clone()),
            ] {
                crate::storage::output::write_small(&to, std::fs::read(&from)?)?;
            }
        }
        Ok(())
    }
}
