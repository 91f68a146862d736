-- The ingest pipeline in SQL: value parsers, the queue (claim, backoff, give up), a staged job
-- processed end to end (the fast and the careful path), and who may run what.
BEGIN;
SELECT plan(41);

-- Dates ---------------------------------------------------------------------------------------
SELECT is(app.parse_date('2024-01-15'), '2024-01-15'::date, 'ISO date');
SELECT is(app.parse_date('2024-01-15 10:30:00'), '2024-01-15'::date, 'ISO date with a time');
SELECT is(app.parse_date('03/04/2024'), '2024-04-03'::date, 'slashed dates are day first by default');
SELECT is(app.parse_date('03/04/2024', 'mdy'), '2024-03-04'::date, 'month first on request');
SELECT is(app.parse_date('15-01-24'), '2024-01-15'::date, 'two-digit years are 20yy');
SELECT is(app.parse_date('15 Jan 2024'), '2024-01-15'::date, 'month names');
SELECT is(app.parse_date('Jan 15, 2024'), '2024-01-15'::date, 'month name first');
SELECT is(app.parse_date('2024-02-30'), NULL, 'an impossible date is no date');
SELECT is(app.parse_date('2023-02-29'), NULL, '29 February of a common year is no date');
SELECT is(app.parse_date('2024-02-29'), '2024-02-29'::date, '29 February of a leap year is');
SELECT is(app.parse_date('15/01/2024', 'mdy'), NULL, 'month 15 is no month');
SELECT is(app.parse_date('today'), NULL, 'words are no dates');

-- Numbers -------------------------------------------------------------------------------------
SELECT is(app.parse_amount('1,234.50'), 1234.50, 'thousands separators');
SELECT is(app.parse_amount('₹ 99.00'), 99.00, 'rupee sign');
SELECT is(app.parse_amount('Rs. 10'), 10::numeric, 'Rs.');
SELECT is(app.parse_amount('INR 1,23,456.78'), 123456.78, 'INR and Indian grouping');
SELECT is(app.parse_amount('$5'), 5::numeric, 'dollar sign');
SELECT is(app.parse_amount('(12.00)'), -12.00, 'accounting negative');
SELECT is(app.parse_amount('-7'), -7::numeric, 'plain negative');
SELECT is(app.parse_amount('18%'), 18::numeric, 'a percentage');
SELECT is(app.parse_amount('12 pcs'), NULL, 'text is no number');
SELECT is(app.parse_amount('1,2'), NULL, 'a comma that is no thousands separator');
SELECT is(app.parse_amount('NaN'), NULL, 'NaN is no number');

-- Helpers -------------------------------------------------------------------------------------
SELECT is(app.csv_cell('a "b", c'), '"a ""b"", c"', 'CSV cells are quoted when needed');
SELECT is(app.store_key(NULL, 'Kirana One'), app.store_key(NULL, 'kirana one'), 'a store id from a name ignores case');
SELECT ok('Shipping Charges' ~* app.non_product_regex() AND NOT 'Discounted Soap' ~* app.non_product_regex(),
          'the default non-product rule matches whole words');

-- A staged job, processed -------------------------------------------------------------------
CREATE TEMP TABLE t_job AS
  SELECT app.begin_upload('sql.csv',
    '{"headers": ["Invoice Date", "Invoice Number", "Customer ID", "Item Name", "Quantity", "Item Price"],
      "fields": {"invoice_date": 1, "invoice_number": 2, "customer_id": 3, "item_name": 4, "quantity": 5, "item_price": 6},
      "extra": []}'::jsonb, 6, '{}'::jsonb, false, 'test') AS id;
SELECT lives_ok(format($$INSERT INTO staging.upload_%s (line_no, pos, reject, c1, c2, c3, c4, c5, c6) VALUES
  (2, 1, NULL, '2024-09-01', 'SQL-1', 'SQL-C', 'Thing', '2', '₹ 1,000'),
  (3, 2, NULL, '2024-09-01', 'SQL-1', 'SQL-C', 'Other', 'two', '5'),
  (4, NULL, 'the line has 2 fields but the header has 6', 'x,y', NULL, NULL, NULL, NULL, NULL)$$, (SELECT id FROM t_job)),
  'lines are staged');
