-- The live channel also carries a device's answer to a command (topic `device`, op `command`), so a technician's
-- screen learns that the box answered the moment the hub stores it, instead of asking until it has.
CREATE OR REPLACE FUNCTION live_cmd_results_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO live_messages (topic, op, device_id, payload)
    SELECT 'device', 'command', n.device_id,
           jsonb_build_object('device_id', n.device_id, 'cmd_id', n.cmd_id, 'ok', n.ok, 'detail', n.detail,
                              'received_at', n.received_at)
    FROM new_rows n;
    IF FOUND THEN
        PERFORM pg_notify('cityops_live', '');
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS live_cmd_results_insert ON cmd_results;
CREATE TRIGGER live_cmd_results_insert AFTER INSERT ON cmd_results
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION live_cmd_results_inserted();
