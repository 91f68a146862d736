"""`mangalm up --demo` shows the track record on first sight: after loading the demo export it
runs a backtest, which the overview's "How often predictions came true" card reads from
api.dashboard_summary (latest_backtest) and api.latest_backtest."""
from __future__ import annotations

import json

import pytest

from gateway import demo
from ingest_helpers import rows, settings_for


def as_manager(conn, sql: str) -> list[dict]:
    """Read through the API schema as PostgREST does for a manager's token."""
    with conn.transaction():
        conn.execute("SET LOCAL role manager")
        conn.execute("SELECT set_config('request.jwt.claims', %s, true)", (json.dumps({"role": "manager"}),))
        out = rows(conn, sql)
        conn.execute("RESET role")
    return out


@pytest.mark.slow
def test_the_demo_runs_a_backtest_the_overview_shows(conn, db_url):
    s = settings_for(db_url)
    demo.load(s)
    runs = rows(conn, "SELECT cutoff, horizon, metrics FROM data.backtest_runs")
    assert len(runs) == 1, "loading the demo runs one backtest"
    newest = rows(conn, "SELECT max(order_date) AS d FROM data.orders WHERE source = 'invoice' AND status <> 'void'")[0]["d"]
    run = runs[0]
    assert (newest - run["cutoff"]).days == demo.DEMO_BACKTEST_DAYS and run["horizon"] == demo.DEMO_BACKTEST_DAYS
    model = run["metrics"]["dates"]["model"]
    assert model["evaluated"] > 100 and 0 < model["hit_rate_7d"] <= 1

    # What the overview card reads: the materialized summary (refreshed by api.backtest) ...
    summary = as_manager(conn, "SELECT latest_backtest FROM api.dashboard_summary")[0]["latest_backtest"]
    assert summary is not None and summary["cutoff"] == run["cutoff"].isoformat()
    assert summary["model"]["hit_rate"] == pytest.approx(model["hit_rate_7d"])
    assert summary["baseline"]["hit_rate"] is not None and summary["model"]["recall_at_10"] is not None
    # ... and the track record's own view.
    latest = as_manager(conn, "SELECT cutoff, hit_rate_7d, baseline_hit_rate_7d FROM api.latest_backtest")
    assert latest and latest[0]["cutoff"] == run["cutoff"]

    # A second `up --demo` neither loads nor backtests again.
    assert demo.load_demo_data(s) is None
    assert demo.run_demo_backtest(s) is None
    demo.load(s)
    assert rows(conn, "SELECT count(*) AS n FROM data.backtest_runs")[0]["n"] == 1
