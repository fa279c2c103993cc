-- Instance-wide `admin` tokens (issue 19): every project, and what belongs
-- to none (queue depths, workers, dead letters naming no project). They
-- carry no project list; read and write tokens still need at least one.
ALTER TABLE api_tokens DROP CONSTRAINT IF EXISTS api_tokens_role_check;
ALTER TABLE api_tokens DROP CONSTRAINT IF EXISTS api_tokens_project_ids_check;
ALTER TABLE api_tokens
    ADD CONSTRAINT api_tokens_role_check CHECK (role IN ('read', 'write', 'admin')),
    ADD CONSTRAINT api_tokens_project_ids_check CHECK (
        CASE WHEN role = 'admin' THEN cardinality(project_ids) = 0
             ELSE cardinality(project_ids) > 0 END);
