//! Inputs as the user names them (files, folders walked recursively, glob patterns, `-` for
//! stdin) expanded into an ordered, de-duplicated list of sources.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::local::{LocalFile, Stdin};
use super::object::expand_url;
use super::Source;
use crate::storage::Location;

fn is_hidden(p: &Path) -> bool {
    p.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with('.'))
}

/// Extensions of files that sit beside logs but are not logs (docs, scripts, our own
/// outputs). Skipped when walking a folder; a file named explicitly is always read.
const NOT_LOGS: &[&str] = &[
    "md", "markdown", "rst", "py", "rs", "sh", "toml", "yaml", "yml", "html", "htm", "css", "js",
    "png", "jpg", "jpeg", "gif", "svg", "pdf", "parquet", "csv", "tsv", "lock", "sql",
];

const NOT_A_LOG: &str = "not a log file (by extension; name it explicitly to read it)";

/// Files vendors deliver beside their logs that hold no events: CloudTrail's digest files
/// (integrity hashes of the log files, under `CloudTrail-Digest/`) and Cloudflare
/// Logpush's ownership-challenge file.
const NO_EVENTS: &str = "holds no events (a CloudTrail digest or a Logpush ownership challenge; name it explicitly to read it)";

/// Whether a folder walk skips this file, and why.
pub fn skip_reason(p: &Path) -> Option<&'static str> {
    let name = p.file_name()?.to_str()?;
    if name.starts_with("ownership-challenge")
        || p.components().any(|c| c.as_os_str() == "CloudTrail-Digest")
        || name.contains("_CloudTrail-Digest_")
    {
        return Some(NO_EVENTS);
    }
    let ext = p.extension()?.to_str()?.to_ascii_lowercase();
    NOT_LOGS.contains(&ext.as_str()).then_some(NOT_A_LOG)
}

const HIDDEN_FILE: &str = "hidden file (name it explicitly to read it)";
const HIDDEN_FOLDER: &str = "hidden folder, not walked (name it explicitly to read it)";

