"""JWTs for PostgREST: HS256, signed with the stack's secret, 24 hours by default.

Claims: sub (user id), role (the PostgreSQL role PostgREST switches to), aud, jti (so a token
can be revoked at logout), iat (so it ends when its account's password, role or status
changes), exp, and email when known. Whether a signed token is still good is decided in the
database (app.token_problem, functions/auth.sql); this module only signs and verifies.
"""
from __future__ import annotations

import time
import uuid

import jwt

from .config import JWT_AUDIENCE, Settings

ROLES = ("anon", "sales_rep", "manager", "admin")
DEFAULT_TTL = 24 * 3600


def issue(settings: Settings, role: str, user_id: str | None = None, email: str | None = None,
          ttl: int = DEFAULT_TTL) -> tuple[str, dict]:
    """A signed token and its claims."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    if ttl <= 0:
        raise ValueError("the token's lifetime (ttl) must be a positive number of seconds")
    now = int(time.time())
    claims = {"role": role, "aud": JWT_AUDIENCE, "iat": now, "exp": now + ttl, "jti": str(uuid.uuid4())}
    if user_id:
        claims["sub"] = str(user_id)
    if email:
        claims["email"] = email
    return jwt.encode(claims, settings.jwt_secret, algorithm="HS256"), claims


def verify(settings: Settings, token: str) -> dict:
    """The claims of a token signed with our secret (HS256 only: alg none is refused), for our
    audience and not expired, as PostgREST's own JWT check; raises jwt.InvalidTokenError
    otherwise. The rest (claims present, revocation, the account) is app.token_problem's."""
    return jwt.decode(token, settings.jwt_secret, algorithms=["HS256"], audience=JWT_AUDIENCE,
                      options={"require": ["exp", "iat", "aud", "jti", "role"]})
