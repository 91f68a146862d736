-- The shape of the data model: tables, keys, indexes on foreign keys, triggers and grants.
BEGIN;
SELECT plan(16);

SELECT has_schema('data');
SELECT has_schema('api');
SELECT tables_are('data', ARRAY[
  'users', 'revoked_tokens', 'login_attempts', 'event_tickets', 'events', 'stores', 'store_assignments', 'store_preferences',
  'products', 'upload_jobs', 'upload_rejects', 'orders', 'order_items', 'mangalam_invoices',
  'invoice_items', 'predicted_orders', 'predicted_order_items', 'customer_segments',
  'upselling_recommendations', 'backtest_runs', 'dashboard_settings', 'settings',
  'prediction_decisions',
  'prediction_calibrations', 'product_associations']);  -- analytics

-- Every table has a primary key.
SELECT is_empty($$
  SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'data' AND c.relkind = 'r'
    AND NOT EXISTS (SELECT FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p')
$$, 'every table has a primary key');

-- Every foreign key has an index whose leading columns are the key's columns.
SELECT is_empty($$
  SELECT k.conrelid::regclass || ' ' || k.conname FROM pg_constraint k
  JOIN pg_namespace n ON n.oid = k.connamespace
  WHERE n.nspname = 'data' AND k.contype = 'f'
    AND NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = k.conrelid
                    AND (i.indkey::int2[])[0:cardinality(k.conkey) - 1] = k.conkey)
$$, 'every foreign key is indexed');

-- (orders' store, invoice_items' order and product are checked per statement by triggers:
-- migrations 0006 and 0009, functions/set_based_keys.sql, tests/test_ingest_keys.py)
SELECT is((SELECT count(*)::integer FROM pg_trigger WHERE tgrelid = 'data.orders'::regclass
           AND tgname IN ('40_parents_after_insert', '40_parents_after_update')), 2,
          'orders'' stores are checked by the set-based keys');
SELECT is((SELECT count(*)::integer FROM pg_trigger WHERE tgrelid = 'data.invoice_items'::regclass
           AND tgname IN ('40_parents_after_insert', '40_parents_after_update')), 2,
          'invoice lines'' orders and products are checked by the set-based keys');
SELECT is((SELECT count(*)::integer FROM app.set_based_keys() WHERE child = 'predicted_order_items'), 2,
          'predicted lines'' predictions and products are checked by the set-based keys');

-- Every table with updated_at keeps it current.
SELECT is_empty($$
  SELECT table_name FROM information_schema.columns c
  WHERE table_schema = 'data' AND column_name = 'updated_at'
    AND NOT EXISTS (SELECT FROM pg_trigger t WHERE t.tgrelid = format('data.%I', c.table_name)::regclass
                    AND t.tgname = '10_set_updated_at')
$$, 'every updated_at column has its trigger');

UPDATE data.stores SET name = name;  -- harmless: exercises the trigger path on whatever exists
INSERT INTO data.stores (id, name) VALUES ('T-TRIGGER', 'Trigger test');
UPDATE data.stores SET updated_at = '2000-01-01', name = 'Renamed' WHERE id = 'T-TRIGGER';
SELECT cmp_ok((SELECT updated_at FROM data.stores WHERE id = 'T-TRIGGER'), '>', '2020-01-01'::timestamptz,
  'updating a row sets updated_at');

-- Grants: anon can read health and nothing else.
SELECT table_privs_are('api', 'health', 'anon', ARRAY['SELECT']);
SELECT is_empty($$
  SELECT table_schema || '.' || table_name FROM information_schema.role_table_grants
  WHERE grantee = 'anon' AND NOT (table_schema = 'api' AND table_name = 'health')
$$, 'anon has no privilege on any other table or view');

SET LOCAL role anon;
SELECT throws_ok('SELECT * FROM api.stores', '42501', NULL, 'anon cannot read stores');
SELECT throws_ok('SELECT * FROM data.users', '42501', NULL, 'anon cannot read users');
SELECT is((SELECT status FROM api.health), 'ok', 'anon reads health');
RESET role;

-- The PostgREST roles exist and the authenticator can switch to them.
SELECT is_member_of('anon', ARRAY['authenticator']);

SELECT * FROM finish();
ROLLBACK;
