"""Two orders of one store submitted at once, each within its credit limit alone but past it
together: the submits take turns, and the second is refused (functions/store_preferences.sql)."""
from __future__ import annotations

import psycopg
import pytest

from concurrency_helpers import waits_for


def draft(conn, store: str, product: str, quantity: int) -> int:
    order = conn.execute("INSERT INTO data.orders (store_id, source, status) VALUES (%s, 'manual', 'draft') RETURNING id",
                         (store,)).fetchone()[0]
    conn.execute("INSERT INTO data.order_items (order_id, product_id, quantity, unit_price) VALUES (%s, %s, %s, 100)",
                 (order, product, quantity))
    return order


def test_two_submits_at_once_cannot_both_pass_the_limit(conn, db_url):
    conn.execute("INSERT INTO data.stores (id, name, source) VALUES ('CC-1', 'Concurrent Credit', 'import')")
    conn.execute("INSERT INTO data.store_preferences (store_id, credit_limit) VALUES ('CC-1', 1000)")
    product = conn.execute("INSERT INTO data.products (product_key, name, unit_price) VALUES ('CC-P', 'CC product', 100) "
                           "RETURNING id").fetchone()[0]
    first, second = draft(conn, "CC-1", product, 6), draft(conn, "CC-1", product, 6)  # 600 each, 1,200 together

    submit = "UPDATE data.orders SET status = 'submitted' WHERE id = %s"
    # the first submit holds the store's turn; the second waits for it, then counts it
    outcome = waits_for(db_url, (submit, (first,)), (submit, (second,)))

    error = outcome.get("error")
    assert isinstance(error, psycopg.Error), "the second order would pass the limit once the first counts"
    assert error.sqlstate == "PT409"
    assert "to 1200.00, over its credit limit of 1000.00" in str(error)
    statuses = dict(conn.execute("SELECT id, status FROM data.orders WHERE store_id = 'CC-1'").fetchall())
    assert statuses == {first: "submitted", second: "draft"}


@pytest.mark.parametrize("limit", [None, 1200])
def test_no_limit_or_a_high_enough_one_lets_both_through(conn, limit):
    store = f"CC-{limit}"
    conn.execute("INSERT INTO data.stores (id, name, source) VALUES (%s, 'Enough credit', 'import')", (store,))
    conn.execute("INSERT INTO data.store_preferences (store_id, credit_limit) VALUES (%s, %s)", (store, limit))
    product = conn.execute("INSERT INTO data.products (product_key, name, unit_price) VALUES (%s, 'CC product', 100) "
                           "RETURNING id", (f"CC-P-{limit}",)).fetchone()[0]
    for order in (draft(conn, store, product, 6), draft(conn, store, product, 6)):
        conn.execute("UPDATE data.orders SET status = 'submitted' WHERE id = %s", (order,))
    assert conn.execute("SELECT count(*) FROM data.orders WHERE store_id = %s AND status = 'submitted'",
                        (store,)).fetchone()[0] == 2
