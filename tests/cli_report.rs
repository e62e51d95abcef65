//! Reports and scheduled runs, end to end: every output of `analyze` on sample-data, the
//! HTML in a real headless browser where one is installed, `--fail-on` exit codes,
//! `--since`/`--until`, and incremental runs with `--state`.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn analyze_sample(out: &Path, extra: &[&str]) -> Assert {
    analyze(&repo_path("sample-data"), out, extra)
}

/// Decodes a PNG; returns (width, height, distinct colours seen on a sample of pixels).
fn decode_png(path: &Path) -> (u32, u32, usize) {
    let decoder = png::Decoder::new(std::fs::File::open(path).unwrap());
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    let px = info.color_type.samples();
    let colours: std::collections::BTreeSet<&[u8]> =
        buf[..info.buffer_size()].chunks(px).step_by(97).collect();
    (info.width, info.height, colours.len())
}

#[test]
fn analyze_writes_every_report_from_one_analysis() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let out = tmp.path().join("out");
    analyze_sample(&out, &[]).success();

    for f in [
        "anomalies.parquet",
        "anomalies.csv",
        "summary.json",
        "report.html",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let rates: Vec<PathBuf> = files_under(&out.join("rates"));
    assert!(
        rates
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .count()
            >= 3,
        "{rates:?}"
    );
    for name in ["error_rate", "connections", "security", "incidents"] {
        let png = out.join("charts").join(format!("{name}.png"));
        let (w, h, colours) = decode_png(&png);
        assert!(w >= 800 && h >= 250, "{name}: {w}x{h}");
        assert!(colours >= 4, "{name}.png has content, not a blank canvas");
        let svg = std::fs::read_to_string(out.join("charts").join(format!("{name}.svg"))).unwrap();
        assert!(
            svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"),
            "{name}.svg"
        );
        assert!(svg.contains("<text"), "{name}.svg has labels");
    }
    // The charts show the data of the incidents: the series are the top keys.
    let rate_svg = std::fs::read_to_string(out.join("charts/error_rate.svg")).unwrap();
    assert!(
        rate_svg.contains("RATE_LIMIT_EXCEEDED"),
        "top code in the legend"
    );
    assert!(rate_svg.contains("time (UTC)"));
    let sec_svg = std::fs::read_to_string(out.join("charts/security.svg")).unwrap();
    assert!(sec_svg.contains("203.0.113.66") && sec_svg.contains("org_globex"));
    let conn_svg = std::fs::read_to_string(out.join("charts/connections.svg")).unwrap();
    assert!(conn_svg.contains("conn_sf_prod"));

    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    // Incidents first, naming the connections and IPs; the charts inline; the inputs last.
    let (inc, charts, rates_at, inputs) = (
        html.find("id=\"incidents\"").unwrap(),
        html.find("id=\"charts\"").unwrap(),
        html.find("id=\"rates\"").unwrap(),
        html.find("id=\"inputs\"").unwrap(),
    );
    assert!(inc < charts && charts < rates_at && rates_at < inputs);
    for key in [
        "conn_sf_prod",
        "203.0.113.66",
        "u_globex_mallory",
        "conn_netsuite_7",
        "conn_quickbooks_9",
        "conn_hubspot_42",
    ] {
        assert!(html[inc..charts].contains(key), "{key} in the incidents");
    }
    assert_eq!(html.matches("<svg").count(), 4, "four charts inlined");
    assert!(
        !html.contains("<script") && !html.contains("src=\"http"),
        "self-contained"
    );
    assert!(html.contains("auth_service.log") && html.contains("Quarantine reasons"));
    // A critical incident is listed before any warning.
    let first_critical = html.find("badge critical").unwrap();
    let first_warning = html.find("badge warning").unwrap();
    assert!(first_critical < first_warning);

    // Nothing secret and nothing formula-like raw in any output.
    let text = all_output_text(&out);
    assert!(
        !text.contains("mk_live_") && !text.contains("api_key=ak_"),
        "secret leaked"
    );
    for rel in files_under(&out) {
        if rel.extension().is_some_and(|e| e == "csv") {
            let csv = std::fs::read_to_string(out.join(&rel)).unwrap();
            let mut r = csv::Reader::from_reader(csv.as_bytes());
            for rec in r.records() {
                for cell in rec.unwrap().iter() {
                    assert!(
                        !cell.starts_with(['=', '@', '\t', '\r']),
                        "{rel:?}: formula-like cell {cell:?}"
                    );
                }
            }
        }
    }

    // Reruns give identical files (a nightly job may overwrite yesterday's output).
    let again = tmp.path().join("again");
    analyze_sample(&again, &[]).success();
    for rel in [
        "report.html",
        "charts/error_rate.svg",
        "charts/incidents.png",
        "anomalies.csv",
    ] {
        assert_eq!(
            std::fs::read(out.join(rel)).unwrap(),
            std::fs::read(again.join(rel)).unwrap(),
            "{rel} differs between reruns"
        );
    }
    assert!(
        !files_under(&out)
            .iter()
            .any(|p| p.to_string_lossy().contains(".tmp")),
        "no temporary files left"
    );
}

