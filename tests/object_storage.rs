//! Inputs and outputs in a bucket, against a real S3-compatible server that checks
//! request signatures (SeaweedFS, started by `.ci/run` on 127.0.0.1).
//!
//! Needs `ERRSCOPE_S3_BUCKET` (an existing bucket) and the server in the usual variables:
//! `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`. Without them each test
//! says so and passes, unless `ERRSCOPE_REQUIRE_S3` is set (CI sets it). Each test works
//! under a prefix of its own, so they run in parallel.

mod common;

use std::path::Path;

use common::*;
use errscope::storage::output::{read_small, write_small};
use errscope::storage::Location;

/// The bucket, or `None` (the test is skipped) when no server is configured.
fn bucket(test: &str) -> Option<String> {
    let Ok(bucket) = std::env::var("ERRSCOPE_S3_BUCKET") else {
        assert!(
            std::env::var_os("ERRSCOPE_REQUIRE_S3").is_none(),
            "ERRSCOPE_REQUIRE_S3 is set but ERRSCOPE_S3_BUCKET is not"
        );
        eprintln!("SKIPPED {test}: no S3 server (set ERRSCOPE_S3_BUCKET and AWS_ENDPOINT_URL; .ci/run starts SeaweedFS)");
        return None;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    Some(format!(
        "s3://{bucket}/{test}-{}-{nanos}",
        std::process::id()
    ))
}

fn loc(url: &str) -> Location {
    Location::parse(url).unwrap().unwrap()
}

fn put(url: &str, bytes: &[u8]) {
    write_small(&loc(url), bytes.to_vec()).unwrap();
}

/// Uploads every file of sample-data under `prefix`, plus objects that are not logs.
fn upload_sample_data(prefix: &str) {
    for e in std::fs::read_dir(repo_path("sample-data")).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_str().unwrap().to_string();
        put(&format!("{prefix}/{name}"), &std::fs::read(&p).unwrap());
    }
    put(
        &format!("{prefix}/AWSLogs/1/CloudTrail-Digest/us-east-1/d.json.gz"),
        b"{\"digestS3Object\":\"x\"}",
    );
    put(
        &format!("{prefix}/.staging/partial.ndjson"),
        b"{\"ts\":1}\n",
    );
}

fn anomalies_csv(out: &Path) -> String {
    std::fs::read_to_string(out.join("anomalies.csv")).unwrap()
}

#[test]
fn raw_logs_in_a_bucket_give_what_the_same_files_give_locally() {
    let Some(base) = bucket("raw") else { return };
    upload_sample_data(&format!("{base}/logs"));
    let dir = tempfile::tempdir().unwrap();
    let (remote, local) = (dir.path().join("remote"), dir.path().join("local"));
    let a = errscope()
        .args(["analyze", &format!("{base}/logs/"), "--out"])
        .arg(&remote)
        .assert()
        .success();
    errscope()
        .args(["analyze"])
        .arg(repo_path("sample-data"))
        .arg("--out")
        .arg(&local)
        .assert()
        .success();
    let m = assert_reconciles(&remote);
    assert_eq!(
        m["totals"]["events"],
        manifest(&local)["totals"]["events"],
        "the same records, events and quarantine as the local files"
    );
    assert_eq!(
        anomalies_csv(&remote),
        anomalies_csv(&local),
        "the same incidents"
    );
    let skipped = m["skipped"].to_string();
    assert!(skipped.contains("CloudTrail-Digest"), "{skipped}");
    assert!(skipped.contains(".staging/partial.ndjson"), "{skipped}");
    assert!(skipped.contains("README.md"), "{skipped}");
    let sources = strings(&read_events(&remote), "source_file");
    assert!(
        sources
            .iter()
            .flatten()
            .all(|s| s.starts_with(&format!("{base}/logs/"))),
        "source_file names the object URL"
    );
    assert!(stderr_of(&a).contains("skipped"), "{}", stderr_of(&a));

    // A glob over keys: only the gzip NDJSON object.
    let globbed = dir.path().join("glob");
    errscope()
        .args(["ingest", &format!("{base}/logs/*.ndjson.gz"), "--out"])
        .arg(&globbed)
        .assert()
        .success();
    let m = manifest(&globbed);
    let inputs = m["inputs"].as_array().unwrap();
    assert_eq!(inputs.len(), 1, "{m}");
    assert!(inputs[0]["path"]
        .as_str()
        .unwrap()
        .ends_with("makini_connections.ndjson.gz"));

    // inspect reads an object as it reads a file.
    let a = errscope()
        .args(["inspect", &format!("{base}/logs/nexla_api_errors.ndjson")])
        .assert()
        .success();
    assert!(stdout_of(&a).contains("error_code"), "{}", stdout_of(&a));
}

