"""The track record, on real invoice lines (a fixed slice of the UCI Online Retail II export,
tests/fixtures/online_retail_slice.csv.gz: 201 shops of a giftware wholesaler) loaded through
the real pipeline, and on generated stores with known rhythms: the backtest reports the model
beside its three baselines, the ranked baskets keep their promises, and neither the fits nor
the predictions look past their cutoff."""
from __future__ import annotations

from datetime import date, timedelta

import psycopg
import pytest

from analytics_helpers import SLICE_LINES, load_generated, load_slice

REAL_CUTOFFS = [date(2011, 6, 1), date(2011, 9, 9)]
REAL_HORIZON = 90
pytestmark = pytest.mark.slow  # loads, fits and backtests: about a minute


@pytest.fixture(scope="module")
def real(db_url, tmp_path_factory):
    job = load_slice(db_url, tmp_path_factory.mktemp("slice"))
    with psycopg.connect(db_url, autocommit=True) as conn:
        runs = [conn.execute("SELECT api.backtest(%s, %s)", (c, REAL_HORIZON)).fetchone()[0] for c in REAL_CUTOFFS]
    return job, runs


def test_the_slice_goes_through_the_pipeline(real, conn):
    job, _ = real
    assert job["lines"] == SLICE_LINES and job["loaded"] + job["rejected"] == SLICE_LINES
    assert job["rejected"] >= 40  # the lines without a customer
    assert conn.execute("SELECT count(*) FROM data.stores").fetchone()[0] == 201


def test_backtest_reports_the_model_beside_three_baselines(real):
    for r in real[1]:
        assert r["dates"]["stores_predicted"] > 150
        assert r["dates"]["baseline"]["name"] == "last order + median gap"
        b = r["baskets"]
        assert b["evaluated"] > 50
        assert b["baseline"]["name"] == "the store's own 10 most frequent products"
        assert "0.9^k" in b["recency_baseline"]["name"]
        for who in ("model", "baseline", "recency_baseline"):
            assert 0 <= b[who]["recall_at_10"] <= 1 and 0 <= b[who]["precision_at_10"] <= 1
        assert r["calibration"] and r["item_calibration"]
        assert sum(c["n"] for c in r["item_calibration"]) > 10 * b["evaluated"]  # every ranked product is judged


def test_model_beats_the_baselines_on_real_lines(real):
    runs = real[1]
    hit = sum(r["dates"]["model"]["hit_rate_7d"] for r in runs) / len(runs)
    base_hit = sum(r["dates"]["baseline"]["hit_rate_7d"] for r in runs) / len(runs)
    assert hit > base_hit + 0.05, (hit, base_hit)
    for r in runs:
        assert r["dates"]["model"]["mae_days"] < r["dates"]["baseline"]["mae_days"], r["cutoff"]
    recall = sum(r["baskets"]["model"]["recall_at_10"] for r in runs) / len(runs)
    frequent = sum(r["baskets"]["baseline"]["recall_at_10"] for r in runs) / len(runs)
    assert recall > frequent, (recall, frequent)


def test_item_probabilities_are_calibrated(real):
    """Pooled over the cutoffs, every decile of item probabilities with 100+ products is within 0.08."""
    pooled: dict[str, list[float]] = {}
    for r in real[1]:
        for c in r["item_calibration"]:
            acc = pooled.setdefault(c["decile"], [0, 0.0, 0.0])
            acc[0] += c["n"]
            acc[1] += c["n"] * float(c["mean_probability"])
            acc[2] += c["n"] * float(c["hit_rate"])
    checked = [(d, n, s / n, h / n) for d, (n, s, h) in pooled.items() if n >= 100]
    assert len(checked) >= 2
    for decile, n, stated, seen in checked:
        assert abs(stated - seen) <= 0.08, (decile, n, stated, seen)


