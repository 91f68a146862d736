-- The bulk-upload pipeline: staged CSV lines -> typed, validated lines -> every table.
--
-- gateway/loader.py streams a file with COPY into staging.upload_<job> (one text column per
-- file column, already trimmed; see the loader for why trimming happens there) plus line_no,
-- pos (the line's position within its invoice) and reject (the loader's reason when it could
-- not read the line at all: wrong field count, NUL byte, invalid bytes). A worker then calls
-- app.process_bulk_upload_complete(job) in one transaction, so a crash leaves the database as it
-- was before the job. Everything below is set-based: a few statements over the whole job.
--
-- The loader and the worker log in as mangalm_app, which owns nothing: the entry points they
-- call (begin_upload, report_upload_progress, finish_upload, abandon_upload,
-- process_bulk_upload_complete, and the queue's in functions/jobs.sql) are security definer,
-- run as the owner mangalm_owner, and are the only pipeline functions granted to them.

-- The columns of the Zoho Books invoice-line export, in mangalam_invoices order: the field, how
-- it is typed (text, date, number = numeric(15,4), pct = numeric(8,4)) and its export header.
-- This literal is the only copy of the list. The database reads it here (typing and checks
-- below); gateway/loader.py (header mapping, before any connection exists) and
-- gateway/generate.py (which writes files offline) read the same literal out of this file, so
-- there is nothing to generate or keep in step. Why SQL is the source and not Python: the
-- database is what enforces the types, and a function every process can query stays truthful
-- for psql and BI users too; tests/test_ingest_loader.py checks the two readers agree.
-- (The literal's dollar-quote tag must appear exactly twice in this file.)
CREATE FUNCTION app.ingest_fields() RETURNS TABLE (field text, kind text, header text, ord integer)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT e ->> 0, e ->> 1, e ->> 2, o::integer FROM jsonb_array_elements($fields$[
    ["invoice_date", "date", "Invoice Date"], ["invoice_id", "text", "Invoice ID"],
    ["invoice_number", "text", "Invoice Number"], ["invoice_status", "text", "Invoice Status"],
    ["customer_id", "text", "Customer ID"], ["customer_name", "text", "Customer Name"],
    ["due_date", "date", "Due Date"], ["purchase_order", "text", "Purchase Order"],
    ["sales_order_number", "text", "Sales Order Number"], ["product_id", "text", "Product ID"],
    ["item_name", "text", "Item Name"], ["sku", "text", "SKU"],
    ["brand", "text", "Brand"], ["category_name", "text", "Category Name"],
    ["item_desc", "text", "Item Desc"], ["quantity", "number", "Quantity"],
    ["usage_unit", "text", "Usage unit"], ["item_price", "number", "Item Price"],
    ["mrp", "number", "MRP"], ["discount", "number", "Discount"],
    ["discount_amount", "number", "Discount Amount"], ["item_total", "number", "Item Total"],
    ["subtotal", "number", "SubTotal"], ["total", "number", "Total"],
    ["balance", "number", "Balance"], ["item_tax_pct", "pct", "Item Tax %"],
    ["item_tax_amount", "number", "Item Tax Amount"], ["hsn_sac", "text", "HSN/SAC"],
    ["currency_code", "text", "Currency Code"], ["warehouse_name", "text", "Warehouse Name"],
    ["sales_person", "text", "Sales person"], ["billing_city", "text", "Billing City"],
    ["billing_state", "text", "Billing State"], ["billing_country", "text", "Billing Country"],
    ["billing_code", "text", "Billing Code"], ["shipping_city", "text", "Shipping City"],
    ["shipping_state", "text", "Shipping State"], ["shipping_country", "text", "Shipping Country"],
    ["shipping_code", "text", "Shipping Code"], ["payment_terms", "text", "Payment Terms"],
    ["notes", "text", "Notes"]
  ]$fields$::jsonb) WITH ORDINALITY AS f (e, o)
$$;

-- The date a cell means, or NULL when it is not a real date. ISO (YYYY-MM-DD, also with a
-- time after it) always; D/M/Y with / - or . when p_order is 'dmy' (the default: Indian
-- exports), M/D/Y when 'mdy'; two-digit years are 20yy; month names (15 Jan 2024, Jan 15, 2024).
-- Called once per distinct date text of a job (a few hundred), never per line.
CREATE FUNCTION app.parse_date(p_value text, p_order text DEFAULT 'dmy') RETURNS date
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
  v text := lower(btrim(p_value));
  p text[];
  y integer;
  m integer;
  d integer;
BEGIN
  IF v IS NULL OR v = '' THEN
    RETURN NULL;
  END IF;
  p := regexp_match(v, '^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[t ][0-9:.+z -]*)?$');
  IF p IS NOT NULL THEN
    y := p[1]; m := p[2]; d := p[3];
  ELSE
    p := regexp_match(v, '^(\d{1,2})[-/.](\d{1,2})[-/.](\d{4}|\d{2})(?:[t ][0-9:.+z -]*)?$');
    IF p IS NOT NULL THEN
      IF p_order = 'mdy' THEN m := p[1]; d := p[2]; ELSE d := p[1]; m := p[2]; END IF;
      y := p[3];
    ELSE
      -- 15 Jan 2024, 15-jan-24, 15 January 2024
      p := regexp_match(v, '^(\d{1,2})(?:st|nd|rd|th)?[- /.]?([a-z]{3,9})\.?[- /.,]*(\d{4}|\d{2})$');
      IF p IS NOT NULL THEN
        d := p[1]; y := p[3];
        m := (array_position(ARRAY['jan','feb','mar','apr','may','jun','jul','aug','sep','oct','nov','dec'],
                             left(p[2], 3)));
      ELSE
        -- Jan 15, 2024
        p := regexp_match(v, '^([a-z]{3,9})\.?[- /.]?(\d{1,2})(?:st|nd|rd|th)?[- /.,]*(\d{4}|\d{2})$');
        IF p IS NULL THEN
          RETURN NULL;
        END IF;
        d := p[2]; y := p[3];
        m := (array_position(ARRAY['jan','feb','mar','apr','may','jun','jul','aug','sep','oct','nov','dec'],
                             left(p[1], 3)));
      END IF;
    END IF;
    IF y < 100 THEN
      y := 2000 + y;
    END IF;
  END IF;
  IF m BETWEEN 1 AND 12 AND y BETWEEN 1 AND 9999 AND d BETWEEN 1 AND
     extract(day FROM make_date(y, m, 1) + interval '1 month' - interval '1 day') THEN
    RETURN make_date(y, m, d);
  END IF;
  RETURN NULL;  -- 2024-02-30, 31/04/2024, month 13: not a date
END
$$;

-- A money or quantity text with currency marks, blanks, thousands separators (1,234.50 and
-- 1,23,456.00) and accounting negatives ((12.00)) taken away: the plain number it means, as
-- text. The regular expressions run only for cells that are not plain numbers already.
CREATE FUNCTION app.normalize_amount(p_value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT regexp_replace(
           regexp_replace(
             regexp_replace(p_value, '(₹|\mRs\.?|\mINR\M|\mUSD\M|\$|€|£|%|\s|\u00a0)', '', 'gi'),
             '^\((.*)\)$', '-\1'),
           '(\d),(?=\d{2,3}(\D|$))', '\1', 'g')
$$;

-- The number a cell means, or NULL when it is not a number (then the line is rejected, the
-- column named). Plain numbers are cast straight away; the rest are normalised first.
CREATE FUNCTION app.parse_amount(p_value text) RETURNS numeric
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE
    WHEN p_value ~ '^-?[0-9]+(\.[0-9]+)?$' THEN p_value::numeric
    WHEN app.normalize_amount(p_value) ~ '^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,3})?$'
      THEN app.normalize_amount(p_value)::numeric
  END
$$;

-- The store id for a line: the export's Customer ID, else a stable id derived from the
-- customer's name (so the same name always lands on the same store).
CREATE FUNCTION app.store_key(p_customer_id text, p_customer_name text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(p_customer_id, 'NAME-' || upper(left(md5(lower(p_customer_name)), 12)))
$$;

-- The default rule for lines that are not products (shipping, charges, discounts, ...): a
-- list of case-insensitive regular expressions matched against the item name of lines that
-- have neither a Product ID nor a SKU. Admins change it in data.settings ('non_product_patterns').
CREATE FUNCTION app.default_non_product_patterns() RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT '["\\mshipping\\M", "\\mpostage\\M", "\\mcourier\\M", "\\mfreight\\M",
           "\\mbank charges?\\M", "\\mdiscount\\M", "\\madjustment\\M", "\\mround(ing)?[ -]?off\\M"]'::jsonb
$$;

-- One regular expression for the non-product rule in force (the setting, else the default).
CREATE FUNCTION app.non_product_regex() RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT coalesce(string_agg('(?:' || p || ')', '|'), '(?!)')
  FROM jsonb_array_elements_text(coalesce(
         (SELECT value FROM data.settings WHERE key = 'non_product_patterns' AND jsonb_typeof(value) = 'array'),
         app.default_non_product_patterns())) AS p
$$;

-- The setting row exists from the first migrate on, so admins see the rule they can change.
INSERT INTO data.settings (key, value, description)
VALUES ('non_product_patterns', app.default_non_product_patterns(),
        'Case-insensitive regular expressions: a line without Product ID and SKU whose item name '
        'matches one is not a product (kept and flagged, never a product or a predicted item)')
ON CONFLICT (key) DO NOTHING;

-- One CSV cell: quoted when it holds a comma, a quote or a line break (for rejected lines,
-- which are written back as the CSV line the loader read).
CREATE FUNCTION app.csv_cell(p_value text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN p_value IS NULL THEN ''
              WHEN p_value = '' OR p_value ~ '[,"\r\n]' THEN '"' || replace(p_value, '"', '""') || '"'
              ELSE p_value END
$$;

-- The SQL expression (over a staging row s with n cells c1..cn) of a rejected line written back
-- as one CSV line, as app.csv_cell per cell would write it. Most lines have no cell to quote:
-- when the cells run together hold no comma, quote or line break and none is empty, the line
-- is the cells joined by commas (a NULL written as nothing, as csv_cell does); other lines
-- take app.csv_cell per cell. On the real export's 115,524 rejects (17 cells, 2,505 lines to
-- quote) the validation's CPU went from 0.93 s to ~0.65 s with this and the changes in
-- app.ingest_validate; of the ways measured, || and LIKE were cheaper than concat() and a
-- regular expression (~0.05 s), and octet_length(c) = 0 than '' IN (cells).
CREATE FUNCTION app.ingest_raw_line(p_ncols integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT format($f$CASE WHEN (%s) LIKE ANY (ARRAY['%%,%%', '%%"%%', E'%%\r%%', E'%%\n%%']) OR %s THEN %s ELSE %s END$f$,
                string_agg(format('coalesce(s.c%s, '''')', i), ' || ' ORDER BY i),
                string_agg(format('octet_length(s.c%s) = 0', i), ' OR ' ORDER BY i),
                string_agg(format('app.csv_cell(s.c%s)', i), ' || '','' || ' ORDER BY i),
                string_agg(format('coalesce(s.c%s, '''')', i), ' || '','' || ' ORDER BY i))
  FROM generate_series(1, p_ncols) i
$$;

-- Start an upload: the job row (status 'receiving') and its staging table with n text
-- columns c1..cn. Called by gateway/loader.py once the header has been read and accepted.
CREATE FUNCTION app.begin_upload(p_filename text, p_columns jsonb, p_ncols integer,
                                 p_options jsonb DEFAULT '{}', p_dry_run boolean DEFAULT false,
                                 p_source text DEFAULT 'cli', p_created_by uuid DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_id bigint;
  v_table text;
BEGIN
  IF p_ncols NOT BETWEEN 1 AND 1500 THEN
    RAISE EXCEPTION 'a file must have between 1 and 1500 columns, this one has %', p_ncols;
  END IF;
  INSERT INTO data.upload_jobs (status, filename, columns, options, dry_run, source, created_by)
  VALUES ('receiving', p_filename, p_columns, coalesce(p_options, '{}'), p_dry_run, p_source, p_created_by)
  RETURNING id INTO v_id;
  v_table := 'upload_' || v_id;
  -- Unlogged: the staged copy is throw-away (a crash during receiving fails the job anyway),
  -- and skipping WAL makes the COPY cheaper.
  EXECUTE format('CREATE UNLOGGED TABLE staging.%I (line_no integer NOT NULL, pos integer, reject text, %s)',
                 v_table, (SELECT string_agg(format('c%s text', i), ', ') FROM generate_series(1, p_ncols) i));
  UPDATE data.upload_jobs SET staging_table = v_table WHERE id = v_id;
  -- The loader's session holds the job until app.finish_upload: if it dies, the job is seen
  -- as abandoned (app.expire_abandoned_uploads).
  PERFORM pg_advisory_lock(app.lock_class('upload_job'), v_id::integer);
  RETURN v_id;
END
$$;

-- Progress while receiving: counts so far, and an upload_progress event.
CREATE FUNCTION app.report_upload_progress(p_job bigint, p_lines integer, p_bytes bigint, p_percent numeric)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
  UPDATE data.upload_jobs SET lines = p_lines, bytes = p_bytes WHERE id = p_job AND status = 'receiving';
  PERFORM app.publish_event('upload_progress', jsonb_build_object('job_id', p_job,
    'phase', 'receiving', 'lines', p_lines, 'percent', round(p_percent, 1)));
END
$$;

-- The whole file is staged: the job becomes runnable and the workers are woken up.
CREATE FUNCTION app.finish_upload(p_job bigint, p_lines integer, p_bytes bigint, p_skipped integer,
                                  p_sha256 text, p_options jsonb DEFAULT '{}')
RETURNS data.upload_jobs
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  j data.upload_jobs;
BEGIN
  UPDATE data.upload_jobs
  SET status = 'queued', lines = p_lines, bytes = p_bytes, skipped_lines = p_skipped, sha256 = p_sha256,
      options = options || coalesce(p_options, '{}'), received_at = now(), run_after = now()
  WHERE id = p_job AND status = 'receiving'
  RETURNING * INTO j;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'upload job % is not receiving (it may have been abandoned)', p_job;
  END IF;
  PERFORM pg_notify('mangalm_jobs', p_job::text);
  PERFORM app.publish_event('upload_progress', jsonb_build_object('job_id', p_job,
    'phase', 'queued', 'lines', p_lines, 'percent', 100));
  PERFORM app.release_job(p_job);
  RETURN j;
END
$$;

-- An upload that could not be received (the client went away, the file was refused mid-way):
-- the job fails at once, its staging table goes.
CREATE FUNCTION app.abandon_upload(p_job bigint, p_error text) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_table text;
BEGIN
  UPDATE data.upload_jobs SET status = 'failed', last_error = p_error, message = p_error, finished_at = now()
  WHERE id = p_job AND status = 'receiving'
  RETURNING staging_table INTO v_table;
  IF v_table IS NOT NULL THEN
    EXECUTE format('DROP TABLE IF EXISTS staging.%I', v_table);
  END IF;
  PERFORM app.release_job(p_job);
END
$$;

-- The job's processing, one step per function, in the order the orchestrator below calls them:
--   app.ingest_prepare      the job, its lock, its staged lines counted
--   app.ingest_parse        SQL expressions per field, the checks, the look-ups (dates, void,
--                           non-product names, this job's invoices)
--   app.ingest_validate     numbers typed (fast or careful), rejects written
--   app.ingest_write_lines  earlier versions of the invoices replaced by the valid lines
--   app.derive_from_lines   stores, products, orders, invoice_items
--   app.refresh_derived     the analytics of the touched stores (functions/refresh.sql)
-- The steps hand each other a plan (jsonb: field -> expression, header, checks); the temporary
-- tables they make (pg_temp.ingest_*) live until the job's transaction ends.

-- Step 1: the job row, locked, checked and ready; raises when it cannot be processed. Jobs are
-- applied one at a time (an advisory lock): two jobs upserting the same stores and products at
-- once could deadlock, and applying them in order keeps "the later upload wins" true.
CREATE FUNCTION app.ingest_prepare(p_job bigint) RETURNS data.upload_jobs
LANGUAGE plpgsql AS $$
DECLARE
  j data.upload_jobs;
  stg text;
  v_staged integer;
  v_lines integer;
BEGIN
  SELECT * INTO j FROM data.upload_jobs WHERE id = p_job FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'upload job % does not exist', p_job;
  END IF;
  IF j.status NOT IN ('queued', 'running') THEN
    RAISE EXCEPTION 'upload job % is %, not waiting to be processed', p_job, j.status;
  END IF;
  IF j.staging_table IS NULL OR to_regclass(format('staging.%I', j.staging_table)) IS NULL THEN
    RAISE EXCEPTION 'the staged lines of upload job % are gone; upload the file again', p_job;
  END IF;
  PERFORM pg_advisory_xact_lock(app.lock_class('ingest'), 0);
  -- Memory for this transaction only: hash aggregates and joins over a million lines stay in
  -- memory.
  PERFORM set_config('work_mem', '256MB', true);
  -- JIT compiling these wide expressions (40 columns, a CASE per check) took ~0.5 s per
  -- statement: ten times the whole 14,464-line demo job. Off for the job.
  PERFORM set_config('jit', 'off', true);
  stg := format('staging.%I', j.staging_table);
  -- Fresh statistics first: without them the planner takes `reject IS NULL` to keep 0.5% of
  -- the lines and picks nested loops that made the demo job take seconds instead of 0.2 s.
  -- Only the columns plans depend on: ANALYZE of all 40 text columns sorted 40 samples (~0.1 s).
  EXECUTE format('ANALYZE %s (line_no, reject)', stg);
  EXECUTE format('SELECT count(*) FROM %s', stg) INTO v_staged;
  v_lines := coalesce(j.lines, v_staged);
  IF v_staged <> v_lines THEN
    RAISE EXCEPTION 'upload job % has % staged lines but the file had % data lines; upload it again',
      p_job, v_staged, v_lines;
  END IF;
  j.lines := v_lines;
  RETURN j;
END
$$;

-- Step 2: the plan of a job: for each field its SQL expression over a staging row s and the
-- header the file used; the checks a line must pass (conditions, messages, the column each
-- names); and the look-up tables pg_temp.ingest_dates, ingest_void, ingest_nonproduct and
-- ingest_invoices. Also says whether any line can fail a check (need_checks).
CREATE FUNCTION app.ingest_parse(j data.upload_jobs) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  stg text := format('staging.%I', j.staging_table);
  fields jsonb := j.columns -> 'fields';
  headers jsonb := j.columns -> 'headers';
  v_order text := CASE WHEN j.options ->> 'date_order' = 'mdy' THEN 'mdy' ELSE 'dmy' END;
  x jsonb := '{}';         -- field -> SQL expression over the staging row s
  hdr jsonb := '{}';       -- field -> the header the file used for it
  r record;
  v_date_joins text := '';
  v_dates text[] := '{}';
  v_bad text[] := '{}';    -- per check: a condition that is true when the line is bad
  v_msg text[] := '{}';    -- per check: the message
  v_colname text[] := '{}';
  v_extra text := 'NULL::jsonb';
  v_np_regex text := app.non_product_regex();
  v_date_checks integer := 0;
  v_plain_bad text;
  v_need_checks boolean;
BEGIN
  -- Expressions per field over the staging row s (a field the file lacks is NULL).
  FOR r IN SELECT f.field, f.kind, f.header FROM app.ingest_fields() f ORDER BY f.ord LOOP
    IF fields ? r.field THEN
      x := x || jsonb_build_object(r.field, 's.c' || (fields ->> r.field)::integer);
      hdr := hdr || jsonb_build_object(r.field, coalesce(headers ->> ((fields ->> r.field)::integer - 1), r.header));
    ELSE
      x := x || jsonb_build_object(r.field, 'NULL::text');
      hdr := hdr || jsonb_build_object(r.field, r.header);
    END IF;
  END LOOP;

  -- The checks, in column order; a line failing any is rejected with every reason it failed.
  v_bad := v_bad || format('coalesce(%s, %s) IS NULL', x ->> 'invoice_number', x ->> 'invoice_id');
  v_msg := v_msg || format('%L', hdr ->> CASE WHEN fields ? 'invoice_number' THEN 'invoice_number' ELSE 'invoice_id' END || ' is empty');
  v_colname := v_colname || (hdr ->> CASE WHEN fields ? 'invoice_number' THEN 'invoice_number' ELSE 'invoice_id' END);
  v_bad := v_bad || format('%s IS NULL', x ->> 'invoice_date');
  v_msg := v_msg || format('%L', (hdr ->> 'invoice_date') || ' is empty');
  v_colname := v_colname || (hdr ->> 'invoice_date');
  FOR r IN SELECT f.field FROM app.ingest_fields() f WHERE f.kind = 'date' AND fields ? f.field ORDER BY f.ord LOOP
    v_bad := v_bad || format('(%s IS NOT NULL AND %I.d IS NULL)', x ->> r.field, 'd_' || r.field);
    v_date_checks := v_date_checks + 1;
    -- (The header is an argument of the message's format(), never part of its format string:
    -- the export's own `Item Tax %` would be read as a format specifier and fail the job.)
    v_msg := v_msg || format('format(%L, %L, %s)', '%s: "%s" is not a valid date ('
             || CASE v_order WHEN 'mdy' THEN 'expected YYYY-MM-DD or MM/DD/YYYY'
                ELSE 'expected YYYY-MM-DD or DD/MM/YYYY; use --date-order mdy for MM/DD/YYYY' END || ')',
             hdr ->> r.field, x ->> r.field);
    v_colname := v_colname || (hdr ->> r.field);
  END LOOP;
  v_bad := v_bad || format('coalesce(%s, %s) IS NULL', x ->> 'customer_id', x ->> 'customer_name');
  v_msg := v_msg || quote_literal('no customer: ' || concat_ws(' and ', CASE WHEN fields ? 'customer_id' THEN hdr ->> 'customer_id' END,
                                                               CASE WHEN fields ? 'customer_name' THEN hdr ->> 'customer_name' END) || ' empty');
  v_colname := v_colname || (hdr ->> CASE WHEN fields ? 'customer_id' THEN 'customer_id' ELSE 'customer_name' END);
  v_bad := v_bad || format('(octet_length(%1$s) > 255 AND length(%1$s) > 255)', x ->> 'customer_id');
  v_msg := v_msg || quote_literal((hdr ->> 'customer_id') || ' is longer than 255 characters');
  v_colname := v_colname || (hdr ->> 'customer_id');
  v_bad := v_bad || format('coalesce(%s, %s, %s) IS NULL', x ->> 'product_id', x ->> 'sku', x ->> 'item_name');
  v_msg := v_msg || quote_literal('no item: ' || concat_ws(', ', CASE WHEN fields ? 'product_id' THEN hdr ->> 'product_id' END,
                                                           CASE WHEN fields ? 'sku' THEN hdr ->> 'sku' END,
                                                           CASE WHEN fields ? 'item_name' THEN hdr ->> 'item_name' END) || ' empty');
  v_colname := v_colname || (hdr ->> CASE WHEN fields ? 'item_name' THEN 'item_name' WHEN fields ? 'product_id' THEN 'product_id' ELSE 'sku' END);
  v_bad := v_bad || format('%s IS NULL', x ->> 'quantity');
  v_msg := v_msg || quote_literal((hdr ->> 'quantity') || ' is empty');
  v_colname := v_colname || (hdr ->> 'quantity');
  v_bad := v_bad || format('coalesce(%s, %s) IS NULL', x ->> 'item_price', x ->> 'item_total');
  v_msg := v_msg || quote_literal('no price: ' || concat_ws(' and ', CASE WHEN fields ? 'item_price' THEN hdr ->> 'item_price' END,
                                                            CASE WHEN fields ? 'item_total' THEN hdr ->> 'item_total' END) || ' empty');
  v_colname := v_colname || (hdr ->> CASE WHEN fields ? 'item_price' THEN 'item_price' ELSE 'item_total' END);

  -- Lookups. Dates, statuses, item names and invoice numbers repeat a lot: one scan collects
  -- their distinct values (hash aggregates, one per grouping set), then the expensive parts
  -- (date parsing, regular expressions) run once per distinct value instead of once per line.
  FOR r IN SELECT f.field FROM app.ingest_fields() f WHERE f.kind = 'date' AND fields ? f.field LOOP
    v_dates := v_dates || (x ->> r.field);
    v_date_joins := v_date_joins || format(' LEFT JOIN pg_temp.ingest_dates %1$I ON %1$I.v = %2$s',
                                           'd_' || r.field, x ->> r.field);
  END LOOP;
  -- The checks that need no lookup (required values, lengths) ride along as one more grouping
  -- set: when no line fails them, no date is invalid and the loader rejected nothing, the
  -- validation pass below is skipped (~1.5 s of CPU per million clean lines).
  v_plain_bad := '(' || array_to_string(v_bad[1:2] || v_bad[3 + v_date_checks:], ' OR ') || ')';
  DROP TABLE IF EXISTS pg_temp.ingest_distinct;
  -- (A field the file lacks is grouped as a constant of its own, so no two grouping sets are
  -- the same expression and grouping() tells them apart.)
  EXECUTE format($q$
    CREATE TEMP TABLE ingest_distinct ON COMMIT DROP AS
    SELECT CASE WHEN grouping(%1$s) = 0 THEN 'date1' WHEN grouping(%2$s) = 0 THEN 'date2'
                WHEN grouping(%3$s) = 0 THEN 'status' WHEN grouping(%4$s) = 0 THEN 'invoice'
                WHEN grouping(%5$s) = 0 THEN 'name' ELSE 'bad' END AS kind,
           CASE WHEN grouping(%1$s) = 0 THEN %1$s WHEN grouping(%2$s) = 0 THEN %2$s WHEN grouping(%3$s) = 0 THEN %3$s
                WHEN grouping(%4$s) = 0 THEN %4$s WHEN grouping(%5$s) = 0 THEN %5$s ELSE (%7$s)::text END AS v,
           count(*) AS n
    FROM %6$s s WHERE s.reject IS NULL
    GROUP BY GROUPING SETS ((%1$s), (%2$s), (%3$s), (%4$s), (%5$s), (%7$s))
    $q$, coalesce(v_dates[1], '''absent:date1''::text'), coalesce(v_dates[2], '''absent:date2''::text'),
    CASE WHEN fields ? 'invoice_status' THEN x ->> 'invoice_status' ELSE '''absent:status''::text' END,
    format('coalesce(%s, %s)', x ->> 'invoice_number', x ->> 'invoice_id'),
    CASE WHEN fields ? 'item_name' THEN format('CASE WHEN %s IS NULL AND %s IS NULL THEN %s END',
                                                x ->> 'product_id', x ->> 'sku', x ->> 'item_name')
         ELSE '''absent:name''::text' END,
    stg, v_plain_bad);
  -- The look-ups read only the kinds of the fields the file has: a field it lacks was grouped
  -- as its marker above, while a cell of a field it has may hold any text, 'absent:…' too
  -- (filtering values by that prefix once let such a date skip every check and fail the job).
  DROP TABLE IF EXISTS pg_temp.ingest_dates;
  CREATE TEMP TABLE ingest_dates ON COMMIT DROP AS
    SELECT v, app.parse_date(v, v_order) AS d FROM pg_temp.ingest_distinct
    WHERE kind = ANY ((ARRAY['date1', 'date2'])[1:cardinality(v_dates)]) AND v IS NOT NULL GROUP BY v;
  DROP TABLE IF EXISTS pg_temp.ingest_void;
  CREATE TEMP TABLE ingest_void ON COMMIT DROP AS
    SELECT v FROM pg_temp.ingest_distinct
    WHERE kind = 'status' AND fields ? 'invoice_status' AND v ~* '^\s*(void|voided|cancell?ed|cancel)\s*$';
  DROP TABLE IF EXISTS pg_temp.ingest_nonproduct;
  CREATE TEMP TABLE ingest_nonproduct ON COMMIT DROP AS
    SELECT v FROM pg_temp.ingest_distinct WHERE kind = 'name' AND fields ? 'item_name' AND v ~* v_np_regex;
  -- This job's invoices (lines that fail the checks are taken out below).
  DROP TABLE IF EXISTS pg_temp.ingest_invoices;
  CREATE TEMP TABLE ingest_invoices ON COMMIT DROP AS
    SELECT v COLLATE "C" AS invoice_number FROM pg_temp.ingest_distinct WHERE kind = 'invoice' AND v IS NOT NULL;
  v_need_checks := coalesce((j.options ->> 'loader_rejects')::integer, 1) > 0
    OR EXISTS (SELECT FROM pg_temp.ingest_distinct WHERE kind = 'bad' AND v = 'true')
    OR EXISTS (SELECT FROM pg_temp.ingest_dates WHERE d IS NULL);
  ANALYZE pg_temp.ingest_dates;
  ANALYZE pg_temp.ingest_void;
  ANALYZE pg_temp.ingest_nonproduct;

  -- Unknown columns are kept in `extra` (jsonb_build_object takes at most 50 pairs per call).
  IF jsonb_array_length(coalesce(j.columns -> 'extra', '[]')) > 0 THEN
    SELECT 'nullif(jsonb_strip_nulls(' || string_agg(part, ' || ') || '), ''{}'')' INTO v_extra
    FROM (SELECT 'jsonb_build_object(' || string_agg(format('%L, s.c%s', e ->> 'header', e ->> 'col'), ', ') || ')' AS part
          FROM (SELECT e, (row_number() OVER () - 1) / 50 AS chunk
                FROM jsonb_array_elements(j.columns -> 'extra') e) q
          GROUP BY chunk) parts;
  END IF;

  RETURN jsonb_build_object('stg', stg, 'fields', fields, 'headers', headers, 'x', x, 'hdr', hdr,
                            'bad', to_jsonb(v_bad), 'msg', to_jsonb(v_msg), 'colname', to_jsonb(v_colname),
                            'date_joins', v_date_joins, 'extra', v_extra, 'need_checks', v_need_checks);
END
$$;

-- Step 3: the numbers' expressions and the rejected lines. Returns {num: field -> expression,
-- rejected: how many, valid: the condition a staging row s of a loaded line meets}. Careful
-- (p_careful) reads currency marks and separators and rejects a cell that is still no number;
-- the fast way casts and checks nothing (see the orchestrator). Rejects go to
-- data.upload_rejects and their line numbers to pg_temp.ingest_rejected.
CREATE FUNCTION app.ingest_validate(j data.upload_jobs, plan jsonb, p_careful boolean) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  p_job bigint := j.id;
  v_careful boolean := p_careful;
  stg text := plan ->> 'stg';
  fields jsonb := plan -> 'fields';
  headers jsonb := plan -> 'headers';
  x jsonb := plan -> 'x';
  hdr jsonb := plan -> 'hdr';
  v_date_joins text := plan ->> 'date_joins';
  v_need_checks boolean := (plan ->> 'need_checks')::boolean;
  num jsonb := '{}';
  bad text[] := ARRAY(SELECT jsonb_array_elements_text(plan -> 'bad'));
  msg text[] := ARRAY(SELECT jsonb_array_elements_text(plan -> 'msg'));
  colname text[] := ARRAY(SELECT jsonb_array_elements_text(plan -> 'colname'));
  v_rejected integer;
  valid text;
  r record;
BEGIN
  FOR r IN SELECT f.field, f.kind FROM app.ingest_fields() f WHERE f.kind IN ('number', 'pct') ORDER BY f.ord LOOP
    IF NOT fields ? r.field THEN
      num := num || jsonb_build_object(r.field, 'NULL::numeric');
    ELSIF NOT v_careful THEN
      num := num || jsonb_build_object(r.field, format('(%s)::numeric', x ->> r.field));
    ELSE
      num := num || jsonb_build_object(r.field, format('app.parse_amount(%s)', x ->> r.field));
      bad := bad || format('(%s IS NOT NULL AND NOT coalesce(abs(%s) < %s, false))', x ->> r.field, num ->> r.field,
                           CASE r.kind WHEN 'pct' THEN '1e4' ELSE '1e11' END);
      msg := msg || format('format(''%%s: "%%s" is %%s'', %L, %s, CASE WHEN %s IS NULL OR %s = ''NaN'' THEN ''not a number'' ELSE ''too large'' END)',
                           hdr ->> r.field, x ->> r.field, num ->> r.field, num ->> r.field);
      colname := colname || (hdr ->> r.field);
    END IF;
  END LOOP;
  IF v_careful THEN
    -- a line total computed from quantity x price must fit invoice_items.line_total
    bad := bad || format('(%s IS NULL AND NOT coalesce(abs(%s * %s) < 1e11, true))',
                         num ->> 'item_total', num ->> 'quantity', num ->> 'item_price');
    msg := msg || quote_literal((hdr ->> 'quantity') || ' x ' || (hdr ->> 'item_price') || ' is too large');
    colname := colname || (hdr ->> 'quantity');
  END IF;

  -- Rejects: the loader's (lines it could not read) and the checks' (every reason a line
  -- fails, the first failing column named). The checks' rejects keep their line number and
  -- invoice in pg_temp.ingest_rejected: app.ingest_write_lines finds the invoices all of
  -- whose lines were rejected from it (with the line counts of pg_temp.ingest_distinct).
  -- Per rejected line, in one pass: the reasons joined by concat_ws (it skips the checks that
  -- passed) and the first failing column by one CASE (arrays of reasons and flags, then
  -- array_remove, array_to_string and array_position, cost ~40 ms more on the real export's
  -- 115,524 rejects); the loader's rejects are read only when the loader staged some (the
  -- job's options say how many): ~30 ms, a second scan of every staged line, otherwise.
  DROP TABLE IF EXISTS pg_temp.ingest_rejected;
  CREATE TEMP TABLE ingest_rejected (line_no integer, invoice_number text COLLATE "C") ON COMMIT DROP;
  IF v_careful OR v_need_checks THEN
  EXECUTE format($q$
    WITH bad AS MATERIALIZED (
      SELECT s.line_no, coalesce(%8$s, %9$s) AS invoice_number, %2$s AS raw,
             concat_ws('; ', %3$s) AS reason, CASE %4$s END AS column_name
      FROM %5$s s %6$s WHERE s.reject IS NULL AND (%7$s)),
    keep AS (
      INSERT INTO pg_temp.ingest_rejected SELECT line_no, invoice_number FROM bad)
    INSERT INTO data.upload_rejects (job_id, line_no, raw_line, reason, column_name)
    %10$s
    SELECT %1$s, line_no, raw, reason, column_name FROM bad
    $q$, p_job,
    -- the line as the loader staged it, written back as one CSV line (app.ingest_raw_line)
    app.ingest_raw_line(jsonb_array_length(headers)),
    (SELECT string_agg(format('CASE WHEN %s THEN %s END', b, m), ', ') FROM unnest(bad, msg) AS u(b, m)),
    (SELECT string_agg(format('WHEN %s THEN %s', b, quote_nullable(c)), ' ') FROM unnest(bad, colname) AS u(b, c)),
    stg, v_date_joins, array_to_string(bad, ' OR '), x ->> 'invoice_number', x ->> 'invoice_id',
    CASE WHEN coalesce((j.options ->> 'loader_rejects')::integer, 1) > 0 THEN
      format('SELECT %s, s.line_no, s.c1, s.reject, NULL FROM %s s WHERE s.reject IS NOT NULL UNION ALL', p_job, stg)
    ELSE '' END);
  -- (The rows the INSERT wrote: the loader's rejects and the checks'.)
  GET DIAGNOSTICS v_rejected = ROW_COUNT;
  ELSE
    v_rejected := 0;
  END IF;
  ANALYZE pg_temp.ingest_rejected;
  -- The condition a loaded line meets. The fast way evaluates the checks again where the
  -- lines are read (a few IS NULL tests and the date look-up that query joins anyway): on
  -- the real export that was cheaper than an anti-join with the rejected line numbers
  -- (~0.25 s for 115,524 of 500,805 lines). The careful way's checks parse every number
  -- again, so it takes the anti-join.
  valid := CASE WHEN v_rejected = 0 THEN 's.reject IS NULL'
                WHEN v_careful THEN 's.reject IS NULL AND NOT EXISTS (SELECT FROM pg_temp.ingest_rejected r WHERE r.line_no = s.line_no)'
                ELSE format('s.reject IS NULL AND NOT coalesce(%s, false)', array_to_string(bad, ' OR ')) END;
  RETURN jsonb_build_object('num', num, 'rejected', v_rejected, 'valid', valid);
END
$$;

-- Step 4: the job's valid lines, typed, into mangalam_invoices in place of the earlier
-- versions of their invoices (invoices all of whose lines were rejected keep their earlier
-- version). Returns {loaded, bulk, timings}. Makes pg_temp.ingest_old_orders (the orders the
-- replaced invoices had), read by app.derive_from_lines.
CREATE FUNCTION app.ingest_write_lines(j data.upload_jobs, plan jsonb, checked jsonb) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  p_job bigint := j.id;
  stg text := plan ->> 'stg';
  fields jsonb := plan -> 'fields';
  x jsonb := plan -> 'x';
  num jsonb := checked -> 'num';
  valid text := checked ->> 'valid';
  v_rejected integer := (checked ->> 'rejected')::integer;
  v_date_joins text := plan ->> 'date_joins';
  v_extra text := plan ->> 'extra';
  v_staged integer := j.lines;
  v_existing real;
  v_bulk boolean;
  v_loaded integer;
  v_timings jsonb := '{}';
  typed text;
  t timestamptz;
BEGIN
  -- The typed line, as mangalam_invoices stores it.
  typed := format($q$
    SELECT coalesce(%1$s, %2$s) AS invoice_number, s.pos AS line_no, %3$s AS upload_job_id,
           s.line_no AS source_line, app.store_key(%4$s, %5$s) AS store_id,
           CASE WHEN np.v IS NULL THEN coalesce(%6$s, %7$s, lower(%8$s)) END AS product_key,
           %9$s AS invoice_date, %2$s AS invoice_id, %10$s AS invoice_status, %4$s AS customer_id,
           %5$s AS customer_name, %11$s AS due_date, %12$s, %13$s, %6$s, %8$s, %7$s, %14$s, %15$s, %16$s,
           %17$s, %18$s, %19$s, %20$s, %21$s, %22$s, %23$s, %24$s, %25$s, %26$s, %27$s, %28$s,
           %29$s, %30$s, %31$s, %32$s, %33$s, %34$s, %35$s, %36$s, %37$s, %38$s, %39$s, %40$s,
           %41$s, %42$s, %43$s AS extra,
           vd.v IS NOT NULL AS is_void, coalesce(%17$s < 0, false) AS is_return, np.v IS NULL AS is_product
    FROM %44$s s %45$s
      LEFT JOIN pg_temp.ingest_void vd ON vd.v = %10$s
      LEFT JOIN pg_temp.ingest_nonproduct np ON np.v = %8$s AND %6$s IS NULL AND %7$s IS NULL
    WHERE %46$s
    $q$,
    x ->> 'invoice_number', x ->> 'invoice_id', p_job, x ->> 'customer_id', x ->> 'customer_name',
    x ->> 'product_id', x ->> 'sku', x ->> 'item_name',
    CASE WHEN fields ? 'invoice_date' THEN 'd_invoice_date.d' ELSE 'NULL::date' END,
    x ->> 'invoice_status',
    CASE WHEN fields ? 'due_date' THEN 'd_due_date.d' ELSE 'NULL::date' END,
    x ->> 'purchase_order', x ->> 'sales_order_number', x ->> 'brand', x ->> 'category_name', x ->> 'item_desc',
    num ->> 'quantity', x ->> 'usage_unit', num ->> 'item_price', num ->> 'mrp', num ->> 'discount',
    num ->> 'discount_amount', num ->> 'item_total', num ->> 'subtotal', num ->> 'total', num ->> 'balance',
    num ->> 'item_tax_pct', num ->> 'item_tax_amount', x ->> 'hsn_sac', x ->> 'currency_code',
    x ->> 'warehouse_name', x ->> 'sales_person', x ->> 'billing_city', x ->> 'billing_state',
    x ->> 'billing_country', x ->> 'billing_code', x ->> 'shipping_city', x ->> 'shipping_state',
    x ->> 'shipping_country', x ->> 'shipping_code', x ->> 'payment_terms', x ->> 'notes',
    v_extra, stg, v_date_joins, valid);

  -- Invoices all of whose lines were rejected keep their earlier version: those whose
  -- count of rejected lines is their count of lines (counting, not a search of the staged
  -- lines for a valid one, which took ~0.28 s on the real export).
  t := clock_timestamp();
  IF v_rejected > 0 THEN
    DELETE FROM pg_temp.ingest_invoices i
    USING (SELECT r.invoice_number, count(*) AS n FROM pg_temp.ingest_rejected r
           WHERE r.invoice_number IS NOT NULL GROUP BY r.invoice_number) r,
          pg_temp.ingest_distinct d
    WHERE r.invoice_number = i.invoice_number AND d.kind = 'invoice'
      AND d.v COLLATE "C" = i.invoice_number AND d.n = r.n;
  END IF;
  ANALYZE pg_temp.ingest_invoices;

  -- Readers never wait on a load: every key, foreign key and index stays in place, so the
  -- job takes only row-level locks (ROW EXCLUSIVE on the tables), which no reader's ACCESS
  -- SHARE conflicts with; readers see the state before the commit, then the state after.
  -- Dropping the keys of the two big tables and rebuilding them at the end was cheaper
  -- (bench/ingest.py, 200k generated lines, shared 2-core machine: write lines 1.09 s,
  -- derive 0.81 s, rebuild keys 0.76 s; with the keys in place 1.57 s and 2.89 s, about
  -- 1.9 s more, mostly the foreign-key checks and index entries of invoice_items) but it
  -- held ACCESS EXCLUSIVE locks on mangalam_invoices, invoice_items, orders and products
  -- for the whole job: an API read stalled 6.1 s in the soak; with the keys in place the
  -- slowest read during the same load took 28 ms. A job at least as big as what is stored
  -- refreshes the planner's statistics of the lines after writing them (ANALYZE takes
  -- SHARE UPDATE EXCLUSIVE, which readers do not wait for). The keys of invoice_items are
  -- checked once per statement, not per row (functions/set_based_keys.sql).
  SELECT greatest(c.reltuples, 0) INTO v_existing FROM pg_class c WHERE c.oid = 'data.mangalam_invoices'::regclass;
  v_bulk := v_staged - v_rejected >= greatest(v_existing, 1000);

  -- Earlier versions of this job's invoices: their stores (and dates) are touched too.
  DROP TABLE IF EXISTS pg_temp.ingest_old_orders;
  CREATE TEMP TABLE ingest_old_orders ON COMMIT DROP AS
    SELECT o.id, o.store_id, o.order_date FROM data.orders o
    JOIN pg_temp.ingest_invoices i ON o.invoice_number = i.invoice_number COLLATE "default";
  DELETE FROM data.invoice_items it USING pg_temp.ingest_old_orders o WHERE it.order_id = o.id;
  -- A job smaller than what is stored looks its invoices up in the (invoice_number, line_no)
  -- index: joined, the planner expected ~26 stored lines per invoice of the job and read every
  -- stored line instead (a 10,000-line append onto the real export's 385,281 lines: 0.19 s,
  -- growing with what is stored). A bulk job keeps the join (a hash join over the lines).
  IF v_bulk THEN
    DELETE FROM data.mangalam_invoices m USING pg_temp.ingest_invoices i WHERE m.invoice_number = i.invoice_number;
  ELSE
    DELETE FROM data.mangalam_invoices m
    WHERE m.invoice_number = ANY (ARRAY(SELECT i.invoice_number FROM pg_temp.ingest_invoices i));
  END IF;
  v_timings := v_timings || jsonb_build_object('replace', app.ms_since(t));

  t := clock_timestamp();
  EXECUTE 'INSERT INTO data.mangalam_invoices (invoice_number, line_no, upload_job_id, source_line, store_id,
             product_key, invoice_date, invoice_id, invoice_status, customer_id, customer_name, due_date,
             purchase_order, sales_order_number, product_id, item_name, sku, brand, category_name, item_desc,
             quantity, usage_unit, item_price, mrp, discount, discount_amount, item_total, subtotal, total,
             balance, item_tax_pct, item_tax_amount, hsn_sac, currency_code, warehouse_name, sales_person,
             billing_city, billing_state, billing_country, billing_code, shipping_city, shipping_state,
             shipping_country, shipping_code, payment_terms, notes, extra, is_void, is_return, is_product) '
          || typed;
  GET DIAGNOSTICS v_loaded = ROW_COUNT;
  v_timings := v_timings || jsonb_build_object('lines', app.ms_since(t));
  IF v_bulk THEN
    ANALYZE data.mangalam_invoices (invoice_number, store_id, product_key, source_line);
  END IF;

  RETURN jsonb_build_object('loaded', v_loaded, 'bulk', v_bulk, 'timings', v_timings);
END
$$;

-- Validate, type and load one staged job into every table; returns the job's summary.
-- Call it inside the transaction that holds the job (gateway/worker.py does): everything it
-- writes commits or rolls back together. A dry run (the job's dry_run) does the same work,
-- then undoes its writes and keeps only the report (counts and rejects).
CREATE FUNCTION app.process_bulk_upload_complete(p_job bigint) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  j data.upload_jobs;
  t0 timestamptz := clock_timestamp();
  t timestamptz;
  v_timings jsonb := '{}';
  plan jsonb;
  checked jsonb;
  written jsonb;
  derived jsonb := '{"new_stores": 0, "new_products": 0, "touched": []}';
  v_careful boolean := false;
  v_lines integer;
  v_rejected integer := 0;
  v_loaded integer := 0;
  v_new_stores integer := 0;
  v_new_products integer := 0;
  v_bulk boolean := false;
  v_result jsonb;
  stg text;
BEGIN
  j := app.ingest_prepare(p_job);
  v_lines := j.lines;
  stg := format('staging.%I', j.staging_table);
  v_timings := v_timings || jsonb_build_object('prepare', app.ms_since(t0));

  t := clock_timestamp();
  plan := app.ingest_parse(j);
  v_timings := v_timings || jsonb_build_object('lookups', app.ms_since(t));

  -- Numbers, the fast way first: cells are cast straight to numeric and no check looks at them
  -- (the common case: exports write plain numbers; checking each cell cost ~2.5 s per million
  -- lines). A cell that is not a plain number then raises (the cast, numeric(15,4)'s range, or
  -- the table's CHECK against NaN), everything is rolled back to here, and the job is done again
  -- the careful way: currency marks and separators are read, and a line whose cell is still no
  -- number is rejected with the column named.
  <<attempt>>
  LOOP
    BEGIN
      t := clock_timestamp();
      checked := app.ingest_validate(j, plan, v_careful);
      v_rejected := (checked ->> 'rejected')::integer;
      v_timings := v_timings || jsonb_build_object('validate', app.ms_since(t));

      -- The writes. A dry run (the job's dry_run) leaves this block through SQLSTATE MGDRY, a
      -- code of its own that nothing else raises: in PL/pgSQL, leaving a block by an
      -- exception is the only way to undo what it wrote while keeping what came before (the
      -- rejects and the counts).
      BEGIN
        written := app.ingest_write_lines(j, plan, checked);
        v_loaded := (written ->> 'loaded')::integer;
        v_bulk := (written ->> 'bulk')::boolean;
        v_timings := v_timings || (written -> 'timings');

        t := clock_timestamp();
        derived := app.derive_from_lines(p_job);
        v_timings := v_timings || jsonb_build_object('derive', app.ms_since(t),
                                                     'derive_steps', derived -> 'steps');
        IF j.dry_run THEN
          RAISE SQLSTATE 'MGDRY' USING MESSAGE = 'dry run: the writes are undone';
        END IF;

        t := clock_timestamp();
        PERFORM app.refresh_derived(ARRAY(SELECT jsonb_array_elements_text(derived -> 'touched')), 'upload', NULL,
                                    (derived ->> 'changed_from')::date);
        v_timings := v_timings || jsonb_build_object('refresh', app.ms_since(t),
          'refresh_steps', coalesce(nullif(current_setting('mangalm.refresh_timings', true), '')::jsonb, '{}'));
      EXCEPTION WHEN SQLSTATE 'MGDRY' THEN
        NULL;  -- a dry run: its writes are undone, its report stays
      END;
      EXIT attempt;
    EXCEPTION
      WHEN invalid_text_representation OR numeric_value_out_of_range OR check_violation THEN
        -- a cell that is not a plain number: everything again, the careful way
        IF v_careful THEN
          RAISE;
        END IF;
        v_careful := true;
        v_timings := v_timings || jsonb_build_object('fast_path_failed', SQLERRM);
    END;
  END LOOP;
  v_new_stores := (derived ->> 'new_stores')::integer;
  v_new_products := (derived ->> 'new_products')::integer;

  IF v_loaded + v_rejected <> v_lines THEN
    RAISE EXCEPTION 'upload job %: % loaded + % rejected <> % lines; nothing was changed', p_job, v_loaded, v_rejected, v_lines;
  END IF;

  t := clock_timestamp();
  EXECUTE format('DROP TABLE %s', stg);
  v_timings := v_timings || jsonb_build_object('drop_staging', app.ms_since(t));
  v_result := jsonb_build_object(
    'job_id', p_job, 'status', 'succeeded', 'dry_run', j.dry_run, 'lines', v_lines, 'loaded', v_loaded,
    'rejected', v_rejected, 'new_stores', v_new_stores, 'new_products', v_new_products,
    'seconds', round(extract(epoch FROM clock_timestamp() - t0)::numeric, 3),
    'message', format('%s%s lines: %s loaded, %s rejected; %s new stores, %s new products',
                      CASE WHEN j.dry_run THEN 'dry run, nothing written: ' ELSE '' END,
                      v_lines, v_loaded, v_rejected, v_new_stores, v_new_products));
  UPDATE data.upload_jobs
  SET status = 'succeeded', loaded = v_loaded, rejected = v_rejected, new_stores = v_new_stores,
      new_products = v_new_products, finished_at = clock_timestamp(), last_error = NULL,
      processing_ms = app.ms_since(t0),
      message = v_result ->> 'message', locked_by = NULL,
      timings = v_timings || jsonb_build_object('path', CASE WHEN v_bulk THEN 'bulk' ELSE 'incremental' END,
                                                'numbers', CASE WHEN v_careful THEN 'careful' ELSE 'fast' END)
  WHERE id = p_job;
  PERFORM app.publish_event('upload_finished', jsonb_build_object('job_id', p_job, 'status', 'succeeded',
    'dry_run', j.dry_run, 'lines', v_lines, 'loaded', v_loaded, 'rejected', v_rejected,
    'new_stores', v_new_stores, 'new_products', v_new_products));
  -- (The data_changed event with the touched stores is app.refresh_derived's to send.)
  RETURN v_result;
END
$$;

-- Stores, products, orders and invoice_items from the lines one job loaded into
-- mangalam_invoices; returns {"new_stores", "new_products", "touched": [store ids],
-- "changed_from": the earliest date of the invoices written or replaced}.
-- Called by app.process_bulk_upload_complete only, in its transaction (it reads that
-- function's pg_temp.ingest_invoices and pg_temp.ingest_old_orders). Hash aggregates
-- (GROUP BY), not DISTINCT ON sorts; upserts change a row only when something differs, so
-- loading the same file twice changes nothing.
CREATE FUNCTION app.derive_from_lines(p_job bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
  v_new_stores integer;
  v_new_products integer;
  v_touched text[];
  v_changed_from date;
  t timestamptz := clock_timestamp();
  v_steps jsonb := '{}';   -- milliseconds per step, for the job's timings
BEGIN
  -- The latest line (by invoice date, then file line) of each store and each product: their
  -- names, cities, prices are taken from it. One scan, two hash aggregates.
  DROP TABLE IF EXISTS pg_temp.ingest_latest;
  CREATE TEMP TABLE ingest_latest ON COMMIT DROP AS
    SELECT CASE WHEN grouping(m.store_id) = 0 THEN 's' ELSE 'p' END AS kind,
           max(((m.invoice_date - DATE '1900-01-01')::bigint << 31) | m.source_line) & 2147483647 AS source_line
    FROM data.mangalam_invoices m JOIN pg_temp.ingest_invoices i USING (invoice_number)
    GROUP BY GROUPING SETS ((m.store_id), (m.product_key))
    HAVING grouping(m.store_id) = 0 OR m.product_key IS NOT NULL;
  -- (Without statistics the planner hashed the job's lines, wide rows, instead of these few:
  -- 0.18 s instead of ~0.05 s on the real export.)
  ANALYZE pg_temp.ingest_latest;
  DROP TABLE IF EXISTS pg_temp.ingest_latest_lines;
  CREATE TEMP TABLE ingest_latest_lines ON COMMIT DROP AS
    SELECT l.kind, m.* FROM data.mangalam_invoices m
    JOIN pg_temp.ingest_invoices i USING (invoice_number)
    JOIN pg_temp.ingest_latest l ON l.source_line = m.source_line;
  v_steps := v_steps || jsonb_build_object('latest', app.ms_since(t));
  t := clock_timestamp();

  -- Stores. Rows the export owns (source 'import') follow its latest data; a store created by
  -- hand keeps what people typed.
  WITH up AS (
    INSERT INTO data.stores AS st (id, name, city, state, country, postal_code, sales_person,
                                   currency_code, payment_terms, source, first_order_date, last_order_date)
    SELECT m.store_id, coalesce(m.customer_name, m.store_id), coalesce(m.billing_city, m.shipping_city),
           coalesce(m.billing_state, m.shipping_state), coalesce(m.billing_country, m.shipping_country),
           coalesce(m.billing_code, m.shipping_code), m.sales_person, m.currency_code, m.payment_terms,
           'import', m.invoice_date, m.invoice_date
    FROM pg_temp.ingest_latest_lines m WHERE m.kind = 's'
    ORDER BY m.store_id
    ON CONFLICT (id) DO UPDATE
      SET name = excluded.name, city = excluded.city, state = excluded.state, country = excluded.country,
          postal_code = excluded.postal_code, sales_person = excluded.sales_person,
          currency_code = excluded.currency_code, payment_terms = excluded.payment_terms
      WHERE st.source = 'import'
        AND excluded.last_order_date >= coalesce(st.last_order_date, excluded.last_order_date)
        AND (st.name, st.city, st.state, st.country, st.postal_code, st.sales_person, st.currency_code, st.payment_terms)
            IS DISTINCT FROM (excluded.name, excluded.city, excluded.state, excluded.country, excluded.postal_code,
                              excluded.sales_person, excluded.currency_code, excluded.payment_terms)
    RETURNING (xmax = 0) AS inserted)
  SELECT count(*) FILTER (WHERE inserted) INTO v_new_stores FROM up;
  v_steps := v_steps || jsonb_build_object('stores', app.ms_since(t));
  t := clock_timestamp();

  -- Products: only product lines (non-product lines never become products).
  WITH up AS (
    INSERT INTO data.products AS p (product_key, external_id, sku, name, description, category, brand,
                                    usage_unit, unit_price, mrp, hsn_sac, tax_rate, source)
    SELECT m.product_key, m.product_id, m.sku, coalesce(m.item_name, m.sku, m.product_id), m.item_desc,
           m.category_name, m.brand, m.usage_unit,
           CASE WHEN m.item_price >= 0 AND m.item_price < 1e12 THEN round(m.item_price, 2) END,
           CASE WHEN m.mrp >= 0 AND m.mrp < 1e12 THEN round(m.mrp, 2) END, m.hsn_sac,
           CASE WHEN m.item_tax_pct BETWEEN 0 AND 100 THEN m.item_tax_pct END, 'import'
    FROM pg_temp.ingest_latest_lines m WHERE m.kind = 'p'
    ORDER BY m.product_key
    ON CONFLICT (product_key) DO UPDATE
      SET external_id = excluded.external_id, sku = excluded.sku, name = excluded.name,
          description = excluded.description, category = excluded.category, brand = excluded.brand,
          usage_unit = excluded.usage_unit,
          -- a free-goods line (price 0) does not make the product free
          unit_price = coalesce(nullif(excluded.unit_price, 0), p.unit_price, excluded.unit_price),
          mrp = coalesce(excluded.mrp, p.mrp), hsn_sac = excluded.hsn_sac, tax_rate = excluded.tax_rate
      WHERE p.source = 'import'
        AND (p.external_id, p.sku, p.name, p.description, p.category, p.brand, p.usage_unit,
             p.unit_price, p.mrp, p.hsn_sac, p.tax_rate)
            IS DISTINCT FROM (excluded.external_id, excluded.sku, excluded.name, excluded.description,
                              excluded.category, excluded.brand, excluded.usage_unit,
                              coalesce(nullif(excluded.unit_price, 0), p.unit_price, excluded.unit_price),
                              coalesce(excluded.mrp, p.mrp), excluded.hsn_sac, excluded.tax_rate)
    RETURNING (xmax = 0) AS inserted)
  SELECT count(*) FILTER (WHERE inserted) INTO v_new_products FROM up;
  v_steps := v_steps || jsonb_build_object('products', app.ms_since(t));
  t := clock_timestamp();

  -- Orders: one per invoice (void/cancelled ones are kept with status 'void'); totals are
  -- computed from the lines, so returns (negative lines) are netted out.
  INSERT INTO data.orders AS o (store_id, source, invoice_number, status, invoice_status, order_date, due_date,
                                subtotal, tax_amount, total_amount, item_count, currency_code, sales_person, notes)
  -- (min() over text COLLATE "C" compares bytes; the database's C.UTF-8 collation made the
  -- same aggregate several times slower. The lines of an invoice carry the same header fields.)
  SELECT min(m.store_id COLLATE "C"), 'invoice', m.invoice_number,
         CASE WHEN bool_or(m.is_void) THEN 'void' ELSE 'invoiced' END, min(m.invoice_status COLLATE "C"),
         min(m.invoice_date), min(m.due_date), round(sum(m.line_total), 2), round(sum(m.tax), 2),
         round(sum(m.line_total) + sum(m.tax), 2), count(*), min(m.currency_code COLLATE "C"),
         min(m.sales_person COLLATE "C"), min(m.notes COLLATE "C")
  FROM (SELECT invoice_number, store_id, is_void, invoice_status, invoice_date, due_date, currency_code,
               sales_person, notes, coalesce(item_tax_amount, 0) AS tax,
               coalesce(item_total, round(quantity * item_price - coalesce(discount_amount, 0), 2)) AS line_total
        FROM data.mangalam_invoices JOIN pg_temp.ingest_invoices USING (invoice_number)) m
  GROUP BY m.invoice_number
  ORDER BY m.invoice_number
  ON CONFLICT (invoice_number) DO UPDATE
    SET store_id = excluded.store_id, status = excluded.status, invoice_status = excluded.invoice_status,
        order_date = excluded.order_date, due_date = excluded.due_date, subtotal = excluded.subtotal,
        tax_amount = excluded.tax_amount, total_amount = excluded.total_amount, item_count = excluded.item_count,
        currency_code = excluded.currency_code, sales_person = excluded.sales_person, notes = excluded.notes
    WHERE (o.store_id, o.status, o.invoice_status, o.order_date, o.due_date, o.subtotal, o.tax_amount,
           o.total_amount, o.item_count, o.currency_code, o.sales_person, o.notes)
          IS DISTINCT FROM (excluded.store_id, excluded.status, excluded.invoice_status, excluded.order_date,
                            excluded.due_date, excluded.subtotal, excluded.tax_amount, excluded.total_amount,
                            excluded.item_count, excluded.currency_code, excluded.sales_person, excluded.notes);

  DROP TABLE IF EXISTS pg_temp.ingest_orders;
  CREATE TEMP TABLE ingest_orders ON COMMIT DROP AS
    SELECT o.id, o.invoice_number COLLATE "C" AS invoice_number, o.store_id, o.order_date FROM data.orders o
    JOIN pg_temp.ingest_invoices i ON o.invoice_number = i.invoice_number COLLATE "default";
  ANALYZE pg_temp.ingest_orders;
  v_steps := v_steps || jsonb_build_object('orders', app.ms_since(t));
  t := clock_timestamp();

  -- The invoices' lines (their earlier lines were deleted by the caller).
  INSERT INTO data.invoice_items (order_id, line_no, product_id, item_name, quantity, unit_price,
                                  discount_amount, tax_amount, line_total, is_return, is_product)
  SELECT o.id, m.line_no, p.id, coalesce(m.item_name, m.sku, m.product_id), m.quantity,
         coalesce(m.item_price, CASE WHEN m.quantity <> 0 AND abs(m.item_total / m.quantity) < 1e11
                                     THEN round(m.item_total / m.quantity, 4) END),
         m.discount_amount, m.item_tax_amount,
         coalesce(m.item_total, round(m.quantity * m.item_price - coalesce(m.discount_amount, 0), 2)),
         m.is_return, m.is_product
  FROM data.mangalam_invoices m
  JOIN pg_temp.ingest_orders o ON o.invoice_number = m.invoice_number
  LEFT JOIN data.products p ON p.product_key = m.product_key;
  v_steps := v_steps || jsonb_build_object('items', app.ms_since(t));
  t := clock_timestamp();

  -- Touched: the stores of this job's invoices, and the stores those invoices belonged to before.
  -- Changed from: the earliest date of those invoices, old versions included (what the
  -- analytics as of an earlier date cannot see: app.refresh_derived).
  SELECT coalesce(array_agg(DISTINCT s ORDER BY s), '{}'), min(d) INTO v_touched, v_changed_from
  FROM (SELECT store_id AS s, order_date AS d FROM pg_temp.ingest_orders
        UNION ALL SELECT store_id, order_date FROM pg_temp.ingest_old_orders) q;

  -- First and last order dates of the touched stores, from their (non-void) invoices.
  UPDATE data.stores s SET first_order_date = a.f, last_order_date = a.l
  FROM (SELECT t.id, min(o.order_date) AS f, max(o.order_date) AS l
        FROM unnest(v_touched) AS t(id)
        LEFT JOIN app.sales o ON o.store_id = t.id
        GROUP BY t.id) a
  WHERE s.id = a.id AND (s.first_order_date, s.last_order_date) IS DISTINCT FROM (a.f, a.l);

  v_steps := v_steps || jsonb_build_object('dates', app.ms_since(t));
  RETURN jsonb_build_object('new_stores', v_new_stores, 'new_products', v_new_products, 'touched', to_jsonb(v_touched),
                            'changed_from', v_changed_from, 'steps', v_steps);
END
$$;
