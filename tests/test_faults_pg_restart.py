"""Fault: PostgreSQL is restarted (fast shutdown) while an upload streams in, and again while
the retried upload is being processed.

On a stack of its own (`mangalm up` in a fresh state folder; restarting the shared test
cluster would break the rest of the run):
1. `mangalm load --wait --json` reads a file that arrives slowly (a FIFO); PostgreSQL is
   restarted mid-stream. The command fails with a clear message (no traceback), the job ends
   failed ("interrupted ... upload it again"), and nothing of the file is visible.
2. The same file is uploaded again with POST /uploads; PostgreSQL is restarted while the
   service's worker writes the lines. The worker reconnects, the job is retried (attempt 2) and
   completes. Meanwhile the service (/uploads/{id}/rejects.csv, /health) answers 503 JSON instead of hanging.
3. The tables end exactly as after a clean sequential load of the same files, and a reader
   polling the counts throughout saw only the state before or after the upload.
"""
from __future__ import annotations

import os
import random
import shutil
import subprocess
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from conftest import PORT_BASE, TEST_PASSWORD, state_home
from fault_helpers import (MANGALM, ROOT, CountReader, counts, data_lines, fingerprints, last_json, mangalm,
                           reference, shared_export)
from gateway import cluster, tokens
from gateway.config import Settings

pytestmark = pytest.mark.slow

BASE_PORT = PORT_BASE + 400
# The same files as the worker-kill test: one reference run serves both.
BASE = [("KA", 10_000, 3)]
BIG = [("KA", 20_000, 4)] + [(f"K{i}", 20_000, 5) for i in range(1, 5)]


@pytest.fixture(scope="module")
def own_stack():
    home = state_home(f"test-faults-{BASE_PORT}")
    shutil.rmtree(home, ignore_errors=True)
    ports = {"MANGALM_HTTP_PORT": BASE_PORT + 7, "MANGALM_POSTGREST_PORT": BASE_PORT + 8,
             "MANGALM_SERVICE_PORT": BASE_PORT + 9, "MANGALM_POSTGREST_ADMIN_PORT": BASE_PORT + 10,
             "MANGALM_PG_PORT": BASE_PORT + 432}
    env = {**os.environ, "MANGALM_HOME": str(home), "MANGALM_SUPERUSER_PASSWORD": TEST_PASSWORD,
           "MANGALM_UPLOAD_MAX_BYTES": str(1 << 30), "MANGALM_WORKER_POLL": "0.5",
           **{k: str(v) for k, v in ports.items()}}
    env.pop("DATABASE_URL", None)
    env.pop("MANGALM_JWT_SECRET", None)
    up = mangalm(env, "up", "--detach", timeout=300)
    assert up.returncode == 0, up.stderr
    settings = Settings(home=home.resolve(), http_port=ports["MANGALM_HTTP_PORT"],
                        postgrest_port=ports["MANGALM_POSTGREST_PORT"],
                        postgrest_admin_port=ports["MANGALM_POSTGREST_ADMIN_PORT"],
                        service_port=ports["MANGALM_SERVICE_PORT"], pg_port=ports["MANGALM_PG_PORT"],
                        external_database_url=None)
    try:
        yield env, settings
    finally:
        mangalm(env, "down", timeout=300)
        shutil.rmtree(home, ignore_errors=True)


def restart_postgres(settings: Settings) -> None:
    cluster.stop(settings, "fast")
    assert not cluster.is_running(settings)
    cluster.start(settings)


def job_row(url: str, job_id: int) -> dict:
    with psycopg.connect(url) as conn:
        cur = conn.execute("SELECT status, attempts, lines, loaded, rejected, message, last_error "
                           "FROM data.upload_jobs WHERE id = %s", (job_id,))
        return dict(zip([c.name for c in cur.description], cur.fetchone()))


def latest_job(url: str) -> int | None:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT max(id) FROM data.upload_jobs").fetchone()
        return row[0]


def feed_slowly(fifo: Path, source: Path, stop: threading.Event, chunk: int = 128 << 10, pause: float = 0.05):
    """Write `source` into the FIFO a chunk at a time: a file that is still arriving."""
    try:
        with open(fifo, "wb") as out, open(source, "rb") as f:
            while not stop.is_set():
                data = f.read(chunk)
                if not data:
                    return
                out.write(data)
                out.flush()
                time.sleep(pause)
    except (BrokenPipeError, OSError):
        return                      # the reader went away (its upload failed): expected


