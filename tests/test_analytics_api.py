"""The analytics routes through nginx and PostgREST: who may call what, and bad input answered
with a clear 4xx. (The stack's database is shared by the session, so nothing here recomputes
predictions: that is proved in tests/test_predictions.sql and tests/test_analytics_*.py.)"""
from __future__ import annotations

import pytest

from api_helpers import build_world


@pytest.fixture(scope="module")
def world(running_stack, gateway_url):
    return build_world(running_stack, gateway_url)


def test_dashboard_summary_is_for_managers_reps_read_their_own(world):
    with world.client("manager") as c:
        r = c.get("/api/dashboard_summary")
        assert r.status_code == 200, r.text
        row = r.json()[0]
        for field in ("total_stores", "total_products", "total_orders", "total_revenue", "average_order_value",
                      "pending_predictions", "high_value_customers", "top_stores", "top_products", "latest_backtest"):
            assert field in row
    with world.client("alpha") as c:
        assert c.get("/api/dashboard_summary").status_code == 403
        mine = c.get("/api/my_summary")
        assert mine.status_code == 200, mine.text
        assert mine.json()[0]["total_stores"] == 2  # a1 by Sales person, a2 by assignment
        assert all(s["store_id"] in world.stores.values() for s in mine.json()[0]["top_stores"])
        assert c.get("/api/latest_backtest").status_code == 200


def test_sales_trends_validates_its_input(world):
    with world.client("alpha") as c:
        r = c.get("/api/rpc/sales_trends", params={"range": "90d", "grain": "week"})
        assert r.status_code == 200, r.text
        rows = r.json()
        assert rows and {"period_start", "period_end", "revenue", "orders", "active_stores",
                         "average_order_value"} <= set(rows[0])
        bad = c.get("/api/rpc/sales_trends", params={"range": "forever", "grain": "week"})
        assert bad.status_code == 400 and "7d, 30d, 90d, 180d, all" in bad.json()["message"]
        assert c.get("/api/rpc/sales_trends", params={"range": "7d", "grain": "hour"}).status_code == 400


def test_predict_and_backtest_are_for_managers(world):
    with world.client("alpha") as c:
        assert c.post("/api/rpc/predict", json={}).status_code == 403
        assert c.post("/api/rpc/backtest", json={"cutoff": "2025-01-01"}).status_code == 403
    with world.client("manager") as c:
        r = c.post("/api/rpc/backtest", json={"cutoff": "2999-01-01", "horizon": 90})
        assert r.status_code == 400, r.text
        assert "choose a cutoff" in (r.json().get("hint") or "")
        r = c.post("/api/rpc/backtest", json={"cutoff": "2025-01-01", "horizon": 5000})
        assert r.status_code == 400 and "horizon" in r.json()["message"]


def test_upselling_suggestions_for_an_unknown_order_is_404(world):
    with world.client("manager") as c:
        r = c.get("/api/rpc/upselling_suggestions", params={"order_id": 0})
        assert r.status_code == 404, r.text
    with world.client("beta") as c:  # alpha's invoice is not beta's to see
        r = c.get("/api/rpc/upselling_suggestions", params={"order_id": world.invoices["a1-1"]})
        assert r.status_code == 404
    with world.client("alpha") as c:
        r = c.get("/api/rpc/upselling_suggestions", params={"order_id": world.invoices["a1-1"]})
        assert r.status_code == 200, r.text
