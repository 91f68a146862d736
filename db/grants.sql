-- All grants in one place. Re-applied on every migrate, after functions and views.
-- Start from nothing: functions are not executable by PUBLIC unless granted here.
ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA app, api FROM PUBLIC;
REVOKE ALL ON SCHEMA data, staging FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA data FROM anon, sales_rep, manager, admin, analyst;

GRANT USAGE ON SCHEMA api, app TO anon, sales_rep, manager, admin, analyst;
GRANT USAGE ON SCHEMA data TO sales_rep, manager, admin, analyst;

-- anon: health (and, through the Python service, login) only.
GRANT SELECT ON api.health TO anon, sales_rep, manager, admin, analyst;
GRANT EXECUTE ON FUNCTION app.check_request() TO anon, sales_rep, manager, admin;
GRANT EXECUTE ON FUNCTION app.jwt_claims(), app.current_user_id(), app.current_app_role(),
  app.current_sales_person(), app.rep_store_ids() TO sales_rep, manager, admin, analyst;

-- Reading: every signed-in role reads the API views; RLS narrows the rows of reps.
GRANT SELECT ON data.stores, data.store_preferences, data.products, data.orders, data.order_items,
  data.invoice_items, data.predicted_orders, data.predicted_order_items, data.customer_segments,
  data.upselling_recommendations
  TO sales_rep, manager, admin, analyst;
GRANT SELECT ON api.stores, api.store_preferences, api.products, api.product_categories,
  api.product_brands, api.orders, api.order_items, api.invoice_items, api.predicted_orders,
  api.predicted_order_items, api.customer_segments, api.upselling_recommendations
  TO sales_rep, manager, admin, analyst;

GRANT SELECT ON data.upload_jobs, api.upload_jobs TO manager, admin, analyst;
GRANT SELECT ON data.users TO sales_rep, manager, admin;
GRANT SELECT ON api.users TO manager, admin;

-- Personal settings.
GRANT SELECT, INSERT, UPDATE, DELETE ON data.dashboard_settings, api.dashboard_settings
  TO sales_rep, manager, admin;

-- Writing master data: managers and admins.
GRANT INSERT, UPDATE, DELETE ON data.stores, data.store_preferences, data.products,
  api.stores, api.store_preferences, api.products TO manager, admin;
GRANT INSERT, UPDATE, DELETE ON data.users, api.users TO admin;
