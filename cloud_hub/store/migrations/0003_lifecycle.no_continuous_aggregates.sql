-- Events per hour as an ordinary table, refreshed by the hub scheduler (cloud_hub.store.rollups), where the
-- server has no continuous aggregates (TimescaleDB Apache edition or plain PostgreSQL).
-- camera_id is '' for events without a camera so the primary key can hold it.
CREATE TABLE IF NOT EXISTS rollup_events_hourly_data (
    bucket    timestamptz NOT NULL,
    kind      text NOT NULL,
    subtype   text NOT NULL DEFAULT '',
    device_id text NOT NULL,
    camera_id text NOT NULL DEFAULT '',
    events    bigint NOT NULL,
    PRIMARY KEY (bucket, kind, subtype, device_id, camera_id)
);

CREATE OR REPLACE VIEW rollup_events_hourly AS
SELECT r.bucket, r.kind, NULLIF(r.subtype, '') AS subtype, r.device_id, NULLIF(r.camera_id, '') AS camera_id,
       p.grid_id, p.district, r.events
FROM rollup_events_hourly_data r
LEFT JOIN event_places p ON p.device_id = r.device_id AND p.camera_id = r.camera_id;
