"""The Python service (uvicorn, loopback only): what PostgREST cannot do.

Health, tokens (/auth), uploads streamed into PostgreSQL with COPY (/uploads) and live events
(/events). No API data passes through here: nginx sends /api/ straight to PostgREST.
Run with: uvicorn --factory gateway.service:create_app
"""
from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from .config import Settings
from .health import health
from .logs import RequestLog


def routes() -> list:
    """Every route of the service; each capability's module contributes its own list."""
    from . import auth, events  # tokens and live events
    from . import uploads  # CSV uploads
    return [Route("/health", health), *auth.ROUTES, *events.ROUTES, *uploads.ROUTES]


def create_app() -> Starlette:
    app = Starlette(routes=routes(), middleware=[Middleware(RequestLog)])
    app.state.settings = Settings.from_env()
    app.state.pid = os.getpid()
    from .worker import start_background  # the upload worker thread (MANGALM_WORKER=0: off)
    app.state.upload_worker = start_background(app.state.settings)
    return app
