"""First run anywhere: the stack from a checkout inside a folder only root can enter (mode
0700, like /root or a `mktemp -d` folder), and from a wheel installed outside any checkout."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest

from conftest import PORT_BASE, ROOT, TEST_PASSWORD, state_home
from gateway import cluster

BASE = PORT_BASE + 700


def _ports(base: int) -> dict[str, str]:
    return {"MANGALM_PG_PORT": str(base + 432), "MANGALM_HTTP_PORT": str(base + 7),
            "MANGALM_POSTGREST_PORT": str(base + 8), "MANGALM_SERVICE_PORT": str(base + 9),
            "MANGALM_POSTGREST_ADMIN_PORT": str(base + 10)}


def _clean_env(**extra: str) -> dict[str, str]:
    """The caller's environment without the test stack's settings (as a new user would have)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MANGALM_") and k != "DATABASE_URL"}
    env["MANGALM_RATE_LIMIT_EXEMPT"] = "127.0.0.1"
    env.update(extra)
    return env


def copy_checkout(dest: Path) -> Path:
    """The files of this checkout a clone has (git's list), plus the installed web libraries."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for name in filter(None, files.split("\0")):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    shutil.copytree(ROOT / "dashboard" / "public" / "vendor", dest / "dashboard" / "public" / "vendor")
    return dest


def assert_front_door_serves(base_url: str) -> None:
    page = httpx.get(f"{base_url}/", timeout=10)
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert httpx.get(f"{base_url}/app.js", timeout=10).status_code == 200
    docs = httpx.get(f"{base_url}/docs/", timeout=10)
    assert docs.status_code == 200 and "swagger-ui-bundle.js" in docs.text
    assert httpx.get(f"{base_url}/vendor/swagger-ui/swagger-ui-bundle.js", timeout=10).status_code == 200
    health = httpx.get(f"{base_url}/health", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok", health.text


@pytest.fixture
def closed_folder():
    """A folder of mode 0700 owned by the current user, like /root or `mktemp -d`."""
    folder = Path(f"/tmp/mangalm-closed-{uuid.uuid4().hex[:8]}")
    folder.mkdir(mode=0o700)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def test_up_from_a_checkout_in_a_closed_folder(closed_folder):
    checkout = copy_checkout(closed_folder / "mangalm")
    env = _clean_env(PYTHONPATH=str(checkout), **_ports(BASE))
    run = [sys.executable, "-m", "cli.main"]
    status = subprocess.run([*run, "status", "--json"], cwd=checkout, env=env, capture_output=True, text=True)
    home = Path(__import__("json").loads(status.stdout)["home"])
    try:
        if os.geteuid() == 0:
            assert not home.is_relative_to(closed_folder), "as root the state folder lives where the cluster can reach it"
        up = subprocess.run([*run, "up", "--detach"], cwd=checkout, env=env, capture_output=True, text=True, timeout=300)
        assert up.returncode == 0, up.stderr
        assert f"state folder: {home}" in up.stderr
        assert_front_door_serves(f"http://127.0.0.1:{BASE + 7}")
    finally:
        subprocess.run([*run, "down"], cwd=checkout, env=env, capture_output=True, timeout=120)
        shutil.rmtree(home, ignore_errors=True)


def test_an_unreachable_state_folder_gets_a_message_with_the_fix(closed_folder):
    if os.geteuid() != 0:
        pytest.skip("only root hands the state folder to other OS users")
    env = _clean_env(MANGALM_HOME=str(closed_folder / "state"), **_ports(BASE + 50))
    out = subprocess.run([sys.executable, "-m", "cli.main", "up", "--detach"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "out of reach of the OS user 'postgres'" in out.stderr
    assert f"{closed_folder} (mode 700) is closed to it" in out.stderr
    assert "unset MANGALM_HOME" in out.stderr
    assert "Traceback" not in out.stderr


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    """The project built as a wheel (from a clean copy, as `pip install .` would) and installed
    into a fresh virtualenv."""
    work = tmp_path_factory.mktemp("wheel")
    source = copy_checkout(work / "src")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps",
                    "-w", str(work / "dist"), str(source)], check=True, capture_output=True, timeout=300)
    wheel = next((work / "dist").glob("mangalm-*.whl"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    install = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", str(wheel)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr
    migrations = sorted(p.stem for p in (source / "migrations").glob("*.py"))
    shutil.rmtree(source)   # nothing may read the checkout any more
    return venv, migrations


def test_the_wheel_migrates_and_serves_outside_the_checkout(wheel_venv, embedded_cluster, settings, tmp_path):
    venv, migrations = wheel_venv
    name = "wheel_" + uuid.uuid4().hex[:8]
    cluster.ensure_database(settings, name)
    url = settings.url_for("mangalm", TEST_PASSWORD, name)
    mangalm = str(venv / "bin" / "mangalm")
    home = state_home(f"test-wheel-{BASE}")
    # The login roles are cluster-wide: keep the test stack's passwords, or this migrate would
    # give `authenticator`, `analyst` and `mangalm_app` new ones under the running stack's feet.
    env = _clean_env(DATABASE_URL=url, MANGALM_HOME=str(home), PYTHONPATH="",
                     MANGALM_AUTHENTICATOR_PASSWORD=settings.authenticator_password,
                     MANGALM_ANALYST_PASSWORD=settings.analyst_password,
                     MANGALM_APP_PASSWORD=settings.app_password,
                     MANGALM_POSTGREST_BIN=str(ROOT / ".venv" / "bin" / "postgrest"), **_ports(BASE + 100))
    try:
        migrated = subprocess.run([mangalm, "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert migrated.returncode == 0, migrated.stderr
        with psycopg.connect(url) as conn:
            tables = conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'data'").fetchone()[0]
            views = conn.execute("SELECT count(*) FROM pg_views WHERE schemaname = 'api'").fetchone()[0]
            applied = [r[0] for r in conn.execute("SELECT migration_id FROM _yoyo_migration ORDER BY 1")]
        assert tables >= 10 and views >= 10
        assert applied == migrations
        up = subprocess.run([mangalm, "up", "--detach"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert up.returncode == 0, up.stderr
        assert_front_door_serves(f"http://127.0.0.1:{BASE + 107}")
    finally:
        subprocess.run([mangalm, "down"], cwd=tmp_path, env=env, capture_output=True, timeout=120)
        shutil.rmtree(home, ignore_errors=True)
        with psycopg.connect(settings.url_for("mangalm", TEST_PASSWORD, "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
