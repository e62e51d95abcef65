//! `errscope generate`: realistic synthetic exports for benches, tests and demos. Traffic
//! follows a business-hours curve (peak around 14:00 UTC) over a fleet of connections,
//! organisations, users and client IPs, with successes and the error mix of DOMAIN.md;
//! optionally six injected incidents (the kinds of sample-data) with a ground truth (`truth.csv`).
//! The same seed gives the same bytes. Records are written in time order, one minute at a
//! time, so memory does not grow with `--records`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;

use crate::report::atomic::AtomicFile;

pub mod seasonal;

/// 2024-03-01T00:00:00Z: generated traffic starts here.
pub const START_S: i64 = 1_709_251_200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One NDJSON file of flat records (the comparison job's input).
    Flat,
    /// Three files in three vendor shapes: flat NDJSON, text log lines with JSON payloads,
    /// and connection-centric gzip NDJSON.
    Mixed,
}

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub out: PathBuf,
    pub records: u64,
    pub days: u32,
    pub seed: u64,
    pub shape: Shape,
    pub incidents: bool,
    /// Client IPs and users drawn from a huge space (random `10.x.x.x`, 200 k users per
    /// organisation): most IPs appear once, as behind real CDNs and mobile networks.
    pub high_cardinality: bool,
}

/// One injected incident, as analysis should find it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Truth {
    pub kind: &'static str,
    pub class: &'static str,
    pub dimension: &'static str,
    pub key: String,
    pub start: String,
    pub end: String,
    pub events: u64,
}

#[derive(Debug)]
pub struct Generated {
    pub files: Vec<PathBuf>,
    pub records: u64,
    pub truth: Vec<Truth>,
}

/// splitmix64: small, fast and reproducible across platforms and releases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const VENDORS: [&str; 8] = [
    "salesforce",
    "hubspot",
    "netsuite",
    "quickbooks",
    "zendesk",
    "xero",
    "sap",
    "dynamics",
];
const CONNECTIONS: usize = 24;
const ORGS: usize = 6;
const RESOURCES: [&str; 12] = [
    "contacts",
    "accounts",
    "invoices",
    "orders",
    "items",
    "customers",
    "journal_entries",
    "data_sets",
    "flows",
    "tickets",
    "payments",
    "sources",
];
const AGENTS: [&str; 4] = [
    "python-requests/2.31.0",
    "connector/2.3.1",
    "Go-http-client/1.1",
    "okhttp/4.12.0",
];

/// An outcome of the normal mix: (weight per 10,000, status, error, code, description).
type Outcome = (u32, u16, &'static str, &'static str, &'static str);

/// DOMAIN.md's statuses, mostly successes; 5xx well under the 1 % that seed 003 calls
/// normal. (The hourly thresholds of DOMAIN.md are absolute counts: at a few thousand
/// requests an hour `RATE_001` stays under 20/h; at higher volumes it fires, as it would.)
const MIX: [Outcome; 11] = [
    (9_400, 200, "", "", ""),
    (
        220,
        400,
        "validation_error",
        "VAL_001",
        "Validation failed: field is required",
    ),
    (
        110,
        401,
        "invalid_token",
        "AUTH_001",
        "Invalid or expired access token",
    ),
    (40, 401, "token_expired", "AUTH_003", "Token expired"),
    (
        30,
        403,
        "insufficient_permissions",
        "AUTH_004",
        "Insufficient permissions",
    ),
    (120, 404, "not_found", "NOT_FOUND", "Resource not found"),
    (
        20,
        429,
        "rate_limit_exceeded",
        "RATE_001",
        "Rate limit exceeded",
    ),
    (
        25,
        500,
        "internal_error",
        "SYSTEM_500",
        "Internal server error",
    ),
    (15, 502, "bad_gateway", "GATEWAY_502", "Bad gateway"),
    (
        12,
        503,
        "service_unavailable",
        "UNAVAILABLE",
        "Service unavailable",
    ),
    (8, 504, "gateway_timeout", "TIMEOUT_504", "Gateway timeout"),
];

fn connection(i: usize) -> String {
    format!("conn_{}_{i}", VENDORS[i % VENDORS.len()])
}

fn org_of(conn: usize) -> usize {
    conn % ORGS
}

/// The business-hours curve: share of a day's traffic in each hour.
fn hour_weight(hour: i64) -> f64 {
    0.25 + 0.75 * (-((hour as f64 - 14.0).powi(2)) / 18.0).exp()
}

struct Record<'a> {
    ts_ms: i64,
    status: u16,
    error: &'a str,
    code: &'a str,
    description: &'a str,
    conn: usize,
    user: String,
    endpoint: String,
    ip: String,
    agent: &'a str,
    details: String,
    request: u64,
}

