-- Row-level security: who sees which rows. Re-applied on every migrate (drop, then create).
-- The table owner (migrations, the ingest pipeline) is not subject to these policies.
DO $$
DECLARE
  p record;
BEGIN
  FOR p IN SELECT policyname, tablename FROM pg_policies WHERE schemaname = 'data' LOOP
    EXECUTE format('DROP POLICY %I ON data.%I', p.policyname, p.tablename);
  END LOOP;
END
$$;

-- Tables every signed-in role reads whole: the catalogue and the track record.
ALTER TABLE data.products ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Everyone signed in sees the catalogue" ON data.products
  FOR SELECT TO sales_rep, manager, admin, analyst USING (true);
CREATE POLICY "Managers and admins maintain the catalogue" ON data.products
  FOR ALL TO manager, admin USING (true) WITH CHECK (true);

-- Store-scoped tables: managers, admins and analysts see all; reps their own stores.
DO $$
DECLARE
  t text;
  key text;
BEGIN
  FOR t, key IN VALUES ('stores', 'id'), ('store_preferences', 'store_id'), ('orders', 'store_id'),
                       ('predicted_orders', 'store_id'), ('customer_segments', 'store_id'),
                       ('upselling_recommendations', 'store_id') LOOP
    EXECUTE format('ALTER TABLE data.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY "Managers and admins see and change every row" ON data.%I
                    FOR ALL TO manager, admin USING (true) WITH CHECK (true)', t);
    EXECUTE format('CREATE POLICY "Analysts read every row" ON data.%I FOR SELECT TO analyst USING (true)', t);
    EXECUTE format('CREATE POLICY "Sales reps see the stores assigned to them" ON data.%I
                    FOR SELECT TO sales_rep USING (%I IN (SELECT app.rep_store_ids()))', t, key);
  END LOOP;
END
$$;

-- Lines follow their order (or prediction).
DO $$
DECLARE
  t text;
  parent text;
  fk text;
BEGIN
  FOR t, parent, fk IN VALUES ('order_items', 'orders', 'order_id'), ('invoice_items', 'orders', 'order_id'),
                              ('predicted_order_items', 'predicted_orders', 'predicted_order_id') LOOP
    EXECUTE format('ALTER TABLE data.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY "Managers and admins see and change every row" ON data.%I
                    FOR ALL TO manager, admin USING (true) WITH CHECK (true)', t);
    EXECUTE format('CREATE POLICY "Analysts read every row" ON data.%I FOR SELECT TO analyst USING (true)', t);
    EXECUTE format('CREATE POLICY "Sales reps see the lines of their stores" ON data.%I
                    FOR SELECT TO sales_rep USING (%I IN (SELECT p.id FROM data.%I p))', t, fk, parent);
  END LOOP;
END
$$;

ALTER TABLE data.dashboard_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users keep their own dashboard settings" ON data.dashboard_settings
  FOR ALL TO sales_rep, manager, admin
  USING (user_id = (SELECT app.current_user_id())) WITH CHECK (user_id = (SELECT app.current_user_id()));

ALTER TABLE data.upload_jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Managers and admins see every upload" ON data.upload_jobs
  FOR SELECT TO manager, admin, analyst USING (true);

ALTER TABLE data.users ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Managers and admins see the user list" ON data.users
  FOR SELECT TO manager, admin USING (true);
CREATE POLICY "Admins manage users" ON data.users
  FOR ALL TO admin USING (true) WITH CHECK (true);
CREATE POLICY "Users see themselves" ON data.users
  FOR SELECT TO sales_rep USING (id = (SELECT app.current_user_id()));
