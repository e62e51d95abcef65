//! `errscope query`: every file of `queries/` on sample-data against its expected result
//! (`tests/queries/<name>.csv`, checked by hand against sample-data/README.md and, by
//! `query_portability.rs`, against DataFusion), the facts each one must show, ad-hoc SQL on
//! raw logs, parameters, output formats and errors.
//!
//! `ERRSCOPE_BLESS=1 cargo test --release --test cli_query` rewrites the expected files.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn queries() -> Vec<PathBuf> {
    let mut q: Vec<PathBuf> = std::fs::read_dir(repo_path("queries"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    q.sort();
    q
}

fn query(q: impl AsRef<std::ffi::OsStr>, input: &Path, extra: &[&str]) -> String {
    let a = errscope()
        .arg("query")
        .arg(q)
        .arg(input)
        .args(["--format", "csv"])
        .args(extra)
        .assert()
        .success();
    String::from_utf8(a.get_output().stdout.clone()).unwrap()
}

/// The rows of a CSV as maps from column to cell.
fn rows(csv: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let mut r = csv::Reader::from_reader(csv.as_bytes());
    let head: Vec<String> = r.headers().unwrap().iter().map(str::to_string).collect();
    r.records()
        .map(|rec| {
            head.iter()
                .cloned()
                .zip(rec.unwrap().iter().map(str::to_string))
                .collect()
        })
        .collect()
}

fn num(row: &std::collections::BTreeMap<String, String>, k: &str) -> f64 {
    row[k]
        .parse()
        .unwrap_or_else(|_| panic!("{k} = {:?}", row[k]))
}

#[test]
fn every_query_runs_on_sample_data_and_gives_its_expected_result() {
    let tmp = errscope::testutil::tempdir().unwrap();
    // An analyze output: events/ and the incidents beside them (queries/incident.sql).
    let ds = tmp.path().join("out");
    analyze(&repo_path("sample-data"), &ds, &[]).success();
    let id = first_incident_id(&ds);
    let files = queries();
    assert!(files.len() >= 8, "at least eight queries: {files:?}");
    let bless = std::env::var_os("ERRSCOPE_BLESS").is_some();
    for q in &files {
        let sql = std::fs::read_to_string(q).unwrap();
        assert!(
            sql.starts_with("-- "),
            "{q:?} opens with a comment saying what it answers"
        );
        let name = q.file_stem().unwrap().to_string_lossy().to_string();
        let id_param = format!("id={id}");
        let params: &[&str] = match name.as_str() {
            "incident" => &["-p", &id_param],
            _ => &[],
        };
        let got = query(q, &ds, params);
        assert!(!rows(&got).is_empty(), "{name} returns rows on sample-data");
        let expected = repo_path("tests/queries").join(format!("{name}.csv"));
        if bless {
            std::fs::create_dir_all(expected.parent().unwrap()).unwrap();
            std::fs::write(&expected, &got).unwrap();
        }
        let want = std::fs::read_to_string(&expected)
            .unwrap_or_else(|_| panic!("{expected:?} missing (run with ERRSCOPE_BLESS=1)"));
        assert_eq!(got, want, "{name}: result differs from {expected:?}");
        // The library travels with the binary: the built-in query of that name, run from
        // a folder with no queries/, gives the same.
        let a = errscope()
            .current_dir(tmp.path())
            .args(["query", &name])
            .arg(&ds)
            .args(["--format", "csv"])
            .args(params)
            .assert()
            .success();
        assert_eq!(
            String::from_utf8_lossy(&a.get_output().stdout),
            want,
            "{name}: the built-in query differs from queries/{name}.sql"
        );
    }
    let a = errscope().args(["query", "--list"]).assert().success();
    let list = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert_eq!(list.lines().count(), files.len(), "{list}");
    assert!(
        list.starts_with("connection_health    Connection health"),
        "{list}"
    );
    let a = errscope()
        .args(["query", "no_such_query"])
        .arg(&ds)
        .assert()
        .code(1);
    assert!(
        String::from_utf8_lossy(&a.get_output().stderr).contains("query --list"),
        "a wrong name says where the names are"
    );
}

#[test]
fn each_query_shows_what_sample_data_holds() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let ds = ingest_sample(tmp.path());
    let q = |name: &str, extra: &[&str]| {
        rows(&query(
            repo_path(&format!("queries/{name}.sql")),
            &ds,
            extra,
        ))
    };

    // The rate-limit storm's code leads; shares add up to 100 %.
    let top = q("top_error_codes", &[]);
    assert_eq!(top[0]["error_code"], "RATE_LIMIT_EXCEEDED");
    assert!(num(&top[0], "events") >= 240.0);
    let in_window = q(
        "top_error_codes",
        &[
            "--param",
            "since=2024-03-05T02:00:00Z",
            "--param",
            "until=2024-03-05T03:00:00Z",
            "--param",
            "top=1",
        ],
    );
    assert_eq!(in_window.len(), 1);
    assert_eq!(
        in_window[0]["error_code"], "AUTH_002",
        "credential stuffing hour"
    );
    assert!(num(&in_window[0], "events") >= 200.0);

    // Connection health: netsuite needs reauthorization (46 401s after its last success).
    let health = q("connection_health", &[]);
    assert_eq!(health[0]["connection_id"], "conn_netsuite_7");
    assert_eq!(num(&health[0], "failures_401_since_success"), 46.0);
    let sf = health
        .iter()
        .find(|r| r["connection_id"] == "conn_sf_prod")
        .unwrap();
    assert!(num(sf, "errors_5xx") >= 115.0);

    // Drill-down of the storm: one code, on conn_hubspot_42.
    let drill = q(
        "spike_drilldown",
        &[
            "-p",
            "since=2024-03-05T09:00:00Z",
            "-p",
            "until=2024-03-05T09:30:00Z",
            "-p",
            "connection=conn_hubspot_42",
        ],
    );
    let code = drill
        .iter()
        .find(|r| r["dimension"] == "error_code")
        .unwrap();
    assert_eq!(code["value"], "RATE_LIMIT_EXCEEDED");
    assert_eq!(num(code, "errors"), 240.0);

    // Security audit: the stuffing IP first (200 401s, 61 users), then the prober.
    let audit = q("security_audit", &["-p", "min_failures=20"]);
    assert_eq!(audit[0]["ip_address"], "203.0.113.66");
    assert_eq!(num(&audit[0], "failed_logins_401"), 200.0);
    assert!(num(&audit[0], "users") >= 54.0);
    let prober = audit
        .iter()
        .find(|r| r["ip_address"] == "198.51.100.23")
        .unwrap();
    assert_eq!(num(prober, "denied_403"), 48.0);
    assert!(num(prober, "endpoints") >= 11.0);

    // Rate-limit pressure: the storm's 240 429s on hubspot, Retry-After 60.
    let pressure = q("rate_limit_pressure", &[]);
    let storm: Vec<_> = pressure
        .iter()
        .filter(|r| r["connection_id"] == "conn_hubspot_42")
        .collect();
    assert!(storm.iter().map(|r| num(r, "status_429")).sum::<f64>() >= 240.0);
    assert!(storm.iter().any(|r| num(r, "max_retry_after_s") == 60.0));

    // Retryable + fatal = every error; daily summary covers both days and every event.
    let daily = q("daily_summary", &[]);
    assert_eq!(daily.len(), 2);
    assert_eq!(daily[0]["day"], "2024-03-04");
    assert_eq!(
        daily.iter().map(|r| num(r, "requests")).sum::<f64>(),
        3853.0
    );
    let errors: f64 = daily.iter().map(|r| num(r, "errors")).sum();
    let kinds = q("retryable_vs_fatal", &[]);
    assert_eq!(kinds.iter().map(|r| num(r, "errors")).sum::<f64>(), errors);
    assert!(kinds
        .iter()
        .any(|r| r["kind"] == "retryable" && r["category"] == "rate_limit"));

    // Downstream errors: the Salesforce outage.
    let down = q("downstream_errors", &[]);
    assert_eq!(down[0]["connection_id"], "conn_sf_prod");
    assert!(down[0]["example_downstream"].contains('{'));

    // Hourly errors of the outage connection peak at 14:00 UTC on 03-04.
    let hourly = q("hourly_errors", &["-p", "connection=conn_sf_prod"]);
    let peak = hourly
        .iter()
        .max_by(|a, b| num(a, "errors_5xx").total_cmp(&num(b, "errors_5xx")))
        .unwrap();
    assert_eq!(peak["hour_start"], "2024-03-04T14:00:00.000000Z");
}

