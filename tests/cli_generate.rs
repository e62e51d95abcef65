//! `errscope generate` feeds analysis: every injected incident of a mixed-shape export is
//! found on its own dimension and key, overlapping its true time span.

mod common;

use common::*;

#[test]
fn generated_incidents_are_found_by_analyze() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let export = tmp.path().join("export");
    let out = tmp.path().join("out");
    errscope()
        .args([
            "generate",
            "--records",
            "80000",
            "--days",
            "3",
            "--seed",
            "11",
            "--shape",
            "mixed",
            "--incidents",
            "--out",
        ])
        .arg(&export)
        .assert()
        .success();
    let a = errscope()
        .args(["analyze", "--json"])
        .arg(&export)
        .arg("--out")
        .arg(&out)
        .assert()
        .success();
    let summary: serde_json::Value = serde_json::from_slice(&a.get_output().stdout).unwrap();
    assert_eq!(
        summary["input"]["files"], 3,
        "truth.csv is not read as a log: {summary}"
    );
    assert_eq!(summary["input"]["quarantined"], 0);
    let found: Vec<csv::StringRecord> = csv::Reader::from_path(out.join("anomalies.csv"))
        .unwrap()
        .records()
        .map(Result::unwrap)
        .collect();
    let truth: Vec<csv::StringRecord> = csv::Reader::from_path(export.join("truth.csv"))
        .unwrap()
        .records()
        .map(Result::unwrap)
        .collect();
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
