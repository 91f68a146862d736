"""The set-based keys of invoice lines (functions/set_based_keys.sql, migration 0006; rejected
lines, 0007; the analytics' derived rows, 0008) refuse what
the foreign keys refused, with the same SQLSTATE (23503), constraint name and message, cascade
what they cascaded, and lock parents as they did: a concurrent delete of a product waits for
the transaction that inserted its lines, then is refused."""
import uuid

import psycopg
import pytest
from psycopg import errors

from concurrency_helpers import waits_for

P_KNOWN = "12121212-0000-4000-8000-000000000001"
P_SPARE = "12121212-0000-4000-8000-000000000002"
ORDER, OTHER = 951001, 951002
LINE = ("INSERT INTO data.invoice_items (order_id, line_no, product_id, quantity, unit_price, line_total) "
        "VALUES (%s, %s, %s, 1, 10, 10)")


@pytest.fixture
def world(db_url):
    """Two orders of one store, two products, one line on each order (product P_KNOWN); removed after."""
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("INSERT INTO data.stores (id, name, source) VALUES ('KEYS-S', 'Keys store', 'import')")
        c.execute("INSERT INTO data.products (id, product_key, name) VALUES (%s, 'KEYS-P1', 'Known'), "
                  "(%s, 'KEYS-P2', 'Spare')", (P_KNOWN, P_SPARE))
        c.execute("INSERT INTO data.orders (id, store_id, source, invoice_number, status, order_date) "
                  "OVERRIDING SYSTEM VALUE VALUES (%s, 'KEYS-S', 'invoice', 'KEYS-1', 'invoiced', '2030-01-01'), "
                  "(%s, 'KEYS-S', 'invoice', 'KEYS-2', 'invoiced', '2030-01-02')", (ORDER, OTHER))
        c.execute(LINE, (ORDER, 1, P_KNOWN))
        c.execute(LINE, (OTHER, 1, P_KNOWN))
    yield db_url
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("DELETE FROM data.orders WHERE store_id = 'KEYS-S'")
        c.execute("DELETE FROM data.products WHERE product_key LIKE 'KEYS-%'")
        c.execute("DELETE FROM data.stores WHERE id = 'KEYS-S'")


def refused(url, sql, params=()) -> psycopg.Error:
    with psycopg.connect(url, autocommit=True) as c, pytest.raises(psycopg.Error) as e:
        c.execute(sql, params)
    return e.value


def refused_like_a_key(url, sql, params, table: str, constraint: str) -> psycopg.Error:
    """The statement is refused as a foreign key would refuse it: SQLSTATE 23503, the key's
    constraint and table, PostgreSQL's own message."""
    e = refused(url, sql, params)
    assert isinstance(e, errors.ForeignKeyViolation)
    assert e.diag.constraint_name == constraint and e.diag.table_name == table
    assert e.diag.message_primary == (f'insert or update on table "{table}" violates foreign key constraint '
                                      f'"{constraint}"')
    return e


def count(url, sql, params=()) -> int:
    with psycopg.connect(url, autocommit=True) as c:
        return c.execute(sql, params).fetchone()[0]


def test_no_foreign_key_is_left_and_the_triggers_are_there(world):
    assert count(world, "SELECT count(*) FROM pg_constraint WHERE conrelid = 'data.invoice_items'::regclass "
                        "AND contype = 'f'") == 0
    assert count(world, "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE '40\\_%%' AND "
                        "tgrelid IN ('data.invoice_items'::regclass, 'data.orders'::regclass, 'data.products'::regclass)") == 10
    # the orders' store too (migration 0009): checked by the orders' own two statement triggers
    assert count(world, "SELECT count(*) FROM pg_constraint WHERE conrelid = 'data.orders'::regclass "
                        "AND contype = 'f' AND conname = 'orders_store_id_fkey'") == 0


