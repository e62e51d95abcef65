//! Which input keys feed which canonical field: a generous built-in alias table, matched
//! without regard to case and separators, that `errscope.toml` can extend.
//!
//! A key is normalised by dropping everything but ASCII letters and digits and lower-casing
//! (`statusCode`, `status_code`, `Status-Code` -> `statuscode`). Nested keys are matched by
//! their joined path (`error.code` -> `errorcode`, `http.response.status_code` ->
//! `httpresponsestatuscode`), so one table covers flat and nested shapes.

use ahash::{AHashMap, AHashSet};

/// A canonical field a record value can feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Ts,
    Status,
    /// The ambiguous `code`: an HTTP status when it is a number in 100..=599 and the record
    /// has no status, else the vendor error code.
    Code,
    Error,
    ErrorCode,
    Message,
    Level,
    RequestId,
    ConnectionId,
    OrganizationId,
    UserId,
    Endpoint,
    Method,
    IpAddress,
    UserAgent,
    /// The service or host a request went to (the outage key where there is no
    /// connection).
    Service,
    RetryAfter,
    RetryAfterMs,
    Retryable,
    Details,
    Downstream,
    /// Whether the operation succeeded, without an HTTP status: ECS `event.outcome`,
    /// `result`, a WAF `action` (`block`).
    Outcome,
    /// A WAF's action on the request (Cloudflare `SecurityAction`): a block or a challenge
    /// is the error code (`WAF_BLOCK`, `WAF_CHALLENGE`), a security signal.
    SecurityAction,
    /// A trace or correlation id: `request_id` when no request id was found.
    TraceId,
    /// An `errors` array: its first element is mapped with the `errors` prefix.
    Errors,
}

impl Target {
    pub const COUNT: usize = Target::Errors as usize + 1;

    /// The canonical column this target feeds, as `errscope inspect` names it.
    pub fn column_name(self) -> &'static str {
        match self {
            Target::Ts => "ts",
            Target::Status => "status",
            Target::Code => "status or error_code (a code)",
            Target::Error => "error",
            Target::ErrorCode => "error_code",
            Target::Message => "message",
            Target::Level => "level",
            Target::RequestId => "request_id",
            Target::ConnectionId => "connection_id",
            Target::OrganizationId => "organization_id",
            Target::UserId => "user_id",
            Target::Endpoint => "endpoint",
            Target::Method => "method",
            Target::IpAddress => "ip_address",
            Target::UserAgent => "user_agent",
            Target::Service => "service",
            Target::RetryAfter => "retry_after_s",
            Target::RetryAfterMs => "retry_after_s (ms)",
            Target::Retryable => "retryable",
            Target::Details => "details",
            Target::Downstream => "downstream",
            Target::Outcome => "outcome (error or success)",
            Target::SecurityAction => "error_code (a WAF's block or challenge)",
            Target::TraceId => "request_id (a trace id: when no request id)",
            Target::Errors => "errors[0]",
        }
    }

    /// Fields whose value is kept as JSON text rather than a scalar.
    pub fn is_json(self) -> bool {
        matches!(self, Target::Details | Target::Downstream)
    }
}

