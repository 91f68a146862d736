-- Association rules, upselling recommendations and suggestions for a draft order
-- (functions/upselling.sql), on a hand-made history where tea is always bought with sugar.
BEGIN;
SELECT plan(23);

INSERT INTO data.users (id, email, password_hash, role, full_name, sales_person) VALUES
  ('eeeeeeee-0000-4000-8000-000000000001', 'rep-x@upsell.test', 'x', 'sales_rep', 'Rep X', 'Rep X'),
  ('eeeeeeee-0000-4000-8000-000000000002', 'rep-y@upsell.test', 'x', 'sales_rep', 'Rep Y', 'Rep Y');
INSERT INTO data.stores (id, name, sales_person, source) VALUES
  ('TU-1', 'Tea and sugar one', 'Rep Y', 'import'), ('TU-2', 'Tea and sugar two', 'Rep Y', 'import'),
  ('TU-3', 'Tea and sugar three', 'Rep Y', 'import'), ('TU-SOAP', 'Soap only', 'Rep Y', 'import'),
  ('TU-X', 'Tea without sugar', 'Rep X', 'import');
INSERT INTO data.products (id, product_key, name, category, unit_price, is_active) VALUES
  ('ffffffff-0000-4000-8000-00000000000a', 'TU-TEA', 'Upsell Tea 500 g', 'Tea & Coffee', 200, true),
  ('ffffffff-0000-4000-8000-00000000000b', 'TU-SUGAR', 'Upsell Sugar 1 kg', 'Sugar & Jaggery', 50, true),
  ('ffffffff-0000-4000-8000-00000000000c', 'TU-BISCUIT', 'Upsell Biscuits', 'Biscuits', 30, true),
  ('ffffffff-0000-4000-8000-00000000000d', 'TU-SOAP', 'Upsell Soap', 'Bath Soap', 40, true),
  ('ffffffff-0000-4000-8000-00000000000e', 'TU-OLD', 'Upsell Discontinued', 'Sugar & Jaggery', 10, false);

-- Three orders each, a week apart, ending 2025-03-03. TU-1..3: tea + sugar (+ the
-- discontinued product); TU-SOAP: soap; TU-X: tea + biscuits, never sugar.
INSERT INTO data.orders (id, store_id, source, invoice_number, status, order_date, total_amount) OVERRIDING SYSTEM VALUE
SELECT 930000 + s.n * 10 + g, s.id, 'invoice', 'TU-' || s.id || '-' || g, 'invoiced', date '2025-03-03' - 7 * g, 1000
FROM (VALUES (1, 'TU-1'), (2, 'TU-2'), (3, 'TU-3'), (4, 'TU-SOAP'), (5, 'TU-X')) s(n, id), generate_series(0, 2) g;
INSERT INTO data.invoice_items (order_id, line_no, product_id, quantity, unit_price, line_total)
SELECT 930000 + s.n * 10 + g, l.line_no, l.product_id, 2, 100, l.amount
FROM (VALUES (1), (2), (3)) s(n), generate_series(0, 2) g,
     (VALUES (1, 'ffffffff-0000-4000-8000-00000000000a'::uuid, 800), (2, 'ffffffff-0000-4000-8000-00000000000b'::uuid, 150),
             (3, 'ffffffff-0000-4000-8000-00000000000e'::uuid, 50)) l(line_no, product_id, amount)
UNION ALL
SELECT 930040 + g, 1, 'ffffffff-0000-4000-8000-00000000000d', 5, 40, 200 FROM generate_series(0, 2) g
UNION ALL
SELECT 930050 + g, l.line_no, l.product_id, 2, 100, l.amount
FROM generate_series(0, 2) g,
     (VALUES (1, 'ffffffff-0000-4000-8000-00000000000a'::uuid, 800), (2, 'ffffffff-0000-4000-8000-00000000000c'::uuid, 60)) l(line_no, product_id, amount);

SELECT ok(app.recompute_associations('2025-03-04') > 0, 'association rules are mined');
SELECT is((SELECT format('%s %s %s %s', orders_both, confidence, lift, support) FROM data.product_associations
           WHERE antecedent_id = 'ffffffff-0000-4000-8000-00000000000a' AND consequent_id = 'ffffffff-0000-4000-8000-00000000000b'),
          '9 0.7500 1.2500 0.60000', 'tea -> sugar: in 9 of the 12 orders with tea, sugar is in 9 of 15 (lift 1.25)');
SELECT is_empty($$SELECT * FROM data.product_associations
                  WHERE antecedent_id = 'ffffffff-0000-4000-8000-00000000000a' AND consequent_id = 'ffffffff-0000-4000-8000-00000000000d'$$,
                'products never bought together have no rule');

SELECT is((SELECT count(DISTINCT mined_through_order) || ' ' || min(mined_through_order)
           FROM data.product_associations),
          '1 ' || (SELECT max(id) FROM data.orders WHERE source = 'invoice'),
          'the rules say which invoices they were mined through');
-- Order days with more products than the cap are left out of the mining: with a cap of 2, the
-- three-product orders of TU-1..3 are, so tea -> sugar is gone and only TU-X's pairs are left.
SELECT ok(app.recompute_associations('2025-03-04', 4, 2) > 0, 'mining with a cap of 2 products an order day');
SELECT is_empty($$SELECT * FROM data.product_associations
                  WHERE antecedent_id = 'ffffffff-0000-4000-8000-00000000000a' AND consequent_id = 'ffffffff-0000-4000-8000-00000000000b'$$,
                'order days above the cap give no pairs');
SELECT ok(app.recompute_associations('2025-03-04') > 0, 'mined again with the default cap');

