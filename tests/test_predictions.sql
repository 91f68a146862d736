-- Next-order predictions on small hand-computed histories (functions/predictions.sql).
BEGIN;
SELECT plan(67);

-- Fixtures, as the owner ---------------------------------------------------------------------
INSERT INTO data.stores (id, name, source) VALUES
  ('TP-WEEKLY', 'Weekly Kirana', 'import'),
  ('TP-NEW', 'New Provision Store', 'import'),
  ('TP-LAPSED', 'Lapsed Weekly Mart', 'import'),
  ('TP-SKIP', 'Skipping Weekly Traders', 'import');
INSERT INTO data.products (id, product_key, external_id, sku, name, unit_price) VALUES
  ('dddddddd-0000-4000-8000-000000000001', 'TP-ATTA', 'TP-ATTA', 'SKU-ATTA', 'Atta 5 kg', 240),
  ('dddddddd-0000-4000-8000-000000000002', 'TP-DAL', 'TP-DAL', 'SKU-DAL', 'Toor Dal 1 kg', 150),
  ('dddddddd-0000-4000-8000-000000000003', 'TP-TEA', NULL, 'SKU-TEA', 'Leaf Tea 250 g', 120);

-- TP-WEEKLY orders every Monday, 10 times, the last on 2025-03-03. Each order: atta (10 bags,
-- 12 in the last two orders; price 250, 245 in the last order), dal in 3 of the 10 orders, a
-- shipping line (no product) and, once, a return of tea. One void invoice on 2025-03-05 and a
-- credit note (negative total) on 2025-03-04 must change nothing.
INSERT INTO data.orders (id, store_id, source, invoice_number, status, order_date, total_amount)
  OVERRIDING SYSTEM VALUE
SELECT 910000 + g, 'TP-WEEKLY', 'invoice', 'TP-W-' || g, 'invoiced', date '2025-03-03' - 7 * g, 2600
FROM generate_series(0, 9) g;
INSERT INTO data.orders (id, store_id, source, invoice_number, status, order_date, total_amount) OVERRIDING SYSTEM VALUE VALUES
  (910100, 'TP-WEEKLY', 'invoice', 'TP-W-VOID', 'void', '2025-03-05', 5000),
  (910101, 'TP-WEEKLY', 'invoice', 'TP-W-CREDIT', 'invoiced', '2025-03-04', -120);
INSERT INTO data.invoice_items (order_id, line_no, product_id, quantity, unit_price, line_total, is_return, is_product)
SELECT 910000 + g, 1, 'dddddddd-0000-4000-8000-000000000001', CASE WHEN g < 2 THEN 12 ELSE 10 END,
       CASE WHEN g = 0 THEN 245 ELSE 250 END, CASE WHEN g < 2 THEN 12 ELSE 10 END * CASE WHEN g = 0 THEN 245 ELSE 250 END,
       false, true
FROM generate_series(0, 9) g;
INSERT INTO data.invoice_items (order_id, line_no, product_id, item_name, quantity, unit_price, line_total, is_return, is_product)
SELECT 910000 + g, 2, NULL, 'Shipping Charges', 1, 80, 80, false, false FROM generate_series(0, 9) g;
INSERT INTO data.invoice_items (order_id, line_no, product_id, quantity, unit_price, line_total) VALUES
  (910001, 3, 'dddddddd-0000-4000-8000-000000000002', 4, 150, 600),
  (910004, 3, 'dddddddd-0000-4000-8000-000000000002', 4, 150, 600),
  (910007, 3, 'dddddddd-0000-4000-8000-000000000002', 4, 150, 600),
  (910100, 1, 'dddddddd-0000-4000-8000-000000000003', 40, 120, 4800);
INSERT INTO data.invoice_items (order_id, line_no, product_id, quantity, unit_price, line_total, is_return) VALUES
  (910002, 4, 'dddddddd-0000-4000-8000-000000000003', -1, 120, -120, true),
  (910101, 1, 'dddddddd-0000-4000-8000-000000000003', -1, 120, -120, true);

