//! Runs that used to go wrong without a word: a closed stdout, an output folder that is an
//! input, runs without data, config rules that dropped the defaults, unknown output
//! extensions, skipped files nobody was told about, and rate tables that grew with the
//! number of client IPs.

mod common;

use std::path::Path;
use std::process::Stdio;

use common::*;

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// Runs errscope with the read end of its stdout closed at once, like `head` after its
/// line.
fn with_stdout_closed(args: impl FnOnce(&mut std::process::Command)) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_errscope"));
    args(&mut cmd);
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    child.wait_with_output().unwrap()
}

/// `errscope analyze ... | head -1`: the reader goes away before errscope prints. No panic,
/// and `--fail-on` still decides the exit code.
#[test]
fn a_closed_stdout_keeps_the_exit_code() {
    let tmp = errscope::testutil::tempdir().unwrap();
    for extra in [&[][..], &["--json"][..]] {
        let out = with_stdout_closed(|c| {
            c.args(["analyze", "--fail-on", "critical"])
                .args(extra)
                .arg(repo_path("sample-data"))
                .arg("--out")
                .arg(tmp.path().join("out"));
        });
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert_eq!(out.status.code(), Some(5), "{extra:?}: {stderr}");
    }
}

/// `errscope query ... | head -1` (issue 27): a closed stdout is success, silently, as in
/// ripgrep; it printed "Broken pipe" and exited 1 (Polars' CSV writer wraps the error).
#[test]
fn a_query_into_a_closed_pipe_is_a_quiet_success() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let out = tmp.path().join("out");
    analyze(&repo_path("sample-data"), &out, &[]).success();
    for format in ["csv", "json", "table"] {
        let done = with_stdout_closed(|c| {
            c.args(["query", "select * from events", "--format", format])
                .arg(&out);
        });
        let stderr = String::from_utf8_lossy(&done.stderr);
        assert_eq!(done.status.code(), Some(0), "{format}: {stderr}");
        assert!(stderr.is_empty(), "{format}: {stderr}");
    }
}

/// An input that is the output folder (or inside it) is refused before anything is
/// written: the previous results stay as they were.
#[test]
fn an_output_folder_that_is_an_input_is_refused_and_left_alone() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let out = tmp.path().join("out");
    analyze(&repo_path("sample-data"), &out, &[]).success();
    let before: Vec<(std::path::PathBuf, Vec<u8>)> = files_under(&out)
        .into_iter()
        .map(|p| (p.clone(), std::fs::read(out.join(&p)).unwrap()))
        .collect();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    for f in std::fs::read_dir(repo_path("sample-data")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, logs.join(f.file_name().unwrap())).unwrap();
    }
    let logs_before = files_under(&logs);
    // The folder itself, and a folder inside the output folder.
    let a = analyze(&logs, &logs, &[]).code(2);
    assert!(stderr_of(&a).contains("output folder"), "{}", stderr_of(&a));
    assert_eq!(
        files_under(&logs),
        logs_before,
        "nothing written into the logs"
    );
    std::fs::create_dir_all(out.join("new")).unwrap();
    std::fs::copy(
        repo_path("sample-data").join("nexla_api_errors.ndjson"),
        out.join("new/nexla_api_errors.ndjson"),
    )
    .unwrap();
    analyze(&out.join("new"), &out, &[]).code(2);
    errscope()
        .args(["ingest", "-q"])
        .arg(&logs)
        .arg("--out")
        .arg(&logs)
        .assert()
        .code(2);
    std::fs::remove_dir_all(out.join("new")).unwrap();
    for (p, bytes) in before {
        assert_eq!(
            std::fs::read(out.join(&p)).unwrap(),
            bytes,
            "{} changed",
            p.display()
        );
    }
}

