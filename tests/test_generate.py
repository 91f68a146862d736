"""Tests of the synthetic invoice-line export (gateway/generate.py) and `mangalm generate`.

Plain Python, no database. The demo set is generated once per module (about half a second).
"""
from __future__ import annotations

import collections
import csv
import inspect
import io
import itertools
import re
import statistics
from datetime import date, timedelta
from decimal import Decimal

import pytest
from click.testing import CliRunner

from cli.generate import generate
from gateway import generate as gen

# The column list as the brief states it; an independent copy, so a typo in COLUMNS fails.
EXPECTED_COLUMNS = (
    "Invoice Date, Invoice ID, Invoice Number, Invoice Status, Customer ID, Customer Name, "
    "Due Date, Purchase Order, Sales Order Number, Product ID, Item Name, SKU, Brand, "
    "Category Name, Item Desc, Quantity, Usage unit, Item Price, MRP, Discount, Discount Amount, "
    "Item Total, SubTotal, Total, Balance, Item Tax %, Item Tax Amount, HSN/SAC, Currency Code, "
    "Warehouse Name, Sales person, Billing City, Billing State, Billing Country, Billing Code, "
    "Shipping City, Shipping State, Shipping Country, Shipping Code, Payment Terms, Notes"
).split(", ")

MONEY_COLUMNS = ("Item Price", "Discount Amount", "Item Total", "SubTotal", "Total", "Balance",
                 "Item Tax Amount")
MONEY = re.compile(r"^-?\d+\.\d\d$")
MISC_NAMES = {"Shipping Charges", "Postage", "Bank Charges", "Discount", "Adjustment"}


