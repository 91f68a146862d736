"""Soak: mixed API reads through the front door (nginx) while large uploads run every minute.

    .venv/bin/python bench/soak.py [--minutes 10] [--upload-lines 100000] [--connections 20] [--keep]

Starts a stack of its own in a fresh state folder (`bench-soak`, bench/common.py; ports from
--port-base, default 18700) with 127.0.0.1 exempt from the front door's rate limit
(MANGALM_RATE_LIMIT_EXEMPT), so the reads measure the system, not nginx's 429s. Loads one
upload of history, then:

1. before: wrk alone for --baseline seconds (no upload);
2. soak: wrk for --minutes minutes while `mangalm load --wait --json` starts an upload of
   --upload-lines generated lines every --upload-every seconds (each upload has invoice numbers
   of its own, so the history grows by every upload).

wrk runs in back-to-back segments of --segment seconds with a Lua script that rotates over
several GET endpoints with a manager's token; a segment that overlaps an upload (from the
command's start to its end) counts as "during uploads", the others as "between uploads".
Each segment's script prints its latency quantiles, merged here into p50/p99 per phase.

Prints: requests and errors (socket errors, timeouts, HTTP status >= 400), the lost-lines
check (every job: status succeeded and loaded + rejected = lines of its file; the tables grew
by exactly what the jobs loaded), and p50/p99 latency before and during uploads. A benchmark,
not a test (tests/test_soak_short.py runs a short version and asserts the counts): it exits 0
unless something was lost or errored. Results also go to bench/out/soak.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Quantiles each wrk segment reports (percent); merged across segments by request weight.
QUANTILES = [float(p) for p in range(1, 99)] + [98.5, 99.0, 99.25, 99.5, 99.75, 99.9, 99.95, 99.99]

LUA = r"""
-- Rotates over the soak's GET endpoints; prints latency quantiles when done (microseconds).
local paths = { @PATHS@ }
local headers = { ["Authorization"] = "Bearer @TOKEN@", ["Accept"] = "application/json" }
local reqs = {}
local i = 0

function init(args)
  for k, p in ipairs(paths) do
    reqs[k] = wrk.format("GET", p, headers)
  end
  i = math.random(#reqs)
end

function request()
  i = i % #reqs + 1
  return reqs[i]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("SOAK summary %d %d %d %d %d %d %d\n", summary.duration, summary.requests,
    e.connect, e.read, e.write, e.status, e.timeout))
  for _, p in ipairs({ @QUANTILES@ }) do
    io.write(string.format("SOAK q %s %d\n", p, latency:percentile(p)))
  end
  io.write(string.format("SOAK max %d\n", latency.max))
