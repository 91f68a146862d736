-- The API is a schema: PostgREST exposes only `api`. Each view keeps the name clients expect
-- and runs with the caller's rights (security_invoker), so grants and row-level security on
-- the private tables decide what each role sees. Comments become the OpenAPI descriptions
-- (GET /api/ and /docs). Single-table views are auto-updatable: writes go through them to the
-- tables, checked by the triggers in functions/validation.sql and functions/orders.sql.
-- Relationships come from the tables' foreign keys (and, for invoice lines, from functions:
-- see api.invoice_items below), so embedding works across views:
-- /api/stores?select=*,orders(*),store_preferences(*),customer_segments(*).

CREATE VIEW api.health WITH (security_invoker = true) AS
  SELECT 'ok'::text AS status, now() AS checked_at, current_setting('server_version') AS postgres_version;
COMMENT ON VIEW api.health IS 'Liveness of the database through PostgREST; readable without a token';

-- Stores ------------------------------------------------------------------------------------

CREATE VIEW api.stores WITH (security_invoker = true) AS
  SELECT id, name, address, city, state, country, postal_code, phone, email, sales_person,
         currency_code, payment_terms, first_order_date, last_order_date, is_active, source,
         created_at, updated_at
  FROM data.stores;
-- Stores created through the API without an id get one ("M-" and 10 hex digits).
ALTER VIEW api.stores ALTER COLUMN id SET DEFAULT 'M-' || upper(substr(md5(gen_random_uuid()::text), 1, 10));
COMMENT ON VIEW api.stores IS
  'Retail stores. A sales rep sees the stores assigned to them. One store with its orders: ?id=eq.X&select=*,orders(*)';
COMMENT ON COLUMN api.stores.id IS 'The export''s Customer ID (stores created here get M-...)';
COMMENT ON COLUMN api.stores.sales_person IS 'The export''s "Sales person": the rep whose name this is sees the store';
COMMENT ON COLUMN api.stores.source IS 'import (from an uploaded export) or manual (created through the API)';
COMMENT ON COLUMN api.stores.is_active IS 'Deactivate a store instead of deleting it: its invoices stay';

CREATE VIEW api.store_preferences WITH (security_invoker = true) AS
  SELECT store_id, call_frequency, payment_terms, credit_limit, auto_approve_predictions,
         preferred_delivery_day, notes, created_at, updated_at
  FROM data.store_preferences;
COMMENT ON VIEW api.store_preferences IS
  'How and when to call on a store; managers and admins change them (POST with Prefer: resolution=merge-duplicates upserts)';
COMMENT ON COLUMN api.store_preferences.call_frequency IS 'daily, weekly, fortnightly or monthly';
COMMENT ON COLUMN api.store_preferences.payment_terms IS 'Days (0 to 365)';
COMMENT ON COLUMN api.store_preferences.preferred_delivery_day IS 'monday ... sunday';

CREATE VIEW api.store_assignments WITH (security_invoker = true) AS
  SELECT store_id, user_id, created_at FROM data.store_assignments;
COMMENT ON VIEW api.store_assignments IS
  'Stores assigned to sales reps explicitly, beside the export''s Sales person; managers and admins maintain them';

-- Products ----------------------------------------------------------------------------------

CREATE VIEW api.products WITH (security_invoker = true) AS
  SELECT id, product_key, external_id, sku, name, description, category, brand, usage_unit,
         unit_price, mrp, hsn_sac, tax_rate, is_active, source, created_at, updated_at
  FROM data.products;
COMMENT ON VIEW api.products IS 'The product catalogue; managers and admins add and change products';
COMMENT ON COLUMN api.products.product_key IS
  'The natural key uploads match on: the export''s Product ID, else the SKU, else the lower-cased name (filled in when left out)';
COMMENT ON COLUMN api.products.tax_rate IS 'Percent';

CREATE VIEW api.product_categories WITH (security_invoker = true) AS
  SELECT category, count(*) AS product_count FROM data.products
  WHERE category IS NOT NULL GROUP BY category;
COMMENT ON VIEW api.product_categories IS 'Product categories with the number of products in each';

