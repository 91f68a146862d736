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
-- The date is the centre of the ±7-day window most likely to hold the next order.
-- * A store with a rhythm (the spread of its last 24 gaps, 1.4826 x their median absolute
--   deviation, is under half their median): of those gaps, only the ones longer than the time
--   it has already been silent can still happen (a renewal process conditioned on "no order
--   yet"); the gap whose ±7-day window holds the most of them (ties: nearest their median) is
--   predicted, so a store 10 days into a usual 7-day gap is predicted at its usual 14-day skip.
-- * Any other store (no rhythm, or silent for longer than any recent gap) is predicted
--   as_of + 8: the window of the next 15 days. No window that starts later can hold more of a
--   memoryless store's next order, and one that starts earlier only covers days already gone.
--   Measured on the real wholesaler's export (top 200 stores, cutoffs 2011-03-01, -06-01,
--   -09-09): ±7-day hit 0.397 against 0.369 for the gap rule applied to every store and 0.247
--   for the baseline; the busy stores of a giftware wholesaler order at irregular intervals.
-- A store's preferred delivery day (data.store_preferences) then moves the date to the nearest
-- such weekday (at most 3 days either way), never onto or before as_of. It serves the delivery,
-- not the accuracy: with every store of the real export given the weekday it ordered on most,
-- the ±7-day hit fell by 0.01-0.03 (a shifted window loses days as likely as those it gains).
-- The baseline it is measured against is "last order + median gap".

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

