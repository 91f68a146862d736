"""Helpers of the fault tests (tests/test_faults_*.py) and the short soak: generated exports,
throwaway databases, table fingerprints, a reader that watches counts while a job runs, and
the worker and CLI as real processes.

A fault test ends by comparing fingerprints (row count and an order-independent md5 of the
content) of the tables an upload writes with those of a clean, sequential run of the same
files in a fresh database: equal fingerprints mean no line missing, doubled or half-applied.
"""
from __future__ import annotations

import atexit
import dataclasses
import functools
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg

from gateway import loader, worker
from gateway.config import Settings
from gateway.generate import generate_text

ROOT = Path(__file__).resolve().parent.parent
MANGALM = [sys.executable, "-m", "cli.main"]

# ---------------------------------------------------------------------------------------------
# Generated exports
# ---------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=16)
def _generated(lines: int, seed: int, stores: int, products: int) -> tuple[str, str]:
    text = generate_text(lines, seed=seed, stores=stores, products=products)
    header, _, body = text.partition("\r\n")
    return header, body


def export(path: Path, parts: list[tuple[str, int, int]], stores: int = 60, products: int = 120) -> Path:
    """Write one export made of generated parts [(invoice prefix, lines, seed), ...]; returns it.

    A part's invoice numbers start with its prefix instead of INV-, so parts with different
    prefixes never overlap and parts with the same prefix (and another seed) overlap on the
    same invoice numbers with other content. A large file is cheap: one generated part can be
    repeated under several prefixes (generating costs ~25 s per 100k lines on a busy machine)."""
    header = None
    with open(path, "w", encoding="utf-8", newline="") as f:
        for prefix, lines, seed in parts:
            header, body = _generated(lines, seed, stores, products)
            if f.tell() == 0:
                f.write(header + "\r\n")
            f.write(body.replace(",INV-", f",{prefix}-"))
    return path


_EXPORTS = Path(f"/tmp/mangalm-fault-files-{os.getpid()}")
atexit.register(shutil.rmtree, _EXPORTS, True)


def shared_export(name: str, parts: list[tuple[str, int, int]], stores: int = 60, products: int = 120) -> Path:
    """export() into a folder shared by the whole test run, written once: fault tests that
    load the same files share one reference run (see reference())."""
    _EXPORTS.mkdir(parents=True, exist_ok=True)
    path = _EXPORTS / f"{name}.csv"
    if not path.exists():
        export(path.with_suffix(".part"), parts, stores, products).rename(path)
    return path


def data_lines(path: Path) -> int:
    """Data lines of a generated export (its fields never hold line breaks)."""
    with open(path, "rb") as f:
        return sum(1 for line in f if line.strip()) - 1


# ---------------------------------------------------------------------------------------------
# Databases
# ---------------------------------------------------------------------------------------------


@contextmanager
def scratch_db(template, label: str):
    """A fresh clone of the migrated template database; yields its URL, drops it afterwards."""
    from conftest import _clone

    janitor, url = _clone(template, f"f_{label}_{uuid.uuid4().hex[:6]}")
    try:
        yield url
    finally:
        janitor.drop()


def settings_for(url: str) -> Settings:
    return dataclasses.replace(Settings.from_env(), external_database_url=url)


def load(url: str, path: Path, **options) -> dict:
    """Stage a file and process its job here (retries included); returns the job's row."""
    options.setdefault("source", "test")
    received = loader.load_file(url, path, loader.LoadOptions(**options))
    return worker.process_job(settings_for(url), received.job_id, url=url, timeout=900)


def stage(url: str, path: Path, **options) -> loader.Received:
    """Stage a file as a queued job without processing it."""
    options.setdefault("source", "test")
    return loader.load_file(url, path, loader.LoadOptions(**options))


def job(url: str, job_id: int) -> dict:
    with psycopg.connect(url) as conn:
        return worker.job_row(conn, job_id)


def wait_for_job(url: str, job_id: int, statuses=("succeeded", "failed"), timeout: float = 900) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        row = job(url, job_id)
        if row["status"] in statuses:
            return row
        assert time.monotonic() < deadline, f"job {job_id} still {row['status']} after {timeout:.0f} s: {row}"
        time.sleep(0.2)


# ---------------------------------------------------------------------------------------------
# Fingerprints
# ---------------------------------------------------------------------------------------------

# Surrogate ids, load timestamps and job ids differ between two runs of the same files.
VOLATILE = {"id", "created_at", "updated_at", "upload_job_id"}
FINGERPRINT_TABLES = ("mangalam_invoices", "orders", "invoice_items", "stores", "products")


def _columns(conn: psycopg.Connection, table: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'data' AND table_name = %s "
        "ORDER BY ordinal_position", (table,)) if r[0] not in VOLATILE]


