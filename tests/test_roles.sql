-- Who may do what, proved by impersonating each role the way PostgREST does:
-- SET LOCAL role + request.jwt.claims. Grants, row-level security and the check triggers
-- together; every refusal is checked for its SQLSTATE (PostgREST turns PTnnn into HTTP nnn,
-- 22023 into 400, 42501 into 401/403).
BEGIN;
SELECT plan(109);

-- pgTAP's set comparisons build temporary tables as the role being tried. The API roles have
-- no TEMPORARY privilege of their own (db/grants.sql), so it is lent for this transaction.
DO $$ BEGIN
  EXECUTE format('GRANT TEMPORARY ON DATABASE %I TO anon, sales_rep, manager, admin', current_database());
END $$;

-- Fixtures, as the owner --------------------------------------------------------------------
INSERT INTO data.users (id, email, password_hash, role, full_name, sales_person) VALUES
  ('aaaaaaaa-0000-4000-8000-000000000001', 'alpha@roles.test', crypt('alpha-password', gen_salt('bf')), 'sales_rep', 'Rep Alpha', 'Rep Alpha'),
  ('aaaaaaaa-0000-4000-8000-000000000002', 'beta@roles.test', crypt('beta-password', gen_salt('bf')), 'sales_rep', 'Rep Beta', 'Rep Beta'),
  ('aaaaaaaa-0000-4000-8000-000000000003', 'manager@roles.test', crypt('manager-password', gen_salt('bf')), 'manager', 'Manager', NULL),
  ('aaaaaaaa-0000-4000-8000-000000000004', 'admin@roles.test', crypt('admin-password', gen_salt('bf')), 'admin', 'Admin', NULL);
INSERT INTO data.stores (id, name, sales_person, source) VALUES
  ('R-A1', 'Alpha One', 'Rep Alpha', 'import'),
  ('R-A2', 'Assigned To Alpha', 'Somebody Else', 'import'),
  ('R-B1', 'Beta One', 'Rep Beta', 'import');
INSERT INTO data.store_assignments (store_id, user_id) VALUES ('R-A2', 'aaaaaaaa-0000-4000-8000-000000000001');
INSERT INTO data.products (id, product_key, name, unit_price, is_active) VALUES
  ('cccccccc-0000-4000-8000-000000000001', 'R-P1', 'Roles product one', 10, true),
  ('cccccccc-0000-4000-8000-000000000002', 'R-P2', 'Roles product two (discontinued)', 20, false);
INSERT INTO data.orders (id, store_id, source, invoice_number, status, order_date, total_amount)
  OVERRIDING SYSTEM VALUE VALUES
  (900001, 'R-A1', 'invoice', 'R-INV-1', 'invoiced', '2024-01-10', 30),
  (900002, 'R-A1', 'invoice', 'R-INV-2', 'invoiced', '2024-01-20', 30),
  (900003, 'R-B1', 'invoice', 'R-INV-3', 'invoiced', '2024-01-15', 50);
INSERT INTO data.invoice_items (order_id, line_no, product_id, quantity, unit_price, line_total) VALUES
  (900001, 1, 'cccccccc-0000-4000-8000-000000000001', 3, 10, 30),
  (900002, 1, 'cccccccc-0000-4000-8000-000000000001', 3, 10, 30),
  (900003, 1, 'cccccccc-0000-4000-8000-000000000001', 5, 10, 50);
INSERT INTO data.predicted_orders (id, store_id, predicted_date, confidence, as_of, total_amount) VALUES
  ('bbbbbbbb-0000-4000-8000-00000000000a', 'R-A1', '2024-02-01', 0.8, '2024-01-21', 40),
  ('bbbbbbbb-0000-4000-8000-00000000000c', 'R-A2', '2024-02-02', 0.5, '2024-01-21', 10),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'R-B1', '2024-02-03', 0.6, '2024-01-21', 50);
INSERT INTO data.predicted_order_items (predicted_order_id, product_id, quantity, unit_price, line_amount) VALUES
  ('bbbbbbbb-0000-4000-8000-00000000000a', 'cccccccc-0000-4000-8000-000000000001', 4, 10, 40),
  ('bbbbbbbb-0000-4000-8000-00000000000b', 'cccccccc-0000-4000-8000-000000000001', 5, 10, 50);

