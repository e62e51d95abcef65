//! `errscope generate --family seasonal`: a second family of exports, written to differ
//! from the first in every way a detector could have been tuned to: two weeks from a
//! Monday with quiet weekends (30 % of a weekday) and a two-humped working day, Elastic
//! Common Schema records (nested `http.response.status_code`, `labels.connection_id`,
//! `organization.id`), other code names, a heavy-tailed fleet (the largest connection
//! carries 40 times the smallest's traffic) whose connectors also poll every ten minutes
//! around the clock, as scheduled syncs do.
//!
//! Incidents as they happen outside a generator's first idea of them, each in
//! `truth.csv`:
//! - a credential-stuffing attack spread over 60 addresses of one /24 against one tenant,
//!   no address above a handful of attempts, on a Saturday night;
//! - a small connection down for three quiet hours of a Sunday night (its polls and their
//!   retries all 503);
//! - a slow ramp: a connection's upstream errors rising from 0.3 % to 45 % over eight
//!   hours;
//! - a rate-limit storm, nearly all of it one connection's;
//! - four `SECURITY_VIOLATION` events on a Saturday afternoon.
//!
//! And what must not be flagged (`benign.csv`): a surge of five times a connection's
//! traffic whose error mix is unchanged, a connection that first appears in the second
//! week, and the weekends themselves.

use std::io::Write;

use anyhow::Context;

use super::{json_str, rfc3339_ms, GenerateOptions, Generated, Rng, Truth};
use crate::report::atomic::{write_file, AtomicFile};

/// 2024-03-04T00:00:00Z, a Monday.
pub const START_S: i64 = 1_709_510_400;
/// Days generated, whatever `--days` says below it: two weeks.
pub const MIN_DAYS: u32 = 14;

const PRODUCTS: [&str; 10] = [
    "shopify", "stripe", "slack", "jira", "github", "okta", "workday", "marketo", "intercom",
    "twilio",
];
const TENANTS: [&str; 8] = [
    "acme", "globex", "initech", "umbrella", "hooli", "vandelay", "wonka", "stark",
];
/// Connections of the first week; one more appears in the second.
const CONNS: usize = 40;
const NEW_CONN: usize = CONNS;
const NEW_CONN_DAY: i64 = 7;

const STORM_CONN: usize = 0;
const SURGE_CONN: usize = 1;
const RAMP_CONN: usize = 2;
const VIOLATION_CONN: usize = 5;
const QUIET_CONN: usize = CONNS - 1;
const STUFFED_TENANT: usize = 3;
const ATTACK_NET: &str = "45.155.205";
const VIOLATION_USER: &str = "svc-export-7";

/// (day, hour, minute) from the Monday the export starts.
type At = (i64, i64, i64);
const STUFFING: (At, At) = ((5, 1, 0), (5, 2, 30));
const QUIET_OUTAGE: (At, At) = ((6, 2, 0), (6, 5, 0));
const RAMP: (At, At) = ((8, 6, 0), (8, 14, 0));
const SURGE: (At, At) = ((10, 10, 0), (10, 13, 0));
const STORM: (At, At) = ((11, 13, 0), (11, 14, 0));
const VIOLATIONS: [At; 4] = [(12, 15, 10), (12, 15, 17), (12, 15, 25), (12, 15, 38)];

fn minute_of((d, h, m): At) -> i64 {
    (d * 24 + h) * 60 + m
}

fn ms_of_minute(m: i64) -> i64 {
    (START_S + m * 60) * 1000
}

fn inside(m: i64, (from, to): (At, At)) -> bool {
    (minute_of(from)..minute_of(to)).contains(&m)
}

fn conn_name(i: usize) -> String {
    if i == NEW_CONN {
        return "cn-zapier-new1".into();
    }
    format!(
        "cn-{}-{:04x}",
        PRODUCTS[i % PRODUCTS.len()],
        (i * 7919 + 0x3a1) & 0xffff
    )
}

fn tenant_of(conn: usize) -> usize {
    (conn * 5 + 1) % TENANTS.len()
}

/// Zipf: the i-th connection carries 1 / (i + 1) of the largest's traffic; the new one
/// is as busy as the fifth.
fn conn_weight(i: usize) -> f64 {
    if i == NEW_CONN {
        return 0.2;
    }
    1.0 / (i as f64 + 1.0)
}

/// Two humps (10:00 and 15:00 UTC) over a night floor.
fn hour_weight(hour: i64) -> f64 {
    let h = hour as f64;
    0.12 + 0.9 * (-((h - 10.0).powi(2)) / 6.0).exp() + 0.8 * (-((h - 15.0).powi(2)) / 5.0).exp()
}

fn day_weight(day: i64) -> f64 {
    if day % 7 >= 5 {
        0.3
    } else {
        1.0
    }
}

