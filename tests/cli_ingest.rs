//! `errscope ingest` end to end: sample-data, reruns, hostile inputs, exit codes.

mod common;

use std::io::Write;
use std::path::Path;

use common::*;

fn ingest(inputs: &[&Path], out: &Path) -> Assert {
    let mut cmd = errscope();
    cmd.arg("ingest");
    for i in inputs {
        cmd.arg(i);
    }
    cmd.arg("--out").arg(out).assert()
}

#[test]
fn sample_data_becomes_one_event_per_record() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let out = tmp.path().join("out");
    let a = ingest(&[&repo_path("sample-data")], &out).success();
    let stdout = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    let m = assert_reconciles(&out);
    let totals = &m["totals"];
    assert!(
        stdout.contains(&format!("{} events", totals["events"])),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("{} quarantined", totals["quarantined"])),
        "{stdout}"
    );
    // The one startup line of the text log has no JSON payload.
    assert_eq!(totals["quarantined"], 1, "{m}");
    assert!(totals["events"].as_u64().unwrap() > 3000);
    assert_eq!(
        m["inputs"].as_array().unwrap().len(),
        5,
        "README.md and generate.py are skipped"
    );
    assert_eq!(m["skipped"].as_array().unwrap().len(), 2);

    let ev = read_events(&out);
    for col in ["status", "connection_id", "organization_id", "category"] {
        assert_eq!(null_count(&ev, col), 0, "null {col}");
    }
    let cats = strings(&ev, "category");
    let codes = strings(&ev, "error_code");
    for (cat, code) in cats.iter().zip(&codes) {
        assert_eq!(
            cat.as_deref() == Some("success"),
            code.is_none(),
            "{cat:?} {code:?}"
        );
    }
    // The documented incidents are all there, on their own keys.
    let ips = strings(&ev, "ip_address");
    let conns = strings(&ev, "connection_id");
    let classes = strings(&ev, "class");
    let count = |f: &dyn Fn(usize) -> bool| (0..cats.len()).filter(|&i| f(i)).count();
    let is = |v: &Option<String>, s: &str| v.as_deref() == Some(s);
    assert_eq!(
        count(&|i| is(&ips[i], "203.0.113.66") && is(&codes[i], "AUTH_002")),
        200
    );
    assert_eq!(
        count(&|i| is(&conns[i], "conn_hubspot_42") && is(&codes[i], "RATE_LIMIT_EXCEEDED")),
        240
    );
    assert_eq!(count(&|i| is(&classes[i], "critical")), 6);
    assert!(count(&|i| is(&conns[i], "conn_sf_prod") && is(&cats[i], "server")) >= 100);

    // Both days are their own hive partition.
    let days: Vec<String> = files_under(&out.join("events"))
        .iter()
        .map(|p| {
            p.components()
                .next()
                .unwrap()
                .as_os_str()
                .to_string_lossy()
                .to_string()
        })
        .collect();
    assert!(
        days.contains(&"day=2024-03-04".to_string())
            && days.contains(&"day=2024-03-05".to_string()),
        "{days:?}"
    );
    // Secrets planted in the sample never reach an output.
    let text = all_output_text(&out);
    assert!(
        !text.contains("Bearer ")
            || text.matches("Bearer [REDACTED]").count() == text.matches("Bearer ").count()
    );
    assert!(
        !text.contains("mk_live_") && !text.contains("api_key=ak_"),
        "secret leaked"
    );
}

#[test]
fn reruns_write_identical_data_and_leave_no_temporary_files() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let out = tmp.path().join("out");
    ingest(&[&repo_path("sample-data")], &out).success();
    let first = read_events(&out);
    let first_manifest = std::fs::read(out.join("manifest.json")).unwrap();
    ingest(&[&repo_path("sample-data")], &out).success();
    let second = read_events(&out);
    assert_eq!(first, second, "same input, same events");
    assert_eq!(
        first_manifest,
        std::fs::read(out.join("manifest.json")).unwrap()
    );
    let hidden: Vec<_> = files_under(&out)
        .into_iter()
        .filter(|p| {
            p.components()
                .any(|c| c.as_os_str().to_string_lossy().starts_with('.'))
        })
        .collect();
    assert!(hidden.is_empty(), "temporary files left: {hidden:?}");
    assert_eq!(
        std::fs::read_dir(&out).unwrap().count(),
        3,
        "events/, manifest.json, quarantine.ndjson"
    );
}

