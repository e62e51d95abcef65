//! `report.html`: one self-contained file (no scripts, no external assets; the charts are
//! inlined as SVG) that a person opens first. Incidents come first, each with its
//! explanation, contributors and sample request ids; then the charts; then the rates of
//! the busiest keys per dimension; then what was read (manifest, quarantine reasons).
//! Every value from the logs is HTML-escaped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::chart::WrittenChart;
use crate::analyze::incident::{utc, Incident};
use crate::analyze::tables::{Counts, Tables};
use crate::analyze::{Dimension, Summary};

/// Escapes text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What the report shows besides the analysis: the run's inputs, when known.
#[derive(Debug, Default, Clone)]
pub struct InputsView {
    /// `manifest.json` of the ingest behind this run, if any.
    pub manifest: Option<serde_json::Value>,
    /// Quarantined records by reason (from `quarantine.ndjson`).
    pub quarantine_reasons: BTreeMap<String, u64>,
}

impl InputsView {
    /// Reads `manifest.json` and `quarantine.ndjson` from `dir` when they are there.
    pub fn read(dir: &Path) -> InputsView {
        let manifest = std::fs::read(dir.join("manifest.json"))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok());
        let mut quarantine_reasons = BTreeMap::new();
        if let Ok(f) = std::fs::File::open(dir.join("quarantine.ndjson")) {
            use std::io::BufRead;
            for line in std::io::BufReader::new(f).lines().map_while(Result::ok) {
                let reason = serde_json::from_str::<serde_json::Value>(&line)
                    .ok()
                    .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(reason_kind))
                    .unwrap_or_else(|| "unknown".into());
                *quarantine_reasons.entry(reason).or_insert(0) += 1;
            }
        }
        InputsView {
            manifest,
            quarantine_reasons,
        }
    }
}

/// A reason without its specifics ("invalid JSON: expected `,` at column 17" -> "invalid
/// JSON"), so counts group.
fn reason_kind(r: &str) -> String {
    r.split([':', '(']).next().unwrap_or(r).trim().to_string()
}

