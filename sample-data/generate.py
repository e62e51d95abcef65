#!/usr/bin/env python3
"""Regenerates sample-data/: two days of API traffic in five vendor shapes, with documented
incidents (see README.md in this folder). Deterministic: the same files every run.

    python3 sample-data/generate.py        # needs the `zstd` command for the .zst file
"""
import gzip, json, os, random, subprocess
from datetime import datetime, timedelta, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(20240304)
DAY0 = datetime(2024, 3, 4, tzinfo=timezone.utc)

CONNECTIONS = {
    # connection_id: (organization_id, target system, base requests per hour)
    "conn_sf_prod": ("org_acme", "salesforce", 30),
    "conn_hubspot_42": ("org_acme", "hubspot", 24),
    "conn_netsuite_7": ("org_globex", "netsuite", 14),
    "conn_sap_eu": ("org_globex", "sap", 10),
    "conn_xero_3": ("org_initech", "xero", 8),
    "conn_quickbooks_9": ("org_initech", "quickbooks", 8),
    "conn_dynamics_5": ("org_umbrella", "dynamics", 6),
    "conn_zendesk_2": ("org_hooli", "zendesk", 6),
}
ENDPOINTS = ["/api/v1/flows", "/api/v1/data_sets", "/api/v1/data_sources", "/api/v1/invoices",
             "/api/v1/accounts", "/api/v1/contacts", "/api/v1/journal_entries"]
USERS = {org: [f"u_{org[4:]}_{i:02d}" for i in range(1, 9)] for org in
         {o for o, _, _ in CONNECTIONS.values()}}
IPS = {org: [f"10.{20 + i}.{j}.{10 + j * 7}" for j in range(3)] for i, org in enumerate(sorted(USERS))}
AGENTS = ["nexla-sdk/3.2.1 python/3.11", "python-requests/2.31.0", "Go-http-client/2.0",
          "okhttp/4.12.0", "integration-worker/1.8"]


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def req_id():
    return "req_" + "".join(rng.choice("0123456789abcdef") for _ in range(16))


def diurnal(hour):
    # Business-hours peak around 14:00 UTC, quiet nights.
    return 0.35 + 0.65 * max(0.0, 1 - abs(hour - 14) / 10)


# Base error mix of normal traffic: (weight, status, error, error_code, description)
NORMAL_ERRORS = [
    (30, 400, "validation_failed", "VAL_001", "Request validation failed"),
    (15, 404, "not_found", None, "Resource not found"),
    (12, 401, "unauthorized", "AUTH_001", "Invalid or expired access token"),
    (10, 401, "token_expired", "AUTH_003", "Access token has expired"),
    (10, 429, "rate_limit_exceeded", "RATE_001", "Too many requests in the specified time period"),
    (6, 500, "internal_error", None, "Internal server error"),
    (4, 503, "service_unavailable", None, "Service temporarily unavailable"),
    (3, 405, "method_not_allowed", None, "Method not supported by the target system"),
]


def normal_traffic():
    """Yields (time, connection, status, error tuple or None) for two days of requests."""
    for minute in range(2 * 24 * 60):
        t0 = DAY0 + timedelta(minutes=minute)
        for conn, (org, _, per_hour) in CONNECTIONS.items():
            lam = per_hour / 60 * diurnal(t0.hour)
            n = sum(1 for _ in range(4) if rng.random() < lam / 4)
            for _ in range(n):
                t = t0 + timedelta(seconds=rng.uniform(0, 60))
                if rng.random() < 0.035:
                    err = rng.choices(NORMAL_ERRORS, weights=[e[0] for e in NORMAL_ERRORS])[0]
                    yield t, conn, err[1], err
                else:
                    yield t, conn, 200 if rng.random() < 0.9 else 201, None


