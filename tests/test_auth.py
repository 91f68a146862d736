"""Logins, tokens and logout through the front door: POST /auth/login, GET /auth/me,
POST /auth/logout, and every way a token can be wrong -> 401 with a JSON body, on /api/
(PostgREST), /auth/me and /events (the service) alike."""
from __future__ import annotations

import random
import statistics
import time
import uuid

import httpx
import jwt
import psycopg
import pytest

from gateway.config import JWT_AUDIENCE
from gateway.users import add_user

PASSWORD = "auth-test-password"


def loopback_address() -> str:
    """A fresh 127.x.y.z for this test: nginx sees it as another client (only 127.0.0.1 is
    exempt from the rate limit on the test stack), and earlier runs' failures do not count."""
    return f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"


def client_from(base: str, address: str) -> httpx.Client:
    return httpx.Client(base_url=base, transport=httpx.HTTPTransport(local_address=address), timeout=30)


@pytest.fixture(scope="module")
def account(running_stack):
    tag = uuid.uuid4().hex[:8]
    email = f"auth-{tag}@api.test"
    with psycopg.connect(running_stack.database_url, autocommit=True) as conn:
        user_id = add_user(conn, email, PASSWORD, "manager", "Auth Test")
    return {"email": email, "id": user_id}


def login(base: str, email: str, password: str, address: str | None = None) -> httpx.Response:
    if address:
        with client_from(base, address) as c:
            return c.post("/auth/login", json={"email": email, "password": password})
    return httpx.post(f"{base}/auth/login", json={"email": email, "password": password}, timeout=30)


def sign(settings, claims: dict, key: str | None = None, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key if key is not None else settings.jwt_secret, algorithm=algorithm)


def claims_for(account, **overrides) -> dict:
    now = int(time.time())
    claims = {"role": "manager", "aud": JWT_AUDIENCE, "iat": now, "exp": now + 600,
              "jti": str(uuid.uuid4()), "sub": account["id"]}
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def assert_401_json(r: httpx.Response, where: str) -> None:
    assert r.status_code == 401, f"{where}: {r.status_code} {r.text}"
    body = r.json()
    assert body.get("message"), f"{where}: no message in {body}"


def test_login_me_logout(gateway_url, account):
    r = login(gateway_url, account["email"].upper(), PASSWORD)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"token", "expires_at", "user"}
    assert body["user"] == {"id": account["id"], "email": account["email"], "role": "manager",
                            "full_name": "Auth Test", "sales_person": None}
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert claims["sub"] == account["id"] and claims["role"] == "manager" and claims["aud"] == JWT_AUDIENCE
    assert claims["exp"] - claims["iat"] == 24 * 3600 and uuid.UUID(claims["jti"])
    auth = {"Authorization": f"Bearer {body['token']}"}
    me = httpx.get(f"{gateway_url}/auth/me", headers=auth)
    assert me.status_code == 200 and me.json()["user"]["email"] == account["email"]
    assert me.json()["expires_at"] == body["expires_at"]
    assert httpx.get(f"{gateway_url}/api/stores", params={"limit": 1}, headers=auth).status_code == 200

    out = httpx.post(f"{gateway_url}/auth/logout", headers=auth)
    assert out.status_code == 200 and out.json()["revoked"] is True
    r = httpx.get(f"{gateway_url}/api/stores", headers=auth)
    assert_401_json(r, "/api/ after logout")
    assert "revoked" in r.json()["message"]
    assert_401_json(httpx.get(f"{gateway_url}/auth/me", headers=auth), "/auth/me after logout")
    assert_401_json(httpx.post(f"{gateway_url}/auth/logout", headers=auth), "logout twice")


def test_wrong_password_and_unknown_email_get_the_same_answer(gateway_url, account):
    address = loopback_address()
    wrong = login(gateway_url, account["email"], "not-the-password", address)
    unknown = login(gateway_url, f"nobody-{uuid.uuid4().hex[:6]}@api.test", "not-the-password", address)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"code": "INVALID_LOGIN", "message": "the email or the password is wrong",
                                              "details": None, "hint": None}


