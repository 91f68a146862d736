"""Helpers of the ingest tests (tests/test_ingest_*.py): load a fixture through the real
loader and worker into a test database, and read back what happened."""
from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from gateway import loader, worker
from gateway.config import Settings

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ingest"


def settings_for(db_url: str) -> Settings:
    """The test settings, pointed at one test database."""
    return dataclasses.replace(Settings.from_env(), external_database_url=db_url)


def stage(db_url: str, source, **options) -> loader.Received:
    """Stream a fixture name, a path, bytes or text into a new upload job (not processed)."""
    options.setdefault("source", "test")
    if isinstance(source, str) and not source.endswith(".csv") and "\n" in source:
        source = source.encode()
    if isinstance(source, (bytes, bytearray)):
        opts = loader.LoadOptions(**options)
        return loader.load_stream(db_url, io.BytesIO(bytes(source)), opts, total_bytes=len(source))
    path = Path(source)
    if not path.is_absolute() and not path.exists():
        path = FIXTURES / path
    return loader.load_file(db_url, path, loader.LoadOptions(**options))


def ingest(db_url: str, source, **options) -> dict:
    """Stage and process (inline, retries included); returns the job's row."""
    received = stage(db_url, source, **options)
    return worker.process_job(settings_for(db_url), received.job_id, url=db_url)


def rows(conn: psycopg.Connection, sql: str, *params) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(sql, params or None).fetchall()


def rejects(conn: psycopg.Connection, job_id: int) -> list[dict]:
    return rows(conn, "SELECT line_no, column_name, reason, raw_line FROM data.upload_rejects "
                      "WHERE job_id = %s ORDER BY line_no", job_id)


def lines(conn: psycopg.Connection, job_id: int) -> list[dict]:
    return rows(conn, "SELECT * FROM data.mangalam_invoices WHERE upload_job_id = %s ORDER BY source_line", job_id)


def snapshot(conn: psycopg.Connection) -> dict:
    """Every table the pipeline writes, without surrogate ids and load timestamps."""
    return {
        "lines": rows(conn, """SELECT invoice_number, line_no, source_line, store_id, product_key, invoice_date,
                                      customer_id, customer_name, item_name, quantity, item_price, item_total,
                                      extra, is_void, is_return, is_product
                               FROM data.mangalam_invoices ORDER BY invoice_number, line_no"""),
        "orders": rows(conn, "SELECT * FROM data.orders WHERE source = 'invoice' ORDER BY invoice_number"),
        "items": rows(conn, """SELECT o.invoice_number, i.line_no, p.product_key, i.item_name, i.quantity,
                                      i.unit_price, i.discount_amount, i.tax_amount, i.line_total, i.is_return,
                                      i.is_product
                               FROM data.invoice_items i JOIN data.orders o ON o.id = i.order_id
                               LEFT JOIN data.products p ON p.id = i.product_id
                               ORDER BY o.invoice_number, i.line_no"""),
        "stores": rows(conn, "SELECT * FROM data.stores ORDER BY id"),
        "products": rows(conn, "SELECT * FROM data.products ORDER BY product_key"),
    }
