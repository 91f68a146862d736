-- Next-order predictions: when each store orders next, what it orders, and how sure we are.
--
-- What counts as an order: a non-void invoice (data.orders, source 'invoice') with a positive
-- total; several invoices of one store on one day are one order ("order day"), so a split
-- invoice does not look like a zero-day gap. Baskets read the bought lines of those invoices:
-- a real product (product_id set, is_product), not a return, positive quantity.
--
-- Minimum history: 3 order days (2 gaps). One gap is no rhythm at all; with two, the median is
-- weak, but the confidence model knows how many gaps a prediction stands on (one of its
-- features), so a thin history gets a low confidence instead of no prediction.
--
-- The date: from the store's last 24 gaps, only those longer than the time it has already been
-- silent can still happen (a renewal process conditioned on "no order yet"). Among those, the
-- gap whose ±7-day window holds the most of them (ties: nearest their median) is predicted, so
-- a store 10 days into a usual 7-day gap is predicted at its usual 14-day skip, not in the past.
-- A store silent for longer than any recent gap is predicted "soon" (as_of + 7 days at most),
-- with a low confidence. The baseline it is measured against is "last order + median gap".

-- Drops a temporary table of this session if it exists (without DROP ... IF EXISTS's notice
-- when the session has no temporary schema yet). The recompute functions build their
-- intermediate results in ON COMMIT DROP temp tables, so a second call in one transaction
-- (a test, a backtest after a predict) starts clean.
CREATE FUNCTION app.drop_temp_table(p_name text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF to_regclass('pg_temp.' || quote_ident(p_name)) IS NOT NULL THEN
    EXECUTE format('DROP TABLE pg_temp.%I', p_name);
  END IF;
END
$$;

-- The date predictions are made as of when none is given: the newest invoice date, never
-- after today (an export's history ends at its last invoice; nothing later is known).
CREATE FUNCTION app.analytics_as_of() RETURNS date
LANGUAGE sql STABLE AS $$
  SELECT least(coalesce(max(o.order_date), current_date), current_date)
  FROM data.orders o WHERE o.source = 'invoice' AND o.status <> 'void'
$$;

-- Per store with at least 3 order days on or before p_as_of (all stores when p_store_ids is
-- NULL): the gap statistics, the predicted next order date and the baseline's date. Set-based
-- (window functions over the orders only); callers: recompute_predictions, the backtest, the
-- confidence fit (once per past cutoff).
CREATE FUNCTION app.forecast_dates(p_as_of date, p_store_ids text[] DEFAULT NULL)
RETURNS TABLE (store_id text, n_orders integer, n_gaps integer, first_order date, last_order date,
               elapsed integer, median_gap numeric, spread_gap numeric, max_gap integer,
               n_later integer, n_window integer, predicted_date date, baseline_date date)
LANGUAGE sql STABLE AS $$
  WITH days AS (
    -- COLLATE "C": store ids are compared byte-wise (the same equality), so the window
    -- functions and groupings below sort without locale-aware comparisons.
    SELECT o.store_id COLLATE "C" AS store_id, o.order_date AS day
    FROM data.orders o
    WHERE o.source = 'invoice' AND o.status <> 'void' AND o.total_amount > 0
      AND o.order_date <= p_as_of AND (p_store_ids IS NULL OR o.store_id IN (SELECT unnest(p_store_ids)))
    GROUP BY 1, 2
  ), seq AS (
    -- One sort: back counts from the newest order day (1) without a second, descending window.
    SELECT d.store_id, d.day, d.day - lag(d.day) OVER w AS gap,
           count(*) OVER (PARTITION BY d.store_id) - row_number() OVER w + 1 AS back
    FROM days d WINDOW w AS (PARTITION BY d.store_id ORDER BY d.day)
  ), stats AS (
    SELECT s.store_id, count(*)::integer AS n_orders, min(s.day) AS first_order, max(s.day) AS last_order,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY s.gap) AS all_median,
           count(s.gap) FILTER (WHERE s.back <= 24)::integer AS n_gaps,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY s.gap) FILTER (WHERE s.back <= 24) AS med,
           max(s.gap) FILTER (WHERE s.back <= 24) AS max_gap,
           -- The weekdays the store ordered on (bit 1 = Monday ... bit 7 = Sunday), last 50 orders.
           bit_or(1 << extract(isodow FROM s.day)::integer) FILTER (WHERE s.back <= 50) AS weekdays
    FROM seq s GROUP BY s.store_id HAVING count(*) >= 3
  ), recent AS (
    -- The last 24 gaps (back 1 is the newest order day, whose gap is the newest gap).
    SELECT s.store_id, s.gap, st.med, p_as_of - st.last_order AS elapsed
    FROM seq s JOIN stats st ON st.store_id = s.store_id
    WHERE s.back <= 24 AND s.gap IS NOT NULL
  ), spread AS (
    -- Robust spread: 1.4826 x the median absolute deviation (the sd for normal gaps).
    SELECT r.store_id, 1.4826 * percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(r.gap - r.med)) AS mad
    FROM recent r GROUP BY r.store_id
  ), later AS (
    -- The gaps that can still happen, as a histogram, with how many of them lie within ±7
    -- days of each (a RANGE frame over integer gaps: no self-join).
    SELECT h.store_id, h.gap,
           sum(h.cnt) OVER (PARTITION BY h.store_id ORDER BY h.gap RANGE BETWEEN 7 PRECEDING AND 7 FOLLOWING) AS in_window,
           sum(h.cnt) OVER (PARTITION BY h.store_id) AS n_later,
           sum(h.cnt) OVER (PARTITION BY h.store_id ORDER BY h.gap) AS cum
    FROM (SELECT r.store_id, r.gap, count(*) AS cnt FROM recent r WHERE r.gap > r.elapsed
          GROUP BY r.store_id, r.gap) h
  ), later_median AS (
    SELECT l.store_id, min(l.gap) AS gap FROM later l WHERE l.cum * 2 >= l.n_later GROUP BY l.store_id
  ), centre AS (
    SELECT DISTINCT ON (l.store_id) l.store_id, l.gap, l.in_window::integer AS n_window, l.n_later::integer AS n_later
    FROM later l JOIN later_median m ON m.store_id = l.store_id
    ORDER BY l.store_id, l.in_window DESC, abs(l.gap - m.gap), l.gap
  ), predicted AS (
    SELECT st.*, sp.mad, ce.n_later, ce.n_window,
           coalesce(st.last_order + ce.gap, p_as_of + least(7, greatest(1, ceil(st.med)::integer))) AS day
    FROM stats st
    JOIN spread sp ON sp.store_id = st.store_id
    LEFT JOIN centre ce ON ce.store_id = st.store_id
  )
  SELECT p.store_id, p.n_orders, p.n_gaps, p.first_order, p.last_order,
         (p_as_of - p.last_order)::integer, round(p.med::numeric, 2), round(p.mad::numeric, 2), p.max_gap,
         coalesce(p.n_later, 0), coalesce(p.n_window, 0),
         -- A store with 8+ orders that never ordered on the predicted weekday (a shop closed on
         -- Sundays, a distributor that does not deliver then) is predicted on the nearest
         -- weekday it does order on, later first.
         CASE WHEN p.n_orders < 8 OR p.weekdays & (1 << extract(isodow FROM p.day)::integer) <> 0 THEN p.day
              ELSE coalesce((SELECT p.day + d.shift FROM unnest(ARRAY[1, -1, 2, -2, 3, -3]) WITH ORDINALITY AS d(shift, o)
                             WHERE p.day + d.shift > p_as_of
                               AND p.weekdays & (1 << extract(isodow FROM p.day + d.shift)::integer) <> 0
                             ORDER BY d.o LIMIT 1), p.day) END,
         p.last_order + round(p.all_median)::integer
  FROM predicted p
