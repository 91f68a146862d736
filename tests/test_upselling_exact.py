"""Association rules and upselling (functions/upselling.sql) against their definitions, on real
invoice lines (tests/fixtures/online_retail_slice.csv.gz loaded through the real pipeline).

The functions count pairs from per-transaction arrays, group by sorting packed bigint keys and
read counts by array subscript, for speed; the reference queries here say the same thing the
plain way (a self-join of the transactions' lines, a grouping by uuids, an anti-join), so a fast
path that drifts from the definition — a pair counted twice, a tie broken on the wrong key, a
bought product suggested — fails here row by row."""
from __future__ import annotations

from datetime import date

import psycopg
import pytest

from analytics_helpers import load_slice

# Transactions: each store's last `orders` order days up to as_of (an order day's invoices
# together), of at most `cap` products. Rules: pairs in >= 3 transactions, confidence >= 5 %,
# lift > 1, the 15 with the most transactions in common per antecedent (ties: consequent id).
RULES_REFERENCE = """
WITH recent AS (SELECT * FROM app.recent_orders(%(as_of)s, 12)),
tl AS (
  SELECT r.store_key, r.back, i.product_id, sum(i.line_total::float8) AS amount
  FROM recent r JOIN data.invoice_items i ON i.order_id = r.id
  WHERE r.back <= %(orders)s AND i.product_id IS NOT NULL AND i.is_product AND NOT i.is_return AND i.quantity > 0
  GROUP BY 1, 2, 3),
tx AS (SELECT * FROM (SELECT tl.*, count(*) OVER (PARTITION BY tl.store_key, tl.back) AS k FROM tl) z
       WHERE z.k <= %(cap)s),
total AS (SELECT count(*) AS n FROM (SELECT DISTINCT store_key, back FROM tx) t),
prod AS (SELECT product_id, count(*) AS n, percentile_cont(0.5) WITHIN GROUP (ORDER BY amount) AS typical
         FROM tx GROUP BY product_id),
pairs AS (SELECT a.product_id AS ant, b.product_id AS con, count(*) AS both_
          FROM tx a JOIN tx b ON b.store_key = a.store_key AND b.back = a.back AND b.product_id <> a.product_id
          GROUP BY 1, 2 HAVING count(*) >= 3),
ranked AS (SELECT p.*, a.n AS n_a, c.n AS n_c, c.typical, total.n AS total,
                  row_number() OVER (PARTITION BY p.ant ORDER BY p.both_ DESC, p.con) AS rnk
           FROM pairs p JOIN prod a ON a.product_id = p.ant JOIN prod c ON c.product_id = p.con, total
           WHERE p.both_ >= 0.05 * a.n AND p.both_::float8 * total.n > a.n::float8 * c.n)
SELECT ant, con, both_::integer, round(both_::numeric / total, 5), round(both_::numeric / n_a, 4),
       round((both_::numeric / n_a) / (n_c::numeric / total), 4), round(typical::numeric, 2)
FROM ranked WHERE rnk <= 15
ORDER BY 1, 2
"""
RULES = """SELECT antecedent_id, consequent_id, orders_both, support, confidence, lift, typical_amount
           FROM data.product_associations ORDER BY 1, 2"""

