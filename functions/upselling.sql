-- Upselling: what else to offer a store, and what to add to a draft order.
--
-- Association rules "orders with A also contain B" are mined from the last 4 order days of
-- every store (a recent, bounded sample: the window, not the history, sets the cost), each
-- order day a transaction. Pairs are counted only where they occur: one row per pair of
-- products within a transaction (a < b, each unordered pair once; both directions of a rule
-- come from the same count), so the cost grows with sum(k^2) over the transactions' k
-- products, not with products^2 x transactions as bit strings per product did (on the real
-- export's 500k-line half, 3,645 products: 14.6 s with bit strings, 4.3 s counting every
-- pair). Order days of more than 40 products are left out of the mining: stocking-up orders,
-- where nearly every pair co-occurs, are weak evidence for "goes with" and cost the most (on
-- that half, the 14 % of transactions above 40 products held 74 % of the pairs). Measured on
-- that half (suggestions as of 2011-09-09, stores that ordered in the next 60 days): share of
-- stores that bought a suggested product 0.335 counting every pair, 0.329 with a cap of 60,
-- 0.327 with 40 (precision 0.0515, 0.0514, 0.0519: within the noise of 863 stores) for
-- 4.3, 1.8 and 1.2 s; "the 10 products most stores buy" scored 0.261. A rule needs 3
-- transactions with both products, confidence >= 5 % and lift > 1; the 15 strongest per
-- antecedent are kept (suggestions for a draft order read them; more would only cost time).
--
-- A store's recommendations: products it has not bought in its last 12 order days, reached by
-- one of the 5 strongest rules of a product it buys regularly (in >= 25 % of those orders);
-- scored
--   score = 0.6 x rule confidence + 0.4 x share of similar stores that buy it,
-- where similar stores are those whose main category (most revenue in their recent orders) is
-- the same (an export without product categories has no similar stores: the rule alone
-- scores); expected gain = score x the product's median line amount. Top 10 per store. Only
-- the stores asked for are read, so an upload's refresh costs what its stores cost.

-- The id of the newest invoice order: any upload that adds or replaces invoices moves it (ids
-- only grow), so rules mined through it are known to be mined from the data there is now.
CREATE FUNCTION app.newest_invoice_order() RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT max(o.id) FROM data.orders o WHERE o.source = 'invoice'
$$;