fn rfc3339_ms(ts_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ts_ms).map_or_else(
        || ts_ms.to_string(),
        |d| d.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
    )
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn nullable(s: &str) -> String {
    if s.is_empty() {
        "null".into()
    } else {
        json_str(s)
    }
}

impl Record<'_> {
    fn flat(&self) -> String {
        format!(
            "{{\"timestamp\":\"{}\",\"http_status\":{},\"error\":{},\"error_code\":{},\"error_description\":{},\"request_id\":\"req_{:012x}\",\"connection_id\":\"{}\",\"organization_id\":\"org_{}\",\"user_id\":\"{}\",\"endpoint\":\"{}\",\"ip_address\":\"{}\",\"user_agent\":{},\"details\":{}}}\n",
            rfc3339_ms(self.ts_ms),
            self.status,
            nullable(self.error),
            nullable(self.code),
            nullable(self.description),
            self.request,
            connection(self.conn),
            org_of(self.conn),
            self.user,
            self.endpoint,
            self.ip,
            json_str(self.agent),
            self.details,
        )
    }

    /// A logger line (seed 004): `2024-03-01 14:05:03,123 ERROR api.errors: API error: {..}`.
    fn text(&self) -> String {
        let level = match self.status {
            200..=399 => "INFO",
            500.. => "ERROR",
            _ if self.code.starts_with("AUTH_CRITICAL") || self.code == "SYSTEM_FAILURE" => {
                "CRITICAL"
            }
            _ => "WARNING",
        };
        let prefix = chrono::DateTime::from_timestamp_millis(self.ts_ms)
            .map(|d| d.format("%Y-%m-%d %H:%M:%S,%3f").to_string())
            .unwrap_or_default();
        let json = self.flat();
        format!("{prefix} {level} api.errors: API call: {json}")
    }

    /// Connection-centric (seed 000): `connection`, `code`, epoch-ms `time`, status string.
    fn connection_centric(&self) -> String {
        format!(
            "{{\"time\":{},\"status\":\"{}\",\"connection\":\"{}\",\"org\":\"org_{}\",\"code\":{},\"message\":{},\"requestId\":\"req_{:012x}\",\"path\":\"{}\",\"client_ip\":\"{}\",\"user\":\"{}\"}}\n",
            self.ts_ms,
            self.status,
            connection(self.conn),
            org_of(self.conn),
            nullable(self.code),
            nullable(self.description),
            self.request,
            self.endpoint,
            self.ip,
            self.user,
        )
    }
}

/// Where and when the incidents are (all on the last day), and their volume.
struct Plan {
    day0_ms: i64,
    /// Normal records per connection per minute at the daily peak.
    peak_rate: f64,
}

impl Plan {
    fn at(&self, h: i64, m: i64) -> i64 {
        self.day0_ms + (h * 60 + m) * 60_000
    }
}

const OUTAGE_CONN: usize = 0; // conn_salesforce_0
const STORM_CONN: usize = 1; // conn_hubspot_1
const REAUTH_CONN: usize = 2; // conn_netsuite_2
const CRITICAL_CONN: usize = 3; // conn_quickbooks_3
const STUFFING_IP: &str = "203.0.113.66";
const PROBER: &str = "u_org_1_mallory";
const PROBER_IP: &str = "198.51.100.23";

/// Injected events per incident, in the order of [`truth`].
type Tally = [u64; 7];

/// kind, class, dimension, key, start (hour, minute), end (hour, minute) on the last day.
type TruthRow = (
    &'static str,
    &'static str,
    &'static str,
    String,
    (i64, i64),
    (i64, i64),
);

