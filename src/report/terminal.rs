//! The terminal summary: what was read, then incidents by class and severity and one line
//! each (`--json` prints `summary.json` instead).

use crate::analyze::incident::{table, Incident};
use crate::analyze::Summary;

pub fn render(summary: &Summary, incidents: &[Incident]) -> String {
    let mut out = String::new();
    match (&summary.first_event, &summary.last_event) {
        (Some(a), Some(b)) => out.push_str(&format!(
            "{} events, {} errors, {a} .. {b} UTC\n",
            summary.events, summary.errors
        )),
        _ => out.push_str("no events\n"),
    }
    out.push_str(&table(incidents));
    out
}
