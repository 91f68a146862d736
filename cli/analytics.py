"""mangalm predict / backtest: next-order predictions, and their track record.

Both are thin fronts over the database, as the owner of the stack's database: `predict` runs
app.predict and app.predict_upselling side by side (functions/refresh.sql; run_predict below),
`backtest` calls api.backtest (functions/backtest.sql).
"""
from __future__ import annotations

import csv
import json
import os
import tempfile
import threading
import time
from datetime import date, datetime
from pathlib import Path

import click
import psycopg

from gateway.config import Settings
from gateway.db import connect
from gateway.spreadsheet import neutralize

from .common import friendly_errors, settings

# The CSV for a spreadsheet: one row per ranked candidate product of each pending prediction
# (item_rank 1 = most likely; in_basket true for the predicted order's lines, which come
# first); a prediction without candidates still gets one row, with the item columns empty, so
# no store is lost.
CSV_COLUMNS = ["customer_id", "customer_name", "predicted_date", "confidence", "priority",
               "product_id", "item_name", "quantity", "unit_price", "amount", "prediction_id",
               "justification", "item_rank", "item_probability", "in_basket"]
CSV_QUERY = """
SELECT s.id, s.name, p.predicted_date, p.confidence, p.priority,
       coalesce(pr.external_id, pr.sku), pr.name, i.quantity, i.unit_price, i.line_amount, p.id,
       p.justification_text, i.item_rank, i.item_probability, i.in_basket
FROM data.predicted_orders p
JOIN data.stores s ON s.id = p.store_id
LEFT JOIN data.predicted_order_items i ON i.predicted_order_id = p.id
LEFT JOIN data.products pr ON pr.id = i.product_id
WHERE p.status = 'pending'
ORDER BY p.predicted_date, s.id, i.item_rank NULLS LAST, i.line_amount DESC NULLS LAST, pr.name
"""

DATE = click.DateTime(formats=["%Y-%m-%d"])


def _day(value: datetime | None) -> date | None:
    return value.date() if value is not None else None


def _number(value) -> str:
    """Numbers as a spreadsheet reads them: no trailing zeros, no exponent."""
    if value is None:
        return ""
    text = format(value, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _percent(value) -> str:
    return "-" if value is None else f"{float(value) * 100:.1f} %"


def _database_error(e: psycopg.Error) -> click.ClickException:
    diag = e.diag
    message = diag.message_primary or str(e).strip()
    if diag.message_hint:
        message += f" ({diag.message_hint})"
    return click.ClickException(message)


def write_predictions_csv(conn: psycopg.Connection, path: Path) -> int:
    """Write the pending predictions to `path` (atomically: a temp file renamed); returns rows."""
    rows = conn.execute(CSV_QUERY).fetchall()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(CSV_COLUMNS)
            for r in rows:
                # Ids, names and the justification come from uploads: neutralised like the rejects.
                writer.writerow([neutralize(r[0]), neutralize(r[1]), r[2].isoformat(), _number(r[3]), r[4],
                                 neutralize(r[5]), neutralize(r[6]),
                                 _number(r[7]), _number(r[8]), _number(r[9]), r[10], neutralize(r[11]),
                                 "" if r[12] is None else r[12], _number(r[13]),
                                 "" if r[14] is None else str(r[14]).lower()])
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(rows)


def _check_writable(path: Path) -> None:
    """Fail before recomputing anything when the CSV cannot be written."""
    folder = path.parent
    if not folder.is_dir():
        raise click.ClickException(f"cannot write {path}: folder {folder} does not exist")
    if path.is_dir():
        raise click.ClickException(f"cannot write {path}: it is a folder")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise click.ClickException(f"cannot write {path}: permission denied")


def run_predict(s: Settings, as_of: date | None, url: str | None = None) -> dict:
    """Every store's prediction, segment and upselling as of a date (the newest invoice date when
    None), on both cores: app.predict (the fits, predictions, segments, dashboard) in this
    session, app.predict_upselling (association rules, upselling) in a second one. Upselling
    reads neither predictions nor segments, and each half is about half the work (README,
    "Analytics speed at real size": one session against two). Each half is its own transaction; the predictions
    commit after the upselling, so their data_changed event follows both. An error in either half is
    raised once both have ended (the other half's results, valid on their own, stay). Returns
    app.predict's summary with both halves' step timings and the wall seconds."""
    started = time.perf_counter()
    side: dict = {}

    def upselling(day: date) -> None:
        try:
            with connect(s, url) as other:
                side["timings"] = other.execute("SELECT app.predict_upselling(%s)", (day,)).fetchone()[0]
                other.commit()
        except BaseException as e:  # raised in the caller's thread below
            side["error"] = e

    with connect(s, url) as conn:
        day = conn.execute("SELECT coalesce(%s::date, app.analytics_as_of())", (as_of,)).fetchone()[0]
        thread = threading.Thread(target=upselling, args=(day,), name="predict-upselling")
        thread.start()
        try:
            summary = conn.execute("SELECT app.predict(%s, false)", (day,)).fetchone()[0]
        finally:
            thread.join()
        conn.commit()
    if "error" in side:
        raise side["error"]
    summary["timings_ms"].update(side["timings"])
    summary["seconds"] = round(time.perf_counter() - started, 3)
    return summary


@click.command()
@click.option("--as-of", type=DATE, metavar="DATE",
              help="Predict as of this date (YYYY-MM-DD), using only invoices dated on or before it. "
                   "Default: the newest invoice date, never after today.")
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="Also write the pending predictions to FILE, one row per ranked candidate product "
                   "(item_rank, item_probability; in_basket marks the predicted order's lines).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object (for scripts).")
