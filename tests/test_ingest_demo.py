"""`mangalm up --demo` loads the generated demo export through the pipeline, once."""
from __future__ import annotations

import pytest

from gateway import demo
from ingest_helpers import rows, settings_for


@pytest.mark.slow
def test_the_demo_set_loads_through_the_pipeline_and_a_second_load_duplicates_nothing(conn, db_url):
    s = settings_for(db_url)
    users = demo.load(s)
    assert ("manager@demo.mangalm", "manager") in users
    job = rows(conn, "SELECT * FROM data.upload_jobs WHERE source = 'demo'")[0]
    assert (job["status"], job["lines"], job["loaded"], job["rejected"], job["new_stores"]) == \
        ("succeeded", 14464, 14464, 0, 211)
    counts = "SELECT (SELECT count(*) FROM data.mangalam_invoices) AS lines, (SELECT count(*) FROM data.stores) AS stores, " \
             "(SELECT count(*) FROM data.products) AS products, (SELECT count(*) FROM data.orders) AS orders, " \
             "(SELECT count(*) FROM data.invoice_items) AS items"
    first = rows(conn, counts)[0]
    assert first["lines"] == first["items"] == 14464 and first["stores"] == 211
    # The demo rep sells in the generated data.
    rep = rows(conn, "SELECT count(*) AS n FROM data.stores WHERE sales_person = 'Rahul Deshmukh'")[0]["n"]
    assert rep > 0
    # A second `up --demo`: nothing is loaded again.
    assert demo.load_demo_data(s) is None
    # Even forced through the pipeline again, nothing is duplicated.
    conn.execute("UPDATE data.upload_jobs SET sha256 = NULL WHERE source = 'demo'")
    again = demo.load_demo_data(s)
    assert again["status"] == "succeeded" and again["new_stores"] == 0 and again["new_products"] == 0
    assert rows(conn, counts)[0] == first
