-- Drill-down of a spike: in a time window (and optionally one connection), which error
-- codes, endpoints, client IPs and users carry the errors. One row per dimension and value.
-- @param since 1970-01-01
-- @param until 2100-01-01
-- @param connection %
-- @param top 5
WITH w AS (
    SELECT error_code, endpoint, ip_address, user_id
    FROM events
    WHERE category NOT IN ('success', 'log')
      AND CAST(ts AS BIGINT) >= :since
      AND CAST(ts AS BIGINT) < :until
      AND COALESCE(connection_id, '') LIKE :connection
),
by_code AS (
    SELECT 'error_code' AS dimension, COALESCE(error_code, '(none)') AS value, COUNT(*) AS errors
    FROM w GROUP BY COALESCE(error_code, '(none)')
    ORDER BY errors DESC, value LIMIT :top
),
by_endpoint AS (
    SELECT 'endpoint' AS dimension, COALESCE(endpoint, '(none)') AS value, COUNT(*) AS errors
    FROM w GROUP BY COALESCE(endpoint, '(none)')
    ORDER BY errors DESC, value LIMIT :top
),
by_ip AS (
    SELECT 'ip_address' AS dimension, COALESCE(ip_address, '(none)') AS value, COUNT(*) AS errors
    FROM w GROUP BY COALESCE(ip_address, '(none)')
    ORDER BY errors DESC, value LIMIT :top
),
by_user AS (
    SELECT 'user_id' AS dimension, COALESCE(user_id, '(none)') AS value, COUNT(*) AS errors
    FROM w GROUP BY COALESCE(user_id, '(none)')
    ORDER BY errors DESC, value LIMIT :top
)
SELECT dimension, value, errors FROM (
    SELECT * FROM by_code
    UNION ALL SELECT * FROM by_endpoint
    UNION ALL SELECT * FROM by_ip
    UNION ALL SELECT * FROM by_user
) u
ORDER BY dimension, errors DESC, value