/// (weight per 10,000, status, code, message): 3 % errors, 0.35 % upstream.
type Outcome = (u32, u16, &'static str, &'static str);
const MIX: [Outcome; 10] = [
    (9_670, 200, "", ""),
    (80, 400, "INVALID_REQUEST", "request body failed validation"),
    (60, 401, "TOKEN_EXPIRED", "access token has expired"),
    (20, 403, "FORBIDDEN", "scope does not allow this operation"),
    (90, 404, "NOT_FOUND", "no such object"),
    (15, 429, "RATE_LIMITED", "too many requests"),
    (20, 500, "INTERNAL", "unexpected upstream failure"),
    (
        10,
        502,
        "UPSTREAM_BAD_GATEWAY",
        "upstream returned an invalid response",
    ),
    (5, 503, "SERVICE_UNAVAILABLE", "upstream unavailable"),
    (30, 404, "NOT_FOUND", "no such object"),
];
const PATHS: [&str; 6] = [
    "/v2/records",
    "/v2/records/batch",
    "/v2/schema",
    "/v2/files",
    "/v2/webhooks",
    "/v2/search",
];

struct Rec {
    ts_ms: i64,
    status: u16,
    code: &'static str,
    message: &'static str,
    conn: Option<usize>,
    tenant: usize,
    user: String,
    ip: String,
    method: &'static str,
    path: &'static str,
    id: u64,
}

impl Rec {
    /// The record as an ECS document on one line.
    fn ecs(&self) -> String {
        let outcome = if self.status < 400 {
            "success"
        } else {
            "failure"
        };
        let mut s = format!(
            "{{\"@timestamp\":\"{}\",\"event\":{{\"dataset\":\"gateway.access\",\"outcome\":\"{outcome}\"}},\"http\":{{\"request\":{{\"id\":\"{:016x}\",\"method\":\"{}\"}},\"response\":{{\"status_code\":{}}}}},\"url\":{{\"path\":\"{}\"}},\"client\":{{\"ip\":\"{}\"}},\"user\":{{\"id\":{}}},\"organization\":{{\"id\":\"tenant-{}\"}}",
            rfc3339_ms(self.ts_ms),
            self.id,
            self.method,
            self.status,
            self.path,
            self.ip,
            json_str(&self.user),
            TENANTS[self.tenant],
        );
        if let Some(c) = self.conn {
            s += &format!(",\"labels\":{{\"connection_id\":\"{}\"}}", conn_name(c));
        }
        if !self.code.is_empty() {
            s += &format!(
                ",\"error\":{{\"code\":\"{}\",\"message\":{}}}",
                self.code,
                json_str(self.message)
            );
        }
        s += "}\n";
        s
    }
}

fn pick_outcome(rng: &mut Rng) -> Outcome {
    let mut pick = rng.below(10_000) as u32;
    for o in MIX {
        if pick < o.0 {
            return o;
        }
        pick -= o.0;
    }
    MIX[0]
}

fn normal(rng: &mut Rng, minute_ms: i64, conn: usize) -> Rec {
    let (_, status, code, message) = pick_outcome(rng);
    let tenant = tenant_of(conn);
    Rec {
        ts_ms: minute_ms + rng.below(60_000) as i64,
        status,
        code,
        message,
        conn: Some(conn),
        tenant,
        user: format!("{}-{}@{}.example", "user", rng.below(60), TENANTS[tenant]),
        ip: format!("172.{}.{}.{}", 16 + conn % 16, conn / 16, 2 + rng.below(3)),
        method: if rng.below(3) == 0 { "POST" } else { "GET" },
        path: PATHS[rng.below(PATHS.len() as u64) as usize],
        id: rng.next(),
    }
}

