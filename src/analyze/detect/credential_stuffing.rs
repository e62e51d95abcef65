//! **credential_stuffing** (security): a burst of 401s from one IP address across many
//! distinct users: at least `min_failures` 401s and `min_users` users within
//! `window_minutes` (default 20 and 8 in 10 minutes). An attack spread over many
//! addresses, none of which alone crosses those limits, is found on the organisation it
//! targets: the same burst from at least `min_addresses` (3) addresses of one /24 (IPv6:
//! /64) against one organisation, the subnet named. Where the records name no
//! organisation (a CDN's or gateway's log), the incident is the subnet's own
//! (`ip_address` = `198.51.100.0/24`).
//!
//! Addresses that mostly succeed are not an attack: where the export logs successes, a
//! burst whose addresses made more successful requests over it than it holds failures
//! (a busy connector's egress addresses, an office's NAT, with their users' expired
//! tokens) is left out. The successes are read from the `ip_address` rate table, so an
//! address folded into `(other)` of a summarised dimension counts none.
//!
//! One integration's credentials failing is not a spread attack either: a subnet's burst
//! whose failures come mostly (`one_connection_share`, 80 %) through one connection is
//! that connection's egress addresses with its users' expired tokens, needing
//! reauthorization (seed 000): the `reauthorization` detector's incident. (One address
//! trying many users in minutes stays an attack whatever connection it goes through.)

use super::super::auth::AuthEvent;
use super::super::config::CredentialStuffingConfig;
use super::super::tables::Tables;
use super::window::{bursts, by_key, Burst};
use super::{Flag, Severity};
use crate::analyze::{DetectorId, Dimension};
use std::collections::HashMap;

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
            if mostly_succeeding(t, &[ip], &b) {
                continue;
            }
            let heavy = b.peak >= 5 * u64::from(cfg.min_failures)
                || b.peak_distinct >= 4 * u64::from(cfg.min_users);
            out.push(Flag {
                severity: if heavy {
                    Severity::High
                } else {
                    Severity::Medium
                },
                what: format!(
                    "failed logins (401) against {}, up to {} failures in {} min",
                    b.distinct_phrase("users", cfg.window_minutes),
                    b.peak,
                    cfg.window_minutes
                ),
                ..b.flag(
                    DetectorId::CredentialStuffing,
                    Dimension::IpAddress,
                    ip,
                    cfg.min_failures,
                    401,
                )
            });
        }
    }
    spread_over_a_subnet(t, cfg, &mut out);
    out
}

/// Whether `addresses` made more successful requests over the burst's windows than the
/// burst holds failures (only where the export logs successes; an address without a series
/// of its own counts none).
fn mostly_succeeding(t: &Tables, addresses: &[&str], b: &Burst) -> bool {
    if !t.has_successes {
        return false;
    }
    let Some(dim) = t.dim(Dimension::IpAddress) else {
        return false;
    };
    let g = &t.grid;
    let (Some(lo), Some(hi)) = (g.index(b.start), g.index(b.end - 1)) else {
        return false;
    };
    let mut successes = 0u64;
    for a in addresses {
        if let Ok(k) = dim.series.binary_search_by(|s| s.key.as_str().cmp(a)) {
            let counts = &dim.series[k].counts;
            for i in lo..=hi.min(counts.len().saturating_sub(1)) {
                let c = counts.get(i);
                successes += u64::from(c.requests.saturating_sub(c.errors));
            }
        }
    }
    successes > b.events
}

