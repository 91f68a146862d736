"""`make bench`: every benchmark, one after the other, each with its own stack from the shared
setup (bench/common.py); prints each one's figures as it goes and, at the end, how long each took.

    .venv/bin/python bench/run.py [--quick] [--only NAME ...] [--file REAL_EXPORT]

--quick runs each with smaller sizes (a few minutes in all) to see that they work; without it
they run at the sizes the README's figures come from. Benchmarks print figures; they never fail
on a slow machine, so this exits 0 unless a benchmark itself crashed.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent

# name: (arguments at full size, arguments with --quick); the real file goes to those that read it.
BENCHMARKS = {
    "ingest": ([], ["--lines", "100000"]),
    "backtest": ([], ["--quick"]),
    "analytics_scale": ([], ["--quick"]),
    "api": ([], ["--duration", "3", "--repeat", "1"]),
    "soak": ([], ["--minutes", "1", "--baseline", "10", "--upload-lines", "20000", "--upload-every", "20"]),
}
READS_REAL_FILE = {"backtest", "analytics_scale"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes: check that every benchmark runs")
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), help="run only these")
    parser.add_argument("--file", help="the real export (default: ../shared/data/online_retail_dev.csv.gz when there)")
    args = parser.parse_args()
    took: dict[str, tuple[float, int]] = {}
    for name, (full, quick) in BENCHMARKS.items():
        script = HERE / f"{name}.py"
        if (args.only and name not in args.only) or not script.exists():
            continue
        argv = [sys.executable, str(script), *(quick if args.quick else full)]
        if args.file and name in READS_REAL_FILE:
            argv += ["--file", args.file]
        print(f"\n=== {name}: {' '.join(argv[1:])}", flush=True)
        started = time.perf_counter()
        code = subprocess.run(argv).returncode
        took[name] = (time.perf_counter() - started, code)
    print("\n| benchmark | took | exit |\n| --- | ---: | ---: |")
    for name, (seconds, code) in took.items():
        print(f"| {name} | {seconds / 60:.1f} min | {code} |")
    return 1 if any(code not in (0,) for _, code in took.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
