-- Storage lifecycle (engineer H1): dashboard rollups, their bookkeeping, and indexes for retention sweeps.
-- The events rollup itself comes from a variant: a continuous aggregate (0003_lifecycle.continuous_aggregates.sql)
-- or a table the hub scheduler maintains (0003_lifecycle.no_continuous_aggregates.sql); both sit behind the
-- view `rollup_events_hourly`. SLA figures are always a hub-maintained table (work orders are mutable rows,
-- not a hypertable, so no continuous aggregate can read them) behind the view `rollup_sla_daily`.

-- Where an event source is: a camera (camera_id) or, for sensors without one, the device itself (camera_id '').
-- Filled by the hub scheduler from cameras/devices locations and the grid polygons (the same placement rule as
-- the incident processor); rollups are attributed to the source's current grid and district.
CREATE TABLE IF NOT EXISTS event_places (
    device_id  text NOT NULL,
    camera_id  text NOT NULL DEFAULT '',
    grid_id    text,
    district   text,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, camera_id)
);

-- Hours whose events changed since the last rollup refresh (written by the ingest transaction that stored them;
-- no unique key, so concurrent writers never wait on each other and a refresh deletes exactly what it read).
CREATE TABLE IF NOT EXISTS rollup_dirty_hours (
    bucket    timestamptz NOT NULL,
    marked_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS rollup_dirty_hours_bucket ON rollup_dirty_hours (bucket);

-- How far each hub-maintained rollup has been refreshed.
CREATE TABLE IF NOT EXISTS rollup_watermarks (
    name         text PRIMARY KEY,
    refreshed_to timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now()
);

-- SLA per due day (in the rollup time zone), kind and district ('' when the order has none).
CREATE TABLE IF NOT EXISTS rollup_sla_daily_data (
    day          date NOT NULL,
    kind         text NOT NULL,
    district     text NOT NULL DEFAULT '',
    due          bigint NOT NULL,
    met          bigint NOT NULL,
    breached     bigint NOT NULL,
    overdue_open bigint NOT NULL,
    false_alarm  bigint NOT NULL,
    refreshed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (day, kind, district)
);

CREATE OR REPLACE VIEW rollup_sla_daily AS
SELECT day, kind, NULLIF(district, '') AS district, due, met, breached, overdue_open, false_alarm, refreshed_at
FROM rollup_sla_daily_data;

-- The hub's periodic jobs: one row per job, the last run as every replica sees it.
CREATE TABLE IF NOT EXISTS scheduler_jobs (
    name             text PRIMARY KEY,
    last_started_at  timestamptz,
    last_finished_at timestamptz,
    last_ok          boolean,
    last_detail      text NOT NULL DEFAULT '',
    runs             bigint NOT NULL DEFAULT 0,
    run_by           text
);

-- Incremental SLA refresh finds changed orders and newly passed deadlines; the evidence sweep finds old pictures.
CREATE INDEX IF NOT EXISTS work_orders_updated_at ON work_orders (updated_at);
CREATE INDEX IF NOT EXISTS work_orders_due_at ON work_orders (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS evidence_stored_at ON evidence (stored_at);
CREATE INDEX IF NOT EXISTS evidence_sha256 ON evidence (sha256);
