//! The vendor shapes of DOMAIN.md, each mapped to the canonical event.

use super::decode::decode_record;
use super::mapping::{Event, Rejection};
use crate::ingest::rules::MappingConfig;

const T0: i64 = 1_705_314_600_000_000; // 2024-01-15T10:30:00Z

fn one(text: &str) -> Event<'_> {
    let cfg = MappingConfig::default();
    let mut out = decode_record(text, &cfg);
    assert_eq!(out.len(), 1, "{text}");
    match out.remove(0) {
        Ok(ev) => ev.clone(),
        Err(Rejection(r)) => panic!("rejected: {r}: {text}"),
    }
}

fn rejected(text: &str) -> String {
    let cfg = MappingConfig::default();
    match decode_record(text, &cfg).remove(0) {
        Ok(ev) => panic!("accepted {ev:?}"),
        Err(Rejection(r)) => r,
    }
}

#[test]
fn flat_nexla_error_object() {
    let ev = one(
        r#"{"error": "rate_limit_exceeded", "error_description": "Too many requests", "error_code": "RATE_001", "timestamp": "2024-01-15T10:30:00Z", "request_id": "req_1", "details": {"limit": 100, "window": "1 minute", "retry_after": "2024-01-15T10:31:00Z"}}"#,
    );
    assert_eq!(ev.ts, T0);
    assert_eq!(ev.status, None);
    assert_eq!(ev.error.as_deref(), Some("rate_limit_exceeded"));
    assert_eq!(ev.error_code.as_deref(), Some("RATE_001"));
    assert_eq!(ev.message.as_deref(), Some("Too many requests"));
    assert_eq!(ev.category, "rate_limit");
    assert_eq!(ev.retryable, Some(true));
    assert_eq!(ev.class, Some("warning"));
    assert_eq!(ev.retry_after_s, Some(60.0));
    assert!(
        ev.details.as_deref().unwrap().contains("\"limit\":100"),
        "kept, compact"
    );
    assert_eq!(ev.extra, None);
}

#[test]
fn logger_context_record() {
    let ev = one(
        r#"{"timestamp": "2024-01-15T10:30:00.000000", "error_type": "authentication_error", "error_code": "AUTH_002", "error_description": "Service key is invalid", "http_status": 401, "endpoint": "/api/v1/flows", "user_id": 42, "organization_id": "org_7", "request_id": "req_2", "ip_address": "203.0.113.9", "user_agent": "python-requests/2.31"}"#,
    );
    assert_eq!(ev.status, Some(401));
    assert_eq!(ev.error.as_deref(), Some("authentication_error"));
    assert_eq!(ev.user_id.as_deref(), Some("42"));
    assert_eq!(ev.category, "authentication");
    assert_eq!(ev.class, Some("security"));
    assert_eq!(ev.retryable, Some(false));
    assert_eq!(ev.ip_address.as_deref(), Some("203.0.113.9"));
}

#[test]
fn text_line_with_payload() {
    let ev = one(
        r#"2024-01-15 10:30:00,123 CRITICAL nexla.auth: Critical authentication error: {"timestamp": "2024-01-15T10:30:00Z", "error_code": "AUTH_CRITICAL", "http_status": null, "organization_id": "org_1"}"#,
    );
    assert_eq!(ev.level.as_deref(), Some("CRITICAL"));
    assert_eq!(ev.logger.as_deref(), Some("nexla.auth"));
    assert_eq!(
        ev.log_message.as_deref(),
        Some("Critical authentication error")
    );
    assert_eq!(ev.class, Some("critical"));
    assert_eq!(ev.ts, T0, "the payload's timestamp wins over the prefix");

    let ev = one(
        r#"2024-01-15 10:30:00,123 WARNING api.errors: Rate limited: {"status": "429", "connection_id": "c1"}"#,
    );
    assert_eq!(ev.ts, T0 + 123_000, "the prefix timestamp fills in");
    assert_eq!(ev.status, Some(429));
    assert_eq!(ev.error_code.as_deref(), Some("HTTP_429"));
}

