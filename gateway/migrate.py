"""Migrations: versioned table changes with yoyo, then every stateless object re-applied.

1. db/roles.sql (cluster-wide, idempotent), and the login roles' passwords.
2. yoyo applies the versioned migrations in migrations/. A released migration is frozen: its
   DDL lives in the migration itself or in migrations/frozen/, a file that never changes again,
   so a fresh database and an upgraded one go through the same statements. db/schema.sql is
   the current schema in one readable place: a snapshot dumped from a migrated database
   (`make schema`), which tests/test_migrations.py compares with a fresh migrate.
3. In one transaction the schemas that hold no data, `app` and `api`, are dropped and built
   again from functions/*.sql, views/*.sql and db/policies.sql; db/ownership.sql hands every
   object to mangalm_owner (no superuser), then db/grants.sql grants. Re-creating them
   rather than patching makes every migrate idempotent and lets a view change its columns.
   Rule that follows: tables never reference app or api objects (no defaults or checks
   calling app functions) — a CASCADE would silently drop them.
4. PostgREST is told to reload its schema cache.
"""
from __future__ import annotations

import subprocess
from pathlib import Path

import psycopg
from psycopg import sql

from .config import ROOT, Settings
from .db import connect

MIGRATIONS_DIR = ROOT / "migrations"
# The schemas that hold data: what db/schema.sql shows (app and api are rebuilt every migrate).
DATA_SCHEMAS = ("data", "staging")
SNAPSHOT = ROOT / "db" / "schema.sql"
# Any constant works; it keeps two `migrate` runs from interleaving.
MIGRATE_LOCK = 744_250_115


def db_sql(name: str) -> str:
    return (ROOT / "db" / name).read_text()


def frozen_sql(name: str) -> str:
    """The DDL of a released migration, from migrations/frozen/ (never edited once released)."""
    return (MIGRATIONS_DIR / "frozen" / name).read_text()


def stateless_files() -> list[Path]:
    """The files re-applied on every migrate, in order."""
    return [*sorted((ROOT / "functions").glob("*.sql")), *sorted((ROOT / "views").glob("*.sql")),
            ROOT / "db" / "policies.sql", ROOT / "db" / "ownership.sql", ROOT / "db" / "grants.sql"]


def _yoyo_url(url: str) -> str:
    scheme, rest = url.split("://", 1)
    return "postgresql+psycopg://" + rest


def apply_roles(conn: psycopg.Connection, settings: Settings) -> None:
    conn.execute(db_sql("roles.sql"))
    for role, password in (("authenticator", settings.authenticator_password),
                           ("analyst", settings.analyst_password), ("mangalm_app", settings.app_password)):
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password)))


def apply_versioned(url: str, upto: str | None = None, folder: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply pending yoyo migrations (all, or up to and including the id `upto`)."""
    from yoyo import get_backend, read_migrations

    backend = get_backend(_yoyo_url(url))
    try:
        migrations = read_migrations(str(folder))
        with backend.lock():
            pending = backend.to_apply(migrations)
            if upto is not None:
                ids = [m.id for m in migrations]
                pending = pending.filter(lambda m: ids.index(m.id) <= ids.index(upto))
            backend.apply_migrations(pending)
            return [m.id for m in pending]
    finally:
        backend.connection.close()


def apply_stateless(conn: psycopg.Connection, settings: Settings) -> None:
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
        reload_postgrest(conn, settings)


def reload_postgrest(conn: psycopg.Connection, settings: Settings) -> None:
    """Tell PostgREST to reload its schema cache (on its secret channel, gateway/config.py)."""
    conn.execute(sql.SQL("NOTIFY {}, 'reload schema'").format(sql.Identifier(settings.postgrest_channel)))


def migrate(settings: Settings, url: str | None = None, upto: str | None = None,
            folder: Path = MIGRATIONS_DIR) -> list[str]:
    """Bring the database at `url` (default: the stack's) up to date; returns applied ids.
    `folder` holds the versioned migrations (tests add a throw-away one in a copy). With `upto`
    only the versioned migrations up to that id run, as a release of that time left them:
    functions and views belong to the current code, so the next full migrate builds them."""
    url = url or settings.database_url
    with connect(settings, url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
        try:
            apply_roles(conn, settings)
            applied = apply_versioned(url, upto, folder)
            if upto is None:
                apply_stateless(conn, settings)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))
    return applied


def schema_snapshot(url: str) -> str:
    """The data-holding schemas of the database at `url` as SQL (tables, constraints, indexes,
    triggers' attachments, RLS policies), without owners, privileges or pg_dump's version lines."""
    from .cluster import pg_bin

    out = subprocess.run([pg_bin("pg_dump"), "--schema-only", "--no-owner", "--no-privileges",
                          *(f"--schema={name}" for name in DATA_SCHEMAS), "--dbname", url],
                         capture_output=True, text=True, check=True).stdout
    # pg_dump 15.14+ writes a random \restrict key per dump; version lines change with patches.
    keep = [line for line in out.splitlines()
            if not line.startswith(("\\restrict", "\\unrestrict", "-- Dumped from", "-- Dumped by"))]
    header = ["-- The current schema of the data-holding schemas, dumped from a freshly migrated",
              "-- database by `make schema`. Generated: change the schema with a new migration in",
              "-- migrations/, then run `make schema`; tests/test_migrations.py checks it is current.", ""]
    return "\n".join(header + keep).rstrip() + "\n"


if __name__ == "__main__":
    # python -m gateway.migrate --snapshot: migrate a scratch database of the embedded cluster
    # and write db/schema.sql from it (make schema).
    import sys
    import uuid

    from . import cluster

    if sys.argv[1:] != ["--snapshot"]:
        raise SystemExit("usage: python -m gateway.migrate --snapshot")
    settings = Settings.from_env()
    was_running = cluster.is_running(settings)
    cluster.start(settings)
    name = "snapshot_" + uuid.uuid4().hex[:8]
    cluster.ensure_database(settings, name)
    scratch = settings.url_for("mangalm", settings.superuser_password, name)
    try:
        migrate(settings, url=scratch)
        SNAPSHOT.write_text(schema_snapshot(scratch))
        print(f"wrote {SNAPSHOT}")
    finally:
        with psycopg.connect(settings.url_for("mangalm", settings.superuser_password, "postgres"),
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not was_running:
            cluster.stop(settings)