def test_ranked_baskets_keep_their_promises(real, conn):
    """After the load's refresh: ranks 1..n, probabilities in [0, 1] never rising with the rank,
    the basket a prefix of the ranking, at least 10 candidates where the history has them, and
    a total that counts the basket lines only."""
    rows = conn.execute("""
        SELECT p.id, p.total_amount, array_agg(i.item_rank ORDER BY i.item_rank),
               array_agg(i.item_probability ORDER BY i.item_rank), array_agg(i.in_basket ORDER BY i.item_rank),
               coalesce(sum(i.line_amount) FILTER (WHERE i.in_basket), 0)
        FROM data.predicted_orders p JOIN data.predicted_order_items i ON i.predicted_order_id = p.id
        WHERE p.status = 'pending' GROUP BY p.id, p.total_amount""").fetchall()
    assert len(rows) > 100
    for _, total, ranks, probs, in_basket, basket_amount in rows:
        assert ranks == list(range(1, len(ranks) + 1))
        assert all(0 <= p <= 1 for p in probs) and all(a >= b for a, b in zip(probs, probs[1:]))
        assert in_basket[0] and in_basket == sorted(in_basket, reverse=True)
        assert total == basket_amount
    assert sum(len(r[2]) >= 10 for r in rows) > 0.9 * len(rows)
    fit = conn.execute("""SELECT samples FROM data.prediction_calibrations WHERE features = app.item_feature_names()
                          ORDER BY id DESC LIMIT 1""").fetchone()
    assert fit and fit[0] > 1000


def test_runs_are_recorded_and_the_dashboard_shows_the_latest(real, conn):
    ids = [r["id"] for r in real[1]]
    assert conn.execute("SELECT array_agg(id ORDER BY id) FROM data.backtest_runs").fetchone()[0] == ids
    assert conn.execute("SELECT id FROM api.latest_backtest").fetchone()[0] == ids[-1]
    summary = conn.execute("SELECT latest_backtest FROM api.dashboard_summary").fetchone()[0]
    assert summary["id"] == ids[-1] and summary["model"]["hit_rate"] == real[1][-1]["dates"]["model"]["hit_rate_7d"]


def test_top_stores_judges_the_busiest(real, db_url):
    with psycopg.connect(db_url) as conn:  # rolled back: the run is not recorded
        r = conn.execute("SELECT app.run_backtest(%s, %s, 40)", (REAL_CUTOFFS[-1], REAL_HORIZON)).fetchone()[0]
        conn.rollback()
    assert r["top_stores"] == 40 and r["dates"]["stores_predicted"] == 40 == r["dates"]["stores_ordered"]


def test_no_leakage_past_the_cutoff(real, db_url):
    """Deleting every invoice after the cutoff changes neither the fits nor the predictions."""
    cutoff = REAL_CUTOFFS[0]
    query_dates = "SELECT store_id, predicted_date, n_window FROM app.forecast_dates(%s) ORDER BY store_id"
    query_baskets = """SELECT store_id, product_id, rank, probability, in_basket, quantity, unit_price
                       FROM app.forecast_baskets(%s) ORDER BY store_id, rank"""

    def figures(conn):
        fit = conn.execute("SELECT app.fit_calibration(%s, p_force => true)", (cutoff,)).fetchone()[0]
        fits = conn.execute("""SELECT features, coefficients, recalibration, samples FROM data.prediction_calibrations
                               WHERE fitted_as_of = %s AND id >= %s - 1 ORDER BY id""", (cutoff, fit)).fetchall()
        return [fits, conn.execute(query_dates, (cutoff,)).fetchall(), conn.execute(query_baskets, (cutoff,)).fetchall()]

    with psycopg.connect(db_url) as conn:  # one transaction, rolled back
        before = figures(conn)
        conn.execute("DELETE FROM data.orders WHERE order_date > %s", (cutoff,))
        after = figures(conn)
        conn.rollback()
    assert len(before[0]) == 2 and before[1] and before[2]  # the item fit and the date fit
    assert before == after


