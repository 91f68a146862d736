"""Structured logs: one JSON line per request and per job event, on stdout (which `mangalm up`
sends to $MANGALM_HOME/log/service.log)."""
from __future__ import annotations

import json
import sys
import time
from datetime import datetime, timezone


def log_event(event: str, **fields) -> None:
    """Write one JSON line, e.g. log_event("BULK_UPLOAD_START", job_id=7, bytes=1024)."""
    record = {"ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"), "event": event, **fields}
    sys.stdout.write(json.dumps(record, default=str) + "\n")
    sys.stdout.flush()


class RequestLog:
    """ASGI middleware: one `request` line with method, path, status, duration and client."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = time.perf_counter()
        status = {"code": 500}

        async def capture(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            headers = dict(scope.get("headers") or [])
            client = headers.get(b"x-forwarded-for", b"").decode() or (scope.get("client") or ("", 0))[0]
            log_event("request", method=scope["method"], path=scope["path"], status=status["code"],
                      ms=round((time.perf_counter() - started) * 1000, 1), client=client)
