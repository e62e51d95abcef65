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

/// A CDN's log (Cloudflare Logpush fields) names no organisation: 60 failed logins from 30
/// addresses of one /24, two each, among normal traffic are one security incident on the
/// subnet, with its contributors and sample ids read from the addresses in it.
#[test]
fn an_attack_spread_over_a_subnet_without_organisations_is_the_subnets() {
    let tmp = errscope::testutil::tempdir().unwrap();
    let mut log = String::new();
    for i in 0..600 {
        log.push_str(&format!(
            "{{\"EdgeStartTimestamp\":\"2026-03-01T{:02}:{:02}:00Z\",\"EdgeResponseStatus\":200,\"ClientIP\":\"10.0.{}.{}\",\"ClientRequestURI\":\"/v1/items\",\"RayID\":\"r{i}\"}}\n",
            9 + i / 300,
            (i / 5) % 60,
            i % 50,
            i % 7
        ));
    }
    for i in 0..60 {
        log.push_str(&format!(
            "{{\"EdgeStartTimestamp\":\"2026-03-01T10:{:02}:{:02}Z\",\"EdgeResponseStatus\":401,\"ClientIP\":\"198.51.100.{}\",\"ClientRequestURI\":\"/v1/login\",\"RayID\":\"a{i}\",\"user\":\"u{i}\"}}\n",
            i / 6,
            (i * 10) % 60,
            10 + i % 30
        ));
    }
    let input = tmp.path().join("cf.ndjson");
    std::fs::write(&input, log).unwrap();
    let out = tmp.path().join("out");
    analyze(&input, &out, &["--fail-on", "security"]).code(5);
    let rows: Vec<csv::StringRecord> = csv::Reader::from_path(out.join("anomalies.csv"))
        .unwrap()
        .records()
        .map(Result::unwrap)
        .collect();
    // class 1, detector 3, dimension 4, key 5, events 8, contributors 14, samples 15.
    let hit: Vec<_> = rows
        .iter()
        .filter(|r| &r[3] == "credential_stuffing")
        .collect();
    assert_eq!(hit.len(), 1, "{rows:#?}");
    let r = hit[0];
    assert_eq!(
        (&r[1], &r[4], &r[5]),
        ("security", "ip_address", "198.51.100.0/24")
    );
    assert_eq!(&r[8], "60");
    assert!(r[14].contains("endpoint=/v1/login (100%)"), "{:?}", &r[14]);
    assert!(r[15].starts_with("a0 a1"), "{:?}", &r[15]);
}
