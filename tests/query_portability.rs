//! The files of `queries/` give the same rows on Apache DataFusion (the engine of Ballista)
//! as on errscope, over the events Parquet of sample-data: the queries are portable to an
//! engine that scales out.
//!
//! Needs a Python with the `datafusion` package: `ERRSCOPE_DATAFUSION_PYTHON` names it
//! (`.ci/run` makes a virtual environment and sets it); else `python3` is tried. Without
//! one the test says so and passes, unless `ERRSCOPE_REQUIRE_DATAFUSION` is set (CI sets it).

mod common;

use common::*;

fn python_with_datafusion() -> Option<String> {
    let candidates = std::env::var("ERRSCOPE_DATAFUSION_PYTHON")
        .into_iter()
        .chain(["python3".to_string()]);
    for py in candidates {
        let ok = std::process::Command::new(&py)
            .args(["-c", "import datafusion, pyarrow"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(py);
        }
    }
    None
}

#[test]
fn queries_give_the_same_results_on_datafusion() {
    let Some(py) = python_with_datafusion() else {
        assert!(
            std::env::var_os("ERRSCOPE_REQUIRE_DATAFUSION").is_none(),
            "ERRSCOPE_REQUIRE_DATAFUSION is set but no Python has the datafusion package"
        );
        eprintln!("SKIPPED: no Python with the datafusion package (pip install datafusion pyarrow, or set ERRSCOPE_DATAFUSION_PYTHON)");
        return;
    };
    let tmp = errscope::testutil::tempdir().unwrap();
    // An analyze output: events/ and the incidents beside them (queries/incident.sql).
    let ds = tmp.path().join("out");
    analyze(&repo_path("sample-data"), &ds, &[]).success();
    let id = first_incident_id(&ds);
    let cases = tmp.path().join("cases");
    std::fs::create_dir_all(&cases).unwrap();
    let mut n = 0;
    for e in std::fs::read_dir(repo_path("queries")).unwrap() {
        let q = e.unwrap().path();
        if q.extension().is_none_or(|x| x != "sql") {
            continue;
        }
        let name = q.file_stem().unwrap().to_string_lossy().to_string();
        // The SQL exactly as errscope runs it (defaults substituted), and errscope's result.
        let params: Vec<String> = match name.as_str() {
            "incident" => vec!["-p".into(), format!("id={id}")],
            _ => Vec::new(),
        };
        let sql = errscope()
            .arg("query")
            .arg(&q)
            .arg("--print-sql")
            .args(&params)
            .assert()
            .success();
        std::fs::write(cases.join(format!("{name}.sql")), &sql.get_output().stdout).unwrap();
        errscope()
            .arg("query")
            .arg(&q)
            .arg(&ds)
            .args(&params)
            .args(["--format", "ndjson", "--output"])
            .arg(cases.join(format!("{name}.ndjson")))
            .assert()
            .success();
        n += 1;
    }
    assert!(n >= 8);
    let r = std::process::Command::new(&py)
        .arg(repo_path("tests/portability/compare_datafusion.py"))
        .arg(ds.join("events"))
        .arg(&cases)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&r.stdout);
    eprintln!("{report}{}", String::from_utf8_lossy(&r.stderr));
    assert!(r.status.success(), "DataFusion disagrees:\n{report}");
    assert_eq!(
        report.matches("\nok   ").count() + usize::from(report.starts_with("ok   ")),
        n
    );
}