#[test]
fn fail_on_sets_a_distinct_exit_code() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let out = tmp.path().join("out");
    analyze_sample(&out, &["--fail-on", "critical"]).code(5);
    analyze_sample(&out, &["--fail-on", "high"]).code(5);
    // Outputs are complete even when the gate trips.
    assert!(out.join("report.html").is_file());
    // Only successes: nothing at or above `low`.
    let quiet = tmp.path().join("quiet");
    let lines: String = (0..50)
        .map(|i| {
            format!(
                "{{\"ts\": {}, \"status\": 200, \"connection_id\": \"c1\"}}\n",
                1_709_510_400 + i * 60
            )
        })
        .collect();
    errscope()
        .args(["analyze", "-q", "-", "--fail-on", "low", "--out"])
        .arg(&quiet)
        .write_stdin(lines)
        .assert()
        .code(0);
    // Bad usage is 2, an unreadable input 3.
    errscope()
        .args(["analyze", "--fail-on", "bogus", "x", "--out"])
        .arg(&quiet)
        .assert()
        .code(2);
    errscope()
        .args(["analyze", "-q", "/no/such/file.ndjson", "--out"])
        .arg(tmp.path().join("missing"))
        .assert()
        .code(3);
}

#[test]
fn since_and_until_bound_the_event_time() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let out = tmp.path().join("out");
    let a = errscope()
        .args([
            "analyze",
            "--json",
            "--since",
            "2024-03-05",
            "--until",
            "2024-03-05T12:00:00Z",
        ])
        .arg(repo_path("sample-data"))
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let summary: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    let first = summary["first_event"].as_str().unwrap();
    let last = summary["last_event"].as_str().unwrap();
    assert!(
        first >= "2024-03-05 00:00" && last < "2024-03-05 12:00",
        "{first} .. {last}"
    );
    let m = assert_reconciles(&out);
    assert!(
        m["totals"]["out_of_range"].as_u64().unwrap() > 1000,
        "{}",
        m["totals"]
    );
    let csv = std::fs::read_to_string(out.join("anomalies.csv")).unwrap();
    // The credential stuffing (03-05 02:10) and the storm (09:00) are in; the outage of
    // 03-04 and the reauthorization of 03-05 18:00 are not.
    assert!(
        csv.contains("203.0.113.66") && csv.contains("conn_hubspot_42"),
        "{csv}"
    );
    assert!(
        !csv.contains("server_errors") && !csv.contains("reauthorization"),
        "{csv}"
    );
    errscope()
        .args(["analyze", "-q", "--since", "yesterday", "--out"])
        .arg(tmp.path().join("x"))
        .arg(repo_path("sample-data"))
        .assert()
        .code(2);
}

fn write_day(dir: &Path, name: &str, day: i64, burst_code: Option<&str>) {
    let mut lines = String::new();
    let start = 1_709_251_200 + day * 86_400; // 2024-03-01 + day
    for m in 0..24 * 60 {
        for c in 0..3 {
            let ts = start + m * 60 + c * 7;
            let status = if (m + c) % 40 == 0 { 500 } else { 200 };
            lines.push_str(&format!(
                "{{\"timestamp\": {ts}, \"http_status\": {status}, \"connection_id\": \"c{c}\", \"request_id\": \"r{ts}{c}\"}}\n"
            ));
        }
    }
    if let Some(code) = burst_code {
        // 30 events of one code in the evening, after the first third of the day.
        for i in 0..30 {
            let ts = start + 20 * 3600 + i * 20;
            lines.push_str(&format!(
                "{{\"timestamp\": {ts}, \"http_status\": 400, \"error_code\": \"{code}\", \"connection_id\": \"c1\"}}\n"
            ));
        }
    }
    std::fs::write(dir.join(name), lines).unwrap();
}

