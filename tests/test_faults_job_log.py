"""Operations: every job event is one JSON line in the service's log (job id, counts,
duration: BULK_UPLOAD_START, PROCESSING_COMPLETE, PROCESSING_FAILED), and GET /health reports
the queue (how many jobs wait, and the oldest one's age)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import httpx
import psycopg

from fault_helpers import ROOT, json_lines, stage

HEAD = "Invoice Date,Invoice Number,Customer ID,Customer Name,Item Name,Quantity,Item Price\n"


def test_the_service_logs_each_job_event_as_one_json_line(running_stack, gateway_url, token_for):
    tag = "JL" + uuid.uuid4().hex[:8].upper()
    body = HEAD + "".join(f"2024-08-0{d},{tag}-{d},{tag}-C,Log Store,Item {d},{d},10\n" for d in range(1, 5))
    body += f"2024-08-31,{tag}-9,{tag}-C,Log Store,Item 9,many,10\n"      # one rejected line
    log = running_stack.log_dir / "service.log"
    offset = log.stat().st_size if log.exists() else 0
    auth = {"Authorization": f"Bearer {token_for('manager')}"}
    r = httpx.post(f"{gateway_url}/uploads", params={"wait": "true", "filename": "log.csv"}, content=body.encode(),
                   headers={**auth, "Content-Type": "text/csv"}, timeout=120)
    assert r.status_code == 200, r.text
    job_id = r.json()["job_id"]
    deadline = time.monotonic() + 30
    while True:
        events = [e for e in json_lines(log, offset) if e.get("job_id") == job_id]
        if any(e["event"] == "PROCESSING_COMPLETE" for e in events) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    by_event = {e["event"]: e for e in events}
    assert {"BULK_UPLOAD_RECEIVED", "BULK_UPLOAD_START", "PROCESSING_COMPLETE"} <= set(by_event), events
    start = by_event["BULK_UPLOAD_START"]
    assert start["lines"] == 5 and start["attempt"] == 1 and start["worker"]
    done = by_event["PROCESSING_COMPLETE"]
    assert (done["lines"], done["loaded"], done["rejected"], done["new_stores"]) == (5, 4, 1, 1)
    assert done["status"] == "succeeded" and done["attempt"] == 1
    assert isinstance(done["duration_ms"], (int, float)) and done["duration_ms"] >= 0
    assert isinstance(done["db_seconds"], (int, float))
    for e in events:
        assert e["ts"].endswith("+00:00") and isinstance(e["job_id"], int)


def test_a_failed_attempt_is_logged_with_its_error(db_url, tmp_path):
    source = tmp_path / "gone.csv"
    source.write_text(HEAD + "2024-08-01,JLF-1,JLF-C,Gone Store,Item,1,10\n")
    received = stage(db_url, source)
    with psycopg.connect(db_url, autocommit=True) as conn:
        # The staged lines vanish (as after a crash of an old server): the attempt fails.
        conn.execute(f"DROP TABLE staging.upload_{received.job_id}")
    out = subprocess.run([sys.executable, "-m", "gateway.worker", "--once", "--job", str(received.job_id)],
                         cwd=ROOT, env=dict(os.environ, DATABASE_URL=db_url), capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    events = [e for e in (_parse(line) for line in out.stdout.splitlines()) if e and e.get("job_id") == received.job_id]
    kinds = [e["event"] for e in events]
    assert kinds == ["BULK_UPLOAD_START", "PROCESSING_FAILED"], events
    failed = events[1]
    assert failed["attempt"] == 1 and failed["status"] == "queued" and failed["will_retry"] is True
    assert "upload the file again" in failed["error"]
    assert isinstance(failed["duration_ms"], (int, float))


def _parse(line: str):
    if not line.startswith("{"):
        return None
    try:
        return json.loads(line)
    except ValueError:
        return None


def test_health_reports_a_waiting_job_and_its_age(running_stack, gateway_url):
    with psycopg.connect(running_stack.database_url, autocommit=True) as conn:
        # A job waiting for its retry (its backoff runs for 10 more minutes), received 30 s ago.
        job_id = conn.execute(
            "INSERT INTO data.upload_jobs (status, filename, source, lines, attempts, run_after, received_at, created_at) "
            "VALUES ('queued', 'health-queue.csv', 'test', 1, 1, now() + interval '10 minutes', "
            "now() - interval '30 seconds', now() - interval '31 seconds') RETURNING id").fetchone()[0]
        try:
            health = httpx.get(f"{gateway_url}/health", timeout=10)
            queue = health.json()["components"]["queue"]
            assert queue["ok"] is True and queue["waiting"] >= 1
            assert queue["oldest_waiting_seconds"] >= 30, queue
        finally:
            conn.execute("DELETE FROM data.upload_jobs WHERE id = %s", (job_id,))
    queue = httpx.get(f"{gateway_url}/health", timeout=10).json()["components"]["queue"]
    assert queue["oldest_waiting_seconds"] is None or queue["oldest_waiting_seconds"] < 30
