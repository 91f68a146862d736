"""Migrations are repeatable, frozen once released, and give one schema whichever way a
database got there; db/schema.sql shows that schema."""
import hashlib
import shutil
import subprocess
import uuid

import psycopg
import pytest

from gateway import cluster
from gateway.migrate import MIGRATIONS_DIR, SNAPSHOT, migrate, schema_snapshot


@pytest.fixture
def new_db(embedded_cluster, settings):
    """Factory of empty databases on the test cluster, dropped afterwards."""
    made = []

    def make() -> str:
        name = "mig_" + uuid.uuid4().hex[:8]
        cluster.ensure_database(settings, name)
        made.append(name)
        return settings.url_for("mangalm", settings.superuser_password, name)
    yield make
    with psycopg.connect(settings.url_for("mangalm", settings.superuser_password, "postgres"),
                         autocommit=True) as c:
        for name in made:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def schema_dump(url: str) -> str:
    out = subprocess.run([cluster.pg_bin("pg_dump"), "--schema-only", "--no-owner", "--dbname", url],
                         capture_output=True, text=True, check=True).stdout
    # pg_dump 15.14+ writes a random \restrict key per dump; it is not part of the schema.
    return "\n".join(line for line in out.splitlines() if not line.startswith(("\\restrict", "\\unrestrict")))


def test_migrating_twice_changes_nothing(new_db, settings):
    url = new_db()
    first = migrate(settings, url=url)
    assert first, "the first migrate applies the versioned migrations"
    before = schema_dump(url)
    assert migrate(settings, url=url) == [], "nothing versioned is applied twice"
    assert schema_dump(url) == before


def test_scratch_and_stepwise_upgrade_give_the_same_schema(new_db, settings):
    scratch, stepwise = new_db(), new_db()
    migrate(settings, url=scratch)
    for step in sorted(p.stem for p in MIGRATIONS_DIR.glob("*.py")):
        assert migrate(settings, url=stepwise, upto=step) == [step]
    assert migrate(settings, url=stepwise) == []
    assert schema_dump(scratch) == schema_dump(stepwise)


def test_migrate_tells_postgrest_to_reload(new_db, settings):
    url = new_db()
    migrate(settings, url=url)
    with psycopg.connect(url, autocommit=True) as listener:
        # PostgREST listens on a secret channel: NOTIFY needs no privilege (gateway/config.py).
        listener.execute(f"LISTEN {settings.postgrest_channel}")
        migrate(settings, url=url)
        payloads = [n.payload for n in listener.notifies(timeout=5, stop_after=1)]
    assert payloads == ["reload schema"]


def test_a_broken_stateless_file_names_itself_and_changes_nothing(new_db, settings, tmp_path, monkeypatch):
    from gateway import migrate as m

    url = new_db()
    migrate(settings, url=url)
    before = schema_dump(url)
    broken = tmp_path / "zz_broken.sql"
    broken.write_text("CREATE VIEW api.oops AS SELECT no_such_column FROM data.stores;")
    original = m.stateless_files
    monkeypatch.setattr(m, "stateless_files", lambda: [*original(), broken])
    with pytest.raises(RuntimeError, match="zz_broken.sql"):
        migrate(settings, url=url)
    assert schema_dump(url) == before, "the failed migrate rolled back; api and app are intact"


def test_the_schema_snapshot_is_current(new_db, settings):
    url = new_db()
    migrate(settings, url=url)
    assert schema_snapshot(url) == SNAPSHOT.read_text(), (
        "db/schema.sql differs from a freshly migrated database: run `make schema` and commit it")


def test_released_migrations_are_unchanged():
    """A released migration never changes (migrations/RELEASED.sha256 lists them): an edit would
    reach new databases only, and split them from upgraded ones."""
    listed = [line.split(maxsplit=1) for line in (MIGRATIONS_DIR / "RELEASED.sha256").read_text().splitlines() if line]
    assert listed, "RELEASED.sha256 lists the released migrations"
    for digest, name in listed:
        actual = hashlib.sha256((MIGRATIONS_DIR / name).read_bytes()).hexdigest()
        assert actual == digest, f"migrations/{name} was released and must not change: add a new migration instead"


THROWAWAY = '''"""A throw-away schema change: a new column with a default and a check, a new table, an index."""
from yoyo import step

__depends__ = {%s}
steps = [
    step("ALTER TABLE data.stores ADD COLUMN loyalty_tier text NOT NULL DEFAULT 'standard'"),
    step("ALTER TABLE data.stores ADD CONSTRAINT stores_loyalty_tier_check CHECK (loyalty_tier IN ('standard', 'gold'))"),
    step("CREATE TABLE data.store_visits (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
         "store_id text NOT NULL REFERENCES data.stores (id), visited_on date NOT NULL)"),
    step("CREATE INDEX stores_loyalty_tier_idx ON data.stores (loyalty_tier)"),
]
'''


def test_a_new_migration_upgrades_a_database_with_data_like_a_fresh_one(new_db, settings, tmp_path):
    """The first schema change after a release: the upgraded database (with data) and a new one
    end with the same schema, and the data survives."""
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder)
    released = sorted(p.stem for p in MIGRATIONS_DIR.glob("*.py"))
    (folder / "9999_throwaway.py").write_text(THROWAWAY % ", ".join(repr(r) for r in released))

    upgraded, fresh = new_db(), new_db()
    migrate(settings, url=upgraded)
    with psycopg.connect(upgraded, autocommit=True) as conn:
        conn.execute("INSERT INTO data.stores (id, name, phone, source) VALUES ('MIG-1', 'Kept Store', '+91 20 1234', 'import')")
    assert migrate(settings, url=upgraded, folder=folder) == ["9999_throwaway"]
    migrate(settings, url=fresh, folder=folder)

    assert schema_dump(upgraded) == schema_dump(fresh)
    with psycopg.connect(upgraded) as conn:
        row = conn.execute("SELECT name, phone, loyalty_tier FROM data.stores WHERE id = 'MIG-1'").fetchone()
    assert row == ("Kept Store", "+91 20 1234", "standard")