$$;

-- The confidence model's features for one prediction, as a vector whose first element is 1
-- (the intercept); names in app.confidence_feature_names(). Pure arithmetic on forecast_dates'
-- columns, so the same numbers are used when fitting and when predicting. The last two were
-- added after CDNOW backtests: without them the model was over-confident by 0.05-0.07 in the
-- 0.1-0.4 deciles at a cutoff one year into that cohort (far-ahead predictions and an ageing
-- customer base); with them every decile holding 100+ predictions was within 0.04.
CREATE FUNCTION app.confidence_features(p_n_gaps float8, p_n_later float8, p_n_window float8,
                                        p_elapsed float8, p_median_gap float8, p_spread float8,
                                        p_lead float8, p_tenure float8)
RETURNS float8[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ARRAY[
    1,
    ln(greatest(p_n_gaps, 1)),
    -- logit of the smoothed share of the still-possible gaps that fall in the window
    ln((p_n_window + 0.5) / (p_n_later - p_n_window + 0.5)),
    -- how unusual the current silence is: share of recent gaps longer than it
    ln((p_n_later + 0.5) / (p_n_gaps + 1.0)),
    ln(1 + p_elapsed / greatest(p_median_gap, 1)),
    -- the rhythm against the ±7-day window (weekly stores hit it more easily)
    ln(greatest(p_median_gap, 1) / 7.0),
    ln(1 + coalesce(p_spread, 0) / greatest(p_median_gap, 1)),
    -- days from as_of to the predicted date: the farther ahead, the less certain
    ln(1 + greatest(p_lead, 0)),
    -- days since the first order
    ln(1 + greatest(p_tenure, 0))
  ]
$$;

-- The names of app.confidence_features' elements, in order (stored with each fit).
CREATE FUNCTION app.confidence_feature_names() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ARRAY['intercept', 'ln_gaps', 'logit_window_share', 'ln_share_longer', 'ln_overdue_ratio',
               'ln_gap_over_week', 'ln_irregularity', 'ln_lead_days', 'ln_tenure_days']
$$;

-- The linear predictor x·b, clamped to ±30 (exp() beyond that under- or overflows). Written
-- out for up to 10 features (the model has 9) so that it stays a plain expression the planner
-- inlines: the version over unnest() cost ~30 µs a row.
CREATE FUNCTION app.linear_predictor(p_x float8[], p_b float8[]) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT greatest(-30, least(30,
    coalesce(p_x[1] * p_b[1], 0) + coalesce(p_x[2] * p_b[2], 0) + coalesce(p_x[3] * p_b[3], 0)
    + coalesce(p_x[4] * p_b[4], 0) + coalesce(p_x[5] * p_b[5], 0) + coalesce(p_x[6] * p_b[6], 0)
    + coalesce(p_x[7] * p_b[7], 0) + coalesce(p_x[8] * p_b[8], 0) + coalesce(p_x[9] * p_b[9], 0)
    + coalesce(p_x[10] * p_b[10], 0)))
$$;

-- The logistic function of the linear predictor: 1 / (1 + exp(-x·b)).
CREATE FUNCTION app.logistic(p_x float8[], p_b float8[]) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 1 / (1 + exp(-app.linear_predictor(p_x, p_b)))
$$;

-- The calibrated confidence of a prediction with features p_x under a fit: the first stage's
-- linear predictor z = x·b, then the second stage 1 / (1 + exp(-(r1 + r2 z + r3 z^2)))
-- (without a second stage, the plain logistic of z).
CREATE FUNCTION app.calibrated_probability(p_x float8[], p_b float8[], p_r float8[]) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN p_r IS NULL THEN app.logistic(p_x, p_b)
              ELSE app.logistic(ARRAY[1, app.linear_predictor(p_x, p_b), app.linear_predictor(p_x, p_b) ^ 2], p_r) END
$$;

-- Confidence when no fit exists yet (too little history to look back on): the smoothed
-- empirical share, shrunk for short histories. Marked "calibrated": false in justifications.
CREATE FUNCTION app.uncalibrated_confidence(p_n_gaps integer, p_n_later integer, p_n_window integer)
RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT (p_n_window + 0.5) / (p_n_later + 1.0) * (p_n_later + 0.5) / (p_n_gaps + 1.0)
         * p_n_gaps / (p_n_gaps + 2.0)
$$;

-- The invoices of each store's last p_window order days on or before p_as_of (all stores when
-- p_store_ids is NULL): `back` is 1 for the newest order day, orders_seen the number of order
-- days in the window, day_invoices the store's invoices on that day (split invoices are one
-- order), store_key numbers the stores so that big groupings sort integers, not text.
CREATE FUNCTION app.recent_orders(p_as_of date, p_window integer, p_store_ids text[] DEFAULT NULL)
RETURNS TABLE (id bigint, store_key integer, store_id text, order_date date, back integer, orders_seen integer,
               day_invoices integer)