@pytest.mark.parametrize("body, status", [
    (b"not json", 400), (b"[]", 400), (b'{"email": "a@b.c"}', 400), (b'{"email": 1, "password": "x"}', 400),
    (b'{"email": "a@b.c", "password": ""}', 400), (b'{"email": "a@b.c", "password": "' + b"x" * 20000 + b'"}', 413),
])
def test_bad_login_bodies_are_refused_clearly(gateway_url, body, status):
    r = httpx.post(f"{gateway_url}/auth/login", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status and r.json()["message"]


def test_failed_logins_lock_the_account(gateway_url, running_stack):
    email = f"lock-{uuid.uuid4().hex[:8]}@api.test"
    with psycopg.connect(running_stack.database_url, autocommit=True) as conn:
        add_user(conn, email, PASSWORD, "sales_rep")
    address = loopback_address()
    answers = [login(gateway_url, email, "wrong-password", address).status_code for _ in range(5)]
    assert answers == [401] * 5
    locked = login(gateway_url, email, PASSWORD, address)   # even the right password
    assert locked.status_code == 429, locked.text
    assert 800 < int(locked.headers["Retry-After"]) <= 900
    assert "too many failed logins" in locked.json()["message"]
    # From another address the account is only slowed down (a stranger's guesses must not lock
    # its owner out): a short wait, then the right password works.
    elsewhere = loopback_address()
    slowed = login(gateway_url, email, PASSWORD, elsewhere)
    assert slowed.status_code == 429 and int(slowed.headers["Retry-After"]) <= 60
    time.sleep(int(slowed.headers["Retry-After"]))
    assert login(gateway_url, email, PASSWORD, elsewhere).status_code == 200


def test_failed_logins_lock_the_address(gateway_url, account):
    address = loopback_address()
    answers = [login(gateway_url, f"spray-{n}-{uuid.uuid4().hex[:6]}@api.test", "guess-password", address).status_code
               for n in range(20)]
    assert answers == [401] * 20
    r = login(gateway_url, account["email"], PASSWORD, address)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    # The account itself is fine from elsewhere.
    assert login(gateway_url, account["email"], PASSWORD, loopback_address()).status_code == 200


def test_login_takes_as_long_for_unknown_emails(conn):
    """One bcrypt runs whether or not the email exists (measured in the database, where the
    difference would be: a lookup alone takes ~0.1 ms, a bcrypt a few ms)."""
    add_user(conn, "timing@api.test", PASSWORD, "sales_rep")

    def median_ms(email: str) -> float:
        times = []
        for n in range(9):
            started = time.perf_counter()
            conn.execute("SELECT * FROM app.login(%s, %s, %s)", (email, "wrong-password", f"198.51.100.{n}"))
            times.append((time.perf_counter() - started) * 1000)
            conn.execute("DELETE FROM data.login_attempts")  # no lockout in the middle of measuring
        return statistics.median(times)

    known, unknown = median_ms("timing@api.test"), median_ms("no-such-user@api.test")
    assert 0.5 < unknown / known < 2.0, (known, unknown)


def test_every_bad_token_is_a_401_with_json(gateway_url, running_stack, account):
    s = running_stack
    now = int(time.time())
    revoked = sign(s, claims_for(account))
    assert httpx.post(f"{gateway_url}/auth/logout", headers={"Authorization": f"Bearer {revoked}"}).status_code == 200
    cases = {
        "expired": sign(s, claims_for(account, exp=now - 120, iat=now - 1000)),
        "expired inside PostgREST's 30 s grace": sign(s, claims_for(account, exp=now - 5)),
        "wrong signature": sign(s, claims_for(account), key="another-secret-of-at-least-32-characters"),
        "alg none": sign(s, claims_for(account), key="", algorithm="none"),
        "wrong aud": sign(s, claims_for(account, aud="someone-else")),
        "no aud": sign(s, claims_for(account, aud=None)),
        "no exp": sign(s, claims_for(account, exp=None)),
        "no jti": sign(s, claims_for(account, jti=None)),
        "no iat": sign(s, claims_for(account, iat=None)),
        "only role, aud and exp (PostgREST alone would accept it)": sign(s, {"role": "manager", "aud": JWT_AUDIENCE,
                                                                          "exp": now + 600}),
        "revoked": revoked,
        "unknown role": sign(s, claims_for(account, role="superhero", sub=None)),
        "role that is not an API role": sign(s, claims_for(account, role="analyst", sub=None)),
        "the owner's role": sign(s, claims_for(account, role="mangalm", sub=None)),
        "role differs from the account's": sign(s, claims_for(account, role="admin")),
        "account that does not exist": sign(s, claims_for(account, sub=str(uuid.uuid4()))),
        "not a JWT": "abc.def.ghi",
    }
    for name, token in cases.items():
        auth = {"Authorization": f"Bearer {token}"}
        assert_401_json(httpx.get(f"{gateway_url}/api/stores", headers=auth), f"/api/ with {name}")
        assert_401_json(httpx.get(f"{gateway_url}/auth/me", headers=auth), f"/auth/me with {name}")
        assert_401_json(httpx.get(f"{gateway_url}/events", headers=auth), f"/events with {name}")
        assert_401_json(httpx.post(f"{gateway_url}/auth/ticket", headers=auth), f"/auth/ticket with {name}")
    for where in ("/api/stores", "/auth/me", "/events"):
        assert_401_json(httpx.get(f"{gateway_url}{where}"), f"{where} without a token")
    anon = sign(s, claims_for(account, role="anon", sub=None))
    assert_401_json(httpx.get(f"{gateway_url}/api/stores", headers={"Authorization": f"Bearer {anon}"}), "anon on /api/")
    assert_401_json(httpx.get(f"{gateway_url}/events", headers={"Authorization": f"Bearer {anon}"}), "anon on /events")
    assert_401_json(httpx.post(f"{gateway_url}/auth/ticket", headers={"Authorization": f"Bearer {anon}"}),
                    "anon asking for an events ticket")
    assert_401_json(httpx.post(f"{gateway_url}/auth/logout"), "/auth/logout without a token")


def test_an_unknown_role_is_401_straight_at_postgrest_too(running_stack, account):
    """The check is in the database's role switch, not in nginx: PostgREST itself answers 401."""
    token = sign(running_stack, claims_for(account, role="superhero", sub=None))
    r = httpx.get(f"{running_stack.postgrest_url}/stores", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.json()["code"] == "PT401"
    assert "superhero" in r.json()["message"]
