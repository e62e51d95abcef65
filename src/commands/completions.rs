//! `errscope completions SHELL` and `errscope man`: generated from the same flag
//! definitions the parser uses, so they never disagree with it.

use clap::CommandFactory as _;

use super::put;
use crate::cli::Cli;
use crate::exit::Outcome;

pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<Outcome> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "errscope", &mut out);
    put(&String::from_utf8_lossy(&out))?;
    Ok(Outcome::Ok)
}

pub fn man() -> anyhow::Result<Outcome> {
    let mut out = Vec::new();
    clap_mangen::Man::new(Cli::command()).render(&mut out)?;
    put(&String::from_utf8_lossy(&out))?;
    Ok(Outcome::Ok)
}
