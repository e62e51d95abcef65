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