#[test]
fn ad_hoc_sql_on_raw_logs_formats_and_errors() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let sample = repo_path("sample-data");
    // The example of the README, on raw logs ingested on the fly.
    let out = query(
        "SELECT connection_id, count(*) AS n FROM events WHERE status >= 500 GROUP BY connection_id ORDER BY n DESC LIMIT 1",
        &sample,
        &[],
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["connection_id,n", "conn_sf_prod,119"]
    );

    // Formula-like values are neutralised in CSV, raw in JSON.
    let out = query(
        "SELECT user_agent FROM events WHERE user_agent LIKE '=%'",
        &sample,
        &[],
    );
    let cell = out.lines().nth(1).unwrap();
    assert!(cell.starts_with("'=") || cell.starts_with("\"'="), "{out}");
    let a = errscope()
        .args([
            "query",
            "SELECT user_agent FROM events WHERE user_agent LIKE :p",
            "--format",
            "ndjson",
            "-p",
            "p:string==%",
        ])
        .arg(&sample)
        .assert()
        .success();
    let v: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert!(v["user_agent"].as_str().unwrap().starts_with('='));

    // An analyze output folder registers anomalies and rates too; parquet output.
    let analyzed = tmp.path().join("analyzed");
    analyze(&sample, &analyzed, &[]).success();
    let out = query(
        "SELECT a.detector, a.key, r.errors FROM anomalies a JOIN rates_connection_id r ON a.key = r.connection_id AND a.start_time = r.window_start WHERE a.detector = 'server_errors'",
        &analyzed,
        &[],
    );
    assert!(out.contains("server_errors,conn_sf_prod,"), "{out}");
    let pq = tmp.path().join("r.parquet");
    errscope()
        .args(["query", "SELECT * FROM rates_error_code"])
        .arg(&analyzed)
        .arg("--output")
        .arg(&pq)
        .assert()
        .success();
    let f = std::fs::File::open(&pq).unwrap();
    let n: usize = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(|b| b.unwrap().num_rows())
        .sum();
    assert!(n > 100);

    // Errors: a missing parameter is named; SQL errors name the file and show Polars' message.
    let a = errscope()
        .args(["query", "SELECT * FROM events WHERE user_id = :who"])
        .arg(&analyzed)
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        err.contains(":who") && err.contains("--param who="),
        "{err}"
    );
    let bad = tmp.path().join("bad.sql");
    std::fs::write(&bad, "-- broken\nSELECT nope FROM events").unwrap();
    let a = errscope()
        .arg("query")
        .arg(&bad)
        .arg(&analyzed)
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(err.contains("bad.sql") && err.contains("nope"), "{err}");
    errscope()
        .args(["query", "SELECT 1", "-p", "x:int=abc"])
        .arg(&analyzed)
        .assert()
        .code(2);
}

