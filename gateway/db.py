"""Database connections for the Python service and the CLI."""
from __future__ import annotations

import psycopg

from .config import Settings


class DatabaseUnreachable(RuntimeError):
    """The server at DATABASE_URL does not answer; the message names host and port."""


def connect(settings: Settings, url: str | None = None, **kwargs) -> psycopg.Connection:
    """A connection as the application (settings.app_url) unless another url is given."""
    url = url or settings.app_url
    try:
        return psycopg.connect(url, connect_timeout=5, **kwargs)
    except psycopg.OperationalError as e:
        info = psycopg.conninfo.conninfo_to_dict(url)
        where = f"{info.get('host', 'localhost')}:{info.get('port', 5432)}"
        first = str(e).strip().splitlines()[-1] if str(e).strip() else "no answer"
        raise DatabaseUnreachable(f"cannot connect to PostgreSQL at {where}: {first}") from None


async def aconnect(settings: Settings, url: str | None = None, **kwargs) -> psycopg.AsyncConnection:
    """The same as connect, for the async service."""
    return await psycopg.AsyncConnection.connect(url or settings.app_url, connect_timeout=5, **kwargs)
