"""Test harness: a real PostgreSQL 15 (the same embedded cluster manager `mangalm up` uses),
migrated once into a template database and cloned per test module; pgTAP files under tests/
run in the same pytest call; HTTP tests start the real PostgREST, service and nginx.

The test stack lives in the state folder named `test` (gateway.config.state_dir) on ports
13xxx (MANGALM_TEST_PORT_BASE moves them), so it never touches a running demo.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import psycopg
import pytest
from pytest_postgresql import factories
from pytest_postgresql.janitor import DatabaseJanitor

ROOT = Path(__file__).resolve().parent.parent
TEST_PASSWORD = "mangalm-test-only"  # a throwaway cluster on loopback

from gateway.config import state_dir  # noqa: E402  (reads no settings at import)


def state_home(name: str) -> Path:
    """A state folder for a test's own stack, where `mangalm` itself would put one named so:
    beside the checkout's .mangalm, or as root under /var/lib/mangalm (gateway/config.py)."""
    return state_dir(name)


# MANGALM_TEST_PORT_BASE lets several test runs share the machine (each its own cluster).
PORT_BASE = int(os.environ.get("MANGALM_TEST_PORT_BASE", "13000"))
TEST_ENV = {
    "MANGALM_HOME": str(state_home("test" if PORT_BASE == 13000 else f"test-{PORT_BASE}")),
    "MANGALM_PG_PORT": str(PORT_BASE + 432),
    "MANGALM_HTTP_PORT": str(PORT_BASE + 7),
    "MANGALM_POSTGREST_PORT": str(PORT_BASE + 8),
    "MANGALM_SERVICE_PORT": str(PORT_BASE + 9),
    "MANGALM_POSTGREST_ADMIN_PORT": str(PORT_BASE + 10),
    "MANGALM_SUPERUSER_PASSWORD": TEST_PASSWORD,
    # The whole suite talks to one stack from 127.0.0.1, far above nginx's 100 requests a
    # minute; the rate limit itself is proved on a separate nginx (tests/test_api_gateway.py).
    "MANGALM_RATE_LIMIT_EXEMPT": "127.0.0.1",
}
# Set before gateway is imported anywhere, so every Settings.from_env() sees the test stack.
os.environ.update(TEST_ENV)
os.environ.pop("DATABASE_URL", None)

from gateway import cluster, stack  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.migrate import migrate  # noqa: E402


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
def embedded_cluster(settings, request):
    """The test cluster, new for every run (a run starts from nothing, whatever an earlier run
    of the same checkout left), stopped at the end and its state folder removed when every test
    passed (kept, logs included, when one failed). A cluster already running (started by hand
    with the test settings) is used as it is and left running."""
    was_running = cluster.is_running(settings)
    if not was_running:
        shutil.rmtree(settings.home, ignore_errors=True)
    cluster.start(settings)
    yield settings
    if not was_running:
        stack.stop(settings)
        if request.session.testsfailed == 0:
            shutil.rmtree(settings.home, ignore_errors=True)


def load_schema(host, port, user, dbname, password, **_):
    """pytest-postgresql loader: migrate the template database, and add pgTAP for tests."""
    s = Settings.from_env()
    url = f"postgresql://{user}:{password}@{host}:{port}/{dbname}"
    migrate(s, url=url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pgtap")
        # Our default privileges revoke EXECUTE from PUBLIC; tests impersonate roles with
        # SET LOCAL role and still need pgTAP's assertion functions.
        conn.execute("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO PUBLIC")


# pytest-postgresql in no-process mode over our own cluster (its process mode would run
# initdb as the current user, which PostgreSQL refuses when that user is root).
postgresql_template = factories.postgresql_noproc(
    host="127.0.0.1", port=int(TEST_ENV["MANGALM_PG_PORT"]), user="mangalm", password=TEST_PASSWORD,
    dbname="mangalm_test", load=[load_schema])


@pytest.fixture(scope="session")
def template(embedded_cluster, request):
    """The migrated template database (created once per run)."""
    return request.getfixturevalue("postgresql_template")


def _clone(template, name: str):
    janitor = DatabaseJanitor(user=template.user, host=template.host, port=template.port,
                              dbname=name, template_dbname=template.template_dbname,
                              password=template.password)
    janitor.init()
    url = f"postgresql://{template.user}:{template.password}@{template.host}:{template.port}/{name}"
    # A database's own privileges are not copied from its template; migrate sets them on the
    # database it migrates (db/grants.sql), so a clone gets them here.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'REVOKE TEMPORARY ON DATABASE "{name}" FROM PUBLIC; '
                     f'GRANT TEMPORARY ON DATABASE "{name}" TO mangalm_owner')
    return janitor, url


@pytest.fixture(scope="module")
def db_url(template, request) -> str:
    """A fresh clone of the migrated template for this test module; its URL (superuser)."""
    name = "t_" + request.module.__name__.split(".")[-1][:40] + "_" + uuid.uuid4().hex[:6]
    janitor, url = _clone(template, name)
    yield url
    janitor.drop()


@pytest.fixture
def conn(db_url):
    """An autocommit connection to the module's database, as the owner."""
    with psycopg.connect(db_url, autocommit=True) as c:
        yield c


@pytest.fixture(scope="session")
def pgtap_connection(template):
    """pytest-pgtap's connection: a clone of the template; each .sql file rolls itself back."""
    janitor, url = _clone(template, "t_pgtap_" + uuid.uuid4().hex[:6])
    with psycopg.connect(url) as c:
        yield c
    janitor.drop()


@pytest.fixture(scope="session")
def running_stack(embedded_cluster, settings):
    """The whole stack (PostgREST, service, nginx) over the test cluster's `mangalm` database.

    Data written through it is shared by the session: tests make their own rows (unique ids).
    """
    cluster.ensure_database(settings, "mangalm")
    stack.start(settings)
    yield settings
    stack.stop(settings, only=[p.name for p in stack.PROCESSES])


@pytest.fixture(scope="session")
def gateway_url(running_stack) -> str:
    return running_stack.gateway_url


@pytest.fixture(scope="session")
def token_for(running_stack):
    """token_for(role, user_id=None) -> a signed JWT for the test stack."""
    from gateway import tokens

    def make(role: str, user_id: str | None = None, **kw) -> str:
        return tokens.issue(running_stack, role, user_id, **kw)[0]
    return make