/// Every way of ending up with no event exits 6 with its cause, and the report says "no
/// data" at the top instead of "no incident".
#[test]
fn runs_without_data_fail_and_say_why() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let d = tmp.path();
    write(
        &d.join("export.csv"),
        "timestamp,status,error_code\n2024-03-05T10:00:00Z,500,X\n",
    );
    write(&d.join("empty/.keep"), "");
    write(
        &d.join("wrapped.json"),
        r#"{"payload": {"rows": [{"when": "yesterday", "what": "AUTH_002"}]}}"#,
    );
    let cases: [(&[&str], &str, &str); 4] = [
        (&[], "export.csv", "quarantined"),
        (&[], "wrapped.json", "quarantined"),
        (&[], "empty", "no input file"),
        (
            &["--since", "2030-01-01"],
            "sample",
            "outside --since/--until",
        ),
    ];
    for (extra, input, cause) in cases {
        let input = if input == "sample" {
            repo_path("sample-data")
        } else {
            d.join(input)
        };
        let out = d.join(format!("out-{}", cause.len()));
        let a = analyze(&input, &out, extra).code(6);
        let err = stderr_of(&a);
        assert!(err.contains("no data") && err.contains(cause), "{err}");
        let html = std::fs::read_to_string(out.join("report.html")).unwrap();
        assert!(html.contains("No data."), "banner");
        assert!(html.contains(cause), "the cause is in the report");
        assert!(!html.contains("every detector's rule held"));
        let summary: serde_json::Value =
            serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
        assert!(
            summary["no_data"].as_str().unwrap().contains(cause),
            "{summary}"
        );
    }
    // The terminal too, and `ingest` alone.
    let a = errscope()
        .args(["analyze"])
        .arg(d.join("export.csv"))
        .arg("--out")
        .arg(d.join("o2"))
        .assert()
        .code(6);
    assert!(String::from_utf8_lossy(&a.get_output().stdout).contains("NO DATA"));
    errscope()
        .args(["ingest", "-q"])
        .arg(d.join("export.csv"))
        .arg("--out")
        .arg(d.join("o3"))
        .assert()
        .code(6);
    // A run with data is not affected.
    analyze(&repo_path("sample-data"), &d.join("ok"), &[]).success();
}

/// A config file with one threshold rule keeps the built-in rules (DOMAIN.md's per-hour
/// limits) unless it says `replace_defaults = true`.
#[test]
fn one_config_rule_keeps_the_default_rules() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let d = tmp.path();
    // 80 AUTH_003 (token expired) in one hour: over the built-in 50/h of one client
    // application's log (seed 004: no connection or organisation names another client),
    // spread over users and IPs so that no other detector explains them.
    let mut log = String::new();
    for i in 0..80 {
        log.push_str(&format!(
            "{{\"timestamp\":\"2024-03-05T10:{:02}:{:02}Z\",\"status\":401,\"error_code\":\"AUTH_003\",\"user_id\":\"u{i}\",\"ip_address\":\"198.51.100.{i}\"}}\n",
            i / 2 % 60,
            i % 60,
        ));
    }
    for i in 0..400 {
        log.push_str(&format!(
            "{{\"timestamp\":\"2024-03-05T{:02}:{:02}:00Z\",\"status\":200,\"user_id\":\"u{}\"}}\n",
            8 + i / 60 % 6,
            i % 60,
            i % 17
        ));
    }
    write(&d.join("logs/a.ndjson"), &log);
    let rule = "[[detectors.threshold.rules]]\ndimension = \"error_code\"\nkey = \"VAL_001\"\nmetric = \"errors\"\nabove = 5\n";
    write(&d.join("added.toml"), rule);
    write(
        &d.join("replaced.toml"),
        &format!("[detectors.threshold]\nreplace_defaults = true\n\n{rule}"),
    );
    let threshold_on_auth_003 = |config: &str| {
        let out = d.join(format!("out-{config}"));
        analyze(
            &d.join("logs"),
            &out,
            &["--config", d.join(config).to_str().unwrap()],
        )
        .success();
        std::fs::read_to_string(out.join("anomalies.csv"))
            .unwrap()
            .lines()
            .any(|l| l.contains(",threshold,") && l.contains("AUTH_003"))
    };
    assert!(
        threshold_on_auth_003("added.toml"),
        "the default rule stays"
    );
    assert!(
        !threshold_on_auth_003("replaced.toml"),
        "replace_defaults = true: only the given rules"
    );
}

