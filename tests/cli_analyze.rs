//! `errscope analyze` end to end on sample-data: the documented incidents are found on
//! their own dimension and key, with the right class and time, and little else.

mod common;

use std::fs::File;
use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::RecordBatch;
use common::*;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

fn read_parquet(p: &Path) -> Vec<RecordBatch> {
    let f = File::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[derive(Debug)]
struct Row {
    class: String,
    #[allow(dead_code)] // shown by the Debug output of a failing assertion
    detector: String,
    dimension: String,
    key: String,
    start: i64,
    end: i64,
    explanation: String,
}

fn incidents(out: &Path) -> Vec<Row> {
    let b = read_parquet(&out.join("anomalies.parquet"));
    let col = |n: &str| {
        strings(&b, n)
            .into_iter()
            .map(Option::unwrap)
            .collect::<Vec<_>>()
    };
    let ts = |n: &str| -> Vec<i64> {
        b.iter()
            .flat_map(|x| {
                x.column_by_name(n)
                    .unwrap()
                    .as_primitive::<TimestampMicrosecondType>()
                    .values()
                    .to_vec()
            })
            .collect()
    };
    let (class, det, dim, key, expl) = (
        col("class"),
        col("detector"),
        col("dimension"),
        col("key"),
        col("explanation"),
    );
    let (start, end) = (ts("start_time"), ts("end_time"));
    (0..class.len())
        .map(|i| Row {
            class: class[i].clone(),
            detector: det[i].clone(),
            dimension: dim[i].clone(),
            key: key[i].clone(),
            start: start[i],
            end: end[i],
            explanation: expl[i].clone(),
        })
        .collect()
}

fn us(s: &str) -> i64 {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .timestamp_micros()
}

/// An injected incident: dimension, key, class, start and end (µs).
type Truth<'a> = (&'a str, &'a str, &'a str, i64, i64);

/// Every true incident is flagged on its own dimension and key, with its class, overlapping
/// its time; at most two incidents overlap no true incident at all.
fn assert_found(found: &[Row], truth: &[Truth]) {
    let overlaps = |r: &Row, s: i64, e: i64| r.start < e && s < r.end;
    for (dim, key, class, s, e) in truth {
        assert!(
            found.iter().any(|r| r.dimension == *dim
                && r.key == *key
                && r.class == *class
                && overlaps(r, *s, *e)),
            "missed {dim}={key} ({class}); found:\n{found:#?}"
        );
    }
    let unexplained: Vec<&Row> = found
        .iter()
        .filter(|r| !truth.iter().any(|(_, _, _, s, e)| overlaps(r, *s, *e)))
        .collect();
    assert!(
        unexplained.len() <= 2,
        "incidents matching nothing real: {unexplained:#?}"
    );
}

/// The incidents of sample-data/README.md: (dimension, key, class, start, end).
const TRUTH: &[(&str, &str, &str, &str, &str)] = &[
    (
        "ip_address",
        "203.0.113.66",
        "security",
        "2024-03-05T02:10:00Z",
        "2024-03-05T02:26:00Z",
    ),
    (
        "connection_id",
        "conn_sf_prod",
        "critical",
        "2024-03-04T14:00:00Z",
        "2024-03-04T14:41:00Z",
    ),
    (
        "connection_id",
        "conn_hubspot_42",
        "warning",
        "2024-03-05T09:00:00Z",
        "2024-03-05T09:31:00Z",
    ),
    (
        "error_code",
        "AUTH_CRITICAL",
        "critical",
        "2024-03-05T16:05:00Z",
        "2024-03-05T16:12:00Z",
    ),
    (
        "error_code",
        "SYSTEM_FAILURE",
        "critical",
        "2024-03-05T16:05:00Z",
        "2024-03-05T16:12:00Z",
    ),
    (
        "connection_id",
        "conn_netsuite_7",
        "warning",
        "2024-03-05T18:00:00Z",
        "2024-03-06T00:00:00Z",
    ),
    (
        "user_id",
        "u_globex_mallory",
        "security",
        "2024-03-04T22:00:00Z",
        "2024-03-04T22:11:00Z",
    ),
];