/// Time as users of DuckDB and Postgres write it: RFC 3339 literals (with `Z` or an
/// offset), `TIMESTAMP '…'`, `now()`/`current_timestamp` with `INTERVAL` arithmetic,
/// `date_trunc`, and relative `--param` times; each form selects what the epoch
/// microseconds select.
#[test]
fn time_literals_now_intervals_and_date_trunc() {
    let dir = tempfile::tempdir().unwrap();
    let ds = ingest_sample(dir.path());
    let count = |sql: &str, extra: &[&str]| -> String {
        let out = query(sql, &ds, extra);
        out.lines().nth(1).unwrap_or_default().to_string()
    };
    // 2024-03-05T09:00:00Z.
    let want = count(
        "SELECT count(*) AS n FROM events WHERE CAST(ts AS BIGINT) >= 1709629200000000",
        &[],
    );
    assert!(want.parse::<u64>().unwrap() > 100, "{want}");
    for form in [
        "'2024-03-05T09:00:00Z'",
        "'2024-03-05T10:00:00+01:00'",
        "'2024-03-05T09:00:00.000000Z'",
        "TIMESTAMP '2024-03-05 09:00:00'",
        "TIMESTAMP '2024-03-05T09:00:00Z'",
        "CAST('2024-03-05T09:00:00Z' AS TIMESTAMP)",
        "'2024-03-04T09:00:00Z' + INTERVAL '1 day'",
        "'2024-03-05T10:30:00Z' - INTERVAL '90' MINUTE",
    ] {
        let got = count(
            &format!("SELECT count(*) AS n FROM events WHERE ts >= {form}"),
            &[],
        );
        assert_eq!(got, want, "ts >= {form}");
    }
    let all = count("SELECT count(*) AS n FROM events", &[]);
    // sample-data is from 2024: nothing in the last hour, everything in the last 100 years.
    assert_eq!(
        count(
            "SELECT count(*) AS n FROM events WHERE ts >= now() - INTERVAL '1 hour'",
            &[]
        ),
        "0"
    );
    assert_eq!(
        count(
            "SELECT count(*) AS n FROM events WHERE ts > current_timestamp - INTERVAL '36500 days'",
            &[]
        ),
        all
    );
    // Relative parameters, typed or not.
    let since = "SELECT count(*) AS n FROM events WHERE CAST(ts AS BIGINT) >= :since";
    assert_eq!(count(since, &["-p", "since=-24h"]), "0");
    assert_eq!(count(since, &["-p", "since:time=-36500d"]), all);
    assert_eq!(count(since, &["-p", "since=now"]), "0");
    // date_trunc: the hour's start, as a timestamp (RFC 3339 UTC in CSV), the same groups
    // as epoch arithmetic.
    let hours = query(
        "SELECT date_trunc('hour', ts) AS hour, count(*) AS n FROM events \
         GROUP BY date_trunc('hour', ts) ORDER BY hour",
        &ds,
        &[],
    );
    let epoch = query(
        "SELECT CAST(ts AS BIGINT) - CAST(ts AS BIGINT) % 3600000000 AS hour, count(*) AS n \
         FROM events GROUP BY 1 ORDER BY hour",
        &ds,
        &[],
    );
    assert_eq!(hours.lines().count(), epoch.lines().count());
    let first = hours.lines().nth(1).unwrap();
    assert!(first.starts_with("2024-03-04T00:00:00.000000Z,"), "{first}");
    let counts = |s: &str| -> Vec<String> {
        s.lines()
            .skip(1)
            .map(|l| l.rsplit(',').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(counts(&hours), counts(&epoch));
    let weeks = query(
        "SELECT date_trunc('week', ts) AS week, count(*) AS n FROM events GROUP BY 1",
        &ds,
        &[],
    );
    // 2024-03-04 is a Monday: weeks start on Mondays, as in DuckDB and Postgres.
    assert!(weeks.contains("2024-03-04T00:00:00.000000Z,"), "{weeks}");
    let bad = errscope()
        .args(["query", "SELECT date_trunc('fortnight', ts) FROM events"])
        .arg(&ds)
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&bad.get_output().stderr).into_owned();
    assert!(err.contains("unknown unit 'fortnight'"), "{err}");
}

/// Issue 27: an incident's count of distinct users is the one `security_audit.sql` gives
/// for its address (the burst's, with the peak within one window said apart), and the
/// report's per-code table shows each code's share of errors and of all requests, not an
/// error ratio that is 100 % on every row.
#[test]
fn one_count_of_users_and_codes_as_shares() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let out = tmp.path().join("out");
    analyze(&repo_path("sample-data"), &out, &[]).success();
    let anomalies = rows(&std::fs::read_to_string(out.join("anomalies.csv")).unwrap());
    let stuffing = anomalies
        .iter()
        .find(|r| r["detector"] == "credential_stuffing" && r["dimension"] == "ip_address")
        .expect("sample-data has credential stuffing");
    let text = &stuffing["explanation"];
    let users: u64 = text
        .split(" distinct users")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{text}"));
    let audit = rows(&query("security_audit", &out, &[]));
    let row = audit
        .iter()
        .find(|r| r["ip_address"] == stuffing["key"])
        .unwrap();
    assert_eq!(users as f64, num(row, "users"), "{text}");
    assert!(
        text.contains("within 10 min"),
        "the window's peak is said apart: {text}"
    );

    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let table = html
        .split("<h3>error_code")
        .nth(1)
        .and_then(|t| t.split("</table>").next())
        .unwrap();
    assert!(table.contains("<th>share of errors</th><th>of all requests</th>"));
    let all = rows(&std::fs::read_to_string(out.join("rates/all.csv")).unwrap());
    let (requests, errors): (f64, f64) = all.iter().fold((0.0, 0.0), |(r, e), row| {
        (r + num(row, "requests"), e + num(row, "errors"))
    });
    let codes = rows(&std::fs::read_to_string(out.join("rates/error_code.csv")).unwrap());
    let top: f64 = codes
        .iter()
        .filter(|r| r["error_code"] == "RATE_LIMIT_EXCEEDED")
        .map(|r| num(r, "errors"))
        .sum();
    let share = format!("{:.2}%", 100.0 * top / errors);
    let of_all = format!("{:.2}%", 100.0 * top / requests);
    let row = table
        .split("<tr>")
        .find(|r| r.contains("RATE_LIMIT_EXCEEDED"))
        .unwrap();
    assert!(
        row.contains(&share) && row.contains(&of_all),
        "{share} {of_all}: {row}"
    );
    assert!(!table.contains(">100.00%<"), "no 100 % on every row");
}
