-- Store preferences that act (functions/store_preferences.sql): auto-approve approves a
-- store's new predictions as they are made, recorded as automatic; a credit limit refuses
-- the submit of an order that would pass it, open orders and unpaid invoices included.
BEGIN;
SELECT plan(28);

-- Fixtures, as the owner ---------------------------------------------------------------------
INSERT INTO data.users (id, email, password_hash, role, full_name, sales_person) VALUES
  ('abababab-0000-4000-8000-000000000001', 'rep@prefs.test', 'x', 'sales_rep', 'Rep Prefs', 'Rep Prefs'),
  ('abababab-0000-4000-8000-000000000002', 'manager@prefs.test', 'x', 'manager', 'Manager Prefs', NULL);
INSERT INTO data.stores (id, name, sales_person, source) VALUES
  ('SP-AUTO', 'Auto Approve Stores', 'Rep Prefs', 'import'),
  ('SP-MANUAL', 'Manual Decisions Mart', 'Rep Prefs', 'import'),
  ('SP-CREDIT', 'Credit Limited Traders', 'Rep Prefs', 'import'),
  ('SP-FREE', 'No Limit Wholesale', 'Rep Prefs', 'import');
INSERT INTO data.store_preferences (store_id, auto_approve_predictions, credit_limit) VALUES
  ('SP-AUTO', true, NULL), ('SP-MANUAL', false, NULL), ('SP-CREDIT', false, 1000);
INSERT INTO data.products (id, product_key, name, unit_price, is_active) VALUES
  ('abababab-0000-4000-8000-0000000000a1', 'SP-RICE', 'Prefs Rice 5 kg', 100, true);

-- SP-AUTO and SP-MANUAL order rice every Monday, 6 times, the last on 2025-03-03.
INSERT INTO data.orders (id, store_id, source, invoice_number, status, order_date, total_amount) OVERRIDING SYSTEM VALUE
SELECT 940000 + s.n * 10 + g, s.id, 'invoice', 'SP-' || s.id || '-' || g, 'invoiced', date '2025-03-03' - 7 * g, 300
FROM (VALUES (1, 'SP-AUTO'), (2, 'SP-MANUAL')) s(n, id), generate_series(0, 5) g;
INSERT INTO data.invoice_items (order_id, line_no, product_id, quantity, unit_price, line_total)
SELECT 940000 + s.n * 10 + g, 1, 'abababab-0000-4000-8000-0000000000a1', 3, 100, 300
FROM (VALUES (1), (2)) s(n), generate_series(0, 5) g;

-- Auto-approve --------------------------------------------------------------------------------
SELECT lives_ok($$SELECT app.refresh_derived(ARRAY['SP-AUTO', 'SP-MANUAL'], 'test', '2025-03-04')$$,
                'predictions are made for both stores by the ordinary refresh');
SELECT is((SELECT status FROM data.predicted_orders WHERE store_id = 'SP-AUTO'), 'approved',
          'the auto-approve store''s new prediction is approved as it is made');
SELECT is((SELECT status FROM data.predicted_orders WHERE store_id = 'SP-MANUAL'), 'pending',
          'a store without the preference keeps its prediction pending');
SELECT is((SELECT format('%s %s %s', d.from_status, d.to_status, d.automatic)
           FROM data.prediction_decisions d JOIN data.predicted_orders p ON p.id = d.prediction_id
           WHERE p.store_id = 'SP-AUTO'),
          'pending approved t', 'the decision history records the approval as automatic');
SELECT ok((SELECT d.decided_by IS NULL AND d.reason LIKE 'approved automatically%'
           FROM data.prediction_decisions d JOIN data.predicted_orders p ON p.id = d.prediction_id
           WHERE p.store_id = 'SP-AUTO'), 'nobody is named as the decider, and the reason says why');
SELECT ok((SELECT decided_by IS NULL AND decided_at IS NOT NULL FROM data.predicted_orders WHERE store_id = 'SP-AUTO'),
          'the prediction says when it was decided, by no person');
SELECT is_empty($$SELECT * FROM data.prediction_decisions d JOIN data.predicted_orders p ON p.id = d.prediction_id
                  WHERE p.store_id = 'SP-MANUAL'$$, 'no decision is recorded for the other store');

