"""Operations: when PostgREST stops, /health names it, /api/ answers 503 with a JSON error,
and everything recovers when it comes back; the service logs one JSON line per request."""
import httpx

from gateway import stack
from gateway.procs import pid_alive, stop_pid, wait_until


def test_postgrest_down_then_back(running_stack, gateway_url, token_for):
    auth = {"Authorization": f"Bearer {token_for('manager')}"}
    others = {p.name: p.pid(running_stack) for p in (stack.SERVICE, stack.NGINX)}
    assert httpx.get(f"{gateway_url}/api/stores?limit=1", headers=auth).status_code == 200

    pid = stack.POSTGREST.pid(running_stack)
    stop_pid(pid)
    try:
        health = httpx.get(f"{gateway_url}/health", timeout=10)
        assert health.status_code == 503
        components = health.json()["components"]
        assert components["postgrest"]["ok"] is False
        assert components["database"]["ok"] and components["service"]["ok"]

        down = httpx.get(f"{gateway_url}/api/stores?limit=1", headers=auth, timeout=10)
        assert down.status_code == 503
        assert down.headers["content-type"].startswith("application/json")
        assert "PostgREST" in down.json()["message"]
    finally:
        stack.start_postgrest(running_stack)

    assert httpx.get(f"{gateway_url}/api/stores?limit=1", headers=auth, timeout=10).status_code == 200
    assert httpx.get(f"{gateway_url}/health", timeout=10).status_code == 200
    # Nothing else was restarted.
    assert {p.name: p.pid(running_stack) for p in (stack.SERVICE, stack.NGINX)} == others
    assert all(pid_alive(p) for p in others.values())


def test_the_service_logs_one_json_line_per_request(running_stack, gateway_url):
    import json

    log = running_stack.log_dir / "service.log"
    size = log.stat().st_size if log.exists() else 0
    httpx.get(f"{gateway_url}/health?probe=log", timeout=10)

    def health_lines() -> list[dict]:
        new = log.read_bytes()[size:].decode().splitlines()
        records = [json.loads(line) for line in new if line.startswith("{")]
        return [r for r in records if r.get("event") == "request" and r.get("path") == "/health"]
    # The line is written once the response has gone out: wait for it.
    assert wait_until(lambda: bool(health_lines()), 10)
    assert {"ts", "method", "status", "ms", "client"} <= set(health_lines()[-1])
