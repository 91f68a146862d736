"""An upload whose invoices are all dated after the analytics' as-of date (the newest invoice,
never after today) changes nothing the analytics read: its refresh recomputes no prediction,
segment or suggestion, refreshes the dashboard and still announces the stores
(app.refresh_derived's p_changed_from). Anything dated on or before the as-of date, an
earlier version of a replaced invoice included, refreshes as before. On the real slice
(tests/fixtures/online_retail_slice.csv.gz), through the real loader and worker."""
from __future__ import annotations

import json
from datetime import date, timedelta

import psycopg
import pytest

from analytics_helpers import load_slice
from ingest_helpers import ingest

HEAD = "Invoice Date,Invoice Number,Customer ID,Customer Name,Item Name,Quantity,Item Price\n"


@pytest.fixture(scope="module")
def sliced(db_url, tmp_path_factory):
    load_slice(db_url, tmp_path_factory.mktemp("slice"))
    return db_url


def invoice(number: str, day: date, customer: str = "12347", name: str = "A shop") -> str:
    return HEAD + f"{day.isoformat()},{number},{customer},{name},WHITE HANGING HEART T-LIGHT HOLDER,6,2.55\n"


def state(conn) -> dict:
    return {
        "predictions": conn.execute("SELECT count(*), max(updated_at) FROM data.predicted_orders").fetchone(),
        "segments": conn.execute("SELECT max(as_of), max(updated_at) FROM data.customer_segments").fetchone(),
        "suggestions": conn.execute("SELECT count(*), max(created_at) FROM data.upselling_recommendations").fetchone(),
        "dashboard": conn.execute("SELECT refreshed_at, total_orders FROM api.dashboard_summary").fetchone(),
    }


def refresh_steps(job: dict) -> dict:
    timings = job["timings"] if isinstance(job["timings"], dict) else json.loads(job["timings"])
    return timings["refresh_steps"]


def test_future_invoices_refresh_only_the_dashboard(sliced):
    today = date.today()
    with psycopg.connect(sliced, autocommit=True) as conn:
        assert conn.execute("SELECT max(as_of) FROM data.customer_segments").fetchone()[0] < today
        # The first invoice after today moves the as-of date from the slice's last day to today:
        # every analytic is recomputed as of today (the segments of every store).
        job = ingest(sliced, invoice("FUT-1", today + timedelta(days=10)))
        assert job["status"] == "succeeded" and job["loaded"] == 1
        assert "predictions" in refresh_steps(job) and "unchanged_before" not in refresh_steps(job)
        assert conn.execute("SELECT min(as_of), max(as_of) FROM data.customer_segments").fetchone() == (today, today)

        before = state(conn)
        conn.execute("LISTEN mangalm_events")
        job = ingest(sliced, invoice("FUT-2", today + timedelta(days=20), "99990", "A new shop"))
        assert job["status"] == "succeeded" and job["loaded"] == 1 and job["new_stores"] == 1
        steps = refresh_steps(job)
        assert steps["unchanged_before"] == (today + timedelta(days=20)).isoformat()
        assert not {"predictions", "segments", "upselling", "recent_lines", "calibration"} & steps.keys()
        after = state(conn)
        assert after["predictions"] == before["predictions"] and after["segments"] == before["segments"]
        assert after["suggestions"] == before["suggestions"]
        # the dashboard counts every invoice: refreshed, one order more
        assert after["dashboard"][0] > before["dashboard"][0]
        assert after["dashboard"][1] == before["dashboard"][1] + 1
        store = conn.execute("SELECT store_id FROM data.orders WHERE invoice_number = 'FUT-2'").fetchone()[0]
        events = [json.loads(n.payload) for n in conn.notifies(timeout=2)]
        changed = [e for e in events if e["type"] == "data_changed"]
        assert changed == [{"type": "data_changed", "source": "upload", "as_of": today.isoformat(),
                            "store_ids": [store], "store_count": 1}]


def test_an_invoice_on_or_before_the_as_of_date_refreshes(sliced):
    today = date.today()
    with psycopg.connect(sliced, autocommit=True) as conn:
        # today itself is the as-of date: analytics read it
        job = ingest(sliced, invoice("NOW-1", today))
        assert "predictions" in refresh_steps(job) and "unchanged_before" not in refresh_steps(job)
        # an invoice of the slice moved into the future: its earlier version was read, so the
        # store is recomputed
        number, store = conn.execute("""SELECT invoice_number, store_id FROM app.sales
                                        WHERE order_date < %s ORDER BY order_date DESC, invoice_number LIMIT 1""",
                                     (today,)).fetchone()
        job = ingest(sliced, invoice(number, today + timedelta(days=30), store))
        assert job["status"] == "succeeded" and job["loaded"] == 1
        assert "predictions" in refresh_steps(job) and "unchanged_before" not in refresh_steps(job)
