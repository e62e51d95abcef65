//! The documented exit codes (README, "Exit codes"). A scheduler alerts on them.

use std::process::ExitCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: every input was read and the run completed.
    Ok = 0,
    /// 1: the run could not complete (output folder not writable, bad config file).
    Failed = 1,
    /// 2: bad usage (unknown flag, missing argument); printed by the argument parser.
    Usage = 2,
    /// 3: some input could not be read (missing, truncated, corrupt or binary); everything
    /// readable was processed and the outputs are complete for it.
    InputUnreadable = 3,
    /// 4: the share of quarantined records is over `--max-error-ratio`.
    TooManyBadRecords = 4,
    /// 5: `analyze --fail-on` found an incident at or above the given class or severity.
    /// It wins over 3 and 4: the incidents found in what was readable are real.
    IncidentsFound = 5,
    /// 6: no event was analysed (no input read, every record quarantined, or
    /// `--since`/`--until` excluding everything): the run says nothing about the logs, so
    /// it must not pass for an all-clear. It wins over 4; 3 (an input could not be read)
    /// wins over it, as the more specific cause.
    NoData = 6,
    /// 7: the aggregation engine failed (`--engine sc://…`: the cluster could not be
    /// reached, rejected the query, or went away mid-query). Nothing was written, and the
    /// run never falls back to the local engine.
    EngineFailed = 7,
}

/// A failure of the aggregation engine (exit 7): one line naming the engine and the
/// cause.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EngineFailure(pub String);

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> Self {
        ExitCode::from(o as u8)
    }
}