#[test]
fn outputs_in_a_bucket_are_whole_and_replace_the_previous_run() {
    let Some(base) = bucket("out") else { return };
    let out = format!("{base}/out");
    let a = errscope()
        .args(["analyze"])
        .arg(repo_path("sample-data"))
        .args(["--out", &out])
        .assert()
        .success();
    assert!(
        stderr_of(&a).contains(&format!("under {out}")),
        "{}",
        stderr_of(&a)
    );
    for key in [
        "manifest.json",
        "summary.json",
        "anomalies.parquet",
        "anomalies.csv",
        "report.html",
        "rates/connection_id.parquet",
        "events/day=2024-03-04/part-00000.parquet",
        "events/day=2024-03-05/part-00000.parquet",
    ] {
        assert!(
            read_small(&loc(&format!("{out}/{key}"))).unwrap().is_some(),
            "{key} is in the bucket"
        );
    }
    // SQL over the bucket's outputs, as over the local ones.
    let dir = tempfile::tempdir().unwrap();
    errscope()
        .args(["analyze"])
        .arg(repo_path("sample-data"))
        .arg("--out")
        .arg(dir.path().join("local"))
        .assert()
        .success();
    let sql = "select error_code, count(*) n from events where status >= 500 group by error_code order by error_code";
    let remote = errscope().args(["query", sql, &out]).assert().success();
    let local = errscope()
        .args(["query", sql])
        .arg(dir.path().join("local"))
        .assert()
        .success();
    assert_eq!(stdout_of(&remote), stdout_of(&local));
    // The events dataset in the bucket analyses as it is.
    let again = dir.path().join("again");
    errscope()
        .args(["analyze", &format!("{out}/")])
        .arg("--out")
        .arg(&again)
        .assert()
        .success();
    assert_eq!(
        anomalies_csv(&again),
        anomalies_csv(&dir.path().join("local"))
    );

    // A second run over one day replaces the first: the other day's parts are gone.
    errscope()
        .args(["analyze"])
        .arg(repo_path("sample-data"))
        .args(["--since", "2024-03-05", "--out", &out, "-q"])
        .assert()
        .success();
    assert!(read_small(&loc(&format!(
        "{out}/events/day=2024-03-04/part-00000.parquet"
    )))
    .unwrap()
    .is_none());
    assert!(read_small(&loc(&format!(
        "{out}/events/day=2024-03-05/part-00000.parquet"
    )))
    .unwrap()
    .is_some());

    // A run that fails to write leaves the objects of the last good run.
    let before = read_small(&loc(&format!("{out}/manifest.json"))).unwrap();
    let a = errscope()
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret")
        .args(["analyze"])
        .arg(repo_path("sample-data"))
        .args(["--out", &out, "-q"])
        .assert()
        .code(1);
    assert!(stderr_of(&a).contains("access denied"), "{}", stderr_of(&a));
    assert!(!stderr_of(&a).contains("not-the-secret"));
    assert!(!stderr_of(&a).contains("<?xml"), "{}", stderr_of(&a));
    assert_eq!(
        read_small(&loc(&format!("{out}/manifest.json"))).unwrap(),
        before
    );

    // A run with no data leaves them too.
    let empty = dir.path().join("empty.ndjson");
    std::fs::write(&empty, "{\"ts\":\"2030-01-01T00:00:00Z\",\"status\":500}\n").unwrap();
    errscope()
        .args(["analyze"])
        .arg(&empty)
        .args(["--until", "2029-01-01", "--out", &out, "-q"])
        .assert()
        .code(6);
    assert_eq!(
        read_small(&loc(&format!("{out}/manifest.json"))).unwrap(),
        before
    );
}