def fingerprints(url_or_conn) -> dict[str, tuple[int, str]]:
    """{table: (rows, md5)} of the tables an upload writes, without volatile columns;
    invoice_items name their order and product by natural key (invoice number, product key)."""
    if isinstance(url_or_conn, str):
        with psycopg.connect(url_or_conn) as conn:
            return fingerprints(conn)
    conn = url_or_conn
    out = {}
    for table in FINGERPRINT_TABLES:
        cols = _columns(conn, table)
        if table == "invoice_items":
            cols = [c for c in cols if c not in ("order_id", "product_id")]
            source = ("data.invoice_items t JOIN data.orders o ON o.id = t.order_id "
                      "LEFT JOIN data.products p ON p.id = t.product_id")
            row = "ROW(o.invoice_number, p.product_key, " + ", ".join(f"t.{c}" for c in cols) + ")"
        else:
            source = f"data.{table} t"
            row = "ROW(" + ", ".join(f"t.{c}" for c in cols) + ")"
        out[table] = tuple(conn.execute(
            f"SELECT count(*), coalesce(md5(string_agg(h, '' ORDER BY h)), '') "
            f"FROM (SELECT md5({row}::text) AS h FROM {source}) q").fetchone())
    return out


def staging_tables(url: str) -> int:
    """How many upload staging tables exist (a finished or failed job leaves none)."""
    with psycopg.connect(url) as conn:
        return conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'staging'").fetchone()[0]


def keys_and_indexes(conn: psycopg.Connection) -> list[tuple]:
    """Constraints and indexes of the tables a bulk load drops and rebuilds."""
    return conn.execute(
        "SELECT 'c', conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE connamespace = 'data'::regnamespace "
        "UNION ALL SELECT 'i', tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'data' "
        "ORDER BY 1, 2, 3").fetchall()


_references: dict[tuple, dict] = {}


def reference(template, files: list[Path], label: str = "ref") -> dict[str, tuple[int, str]]:
    """Fingerprints after loading `files` one after the other, without faults, in a fresh
    database (computed once per test run for each sequence of files)."""
    key = tuple(hashlib.sha1(p.read_bytes()).hexdigest() for p in files)
    if key not in _references:
        with scratch_db(template, label) as url:
            for path in files:
                row = load(url, path)
                assert row["status"] == "succeeded", row
            _references[key] = fingerprints(url)
    return _references[key]


# ---------------------------------------------------------------------------------------------
# Readers and processes
# ---------------------------------------------------------------------------------------------

COUNTS_SQL = ("SELECT (SELECT count(*) FROM data.mangalam_invoices), (SELECT count(*) FROM data.orders), "
              "(SELECT count(*) FROM data.invoice_items)")


class CountReader(threading.Thread):
    """Polls the counts of the loaded tables (one statement, so one snapshot) while a job
    runs, the way a dashboard would, and remembers every distinct answer. Connection errors
    (a restarting server) are counted and retried, not fatal."""

    def __init__(self, url: str, interval: float = 0.05):
        super().__init__(name="count-reader", daemon=True)
        self.url = url
        self.interval = interval
        self.seen: dict[tuple, int] = {}
        self.reads = 0
        self.errors = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            try:
                with psycopg.connect(self.url, autocommit=True, connect_timeout=3) as conn:
                    while not self.stopping.is_set():
                        counts = tuple(conn.execute(COUNTS_SQL).fetchone())
                        self.seen[counts] = self.seen.get(counts, 0) + 1
                        self.reads += 1
                        self.stopping.wait(self.interval)
            except psycopg.Error:
                self.errors += 1
                self.stopping.wait(0.2)

    def stop(self) -> dict[tuple, int]:
        self.stopping.set()
        self.join(30)
        return self.seen


def counts(url: str) -> tuple:
    with psycopg.connect(url) as conn:
        return tuple(conn.execute(COUNTS_SQL).fetchone())


def start_worker(url: str, log_path: Path, poll: float = 0.5) -> subprocess.Popen:
    """`python -m gateway.worker` as a process of its own, on one database; its output
    (the JSON job-event lines) goes to log_path."""
    env = dict(os.environ, DATABASE_URL=url, MANGALM_WORKER_POLL=str(poll))
    out = open(log_path, "ab")
    try:
        return subprocess.Popen([sys.executable, "-m", "gateway.worker"], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        out.close()


def stop_process(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def backend_gone(url: str, pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)
    return True


def mangalm(env: dict, *args, timeout: float = 900, stdin=subprocess.DEVNULL) -> subprocess.CompletedProcess:
    """Run the real `mangalm` command."""
    return subprocess.run([*MANGALM, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=stdin)


def last_json(stdout: str) -> dict:
    """The JSON object on the last line of `mangalm ... --json` output."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines, "no output"
    return json.loads(lines[-1])


def json_lines(path: Path, start: int = 0) -> list[dict]:
    """The JSON lines of a log file from byte offset `start` (other lines are skipped)."""
    out = []
    if not path.exists():
        return out
    for line in path.read_bytes()[start:].decode("utf-8", "replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out
