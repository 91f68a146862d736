-- Row-level security: who sees which rows. Re-applied on every migrate (drop, then create).
-- The table owner (migrations, the ingest pipeline) is not subject to these policies.
-- Policies decide which rows; db/grants.sql decides which operations and columns; the
-- triggers in functions/ explain a refusal in words. Where a policy's USING is wider than its
-- WITH CHECK, that is so the trigger sees the row and can say why a change is refused; the
-- WITH CHECK still guarantees the rule if a trigger were ever missing.
DO $$
DECLARE
  p record;
BEGIN
  FOR p IN SELECT policyname, tablename FROM pg_policies WHERE schemaname = 'data' LOOP
    EXECUTE format('DROP POLICY %I ON data.%I', p.policyname, p.tablename);
  END LOOP;
END
$$;

-- Private to the owner (logins, revoked tokens): RLS on and no policy, so no API role reads
-- them even if a grant slipped in.
ALTER TABLE data.login_attempts ENABLE ROW LEVEL SECURITY;
ALTER TABLE data.revoked_tokens ENABLE ROW LEVEL SECURITY;

-- Tables every signed-in role reads whole: the catalogue.
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
  FOR t, key IN VALUES ('stores', 'id'), ('store_preferences', 'store_id'), ('customer_segments', 'store_id'),
                       ('upselling_recommendations', 'store_id'), ('orders', 'store_id'),
                       ('predicted_orders', 'store_id') LOOP
    EXECUTE format('ALTER TABLE data.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY "Analysts read every row" ON data.%I FOR SELECT TO analyst USING (true)', t);
    EXECUTE format('CREATE POLICY "Sales reps see the stores assigned to them" ON data.%I
                    FOR SELECT TO sales_rep USING (%I IN (SELECT app.rep_store_ids()))', t, key);
    IF t NOT IN ('orders') THEN
      EXECUTE format('CREATE POLICY "Managers and admins see and change every row" ON data.%I
                      FOR ALL TO manager, admin USING (true) WITH CHECK (true)', t);
    END IF;
  END LOOP;
END
$$;

-- Orders: invoices (source 'invoice') belong to the ingest pipeline; the API writes drafts.
CREATE POLICY "Managers and admins see every order" ON data.orders
  FOR SELECT TO manager, admin USING (true);
CREATE POLICY "Managers and admins create orders that are not invoices" ON data.orders
  FOR INSERT TO manager, admin WITH CHECK (source <> 'invoice');
CREATE POLICY "Managers and admins change orders that are not invoices" ON data.orders
  FOR UPDATE TO manager, admin USING (true) WITH CHECK (source <> 'invoice');
-- (Deleting an invoice is refused by the trigger with a 409 that says why; a policy could only
-- hide the row and answer "nothing deleted".)
CREATE POLICY "Managers and admins delete orders (the trigger keeps invoices)" ON data.orders
  FOR DELETE TO manager, admin USING (true);
CREATE POLICY "Sales reps create draft orders for their stores" ON data.orders
  FOR INSERT TO sales_rep
  WITH CHECK (store_id IN (SELECT app.rep_store_ids()) AND created_by = (SELECT app.current_user_id())
              AND source <> 'invoice' AND status = 'draft');
CREATE POLICY "Sales reps change the orders they created" ON data.orders
  FOR UPDATE TO sales_rep USING (store_id IN (SELECT app.rep_store_ids()))
  WITH CHECK (store_id IN (SELECT app.rep_store_ids()) AND created_by = (SELECT app.current_user_id())
              AND source <> 'invoice');
CREATE POLICY "Sales reps delete the drafts they created (the trigger checks whose)" ON data.orders
  FOR DELETE TO sales_rep USING (store_id IN (SELECT app.rep_store_ids()));

-- Predictions: reps decide (approve, dismiss, convert) those of their stores.
CREATE POLICY "Sales reps decide the predictions of their stores" ON data.predicted_orders
  FOR UPDATE TO sales_rep USING (store_id IN (SELECT app.rep_store_ids()))
  WITH CHECK (store_id IN (SELECT app.rep_store_ids()));

-- Lines follow their order (or prediction): the subquery runs under the parent's policies.
DO $$
DECLARE
  t text;
  parent text;
  fk text;
BEGIN
  FOR t, parent, fk IN VALUES ('order_items', 'orders', 'order_id'), ('invoice_items', 'orders', 'order_id'),
                              ('predicted_order_items', 'predicted_orders', 'predicted_order_id'),
                              ('prediction_decisions', 'predicted_orders', 'prediction_id') LOOP
    EXECUTE format('ALTER TABLE data.%I ENABLE ROW LEVEL SECURITY', t);
    EXECUTE format('CREATE POLICY "Managers and admins see and change every row" ON data.%I
                    FOR ALL TO manager, admin USING (true) WITH CHECK (true)', t);
    EXECUTE format('CREATE POLICY "Analysts read every row" ON data.%I FOR SELECT TO analyst USING (true)', t);
    EXECUTE format('CREATE POLICY "Sales reps see the lines of their stores" ON data.%I
                    FOR SELECT TO sales_rep USING (%I IN (SELECT p.id FROM data.%I p))', t, fk, parent);
  END LOOP;
END
$$;

-- Reps edit the lines of the draft orders they created (the trigger explains other refusals).
CREATE POLICY "Sales reps add lines to their own drafts" ON data.order_items
  FOR INSERT TO sales_rep
  WITH CHECK (order_id IN (SELECT o.id FROM data.orders o
                           WHERE o.created_by = (SELECT app.current_user_id()) AND o.status = 'draft'));
CREATE POLICY "Sales reps change lines of their own drafts" ON data.order_items
  FOR UPDATE TO sales_rep USING (order_id IN (SELECT o.id FROM data.orders o))
  WITH CHECK (order_id IN (SELECT o.id FROM data.orders o
                           WHERE o.created_by = (SELECT app.current_user_id()) AND o.status = 'draft'));
CREATE POLICY "Sales reps delete lines of their own drafts" ON data.order_items
  FOR DELETE TO sales_rep
  USING (order_id IN (SELECT o.id FROM data.orders o
                      WHERE o.created_by = (SELECT app.current_user_id()) AND o.status = 'draft'));

-- Explicit store assignments: managers and admins maintain them, reps see their own.
ALTER TABLE data.store_assignments ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Managers and admins assign stores" ON data.store_assignments
  FOR ALL TO manager, admin USING (true) WITH CHECK (true);
CREATE POLICY "Analysts read every row" ON data.store_assignments FOR SELECT TO analyst USING (true);
CREATE POLICY "Sales reps see their own assignments" ON data.store_assignments
  FOR SELECT TO sales_rep USING (user_id = (SELECT app.current_user_id()));

ALTER TABLE data.dashboard_settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Users keep their own dashboard settings" ON data.dashboard_settings
  FOR ALL TO sales_rep, manager, admin
  USING (user_id = (SELECT app.current_user_id())) WITH CHECK (user_id = (SELECT app.current_user_id()));

ALTER TABLE data.upload_jobs ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Managers and admins see every upload" ON data.upload_jobs
  FOR SELECT TO manager, admin, analyst USING (true);
-- The operator's commands (`mangalm jobs`, `mangalm rejects`) read them as mangalm_app.
CREATE POLICY "The operator's login sees every upload" ON data.upload_jobs
  FOR SELECT TO mangalm_app USING (true);
-- Rejected lines follow their job: whoever may see a job (the policies above, applied to the
-- subquery too) reads its rejects, so one rule decides both. Grants keep analysts out.
ALTER TABLE data.upload_rejects ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Rejects are read with their upload" ON data.upload_rejects
  FOR SELECT TO manager, admin, mangalm_app
  USING (EXISTS (SELECT FROM data.upload_jobs j WHERE j.id = job_id));

ALTER TABLE data.users ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Managers and admins see the user list" ON data.users
  FOR SELECT TO manager, admin USING (true);
CREATE POLICY "Admins manage users" ON data.users
  FOR ALL TO admin USING (true) WITH CHECK (true);
CREATE POLICY "Users see themselves" ON data.users
  FOR SELECT TO sales_rep USING (id = (SELECT app.current_user_id()));

ALTER TABLE data.settings ENABLE ROW LEVEL SECURITY;
CREATE POLICY "Managers and admins read the settings" ON data.settings
  FOR SELECT TO manager, admin USING (true);
CREATE POLICY "Admins change the settings" ON data.settings
  FOR ALL TO admin USING (true) WITH CHECK (true);

-- The application (mangalm_app: the worker, the loader, the operator's CLI) serves every store:
-- of what db/grants.sql lets it read, it reads every row.
DO $$
DECLARE
  t regclass;
BEGIN
  FOR t IN SELECT c.oid::regclass FROM pg_class c
           WHERE c.relnamespace = 'data'::regnamespace AND c.relkind IN ('r', 'p') AND c.relrowsecurity LOOP
    EXECUTE format('CREATE POLICY "The application reads every row" ON %s FOR SELECT TO mangalm_app USING (true)', t);
  END LOOP;
END
$$;
