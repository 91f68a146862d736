"""The README's postgrest-py example, run exactly as it stands there against the real stack."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import uuid

import psycopg

from conftest import ROOT
from gateway.users import add_user

MARKER = "<!-- postgrest-py example: tests/test_readme_clients.py extracts and runs this block -->"


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    assert MARKER in text, "the README shows the postgrest-py example"
    match = re.search(r"```python\n(.*?)```", text[text.index(MARKER):], re.S)
    assert match, "a python block follows the marker"
    return match.group(1)


def test_the_readme_postgrest_py_example_runs_as_shown(running_stack, tmp_path):
    email, password = f"readme-{uuid.uuid4().hex[:8]}@clients.test", "readme-client-password"
    store = f"README-{uuid.uuid4().hex[:6]}"   # at least one store to read and write for
    with psycopg.connect(running_stack.database_url, autocommit=True) as conn:
        manager = add_user(conn, email, password, "manager", "README Manager")
        conn.execute("INSERT INTO data.stores (id, name, source) VALUES (%s, %s, 'import')", (store, " README first store"))
    script = tmp_path / "example.py"
    script.write_text(readme_example())
    env = dict(os.environ, MANGALM_URL=running_stack.gateway_url, MANGALM_EMAIL=email, MANGALM_PASSWORD=password)
    out = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    order_id = int(re.search(r"draft order: (\d+) draft", out.stdout).group(1))
    assert "weeks:" in out.stdout
    with psycopg.connect(running_stack.database_url) as conn:
        first = conn.execute("SELECT name FROM data.stores ORDER BY name LIMIT 1").fetchone()[0]
        row = conn.execute("""SELECT s.name, o.notes, o.created_by FROM data.orders o
                              JOIN data.stores s ON s.id = o.store_id WHERE o.id = %s""", (order_id,)).fetchone()
    # The example wrote a draft for the first store by name (names may repeat: compare names).
    assert f"stores: [{first!r}" in out.stdout
    assert row == (first, "from postgrest-py", uuid.UUID(str(manager)))