const GOOD: &str =
    r#"{"timestamp": "2024-01-15T10:30:00Z", "http_status": 500, "connection_id": "c1"}"#;

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

#[test]
fn hostile_inputs_never_stop_the_run_and_everything_reconciles() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let dir = tmp.path().join("in");
    std::fs::create_dir_all(&dir).unwrap();
    let w = |name: &str, data: &[u8]| std::fs::write(dir.join(name), data).unwrap();

    // A gzip file cut in half: the records before the damage are kept.
    let mut many = String::new();
    for i in 0..5000 {
        many.push_str(&format!(
            "{{\"timestamp\": {}, \"status\": 429, \"connection_id\": \"c{}\", \"pad\": \"{}\"}}\n",
            1_705_314_600 + i,
            i % 7,
            "z".repeat(i % 50)
        ));
    }
    let full = gz(many.as_bytes());
    w("a_truncated.ndjson.gz", &full[..full.len() / 2]);
    // Binary garbage.
    let garbage: Vec<u8> = (0..100_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    w("b_garbage.bin", &garbage);
    // Invalid UTF-8 on one line, CRLF, no final newline.
    let mut bad = format!("{GOOD}\r\n").into_bytes();
    bad.extend_from_slice(
        b"{\"timestamp\": \"2024-01-15T10:30:00Z\", \"message\": \"\xff\xfe\"}\r\n",
    );
    bad.extend_from_slice(GOOD.as_bytes());
    w("c_bad_utf8.ndjson", &bad);
    // Deep nesting, inside a record and as a whole line.
    let deep_inner = format!(
        "{{\"timestamp\": \"2024-01-15T10:30:00Z\", \"status\": 500, \"x\": {}1{}}}\n",
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let deep_objects = format!("{}\n", "{\"a\":".repeat(50_000));
    w(
        "d_deep.ndjson",
        format!("{deep_inner}{deep_objects}{GOOD}\n").as_bytes(),
    );
    // A 20 MB line, and a line over the limit given below.
    let huge = format!(
        "{{\"timestamp\": \"2024-01-15T10:30:00Z\", \"status\": 503, \"connection_id\": \"c9\", \"message\": \"{}\"}}\n{GOOD}\n",
        "m".repeat(20 << 20)
    );
    w("e_huge.ndjson", huge.as_bytes());
    // Secrets everywhere.
    let secrets = [
        r#"{"timestamp": "2024-01-15T10:30:00Z", "status": 401, "connection_id": "c1", "message": "rejected Authorization: Bearer SECRETbearer123456", "headers": {"Authorization": "Bearer SECRETheader98765", "x-api-key": "SECRETxapikey55"}}"#,
        r#"{"timestamp": "2024-01-15T10:30:00Z", "status": 401, "connection_id": "c1", "endpoint": "/v1/x?api_key=SECRETquery777&page=1", "details": {"password": "SECRETpassword1", "client_secret": "SECRETclient22", "token_expires_at": "2024-01-15T09:30:00Z"}}"#,
        r#"{"timestamp": "2024-01-15T10:30:00Z", "status": 401, "connection_id": "c1", "api_key": "SECRETtoplevel3", "user_agent": "curl eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJTRUNSRVQifQ.SECRETjwtsig"}"#,
        r#"2024-01-15 10:30:00,000 ERROR api.errors: login failed password=SECRETprefix44: {"timestamp": "2024-01-15T10:30:00Z", "status": 401, "connection_id": "c1", "token": "SECRETtoken66"}"#,
        r#"not json at all but leaks Bearer SECRETquarantined88 and api_key=SECRETquarantined99"#,
        r#"{"status": 401, "connection_id": "c1", "password": "SECRETnotimestamp1"}"#,
    ];
    w("f_secrets.ndjson", secrets.join("\n").as_bytes());
    w("g_empty.ndjson", b"");
    w("h_blank.ndjson", b"\n\n   \n\t\n");
    w("i_utf16.json", b"\xff\xfe{\x00}\x00");

    let out = tmp.path().join("out");
    let a = errscope()
        .args(["ingest", "--max-record-bytes", "25000000"])
        .arg(&dir)
        .arg("--out")
        .arg(&out)
        .assert()
        .code(3);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(stderr.contains("a_truncated.ndjson.gz: line "), "{stderr}");
    assert!(stderr.contains("truncated"), "{stderr}");
    assert!(stderr.contains("b_garbage.bin"), "{stderr}");
    assert!(
        stderr.contains("i_utf16.json") && stderr.contains("UTF-16"),
        "{stderr}"
    );

    let m = assert_reconciles(&out);
    let file = |suffix: &str| {
        m["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["path"].as_str().unwrap().ends_with(suffix))
            .unwrap()
            .clone()
    };
    let t = file("a_truncated.ndjson.gz");
    assert!(
        t["events"].as_u64().unwrap() > 1000,
        "records before the damage kept: {t}"
    );
    assert!(t["error"].is_string());
    assert!(file("b_garbage.bin")["error"]
        .as_str()
        .unwrap()
        .contains("binary"));
    let c = file("c_bad_utf8.ndjson");
    assert_eq!(
        (c["events"].as_u64(), c["quarantined"].as_u64()),
        (Some(2), Some(1)),
        "{c}"
    );
    let d = file("d_deep.ndjson");
    assert_eq!(d["records"], 3);
    assert_eq!(
        d["events"].as_u64().unwrap() + d["quarantined"].as_u64().unwrap(),
        3
    );
    let e = file("e_huge.ndjson");
    assert_eq!(e["events"], 2, "a 20 MB line is still a record: {e}");
    let f = file("f_secrets.ndjson");
    assert_eq!(
        (f["events"].as_u64(), f["quarantined"].as_u64()),
        (Some(4), Some(2)),
        "{f}"
    );
    assert_eq!(file("h_blank.ndjson")["blank"], 4);

    let text = all_output_text(&out);
    if let Some(at) = text.find("SECRET") {
        let around = &text[at.saturating_sub(60)..(at + 40).min(text.len())];
        panic!("secret leaked: ...{around}...");
    }
    let q = std::fs::read_to_string(out.join("quarantine.ndjson")).unwrap();
    assert!(q.contains("invalid UTF-8"), "{q}");
    assert!(q.contains("no timestamp"), "{q}");
}

#[test]
fn records_over_the_size_limit_are_quarantined_not_parsed() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let p = tmp.path().join("big.ndjson");
    std::fs::write(
        &p,
        format!(
            "{{\"timestamp\": 1705314600, \"m\": \"{}\"}}\n{GOOD}\n",
            "x".repeat(5000)
        ),
    )
    .unwrap();
    let out = tmp.path().join("out");
    errscope()
        .args(["ingest", "--max-record-bytes", "2000"])
        .arg(&p)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    assert_reconciles(&out);
    let q = std::fs::read_to_string(out.join("quarantine.ndjson")).unwrap();
    assert!(
        q.contains("over the limit") && q.contains("\"line\":1"),
        "{q}"
    );
}

#[test]
fn stdin_is_an_input() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let out = tmp.path().join("out");
    errscope()
        .args(["ingest", "-", "--out"])
        .arg(&out)
        .write_stdin(format!("{GOOD}\n{GOOD}\n"))
        .assert()
        .success();
    let m = assert_reconciles(&out);
    assert_eq!(m["inputs"][0]["path"], "-");
    assert_eq!(
        strings(&read_events(&out), "source_file"),
        vec![Some("-".to_string()); 2]
    );
}