CREATE VIEW api.product_brands WITH (security_invoker = true) AS
  SELECT brand, count(*) AS product_count FROM data.products
  WHERE brand IS NOT NULL GROUP BY brand;
COMMENT ON VIEW api.product_brands IS 'Product brands with the number of products of each';

-- Orders ------------------------------------------------------------------------------------

CREATE VIEW api.orders WITH (security_invoker = true) AS
  SELECT id, store_id, source, invoice_number, status, invoice_status, order_date, due_date,
         subtotal, tax_amount, total_amount, item_count, currency_code, sales_person,
         created_by, notes, created_at, updated_at
  FROM data.orders;
COMMENT ON VIEW api.orders IS
  'Invoiced orders from the exports (read-only), and draft orders made by reps and managers. '
  'Filter with ?status=eq.draft, ?store_id=eq.X, ?order_date=gte.2024-01-01; lines: select=*,order_items(*) or invoice_items(*)';
COMMENT ON COLUMN api.orders.source IS 'invoice (from an export), manual, or prediction (made by generate_order)';
COMMENT ON COLUMN api.orders.status IS
  'draft -> submitted -> confirmed, or cancelled; invoiced and void come from the exports';
COMMENT ON COLUMN api.orders.total_amount IS 'Invoices: net of returns. Drafts: the sum of their lines (kept by the database)';
COMMENT ON COLUMN api.orders.created_by IS 'The user who created a draft (set by the database)';

CREATE VIEW api.orders_recent WITH (security_invoker = true) AS
  SELECT o.id, o.store_id, s.name AS store_name, o.source, o.invoice_number, o.status, o.order_date,
         o.total_amount, o.item_count, o.currency_code, o.sales_person, o.created_at
  FROM data.orders o JOIN data.stores s ON s.id = o.store_id
  ORDER BY o.order_date DESC, o.id DESC;
COMMENT ON VIEW api.orders_recent IS
  'Orders newest first, with the store''s name: /api/orders_recent?limit=10 (read-only)';

CREATE VIEW api.orders_pending WITH (security_invoker = true) AS
  SELECT o.id, o.store_id, s.name AS store_name, o.source, o.status, o.order_date, o.due_date,
         o.total_amount, o.item_count, o.currency_code, o.sales_person, o.created_by, o.created_at
  FROM data.orders o JOIN data.stores s ON s.id = o.store_id
  WHERE o.status IN ('draft', 'submitted', 'confirmed')
  ORDER BY o.order_date, o.id;
COMMENT ON VIEW api.orders_pending IS
  'Orders not yet invoiced or cancelled (draft, submitted, confirmed), oldest first (read-only)';

CREATE VIEW api.order_items WITH (security_invoker = true) AS
  SELECT id, order_id, product_id, quantity, unit_price, line_total, source, created_at, updated_at
  FROM data.order_items;
COMMENT ON VIEW api.order_items IS
  'Lines of draft and generated orders; editable while the order is a draft. The order''s totals follow them';
COMMENT ON COLUMN api.order_items.unit_price IS 'Left out: the product''s catalogue price';

CREATE VIEW api.invoice_items WITH (security_invoker = true) AS
  SELECT id, order_id, line_no, product_id, item_name, quantity, unit_price, discount_amount,
         tax_amount, line_total, is_return, is_product
  FROM data.invoice_items;
COMMENT ON VIEW api.invoice_items IS 'Lines of invoiced orders, as loaded from the exports (read-only)';

-- Predictions -------------------------------------------------------------------------------

CREATE VIEW api.predicted_orders WITH (security_invoker = true) AS
  SELECT id, store_id, predicted_date, confidence, priority, total_amount, status, as_of,
         justification, justification_text, model, order_id, decided_by, decided_at,
         created_at, updated_at
  FROM data.predicted_orders;
COMMENT ON VIEW api.predicted_orders IS
  'Each store''s predicted next order, with its evidence. Approve or dismiss with PATCH {"status": ...} '
  'or /rpc/approve_prediction and /rpc/dismiss_prediction; turn into an order with /rpc/generate_order';
COMMENT ON COLUMN api.predicted_orders.confidence IS
  'Calibrated probability that the store''s next order falls within ±7 days of predicted_date';