def flat_record(t, conn, status, err, user=None, ip=None, endpoint=None, agent=None):
    """Nexla-style flat record (logger context + error object fields)."""
    org = CONNECTIONS[conn][0]
    rec = {
        "timestamp": iso(t),
        "http_status": status,
        "request_id": req_id(),
        "connection_id": conn,
        "organization_id": org,
        "user_id": user or rng.choice(USERS[org]),
        "endpoint": endpoint or rng.choice(ENDPOINTS),
        "method": rng.choice(["GET", "GET", "POST", "PUT"]),
        "ip_address": ip or rng.choice(IPS[org]),
        "user_agent": agent or rng.choice(AGENTS),
        "duration_ms": rng.randint(20, 900),
    }
    if err:
        _, _, etype, code, desc = err
        rec.update({"error": etype, "error_description": desc})
        if code:
            rec["error_code"] = code
        if status == 429:
            rec["details"] = {"limit": 100, "window": "1 minute", "retry_after": iso(t + timedelta(seconds=60))}
        elif code == "AUTH_001":
            rec["details"] = {"token_expires_at": iso(t - timedelta(hours=1)), "current_time": iso(t),
                              "headers": {"Authorization": "Bearer " + "".join(rng.choice("abcdefABCDEF0123456789") for _ in range(32))}}
        elif code == "VAL_001":
            rec["details"] = {"field": "email", "message": "Invalid email format", "value": "invalid-email"}
    return rec


