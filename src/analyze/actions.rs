//! What to do about an incident or an error code, as the vendors' guides say it (seed 004's
//! error handler: refresh the token, re-authenticate, verify permissions, wait and retry
//! honouring `retry_after`, retry later with backoff, review the request, contact support
//! with the request id; seed 000: the customer reconnects the connection; seed 003: back
//! off on 5xx; seed 001: retry 429 after a minute, 500 after 15-30 s, exponentially).

use super::detect::{DetectorId, Focus};
use super::dimension::Dimension;
use super::incident::Incident;
use crate::ingest::classify::category_of_code_opt;

/// The documented action for an error code (`AUTH_003`, `HTTP_429`, a vendor's own code).
pub fn for_code(code: &str) -> &'static str {
    let upper = code.trim().to_ascii_uppercase();
    match upper.as_str() {
        "AUTH_003" => return REFRESH,
        "AUTH_001" => return REFRESH,
        "AUTH_002" => return REAUTHENTICATE,
        "AUTH_004" => return PERMISSIONS,
        "RATE_001" | "RATE_LIMIT_EXCEEDED" | "TOO_MANY_REQUESTS" => return WAIT,
        "VAL_001" => return REVIEW,
        "AUTH_CRITICAL" | "SYSTEM_FAILURE" => return SUPPORT,
        _ => {}
    }
    if let Some(status) = upper
        .strip_prefix("HTTP_")
        .and_then(|s| s.parse::<u16>().ok())
    {
        return for_status(status);
    }
    if upper.contains("EXPIRED") && upper.contains("TOKEN") {
        return REFRESH;
    }
    match category_of_code_opt(Some(code), None) {
        Some("authentication") => REAUTHENTICATE,
        Some("authorization") => PERMISSIONS,
        Some("rate_limit") => WAIT,
        Some("server") | Some("network") => RETRY_LATER,
        Some(_) => REVIEW,
        None => REVIEW,
    }
}

/// The documented action for an HTTP status.
pub fn for_status(status: u16) -> &'static str {
    match status {
        401 => REAUTHENTICATE,
        403 => PERMISSIONS,
        429 => WAIT,
        500..=599 => RETRY_LATER,
        _ => REVIEW,
    }
}

const REFRESH: &str =
    "refresh the access token and retry (an expired token is retryable after a refresh; seed 004)";
const REAUTHENTICATE: &str = "re-authenticate: the credentials are invalid or revoked, retrying will not help (seed 004); for an integration, the customer must reconnect it (seed 000)";
const PERMISSIONS: &str = "verify the permissions of the credentials used (seed 004)";
const WAIT: &str = "wait and retry honouring Retry-After (1 minute first, then exponential back-off with jitter); poll less often (seeds 000, 001, 004)";
const RETRY_LATER: &str = "retry later with exponential back-off (15-30 s first); if it persists, contact the vendor's support with the sample request ids (seeds 001, 003)";
const REVIEW: &str =
    "review the request (parameters, endpoint, payload); a retry will not help (seed 004)";
const SUPPORT: &str =
    "contact support now with the sample request ids: a critical failure (seed 004)";

/// The documented action for an incident, with the request ids to hand to support.
pub fn for_incident(inc: &Incident) -> String {
    let action = match inc.detector {
        DetectorId::Reauthorization => "the customer must reconnect (reauthorize) the integration: its credentials no longer work (seeds 000, 001); send the request ids to support if reconnecting does not help".to_string(),
        DetectorId::CredentialStuffing => "block or rate-limit the source address, check the targeted accounts for successful logins, reset their passwords and require MFA (seed 004: a security audit trail of invalid credentials)".to_string(),
        DetectorId::PermissionProbing => "verify the permissions of the principal and whether its credentials are compromised; review what it was denied (seed 004)".to_string(),
        DetectorId::ServerErrors if inc.dimension == Dimension::Service => format!("{RETRY_LATER}; the service (its origin or backend) is failing, not the requests: check its health and its upstreams"),
        DetectorId::ServerErrors => format!("{RETRY_LATER}; the connection's target system is failing, not the requests"),
        DetectorId::CriticalCode => SUPPORT.to_string(),
        DetectorId::BlockedClient => "the WAF is stopping an attack from this address: keep it blocked (or block it at the edge for good), see what it targeted through the sample request ids (a scan, scraping, logins), and check that nothing it tried got through; if it is a partner's integration, have it slow down (seed 004: a security audit trail)".to_string(),
        DetectorId::SecurityCode => "investigate the security violations with the request ids: who, from where, on what (seed 004)".to_string(),
        _ => match &inc.focus {
            Focus::Code(code) => for_code(code).to_string(),
            Focus::Status(s) => for_status(*s as u16).to_string(),
            Focus::Server => RETRY_LATER.to_string(),
            Focus::Errors if inc.dimension == Dimension::ErrorCode => for_code(&inc.key).to_string(),
            Focus::Errors => match dominant_code(inc) {
                Some(code) => for_code(code).to_string(),
                None => REVIEW.to_string(),
            },
        },
    };
    if inc.sample_request_ids.is_empty() {
        action
    } else {
        format!(
            "{action}. Request ids for support: {}",
            inc.sample_request_ids.join(" ")
        )
    }
}

/// The error code that makes up most of an incident, if one does (60 % or more).
fn dominant_code(inc: &Incident) -> Option<&str> {
    inc.contributors
        .iter()
        .find(|c| c.dimension == Dimension::ErrorCode && c.share >= 0.6)
        .map(|c| c.value.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_get_the_seeds_actions() {
        assert!(for_code("AUTH_003").starts_with("refresh the access token"));
        assert!(for_code("AUTH_002").starts_with("re-authenticate"));
        assert!(for_code("HTTP_429").starts_with("wait and retry"));
        assert!(for_code("RATE_LIMIT_EXCEEDED").starts_with("wait and retry"));
        assert!(for_code("HTTP_503").starts_with("retry later"));
        assert!(for_code("AccessDenied").starts_with("verify the permissions"));
        assert!(for_code("VAL_001").starts_with("review the request"));
        assert!(for_code("SYSTEM_FAILURE").starts_with("contact support"));
    }
}
