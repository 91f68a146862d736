"""Migrations are repeatable and give one schema whichever way a database got there."""
import subprocess
import uuid

import psycopg
import pytest

from gateway import cluster
from gateway.migrate import migrate


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
    assert migrate(settings, url=stepwise, upto="0001_foundation") == ["0001_foundation"]
    migrate(settings, url=stepwise)
    assert schema_dump(scratch) == schema_dump(stepwise)


def test_migrate_tells_postgrest_to_reload(new_db, settings):
    url = new_db()
    migrate(settings, url=url)
    with psycopg.connect(url, autocommit=True) as listener:
        listener.execute("LISTEN pgrst")
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
