"""GET /events without tokens in URLs, and streams that end with their token.

- A stream opens with a ticket (POST /auth/ticket): single use, 30 s; a token in the URL is
  refused, and no log holds a bearer token even when the service is down.
- An open stream re-checks its token in the database and ends, with a token_ended event,
  after logout, deactivation, a role change or a password change.
- What a stream sends comes from data.events, written by the database: a NOTIFY forged by
  another session (an analyst's) reaches no dashboard.
"""
from __future__ import annotations

import dataclasses
import json
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

PASSWORD = "events-auth-password"


def login(base: str, email: str, password: str = PASSWORD) -> str:
    r = httpx.post(f"{base}/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return r.json()["token"]


@pytest.fixture
def person(running_stack):
    email = f"ev-auth-{uuid.uuid4().hex[:8]}@api.test"
    with psycopg.connect(running_stack.database_url, autocommit=True) as conn:
        user_id = add_user(conn, email, PASSWORD, "manager")
    return {"email": email, "id": user_id}


def open_stream(base: str, token: str) -> Stream:
    stream = Stream(f"{base}/events", params={"ticket": ticket(base, token)})
    assert stream.wait_for(": connected", 10), (stream.status, stream.lines)
    assert stream.status == 200
    return stream


# --- tickets ------------------------------------------------------------------------------------

def test_a_ticket_opens_one_stream_once(gateway_url, person):
    token = login(gateway_url, person["email"])
    one = ticket(gateway_url, token)
    stream = Stream(f"{gateway_url}/events", params={"ticket": one})
    assert stream.wait_for(": connected", 10)
    again = httpx.get(f"{gateway_url}/events", params={"ticket": one})
    assert again.status_code == 401 and "used or expired" in again.json()["message"]
    assert httpx.get(f"{gateway_url}/events", params={"ticket": "0" * 64}).status_code == 401


def test_an_expired_ticket_is_refused(gateway_url, running_stack, person):
    one = ticket(gateway_url, login(gateway_url, person["email"]))
    with psycopg.connect(running_stack.database_url, autocommit=True) as conn:
        conn.execute("UPDATE data.event_tickets SET expires_at = now() - interval '1 second' WHERE user_id = %s",
                     (person["id"],))
        # Only the ticket's hash is kept.
        assert conn.execute("SELECT count(*) FROM data.event_tickets WHERE ticket_hash = convert_to(%s, 'UTF8')",
                            (one,)).fetchone()[0] == 0
    r = httpx.get(f"{gateway_url}/events", params={"ticket": one})
    assert r.status_code == 401 and r.json()["message"]


def test_a_token_in_the_url_is_refused(gateway_url, person):
    token = login(gateway_url, person["email"])
    r = httpx.get(f"{gateway_url}/events", params={"token": token})
    assert r.status_code == 401 and "ticket" in r.json()["hint"]


def test_a_revoked_token_gets_no_ticket_and_its_ticket_no_stream(gateway_url, person):
    token = login(gateway_url, person["email"])
    one = ticket(gateway_url, token)
    httpx.post(f"{gateway_url}/auth/logout", headers={"Authorization": f"Bearer {token}"})
    assert httpx.post(f"{gateway_url}/auth/ticket", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert httpx.get(f"{gateway_url}/events", params={"ticket": one}).status_code == 401


@pytest.fixture
def door_without_service(running_stack):
    """A second nginx over the same stack whose service address has nothing listening."""
    home = running_stack.home / f"noservice-{uuid.uuid4().hex[:6]}"
    free = [p for p in range(running_stack.http_port + 13, running_stack.http_port + 60) if port_free(p)]
    settings = dataclasses.replace(running_stack, home=home, http_port=free[0], service_port=free[1])
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    conf = nginx.render(settings)
    nginx.check(conf, settings)
    proc = subprocess.Popen([nginx.nginx_bin(), "-c", str(conf), "-e", str(settings.log_dir / "nginx-error.log")],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        assert wait_until(lambda: port_listening(settings.http_port), 10), "the second nginx did not start"
        yield f"http://127.0.0.1:{settings.http_port}", settings.log_dir
    finally:
        stop_pid(proc.pid)
        shutil.rmtree(home, ignore_errors=True)


def test_no_log_holds_a_token_when_the_service_is_down(gateway_url, person, door_without_service):
    base, log_dir = door_without_service
    token = login(gateway_url, person["email"])
    one = ticket(gateway_url, token)
    r = httpx.get(f"{base}/events", params={"ticket": one})
    assert r.status_code == 503
    error_log, access_log = log_dir / "nginx-error.log", log_dir / "nginx-access.log"
    assert wait_until(lambda: "/events" in error_log.read_text(), 5), "nginx logged no failed connection"
    time.sleep(1.2)  # the access log is flushed every second
    assert "GET /events" in access_log.read_text()
    for log in (error_log, access_log):
        assert token not in log.read_text(), log
    assert one not in access_log.read_text(), "the access log keeps no /events query string"


# --- an open stream ends with its token -------------------------------------------------------

def end_by_logout(base, conn, person, token):
    httpx.post(f"{base}/auth/logout", headers={"Authorization": f"Bearer {token}"})


def end_by_deactivation(base, conn, person, token):
    conn.execute("UPDATE data.users SET is_active = false WHERE id = %s", (person["id"],))


def end_by_role_change(base, conn, person, token):
    conn.execute("UPDATE data.users SET role = 'admin' WHERE id = %s", (person["id"],))


def end_by_password_change(base, conn, person, token):
    time.sleep(1.05 - time.time() % 1)  # iat is whole seconds: change it in a later one
    conn.execute("UPDATE data.users SET password_hash = app.hash_password('another-password') WHERE id = %s",
                 (person["id"],))


@pytest.mark.parametrize("end", [end_by_logout, end_by_deactivation, end_by_role_change, end_by_password_change])
def test_an_open_stream_ends_when_its_token_does(gateway_url, running_stack, person, end):
    token = login(gateway_url, person["email"])
    stream = open_stream(gateway_url, token)
    with psycopg.connect(running_stack.database_url, autocommit=True) as conn:
        end(gateway_url, conn, person, token)
    # The change wakes the stream at once (NOTIFY mangalm_tokens); the heartbeat is the backstop.
    assert stream.ended.wait(10), f"the stream is still open: {stream.lines}"
    ended = [data for name, data in stream.events() if name == "token_ended"]
    assert len(ended) == 1, stream.lines
    assert "log in again" in ended[0]["message"] or "deactivated" in ended[0]["message"]


# --- events come from the database, not from a NOTIFY payload ------------------------------------

def test_a_forged_notify_reaches_no_stream(gateway_url, running_stack, person):
    stream = open_stream(gateway_url, login(gateway_url, person["email"]))
    forged, real = uuid.uuid4().hex, uuid.uuid4().hex
    with psycopg.connect(running_stack.database_url, autocommit=True) as conn:
        # The NOTIFY command needs no privilege (pg_notify, the function, is the owner's alone).
        conn.execute("SET ROLE analyst")
        conn.execute(psycopg.sql.SQL("NOTIFY mangalm_events, {}").format(psycopg.sql.Literal(
            json.dumps({"type": "upload_finished", "job_id": forged, "status": "succeeded"}))))
        conn.execute("RESET ROLE")
        conn.execute("SELECT app.publish_event('upload_finished', %s::jsonb)",
                     (json.dumps({"job_id": real, "status": "succeeded"}),))
    assert stream.wait_for(real, 10), stream.lines
    assert not any(forged in line for line in stream.lines)


def test_who_sees_an_event_is_decided_in_the_database(conn):
    """app.events_since: reps get data_changed of their stores only, narrowed; managers all."""
    rep = add_user(conn, "rep-events@api.test", PASSWORD, "sales_rep", "Rep", "Rep Person")
    conn.execute("INSERT INTO data.stores (id, name, sales_person) VALUES ('EVS-1', 'Mine', 'Rep Person'),"
                 " ('EVS-2', 'Not mine', NULL)")
    start = conn.execute("SELECT app.events_last_id()").fetchone()[0]
    for kind, payload in [("upload_progress", {"job_id": 1}), ("data_changed", {"store_ids": ["EVS-2"]}),
                          ("data_changed", {"store_ids": ["EVS-1", "EVS-2"]}), ("data_changed", {"store_ids": None})]:
        conn.execute("SELECT app.publish_event(%s, %s::jsonb)", (kind, json.dumps(payload)))
    now = int(time.time())

    def seen(role, sub):
        claims = {"role": role, "aud": "mangalm", "iat": now, "exp": now + 60, "jti": str(uuid.uuid4()), "sub": sub}
        return [row[0] for row in conn.execute("SELECT event FROM app.events_since(%s, %s::jsonb)",
                                               (start, json.dumps({k: v for k, v in claims.items() if v}))).fetchall()]
    assert seen("sales_rep", rep) == [{"type": "data_changed", "store_ids": ["EVS-1"]},
                                      {"type": "data_changed", "store_ids": None}]
    assert len(seen("manager", None)) == 4