#[test]
fn a_missing_input_is_reported_and_the_others_are_read() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let p = tmp.path().join("ok.ndjson");
    std::fs::write(&p, format!("{GOOD}\n")).unwrap();
    let out = tmp.path().join("out");
    let a = errscope()
        .arg("ingest")
        .arg(tmp.path().join("nope.ndjson"))
        .arg(&p)
        .arg(tmp.path().join("*.nomatch"))
        .arg("--out")
        .arg(&out)
        .assert()
        .code(3);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(stderr.contains("nope.ndjson: no such file"), "{stderr}");
    assert!(stderr.contains("no file matches"), "{stderr}");
    assert_eq!(assert_reconciles(&out)["totals"]["events"], 1);
}

#[test]
fn max_error_ratio_sets_the_exit_code() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let p = tmp.path().join("half.ndjson");
    std::fs::write(&p, format!("{GOOD}\nnot json\n")).unwrap();
    let out = tmp.path().join("out");
    let run = |ratio: &str| {
        errscope()
            .args(["ingest", "--max-error-ratio", ratio])
            .arg(&p)
            .arg("--out")
            .arg(&out)
            .assert()
    };
    run("0.4").code(4);
    run("0.5").success();
    run("7").code(2); // a flag value out of range is bad usage
}

#[test]
fn usage_and_config_errors() {
    errscope().args(["ingest", "x.ndjson"]).assert().code(2);
    errscope().args(["nonsense"]).assert().code(2);
    let tmp = errscope::testutil::tempdir().unwrap();
    let cfg = tmp.path().join("errscope.toml");
    std::fs::write(&cfg, "[aliases]\nnot_a_column = [\"x\"]\n").unwrap();
    let a = errscope()
        .args(["ingest", "-", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .write_stdin("")
        .assert()
        .code(1);
    let stderr = String::from_utf8_lossy(&a.get_output().stderr).to_string();
    assert!(
        stderr.contains("errscope.toml") && stderr.contains("not_a_column"),
        "{stderr}"
    );
}

#[test]
fn config_aliases_and_codes_apply() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let cfg = tmp.path().join("my.toml");
    std::fs::write(&cfg, "[aliases]\nconnection_id = [\"pipeline.ref\"]\n[classes]\nsecurity_codes = [\"IP_BLOCKED\"]\n").unwrap();
    let out = tmp.path().join("out");
    errscope()
        .args(["ingest", "-", "--config"])
        .arg(&cfg)
        .arg("--out")
        .arg(&out)
        .write_stdin(r#"{"ts": 1705314600, "status": 403, "code": "IP_BLOCKED", "pipeline": {"ref": "p-7"}}"#)
        .assert()
        .success();
    let ev = read_events(&out);
    assert_eq!(strings(&ev, "connection_id"), [Some("p-7".to_string())]);
    assert_eq!(strings(&ev, "class"), [Some("security".to_string())]);
    assert_eq!(manifest(&out)["config"], cfg.display().to_string());
}

/// A record of the duplicate tests: `id` its request id (none when `None`), `s` its second.
fn dup_line(id: Option<&str>, s: u32, status: u16) -> String {
    let rid = id.map_or(String::new(), |i| format!(r#","request_id":"{i}""#));
    format!(
        r#"{{"timestamp":"2026-03-01T10:00:{s:02}Z","status_code":{status},"error_code":"HTTP_{status}","connection_id":"conn_a"{rid}}}"#
    )
}

#[test]
fn exact_duplicates_are_counted_and_left_out() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    std::fs::create_dir_all(dir.join("copy")).unwrap();
    // Day export: 6 records with ids, 2 identical lines without an id (two real events).
    let mut a: Vec<String> = (0..6)
        .map(|i| dup_line(Some(&format!("req-{i}")), i, 429))
        .collect();
    a.push(dup_line(None, 30, 500));
    a.push(dup_line(None, 30, 500));
    std::fs::write(dir.join("a.ndjson"), a.join("\n") + "\n").unwrap();
    // The same file exported again into another folder, and an overlapping export
    // holding records 4 and 5 again, a new record 6, and a record with the id of 0 but
    // another content (a retry that failed differently: not a copy).
    std::fs::write(dir.join("copy/a.ndjson"), a.join("\n") + "\n").unwrap();
    let b = [
        dup_line(Some("req-4"), 4, 429),
        dup_line(Some("req-5"), 5, 429),
        dup_line(Some("req-6"), 6, 429),
        dup_line(Some("req-0"), 0, 503),
    ];
    std::fs::write(dir.join("b.ndjson"), b.join("\n") + "\n").unwrap();

    let out = tmp.path().join("out");
    let a = ingest(&[&dir], &out).success();
    let stdout = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert!(stdout.contains("8 exact duplicates left out"), "{stdout}");
    let m = assert_reconciles(&out);
    // 6 copies in copy/a.ndjson (its id-less lines are events), 2 in b.ndjson.
    assert_eq!(m["totals"]["duplicates"], 8, "{m}");
    assert_eq!(m["totals"]["events"], 8 + 2 + 2, "{m}");
    assert_eq!(m["totals"]["duplicates_unchecked"], 0, "{m}");
    let ev = read_events(&out);
    let mut ids: Vec<Option<String>> = strings(&ev, "request_id");
    ids.sort();
    let expect: Vec<Option<String>> = [None, None, None, None]
        .into_iter()
        .chain(
            [
                "req-0", "req-0", "req-1", "req-2", "req-3", "req-4", "req-5", "req-6",
            ]
            .map(|s| Some(s.to_string())),
        )
        .collect();
    assert_eq!(ids, expect);

    // The rates count each request once.
    let out2 = tmp.path().join("analysis");
    analyze(&dir, &out2, &[]).success();
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out2.join("summary.json")).unwrap()).unwrap();
    assert_eq!(s["events"], 12, "{s}");
    assert_eq!(s["input"]["duplicates"], 8, "{s}");
    let html = std::fs::read_to_string(out2.join("report.html")).unwrap();
    assert!(
        html.contains("8 exact duplicates left out"),
        "report names them"
    );

    // `keep` counts them and keeps them; `off` does not look.
    for (mode, events, dups, kept) in [("keep", 20, 0, 8), ("off", 20, 0, 0)] {
        let cfg = tmp.path().join(format!("{mode}.toml"));
        std::fs::write(&cfg, format!("[ingest]\nduplicates = \"{mode}\"\n")).unwrap();
        let o = tmp.path().join(format!("out-{mode}"));
        errscope()
            .args(["ingest", "--config"])
            .arg(&cfg)
            .arg(&dir)
            .arg("--out")
            .arg(&o)
            .assert()
            .success();
        let m = assert_reconciles(&o);
        assert_eq!(m["totals"]["events"], events, "{mode}: {m}");
        assert_eq!(m["totals"]["duplicates"], dups, "{mode}: {m}");
        assert_eq!(m["totals"]["duplicates_kept"], kept, "{mode}: {m}");
    }
}

#[test]
fn duplicate_memory_is_bounded_and_says_when_the_check_was_partial() {
    let tmp = errscope::testutil::tempdir().unwrap();
    // 48 hours of records, then the first hour again: with room for 100 fingerprints the
    // first hours are forgotten, so the late copies are counted as unchecked, not as
    // unique events checked in full.
    let mut lines = Vec::new();
    for h in 0..48u32 {
        for i in 0..20u32 {
            lines.push(format!(
                r#"{{"timestamp":"2026-03-{:02}T{:02}:{:02}:00Z","status_code":429,"connection_id":"c","request_id":"r{h}-{i}"}}"#,
                1 + h / 24,
                h % 24,
                i
            ));
        }
    }
    let first_hour: Vec<String> = lines[..20].to_vec();
    lines.extend(first_hour);
    let input = tmp.path().join("logs.ndjson");
    std::fs::write(&input, lines.join("\n") + "\n").unwrap();
    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, "[ingest]\nduplicate_memory = 100\n").unwrap();
    let out = tmp.path().join("out");
    let a = errscope()
        .args(["ingest", "--config"])
        .arg(&cfg)
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&a.get_output().stdout).to_string();
    assert!(
        stdout.contains("against part of the input only"),
        "{stdout}"
    );
    let m = assert_reconciles(&out);
    assert_eq!(m["totals"]["duplicates_unchecked"], 20, "{m}");
    // With the default budget, the same input is checked in full.
    let out = tmp.path().join("out-default");
    ingest(&[&input], &out).success();
    let m = assert_reconciles(&out);
    assert_eq!(m["totals"]["duplicates"], 20, "{m}");
    assert_eq!(m["totals"]["duplicates_unchecked"], 0, "{m}");
}

