"""`mangalm predict` and `mangalm backtest` against a real database holding real invoice lines
(tests/fixtures/online_retail_slice.csv.gz, loaded through the real pipeline), through the
click commands themselves."""
from __future__ import annotations

import csv
import json
from datetime import date, timedelta

import psycopg
import pytest
from click.testing import CliRunner

from analytics_helpers import load_slice
from cli.main import cli

REQUIRED_COLUMNS = ["customer_id", "customer_name", "predicted_date", "confidence", "product_id",
                    "item_name", "quantity", "amount", "item_rank", "item_probability", "in_basket"]


@pytest.fixture(scope="module")
def history(db_url, tmp_path_factory):
    """The real slice (201 shops, 2009-12-01 .. 2011-12-09); returns its last invoice date."""
    load_slice(db_url, tmp_path_factory.mktemp("slice"))
    with psycopg.connect(db_url, autocommit=True) as conn:
        return conn.execute("SELECT max(order_date) FROM data.orders WHERE status <> 'void'").fetchone()[0]


@pytest.fixture
def run(db_url):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(cli, list(args), env={"DATABASE_URL": db_url}, catch_exceptions=False)
    return invoke


def test_commands_have_help(run):
    for command in ("predict", "backtest"):
        result = run(command, "--help")
        assert result.exit_code == 0 and "Usage:" in result.output and len(result.output) > 300


def test_predict_writes_the_csv_one_row_per_ranked_product(run, history, conn, tmp_path):
    out = tmp_path / "predictions.csv"
    result = run("predict", "--csv", str(out))
    assert result.exit_code == 0, result.output
    assert f"as of {history}" in result.output and "Wrote" in result.output
    with out.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert rows and set(REQUIRED_COLUMNS) <= set(rows[0])
    items = conn.execute("""SELECT count(*) FROM data.predicted_order_items i
                            JOIN data.predicted_orders p ON p.id = i.predicted_order_id WHERE p.status = 'pending'""").fetchone()[0]
    without = conn.execute("""SELECT count(*) FROM data.predicted_orders p WHERE p.status = 'pending'
                              AND NOT EXISTS (SELECT FROM data.predicted_order_items i WHERE i.predicted_order_id = p.id)""").fetchone()[0]
    assert len(rows) == items + without
    stores = dict(conn.execute("SELECT id, name FROM data.stores").fetchall())
    product_ids = {r[0] for r in conn.execute("SELECT coalesce(external_id, sku) FROM data.products")}
    by_prediction: dict[str, list[dict]] = {}
    for row in rows:
        assert stores[row["customer_id"]] == row["customer_name"]
        assert date.fromisoformat(row["predicted_date"]) > history
        assert 0 <= float(row["confidence"]) <= 1
        if row["product_id"]:
            assert row["product_id"] in product_ids
            assert float(row["quantity"]) > 0 and float(row["amount"]) >= 0 and row["item_name"]
            assert 0 <= float(row["item_probability"]) <= 1 and row["in_basket"] in ("true", "false")
            by_prediction.setdefault(row["prediction_id"], []).append(row)
    assert by_prediction
    totals = dict(conn.execute("SELECT id::text, total_amount FROM data.predicted_orders WHERE status = 'pending'").fetchall())
    for prediction_id, items in by_prediction.items():
        # one row per ranked candidate, in rank order; the basket lines first, and the total is theirs
        assert [int(r["item_rank"]) for r in items] == list(range(1, len(items) + 1))
        probabilities = [float(r["item_probability"]) for r in items]
        assert probabilities == sorted(probabilities, reverse=True)
        flags = [r["in_basket"] == "true" for r in items]
        assert flags[0] and flags == sorted(flags, reverse=True)
        assert sum(float(r["amount"]) for r in items if r["in_basket"] == "true") == pytest.approx(float(totals[prediction_id]))
    assert sum(len(items) >= 10 for items in by_prediction.values()) > 0.9 * len(by_prediction)