-- Whether the association rules must be mined anew as of p_as_of: none are from the last 7
-- days, or (a refresh of every store) they were mined as of another date or before the newest
-- invoices came. (An upload's suggestions may come from rules up to a week old; `mangalm
-- predict` right after an upload reuses the rules the upload mined from the same data.)
CREATE FUNCTION app.rules_stale(p_as_of date, p_every_store boolean) RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT NOT EXISTS (SELECT FROM data.product_associations a WHERE a.as_of <= p_as_of AND a.as_of > p_as_of - 7)
      OR (p_every_store
          AND NOT EXISTS (SELECT FROM data.product_associations a
                          WHERE a.as_of = p_as_of AND a.mined_through_order IS NOT DISTINCT FROM app.newest_invoice_order()))
$$;

-- The association rules (mined anew when p_remine) and the upselling suggestions of p_scope (every
-- store when NULL) as of p_as_of, from the recent lines the caller staged; returns the
-- milliseconds of each step. Upselling reads neither predictions nor segments, so it may run
-- in a session of its own beside them (app.predict_upselling).
CREATE FUNCTION app.refresh_upselling(p_as_of date, p_scope text[], p_remine boolean) RETURNS jsonb
LANGUAGE plpgsql SET work_mem = '64MB' SET jit = off AS $$
DECLARE
  v_timings jsonb := '{}';
  t timestamptz := clock_timestamp();
BEGIN
  PERFORM pg_advisory_xact_lock(app.lock_class('upselling'), 0);
  IF p_remine THEN
    PERFORM app.recompute_associations(p_as_of);
    v_timings := v_timings || jsonb_build_object('rules', app.ms_since(t));
    t := clock_timestamp();
  END IF;
  PERFORM app.recompute_upselling(p_as_of, p_scope);
  RETURN v_timings || jsonb_build_object('upselling', app.ms_since(t));
END
$$;

-- Every product numbered in id order (pk 1..n) in pg_temp.product_keys, with what the rules
-- and suggestions read of it: the rules' pairs and the suggestions' (store, product) keys are
-- counted, sorted and ranked on integers instead of uuids, and ties broken on the number are
-- broken on the id. Analyzed (else the lines, not the products, are hashed for the joins).
-- Returns n + 1, the width of a key a x width + b made of two numbers.
CREATE FUNCTION app.stage_product_keys() RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM app.drop_temp_table('product_keys');
  CREATE TEMP TABLE product_keys ON COMMIT DROP AS
  SELECT p.id AS product_id, row_number() OVER (ORDER BY p.id)::integer AS pk, p.is_active, p.category, p.name,
         p.unit_price
  FROM data.products p;
  -- (the columns the rules and suggestions join and filter on, as app.analyze_sample does, but
  -- is_active and category at the default target: the whole catalogue is sampled, as before;
  -- names and prices are read only)
  ALTER TABLE pg_temp.product_keys ALTER COLUMN product_id SET STATISTICS 10, ALTER COLUMN pk SET STATISTICS 10;
  ANALYZE pg_temp.product_keys (product_id, pk, is_active, category);
  RETURN (SELECT count(*) + 1 FROM pg_temp.product_keys);
END
$$;

-- Re-mines data.product_associations as of p_as_of from each store's last p_orders_per_store
-- order days, leaving out order days with more than p_max_products products; returns the
-- number of rules kept.
-- Grouping here is by sorting (enable_hashagg off): the pair count's hash table (640k pairs
-- at the whole export's size, 1.0M lines) misses the CPU cache on nearly every row, and
-- sorting the 2.19M pair keys costs half as much (1.03 -> 0.53 CPU s, min of 4 in one
-- session); the transactions' lines, grouped by sorting, come out in the order the
-- per-transaction grouping needs (0.45 -> 0.31 CPU s). The whole function at that size:
-- 2.38 -> 1.41 CPU s, the same rules row by row (min of 4, old and new alternating in one
-- session; on the real half 1.41 -> 0.84).
CREATE FUNCTION app.recompute_associations(p_as_of date, p_orders_per_store integer DEFAULT 4,
                                           p_max_products integer DEFAULT 40) RETURNS integer
LANGUAGE plpgsql SET work_mem = '128MB' SET enable_hashagg = off AS $$
DECLARE
  v_count integer;
  v_total integer;
  v_through bigint := app.newest_invoice_order();
  v_n integer[];     -- transactions with the product, by product number (0: fewer than 3)
  v_width bigint;    -- product numbers + 1: a pair of products is one bigint a x v_width + b
BEGIN
  DELETE FROM data.product_associations;
  PERFORM app.stage_recent_lines(p_as_of, 12);

  v_width := app.stage_product_keys();

  -- One row per transaction (t = store_key x 64 + back, back <= p_orders_per_store < 64):
  -- its products' numbers and the amount of each, in the same order (one aggregate feeds
  -- both arrays the same rows).
  PERFORM app.drop_temp_table('assoc_tx');
  CREATE TEMP TABLE assoc_tx ON COMMIT DROP AS
  SELECT g.t, array_agg(g.p) AS ps, array_agg(g.amount) AS amounts
  FROM (SELECT l.store_key * 64 + l.back AS t, k.pk AS p, sum(l.amount) AS amount
        FROM pg_temp.recent_lines l JOIN pg_temp.product_keys k ON k.product_id = l.product_id
        WHERE l.back <= least(p_orders_per_store, 63)
        GROUP BY 1, 2) g
  GROUP BY g.t
  HAVING count(*) <= p_max_products;
  SELECT count(*) INTO v_total FROM pg_temp.assoc_tx;

  -- Products in at least 3 transactions (a rule needs 3 with both); their n (transactions)
  -- goes to v_n too, read by subscript below instead of two joins.
  PERFORM app.drop_temp_table('assoc_products');
  CREATE TEMP TABLE assoc_products ON COMMIT DROP AS
  SELECT u.p, k.product_id, count(*)::integer AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY u.amount) AS typical_amount
  FROM pg_temp.assoc_tx tx, unnest(tx.ps, tx.amounts) u(p, amount)
  JOIN pg_temp.product_keys k ON k.pk = u.p
  GROUP BY u.p, k.product_id HAVING count(*) >= 3;
  SELECT array_agg(coalesce(ap.n, 0) ORDER BY k.pk) INTO v_n
  FROM pg_temp.product_keys k LEFT JOIN pg_temp.assoc_products ap ON ap.p = k.pk;

  WITH pairs AS (
    -- Each unordered pair once: every product of a transaction with each product after it in
    -- its array (a slice), one bigint key a x v_width + b per pair (a < b, whatever the order
    -- in the array). A self-join of the transactions' lines (b > a) compared every product
    -- with every other to keep half: at the whole export's size, 2.19M pairs, 1.30 -> 1.03
    -- CPU s with hashed groups. (Products in fewer than 3 transactions are in the arrays too:
    -- their pairs, ~1 % of them, never reach 3.)
    SELECT y.k, count(*)::integer AS both_
    FROM (SELECT least(x.p, x.q) * v_width + greatest(x.p, x.q) AS k
          FROM (SELECT x0.p, unnest(x0.ps[x0.i + 1:]) AS q
                FROM (SELECT unnest(tx.ps) AS p, generate_subscripts(tx.ps, 1) AS i, tx.ps FROM pg_temp.assoc_tx tx) x0) x) y
    GROUP BY y.k
    HAVING count(*) >= 3
  ), directed AS (
    SELECT (pr.k / v_width)::integer AS ant, (pr.k % v_width)::integer AS con, pr.both_ FROM pairs pr
    UNION ALL
    SELECT (pr.k % v_width)::integer, (pr.k / v_width)::integer, pr.both_ FROM pairs pr
  ), ranked AS (
    -- For one antecedent, confidence = both / n_a: the strongest rules are those with the most
    -- orders in common (ties: the consequent's id, as p follows id order). Integers only:
    -- confidence >= 5 % is 20 x both >= n_a, exactly.
    SELECT d.*, row_number() OVER (PARTITION BY d.ant ORDER BY d.both_ DESC, d.con) AS rnk
    FROM directed d
    WHERE 20 * d.both_ >= v_n[d.ant] AND d.both_::float8 * v_total > v_n[d.ant]::float8 * v_n[d.con]
  )
  INSERT INTO data.product_associations (antecedent_id, consequent_id, orders_both, support, confidence, lift,
                                         typical_amount, as_of, mined_through_order)
  SELECT a.product_id, c.product_id, r.both_, round(r.both_::numeric / v_total, 5),
         round(r.both_::numeric / a.n, 4), round((r.both_::numeric / a.n) / (c.n::numeric / v_total), 4),
         round(c.typical_amount::numeric, 2), p_as_of, v_through
  FROM ranked r
  JOIN pg_temp.assoc_products a ON a.p = r.ant
  JOIN pg_temp.assoc_products c ON c.p = r.con
  WHERE r.rnk <= 15;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  -- Readers join the rules in this same transaction (an upload's refresh), before autovacuum
  -- has seen them: on the real export's half, upselling took 188 s in the upload's refresh
  -- and 5.6 s over the same rules once they were analyzed.
  ANALYZE data.product_associations;
  RETURN v_count;
END
$$;

-- Whether upselling compares similar stores: they share a main category, so an export without
-- product categories has none to compare. Then upselling reads every store's recent lines, and
-- a refresh of a few stores (app.refresh_derived) stages them all.
CREATE FUNCTION app.upselling_compares_peers() RETURNS boolean
LANGUAGE sql STABLE AS $$
  SELECT EXISTS (SELECT FROM data.products p WHERE p.category IS NOT NULL)
$$;

-- Recomputes upselling_recommendations as of p_as_of for the given stores (all when NULL),
-- from the current association rules; returns the number of recommendations written.
-- Products are numbered (integers) for the big joins and groupings: a store's regular
-- products x their rules is ~1.2M rows for the real export's 2,971 stores, and grouping them
-- by uuid pairs, an anti-join sorted on disk and a lookup per row for is_active took ~5 s of
-- the ~6 s; the strongest rule into each product is one max() over a packed key.
CREATE FUNCTION app.recompute_upselling(p_as_of date, p_store_ids text[] DEFAULT NULL, p_rules_per_product integer DEFAULT 5)
RETURNS integer
LANGUAGE plpgsql SET work_mem = '64MB' AS $$
DECLARE
  v_count integer;
  v_peers boolean := app.upselling_compares_peers();
  v_width bigint;   -- product numbers + 1: a (store, product) pair is one bigint store_key x v_width + pk
  v_hashagg text := current_setting('enable_hashagg');
BEGIN
  -- (= ANY: with the stores given, the OR folds away when the statement is planned and the
  -- stores' rows are found through the (store_id, product_id) index; written as IN (SELECT
  -- unnest(...)) it stayed a hashed subplan filtering a scan of every store's rows: the 1 %
  -- append at the whole export's size, 344 of 5,900 stores, 25 -> 8 ms)
  DELETE FROM data.upselling_recommendations u
  WHERE p_store_ids IS NULL OR u.store_id = ANY (p_store_ids);

  v_width := app.stage_product_keys();

  -- The stores with recent lines, those asked for marked as targets;
  -- then what they bought in their last 12 order days: the targets, and every store when
  -- similar stores are compared (they are the peers). Temp tables with statistics, so the
  -- joins below are planned on real row counts. (Store ids are matched by hash joins: an
  -- upload's first load touches every store, and = ANY over an array of 3,000 ids per row
  -- costs a comparison per element.)
  -- (The stores come from the staged order days, 11k rows on the real export's half, not
  -- from its 242k lines: 46 ms less; a store whose recent orders hold no bought line has no
  -- products below, so it adds nothing.)
  -- (Without similar stores only the stores asked for are read: a partial staging of them
  -- does.)
  PERFORM app.stage_recent_lines(p_as_of, 12, false, CASE WHEN v_peers THEN NULL ELSE p_store_ids END);
  PERFORM app.drop_temp_table('upsell_stores');
  CREATE TEMP TABLE upsell_stores ON COMMIT DROP AS
  SELECT r.store_key, r.store_id, r.orders_seen, p_store_ids IS NULL OR t.id IS NOT NULL AS target
  FROM (SELECT d.store_key, d.store_id, d.orders_seen FROM pg_temp.recent_order_days d
        -- (without similar stores, the others are read by nothing below: the stores asked for)
        WHERE v_peers OR p_store_ids IS NULL OR d.store_id = ANY (p_store_ids)
        GROUP BY d.store_key, d.store_id, d.orders_seen) r
  LEFT JOIN (SELECT DISTINCT unnest(p_store_ids) AS id) t ON t.id = r.store_id;
  -- (indexed, like upsell_rules below: the written rows look up their rule and their store's id
  -- last, and when the planner takes the ranked rows for a handful it joins them in a nested
  -- loop — without an index, 56k rows x 5,900 stores compared one by one took 15 s of a
  -- predict at the whole export's size, once in four runs: ANALYZE samples at random)
  CREATE INDEX ON pg_temp.upsell_stores (store_key);
  -- The temporary tables here are analyzed on the columns the statements after them join and
  -- filter on, on a sample of 3,000 rows (statistics target 10), as the recent lines are: the
  -- rest (names, prices, amounts, confidences) is read, never planned on, and every column at
  -- the default 30,000 rows took 60 ms of the 1 % append's upselling at the whole export's size
  -- (store products 25 ms, rules 20 ms), ~15 ms now (A/B in one session, rows identical).
  PERFORM app.analyze_sample('pg_temp.upsell_stores', 'store_key', 'target');

  -- regular: a product of a store asked for that is in >= 25 % of its order days seen (the
  -- order days with it are the bits of a bit set, bit back - 1, back <= 12; 4 x days >= seen
  -- is share >= 0.25 exactly, without a numeric division a row), from the (store, product)
  -- aggregate app.stage_recent_lines made of the lines for the basket candidates too.
  PERFORM app.drop_temp_table('upsell_store_products');
  CREATE TEMP TABLE upsell_store_products ON COMMIT DROP AS
  SELECT d.store_key, k.pk, s.target AND 4 * bit_count(d.days::bit(32)) >= s.orders_seen AS regular, d.amount, s.target
  FROM pg_temp.recent_store_products d
  JOIN pg_temp.upsell_stores s ON s.store_key = d.store_key AND (v_peers OR s.target)
  JOIN pg_temp.product_keys k ON k.product_id = d.product_id;
  PERFORM app.analyze_sample('pg_temp.upsell_store_products', 'store_key', 'pk', 'regular', 'target');

  -- The p_rules_per_product strongest rules from those products into products still sold, with
  -- pick: the rule's confidence (4 decimals) and its antecedent's place in id order packed into
  -- one bigint, so max(pick) is the strongest rule and, among equally strong ones, the first
  -- antecedent by id. Why 5 of the 15 rules kept per product (the rest serve draft orders):
  -- measured on the real export's half (suggestions as of 2011-09-09, the 863 stores that
  -- ordered in the next 60 days), 5 rules a product: 32.9 % of stores bought a suggested
  -- product, 5.31 % of suggestions bought; 15: 32.7 %, 5.19 % (within the noise of 863 stores),
  -- and the join of regular products x rules, this function's main cost, is a third as large
  -- (all stores: 2.7 s -> 1.7 s).
  PERFORM app.drop_temp_table('upsell_rules');
  CREATE TEMP TABLE upsell_rules ON COMMIT DROP AS
  SELECT a.pk AS ant, c.pk AS con, r.antecedent_id, r.consequent_id, r.confidence, r.lift, r.support, r.orders_both,
         r.typical_amount, round(r.confidence * 10000)::bigint * 2147483648 + (2147483647 - a.pk) AS pick,
         a.name AS antecedent, c.unit_price AS con_price
  -- only the rules the stores in scope can use: an upload's few stores read few rules; the
  -- antecedents are chosen before the ranking, which ranks each antecedent's rules apart, so
  -- only their rules are sorted (the 1 % append at the whole export's size: 1,647 of 4,165)
  FROM (SELECT r0.*, row_number() OVER (PARTITION BY r0.antecedent_id
                                        ORDER BY r0.confidence DESC, r0.orders_both DESC, r0.consequent_id) AS rnk
        FROM data.product_associations r0
        WHERE r0.antecedent_id IN (SELECT k.product_id
                                   FROM pg_temp.upsell_store_products sp
                                   JOIN pg_temp.product_keys k ON k.pk = sp.pk
                                   WHERE sp.regular)) r
  JOIN pg_temp.product_keys a ON a.product_id = r.antecedent_id
  JOIN pg_temp.product_keys c ON c.product_id = r.consequent_id AND c.is_active
  WHERE r.rnk <= p_rules_per_product;
  CREATE INDEX ON pg_temp.upsell_rules (con, pick);  -- (as upsell_stores above: a misjudged nested loop stays cheap)
  PERFORM app.analyze_sample('pg_temp.upsell_rules', 'ant', 'con', 'pick');

  -- Rules from what a store buys regularly (in >= 25 % of its orders) into what it does not
  -- buy: the strongest rule into each product, kept narrow (integers) until the ranking has
  -- picked each store's 10: sorting ~360k wide rows for the ranking cost ~1 s more.
  -- One grouping by sorting one bigint key (store, product) over the rules' rows and the
  -- store's own products (pick -1), keeping the groups without one of its own: at the whole
  -- export's size (970k rule rows, 423k own) 1.01 -> 0.86 CPU s against a grouping by two
  -- columns and an anti-join, both sorted (min of 4 in one session). Of the store's own
  -- products only those some rule leads to: the others' groups hold no rule row and are
  -- dropped anyway (the 1 % append at the whole export's size: 41.8k own rows -> 32.8k).
  PERFORM app.drop_temp_table('upsell_candidates');
  PERFORM set_config('enable_hashagg', 'off', true);
  CREATE TEMP TABLE upsell_candidates ON COMMIT DROP AS
  SELECT (b.k / v_width)::integer AS store_key, (b.k % v_width)::integer AS con, b.pick
  FROM (SELECT u.k, max(u.pick) AS pick
        FROM (SELECT a.store_key * v_width + r.con AS k, r.pick
              FROM pg_temp.upsell_store_products a JOIN pg_temp.upsell_rules r ON r.ant = a.pk
              WHERE a.regular
              UNION ALL
              SELECT s.store_key * v_width + s.pk, -1 FROM pg_temp.upsell_store_products s
              WHERE s.target AND s.pk IN (SELECT r.con FROM pg_temp.upsell_rules r)) u
        GROUP BY u.k
        HAVING min(u.pick) >= 0) b;
  PERFORM set_config('enable_hashagg', v_hashagg, true);
  PERFORM app.analyze_sample('pg_temp.upsell_candidates', 'store_key', 'con', 'pick');

  -- The 10 best candidates per store, with what the suggestion's text says of similar stores.
  PERFORM app.drop_temp_table('upsell_ranked');
  IF v_peers THEN
    CREATE TEMP TABLE upsell_ranked ON COMMIT DROP AS
    WITH main_category AS (
      SELECT DISTINCT ON (sp.store_key) sp.store_key, k.category
      FROM pg_temp.upsell_store_products sp JOIN pg_temp.product_keys k ON k.pk = sp.pk
      WHERE v_peers AND k.category IS NOT NULL
      GROUP BY sp.store_key, k.category
      ORDER BY sp.store_key, sum(sp.amount) DESC, k.category
    ), peers AS (
      SELECT mc.category, count(*) AS stores FROM main_category mc GROUP BY mc.category
    ), peer_buyers AS (
      SELECT mc.category, sp.pk, count(*) AS stores
      FROM pg_temp.upsell_store_products sp JOIN main_category mc ON mc.store_key = sp.store_key
      WHERE sp.pk IN (SELECT c.con FROM pg_temp.upsell_candidates c)
      GROUP BY mc.category, sp.pk
    ), scored AS (
      SELECT c.store_key, c.con, c.pick, r.confidence::float8 AS conf, r.lift::float8 AS lift, mc.category,
             coalesce(pb.stores, 0) AS peers_buying, coalesce(pe.stores, 1) - 1 AS peer_count,
             coalesce(coalesce(pb.stores, 0)::numeric / nullif(coalesce(pe.stores, 1) - 1, 0), 0) AS peer_share
      FROM pg_temp.upsell_candidates c
      JOIN pg_temp.upsell_rules r ON r.con = c.con AND r.pick = c.pick
      LEFT JOIN main_category mc ON mc.store_key = c.store_key
      LEFT JOIN peers pe ON pe.category = mc.category
      LEFT JOIN peer_buyers pb ON pb.category = mc.category AND pb.pk = c.con
    ), ranked AS (
      -- Best score first, then the stronger lift, then the product's id (con follows id order).
      SELECT s.*, row_number() OVER (PARTITION BY s.store_key ORDER BY 0.6 * s.conf + 0.4 * s.peer_share::float8 DESC,
                                                                       s.lift DESC, s.con) AS rnk
      FROM scored s
    )
    SELECT x.store_key, x.con, x.pick, x.category, x.peers_buying, x.peer_count, x.peer_share
    FROM ranked x
    WHERE x.rnk <= 10;
  ELSE
    -- Without similar stores (no product categories) every peer share is 0 and a candidate's
    -- score is its rule's alone, so the order of the rules (score, then lift, then the
    -- product: the ranking's keys above, the same float expressions) is the order within a
    -- store too (a store has one candidate per product): the candidates are ranked on two
    -- integers instead of sorting 361k rows of score, lift and peer columns joined to
    -- empty peer tables (at the whole export's size; the same rows).
    CREATE TEMP TABLE upsell_ranked ON COMMIT DROP AS
    SELECT x.store_key, x.con, x.pick, NULL::text AS category, 0::bigint AS peers_buying, 0::bigint AS peer_count,
           0::numeric AS peer_share
    FROM (SELECT c.store_key, c.con, c.pick, row_number() OVER (PARTITION BY c.store_key ORDER BY r.ord) AS rnk
          FROM pg_temp.upsell_candidates c
          JOIN (SELECT r0.con, r0.pick,
                       row_number() OVER (ORDER BY 0.6 * r0.confidence::float8 + 0.4 * 0::numeric::float8 DESC,
                                                   r0.lift::float8 DESC, r0.con) AS ord
                FROM pg_temp.upsell_rules r0) r ON r.con = c.con AND r.pick = c.pick) x
    WHERE x.rnk <= 10;
  END IF;
  ANALYZE pg_temp.upsell_ranked;

  INSERT INTO data.upselling_recommendations (store_id, product_id, score, support, confidence, lift,
                                              similar_store_share, expected_gain, reason, evidence, as_of)
  SELECT st.store_id, r.consequent_id, round(0.6 * r.confidence + 0.4 * x.peer_share, 4), r.support, r.confidence,
         r.lift, round(x.peer_share, 4),
         round((0.6 * r.confidence + 0.4 * x.peer_share) * coalesce(r.typical_amount, r.con_price, 0), 2),
         format('Goes with %s: %s%% of orders with it have this too (lift %s)%s', r.antecedent, round(r.confidence * 100),
                round(r.lift, 1),
                CASE WHEN x.peer_count > 0
                     THEN format('; %s of %s similar stores (main category %s) buy it', x.peers_buying, x.peer_count, x.category)
                     ELSE '' END),
         jsonb_build_object('antecedent_id', r.antecedent_id, 'antecedent', r.antecedent, 'orders_with_both', r.orders_both,
                            'similar_stores', x.peer_count, 'similar_stores_buying', x.peers_buying,
                            'main_category', x.category, 'typical_amount', r.typical_amount),
         p_as_of
  FROM pg_temp.upsell_ranked x
  -- (the antecedent's name and the product's price come with the rule: planned for a few
  -- ranked rows, two index look-ups a row in data.products took ~0.3 s for 56k)
  JOIN pg_temp.upsell_rules r ON r.con = x.con AND r.pick = x.pick
  JOIN pg_temp.upsell_stores st ON st.store_key = x.store_key  -- (the store's id for its 10 rows only)
  WHERE 0.6 * r.confidence + 0.4 * x.peer_share >= 0.05;
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