-- TP-NEW: two orders only. TP-LAPSED: weekly for 8 weeks, then silent since 2025-02-10.
-- TP-SKIP: weekly with two 14-day gaps among its last gaps, last order 2025-02-24.
INSERT INTO data.orders (store_id, source, invoice_number, status, order_date, total_amount)
SELECT 'TP-NEW', 'invoice', 'TP-N-' || g, 'invoiced', date '2025-03-01' - 7 * g, 500 FROM generate_series(0, 1) g
UNION ALL
SELECT 'TP-LAPSED', 'invoice', 'TP-L-' || g, 'invoiced', date '2025-02-10' - 7 * g, 700 FROM generate_series(0, 7) g
UNION ALL
SELECT 'TP-SKIP', 'invoice', 'TP-S-' || d, 'invoiced', d, 900
FROM unnest(ARRAY['2025-01-06', '2025-01-13', '2025-01-27', '2025-02-03', '2025-02-10', '2025-02-24']::date[]) d;

-- The forecast -------------------------------------------------------------------------------
SELECT is((SELECT predicted_date FROM app.forecast_dates('2025-03-04', ARRAY['TP-WEEKLY'])),
          '2025-03-10'::date, 'a store ordering every 7 days is predicted 7 days after its last order');
SELECT is((SELECT format('%s %s %s', median_gap, n_orders, last_order) FROM app.forecast_dates('2025-03-04', ARRAY['TP-WEEKLY'])),
          '7.00 10 2025-03-03', 'its typical gap is 7 days over 10 order days (void and credit invoices ignored)');
SELECT is_empty($$SELECT * FROM app.forecast_dates('2025-03-04', ARRAY['TP-NEW'])$$,
                'a store with fewer than 3 orders gets no forecast');
SELECT is((SELECT predicted_date FROM app.forecast_dates('2025-02-01', ARRAY['TP-WEEKLY'])), '2025-02-03'::date,
          'as of an earlier date only the invoices on or before it count');
-- Overdue: TP-SKIP, as of 2025-03-04, has been silent 8 days; of its gaps only the 14-day
-- ones are longer, so it is predicted at its usual skip, not in the past like the baseline.
SELECT is((SELECT format('%s %s', predicted_date, baseline_date) FROM app.forecast_dates('2025-03-04', ARRAY['TP-SKIP'])),
          '2025-03-10 2025-03-03', 'an overdue store is predicted from its longer gaps (baseline: in the past)');
SELECT is((SELECT format('%s %s', predicted_date, rhythm) FROM app.forecast_dates('2025-03-24', ARRAY['TP-LAPSED'])),
          '2025-04-01 f', 'a store silent longer than any of its gaps is predicted as_of + 8: the window of the next 15 days');
SELECT is((SELECT rhythm FROM app.forecast_dates('2025-03-04', ARRAY['TP-WEEKLY'])), true, 'a steady store follows its rhythm');

-- Many cutoffs in one pass (app.forecast_dates_at, which the confidence fit uses): each cutoff's
-- rows are forecast_dates' rows at that date (an early cutoff sees fewer order days, a late one
-- a lapsed store), a repeated or NULL cutoff adds nothing.
SELECT results_eq(
  $$SELECT cutoff, store_id, n_orders, n_gaps, first_order, last_order, elapsed, median_gap, spread_gap, max_gap, n_later,
           n_window, predicted_date, baseline_date, rhythm, recent_orders, preferred_day
    FROM app.forecast_dates_at(ARRAY['2025-03-04', '2025-01-20', '2025-03-24', NULL, '2025-01-20']::date[],
                               ARRAY['TP-WEEKLY', 'TP-NEW', 'TP-LAPSED', 'TP-SKIP']) ORDER BY cutoff, store_id$$,
  $$SELECT c, f.* FROM unnest(ARRAY['2025-01-20', '2025-03-04', '2025-03-24']::date[]) c,
           app.forecast_dates(c, ARRAY['TP-WEEKLY', 'TP-NEW', 'TP-LAPSED', 'TP-SKIP']) f ORDER BY c, f.store_id$$,
  'forecasts for several cutoffs in one pass are the forecasts at each cutoff');
