-- All grants in one place. Re-applied on every migrate, after functions and views.
-- Start from nothing: functions are not executable by PUBLIC unless granted here.
-- Other capabilities add their objects in their own clearly marked sections below.
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA app, api FROM PUBLIC;
REVOKE ALL ON SCHEMA data, staging FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA data FROM anon, sales_rep, manager, admin, analyst, mangalm_app;

GRANT USAGE ON SCHEMA api, app TO anon, sales_rep, manager, admin, analyst;
-- The API roles reach the private tables only through the api views and functions, but
-- invoker-rights triggers and functions name data.* tables, so they need the schema. The
-- analyst does not: views check table privileges, not schema usage, so the analyst reads the
-- api views and cannot even name a data table (psql: "permission denied for schema data").
GRANT USAGE ON SCHEMA data TO sales_rep, manager, admin;
REVOKE USAGE ON SCHEMA data FROM analyst;

-- PostgREST's role switch (functions/00_claims.sql): the authenticator's search_path puts
-- pgrst_guard.set_config before pg_catalog's, so a token with an unknown role answers 401.
-- The later set_config calls of the same statement run as the new role, hence the API roles.
GRANT USAGE ON SCHEMA pgrst_guard TO authenticator, anon, sales_rep, manager, admin;
GRANT EXECUTE ON FUNCTION pgrst_guard.set_config(text, text, boolean), pgrst_guard.role_allowed(text),
  pgrst_guard.refuse_role(text) TO authenticator, anon, sales_rep, manager, admin;
ALTER ROLE authenticator SET search_path = pgrst_guard, pg_catalog, public;

-- anon: health (and, through the Python service, login) only.
GRANT SELECT ON api.health TO anon, sales_rep, manager, admin, analyst;
GRANT EXECUTE ON FUNCTION app.check_request() TO anon, sales_rep, manager, admin;
GRANT EXECUTE ON FUNCTION app.jwt_claims(), app.current_user_id(), app.current_app_role(),
  app.current_sales_person(), app.rep_store_ids(), app.in_api_role() TO sales_rep, manager, admin, analyst;
-- Helpers the invoker-rights triggers and functions call as the API roles.
GRANT EXECUTE ON FUNCTION app.refuse(integer, text, text), app.clean_text(text), app.is_email(text),
  app.order_next_statuses(text, text) TO sales_rep, manager, admin;

-- Reading: every signed-in role reads the API views; RLS narrows the rows of reps. Views run
-- with the caller's rights (security_invoker), so the tables behind them are granted too.
GRANT SELECT ON data.stores, data.store_preferences, data.store_assignments, data.products, data.orders,
  data.order_items, data.invoice_items, data.predicted_orders, data.predicted_order_items,
  data.prediction_decisions, data.customer_segments, data.upselling_recommendations
  TO sales_rep, manager, admin, analyst;
GRANT SELECT ON app.sales TO sales_rep, manager, admin, analyst;  -- read as the caller, like data.orders
GRANT SELECT ON api.stores, api.store_preferences, api.store_assignments, api.products,
  api.product_categories, api.product_brands, api.orders, api.orders_recent, api.orders_pending,
  api.order_items, api.invoice_items, api.predicted_orders, api.predicted_order_items,
  api.prediction_decisions, api.customer_segments, api.upselling_recommendations
  TO sales_rep, manager, admin, analyst;


GRANT SELECT ON data.upload_jobs, api.upload_jobs TO manager, admin, analyst;
-- Never the password hash: only the security-definer login functions read it.
GRANT SELECT (id, email, role, full_name, sales_person, is_active, last_login_at, created_at, updated_at)
  ON data.users TO sales_rep, manager, admin;
GRANT SELECT ON api.users TO manager, admin;
GRANT SELECT ON data.settings, api.settings TO manager, admin;