SELECT ok(app.recompute_upselling('2025-03-04', NULL) > 0, 'recommendations are computed');
SELECT is((SELECT product_id FROM data.upselling_recommendations WHERE store_id = 'TU-X' ORDER BY score DESC LIMIT 1),
          'ffffffff-0000-4000-8000-00000000000b'::uuid, 'a product always bought with one the store buys is suggested first');
SELECT matches((SELECT reason FROM data.upselling_recommendations
                WHERE store_id = 'TU-X' AND product_id = 'ffffffff-0000-4000-8000-00000000000b'),
               '^Goes with Upsell Tea 500 g: 75% of orders with it have this too \(lift 1.3\); 3 of 3 similar stores',
               'the reason names the product it goes with, and the similar stores that buy it');
SELECT is((SELECT format('%s %s %s', similar_store_share, score, expected_gain) FROM data.upselling_recommendations
           WHERE store_id = 'TU-X' AND product_id = 'ffffffff-0000-4000-8000-00000000000b'),
          '1.0000 0.8500 127.50', 'score = 0.6 x confidence + 0.4 x similar stores buying it; gain = score x its typical line');
SELECT is_empty($$SELECT * FROM data.upselling_recommendations
                  WHERE store_id = 'TU-X' AND product_id IN ('ffffffff-0000-4000-8000-00000000000a',
                                                             'ffffffff-0000-4000-8000-00000000000c',
                                                             'ffffffff-0000-4000-8000-00000000000e')$$,
                'never what the store already buys, never a discontinued product');

-- Recomputing one store leaves the others' recommendations as they are.
UPDATE data.upselling_recommendations SET reason = 'kept' WHERE store_id <> 'TU-X';
SELECT ok(app.recompute_upselling('2025-03-04', ARRAY['TU-X']) > 0, 'one store is recomputed');
SELECT is((SELECT count(*) FILTER (WHERE reason = 'kept') || ' of ' || count(*) FROM data.upselling_recommendations
           WHERE store_id <> 'TU-X'),
          (SELECT count(*) || ' of ' || count(*) FROM data.upselling_recommendations WHERE store_id <> 'TU-X'),
          'the other stores are not touched');

-- A refresh of every store reuses rules mined as of the same date through the newest
-- invoice, and re-mines them once an invoice came since.
UPDATE data.product_associations SET orders_both = 999;
SELECT lives_ok($$SELECT app.refresh_derived(NULL, 'test', '2025-03-04')$$, 'a refresh of every store');
SELECT ok((SELECT bool_and(orders_both = 999) FROM data.product_associations), 'rules mined from the same data are reused');
INSERT INTO data.orders (id, store_id, source, invoice_number, status, order_date, total_amount) OVERRIDING SYSTEM VALUE
VALUES (930099, 'TU-SOAP', 'invoice', 'TU-TU-SOAP-new', 'invoiced', '2025-03-04', 200);
INSERT INTO data.invoice_items (order_id, line_no, product_id, quantity, unit_price, line_total)
VALUES (930099, 1, 'ffffffff-0000-4000-8000-00000000000d', 5, 40, 200);
SELECT app.refresh_derived(NULL, 'test', '2025-03-04');
SELECT ok((SELECT bool_and(orders_both < 999) FROM data.product_associations), 'a new invoice makes the next refresh re-mine them');

-- A draft order for TU-X with tea in it.
INSERT INTO data.orders (id, store_id, source, status, order_date) OVERRIDING SYSTEM VALUE
VALUES (930900, 'TU-X', 'manual', 'draft', '2025-03-05'), (930901, 'TU-X', 'manual', 'draft', '2025-03-05');
INSERT INTO data.order_items (order_id, product_id, quantity, unit_price) VALUES
  (930900, 'ffffffff-0000-4000-8000-00000000000a', 2, 200),
  (930901, 'ffffffff-0000-4000-8000-00000000000a', 2, 200), (930901, 'ffffffff-0000-4000-8000-00000000000b', 5, 50);
SELECT is((SELECT product_id FROM api.upselling_suggestions(930900) LIMIT 1), 'ffffffff-0000-4000-8000-00000000000b'::uuid,
          'for a draft with tea, sugar is suggested first');
SELECT is_empty($$SELECT * FROM api.upselling_suggestions(930901)
                  WHERE product_id IN ('ffffffff-0000-4000-8000-00000000000a', 'ffffffff-0000-4000-8000-00000000000b',
                                       'ffffffff-0000-4000-8000-00000000000e')$$,
                'never what the draft already has, never a discontinued product');
SELECT throws_ok('SELECT * FROM api.upselling_suggestions(999999999)', 'PT404', NULL, 'an unknown order is refused (404)');

-- Reps: only for the orders of their stores.
SET LOCAL role sales_rep;
SELECT set_config('request.jwt.claims', '{"role": "sales_rep", "sub": "eeeeeeee-0000-4000-8000-000000000001"}', true);
SELECT is((SELECT count(*) FROM api.upselling_suggestions(930900)) > 0, true, 'the rep of the store gets suggestions');
SELECT set_config('request.jwt.claims', '{"role": "sales_rep", "sub": "eeeeeeee-0000-4000-8000-000000000002"}', true);
SELECT throws_ok('SELECT * FROM api.upselling_suggestions(930900)', 'PT404', NULL,
                 'another rep is told the order does not exist');
SET LOCAL role anon;
SELECT set_config('request.jwt.claims', '{"role": "anon"}', true);
SELECT throws_ok('SELECT * FROM api.upselling_suggestions(930900)', '42501', NULL, 'anon may not call it');
RESET role;

SELECT * FROM finish();
ROLLBACK;