-- Cutoff by cutoff in the order given: the fit sums its sample in this order (float sums
-- depend on it), as it did when it called forecast_dates once per cutoff.
SELECT is((SELECT array_agg(cutoff) FROM (SELECT cutoff, cutoff IS DISTINCT FROM lag(cutoff) OVER () AS first
                                          FROM app.forecast_dates_at(ARRAY['2025-03-04', '2025-01-20', '2025-03-24', '2025-01-20']::date[],
                                                                     ARRAY['TP-WEEKLY', 'TP-LAPSED', 'TP-SKIP'])) x WHERE first),
          ARRAY['2025-03-04', '2025-01-20', '2025-03-24']::date[], 'the rows come cutoff by cutoff, in the order given');

-- Preferred delivery day: the nearest such weekday (Monday 2025-03-10 -> Wednesday 2025-03-12,
-- -> Saturday 2025-03-08), never onto or before as_of.
INSERT INTO data.store_preferences (store_id, preferred_delivery_day) VALUES ('TP-WEEKLY', 'wednesday');
SELECT is((SELECT predicted_date FROM app.forecast_dates('2025-03-04', ARRAY['TP-WEEKLY'])), '2025-03-12'::date,
          'a preferred delivery day moves the date to the nearest such weekday (later)');
UPDATE data.store_preferences SET preferred_delivery_day = 'saturday' WHERE store_id = 'TP-WEEKLY';
SELECT is((SELECT predicted_date FROM app.forecast_dates('2025-03-04', ARRAY['TP-WEEKLY'])), '2025-03-08'::date,
          'or earlier, when that weekday is nearer');
SELECT is((SELECT predicted_date FROM app.forecast_dates('2025-03-06', ARRAY['TP-WEEKLY'])), '2025-03-08'::date,
          'never onto or before as_of');
SELECT is((SELECT array_agg(format('%s %s', cutoff, predicted_date) ORDER BY cutoff)
           FROM app.forecast_dates_at(ARRAY['2025-03-04', '2025-03-06']::date[], ARRAY['TP-WEEKLY'])),
          ARRAY['2025-03-04 2025-03-08', '2025-03-06 2025-03-08'], 'in one pass too, each cutoff moves the date after itself');
DELETE FROM data.store_preferences WHERE store_id = 'TP-WEEKLY';

-- The basket ---------------------------------------------------------------------------------
SELECT set_eq($$SELECT product_id FROM app.forecast_baskets('2025-03-04', ARRAY['TP-WEEKLY']) WHERE in_basket$$,
              ARRAY['dddddddd-0000-4000-8000-000000000001']::uuid[],
              'the basket is the first n ranked products, n = the sum of their probabilities (not returns, not shipping)');
SELECT results_eq($$SELECT product_id, rank, probability, in_basket FROM app.forecast_baskets('2025-03-04', ARRAY['TP-WEEKLY'])
                    ORDER BY rank$$,
                  $$VALUES ('dddddddd-0000-4000-8000-000000000001'::uuid, 1, 1.0000::numeric, true),
                           ('dddddddd-0000-4000-8000-000000000002'::uuid, 2, 0.3123::numeric, false)$$,
                  'without a fit, the probability is the recency-weighted share (0.9^k by order age): atta always, dal 3 of 10 orders');
SELECT is((SELECT format('%s %s %s %s', quantity, unit_price, orders_with, orders_seen)
           FROM app.forecast_baskets('2025-03-04', ARRAY['TP-WEEKLY']) WHERE product_id = 'dddddddd-0000-4000-8000-000000000001'),
          '10 245.00 10 10', 'median recent quantity at the latest price');
SELECT is((SELECT share FROM app.forecast_baskets('2025-03-04', ARRAY['TP-WEEKLY'])
           WHERE product_id = 'dddddddd-0000-4000-8000-000000000002'), 0.300, 'dal was in 3 of the 10 orders');

-- Recompute ------------------------------------------------------------------------------------
SELECT is(app.recompute_predictions('2025-03-04', ARRAY['TP-WEEKLY', 'TP-NEW', 'TP-SKIP']), 2,
          'recompute writes one prediction per store with enough history');
SELECT is((SELECT count(*) FROM data.predicted_orders WHERE store_id = 'TP-NEW'), 0::bigint, 'a new store gets none');
SELECT is((SELECT format('%s %s %s %s', predicted_date, status, as_of, total_amount) FROM data.predicted_orders WHERE store_id = 'TP-WEEKLY'),
          '2025-03-10 pending 2025-03-04 2450.00',
          'the weekly store: pending, 7 days after its last order, amount = basket sum (10 x 245)');
