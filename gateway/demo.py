"""Demo data for `mangalm up --demo`: the generated demo export, loaded through the ingest
pipeline, a backtest of the predictions on it (so the dashboard shows the track record at
once), and one user per role (the rep sells in the export's Mumbai territory)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import psycopg

from . import loader, logs, worker
from .config import Settings
from .db import connect
from .generate import write_demo
from .users import add_user

DEMO_PASSWORD = "mangalm-demo"
DEMO_USERS = (
    ("manager@demo.mangalm", "manager", "Demo Manager", None),
    ("admin@demo.mangalm", "admin", "Demo Admin", None),
    ("rep@demo.mangalm", "sales_rep", "Demo Rep", "Rahul Deshmukh"),
)


def create_demo_users(settings: Settings) -> list[tuple[str, str]]:
    # Through app.add_user (replace: a restart resets their passwords), the function the CLI
    # and the API use too, so demo accounts obey the same rules.
    with connect(settings) as conn:
        for email, role, name, sales_person in DEMO_USERS:
            add_user(conn, email, DEMO_PASSWORD, role, name, sales_person, replace=True)
    return [(email, role) for email, role, _, _ in DEMO_USERS]


def demo_file(settings: Settings) -> Path:
    """The demo export (14,464 lines, 211 stores, 424 products) in the state folder, generated
    once (the generator is deterministic, so it is the same file everywhere)."""
    path = settings.home / "demo" / "demo-invoices.csv"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        write_demo(tmp)
        tmp.replace(path)
    return path


def load_demo_data(settings: Settings) -> dict | None:
    """Load the demo export through the ingest pipeline (loader + one job), like any upload.
    Idempotent: a file already loaded (same SHA-256) is skipped, and loading it again would
    change nothing anyway (natural keys). Returns the job's row, or None when skipped."""
    path = demo_file(settings)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    with connect(settings) as conn:
        done = conn.execute("SELECT id FROM data.upload_jobs WHERE sha256 = %s AND status = 'succeeded' "
                            "AND NOT dry_run LIMIT 1", (digest,)).fetchone()
    if done:
        return None
    received = loader.load_file(settings.app_url, path,
                                loader.LoadOptions(source="demo", filename=path.name, streams=1))
    with logs.quiet_events():  # the job's lines belong in the service's log, not on `up`'s terminal
        row = worker.process_job(settings, received.job_id)
    if row["status"] != "succeeded":
        from .stack import StackError
        raise StackError(f"loading the demo data failed (upload job {row['id']}): {row['last_error']}")
    return row


# The demo backtest predicts as of this many days before the newest invoice and judges the
# predictions on the days after it: the demo stores order weekly to monthly, so 60 days hold
# the next order of nearly every store, and the history before the cutoff still trains the
# confidence fit.
DEMO_BACKTEST_DAYS = 60


def run_demo_backtest(settings: Settings) -> dict | None:
    """Run the backtest the overview's "How often predictions came true" card shows (through
    api.backtest, which also refreshes the dashboard), unless one has run already. Returns the
    run's figures, or None when skipped (a backtest exists, or there are no invoices)."""
    with connect(settings) as conn:
        if conn.execute("SELECT EXISTS (SELECT FROM data.backtest_runs)").fetchone()[0]:
            return None
        newest = conn.execute("SELECT max(order_date) FROM app.sales").fetchone()[0]
        if newest is None:
            return None
        try:
            return conn.execute("SELECT api.backtest(%s::date - %s, %s)",
                                (newest, DEMO_BACKTEST_DAYS, DEMO_BACKTEST_DAYS)).fetchone()[0]
        except psycopg.Error as e:
            from .stack import StackError
            raise StackError(f"the demo backtest failed: {e}") from e


def load(settings: Settings) -> list[tuple[str, str]]:
    load_demo_data(settings)
    run_demo_backtest(settings)
    return create_demo_users(settings)
