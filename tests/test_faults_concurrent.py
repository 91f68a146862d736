"""Fault: two uploads with overlapping invoices at once.

"Later" means the upload created later (the higher job id). Whatever order the two jobs are
picked up and finished in, the tables end exactly as after loading the earlier file and then
the later one, and no deadlock or serialization error reaches the user.
"""
from __future__ import annotations

import os
import subprocess
import threading
import time

import psycopg
import pytest

from fault_helpers import (MANGALM, ROOT, fingerprints, last_json, load, reference, scratch_db, settings_for,
                           shared_export, stage)
from gateway import worker

pytestmark = pytest.mark.slow

# Both files rewrite invoices OV-000001... (the same numbers, other lines, names and prices:
# another seed) and each has invoices of its own; so A-then-B and B-then-A differ.
FILE_A = [("OV", 3_000, 31), ("OA", 1_000, 33)]
FILE_B = [("OV", 3_000, 32), ("OB", 1_000, 34)]


@pytest.fixture(scope="module")
def files():
    return shared_export("overlap_a", FILE_A), shared_export("overlap_b", FILE_B)


@pytest.fixture(scope="module")
def expected(template, files):
    a, b = files
    a_then_b = reference(template, [a, b], "ov_ab")
    b_then_a = reference(template, [b, a], "ov_ba")
    # The files must tell the order apart, or the tests below would prove nothing.
    assert a_then_b != b_then_a
    return {"ab": a_then_b, "ba": b_then_a}


def test_the_later_upload_wins_even_when_its_worker_starts_first(template, files, expected):
    """The adversarial order: the later job's worker starts first and the earlier job's
    worker a moment later. The later job must still be applied last."""
    a, b = files
    with scratch_db(template, "ov_race") as url:
        first = stage(url, a)
        second = stage(url, b)
        assert first.job_id < second.job_id
        results: dict[str, dict] = {}
        errors: list[BaseException] = []

        def run(name: str, job_id: int) -> None:
            try:
                results[name] = worker.process_job(settings_for(url), job_id, url=url, timeout=600)
            except BaseException as e:  # noqa: BLE001 - reported by the assertion below
                errors.append(e)

        later = threading.Thread(target=run, args=("b", second.job_id))
        later.start()
        time.sleep(0.5)
        earlier = threading.Thread(target=run, args=("a", first.job_id))
        earlier.start()
        for t in (later, earlier):
            t.join(600)
        assert not errors, errors
        assert results["a"]["status"] == results["b"]["status"] == "succeeded", results
        assert results["a"]["attempts"] == results["b"]["attempts"] == 1, "a job failed and was retried"
        with psycopg.connect(url) as conn:
            done = dict(conn.execute("SELECT id, finished_at FROM data.upload_jobs WHERE id IN (%s, %s)",
                                     (first.job_id, second.job_id)).fetchall())
        assert done[first.job_id] < done[second.job_id], "the later job was applied first"
        assert fingerprints(url) == expected["ab"]


