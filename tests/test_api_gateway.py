"""The front door itself: rate limit (429 + Retry-After), CORS, gzip, the request log, /docs,
and /events (server-sent events from LISTEN, unbuffered through nginx).

The rate limit and CORS are checked on a second nginx rendered from the same template with
the normal settings (no address exempt from the limit; the test stack exempts 127.0.0.1 so
the rest of the suite is not throttled) in front of the same PostgREST and service."""
from __future__ import annotations

import dataclasses
import json
import random
import shutil
import subprocess
import time
import uuid

import httpx
import psycopg
import pytest

from gateway import nginx
from gateway.procs import port_free, port_listening, stop_pid, wait_until
from gateway.users import add_user
from api_helpers import Stream, ticket

CORS_ORIGINS = "https://dash.example.com, http://localhost:5173"


def loopback_address() -> str:
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"


@pytest.fixture(scope="module")
def front_door(running_stack):
    """URL of a second nginx with the default rate limit (nobody exempt) and CORS origins set."""
    home = running_stack.home / f"frontdoor-{uuid.uuid4().hex[:6]}"
    port = next(p for p in range(running_stack.http_port + 13, running_stack.http_port + 60) if port_free(p))
    settings = dataclasses.replace(running_stack, home=home, http_port=port)
    saved = {k: nginx.os.environ.get(k) for k in ("MANGALM_RATE_LIMIT_EXEMPT", "MANGALM_CORS_ORIGINS")}
    nginx.os.environ.pop("MANGALM_RATE_LIMIT_EXEMPT", None)
    nginx.os.environ["MANGALM_CORS_ORIGINS"] = CORS_ORIGINS
    try:
        settings.log_dir.mkdir(parents=True, exist_ok=True)
        conf = nginx.render(settings)
        nginx.check(conf, settings)
    finally:
        for key, value in saved.items():
            if value is None:
                nginx.os.environ.pop(key, None)
            else:
                nginx.os.environ[key] = value
    proc = subprocess.Popen([nginx.nginx_bin(), "-c", str(conf), "-e", str(settings.log_dir / "nginx-error.log")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        assert wait_until(lambda: port_listening(port), 10), "the second nginx did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_pid(proc.pid)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def manager_token(running_stack, gateway_url):
    email = f"gw-{uuid.uuid4().hex[:8]}@api.test"
    with psycopg.connect(running_stack.database_url, autocommit=True) as conn:
        add_user(conn, email, "gateway-test-password", "manager")
    r = httpx.post(f"{gateway_url}/auth/login", json={"email": email, "password": "gateway-test-password"})
    return r.json()["token"]


# --- rate limit --------------------------------------------------------------------------------

def test_rate_limit_answers_429_with_retry_after(front_door):
    with httpx.Client(base_url=front_door, transport=httpx.HTTPTransport(local_address=loopback_address())) as c:
        answers = [c.get("/api/health") for _ in range(130)]
        codes = [r.status_code for r in answers]
        # 100 a minute per address, with a burst of 100: the first hundred pass at once.
        assert codes[:100] == [200] * 100, codes
        limited = [r for r in answers if r.status_code == 429]
        assert len(limited) >= 25
        r = limited[0]
        assert r.headers["Retry-After"] == "1"
        assert r.headers["content-type"].startswith("application/json")
        assert r.json()["code"] == "RATE_LIMITED" and "100 a minute" in r.json()["message"]
        # /auth/ counts against the same budget.
        assert c.post("/auth/login", json={"email": "x@y.z", "password": "whatever"}).status_code == 429
        # Honouring Retry-After gets the next request through.
        time.sleep(float(r.headers["Retry-After"]) + 0.3)
        assert c.get("/api/health").status_code == 200


def test_rate_limit_is_per_address(front_door):
    with httpx.Client(base_url=front_door, transport=httpx.HTTPTransport(local_address=loopback_address())) as c:
        assert [c.get("/api/health").status_code for _ in range(50)] == [200] * 50


def test_exempt_addresses_are_not_limited(gateway_url):
    """The test stack is rendered with MANGALM_RATE_LIMIT_EXEMPT=127.0.0.1 (as the benchmark is)."""
    with httpx.Client(base_url=gateway_url) as c:
        assert {c.get("/api/health").status_code for _ in range(250)} == {200}


def test_rate_limit_settings_are_checked(monkeypatch):
    monkeypatch.setenv("MANGALM_RATE_LIMIT_EXEMPT", "127.0.0.1, 10.0.0.0/8")
    assert nginx.rate_limit_exempt_lines().split() == ["127.0.0.1/32", "1;", "10.0.0.0/8", "1;"]
    monkeypatch.setenv("MANGALM_RATE_LIMIT_EXEMPT", "localhost")
    with pytest.raises(ValueError, match="not an address"):
        nginx.rate_limit_exempt_lines()
    monkeypatch.setenv("MANGALM_RATE_LIMIT_PER_MINUTE", "lots")
    with pytest.raises(ValueError, match="positive whole number"):
        nginx.rate_limit()


# --- CORS --------------------------------------------------------------------------------------

def test_cors_preflight_for_allowed_origins_only(front_door):
    ask = {"Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "authorization,content-type,prefer"}
    r = httpx.options(f"{front_door}/api/orders", headers={"Origin": "https://dash.example.com", **ask})
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == "https://dash.example.com"
    assert "PATCH" in r.headers["Access-Control-Allow-Methods"]
    assert r.headers["Access-Control-Allow-Headers"] == "authorization,content-type,prefer"
    assert r.headers["Access-Control-Max-Age"] == "600"
    r = httpx.options(f"{front_door}/api/orders", headers={"Origin": "https://evil.example.net", **ask})
    assert "Access-Control-Allow-Origin" not in r.headers


def test_cors_headers_on_answers_and_errors(front_door, manager_token):
    origin = {"Origin": "http://localhost:5173"}
    r = httpx.get(f"{front_door}/api/stores", params={"limit": 1},
                  headers={**origin, "Authorization": f"Bearer {manager_token}"})
    assert r.status_code == 200
    # Exactly one Allow-Origin: PostgREST's own CORS header is dropped.
    assert r.headers.get_list("Access-Control-Allow-Origin") == ["http://localhost:5173"]
    assert "Content-Range" in r.headers["Access-Control-Expose-Headers"]
    r = httpx.get(f"{front_door}/api/stores", headers=origin)
    assert r.status_code == 401 and r.headers["Access-Control-Allow-Origin"] == "http://localhost:5173"
    r = httpx.get(f"{front_door}/api/stores", headers={"Origin": "https://evil.example.net"})
    assert "Access-Control-Allow-Origin" not in r.headers


def test_cors_settings_are_checked(monkeypatch):
    monkeypatch.setenv("MANGALM_CORS_ORIGINS", "*")
    assert nginx.cors_origin_lines().strip() == 'default "*";'
    monkeypatch.setenv("MANGALM_CORS_ORIGINS", "https://ok.example.com, https://bad.example.com/path")
    with pytest.raises(ValueError, match="not an origin"):
        nginx.cors_origin_lines()


def test_no_cross_origin_access_by_default(gateway_url):
    r = httpx.get(f"{gateway_url}/api/health", headers={"Origin": "https://dash.example.com"})
    assert r.status_code == 200 and "Access-Control-Allow-Origin" not in r.headers


# --- gzip, request log, docs -----------------------------------------------------------------

def test_gzip(gateway_url, manager_token):
    r = httpx.get(f"{gateway_url}/api/", headers={"Accept-Encoding": "gzip", "Authorization": f"Bearer {manager_token}"})
    assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip"
    assert "paths" in r.json()


def test_request_log_has_requests_but_no_tokens(gateway_url, running_stack, manager_token):
    marker = uuid.uuid4().hex
    httpx.get(f"{gateway_url}/api/health", params={"status": f"neq.{marker}"})
    with httpx.stream("GET", f"{gateway_url}/events", params={"ticket": ticket(gateway_url, manager_token)},
                      timeout=10) as r:
        assert r.status_code == 200
    log = running_stack.log_dir / "nginx-access.log"
    assert wait_until(lambda: marker in log.read_text(), 5), "the request did not reach the log"
    line = next(line for line in log.read_text().splitlines() if marker in line)
    assert f'"GET /api/health?status=neq.{marker}" 200' in line
    time.sleep(1.2)  # the log is flushed every second
    assert manager_token not in log.read_text()


def test_pages_and_api_answers_carry_the_security_headers(gateway_url):
    for path in ("/", "/docs/", "/api/", "/health"):
        r = httpx.get(f"{gateway_url}{path}", timeout=10)
        assert r.headers.get("x-content-type-options") == "nosniff", path
        assert r.headers.get("x-frame-options") == "DENY", path
        assert r.headers.get("content-security-policy") == "frame-ancestors 'none'", path
        assert r.headers.get("referrer-policy") == "no-referrer", path


def test_docs_serve_swagger_ui_over_the_openapi(gateway_url):
    r = httpx.get(f"{gateway_url}/docs")
    assert r.status_code == 301 and r.headers["Location"].endswith("/docs/")
    page = httpx.get(f"{gateway_url}/docs/")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    assert httpx.get(f"{gateway_url}/docs/mangalm-docs.js").status_code == 200
    bundle = httpx.get(f"{gateway_url}/vendor/swagger-ui/swagger-ui-bundle.js")
    if bundle.status_code == 404:
        pytest.skip("swagger-ui-dist is not installed (npm ci in dashboard/)")
    assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text[:200000]
    assert httpx.get(f"{gateway_url}/vendor/swagger-ui/swagger-ui.css").status_code == 200
    spec = httpx.get(f"{gateway_url}/api/", headers={"Accept": "application/openapi+json"})
    assert spec.status_code == 200 and spec.json()["swagger"] == "2.0"


# --- /events -----------------------------------------------------------------------------------

def notify(settings, payload: dict) -> None:
    """Publishes an event as the database's functions do (a bare NOTIFY only wakes the service)."""
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("SELECT app.publish_event(%s, %s::jsonb)", (payload["type"], json.dumps(payload)))


def test_events_stream_notifications_live(gateway_url, running_stack, manager_token):
    stream = Stream(f"{gateway_url}/events", params={"ticket": ticket(gateway_url, manager_token)})
    try:
        assert stream.wait_for(lambda line: line == ": connected", 10), stream.lines
        assert stream.status == 200 and stream.headers["content-type"].startswith("text/event-stream")
        job = random.randint(10**6, 10**7)
        notify(running_stack, {"type": "upload_progress", "job_id": job, "phase": "load", "lines": 10, "percent": 50})
        # Unbuffered: the event arrives while the stream is still open.
        assert stream.wait_for(lambda line: f'"job_id": {job}' in line, 5), stream.lines
        notify(running_stack, {"type": "upload_finished", "job_id": job, "status": "succeeded"})
        assert stream.wait_for(lambda line: '"upload_finished"' in line and str(job) in line, 5)
        names = [name for name, data in stream.events() if data.get("job_id") == job]
        assert names == ["upload_progress", "upload_finished"]
    finally:
        stream.close()


def test_events_for_a_rep_are_their_stores_only(gateway_url, running_stack):
    tag = uuid.uuid4().hex[:6].upper()
    email = f"ev-{tag.lower()}@api.test"
    with psycopg.connect(running_stack.database_url, autocommit=True) as conn:
        add_user(conn, email, "events-test-password", "sales_rep", None, f"Events Rep {tag}")
        conn.execute("INSERT INTO data.stores (id, name, sales_person) VALUES (%s, 'Events store', %s)",
                     (f"EV{tag}-1", f"Events Rep {tag}"))
    token = httpx.post(f"{gateway_url}/auth/login", json={"email": email, "password": "events-test-password"}).json()["token"]
    stream = Stream(f"{gateway_url}/events", headers={"Authorization": f"Bearer {token}"})
    try:
        assert stream.wait_for(lambda line: line == ": connected", 10), stream.lines
        notify(running_stack, {"type": "upload_progress", "job_id": 1, "percent": 10})
        notify(running_stack, {"type": "data_changed", "source": "upload", "store_ids": [f"EV{tag}-other"]})
        notify(running_stack, {"type": "data_changed", "source": "upload", "store_ids": [f"EV{tag}-1", f"EV{tag}-other"]})
        assert stream.wait_for(lambda line: f"EV{tag}-1" in line, 5), stream.lines
        time.sleep(0.3)
        # The stack is shared: other tests' uploads publish events for all stores (store_ids
        # null), which reach every rep whole. Of the events naming stores, only ours came.
        named = [e for e in stream.events() if e[0] != "data_changed" or e[1].get("store_ids") is not None]
        assert named == [("data_changed", {"type": "data_changed", "source": "upload",
                                           "store_ids": [f"EV{tag}-1"]})]
    finally:
        stream.close()


@pytest.mark.slow
def test_events_heartbeat_keeps_an_idle_stream_open(gateway_url, manager_token):
    stream = Stream(f"{gateway_url}/events", params={"ticket": ticket(gateway_url, manager_token)})
    try:
        assert stream.wait_for(lambda line: line == ": heartbeat", 18), stream.lines
    finally:
        stream.close()


def test_address_lists_are_checked_and_named(monkeypatch):
    monkeypatch.setenv("MANGALM_RATE_LIMIT_EXEMPT", "127.0.0.1, 10.0.0.0/8")
    monkeypatch.setenv("MANGALM_TRUSTED_PROXIES", "192.168.1.7")
    assert nginx.rate_limit_exempt_lines() == "    127.0.0.1/32 1;\n    10.0.0.0/8 1;"
    assert nginx.real_ip_lines().splitlines()[0] == "  set_real_ip_from 192.168.1.7/32;"
    for variable, render in (("MANGALM_RATE_LIMIT_EXEMPT", nginx.rate_limit_exempt_lines),
                             ("MANGALM_TRUSTED_PROXIES", nginx.real_ip_lines)):
        monkeypatch.setenv(variable, "10.0.0.1, proxy.example")
        with pytest.raises(ValueError, match=f"{variable}: 'proxy.example' is not an address or network"):
            render()