#[test]
fn a_nightly_state_in_the_bucket_reads_only_new_or_changed_objects() {
    let Some(base) = bucket("state") else { return };
    let logs = format!("{base}/logs");
    let sample = std::fs::read(repo_path("sample-data/nexla_api_errors.ndjson")).unwrap();
    let text = String::from_utf8(sample.clone()).unwrap();
    let half = text.lines().count() / 2;
    let first: String = text.lines().take(half).map(|l| format!("{l}\n")).collect();
    let second: String = text.lines().skip(half).map(|l| format!("{l}\n")).collect();
    put(&format!("{logs}/a.ndjson"), first.as_bytes());
    let state = format!("{base}/nightly.state");
    let dir = tempfile::tempdir().unwrap();
    let run = |out: &str| {
        errscope()
            .args(["analyze", &format!("{logs}/"), "--state", &state, "--out"])
            .arg(dir.path().join(out))
            .assert()
    };
    run("n1").success();
    assert_eq!(manifest(&dir.path().join("n1"))["totals"]["files"], 1);
    assert!(
        read_small(&loc(&state)).unwrap().is_some(),
        "the state is in the bucket"
    );

    put(&format!("{logs}/b.ndjson"), second.as_bytes());
    run("n2").success();
    let m = manifest(&dir.path().join("n2"));
    assert_eq!(m["inputs"].as_array().unwrap().len(), 1, "{m}");
    assert!(m["inputs"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("/b.ndjson"));
    assert!(
        m["skipped"].to_string().contains("already processed"),
        "{m}"
    );

    let a = run("n3").success();
    assert!(stderr_of(&a).contains("nothing new"), "{}", stderr_of(&a));

    // Rewritten in place (a new ETag): read again.
    put(&format!("{logs}/a.ndjson"), sample.as_slice());
    run("n4").success();
    let m = manifest(&dir.path().join("n4"));
    assert_eq!(m["inputs"].as_array().unwrap().len(), 1, "{m}");
    assert!(m["inputs"][0]["path"]
        .as_str()
        .unwrap()
        .ends_with("/a.ndjson"));
}

/// With `--state`, a bucket `--out` keeps every night's events: each run adds its parts
/// (named by the run) beside the earlier ones instead of deleting them.
#[test]
fn nightly_runs_into_a_bucket_add_to_its_events() {
    let Some(base) = bucket("nightly_out") else {
        return;
    };
    let logs = format!("{base}/logs");
    let text = std::fs::read_to_string(repo_path("sample-data/nexla_api_errors.ndjson")).unwrap();
    let half = text.lines().count() / 2;
    let first: String = text.lines().take(half).map(|l| format!("{l}\n")).collect();
    let second: String = text.lines().skip(half).map(|l| format!("{l}\n")).collect();
    let (state, out) = (format!("{base}/st"), format!("{base}/out"));
    let count = || {
        let a = errscope()
            .args([
                "query",
                "SELECT count(*) AS n FROM events",
                &out,
                "--format",
                "csv",
            ])
            .assert()
            .success();
        stdout_of(&a)
            .lines()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    let night = || {
        errscope()
            .args([
                "analyze",
                "-q",
                &format!("{logs}/"),
                "--state",
                &state,
                "--out",
                &out,
            ])
            .assert()
            .success();
    };
    put(&format!("{logs}/a.ndjson"), first.as_bytes());
    night();
    let one = count();
    put(&format!("{logs}/b.ndjson"), second.as_bytes());
    night();
    // Both nights: what one run over the whole file keeps.
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    analyze(
        &repo_path("sample-data/nexla_api_errors.ndjson"),
        &whole,
        &[],
    )
    .success();
    let both = count();
    assert!(both > one && one > 0, "{one} {both}");
    assert_eq!(both, row_count(&read_events(&whole)) as u64);
    // Nothing new: nothing added.
    night();
    assert_eq!(count(), both);
}

#[test]
fn storage_faults_are_one_line_and_the_other_inputs_go_on() {
    let Some(base) = bucket("faults") else { return };
    put(
        &format!("{base}/logs/a.ndjson"),
        &std::fs::read(repo_path("sample-data/nexla_api_errors.ndjson")).unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    // (input, environment of the run, what the line says)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: [Case; 4] = [
        (
            &format!("{base}/logs/missing.ndjson"),
            vec![],
            "no object under this prefix",
        ),
        ("s3://no-such-bucket-errscope/x/", vec![], "no such bucket"),
        (
            &format!("{base}/logs/"),
            vec![("AWS_SECRET_ACCESS_KEY", "wrong-secret-value")],
            "access denied",
        ),
        (
            &format!("{base}/logs/"),
            vec![("AWS_ENDPOINT_URL", "http://127.0.0.1:9")],
            "cannot reach the storage service",
        ),
    ];
    for (i, (input, env, says)) in cases.iter().enumerate() {
        let mut cmd = errscope();
        for (k, v) in env {
            cmd.env(k, v);
        }
        let a = cmd
            .args(["analyze", input])
            .arg(repo_path("sample-data/auth_service.log"))
            .arg("--out")
            .arg(dir.path().join(format!("o{i}")))
            .args(["-q"])
            .assert()
            .code(3);
        let err = stderr_of(&a);
        assert!(err.contains(says), "{input}: {err}");
        assert!(
            err.contains(input.trim_end_matches('/')),
            "names the URL: {err}"
        );
        assert!(
            !err.contains("<?xml") && !err.contains("wrong-secret-value"),
            "{err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        let m = manifest(&dir.path().join(format!("o{i}")));
        assert!(
            m["totals"]["events"].as_u64().unwrap() > 0,
            "the local file was read: {m}"
        );
    }

    // An input inside the output prefix is refused (the run would read nothing new and
    // replace the results); an output prefix inside an input prefix is never read back.
    put(&format!("{base}/o/logs/a.ndjson"), b"{}\n");
    let a = errscope()
        .args([
            "analyze",
            &format!("{base}/o/logs/"),
            "--out",
            &format!("{base}/o"),
        ])
        .assert()
        .code(2);
    assert!(stderr_of(&a).contains("output prefix"), "{}", stderr_of(&a));
    for _ in 0..2 {
        errscope()
            .args([
                "ingest",
                &format!("{base}/logs/"),
                "--out",
                &format!("{base}/logs/out"),
                "-q",
            ])
            .assert()
            .success();
        let m = read_small(&loc(&format!("{base}/logs/out/manifest.json")))
            .unwrap()
            .unwrap();
        let m: serde_json::Value = serde_json::from_slice(&m).unwrap();
        assert_eq!(
            m["totals"]["files"], 1,
            "its own outputs are not inputs: {m}"
        );
    }
}

#[test]
fn a_large_export_streams_through_and_its_outputs_upload_in_parts() {
    let Some(base) = bucket("large") else { return };
    let dir = tempfile::tempdir().unwrap();
    let gen = dir.path().join("gen");
    errscope()
        .args(["generate", "--records", "400000", "--seed", "7", "--out"])
        .arg(&gen)
        .assert()
        .success();
    let file = gen.join("errors.ndjson");
    let bytes = std::fs::read(&file).unwrap();
    assert!(
        bytes.len() > 50 << 20,
        "big enough to stream in many chunks"
    );
    put(&format!("{base}/logs/errors.ndjson"), &bytes);
    drop(bytes);
    let out = format!("{base}/out");
    errscope()
        .args([
            "analyze",
            &format!("{base}/logs/errors.ndjson"),
            "--out",
            &out,
            "-q",
        ])
        .assert()
        .success();
    // The same input analysed into a local folder: the same bytes (source_file included).
    let local = dir.path().join("local");
    errscope()
        .args(["analyze", &format!("{base}/logs/errors.ndjson"), "--out"])
        .arg(&local)
        .args(["-q"])
        .assert()
        .success();
    // The events Parquet is over one part (5 MiB): a multipart upload, byte for byte.
    let day = files_under(&local.join("events"))
        .into_iter()
        .map(|p| local.join("events").join(p))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let rel = day
        .strip_prefix(&local)
        .unwrap()
        .to_string_lossy()
        .to_string();
    let local_bytes = std::fs::read(&day).unwrap();
    let remote_bytes = read_small(&loc(&format!("{out}/{rel}"))).unwrap().unwrap();
    assert!(
        local_bytes.len() > 5 << 20,
        "{rel}: {} bytes",
        local_bytes.len()
    );
    assert!(remote_bytes == local_bytes, "{rel} differs");
    let remote_anomalies = read_small(&loc(&format!("{out}/anomalies.csv")))
        .unwrap()
        .unwrap();
    assert_eq!(
        String::from_utf8(remote_anomalies).unwrap(),
        anomalies_csv(&local)
    );
}
