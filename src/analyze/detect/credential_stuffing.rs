//! **credential_stuffing** (security): a burst of 401s from one IP address across many
//! distinct users: at least `min_failures` 401s and `min_users` users within
//! `window_minutes` (default 20 and 8 in 10 minutes).

use super::super::config::CredentialStuffingConfig;
use super::super::tables::Tables;
use super::window::{bursts, by_key};
use super::{Flag, Severity};

pub fn detect(t: &Tables, cfg: &CredentialStuffingConfig) -> Vec<Flag> {
    let mut out = Vec::new();
    if !cfg.enabled {
        return out;
    }
    let failures = t.auth_failures.iter().filter(|e| e.status() == 401);
    for (ip, events) in by_key(failures, |e| e.ip_address()) {
        for b in bursts(
            &events,
            cfg.window_minutes,
            cfg.min_failures,
            cfg.min_users,
            |e| e.user_id(),
        ) {
            let heavy = b.peak >= 5 * u64::from(cfg.min_failures)
                || b.peak_distinct >= 4 * u64::from(cfg.min_users);
            out.push(Flag {
                severity: if heavy {
                    Severity::High
                } else {
                    Severity::Medium
                },
                what: format!(
                    "failed logins (401) against {} distinct users, up to {} in {} min",
                    b.peak_distinct, b.peak, cfg.window_minutes
                ),
                ..b.flag(
                    "credential_stuffing",
                    "ip_address",
                    ip,
                    cfg.min_failures,
                    401,
                )
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::analyze::auth::AuthFailures;
    use crate::analyze::grid::MINUTE_US;
    use crate::analyze::tables::EventRow;

    fn failure(ts: i64, ip: &str, user: &str) -> EventRow {
        EventRow {
            ts,
            status: Some(401),
            ip_address: Some(ip.into()),
            user_id: Some(user.into()),
            ..Default::default()
        }
    }

    #[test]
    fn many_users_from_one_ip_fire_one_incident() {
        let mut t = tables(48, vec![]);
        let mut rows = Vec::new();
        for i in 0..60 {
            rows.push(failure(
                T0 + 60 * MINUTE_US + i * 10_000_000,
                "203.0.113.66",
                &format!("u{}", i % 30),
            ));
        }
        // Background: one user mistyping a password ten times, and scattered failures.
        for i in 0..10 {
            rows.push(failure(T0 + i * 20_000_000, "10.0.0.1", "alice"));
        }
        for i in 0..40 {
            rows.push(failure(
                T0 + i * 5 * MINUTE_US,
                &format!("10.1.0.{i}"),
                &format!("v{i}"),
            ));
        }
        t.auth_failures = AuthFailures::from_rows(&rows);
        let flags = detect(&t, &CredentialStuffingConfig::default());
        assert_eq!(flags.len(), 1, "{flags:?}");
        let f = &flags[0];
        assert_eq!(
            (f.dimension, f.key.as_str(), f.class),
            ("ip_address", "203.0.113.66", "security")
        );
        assert_eq!(f.events, 60);
        assert!(f.start >= T0 + 60 * MINUTE_US && f.end <= T0 + 71 * MINUTE_US);
    }

    #[test]
    fn slow_or_single_user_failures_are_not_stuffing() {
        let mut t = tables(48, vec![]);
        let mut rows = Vec::new();
        // 60 failures from one IP over 3 hours: never 20 in 10 minutes.
        for i in 0..60 {
            rows.push(failure(
                T0 + i * 3 * MINUTE_US,
                "198.51.100.1",
                &format!("u{i}"),
            ));
        }
        t.auth_failures = AuthFailures::from_rows(&rows);
        assert!(detect(&t, &CredentialStuffingConfig::default()).is_empty());
    }
}
