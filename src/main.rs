//! The `errscope` binary: parse flags -> validated options -> run the command -> exit code.
//! Each command's run rules are in `commands/`; the exit codes in `exit.rs`.

use std::process::ExitCode;

use clap::Parser;

use errscope::cli::{Cli, Command};
use errscope::commands::{self, is_broken_pipe};
use errscope::exit::{EngineFailure, Outcome};
use errscope::note;
use errscope::options::{AnalyzeRun, GenerateRun, IngestRun, InspectRun, QueryRun, UsageError};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    no_huge_pages();
    return_freed_memory_sooner();
    errscope::pipeline::after_ingest(settle_after_ingest);
    let cli = Cli::parse();
    errscope::storage::sign_requests(!cli.no_sign_request);
    match run(cli.command) {
        Ok(outcome) => outcome.into(),
        // A closed stdout (`errscope query ... | head -1`) is success, as in ripgrep.
        Err(e) if is_broken_pipe(&e) => Outcome::Ok.into(),
        Err(e) => {
            note!("errscope: error: {e:#}");
            if e.downcast_ref::<UsageError>().is_some() {
                Outcome::Usage.into()
            } else if e.chain().any(|c| c.is::<EngineFailure>()) {
                Outcome::EngineFailed.into()
            } else {
                Outcome::Failed.into()
            }
        }
    }
}

/// Transparent huge pages off for this process. The allocator asks for them, and the
/// kernel then zeroes a whole 2 MiB page the first time any byte of it is touched: a run
/// allocates and frees batch after batch, so on these machines that zeroing was 10-30 % of
/// the run's CPU samples (`clear_page_erms`). Without them, 1 M records over 90 days
/// run in 2.9 s instead of 3.8 s and peak 20-40 MiB lower (BENCHMARKS.md, issue 28).
fn no_huge_pages() {
    #[cfg(target_os = "linux")]
    // SAFETY: PR_SET_THP_DISABLE takes plain integers and touches no memory of ours; a
    // kernel without it returns an error, which changes nothing.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

// mimalloc's `mi_option_set`, `mi_collect` and `mi_option_purge_delay` (the same slot of
// the enum in mimalloc v2 and v3's `mimalloc.h`).
unsafe extern "C" {
    fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    fn mi_collect(force: bool);
}
const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;

/// Freed memory goes back to the system after 400 ms during ingest instead of mimalloc's
/// 1 s: what one stage freed was still resident while the next one filled up (1 s ->
/// 250 ms: peak 157 -> 142 MiB on 1 M records over 7 days, 207 -> 177 MiB over a year).
/// Ingest frees batch after batch and a short delay handed pages back only to fault them
/// in again: since the end of ingest hands back what it freed ([`settle_after_ingest`]),
/// ingest keeps 400 ms, not 100 (5 M records over 90 days: page faults 316 k -> 195 k,
/// CPU 12.9 -> 12.2 s and wall 6.8 -> 6.5 s, medians of 8 alternating runs; peaks 4-14
/// MiB higher, a year 1.12x a week; BENCHMARKS.md, issue 28). `MIMALLOC_PURGE_DELAY`
/// still decides when set.
fn return_freed_memory_sooner() {
    set_purge_delay(400);
}

/// Sets the allocator's purge delay to `ms`, unless `MIMALLOC_PURGE_DELAY` is set.
fn set_purge_delay(ms: std::ffi::c_long) {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: sets one integer option of the allocator, which reads it when it next
        // purges; no memory is touched.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, ms) }
    }
}

/// Once ingest is over, freed memory goes back after 10 ms, and what ingest freed goes
/// back now. Ingest allocates and frees batch after batch on five threads, and a short
/// delay there made the allocator hand pages back only to fault them in again (10 ms
/// instead of 100 throughout: about 1 s more system time on 90 days x 5 M records). The
/// stages after it allocate little, but on other threads, which took fresh pages while
/// ingest's freed ones waited out their delay: a year's report phase held 150-160 MiB for
/// a heap of 80 MiB, and its peak was the run's. Now the end of ingest sets the peak (1 M
/// records over a year: 164-170 -> 161-171 MiB alone, then the packed cells lowered the
/// ingest peak itself); 90 days x 5 M records unchanged in time (3 alternating runs) with
/// 5 % more page faults (BENCHMARKS.md, issue 28). `MIMALLOC_PURGE_DELAY`, when set,
/// still decides the delay.
fn settle_after_ingest() {
    set_purge_delay(10);
    // SAFETY: purges the allocator's free pages, touching no live memory.
    unsafe { mi_collect(true) }
}

/// Validates the flags of one command into its options, and runs it.
fn run(command: Command) -> anyhow::Result<Outcome> {
    match command {
        Command::Ingest(args) => commands::ingest::run(&IngestRun::from_args(args)?),
        Command::Analyze(args) => commands::analyze::run(AnalyzeRun::from_args(args)?),
        Command::Query(args) => commands::query::run(&QueryRun::from_args(args)?),
        Command::Inspect(args) => commands::inspect::run(&InspectRun::from_args(args)?),
        Command::Generate(args) => commands::generate::run(&GenerateRun::from_args(args)?),
        Command::Completions { shell } => commands::completions::completions(shell),
        Command::Man => commands::completions::man(),
    }
}