@friendly_errors
def predict(as_of: datetime | None, csv_path: Path | None, as_json: bool) -> None:
    """Recompute every store's next-order prediction as of a date.

    Refits the confidence and basket models on past cutoffs, then recomputes predictions (date,
    ranked products with their probabilities, the basket, confidence, priority, justification),
    segments and upselling for every store, and refreshes the dashboard. The predictions and the
    upselling are computed in two database sessions side by side (both cores). Approved,
    converted and dismissed predictions are kept as they are; only pending ones are replaced. A
    store needs 3 order days of history to get a prediction.
    """
    if csv_path is not None:
        csv_path = csv_path.expanduser().resolve()
        _check_writable(csv_path)
    try:
        summary = run_predict(settings(), _day(as_of))
    except psycopg.Error as e:
        raise _database_error(e) from None
    with connect(settings()) as conn:
        rows = write_predictions_csv(conn, csv_path) if csv_path is not None else None
    if as_json:
        if rows is not None:
            summary["csv"] = {"path": str(csv_path), "rows": rows}
        click.echo(json.dumps(summary, default=str))
        return
    if not summary["predictions"]:
        click.echo(f"No store has 3 order days of history as of {summary['as_of']} "
                   f"({summary['invoices_used']:,} invoices on or before it): no predictions.")
    else:
        click.echo(f"Predicted {summary['predictions']:,} of {summary['stores']:,} stores as of {summary['as_of']} "
                   f"from {summary['invoices_used']:,} invoices in {summary['seconds']} s: "
                   f"{summary['high_priority']:,} high priority, mean confidence {summary['mean_confidence']}.")
    fit = summary.get("calibration")
    if fit:
        click.echo(f"Confidence model fitted on {fit['samples']:,} past predictions at {fit['training_cutoffs']} "
                   f"cutoffs ({fit['hits']:,} came true).")
    else:
        click.echo("Too little history to fit the confidence model: confidences are uncalibrated estimates.")
    if rows is not None:
        click.echo(f"Wrote {rows:,} rows to {csv_path}.")


