//! What an event means, per DOMAIN.md: its category (from the HTTP status, else from the
//! code and type), whether a retry can help, and its class (security, critical, warning).

/// Security codes (seed 004, `_is_security_error`).
pub const SECURITY_CODES: &[&str] = &["AUTH_002", "AUTH_004", "SECURITY_VIOLATION"];
/// Critical codes (seed 004, `_is_critical_error`).
pub const CRITICAL_CODES: &[&str] = &["AUTH_CRITICAL", "SYSTEM_FAILURE"];

/// The category of an HTTP status (DOMAIN.md table; 405, 414 and other 4xx are `client`).
pub fn category_of_status(status: i16) -> &'static str {
    match status {
        ..=399 => "success",
        400 | 422 => "validation",
        401 => "authentication",
        403 => "authorization",
        404 | 410 => "not_found",
        429 => "rate_limit",
        400..=499 => "client",
        _ => "server",
    }
}

/// The category of an error without a status, from its vendor code and machine type.
/// No status and no telling code means the request never got an answer: `network`.
pub fn category_of_code(code: Option<&str>, error_type: Option<&str>) -> &'static str {
    let text = format!("{} {}", code.unwrap_or(""), error_type.unwrap_or("")).to_ascii_uppercase();
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if has(&[
        "AUTH_004",
        "PERMISSION",
        "FORBIDDEN",
        "SECURITY_VIOLATION",
        "ACCESS_DENIED",
    ]) {
        "authorization"
    } else if has(&[
        "AUTH",
        "TOKEN",
        "CREDENTIAL",
        "UNAUTHORIZED",
        "UNAUTHENTICATED",
    ]) {
        "authentication"
    } else if has(&["RATE", "THROTTL", "TOO_MANY", "QUOTA"]) {
        "rate_limit"
    } else if has(&[
        "VAL_",
        "VALIDATION",
        "INVALID_PARAM",
        "BAD_REQUEST",
        "MALFORMED",
    ]) {
        "validation"
    } else if has(&["NOT_FOUND", "NOTFOUND"]) {
        "not_found"
    } else if has(&[
        "TIMEOUT",
        "TIMED_OUT",
        "NETWORK",
        "CONNECT",
        "DNS",
        "RESET",
        "UNREACHABLE",
        "SOCKET",
    ]) {
        "network"
    } else if has(&[
        "SYSTEM",
        "INTERNAL",
        "SERVER",
        "UNAVAILABLE",
        "GATEWAY",
        "FAILURE",
    ]) {
        "server"
    } else {
        "network"
    }
}

/// Whether retrying can succeed (DOMAIN.md: 429, 5xx and network failures).
pub fn retryable_of_category(category: &str) -> Option<bool> {
    match category {
        "success" => None,
        "rate_limit" | "server" | "network" => Some(true),
        _ => Some(false),
    }
}

/// The class of an error: `critical` for critical codes or a CRITICAL/FATAL log level,
/// `security` for security codes, else `warning`.
pub fn class_of(
    code: &str,
    error_type: Option<&str>,
    level: Option<&str>,
    security: &[String],
    critical: &[String],
) -> &'static str {
    let is_in = |set: &[String]| {
        set.iter().any(|c| {
            c.eq_ignore_ascii_case(code) || error_type.is_some_and(|t| c.eq_ignore_ascii_case(t))
        })
    };
    if is_in(critical) || level == Some("CRITICAL") {
        "critical"
    } else if is_in(security) {
        "security"
    } else {
        "warning"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn statuses_follow_the_domain_table() {
        assert_eq!(category_of_status(200), "success");
        assert_eq!(category_of_status(304), "success");
        assert_eq!(category_of_status(400), "validation");
        assert_eq!(category_of_status(401), "authentication");
        assert_eq!(category_of_status(403), "authorization");
        assert_eq!(category_of_status(404), "not_found");
        assert_eq!(category_of_status(405), "client");
        assert_eq!(category_of_status(414), "client");
        assert_eq!(category_of_status(429), "rate_limit");
        assert_eq!(category_of_status(503), "server");
    }

    #[test]
    fn codes_without_status() {
        assert_eq!(category_of_code(Some("AUTH_002"), None), "authentication");
        assert_eq!(category_of_code(Some("AUTH_004"), None), "authorization");
        assert_eq!(
            category_of_code(Some("RATE_LIMIT_EXCEEDED"), None),
            "rate_limit"
        );
        assert_eq!(category_of_code(Some("VAL_001"), None), "validation");
        assert_eq!(
            category_of_code(None, Some("connection_timeout")),
            "network"
        );
        assert_eq!(category_of_code(Some("SYSTEM_FAILURE"), None), "server");
        assert_eq!(category_of_code(Some("E42"), None), "network");
    }

    #[test]
    fn retry_and_class() {
        assert_eq!(retryable_of_category("rate_limit"), Some(true));
        assert_eq!(retryable_of_category("authentication"), Some(false));
        assert_eq!(retryable_of_category("success"), None);
        let (sec, crit) = (owned(SECURITY_CODES), owned(CRITICAL_CODES));
        assert_eq!(class_of("AUTH_002", None, None, &sec, &crit), "security");
        assert_eq!(
            class_of("auth_critical", None, None, &sec, &crit),
            "critical"
        );
        assert_eq!(
            class_of("RATE_001", None, Some("CRITICAL"), &sec, &crit),
            "critical"
        );
        assert_eq!(class_of("HTTP_429", None, None, &sec, &crit), "warning");
        assert_eq!(
            class_of("X", Some("security_violation"), None, &sec, &crit),
            "security"
        );
    }
}
