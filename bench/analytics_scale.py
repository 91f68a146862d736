"""Analytics at real size: how the upload job's analytics refresh, `mangalm predict`, a small
append and the dashboard's requests grow with the history.

    .venv/bin/python bench/analytics_scale.py [--file REAL_EXPORT] [--steps 25 50 100 200]
                                              [--append 1] [--quick] [--port-base 15300] [--keep]

For each step (a share of the real export's lines, default 25 %, 50 %, 100 % and 200 %: the
lines and a "twin" copy of them for other customers, the whole export's size) it makes a fresh
database and, through the real pipeline (bench/common.py: gateway/loader.py + one upload job):
1. loads the first (step - append) % of the file's lines: the job's total and its analytics
   refresh, by step (timings of app.refresh_derived);
2. appends the next --append % (default 1 %) of the file's lines (of the doubled file's at
   200 %): that job's refresh, by step. Before it the database is vacuumed, analyzed and
   checkpointed, as autovacuum leaves it some minutes after a load (untimed, bench/common.settle): a day's append meets a settled
   history, and without it the append raced autovacuum's first pass over the million lines
   just written (which starts up to a minute after the commit, on the same 2 cores);
3. runs `mangalm predict` (cli.analytics.run_predict, every store: the predictions and the
   upselling in two sessions), twice: the first re-mines the association rules (invoices came
   since the upload mined them), the second reuses them; then, in the same state with the rules
   dropped before each, POST /rpc/predict's api.predict (one session) and `mangalm predict`
   once more: one session against two;
4. times the SQL behind the dashboard's overview and the busiest store's page, as a manager
   through the api views (median of 5 requests each; PostgREST adds ~1-2 ms a request);
and prints the growth ratio from step to step. At the largest step it also measures the upsell
suggestions' quality: suggestions made as of 2011-09-09 from the history up to that day, judged
on the stores that ordered in the 60 days after it (the share of them that bought a suggested
product, and the share of suggestions bought), beside the naive "the 10 products most stores
bought in the last 90 days that the store does not buy".

The file is cut by lines: the export is in invoice-date order, so the first N % of its lines are
a date prefix (the cut moves to the end of an invoice, so none is split). CPU seconds of the
benchmark's PostgreSQL are printed beside wall seconds: the machine may be shared.
A benchmark, not a test: it prints figures and exits 0. Results also go to
bench/out/analytics_scale.json.
"""
from __future__ import annotations

import argparse
import csv
import heapq
import json
import shutil
import statistics
import sys
import time
from datetime import date
from pathlib import Path

from common import (stack_arguments, OUT, cluster_cpu, configure, fresh_database, load, real_file, settle,
                    start_cluster, stop, write_json)

QUALITY_CUTOFF, QUALITY_HORIZON = date(2011, 9, 9), 60
CUTS = OUT / "analytics_scale"   # the cut files, made in a second and removed afterwards


def with_twins(header: list[str], rows: list[list[str]]) -> list[list[str]]:
    """The lines and a copy of them for "twin" customers (customer ids, names and invoice numbers
    marked T), merged in invoice-date order: the development half at the whole export's size
    (1.0M lines, twice the customers, the same products and dates), where the real held-out half
    is not at hand."""
    date, customer, name = header.index("Invoice Date"), header.index("Customer ID"), header.index("Customer Name")
    invoice, number = header.index("Invoice ID"), header.index("Invoice Number")

    def twin(row: list[str]) -> list[str]:
        row = list(row)
        for i in (invoice, number):
            row[i] = "T" + row[i]
        for i in (customer, name):
            if row[i]:
                row[i] = "T" + row[i]
        return row

    return list(heapq.merge(rows, map(twin, rows), key=lambda r: r[date]))


def cut(path: Path, steps: list[float], append: float) -> dict[float, tuple[Path, Path, int, int]]:
    """Per step: (base file, append file, base lines, append lines), the base the first
    (step - append) % of the data lines, the append the lines after it up to step %; every cut
    moved forward to the end of an invoice. A step over 100 % is cut from the lines with their
    twins (with_twins: 200 % is all of both)."""
    with open(path, newline="", encoding="utf-8") as f:
        header, *lines = list(csv.reader(f))
    number = header.index("Invoice Number")
    doubled = with_twins(header, lines) if max(steps) > 100 else []

    def boundary(rows: list[list[str]], share: float) -> int:
        i = min(len(rows), max(1, round(len(rows) * share)))
        while 0 < i < len(rows) and rows[i][number] == rows[i - 1][number]:
            i += 1
        return i

    out: dict[float, tuple[Path, Path, int, int]] = {}
    folder = CUTS
    folder.mkdir(parents=True, exist_ok=True)
    for step in steps:
        # (the append is --append % of the whole file: of the doubled one for a step over 100 %)
        rows, whole = (doubled, 200) if step > 100 else (lines, 100)
        a, b = boundary(rows, (step - append * whole / 100) / whole), boundary(rows, step / whole)
        files = []
        for name, part in ((f"base-{step:g}.csv", rows[:a]), (f"append-{step:g}.csv", rows[a:b])):
            p = folder / name
            with open(p, "w", newline="", encoding="utf-8") as f:
                w = csv.writer(f)
                w.writerow(header)
                w.writerows(part)
            files.append(p)
        out[step] = (files[0], files[1], a, b - a)
    return out


