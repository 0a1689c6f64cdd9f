-- The live channel (GET /api/v1/live): every change people watch, written in the transaction that makes it.
--
-- Statement-level triggers (one INSERT ... SELECT per statement, whatever its row count, so a batch of the ingest
-- path costs one statement, not one per row) turn changes of incidents, work orders, devices and hub modes into
-- rows of `live_messages` and wake every hub process with NOTIFY (delivered at commit, collapsed to one per
-- transaction). A hub process reads the rows in (txid, id) order, but only those of transactions older than the
-- oldest transaction still running (`pg_snapshot_xmin`): a row of a transaction that is still open can never
-- appear later below that horizon, so a client that reconnects with the last (txid, id) it saw misses nothing.
-- The scope columns (grid_id, district, assignee, kind, device_id) let a hub process filter by what each user may
-- see without parsing the payload.

CREATE TABLE IF NOT EXISTS live_messages (
    id        bigint GENERATED ALWAYS AS IDENTITY,
    txid      xid8 NOT NULL DEFAULT pg_current_xact_id(),
    at        timestamptz NOT NULL DEFAULT clock_timestamp(),
    topic     text NOT NULL CHECK (topic IN ('incident', 'work_order', 'device', 'mode')),
    op        text NOT NULL,
    grid_id   text,
    district  text,
    assignee  text,
    kind      text,
    device_id text,
    payload   jsonb NOT NULL,
    PRIMARY KEY (txid, id)
);
CREATE INDEX IF NOT EXISTS live_messages_at ON live_messages (at);

-- How far old messages have been pruned: a client resuming from before this position may have missed some and
-- is told to resynchronise (reload its lists) instead.
CREATE TABLE IF NOT EXISTS live_pruned (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    txid      xid8 NOT NULL,
    id        bigint NOT NULL
);

-- Incidents: opened, updated, ended, closed (camera faults are incidents of kind camera_fault).
CREATE OR REPLACE FUNCTION live_incidents_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO live_messages (topic, op, grid_id, district, kind, device_id, payload)
    SELECT 'incident', CASE n.status WHEN 'open' THEN 'opened' ELSE n.status END, n.grid_id, n.district, n.kind,
           n.device_id, to_jsonb(n)
    FROM new_rows n;
    IF FOUND THEN
        PERFORM pg_notify('cityops_live', '');
    END IF;
    RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION live_incidents_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO live_messages (topic, op, grid_id, district, kind, device_id, payload)
    SELECT 'incident', CASE WHEN o.status IS DISTINCT FROM n.status THEN n.status ELSE 'updated' END,
           n.grid_id, n.district, n.kind, n.device_id, to_jsonb(n)
    FROM new_rows n JOIN old_rows o ON o.id = n.id;
    IF FOUND THEN
        PERFORM pg_notify('cityops_live', '');
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS live_incidents_insert ON incidents;
CREATE TRIGGER live_incidents_insert AFTER INSERT ON incidents
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION live_incidents_inserted();
DROP TRIGGER IF EXISTS live_incidents_update ON incidents;
CREATE TRIGGER live_incidents_update AFTER UPDATE ON incidents
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION live_incidents_updated();

