-- Telemetry rules (engineer H2): per-series rule state, hub-wide operating modes (rainstorm) and their audit trail.
-- Plain PostgreSQL 15+.

-- One row per (device, sensor, metric, rule): the evaluator's state machine, locked in the ingest transaction
-- (SELECT ... FOR UPDATE) so replicas and restarts continue from the same state.
CREATE TABLE IF NOT EXISTS telemetry_rule_state (
    device_id  text NOT NULL,
    sensor_id  text NOT NULL,
    metric     text NOT NULL,
    rule_id    text NOT NULL,
    state      jsonb NOT NULL,
    last_ts    timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, sensor_id, metric, rule_id)
);
-- The missing-data sweep reads the states of one rule at a time.
CREATE INDEX IF NOT EXISTS telemetry_rule_state_rule ON telemetry_rule_state (rule_id, last_ts);

-- City-wide modes a commander switches (rainstorm tightens waterlogging thresholds). In the database so every
-- replica agrees.
CREATE TABLE IF NOT EXISTS hub_modes (
    name       text PRIMARY KEY CHECK (name IN ('rainstorm')),
    enabled    boolean NOT NULL DEFAULT false,
    note       text,
    changed_by text,
    changed_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO hub_modes (name, enabled) VALUES ('rainstorm', false) ON CONFLICT DO NOTHING;

-- Append-only audit trail of every mode switch.
CREATE TABLE IF NOT EXISTS hub_mode_changes (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL,
    enabled    boolean NOT NULL,
    note       text,
    actor      text NOT NULL,
    role       text NOT NULL,
    at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS hub_mode_changes_name ON hub_mode_changes (name, id DESC);

CREATE OR REPLACE FUNCTION hub_mode_changes_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'hub_mode_changes is append-only (% refused)', TG_OP;
END;
$$;

DROP TRIGGER IF EXISTS hub_mode_changes_no_change ON hub_mode_changes;
CREATE TRIGGER hub_mode_changes_no_change
    BEFORE UPDATE OR DELETE ON hub_mode_changes
    FOR EACH ROW EXECUTE FUNCTION hub_mode_changes_append_only();

DROP TRIGGER IF EXISTS hub_mode_changes_no_truncate ON hub_mode_changes;
CREATE TRIGGER hub_mode_changes_no_truncate
    BEFORE TRUNCATE ON hub_mode_changes
    FOR EACH STATEMENT EXECUTE FUNCTION hub_mode_changes_append_only();
