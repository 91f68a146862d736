"""Who may do what to accounts and uploads is decided once, in the database: the CLI, the demo
and the API call the same functions (functions/users.sql) and get the same refusals in the
same words; the email rule is one function that the table's constraint calls too; upload jobs
and their rejected lines are read through the api views, where row-level security decides."""
from __future__ import annotations

import json
import uuid

import httpx
import psycopg
import pytest
from click.testing import CliRunner

from cli.main import cli
from gateway.config import ROOT


def run(*args, stdin: str | None = None):
    return CliRunner().invoke(cli, list(args), input=stdin, catch_exceptions=False)


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:8]


def api_create(base: str, admin: str, email: str, password: str, role: str = "manager") -> httpx.Response:
    return httpx.post(f"{base}/api/rpc/create_user", headers=auth(admin), timeout=30,
                      json={"email": email, "password": password, "role": role})


def cli_add(email: str, password: str, role: str = "manager"):
    return run("user", "add", email, "--role", role, "--password-stdin", stdin=password + "\n")


def test_cli_and_api_refuse_the_same_passwords_emails_and_roles_in_the_same_words(gateway_url, token_for, tag):
    admin = token_for("admin")
    for email, password, role in ((f"long-{tag}@api.test", "é" * 36 + "x", "manager"),   # 73 bytes, 37 characters
                                  (f"short-{tag}@api.test", "seven77", "manager"),
                                  (f"no-dot-{tag}@localhost", "good-password", "manager"),
                                  (f"role-{tag}@api.test", "good-password", "superuser")):
        api = api_create(gateway_url, admin, email, password, role)
        assert api.status_code == 400, api.text
        cli = cli_add(email, password, role)
        assert cli.exit_code == 1
        assert cli.stderr.strip() == f"Error: {api.json()['message']}"
        assert cli.stdout == ""
    # Nothing was created by either path.
    listed = run("user", "list", "--json").output
    assert tag not in listed


def test_an_existing_email_is_refused_by_both_in_the_same_words(gateway_url, token_for, tag):
    email = f"twice-{tag}@api.test"
    assert cli_add(email, "good-password").exit_code == 0
    api = api_create(gateway_url, token_for("admin"), email.upper(), "good-password")
    assert api.status_code == 409
    cli = cli_add(email.upper(), "good-password")
    assert cli.exit_code == 1 and cli.stderr.strip() == f"Error: {api.json()['message']}"


def test_store_assignments_pass_the_same_checks_through_the_cli_and_the_api(running_stack, gateway_url,
                                                                         token_for, tag):
    rep, manager = f"rep-{tag}@api.test", f"mgr-{tag}@api.test"
    assert cli_add(rep, "good-password", "sales_rep").exit_code == 0
    assert cli_add(manager, "good-password", "manager").exit_code == 0
    store = f"RULES-{tag}"
    with psycopg.connect(running_stack.database_url, autocommit=True) as conn:
        conn.execute("INSERT INTO data.stores (id, name) VALUES (%s, 'Rules store')", (store,))
        ids = dict(conn.execute("SELECT email, id::text FROM data.users WHERE email IN (%s, %s)", (rep, manager)))
    token = token_for("manager")

    def api_assign(email: str, store_id: str) -> httpx.Response:
        return httpx.post(f"{gateway_url}/api/store_assignments", headers=auth(token), timeout=30,
                          json={"store_id": store_id, "user_id": ids[email]})

    for email, store_id, status in ((rep, f"{store}-missing", 409), (manager, store, 422)):
        api = api_assign(email, store_id)
        assert api.status_code == status, api.text
        cli = run("user", "assign", email, store_id)
        assert cli.exit_code == 1
        assert cli.stderr.strip() == f"Error: {api.json()['message']}"
    # Both accept a rep and a real store.
    assert run("user", "assign", rep, store).exit_code == 0
    assert api_assign(rep, store).status_code == 409      # already assigned: the primary key says so
    assert run("user", "list", "--json").exit_code == 0


