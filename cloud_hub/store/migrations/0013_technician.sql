-- Technician support (field technician's web app): who provisioned a device last, and how many times it was
-- provisioned, so the setup wizard can show "provisioned 2026-11-22 18:31 by tech-li (2nd time)" without
-- re-issuing anything. Devices provisioned before this migration have no recorded provisioner (NULL).
-- Plain PostgreSQL 15+.
ALTER TABLE devices ADD COLUMN IF NOT EXISTS provisioned_by text;
ALTER TABLE devices ADD COLUMN IF NOT EXISTS provision_count integer NOT NULL DEFAULT 1
    CHECK (provision_count >= 1);