#[test]
fn sample_data_incidents_are_found_and_little_else() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let out = tmp.path().join("out");
    let a = errscope()
        .args(["analyze"])
        .arg(repo_path("sample-data"))
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    let found = incidents(&out);
    let truth: Vec<Truth> = TRUTH
        .iter()
        .map(|(d, k, c, s, e)| (*d, *k, *c, us(s), us(e)))
        .collect();
    assert_found(&found, &truth);
    for (_, key, ..) in TRUTH {
        assert!(stdout.contains(key), "the terminal table names {key}");
    }
    assert!(found.iter().all(|r| !r.explanation.is_empty()));

    // The contract's files are all there.
    for f in [
        "anomalies.parquet",
        "anomalies.csv",
        "summary.json",
        "manifest.json",
        "quarantine.ndjson",
    ] {
        assert!(out.join(f).is_file(), "{f}");
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["incidents"].as_u64().unwrap() as usize, found.len());
    for dim in [
        "all",
        "error_code",
        "connection_id",
        "ip_address",
        "organization_id",
        "endpoint",
        "category",
        "class",
        "status_class",
    ] {
        let rates = read_parquet(&out.join(format!("rates/{dim}.parquet")));
        assert!(row_count(&rates) > 0, "{dim}");
        assert!(out.join(format!("rates/{dim}.csv")).is_file());
    }
    // Formula-like input never reaches a CSV cell raw.
    for f in files_under(&out) {
        if f.extension().is_some_and(|e| e == "csv") {
            let text = std::fs::read_to_string(out.join(&f)).unwrap();
            assert!(
                !text.contains(",=HYPERLINK") && !text.starts_with("=HYPERLINK"),
                "{f:?}"
            );
        }
    }
}

#[test]
fn reruns_and_dataset_inputs_give_identical_anomalies() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    analyze(&repo_path("sample-data"), &a, &[]).success();
    let first = std::fs::read_to_string(a.join("anomalies.csv")).unwrap();
    analyze(&repo_path("sample-data"), &a, &[]).success();
    assert_eq!(
        first,
        std::fs::read_to_string(a.join("anomalies.csv")).unwrap()
    );
    // An ingest output folder is analysed as it is.
    analyze(&a, &b, &[]).success();
    assert_eq!(
        first,
        std::fs::read_to_string(b.join("anomalies.csv")).unwrap()
    );
    assert_eq!(
        read_parquet(&a.join("rates/connection_id.parquet")),
        read_parquet(&b.join("rates/connection_id.parquet"))
    );
}

#[test]
fn json_summary_and_rates_rows() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let out = tmp.path().join("out");
    // Two connections; c2 goes silent after the first window.
    let mut lines = String::new();
    for i in 0..24 {
        let ts = 1_709_510_400 + i * 300;
        lines.push_str(&format!(
            "{{\"ts\": {ts}, \"status\": 200, \"connection_id\": \"c1\"}}\n"
        ));
        if i == 0 {
            lines.push_str(&format!(
                "{{\"ts\": {ts}, \"status\": 500, \"connection_id\": \"c2\"}}\n"
            ));
        }
    }
    let a = errscope()
        .args(["analyze", "-", "--json", "--out"])
        .arg(&out)
        .write_stdin(lines)
        .assert()
        .success();
    let summary: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(summary["events"], 25);
    assert_eq!(summary["errors"], 1);
    let rates = read_parquet(&out.join("rates/connection_id.parquet"));
    let keys = strings(&rates, "connection_id");
    // c2 went silent after its first window: a row for that window only (the gaps are
    // zeros), where it was zero-filled to the end of the data.
    assert_eq!(
        keys.iter().filter(|k| k.as_deref() == Some("c2")).count(),
        1,
        "a window without events has no row"
    );
    assert_eq!(
        keys.iter().filter(|k| k.as_deref() == Some("c1")).count(),
        24,
        "c1 has a row per window with events"
    );
    let csv = std::fs::read_to_string(out.join("rates/connection_id.csv")).unwrap();
    assert!(
        csv.starts_with("window_start,window_end,connection_id,requests,errors"),
        "{csv}"
    );
    assert!(
        csv.contains("2024-03-04T00:00:00.000000Z"),
        "UTC ISO timestamps"
    );
}

/// A small deterministic generator (xorshift), so the test needs no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn unit(&mut self) -> f64 {
        (self.next() % 1_000_000) as f64 / 1_000_000.0
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

