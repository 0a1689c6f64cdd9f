-- The live channel also tells who watches a work order that a photo was added to it (an officer's photo, also one
-- added after resolving): one `work_order` message with op `photo` per order and statement, with the photos' ids.
CREATE OR REPLACE FUNCTION live_photos_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO live_messages (topic, op, grid_id, district, assignee, kind, device_id, payload)
    SELECT 'work_order', 'photo', w.grid_id, w.district, w.assignee, w.kind, i.device_id,
           jsonb_build_object('work_order', live_work_order_json(to_jsonb(w)), 'steps', '[]'::jsonb,
                              'photos', p.photos)
    FROM (
        SELECT n.work_order_id,
               jsonb_agg(jsonb_build_object('photo_id', n.photo_id, 'uploaded_by', n.uploaded_by,
                         'taken_at', n.taken_at, 'transition_id', n.transition_id) ORDER BY n.uploaded_at) AS photos
        FROM new_rows n GROUP BY n.work_order_id
    ) p
    JOIN work_orders w ON w.id = p.work_order_id
    JOIN incidents i ON i.id = w.incident_id;
    IF FOUND THEN
        PERFORM pg_notify('cityops_live', '');
    END IF;
    RETURN NULL;
END;
$$;

DROP TRIGGER IF EXISTS live_photos_insert ON work_order_photos;
CREATE TRIGGER live_photos_insert AFTER INSERT ON work_order_photos
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION live_photos_inserted();