/// `query --output` with an extension that names no format is refused, and nothing is
/// written; `--format` makes any name fine.
#[test]
fn query_output_extensions_must_name_a_format() {
    let tmp = errscope::testutil::tempdir().unwrap();
    for name in ["result.txt", "result"] {
        let path = tmp.path().join(name);
        let a = errscope()
            .args(["query", "SELECT count(*) AS n FROM events"])
            .arg(repo_path("sample-data"))
            .arg("--output")
            .arg(&path)
            .assert()
            .code(2);
        assert!(stderr_of(&a).contains("--format"), "{}", stderr_of(&a));
        assert!(!path.exists());
    }
    let path = tmp.path().join("result.txt");
    errscope()
        .args([
            "query",
            "SELECT count(*) AS n FROM events",
            "--format",
            "csv",
        ])
        .arg(repo_path("sample-data"))
        .arg("--output")
        .arg(&path)
        .assert()
        .success();
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().lines().next(),
        Some("n")
    );
}

/// Files a folder walk passes over are named on the terminal (and in the manifest).
#[test]
fn skipped_files_are_named_on_the_terminal() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let logs = tmp.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::copy(
        repo_path("sample-data").join("nexla_api_errors.ndjson"),
        logs.join("nexla_api_errors.ndjson"),
    )
    .unwrap();
    write(&logs.join("NOTES.md"), "# notes\n");
    write(&logs.join(".partial.ndjson"), "{}\n");
    write(&logs.join(".cache/x.ndjson"), "{}\n");
    let a = errscope()
        .args(["ingest"])
        .arg(&logs)
        .arg("--out")
        .arg(tmp.path().join("out"))
        .assert()
        .success();
    let err = stderr_of(&a);
    for name in ["NOTES.md", ".partial.ndjson", ".cache"] {
        assert!(
            err.lines()
                .any(|l| l.contains("skipped") && l.contains(name)),
            "{name}: {err}"
        );
    }
    let m = manifest(&tmp.path().join("out"));
    assert_eq!(m["skipped"].as_array().unwrap().len(), 3, "{m}");
}

/// Mostly distinct client IPs and users: the rate tables follow `[rates] max_keys`, not
/// the number of keys, every event is still counted once, and the attacker stays.
#[test]
fn rate_tables_stay_bounded_with_many_distinct_keys() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let data = tmp.path().join("data");
    generate(
        &[
            "--records",
            "120000",
            "--days",
            "1",
            "--seed",
            "5",
            "--incidents",
            "--high-cardinality",
        ],
        &data,
    );
    let out = tmp.path().join("out");
    let a = errscope()
        .args(["analyze", "--json"])
        .arg(data.join("errors.ndjson"))
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let summary: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    let ip = &summary["summarised"]["ip_address"];
    assert_eq!(ip["max_keys"], 2000, "{summary}");
    assert!(ip["keys_seen"].as_u64().unwrap() > 50_000, "{summary}");
    let windows = 24 * 12 + 1;
    let rows = read_rates(&out, "ip_address");
    assert!(
        rows.len() <= 2001 * windows,
        "{} rows: the table grew with the keys",
        rows.len()
    );
    let keys: std::collections::HashSet<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert!(keys.len() <= 2001, "{} keys", keys.len());
    assert!(keys.contains("(other)") && keys.contains("203.0.113.66"));
    // Nothing lost, nothing twice: the IP table's requests add up to every event with an
    // address, as in the events.
    let events = read_events(&out);
    let with_ip = row_count(&events) - null_count(&events, "ip_address");
    assert_eq!(rows.iter().map(|r| r.1).sum::<u64>(), with_ip as u64);
    assert!(rows.iter().all(|r| r.1 > 0), "summarised tables are sparse");
    // The credential stuffing from that address is still found.
    let csv = std::fs::read_to_string(out.join("anomalies.csv")).unwrap();
    assert!(
        csv.lines()
            .any(|l| l.contains("credential_stuffing") && l.contains("203.0.113.66")),
        "{csv}"
    );
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(
        html.contains("Summarised: ip_address"),
        "the report says so"
    );
}