-- anon: health only ---------------------------------------------------------------------------
SET LOCAL role anon;
SELECT set_config('request.jwt.claims', '{"role": "anon"}', true);
SELECT throws_ok('SELECT * FROM api.stores', '42501', NULL, 'anon cannot read stores');
SELECT throws_ok('SELECT * FROM api.products', '42501', NULL, 'anon cannot read products');
SELECT throws_ok('SELECT * FROM api.orders', '42501', NULL, 'anon cannot read orders');
SELECT throws_ok($$SELECT api.generate_order(NULL, 'R-A1')$$, '42501', NULL, 'anon cannot generate orders');
SELECT is((SELECT status FROM api.health), 'ok', 'anon reads health');
RESET role;

-- sales_rep Alpha: their stores (Sales person or assignment), orders, predictions -------------
SET LOCAL role sales_rep;
SELECT set_config('request.jwt.claims', '{"role": "sales_rep", "sub": "aaaaaaaa-0000-4000-8000-000000000001"}', true);
SELECT set_eq('SELECT id FROM api.stores', ARRAY['R-A1', 'R-A2'], 'a rep sees the stores of their Sales person name and their assignments');
SELECT set_eq('SELECT id FROM api.orders', ARRAY[900001, 900002]::bigint[], 'a rep sees the orders of their stores only');
SELECT set_eq('SELECT order_id FROM api.invoice_items', ARRAY[900001, 900002]::bigint[], 'a rep sees the invoice lines of their stores only');
SELECT set_eq('SELECT id FROM api.predicted_orders',
  ARRAY['bbbbbbbb-0000-4000-8000-00000000000a', 'bbbbbbbb-0000-4000-8000-00000000000c']::uuid[],
  'a rep sees the predictions of their stores only');
SELECT set_eq('SELECT store_id FROM api.store_assignments', ARRAY['R-A2'], 'a rep sees their own assignments');
SELECT is((SELECT count(*) FROM api.products WHERE product_key LIKE 'R-P%'), 2::bigint, 'a rep reads the whole catalogue');
SELECT throws_ok('SELECT * FROM api.users', '42501', NULL, 'a rep cannot read the user list');
SELECT throws_ok('SELECT * FROM api.upload_jobs', '42501', NULL, 'a rep cannot read upload jobs');
SELECT throws_ok('SELECT * FROM api.settings', '42501', NULL, 'a rep cannot read the settings');
SELECT throws_ok($$INSERT INTO api.stores (id, name) VALUES ('R-X', 'Nope')$$, '42501', NULL, 'a rep cannot create stores');
SELECT throws_ok($$UPDATE api.stores SET name = 'Renamed' WHERE id = 'R-A1'$$, '42501', NULL, 'a rep cannot change stores');
SELECT throws_ok($$INSERT INTO api.store_preferences (store_id, call_frequency) VALUES ('R-A1', 'weekly')$$, '42501', NULL,
  'a rep cannot change store preferences');

-- Draft orders: create, add lines, totals follow, submit.
SELECT lives_ok($$INSERT INTO api.orders (store_id, notes) VALUES ('R-A1', 'rep alpha draft')$$, 'a rep creates a draft for their store');
SELECT is((SELECT created_by FROM api.orders WHERE notes = 'rep alpha draft'), 'aaaaaaaa-0000-4000-8000-000000000001'::uuid,
  'the database records the rep as the creator');
SELECT is((SELECT sales_person FROM api.orders WHERE notes = 'rep alpha draft'), 'Rep Alpha', 'the draft takes the store''s sales person');
SELECT throws_ok($$INSERT INTO api.orders (store_id) VALUES ('R-B1')$$, 'PT403',
  'store R-B1 does not exist or is not one of your stores', 'a rep cannot create an order for another rep''s store');
SELECT throws_ok($$INSERT INTO api.orders (store_id, source) VALUES ('R-A1', 'invoice')$$, 'PT422', NULL,
  'a rep cannot create an invoice');
SELECT throws_ok($$INSERT INTO api.orders (store_id, total_amount) VALUES ('R-A1', 5)$$, '42501', NULL,
  'totals are not the client''s to set');
SELECT lives_ok($$INSERT INTO api.order_items (order_id, product_id, quantity)
  SELECT id, 'cccccccc-0000-4000-8000-000000000001', 2.5 FROM api.orders WHERE notes = 'rep alpha draft'$$,
  'a rep adds a line to their draft (price from the catalogue)');
SELECT is((SELECT total_amount FROM api.orders WHERE notes = 'rep alpha draft'), 25.00::numeric(14, 2),
  'the order total follows its lines');
