//! The aggregation on a real Apache Spark cluster through Spark Connect (`--engine
//! sc://…`, feature `spark`), against the local fold on the same events dataset: equal
//! rate tables and equal incidents, compared as data; and the faults (an unreachable
//! engine, a query the cluster rejects) exit 7 with nothing written.
//!
//! Needs `ERRSCOPE_SPARK_URL` (`.ci/run` starts a standalone cluster and its Connect server
//! on 127.0.0.1:15002, from PyPI pyspark and Debian's JDK). The cluster reads the events
//! from this machine's file system (the tests' temporary folders). Without it each test
//! says so and passes, unless `ERRSCOPE_REQUIRE_SPARK` is set (CI sets it).
#![cfg(feature = "spark")]

mod common;

use std::path::Path;

use common::*;

/// The Spark Connect URL, or `None` (the test is skipped) when no cluster is configured.
fn spark(test: &str) -> Option<String> {
    match std::env::var("ERRSCOPE_SPARK_URL") {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var_os("ERRSCOPE_REQUIRE_SPARK").is_none(),
                "ERRSCOPE_REQUIRE_SPARK is set but ERRSCOPE_SPARK_URL is not"
            );
            eprintln!("SKIPPED {test}: no Spark cluster (set ERRSCOPE_SPARK_URL=sc://HOST:PORT; .ci/run starts one)");
            None
        }
    }
}

/// `errscope query SQL OUT --format csv`: what a dashboard reads, as text.
fn query(out: &Path, sql: &str) -> String {
    let a = errscope()
        .args(["query", sql])
        .arg(out)
        .args(["--format", "csv"])
        .assert()
        .success();
    stdout_of(&a)
}

/// summary.json without the field that names the engine.
fn summary(out: &Path) -> serde_json::Value {
    let mut s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    s.as_object_mut().unwrap().remove("engine");
    s
}

/// Analyses `dataset` locally and on the cluster with `extra` flags, and checks that the
/// rate tables (every dimension's, as the long table holds them), the incidents and the
/// summary are equal. Returns the number of incidents.
fn local_equals_spark(url: &str, dataset: &Path, dir: &Path, extra: &[&str]) -> usize {
    let (local, remote) = (dir.join("local"), dir.join("spark"));
    analyze(dataset, &local, extra).success();
    let a = errscope()
        .args(["analyze", "-q"])
        .arg(dataset)
        .arg("--out")
        .arg(&remote)
        .args(["--engine", url])
        .args(extra)
        .assert();
    assert_eq!(a.get_output().status.code(), Some(0), "{}", stderr_of(&a));

    let rates = "SELECT * FROM rates_long ORDER BY dimension, key, window_start";
    let (l, s) = (query(&local, rates), query(&remote, rates));
    assert!(l.lines().count() > 10, "rates: {l}");
    assert_eq!(l, s, "the rate tables differ");
    for d in ["error_code", "connection_id", "status_class", "ip_address"] {
        let one = format!("SELECT * FROM rates_{d} ORDER BY 1, 2");
        assert_eq!(
            query(&local, &one),
            query(&remote, &one),
            "rates_{d} differ"
        );
    }
    let l = std::fs::read_to_string(local.join("anomalies.csv")).unwrap();
    let s = std::fs::read_to_string(remote.join("anomalies.csv")).unwrap();
    assert_eq!(l, s, "the incidents differ");
    assert_eq!(summary(&local), summary(&remote));

    let engine = |out: &Path| {
        let s: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
        s["engine"].as_str().unwrap().to_string()
    };
    assert_eq!(engine(&local), "local");
    assert!(
        engine(&remote).starts_with("spark (sc://"),
        "{}",
        engine(&remote)
    );
    let html = std::fs::read_to_string(remote.join("report.html")).unwrap();
    assert!(html.contains("spark (sc://"), "the report names the engine");
    l.lines().count() - 1
}

#[test]
fn sample_data_gives_the_same_tables_and_incidents_on_spark() {
    let Some(url) = spark("sample") else { return };
    let dir = tempfile::tempdir().unwrap();
    let dataset = ingest_sample(dir.path());
    let incidents = local_equals_spark(&url, &dataset, dir.path(), &[]);
    assert!(incidents >= 5, "sample-data has incidents: {incidents}");

    // Time bounds pushed down to the cluster select the same events as locally, and only
    // those within the bounds.
    let bounded = dir.path().join("bounded");
    std::fs::create_dir(&bounded).unwrap();
    local_equals_spark(
        &url,
        &dataset,
        &bounded,
        &[
            "--since",
            "2024-03-05T09:30:00Z",
            "--until",
            "2024-03-05T11:00:00Z",
        ],
    );
    let (all, some) = (
        summary(&dir.path().join("spark")),
        summary(&bounded.join("spark")),
    );
    assert!(some["events"].as_u64().unwrap() < all["events"].as_u64().unwrap());
    let minute = |v: &serde_json::Value| v.as_str().unwrap()[..16].replace('T', " ");
    assert!(
        minute(&some["first_event"]).as_str() >= "2024-03-05 09:30",
        "{some}"
    );
    assert!(
        minute(&some["last_event"]).as_str() < "2024-03-05 11:00",
        "{some}"
    );
}

