//! Detection on shapes the generator does not make: a handful of security events among
//! normal traffic is an incident of its own.

mod common;

use common::*;

/// Three `SECURITY_VIOLATION` events in a day of otherwise normal traffic raise a
/// security incident, and `--fail-on security` sees it.
#[test]
fn a_few_security_violations_are_a_security_incident() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let mut log = String::new();
    for i in 0..600 {
        log.push_str(&format!(
            "{{\"timestamp\":\"2024-03-05T{:02}:{:02}:00Z\",\"status\":200,\"connection_id\":\"c{}\",\"ip_address\":\"10.0.0.{}\"}}\n",
            8 + i / 60 % 10,
            i % 60,
            i % 7,
            i % 50
        ));
    }
    for (m, ip) in [
        (12, "198.51.100.23"),
        (14, "198.51.100.23"),
        (19, "198.51.100.24"),
    ] {
        log.push_str(&format!(
            "{{\"timestamp\":\"2024-03-05T13:{m:02}:30Z\",\"status\":403,\"error_code\":\"SECURITY_VIOLATION\",\"connection_id\":\"c3\",\"ip_address\":\"{ip}\"}}\n"
        ));
    }
    let input = tmp.path().join("a.ndjson");
    std::fs::write(&input, log).unwrap();
    let out = tmp.path().join("out");
    analyze(&input, &out, &["--fail-on", "security"]).code(5);
    let csv = std::fs::read_to_string(out.join("anomalies.csv")).unwrap();
    let rows: Vec<&str> = csv
        .lines()
        .filter(|l| l.contains("security_code") && l.contains("SECURITY_VIOLATION"))
        .collect();
    assert_eq!(rows.len(), 1, "one incident for the run of them: {csv}");
    assert!(rows[0].contains(",security,high,"), "{csv}");
    // Without them, nothing at security level.
    let quiet: String = std::fs::read_to_string(&input)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("SECURITY_VIOLATION"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&input, quiet).unwrap();
    analyze(
        &input,
        &tmp.path().join("quiet"),
        &["--fail-on", "security"],
    )
    .success();
}