fn truth(plan: &Plan, tally: &Tally) -> Vec<Truth> {
    let t = |kind, class, dimension, key: String, (h0, m0), (h1, m1), events| Truth {
        kind,
        class,
        dimension,
        key,
        start: rfc3339_ms(plan.at(h0, m0)),
        end: rfc3339_ms(plan.at(h1, m1)),
        events,
    };
    let rows: [TruthRow; 7] = [
        (
            "credential_stuffing",
            "security",
            "ip_address",
            STUFFING_IP.into(),
            (2, 10),
            (2, 25),
        ),
        (
            "server_errors",
            "critical",
            "connection_id",
            connection(OUTAGE_CONN),
            (14, 0),
            (14, 40),
        ),
        (
            "rate_limit_storm",
            "warning",
            "connection_id",
            connection(STORM_CONN),
            (9, 0),
            (9, 30),
        ),
        (
            "critical_code",
            "critical",
            "error_code",
            "AUTH_CRITICAL".into(),
            (16, 5),
            (16, 8),
        ),
        (
            "critical_code",
            "critical",
            "error_code",
            "SYSTEM_FAILURE".into(),
            (16, 8),
            (16, 11),
        ),
        (
            "reauthorization",
            "warning",
            "connection_id",
            connection(REAUTH_CONN),
            (18, 0),
            (24, 0),
        ),
        (
            "permission_probing",
            "security",
            "user_id",
            PROBER.into(),
            (22, 0),
            (22, 10),
        ),
    ];
    rows.into_iter()
        .zip(tally)
        .map(|((kind, class, dim, key, from, to), events)| {
            t(kind, class, dim, key, from, to, *events)
        })
        .collect()
}

fn storm_per_minute(plan: &Plan) -> u64 {
    (plan.peak_rate * 4.0).ceil().max(8.0) as u64
}

/// Writes the export; returns its files and ground truth.
pub fn generate(opts: &GenerateOptions) -> anyhow::Result<Generated> {
    std::fs::create_dir_all(&opts.out)
        .with_context(|| format!("cannot create {}", opts.out.display()))?;
    let days = i64::from(opts.days.max(1));
    let mut rng = Rng(opts.seed ^ 0x6572_7273_636f_7065);
    let minutes = days * 1440;
    let total_weight: f64 = (0..minutes).map(|m| hour_weight((m / 60) % 24)).sum();
    let per_weight = opts.records as f64 / total_weight;
    let plan = Plan {
        day0_ms: (START_S + (days - 1) * 86_400) * 1000,
        peak_rate: per_weight * hour_weight(14) / CONNECTIONS as f64,
    };

    let names: Vec<&str> = match opts.shape {
        Shape::Flat => vec!["errors.ndjson"],
        Shape::Mixed => vec![
            "api_errors.ndjson",
            "auth_service.log",
            "connections.ndjson.gz",
        ],
    };
    let mut files: Vec<AtomicFile> = names
        .iter()
        .map(|n| AtomicFile::create(opts.out.join(n)))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot write into {}", opts.out.display()))?;
    let mut gz = match opts.shape {
        Shape::Mixed => Some(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::fast(),
        )),
        Shape::Flat => None,
    };

    let mut written = 0u64;
    let mut tally: Tally = [0; 7];
    let mut carry = 0.0;
    let mut minute_records: Vec<Record> = Vec::new();
    for m in 0..minutes {
        let minute_ms = (START_S + m * 60) * 1000;
        carry += per_weight * hour_weight((m / 60) % 24);
        let n = carry.floor() as u64;
        carry -= n as f64;
        minute_records.clear();
        for _ in 0..n {
            let mut r = normal(&mut rng, minute_ms);
            if opts.high_cardinality {
                let ip = rng.next();
                r.ip = format!("10.{}.{}.{}", (ip >> 16) & 255, (ip >> 8) & 255, ip & 255);
                r.user = format!("u_org_{}_{}", org_of(r.conn), rng.below(200_000));
            }
            minute_records.push(r);
        }
        if opts.incidents {
            inject(&mut rng, &plan, minute_ms, &mut minute_records, &mut tally);
        }
        minute_records.sort_by_key(|r| r.ts_ms);
        for r in &minute_records {
            match opts.shape {
                Shape::Flat => files[0].writer().write_all(r.flat().as_bytes())?,
                Shape::Mixed => match r.conn % 3 {
                    0 => files[0].writer().write_all(r.flat().as_bytes())?,
                    1 => files[1].writer().write_all(r.text().as_bytes())?,
                    _ => {
                        if let Some(g) = gz.as_mut() {
                            g.write_all(r.connection_centric().as_bytes())?;
                        }
                    }
                },
            }
            written += 1;
        }
    }
    if let Some(g) = gz {
        files[2].writer().write_all(&g.finish()?)?;
    }
    let mut paths = Vec::new();
    for f in files {
        paths.push(f.commit()?);
    }
    let truth = if opts.incidents {
        truth(&plan, &tally)
    } else {
        Vec::new()
    };
    if opts.incidents {
        // CSV, so that a folder walk over the export skips it (it is not a log).
        let mut w = csv::Writer::from_writer(Vec::new());
        for t in &truth {
            w.serialize(t)?;
        }
        crate::report::atomic::write_file(&opts.out.join("truth.csv"), &w.into_inner()?)?;
    }
    Ok(Generated {
        files: paths,
        records: written,
        truth,
    })
}