-- The approval covers the next order: refreshing again makes no second prediction.
SELECT lives_ok($$SELECT app.refresh_derived(ARRAY['SP-AUTO'], 'test', '2025-03-04')$$, 'a second refresh runs');
SELECT is((SELECT count(*)::integer FROM data.predicted_orders WHERE store_id = 'SP-AUTO'), 1,
          'the approved prediction stands; no new one is made until the store orders again');

-- Whoever makes a prediction: a row inserted directly is approved too.
DELETE FROM data.predicted_orders WHERE store_id = 'SP-AUTO';
INSERT INTO data.predicted_orders (id, store_id, predicted_date, confidence, as_of)
VALUES ('abababab-0000-4000-8000-0000000000b1', 'SP-AUTO', '2025-03-10', 0.6, '2025-03-04');
SELECT is((SELECT status FROM data.predicted_orders WHERE id = 'abababab-0000-4000-8000-0000000000b1'), 'approved',
          'a prediction inserted by any writer is approved for an auto-approve store');

-- A manager sets it back to pending: their word stands, at once and at later recomputes.
SET LOCAL role manager;
SELECT set_config('request.jwt.claims', '{"role": "manager", "sub": "abababab-0000-4000-8000-000000000002"}', true);
SELECT lives_ok($$UPDATE api.predicted_orders SET status = 'pending' WHERE id = 'abababab-0000-4000-8000-0000000000b1'$$,
                'a manager moves the approved prediction back to pending');
RESET role;
SELECT is((SELECT status FROM data.predicted_orders WHERE id = 'abababab-0000-4000-8000-0000000000b1'), 'pending',
          'it stays pending');
SELECT is((SELECT format('%s %s', automatic, decided_by) FROM data.prediction_decisions
           WHERE prediction_id = 'abababab-0000-4000-8000-0000000000b1' AND to_status = 'pending'),
          'f abababab-0000-4000-8000-000000000002', 'the person''s decision is recorded as theirs, not automatic');
UPDATE data.predicted_orders SET predicted_date = '2025-03-11', confidence = 0.55
WHERE id = 'abababab-0000-4000-8000-0000000000b1';
SELECT is((SELECT status FROM data.predicted_orders WHERE id = 'abababab-0000-4000-8000-0000000000b1'), 'pending',
          'recomputing it in place does not override the person');

-- Turning the preference on: the store's pending prediction is approved when next recomputed.
UPDATE data.store_preferences SET auto_approve_predictions = true WHERE store_id = 'SP-MANUAL';
UPDATE data.predicted_orders SET confidence = confidence WHERE store_id = 'SP-MANUAL';
SELECT is((SELECT status FROM data.predicted_orders WHERE store_id = 'SP-MANUAL'), 'approved',
          'a store switched to auto-approve gets its recomputed prediction approved');