SELECT is((SELECT item_count FROM api.orders WHERE notes = 'rep alpha draft'), 1, 'the line count follows too');
SELECT throws_ok($$INSERT INTO api.order_items (order_id, product_id, quantity)
  SELECT id, 'cccccccc-0000-4000-8000-000000000002', 1 FROM api.orders WHERE notes = 'rep alpha draft'$$, 'PT422', NULL,
  'a discontinued product cannot be ordered');
SELECT throws_ok($$UPDATE api.order_items SET quantity = 0
  WHERE order_id = (SELECT id FROM api.orders WHERE notes = 'rep alpha draft')$$, '22023', 'quantity must be more than 0',
  'a line needs a positive quantity (400)');
SELECT throws_ok($$UPDATE api.orders SET status = 'confirmed' WHERE notes = 'rep alpha draft'$$, 'PT409', NULL,
  'a draft cannot jump to confirmed');
SELECT lives_ok($$UPDATE api.orders SET status = 'submitted' WHERE notes = 'rep alpha draft'$$, 'a rep submits their draft');
SELECT throws_ok($$UPDATE api.order_items SET quantity = 3
  WHERE order_id = (SELECT id FROM api.orders WHERE notes = 'rep alpha draft')$$, 'PT409', NULL,
  'a submitted order''s lines cannot change');
SELECT throws_ok($$UPDATE api.orders SET status = 'confirmed' WHERE notes = 'rep alpha draft'$$, 'PT409', NULL,
  'only managers confirm orders');
SELECT throws_ok($$UPDATE api.orders SET notes = 'edited' WHERE id = 900001$$, 'PT409', NULL,
  'invoices cannot be changed through the API');
SELECT throws_ok($$UPDATE api.orders SET total_amount = 1 WHERE id = 900001$$, '42501', NULL,
  'order totals are not writable at all');
SELECT is((SELECT count(*) FROM api.orders WHERE store_id = 'R-B1'), 0::bigint, 'another rep''s orders stay invisible');
SELECT throws_ok($$DELETE FROM api.orders WHERE id = 900001$$, 'PT409', NULL, 'invoices cannot be deleted');

-- Predictions: approve, dismiss with a reason, convert to an order; other reps' are out of reach.
SELECT lives_ok($$SELECT api.approve_prediction('bbbbbbbb-0000-4000-8000-00000000000a')$$, 'a rep approves a prediction of their store');
SELECT is((SELECT decided_by FROM api.predicted_orders WHERE id = 'bbbbbbbb-0000-4000-8000-00000000000a'),
  'aaaaaaaa-0000-4000-8000-000000000001'::uuid, 'the decision records who made it');
SELECT throws_ok($$SELECT api.approve_prediction('bbbbbbbb-0000-4000-8000-00000000000b')$$, 'PT404', NULL,
  'a rep cannot approve another rep''s prediction (it is not there for them)');
SELECT lives_ok($$UPDATE api.predicted_orders SET status = 'approved' WHERE store_id = 'R-B1'$$,
  'a PATCH on another rep''s prediction runs ...');
SELECT lives_ok($$SELECT api.dismiss_prediction('bbbbbbbb-0000-4000-8000-00000000000c', 'store closed for renovation')$$,
  'a rep dismisses a prediction with a reason');
SELECT is((SELECT reason FROM api.prediction_decisions WHERE prediction_id = 'bbbbbbbb-0000-4000-8000-00000000000c'),
  'store closed for renovation', 'the reason is kept in the decision history');
SELECT throws_ok($$UPDATE api.predicted_orders SET status = 'converted' WHERE id = 'bbbbbbbb-0000-4000-8000-00000000000c'$$,
  'PT409', NULL, 'a dismissed prediction cannot be converted');
SELECT throws_ok($$UPDATE api.predicted_orders SET confidence = 1 WHERE id = 'bbbbbbbb-0000-4000-8000-00000000000a'$$,
  '42501', NULL, 'a rep cannot rewrite a prediction''s numbers');
SELECT lives_ok($$SELECT api.generate_order('bbbbbbbb-0000-4000-8000-00000000000a', NULL)$$,
  'a rep turns their approved prediction into a draft order');
SELECT is((SELECT status FROM api.predicted_orders WHERE id = 'bbbbbbbb-0000-4000-8000-00000000000a'), 'converted',
  'the prediction is converted');