#[test]
fn three_days_with_injected_incidents_are_found_and_normal_days_are_quiet() {
    const DAY0: i64 = 1_709_251_200; // 2024-03-01T00:00:00Z
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut lines: Vec<(i64, String)> = Vec::new();
    let conns: Vec<String> = (0..10).map(|i| format!("conn_{i}")).collect();
    let endpoints = ["/v1/orders", "/v1/items", "/v1/customers", "/v1/invoices"];
    let rec = |ts: i64,
               status: u16,
               conn: &str,
               org: &str,
               user: &str,
               ip: &str,
               ep: &str,
               code: Option<&str>| {
        let code = code
            .map(|c| format!(", \"error_code\": \"{c}\""))
            .unwrap_or_default();
        (
            ts,
            format!(
                "{{\"timestamp\": {ts}, \"http_status\": {status}, \"connection_id\": \"{conn}\", \"organization_id\": \"{org}\", \"user_id\": \"{user}\", \"ip_address\": \"{ip}\", \"endpoint\": \"{ep}\", \"request_id\": \"r{ts}{status}\"{code}}}"
            ),
        )
    };
    // Normal traffic: a daily curve, 2 % errors of the usual kinds.
    for minute in 0..3 * 24 * 60 {
        let hour = (minute / 60) % 24;
        let curve = 0.25 + 0.75 * (-((hour as f64 - 14.0).powi(2)) / 18.0).exp();
        for (ci, conn) in conns.iter().enumerate() {
            let n = (1.5 * curve + rng.unit()) as u32;
            for _ in 0..n {
                let ts = DAY0 + minute * 60 + (rng.next() % 60) as i64;
                let org = format!("org_{}", ci % 4);
                let user = format!("u_{}_{}", ci, rng.next() % 6);
                let ip = format!("10.0.{ci}.{}", rng.next() % 4);
                let ep = rng.pick(&endpoints);
                let r = rng.unit();
                let (status, code) = if r < 0.008 {
                    (400, Some("VAL_001"))
                } else if r < 0.012 {
                    (401, Some("AUTH_001"))
                } else if r < 0.015 {
                    (404, None)
                } else if r < 0.017 {
                    (429, Some("RATE_001"))
                } else if r < 0.019 {
                    (500, None)
                } else {
                    (200, None)
                };
                if conn == "conn_8" && ts >= DAY0 + 2 * 86_400 + 15 * 3600 {
                    continue; // replaced by the reauthorization incident below
                }
                lines.push(rec(ts, status, conn, &org, &user, &ip, ep, code));
            }
        }
    }
    let at = |day: i64, h: i64, m: i64| DAY0 + day * 86_400 + h * 3600 + m * 60;
    // 1. Credential stuffing from one IP across many users.
    for i in 0..150 {
        let user = format!("victim_{}", rng.next() % 60);
        lines.push(rec(
            at(1, 3, 0) + i * 6,
            401,
            "conn_1",
            "org_1",
            &user,
            "198.18.0.7",
            "/v1/token",
            Some("AUTH_002"),
        ));
    }
    // 2. Outage: conn_3 answers 503 to most calls.
    for i in 0..270 {
        let status = if i % 10 < 7 { 503 } else { 200 };
        lines.push(rec(
            at(2, 10, 0) + i * 10,
            status,
            "conn_3",
            "org_3",
            "u_3_1",
            "10.0.3.1",
            "/v1/orders",
            None,
        ));
    }
    // 3. Critical errors.
    for i in 0..4 {
        lines.push(rec(
            at(0, 20, 0) + i * 90,
            500,
            "conn_5",
            "org_1",
            "u_5_1",
            "10.0.5.1",
            "/v1/items",
            Some("SYSTEM_FAILURE"),
        ));
    }
    // 4. conn_8 loses its credentials: every call fails with 401 from day 3 15:00.
    for i in 0..60 {
        lines.push(rec(
            at(2, 15, 0) + i * 120,
            401,
            "conn_8",
            "org_0",
            "u_8_1",
            "10.0.8.1",
            "/v1/orders",
            Some("AUTH_003"),
        ));
    }
    // 5. One user probing permissions across endpoints.
    for i in 0..40 {
        let ep = format!("/v1/admin/{}", i % 8);
        lines.push(rec(
            at(1, 13, 0) + i * 15,
            403,
            "conn_2",
            "org_2",
            "u_evil",
            "203.0.113.9",
            &ep,
            Some("AUTH_004"),
        ));
    }
    // 6. Rate-limit storm on conn_6.
    for i in 0..300 {
        lines.push(rec(
            at(1, 18, 0) + i * 6,
            429,
            "conn_6",
            "org_2",
            "u_6_1",
            "10.0.6.1",
            "/v1/items",
            Some("RATE_LIMIT_EXCEEDED"),
        ));
    }
    lines.sort_by_key(|l| l.0);
    let body: String = lines.iter().map(|l| format!("{}\n", l.1)).collect();

    let tmp = errscope::testutil::tempdir().unwrap();
    let input = tmp.path().join("three_days.ndjson");
    std::fs::write(&input, body).unwrap();
    let out = tmp.path().join("out");
    analyze(&input, &out, &[]).success();
    let found = incidents(&out);
    let truth: &[(&str, &str, &str, i64, i64)] = &[
        (
            "ip_address",
            "198.18.0.7",
            "security",
            at(1, 3, 0),
            at(1, 3, 16),
        ),
        (
            "connection_id",
            "conn_3",
            "critical",
            at(2, 10, 0),
            at(2, 10, 46),
        ),
        (
            "error_code",
            "SYSTEM_FAILURE",
            "critical",
            at(0, 20, 0),
            at(0, 20, 6),
        ),
        (
            "connection_id",
            "conn_8",
            "warning",
            at(2, 15, 0),
            at(2, 17, 0),
        ),
        ("user_id", "u_evil", "security", at(1, 13, 0), at(1, 13, 11)),
        (
            "connection_id",
            "conn_6",
            "warning",
            at(1, 18, 0),
            at(1, 18, 31),
        ),
    ];
    let truth: Vec<Truth> = truth
        .iter()
        .map(|(d, k, c, s, e)| (*d, *k, *c, s * 1_000_000, e * 1_000_000))
        .collect();
    assert_found(&found, &truth);
}

