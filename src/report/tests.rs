//! Every reporter on one small fixed analysis result: two hours of three connections with
//! a credential-stuffing incident and a server-error incident, hand-made.

use std::collections::BTreeMap;

use arrow_array::cast::AsArray;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::chart;
use super::html::InputsView;
use crate::analyze::config::AnalyzeConfig;
use crate::analyze::detect::testing::{tables, STEP, T0};
use crate::analyze::detect::{Focus, Severity};
use crate::analyze::incident::{Contributor, Incident};
use crate::analyze::tables::{Counts, DimTable, KeySeries, Tables};
use crate::analyze::{Analysis, DetectorId, Dimension, IncidentClass, Summary};

const N: usize = 24; // two hours of 5-minute windows

fn series(key: &str, f: impl Fn(usize) -> Counts) -> KeySeries {
    KeySeries {
        key: key.into(),
        counts: (0..N).map(f).collect(),
    }
}

fn ok(requests: u32) -> Counts {
    Counts {
        requests,
        ..Default::default()
    }
}

fn fixture_tables() -> Tables {
    let auth = |i: usize| {
        let n = if (6..9).contains(&i) { 40 } else { 0 };
        Counts {
            requests: n,
            errors: n,
            s4xx: n,
            s401: n,
            ..Default::default()
        }
    };
    let outage = |i: usize| {
        let e = if (12..16).contains(&i) { 15 } else { 1 };
        Counts {
            requests: 20,
            errors: e,
            s5xx: e,
            ..Default::default()
        }
    };
    let all = |i: usize| {
        let mut c = ok(30);
        c.add(&auth(i));
        c.add(&outage(i));
        c
    };
    tables(
        N,
        vec![
            DimTable {
                dimension: Dimension::All,
                series: vec![series("all", all)],
                summary: None,
            },
            DimTable {
                dimension: Dimension::ErrorCode,
                series: vec![series("AUTH_002", auth), series("HTTP_502", outage)],
                summary: None,
            },
            DimTable {
                dimension: Dimension::ConnectionId,
                series: vec![
                    series("conn_a", |i| {
                        let mut c = ok(30);
                        c.add(&auth(i));
                        c
                    }),
                    series("conn_b", outage),
                    series("conn_c", |_| ok(5)),
                ],
                summary: None,
            },
            DimTable {
                dimension: Dimension::IpAddress,
                series: vec![series("203.0.113.66", auth)],
                summary: None,
            },
            DimTable {
                dimension: Dimension::OrganizationId,
                series: vec![series("org_<acme>", auth)],
                summary: None,
            },
        ],
    )
}

fn incident(
    class: IncidentClass,
    detector: DetectorId,
    dim: Dimension,
    key: &str,
    from: usize,
    to: usize,
) -> Incident {
    Incident {
        incident_id: format!("id-{detector}"),
        class,
        severity: Severity::High,
        detector,
        dimension: dim,
        key: key.into(),
        start: T0 + from as i64 * STEP,
        end: T0 + to as i64 * STEP,
        events: 120,
        peak: 40.0,
        baseline: 0.0,
        threshold: 20.0,
        score: 2.0,
        explanation: format!("{detector} on {key} <b>"),
        action: "=retry later".into(),
        contributors: vec![Contributor {
            dimension: Dimension::OrganizationId,
            value: "=HYPERLINK(\"http://x\")".into(),
            events: 120,
            share: 1.0,
        }],
        // A request id from the logs that a spreadsheet would run as a formula.
        sample_request_ids: vec!["=cmd|' /C calc'!A0".into(), "req-2".into()],
        what: String::new(),
        focus: Focus::Errors,
    }
}

fn fixture() -> Analysis {
    let incidents = vec![
        incident(
            IncidentClass::Security,
            DetectorId::CredentialStuffing,
            Dimension::IpAddress,
            "203.0.113.66",
            6,
            9,
        ),
        incident(
            IncidentClass::Critical,
            DetectorId::ServerErrors,
            Dimension::ConnectionId,
            "conn_b",
            12,
            16,
        ),
    ];
    let mut by_class = BTreeMap::new();
    by_class.insert("security", 1);
    by_class.insert("critical", 1);
    Analysis {
        tables: Some(fixture_tables()),
        incidents,
        summary: Summary {
            incidents: 2,
            by_class,
            events: 2000,
            errors: 200,
            first_event: Some("2024-03-04 00:00".into()),
            last_event: Some("2024-03-04 01:59".into()),
            window_minutes: 5,
            ..Default::default()
        },
    }
}