#[test]
fn wrappers_without_a_known_name_are_expanded() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    std::fs::create_dir_all(&dir).unwrap();
    // An Elasticsearch search response saved as a file (pretty-printed): the records are
    // hits.hits[]._source, the response has no time of its own.
    std::fs::write(
        dir.join("es-export.json"),
        r#"{
  "took": 12,
  "timed_out": false,
  "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
  "hits": {
    "total": {"value": 2, "relation": "eq"},
    "max_score": 1.0,
    "hits": [
      {"_index": "api-errors", "_id": "a1", "_score": 1.0,
       "_source": {"@timestamp": "2026-03-01T10:00:00Z", "http": {"response": {"status_code": 401}},
                   "error": {"code": "AUTH_002"}, "client": {"ip": "203.0.113.9"},
                   "labels": {"connection_id": "conn_es"}, "organization": {"id": "org_es"}}},
      {"_index": "api-errors", "_id": "a2", "_score": 1.0,
       "_source": {"@timestamp": "2026-03-01T10:00:05Z", "http": {"response": {"status_code": 503}},
                   "labels": {"connection_id": "conn_es"}, "organization": {"id": "org_es"}}}
    ]
  }
}
"#,
    )
    .unwrap();
    // A wrapper that has a time of its own needs its path in the config.
    std::fs::write(
        dir.join("batch.json"),
        r#"{"timestamp": "2026-03-02T00:00:00Z", "source": "exporter", "batch": {"rows": [{"ts": "2026-03-01T11:00:00Z", "status": 429, "connection_id": "conn_b"}]}}"#,
    )
    .unwrap();
    let out = tmp.path().join("out");
    ingest(&[&dir], &out).success();
    let m = assert_reconciles(&out);
    // Without the config, the batch wrapper is one event dated by its export time (it
    // has a time of its own, so it is a record, not a wrapper).
    assert_eq!(m["totals"]["events"], 3, "{m}");
    let ev = read_events(&out);
    let conns = strings(&ev, "connection_id");
    assert_eq!(
        conns
            .iter()
            .filter(|c| c.as_deref() == Some("conn_es"))
            .count(),
        2
    );
    let codes = strings(&ev, "error_code");
    assert!(codes.contains(&Some("AUTH_002".into())), "{codes:?}");
    let ips = strings(&ev, "ip_address");
    assert!(ips.contains(&Some("203.0.113.9".into())), "{ips:?}");

    let cfg = tmp.path().join("c.toml");
    std::fs::write(&cfg, "[ingest]\nenvelopes = [\"batch.rows\"]\n").unwrap();
    let out = tmp.path().join("out-cfg");
    errscope()
        .args(["ingest", "--config"])
        .arg(&cfg)
        .arg(&dir)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    assert_reconciles(&out);
    let ev = read_events(&out);
    let conns = strings(&ev, "connection_id");
    assert!(conns.contains(&Some("conn_b".into())), "{conns:?}");
    let codes = strings(&ev, "error_code");
    assert!(codes.contains(&Some("HTTP_429".into())), "{codes:?}");
}

