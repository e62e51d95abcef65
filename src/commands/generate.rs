//! `errscope generate`: writes a synthetic export (classic or seasonal family) and says
//! what it wrote.

use crate::exit::Outcome;
use crate::note;
use crate::options::GenerateRun;

pub fn run(run: &GenerateRun) -> anyhow::Result<Outcome> {
    let opts = &run.options;
    let g = if run.seasonal {
        crate::generate::seasonal::generate(opts)?
    } else {
        crate::generate::generate(opts)?
    };
    note!(
        "errscope: wrote {} records into {} file(s) in {}{}",
        g.records,
        g.files.len(),
        opts.out.display(),
        if g.truth.is_empty() {
            String::new()
        } else {
            format!(
                ", {} incidents in truth.csv{}",
                g.truth.len(),
                if run.seasonal {
                    ", benign cases in benign.csv"
                } else {
                    ""
                }
            )
        }
    );
    Ok(Outcome::Ok)
}
