"""Fault: the disk fills up during an upload.

A small tmpfs is mounted and made a tablespace of the test cluster; a throwaway database puts
the loaded tables (or the upload's staging table) there. The upload fails with a message that
says the disk is full, nothing of it is visible, the database stays consistent, and once
there is space again the same upload completes as in a clean run. Needs root (mount); the
tmpfs is always unmounted afterwards.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from fault_helpers import fingerprints, last_json, mangalm, reference, scratch_db, shared_export, staging_tables
from gateway.config import CLUSTER_OS_USER

pytestmark = pytest.mark.slow

BASE = [("DA", 1_000, 41)]
# ~20k lines: ~14 MB as stored lines, ~9 MB staged; the disk has 6 MB.
BIG = [("DB", 10_000, 42), ("DC", 10_000, 42)]
DISK = "6m"


@contextmanager
def small_disk(size: str):
    """A tmpfs of `size` owned by the cluster's OS user; unmounted and removed afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder = Path(tempfile.mkdtemp(prefix="mangalm-disk-", dir="/tmp"))
    folder.chmod(0o755)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        shutil.chown(folder, CLUSTER_OS_USER, CLUSTER_OS_USER)
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)
        folder.rmdir()


@contextmanager
def tablespace(template, folder: Path):
    """A tablespace of the test cluster in `folder`; dropped afterwards (after its databases)."""
    name = f"ts_full_{uuid.uuid4().hex[:8]}"
    admin = (f"postgresql://{template.user}:{template.password}@{template.host}:{template.port}/postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE TABLESPACE {name} LOCATION '{folder}'")
        # Staging tables are created by the pipeline's owner (a security-definer function).
        conn.execute(f"GRANT CREATE ON TABLESPACE {name} TO mangalm_owner")
    try:
        yield name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP TABLESPACE IF EXISTS {name}")


@pytest.fixture(scope="module")
def files():
    return shared_export("disk_base", BASE), shared_export("disk_big", BIG)


def env_for(url: str) -> dict:
    return dict(os.environ, DATABASE_URL=url)


def assert_says_disk_full(text: str) -> None:
    assert "disk is full" in text.lower(), f"the message does not say the disk is full: {text!r}"


def test_disk_full_while_the_job_writes_the_lines(template, files):
    base, big = files
    expected = reference(template, [base, big], "disk_ref")
    with small_disk(DISK) as folder, tablespace(template, folder) as ts, scratch_db(template, "disk_proc") as url:
        env = env_for(url)
        first = mangalm(env, "load", "--wait", "--json", str(base))
        assert first.returncode == 0, first.stderr
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f"ALTER TABLE data.mangalam_invoices SET TABLESPACE {ts}")
            conn.execute(f"ALTER TABLE data.invoice_items SET TABLESPACE {ts}")
            # retries after 0.1 s and 0.2 s instead of 4 s and 8 s
            conn.execute("INSERT INTO data.settings (key, value) VALUES ('ingest_retry_base_seconds', '0.05')")
        before = fingerprints(url)

        out = mangalm(env, "load", "--wait", "--json", str(big))
        assert out.returncode != 0
        assert "Traceback" not in out.stderr, out.stderr
        result = last_json(out.stdout)
        assert result["status"] == "failed"
        assert_says_disk_full(result["message"])
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT status, attempts, message, last_error FROM data.upload_jobs WHERE id = %s",
                               (result["job_id"],)).fetchone()
        assert row[0] == "failed" and row[1] == 3
        assert_says_disk_full(row[2])
        # Nothing of the job is visible, and nothing else changed.
        assert fingerprints(url) == before
        assert staging_tables(url) == 0

        # With space again (the tables back on the big disk), the same upload completes.
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("ALTER TABLE data.mangalam_invoices SET TABLESPACE pg_default")
            conn.execute("ALTER TABLE data.invoice_items SET TABLESPACE pg_default")
        again = mangalm(env, "load", "--wait", "--json", str(big))
        assert again.returncode == 0, again.stderr
        assert last_json(again.stdout)["loaded"] == 20_000
        assert fingerprints(url) == expected


def test_disk_full_while_the_file_is_received(template, files):
    base, big = files
    expected = reference(template, [base, big], "disk_ref")
    with small_disk(DISK) as folder, tablespace(template, folder) as ts, scratch_db(template, "disk_recv") as url:
        env = env_for(url)
        assert mangalm(env, "load", "--wait", "--json", str(base)).returncode == 0
        with psycopg.connect(url, autocommit=True) as conn:
            dbname = conn.info.dbname
            # New sessions (the loader's) create the upload's staging table on the small disk.
            conn.execute(f'ALTER DATABASE "{dbname}" SET default_tablespace = {ts}')
        before = fingerprints(url)

        out = mangalm(env, "load", "--wait", "--json", str(big))
        assert out.returncode != 0
        assert "Traceback" not in out.stderr, out.stderr
        assert_says_disk_full(out.stderr)
        result = last_json(out.stdout)
        assert result["status"] == "failed"
        assert_says_disk_full(result["message"])
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT status, message FROM data.upload_jobs ORDER BY id DESC LIMIT 1").fetchone()
        assert row[0] == "failed"
        assert_says_disk_full(row[1])
        assert fingerprints(url) == before
        assert staging_tables(url) == 0          # the partial staging table is gone: space is free again

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{dbname}" RESET default_tablespace')
        again = mangalm(env, "load", "--wait", "--json", str(big))
        assert again.returncode == 0, again.stderr
        assert fingerprints(url) == expected


def test_an_upload_through_the_front_door_onto_a_full_disk_gets_507(running_stack, gateway_url, token_for, template):
    """POST /uploads while the disk that takes its staging table is full: 507 with a JSON
    error that says so (not "database unreachable"), and nothing changed."""
    source = shared_export("disk_http", [("DH", 10_000, 43)])          # ~4 MB of CSV, more when staged
    url = running_stack.database_url
    with small_disk("3m") as folder, tablespace(template, folder) as ts:
        before = fingerprints(url)
        with psycopg.connect(url, autocommit=True) as conn:
            dbname = conn.info.dbname
            conn.execute(f'ALTER DATABASE "{dbname}" SET default_tablespace = {ts}')
            try:
                with open(source, "rb") as f:
                    r = httpx.post(f"{gateway_url}/uploads", params={"filename": "full.csv"}, content=f,
                                   headers={"Authorization": f"Bearer {token_for('manager')}",
                                            "Content-Type": "text/csv"}, timeout=300)
            finally:
                conn.execute(f'ALTER DATABASE "{dbname}" RESET default_tablespace')
            job = conn.execute("SELECT id, status, message FROM data.upload_jobs WHERE filename = 'full.csv' "
                               "ORDER BY id DESC LIMIT 1").fetchone()
        assert r.status_code == 507, r.text
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["code"] == "DISK_FULL"
        assert_says_disk_full(r.json()["message"])
        assert job[1] == "failed"
        assert_says_disk_full(job[2])
        assert fingerprints(url) == before
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regclass(%s)", (f"staging.upload_{job[0]}",)).fetchone()[0] is None
