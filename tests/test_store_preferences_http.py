"""A store's credit limit through the front door: submitting an order that would pass it is
refused with HTTP 409 and the amounts in the message, detail and hint (the rule itself, auto-
approve too, is tested in tests/test_store_preferences.sql)."""
from __future__ import annotations

import pytest

from api_helpers import build_world

pytestmark = pytest.mark.usefixtures("running_stack")


@pytest.fixture(scope="module")
def world(running_stack, gateway_url):
    return build_world(running_stack, gateway_url)


def test_an_order_past_the_credit_limit_is_refused_on_submit_with_the_amounts(world):
    store = world.stores["a1"]
    with world.client("manager") as c:
        r = c.post("/api/store_preferences", params={"on_conflict": "store_id"},
                   headers={"Prefer": "resolution=merge-duplicates"}, json={"store_id": store, "credit_limit": 300})
        assert r.status_code in (200, 201), r.text
    with world.client("alpha") as c:
        r = c.post("/api/orders", headers={"Prefer": "return=representation"}, json={"store_id": store})
        assert r.status_code == 201, r.text
        order = r.json()[0]["id"]
        r = c.post("/api/order_items", json={"order_id": order, "product_id": world.products["rice"], "quantity": 3})
        assert r.status_code == 201, r.text

        r = c.patch("/api/orders", params={"id": f"eq.{order}"}, json={"status": "submitted"})
        assert r.status_code == 409, r.text
        body = r.json()
        assert body["message"] == (f"order {order} (INR 360.00) would take store {store} to INR 360.00, "
                                   f"over its credit limit of INR 300.00")
        assert "this order 360.00 + open orders 0 (0 submitted or confirmed) + unpaid invoices 0.00" in body["details"]
        assert "INR 60.00" in body["hint"]
        assert c.get("/api/orders", params={"id": f"eq.{order}", "select": "status"}).json() == [{"status": "draft"}]

        # Two bags fewer and it fits.
        r = c.patch("/api/order_items", params={"order_id": f"eq.{order}"}, json={"quantity": 2})
        assert r.status_code in (200, 204), r.text
        r = c.patch("/api/orders", params={"id": f"eq.{order}"}, json={"status": "submitted"})
        assert r.status_code in (200, 204), r.text