def test_predict_as_of_uses_only_earlier_invoices(run, history, conn):
    as_of = history - timedelta(days=60)
    result = run("predict", "--as-of", as_of.isoformat(), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["as_of"] == as_of.isoformat() and summary["predictions"] > 0
    # its steps' times, the models' refit first (a fresh as-of date: the fits are made anew)
    assert {"calibration", "predictions", "upselling"} <= summary["timings_ms"].keys()
    assert summary["timings_ms"]["calibration"] > 0
    rows = conn.execute("""SELECT as_of, (justification ->> 'last_order')::date, predicted_date
                           FROM data.predicted_orders WHERE status = 'pending'""").fetchall()
    assert rows and all(a == as_of and last <= as_of < predicted for a, last, predicted in rows)


def test_bad_input_is_refused_and_changes_nothing(run, history, conn, tmp_path):
    before = conn.execute("SELECT count(*), max(updated_at) FROM data.predicted_orders").fetchone()
    result = run("predict", "--as-of", "2025-13-40")
    assert result.exit_code == 2 and "does not match the format" in result.output
    result = run("predict", "--csv", str(tmp_path / "no" / "such" / "folder.csv"))
    assert result.exit_code == 1 and "does not exist" in result.output
    result = run("predict", "--csv", str(tmp_path))
    assert result.exit_code != 0
    assert conn.execute("SELECT count(*), max(updated_at) FROM data.predicted_orders").fetchone() == before
    result = run("backtest", "--cutoff", (history - timedelta(days=10)).isoformat(), "--horizon", "90")
    assert result.exit_code == 1 and "choose a cutoff between" in result.output
    result = run("backtest", "--cutoff", history.isoformat(), "--horizon", "1000")
    assert result.exit_code == 2
    assert not list(tmp_path.iterdir())  # no stray temp file from the refused CSV


def test_backtest_reports_and_records(run, history, conn):
    cutoff = history - timedelta(days=90)
    result = run("backtest", "--cutoff", cutoff.isoformat(), "--horizon", "60", "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    for key in ("dates", "baskets", "calibration", "calibration_max_gap", "confidence_fit"):
        assert key in figures
    assert {"hit_rate_7d", "mae_days", "brier"} <= set(figures["dates"]["model"])
    assert {"hit_rate_7d", "mae_days"} <= set(figures["dates"]["baseline"])
    for who in ("model", "baseline", "recency_baseline"):
        assert {"recall_at_10", "precision_at_10", "amount_wape"} <= set(figures["baskets"][who])
    assert figures["item_calibration"] and figures["item_calibration_ece"] is not None
    latest = conn.execute("SELECT id, cutoff, horizon FROM api.latest_backtest").fetchone()
    assert latest == (figures["id"], cutoff, 60)
    text = run("backtest", "--cutoff", cutoff.isoformat(), "--horizon", "60").output
    assert "within ±7 days" in text and "recall@10" in text and "Calibration" in text
    assert "0.9^k" in text and "Item probabilities" in text


def test_refresh_derived_recomputes_the_touched_stores_and_announces_it(run, history, db_url):
    """The ingest pipeline's hook: only the given stores' predictions change, and listeners of
    mangalm_events hear {"type": "data_changed", "source": "upload", "store_ids": [...]}."""
    assert run("predict", "--as-of", (history - timedelta(days=30)).isoformat()).exit_code == 0
    with psycopg.connect(db_url, autocommit=True) as listener, psycopg.connect(db_url, autocommit=True) as conn:
        touched, other = [r[0] for r in conn.execute(
            "SELECT store_id FROM data.predicted_orders WHERE status = 'pending' ORDER BY store_id LIMIT 2")]
        listener.execute("LISTEN mangalm_events")
        with conn.transaction():
            conn.execute("SELECT app.refresh_derived(ARRAY[]::text[])")  # nothing touched: nothing to do
            conn.execute("SELECT app.refresh_derived(%s)", ([touched],))
        events = [json.loads(n.payload) for n in listener.notifies(timeout=5, stop_after=1)]
        as_of = dict(conn.execute("SELECT store_id, as_of FROM data.predicted_orders WHERE status = 'pending'"
                                  " AND store_id = ANY(%s)", ([touched, other],)).fetchall())
        refreshed_at = conn.execute("SELECT refreshed_at FROM api.dashboard_summary").fetchone()[0]
        changed_at = conn.execute("SELECT max(updated_at) FROM data.predicted_orders").fetchone()[0]
    assert events == [{"type": "data_changed", "source": "upload", "as_of": history.isoformat(),
                       "store_ids": [touched], "store_count": 1}]
    assert as_of[touched] == history and as_of[other] == history - timedelta(days=30)
    assert refreshed_at >= changed_at  # the summary was refreshed after the recompute


TOUCHED_ROWS = {
    "predictions": """SELECT store_id, predicted_date, confidence, priority, total_amount, as_of, justification, model
                      FROM data.predicted_orders WHERE status = 'pending' AND store_id = ANY(%(s)s) ORDER BY 1""",
    "items": """SELECT p.store_id, i.product_id, i.quantity, i.unit_price, i.line_amount, i.frequency, i.item_rank,
                       i.item_probability, i.in_basket
                FROM data.predicted_order_items i JOIN data.predicted_orders p ON p.id = i.predicted_order_id
                WHERE p.status = 'pending' AND p.store_id = ANY(%(s)s) ORDER BY 1, 2""",
    "upselling": """SELECT store_id, product_id, score, support, confidence, lift, similar_store_share, expected_gain,
                           reason, evidence, as_of
                    FROM data.upselling_recommendations WHERE store_id = ANY(%(s)s) ORDER BY 1, 2""",
}


def test_an_upload_of_a_few_stores_refreshes_them_as_a_refresh_of_every_store_would(history, db_url):
    """An upload's refresh stages only its stores' recent lines and the other stores' last 30
    days, yet its stores get the same predictions, ranked items, probabilities, quantities
    (never-bought products: the median over every store's lines) and upselling as a refresh
    of every store as of the same date."""
    with psycopg.connect(db_url) as conn:  # rolled back
        every = [r[0] for r in conn.execute("SELECT id FROM data.stores ORDER BY id")]
        conn.execute("SELECT app.refresh_derived(%s)", (every,))  # rules and fits as of the newest invoices
        # stores whose ranking holds products they never bought, and others
        touched = [r[0] for r in conn.execute(
            """(SELECT DISTINCT p.store_id FROM data.predicted_orders p JOIN data.predicted_order_items i
                ON i.predicted_order_id = p.id AND i.frequency = 0 WHERE p.status = 'pending' ORDER BY 1 LIMIT 4)
               UNION (SELECT store_id FROM data.predicted_orders WHERE status = 'pending' ORDER BY 1 LIMIT 4)""")]
        # the append: a store reorders its last invoice's lines on the newest invoice date
        order_id = conn.execute("""INSERT INTO data.orders (store_id, source, invoice_number, status, order_date, total_amount)
                                   VALUES (%s, 'invoice', 'TEST-APPEND-1', 'invoiced', %s, 100) RETURNING id""",
                                (touched[0], history)).fetchone()[0]
        conn.execute("""INSERT INTO data.invoice_items (order_id, line_no, product_id, quantity, unit_price, line_total)
                        SELECT %s, i.line_no, i.product_id, i.quantity, i.unit_price, i.line_total
                        FROM data.invoice_items i
                        WHERE i.order_id = (SELECT max(o.id) FROM data.orders o
                                            WHERE o.store_id = %s AND o.source = 'invoice' AND o.id < %s)""",
                     (order_id, touched[0], order_id))
        conn.execute("SELECT app.refresh_derived(%s)", (touched,))
        old_lines_of_others = conn.execute(
            "SELECT count(*) FROM pg_temp.recent_lines WHERE NOT store_id = ANY(%s) AND order_date <= %s",
            (touched, history - timedelta(days=30))).fetchone()[0]
        scoped = {k: conn.execute(q, {"s": touched}).fetchall() for k, q in TOUCHED_ROWS.items()}
        conn.execute("SELECT app.refresh_derived(%s)", (every,))
        full = {k: conn.execute(q, {"s": touched}).fetchall() for k, q in TOUCHED_ROWS.items()}
        conn.rollback()
    assert old_lines_of_others == 0  # the scoped refresh staged a part of the lines
    assert len(scoped["predictions"]) == len(touched) and {r[5] for r in scoped["predictions"]} == {history}
    assert any(row[5] == 0 for row in scoped["items"])  # never-bought candidates were priced and sized
    assert scoped["upselling"]
    assert scoped == full


def test_predict_csv_neutralises_formulas_from_uploads(run, history, conn, tmp_path):
    """A store name from an upload that a spreadsheet would run as a formula is written as text."""
    store, name = conn.execute("""SELECT s.id, s.name FROM data.stores s JOIN data.predicted_orders p
                                  ON p.store_id = s.id AND p.status = 'pending' ORDER BY s.id LIMIT 1""").fetchone()
    formula = '=HYPERLINK("http://example.invalid","open")'
    conn.execute("UPDATE data.stores SET name = %s WHERE id = %s", (formula, store))
    try:
        out = tmp_path / "predictions.csv"
        assert run("predict", "--csv", str(out)).exit_code == 0
        with out.open(newline="", encoding="utf-8") as f:
            names = {r["customer_name"] for r in csv.DictReader(f) if r["customer_id"] == store}
        assert names == {"'" + formula}
    finally:
        conn.execute("UPDATE data.stores SET name = %s WHERE id = %s", (name, store))


def derived(conn) -> dict:
    """What a predict writes, without ids and timestamps."""
    return {
        "predictions": conn.execute("""SELECT store_id, as_of, predicted_date, confidence, priority, total_amount
                                       FROM data.predicted_orders WHERE status = 'pending' ORDER BY store_id""").fetchall(),
        "items": conn.execute("""SELECT p.store_id, i.product_id, i.item_rank, i.item_probability, i.in_basket, i.quantity
                                 FROM data.predicted_order_items i JOIN data.predicted_orders p ON p.id = i.predicted_order_id
                                 WHERE p.status = 'pending' ORDER BY 1, 3""").fetchall(),
        "suggestions": conn.execute("""SELECT store_id, product_id, score, confidence, lift, expected_gain, reason, as_of
                                       FROM data.upselling_recommendations ORDER BY 1, 2""").fetchall(),
        "rules": conn.execute("""SELECT antecedent_id, consequent_id, orders_both, support, confidence, lift, as_of
                                 FROM data.product_associations ORDER BY 1, 2""").fetchall(),
        "segments": conn.execute("""SELECT store_id, segment_name, churn_risk, as_of
                                    FROM data.customer_segments ORDER BY 1""").fetchall(),
    }


def test_predict_on_two_sessions_equals_one(run, history, conn):
    """`mangalm predict` runs the rules and upselling in a second session beside the predictions;
    what it writes equals api.predict's single transaction, as of the same date, every row."""
    as_of = history - timedelta(days=45)
    conn.execute("SELECT api.predict(%s)", (as_of,))
    conn.commit()
    one = derived(conn)
    assert one["predictions"] and one["items"] and one["suggestions"] and one["rules"]
    conn.execute("DELETE FROM data.product_associations")  # the rules must be mined anew by the second session
    conn.commit()
    result = run("predict", "--as-of", as_of.isoformat(), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert {"calibration", "predictions", "segments", "rules", "upselling", "upselling_recent_lines"} <= summary["timings_ms"].keys()
    assert derived(conn) == one
