//! `errscope generate` feeds analysis: every injected incident of a mixed-shape export is
//! found on its own dimension and key, overlapping its true time span.

mod common;

use std::path::Path;

use common::*;

/// Runs `errscope generate <generate> --out <dir>/export`, then `analyze --json` on it into
/// `<dir>/out`; returns the export, the output folder and the summary.
fn generate_and_analyze(
    dir: &Path,
    generate: &[String],
) -> (std::path::PathBuf, std::path::PathBuf, serde_json::Value) {
    let export = dir.join("export");
    let out = dir.join("out");
    let args: Vec<&str> = generate.iter().map(String::as_str).collect();
    common::generate(&args, &export);
    let a = errscope()
        .args(["analyze", "--json"])
        .arg(&export)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let summary = serde_json::from_slice(&a.get_output().stdout).unwrap();
    (export, out, summary)
}

fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

#[test]
fn generated_incidents_are_found_by_analyze() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let (export, out, summary) = generate_and_analyze(
        tmp.path(),
        &args(&[
            "--records",
            "80000",
            "--days",
            "3",
            "--seed",
            "11",
            "--shape",
            "mixed",
            "--incidents",
        ]),
    );
    assert_eq!(
        summary["input"]["files"], 3,
        "truth.csv is not read as a log: {summary}"
    );
    assert_eq!(summary["input"]["quarantined"], 0);
    let found = read_csv(&out.join("anomalies.csv"));
    let truth = read_csv(&export.join("truth.csv"));
    assert_eq!(truth.len(), 7);
    // anomalies.csv: dimension 4, key 5, start 6, end 7; truth.csv: dimension 2, key 3, start 4, end 5.
    let day = |s: &str| s[..16].replace(' ', "T");
    for t in &truth {
        let hit = found.iter().any(|f| {
            f[4] == t[2] && f[5] == t[3] && day(&f[6]) < day(&t[5]) && day(&f[7]) >= day(&t[4])
        });
        assert!(hit, "not found: {t:?}\nfound: {found:#?}");
    }
    assert!(
        found.len() <= truth.len() + 4,
        "few unrelated incidents: {found:#?}"
    );
}

/// Regression (issue 29): a week of a fleet's mixed traffic paged about 30 incidents for 7
/// true ones (seed 004's per-hour code limits summed over the fleet every day, a standing
/// 1.1 % 5xx ratio as `critical`, a connection's reauthorization storm as three credential
/// stuffing incidents). Every true incident is found on its key with its class; at most two
/// others, each overlapping a true one (its symptom: a new code, the organisation of a
/// probing user).
#[test]
fn a_fleet_week_pages_for_its_incidents_only() {
    for records in ["200000", "2000000"] {
        let tmp = errscope::testutil::tempdir().unwrap();
        let (export, out, summary) = generate_and_analyze(
            tmp.path(),
            &args(&[
                "--records",
                records,
                "--days",
                "7",
                "--shape",
                "mixed",
                "--incidents",
            ]),
        );
        let found = read_csv(&out.join("anomalies.csv"));
        let truth = read_csv(&export.join("truth.csv"));
        assert_eq!(truth.len(), 7);
        let minute = |s: &str| s[..16].replace(' ', "T");
        // anomalies.csv: class 1, dimension 4, key 5, start 6, end 7; truth.csv: class 1,
        // dimension 2, key 3, start 4, end 5.
        let overlaps = |f: &csv::StringRecord, t: &csv::StringRecord| {
            minute(&f[6]) < minute(&t[5]) && minute(&f[7]) >= minute(&t[4])
        };
        let is_true = |f: &csv::StringRecord| {
            truth
                .iter()
                .any(|t| f[4] == t[2] && f[5] == t[3] && f[1] == t[1] && overlaps(f, t))
        };
        for t in &truth {
            assert!(
                found
                    .iter()
                    .any(|f| f[4] == t[2] && f[5] == t[3] && f[1] == t[1] && overlaps(f, t)),
                "{records}: not found: {t:?}\nfound: {found:#?}"
            );
        }
        let others: Vec<_> = found.iter().filter(|f| !is_true(f)).collect();
        assert!(others.len() <= 2, "{records}: {others:#?}");
        for o in &others {
            assert!(
                truth.iter().any(|t| overlaps(o, t)),
                "{records}: unexplained: {o:?}"
            );
        }
        assert_eq!(summary["incidents"].as_u64(), Some(found.len() as u64));
    }
}

fn read_csv(path: &std::path::Path) -> Vec<csv::StringRecord> {
    csv::Reader::from_path(path)
        .unwrap()
        .records()
        .map(Result::unwrap)
        .collect()
}