SELECT is((app.finish_upload((SELECT id FROM t_job), 3, 100, 0, 'abc')).status, 'queued', 'the job is queued');
SELECT is((SELECT count(*)::int FROM app.claim_job('sql-test', (SELECT id FROM t_job))), 1, 'a worker claims it');
SELECT is((SELECT app.process_bulk_upload_complete((SELECT id FROM t_job)) ->> 'loaded'), '1', 'one line loaded');
SELECT results_eq(
  format('SELECT status, lines, loaded, rejected, timings ->> %L FROM data.upload_jobs WHERE id = %s', 'numbers', (SELECT id FROM t_job)),
  $$VALUES ('succeeded', 3, 1, 2, 'careful')$$, 'the job succeeded: loaded + rejected = lines');
SELECT results_eq(
  format('SELECT line_no, column_name FROM data.upload_rejects WHERE job_id = %s ORDER BY line_no', (SELECT id FROM t_job)),
  $$VALUES (3, 'Quantity'), (4, NULL)$$, 'the rejects name the line and the column');
SELECT results_eq($$SELECT item_price, quantity FROM data.mangalam_invoices WHERE invoice_number = 'SQL-1'$$,
  $$VALUES (1000.0000::numeric(15,4), 2.0000::numeric(15,4))$$, '₹ 1,000 was read as 1000');
SELECT is((SELECT total_amount FROM data.orders WHERE invoice_number = 'SQL-1'), 2000.00::numeric(14,2), 'the order total');
SELECT ok(to_regclass(format('staging.upload_%s', (SELECT id FROM t_job))) IS NULL, 'the staging table is gone');
SELECT ok(app.release_job((SELECT id FROM t_job)), 'the worker lets the job go');

-- The queue: backoff and giving up ----------------------------------------------------------
CREATE TEMP TABLE t_q AS
  SELECT app.begin_upload('q.csv', '{"headers": [], "fields": {}, "extra": []}'::jsonb, 1) AS id;
SELECT app.finish_upload((SELECT id FROM t_q), 0, 0, 0, 'q');
SELECT app.claim_job('q', (SELECT id FROM t_q));
SELECT results_eq(format($$SELECT status, run_after - now(), attempts FROM app.fail_job(%s, 'boom')$$, (SELECT id FROM t_q)),
  $$VALUES ('queued', interval '4 seconds', 1)$$, 'a first failure waits 2 s x 2^1');
SELECT is((SELECT count(*)::int FROM app.claim_job('q', (SELECT id FROM t_q))), 0, 'not claimed before its time');
UPDATE data.upload_jobs SET run_after = now() - interval '1 second', attempts = 2 WHERE id = (SELECT id FROM t_q);
SELECT app.claim_job('q', (SELECT id FROM t_q));
SELECT results_eq(format($$SELECT status, attempts FROM app.fail_job(%s, 'boom again')$$, (SELECT id FROM t_q)),
  $$VALUES ('failed', 3)$$, 'the third failure is the last');

-- Who may run the pipeline: only its owner ----------------------------------------------------
SELECT ok(NOT has_function_privilege('manager', 'app.process_bulk_upload_complete(bigint)', 'EXECUTE')
          AND NOT has_function_privilege('admin', 'app.claim_job(text, bigint)', 'EXECUTE')
          AND NOT has_function_privilege('sales_rep', 'app.begin_upload(text, jsonb, integer, jsonb, boolean, text, uuid)', 'EXECUTE'),
          'API roles cannot run or claim upload jobs');
SELECT ok(has_table_privilege('manager', 'data.upload_rejects', 'SELECT')
          AND NOT has_table_privilege('sales_rep', 'data.upload_rejects', 'SELECT'),
          'managers read rejected lines, reps do not');

SELECT * FROM finish();
ROLLBACK;
