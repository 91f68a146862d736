"""PostgREST replicas: MANGALM_POSTGREST_INSTANCES=2 runs two PostgREST processes behind nginx's
upstream, on a stack of its own. Both serve requests through the front door, status lists
both, /health checks both, the API keeps answering when one dies, and down stops both."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from conftest import PORT_BASE, TEST_PASSWORD, state_home
from fault_helpers import MANGALM, ROOT, last_json
from gateway.procs import pid_alive, port_free, wait_until

pytestmark = pytest.mark.slow

BASE = PORT_BASE + 600
PORTS = {"MANGALM_HTTP_PORT": BASE + 7, "MANGALM_POSTGREST_PORT": BASE + 8,
         "MANGALM_SERVICE_PORT": BASE + 9, "MANGALM_POSTGREST_ADMIN_PORT": BASE + 10,
         "MANGALM_PG_PORT": BASE + 432}
SECOND = (BASE + 28, BASE + 30)  # instance 2: 20 ports above the first (Settings.postgrest_instance_ports)


def mangalm(env, *args, check=True) -> subprocess.CompletedProcess:
    out = subprocess.run([*MANGALM, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                         stdin=subprocess.DEVNULL)
    if check:
        assert out.returncode == 0, f"mangalm {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}"
    return out


@pytest.fixture(scope="module")
def env():
    home = state_home(f"test-pgrst-{BASE}")
    shutil.rmtree(home, ignore_errors=True)
    # PGRST_LOG_LEVEL=info: each instance logs the requests it served, so the test sees both work.
    e = {**os.environ, "MANGALM_HOME": str(home), "MANGALM_SUPERUSER_PASSWORD": TEST_PASSWORD,
         "MANGALM_POSTGREST_INSTANCES": "2", "PGRST_LOG_LEVEL": "info", "MANGALM_RATE_LIMIT_EXEMPT": "127.0.0.1",
         **{k: str(v) for k, v in PORTS.items()}}
    for key in ("DATABASE_URL", "MANGALM_JWT_SECRET", "MANGALM_REPLICA_URL"):
        e.pop(key, None)
    mangalm(e, "up", "--detach")
    yield e
    mangalm(e, "down", check=False)
    shutil.rmtree(home, ignore_errors=True)


def served(log: Path) -> int:
    return log.read_text(errors="replace").count('"GET /health') if log.exists() else 0


def test_two_postgrest_instances_serve_through_nginx(env):
    home = Path(env["MANGALM_HOME"])
    info = last_json(mangalm(env, "status", "--json").stdout)
    assert info["running"]
    assert info["components"]["postgrest"]["running"] and info["components"]["postgrest-2"]["running"]
    assert info["components"]["postgrest-2"]["port"] == SECOND[0]
    conf = (home / "run" / "nginx.conf").read_text()
    assert f"server 127.0.0.1:{PORTS['MANGALM_POSTGREST_PORT']};" in conf and f"server 127.0.0.1:{SECOND[0]};" in conf

    gateway = f"http://127.0.0.1:{PORTS['MANGALM_HTTP_PORT']}"
    with httpx.Client(base_url=gateway, timeout=10) as client:
        for _ in range(40):
            assert client.get("/api/health").status_code == 200
    logs = home / "log"
    assert wait_until(lambda: served(logs / "postgrest.log") > 0 and served(logs / "postgrest-2.log") > 0, 5), \
        (served(logs / "postgrest.log"), served(logs / "postgrest-2.log"))
    health = httpx.get(f"{gateway}/health", timeout=10).json()
    assert health["status"] == "ok"
    assert [i["ok"] for i in health["components"]["postgrest"]["instances"]] == [True, True]

    # One instance dies: nginx passes its requests to the other; /health names the fault.
    first = info["components"]["postgrest"]["pid"]
    os.kill(first, signal.SIGKILL)
    assert wait_until(lambda: not pid_alive(first), 10)
    with httpx.Client(base_url=gateway, timeout=10) as client:
        answers = [client.get("/api/health").status_code for _ in range(20)]
    assert answers == [200] * 20, answers
    health = httpx.get(f"{gateway}/health", timeout=10)
    assert health.status_code == 503
    assert [i["ok"] for i in health.json()["components"]["postgrest"]["instances"]] == [False, True]

    mangalm(env, "down")
    second = info["components"]["postgrest-2"]["pid"]
    assert wait_until(lambda: not pid_alive(second), 10)
    assert all(port_free(p) for p in (*PORTS.values(), *SECOND))