SELECT is((SELECT format('%s %s', count(*), sum(line_amount)) FROM data.predicted_order_items i
           JOIN data.predicted_orders p ON p.id = i.predicted_order_id WHERE p.store_id = 'TP-WEEKLY' AND i.in_basket),
          '1 2450.00', 'its basket has the one regular product');
SELECT is((SELECT string_agg(format('%s:%s', i.item_rank, i.in_basket), ' ' ORDER BY i.item_rank) FROM data.predicted_order_items i
           JOIN data.predicted_orders p ON p.id = i.predicted_order_id WHERE p.store_id = 'TP-WEEKLY'),
          '1:t 2:f', 'and keeps the ranking behind it: dal as the second candidate, not in the basket');
SELECT ok((SELECT confidence BETWEEN 0 AND 1 FROM data.predicted_orders WHERE store_id = 'TP-WEEKLY'),
          'confidence is a probability');
SELECT matches((SELECT justification_text FROM data.predicted_orders WHERE store_id = 'TP-WEEKLY'),
               '^typical gap 7 ± 0 days over the last 10 orders, last order on 2025-03-03; basket: the 1 most likely of 2 ranked products \(1\.3 expected in the order\), from the last 10 orders',
               'the justification says the gap, the history and the basket rule');
SELECT is((SELECT justification -> 'typical_gap_days' FROM data.predicted_orders WHERE store_id = 'TP-WEEKLY'),
          '7.00'::jsonb, 'and carries the evidence as jsonb');
SELECT ok((SELECT priority IN ('high', 'medium', 'low') FROM data.predicted_orders WHERE store_id = 'TP-WEEKLY'),
          'it has a priority');

CREATE TEMP TABLE first_ids AS SELECT store_id, id FROM data.predicted_orders WHERE status = 'pending';
DO 'BEGIN PERFORM app.recompute_predictions(''2025-03-05'', ARRAY[''TP-WEEKLY'', ''TP-SKIP'']); END';
SELECT is((SELECT count(*) FROM data.predicted_orders p JOIN first_ids f USING (store_id, id)), 2::bigint,
          'a pending prediction is replaced in place: same id');
SELECT is((SELECT count(*) FROM data.predicted_orders WHERE store_id = 'TP-WEEKLY' AND status = 'pending'), 1::bigint,
          'still one pending prediction per store');
SELECT is((SELECT as_of FROM data.predicted_orders WHERE store_id = 'TP-WEEKLY'), '2025-03-05'::date, 'with the new as_of');

-- Decisions survive a recompute -----------------------------------------------------------------
UPDATE data.predicted_orders SET status = 'approved', predicted_date = '2025-03-11', decided_at = now()
WHERE store_id = 'TP-WEEKLY';
UPDATE data.predicted_orders SET status = 'dismissed' WHERE store_id = 'TP-SKIP';
CREATE TEMP TABLE decided AS SELECT * FROM data.predicted_orders WHERE store_id IN ('TP-WEEKLY', 'TP-SKIP');
DO 'BEGIN PERFORM app.recompute_predictions(''2025-03-06'', NULL); END';
SELECT set_eq($$SELECT id, status, predicted_date, confidence, total_amount FROM data.predicted_orders
                WHERE store_id IN ('TP-WEEKLY', 'TP-SKIP') AND status <> 'pending'$$,
              $$SELECT id, status, predicted_date, confidence, total_amount FROM decided$$,
              'approved and dismissed predictions are untouched by a recompute');
SELECT is((SELECT count(*) FROM data.predicted_orders WHERE store_id IN ('TP-WEEKLY', 'TP-SKIP') AND status = 'pending'),
          0::bigint, 'while no newer invoice arrived, a decision stands: no new pending prediction');
SELECT is((SELECT count(*) FROM data.predicted_order_items i JOIN decided d ON d.id = i.predicted_order_id
           WHERE d.store_id = 'TP-WEEKLY' AND i.in_basket), 1::bigint, 'the approved basket is kept');

