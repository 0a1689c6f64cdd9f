-- One-time provisioning tokens (issue 11): a technician creates one for a registered device; the box redeems it
-- once (`cityops edge provision --hub URL --token TOKEN`) for its whole configuration, which rotates the device
-- secret. Only a sha256 of the token is stored. Redeeming is one conditional UPDATE (used_at IS NULL and not
-- expired), so of two concurrent redeems exactly one wins.
CREATE TABLE IF NOT EXISTS provisioning_tokens (
    token_hash text PRIMARY KEY,
    device_id  text NOT NULL REFERENCES devices (device_id) ON DELETE CASCADE,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX IF NOT EXISTS provisioning_tokens_device ON provisioning_tokens (device_id);