/// `(target, rank, aliases)`: a lower rank wins when a record has several aliases of one
/// field at the same depth.
const BUILTIN: &[(Target, u8, &[&str])] = &[
    (
        Target::Ts,
        0,
        &[
            "timestamp",
            "@timestamp",
            "ts",
            "time",
            "datetime",
            "eventTime",
            "event_time",
            "eventTimestamp",
            "timestamp_ms",
            "time_ms",
            "timeUnixNano",
            "logged_at",
            "occurred_at",
            // Vendors' own (docs): Cloudflare Logpush, Azure sign-in logs, Traefik.
            "EdgeStartTimestamp",
            "createdDateTime",
            // Okta System Log, Envoy and Kong access logs, AWS API Gateway access logs,
            // Kubernetes audit events, nginx's JSON log.
            "published",
            "start_time",
            "started_at",
            "requestTime",
            "requestReceivedTimestamp",
            "time_iso8601",
            // Traefik: the sub-second start beside its whole-second `time` (Traefik writes
            // keys sorted, so `StartUTC` comes first and wins the tie).
            "StartUTC",
        ],
    ),
    (
        Target::Ts,
        1,
        &[
            "date",
            "created_at",
            "createdAt",
            "time_local",
            "epoch",
            "Datetime",
            "observedTimeUnixNano",
            "requestTimeEpoch",
            "stageTimestamp",
            "receiveTimestamp",
        ],
    ),
    (
        Target::Status,
        0,
        &[
            "status",
            "http_status",
            "statusCode",
            "status_code",
            "httpStatus",
            "http_status_code",
            "response_status",
            "response_status_code",
            "http.response.status_code",
            "http_code",
            "response_code",
            "status_code_value",
            // Traefik's access log: what the client got, then what the backend said.
            "DownstreamStatus",
            // Google Cloud's LogEntry (load balancers, Cloud Run, App Engine).
            "httpRequest.status",
            // pino-http's response serializer (Node.js).
            "res.statusCode",
        ],
    ),
    (
        Target::Status,
        2,
        &["errors.status", "error.status", "OriginStatus"],
    ),
    (Target::Code, 1, &["code", "errors.code"]),
    // Azure resource logs (Entra ID sign-ins in a diagnostic export): `0` or `Success`,
    // else the failure's code.
    (Target::Code, 2, &["resultType"]),
    (
        Target::Error,
        0,
        &[
            "error",
            "error_type",
            "errorType",
            "error.type",
            "errors.type",
            "error_name",
            "exception_type",
        ],
    ),
    (
        Target::Error,
        2,
        &["error.name", "error.kind", "errorResponseType", "err.type"],
    ),
    (
        Target::ErrorCode,
        0,
        &[
            "error_code",
            "errorCode",
            "err_code",
            "error.code",
            "vendor_code",
            "error_id",
        ],
    ),
    // Okta: why an outcome failed (`INVALID_CREDENTIALS`, `LOCKED_OUT`).
    (Target::ErrorCode, 2, &["outcome.reason"]),
    // Google Cloud load balancers: what the proxy did (`denied_by_security_policy` by
    // Cloud Armor, `failed_to_pick_backend`), the code of the error it answered with.
    (Target::ErrorCode, 2, &["statusDetails"]),
    (
        Target::Message,
        0,
        &[
            "error_description",
            "error_message",
            "errorMessage",
            "error.message",
            "errors.message",
            "errors.detail",
            // pino's error serializer.
            "err.message",
        ],
    ),
    (
        Target::Message,
        1,
        &[
            "message",
            "description",
            "detail",
            "error.description",
            "error.detail",
            "errors.title",
            // GELF (Graylog).
            "short_message",
            // Azure resource logs.
            "resultDescription",
        ],
    ),
    (
        Target::Message,
        2,
        &[
            "msg",
            "reason",
            "title",
            "status_message",
            "error_msg",
            "failureReason",
            "body",
            // Okta: the event's own sentence.
            "displayMessage",
        ],
    ),
    (
        Target::Level,
        0,
        &[
            "level",
            "levelname",
            "log_level",
            "loglevel",
            "severity",
            "lvl",
            "severity_text",
            "log.level",
        ],
    ),
    (
        Target::RequestId,
        0,
        &[
            "request_id",
            "requestId",
            "x-request-id",
            "req_id",
            "request.id",
        ],
    ),
    (
        Target::RequestId,
        2,
        &[
            "log_id",
            "insertId",
            "_document_id",
            "eventID",
            "event.id",
            // Kubernetes audit, Azure Front Door.
            "auditID",
            "trackingReference",
            "transaction_id",
        ],
    ),
    (Target::RequestId, 1, &["RayID"]),
    // Trace and correlation ids: the request id only when the record has no request id
    // at any depth (OpenTelemetry's `traceId` beside `attributes.http.request.id`).
    (
        Target::TraceId,
        0,
        &[
            "trace_id",
            "traceId",
            "trace.id",
            "correlation_id",
            "correlationId",
            "x-correlation-id",
        ],
    ),
    (
        Target::ConnectionId,
        0,
        &[
            "connection_id",
            "connectionId",
            "conn_id",
            "connection.id",
            "connector_id",
            "integration_id",
        ],
    ),
    (
        Target::ConnectionId,
        1,
        &[
            "connection",
            "conn",
            "connection_uuid",
            "connection_key",
            "connector",
            "integration",
        ],
    ),
    (
        Target::ConnectionId,
        2,
        // The client application a failure belongs to: Azure sign-in's app, Auth0's
        // client. (Not `ServiceName`: in ECS and OpenTelemetry it is the service that
        // logs, not the connection.)
        &["appId", "client_id", "appDisplayName", "client_name"],
    ),
    (
        Target::OrganizationId,
        0,
        &[
            "organization_id",
            "organizationId",
            "orgId",
            "org_id",
            "organization.id",
            "org.id",
            "tenant_id",
            "tenantId",
            "account_id",
            "accountId",
        ],
    ),
    (
        Target::OrganizationId,
        1,
        &[
            "organization",
            "org",
            "tenant",
            "account",
            "customer_id",
            "workspace_id",
            "project_id",
            "tenant_name",
            "recipientAccountId",
            "customer",
            "workspace",
        ],
    ),
    (
        Target::UserId,
        0,
        &[
            "user_id",
            "userId",
            "user.id",
            "principal_id",
            "uid",
            "enduser.id",
            // Datadog's standard attributes; Kubernetes audit's user.
            "usr.id",
            "user.username",
            // Entra ID sign-ins: the sign-in name (beside `userId`, a GUID; it comes first
            // in Microsoft Graph's output and wins the tie).
            "userPrincipalName",
        ],
    ),
    (
        Target::UserId,
        1,
        &[
            "user",
            "principal",
            "username",
            "user.name",
            "actor",
            "principalEmail",
            "user_name",
            "ClientUsername",
            "enduser.name",
            // Okta's actor (its login), Kong's consumer, Datadog's user e-mail.
            "actor.alternateId",
            "consumer.username",
            "usr.email",
        ],
    ),
    (Target::UserId, 2, &["email", "user_email", "login"]),
    (
        Target::Endpoint,
        0,
        &[
            "endpoint",
            "path",
            "route",
            "request_path",
            "http.route",
            "url.path",
            // AWS API Gateway, Datadog.
            "resourcePath",
            "http.url_details.path",
        ],
    ),
    (
        Target::Endpoint,
        1,
        &[
            "url",
            "uri",
            "request_url",
            "request_uri",
            "request.path",
            "request.url",
            "http.url",
            "url.original",
            // pino-http's request; OpenTelemetry's older and newer URL attributes.
            "req.url",
            "http.target",
            "url.full",
        ],
    ),
    (
        Target::Endpoint,
        2,
        // The operation called: CloudTrail's eventName, GCP audit's methodName.
        &["eventName", "methodName", "rpc.method"],
    ),
    (
        Target::Service,
        0,
        // The service that served the request: its name where the log is the service's
        // own (Datadog and ECS `service`, OpenTelemetry `service.name`, GCP audit's
        // `serviceName`, Kong's service), the host a proxy or CDN sent it to (Cloudflare,
        // Traefik, Caddy), a load balancer's or proxy's backend. Not `host`: in most logs
        // it is the machine that wrote the line.
        &[
            "service",
            "service.name",
            "serviceName",
            "service_name",
            "ClientRequestHost",
            "RequestHost",
            "request.host",
            "http.host",
            "url.domain",
            "server.address",
            "upstream_cluster",
            "backend_service_name",
            "backend_name",
        ],
    ),
    (Target::Service, 1, &["ZoneName"]),
    (
        Target::Method,
        0,
        &[
            "method",
            "http_method",
            "request_method",
            "request.method",
            "http.method",
            "http.request.method",
            "verb",
            "req.method",
        ],
    ),
    (
        Target::IpAddress,
        0,
        &[
            "ip_address",
            "ip",
            "client_ip",
            "clientIp",
            "source_ip",
            "src_ip",
            "ip_addr",
            "client.ip",
            "source.ip",
            "client_address",
            "sourceIPAddress",
            "callerIp",
            "actor_ip",
            "client.address",
            // Kubernetes audit (a list: its first address).
            "sourceIPs",
        ],
    ),
    // The peer: the client itself, or a proxy or load balancer in front of it. The client
    // the format names (Caddy's `client_ip`, after its trusted proxies) or
    // `X-Forwarded-For` wins over it.
    (
        Target::IpAddress,
        2,
        &["remote_addr", "remote_ip", "remote_address", "ClientHost"],
    ),
    (
        Target::IpAddress,
        1,
        &[
            "x-forwarded-for",
            "request.ip",
            "ClientAddr",
            "network.client.ip",
        ],
    ),
    (
        Target::UserAgent,
        0,
        &[
            "user_agent",
            "userAgent",
            "ua",
            "http_user_agent",
            "user_agent.original",
            "request.user_agent",
        ],
    ),
    (
        Target::RetryAfter,
        0,
        &[
            "retry_after",
            "Retry-After",
            "retryAfter",
            "retry_after_seconds",
            "retry_after_s",
            "retryAfterSeconds",
        ],
    ),
    (Target::RetryAfterMs, 0, &["retry_after_ms", "retryAfterMs"]),
    (
        Target::Retryable,
        0,
        &["retryable", "is_retryable", "retriable"],
    ),
    (
        Target::Details,
        0,
        &["details", "error_details", "errorDetails", "error.details"],
    ),
    (
        Target::Downstream,
        0,
        &[
            "downstreamErrors",
            "downstream_errors",
            "downstream",
            "downstreamError",
            "target_errors",
        ],
    ),
    // CloudTrail: a console sign-in says `Success` or `Failure` here (no `errorCode`).
    (
        Target::Outcome,
        0,
        &["outcome", "event.outcome", "responseElements.ConsoleLogin"],
    ),
    (Target::Outcome, 1, &["result"]),
    // Cloudflare Logpush `http_requests` (and its older `WAFAction`).
    (
        Target::SecurityAction,
        0,
        &[
            "SecurityAction",
            "WAFAction",
            "waf.action",
            "security_action",
        ],
    ),
    // `type`: Auth0's event type codes (`fp`, `s`, ...), read by `classify::outcome_of`.
    (Target::Outcome, 2, &["action", "type"]),
    (Target::Errors, 0, &["errors"]),
];

