-- Upselling: what else to offer a store, and what to add to a draft order.
--
-- Association rules "orders with A also contain B" are mined from the last 4 order days of
-- every store (a recent, bounded sample: with ~80-line invoices every order adds ~3,000 pairs,
-- so the window, not the history, sets the cost). Pairs are counted with bit strings, one per
-- product with a bit per order, and bit_count(a & b): measured on a 1M-line history (844
-- orders, 424 products, 180k pairs) 0.6 s, against 2.8 s for a self-join of the lines.
-- A rule needs 3 orders with both products, confidence >= 5 % and lift > 1; the 15 strongest
-- per antecedent are kept (a store gets at most 10 suggestions; more rules only cost time).
--
-- A store's recommendations: products it has not bought in its last 12 order days, reached by
-- a rule from a product it buys regularly (in >= 25 % of those orders); scored
--   score = 0.6 x rule confidence + 0.4 x share of similar stores that buy it,
-- where similar stores are those whose main category (most revenue in their recent orders) is
-- the same; expected gain = score x the product's median line amount. Top 10 per store.

-- Re-mines data.product_associations as of p_as_of; returns the number of rules kept.
CREATE FUNCTION app.recompute_associations(p_as_of date, p_orders_per_store integer DEFAULT 4) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_count integer;
BEGIN
  DELETE FROM data.product_associations;
  PERFORM app.stage_recent_lines(p_as_of, 12);
  WITH lines AS MATERIALIZED (
    -- One row per (order day, product): t numbers the order days (the transactions).
    SELECT l.product_id, dense_rank() OVER (ORDER BY l.store_key, l.order_date)::integer - 1 AS t,
           sum(l.amount) AS amount
    FROM pg_temp.recent_lines l WHERE l.back <= p_orders_per_store
    GROUP BY l.store_key, l.order_date, l.product_id
  ), total AS (
    SELECT count(DISTINCT l.t)::integer AS n FROM lines l
  ), bits AS (
    -- One bit string per product (bit t set when order t has it), built from the set bits
    -- only: runs of zeros between them, zeros to the end.
    SELECT q.product_id, count(*)::integer AS n,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY q.amount) AS typical_amount,
           (string_agg(repeat('0', q.t - coalesce(q.prev, -1) - 1) || '1', '' ORDER BY q.t)
            || repeat('0', (SELECT n FROM total) - 1 - max(q.t)))::varbit AS b
    FROM (SELECT l.product_id, l.t, l.amount, lag(l.t) OVER (PARTITION BY l.product_id ORDER BY l.t) AS prev
          FROM lines l) q
    GROUP BY q.product_id
    HAVING count(*) >= 3
  ), pairs AS (
    SELECT a.product_id AS antecedent_id, c.product_id AS consequent_id, bit_count(a.b & c.b)::integer AS both_,
           a.n AS n_a, c.n AS n_c, c.typical_amount
    FROM bits a JOIN bits c ON c.product_id <> a.product_id
  ), rules AS (
    SELECT p.*, p.both_::numeric / p.n_a AS confidence,
           (p.both_::numeric / p.n_a) / (p.n_c::numeric / (SELECT n FROM total)) AS lift,
           row_number() OVER (PARTITION BY p.antecedent_id ORDER BY p.both_::numeric / p.n_a DESC, p.both_ DESC,
                              p.consequent_id) AS rnk
    FROM pairs p
    WHERE p.both_ >= 3 AND p.both_::numeric / p.n_a >= 0.05
      AND (p.both_::numeric / p.n_a) / (p.n_c::numeric / (SELECT n FROM total)) > 1
  )
  INSERT INTO data.product_associations (antecedent_id, consequent_id, orders_both, support, confidence, lift,
                                         typical_amount, as_of)
  SELECT r.antecedent_id, r.consequent_id, r.both_, round(r.both_::numeric / (SELECT n FROM total), 5),
         round(r.confidence, 4), round(r.lift, 4), round(r.typical_amount::numeric, 2), p_as_of
  FROM rules r WHERE r.rnk <= 15;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END
$$;

