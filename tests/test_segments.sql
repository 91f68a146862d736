-- Customer segments and churn risk on hand-made histories (functions/segments.sql).
BEGIN;
SELECT plan(18);

INSERT INTO data.stores (id, name, source) VALUES
  ('TS-LAPSED', 'Weekly store gone quiet', 'import'),
  ('TS-MONTHLY', 'Monthly store, a bit late', 'import'),
  ('TS-REGULAR', 'Weekly store on time', 'import'),
  ('TS-RETURNS', 'Store with returns', 'import'),
  ('TS-NEW', 'Brand new store', 'import');

-- As of 2025-03-03: TS-LAPSED ordered every 7 days until 2025-01-27 (35 days ago), TS-MONTHLY
-- every 30 days until 2025-01-27 (35 days ago too), TS-REGULAR every 7 days until 2025-03-03.
INSERT INTO data.orders (store_id, source, invoice_number, status, order_date, total_amount)
SELECT 'TS-LAPSED', 'invoice', 'TS-L-' || g, 'invoiced', date '2025-01-27' - 7 * g, 1000 FROM generate_series(0, 7) g
UNION ALL
SELECT 'TS-MONTHLY', 'invoice', 'TS-M-' || g, 'invoiced', date '2025-01-27' - 30 * g, 4000 FROM generate_series(0, 7) g
UNION ALL
SELECT 'TS-REGULAR', 'invoice', 'TS-R-' || g, 'invoiced', date '2025-03-03' - 7 * g, 1000 FROM generate_series(0, 7) g
UNION ALL
SELECT 'TS-NEW', 'invoice', 'TS-N-1', 'invoiced', date '2025-02-21', 700;
-- TS-RETURNS: 1000; then 800 (an invoice of 1000 with a 200 return line: its total is net);
-- a credit note of -150; a void invoice of 5000. Revenue: 1000 + 800 - 150 = 1650.
INSERT INTO data.orders (id, store_id, source, invoice_number, status, order_date, total_amount) OVERRIDING SYSTEM VALUE VALUES
  (920001, 'TS-RETURNS', 'invoice', 'TS-X-1', 'invoiced', '2025-02-03', 1000),
  (920002, 'TS-RETURNS', 'invoice', 'TS-X-2', 'invoiced', '2025-02-17', 800),
  (920003, 'TS-RETURNS', 'invoice', 'TS-X-3', 'invoiced', '2025-02-20', -150),
  (920004, 'TS-RETURNS', 'invoice', 'TS-X-4', 'void', '2025-02-25', 5000);

-- TS-TWICE: 30 order days up to 2025-03-01, the newest 12 one day apart and each with two
-- invoices, the 18 before them 10 days apart. Its last 24 gaps are 11 of 1 day and 13 of 10:
-- a median of 10, if days (not invoices) are counted and positioned.
INSERT INTO data.stores (id, name, source) VALUES ('TS-TWICE', 'Two invoices a day lately', 'import');
INSERT INTO data.orders (store_id, source, invoice_number, status, order_date, total_amount)
SELECT 'TS-TWICE', 'invoice', 'TS-T-' || k || '-' || n, 'invoiced',
       CASE WHEN k <= 11 THEN date '2025-03-01' - k ELSE date '2025-03-01' - 11 - 10 * (k - 11) END, 300
FROM generate_series(0, 29) k, generate_series(1, 2) n
WHERE n = 1 OR k <= 11;

SELECT ok(app.recompute_segments('2025-03-03') >= 5, 'every store with an invoice is segmented');
SELECT is((SELECT order_count FROM data.customer_segments WHERE store_id = 'TS-TWICE'), 30,
          'two invoices on one day are one order day');
SELECT is((SELECT typical_gap_days FROM data.customer_segments WHERE store_id = 'TS-TWICE'), 10.00,
          'the typical gap is the median of the gaps between the last 25 order days, not invoices');

SELECT ok((SELECT churn_risk >= 0.9 FROM data.customer_segments WHERE store_id = 'TS-LAPSED'),
          'a weekly store silent for 5 weeks has a high churn risk');
SELECT ok((SELECT segment_name IN ('hibernating', 'cannot lose', 'lost') FROM data.customer_segments WHERE store_id = 'TS-LAPSED'),
          'and is named as slipping away');
SELECT ok((SELECT churn_risk < 0.5 FROM data.customer_segments WHERE store_id = 'TS-MONTHLY'),
          'a monthly store silent for 5 weeks is not at risk (judged against its own rhythm)');
SELECT ok((SELECT segment_name NOT IN ('hibernating', 'cannot lose', 'lost', 'at risk')
           FROM data.customer_segments WHERE store_id = 'TS-MONTHLY'), 'nor named so');
SELECT ok((SELECT churn_risk <= 0.1 FROM data.customer_segments WHERE store_id = 'TS-REGULAR'),
          'a weekly store that ordered today has a low churn risk');
SELECT is((SELECT format('%s %s', typical_gap_days, recency_days) FROM data.customer_segments WHERE store_id = 'TS-LAPSED'),
          '7.00 35', 'the lapsed store: typical gap 7 days, 35 days since its last order');
SELECT is((SELECT typical_gap_days FROM data.customer_segments WHERE store_id = 'TS-MONTHLY'), 30.00,
          'the monthly store''s typical gap is 30 days');

SELECT is((SELECT total_revenue FROM data.customer_segments WHERE store_id = 'TS-RETURNS'), 1650.00,
          'returns reduce revenue; void invoices do not count');
SELECT is((SELECT order_count FROM data.customer_segments WHERE store_id = 'TS-RETURNS'), 2,
          'orders: the two invoices with a positive total');

SELECT is((SELECT segment_name FROM data.customer_segments WHERE store_id = 'TS-NEW'), 'new',
          'a store with its first order 10 days ago is new');
SELECT ok((SELECT churn_risk < 0.5 FROM data.customer_segments WHERE store_id = 'TS-NEW'),
          'a new store is judged by the typical gap of all stores, and is not at risk yet');

SELECT is_empty($$SELECT store_id FROM data.customer_segments
                  WHERE recency_score NOT BETWEEN 1 AND 5 OR frequency_score NOT BETWEEN 1 AND 5
                     OR monetary_score NOT BETWEEN 1 AND 5 OR segment_value NOT IN ('high', 'medium', 'low')
                     OR segment_name NOT IN ('champions', 'loyal', 'potential loyalist', 'new', 'needs attention',
                                             'at risk', 'cannot lose', 'hibernating', 'lost')$$,
                'RFM scores are quintiles 1-5, every store has a named segment and a value class');
SELECT ok((SELECT recency_score FROM data.customer_segments WHERE store_id = 'TS-REGULAR')
          > (SELECT recency_score FROM data.customer_segments WHERE store_id = 'TS-LAPSED'),
          'the store that ordered today scores higher on recency');

-- As of an earlier date only earlier invoices count; stores with none have no segment.
SELECT ok(app.recompute_segments('2025-01-01') >= 2, 'segments as of an earlier date');
SELECT is((SELECT count(*) FROM data.customer_segments WHERE store_id IN ('TS-NEW', 'TS-RETURNS')), 0::bigint,
          'stores whose first invoice is later have no segment');

SELECT * FROM finish();
ROLLBACK;
