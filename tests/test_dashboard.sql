-- Dashboard views (views/dashboard.sql): the materialized summary, the rep's summary, sales
-- trends and the track record, on a small hand-computed history dated 2030 (the newest).
BEGIN;
SELECT plan(22);

SELECT has_materialized_view('api', 'dashboard_summary', 'the summary is a materialized view');
SELECT has_index('api', 'dashboard_summary', 'dashboard_summary_id_idx', 'with the unique index REFRESH CONCURRENTLY needs');

DO 'BEGIN PERFORM app.refresh_dashboard(); END';
CREATE TEMP TABLE before AS SELECT * FROM api.dashboard_summary;

INSERT INTO data.users (id, email, password_hash, role, full_name, sales_person) VALUES
  ('abababab-0000-4000-8000-000000000001', 'rep-d@dashboard.test', 'x', 'sales_rep', 'Rep D', 'Rep D');
INSERT INTO data.stores (id, name, sales_person, source) VALUES
  ('TD-A', 'Dashboard store A', 'Rep D', 'import'), ('TD-B', 'Dashboard store B', 'Someone Else', 'import');
INSERT INTO data.products (id, product_key, name, unit_price) VALUES
  ('acacacac-0000-4000-8000-000000000001', 'TD-P1', 'Dashboard product one', 100),
  ('acacacac-0000-4000-8000-000000000002', 'TD-P2', 'Dashboard product two', 300);
-- TD-A: 1000 on 10 June; 800 on 12 June (1000 of P1 with a 200 return: the total is net);
-- a void invoice of 5000 on 13 June. TD-B: 3000 on 11 June.
INSERT INTO data.orders (id, store_id, source, invoice_number, status, order_date, total_amount) OVERRIDING SYSTEM VALUE VALUES
  (940001, 'TD-A', 'invoice', 'TD-1', 'invoiced', '2030-06-10', 1000),
  (940002, 'TD-A', 'invoice', 'TD-2', 'invoiced', '2030-06-12', 800),
  (940003, 'TD-A', 'invoice', 'TD-3', 'void', '2030-06-13', 5000),
  (940004, 'TD-B', 'invoice', 'TD-4', 'invoiced', '2030-06-11', 3000);
INSERT INTO data.invoice_items (order_id, line_no, product_id, quantity, unit_price, line_total, is_return) VALUES
  (940001, 1, 'acacacac-0000-4000-8000-000000000001', 10, 100, 1000, false),
  (940002, 1, 'acacacac-0000-4000-8000-000000000001', 10, 100, 1000, false),
  (940002, 2, 'acacacac-0000-4000-8000-000000000001', -2, 100, -200, true),
  (940003, 1, 'acacacac-0000-4000-8000-000000000002', 50, 100, 5000, false),
  (940004, 1, 'acacacac-0000-4000-8000-000000000002', 10, 300, 3000, false);
INSERT INTO data.backtest_runs (cutoff, horizon, metrics, created_at) VALUES
  ('2030-03-31', 60, '{"dates": {"stores_predicted": 2, "model": {"hit_rate_7d": 0.9, "mae_days": 2.5},
    "baseline": {"hit_rate_7d": 0.7, "mae_days": 4}}, "baskets": {"model": {"recall_at_10": 0.8, "precision_at_10": 0.85},
    "baseline": {"recall_at_10": 0.75, "precision_at_10": 0.5}}, "calibration_max_gap": 0.03}', now() + interval '1 day');

DO 'BEGIN PERFORM app.refresh_dashboard(); END';
SELECT is((SELECT s.total_orders - b.total_orders FROM api.dashboard_summary s, before b), 3::bigint,
          'orders: void invoices do not count');
SELECT is((SELECT s.total_revenue - b.total_revenue FROM api.dashboard_summary s, before b), 4800.00,
          'revenue: net of returns, without void invoices');
SELECT is((SELECT s.total_stores - b.total_stores FROM api.dashboard_summary s, before b), 2::bigint, 'stores');
SELECT is((SELECT top_stores -> 0 ->> 'store_id' FROM api.dashboard_summary), 'TD-B', 'the top store by revenue comes first');
SELECT is((SELECT (p ->> 'revenue')::numeric FROM api.dashboard_summary, jsonb_array_elements(top_products) p
           WHERE p ->> 'product_id' = 'acacacac-0000-4000-8000-000000000001'), 1800.00,
          'product revenue is net of its returns; the void invoice''s 5000 of product two is not counted');
SELECT is((SELECT latest_backtest -> 'model' ->> 'hit_rate' FROM api.dashboard_summary), '0.9',
          'the summary carries the latest backtest');
SELECT is((SELECT format('%s %s %s', hit_rate_7d, baseline_hit_rate_7d, recall_at_10) FROM api.latest_backtest),
          '0.9 0.7 0.8', 'api.latest_backtest: the newest run, model beside baseline');

-- Sales trends: back from the newest invoice (12 June; the void one does not count).
SELECT is((SELECT count(*) FROM api.sales_trends('7d', 'day')), 7::bigint, '7d by day: seven rows');
SELECT is((SELECT format('%s..%s', min(period_start), max(period_end)) FROM api.sales_trends('7d', 'day')),
          '2030-06-06..2030-06-12', 'ending at the newest invoice date');
SELECT is((SELECT format('%s %s %s %s', revenue, orders, active_stores, average_order_value) FROM api.sales_trends('7d', 'day')
           WHERE period_start = '2030-06-12'), '800.00 1 1 800.00', 'a day: revenue net of returns, orders, stores, AOV');
SELECT is((SELECT format('%s %s', revenue, orders) FROM api.sales_trends('7d', 'day') WHERE period_start = '2030-06-08'),
          '0 0', 'days without orders are there with zeros');
SELECT is((SELECT format('%s %s %s %s %s', period_start, period_end, revenue, active_stores, average_order_value)
           FROM api.sales_trends('30d', 'week') ORDER BY period_start DESC LIMIT 1),
          '2030-06-10 2030-06-12 4800.00 2 1600.00', 'by week (from Monday), the last week cut at the newest invoice');
SELECT is((SELECT min(period_start) FROM api.sales_trends('30d', 'week')), '2030-05-14'::date,
          'the first week is cut at the start of the range');
SELECT throws_ok($$SELECT * FROM api.sales_trends('forever', 'day')$$, '22023', NULL, 'an unknown range is refused (400)');
SELECT throws_ok($$SELECT * FROM api.sales_trends('7d', 'hour')$$, '22023', NULL, 'an unknown grain is refused (400)');

-- A rep: their stores only, and not the materialized summary (which holds every store).
SET LOCAL role sales_rep;
SELECT set_config('request.jwt.claims', '{"role": "sales_rep", "sub": "abababab-0000-4000-8000-000000000001"}', true);
SELECT is((SELECT format('%s %s %s', total_stores, total_orders, total_revenue) FROM api.my_summary), '1 2 1800.00',
          'my_summary: a rep''s figures are those of their stores');
SELECT is((SELECT sum(revenue) FROM api.sales_trends('7d', 'day')), 1800.00, 'and so are their sales trends');
SELECT throws_ok('SELECT * FROM api.dashboard_summary', '42501', NULL, 'a rep cannot read the all-stores summary');
SELECT is((SELECT count(*) FROM api.latest_backtest), 1::bigint, 'a rep reads the track record');
RESET role;

SET LOCAL role analyst;
SELECT lives_ok('SELECT * FROM api.dashboard_summary', 'an analyst reads the summary');
RESET role;

SELECT * FROM finish();
ROLLBACK;
