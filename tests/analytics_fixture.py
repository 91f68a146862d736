"""Test fixture (also used by bench/backtest.py): generated invoice-line exports straight into the tables.

A stand-in for the ingest pipeline while its loader is being built: it COPYs an export (the
Zoho Books layout of gateway/generate.py) into a temporary table and fills data.stores,
products, orders and invoice_items with a few set-based INSERTs, following the data contract
(one order per invoice, source 'invoice', status 'void' for void invoices, total_amount = the
invoice Total, which already nets the return lines; product_id NULL for non-product lines,
negative quantities flagged is_return). It is NOT the loader: no rejects, no jobs, no
validation. Use gateway/loader.py for anything real once it exists.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import psycopg

from gateway.generate import COLUMNS, generate_file

# Column names of the raw table, in export order (c00 ... c40), so COPY needs no quoting.
RAW = [f"c{i:02d}" for i in range(len(COLUMNS))]
COL = {name: RAW[i] for i, name in enumerate(COLUMNS)}

LOAD_SQL = """
INSERT INTO data.stores (id, name, city, state, country, postal_code, sales_person,
                         currency_code, payment_terms, source)
SELECT DISTINCT ON ({cid}) {cid}, {cname}, {city}, {state}, {country}, {pin}, nullif({person}, ''),
       {cur}, {terms}, 'import'
FROM raw_lines ORDER BY {cid}, line_no DESC
ON CONFLICT (id) DO NOTHING;

INSERT INTO data.products (product_key, external_id, sku, name, description, category, brand,
                           usage_unit, unit_price, mrp, hsn_sac, tax_rate, source)
SELECT DISTINCT ON ({pid}) {pid}, {pid}, nullif({sku}, ''), {item}, nullif({desc}, ''),
       nullif({cat}, ''), nullif({brand}, ''), nullif({unit}, ''), nullif({price}, '')::numeric,
       nullif({mrp}, '')::numeric, nullif({hsn}, ''), nullif({taxpct}, '')::numeric, 'import'
FROM raw_lines WHERE coalesce({pid}, '') <> '' ORDER BY {pid}, line_no DESC
ON CONFLICT (product_key) DO NOTHING;

INSERT INTO data.orders (store_id, source, invoice_number, status, invoice_status, order_date,
                         due_date, subtotal, tax_amount, total_amount, item_count, currency_code,
                         sales_person)
SELECT min({cid}), 'invoice', {inv}, CASE WHEN min({status}) IN ('Void', 'Cancelled') THEN 'void'
       ELSE 'invoiced' END, min({status}), min({date})::date, min(nullif({due}, ''))::date,
       min({sub})::numeric, sum({tax}::numeric), min({total})::numeric, count(*),
       min({cur}), min(nullif({person}, ''))
FROM raw_lines GROUP BY {inv}
ON CONFLICT (invoice_number) DO NOTHING;

INSERT INTO data.invoice_items (order_id, line_no, product_id, item_name, quantity, unit_price,
                                discount_amount, tax_amount, line_total, is_return, is_product)
SELECT o.id, row_number() OVER (PARTITION BY r.{inv} ORDER BY r.line_no), p.id, r.{item},
       r.{qty}::numeric, nullif(r.{price}, '')::numeric, nullif(r.{disc}, '')::numeric,
       nullif(r.{tax}, '')::numeric, r.{itotal}::numeric, r.{qty}::numeric < 0, coalesce(r.{pid}, '') <> ''
FROM raw_lines r
JOIN data.orders o ON o.invoice_number = r.{inv}
LEFT JOIN data.products p ON p.product_key = r.{pid}
ON CONFLICT (order_id, line_no) DO NOTHING;

UPDATE data.stores s SET first_order_date = d.first, last_order_date = d.last
FROM (SELECT store_id, min(order_date) AS first, max(order_date) AS last FROM data.orders
      WHERE source = 'invoice' AND status <> 'void' GROUP BY store_id) d
WHERE d.store_id = s.id;
""".format(
    cid=COL["Customer ID"], cname=COL["Customer Name"], city=COL["Billing City"],
    state=COL["Billing State"], country=COL["Billing Country"], pin=COL["Billing Code"],
    person=COL["Sales person"], cur=COL["Currency Code"], terms=COL["Payment Terms"],
    pid=COL["Product ID"], sku=COL["SKU"], item=COL["Item Name"], desc=COL["Item Desc"],
    cat=COL["Category Name"], brand=COL["Brand"], unit=COL["Usage unit"], price=COL["Item Price"],
    mrp=COL["MRP"], hsn=COL["HSN/SAC"], taxpct=COL["Item Tax %"], inv=COL["Invoice Number"],
    status=COL["Invoice Status"], date=COL["Invoice Date"], due=COL["Due Date"],
    sub=COL["SubTotal"], tax=COL["Item Tax Amount"], total=COL["Total"], qty=COL["Quantity"],
    disc=COL["Discount Amount"], itotal=COL["Item Total"],
)


def load_csv(conn: psycopg.Connection, path: str | os.PathLike) -> int:
    """Load a generated export into the tables (as the owner); returns the lines read."""
    with conn.transaction():
        conn.execute("SET LOCAL work_mem = '256MB'")
        conn.execute("CREATE TEMP TABLE raw_lines (line_no bigint GENERATED ALWAYS AS IDENTITY, "
                     + ", ".join(f"{c} text" for c in RAW) + ") ON COMMIT DROP")
        with conn.cursor().copy(f"COPY raw_lines ({', '.join(RAW)}) FROM STDIN "
                                "(FORMAT csv, HEADER true)") as cp, open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                cp.write(chunk)
        lines = conn.execute("SELECT count(*) FROM raw_lines").fetchone()[0]
        conn.execute(LOAD_SQL)
        conn.execute("ANALYZE data.orders; ANALYZE data.invoice_items; ANALYZE data.products")
    return lines


def load_generated(conn: psycopg.Connection, lines: int, cache_dir: str | os.PathLike,
                   **kwargs) -> Path:
    """Generate (once, cached by arguments) and load an export of `lines` lines."""
    tag = "_".join(f"{k}{v}" for k, v in sorted(kwargs.items()))
    path = Path(cache_dir) / f"generated_{lines}{'_' + tag if tag else ''}.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        generate_file(tmp, lines, **kwargs)
        tmp.rename(path)
    load_csv(conn, path)
    return path