-- Analyzes a staging table of this transaction on the columns given — those its readers join
-- and filter on — from a sample of 3,000 rows (statistics target 10): the other columns are
-- read, never planned on, and the default sample of 30,000 rows over every column cost tens
-- of ms a table at the whole export's size without better plans (figures at each call).
-- p_table is a table name of ours (e.g. 'pg_temp.recent_lines'), never a user's input.
CREATE FUNCTION app.analyze_sample(p_table text, VARIADIC p_columns text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('ALTER TABLE %s %s', p_table,
                 (SELECT string_agg(format('ALTER COLUMN %I SET STATISTICS 10', c), ', ') FROM unnest(p_columns) c));
  EXECUTE format('ANALYZE %s (%s)', p_table, (SELECT string_agg(quote_ident(c), ', ') FROM unnest(p_columns) c));
END
$$;

-- The date predictions are made as of when none is given: the newest invoice date, never
-- after today (an export's history ends at its last invoice; nothing later is known).
CREATE FUNCTION app.analytics_as_of() RETURNS date
LANGUAGE sql STABLE AS $$
  SELECT least(coalesce(max(o.order_date), current_date), current_date)
  FROM app.sales o
$$;

-- The ISO weekday number (1 = Monday ... 7 = Sunday) of a weekday name as
-- data.store_preferences.preferred_delivery_day holds it.
CREATE FUNCTION app.isodow_of(p_day text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT array_position(ARRAY['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'], p_day)
$$;

-- The ISO weekday number of a date (1 = Monday ... 7 = Sunday) in integer arithmetic: days since
-- Monday 2000-01-03, modulo 7. extract(isodow ...) computes in numeric and cost ~0.1 us a row:
-- the confidence fit reads the weekday of every order day at each of its 13 cutoffs.
CREATE FUNCTION app.isodow(p_day date) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ((p_day - date '2000-01-03') % 7 + 7) % 7 + 1
$$;

-- Per cutoff of p_cutoffs (each distinct one once; NULLs ignored) and per store with at least
-- 3 order days on or before it (all stores when p_store_ids is NULL): the gap statistics, the
-- predicted next order date (rhythm: whether the gap rule applied) and the baseline's date, as
-- of that cutoff. Rows come cutoff by cutoff in the order given (a repeated cutoff at its first
-- place), stores by id (byte order) within one: the confidence fit sums its sample in this
-- order (float sums depend on it). Set-based (window functions over the orders only);
-- app.forecast_dates (one date) is this function with one cutoff, so the rule is written once.
-- Many cutoffs in one pass (the confidence fit asks for 13 at once):
-- * A store's order days, their gaps and positions do not depend on the cutoff (a day's
--   previous order day lies before it): numbered once (ordered), each row with a number of
--   its own (gid, in store and day order) and the store's next order day.
-- * As of a cutoff a store stands at its last order day on or before it (at: the row with day
--   <= cutoff < next), and what its history says (order count, first order, medians, spread,
--   weekdays) depends on that day only. A store that did not order between two cutoffs stands
--   at the same day for both, so these statistics are computed once per such day (stats,
--   spread: at the whole export's size 8,260 instead of 34,748 store-cutoffs, and 105k
--   history rows read instead of 333k).
-- * What depends on the cutoff itself (how long the store has been silent, which of its gaps
--   can still happen, the window that holds most of them, the days ordered in the last 90) is
--   computed per store and cutoff, keyed by one bigint (akey: cutoff's place << 32 + the day's
--   gid) so that the planner, which knows nothing of these intermediate results, estimates
--   its joins on one key instead of multiplying two guesses down to a row and choosing nested
--   loops (130 s). The two per-cutoff results the final join reads beside the statistics
--   (early, centre) are materialized too: left inline, a plan that expects a few rows
--   recomputes them once per store (the demo set's one cutoff 280 -> 17 ms, the demo job's
--   predictions step 355 -> 95 ms; the real export's unchanged, every row identical).
-- At the whole export's size, the 13 cutoffs 0.85 -> 0.52 s of CPU (A/B in one session, min of
-- 3), every row identical (the same rows in the same order).
CREATE FUNCTION app.forecast_dates_at(p_cutoffs date[], p_store_ids text[] DEFAULT NULL)
RETURNS TABLE (cutoff date, store_id text, n_orders integer, n_gaps integer, first_order date, last_order date,
               elapsed integer, median_gap numeric, spread_gap numeric, max_gap integer,
               n_later integer, n_window integer, predicted_date date, baseline_date date,
               rhythm boolean, recent_orders integer, preferred_day text)
LANGUAGE sql STABLE AS $$
  WITH cutoffs AS MATERIALIZED (
    -- i: the cutoff's first place in p_cutoffs, the order of the rows
    SELECT u.c AS cutoff, min(u.i) AS i FROM unnest(p_cutoffs) WITH ORDINALITY u(c, i)
    WHERE u.c IS NOT NULL GROUP BY u.c
  ), ordered AS MATERIALIZED (
    -- Every store's order days up to the last cutoff: the gap before each, its position, the
    -- next order day, and gid, its number in (store, day) order (the same sort).
    -- COLLATE "C": store ids are compared byte-wise (the same equality), so the sorts below
    -- make no locale-aware comparisons.
    SELECT d.store_id, d.day, d.day - lag(d.day) OVER w AS gap, row_number() OVER w AS pos, lead(d.day) OVER w AS next,
           row_number() OVER (ORDER BY d.store_id, d.day) AS gid
    FROM (SELECT o.store_id COLLATE "C" AS store_id, o.order_date AS day
          FROM app.purchases o
          WHERE o.order_date <= (SELECT max(c.cutoff) FROM cutoffs c)
            AND (p_store_ids IS NULL OR o.store_id IN (SELECT unnest(p_store_ids)))
          GROUP BY 1, 2) d
    WINDOW w AS (PARTITION BY d.store_id ORDER BY d.day)
  ), at AS MATERIALIZED (
    -- Per cutoff, each store with 3 or more order days by then at its last one: n order days.
    SELECT c.cutoff, c.i, (c.i << 32) + o.gid AS akey, o.gid, o.store_id, o.pos AS n, o.day AS last_order
    FROM cutoffs c JOIN ordered o ON o.day <= c.cutoff AND (o.next IS NULL OR o.next > c.cutoff)
    WHERE o.pos >= 3
  ), early AS MATERIALIZED (
    -- ... and its last order day on or before cutoff - 90: the days in between are the last 90 days'
    SELECT a.akey, o.pos
    FROM at a JOIN ordered o ON o.store_id = a.store_id AND o.day <= a.cutoff - 90 AND (o.next IS NULL OR o.next > a.cutoff - 90)
  ), hist AS MATERIALIZED (
    -- The history up to each such last day (gid), once however many cutoffs stand at it; back
    -- counts from the newest (1).
    SELECT p.gid, o.day, o.gap, p.n - o.pos + 1 AS back
    FROM (SELECT DISTINCT a.gid, a.store_id, a.n FROM at a) p JOIN ordered o ON o.store_id = p.store_id AND o.pos <= p.n
  ), stats AS MATERIALIZED (
    SELECT s.gid, min(s.day) AS first_order,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY s.gap) AS all_median,
           count(s.gap) FILTER (WHERE s.back <= 24)::integer AS n_gaps,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY s.gap) FILTER (WHERE s.back <= 24) AS med,
           max(s.gap) FILTER (WHERE s.back <= 24) AS max_gap,
           -- The weekdays the store ordered on (bit 1 = Monday ... bit 7 = Sunday), last 50 orders.
           bit_or(1 << app.isodow(s.day)) FILTER (WHERE s.back <= 50) AS weekdays
    FROM hist s GROUP BY s.gid
  ), gaps24 AS MATERIALIZED (
    -- The last 24 gaps (back 1 is the newest order day, whose gap is the newest gap).
    SELECT s.gid, s.gap FROM hist s WHERE s.back <= 24 AND s.gap IS NOT NULL
  ), spread AS MATERIALIZED (
    -- Robust spread: 1.4826 x the median absolute deviation (the sd for normal gaps).
    SELECT r.gid, 1.4826 * percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(r.gap - st.med)) AS mad
    FROM gaps24 r JOIN stats st ON st.gid = r.gid
    GROUP BY r.gid
  ), later AS (
    -- Per store and cutoff, the gaps that can still happen (longer than the silence so far),
    -- with how many of them lie within ±7 days of each (a RANGE frame over integer gaps: no
    -- self-join), how many there are, and how many up to each (equal gaps count together).
    SELECT a.akey, r.gap,
           count(*) OVER (PARTITION BY a.akey ORDER BY r.gap RANGE BETWEEN 7 PRECEDING AND 7 FOLLOWING) AS in_window,
           count(*) OVER (PARTITION BY a.akey) AS n_later,
           count(*) OVER (PARTITION BY a.akey ORDER BY r.gap) AS cum
    FROM at a JOIN gaps24 r ON r.gid = a.gid
    WHERE r.gap > a.cutoff - a.last_order
  ), medianed AS (
    -- their (lower) median: the smallest gap with half of them at or below it
    SELECT l.akey, l.gap, l.in_window, l.n_later,
           min(l.gap) FILTER (WHERE l.cum * 2 >= l.n_later) OVER (PARTITION BY l.akey) AS median
    FROM later l
  ), best AS (
    -- The centre: the gap whose window holds most of them, ties to the one nearest their
    -- median, then the shorter. One aggregate instead of a sort of every gap: the maximum of
    -- in_window << 32 plus 2^32 - 1 - (2 |gap - median| + (gap above the median)); a distance
    -- d from the median has at most two gaps, median - d and median + d, so 2d + side orders
    -- (distance, gap) and decodes back to the gap (gaps and distances are under 2^31 days).
    SELECT m.akey, max(m.n_later)::integer AS n_later, max(m.median) AS median,
           max((m.in_window << 32) + (4294967295 - (2 * abs(m.gap - m.median)::bigint + (m.gap > m.median)::integer))) AS key
    FROM medianed m GROUP BY m.akey
  ), centre AS MATERIALIZED (
    SELECT b.akey, b.n_later, (b.key >> 32)::integer AS n_window,
           b.median + CASE WHEN (4294967295 - (b.key & 4294967295)) & 1 = 1 THEN 1 ELSE -1 END
                      * ((4294967295 - (b.key & 4294967295)) >> 1)::integer AS gap
    FROM best b
  ), ruled AS (
    SELECT a.cutoff, a.i, a.store_id, a.n AS n_orders, st.first_order, a.last_order, st.all_median, st.n_gaps, st.med,
           st.max_gap, (a.n - coalesce(e.pos, 0))::integer AS recent, st.weekdays,
           sp.mad, ce.n_later, ce.n_window, ce.gap IS NOT NULL AND sp.mad < 0.5 * st.med AS rhythm, ce.gap AS centre_gap
    FROM at a
    JOIN stats st ON st.gid = a.gid
    JOIN spread sp ON sp.gid = a.gid
    LEFT JOIN early e ON e.akey = a.akey
    LEFT JOIN centre ce ON ce.akey = a.akey
  ), predicted AS (
    SELECT r.*, sp.preferred_delivery_day AS preferred,
           CASE WHEN NOT r.rhythm THEN r.cutoff + 8
                -- A store with 8+ orders that never ordered on the predicted weekday (a shop
                -- closed on Sundays, a distributor that does not deliver then) is predicted on
                -- the nearest weekday it does order on, later first.
                WHEN r.n_orders < 8 OR r.weekdays & (1 << app.isodow(r.last_order + r.centre_gap)) <> 0
                  THEN r.last_order + r.centre_gap
                ELSE coalesce((SELECT r.last_order + r.centre_gap + d.shift
                               FROM unnest(ARRAY[1, -1, 2, -2, 3, -3]) WITH ORDINALITY AS d(shift, o)
                               WHERE r.last_order + r.centre_gap + d.shift > r.cutoff
                                 AND r.weekdays & (1 << app.isodow(r.last_order + r.centre_gap + d.shift)) <> 0
                               ORDER BY d.o LIMIT 1), r.last_order + r.centre_gap) END AS day
    FROM ruled r LEFT JOIN data.store_preferences sp ON sp.store_id = r.store_id
  ), moved AS (
    -- The nearest preferred weekday: a shift of -3..+3 days (+4 would be -3), never onto or
    -- before the cutoff (then a week later).
    SELECT p.*, p.day + CASE WHEN p.preferred IS NULL THEN 0
                             ELSE ((app.isodow_of(p.preferred) - app.isodow(p.day) + 10) % 7) - 3 END AS shifted
    FROM predicted p
  )
  SELECT m.cutoff, m.store_id, m.n_orders::integer, m.n_gaps, m.first_order, m.last_order,
         (m.cutoff - m.last_order)::integer, round(m.med::numeric, 2), round(m.mad::numeric, 2), m.max_gap,
         coalesce(m.n_later, 0), coalesce(m.n_window, 0),
         CASE WHEN m.shifted > m.cutoff THEN m.shifted ELSE m.shifted + 7 END,
         m.last_order + round(m.all_median)::integer, m.rhythm, m.recent, m.preferred
  FROM moved m
  ORDER BY m.i, m.store_id