#[test]
fn timings_name_every_stage_with_its_throughput() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let out = analyze(&repo_path("sample-data"), tmp.path(), &["--timings"]).success();
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    for stage in [
        "ingest (read, decode, fold, write events)",
        "analysis, rate tables, charts",
        "report page and summary",
        "total",
    ] {
        let line = err
            .lines()
            .find(|l| l.starts_with(stage))
            .unwrap_or_else(|| panic!("no {stage:?} line in {err}"));
        // wall seconds, share, MB/s, events/s: four numbers after the name.
        let numbers: Vec<f64> = line[stage.len()..]
            .split_whitespace()
            .map(|v| v.trim_end_matches('%').parse().unwrap())
            .collect();
        assert_eq!(numbers.len(), 4, "{line}");
    }
    // Ingest's parts run at once: each with its thread CPU time, and shares adding up.
    let mut share = 0.0;
    for part in [
        "read and split records",
        "decode, map, redact",
        "fold for analysis",
        "reorder, quarantine",
        "events Parquet writer",
    ] {
        let line = err
            .lines()
            .find(|l| l.trim_start().starts_with(part))
            .unwrap_or_else(|| panic!("no {part:?} line in {err}"));
        let numbers: Vec<f64> = line.trim_start()[part.len()..]
            .split_whitespace()
            .map(|v| v.trim_end_matches('%').parse().unwrap())
            .collect();
        assert_eq!(numbers.len(), 4, "{line}");
        share += numbers[1];
    }
    assert!(
        (share - 100.0).abs() < 0.5,
        "shares add up to {share}: {err}"
    );
}

/// Issue 27, scripting: a cron job that fails says why even with `-q` (one line per
/// incident on stderr), and `--json` carries the incidents with RFC 3339 times.
#[test]
fn a_failing_quiet_run_names_its_incidents_and_json_lists_them() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let a = errscope()
        .args(["analyze", "-q", "--fail-on", "critical"])
        .arg(repo_path("sample-data"))
        .arg("--out")
        .arg(tmp.path().join("q"))
        .assert()
        .code(5);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("errscope: incident: [critical"))
        .collect();
    assert!(!lines.is_empty(), "{err}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("server_errors connection_id=conn_sf_prod")),
        "{err}"
    );
    assert_eq!(
        err.lines().count(),
        lines.len(),
        "nothing else with -q: {err}"
    );

    let a = errscope()
        .args(["analyze", "--json"])
        .arg(repo_path("sample-data"))
        .arg("--out")
        .arg(tmp.path().join("j"))
        .assert()
        .success();
    let json: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    let list = json["incident_list"].as_array().unwrap();
    assert_eq!(list.len() as u64, json["incidents"].as_u64().unwrap());
    let first = &list[0];
    for field in [
        "class",
        "severity",
        "detector",
        "dimension",
        "key",
        "explanation",
        "action",
    ] {
        assert!(first[field].is_string(), "{field}: {first}");
    }
    let start = first["start"].as_str().unwrap();
    assert!(
        start.len() == 20 && start.ends_with('Z') && start.as_bytes()[10] == b'T',
        "RFC 3339 UTC: {start}"
    );
}

