"""The upload worker: claims staged upload jobs and runs app.process_bulk_upload_complete.

It runs three ways, all through run_one():
- inside the Python service, as a background thread (start_background; MANGALM_WORKER=0 turns
  it off), woken by NOTIFY mangalm_jobs;
- as a process of its own: `python -m gateway.worker` (add --once to drain the queue and stop);
- inline, from `mangalm load --wait` (process_job), so a load finishes even when no worker runs.

Each job is processed in one transaction. If it raises, the transaction rolls back and
app.fail_job re-queues the job with exponential backoff (or fails it after 3 attempts). If the
process dies, its connection (and the job's advisory lock) goes with it, and the next claim
picks the job up again (see functions/jobs.sql).
"""
from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import threading
import time

import psycopg
from psycopg.rows import dict_row

from .config import Settings
from .logs import log_event

log = logging.getLogger("mangalm.worker")

# How long a worker sleeps when nothing wakes it: retries whose backoff has passed and jobs
# of a worker that died are found by this poll.
POLL_SECONDS = float(os.environ.get("MANGALM_WORKER_POLL", "2"))


def connect(url: str) -> psycopg.Connection:
    """A worker's connection. The server checks every second that the worker is still there
    (client_connection_check_interval), so the transaction of a worker killed mid-job is
    rolled back at once rather than when the job's statement ends."""
    return psycopg.connect(url, autocommit=True, options="-c client_connection_check_interval=1000")


def worker_name(kind: str = "worker") -> str:
    return f"{kind}:{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


def _error_text(e: BaseException) -> str:
    if isinstance(e, psycopg.Error) and e.diag.message_primary:
        text = e.diag.message_primary
        if e.diag.context:
            text += f" ({e.diag.context.splitlines()[0][:300]})"
        return describe_error(e, text)
    return str(e).strip() or type(e).__name__


# A full disk reaches us as SQLSTATE 53100 disk_full, or as an I/O error
# whose text ends in the OS's "No space left on device"; say it in words a person acts on.
DISK_FULL_MESSAGE = ("the database server's disk is full (No space left on device); nothing of this upload "
                     "was written. Free disk space on the database server, then load the file again")


def is_disk_full(e: BaseException) -> bool:
    """True when `e` says the database server ran out of disk space."""
    return (isinstance(e, psycopg.Error) and e.sqlstate == "53100") or "No space left on device" in str(e)


def describe_error(e: BaseException, text: str | None = None) -> str:
    """The error as a person should read it: a full disk says so first, other errors as they are."""
    text = text or (str(e).strip().splitlines() or [type(e).__name__])[0]
    return f"{DISK_FULL_MESSAGE} ({text})" if is_disk_full(e) else text


# `on` (the standby has flushed the WAL) only while a synchronous standby streams; else the
# server's default. Asking for it with no standby connected would block the commit until one is.
SYNC_COMMIT_SQL = ("SELECT set_config('synchronous_commit', 'on', true) FROM pg_stat_replication "
                   "WHERE sync_state = 'sync' LIMIT 1")


def run_one(conn: psycopg.Connection, name: str, job_id: int | None = None) -> dict | None:
    """Claim one job (the next runnable, or `job_id`) and process it on `conn` (autocommit).
    Returns the job's summary, {"status": "queued"/"failed", ...} after a failed attempt, or
    None when there was nothing to claim. Each event is logged as one JSON line
    (BULK_UPLOAD_START, PROCESSING_COMPLETE, PROCESSING_FAILED)."""
    job = conn.execute("SELECT id, lines, attempts, dry_run FROM app.claim_job(%s::text, %s::bigint)",
                       (name, job_id)).fetchone()
    if job is None:
        return None
    jid, lines, attempt, dry_run = job
    log_event("BULK_UPLOAD_START", job_id=jid, lines=lines, attempt=attempt, worker=name, dry_run=dry_run)
    started = time.perf_counter()
    try:
        with conn.transaction():
            # A completed job survives a failover: its commit waits until the replica has
            # flushed it, while the replica streams as the synchronous standby (gateway/replica.py).
            conn.execute(SYNC_COMMIT_SQL)
            result = conn.execute("SELECT app.process_bulk_upload_complete(%s::bigint)", (jid,)).fetchone()[0]
    except Exception as e:  # noqa: BLE001 - any failure of the job is recorded on the job
        if isinstance(e, psycopg.OperationalError) and (conn.broken or conn.closed):
            # The connection is gone: the job's lock went with it, another claim retries it.
            # Only then: a full disk (53100) or a cancelled statement is an
            # OperationalError too, on a live connection, and must be recorded as a failed attempt.
            log_event("PROCESSING_INTERRUPTED", job_id=jid, lines=lines, attempt=attempt, worker=name,
                      error=_error_text(e), duration_ms=round((time.perf_counter() - started) * 1000, 1))
            raise
        error = _error_text(e)
        row = conn.execute("SELECT status, attempts, max_attempts, run_after, message FROM app.fail_job(%s::bigint, %s::text)",
                           (jid, error)).fetchone()
        log_event("PROCESSING_FAILED", job_id=jid, lines=lines, attempt=attempt, worker=name, status=row[0],
                  will_retry=row[0] == "queued", retry_at=row[3], error=error,
                  duration_ms=round((time.perf_counter() - started) * 1000, 1))
        return {"job_id": jid, "status": row[0], "attempts": row[1], "max_attempts": row[2],
                "run_after": row[3].isoformat(), "message": row[4], "error": error, "lines": lines}
    conn.execute("SELECT app.release_job(%s::bigint)", (jid,))
    log_event("PROCESSING_COMPLETE", job_id=jid, status=result["status"], dry_run=result["dry_run"],
              lines=result["lines"], loaded=result["loaded"], rejected=result["rejected"],
              new_stores=result["new_stores"], new_products=result["new_products"], attempt=attempt,
              worker=name, db_seconds=result["seconds"], duration_ms=round((time.perf_counter() - started) * 1000, 1))
    return result


