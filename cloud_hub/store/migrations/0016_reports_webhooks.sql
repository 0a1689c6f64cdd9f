-- Citizens' reports (12345 hotline) and outgoing webhooks.
--
-- Incidents no longer need a device: `origin` says where one came from (not to be confused with incident_sources,
-- the devices feeding a merged incident). A device's incident keeps its device, events and the ingest path's
-- one-open-incident-per-(device_id, incident_key) index; a citizen's report has no device (NULL never collides in
-- that unique index) and no events.
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS origin text NOT NULL DEFAULT 'device';
ALTER TABLE incidents DROP CONSTRAINT IF EXISTS incidents_origin_check;
ALTER TABLE incidents ADD CONSTRAINT incidents_origin_check CHECK (origin IN ('device', 'report'));
ALTER TABLE incidents ALTER COLUMN device_id DROP NOT NULL;
ALTER TABLE incidents ALTER COLUMN first_event_id DROP NOT NULL;
ALTER TABLE incidents ALTER COLUMN last_event_id DROP NOT NULL;
ALTER TABLE incidents DROP CONSTRAINT IF EXISTS incidents_device_origin;
ALTER TABLE incidents ADD CONSTRAINT incidents_device_origin CHECK (
    origin <> 'device' OR (device_id IS NOT NULL AND first_event_id IS NOT NULL AND last_event_id IS NOT NULL));

-- Systems allowed to file reports (the 12345 hotline's case system): one bearer token each, issued by an admin,
-- kept as its sha256 only (256 random bits: nothing to look up in a table). Revoked clients stay for the record.
CREATE TABLE IF NOT EXISTS report_clients (
    client_id       text PRIMARY KEY CHECK (client_id ~ '^[a-z0-9][a-z0-9_-]{1,62}$'),
    name            text NOT NULL,
    token_sha256    bytea NOT NULL UNIQUE,
    active          boolean NOT NULL DEFAULT true,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    token_issued_at timestamptz NOT NULL DEFAULT now(),
    revoked_at      timestamptz,
    last_used_at    timestamptz
);

-- One row per case: the case number is the client's idempotency key. `content` is what was reported (photos by
-- sha256) so a retry is recognised and a different report under the same number is refused naming what differs.
CREATE TABLE IF NOT EXISTS citizen_reports (
    client_id     text NOT NULL REFERENCES report_clients (client_id),
    case_number   text NOT NULL CHECK (case_number ~ '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$'),
    content       jsonb NOT NULL,
    category      text NOT NULL,
    kind          text NOT NULL,
    text          text NOT NULL,
    address       text,
    lon           double precision CHECK (lon BETWEEN -180 AND 180),
    lat           double precision CHECK (lat BETWEEN -90 AND 90),
    reported_at   timestamptz NOT NULL,
    received_at   timestamptz NOT NULL DEFAULT now(),
    incident_id   bigint UNIQUE REFERENCES incidents (id),
    work_order_id bigint UNIQUE REFERENCES work_orders (id),
    PRIMARY KEY (client_id, case_number)
);

-- Outgoing webhooks. A subscription receives the live channel's messages of the event types it names, from when it
-- was created; `failures` and `retry_at` pause a failing receiver as a whole (one probe per backoff step) while each
-- delivery keeps its own attempt count towards the dead-letter limit.
CREATE TABLE IF NOT EXISTS webhook_subscriptions (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL,
    url         text NOT NULL CHECK (url ~ '^https?://'),
    events      text[] NOT NULL CHECK (cardinality(events) > 0),
    secret      text NOT NULL CHECK (length(secret) >= 16),  -- HMAC key: must be kept to sign, so not hashed
    active      boolean NOT NULL DEFAULT true,
    failures    integer NOT NULL DEFAULT 0,
    retry_at    timestamptz,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The durable queue: one row per (subscription, live message); the body is stored as sent, so every retry carries
-- the same bytes and the same delivery id. `leased_until` marks an attempt in flight (a crashed sender's lease runs
-- out and another process retries it: at least once).
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    delivery_id     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    subscription_id bigint NOT NULL REFERENCES webhook_subscriptions (id) ON DELETE CASCADE,
    msg_txid        xid8,
    msg_id          bigint,
    event_type      text NOT NULL,
    body            text NOT NULL,
    status          text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    leased_until    timestamptz,
    last_attempt_at timestamptz,
    last_status     integer,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz,
    dead_at         timestamptz,
    UNIQUE (subscription_id, msg_txid, msg_id)
);
CREATE INDEX IF NOT EXISTS webhook_deliveries_due ON webhook_deliveries (subscription_id, next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS webhook_deliveries_status ON webhook_deliveries (status, created_at DESC);

-- How far the live messages have been turned into deliveries (one row; the live channel's (txid, id) order).
CREATE TABLE IF NOT EXISTS webhook_cursor (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    txid      xid8 NOT NULL,
    id        bigint NOT NULL
);

-- The admin change record also covers webhook subscriptions and report clients. The allowed entities are read from
-- the constraint in force, so entities another migration added stay allowed.
DO $$
DECLARE
    allowed text[];  -- e.g. CHECK ((entity = ANY (ARRAY['district'::text, ...]))) gives {district, ...}
BEGIN
    SELECT array_agg(DISTINCT m[1]) INTO allowed
    FROM pg_constraint c, regexp_matches(pg_get_constraintdef(c.oid), '''([a-z_]+)''', 'g') AS m
    WHERE c.conrelid = 'admin_changes'::regclass AND c.conname = 'admin_changes_entity_check';
    ALTER TABLE admin_changes DROP CONSTRAINT IF EXISTS admin_changes_entity_check;
    EXECUTE format('ALTER TABLE admin_changes ADD CONSTRAINT admin_changes_entity_check CHECK (entity IN (%s))',
                   (SELECT string_agg(DISTINCT quote_literal(e), ', ')
                    FROM unnest(coalesce(allowed, '{}') || ARRAY['webhook', 'report_client']) AS e));
END;
$$;
