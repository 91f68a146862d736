"""Structured logs: one JSON line per request and per job event, on stdout (which `mangalm up`
sends to $MANGALM_HOME/log/service.log), through the `mangalm.events` logger."""
from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
from datetime import datetime, timezone

events = logging.getLogger("mangalm.events")


class _JsonLines(logging.Handler):
    """Writes each event as one JSON line on the current sys.stdout (looked up at each line, so a
    redirected or captured stdout receives it)."""

    def emit(self, record: logging.LogRecord) -> None:
        line = {"ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
                "event": record.getMessage(), **getattr(record, "fields", {})}
        sys.stdout.write(json.dumps(line, default=str) + "\n")
        sys.stdout.flush()


events.addHandler(_JsonLines())
events.setLevel(logging.INFO)
events.propagate = False  # the JSON line is the whole record: no second, formatted copy via the root


def log_event(event: str, **fields) -> None:
    """Write one JSON line, e.g. log_event("BULK_UPLOAD_START", job_id=7, bytes=1024)."""
    events.info(event, extra={"fields": fields})


@contextlib.contextmanager
def quiet_events():
    """Turns the event lines off for a block: a command that runs a job itself (`mangalm load`,
    the demo data of `up`) reports to its user, and the job's lines belong in the service's log."""
    level = events.level
    events.setLevel(logging.WARNING)
    try:
        yield
    finally:
        events.setLevel(level)


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
