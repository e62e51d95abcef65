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
    let (start, end) = (ts("start"), ts("end"));
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
    let overlaps = |r: &Row, s: &str, e: &str| r.start < us(e) && us(s) < r.end;
    for (dim, key, class, s, e) in TRUTH {
        assert!(
            found.iter().any(|r| r.dimension == *dim
                && r.key == *key
                && r.class == *class
                && overlaps(r, s, e)),
            "missed {dim}={key} ({class}) {s}..{e}; found:\n{found:#?}"
        );
        assert!(stdout.contains(key), "the terminal table names {key}");
    }
    let unexplained: Vec<&Row> = found
        .iter()
        .filter(|r| !TRUTH.iter().any(|(_, _, _, s, e)| overlaps(r, s, e)))
        .collect();
    assert!(
        unexplained.len() <= 2,
        "incidents matching nothing real: {unexplained:#?}"
    );
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
    errscope()
        .args(["analyze", "-q"])
        .arg(repo_path("sample-data"))
        .arg("--out")
        .arg(&a)
        .assert()
        .success();
    let first = std::fs::read_to_string(a.join("anomalies.csv")).unwrap();
    errscope()
        .args(["analyze", "-q"])
        .arg(repo_path("sample-data"))
        .arg("--out")
        .arg(&a)
        .assert()
        .success();
    assert_eq!(
        first,
        std::fs::read_to_string(a.join("anomalies.csv")).unwrap()
    );
    // An ingest output folder is analysed as it is.
    errscope()
        .args(["analyze", "-q"])
        .arg(&a)
        .arg("--out")
        .arg(&b)
        .assert()
        .success();
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
fn json_summary_and_rates_zero_fill() {
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
    assert_eq!(
        keys.iter().filter(|k| k.as_deref() == Some("c2")).count(),
        24,
        "c2 is zero-filled after it went silent"
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