#[test]
fn chart_data_follows_the_analysis() {
    let a = fixture();
    let t = a.tables.as_ref().unwrap();
    let cfg = AnalyzeConfig::default();
    let rate = chart::error_rate_chart(t, &a.incidents, &cfg);
    assert_eq!(rate.series[0].label, "AUTH_002", "largest code first");
    // 120 AUTH_002 in 15 minutes: the sliding hour holds all of them from window 8 on,
    // each sum plotted at the middle of its hour (window 8's hour ends at 9 steps).
    assert_eq!(rate.series[0].points[8], (T0 + 9 * STEP - 6 * STEP, 120.0));
    assert_eq!(rate.series[0].points[5].1, 0.0);
    // The curve's plateau lies over the incident's band, not an hour after it.
    let top: Vec<i64> = rate.series[0]
        .points
        .iter()
        .filter(|p| p.1 == 120.0)
        .map(|p| p.0)
        .collect();
    let middle = (top[0] + top[top.len() - 1]) / 2;
    let band = rate
        .bands
        .iter()
        .find(|b| b.class == IncidentClass::Security)
        .unwrap();
    assert!(
        band.start <= middle && middle <= band.end,
        "plateau middle {middle} in band {}..{}",
        band.start,
        band.end
    );
    assert!(
        rate.limits
            .iter()
            .any(|(l, v)| l.starts_with("AUTH_002") && *v == 10.0),
        "{:?}",
        rate.limits
    );
    assert_eq!(rate.bands.len(), 2);

    let conns = chart::connections_chart(t);
    let keys: Vec<&str> = conns.bars.iter().map(|b| b.0.as_str()).collect();
    assert_eq!(
        keys,
        ["conn_a", "conn_b"],
        "connections without errors are left out"
    );
    assert!(conns.percent);
    assert!(
        (conns.bars[1].1 - 80.0 / 480.0).abs() < 1e-9,
        "{:?}",
        conns.bars[1]
    );

    let (ips, orgs) = chart::security_chart(t, &a.incidents);
    assert_eq!(ips.series[0].label, "203.0.113.66");
    assert_eq!(ips.series[0].points[7].1, 40.0);
    assert_eq!(orgs.series[0].label, "org_<acme>");
    assert_eq!(ips.bands.len(), 1, "only security incidents");

    let tl = chart::timeline_chart(t, &a.incidents);
    assert_eq!(tl.rows.len(), 2);
    assert_eq!(tl.rows[1].3, IncidentClass::Critical);
}

#[test]
fn every_reporter_writes_from_one_analysis() {
    let a = fixture();
    let d = crate::testutil::tempdir().unwrap();
    let out = d.path();
    let files =
        super::write_all(out, &a, &AnalyzeConfig::default(), &InputsView::default()).unwrap();
    assert!(files.len() >= 5 * 2 + 2 + 8 + 2, "{files:?}");

    // Parquet rates read back as data.
    let f = std::fs::File::open(out.join("rates/connection_id.parquet")).unwrap();
    let batches: Vec<_> = ParquetRecordBatchReaderBuilder::try_new(f)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 3 * N);
    let errors: i64 = batches
        .iter()
        .map(|b| {
            b.column_by_name("errors")
                .unwrap()
                .as_primitive::<arrow_array::types::Int64Type>()
                .iter()
                .flatten()
                .sum::<i64>()
        })
        .sum();
    assert_eq!(errors, 120 + 80);
    // Counts and times are bit-packed deltas, never dictionaries: a count of a few
    // events takes a few bits, not 8 plain bytes.
    let f = std::fs::File::open(out.join("rates/connection_id.parquet")).unwrap();
    let meta = parquet::file::reader::FileReader::metadata(
        &parquet::file::reader::SerializedFileReader::new(f).unwrap(),
    )
    .clone();
    let mut checked = 0;
    for col in meta.row_group(0).columns() {
        let name = col.column_path().string();
        let encodings: Vec<_> = col.encodings().collect();
        if ["window_start", "requests", "errors", "status_429"].contains(&name.as_str()) {
            checked += 1;
            assert!(
                encodings.contains(&parquet::basic::Encoding::DELTA_BINARY_PACKED)
                    && !encodings.contains(&parquet::basic::Encoding::RLE_DICTIONARY),
                "{name}: {encodings:?}"
            );
        }
    }
    assert_eq!(checked, 4);

    // CSV: the formula-like contributor is neutralised.
    let csv = std::fs::read_to_string(out.join("anomalies.csv")).unwrap();
    let mut r = ::csv::Reader::from_reader(csv.as_bytes());
    let mut neutralised = 0;
    for rec in r.records() {
        for cell in rec.unwrap().iter() {
            assert!(!cell.starts_with('='), "{cell}");
            neutralised += usize::from(cell.starts_with("'=cmd"));
        }
    }
    assert_eq!(neutralised, 2, "{csv}");

    // Charts decode, with the size they were drawn at.
    for name in ["error_rate", "connections", "security", "incidents"] {
        let p = out.join("charts").join(format!("{name}.png"));
        let dec = png::Decoder::new(std::fs::File::open(&p).unwrap());
        let info = dec.read_info().unwrap().info().clone();
        assert_eq!(info.width, 1100, "{name}");
        assert!(
            std::fs::read_to_string(out.join("charts").join(format!("{name}.svg")))
                .unwrap()
                .starts_with("<svg")
        );
    }

    // HTML: incidents first, most serious first, escaped; the SVGs inlined.
    let page = std::fs::read_to_string(out.join("report.html")).unwrap();
    let crit = page.find("server_errors on conn_b").unwrap();
    let sec = page.find("credential_stuffing on 203.0.113.66").unwrap();
    assert!(crit < sec, "critical before security");
    assert!(
        page.contains("&lt;b&gt;") && !page.contains("on conn_b <b>"),
        "escaped"
    );
    assert!(page.contains("org_&lt;acme&gt;"));
    assert_eq!(page.matches("<svg").count(), 4);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["incidents"], 2);
}

#[test]
fn empty_analysis_still_writes_a_report() {
    let d = crate::testutil::tempdir().unwrap();
    let a = Analysis {
        tables: None,
        incidents: Vec::new(),
        summary: Summary::default(),
    };
    super::write_all(
        d.path(),
        &a,
        &AnalyzeConfig::default(),
        &InputsView::default(),
    )
    .unwrap();
    let page = std::fs::read_to_string(d.path().join("report.html")).unwrap();
    assert!(page.contains("No incident"));
    assert!(d.path().join("anomalies.parquet").is_file());
}
