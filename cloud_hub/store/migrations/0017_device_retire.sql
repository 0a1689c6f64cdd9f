-- Retiring a device (a stolen or scrapped box): its broker account is deleted, its secret and tokens stop working at
-- once, and operators see when and by whom. Re-provisioning brings it back with a new secret and generation.
ALTER TABLE devices ADD COLUMN IF NOT EXISTS retired_at timestamptz;
ALTER TABLE devices ADD COLUMN IF NOT EXISTS retired_by text;

-- The live channel's device trigger (0009) also reports retirement.
CREATE OR REPLACE FUNCTION live_devices_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO live_messages (topic, op, device_id, payload)
        SELECT 'device', 'provisioned', n.device_id, to_jsonb(n) - 'secret_hash' FROM new_rows n;
    ELSE
        INSERT INTO live_messages (topic, op, device_id, payload)
        SELECT 'device', CASE WHEN n.retired_at IS NOT NULL AND o.retired_at IS NULL THEN 'retired'
               WHEN o.provisioned_at IS DISTINCT FROM n.provisioned_at THEN 'provisioned'
               WHEN o.online IS DISTINCT FROM n.online THEN
                   CASE WHEN n.online THEN 'online' ELSE 'offline' END
               ELSE 'health' END,
               n.device_id, to_jsonb(n) - 'secret_hash'
        FROM new_rows n JOIN old_rows o ON o.device_id = n.device_id
        WHERE (o.online, o.config_version, o.agent_version, o.health, o.models, o.lon, o.lat, o.provisioned_at,
               o.retired_at)
              IS DISTINCT FROM
              (n.online, n.config_version, n.agent_version, n.health, n.models, n.lon, n.lat, n.provisioned_at,
               n.retired_at);
    END IF;
    IF FOUND THEN
        PERFORM pg_notify('cityops_live', '');
    END IF;
    RETURN NULL;
END;
$$;
