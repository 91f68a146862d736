-- Customer segments: RFM quintiles, a named segment, a value class and a churn risk judged
-- against each store's own rhythm.
--
-- churn_risk is the posterior probability that the store has stopped ordering, given that it
-- has been silent for e days: with a prior of 5 % that a store stops, and S(e) the chance
-- that a store still ordering would be silent this long,
--     churn_risk = 0.05 / (0.05 + 0.95 S(e)).
-- S(e) comes from the store's own gaps: a normal tail around its median gap m with its robust
-- spread s (at least 10 % of m and one day), mixed with 10 % of a skipped order (a gap of
-- 2m), using the logistic approximation of the normal CDF (1 / (1 + exp(-1.702 z))). So a
-- weekly store silent for 5 weeks is almost surely lost (risk about 1.0), while a monthly store
-- silent for 5 weeks is merely a little late (about 0.2). Stores with fewer than 3 order
-- days borrow the median gap of all stores (and a wide spread of half of it).
--
-- Segment names, first rule that matches:
--   lost            churn risk >= 0.9 and silent for more than a year
--   cannot lose     churn risk >= 0.9, frequency or monetary score >= 4 (valuable and slipping)
--   hibernating     churn risk >= 0.9
--   new             fewer than 3 orders, the first within the last 90 days
--   at risk         churn risk >= 0.5
--   champions       frequency and monetary scores >= 4
--   loyal           frequency and monetary scores >= 3
--   potential loyalist  recency score >= 4, frequency score <= 2
--   needs attention everything else
-- segment_value: high when (F + M) / 2 >= 4, medium when >= 2.5, else low.