def test_a_line_of_a_missing_order_or_product_is_refused_like_a_foreign_key(world):
    e = refused_like_a_key(world, LINE, (999999999, 1, P_KNOWN), "invoice_items", "invoice_items_order_id_fkey")
    assert e.diag.message_detail == 'Key (order_id)=(999999999) is not present in table "orders".'

    missing = str(uuid.uuid4())
    e = refused(world, LINE, (ORDER, 2, missing))
    assert isinstance(e, errors.ForeignKeyViolation) and e.diag.constraint_name == "invoice_items_product_id_fkey"
    assert e.diag.message_detail == f'Key (product_id)=({missing}) is not present in table "products".'

    # one bad row among good ones refuses the whole statement; NULL (a non-product line) passes
    e = refused(world, "INSERT INTO data.invoice_items (order_id, line_no, product_id, quantity, line_total) "
                       "SELECT %s, g, CASE WHEN g = 50 THEN %s::uuid ELSE %s::uuid END, 1, 1 FROM generate_series(10, 99) g",
                (ORDER, missing, P_KNOWN))
    assert isinstance(e, errors.ForeignKeyViolation)
    assert count(world, "SELECT count(*) FROM data.invoice_items WHERE order_id = %s", (ORDER,)) == 1
    with psycopg.connect(world, autocommit=True) as c:
        c.execute(LINE, (ORDER, 3, None))


def test_changing_a_line_to_a_missing_parent_is_refused(world):
    e = refused(world, "UPDATE data.invoice_items SET product_id = %s WHERE order_id = %s", (str(uuid.uuid4()), ORDER))
    assert isinstance(e, errors.ForeignKeyViolation) and e.diag.constraint_name == "invoice_items_product_id_fkey"
    e = refused(world, "UPDATE data.invoice_items SET order_id = 999999999 WHERE order_id = %s", (ORDER,))
    assert isinstance(e, errors.ForeignKeyViolation) and e.diag.constraint_name == "invoice_items_order_id_fkey"


def test_a_referenced_product_cannot_go_an_unreferenced_one_can(world):
    e = refused(world, "DELETE FROM data.products WHERE id = %s", (P_KNOWN,))
    assert isinstance(e, errors.ForeignKeyViolation) and e.diag.constraint_name == "invoice_items_product_id_fkey"
    assert str(e).startswith('update or delete on table "products" violates foreign key constraint '
                             '"invoice_items_product_id_fkey" on table "invoice_items"')
    assert e.diag.message_detail == f'Key (id)=({P_KNOWN}) is still referenced from table "invoice_items".'
    e = refused(world, "UPDATE data.products SET id = gen_random_uuid() WHERE id = %s", (P_KNOWN,))
    assert isinstance(e, errors.ForeignKeyViolation)
    with psycopg.connect(world, autocommit=True) as c:
        c.execute("UPDATE data.products SET id = %s WHERE id = %s", ("12121212-0000-4000-8000-000000000003", P_SPARE))
        c.execute("DELETE FROM data.products WHERE id = '12121212-0000-4000-8000-000000000003'")


def test_deleting_an_order_deletes_its_lines_only(world):
    e = refused(world, "UPDATE data.orders SET id = DEFAULT WHERE id = %s", (ORDER,))
    assert isinstance(e, errors.ForeignKeyViolation) and e.diag.constraint_name == "invoice_items_order_id_fkey"
    with psycopg.connect(world, autocommit=True) as c:
        c.execute("DELETE FROM data.orders WHERE id = %s", (ORDER,))
    assert count(world, "SELECT count(*) FROM data.invoice_items WHERE order_id = %s", (ORDER,)) == 0
    assert count(world, "SELECT count(*) FROM data.invoice_items WHERE order_id = %s", (OTHER,)) == 1


def test_a_product_deleted_while_its_line_is_being_inserted_waits_then_is_refused(world):
    """The inserting transaction locks the product FOR KEY SHARE, as a foreign key does."""
    outcome = waits_for(world, (LINE, (OTHER, 2, P_SPARE)), ("DELETE FROM data.products WHERE id = %s", (P_SPARE,)))
    assert isinstance(outcome.get("error"), errors.ForeignKeyViolation), outcome
    assert count(world, "SELECT count(*) FROM data.products WHERE id = %s", (P_SPARE,)) == 1


def test_a_line_inserted_while_its_product_is_being_deleted_waits_then_is_refused(world):
    outcome = waits_for(world, ("DELETE FROM data.products WHERE id = %s", (P_SPARE,)), (LINE, (OTHER, 3, P_SPARE)))
    assert isinstance(outcome.get("error"), errors.ForeignKeyViolation), outcome


ORDER_OF = ("INSERT INTO data.orders (store_id, source, invoice_number, status, order_date) "
            "VALUES (%s, 'invoice', %s, 'invoiced', '2030-01-03')")