/// Objects whose children may be matched by their own key as well as by the joined path
/// (`context.user_id` feeds `user_id`), at a lower priority than a direct match.
const TRANSPARENT: &[&str] = &[
    "context",
    "ctx",
    "meta",
    "metadata",
    "data",
    "attributes",
    "attrs",
    "fields",
    "labels",
    "request",
    "response",
    "http",
    "headers",
    "payload",
    "event",
    "log",
    "properties",
    "details",
    "_source",
    "error",
    "client",
    "source",
];

/// Envelope keys whose array of objects holds the records of a single-document export.
pub const ENVELOPES: &[&str] = &[
    "events", "logs", "records", "data", "items", "results", "entries",
];

/// [`normalize_into`], also pushing the offset in `out` where each word of `key` starts:
/// words are separated by `.`, `_`, `-`, spaces and other non-alphanumerics, and by
/// camelCase humps (`ClientRequestUserAgent`: Client, Request, User, Agent;
/// `sourceIPAddress`: source, IP, Address).
pub fn normalize_with_words(key: &str, out: &mut String, words: &mut Vec<usize>) {
    let mut new_word = true;
    let mut prev: Option<char> = None;
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        if !c.is_alphanumeric() {
            new_word = true;
            prev = Some(c);
            continue;
        }
        let hump = c.is_uppercase()
            && prev.is_some_and(|p| {
                p.is_lowercase()
                    || p.is_ascii_digit()
                    || (p.is_uppercase() && chars.peek().is_some_and(|n| n.is_lowercase()))
            });
        if new_word || hump {
            words.push(out.len());
        }
        new_word = false;
        prev = Some(c);
        out.push(c.to_ascii_lowercase());
    }
}

