"""/auth: log in (a JWT for PostgREST), who am I, log out (revoke the token).

The database checks the password and the login limits (app.login in functions/auth.sql) and
keeps the revocations; this module only signs and reads tokens. Errors are JSON shaped like
PostgREST's ({code, message, details, hint}), so clients handle both the same way.
"""
from __future__ import annotations

import ipaddress
import json
from datetime import datetime, timezone

import jwt
import psycopg
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import tokens
from .http_errors import HttpError, json_errors
from .db import aconnect

# A login body is two short strings; anything bigger is not a login.
MAX_BODY_BYTES = 16 * 1024


def iso(epoch: int | float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).isoformat().replace("+00:00", "Z")


def client_address(request: Request) -> str | None:
    """The caller's address: nginx's X-Forwarded-For (it sets it to $remote_addr; the service
    listens on loopback only, so only nginx or a local process can set it), else the peer."""
    candidate = request.headers.get("x-forwarded-for", "").split(",")[0].strip()
    if not candidate and request.client:
        candidate = request.client.host
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def bearer_token(request: Request) -> str:
    """The token of the request: `Authorization: Bearer ...` only. A token is never taken from
    the URL, where logs keep it (GET /events takes a ticket instead: POST /auth/ticket)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    raise HttpError(401, "NO_TOKEN", "this needs a token: send Authorization: Bearer TOKEN",
                    "get one with POST /auth/login")


def refused(e: psycopg.Error) -> HttpError | None:
    """The 401 for a PT401 the database raised (app.refuse_token: its code is in DETAIL)."""
    if e.sqlstate != "PT401":
        return None
    diag = e.diag
    return HttpError(401, diag.message_detail or "TOKEN_INVALID", diag.message_primary or "the token is refused",
                     diag.message_hint or None)


async def check_claims(settings, claims: dict) -> None:
    """Raises HttpError (401) when app.token_problem refuses the claims: the same check
    PostgREST runs before every /api/ request (app.check_request)."""
    async with await aconnect(settings, autocommit=True) as conn:
        row = await (await conn.execute("SELECT app.token_problem(%s::jsonb)", (json.dumps(claims),))).fetchone()
    if row[0]:
        raise HttpError(401, row[0]["code"], row[0]["message"], row[0].get("hint"))


def verified_claims(settings, token: str) -> dict:
    """The claims of a token with a good signature (tokens.verify); HttpError (401) otherwise."""
    try:
        return tokens.verify(settings, token)
    except jwt.ExpiredSignatureError:
        raise HttpError(401, "TOKEN_EXPIRED", "the token has expired; log in again") from None
    except jwt.InvalidAudienceError:
        raise HttpError(401, "TOKEN_INVALID", "the token is not for this API (wrong audience)") from None
    except jwt.InvalidTokenError as e:
        raise HttpError(401, "TOKEN_INVALID", f"the token is not valid: {e}") from None


async def authenticate(request: Request) -> dict:
    """The claims of the request's token: the signature here (pyjwt), everything else in the
    database (app.token_problem). Raises HttpError (401) otherwise."""
    settings = request.app.state.settings
    claims = verified_claims(settings, bearer_token(request))
    await check_claims(settings, claims)
    return claims


def _user_json(user: dict | None) -> dict | None:
    if not user:
        return None
    return {"id": str(user["user_id"]), "email": user["email"], "role": user["role"],
            "full_name": user["full_name"], "sales_person": user["sales_person"]}


async def _login_body(request: Request) -> tuple[str, str]:
    raw = await request.body()
    if len(raw) > MAX_BODY_BYTES:
        raise HttpError(413, "TOO_LARGE", "a login is an email and a password; this body is too large")
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise HttpError(400, "BAD_REQUEST", 'send a JSON object: {"email": "...", "password": "..."}')
    email, password = body.get("email"), body.get("password")
    if not isinstance(email, str) or not email.strip() or not isinstance(password, str) or not password:
        raise HttpError(400, "BAD_REQUEST", "give both email and password, as strings")
    return email.strip(), password


@json_errors
async def login(request: Request) -> JSONResponse:
    """POST /auth/login {email, password} -> {token, token_type, expires_at, user}."""
    email, password = await _login_body(request)
    settings = request.app.state.settings
    async with await aconnect(settings, autocommit=True) as conn:
        cur = await conn.execute("SELECT * FROM app.login(%s, %s, %s)", (email, password, client_address(request)))
        row = dict(zip([c.name for c in cur.description], await cur.fetchone()))
    if row["outcome"] == "locked":
        wait = int(row["retry_after"])
        raise HttpError(429, "TOO_MANY_FAILED_LOGINS",
                        f"too many failed logins for this account or from this address; retry in {wait} s",
                        headers={"Retry-After": str(wait)})
    if row["outcome"] != "ok":
        raise HttpError(401, "INVALID_LOGIN", "the email or the password is wrong")
    token, claims = tokens.issue(settings, row["role"], str(row["user_id"]), row["email"])
    return JSONResponse({"token": token, "token_type": "Bearer", "expires_at": iso(claims["exp"]),
                         "user": _user_json(row)})


@json_errors
async def me(request: Request) -> JSONResponse:
    """GET /auth/me -> the token's account, role and expiry."""
    claims = await authenticate(request)
    user = None
    if claims.get("sub"):
        async with await aconnect(request.app.state.settings, autocommit=True) as conn:
            cur = await conn.execute("SELECT * FROM app.session_user_info(%s)", (claims["sub"],))
            row = await cur.fetchone()
            user = dict(zip([c.name for c in cur.description], row)) if row else None
    return JSONResponse({"user": _user_json(user), "role": claims["role"], "expires_at": iso(claims["exp"]),
                         "token_id": claims["jti"]})


@json_errors
async def logout(request: Request) -> JSONResponse:
    """POST /auth/logout -> revokes the token's jti; PostgREST refuses it from then on."""
    claims = await authenticate(request)
    async with await aconnect(request.app.state.settings, autocommit=True) as conn:
        await conn.execute("SELECT app.revoke_token(%s, %s, to_timestamp(%s))",
                           (claims["jti"], claims.get("sub"), claims["exp"]))
    return JSONResponse({"revoked": True, "token_id": claims["jti"]})


@json_errors
async def ticket(request: Request) -> JSONResponse:
    """POST /auth/ticket (Bearer) -> {ticket, expires_at}: a single-use, 30-second pass for
    GET /events?ticket=..., so the token itself never travels in a URL."""
    settings = request.app.state.settings
    claims = verified_claims(settings, bearer_token(request))
    try:
        async with await aconnect(settings, autocommit=True) as conn:
            row = await (await conn.execute("SELECT * FROM app.issue_event_ticket(%s::jsonb)",
                                            (json.dumps(claims),))).fetchone()
    except psycopg.Error as e:
        if (err := refused(e)) is None:
            raise
        raise err from None
    return JSONResponse({"ticket": row[0], "expires_at": row[1].isoformat().replace("+00:00", "Z")},
                        headers={"Cache-Control": "no-store"})


ROUTES = [
    Route("/auth/login", login, methods=["POST"]),
    Route("/auth/me", me, methods=["GET"]),
    Route("/auth/logout", logout, methods=["POST"]),
    Route("/auth/ticket", ticket, methods=["POST"]),
]