#[test]
fn a_million_generated_records_give_the_same_tables_and_incidents_on_spark() {
    let Some(url) = spark("million") else { return };
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("gen");
    generate(&["--records", "1000000", "--seed", "26"], &logs);
    let dataset = dir.path().join("ds");
    ingest(&[&logs], &dataset).success();
    let incidents = local_equals_spark(&url, &dataset, dir.path(), &[]);
    assert!(incidents > 0);
}

/// What a failed engine run must leave: the previous good results as they were.
fn assert_untouched(out: &Path, before: &[(std::path::PathBuf, Vec<u8>)]) {
    let now = snapshot(out);
    assert_eq!(now.len(), before.len(), "files were added or removed");
    assert!(now == before, "a file of the last good run changed");
}

#[test]
fn an_unreachable_engine_exits_7_naming_it_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let dataset = ingest_sample(dir.path());
    let out = dir.path().join("out");
    analyze(&dataset, &out, &[]).success();
    let before = snapshot(&out);
    assert!(before.len() > 10);
    // Nothing listens on port 9 of the loopback; the token must never be printed.
    let a = analyze(
        &dataset,
        &out,
        &["--engine", "sc://127.0.0.1:9/;token=SECRET-TOKEN"],
    )
    .code(7);
    let err = stderr_of(&a);
    assert!(err.contains("sc://127.0.0.1:9"), "{err}");
    assert!(err.contains("cannot be reached"), "{err}");
    assert!(!err.contains("SECRET-TOKEN"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert_untouched(&out, &before);
}

#[test]
fn a_query_the_cluster_rejects_exits_7_with_its_cause() {
    let Some(url) = spark("rejected") else { return };
    let dir = tempfile::tempdir().unwrap();
    // A dataset whose `ts` is text: Spark cannot take its epoch microseconds.
    let day = dir.path().join("bad/events/day=2024-03-05");
    std::fs::create_dir_all(&day).unwrap();
    let schema = std::sync::Arc::new(arrow_schema::Schema::new(vec![
        arrow_schema::Field::new("ts", arrow_schema::DataType::Utf8, true),
        arrow_schema::Field::new("category", arrow_schema::DataType::Utf8, true),
    ]));
    let batch = arrow_array::RecordBatch::try_new(
        schema.clone(),
        vec![
            std::sync::Arc::new(arrow_array::StringArray::from(vec!["not a time"])),
            std::sync::Arc::new(arrow_array::StringArray::from(vec!["server"])),
        ],
    )
    .unwrap();
    let file = std::fs::File::create(day.join("part-0.parquet")).unwrap();
    let mut w = parquet::arrow::ArrowWriter::try_new(file, schema, None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();

    let out = dir.path().join("out");
    let a = analyze(&dir.path().join("bad"), &out, &["--engine", &url]).code(7);
    let err = stderr_of(&a);
    assert!(err.contains(&url), "{err}");
    assert!(err.contains("failed"), "{err}");
    assert!(!out.join("manifest.json").exists() && !out.join("report.html").exists());
}

#[test]
fn raw_logs_are_refused_with_the_engine() {
    let dir = tempfile::tempdir().unwrap();
    let a = analyze(
        &repo_path("sample-data"),
        &dir.path().join("out"),
        &["--engine", "sc://127.0.0.1:15002"],
    )
    .code(2);
    assert!(
        stderr_of(&a).contains("events dataset"),
        "{}",
        stderr_of(&a)
    );
}

/// Past `[rates] max_keys` the cluster keeps the exact heaviest keys (errors weigh 16
/// successes, ties by key) and folds the rest into `(other)`; the report says so.
#[test]
fn past_max_keys_spark_keeps_the_exact_heaviest_keys() {
    let Some(url) = spark("max_keys") else { return };
    let dir = tempfile::tempdir().unwrap();
    let dataset = ingest_sample(dir.path());
    let config = dir.path().join("errscope.toml");
    std::fs::write(&config, "[rates]\nmax_keys = 5\n").unwrap();
    let out = dir.path().join("out");
    let config = config.to_str().unwrap();
    analyze(&dataset, &out, &["--engine", &url, "--config", config]).success();
    // The ranking, computed over the events themselves (requests only: no log lines).
    let exact = query(
        &dataset,
        "SELECT ip_address, sum(CASE WHEN category = 'success' THEN 1 ELSE 16 END) AS weight \
         FROM events \
         WHERE ip_address IS NOT NULL AND (category IS NULL OR category NOT IN ('log', 'runtime')) \
         GROUP BY ip_address ORDER BY weight DESC, ip_address LIMIT 5",
    );
    let mut want: Vec<&str> = exact
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap())
        .collect();
    want.sort_unstable();
    let kept = query(
        &out,
        "SELECT DISTINCT ip_address FROM rates_ip_address WHERE ip_address <> '(other)' ORDER BY 1",
    );
    let kept: Vec<&str> = kept.lines().skip(1).collect();
    assert_eq!(kept, want);
    let distinct = query(
        &dataset,
        "SELECT count(DISTINCT ip_address) AS n FROM events \
         WHERE category IS NULL OR category NOT IN ('log', 'runtime')",
    );
    let s: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    let ip = &s["summarised"]["ip_address"];
    assert_eq!(ip["kept"], 5);
    assert_eq!(
        ip["keys_seen"].as_u64().unwrap().to_string(),
        distinct.lines().nth(1).unwrap()
    );
    // Every request is in a kept key's row or in (other).
    let total = |sql: &str| query(&out, sql).lines().nth(1).unwrap().to_string();
    assert_eq!(
        total("SELECT sum(requests) FROM rates_ip_address"),
        total("SELECT sum(requests) FROM rates_all")
            .parse::<u64>()
            .map(|all| all - no_ip_requests(&dataset))
            .unwrap()
            .to_string()
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("every key ranked"),
        "the report says how it was summarised"
    );
}

/// Requests that name no client address (they are in no `ip_address` row).
fn no_ip_requests(dataset: &Path) -> u64 {
    query(
        dataset,
        "SELECT count(*) FROM events WHERE ip_address IS NULL \
         AND (category IS NULL OR category NOT IN ('log', 'runtime'))",
    )
    .lines()
    .nth(1)
    .unwrap()
    .parse()
    .unwrap()
}

/// A TCP proxy to the Spark Connect server that cuts every connection once `limit` bytes
/// came back from the server, and from then on refuses whoever reconnects: a cluster that
/// goes away in the middle of a query (and stays away while the client tries to reattach).
fn cutting_proxy(server: &str, limit: usize) -> String {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::Arc;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = server.to_string();
    let sent = Arc::new(AtomicUsize::new(0));
    let dead = Arc::new(AtomicBool::new(false));
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(client) = client else { continue };
            if dead.load(Ordering::SeqCst) {
                drop(client);
                continue;
            }
            let Ok(upstream) = TcpStream::connect(&server) else {
                continue;
            };
            let (c2, u2) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
            // Client -> server, as it is.
            std::thread::spawn(move || {
                let (mut from, mut to) = (c2, u2);
                let _ = std::io::copy(&mut from, &mut to);
                let _ = to.shutdown(Shutdown::Write);
            });
            // Server -> client, until the limit.
            let (sent, dead) = (sent.clone(), dead.clone());
            std::thread::spawn(move || {
                let (mut from, mut to) = (upstream, client);
                let mut buf = [0u8; 16 * 1024];
                loop {
                    let n = match from.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if sent.fetch_add(n, Ordering::SeqCst) + n > limit {
                        dead.store(true, Ordering::SeqCst);
                        break;
                    }
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = to.shutdown(Shutdown::Both);
                let _ = from.shutdown(Shutdown::Both);
            });
        }
    });
    format!("sc://{addr}")
}

