-- The API is a schema: PostgREST exposes only `api`. Each view keeps the name clients expect
-- and runs with the caller's rights (security_invoker), so grants and row-level security on
-- the private tables decide what each role sees. Comments become the OpenAPI descriptions.

CREATE VIEW api.health WITH (security_invoker = true) AS
  SELECT 'ok'::text AS status, now() AS checked_at, current_setting('server_version') AS postgres_version;
COMMENT ON VIEW api.health IS 'Liveness of the database through PostgREST; readable without a token';

CREATE VIEW api.stores WITH (security_invoker = true) AS
  SELECT id, name, address, city, state, country, postal_code, phone, email, sales_person,
         currency_code, payment_terms, first_order_date, last_order_date, is_active, source,
         created_at, updated_at
  FROM data.stores;
COMMENT ON VIEW api.stores IS 'Retail stores; embed orders with select=*,orders(*)';
COMMENT ON COLUMN api.stores.id IS 'The export''s Customer ID';

CREATE VIEW api.store_preferences WITH (security_invoker = true) AS
  SELECT store_id, call_frequency, payment_terms, credit_limit, auto_approve_predictions,
         preferred_delivery_day, notes, created_at, updated_at
  FROM data.store_preferences;
COMMENT ON VIEW api.store_preferences IS 'How and when to call on a store';

CREATE VIEW api.products WITH (security_invoker = true) AS
  SELECT id, product_key, external_id, sku, name, description, category, brand, usage_unit,
         unit_price, mrp, hsn_sac, tax_rate, is_active, source, created_at, updated_at
  FROM data.products;
COMMENT ON VIEW api.products IS 'The product catalogue';

CREATE VIEW api.product_categories WITH (security_invoker = true) AS
  SELECT category, count(*) AS product_count FROM data.products
  WHERE category IS NOT NULL GROUP BY category;
COMMENT ON VIEW api.product_categories IS 'Product categories with the number of products in each';

CREATE VIEW api.product_brands WITH (security_invoker = true) AS
  SELECT brand, count(*) AS product_count FROM data.products
  WHERE brand IS NOT NULL GROUP BY brand;
COMMENT ON VIEW api.product_brands IS 'Product brands with the number of products of each';

CREATE VIEW api.orders WITH (security_invoker = true) AS
  SELECT id, store_id, source, invoice_number, status, invoice_status, order_date, due_date,
         subtotal, tax_amount, total_amount, item_count, currency_code, sales_person,
         created_by, notes, created_at, updated_at
  FROM data.orders;
COMMENT ON VIEW api.orders IS 'Invoiced orders from the exports, and draft orders made by reps';

CREATE VIEW api.order_items WITH (security_invoker = true) AS
  SELECT id, order_id, product_id, quantity, unit_price, line_total, source, created_at, updated_at
  FROM data.order_items;
COMMENT ON VIEW api.order_items IS 'Lines of draft and generated orders';

CREATE VIEW api.invoice_items WITH (security_invoker = true) AS
  SELECT id, order_id, line_no, product_id, item_name, quantity, unit_price, discount_amount,
         tax_amount, line_total, is_return, is_product
  FROM data.invoice_items;
COMMENT ON VIEW api.invoice_items IS 'Lines of invoiced orders, as loaded from the exports';

CREATE VIEW api.predicted_orders WITH (security_invoker = true) AS
  SELECT id, store_id, predicted_date, confidence, priority, total_amount, status, as_of,
         justification, justification_text, model, order_id, decided_by, decided_at,
         created_at, updated_at
  FROM data.predicted_orders;
COMMENT ON VIEW api.predicted_orders IS 'Each store''s predicted next order, with its evidence';
COMMENT ON COLUMN api.predicted_orders.confidence IS
  'Calibrated probability that the store''s next order falls within ±7 days of predicted_date';

CREATE VIEW api.predicted_order_items WITH (security_invoker = true) AS
  SELECT id, predicted_order_id, product_id, quantity, unit_price, line_amount, frequency
  FROM data.predicted_order_items;
COMMENT ON VIEW api.predicted_order_items IS 'The basket a store is expected to order';

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

CREATE VIEW api.dashboard_settings WITH (security_invoker = true) AS
  SELECT user_id, theme, layout_config, widget_preferences, default_date_range, created_at, updated_at
  FROM data.dashboard_settings;
COMMENT ON VIEW api.dashboard_settings IS 'Each user''s dashboard personalisation';

CREATE VIEW api.upload_jobs WITH (security_invoker = true) AS
  SELECT id, status, filename, options, dry_run, created_by, bytes, lines, loaded, rejected,
         new_stores, new_products, attempts, max_attempts, run_after, last_error, started_at,
         finished_at, processing_ms, created_at, updated_at
  FROM data.upload_jobs;
COMMENT ON VIEW api.upload_jobs IS 'CSV upload jobs and their results';

CREATE VIEW api.users WITH (security_invoker = true) AS
  SELECT id, email, role, full_name, sales_person, is_active, last_login_at, created_at, updated_at
  FROM data.users;
COMMENT ON VIEW api.users IS 'Users of the system (managers and admins)';
