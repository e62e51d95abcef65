//! The outcome rules: the candidates of one record -> its [`Event`] (the timestamp, status
//! and code, category, class and retryability, the identities and the rest in `extra`).

#[allow(unused_imports)] // the parent's names, as one module split by concern
use super::*;

/// The event the candidates of one record make.
pub(super) fn event_of<'a>(
    c: &mut Candidates<'a>,
    prefix: Option<&Prefix<'a>>,
    cfg: &MappingConfig,
    red: Redactor,
) -> Result<Event<'a>, Rejection> {
    let ts = match c.take(Target::Ts) {
        Some(Val::Ts(t)) => Some(t),
        _ => prefix.and_then(|p| p.ts),
    };
    let ts = match ts {
        Some(t) if plausible_ts(t) => t,
        Some(t) => {
            return Err(Rejection(format!(
                "timestamp {} is outside 1990..2100 (a broken clock or a unit mistake)",
                chrono::DateTime::from_timestamp_micros(t)
                    .map_or_else(|| t.to_string(), |d| d.to_rfc3339())
            )))
        }
        None => {
            return Err(Rejection(match c.bad_ts.take() {
                Some(kv) => format!("unreadable timestamp {}", truncate(&kv, 80)),
                None => NO_TIMESTAMP.into(),
            }))
        }
    };

    let mut status = match c.take(Target::Status) {
        Some(Val::Int(s)) => Some(s as i16),
        _ => None,
    };
    let code = c.take(Target::Code);
    let mut vendor_code: Option<Cow<'a, str>> = c.text(Target::ErrorCode);
    match code {
        Some(Val::Int(n)) => {
            if status.is_none() && (100..=599).contains(&n) {
                status = Some(n as i16);
            } else if vendor_code.is_none() && Some(n) != status.map(i64::from) {
                vendor_code = Some(Cow::Owned(n.to_string()));
            }
        }
        Some(Val::Text(t)) if vendor_code.is_none() && !t.trim().is_empty() => {
            vendor_code = Some(Cow::Owned(t.trim().to_owned()))
        }
        _ => {}
    }

    // A vendor code of 0 without a status is a success (Azure sign-in's `errorCode: 0`,
    // gRPC's OK).
    // A load balancer's `response_sent_by_backend` says who answered, not what went wrong:
    // the status is the error (its code `HTTP_<status>`).
    if vendor_code
        .as_deref()
        .is_some_and(|c| c.eq_ignore_ascii_case("response_sent_by_backend"))
    {
        vendor_code = None;
    }
    // So is a code that says success (Azure's `resultType: "Success"`, gRPC's `OK`).
    let code_says_success = status.is_none()
        && vendor_code
            .as_deref()
            .is_some_and(|c| c.trim() == "0" || outcome_of(c) == Some(true));
    if code_says_success {
        vendor_code = None;
    }
    // An outcome without a status (ECS `event.outcome`, a WAF `action`): a failure is an
    // error (its word the code when nothing else names one), a success is not.
    let (failed_outcome, succeeded) = match c.take(Target::Outcome) {
        Some(Val::Text(word)) => (Some(word), false),
        Some(Val::Bool(true)) => (None, true),
        _ => (None, code_says_success),
    };
    // A WAF's block or challenge (Cloudflare's `SecurityAction`; AWS WAF's `action` beside
    // its `terminatingRuleId`, a rate-based rule's block being rate limiting): the code
    // when no vendor code names the error, a security signal on the client's address.
    let waf = match c.take(Target::SecurityAction) {
        Some(Val::Text(code)) => Some(code),
        _ => failed_outcome
            .as_deref()
            .filter(|_| waf_record(&c.extra))
            .and_then(super::waf_code)
            .map(Cow::Borrowed),
    }
    .filter(|_| !rate_based(&c.extra));
    let failed_outcome = failed_outcome.or_else(|| waf.clone());
    if vendor_code.is_none() {
        vendor_code = waf;
    }
    let error = red.text(c.text(Target::Error));
    let level: Option<Cow<'a, str>> = match c.take(Target::Level) {
        Some(Val::Int(n)) => numeric_level(n, c.scale).map(Cow::Borrowed),
        Some(Val::Text(t)) => Some(t).filter(|t| !t.trim().is_empty()),
        _ => None,
    }
    .or_else(|| prefix.and_then(|p| p.level).map(Cow::Borrowed));
    let level_is_failure = matches!(level.as_deref(), Some("ERROR" | "CRITICAL"));
    let mut endpoint = red.text(c.text(Target::Endpoint));
    let user_agent = red.text(c.text(Target::UserAgent));
    let mut method = c
        .text(Target::Method)
        .map(|m| Cow::Owned(m.to_ascii_uppercase()));
    // A record describes a request when it says how one went (a status, an outcome, an
    // API error's code or type) or names one (a method, an endpoint). Other records are
    // runtime log lines (Caddy's config warnings, an OTLP WARN): kept, classified by their
    // level, and outside every request count and ratio.
    // A CloudTrail Insight record (`eventCategory: Insight`) reports unusual API activity
    // it measured; it is no request of its own.
    let insight = c
        .extra
        .iter()
        .any(|(k, v)| k == "eventCategory" && v.contains("Insight"));
    let is_request = !insight
        && (status.is_some()
        || succeeded
        || failed_outcome.is_some()
        || vendor_code.is_some()
        || error.is_some()
        || endpoint.is_some()
        || method.is_some()
        // Only a client's request has a user agent (an audit event of one, too).
        || user_agent.is_some());
    let is_error = match status {
        Some(s) => s >= 400,
        None if succeeded => false,
        // The level alone: an error or a fatal line is an error (a warning is not, and a
        // record that says info never is).
        None => {
            vendor_code.is_some() || error.is_some() || failed_outcome.is_some() || level_is_failure
        }
    };
    // An error that only its level tells (no code, type or outcome): a runtime failure,
    // never a network one (a FATAL "out of memory").
    let level_only = is_error
        && status.is_none()
        && vendor_code.is_none()
        && error.is_none()
        && failed_outcome.is_none();
    let message = red.text(c.text(Target::Message));
    let mut from_outcome = false;
    let error_code = if is_error {
        Some(
            vendor_code.unwrap_or_else(|| match (status, &error, failed_outcome) {
                (Some(s), _, _) => Cow::Owned(format!("HTTP_{s}")),
                (None, Some(e), _) => Cow::Owned(code_from_type(e)),
                (None, None, Some(word)) => {
                    from_outcome = true;
                    word
                }
                // A message that is a code's name (a gRPC status: `PERMISSION_DENIED`).
                (None, None, None) => match message.as_deref().filter(|m| is_code_name(m)) {
                    Some(m) => Cow::Owned(m.to_owned()),
                    // A runtime line's level: `LOG_ERROR`, `LOG_CRITICAL`.
                    None if !is_request => {
                        Cow::Owned(format!("LOG_{}", level.as_deref().unwrap_or("ERROR")))
                    }
                    None => Cow::Borrowed("UNKNOWN_ERROR"),
                },
            }),
        )
    } else {
        vendor_code
    };

    let category = match (is_error, status) {
        (false, _) if !is_request => "log",
        (true, None) if !is_request => "runtime",
        (true, None) if level_only => message
            .as_deref()
            .and_then(category_of_message)
            .unwrap_or("runtime"),
        (false, _) => "success",
        (true, Some(s)) => category_of_status(s),
        // A rate-based rule's block is rate limiting, not a denial (AWS WAF's
        // `terminatingRuleType: RATE_BASED`, Cloudflare's `source: ratelimit`).
        (true, None) if from_outcome && rate_based(&c.extra) => "rate_limit",
        (true, None) if from_outcome => {
            category_of_outcome(error_code.as_deref().unwrap_or(""), message.as_deref())
                .unwrap_or("network")
        }
        // The code and type, else the message, else no answer at all: `network`.
        (true, None) => category_of_code_opt(error_code.as_deref(), error.as_deref())
            .or_else(|| message.as_deref().and_then(category_of_message))
            .unwrap_or("network"),
    };
    let retryable = match c.take(Target::Retryable) {
        Some(Val::Bool(b)) if is_error => Some(b),
        // An expired token is retryable after a refresh (seed 004's handler: `AUTH_003`
        // refresh the token, retryable; `AUTH_002` re-authenticate, not).
        _ if is_error
            && token_expired(error_code.as_deref(), error.as_deref(), message.as_deref()) =>
        {
            Some(true)
        }
        _ => retryable_of_category(category),
    };
    let class = is_error.then(|| {
        class_of(
            error_code.as_deref().unwrap_or(""),
            error.as_deref(),
            level.as_deref(),
            &cfg.security_codes,
            &cfg.critical_codes,
        )
    });

    let retry_after_s = match (c.take(Target::RetryAfter), c.take(Target::RetryAfterMs)) {
        (Some(Val::Float(s)), _) => Some(s),
        (Some(Val::Ts(at)), _) => Some(((at - ts) as f64 / 1e6).max(0.0)),
        (_, Some(Val::Float(ms))) => Some(ms / 1000.0),
        _ => None,
    }
    .filter(|s| s.is_finite() && *s >= 0.0);

    if let Some(ep) = endpoint.as_deref() {
        // memchr: `str::split_once(char)` sets up a searcher per call (once per record).
        if let Some((m, path)) = split_at_byte(ep, b' ') {
            if method.is_none() && is_http_method(m) {
                method = Some(Cow::Owned(m.to_owned()));
                endpoint = Some(Cow::Owned(path.trim().to_owned()));
            }
        }
    }
    let ip_address = c.text(Target::IpAddress).map(clean_ip);

    // One endpoint per route: the query string off and ids templated
    // (`/adAnalytics?page=25` and `/v1/orders/8812` split no breakdown); the raw value
    // stays in `extra` (`endpoint_raw`).
    let mut endpoint_raw = None;
    if let Some(ep) = endpoint.as_deref() {
        if let Cow::Owned(route) = route_of(ep) {
            endpoint_raw = Some(ep.to_owned());
            endpoint = Some(Cow::Owned(route));
        }
    }
    let extra = (!c.extra.is_empty() || endpoint_raw.is_some()).then(|| {
        let mut obj = serde_json::Map::new();
        for (k, raw) in &c.extra {
            let v = serde_json::from_str(raw)
                .unwrap_or_else(|_| serde_json::Value::String(raw.to_string()));
            obj.insert(k.to_string(), v);
        }
        if let Some(raw) = endpoint_raw {
            obj.insert("endpoint_raw".into(), serde_json::Value::String(raw));
        }
        let mut v = serde_json::Value::Object(obj);
        if red.active {
            crate::ingest::redact::redact_value(&mut v);
        }
        v.to_string()
    });

    Ok(Event {
        ts,
        status,
        error,
        error_code: red.text(error_code),
        message,
        level,
        logger: prefix.and_then(|p| p.logger).map(Cow::Borrowed),
        log_message: red.text(prefix.and_then(|p| p.message).map(Cow::Borrowed)),
        request_id: red.text(
            c.text(Target::RequestId)
                .or_else(|| c.text(Target::TraceId)),
        ),
        connection_id: red.text(c.text(Target::ConnectionId)),
        organization_id: red.text(c.text(Target::OrganizationId)),
        user_id: red.text(c.text(Target::UserId)),
        endpoint,
        method,
        ip_address,
        user_agent,
        service: red.text(c.text(Target::Service)),
        retry_after_s,
        category,
        retryable,
        class,
        details: red.json(c.take(Target::Details)),
        downstream: red.json(c.take(Target::Downstream)),
        extra,
    })
}

