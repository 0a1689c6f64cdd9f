-- Incidents merged across devices and incident keys by place (rules/hub/merge.yaml), and work-order routing with
-- fallbacks, load balancing and the district commander queue (rules/hub/routing.yaml).

-- The first box (normalised x1, y1, x2, y2) of the object the incident is about, as its camera reported it: a new
-- incident key of the same camera whose box overlaps it is the same object (an edge restart, a tracker id switch).
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS bbox real[];
-- How many sources (device_id, incident_key) feed the incident; above 1 they are listed in incident_sources.
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS source_count integer NOT NULL DEFAULT 1;
-- Open incidents by kind and place: the candidates a starting situation may join.
CREATE INDEX IF NOT EXISTS incidents_open_place ON incidents (kind, lat, lon) WHERE status = 'open';

-- Every source of an incident fed by more than one (the incident's own device_id and incident_key included).
-- live: still reporting; ended: sent its end; superseded: the same camera reports the object under a newer key.
-- The incident ends when its last live source ends.
CREATE TABLE IF NOT EXISTS incident_sources (
    incident_id  bigint NOT NULL REFERENCES incidents (id),
    device_id    text NOT NULL,
    incident_key text NOT NULL,
    camera_id    text,
    zone_id      text,
    bbox         real[],
    status       text NOT NULL CHECK (status IN ('live', 'ended', 'superseded')),
    joined_at    timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (incident_id, device_id, incident_key)
);
CREATE INDEX IF NOT EXISTS incident_sources_key ON incident_sources (device_id, incident_key);

-- An order routing could give to nobody waits, `registered`, in the commander queue of this district.
ALTER TABLE work_orders ADD COLUMN IF NOT EXISTS queue text;
CREATE INDEX IF NOT EXISTS work_orders_queue ON work_orders (queue, created_at DESC) WHERE status = 'registered';

-- Round robin among equally loaded officers: whom each pool (a grid's officers on duty, or its neighbours') gave
-- the last order, so every hub replica continues the same turn. The row is locked while a batch assigns.
CREATE TABLE IF NOT EXISTS dispatch_rotation (
    pool_key      text PRIMARY KEY,
    last_assignee text,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
