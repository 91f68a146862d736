"""The stack's lifecycle through the real `mangalm` command: up, status, down, crashes,
taken ports, a wrong DATABASE_URL and Ctrl-C. Runs its own stack in a fresh state folder."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import PORT_BASE, TEST_PASSWORD, state_home
from gateway.procs import port_free, wait_until

BASE = PORT_BASE + 200
PORTS = {"MANGALM_HTTP_PORT": BASE + 7, "MANGALM_POSTGREST_PORT": BASE + 8,
         "MANGALM_SERVICE_PORT": BASE + 9, "MANGALM_POSTGREST_ADMIN_PORT": BASE + 10,
         "MANGALM_PG_PORT": BASE + 432}
MANGALM = [sys.executable, "-m", "cli.main"]


@pytest.fixture(scope="module")
def env():
    # Not under /tmp/pytest-of-root (mode 0700): the cluster's OS user must reach pgdata.
    home = state_home(f"test-stack-{BASE}")
    shutil.rmtree(home, ignore_errors=True)
    e = {**os.environ, "MANGALM_HOME": str(home), "MANGALM_SUPERUSER_PASSWORD": TEST_PASSWORD,
         **{k: str(v) for k, v in PORTS.items()}}
    e.pop("DATABASE_URL", None)
    e.pop("MANGALM_JWT_SECRET", None)
    yield e
    subprocess.run([*MANGALM, "down"], env=e, capture_output=True, timeout=120)
    shutil.rmtree(home, ignore_errors=True)


def mangalm(env, *args, check=True, timeout=180):
    out = subprocess.run([*MANGALM, *args], env=env, capture_output=True, text=True, timeout=timeout,
                         stdin=subprocess.DEVNULL)
    if check:
        assert out.returncode == 0, f"mangalm {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}"
    return out


def url(path: str) -> str:
    return f"http://127.0.0.1:{PORTS['MANGALM_HTTP_PORT']}{path}"


def all_ports_free() -> bool:
    return all(port_free(p) for p in PORTS.values())


def pids(env) -> dict[str, int]:
    run = Path(env["MANGALM_HOME"]) / "run"
    found = {}
    for f in run.glob("*.pid"):
        try:
            found[f.stem] = int(f.read_text().split()[0])
        except (ValueError, IndexError):
            pass
    pm = Path(env["MANGALM_HOME"]) / "pgdata" / "postmaster.pid"
    if pm.exists():
        found["postgres"] = int(pm.read_text().split()[0])
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_up_serves_health_and_the_api_then_down_leaves_nothing(env):
    out = mangalm(env, "up", "--detach")
    assert url("/") in out.stdout
    health = httpx.get(url("/health"), timeout=10)
    assert health.status_code == 200
    components = health.json()["components"]
    assert {"database", "postgrest", "service", "queue"} <= set(components)
    assert all(c["ok"] for c in components.values())

    token = mangalm(env, "token", "--role", "manager").stdout.strip()
    r = httpx.get(url("/api/stores"), headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200 and isinstance(r.json(), list)
    assert httpx.get(url("/api/stores")).status_code == 401, "anon reads no stores"
    assert httpx.get(url("/api/health")).json()[0]["status"] == "ok"

    status = json.loads(mangalm(env, "status", "--json").stdout)
    assert status["running"] is True
    for key in ("database_url", "gateway_url", "postgrest_url", "versions"):
        assert key in status
    assert status["versions"]["postgrest"] == "12.0.2"
    assert TEST_PASSWORD not in status["database_url"], "the password is redacted"

    secret = Path(env["MANGALM_HOME"]) / "secrets" / "jwt_secret"
    assert oct(secret.stat().st_mode & 0o777) == "0o600" and len(secret.read_text()) >= 32

    again = mangalm(env, "up", "--detach")
    assert "already running" in again.stdout

    before = pids(env)
    assert {"postgrest", "service", "nginx", "postgres"} <= set(before)
    mangalm(env, "down")
    assert not [name for name, pid in before.items() if alive(pid)], "a process survived down"
    assert all_ports_free()
    assert json.loads(mangalm(env, "status", "--json").stdout)["running"] is False


def test_up_after_a_crash_starts_normally(env):
    mangalm(env, "up", "--detach")
    # Crash: SIGKILL every process we know, leaving pid files, an unclean cluster and
    # nginx workers orphaned by their master (they keep the port).
    for name, pid in pids(env).items():
        os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not any(alive(p) for p in pids(env).values()), 10)
    mangalm(env, "up", "--detach")
    assert httpx.get(url("/health"), timeout=10).status_code == 200
    mangalm(env, "down")
    assert all_ports_free()


def test_a_taken_port_is_named_and_nothing_is_left_half_started(env):
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", PORTS["MANGALM_HTTP_PORT"]))
        squatter.listen()
        out = mangalm(env, "up", "--detach", check=False)
    assert out.returncode == 1
    assert str(PORTS["MANGALM_HTTP_PORT"]) in out.stderr and "python" in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert not any(alive(p) for p in pids(env).values())
    assert all_ports_free()


def test_a_wrong_database_url_is_one_clear_line(env):
    bad = {**env, "DATABASE_URL": "postgresql://nobody:secret@127.0.0.1:9/nothing"}
    out = mangalm(bad, "up", "--detach", check=False)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.startswith("Error")]
    assert len(lines) == 1 and "127.0.0.1:9" in lines[0], out.stderr
    assert all_ports_free()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_foreground_up_stops_everything_on_a_signal(env, sig):
    proc = subprocess.Popen([*MANGALM, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        assert wait_until(lambda: httpx.get(url("/health"), timeout=2).status_code == 200
                          if not port_free(PORTS["MANGALM_HTTP_PORT"]) else False, 120, 0.2)
        started = pids(env)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "Stopped" in out
    assert not [n for n, p in started.items() if alive(p)]
    assert all_ports_free()


def test_ctrl_c_while_starting_stops_what_was_started(env):
    proc = subprocess.Popen([*MANGALM, "up"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        # Interrupt as soon as PostgreSQL is up, before the front door exists.
        assert wait_until(lambda: not port_free(PORTS["MANGALM_PG_PORT"]), 60, 0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0 or "Stopped" in out
    assert "Traceback" not in err, err
    assert wait_until(all_ports_free, 30), "something is still listening"
