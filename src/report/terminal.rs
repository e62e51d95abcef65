//! The terminal summary: what was read, then incidents by class and severity and one line
//! each (`--json` prints `summary.json` instead).

use crate::analyze::detect::threshold::Standing;
use crate::analyze::incident::{table, Incident};
use crate::analyze::Summary;

/// A standing condition in a sentence.
pub fn standing_text(s: &Standing) -> String {
    let v = |x: f64| {
        if s.ratio {
            format!("{:.1}%", x * 100.0)
        } else {
            format!("{x:.0}")
        }
    };
    format!(
        "standing condition: {}={}: {} is {} on median, above the {} limit in {} of {} windows; its normal, not an incident (an incident is at least twice the median)",
        s.dimension,
        s.key,
        s.what,
        v(s.median),
        v(s.limit),
        s.windows_above,
        s.windows
    )
}

pub fn render(summary: &Summary, incidents: &[Incident]) -> String {
    let mut out = String::new();
    match (&summary.first_event, &summary.last_event) {
        (Some(a), Some(b)) => out.push_str(&format!(
            "{} events, {} errors, {a} .. {b} UTC\n",
            summary.events, summary.errors
        )),
        _ => out.push_str("no events\n"),
    }
    if let Some(cause) = &summary.no_data {
        // Not "no incident": nothing was looked at.
        out.push_str(&format!(
            "NO DATA: {cause}. Nothing was analysed; this is not an all-clear.\n"
        ));
        return out;
    }
    for (d, sm) in &summary.summarised {
        out.push_str(&format!(
            "{d}: more than {} keys, summarised: {} key(s) stand out and keep their rows; the others' {} requests ({} errors) are the key (other)\n",
            sm.max_keys, sm.kept, sm.other_requests, sm.other_errors
        ));
    }
    for s in &summary.standing {
        out.push_str(&format!("{}\n", standing_text(s)));
    }
    for w in &summary.without_history {
        out.push_str(&format!("without history: {w}\n"));
    }
    out.push_str(&table(incidents));
    out
}
