//! `errscope query`: prints the SQL with `--print-sql`, else runs it and writes the result
//! (stdout or `--output`, atomically).

use anyhow::Context as _;

use super::put;
use crate::exit::Outcome;
use crate::options::QueryRun;
use crate::query::output::emit;

pub fn run(run: &QueryRun) -> anyhow::Result<Outcome> {
    let q = &run.query;
    if run.list {
        put(&crate::query::library::list())?;
        return Ok(Outcome::Ok);
    }
    if run.print_sql {
        let (sql, origin) = crate::query::read_query(&q.query)?;
        let sql = crate::query::params::substitute(&sql, &q.params)
            .with_context(|| format!("in {origin}"))?;
        // What runs: the time literals in the form Polars takes.
        let sql = crate::query::time::rewrite(&sql, crate::query::params::now_us());
        put(&format!("{sql}\n"))?;
        return Ok(Outcome::Ok);
    }
    let mut df = crate::query::run(q)?;
    emit(&mut df, run.format, run.output.as_deref())?;
    Ok(Outcome::Ok)
}
