-- Field work (the work-order API of the officer's phone and the command centre): photos as evidence of
-- transitions, idempotent retries of the actions the officer app queued offline, and the SLA clock that pauses
-- while an order is suspended.

-- Working minutes left on the SLA clock of a suspended order (due_at is NULL meanwhile); due_at is recomputed
-- from it when the order resumes.
ALTER TABLE work_orders ADD COLUMN IF NOT EXISTS sla_remaining_min double precision
    CHECK (sla_remaining_min IS NULL OR sla_remaining_min >= 0);
CREATE INDEX IF NOT EXISTS work_orders_district_status ON work_orders (district, status);

-- A picture an officer took of the place, stored content-addressed in the evidence store (file or S3) under its
-- sha256; linked to the transition it documents once one names it (NULL until then, or for extra pictures).
CREATE TABLE IF NOT EXISTS work_order_photos (
    photo_id      uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    work_order_id bigint NOT NULL REFERENCES work_orders (id),
    uploaded_by   text NOT NULL,
    sha256        text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content_type  text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    bytes         integer NOT NULL CHECK (bytes > 0),
    width         integer NOT NULL CHECK (width > 0),
    height        integer NOT NULL CHECK (height > 0),
    taken_at      timestamptz,
    lon           double precision CHECK (lon BETWEEN -180 AND 180),
    lat           double precision CHECK (lat BETWEEN -90 AND 90),
    note          text,
    uploaded_at   timestamptz NOT NULL DEFAULT now(),
    transition_id bigint REFERENCES work_order_transitions (id)
);
CREATE INDEX IF NOT EXISTS work_order_photos_order ON work_order_photos (work_order_id, uploaded_at);
CREATE INDEX IF NOT EXISTS work_order_photos_transition ON work_order_photos (transition_id)
    WHERE transition_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS work_order_photos_sha256 ON work_order_photos (sha256);

-- The first outcome of a request sent with an Idempotency-Key, per user: a retry with the same key and the same
-- request (method, path, sha256 of the body) gets it again instead of acting twice. Kept 7 days.
CREATE TABLE IF NOT EXISTS idempotency_keys (
    username    text NOT NULL,
    key         text NOT NULL CHECK (length(key) BETWEEN 1 AND 200),
    method      text NOT NULL,
    path        text NOT NULL,
    body_sha256 text NOT NULL,
    status_code integer,
    body        jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (username, key)
);
CREATE INDEX IF NOT EXISTS idempotency_keys_created ON idempotency_keys (created_at);
