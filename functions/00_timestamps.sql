-- Keeps updated_at true on every table that has one.
CREATE FUNCTION app.tg_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

-- Triggers are re-created here on every migrate (the app schema they call is re-built),
-- for every table of `data` with an updated_at column, so a new table cannot forget one.
DO $$
DECLARE
  t record;
BEGIN
  FOR t IN SELECT c.table_name FROM information_schema.columns c
           JOIN information_schema.tables tb USING (table_schema, table_name)
           WHERE c.table_schema = 'data' AND c.column_name = 'updated_at' AND tb.table_type = 'BASE TABLE'
  LOOP
    EXECUTE format('DROP TRIGGER IF EXISTS "10_set_updated_at" ON data.%I', t.table_name);
    EXECUTE format('CREATE TRIGGER "10_set_updated_at" BEFORE UPDATE ON data.%I
                    FOR EACH ROW EXECUTE FUNCTION app.tg_set_updated_at()', t.table_name);
  END LOOP;
END
$$;

-- Whole milliseconds since p_start (the wall clock, not the transaction's start): the step
-- timings that jobs, refreshes and predicts report.
CREATE FUNCTION app.ms_since(p_start timestamptz) RETURNS numeric
LANGUAGE sql VOLATILE AS $$
  SELECT round(extract(epoch FROM clock_timestamp() - p_start) * 1000)
$$;
