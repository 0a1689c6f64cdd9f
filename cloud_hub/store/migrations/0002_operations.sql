-- Operations: users, districts, grids and duty rosters, cameras, incidents, work orders and their audit trail.
-- Plain SQL for PostgreSQL 15+ (no TimescaleDB or PostGIS needed: grid polygons are GeoJSON, tested in the hub).

CREATE TABLE IF NOT EXISTS users (
    username      text PRIMARY KEY CHECK (length(username) BETWEEN 1 AND 64),
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'commander', 'officer', 'technician')),
    display_name  text,
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS districts (
    district_id text PRIMARY KEY,
    name        text NOT NULL,
    city        text
);

-- polygon: a GeoJSON Polygon or MultiPolygon in lon/lat (WGS 84).
CREATE TABLE IF NOT EXISTS grids (
    grid_id     text PRIMARY KEY,
    district_id text REFERENCES districts (district_id),
    name        text NOT NULL,
    polygon     jsonb NOT NULL CHECK (polygon ->> 'type' IN ('Polygon', 'MultiPolygon')),
    supervisor  text REFERENCES users (username) ON DELETE SET NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Who is on duty in a grid: every day (weekdays NULL) or ISO weekdays 1=Mon..7=Sun, all day (times NULL) or
-- a local-time window that may cross midnight (start > end).
CREATE TABLE IF NOT EXISTS rosters (
    roster_id  text PRIMARY KEY,
    grid_id    text NOT NULL REFERENCES grids (grid_id) ON DELETE CASCADE,
    username   text NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    weekdays   smallint[] CHECK (weekdays <@ ARRAY[1, 2, 3, 4, 5, 6, 7]::smallint[]),
    start_time time,
    end_time   time,
    timezone   text NOT NULL DEFAULT 'Asia/Shanghai',
    priority   integer NOT NULL DEFAULT 100,
    CHECK ((start_time IS NULL) = (end_time IS NULL))
);
CREATE INDEX IF NOT EXISTS rosters_grid ON rosters (grid_id);

CREATE TABLE IF NOT EXISTS cameras (
    camera_id text PRIMARY KEY,
    device_id text,
    name      text,
    lon       double precision CHECK (lon BETWEEN -180 AND 180),
    lat       double precision CHECK (lat BETWEEN -90 AND 90),
    district  text,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS incidents (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id         text NOT NULL,
    incident_key      text NOT NULL,
    kind              text NOT NULL,
    subtype           text,
    severity          text NOT NULL CHECK (severity IN ('red', 'orange', 'yellow', 'blue')),
    status            text NOT NULL CHECK (status IN ('open', 'ended', 'closed')),
    camera_id         text,
    zone_id           text,
    lon               double precision,
    lat               double precision,
    grid_id           text,
    district          text,
    first_event_id    uuid NOT NULL,
    last_event_id     uuid NOT NULL,
    evidence_event_id uuid,
    first_seen        timestamptz NOT NULL,
    last_seen         timestamptz NOT NULL,
    ended_at          timestamptz,
    event_count       integer NOT NULL DEFAULT 1,
    confidence        real,
    measurements      jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
-- One open incident per situation; ended ones stay as history under the same key.
CREATE UNIQUE INDEX IF NOT EXISTS incidents_open_key ON incidents (device_id, incident_key) WHERE status = 'open';
CREATE INDEX IF NOT EXISTS incidents_key_recent ON incidents (device_id, incident_key, id DESC);
CREATE INDEX IF NOT EXISTS incidents_last_seen ON incidents (last_seen DESC);

CREATE TABLE IF NOT EXISTS work_orders (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    incident_id    bigint NOT NULL UNIQUE REFERENCES incidents (id),
    kind           text NOT NULL,
    subtype        text,
    severity       text NOT NULL CHECK (severity IN ('red', 'orange', 'yellow', 'blue')),
    status         text NOT NULL CHECK (status IN ('reported', 'registered', 'dispatched', 'accepted', 'on_site',
                       'resolved', 'verified', 'closed', 'false_alarm', 'returned', 'reassigned', 'escalated',
                       'suspended')),
    assignee       text REFERENCES users (username),
    handled_by     text,
    suspended_from text,
    grid_id        text,
    district       text,
    due_at         timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS work_orders_assignee ON work_orders (assignee, status);
CREATE INDEX IF NOT EXISTS work_orders_status ON work_orders (status, created_at DESC);

-- Append-only audit trail: every status change, who made it, in which role, why, with which evidence.
CREATE TABLE IF NOT EXISTS work_order_transitions (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    work_order_id bigint NOT NULL REFERENCES work_orders (id),
    from_status   text,
    to_status     text NOT NULL,
    actor         text NOT NULL,
    role          text NOT NULL,
    assignee      text,
    note          text,
    evidence      text,
    at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS work_order_transitions_order ON work_order_transitions (work_order_id, id);

CREATE OR REPLACE FUNCTION work_order_transitions_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'work_order_transitions is append-only (% refused)', TG_OP;
END;
$$;

DROP TRIGGER IF EXISTS work_order_transitions_no_change ON work_order_transitions;
CREATE TRIGGER work_order_transitions_no_change
    BEFORE UPDATE OR DELETE ON work_order_transitions
    FOR EACH ROW EXECUTE FUNCTION work_order_transitions_append_only();

DROP TRIGGER IF EXISTS work_order_transitions_no_truncate ON work_order_transitions;
CREATE TRIGGER work_order_transitions_no_truncate
    BEFORE TRUNCATE ON work_order_transitions
    FOR EACH STATEMENT EXECUTE FUNCTION work_order_transitions_append_only();
