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

/// What `analyze` writes into its output folder from an analysis: replaced as a whole by
/// each run (and removed when a run does not write it, so nothing of an older run stays
/// beside a newer one).
pub const ANALYSIS_OUTPUTS: &[&str] = &[
    "rates",
    "charts",
    "anomalies.parquet",
    "anomalies.csv",
    "report.html",
    "summary.json",
];

/// What a run on raw logs writes besides: its ingest's outputs.
pub const INGEST_OUTPUTS: &[&str] = &["events", "quarantine.ndjson", "manifest.json"];

/// Moves a run's outputs from `staged` into `dest` (each file renamed over its
/// predecessor, each folder swapped in whole; `summary.json` and `manifest.json` last),
/// removes the previous run's outputs of the kinds this run writes that it did not write,
/// and `staged` itself. `ingested`: the run read raw logs (it owns the ingest outputs
/// too; a run on an events dataset leaves them, which may be its own input, as they are).
pub fn publish_run(staged: &Path, dest: &Path, ingested: bool) -> io::Result<()> {
    let last = ["summary.json", "manifest.json"];
    let owned: Vec<&str> = ANALYSIS_OUTPUTS
        .iter()
        .chain(if ingested { INGEST_OUTPUTS } else { &[] })
        .copied()
        .collect();
    let order = owned
        .iter()
        .filter(|n| !last.contains(n))
        .chain(last.iter().filter(|n| owned.contains(n)));
    for name in order {
        let (from, to) = (staged.join(name), dest.join(name));
        match (from.is_dir(), from.exists()) {
            (true, _) => replace_dir(&from, &to)?,
            (false, true) => fs::rename(&from, &to)?,
            (false, false) if to.is_dir() => fs::remove_dir_all(&to)?,
            (false, false) if to.exists() => fs::remove_file(&to)?,
            _ => {}
        }
    }
    fs::remove_dir_all(staged)
}

/// Whether a process with this id is running (on other systems: assumed so).
fn alive(pid: u32) -> bool {
    #[cfg(unix)]
    {
        // SAFETY: signal 0 only checks that the process exists; nothing is sent.
        let rc = unsafe { libc::kill(pid as libc::pid_t, 0) };
        rc == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// The writer's process id in a temporary name of ours (`.NAME.tmp-PID`, `.NAME.old-PID`).
fn temp_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix('.')?;
    let (_, pid) = rest
        .rsplit_once(".tmp-")
        .or_else(|| rest.rsplit_once(".old-"))?;
    pid.parse().ok()
}

/// Removes the temporaries that runs killed mid-way (`kill -9`, a crash, a reboot) left in
/// `dir` and its `rates/` and `charts/` folders: those whose process is no longer running
/// (never this run's, never another live run's). Returns how many were removed.
pub fn sweep_dead_runs(dir: &Path) -> usize {
    let me = std::process::id();
    let mut removed = 0;
    for folder in [dir.to_path_buf(), dir.join("rates"), dir.join("charts")] {
        let Ok(entries) = fs::read_dir(&folder) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name();
            let Some(pid) = name.to_str().and_then(temp_owner) else {
                continue;
            };
            if pid == me || alive(pid) {
                continue;
            }
            let p = e.path();
            let gone = if p.is_dir() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            removed += usize::from(gone.is_ok());
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporaries_of_dead_runs_are_swept_and_live_ones_kept() {
        let d = crate::testutil::tempdir().unwrap();
        // A process that has exited: its id is free (until reused, which a sweep then
        // only delays).
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = child.id();
        child.wait().unwrap();
        let live = std::process::id();
        fs::create_dir_all(d.path().join(format!(".events.tmp-{dead}/day=x"))).unwrap();
        fs::create_dir_all(d.path().join("rates")).unwrap();
        for f in [
            format!(".quarantine.ndjson.tmp-{dead}"),
            format!("rates/.all.parquet.tmp-{dead}"),
            format!(".manifest.json.tmp-{live}"),
            ".notes.tmp-abc".to_string(),
            "report.html".to_string(),
        ] {
            fs::write(d.path().join(f), b"x").unwrap();
        }
        assert_eq!(sweep_dead_runs(d.path()), 3);
        let mut left: Vec<String> = files_and_dirs(d.path());
        left.sort();
        assert_eq!(
            left,
            [
                format!(".manifest.json.tmp-{live}"),
                ".notes.tmp-abc".into(),
                "rates".into(),
                "report.html".into()
            ]
        );
    }

    fn files_and_dirs(p: &Path) -> Vec<String> {
        fs::read_dir(p)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect()
    }

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
