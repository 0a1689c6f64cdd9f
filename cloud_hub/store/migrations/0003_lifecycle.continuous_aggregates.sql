-- Events per hour as a TimescaleDB continuous aggregate (Community edition), refreshed by a TimescaleDB policy.
-- WITH NO DATA: a continuous aggregate cannot be filled inside the migration's transaction; the policy fills it,
-- and materialized_only = false answers the not yet materialized tail from the raw events in the meantime.
CREATE MATERIALIZED VIEW IF NOT EXISTS rollup_events_hourly_cagg
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', ts) AS bucket, kind, coalesce(subtype, '') AS subtype, device_id,
       coalesce(camera_id, '') AS camera_id, count(*) AS events
FROM events
GROUP BY 1, 2, 3, 4, 5
WITH NO DATA;

SELECT add_continuous_aggregate_policy('rollup_events_hourly_cagg',
    start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '5 minutes', if_not_exists => TRUE);

-- Same columns as the table variant's view, so the API and Grafana never care which one is underneath.
CREATE OR REPLACE VIEW rollup_events_hourly AS
SELECT r.bucket, r.kind, NULLIF(r.subtype, '') AS subtype, r.device_id, NULLIF(r.camera_id, '') AS camera_id,
       p.grid_id, p.district, r.events
FROM rollup_events_hourly_cagg r
LEFT JOIN event_places p ON p.device_id = r.device_id AND p.camera_id = r.camera_id;
