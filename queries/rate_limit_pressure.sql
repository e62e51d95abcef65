-- Rate-limit pressure: per connection and minute with at least one 429, the requests sent,
-- the 429s received, and the Retry-After asked for, against a per-minute request limit
-- (DOMAIN.md: limits are per connection and per window, usually per minute). Many 429s
-- spread over minutes is polling too often; a burst is an outage or a quota reset.
-- @param limit_per_minute 60
-- @param since 1970-01-01
-- @param until 2100-01-01
WITH m AS (
    SELECT
        connection_id,
        CAST(ts AS BIGINT) - (CAST(ts AS BIGINT) % 60000000) AS minute_start_us,
        status,
        retry_after_s
    FROM events
    WHERE connection_id IS NOT NULL
      AND CAST(ts AS BIGINT) >= :since
      AND CAST(ts AS BIGINT) < :until
)
SELECT
    connection_id,
    minute_start_us,
    COUNT(*) AS requests,
    SUM(CASE WHEN status = 429 THEN 1 ELSE 0 END) AS status_429,
    MAX(retry_after_s) AS max_retry_after_s,
    CASE WHEN COUNT(*) > :limit_per_minute THEN 'over' ELSE 'within' END AS vs_limit
FROM m
GROUP BY connection_id, minute_start_us
HAVING SUM(CASE WHEN status = 429 THEN 1 ELSE 0 END) > 0
ORDER BY connection_id, minute_start_us