-- Work orders, with the place of their incident (what the officer's list and the map show).
CREATE OR REPLACE FUNCTION live_work_order_json(w jsonb) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT w || jsonb_build_object(
        'camera_id', i.camera_id, 'lon', i.lon, 'lat', i.lat, 'evidence_event_id', i.evidence_event_id,
        'incident_status', i.status)
    FROM incidents i WHERE i.id = (w ->> 'incident_id')::bigint
$$;

-- Every transition (and a creation, which is reported -> registered -> dispatched): one message per work order and
-- statement, with the steps of that statement and the order as it is now. apply_transition updates the order
-- before it appends the transition rows, so the order read here is the new one.
CREATE OR REPLACE FUNCTION live_transitions_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO live_messages (topic, op, grid_id, district, assignee, kind, device_id, payload)
    SELECT 'work_order', CASE WHEN s.created THEN 'created' ELSE 'transition' END, w.grid_id, w.district,
           w.assignee, w.kind, i.device_id,
           jsonb_build_object('work_order', live_work_order_json(to_jsonb(w)), 'steps', s.steps)
    FROM (
        SELECT t.work_order_id, bool_or(t.from_status IS NULL) AS created,
               jsonb_agg(jsonb_build_object('from', t.from_status, 'to', t.to_status, 'actor', t.actor,
                         'role', t.role, 'assignee', t.assignee, 'note', t.note, 'at', t.at) ORDER BY t.id) AS steps
        FROM new_rows t GROUP BY t.work_order_id
    ) s
    JOIN work_orders w ON w.id = s.work_order_id
    JOIN incidents i ON i.id = w.incident_id;
    IF FOUND THEN
        PERFORM pg_notify('cityops_live', '');
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS live_transitions_insert ON work_order_transitions;
CREATE TRIGGER live_transitions_insert AFTER INSERT ON work_order_transitions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION live_transitions_inserted();

-- Changes without a transition (severity or deadline moved by the incident), and the officer an order was taken
-- from: `unassigned` goes to the previous assignee alone (no grid), so their list drops it.
CREATE OR REPLACE FUNCTION live_work_orders_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO live_messages (topic, op, grid_id, district, assignee, kind, device_id, payload)
    SELECT 'work_order', 'updated', n.grid_id, n.district, n.assignee, n.kind, NULL,
           jsonb_build_object('work_order', live_work_order_json(to_jsonb(n)), 'steps', '[]'::jsonb)
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE o.status = n.status AND o.assignee IS NOT DISTINCT FROM n.assignee
      AND (o.severity, o.due_at, o.grid_id) IS DISTINCT FROM (n.severity, n.due_at, n.grid_id)
    UNION ALL
    SELECT 'work_order', 'unassigned', NULL, NULL, o.assignee, n.kind, NULL,
           jsonb_build_object('work_order', jsonb_build_object('id', n.id, 'assignee', n.assignee), 'steps', '[]'::jsonb)
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE o.assignee IS NOT NULL AND o.assignee IS DISTINCT FROM n.assignee;
    IF FOUND THEN
        PERFORM pg_notify('cityops_live', '');
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS live_work_orders_update ON work_orders;
CREATE TRIGGER live_work_orders_update AFTER UPDATE ON work_orders
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT
    EXECUTE FUNCTION live_work_orders_updated();

-- Devices: provisioned, and every change of what operators watch (online state, versions, health, place).
-- The secret hash never leaves the table.
CREATE OR REPLACE FUNCTION live_devices_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO live_messages (topic, op, device_id, payload)
        SELECT 'device', 'provisioned', n.device_id, to_jsonb(n) - 'secret_hash' FROM new_rows n;
    ELSE
        INSERT INTO live_messages (topic, op, device_id, payload)
        SELECT 'device', CASE WHEN o.online IS DISTINCT FROM n.online THEN
                   CASE WHEN n.online THEN 'online' ELSE 'offline' END
               WHEN o.provisioned_at IS DISTINCT FROM n.provisioned_at THEN 'provisioned'
               ELSE 'health' END,
               n.device_id, to_jsonb(n) - 'secret_hash'
        FROM new_rows n JOIN old_rows o ON o.device_id = n.device_id
        WHERE (o.online, o.config_version, o.agent_version, o.health, o.models, o.lon, o.lat, o.provisioned_at)
              IS DISTINCT FROM
              (n.online, n.config_version, n.agent_version, n.health, n.models, n.lon, n.lat, n.provisioned_at);
    END IF;
    IF FOUND THEN
        PERFORM pg_notify('cityops_live', '');
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS live_devices_insert ON devices;
CREATE TRIGGER live_devices_insert AFTER INSERT ON devices
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION live_devices_changed();
DROP TRIGGER IF EXISTS live_devices_update ON devices;
CREATE TRIGGER live_devices_update AFTER UPDATE ON devices
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION live_devices_changed();

-- City-wide modes (rainstorm): everyone's screen shows the switch.
CREATE OR REPLACE FUNCTION live_modes_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO live_messages (topic, op, payload)
    SELECT 'mode', CASE WHEN n.enabled THEN 'enabled' ELSE 'disabled' END, to_jsonb(n)
    FROM new_rows n JOIN old_rows o ON o.name = n.name
    WHERE (o.enabled, o.note, o.changed_at) IS DISTINCT FROM (n.enabled, n.note, n.changed_at);
    IF FOUND THEN
        PERFORM pg_notify('cityops_live', '');
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS live_modes_update ON hub_modes;
CREATE TRIGGER live_modes_update AFTER UPDATE ON hub_modes
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION live_modes_changed();
