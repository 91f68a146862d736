"""mangalm backup / restore: a backup restored into a fresh, empty stack has every table's
rows, checked by count and by a checksum of the content."""
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest

from conftest import PORT_BASE, TEST_PASSWORD, state_home

ROOT = Path(__file__).resolve().parent.parent
BASE = PORT_BASE + 300
MANGALM = [sys.executable, "-m", "cli.main"]


def table_fingerprints(url: str) -> dict[str, tuple[int, str]]:
    """Row count and an order-independent checksum of every table in the data schema."""
    with psycopg.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'data' ORDER BY 1")]
        return {t: conn.execute(
            f"SELECT count(*), coalesce(md5(string_agg(md5(x::text), '' ORDER BY md5(x::text))), '') "
            f"FROM data.{t} x").fetchone() for t in tables}


def run(env, *args, check=True, input=None):
    out = subprocess.run([*MANGALM, *args], env=env, capture_output=True, text=True, timeout=300, input=input)
    if check:
        assert out.returncode == 0, out.stderr
    return out


@pytest.fixture(scope="module")
def fresh_stack():
    home = state_home(f"test-restore-{BASE}")
    shutil.rmtree(home, ignore_errors=True)
    env = {**os.environ, "MANGALM_HOME": str(home), "MANGALM_SUPERUSER_PASSWORD": TEST_PASSWORD,
           "MANGALM_HTTP_PORT": str(BASE + 7), "MANGALM_POSTGREST_PORT": str(BASE + 8),
           "MANGALM_SERVICE_PORT": str(BASE + 9), "MANGALM_POSTGREST_ADMIN_PORT": str(BASE + 10),
           "MANGALM_PG_PORT": str(BASE + 432)}
    env.pop("MANGALM_JWT_SECRET", None)
    run(env, "up", "--detach")
    yield env
    run(env, "down", check=False)
    shutil.rmtree(home, ignore_errors=True)


def test_backup_restores_into_a_fresh_stack(running_stack, fresh_stack, tmp_path):
    source_url = running_stack.database_url
    tag = uuid.uuid4().hex[:8]
    with psycopg.connect(source_url, autocommit=True) as conn:
        conn.execute("INSERT INTO data.stores (id, name, city) VALUES (%s, 'Backup Kirana \"Ω\"', 'Pune')",
                     (f"BK-{tag}",))
        conn.execute("INSERT INTO data.products (product_key, name, unit_price) VALUES (%s, 'Backup Dal', 99.5)",
                     (f"BK-{tag}",))
    file = tmp_path / "mangalm.backup"
    out = run(dict(os.environ), "backup", str(file))
    assert file.exists() and "Wrote" in out.stdout
    assert file.stat().st_mode & 0o777 == 0o600, "a backup is readable by its owner only"

    run(fresh_stack, "restore", "--yes", str(file))
    target_url = f"postgresql://mangalm:{TEST_PASSWORD}@127.0.0.1:{BASE + 432}/mangalm"
    assert table_fingerprints(target_url) == table_fingerprints(source_url)

    # The restored stack serves the restored data through its own front door.
    token = run(fresh_stack, "token", "--role", "manager").stdout.strip()
    r = httpx.get(f"http://127.0.0.1:{BASE + 7}/api/stores?id=eq.BK-{tag}",
                  headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200 and r.json()[0]["city"] == "Pune"
    health = httpx.get(f"http://127.0.0.1:{BASE + 7}/health", timeout=10)
    assert health.status_code == 200, health.text


def test_restoring_a_file_that_is_no_backup_changes_nothing(fresh_stack, tmp_path):
    target_url = f"postgresql://mangalm:{TEST_PASSWORD}@127.0.0.1:{BASE + 432}/mangalm"
    before = table_fingerprints(target_url)
    junk = tmp_path / "junk.backup"
    junk.write_text("this is not a backup\n")
    out = run(fresh_stack, "restore", "--yes", str(junk), check=False)
    assert out.returncode == 1 and "not a backup" in out.stderr and "Traceback" not in out.stderr
    assert table_fingerprints(target_url) == before
    missing = run(fresh_stack, "restore", "--yes", str(tmp_path / "nope"), check=False)
    assert missing.returncode == 1 and "does not exist" in missing.stderr