#[test]
fn code_message_body() {
    let ev = one(
        r#"{"code": 1234, "message": "Invalid GL account", "details": [], "status": 400, "time": 1705314600}"#,
    );
    assert_eq!(ev.status, Some(400));
    assert_eq!(ev.error_code.as_deref(), Some("1234"));
    assert_eq!(ev.details, None, "an empty list is no details");
    assert_eq!(ev.category, "validation");

    let ev = one(r#"{"code": 503, "message": "unavailable", "ts": 1705314600000}"#);
    assert_eq!(
        ev.status,
        Some(503),
        "a numeric code in 100..599 is the status when none is given"
    );
    assert_eq!(ev.error_code.as_deref(), Some("HTTP_503"));
    assert_eq!(ev.ts, T0);
}

#[test]
fn unified_errors_array_with_downstream() {
    let ev = one(
        r#"{"statusCode": "500", "@timestamp": "2024-01-15T11:30:00+01:00", "connectionId": "conn-9", "errors": [{"code": "DOWNSTREAM_ERROR", "type": "server_error", "message": "Target system failed"}], "downstreamErrors": [{"status": 400, "message": "GL account 4711 invalid", "api_key": "abc123secret"}]}"#,
    );
    assert_eq!(ev.ts, T0);
    assert_eq!(ev.status, Some(500));
    assert_eq!(ev.connection_id.as_deref(), Some("conn-9"));
    assert_eq!(ev.error_code.as_deref(), Some("DOWNSTREAM_ERROR"));
    assert_eq!(ev.error.as_deref(), Some("server_error"));
    assert_eq!(ev.message.as_deref(), Some("Target system failed"));
    let ds = ev.downstream.as_deref().unwrap();
    assert!(
        ds.contains("GL account 4711") && !ds.contains("abc123secret"),
        "{ds}"
    );
    assert_eq!(ev.extra, None);
}

#[test]
fn connection_centric_record() {
    let ev = one(
        r#"{"time": "2024-01-15T10:30:00Z", "connection": "conn_42", "code": "RATE_LIMIT_EXCEEDED", "status_code": 429, "headers": {"Retry-After": "30", "Authorization": "Bearer abcdef123456"}}"#,
    );
    assert_eq!(ev.connection_id.as_deref(), Some("conn_42"));
    assert_eq!(ev.error_code.as_deref(), Some("RATE_LIMIT_EXCEEDED"));
    assert_eq!(ev.retry_after_s, Some(30.0));
    let extra = ev.extra.as_deref().unwrap();
    assert!(!extra.contains("abcdef123456"), "{extra}");
}

#[test]
fn nested_objects_are_found_by_path() {
    let ev = one(
        r#"{"eventTime": "2024-01-15T10:30:00Z", "error": {"code": "AUTH_004", "message": "no access", "type": "insufficient_permissions"}, "http": {"status": 403, "method": "post"}, "connection": {"id": "c7", "name": "Salesforce"}, "context": {"org_id": "o1", "user_id": "u1", "client_ip": "198.51.100.1:5544"}}"#,
    );
    assert_eq!(ev.status, Some(403));
    assert_eq!(ev.error_code.as_deref(), Some("AUTH_004"));
    assert_eq!(ev.error.as_deref(), Some("insufficient_permissions"));
    assert_eq!(ev.message.as_deref(), Some("no access"));
    assert_eq!(ev.method.as_deref(), Some("POST"));
    assert_eq!(ev.connection_id.as_deref(), Some("c7"));
    assert_eq!(ev.organization_id.as_deref(), Some("o1"));
    assert_eq!(ev.user_id.as_deref(), Some("u1"));
    assert_eq!(ev.ip_address.as_deref(), Some("198.51.100.1"));
    assert_eq!(ev.class, Some("security"));
    assert!(
        ev.extra.as_deref().unwrap().contains("Salesforce"),
        "unmapped leaves are kept"
    );
}

#[test]
fn successes_and_network_failures() {
    let ev = one(
        r#"{"timestamp": "2024-01-15T10:30:00Z", "status": 200, "connection_id": "c1", "endpoint": "GET /v1/items"}"#,
    );
    assert_eq!(ev.category, "success");
    assert_eq!(ev.error_code, None);
    assert_eq!(ev.class, None);
    assert_eq!(ev.retryable, None);
    assert_eq!(ev.method.as_deref(), Some("GET"));
    assert_eq!(ev.endpoint.as_deref(), Some("/v1/items"));

    let ev = one(
        r#"{"timestamp": "2024-01-15T10:30:00Z", "error": "connection_timeout", "connection_id": "c1"}"#,
    );
    assert_eq!(ev.status, None);
    assert_eq!(ev.category, "network");
    assert_eq!(ev.retryable, Some(true));
    assert_eq!(ev.error_code.as_deref(), Some("CONNECTION_TIMEOUT"));
}

#[test]
fn secrets_never_survive_mapping() {
    let ev = one(
        r#"{"timestamp": "2024-01-15T10:30:00Z", "status": 401, "message": "bad token Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcdefgh", "endpoint": "/v1/x?api_key=SECRET123456", "details": {"password": "hunter2", "token_expires_at": "2024-01-15T09:30:00Z"}, "x-api-key": "k_live_999999"}"#,
    );
    let all = format!("{ev:?}");
    for s in ["eyJhbG", "SECRET123456", "hunter2", "k_live_999999"] {
        assert!(!all.contains(s), "{s} leaked: {all}");
    }
    assert!(ev.details.as_deref().unwrap().contains("token_expires_at"));
}

#[test]
fn rejections_say_why() {
    assert!(rejected(r#"{"status": 500, "message": "no time"}"#).contains("no timestamp"));
    assert!(rejected(r#"{"timestamp": "yesterday", "status": 500}"#).contains("yesterday"));
    assert!(rejected(r#"{"timestamp": 0, "status": 500}"#).contains("outside"));
    assert!(rejected(r#"{"timestamp": "2024-01-15T10:30:00Z", "status": 5"#).contains("truncated"));
    assert!(rejected("just some text").contains("no JSON object"));
    assert!(rejected("42").contains("not an object"));
}

#[test]
fn envelopes_and_array_lines_expand() {
    let cfg = MappingConfig::default();
    let out = decode_record(
        r#"{"events": [{"ts": 1705314600, "status": 500}, {"ts": 1705314601, "status": 502}, {"nope": 1}]}"#,
        &cfg,
    );
    assert_eq!(out.len(), 3);
    assert!(out[0].is_ok() && out[1].is_ok() && out[2].is_err());
    let out = decode_record(r#"[{"ts": 1705314600, "status": 500}, 7]"#, &cfg);
    assert_eq!(out.len(), 2);
    assert!(out[0].is_ok() && out[1].is_err());
}

#[test]
fn user_aliases_from_config() {
    let cfg = MappingConfig::from_toml(
        "[aliases]\nconnection_id = [\"pipe.ref\"]\n",
        std::path::Path::new("t.toml"),
    )
    .unwrap();
    let out = decode_record(
        r#"{"ts": 1705314600, "status": 500, "pipe": {"ref": "p-1"}}"#,
        &cfg,
    );
    let ev = out.into_iter().next().unwrap().unwrap();
    assert_eq!(ev.connection_id.as_deref(), Some("p-1"));
}

/// The fast path (`map_flat`) takes the records of flat exports and makes exactly the
/// event the general path makes; whatever it does not know to be valid goes the general way.
#[test]
fn fast_path_agrees_with_the_general_path() {
    use super::json::parse_object;
    use super::mapping::{map_entries, map_flat, KeyCache, Mapped};
    let cfg = MappingConfig::default();
    let taken = [
        r#"{"timestamp":"2024-03-01T00:00:00.069Z","http_status":200,"error":null,"error_code":null,"error_description":null,"request_id":"req_b2e04bb320cd","connection_id":"conn_zendesk_4","organization_id":"org_4","user_id":"u_org_4_32","endpoint":"/api/v1/payments","ip_address":"10.4.2.16","user_agent":"python-requests/2.31.0","details":{}}"#,
        r#"{"timestamp":"2024-03-01T00:00:06.559Z","http_status":429,"error":"rate_limit_exceeded","error_code":"RATE_001","error_description":"Rate limit exceeded","request_id":"req_6fd8888aa566","connection_id":"conn_netsuite_2","organization_id":"org_2","user_id":"u_org_2_2","endpoint":"/api/v1/customers","ip_address":"10.2.3.10:443","user_agent":"Go-http-client/1.1","details":{"limit":100,"window":"1m","retry_after":60}}"#,
        r#" { "timestamp" : 1709251200 , "status" : "503" , "ok" : true , "n" : -0.25 , "z" : 0, "e" : {"code": "E1", "x": [1, {"y": "}"}]} } "#,
        r#"{"time":"nope","http_status":200,"password":"hunter2","url":"https://u:p@h/x"}"#,
        r#"{"timestamp":"2024-03-01T00:00:00Z","connection":{"id":"conn_nested"},"error":{"code":"AUTH_002"}}"#,
        r#"{"timestamp":"2024-03-01T00:00:00Z","http_status":200,"http_status":500,"details":"text"}"#,
        r#"{"timestamp":"2024-03-01T00:00:00Z","message":"second","error_description":"first","error_code":" AUTH_002 ","level":"warn","code":"E7","endpoint":"","user_id":null,"retry_after":"30s","retryable":"yes","method":"get"}"#,
        // The fast cases of `offer_common` at their edges: unreadable and competing
        // timestamps, statuses out of range or of other lengths, `{}` for JSON columns
        // and for others.
        r#"{"timestamp":"bad","time":"2024-03-01T00:00:00Z","http_status":600,"status":404,"details":{},"downstream":{}}"#,
        r#"{"ts":"2024-03-01T00:00:00Z","timestamp":"2024-03-01T00:00:01Z","http_status":99,"code":100,"error":{},"details":"{}"}"#,
        r#"{"timestamp":"","http_status":599,"response_status":100,"details":{ },"level":{}}"#,
        r#"{"timestamp":"2024-03-01","status":1000,"http_status":"404","downstream":{}}"#,
        r#"{"timestamp":" 2024-03-01T00:00:00Z ","status":-404,"http_status":40,"details":{"a":{}}}"#,
    ];
    for text in taken {
        let text = text.trim();
        let fast = map_flat(text, &cfg, false, &mut KeyCache::default());
        let general = match map_entries(
            parse_object(text).unwrap(),
            None,
            &cfg,
            false,
            &mut KeyCache::default(),
        ) {
            Mapped::One(ev) => Ok(*ev),
            Mapped::Many(mut v) => v.remove(0),
        };
        match fast {
            Some(fast) => assert_eq!(fast, general, "{text}"),
            // Handed over for a value that lost its column to another: the general path
            // keeps its entry in `extra`.
            None => assert!(
                general.as_ref().map_or(true, |ev| ev.extra.is_some()),
                "{text}: {general:?}"
            ),
        }
    }
    let handed_over = [
        r#"{"timestamp":"2024-03-01T00:00:00Z","m":"Bearer\u0020abc"}"#,
        r#"{"timestamp":"2024-03-01T00:00:00Z","errors":[{"code":"X"}]}"#,
        r#"{"timestamp":"2024-03-01T00:00:00Z","n":1e5}"#,
        r#"{"timestamp":"2024-03-01T00:00:00Z","n":01}"#,
        r#"{"timestamp":"2024-03-01T00:00:00Z","n":12.}"#,
        r#"{"timestamp":"2024-03-01T00:00:00Z","d":{"a":1]}"#,
        r#"{"timestamp":"2024-03-01T00:00:00Z","d":{"a":1,,}}"#,
        r#"{"timestamp":"2024-03-01T00:00:00Z","d":{"a":1}"#,
        r#"{"timestamp":"2024-03-01T00:00:00Z"} trailing"#,
        r#"{"timestamp":"2024-03-01T00:00:00Z",}"#,
        r#"{"timestamp":"2024-03-01T00:00:00Z" "n":1}"#,
        "{\"timestamp\":\"2024-03-01T00:00:00Z\",\"s\":\"tab\there\"}",
        r#"{"timestamp":"2024-03-01T00:00:00Z","n":nul}"#,
        // No timestamp: maybe a wrapper, which the general path looks into.
        r#"{}"#,
        r#"{"took":1,"hits":{"hits":[{"ts":"2024-03-01T00:00:00Z"}]}}"#,
    ];
    for text in handed_over {
        assert!(
            map_flat(text, &cfg, false, &mut KeyCache::default()).is_none(),
            "{text}"
        );
    }
}

/// Mutated records (bytes inserted, dropped or replaced with JSON's own characters): when
/// the fast path takes one, serde_json must take it too and the general path must make the
/// same event, so the fast path never accepts what the general path would quarantine.
#[test]
fn fast_path_never_accepts_what_serde_rejects() {
    use super::json::parse_object;
    use super::mapping::{map_entries, map_flat, KeyCache, Mapped};
    let cfg = MappingConfig::default();
    let bases = [
        r#"{"timestamp":"2024-03-01T00:00:06.559Z","http_status":429,"error":"rate_limit_exceeded","error_code":"RATE_001","request_id":"req_6f","connection_id":"conn_n_2","ip_address":"10.2.3.10","details":{"limit":100,"window":"1m","retry_after":60}}"#,
        r#"{"timestamp":"2024-03-01T00:00:00.069Z","http_status":200,"error":null,"ok":true,"n":-0.5,"details":{}}"#,
    ];
    let alphabet = b"{}[]\":,\\ 0-.e1ntfu\t";
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let (mut taken, mut tried) = (0, 0);
    let mut keys = KeyCache::default();
    for base in bases {
        for _ in 0..4000 {
            let mut b = base.as_bytes().to_vec();
            for _ in 0..1 + next(2) {
                let at = next(b.len());
                match next(3) {
                    0 => b.insert(at, alphabet[next(alphabet.len())]),
                    1 => {
                        b.remove(at);
                    }
                    _ => b[at] = alphabet[next(alphabet.len())],
                }
            }
            let Ok(text) = std::str::from_utf8(&b) else {
                continue;
            };
            tried += 1;
            // A warm cache, as in a chunk: the base record went through it first.
            let _ = map_flat(base, &cfg, false, &mut keys);
            let Some(fast) = map_flat(text, &cfg, false, &mut keys) else {
                continue;
            };
            taken += 1;
            let entries = parse_object(text)
                .unwrap_or_else(|e| panic!("fast path took what serde rejects ({e}): {text}"));
            let general = match map_entries(entries, None, &cfg, false, &mut KeyCache::default()) {
                Mapped::One(ev) => Ok(*ev),
                Mapped::Many(mut v) => v.remove(0),
            };
            assert_eq!(fast, general, "{text}");
        }
    }
    // Most mutations break the JSON; some keep it valid and must have been taken.
    assert!(tried > 7000 && taken > 300, "tried {tried}, taken {taken}");
}

#[test]
fn name_value_lists_outside_otlp_become_fields() {
    // AWS WAF's header list, and a generic attribute list with an OTLP-style value.
    let ev = one(
        r#"{"timestamp": 1705314600000, "action": "BLOCK", "httpRequest": {"clientIp": "203.0.113.5", "uri": "/v2/login", "httpMethod": "POST", "requestId": "waf-1", "headers": [{"name": "Host", "value": "api.example.com"}, {"name": "User-Agent", "value": "curl/8.1"}, {"name": "User-Agent", "value": "second"}]}, "attributes": [{"key": "connection_id", "value": {"stringValue": "conn_kv"}}, {"key": "http.status_code", "value": 403}]}"#,
    );
    assert_eq!(ev.ts, T0);
    assert_eq!(ev.status, Some(403));
    assert_eq!(ev.connection_id.as_deref(), Some("conn_kv"));
    assert_eq!(ev.user_agent.as_deref(), Some("curl/8.1"));
    assert_eq!(ev.ip_address.as_deref(), Some("203.0.113.5"));
    assert_eq!(ev.request_id.as_deref(), Some("waf-1"));
    // A list of objects that are not name-value pairs is left alone (no field from it).
    let ev = one(
        r#"{"timestamp": 1705314600000, "status": 500, "steps": [{"name": "fetch", "value": 1, "took_ms": 3, "ok": true}]}"#,
    );
    assert_eq!(ev.status, Some(500));
    assert!(
        ev.extra.as_deref().is_some_and(|x| x.contains("took_ms")),
        "{ev:?}"
    );
}

#[test]
fn a_wrapper_without_a_known_name_gives_its_records() {
    let cfg = MappingConfig::default();
    let out = decode_record(
        r#"{"took": 3, "hits": {"total": 2, "hits": [{"_id": "1", "_source": {"@timestamp": "2024-01-15T10:30:00Z", "status": 401}}, {"_id": "2", "_source": {"@timestamp": "2024-01-15T10:30:00Z", "status": 503}}]}}"#,
        &cfg,
    );
    let statuses: Vec<Option<i16>> = out.iter().map(|o| o.as_ref().unwrap().status).collect();
    assert_eq!(statuses, [Some(401), Some(503)]);
    // Two arrays of the same size: which one holds the records is not guessed.
    let out = decode_record(
        r#"{"a": [{"ts": "2024-01-15T10:30:00Z"}], "b": [{"ts": "2024-01-15T10:30:00Z"}]}"#,
        &cfg,
    );
    assert!(
        matches!(&out[..], [Err(Rejection(r))] if r.starts_with("no timestamp")),
        "{out:?}"
    );
}

#[test]
fn numeric_levels_of_syslog_and_pino() {
    for (level, want) in [
        (3, "ERROR"),
        (2, "CRITICAL"),
        (4, "WARNING"),
        (50, "ERROR"),
        (60, "CRITICAL"),
        (30, "INFO"),
    ] {
        let text = format!(r#"{{"timestamp": 1705314600000, "level": {level}, "status": 500}}"#);
        assert_eq!(one(&text).level.as_deref(), Some(want), "{level}");
    }
    // Other numbers are not guessed at.
    assert_eq!(
        one(r#"{"timestamp": 1705314600000, "level": 12, "status": 500}"#).level,
        None
    );
}

#[test]
fn a_value_that_loses_its_column_stays_in_extra() {
    // GitHub's audit log: `@timestamp` and `created_at`; CloudTrail's user: principalId
    // and userName. Neither loser is dropped.
    let ev = one(
        r#"{"@timestamp": 1705314600000, "created_at": 1705314601000, "status": 403, "user": {"principalId": "AIDA1", "userName": "alice"}}"#,
    );
    assert_eq!(ev.ts, T0);
    let extra: serde_json::Value = serde_json::from_str(ev.extra.as_deref().unwrap()).unwrap();
    assert_eq!(extra["created_at"], 1705314601000u64, "{extra}");
    assert_eq!(extra["user"]["userName"], "alice", "{extra}");
    // A record without competing fields has no extra.
    assert_eq!(
        one(r#"{"timestamp": 1705314600000, "status": 500}"#).extra,
        None
    );
}

/// Regression (issue 29): an AWS WAF rate-based rule's BLOCK is rate limiting, not a
/// denial (it was `authorization`); any other rule's BLOCK stays a denial.
#[test]
fn waf_rate_based_block_is_rate_limiting() {
    let rate = one(
        r#"{"timestamp":1709632801123,"formatVersion":1,"webaclId":"arn:aws:wafv2:us-east-1:111122223333:regional/webacl/api/1","terminatingRuleId":"RateLimitPerIP","terminatingRuleType":"RATE_BASED","action":"BLOCK","httpSourceName":"ALB","httpRequest":{"clientIp":"198.51.100.7","country":"FR","uri":"/v1/login","httpMethod":"POST","requestId":"1-65e6f0a1-abc"}}"#,
    );
    assert_eq!(rate.category, "rate_limit");
    assert_eq!(rate.error_code.as_deref(), Some("BLOCK"));
    assert_eq!(rate.retryable, Some(true));
    let rule = one(
        r#"{"timestamp":1709632801123,"formatVersion":1,"terminatingRuleId":"AWS-AWSManagedRulesSQLiRuleSet","terminatingRuleType":"MANAGED_RULE_GROUP","action":"BLOCK","httpRequest":{"clientIp":"198.51.100.7","uri":"/v1/search","httpMethod":"GET","requestId":"1-65e6f0a1-abd"}}"#,
    );
    assert_eq!(rule.category, "authorization");
}

/// Issue 29: a WAF's block or challenge is a security signal of its own, not any 403:
/// Cloudflare Logpush's `SecurityAction` (`block`, `managedChallenge`; a challenge solved
/// or `log` is none) and AWS WAF's `action` beside its rule (`BLOCK`) give the codes
/// `WAF_BLOCK` and `WAF_CHALLENGE`, with or without a status.
#[test]
fn waf_blocks_and_challenges_are_their_own_codes() {
    let cf = |action: &str| {
        format!(
            r#"{{"ClientIP":"203.0.113.50","ClientRequestHost":"api.example.com","ClientRequestMethod":"POST","ClientRequestURI":"/login","EdgeStartTimestamp":"2024-03-05T10:00:01Z","EdgeResponseStatus":403,"SecurityAction":"{action}","SecuritySource":"firewallCustom","RayID":"86a1b2c3d4e5f607"}}"#
        )
    };
    let code = |action: &str| one(&cf(action)).error_code.map(|c| c.into_owned());
    let text = cf("block");
    let block = one(&text);
    assert_eq!(block.error_code.as_deref(), Some("WAF_BLOCK"));
    assert_eq!((block.status, block.category), (Some(403), "authorization"));
    assert_eq!(block.ip_address.as_deref(), Some("203.0.113.50"));
    assert_eq!(code("managedChallenge").as_deref(), Some("WAF_CHALLENGE"));
    assert_eq!(code("jschallenge").as_deref(), Some("WAF_CHALLENGE"));
    assert_eq!(code("log").as_deref(), Some("HTTP_403"));
    assert_eq!(
        code("managedChallengeInteractiveSolved").as_deref(),
        Some("HTTP_403")
    );
    let aws = one(
        r#"{"timestamp":1709632801123,"formatVersion":1,"webaclId":"arn:aws:wafv2:us-east-1:111122223333:regional/webacl/api/1","terminatingRuleId":"AWS-AWSManagedRulesSQLiRuleSet","terminatingRuleType":"MANAGED_RULE_GROUP","action":"BLOCK","httpRequest":{"clientIp":"198.51.100.7","uri":"/v1/search","httpMethod":"GET","requestId":"1-65e6f0a1-abd"}}"#,
    );
    assert_eq!(aws.error_code.as_deref(), Some("WAF_BLOCK"));
    assert_eq!((aws.status, aws.category), (None, "authorization"));
    assert_eq!(aws.ip_address.as_deref(), Some("198.51.100.7"));
    let captcha = one(
        r#"{"timestamp":1709632801123,"webaclId":"arn:aws:wafv2:us-east-1:111122223333:regional/webacl/api/1","terminatingRuleId":"BotControl","terminatingRuleType":"MANAGED_RULE_GROUP","action":"CAPTCHA","httpRequest":{"clientIp":"198.51.100.8","uri":"/v1/login","httpMethod":"POST","requestId":"1-65e6f0a1-abe"}}"#,
    );
    assert_eq!(captcha.error_code.as_deref(), Some("WAF_CHALLENGE"));
    assert_eq!(captcha.category, "authorization");
}

/// Regression (issue 29): Okta's MFA `CHALLENGE` is no failure (thousands became
/// "network" errors with a sentence as their code); `FAILURE` with a reason is a failed login.
#[test]
fn okta_challenges_are_not_failures() {
    let challenge = one(
        r#"{"uuid":"a1","published":"2024-03-05T11:00:00.000Z","eventType":"user.authentication.auth_via_mfa","outcome":{"result":"CHALLENGE","reason":"Verification challenge"},"actor":{"alternateId":"alice@acme.example"},"client":{"ipAddress":"203.0.113.50"}}"#,
    );
    assert_eq!(challenge.category, "success");
    assert_eq!(challenge.class, None);
    let failure = one(
        r#"{"uuid":"a2","published":"2024-03-05T11:00:01.000Z","eventType":"user.session.start","outcome":{"result":"FAILURE","reason":"INVALID_CREDENTIALS"},"actor":{"alternateId":"bob@acme.example"},"client":{"ipAddress":"203.0.113.51"}}"#,
    );
    assert_eq!(failure.category, "authentication");
    assert_eq!(failure.error_code.as_deref(), Some("INVALID_CREDENTIALS"));
}

/// Regression (issue 29): a CloudTrail Insight record reports unusual API activity; it is
/// no request of its own.
#[test]
fn cloudtrail_insight_is_not_a_request() {
    let ev = one(
        r#"{"eventVersion":"1.08","eventTime":"2024-03-05T10:00:00Z","awsRegion":"us-east-1","eventID":"i-1","eventType":"AwsCloudTrailInsight","recipientAccountId":"111122223333","sharedEventID":"s-1","insightDetails":{"state":"Start","eventSource":"ssm.amazonaws.com","eventName":"UpdateInstanceInformation","insightType":"ApiCallRateInsight","insightContext":{"statistics":{"baseline":{"average":85.0},"insight":{"average":420.0}}}},"eventCategory":"Insight"}"#,
    );
    assert_eq!(ev.category, "log");
    assert_eq!(ev.error_code, None);
}

/// Regression (issue 29): seed 004's handler retries `AUTH_003` (token expired) after a
/// refresh; every 401 was not retryable. `AUTH_002` (revoked key) stays not retryable.
#[test]
fn an_expired_token_is_retryable_after_a_refresh() {
    let expired = one(
        r#"{"timestamp":"2024-03-05T10:00:00Z","error":"token_expired","error_code":"AUTH_003","error_description":"Access token has expired","http_status":401,"request_id":"r1"}"#,
    );
    assert_eq!(expired.category, "authentication");
    assert_eq!(expired.retryable, Some(true));
    let revoked = one(
        r#"{"timestamp":"2024-03-05T10:00:00Z","error":"invalid_client","error_code":"AUTH_002","error_description":"Invalid or revoked service key","http_status":401,"request_id":"r2"}"#,
    );
    assert_eq!(revoked.retryable, Some(false));
}
