-- Recomputing the derived analytics: after every upload (the ingest pipeline calls
-- app.refresh_derived with the stores its job touched, inside the job's transaction) and on
-- demand (`mangalm predict`, POST /api/rpc/predict: every store, as of a date).

-- Refreshes the dashboard's materialized view. CONCURRENTLY: readers keep the old row until
-- the new one commits (it needs the view's unique index, views/dashboard.sql).
CREATE FUNCTION app.refresh_dashboard() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  REFRESH MATERIALIZED VIEW CONCURRENTLY api.dashboard_summary;
END
$$;

-- The analytics steps of a refresh, as of p_as_of for p_scope (every store when NULL; p_every_store:
-- a refresh of every store, as `predict`, not an upload that touched them all): statistics when
-- the orders outgrew them, the confidence fit when none is recent, the recent lines, segments,
-- predictions, then (p_upselling) the rules and upselling. Returns the milliseconds of each.
-- Called by app.refresh_derived, which holds the refresh lock.
CREATE FUNCTION app.refresh_analytics(p_as_of date, p_scope text[], p_every_store boolean, p_upselling boolean)
RETURNS jsonb
LANGUAGE plpgsql SET work_mem = '64MB' SET jit = off AS $$
DECLARE
  v_timings jsonb := '{}';
  v_estimate real;
  v_orders bigint;
  v_remine boolean;
  t timestamptz;
BEGIN
  -- Statistics first. Called at the end of a bulk load, in its transaction, the planner knows
  -- nothing of the rows just written (autovacuum analyzes them only after the commit), and
  -- misplans: fetching the recent lines of 211 stores took 17 s instead of 0.25 s. When the
  -- orders outgrew the planner's estimate by a fifth (counting them is cheap: one row per
  -- invoice), the tables the analytics read are analyzed here (~0.5 s for 1M lines). Of the
  -- invoice lines only the columns the analytics filter and join on: item names and the
  -- amounts' other columns cost most of the sampling (demo set: 39 ms for every column, 13 ms
  -- for these) and no statement here plans on them; autovacuum analyzes every column after
  -- the commit.
  t := clock_timestamp();
  SELECT c.reltuples INTO v_estimate FROM pg_class c WHERE c.oid = 'data.orders'::regclass;
  SELECT count(*) INTO v_orders FROM data.orders;
  IF v_estimate < 0 OR v_orders > 1.2 * v_estimate + 1000 THEN
    ANALYZE data.orders;
    ANALYZE data.invoice_items (order_id, product_id, is_product, is_return, quantity);
    ANALYZE data.products;
    ANALYZE data.stores;
    v_timings := v_timings || jsonb_build_object('analyze', app.ms_since(t));
  END IF;

  t := clock_timestamp();
  IF NOT EXISTS (SELECT FROM data.prediction_calibrations c
                 WHERE c.fitted_as_of <= p_as_of AND c.fitted_as_of > p_as_of - 28
                   AND c.features = app.confidence_feature_names()) THEN
    PERFORM app.fit_calibration(p_as_of);
    v_timings := v_timings || jsonb_build_object('calibration', app.ms_since(t));
  END IF;

  v_remine := p_upselling AND app.rules_stale(p_as_of, p_every_store);

  -- The recent lines, staged once for baskets, rules and upselling: every store's, or for an
  -- upload of a few stores those stores' and the last 30 days of the others (what their
  -- baskets read: app.stage_recent_lines), unless the rules are re-mined (every store's last
  -- order days) or upselling compares similar stores (every store's lines). The results are
  -- those of a staging of every store (tests/test_analytics_cli.py). On the real export's half,
  -- an append touching 172 stores: refresh 994 -> 669 ms (recent lines 344 -> 167, predictions
  -- 340 -> 208: fewer staged lines to sort; min of 3, A/B in one session).
  t := clock_timestamp();
  PERFORM app.stage_recent_lines(p_as_of, 12, true,
                                 CASE WHEN v_remine OR (p_upselling AND app.upselling_compares_peers())
                                      THEN NULL ELSE p_scope END);
  v_timings := v_timings || jsonb_build_object('recent_lines', app.ms_since(t));

  t := clock_timestamp();
  PERFORM app.recompute_segments(p_as_of);
  v_timings := v_timings || jsonb_build_object('segments', app.ms_since(t));

  t := clock_timestamp();
  PERFORM app.recompute_predictions(p_as_of, p_scope);
  v_timings := v_timings || jsonb_build_object('predictions', app.ms_since(t));

  IF p_upselling THEN
    v_timings := v_timings || app.refresh_upselling(p_as_of, p_scope, v_remine);
  END IF;
  RETURN v_timings;
END
$$;

-- Recomputes segments (all stores: quintiles are relative), predictions and upselling (the
-- given stores; all when p_store_ids is NULL, none when it is empty) as of p_as_of (default
-- app.analytics_as_of(): the newest invoice date, never after today), refreshes the dashboard
-- and announces {"type": "data_changed", "source": p_source, "store_ids": [...]} on
-- mangalm_events (store_ids null for all stores or more than 200). Returns nothing; the
-- milliseconds of each step are left in the transaction setting mangalm.refresh_timings.
-- The steps are app.refresh_analytics: the confidence model is refitted when no fit is less
-- than 28 days older than p_as_of; the association rules, global and the dearest to mine, are
-- mined anew as app.rules_stale says. With p_upselling false the rules and upselling are left
-- to the caller, which runs them in a second session (`mangalm predict`: app.predict_upselling,
-- on the other core). Baskets and upselling read only the given stores' lines (and the
-- popularity of products over the last 30 days), so an upload's refresh costs what its stores
-- cost, plus the all-store steps that are linear in the orders (segments, the dashboard, every
-- store's recent order days).
-- Invoices dated after the as-of date are invisible to every analytic computed as of it (each
-- reads sales on or before it). So when the caller says what it changed is all dated after
-- v_as_of (p_changed_from: an upload's earliest invoice date, the versions it replaced
-- included) and the stored analytics are already as of v_as_of (the segments' as-of date),
-- nothing they read changed: only the dashboard, whose totals count every invoice, is
-- refreshed, and the event still names the stores. Such invoices are dated after today (the
-- as-of date is never after today); they count from the first refresh as of their date or
-- later (`mangalm predict`, or an upload of their stores), as they did when the stores were
-- recomputed as of today right away. (Generated exports run past today: the 1 % append of
-- bench/ingest.py on 1M generated lines is such an upload.)
-- A transaction-level advisory lock makes two uploads that finish together take turns.
-- work_mem is raised for the aggregates over recent lines; JIT is off because compiling
-- costs more (~50 ms a query) than these sub-second queries gain.
CREATE FUNCTION app.refresh_derived(p_store_ids text[], p_source text DEFAULT 'upload', p_as_of date DEFAULT NULL,
                                    p_changed_from date DEFAULT NULL, p_upselling boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql SET work_mem = '64MB' SET jit = off AS $$
DECLARE
  v_as_of date;
  v_timings jsonb;
  v_scope text[] := p_store_ids;
  v_unchanged boolean;
  t timestamptz;
BEGIN
  IF p_store_ids IS NOT NULL AND cardinality(p_store_ids) = 0 THEN
    RETURN;
  END IF;
  PERFORM pg_advisory_xact_lock(app.lock_class('refresh'), 0);
  v_as_of := coalesce(p_as_of, app.analytics_as_of());
  -- An upload that touched every store (a first load) is recomputed as a refresh of all
  -- stores: the steps then read every store's lines at once instead of matching ~3,000 ids.
  IF cardinality(p_store_ids) >= (SELECT count(*) FROM data.stores) THEN
    v_scope := NULL;
  END IF;
  v_unchanged := coalesce(p_changed_from > v_as_of AND v_as_of = (SELECT max(s.as_of) FROM data.customer_segments s),
                          false);

  IF v_unchanged THEN
    v_timings := jsonb_build_object('unchanged_before', p_changed_from);
  ELSE
    v_timings := app.refresh_analytics(v_as_of, v_scope, p_store_ids IS NULL, p_upselling);
  END IF;

  t := clock_timestamp();
  PERFORM app.refresh_dashboard();
  v_timings := v_timings || jsonb_build_object('dashboard', app.ms_since(t));

  PERFORM set_config('mangalm.recent_lines', '', true);
  PERFORM set_config('mangalm.refresh_timings', v_timings::text, true);
  PERFORM app.publish_event('data_changed', jsonb_build_object(
    'source', coalesce(p_source, 'analytics'), 'as_of', v_as_of,
    'store_ids', CASE WHEN p_store_ids IS NOT NULL AND cardinality(p_store_ids) <= 200 THEN to_jsonb(p_store_ids) END,
    'store_count', coalesce(cardinality(p_store_ids), (SELECT count(*) FROM data.stores))));
END
$$;

-- Every store's prediction, segment and upselling as of p_as_of, using only invoices dated on or
-- before it, the confidence model refitted; returns a summary. With p_upselling false the rules
-- and upselling are left to app.predict_upselling in a second session (`mangalm predict` runs
-- the two side by side: cli/analytics.py). Security definer, like api.predict: the CLI's login
-- (mangalm_app) may run both halves (db/grants.sql), no API role may.
CREATE FUNCTION app.predict(p_as_of date, p_upselling boolean DEFAULT true) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, data, app SET work_mem = '64MB' SET jit = off AS $$
DECLARE
  v_fit bigint;
  v_started timestamptz := clock_timestamp();
  v_fitted_ms numeric;
  v_result jsonb;
BEGIN
  v_fit := app.fit_calibration(p_as_of);
  -- (the fits' time joins the refresh's steps: a refit is often the largest of them)
  v_fitted_ms := app.ms_since(v_started);
  PERFORM app.refresh_derived(NULL, 'predict', p_as_of, NULL, p_upselling);
  SELECT jsonb_build_object(
    'as_of', p_as_of,
    'invoices_used', (SELECT count(*) FROM app.sales o WHERE o.order_date <= p_as_of),
    'stores', (SELECT count(*) FROM data.stores),
    'predictions', count(*),
    'items', (SELECT count(*) FROM data.predicted_order_items i JOIN data.predicted_orders p ON p.id = i.predicted_order_id
              WHERE p.status = 'pending'),
    'high_priority', count(*) FILTER (WHERE p.priority = 'high'),
    'mean_confidence', round(avg(p.confidence), 3),
    'calibration', (SELECT jsonb_build_object('id', c.id, 'samples', c.samples, 'hits', c.hits,
                                              'training_cutoffs', cardinality(c.training_cutoffs), 'bins', c.bins)
                    FROM data.prediction_calibrations c WHERE c.id = v_fit),
    'seconds', round(extract(epoch FROM clock_timestamp() - v_started)::numeric, 3),
    'timings_ms', jsonb_build_object('calibration', v_fitted_ms)
                  || coalesce(nullif(current_setting('mangalm.refresh_timings', true), '')::jsonb, '{}'))
  INTO v_result
  FROM data.predicted_orders p WHERE p.status = 'pending';
  RETURN v_result;
END
$$;

-- The other half of `mangalm predict`, in a session of its own: every store's recent lines
-- staged, the rules mined anew when stale, every store's upselling as of p_as_of; returns the
-- milliseconds of each step (recent lines as upselling_recent_lines: the predictions' session
-- stages its own). It takes only the upselling lock, so it runs beside app.predict(p_as_of,
-- false), which holds the refresh lock; an upload's refresh takes both, after them.
CREATE FUNCTION app.predict_upselling(p_as_of date) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, data, app SET work_mem = '64MB' SET jit = off AS $$
DECLARE
  t timestamptz := clock_timestamp();
  v_timings jsonb;
BEGIN
  PERFORM pg_advisory_xact_lock(app.lock_class('upselling'), 0);
  PERFORM app.stage_recent_lines(p_as_of, 12, true);
  v_timings := jsonb_build_object('upselling_recent_lines', app.ms_since(t));
  v_timings := v_timings || app.refresh_upselling(p_as_of, NULL, app.rules_stale(p_as_of, true));
  PERFORM set_config('mangalm.recent_lines', '', true);
  RETURN v_timings;
END
$$;

-- POST /api/rpc/predict {"as_of": "2025-06-30"} (managers and admins; as_of optional: the
-- newest invoice date, never after today): app.predict in one transaction, on one core.
-- Security definer: callers need no write access to the derived tables, and only managers and
-- admins may call it (db/grants.sql).
CREATE FUNCTION api.predict(as_of date DEFAULT NULL) RETURNS jsonb
LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog, data, app AS $$
  SELECT app.predict(coalesce(predict.as_of, app.analytics_as_of()), true)
$$;
COMMENT ON FUNCTION api.predict(date) IS
  'Recompute every store''s next-order prediction (and segments, upselling) as of a date; managers and admins';
