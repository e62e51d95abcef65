-- Downstream (target system) errors (seed 001): the errors that carry what the target
-- system returned (`downstream`, JSON text), per connection, status and code, with one
-- example of the target's answer. These are failures of the system behind the API.
SELECT
    connection_id,
    status,
    COALESCE(error_code, '(none)') AS error_code,
    COUNT(*) AS events,
    MIN(ts) AS first_seen,
    MAX(ts) AS last_seen,
    MIN(downstream) AS example_downstream
FROM events
WHERE downstream IS NOT NULL
  AND connection_id IS NOT NULL
GROUP BY connection_id, status, COALESCE(error_code, '(none)')
ORDER BY events DESC, connection_id, status, error_code