COMMENT ON COLUMN api.predicted_orders.status IS
  'pending -> approved or dismissed (and back to pending); converted once it became an order (order_id)';

CREATE VIEW api.predicted_order_items WITH (security_invoker = true) AS
  SELECT id, predicted_order_id, product_id, quantity, unit_price, line_amount, frequency,
         item_rank, item_probability, in_basket
  FROM data.predicted_order_items;
COMMENT ON VIEW api.predicted_order_items IS
  'The products a store may order next, ranked: in_basket marks the predicted order''s lines (the first ranks)';
COMMENT ON COLUMN api.predicted_order_items.frequency IS 'Share of the store''s recent orders that contained the product';
COMMENT ON COLUMN api.predicted_order_items.item_rank IS 'Rank among the store''s candidates (1 = most likely)';
COMMENT ON COLUMN api.predicted_order_items.item_probability IS
  'Calibrated probability that the product is in the store''s next order';
COMMENT ON COLUMN api.predicted_order_items.in_basket IS 'True for the predicted order''s lines; false for further candidates';

CREATE VIEW api.prediction_decisions WITH (security_invoker = true) AS
  SELECT id, prediction_id, from_status, to_status, reason, decided_by, decided_at, automatic
  FROM data.prediction_decisions;
COMMENT ON VIEW api.prediction_decisions IS
  'Who approved, dismissed or converted each prediction, when, and the reason given (read-only); automatic: the store''s auto-approve preference decided, not a person';

CREATE VIEW api.customer_segments WITH (security_invoker = true) AS
  SELECT store_id, recency_days, recency_score, frequency_score, monetary_score, segment_name,
         segment_value, order_count, order_frequency, typical_gap_days, total_revenue,
         churn_risk, as_of, updated_at
  FROM data.customer_segments;
COMMENT ON VIEW api.customer_segments IS 'RFM segment and churn risk of each store';

CREATE VIEW api.upselling_recommendations WITH (security_invoker = true) AS
  SELECT id, store_id, product_id, score, support, confidence, lift, similar_store_share,
         expected_gain, reason, evidence, as_of, created_at, updated_at
  FROM data.upselling_recommendations;
COMMENT ON VIEW api.upselling_recommendations IS 'Products a store does not buy yet but likely would';

-- Users, settings, uploads ------------------------------------------------------------------

CREATE VIEW api.dashboard_settings WITH (security_invoker = true) AS
  SELECT user_id, theme, layout_config, widget_preferences, default_date_range, created_at, updated_at
  FROM data.dashboard_settings;
ALTER VIEW api.dashboard_settings ALTER COLUMN user_id SET DEFAULT app.current_user_id();
COMMENT ON VIEW api.dashboard_settings IS
  'Each user''s own dashboard personalisation (one row; upsert with Prefer: resolution=merge-duplicates)';
COMMENT ON COLUMN api.dashboard_settings.theme IS 'light, dark or system';
COMMENT ON COLUMN api.dashboard_settings.default_date_range IS '7d, 30d, 90d, 180d or all';

CREATE VIEW api.upload_jobs WITH (security_invoker = true) AS
  SELECT id, status, filename, options, dry_run, created_by, bytes, lines, loaded, rejected,
         new_stores, new_products, attempts, max_attempts, run_after, last_error, started_at,
         finished_at, processing_ms, created_at, updated_at, source, skipped_lines, message, timings,
         received_at
  FROM data.upload_jobs;
COMMENT ON VIEW api.upload_jobs IS 'CSV upload jobs and their results (managers and admins); upload with POST /uploads';

-- The lines of an upload that were not loaded. Row-level security decides who reads them: the
-- rows of the jobs the caller may see (db/policies.sql). The spreadsheet-safe CSV download,
-- GET /uploads/{id}/rejects.csv (gateway/uploads.py), reads this view as the caller too.
CREATE VIEW api.upload_rejects WITH (security_invoker = true) AS
  SELECT job_id, line_no, column_name, reason, raw_line, id FROM data.upload_rejects;