/// Nightly exports that overlap: tonight's file repeats the last hour of last night's.
/// With `--state`, the second run finds those copies though last night's file is not read
/// again (the state carries the last hours' fingerprints beside it, `<state>.dups`).
#[test]
fn copies_of_last_nights_records_are_found_with_state() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let dir = tmp.path().join("exports");
    std::fs::create_dir_all(&dir).unwrap();
    let line = |h: u32, i: u32| {
        format!(
            r#"{{"timestamp":"2026-03-01T{h:02}:{i:02}:00Z","status_code":503,"connection_id":"c","request_id":"r{h}-{i}"}}"#
        )
    };
    let night1: Vec<String> = (0..12)
        .flat_map(|h| (0..10).map(move |i| (h, i)))
        .map(|(h, i)| line(h, i))
        .collect();
    std::fs::write(dir.join("night1.ndjson"), night1.join("\n") + "\n").unwrap();
    let state = tmp.path().join("nightly.state");
    let out = tmp.path().join("out1");
    analyze(&dir, &out, &["--state", state.to_str().unwrap()]).success();
    assert!(errscope::state::dups_path(&state).is_file());
    // Night 2 starts at 11:00: its first hour (10 records) was in night 1.
    let night2: Vec<String> = (11..20)
        .flat_map(|h| (0..10).map(move |i| (h, i)))
        .map(|(h, i)| line(h, i))
        .collect();
    std::fs::write(dir.join("night2.ndjson"), night2.join("\n") + "\n").unwrap();
    let out = tmp.path().join("out2");
    analyze(&dir, &out, &["--state", state.to_str().unwrap()]).success();
    let m = assert_reconciles(&out);
    assert_eq!(m["totals"]["files"], 1, "night 1 is skipped: {m}");
    assert_eq!(m["totals"]["duplicates"], 10, "{m}");
    assert_eq!(m["totals"]["events"], 80, "{m}");
}
