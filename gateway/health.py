"""GET /health: one answer that says which component is up, for people and monitors.

Cheap to ask often: requests that arrive while a check runs share its answer (one check at a
time, never a stale one after it: monitors and tests expect a change to show at once), and
the database is asked over one connection kept open for this purpose (application_name
mangalm-health), through the service's own DATABASE_URL. nginx limits /health per address
besides (10 a second, gateway/nginx.conf.template)."""
from __future__ import annotations

import asyncio
import contextlib
import time

import httpx
import psycopg
from starlette.requests import Request
from starlette.responses import JSONResponse

from . import replica
from .db import aconnect


APPLICATION_NAME = "mangalm-health"


class _Checker:
    """The one connection and the check in flight, per service process."""

    def __init__(self):
        self.conn = None
        self.running: asyncio.Task | None = None


async def _queue(settings, checker: _Checker) -> tuple:
    if checker.conn is None or checker.conn.closed:
        checker.conn = await aconnect(settings, autocommit=True, application_name=APPLICATION_NAME)
    # A job's wait starts when it entered the queue (received_at), not at run_after:
    # a job waiting for its retry has run_after in the future (reliability issue).
    cur = await checker.conn.execute(
        "SELECT extract(epoch FROM now() - min(coalesce(received_at, created_at)))::float8, count(*) "
        "FROM data.upload_jobs WHERE status = 'queued'")
    return await cur.fetchone()


async def _database(settings, checker: _Checker) -> dict:
    started = time.perf_counter()
    try:
        try:
            oldest, waiting = await _queue(settings, checker)
        except psycopg.OperationalError:
            # The kept connection may have died with a server restart: one fresh try.
            await _drop(checker)
            oldest, waiting = await _queue(settings, checker)
        return {"database": {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)},
                "queue": {"ok": True, "waiting": waiting,
                          "oldest_waiting_seconds": round(oldest, 1) if oldest is not None else None}}
    except Exception as e:  # any failure means "down"; the message says why
        await _drop(checker)
        return {"database": {"ok": False, "error": str(e).strip().splitlines()[0][:300]},
                "queue": {"ok": False, "error": "database unreachable"}}


async def _drop(checker: _Checker) -> None:
    if checker.conn is not None:
        with contextlib.suppress(Exception):
            await checker.conn.close()
        checker.conn = None


async def _ready(admin_port: int) -> dict:
    try:
        async with httpx.AsyncClient(timeout=2.0) as client:
            r = await client.get(f"http://127.0.0.1:{admin_port}/ready")
        return {"ok": r.status_code == 200, "status": r.status_code}
    except httpx.HTTPError as e:
        return {"ok": False, "error": f"not reachable ({type(e).__name__})"}


async def _postgrest(settings) -> dict:
    """The first instance's /ready; with MANGALM_POSTGREST_INSTANCES > 1 every instance is
    listed and all must be ready (nginx skips a failed one, but it is still a fault)."""
    answers = await asyncio.gather(*(_ready(settings.postgrest_instance_ports(i)[1])
                                     for i in range(settings.postgrest_instances)))
    if len(answers) == 1:
        return answers[0]
    return {"ok": all(a["ok"] for a in answers), "instances": answers}


async def health(request: Request) -> JSONResponse:
    state = request.app.state
    if getattr(state, "health", None) is None:
        state.health = _Checker()
    checker = state.health
    if checker.running is None or checker.running.done():
        checker.running = asyncio.create_task(_check(state.settings, checker, state.pid))
    # shield: a client that hangs up does not cancel the check the others wait for.
    body, status = await asyncio.shield(checker.running)
    return JSONResponse(body, status_code=status)


async def _check(settings, checker: _Checker, pid: int) -> tuple[dict, int]:
    components = await _database(settings, checker)
    components["postgrest"] = await _postgrest(settings)
    components["service"] = {"ok": True, "pid": pid}
    # Only when a replica is configured: a stopped or lagging-off standby is "degraded" (no
    # failover possible, upload jobs commit without waiting for it).
    rep = await asyncio.to_thread(replica.status, settings)
    if rep is not None:
        components["replica"] = {"ok": rep["state"] == "streaming", **rep}
    healthy = all(c["ok"] for c in components.values())
    return {"status": "ok" if healthy else "degraded", "components": components}, 200 if healthy else 503