@pytest.mark.parametrize("address", ["a@b", "name@localhost", "a b@c.d", "a@b@c.d", "@b.c", "x@y.", "ok@shop.in",
                                     "First.Last+tag@sub.example.org"])
def test_one_email_rule_for_the_table_the_functions_the_cli_and_the_api(running_stack, gateway_url, token_for,
                                                                       tag, address):
    with psycopg.connect(running_stack.database_url, autocommit=True) as conn:
        rule = conn.execute("SELECT app.is_email(%s)", (address,)).fetchone()[0]
        # The table's constraint, written straight as the superuser (no function, no trigger).
        try:
            with conn.transaction():
                conn.execute("INSERT INTO data.users (email, password_hash, role) VALUES (%s, 'x', 'manager')",
                             (address,))
                raise _Rollback
        except psycopg.errors.CheckViolation:
            table = False
        except _Rollback:
            table = True
    # A new, unique account per path: the tag goes before the @ (where no rule looks).
    email = address.replace("@", f"{tag}@", 1) if not address.startswith("@") else address
    cli = cli_add(email, "good-password")
    api = api_create(gateway_url, token_for("admin"), email.replace(tag, tag[::-1]), "good-password")
    assert table == rule == (cli.exit_code == 0) == (api.status_code == 200), (table, rule, cli.output, api.text)


def test_cli_and_patch_api_users_refuse_a_role_in_the_same_words(gateway_url, token_for, tag):
    email = f"patch-{tag}@api.test"
    assert cli_add(email, "good-password").exit_code == 0
    api = httpx.patch(f"{gateway_url}/api/users", params={"email": f"eq.{email}"}, json={"role": "boss"},
                      headers=auth(token_for("admin")), timeout=30)
    assert api.status_code == 400, api.text
    cli = run("user", "set", email, "--role", "boss")
    assert cli.exit_code == 1 and cli.stderr.strip() == f"Error: {api.json()['message']}"
    # A refused password leaves the rest of `user set` undone too (one transaction).
    cli = run("user", "set", email, "--role", "admin", "--password-stdin", stdin="short\n")
    assert cli.exit_code == 1 and "at least 8 characters" in cli.stderr
    listed = [json.loads(line) for line in run("user", "list", "--json").stdout.splitlines()]
    assert next(u for u in listed if u["email"] == email)["role"] == "manager"


