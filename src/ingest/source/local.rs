//! Local inputs: a file on disk, and standard input.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::{Fingerprint, InputSource};

/// Bytes of the head and the tail of a file its content hash reads.
pub(crate) const SAMPLE: u64 = 1 << 20;

/// A file on disk.
#[derive(Debug, Clone)]
pub struct LocalFile {
    path: PathBuf,
    name: String,
}

impl LocalFile {
    pub fn new(path: PathBuf) -> LocalFile {
        LocalFile {
            name: path.display().to_string(),
            path,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl InputSource for LocalFile {
    fn name(&self) -> &str {
        &self.name
    }

    fn size(&self) -> Option<u64> {
        std::fs::metadata(&self.path).ok().map(|m| m.len())
    }

    fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(File::open(&self.path)?))
    }

    fn identity(&self) -> std::io::Result<Option<Fingerprint>> {
        Fingerprint::of(&self.path).map(Some)
    }
}

/// Standard input (`-`): read once, never recognised again.
#[derive(Debug, Clone, Copy)]
pub struct Stdin;

impl InputSource for Stdin {
    fn name(&self) -> &str {
        "-"
    }

    fn size(&self) -> Option<u64> {
        None
    }

    fn open(&self) -> std::io::Result<Box<dyn Read + Send>> {
        Ok(Box::new(std::io::stdin()))
    }

    fn identity(&self) -> std::io::Result<Option<Fingerprint>> {
        Ok(None)
    }
}

impl Fingerprint {
    /// A file's fingerprint: path, size, modification time, and xxh3 over the size, its
    /// first and its last MiB (it tells different files apart without reading old files
    /// whole every night).
    pub fn of(path: &Path) -> std::io::Result<Fingerprint> {
        let mut f = File::open(path)?;
        let meta = f.metadata()?;
        let size = meta.len();
        let mtime = meta
            .modified()
            .ok()
            .and_then(|m| m.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs() as i64);
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        h.update(&size.to_le_bytes());
        let mut buf = vec![0u8; SAMPLE.min(size) as usize];
        f.read_exact(&mut buf)?;
        h.update(&buf);
        if size > SAMPLE {
            let tail = SAMPLE.min(size - SAMPLE);
            f.seek(SeekFrom::Start(size - tail))?;
            buf.resize(tail as usize, 0);
            f.read_exact(&mut buf)?;
            h.update(&buf);
        }
        Ok(Fingerprint {
            path: path.display().to_string(),
            size,
            mtime,
            hash: format!("{:016x}", h.digest()),
        })
    }
}
