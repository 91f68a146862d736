-- The track record, in SQL: the confidence model is fitted on past cutoffs, and a backtest
-- predicts as of a cutoff with only earlier invoices and compares with what happened next,
-- beside two naive baselines. (This file sorts before predictions.sql, so everything here is
-- PL/pgSQL: its references are resolved when it runs.)

-- Solves the k x k linear system a·x = b (a given row-major, flattened) by Gaussian elimination
-- with partial pivoting; returns x. For the logistic fit's Newton steps (k = 7): the loops run
-- over the matrix, never over data rows.
CREATE FUNCTION app.solve_linear(p_a float8[], p_b float8[]) RETURNS float8[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
  k integer := cardinality(p_b);
  a float8[] := p_a;
  b float8[] := p_b;
  x float8[] := array_fill(0::float8, ARRAY[k]);
  piv integer;
  f float8;
  t float8;
BEGIN
  FOR c IN 1..k LOOP
    piv := c;
    FOR r IN c + 1..k LOOP
      IF abs(a[(r - 1) * k + c]) > abs(a[(piv - 1) * k + c]) THEN piv := r; END IF;
    END LOOP;
    IF abs(a[(piv - 1) * k + c]) < 1e-12 THEN
      RAISE EXCEPTION 'singular system in the confidence fit (column %)', c;
    END IF;
    IF piv <> c THEN
      FOR j IN 1..k LOOP
        t := a[(c - 1) * k + j]; a[(c - 1) * k + j] := a[(piv - 1) * k + j]; a[(piv - 1) * k + j] := t;
      END LOOP;
      t := b[c]; b[c] := b[piv]; b[piv] := t;
    END IF;
    FOR r IN c + 1..k LOOP
      f := a[(r - 1) * k + c] / a[(c - 1) * k + c];
      FOR j IN c..k LOOP
        a[(r - 1) * k + j] := a[(r - 1) * k + j] - f * a[(c - 1) * k + j];
      END LOOP;
      b[r] := b[r] - f * b[c];
    END LOOP;
  END LOOP;
  FOR r IN REVERSE k..1 LOOP
    t := b[r];
    FOR j IN r + 1..k LOOP
      t := t - a[(r - 1) * k + j] * x[j];
    END LOOP;
    x[r] := t / a[(r - 1) * k + r];
  END LOOP;
  RETURN x;
END
$$;

-- Fits a logistic regression of y on x over pg_temp.calibration_sample (x float8[] whose first
-- element is 1, y 0 or 1, wt the sample's weight); returns the coefficients. Newton's method
-- (IRLS) with a small ridge penalty (1.0, not on the intercept), so tiny or separable samples
-- still give finite, modest coefficients; each step is one aggregate query over the sample.
CREATE FUNCTION app.fit_logistic() RETURNS float8[]
LANGUAGE plpgsql SET extra_float_digits = 1 AS $$
DECLARE
  k integer;
  v_n float8;
  v_hits float8;
  v_b float8[];
  v_g float8[];
  v_h float8[];
  v_delta float8[];
  v_sql text;
  c_ridge constant float8 := 1.0;
  v_ones boolean;
  v_unit boolean;
BEGIN
  SELECT sum(wt), coalesce(sum(wt * y), 0), max(cardinality(x)) INTO v_n, v_hits, k FROM pg_temp.calibration_sample;
  IF coalesce(v_n, 0) = 0 THEN
    RETURN NULL;
  END IF;
  -- The features as plain float8 columns x1..xk: the Newton steps read them ~60 times a row,
  -- and array subscripts cost 5x more than columns.
  PERFORM app.drop_temp_table('calibration_columns');
  EXECUTE format('CREATE TEMP TABLE calibration_columns ON COMMIT DROP AS SELECT %s, y, wt FROM pg_temp.calibration_sample',
                 (SELECT string_agg(format('x[%s] AS x%s', i, i), ', ' ORDER BY i) FROM generate_series(1, k) i));
  -- Gradient and Hessian of the penalised log-likelihood in one pass. The OFFSET 0 fences keep
  -- p and w computed once a row (flattened, the planner repeated the exp() in each of the 56
  -- sums: 30x slower). The products w x_i are computed once a row too (wx1..wxk), so each
  -- Hessian sum multiplies once, not twice: (w x_i) x_j is what w * x_i * x_j evaluates (left
  -- to right), so the sums are bit for bit the same.
  -- An intercept column of ones (x1 = 1 in every row) and unit weights (wt = 1), as both fits
  -- give: then x1 * b1 = b1, w * x1 = w, (w x_i) x1 = w x_i, r * x1 = r and 1 * p = p exactly
  -- (multiplying by 1 changes no bit), so those products are left out: the same sums.
  SELECT bool_and(c.x1 = 1), bool_and(c.wt = 1) INTO v_ones, v_unit FROM pg_temp.calibration_columns c;
  v_sql := format(
    'SELECT ARRAY[%s]::float8[], ARRAY[%s]::float8[]
     FROM (SELECT *, %s
           FROM (SELECT *, %s AS w, %s AS r
                 FROM (SELECT *, 1 / (1 + exp(-greatest(-30, least(30, %%s)))) AS p
                       FROM pg_temp.calibration_columns OFFSET 0) a OFFSET 0) b OFFSET 0) c',
    (SELECT string_agg(CASE WHEN i = 1 AND v_ones THEN 'sum(r)' ELSE format('sum(r * x%s)', i) END, ', ' ORDER BY i)
     FROM generate_series(1, k) i),
    -- (the Hessian is symmetric: written with the smaller index first, (i, j) and (j, i) are
    -- the same expression, which PostgreSQL computes once: 66 sums instead of 121 for k = 11)
    (SELECT string_agg(CASE WHEN least(i, j) = 1 AND v_ones THEN format('sum(wx%s)', greatest(i, j))
                            ELSE format('sum(wx%s * x%s)', least(i, j), greatest(i, j)) END, ', ' ORDER BY i, j)
     FROM generate_series(1, k) i, generate_series(1, k) j),
    (SELECT string_agg(CASE WHEN i = 1 AND v_ones THEN 'w AS wx1' ELSE format('w * x%s AS wx%s', i, i) END, ', ' ORDER BY i)
     FROM generate_series(1, k) i),
    CASE WHEN v_unit THEN 'p * (1 - p)' ELSE 'wt * p * (1 - p)' END,
    CASE WHEN v_unit THEN '(y - p)' ELSE 'wt * (y - p)' END);
  v_b := array_fill(0::float8, ARRAY[k]);
  v_b[1] := ln((v_hits + 0.5) / (v_n - v_hits + 0.5));
  FOR iter IN 1..30 LOOP
    -- The coefficients written into the statement as constants (x2 * '0.15'::float8 ...)
    -- instead of subscripts of an array parameter, which was read (and copied) 11 times a row;
    -- extra_float_digits = 1 (set on this function) prints each float8 in the shortest form
    -- that reads back to the same bits. With the products by 1 left out: the Newton steps
    -- 5-8 % less CPU (A/B at the whole export's size, min of 6), the same coefficients.
    EXECUTE format(v_sql, (SELECT string_agg(CASE WHEN i = 1 AND v_ones THEN format('%L::float8', v_b[1])
                                                  ELSE format('x%s * %L::float8', i, v_b[i]) END, ' + ' ORDER BY i)
                           FROM generate_series(1, k) i)) INTO v_g, v_h;
    FOR j IN 2..k LOOP
      v_g[j] := v_g[j] - c_ridge * v_b[j];
      v_h[(j - 1) * k + j] := v_h[(j - 1) * k + j] + c_ridge;
    END LOOP;
    v_delta := app.solve_linear(v_h, v_g);
    FOR j IN 1..k LOOP
      v_b[j] := v_b[j] + v_delta[j];
    END LOOP;
    EXIT WHEN (SELECT max(abs(d)) FROM unnest(v_delta) d) < 1e-6;
  END LOOP;
  RETURN v_b;
END
$$;

-- What the fits as of p_as_of saw of the invoices: their count, newest id, total and voids on
-- or before p_as_of. A fit recorded with the same fingerprint was made from the same orders, so
-- app.fit_calibration reuses it instead of fitting again (~3 s on the real export): `mangalm
-- predict` right after an upload's refresh, or a second backtest at one cutoff. (A change to
-- an invoice's lines alone would go unseen; uploads change lines only with their invoices.)
CREATE FUNCTION app.orders_fingerprint(p_as_of date) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT format('%s/%s/%s/%s', count(*), max(o.id), sum(o.total_amount), count(*) FILTER (WHERE o.status = 'void'))
  FROM data.orders o WHERE o.source = 'invoice' AND o.order_date <= p_as_of
$$;

-- The calibration table of a fit: per decile of the predicted probability p (0-0.1, ...,
-- 0.9-1) the number of samples, their mean p (under p_mean_key) and the share that came true
-- (y = 1), and the mean log loss over all samples. One table for both models' fits.
CREATE FUNCTION app.calibration_bins(p_p float8[], p_y integer[], p_mean_key text,
                                     OUT bins jsonb, OUT log_loss float8)
LANGUAGE sql IMMUTABLE AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object('decile', d.decile, 'n', d.n, p_mean_key, d.mean_p,
                                               'hit_rate', d.hit_rate) ORDER BY d.decile), '[]'),
         sum(d.ll) / sum(d.n)::float8
  FROM (SELECT least(width_bucket(q.p, 0, 1, 10), 10) AS decile, count(*) AS n,
               round(avg(q.p)::numeric, 3) AS mean_p, round(avg(q.y), 3) AS hit_rate,
               sum(CASE WHEN q.y = 1 THEN -ln(greatest(q.p, 1e-12)) ELSE -ln(greatest(1 - q.p, 1e-12)) END) AS ll
        FROM unnest(p_p, p_y) AS q(p, y)
        GROUP BY 1) d
$$;

-- Fits the basket model (app.forecast_baskets' item probabilities) as of p_as_of and stores it
-- in data.prediction_calibrations (features = app.item_feature_names()); returns the fit's id,
-- or NULL when fewer than 30 candidates can be checked. Training set: the candidates ranked at
-- the cutoffs p_offsets days before p_as_of, each labelled by whether the store's first order
-- after that cutoff held the product; only stores whose first order after the cutoff is on or
-- before p_as_of count (no leakage: every label is known at p_as_of). One cutoff, 28 days
-- back, by default: on the real export it gives 25-30k candidates, plenty for seven
-- coefficients; a second one (56 days) cost ~1 s more and calibrated no better (item ECE on
-- the top 200 stores, three cutoffs: 0.013 with one, 0.019 with two).
CREATE FUNCTION app.fit_item_model(p_as_of date, p_offsets integer[] DEFAULT ARRAY[28])
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_cut date;
  v_n integer;
  v_hits integer;
  v_b float8[];
  v_bins jsonb;
  v_ll float8;
  v_id bigint;
  v_stores text[];
BEGIN
  PERFORM app.drop_temp_table('item_sample');
  CREATE TEMP TABLE item_sample (x float8[], y integer, wt float8) ON COMMIT DROP;
  FOREACH v_cut IN ARRAY ARRAY(SELECT p_as_of - o FROM unnest(p_offsets) o) LOOP
    -- Only the stores that ordered after the cutoff can be labelled: their candidates alone
    -- are staged (the real export's half: 764 of 2,620 stores; the fit took 1.33 s, now 0.60 s).
    v_stores := ARRAY(SELECT DISTINCT o.store_id FROM app.purchases o
                      WHERE o.order_date > v_cut AND o.order_date <= p_as_of);
    PERFORM app.stage_recent_lines(v_cut, 12, false, v_stores);
    PERFORM app.stage_basket_candidates(v_cut, v_stores);
    INSERT INTO pg_temp.item_sample
    WITH next_day AS (
      SELECT o.store_id, min(o.order_date) AS day FROM app.purchases o
      WHERE o.order_date > v_cut AND o.order_date <= p_as_of
        AND o.store_id IN (SELECT DISTINCT b.store_id FROM pg_temp.basket_candidates b)
      GROUP BY o.store_id
    ), bought AS (
      SELECT DISTINCT n.store_id, i.product_id
      FROM next_day n
      JOIN app.purchases o ON o.store_id = n.store_id AND o.order_date = n.day
      JOIN app.basket_lines i ON i.order_id = o.id
    )
    SELECT app.item_features(b.u, b.k, b.g, b.n, b.score_rank), (x.product_id IS NOT NULL)::integer, 1.0
    FROM pg_temp.basket_candidates b
    JOIN next_day n ON n.store_id = b.store_id
    LEFT JOIN bought x ON x.store_id = b.store_id AND x.product_id = b.product_id;
  END LOOP;
  -- The lines staged here were the cutoffs'; the next reader restages its own.
  PERFORM app.drop_temp_table('recent_lines');
  PERFORM set_config('mangalm.recent_lines', '', true);

  SELECT count(*), coalesce(sum(y), 0) INTO v_n, v_hits FROM pg_temp.item_sample;
  IF v_n < 30 THEN
    RETURN NULL;
  END IF;
  PERFORM app.drop_temp_table('calibration_sample');
  ALTER TABLE pg_temp.item_sample RENAME TO calibration_sample;
  v_b := app.fit_logistic();
  SELECT b.bins, b.log_loss INTO v_bins, v_ll
  FROM (SELECT array_agg(app.logistic(s.x, v_b)) AS p, array_agg(s.y::integer) AS y
        FROM pg_temp.calibration_sample s) a,
       app.calibration_bins(a.p, a.y, 'mean_probability') b;
  DROP TABLE pg_temp.calibration_sample;
  INSERT INTO data.prediction_calibrations (fitted_as_of, training_cutoffs, samples, hits, features, coefficients,
                                            recalibration, bins, log_loss, orders_fingerprint)
  VALUES (p_as_of, ARRAY(SELECT p_as_of - o FROM unnest(p_offsets) o), v_n, v_hits, app.item_feature_names(), v_b,
          NULL, v_bins, v_ll, app.orders_fingerprint(p_as_of))
  RETURNING id INTO v_id;
  RETURN v_id;
END
$$;

-- Fits the confidence model as of p_as_of and stores it in data.prediction_calibrations;
-- returns the fit's id, or NULL when fewer than 30 past predictions can be checked.
-- Training set: the predictions forecast_dates makes at p_cutoffs past cutoffs (every p_step
-- days before p_as_of), each labelled hit when the store's first order after that cutoff fell
-- within ±7 days of it. Only predictions whose whole window ends on or before p_as_of are
-- used, so every label is known from invoices dated on or before p_as_of (no leakage), and
-- which ones are used depends on the prediction only, never on the outcome.
-- Model: logistic regression on app.confidence_features (app.fit_logistic), then a quadratic
-- Platt scaling of its linear predictor, fitted on the same sample. The basket model is
-- refitted first (app.fit_item_model), so the two always come from the same as_of. A fit of
-- the same as_of and cutoffs made from the same orders (app.orders_fingerprint) is returned
-- as it is, unless p_force.
CREATE FUNCTION app.fit_calibration(p_as_of date, p_cutoffs integer DEFAULT 13, p_step integer DEFAULT 14,
                                    p_force boolean DEFAULT false)
RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_fingerprint text := app.orders_fingerprint(p_as_of);
  v_cutoffs date[];
  v_n integer;
  v_hits integer;
  v_b float8[];
  v_r float8[];
  v_ll float8;
  v_bins jsonb;
  v_id bigint;
BEGIN
  v_cutoffs := ARRAY(SELECT p_as_of - p_step * j FROM generate_series(1, p_cutoffs) j);
  IF NOT p_force THEN
    SELECT c.id INTO v_id FROM data.prediction_calibrations c
    WHERE c.fitted_as_of = p_as_of AND c.features = app.confidence_feature_names()
      AND c.training_cutoffs = v_cutoffs AND c.orders_fingerprint = v_fingerprint
    ORDER BY c.id DESC LIMIT 1;
    IF v_id IS NOT NULL THEN
      RETURN v_id;
    END IF;
  END IF;
  PERFORM app.fit_item_model(p_as_of);
  PERFORM app.drop_temp_table('calibration_stage1');

  PERFORM app.drop_temp_table('calibration_sample');
  CREATE TEMP TABLE calibration_sample ON COMMIT DROP AS
  WITH days AS (
    SELECT o.store_id, o.order_date AS day, lag(o.order_date) OVER (PARTITION BY o.store_id ORDER BY o.order_date) AS prev
    FROM app.purchases o
    WHERE o.order_date <= p_as_of
    GROUP BY o.store_id, o.order_date
  )
  SELECT app.confidence_features(f.n_gaps, f.n_later, f.n_window, f.elapsed, f.median_gap, f.spread_gap,
                                 f.predicted_date - f.cutoff, f.cutoff - f.first_order, f.recent_orders, f.n_orders) AS x,
         (nx.day IS NOT NULL AND abs(nx.day - f.predicted_date) <= 7)::integer AS y, 1.0::float8 AS wt
  -- Every cutoff's predictions in one pass over the order days (app.forecast_dates_at).
  FROM app.forecast_dates_at(v_cutoffs, NULL) f
  -- The store's first order day after the cutoff (on or before p_as_of): the one whose
  -- previous order day is the store's last on or before the cutoff (an equi-join; matching
  -- every order day against every cutoff cost 30 ms more at the whole export's size).
  LEFT JOIN days nx ON nx.store_id = f.store_id AND nx.prev = f.last_order
  WHERE f.predicted_date + 7 <= p_as_of
  -- The sample in app.forecast_dates_at's order, cutoff by cutoff in v_cutoffs' order, stores
  -- by id: fit_logistic's float sums depend on the order of the rows, which is thus fixed
  -- here rather than left to the join's plan.
  ORDER BY array_position(v_cutoffs, f.cutoff), f.store_id COLLATE "C";

  SELECT count(*), coalesce(sum(y), 0) INTO v_n, v_hits FROM pg_temp.calibration_sample;
  IF v_n < 30 THEN
    RETURN NULL;
  END IF;
  v_b := app.fit_logistic();

  -- Second stage: a logistic regression of the outcome on the first stage's linear predictor
  -- z and z^2, over the same sample (see data.prediction_calibrations.recalibration). Its
  -- sample holds x = [1, z, z^2] only (the first stage's features are not read again).
  ALTER TABLE pg_temp.calibration_sample RENAME TO calibration_stage1;
  CREATE TEMP TABLE calibration_sample ON COMMIT DROP AS
  SELECT ARRAY[1, s.z, s.z ^ 2] AS x, s.y, 1.0::float8 AS wt
  -- (OFFSET 0: z computed once a row, not once for each of its two uses)
  FROM (SELECT app.linear_predictor(s1.x, v_b) AS z, s1.y FROM pg_temp.calibration_stage1 s1 OFFSET 0) s;
  DROP TABLE pg_temp.calibration_stage1;
  v_r := app.fit_logistic();

  -- The calibrated probability from the stored z = x[2]: app.calibrated_probability(x, b, r)
  -- is the logistic of [1, z, z^2]·r with z = app.linear_predictor(x, b), the same
  -- arithmetic. Called on the first stage's x, it is not inlined (a function call a row, twice
  -- over: 19 ms on the demo set's 1,915 samples, 143 ms on the real export's half); on z it is.
  SELECT b.bins, b.log_loss INTO v_bins, v_ll
  FROM (SELECT array_agg(CASE WHEN v_r IS NULL THEN 1 / (1 + exp(-s.x[2])) ELSE app.logistic(s.x, v_r) END) AS p,
               array_agg(s.y::integer) AS y
        FROM pg_temp.calibration_sample s) a,
       app.calibration_bins(a.p, a.y, 'mean_confidence') b;
  DROP TABLE pg_temp.calibration_sample;

  INSERT INTO data.prediction_calibrations (fitted_as_of, training_cutoffs, samples, hits, features, coefficients,
                                            recalibration, bins, log_loss, orders_fingerprint)
  VALUES (p_as_of, v_cutoffs, v_n, v_hits, app.confidence_feature_names(), v_b, v_r, v_bins, v_ll, v_fingerprint)
  RETURNING id INTO v_id;
  RETURN v_id;
END
$$;

-- Runs a backtest: predicts as of p_cutoff with only invoices dated on or before it (the
-- confidence and basket models too are fitted as of the cutoff), compares with the horizon
-- after it, and records the figures in data.backtest_runs; returns them (jsonb, with the
-- run's id). p_top, when given, judges only the p_top stores with the most order days before
-- the cutoff among those that ordered within the horizon (the busiest: where a rep's time goes).
--   dates:   hit rate (the first order after the cutoff within ±7 days of the prediction,
--            over the stores whose window ends within the horizon), mean absolute error in
--            days (stores that ordered), Brier score; baseline "last order + median gap".
--   baskets: against the products of the first order after the cutoff: recall@10 (the share
--            of that order's products among the first 10 ranked), precision@10 (the share of
--            the first 10 that were ordered), F1; the predicted order's lines (in_basket):
--            size, precision, recall and the amount error; beside two baselines, "the store's
--            own 10 most frequent products" and "the same, each past order weighted 0.9^k by
--            age" (k = 0 for the newest), both over all history to the cutoff.
--   calibration: per confidence decile, predictions, mean confidence and observed hit rate;
--            item_calibration: the same for the ranked products' probabilities.
-- Refuses a horizon outside 7..730 days, and a cutoff whose horizon runs past the newest
-- invoice (outcomes there are not known yet).
CREATE FUNCTION app.run_backtest(p_cutoff date, p_horizon integer DEFAULT 90, p_top integer DEFAULT NULL) RETURNS jsonb
LANGUAGE plpgsql SET work_mem = '64MB' SET jit = off AS $$
DECLARE
  v_first date;
  v_last date;
  v_fit bigint;
  v_fit_row record;
  v_end date := p_cutoff + p_horizon;
  v_started timestamptz := clock_timestamp();
  v_dates jsonb;
  v_baskets jsonb;
  v_calibration jsonb;
  v_item_calibration jsonb;
  v_result jsonb;
  v_id bigint;
BEGIN
  IF p_cutoff IS NULL THEN
    RAISE EXCEPTION 'give the cutoff date of the backtest' USING ERRCODE = '22023';
  END IF;
  IF p_horizon IS NULL OR p_horizon NOT BETWEEN 7 AND 730 THEN
    RAISE EXCEPTION 'horizon % days is out of range', p_horizon USING ERRCODE = '22023',
      HINT = 'use 7 to 730 days (90 is the default)';
  END IF;
  SELECT min(order_date), max(order_date) INTO v_first, v_last
  FROM app.sales;
  IF v_last IS NULL THEN
    RAISE EXCEPTION 'there are no invoices to backtest on' USING ERRCODE = '22023',
      HINT = 'load an export first (mangalm load FILE)';
  END IF;
  IF p_cutoff < v_first OR v_end > v_last THEN
    RAISE EXCEPTION 'cutoff % with a % day horizon needs invoices from % to %, but they run from % to %',
      p_cutoff, p_horizon, p_cutoff, v_end, v_first, v_last USING ERRCODE = '22023',
      HINT = format('choose a cutoff between %s and %s (or a shorter horizon)', v_first, v_last - p_horizon);
  END IF;

  v_fit := app.fit_calibration(p_cutoff);
  SELECT id, samples, hits, fitted_as_of, training_cutoffs, coefficients, recalibration INTO v_fit_row
  FROM data.prediction_calibrations WHERE id = v_fit;

  -- Dates: model and baseline, with the first order after the cutoff within the horizon.
  PERFORM app.drop_temp_table('bt_dates');
  CREATE TEMP TABLE bt_dates ON COMMIT DROP AS
  SELECT f.store_id, f.n_orders, f.predicted_date, f.baseline_date, nx.day AS next_day, f.elapsed > f.median_gap AS overdue,
         CASE WHEN v_fit IS NOT NULL
              THEN app.calibrated_probability(
                     app.confidence_features(f.n_gaps, f.n_later, f.n_window, f.elapsed, f.median_gap, f.spread_gap,
                                             f.predicted_date - p_cutoff, p_cutoff - f.first_order, f.recent_orders, f.n_orders),
                     v_fit_row.coefficients, v_fit_row.recalibration)
              ELSE app.uncalibrated_confidence(f.n_gaps, f.n_later, f.n_window) END AS confidence
  FROM app.forecast_dates(p_cutoff, NULL) f
  LEFT JOIN LATERAL (
    SELECT min(o.order_date) AS day FROM app.purchases o
    WHERE o.store_id = f.store_id
      AND o.order_date > p_cutoff AND o.order_date <= v_end) nx ON true;
  IF p_top IS NOT NULL THEN
    DELETE FROM pg_temp.bt_dates d
    WHERE d.store_id NOT IN (SELECT t.store_id FROM pg_temp.bt_dates t WHERE t.next_day IS NOT NULL
                             ORDER BY t.n_orders DESC, t.store_id LIMIT p_top);
  END IF;

  SELECT jsonb_build_object(
    'stores_predicted', count(*),
    'stores_ordered', count(next_day),
    'model', jsonb_build_object(
      'evaluated', count(*) FILTER (WHERE predicted_date + 7 <= v_end),
      'hit_rate_7d', round(avg((next_day IS NOT NULL AND abs(next_day - predicted_date) <= 7)::integer)
                           FILTER (WHERE predicted_date + 7 <= v_end), 4),
      'mae_days', round(avg(abs(next_day - predicted_date)), 2),
      'median_abs_error_days', percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(next_day - predicted_date)),
      'mean_confidence', round(avg(confidence) FILTER (WHERE predicted_date + 7 <= v_end)::numeric, 4),
      'brier', round(avg((confidence - (next_day IS NOT NULL AND abs(next_day - predicted_date) <= 7)::integer) ^ 2)
                     FILTER (WHERE predicted_date + 7 <= v_end)::numeric, 4)),
    'baseline', jsonb_build_object(
      'name', 'last order + median gap',
      'evaluated', count(*) FILTER (WHERE baseline_date + 7 <= v_end),
      'hit_rate_7d', round(avg((next_day IS NOT NULL AND abs(next_day - baseline_date) <= 7)::integer)
                           FILTER (WHERE baseline_date + 7 <= v_end), 4),
      'mae_days', round(avg(abs(next_day - baseline_date)), 2),
      'median_abs_error_days', percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(next_day - baseline_date)),
      'predicted_before_cutoff', count(*) FILTER (WHERE baseline_date <= p_cutoff)),
    -- Where the two differ most: stores already silent for longer than their usual gap.
    'overdue', jsonb_build_object(
      'stores', count(*) FILTER (WHERE overdue),
      'model_hit_rate_7d', round(avg((next_day IS NOT NULL AND abs(next_day - predicted_date) <= 7)::integer)
                                 FILTER (WHERE overdue AND predicted_date + 7 <= v_end), 4),
      'baseline_hit_rate_7d', round(avg((next_day IS NOT NULL AND abs(next_day - baseline_date) <= 7)::integer)
                                    FILTER (WHERE overdue AND baseline_date + 7 <= v_end), 4),
      'model_mae_days', round(avg(abs(next_day - predicted_date)) FILTER (WHERE overdue), 2),
      'baseline_mae_days', round(avg(abs(next_day - baseline_date)) FILTER (WHERE overdue), 2)))
  INTO v_dates FROM pg_temp.bt_dates;

  SELECT coalesce(jsonb_agg(jsonb_build_object('decile', format('%s-%s', round((d.decile - 1) / 10.0, 1), round(d.decile / 10.0, 1)),
                                               'n', d.n, 'mean_confidence', d.mean_conf, 'hit_rate', d.hit_rate,
                                               'gap', abs(d.mean_conf - d.hit_rate))
                            ORDER BY d.decile), '[]')
  INTO v_calibration
  FROM (SELECT least(width_bucket(confidence, 0, 1, 10), 10) AS decile, count(*) AS n,
               round(avg(confidence)::numeric, 3) AS mean_conf,
               round(avg((next_day IS NOT NULL AND abs(next_day - predicted_date) <= 7)::integer), 3) AS hit_rate
        FROM pg_temp.bt_dates WHERE predicted_date + 7 <= v_end GROUP BY 1) d;

  -- Baskets: the products of the first order day after the cutoff (bought lines only).
  PERFORM app.drop_temp_table('bt_actual');
  CREATE TEMP TABLE bt_actual ON COMMIT DROP AS
  SELECT d.store_id, i.product_id, sum(i.line_total) AS amount
  FROM pg_temp.bt_dates d
  JOIN app.purchases o ON o.store_id = d.store_id AND o.order_date = d.next_day
  JOIN app.basket_lines i ON i.order_id = o.id
  GROUP BY d.store_id, i.product_id;

  -- The model's ranked candidates (the first 10 for @10, the in_basket ones for the order).
  PERFORM app.drop_temp_table('bt_model');
  CREATE TEMP TABLE bt_model ON COMMIT DROP AS
  SELECT b.store_id, b.product_id, round(b.quantity * b.unit_price, 2) AS amount, b.rank AS rnk, b.in_basket,
         b.probability
  FROM app.forecast_baskets(p_cutoff, NULL, 20, ARRAY(SELECT store_id FROM pg_temp.bt_dates)) b
  WHERE b.store_id IN (SELECT store_id FROM pg_temp.bt_dates);

  -- Baselines over all history to the cutoff, one row per store and product: k = the order days
  -- with the product, w = the same with each order day weighted 0.9^(its age in order days).
  PERFORM app.drop_temp_table('bt_baselines');
  CREATE TEMP TABLE bt_baselines ON COMMIT DROP AS
  WITH days AS (
    SELECT o.store_id, o.order_date, i.product_id, sum(i.quantity) AS qty,
           max(i.line_total / i.quantity) FILTER (WHERE i.line_total > 0) AS price
    FROM app.purchases o JOIN app.basket_lines i ON i.order_id = o.id
    WHERE o.order_date <= p_cutoff
      AND o.store_id IN (SELECT store_id FROM pg_temp.bt_dates)
    GROUP BY 1, 2, 3
  ), aged AS (
    SELECT d.*, dense_rank() OVER (PARTITION BY d.store_id ORDER BY d.order_date DESC) - 1 AS age FROM days d
  ), per_product AS (
    SELECT store_id, product_id, count(*) AS k, sum(power(0.9, age)) AS w,
           percentile_disc(0.5) WITHIN GROUP (ORDER BY qty) AS qty,
           (array_agg(price ORDER BY order_date DESC) FILTER (WHERE price IS NOT NULL))[1] AS price
    FROM aged GROUP BY 1, 2
  )
  SELECT pp.store_id, pp.product_id, round(pp.qty * coalesce(pp.price, 0), 2) AS amount,
         -- ties by the product's key, so that two loads of one export give the same figures
         row_number() OVER (PARTITION BY pp.store_id ORDER BY pp.k DESC, pr.product_key) AS freq_rank,
         row_number() OVER (PARTITION BY pp.store_id ORDER BY pp.w DESC, pp.k DESC, pr.product_key) AS recency_rank
  FROM per_product pp JOIN data.products pr ON pr.id = pp.product_id;

  WITH actual AS (
    SELECT store_id, count(*) AS n, sum(amount) AS amount FROM pg_temp.bt_actual GROUP BY 1
  ), model AS (
    SELECT m.store_id, count(*) FILTER (WHERE m.rnk <= 10) AS m_n,
           count(x.product_id) FILTER (WHERE m.rnk <= 10) AS m_hits,
           count(*) FILTER (WHERE m.in_basket) AS o_n, count(x.product_id) FILTER (WHERE m.in_basket) AS o_hits,
           sum(m.amount) FILTER (WHERE m.in_basket) AS o_amount
    FROM pg_temp.bt_model m LEFT JOIN pg_temp.bt_actual x ON x.store_id = m.store_id AND x.product_id = m.product_id
    GROUP BY m.store_id
  ), baseline AS (
    SELECT b.store_id, count(*) FILTER (WHERE b.freq_rank <= 10) AS b_n,
           count(x.product_id) FILTER (WHERE b.freq_rank <= 10) AS b_hits,
           sum(b.amount) FILTER (WHERE b.freq_rank <= 10) AS b_amount,
           count(*) FILTER (WHERE b.recency_rank <= 10) AS w_n,
           count(x.product_id) FILTER (WHERE b.recency_rank <= 10) AS w_hits,
           sum(b.amount) FILTER (WHERE b.recency_rank <= 10) AS w_amount
    FROM pg_temp.bt_baselines b LEFT JOIN pg_temp.bt_actual x ON x.store_id = b.store_id AND x.product_id = b.product_id
    WHERE b.freq_rank <= 10 OR b.recency_rank <= 10
    GROUP BY b.store_id
  ), scored AS (
    SELECT a.store_id, a.n, a.amount, coalesce(m.m_n, 0) AS m_n, coalesce(m.m_hits, 0) AS m_hits,
           coalesce(m.o_n, 0) AS o_n, coalesce(m.o_hits, 0) AS o_hits, m.o_amount,
           coalesce(b.b_n, 0) AS b_n, coalesce(b.b_hits, 0) AS b_hits, b.b_amount,
           coalesce(b.w_n, 0) AS w_n, coalesce(b.w_hits, 0) AS w_hits, b.w_amount
    FROM actual a LEFT JOIN model m ON m.store_id = a.store_id LEFT JOIN baseline b ON b.store_id = a.store_id
  ), rates AS (
    SELECT s.*, s.m_hits::numeric / nullif(s.m_n, 0) AS m_p, s.m_hits::numeric / s.n AS m_r,
           s.o_hits::numeric / nullif(s.o_n, 0) AS o_p, s.o_hits::numeric / s.n AS o_r,
           s.b_hits::numeric / nullif(s.b_n, 0) AS b_p, s.b_hits::numeric / s.n AS b_r,
           s.w_hits::numeric / nullif(s.w_n, 0) AS w_p, s.w_hits::numeric / s.n AS w_r
    FROM scored s
  )
  SELECT jsonb_build_object(
    'evaluated', count(*),
    'actual_items_mean', round(avg(n), 2),
    'model', jsonb_build_object(
      'items_mean', round(avg(m_n), 2),
      'recall_at_10', round(avg(m_r), 4), 'precision_at_10', round(avg(coalesce(m_p, 0)), 4),
      'f1_at_10', round(avg(coalesce(2 * m_p * m_r / nullif(m_p + m_r, 0), 0)), 4),
      'basket_items_mean', round(avg(o_n), 2),
      'basket_precision', round(avg(coalesce(o_p, 0)), 4), 'basket_recall', round(avg(o_r), 4),
      'amount_mae', round(avg(abs(coalesce(o_amount, 0) - amount)), 2),
      'amount_wape', round(sum(abs(coalesce(o_amount, 0) - amount)) / nullif(sum(amount), 0), 4)),
    'baseline', jsonb_build_object(
      'name', 'the store''s own 10 most frequent products',
      'items_mean', round(avg(b_n), 2),
      'recall_at_10', round(avg(b_r), 4), 'precision_at_10', round(avg(coalesce(b_p, 0)), 4),
      'f1_at_10', round(avg(coalesce(2 * b_p * b_r / nullif(b_p + b_r, 0), 0)), 4),
      'amount_mae', round(avg(abs(coalesce(b_amount, 0) - amount)), 2),
      'amount_wape', round(sum(abs(coalesce(b_amount, 0) - amount)) / nullif(sum(amount), 0), 4)),
    'recency_baseline', jsonb_build_object(
      'name', 'the same, each past order weighted 0.9^k by age',
      'items_mean', round(avg(w_n), 2),
      'recall_at_10', round(avg(w_r), 4), 'precision_at_10', round(avg(coalesce(w_p, 0)), 4),
      'f1_at_10', round(avg(coalesce(2 * w_p * w_r / nullif(w_p + w_r, 0), 0)), 4),
      'amount_mae', round(avg(abs(coalesce(w_amount, 0) - amount)), 2),
      'amount_wape', round(sum(abs(coalesce(w_amount, 0) - amount)) / nullif(sum(amount), 0), 4)))
  INTO v_baskets FROM rates;

  -- The item probabilities against what the stores that ordered really bought.
  SELECT coalesce(jsonb_agg(jsonb_build_object('decile', format('%s-%s', round((d.decile - 1) / 10.0, 1), round(d.decile / 10.0, 1)),
                                               'n', d.n, 'mean_probability', d.mean_p, 'hit_rate', d.hit_rate,
                                               'gap', abs(d.mean_p - d.hit_rate))
                            ORDER BY d.decile), '[]')
  INTO v_item_calibration
  FROM (SELECT least(width_bucket(m.probability, 0, 1, 10), 10) AS decile, count(*) AS n,
               round(avg(m.probability), 3) AS mean_p, round(avg((x.product_id IS NOT NULL)::integer), 3) AS hit_rate
        FROM pg_temp.bt_model m
        JOIN pg_temp.bt_dates d ON d.store_id = m.store_id AND d.next_day IS NOT NULL
        LEFT JOIN pg_temp.bt_actual x ON x.store_id = m.store_id AND x.product_id = m.product_id
        GROUP BY 1) d;

  v_result := jsonb_build_object(
    'cutoff', p_cutoff, 'horizon_days', p_horizon, 'window_days', 7, 'top_stores', p_top,
    'dates', v_dates, 'baskets', v_baskets, 'calibration', v_calibration, 'item_calibration', v_item_calibration,
    -- The largest |mean confidence - hit rate| among deciles with 100+ predictions (a decile
    -- of 30 has a standard error near 0.08: its gap says little), and the expected
    -- calibration error (the gaps weighted by the deciles' sizes).
    'calibration_max_gap', (SELECT max((c ->> 'gap')::numeric) FROM jsonb_array_elements(v_calibration) c
                            WHERE (c ->> 'n')::integer >= 100),
    'calibration_ece', (SELECT round(sum((c ->> 'gap')::numeric * (c ->> 'n')::integer) / nullif(sum((c ->> 'n')::integer), 0), 4)
                        FROM jsonb_array_elements(v_calibration) c),
    'item_calibration_ece', (SELECT round(sum((c ->> 'gap')::numeric * (c ->> 'n')::integer) / nullif(sum((c ->> 'n')::integer), 0), 4)
                             FROM jsonb_array_elements(v_item_calibration) c),
    'confidence_fit', CASE WHEN v_fit IS NULL THEN jsonb_build_object('calibrated', false)
                           ELSE jsonb_build_object('calibrated', true, 'id', v_fit, 'samples', v_fit_row.samples,
                                                   'hits', v_fit_row.hits, 'training_cutoffs', cardinality(v_fit_row.training_cutoffs)) END,
    'seconds', round(extract(epoch FROM clock_timestamp() - v_started)::numeric, 3));
  INSERT INTO data.backtest_runs (cutoff, horizon, metrics) VALUES (p_cutoff, p_horizon, v_result) RETURNING id INTO v_id;
  RETURN jsonb_build_object('id', v_id) || v_result;
END
$$;

-- POST /api/rpc/backtest {"cutoff": "2025-06-30", "horizon": 90}: runs and records a backtest
-- (managers and admins); returns its figures. Security definer, so callers need no write
-- access to the track record; it reads every store, which only these roles may call it for.
CREATE FUNCTION api.backtest(cutoff date, horizon integer DEFAULT 90) RETURNS jsonb
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, data, app SET work_mem = '64MB' SET jit = off AS $$
DECLARE
  v_result jsonb;
BEGIN
  v_result := app.run_backtest(cutoff, horizon);
  PERFORM app.refresh_dashboard();
  RETURN v_result;
END
$$;
COMMENT ON FUNCTION api.backtest(date, integer) IS
  'Backtest the predictions as of a cutoff over a horizon (days): hit rate ±7 d, MAE, recall@10, precision@10, amount error, calibration, vs baselines';
