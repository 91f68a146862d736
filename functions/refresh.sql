-- Recompute the derived analytics (predictions, segments, upselling) for the stores an upload
-- touched, then the dashboard views. The ingest pipeline calls it at the end of every job, in
-- the job's transaction; `mangalm predict` calls the same functions for every store.
-- (The analytics functions fill this in; until then it only has nothing to refresh.)
CREATE FUNCTION app.refresh_derived(p_store_ids text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  NULL;
END
$$;