/// An endpoint's route: without its query string or fragment, and with the path segments
/// that are ids (numbers of 3 digits or more, UUIDs, long hex or token-like strings) as
/// `{id}`. Borrowed when
/// nothing changes (most endpoints).
pub(super) fn route_of(ep: &str) -> Cow<'_, str> {
    if route_changes(ep) {
        route_in_steps(ep)
    } else {
        Cow::Borrowed(ep)
    }
}

/// [`route_of`] step by step (borrowed when nothing changes).
pub(super) fn route_in_steps(ep: &str) -> Cow<'_, str> {
    let cut = ep.find(['?', '#']).unwrap_or(ep.len());
    let path = &ep[..cut];
    let is_id = |seg: &str| {
        let b = seg.as_bytes();
        if b.is_empty() {
            return false;
        }
        let digits = b.iter().filter(|c| c.is_ascii_digit()).count();
        let hex = b.iter().all(|c| c.is_ascii_hexdigit() || *c == b'-');
        // Numbers of three digits or more (`/v1/admin/7` is a route of its own: short
        // numbers are versions, pages, shards more often than records).
        (digits == b.len() && b.len() >= 3)
            || (hex && b.len() >= 16 && digits > 0)
            || (b.len() >= 20
                && digits > 0
                && b.iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-'))
    };
    // Only a path (`/...` or a URL) has segments to template.
    let templated = path.contains('/') && path.split('/').any(is_id);
    if cut == ep.len() && !templated {
        return Cow::Borrowed(ep);
    }
    if !templated {
        return Cow::Owned(path.to_owned());
    }
    let (head, rest) = match path.find("://") {
        // Keep the scheme and host of a URL as they are.
        Some(i) => match path[i + 3..].find('/') {
            Some(j) => path.split_at(i + 3 + j),
            None => (path, ""),
        },
        None => ("", path),
    };
    let mut out = String::with_capacity(path.len());
    out.push_str(head);
    for (n, seg) in rest.split('/').enumerate() {
        if n > 0 {
            out.push('/');
        }
        out.push_str(if is_id(seg) { "{id}" } else { seg });
    }
    Cow::Owned(out)
}

