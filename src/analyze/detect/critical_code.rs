//! **critical_code** (critical): any event of class `critical` (`AUTH_CRITICAL`,
//! `SYSTEM_FAILURE`, a CRITICAL log level, or a code listed in `[classes]`), and any code
//! listed in `[detectors.critical_code] codes`. One incident per code (a run of them, merged by the hold time).

use super::super::config::CriticalCodeConfig;
use super::super::dimension::Dimension;
use super::super::tables::Tables;
use super::window::by_key;
use super::{DetectorId, Flag, Focus, IncidentClass, Severity};

pub fn detect(t: &Tables, cfg: &CriticalCodeConfig) -> anyhow::Result<Vec<Flag>> {
    if cfg.disabled {
        return Ok(Vec::new());
    }
    let is_critical = |code: Option<&str>, class: Option<&str>| {
        class == Some("critical")
            || code.is_some_and(|c| cfg.codes.iter().any(|x| x.eq_ignore_ascii_case(c)))
    };
    each_event(
        t,
        DetectorId::CriticalCode,
        IncidentClass::Critical,
        "critical errors",
        is_critical,
    )
}

/// One flag per error event whose (code, class) `holds`, keyed by its code, for the
/// detectors that make every such event an incident (a run of them merges by the hold
/// time): `critical_code`, `security_code`.
pub(super) fn each_event(
    t: &Tables,
    detector: DetectorId,
    class: IncidentClass,
    what: &str,
    holds: impl Fn(Option<&str>, Option<&str>) -> bool,
) -> anyhow::Result<Vec<Flag>> {
    let mut out = Vec::new();
    // The error events come in input order; the flags are sorted when merged.
    let mut events = Vec::new();
    t.error_log.for_each(|_, e| {
        if holds(e.error_code.as_deref(), e.class.as_deref()) {
            events.push(e.clone());
        }
    })?;
    for (code, rows) in by_key(events.iter(), |e| e.error_code.as_deref()) {
        for e in rows {
            out.push(Flag {
                detector,
                class,
                severity: Severity::High,
                dimension: Dimension::ErrorCode,
                key: code.to_string(),
                start: e.ts,
                end: e.ts + 1,
                events: 1,
                value: 1.0,
                baseline: 0.0,
                threshold: 0.0,
                score: 1.0,
                what: what.into(),
                focus: Focus::Code(code.to_string()),
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::analyze::errlog::ErrorLog;

    #[test]
    fn every_critical_event_is_flagged_and_nothing_else() {
        let mut t = tables(10, vec![]);
        let ev = code_event;
        t.error_log = ErrorLog::from_rows(vec![
            ev(T0, "SYSTEM_FAILURE", "critical"),
            ev(T0 + 5, "AUTH_CRITICAL", "critical"),
            ev(T0 + 9, "DB_DOWN", "warning"),
        ]);
        let flags = detect(&t, &CriticalCodeConfig::default()).unwrap();
        let keys: Vec<&str> = flags.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(keys, vec!["AUTH_CRITICAL", "SYSTEM_FAILURE"]);
        let cfg = CriticalCodeConfig {
            codes: vec!["db_down".into()],
            ..Default::default()
        };
        assert_eq!(detect(&t, &cfg).unwrap().len(), 3);
        assert!(detect(&tables(10, vec![]), &cfg).unwrap().is_empty());
    }
}