def test_two_mangalm_loads_at_once_equal_loading_one_after_the_other(template, files, expected):
    """Two `mangalm load --wait --json` started at the same moment, no worker running."""
    a, b = files
    with scratch_db(template, "ov_cli") as url:
        env = dict(os.environ, DATABASE_URL=url)
        procs = {name: subprocess.Popen([*MANGALM, "load", "--wait", "--json", str(path)], cwd=ROOT, env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for name, path in (("a", a), ("b", b))}
        out = {name: p.communicate(timeout=600) for name, p in procs.items()}
        for name, p in procs.items():
            stdout, stderr = out[name]
            assert p.returncode == 0, f"mangalm load {name} failed:\n{stdout}\n{stderr}"
            assert "deadlock" not in (stdout + stderr).lower()
            assert "could not serialize" not in (stdout + stderr).lower()
        jobs = {name: last_json(out[name][0]) for name in procs}
        for name, result in jobs.items():
            assert result["status"] == "succeeded" and result["rejected"] == 0, result
            assert result["loaded"] == result["lines"] == 4_000
        order = "ab" if jobs["a"]["job_id"] < jobs["b"]["job_id"] else "ba"
        assert fingerprints(url) == expected[order]


def test_a_waiting_load_runs_the_earlier_upload_first_when_no_worker_runs(template, files, expected):
    """An earlier upload was only queued (`mangalm load` without --wait) and no worker runs:
    `mangalm load --wait` of a later file runs the earlier job first, then its own, instead of
    waiting for ever behind it."""
    a, b = files
    with scratch_db(template, "ov_wait") as url:
        queued = stage(url, a)
        out = subprocess.run([*MANGALM, "load", "--wait", "--json", str(b)], cwd=ROOT,
                             env=dict(os.environ, DATABASE_URL=url), capture_output=True, text=True, timeout=300)
        assert out.returncode == 0, out.stderr
        assert last_json(out.stdout)["status"] == "succeeded"
        with psycopg.connect(url) as conn:
            status = conn.execute("SELECT status FROM data.upload_jobs WHERE id = %s", (queued.job_id,)).fetchone()[0]
        assert status == "succeeded"
        assert fingerprints(url) == expected["ab"]


READ_PATTERNS = [
    # An API request that reads products, then (later in its transaction) invoice items, and
    # the reverse: the orders in which PostgREST's embedded selects and RPC functions lock them.
    ("SELECT count(*) FROM data.products", "SELECT count(*) FROM data.invoice_items"),
    ("SELECT count(*) FROM data.invoice_items", "SELECT count(*) FROM data.products"),
    ("SELECT count(*) FROM data.orders", "SELECT count(*) FROM data.invoice_items"),
]


def test_a_bulk_load_beside_long_reads_deadlocks_nobody(template):
    """A bulk load (the upload is larger than the history) while read transactions hold and
    then take more of the same tables: no reader
    gets "deadlock detected", the job does not lose an attempt, and the result is as without
    readers."""
    base = shared_export("dl_base", [("DL", 1_000, 51)])
    big = shared_export("dl_big", [("DL", 6_000, 52), ("DM", 6_000, 52)])
    expected_fp = reference(template, [base, big], "dl_ref")
    with scratch_db(template, "deadlock") as url:
        assert load(url, base)["status"] == "succeeded"
        received = stage(url, big)
        stop = threading.Event()
        errors: list[str] = []
        reads = [0]

        def reader(first: str, second: str) -> None:
            with psycopg.connect(url) as conn:
                while not stop.is_set():
                    try:
                        with conn.transaction():
                            conn.execute(first)
                            time.sleep(0.15)
                            conn.execute(second)
                        reads[0] += 1
                    except psycopg.Error as e:
                        errors.append(f"{type(e).__name__}: {e}")
                    time.sleep(0.01)

        threads = [threading.Thread(target=reader, args=p, daemon=True) for p in READ_PATTERNS * 2]
        for t in threads:
            t.start()
        time.sleep(0.5)
        try:
            row = worker.process_job(settings_for(url), received.job_id, url=url, timeout=300)
        finally:
            stop.set()
            for t in threads:
                t.join(30)
        assert reads[0] > 0
        assert not errors, errors[:3]
        assert row["status"] == "succeeded" and row["attempts"] == 1, (row["attempts"], row["last_error"])
        assert fingerprints(url) == expected_fp


READER_TABLES = ("data.mangalam_invoices", "data.invoice_items", "data.orders", "data.products", "data.stores",
                 "api.stores", "api.dashboard_summary")


def test_no_load_holds_a_lock_readers_wait_for(template):
    """Readers never wait on a load: while a bulk load (larger than the history) runs, every
    table and API view it writes stays readable within 200 ms (lock_timeout), and the readers
    see the state before the job, then after it."""
    base = shared_export("rl_base", [("RL", 1_000, 61)])
    big = shared_export("rl_big", [("RL", 15_000, 62), ("RM", 15_000, 62)])
    with scratch_db(template, "readers") as url:
        assert load(url, base)["status"] == "succeeded"
        received = stage(url, big)
        before = fingerprints(url)
        done = threading.Event()
        result: dict = {}

        def run() -> None:
            try:
                result["row"] = worker.process_job(settings_for(url), received.job_id, url=url, timeout=600)
            finally:
                done.set()

        job = threading.Thread(target=run, daemon=True)
        job.start()
        timeouts: list[str] = []
        reads = during = 0
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '200ms'")
            while not done.is_set():
                running = conn.execute("SELECT status = 'running' FROM data.upload_jobs WHERE id = %s",
                                       (received.job_id,)).fetchone()[0]
                for table in READER_TABLES:
                    try:
                        conn.execute(f"SELECT count(*) FROM (SELECT * FROM {table} LIMIT 50) q").fetchone()
                        reads += 1
                    except psycopg.errors.LockNotAvailable as e:
                        timeouts.append(f"{table}: {e}")
                during += running
                time.sleep(0.02)
        job.join(60)
        assert result["row"]["status"] == "succeeded", result["row"]["last_error"]
        assert result["row"]["timings"]["path"] == "bulk"
        assert not timeouts, timeouts[:3]
        assert during >= 3 and reads >= 3 * len(READER_TABLES), (during, reads)
        assert fingerprints(url) != before