/// Whether [`route_of`] changes `ep` (a query string or fragment, or a path segment that
/// is an id), in one pass over its bytes: most endpoints do not change, and finding that
/// with the general steps (a search for `?`/`#`, for `/`, then each segment scanned three
/// times) was a few percent of decoding.
pub(super) fn route_changes(ep: &str) -> bool {
    #[derive(Clone, Copy)]
    struct Segment {
        len: usize,
        digits: usize,
        hex: bool,
        word: bool,
    }
    const EMPTY: Segment = Segment {
        len: 0,
        digits: 0,
        hex: true,
        word: true,
    };
    // `route_of`'s `is_id`, from a segment's counts.
    let is_id = |s: Segment| {
        s.len > 0
            && ((s.digits == s.len && s.len >= 3)
                || (s.hex && s.len >= 16 && s.digits > 0)
                || (s.len >= 20 && s.digits > 0 && s.word))
    };
    let (mut seg, mut slash, mut id) = (EMPTY, false, false);
    for &c in ep.as_bytes() {
        match c {
            b'?' | b'#' => return true,
            b'/' => {
                id |= is_id(seg);
                slash = true;
                seg = EMPTY;
            }
            _ => {
                seg.len += 1;
                seg.digits += usize::from(c.is_ascii_digit());
                seg.hex &= c.is_ascii_hexdigit() || c == b'-';
                seg.word &= c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
            }
        }
    }
    slash && (id || is_id(seg))
}

