"""GET /health: one answer that says which component is up, for people and monitors."""
from __future__ import annotations

import asyncio
import time

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse

from . import replica
from .db import aconnect


async def _database(settings) -> dict:
    started = time.perf_counter()
    try:
        conn = await aconnect(settings, autocommit=True)
        async with conn:
            # A job's wait starts when it entered the queue (received_at), not at run_after:
            # a job waiting for its retry has run_after in the future (reliability issue).
            cur = await conn.execute(
                "SELECT extract(epoch FROM now() - min(coalesce(received_at, created_at)))::float8, count(*) "
                "FROM data.upload_jobs WHERE status = 'queued'")
            oldest, waiting = await cur.fetchone()
        return {"database": {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 1)},
                "queue": {"ok": True, "waiting": waiting,
                          "oldest_waiting_seconds": round(oldest, 1) if oldest is not None else None}}
    except Exception as e:  # any failure means "down"; the message says why
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
    settings = request.app.state.settings
    components = await _database(settings)
    components["postgrest"] = await _postgrest(settings)
    components["service"] = {"ok": True, "pid": request.app.state.pid}
    # Only when a replica is configured: a stopped or lagging-off standby is "degraded" (no
    # failover possible, upload jobs commit without waiting for it).
    rep = await asyncio.to_thread(replica.status, settings)
    if rep is not None:
        components["replica"] = {"ok": rep["state"] == "streaming", **rep}
    healthy = all(c["ok"] for c in components.values())
    return JSONResponse({"status": "ok" if healthy else "degraded", "components": components},
                        status_code=200 if healthy else 503)
