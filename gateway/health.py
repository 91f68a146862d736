"""GET /health: one answer that says which component is up, for people and monitors.

Cheap to ask often: requests that arrive while a check runs share its answer (one check at a
time, never a stale one after it: monitors and tests expect a change to show at once), and
the database is asked over one connection kept open for this purpose (application_name
mangalm-health, as the application's login mangalm_app), and a replica's state as that login
too. nginx limits /health per address besides (10 a second, gateway/nginx.conf.template)."""
from __future__ import annotations

import asyncio
import time

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse

from . import replica
from .db import KeptConnection


APPLICATION_NAME = "mangalm-health"


class _Checker:
    """The kept connection and the check in flight, per service process."""

    def __init__(self, settings):
        self.db = KeptConnection(settings, APPLICATION_NAME)
        self.running: asyncio.Task | None = None


async def _database(checker: _Checker) -> dict:
    started = time.perf_counter()
    try:
        # A job's wait starts when it entered the queue (received_at), not at run_after:
        # a job waiting for its retry has run_after in the future.
        [(oldest, waiting)] = await checker.db.fetchall(
            "SELECT extract(epoch FROM now() - min(coalesce(received_at, created_at)))::float8, count(*) "
            "FROM data.upload_jobs WHERE status = 'queued'")
        return {"database": {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)},
                "queue": {"ok": True, "waiting": waiting,
                          "oldest_waiting_seconds": round(oldest, 1) if oldest is not None else None}}
    except Exception as e:  # any failure means "down"; the message says why
        await checker.db.close()
        return {"database": {"ok": False, "error": str(e).strip().splitlines()[0][:300]},
                "queue": {"ok": False, "error": "database unreachable"}}


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
        state.health = _Checker(state.settings)
    checker = state.health
    if checker.running is None or checker.running.done():
        checker.running = asyncio.create_task(_check(state.settings, checker, state.pid))
    # shield: a client that hangs up does not cancel the check the others wait for.
    body, status = await asyncio.shield(checker.running)
    return JSONResponse(body, status_code=status)


async def _check(settings, checker: _Checker, pid: int) -> tuple[dict, int]:
    components = await _database(checker)
    components["postgrest"] = await _postgrest(settings)
    components["service"] = {"ok": True, "pid": pid}
    # Only when a replica is configured: a stopped or lagging-off standby is "degraded" (no
    # failover possible, upload jobs commit without waiting for it).
    rep = await asyncio.to_thread(replica.status, settings)
    if rep is not None:
        components["replica"] = {"ok": rep["state"] == "streaming", **rep}
    healthy = all(c["ok"] for c in components.values())
    return {"status": "ok" if healthy else "degraded", "components": components}, 200 if healthy else 503