def test_an_order_of_a_missing_store_is_refused_like_a_foreign_key(world):
    e = refused_like_a_key(world, ORDER_OF, ("KEYS-NO-SUCH-STORE", "KEYS-3"), "orders", "orders_store_id_fkey")
    assert e.diag.message_detail == 'Key (store_id)=(KEYS-NO-SUCH-STORE) is not present in table "stores".'
    e = refused(world, "UPDATE data.orders SET store_id = 'KEYS-NO-SUCH-STORE' WHERE id = %s", (ORDER,))
    assert isinstance(e, errors.ForeignKeyViolation) and e.diag.constraint_name == "orders_store_id_fkey"
    assert count(world, "SELECT count(*) FROM data.orders WHERE store_id = 'KEYS-S'") == 2
    with psycopg.connect(world, autocommit=True) as c:
        c.execute(ORDER_OF, ("KEYS-S", "KEYS-3"))


def test_deleting_a_store_deletes_its_orders_and_their_lines(world):
    e = refused(world, "UPDATE data.stores SET id = 'KEYS-S2' WHERE id = 'KEYS-S'")
    assert isinstance(e, errors.ForeignKeyViolation)
    with psycopg.connect(world, autocommit=True) as c:
        c.execute("DELETE FROM data.stores WHERE id = 'KEYS-S'")
    assert count(world, "SELECT count(*) FROM data.orders WHERE id IN (%s, %s)", (ORDER, OTHER)) == 0
    assert count(world, "SELECT count(*) FROM data.invoice_items WHERE order_id IN (%s, %s)", (ORDER, OTHER)) == 0


def test_truncating_stores_with_cascade_takes_their_orders_and_lines_too(world):
    with psycopg.connect(world) as c:
        c.execute("TRUNCATE data.stores, data.products CASCADE")
        assert c.execute("SELECT count(*) FROM data.orders").fetchone()[0] == 0
        assert c.execute("SELECT count(*) FROM data.invoice_items").fetchone()[0] == 0
        c.rollback()
    assert count(world, "SELECT count(*) FROM data.orders WHERE store_id = 'KEYS-S'") == 2


def test_truncating_orders_with_cascade_takes_the_lines_too(world):
    with psycopg.connect(world) as c:
        c.execute("TRUNCATE data.orders CASCADE")
        assert c.execute("SELECT count(*) FROM data.invoice_items").fetchone()[0] == 0
        c.rollback()
    assert count(world, "SELECT count(*) FROM data.invoice_items WHERE order_id = %s", (ORDER,)) == 1


# --- the job of rejected lines (migration 0007_ingest_rejects_key) ---------------------------

REJECT = "INSERT INTO data.upload_rejects (job_id, line_no, raw_line, reason) VALUES (%s, %s, 'z', 'r')"


@pytest.fixture
def job(db_url):
    """Two finished jobs, each with two rejected lines; removed after."""
    with psycopg.connect(db_url, autocommit=True) as c:
        ids = [c.execute("INSERT INTO data.upload_jobs (status, filename) VALUES ('failed', 'keys.csv') "
                         "RETURNING id").fetchone()[0] for _ in range(2)]
        for jid in ids:
            c.execute(REJECT, (jid, 2))
            c.execute(REJECT, (jid, 3))
    yield db_url, ids[0], ids[1]
    with psycopg.connect(db_url, autocommit=True) as c:
        c.execute("DELETE FROM data.upload_jobs WHERE id = ANY(%s)", (ids,))


def rejects_of(url, jid) -> int:
    return count(url, "SELECT count(*) FROM data.upload_rejects WHERE job_id = %s", (jid,))


def test_rejects_have_no_foreign_key_left_and_their_triggers_are_there(job):
    url, _, _ = job
    assert count(url, "SELECT count(*) FROM pg_constraint WHERE conrelid = 'data.upload_rejects'::regclass "
                      "AND contype = 'f'") == 0
    assert count(url, "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgname LIKE '40\\_%%' AND "
                      "tgrelid IN ('data.upload_rejects'::regclass, 'data.upload_jobs'::regclass)") == 5


