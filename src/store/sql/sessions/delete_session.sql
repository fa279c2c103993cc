-- Ends dashboard session $1 (sign-out).
DELETE FROM dashboard_sessions WHERE id_hash = $1
