-- Device control (engineer D1): commands sent to devices (audited), desired configurations (versioned, append-only),
-- camera snapshots uploaded for zone drawing, and the model files the hub serves for `model_update`.
-- Plain PostgreSQL 15+.

-- Every command a user asked for, written (and committed) before it is published, so the audit trail also shows
-- attempts whose publish failed. cmd_id is filled once the command went out; its result is in cmd_results.
CREATE TABLE IF NOT EXISTS device_commands (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    device_id    text NOT NULL,
    cmd_id       text UNIQUE,
    name         text NOT NULL CHECK (name ~ '^[a-z][a-z0-9_]{0,63}$'),
    args         jsonb NOT NULL DEFAULT '{}'::jsonb,
    actor        text NOT NULL,
    role         text NOT NULL,
    requested_at timestamptz NOT NULL DEFAULT now(),
    sent_at      timestamptz,
    send_error   text
);
CREATE INDEX IF NOT EXISTS device_commands_device ON device_commands (device_id, id DESC);

-- Append-only, except for recording the outcome of the publish once (cmd_id + sent_at, or send_error).
CREATE OR REPLACE FUNCTION device_commands_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND OLD.cmd_id IS NULL AND OLD.send_error IS NULL
       AND NEW.id = OLD.id AND NEW.device_id = OLD.device_id AND NEW.name = OLD.name AND NEW.args = OLD.args
       AND NEW.actor = OLD.actor AND NEW.role = OLD.role AND NEW.requested_at = OLD.requested_at THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'device_commands is an audit trail: only the publish outcome may be recorded, once (% refused)',
        TG_OP;
END;
$$;

DROP TRIGGER IF EXISTS device_commands_audit ON device_commands;
CREATE TRIGGER device_commands_audit
    BEFORE UPDATE OR DELETE ON device_commands
    FOR EACH ROW EXECUTE FUNCTION device_commands_guard();

DROP TRIGGER IF EXISTS device_commands_no_truncate ON device_commands;
CREATE TRIGGER device_commands_no_truncate
    BEFORE TRUNCATE ON device_commands
    FOR EACH STATEMENT EXECUTE FUNCTION device_commands_guard();

-- Every desired configuration ever set, one row per version: the newest row is the one published (retained) on
-- the device's config topic; the older rows are the audit trail of configuration changes.
CREATE TABLE IF NOT EXISTS device_configs (
    device_id  text NOT NULL,
    version    integer NOT NULL CHECK (version >= 1),
    config     jsonb NOT NULL,
    actor      text NOT NULL,
    role       text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, version)
);

CREATE OR REPLACE FUNCTION device_configs_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'device_configs is append-only (% refused)', TG_OP;
END;
$$;

DROP TRIGGER IF EXISTS device_configs_no_change ON device_configs;
CREATE TRIGGER device_configs_no_change
    BEFORE UPDATE OR DELETE ON device_configs
    FOR EACH ROW EXECUTE FUNCTION device_configs_append_only();

DROP TRIGGER IF EXISTS device_configs_no_truncate ON device_configs;
CREATE TRIGGER device_configs_no_truncate
    BEFORE TRUNCATE ON device_configs
    FOR EACH STATEMENT EXECUTE FUNCTION device_configs_append_only();

-- Camera pictures devices upload in answer to a `snapshot` command (bytes content-addressed in the evidence
-- store); the newest few per camera are kept.
CREATE TABLE IF NOT EXISTS device_snapshots (
    device_id    text NOT NULL,
    cmd_id       text NOT NULL,
    camera_id    text,
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content_type text NOT NULL,
    bytes        integer NOT NULL CHECK (bytes >= 0),
    stored_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, cmd_id)
);
CREATE INDEX IF NOT EXISTS device_snapshots_latest ON device_snapshots (device_id, camera_id, stored_at DESC);
CREATE INDEX IF NOT EXISTS device_snapshots_sha ON device_snapshots (sha256);

-- Model files the hub serves to devices, content-addressed by sha256 on disk; (name, version) names one file.
CREATE TABLE IF NOT EXISTS model_files (
    sha256      text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    name        text NOT NULL CHECK (name ~ '^[A-Za-z0-9_.-]{1,64}$'),
    version     text NOT NULL CHECK (length(version) BETWEEN 1 AND 64),
    bytes       bigint NOT NULL CHECK (bytes > 0),
    uploaded_by text NOT NULL,
    uploaded_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (name, version)
);
