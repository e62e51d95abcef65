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
    category_of_code_opt(code, error_type).unwrap_or("network")
}

/// [`category_of_code`], `None` when neither the code nor the type tells. Codes are
/// compared with and without their separators (`ACCESS_DENIED` = CloudTrail's
/// `AccessDenied`); gRPC status names (`PERMISSION_DENIED`, `RESOURCE_EXHAUSTED`,
/// `UNAUTHENTICATED`...) and WAF actions (`BLOCK`, `DENY`) are known.
pub fn category_of_code_opt(code: Option<&str>, error_type: Option<&str>) -> Option<&'static str> {
    let text = format!("{} {}", code.unwrap_or(""), error_type.unwrap_or("")).to_ascii_uppercase();
    let compact: String = text.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let has = |needles: &[&str]| {
        needles
            .iter()
            .any(|n| text.contains(n) || (!n.contains('_') && compact.contains(n)))
    };
    Some(
        if has(&[
            "AUTH_004",
            "PERMISSION",
            "FORBIDDEN",
            "SECURITY_VIOLATION",
            "ACCESS_DENIED",
            "ACCESSDENIED",
            "UNAUTHORIZEDOPERATION",
            "NOTAUTHORIZED",
            "DENIED",
            "BLOCK",
            "DENY",
            "WAF_",
        ]) {
            "authorization"
        } else if has(&[
            "AUTH",
            "TOKEN",
            "CREDENTIAL",
            "UNAUTHORIZED",
            "UNAUTHENTICATED",
            "SIGNATURE",
        ]) {
            "authentication"
        } else if has(&[
            "RATE",
            "THROTTL",
            "TOO_MANY",
            "TOOMANY",
            "QUOTA",
            "RESOURCEEXHAUSTED",
        ]) {
            "rate_limit"
        } else if has(&[
            "VAL_",
            "VALIDATION",
            "INVALID_PARAM",
            "INVALIDPARAM",
            "INVALIDARGUMENT",
            "BAD_REQUEST",
            "BADREQUEST",
            "MALFORMED",
        ]) {
            "validation"
        } else if has(&["NOT_FOUND", "NOTFOUND", "NOSUCH"]) {
            "not_found"
        } else if has(&[
            "TIMEOUT",
            "TIMED_OUT",
            "TIMEDOUT",
            "DEADLINEEXCEEDED",
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
            return None;
        },
    )
}

/// The category an error message suggests, for an error whose code and type do not tell
/// (Azure's numeric sign-in codes, a gRPC status message): `None` when it does not either.
pub fn category_of_message(message: &str) -> Option<&'static str> {
    let m = message.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| m.contains(n));
    Some(
        if has(&[
            "permission",
            "forbidden",
            "not authorized",
            "access denied",
            "denied",
        ]) {
            "authorization"
        } else if has(&[
            "password",
            "credential",
            "token",
            "unauthenticated",
            "unauthorized",
            // CloudTrail's failed console sign-in: "Failed authentication".
            "authenticat",
            "api key",
            "sign-in",
            "signin",
            "login",
            "mfa",
        ]) {
            "authentication"
        } else if has(&["rate limit", "too many", "throttl", "quota"]) {
            "rate_limit"
        } else if has(&["not found", "no such", "does not exist"]) {
            "not_found"
        } else if has(&["timeout", "timed out", "connection reset", "unreachable"]) {
            "network"
        } else if has(&["invalid", "validation", "required", "malformed"]) {
            "validation"
        } else if has(&["internal", "unavailable", "server error"]) {
            "server"
        } else {
            return None;
        },
    )
}

/// What an outcome field says (ECS `event.outcome`, `result`, a WAF `action`, Auth0's
/// event `type`): `Some(true)` for a success, `Some(false)` for a failure, `None` for a
/// value that is neither (`unknown`, an action name such as `repo.create`).
pub fn outcome_of(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "success" | "succeeded" | "successful" | "ok" | "allow" | "allowed" | "pass" | "passed" => {
            Some(true)
        }
        // Not failures: an MFA challenge (Okta's `CHALLENGE`), a step skipped.
        "challenge" | "challenged" | "skipped" => Some(true),
        "failure" | "failed" | "fail" | "error" | "denied" | "deny" | "block" | "blocked"
        | "drop" | "dropped" | "reject" | "rejected" => Some(false),
        // A WAF's CAPTCHA (AWS WAF): the request was held, not served.
        "captcha" => Some(false),
        // Auth0 log event type codes (auth0.com/docs, "Log Event Type Codes"): failures,
        // then successes.
        "f" | "fp" | "fu" | "fc" | "fco" | "fcoa" | "fd" | "fapi" | "feacft" | "feccft"
        | "fepft" | "fertft" | "fsa" | "fs" | "fcp" | "fce" | "fcpro" | "fv" | "fvr" | "fn"
        | "fi" | "fui" | "fdeac" | "fdecc" | "fcph" | "limit_wc" | "limit_mu" | "limit_sul"
        | "pwd_leak" | "gd_auth_failed" | "gd_auth_rejected" => Some(false),
        "s" | "ss" | "sapi" | "seacft" | "seccft" | "sepft" | "sertft" | "scp" | "sce" | "sv"
        | "svr" | "slo" | "gd_auth_succeed" => Some(true),
        _ => None,
    }
}

/// The category of an error whose code is an outcome word (`BLOCK`, `FAILURE`, Auth0's
/// `FP`): a blocked or denied request is `authorization`, a failed login
/// `authentication`; otherwise its message tells, if anything does.
pub fn category_of_outcome(word: &str, message: Option<&str>) -> Option<&'static str> {
    match word {
        "BLOCK" | "BLOCKED" | "DENY" | "DENIED" | "REJECT" | "REJECTED" | "DROP" | "DROPPED"
        | "CAPTCHA" | "LIMIT_WC" | "LIMIT_MU" | "LIMIT_SUL" => Some("authorization"),
        "PWD_LEAK" | "FP" | "FU" | "F" => Some("authentication"),
        _ => message.and_then(category_of_message),
    }
}

/// Whether retrying can succeed (DOMAIN.md: 429, 5xx and network failures).
pub fn retryable_of_category(category: &str) -> Option<bool> {
    match category {
        // Not a request's outcome: a runtime log line, an error one or not.
        "success" | "log" | "runtime" => None,
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
        // CloudTrail, gRPC and WAF names.
        assert_eq!(
            category_of_code(Some("AccessDenied"), None),
            "authorization"
        );
        assert_eq!(
            category_of_code(Some("UnauthorizedOperation"), None),
            "authorization"
        );
        assert_eq!(
            category_of_code(Some("PERMISSION_DENIED"), None),
            "authorization"
        );
        assert_eq!(
            category_of_code(Some("RESOURCE_EXHAUSTED"), None),
            "rate_limit"
        );
        assert_eq!(
            category_of_code(Some("UNAUTHENTICATED"), None),
            "authentication"
        );
        assert_eq!(category_of_code(Some("BLOCK"), None), "authorization");
        assert_eq!(category_of_code(Some("NoSuchKey"), None), "not_found");
        assert_eq!(category_of_code_opt(Some("50126"), None), None);
        assert_eq!(
            category_of_message("Invalid username or password."),
            Some("authentication")
        );
        assert_eq!(outcome_of("FAILURE"), Some(false));
        assert_eq!(outcome_of("success"), Some(true));
        assert_eq!(outcome_of("user-login"), None);
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