INSERT INTO data.orders (id, store_id, source, invoice_number, status, order_date, total_amount) OVERRIDING SYSTEM VALUE
VALUES (910200, 'TP-WEEKLY', 'invoice', 'TP-W-NEXT', 'invoiced', '2025-03-10', 2450);
INSERT INTO data.invoice_items (order_id, line_no, product_id, quantity, unit_price, line_total)
VALUES (910200, 1, 'dddddddd-0000-4000-8000-000000000001', 10, 245, 2450);
DO 'BEGIN PERFORM app.recompute_predictions(''2025-03-11'', NULL); END';
SELECT is((SELECT predicted_date FROM data.predicted_orders WHERE store_id = 'TP-WEEKLY' AND status = 'pending'),
          '2025-03-17'::date, 'after the next invoice the store gets a new pending prediction');
SELECT is((SELECT p.status FROM data.predicted_orders p JOIN decided d USING (id) WHERE d.store_id = 'TP-WEEKLY'),
          'approved', 'and the approved one is still there');

-- Recomputing a basket rewrites only the lines that changed: an unchanged line keeps its row;
-- a line that no longer matches (here, a quantity edited behind the model's back) is replaced.
CREATE TEMP TABLE tp_lines AS
SELECT i.id, i.product_id FROM data.predicted_order_items i JOIN data.predicted_orders p ON p.id = i.predicted_order_id
WHERE p.store_id = 'TP-WEEKLY' AND p.status = 'pending';
UPDATE data.predicted_order_items SET quantity = quantity + 1
WHERE id = (SELECT id FROM pg_temp.tp_lines WHERE product_id = 'dddddddd-0000-4000-8000-000000000002');
DO 'BEGIN PERFORM app.recompute_predictions(''2025-03-11'', NULL); END';
SELECT set_eq($$SELECT i.id FROM data.predicted_order_items i JOIN data.predicted_orders p ON p.id = i.predicted_order_id
                WHERE p.store_id = 'TP-WEEKLY' AND p.status = 'pending' AND i.product_id <> 'dddddddd-0000-4000-8000-000000000002'$$,
              $$SELECT id FROM pg_temp.tp_lines WHERE product_id <> 'dddddddd-0000-4000-8000-000000000002'$$,
              'a recompute over the same invoices keeps the unchanged lines of a basket');
SELECT is((SELECT format('%s %s', i.id = t.id, i.quantity)
           FROM data.predicted_order_items i JOIN pg_temp.tp_lines t USING (product_id)
           JOIN data.predicted_orders p ON p.id = i.predicted_order_id AND p.status = 'pending' AND p.store_id = 'TP-WEEKLY'
           WHERE i.product_id = 'dddddddd-0000-4000-8000-000000000002'),
          'f 4.0000', 'and writes a changed line anew, with the model''s values');

SELECT is((SELECT round((1 / (1 + exp(-app.item_logit(0.4, 3, 0.1, 12, 2, b))))::numeric, 12)
                   = round(app.logistic(app.item_features(0.4, 3, 0.1, 12, 2), b)::numeric, 12)
           FROM (VALUES (ARRAY[-3.1, 1.3, 0.9, -1.7, 10.8, 0.03, -0.04]::float8[])) v(b)), true,
          'the written-out item logit is the logistic model over app.item_features');

-- Invariants of every stored ranking -----------------------------------------------------------
SELECT is_empty($$SELECT i.predicted_order_id FROM data.predicted_order_items i
                  GROUP BY i.predicted_order_id
                  HAVING count(i.item_rank) <> count(*) OR min(i.item_rank) <> 1 OR max(i.item_rank) <> count(*)
                      OR count(DISTINCT i.item_rank) <> count(*)$$,
                'ranks are 1..n without gaps');
SELECT is_empty($$SELECT 1 FROM data.predicted_order_items i
                  JOIN data.predicted_order_items j ON j.predicted_order_id = i.predicted_order_id AND j.item_rank = i.item_rank + 1
                  WHERE j.item_probability > i.item_probability OR (j.in_basket AND NOT i.in_basket)
                     OR i.item_probability NOT BETWEEN 0 AND 1$$,
                'probabilities are in [0, 1] and never rise with the rank; in_basket lines are a prefix of the ranking');
SELECT is_empty($$SELECT p.id FROM data.predicted_orders p
                  WHERE p.status = 'pending' AND p.total_amount <> (SELECT coalesce(sum(i.line_amount), 0)
                                                                     FROM data.predicted_order_items i
                                                                     WHERE i.predicted_order_id = p.id AND i.in_basket)$$,
                'a prediction''s total is the sum of its basket lines only');

-- The confidence model -----------------------------------------------------------------------
SELECT is(app.fit_calibration('2025-03-04'), NULL, 'with fewer than 30 checkable past predictions there is no fit');
SELECT is((SELECT justification -> 'calibrated' FROM data.predicted_orders WHERE store_id = 'TP-WEEKLY' AND status = 'pending'),
          'false'::jsonb, 'and the prediction says its confidence is uncalibrated');

-- Ordering ----------------------------------------------------------------------------------------
CREATE TEMP TABLE generated AS
SELECT app.generate_order((SELECT id FROM data.predicted_orders WHERE store_id = 'TP-WEEKLY' AND status = 'pending'), NULL) AS id;
SELECT is((SELECT string_agg(oi.product_id::text, ',') FROM data.order_items oi JOIN generated g ON g.id = oi.order_id),
          'dddddddd-0000-4000-8000-000000000001',
          'an order generated from a prediction holds its basket lines, not the further ranked candidates');

-- A partial staging of recent lines (app.fit_item_model's: the stores that ordered after its
-- cutoff): the stores asked for, all their recent order days, and of every other store the
-- products it bought in the last 30 days (the popularity the candidates read); kept for reuse
-- (an upload's refresh), only by a call for the same stores.
INSERT INTO data.invoice_items (order_id, line_no, product_id, quantity, unit_price, line_total)
SELECT o.id, 1, 'dddddddd-0000-4000-8000-000000000003', 5, 120, 600
FROM data.orders o WHERE o.invoice_number IN ('TP-S-2025-01-06', 'TP-S-2025-02-24');
DO 'BEGIN PERFORM app.stage_recent_lines(''2025-03-04'', 12);
          PERFORM app.stage_basket_candidates(''2025-03-04'', ARRAY[''TP-WEEKLY'']); END';
CREATE TEMP TABLE tp_full_candidates AS SELECT store_id, product_id, k, n, u, g, score, score_rank FROM pg_temp.basket_candidates;
DO 'BEGIN PERFORM app.stage_recent_lines(''2025-03-04'', 12, true, ARRAY[''TP-WEEKLY'']);
          PERFORM app.stage_basket_candidates(''2025-03-04'', ARRAY[''TP-WEEKLY'']); END';
SELECT is((SELECT count(*) FROM pg_temp.recent_lines WHERE store_id = 'TP-SKIP'), 0::bigint,
          'a partial staging holds no line of another store');
SELECT bag_eq($$SELECT store_key, product_id FROM pg_temp.recent_other_buyers$$,
              $$SELECT DISTINCT r.store_key, i.product_id FROM app.recent_orders('2025-03-04', 12) r
                JOIN app.basket_lines i ON i.order_id = r.id
                WHERE r.store_id <> 'TP-WEEKLY' AND r.order_date > '2025-03-04'::date - 30$$,
              'but what every other store bought in the last 30 days, each (store, product) once');
SELECT is((SELECT count(DISTINCT order_date) FROM pg_temp.recent_lines WHERE store_id = 'TP-WEEKLY'), 10::bigint,
          'and every recent order day of the stores asked for');
SELECT ok((SELECT g > 0 FROM pg_temp.basket_candidates WHERE product_id = 'dddddddd-0000-4000-8000-000000000003'),
          'popularity still counts the other stores');
SELECT results_eq($$SELECT store_id, product_id, k, n, u, g, score, score_rank FROM pg_temp.basket_candidates ORDER BY 1, 2$$,
                  $$SELECT * FROM pg_temp.tp_full_candidates ORDER BY 1, 2$$,
                  'the candidates of the stores asked for are those of a full staging');
SELECT is(current_setting('mangalm.recent_lines', true), app.recent_lines_mark('2025-03-04', 12, ARRAY['TP-WEEKLY']),
          'a partial staging kept for reuse is marked with its stores');
SELECT is(app.recent_lines_mark('2025-03-04', 12, ARRAY['TP-WEEKLY', 'TP-SKIP', 'TP-WEEKLY']),
          app.recent_lines_mark('2025-03-04', 12, ARRAY['TP-SKIP', 'TP-WEEKLY']),
          'the mark names the stores whatever their order and repeats');
CREATE TEMP TABLE tp_staged AS SELECT to_regclass('pg_temp.recent_lines')::oid AS staging;
DO 'BEGIN PERFORM app.stage_recent_lines(''2025-03-04'', 12, false, ARRAY[''TP-WEEKLY'']); END';
SELECT is(to_regclass('pg_temp.recent_lines')::oid, (SELECT staging FROM tp_staged), 'a call for the same stores reuses it');
DO 'BEGIN PERFORM app.stage_recent_lines(''2025-03-04'', 12, false, ARRAY[''TP-SKIP'']); END';
SELECT isnt(to_regclass('pg_temp.recent_lines')::oid, (SELECT staging FROM tp_staged), 'a call for other stores stages anew');
DO 'BEGIN PERFORM app.stage_recent_lines(''2025-03-04'', 12, true, ARRAY[''TP-WEEKLY'']);
          UPDATE tp_staged SET staging = to_regclass(''pg_temp.recent_lines'')::oid;
          PERFORM app.stage_recent_lines(''2025-03-04'', 12); END';
SELECT ok(to_regclass('pg_temp.recent_lines')::oid <> (SELECT staging FROM tp_staged)
          AND (SELECT count(DISTINCT order_date) FROM pg_temp.recent_lines WHERE store_id = 'TP-SKIP') > 1,
          'and a call for every store stages every store''s lines');

-- Staged in two parts (the stores asked for as lines, the others' last 30 days as (store,
-- product) pairs): the same lines as a full staging holds for them, the same pairs, and the
-- same (store, product) aggregate of the stores asked for, amounts included.
CREATE TEMP TABLE tp_full_lines AS SELECT * FROM pg_temp.recent_lines;
CREATE TEMP TABLE tp_full_products AS SELECT * FROM pg_temp.recent_store_products;
SELECT is((SELECT count(*) FROM pg_temp.recent_other_buyers), 0::bigint,
          'a full staging leaves the other stores'' pairs empty: its lines hold them');
DO 'BEGIN PERFORM app.stage_recent_lines(''2025-03-04'', 12, false, ARRAY[''TP-WEEKLY'', ''TP-WEEKLY'']); END';
SELECT bag_eq($$SELECT * FROM pg_temp.recent_lines$$,
              $$SELECT * FROM tp_full_lines WHERE store_id = 'TP-WEEKLY'$$,
              'a partial staging holds a full one''s lines of its stores, each once');
SELECT bag_eq($$SELECT store_key, product_id FROM pg_temp.recent_other_buyers$$,
              $$SELECT DISTINCT store_key, product_id FROM tp_full_lines
                WHERE store_id <> 'TP-WEEKLY' AND order_date > '2025-03-04'::date - 30$$,
              'and the (store, product) pairs of the others'' lines of the last 30 days, each once');
SELECT results_eq($$SELECT * FROM pg_temp.recent_store_products ORDER BY store_key, product_id$$,
                  $$SELECT p.* FROM tp_full_products p JOIN (SELECT DISTINCT store_key FROM tp_full_lines
                                                            WHERE store_id = 'TP-WEEKLY') s USING (store_key)
                    ORDER BY p.store_key, p.product_id$$,
                  'and the (store, product) aggregate of its stores only, as a full one has it');

-- Recency weights from a set of order days: equal sets weigh exactly the same, so two
-- products a store always bought together tie on the score and are ranked by product key.
SELECT is(app.decayed_days(5), 1 + power(0.9::float8, 2), 'order days 1 and 3 back weigh 1 + 0.9^2');
-- The weekday in integer arithmetic is extract(isodow) on every day of 1990-2059 (before and
-- after its Monday of reference, 2000-01-03).
SELECT is((SELECT count(*) FROM generate_series(date '1990-01-01', date '2059-12-31', interval '1 day') g(t)
           WHERE app.isodow(g.t::date) IS DISTINCT FROM extract(isodow FROM g.t)::integer), 0::bigint,
          'app.isodow is the ISO weekday of every date');
-- The candidates read the weights and day counts from arrays made once a plan: every set of up
-- to 12 order days has exactly app.decayed_days' weight and its number of days.
SELECT is((SELECT count(*) FROM generate_series(0, 4095) d
           WHERE (app.decayed_day_weights())[d + 1] IS DISTINCT FROM app.decayed_days(d)), 0::bigint,
          'the weights array holds app.decayed_days of every set of up to 12 order days');
SELECT is((SELECT count(*) FROM generate_series(0, 4095) d
           WHERE (app.day_counts())[d + 1] IS DISTINCT FROM bit_count(d::bit(32))::integer), 0::bigint,
          'the day counts array holds the number of days of every set');
INSERT INTO data.stores (id, name, source) VALUES ('TP-TIE', 'Tied Basket Stores', 'import');
INSERT INTO data.orders (store_id, source, invoice_number, status, order_date, total_amount)
SELECT 'TP-TIE', 'invoice', 'TP-T-' || d, 'invoiced', d, 500
FROM unnest(ARRAY['2025-02-10', '2025-02-17', '2025-02-24']::date[]) d;
INSERT INTO data.invoice_items (order_id, line_no, product_id, quantity, unit_price, line_total)
SELECT o.id, x.line_no, x.product_id::uuid, 1, 100, 100
FROM data.orders o,
     (VALUES (1, 'dddddddd-0000-4000-8000-000000000003'), (2, 'dddddddd-0000-4000-8000-000000000002')) x(line_no, product_id)
WHERE o.store_id = 'TP-TIE';
DO 'BEGIN PERFORM app.stage_recent_lines(''2025-03-04'', 12);
          PERFORM app.stage_basket_candidates(''2025-03-04'', ARRAY[''TP-TIE'']); END';
SELECT results_eq($$SELECT p.product_key, b.score_rank, b.score = first_value(b.score) OVER (ORDER BY b.score_rank)
                    FROM pg_temp.basket_candidates b JOIN data.products p ON p.id = b.product_id
                    WHERE b.k > 0 ORDER BY b.score_rank$$,
                  $$VALUES ('TP-DAL', 1, true), ('TP-TEA', 2, true)$$,
                  'products bought on the same order days tie exactly, ranked by product key');

-- Ranking a few stores (forecast_baskets' p_ranked: recompute_predictions ranks only the stores
-- that get a prediction) gives exactly their rows of a ranking of every store; a partial
-- staging and a full one give the same rows, never-bought products' quantities included (a
-- full staging reads their medians from the staged lines, a partial one from the invoices).
SELECT results_eq($$SELECT * FROM app.forecast_baskets('2025-03-04', NULL, 20, ARRAY['TP-WEEKLY', 'TP-TIE']) ORDER BY store_id, rank$$,
                  $$SELECT * FROM app.forecast_baskets('2025-03-04') WHERE store_id IN ('TP-WEEKLY', 'TP-TIE') ORDER BY store_id, rank$$,
                  'ranking a few stores gives their rows of a ranking of every store');