$$;

-- Per store with at least 3 order days on or before p_as_of (all stores when p_store_ids is
-- NULL): app.forecast_dates_at with this one cutoff. Callers: recompute_predictions, the
-- backtest.
CREATE FUNCTION app.forecast_dates(p_as_of date, p_store_ids text[] DEFAULT NULL)
RETURNS TABLE (store_id text, n_orders integer, n_gaps integer, first_order date, last_order date,
               elapsed integer, median_gap numeric, spread_gap numeric, max_gap integer,
               n_later integer, n_window integer, predicted_date date, baseline_date date,
               rhythm boolean, recent_orders integer, preferred_day text)
LANGUAGE sql STABLE AS $$
  SELECT f.store_id, f.n_orders, f.n_gaps, f.first_order, f.last_order, f.elapsed, f.median_gap, f.spread_gap,
         f.max_gap, f.n_later, f.n_window, f.predicted_date, f.baseline_date, f.rhythm, f.recent_orders, f.preferred_day
  FROM app.forecast_dates_at(ARRAY[p_as_of], p_store_ids) f
$$;

-- The confidence model's features for one prediction, as a vector whose first element is 1
-- (the intercept); names in app.confidence_feature_names(). Pure arithmetic on forecast_dates'
-- columns, so the same numbers are used when fitting and when predicting. Lead and tenure
-- were added after CDNOW backtests: without them the model was over-confident by 0.05-0.07 in
-- the 0.1-0.4 deciles at a cutoff one year into that cohort (far-ahead predictions and an
-- ageing customer base). The order counts carry what the gaps miss for a store without
-- rhythm, whose date is the next 15 days: how busy it is now and has been; without them the
-- confidence of the real export's 200 busiest stores was 0.05-0.08 too low in the 0.1-0.3 deciles.
CREATE FUNCTION app.confidence_features(p_n_gaps float8, p_n_later float8, p_n_window float8,
                                        p_elapsed float8, p_median_gap float8, p_spread float8,
                                        p_lead float8, p_tenure float8, p_recent float8, p_orders float8)
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
    ln(1 + greatest(p_tenure, 0)),
    -- the window's chance if the store ordered at random at its pace of the last 90 days
    -- (order days + 0.5 over 90): the logit of exp(-r max(lead - 8, 0)) - exp(-r (lead + 7))
    ln((exp(-(coalesce(p_recent, 0) + 0.5) / 90 * greatest(p_lead - 8, 0)) - exp(-(coalesce(p_recent, 0) + 0.5) / 90 * (greatest(p_lead, 0) + 7)) + 0.01)
       / (1.01 - exp(-(coalesce(p_recent, 0) + 0.5) / 90 * greatest(p_lead - 8, 0)) + exp(-(coalesce(p_recent, 0) + 0.5) / 90 * (greatest(p_lead, 0) + 7)))),
    -- order days in all history (the last 24 gaps cap ln_gaps)
    ln(greatest(p_orders, 1))
  ]
$$;

-- The names of app.confidence_features' elements, in order (stored with each fit).
CREATE FUNCTION app.confidence_feature_names() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ARRAY['intercept', 'ln_gaps', 'logit_window_share', 'ln_share_longer', 'ln_overdue_ratio',
               'ln_gap_over_week', 'ln_irregularity', 'ln_lead_days', 'ln_tenure_days', 'logit_random_pace', 'ln_orders']
$$;

-- The linear predictor x·b, clamped to ±30 (exp() beyond that under- or overflows). Written
-- out for up to 12 features (the model has 11) so that it stays a plain expression the planner
-- inlines: the version over unnest() cost ~30 µs a row.
CREATE FUNCTION app.linear_predictor(p_x float8[], p_b float8[]) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT greatest(-30, least(30,
    coalesce(p_x[1] * p_b[1], 0) + coalesce(p_x[2] * p_b[2], 0) + coalesce(p_x[3] * p_b[3], 0)
    + coalesce(p_x[4] * p_b[4], 0) + coalesce(p_x[5] * p_b[5], 0) + coalesce(p_x[6] * p_b[6], 0)
    + coalesce(p_x[7] * p_b[7], 0) + coalesce(p_x[8] * p_b[8], 0) + coalesce(p_x[9] * p_b[9], 0)
    + coalesce(p_x[10] * p_b[10], 0) + coalesce(p_x[11] * p_b[11], 0) + coalesce(p_x[12] * p_b[12], 0)))
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
-- One sort of the invoices by (store, day newest first) serves every window, and two window
-- clauses hold them all: over the invoices, a frame of the day's peers gives back (dense_rank
-- ignores frames) and day_invoices (the count of the peers); over the invoices kept (back <=
-- p_window), a frame of the store's peers in store order gives store_key (dense_rank) and
-- orders_seen (the largest back kept: the store's days up to p_window). The same ranks come
-- from the invoices kept as from all of them: every store keeps its newest day. Sorted three
-- times over four window clauses, at the whole export's size (35k invoices, every staging of
-- recent lines) this took 73 ms, with one sort and four clauses 62, now 48 (min of 2 in psql;
-- the same rows).
CREATE FUNCTION app.recent_orders(p_as_of date, p_window integer, p_store_ids text[] DEFAULT NULL)
RETURNS TABLE (id bigint, store_key integer, store_id text, order_date date, back integer, orders_seen integer,
               day_invoices integer)
LANGUAGE sql STABLE AS $$
  SELECT r.id, dense_rank() OVER s::integer AS store_key, r.store_id, r.order_date, r.back,
         least(max(r.back) OVER s, p_window)::integer AS orders_seen, r.day_invoices
  FROM (
    SELECT o.id, o.store_id, o.order_date, dense_rank() OVER w::integer AS back, count(*) OVER w::integer AS day_invoices
    FROM app.purchases o
    WHERE o.order_date <= p_as_of
      AND (p_store_ids IS NULL OR o.store_id IN (SELECT unnest(p_store_ids)))
    WINDOW w AS (PARTITION BY o.store_id COLLATE "C" ORDER BY o.order_date DESC RANGE BETWEEN CURRENT ROW AND CURRENT ROW)) r
  WHERE r.back <= p_window
  WINDOW s AS (ORDER BY r.store_id COLLATE "C" RANGE BETWEEN CURRENT ROW AND CURRENT ROW)
$$;

