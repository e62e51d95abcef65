//! **permission_probing** (security): a burst of 403s (insufficient permissions) in one
//! organisation or from one user, across several endpoints: at least `min_denials` 403s on
//! `min_endpoints` distinct endpoints within `window_minutes` (default 15 on 3 in 10 min).

use super::super::auth::AuthEvent;
use super::super::config::PermissionProbingConfig;
use super::super::tables::Tables;
use super::window::{bursts, by_key};
use super::Flag;
use crate::analyze::{DetectorId, Dimension};

fn key_of<'a>(dimension: Dimension, e: &AuthEvent<'a>) -> Option<&'a str> {
    match dimension {
        Dimension::OrganizationId => e.organization_id(),
        Dimension::UserId => e.user_id(),
        Dimension::IpAddress => e.ip_address(),
        Dimension::ConnectionId => e.connection_id(),
        _ => None,
    }
}

pub fn detect(t: &Tables, cfg: &PermissionProbingConfig) -> Vec<Flag> {
    let mut out = Vec::new();
    if !cfg.enabled {
        return out;
    }
    for dim in &cfg.dimensions {
        let denials = t.auth_failures.iter().filter(|e| e.status() == 403);
        for (key, events) in by_key(denials, |e| key_of(*dim, e)) {
            for b in bursts(
                &events,
                cfg.window_minutes,
                cfg.min_denials,
                cfg.min_endpoints,
                |e| e.endpoint(),
            ) {
                out.push(Flag {
                    what: format!(
                        "permission denials (403) on {}, up to {} denials in {} min",
                        b.distinct_phrase("endpoints", cfg.window_minutes),
                        b.peak,
                        cfg.window_minutes
                    ),
                    ..b.flag(
                        DetectorId::PermissionProbing,
                        *dim,
                        key,
                        cfg.min_denials,
                        403,
                    )
                });
            }
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

    fn denial(ts: i64, org: &str, user: &str, ep: &str) -> EventRow {
        EventRow {
            ts,
            status: Some(403),
            organization_id: Some(org.into()),
            user_id: Some(user.into()),
            endpoint: Some(ep.into()),
            ..Default::default()
        }
    }

    #[test]
    fn a_user_walking_endpoints_is_flagged_on_user_and_org() {
        let mut t = tables(48, vec![]);
        let mut rows = Vec::new();
        for i in 0..30 {
            rows.push(denial(
                T0 + i * 15_000_000,
                "org_g",
                "mallory",
                &format!("/admin/{}", i % 6),
            ));
        }
        t.auth_failures = AuthFailures::from_rows(&rows);
        let flags = detect(&t, &PermissionProbingConfig::default());
        let keys: Vec<(&str, &str)> = flags
            .iter()
            .map(|f| (f.dimension.as_str(), f.key.as_str()))
            .collect();
        assert_eq!(
            keys,
            vec![("organization_id", "org_g"), ("user_id", "mallory")]
        );
        assert!(flags
            .iter()
            .all(|f| f.class == IncidentClass::Security && f.events == 30));
    }

    #[test]
    fn repeated_denials_on_one_endpoint_or_spread_out_are_normal() {
        let mut t = tables(48, vec![]);
        let mut rows = Vec::new();
        for i in 0..30 {
            rows.push(denial(T0 + i * 15_000_000, "org_a", "bob", "/reports"));
        }
        for i in 0..30 {
            rows.push(denial(
                T0 + i * 20 * MINUTE_US,
                "org_b",
                "eve",
                &format!("/x/{i}"),
            ));
        }
        t.auth_failures = AuthFailures::from_rows(&rows);
        assert!(detect(&t, &PermissionProbingConfig::default()).is_empty());
    }
}