def test_a_reject_of_a_missing_job_is_refused_like_a_foreign_key(job):
    url, jid, _ = job
    # one bad row among 51 refuses the whole statement
    e = refused_like_a_key(url, "INSERT INTO data.upload_rejects (job_id, line_no, raw_line, reason) "
                                "SELECT %s, g, 'z', 'r' FROM generate_series(10, 59) g "
                                "UNION ALL SELECT 999999999, 60, 'z', 'r'",
                           (jid,), "upload_rejects", "upload_rejects_job_id_fkey")
    assert e.diag.message_detail == 'Key (job_id)=(999999999) is not present in table "upload_jobs".'
    e = refused(url, "UPDATE data.upload_rejects SET job_id = 999999999 WHERE job_id = %s", (jid,))
    assert isinstance(e, errors.ForeignKeyViolation) and e.diag.constraint_name == "upload_rejects_job_id_fkey"
    assert rejects_of(url, jid) == 2


def test_deleting_a_job_deletes_its_rejects_only_and_a_referenced_job_id_cannot_change(job):
    url, jid, other = job
    e = refused(url, "UPDATE data.upload_jobs SET id = DEFAULT WHERE id = %s", (jid,))
    assert isinstance(e, errors.ForeignKeyViolation) and e.diag.constraint_name == "upload_rejects_job_id_fkey"
    assert e.diag.message_detail == f'Key (id)=({jid}) is still referenced from table "upload_rejects".'
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DELETE FROM data.upload_jobs WHERE id = %s", (jid,))
    assert rejects_of(url, jid) == 0 and rejects_of(url, other) == 2


def test_a_job_deleted_while_its_rejects_are_being_inserted_waits_then_takes_them(job):
    """The inserting statement locks the job FOR KEY SHARE, as the foreign key did."""
    url, jid, _ = job
    outcome = waits_for(url, (REJECT, (jid, 4)), ("DELETE FROM data.upload_jobs WHERE id = %s", (jid,)))
    assert outcome == {"done": True} and rejects_of(url, jid) == 0


def test_a_reject_inserted_while_its_job_is_being_deleted_waits_then_is_refused(job):
    url, jid, _ = job
    outcome = waits_for(url, ("DELETE FROM data.upload_jobs WHERE id = %s", (jid,)), (REJECT, (jid, 5)))
    assert isinstance(outcome.get("error"), errors.ForeignKeyViolation), outcome
    assert rejects_of(url, jid) == 0


def test_truncating_the_jobs_takes_their_rejects(job):
    url, jid, _ = job
    with psycopg.connect(url) as c:
        c.execute("TRUNCATE data.upload_jobs CASCADE")
        assert c.execute("SELECT count(*) FROM data.upload_rejects").fetchone()[0] == 0
        c.rollback()
    assert rejects_of(url, jid) == 2


# The analytics' derived rows (migration 0008_derived_keys): the same triggers, from the same list.
DERIVED = {
    "predicted_order_items": ("predicted_order_id", "product_id"),
    "upselling_recommendations": ("store_id", "product_id"),
    "product_associations": ("antecedent_id", "consequent_id"),
}
P_GONE = "12121212-0000-4000-8000-0000000000ff"


@pytest.fixture
def derived(world):
    """A prediction of the world's store with a line of each product, an upselling suggestion and an
    association rule between the two products; returns (url, prediction id)."""
    with psycopg.connect(world, autocommit=True) as c:
        pid = c.execute("INSERT INTO data.predicted_orders (store_id, predicted_date, confidence, as_of) "
                        "VALUES ('KEYS-S', '2030-02-01', 0.5, '2030-01-02') RETURNING id").fetchone()[0]
        c.execute("INSERT INTO data.predicted_order_items (predicted_order_id, product_id, quantity, unit_price, "
                  "line_amount) VALUES (%s, %s, 1, 10, 10), (%s, %s, 1, 10, 10)", (pid, P_KNOWN, pid, P_SPARE))
        c.execute("INSERT INTO data.upselling_recommendations (store_id, product_id) VALUES ('KEYS-S', %s)", (P_SPARE,))
        c.execute("INSERT INTO data.product_associations (antecedent_id, consequent_id, orders_both, support, "
                  "confidence, lift, as_of) VALUES (%s, %s, 1, 0.1, 0.5, 1.5, '2030-01-02')", (P_KNOWN, P_SPARE))
    yield world, pid
    with psycopg.connect(world, autocommit=True) as c:
        c.execute("DELETE FROM data.predicted_orders WHERE store_id = 'KEYS-S'")
        c.execute("DELETE FROM data.upselling_recommendations WHERE store_id = 'KEYS-S'")
        c.execute("DELETE FROM data.product_associations WHERE antecedent_id = %s", (P_KNOWN,))