/// Whether an error is an expired token: seed 004's `AUTH_003`, or a code, type or message
/// that says so (`token_expired`, AWS's `ExpiredToken`, "token has expired").
fn token_expired(code: Option<&str>, error: Option<&str>, message: Option<&str>) -> bool {
    if code.is_some_and(|c| c.eq_ignore_ascii_case("AUTH_003")) {
        return true;
    }
    [code, error, message].into_iter().flatten().any(|t| {
        let t = t.to_ascii_lowercase();
        t.contains("token") && t.contains("expire")
    })
}

/// Whether the record is an AWS WAF log record (its `action` is the WAF's).
fn waf_record(extra: &[(Cow<'_, str>, &str)]) -> bool {
    extra
        .iter()
        .any(|(k, _)| k == "terminatingRuleId" || k == "webaclId")
}

/// Whether the record's unmapped fields name a rate-based rule: AWS WAF's
/// `terminatingRuleType: RATE_BASED`, Cloudflare firewall events' `source: ratelimit`.
fn rate_based(extra: &[(Cow<'_, str>, &str)]) -> bool {
    extra.iter().any(|(k, v)| {
        let k = k.to_ascii_lowercase();
        (k == "terminatingruletype" || k == "source" || k == "ruletype" || k == "securitysource")
            && {
                let v: String = v
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric())
                    .collect::<String>()
                    .to_ascii_lowercase();
                v.contains("ratebased") || v.contains("ratelimit")
            }
    })
}

/// An upper-case identifier such as `PERMISSION_DENIED` (a code's name, not a sentence).
pub(super) fn is_code_name(m: &str) -> bool {
    (3..=64).contains(&m.len())
        && m.bytes().any(|b| b.is_ascii_uppercase())
        && m.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

pub(super) fn is_http_method(m: &str) -> bool {
    matches!(
        m,
        "GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS"
    )
}

/// `timeout` -> `TIMEOUT`, `connection-reset` -> `CONNECTION_RESET`.
pub(super) fn code_from_type(t: &str) -> String {
    t.trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// First address of an `X-Forwarded-For` list, without an IPv4 port.
pub(super) fn clean_ip(ip: Cow<'_, str>) -> Cow<'_, str> {
    if is_plain_ipv4(&ip) {
        return ip;
    }
    let first = trim(split_at_byte(&ip, b',').map_or(ip.as_ref(), |(a, _)| a));
    let no_port = match split_at_byte(first, b':') {
        Some((host, port))
            if memchr::memchr(b':', port.as_bytes()).is_none()
                && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            host
        }
        _ => first,
    };
    if no_port.len() == ip.len() {
        ip
    } else {
        Cow::Owned(no_port.to_owned())
    }
}

/// `s.split_once(c)` for an ASCII byte: a plain loop for the short values of logs
/// (endpoints, addresses; memchr's set-up cost more than the search), memchr beyond.
pub(super) fn split_at_byte(s: &str, c: u8) -> Option<(&str, &str)> {
    debug_assert!(c.is_ascii());
    let b = s.as_bytes();
    let i = if b.len() <= 32 {
        b.iter().position(|&x| x == c)?
    } else {
        memchr::memchr(c, b)?
    };
    // An ASCII byte is a char boundary on both sides.
    Some((&s[..i], &s[i + 1..]))
}

pub fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
