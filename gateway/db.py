"""Database connections for the Python service and the CLI."""
from __future__ import annotations

import asyncio
import contextlib

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


class KeptConnection:
    """One connection of the service kept open for a purpose that asks the database often
    (/health, the reads of /events streams): opened when first needed, shared by the
    coroutines of the process one statement at a time, and opened again (the statement run
    once more) when the server dropped it, e.g. after a restart. Opening a connection per
    request would cost a server process each time."""

    def __init__(self, settings: Settings, application_name: str):
        self.settings, self.application_name = settings, application_name
        self.conn: psycopg.AsyncConnection | None = None
        self.lock = asyncio.Lock()

    async def fetchall(self, sql: str, params: tuple = ()) -> list[tuple]:
        async with self.lock:
            try:
                return await self._run(sql, params)
            except psycopg.OperationalError:
                if self.conn is None or not (self.conn.closed or self.conn.broken):
                    raise  # the statement failed, not the connection: no second run
                await self.close()
                return await self._run(sql, params)

    async def _run(self, sql: str, params: tuple) -> list[tuple]:
        if self.conn is None or self.conn.closed:
            self.conn = await aconnect(self.settings, autocommit=True, application_name=self.application_name)
        return await (await self.conn.execute(sql, params)).fetchall()

    async def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.close()
            self.conn = None