end
"""


# ---------------------------------------------------------------------------------------------
# wrk segments
# ---------------------------------------------------------------------------------------------

@dataclass
class Segment:
    start: float
    end: float
    requests: int = 0
    errors: dict = field(default_factory=dict)
    quantiles: list = field(default_factory=list)   # [(percent, microseconds)]
    max_us: int = 0
    phase: str = ""

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def write_lua(paths: list[str], token: str) -> Path:
    script = (LUA.replace("@PATHS@", ", ".join(json.dumps(p) for p in paths))
              .replace("@TOKEN@", token)
              .replace("@QUANTILES@", ", ".join(repr(q) for q in QUANTILES)))
    fd, name = tempfile.mkstemp(prefix="mangalm-soak-", suffix=".lua")
    with os.fdopen(fd, "w") as f:
        f.write(script)
    return Path(name)


def run_wrk(base_url: str, lua: Path, seconds: float, connections: int, threads: int,
            timeout_s: int = 30) -> Segment:
    """One wrk run of `seconds` against base_url (the script picks the paths)."""
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
            "--timeout", f"{timeout_s}s", "-s", str(lua), base_url]
    start = time.time()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + timeout_s + 60)
    seg = Segment(start=start, end=time.time())
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) < 2 or parts[0] != "SOAK":
            continue
        if parts[1] == "summary":
            _, _, _duration, reqs, connect, read, write, status, tmo = parts
            seg.requests = int(reqs)
            seg.errors = {"connect": int(connect), "read": int(read), "write": int(write),
                          "http_status_400_plus": int(status), "timeout": int(tmo)}
        elif parts[1] == "q":
            seg.quantiles.append((float(parts[2]), int(float(parts[3]))))
        elif parts[1] == "max":
            seg.max_us = int(float(parts[2]))
    if not seg.errors or (seg.requests and not seg.quantiles):
        raise RuntimeError(f"wrk gave no summary (exit {out.returncode}): {out.stderr.strip()[:500]}")
    return seg


def merged_percentiles(segments: list[Segment], wanted=(50.0, 99.0)) -> dict:
    """p50/p99 (ms) over every request of the segments: each segment's quantiles stand for
    their share of its requests (accurate to the quantile grid, 0.25-1 %)."""
    points = []
    total = 0
    for seg in segments:
        if not seg.requests or not seg.quantiles:
            continue
        prev = 0.0
        for p, us in seg.quantiles:
            points.append((us, seg.requests * (p - prev) / 100.0))
            prev = p
        points.append((seg.max_us, seg.requests * (100.0 - prev) / 100.0))
        total += seg.requests
    if not total:
        return {f"p{int(w)}_ms": None for w in wanted} | {"requests": 0, "max_ms": None}
    points.sort()
    out = {"requests": total, "max_ms": round(max(s.max_us for s in segments if s.requests) / 1000, 1)}
    for w in wanted:
        target = total * w / 100.0
        acc = 0.0
        value = points[-1][0]
        for us, weight in points:
            acc += weight
            if acc >= target:
                value = us
                break
        out[f"p{int(w)}_ms"] = round(value / 1000, 1)
    return out


# ---------------------------------------------------------------------------------------------
# Uploads
# ---------------------------------------------------------------------------------------------

@dataclass
class Upload:
    index: int
    prefix: str
    lines: int
    invoices: int
    start: float = 0.0
    end: float = 0.0
    result: dict | None = None
    error: str | None = None


def file_facts(path: Path) -> tuple[int, int]:
    """Data lines and distinct invoice numbers of a generated export."""
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader)
        col = header.index("Invoice Number")
        lines = 0
        invoices = set()
        for row in reader:
            lines += 1
            invoices.add(row[col])
    return lines, len(invoices)


def prefixed_copy(source: Path, prefix: str, folder: Path) -> Path:
    """The export with its invoice numbers renamed INV-... -> <prefix>-...: new invoices."""
    target = folder / f"soak-{prefix}.csv"
    target.write_text(source.read_text(encoding="utf-8").replace(",INV-", f",{prefix}-"), encoding="utf-8")
    return target


def run_upload(up: Upload, source: Path, folder: Path, env: dict) -> None:
    """`mangalm load --wait --json` of a prefixed copy; fills in up.result or up.error."""
    path = prefixed_copy(source, up.prefix, folder)
    up.start = time.time()
    try:
        out = subprocess.run([sys.executable, "-m", "cli.main", "load", "--wait", "--json", "--quiet", str(path)],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
        lines = [line for line in out.stdout.splitlines() if line.strip()]
        try:
            up.result = json.loads(lines[-1]) if lines else None
        except ValueError:
            up.result = None
        if out.returncode != 0 or up.result is None:
            up.error = (out.stderr.strip() or out.stdout.strip())[-500:] or f"exit {out.returncode}"
    except subprocess.TimeoutExpired:
        up.error = "mangalm load did not finish within an hour"
    finally:
        up.end = time.time()
        path.unlink(missing_ok=True)


def table_counts(url: str) -> dict:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT (SELECT count(*) FROM data.mangalam_invoices), "
                           "(SELECT count(*) FROM data.orders WHERE source = 'invoice'), "
                           "(SELECT count(*) FROM data.invoice_items)").fetchone()
    return {"lines": row[0], "invoices": row[1], "items": row[2]}


def job_rows(url: str, ids: list[int]) -> dict[int, dict]:
    import psycopg
    from psycopg.rows import dict_row

    if not ids:
        return {}
    with psycopg.connect(url, row_factory=dict_row) as conn:
        return {r["id"]: r for r in conn.execute(
            "SELECT id, status, lines, loaded, rejected, attempts, processing_ms, timings ->> 'path' AS path "
            "FROM data.upload_jobs WHERE id = ANY(%s)", (ids,))}


# ---------------------------------------------------------------------------------------------
# The soak
# ---------------------------------------------------------------------------------------------

def api_paths(settings, token: str) -> list[str]:
    """The GET endpoints the soak rotates over (those this build has)."""
    import httpx

    api = httpx.Client(base_url=f"{settings.gateway_url}/api", headers={"Authorization": f"Bearer {token}"},
                       timeout=30)
    have = set(api.get("/").json().get("paths", {}))
    stores = api.get("/stores", params={"select": "id", "limit": 3, "order": "id"}).json()
    store = stores[0]["id"] if stores else "none"
    wanted = [
        ("/stores", "/api/stores?limit=50&order=name"),
        ("/products", "/api/products?limit=50&order=name"),
        ("/orders", "/api/orders?limit=20&order=order_date.desc"),
        ("/orders", f"/api/orders?store_id=eq.{store}&limit=20&order=order_date.desc&select=*,invoice_items(*)"),
        ("/stores", "/api/stores?select=id,name,orders(id,order_date,total_amount)&limit=20"
                    "&orders.order=order_date.desc&orders.limit=5"),
        ("/dashboard_summary", "/api/dashboard_summary"),
        ("/rpc/sales_trends", "/api/rpc/sales_trends?range=90d&grain=week"),
        ("/rpc/usual_basket", f"/api/rpc/usual_basket?store_id={store}"),
        ("/customer_segments", "/api/customer_segments?limit=50"),
        ("/predicted_orders", "/api/predicted_orders?limit=20"),
        ("/upload_jobs", "/api/upload_jobs?limit=5&order=id.desc"),
    ]
    paths = [p for key, p in wanted if key in have]
    bad = []
    for p in paths:
        r = api.get(p[len("/api"):])
        if r.status_code != 200:
            bad.append((p, r.status_code, r.text[:200]))
    if bad:
        raise RuntimeError(f"endpoints that do not answer 200 before the soak: {bad}")
    return paths


def run_soak(settings, token: str, source: Path, *, baseline_s: float = 60, soak_s: float = 600,
             upload_every: float = 60, uploads: int | None = None, connections: int = 20, threads: int = 2,
             segment_s: float = 10, tag: str = "S", log=lambda s: print(s, file=sys.stderr)) -> dict:
    """Reads through the front door of the running stack `settings` for baseline_s, then for
    soak_s while an upload of `source` (renamed per upload) starts every upload_every seconds.
    Returns the report (see print_report)."""
    from gateway.stack import child_env

    env = child_env(settings)
    url = settings.database_url
    lines, invoices = file_facts(source)
    n_uploads = uploads if uploads is not None else max(1, int(soak_s // upload_every))
    paths = api_paths(settings, token)
    lua = write_lua(paths, token)
    folder = Path(tempfile.mkdtemp(prefix="mangalm-soak-"))
    segments: list[Segment] = []
    ups = [Upload(k, f"{tag}{k:02d}", lines, invoices) for k in range(n_uploads)]
    try:
        before_counts = table_counts(url)
        log(f"reads over {len(paths)} endpoints, {connections} connections; baseline {baseline_s:.0f} s")
        t_end = time.time() + baseline_s
        while time.time() < t_end - 0.5:
            seg = run_wrk(settings.gateway_url, lua, min(segment_s, t_end - time.time()), connections, threads)
            seg.phase = "before"
            segments.append(seg)

        log(f"soak {soak_s:.0f} s: {n_uploads} uploads of {lines:,} lines, one every {upload_every:.0f} s")
        soak_start = time.time()
        workers: list[threading.Thread] = []

        def scheduler():
            for up in ups:
                delay = soak_start + up.index * upload_every - time.time()
                if delay > 0:
                    time.sleep(delay)
                t = threading.Thread(target=run_upload, args=(up, source, folder, env), daemon=True)
                t.start()
                workers.append(t)

        sched = threading.Thread(target=scheduler, daemon=True)
        sched.start()
        t_end = soak_start + soak_s
        while time.time() < t_end - 0.5:
            seg = run_wrk(settings.gateway_url, lua, min(segment_s, t_end - time.time()), connections, threads)
            seg.phase = "soak"
            segments.append(seg)
            done = sum(1 for u in ups if u.end)
            log(f"  {seg.end - soak_start:6.0f} s: {seg.requests / max(seg.end - seg.start, 1e-6):7.0f} req/s, "
                f"{seg.error_count} errors, uploads finished {done}/{n_uploads}")
        sched.join()
        waited = time.time()
        for t in workers:
            t.join()
        waited = time.time() - waited
        after_counts = table_counts(url)
    finally:
        lua.unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)

    # Which soak segments overlapped an upload?
    for seg in segments:
        if seg.phase == "soak":
            busy = any(u.start < seg.end and (u.end or float("inf")) > seg.start for u in ups)
            seg.phase = "during" if busy else "between"
    by_phase = {ph: [s for s in segments if s.phase == ph] for ph in ("before", "during", "between")}
    errors: dict[str, int] = {}
    for seg in segments:
        for k, v in seg.errors.items():
            errors[k] = errors.get(k, 0) + v
    ids = [u.result["job_id"] for u in ups if u.result and u.result.get("job_id")]
    jobs = job_rows(url, ids)
    job_checks = []
    for u in ups:
        r = u.result or {}
        row = jobs.get(r.get("job_id"), {})
        ok = (not u.error and r.get("status") == "succeeded" and row.get("status") == "succeeded"
              and row.get("loaded", -1) + row.get("rejected", -1) == row.get("lines") == u.lines)
        job_checks.append({"upload": u.prefix, "job_id": r.get("job_id"), "ok": ok, "status": row.get("status"),
                           "lines": row.get("lines"), "loaded": row.get("loaded"), "rejected": row.get("rejected"),
                           "attempts": row.get("attempts"), "path": row.get("path"),
                           "db_seconds": round((row.get("processing_ms") or 0) / 1000, 1),
                           "wall_seconds": round(u.end - u.start, 1) if u.end else None, "error": u.error})
    loaded = sum(c["loaded"] or 0 for c in job_checks)
    expected = {"lines": before_counts["lines"] + loaded,
                "invoices": before_counts["invoices"] + invoices * sum(1 for c in job_checks if c["ok"]),
                "items": before_counts["items"] + loaded}
    return {
        "endpoints": paths, "connections": connections, "threads": threads,
        "baseline_s": baseline_s, "soak_s": soak_s, "upload_every_s": upload_every, "upload_lines": lines,
        "requests": sum(s.requests for s in segments), "errors": errors,
        "latency": {ph: merged_percentiles(segs) | {"segments": len(segs)} for ph, segs in by_phase.items()},
        "uploads": job_checks, "waited_for_uploads_s": round(waited, 1),
        "counts_before": before_counts, "counts_after": after_counts, "counts_expected": expected,
        "lost_lines": expected["lines"] - after_counts["lines"],
        "ok": (not any(errors.values()) and all(c["ok"] for c in job_checks) and after_counts == expected),
    }


def print_report(report: dict) -> None:
    lat = report["latency"]
    print(f"\nSoak: {report['soak_s'] / 60:.1f} min of reads ({len(report['endpoints'])} endpoints, "
          f"{report['connections']} connections) with an upload of {report['upload_lines']:,} lines every "
          f"{report['upload_every_s']:.0f} s; baseline {report['baseline_s']:.0f} s before\n")
    print("| phase | requests | p50 (ms) | p99 (ms) | max (ms) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    names = {"before": "before uploads", "during": "during uploads", "between": "between uploads"}
    for ph, name in names.items():
        p = lat[ph]
        if p["requests"]:
            print(f"| {name} | {p['requests']:,} | {p['p50_ms']} | {p['p99_ms']} | {p['max_ms']} |")
    errs = report["errors"]
    print(f"\nrequests: {report['requests']:,}; errors: {sum(errs.values())} "
          f"({', '.join(f'{k} {v}' for k, v in errs.items())})")
    print("\n| upload | job | status | lines | loaded | rejected | attempts | path | db s | wall s |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |")
    for c in report["uploads"]:
        print(f"| {c['upload']} | {c['job_id']} | {c['status']} | {c['lines']} | {c['loaded']} | {c['rejected']} | "
              f"{c['attempts']} | {c['path']} | {c['db_seconds']} | {c['wall_seconds']} |"
              + (f" {c['error']}" if c["error"] else ""))
    ca, ce = report["counts_after"], report["counts_expected"]
    print(f"\nlines in the tables: {ca['lines']:,} (expected {ce['lines']:,}); invoices {ca['invoices']:,} "
          f"(expected {ce['invoices']:,}); invoice items {ca['items']:,} (expected {ce['items']:,})")
    print(f"lost lines: {report['lost_lines']}; every job loaded + rejected = lines: "
          f"{all(c['ok'] for c in report['uploads'])}")
    print(f"waited {report['waited_for_uploads_s']} s after the soak for uploads still running")
    print(f"\nRESULT: {'OK (no errors, nothing lost)' if report['ok'] else 'FAILED'}")


def main() -> int:
    from common import OUT, configure, machine, stack_arguments  # lazily: tests import this module

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10, help="soak length (default 10)")
    parser.add_argument("--baseline", type=float, default=60, help="seconds of reads before any upload (default 60)")
    parser.add_argument("--upload-lines", type=int, default=100_000, help="lines per upload (default 100000)")
    parser.add_argument("--upload-every", type=float, default=60, help="seconds between upload starts (default 60)")
    parser.add_argument("--connections", type=int, default=20, help="wrk connections (default 20)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    parser.add_argument("--segment", type=float, default=10, help="seconds per wrk run (default 10)")
    stack_arguments(parser, 18700)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: scripts/install.sh --test installs it", file=sys.stderr)
        return 0

    # 127.0.0.1 is exempt from the front door's rate limit, so the reads measure the system.
    settings = configure("soak", args.port_base, MANGALM_RATE_LIMIT_EXEMPT="127.0.0.1",
                         MANGALM_UPLOAD_MAX_BYTES=str(1 << 30))
    os.environ.pop("MANGALM_JWT_SECRET", None)
    home = settings.home

    import psycopg

    from gateway import cluster, stack, tokens
    from gateway.generate import generate_file
    from gateway.users import add_user

    # A fresh state folder each run, so runs compare: stop what an earlier run left, then wipe it.
    if home.exists():
        stack.stop(settings)
        shutil.rmtree(home)
    source = OUT / f"soak-{args.upload_lines}.csv"
    if not source.exists():
        print(f"generating {args.upload_lines:,} lines into {source}", file=sys.stderr)
        generate_file(source.with_suffix(".part"), args.upload_lines, seed=7)
        source.with_suffix(".part").rename(source)
    started = datetime.now(timezone.utc)
    print(f"starting the soak stack in {home}", file=sys.stderr)
    cluster.start(settings)
    stack.start(settings, on_step=lambda s: print(f"  {s}", file=sys.stderr))
    try:
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            manager = add_user(conn, "soak-manager@bench.test", "soak-manager-password", "manager")
        token = tokens.issue(settings, "manager", manager, "soak-manager@bench.test")[0]
        # One upload of history first, so the reads have something to read.
        print("loading the history (one upload, not measured)", file=sys.stderr)
        history = Upload(-1, "H00", *file_facts(source))
        from gateway.stack import child_env
        run_upload(history, source, OUT, child_env(settings))
        if history.error:
            print(f"the history upload failed: {history.error}", file=sys.stderr)
            return 1
        report = run_soak(settings, token, source, baseline_s=args.baseline, soak_s=args.minutes * 60,
                          upload_every=args.upload_every, connections=args.connections, threads=args.threads,
                          segment_s=args.segment, tag="S")
    finally:
        if not args.keep:
            stack.stop(settings)
    from gateway.cluster import version

    report |= {"machine": machine(), "date": started.isoformat(timespec="seconds"), "postgresql": version(),
               "args": vars(args)}
    print_report(report)
    m = report["machine"]
    print(f"machine: {m['cores']} cores ({m['cpu']}), {m['memory_gb']} GB, PostgreSQL {report['postgresql']}, "
          f"{report['date']}, load average at the end {m['load_average']}")
    (OUT / "soak.json").write_text(json.dumps(report, indent=2, default=str))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
