"""Login limits that hold under parallel guessing and cannot be turned against an account's
owner: one email's attempts are serialised (40 parallel wrong guesses run at most the limit's
bcrypts); the hard limit counts failures per (address, email) pair and per address; the
per-account limit over all addresses only slows down, by at most a minute. The client address
is the peer's unless a trusted proxy is configured (X-Forwarded-For from clients is ignored).
And a cheaper, older bcrypt hash is re-made at the current cost at the next login."""
from __future__ import annotations

import random
import threading
import time
import uuid

import httpx
import psycopg
import pytest

from gateway import nginx
from gateway.users import add_user

PASSWORD = "throttle-password"


def attempt(conn, email: str, password: str, address: str) -> dict:
    cur = conn.execute("SELECT * FROM app.login(%s, %s, %s)", (email, password, address))
    return dict(zip([c.name for c in cur.description], cur.fetchone()))


def test_parallel_wrong_guesses_run_at_most_the_limit_of_bcrypts(conn, db_url):
    email = f"parallel-{uuid.uuid4().hex[:6]}@api.test"
    add_user(conn, email, PASSWORD, "sales_rep")
    answers: list[str] = []
    start = threading.Barrier(40)

    def guess():
        with psycopg.connect(db_url, autocommit=True) as c:
            start.wait()
            answers.append(attempt(c, email, "wrong-guess", "198.51.100.40")["outcome"])
    threads = [threading.Thread(target=guess) for _ in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    checked = conn.execute("SELECT count(*) FROM data.login_attempts WHERE email = %s AND NOT succeeded",
                           (email,)).fetchone()[0]
    assert checked <= 5, f"{checked} passwords were checked (bcrypt) for 40 parallel guesses"
    assert sorted(answers) == sorted(["invalid"] * checked + ["locked"] * (40 - checked))


def test_a_strangers_failures_only_slow_the_owner_down(conn):
    email = f"owner-{uuid.uuid4().hex[:6]}@api.test"
    add_user(conn, email, PASSWORD, "manager")
    for _ in range(5):
        assert attempt(conn, email, "stranger-guess", "203.0.113.66")["outcome"] == "invalid"
    stranger = attempt(conn, email, PASSWORD, "203.0.113.66")
    assert stranger["outcome"] == "locked" and stranger["retry_after"] > 800   # that pair: the window
    owner = attempt(conn, email, PASSWORD, "198.51.100.7")
    assert owner["outcome"] == "locked" and owner["retry_after"] <= 2          # the owner: a moment
    time.sleep(owner["retry_after"])
    assert attempt(conn, email, PASSWORD, "198.51.100.7")["outcome"] == "ok"


def test_the_per_account_delay_is_capped_at_a_minute(conn):
    email = f"capped-{uuid.uuid4().hex[:6]}@api.test"
    add_user(conn, email, PASSWORD, "manager")
    # 40 failures from 40 addresses in the last minutes (a botnet): 2^36 s, capped at 60.
    conn.execute("INSERT INTO data.login_attempts (email, address, succeeded, at) "
                 "SELECT %s, ('203.0.113.' || n)::inet, false, now() - make_interval(secs => n) "
                 "FROM generate_series(1, 40) n", (email,))
    owner = attempt(conn, email, PASSWORD, "198.51.100.8")
    assert owner["outcome"] == "locked" and 55 <= owner["retry_after"] <= 60
    # A success clears the account's count: after the owner is in, guessing starts over.
    conn.execute("UPDATE data.login_attempts SET at = at - interval '1 minute' WHERE email = %s", (email,))
    assert attempt(conn, email, PASSWORD, "198.51.100.8")["outcome"] == "ok"
    assert attempt(conn, email, "guess", "203.0.113.200")["outcome"] == "invalid"


def test_the_per_address_limit_still_holds(conn):
    for n in range(20):
        assert attempt(conn, f"spray-{n}@api.test", "guess", "203.0.113.99")["outcome"] == "invalid"
    assert attempt(conn, "spray-x@api.test", "guess", "203.0.113.99")["outcome"] == "locked"


def test_a_client_cannot_choose_its_address_with_x_forwarded_for(gateway_url, running_stack):
    """Without MANGALM_TRUSTED_PROXIES nginx overwrites X-Forwarded-For with the peer address."""
    email = f"xff-{uuid.uuid4().hex[:6]}@api.test"
    peer = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
    with httpx.Client(base_url=gateway_url, transport=httpx.HTTPTransport(local_address=peer)) as c:
        c.post("/auth/login", json={"email": email, "password": "guess-guess"},
               headers={"X-Forwarded-For": "192.0.2.77"})
    with psycopg.connect(running_stack.database_url, autocommit=True) as conn:
        seen = conn.execute("SELECT host(address) FROM data.login_attempts WHERE email = %s", (email,)).fetchall()
    assert seen == [(peer,)]


def test_trusted_proxies_setting(monkeypatch):
    monkeypatch.delenv("MANGALM_TRUSTED_PROXIES", raising=False)
    assert nginx.real_ip_lines() == ""
    monkeypatch.setenv("MANGALM_TRUSTED_PROXIES", "10.0.0.5, 192.168.0.0/16")
    assert nginx.real_ip_lines().split("\n") == [
        "  set_real_ip_from 10.0.0.5/32;", "  set_real_ip_from 192.168.0.0/16;",
        "  real_ip_header X-Forwarded-For;", "  real_ip_recursive on;"]
    monkeypatch.setenv("MANGALM_TRUSTED_PROXIES", "not-a-network")
    with pytest.raises(ValueError, match="MANGALM_TRUSTED_PROXIES"):
        nginx.real_ip_lines()


def test_an_older_cheaper_hash_is_upgraded_at_the_next_login(conn):
    email = f"rehash-{uuid.uuid4().hex[:6]}@api.test"
    user_id = add_user(conn, email, PASSWORD, "sales_rep")
    conn.execute("UPDATE data.users SET password_hash = public.crypt(%s, public.gen_salt('bf', 6)) WHERE id = %s",
                 (PASSWORD, user_id))
    cost = "SELECT substring(password_hash FROM '^\\$2[abxy]?\\$([0-9]{2})\\$')::int FROM data.users WHERE id = %s"
    assert conn.execute(cost, (user_id,)).fetchone()[0] == 6
    assert attempt(conn, email, "wrong-password", "198.51.100.9")["outcome"] == "invalid"
    assert conn.execute(cost, (user_id,)).fetchone()[0] == 6       # only a successful login re-hashes
    assert attempt(conn, email, PASSWORD, "198.51.100.9")["outcome"] == "ok"
    assert conn.execute(cost, (user_id,)).fetchone()[0] == 11
    assert attempt(conn, email, PASSWORD, "198.51.100.9")["outcome"] == "ok"   # the new hash checks