fn normal(rng: &mut Rng, minute_ms: i64) -> Record<'static> {
    let conn = rng.below(CONNECTIONS as u64) as usize;
    let mut pick = rng.below(10_000) as u32;
    let mut outcome = MIX[0];
    for o in MIX {
        if pick < o.0 {
            outcome = o;
            break;
        }
        pick -= o.0;
    }
    let (_, status, error, code, description) = outcome;
    let details = match status {
        400 => "{\"field\":\"email\",\"reason\":\"required\"}".to_string(),
        401 => format!(
            "{{\"token_expires_at\":\"{}\"}}",
            rfc3339_ms(minute_ms - 3_600_000)
        ),
        429 => "{\"limit\":100,\"window\":\"1m\",\"retry_after\":60}".to_string(),
        500.. => format!(
            "{{\"upstream\":\"{}\",\"attempt\":{}}}",
            VENDORS[conn % 8],
            1 + rng.below(3)
        ),
        _ => "{}".to_string(),
    };
    Record {
        ts_ms: minute_ms + rng.below(60_000) as i64,
        status,
        error,
        code,
        description,
        conn,
        user: format!("u_org_{}_{}", org_of(conn), rng.below(40)),
        endpoint: format!(
            "/api/v1/{}",
            RESOURCES[rng.below(RESOURCES.len() as u64) as usize]
        ),
        ip: format!("10.{}.{}.{}", conn, rng.below(4), 10 + rng.below(20)),
        agent: AGENTS[conn % AGENTS.len()],
        details,
        request: rng.next() >> 16,
    }
}