/// Issue 27, nightly runs: files read before are one line, not one line each; an export
/// whose records were all read before exits 6 naming duplicates as the cause.
#[test]
fn nightly_runs_summarise_skips_and_name_duplicates() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let text = std::fs::read_to_string(repo_path("sample-data/nexla_api_errors.ndjson")).unwrap();
    for i in 0..5 {
        let part: String = text
            .lines()
            .skip(i * 100)
            .take(100)
            .map(|l| format!("{l}\n"))
            .collect();
        std::fs::write(logs.join(format!("part-{i}.ndjson")), part).unwrap();
    }
    let state = tmp.path().join("nightly.state");
    let run = |out: &str| {
        errscope()
            .args(["analyze"])
            .arg(&logs)
            .arg("--state")
            .arg(&state)
            .arg("--out")
            .arg(tmp.path().join(out))
            .assert()
    };
    run("o1").success();
    // Tonight: one new file, whose records are last night's, in another order.
    let again: String = text
        .lines()
        .skip(100)
        .take(100)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(logs.join("part-late.ndjson"), again).unwrap();
    let a = run("o2").code(6);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(
        err.contains("skipped 5 file(s) already processed"),
        "one line for the files read before: {err}"
    );
    assert!(!err.contains("part-0.ndjson: already processed"), "{err}");
    assert!(err.contains("exact duplicate"), "the cause is named: {err}");
}

/// Issue 27, dashboards: besides a file per dimension (each with its own key column), one
/// long table `rates/long.parquet` (`dimension, key, window_start, ...`) holds every
/// dimension's rows as they are, for one Grafana or Superset panel to filter; `query`
/// registers it as `rates_long`.
#[test]
fn one_long_rates_table_holds_every_dimension() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let out = tmp.path().join("out");
    analyze(&repo_path("sample-data"), &out, &[]).success();
    let long = read_parquet(&out.join("rates/long.parquet"));
    let schema = long[0].schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(
        &names[..4],
        ["dimension", "key", "window_start", "window_end"]
    );
    let dims = strings(&long, "dimension");
    for d in [
        "all",
        "error_code",
        "connection_id",
        "ip_address",
        "status_class",
    ] {
        let per = read_parquet(&out.join(format!("rates/{d}.parquet")));
        assert_eq!(
            dims.iter().filter(|x| x.as_deref() == Some(d)).count(),
            row_count(&per),
            "{d}: the long table has the dimension's rows"
        );
    }
    let a = errscope()
        .args([
            "query",
            "select count(*) n from rates_long where dimension = 'connection_id' and key = 'conn_sf_prod'",
            "--format",
            "csv",
        ])
        .arg(&out)
        .assert()
        .success();
    let n: usize = String::from_utf8_lossy(&a.get_output().stdout)
        .lines()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(n > 0);
}

/// Issue 27, nightly runs: a run without data (exit 6) never replaces the last good
/// results in the same folder: every file stays byte for byte, and the run's manifest and
/// quarantine go to `last-no-data-run/`; the next run with data replaces the results
/// whole (nothing of the older run left beside it) and removes that folder.
#[test]
fn a_run_without_data_leaves_the_last_good_results() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let out = tmp.path().join("out");
    analyze(&repo_path("sample-data"), &out, &[]).success();
    let good = snapshot(&out);
    assert!(good.iter().any(|(p, _)| p.starts_with("events")));
    // Every record quarantined: no data.
    let bad = tmp.path().join("bad.ndjson");
    std::fs::write(&bad, "{\"no\": \"timestamp\"}\nnot json\n").unwrap();
    let a = analyze(&bad, &out, &[]).code(6);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(err.contains("were left as they were"), "{err}");
    let now: Vec<_> = snapshot(&out)
        .into_iter()
        .filter(|(p, _)| !p.starts_with("last-no-data-run"))
        .collect();
    assert!(now == good, "the good results changed");
    let q = std::fs::read_to_string(out.join("last-no-data-run/quarantine.ndjson")).unwrap();
    assert_eq!(q.lines().count(), 2, "the run's quarantine is kept: {q}");
    assert!(out.join("last-no-data-run/manifest.json").is_file());
    let files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !files.iter().any(|f| f.starts_with('.')),
        "no staging left: {files:?}"
    );
    // A run with data (one file, no quarantine) replaces the results whole.
    let one = repo_path("sample-data/nexla_api_errors.ndjson");
    analyze(&one, &out, &[]).success();
    assert!(!out.join("last-no-data-run").exists());
    let m = manifest(&out);
    assert_eq!(m["totals"]["files"], 1, "{m}");
    let days = std::fs::read_dir(out.join("events")).unwrap().count();
    assert!(days >= 1);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let events = summary["events"].as_u64().unwrap();
    let in_events = row_count(&read_events(&out)) as u64;
    assert!(in_events >= events && events > 0, "{in_events} {events}");
}