def db_name(step: float) -> str:
    return f"scale_{step:g}".replace(".", "_")


def refresh_of(job: dict) -> dict:
    t = job.get("timings") or {}
    return {"seconds": round((t.get("refresh") or 0) / 1000, 2), "steps_ms": t.get("refresh_steps") or {}}


def timed_predict(settings, url: str, one_session: bool = False, remine: bool = False) -> dict:
    """`mangalm predict` as the CLI runs it (cli.analytics.run_predict: the predictions and the
    upselling in two sessions, on both cores), or with one_session POST /rpc/predict's
    api.predict (one transaction, one core); with remine the rules are dropped first (untimed),
    so that they are mined anew as in the first predict after an append."""
    import psycopg

    from cli.analytics import run_predict

    if remine:
        with psycopg.connect(url) as conn:
            conn.execute("DELETE FROM data.product_associations")
    cpu = cluster_cpu(settings)
    started = time.perf_counter()
    if one_session:
        with psycopg.connect(url) as conn:
            summary = conn.execute("SELECT api.predict()").fetchone()[0]
            conn.commit()
    else:
        summary = run_predict(settings, None, url)
    wall = time.perf_counter() - started
    return {"seconds": round(wall, 2), "cpu_seconds": round(cluster_cpu(settings) - cpu, 2),
            "steps_ms": summary.get("timings_ms"), "predictions": summary.get("predictions")}


def page_requests(url: str, repeat: int = 5) -> dict:
    """Median milliseconds of the queries behind the overview (manager) and the busiest store's
    page, as PostgREST runs them: the manager's role and claims, the api views."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        store = conn.execute("SELECT store_id FROM data.orders WHERE source = 'invoice' GROUP BY 1 "
                             "ORDER BY count(*) DESC, 1 LIMIT 1").fetchone()[0]
        queries = {
            "overview: dashboard_summary": ("SELECT * FROM api.dashboard_summary", ()),
            "overview: sales_trends 30d": ("SELECT * FROM api.sales_trends('30d', 'day')", ()),
            "store: stores": ("SELECT * FROM api.stores WHERE id = %s LIMIT 1", (store,)),
            "store: orders (up to 2000)": (
                "SELECT id, order_date, total_amount, status, source, invoice_number, item_count, currency_code "
                "FROM api.orders WHERE store_id = %s ORDER BY order_date, id LIMIT 2000", (store,)),
            "store: customer_segments": ("SELECT * FROM api.customer_segments WHERE store_id = %s LIMIT 1", (store,)),
            "store: predicted_orders + items": (
                "SELECT p.*, (SELECT json_agg(i) FROM (SELECT i.*, pr.name, pr.sku FROM api.predicted_order_items i "
                "JOIN api.products pr ON pr.id = i.product_id WHERE i.predicted_order_id = p.id) i) AS items "
                "FROM api.predicted_orders p WHERE p.store_id = %s ORDER BY p.created_at DESC LIMIT 5", (store,)),
            "store: upselling_recommendations": (
                "SELECT * FROM api.upselling_recommendations WHERE store_id = %s ORDER BY score DESC LIMIT 10", (store,)),
            "store: store_preferences": ("SELECT * FROM api.store_preferences WHERE store_id = %s LIMIT 1", (store,)),
        }
        out = {}
        for name, (sql, params) in queries.items():
            times = []
            for _ in range(repeat):
                with conn.transaction():
                    conn.execute("SET LOCAL role manager")
                    conn.execute("SELECT set_config('request.jwt.claims', %s, true)", (json.dumps({"role": "manager"}),))
                    started = time.perf_counter()
                    conn.execute(sql, params).fetchall()
                    times.append((time.perf_counter() - started) * 1000)
            out[name] = round(statistics.median(times), 1)
    return {"store": store, "ms": out}


QUALITY_SQL = """
WITH recs AS (SELECT * FROM {table}),
nxt AS (
  SELECT o.store_id, i.product_id FROM data.orders o JOIN data.invoice_items i ON i.order_id = o.id
  WHERE o.source = 'invoice' AND o.status <> 'void' AND o.order_date > %(cutoff)s
    AND o.order_date <= %(cutoff)s::date + %(horizon)s AND i.is_product AND i.quantity > 0 AND i.product_id IS NOT NULL
  GROUP BY 1, 2),