-- Personal settings (the row is always the caller's: RLS and a trigger).
GRANT SELECT, INSERT, UPDATE, DELETE ON data.dashboard_settings, api.dashboard_settings
  TO sales_rep, manager, admin;

-- Master data: managers and admins.
GRANT INSERT, UPDATE, DELETE ON data.stores, data.store_preferences, data.products,
  api.stores, api.store_preferences, api.products TO manager, admin;
GRANT INSERT, DELETE ON data.store_assignments, api.store_assignments TO manager, admin;

-- Orders: drafts by reps (their stores, their own orders: RLS) and managers. Column grants
-- keep what the database maintains (creator, totals, invoice fields) out of reach.
GRANT INSERT (store_id, source, status, order_date, due_date, currency_code, sales_person, notes),
  UPDATE (store_id, status, order_date, due_date, currency_code, notes), DELETE
  ON data.orders, api.orders TO sales_rep, manager, admin;
GRANT INSERT (order_id, product_id, quantity, unit_price, source), UPDATE (product_id, quantity, unit_price),
  DELETE ON data.order_items, api.order_items TO sales_rep, manager, admin;
GRANT EXECUTE ON FUNCTION app.generate_order(uuid, text), app.usual_basket(text, integer, numeric),
  app.decide_prediction(uuid, text, text), api.generate_order(uuid, text), api.approve_prediction(uuid),
  api.dismiss_prediction(uuid, text), api.usual_basket(text) TO sales_rep, manager, admin;

-- Predictions: reps decide (status; order_id is set by generate_order), managers also
-- re-prioritise and reschedule.
GRANT UPDATE (status, order_id) ON data.predicted_orders, api.predicted_orders TO sales_rep;
GRANT UPDATE (status, order_id, priority, predicted_date, justification_text)
  ON data.predicted_orders, api.predicted_orders TO manager, admin;

-- Users and settings: admins. Accounts are created by api.create_user (bcrypt in the database).
GRANT UPDATE (email, role, full_name, sales_person, is_active), DELETE ON data.users, api.users TO admin;
GRANT INSERT, UPDATE, DELETE ON data.settings, api.settings TO admin;
GRANT EXECUTE ON FUNCTION api.create_user(text, text, text, text, text),
  api.reset_password(uuid, text) TO admin;
GRANT EXECUTE ON FUNCTION api.change_password(text, text) TO sales_rep, manager, admin;

-- Analytics: the track record, the confidence fits and the association rules are
-- aggregates over all stores, readable by every signed-in role. The dashboard summary is
-- materialized (row-level security does not apply to it), so it is for managers, admins and
-- analysts; reps read api.my_summary (security_invoker: their stores only). The functions
-- are security definer: they narrow a rep to their stores themselves (app.caller_is_rep).
-- Recomputing (predict) and backtesting write, so only managers and admins run them.
GRANT SELECT ON data.backtest_runs, data.prediction_calibrations, data.product_associations
  TO sales_rep, manager, admin, analyst;
GRANT SELECT ON api.backtest_runs, api.latest_backtest, api.prediction_calibrations,
  api.product_associations, api.my_summary TO sales_rep, manager, admin, analyst;
GRANT SELECT ON api.dashboard_summary TO manager, admin, analyst;
GRANT EXECUTE ON FUNCTION api.sales_trends(text, text), api.upselling_suggestions(bigint, integer)
  TO sales_rep, manager, admin, analyst;
GRANT EXECUTE ON FUNCTION api.predict(date), api.backtest(date, integer) TO manager, admin;

-- Ingest. Uploads go through the Python service and the loader, which log in as
-- mangalm_app (below). The pipeline's other functions are executable by nobody else: an API
-- role could otherwise run a job's transaction or claim jobs. Managers and admins may read the
-- rejected lines (the jobs themselves are granted above).
GRANT SELECT ON data.upload_rejects TO manager, admin;

-- The application: the Python service, the jobs worker, the loader and the operator's CLI log
-- in as mangalm_app, which is no superuser and owns nothing. It may run the pipeline's entry
-- points and the queue (security definer, functions/ingest.sql and jobs.sql), fill the
-- staging tables a job creates (COPY), recompute and backtest like a manager, and read what
-- the CLI shows. Everything else it asks of the database goes through those functions.
GRANT USAGE ON SCHEMA app, api, data, staging TO mangalm_app;
GRANT EXECUTE ON FUNCTION app.begin_upload(text, jsonb, integer, jsonb, boolean, text, uuid),
  app.report_upload_progress(bigint, integer, bigint, numeric),
  app.finish_upload(bigint, integer, bigint, integer, text, jsonb), app.abandon_upload(bigint, text),
  app.process_bulk_upload_complete(bigint), app.claim_job(text, bigint), app.fail_job(bigint, text),
  app.release_job(bigint), app.expire_abandoned_uploads(), app.ingest_fields(),
  api.predict(date), app.predict(date, boolean), app.predict_upselling(date), app.analytics_as_of(),
  api.backtest(date, integer), app.end_overlong_analyst_statements(),
  app.integer_setting(text, integer) TO mangalm_app;
GRANT INSERT ON ALL TABLES IN SCHEMA staging TO mangalm_app;
ALTER DEFAULT PRIVILEGES FOR ROLE mangalm_owner IN SCHEMA staging GRANT INSERT ON TABLES TO mangalm_app;
GRANT SELECT ON data.upload_jobs, data.upload_rejects, data.stores, data.products, data.orders,
  data.predicted_orders, data.predicted_order_items, data.backtest_runs, app.sales TO mangalm_app;

-- What every login could otherwise do to the others. Without these an analyst's psql session
-- could hold the ingest pipeline's advisory locks (a load then waits for it), send forged
-- notifications with pg_notify, or fill temporary tables. The owner's security-definer
-- functions are the only callers that need them. (NOTIFY, the command, needs no privilege:
-- the live-events channel does not trust its payloads and PostgREST listens on a secret
-- channel, gateway/config.py.) Function privileges live in each database, so they are
-- applied here, on every migrate.
DO $$
DECLARE
  f regprocedure;
BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
           WHERE p.pronamespace = 'pg_catalog'::regnamespace
             AND (p.proname LIKE 'pg\_%advisory\_%' OR p.proname = 'pg_notify') LOOP
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO mangalm_owner', f);
  END LOOP;
  EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database());
  EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO mangalm_owner', current_database());