/// Adds (or changes) the records of the incidents that fall in this minute.
fn inject(
    rng: &mut Rng,
    plan: &Plan,
    minute_ms: i64,
    recs: &mut Vec<Record<'static>>,
    tally: &mut Tally,
) {
    let within = |h0, m0, h1, m1| minute_ms >= plan.at(h0, m0) && minute_ms < plan.at(h1, m1);
    let mut add = |rng: &mut Rng,
                   conn: usize,
                   status,
                   error,
                   code,
                   description,
                   user: String,
                   ip: String,
                   endpoint: String| {
        let base = normal(rng, minute_ms);
        recs.push(Record {
            status,
            error,
            code,
            description,
            conn,
            user,
            endpoint,
            ip,
            agent: "python-requests/2.31.0",
            details: "{}".into(),
            ..base
        });
    };
    // Credential stuffing: 200 401s over 15 minutes from one IP across 60 user names.
    if within(2, 10, 2, 25) {
        let k: u64 = if minute_ms < plan.at(2, 20) { 13 } else { 14 };
        tally[0] += k;
        for _ in 0..k {
            let user = format!("u_org_0_guess_{:03}", rng.below(60));
            add(
                rng,
                OUTAGE_CONN,
                401,
                "invalid_client",
                "AUTH_002",
                "Invalid or revoked service key",
                user,
                STUFFING_IP.into(),
                "/api/v1/token".into(),
            );
        }
    }
    // Rate-limit storm: 429 RATE_LIMIT_EXCEEDED, 4x the connection's peak traffic.
    if within(9, 0, 9, 30) {
        tally[2] += storm_per_minute(plan);
        for _ in 0..storm_per_minute(plan) {
            add(
                rng,
                STORM_CONN,
                429,
                "rate_limit_exceeded",
                "RATE_LIMIT_EXCEEDED",
                "Too many requests, retry after 60 s",
                format!("u_org_{}_1", org_of(STORM_CONN)),
                format!("10.{STORM_CONN}.0.10"),
                "/api/v1/flows".into(),
            );
        }
    }
    // Critical errors: one a minute.
    if within(16, 5, 16, 11) {
        let (error, code) = if minute_ms < plan.at(16, 8) {
            tally[3] += 1;
            ("auth_critical", "AUTH_CRITICAL")
        } else {
            tally[4] += 1;
            ("system_failure", "SYSTEM_FAILURE")
        };
        add(
            rng,
            CRITICAL_CONN,
            500,
            error,
            code,
            "Critical authentication failure",
            format!("u_org_{}_2", org_of(CRITICAL_CONN)),
            format!("10.{CRITICAL_CONN}.0.11"),
            "/api/v1/payments".into(),
        );
    }
    // Permission probing: 48 403s on 11 admin endpoints in 10 minutes by one user.
    if within(22, 0, 22, 10) {
        let k = if minute_ms < plan.at(22, 8) { 5 } else { 4 };
        tally[6] += k as u64;
        for i in 0..k {
            let ep = format!(
                "/api/v1/admin/{}",
                RESOURCES[(i + rng.below(11) as usize) % 11]
            );
            add(
                rng,
                7,
                403,
                "insufficient_permissions",
                "AUTH_004",
                "Insufficient permissions",
                PROBER.into(),
                PROBER_IP.into(),
                ep,
            );
        }
    }
    for r in recs.iter_mut() {
        // Outage: 85 % of the connection's calls fail with 5xx.
        if r.conn == OUTAGE_CONN && within(14, 0, 14, 40) && r.status == 200 && rng.below(100) < 85
        {
            r.status = 503;
            r.error = "downstream_error";
            r.code = "DOWNSTREAM_ERROR";
            r.description = "Target system unavailable";
            tally[1] += 1;
        }
        // Reauthorization: from 18:00 every call of the connection fails 401 AUTH_003.
        if r.conn == REAUTH_CONN && within(18, 0, 24, 0) && r.status != 401 {
            r.status = 401;
            r.error = "token_expired";
            r.code = "AUTH_003";
            r.description = "Refresh token expired";
            tally[5] += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn opts(dir: &Path, shape: Shape, incidents: bool) -> GenerateOptions {
        GenerateOptions {
            out: dir.to_path_buf(),
            records: 20_000,
            days: 2,
            seed: 7,
            shape,
            incidents,
            high_cardinality: false,
        }
    }

    #[test]
    fn same_seed_same_bytes_in_time_order_with_the_flat_fields() {
        let d = crate::testutil::tempdir().unwrap();
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        let g = generate(&opts(&a, Shape::Flat, false)).unwrap();
        generate(&opts(&b, Shape::Flat, false)).unwrap();
        let text = std::fs::read_to_string(a.join("errors.ndjson")).unwrap();
        assert_eq!(
            text,
            std::fs::read_to_string(b.join("errors.ndjson")).unwrap()
        );
        let lines: Vec<&str> = text.lines().collect();
        assert!((19_990..=20_000).contains(&lines.len()), "{}", lines.len());
        assert_eq!(g.records, lines.len() as u64);
        let avg = text.len() / lines.len();
        assert!((260..=340).contains(&avg), "about 300 bytes a line: {avg}");
        let mut last = String::new();
        let mut errors = 0;
        for l in &lines {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            for k in [
                "timestamp",
                "http_status",
                "error",
                "error_code",
                "error_description",
                "request_id",
                "connection_id",
                "organization_id",
                "user_id",
                "endpoint",
                "ip_address",
                "user_agent",
                "details",
            ] {
                assert!(v.get(k).is_some(), "{k} in {l}");
            }
            let ts = v["timestamp"].as_str().unwrap().to_string();
            assert!(ts >= last, "time order");
            last = ts;
            errors += usize::from(v["http_status"].as_u64().unwrap() >= 400);
        }
        let share = errors as f64 / lines.len() as f64;
        assert!((0.045..0.075).contains(&share), "error share {share}");
        // Business hours: more traffic at 14:00 than at 03:00.
        let at = |h: &str| {
            lines
                .iter()
                .filter(|l| l.contains(&format!("T{h}:")))
                .count()
        };
        assert!(at("14") > 2 * at("03"));
    }

    #[test]
    fn incidents_come_with_their_truth_and_mixed_shapes_split_files() {
        let d = crate::testutil::tempdir().unwrap();
        let g = generate(&opts(d.path(), Shape::Mixed, true)).unwrap();
        assert_eq!(g.files.len(), 3);
        assert_eq!(g.truth.len(), 7);
        assert!(g.truth.iter().all(|t| t.events > 0), "{:?}", g.truth);
        let truth = std::fs::read_to_string(d.path().join("truth.csv")).unwrap();
        let mut lines = truth.lines();
        assert_eq!(
            lines.next(),
            Some("kind,class,dimension,key,start,end,events")
        );
        assert_eq!(
            lines.next(),
            Some("credential_stuffing,security,ip_address,203.0.113.66,2024-03-02T02:10:00.000Z,2024-03-02T02:25:00.000Z,200")
        );
        let log = std::fs::read_to_string(d.path().join("auth_service.log")).unwrap();
        assert!(log
            .lines()
            .next()
            .unwrap()
            .contains(" api.errors: API call: {"));
        let flat = std::fs::read_to_string(d.path().join("api_errors.ndjson")).unwrap();
        assert_eq!(
            flat.matches(STUFFING_IP).count(),
            200,
            "stuffing IP on conn 0 (flat file)"
        );
    }
}
