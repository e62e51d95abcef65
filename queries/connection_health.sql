-- Connection health: per connection, requests, errors, error and 5xx ratios, 429s, 401s,
-- the last success, and the 401s since it (a run of 401s with no success after it is a
-- connection that needs reauthorisation, DOMAIN.md / seed 000). Worst first.
WITH per_conn AS (
    SELECT
        connection_id,
        COUNT(*) AS requests,
        SUM(CASE WHEN category <> 'success' THEN 1 ELSE 0 END) AS errors,
        SUM(CASE WHEN status >= 500 AND status < 600 THEN 1 ELSE 0 END) AS errors_5xx,
        SUM(CASE WHEN status = 429 THEN 1 ELSE 0 END) AS status_429,
        SUM(CASE WHEN status = 401 THEN 1 ELSE 0 END) AS status_401,
        MAX(CASE WHEN category = 'success' THEN ts ELSE NULL END) AS last_success,
        MAX(ts) AS last_event
    FROM events
    WHERE connection_id IS NOT NULL
      -- Requests only: runtime log lines (category log, runtime) are no request.
      AND category NOT IN ('log', 'runtime')
    GROUP BY connection_id
),
trailing AS (
    SELECT e.connection_id, COUNT(*) AS failures_401_since_success
    FROM events e
    JOIN per_conn p ON e.connection_id = p.connection_id
    WHERE e.status = 401
      AND (p.last_success IS NULL OR e.ts > p.last_success)
    GROUP BY e.connection_id
)
SELECT
    p.connection_id,
    p.requests,
    p.errors,
    ROUND(CAST(p.errors AS DOUBLE) / CAST(p.requests AS DOUBLE), 4) AS error_ratio,
    p.errors_5xx,
    ROUND(CAST(p.errors_5xx AS DOUBLE) / CAST(p.requests AS DOUBLE), 4) AS ratio_5xx,
    p.status_429,
    p.status_401,
    p.last_success,
    p.last_event,
    COALESCE(t.failures_401_since_success, 0) AS failures_401_since_success
FROM per_conn p
LEFT JOIN trailing t ON p.connection_id = t.connection_id
ORDER BY failures_401_since_success DESC, error_ratio DESC, p.connection_id