#[test]
fn a_cluster_that_goes_away_mid_query_exits_7_and_leaves_the_last_results() {
    let Some(url) = spark("mid_query") else {
        return;
    };
    let server = url
        .trim_start_matches("sc://")
        .split(['/', ';'])
        .next()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let dataset = ingest_sample(dir.path());
    let out = dir.path().join("out");
    analyze(&dataset, &out, &[]).success();
    let before = snapshot(&out);
    // The session, the schema and the totals pass; the window counts (hundreds of KB for
    // sample-data) are cut.
    let proxy = cutting_proxy(server, 64 * 1024);
    let a = analyze(&dataset, &out, &["--engine", &proxy]).code(7);
    let err = stderr_of(&a);
    assert!(err.contains(&proxy), "{err}");
    assert!(err.contains("failed"), "{err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert_untouched(&out, &before);
}

/// Writers that ingest their own shares into their own folders of one fleet folder: the
/// cluster reads them as one dataset, and counts what one ingest of everything counts.
#[test]
fn a_fleet_of_writers_is_one_dataset_for_the_cluster() {
    let Some(url) = spark("fleet") else { return };
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<_> = std::fs::read_dir(repo_path("sample-data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.extension().is_some_and(|x| x == "md" || x == "py"))
        .collect();
    assert!(files.len() >= 4);
    let fleet = dir.path().join("fleet");
    for (writer, share) in [("a", &files[..2]), ("b", &files[2..])] {
        ingest(share, &fleet.join(writer)).success();
    }
    let whole = dir.path().join("whole");
    ingest(&files, &whole).success();
    let (one, many) = (dir.path().join("one"), dir.path().join("many"));
    analyze(&whole, &one, &["--engine", &url]).success();
    analyze(&fleet, &many, &["--engine", &url]).success();
    let rates = "SELECT * FROM rates_long ORDER BY dimension, key, window_start";
    assert_eq!(query(&one, rates), query(&many, rates));
    let (a, b) = (summary(&one), summary(&many));
    for k in ["events", "errors", "incidents", "first_event", "last_event"] {
        assert_eq!(a[k], b[k], "{k}");
    }
}