def _report(r: dict) -> list[str]:
    d, b = r["dates"], r["baskets"]
    lines = [f"Backtest as of {r['cutoff']}, horizon {r['horizon_days']} days: {d['stores_predicted']:,} stores "
             f"predicted, {d['stores_ordered']:,} ordered within the horizon ({r['seconds']} s).", ""]
    m, base = d["model"], d["baseline"]
    lines += [f"{'Next order date':<34}{'model':>10}   baseline ({base['name']})",
              f"{'  within ±7 days (hit rate)':<34}{_percent(m['hit_rate_7d']):>10}   {_percent(base['hit_rate_7d'])}",
              f"{'  mean absolute error, days':<34}{m['mae_days'] or '-':>10}   {base['mae_days'] or '-'}"]
    o = d.get("overdue") or {}
    if o.get("stores"):
        lines.append(f"{'  overdue stores (' + str(o['stores']) + '): hit rate':<34}"
                     f"{_percent(o['model_hit_rate_7d']):>10}   {_percent(o['baseline_hit_rate_7d'])}")
    lines.append(f"{'  Brier score':<34}{m['brier'] if m['brier'] is not None else '-':>10}")
    if b and b.get("evaluated"):
        bm, bb, bw = b["model"], b["baseline"], b.get("recency_baseline") or {}
        lines += ["", f"{'Basket (' + str(b['evaluated']) + ' first orders)':<34}{'model':>10}{'baseline':>12}{'baseline':>12}",
                  f"{'':<34}{'':>10}{'(top 10)':>12}{'(0.9^k)':>12}",
                  f"{'  recall@10':<34}{_percent(bm['recall_at_10']):>10}{_percent(bb['recall_at_10']):>12}"
                  f"{_percent(bw.get('recall_at_10')):>12}",
                  f"{'  precision@10':<34}{_percent(bm['precision_at_10']):>10}{_percent(bb['precision_at_10']):>12}"
                  f"{_percent(bw.get('precision_at_10')):>12}",
                  f"{'  F1@10':<34}{_percent(bm['f1_at_10']):>10}{_percent(bb['f1_at_10']):>12}{_percent(bw.get('f1_at_10')):>12}",
                  f"{'  items in the predicted order':<34}{bm.get('basket_items_mean', '-'):>10}{bb['items_mean']:>12}"
                  f"{bw.get('items_mean', '-'):>12}",
                  f"{'  amount error (WAPE)':<34}{_percent(bm['amount_wape']):>10}{_percent(bb['amount_wape']):>12}"
                  f"{_percent(bw.get('amount_wape')):>12}",
                  f"  (baselines: {bb['name']}; {bw.get('name', '-')})"]
    else:
        lines += ["", "Basket: no product lines after the cutoff (n/a)."]
    lines += ["", "Calibration (confidence decile: predictions, mean confidence, observed hit rate)"]
    for c in r["calibration"]:
        lines.append(f"  {c['decile']:<9}{c['n']:>7}   {c['mean_confidence']:>6}   {c['hit_rate']:>6}")
    if r.get("calibration_max_gap") is not None:
        lines.append(f"  largest gap in a decile with 100+ predictions: {r['calibration_max_gap']}")
    if r.get("calibration_ece") is not None:
        lines.append(f"  expected calibration error (gaps weighted by decile size): {r['calibration_ece']}")
    if r.get("item_calibration"):
        lines += ["", "Item probabilities (decile: ranked products, mean probability, share ordered)"]
        for c in r["item_calibration"]:
            lines.append(f"  {c['decile']:<9}{c['n']:>7}   {c['mean_probability']:>6}   {c['hit_rate']:>6}")
        if r.get("item_calibration_ece") is not None:
            lines.append(f"  expected calibration error: {r['item_calibration_ece']}")
    fit = r.get("confidence_fit") or {}
    if fit.get("calibrated"):
        lines.append(f"  (model fitted on {fit['samples']:,} predictions at {fit['training_cutoffs']} earlier cutoffs)")
    lines += ["", f"Recorded as backtest run {r['id']} (GET /api/latest_backtest)."]
    return lines


@click.command()
@click.option("--cutoff", required=True, type=DATE, metavar="DATE",
              help="Predict as of this date (YYYY-MM-DD) with only the invoices dated on or before it.")
@click.option("--horizon", default=90, show_default=True, type=click.IntRange(7, 730), metavar="DAYS",
              help="Compare with what happened in this many days after the cutoff.")
@click.option("--json", "as_json", is_flag=True, help="Print the full figures as one JSON object.")
@friendly_errors
def backtest(cutoff: datetime, horizon: int, as_json: bool) -> None:
    """Measure the predictions against what happened: the track record.

    Predicts as of the cutoff using only earlier invoices (the confidence model too), then
    compares with the first order of each store in the horizon: share within ±7 days, mean
    absolute error in days, basket recall@10 and precision@10, amount error, and calibration
    tables of the date's confidence and of the products' probabilities, beside the baselines
    "last order + median gap", "the store's own 10 most frequent products" and the same with
    each past order weighted 0.9^k by age. The run is recorded; the dashboard shows the latest.
    """
    with connect(settings()) as conn:
        try:
            result = conn.execute("SELECT api.backtest(%s, %s)", (_day(cutoff), horizon)).fetchone()[0]
        except psycopg.Error as e:
            raise _database_error(e) from None
        conn.commit()
    if as_json:
        click.echo(json.dumps(result, default=str))
        return
    click.echo("\n".join(_report(result)))