def test_derived_rows_have_no_foreign_key_left_and_their_triggers_are_there(world):
    for child, cols in DERIVED.items():
        assert count(world, "SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'f'",
                     (f"data.{child}",)) == 0, child
        assert count(world, "SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal AND tgrelid = %s::regclass "
                            "AND tgname IN ('40_parents_after_insert', '40_parents_after_update')",
                     (f"data.{child}",)) == 2, child
        assert count(world, "SELECT count(*) FROM app.set_based_keys() WHERE child = %s", (child,)) == len(cols)


@pytest.mark.parametrize("child, sql, col", [
    ("predicted_order_items", "INSERT INTO data.predicted_order_items (predicted_order_id, product_id, quantity, "
     "unit_price, line_amount) SELECT id, %(gone)s, 1, 1, 1 FROM data.predicted_orders WHERE store_id = 'KEYS-S'",
     "product_id"),
    ("upselling_recommendations", "INSERT INTO data.upselling_recommendations (store_id, product_id) "
     "VALUES ('KEYS-NO-SUCH-STORE', %(known)s)", "store_id"),
    ("product_associations", "UPDATE data.product_associations SET consequent_id = %(gone)s "
     "WHERE antecedent_id = %(known)s", "consequent_id"),
])
def test_a_derived_row_of_a_missing_parent_is_refused_like_a_foreign_key(derived, child, sql, col):
    url, _ = derived
    refused_like_a_key(url, sql, {"gone": P_GONE, "known": P_KNOWN}, child, f"{child}_{col}_fkey")


def test_derived_rows_go_with_their_prediction_store_or_product(derived):
    url, pid = derived
    items = "SELECT count(*) FROM data.predicted_order_items WHERE predicted_order_id = %s"
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DELETE FROM data.predicted_orders WHERE id = %s", (pid,))
    assert count(url, items, (pid,)) == 0
    # the spare product has no invoice line: its suggestion and its rule go with it
    with psycopg.connect(url, autocommit=True) as c:
        c.execute("DELETE FROM data.products WHERE id = %s", (P_SPARE,))
    assert count(url, "SELECT count(*) FROM data.upselling_recommendations WHERE store_id = 'KEYS-S'") == 0
    assert count(url, "SELECT count(*) FROM data.product_associations WHERE antecedent_id = %s", (P_KNOWN,)) == 0


def test_a_product_with_invoice_lines_keeps_its_derived_rows_when_its_delete_is_refused(derived):
    url, pid = derived
    e = refused(url, "DELETE FROM data.products WHERE id = %s", (P_KNOWN,))
    assert isinstance(e, errors.ForeignKeyViolation) and e.diag.constraint_name == "invoice_items_product_id_fkey"
    assert count(url, "SELECT count(*) FROM data.predicted_order_items WHERE predicted_order_id = %s", (pid,)) == 2
    assert count(url, "SELECT count(*) FROM data.product_associations WHERE antecedent_id = %s", (P_KNOWN,)) == 1


def test_every_set_based_key_embeds_in_the_api_for_who_reads_both_sides(world):
    """views/relationships.sql makes PostgREST's computed relationships from app.set_based_keys():
    both directions of every key whose two sides have api views (not the rules' two products)."""
    with psycopg.connect(world, autocommit=True) as c:
        pairs = set(c.execute("SELECT child, parent FROM app.api_relationships()").fetchall())
    assert {("orders", "stores"), ("invoice_items", "orders"), ("invoice_items", "products"),
            ("predicted_order_items", "predicted_orders"),
            ("predicted_order_items", "products"), ("upselling_recommendations", "stores"),
            ("upselling_recommendations", "products"), ("upload_rejects", "upload_jobs")} == pairs
    may = "SELECT has_function_privilege(%s, %s, 'EXECUTE')"
    for child, parent in pairs:
        for fn in (f"api.{child}(api.{parent})", f"api.{parent}(api.{child})"):
            assert count(world, "SELECT count(*) FROM pg_proc WHERE oid = %s::regprocedure", (fn,)) == 1
    assert count(world, may, ("sales_rep", "api.orders(api.invoice_items)"))
    assert count(world, may, ("manager", "api.upload_jobs(api.upload_rejects)"))
    # the analyst reads the jobs but not their rejected lines; reps neither
    assert not count(world, may, ("analyst", "api.upload_rejects(api.upload_jobs)"))
    assert not count(world, may, ("sales_rep", "api.upload_jobs(api.upload_rejects)"))
