-- Retryable versus fatal errors (DOMAIN.md: 429, 5xx and network errors are retried with
-- back-off; 4xx are not, they need a fix or new credentials), per category, with the
-- share of all errors and the connections affected.
WITH errors AS (
    SELECT category, retryable, connection_id FROM events WHERE category NOT IN ('success', 'log')
),
total AS (
    SELECT COUNT(*) AS all_errors FROM errors
)
SELECT
    CASE WHEN e.retryable THEN 'retryable' WHEN NOT e.retryable THEN 'fatal' ELSE 'unknown' END AS kind,
    e.category,
    COUNT(*) AS errors,
    COUNT(DISTINCT e.connection_id) AS connections,
    ROUND(CAST(COUNT(*) AS DOUBLE) * 100.0 / CAST(MAX(t.all_errors) AS DOUBLE), 2) AS pct_of_errors
FROM errors e
CROSS JOIN total t
GROUP BY CASE WHEN e.retryable THEN 'retryable' WHEN NOT e.retryable THEN 'fatal' ELSE 'unknown' END, e.category
ORDER BY kind DESC, errors DESC, e.category