# A store's suggestions: products it did not buy in its last 12 order days, reached by one of
# the 5 strongest rules (confidence, then transactions in common, then consequent id) of a
# product it bought on >= 25 %% of them, into a product still sold; per product the strongest
# such rule (ties: the first antecedent by id); score 0.6 x confidence + 0.4 x the share of the
# other stores of its main category (most revenue) that bought the product; the 10 best
# (ties: lift, then product id) scoring >= 0.05.
UPSELL_REFERENCE = """
WITH recent AS (SELECT * FROM app.recent_orders(%(as_of)s, 12)),
sp AS (
  SELECT r.store_id, i.product_id, count(DISTINCT r.back)::numeric / max(r.orders_seen) AS share,
         sum(i.line_total::float8) AS amount
  FROM recent r JOIN data.invoice_items i ON i.order_id = r.id
  WHERE i.product_id IS NOT NULL AND i.is_product AND NOT i.is_return AND i.quantity > 0
  GROUP BY 1, 2),
rules AS (
  SELECT r.* FROM (SELECT r0.*, row_number() OVER (PARTITION BY r0.antecedent_id
                                                   ORDER BY r0.confidence DESC, r0.orders_both DESC, r0.consequent_id) AS rnk
                   FROM data.product_associations r0) r
  JOIN data.products c ON c.id = r.consequent_id AND c.is_active
  WHERE r.rnk <= 5),
cand AS (
  SELECT DISTINCT ON (sp.store_id, r.consequent_id) sp.store_id, r.*
  FROM sp JOIN rules r ON r.antecedent_id = sp.product_id
  WHERE sp.share >= 0.25
    AND NOT EXISTS (SELECT FROM sp own WHERE own.store_id = sp.store_id AND own.product_id = r.consequent_id)
  ORDER BY sp.store_id, r.consequent_id, r.confidence DESC, r.antecedent_id),
main_category AS (
  SELECT DISTINCT ON (sp.store_id) sp.store_id, p.category
  FROM sp JOIN data.products p ON p.id = sp.product_id
  WHERE p.category IS NOT NULL
  GROUP BY sp.store_id, p.category
  ORDER BY sp.store_id, sum(sp.amount) DESC, p.category),
scored AS (
  SELECT c.*, mc.category,
         (SELECT count(*) FROM main_category m JOIN sp b ON b.store_id = m.store_id
          WHERE m.category = mc.category AND b.product_id = c.consequent_id) AS buying,
         (SELECT count(*) FROM main_category m WHERE m.category = mc.category) - 1 AS peer_count
  FROM cand c LEFT JOIN main_category mc ON mc.store_id = c.store_id),
shared AS (
  SELECT s.*, coalesce(s.buying::numeric / nullif(greatest(s.peer_count, 0), 0), 0) AS peer_share FROM scored s),
ranked AS (
  SELECT s.*, row_number() OVER (PARTITION BY s.store_id
                                 ORDER BY 0.6 * s.confidence::float8 + 0.4 * s.peer_share::float8 DESC,
                                          s.lift::float8 DESC, s.consequent_id) AS place
  FROM shared s)
SELECT x.store_id, x.consequent_id, round(0.6 * x.confidence + 0.4 * x.peer_share, 4), x.support, x.confidence, x.lift,
       round(x.peer_share, 4),
       round((0.6 * x.confidence + 0.4 * x.peer_share) * coalesce(x.typical_amount, p.unit_price, 0), 2),
       a.name, x.antecedent_id, x.orders_both, greatest(x.peer_count, 0), CASE WHEN x.category IS NULL THEN 0 ELSE x.buying END,
       x.category
FROM ranked x JOIN data.products p ON p.id = x.consequent_id JOIN data.products a ON a.id = x.antecedent_id
WHERE x.place <= 10 AND 0.6 * x.confidence + 0.4 * x.peer_share >= 0.05
ORDER BY 1, 2
"""
UPSELL = """SELECT u.store_id, u.product_id, u.score, u.support, u.confidence, u.lift, u.similar_store_share, u.expected_gain,
                   u.evidence ->> 'antecedent', (u.evidence ->> 'antecedent_id')::uuid,
                   (u.evidence ->> 'orders_with_both')::integer, (u.evidence ->> 'similar_stores')::integer,
                   (u.evidence ->> 'similar_stores_buying')::integer, u.evidence ->> 'main_category'
            FROM data.upselling_recommendations u ORDER BY 1, 2"""


@pytest.fixture(scope="module")
def history(db_url, tmp_path_factory):
    """The real slice; returns its last invoice date."""
    load_slice(db_url, tmp_path_factory.mktemp("slice"))
    with psycopg.connect(db_url, autocommit=True) as conn:
        return conn.execute("SELECT max(order_date) FROM data.orders WHERE status <> 'void'").fetchone()[0]


@pytest.mark.parametrize("orders, cap", [(4, 40), (6, 20)])
def test_rules_are_the_pair_counts_of_the_transactions(history, db_url, orders, cap):
    with psycopg.connect(db_url) as conn:  # rolled back
        for as_of in (history, date(2011, 6, 1)):
            kept = conn.execute("SELECT app.recompute_associations(%s, %s, %s)", (as_of, orders, cap)).fetchone()[0]
            mined = conn.execute(RULES).fetchall()
            expected = conn.execute(RULES_REFERENCE, {"as_of": as_of, "orders": orders, "cap": cap}).fetchall()
            assert len(expected) > 500  # real baskets: enough pairs for the ties and filters to matter
            assert kept == len(mined)
            assert mined == expected
        conn.rollback()


@pytest.mark.parametrize("categories", [False, True])
def test_upselling_follows_its_definition(history, db_url, categories):
    """Without categories the rule alone scores; with them (a first word of the name as a
    category, rolled back) similar stores count, and a refresh of a few stores gives them what a
    refresh of every store would."""
    with psycopg.connect(db_url) as conn:  # rolled back
        if categories:
            conn.execute("UPDATE data.products SET category = split_part(name, ' ', 1) WHERE name ~ '^[A-Z]'")
        conn.execute("SELECT app.recompute_associations(%s)", (history,))
        written = conn.execute("SELECT app.recompute_upselling(%s, NULL)", (history,)).fetchone()[0]
        got = conn.execute(UPSELL).fetchall()
        expected = conn.execute(UPSELL_REFERENCE, {"as_of": history}).fetchall()
        assert len(expected) > 300 and written == len(got)
        assert any(row[11] > 0 for row in expected) == categories  # similar stores compared, or not
        assert got == expected

        few = sorted({row[0] for row in expected})[::7]
        conn.execute("UPDATE data.upselling_recommendations SET score = -1")
        conn.execute("SELECT app.recompute_upselling(%s, %s)", (history, few))
        again = conn.execute(UPSELL).fetchall()
        assert [r for r in again if r[0] in few] == [r for r in expected if r[0] in few]
        assert all(r[2] == -1 for r in again if r[0] not in few)  # the others untouched
        conn.rollback()