fn has_glob_chars(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Expands the inputs in the order given; a folder's files are sorted by path and hidden
/// files and folders are skipped. Unresolvable inputs become [`Source::Missing`] so that
/// one bad name never stops the others.
///
/// Files under `exclude` (the run's own output folder) and objects under `exclude_url`
/// (its output prefix in a bucket) are never inputs, so a rerun that writes inside the
/// folder or prefix it reads does not read its own outputs. URLs (`s3://…`, `gs://…`,
/// `az://…`, `https://…`) expand into objects ([`super::object::expand_url`]).
pub fn expand_inputs(
    inputs: &[String],
    exclude: Option<&Path>,
    exclude_url: Option<&Location>,
) -> Vec<Source> {
    let mut out = Vec::new();
    let mut seen: HashSet<PathBuf> = HashSet::new();
    let exclude = exclude.and_then(|e| std::fs::canonicalize(e).ok());
    let push_file = |p: PathBuf, out: &mut Vec<Source>, seen: &mut HashSet<PathBuf>| {
        let key = std::fs::canonicalize(&p).unwrap_or_else(|_| p.clone());
        if exclude.as_ref().is_some_and(|e| key.starts_with(e)) {
            return;
        }
        if seen.insert(key) {
            out.push(Source::Read(std::sync::Arc::new(LocalFile::new(p))));
        }
    };
    for input in inputs {
        if input == "-" {
            out.push(Source::Read(std::sync::Arc::new(Stdin)));
            continue;
        }
        match Location::parse(input) {
            Some(Ok(loc)) => {
                for s in expand_url(input, &loc, exclude_url) {
                    let fresh = match &s {
                        Source::Read(x) => seen.insert(PathBuf::from(x.name())),
                        _ => true,
                    };
                    if fresh {
                        out.push(s);
                    }
                }
                continue;
            }
            Some(Err(reason)) => {
                out.push(Source::Missing {
                    name: input.clone(),
                    reason,
                });
                continue;
            }
            None => {}
        }
        let path = Path::new(input);
        if path.is_dir() {
            // (path, why it is skipped): hidden files and folders and non-log files are
            // listed, never read, so the terminal and the manifest can name them.
            let mut files: Vec<(PathBuf, Option<&'static str>)> = Vec::new();
            let mut walk = walkdir::WalkDir::new(path).follow_links(true).into_iter();
            while let Some(entry) = walk.next() {
                let e = match entry {
                    Ok(e) => e,
                    Err(err) => {
                        out.push(Source::Missing {
                            name: err
                                .path()
                                .map_or(input.clone(), |p| p.display().to_string()),
                            reason: format!("cannot list folder: {err}"),
                        });
                        continue;
                    }
                };
                let hidden = e.depth() > 0 && is_hidden(e.path());
                if e.file_type().is_dir() {
                    if hidden {
                        walk.skip_current_dir();
                        files.push((e.into_path(), Some(HIDDEN_FOLDER)));
                    }
                } else if e.file_type().is_file() {
                    let why = if hidden {
                        Some(HIDDEN_FILE)
                    } else {
                        skip_reason(e.path())
                    };
                    files.push((e.into_path(), why));
                }
            }
            files.sort();
            for (f, why) in files {
                match why {
                    Some(reason) => {
                        let key = std::fs::canonicalize(&f).unwrap_or_else(|_| f.clone());
                        if !exclude.as_ref().is_some_and(|e| key.starts_with(e)) {
                            out.push(Source::Skipped { path: f, reason });
                        }
                    }
                    None => push_file(f, &mut out, &mut seen),
                }
            }
        } else if path.exists() {
            push_file(path.to_path_buf(), &mut out, &mut seen);
        } else if has_glob_chars(input) {
            let opts = glob::MatchOptions {
                require_literal_leading_dot: true,
                ..Default::default()
            };
            match glob::glob_with(input, opts) {
                Ok(paths) => {
                    let mut files: Vec<PathBuf> = paths
                        .filter_map(Result::ok)
                        .filter(|p| p.is_file())
                        .collect();
                    files.sort();
                    if files.is_empty() {
                        out.push(Source::Missing {
                            name: input.clone(),
                            reason: "no file matches this pattern".into(),
                        });
                    }
                    for f in files {
                        push_file(f, &mut out, &mut seen);
                    }
                }
                Err(e) => out.push(Source::Missing {
                    name: input.clone(),
                    reason: format!("invalid glob pattern: {e}"),
                }),
            }
        } else {
            out.push(Source::Missing {
                name: input.clone(),
                reason: "no such file or folder".into(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_globs_and_missing() {
        let dir = crate::testutil::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("sub/.hidden")).unwrap();
        for f in [
            "b.ndjson",
            "a.log",
            "sub/c.json.gz",
            "sub/.hidden/x.ndjson",
            ".dot.ndjson",
            "README.md",
        ] {
            std::fs::write(d.join(f), "{}").unwrap();
        }
        let names = |s: &[Source]| s.iter().map(|x| x.display_name()).collect::<Vec<_>>();
        let got = expand_inputs(&[d.display().to_string()], Some(&d.join("sub")), None);
        let rel: Vec<String> = names(&got)
            .iter()
            .map(|n| n.trim_start_matches(&d.display().to_string()).to_string())
            .collect();
        assert_eq!(
            rel,
            ["/.dot.ndjson", "/README.md", "/a.log", "/b.ndjson"],
            "the output folder is left out, hidden files and docs are listed"
        );
        let skipped: Vec<&str> = got
            .iter()
            .filter_map(|s| match s {
                Source::Skipped { reason, .. } => Some(*reason),
                _ => None,
            })
            .collect();
        assert_eq!(
            skipped,
            [HIDDEN_FILE, NOT_A_LOG],
            "hidden files and docs are listed as skipped"
        );
        let got = expand_inputs(&[d.display().to_string()], None, None);
        let hidden_folder = got.iter().find_map(|s| match s {
            Source::Skipped { path, reason } if path.ends_with("sub/.hidden") => Some(*reason),
            _ => None,
        });
        assert_eq!(hidden_folder, Some(HIDDEN_FOLDER), "{got:?}");
        assert!(
            !got.iter().any(|s| s.display_name().ends_with("x.ndjson")),
            "nothing under a hidden folder is read"
        );

        let got = expand_inputs(
            &[
                format!("{}/*.ndjson", d.display()),
                d.join("b.ndjson").display().to_string(),
            ],
            None,
            None,
        );
        assert_eq!(got.len(), 1, "duplicates are read once: {got:?}");

        let got = expand_inputs(
            &[
                "/nonexistent/file.ndjson".into(),
                "/nonexistent/*.gz".into(),
                "-".into(),
            ],
            None,
            None,
        );
        assert!(matches!(got[0], Source::Missing { .. }));
        assert!(matches!(got[1], Source::Missing { .. }));
        assert_eq!(got[2].display_name(), "-");
    }
}
