"""Jobs: idempotent re-upload, corrections, dry runs, retries with backoff, a worker killed
mid-job, uploads at the same time, and the events a job publishes."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import psycopg
import pytest

from gateway import worker
from gateway.generate import generate_text
from ingest_helpers import ingest, lines, rejects, rows, settings_for, snapshot, stage


def generated(n: int, prefix: str, **kw) -> bytes:
    """A generated export whose invoice numbers start with `prefix` (so files do not overlap)."""
    return generate_text(n, **kw).replace(",INV-", f",{prefix}-").encode()


def test_the_same_file_twice_changes_nothing(conn, db_url):
    first = ingest(db_url, "basic.csv")
    before = snapshot(conn)
    second = ingest(db_url, "basic.csv")
    assert second["status"] == "succeeded" and (second["new_stores"], second["new_products"]) == (0, 0)
    after = snapshot(conn)
    assert after == before            # orders, stores and products not even touched (updated_at)
    assert first["loaded"] == second["loaded"] == 3


def test_a_corrected_invoice_replaces_its_earlier_lines(conn, db_url):
    ingest(db_url, "basic.csv")
    job = ingest(db_url, "basic_corrected.csv")
    assert job["status"] == "succeeded"
    got = rows(conn, "SELECT line_no, quantity, item_total FROM data.mangalam_invoices "
                     "WHERE invoice_number = 'FX-B-001' ORDER BY line_no")
    assert [(r["line_no"], int(r["quantity"])) for r in got] == [(1, 4)]
    order = rows(conn, "SELECT id, total_amount, item_count FROM data.orders WHERE invoice_number = 'FX-B-001'")[0]
    assert (str(order["total_amount"]), order["item_count"]) == ("1050.00", 1)
    assert rows(conn, "SELECT count(*) AS n FROM data.invoice_items WHERE order_id = %s", order["id"])[0]["n"] == 1
    # The other invoice of the first file is untouched.
    assert rows(conn, "SELECT count(*) AS n FROM data.mangalam_invoices WHERE invoice_number = 'FX-B-002'")[0]["n"] == 1


def test_an_invoice_moved_to_another_store_updates_both_stores(conn, db_url):
    head = "Invoice Date,Invoice Number,Customer ID,Customer Name,Item Name,Quantity,Item Price\n"
    ingest(db_url, head + "2024-06-01,FX-MOVE-1,FX-MV1,Old Store,Thing,1,10\n")
    assert rows(conn, "SELECT last_order_date FROM data.stores WHERE id = 'FX-MV1'")[0]["last_order_date"] is not None
    ingest(db_url, head + "2024-06-01,FX-MOVE-1,FX-MV2,New Store,Thing,1,10\n")
    stores = {r["id"]: r["last_order_date"] for r in
              rows(conn, "SELECT id, last_order_date FROM data.stores WHERE id IN ('FX-MV1', 'FX-MV2')")}
    assert stores["FX-MV1"] is None and stores["FX-MV2"] is not None
    assert rows(conn, "SELECT store_id FROM data.orders WHERE invoice_number = 'FX-MOVE-1'")[0]["store_id"] == "FX-MV2"


def test_a_dry_run_writes_nothing_but_the_report(conn, db_url):
    before = snapshot(conn)
    job = ingest(db_url, "bad_lines.csv", dry_run=True)
    assert job["status"] == "succeeded" and job["dry_run"]
    assert (job["lines"], job["loaded"], job["rejected"], job["new_stores"], job["new_products"]) == (7, 4, 3, 1, 4)
    assert "dry run" in job["message"]
    assert len(rejects(conn, job["id"])) == 3
    assert snapshot(conn) == before
    assert lines(conn, job["id"]) == []
    assert rows(conn, "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'staging'")[0]["n"] == 0


def test_a_job_that_fails_twice_is_retried_with_backoff_and_then_succeeds(conn, db_url):
    conn.execute("CREATE SEQUENCE public.fail_twice_seq")
    # The job runs as the tables' owner (a security-definer entry point), not as this superuser.
    conn.execute("GRANT USAGE ON SEQUENCE public.fail_twice_seq TO mangalm_owner")
    conn.execute("""CREATE FUNCTION public.tg_fail_twice() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN
                      IF nextval('public.fail_twice_seq') <= 2 THEN
                        RAISE EXCEPTION 'injected failure for the retry test';
                      END IF;
                      RETURN NULL;
                    END $$""")
    conn.execute("CREATE TRIGGER fail_twice BEFORE INSERT ON data.orders "
                 "FOR EACH STATEMENT EXECUTE FUNCTION public.tg_fail_twice()")
    conn.execute("INSERT INTO data.settings (key, value) VALUES ('ingest_retry_base_seconds', '0.2') "
                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
    try:
        received = stage(db_url, "twins.csv")
        s = settings_for(db_url)
        with worker.connect(db_url) as wconn:
            first = worker.run_one(wconn, "test", received.job_id)
            assert first["status"] == "queued" and first["attempts"] == 1
            assert "injected failure" in first["error"]
            # Backoff: run_after = failure time + 2^attempts x base (0.2 s here, 2 s by default).
            delay = rows(conn, "SELECT extract(epoch FROM run_after - updated_at) AS d FROM data.upload_jobs "
                               "WHERE id = %s", received.job_id)[0]["d"]
            assert 0.3 < float(delay) < 0.5
            assert worker.run_one(wconn, "test", received.job_id) is None   # not before its time
        job = worker.process_job(s, received.job_id, url=db_url, timeout=30)
        assert job["status"] == "succeeded" and job["attempts"] == 3
        assert job["last_error"] is None and job["loaded"] == 2
    finally:
        conn.execute("DROP TRIGGER fail_twice ON data.orders")
        conn.execute("DELETE FROM data.settings WHERE key = 'ingest_retry_base_seconds'")


def test_a_job_that_always_fails_fails_after_three_attempts(conn, db_url):
    conn.execute("""CREATE FUNCTION public.tg_always_fail() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN RAISE EXCEPTION 'injected permanent failure'; END $$""")
    conn.execute("CREATE TRIGGER always_fail BEFORE INSERT ON data.orders "
                 "FOR EACH STATEMENT EXECUTE FUNCTION public.tg_always_fail()")
    conn.execute("INSERT INTO data.settings (key, value) VALUES ('ingest_retry_base_seconds', '0.01') "
                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
    try:
        received = stage(db_url, "void.csv")
        job = worker.process_job(settings_for(db_url), received.job_id, url=db_url, timeout=30)
        assert job["status"] == "failed" and job["attempts"] == 3
        assert "injected permanent failure" in job["last_error"]
        assert rows(conn, "SELECT count(*) AS n FROM data.mangalam_invoices WHERE upload_job_id = %s",
                    received.job_id)[0]["n"] == 0
        assert rows(conn, "SELECT to_regclass(%s) IS NULL AS gone", f"staging.upload_{received.job_id}")[0]["gone"]
    finally:
        conn.execute("DROP TRIGGER always_fail ON data.orders")
        conn.execute("DELETE FROM data.settings WHERE key = 'ingest_retry_base_seconds'")


def test_two_workers_never_hold_the_same_job(db_url):
    received = stage(db_url, "twins.csv")
    with worker.connect(db_url) as a, worker.connect(db_url) as b:
        got_a = a.execute("SELECT id FROM app.claim_job('a', %s)", (received.job_id,)).fetchall()
        got_b = b.execute("SELECT id FROM app.claim_job('b', %s)", (received.job_id,)).fetchall()
        assert got_a == [(received.job_id,)] and got_b == []
        a.execute("SELECT app.release_job(%s)", (received.job_id,))
        a.execute("UPDATE data.upload_jobs SET status = 'queued', attempts = 0 WHERE id = %s", (received.job_id,))
    job = worker.process_job(settings_for(db_url), received.job_id, url=db_url)
    assert job["status"] == "succeeded"


def test_an_upload_whose_loader_died_is_given_up(conn, db_url):
    with psycopg.connect(db_url, autocommit=True) as loader_conn:
        job_id = loader_conn.execute(
            "SELECT app.begin_upload('dead.csv', '{}'::jsonb, 3, '{}'::jsonb, false, 'test', NULL)").fetchone()[0]
        # while the loader lives, the upload is not abandoned
        assert conn.execute("SELECT app.expire_abandoned_uploads()").fetchone()[0] == 0
    # (the server ends the loader's session a moment after the client closed it)
    deadline = time.monotonic() + 10
    while conn.execute("SELECT app.expire_abandoned_uploads()").fetchone()[0] == 0:
        assert time.monotonic() < deadline, "the abandoned upload was not given up"
        time.sleep(0.1)
    row = rows(conn, "SELECT status, last_error, staging_table FROM data.upload_jobs WHERE id = %s", job_id)[0]
    assert row["status"] == "failed" and "interrupted" in row["last_error"]
    assert rows(conn, "SELECT to_regclass(%s) IS NULL AS gone", f"staging.{row['staging_table']}")[0]["gone"]


def test_two_uploads_at_once(conn, db_url):
    files = {"X1": generated(1500, "X1", seed=11, stores=20, products=40),
             "X2": generated(1500, "X2", seed=12, stores=20, products=40)}
    results: dict[str, dict] = {}
    errors: list[BaseException] = []

    def run(name):
        try:
            results[name] = ingest(db_url, files[name])
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=run, args=(n,)) for n in files]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for name in files:
        job = results[name]
        assert job["status"] == "succeeded" and job["loaded"] == 1500 and job["rejected"] == 0, job
        n = rows(conn, "SELECT count(*) AS n FROM data.mangalam_invoices WHERE invoice_number LIKE %s",
                 f"{name}-%")[0]["n"]
        assert n == 1500


def test_progress_and_results_are_published(db_url):
    with psycopg.connect(db_url, autocommit=True) as listener:
        listener.execute("LISTEN mangalm_events")
        job = ingest(db_url, "special_lines.csv")
        events = [json.loads(n.payload) for n in listener.notifies(timeout=2, stop_after=50)]
    mine = [e for e in events if e.get("job_id") == job["id"]]
    phases = [e["phase"] for e in mine if e["type"] == "upload_progress"]
    assert "queued" in phases and "processing" in phases
    finished = [e for e in mine if e["type"] == "upload_finished"]
    assert finished and finished[0]["status"] == "succeeded" and finished[0]["loaded"] == 6
    changed = [e for e in events if e["type"] == "data_changed" and e.get("source") == "upload"]
    assert changed and changed[-1]["store_ids"] == ["FX-RC1"]


@pytest.mark.slow
def test_a_worker_killed_mid_job_leaves_no_trace_and_the_job_runs_again(conn, db_url):
    data = generated(6000, "K", seed=21, stores=30, products=60)
    conn.execute("""CREATE FUNCTION public.tg_stall() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN PERFORM pg_sleep(120); RETURN NULL; END $$""")
    conn.execute("CREATE TRIGGER stall BEFORE INSERT ON data.orders FOR EACH STATEMENT EXECUTE FUNCTION public.tg_stall()")
    received = stage(db_url, data)
    env = dict(os.environ, DATABASE_URL=db_url)
    proc = subprocess.Popen([sys.executable, "-m", "gateway.worker", "--once", "--job", str(received.job_id)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        backend = None
        while time.monotonic() < deadline and backend is None:
            got = conn.execute("SELECT pid FROM pg_stat_activity WHERE wait_event = 'PgSleep' "
                               "AND datname = current_database()").fetchone()
            backend = got[0] if got else None
            time.sleep(0.1)
        assert backend, "the worker never reached the middle of the job"
        # Mid-job: the lines are already written inside the job's transaction.
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    conn.execute("DROP TRIGGER stall ON data.orders")
    deadline = time.monotonic() + 30
    while conn.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (backend,)).fetchone():
        assert time.monotonic() < deadline, "the killed worker's transaction did not end"
        time.sleep(0.2)
    row = rows(conn, "SELECT status, attempts FROM data.upload_jobs WHERE id = %s", received.job_id)[0]
    assert row == {"status": "running", "attempts": 1}
    assert rows(conn, "SELECT count(*) AS n FROM data.mangalam_invoices WHERE invoice_number LIKE 'K-%'")[0]["n"] == 0
    # The next worker finds the job nobody holds and runs it again.
    job = worker.process_job(settings_for(db_url), received.job_id, url=db_url, timeout=120)
    assert job["status"] == "succeeded" and job["attempts"] == 2
    assert job["loaded"] == 6000 and job["rejected"] == 0
    counts = rows(conn, """SELECT count(*) AS n, count(DISTINCT (invoice_number, line_no)) AS distinct_keys,
                                  count(DISTINCT source_line) AS distinct_lines
                           FROM data.mangalam_invoices WHERE invoice_number LIKE 'K-%'""")[0]
    assert counts == {"n": 6000, "distinct_keys": 6000, "distinct_lines": 6000}
    items = rows(conn, """SELECT count(*) AS n FROM data.invoice_items i JOIN data.orders o ON o.id = i.order_id
                          WHERE o.invoice_number LIKE 'K-%'""")[0]["n"]
    assert items == 6000
