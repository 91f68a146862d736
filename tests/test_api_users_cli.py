"""`mangalm user ...`: the accounts behind /auth/login, managed from the command line."""
from __future__ import annotations

import json
import uuid

import httpx
import psycopg
from click.testing import CliRunner

from cli.main import cli


def run(*args, stdin: str | None = None):
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def test_add_list_set_assign_and_log_in(running_stack, gateway_url):
    tag = uuid.uuid4().hex[:6]
    email = f"cli-{tag}@api.test"
    r = run("user", "add", email, "--role", "sales_rep", "--sales-person", f"Cli Rep {tag}", "--password-stdin",
            stdin="cli-password-1\n")
    assert r.exit_code == 0 and "Created sales_rep" in r.output
    assert httpx.post(f"{gateway_url}/auth/login", json={"email": email, "password": "cli-password-1"}).status_code == 200

    listed = [json.loads(line) for line in run("user", "list", "--json").output.splitlines()]
    assert {"email": email, "role": "sales_rep"}.items() <= next(u for u in listed if u["email"] == email).items()

    with psycopg.connect(running_stack.database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO data.stores (id, name) VALUES (%s, 'CLI store')", (f"CLI{tag}",))
    r = run("user", "assign", email, f"CLI{tag}")
    assert r.exit_code == 0 and "Assigned 1 store" in r.output
    r = run("user", "assign", email, f"CLI{tag}-missing")
    assert r.exit_code == 1 and "no store with the id" in r.output

    r = run("user", "set", email, "--password-stdin", stdin="cli-password-2\n")
    assert r.exit_code == 0
    login = httpx.post(f"{gateway_url}/auth/login", json={"email": email, "password": "cli-password-2"})
    assert login.status_code == 200
    token = login.json()["token"]
    stores = httpx.get(f"{gateway_url}/api/stores", params={"select": "id"},
                       headers={"Authorization": f"Bearer {token}"}).json()
    assert f"CLI{tag}" in {s["id"] for s in stores}

    assert run("user", "set", email, "--inactive").exit_code == 0
    r = httpx.get(f"{gateway_url}/api/stores", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert httpx.post(f"{gateway_url}/auth/login", json={"email": email, "password": "cli-password-2"}).status_code == 401
    r = run("user", "set", f"nobody-{tag}@api.test", "--active")
    assert r.exit_code == 1 and "no user with the email" in r.output


def test_analyst_url_logs_in_read_only(running_stack):
    url = run("user", "analyst-url").output.strip()
    with psycopg.connect(url) as conn:
        assert conn.execute("SHOW default_transaction_read_only").fetchone()[0] == "on"
        assert conn.execute("SELECT count(*) >= 0 FROM api.stores").fetchone()[0] is True
