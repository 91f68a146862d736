"""Real clients against the API: the official PostgREST Python client (postgrest), schemathesis
over PostgREST's own OpenAPI document, and psql logged in as the analyst."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import uuid

import psycopg
import pytest
from postgrest import SyncPostgrestClient

from api_helpers import build_world
from gateway import stack, tokens
from gateway.cluster import pg_bin
from gateway.config import ROOT
from gateway.procs import port_free, stop_pid
from gateway.users import add_user


@pytest.fixture(scope="module")
def world(running_stack, gateway_url):
    return build_world(running_stack, gateway_url)


def api_client(world, who: str) -> SyncPostgrestClient:
    return SyncPostgrestClient(f"{world.base}/api", schema="api",
                               headers={"Authorization": f"Bearer {world.token(who)}"})


# --- the official PostgREST client -----------------------------------------------------------------

def test_postgrest_client_select_with_filter_and_embed(world):
    with api_client(world, "alpha") as client:
        res = (client.from_("stores").select("id,name,orders(invoice_number,total_amount)")
               .eq("id", world.stores["a1"]).execute())
        assert len(res.data) == 1 and len(res.data[0]["orders"]) == 5
        res = client.from_("stores").select("id").eq("id", world.stores["b1"]).execute()
        assert res.data == []   # another rep's store


def test_postgrest_client_insert_and_rpc(world):
    with api_client(world, "alpha") as client:
        res = client.from_("orders").insert({"store_id": world.stores["a2"], "notes": "from postgrest-py"}).execute()
        order = res.data[0]
        assert order["status"] == "draft" and order["created_by"] == world.users["alpha"]["id"]
        client.from_("order_items").insert({"order_id": order["id"], "product_id": world.products["oil"],
                                            "quantity": 2}).execute()
        res = client.from_("orders").select("total_amount").eq("id", order["id"]).single().execute()
        assert float(res.data["total_amount"]) == 420.0
        res = client.rpc("generate_order", {"store_id": world.stores["a1"]}).execute()
        assert res.data["store_id"] == world.stores["a1"] and res.data["source"] == "manual"


# --- schemathesis as a manager, on a database of its own --------------------------------------

@pytest.fixture(scope="module")
def isolated_postgrest(running_stack, db_url):
    """A PostgREST of its own over this module's clone of the migrated template, so fuzzed
    writes (PATCH and DELETE without filters included) cannot touch the shared stack's data."""
    home = running_stack.home / f"fuzz-{uuid.uuid4().hex[:6]}"
    shutil.copytree(running_stack.secrets_dir, home / "secrets")
    port = next(p for p in range(running_stack.http_port + 61, running_stack.http_port + 120, 2)
                if port_free(p) and port_free(p + 1))
    settings = dataclasses.replace(running_stack, home=home, external_database_url=db_url,
                                   postgrest_port=port, postgrest_admin_port=port + 1, http_port=port)
    settings.run_dir.mkdir(parents=True, exist_ok=True)
    with psycopg.connect(db_url, autocommit=True) as conn:
        manager_id = add_user(conn, "fuzz-manager@api.test", "fuzz-manager-password", "manager")
        conn.execute("""INSERT INTO data.stores (id, name, sales_person, source) VALUES
                          ('FZ-1', 'Fuzz One', 'Fuzz Rep', 'import'), ('FZ-2', 'Fuzz Two', NULL, 'import')""")
        conn.execute("""INSERT INTO data.products (product_key, name, unit_price) VALUES ('FZ-P', 'Fuzz product', 10)""")
        conn.execute("""INSERT INTO data.orders (store_id, source, invoice_number, status, total_amount)
                        VALUES ('FZ-1', 'invoice', 'FZ-INV-1', 'invoiced', 10)""")
        conn.execute("""INSERT INTO data.predicted_orders (store_id, predicted_date, confidence, as_of)
                        VALUES ('FZ-1', current_date + 3, 0.5, current_date)""")
    pid = stack.start_postgrest(settings)
    try:
        token, _ = tokens.issue(settings, "manager", manager_id, "fuzz-manager@api.test")
        yield settings.postgrest_url, token
    finally:
        stop_pid(pid)
        shutil.rmtree(home, ignore_errors=True)