END
$$;

-- User administration and upload reads (functions/users.sql)
-- The operator's login (mangalm_app: `mangalm user ...`, the demo) administers users only
-- through these functions; no API role may call them directly. The API reaches them through
-- admin-checking wrappers (api.create_user) and its triggers call the same rules.
GRANT EXECUTE ON FUNCTION app.add_user(text, text, text, text, text, boolean),
  app.set_user(text, text, text, text, boolean), app.set_password(text, text),
  app.assign_stores(text, text[]), app.unassign_stores(text, text[]), app.user_list(text)
  TO mangalm_app;
-- The rules themselves, for the invoker-rights triggers behind PATCH /api/users (admins) and
-- POST /api/store_assignments (managers, admins); app.is_email calls data.is_email (0005).
GRANT EXECUTE ON FUNCTION app.check_user(text, text) TO admin;
GRANT EXECUTE ON FUNCTION app.check_assignment(uuid, text) TO manager, admin;
GRANT EXECUTE ON FUNCTION data.is_email(text) TO sales_rep, manager, admin, mangalm_app;
-- Upload jobs and their rejected lines are read through the api views; row-level security
-- (db/policies.sql) decides the rows. Analysts read jobs, not the rejected lines.
GRANT SELECT ON api.upload_rejects TO manager, admin;
GRANT SELECT ON api.upload_jobs, api.upload_rejects TO mangalm_app;

-- Tokens and login (functions/auth.sql, functions/live_events.sql). The Python service
-- (mangalm_app) signs tokens and calls these; each is security definer, so it needs no table
-- rights of its own. app.check_request (granted above) calls app.token_problem as the owner.
GRANT EXECUTE ON FUNCTION app.login(text, text, inet), app.session_user_info(uuid),
  app.token_problem(jsonb), app.revoke_token(uuid, uuid, timestamptz),
  app.issue_event_ticket(jsonb), app.redeem_event_ticket(text),
  app.events_last_id(), app.events_since(bigint, jsonb),
  app.publish_event(text, jsonb) TO mangalm_app;
-- generate_order and decide_prediction (functions/orders.sql) run as the API caller and
-- publish a data_changed event: through this definer function, without the right to NOTIFY.
GRANT EXECUTE ON FUNCTION app.publish_event(text, jsonb) TO sales_rep, manager, admin;

-- The computed relationships of rows whose keys are triggers (views/relationships.sql): to the
-- API roles that may read both views, after every view's grants above.
DO $$
DECLARE
  r record;
  v_role text;
BEGIN
  FOR r IN SELECT * FROM app.api_relationships() LOOP
    FOREACH v_role IN ARRAY ARRAY['sales_rep', 'manager', 'admin', 'analyst'] LOOP
      IF has_table_privilege(v_role, format('api.%I', r.child), 'SELECT')
         AND has_table_privilege(v_role, format('api.%I', r.parent), 'SELECT') THEN
        EXECUTE format('GRANT EXECUTE ON FUNCTION api.%1$I(api.%2$I), api.%2$I(api.%1$I) TO %3$I',
                       r.child, r.parent, v_role);
      END IF;
    END LOOP;
  END LOOP;
END
$$;