per_store AS (
  SELECT r.store_id, count(*) AS n, count(x.product_id) AS hits
  FROM recs r LEFT JOIN nxt x ON x.store_id = r.store_id AND x.product_id = r.product_id
  WHERE r.store_id IN (SELECT store_id FROM nxt)
  GROUP BY r.store_id)
SELECT count(*) AS stores, round(avg((hits > 0)::integer), 4) AS store_hit_rate,
       round(sum(hits)::numeric / nullif(sum(n), 0), 4) AS precision
FROM per_store
"""


def upsell_quality(url: str) -> dict | None:
    """Suggestions as of QUALITY_CUTOFF (rules and upselling recomputed from the history up to
    it) against what the stores bought in the QUALITY_HORIZON days after; rolled back."""
    import psycopg

    with psycopg.connect(url) as conn:
        last = conn.execute("SELECT max(order_date) FROM data.orders WHERE source = 'invoice'").fetchone()[0]
        if last is None or last < QUALITY_CUTOFF.fromordinal(QUALITY_CUTOFF.toordinal() + QUALITY_HORIZON):
            return None
        params = {"cutoff": QUALITY_CUTOFF, "horizon": QUALITY_HORIZON}
        conn.execute("SET LOCAL work_mem = '64MB'")
        started = time.perf_counter()
        conn.execute("SELECT app.recompute_associations(%s)", (QUALITY_CUTOFF,))
        conn.execute("SELECT app.recompute_upselling(%s, NULL)", (QUALITY_CUTOFF,))
        seconds = time.perf_counter() - started
        model = conn.execute(QUALITY_SQL.format(table="data.upselling_recommendations"), params).fetchone()
        conn.execute("""
          CREATE TEMP TABLE popular_recs ON COMMIT DROP AS
          WITH recent AS (SELECT * FROM app.recent_orders(%(cutoff)s, 12)),
          own AS (SELECT DISTINCT r.store_id, i.product_id FROM recent r JOIN data.invoice_items i ON i.order_id = r.id),
          pop AS (SELECT i.product_id, count(DISTINCT o.store_id) AS stores
                  FROM data.orders o JOIN data.invoice_items i ON i.order_id = o.id
                  WHERE o.source = 'invoice' AND o.status <> 'void' AND o.order_date > %(cutoff)s::date - 90
                    AND o.order_date <= %(cutoff)s AND i.product_id IS NOT NULL AND i.quantity > 0
                  GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 200),
          ranked AS (SELECT s.store_id, p.product_id,
                            row_number() OVER (PARTITION BY s.store_id ORDER BY p.stores DESC, p.product_id) AS rnk
                     FROM (SELECT DISTINCT store_id FROM recent) s CROSS JOIN pop p
                     WHERE NOT EXISTS (SELECT FROM own w WHERE w.store_id = s.store_id AND w.product_id = p.product_id))
          SELECT store_id, product_id FROM ranked WHERE rnk <= 10""", params)
        popular = conn.execute(QUALITY_SQL.format(table="pg_temp.popular_recs"), params).fetchone()
        conn.rollback()
    return {"cutoff": QUALITY_CUTOFF, "horizon_days": QUALITY_HORIZON, "seconds": round(seconds, 2),
            "stores_that_ordered": model[0], "store_hit_rate": float(model[1] or 0), "precision": float(model[2] or 0),
            "popular_baseline": {"store_hit_rate": float(popular[1] or 0), "precision": float(popular[2] or 0)}}


def ratio(a, b) -> str:
    return f"{b / a:5.2f}x" if a and b else "    -"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    stack_arguments(parser, 15300, real_file=True)
    parser.add_argument("--steps", type=float, nargs="+", default=[25, 50, 100, 200],
                        help="shares of the file's lines, in %%; over 100: with their twins (with_twins)")
    parser.add_argument("--append", type=float, default=1.0, help="the append's share of the file's lines, in %%")
    parser.add_argument("--quick", action="store_true", help="steps 5 and 10 %% only (a minute or two)")
    args = parser.parse_args()
    if args.quick:
        args.steps = [5, 10]

    path = real_file(args.file)
    if path is None:
        print("The real export is not there (give --file): nothing to measure.")
        return 0
    settings = configure("analytics_scale", args.port_base)
    was_running = start_cluster(settings)
    started = time.perf_counter()
    result: dict = {"file": path.name, "cut": "by lines (a date prefix), at invoice boundaries", "steps": []}
    try:
        cuts = cut(path, sorted(args.steps), args.append)
        for step, (base, extra, base_lines, append_lines) in cuts.items():
            print(f"\n{step:g} % of {path.name}: {base_lines:,} lines, then an append of {append_lines:,}", flush=True)
            url = fresh_database(settings, db_name(step))
            cpu = cluster_cpu(settings)
            job = load(settings, url, base)
            job_cpu = cluster_cpu(settings) - cpu
            base_refresh = refresh_of(job)
            print(f"  load: job {job['seconds']:.1f} s ({job_cpu:.1f} CPU s), {job['loaded']:,} loaded; "
                  f"analytics refresh {base_refresh['seconds']} s {base_refresh['steps_ms']}", flush=True)
            settle(url)
            added = load(settings, url, extra)
            append_refresh = refresh_of(added)
            print(f"  append: job {added['seconds']:.2f} s, analytics refresh {append_refresh['seconds']} s "
                  f"{append_refresh['steps_ms']}", flush=True)
            predict = timed_predict(settings, url)
            again = timed_predict(settings, url)
            # the same state twice, rules mined anew each time: one session against two
            api = timed_predict(settings, url, one_session=True, remine=True)
            both = timed_predict(settings, url, remine=True)
            print(f"  mangalm predict: {predict['seconds']} s ({predict['cpu_seconds']} CPU s) {predict['steps_ms']}; "
                  f"again (rules reused) {again['seconds']} s; then, rules mined anew: in one session (POST "
                  f"/rpc/predict) {api['seconds']} s ({api['cpu_seconds']} CPU s), in two (mangalm predict) "
                  f"{both['seconds']} s ({both['cpu_seconds']} CPU s)", flush=True)
            pages = page_requests(url)
            print(f"  requests (ms, median of 5; store {pages['store']}): {pages['ms']}", flush=True)
            result["steps"].append({
                "share": step, "lines": base_lines + append_lines, "base_lines": base_lines, "append_lines": append_lines,
                "job_seconds": round(job["seconds"], 2), "job_cpu_seconds": round(job_cpu, 2),
                "refresh": base_refresh, "append_job_seconds": round(added["seconds"], 2), "append_refresh": append_refresh,
                "predict": predict, "predict_again": again, "predict_one_session": api, "predict_two_sessions": both,
                "pages": pages})
        biggest = result["steps"][-1]
        quality = upsell_quality(settings.url_for("mangalm", settings.superuser_password, db_name(biggest["share"])))
        if quality:
            biggest["upsell_quality"] = quality
            print(f"\nUpsell suggestions as of {quality['cutoff']} on the {biggest['share']:g} % history, judged on the "
                  f"{quality['stores_that_ordered']} stores that ordered in the next {quality['horizon_days']} days: "
                  f"{quality['store_hit_rate']:.1%} of them bought a suggested product, {quality['precision']:.1%} of "
                  f"suggestions were bought (10 most popular products they do not buy: "
                  f"{quality['popular_baseline']['store_hit_rate']:.1%}, {quality['popular_baseline']['precision']:.1%})")

        print(f"\n{'lines':>10} {'job s':>7} {'refresh s':>10} {'predict s':>10} {'again s':>8} {'append s':>9} "
              f"{'overview ms':>12} {'store ms':>9}   growth (lines; job, refresh, predict, append)")
        prev = None
        for s in result["steps"]:
            overview = sum(v for k, v in s["pages"]["ms"].items() if k.startswith("overview"))
            store = sum(v for k, v in s["pages"]["ms"].items() if k.startswith("store"))
            growth = ""
            if prev:
                growth = (f"{ratio(prev['lines'], s['lines'])};{ratio(prev['job_seconds'], s['job_seconds'])}"
                          f"{ratio(prev['refresh']['seconds'], s['refresh']['seconds'])}"
                          f"{ratio(prev['predict']['seconds'], s['predict']['seconds'])}"
                          f"{ratio(prev['append_refresh']['seconds'], s['append_refresh']['seconds'])}")
            print(f"{s['lines']:>10,} {s['job_seconds']:>7.1f} {s['refresh']['seconds']:>10.2f} "
                  f"{s['predict']['seconds']:>10.2f} {s['predict_again']['seconds']:>8.2f} "
                  f"{s['append_refresh']['seconds']:>9.2f} {overview:>12.1f} {store:>9.1f}   {growth}")
            prev = s
        result["seconds"] = round(time.perf_counter() - started, 1)
        print(f"\nbench/analytics_scale.py took {result['seconds']} s")
        write_json("analytics_scale", result)
    finally:
        shutil.rmtree(CUTS, ignore_errors=True)
        if not was_running:
            stop(settings, args.keep)
    return 0


if __name__ == "__main__":
    sys.exit(main())
