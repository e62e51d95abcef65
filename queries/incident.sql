-- One incident, given its id (anomalies.incident_id, summary.json's incident_list): which
-- connections, error codes, client IPs, users and endpoints carry its errors, how many, and
-- since when (first and last error of each, UTC). Run it on an analyze output folder that
-- holds events/ (analyze of raw logs): `errscope query incident out -p id=45da888200edc358`.
-- @param id
-- @param top 5
WITH inc AS (
    SELECT dimension, key, start_time, end_time FROM anomalies WHERE incident_id = :id
),
w AS (
    SELECT e.ts, e.connection_id, e.error_code, e.ip_address, e.user_id, e.endpoint
    FROM events e CROSS JOIN inc
    WHERE e.ts >= inc.start_time AND e.ts < inc.end_time
      AND (e.category IS NULL OR e.category NOT IN ('success', 'log'))
      AND (CASE inc.dimension
            WHEN 'all' THEN 'all'
            WHEN 'connection_id' THEN e.connection_id
            WHEN 'organization_id' THEN e.organization_id
            WHEN 'user_id' THEN e.user_id
            WHEN 'ip_address' THEN e.ip_address
            WHEN 'endpoint' THEN e.endpoint
            WHEN 'error_code' THEN e.error_code
            WHEN 'category' THEN e.category
            WHEN 'class' THEN e.class
            WHEN 'service' THEN e.service
            WHEN 'status_class' THEN COALESCE(CAST(CAST(FLOOR(e.status / 100) AS INTEGER) AS VARCHAR) || 'xx', 'none')
          END) = inc.key
),
by_connection AS (
    SELECT 'connection_id' AS dimension, COALESCE(connection_id, '(none)') AS value,
        COUNT(*) AS errors, MIN(ts) AS first_error, MAX(ts) AS last_error
    FROM w GROUP BY COALESCE(connection_id, '(none)')
    ORDER BY errors DESC, value LIMIT :top
),
by_code AS (
    SELECT 'error_code' AS dimension, COALESCE(error_code, '(none)') AS value,
        COUNT(*) AS errors, MIN(ts) AS first_error, MAX(ts) AS last_error
    FROM w GROUP BY COALESCE(error_code, '(none)')
    ORDER BY errors DESC, value LIMIT :top
),
by_ip AS (
    SELECT 'ip_address' AS dimension, COALESCE(ip_address, '(none)') AS value,
        COUNT(*) AS errors, MIN(ts) AS first_error, MAX(ts) AS last_error
    FROM w GROUP BY COALESCE(ip_address, '(none)')
    ORDER BY errors DESC, value LIMIT :top
),
by_user AS (
    SELECT 'user_id' AS dimension, COALESCE(user_id, '(none)') AS value,
        COUNT(*) AS errors, MIN(ts) AS first_error, MAX(ts) AS last_error
    FROM w GROUP BY COALESCE(user_id, '(none)')
    ORDER BY errors DESC, value LIMIT :top
),
by_endpoint AS (
    SELECT 'endpoint' AS dimension, COALESCE(endpoint, '(none)') AS value,
        COUNT(*) AS errors, MIN(ts) AS first_error, MAX(ts) AS last_error
    FROM w GROUP BY COALESCE(endpoint, '(none)')
    ORDER BY errors DESC, value LIMIT :top
)
SELECT dimension, value, errors, first_error, last_error FROM (
    SELECT * FROM by_connection
    UNION ALL SELECT * FROM by_code
    UNION ALL SELECT * FROM by_ip
    UNION ALL SELECT * FROM by_user
    UNION ALL SELECT * FROM by_endpoint
) u
ORDER BY dimension, errors DESC, value
