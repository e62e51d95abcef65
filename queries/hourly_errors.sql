-- Errors per hour for one connection (or all, `%`): the curve to look at when asking "since
-- when?". Each row is an hour (its start, UTC; date_trunc works on Polars through errscope,
-- DuckDB, DataFusion and Spark alike).
-- @param connection %
SELECT
    date_trunc('hour', ts) AS hour_start,
    COUNT(*) AS requests,
    SUM(CASE WHEN category <> 'success' THEN 1 ELSE 0 END) AS errors,
    SUM(CASE WHEN status >= 500 AND status < 600 THEN 1 ELSE 0 END) AS errors_5xx,
    SUM(CASE WHEN status = 401 OR status = 403 THEN 1 ELSE 0 END) AS auth_failures,
    SUM(CASE WHEN status = 429 THEN 1 ELSE 0 END) AS status_429
FROM events
WHERE COALESCE(connection_id, '') LIKE :connection
  -- Requests only: runtime log lines (category log, runtime) are no request.
  AND category NOT IN ('log', 'runtime')
GROUP BY date_trunc('hour', ts)
ORDER BY hour_start