SELECT is((SELECT string_agg(DISTINCT store_id, ',') FROM app.forecast_baskets('2025-03-04', NULL, 20, ARRAY['TP-WEEKLY', 'TP-TIE'])),
          'TP-TIE,TP-WEEKLY', 'and no other store''s');
SELECT is((SELECT string_agg(DISTINCT store_id, ',')
           FROM app.forecast_baskets('2025-03-04', ARRAY['TP-WEEKLY', 'TP-SKIP'], 20, ARRAY['TP-WEEKLY', 'TP-TIE'])),
          'TP-WEEKLY', 'with stores in scope too, the stores both name');
SELECT is((SELECT format('%s %s', orders_with, quantity) FROM app.forecast_baskets('2025-03-04')
           WHERE store_id = 'TP-WEEKLY' AND product_id = 'dddddddd-0000-4000-8000-000000000003'), '0 1',
          'a product the store never bought is proposed at the median quantity of every store''s recent lines');
SELECT results_eq($$SELECT * FROM app.forecast_baskets('2025-03-04', ARRAY['TP-WEEKLY']) ORDER BY rank$$,
                  $$SELECT * FROM app.forecast_baskets('2025-03-04') WHERE store_id = 'TP-WEEKLY' ORDER BY rank$$,
                  'a partial staging and a full one propose the same lines');

SELECT * FROM finish();
ROLLBACK;