#[test]
fn state_skips_processed_inputs_and_carries_the_baseline() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let state = tmp.path().join("errscope.state");
    let out = tmp.path().join("out");
    let run = |extra: &[&str]| {
        errscope()
            .args(["analyze", "--json"])
            .arg(&logs)
            .arg("--out")
            .arg(&out)
            .arg("--state")
            .arg(&state)
            .args(extra)
            .assert()
    };
    // Night 1: a code appears (its first sighting is in the evening).
    write_day(&logs, "day1.ndjson", 0, Some("VENDOR_X"));
    run(&[]).success();
    assert!(state.is_file());
    let m1 = manifest(&out);
    assert_eq!(m1["totals"]["files"], 1);

    // Night 2: only the new file is read; VENDOR_X is not new any more.
    write_day(&logs, "day2.ndjson", 1, Some("VENDOR_X"));
    let a = run(&[]).success();
    let summary: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert!(
        summary["first_event"]
            .as_str()
            .unwrap()
            .starts_with("2024-03-02"),
        "{summary}"
    );
    let m2 = manifest(&out);
    assert_eq!(m2["totals"]["files"], 1, "{m2}");
    // The events dataset keeps both nights (incremental runs add to it).
    assert_eq!(
        row_count(&read_events(&out)) as u64,
        m1["totals"]["events"].as_u64().unwrap() + m2["totals"]["events"].as_u64().unwrap()
    );
    let skipped = m2["skipped"].to_string();
    assert!(
        skipped.contains("day1.ndjson") && skipped.contains("already processed"),
        "{skipped}"
    );
    let csv = std::fs::read_to_string(out.join("anomalies.csv")).unwrap();
    assert!(
        !csv.contains("new_code"),
        "VENDOR_X was seen the night before: {csv}"
    );
    let rates = std::fs::read_to_string(out.join("rates/all.csv")).unwrap();
    assert!(
        !rates.contains("2024-03-01T"),
        "the baseline's windows are not reported again"
    );

    // The same day alone, without the state, calls VENDOR_X new: the baseline made the difference.
    let alone = tmp.path().join("alone");
    analyze(&logs.join("day2.ndjson"), &alone, &[]).success();
    let csv = std::fs::read_to_string(alone.join("anomalies.csv")).unwrap();
    assert!(
        csv.contains("new_code") && csv.contains("VENDOR_X"),
        "{csv}"
    );

    // Night 3, nothing new: the outputs of night 2 stand.
    let before = std::fs::read(out.join("report.html")).unwrap();
    let a = run(&[]).success();
    assert!(String::from_utf8_lossy(&a.get_output().stderr).contains("nothing new"));
    assert_eq!(before, std::fs::read(out.join("report.html")).unwrap());
}

/// Debian's Chromium, when installed (`.ci/run` installs it).
fn chromium() -> Option<PathBuf> {
    [
        "/usr/bin/chromium",
        "/usr/bin/chromium-browser",
        "/usr/bin/google-chrome",
    ]
    .iter()
    .map(PathBuf::from)
    .find(|p| p.is_file())
}

#[test]
fn report_html_renders_in_headless_chromium() {
    let Some(browser) = chromium() else {
        eprintln!("SKIPPED: no chromium on this machine (apt-get install chromium); report.html not checked in a browser");
        return;
    };
    let tmp = errscope::testutil::tempdir().unwrap();
    let out = tmp.path().join("out");
    analyze_sample(&out, &[]).success();
    let url = format!("file://{}", out.join("report.html").display());
    let shot = tmp.path().join("shot.png");
    let base = |c: &mut std::process::Command| {
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!(
            "--user-data-dir={}",
            tmp.path().join("profile").display()
        ));
    };
    let mut dump = std::process::Command::new(&browser);
    base(&mut dump);
    let dom = dump.arg("--dump-dom").arg(&url).output().unwrap();
    let dom_text = String::from_utf8_lossy(&dom.stdout);
    let log = String::from_utf8_lossy(&dom.stderr);
    assert!(dom.status.success(), "chromium failed: {log}");
    assert!(
        !log.contains("Uncaught") && !log.contains(":CONSOLE"),
        "console errors: {log}"
    );
    assert_eq!(
        dom_text.matches("<svg").count(),
        4,
        "the browser parsed four charts"
    );
    assert!(dom_text.contains("conn_sf_prod"));

    let mut capture = std::process::Command::new(&browser);
    base(&mut capture);
    let r = capture
        .arg(format!("--screenshot={}", shot.display()))
        .arg("--window-size=1280,2400")
        .arg(&url)
        .output()
        .unwrap();
    assert!(
        r.status.success() && shot.is_file(),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
    let (w, h, colours) = decode_png(&shot);
    assert_eq!((w, h), (1280, 2400));
    assert!(
        colours >= 8,
        "the screenshot shows content ({colours} colours)"
    );
    if let Ok(keep) = std::env::var("ERRSCOPE_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}

/// A year of logs makes a report of the same size as a week's (issue 28): the charts keep
/// each pixel column's extremes, so a year of 5-minute windows (105,120 points a line)
/// is drawn from a few thousand points. With every point drawn, this year's SVGs were
/// megabytes and `report.html` several times that.
#[test]
fn a_year_of_logs_makes_a_report_of_a_weeks_size() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let export = tmp.path().join("export");
    generate(
        &["--records", "20000", "--days", "365", "--seed", "7"],
        &export,
    );
    let out = tmp.path().join("out");
    analyze(&export, &out, &[]).success();
    let size = |p: &Path| std::fs::metadata(p).unwrap().len();
    for chart in ["error_rate", "security"] {
        let svg = out.join("charts").join(format!("{chart}.svg"));
        assert!(size(&svg) < 400_000, "{chart}.svg: {} bytes", size(&svg));
        let (w, h, colours) = decode_png(&out.join("charts").join(format!("{chart}.png")));
        assert!(w > 1000 && h > 500 && colours > 3, "{chart}.png is drawn");
    }
    let html = out.join("report.html");
    assert!(
        size(&html) < 1_000_000,
        "report.html: {} bytes",
        size(&html)
    );
}
