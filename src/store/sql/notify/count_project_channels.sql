-- How many notification channels project $1 has.
SELECT count(*) FROM notification_channels WHERE project_id = $1
