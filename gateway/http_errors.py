"""The service's one error type: a request it refuses, answered as JSON shaped like PostgREST's
errors ({code, message, details, hint}), so clients handle both the same way."""
from __future__ import annotations

import functools

import psycopg
from starlette.requests import Request
from starlette.responses import JSONResponse


class HttpError(Exception):
    """A request the service refuses (bad input, no token, too large, disk full ...); becomes a
    JSON error with this HTTP status."""

    def __init__(self, status: int, code: str, message: str, hint: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.hint = status, code, message, hint
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        headers = dict(self.headers)
        if self.status == 401:
            headers.setdefault("WWW-Authenticate", 'Bearer error="invalid_token"')
        return JSONResponse({"code": self.code, "message": self.message, "details": None, "hint": self.hint},
                            status_code=self.status, headers=headers)


def json_errors(handler):
    """Turns HttpError into its JSON answer, and a database that does not answer into 503."""
    @functools.wraps(handler)
    async def wrapper(request: Request) -> JSONResponse:
        try:
            return await handler(request)
        except HttpError as e:
            return e.response()
        except psycopg.OperationalError as e:
            first = (str(e).strip().splitlines() or ["no answer"])[0][:200]
            return HttpError(503, "DATABASE_UNAVAILABLE", f"the database is not reachable right now ({first}); "
                             "retry in a moment").response()
    return wrapper
