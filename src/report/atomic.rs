//! Atomic outputs: everything is written to a hidden temporary name beside its destination
//! and renamed into place when complete, so a crash never leaves a half-written file for a
//! dashboard or a scheduler to read.

use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

/// The hidden temporary path used for `dest` (same folder, so the rename is atomic).
pub fn temp_path(dest: &Path) -> PathBuf {
    let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    dest.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// A file being written; it appears under its name only on [`AtomicFile::commit`].
pub struct AtomicFile {
    dest: PathBuf,
    tmp: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl AtomicFile {
    pub fn create(dest: impl Into<PathBuf>) -> io::Result<Self> {
        let dest = dest.into();
        let tmp = temp_path(&dest);
        let file = File::create(&tmp)?;
        Ok(AtomicFile {
            dest,
            tmp,
            writer: Some(BufWriter::with_capacity(256 * 1024, file)),
        })
    }

    pub fn writer(&mut self) -> &mut BufWriter<File> {
        self.writer.as_mut().expect("not committed")
    }

    pub fn commit(mut self) -> io::Result<PathBuf> {
        let w = self.writer.take().expect("not committed");
        let file = w.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&self.tmp, &self.dest)?;
        Ok(self.dest.clone())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

/// Writes a whole file atomically.
pub fn write_file(dest: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut f = AtomicFile::create(dest)?;
    f.writer().write_all(bytes)?;
    f.commit().map(|_| ())
}

/// Replaces the folder `dest` with `staged` (two renames; the old one is removed after).
pub fn replace_dir(staged: &Path, dest: &Path) -> io::Result<()> {
    let name = dest.file_name().and_then(|n| n.to_str()).unwrap_or("out");
    let old = dest.with_file_name(format!(".{name}.old-{}", std::process::id()));
    let had_old = dest.exists();
    if had_old {
        fs::rename(dest, &old)?;
    }
    fs::rename(staged, dest)?;
    if had_old {
        fs::remove_dir_all(&old)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_appears_until_commit() {
        let d = crate::testutil::tempdir().unwrap();
        let dest = d.path().join("a.json");
        let mut f = AtomicFile::create(&dest).unwrap();
        f.writer().write_all(b"{}").unwrap();
        assert!(!dest.exists());
        f.commit().unwrap();
        assert_eq!(fs::read(&dest).unwrap(), b"{}");
        // Dropped without commit: no file, no temp left behind.
        let dest2 = d.path().join("b.json");
        drop(AtomicFile::create(&dest2).unwrap());
        assert!(!dest2.exists());
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn folders_are_swapped_whole() {
        let d = crate::testutil::tempdir().unwrap();
        let (staged, dest) = (d.path().join("new"), d.path().join("events"));
        fs::create_dir_all(dest.join("day=old")).unwrap();
        fs::create_dir_all(staged.join("day=new")).unwrap();
        replace_dir(&staged, &dest).unwrap();
        assert!(dest.join("day=new").exists());
        assert!(!dest.join("day=old").exists());
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }
}
