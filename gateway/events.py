"""GET /events: server-sent events of what the database published (app.publish_event).

The database writes each event to data.events and sends NOTIFY mangalm_events as a wake-up;
a change that ends tokens (logout, a password, role or active-flag change) sends NOTIFY
mangalm_tokens. One LISTEN connection per service process, shared by every open stream, only
wakes the streams: a notification's payload is never trusted (any SQL session may NOTIFY).
Each woken stream reads the rows after the last one it sent through app.events_since, which
re-checks its token and decides what this subscriber may see (reps: their stores only). The
listener starts with the first subscriber and stops with the last, and reconnects by itself
(with backoff) when the database goes away; rows written meanwhile are read after it.

The stream is opened with a ticket (POST /auth/ticket, single use, 30 s), never a token in
the URL; or with an Authorization header. It re-checks its token at every wake-up and at
every heartbeat (a comment line every MANGALM_EVENTS_HEARTBEAT seconds, 15, which also keeps
proxies from closing an idle stream), and ends with a `token_ended` event saying why once the
token is no longer good (logout, expiry, deactivation, role or password change). EventSource
then reconnects; the dashboard fetches a fresh ticket first (dashboard/public/live.js).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time

import psycopg
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from .auth import authenticate, refused
from .http_errors import HttpError, json_errors
from .db import KeptConnection, aconnect
from .logs import log_event

CHANNELS = ("mangalm_events", "mangalm_tokens")
HEARTBEAT_SECONDS = float(os.environ.get("MANGALM_EVENTS_HEARTBEAT", "15"))
# Events are numbered when written but committed in any order: each read looks back this many
# ids and skips those already sent, so an event that commits late is not lost.
LOOKBACK = 100
# At most one read per stream in this many seconds: a flood of notifications (anyone may
# NOTIFY) costs each stream a few reads a second, not one per notification.
MIN_READ_INTERVAL = 0.25


class Broadcaster:
    """Wakes every subscriber when one LISTEN connection hears anything."""

    def __init__(self, settings):
        self.settings = settings
        # The streams' reads (tickets, app.events_since) share one kept connection: a wake-up
        # of every stream then costs a statement each, not a connection each.
        self.reader = KeptConnection(settings, "mangalm-events")
        self.subscribers: set[asyncio.Event] = set()
        self.task: asyncio.Task | None = None
        self.listening = asyncio.Event()

    def subscribe(self) -> asyncio.Event:
        wake = asyncio.Event()
        self.subscribers.add(wake)
        if self.task is None or self.task.done():
            self.listening.clear()
            self.task = asyncio.create_task(self._listen())
        return wake

    def unsubscribe(self, wake: asyncio.Event) -> None:
        self.subscribers.discard(wake)

    def wake_all(self) -> None:
        for wake in list(self.subscribers):
            wake.set()

    async def _listen(self) -> None:
        backoff = 0.5
        while self.subscribers:
            try:
                async with await aconnect(self.settings, autocommit=True) as conn:
                    for channel in CHANNELS:
                        await conn.execute(f"LISTEN {channel}")
                    self.listening.set()
                    self.wake_all()  # after a gap: read what was written meanwhile
                    backoff = 0.5
                    while self.subscribers:
                        # A timeout lets the loop notice when the last subscriber has gone.
                        async for _note in conn.notifies(timeout=2.0):
                            self.wake_all()
            except (psycopg.Error, OSError) as e:
                self.listening.clear()
                log_event("EVENTS_LISTEN_LOST", error=str(e).strip().splitlines()[0][:200] if str(e).strip() else "")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
        self.listening.clear()


def _sse(event: dict) -> str:
    name = str(event.get("type", "message")).replace("\n", " ").replace("\r", " ")
    return f"event: {name}\ndata: {json.dumps(event, default=str)}\n\n"


def broadcaster(request: Request) -> Broadcaster:
    state = request.app.state
    if getattr(state, "events", None) is None:
        state.events = Broadcaster(state.settings)
    return state.events


async def _db(hub: Broadcaster, sql: str, params: tuple) -> list[tuple]:
    """One statement on the streams' kept connection; PT401 becomes HttpError."""
    try:
        return await hub.reader.fetchall(sql, params)
    except psycopg.Error as e:
        if (err := refused(e)) is None:
            raise
        raise err from None


async def _claims(request: Request) -> dict:
    """The stream's claims: from a ticket (EventSource), or an Authorization header."""
    params = request.query_params
    if "token" in params:
        raise HttpError(401, "TOKEN_IN_URL", "a token in the URL is not accepted on /events (logs would keep it)",
                        "get a ticket with POST /auth/ticket and open /events?ticket=...")
    if "ticket" in params:
        rows = await _db(broadcaster(request), "SELECT app.redeem_event_ticket(%s)", (params["ticket"],))
        return rows[0][0]
    claims = await authenticate(request)
    if claims["role"] == "anon":
        raise HttpError(401, "NO_TOKEN", "live events need a signed-in user's token", "get one with POST /auth/login")
    return claims


@json_errors
async def events(request: Request):
    """GET /events?ticket=... (or with Authorization: Bearer)."""
    claims = await _claims(request)
    claims_json = json.dumps(claims)
    hub = broadcaster(request)
    last = (await _db(hub, "SELECT app.events_last_id()", ()))[0][0]
    wake = hub.subscribe()
    expires = float(claims["exp"])

    async def stream():
        nonlocal last
        sent: set[int] = set()
        last_read = 0.0
        try:
            # ": connected" promises delivery: it is sent once the LISTEN is in place.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(hub.listening.wait(), timeout=5)
            yield "retry: 3000\n: connected\n\n"
            while True:
                left = max(0.0, expires - time.time())
                woken = False
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(wake.wait(), timeout=min(HEARTBEAT_SECONDS, left))
                    woken = True
                if woken and (pause := MIN_READ_INTERVAL - (time.monotonic() - last_read)) > 0:
                    await asyncio.sleep(pause)
                wake.clear()
                last_read = time.monotonic()
                try:
                    # Re-checks the token (PT401 when it is no longer good), then the new rows.
                    rows = await _db(hub, "SELECT id, event FROM app.events_since(%s, %s::jsonb)",
                                     (max(0, last - LOOKBACK), claims_json))
                except HttpError as e:
                    yield _sse({"type": "token_ended", "code": e.code, "message": e.message})
                    return
                except (psycopg.Error, OSError):
                    # The database is away: keep the stream, try again at the next wake-up.
                    yield ": database unreachable\n\n"
                    continue
                for event_id, event in rows:
                    if event_id in sent:
                        continue
                    sent.add(event_id)
                    last = max(last, event_id)
                    yield _sse(event)
                if len(sent) > 4 * LOOKBACK:
                    sent = {i for i in sent if i > last - LOOKBACK}
                if not woken:
                    yield ": heartbeat\n\n"
        finally:
            hub.unsubscribe(wake)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


ROUTES = [Route("/events", events, methods=["GET"])]
