"""The dashboard in a real Chromium (Debian's, driven by Playwright), against the real stack.

One signed-in tab walks the pages in order (the tests below share it, in file order): log in,
KPI cards equal the API's numbers, the trend range switch, a store's page, approving a
prediction, an upload whose progress reaches 100% while a second tab's KPIs change by
themselves (no reload), then log out (the token is revoked). Separate contexts check a phone
width and a sales rep's view. Screenshots of every page go to test-output/screenshots/.
"""
from __future__ import annotations

import csv
import io
import json
import subprocess
import uuid
from datetime import date, timedelta
from decimal import Decimal

import httpx
import psycopg
import pytest

from conftest import ROOT

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip("playwright.sync_api", reason="pip install -e '.[test]' installs playwright")
expect = playwright_api.expect

SHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PASSWORD = "dashboard-test-Pa55"
LAPTOP = {"width": 1366, "height": 900}
PHONE = {"width": 390, "height": 844}
# Generous for a loaded 2-core CI machine; the pages answer in well under a second here.
WAIT_MS = 20_000
expect.set_options(timeout=WAIT_MS)
KPIS = ("total_stores", "total_products", "total_orders", "total_revenue", "average_order_value",
        "pending_predictions", "high_value_customers")


# --- helpers -------------------------------------------------------------------------------

def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


class Api:
    """The same HTTP API the page calls, for the expected numbers."""

    def __init__(self, base: str, token: str):
        self.base = base
        self.headers = {"Authorization": f"Bearer {token}"}

    def get(self, path: str, **params):
        r = httpx.get(f"{self.base}{path}", params=params, headers=self.headers, timeout=30)
        assert r.status_code == 200, f"GET {path} answered {r.status_code}: {r.text[:300]}"
        return r.json()

    def summary(self) -> dict:
        rows = self.get("/api/dashboard_summary")
        return rows[0] if isinstance(rows, list) else rows


def indian(n: int) -> str:
    """n with Indian digit grouping (12,34,567), as Intl.NumberFormat('en-IN') writes it."""
    s = str(abs(n))
    head, tail = s[:-3], s[-3:]
    groups = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return ("-" if n < 0 else "") + ",".join(groups + [tail]) if groups else ("-" if n < 0 else "") + tail