-- The mark of a staging of recent lines kept for reuse (the setting mangalm.recent_lines):
-- as_of/window for every store's lines; for a partial staging also a hash of its stores, in
-- order and without repeats, so that only a call for the same stores reuses it.
CREATE FUNCTION app.recent_lines_mark(p_as_of date, p_window integer, p_stores text[]) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE WHEN p_stores IS NULL THEN format('%s/%s', p_as_of, p_window)
              ELSE format('%s/%s/%s', p_as_of, p_window,
                          (SELECT md5(coalesce(string_agg(x.s, ',' ORDER BY x.s COLLATE "C"), ''))
                           FROM (SELECT DISTINCT unnest(p_stores) AS s) x)) END
$$;

-- The lines of one order that count for baskets (app.basket_lines), read through the
-- (order_id, line_no) index. Inlined where it is called in FROM (a plain SQL function), so
-- a lateral call per order plans as the subquery it is; the OFFSET 0 keeps that subquery a
-- look-up per order instead of a join the planner could turn into a scan of every line.
CREATE FUNCTION app.basket_lines_of(p_order_id bigint)
RETURNS TABLE (product_id uuid, quantity float8, amount float8)
LANGUAGE sql STABLE AS $$
  SELECT i.product_id, i.quantity::float8, i.line_total::float8
  FROM app.basket_lines i
  WHERE i.order_id = p_order_id
  OFFSET 0
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
-- With p_stores, only those stores' lines are staged, and of the other stores the products
-- they bought within 30 days before p_as_of (pg_temp.recent_other_buyers, distinct (store_key,
-- product_id) pairs; empty for a staging of every store): what the basket candidates of those
-- stores read (their own lines, and the popularity of products among all stores that ordered
-- in the last 30 days), so
-- app.fit_item_model, which needs the candidates of the stores that ordered after its cutoff
-- only, stages a third of the real export's lines, and an upload's refresh of a few stores
-- (app.refresh_derived) stages those stores and the last 30 days only. pg_temp.recent_order_days
-- always holds every store's order days. A partial staging kept (p_keep) is reused only by a
-- call for the same stores (its mark names them by a hash); a full one by any call.
-- A partial staging reads each of its orders' lines through the index (below): at the whole
-- export's size (1.0M lines), an upload touching 344 stores stages in 204 ms instead of 309
-- (110k lines), and fit_item_model's staging of the stores that ordered after its cutoff in
-- 420 ms instead of 540 (A/B in one session, min of 8 and 4; the same lines and aggregates).
CREATE FUNCTION app.stage_recent_lines(p_as_of date, p_window integer DEFAULT 12, p_keep boolean DEFAULT false,
                                       p_stores text[] DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_mark text := app.recent_lines_mark(p_as_of, p_window, p_stores);
BEGIN
  IF coalesce(current_setting('mangalm.recent_lines', true), '') IN (format('%s/%s', p_as_of, p_window), v_mark)
     AND to_regclass('pg_temp.recent_lines') IS NOT NULL THEN
    RETURN;
  END IF;
  IF p_window > 31 THEN
    RAISE EXCEPTION 'the order days of recent_store_products are a bit set of at most 31 days';
  END IF;
  PERFORM app.drop_temp_table('recent_lines');
  PERFORM app.drop_temp_table('recent_order_days');
  PERFORM app.drop_temp_table('recent_store_products');
  PERFORM app.drop_temp_table('recent_other_buyers');
  CREATE TEMP TABLE recent_order_days ON COMMIT DROP AS SELECT * FROM app.recent_orders(p_as_of, p_window, NULL);
  -- (a sample of 3,000 rows, as for the lines below: at the whole export's size, 27k order
  -- days, 24 -> 4 ms)
  PERFORM app.analyze_sample('pg_temp.recent_order_days', 'id', 'store_key', 'store_id', 'order_date', 'back',
                             'orders_seen', 'day_invoices');
  IF p_stores IS NULL THEN
    EXECUTE format(
      $q$CREATE TEMP TABLE recent_lines ON COMMIT DROP AS
         SELECT r.store_key, r.store_id, r.order_date, r.back, r.orders_seen, i.product_id,
                i.quantity::float8 AS quantity, i.line_total::float8 AS amount
         FROM app.basket_lines i JOIN pg_temp.recent_order_days r ON r.id = i.order_id
         WHERE i.order_id = ANY (%L::bigint[])$q$,
      (SELECT coalesce(array_agg(r.id), '{}') FROM pg_temp.recent_order_days r));
  ELSE
    -- A few stores: their lines first, each order's read through the (order_id, line_no)
    -- index (a lateral subquery; given the orders' ids as an array, the planner scanned all
    -- 770k lines of the whole export's size for 110k), so that their (store, product)
    -- aggregate below is made of exactly these lines (the other stores' products of the last
    -- 30 days are staged apart, below). Orders in id order: the lines come in (order_id, line_no) order, as
    -- a scan of the lines in their loaded order gives them, so the amounts are added up in
    -- that order (float sums, last bits).
    CREATE TEMP TABLE recent_lines ON COMMIT DROP AS
    SELECT r.store_key, r.store_id, r.order_date, r.back, r.orders_seen, i.product_id, i.quantity, i.amount
    FROM (SELECT r0.* FROM pg_temp.recent_order_days r0 WHERE r0.store_id IN (SELECT unnest(p_stores)) ORDER BY r0.id) r
    CROSS JOIN LATERAL app.basket_lines_of(r.id) i;
  END IF;
  -- amount too: forecast_baskets reads the paid lines (amount > 0) of the stores in scope;
  -- guessed at a third of the lines, the planner sorted every staged line for a merge join
  -- (recompute_predictions for an upload's 200 stores on the real export's half: 411 ms;
  -- with the statistics 345 ms, min of 4). A sample of 3,000 rows (statistics target 10)
  -- plans these statements as well as the default 30,000 and costs less: an upload touching
  -- 172 stores of that half, recent lines 144 -> 117 ms; every store 293 -> 265 ms (A/B, min
  -- of 4 and 2; the other steps took as long). A staging of a few stores is analyzed after the
  -- aggregate below, as it was measured: with statistics the aggregate may take another plan,
  -- and its float sums another order.
  IF p_stores IS NULL THEN
    PERFORM app.analyze_sample('pg_temp.recent_lines', 'store_key', 'product_id', 'back', 'amount');
  END IF;
  -- Per (store, product) the order days with it as a bit set (bit back - 1), the store's
  -- order days seen and the amount: the basket candidates and upselling both read this, in
  -- one aggregate over the lines instead of one each. A/B, min of 4: an append onto 1M
  -- generated lines (every store) refreshed in 688 -> 661 ms (recent lines 185 -> 235,
  -- predictions 297 -> 265, upselling 152 -> 103); a refresh of every store of the real
  -- export's half 3.89 -> 3.65 s (min of 2); an upload of 172 of its stores 563 -> 544 ms.
  CREATE TEMP TABLE recent_store_products ON COMMIT DROP AS
  SELECT l.store_key, l.product_id, bit_or(1 << (l.back - 1)) AS days, max(l.orders_seen) AS n, sum(l.amount) AS amount
  FROM pg_temp.recent_lines l
  GROUP BY l.store_key, l.product_id;
  -- The other stores' products of the last 30 days: only the popularity of products reads
  -- them (app.stage_basket_candidates: which stores bought what), so they are staged as the
  -- distinct (store, product) pairs it counts, not as lines (copied into recent_lines, the
  -- 1 % append's 45k lines at the whole export's size were written, analyzed, grouped again
  -- and scanned by every reader of the lines: recent lines and predictions 0.50 -> 0.46 s
  -- CPU, min of 6). Empty for a staging of every store, whose lines hold them all.
  IF p_stores IS NULL THEN
    CREATE TEMP TABLE recent_other_buyers (store_key integer, product_id uuid) ON COMMIT DROP;
  ELSE
    PERFORM app.analyze_sample('pg_temp.recent_lines', 'store_key', 'product_id', 'back', 'amount');
    CREATE TEMP TABLE recent_other_buyers ON COMMIT DROP AS
    SELECT DISTINCT r.store_key, i.product_id
    FROM (SELECT r0.* FROM pg_temp.recent_order_days r0
          WHERE r0.order_date > p_as_of - 30 AND NOT EXISTS (SELECT FROM unnest(p_stores) s WHERE s = r0.store_id)) r
    CROSS JOIN LATERAL app.basket_lines_of(r.id) i;
  END IF;
  PERFORM app.analyze_sample('pg_temp.recent_store_products', 'store_key', 'product_id');
  PERFORM set_config('mangalm.recent_lines', CASE WHEN p_keep THEN v_mark ELSE '' END, true);
END
$$;

-- The basket model. Every product a store might order next gets a rank and the probability
-- that it is in the store's next order.
-- * Candidates: the products of the store's last 12 order days, and the 20 products most
--   popular now (bought by the largest share of the stores that ordered in the last 30 days).
-- * Score = u + 0.5 g: u is the store's own recency-weighted frequency (each of its last 12
--   order days weighted 0.9^k, k = 0 for the newest: the weighted share of them that held the
--   product), g the product's popularity now (the share above). The 30 best scores go on.
-- * Probability: a logistic regression on app.item_features (u, orders with the product,
--   never bought, g, orders seen, the score's rank) fitted on what the stores really ordered
--   after the cutoff 28 days earlier (app.fit_item_model); ranks follow the probability (ties: the
--   score), so the probability never increases with the rank, and the first 20 are kept.
-- * The predicted order (in_basket) is the first n of the ranking, n = the sum of the kept
--   candidates' probabilities rounded (at least 1): the number of the order's products the
--   ranking is expected to hold. Fewer lines would leave out products as likely as those
--   proposed; more would propose products that are more likely absent than present.
-- Measured on the real wholesaler's export (top 200 stores at 2011-03-01, -06-01, -09-09;
-- recall@10 = share of the next order's products among the first 10): the store's 10 most
-- frequent products 0.180, each order weighted 0.9^k 0.191, this model 0.196. In a prototype
-- (this score: 0.195), TIFU-KNN neighbours on top (50 nearest stores by cosine of u, 0.7 own +
-- 0.3 neighbours) gave 0.201 for ~2M store pairs to compare: not kept. Lost: the store's own
-- purchases in the same weeks last year (0.185-0.197), a first-order Markov chain from the
-- last basket (0.180-0.201), a logistic ranker on 15 features (0.198), the lines of the last
-- 24/48/all orders instead of 12 (0.193).

-- The basket model's features for one candidate, as a vector whose first element is 1;
-- names in app.item_feature_names().
CREATE FUNCTION app.item_features(p_u float8, p_orders_with float8, p_popularity float8, p_orders_seen float8,
                                  p_score_rank float8)
RETURNS float8[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ARRAY[1, p_u, ln(1 + p_orders_with), (p_orders_with = 0)::integer::float8, p_popularity,
               ln(greatest(p_orders_seen, 1)), ln(greatest(p_score_rank, 1))]
$$;

-- The names of app.item_features' elements, in order (stored with each fit: data.prediction_calibrations
-- holds the confidence model's fits and the basket model's, told apart by these names).
CREATE FUNCTION app.item_feature_names() RETURNS text[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ARRAY['intercept', 'decayed_share', 'ln_orders_with', 'never_bought', 'popularity_30d',
               'ln_orders_seen', 'ln_score_rank']
$$;

-- The basket model's linear predictor b·app.item_features(...), written out: the same sum
-- without building an array a row (over the real export's 86k candidates the array version
-- cost 0.8 s, this one a tenth of it). tests/test_predictions.sql checks that the two agree.
CREATE FUNCTION app.item_logit(p_u float8, p_orders_with float8, p_popularity float8, p_orders_seen float8,
                               p_score_rank float8, p_b float8[])
RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT greatest(-30, least(30,
    p_b[1] + p_b[2] * p_u + p_b[3] * ln(1 + p_orders_with) + p_b[4] * (p_orders_with = 0)::integer
    + p_b[5] * p_popularity + p_b[6] * ln(greatest(p_orders_seen, 1)) + p_b[7] * ln(greatest(p_score_rank, 1))))
$$;

-- The recency weight of a set of order days given as a bit set (bit i set: the order day i + 1
-- back, the newest being bit 0): the sum of 0.9^i over the set bits, added newest first, for
-- windows of up to 12 order days (the baskets read 12; app.stage_basket_candidates checks).
-- Written out so that it stays a plain expression the planner inlines.
CREATE FUNCTION app.decayed_days(p_days integer) RETURNS float8
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN p_days & 1 <> 0 THEN 1::float8 ELSE 0 END
         + CASE WHEN p_days & 2 <> 0 THEN 0.9::float8 ELSE 0 END
         + CASE WHEN p_days & 4 <> 0 THEN power(0.9::float8, 2) ELSE 0 END
         + CASE WHEN p_days & 8 <> 0 THEN power(0.9::float8, 3) ELSE 0 END
         + CASE WHEN p_days & 16 <> 0 THEN power(0.9::float8, 4) ELSE 0 END
         + CASE WHEN p_days & 32 <> 0 THEN power(0.9::float8, 5) ELSE 0 END
         + CASE WHEN p_days & 64 <> 0 THEN power(0.9::float8, 6) ELSE 0 END
         + CASE WHEN p_days & 128 <> 0 THEN power(0.9::float8, 7) ELSE 0 END
         + CASE WHEN p_days & 256 <> 0 THEN power(0.9::float8, 8) ELSE 0 END
         + CASE WHEN p_days & 512 <> 0 THEN power(0.9::float8, 9) ELSE 0 END
         + CASE WHEN p_days & 1024 <> 0 THEN power(0.9::float8, 10) ELSE 0 END
         + CASE WHEN p_days & 2048 <> 0 THEN power(0.9::float8, 11) ELSE 0 END
$$;

-- app.decayed_days of every bit set of up to 12 order days (element d + 1 for the set d), and
-- the number of days in each: an immutable function without arguments, evaluated once when a
-- statement is planned, so each candidate reads its weight and count by subscript instead of
-- evaluating twelve cases and a bit string (the same function, so the same weights).
CREATE FUNCTION app.decayed_day_weights() RETURNS float8[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ARRAY(SELECT app.decayed_days(d) FROM generate_series(0, 4095) d ORDER BY d)
$$;

CREATE FUNCTION app.day_counts() RETURNS integer[]
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT ARRAY(SELECT bit_count(d::bit(32))::integer FROM generate_series(0, 4095) d ORDER BY d)
$$;

-- Stages pg_temp.basket_candidates: per store in scope (all when p_store_ids is NULL) its
-- p_pool best-scored candidates as of p_as_of, with store_key, store_id, product_id, k (order
-- days with it), n (order days seen), u, g, score and score_rank. Reads pg_temp.recent_lines,
-- which the caller staged for p_as_of with a window of 12 (popularity counts every store).
CREATE FUNCTION app.stage_basket_candidates(p_as_of date, p_store_ids text[] DEFAULT NULL, p_pool integer DEFAULT 30)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT max(r.back) FROM pg_temp.recent_order_days r) > 12 THEN
    RAISE EXCEPTION 'the basket candidates read at most 12 order days a store (app.decayed_days)';
  END IF;
  PERFORM app.drop_temp_table('basket_candidates');
  CREATE TEMP TABLE basket_candidates ON COMMIT DROP AS
  -- float8 throughout: power() and divisions in numeric cost ~0.5 s over the real export's
  -- 240k recent lines; the weights only rank and feed the logistic model.
  WITH stores AS (
    SELECT r.store_key, min(r.store_id) AS store_id, max(r.orders_seen)::float8 AS n
    FROM pg_temp.recent_order_days r
    WHERE p_store_ids IS NULL OR r.store_id IN (SELECT unnest(p_store_ids))
    GROUP BY r.store_key
  ), own_days AS (
    -- The order days with the product as a bit set (bit back - 1), aggregated once by
    -- app.stage_recent_lines: grouping the lines by (store, product, order day) and then by
    -- (store, product) took two hash aggregates of every line (real export's half, 242k
    -- lines: 186 ms; one aggregate 74 ms).
    SELECT p.store_key, p.product_id, p.days, p.n
    FROM pg_temp.recent_store_products p
    WHERE p_store_ids IS NULL OR p.store_key IN (SELECT s.store_key FROM stores s)
  ), own AS (
    -- k: the order days with it; w: their weights 0.9^(back - 1), added newest first (equal
    -- sets of days weigh exactly the same, so such ties fall to k and the product's key)
    SELECT d.store_key, d.product_id, (app.day_counts())[d.days + 1]::float8 AS k, d.n::float8 AS n,
           (app.decayed_day_weights())[d.days + 1] AS w
    FROM own_days d
  ), recent_buyers AS (
    -- (the 30 days app.stage_recent_lines stages for every store when it stages a few: the
    -- stores staged as lines, then the others' (store, product) pairs, other stores' keys)
    SELECT DISTINCT l.store_key, l.product_id FROM pg_temp.recent_lines l WHERE l.order_date > p_as_of - 30
    UNION ALL
    SELECT o.store_key, o.product_id FROM pg_temp.recent_other_buyers o
  ), pop AS (
    SELECT b.product_id, count(*)::float8 / (SELECT greatest(count(DISTINCT r.store_key), 1) FROM recent_buyers r) AS g
    FROM recent_buyers b GROUP BY b.product_id
  ), top_pop AS (
    SELECT p.product_id FROM pop p JOIN data.products pr ON pr.id = p.product_id ORDER BY p.g DESC, pr.product_key LIMIT 20
  ), prod AS (
    -- Per product its popularity (0 when no store bought it in the last 30 days) and key, so
    -- that the candidates are joined once (joined to the popularity and then to the products,
    -- ~390k candidates at the whole export's size cost two hash joins, and a third for the
    -- kept ones' popularity).
    SELECT pr.id AS product_id, pr.product_key, coalesce(p.g, 0) AS g
    FROM data.products pr LEFT JOIN pop p ON p.product_id = pr.id
  ), own_top AS (
    SELECT o.store_key, o.product_id FROM own o WHERE o.product_id IN (SELECT t.product_id FROM top_pop t)
  ), cand AS (
    SELECT o.store_key, o.product_id, o.k, o.n, o.w FROM own o
    UNION ALL
    SELECT s.store_key, t.product_id, 0, s.n, 0 FROM stores s CROSS JOIN top_pop t
    WHERE NOT EXISTS (SELECT FROM own_top o WHERE o.store_key = s.store_key AND o.product_id = t.product_id)
  ), ranked AS (
    -- u: the weights over the sum of the weights of the n order days seen, 10 (1 - 0.9^n).
    -- row_number() is compared uncast, so the window stops emitting a store's rows after the
    -- p_pool-th.
    SELECT r.* FROM (
      SELECT c.store_key, c.product_id, c.k, c.n, c.u, c.g, c.score,
             -- ties (products always bought together) by the product's key, so that two loads
             -- of one export rank alike (ids are given at load)
             row_number() OVER (PARTITION BY c.store_key ORDER BY c.score DESC, c.k DESC, c.product_key) AS score_rank
      FROM (SELECT c.store_key, c.product_id, c.k, c.n, c.w / (10 * (1 - power(0.9::float8, c.n))) AS u, q.g,
                   c.w / (10 * (1 - power(0.9::float8, c.n))) + 0.5 * q.g AS score, q.product_key
            FROM cand c JOIN prod q ON q.product_id = c.product_id) c) r
    WHERE r.score_rank <= p_pool
  )
  SELECT r.store_key, s.store_id, r.product_id, r.k, r.n, r.u, r.g, r.score, r.score_rank::integer AS score_rank
  FROM ranked r JOIN stores s ON s.store_key = r.store_key;
  -- Only the keys its readers join on (the basket fit: store_id, product_id; forecast_baskets:
  -- store_key, product_id), on a sample of 3,000 rows: the scores are read, never filtered
  -- or joined on (every column at the default 30,000 rows: 60 ms at the whole export's size).
  PERFORM app.analyze_sample('pg_temp.basket_candidates', 'store_key', 'store_id', 'product_id');
END
$$;

-- Per store (all when p_store_ids is NULL) with bought lines in its last 12 order days on or
-- before p_as_of: its first p_limit candidates ranked (rank 1 = most likely) with the
-- probability of each being in the next order, whether it is in the predicted order
-- (in_basket), the order days with it among those seen (orders_with, orders_seen, share),
-- and the quantity and price to propose: the median recent quantity at the latest net unit
-- price (a product the store never bought: its median quantity over every store's recent
-- lines, at its catalogue price). The probability comes from the newest basket-model fit on
-- or before p_as_of; without one (too little history to fit) it is u, the store's own
-- recency-weighted share of orders with the product (0 for a product it never bought).
-- p_ranked, when given, ranks only those stores (of the ones in scope): the rows of a store do
-- not depend on which other stores are ranked (popularity counts every store's lines, as
-- staged for p_store_ids), so a caller that keeps a few stores' rows gets the same rows for
-- less. recompute_predictions ranks only the stores that get a prediction (3 or more order
-- days): at the whole export's size 3,136 of the 5,890 stores with recent lines, 54 % of
-- the ranked candidates.
CREATE FUNCTION app.forecast_baskets(p_as_of date, p_store_ids text[] DEFAULT NULL, p_limit integer DEFAULT 20,
                                     p_ranked text[] DEFAULT NULL)
RETURNS TABLE (store_id text, product_id uuid, orders_with integer, orders_seen integer, share numeric,
               rank integer, probability numeric, in_basket boolean, quantity numeric, unit_price numeric,
               calibrated boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_coefficients float8[];
BEGIN
  PERFORM app.stage_recent_lines(p_as_of, 12, false, p_store_ids);
  PERFORM app.stage_basket_candidates(p_as_of, CASE WHEN p_ranked IS NULL THEN p_store_ids
                                                    WHEN p_store_ids IS NULL THEN p_ranked
                                                    ELSE ARRAY(SELECT unnest(p_ranked) INTERSECT SELECT unnest(p_store_ids)) END);
  SELECT c.coefficients INTO v_coefficients
  FROM data.prediction_calibrations c
  WHERE c.fitted_as_of <= p_as_of AND c.features = app.item_feature_names()
  ORDER BY c.fitted_as_of DESC, c.id DESC LIMIT 1;
  RETURN QUERY
  WITH prob AS (
    SELECT b.*, CASE WHEN v_coefficients IS NOT NULL
                     THEN 1 / (1 + exp(-app.item_logit(b.u, b.k, b.g, b.n, b.score_rank, v_coefficients)))
                     ELSE b.u END AS p
    FROM pg_temp.basket_candidates b
  ), kept AS (
    SELECT r.* FROM (
      SELECT p.*, row_number() OVER (PARTITION BY p.store_key ORDER BY p.p DESC, p.score_rank)::integer AS rnk
      FROM prob p) r
    WHERE r.rnk <= p_limit
  ), sized AS (
    SELECT k.*, greatest(1, round(sum(k.p) OVER (PARTITION BY k.store_key)))::integer AS basket_size FROM kept k
  ), own_lines AS (
    SELECT l.store_key, l.product_id,
           percentile_disc(0.5) WITHIN GROUP (ORDER BY l.quantity) AS qty,
           -- the price of the latest paid line: the greatest [day, price] pair (no sort)
           (max(ARRAY[(l.order_date - date '2000-01-01')::float8, l.amount / l.quantity]))[2] AS price
    -- (a semi-join: the kept pairs are hashed and the lines probed, so only the kept pairs'
    -- lines are sorted for the median; joined, the planner sorted every staged line for a
    -- merge join: at the whole export's size recompute_predictions 2,660 -> 2,430 ms CPU)
    FROM pg_temp.recent_lines l
    WHERE l.amount > 0 AND (l.store_key, l.product_id) IN (SELECT k.store_key, k.product_id FROM kept k)
    GROUP BY l.store_key, l.product_id
  ), new_lines AS (
    -- Every store's recent paid lines of the few never-bought candidates (the popular
    -- products): with every store staged, from pg_temp.recent_lines; with a partial staging,
    -- which holds the other stores' last 30 days only, read through the lines' product index.
    -- The same lines either way (the staging's filter), so the same medians.
    SELECT l.product_id, percentile_disc(0.5) WITHIN GROUP (ORDER BY l.quantity) AS qty
    FROM pg_temp.recent_lines l
    WHERE p_store_ids IS NULL AND l.product_id IN (SELECT k.product_id FROM kept k WHERE k.k = 0) AND l.amount > 0
    GROUP BY l.product_id
    UNION ALL
    SELECT i.product_id, percentile_disc(0.5) WITHIN GROUP (ORDER BY i.quantity::float8) AS qty
    FROM app.basket_lines i JOIN pg_temp.recent_order_days r ON r.id = i.order_id
    WHERE p_store_ids IS NOT NULL AND i.product_id IN (SELECT k.product_id FROM kept k WHERE k.k = 0)
      AND i.line_total > 0
    GROUP BY i.product_id
  )
  SELECT s.store_id, s.product_id, s.k::integer, s.n::integer, round((s.k / s.n)::numeric, 3), s.rnk,
         round(s.p::numeric, 4), s.rnk <= s.basket_size,
         coalesce(ol.qty, nl.qty, 1)::numeric, round(coalesce(ol.price::numeric, p.unit_price, 0), 2),
         v_coefficients IS NOT NULL
  FROM sized s
  JOIN data.products p ON p.id = s.product_id
  LEFT JOIN own_lines ol ON ol.store_key = s.store_key AND ol.product_id = s.product_id
  LEFT JOIN new_lines nl ON nl.product_id = s.product_id AND s.k = 0;
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
  v_ids uuid[];   -- the upserted predictions' ids, for a refresh of a few stores
BEGIN
  SELECT c.id, c.fitted_as_of, c.coefficients, c.recalibration, c.samples INTO v_fit
  FROM data.prediction_calibrations c
  WHERE c.fitted_as_of <= p_as_of AND c.features = app.confidence_feature_names()
  ORDER BY c.fitted_as_of DESC, c.id DESC LIMIT 1;

  PERFORM app.drop_temp_table('forecast_run');
  -- The features are computed in a fenced subquery, so calibrated_probability reads them as a
  -- column and is inlined: given the features' expression, which it reads twice, it was called
  -- as a function a row (at the whole export's size 3,136 calls, ~0.4 s of this statement).
  CREATE TEMP TABLE forecast_run ON COMMIT DROP AS
  SELECT q.store_id, q.n_orders, q.n_gaps, q.first_order, q.last_order, q.elapsed, q.median_gap, q.spread_gap,
         q.max_gap, q.n_later, q.n_window, q.predicted_date, q.baseline_date, q.rhythm, q.recent_orders,
         q.preferred_day,
         round(least(1, greatest(0, CASE WHEN v_fit.id IS NOT NULL
           THEN app.calibrated_probability(q.x, v_fit.coefficients, v_fit.recalibration)
           ELSE app.uncalibrated_confidence(q.n_gaps, q.n_later, q.n_window) END))::numeric, 3) AS confidence
  FROM (SELECT f.*, app.confidence_features(f.n_gaps, f.n_later, f.n_window, f.elapsed, f.median_gap, f.spread_gap,
                                            f.predicted_date - p_as_of, p_as_of - f.first_order, f.recent_orders,
                                            f.n_orders) AS x
        FROM app.forecast_dates(p_as_of, p_store_ids) f
        WHERE NOT EXISTS (SELECT FROM data.predicted_orders d
                          WHERE d.store_id = f.store_id AND d.status <> 'pending' AND d.as_of >= f.last_order)
        OFFSET 0) q;

  PERFORM app.drop_temp_table('forecast_basket');
  CREATE TEMP TABLE forecast_basket ON COMMIT DROP AS
  SELECT b.store_id, b.product_id, b.quantity, b.unit_price, round(b.quantity * b.unit_price, 2) AS line_amount,
         b.share, b.orders_seen, b.rank, b.probability, b.in_basket, b.calibrated
  FROM app.forecast_baskets(p_as_of, p_store_ids, 20, ARRAY(SELECT f.store_id FROM pg_temp.forecast_run f)) b
  WHERE b.store_id IN (SELECT f.store_id FROM pg_temp.forecast_run f);

  PERFORM app.drop_temp_table('forecast_upserted');
  CREATE TEMP TABLE forecast_upserted (id uuid, store_id text) ON COMMIT DROP;

  WITH basket AS (
    SELECT b.store_id, count(*) FILTER (WHERE b.in_basket) AS items, sum(b.line_amount) FILTER (WHERE b.in_basket) AS amount,
           max(b.orders_seen) AS orders_seen, count(*) AS candidates,
           sum(b.probability) AS expected_items, bool_or(b.calibrated) AS items_calibrated
    FROM pg_temp.forecast_basket b GROUP BY b.store_id
  ), rows AS (
    SELECT f.*, coalesce(b.items, 0) AS items, coalesce(b.amount, 0) AS amount, b.orders_seen,
           coalesce(b.candidates, 0) AS candidates, b.expected_items, b.items_calibrated,
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
             'basket_items', r.items, 'basket_orders_considered', r.orders_seen, 'basket_candidates', r.candidates,
             'basket_expected_items', round(r.expected_items, 2), 'basket_calibrated', coalesce(r.items_calibrated, false),
             'rhythm', r.rhythm, 'recent_orders', r.recent_orders, 'preferred_delivery_day', r.preferred_day,
             'priority_score', round(r.priority_score::numeric, 3),
             'calibrated', v_fit.id IS NOT NULL, 'calibration_id', v_fit.id, 'calibration_fitted_as_of', v_fit.fitted_as_of),
           format('%s, last order on %s%s%s; basket: %s',
                  CASE WHEN r.rhythm THEN format('typical gap %s ± %s days over the last %s orders',
                                                 trim_scale(round(r.median_gap, 1)), trim_scale(round(r.spread_gap, 1)), r.n_gaps + 1)
                       ELSE format('no steady rhythm (gaps %s ± %s days over the last %s orders): the next 15 days are the likeliest window',
                                   trim_scale(round(r.median_gap, 1)), trim_scale(round(r.spread_gap, 1)), r.n_gaps + 1) END,
                  r.last_order,
                  CASE WHEN r.n_later = 0 THEN format(', silent for %s days, longer than any recent gap', r.elapsed)
                       WHEN r.rhythm AND r.elapsed > r.median_gap THEN format(', %s days since then (overdue): predicted from the gaps longer than that', r.elapsed)
                       ELSE '' END,
                  CASE WHEN r.preferred_day IS NOT NULL THEN format(', moved to the store''s delivery day (%s)', r.preferred_day) ELSE '' END,
                  CASE WHEN r.items = 0 THEN 'no product bought recently'
                       ELSE format('the %s most likely of %s ranked products (%s expected in the order), from the last %s orders and what sells now',
                                   r.items, r.candidates, trim_scale(round(r.expected_items, 1)), r.orders_seen) END),
           CASE WHEN v_fit.id IS NULL THEN 'ranked-basket-v2 (uncalibrated)' ELSE 'ranked-basket-v2' END
    FROM rows r
    ON CONFLICT (store_id) WHERE status = 'pending' DO UPDATE
      SET predicted_date = excluded.predicted_date, confidence = excluded.confidence, priority = excluded.priority,
          total_amount = excluded.total_amount, as_of = excluded.as_of, justification = excluded.justification,
          justification_text = excluded.justification_text, model = excluded.model
    RETURNING p.id, p.store_id
  )
  INSERT INTO pg_temp.forecast_upserted SELECT up.id, up.store_id FROM up;
  -- A refresh of a few stores: their predictions' ids, so that the two statements below read
  -- those predictions' basket lines through the (predicted_order_id, product_id) index (= ANY
  -- of the ids); joined to the table of them, the planner hashed every store's basket lines,
  -- twice (the 1 % append at the whole export's size: 62k lines for 5.8k, ~25 ms). A refresh
  -- of every store passes NULL, which the plans fold away: its plans stay.
  IF p_store_ids IS NOT NULL THEN
    v_ids := ARRAY(SELECT u.id FROM pg_temp.forecast_upserted u);
  END IF;

  -- The recomputed baskets replace the old ones line by line: a line the same as before (as
  -- the columns store it) stays, the others are deleted and the new ones written. Each written
  -- line costs its key checks and four index entries: a second refresh of every store
  -- over the same invoices took 151 ms for the predictions on the demo set, 95 ms now (min of
  -- 4), and on the real export's half 2.5 s, 1.5 s now (min of 2, a busy machine).
  DELETE FROM data.predicted_order_items i USING pg_temp.forecast_upserted u
  WHERE i.predicted_order_id = u.id AND (v_ids IS NULL OR i.predicted_order_id = ANY (v_ids))
    AND NOT EXISTS (SELECT FROM pg_temp.forecast_basket b
                    WHERE b.store_id = u.store_id AND b.product_id = i.product_id
                      AND b.quantity::numeric(15,4) = i.quantity AND b.unit_price::numeric(14,2) = i.unit_price
                      AND b.line_amount::numeric(16,2) = i.line_amount
                      AND b.share::numeric(4,3) IS NOT DISTINCT FROM i.frequency AND b.rank IS NOT DISTINCT FROM i.item_rank
                      AND b.probability::numeric(5,4) IS NOT DISTINCT FROM i.item_probability
                      AND b.in_basket = i.in_basket);
  INSERT INTO data.predicted_order_items (predicted_order_id, product_id, quantity, unit_price, line_amount, frequency,
                                          item_rank, item_probability, in_basket)
  SELECT u.id, b.product_id, b.quantity, b.unit_price, b.line_amount, b.share, b.rank, b.probability, b.in_basket
  FROM pg_temp.forecast_upserted u JOIN pg_temp.forecast_basket b ON b.store_id = u.store_id
  WHERE NOT EXISTS (SELECT FROM data.predicted_order_items i
                    WHERE i.predicted_order_id = u.id AND i.product_id = b.product_id
                      AND (v_ids IS NULL OR i.predicted_order_id = ANY (v_ids)));

  -- Stores in scope that no longer get a prediction (history gone, or a decision stands).
  DELETE FROM data.predicted_orders p
  WHERE p.status = 'pending' AND (p_store_ids IS NULL OR p.store_id = ANY (p_store_ids))
    AND NOT EXISTS (SELECT FROM pg_temp.forecast_upserted u WHERE u.id = p.id);

  SELECT count(*) INTO v_count FROM pg_temp.forecast_upserted;
  RETURN v_count;
END
$$;
