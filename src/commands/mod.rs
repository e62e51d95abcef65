//! One file per subcommand, each with its run rules (in the manner of xsv's `cmd/`): it
//! takes its validated options ([`crate::options`]), drives the stages and returns the
//! [`Outcome`](crate::exit::Outcome) that `main` turns into the exit code.

pub mod analyze;
pub mod completions;
pub mod generate;
pub mod ingest;
pub mod inspect;
pub mod query;
mod timings;

use anyhow::Context as _;

use crate::storage::output::Staged;

/// A line on stderr; a closed stderr is not worth a panic.
#[macro_export]
macro_rules! note {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($t)*);
    }};
}

/// Writes to stdout. A closed pipe (`errscope analyze ... | head -1`) is not an error: the
/// run's exit code (`--fail-on`) stands; other write errors fail the run.
pub fn put(text: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut o = std::io::stdout().lock();
    match o.write_all(text.as_bytes()).and_then(|()| o.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("cannot write to stdout"),
    }
}

/// Whether an error is a closed pipe somewhere in its chain (a success, as in ripgrep).
/// Polars' writers wrap the I/O error in their own, which keeps only its text.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || c.to_string().contains("Broken pipe (os error 32)")
    })
}

/// Uploads the staged outputs to the bucket, unless the run found no data: a run with
/// nothing to say never replaces the results of the last good one.
pub(crate) fn publish_unless_empty(
    staged: &Staged,
    empty: bool,
    keep_events: bool,
    quiet: bool,
) -> anyhow::Result<()> {
    if empty {
        return Ok(());
    }
    let p = crate::storage::output::publish(staged, keep_events)?;
    if !quiet {
        note!(
            "errscope: wrote {} objects ({:.1} MB) under {}{}",
            p.uploaded,
            p.bytes as f64 / 1e6,
            staged.url,
            if p.deleted > 0 {
                format!("; removed {} objects of the previous run", p.deleted)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}