def test_one_pass_forecasts_equal_the_forecast_at_each_cutoff(real, conn):
    """The confidence fit's 13 past cutoffs in one pass (app.forecast_dates_at) give, row by row
    and in every column, forecast_dates' forecasts at each cutoff, on the real slice."""
    cutoffs = [REAL_CUTOFFS[-1] - timedelta(days=14 * j) for j in range(1, 14)]
    columns = """store_id, n_orders, n_gaps, first_order, last_order, elapsed, median_gap, spread_gap, max_gap,
                 n_later, n_window, predicted_date, baseline_date, rhythm, recent_orders, preferred_day"""
    one_pass = conn.execute(f"SELECT cutoff, {columns} FROM app.forecast_dates_at(%s) ORDER BY cutoff, store_id",
                            (cutoffs,)).fetchall()
    each = [(c, *row) for c in sorted(cutoffs)
            for row in conn.execute(f"SELECT {columns} FROM app.forecast_dates(%s) ORDER BY store_id", (c,)).fetchall()]
    assert len(each) > 13 * 50 and one_pass == each
    assert len({r[0] for r in one_pass}) == 13


def test_a_fit_is_reused_until_the_orders_change(real, db_url):
    cutoff = REAL_CUTOFFS[-1]
    with psycopg.connect(db_url) as conn:  # rolled back
        first = conn.execute("SELECT app.fit_calibration(%s)", (cutoff,)).fetchone()[0]
        assert conn.execute("SELECT app.fit_calibration(%s)", (cutoff,)).fetchone()[0] == first
        conn.execute("DELETE FROM data.orders WHERE order_date > %s", (cutoff,))  # later orders: not seen
        assert conn.execute("SELECT app.fit_calibration(%s)", (cutoff,)).fetchone()[0] == first
        conn.execute("""UPDATE data.orders SET status = 'void' WHERE id = (SELECT max(id) FROM data.orders
                        WHERE order_date <= %s AND status <> 'void' AND source = 'invoice')""", (cutoff,))
        assert conn.execute("SELECT app.fit_calibration(%s)", (cutoff,)).fetchone()[0] > first
        conn.rollback()


# Generated stores with weekly, fortnightly and monthly rhythms (gateway/generate.py): 300
# stores, 60,000 lines from 2024-01-01 to 2025-08-06; each cutoff has more than a year of
# history before it and a 60-day horizon after it.
GENERATED_CUTOFFS = [date(2025, 3, 31), date(2025, 5, 31)]


@pytest.fixture(scope="module")
def generated(template, tmp_path_factory):
    """Its own database (a clone of the template), so the real slice's runs stay apart."""
    import uuid

    from conftest import _clone

    janitor, url = _clone(template, "t_analytics_generated_" + uuid.uuid4().hex[:6])
    load_generated(url, tmp_path_factory.mktemp("generated"), 60_000, stores=300)
    with psycopg.connect(url, autocommit=True) as conn:
        runs = [conn.execute("SELECT api.backtest(%s, 60)", (c,)).fetchone()[0] for c in GENERATED_CUTOFFS]
    yield runs
    janitor.drop()


def test_rhythmic_stores_are_predicted_by_their_rhythm(generated):
    for r in generated:
        model, base = r["dates"]["model"], r["dates"]["baseline"]
        assert model["hit_rate_7d"] > base["hit_rate_7d"] + 0.01, r["cutoff"]
        assert model["mae_days"] < base["mae_days"], r["cutoff"]
        o = r["dates"]["overdue"]
        assert o["model_hit_rate_7d"] > o["baseline_hit_rate_7d"], r["cutoff"]
        b = r["baskets"]
        assert b["model"]["recall_at_10"] >= b["baseline"]["recall_at_10"] - 0.02, r["cutoff"]
        assert b["model"]["basket_precision"] > b["baseline"]["precision_at_10"], r["cutoff"]
