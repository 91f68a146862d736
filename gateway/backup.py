"""Backups: pg_dump's custom format, and a restore that swaps the stack's database whole.

restore() loads the backup into a new database beside the live one, brings it up to the
current schema with `migrate`, then swaps the two by renaming, so readers see either the old
data or the restored data, never a half-restored mix. The roles the schema needs are
cluster-wide; migrate's roles step creates them before anything is restored.
"""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from . import cluster
from .config import Settings
from .db import connect
from .migrate import apply_roles, migrate, reload_postgrest


class BackupError(RuntimeError):
    """A backup or restore failure a person can act on."""


def _dbname(settings: Settings) -> str:
    return psycopg.conninfo.conninfo_to_dict(settings.database_url).get("dbname") or "mangalm"


def backup(settings: Settings, path: Path) -> int:
    """Write the stack's database to `path` (custom format); returns the file's size."""
    connect(settings, settings.database_url).close()  # a clear error when the database is not reachable
    tmp = path.with_name(path.name + ".partial")
    result = subprocess.run([cluster.pg_bin("pg_dump"), "--format=custom", "--file", str(tmp),
                             "--dbname", settings.database_url], capture_output=True, text=True)
    if result.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed: {result.stderr.strip()}")
    # A backup holds every user's password hash and every invoice: readable by its owner only,
    # whatever the umask.
    os.chmod(tmp, 0o600)
    tmp.replace(path)  # never leave a truncated file under the real name
    return path.stat().st_size


def restore(settings: Settings, path: Path) -> None:
    """Replace the stack's data with the backup's."""
    if not path.is_file():
        raise BackupError(f"{path} does not exist or is not a file")
    check = subprocess.run([cluster.pg_bin("pg_restore"), "--list", str(path)], capture_output=True, text=True)
    if check.returncode != 0:
        raise BackupError(f"{path} is not a backup made by `mangalm backup` (pg_restore: "
                          f"{check.stderr.strip().splitlines()[-1] if check.stderr.strip() else 'unreadable'})")
    live = _dbname(settings)
    incoming = f"{live}_restore_{int(time.time())}"
    admin_url = settings.url_for(*_owner(settings), "postgres")
    with connect(settings, admin_url, autocommit=True) as admin:
        apply_roles(admin, settings)
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(incoming)))
    incoming_url = settings.url_for(*_owner(settings), incoming)
    try:
        result = subprocess.run([cluster.pg_bin("pg_restore"), "--no-owner", "--exit-on-error",
                                 "--dbname", incoming_url, str(path)], capture_output=True, text=True)
        if result.returncode != 0:
            raise BackupError(f"pg_restore failed: {result.stderr.strip()}")
        migrate(settings, url=incoming_url)
        with connect(settings, admin_url, autocommit=True) as admin:
            _swap(admin, live, incoming)
    except BaseException:
        with connect(settings, admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(incoming)))
        raise
    with connect(settings, settings.database_url, autocommit=True) as conn:
        reload_postgrest(conn, settings)
    _await_postgrest(settings)


def _await_postgrest(settings: Settings, timeout: float = 30) -> None:
    """The swap ended PostgREST's connections; it reconnects with a backoff of its own. Return
    once it reports ready again (or at once when it is not running), so the restored stack
    serves when `mangalm restore` returns."""
    from .stack import POSTGREST

    if not POSTGREST.pid(settings):
        return
    ready = f"http://127.0.0.1:{settings.postgrest_admin_port}/ready"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(ready, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise BackupError(f"the data was restored, but PostgREST did not report ready within {timeout:.0f} s; "
                      "see its log, or restart with `mangalm down` and `mangalm up`")


def _owner(settings: Settings) -> tuple[str, str]:
    info = psycopg.conninfo.conninfo_to_dict(settings.database_url)
    return info.get("user") or "mangalm", info.get("password") or ""


def _swap(admin: psycopg.Connection, live: str, incoming: str) -> None:
    old = f"{live}_old_{int(time.time())}"
    ident = sql.Identifier
    # Connections to the live database (PostgREST's pool, the service) are ended; they
    # reconnect by themselves to the restored one.
    admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s "
                  "AND pid <> pg_backend_pid()", (live,))
    exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (live,)).fetchone()
    if exists:
        admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident(live), ident(old)))
    admin.execute(sql.SQL("ALTER DATABASE {} RENAME TO {}").format(ident(incoming), ident(live)))
    if exists:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(ident(old)))
