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