def test_postgres_restarts_during_an_upload(own_stack, template, tmp_path):
    env, settings = own_stack
    url = settings.database_url
    base = shared_export("kill_base", BASE)
    big = shared_export("kill_big", BIG)
    expected = reference(template, [base, big], "kill_ref")

    first = mangalm(env, "load", "--wait", "--json", str(base))
    assert first.returncode == 0, first.stderr
    before = counts(url)
    before_fp = fingerprints(url)
    reader = CountReader(url)
    reader.start()

    # 1. Restart while the file streams in.
    fifo = tmp_path / "arriving.csv"
    os.mkfifo(fifo)
    stop = threading.Event()
    feeder = threading.Thread(target=feed_slowly, args=(fifo, big, stop), daemon=True)
    feeder.start()
    last_before = latest_job(url) or 0
    load = subprocess.Popen([*MANGALM, "load", "--wait", "--json", str(fifo)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        streaming = None
        while time.monotonic() < deadline and streaming is None:
            with psycopg.connect(url) as conn:
                streaming = conn.execute("SELECT id FROM data.upload_jobs WHERE id > %s AND status = 'receiving' "
                                         "AND lines > 0", (last_before,)).fetchone()
            time.sleep(0.1)
        assert streaming, "the upload never started streaming"
        job_id = streaming[0]
        restart_postgres(settings)
        stdout, stderr = load.communicate(timeout=300)
    finally:
        stop.set()
        if load.poll() is None:
            load.kill()
    assert load.returncode != 0, stdout
    assert "Traceback" not in stderr, stderr
    assert "database" in stderr.lower() and "again" in stderr.lower(), stderr
    result = last_json(stdout)
    assert result["status"] == "failed" and "again" in result["message"]
    # The job whose loader went away is given up by the service's worker; nothing is visible.
    deadline = time.monotonic() + 60
    while job_row(url, job_id)["status"] == "receiving":
        assert time.monotonic() < deadline, "the interrupted upload was never given up"
        time.sleep(0.3)
    row = job_row(url, job_id)
    assert row["status"] == "failed" and "again" in row["message"], row
    assert fingerprints(url) == before_fp
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM pg_tables WHERE schemaname = 'staging'").fetchone()[0] == 0

    # 2. Upload it again through the front door; restart while the worker writes the lines.
    token = tokens.issue(settings, "manager")[0]
    auth = {"Authorization": f"Bearer {token}"}
    with open(big, "rb") as f:
        posted = httpx.post(f"{settings.gateway_url}/uploads", params={"filename": "big.csv"}, content=f,
                            headers={**auth, "Content-Type": "text/csv"}, timeout=600)
    assert posted.status_code == 202, posted.text
    retry_id = posted.json()["job_id"]
    deadline = time.monotonic() + 600
    writing = None
    with psycopg.connect(url, autocommit=True) as conn:
        while writing is None:
            assert time.monotonic() < deadline, "the worker never began writing the lines"
            writing = conn.execute(
                "SELECT a.pid FROM pg_stat_activity a JOIN pg_locks l ON l.pid = a.pid AND l.granted "
                "WHERE a.datname = current_database() AND a.query LIKE '%%process_bulk_upload_complete%%' "
                "AND l.locktype = 'relation' AND l.relation = 'data.mangalam_invoices'::regclass "
                "AND l.mode IN ('RowExclusiveLock', 'AccessExclusiveLock')").fetchone()
            status = conn.execute("SELECT status FROM data.upload_jobs WHERE id = %s", (retry_id,)).fetchone()[0]
            assert status in ("queued", "running"), f"the job ended ({status}) before the restart"
            time.sleep(0.05)
    time.sleep(random.uniform(0.2, 1.0))
    cluster.stop(settings, "fast")
    try:
        # While the database is down, the service says so in JSON instead of hanging.
        down = httpx.get(f"{settings.gateway_url}/uploads/{retry_id}/rejects.csv", headers=auth, timeout=30)
        assert down.status_code == 503 and down.json()["code"] == "DATABASE_UNAVAILABLE", down.text
        health = httpx.get(f"{settings.gateway_url}/health", timeout=30)
        assert health.status_code == 503 and health.json()["components"]["database"]["ok"] is False
    finally:
        cluster.start(settings)
    deadline = time.monotonic() + 900
    while True:
        r = httpx.get(f"{settings.gateway_url}/api/upload_jobs", params={"id": f"eq.{retry_id}"}, headers=auth,
                      timeout=30)
        if r.status_code == 200 and r.json() and r.json()[0]["status"] in ("succeeded", "failed"):
            done = r.json()[0]
            break
        assert time.monotonic() < deadline, f"the retried job did not end: {r.text}"
        time.sleep(0.5)
    time.sleep(0.3)
    seen = reader.stop()

    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2, done
    assert done["loaded"] + done["rejected"] == done["lines"] == data_lines(big)
    assert fingerprints(url) == expected
    after = counts(url)
    assert set(seen) <= {before, after}, f"a reader saw a half-loaded upload: {seen}"
    assert before in seen and after in seen
    assert httpx.get(f"{settings.gateway_url}/health", timeout=30).status_code == 200