@pytest.mark.slow
def test_schemathesis_finds_no_server_error(isolated_postgrest, tmp_path):
    """Every operation of the OpenAPI document (as a manager sees it), fuzzed: no 5xx.
    Bounded: 8 generated requests an operation (~800 in all, about a minute on 2 busy cores;
    the coverage phase's boundary values would add ~19,000 requests and minutes)."""
    url, token = isolated_postgrest
    report = tmp_path / "schemathesis.json"
    argv = [str(ROOT / ".venv" / "bin" / "schemathesis"), "run", f"{url}/", "--url", url,
            "-H", f"Authorization: Bearer {token}", "--checks", "not_a_server_error",
            "--phases", "fuzzing", "--max-examples", "8", "--seed", "20261125",
            "--generation-database", "none", "--workers", "2", "--no-color", "--request-timeout", "20",
            "--report", "json", "--report-json-path", str(report)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=tmp_path,
                            env={**os.environ, "SCHEMATHESIS_TELEMETRY": "false"})
    tail = "\n".join(result.stdout.splitlines()[-40:])
    assert report.exists(), f"schemathesis did not run:\n{tail}\n{result.stderr[-2000:]}"
    summary = json.loads(report.read_text())
    failures = [f"{f['title']} ({f['code']}) on {', '.join(f['operations'])}" for f in summary["failures"]]
    assert not failures and not summary["errors"], f"schemathesis: {failures} {summary['errors']}\n{tail}"
    assert result.returncode == 0, tail
    assert summary["operations"]["tested"] > 50 and summary["test_cases"]["generated"] > 500, summary["operations"]


# --- psql as the analyst -------------------------------------------------------------------------

def psql_as_analyst(running_stack, db_url: str, *commands: str) -> subprocess.CompletedProcess:
    dbname = db_url.rsplit("/", 1)[1]
    argv = [pg_bin("psql"), "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(running_stack.pg_port),
            "-U", "analyst", "-d", dbname]
    for command in commands:
        argv += ["-c", command]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PGPASSWORD": running_stack.analyst_password})


def test_psql_as_analyst_reads_the_reporting_views_and_cannot_write(running_stack, db_url):
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("INSERT INTO data.stores (id, name) VALUES ('AN-1', 'Analyst store')")
    ok = psql_as_analyst(running_stack, db_url,
                         "SELECT count(*) FROM api.stores WHERE id = 'AN-1'",
                         "SELECT count(*) >= 0 FROM api.orders",
                         "SELECT count(*) >= 0 FROM api.invoice_items",
                         "SELECT count(*) >= 0 FROM api.predicted_orders",
                         "SELECT count(*) >= 0 FROM api.customer_segments",
                         "SELECT count(*) >= 0 FROM api.product_categories",
                         "SHOW statement_timeout", "SHOW default_transaction_read_only")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.split() == ["1", "t", "t", "t", "t", "t", "30s", "on"]

    # Every session is read-only (even a temporary table is refused) ...
    write = psql_as_analyst(running_stack, db_url, "CREATE TEMP TABLE scratch (x int)")
    assert write.returncode != 0 and "read-only transaction" in write.stderr
    write = psql_as_analyst(running_stack, db_url, "INSERT INTO api.stores (id, name) VALUES ('AN-2', 'Nope')")
    assert write.returncode != 0 and "permission denied" in write.stderr
    # ... and with the read-only default switched off, there is still no privilege to write.
    write = psql_as_analyst(running_stack, db_url, "SET default_transaction_read_only = off",
                            "INSERT INTO api.stores (id, name) VALUES ('AN-2', 'Nope')")
    assert write.returncode != 0 and "permission denied" in write.stderr
    private = psql_as_analyst(running_stack, db_url, "SELECT count(*) FROM data.stores")
    assert private.returncode != 0 and "permission denied for schema data" in private.stderr
    users = psql_as_analyst(running_stack, db_url, "SELECT count(*) FROM api.users")
    assert users.returncode != 0 and "permission denied" in users.stderr
