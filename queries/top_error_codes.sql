-- Top error codes in a period: how many events, their category and class, when first and
-- last seen, how many connections they hit, and their share of all errors in the period.
-- @param since 1970-01-01
-- @param until 2100-01-01
-- @param top 20
WITH errors AS (
    SELECT error_code, category, class, connection_id, ts
    FROM events
    WHERE category NOT IN ('success', 'log')
      AND CAST(ts AS BIGINT) >= :since
      AND CAST(ts AS BIGINT) < :until
),
total AS (
    SELECT COUNT(*) AS all_errors FROM errors
)
SELECT
    COALESCE(e.error_code, '(none)') AS error_code,
    MIN(e.category) AS category,
    MIN(COALESCE(e.class, 'warning')) AS class,
    COUNT(*) AS events,
    COUNT(DISTINCT e.connection_id) AS connections,
    MIN(e.ts) AS first_seen,
    MAX(e.ts) AS last_seen,
    ROUND(CAST(COUNT(*) AS DOUBLE) * 100.0 / CAST(MAX(t.all_errors) AS DOUBLE), 2) AS pct_of_errors
FROM errors e
CROSS JOIN total t
GROUP BY COALESCE(e.error_code, '(none)')
ORDER BY events DESC, error_code
LIMIT :top