SELECT is((SELECT o.total_amount FROM api.orders o JOIN api.predicted_orders p ON p.order_id = o.id
           WHERE p.id = 'bbbbbbbb-0000-4000-8000-00000000000a'), 40.00::numeric(14, 2),
  'the generated order carries the predicted basket');
SELECT throws_ok($$SELECT api.generate_order('bbbbbbbb-0000-4000-8000-00000000000a', NULL)$$, 'PT409', NULL,
  'a converted prediction cannot become a second order');
SELECT lives_ok($$SELECT api.generate_order(NULL, 'R-A1')$$, 'a rep orders a store''s usual basket');
SELECT is((SELECT quantity FROM api.order_items i JOIN api.orders o ON o.id = i.order_id
           WHERE o.notes = 'generated from the store''s usual basket'), 3.0000::numeric(15, 4),
  'the usual basket takes the median quantity');
SELECT throws_ok($$SELECT api.generate_order(NULL, 'R-B1')$$, 'PT404', NULL, 'not for another rep''s store');
SELECT throws_ok($$SELECT api.generate_order(NULL, NULL)$$, '22023', NULL, 'generate_order needs an argument (400)');
SELECT throws_ok($$INSERT INTO api.dashboard_settings (user_id, theme) VALUES ('aaaaaaaa-0000-4000-8000-000000000002', 'dark')$$,
  'PT403', NULL, 'a user cannot write someone else''s dashboard settings');
SELECT lives_ok($$INSERT INTO api.dashboard_settings (theme) VALUES ('dark')$$, 'a user saves their dashboard settings');
SELECT is((SELECT user_id FROM api.dashboard_settings), 'aaaaaaaa-0000-4000-8000-000000000001'::uuid,
  'the settings row is the caller''s');
SELECT throws_ok($$UPDATE api.dashboard_settings SET theme = 'purple'$$, '22023', NULL, 'an unknown theme is a 400');
RESET role;
SELECT is((SELECT status FROM data.predicted_orders WHERE id = 'bbbbbbbb-0000-4000-8000-00000000000b'), 'pending',
  '... and changes nothing: the other rep''s prediction is still pending');

-- manager: every store, user list, uploads; confirms orders; maintains master data ------------
SET LOCAL role manager;
SELECT set_config('request.jwt.claims', '{"role": "manager", "sub": "aaaaaaaa-0000-4000-8000-000000000003"}', true);
SELECT set_eq($$SELECT id FROM api.stores WHERE id LIKE 'R-%'$$, ARRAY['R-A1', 'R-A2', 'R-B1'], 'a manager sees every store');
SELECT is((SELECT count(*) FROM api.orders WHERE id IN (900001, 900002, 900003)), 3::bigint, 'a manager sees every order');
SELECT is((SELECT count(*) FROM api.users WHERE email LIKE '%@roles.test'), 4::bigint, 'a manager reads the user list');
SELECT lives_ok('SELECT * FROM api.upload_jobs', 'a manager reads upload jobs');
SELECT lives_ok('SELECT * FROM api.settings', 'a manager reads the settings');
SELECT lives_ok($$UPDATE api.orders SET status = 'confirmed' WHERE notes = 'rep alpha draft'$$, 'a manager confirms a submitted order');
SELECT throws_ok($$DELETE FROM api.orders WHERE id = 900003$$, 'PT409', NULL, 'not even a manager deletes an invoice');
SELECT lives_ok($$UPDATE api.orders SET status = 'cancelled' WHERE notes = 'rep alpha draft'$$, 'a manager cancels an order');
SELECT lives_ok($$DELETE FROM api.orders WHERE notes = 'rep alpha draft'$$, 'a cancelled order is deleted with its lines');
SELECT is((SELECT count(*) FROM data.order_items i WHERE NOT EXISTS (SELECT FROM data.orders o WHERE o.id = i.order_id)),
  0::bigint, 'no line is left behind');
SELECT lives_ok($$INSERT INTO api.stores (name, city) VALUES ('  New Corner Shop ', 'Pune')$$, 'a manager creates a store');
SELECT matches((SELECT id FROM api.stores WHERE name = 'New Corner Shop'), '^M-[0-9A-F]{10}$',
  'a store created without an id gets one (and its name is trimmed)');
SELECT throws_ok($$INSERT INTO api.stores (id, name) VALUES ('R-EMPTY', '   ')$$, '22023', 'a store needs a name',
  'a store without a name is a 400 with a message');
