-- Core ingest schema (engineer C1): devices, events, telemetry, health, dead letters, ack cursors, evidence.
-- Plain PostgreSQL 15+; 0001_core.hypertables.sql turns the time-series tables into hypertables where available.
-- Unique keys on time-series tables include their time column, as hypertables require.

CREATE TABLE devices (
    device_id      text PRIMARY KEY CHECK (device_id ~ '^[A-Za-z0-9_.-]{3,64}$'),
    kind           text NOT NULL CHECK (kind IN ('edge', 'sensor')),
    lon            double precision CHECK (lon BETWEEN -180 AND 180),
    lat            double precision CHECK (lat BETWEEN -90 AND 90),
    secret_hash    text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    provisioned_at timestamptz NOT NULL DEFAULT now(),
    online         boolean NOT NULL DEFAULT false,
    last_seen      timestamptz,
    state_ts       timestamptz,
    agent_version  text,
    config_version integer,
    models         jsonb,
    health         jsonb
);

-- No foreign keys from the time-series tables to devices: ingest must never fail on ordering between
-- provisioning and the first message, and the broker's ACLs already bind topics to provisioned devices.
CREATE TABLE events (
    device_id    text NOT NULL,
    event_id     uuid NOT NULL,
    seq          bigint NOT NULL,
    ts           timestamptz NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    kind         text NOT NULL,
    subtype      text,
    phase        text NOT NULL,
    incident_key text NOT NULL,
    camera_id    text,
    zone_id      text,
    confidence   real,
    lon          double precision,
    lat          double precision,
    payload      jsonb NOT NULL
);
CREATE UNIQUE INDEX events_device_event_ts_key ON events (device_id, event_id, ts);
CREATE INDEX events_ts_idx ON events (ts DESC);
CREATE INDEX events_kind_ts_idx ON events (kind, ts DESC);
CREATE INDEX events_device_ts_idx ON events (device_id, ts DESC);
CREATE INDEX events_camera_ts_idx ON events (camera_id, ts DESC) WHERE camera_id IS NOT NULL;
CREATE INDEX events_incident_key_idx ON events (incident_key, ts DESC);
CREATE INDEX events_event_id_idx ON events (event_id);

CREATE TABLE telemetry (
    device_id   text NOT NULL,
    sensor_id   text NOT NULL,
    metric      text NOT NULL,
    ts          timestamptz NOT NULL,
    value       double precision NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX telemetry_reading_key ON telemetry (device_id, sensor_id, metric, ts);
CREATE INDEX telemetry_metric_ts_idx ON telemetry (metric, ts DESC);

CREATE TABLE health (
    device_id   text NOT NULL,
    ts          timestamptz NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    payload     jsonb NOT NULL
);
CREATE UNIQUE INDEX health_device_ts_key ON health (device_id, ts);

CREATE TABLE dead_letters (
    id          bigint GENERATED ALWAYS AS IDENTITY,
    received_at timestamptz NOT NULL DEFAULT now(),
    topic       text NOT NULL,
    device_id   text,
    reason      text NOT NULL,
    detail      text NOT NULL DEFAULT '',
    raw         bytea NOT NULL CHECK (octet_length(raw) <= 65536),
    raw_size    integer NOT NULL,
    PRIMARY KEY (id, received_at)
);
CREATE INDEX dead_letters_received_idx ON dead_letters (received_at DESC);
CREATE INDEX dead_letters_reason_idx ON dead_letters (reason, received_at DESC);
CREATE INDEX dead_letters_device_idx ON dead_letters (device_id, received_at DESC) WHERE device_id IS NOT NULL;

-- Per-device ack cursor: every event with seq <= acked_seq is stored. Never reset, also not on re-provisioning.
CREATE TABLE device_seq (
    device_id  text PRIMARY KEY,
    acked_seq  bigint NOT NULL DEFAULT 0 CHECK (acked_seq >= 0),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Stored events above the cursor, waiting for the gap below them to fill (out-of-order delivery).
CREATE TABLE seq_pending (
    device_id text NOT NULL,
    seq       bigint NOT NULL,
    PRIMARY KEY (device_id, seq)
);

-- Evidence pictures, content-addressed by sha256 in the evidence store; device_id is who uploaded it
-- (checked against the event's device when the event is read, since the picture may arrive first).
CREATE TABLE evidence (
    event_id     uuid PRIMARY KEY,
    device_id    text NOT NULL,
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content_type text NOT NULL,
    bytes        integer NOT NULL CHECK (bytes >= 0),
    path         text NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cmd_results (
    device_id   text NOT NULL,
    cmd_id      text NOT NULL,
    ok          boolean NOT NULL,
    detail      text NOT NULL DEFAULT '',
    received_at timestamptz NOT NULL DEFAULT now(),
    payload     jsonb NOT NULL,
    PRIMARY KEY (device_id, cmd_id)
);
