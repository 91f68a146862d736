"""Tokens end when what they stand for changes: a password reset, the owner's own password
change, deactivation (even after reactivation) and a role change each end every token issued
before, at PostgREST (/api/) and at the service (/auth/me) alike, whatever the path (API, or
SQL as the CLI does); a new login afterwards works. And one check decides, in the database:
PostgREST and the service refuse the same tokens (app.token_problem)."""
from __future__ import annotations

import time
import uuid

import httpx
import jwt
import psycopg
import pytest

from gateway.config import JWT_AUDIENCE
from gateway.users import add_user

PASSWORD = "lifecycle-password-1"
NEW_PASSWORD = "lifecycle-password-2"


def login(base: str, email: str, password: str) -> str:
    r = httpx.post(f"{base}/auth/login", json={"email": email, "password": password}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["token"]


def works(base: str, token: str) -> tuple[int, int]:
    """(status at /api/, status at /auth/me) for the token."""
    auth = {"Authorization": f"Bearer {token}"}
    return (httpx.get(f"{base}/api/products", params={"limit": 1}, headers=auth).status_code,
            httpx.get(f"{base}/auth/me", headers=auth).status_code)


def refused_everywhere(base: str, token: str, words: str) -> None:
    auth = {"Authorization": f"Bearer {token}"}
    for r in (httpx.get(f"{base}/api/products", params={"limit": 1}, headers=auth),
              httpx.get(f"{base}/auth/me", headers=auth)):
        assert r.status_code == 401, f"{r.request.url}: {r.status_code} {r.text}"
        assert words in r.json()["message"], r.json()


def next_second() -> None:
    """iat has one-second resolution: a change in the same second as the login leaves that
    token good (documented), so the tests change things in a later second."""
    time.sleep(1.05 - time.time() % 1)


@pytest.fixture
def person(running_stack):
    email = f"life-{uuid.uuid4().hex[:8]}@api.test"
    with psycopg.connect(running_stack.database_url, autocommit=True) as conn:
        user_id = add_user(conn, email, PASSWORD, "sales_rep", "Life Cycle")
    return {"email": email, "id": user_id}


@pytest.fixture(scope="module")
def admin_token(running_stack, gateway_url):
    email = f"life-admin-{uuid.uuid4().hex[:8]}@api.test"
    with psycopg.connect(running_stack.database_url, autocommit=True) as conn:
        add_user(conn, email, "lifecycle-admin-pw", "admin")
    return login(gateway_url, email, "lifecycle-admin-pw")


def api(base: str, token: str, method: str, path: str, **kw) -> httpx.Response:
    r = httpx.request(method, f"{base}/api/{path}", headers={"Authorization": f"Bearer {token}"}, **kw)
    assert r.status_code < 300, r.text
    return r


def test_password_reset_by_an_admin_ends_tokens(gateway_url, person, admin_token):
    old = login(gateway_url, person["email"], PASSWORD)
    assert works(gateway_url, old) == (200, 200)
    next_second()
    api(gateway_url, admin_token, "POST", "rpc/reset_password", json={"user_id": person["id"], "new_password": NEW_PASSWORD})
    refused_everywhere(gateway_url, old, "log in again")
    assert works(gateway_url, login(gateway_url, person["email"], NEW_PASSWORD)) == (200, 200)


def test_own_password_change_ends_tokens(gateway_url, person):
    old, current = login(gateway_url, person["email"], PASSWORD), login(gateway_url, person["email"], PASSWORD)
    next_second()
    api(gateway_url, current, "POST", "rpc/change_password",
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    refused_everywhere(gateway_url, old, "log in again")
    refused_everywhere(gateway_url, current, "log in again")   # the one that changed it too
    assert works(gateway_url, login(gateway_url, person["email"], NEW_PASSWORD)) == (200, 200)


def test_deactivation_ends_tokens_even_after_reactivation(gateway_url, person, admin_token):
    old = login(gateway_url, person["email"], PASSWORD)
    next_second()
    api(gateway_url, admin_token, "PATCH", f"users?id=eq.{person['id']}", json={"is_active": False})
    refused_everywhere(gateway_url, old, "deactivated")
    api(gateway_url, admin_token, "PATCH", f"users?id=eq.{person['id']}", json={"is_active": True})
    refused_everywhere(gateway_url, old, "log in again")
    assert works(gateway_url, login(gateway_url, person["email"], PASSWORD)) == (200, 200)


def test_role_change_ends_tokens_even_when_changed_back(gateway_url, person, admin_token):
    old = login(gateway_url, person["email"], PASSWORD)
    next_second()
    api(gateway_url, admin_token, "PATCH", f"users?id=eq.{person['id']}", json={"role": "manager"})
    refused_everywhere(gateway_url, old, "log in again")
    api(gateway_url, admin_token, "PATCH", f"users?id=eq.{person['id']}", json={"role": "sales_rep"})
    refused_everywhere(gateway_url, old, "log in again")
    assert works(gateway_url, login(gateway_url, person["email"], PASSWORD)) == (200, 200)


def test_a_password_set_in_sql_ends_tokens_too(gateway_url, running_stack, person):
    """The CLI and other functions write data.users directly: the trigger covers every path."""
    old = login(gateway_url, person["email"], PASSWORD)
    next_second()
    with psycopg.connect(running_stack.database_url, autocommit=True) as conn:
        conn.execute("UPDATE data.users SET password_hash = app.hash_password(%s) WHERE id = %s",
                     (NEW_PASSWORD, person["id"]))
    refused_everywhere(gateway_url, old, "log in again")


def test_other_changes_leave_tokens_alone(gateway_url, person, admin_token):
    token = login(gateway_url, person["email"], PASSWORD)
    next_second()
    api(gateway_url, admin_token, "PATCH", f"users?id=eq.{person['id']}", json={"full_name": "Renamed"})
    assert works(gateway_url, token) == (200, 200)


def test_a_token_of_the_same_second_as_the_change_stays_good(conn):
    """tokens_valid_after is kept to the second and iat is whole seconds: a token issued in the
    change's second passes (a fresh login right after a reset must work), one before does not."""
    user_id = add_user(conn, "same-second@api.test", PASSWORD, "manager")
    conn.execute("UPDATE data.users SET is_active = false WHERE id = %s", (user_id,))
    conn.execute("UPDATE data.users SET is_active = true WHERE id = %s", (user_id,))
    valid_after = conn.execute("SELECT extract(epoch FROM tokens_valid_after)::bigint FROM data.users WHERE id = %s",
                               (user_id,)).fetchone()[0]
    assert valid_after <= time.time()

    def problem(iat: int):
        claims = {"role": "manager", "aud": JWT_AUDIENCE, "sub": user_id, "jti": str(uuid.uuid4()),
                  "iat": iat, "exp": int(time.time()) + 600}
        return conn.execute("SELECT app.token_problem(%s::jsonb)", (psycopg.types.json.Jsonb(claims),)).fetchone()[0]
    assert problem(valid_after) is None
    assert problem(valid_after - 1)["code"] == "TOKEN_ENDED"


# --- one check: PostgREST and the service refuse the same tokens --------------------------------

def sign(settings, claims: dict) -> str:
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, settings.jwt_secret, algorithm="HS256")


@pytest.mark.parametrize("name, overrides", [
    ("no jti", {"jti": None}),
    ("no iat", {"iat": None}),
    ("a jti that is not an id", {"jti": "1"}),
    ("a sub that is not an account id", {"sub": "not-a-uuid"}),
    ("issued in the future", {"iat": int(time.time()) + 3600}),
])
def test_postgrest_and_the_service_refuse_the_same_tokens(gateway_url, running_stack, person, name, overrides):
    now = int(time.time())
    claims = {"role": "sales_rep", "aud": JWT_AUDIENCE, "iat": now, "exp": now + 600,
              "jti": str(uuid.uuid4()), "sub": person["id"], **overrides}
    token = sign(running_stack, claims)
    auth = {"Authorization": f"Bearer {token}"}
    api_answer = httpx.get(f"{gateway_url}/api/products", params={"limit": 1}, headers=auth)
    me_answer = httpx.get(f"{gateway_url}/auth/me", headers=auth)
    assert (api_answer.status_code, me_answer.status_code) == (401, 401), (name, api_answer.text, me_answer.text)


def test_the_check_is_one_function_that_both_sides_run(gateway_url, running_stack, person):
    """Whatever app.token_problem says is what PostgREST and the service answer: the message of
    a refusal is the same text on /api/ and /auth/me."""
    token = login(gateway_url, person["email"], PASSWORD)
    httpx.post(f"{gateway_url}/auth/logout", headers={"Authorization": f"Bearer {token}"})
    claims = jwt.decode(token, options={"verify_signature": False})
    with psycopg.connect(running_stack.database_url, autocommit=True) as conn:
        expected = conn.execute("SELECT app.token_problem(%s::jsonb)",
                                (psycopg.types.json.Jsonb(claims),)).fetchone()[0]
    assert expected["code"] == "TOKEN_REVOKED"
    auth = {"Authorization": f"Bearer {token}"}
    for url in (f"{gateway_url}/api/products", f"{gateway_url}/auth/me"):
        assert httpx.get(url, headers=auth).json()["message"] == expected["message"]
