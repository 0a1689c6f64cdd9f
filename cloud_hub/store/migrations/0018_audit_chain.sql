-- Tamper-evident audit log (issue 12): one append-only table of hash-chained entries, written in the transaction of
-- the change it records. `cityops audit verify` recomputes every hash (cloud_hub/audit/); docs/audit.md explains
-- the chains, the canonical encoding and anchoring.
--
-- How an entry gets in:
-- 1. A statement-level trigger on a source table (one per statement, with its transition table, like 0009's live
--    channel) stages the statement's entries with `audit_stage`: they are added to the transaction-local setting
--    `cityops.audit_pending` (so a rolled-back savepoint drops its entries with it), and the transaction's first
--    staging inserts a row into `audit_flush_marks`.
-- 2. That row's deferred constraint trigger runs `audit_flush` once, at commit: it takes the advisory lock of every
--    chain it appends to (all at once, ordered by lock key), reads each chain's head, hashes the entries onto it and
--    inserts them. Chain locks are therefore held only from the flush to the end of the commit, and taken once
--    the transaction's own work is done, always in the same order: two writers never wait for each other in a
--    cycle, and an ingest transaction does not hold chain locks while it works.
-- Callers outside triggers (logins) call `audit_stage` themselves (cloud_hub/audit/store.py).

CREATE TABLE IF NOT EXISTS audit_log (
    chain     text NOT NULL CHECK (chain ~ '^[a-z][a-z0-9_]*(/[a-z0-9_]+)?$'),
    seq       bigint NOT NULL CHECK (seq >= 1),          -- 1, 2, 3 ... per chain, no gaps
    at        timestamptz NOT NULL,                      -- when the entry was appended (the commit's flush)
    actor     text,
    role      text,
    action    text NOT NULL,
    entity    text,
    entity_id text,
    detail    jsonb NOT NULL,
    prev_hash text CHECK (prev_hash ~ '^[0-9a-f]{64}$'), -- the hash of entry seq - 1; NULL for seq 1
    hash      text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    PRIMARY KEY (chain, seq),                            -- a fork (two entries with one seq) is refused
    CHECK ((seq = 1) = (prev_hash IS NULL))
);

-- The canonical encoding hashed: jsonb's text form of the array
--   [chain, seq, at, actor, role, action, entity, entity_id, detail, prev_hash]
-- with `at` as UTC ISO-8601 text with microseconds ("2025-01-31T08:05:09.123456Z"). jsonb normalises its text:
-- ", " and ": " separators, object keys ordered by byte length then bytes, numbers in PostgreSQL's numeric form,
-- strings escaped as PostgreSQL's to_json does. cloud_hub/audit/canonical.py produces the same text in Python.
CREATE OR REPLACE FUNCTION audit_canonical(
    chain text, seq bigint, at timestamptz, actor text, role text, action text, entity text, entity_id text,
    detail jsonb, prev_hash text
) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT jsonb_build_array(chain, seq, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), actor,
                             role, action, entity, entity_id, detail, prev_hash)::text
$$;

-- SHA-256 of the canonical text's UTF-8 bytes, lowercase hex.
CREATE OR REPLACE FUNCTION audit_hash(
    chain text, seq bigint, at timestamptz, actor text, role text, action text, entity text, entity_id text,
    detail jsonb, prev_hash text
) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT encode(sha256(convert_to(
        audit_canonical(chain, seq, at, actor, role, action, entity, entity_id, detail, prev_hash), 'UTF8')), 'hex')
$$;