def test_migration_0005_keeps_an_existing_account_whose_email_breaks_the_rule(embedded_cluster, settings):
    """An upgrade never fails on old data: the account stays, the constraint is left NOT VALID
    (checked on every new write) until its email is corrected."""
    from gateway import cluster
    from gateway.migrate import migrate

    name = "rules_" + uuid.uuid4().hex[:8]
    cluster.ensure_database(settings, name)
    url = settings.url_for("mangalm", settings.superuser_password, name)
    try:
        migrate(settings, url=url, upto="0003_store_preferences")
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("INSERT INTO data.users (email, password_hash, role) VALUES ('old@localhost', 'x', 'admin')")
        migrate(settings, url=url)
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT convalidated FROM pg_constraint WHERE conname = 'users_email_check'"
                                ).fetchone()[0] is False
            with pytest.raises(psycopg.errors.CheckViolation):
                conn.execute("INSERT INTO data.users (email, password_hash, role) VALUES ('new@localhost', 'x', 'admin')")
            assert conn.execute("SELECT count(*) FROM data.users").fetchone()[0] == 1
    finally:
        with psycopg.connect(settings.url_for("mangalm", settings.superuser_password, "postgres"),
                             autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class _Rollback(Exception):
    pass


def test_the_admin_functions_are_the_operators_not_the_api_roles(running_stack):
    """mangalm_app (the operator's login) may call them; no API role may, even an admin."""
    with psycopg.connect(running_stack.database_url) as conn:
        for role in ("mangalm_app", "admin", "manager", "sales_rep", "anon"):
            allowed = conn.execute("SELECT has_function_privilege(%s, 'app.add_user(text, text, text, text, text, "
                                   "boolean)', 'EXECUTE')", (role,)).fetchone()[0]
            assert allowed == (role == "mangalm_app"), role
        conn.execute("SET ROLE admin")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT app.set_password('x@y.z', 'whatever-password')")


def upload_with_rejects(base: str, token: str, tag: str) -> int:
    body = ("Invoice Date,Invoice Number,Customer ID,Customer Name,Item Name,Quantity,Item Price\n"
            f"not a date,{tag}-1,{tag}-C,Store,Item,1,10\n")
    r = httpx.post(f"{base}/uploads", params={"wait": "true"}, content=body.encode(), timeout=120,
                   headers={**auth(token), "Content-Type": "text/csv"})
    assert r.status_code == 200 and r.json()["rejected"] == 1, r.text
    return r.json()["id"]


def test_row_level_security_decides_who_reads_upload_jobs_and_rejects(running_stack, gateway_url, token_for, tag):
    manager, rep = token_for("manager"), token_for("sales_rep")
    job = upload_with_rejects(gateway_url, manager, tag)
    csv_url = f"{gateway_url}/uploads/{job}/rejects.csv"

    def reads(token: str) -> tuple:
        jobs = httpx.get(f"{gateway_url}/api/upload_jobs", params={"id": f"eq.{job}"}, headers=auth(token))
        rejects = httpx.get(f"{gateway_url}/api/upload_rejects", params={"job_id": f"eq.{job}"}, headers=auth(token))
        got = httpx.get(csv_url, headers=auth(token))
        return (jobs.status_code, len(jobs.json()) if jobs.status_code == 200 else None,
                rejects.status_code, len(rejects.json()) if rejects.status_code == 200 else None,
                got.status_code, got.text.count("\n") if got.status_code == 200 else None)

    assert reads(manager) == (200, 1, 200, 1, 200, 2)       # the CSV: a header and the rejected line
    assert reads(rep) == (403, None, 403, None, 403, None)
    # Change the policy, not the code: managers no longer see uploads. The API and the service's
    # CSV both follow at once, so the database decides (not a role check in Python).
    with psycopg.connect(running_stack.database_url, autocommit=True) as conn:
        try:
            conn.execute('ALTER POLICY "Managers and admins see every upload" ON data.upload_jobs TO admin, analyst')
            assert reads(manager) == (200, 0, 200, 0, 404, None)
            assert reads(token_for("admin"))[:4] == (200, 1, 200, 1)
        finally:
            conn.execute((ROOT / "db" / "policies.sql").read_text())
    assert reads(manager) == (200, 1, 200, 1, 200, 2)


def test_cli_reads_jobs_and_rejects_through_the_api_views(running_stack, gateway_url, token_for, tag):
    job = upload_with_rejects(gateway_url, token_for("manager"), tag)
    r = run("rejects", str(job))
    assert r.exit_code == 0 and "not a date" in r.stdout
    assert job in [j["job_id"] for j in json.loads(run("jobs", "--json").stdout)]
    # The operator's login (mangalm_app, which the commands use once they stop logging in as
    # the superuser) reads the same views; its policies let it see every upload.
    with psycopg.connect(running_stack.database_url) as conn:
        conn.execute("SET ROLE mangalm_app")
        assert conn.execute("SELECT count(*) FROM api.upload_jobs WHERE id = %s", (job,)).fetchone()[0] == 1
        assert conn.execute("SELECT reason FROM api.upload_rejects WHERE job_id = %s", (job,)).fetchone()[0]
        assert conn.execute("SELECT count(*) FROM app.user_list()").fetchone()[0] > 0
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT count(*) FROM data.users")
