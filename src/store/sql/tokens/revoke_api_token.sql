-- Revokes live token $1 and ends its dashboard sessions at once (so there
-- is no moment with a revoked token's session); `n`: tokens revoked.
WITH revoked AS (
    UPDATE api_tokens SET revoked_at = now()
     WHERE id = $1 AND revoked_at IS NULL RETURNING id),
 ended AS (
    DELETE FROM dashboard_sessions WHERE token_id = $1)
SELECT count(*) AS n FROM revoked
