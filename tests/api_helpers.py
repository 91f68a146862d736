"""Shared pieces of the API tests: a small world of users, stores, products, invoices and
predictions written as the owner into the running stack's database (unique per test module,
since the stack is shared by the whole session), and an HTTP client per role that logs in
through POST /auth/login like a real client does."""
from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field

import httpx
import psycopg

from gateway.procs import wait_until
from gateway.users import add_user

PASSWORD = "api-test-password"


@dataclass
class World:
    base: str
    tag: str
    users: dict[str, dict] = field(default_factory=dict)      # name -> {id, email, role}
    stores: dict[str, str] = field(default_factory=dict)      # name -> store id
    products: dict[str, str] = field(default_factory=dict)    # name -> product id
    predictions: dict[str, str] = field(default_factory=dict)  # name -> prediction id
    invoices: dict[str, int] = field(default_factory=dict)    # name -> order id
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, who: str | None = None, **kw) -> httpx.Client:
        headers = {"Accept": "application/json"}
        if who:
            headers["Authorization"] = f"Bearer {self.token(who)}"
        return httpx.Client(base_url=self.base, headers=headers, timeout=30, **kw)

    def token(self, who: str) -> str:
        if who not in self.tokens:
            r = httpx.post(f"{self.base}/auth/login", json={"email": self.users[who]["email"], "password": PASSWORD})
            assert r.status_code == 200, r.text
            self.tokens[who] = r.json()["token"]
        return self.tokens[who]


def build_world(settings, base: str) -> World:
    """Two reps (alpha: a store by Sales person and one by assignment; beta: one store), a
    manager and an admin; two products (one discontinued); five invoices per store; a pending
    prediction per store."""
    tag = uuid.uuid4().hex[:8].upper()
    w = World(base=base, tag=tag)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        for name, role in (("alpha", "sales_rep"), ("beta", "sales_rep"), ("manager", "manager"), ("admin", "admin")):
            email = f"{name}-{tag.lower()}@api.test"
            person = f"Rep {name.title()} {tag}" if role == "sales_rep" else None
            user_id = add_user(conn, email, PASSWORD, role, f"{name.title()} {tag}", person)
            w.users[name] = {"id": user_id, "email": email, "role": role, "sales_person": person}
        w.stores = {"a1": f"T{tag}-A1", "a2": f"T{tag}-A2", "b1": f"T{tag}-B1"}
        conn.execute(
            """INSERT INTO data.stores (id, name, city, sales_person, currency_code, source) VALUES
               (%s, 'Alpha One ' || %s, 'Pune', %s, 'INR', 'import'),
               (%s, 'Assigned to Alpha ' || %s, 'Nagpur', 'Nobody', 'INR', 'import'),
               (%s, 'Beta One ' || %s, 'Indore', %s, 'INR', 'import')""",
            (w.stores["a1"], tag, w.users["alpha"]["sales_person"], w.stores["a2"], tag,
             w.stores["b1"], tag, w.users["beta"]["sales_person"]))
        conn.execute("SELECT app.assign_stores(%s, ARRAY[%s])", (w.users["alpha"]["id"], w.stores["a2"]))
        for name, active, price in (("rice", True, 120), ("oil", True, 210), ("old", False, 50)):
            row = conn.execute(
                """INSERT INTO data.products (product_key, sku, name, category, brand, unit_price, is_active, source)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, 'import') RETURNING id""",
                (f"T{tag}-{name}", f"T{tag}-{name}", f"{name.title()} {tag}", f"Cat {tag}", f"Brand {tag}",
                 price, active)).fetchone()
            w.products[name] = str(row[0])
        for store in ("a1", "b1"):
            for n in range(1, 6):
                number = f"T{tag}-{store}-{n}"
                order_id = conn.execute(
                    """INSERT INTO data.orders (store_id, source, invoice_number, status, order_date, total_amount,
                                                item_count, currency_code)
                       VALUES (%s, 'invoice', %s, 'invoiced', current_date - %s * 14, 450, 2, 'INR') RETURNING id""",
                    (w.stores[store], number, n)).fetchone()[0]
                w.invoices[f"{store}-{n}"] = order_id
                conn.execute(
                    """INSERT INTO data.invoice_items (order_id, line_no, product_id, item_name, quantity, unit_price, line_total)
                       VALUES (%s, 1, %s, 'rice', 2, 120, 240), (%s, 2, %s, 'oil', 1, 210, 210)""",
                    (order_id, w.products["rice"], order_id, w.products["oil"]))
            pid = conn.execute(
                """INSERT INTO data.predicted_orders (store_id, predicted_date, confidence, priority, as_of,
                                                      total_amount, justification_text, model)
                   VALUES (%s, current_date + 5, 0.72, 'high', current_date, 450, 'orders every 14 days', 'test')
                   RETURNING id""", (w.stores[store],)).fetchone()[0]
            w.predictions[store] = str(pid)
            conn.execute(
                """INSERT INTO data.predicted_order_items (predicted_order_id, product_id, quantity, unit_price, line_amount, frequency)
                   VALUES (%s, %s, 2, 120, 240, 1), (%s, %s, 1, 210, 210, 0.8)""",
                (pid, w.products["rice"], pid, w.products["oil"]))
            conn.execute(
                """INSERT INTO data.customer_segments (store_id, recency_days, segment_name, segment_value, churn_risk, as_of)
                   VALUES (%s, 14, 'Loyal', 'high', 0.1, current_date)""", (w.stores[store],))
            conn.execute(
                """INSERT INTO data.upselling_recommendations (store_id, product_id, score, reason, as_of)
                   VALUES (%s, %s, 0.5, 'similar stores buy it', current_date)""", (w.stores[store], w.products["old"]))
    return w


# --- /events ---------------------------------------------------------------------------------

class Stream:
    """Reads a server-sent event stream in a thread, so a test can wait with a deadline.
    `ended` is set when the server closes the stream; close() stops reading."""

    def __init__(self, url: str, **kw):
        self.lines: list[str] = []
        self.status: int | None = None
        self.headers: dict = {}
        self.ended = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url,), kwargs=kw, daemon=True)
        self._thread.start()

    def _run(self, url, **kw):
        try:
            with httpx.stream("GET", url, timeout=httpx.Timeout(5, read=60), **kw) as r:
                self.status, self.headers = r.status_code, dict(r.headers)
                for line in r.iter_lines():
                    self.lines.append(line)
                    if self._stop.is_set():
                        return
        except httpx.HTTPError:
            pass
        finally:
            self.ended.set()

    def wait_for(self, wanted, timeout: float) -> bool:
        """Waits for a line containing `wanted` (a string) or for which `wanted(line)` holds."""
        test = wanted if callable(wanted) else (lambda line: wanted in line)
        return wait_until(lambda: any(test(line) for line in list(self.lines)), timeout)

    def events(self) -> list[tuple[str, dict]]:
        out, name = [], None
        for line in list(self.lines):
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                out.append((name, json.loads(line[6:])))
        return out

    def close(self):
        self._stop.set()


def ticket(base: str, token: str) -> str:
    """A single-use ticket for GET /events (EventSource cannot send the token in a header)."""
    r = httpx.post(f"{base}/auth/ticket", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"ticket", "expires_at"}
    return r.json()["ticket"]