-- Recomputes customer_segments for every store with an invoice on or before p_as_of (the
-- quintiles are relative to all stores, so one upload can move anyone's scores; it reads only
-- data.orders, one row per invoice, so it is cheap: ~0.1 s for the real export's 2,971 stores
-- and 25k invoices); returns the number of stores segmented.
CREATE FUNCTION app.recompute_segments(p_as_of date) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_count integer;
BEGIN
  -- Revenue reads every sale, the order days only purchases: two scans of the orders are
  -- cheaper than writing the 35k invoices of the whole export's size to a tuplestore once and
  -- reading them back twice (~5 ms).
  WITH revenue AS (
    -- Net of returns: return lines are negative and included in the invoice totals, and
    -- credit invoices (negative totals) count too.
    SELECT i.store_id, sum(i.total_amount) AS revenue, min(i.order_date) AS first_day, max(i.order_date) AS last_day
    FROM app.sales i WHERE i.order_date <= p_as_of GROUP BY i.store_id
  ), seq AS (
    -- Each store's order days (invoices with a positive total), newest first, in one sort and
    -- one window: back is the day's position from the newest (dense_rank: invoices of the same
    -- day share it) and gap its distance to the day before (lead). Of a day's invoices only the
    -- last in the window's order is kept (gap 0 marks the others; the oldest day's gap is
    -- NULL), so each day counts once, as a GROUP BY store and day before the window did.
    -- Store ids compared bytewise (COLLATE "C"): the window and the groups below need equal
    -- ids together, not the collation's order, and a sort of C strings compares abbreviated
    -- keys instead of calling strcoll for every pair. (The scores' ties still break by the
    -- default collation's order of store ids, below.)
    SELECT x.store_id, x.gap, x.back
    FROM (SELECT i.store_id COLLATE "C" AS store_id, i.order_date - lead(i.order_date) OVER w AS gap,
                 dense_rank() OVER w AS back
          FROM app.purchases i
          WHERE i.order_date <= p_as_of
          WINDOW w AS (PARTITION BY i.store_id COLLATE "C" ORDER BY i.order_date DESC)) x
    WHERE x.gap IS DISTINCT FROM 0
  ), gaps AS (
    SELECT s.store_id, count(*)::integer AS n_days,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY s.gap) FILTER (WHERE s.back <= 24) AS med
    FROM seq s GROUP BY s.store_id
  ), spread AS (
    SELECT s.store_id, 1.4826 * percentile_cont(0.5) WITHIN GROUP (ORDER BY abs(s.gap - g.med)) AS mad
    FROM seq s JOIN gaps g ON g.store_id = s.store_id
    WHERE s.back <= 24 AND s.gap IS NOT NULL GROUP BY s.store_id
  ), population AS (
    SELECT coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY g.med) FILTER (WHERE g.n_days >= 3), 30) AS med
    FROM gaps g
  ), base AS (
    SELECT r.store_id, r.revenue, r.first_day, r.last_day, coalesce(g.n_days, 0) AS n_orders,
           p_as_of - r.last_day AS recency,
           coalesce(g.n_days, 0) * 30.0 / greatest(30, p_as_of - r.first_day + 1) AS frequency,
           CASE WHEN g.n_days >= 3 THEN g.med ELSE pop.med END AS m,
           CASE WHEN g.n_days >= 3 THEN greatest(sp.mad, 0.1 * g.med, 1) ELSE greatest(pop.med / 2, 1) END AS s
    FROM revenue r
    CROSS JOIN population pop
    LEFT JOIN gaps g ON g.store_id = r.store_id COLLATE "C"
    LEFT JOIN spread sp ON sp.store_id = r.store_id COLLATE "C"
  ), scored AS (
    SELECT b.*,
           ntile(5) OVER (ORDER BY b.recency DESC, b.store_id) AS r_score,
           ntile(5) OVER (ORDER BY b.frequency, b.store_id) AS f_score,
           ntile(5) OVER (ORDER BY b.revenue, b.store_id) AS m_score,
           0.05 / (0.05 + 0.95 * (
             0.9 / (1 + exp(greatest(-50, least(50, 1.702 * (b.recency - b.m) / b.s))))
             + 0.1 / (1 + exp(greatest(-50, least(50, 1.702 * (b.recency - 2 * b.m) / (b.s * sqrt(2)))))))) AS churn
    FROM base b
  ), named AS (
    SELECT s.*,
           CASE WHEN s.churn >= 0.9 AND s.recency > 365 THEN 'lost'
                WHEN s.churn >= 0.9 AND (s.f_score >= 4 OR s.m_score >= 4) THEN 'cannot lose'
                WHEN s.churn >= 0.9 THEN 'hibernating'
                WHEN s.n_orders < 3 AND p_as_of - s.first_day <= 90 THEN 'new'
                WHEN s.churn >= 0.5 THEN 'at risk'
                WHEN s.f_score >= 4 AND s.m_score >= 4 THEN 'champions'
                WHEN s.f_score >= 3 AND s.m_score >= 3 THEN 'loyal'
                WHEN s.r_score >= 4 AND s.f_score <= 2 THEN 'potential loyalist'
                ELSE 'needs attention' END AS segment,
           CASE WHEN (s.f_score + s.m_score) / 2.0 >= 4 THEN 'high'
                WHEN (s.f_score + s.m_score) / 2.0 >= 2.5 THEN 'medium' ELSE 'low' END AS value
    FROM scored s
  ), fresh AS (
    -- The rows as stored (the columns' types), so that unchanged rows compare equal.
    SELECT n.store_id, n.recency::integer AS recency_days, n.r_score::smallint AS recency_score,
           n.f_score::smallint AS frequency_score, n.m_score::smallint AS monetary_score,
           n.segment AS segment_name, n.value AS segment_value, n.n_orders::integer AS order_count,
           round(n.frequency, 3)::numeric(8,3) AS order_frequency,
           (CASE WHEN n.n_orders >= 3 THEN round(n.m::numeric, 2) END)::numeric(8,2) AS typical_gap_days,
           round(n.revenue, 2)::numeric(16,2) AS total_revenue,
           round(least(1, greatest(0, n.churn))::numeric, 3)::numeric(4,3) AS churn_risk,
           n.last_day AS last_order_date, p_as_of AS as_of
    FROM named n
  ), changed AS (
    -- Only the rows that changed are rewritten: every rewritten row is a dead tuple and WAL.
    -- An UPDATE joined with the new rows instead of INSERT ... ON CONFLICT DO UPDATE, which
    -- locks every conflicting row (a WAL record each) before its WHERE skips the unchanged.
    UPDATE data.customer_segments c
    SET recency_days = f.recency_days, recency_score = f.recency_score, frequency_score = f.frequency_score,
        monetary_score = f.monetary_score, segment_name = f.segment_name, segment_value = f.segment_value,
        order_count = f.order_count, order_frequency = f.order_frequency, typical_gap_days = f.typical_gap_days,
        total_revenue = f.total_revenue, churn_risk = f.churn_risk, last_order_date = f.last_order_date,
        as_of = f.as_of
    FROM fresh f
    WHERE f.store_id = c.store_id
      AND (c.recency_days, c.recency_score, c.frequency_score, c.monetary_score, c.segment_name, c.segment_value,
           c.order_count, c.order_frequency, c.typical_gap_days, c.total_revenue, c.churn_risk, c.last_order_date,
           c.as_of)
          IS DISTINCT FROM
          (f.recency_days, f.recency_score, f.frequency_score, f.monetary_score, f.segment_name, f.segment_value,
           f.order_count, f.order_frequency, f.typical_gap_days, f.total_revenue, f.churn_risk, f.last_order_date,
           f.as_of)
    RETURNING c.store_id
  ), added AS (
    -- (refresh_derived holds its advisory lock: no other refresh inserts a segment meanwhile;
    -- a direct caller racing one gets the primary key's error, not a wrong row)
    INSERT INTO data.customer_segments (store_id, recency_days, recency_score, frequency_score, monetary_score,
                                        segment_name, segment_value, order_count, order_frequency,
                                        typical_gap_days, total_revenue, churn_risk, last_order_date, as_of)
    SELECT f.* FROM fresh f
    WHERE NOT EXISTS (SELECT FROM data.customer_segments c WHERE c.store_id = f.store_id)
    RETURNING store_id
  ), gone AS (
    -- Stores without any invoice as of p_as_of have no segment. (The statement's snapshot:
    -- these are rows neither changed nor added above.)
    -- (NOT IN a hashed list of the 5.9k fresh ids, which are never NULL: NOT EXISTS was planned
    -- as a merge anti join sorting both sides' ids by the default collation, ~5 ms more)
    DELETE FROM data.customer_segments c
    WHERE c.store_id NOT IN (SELECT f.store_id FROM fresh f)
    RETURNING c.store_id
  )
  SELECT count(*) INTO v_count FROM fresh;
  RETURN v_count;
END
$$;
