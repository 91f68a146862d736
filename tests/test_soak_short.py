"""A short soak (bench/soak.py, under a minute): API reads through the front door with wrk
while two uploads of ~5k lines run; no request fails, every job loads all its lines
(loaded + rejected = lines) and the tables grow by exactly what the jobs loaded. Timing is
reported by the benchmark, not asserted here."""
from __future__ import annotations

import importlib.util
import shutil
import sys
import uuid

import pytest

from fault_helpers import ROOT, shared_export

pytestmark = pytest.mark.slow


def soak_module():
    spec = importlib.util.spec_from_file_location("mangalm_bench_soak", ROOT / "bench" / "soak.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module        # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (scripts/install.sh --test)")
def test_a_short_soak_loses_nothing_and_fails_no_request(running_stack, token_for):
    soak = soak_module()
    source = shared_export("soak_short", [("INV", 5_000, 8)])
    tag = "Q" + uuid.uuid4().hex[:6].upper()
    report = soak.run_soak(running_stack, token_for("manager"), source, baseline_s=5, soak_s=25,
                           upload_every=8, uploads=2, connections=8, threads=2, segment_s=5, tag=tag,
                           log=lambda s: None)
    soak.print_report(report)
    assert report["requests"] > 0
    assert not any(report["errors"].values()), report["errors"]
    assert len(report["uploads"]) == 2
    for job in report["uploads"]:
        assert job["ok"], job
        assert job["loaded"] + job["rejected"] == job["lines"] == 5_000
    assert report["counts_after"] == report["counts_expected"], report
    assert report["lost_lines"] == 0
    assert report["latency"]["before"]["requests"] > 0 and report["latency"]["during"]["requests"] > 0
