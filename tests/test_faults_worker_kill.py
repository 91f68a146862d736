"""Fault: the worker process is killed (SIGKILL) in the middle of a large upload, once on each
of the pipeline's two paths (bulk: the upload is at least as large as the history; incremental).

The job is retried by the next worker and completes; no line is missing or doubled (the
tables end exactly as after a clean sequential load of the same files); readers polling the
counts during the job saw only the state before the job or after it, never a half-loaded one;
the keys and indexes are the same after the kill.
"""
from __future__ import annotations

import random
import signal
import time

import psycopg
import pytest

from fault_helpers import (CountReader, backend_gone, counts, data_lines, fingerprints, job, json_lines,
                           keys_and_indexes, load, reference, scratch_db, shared_export, stage, start_worker,
                           stop_process, wait_for_job)

pytestmark = pytest.mark.slow

# A 10k-line history and a 100k-line upload; 20k of its lines correct invoices of the history
# (same numbers, other content), the rest are new. 100k onto 10k takes the bulk path (keys and
# indexes dropped and rebuilt inside the job's transaction), the riskiest place to die.
BASE = [("KA", 10_000, 3)]
BIG = [("KA", 20_000, 4)] + [(f"K{i}", 20_000, 5) for i in range(1, 5)]
# The history is then 100k lines (BIG's 20k KA lines replaced the 10k of BASE). Another 80k
# lines onto it (correcting KA once more) are fewer than the history: the incremental path.
BIG2 = [("KA", 20_000, 6)] + [(f"K{i}", 20_000, 7) for i in range(5, 8)]

WRITING_SQL = """
SELECT a.pid FROM pg_stat_activity a
JOIN pg_locks l ON l.pid = a.pid AND l.granted AND l.locktype = 'relation'
WHERE a.datname = current_database() AND a.state = 'active'
  AND a.query LIKE '%%process_bulk_upload_complete%%'
  AND l.relation = 'data.mangalam_invoices'::regclass
  AND l.mode IN ('RowExclusiveLock', 'AccessExclusiveLock')
LIMIT 1"""


def wait_until_writing(url: str, job_id: int, timeout: float = 600) -> int:
    """The backend pid of the worker once its job has begun writing mangalam_invoices."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            got = conn.execute(WRITING_SQL).fetchone()
            if got:
                return got[0]
            status = conn.execute("SELECT status FROM data.upload_jobs WHERE id = %s", (job_id,)).fetchone()[0]
            assert status in ("queued", "running"), f"job {job_id} ended ({status}) before the worker was killed"
            time.sleep(0.05)
    raise AssertionError("the worker never began writing the job's lines")


def kill_mid_job_then_retry(url: str, path, logs) -> tuple[dict, dict, tuple, tuple]:
    """Stage `path`, let a worker process begin writing its lines, SIGKILL it, check that
    nothing of the job is visible, let a second worker retry it; returns (the job's row, the
    counts a reader saw, the counts before, the counts after)."""
    before = counts(url)
    before_fp = fingerprints(url)
    with psycopg.connect(url) as conn:
        shape = keys_and_indexes(conn)
    received = stage(url, path)

    reader = CountReader(url)
    reader.start()
    first = start_worker(url, logs / f"worker-{received.job_id}-1.log")
    try:
        backend = wait_until_writing(url, received.job_id)
        time.sleep(random.uniform(0.2, 1.5))   # somewhere in the middle of the writing
        assert job(url, received.job_id)["status"] == "running", "the job ended before the kill"
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        stop_process(first, signal.SIGKILL)
    # The server ends the dead worker's transaction (client_connection_check_interval).
    assert backend_gone(url, backend), "the killed worker's transaction was not rolled back"

    row = job(url, received.job_id)
    assert (row["status"], row["attempts"]) == ("running", 1)
    assert fingerprints(url) == before_fp, "the killed job left some of its data behind"
    with psycopg.connect(url) as conn:
        assert keys_and_indexes(conn) == shape, "keys or indexes the bulk load dropped are missing"
        assert conn.execute("SELECT count(*) FROM data.upload_rejects WHERE job_id = %s",
                            (received.job_id,)).fetchone()[0] == 0

    # The next worker finds the job nobody holds and runs it again.
    log2 = logs / f"worker-{received.job_id}-2.log"
    second = start_worker(url, log2)
    try:
        row = wait_for_job(url, received.job_id)
        # (the worker logs the job's end just after its commit: wait for the line, then stop it)
        deadline = time.monotonic() + 30
        while not any(e.get("job_id") == received.job_id and e["event"] == "PROCESSING_COMPLETE"
                      for e in json_lines(log2)) and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop_process(second)
    time.sleep(0.3)                          # let the reader see the final state
    seen = reader.stop()
    assert reader.reads > 10

    assert row["status"] == "succeeded", row
    assert row["attempts"] == 2
    assert row["loaded"] + row["rejected"] == row["lines"] == data_lines(path)
    with psycopg.connect(url) as conn:
        assert keys_and_indexes(conn) == shape
        dup = conn.execute("SELECT count(*) - count(DISTINCT (invoice_number, line_no)) "
                           "FROM data.mangalam_invoices").fetchone()[0]
        assert dup == 0

    # The second worker logged the job's events as JSON lines.
    events = [e for e in json_lines(log2) if e.get("job_id") == received.job_id]
    kinds = [e["event"] for e in events]
    assert "BULK_UPLOAD_START" in kinds and "PROCESSING_COMPLETE" in kinds, events
    done = next(e for e in events if e["event"] == "PROCESSING_COMPLETE")
    assert done["attempt"] == 2 and done["loaded"] == row["loaded"] and done["lines"] == row["lines"]
    return row, seen, before, counts(url)


def test_a_worker_killed_mid_upload_leaves_nothing_and_the_retry_completes(template, tmp_path):
    base = shared_export("kill_base", BASE)
    big = shared_export("kill_big", BIG)
    big2 = shared_export("kill_big2", BIG2)
    after_big = reference(template, [base, big], "kill_ref")
    after_big2 = reference(template, [base, big, big2], "kill_ref2")

    with scratch_db(template, "kill") as url:
        assert load(url, base)["status"] == "succeeded"

        # 100k lines onto 10k: the bulk path (a job bigger than the history; keys and indexes
        # stay in place, so readers never wait for it).
        row, seen, before, after = kill_mid_job_then_retry(url, big, tmp_path)
        assert row["timings"]["path"] == "bulk"
        assert fingerprints(url) == after_big, "the retried job did not end like a clean sequential load"
        # Readers saw the data before the job or after it, nothing in between.
        assert set(seen) <= {before, after}, f"a reader saw a half-loaded job: {seen} (before {before}, after {after})"
        assert before in seen and after in seen

        # 80k lines onto 100k: the incremental path (keys in place; readers are not blocked,
        # they read the snapshot before the job's commit).
        row, seen, before, after = kill_mid_job_then_retry(url, big2, tmp_path)
        assert row["timings"]["path"] == "incremental"
        assert fingerprints(url) == after_big2, "the retried job did not end like a clean sequential load"
        assert set(seen) <= {before, after}, f"a reader saw a half-loaded job: {seen} (before {before}, after {after})"
        assert before in seen and after in seen