SELECT throws_ok($$INSERT INTO api.stores (id, name) VALUES ('R-A1', 'Duplicate')$$, '23505', NULL,
  'a duplicate store id is a conflict (409)');
SELECT throws_ok($$DELETE FROM api.stores WHERE id = 'R-A1'$$, 'PT409', NULL, 'a store with invoices cannot be deleted');
SELECT lives_ok($$DELETE FROM api.stores WHERE name = 'New Corner Shop'$$, 'a store without history can be deleted');
SELECT throws_ok($$INSERT INTO api.store_preferences (store_id, call_frequency) VALUES ('R-A1', 'hourly')$$, '22023', NULL,
  'an unknown call frequency is a 400');
SELECT lives_ok($$INSERT INTO api.store_preferences (store_id, call_frequency, preferred_delivery_day)
  VALUES ('R-A1', 'Weekly', 'Monday')$$, 'a manager sets store preferences (words in any case)');
SELECT lives_ok($$INSERT INTO api.products (name, sku, unit_price) VALUES ('Roles product three', 'R-SKU-3', 5)$$,
  'a manager adds a product');
SELECT is((SELECT product_key FROM api.products WHERE sku = 'R-SKU-3'), 'R-SKU-3', 'its natural key defaults to the SKU');
SELECT throws_ok($$SELECT api.create_user('x@roles.test', 'long-enough', 'manager')$$, '42501', NULL,
  'a manager cannot create users');
SELECT throws_ok($$UPDATE api.users SET role = 'admin' WHERE email = 'beta@roles.test'$$, '42501', NULL,
  'a manager cannot change users');
SELECT throws_ok($$INSERT INTO api.settings (key, value) VALUES ('x', '1')$$, '42501', NULL, 'a manager cannot change settings');
SELECT throws_ok($$INSERT INTO api.store_assignments (store_id, user_id) VALUES ('R-B1', 'aaaaaaaa-0000-4000-8000-000000000003')$$,
  'PT422', NULL, 'only reps are assigned stores');
RESET role;

-- admin: users and settings ---------------------------------------------------------------
SET LOCAL role admin;
SELECT set_config('request.jwt.claims', '{"role": "admin", "sub": "aaaaaaaa-0000-4000-8000-000000000004"}', true);
SELECT lives_ok($$SELECT api.create_user('gamma@roles.test', 'gamma-password', 'sales_rep', 'Rep Gamma', 'Rep Gamma')$$,
  'an admin creates a user');
SELECT throws_ok('SELECT password_hash FROM data.users', '42501', NULL, 'not even an admin can read password hashes');
SELECT throws_ok($$SELECT api.create_user('GAMMA@roles.test', 'gamma-password', 'sales_rep')$$, 'PT409', NULL,
  'emails are unique whatever their case');
SELECT throws_ok($$SELECT api.create_user('delta@roles.test', 'short', 'sales_rep')$$, '22023', NULL, 'a short password is a 400');
SELECT throws_ok($$SELECT api.create_user('delta@roles.test', 'delta-password', 'wizard')$$, '22023', NULL, 'an unknown role is a 400');
SELECT lives_ok($$UPDATE api.users SET role = 'manager' WHERE email = 'beta@roles.test'$$, 'an admin changes a user''s role');
SELECT throws_ok($$UPDATE api.users SET role = 'manager' WHERE email = 'admin@roles.test'$$, 'PT409', NULL,
  'an admin cannot take away their own admin access');
SELECT lives_ok($$INSERT INTO api.settings (key, value) VALUES ('roles.test', '{"on": true}')$$, 'an admin writes settings');
RESET role;

-- analyst: read-only SQL login on the api views; cannot even name the private tables ---------
SET LOCAL role analyst;
SELECT set_config('request.jwt.claims', '', true);
SELECT is((SELECT count(*) FROM api.stores WHERE id LIKE 'R-%'), 3::bigint, 'an analyst reads every store through the views');
SELECT is((SELECT count(*) FROM api.invoice_items WHERE order_id >= 900001), 3::bigint, 'and every invoice line');
SELECT throws_ok('SELECT * FROM data.stores', '42501', NULL, 'an analyst cannot read the private tables');
SELECT throws_ok('SELECT * FROM api.users', '42501', NULL, 'an analyst cannot read the user list');
SELECT throws_ok($$INSERT INTO api.stores (id, name) VALUES ('R-AN', 'Nope')$$, '42501', NULL, 'an analyst cannot write');
RESET role;

