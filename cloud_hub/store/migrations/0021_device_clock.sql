-- A box's clock as the hub sees it (issue 12, clock skew): the latest health snapshot's own `ts` minus the hub's
-- receive time, in seconds (positive: the box runs ahead). A box off by more than the hub's clock_skew_s is listed
-- with a fault; its events are still ordered by seq, and those past the protocol's limits are dead-lettered with
-- their reason (never dropped).
ALTER TABLE devices ADD COLUMN IF NOT EXISTS clock_offset_s double precision;
ALTER TABLE devices ADD COLUMN IF NOT EXISTS clock_offset_at timestamptz;