def drain(conn: psycopg.Connection, name: str) -> int:
    """Process every runnable job; returns how many were run."""
    count = 0
    conn.execute("SELECT app.expire_abandoned_uploads()")
    while run_one(conn, name) is not None:
        count += 1
    return count


def job_row(conn: psycopg.Connection, job_id: int) -> dict | None:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(
            "SELECT id, status, filename, dry_run, lines, loaded, rejected, new_stores, new_products, attempts, "
            "max_attempts, run_after, last_error, message, processing_ms, timings, skipped_lines, bytes "
            "FROM data.upload_jobs WHERE id = %s", (job_id,)).fetchone()


def process_job(settings: Settings, job_id: int, timeout: float | None = None,
                url: str | None = None) -> dict:
    """Run `job_id` here if nobody else has it, and wait until it has ended (succeeded or
    failed for good, retries included). Returns its row."""
    deadline = None if timeout is None else time.monotonic() + timeout
    name = worker_name("inline")
    with connect(url or settings.app_url) as conn:
        polls = 0
        while True:
            if run_one(conn, name, job_id) is None:
                # Jobs are applied in job-id order (app.claim_job): when an
                # earlier upload waits and no worker process runs, run it here, or `mangalm load
                # --wait` of a later file would wait for ever.
                run_one(conn, name)
            row = job_row(conn, job_id)
            if row is None:
                raise ValueError(f"upload job {job_id} does not exist")
            if row["status"] in ("succeeded", "failed"):
                return row
            if deadline is not None and time.monotonic() > deadline:
                return row
            # queued behind an earlier job or a backoff, or another worker runs it: wait a
            # little (and now and then give up earlier uploads whose loader died)
            polls += 1
            if polls % 25 == 0:
                conn.execute("SELECT app.expire_abandoned_uploads()")
            wait = 0.2
            if row["status"] == "queued" and row["run_after"] is not None:
                now = conn.execute("SELECT now()").fetchone()[0]
                wait = min(max((row["run_after"] - now).total_seconds(), 0.05), 1.0)
            time.sleep(wait)


class BackgroundWorker(threading.Thread):
    """The service's worker thread: drains the queue, then waits for NOTIFY mangalm_jobs or
    the poll interval. It reconnects when the database goes away."""

    def __init__(self, settings: Settings):
        super().__init__(name="upload-worker", daemon=True)
        self.settings = settings
        self.stopping = threading.Event()
        self.name_ = worker_name("service")

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        backoff = 1.0
        while not self.stopping.is_set():
            try:
                with connect(self.settings.app_url) as conn:
                    conn.execute("LISTEN mangalm_jobs")
                    backoff = 1.0
                    while not self.stopping.is_set():
                        drain(conn, self.name_)
                        ended = conn.execute("SELECT app.end_overlong_analyst_statements()").fetchone()[0]
                        if ended:
                            log_event("ANALYST_STATEMENTS_ENDED", count=ended)
                        for _ in conn.notifies(timeout=POLL_SECONDS, stop_after=1):
                            pass
            except psycopg.Error as e:
                log.warning("upload worker: database unavailable (%s); retrying in %.0f s", _error_text(e), backoff)
                self.stopping.wait(backoff)
                backoff = min(backoff * 2, 30.0)
            except Exception:  # noqa: BLE001 - keep the thread alive; the log says what happened
                log.exception("upload worker: unexpected error")
                self.stopping.wait(backoff)


def start_background(settings: Settings) -> BackgroundWorker | None:
    """Start the service's worker thread (unless MANGALM_WORKER=0)."""
    if os.environ.get("MANGALM_WORKER", "1") == "0":
        return None
    worker = BackgroundWorker(settings)
    worker.start()
    return worker


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway.worker",
                                     description="Process queued Mangalm upload jobs.")
    parser.add_argument("--once", action="store_true", help="drain the queue, then exit")
    parser.add_argument("--job", type=int, help="process only this job (with --once)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = Settings.from_env()
    if args.once:
        with connect(settings.app_url) as conn:
            if args.job:
                run_one(conn, worker_name(), args.job)
            else:
                drain(conn, worker_name())
        return 0
    worker = BackgroundWorker(settings)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(1)
    except KeyboardInterrupt:
        worker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