const STYLE: &str = r#"
body{font-family:"DejaVu Sans",system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d2330;background:#f5f6f8}
main{max-width:1180px;margin:0 auto;padding:24px}
h1{font-size:26px;margin:0 0 4px} h2{font-size:20px;margin:32px 0 12px;border-bottom:1px solid #d8dce3;padding-bottom:6px}
h3{font-size:16px;margin:18px 0 8px}
.muted{color:#5c6577;font-size:14px}
.tiles{display:flex;gap:12px;flex-wrap:wrap;margin:16px 0}
.tile{background:#fff;border:1px solid #d8dce3;border-radius:8px;padding:10px 16px;min-width:120px}
.tile b{display:block;font-size:22px}
.nodata{background:#fdecea;border:2px solid #b3261e;color:#5f1410;border-radius:8px;padding:12px 16px;margin:16px 0;font-size:16px}
.incident{background:#fff;border:1px solid #d8dce3;border-left:6px solid #888;border-radius:8px;padding:12px 16px;margin:10px 0}
.incident.critical{border-left-color:#d62728} .incident.security{border-left-color:#9467bd} .incident.warning{border-left-color:#ff7f0e}
.badge{display:inline-block;border-radius:4px;padding:1px 7px;font-size:12px;font-weight:bold;color:#fff;margin-right:6px;text-transform:uppercase}
.badge.critical{background:#d62728} .badge.security{background:#9467bd} .badge.warning{background:#ff7f0e}
.badge.high{background:#3b4252} .badge.medium{background:#6b7385} .badge.low{background:#9aa1ae}
.incident .head{font-size:15px;font-weight:bold} .incident p{margin:6px 0}
code,.mono{font-family:"DejaVu Sans Mono",ui-monospace,monospace;font-size:13px}
table{border-collapse:collapse;background:#fff;width:100%;font-size:13px;margin:6px 0 14px}
th,td{border:1px solid #e1e4ea;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef0f4} td.n{text-align:right;font-variant-numeric:tabular-nums}
figure{background:#fff;border:1px solid #d8dce3;border-radius:8px;margin:12px 0;padding:8px}
figure svg{max-width:100%;height:auto;display:block}
figcaption{font-size:13px;color:#5c6577;padding:4px}
"#;

/// Incidents in reading order: most serious first (class, then severity), then by start.
pub fn reading_order(incidents: &[Incident]) -> Vec<&Incident> {
    let mut v: Vec<&Incident> = incidents.iter().collect();
    v.sort_by_key(|i| {
        (
            std::cmp::Reverse(i.class),
            std::cmp::Reverse(i.severity),
            i.start,
            i.incident_id.clone(),
        )
    });
    v
}

fn incident_html(out: &mut String, i: &Incident) {
    let _ = write!(
        out,
        r#"<div class="incident {class}" id="{id}"><div class="head"><span class="badge {class}">{class}</span><span class="badge {sev}">{sev}</span>{det} &middot; <code>{dim}={key}</code></div>
<div class="muted">{start} &ndash; {end} UTC &middot; {events} events &middot; peak {peak} &middot; baseline {base} &middot; threshold {thr} &middot; id <code>{id}</code></div>
<p>{expl}</p>
<p class="action"><b>What to do:</b> {action}</p>"#,
        class = i.class,
        sev = i.severity.as_str(),
        det = i.detector,
        dim = i.dimension,
        key = esc(&i.key),
        start = utc(i.start),
        end = utc(i.end),
        events = i.events,
        peak = fmt_num(i.peak),
        base = fmt_num(i.baseline),
        thr = fmt_num(i.threshold),
        id = esc(&i.incident_id),
        expl = esc(&i.explanation),
        action = esc(&i.action),
    );
    if !i.contributors.is_empty() {
        out.push_str("<p><b>Contributors:</b> ");
        let parts: Vec<String> = i
            .contributors
            .iter()
            .map(|c| {
                format!(
                    "{}=<code>{}</code> ({:.0}%, {} events)",
                    c.dimension,
                    esc(&c.value),
                    c.share * 100.0,
                    c.events
                )
            })
            .collect();
        out.push_str(&parts.join("; "));
        out.push_str("</p>");
    }
    if !i.sample_request_ids.is_empty() {
        let ids: Vec<String> = i.sample_request_ids.iter().map(|r| esc(r)).collect();
        let _ = write!(
            out,
            "<p class=\"muted\">Sample request ids: <code>{}</code></p>",
            ids.join("</code>, <code>")
        );
    }
    out.push_str("</div>\n");
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else if v.abs() < 1.0 {
        format!("{v:.3}")
    } else {
        format!("{v:.1}")
    }
}

/// What a summarised dimension's tables hold, in a sentence.
/// `exact`: the engine ranked every key (a cluster's); else the local one-pass summary.
fn summary_note(d: &crate::analyze::tables::DimTable, exact: bool) -> String {
    let Some(sm) = &d.summary else {
        return String::new();
    };
    let other = sm.other.total();
    let (seen, kept) = if exact {
        (
            format!("{} keys", sm.keys_seen),
            "are the heaviest (errors weigh 16 successes, every key ranked) and keep their counts",
        )
    } else {
        (
            format!("about {} keys seen", sm.keys_seen),
            "stand out (errors weigh 16 successes; a key heavier than every key dropped) and keep their counts from when they were last taken in",
        )
    };
    format!(
        "<p class=\"muted summary\">Summarised: {} had more keys than <code>[rates] max_keys</code> ({}; {seen}). {} key(s) {kept}; the rest, {} requests and {} errors, are the key <code>(other)</code> in <code>rates/{}.csv</code>, which lists only windows with events.</p>\n",
        d.dimension,
        sm.max_keys,
        d.series.len(),
        other.requests,
        other.errors,
        d.dimension
    )
}

/// The busiest keys of one dimension: totals and the peak hourly error count.
fn rates_html(out: &mut String, t: &Tables, dimension: Dimension, limit: usize, exact: bool) {
    let Some(d) = t.dim(dimension) else { return };
    let hour = t.grid.buckets_in(60 * crate::analyze::grid::MINUTE_US);
    let mut rows: Vec<(&str, Counts, u64)> = d
        .series
        .iter()
        .map(|s| (s.key.as_str(), s.total(), s.peak_sum(hour, |c| c.errors)))
        .collect();
    rows.sort_by(|a, b| b.1.errors.cmp(&a.1.errors).then(a.0.cmp(b.0)));
    let shown = rows.len().min(limit);
    let keys = match &d.summary {
        Some(sm) => format!("more than {} keys, summarised", sm.max_keys),
        None => format!("{} keys", rows.len()),
    };
    // A code's requests are its own errors, so its error ratio is always 100 %: codes show
    // their share of all errors and their ratio against all requests instead.
    let by_code = dimension == Dimension::ErrorCode;
    let all = t
        .dim(Dimension::All)
        .and_then(|a| a.series.first())
        .map(|s| s.total())
        .unwrap_or_default();
    let ratio_th = if by_code {
        "<th>share of errors</th><th>of all requests</th>"
    } else {
        "<th>error ratio</th>"
    };
    let _ = write!(
        out,
        "<h3>{} <span class=\"muted\">({}{})</span></h3>\n{}<table><tr><th>{}</th><th>requests</th><th>errors</th>{ratio_th}<th>4xx</th><th>5xx</th><th>401</th><th>403</th><th>429</th><th>peak errors/hour</th>{}</tr>\n",
        dimension,
        keys,
        if shown < rows.len() { format!(", top {shown} by errors") } else { String::new() },
        summary_note(d, exact),
        dimension,
        if by_code { "<th>what to do</th>" } else { "" }
    );
    let pct = |part: u32, whole: u32, known: bool| {
        if known && whole > 0 {
            format!("{:.2}%", 100.0 * f64::from(part) / f64::from(whole))
        } else {
            "&ndash;".into()
        }
    };
    for (key, c, peak) in rows.into_iter().take(limit) {
        let ratio = if by_code {
            format!(
                "{}</td><td class=n>{}",
                pct(c.errors, all.errors, true),
                pct(c.errors, all.requests, t.has_successes)
            )
        } else {
            pct(c.errors, c.requests, t.has_successes)
        };
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td>{}</tr>",
            esc(key), c.requests, c.errors, ratio, c.s4xx, c.s5xx, c.s401, c.s403, c.s429, peak,
            if dimension == Dimension::ErrorCode && key != crate::analyze::tables::OTHER_KEY {
                format!("<td>{}</td>", esc(crate::analyze::actions::for_code(key)))
            } else if dimension == Dimension::ErrorCode {
                "<td></td>".to_string()
            } else {
                String::new()
            }
        );
    }
    out.push_str("</table>\n");
}

fn inputs_html(out: &mut String, inputs: &InputsView) {
    out.push_str("<h2 id=\"inputs\">Inputs</h2>\n");
    let Some(m) = &inputs.manifest else {
        out.push_str("<p class=\"muted\">This run read an events dataset; its manifest is not beside it.</p>\n");
        return;
    };
    let n = |v: &serde_json::Value, k: &str| v.get(k).and_then(|x| x.as_u64()).unwrap_or(0);
    if let Some(t) = m.get("totals") {
        let _ = writeln!(
            out,
            "<p>{} file(s), {} bytes: {} records &rarr; <b>{} events</b>, <b>{} quarantined</b>, {} blank lines, {} out of the time bounds, {} exact duplicates left out; {} file(s) not fully readable.</p>",
            n(t, "files"), n(t, "bytes"), n(t, "records") + n(t, "expanded"), n(t, "events"),
            n(t, "quarantined"), n(t, "blank"), n(t, "out_of_range"), n(t, "duplicates"),
            n(t, "files_with_errors")
        );
        if n(t, "duplicates_kept") > 0 {
            let _ = writeln!(
                out,
                "<p>{} exact duplicates were counted and kept as events (<code>[ingest] duplicates = \"keep\"</code>): rates count them twice.</p>",
                n(t, "duplicates_kept")
            );
        }
        if n(t, "duplicates_unchecked") > 0 {
            let _ = writeln!(
                out,
                "<p><b>{} events were checked for duplicates against part of the input only: the fingerprints of some hours were forgotten to stay within <code>[ingest] duplicate_memory</code>.</b></p>",
                n(t, "duplicates_unchecked")
            );
        }
    }
    out.push_str("<table><tr><th>file</th><th>format</th><th>bytes</th><th>records</th><th>events</th><th>quarantined</th><th>problem</th></tr>\n");
    for f in m
        .get("inputs")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
    {
        let s = |k: &str| f.get(k).and_then(|x| x.as_str()).unwrap_or("");
        let format = [s("compression"), s("layout")]
            .iter()
            .filter(|x| !x.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td class=n>{}</td><td>{}</td></tr>",
            esc(s("path")), esc(&format), n(f, "bytes"), n(f, "records") + n(f, "expanded"),
            n(f, "events"), n(f, "quarantined"), esc(s("error"))
        );
    }
    out.push_str("</table>\n");
    let skipped = m
        .get("skipped")
        .and_then(|v| v.as_array())
        .cloned()
        .unwrap_or_default();
    if !skipped.is_empty() {
        out.push_str("<h3>Skipped</h3><table><tr><th>path</th><th>reason</th></tr>\n");
        for s in &skipped {
            let g = |k: &str| s.get(k).and_then(|x| x.as_str()).unwrap_or("");
            let _ = writeln!(
                out,
                "<tr><td><code>{}</code></td><td>{}</td></tr>",
                esc(g("path")),
                esc(g("reason"))
            );
        }
        out.push_str("</table>\n");
    }
    if !inputs.quarantine_reasons.is_empty() {
        out.push_str(
            "<h3>Quarantine reasons</h3><table><tr><th>reason</th><th>records</th></tr>\n",
        );
        for (r, c) in &inputs.quarantine_reasons {
            let _ = writeln!(out, "<tr><td>{}</td><td class=n>{c}</td></tr>", esc(r));
        }
        out.push_str("</table><p class=\"muted\">Each quarantined record, with file, line and a redacted excerpt, is in <code>quarantine.ndjson</code>.</p>\n");
    }
}

/// The whole report as one HTML document.
pub fn render(
    summary: &Summary,
    incidents: &[Incident],
    tables: Option<&Tables>,
    charts: &[WrittenChart],
    inputs: &InputsView,
) -> String {
    let mut out = String::with_capacity(256 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>errscope report</title><style>{STYLE}</style></head><body><main>\n"
    );
    let range = match (&summary.first_event, &summary.last_event) {
        (Some(a), Some(b)) => format!("{} &ndash; {} UTC", esc(a), esc(b)),
        _ => "no events".into(),
    };
    let _ = writeln!(
        out,
        "<h1>errscope report</h1><div class=\"muted\">{range} &middot; {}-minute windows &middot; rates computed by {} &middot; errscope {}</div>",
        summary.window_minutes,
        esc(&summary.engine),
        env!("CARGO_PKG_VERSION")
    );
    if let Some(cause) = &summary.no_data {
        let _ = writeln!(
            out,
            "<div class=\"nodata\" role=\"alert\"><b>No data.</b> {}. Nothing was analysed: this report is not an all-clear.</div>",
            esc(cause)
        );
    }
    let tile = |label: &str, v: String| format!("<div class=\"tile\">{label}<b>{v}</b></div>");
    out.push_str("<div class=\"tiles\">");
    out.push_str(&tile("incidents", summary.incidents.to_string()));
    for c in ["critical", "security", "warning"] {
        out.push_str(&tile(
            c,
            summary.by_class.get(c).copied().unwrap_or(0).to_string(),
        ));
    }
    out.push_str(&tile("events", summary.events.to_string()));
    out.push_str(&tile("errors", summary.errors.to_string()));
    out.push_str("</div>\n");

    let _ = writeln!(
        out,
        "<h2 id=\"incidents\">Incidents ({})</h2>",
        incidents.len()
    );
    if summary.no_data.is_some() {
        out.push_str("<p>No event was analysed, so no detector ran.</p>\n");
    } else if incidents.is_empty() {
        out.push_str("<p>No incident: every detector's rule held within its limits.</p>\n");
    }
    for i in reading_order(incidents) {
        incident_html(&mut out, i);
    }
    if !summary.without_history.is_empty() {
        out.push_str("<h3 id=\"history\">Judged without history</h3>\n<ul class=\"history\">\n");
        for w in &summary.without_history {
            let _ = writeln!(out, "<li>{}</li>", esc(w));
        }
        out.push_str("</ul>\n");
    }
    if !summary.standing.is_empty() {
        out.push_str("<h3 id=\"standing\">Standing conditions</h3>\n<ul class=\"standing\">\n");
        for s in &summary.standing {
            let _ = writeln!(out, "<li>{}</li>", esc(&super::terminal::standing_text(s)));
        }
        out.push_str("</ul>\n");
    }

    out.push_str("<h2 id=\"charts\">Charts</h2>\n");
    for c in charts {
        // plotters' SVG starts with an XML-free <svg ...> element: safe to inline as is.
        let _ = writeln!(
            out,
            "<figure id=\"chart-{}\">{}<figcaption>{} &middot; <code>charts/{}.png</code>, <code>charts/{}.svg</code></figcaption></figure>",
            c.name, c.svg_text, esc(&c.title), c.name, c.name
        );
    }

    out.push_str("<h2 id=\"rates\">Rates</h2>\n<p class=\"muted\">Totals over the whole range; per window in <code>rates/&lt;dimension&gt;.csv</code> and <code>.parquet</code>.</p>\n");
    if let Some(t) = tables {
        for d in [
            Dimension::ErrorCode,
            Dimension::ConnectionId,
            Dimension::OrganizationId,
            Dimension::IpAddress,
            Dimension::Endpoint,
            Dimension::Category,
        ] {
            rates_html(&mut out, t, d, 10, summary.engine != "local");
        }
    }
    inputs_html(&mut out, inputs);
    out.push_str("</main></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_from_the_logs() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(
            reason_kind("invalid JSON: expected `,` at 3"),
            "invalid JSON"
        );
    }
}