/// Issue 27, dashboards: with `--state`, each nightly run into the same folder adds its
/// events to `events/` (under part names of its own) instead of replacing them, so the
/// dataset keeps the history; a night with nothing new adds nothing.
#[test]
fn incremental_runs_add_to_the_events_dataset() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let (logs, out) = (tmp.path().join("logs"), tmp.path().join("out"));
    std::fs::create_dir(&logs).unwrap();
    let state = tmp.path().join("nightly.state");
    // One night: `file` (if any) joins the logs, then the nightly run.
    let night = |file: Option<&str>| {
        if let Some(file) = file {
            std::fs::copy(repo_path("sample-data").join(file), logs.join(file)).unwrap();
        }
        errscope()
            .args(["analyze", "-q"])
            .arg(&logs)
            .arg("--state")
            .arg(&state)
            .arg("--out")
            .arg(&out)
            .assert()
            .success();
        row_count(&read_events(&out))
    };
    let first = night(Some("nexla_api_errors.ndjson"));
    assert!(first > 100);
    let second = night(Some("makini_connections.ndjson.gz"));
    // The second night's events alone, for comparison.
    let alone = tmp.path().join("alone");
    analyze(
        &repo_path("sample-data/makini_connections.ndjson.gz"),
        &alone,
        &[],
    )
    .success();
    assert_eq!(second, first + row_count(&read_events(&alone)));
    let parts = files_under(&out.join("events"));
    assert!(
        parts
            .iter()
            .any(|p| p.file_name().unwrap().to_string_lossy().len() > "part-00000.parquet".len()),
        "the second night's parts have names of their own: {parts:?}"
    );
    // Nothing new: nothing added.
    assert_eq!(night(None), second);
    assert_eq!(files_under(&out.join("events")), parts);
}

/// Re-analysing an output folder's own events into it (new settings, the same data)
/// rewrites the results and leaves the events dataset, the run's input, where it is.
#[test]
fn reanalysing_a_folder_in_place_keeps_its_events() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let out = tmp.path().join("out");
    analyze(&repo_path("sample-data"), &out, &[]).success();
    let events = files_under(&out.join("events"));
    let manifest_before = std::fs::read(out.join("manifest.json")).unwrap();
    assert!(!events.is_empty());
    analyze(&out, &out, &["--since", "2024-03-05T00:00:00Z"]).success();
    assert_eq!(files_under(&out.join("events")), events);
    assert_eq!(
        std::fs::read(out.join("manifest.json")).unwrap(),
        manifest_before
    );
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert!(
        summary["first_event"]
            .as_str()
            .unwrap()
            .starts_with("2024-03-05"),
        "{summary}"
    );
}

/// The page and the summary a script waits for are written after every other output:
/// on a month of a fleet's traffic the rate tables take longer than the page (before,
/// `summary.json` appeared while 7 or 8 rate files were still being written).
#[test]
fn the_page_and_summary_come_last() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let (logs, out) = (tmp.path().join("logs"), tmp.path().join("out"));
    errscope()
        .args([
            "generate",
            "--records",
            "300000",
            "--days",
            "30",
            "--high-cardinality",
        ])
        .args(["--seed", "3", "--out"])
        .arg(&logs)
        .assert()
        .success();
    analyze(&logs, &out, &[]).success();
    let modified = |p: &std::path::Path| std::fs::metadata(p).unwrap().modified().unwrap();
    let first_of_last = modified(&out.join("report.html")).min(modified(&out.join("summary.json")));
    let others: Vec<_> = files_under(&out)
        .into_iter()
        .filter(|p| !p.ends_with("report.html") && !p.ends_with("summary.json"))
        .collect();
    assert!(others.iter().any(|p| p.starts_with("rates")));
    assert!(others.iter().any(|p| p.starts_with("charts")));
    for p in others {
        let m = modified(&out.join(&p));
        assert!(m <= first_of_last, "{} after the page", p.display());
    }
}