LANGUAGE sql STABLE AS $$
  SELECT r.id, r.store_key, r.store_id, r.order_date, r.back, r.orders_seen, r.day_invoices
  FROM (
    SELECT r0.*, least(max(r0.back) OVER (PARTITION BY r0.store_key), p_window)::integer AS orders_seen
    FROM (
      SELECT o.id, o.store_id, o.order_date,
             dense_rank() OVER (PARTITION BY o.store_id COLLATE "C" ORDER BY o.order_date DESC)::integer AS back,
             count(*) OVER (PARTITION BY o.store_id COLLATE "C", o.order_date)::integer AS day_invoices,
             dense_rank() OVER (ORDER BY o.store_id COLLATE "C")::integer AS store_key
      FROM data.orders o
      WHERE o.source = 'invoice' AND o.status <> 'void' AND o.total_amount > 0 AND o.order_date <= p_as_of
        AND (p_store_ids IS NULL OR o.store_id IN (SELECT unnest(p_store_ids)))) r0
  ) r
  WHERE r.back <= p_window
$$;

-- Stages the bought lines of every store's last p_window order days on or before p_as_of in
-- pg_temp.recent_lines: one row per invoice line (a product, not a return, positive quantity)
-- with store_key, store_id, order_date, back, orders_seen (as app.recent_orders), product_id,
-- quantity and amount (the line total; 0 for goods given free), as float8: they feed counts,
-- medians, shares and scores only. Readers count order days (count(DISTINCT order_date)), so
-- split invoices and free-goods lines never count an order twice. Shared by the baskets, the
-- association rules and upselling; one refresh reads it three times, so refresh_derived
-- stages it once with p_keep, which marks it reusable until refresh_derived clears the mark;
-- any other call restages it, so a caller never reads lines older than its own data changes.
-- How, measured on a 1M-line history (211 stores, 2,532 recent invoices, 180k lines): the
-- orders are staged first and their ids written into the lines query as a literal array, so
-- the planner fetches the lines through the (order_id, line_no) index knowing how many there
-- are (joined to the orders it hashed all 1M lines: 1.2 s); and the lines are copied as they
-- are: summing them per (order day, product) here cost another 0.4-0.6 s, while the readers
-- group them anyway.
CREATE FUNCTION app.stage_recent_lines(p_as_of date, p_window integer DEFAULT 12, p_keep boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF coalesce(current_setting('mangalm.recent_lines', true), '') = format('%s/%s', p_as_of, p_window)
     AND to_regclass('pg_temp.recent_lines') IS NOT NULL THEN
    RETURN;
  END IF;
  PERFORM app.drop_temp_table('recent_lines');
  PERFORM app.drop_temp_table('recent_order_days');
  CREATE TEMP TABLE recent_order_days ON COMMIT DROP AS SELECT * FROM app.recent_orders(p_as_of, p_window, NULL);
  ANALYZE pg_temp.recent_order_days;
  EXECUTE format(
    $q$CREATE TEMP TABLE recent_lines ON COMMIT DROP AS
       SELECT r.store_key, r.store_id, r.order_date, r.back, r.orders_seen, i.product_id,
              i.quantity::float8 AS quantity, i.line_total::float8 AS amount
       FROM data.invoice_items i JOIN pg_temp.recent_order_days r ON r.id = i.order_id
       WHERE i.order_id = ANY (%L::bigint[])
         AND i.product_id IS NOT NULL AND i.is_product AND NOT i.is_return AND i.quantity > 0$q$,
    (SELECT coalesce(array_agg(r.id), '{}') FROM pg_temp.recent_order_days r));
  ANALYZE pg_temp.recent_lines (store_key, product_id, back);
  PERFORM set_config('mangalm.recent_lines', CASE WHEN p_keep THEN format('%s/%s', p_as_of, p_window) ELSE '' END, true);
END
$$;

-- Per store (all when p_store_ids is NULL) and product it bought in its last p_window order
-- days on or before p_as_of: how often, the median quantity, the latest net unit price, the
-- rank, and whether it is in the predicted basket: bought in at least half of those orders
-- (if no product is, the store's up to 3 most frequent products bought at least twice).
-- Ranked by orders containing it, then the most recently bought. Quantities and prices are
-- those of the lines paid for (a product only ever given free is proposed once, at its
-- catalogue price). Reads the staged lines.
CREATE FUNCTION app.forecast_baskets(p_as_of date, p_store_ids text[] DEFAULT NULL, p_window integer DEFAULT 12)
RETURNS TABLE (store_id text, product_id uuid, orders_with integer, orders_seen integer, share numeric,
               rank integer, in_basket boolean, quantity numeric, unit_price numeric)
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM app.stage_recent_lines(p_as_of, p_window);
  RETURN QUERY
  WITH per_product AS (
    SELECT l.store_key, min(l.store_id) AS store_id, l.product_id, count(DISTINCT l.order_date)::integer AS k,
           max(l.orders_seen) AS n, max(l.order_date) AS last_bought,
           percentile_disc(0.5) WITHIN GROUP (ORDER BY l.quantity) FILTER (WHERE l.amount > 0) AS qty,
           -- the price of the latest paid line: the greatest [day, price] pair (no sort)
           (max(ARRAY[(l.order_date - date '2000-01-01')::float8, l.amount / l.quantity]) FILTER (WHERE l.amount > 0))[2] AS price
    FROM pg_temp.recent_lines l
    WHERE p_store_ids IS NULL OR l.store_id IN (SELECT unnest(p_store_ids))
    GROUP BY l.store_key, l.product_id
  ), ranked_products AS (
    SELECT pp.*,
           row_number() OVER (PARTITION BY pp.store_key ORDER BY pp.k DESC, pp.last_bought DESC, pp.qty DESC NULLS LAST,
                                                                 pp.product_id)::integer AS rnk,
           bool_or(pp.k * 2 >= pp.n) OVER (PARTITION BY pp.store_key) AS has_regular
    FROM per_product pp
  )
  SELECT rp.store_id, rp.product_id, rp.k, rp.n, round(rp.k::numeric / rp.n, 3), rp.rnk,
         (rp.k * 2 >= rp.n) OR (NOT rp.has_regular AND rp.rnk <= 3 AND rp.k >= 2),
         coalesce(rp.qty, 1)::numeric, round(coalesce(rp.price::numeric, p.unit_price, 0), 2)
  FROM ranked_products rp JOIN data.products p ON p.id = rp.product_id;
END
$$;

-- Recomputes the pending predictions as of p_as_of for the given stores (all when NULL);
-- returns how many stores have a pending prediction afterwards. Called by refresh_derived.
-- Decided predictions (approved, converted, dismissed) are never touched, and while a
-- decision is the newest word on a store (no invoice after the as_of it was made on), the
-- store gets no new pending prediction: the decision covers that next order. A pending
-- prediction is updated in place (same id), its basket replaced.
CREATE FUNCTION app.recompute_predictions(p_as_of date, p_store_ids text[] DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_fit record;
  v_count integer;
BEGIN
  SELECT c.id, c.fitted_as_of, c.coefficients, c.recalibration, c.samples INTO v_fit
  FROM data.prediction_calibrations c
  WHERE c.fitted_as_of <= p_as_of AND c.features = app.confidence_feature_names()
  ORDER BY c.fitted_as_of DESC, c.id DESC LIMIT 1;

  PERFORM app.drop_temp_table('forecast_run');
  CREATE TEMP TABLE forecast_run ON COMMIT DROP AS
  SELECT f.*,
         round(least(1, greatest(0, CASE WHEN v_fit.id IS NOT NULL
           THEN app.calibrated_probability(
                  app.confidence_features(f.n_gaps, f.n_later, f.n_window, f.elapsed, f.median_gap, f.spread_gap,
                                          f.predicted_date - p_as_of, p_as_of - f.first_order),
                  v_fit.coefficients, v_fit.recalibration)
           ELSE app.uncalibrated_confidence(f.n_gaps, f.n_later, f.n_window) END))::numeric, 3) AS confidence
  FROM app.forecast_dates(p_as_of, p_store_ids) f
  WHERE NOT EXISTS (SELECT FROM data.predicted_orders d
                    WHERE d.store_id = f.store_id AND d.status <> 'pending' AND d.as_of >= f.last_order);

  PERFORM app.drop_temp_table('forecast_basket');
  CREATE TEMP TABLE forecast_basket ON COMMIT DROP AS
  SELECT b.store_id, b.product_id, b.quantity, b.unit_price, round(b.quantity * b.unit_price, 2) AS line_amount,
         b.share, b.orders_seen
  FROM app.forecast_baskets(p_as_of, p_store_ids) b
  WHERE b.in_basket AND b.store_id IN (SELECT f.store_id FROM pg_temp.forecast_run f);

  PERFORM app.drop_temp_table('forecast_upserted');
  CREATE TEMP TABLE forecast_upserted (id uuid, store_id text) ON COMMIT DROP;

  WITH basket AS (
    SELECT b.store_id, count(*) AS items, sum(b.line_amount) AS amount, max(b.orders_seen) AS orders_seen,
           min(b.share) AS min_share
    FROM pg_temp.forecast_basket b GROUP BY b.store_id
  ), rows AS (
    SELECT f.*, coalesce(b.items, 0) AS items, coalesce(b.amount, 0) AS amount, b.orders_seen, b.min_share,
           -- priority: confidence x urgency (days until the date) x value (the store's RFM monetary score)
           f.confidence * CASE WHEN f.predicted_date - p_as_of <= 3 THEN 1.0
                               WHEN f.predicted_date - p_as_of <= 7 THEN 0.8
                               WHEN f.predicted_date - p_as_of <= 14 THEN 0.5 ELSE 0.3 END
                        * coalesce(s.monetary_score, 3) / 5.0 AS priority_score
    FROM pg_temp.forecast_run f
    LEFT JOIN basket b ON b.store_id = f.store_id
    LEFT JOIN data.customer_segments s ON s.store_id = f.store_id
  ), up AS (
    INSERT INTO data.predicted_orders AS p (store_id, predicted_date, confidence, priority, total_amount, status,
                                            as_of, justification, justification_text, model)
    SELECT r.store_id, r.predicted_date, r.confidence,
           CASE WHEN r.priority_score >= 0.4 THEN 'high' WHEN r.priority_score >= 0.15 THEN 'medium' ELSE 'low' END,
           r.amount, 'pending', p_as_of,
           jsonb_build_object(
             'typical_gap_days', r.median_gap, 'gap_spread_days', r.spread_gap, 'gaps_used', r.n_gaps,
             'orders', r.n_orders, 'first_order', r.first_order, 'last_order', r.last_order,
             'days_since_last_order', r.elapsed, 'longest_recent_gap', r.max_gap,
             'gaps_still_possible', r.n_later, 'gaps_in_window', r.n_window,
             'overdue', r.elapsed > r.median_gap, 'baseline_date', r.baseline_date,
             'basket_items', r.items, 'basket_orders_considered', r.orders_seen, 'basket_min_share', r.min_share,
             'priority_score', round(r.priority_score::numeric, 3),
             'calibrated', v_fit.id IS NOT NULL, 'calibration_id', v_fit.id, 'calibration_fitted_as_of', v_fit.fitted_as_of),
           format('typical gap %s ± %s days over the last %s orders, last order on %s%s; basket: %s',
                  trim_scale(round(r.median_gap, 1)), trim_scale(round(r.spread_gap, 1)), r.n_gaps + 1, r.last_order,
                  CASE WHEN r.n_later = 0 THEN format(', silent for %s days, longer than any recent gap: expected soon if at all', r.elapsed)
                       WHEN r.elapsed > r.median_gap THEN format(', %s days since then (overdue): predicted from the gaps longer than that', r.elapsed)
                       ELSE '' END,
                  CASE WHEN r.items = 0 THEN 'no product bought regularly'
                       WHEN r.min_share >= 0.5 THEN format('%s %s bought in ≥ %s%% of the last %s orders', r.items,
                                                           CASE WHEN r.items = 1 THEN 'item' ELSE 'items' END,
                                                           floor(r.min_share * 100), r.orders_seen)
                       ELSE format('%s most frequent items (none bought in half of the last %s orders)', r.items, r.orders_seen) END),
           CASE WHEN v_fit.id IS NULL THEN 'gap-window-v1 (uncalibrated)' ELSE 'gap-window-v1' END
    FROM rows r
    ON CONFLICT (store_id) WHERE status = 'pending' DO UPDATE
      SET predicted_date = excluded.predicted_date, confidence = excluded.confidence, priority = excluded.priority,
          total_amount = excluded.total_amount, as_of = excluded.as_of, justification = excluded.justification,
          justification_text = excluded.justification_text, model = excluded.model
    RETURNING p.id, p.store_id
  )
  INSERT INTO pg_temp.forecast_upserted SELECT up.id, up.store_id FROM up;

  DELETE FROM data.predicted_order_items i USING pg_temp.forecast_upserted u WHERE i.predicted_order_id = u.id;
  INSERT INTO data.predicted_order_items (predicted_order_id, product_id, quantity, unit_price, line_amount, frequency)
  SELECT u.id, b.product_id, b.quantity, b.unit_price, b.line_amount, b.share
  FROM pg_temp.forecast_upserted u JOIN pg_temp.forecast_basket b ON b.store_id = u.store_id;

  -- Stores in scope that no longer get a prediction (history gone, or a decision stands).
  DELETE FROM data.predicted_orders p
  WHERE p.status = 'pending' AND (p_store_ids IS NULL OR p.store_id IN (SELECT unnest(p_store_ids)))
    AND NOT EXISTS (SELECT FROM pg_temp.forecast_upserted u WHERE u.id = p.id);

  SELECT count(*) INTO v_count FROM pg_temp.forecast_upserted;
  RETURN v_count;
END
$$;