COMMENT ON VIEW api.upload_rejects IS
  'Lines of an upload that were not loaded, with the reason (managers and admins); as a CSV: GET /uploads/{id}/rejects.csv';

CREATE VIEW api.users WITH (security_invoker = true) AS
  SELECT id, email, role, full_name, sales_person, is_active, last_login_at, created_at, updated_at
  FROM data.users;
COMMENT ON VIEW api.users IS
  'Users (managers read, admins change). Create with /rpc/create_user; passwords never leave the database';
COMMENT ON COLUMN api.users.role IS 'sales_rep, manager or admin';
COMMENT ON COLUMN api.users.sales_person IS 'For reps: their name as the export''s "Sales person" column writes it';

CREATE VIEW api.settings WITH (security_invoker = true) AS
  SELECT key, value, description, updated_at FROM data.settings;
COMMENT ON VIEW api.settings IS 'System settings (managers read, admins change), e.g. login.max_failures_per_account';

-- Actions (RPC). Their logic is in functions/ (app schema); these wrappers give them a view's
-- row type, so the answer is the row itself, described in the OpenAPI document. (Embedding
-- rows the call itself created, such as a new order's lines, shows nothing: PostgREST reads
-- them in the same statement, before the call. Read them with GET /api/order_items?order_id=eq.N.)

-- The draft order made from a prediction or from a store's usual basket (POST only).
CREATE FUNCTION api.generate_order(prediction_id uuid DEFAULT NULL, store_id text DEFAULT NULL)
RETURNS api.orders
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_id bigint := app.generate_order($1, $2);  -- once, before reading the row back
  v_order api.orders;
BEGIN
  SELECT o.* INTO v_order FROM api.orders o WHERE o.id = v_id;
  RETURN v_order;
END
$$;
COMMENT ON FUNCTION api.generate_order(uuid, text) IS
  'Create a draft order: from a prediction''s basket (prediction_id; the prediction becomes converted), '
  'or from the store''s usual basket (store_id). Sales reps: for their stores only.';

-- The prediction after approving it.
CREATE FUNCTION api.approve_prediction(id uuid) RETURNS api.predicted_orders
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_id uuid := app.decide_prediction($1, 'approved', NULL);
  v_row api.predicted_orders;
BEGIN
  SELECT p.* INTO v_row FROM api.predicted_orders p WHERE p.id = v_id;
  RETURN v_row;
END
$$;
COMMENT ON FUNCTION api.approve_prediction(uuid) IS 'Approve a pending prediction (sales reps: of their stores)';

-- The prediction after dismissing it, with the reason kept in prediction_decisions.
CREATE FUNCTION api.dismiss_prediction(id uuid, reason text DEFAULT NULL) RETURNS api.predicted_orders
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
  v_id uuid := app.decide_prediction($1, 'dismissed', $2);
  v_row api.predicted_orders;
BEGIN
  SELECT p.* INTO v_row FROM api.predicted_orders p WHERE p.id = v_id;
  RETURN v_row;
END
$$;
COMMENT ON FUNCTION api.dismiss_prediction(uuid, text) IS
  'Dismiss a prediction, optionally saying why (sales reps: of their stores)';

-- The new user's row (admins only). The account is made by app.add_user, the function the
-- CLI and the demo call too (functions/users.sql), so every path applies the same rules.
-- Security definer because app.add_user is not granted to API roles: this wrapper is the
-- admin check in front of it.
CREATE FUNCTION api.create_user(email text, password text, role text, full_name text DEFAULT NULL,
                                sales_person text DEFAULT NULL)
RETURNS api.users
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, data AS $$
DECLARE
  v_id uuid;
  v_row api.users;
BEGIN
  IF app.current_app_role() IS DISTINCT FROM 'admin' THEN
    RAISE SQLSTATE 'PT403' USING MESSAGE = 'only admins create users';
  END IF;
  v_id := app.add_user($1, $2, $3, $4, $5);
  SELECT u.* INTO v_row FROM api.users u WHERE u.id = v_id;
  RETURN v_row;
END
$$;
COMMENT ON FUNCTION api.create_user(text, text, text, text, text) IS
  'Create a user (admins only); the password (8 to 72 bytes) is stored as a bcrypt hash';