/// Lower-cases ASCII letters and drops every character that is not a letter or digit.
pub fn normalize_into(key: &str, out: &mut String) {
    if key.is_ascii() {
        // Hot path: every key of every record passes here.
        out.reserve(key.len());
        for b in key.bytes() {
            if b.is_ascii_alphanumeric() {
                out.push(char::from(b.to_ascii_lowercase()));
            }
        }
    } else {
        out.extend(
            key.chars()
                .filter(|c| c.is_alphanumeric())
                .map(|c| c.to_ascii_lowercase()),
        );
    }
}

pub fn normalize(key: &str) -> String {
    let mut s = String::with_capacity(key.len());
    normalize_into(key, &mut s);
    s
}

/// The lookup table: normalised path -> (target, rank).
#[derive(Debug, Clone)]
pub struct AliasTable {
    map: AHashMap<String, (Target, u8)>,
    /// The aliases of two words or more (`connection_id`, `organization.id`, `userAgent`),
    /// which may also match the last words of a longer key or path
    /// (`service.connection_id`, `connection.organization.id`, `ClientRequestUserAgent`).
    suffix: AHashMap<String, (Target, u8)>,
    transparent: AHashSet<String>,
}

/// How much worse a match on a key's last words ranks than a match on the whole key.
pub const SUFFIX_RANK: u8 = 3;

