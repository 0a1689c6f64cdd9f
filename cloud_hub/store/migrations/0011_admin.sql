-- Admin API: an append-only record of every change an administrator (or a technician placing a camera) makes to
-- districts, grids, rosters, users, cameras and hub rule files; indexes for the admin lists and checks.
CREATE TABLE IF NOT EXISTS admin_changes (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor     text NOT NULL,
    role      text NOT NULL,
    entity    text NOT NULL CHECK (entity IN ('district', 'grid', 'roster', 'user', 'camera', 'rules')),
    entity_id text NOT NULL,
    action    text NOT NULL,
    before    jsonb,
    after     jsonb,
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS admin_changes_entity ON admin_changes (entity, entity_id, id DESC);
CREATE INDEX IF NOT EXISTS admin_changes_at ON admin_changes (at DESC);

CREATE OR REPLACE FUNCTION admin_changes_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'admin_changes is append-only (% refused)', TG_OP;
END;
$$;

DROP TRIGGER IF EXISTS admin_changes_no_change ON admin_changes;
CREATE TRIGGER admin_changes_no_change
    BEFORE UPDATE OR DELETE ON admin_changes
    FOR EACH ROW EXECUTE FUNCTION admin_changes_append_only();

DROP TRIGGER IF EXISTS admin_changes_no_truncate ON admin_changes;
CREATE TRIGGER admin_changes_no_truncate
    BEFORE TRUNCATE ON admin_changes
    FOR EACH STATEMENT EXECUTE FUNCTION admin_changes_append_only();

-- A district's grids and cameras (refusing a delete, listing by district); cameras by device.
CREATE INDEX IF NOT EXISTS grids_district ON grids (district_id);
CREATE INDEX IF NOT EXISTS cameras_district ON cameras (district);
CREATE INDEX IF NOT EXISTS cameras_device ON cameras (device_id) WHERE device_id IS NOT NULL;
