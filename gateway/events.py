"""GET /events: server-sent events from the database's NOTIFY mangalm_events.

One LISTEN connection per service process, shared by every open stream: each subscriber gets
its own queue. The listener starts with the first subscriber and stops with the last, and
reconnects by itself (with backoff) when the database goes away; after such a gap it sends a
`data_changed` event with source "reconnect", so dashboards refresh what they may have missed.

Events are named by their "type" (upload_progress, upload_finished, data_changed) and carry the
database's JSON unchanged. Sales reps get only `data_changed` events that touch their stores
(store_ids narrowed to theirs); uploads are a manager's business. A comment line every
MANGALM_EVENTS_HEARTBEAT seconds (15) keeps proxies and browsers from closing an idle stream.
The stream ends when the token expires (EventSource then reconnects and gets a 401).
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

from .auth import AuthError, authenticate, json_errors
from .db import aconnect
from .logs import log_event

CHANNEL = "mangalm_events"
HEARTBEAT_SECONDS = float(os.environ.get("MANGALM_EVENTS_HEARTBEAT", "15"))
# A client that does not read its stream is dropped rather than buffered forever.
QUEUE_SIZE = 1000


class Broadcaster:
    """Fans the notifications of one LISTEN connection out to every subscriber's queue."""

    def __init__(self, settings):
        self.settings = settings
        self.subscribers: set[asyncio.Queue] = set()
        self.task: asyncio.Task | None = None
        self.listening = asyncio.Event()

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(QUEUE_SIZE)
        self.subscribers.add(queue)
        if self.task is None or self.task.done():
            self.listening.clear()
            self.task = asyncio.create_task(self._listen())
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self.subscribers.discard(queue)

    def publish(self, event: dict) -> None:
        for queue in list(self.subscribers):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self.subscribers.discard(queue)
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
                queue.put_nowait(None)  # tells the stream to end

    async def _listen(self) -> None:
        backoff, missed = 0.5, False
        while self.subscribers:
            try:
                async with await aconnect(self.settings, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    if missed:
                        self.publish({"type": "data_changed", "source": "reconnect", "store_ids": None})
                    backoff, missed = 0.5, False
                    while self.subscribers:
                        # A timeout lets the loop notice when the last subscriber has gone.
                        async for note in conn.notifies(timeout=2.0):
                            self.publish(_parse(note.payload))
            except (psycopg.Error, OSError) as e:
                self.listening.clear()
                missed = True
                log_event("EVENTS_LISTEN_LOST", error=str(e).strip().splitlines()[0][:200] if str(e).strip() else "")
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 10.0)
        self.listening.clear()


def _parse(payload: str) -> dict:
    try:
        event = json.loads(payload)
    except ValueError:
        event = None
    if not isinstance(event, dict):
        event = {"type": "message", "data": payload}
    event.setdefault("type", "message")
    return event


def for_subscriber(event: dict, role: str, store_ids: set[str] | None) -> dict | None:
    """The event as this subscriber may see it, or None. store_ids is the rep's stores."""
    if role != "sales_rep":
        return event
    if event.get("type") != "data_changed":
        return None
    touched = event.get("store_ids")
    if not isinstance(touched, list):
        return event
    mine = [s for s in touched if s in (store_ids or set())]
    return {**event, "store_ids": mine} if mine else None


def _sse(event: dict) -> str:
    name = str(event.get("type", "message")).replace("\n", " ")
    return f"event: {name}\ndata: {json.dumps(event, default=str)}\n\n"


async def _rep_stores(settings, claims: dict) -> set[str]:
    async with await aconnect(settings, autocommit=True) as conn:
        await conn.execute("SELECT set_config('request.jwt.claims', %s, false)", (json.dumps(
            {"sub": claims.get("sub"), "role": claims.get("role")}),))
        rows = await (await conn.execute("SELECT app.rep_store_ids()")).fetchall()
    return {r[0] for r in rows}


def broadcaster(request: Request) -> Broadcaster:
    state = request.app.state
    if getattr(state, "events", None) is None:
        state.events = Broadcaster(state.settings)
    return state.events


@json_errors
async def events(request: Request):
    """GET /events (token in Authorization, or ?token= for EventSource)."""
    claims = await authenticate(request, allow_query=True)
    role = claims["role"]
    if role == "anon":
        raise AuthError(401, "NO_TOKEN", "live events need a signed-in user's token", "get one with POST /auth/login")
    stores = await _rep_stores(request.app.state.settings, claims) if role == "sales_rep" else None
    hub = broadcaster(request)
    queue = hub.subscribe()
    expires = float(claims["exp"])

    async def stream():
        try:
            # ": connected" promises delivery: it is sent once the LISTEN is in place.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(hub.listening.wait(), timeout=5)
            yield "retry: 3000\n: connected\n\n"
            while True:
                left = expires - time.time()
                if left <= 0:
                    yield _sse({"type": "token_expired", "message": "the token expired; log in again"})
                    return
                try:
                    event = await asyncio.wait_for(queue.get(), timeout=min(HEARTBEAT_SECONDS, left))
                except asyncio.TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                if event is None:
                    return
                visible = for_subscriber(event, role, stores)
                if visible is not None:
                    yield _sse(visible)
        finally:
            hub.unsubscribe(queue)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


ROUTES = [Route("/events", events, methods=["GET"])]