/// Whether an alias has two words or more (so its words are specific enough to match the
/// end of another key).
fn is_compound(alias: &str) -> bool {
    let mut norm = String::new();
    let mut words = Vec::new();
    normalize_with_words(alias, &mut norm, &mut words);
    words.len() >= 2
}

impl Default for AliasTable {
    fn default() -> Self {
        let mut map = AHashMap::new();
        let mut suffix = AHashMap::new();
        for (target, rank, names) in BUILTIN {
            for name in *names {
                map.entry(normalize(name)).or_insert((*target, *rank));
                // Not the ambiguous `code`, nor the containers.
                let specific =
                    !matches!(target, Target::Code | Target::Errors) && !target.is_json();
                if specific && is_compound(name) {
                    suffix.entry(normalize(name)).or_insert((*target, *rank));
                }
            }
        }
        let transparent = TRANSPARENT.iter().map(|t| normalize(t)).collect();
        AliasTable {
            map,
            suffix,
            transparent,
        }
    }
}

impl AliasTable {
    /// Adds user aliases (from `errscope.toml`); they outrank the built-in ones.
    pub fn with_user_aliases(mut self, extra: &[(Target, String)]) -> Self {
        for (target, name) in extra {
            self.map.insert(normalize(name), (*target, 0));
            if is_compound(name) {
                self.suffix.insert(normalize(name), (*target, 0));
            }
        }
        self
    }

    pub fn lookup(&self, normalized: &str) -> Option<(Target, u8)> {
        self.map.get(normalized).copied()
    }

    /// The longest proper suffix of `normalized` that starts a word (`word_starts`,
    /// offsets into it) and is an alias of two words or more, ranked [`SUFFIX_RANK`]
    /// lower than the alias itself.
    pub fn lookup_suffix(&self, normalized: &str, word_starts: &[usize]) -> Option<(Target, u8)> {
        word_starts
            .iter()
            .filter(|&&b| b > 0 && b < normalized.len())
            .find_map(|&b| self.suffix.get(&normalized[b..]).copied())
            .map(|(t, r)| (t, r + SUFFIX_RANK))
    }

    pub fn is_transparent(&self, normalized: &str) -> bool {
        self.transparent.contains(normalized)
    }
}

