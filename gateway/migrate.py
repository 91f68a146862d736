"""Migrations: versioned table changes with yoyo, then every stateless object re-applied.

1. db/roles.sql (cluster-wide, idempotent), and the login roles' passwords.
2. yoyo applies the versioned migrations in migrations/ (each names the db/ files it applies).
3. In one transaction the schemas that hold no data, `app` and `api`, are dropped and built
   again from functions/*.sql, views/*.sql, db/policies.sql and db/grants.sql. Re-creating them
   rather than patching makes every migrate idempotent and lets a view change its columns.
   Rule that follows: tables never reference app or api objects (no defaults or checks
   calling app functions) — a CASCADE would silently drop them.
4. PostgREST is told to reload its schema cache.
"""
from __future__ import annotations

from pathlib import Path

import psycopg
from psycopg import sql

from .config import ROOT, Settings
from .db import connect

MIGRATIONS_DIR = ROOT / "migrations"
# Any constant works; it keeps two `migrate` runs from interleaving.
MIGRATE_LOCK = 744_250_115


def db_sql(name: str) -> str:
    return (ROOT / "db" / name).read_text()


def stateless_files() -> list[Path]:
    """The files re-applied on every migrate, in order."""
    return [*sorted((ROOT / "functions").glob("*.sql")), *sorted((ROOT / "views").glob("*.sql")),
            ROOT / "db" / "policies.sql", ROOT / "db" / "grants.sql"]


def _yoyo_url(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return "postgresql+psycopg://" + rest


def apply_roles(conn: psycopg.Connection, settings: Settings) -> None:
    conn.execute(db_sql("roles.sql"))
    for role, password in (("authenticator", settings.authenticator_password),
                           ("analyst", settings.analyst_password)):
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))


def apply_versioned(url: str, upto: str | None = None) -> list[str]:
    """Apply pending yoyo migrations (all, or up to and including the id `upto`)."""
    from yoyo import get_backend, read_migrations

    backend = get_backend(_yoyo_url(url))
    try:
        migrations = read_migrations(str(MIGRATIONS_DIR))
        with backend.lock():
            pending = backend.to_apply(migrations)
            if upto is not None:
                ids = [m.id for m in migrations]
                pending = pending.filter(lambda m: ids.index(m.id) <= ids.index(upto))
            backend.apply_migrations(pending)
            return [m.id for m in pending]
    finally:
        backend.connection.close()


def apply_stateless(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        conn.execute("DROP SCHEMA IF EXISTS api CASCADE; DROP SCHEMA IF EXISTS app CASCADE;"
                     "CREATE SCHEMA app; CREATE SCHEMA api;")
        for path in stateless_files():
            if path.exists():
                try:
                    conn.execute(path.read_text())
                except psycopg.Error as e:
                    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
                    raise RuntimeError(f"{where}: {e}") from e
        conn.execute("NOTIFY pgrst, 'reload schema'")


def migrate(settings: Settings, url: str | None = None, upto: str | None = None) -> list[str]:
    """Bring the database at `url` (default: the stack's) up to date; returns applied ids."""
    url = url or settings.database_url
    with connect(settings, url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
        try:
            apply_roles(conn, settings)
            applied = apply_versioned(url, upto)
            apply_stateless(conn)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))
    return applied
