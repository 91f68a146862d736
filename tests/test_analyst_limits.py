"""The BI login cannot hold up the rest of the system: an analyst session that holds every lock
it can take does not slow an upload; its connections are limited; a statement that outlives
the limit (whatever its own statement_timeout says) is ended by the jobs worker.
db/roles.sql, db/grants.sql, functions/limits.sql."""
from __future__ import annotations

import time

import psycopg
import pytest
from click.testing import CliRunner

from cli.main import cli
from ingest_helpers import FIXTURES

SLICE = FIXTURES.parent / "online_retail_slice.csv.gz"


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def analyst_url(running_stack) -> str:
    result = run("user", "analyst-url")
    assert result.exit_code == 0, result.output
    return result.output.strip()


def timed_load(path) -> float:
    started = time.monotonic()
    result = run("load", str(path), "--wait", "--json")
    assert result.exit_code == 0, result.output
    assert '"status": "succeeded"' in result.output.splitlines()[-1]
    return time.monotonic() - started


def test_an_analyst_holding_every_lock_it_can_take_does_not_slow_an_upload(running_stack, analyst_url):
    # Normal time first: the same files with nobody else around.
    normal = timed_load(SLICE) + timed_load(FIXTURES / "basic.csv")

    with psycopg.connect(analyst_url) as holder:
        holder.execute("SET statement_timeout = 0")
        # Every relation the analyst can read, locked as strongly as it may (ACCESS SHARE:
        # its only table privilege is SELECT), in a transaction it keeps open.
        relations = [r[0] for r in holder.execute(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'api' "
            "AND c.relkind IN ('r', 'v', 'm') AND has_table_privilege(c.oid, 'SELECT')").fetchall()]
        assert {"api.stores", "api.invoice_items", "api.dashboard_summary"} <= set(relations)
        for name in relations:
            holder.execute(f"SELECT FROM {name} LIMIT 1")
        # Anything stronger, and the pipeline's advisory locks, are refused, even after the
        # session lifts its read-only default.
        with psycopg.connect(analyst_url, autocommit=True) as other:
            other.execute("SET default_transaction_read_only = off")  # a default, not a limit
            for attempt in ("SELECT pg_advisory_lock(745101, 0)", "SELECT pg_try_advisory_lock(745100, 1)",
                            "LOCK TABLE api.stores IN ROW EXCLUSIVE MODE",
                            "SELECT * FROM api.stores LIMIT 1 FOR SHARE"):
                with pytest.raises(psycopg.errors.InsufficientPrivilege), other.transaction():
                    other.execute(attempt)

        held = timed_load(SLICE) + timed_load(FIXTURES / "basic.csv")
        still_open = holder.execute("SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() "
                                    "AND mode = 'AccessShareLock'").fetchone()[0]
    assert still_open >= len(relations), "the analyst's locks were held throughout"
    # Generous for a shared 2-core machine; a lock wait would last until the analyst let go.
    assert held < 3 * normal + 10, f"uploads took {held:.1f} s under the analyst's locks, {normal:.1f} s without"


def test_the_analyst_has_a_connection_limit(running_stack, analyst_url):
    with psycopg.connect(running_stack.database_url) as admin:
        allowed = admin.execute("SELECT rolconnlimit FROM pg_roles WHERE rolname = 'analyst'").fetchone()[0]
    assert allowed > 0
    opened = []
    try:
        for _ in range(allowed):
            opened.append(psycopg.connect(analyst_url))
        with pytest.raises(psycopg.OperationalError, match="too many connections"):
            psycopg.connect(analyst_url)
    finally:
        for conn in opened:
            conn.close()


def test_an_overlong_analyst_statement_is_ended_whatever_its_timeout(running_stack, analyst_url):
    with psycopg.connect(running_stack.database_url, autocommit=True) as admin:
        admin.execute("INSERT INTO data.settings (key, value) VALUES ('analyst.max_statement_seconds', '2') "
                      "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        try:
            with psycopg.connect(analyst_url, autocommit=True) as analyst:
                analyst.execute("SET statement_timeout = 0")
                started = time.monotonic()
                with pytest.raises(psycopg.OperationalError):
                    analyst.execute("SELECT pg_sleep(60)")
                ended_after = time.monotonic() - started
        finally:
            admin.execute("DELETE FROM data.settings WHERE key = 'analyst.max_statement_seconds'")
    # The limit (2 s) plus at most one pass of the worker's loop (MANGALM_WORKER_POLL, 2 s).
    assert ended_after < 20, f"the statement ran {ended_after:.1f} s"