def main():
    flat, text_lines, unified, connection_centric, code_bodies = [], [], [], [], []
    for t, conn, status, err in normal_traffic():
        system = CONNECTIONS[conn][1]
        if system in ("salesforce", "sap"):
            unified.append((t, unified_body(t, conn, status, err)))
        elif system in ("hubspot", "xero"):
            connection_centric.append((t, connection_record(t, conn, status, err)))
        elif system == "dynamics":
            code_bodies.append((t, code_body(t, conn, status, err)))
        else:
            flat.append((t, flat_record(t, conn, status, err)))
        if err and err[3] in ("AUTH_001", "AUTH_003") and rng.random() < 0.5:
            text_lines.append((t, log_line(t, conn, status, err)))

    # Incident 1: credential stuffing from one IP against org_acme, day 2 02:10-02:25.
    start = DAY0 + timedelta(days=1, hours=2, minutes=10)
    for i in range(160):
        t = start + timedelta(seconds=i * 5.6 + rng.uniform(0, 3))
        user = f"u_acme_guess_{rng.randint(1, 70):03d}"
        err = (0, 401, "invalid_credentials", "AUTH_002", "Service key is invalid or has been revoked")
        rec = flat_record(t, "conn_sf_prod", 401, err, user=user, ip="203.0.113.66",
                          endpoint="/api/v1/token", agent="python-requests/2.31.0")
        rec["method"] = "POST"
        flat.append((t, rec))
        if i % 4 == 0:
            text_lines.append((t, log_line(t, "conn_sf_prod", 401, err, user=user, ip="203.0.113.66")))

    # Incident 2: connection outage, conn_sf_prod day 1 14:00-14:40: the target system fails.
    start = DAY0 + timedelta(hours=14)
    for i in range(140):
        t = start + timedelta(seconds=i * 17 + rng.uniform(0, 10))
        status = rng.choice([500, 502, 503, 503, 504]) if rng.random() < 0.85 else 200
        err = None if status == 200 else (0, status, "downstream_error", "DOWNSTREAM_ERROR", "Target system error")
        unified.append((t, unified_body(t, "conn_sf_prod", status, err, outage=True)))

    # Incident 3: rate-limit storm, conn_hubspot_42 day 2 09:00-09:30 (polling too often).
    start = DAY0 + timedelta(days=1, hours=9)
    for i in range(240):
        t = start + timedelta(seconds=i * 7.5 + rng.uniform(0, 5))
        err = (0, 429, "rate_limit_exceeded", "RATE_LIMIT_EXCEEDED", "API rate limit exceeded for this connection")
        connection_centric.append((t, connection_record(t, "conn_hubspot_42", 429, err)))

    # Incident 4: critical errors, day 2 16:05-16:12, logged at CRITICAL.
    start = DAY0 + timedelta(days=1, hours=16, minutes=5)
    for i in range(6):
        t = start + timedelta(seconds=i * 70)
        code = "SYSTEM_FAILURE" if i % 2 else "AUTH_CRITICAL"
        err = (0, 500, "system_failure" if i % 2 else "auth_service_failure", code,
               "Authentication backend unavailable" if i % 2 == 0 else "Token signing key store failure")
        text_lines.append((t, log_line(t, "conn_quickbooks_9", 500, err)))

    # Incident 5: reauthorisation needed: conn_netsuite_7 fails with 401 from day 2 18:00 on.
    start = DAY0 + timedelta(days=1, hours=18)
    flat = [(t, r) for t, r in flat if not (r["connection_id"] == "conn_netsuite_7" and t >= start)]
    for i in range(45):
        t = start + timedelta(minutes=i * 8 + rng.uniform(0, 4))
        err = (0, 401, "token_expired", "AUTH_003", "Refresh token expired: the connection needs reauthorization")
        flat.append((t, flat_record(t, "conn_netsuite_7", 401, err)))

    # Incident 6: permission probing, one user of org_globex walks endpoints, day 1 22:00-22:10.
    start = DAY0 + timedelta(hours=22)
    for i in range(40):
        t = start + timedelta(seconds=i * 15)
        err = (0, 403, "insufficient_permissions", "AUTH_004", "User lacks required permissions for this operation")
        ep = f"/api/v1/admin/{rng.choice(['users', 'keys', 'billing', 'audit', 'roles', 'orgs'])}"
        flat.append((t, flat_record(t, "conn_sap_eu", 403, err, user="u_globex_mallory", ip="198.51.100.23",
                                    endpoint=ep, agent="curl/8.4.0")))
        if i % 5 == 0:
            text_lines.append((t, log_line(t, "conn_sap_eu", 403, err, user="u_globex_mallory", ip="198.51.100.23")))

    # A hostile user agent: formula-like text must never reach a spreadsheet raw.
    t = DAY0 + timedelta(hours=11, minutes=7)
    flat.append((t, flat_record(t, "conn_zendesk_2", 400, NORMAL_ERRORS[0],
                                agent="=HYPERLINK(\"http://evil.example/x\",\"click\")")))

    write_ndjson("nexla_api_errors.ndjson", flat)
    write_text("auth_service.log", text_lines)
    write_array("maesn_unified_errors.json", unified)
    write_gzip("makini_connections.ndjson.gz", connection_centric)
    write_zstd("axway_gateway.ndjson.zst", code_bodies)


def log_line(t, conn, status, err, user=None, ip=None):
    """Seed 004's AuthenticationLogger: level by code, JSON payload after the message."""
    org = CONNECTIONS[conn][0]
    _, _, etype, code, desc = err
    entry = {
        "timestamp": t.replace(tzinfo=None).isoformat(),
        "error_type": "authentication_error",
        "error_code": code,
        "error_description": desc,
        "http_status": status,
        "endpoint": "/api/v1/token" if status == 401 else rng.choice(ENDPOINTS),
        "user_id": user or rng.choice(USERS[org]),
        "organization_id": org,
        "connection_id": conn,
        "request_id": req_id(),
        "ip_address": ip or rng.choice(IPS[org]),
        "user_agent": rng.choice(AGENTS),
    }
    if code in ("AUTH_CRITICAL", "SYSTEM_FAILURE"):
        level, msg = "CRITICAL", "Critical authentication error"
    elif code in ("AUTH_002", "AUTH_004", "SECURITY_VIOLATION"):
        level, msg = "ERROR", "Security-related authentication error"
    else:
        level, msg = "WARNING", "Authentication error"
    stamp = t.strftime("%Y-%m-%d %H:%M:%S,") + f"{t.microsecond // 1000:03d}"
    return f"{stamp} {level} nexla.auth: {msg}: {json.dumps(entry)}"


