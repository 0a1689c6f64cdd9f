-- The live channel (0009) sent a message for every incident row an ingest batch touched, also when a camera only
-- refreshed an ongoing situation (last_seen, event_count, a measurement): on the ingest path that is most rows of
-- most batches, and it cost about a third more database CPU per event. A refresh now goes out at most once per 30
-- seconds of the situation's own time (when last_seen enters a new 30-second slot), which is all a map or a list
-- shows of it; a change people act on (status, severity, place, evidence picture) always goes out at once.
CREATE OR REPLACE FUNCTION live_incidents_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO live_messages (topic, op, grid_id, district, kind, device_id, payload)
    SELECT 'incident', CASE WHEN o.status IS DISTINCT FROM n.status THEN n.status ELSE 'updated' END,
           n.grid_id, n.district, n.kind, n.device_id, to_jsonb(n)
    FROM new_rows n JOIN old_rows o ON o.id = n.id
    WHERE (o.status, o.severity, o.grid_id, o.district, o.lon, o.lat, o.evidence_event_id)
              IS DISTINCT FROM (n.status, n.severity, n.grid_id, n.district, n.lon, n.lat, n.evidence_event_id)
       OR floor(extract(epoch FROM o.last_seen) / 30) <> floor(extract(epoch FROM n.last_seen) / 30);
    IF FOUND THEN
        PERFORM pg_notify('cityops_live', '');
    END IF;
    RETURN NULL;
END;
$$;
