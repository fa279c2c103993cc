-- Whether project $1 exists.
SELECT 1 FROM projects WHERE id = $1