/// Writes the seasonal export (`gateway-<date>.ndjson`, one file a day) with truth.csv
/// and benign.csv.
pub fn generate(opts: &GenerateOptions) -> anyhow::Result<Generated> {
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("cannot create {}", opts.out.display()))?;
    let days = i64::from(opts.days.max(MIN_DAYS));
    let mut rng = Rng(opts.seed ^ 0x7365_6173_6f6e_616c);
    let minutes = days * 1440;
    let polls_per_day = 144.0 * (CONNS as f64 + 0.5);
    let browsing = (opts.records as f64 - polls_per_day * days as f64).max(days as f64 * 1440.0);
    let total_weight: f64 = (0..minutes)
        .map(|m| hour_weight((m / 60) % 24) * day_weight(m / 1440))
        .sum();
    let per_weight = browsing / total_weight;
    let weights: Vec<f64> = (0..=NEW_CONN).map(conn_weight).collect();
    let weight_sum_old: f64 = weights[..CONNS].iter().sum();

    let mut written = 0u64;
    let mut files = Vec::new();
    let mut carry = 0.0;
    let mut events = [0u64; 5];
    let mut attempt = 0u64;
    let mut day_file: Option<AtomicFile> = None;
    let mut recs: Vec<Rec> = Vec::new();
    for m in 0..minutes {
        let day = m / 1440;
        let hour = (m / 60) % 24;
        if m % 1440 == 0 {
            if let Some(f) = day_file.take() {
                files.push(f.commit()?);
            }
            let date = chrono::DateTime::from_timestamp(START_S + day * 86_400, 0)
                .map_or_else(|| day.to_string(), |d| d.format("%Y-%m-%d").to_string());
            let path = opts.out.join(format!("gateway-{date}.ndjson"));
            day_file = Some(
                AtomicFile::create(&path)
                    .with_context(|| format!("cannot write {}", path.display()))?,
            );
        }
        let minute_ms = ms_of_minute(m);
        let live = if day >= NEW_CONN_DAY {
            NEW_CONN + 1
        } else {
            CONNS
        };
        let weight_sum = weight_sum_old + if live > CONNS { weights[NEW_CONN] } else { 0.0 };
        recs.clear();
        carry += per_weight * hour_weight(hour) * day_weight(day);
        let n = carry.floor() as u64;
        carry -= n as f64;
        for _ in 0..n {
            let mut x = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * weight_sum;
            let mut conn = live - 1;
            for (i, w) in weights[..live].iter().enumerate() {
                if x < *w {
                    conn = i;
                    break;
                }
                x -= w;
            }
            recs.push(normal(&mut rng, minute_ms, conn));
        }
        // Scheduled syncs: every connection polls once every ten minutes, day and night.
        for conn in 0..live {
            if m % 10 == (conn % 10) as i64 {
                let mut r = normal(&mut rng, minute_ms, conn);
                r.path = "/v2/sync/status";
                r.method = "GET";
                recs.push(r);
            }
        }
        // Benign: five times the surging connection's traffic, the same mix.
        if inside(m, SURGE) {
            let own = recs.iter().filter(|r| r.conn == Some(SURGE_CONN)).count();
            let expected =
                (per_weight * hour_weight(hour) * weights[SURGE_CONN] / weight_sum).ceil() as usize;
            for _ in 0..4 * own.max(expected) {
                recs.push(normal(&mut rng, minute_ms, SURGE_CONN));
            }
        }
        // The quiet outage: every call of the small connection fails, and is retried twice.
        if inside(m, QUIET_OUTAGE) {
            let mut retries = Vec::new();
            for r in recs.iter_mut().filter(|r| r.conn == Some(QUIET_CONN)) {
                (r.status, r.code, r.message) =
                    (503, "SERVICE_UNAVAILABLE", "upstream unavailable");
                events[1] += 3;
                for delay in [2_000, 6_000] {
                    retries.push(Rec {
                        ts_ms: r.ts_ms + delay,
                        id: rng.next(),
                        user: r.user.clone(),
                        ip: r.ip.clone(),
                        ..*r
                    });
                }
            }
            recs.extend(retries);
        }
        // The slow ramp: upstream errors from 0.3 % to 45 % of the connection's calls.
        if inside(m, RAMP) {
            let frac =
                (m - minute_of(RAMP.0)) as f64 / (minute_of(RAMP.1) - minute_of(RAMP.0)) as f64;
            let p = 0.003 + 0.447 * frac;
            for r in recs.iter_mut().filter(|r| r.conn == Some(RAMP_CONN)) {
                if (rng.below(10_000) as f64) < p * 10_000.0 {
                    (r.status, r.code, r.message) = if rng.below(2) == 0 {
                        (
                            502,
                            "UPSTREAM_BAD_GATEWAY",
                            "upstream returned an invalid response",
                        )
                    } else {
                        (504, "UPSTREAM_TIMEOUT", "upstream did not answer in time")
                    };
                    events[2] += 1;
                }
            }
        }
        // The storm: one connection's sync loop ignores Retry-After.
        if inside(m, STORM) {
            for _ in 0..12 {
                let mut r = normal(&mut rng, minute_ms, STORM_CONN);
                (r.status, r.code, r.message) = (429, "RATE_LIMITED", "too many requests");
                recs.push(r);
                events[3] += 1;
            }
            // A few from elsewhere: the storm is most, not all, of the 429s.
            if m % 10 == 0 {
                let mut r = normal(&mut rng, minute_ms, 7);
                (r.status, r.code, r.message) = (429, "RATE_LIMITED", "too many requests");
                recs.push(r);
            }
        }
        // The distributed attack: about five attempts a minute, each from the next of 60
        // addresses, each on another account of the tenant.
        if inside(m, STUFFING) {
            for _ in 0..5 + rng.below(2) {
                recs.push(Rec {
                    ts_ms: minute_ms + rng.below(60_000) as i64,
                    status: 401,
                    code: "INVALID_CREDENTIALS",
                    message: "invalid username or password",
                    conn: None,
                    tenant: STUFFED_TENANT,
                    user: format!(
                        "{}{}@{}.example",
                        "j.doe",
                        rng.below(5_000),
                        TENANTS[STUFFED_TENANT]
                    ),
                    ip: format!("{ATTACK_NET}.{}", 10 + attempt % 60),
                    method: "POST",
                    path: "/v2/auth/login",
                    id: rng.next(),
                });
                attempt += 1;
                events[0] += 1;
            }
        }
        for at in VIOLATIONS {
            if m == minute_of(at) {
                let mut r = normal(&mut rng, minute_ms, VIOLATION_CONN);
                (r.status, r.code, r.message) = (
                    403,
                    "SECURITY_VIOLATION",
                    "request signature does not match the tenant's key",
                );
                r.user = VIOLATION_USER.into();
                r.ip = "185.220.101.4".into();
                recs.push(r);
                events[4] += 1;
            }
        }
        recs.sort_by_key(|r| r.ts_ms);
        if let Some(f) = day_file.as_mut() {
            let w = f.writer();
            for r in &recs {
                w.write_all(r.ecs().as_bytes())?;
            }
        }
        written += recs.len() as u64;
    }
    if let Some(f) = day_file.take() {
        files.push(f.commit()?);
    }
    let span = |(from, to): (At, At)| {
        (
            rfc3339_ms(ms_of_minute(minute_of(from))),
            rfc3339_ms(ms_of_minute(minute_of(to))),
        )
    };
    let row = |kind, class, dimension, key: String, window: (At, At), events| {
        let (start, end) = span(window);
        Truth {
            kind,
            class,
            dimension,
            key,
            start,
            end,
            events,
        }
    };
    let last = VIOLATIONS[VIOLATIONS.len() - 1];
    let truth = vec![
        row(
            "distributed_credential_stuffing",
            "security",
            "organization_id",
            format!("tenant-{}", TENANTS[STUFFED_TENANT]),
            STUFFING,
            events[0],
        ),
        row(
            "quiet_hour_outage",
            "critical",
            "connection_id",
            conn_name(QUIET_CONN),
            QUIET_OUTAGE,
            events[1],
        ),
        row(
            "slow_ramp",
            "critical",
            "connection_id",
            conn_name(RAMP_CONN),
            RAMP,
            events[2],
        ),
        row(
            "rate_limit_storm",
            "warning",
            "connection_id",
            conn_name(STORM_CONN),
            STORM,
            events[3],
        ),
        row(
            "security_violation",
            "security",
            "error_code",
            "SECURITY_VIOLATION".into(),
            (VIOLATIONS[0], (last.0, last.1, last.2 + 1)),
            events[4],
        ),
    ];
    let weekend = |day: i64| ((day, 0, 0), (day + 2, 0, 0));
    let benign = vec![
        row(
            "benign_surge",
            "",
            "connection_id",
            conn_name(SURGE_CONN),
            SURGE,
            0,
        ),
        row(
            "new_connection",
            "",
            "connection_id",
            conn_name(NEW_CONN),
            ((NEW_CONN_DAY, 0, 0), (days, 0, 0)),
            0,
        ),
        row("weekend", "", "", String::new(), weekend(5), 0),
        row("weekend", "", "", String::new(), weekend(12), 0),
    ];
    for (name, rows) in [("truth.csv", &truth), ("benign.csv", &benign)] {
        let mut w = csv::Writer::from_writer(Vec::new());
        for t in rows {
            w.serialize(t)?;
        }
        write_file(&opts.out.join(name), &w.into_inner()?)?;
    }
    Ok(Generated {
        files,
        records: written,
        truth,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_calendar_is_what_the_docs_say() {
        // A Monday, and the incidents on the weekdays and weekends the module names.
        let d = chrono::DateTime::from_timestamp(START_S, 0).unwrap();
        assert_eq!(d.format("%A").to_string(), "Monday");
        let weekday = |(d, _, _): At| {
            chrono::DateTime::from_timestamp(START_S + d * 86_400, 0)
                .unwrap()
                .format("%A")
                .to_string()
        };
        assert_eq!(weekday(STUFFING.0), "Saturday");
        assert_eq!(weekday(QUIET_OUTAGE.0), "Sunday");
        assert_eq!(weekday(VIOLATIONS[0]), "Saturday");
        assert!(day_weight(5) < day_weight(4));
        // The fleet is heavy-tailed.
        assert!(conn_weight(0) / conn_weight(QUIET_CONN) >= 40.0);
    }
}
