-- Security audit trail (seed 004): failed authentications (401) and permission denials
-- (403) by client IP, user, organisation and user agent, with how many distinct endpoints
-- each tried and when. Many users from one IP is credential stuffing; many endpoints from
-- one user is permission probing.
-- @param since 1970-01-01
-- @param until 2100-01-01
-- @param min_failures 1
SELECT
    COALESCE(ip_address, '(none)') AS ip_address,
    COALESCE(organization_id, '(none)') AS organization_id,
    SUM(CASE WHEN status = 401 THEN 1 ELSE 0 END) AS failed_logins_401,
    SUM(CASE WHEN status = 403 THEN 1 ELSE 0 END) AS denied_403,
    COUNT(DISTINCT user_id) AS users,
    COUNT(DISTINCT endpoint) AS endpoints,
    COUNT(DISTINCT user_agent) AS user_agents,
    MIN(user_id) AS a_user,
    MIN(user_agent) AS a_user_agent,
    MIN(ts) AS first_seen,
    MAX(ts) AS last_seen
FROM events
WHERE status IN (401, 403)
  AND CAST(ts AS BIGINT) >= :since
  AND CAST(ts AS BIGINT) < :until
GROUP BY COALESCE(ip_address, '(none)'), COALESCE(organization_id, '(none)')
HAVING COUNT(*) >= :min_failures
ORDER BY failed_logins_401 + denied_403 DESC, ip_address, organization_id