def unified_body(t, conn, status, err, outage=False):
    """Seed 001's unified API: errors array plus downstreamErrors from the target system."""
    org = CONNECTIONS[conn][0]
    body = {"statusCode": status, "timestamp": iso(t), "connectionId": conn, "accountId": org,
            "requestId": req_id(), "path": rng.choice(ENDPOINTS), "method": rng.choice(["GET", "POST"])}
    if err:
        _, _, etype, code, desc = err
        body["errors"] = [{"code": code or f"E{status}", "type": etype, "message": desc}]
        if outage or status >= 500:
            body["downstreamErrors"] = [{"status": status, "system": CONNECTIONS[conn][1],
                                         "message": rng.choice(["UNABLE_TO_LOCK_ROW", "Server Unavailable",
                                                                "GL account 4711 does not exist",
                                                                "upstream connect error or disconnect/reset before headers"])}]
    return body


def connection_record(t, conn, status, err):
    """Seed 000's connection-centric shape: code names, Retry-After, epoch milliseconds."""
    org = CONNECTIONS[conn][0]
    rec = {"time": int(t.timestamp() * 1000), "connection": conn, "organization": org,
           "status": str(status), "x-request-id": req_id(), "route": rng.choice(ENDPOINTS)}
    if err:
        _, _, etype, code, desc = err
        rec["code"] = {"rate_limit_exceeded": "RATE_LIMIT_EXCEEDED", "token_expired": "TOKEN_EXPIRED",
                       "unauthorized": "REAUTHORIZATION_REQUIRED"}.get(etype, (code or etype).upper())
        rec["message"] = desc
        if status == 429:
            rec["headers"] = {"Retry-After": "60", "X-Api-Key": "mk_live_" + "".join(rng.choice("0123456789abcdef") for _ in range(24))}
    return rec


def code_body(t, conn, status, err):
    """Seed 003's code/message body with the HTTP status beside it; epoch seconds."""
    org = CONNECTIONS[conn][0]
    rec = {"ts": round(t.timestamp(), 3), "status": status, "conn_id": conn, "tenant_id": org,
           "client_ip": rng.choice(IPS[org]), "uri": rng.choice(ENDPOINTS) + "?page=2&api_key=ak_" + str(rng.randint(10**9, 10**10))}
    if err:
        rec.update({"code": 1000 + status, "message": err[4], "details": []})
    return rec


def ordered(records):
    return [r for _, r in sorted(records, key=lambda x: x[0])]


def write_ndjson(name, records):
    with open(os.path.join(HERE, name), "w") as f:
        for r in ordered(records):
            f.write(json.dumps(r) + "\n")


def write_text(name, lines):
    with open(os.path.join(HERE, name), "w") as f:
        f.write("2024-03-04 00:00:01,000 INFO nexla.auth: auth service started (workers=4)\n")
        for line in ordered(lines):
            f.write(line + "\n")


def write_array(name, records):
    with open(os.path.join(HERE, name), "w") as f:
        json.dump(ordered(records), f, indent=2)
        f.write("\n")


def write_gzip(name, records):
    data = "".join(json.dumps(r) + "\n" for r in ordered(records)).encode()
    with open(os.path.join(HERE, name), "wb") as f:
        with gzip.GzipFile(fileobj=f, mode="wb", mtime=0) as g:
            g.write(data)


def write_zstd(name, records):
    data = "".join(json.dumps(r) + "\r\n" for r in ordered(records)).encode()
    out = subprocess.run(["zstd", "-q", "-c", "-19"], input=data, capture_output=True, check=True).stdout
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(out)


if __name__ == "__main__":
    main()