def parse(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def by_invoice(rows):
    invoices = collections.OrderedDict()
    for r in rows:
        invoices.setdefault(r["Invoice Number"], []).append(r)
    return invoices


@pytest.fixture(scope="module")
def demo_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("gen") / "demo.csv"
    assert gen.write_demo(path) == gen.DEMO_LINES
    return path


@pytest.fixture(scope="module")
def demo_text(demo_path):
    return demo_path.read_bytes().decode("utf-8")  # read_text() would hide the CRLF line ends


@pytest.fixture(scope="module")
def demo(demo_path):
    with open(demo_path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def profiles():
    return gen.store_profiles(gen.DEFAULT_STORES, gen.DEFAULT_SEED)


# --- size, header, determinism -----------------------------------------------------------------

@pytest.mark.parametrize("lines", [0, 1, 2, 37, 1000, 2500])
def test_exact_line_count(lines):
    text = gen.generate_text(lines, stores=30, products=60)
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == lines + 1
    assert all(len(r) == len(gen.COLUMNS) for r in rows)


def test_demo_has_exact_line_count(demo):
    assert len(demo) == gen.DEMO_LINES == 14464


def test_header_is_exact(demo_text):
    assert gen.COLUMNS == EXPECTED_COLUMNS
    assert demo_text.split("\r\n", 1)[0] == ",".join(EXPECTED_COLUMNS)


def test_same_arguments_give_identical_bytes(tmp_path, demo_path):
    again = tmp_path / "again.csv"
    gen.write_demo(again)
    assert again.read_bytes() == demo_path.read_bytes()
    args = dict(stores=40, products=80, seed=7, start_date=date(2023, 4, 1))
    assert gen.generate_text(3000, **args) == gen.generate_text(3000, **args)


def test_another_seed_gives_another_file():
    a = gen.generate_text(2000, stores=40, products=80, seed=1)
    b = gen.generate_text(2000, stores=40, products=80, seed=2)
    assert a != b
    assert a.split("\r\n", 1)[0] == b.split("\r\n", 1)[0]


def test_rows_are_streamed_not_built():
    rows = gen.iter_rows(10_000_000)
    assert inspect.isgenerator(rows)
    assert len(next(rows)) == len(gen.COLUMNS)  # no ten-million-row list was built first


# --- every row parses and adds up --------------------------------------------------------------

def test_every_row_parses(demo):
    for r in demo:
        date.fromisoformat(r["Invoice Date"])
        assert date.fromisoformat(r["Due Date"]) >= date.fromisoformat(r["Invoice Date"])
        int(r["Quantity"])
        int(r["Invoice ID"])
        for col in MONEY_COLUMNS:
            assert MONEY.match(r[col]), (col, r[col])
        Decimal(r["Discount"]), Decimal(r["Item Tax %"])
        assert r["MRP"] == "" or MONEY.match(r["MRP"])
        assert r["Currency Code"] == "INR"
        assert r["Billing Country"] == r["Shipping Country"] == "India"
        assert re.fullmatch(r"\d{6}", r["Billing Code"]) and re.fullmatch(r"\d{6}", r["Shipping Code"])
        assert re.fullmatch(r"CUST-\d{5}", r["Customer ID"])
        assert re.fullmatch(r"INV-\d{6}", r["Invoice Number"])


def test_item_total_and_tax_are_consistent(demo):
    cent = Decimal("0.01")
    for r in demo:
        qty, price = Decimal(r["Quantity"]), Decimal(r["Item Price"])
        disc_amount, total = Decimal(r["Discount Amount"]), Decimal(r["Item Total"])
        assert total == qty * price - disc_amount
        assert abs(disc_amount - qty * price * Decimal(r["Discount"]) / 100) <= cent / 2
        assert abs(Decimal(r["Item Tax Amount"]) - total * Decimal(r["Item Tax %"]) / 100) <= cent / 2


def test_invoices_are_consistent(demo):
    invoices = by_invoice(demo)
    invoice_fields = ["Invoice Date", "Invoice ID", "Invoice Status", "Customer ID",
                      "Customer Name", "Due Date", "SubTotal", "Total", "Balance", "Notes"]
    for number, lines in invoices.items():
        first = lines[0]
        for r in lines:
            assert [r[c] for c in invoice_fields] == [first[c] for c in invoice_fields]
        subtotal = sum(Decimal(r["Item Total"]) for r in lines)
        tax = sum(Decimal(r["Item Tax Amount"]) for r in lines)
        assert Decimal(first["SubTotal"]) == subtotal, number
        assert Decimal(first["Total"]) == subtotal + tax, number
        assert Decimal(first["Balance"]) in (Decimal(0), Decimal(first["Total"]))
        if first["Invoice Status"] in ("Void", "Closed", "Paid"):
            assert Decimal(first["Balance"]) == 0
    # Invoice numbers and IDs are unique per invoice, and each invoice is one block of lines.
    assert len({v[0]["Invoice ID"] for v in invoices.values()}) == len(invoices)
    blocks = [k for k, _ in itertools.groupby(r["Invoice Number"] for r in demo)]
    assert len(blocks) == len(invoices)


def test_ordered_by_date_then_invoice_number(demo):
    keys = [(r["Invoice Date"], r["Invoice Number"]) for r in demo]
    assert keys == sorted(keys)


def test_one_invoice_per_store_and_day(demo):
    pairs = collections.Counter((v[0]["Customer ID"], v[0]["Invoice Date"])
                                for v in by_invoice(demo).values())
    assert max(pairs.values()) == 1


def test_prices_below_mrp_and_gst_rates(demo):
    for r in demo:
        if r["Product ID"] and r["Item Price"] != "0.00":
            assert Decimal(r["Item Price"]) < Decimal(r["MRP"])
        if r["Product ID"]:
            assert Decimal(r["Item Tax %"]) in {0, 5, 12, 18}
            assert re.fullmatch(r"PROD-\d{4}", r["Product ID"])
            assert r["SKU"] == r["Product ID"].replace("PROD", "SKU")
            assert r["HSN/SAC"].isdigit()


# --- the structure the analytics rely on -------------------------------------------------------

def test_demo_uses_nearly_all_stores_and_products(demo):
    assert len({r["Customer ID"] for r in demo}) >= 200
    assert len({r["Product ID"] for r in demo if r["Product ID"]}) >= 380


def test_demo_spans_six_to_twelve_months(demo):
    first, last = date.fromisoformat(demo[0]["Invoice Date"]), date.fromisoformat(demo[-1]["Invoice Date"])
    assert first >= gen.DEFAULT_START_DATE
    assert 180 <= (last - first).days <= 366


def test_profiles_describe_the_demo(profiles, demo):
    assert len(profiles) == gen.DEFAULT_STORES
    assert {p.rhythm for p in profiles} == {"weekly", "fortnightly", "monthly"}
    names = {p.customer_id: p.name for p in profiles}
    for r in demo:
        assert names[r["Customer ID"]] == r["Customer Name"]
    assert len({p.sales_person for p in profiles}) == 5


def _order_dates(demo, customer_id):
    return sorted({date.fromisoformat(r["Invoice Date"]) for r in demo
                   if r["Customer ID"] == customer_id})


@pytest.mark.parametrize("rhythm,days", [("weekly", 7), ("fortnightly", 14), ("monthly", 30)])
def test_store_orders_on_its_rhythm(profiles, demo, rhythm, days):
    regulars = [p for p in profiles if p.rhythm == rhythm and p.end_date is None
                and p.start_date == gen.DEFAULT_START_DATE]
    assert regulars
    medians = []
    for p in regulars:
        dates = _order_dates(demo, p.customer_id)
        gaps = [(b - a).days for a, b in zip(dates, dates[1:])]
        if len(gaps) >= 4:
            medians.append(statistics.median(gaps))
    assert medians
    assert abs(statistics.median(medians) - days) <= 0.1 * days
    if rhythm == "weekly":  # "a weekly store orders every ~7 days", store by store
        assert all(6 <= m <= 8 for m in medians), medians


def test_gaps_are_noisy_not_clockwork(profiles, demo):
    weekly = next(p for p in profiles if p.rhythm == "weekly" and p.end_date is None)
    dates = _order_dates(demo, weekly.customer_id)
    assert len({(b - a).days for a, b in zip(dates, dates[1:])}) > 1


def test_late_starters_and_churners_keep_their_dates(profiles, demo):
    late = [p for p in profiles if p.start_date > gen.DEFAULT_START_DATE]
    churned = [p for p in profiles if p.end_date is not None]
    assert late and churned
    for p in late + churned:
        dates = _order_dates(demo, p.customer_id)
        assert dates and dates[0] >= p.start_date
        assert p.end_date is None or dates[-1] <= p.end_date
    last = date.fromisoformat(demo[-1]["Invoice Date"])
    assert any(_order_dates(demo, p.customer_id)[-1] < last - timedelta(45)
               for p in churned)


def test_core_basket_is_bought_in_most_orders(profiles, demo):
    catalog = gen.product_catalog()
    orders = collections.defaultdict(list)
    for v in by_invoice(demo).values():
        if v[0]["Invoice Status"] != "Void":
            orders[v[0]["Customer ID"]].append({r["Product ID"] for r in v if int(r["Quantity"]) > 0})
    shares = []
    for p in profiles:
        if len(orders[p.customer_id]) < 10:
            continue
        for idx in p.core_product_indices:
            pid = catalog[idx].product_id
            shares.append(sum(pid in o for o in orders[p.customer_id]) / len(orders[p.customer_id]))
    assert len(shares) > 100
    assert sum(s >= 0.6 for s in shares) / len(shares) >= 0.95
    assert statistics.mean(shares) >= 0.8


def test_quantities_are_stable_per_store_and_product(profiles, demo):
    weekly = next(p for p in profiles if p.rhythm == "weekly" and p.end_date is None)
    per_product = collections.defaultdict(list)
    for r in demo:
        if r["Customer ID"] == weekly.customer_id and r["Item Price"] != "0.00" and int(r["Quantity"]) > 0:
            per_product[r["Product ID"]].append(int(r["Quantity"]))
    spreads = [statistics.pstdev(q) / statistics.mean(q) for q in per_product.values() if len(q) >= 10]
    assert spreads and max(spreads) < 0.45


def test_partner_products_are_bought_together(demo):
    catalog = gen.product_catalog()
    baskets = [{r["Product ID"] for r in v if r["Product ID"]} for v in by_invoice(demo).values()]
    count = collections.Counter(p for b in baskets for p in b)
    lifts = []
    for prod in catalog:
        for q in prod.partners:
            a, b = prod.product_id, catalog[q].product_id
            if count[a] >= 20 and count[b] >= 20:
                both = sum(1 for x in baskets if a in x and b in x)
                lifts.append(both * len(baskets) / (count[a] * count[b]))
    assert len(lifts) > 50
    assert statistics.median(lifts) > 2  # independent products would have lift ~1


def test_popularity_is_skewed(demo):
    count = collections.Counter(r["Product ID"] for r in demo if r["Product ID"])
    ranked = [c for _, c in count.most_common()]
    top_decile = sum(ranked[: len(ranked) // 10])
    assert top_decile / sum(ranked) > 0.2  # ten percent of products, over a fifth of the lines


def test_calendar_skips_sundays_and_diwali_week():
    text = gen.generate_text(3000, stores=60, products=100, start_date=date(2024, 10, 1))
    dates = {date.fromisoformat(r["Invoice Date"]) for r in parse(text)}
    assert max(dates) > date(2024, 11, 15)
    assert not any(d.weekday() == 6 for d in dates)
    assert not any(date(2024, 10, 29) <= d <= date(2024, 11, 4) for d in dates)


# --- the exceptions real exports contain -------------------------------------------------------

def test_returns_voids_free_goods_and_charges_are_present(demo):
    n = len(demo)
    returns = [r for r in demo if int(r["Quantity"]) < 0]
    assert 0.004 <= len(returns) / n <= 0.02
    assert all(Decimal(r["Item Total"]) < 0 and r["Product ID"] for r in returns)
    free = [r for r in demo if r["Product ID"] and r["Item Price"] == "0.00"]
    assert free and all(r["Item Total"] == "0.00" for r in free)
    misc = [r for r in demo if not r["Product ID"]]
    assert 0.002 <= len(misc) / n <= 0.01
    assert {r["Item Name"] for r in misc} <= MISC_NAMES
    assert all(r["SKU"] == "" and r["HSN/SAC"] == "" for r in misc)
    statuses = collections.Counter(v[0]["Invoice Status"] for v in by_invoice(demo).values())
    assert statuses["Void"] >= 1
    assert statuses["Void"] / sum(statuses.values()) < 0.02
    assert {"Closed", "Paid", "Overdue"} <= set(statuses)


# --- quoting and encoding ----------------------------------------------------------------------

def test_quotes_commas_and_unicode_survive(profiles, demo, demo_text):
    tricky = {p.customer_id: p.name for p in profiles if '"' in p.name or "," in p.name}
    assert any('"' in name for name in tricky.values())
    assert any("," in name for name in tricky.values())
    assert any(not name.isascii() for name in (p.name for p in profiles))
    seen = {r["Customer ID"]: r["Customer Name"] for r in demo if r["Customer ID"] in tricky}
    assert seen and all(seen[c] == tricky[c] for c in seen)
    assert '""' in demo_text  # RFC 4180: a quote inside a field is doubled
    assert any("," in r["Item Desc"] for r in demo)


# --- the command -------------------------------------------------------------------------------

def test_cli_writes_a_file(tmp_path):
    out = tmp_path / "x.csv"
    result = CliRunner().invoke(generate, ["--lines", "500", "--stores", "20", "--products", "50",
                                           "--seed", "3", "--start-date", "2023-06-01",
                                           "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().decode("utf-8") == gen.generate_text(
        500, stores=20, products=50, seed=3, start_date=date(2023, 6, 1))


def test_cli_writes_stdout():
    result = CliRunner().invoke(generate, ["--lines", "50", "-o", "-"])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.decode("utf-8") == gen.generate_text(50)


def test_cli_refuses_bad_arguments(tmp_path):
    runner = CliRunner()
    bad_date = runner.invoke(generate, ["--lines", "5", "--start-date", "01/02/2024", "-o", "-"])
    assert bad_date.exit_code == 2 and "--start-date" in bad_date.output
    assert runner.invoke(generate, ["--lines", "-1", "-o", "-"]).exit_code == 2
    missing_dir = runner.invoke(generate, ["--lines", "5", "-o", str(tmp_path / "no" / "x.csv")])
    assert missing_dir.exit_code == 1 and "cannot write" in missing_dir.output


def test_cli_documents_every_option():
    assert generate.name == "generate"
    assert generate.help and generate.help.strip()
    for param in generate.params:
        assert getattr(param, "help", None), param.name
