-- Daily summary for a nightly mail: per UTC day, requests, errors and error ratio, 4xx and
-- 5xx, 401/403/429, security and critical events, and how many connections had errors.
WITH d AS (
    SELECT
        CAST(ts AS DATE) AS day,
        category,
        class,
        status,
        connection_id
    FROM events
    -- Requests only: runtime log lines (category log, runtime) are no request.
    WHERE category NOT IN ('log', 'runtime')
)
SELECT
    day,
    COUNT(*) AS requests,
    SUM(CASE WHEN category <> 'success' THEN 1 ELSE 0 END) AS errors,
    ROUND(CAST(SUM(CASE WHEN category <> 'success' THEN 1 ELSE 0 END) AS DOUBLE) / CAST(COUNT(*) AS DOUBLE), 4) AS error_ratio,
    SUM(CASE WHEN status >= 400 AND status < 500 THEN 1 ELSE 0 END) AS errors_4xx,
    SUM(CASE WHEN status >= 500 AND status < 600 THEN 1 ELSE 0 END) AS errors_5xx,
    SUM(CASE WHEN status = 401 THEN 1 ELSE 0 END) AS status_401,
    SUM(CASE WHEN status = 403 THEN 1 ELSE 0 END) AS status_403,
    SUM(CASE WHEN status = 429 THEN 1 ELSE 0 END) AS status_429,
    SUM(CASE WHEN class = 'security' THEN 1 ELSE 0 END) AS security_events,
    SUM(CASE WHEN class = 'critical' THEN 1 ELSE 0 END) AS critical_events,
    COUNT(DISTINCT CASE WHEN category <> 'success' THEN connection_id ELSE NULL END) AS connections_with_errors
FROM d
GROUP BY day
ORDER BY day