-- Recomputes upselling_recommendations as of p_as_of for the given stores (all when NULL),
-- from the current association rules; returns the number of recommendations written.
CREATE FUNCTION app.recompute_upselling(p_as_of date, p_store_ids text[] DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_count integer;
BEGIN
  DELETE FROM data.upselling_recommendations u
  WHERE p_store_ids IS NULL OR u.store_id IN (SELECT unnest(p_store_ids));

  -- What every store bought in its last 12 order days (all stores: they are the peers), in a
  -- temp table with statistics, so the joins below are planned on real row counts.
  PERFORM app.stage_recent_lines(p_as_of, 12);
  PERFORM app.drop_temp_table('upsell_store_products');
  CREATE TEMP TABLE upsell_store_products ON COMMIT DROP AS
  SELECT l.store_key, min(l.store_id) AS store_id, l.product_id,
         count(DISTINCT l.order_date)::numeric / max(l.orders_seen) AS share, sum(l.amount) AS amount
  FROM pg_temp.recent_lines l
  GROUP BY l.store_key, l.product_id;
  ANALYZE pg_temp.upsell_store_products;

  WITH store_products AS (
    SELECT * FROM pg_temp.upsell_store_products
  ), main_category AS (
    SELECT DISTINCT ON (sp.store_key) sp.store_key, p.category
    FROM store_products sp JOIN data.products p ON p.id = sp.product_id
    WHERE p.category IS NOT NULL
    GROUP BY sp.store_key, p.category
    ORDER BY sp.store_key, sum(sp.amount) DESC, p.category
  ), peers AS (
    SELECT mc.category, count(*) AS stores FROM main_category mc GROUP BY mc.category
  ), peer_buyers AS (
    SELECT mc.category, sp.product_id, count(*) AS stores
    FROM store_products sp JOIN main_category mc ON mc.store_key = sp.store_key
    GROUP BY mc.category, sp.product_id
  ), targets AS (
    SELECT DISTINCT sp.store_key, sp.store_id FROM store_products sp
    WHERE p_store_ids IS NULL OR sp.store_id IN (SELECT unnest(p_store_ids))
  ), reachable AS (
    -- Rules from what the store buys regularly into what it does not buy.
    SELECT t.store_key, t.store_id, r.consequent_id, r.antecedent_id, r.confidence
    FROM targets t
    JOIN store_products a ON a.store_key = t.store_key AND a.share >= 0.25
    JOIN data.product_associations r ON r.antecedent_id = a.product_id
    WHERE NOT EXISTS (SELECT FROM store_products b WHERE b.store_key = t.store_key AND b.product_id = r.consequent_id)
  ), best AS (
    -- The strongest rule into each product (hash aggregates: a DISTINCT ON sorted ~300k rows).
    SELECT x.store_key, min(x.store_id) AS store_id, x.consequent_id, max(x.confidence) AS confidence
    FROM reachable x GROUP BY x.store_key, x.consequent_id
  ), best_rule AS (
    -- Which antecedent gives it (the first by id among equally strong ones).
    SELECT b.store_key, min(b.store_id) AS store_id, b.consequent_id, min(x.antecedent_id::text)::uuid AS antecedent_id
    FROM best b JOIN reachable x ON x.store_key = b.store_key AND x.consequent_id = b.consequent_id
                                AND x.confidence = b.confidence
    GROUP BY b.store_key, b.consequent_id
  ), candidates AS (
    SELECT b.store_key, b.store_id, b.consequent_id AS product_id, r.antecedent_id, r.support, r.confidence,
           r.lift, r.orders_both, r.typical_amount
    FROM best_rule b
    JOIN data.product_associations r ON r.antecedent_id = b.antecedent_id AND r.consequent_id = b.consequent_id
  ), scored AS (
    SELECT c.*, mc.category, coalesce(pb.stores, 0) AS peers_buying, coalesce(pe.stores, 1) - 1 AS peer_count,
           coalesce(coalesce(pb.stores, 0)::numeric / nullif(coalesce(pe.stores, 1) - 1, 0), 0) AS peer_share
    FROM candidates c
    LEFT JOIN main_category mc ON mc.store_key = c.store_key
    LEFT JOIN peers pe ON pe.category = mc.category
    LEFT JOIN peer_buyers pb ON pb.category = mc.category AND pb.product_id = c.product_id
  ), ranked AS (
    SELECT s.*, 0.6 * s.confidence + 0.4 * s.peer_share AS score,
           row_number() OVER (PARTITION BY s.store_key ORDER BY 0.6 * s.confidence + 0.4 * s.peer_share DESC, s.lift DESC,
                              s.product_id) AS rnk
    FROM scored s
  )
  INSERT INTO data.upselling_recommendations (store_id, product_id, score, support, confidence, lift,
                                              similar_store_share, expected_gain, reason, evidence, as_of)
  SELECT r.store_id, r.product_id, round(r.score, 4), r.support, r.confidence, r.lift, round(r.peer_share, 4),
         round(r.score * coalesce(r.typical_amount, p.unit_price, 0), 2),
         format('Goes with %s: %s%% of orders with it have this too (lift %s)%s', a.name, round(r.confidence * 100),
                round(r.lift, 1),
                CASE WHEN r.peer_count > 0
                     THEN format('; %s of %s similar stores (main category %s) buy it', r.peers_buying, r.peer_count, r.category)
                     ELSE '' END),
         jsonb_build_object('antecedent_id', r.antecedent_id, 'antecedent', a.name, 'orders_with_both', r.orders_both,
                            'similar_stores', r.peer_count, 'similar_stores_buying', r.peers_buying,
                            'main_category', r.category, 'typical_amount', r.typical_amount),
         p_as_of
  FROM ranked r
  JOIN data.products p ON p.id = r.product_id AND p.is_active
  JOIN data.products a ON a.id = r.antecedent_id
  WHERE r.rnk <= 10 AND r.score >= 0.05;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  RETURN v_count;
END
$$;

-- Whether the request comes from a sales rep (PostgREST's SET ROLE, or the token's role):
-- security-definer functions use it to narrow what they read to the rep's stores.
CREATE FUNCTION app.caller_is_rep() RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT current_setting('role', true) = 'sales_rep' OR coalesce(app.jwt_claims() ->> 'role', '') = 'sales_rep'
$$;

-- GET /api/rpc/upselling_suggestions?order_id=42: products to add to a draft order, best first:
-- reached by a rule from its lines (confidence, lift), or recommended for its store; never
-- what the order already has, never inactive products. Refuses (404, SQLSTATE PT404) an order the caller does
-- not see: security definer (analysts cannot read the private schema), so it checks the
-- rep's stores itself.
CREATE FUNCTION api.upselling_suggestions(order_id bigint, max_results integer DEFAULT 10)
RETURNS TABLE (product_id uuid, product_name text, sku text, category text, unit_price numeric, score numeric,
               confidence numeric, lift numeric, expected_gain numeric, reason text)
LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, data, app AS $$
#variable_conflict use_column
DECLARE
  v_order_id bigint := upselling_suggestions.order_id;
  v_store text;
BEGIN
  SELECT o.store_id INTO v_store FROM data.orders o
  WHERE o.id = v_order_id AND (NOT app.caller_is_rep() OR o.store_id IN (SELECT app.rep_store_ids()));
  IF NOT FOUND THEN
    RAISE EXCEPTION 'order % not found (or not for one of your stores)', v_order_id USING ERRCODE = 'PT404';
  END IF;
  RETURN QUERY
  WITH items AS (
    SELECT oi.product_id FROM data.order_items oi WHERE oi.order_id = v_order_id
  ), by_rules AS (
    SELECT DISTINCT ON (r.consequent_id) r.consequent_id AS product_id, r.confidence, r.lift, r.typical_amount,
           a.name AS antecedent
    FROM data.product_associations r JOIN items i ON i.product_id = r.antecedent_id
    JOIN data.products a ON a.id = r.antecedent_id
    WHERE r.consequent_id NOT IN (SELECT it.product_id FROM items it)
    ORDER BY r.consequent_id, r.confidence DESC, r.lift DESC
  ), by_store AS (
    SELECT u.product_id, u.score, u.expected_gain, u.reason, u.lift, u.confidence
    FROM data.upselling_recommendations u
    WHERE u.store_id = v_store AND u.product_id NOT IN (SELECT it.product_id FROM items it)
  ), combined AS (
    SELECT coalesce(r.product_id, s.product_id) AS product_id,
           greatest(r.confidence, s.score) AS score,
           coalesce(r.confidence, s.confidence) AS confidence, coalesce(r.lift, s.lift) AS lift,
           CASE WHEN r.product_id IS NOT NULL AND (s.score IS NULL OR r.confidence >= s.score)
                THEN round(r.confidence * r.typical_amount, 2) ELSE s.expected_gain END AS expected_gain,
           CASE WHEN r.product_id IS NOT NULL AND (s.score IS NULL OR r.confidence >= s.score)
                THEN format('Goes with %s: %s%% of orders with it have this too (lift %s)', r.antecedent,
                            round(r.confidence * 100), round(r.lift, 1))
                ELSE s.reason END AS reason
    FROM by_rules r FULL JOIN by_store s ON s.product_id = r.product_id
  )
  SELECT c.product_id, p.name, p.sku, p.category, p.unit_price, round(c.score, 4), c.confidence, c.lift,
         c.expected_gain, c.reason
  FROM combined c JOIN data.products p ON p.id = c.product_id AND p.is_active
  ORDER BY c.score DESC, c.lift DESC NULLS LAST, p.name
  LIMIT greatest(coalesce(max_results, 10), 0);
END
$$;
COMMENT ON FUNCTION api.upselling_suggestions(bigint, integer) IS
  'Products to add to a draft order, best first, with the rule or store recommendation behind each';