-- Credit limit ---------------------------------------------------------------------------------
-- SP-CREDIT: limit 1000. An unpaid invoice of 150 (the export's Balance) and a paid one.
INSERT INTO data.orders (id, store_id, source, invoice_number, status, invoice_status, order_date, total_amount)
  OVERRIDING SYSTEM VALUE VALUES
  (940100, 'SP-CREDIT', 'invoice', 'SP-CREDIT-UNPAID', 'invoiced', 'Overdue', '2025-03-01', 150),
  (940101, 'SP-CREDIT', 'invoice', 'SP-CREDIT-PAID', 'invoiced', 'Paid', '2025-02-01', 900);
INSERT INTO data.mangalam_invoices (invoice_number, line_no, store_id, invoice_date, invoice_status, quantity, total, balance)
VALUES ('SP-CREDIT-UNPAID', 1, 'SP-CREDIT', '2025-03-01', 'Overdue', 1, 150, 150),
       ('SP-CREDIT-UNPAID', 2, 'SP-CREDIT', '2025-03-01', 'Overdue', 1, 150, 150),
       ('SP-CREDIT-PAID', 1, 'SP-CREDIT', '2025-02-01', 'Paid', 9, 900, 0);

SET LOCAL role sales_rep;
SELECT set_config('request.jwt.claims', '{"role": "sales_rep", "sub": "abababab-0000-4000-8000-000000000001"}', true);
-- An open order of 500 (submitted), a draft of 900 and a cancelled order of 800 (neither counts).
INSERT INTO api.orders (store_id, notes) VALUES ('SP-CREDIT', 'open 500'), ('SP-CREDIT', 'draft 900'),
                                               ('SP-CREDIT', 'cancelled 800'), ('SP-CREDIT', 'next 400'),
                                               ('SP-CREDIT', 'next 300'), ('SP-FREE', 'big order');
INSERT INTO api.order_items (order_id, product_id, quantity)
SELECT o.id, 'abababab-0000-4000-8000-0000000000a1', q.n
FROM api.orders o JOIN (VALUES ('open 500', 5), ('draft 900', 9), ('cancelled 800', 8), ('next 400', 4), ('next 300', 3),
                               ('big order', 1000)) q(notes, n) ON q.notes = o.notes;
SELECT lives_ok($$UPDATE api.orders SET status = 'submitted' WHERE notes = 'open 500'$$,
                'an order within the limit is submitted (500 + unpaid 150 <= 1000)');
UPDATE api.orders SET status = 'cancelled' WHERE notes = 'cancelled 800';
RESET role;
SELECT is((SELECT format('%s %s %s', open_orders, open_order_count, unpaid_invoices) FROM app.store_credit_used('SP-CREDIT')),
          '500.00 1 150.00', 'credit used: the submitted order and the unpaid invoice balance, not drafts, cancelled or paid');
SET LOCAL role sales_rep;
SELECT throws_ok($$UPDATE api.orders SET status = 'submitted' WHERE notes = 'next 400'$$, 'PT409', NULL,
                 'an order that would pass the limit is refused on submit (409)');
SELECT throws_matching($$UPDATE api.orders SET status = 'submitted' WHERE notes = 'next 400'$$,
                       '^order \d+ \(400\.00\) would take store SP-CREDIT to 1050\.00, over its credit limit of 1000\.00$',
                       'the message gives the order, the total it would reach and the limit');
SELECT is((SELECT status FROM api.orders WHERE notes = 'next 400'), 'draft', 'the refused order stays a draft');
SELECT lives_ok($$UPDATE api.orders SET status = 'submitted' WHERE notes = 'next 300'$$,
                'an order that reaches the limit exactly is accepted (300 + 500 + 150 = 950)');
-- With both submitted, the 400 order would now reach 1350.
SELECT throws_matching($$UPDATE api.orders SET status = 'submitted' WHERE notes = 'next 400'$$,
                       'to 1350\.00, over its credit limit', 'every open order counts');
SELECT lives_ok($$UPDATE api.orders SET status = 'submitted' WHERE notes = 'big order'$$,
                'a store without a credit limit submits any amount');
RESET role;

-- The same rule for managers, and for writers outside the API.
SET LOCAL role manager;
SELECT set_config('request.jwt.claims', '{"role": "manager", "sub": "abababab-0000-4000-8000-000000000002"}', true);
SELECT throws_ok($$UPDATE api.orders SET status = 'submitted' WHERE notes = 'next 400'$$, 'PT409', NULL,
                 'a manager is refused too');
-- Sending an open order back to draft frees its amount.
SELECT lives_ok($$UPDATE api.orders SET status = 'draft' WHERE notes = 'next 300'$$, 'an open order goes back to draft');
SELECT throws_matching($$UPDATE api.orders SET status = 'submitted' WHERE notes = 'next 400'$$,
                       'to 1050\.00, over its credit limit of 1000\.00', 'a draft''s amount no longer counts');
RESET role;
UPDATE data.store_preferences SET credit_limit = 1050 WHERE store_id = 'SP-CREDIT';
SELECT lives_ok($$UPDATE data.orders SET status = 'submitted' WHERE notes = 'next 400'$$,
                'with the limit raised to 1050, the order fits (400 + 500 + 150)');
UPDATE data.store_preferences SET credit_limit = 0 WHERE store_id = 'SP-CREDIT';
SELECT throws_ok($$UPDATE data.orders SET status = 'submitted' WHERE notes = 'next 300'$$, 'PT409', NULL,
                 'the owner (scripts, psql) is held to the limit as well');

SELECT * FROM finish();
ROLLBACK;