-- Logins and tokens ---------------------------------------------------------------------------
SELECT is((SELECT outcome FROM app.login('Alpha@Roles.Test', 'alpha-password', '192.0.2.10')), 'ok',
  'login accepts the right password (email in any case)');
SELECT is((SELECT outcome FROM app.login('alpha@roles.test', 'wrong-password', '192.0.2.10')), 'invalid',
  'login refuses a wrong password');
SELECT is((SELECT outcome FROM app.login('nobody@roles.test', 'wrong-password', '192.0.2.10')), 'invalid',
  'an unknown email gets the same answer as a wrong password');
SELECT is((SELECT array_agg(outcome ORDER BY n) FROM (
             SELECT n, (app.login('beta@roles.test', 'wrong-password', '192.0.2.11')).outcome
             FROM generate_series(1, 6) n) attempts),
  ARRAY['invalid', 'invalid', 'invalid', 'invalid', 'invalid', 'locked'],
  'the sixth failure in a row is locked out (five per account)');
SELECT is((SELECT outcome FROM app.login('beta@roles.test', 'beta-password', '192.0.2.11')), 'locked',
  'the locked account stays locked from that address, even with the right password');
SELECT cmp_ok((SELECT retry_after FROM app.login('beta@roles.test', 'beta-password', '192.0.2.11')), '>', 800,
  'and says when to retry (the 15-minute window)');
SELECT cmp_ok((SELECT retry_after FROM app.login('beta@roles.test', 'beta-password', '192.0.2.12')), '<=', 60,
  'from another address the account is only slowed down (at most a minute)');
SELECT is(pgrst_guard.role_allowed('superhero'), false, 'an unknown role is not allowed for PostgREST''s switch');
SELECT throws_ok($$SELECT pgrst_guard.set_config('role', 'superhero', true)$$, 'PT401', NULL,
  'switching to an unknown role answers 401');
SELECT ok((SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting
           WHERE setrole = 'authenticator'::regrole AND setdatabase = 0) ~ 'search_path=pgrst_guard, pg_catalog',
  'the authenticator resolves set_config in pgrst_guard first');
INSERT INTO data.revoked_tokens (jti, expires_at) VALUES ('dddddddd-0000-4000-8000-000000000001', now() + interval '1 hour');
SELECT set_config('request.jwt.claims', json_build_object('role', 'manager', 'aud', 'mangalm',
  'iat', extract(epoch FROM now())::bigint, 'exp', extract(epoch FROM now()) + 60,
  'jti', 'dddddddd-0000-4000-8000-000000000001')::text, true);
SELECT throws_ok('SELECT app.check_request()', 'PT401', 'this token was revoked (logged out); log in again',
  'a revoked token is refused');
SELECT set_config('request.jwt.claims', json_build_object('role', 'manager', 'aud', 'mangalm',
  'iat', extract(epoch FROM now())::bigint - 100, 'exp', extract(epoch FROM now()) - 1,
  'jti', 'dddddddd-0000-4000-8000-000000000002')::text, true);
SELECT throws_ok('SELECT app.check_request()', 'PT401', 'the token has expired; log in again',
  'an expired token is refused (no 30 s grace)');
SELECT set_config('request.jwt.claims', json_build_object('role', 'manager', 'exp', extract(epoch FROM now()) + 60)::text, true);
SELECT throws_ok('SELECT app.check_request()', 'PT401', NULL, 'a token without audience is refused');
SELECT set_config('request.jwt.claims', json_build_object('role', 'manager', 'aud', 'mangalm',
  'exp', extract(epoch FROM now()) + 60)::text, true);
SELECT throws_ok('SELECT app.check_request()', 'PT401',
  'the token lacks an audience (aud), expiry (exp), issue time (iat) or id (jti); log in for a valid token',
  'a token without jti and iat is refused');
SELECT set_config('request.jwt.claims', json_build_object('role', 'sales_rep', 'aud', 'mangalm',
  'iat', extract(epoch FROM now())::bigint, 'exp', extract(epoch FROM now()) + 60,
  'jti', 'dddddddd-0000-4000-8000-000000000003', 'sub', 'aaaaaaaa-0000-4000-8000-000000000002')::text, true);
SELECT throws_ok('SELECT app.check_request()', 'PT401',
  'the account''s role changed since this token was issued; log in again', 'a token whose account changed role is refused');

SELECT * FROM finish();
ROLLBACK;