/// (key, requests) of every row of `rates/<dimension>.csv`.
fn read_rates(out: &Path, dimension: &str) -> Vec<(String, u64)> {
    let mut r = csv::Reader::from_path(out.join(format!("rates/{dimension}.csv"))).unwrap();
    let headers = r.headers().unwrap().clone();
    let key = headers.iter().position(|h| h == dimension).unwrap();
    let requests = headers.iter().position(|h| h == "requests").unwrap();
    r.records()
        .map(|rec| {
            let rec = rec.unwrap();
            (rec[key].to_string(), rec[requests].parse().unwrap())
        })
        .collect()
}

/// A run killed mid-way (kill -9) leaves hidden temporaries in --out; the next run removes
/// those of processes no longer running, and its outputs are whole.
#[test]
fn the_next_run_sweeps_what_a_killed_run_left() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let out = tmp.path().join("out");
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    std::fs::create_dir_all(out.join(format!(".events.tmp-{dead}/day=2024-03-04"))).unwrap();
    std::fs::create_dir_all(out.join("charts")).unwrap();
    std::fs::write(out.join(format!(".quarantine.ndjson.tmp-{dead}")), "x").unwrap();
    std::fs::write(out.join(format!("charts/.timeline.png.tmp-{dead}")), "x").unwrap();
    errscope()
        .args(["analyze", "-q"])
        .arg(repo_path("sample-data"))
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let hidden: Vec<String> = files_under(&out)
        .iter()
        .map(|p| p.display().to_string())
        .filter(|p| p.split('/').any(|s| s.starts_with('.')))
        .collect();
    assert!(hidden.is_empty(), "left behind: {hidden:?}");
    assert!(!out.join(format!(".events.tmp-{dead}")).exists());
    assert!(out.join("report.html").is_file());
}

/// `--engine` takes `local` or a Spark Connect URL; anything else is a usage error, and so
/// is a Spark URL in a build without the Spark client (it says how to build one).
#[test]
fn engine_values_are_checked_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let a = analyze(&repo_path("sample-data"), &out, &["--engine", "spark"]).code(2);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(err.contains("sc://HOST:PORT"), "{err}");
    assert!(!out.exists(), "nothing written");
    if cfg!(not(feature = "spark")) {
        let a = analyze(
            &repo_path("sample-data"),
            &out,
            &["--engine", "sc://127.0.0.1:15002/;token=SECRET"],
        )
        .code(2);
        let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
        assert!(err.contains("--features spark"), "{err}");
        assert!(!err.contains("SECRET"), "{err}");
        assert!(!out.exists(), "nothing written");
    }
    // `local` is the default, said out loud.
    analyze(&repo_path("sample-data"), &out, &["--engine", "local"]).success();
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["engine"], "local");
}

/// The rate tables are written while the detectors run: when they cannot be written, the
/// run fails with that cause (not as a failed analysis), and puts no report in place.
#[test]
fn rate_tables_that_cannot_be_written_fail_the_run() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let out = tmp.path().join("out");
    // A file where the rates folder goes.
    write(&out.join("rates"), "not a folder");
    let run = analyze(&repo_path("sample-data"), &out, &[]).code(1);
    let err = String::from_utf8_lossy(&run.get_output().stderr).to_string();
    assert!(err.contains("cannot write the reports into"), "{err}");
    assert!(err.contains("rates"), "{err}");
    assert!(!err.contains("analysis of"), "{err}");
    assert!(
        !out.join("report.html").exists(),
        "no page without its rate tables"
    );
    assert!(!out.join("summary.json").exists());
}