/// Parses a field name of `errscope.toml`'s `[aliases]` table.
pub fn target_by_name(name: &str) -> Option<Target> {
    Some(match name {
        "ts" => Target::Ts,
        "status" => Target::Status,
        "error" => Target::Error,
        "error_code" => Target::ErrorCode,
        "message" => Target::Message,
        "level" => Target::Level,
        "request_id" => Target::RequestId,
        "connection_id" => Target::ConnectionId,
        "organization_id" => Target::OrganizationId,
        "user_id" => Target::UserId,
        "endpoint" => Target::Endpoint,
        "method" => Target::Method,
        "ip_address" => Target::IpAddress,
        "user_agent" => Target::UserAgent,
        "service" => Target::Service,
        "retry_after_s" => Target::RetryAfter,
        "retryable" => Target::Retryable,
        "details" => Target::Details,
        "downstream" => Target::Downstream,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_ignores_case_and_separators() {
        assert_eq!(normalize("statusCode"), "statuscode");
        assert_eq!(normalize("status_code"), "statuscode");
        assert_eq!(normalize("Status-Code"), "statuscode");
        assert_eq!(normalize("@timestamp"), "timestamp");
        assert_eq!(normalize("x-request-id"), "xrequestid");
    }

    #[test]
    fn builtin_aliases_cover_the_domain_shapes() {
        let t = AliasTable::default();
        for (k, target) in [
            ("httpStatus", Target::Status),
            ("http_status", Target::Status),
            ("eventTime", Target::Ts),
            ("@timestamp", Target::Ts),
            ("connectionId", Target::ConnectionId),
            ("conn_id", Target::ConnectionId),
            ("orgId", Target::OrganizationId),
            ("tenant_id", Target::OrganizationId),
            ("clientIp", Target::IpAddress),
            ("remote_addr", Target::IpAddress),
            ("X-Request-ID", Target::RequestId),
            ("userAgent", Target::UserAgent),
            ("error_description", Target::Message),
            ("errorCode", Target::ErrorCode),
            ("downstreamErrors", Target::Downstream),
        ] {
            assert_eq!(t.lookup(&normalize(k)).map(|x| x.0), Some(target), "{k}");
        }
        assert!(t.lookup("foo").is_none());
    }

    #[test]
    fn words_and_suffixes() {
        let words = |k: &str| {
            let (mut n, mut w) = (String::new(), Vec::new());
            normalize_with_words(k, &mut n, &mut w);
            w.iter()
                .enumerate()
                .map(|(i, &s)| n[s..w.get(i + 1).copied().unwrap_or(n.len())].to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            words("ClientRequestUserAgent"),
            ["client", "request", "user", "agent"]
        );
        assert_eq!(words("sourceIPAddress"), ["source", "ip", "address"]);
        assert_eq!(
            words("service.connection_id"),
            ["service", "connection", "id"]
        );
        assert_eq!(words("RayID"), ["ray", "id"]);
        let t = AliasTable::default();
        let hit = |k: &str| {
            let (mut n, mut w) = (String::new(), Vec::new());
            normalize_with_words(k, &mut n, &mut w);
            t.lookup(&n)
                .or_else(|| t.lookup_suffix(&n, &w))
                .map(|x| x.0)
        };
        for (k, target) in [
            ("service.connection_id", Target::ConnectionId),
            ("connection.organization.id", Target::OrganizationId),
            ("http.request.id", Target::RequestId),
            ("enduser.id", Target::UserId),
            ("ClientRequestUserAgent", Target::UserAgent),
            ("EdgeResponseStatus", Target::Status),
            ("aws_account_id", Target::OrganizationId),
            ("sourceIPAddress", Target::IpAddress),
        ] {
            assert_eq!(hit(k), Some(target), "{k}");
        }
        // One generic word at the end is not enough.
        for k in [
            "country.code",
            "order.status",
            "file.path",
            "shipping.message",
            "first_id",
        ] {
            assert_eq!(hit(k), None, "{k}");
        }
    }

    #[test]
    fn user_aliases_win() {
        let t = AliasTable::default()
            .with_user_aliases(&[(Target::ConnectionId, "integration.ref".into())]);
        assert_eq!(t.lookup("integrationref"), Some((Target::ConnectionId, 0)));
    }
}
