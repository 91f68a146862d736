-- Live events (GET /events, gateway/events.py). The database writes each event to data.events;
-- NOTIFY mangalm_events only wakes the service up, which then reads the new rows through
-- app.events_since. The service never trusts a notification's payload: NOTIFY needs no
-- privilege, so any SQL session (an analyst's included) could send one.

-- Publishes an event: a row in data.events (kept a day), and a NOTIFY that wakes the service.
-- The NOTIFY still carries the event's JSON for tools and tests that LISTEN themselves; the
-- service ignores it. p_payload's store_ids (a JSON array, or null for all stores) decides
-- which sales reps see a data_changed event. Security definer: API roles publish through it
-- (generate_order runs as the caller) without the right to NOTIFY or to write data.events.
CREATE FUNCTION app.publish_event(p_kind text, p_payload jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_event jsonb := coalesce(p_payload, '{}') || jsonb_build_object('type', p_kind);
BEGIN
  INSERT INTO data.events (kind, payload, store_ids)
  VALUES (p_kind, v_event, CASE WHEN jsonb_typeof(v_event -> 'store_ids') = 'array'
                                THEN ARRAY(SELECT jsonb_array_elements_text(v_event -> 'store_ids')) END);
  DELETE FROM data.events WHERE created_at < now() - interval '1 day';
  PERFORM pg_notify('mangalm_events', v_event::text);
END
$$;

-- The newest event's id (0 when none): where a new /events stream starts reading.
CREATE FUNCTION app.events_last_id() RETURNS bigint
LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
  SELECT coalesce(max(id), 0) FROM data.events
$$;

-- The events after p_after that the holder of a token with p_claims may see, oldest first;
-- re-checks the token first (PT401 as app.check_request would). Who sees what is decided
-- here: sales reps get only data_changed events that touch their stores (app.rep_store_ids,
-- the rule row-level security uses), with store_ids narrowed to theirs; an event for all
-- stores (store_ids null) reaches them whole. Upload events are for managers and admins.
CREATE FUNCTION app.events_since(p_after bigint, p_claims jsonb)
RETURNS TABLE (id bigint, event jsonb)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
BEGIN
  PERFORM app.refuse_token(app.token_problem(p_claims));
  IF p_claims ->> 'role' <> 'sales_rep' THEN
    RETURN QUERY SELECT e.id, e.payload FROM data.events e WHERE e.id > p_after ORDER BY e.id;
    RETURN;
  END IF;
  -- app.rep_store_ids reads the caller from request.jwt.claims: this token's, for this
  -- transaction only.
  PERFORM set_config('request.jwt.claims', p_claims::text, true);
  RETURN QUERY
    WITH mine AS (SELECT array_agg(s) AS ids FROM app.rep_store_ids() s)
    SELECT e.id, CASE WHEN e.store_ids IS NULL THEN e.payload
                      ELSE e.payload || jsonb_build_object('store_ids',
                             to_jsonb(ARRAY(SELECT x FROM unnest(e.store_ids) x WHERE x = ANY (mine.ids)))) END
    FROM data.events e, mine
    WHERE e.id > p_after AND e.kind = 'data_changed'
      AND (e.store_ids IS NULL OR e.store_ids && coalesce(mine.ids, '{}'))
    ORDER BY e.id;
END
$$;