/// The second family: shapes the first was never tuned on (two weeks, quiet weekends,
/// ECS records, a heavy-tailed fleet). Every injected incident is found on the key a
/// person acts on, with its class; nothing is flagged on the benign surge, the new
/// connection or the weekends, and nothing else is flagged at all.
///
/// At two scales: at 2 M records a busy connector's egress addresses carry enough of its
/// users' expired tokens in ten minutes to look like a credential-stuffing burst (they
/// did, before the detector weighed their successes).
#[test]
fn seasonal_family_incidents_are_found_and_benign_cases_stay_quiet() {
    seasonal_family_at(250_000, 5);
    seasonal_family_at(2_000_000, 7);
}

fn seasonal_family_at(records: u64, seed: u64) {
    let tmp = errscope::testutil::tempdir().unwrap();
    let (records, seed) = (records.to_string(), seed.to_string());
    let (export, out, summary) = generate_and_analyze(
        tmp.path(),
        &args(&[
            "--family",
            "seasonal",
            "--records",
            &records,
            "--seed",
            &seed,
        ]),
    );
    assert_eq!(summary["input"]["files"], 14, "one file a day: {summary}");
    assert_eq!(summary["input"]["quarantined"], 0, "{summary}");
    // ECS fields land in their columns.
    let ev = read_events(&out);
    for col in [
        "request_id",
        "organization_id",
        "user_id",
        "ip_address",
        "endpoint",
    ] {
        assert_eq!(null_count(&ev, col), 0, "null {col}");
    }

    // anomalies.csv: class 1, detector 3, dimension 4, key 5, start 6, end 7.
    // truth.csv / benign.csv: kind 0, class 1, dimension 2, key 3, start 4, end 5.
    let found = read_csv(&out.join("anomalies.csv"));
    let truth = read_csv(&export.join("truth.csv"));
    let benign = read_csv(&export.join("benign.csv"));
    assert_eq!(truth.len(), 5);
    let minute = |s: &str| s[..16].replace(' ', "T");
    let overlaps = |f: &csv::StringRecord, t: &csv::StringRecord| {
        minute(&f[6]) < minute(&t[5]) && minute(&f[7]) >= minute(&t[4])
    };
    for t in &truth {
        let hit = found
            .iter()
            .any(|f| f[4] == t[2] && f[5] == t[3] && f[1] == t[1] && overlaps(f, t));
        assert!(hit, "{records}: not found: {t:?}\nfound: {found:#?}");
    }
    for b in &benign {
        let flagged: Vec<_> = found
            .iter()
            .filter(|f| b[2].is_empty() || (f[4] == b[2] && f[5] == b[3]))
            .filter(|f| overlaps(f, b))
            // A weekend is quiet unless an injected incident is in it.
            .filter(|f| {
                !truth
                    .iter()
                    .any(|t| f[4] == t[2] && f[5] == t[3] && overlaps(f, t))
            })
            .collect();
        assert!(
            flagged.is_empty(),
            "{records}: benign {b:?} flagged: {flagged:#?}"
        );
    }
    let unexplained: Vec<_> = found
        .iter()
        .filter(|f| !truth.iter().any(|t| overlaps(f, t)))
        .collect();
    assert!(
        unexplained.is_empty(),
        "{records}: flags outside every injected incident: {unexplained:#?}"
    );
}

/// Issue 27, install: shell completions and a manual page from the same flag definitions,
/// and the exit codes in `--help`, each as the program uses it.
#[test]
fn completions_man_page_and_exit_codes_in_help() {
    let out = |args: &[&str]| {
        let a = errscope().args(args).assert().success();
        String::from_utf8(a.get_output().stdout.clone()).unwrap()
    };
    let bash = out(&["completions", "bash"]);
    assert!(bash.contains("_errscope()"), "{bash}");
    for sub in ["analyze", "ingest", "query", "inspect", "generate"] {
        assert!(bash.contains(sub), "{sub} completes");
    }
    assert!(bash.contains("--fail-on"), "flags complete");
    assert!(out(&["completions", "zsh"]).starts_with("#compdef errscope"));
    assert!(out(&["completions", "fish"]).contains("complete -c errscope"));
    let man = out(&["man"]);
    assert!(man.contains(".TH errscope 1"), "{man}");
    assert!(man.contains("analyze"), "{man}");
    let help = out(&["--help"]);
    for code in [
        errscope::exit::Outcome::Ok,
        errscope::exit::Outcome::Failed,
        errscope::exit::Outcome::Usage,
        errscope::exit::Outcome::InputUnreadable,
        errscope::exit::Outcome::TooManyBadRecords,
        errscope::exit::Outcome::IncidentsFound,
        errscope::exit::Outcome::NoData,
    ] {
        let n = code as u8;
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{n}  "))),
            "exit code {n} in --help:\n{help}"
        );
    }
    let a = errscope().args(["completions", "tcsh"]).assert().code(2);
    assert!(!a.get_output().stderr.is_empty());
}