/// Whether one connection carries at least `one_connection_share` of the burst's failures.
fn one_connection(events: &[AuthEvent<'_>], b: &Burst, cfg: &CredentialStuffingConfig) -> bool {
    let mut per_conn: HashMap<&str, u64> = HashMap::new();
    let mut n = 0u64;
    for e in events
        .iter()
        .filter(|e| e.ts() >= b.start && e.ts() < b.end)
    {
        n += 1;
        if let Some(c) = e.connection_id() {
            *per_conn.entry(c).or_insert(0) += 1;
        }
    }
    let top = per_conn.values().copied().max().unwrap_or(0);
    n > 0 && top as f64 >= cfg.one_connection_share * n as f64
}

/// The /24 of an IPv4 address, the /64 of an IPv6 one.
pub fn subnet(ip: &str) -> Option<String> {
    match ip.parse::<std::net::IpAddr>().ok()? {
        std::net::IpAddr::V4(v4) => {
            let o = v4.octets();
            Some(format!("{}.{}.{}.0/24", o[0], o[1], o[2]))
        }
        std::net::IpAddr::V6(v6) => {
            let s = v6.segments();
            Some(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
        }
    }
}

/// 401 bursts per (organisation, subnet) from at least `min_addresses` addresses.
fn spread_over_a_subnet(t: &Tables, cfg: &CredentialStuffingConfig, out: &mut Vec<Flag>) {
    use std::collections::{BTreeMap, HashSet};
    // Records without an organisation (a CDN's or gateway's log) are grouped by subnet
    // alone, and the incident is the subnet's.
    let mut groups: BTreeMap<(Option<&str>, String), Vec<_>> = BTreeMap::new();
    for e in t.auth_failures.iter().filter(|e| e.status() == 401) {
        if let Some(net) = e.ip_address().and_then(subnet) {
            groups
                .entry((e.organization_id(), net))
                .or_default()
                .push(e);
        }
    }
    for ((org, net), mut events) in groups {
        events.sort_by_key(|e| e.ts());
        for b in bursts(
            &events,
            cfg.window_minutes,
            cfg.min_failures,
            cfg.min_users,
            |e| e.user_id(),
        ) {
            let addresses: HashSet<&str> = events
                .iter()
                .filter(|e| e.ts() >= b.start && e.ts() < b.end)
                .filter_map(|e| e.ip_address())
                .collect();
            if (addresses.len() as u32) < cfg.min_addresses.max(2) {
                continue; // one address: the per-address rule reports it
            }
            let list: Vec<&str> = addresses.iter().copied().collect();
            if mostly_succeeding(t, &list, &b) || one_connection(&events, &b, cfg) {
                continue;
            }
            let (dimension, key) = match org {
                Some(org) => (Dimension::OrganizationId, org),
                None => (Dimension::IpAddress, net.as_str()),
            };
            out.push(Flag {
                severity: Severity::High,
                what: format!(
                    "failed logins (401) from {} addresses of {net} against {}, up to {} failures in {} min",
                    addresses.len(),
                    b.distinct_phrase("users", cfg.window_minutes),
                    b.peak,
                    cfg.window_minutes
                ),
                ..b.flag(DetectorId::CredentialStuffing, dimension, key, cfg.min_failures, 401)
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use crate::analyze::auth::AuthFailures;
    use crate::analyze::grid::MINUTE_US;
    use crate::analyze::tables::{DimTable, EventRow};

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
            (f.dimension.as_str(), f.key.as_str(), f.class.as_str()),
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

    /// 60 failed logins in 10 minutes against one organisation from 30 addresses of one
    /// /24, two each: no address crosses the per-address limit, the organisation's
    /// incident names the subnet. The organisation's normal failures from its users'
    /// scattered addresses are not an attack.
    #[test]
    fn an_attack_spread_over_a_subnet_is_found_on_the_organisation() {
        let mut t = tables(48, vec![]);
        let org = |mut e: EventRow, o: &str| {
            e.organization_id = Some(o.into());
            e
        };
        let mut rows = Vec::new();
        for i in 0..60 {
            rows.push(org(
                failure(
                    T0 + 60 * MINUTE_US + i * 10_000_000,
                    &format!("198.51.100.{}", 10 + i % 30),
                    &format!("u{}", i % 40),
                ),
                "org_acme",
            ));
        }
        // Background: 40 failures of 40 users from 40 subnets over the same 10 minutes.
        for i in 0..40 {
            rows.push(org(
                failure(
                    T0 + 60 * MINUTE_US + i * 15_000_000,
                    &format!("10.{i}.0.7"),
                    &format!("v{i}"),
                ),
                "org_other",
            ));
        }
        rows.sort_by_key(|r| r.ts);
        t.auth_failures = AuthFailures::from_rows(&rows);
        let flags = detect(&t, &CredentialStuffingConfig::default());
        assert_eq!(flags.len(), 1, "{flags:?}");
        let f = &flags[0];
        assert_eq!(
            (f.dimension.as_str(), f.key.as_str(), f.class.as_str()),
            ("organization_id", "org_acme", "security")
        );
        assert!(
            f.what.contains("30 addresses of 198.51.100.0/24"),
            "{}",
            f.what
        );
        assert_eq!(f.events, 60);
    }

    /// A gateway's log names no organisation: the spread attack is the subnet's.
    #[test]
    fn without_an_organisation_the_subnet_is_the_key() {
        let rows: Vec<EventRow> = (0..60)
            .map(|i| {
                failure(
                    T0 + 60 * MINUTE_US + i * 10_000_000,
                    &format!("198.51.100.{}", 10 + i % 30),
                    &format!("u{i}"),
                )
            })
            .collect();
        let mut t = tables(48, vec![]);
        t.auth_failures = AuthFailures::from_rows(&rows);
        let flags = detect(&t, &CredentialStuffingConfig::default());
        assert_eq!(flags.len(), 1, "{flags:?}");
        assert_eq!(
            (flags[0].dimension.as_str(), flags[0].key.as_str()),
            ("ip_address", "198.51.100.0/24")
        );
    }

    /// A busy connector's three egress addresses carry its users' expired tokens: a burst
    /// of 401s over many users, but far more successes over the same minutes. Not an
    /// attack; the same burst from addresses with no successes is.
    #[test]
    fn addresses_that_mostly_succeed_are_not_stuffing() {
        let rows: Vec<EventRow> = (0..30)
            .map(|i| {
                let mut e = failure(
                    T0 + 60 * MINUTE_US + i * 20_000_000,
                    &format!("172.17.0.{}", 2 + i % 3),
                    &format!("user-{i}"),
                );
                e.organization_id = Some("tenant-wonka".into());
                e
            })
            .collect();
        let busy = |ip: &str| {
            let buckets: Vec<(u32, u32, u32)> = (0..48).map(|_| (400, 4, 0)).collect();
            series(ip, &buckets)
        };
        let ips = DimTable {
            dimension: Dimension::IpAddress,
            series: vec![busy("172.17.0.2"), busy("172.17.0.3"), busy("172.17.0.4")],
            summary: None,
        };
        let mut t = tables(48, vec![ips]);
        t.auth_failures = AuthFailures::from_rows(&rows);
        let flags = detect(&t, &CredentialStuffingConfig::default());
        assert!(flags.is_empty(), "{flags:?}");
        // Without those successes the same burst is found on the organisation.
        let mut t = tables(48, vec![]);
        t.auth_failures = AuthFailures::from_rows(&rows);
        let flags = detect(&t, &CredentialStuffingConfig::default());
        assert!(
            flags
                .iter()
                .any(|f| f.dimension == Dimension::OrganizationId),
            "{flags:?}"
        );
    }

    /// Regression (issue 29): a connection's reauthorization storm (its users' expired
    /// tokens through its own egress addresses in one /24) was reported as credential
    /// stuffing on the organisation, three times.
    #[test]
    fn a_subnet_burst_through_one_connection_is_its_reauthorization() {
        let burst = |conn: &dyn Fn(i64) -> String| -> Vec<EventRow> {
            (0..60)
                .map(|i| EventRow {
                    connection_id: Some(conn(i).as_str().into()),
                    organization_id: Some("org_2".into()),
                    ..failure(
                        T0 + 60 * MINUTE_US + i * 10_000_000,
                        &format!("10.2.1.{}", 10 + i % 20),
                        &format!("u{i}"),
                    )
                })
                .collect()
        };
        let mut t = tables(48, vec![]);
        t.auth_failures = AuthFailures::from_rows(&burst(&|i| {
            if i % 20 == 0 {
                "conn_other"
            } else {
                "conn_netsuite_2"
            }
            .to_string()
        }));
        let flags = detect(&t, &CredentialStuffingConfig::default());
        assert!(flags.is_empty(), "95 % through one connection: {flags:?}");
        // The same burst spread over the organisation's many connections is the attack.
        let mut t = tables(48, vec![]);
        t.auth_failures = AuthFailures::from_rows(&burst(&|i| format!("c{}", i % 7)));
        let flags = detect(&t, &CredentialStuffingConfig::default());
        assert_eq!(flags.len(), 1, "{flags:?}");
        assert_eq!(flags[0].dimension, Dimension::OrganizationId);
    }
}
