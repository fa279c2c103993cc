-- Issue 20: the connection object in Infisical's shape. Infisical's
-- connections carry a `version` that each update bumps; clients read it,
-- so it is kept here too (an update of name, description or token bumps it).
ALTER TABLE app_connections ADD COLUMN version integer NOT NULL DEFAULT 1;

-- Paged lists and look-ups by name: a project's connections by name.
CREATE INDEX app_connections_project_name_idx ON app_connections (project_id, name);
