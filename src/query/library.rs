//! The investigator's library (`queries/`), built into the binary so that it travels with
//! it: `errscope query connection_health out/` runs the built-in query when no file of
//! that name is there, and `errscope query --list` names them.

/// (name, SQL) of every query in `queries/`.
pub const LIBRARY: &[(&str, &str)] = &[
    (
        "connection_health",
        include_str!("../../queries/connection_health.sql"),
    ),
    (
        "daily_summary",
        include_str!("../../queries/daily_summary.sql"),
    ),
    (
        "downstream_errors",
        include_str!("../../queries/downstream_errors.sql"),
    ),
    (
        "hourly_errors",
        include_str!("../../queries/hourly_errors.sql"),
    ),
    ("incident", include_str!("../../queries/incident.sql")),
    (
        "rate_limit_pressure",
        include_str!("../../queries/rate_limit_pressure.sql"),
    ),
    (
        "retryable_vs_fatal",
        include_str!("../../queries/retryable_vs_fatal.sql"),
    ),
    (
        "security_audit",
        include_str!("../../queries/security_audit.sql"),
    ),
    (
        "spike_drilldown",
        include_str!("../../queries/spike_drilldown.sql"),
    ),
    (
        "top_error_codes",
        include_str!("../../queries/top_error_codes.sql"),
    ),
];

/// The built-in query a name means: `connection_health`, `connection_health.sql` or
/// `queries/connection_health.sql`.
pub fn find(name: &str) -> Option<(&'static str, &'static str)> {
    let base = name.trim().rsplit(['/', '\\']).next().unwrap_or(name);
    let base = base.strip_suffix(".sql").unwrap_or(base);
    LIBRARY.iter().copied().find(|(n, _)| *n == base)
}

/// One line per query: its name and what its first comment line says.
pub fn list() -> String {
    let mut out = String::new();
    for (name, sql) in LIBRARY {
        let about = sql
            .lines()
            .find_map(|l| l.trim().strip_prefix("--"))
            .map(str::trim)
            .unwrap_or("");
        out += &format!("{name:<20} {about}\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_of_queries_is_built_in_and_found_by_name() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let names: Vec<String> = LIBRARY.iter().map(|(n, _)| format!("{n}.sql")).collect();
        assert_eq!(files, names, "a query file missing from LIBRARY");
        for q in [
            "connection_health",
            "connection_health.sql",
            "queries/connection_health.sql",
        ] {
            assert_eq!(find(q).map(|f| f.0), Some("connection_health"), "{q}");
        }
        assert!(find("no_such_query").is_none());
        assert!(list().lines().count() == LIBRARY.len());
    }
}
