//! **security_code** (security): any event of class `security` (`SECURITY_VIOLATION`, a
//! code listed in `[classes] security_codes`) is an incident in its own right, as a
//! critical code is: a few `SECURITY_VIOLATION` events are an attack or a breach, not a
//! rate to wait on. The codes another detector already follows are left to it
//! (`[detectors.security_code] followed_elsewhere`, default `AUTH_002`: DOMAIN.md's 10
//! per hour threshold and credential stuffing; `AUTH_004`: permission probing, 403s being
//! a normal part of traffic). One incident per code (a run of events, merged by the hold
//! time).

use super::super::config::SecurityCodeConfig;
use super::super::tables::Tables;
use super::critical_code::each_event;
use super::Flag;
use crate::analyze::{DetectorId, IncidentClass};

pub fn detect(t: &Tables, cfg: &SecurityCodeConfig) -> anyhow::Result<Vec<Flag>> {
    if !cfg.enabled {
        return Ok(Vec::new());
    }
    let followed = |code: &str| {
        cfg.followed_elsewhere
            .iter()
            .any(|c| c.eq_ignore_ascii_case(code))
    };
    each_event(
        t,
        DetectorId::SecurityCode,
        IncidentClass::Security,
        "security errors",
        |code, class| class == Some("security") && code.is_some_and(|c| !followed(c)),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::analyze::errlog::ErrorLog;

    #[test]
    fn security_events_are_flagged_unless_another_detector_follows_them() {
        let mut t = tables(10, vec![]);
        let ev = code_event;
        t.error_log = ErrorLog::from_rows(vec![
            ev(T0, "SECURITY_VIOLATION", "security"),
            ev(T0 + 5, "SECURITY_VIOLATION", "security"),
            ev(T0 + 6, "AUTH_002", "security"),
            ev(T0 + 7, "AUTH_004", "security"),
            ev(T0 + 8, "IP_BLOCKED", "security"),
            ev(T0 + 9, "VAL_001", "warning"),
        ]);
        let flags = detect(&t, &SecurityCodeConfig::default()).unwrap();
        let keys: Vec<&str> = flags.iter().map(|f| f.key.as_str()).collect();
        assert_eq!(
            keys,
            ["IP_BLOCKED", "SECURITY_VIOLATION", "SECURITY_VIOLATION"]
        );
        assert!(flags.iter().all(|f| f.class == IncidentClass::Security));
        let off = SecurityCodeConfig {
            enabled: false,
            ..Default::default()
        };
        assert!(detect(&t, &off).unwrap().is_empty());
    }
}