-- Append-only: no UPDATE, DELETE or TRUNCATE, whoever asks. A superuser (or the table's owner) can still disable
-- the trigger; `cityops audit verify` then shows what was changed, and anchored heads show a cut-off tail.
CREATE OR REPLACE FUNCTION audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only (% refused)', TG_OP;
END;
$$;

DROP TRIGGER IF EXISTS audit_log_no_change ON audit_log;
CREATE TRIGGER audit_log_no_change
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log;
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

-- Not even the owning role may change rows without first granting itself the right (and disabling the trigger).
REVOKE UPDATE, DELETE, TRUNCATE ON audit_log FROM PUBLIC, CURRENT_USER;

-- One row per transaction that staged entries and has not flushed them yet (deleted by the flush, so it is never
-- seen committed); its deferred trigger is what runs the flush at commit.
CREATE TABLE IF NOT EXISTS audit_flush_marks (
    txid xid8 PRIMARY KEY
);

-- Stage entries (a jsonb array of objects with chain, actor, role, action, entity, entity_id, detail) for this
-- transaction's commit. SECURITY DEFINER, like the flush: the hub's role needs no rights on the audit tables.
CREATE OR REPLACE FUNCTION audit_stage(entries jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    pending text := coalesce(current_setting('cityops.audit_pending', true), '');
BEGIN
    IF entries IS NULL OR jsonb_array_length(entries) = 0 THEN
        RETURN;
    END IF;
    IF pending = '' THEN
        INSERT INTO audit_flush_marks (txid) VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING;
        pending := '[]';
    END IF;
    PERFORM set_config('cityops.audit_pending', (pending::jsonb || entries)::text, true);
END;
$$;

-- Append this transaction's staged entries to their chains (see the header). One timestamp for the whole flush,
-- taken once every chain lock is held, so `at` never goes backwards along a chain.
CREATE OR REPLACE FUNCTION audit_flush() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    pending jsonb := nullif(coalesce(current_setting('cityops.audit_pending', true), ''), '')::jsonb;
    lock_key integer;
    e record;
    chain_now text;
    head_seq bigint;
    head_hash text;
    flushed_at timestamptz;
    new_hash text;
    chains text[] := '{}';
    seqs bigint[] := '{}';
    actors text[] := '{}';
    roles text[] := '{}';
    actions text[] := '{}';
    entities text[] := '{}';
    entity_ids text[] := '{}';
    details jsonb[] := '{}';
    prev_hashes text[] := '{}';
    hashes text[] := '{}';
BEGIN
    PERFORM set_config('cityops.audit_pending', '', true);
    DELETE FROM audit_flush_marks WHERE txid = pg_current_xact_id();
    IF pending IS NULL THEN
        RETURN;
    END IF;
    -- 1635083380 = 'audt': the advisory lock class of audit chains (two-key locks never meet one-key ones).
    FOR lock_key IN
        SELECT DISTINCT hashtext(x ->> 'chain') FROM jsonb_array_elements(pending) x ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock(1635083380, lock_key);
    END LOOP;
    flushed_at := clock_timestamp();
    FOR e IN
        SELECT x ->> 'chain' AS chain, x ->> 'actor' AS actor, x ->> 'role' AS role, x ->> 'action' AS action,
               x ->> 'entity' AS entity, x ->> 'entity_id' AS entity_id, coalesce(x -> 'detail', '{}') AS detail
        FROM jsonb_array_elements(pending) WITH ORDINALITY AS p (x, n)
        ORDER BY x ->> 'chain', n
    LOOP
        IF chain_now IS DISTINCT FROM e.chain THEN
            -- Under the chain's lock, in READ COMMITTED: this statement sees the previous holder's committed entries.
            SELECT l.seq, l.hash INTO head_seq, head_hash FROM audit_log l WHERE l.chain = e.chain
            ORDER BY l.seq DESC LIMIT 1;
            head_seq := coalesce(head_seq, 0);
            chain_now := e.chain;
        END IF;
        new_hash := audit_hash(e.chain, head_seq + 1, flushed_at, e.actor, e.role, e.action, e.entity, e.entity_id,
                               e.detail, head_hash);
        chains := chains || e.chain;
        seqs := seqs || (head_seq + 1);
        actors := actors || e.actor;
        roles := roles || e.role;
        actions := actions || e.action;
        entities := entities || e.entity;
        entity_ids := entity_ids || e.entity_id;
        details := details || e.detail;
        prev_hashes := prev_hashes || head_hash;
        hashes := hashes || new_hash;
        head_seq := head_seq + 1;
        head_hash := new_hash;
    END LOOP;
    INSERT INTO audit_log (chain, seq, at, actor, role, action, entity, entity_id, detail, prev_hash, hash)
    SELECT c, s, flushed_at, a, r, ac, en, ei, d, ph, h
    FROM unnest(chains, seqs, actors, roles, actions, entities, entity_ids, details, prev_hashes, hashes)
        AS u (c, s, a, r, ac, en, ei, d, ph, h);
END;
$$;

CREATE OR REPLACE FUNCTION audit_flush_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM audit_flush();
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS audit_flush_marks_commit ON audit_flush_marks;
CREATE CONSTRAINT TRIGGER audit_flush_marks_commit AFTER INSERT ON audit_flush_marks
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION audit_flush_at_commit();

-- Sources. Work orders spread over 16 chains by id (work_orders/00 .. work_orders/15): transitions of different
-- orders, ingest's creations among them, mostly take different chain locks (docs/audit.md, "Chains").

-- One entry per work order, actor and statement, its steps in order (like the live channel): a creation's
-- reported -> registered -> dispatched is one `created` entry, which keeps ingest's share of the log small.
CREATE OR REPLACE FUNCTION audit_work_order_transitions() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM audit_stage(jsonb_agg(jsonb_build_object(
        'chain', 'work_orders/' || lpad((s.work_order_id % 16)::text, 2, '0'),
        'actor', s.actor, 'role', s.role, 'action', CASE WHEN s.created THEN 'created' ELSE 'transition' END,
        'entity', 'work_order', 'entity_id', s.work_order_id::text, 'detail', jsonb_build_object('steps', s.steps))
        ORDER BY s.first_id))
    FROM (
        SELECT t.work_order_id, t.actor, t.role, min(t.id) AS first_id, bool_or(t.from_status IS NULL) AS created,
               jsonb_agg(jsonb_build_object('transition_id', t.id, 'from', t.from_status, 'to', t.to_status,
                                            'assignee', t.assignee, 'note', t.note, 'evidence', t.evidence, 'at', t.at)
                         ORDER BY t.id) AS steps
        FROM new_rows t GROUP BY t.work_order_id, t.actor, t.role
    ) s;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS audit_work_order_transitions_insert ON work_order_transitions;
CREATE TRIGGER audit_work_order_transitions_insert AFTER INSERT ON work_order_transitions
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_work_order_transitions();

CREATE OR REPLACE FUNCTION audit_hub_mode_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM audit_stage(jsonb_agg(jsonb_build_object(
        'chain', 'modes', 'actor', m.actor, 'role', m.role,
        'action', CASE WHEN m.enabled THEN 'mode_enabled' ELSE 'mode_disabled' END,
        'entity', 'mode', 'entity_id', m.name,
        'detail', jsonb_build_object('change_id', m.id, 'enabled', m.enabled, 'note', m.note, 'at', m.at))
        ORDER BY m.id))
    FROM new_rows m;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS audit_hub_mode_changes_insert ON hub_mode_changes;
CREATE TRIGGER audit_hub_mode_changes_insert AFTER INSERT ON hub_mode_changes
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_hub_mode_changes();

-- Device commands: the request, and once, the outcome of publishing it (the only update device_commands allows).
CREATE OR REPLACE FUNCTION audit_device_commands() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM audit_stage(jsonb_agg(jsonb_build_object(
            'chain', 'devices', 'actor', c.actor, 'role', c.role, 'action', 'command', 'entity', 'device',
            'entity_id', c.device_id,
            'detail', jsonb_build_object('command_id', c.id, 'name', c.name, 'args', c.args,
                                         'requested_at', c.requested_at))
            ORDER BY c.id))
        FROM new_rows c;
    ELSE
        PERFORM audit_stage(jsonb_agg(jsonb_build_object(
            'chain', 'devices', 'actor', n.actor, 'role', n.role,
            'action', CASE WHEN n.send_error IS NULL THEN 'command_sent' ELSE 'command_send_failed' END,
            'entity', 'device', 'entity_id', n.device_id,
            'detail', jsonb_build_object('command_id', n.id, 'name', n.name, 'cmd_id', n.cmd_id, 'sent_at', n.sent_at,
                                         'send_error', n.send_error))
            ORDER BY n.id))
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE (o.cmd_id, o.sent_at, o.send_error) IS DISTINCT FROM (n.cmd_id, n.sent_at, n.send_error);
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS audit_device_commands_insert ON device_commands;
CREATE TRIGGER audit_device_commands_insert AFTER INSERT ON device_commands
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_device_commands();
DROP TRIGGER IF EXISTS audit_device_commands_update ON device_commands;
CREATE TRIGGER audit_device_commands_update AFTER UPDATE ON device_commands
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_device_commands();

CREATE OR REPLACE FUNCTION audit_device_configs() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM audit_stage(jsonb_agg(jsonb_build_object(
        'chain', 'devices', 'actor', c.actor, 'role', c.role, 'action', 'config_push', 'entity', 'device',
        'entity_id', c.device_id,
        'detail', jsonb_build_object('version', c.version, 'config', c.config, 'created_at', c.created_at))
        ORDER BY c.device_id, c.version))
    FROM new_rows c;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS audit_device_configs_insert ON device_configs;
CREATE TRIGGER audit_device_configs_insert AFTER INSERT ON device_configs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_device_configs();

-- Users, districts, grids, rosters, cameras, hub rule files (and what later migrations add to admin_changes).
CREATE OR REPLACE FUNCTION audit_admin_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM audit_stage(jsonb_agg(jsonb_build_object(
        'chain', 'admin', 'actor', a.actor, 'role', a.role, 'action', a.action, 'entity', a.entity,
        'entity_id', a.entity_id,
        'detail', jsonb_build_object('change_id', a.id, 'before', a.before, 'after', a.after, 'at', a.at))
        ORDER BY a.id))
    FROM new_rows a;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS audit_admin_changes_insert ON admin_changes;
CREATE TRIGGER audit_admin_changes_insert AFTER INSERT ON admin_changes
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION audit_admin_changes();
