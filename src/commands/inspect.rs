//! `errscope inspect`: how errscope reads an export, printed on stdout.

use super::put;
use crate::exit::Outcome;
use crate::options::InspectRun;

pub fn run(run: &InspectRun) -> anyhow::Result<Outcome> {
    let text = crate::inspect::inspect(&run.inputs, &run.mapping, run.sample)?;
    put(&text)?;
    Ok(Outcome::Ok)
}