def ensure_vendor_files() -> None:
    """The page loads Chart.js from dashboard/public/vendor/, filled by `npm ci` (install.sh)."""
    if (ROOT / "dashboard/public/vendor/chart.umd.min.js").exists():
        return
    dash = ROOT / "dashboard"
    cmd = ["node", "scripts/vendor.mjs"] if (dash / "node_modules/chart.js").exists() else \
        ["npm", "ci", "--silent", "--no-audit", "--no-fund"]
    out = subprocess.run(cmd, cwd=dash, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        pytest.fail(f"the dashboard's libraries are missing and {' '.join(cmd)} failed "
                    f"(run scripts/install.sh):\n{out.stderr[-2000:]}")


def wait_for_job(base: str, token: str, job_id, timeout_s: float = 180) -> dict:
    """Polls GET /api/upload_jobs?id=eq.N (the test's own wait; the page itself listens to /events)."""
    import time
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = httpx.get(f"{base}/api/upload_jobs", params={"id": f"eq.{job_id}"},
                      headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert r.status_code == 200 and r.json(), f"GET /api/upload_jobs answered {r.status_code}: {r.text[:300]}"
        job = r.json()[0]
        if job.get("status") in ("succeeded", "failed"):
            return job
        time.sleep(0.5)
    pytest.fail(f"upload job {job_id} did not finish within {timeout_s} s")


def upload_csv(base: str, token: str, text: str, name: str) -> dict:
    r = httpx.post(f"{base}/uploads", params={"filename": name}, content=text.encode(),
                   headers={"Authorization": f"Bearer {token}", "Content-Type": "text/csv"}, timeout=120)
    assert r.status_code == 202, f"POST /uploads answered {r.status_code}: {r.text[:300]}"
    body = r.json()
    job = body.get("job", body)
    return wait_for_job(base, token, job.get("id", job.get("job_id")))


# --- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def world(running_stack, token_for):
    """The test stack with the demo data, a manager and a rep of our own; their emails and an
    Api for checks."""
    from gateway import demo
    from gateway.users import add_user

    ensure_vendor_files()
    settings = running_stack
    demo.load(settings)
    tag = uuid.uuid4().hex[:8]
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        manager_id = add_user(conn, f"dash-manager-{tag}@test.mangalm", PASSWORD, "manager", "Dashboard Manager")
        has_orders = conn.execute("SELECT count(*) FROM data.orders WHERE source = 'invoice'").fetchone()[0] > 0
        # Other modules write invoices straight into the shared stack's tables; the materialized
        # summary catches up at the next upload. Start from a current one, so the KPIs the pages
        # show before an upload are the database's.
        conn.execute("SELECT app.refresh_dashboard()")
    base = settings.gateway_url.rstrip("/")
    manager_token = token_for("manager", manager_id)
    if not has_orders:
        # The stack has no sales history yet: load a generated export through the real
        # pipeline first.
        from gateway.generate import generate_text
        job = upload_csv(base, manager_token, generate_text(3000, stores=40, products=80), "browser-test-demo.csv")
        assert job["status"] == "succeeded", f"loading the test history failed: {job}"
    summary = Api(base, manager_token).summary()
    if not summary.get("latest_backtest") and summary.get("data_to"):
        # The overview shows the latest backtest: run one through the API when none has run.
        cutoff = date.fromisoformat(summary["data_to"]) - timedelta(days=60)
        r = httpx.post(f"{base}/api/rpc/backtest", json={"cutoff": cutoff.isoformat(), "horizon": 60},
                       headers={"Authorization": f"Bearer {manager_token}"}, timeout=300)
        assert r.status_code == 200, f"POST /api/rpc/backtest answered {r.status_code}: {r.text[:300]}"
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        # A rep with stores of their own: the busiest sales person in the data.
        row = conn.execute("""SELECT sales_person FROM data.stores WHERE sales_person IS NOT NULL
                              GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1""").fetchone()
        assert row, "no store has a sales person: the rep's view cannot be tested"
        rep_id = add_user(conn, f"dash-rep-{tag}@test.mangalm", PASSWORD, "sales_rep", "Dashboard Rep", row[0])
    return {
        "base": base,
        "manager": f"dash-manager-{tag}@test.mangalm",
        "rep": f"dash-rep-{tag}@test.mangalm",
        "rep_sales_person": row[0],
        "api": Api(base, manager_token),
        "rep_api": Api(base, token_for("sales_rep", rep_id)),
        "settings": settings,
    }


@pytest.fixture(scope="module")
def browser():
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def context(browser):
    ctx = browser.new_context(viewport=LAPTOP, locale="en-IN")
    ctx.set_default_timeout(WAIT_MS)
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def page(context):
    """The one tab the walk-through shares; page errors are collected and must stay empty."""
    p = context.new_page()
    p.errors = []
    p.on("pageerror", lambda e: p.errors.append(str(e)))
    yield p
    assert not p.errors, f"JavaScript errors on the page: {p.errors}"


def login(page, base: str, email: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/")
    expect(page.locator("#login-form")).to_be_visible()
    page.fill("#login-email", email)
    page.fill("#login-password", password)
    page.click("#login-submit")
    expect(page.locator("#main[data-page='overview']")).to_be_visible()


def signed_in(page, world) -> None:
    """Logs the walk-through's tab in when an earlier test did not (a test run on its own)."""
    if page.url.startswith(world["base"]) and page.evaluate("sessionStorage.getItem('mangalm.session')"):
        return
    login(page, world["base"], world["manager"])


def kpi_values(page) -> dict[str, str]:
    return page.eval_on_selector_all(
        "[data-kpi]", "els => Object.fromEntries(els.map(e => [e.dataset.kpi, e.dataset.value]))")


# --- the walk-through (in order, one tab) ---------------------------------------------------

def test_login_refuses_a_wrong_password_with_a_message_then_signs_in(page, world):
    page.goto(f"{world['base']}/")
    expect(page.locator("#login-form")).to_be_visible()
    shot(page, "01-login")
    page.fill("#login-email", world["manager"])
    page.fill("#login-password", "not-the-password")
    page.click("#login-submit")
    expect(page.locator("#login-message [role=alert]")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('mangalm.session')") is None
    page.fill("#login-password", PASSWORD)
    page.click("#login-submit")
    expect(page.locator("#main[data-page='overview']")).to_be_visible()
    session = json.loads(page.evaluate("sessionStorage.getItem('mangalm.session')"))
    assert session["token"] and session["user"]["role"] == "manager"
    # Managers are offered the upload page.
    expect(page.locator("#nav a[data-path='/upload']")).to_be_visible()


def test_overview_kpis_equal_the_api(page, world):
    signed_in(page, world)
    page.goto(f"{world['base']}/#/overview")
    for field in KPIS:
        expect(page.locator(f"[data-kpi='{field}']")).to_be_visible()
    summary = world["api"].summary()
    shown = kpi_values(page)
    for field in KPIS:
        assert field in summary, f"api.dashboard_summary has no {field}"
        assert Decimal(shown[field]) == Decimal(str(summary[field])), f"{field}: page {shown[field]} != API {summary[field]}"
    # The formatted text is the same number, in Indian grouping (and rupees for money).
    orders_text = page.inner_text("[data-kpi='total_orders'] .kpi-value")
    assert orders_text == indian(int(summary["total_orders"]))
    revenue_text = page.inner_text("[data-kpi='total_revenue'] .kpi-value")
    assert revenue_text.startswith("₹") and indian(int(round(float(summary["total_revenue"])))) in revenue_text
    # Top stores and the latest backtest are on the page, not blank panels.
    expect(page.locator("#top-stores-box")).not_to_be_empty()
    expect(page.locator("#backtest-box")).not_to_be_empty()
    expect(page.locator("#trend-totals[data-range]")).to_be_attached()
    shot(page, "02-overview")


@pytest.mark.parametrize("range_", ["7d", "90d", "all"])
def test_the_trend_range_switch_shows_the_apis_figures(page, world, range_):
    signed_in(page, world)
    page.click(f"#range-switch [data-range='{range_}']")
    totals = page.locator(f"#trend-totals[data-range='{range_}']")
    expect(totals).to_be_attached()
    expect(page.locator(".chart-box[data-loading]")).to_have_count(0)
    grain = page.input_value("#grain")
    rows = world["api"].get("/api/rpc/sales_trends", range=range_, grain=grain)
    orders = sum(int(r.get("orders", r.get("order_count", 0)) or 0) for r in rows)
    assert int(float(totals.get_attribute("data-orders"))) == orders
    assert int(totals.get_attribute("data-points")) == len(rows)
    expect(page.locator(f"#range-switch [data-range='{range_}']")).to_have_attribute("aria-pressed", "true")
    if range_ == "all":
        assert rows, "sales_trends('all') returned no rows over the demo data"
        expect(page.locator("#trend-chart")).to_be_visible()
        shot(page, "03-overview-trend-all")


def test_a_store_page_shows_history_segment_basket_and_preferences(page, world):
    signed_in(page, world)
    page.click("#nav a[data-path='/stores']")
    expect(page.locator("#stores-table")).to_be_visible()
    shot(page, "04-stores")
    # The store with the most orders among those with a pending prediction: every panel full.
    preds = world["api"].get("/api/predicted_orders", select="store_id", status="eq.pending", limit=50)
    assert preds, "no pending prediction in the demo data"
    store_id = preds[0]["store_id"]
    page.goto(f"{world['base']}/#/stores/{store_id}")
    expect(page.locator("#store-name")).to_be_visible()
    orders = world["api"].get("/api/orders", store_id=f"eq.{store_id}", select="id")
    expect(page.locator(f"#orders-box[data-orders='{len(orders)}']")).to_be_attached()
    if orders:
        expect(page.locator("#orders-chart")).to_be_visible()
    segments = world["api"].get("/api/customer_segments", store_id=f"eq.{store_id}")
    if segments:
        expect(page.locator("#segment")).to_contain_text(segments[0]["segment_name"] or "")
    expect(page.locator("#prediction[data-status='pending']")).to_be_visible()
    expect(page.locator("#upsell-box")).not_to_be_empty()
    # Preferences: a manager may edit and save them; the API then has the new value.
    form = page.locator("#prefs")
    expect(form).to_be_visible()
    form.locator("select[name=call_frequency]").select_option("weekly")
    form.locator("input[name=credit_limit]").fill("25000")
    form.locator("button[type=submit]").click()
    expect(page.locator("#prefs-result")).to_have_text("Saved.")
    prefs = world["api"].get("/api/store_preferences", store_id=f"eq.{store_id}")
    assert prefs and prefs[0]["call_frequency"] == "weekly" and Decimal(str(prefs[0]["credit_limit"])) == 25000
    shot(page, "05-store")


def test_approving_a_prediction_changes_it_in_the_database(page, world):
    signed_in(page, world)
    page.click("#nav a[data-path='/predictions']")
    cards = page.locator("tr.prediction[data-status='pending']")
    expect(cards.first).to_be_visible()
    # Listed by priority: no 'low' card before a 'high' one.
    priorities = page.eval_on_selector_all("tr.prediction .badge", "els => els.map(e => e.textContent)")
    rank = {"high": 0, "medium": 1, "low": 2}
    assert [rank[p] for p in priorities] == sorted(rank[p] for p in priorities)
    shot(page, "06-predictions")
    card = cards.first
    pred_id = card.get_attribute("data-prediction-id")
    card.locator("button[data-action=approve]").click()
    expect(page.locator(f"tr[data-prediction-id='{pred_id}']")).to_have_attribute("data-status", "approved")
    row = world["api"].get("/api/predicted_orders", id=f"eq.{pred_id}", select="status")
    assert row[0]["status"] == "approved"
    # ...and turned into a draft order, which the API then has.
    line = page.locator(f"tr[data-prediction-id='{pred_id}']")
    line.locator("button[data-action=order]").click()
    expect(line).to_have_attribute("data-status", "converted")
    expect(line.locator(".action-result")).to_contain_text("Draft order #")
    row = world["api"].get("/api/predicted_orders", id=f"eq.{pred_id}", select="status,order_id")
    assert row[0]["status"] == "converted" and row[0]["order_id"]
    order = world["api"].get("/api/orders", id=f"eq.{row[0]['order_id']}", select="status,source,item_count")
    assert order[0]["status"] == "draft" and order[0]["item_count"] > 0
    expect(line.locator(".action-result")).to_contain_text(f"#{row[0]['order_id']}")
    # The filters narrow the list in the API: a sales rep's filter leaves only their stores.
    page.select_option("#f-status", "all")
    page.select_option("#f-rep", world["rep_sales_person"])
    expect(page.locator("#pred-list[data-busy]")).to_have_count(0)
    reps = page.eval_on_selector_all("tr.prediction", "els => els.map(e => e.dataset.salesPerson)")
    assert reps and set(reps) == {world["rep_sales_person"]}


def _small_export(world) -> tuple[str, int, int]:
    """A small export for a new store: two good invoices and one line that must be rejected.
    Returns (text, invoices expected to load, lines expected to be rejected)."""
    last = world["api"].get("/api/orders", select="order_date", order="order_date.desc", limit=1)
    day = date.fromisoformat(last[0]["order_date"]) if last else date.today()
    tag = uuid.uuid4().hex[:6].upper()
    product = world["api"].get("/api/products", select="product_key,name", limit=1)[0]
    header = ["Invoice Date", "Invoice Number", "Invoice Status", "Customer ID", "Customer Name",
              "Product ID", "Item Name", "Quantity", "Item Price", "Item Total", "Currency Code",
              "Sales person", "Billing City"]
    rows = []
    for n, d in ((1, day - timedelta(days=1)), (2, day)):
        inv = f"BT-{tag}-{n}"
        rows.append([d.isoformat(), inv, "Paid", f"BT-{tag}", f"Browser Test Store {tag}", product["product_key"],
                     product["name"], "3", "100.00", "300.00", "INR", world["rep_sales_person"], "Pune"])
        rows.append([d.isoformat(), inv, "Paid", f"BT-{tag}", f"Browser Test Store {tag}", f"BT-NEW-{tag}",
                     f"Browser Test Product {tag}", "2", "55.50", "111.00", "INR", world["rep_sales_person"], "Pune"])
    rows.append([day.isoformat(), f"BT-{tag}-3", "Paid", f"BT-{tag}", f"Browser Test Store {tag}", f"BT-NEW-{tag}",
                 f"Browser Test Product {tag}", "not-a-number", "55.50", "111.00", "INR", world["rep_sales_person"], "Pune"])
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows([header, *rows])
    return buf.getvalue(), 2, 1


def drop_file(page, selector: str, name: str, text: str) -> None:
    """Drags a file onto the drop zone: a real DataTransfer carrying a File, as a browser's drop."""
    page.evaluate("""([sel, name, text]) => {
        const dt = new DataTransfer();
        dt.items.add(new File([text], name, { type: 'text/csv' }));
        const zone = document.querySelector(sel);
        for (const type of ['dragenter', 'dragover', 'drop']) {
          zone.dispatchEvent(new DragEvent(type, { bubbles: true, cancelable: true, dataTransfer: dt }));
        }
    }""", [selector, name, text])


def test_an_upload_shows_live_progress_and_every_open_dashboard_updates(page, context, world):
    signed_in(page, world)
    # A second dashboard (another tab, its own sign-in) on the overview: it must update by
    # itself when the upload lands.
    other = context.new_page()
    login(other, world["base"], world["manager"])
    expect(other.locator("[data-kpi='total_orders']")).to_be_visible()
    expect(other.locator("#live[data-state='open']")).to_be_attached()
    boot_id = other.evaluate("window.mangalmBootId")
    before = kpi_values(other)

    text, invoices, rejected = _small_export(world)
    page.click("#nav a[data-path='/upload']")
    expect(page.locator("#drop-zone")).to_be_visible()
    expect(page.locator("#live[data-state='open']")).to_be_attached()
    # An empty file is refused on the page with a message.
    drop_file(page, "#drop-zone", "empty.csv", "")
    expect(page.locator("#upload-message [role=alert]")).to_contain_text("empty")

    drop_file(page, "#drop-zone", "browser-test.csv", text)
    expect(page.locator("#upload-status")).to_be_visible()
    expect(page.locator("#upload-progress[data-percent='100']")).to_be_attached()
    result = page.locator("#upload-result")
    expect(result).to_have_attribute("data-status", "succeeded")
    lines = len(text.strip().splitlines()) - 1
    expect(result.locator("[data-field=lines]")).to_have_text(str(lines))
    expect(result.locator("[data-field=loaded]")).to_have_text(str(lines - rejected))
    expect(result.locator("[data-field=rejected]")).to_have_text(str(rejected))
    expect(result.locator("[data-field=new_stores]")).to_have_text("1")
    expect(result.locator("#rejects-link")).to_be_visible()
    with page.expect_download() as dl:
        result.locator("#rejects-link").click()
    rejects = open(dl.value.path(), encoding="utf-8").read()
    assert "not-a-number" in rejects
    expect(page.locator("#jobs-table tr[data-job-id]").first).to_be_visible()
    shot(page, "07-upload")

    # The other tab: the orders KPI grew by the new invoices, with no reload.
    expected_orders = int(before["total_orders"]) + invoices
    expect(other.locator(f"[data-kpi='total_orders'][data-value='{expected_orders}']")).to_be_attached()
    assert other.evaluate("window.mangalmBootId") == boot_id, "the page reloaded instead of updating live"
    after = kpi_values(other)
    assert int(after["total_stores"]) == int(before["total_stores"]) + 1
    assert Decimal(after["total_revenue"]) > Decimal(before["total_revenue"])
    summary = world["api"].summary()
    assert {k: Decimal(after[k]) for k in KPIS} == {k: Decimal(str(summary[k])) for k in KPIS}
    shot(other, "08-overview-after-upload")
    other.close()


def test_a_file_the_pipeline_refuses_is_shown_as_a_message(page, world):
    signed_in(page, world)
    page.goto(f"{world['base']}/#/upload")
    expect(page.locator("#drop-zone")).to_be_visible()
    drop_file(page, "#drop-zone", "wrong-columns.csv", "Colour,Size\nred,10\n")
    # Refused at once (4xx) or as a failed job: either way a message, never a blank panel.
    expect(page.locator("#upload-message [role=alert], #upload-result[data-status='failed']")).to_be_visible()


def test_log_out_revokes_the_token(page, world):
    signed_in(page, world)
    token = json.loads(page.evaluate("sessionStorage.getItem('mangalm.session')"))["token"]
    page.click("#logout")
    expect(page.locator("#login-form")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('mangalm.session')") is None
    shot(page, "11-logged-out")
    r = httpx.get(f"{world['base']}/api/stores", params={"limit": 1},
                  headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert r.status_code == 401, f"the token still works after logout: {r.status_code}"
    # Going back to a page asks for the login again.
    page.goto(f"{world['base']}/#/overview")
    expect(page.locator("#login-form")).to_be_visible()


# --- other widths and roles (their own contexts) ----------------------------------------------

def test_a_phone_width_fits_the_screen(browser, world):
    ctx = browser.new_context(viewport=PHONE, locale="en-IN", is_mobile=True, has_touch=True)
    ctx.set_default_timeout(WAIT_MS)
    p = ctx.new_page()
    try:
        login(p, world["base"], world["manager"])
        expect(p.locator("[data-kpi='total_orders']")).to_be_visible()
        store_id = world["api"].get("/api/predicted_orders", select="store_id", status="eq.pending", limit=1)[0]["store_id"]
        for name, path in (("09-phone-overview", "/overview"), ("09-phone-predictions", "/predictions"),
                           ("09-phone-stores", "/stores"), ("09-phone-store", f"/stores/{store_id}"),
                           ("09-phone-upload", "/upload")):
            p.goto(f"{world['base']}/#{path}")
            expect(p.locator("#main .loading")).to_have_count(0)
            overflow = p.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{path} is {overflow}px wider than a phone screen"
            shot(p, name)
    finally:
        ctx.close()


def test_a_rep_sees_only_their_stores_and_no_upload_page(browser, world):
    ctx = browser.new_context(viewport=LAPTOP, locale="en-IN")
    ctx.set_default_timeout(WAIT_MS)
    p = ctx.new_page()
    try:
        login(p, world["base"], world["rep"])
        expect(p.locator("#nav a[data-path='/overview']")).to_be_visible()
        expect(p.locator("#nav a[data-path='/upload']")).to_have_count(0)
        p.goto(f"{world['base']}/#/stores")
        expect(p.locator("#stores-table")).to_be_visible()
        ids = p.eval_on_selector_all("#stores-table tr[data-store-id]", "els => els.map(e => e.dataset.storeId)")
        theirs = world["rep_api"].get("/api/stores", select="id,sales_person", order="name.asc,id.asc", limit=100)
        assert ids == [s["id"] for s in theirs]
        everyone = world["api"].get("/api/stores", select="id", limit=1000)
        assert len(theirs) < len(everyone), "the rep sees every store"
        shot(p, "10-rep-stores")
        p.goto(f"{world['base']}/#/upload")
        expect(p.locator("#main [role=alert]")).to_contain_text("managers and admins")
    finally:
        ctx.close()
