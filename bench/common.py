"""What every benchmark shares: its own stack's settings and state folder, fresh databases, the
real pipeline, the data files (the real export, generated ones), CPU accounting and results.

A benchmark imports this first (`from common import ...`; Python puts bench/ on the path of a
script run as `python bench/x.py`); it points every Settings.from_env() at the benchmark's own
state folder and ports before gateway is used, so a benchmark never touches a running demo.
"""
from __future__ import annotations

import dataclasses
import gzip
import json
import os
import platform
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
# The real wholesaler's export (UCI Online Retail II, development half), beside a checkout of
# the project; benchmarks take --file and fall back to it when it is there.
REAL_FILE = ROOT.parent / "shared" / "data" / "online_retail_dev.csv.gz"

if str(ROOT) not in sys.path:  # a benchmark runs from the checkout, as its own code
    sys.path.insert(0, str(ROOT))

from gateway.config import Settings, state_dir  # noqa: E402


def configure(name: str, port_base: int, **env: str) -> Settings:
    """Settings for the benchmark `name`: state folder config.state_dir(f"bench-{name}") (one
    the cluster's OS user can reach, even from a checkout under /root), ports from port_base
    (PostgreSQL on port_base + 432, like the tests), extra environment on top."""
    os.environ.update({
        "MANGALM_HOME": str(state_dir(f"bench-{name}")),
        "MANGALM_PG_PORT": str(port_base + 432), "MANGALM_HTTP_PORT": str(port_base + 7),
        "MANGALM_POSTGREST_PORT": str(port_base + 8), "MANGALM_SERVICE_PORT": str(port_base + 9),
        "MANGALM_POSTGREST_ADMIN_PORT": str(port_base + 10),
        **env,
    })
    os.environ.pop("DATABASE_URL", None)
    OUT.mkdir(parents=True, exist_ok=True)
    return Settings.from_env()


def stack_arguments(parser, port_base: int, real_file: bool = False) -> None:
    """The options every benchmark takes: --port-base (PostgreSQL on it + 432), --keep, and for
    those that read the real export, --file."""
    if real_file:
        parser.add_argument("--file", help=f"the real export (.csv or .csv.gz); default {REAL_FILE} when it is there")
    parser.add_argument("--port-base", type=int, default=port_base,
                        help=f"ports of the benchmark's stack: PostgreSQL on this + 432 (default {port_base})")
    parser.add_argument("--keep", action="store_true", help="leave the benchmark's stack running afterwards")


def start_cluster(settings: Settings) -> bool:
    """Start the benchmark's PostgreSQL; True when it was already running (then leave it so)."""
    from gateway import cluster

    was_running = cluster.is_running(settings)
    cluster.start(settings)
    return was_running


def stop(settings: Settings, keep: bool = False) -> None:
    """Stop everything the benchmark started (unless --keep)."""
    from gateway import stack

    if keep:
        print(f"(left running: state folder {settings.home}; stop with MANGALM_HOME={settings.home} "
              f"MANGALM_PG_PORT={settings.pg_port} mangalm down)")
        return
    stack.stop(settings)


def fresh_database(settings: Settings, name: str) -> str:
    """Drop and create database `name` on the benchmark's cluster and migrate it; its owner URL."""
    import psycopg

    from gateway.migrate import migrate

    admin = settings.url_for("mangalm", settings.superuser_password, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = settings.url_for("mangalm", settings.superuser_password, name)
    migrate(settings, url=url)
    return url


def load(settings: Settings, url: str, path: Path, source: str = "bench", **options) -> dict:
    """The real pipeline, as `mangalm load --wait` runs it: the loader, then one upload job.
    Returns the job's row (lines, loaded, rejected, processing_ms, timings) and `seconds`."""
    from gateway import loader, logs, worker

    started = time.perf_counter()
    received = loader.load_file(url, path, loader.LoadOptions(source=source, **options))
    with logs.quiet_events():  # the benchmark prints its own figures
        row = worker.process_job(dataclasses.replace(settings, external_database_url=url), received.job_id, url=url)
    if row["status"] != "succeeded":
        raise SystemExit(f"the load of {path} failed: {row['last_error']}")
    return {**row, "seconds": time.perf_counter() - started}


def settle(url: str) -> float:
    """VACUUM (ANALYZE) the database and CHECKPOINT, as autovacuum and the checkpointer leave it
    a while after a load (hint bits set, visibility map and statistics current, the pages that
    vacuum dirtied written), so that what is timed next races neither autovacuum's first pass
    over the rows just written nor the writing of what it dirtied. Returns the seconds it took
    (untimed)."""
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")
        conn.execute("CHECKPOINT")
    return time.perf_counter() - started


def real_file(path: str | Path | None = None) -> Path | None:
    """The real export as a plain CSV (decompressed once into bench/out when gzipped), or None
    when neither `path` nor the default next to the checkout exists."""
    source = Path(path) if path else REAL_FILE
    if not source.exists():
        if path:
            raise SystemExit(f"{source}: no such file")
        return None
    if source.suffix != ".gz":
        return source
    plain = OUT / source.name.removesuffix(".gz")
    if not plain.exists() or plain.stat().st_mtime < source.stat().st_mtime:
        OUT.mkdir(parents=True, exist_ok=True)
        tmp = plain.with_suffix(".tmp")
        with gzip.open(source, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        tmp.replace(plain)
    return plain


def generated(prefix: str, lines: int, **kw) -> Path:
    """A generated export (gateway/generate.py, deterministic) cached in bench/out."""
    from gateway.generate import generate_file

    suffix = "-".join(f"{k}{v}" for k, v in sorted(kw.items()))
    path = OUT / f"{prefix}-{lines}{'-' + suffix if suffix else ''}.csv"
    if not path.exists():
        print(f"  generating {lines:,} lines into {path.relative_to(ROOT)} ...", flush=True)
        tmp = path.with_suffix(".tmp")
        generate_file(tmp, lines, **kw)
        tmp.replace(path)
    return path


def cluster_cpu(settings: Settings) -> float:
    """CPU seconds used so far by the benchmark's PostgreSQL: the postmaster, its live children,
    and (cutime/cstime) the children that already exited. The machine may be shared, so CPU
    time is the fair measure of our work; wall time is printed too."""
    tick = os.sysconf("SC_CLK_TCK")
    time.sleep(1.0)   # let backends of closed connections exit (their time then moves to cutime)
    pid = int((settings.pgdata / "postmaster.pid").read_text().split()[0])

    def stat(p):
        # fields[1] = ppid, [11] utime, [12] stime, [13] cutime, [14] cstime
        return Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()

    total = sum(int(x) for x in stat(pid)[11:15])
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                f = stat(entry.name)
            except (OSError, IndexError):
                continue
            if int(f[1]) == pid:
                total += int(f[11]) + int(f[12])
    return total / tick


def machine() -> dict:
    """Where and when the figures were measured (the README records them with it)."""
    model, mem_kb = "unknown", 0
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            mem_kb = int(line.split()[1])
    return {"cores": os.cpu_count(), "cpu": model, "memory_gb": round(mem_kb / 1024 / 1024, 1),
            "kernel": platform.release(), "python": platform.python_version(),
            "load_average": [round(x, 1) for x in os.getloadavg()],
            "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def write_json(name: str, result: dict) -> Path:
    """Results into bench/out/NAME.json, with the machine."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), **result}, indent=2, default=str))
    print(f"\nFigures written to {path.relative_to(ROOT)}")
    return path
